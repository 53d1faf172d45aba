"""No module outside the two compat modules touches a third-party library's private API.

``runtime/_wasmtime_compat.py`` (wasmtime-py) and ``server/_sdk_compat.py`` (MCP SDK,
Starlette) are the only places allowed to; each has its own test pinning the SDK version and
checking that every private name it uses still exists. This test reads ``src/wassette`` with
``ast`` and flags, outside those two files:

- imports of a private module or name of a third-party package (``from wasmtime import _ffi``,
  ``from wasmtime.component._types import ...``, ``from mcp.server._otel import ...``);
- attribute access ``x._name`` (or ``getattr(x, "_name")``) on anything but ``self``/``cls``
  when ``_name`` is a private name of one of the libraries below and not one of our own.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "wassette"
COMPAT = frozenset({SRC / "runtime" / "_wasmtime_compat.py", SRC / "server" / "_sdk_compat.py"})
# The libraries whose private names we look for in attribute access.
SDKS = ("wasmtime", "mcp", "mcp_types", "starlette", "httpx", "httpcore", "anyio", "hvac")

# Known and accepted outside the compat modules, each with its reason. Anything new fails.
ACCEPTED = {
    # httpx 0.28 has no public way to give HTTPTransport a network backend; the deadline
    # backend is what bounds every socket of a component fetch. Not an MCP/wasmtime SDK, so
    # it lives with the HTTP client code; re-check on an httpx upgrade
    # (tests/components exercise the deadline).
    ("components/sources/_http.py", "transport._pool._network_backend"),
}

_PRIVATE = re.compile(r"^_[A-Za-z0-9]\w*$")  # _x but not __dunder__
_DEFINED = re.compile(
    r"(?:self\.|cls\.|def |class |^\s*)(_[A-Za-z0-9]\w*)\s*(?:[:=(]|$)", re.MULTILINE
)


def _is_private(name: str) -> bool:
    return bool(_PRIVATE.match(name)) and not name.endswith("__")


def _third_party(root: str) -> bool:
    return root != "wassette" and root not in sys.stdlib_module_names and root != "__future__"


@cache
def _names_defined_in(root: Path) -> frozenset[str]:
    """Private names (attributes, methods, module files) defined under ``root``, except in
    the compat modules (their wrappers carry the SDK's own names)."""
    names: set[str] = set()
    for path in root.rglob("*.py"):
        if path in COMPAT:
            continue
        names.update(m.group(1) for m in _DEFINED.finditer(path.read_text(errors="replace")))
        if _is_private(path.stem):
            names.add(path.stem)
    return frozenset(names)


@cache
def sdk_private_names() -> frozenset[str]:
    """Private names the SDKs define, minus those our own code also defines."""
    names: set[str] = set()
    for sdk in SDKS:
        spec = importlib.util.find_spec(sdk)
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            names |= _names_defined_in(Path(location))
    return frozenset(names - _names_defined_in(SRC))


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "<expr>"


def touches(path: Path) -> list[str]:
    """Every private third-party touch in one source file, as ``line: what``."""
    found: list[str] = []
    private_sdk = sdk_private_names()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            parts = node.module.split(".")
            if _third_party(parts[0]):
                if any(_is_private(p) for p in parts[1:]):
                    found.append(f"{node.lineno}: from {node.module} import ...")
                found += [
                    f"{node.lineno}: from {node.module} import {a.name}"
                    for a in node.names
                    if _is_private(a.name)
                ]
        elif isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {a.name}"
                for a in node.names
                if _third_party(a.name.split(".")[0])
                and any(_is_private(p) for p in a.name.split(".")[1:])
            ]
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            receiver = node.value
            if isinstance(receiver, ast.Name) and receiver.id in ("self", "cls"):
                continue
            if node.attr in private_sdk:
                found.append(f"{node.lineno}: {_dotted(node)}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
            and node.args[1].value in private_sdk
        ):
            found.append(f"{node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
    return found


def all_touches() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        hits = touches(path)
        if path not in COMPAT:
            hits = [h for h in hits if (rel, h.split(": ", 1)[1]) not in ACCEPTED]
        if hits:
            out[rel] = hits
    return out


def test_the_scanner_knows_the_sdks_private_names() -> None:
    """Guard the guard: without the SDK sources every attribute check would pass vacuously."""
    names = sdk_private_names()
    for name in ("_connection", "_send", "_lower", "_cases", "_ffi", "_network_backend"):
        assert name in names, f"{name} not found in the installed SDK sources"


def test_the_scanner_finds_the_touches_in_the_compat_modules() -> None:
    """The compat modules themselves are flagged (and exempt): proof the rules bite."""
    wasmtime_hits = "\n".join(touches(SRC / "runtime" / "_wasmtime_compat.py"))
    assert "from wasmtime import _ffi" in wasmtime_hits
    assert "from wasmtime.component import _types" in wasmtime_hits
    assert "variant_like._lower" in wasmtime_hits
    sdk_hits = "\n".join(touches(SRC / "server" / "_sdk_compat.py"))
    assert "request._send" in sdk_hits and "'_connection'" in sdk_hits


def test_no_private_sdk_use_outside_the_two_compat_modules() -> None:
    outside = {f: h for f, h in all_touches().items() if SRC / f not in COMPAT}
    assert not outside, (
        "private third-party API used outside runtime/_wasmtime_compat.py and "
        "server/_sdk_compat.py; move it into the compat module of that library (with its "
        "name in PRIVATE_SYMBOLS) and call it from there:\n"
        + "\n".join(f"  {f}:{h}" for f, hits in sorted(outside.items()) for h in hits)
    )


def test_the_accepted_exceptions_are_still_there() -> None:
    """An accepted exception that no longer exists must be struck from the list."""
    for rel, what in sorted(ACCEPTED):
        hits = [h.split(": ", 1)[1] for h in touches(SRC / rel)]
        assert what in hits, f"{rel} no longer has {what}: remove it from ACCEPTED"
