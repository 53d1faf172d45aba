"""The answer a malformed JSON-RPC message gets, the same on every transport.

The SDK hands a message it cannot validate to the session as an exception, which answers
nothing (over stdio the client waits forever), and over HTTP it answers every validation failure
with -32602. JSON-RPC 2.0 (section 5.1) and MCP assign:

=========================================================  ======  ==========
input                                                       code    id
=========================================================  ======  ==========
not JSON                                                    -32700  null
a batch (array), empty or not; MCP sends one message each   -32600  null
JSON that is not an object (number, string, ...)            -32600  null
``id`` not a string or an integer (null, float, object)     -32600  null
``jsonrpc`` missing or not ``"2.0"``                        -32600  the id
no ``method`` (and not a response)                          -32600  the id
``method`` not a string                                     -32600  the id
``params`` neither object, array nor null                   -32600  the id
``params`` an array (MCP params are always objects)         -32602  the id
=========================================================  ======  ==========

Anything else is left to the SDK (an unknown method gets -32601, params that do not fit the
method -32602). A notification whose params are an array (valid JSON-RPC, invalid MCP) is
dropped without an answer, as notifications never get one.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["INVALID_PARAMS", "INVALID_REQUEST", "PARSE_ERROR", "parse", "rejection"]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602

DROP: dict[str, Any] = {}
"""Returned for a malformed message that must get no answer (a notification)."""


def _error(code: int, message: str, rid: str | int | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def _valid_id(value: object) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def rejection(raw: bytes | str) -> dict[str, Any] | None:
    """The error response for ``raw`` if it is a malformed message, else ``None``.

    ``None`` means well-formed as far as the envelope goes: hand it to the SDK. The result is
    :data:`DROP` (an empty dict) when the message is malformed but must not be answered.
    """
    return parse(raw)[1]


def parse(raw: bytes | str) -> tuple[Any, dict[str, Any] | None]:
    """``raw`` decoded (None if it is not JSON), and :func:`rejection`'s answer for it: one
    decoding for a caller that also reads the message."""
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8 and huge integer literals too; deep nesting recurses.
        return None, _error(PARSE_ERROR, "Parse error: the message is not valid JSON")
    return message, _judge(message)


def _judge(message: Any) -> dict[str, Any] | None:  # noqa: PLR0911 - one per rule
    if isinstance(message, list):
        return _error(
            INVALID_REQUEST,
            "Invalid Request: batches are not supported; send one JSON-RPC message at a time",
        )
    if not isinstance(message, dict):
        return _error(INVALID_REQUEST, "Invalid Request: a JSON-RPC message must be an object")
    has_id = "id" in message
    rid = message.get("id")
    if has_id and not _valid_id(rid):
        return _error(INVALID_REQUEST, "Invalid Request: id must be a string or an integer")
    if message.get("jsonrpc") != "2.0":
        return _error(INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"', rid)
    if "method" not in message:
        if has_id and ("result" in message or "error" in message):
            return None  # a response
        return _error(INVALID_REQUEST, "Invalid Request: the message has no method", rid)
    if not isinstance(message["method"], str):
        return _error(INVALID_REQUEST, "Invalid Request: method must be a string", rid)
    params = message.get("params")
    if params is not None and not isinstance(params, dict):  # null reads as omitted
        if not isinstance(params, list):
            return _error(
                INVALID_REQUEST, "Invalid Request: params must be an object or omitted", rid
            )
        if not has_id:
            return DROP
        return _error(INVALID_PARAMS, "Invalid params: MCP params must be an object", rid)
    return None
