"""Rendering command results: JSON (default, 2-space indent), YAML, or an aligned table.

The renderers live in :mod:`wassette.cli.render` (no click there, so the click-free fast path
prints the same bytes); this module adds the click option and ``emit``.
"""

from __future__ import annotations

import click

from wassette.cli.render import (
    FORMATS,
    cell,
    render,
    to_json,
    to_table,
    to_yaml,
)

__all__ = [
    "FORMATS",
    "cell",
    "emit",
    "output_option",
    "render",
    "to_json",
    "to_table",
    "to_yaml",
]

output_option = click.option(
    "-o",
    "--output",
    "--output-format",
    "fmt",
    type=click.Choice(FORMATS, case_sensitive=False),
    default="json",
    show_default=True,
    help="Output format.",
)


def emit(text: str) -> None:
    """Write a result to stdout, newline-terminated."""
    click.echo(text if text.endswith("\n") else text + "\n", nl=False)
