"""The ``wassette`` command line (placeholder; filled in by the secrets issue)."""

import click


@click.group()
def cli() -> None:
    """Run WebAssembly components as MCP tools, with per-component secrets."""


def main() -> None:
    """Console-script entry point."""
    cli()
