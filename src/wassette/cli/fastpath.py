"""``wassette secret list ID`` without click: the one short command that scripts run often.

Importing click costs more than the whole of Wassette's ``secret list`` process on the same
machine (about 25 ms against 20), so the command's common forms are parsed here and run
through the very function the click command calls (:func:`wassette.cli.secret_views.
list_secrets`). This is not a second CLI: it accepts only argument lists whose meaning is
unambiguous and identical under click, and returns False for anything else (``--help``, any
other option or command, a repeated option, ``--``, a value click would refuse, shell
completion), which then goes through click unchanged. tests/cli/test_fastpath.py checks,
form by form, that both paths print the same bytes and exit with the same code.

Accepted: ``secret list ID [--show-values] [-y|--yes] [-o|--output|--output-format FMT]``
in any order, FMT one of json, yaml, table (as typed, lower case), ``--opt=FMT`` and ``-oFMT``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

_FORMATS = ("json", "yaml", "table")
_OUTPUT = ("-o", "--output", "--output-format")


def _utf8(stream: object) -> bool:
    # click re-wraps a stream whose encoding is ASCII; leave such set-ups to click.
    encoding = str(getattr(stream, "encoding", "") or "").lower().replace("_", "-")
    return encoding in ("utf-8", "utf8")


def _option(token: str, rest: Iterator[str]) -> tuple[str, str | None] | None:
    """One option token (and its value) as ``(name, fmt)``; None: not an accepted form."""
    name, value = token, None
    if token.startswith("--") and "=" in token:
        name, _, value = token.partition("=")
    elif token.startswith("-o") and len(token) > 2 and not token.startswith("--"):
        name, value = "-o", token[2:]
    if name in ("-y", "--yes", "--show-values") and value is None:
        return ("yes" if name != "--show-values" else "show"), None
    if name in _OUTPUT:
        if value is None:
            value = next(rest, None)
        # Missing, another spelling or a bad choice: click decides (and words the error).
        return ("output", value) if value in _FORMATS else None
    return None


def parse_secret_list(args: list[str]) -> tuple[str, bool, bool, str] | None:
    """``(component_id, show_values, yes, fmt)`` for an accepted form, else None."""
    if len(args) < 3 or args[0] != "secret" or args[1] != "list":
        return None
    positional: list[str] = []
    options: dict[str, str | None] = {}
    rest = iter(args[2:])
    for token in rest:
        if not token.startswith("-"):
            positional.append(token)
            continue
        parsed = _option(token, rest)
        if parsed is None or parsed[0] in options:
            return None  # not ours, or repeated (click's last-one-wins or a double flag)
        options[parsed[0]] = parsed[1]
    if len(positional) != 1:
        return None  # missing or extra argument: click's error
    fmt = options.get("output") or "json"
    return positional[0], "show" in options, "yes" in options, fmt


def run_fast(args: list[str]) -> bool:
    """Run ``args`` here if it is an accepted ``secret list`` form; False: use click."""
    if "_WASSETTE_COMPLETE" in os.environ:  # shell completion is click's business
        return False
    parsed = parse_secret_list(args)
    if parsed is None or not (_utf8(sys.stdout) and _utf8(sys.stderr)):
        return False
    from wassette.cli.logsetup import configure_logging
    from wassette.cli.secret_views import list_secrets

    configure_logging(0)  # what the click root group does before any command
    component_id, show_values, yes, fmt = parsed
    list_secrets(component_id, show_values, yes, fmt, None)
    return True
