"""The isolated home every benchmark runs ours (and the peer) in."""

from __future__ import annotations

import os
from pathlib import Path


def bench_env(root: Path, src: Path) -> dict[str, str]:
    """This process's environment, minus every ``WASSETTE_*`` setting, with HOME and the XDG
    directories under ``root`` and ``src`` first on PYTHONPATH. Bytecode caching stays on:
    start-up is measured as a user meets it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASSETTE_")}
    # A peer wrapper may cache its binary under the real user's cache; keep using it.
    env.setdefault("WASSETTE_PEER_HOME", str(Path.home() / ".cache" / "wassette-peer"))
    env.update(
        HOME=str(root),
        XDG_DATA_HOME=str(root / "data"),
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_STATE_HOME=str(root / "state"),
        XDG_CACHE_HOME=str(root / "cache"),
        PYTHONPATH=str(src),
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
