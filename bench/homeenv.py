"""The isolated home every benchmark runs ours (and the peer) in."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import isolated_env


def bench_env(root: Path, src: Path) -> dict[str, str]:
    """The tests' isolated environment (HOME and the XDG directories under ``root``, no
    ``WASSETTE_*``/``VAULT_*``/``BAO_*``/``XDG_*`` of ours), with ``src`` on PYTHONPATH and
    bytecode caching on: start-up is measured as a user meets it."""
    env = isolated_env(root)
    # A peer wrapper may cache its binary under the real user's cache; keep using it.
    env["WASSETTE_PEER_HOME"] = str(Path.home() / ".cache" / "wassette-peer")
    env["PYTHONPATH"] = str(src)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
