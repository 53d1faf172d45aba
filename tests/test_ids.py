"""Component ids can never name a path outside their directory; keys are env var names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wassette.errors import InvalidComponentIdError, InvalidSecretKeyError
from wassette.ids import validate_component_id, validate_secret_key

ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@given(st.text(max_size=140))
def test_ids_are_accepted_exactly_when_they_match_the_pattern(text: str) -> None:
    if ID.fullmatch(text):
        assert validate_component_id(text) == text
        base = Path("/secrets")
        assert (base / f"{text}.secrets.yaml").resolve().parent == base
    else:
        with pytest.raises(InvalidComponentIdError) as info:
            validate_component_id(text)
        assert "invalid component id" in str(info.value)


@given(st.from_regex(ID, fullmatch=True))
def test_every_valid_id_stays_inside_the_directory(text: str) -> None:
    validate_component_id(text)
    assert "/" not in text and text not in (".", "..")


@pytest.mark.parametrize("key", ["API_KEY", "_X", "a1", "DATABASE_URL"])
def test_valid_keys(key: str) -> None:
    assert validate_secret_key(key) == key


@pytest.mark.parametrize("key", ["", "1A", "A-B", "A.B", "A B", "A\n", "Ä"])
def test_invalid_keys(key: str) -> None:
    with pytest.raises(InvalidSecretKeyError):
        validate_secret_key(key)
