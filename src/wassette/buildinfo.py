"""Version and build information, for ``wassette --version`` and ``GET /info``."""

from __future__ import annotations

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from wassette import __version__


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def git_revision() -> str | None:
    """The commit of the source checkout this package runs from (None when installed)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", "-C", str(root), "rev-parse", "HEAD"],  # noqa: S607 - git from PATH
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    rev = out.stdout.strip()
    return rev if out.returncode == 0 and len(rev) == 40 else None


@functools.cache
def build_info() -> dict[str, Any]:
    """What this build is made of: our version and revision, Python, wasmtime, MCP SDK."""
    return {
        "version": __version__,
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": f"{platform.system().lower()}-{platform.machine()}",
        "wasmtime": _dist_version("wasmtime"),
        "mcp": _dist_version("mcp"),
    }


def version_text() -> str:
    """The ``--version`` line: version, then the build information."""
    info = build_info()
    parts = [f"{k}={v}" for k, v in info.items() if k != "version" and v is not None]
    return f"wassette, version {__version__} ({', '.join(parts)})"
