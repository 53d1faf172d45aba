"""Injected values never survive redaction; short values and placeholders are left alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wassette.runtime.capabilities import Capabilities
from wassette.runtime.redaction import MIN_LENGTH, Redactor, redactor_for

# Values from an alphabet that cannot occur in a placeholder (no capitals, brackets or colon),
# so "the value does not occur in the output" is exactly the property.
values = st.text(alphabet="abcdefgh0123456789-_ .", min_size=MIN_LENGTH, max_size=30)
keys = st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True)


@given(
    st.dictionaries(keys, values, min_size=1, max_size=5),
    st.lists(st.text(alphabet="abcxyz \n", max_size=10), max_size=8),
)
def test_no_injected_value_survives(env: dict[str, str], filler: list[str]) -> None:
    redactor = Redactor(env.items())
    parts = list(env.values()) * 2
    text = "".join(f + p for f, p in zip(filler + [""] * len(parts), parts, strict=False))
    out = redactor.text(text)
    for value in env.values():
        assert value not in out


def test_placeholders_name_the_key_and_are_not_rewritten() -> None:
    redactor = Redactor([("API_KEY", "sk_live_123456"), ("B", "REDACTED")])
    assert redactor.text("a sk_live_123456 b") == "a [REDACTED:API_KEY] b"
    assert redactor.text("REDACTED") == "[REDACTED:B]"
    assert redactor.text("x sk_live_123456") == "x [REDACTED:API_KEY]"


def test_longest_value_wins_and_short_values_are_kept() -> None:
    redactor = Redactor([("SHORT", "abc"), ("A", "secret"), ("B", "secret-longer")])
    assert redactor.text("secret-longer secret abc") == "[REDACTED:B] [REDACTED:A] abc"


def test_json_values_and_keys_are_redacted() -> None:
    redactor = Redactor([("T", "tok-123456")])
    data = {"tok-123456": ["x tok-123456", 5, None, {"k": "tok-123456"}]}
    assert redactor.json(data) == {
        "[REDACTED:T]": ["x [REDACTED:T]", 5, None, {"k": "[REDACTED:T]"}]
    }


def test_capabilities_opt_out_and_cache() -> None:
    caps = Capabilities(env=(("A", "aaaaaaaa"), ("B", "bbbbbbbb")), redact_keys=frozenset({"A"}))
    redactor = redactor_for(caps.redaction_pairs())
    assert redactor.text("aaaaaaaa bbbbbbbb") == "[REDACTED:A] bbbbbbbb"
    assert redactor_for(caps.redaction_pairs()) is redactor
    assert not Redactor([])
