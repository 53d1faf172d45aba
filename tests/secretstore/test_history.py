"""Per-key history and rollback in the local store."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from tests.conftest import CANARY
from wassette.errors import NotFoundError
from wassette.secretstore.keys import KeyCustody
from wassette.secretstore.store import SecretStore

KEY = base64.b64encode(bytes(range(32))).decode()


def store(tmp_path: Path, **kw: object) -> SecretStore:
    c = KeyCustody(
        environ={"WASSETTE_SECRETS_KEY": KEY},
        config_dir=tmp_path / "cfg",
        secrets_dir=tmp_path / "secrets",
    )
    return SecretStore(tmp_path / "secrets", custody=c, actor="tester@host", **kw)  # type: ignore[arg-type]


def test_every_change_keeps_the_previous_value_and_rollback_restores_it(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.set_many("c", {"API_KEY": "one"})
    s.set_many("c", {"API_KEY": "two"})
    s.delete_many("c", ["API_KEY"])
    rows = s.key_history("c", "API_KEY")["API_KEY"]
    assert [(r.version, r.operation, r.actor) for r in rows] == [
        (1, "set", "tester@host"),
        (2, "set", "tester@host"),
        (3, "delete", "tester@host"),
    ]
    assert rows[2].fingerprint is None and rows[2].current
    assert rows[0].fingerprint != rows[1].fingerprint
    assert s.rollback_key("c", "API_KEY") == 2  # default: the newest differing value
    assert s.get("c", "API_KEY") == "two"
    assert s.rollback_key("c", "API_KEY", 1) == 1
    assert s.get("c", "API_KEY") == "one"
    rows = s.key_history("c")["API_KEY"]
    assert rows[-1].operation == "rollback" and rows[-1].restored_version == 1
    assert rows[-1].fingerprint == rows[0].fingerprint  # same value, same fingerprint
    with pytest.raises(NotFoundError, match="versions kept"):
        s.rollback_key("c", "API_KEY", 99)
    path = s.history_path("c")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_fingerprints_are_keyed_not_plain_hashes(tmp_path: Path) -> None:
    import hashlib

    s = store(tmp_path)
    s.set_many("c", {"A": CANARY})
    fp = s.key_history("c", "A")["A"][0].fingerprint
    assert fp is not None
    for algo in ("md5", "sha1", "sha256", "sha512"):
        assert fp not in hashlib.new(algo, CANARY.encode()).hexdigest()


def test_limit_keeps_the_last_n_previous_values(tmp_path: Path) -> None:
    s = store(tmp_path, history_limit=3)
    for i in range(10):
        s.set_many("c", {"K": f"v{i}"})
    rows = s.key_history("c", "K")["K"]
    assert [r.version for r in rows] == [7, 8, 9, 10]  # current + 3 previous
    assert s.rollback_key("c", "K", 7) == 7 and s.get("c", "K") == "v6"
    off = store(tmp_path / "off", history_limit=0)
    off.set_many("c", {"K": "1"})
    assert not off.history_path("c").exists()


def test_hand_edits_between_changes_are_kept_as_previous(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.set_many("c", {"K": "mine"})
    path = s.path_for("c")
    path.write_text('K: "edited by hand"\n')
    s.set_many("c", {"K": "new"})
    rows = s.key_history("c", "K")["K"]
    assert [r.operation for r in rows] == ["set", "previous", "set"]
    s.rollback_key("c", "K")
    assert s.get("c", "K") == "edited by hand"


def test_a_value_existing_before_history_is_kept(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "c.secrets.yaml").write_text('K: "from before"\n')
    s = store(tmp_path)
    s.set_many("c", {"K": "after"})
    s.rollback_key("c", "K")
    assert s.get("c", "K") == "from before"
