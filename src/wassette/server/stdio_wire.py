"""The stdio wire of the SDK-free front: claiming fd 0/1, lines in, one message per line out,
and the shape checks that decide which messages the front may answer itself.

Anything the checks here do not recognise as plainly well-formed goes to the SDK server, which
then answers with its exact error (``stdio_front.py``).
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any, BinaryIO

from wassette.server.toolset import HANDSHAKE_VERSIONS, MODERN_META_PREFIX

LINE_LIMIT = 64 * 1024 * 1024
"""The longest JSON-RPC line accepted."""


def dumps(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Wire:
    """This process's stdin/stdout, claimed: raw lines in, one message per line out."""

    def __init__(self, reader: BinaryIO, out_fd: int) -> None:
        self.reader = reader
        self._out = out_fd
        self._lock = threading.Lock()
        self.broken = False

    @classmethod
    def claim(cls) -> Wire:
        """Move the protocol to private descriptors; fd 0 reads /dev/null, fd 1 -> stderr."""
        sys.stdout.flush()
        devnull = os.open(os.devnull, os.O_RDONLY)
        wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
        os.dup2(devnull, 0)
        os.close(devnull)
        wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
        os.dup2(2, 1)
        return cls(os.fdopen(wire_in, "rb", buffering=1 << 16), wire_out)

    def write(self, data: bytes) -> None:
        """Write one message (``data`` without its newline), whole, under the lock."""
        data += b"\n"
        with self._lock:
            if self.broken:
                return
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._out, view) :]
            except OSError:  # the client went away; the reader sees EOF next
                self.broken = True

    def send(self, message: Mapping[str, Any]) -> None:
        """Write one JSON-RPC message."""
        self.write(dumps(message))

    def lines(self) -> Any:
        """Lines until EOF; a line over :data:`LINE_LIMIT` comes as ``None`` (discarded)."""
        while True:
            line = self.reader.readline(LINE_LIMIT + 1)
            if not line:
                return
            if len(line) > LINE_LIMIT and not line.endswith(b"\n"):
                while True:  # skip the rest of the overlong line
                    rest = self.reader.readline(1 << 20)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield None
                continue
            yield line


def plain_meta(params: Mapping[str, Any]) -> bool:
    """``_meta`` absent, or an object the SDK accepts as is on a handshake-era connection."""
    meta = params.get("_meta")
    if meta is None:
        return "_meta" not in params
    if not isinstance(meta, dict):
        return False
    token = meta.get("progressToken")
    if token is not None and (not isinstance(token, (str, int)) or isinstance(token, bool)):
        return False
    return not any(str(k).startswith(MODERN_META_PREFIX) for k in meta)


def _plain_str_fields(value: Any, required: tuple[str, ...], optional: tuple[str, ...]) -> bool:
    if not isinstance(value, dict) or not set(value) <= {*required, *optional}:
        return False
    return all(isinstance(value.get(k), str) for k in required) and all(
        isinstance(value[k], str) for k in optional if k in value
    )


def plain_initialize(params: Mapping[str, Any]) -> bool:
    """A handshake-era ``initialize`` whose params the front can answer exactly as the SDK
    would; anything unusual is left to the SDK (which then owns the connection)."""
    if not set(params) <= {"protocolVersion", "capabilities", "clientInfo", "_meta"}:
        return False
    if params.get("protocolVersion") not in HANDSHAKE_VERSIONS or not plain_meta(params):
        return False
    caps = params.get("capabilities")
    if not isinstance(caps, dict) or not all(
        isinstance(v, dict) and all(isinstance(x, (dict, bool)) for x in v.values())
        for v in caps.values()
    ):
        return False
    return _plain_str_fields(
        params.get("clientInfo"), ("name", "version"), ("title", "description", "websiteUrl")
    )


def plain_call(params: Mapping[str, Any]) -> bool:
    """``tools/call`` params of the plain shape: a name, arguments (object or null), _meta."""
    if not set(params) <= {"name", "arguments", "_meta"} or not isinstance(params.get("name"), str):
        return False
    args = params.get("arguments")
    return (args is None or isinstance(args, dict)) and plain_meta(params)


def plain_list(params: Mapping[str, Any]) -> bool:
    """``tools/list`` params of the plain shape (the cursor is ignored: one page)."""
    cursor = params.get("cursor")
    return (
        set(params) <= {"cursor", "_meta"}
        and (cursor is None or isinstance(cursor, str))
        and plain_meta(params)
    )


def well_formed(message: Any) -> bool:
    """An object :func:`jsonrpc.rejection` would pass, with a method (a request or a
    notification); anything else takes the slow, exact path."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return False
    if not isinstance(message.get("method"), str):
        return False
    if "id" in message:
        rid = message["id"]
        if not isinstance(rid, (str, int)) or isinstance(rid, bool):
            return False
    params = message.get("params")
    return params is None or isinstance(params, dict)
