"""Import/export formats: exact round trips for any string, errors that never show content."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import CANARY
from wassette.errors import WassetteError
from wassette.secretstore import transfer

keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60
)


@settings(max_examples=300, deadline=None)
@given(items=st.dictionaries(keys, values, max_size=6), fmt=st.sampled_from(transfer.FORMATS))
def test_every_format_round_trips_any_string(items: dict[str, str], fmt: str) -> None:
    text = transfer.render(items, fmt)
    assert transfer.parse(text.encode("utf-8"), fmt, "f") == items


@settings(max_examples=200, deadline=None)
@given(value=values)
def test_env_quote_is_one_line_and_reads_back(value: str) -> None:
    quoted = transfer.env_quote(value)
    assert "\n" not in quoted and "\r" not in quoted
    assert transfer.parse_env(f"K={quoted}\n", "f") == {"K": value}


def test_env_format_rules() -> None:
    text = (
        "# comment\n\n"
        "export A=plain value  \n"
        "B='single $quoted \\n'\n"
        'C="tab\\there \\$HOME \\u00e9"  # trailing comment\n'
        "D=\n"
        "E=a#b\r\n"
    )
    assert transfer.parse_env(text, "f") == {
        "A": "plain value",
        "B": "single $quoted \\n",
        "C": "tab\there $HOME é",
        "D": "",
        "E": "a#b",
    }


@pytest.mark.parametrize(
    ("fmt", "text", "words"),
    [
        ("env", f"A=1\n{CANARY}\n", "line 2"),
        ("env", f'A="{CANARY}\n', "no closing quote"),
        ("env", f'A="{CANARY}" tail-{CANARY}\n', "after the closing quote"),
        ("env", f"1BAD={CANARY}\n", "not a valid key"),
        ("env", f'A="\\q{CANARY}"\n', "unknown backslash escape"),
        ("env", f"A=1\nA={CANARY}\n", "duplicate key"),
        ("json", f'{{"A": "{CANARY}", }}', "invalid JSON"),
        ("json", f'{{"A": ["{CANARY}"]}}', "not a string"),
        ("json", f'["{CANARY}"]', "must be an object"),
        ("json", f'{{"bad key": "{CANARY}"}}', "not a valid name"),
        ("yaml", f'A: "{CANARY}\n', "not valid YAML"),
        ("yaml", f"A:\n  nested: {CANARY}\n", "nested"),
    ],
)
def test_malformed_input_is_refused_without_echo(fmt: str, text: str, words: str) -> None:
    with pytest.raises(WassetteError) as info:
        transfer.parse(text.encode(), fmt, "input.file")
    assert words in str(info.value)
    assert CANARY not in str(info.value)


def test_json_accepts_the_list_show_values_output() -> None:
    doc = {"status": "success", "component_id": "c", "secrets": {"A": "1"}}
    assert transfer.parse(json.dumps(doc).encode(), "json", "f") == {"A": "1"}


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ('{"API_KEY": "a", "API_KEY": "CANARY-second"}', "json"),
        ('{"status": "success", "secrets": {"K": "1", "K": "2"}}', "json"),
        ("API_KEY=a\nAPI_KEY=b\n", "env"),
        ("API_KEY: a\nAPI_KEY: b\n", "yaml"),
    ],
    ids=["json", "json-list-output", "env", "yaml"],
)
def test_duplicate_keys_are_refused_in_every_format(text: str, fmt: str) -> None:
    with pytest.raises(WassetteError, match=r"(?i)duplicate") as err:
        transfer.parse(text.encode(), fmt, "in." + fmt)
    assert "CANARY" not in str(err.value)


def test_json_duplicate_of_an_invalid_key_does_not_echo_it() -> None:
    with pytest.raises(WassetteError, match="duplicate key a key") as err:
        transfer.parse(b'{"CANARY-not a key": "1", "CANARY-not a key": "2"}', "json", "x.json")
    assert "CANARY" not in str(err.value)
