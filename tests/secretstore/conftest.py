"""Fixtures shared by the secret-store tests: a real OpenBao dev server for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.secretstore.openbao import BaoServer


@pytest.fixture(scope="session")
def bao_server() -> Iterator[BaoServer]:
    """One OpenBao dev server on a random 127.0.0.1 port, for the whole test session."""
    server = BaoServer().start()
    try:
        yield server
    finally:
        server.cleanup()
