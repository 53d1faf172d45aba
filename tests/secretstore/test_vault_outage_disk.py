"""With encryption at rest on, an outage can span a server restart: the last fetched Vault
secrets are kept on disk, sealed, and served by a fresh process while Vault is down."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from tests.conftest import CANARY
from tests.secretstore.openbao import ROOT_TOKEN, BaoServer
from wassette.config import load_settings
from wassette.errors import VaultUnreachableError
from wassette.secretstore.backends.vault import VaultBackend
from wassette.wiring import System


def _settings(tmp_path: Path, address: str, encrypt: bool) -> dict[str, str]:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'secrets_backend = "vault"\nencrypt_new = {"true" if encrypt else "false"}\n'
        f'[vault]\naddress = "{address}"\ncache_ttl = 0.1\nretry_interval = 60\n'
        "timeout = 0.5\nretries = 0\n"
    )
    env = {
        "WASSETTE_CONFIG_FILE": str(cfg),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "VAULT_TOKEN": ROOT_TOKEN,
        "WASSETTE_SECRETS_KEY": base64.b64encode(b"k" * 32).decode(),
    }
    return env


def _open(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> VaultBackend:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    backend = System(load_settings(environ=env), env).backend  # custody from the root
    assert isinstance(backend, VaultBackend)
    return backend


def test_outage_copy_survives_a_restart_and_is_sealed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    server = BaoServer().start()
    try:
        env = _settings(tmp_path, server.address, encrypt=True)
        first = _open(env, monkeypatch)
        assert first.disk_cache is not None
        first.set_many("app", {"TOKEN": CANARY, "PLAIN": "p"})
        assert dict(first.get_all("app")) == {"TOKEN": CANARY, "PLAIN": "p"}
        cache_dir = tmp_path / "state" / "wassette" / "vault-cache"
        files = list(cache_dir.iterdir())
        assert len(files) == 1
        assert CANARY.encode() not in files[0].read_bytes()  # sealed with the custody key
        assert oct(files[0].stat().st_mode & 0o777) == "0o600"

        server.stop()
        restarted = _open(env, monkeypatch)  # a new process: nothing in memory
        assert dict(restarted.get_all("app")) == {"TOKEN": CANARY, "PLAIN": "p"}
        assert "saved on disk" in caplog.text
        assert CANARY not in caplog.text
        with pytest.raises(VaultUnreachableError):
            restarted.get_all("never-fetched")

        # A wrong key makes the copy unusable: a clear "unreachable", never a crash or a value.
        env_wrong = {**env, "WASSETTE_SECRETS_KEY": base64.b64encode(b"x" * 32).decode()}
        with pytest.raises(VaultUnreachableError):
            _open(env_wrong, monkeypatch).get_all("app")
        # Tampering likewise.
        data = bytearray(files[0].read_bytes())
        data[data.index(b"data:") + 6] ^= 1
        files[0].write_bytes(bytes(data))
        with pytest.raises(VaultUnreachableError):
            _open(env, monkeypatch).get_all("app")
    finally:
        server.cleanup()


def test_without_encryption_at_rest_nothing_is_written_to_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = BaoServer().start()
    try:
        env = _settings(tmp_path, server.address, encrypt=False)
        backend = _open(env, monkeypatch)
        assert backend.disk_cache is None
        backend.set_many("app", {"TOKEN": CANARY})
        backend.get_all("app")
        server.stop()
        with pytest.raises(VaultUnreachableError):
            _open(env, monkeypatch).get_all("app")
        assert not (tmp_path / "state" / "wassette" / "vault-cache").exists()
        assert not any(
            CANARY.encode() in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()
        )
    finally:
        server.cleanup()
