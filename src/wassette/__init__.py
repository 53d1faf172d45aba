"""wassette: run WebAssembly components as MCP tools, with per-component secrets."""

__version__ = "0.1.0"
