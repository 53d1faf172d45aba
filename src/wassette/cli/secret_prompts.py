"""Reading from the operator for ``wassette secret ...``: confirmations, hidden values and
``KEY=VALUE`` arguments.

No click at import time (``secret list --show-values`` asks through :func:`confirm_reveal` on
the click-free fast path). Nothing here ever echoes what it reads: a mistyped argument or a
pasted line may be a secret value.
"""

from __future__ import annotations

import sys

from wassette.cli.textio import ask_yes_no, echo
from wassette.errors import AbortedError, InvalidSecretKeyError, UsageError
from wassette.ids import ENV_KEY_PATTERN, validate_secret_key


def confirm_reveal(component_id: str, verb: str = "Show secret values for") -> None:
    """Ask on stderr before printing values; refuse when nobody can answer."""
    _confirm(
        f"{verb} '{component_id}'?",
        refusal="refusing to show secret values without confirmation",
        declined="aborted: secret values were not shown",
    )


def confirm_purge(component_id: str, keys: tuple[str, ...]) -> None:
    """Ask on stderr before destroying history; refuse when nobody can answer."""
    what = ", ".join(keys) if keys else "every key"
    _confirm(
        f"Destroy every earlier value of {what} of '{component_id}'?",
        refusal="refusing to purge history without confirmation",
        declined="aborted: the history was not purged",
    )


def _confirm(question: str, *, refusal: str, declined: str) -> None:
    answer = ask_yes_no(question)
    if answer is None:
        raise AbortedError(
            refusal,
            why="standard input is not a terminal, so the prompt cannot be answered",
            fix="add --yes to confirm non-interactively",
        )
    if not answer:
        raise AbortedError(declined)


def parse_assignments(pairs: tuple[str, ...], bare: list[str] | None = None) -> dict[str, str]:
    """``KEY=VALUE`` arguments -> dict (last one wins). Never echoes an argument: a mistyped
    argument may be a bare secret value.

    With ``bare``, an argument without ``=`` that is a valid key is collected there (its value
    is read safely later); anything else without ``=`` is still refused without being shown.
    """
    items: dict[str, str] = {}
    for position, pair in enumerate(pairs, start=1):
        key, sep, value = pair.partition("=")
        if not sep and bare is not None and _is_key(pair):
            bare.append(pair)
            continue
        if not sep:
            raise UsageError(
                f"secret argument {position} is not KEY=VALUE",
                why="it contains no '=' (it is not shown, as it may be a secret value)",
                fix="write each secret as KEY=VALUE, e.g. API_KEY=sk_live_abc123",
            )
        if not key:
            raise UsageError(
                f"secret argument {position} has an empty key",
                why="the text before the first '=' is empty",
                fix="write each secret as KEY=VALUE, e.g. API_KEY=sk_live_abc123",
            )
        try:
            validate_secret_key(key)
        except InvalidSecretKeyError:
            raise InvalidSecretKeyError(
                f"secret argument {position} has an invalid key",
                why="the text before the first '=' is not a valid environment variable name",
                fix=f"keys must match {ENV_KEY_PATTERN}, e.g. API_KEY",
            ) from None
        items[key] = value
    return items


def _is_key(text: str) -> bool:
    try:
        validate_secret_key(text)
    except InvalidSecretKeyError:
        return False
    return True


def _read_hidden(prompt: str) -> str:
    """Read one line from the terminal on stdin with echo off (prompt on stderr)."""
    try:
        import termios
    except ImportError:  # not POSIX: click's hidden prompt (getpass)
        import click

        return str(click.prompt(prompt, hide_input=True, err=True, prompt_suffix=": "))
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~termios.ECHO
    # Echo goes off *before* the prompt appears, and type-ahead is discarded (TCSAFLUSH), so
    # nothing typed for this prompt is ever echoed.
    termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
    try:
        echo(f"{prompt}: ", nl=False, err=True)
        line = sys.stdin.readline()
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
        echo("", err=True)
    if not line:
        raise AbortedError("aborted: no value was entered")
    return line.removesuffix("\n").removesuffix("\r")


def read_values(keys: list[str]) -> dict[str, str]:
    """Values for bare KEY arguments: hidden prompts on a TTY, else one value from stdin."""
    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        return {key: _read_hidden(f"Value for {key} (input hidden)") for key in keys}
    if len(keys) > 1:
        raise UsageError(
            f"{len(keys)} keys without a value, but standard input holds only one value",
            fix="give one KEY without '=' per command when piping the value",
        )
    raw = b"" if stdin is None else stdin.buffer.read()
    if not raw:
        raise UsageError(
            f"no value for {keys[0]} on standard input",
            why="a KEY without '=' reads its value from a hidden prompt or a pipe, and the "
            "input was empty",
            fix=f'pipe the value (printf %s "$VALUE" | wassette secret set ID {keys[0]}) '
            f"or write {keys[0]}= for an empty value",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"the value for {keys[0]} on standard input is not valid UTF-8",
            fix="pass the value as UTF-8 text",
        ) from None
    # Exactly one trailing newline is stripped (what `echo` adds); anything else is the value.
    return {keys[0]: text.removesuffix("\n")}
