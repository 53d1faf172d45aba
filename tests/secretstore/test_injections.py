"""The injection audit: coalesced lines with counts, prompt flushes, nothing lost at exit."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from wassette.secretstore.audit import AuditLog
from wassette.secretstore.injections import InjectionAudit


def injections(log: AuditLog) -> list[dict[str, object]]:
    records = [json.loads(line) for line in log.path.read_text().splitlines()]
    return [r for r in records if r["event"] == "inject"]


def test_identical_injections_share_a_line_with_their_count(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log", actor="t@h")
    audit = InjectionAudit(log, coalesce_seconds=5.0)
    for _ in range(40):
        audit.record("a", {"API_KEY": "secret"})
    audit.record("a", {"API_KEY": "inherited"})  # another tier: another line
    audit.record("b", {"API_KEY": "secret"})  # another component: another line
    for _ in range(9):
        audit.record("a", {"API_KEY": "secret"})
    audit.flush()
    lines = injections(log)
    assert [(r["component"], r["keys"], r.get("count", 1)) for r in lines] == [
        ("a", {"API_KEY": "secret"}, 49),
        ("a", {"API_KEY": "inherited"}, 1),
        ("b", {"API_KEY": "secret"}, 1),
    ]
    assert "count" not in lines[1]  # one call: the line keeps its old shape
    assert log.verify().ok


def test_flush_ends_the_window_at_once(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log", actor="t@h")
    audit = InjectionAudit(log, coalesce_seconds=30.0)
    audit.record("a", {"K": "secret"})
    started = time.monotonic()
    audit.flush()
    assert time.monotonic() - started < 5.0
    assert len(injections(log)) == 1
    audit.flush()  # nothing pending: returns at once
    assert len(injections(log)) == 1


def test_the_window_closes_on_its_own(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log", actor="t@h")
    audit = InjectionAudit(log, coalesce_seconds=0.05)
    audit.record("a", {"K": "secret"})
    deadline = time.monotonic() + 10
    while not log.path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r["component"] for r in injections(log)] == ["a"]


def test_concurrent_recorders_lose_no_count(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log", actor="t@h")
    audit = InjectionAudit(log, coalesce_seconds=0.01)

    def hammer() -> None:
        for _ in range(200):
            audit.record("a", {"K": "secret"})

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    audit.flush()
    assert sum(int(r.get("count", 1)) for r in injections(log)) == 800  # type: ignore[call-overload]
    assert log.verify().ok


def test_pending_injections_are_written_at_interpreter_exit(tmp_path: Path) -> None:
    # The writer is a daemon thread inside its gathering window when the program ends.
    path = tmp_path / "audit.log"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from wassette.secretstore.audit import AuditLog\n"
        "from wassette.secretstore.injections import InjectionAudit\n"
        f"audit = InjectionAudit(AuditLog(Path({str(path)!r}), actor='t@h'), coalesce_seconds=60)\n"
        "for _ in range(3): audit.record('a', {'K': 'secret'})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert [(r["component"], r["count"]) for r in injections(AuditLog(path))] == [("a", 3)]
