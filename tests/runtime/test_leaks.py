"""The leak suite: a purpose-built component emits each injected secret in every common
encoding, on every channel, with the output cut at every byte of it; nothing survives.

The ``leaker`` fixture (tests/fixtures/components/leaker) reads its secret from the
environment and encodes it itself (forms.py, shared with this test), so what is checked is the
real path: guest -> wasmtime -> pipe -> tail -> redaction -> result / error text.

What "survives" means (:func:`survivors`): any 4-character window of the encoded secret that
does not also occur when the same form encodes a dummy value of the same length (the form's
own context, like ``{"token": "``). Placeholders are blanked first, so they cannot hide or
fake a window.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
import wasmtime.component as wc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.componentbuild import FIXTURES
from wassette.errors import ComponentTrapError
from wassette.runtime.capabilities import Capabilities
from wassette.runtime.engine import LoadedComponent
from wassette.runtime.invoke import DEFAULT_OUTPUT_LIMIT, invoke
from wassette.runtime.redaction import redactor_for

Get = Callable[[str], LoadedComponent]

SECRETS = {
    "API_KEY": "sk_live_Abc123XYZ-secret",
    # quotes, a backslash, a slash, non-ASCII (Latin-1, BMP, astral), mixed case
    "ODD": "pa\"ss\\wörd/€😀'-Tok3n",
}
CASE_FORMS = {"upper", "lower", "swapcase"}
_PLACEHOLDER = re.compile(r"\[REDACTED:[A-Z_0-9]+\]")


def _forms() -> ModuleType:
    spec = importlib.util.spec_from_file_location("leaker_forms", FIXTURES / "leaker" / "forms.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FORMS: dict[str, Callable[[str], str]] = _forms().FORMS


BASE64_FORMS = {"base64", "base64url", "basic-auth"}


def secret_windows(form: str, value: str, k: int = 4) -> set[str]:
    """The k-character windows of ``form(value)`` that carry part of the value.

    For base64 the dummy keeps the value's first and last characters: the base64 character
    at either end of the value mixes a few of its bits with its neighbours' and is left by
    design (docs/redaction.md), so it is context here.
    """
    enc = FORMS[form](value)
    # Quotes and backslashes are kept: they decide the quoting of the context (repr picks
    # double quotes for a value holding a single one), which is not part of the secret.
    filler = "".join(c if c in "\"'\\" else "Z" for c in value)
    if form in BASE64_FORMS:
        filler = value[0] + filler[1:-1] + value[-1]
    dummy = FORMS[form](filler)
    context = {dummy[i : i + k] for i in range(len(dummy) - k + 1)}
    return {enc[i : i + k] for i in range(len(enc) - k + 1)} - context


def survivors(text: str, form: str, value: str, k: int = 4) -> set[str]:
    blanked = _PLACEHOLDER.sub("\0", text)
    return {w for w in secret_windows(form, value, k) if w in blanked}


def _caps() -> Capabilities:
    return Capabilities(env=tuple(SECRETS.items()))


def _text(value: object) -> str:
    if isinstance(value, wc.Variant):
        return str(value.payload)
    return str(value)


@pytest.fixture(scope="module")
def leaker(component: Get) -> LoadedComponent:
    return component("leaker")


def test_the_component_knows_every_form(leaker: LoadedComponent) -> None:
    assert invoke(leaker, ("forms",), [], _caps()).value == list(FORMS)
    # Sanity of the oracle: the unredacted forms *would* be caught as leaks.
    for form, encode in FORMS.items():
        for value in SECRETS.values():
            assert survivors(encode(value), form, value), form


def _cases() -> Iterator[tuple[str, str, str]]:
    for key in SECRETS:
        for form in FORMS:
            yield key, form, "stdout" if (len(key) + len(form)) % 2 else "stderr"


CASES = list(_cases())
cut_cases = 0


@pytest.mark.parametrize(("key", "form", "stream"), CASES)
def test_no_fragment_survives_any_cut(
    leaker: LoadedComponent, key: str, form: str, stream: str
) -> None:
    """The 16 KiB cut falls on every byte of the encoded secret (and the bytes around it), on
    stdout or stderr (alternating by case): the kept tail never holds a fragment of it."""
    global cut_cases  # noqa: PLW0603 - counts the cases for the report
    value = SECRETS[key]
    enc = FORMS[form](value).encode("utf-8", "surrogatepass")
    caps = _caps()
    for offset in range(len(enc) + 1):
        result = invoke(leaker, ("leak",), [key, form, stream, offset], caps)
        out = result.stdout if stream == "stdout" else result.stderr
        other = result.stderr if stream == "stdout" else result.stdout
        assert len(out.encode()) <= DEFAULT_OUTPUT_LIMIT + 64, (form, offset)
        assert out.endswith("S" * 16), (form, offset)  # it is the tail, and it is all there
        assert not survivors(out, form, value), (form, offset, out[:120])
        assert not survivors(other, form, value)
        cut_cases += 1


@pytest.mark.parametrize("key", list(SECRETS))
@pytest.mark.parametrize("form", list(FORMS))
def test_results_errors_and_traps_are_redacted(
    leaker: LoadedComponent, key: str, form: str
) -> None:
    value = SECRETS[key]
    caps = _caps()
    redact = redactor_for(caps.redaction_pairs())
    # The returned string and the error value: redacted where the manager returns them.
    for channel in ("result", "error"):
        got = invoke(leaker, ("leak",), [key, form, channel, 0], caps).value
        assert not survivors(redact(_text(got)), form, value), (channel, form)
    with pytest.raises(ComponentTrapError) as info:
        invoke(leaker, ("leak",), [key, form, "trap", 0], caps)
    err = info.value
    for text in (str(err), err.message, err.why or "", err.fix or "", err.stderr_tail):
        assert not survivors(text, form, value), (form, text[:200])


def test_a_single_large_write_keeps_its_true_tail(leaker: LoadedComponent) -> None:
    """One 20,000-byte write (larger than the 8 KiB wasmtime offers a custom stream)."""
    result = invoke(leaker, ("leak",), ["API_KEY", "raw", "stdout", 0], _caps())
    assert len(result.stdout) == DEFAULT_OUTPUT_LIMIT - len(SECRETS["API_KEY"]) + len(
        "[REDACTED:API_KEY]"
    )
    assert result.stdout.startswith("[REDACTED:API_KEY]S")
    big = "x" * 19_000 + "THE-END"
    caps = Capabilities(env=(("BIG", big),), redact_keys=frozenset())
    result = invoke(leaker, ("leak",), ["BIG", "raw", "stdout", 0], caps)
    # offset 0 -> the tail starts at the value's first byte: the whole write arrived.
    assert result.stdout.startswith("x" * 1000) and "THE-END" in result.stdout
    assert len(result.stdout.encode()) == DEFAULT_OUTPUT_LIMIT


def test_short_secrets_and_byte_lists_in_structured_content(leaker: LoadedComponent) -> None:
    caps = _caps()
    value = invoke(leaker, ("leak-report",), ["ODD"], caps).value
    redact = redactor_for(caps.redaction_pairs())
    data = redact.json(
        {"note": value.note, "forms": list(value.forms), "raw": list(bytes(value.raw))}
    )
    assert bytes(data["raw"]).decode() == "[REDACTED:ODD]"
    for form, text in zip(FORMS, data["forms"], strict=True):
        assert not survivors(text, form, SECRETS["ODD"]), form
    assert not survivors(data["note"], "json", SECRETS["ODD"])


# Secret values hypothesis draws: quotes, backslashes, control and non-ASCII characters, any
# case; at least 8 characters so the case-changing forms are in scope too.
_ALPHABET = st.characters(
    codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"
) | st.sampled_from(list("\"'\\/%&<>+ \n\tAbZz09éÖ€😀"))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    value=st.text(_ALPHABET, min_size=8, max_size=24).filter(lambda v: len(set(v)) >= 4),
    form=st.sampled_from(sorted(FORMS)),
)
def test_any_value_in_any_form_is_caught(leaker: LoadedComponent, value: str, form: str) -> None:
    if form in CASE_FORMS and any(len(ch.upper()) != 1 or len(ch.lower()) != 1 for ch in value):
        return  # "ß".upper() == "SS": multi-character case mappings are not covered
    caps = Capabilities(env=(("HYPO", value),))
    redact = redactor_for(caps.redaction_pairs())
    got = invoke(leaker, ("leak",), ["HYPO", form, "result", 0], caps).value
    assert not survivors(redact(_text(got)), form, value)
    result = invoke(leaker, ("leak",), ["HYPO", form, "stderr", 3], caps)
    assert not survivors(result.stderr, form, value)


def test_report_case_count() -> None:
    # Runs last in this file (pytest keeps file order): the number of cut cases exercised.
    if cut_cases:
        print(f"\nleak suite: {cut_cases} cut-boundary cases, 0 survivors")
