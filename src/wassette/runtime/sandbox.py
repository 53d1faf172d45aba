"""The pieces of a call's sandbox that a fresh Store and a warm instance build the same way.

``linker`` and ``export_index`` are derived once per compiled component (kept with it by
:meth:`LoadedComponent.memo`); ``wasi_config`` builds the WASI context of one Store from the
call's capabilities and nothing else: the env list, one preopen per grant with its
writability, and the guest's stdout/stderr as in-memory files collected into the call's tails.
"""

from __future__ import annotations

from typing import Protocol

import wasmtime
import wasmtime.component as wc

from wassette.errors import NotFoundError, PolicyError
from wassette.runtime import http_policy
from wassette.runtime.capabilities import Capabilities
from wassette.runtime.engine import LoadedComponent, get_engine
from wassette.runtime.output import Sink, get_spool

__all__ = ["SandboxSetup", "export_index", "linker", "wasi_config"]

_LINKER = "linker"


class SandboxSetup(Protocol):
    """What :func:`wasi_config` reads from (and records in) a call or a warm build."""

    @property
    def caps(self) -> Capabilities: ...
    @property
    def stdout(self) -> Sink: ...
    @property
    def stderr(self) -> Sink: ...
    @property
    def fds(self) -> list[tuple[int, Sink]]: ...


def _build_linker(loaded: LoadedComponent) -> wc.Linker:
    new = wc.Linker(get_engine())
    if loaded.http_handler_imports:
        new.allow_shadowing = True
    new.add_wasip2()
    if loaded.imports_http:
        new.add_wasi_http()
        http_policy.define_shims(new, loaded.http_handler_imports)
    return new


def linker(loaded: LoadedComponent) -> wc.Linker:
    """The component's linker: WASI 0.2, plus wasi:http behind the allow-list shim if it
    imports it. Built once per compiled component."""
    return loaded.memo(_LINKER, lambda: _build_linker(loaded))


def _find_export(loaded: LoadedComponent, export_path: tuple[str, ...]) -> wc.ExportIndex:
    index: wc.ExportIndex | None = None
    for name in export_path:
        index = loaded.component.get_export_index(name, index)
        if index is None:
            break
    if index is None or not export_path:
        raise NotFoundError(
            f"component {loaded.component_id!r} has no export {'/'.join(export_path)!r}",
            fix="list the component's tools and call one of those",
        )
    return index


def export_index(loaded: LoadedComponent, export_path: tuple[str, ...]) -> wc.ExportIndex:
    """The index of ``export_path`` in the component (kept), or a NotFoundError."""
    return loaded.memo(export_path, lambda: _find_export(loaded, export_path))


def wasi_config(call: SandboxSetup) -> wasmtime.WasiConfig:
    """A Store's WASI context for ``call.caps``; the output files it opens are appended to
    ``call.fds`` (the caller finishes them once the call is over)."""
    caps = call.caps
    wasi = wasmtime.WasiConfig()
    # Assigned exactly once: each assignment to `env` appends to the previous list.
    wasi.env = [[key, value] for key, value in caps.env]
    for preopen in caps.preopens:
        try:
            wasi.preopen_dir(str(preopen.host_path), preopen.guest_path, preopen.writable)
        except wasmtime.WasmtimeError as exc:
            raise PolicyError(
                f"the storage permission for {preopen.host_path} cannot be used",
                why="the directory does not exist or cannot be opened",
                fix="create the directory, or revoke the storage permission for it",
            ) from exc
    spool = get_spool()
    for tail, name in ((call.stdout, "stdout_file"), (call.stderr, "stderr_file")):
        fd = spool.open(tail)
        call.fds.append((fd, tail))
        setattr(wasi, name, f"/proc/self/fd/{fd}")  # wasmtime opens a descriptor of its own
    return wasi
