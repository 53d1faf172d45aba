"""The local YAML store passes the same contract as every other backend."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from tests.secretstore.contract import BackendFactory, SecretBackendContract
from wassette.secretstore.backend import SecretBackend
from wassette.secretstore.store import SecretStore


class TestSecretStoreContract(SecretBackendContract):
    @pytest.fixture
    def backend_factory(self, tmp_path: Path) -> BackendFactory:
        self._dir = tmp_path / "secrets"
        return functools.partial(SecretStore, self._dir)

    def container_exists(self, backend: SecretBackend, component_id: str) -> bool:
        assert isinstance(backend, SecretStore)
        return backend.path_for(component_id).is_file()
