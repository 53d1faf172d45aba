"""Fixtures for the end-to-end MCP server tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.mcpserver import template_dir


@pytest.fixture(scope="session")
def prepared() -> Path:
    """The compiled-components template (built once, cached across runs)."""
    return template_dir()
