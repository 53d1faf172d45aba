"""PolicyStore: real files, real processes. Cache validation, atomic writes, locking and
comment preservation."""

from __future__ import annotations

import multiprocessing
import os
import re
import stat
import threading
import time
from pathlib import Path

import pytest

from wassette.errors import InvalidComponentIdError, PolicyError, StorageError
from wassette.policy import parser
from wassette.policy import store as store_module
from wassette.policy.model import Access, EnvironmentPermission, NetworkPermission, Policy
from wassette.policy.store import PolicyStore

CANARY = "CANARY-st-3c9f"

COMMENTED = """\
# Policy for the weather component. Reviewed by ops, 2026-11.
version: "1.0"
description: "weather"   # shown in `policy get`
permissions:
  network:
    allow:
      # the upstream API; keep in sync with the firewall
      - host: "API.weather.example"
  environment:
    allow:
      - key: "API_KEY"   # set with `wassette secret set weather API_KEY=...`
      - key: "UNITS"
        value: "metric"   # ours, not the user's
  resources:
    limits:
      memory: "64Mi"   # componentize-py needs at least 16Mi
"""


@pytest.fixture
def store(tmp_path: Path) -> PolicyStore:
    return PolicyStore(tmp_path / "components")


def test_no_file_means_none(store: PolicyStore) -> None:
    assert store.load("weather") is None
    assert store.read_text("weather") is None
    assert not store.exists("weather")


def test_ids_are_validated(store: PolicyStore) -> None:
    for bad in ("../etc/passwd", "", ".hidden", "a/b"):
        with pytest.raises(InvalidComponentIdError):
            store.load(bad)
        with pytest.raises(InvalidComponentIdError):
            store.grant_network(bad, "a.example.com")


def test_first_grant_creates_a_private_valid_file(store: PolicyStore) -> None:
    policy = store.grant_environment_variable("weather", "API_KEY")
    path = store.path_for("weather")
    assert path == store.component_dir / "weather.policy.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert policy == Policy(environment=(EnvironmentPermission("API_KEY"),))
    assert store.load("weather") == policy
    assert parser.parse_policy(path.read_text()) == policy
    assert path.read_text().startswith('version: "1.0"\n')


def test_every_verb_returns_the_new_policy(store: PolicyStore, tmp_path: Path) -> None:
    cid = "c1"
    data = tmp_path / "data"  # not tmp_path: that holds the component dir (protected)
    p = store.grant_storage(cid, f"fs://{data}/**", ["read"])
    p = store.grant_storage(cid, f"fs://{data}", ["write"])
    assert p.storage[0].access == {Access.READ, Access.WRITE}
    p = store.grant_network(cid, "*.example.com")
    p = store.grant_environment_variable(cid, "K", CANARY, required=True)
    p = store.grant_memory(cid, "1Gi")
    p = store.grant_timeout(cid, "2m")
    assert store.load(cid) == p
    assert p.timeout_seconds == 120.0
    assert p.memory_limit_bytes == 1 << 30
    assert p.find_environment("K") == EnvironmentPermission("K", CANARY, required=True)
    p = store.revoke_storage(cid, f"fs://{data}/")
    p = store.revoke_network(cid, "*.EXAMPLE.com")
    p = store.revoke_environment_variable(cid, "K")
    p = store.revoke_memory(cid)
    p = store.revoke_timeout(cid)
    assert p == Policy()
    assert store.load(cid) == Policy()
    assert CANARY not in store.path_for(cid).read_text()


def test_grant_changes_only_what_it_must_and_keeps_comments(store: PolicyStore) -> None:
    path = store.path_for("weather")
    path.parent.mkdir(parents=True)
    path.write_text(COMMENTED)
    store.grant_network("weather", "https://backup.weather.example")
    store.grant_environment_variable("weather", "REGION", "eu")
    store.grant_memory("weather", "128Mi")
    store.revoke_environment_variable("weather", "UNITS")
    text = path.read_text()
    for kept in (
        "# Policy for the weather component. Reviewed by ops, 2026-11.\n",
        'description: "weather"   # shown in `policy get`\n',
        "      # the upstream API; keep in sync with the firewall\n",
        # An untouched entry keeps its exact spelling (upper case here), not the normal form.
        '      - host: "API.weather.example"\n',
        '      - key: "API_KEY"   # set with `wassette secret set weather API_KEY=...`\n',
    ):
        assert kept in text
    # A changed value keeps its comment on its line (ruamel may re-space it).
    assert re.search(r'\n      memory: "128Mi" +# componentize-py needs at least 16Mi\n', text)
    assert '      - host: "https://backup.weather.example"\n' in text
    assert '      - key: "REGION"\n        value: "eu"\n' in text
    assert "UNITS" not in text and "metric" not in text
    assert store.load("weather") == Policy(
        description="weather",
        network=(
            NetworkPermission("api.weather.example"),
            NetworkPermission("backup.weather.example", scheme="https"),
        ),
        environment=(EnvironmentPermission("API_KEY"), EnvironmentPermission("REGION", "eu")),
        memory_limit_bytes=128 << 20,
    )
    # Revoking what was granted gives back the person's file, comments and all.
    store.revoke_network("weather", "https://backup.weather.example")
    store.revoke_environment_variable("weather", "REGION")
    store.grant_environment_variable("weather", "UNITS", "metric")
    store.grant_memory("weather", "64Mi")
    again = path.read_text()
    assert again.startswith(COMMENTED.split('      - key: "UNITS"', maxsplit=1)[0])


def test_noop_changes_write_nothing(store: PolicyStore) -> None:
    store.grant_network("c", "a.example.com")
    path = store.path_for("c")
    before = path.stat()
    store.grant_network("c", "A.example.com")
    store.revoke_network("c", "other.example.com")
    after = path.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    # A revoke on a component without a policy does not create one (it stays deny-all).
    assert store.revoke_network("nopolicy", "a.example.com") == Policy()
    assert not store.path_for("nopolicy").exists()


def test_cache_sees_every_kind_of_edit(store: PolicyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real_parse = parser.parse_policy

    def counting_parse(*args: object, **kwargs: object) -> Policy:
        nonlocal calls
        calls += 1
        return real_parse(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(parser, "parse_policy", counting_parse)
    path = store.path_for("c")
    path.parent.mkdir(parents=True)
    path.write_text('permissions: {network: {allow: [{host: "aaa.example.com"}]}}\n')
    assert store.load("c") == Policy(network=(NetworkPermission("aaa.example.com"),))
    assert store.load("c") is store.load("c")
    assert calls == 1  # cached: the file did not change

    # An edit in place, same size, same inode: the mtime tells.
    with open(path, "r+") as handle:
        handle.write('permissions: {network: {allow: [{host: "bbb.example.com"}]}}\n')
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert store.load("c") == Policy(network=(NetworkPermission("bbb.example.com"),))

    # A replacement by another writer (new inode).
    other = path.with_name("tmp.yaml")
    other.write_text('permissions: {network: {allow: [{host: "ccc.example.com"}]}}\n')
    os.replace(other, path)
    assert store.load("c") == Policy(network=(NetworkPermission("ccc.example.com"),))

    # A second store (another process's view) sees this store's writes at once.
    second = PolicyStore(store.component_dir)
    assert second.load("c") is not None
    store.grant_network("c", "ddd.example.com")
    loaded = second.load("c")
    assert loaded is not None and NetworkPermission("ddd.example.com") in loaded.network

    path.unlink()
    assert store.load("c") is None


def test_invalid_file_is_reported_and_never_overwritten(store: PolicyStore) -> None:
    path = store.path_for("c")
    path.parent.mkdir(parents=True)
    broken = (
        f"permissions:\n  environment:\n    allow:\n      - key: A\n        value: [{CANARY}]\n"
    )
    path.write_text(broken)
    with pytest.raises(PolicyError) as caught:
        store.load("c")
    message = str(caught.value)
    assert str(path) in message and "permissions.environment.allow[0].value" in message
    assert CANARY not in message
    with pytest.raises(PolicyError):
        store.grant_network("c", "a.example.com")
    assert path.read_text() == broken
    store.reset("c")
    assert store.load("c") is None


def test_reset_deletes_the_file(store: PolicyStore) -> None:
    store.grant_memory("c", "1Gi")
    assert store.load("c") is not None
    store.reset("c")
    assert not store.path_for("c").exists()
    assert store.load("c") is None
    store.reset("c")  # again: nothing to do, no error
    PolicyStore(Path("/nonexistent/wassette-test")).reset("c")


def test_install_text_keeps_the_file_verbatim(store: PolicyStore) -> None:
    policy = store.install_text("weather", COMMENTED)
    assert store.read_text("weather") == COMMENTED
    assert store.load("weather") == policy
    with pytest.raises(PolicyError):
        store.install_text("weather", "permissions: {bogus: 1}\n")
    assert store.read_text("weather") == COMMENTED


def test_save_makes_the_policy_exact(store: PolicyStore) -> None:
    store.install_text("weather", COMMENTED)
    target = Policy(network=(NetworkPermission("api.weather.example"),))
    assert store.save("weather", target) == target
    assert store.load("weather") == target
    assert "# Policy for the weather component" in (store.read_text("weather") or "")


def test_a_failed_write_leaves_the_old_file_and_no_temp(
    store: PolicyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.grant_network("c", "a.example.com")
    before = store.path_for("c").read_text()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.os, "replace", broken_replace)
    with pytest.raises(StorageError) as caught:
        store.grant_network("c", "b.example.com")
    assert "No space left" in str(caught.value)
    monkeypatch.undo()
    assert store.path_for("c").read_text() == before
    leftovers = [p.name for p in store.component_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert store.load("c") == Policy(network=(NetworkPermission("a.example.com"),))


def test_special_files_do_not_hang_or_crash(store: PolicyStore) -> None:
    store.component_dir.mkdir(parents=True)
    os.mkfifo(store.path_for("fifo"))
    with pytest.raises(PolicyError, match="not a regular file"):
        store.load("fifo")
    store.path_for("sub").mkdir()
    with pytest.raises(PolicyError, match="is a directory"):
        store.load("sub")
    with pytest.raises(PolicyError, match="is a directory"):
        store.grant_network("sub", "a.example.com")


def _grant_many(component_dir: str, worker: int, count: int) -> None:
    store = PolicyStore(Path(component_dir))
    for i in range(count):
        store.grant_environment_variable("shared", f"W{worker}_K{i}", f"v{worker}-{i}")


def test_concurrent_grants_from_several_processes_all_land(store: PolicyStore) -> None:
    workers, count = 4, 25
    ctx = multiprocessing.get_context("spawn")
    store.component_dir.mkdir(parents=True)
    procs = [
        ctx.Process(target=_grant_many, args=(str(store.component_dir), w, count))
        for w in range(workers)
    ]
    errors: list[BaseException] = []
    stop = threading.Event()

    def read_while_writing() -> None:
        # Atomic replace: a reader never sees a half-written file.
        reader = PolicyStore(store.component_dir)
        while not stop.is_set():
            try:
                reader.load("shared")
            except Exception as exc:  # collected and reported below
                errors.append(exc)
            time.sleep(0.002)  # leave the CPU to the writers

    reader_thread = threading.Thread(target=read_while_writing)
    reader_thread.start()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=240)
    stop.set()
    reader_thread.join()
    assert [p.exitcode for p in procs] == [0] * workers
    assert errors == []
    policy = store.load("shared")
    assert policy is not None
    expected = {f"W{w}_K{i}": f"v{w}-{i}" for w in range(workers) for i in range(count)}
    assert {e.key: e.value for e in policy.environment} == expected
    leftovers = [p.name for p in store.component_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_concurrent_grants_from_threads(store: PolicyStore) -> None:
    threads = [
        threading.Thread(
            target=lambda n=n: [
                store.grant_network("t", f"h{n}-{i}.example.com") for i in range(10)
            ]
        )
        for n in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    policy = store.load("t")
    assert policy is not None and len(policy.network) == 40


def test_comments_of_an_empty_policy_survive_the_first_grant(store: PolicyStore) -> None:
    path = store.path_for("c")
    path.parent.mkdir(parents=True)
    path.write_text("# Deliberately empty: this component needs nothing.\n\n# (ops)\n")
    assert store.load("c") == Policy()
    store.grant_network("c", "a.example.com")
    text = path.read_text()
    assert text.startswith("# Deliberately empty: this component needs nothing.\n# (ops)\n")
    assert store.load("c") == Policy(network=(NetworkPermission("a.example.com"),))
