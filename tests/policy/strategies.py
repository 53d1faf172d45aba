"""Hypothesis strategies for policies (shared by the parser and store tests)."""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

from wassette.policy import fields
from wassette.policy.model import (
    Access,
    EnvironmentPermission,
    NetworkPermission,
    Policy,
    StoragePermission,
)

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_dns = (
    st.lists(_label, min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda h: not h.split(".")[-1].isdigit())
)


def _accepted(host: str) -> bool:
    # A wildcard covering a public suffix (``*.0.fk``) is refused by the writer.
    try:
        fields.parse_network_host(host)
    except fields.FieldError:
        return False
    return True


_wildcard = (
    st.lists(_label, min_size=2, max_size=3)
    .map(lambda ls: "*." + ".".join(ls))
    .filter(lambda h: not h.split(".")[-1].isdigit())
    .filter(_accepted)
)
_ipv4 = st.ip_addresses(v=4).map(str)
_ipv6 = st.ip_addresses(v=6).map(lambda a: ipaddress.IPv6Address(a).compressed)

network_permissions = st.builds(
    NetworkPermission,
    host=st.one_of(_dns, _wildcard, _ipv4, _ipv6),
    scheme=st.sampled_from([None, "http", "https"]),
    port=st.one_of(st.none(), st.integers(1, 65535)),
)

# Path components: anything printable except '/', with '.', '..', '*' patterns avoided.
_component = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/*"),
    min_size=1,
    max_size=12,
).filter(lambda c: c not in (".", ".."))
storage_paths = st.lists(_component, min_size=1, max_size=4).map(lambda cs: "/" + "/".join(cs))
_access = st.sampled_from(
    [frozenset({Access.READ}), frozenset({Access.WRITE}), frozenset({Access.READ, Access.WRITE})]
)

env_keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
# Values are anything a process environment can hold: any text without NUL (and without lone
# surrogates, which no UTF-8 file can carry).
env_values = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """Arbitrary valid, normalised policies (no duplicate directories, hosts or keys)."""
    paths = draw(st.lists(storage_paths, max_size=4, unique=True))
    storage = tuple(StoragePermission(path=p, access=draw(_access)) for p in paths)
    network = tuple(draw(st.lists(network_permissions, max_size=4, unique=True)))
    keys = draw(st.lists(env_keys, max_size=5, unique=True))
    environment = tuple(
        EnvironmentPermission(
            key=k,
            value=draw(st.one_of(st.none(), env_values)),
            required=draw(st.booleans()),
        )
        for k in keys
    )
    description = draw(st.one_of(st.none(), env_values))
    memory = draw(st.one_of(st.none(), st.integers(1, 1 << 50)))
    timeout = draw(
        st.one_of(
            st.none(),
            st.integers(1, 86_400_000).map(lambda ms: ms / 1000),
            st.floats(min_value=1e-6, max_value=86400.0, allow_nan=False),
        )
    )
    return Policy(
        description=description,
        storage=storage,
        network=network,
        environment=environment,
        memory_limit_bytes=memory,
        timeout_seconds=timeout,
    )
