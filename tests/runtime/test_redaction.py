"""Injected values never survive redaction; short values and placeholders are left alone."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.componentbuild import FIXTURES
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


# --- every covered form, without a component (the leak suite does it through one) -------------

_FORMS_PATH = FIXTURES / "leaker" / "forms.py"
_spec = importlib.util.spec_from_file_location("leaker_forms_unit", _FORMS_PATH)
assert _spec is not None and _spec.loader is not None
_forms_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_forms_module)
FORMS: dict[str, Callable[[str], str]] = _forms_module.FORMS
CASE_FORMS = {"upper", "lower", "swapcase"}

_odd = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00")
secret_values = st.text(
    _odd | st.sampled_from(list("\"'\\/%&<>+ \n\tAbZz09éÖ€😀")), min_size=8, max_size=30
).filter(lambda v: len(set(v)) >= 4)


def _core_windows(form: str, value: str, k: int = 4) -> set[str]:
    enc = FORMS[form](value)
    # Quotes and backslashes are kept: they decide the quoting of the context (repr picks
    # double quotes for a value holding a single one), which is not part of the secret.
    filler = "".join(c if c in "\"'\\" else "Z" for c in value)
    if form in {"base64", "base64url", "basic-auth"}:
        filler = value[0] + filler[1:-1] + value[-1]  # the boundary characters are context
    dummy = FORMS[form](filler)
    context = {dummy[i : i + k] for i in range(len(dummy) - k + 1)}
    return {enc[i : i + k] for i in range(len(enc) - k + 1)} - context


@settings(max_examples=300, deadline=None)
@given(secret_values, st.sampled_from(sorted(FORMS)), st.text(max_size=20), st.text(max_size=20))
def test_every_form_of_any_value_is_caught(value: str, form: str, before: str, after: str) -> None:
    if form in CASE_FORMS and any(len(c.upper()) != 1 or len(c.lower()) != 1 for c in value):
        return  # multi-character case mappings ("ß" -> "SS") are documented as not covered
    redactor = Redactor([("K", value)])
    out = re.sub(r"\[REDACTED:K\]", "\0", redactor.text(before + FORMS[form](value) + after))
    assert not {w for w in _core_windows(form, value) if w in out}, (form, out)


@given(secret_values, st.integers(min_value=0, max_value=200))
def test_tail_never_starts_with_a_fragment(value: str, cut: int) -> None:
    redactor = Redactor([("K", value)])
    text = "a" * 50 + json.dumps({"t": value}, ensure_ascii=False) + "b" * 50
    cut = min(cut, len(text))
    out = redactor.tail(text, cut)
    whole = redactor.text(text)
    # The tail is a suffix of the whole redacted text: nothing the full text hides shows up.
    assert whole.endswith(out)
    assert value not in out


def test_overlapping_values_leave_no_fragment() -> None:
    redactor = Redactor([("A", "abcdefgh"), ("B", "efghijklmn")])
    assert redactor.text("xx abcdefghijklmn yy") == "xx [REDACTED:B] yy"
    assert redactor.text("aaaaaaaaaaa") == "aaaaaaaaaaa"
    assert Redactor([("R", "aaaaaa")]).text("aaaaaaaaa!") == "[REDACTED:R]!"


def test_byte_lists_in_json_become_the_placeholder_bytes() -> None:
    redactor = Redactor([("T", "tok-123456")])
    data = {"raw": list(b"<tok-123456>"), "n": [1, 2, 300]}
    out = redactor.json(data)
    assert bytes(out["raw"]) == b"<[REDACTED:T]>" and out["n"] == [1, 2, 300]


def test_hosts_are_redacted_in_any_case_even_when_short() -> None:
    redactor = Redactor([("S", "AbCd12")])
    assert redactor.host("abcd12.evil.example") == "[REDACTED:S].evil.example"
    assert redactor.text("abcd12.evil.example") == "abcd12.evil.example"  # case kept < 8


def test_ordinary_text_is_left_alone() -> None:
    redactor = Redactor([("K", "sk_live_Abc123XYZ-secret"), ("N", "1234567890")])
    text = json.dumps({"n": list(range(100)), "hex": "0xdeadbeef cafe", "b64": "aGVsbG8="})
    assert redactor.text(text) == text
