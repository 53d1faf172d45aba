"""Registry credentials go to their own registry only: a hostile registry on 127.0.0.1 that
logs every Authorization header never sees them (library, CLI and MCP ``load-component``),
while the intended registry (a real docker-registry with htpasswd) still receives them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from tests.components.conftest import OCI_PASSWORD, OCI_USER
from tests.components.hostile import HeaderLogger
from tests.components.ocipush import Pushed
from tests.components.registry_server import RegistryServer
from tests.components.servers import RecordingProxy, TokenFront
from tests.conftest import Home, run_cli
from wassette.components.sources import Credentials, FetchOptions, fetch
from wassette.components.sources.environment import options_from_environment
from wassette.errors import SourceAuthError


@pytest.fixture(params=["basic", "bearer"])
def hostile(request: pytest.FixtureRequest) -> Iterator[HeaderLogger]:
    server = HeaderLogger(request.param)
    try:
        yield server
    finally:
        server.close()


def _docker_config(path: Path, host: str) -> Path:
    auth = base64.b64encode(f"{OCI_USER}:{OCI_PASSWORD}".encode()).decode()
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return path / "config.json"


def _leaked(server: HeaderLogger) -> list[str]:
    """Authorization headers the hostile server saw that carry the operator's password."""
    found = []
    for header in server.credentials_seen():
        _scheme, _, value = header.partition(" ")
        try:
            decoded = base64.b64decode(value).decode("utf-8", "replace")
        except ValueError:
            decoded = value
        if OCI_PASSWORD in decoded or OCI_PASSWORD in header:
            found.append(header)
    return found


def test_bound_credentials_never_reach_another_registry(
    hostile: HeaderLogger, auth_registry: RegistryServer, tmp_path: Path
) -> None:
    config = _docker_config(tmp_path / "docker", auth_registry.host)
    opts = FetchOptions(
        credentials=Credentials(OCI_USER, OCI_PASSWORD, registry=auth_registry.host),
        docker_config=config,
        temp_dir=tmp_path,
    )
    with pytest.raises(SourceAuthError, match="requires credentials"):
        fetch(f"oci://{hostile.host}/evil/thing:v1", opts)
    assert hostile.seen, "the hostile registry must have been asked"
    assert hostile.credentials_seen() == []


def test_unbound_credentials_are_never_sent(
    auth_registry: RegistryServer, auth_published: Pushed, tmp_path: Path
) -> None:
    # Library level: credentials that name no registry are not offered even to the right one.
    opts = FetchOptions(credentials=Credentials(OCI_USER, OCI_PASSWORD), temp_dir=tmp_path)
    with pytest.raises(SourceAuthError, match="requires credentials"):
        fetch(f"oci://{auth_registry.host}/private/hello:v1", opts)


def test_environment_without_registry_is_ignored_with_a_warning(tmp_path: Path) -> None:
    said: list[str] = []
    env = {"WASSETTE_OCI_USERNAME": OCI_USER, "WASSETTE_OCI_PASSWORD": OCI_PASSWORD}
    opts = options_from_environment(env, tmp_path, warn=said.append)
    assert opts.credentials is None
    assert len(said) == 1
    assert "WASSETTE_OCI_REGISTRY" in said[0] and "ignored" in said[0]
    assert OCI_PASSWORD not in said[0]
    env["WASSETTE_OCI_REGISTRY"] = "127.0.0.1:5000"
    bound = options_from_environment(env, tmp_path, warn=said.append).credentials
    assert bound is not None and bound.applies_to("127.0.0.1:5000")
    assert not bound.applies_to("127.0.0.1:5001") and not bound.applies_to("127.0.0.1")


def test_docker_config_entry_for_another_host_is_not_used(
    hostile: HeaderLogger, tmp_path: Path
) -> None:
    # An entry for 127.0.0.1:<other port> must not match 127.0.0.1:<hostile port>.
    config = _docker_config(tmp_path / "docker", "127.0.0.1:1")
    with pytest.raises(SourceAuthError):
        fetch(
            f"oci://{hostile.host}/evil/thing:v1",
            FetchOptions(docker_config=config, temp_dir=tmp_path),
        )
    assert hostile.credentials_seen() == []


def test_redirect_from_the_intended_registry_carries_no_credentials(
    oci_registry: RegistryServer, published: object, tmp_path: Path
) -> None:
    # The intended registry (token front with a password) redirects blobs elsewhere.
    cdn = RecordingProxy(oci_registry.url)
    front = TokenFront(oci_registry.url, users={OCI_USER: OCI_PASSWORD}, blob_redirect=cdn.url)
    try:
        creds = Credentials(OCI_USER, OCI_PASSWORD, registry=front.host)
        with fetch(
            f"oci://{front.host}/test/hello:v1",
            FetchOptions(credentials=creds, temp_dir=tmp_path),
        ) as got:
            assert got.size > 0
        assert cdn.seen and all("authorization" not in h for h in cdn.seen)
    finally:
        front.close()
        cdn.close()


def _env(registry: str | None) -> dict[str, str]:
    env = {"WASSETTE_OCI_USERNAME": OCI_USER, "WASSETTE_OCI_PASSWORD": OCI_PASSWORD}
    if registry is not None:
        env["WASSETTE_OCI_REGISTRY"] = registry
    return env


def test_cli_hostile_registry_sees_nothing_intended_registry_works(
    home: Home,
    hostile: HeaderLogger,
    auth_registry: RegistryServer,
    auth_published: Pushed,
) -> None:
    bad = run_cli(
        home,
        "component",
        "load",
        f"oci://{hostile.host}/evil/thing:v1",
        env=_env(auth_registry.host),
    )
    assert bad.returncode != 0
    assert OCI_PASSWORD not in bad.stdout + bad.stderr
    assert hostile.seen and _leaked(hostile) == [] and hostile.credentials_seen() == []
    # Set without WASSETTE_OCI_REGISTRY: ignored, with a warning saying why and how to fix.
    unbound = run_cli(
        home, "component", "load", f"oci://{hostile.host}/evil/thing:v1", env=_env(None)
    )
    assert unbound.returncode != 0
    assert "WASSETTE_OCI_REGISTRY" in unbound.stderr and "ignored" in unbound.stderr
    assert hostile.credentials_seen() == []
    good = run_cli(
        home,
        "component",
        "load",
        f"oci://{auth_registry.host}/private/hello:v1",
        env=_env(auth_registry.host),
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["id"] == "private_hello"


def test_mcp_load_component_cannot_collect_credentials(
    home: Home, auth_registry: RegistryServer, auth_published: Pushed
) -> None:
    from tests.e2e.flows import text
    from tests.e2e.mcpserver import stdio_client

    hostile = HeaderLogger("basic")
    bearer = HeaderLogger("bearer")
    home.env.update(_env(auth_registry.host))
    log = home.root / "server.log"

    async def go() -> None:
        async with stdio_client(home, log=log, mode="legacy") as c:
            for server in (hostile, bearer):
                result = await c.call_tool(
                    "load-component", {"path": f"oci://{server.host}/evil/thing:v1"}
                )
                assert result.is_error
                assert OCI_PASSWORD not in text(result)
            good = await c.call_tool(
                "load-component", {"path": f"oci://{auth_registry.host}/private/hello:v1"}
            )
            assert not good.is_error, text(good)

    try:
        anyio.run(go)
        for server in (hostile, bearer):
            assert server.seen, "the hostile registry must have been asked"
            assert server.credentials_seen() == []
        assert OCI_PASSWORD not in log.read_text()
    finally:
        hostile.close()
        bearer.close()
