"""Key custody: which source wins, how keys are created and kept, rotation bookkeeping."""

from __future__ import annotations

import base64
import hashlib
import stat
import time
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend

from tests.conftest import CANARY
from wassette.errors import SecretsKeyError
from wassette.secretstore.keys import KeyCustody
from wassette.secretstore.store import SecretStore


def make(tmp_path: Path, env: dict[str, str] | None = None, **kw: Any) -> KeyCustody:
    return KeyCustody(
        environ=env or {},
        config_dir=tmp_path / "config",
        secrets_dir=tmp_path / "data" / "secrets",
        **kw,
    )


def test_key_file_is_created_0600_on_first_need_and_reused(tmp_path: Path) -> None:
    c = make(tmp_path, use_keyring=False)
    assert c.status()["custody"] == "key-file" and c.status()["key_exists"] is False
    assert not c.key_file.exists()  # status creates nothing
    with pytest.raises(SecretsKeyError):
        c.keys(create=False)
    key = c.keys().encrypt_key
    assert len(key) == 32
    assert stat.S_IMODE(c.key_file.stat().st_mode) == 0o600
    assert make(tmp_path, use_keyring=False).keys().encrypt_key == key


def test_env_key_wins_and_bad_values_are_clear(tmp_path: Path) -> None:
    key = bytes(range(32))
    env = {
        "WASSETTE_SECRETS_KEY": base64.b64encode(key).decode(),
        "WASSETTE_SECRETS_PASSPHRASE": "p",
    }
    c = make(tmp_path, env)
    assert c.kind() == "env-key" and c.keys().encrypt_key == key
    assert "WASSETTE_SECRETS_KEY" in str(c.status()["source"])
    assert not c.key_file.exists()
    for bad in ("not base64!!", base64.b64encode(b"short").decode(), CANARY):
        with pytest.raises(SecretsKeyError) as info:
            make(tmp_path, {"WASSETTE_SECRETS_KEY": bad}).keys()
        assert CANARY not in str(info.value)
    with pytest.raises(SecretsKeyError, match="from the environment"):
        c.rotatable()


def test_passphrase_is_derived_once_per_process_with_a_stored_salt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"WASSETTE_SECRETS_PASSPHRASE": CANARY}
    c = make(tmp_path, env)
    t0 = time.perf_counter()
    key = c.keys().encrypt_key
    first = time.perf_counter() - t0
    salt = tmp_path / "data" / "secrets" / ".key-salt"
    assert len(salt.read_bytes()) == 16 and stat.S_IMODE(salt.stat().st_mode) == 0o600
    calls = []
    real = hashlib.scrypt
    monkeypatch.setattr(hashlib, "scrypt", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert make(tmp_path, env).keys().encrypt_key == key  # same process: not derived again
    assert calls == []
    assert first > 0.01  # scrypt really ran the first time
    other = make(tmp_path, {"WASSETTE_SECRETS_PASSPHRASE": "another"}).keys().encrypt_key
    assert other != key and calls == [1]
    assert CANARY.encode() not in salt.read_bytes()


def test_key_file_is_never_inside_the_secrets_dir(tmp_path: Path) -> None:
    c = KeyCustody(
        environ={},
        config_dir=tmp_path / "s" / "conf",
        secrets_dir=tmp_path / "s",
        use_keyring=False,
    )
    with pytest.raises(SecretsKeyError, match="inside the secrets directory"):
        c.keys()


def test_the_fail_keyring_is_not_used(tmp_path: Path) -> None:
    assert make(tmp_path).kind() == "key-file"  # this machine has no real keyring backend


class MemoryKeyring(KeyringBackend):
    """A stand-in for a real OS keyring (e.g. Secret Service), in memory."""

    priority = -10  # type: ignore[assignment]  # never auto-selected: tests install it

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


def test_a_real_keyring_holds_the_key_and_rotation_state(tmp_path: Path) -> None:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        c = make(tmp_path)
        assert c.kind() == "keyring"
        store = SecretStore(tmp_path / "data" / "secrets", custody=c, encrypt_new=True)
        store.set_many("c", {"A": CANARY})
        assert ("wassette", "secrets-key") in backend.items
        assert not c.key_file.exists()
        old = c.keys().encrypt_key
        new = c.begin_rotation()
        assert ("wassette", "secrets-key-next") in backend.items
        assert store.get("c", "A") == CANARY
        store.reencrypt("c")
        c.commit_rotation(new)
        assert c.keys().encrypt_key == new != old
        assert ("wassette", "secrets-key-next") not in backend.items
        assert (
            SecretStore(tmp_path / "data" / "secrets", custody=make(tmp_path)).get("c", "A")
            == CANARY
        )
    finally:
        keyring.set_keyring(previous)


def test_rotation_bookkeeping_with_a_key_file(tmp_path: Path) -> None:
    c = make(tmp_path, use_keyring=False)
    old = c.keys().encrypt_key
    new = c.begin_rotation()
    assert c.pending_file.exists() and c.status()["rotation_pending"] is True
    ks = make(tmp_path, use_keyring=False).keys()
    assert ks.encrypt_key == new and ks.decrypt_keys == (old, new)
    assert c.begin_rotation() == new  # an interrupted rotation resumes with the same key
    c.commit_rotation(new)
    assert not c.pending_file.exists()
    assert make(tmp_path, use_keyring=False).keys().decrypt_keys == (new,)
