"""``lazylog.get_logger``: logging is imported when something is logged, not before, and a
record then goes through the logging configuration in force at that moment."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_importing_modules_that_log_does_not_import_logging() -> None:
    proc = _run(
        "import sys\n"
        "import wassette.manager, wassette.runtime.http_policy, wassette.policy.validate\n"
        "import wassette.secretstore.injections, wassette.components.tools\n"
        "import wassette.runtime.threads\n"
        "assert 'logging' not in sys.modules, 'logging imported'\n"
    )
    assert proc.returncode == 0, proc.stderr


def test_a_record_goes_through_the_configuration_of_the_moment() -> None:
    proc = _run(
        "import sys\n"
        "from wassette.lazylog import get_logger\n"
        "log = get_logger('wassette.x')\n"
        "assert 'logging' not in sys.modules\n"
        "from wassette.cli.logsetup import configure_logging\n"
        "configure_logging(1)\n"
        "log.info('shown %s', 1)\n"
        "log.debug('not shown')\n"
        "assert log.isEnabledFor(20) and not log.isEnabledFor(10)\n"
        "assert log.name == 'wassette.x'\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "wassette: info: shown 1\n"
