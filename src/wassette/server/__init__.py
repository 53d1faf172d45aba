"""The MCP server: the only async package and the only importer of the MCP SDK (``mcp``).

``toolset.py`` holds what both fronts answer from (the offered tools as plain dicts, the
component call and its result, background compiling); ``app.py`` builds the SDK's low-level
server on it (change notifications to both protocol eras), ``builtin_tools.py`` holds the
twelve built-in tools (their schemas and argument checks in ``builtin_schemas.py``),
``transports.py`` serves the SDK server over streamable HTTP (``/mcp``) and legacy SSE
(``/sse``), ``stdio_front.py`` serves stdio without the SDK on the common path (over
``stdio_wire.py``; ``sdk_bridge.py`` runs the SDK server behind it when needed), ``logs.py``
writes structured, redacted logs on stderr.
"""
