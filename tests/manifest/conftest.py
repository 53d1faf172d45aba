"""Fixtures for the manifest tests: the real docker-registry of the component-source tests."""

from __future__ import annotations

from tests.components.conftest import oci_registry  # noqa: F401 - a shared fixture
