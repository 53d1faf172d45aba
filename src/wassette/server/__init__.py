"""The MCP server: the only async package and the only importer of the MCP SDK (``mcp``).

``app.py`` builds the low-level server (tools from WIT, change notifications to both protocol
eras), ``builtin_tools.py`` holds the twelve built-in tools (their schemas and argument checks in
``builtin_schemas.py``), ``transports.py`` serves them over
stdio, streamable HTTP (``/mcp``) and legacy SSE (``/sse``), ``logs.py`` writes structured,
redacted logs on stderr.
"""
