"""The wasi:http allow-list: only the granted destinations are ever contacted."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import wasmtime.component as wc
from hypothesis import given
from hypothesis import strategies as st

from tests.runtime.conftest import LocalServer, free_port
from wassette.runtime.capabilities import DENY_ALL, Capabilities, NetworkRule
from wassette.runtime.engine import LoadedComponent
from wassette.runtime.http_policy import DeniedRequest, parse_authority
from wassette.runtime.invoke import invoke, network_fix_hint

Get = Callable[[str], LoadedComponent]


def _fetch(fetcher: LoadedComponent, url: str, caps: Capabilities) -> tuple[str, str, object]:
    result = invoke(fetcher, ("fetch",), [url], caps)
    value = result.value
    assert isinstance(value, wc.Variant)
    return value.tag, value.payload, result


def test_fetcher_imports_the_handler_we_shadow(component: Get) -> None:
    assert component("http-fetcher").http_handler_imports == ("wasi:http/outgoing-handler@0.2.12",)


def test_allowed_destination_goes_through(component: Get, http_server: LocalServer) -> None:
    caps = Capabilities(network=(NetworkRule("127.0.0.1", port=http_server.port),))
    tag, payload, result = _fetch(
        component("http-fetcher"), f"http://127.0.0.1:{http_server.port}/ping?q=1", caps
    )
    assert (tag, payload) == ("ok", "200 hello from /ping?q=1")
    assert result.denied_requests == ()
    assert http_server.paths == ["/ping?q=1"]


@pytest.mark.parametrize(
    ("url_template", "denied"),
    [
        ("http://localhost:{port}/x", DeniedRequest("http", "localhost", None, "GET")),
        ("http://127.0.0.1:{other}/x", DeniedRequest("http", "127.0.0.1", None, "GET")),
        ("https://127.0.0.1:{port}/x", DeniedRequest("https", "127.0.0.1", None, "GET")),
    ],
)
def test_other_destinations_are_denied_before_any_connection(
    component: Get, http_server: LocalServer, url_template: str, denied: DeniedRequest
) -> None:
    # Only plain http to exactly 127.0.0.1:<port> is granted.
    caps = Capabilities(network=(NetworkRule("127.0.0.1", scheme="http", port=http_server.port),))
    other = free_port()
    url = url_template.format(port=http_server.port, other=other)
    tag, payload, result = _fetch(component("http-fetcher"), url, caps)
    assert tag == "err" and "HttpRequestDenied" in str(payload)
    assert http_server.paths == []  # refused in the host, never sent
    (got,) = result.denied_requests
    assert (got.scheme, got.host, got.method) == (denied.scheme, denied.host, denied.method)
    assert got.port == (http_server.port if "{port}" in url_template else other)


def test_no_network_capability_means_no_network(component: Get, http_server: LocalServer) -> None:
    tag, payload, result = _fetch(
        component("http-fetcher"), f"http://127.0.0.1:{http_server.port}/", DENY_ALL
    )
    assert tag == "err" and "HttpRequestDenied" in str(payload)
    assert http_server.paths == []
    hint = network_fix_hint("http-fetcher", result.denied_requests)
    assert "wassette permission grant network http-fetcher 127.0.0.1" in hint


def test_denials_do_not_record_paths_or_queries(component: Get, http_server: LocalServer) -> None:
    url = f"http://127.0.0.1:{http_server.port}/api?token=CANARY-path-secret"
    _, _, result = _fetch(component("http-fetcher"), url, DENY_ALL)
    (denied,) = result.denied_requests
    assert "CANARY" not in repr(denied)
    assert denied.destination == f"http://127.0.0.1:{http_server.port}"


def test_runtime_keeps_working_after_denials(component: Get, http_server: LocalServer) -> None:
    fetcher = component("http-fetcher")
    allowed = Capabilities(network=(NetworkRule("127.0.0.1"),))
    for _ in range(3):
        _fetch(fetcher, f"http://localhost:{http_server.port}/", allowed)
    tag, payload, _ = _fetch(fetcher, f"http://127.0.0.1:{http_server.port}/again", allowed)
    assert (tag, payload) == ("ok", "200 hello from /again")


# --- parse_authority: it reads guest-controlled text ------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "authority", "expected"),
    [
        ("http", "127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("http", "Example.COM", ("example.com", 80)),
        ("https", "example.com", ("example.com", 443)),
        ("https", "example.com.:8443", ("example.com", 8443)),
        ("http", "[::1]:9000", ("::1", 9000)),
        ("https", "[::1]", ("::1", 443)),
        ("http", "user:pw@example.com", None),
        ("http", "example.com:", None),
        ("http", "example.com:0", None),
        ("http", "example.com:65536", None),
        ("http", "example.com:80:80", None),
        ("http", "::1", None),
        ("http", "exa mple.com", None),
        ("http", "example.com/path", None),
        ("http", "", None),
    ],
)
def test_parse_authority(scheme: str, authority: str, expected: tuple[str, int] | None) -> None:
    assert parse_authority(scheme, authority) == expected


@given(st.sampled_from(["http", "https"]), st.text(max_size=80))
def test_parse_authority_never_raises_and_only_yields_plain_hosts(
    scheme: str, authority: str
) -> None:
    parsed = parse_authority(scheme, authority)
    if parsed is not None:
        host, port = parsed
        assert host and host == host.lower()
        assert not any(c in host for c in "@/?# \t\r\n[]")
        assert 0 < port < 65536


@given(
    st.from_regex(r"[a-z0-9-]{1,20}(\.[a-z0-9-]{1,20}){0,3}", fullmatch=True),
    st.integers(min_value=1, max_value=65535),
)
def test_parse_authority_round_trips_host_and_port(host: str, port: int) -> None:
    assert parse_authority("http", f"{host}:{port}") == (host, port)
    # A granted host never lets a decorated variant through.
    rule = NetworkRule(host)
    for variant in (f"{host}.evil.test", f"evil-{host}", f"{host}@evil.test"):
        parsed = parse_authority("http", f"{variant}:{port}")
        assert parsed is None or not rule.matches("http", *parsed)


def test_raw_sockets_stay_denied_whatever_the_network_grant(component: Get) -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        caps = Capabilities(network=(NetworkRule("127.0.0.1", port=port),))
        said = invoke(component("misbehaver"), ("dial",), ["127.0.0.1", port], caps).value
        assert isinstance(said, str) and said.startswith("PermissionError")
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing ever arrived


def test_concurrent_calls_are_judged_by_their_own_capabilities(
    component: Get, http_server: LocalServer
) -> None:
    import threading

    fetcher = component("http-fetcher")
    url = f"http://127.0.0.1:{http_server.port}/"
    allow = Capabilities(network=(NetworkRule("127.0.0.1", port=http_server.port),))
    outcomes: dict[int, str] = {}

    def worker(i: int) -> None:
        caps = allow if i % 2 == 0 else DENY_ALL
        tags = {_fetch(fetcher, url + str(i), caps)[0] for _ in range(3)}
        outcomes[i] = ",".join(sorted(tags))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes == {0: "ok", 1: "err", 2: "ok", 3: "err"}
    assert sorted(http_server.paths) == ["/0"] * 3 + ["/2"] * 3


def test_userinfo_in_a_denied_authority_is_not_recorded(
    component: Get, http_server: LocalServer
) -> None:
    url = f"http://bob:CANARY-userinfo@127.0.0.1:{http_server.port}/"
    allow = Capabilities(network=(NetworkRule("127.0.0.1", port=http_server.port),))
    tag, payload, result = _fetch(component("http-fetcher"), url, allow)
    assert tag == "err" and "CANARY" not in str(payload)
    assert http_server.paths == []
    assert "CANARY" not in repr(result.denied_requests)


def test_a_guest_waiting_on_a_silent_server_times_out_on_time(component: Get) -> None:
    import socket
    import threading
    import time

    from wassette.errors import ComponentTimeoutError

    held: list[socket.socket] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]

    def accept_and_say_nothing() -> None:
        try:
            while True:
                conn, _ = listener.accept()
                held.append(conn)
        except OSError:
            return

    threading.Thread(target=accept_and_say_nothing, daemon=True).start()
    caps = Capabilities(network=(NetworkRule("127.0.0.1", port=port),), timeout_seconds=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(ComponentTimeoutError, match="blocked in a host call"):
            invoke(component("http-fetcher"), ("fetch",), [f"http://127.0.0.1:{port}/"], caps)
        assert time.monotonic() - started < 2.0
        assert held  # the allowed request really was sent, and then left hanging
    finally:
        for conn in held:
            conn.close()  # lets the abandoned host call fail and its thread end
        listener.close()
    fetcher = component("http-fetcher")
    assert _fetch(fetcher, f"http://localhost:{port}/", DENY_ALL)[0] == "err"


def _loopback_name() -> str:
    """A host name (not localhost, not a literal) that resolves to a loopback address here."""
    import socket

    from wassette.runtime.http_policy import resolves_to_non_public

    for name in (socket.gethostname(), "ip6-localhost", "ip6-loopback"):
        if name != "localhost" and resolves_to_non_public(name, 80):
            return name
    pytest.fail("no host name resolving to a loopback address on this machine", pytrace=False)


def test_granted_name_resolving_to_loopback_is_denied(
    component: Get, http_server: LocalServer
) -> None:
    name = _loopback_name()
    caps = Capabilities(network=(NetworkRule(name, port=http_server.port),))
    tag, payload, result = _fetch(
        component("http-fetcher"), f"http://{name}:{http_server.port}/x", caps
    )
    assert tag == "err" and "HttpRequestDenied" in str(payload)
    assert http_server.paths == []
    (denied,) = result.denied_requests
    assert denied.host == name and denied.port is None  # no "grant the name" hint
    assert network_fix_hint("c", result.denied_requests) == ""
    # Naming the address explicitly (as the existing grants do) still works.
    explicit = Capabilities(network=(NetworkRule("127.0.0.1", port=http_server.port),))
    tag, _payload, _ = _fetch(
        component("http-fetcher"), f"http://127.0.0.1:{http_server.port}/y", explicit
    )
    assert tag == "ok"
