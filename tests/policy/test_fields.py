"""Value rules shared by policy files and grants: hosts, storage URIs, sizes, durations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.policy.strategies import network_permissions
from wassette.policy import fields
from wassette.policy.model import Access, NetworkPermission
from wassette.runtime.environment import network_rule


@pytest.mark.parametrize(
    ("entry", "host", "scheme", "port"),
    [
        ("api.example.com", "api.example.com", None, None),
        ("API.Example.COM", "api.example.com", None, None),
        ("api.example.com.", "api.example.com", None, None),
        ("*.example.com", "*.example.com", None, None),
        ("*.example.co.uk", "*.example.co.uk", None, None),
        ("https://api.other.com", "api.other.com", "https", None),
        ("HTTPS://api.other.com/", "api.other.com", "https", None),
        ("127.0.0.1:8080", "127.0.0.1", None, 8080),
        ("http://127.0.0.1:8080", "127.0.0.1", "http", 8080),
        ("[::1]:8080", "::1", None, 8080),
        ("http://[::1]:8080", "::1", "http", 8080),
        ("[0:0::1]", "::1", None, None),
        ("::1", "::1", None, None),
        ("localhost", "localhost", None, None),
        ("localhost:3000", "localhost", None, 3000),
        ("https://*.example.com:443", "*.example.com", "https", 443),
        ("my_host.internal", "my_host.internal", None, None),
        ("xn--bcher-kva.example", "xn--bcher-kva.example", None, None),
    ],
)
def test_network_host_accepted(entry: str, host: str, scheme: str | None, port: int | None) -> None:
    parsed = fields.parse_network_host(entry)
    assert parsed == NetworkPermission(host=host, scheme=scheme, port=port)
    rule = network_rule(parsed)
    assert (rule.host, rule.scheme, rule.port) == (host, scheme, port)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("", "empty"),
        ("*", "lone '*'"),
        ("*.com", "too broad"),
        ("*.localhost", "too broad"),
        ("*.*.example.com", "first label"),
        ("api.*.example.com", "first label"),
        ("*example.com", "first label"),
        ("*.10.0.0.1", "IP address"),
        ("api.example.com/path", "path"),
        ("https://api.example.com/v1", "path"),
        ("https://user:pw@api.example.com", "credentials"),
        ("api.example.com?x=1", "query"),
        ("api.example.com#frag", "query"),
        ("api example.com", "whitespace"),
        (" api.example.com", "whitespace"),
        ("api.example.com\n", "whitespace"),
        ("ftp://api.example.com", "http or https"),
        ("://api.example.com", "malformed scheme"),
        ("api.example.com:0", "port"),
        ("api.example.com:65536", "port"),
        ("api.example.com:http", "port"),
        ("api.example.com:", "port"),
        ("api.example.com:80:81", "IPv6"),
        ("[::1]:x", "port"),
        ("[::g]", "IPv6"),
        ("[fe80::1%eth0]", "zone"),
        ("https://::1", "brackets"),
        ("256.1.1.1", "IPv4"),
        ("1.2.3", "IPv4"),
        ("-bad.example.com", "host name"),
        ("bad-.example.com", "host name"),
        ("a..b.com", "host name"),
        ("a" * 64 + ".com", "host name"),
        (".".join(["a" * 60] * 5), "253"),
        ("bücher.example", "non-ASCII"),
        ("example.123", "neither"),
        (".", "no host"),
        ("https://", "no host"),
    ],
)
def test_network_host_refused(entry: str, reason: str) -> None:
    with pytest.raises(fields.FieldError) as caught:
        fields.parse_network_host(entry)
    assert reason in caught.value.reason


@given(network_permissions)
def test_network_entry_text_reads_back(permission: NetworkPermission) -> None:
    assert fields.parse_network_host(permission.entry) == permission


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("fs:///home/me/data", "/home/me/data"),
        ("fs:///home/me/data/", "/home/me/data"),
        ("fs:///home/me/data/**", "/home/me/data"),
        ("fs:///home/me/data/*", "/home/me/data"),
        ("fs:////home//me/./data", "/home/me/data"),
        ("fs:///", "/"),
        ("fs:///**", "/"),
        ("fs:///my dir/with spaces", "/my dir/with spaces"),
    ],
)
def test_storage_uri_accepted(uri: str, path: str) -> None:
    assert fields.parse_storage_uri(uri) == path


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("", "empty"),
        ("/home/me", "fs://"),
        ("file:///home/me", "fs://"),
        ("fs://home/me", "absolute"),
        ("fs://relative", "absolute"),
        ("fs:///home/../etc", "'..'"),
        ("fs:///home/me/**/x", "'*'"),
        ("fs:///home/*.txt", "'*'"),
        ("fs:///home\x00/x", "control"),
        ("fs:///home\n/x", "control"),
    ],
)
def test_storage_uri_refused(uri: str, reason: str) -> None:
    with pytest.raises(fields.FieldError) as caught:
        fields.parse_storage_uri(uri)
    assert reason in caught.value.reason


def test_access() -> None:
    assert fields.parse_access(["read"]) == {Access.READ}
    assert fields.parse_access(["write", "read", "read"]) == {Access.READ, Access.WRITE}
    for bad in ([], ["execute"], ["READ"], ["read,write"]):
        with pytest.raises(fields.FieldError):
            fields.parse_access(bad)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("512Mi", 512 << 20),
        ("1Gi", 1 << 30),
        ("64Ki", 64 << 10),
        ("2Ti", 2 << 40),
        ("1048576", 1 << 20),
        (1048576, 1 << 20),
        ("1.5Gi", 3 << 29),
        ("1k", 1000),
        ("1M", 1000**2),
        ("2G", 2 * 1000**3),
        ("1T", 1000**4),
        ("1024Ti", 1 << 50),
    ],
)
def test_memory_accepted(value: str | int, size: int) -> None:
    assert fields.parse_memory(value) == size


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0",
        0,
        -1,
        "-1Mi",
        "1.5",
        "1.0000001Ki",
        "512MB",
        "512 Mi",
        "Mi",
        "1Pi",
        "1025Ti",
        True,
        1.5,
        None,
        ["1Gi"],
        "0x10",
    ],
)
def test_memory_refused(value: object) -> None:
    with pytest.raises(fields.FieldError):
        fields.parse_memory(value)


@given(st.integers(1, 1 << 50))
def test_memory_format_reads_back(size: int) -> None:
    text = fields.format_memory(size)
    assert fields.parse_memory(text) == size
    if size % (1 << 20) == 0:
        assert not text.isdigit()  # a whole number of MiB is written with a unit


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30.0),
        ("500ms", 0.5),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        ("90", 90.0),
        (90, 90.0),
        (0.25, 0.25),
        ("1e2ms", 0.1),
        ("24h", 86400.0),
    ],
)
def test_timeout_accepted(value: str | float, seconds: float) -> None:
    assert fields.parse_timeout(value) == seconds


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0s",
        "0",
        0,
        -1,
        "-5s",
        "5 s",
        "5sec",
        "1d",
        "25h",
        "nan",
        "inf",
        float("nan"),
        float("inf"),
        True,
        None,
        "s",
        "5ms5",
    ],
)
def test_timeout_refused(value: object) -> None:
    with pytest.raises(fields.FieldError):
        fields.parse_timeout(value)


@given(
    st.one_of(
        st.integers(1, 86_400_000).map(lambda ms: ms / 1000),
        st.floats(min_value=1e-9, max_value=86400.0),
    )
)
def test_timeout_format_reads_back(seconds: float) -> None:
    assert fields.parse_timeout(fields.format_timeout(seconds)) == seconds


def test_timeout_format_is_readable() -> None:
    assert fields.format_timeout(30.0) == "30s"
    assert fields.format_timeout(0.5) == "500ms"
    assert fields.format_timeout(120.0) == "120s"


def test_env_key_and_value() -> None:
    assert fields.check_env_key("API_KEY") == "API_KEY"
    for bad in ("", "1ABC", "A-B", "A=B", "A B", "A\n"):
        with pytest.raises(fields.FieldError):
            fields.check_env_key(bad)
    with pytest.raises(fields.FieldError) as caught:
        fields.check_env_value("CANARY-nul\x00-123")
    assert "CANARY" not in str(caught.value)


@pytest.mark.parametrize(
    "entry",
    ["*.co.uk", "*.github.io", "*.s3.amazonaws.com", "https://*.com.au", "*.gov.uk:443"],
)
def test_wildcards_over_public_suffixes_are_refused(entry: str) -> None:
    from wassette.policy.fields import FieldError, parse_network_host

    with pytest.raises(FieldError, match="public suffix"):
        parse_network_host(entry)


@pytest.mark.parametrize(
    "entry", ["*.example.co.uk", "*.myorg.github.io", "*.example.com", "*.corp.internal"]
)
def test_wildcards_over_registrable_domains_are_accepted(entry: str) -> None:
    from wassette.policy.fields import parse_network_host

    assert parse_network_host(entry).host == entry
