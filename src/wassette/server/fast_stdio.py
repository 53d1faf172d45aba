"""A stdio transport on the event loop's own pipe support (no thread hop per message).

The SDK's ``stdio_server`` reads and writes through worker threads (one hop per line each
way); over a pipe that is most of the per-call overhead. This transport claims fd 0 and fd 1
the same way (the wire moves to private descriptors; fd 0 then reads /dev/null and fd 1
writes to stderr, so stray output can never corrupt the protocol), and falls back to the SDK
transport when stdin or stdout is not a pipe, socket or terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from wassette.server import jsonrpc

_LIMIT = 64 * 1024 * 1024  # largest accepted JSON-RPC line


def _streamable(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


def _claim(fd: int, diversion: int) -> int:
    private = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    os.dup2(diversion, fd)
    return private


def _answer(writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
    """Write a JSON-RPC error straight to the wire (the session never saw the message)."""
    writer.write(json.dumps(reply, separators=(",", ":")).encode("utf-8") + b"\n")


async def _pump_in(
    reader: asyncio.StreamReader, read_send: Any, writer: asyncio.StreamWriter
) -> None:
    async with read_send:
        while True:
            try:
                line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                # Longer than _LIMIT: the line is discarded, so its id is unknown.
                _answer(
                    writer,
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {
                            "code": jsonrpc.INVALID_REQUEST,
                            "message": f"Invalid Request: message longer than {_LIMIT} bytes",
                        },
                    },
                )
                continue
            if not line:
                return
            if not line.strip():
                continue
            try:
                message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
            except Exception as exc:  # noqa: BLE001 - explained below, or handed to the session
                reply = jsonrpc.rejection(line)
                if reply is None:  # an envelope the SDK rejects for reasons of its own
                    await read_send.send(exc)
                elif reply:
                    _answer(writer, reply)
                continue
            if isinstance(message, types.JSONRPCNotification) and b'"id"' in line:
                # The SDK reads a request whose id is null, a float or an object as a
                # notification, which is never answered: the client would wait forever.
                reply = jsonrpc.rejection(line)
                if reply:
                    _answer(writer, reply)
                    continue
            await read_send.send(SessionMessage(message))


async def _pump_out(writer: asyncio.StreamWriter, write_recv: Any) -> None:
    async with write_recv:
        async for item in write_recv:
            data = item.message.model_dump_json(by_alias=True, exclude_unset=True)
            writer.write(data.encode("utf-8") + b"\n")
            try:
                await writer.drain()
            except (ConnectionError, BrokenPipeError):
                return


@asynccontextmanager
async def fast_stdio_server() -> AsyncIterator[tuple[Any, Any]]:
    """``(read_stream, write_stream)`` of SessionMessages over this process's stdin/stdout."""
    if not (_streamable(0) and _streamable(1)) or sys.platform == "win32":
        async with stdio_server() as streams:
            yield streams
        return
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_RDONLY)
    wire_in = _claim(0, devnull)
    os.close(devnull)
    wire_out = _claim(1, 2)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LIMIT)
    in_file = os.fdopen(wire_in, "rb", buffering=0)
    out_file = os.fdopen(wire_out, "wb", buffering=0)
    read_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), in_file
    )
    write_transport, write_protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, out_file
    )
    writer = asyncio.StreamWriter(write_transport, write_protocol, None, loop)

    read_send, read_recv = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    write_send, write_recv = anyio.create_memory_object_stream[SessionMessage](16)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_pump_in, reader, read_send, writer)
            tg.start_soon(_pump_out, writer, write_recv)
            yield read_recv, write_send
            tg.cancel_scope.cancel()
    finally:
        read_transport.close()
        with contextlib.suppress(OSError, RuntimeError):
            write_transport.close()
