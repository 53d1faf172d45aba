"""The MCP SDK server behind the stdio front: one connection, on an event loop in its own thread.

The front (``stdio_front.py``) feeds it raw lines it decided not to answer itself; this module
parses them as the SDK's stdio transport would (a line the SDK cannot validate reaches the
session as an exception) and writes the server's messages through the front's locked writer,
dropping the answers to the requests the front replayed to it (ids with ``swallow_prefix``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.shared.message import SessionMessage

if TYPE_CHECKING:
    from wassette.server.app import WassetteMCP
    from wassette.server.stdio_wire import Wire

log = logging.getLogger("wassette.server")

_EOF = object()


class SdkBridge:
    """``mcp.server.run`` over in-memory streams, fed line by line from another thread."""

    def __init__(self, mcp: WassetteMCP, wire: Wire, *, swallow_prefix: str) -> None:
        self.mcp = mcp
        self.wire = wire
        self.swallow_prefix = swallow_prefix
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._queue: asyncio.Queue[Any] | None = None
        self._thread = threading.Thread(target=self._main, name="wassette-sdk", daemon=True)

    def start(self) -> None:
        """Start the event loop thread; returns once it accepts lines."""
        self._thread.start()
        self._ready.wait()

    def feed(self, line: bytes) -> None:
        """Hand one raw line to the SDK server (from any thread, in order)."""
        loop, queue = self._loop, self._queue
        if loop is None or queue is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        except RuntimeError:  # the loop has stopped
            return

    def close(self) -> None:
        """End of input: the SDK server finishes its connection."""
        loop, queue = self._loop, self._queue
        if loop is None or queue is None:
            return
        try:
            loop.call_soon_threadsafe(queue.put_nowait, _EOF)
        except RuntimeError:
            return

    def join(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) for the server's thread to end."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _main(self) -> None:
        try:
            anyio.run(self._serve)
        except Exception:  # the server boundary: logged, the front keeps serving its part
            log.error("the MCP SDK server stopped", exc_info=True)
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        read_send, read_recv = anyio.create_memory_object_stream[SessionMessage | Exception](16)
        write_send, write_recv = anyio.create_memory_object_stream[SessionMessage](16)
        self._ready.set()
        server = self.mcp.server
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._pump_in, read_send)
            tg.start_soon(self._pump_out, write_recv)
            await server.run(read_recv, write_send, server.create_initialization_options())
            tg.cancel_scope.cancel()
        self.mcp.close()

    async def _pump_in(self, read_send: Any) -> None:
        assert self._queue is not None
        async with read_send:
            while True:
                line = await self._queue.get()
                if line is _EOF:
                    return
                try:
                    message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                except Exception as exc:  # noqa: BLE001 - the session reports it, as over stdio
                    await read_send.send(exc)
                    continue
                await read_send.send(SessionMessage(message))

    async def _pump_out(self, write_recv: Any) -> None:
        async with write_recv:
            async for item in write_recv:
                message = item.message
                rid = getattr(message, "id", None)
                if isinstance(rid, str) and rid.startswith(self.swallow_prefix):
                    continue  # the answer to a replayed request: the client had its own
                self.wire.write(
                    message.model_dump_json(by_alias=True, exclude_unset=True).encode("utf-8")
                )
