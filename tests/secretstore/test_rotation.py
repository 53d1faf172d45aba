"""Key rotation while other processes keep writing: nothing becomes unreadable, nothing lost."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from tests.conftest import CANARY
from wassette.secretstore.keys import KeyCustody
from wassette.secretstore.store import SecretStore


def open_store(root: Path) -> SecretStore:
    custody = KeyCustody(
        environ={}, config_dir=root / "config", secrets_dir=root / "secrets", use_keyring=False
    )
    return SecretStore(root / "secrets", custody=custody, encrypt_new=True, history_limit=3)


def rotate(store: SecretStore) -> None:
    custody = store.custody
    assert custody is not None
    with custody.rotation_lock():
        new = custody.begin_rotation()
        for cid in sorted({*store.component_ids(), *store.history_component_ids()}):
            store.reencrypt(cid)
        custody.commit_rotation(new)


def _writer(root: str, worker: int, count: int) -> None:
    store = open_store(Path(root))
    for i in range(count):
        store.set_many(f"comp{i % 5}", {f"W{worker}": f"{CANARY}-{worker}-{i}"})


def _rotator(root: str, times: int) -> None:
    store = open_store(Path(root))
    for _ in range(times):
        rotate(store)


def test_writers_during_rotations_stay_readable(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    for c in range(5):
        store.set_many(f"comp{c}", {"BASE": "b"})
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_writer, args=(str(tmp_path), w, 40)) for w in range(3)]
    rotator = ctx.Process(target=_rotator, args=(str(tmp_path), 4))
    for p in [*writers, rotator]:
        p.start()
    for p in [*writers, rotator]:
        p.join(120)
        assert p.exitcode == 0
    fresh = open_store(tmp_path)
    assert fresh.custody is not None and len(fresh.custody.keys().decrypt_keys) == 1
    for c in range(5):
        values = dict(fresh.get_all(f"comp{c}"))
        assert values["BASE"] == "b"
        for w in range(3):
            last = max(i for i in range(40) if i % 5 == c)
            assert values[f"W{w}"] == f"{CANARY}-{w}-{last}"
        fresh.key_history(f"comp{c}")  # every history value decrypts with the final key
    raw = b"".join(p.read_bytes() for p in (tmp_path / "secrets").rglob("*") if p.is_file())
    assert CANARY.encode() not in raw
