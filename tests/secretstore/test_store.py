"""The local secrets store: permissions, isolation, caching, durability and concurrency."""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import signal
import stat
import time
from pathlib import Path

import pytest

from tests.conftest import CANARY
from wassette.errors import InvalidComponentIdError, InvalidSecretKeyError, UsageError
from wassette.secretstore import yamlfile
from wassette.secretstore.store import SecretStore

BAD_IDS = [
    "",
    "../x",
    "a/b",
    "a\\b",
    "x\x00y",
    "a" * 129,
    ".hidden",
    "-flag",
    "..",
    "é",
    "a b",
    "a\n",
]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ----------------------------------------------------------------------------- permissions


def test_dir_0700_and_file_0600_whatever_the_umask(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "share" / "wassette" / "secrets"
    old = os.umask(0)
    try:
        SecretStore(secrets_dir).set_many("c", {"A": "1"})
    finally:
        os.umask(old)
    assert mode(secrets_dir) == 0o700
    assert mode(secrets_dir.parent) == 0o700  # parents we create are private too
    assert mode(secrets_dir.parent.parent) == 0o700
    assert mode(secrets_dir / "c.secrets.yaml") == 0o600
    assert mode(secrets_dir / ".c.secrets.yaml.lock") == 0o600


def test_loose_permissions_draw_a_warning_with_the_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(mode=0o755)
    os.chmod(secrets_dir, 0o755)  # noqa: S103 - the loose mode under test
    path = secrets_dir / "c.secrets.yaml"
    path.write_text('A: "1"\n')
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="wassette"):
        store = SecretStore(secrets_dir)
        assert store.get_all("c") == {"A": "1"}
        store.get_all("c")
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"chmod 700 {secrets_dir}" in m for m in messages), messages
    assert any(f"chmod 600 {path}" in m for m in messages), messages
    assert len(messages) == 2  # once per path, not on every lookup
    # A write replaces the file with a private one.
    store.set_many("c", {"B": "2"})
    assert mode(path) == 0o600


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize("bad", BAD_IDS)
def test_invalid_component_ids_are_refused_and_create_nothing(tmp_path: Path, bad: str) -> None:
    secrets_dir = tmp_path / "secrets"
    store = SecretStore(secrets_dir)
    with pytest.raises(InvalidComponentIdError):
        store.set_many(bad, {"A": "1"})
    with pytest.raises(InvalidComponentIdError):
        store.get_all(bad)
    with pytest.raises(InvalidComponentIdError):
        store.delete_many(bad, ["A"])
    assert not secrets_dir.exists()
    assert list(tmp_path.iterdir()) == []


def test_longest_valid_id_is_accepted(tmp_path: Path) -> None:
    cid = "a" + "b" * 127
    SecretStore(tmp_path).set_many(cid, {"A": "1"})
    assert (tmp_path / f"{cid}.secrets.yaml").exists()


@pytest.mark.parametrize("key", ["", "1ABC", "A-B", "A B", "A=B", "é", "A\n"])
def test_invalid_keys_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(InvalidSecretKeyError):
        SecretStore(tmp_path).set_many("c", {key: "v"})
    assert not (tmp_path / "c.secrets.yaml").exists()


def test_nul_and_non_text_values_are_refused_without_echo(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    for value in (f"{CANARY}\x00tail", f"{CANARY}\udcff"):
        with pytest.raises(UsageError) as info:
            store.set_many("c", {"A": value})
        assert CANARY not in str(info.value)
    assert not (tmp_path / "c.secrets.yaml").exists()


# ------------------------------------------------------------------------------ semantics


def test_set_adds_and_updates(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    store.set_many("c", {"A": "1", "B": "2"})
    store.set_many("c", {"B": "22", "C": "3"})
    assert dict(store.get_all("c")) == {"A": "1", "B": "22", "C": "3"}
    assert store.list_keys("c") == ["A", "B", "C"]
    assert store.get("c", "B") == "22"
    assert store.get("c", "NOPE") is None


def test_components_are_isolated(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    store.set_many("one", {"API_KEY": "one-key"})
    store.set_many("two", {"API_KEY": "two-key"})
    assert store.get("one", "API_KEY") == "one-key"
    assert store.get("two", "API_KEY") == "two-key"
    store.delete_many("one", ["API_KEY"])
    assert store.get("two", "API_KEY") == "two-key"
    assert store.component_ids() == ["one", "two"]


def test_delete_semantics(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    assert store.delete_many("ghost", ["A"]) == []  # no file: not an error
    assert not (tmp_path / "ghost.secrets.yaml").exists()  # ... and nothing created
    store.set_many("c", {"A": "1", "B": "2"})
    path = tmp_path / "c.secrets.yaml"
    inode = path.stat().st_ino
    assert store.delete_many("c", ["MISSING"]) == []
    assert path.stat().st_ino == inode  # nothing removed: file not rewritten
    assert store.delete_many("c", ["A", "MISSING", "A"]) == ["A"]
    assert store.delete_many("c", ["B"]) == ["B"]
    assert path.exists()  # kept even when empty
    assert dict(store.get_all("c")) == {}


# --------------------------------------------------------------------------------- cache


def test_lookups_are_cached_and_see_changes_from_other_writers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []
    real = yamlfile.read_document

    def counting(path: Path) -> yamlfile.SecretsDocument | None:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(yamlfile, "read_document", counting)
    reader = SecretStore(tmp_path)
    writer = SecretStore(tmp_path)  # stands for another process: separate cache

    assert reader.get_all("nofile") == {}
    assert reads == []  # a component without a secrets file costs a stat, never a read

    writer.set_many("c", {"A": "1"})
    reads.clear()
    first = reader.get_all("c")
    assert reader.get_all("c") is first  # cache hit: same object, no re-read
    assert reader.get("c", "A") == "1"
    assert len(reads) == 1

    writer.set_many("c", {"A": "2"})
    assert reader.get("c", "A") == "2"  # seen at once, no restart

    # A hand edit in place (same inode) with the same size is seen too.
    path = tmp_path / "c.secrets.yaml"
    time.sleep(0.01)
    with open(path, "r+") as fh:
        fh.write('A: "3"\n')
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert reader.get("c", "A") == "3"

    path.unlink()
    assert reader.get_all("c") == {}


def test_cached_mapping_is_read_only(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    store.set_many("c", {"A": "1"})
    with pytest.raises(TypeError):
        store.get_all("c")["A"] = "x"  # type: ignore[index]


# --------------------------------------------------------------------------- concurrency


def _writer(secrets_dir: str, worker: int, count: int) -> None:
    store = SecretStore(Path(secrets_dir))
    for i in range(count):
        store.set_many("shared", {f"W{worker}_K{i}": f"value-{worker}-{i}"})


@pytest.mark.slow
def test_eight_processes_times_100_sets_lose_nothing(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 100)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    got = SecretStore(tmp_path).get_all("shared")
    assert len(got) == 800
    assert all(got[f"W{w}_K{i}"] == f"value-{w}-{i}" for w in range(8) for i in range(100))


def _acking_writer(secrets_dir: str, component: str, start: int, conn: object) -> None:
    store = SecretStore(Path(secrets_dir))
    conn.send(-1)  # type: ignore[attr-defined]  # ready: the kill clock starts now
    i = start
    while True:
        store.set_many(component, {f"K{i}": f"v{i}"})
        conn.send(i)  # type: ignore[attr-defined]
        i += 1


@pytest.mark.slow
def test_sigkill_at_random_points_never_corrupts_or_loses_acknowledged_keys(
    tmp_path: Path,
) -> None:
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(20261128)
    acked: dict[str, set[int]] = {f"c{n}": set() for n in range(10)}
    next_index = dict.fromkeys(acked, 0)
    torn = 0  # rounds where the kill provably landed mid-write (a temp file was left)
    for round_ in range(200):
        component = f"c{round_ % 10}"
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_acking_writer, args=(str(tmp_path), component, next_index[component], child)
        )
        proc.start()
        assert parent.poll(30) and parent.recv() == -1  # the writer is up
        time.sleep(rng.uniform(0.0, 0.1))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        while parent.poll():
            try:
                acked[component].add(parent.recv())
            except EOFError:
                break
        parent.close()
        child.close()
        torn += bool(list(tmp_path.glob(f".{component}.secrets.yaml.*.tmp")))
        if acked[component]:
            next_index[component] = max(acked[component]) + 1
        # The file (if any) always parses, holds every acknowledged key, and a fresh
        # writer can carry on (a lock left by the dead writer does not block it).
        got = SecretStore(tmp_path).get_all(component)
        missing = [i for i in acked[component] if got.get(f"K{i}") != f"v{i}"]
        assert missing == [], f"round {round_}: {len(missing)} acknowledged keys lost"
    # Not vacuous: the writers really wrote, and kills really landed in the middle of writes.
    assert sum(len(v) for v in acked.values()) >= 50
    assert torn >= 5
    SecretStore(tmp_path).set_many("c0", {"AFTER": "ok"})
    assert not list(tmp_path.glob(".c0.secrets.yaml.*.tmp"))  # stale temps cleaned
