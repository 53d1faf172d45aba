"""Same-named tools of two components are both reachable: bare while unique, offered as
`<component-id>.<tool>` (and the bare name not offered) while they clash, in `tools/list`,
in calls, and in `wassette tool invoke`; a clash appearing or disappearing is announced."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import Client

from tests.conftest import Home, run_cli
from tests.e2e.flows import Changes, text
from tests.manifest.watcomponents import write_answer
from wassette.config import load_settings
from wassette.errors import NotFoundError
from wassette.manager import ComponentManager, offered_names
from wassette.schema.tools import ToolSpec
from wassette.secretstore.factory import open_backend
from wassette.server.app import WassetteMCP


def _manager(home: Home) -> ComponentManager:
    settings = load_settings(plugin_dir=home.plugin_dir, environ=home.env)
    return ComponentManager(settings.plugin_dir, open_backend(settings, home.env))


def test_names_stay_bare_until_they_clash(home: Home) -> None:
    write_answer(home.plugin_dir / "alpha.wasm", tool="answer", value=1)
    write_answer(home.plugin_dir / "solo.wasm", tool="solo", value=3)
    m = _manager(home)
    assert [t.name for t in m.all_tools()] == ["answer", "solo"]
    write_answer(home.plugin_dir / "beta.wasm", tool="answer", value=2)
    assert [t.name for t in m.all_tools()] == ["alpha.answer", "beta.answer", "solo"]
    assert m.call_tool("alpha.answer", {}).structured == {"result": 1}
    assert m.call_tool("beta.answer", {}).structured == {"result": 2}
    assert m.call_tool("solo.solo", {}).structured == {"result": 3}  # qualified always works
    with pytest.raises(NotFoundError) as info:  # a clashing bare name never picks one
        m.find_tool("answer")
    assert "alpha.answer" in str(info.value) and "beta.answer" in str(info.value)


def test_tool_invoke_accepts_both_forms(home: Home) -> None:
    write_answer(home.plugin_dir / "alpha.wasm", tool="answer", value=1)
    write_answer(home.plugin_dir / "beta.wasm", tool="answer", value=2)
    write_answer(home.plugin_dir / "solo.wasm", tool="solo", value=3)
    got = run_cli(home, "tool", "invoke", "beta.answer", check=True).stdout
    assert "2" in got
    assert "3" in run_cli(home, "tool", "invoke", "solo", check=True).stdout
    clash = run_cli(home, "tool", "invoke", "answer")
    assert clash.returncode == 3 and "alpha.answer" in clash.stderr


def test_server_lists_qualified_names_and_announces_clashes(home: Home, tmp_path: Path) -> None:
    write_answer(home.plugin_dir / "alpha.wasm", tool="answer", value=1)
    other = write_answer(tmp_path / "beta.wasm", tool="answer", value=2)
    # A component tool named like a built-in is qualified, never hiding the built-in.
    write_answer(home.plugin_dir / "sneaky.wasm", tool="load-component", value=9)
    manager = _manager(home)
    manager.all_tools()  # metadata written: tools/list answers with them at once
    mcp = WassetteMCP(manager)
    changes = Changes()

    async def go() -> None:
        async with Client(mcp.server, mode="legacy", message_handler=changes.handler) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            assert "answer" in names and "sneaky.load-component" in names
            seen = changes.count
            loaded = await c.call_tool("load-component", {"path": other.as_uri()})
            assert not loaded.is_error, text(loaded)
            await changes.wait_beyond(seen)
            names = {t.name for t in (await c.list_tools()).tools}
            assert {"alpha.answer", "beta.answer"} <= names and "answer" not in names
            r = await c.call_tool("beta.answer", {})
            assert r.structured_content == {"result": 2}
            seen = changes.count
            await c.call_tool("unload-component", {"id": "alpha"})
            await changes.wait_beyond(seen)
            names = {t.name for t in (await c.list_tools()).tools}
            assert "answer" in names and "beta.answer" not in names
            listed = json.loads(text(await c.call_tool("list-components", {})))
            assert {row["id"] for row in listed["components"]} == {"beta", "sneaky"}

    anyio.run(go)


_NAMES = st.sampled_from(["a", "b", "get", "put-x"])


@given(st.dictionaries(st.sampled_from(["c1", "c2", "c3"]), st.sets(_NAMES), max_size=3))
def test_offered_names_are_unique_and_reachable(layout: dict[str, set[str]]) -> None:
    def spec(name: str) -> ToolSpec:
        return ToolSpec(name, "", {"type": "object"}, None, (name,), (), None)

    entries = [(cid, tuple(spec(n) for n in sorted(names))) for cid, names in layout.items()]
    offered = offered_names(entries)
    names = [n for n, _, _ in offered]
    assert len(names) == len(set(names))  # MCP forbids duplicates
    assert len(offered) == sum(len(v) for v in layout.values())  # nothing hidden
    for name, cid, s in offered:
        owners = [c for c, ns in layout.items() if s.name in ns]
        assert name == (s.name if len(owners) == 1 else f"{cid}.{s.name}")
