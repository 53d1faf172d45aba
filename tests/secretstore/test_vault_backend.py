"""The Vault/OpenBao backend against a real `bao server -dev` on a random 127.0.0.1 port."""

from __future__ import annotations

import functools
import logging
import multiprocessing
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac.exceptions
import pytest

from tests.secretstore.contract import SecretBackendContract
from tests.secretstore.openbao import ROOT_TOKEN, BaoServer
from wassette.errors import (
    ConfigError,
    NotFoundError,
    VaultAuthError,
    VaultBackendError,
    VaultPermissionError,
    VaultUnreachableError,
)
from wassette.secretstore.backend import SecretBackend
from wassette.secretstore.backends.vault import VaultBackend

CANARY = "CANARY-vault-5521"


def make_backend(address: str, prefix: str, **extra: Any) -> VaultBackend:
    """Module-level (so picklable for spawned writer processes)."""
    table = {"address": address, "path_prefix": prefix, **extra}
    return VaultBackend.from_config(table, {"VAULT_TOKEN": ROOT_TOKEN})


def _prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _metadata(server: BaoServer, logical: str) -> dict[str, Any] | None:
    try:
        resp = server.root_client().secrets.kv.v2.read_secret_metadata(
            path=logical, mount_point="secret"
        )
    except hvac.exceptions.InvalidPath:
        return None
    data: dict[str, Any] = resp["data"]
    return data


class TestVaultContract(SecretBackendContract):
    """The shared contract, on OpenBao KV v2."""

    @pytest.fixture
    def backend_factory(self, bao_server: BaoServer) -> Any:
        self.server = bao_server
        return functools.partial(make_backend, bao_server.address, _prefix())

    def container_exists(self, backend: SecretBackend, component_id: str) -> bool:
        assert isinstance(backend, VaultBackend)
        return _metadata(self.server, backend.logical_path(component_id)) is not None


# ---------------------------------------------------------------------- check-and-set


def _racer(address: str, prefix: str, cid: str, *, index: int, count: int, start: Any) -> None:
    backend = make_backend(address, prefix)
    start.wait(timeout=60)
    for i in range(count):
        backend.set_many(cid, {f"P{index}_{i}": f"{index}:{i}"})


def test_two_processes_racing_on_one_component_lose_nothing(bao_server: BaoServer) -> None:
    prefix, cid, count = _prefix(), "race", 40
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)  # both write only once both are ready: the writes overlap
    procs = [
        ctx.Process(
            target=_racer,
            args=(bao_server.address, prefix, cid),
            kwargs={"index": n, "count": count, "start": start},
        )
        for n in range(2)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    got = dict(make_backend(bao_server.address, prefix).get_all(cid))
    assert got == {f"P{n}_{i}": f"{n}:{i}" for n in range(2) for i in range(count)}
    # Every write became its own version: CAS serialised them, none overwrote another.
    meta = _metadata(bao_server, f"{prefix}/{cid}")
    assert meta is not None
    assert meta["current_version"] == 2 * count


def test_a_write_landing_between_read_and_write_is_not_lost(bao_server: BaoServer) -> None:
    prefix = _prefix()
    ours = make_backend(bao_server.address, prefix)
    theirs = make_backend(bao_server.address, prefix)
    ours.set_many("app", {"BASE": "0"})
    real_read = ours._read
    calls = 0

    def read_then_interfere(logical: str, **kw: Any) -> tuple[dict[str, str], int]:
        nonlocal calls
        calls += 1
        result = real_read(logical, **kw)
        if calls == 1:  # another writer commits after our read, before our write
            theirs.set_many("app", {"THEIRS": "t"})
        return result

    ours._read = read_then_interfere  # type: ignore[method-assign]
    ours.set_many("app", {"OURS": "o"})
    assert calls == 2, "the first write must have been refused by check-and-set and retried"
    fresh = make_backend(bao_server.address, prefix)
    assert dict(fresh.get_all("app")) == {"BASE": "0", "THEIRS": "t", "OURS": "o"}


# ---------------------------------------------------------------------- auth and permissions


def _token_with_policy(server: BaoServer, name: str, hcl: str) -> str:
    client = server.root_client()
    client.sys.create_or_update_policy(name=name, policy=hcl)
    token: str = client.auth.token.create(policies=[name], ttl="10m")["auth"]["client_token"]
    return token


def test_read_only_token_gets_a_clear_permission_error(
    bao_server: BaoServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    prefix = _prefix()
    make_backend(bao_server.address, prefix).set_many("app", {"TOKEN": CANARY})
    ro_token = _token_with_policy(
        bao_server, f"ro-{prefix}", f'path "secret/data/{prefix}/*" {{ capabilities = ["read"] }}'
    )
    ro = VaultBackend.from_config(
        {"address": bao_server.address, "path_prefix": prefix}, {"VAULT_TOKEN": ro_token}
    )
    assert dict(ro.get_all("app")) == {"TOKEN": CANARY}  # reading is allowed

    with pytest.raises(VaultPermissionError) as err:
        ro.set_many("app", {"TOKEN": "new"})
    text = str(err.value)
    assert f"secret/data/{prefix}/app" in text  # which path
    assert "missing capability update" in text  # which capability
    assert "has: read" in text  # what the token does have
    assert "VAULT_TOKEN" in text  # which credentials
    assert 'capabilities = ["read", "update"]' in text  # the policy line to add
    with pytest.raises(VaultPermissionError):
        ro.delete_many("app", ["TOKEN"])
    for message in (text, caplog.text):
        assert CANARY not in message
        assert ro_token not in message
    assert dict(ro.get_all("app")) == {"TOKEN": CANARY}


def test_token_without_read_is_told_which_capability(bao_server: BaoServer) -> None:
    prefix = _prefix()
    token = _token_with_policy(
        bao_server, f"none-{prefix}", 'path "secret/data/elsewhere/*" { capabilities = ["read"] }'
    )
    backend = VaultBackend.from_config(
        {"address": bao_server.address, "path_prefix": prefix}, {"VAULT_TOKEN": token}
    )
    with pytest.raises(VaultPermissionError) as err:
        backend.get_all("app")
    assert f"secret/data/{prefix}/app" in str(err.value)
    assert "missing capability read" in str(err.value)
    assert "has: deny" in str(err.value)


def test_bad_token_is_reported_as_such_without_echoing_it(bao_server: BaoServer) -> None:
    bad = "CANARY-token-not-valid-8812"
    backend = VaultBackend.from_config({"address": bao_server.address}, {"VAULT_TOKEN": bad})
    with pytest.raises(VaultAuthError) as err:
        backend.get_all("app")
    assert "rejected the token" in str(err.value)
    assert "VAULT_TOKEN" in str(err.value)
    assert bad not in str(err.value)
    assert bad not in repr(backend.auth)


@pytest.fixture(scope="module")
def approle(bao_server: BaoServer) -> dict[str, str]:
    """An AppRole whose tokens live one second, allowed to use the `ar-*` prefixes."""
    client = bao_server.root_client()
    if "approle/" not in client.sys.list_auth_methods()["data"]:
        client.sys.enable_auth_method("approle")
    client.sys.create_or_update_policy(
        name="wassette-ar",
        policy='path "secret/data/ar-*" { capabilities = ["create", "read", "update"] }',
    )
    client.auth.approle.create_or_update_approle(
        role_name="wassette",
        token_policies=["wassette-ar"],
        token_ttl="1s",  # noqa: S106 (a duration, not a password)
        token_max_ttl="1s",  # noqa: S106
    )
    role_id = client.auth.approle.read_role_id(role_name="wassette")["data"]["role_id"]
    secret_id = client.auth.approle.generate_secret_id(role_name="wassette")["data"]["secret_id"]
    return {"role_id": role_id, "secret_id": secret_id}


def test_approle_logs_in_and_logs_in_again_when_its_token_expires(
    bao_server: BaoServer, approle: dict[str, str], tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret-id"
    secret_file.write_text(approle["secret_id"] + "\n")
    table = {
        "address": bao_server.address,
        "path_prefix": f"ar-{uuid.uuid4().hex[:8]}",
        "role_id": approle["role_id"],
        "secret_id_file": str(secret_file),
        "cache_ttl": 0,
    }
    # VAULT_TOKEN in the environment must not win over configured AppRole.
    backend = VaultBackend.from_config(table, {"VAULT_TOKEN": "ignored"})
    backend.set_many("app", {"K": "v1"})
    assert dict(backend.get_all("app")) == {"K": "v1"}
    time.sleep(1.6)  # the AppRole token (ttl 1 s) has expired
    backend.set_many("app", {"K": "v2"})
    assert dict(backend.get_all("app")) == {"K": "v2"}


def test_approle_with_wrong_secret_id_is_an_auth_error(
    bao_server: BaoServer, approle: dict[str, str], tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret-id"
    secret_file.write_text(CANARY)
    table = {
        "address": bao_server.address,
        "role_id": approle["role_id"],
        "secret_id_file": str(secret_file),
    }
    with pytest.raises(VaultAuthError) as err:
        VaultBackend.from_config(table, {}).get_all("app")
    assert "AppRole login" in str(err.value)
    assert str(secret_file) in str(err.value)
    assert CANARY not in str(err.value)


def test_token_file_is_used(bao_server: BaoServer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(ROOT_TOKEN + "\n")
    backend = VaultBackend.from_config(
        {"address": bao_server.address, "path_prefix": _prefix(), "token_file": str(token_file)},
        {},
    )
    backend.set_many("app", {"A": "1"})
    assert dict(backend.get_all("app")) == {"A": "1"}
    token_file.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        VaultBackend.from_config(
            {"address": bao_server.address, "token_file": str(token_file)}, {}
        ).get_all("app")


# ---------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("table", "environ", "match"),
    [
        ({}, {"VAULT_TOKEN": "t"}, "no Vault address"),
        ({"address": "http://127.0.0.1:1"}, {}, "no Vault credentials"),
        ({"address": "ftp://vault"}, {"VAULT_TOKEN": "t"}, "invalid Vault address"),
        ({"address": "http://h:99999"}, {"VAULT_TOKEN": "t"}, "invalid port"),
        ({"address": "http://h", "cache_ttl": "soon"}, {"VAULT_TOKEN": "t"}, "cache_ttl"),
        ({"address": "http://h", "retries": 1.5}, {"VAULT_TOKEN": "t"}, "whole number"),
        ({"address": "http://h", "mount": "../sys"}, {"VAULT_TOKEN": "t"}, "invalid Vault mount"),
        ({"address": "http://h", "role_id": "r"}, {}, "incomplete AppRole"),
        ({"address": 8200}, {"VAULT_TOKEN": "t"}, "address must be a string"),
    ],
)
def test_bad_configuration_is_a_config_error(
    table: dict[str, Any], environ: dict[str, str], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        VaultBackend.from_config(table, environ)


def test_config_defaults_vault_addr_and_unknown_keys(caplog: pytest.LogCaptureFixture) -> None:
    backend = VaultBackend.from_config(
        {"adress": "typo"}, {"VAULT_ADDR": "http://127.0.0.1:8200/", "VAULT_TOKEN": "t"}
    )
    assert backend.address == "http://127.0.0.1:8200"
    assert (backend.mount, backend.path_prefix, backend.cache_ttl) == ("secret", "wassette", 60)
    assert backend.location("app") == "http://127.0.0.1:8200/v1/secret/data/wassette/app"
    assert "unknown key 'adress'" in caplog.text


def test_missing_mount_says_how_to_enable_it(bao_server: BaoServer) -> None:
    backend = make_backend(bao_server.address, "x", mount="nomount")
    with pytest.raises(VaultBackendError, match="kv-v2"):
        backend.get_all("app")


def test_non_string_value_written_by_another_client_is_named_not_shown(
    bao_server: BaoServer,
) -> None:
    prefix = _prefix()
    bao_server.root_client().secrets.kv.v2.create_or_update_secret(
        path=f"{prefix}/app", secret={"NUM": 5521, "OK": "x"}, mount_point="secret"
    )
    with pytest.raises(VaultBackendError) as err:
        make_backend(bao_server.address, prefix).get_all("app")
    assert "secret NUM" in str(err.value)
    assert "5521" not in str(err.value)


def test_latest_version_deleted_or_destroyed_elsewhere(bao_server: BaoServer) -> None:
    prefix = _prefix()
    backend = make_backend(bao_server.address, prefix, cache_ttl=0)
    backend.set_many("app", {"A": "1"})
    kv = bao_server.root_client().secrets.kv.v2
    kv.delete_latest_version_of_secret(path=f"{prefix}/app", mount_point="secret")
    assert dict(backend.get_all("app")) == {}
    backend.set_many("app", {"B": "2"})  # check-and-set against the deleted version works
    assert dict(backend.get_all("app")) == {"B": "2"}
    kv.destroy_secret_versions(path=f"{prefix}/app", versions=[2], mount_point="secret")
    assert dict(backend.get_all("app")) == {}
    backend.set_many("app", {"C": "3"})
    assert dict(backend.get_all("app")) == {"C": "3"}


# ---------------------------------------------------------------------- cache, outage


def test_lookups_are_cached_for_the_ttl(bao_server: BaoServer) -> None:
    now = [1000.0]
    prefix = _prefix()
    reader = VaultBackend.from_config(
        {"address": bao_server.address, "path_prefix": prefix, "cache_ttl": 30},
        {"VAULT_TOKEN": ROOT_TOKEN},
    )
    reader._clock = lambda: now[0]
    writer = make_backend(bao_server.address, prefix)
    writer.set_many("app", {"K": "old"})
    assert dict(reader.get_all("app")) == {"K": "old"}
    writer.set_many("app", {"K": "new"})
    now[0] += 29
    assert dict(reader.get_all("app")) == {"K": "old"}  # within the TTL: no request
    now[0] += 2
    assert dict(reader.get_all("app")) == {"K": "new"}  # expired: fetched again


def test_outage_serves_cached_values_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = BaoServer().start()
    try:
        table = {
            "address": server.address,
            "cache_ttl": 0.2,
            "retry_interval": 0.3,
            "timeout": 1,
            "retries": 1,
        }
        backend = VaultBackend.from_config(table, {"VAULT_TOKEN": ROOT_TOKEN})
        backend.set_many("app", {"TOKEN": CANARY, "PLAIN": "p"})
        assert dict(backend.get_all("app")) == {"TOKEN": CANARY, "PLAIN": "p"}

        server.stop()
        time.sleep(0.3)  # past the TTL: the next lookup must go to Vault, which is gone
        assert dict(backend.get_all("app")) == {"TOKEN": CANARY, "PLAIN": "p"}
        assert f"Vault at {server.address} is unreachable" in caplog.text
        assert "serving cached secrets of wassette/app" in caplog.text
        # During the outage, lookups answer at once instead of re-dialling every time.
        started = time.monotonic()
        for _ in range(50):
            assert backend.get("app", "PLAIN") == "p"
        assert time.monotonic() - started < 0.5

        with pytest.raises(VaultUnreachableError) as err:
            backend.get_all("never-fetched")  # nothing cached: a clear error
        assert server.address in str(err.value) and "bao status" in str(err.value)
        with pytest.raises(VaultUnreachableError):
            backend.set_many("app", {"TOKEN": "new"})  # writes never pretend

        # Same port, fresh in-memory state: re-seed as an operator would restore it.
        server.start()
        make_backend(server.address, "wassette").set_many("app", {"TOKEN": "rotated"})
        time.sleep(0.35)  # past retry_interval
        assert dict(backend.get_all("app")) == {"TOKEN": "rotated"}
        assert "is reachable again" in caplog.text
        assert dict(backend.get_all("never-fetched")) == {}
        assert CANARY not in caplog.text
        assert "rotated" not in caplog.text
    finally:
        server.cleanup()


def test_refused_connection_fails_fast_with_a_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    backend = VaultBackend.from_config(
        {"address": f"http://127.0.0.1:{port}", "retries": 2}, {"VAULT_TOKEN": "t"}
    )
    started = time.monotonic()
    with pytest.raises(VaultUnreachableError) as err:
        backend.get_all("app")
    assert time.monotonic() - started < 2
    assert f"http://127.0.0.1:{port}" in str(err.value)
    assert "connection refused" in str(err.value)
    assert "[vault] address" in str(err.value)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung Vault)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conns.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in conns:
            conn.close()
        sock.close()


def test_hung_server_times_out_within_bounds(silent_server: int) -> None:
    backend = VaultBackend.from_config(
        {"address": f"http://127.0.0.1:{silent_server}", "timeout": 0.3, "retries": 1},
        {"VAULT_TOKEN": "t"},
    )
    started = time.monotonic()
    with pytest.raises(VaultUnreachableError, match=r"no answer within 0\.3 s"):
        backend.get_all("app")
    # two attempts of 0.3 s plus 0.1 s backoff: bounded well under two seconds
    assert time.monotonic() - started < 2


# ---------------------------------------------------------------------- versions


def test_history_and_rollback(bao_server: BaoServer) -> None:
    backend = make_backend(bao_server.address, _prefix())
    assert backend.secret_versions("app") == []
    backend.set_many("app", {"K": "v1"})
    backend.set_many("app", {"K": "v2", "X": "x"})
    backend.delete_many("app", ["X"])
    versions = backend.secret_versions("app")
    assert [v.version for v in versions] == [1, 2, 3]
    assert [v.current for v in versions] == [False, False, True]
    assert backend.restore_version("app", 1) == 4
    assert dict(backend.get_all("app")) == {"K": "v1"}
    assert dict(make_backend(backend.address, backend.path_prefix).get_all("app")) == {"K": "v1"}
    with pytest.raises(NotFoundError, match="version 99"):
        backend.restore_version("app", 99)


def test_sealed_vault_is_reported_as_unavailable() -> None:
    server = BaoServer().start()
    try:
        backend = make_backend(server.address, "p", retries=1)
        server.root_client().sys.seal()
        with pytest.raises(VaultUnreachableError, match="sealed"):
            backend.get_all("app")
    finally:
        server.cleanup()


def test_threads_sharing_one_backend_lose_nothing(bao_server: BaoServer) -> None:
    backend = make_backend(bao_server.address, _prefix())
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(8):
                backend.set_many("app", {f"T{n}_{i}": str(i)})
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    fresh = make_backend(bao_server.address, backend.path_prefix)
    assert dict(fresh.get_all("app")) == {f"T{n}_{i}": str(i) for n in range(4) for i in range(8)}


def test_returned_mapping_cannot_corrupt_the_cache(bao_server: BaoServer) -> None:
    backend = make_backend(bao_server.address, _prefix())
    backend.set_many("app", {"A": "1"})
    got = backend.get_all("app")
    with pytest.raises(TypeError):
        got["A"] = "changed"  # type: ignore[index]
    assert dict(backend.get_all("app")) == {"A": "1"}
