"""The one shared wasmtime Engine, its epoch ticker, and the compiled-artifact cache.

A component is compiled once (an 18 MB componentize-py component takes seconds) and its native
artifact is kept beside it as ``<id>.compiled``; later loads map that file in (about 2 ms). A
``.compiled`` is native code, so we only ever deserialize a file that *we* wrote: it must be a
regular file owned by us with no group/other permissions, and a sidecar key file
(``<id>.compiled.key``) must match the wasm's sha256, the wasmtime version, our engine settings and
the artifact's own size and mtime. Anything else (a mismatch, a corrupt or foreign file, a
deserialize error) means: compile again and rewrite the cache. A bad cache never fails a load.

The engine has epoch interruption on; a daemon thread keeps the epoch at the number of
:data:`EPOCH_TICK_SECONDS` elapsed on the monotonic clock (catching up after a late wake-up, so
limits do not stretch under load), and each call's Store gets a deadline in ticks
(``invoke.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import json
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import wasmtime
import wasmtime.component as wc

from wassette import fsutil
from wassette.errors import ComponentError, StorageError
from wassette.runtime import _wasmtime_compat

EPOCH_TICK_SECONDS = 0.01
"""How often the ticker thread increments the engine epoch (the timeout granularity)."""

_CACHE_FORMAT = 1
# Everything in the engine's Config that changes the compiled code goes here, so a change to
# the settings invalidates old artifacts (wasmtime would also refuse them, but we check first).
_ENGINE_SETTINGS = {"epoch_interruption": True}

_engine: wasmtime.Engine | None = None
_engine_lock = threading.Lock()

T = TypeVar("T")


@functools.cache
def wasmtime_version() -> str:
    """The installed wasmtime-py version (part of the artifact cache key).

    Read from the one ``wasmtime-*.dist-info`` beside the package (what importlib.metadata
    reads), because importing importlib.metadata costs ~10 ms of every one-shot command.
    """
    site = Path(wasmtime.__file__).resolve().parent.parent
    # What site.glob("wasmtime-*.dist-info/METADATA") finds, without glob's pattern machinery.
    names: list[str] = []
    with contextlib.suppress(OSError), os.scandir(site) as entries:
        names = [
            e.name
            for e in entries
            if e.name.startswith("wasmtime-") and e.name.endswith(".dist-info")
        ]
    found = [m for m in (site / n / "METADATA" for n in sorted(names)) if m.exists()]
    if len(found) == 1:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for line in found[0].read_text("utf-8").splitlines():
                if not line:
                    break  # end of the headers
                if line.startswith("Version: "):
                    return line.removeprefix("Version: ").strip()
    from importlib import metadata

    return metadata.version("wasmtime")


def _machine() -> str:
    """``platform.machine()``: on POSIX that is ``os.uname().machine``, without the import."""
    if hasattr(os, "uname"):
        return os.uname().machine
    import platform

    return platform.machine()


@functools.cache
def engine_fingerprint() -> str:
    """A string naming everything that must match for a cached artifact to be reusable."""
    settings = ",".join(f"{k}={v}" for k, v in sorted(_ENGINE_SETTINGS.items()))
    return (
        f"wasmtime={wasmtime_version()};{settings};"
        f"target={sys.platform}-{_machine()};format={_CACHE_FORMAT}"
    )


def _tick(engine: wasmtime.Engine) -> None:
    """Keep the engine epoch equal to the monotonic time elapsed, in ticks.

    Counting sleeps would fall behind real time on a loaded machine (each sleep overshoots,
    and the thread may wait for a core), stretching every time limit; instead each wake-up
    adds however many ticks have elapsed since the ticker started.
    """
    started = time.monotonic()
    issued = 0
    while True:
        time.sleep(EPOCH_TICK_SECONDS)
        due = int((time.monotonic() - started) / EPOCH_TICK_SECONDS)
        for _ in range(due - issued):
            engine.increment_epoch()
        issued = max(issued, due)


def get_engine() -> wasmtime.Engine:
    """Return the process-wide Engine (created on first use, with its epoch ticker running).

    One Engine is shared by every component and thread: compiled code, linkers and the epoch
    counter all belong to it. Stores are never shared (see ``invoke.py``).
    """
    global _engine  # noqa: PLW0603 - a lazily created process singleton, guarded by a lock
    with _engine_lock:
        if _engine is None:
            config = wasmtime.Config()
            config.epoch_interruption = _ENGINE_SETTINGS["epoch_interruption"]
            engine = wasmtime.Engine(config)
            # The runtime's start-up: the one explicit installation of our hooks into
            # wasmtime-py's internals (never an import side effect). False means this
            # wasmtime-py differs from the pinned one; the values that need it are refused.
            _wasmtime_compat.install()
            ticker = threading.Thread(
                target=_tick, args=(engine,), name="wassette-epoch-ticker", daemon=True
            )
            ticker.start()
            # Free wasmtime objects stuck in reference cycles while Python is fully alive:
            # freed during interpreter shutdown instead, wasmtime's runtime threads may call
            # back into a finalizing interpreter and panic (noise on stderr at exit).
            atexit.register(gc.collect)
            _engine = engine
        return _engine


@dataclass
class LoadedComponent:
    """A compiled component, ready to be instantiated any number of times.

    ``component`` is the wasmtime ``Component`` (its ``.type`` drives the schema/value layers).
    ``cache_hit`` says whether it came from the ``.compiled`` cache. ``import_names`` lists what
    it imports; ``http_handler_imports`` the exact ``wasi:http/outgoing-handler@X`` names the
    allow-list must shadow. What is derived from the component once (its linker, export
    indices) is kept with it through :meth:`memo`; all of it is safe to share between threads.
    """

    component_id: str
    component: wc.Component
    wasm_sha256: str
    cache_hit: bool
    import_names: tuple[str, ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _memo: dict[Hashable, Any] = field(default_factory=dict, init=False, repr=False)

    def memo(self, key: Hashable, build: Callable[[], T]) -> T:
        """The value kept under ``key``, made by ``build()`` the first time it is asked for.

        On the call path: a hit is one dict lookup without the lock (a value, once stored, is
        never replaced); ``build`` runs under the lock, once per key, even when two threads
        miss together. An exception from ``build`` stores nothing.
        """
        try:
            hit: T = self._memo[key]
        except KeyError:
            with self._lock:
                if key not in self._memo:
                    self._memo[key] = build()
                hit = self._memo[key]
        return hit

    @property
    def http_handler_imports(self) -> tuple[str, ...]:
        """The exact ``wasi:http/outgoing-handler@X`` names the component imports."""
        return tuple(n for n in self.import_names if n.startswith("wasi:http/outgoing-handler@"))

    @property
    def imports_http(self) -> bool:
        """True if the component imports any ``wasi:http`` interface."""
        return any(name.startswith("wasi:http/") for name in self.import_names)


def _import_names(component: wc.Component) -> tuple[str, ...]:
    return tuple(sorted(component.type.imports(get_engine())))


def wrap_component(
    component: wc.Component, *, component_id: str, wasm_sha256: str = ""
) -> LoadedComponent:
    """Wrap an already compiled ``Component`` (e.g. one built from WAT in a test)."""
    return _loaded(component, component_id, wasm_sha256, cache_hit=False)


def _loaded(
    component: wc.Component, component_id: str, digest: str, *, cache_hit: bool
) -> LoadedComponent:
    return LoadedComponent(
        component_id=component_id,
        component=component,
        wasm_sha256=digest,
        cache_hit=cache_hit,
        import_names=_import_names(component),
    )


def _key_path(cache_path: Path) -> Path:
    return cache_path.with_name(cache_path.name + ".key")


def _cache_lock(cache_path: Path) -> contextlib.AbstractContextManager[None]:
    # Held while an artifact is read or written, however long a compile takes (no limit).
    return fsutil.file_lock(
        cache_path.with_name(cache_path.name + ".lock"),
        what=f"the artifact cache {cache_path}",
        timeout=-1,
        busy="another wassette process is compiling this component",
    )


def _read_key(cache_path: Path) -> dict[str, object] | None:
    try:
        raw = _key_path(cache_path).read_text(encoding="utf-8")
        key = json.loads(raw)
    except (OSError, ValueError):
        return None
    return key if isinstance(key, dict) else None


def _private_regular_file(path: Path) -> os.stat_result | None:
    """stat() of ``path`` if it is a regular file of ours that nobody else can touch."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return None
    if st.st_mode & 0o077:
        return None
    return st


def _atomic_write(path: Path, data: bytes | bytearray) -> os.stat_result:
    """Write ``data`` to ``path`` atomically with mode 0600; return the new file's stat."""
    fsutil.write_atomic(path, bytes(data))
    return os.stat(path)


def _wasm_digest(wasm_path: Path, key: dict[str, object] | None, trusted: str | None) -> str:
    """sha256 of the wasm, skipping the hash when its size and mtime match the key's stamp.

    Hashing 18 MB costs ~30 ms per load; the (size, mtime_ns) stamp is the same validation the
    component registry uses for its metadata. ``trusted`` (a digest the caller already knows)
    wins over both.
    """
    if trusted:
        return trusted.lower()
    with fsutil.os_errors(
        ComponentError,
        f"cannot read component file {wasm_path}",
        fix="check that the file exists and is readable",
    ):
        st = wasm_path.stat()
    if (
        key is not None
        and key.get("wasm_size") == st.st_size
        and key.get("wasm_mtime_ns") == st.st_mtime_ns
        and isinstance(key.get("wasm_sha256"), str)
    ):
        return str(key["wasm_sha256"])
    return fsutil.sha256_file(wasm_path)


def _try_cached(
    engine: wasmtime.Engine, cache_path: Path, key: dict[str, object] | None, digest: str
) -> wc.Component | None:
    if key is None:
        return None
    if key.get("wasm_sha256") != digest or key.get("engine") != engine_fingerprint():
        return None
    st = _private_regular_file(cache_path)
    if st is None:
        return None
    if key.get("cwasm_size") != st.st_size or key.get("cwasm_mtime_ns") != st.st_mtime_ns:
        return None
    try:
        return wc.Component.deserialize_file(engine, str(cache_path))
    except wasmtime.WasmtimeError:
        # Corrupt, truncated or built by another engine: recompile below.
        return None


def _read_wasm(wasm_path: Path) -> tuple[os.stat_result, bytes]:
    """The wasm's stat (taken first, so a later change makes the stamp stale) and bytes."""
    with fsutil.os_errors(
        ComponentError,
        f"cannot read component file {wasm_path}",
        fix="check that the file exists and is readable",
    ):
        st = wasm_path.stat()
        return st, wasm_path.read_bytes()


def _compile(
    engine: wasmtime.Engine, data: bytes, wasm_path: Path, component_id: str
) -> wc.Component:
    try:
        return wc.Component(engine, data)
    except wasmtime.WasmtimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid component"
        raise ComponentError(
            f"component {component_id!r} ({wasm_path.name}) is not a valid WebAssembly component",
            why=first,
            fix="rebuild it as a component (wasm-tools component new, componentize-py, "
            "componentize-js, cargo component) and load it again",
        ) from exc


def load_component(
    wasm_path: Path,
    cache_path: Path,
    *,
    component_id: str | None = None,
    wasm_sha256: str | None = None,
) -> LoadedComponent:
    """Load the component at ``wasm_path``, using or refreshing the artifact at ``cache_path``.

    ``cache_path`` is normally ``<component dir>/<id>.compiled``; the key file
    ``<cache_path>.key`` and a lock file ``<cache_path>.lock`` live beside it (unloading a
    component should delete all three). ``wasm_sha256``, if the caller already knows the
    digest, saves hashing the file. Raises :class:`ComponentError` if the wasm cannot be read
    or compiled; a stale, corrupt or foreign cache is silently replaced.
    """
    engine = get_engine()
    wasm_path = Path(wasm_path)
    cache_path = Path(cache_path)
    cid = component_id or wasm_path.stem
    with fsutil.os_errors(
        StorageError,
        f"cannot use the artifact cache {cache_path}",
        fix="check that the component directory exists and is writable by this user",
    ):
        cache_path.parent.mkdir(parents=True, exist_ok=True)
    with _cache_lock(cache_path):
        key = _read_key(cache_path)
        digest = _wasm_digest(wasm_path, key, wasm_sha256)
        component = _try_cached(engine, cache_path, key, digest)
        cache_hit = component is not None
        if component is None:
            # Hash exactly the bytes we compile, so the key can never describe another file.
            wasm_st, data = _read_wasm(wasm_path)
            import hashlib  # compiling only: a cache hit is stamp-validated, never hashed

            digest = wasm_sha256.lower() if wasm_sha256 else hashlib.sha256(data).hexdigest()
            component = _compile(engine, data, wasm_path, cid)
            _write_cache(component, wasm_st, cache_path, digest)
        elif key is not None and wasm_sha256 is None:
            _refresh_stamp(wasm_path, cache_path, key)
    return _loaded(component, cid, digest, cache_hit=cache_hit)


def _write_cache(
    component: wc.Component, wasm_st: os.stat_result, cache_path: Path, digest: str
) -> None:
    """Serialize ``component`` to ``cache_path`` and write its key. Failures are not fatal."""
    try:
        # The old key goes first, so a crash between the writes leaves an artifact without a
        # key (never a key vouching for the wrong artifact): the next load recompiles.
        with contextlib.suppress(FileNotFoundError):
            _key_path(cache_path).unlink()
        cwasm_st = _atomic_write(cache_path, component.serialize())
        key = {
            "format": _CACHE_FORMAT,
            "engine": engine_fingerprint(),
            "wasm_sha256": digest,
            "wasm_size": wasm_st.st_size,
            "wasm_mtime_ns": wasm_st.st_mtime_ns,
            "cwasm_size": cwasm_st.st_size,
            "cwasm_mtime_ns": cwasm_st.st_mtime_ns,
        }
        _atomic_write(_key_path(cache_path), json.dumps(key, indent=2).encode())
    except (OSError, wasmtime.WasmtimeError):
        # A cache we cannot write only costs the next load a compile.
        return


def _refresh_stamp(wasm_path: Path, cache_path: Path, key: dict[str, object]) -> None:
    """After a hash-verified hit on a touched wasm, record its new stamp (skip future hashes)."""
    try:
        st = wasm_path.stat()
    except OSError:
        return
    if key.get("wasm_size") == st.st_size and key.get("wasm_mtime_ns") == st.st_mtime_ns:
        return
    updated = dict(key, wasm_size=st.st_size, wasm_mtime_ns=st.st_mtime_ns)
    with contextlib.suppress(OSError):
        _atomic_write(_key_path(cache_path), json.dumps(updated, indent=2).encode())


def compile_wasm(wasm_path: Path, component_id: str) -> wc.Component:
    """Compile ``wasm_path`` without touching any cache: proves it is a valid component.

    Used to validate a download *before* it replaces an installed version; hand the result
    to :func:`adopt_compiled` once it is installed, so it is not compiled twice.
    """
    wasm_path = Path(wasm_path)
    _, data = _read_wasm(wasm_path)
    return _compile(get_engine(), data, wasm_path, component_id)


def adopt_compiled(
    component: wc.Component, wasm_path: Path, cache_path: Path, *, component_id: str
) -> LoadedComponent:
    """Record an already compiled ``component`` as the artifact of the installed ``wasm_path``."""
    wasm_path, cache_path = Path(wasm_path), Path(cache_path)
    wasm_st, data = _read_wasm(wasm_path)
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    with _cache_lock(cache_path):
        _write_cache(component, wasm_st, cache_path, digest)
    return _loaded(component, component_id, digest, cache_hit=False)
