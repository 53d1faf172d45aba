"""Encryption at rest: the token format, authenticated data, failing closed, caching."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CANARY, Home
from wassette.errors import SecretsDecryptError, SecretsKeyError
from wassette.secretstore import crypto
from wassette.secretstore.keys import KeyCustody
from wassette.secretstore.store import SecretStore

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


def custody(tmp_path: Path, key: bytes = KEY) -> KeyCustody:
    env = {"WASSETTE_SECRETS_KEY": base64.b64encode(key).decode()}
    return KeyCustody(environ=env, config_dir=tmp_path / "cfg", secrets_dir=tmp_path / "secrets")


def store(tmp_path: Path, key: bytes = KEY, **kw: object) -> SecretStore:
    return SecretStore(tmp_path / "secrets", custody=custody(tmp_path, key), **kw)  # type: ignore[arg-type]


def all_bytes_under(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


def test_token_has_the_sops_shape_and_round_trips() -> None:
    token = crypto.encrypt(KEY, "c", "API_KEY", CANARY)
    assert token.startswith("ENC[AES256_GCM,data:") and token.endswith(",type:str]")
    assert ",iv:" in token and ",tag:" in token
    assert CANARY not in token
    assert crypto.is_token(token)
    assert crypto.decrypt_with([KEY], "c", "API_KEY", token) == CANARY
    # Fresh nonce each time: equal values do not give equal ciphertexts.
    assert crypto.encrypt(KEY, "c", "API_KEY", CANARY) != token


@pytest.mark.parametrize(("component", "name"), [("c", "OTHER_KEY"), ("other", "API_KEY")])
def test_a_value_copied_to_another_key_or_component_fails_clearly(
    tmp_path: Path, component: str, name: str
) -> None:
    token = crypto.encrypt(KEY, "c", "API_KEY", CANARY)
    with pytest.raises(crypto.TokenError):
        crypto.decrypt_with([KEY], component, name, token)
    s = store(tmp_path)
    s.set_many(component, {"KEEP": "x"})
    s.encrypt(component)
    path = s.path_for(component)
    path.write_text(path.read_text() + f'{name}: "{token}"\n')
    with pytest.raises(SecretsDecryptError) as info:
        s.get_all(component)
    msg = str(info.value)
    assert f"cannot decrypt {name}" in msg and "copied from another key or component" in msg
    assert CANARY not in msg and token not in msg


def test_flipped_byte_fails_closed_for_every_position(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.set_many("c", {"A": CANARY, "B": "other"})
    s.encrypt("c")
    path = s.path_for("c")
    original = path.read_text()
    line = original.splitlines()[0]
    start = line.index("ENC[") + len("ENC[AES256_GCM,data:")
    for pos in range(start, len(line) - len(',type:str]"')):
        ch = line[pos]
        if not (ch.isalnum() or ch in "+/"):
            continue
        flipped = "A" if ch != "A" else "B"
        path.write_text(original.replace(line, line[:pos] + flipped + line[pos + 1 :]))
        with pytest.raises(SecretsDecryptError) as info:
            SecretStore(tmp_path / "secrets", custody=custody(tmp_path)).get_all("c")
        assert "cannot decrypt A" in str(info.value)
        assert CANARY not in str(info.value)


def test_truncated_token_in_an_encrypted_file_is_malformed_not_plaintext(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.set_many("c", {"A": CANARY, "B": "other"})
    s.encrypt("c")
    path = s.path_for("c")
    text = path.read_text()
    path.write_text(text.replace(",type:str]", "", 1))
    with pytest.raises(SecretsDecryptError, match="not a well-formed"):
        SecretStore(tmp_path / "secrets", custody=custody(tmp_path)).get_all("c")


def test_wrong_key_fails_closed_and_says_so(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.set_many("c", {"A": CANARY, "B": "two"})
    s.encrypt("c")
    with pytest.raises(SecretsDecryptError) as info:
        store(tmp_path, OTHER).get_all("c")
    msg = str(info.value)
    assert "encrypted with a different key" in msg and "key status" in msg
    assert CANARY not in msg
    # Writes fail closed too: nothing is re-encrypted with the wrong key.
    before = s.path_for("c").read_bytes()
    with pytest.raises(SecretsDecryptError):
        store(tmp_path, OTHER).set_many("c", {"C": "3"})
    assert s.path_for("c").read_bytes() == before


def test_encrypt_keeps_keys_comments_and_order_readable(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(mode=0o700)
    path = secrets_dir / "c.secrets.yaml"
    path.write_text(f'# owner: platform team\nAPI_KEY: "{CANARY}"  # rotated monthly\n\nDB: x\n')
    os.chmod(path, 0o600)
    s = store(tmp_path)
    assert s.encrypt("c") == 2
    text = path.read_text()
    assert text.startswith('# owner: platform team\nAPI_KEY: "ENC[AES256_GCM,')
    assert '# rotated monthly\n\nDB: "ENC[' in text
    assert CANARY not in text
    assert dict(SecretStore(secrets_dir, custody=custody(tmp_path)).get_all("c")) == {
        "API_KEY": CANARY,
        "DB": "x",
    }
    assert s.decrypt("c") == 2
    assert (
        path.read_text()
        == f'# owner: platform team\nAPI_KEY: "{CANARY}"  # rotated monthly\n\nDB: "x"\n'
    )


def test_encrypt_new_and_encrypted_files_stay_encrypted(tmp_path: Path) -> None:
    s = store(tmp_path, encrypt_new=True)
    s.set_many("c", {"A": CANARY})
    assert CANARY not in s.path_for("c").read_text()
    plain = store(tmp_path)  # encrypt_new off: an encrypted file still gets encrypted values
    plain.set_many("c", {"B": CANARY + "-b"})
    assert CANARY not in all_bytes_under(tmp_path / "secrets").decode()
    assert plain.get("c", "B") == CANARY + "-b"


def test_canary_absent_from_every_file_under_the_secrets_dir_once_encrypted(tmp_path: Path) -> None:
    s = store(tmp_path, history_limit=5)
    for i in range(8):
        s.set_many("c", {"API_KEY": f"{CANARY}-{i}", "OTHER": f"{CANARY}-o{i}"})
    s.delete_many("c", ["OTHER"])
    assert CANARY.encode() in all_bytes_under(tmp_path / "secrets")
    s.encrypt("c")
    assert CANARY.encode() not in all_bytes_under(tmp_path / "secrets")
    s.set_many("c", {"API_KEY": f"{CANARY}-new"})  # history of an encrypted store stays so
    s.rollback_key("c", "API_KEY")
    assert CANARY.encode() not in all_bytes_under(tmp_path / "secrets")
    assert s.get("c", "API_KEY") == f"{CANARY}-7"


def test_a_plaintext_value_that_looks_like_a_token_round_trips(tmp_path: Path) -> None:
    looks = crypto.encrypt(OTHER, "x", "Y", "z")  # a complete, well-formed token
    s = store(tmp_path)
    s.set_many("c", {"A": looks, "B": "ENC[AES256_GCM,"})
    assert SecretStore(tmp_path / "secrets", custody=custody(tmp_path)).get_all("c") == {
        "A": looks,
        "B": "ENC[AES256_GCM,",
    }
    # Without key custody, an encrypted file is a clear error, not garbage.
    with pytest.raises(SecretsKeyError):
        SecretStore(tmp_path / "secrets").get_all("c")


def test_decrypt_once_per_file_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = store(tmp_path)
    s.set_many("c", {"A": CANARY})
    s.encrypt("c")
    calls = []
    real = crypto.decrypt_values
    monkeypatch.setattr(crypto, "decrypt_values", lambda *a: calls.append(1) or real(*a))
    fresh = SecretStore(tmp_path / "secrets", custody=custody(tmp_path))
    for _ in range(1000):
        assert fresh.get("c", "A") == CANARY
    assert len(calls) == 1
    s.set_many("c", {"B": "2"})
    assert fresh.get("c", "B") == "2"
    assert fresh.get("c", "A") == CANARY
    assert len(calls) == 3  # one under the writer's lock, one for the reload


def test_plaintext_list_does_not_import_cryptography(home: Home) -> None:
    code = (
        "import sys\n"
        "from wassette.cli import main\n"
        "for argv in (['secret', 'set', 'c', 'A=1', '--force'], ['secret', 'list', 'c']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('cryptography', 'keyring', 'wasmtime', 'mcp'))\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=home.env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY=\n" in proc.stdout


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.dictionaries(
        st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True), _text, max_size=4
    )
)
def test_any_text_round_trips_encrypted(
    tmp_path_factory: pytest.TempPathFactory, values: dict[str, str]
) -> None:
    directory = tmp_path_factory.mktemp("enc")
    s = store(directory, encrypt_new=True)
    s.set_many("c", values)
    fresh = SecretStore(directory / "secrets", custody=custody(directory))
    assert dict(fresh.get_all("c")) == values
    assert fresh.decrypt("c") >= 0
    assert dict(SecretStore(directory / "secrets").get_all("c")) == values
