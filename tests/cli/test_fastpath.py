"""``secret list`` and ``tool invoke`` without click print exactly what click prints.

Each form runs twice in a real interpreter: through the entry point (``main``, which takes the
click-free fast path for the forms it accepts) and through click only (``main(fast=False)``).
stdout, stderr and the exit code must be identical, for accepted forms (including errors the
command itself raises) and for forms the fast path must leave to click.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CANARY, Home, run_cli
from wassette.cli.fastpath import parse

_RUN = """
import sys
from wassette.cli import main
main(sys.argv[1:], fast={fast})
"""

FORMS = [
    ("secret", "list", "c"),
    ("secret", "list", "c", "-o", "yaml"),
    ("secret", "list", "-o", "table", "c"),
    ("secret", "list", "c", "--output=table"),
    ("secret", "list", "c", "--output-format", "json"),
    ("secret", "list", "c", "-oyaml"),
    ("secret", "list", "c", "--show-values", "--yes"),
    ("secret", "list", "--yes", "c", "--show-values", "-o", "table"),
    ("secret", "list", "c", "--show-values", "-y", "-o", "yaml"),
    ("secret", "list", "c", "--show-values"),  # no terminal: refused, names --yes
    ("secret", "list", "not-loaded"),
    ("secret", "list", "bad id"),
    ("secret", "list", ""),
    # Left to click: help, errors of the command line, odd spellings, repeats.
    ("secret", "list"),
    ("secret", "list", "c", "d"),
    ("secret", "list", "c", "--help"),
    ("secret", "list", "c", "-o", "YAML"),
    ("secret", "list", "c", "-o", "xml"),
    ("secret", "list", "c", "-o"),
    ("secret", "list", "c", "-o", "json", "-o", "yaml"),
    ("secret", "list", "c", "--unknown"),
    ("secret", "list", "--", "c"),
    ("secret", "list", "-y", "-y", "c"),
    ("secret", "list", "-yo", "json", "c"),
]


def _run(home: Home, args: tuple[str, ...], fast: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _RUN.format(fast=fast), *args],
        capture_output=True,
        text=True,
        input="",
        env=home.env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def with_secrets(home: Home) -> Home:
    run_cli(home, "secret", "set", "c", f"API_KEY={CANARY}", "B=two words", "--force", check=True)
    return home


@pytest.mark.parametrize("args", FORMS, ids=lambda a: " ".join(a[2:]) or "(none)")
def test_fast_path_prints_what_click_prints(with_secrets: Home, args: tuple[str, ...]) -> None:
    fast = _run(with_secrets, args, fast=True)
    slow = _run(with_secrets, args, fast=False)
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        slow.returncode,
        slow.stdout,
        slow.stderr,
    )


def test_plaintext_warning_is_the_same_on_both_paths(home: Home) -> None:
    run_cli(home, "secret", "set", "c", "A=1", "--force", check=True)
    run_cli(home, "secret", "encrypt", "c", check=True)
    with (home.secrets_dir / "c.secrets.yaml").open("a") as fh:
        fh.write(f'PASTED: "{CANARY}"\n')
    fast = _run(home, ("secret", "list", "c"), fast=True)
    slow = _run(home, ("secret", "list", "c"), fast=False)
    assert "PASTED of c stored in plaintext" in fast.stderr
    assert CANARY not in fast.stdout + fast.stderr
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        slow.returncode,
        slow.stdout,
        slow.stderr,
    )


@pytest.mark.parametrize(
    ("args", "parsed"),
    [
        (["secret", "list", "c"], (("secret", "list"), "c", {})),
        (
            ["secret", "list", "-y", "c", "--show-values", "-oyaml"],
            (("secret", "list"), "c", {"yes": True, "show_values": True, "fmt": "yaml"}),
        ),
        (
            ["secret", "list", "c", "--output-format=table"],
            (("secret", "list"), "c", {"fmt": "table"}),
        ),
        (
            ["tool", "invoke", "t", "--args", '{"a": 1}', "-o", "yaml"],
            (("tool", "invoke"), "t", {"args": '{"a": 1}', "fmt": "yaml"}),
        ),
        (["tool", "invoke", "t", "--args=[]"], (("tool", "invoke"), "t", {"args": "[]"})),
        (["tool", "invoke", "t", "--args", "-1"], None),
        (["tool", "invoke", "t", "--args"], None),
        (["tool", "invoke", "t", "--yes"], None),
        (["tool", "invoke", "t", "--plugin-dir", "/x"], None),
        (["secret", "list", "c", "--yes=1"], None),
        (["secret", "set", "c", "A=1"], None),
        (["--plugin-dir", "/x", "secret", "list", "c"], None),
        (["secret", "list", "c", "--plugin-dir", "/x"], None),
        (["secret", "list", "-h"], None),
    ],
)
def test_the_fast_path_accepts_only_plain_forms(args: list[str], parsed: object) -> None:
    assert parse(args) == parsed


TOOL_FORMS = [
    ("tool", "invoke", "get-var", "--args", '{"key": "API_KEY"}'),
    ("tool", "invoke", "get-var", "--args", '{"key": "API_KEY"}', "-o", "table"),
    ("tool", "invoke", '--args={"key": "NOPE"}', "get-var", "--output", "yaml"),
    ("tool", "invoke", "get-var"),  # a missing argument: the tool's own error
    ("tool", "invoke", "get-var", "--args", "{not json"),
    ("tool", "invoke", "get-var", "--args", "[1]"),
    ("tool", "invoke", "no-such-tool"),
    # Left to click.
    ("tool", "invoke"),
    ("tool", "invoke", "get-var", "--args", "-1"),
    ("tool", "invoke", "get-var", "--help"),
]


def test_tool_invoke_prints_what_click_prints(home: Home, env_reader: Path, tmp_path: Path) -> None:
    wasm = tmp_path / "env-reader.wasm"
    shutil.copyfile(env_reader, wasm)
    run_cli(home, "component", "load", wasm.as_uri(), check=True)
    run_cli(
        home, "permission", "grant", "environment-variable", "env-reader", "API_KEY", check=True
    )
    run_cli(home, "secret", "set", "env-reader", f"API_KEY={CANARY}", check=True)
    for args in TOOL_FORMS:
        fast = _run(home, args, fast=True)
        slow = _run(home, args, fast=False)
        assert (fast.returncode, fast.stdout, fast.stderr) == (
            slow.returncode,
            slow.stdout,
            slow.stderr,
        ), args
        assert CANARY not in fast.stdout + fast.stderr
    ok = _run(home, TOOL_FORMS[0], fast=True)
    assert ok.returncode == 0 and "[REDACTED:API_KEY]" in ok.stdout, ok.stdout + ok.stderr


def test_shell_completion_goes_through_click(home: Home) -> None:
    env = {**home.env, "_WASSETTE_COMPLETE": "bash_complete", "COMP_WORDS": "wassette secret li",
           "COMP_CWORD": "2"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "wassette", "secret", "list", "c"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert "plain,list" in proc.stdout, proc.stdout + proc.stderr


def test_warnings_logged_on_the_fast_path_are_formatted_as_under_click(
    with_secrets: Home,
) -> None:
    # The fast path imports logging only when something logs; the handler must be in place
    # by then: a config warning (settings) and a loose-mode warning (the store).
    config = with_secrets.root / "config" / "wassette" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("secret_dir = 'typo'\n")
    (with_secrets.secrets_dir / "c.secrets.yaml").chmod(0o644)
    fast = _run(with_secrets, ("secret", "list", "c"), fast=True)
    slow = _run(with_secrets, ("secret", "list", "c"), fast=False)
    assert "wassette: warning: config file" in fast.stderr
    assert "unknown key 'secret_dir'" in fast.stderr
    assert fast.stderr.count("wassette: warning:") >= 2, fast.stderr
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        slow.returncode,
        slow.stdout,
        slow.stderr,
    )


def test_logging_hook_configures_on_first_import_and_only_once() -> None:
    code = (
        "import sys\n"
        "from wassette.cli.logsetup import configure_logging_on_import, _ConfigureOnImport\n"
        "assert 'logging' not in sys.modules\n"
        "configure_logging_on_import(0)\n"
        "configure_logging_on_import(0)\n"
        "assert sum(isinstance(f, _ConfigureOnImport) for f in sys.meta_path) == 1\n"
        "import logging\n"
        "assert not any(isinstance(f, _ConfigureOnImport) for f in sys.meta_path)\n"
        "logging.getLogger('wassette.x').warning('hello %s', 1)\n"
        "logging.getLogger('wassette.x').info('not shown')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "wassette: warning: hello 1\n"
