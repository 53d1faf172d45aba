"""Vault field names are validated like keys: a field written to Vault by another tool under a
name that is not a valid key is never injected and never exported (so `secret export` cannot
write a file `secret import` refuses)."""

from __future__ import annotations

import logging
import uuid

import pytest

from tests.secretstore.openbao import ROOT_TOKEN, BaoServer
from wassette.secretstore import transfer
from wassette.secretstore.backends.vault import VaultBackend


def test_invalid_field_names_are_left_out_with_a_warning(
    bao_server: BaoServer, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"fields-{uuid.uuid4().hex[:6]}"
    vault = VaultBackend.from_config(
        {"address": bao_server.address, "path_prefix": prefix, "cache_ttl": 0},
        {"VAULT_TOKEN": ROOT_TOKEN},
    )
    bao_server.root_client().secrets.kv.v2.create_or_update_secret(
        path=f"{prefix}/comp",
        secret={"GOOD": "g", "bad key": "CANARY-b1", "1X": "CANARY-b2", "a-b": "CANARY-b3"},
        mount_point="secret",
    )
    caplog.set_level(logging.WARNING, logger="wassette")
    got = dict(vault.get_all("comp"))
    assert got == {"GOOD": "g"}
    assert "3 field(s)" in caplog.text and "CANARY" not in caplog.text
    # What export would write, import accepts.
    for fmt in ("json", "yaml", "env"):
        rendered = transfer.render(got, fmt)
        assert transfer.parse(rendered.encode(), fmt, f"x.{fmt}") == got
