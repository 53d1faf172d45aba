"""The plain-form policy reader (no YAML library) agrees with ruamel on everything it takes.

``read_plain_document`` exists for start-up time (a one-shot ``tool invoke`` never imports
ruamel for a policy we wrote). It may decline any text (then ruamel reads it); what it must
never do is read a text differently from ruamel, or make ``parse_policy`` answer differently
from the full parser: a policy file can come from an untrusted publisher, and a misread is a
permission nobody granted.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tests.policy.strategies import policies
from tests.policy.test_fuzz import BASE_LINES, YAML_BITS
from wassette.errors import PolicyError
from wassette.policy.fields import FieldError
from wassette.policy.model import Policy
from wassette.policy.parser import document_to_policy, dump_policy, load_document, parse_policy
from wassette.policy.plainform import KEYS, MAX_DEPTH, read_plain_document


def _typed(node: Any) -> Any:
    """A loaded document with every value tagged by its type (True == 1 in Python)."""
    if isinstance(node, dict):
        return ("map", [(_typed(k), _typed(v)) for k, v in node.items()])
    if isinstance(node, list):
        return ("seq", [_typed(item) for item in node])
    for kind in (bool, int, float, str):
        if isinstance(node, kind):
            return (kind.__name__, kind(node))
    if node is None:
        return ("null",)
    return ("other", type(node).__name__, repr(node))


def _ruamel(text: str) -> Any:
    try:
        return _typed(load_document(text))
    except PolicyError as exc:
        return ("error", exc.message)


def _answer(read: Any) -> Any:
    try:
        return read()
    except PolicyError as exc:
        return ("error", exc.message, exc.why, exc.fix)


def _full(text: str) -> Any:
    return _answer(lambda: document_to_policy(load_document(text), warnings=False))


def _fast(text: str) -> Any:
    return _answer(lambda: parse_policy(text, warnings=False))


def _agrees(text: str) -> None:
    plain = read_plain_document(text)
    if plain is not None:
        assert _typed(plain) == _ruamel(text), text
    assert _fast(text) == _full(text), text


def _dump(policy: Policy) -> str:
    try:
        return dump_policy(policy)
    except FieldError:
        # The strategy can draw a wildcard the writer refuses (one covering a public suffix).
        assume(False)
        raise


# --- what we write --------------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_every_policy_we_write_reads_the_same_with_or_without_ruamel(policy: Policy) -> None:
    text = _dump(policy)
    _agrees(text)
    assert parse_policy(text) == policy


_printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(policies(), _printable)
def test_what_we_write_is_read_without_ruamel(policy: Policy, description: str) -> None:
    # dump_policy escapes some characters in ways the plain reader leaves to ruamel (\N, \e,
    # \_ ...); with printable text in every field the plain form must be taken.
    plain_policy = Policy(
        description=description,
        network=policy.network,
        environment=tuple(
            e.__class__(key=e.key, value=None, required=e.required) for e in policy.environment
        ),
        memory_limit_bytes=policy.memory_limit_bytes,
        timeout_seconds=policy.timeout_seconds,
    )
    text = _dump(plain_policy)
    assert read_plain_document(text) is not None, text
    assert parse_policy(text) == plain_policy


def test_the_file_a_grant_writes_is_read_without_ruamel(tmp_path: Any) -> None:
    # A fresh interpreter: grant (ruamel writes), then a new store loads with ruamel unloaded.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from wassette.policy.store import PolicyStore\n"
        f"d = Path({str(tmp_path)!r})\n"
        "s = PolicyStore(d)\n"
        "s.grant_environment_variable('c', 'API_KEY')\n"
        "s.grant_network('c', 'api.example.com')\n"
        "for m in [m for m in sys.modules if m.startswith('ruamel')]: del sys.modules[m]\n"
        "p = PolicyStore(d).load('c')\n"
        "assert [e.key for e in p.environment] == ['API_KEY'], p\n"
        "assert [n.entry for n in p.network] == ['api.example.com'], p\n"
        "assert not [m for m in sys.modules if m.startswith('ruamel')], 'ruamel loaded'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr


# --- near misses, odd YAML, noise -----------------------------------------------------------

_keys = st.sampled_from(sorted(KEYS | {"Key", "true", "null", "other", "k e y"}))
_values = st.sampled_from(
    [
        '"x"',
        '"fs:///tmp/**"',
        '"API_KEY"',
        '"1.0"',
        "1.0",
        "1",
        "01",
        "0x10",
        "1_000",
        "-1",
        "+1",
        "1e3",
        ".inf",
        "true",
        "True",
        "TRUE",
        "yes",
        "on",
        "false",
        "null",
        "~",
        "",
        " ",
        "x",
        '"x" # c',
        "'x'",
        '"a\\"b"',
        '"a\\\\"',
        '"\\x41\\u00e9\\U0001F600"',
        '"\\ud800"',
        '"\\e\\0\\N\\_\\L\\P\\/\\ "',
        '"a',
        '"a"b"',
        '["read", "write"]',
        '["read","write"]',
        "[read]",
        "[]",
        "[ ]",
        '["a", ]',
        "{}",
        '{"a": "b"}',
        "&a x",
        "*a",
        '!!str "x"',
        "|",
        ">",
        '"é"',
        '"\u2028"',
        '"\x85"',
        '"\t"',
    ]
)
_line = st.one_of(
    st.sampled_from(BASE_LINES),
    st.builds(
        lambda indent, dash, key, sep, value: " " * indent + dash + key + sep + value,
        st.integers(0, 9),
        st.sampled_from(["", "", "- ", "-  ", "-"]),
        _keys,
        st.sampled_from([":", ": ", ":  ", " :", ":\t"]),
        _values,
    ),
    st.builds(lambda i, v: " " * i + "- " + v, st.integers(0, 9), _values),
    st.builds(lambda i, c: " " * i + "#" + c, st.integers(0, 9), st.text(max_size=5)),
    st.sampled_from(["", " ", "---", "...", "%YAML 1.1", "? version", "\ufeff", "\t", "- "]),
    st.sampled_from(YAML_BITS),
    st.text(max_size=10),
)


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_line, min_size=1, max_size=14), st.sampled_from(["\n", "", "\r\n"]))
@example(["version:", '  "1.0"'], "\n")
@example(["permissions:", "  environment:", "    allow:", '    - key: "A"'], "\n")
@example(["permissions:", "  environment:", "    allow:", '      - key: "A"', "     x"], "")
@example(["version: 1", "version: 1"], "\n")
def test_the_plain_reader_never_disagrees_with_ruamel(lines: list[str], end: str) -> None:
    _agrees("\n".join(lines) + end)


# Documents shaped like ours (mappings of known keys, sequences of mappings, the scalar forms
# above), laid out with varied indentation, blank and comment lines: most are the plain form,
# the rest near misses. Whatever is read without ruamel must be read as ruamel reads it.
_plain_values = st.sampled_from(
    ['"x"', '"API_KEY"', '"1.0"', '""', '"a\\"b"', '"\\x41\\u00e9"', '"é"', "true",
     "false", "0", "1", "512", '["read", "write"]', "[]", '["a"]']
)  # fmt: skip
_trees = st.recursive(
    st.one_of(_plain_values, _plain_values, _plain_values, _values),
    lambda children: st.one_of(
        st.lists(st.tuples(_keys, children), min_size=1, max_size=4).map(lambda kv: ("map", kv)),
        st.lists(
            st.lists(st.tuples(_keys, children), min_size=1, max_size=3), min_size=1, max_size=3
        ).map(lambda items: ("seq", items)),
    ),
    max_leaves=12,
)


@st.composite
def _layouts(draw: st.DrawFn) -> str:
    def mapping(pairs: list[tuple[str, Any]], indent: int, first: str = "") -> list[str]:
        out: list[str] = []
        for n, (key, value) in enumerate(pairs):
            lead = first if n == 0 and first else " " * indent
            if draw(st.integers(0, 9)) == 0:
                out.append(" " * draw(st.integers(0, 8)) + draw(st.sampled_from(["", "# c"])))
            if isinstance(value, str):
                out.append(f"{lead}{key}: {value}")
            else:
                out.append(f"{lead}{key}:")
                out.extend(block(value, indent + draw(st.sampled_from([1, 2, 2, 2, 3, 4, 0]))))
        return out

    def block(node: tuple[str, Any], indent: int) -> list[str]:
        kind, body = node
        if kind == "map":
            return mapping(body, indent)
        out: list[str] = []
        for pairs in body:
            gap = draw(st.sampled_from([" ", " ", " ", "  "]))
            out.extend(mapping(pairs, indent + 1 + len(gap), " " * indent + "-" + gap))
        return out

    tree = draw(_trees)
    top = tree if isinstance(tree, tuple) and tree[0] == "map" else ("map", [("version", tree)])
    return "\n".join(block(top, 0)) + "\n"


@settings(max_examples=2500, suppress_health_check=[HealthCheck.too_slow])
@given(_layouts())
def test_documents_laid_out_many_ways_agree(text: str) -> None:
    _agrees(text)


# Lines of a real policy, shuffled in place, re-indented or cut: what stays plain must agree.
_edit = st.tuples(st.integers(0, len(BASE_LINES) - 1), st.integers(-3, 3), st.booleans())


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_edit, max_size=5), st.integers(0, len(BASE_LINES)))
def test_edited_policies_agree(edits: list[tuple[int, int, bool]], cut: int) -> None:
    lines = [line for line in BASE_LINES if "LOG" not in line and "CANARY" not in line]
    for at, shift, drop in edits:
        index = at % len(lines)
        if drop:
            del lines[index]
            if not lines:
                break
            continue
        line = lines[index]
        stripped = line.lstrip(" ")
        lines[index] = " " * max(0, len(line) - len(stripped) + shift) + stripped
    _agrees("\n".join(lines[:cut]) + "\n")


# --- hostile and odd files: declined, so the full parser decides ------------------------------

HOSTILE = [
    # A sequence at its key's indentation (valid YAML; ours never writes it).
    'permissions:\n  environment:\n    allow:\n    - key: "A"\n',
    # An anchor and an alias: the same text means two grants.
    'permissions:\n  network:\n    allow:\n      - &h host: "a.example.com"\n',
    # Tags, flow mappings, block scalars, directives, document markers.
    'version: !!str "1.0"\n',
    'permissions: {network: {allow: [{host: "a.example.com"}]}}\n',
    "description: |\n  text\n",
    '%YAML 1.1\n---\nversion: "1.0"\n',
    '---\nversion: "1.0"\n',
    'version: "1.0"\n...\n',
    # A trailing comment, a tab, a carriage return, a BOM, odd line breaks.
    'version: "1.0" # c\n',
    'version:\t"1.0"\n',
    'version: "1.0"\r\n',
    '\ufeffversion: "1.0"\n',
    'description: "a\x85b"\n',
    'description: "a\u2028b"\n',
    # Unquoted strings, YAML 1.1 booleans, odd numbers, null spelled out.
    "version: 1.0\n",
    "permissions:\n  environment:\n    allow:\n      - key: A\n        required: yes\n",
    "permissions:\n  resources:\n    limits:\n      memory: 0x10\n",
    "permissions:\n  resources:\n    limits:\n      memory: 010\n",
    "description: null\n",
    "description: ~\n",
    # Duplicates, unknown keys, keys of other types.
    'version: "1.0"\nversion: "1"\n',
    'Version: "1.0"\n',
    'true: "1.0"\n',
    # Escapes the reader does not decode; a quoted scalar over two lines.
    'description: "\\e"\n',
    'description: "\\ud800"\n',
    'description: "a\n  b"\n',
    # Indentation the writer never produces.
    '  version: "1.0"\n',
    'permissions:\n  environment:\n    allow:\n      -  key: "A"\n',
    'permissions:\n  environment:\n      allow:\n    - key: "A"\n',
    'permissions:\n  environment:\n    allow:\n      - key: "A"\n       value: "x"\n',
    # Empty documents (ruamel: null) and a list at the top.
    "",
    "# only a comment\n",
    '- key: "A"\n',
]


@pytest.mark.parametrize("text", HOSTILE)
def test_odd_and_hostile_files_are_declined(text: str) -> None:
    assert read_plain_document(text) is None, text
    assert _fast(text) == _full(text)


def test_nesting_beyond_the_limit_is_declined() -> None:
    deep = "".join("  " * i + "permissions:\n" for i in range(MAX_DEPTH + 2))
    assert read_plain_document(deep) is None
    assert read_plain_document(b"\xff\xfe") is None
    assert read_plain_document("description: " + '"' + "x" * (1 << 20) + '"\n') is None


def test_errors_and_warnings_still_name_the_line() -> None:
    # Plain-form files the validator refuses or warns about go through ruamel: the messages
    # carry the line and column only the parser knows, exactly as before.
    bad = 'version: "1.0"\npermissions:\n  network:\n    allow:\n      - host: "a b"\n'
    assert read_plain_document(bad) is not None
    with pytest.raises(PolicyError) as caught:
        parse_policy(bad)
    assert "(line 5, column 15)" in (caught.value.why or "")


def test_unenforced_fields_still_warn_with_the_line(caplog: pytest.LogCaptureFixture) -> None:
    text = 'permissions:\n  network:\n    allow:\n      - cidr: "10.0.0.0/8"\n'
    assert read_plain_document(text) is not None
    with caplog.at_level(logging.WARNING, logger="wassette"):
        policy = parse_policy(text)
    assert policy.network == ()
    assert "permissions.network.allow[0].cidr (line 4)" in caplog.text
