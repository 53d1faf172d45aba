"""The tools the installed components offer: their names, their cached schemas, and lookup.

A component's tool list is derived from its wasm (by compiling it) and kept three ways, each
valid only while the wasm is unchanged: in memory, in ``<id>.tools.json`` (so a server can
answer ``tools/list`` without compiling anything), and in a name -> tool index that spares a
tool call from listing the component directory (rebuilt when the directory changes).

Names: a tool keeps its own name while exactly one component offers it; when two or more do,
each is offered as ``<component-id>.<tool>`` (see :func:`offered_names`).

Nothing here compiles: the caller passes ``discover`` (compile and enumerate one component).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wassette import fsutil, layout
from wassette.errors import NotFoundError, WassetteError
from wassette.lazylog import get_logger
from wassette.schema.tools import ToolSpec
from wassette.statcache import Stamp, StatCache, file_stamp, stamp_of

__all__ = [
    "METADATA_FORMAT",
    "Tool",
    "ToolIndex",
    "offered_names",
    "qualified_name",
    "wasm_stamp",
]

log = get_logger("wassette.manager")

METADATA_FORMAT = 1

# A directory stamp younger than this may miss a change made within the file system's
# timestamp granularity of our listing: such an index is used once and not kept.
_TRUST_AFTER_NS = 50_000_000


@dataclass(frozen=True)
class Tool:
    """A tool offered by an installed component, under the name it is offered as.

    ``offered_name`` is the spec's own name while no other component offers a tool of that
    name, and ``<component-id>.<tool>`` for every tool of a clashing name (see
    :func:`offered_names`).
    """

    component_id: str
    spec: ToolSpec
    offered_name: str | None = None

    @property
    def name(self) -> str:
        return self.offered_name or self.spec.name


def qualified_name(component_id: str, tool_name: str) -> str:
    """``<component-id>.<tool>``: how a tool is offered when its name clashes."""
    return f"{component_id}.{tool_name}"


def offered_names(
    entries: list[tuple[str, tuple[ToolSpec, ...]]], reserved: frozenset[str] = frozenset()
) -> list[tuple[str, str, ToolSpec]]:
    """``(offered name, component id, spec)`` for every tool of every component.

    A name stays bare while exactly one component offers it; when two or more do, each of
    them is offered as ``<component-id>.<tool>`` and the bare name is not offered at all (no
    component silently hides another). A tool named like a ``reserved`` (built-in) tool is
    always qualified.
    """
    counts: dict[str, int] = {}
    for _cid, specs in entries:
        for tool_name in {s.name for s in specs}:
            counts[tool_name] = counts.get(tool_name, 0) + 1
    out = []
    for cid, specs in entries:
        for spec in specs:
            clash = counts[spec.name] > 1 or spec.name in reserved
            out.append((qualified_name(cid, spec.name) if clash else spec.name, cid, spec))
    return out


def wasm_stamp(wasm: Path) -> Stamp:
    """The stamp the tool caches of ``wasm`` are validated with (raises OSError)."""
    return stamp_of(os.stat(wasm))


class ToolIndex:
    """The tools of the components in one directory, cached while each wasm is unchanged.

    ``component_ids`` lists the installed ids; ``require`` returns an installed component's
    wasm path (or raises the not-loaded error); ``discover`` compiles one component, writes
    its metadata (:meth:`write_metadata`) and returns its tools. Safe to share between
    threads (see :mod:`wassette.statcache`).
    """

    def __init__(
        self,
        component_dir: Path,
        *,
        component_ids: Callable[[], list[str]],
        require: Callable[[str], Path],
        discover: Callable[[str], tuple[ToolSpec, ...]],
    ) -> None:
        self.component_dir = component_dir
        self._component_ids = component_ids
        self._require = require
        self._discover = discover
        self._tools: StatCache[str, tuple[ToolSpec, ...]] = StatCache()
        self._clashes_logged: set[tuple[str, str, str]] = set()
        # name -> (tool, its wasm's path and stamp), valid while the directory's stamp holds.
        self._index: StatCache[str, dict[str, tuple[Tool, str, object]]] = StatCache()

    def forget(self, component_id: str) -> None:
        """Drop what is cached about ``component_id`` (after an unload or a replacement)."""
        self._tools.forget(component_id)
        self._index.clear()

    # ----------------------------------------------------------------- metadata file

    def metadata_path(self, component_id: str) -> Path:
        return layout.path(self.component_dir, component_id, layout.METADATA)

    def _read_metadata(self, component_id: str, stamp: Stamp) -> tuple[ToolSpec, ...] | None:
        try:
            data = json.loads(self.metadata_path(component_id).read_text("utf-8"))
            wasm = data["wasm"]
            # The file vouches for the wasm by (size, mtime): an inode or ctime of another
            # process's view (a copy, a restore) does not make it stale.
            if data.get("format") != METADATA_FORMAT or (wasm["size"], wasm["mtime_ns"]) != (
                stamp[0],
                stamp[1],
            ):
                return None
            return tuple(ToolSpec.from_json(t) for t in data["tools"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing, stale or damaged: rebuild it from the wasm

    def write_metadata(
        self, component_id: str, stamp: Stamp, specs: tuple[ToolSpec, ...], sha256: str
    ) -> None:
        """Record ``specs`` as the tools of the wasm in state ``stamp`` (best effort)."""
        data = {
            "format": METADATA_FORMAT,
            "component_id": component_id,
            "wasm": {"size": stamp[0], "mtime_ns": stamp[1], "sha256": sha256},
            "tools": [s.to_json() for s in specs],
        }
        try:
            fsutil.write_atomic(
                self.metadata_path(component_id),
                json.dumps(data, indent=2).encode("utf-8"),
                mode=0o644,
            )
        except OSError as exc:  # a cache: failing to write it must not fail the call
            log.warning("cannot write %s: %s", self.metadata_path(component_id), exc.strerror)

    # -------------------------------------------------------------------------- tools

    def tools_of(self, component_id: str) -> tuple[ToolSpec, ...]:
        """The tools of one component (from metadata when fresh; compiles otherwise)."""
        specs = self.cached_tools(component_id)
        if specs is None:
            stamp = wasm_stamp(self._require(component_id))  # taken before compiling
            specs = self._tools.put(component_id, stamp, self._discover(component_id))
        return specs

    def cached_tools(self, component_id: str) -> tuple[ToolSpec, ...] | None:
        """The tools of one component if known without compiling (memory or fresh metadata
        file), else None."""
        stamp = wasm_stamp(self._require(component_id))
        hit = self._tools.get(component_id, stamp)
        if hit is not None:
            return hit
        specs = self._read_metadata(component_id, stamp)
        if specs is not None:
            self._tools.put(component_id, stamp, specs)
        return specs

    def all_tools(self) -> list[Tool]:
        """Every tool of every installed component, sorted by offered name."""
        entries: list[tuple[str, tuple[ToolSpec, ...]]] = []
        for component_id in self._component_ids():
            try:
                entries.append((component_id, self.tools_of(component_id)))
            except WassetteError as exc:
                log.warning("component %s offers no tools: %s", component_id, exc.message)
        tools = [Tool(cid, spec, name) for name, cid, spec in offered_names(entries)]
        for tool in tools:
            if tool.name != tool.spec.name:
                clash = (tool.spec.name, tool.component_id, tool.name)
                if clash not in self._clashes_logged:  # every call looks tools up: say it once
                    self._clashes_logged.add(clash)
                    log.info(
                        "tool %s is offered by several components; component %s's is %s",
                        *clash,
                    )
        return sorted(tools, key=lambda t: t.name)

    # ------------------------------------------------------------------------- lookup

    def _by_name(self) -> dict[str, tuple[Tool, str, object]]:
        """name -> tool, rebuilt when the component dir changes (a component added, removed
        or replaced by rename), instead of listing the directory on every call."""
        stamp = file_stamp(self.component_dir)
        hit = self._index.get("", stamp) if stamp is not None else None
        if hit is not None:
            return hit
        index: dict[str, tuple[Tool, str, object]] = {}
        for tool in self.all_tools():
            entry = self._tools.entry(tool.component_id)
            if entry is not None:
                wasm = str(layout.path(self.component_dir, tool.component_id, layout.WASM))
                index[tool.name] = (tool, wasm, entry[0])
        if stamp is not None and time.time_ns() - stamp[1] > _TRUST_AFTER_NS:
            self._index.put("", stamp, index)
        else:
            self._index.clear()
        return index

    def find_tool(self, name: str) -> Tool:
        """The tool offered as ``name`` (or ``<component-id>.<tool>``, which always works), or
        a NotFoundError listing what exists."""
        hit = self._by_name().get(name)
        if hit is not None:
            tool, wasm, stamp = hit
            if file_stamp(wasm) == stamp:
                return tool
            self._index.clear()  # rewritten in place: look again
        tools = self.all_tools()
        for tool in tools:
            if tool.name == name:
                return tool
        for tool in tools:
            if qualified_name(tool.component_id, tool.spec.name) == name:
                return tool
        clashing = [t.name for t in tools if t.spec.name == name]
        if clashing:
            raise NotFoundError(
                f"tool name {name!r} is offered by several components",
                why=f"call one of: {', '.join(clashing)}",
                fix="use the <component-id>.<tool> name of the one you mean",
            )
        names = [t.name for t in tools]
        raise NotFoundError(
            f"no tool named {name!r}",
            why=f"the loaded components offer: {', '.join(names) if names else 'no tools'}",
            fix="list tools with `wassette tool list`; load the component that provides it "
            "with `wassette component load <uri>`",
        )
