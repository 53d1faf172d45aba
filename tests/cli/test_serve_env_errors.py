"""`wassette serve --env` / `--env-file`: a malformed argument or line is refused without
echoing it (a bare secret pasted where NAME=secret belonged must not reach a terminal log)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import CANARY, Home, run_cli
from wassette.cli.serve import parse_env_assignment, parse_env_file
from wassette.errors import UsageError


def _shown(exc: UsageError) -> str:
    return " ".join(filter(None, (exc.message, exc.why, exc.fix, str(exc))))


@pytest.mark.parametrize(
    "arg",
    [CANARY.replace("-", "_"), CANARY, f"{CANARY}={CANARY}", f"1{CANARY}=x", f"  {CANARY}  "],
)
def test_bad_env_arguments_are_not_echoed(arg: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_env_assignment(arg, "--env")
    shown = _shown(info.value)
    for piece in (CANARY, CANARY.replace("-", "_"), CANARY[:12]):
        assert piece not in shown


@given(st.text(min_size=6, max_size=60))
def test_no_malformed_assignment_is_ever_echoed(text: str) -> None:
    try:
        parse_env_assignment(text, "--env")
    except UsageError as exc:
        shown = _shown(exc).replace("--env", "")
        assert text.strip() not in shown or len(text.strip()) < 6


@pytest.mark.parametrize(
    "line",
    [
        CANARY.replace("-", "_"),  # a bare value that looks like a name
        f'K="{CANARY}',  # unterminated quote
        f"K='{CANARY}' trailing{CANARY}",
        f'K="\\q{CANARY}"',  # unknown escape
        f"{CANARY}=1",
    ],
)
def test_bad_env_file_lines_are_not_echoed(tmp_path: Path, line: str) -> None:
    env_file = tmp_path / "vars.env"
    env_file.write_text(f"GOOD=1\n{line}\n")
    with pytest.raises(UsageError) as info:
        parse_env_file(env_file)
    shown = _shown(info.value)
    assert "line 2" in shown
    for piece in (CANARY, CANARY.replace("-", "_"), CANARY[:12]):
        assert piece not in shown


def test_env_file_uses_the_one_env_format(tmp_path: Path) -> None:
    env_file = tmp_path / "vars.env"
    env_file.write_text("export A=\"x\\ty\"\nB='lit $x'\nC = plain # not a comment \n")
    assert parse_env_file(env_file) == {"A": "x\ty", "B": "lit $x", "C": "plain # not a comment"}


def test_serve_refuses_a_bare_secret_without_echoing_it(home: Home) -> None:
    bare = CANARY.replace("-", "_")
    proc = run_cli(home, "serve", "--env", bare)
    assert proc.returncode != 0
    assert bare not in proc.stdout + proc.stderr
    assert "NAME=VALUE" in proc.stderr
