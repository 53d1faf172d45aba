"""The package layering of ``src/wassette``, read from the source with ``ast``.

Rules (a newcomer can change one layer without reading the ones above it):

- ``policy/`` is the pure policy model: it imports nothing from ``runtime/``, ``server/`` or
  ``cli/`` (the policy -> capabilities translation lives in ``runtime/environment.py``);
- ``cli/`` and ``server/`` are the front ends: nothing below them imports them;
- there is no cycle between packages (top-level modules such as ``errors.py`` or
  ``manager.py`` count as packages of their own);
- no module is over 500 lines.

Imports inside functions and under ``if TYPE_CHECKING:`` count too (a lazy or type-only
import is still a dependency). Every failure prints the whole graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "wassette"
FRONT_ENDS = frozenset({"cli", "server"})
# Allowed to import the front ends: the entry points that dispatch to them.
ENTRY_POINTS = frozenset({"__main__"})


def _unit(module: str) -> str:
    """The package a dotted ``wassette.x.y`` module belongs to (``x``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    return (SRC / f"{name}.py").is_file() or (SRC / name / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    """The ``wassette`` modules one source file imports (lazily, for types, or at load)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("wassette"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "wassette" or target.startswith("wassette."):
                # `from wassette import fsutil` imports the module wassette.fsutil.
                # `from wassette import __version__` imports the package itself.
                if target == "wassette":
                    found.update(
                        f"wassette.{a.name}" if _is_module(a.name) else "wassette"
                        for a in node.names
                    )
                else:
                    found.add(target)
    return found


def module_graph() -> dict[str, set[str]]:
    """Each ``wassette`` module -> the ``wassette`` modules it imports."""
    return {_module_name(p): _imports(p) for p in sorted(SRC.rglob("*.py"))}


def package_graph() -> dict[str, set[str]]:
    """Each package (``policy``, ``runtime``, ``manager``, ...) -> the packages it imports."""
    graph: dict[str, set[str]] = {}
    for module, targets in module_graph().items():
        edges = graph.setdefault(_unit(module), set())
        edges.update(_unit(t) for t in targets)
    for unit, edges in graph.items():
        edges.discard(unit)
        edges.discard("__init__")
    graph.pop("__init__", None)
    return graph


def render(graph: dict[str, set[str]]) -> str:
    width = max(len(u) for u in graph)
    lines = [
        f"  {u:<{width}} -> {', '.join(sorted(e)) or '(nothing)'}" for u, e in sorted(graph.items())
    ]
    return "package import graph:\n" + "\n".join(lines)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _offenders(unit: str, forbidden: frozenset[str]) -> list[str]:
    """``module -> module`` lines where ``unit``'s modules import a ``forbidden`` package."""
    return [
        f"{m} -> {t}"
        for m, targets in sorted(module_graph().items())
        if _unit(m) == unit
        for t in sorted(targets)
        if _unit(t) in forbidden
    ]


def test_graph_reader_sees_the_known_edges() -> None:
    """Guard the guard: the reader must find imports we know are there (top-level, lazy,
    relative-free `from wassette import x`), or every other test here passes vacuously."""
    modules = module_graph()
    assert "wassette.errors" in modules["wassette.manager"]
    assert "wassette.runtime.invoke" in modules["wassette.manager"]  # a lazy import
    assert "wassette.fsutil" in modules["wassette.manager"]  # `from wassette import fsutil`
    graph = package_graph()
    assert "runtime" in graph["manager"], render(graph)
    assert len(graph) >= 10, render(graph)


def test_policy_model_depends_on_no_layer_above_it() -> None:
    graph = package_graph()
    bad = _offenders("policy", frozenset({"runtime", "server", "cli"}))
    assert not bad, (
        "policy/ is the pure policy model and must not import runtime/, server/ or cli/ "
        "(build runtime forms such as network rules in runtime/environment.py):\n  "
        + "\n  ".join(bad)
        + "\n"
        + render(graph)
    )


def test_nothing_below_the_front_ends_imports_them() -> None:
    graph = package_graph()
    bad = [
        line
        for unit in sorted(graph)
        if unit not in FRONT_ENDS | ENTRY_POINTS
        for line in _offenders(unit, FRONT_ENDS)
    ]
    # The server is started by the CLI (`serve`), never the other way round.
    bad += _offenders("server", frozenset({"cli"}))
    assert not bad, (
        "cli/ and server/ are front ends; the layers below must not import them:\n  "
        + "\n  ".join(bad)
        + "\n"
        + render(graph)
    )


def test_no_cycle_between_packages() -> None:
    graph = package_graph()
    cycles = _cycles(graph)
    assert not cycles, (
        "import cycles between packages: "
        + "; ".join(" <-> ".join(c) for c in cycles)
        + "\n"
        + render(graph)
    )


# Each heavy third-party library is imported by one package only.
LIBRARY_OWNERS = {
    "wasmtime": "runtime",
    "mcp": "server",
    "mcp_types": "server",
    "starlette": "server",
}


def _library_imports(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots & set(LIBRARY_OWNERS)


def test_each_sdk_is_imported_by_its_one_package() -> None:
    bad = [
        f"{_module_name(path)} imports {lib} (only {LIBRARY_OWNERS[lib]}/ may)"
        for path in sorted(SRC.rglob("*.py"))
        for lib in sorted(_library_imports(path))
        if _unit(_module_name(path)) != LIBRARY_OWNERS[lib]
    ]
    assert not bad, "\n".join(bad)


MAX_MODULE_LINES = 500


def test_no_module_is_over_the_size_a_newcomer_can_read() -> None:
    """Big modules are split along their seams (a module over ~500 lines was always doing
    two jobs); this keeps the next one from growing back unnoticed."""
    sizes = {
        str(path.relative_to(SRC)): len(path.read_text("utf-8").splitlines())
        for path in SRC.rglob("*.py")
    }
    assert len(sizes) > 50  # the walk found the package
    too_big = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_big, f"split these along their seams: {too_big}"
