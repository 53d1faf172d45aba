"""One deadline per fetch: slowloris servers on 127.0.0.1 stalling each phase (response
headers, token, manifest, blob, TLS handshake, https body) make the load fail within the
deadline + 2 s, with an error naming the host and the phase; the server keeps serving tool
calls while many loads stall."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.components.hostile import Slowloris, tls_context_for
from tests.conftest import Home
from wassette.components.sources import FetchOptions, fetch
from wassette.errors import SourceUnreachableError

DEADLINE = 2.0
SLACK = 2.0

CASES = {
    # phase of the server -> (scheme, phase named in the error, step named in the error)
    "headers": ("oci", "manifest", "headers"),
    "token": ("oci", "token", "headers"),
    "manifest": ("oci", "manifest", "body"),
    "blob": ("oci", "blob", "body"),
    "tls": ("https", "download", "tls"),
    "https-headers": ("https", "download", "headers"),
    "https-body": ("https", "download", "body"),
}


@pytest.fixture(params=sorted(CASES))
def slow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Slowloris, Path]]:
    phase = request.param
    ctx, ca = tls_context_for(tmp_path) if CASES[phase][0] == "https" else (None, tmp_path)
    server = Slowloris(phase, drip=0.3, tls_context=ctx if phase != "tls" else None)
    try:
        yield server, ca
    finally:
        server.close()


def _uri(server: Slowloris) -> str:
    scheme = CASES[server.phase][0]
    if scheme == "oci":
        return f"oci://{server.host}/slow/component:v1"
    return f"https://{server.host}/slow/component.wasm"


def test_each_stalled_phase_fails_within_the_deadline(
    slow: tuple[Slowloris, Path], tmp_path: Path
) -> None:
    server, ca = slow
    _scheme, phase, step = CASES[server.phase]
    opts = FetchOptions(
        total_timeout=DEADLINE,
        temp_dir=tmp_path,
        ca_file=ca if _scheme == "https" else None,
    )
    started = time.monotonic()
    with pytest.raises(SourceUnreachableError) as err:
        fetch(_uri(server), opts)
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE + SLACK, f"took {elapsed:.1f} s"
    text = str(err.value)
    assert "did not finish in time" in text
    assert server.host in text
    assert f"in the {phase} phase" in text
    assert f"step: {step}" in text
    assert "--timeout" in text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("wassette-fetch-")]


def test_per_read_timeouts_alone_would_not_stop_a_drip(tmp_path: Path) -> None:
    # The drip is far faster than the per-read timeout: only the overall deadline ends it.
    server = Slowloris("blob", drip=0.2)
    try:
        opts = FetchOptions(total_timeout=1.5, read_timeout=30.0, temp_dir=tmp_path)
        started = time.monotonic()
        with pytest.raises(SourceUnreachableError, match="blob phase"):
            fetch(f"oci://{server.host}/slow/component:v1", opts)
        assert time.monotonic() - started < 1.5 + SLACK
    finally:
        server.close()


def test_stalled_dns_lookup_fails_within_the_deadline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A resolver that never answers cannot be run here (getaddrinfo reads the system's
    # resolv.conf), so this one test stands in a stalled getaddrinfo for it.
    import socket

    def stalled(*_args: object, **_kw: object) -> object:
        time.sleep(30)
        raise OSError("never")

    monkeypatch.setattr(socket, "getaddrinfo", stalled)
    started = time.monotonic()
    with pytest.raises(SourceUnreachableError) as err:
        fetch("oci://registry.example.com/a/b:v1", FetchOptions(total_timeout=1.0))
    assert time.monotonic() - started < 1.0 + SLACK
    assert "registry.example.com" in str(err.value) and "step: dns" in str(err.value)


def test_cli_timeout_flag_and_environment_bound_the_load(tmp_path: Path, home: Home) -> None:
    from tests.conftest import run_cli

    server = Slowloris("manifest", drip=0.3)
    try:
        for args, env in (
            (["--timeout", "2"], {}),
            ([], {"WASSETTE_FETCH_TIMEOUT": "2"}),
        ):
            started = time.monotonic()
            out = run_cli(
                home, "component", "load", *args, f"oci://{server.host}/slow/c:v1", env=env
            )
            elapsed = time.monotonic() - started
            assert out.returncode != 0
            assert "did not finish in time" in out.stderr and server.host in out.stderr
            assert "manifest phase" in out.stderr
            assert elapsed < 2 + SLACK + 5, elapsed  # + interpreter start-up
        bad = run_cli(home, "component", "load", "--timeout", "0", "oci://x.example/a:v1")
        assert bad.returncode != 0 and "--timeout" in bad.stderr
    finally:
        server.close()
