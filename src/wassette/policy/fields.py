"""Checks and normal forms for the values inside a policy: storage URIs, network hosts, memory
sizes, timeouts and environment keys.

Shared by the file parser and the grant functions, so a value typed on the command line and one
written in a file obey the same rules. Each check raises :class:`FieldError` with a *reason*
only; the caller adds where the value was (field path, line, column). Reasons never quote the
value: a reason may end up in a message about a file that also holds secret values.

Network host decisions (documented here because they are ours, not Wassette's):

* accepted: ``api.example.com``, ``*.example.com`` (any subdomain, not the domain itself),
  ``https://api.example.com`` (scheme ``http`` or ``https`` restricts the entry),
  ``127.0.0.1:8080``, ``http://127.0.0.1:8080``, ``[::1]:8080``, a bare ``::1``; one trailing
  ``/`` after a scheme entry is tolerated (a pasted URL), and a trailing ``.`` of a host name
  is dropped. Host names are lowercased.
* refused: empty entries, whitespace or control characters, non-ASCII names (write the
  ``xn--`` punycode form), paths, queries, fragments, credentials, schemes other than
  http/https, ports outside 1-65535, a lone ``*``, a ``*`` anywhere but as the whole first
  label, wildcards over a single label (``*.com``, ``*.localhost``), wildcards over a public
  suffix (``*.co.uk``, ``*.github.io``, ``*.s3.amazonaws.com``: every name under them belongs
  to someone else; judged by the Public Suffix List snapshot bundled with the pinned
  ``publicsuffixlist`` package, never fetched), wildcards over IP addresses, IPv6 zone ids.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
from collections.abc import Iterable
from typing import Any

from wassette.errors import InvalidSecretKeyError
from wassette.ids import ENV_KEY_PATTERN, validate_secret_key
from wassette.policy.model import Access, NetworkPermission


class FieldError(ValueError):
    """A policy value is invalid. ``reason`` says why, without quoting the value."""

    def __init__(self, reason: str, *, fix: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


# --- storage -------------------------------------------------------------------------------

_CONTROL = r"[\x00-\x1f\x7f]"


def parse_storage_uri(uri: str) -> str:
    """Return the normalised absolute directory path of an ``fs://`` storage URI.

    ``fs:///data``, ``fs:///data/``, ``fs:///data/*`` and ``fs:///data/**`` all name the
    directory ``/data``. ``..`` components are refused rather than resolved: the host would
    resolve them through symlinks, which a lexical normalisation cannot know.
    """
    if not uri:
        raise FieldError("is empty", fix='write an absolute directory as "fs:///path/to/dir"')
    if re.search(_CONTROL, uri):
        raise FieldError("contains control characters")
    if not uri.startswith("fs://"):
        raise FieldError(
            "must start with fs:// followed by an absolute path",
            fix='write e.g. "fs:///home/me/data"',
        )
    path = uri[len("fs://") :]
    if not path.startswith("/"):
        raise FieldError(
            "the path after fs:// must be absolute (fs:// then /path, so three slashes)",
            fix='write e.g. "fs:///home/me/data"',
        )
    for suffix in ("/**", "/*"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise FieldError("must not contain '..' components", fix="write the resolved path")
    if any("*" in p for p in parts):
        raise FieldError("'*' is only allowed as a trailing /* or /** meaning the directory itself")
    return "/" + "/".join(parts)


def parse_access(items: Iterable[str]) -> frozenset[Access]:
    """The set of access modes named by ``items`` (each ``read`` or ``write``), non-empty."""
    modes: set[Access] = set()
    for item in items:
        try:
            modes.add(Access(item))
        except ValueError:
            raise FieldError(
                "access modes are 'read' and 'write'", fix="use read, write or read,write"
            ) from None
    if not modes:
        raise FieldError("must name at least one access mode", fix="use read, write or both")
    return frozenset(modes)


# --- network -------------------------------------------------------------------------------

# Patterns as text: re compiles (and caches) one on its first use, not every one at import.
_SCHEME = r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)"  # with re.DOTALL
_PORT = r"[0-9]{1,5}"
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_BRACKETED = r"\[([^\]]*)\](?::(.*))?"  # with re.DOTALL
_IPV4ISH = r"[0-9.]+"

_HOST_FIX = 'write e.g. "api.example.com", "*.example.com", "https://api.example.com:8443"'


def _port(text: str) -> int:
    if not re.fullmatch(_PORT, text) or not 1 <= int(text) <= 65535:
        raise FieldError("the port must be a number from 1 to 65535", fix=_HOST_FIX)
    return int(text)


def _dns_name(name: str) -> str:
    if len(name) > 253:
        raise FieldError("the host name is longer than 253 characters")
    labels = name.split(".")
    for label in labels:
        if not re.fullmatch(_LABEL, label):
            raise FieldError(
                "is not a valid host name (labels of 1-63 letters, digits, '-' or '_')",
                fix=_HOST_FIX,
            )
    if labels[-1].isdigit():
        raise FieldError("is neither a valid host name nor a valid IPv4 address", fix=_HOST_FIX)
    return name


def _split_scheme(entry: str) -> tuple[str | None, str]:
    if not entry:
        raise FieldError("is empty", fix=_HOST_FIX)
    if any(c.isspace() for c in entry) or re.search(_CONTROL, entry):
        raise FieldError("contains whitespace or control characters", fix=_HOST_FIX)
    if not entry.isascii():
        raise FieldError(
            "contains non-ASCII characters", fix="write an international name in xn-- form"
        )
    m = re.fullmatch(_SCHEME, entry, re.DOTALL)
    if not m:
        if "://" in entry:
            raise FieldError("has a malformed scheme", fix=_HOST_FIX)
        return None, entry
    scheme = m.group(1).lower()
    if scheme not in ("http", "https"):
        raise FieldError("the scheme must be http or https", fix=_HOST_FIX)
    rest = m.group(2)
    return scheme, rest[:-1] if rest.endswith("/") else rest


def _wildcard(host: str) -> str:
    base = host[2:]
    if "*" in base:
        raise FieldError("'*' is only allowed as the whole first label, as in *.example.com")
    if re.fullmatch(_IPV4ISH, base):
        raise FieldError("a wildcard cannot cover an IP address")
    _dns_name(base)
    if "." not in base:
        raise FieldError(
            "the wildcard is too broad: it must cover a domain of at least two labels",
            fix="write e.g. *.example.com rather than *.com",
        )
    if _public_suffixes().is_public(base):
        raise FieldError(
            "the wildcard is too broad: it covers a public suffix, whose names belong to "
            "unrelated owners",
            fix="grant the registrable domain (e.g. *.example.co.uk) or the exact hosts",
        )
    return host


@functools.cache
def _public_suffixes() -> Any:
    """The Public Suffix List, from the pinned package's bundled snapshot (parsed once)."""
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def _plain_host(host: str) -> str:
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host:
        raise FieldError("has no host name", fix=_HOST_FIX)
    if host == "*":
        raise FieldError("a lone '*' would allow every host", fix="list the hosts instead")
    if host.startswith("*."):
        return _wildcard(host)
    if "*" in host:
        raise FieldError("'*' is only allowed as the whole first label, as in *.example.com")
    if re.fullmatch(_IPV4ISH, host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise FieldError("is not a valid IPv4 address", fix=_HOST_FIX) from None
        return host
    return _dns_name(host)


def parse_network_host(entry: str) -> NetworkPermission:
    """Parse one ``network.allow[].host`` entry into its normal form (see the module doc)."""
    scheme, rest = _split_scheme(entry)
    if any(c in rest for c in "/?#@\\"):
        raise FieldError(
            "must be a host with an optional scheme and port, not a URL with a path, query or "
            "credentials",
            fix=_HOST_FIX,
        )
    bracketed = re.fullmatch(_BRACKETED, rest, re.DOTALL)
    if bracketed:
        port = _port(bracketed.group(2)) if bracketed.group(2) is not None else None
        return NetworkPermission(host=_ipv6(bracketed.group(1)), scheme=scheme, port=port)
    if rest.count(":") >= 2:
        if scheme is not None:
            raise FieldError("an IPv6 address with a scheme must be in brackets, as [::1]")
        return NetworkPermission(host=_ipv6(rest))
    port = None
    if ":" in rest:
        rest, port_text = rest.split(":", 1)
        port = _port(port_text)
    return NetworkPermission(host=_plain_host(rest), scheme=scheme, port=port)


def _ipv6(text: str) -> str:
    if "%" in text:
        raise FieldError("IPv6 zone ids are not supported")
    try:
        return ipaddress.IPv6Address(text).compressed
    except ValueError:
        raise FieldError("is not a valid IPv6 address", fix="write e.g. [::1]:8080") from None


# --- resources -----------------------------------------------------------------------------

MAX_MEMORY_BYTES = 1 << 50  # 1024Ti: anything larger is a typo
_MEMORY = r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?"
_BINARY_UNITS = (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10))
_MEMORY_UNITS = dict(_BINARY_UNITS) | {
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
}
_MEMORY_FIX = 'write e.g. "512Mi", "1Gi" or a number of bytes'


def parse_memory(value: object) -> int:
    """Bytes named by ``value``: an integer, or a string like ``512Mi``, ``1Gi``, ``1048576``.

    Binary suffixes Ki/Mi/Gi/Ti; decimal k/K/M/G/T as in Kubernetes. Must be 1 byte to 1024Ti.
    """
    if isinstance(value, bool):
        raise FieldError("must be a size such as 512Mi", fix=_MEMORY_FIX)
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        m = re.fullmatch(_MEMORY, value)
        if not m:
            raise FieldError(
                "is not a size (a number, optionally followed by Ki, Mi, Gi or Ti)",
                fix=_MEMORY_FIX,
            )
        number, unit = m.group(1), m.group(2) or ""
        multiplier = _MEMORY_UNITS.get(unit, 1)
        if "." in number:
            whole, frac = number.split(".")
            numerator = int(whole + frac) * multiplier
            denominator = 10 ** len(frac)
            if numerator % denominator:
                raise FieldError("is not a whole number of bytes", fix=_MEMORY_FIX)
            size = numerator // denominator
        else:
            size = int(number) * multiplier
    else:
        raise FieldError("must be a size such as 512Mi", fix=_MEMORY_FIX)
    if size < 1:
        raise FieldError("must be at least 1 byte", fix=_MEMORY_FIX)
    if size > MAX_MEMORY_BYTES:
        raise FieldError("is larger than 1024Ti", fix=_MEMORY_FIX)
    return size


def format_memory(size: int) -> str:
    """The shortest exact spelling of ``size`` bytes (``512Mi``, ``1Gi``, ``1000``)."""
    for unit, multiplier in _BINARY_UNITS:
        if size % multiplier == 0:
            return f"{size // multiplier}{unit}"
    return str(size)


MAX_TIMEOUT_SECONDS = 86400.0  # a tool call longer than a day is a mistake
_TIMEOUT = r"([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)(ms|s|m|h)?"
_TIMEOUT_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_TIMEOUT_FIX = 'write e.g. "30s", "500ms" or "2m"'


def parse_timeout(value: object) -> float:
    """Seconds named by ``value``: a number of seconds, or ``500ms``, ``30s``, ``2m``, ``1h``."""
    if isinstance(value, bool):
        raise FieldError("must be a duration such as 30s", fix=_TIMEOUT_FIX)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        m = re.fullmatch(_TIMEOUT, value)
        if not m:
            raise FieldError(
                "is not a duration (a number followed by ms, s, m or h)", fix=_TIMEOUT_FIX
            )
        number = float(m.group(1))
        unit = m.group(2) or "s"
        # Divide for milliseconds so that format_timeout's "<n>ms" reads back exactly.
        seconds = number / 1000 if unit == "ms" else number * _TIMEOUT_UNITS[unit]
    else:
        raise FieldError("must be a duration such as 30s", fix=_TIMEOUT_FIX)
    if not math.isfinite(seconds) or seconds <= 0:
        raise FieldError("must be a positive duration", fix=_TIMEOUT_FIX)
    if seconds > MAX_TIMEOUT_SECONDS:
        raise FieldError("must be at most 24h", fix=_TIMEOUT_FIX)
    return seconds


def format_timeout(seconds: float) -> str:
    """A spelling of ``seconds`` that :func:`parse_timeout` reads back exactly."""
    if seconds.is_integer():
        return f"{int(seconds)}s"
    millis = round(seconds * 1000)
    if millis / 1000 == seconds:
        return f"{millis}ms"
    return f"{seconds!r}s"


MAX_INVOCATIONS = 100_000
_INVOCATIONS_FIX = "write a whole number such as 100 (1 = a fresh instance for every call)"


def parse_max_invocations(value: object) -> int:
    """Calls one warm instance may serve (``limits.max_invocations``): 1 .. 100000."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError("must be a whole number", fix=_INVOCATIONS_FIX)
    if not 1 <= value <= MAX_INVOCATIONS:
        raise FieldError(f"must be from 1 to {MAX_INVOCATIONS}", fix=_INVOCATIONS_FIX)
    return value


# --- environment ---------------------------------------------------------------------------


def check_env_key(key: str) -> str:
    """Return ``key`` if it is a valid environment variable name."""
    try:
        return validate_secret_key(key)
    except InvalidSecretKeyError:
        raise FieldError(
            "is not a valid environment variable name",
            fix=f"use a key matching {ENV_KEY_PATTERN}, e.g. API_KEY",
        ) from None


def check_env_value(value: str) -> str:
    """Return ``value`` if the guest can receive it (no NUL characters)."""
    if "\x00" in value:
        raise FieldError("contains a NUL character, which no environment variable can hold")
    return value
