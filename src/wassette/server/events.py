"""A bounded in-memory event store: resumable streamable-HTTP response streams.

With an event store the SDK gives every SSE event an id and opens each response stream with a
priming event (an id, plus ``retry:`` with the reconnect delay); a client whose connection
drops mid-call reconnects with ``GET /mcp`` and ``Last-Event-ID`` and receives what it missed,
including the call's result.

Bounds: at most ``max_events`` events and ``max_bytes`` of serialized messages, each kept at
most ``ttl_seconds``; the oldest go first. Event ids are 128-bit random strings: the store is
shared by every session, and the SDK replays by event id alone, so an id must be impossible to
guess (only the client that received it can resume that stream). Results can carry what a tool
returned: nothing is written to disk.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

import mcp_types as types
from mcp.server.streamable_http import (
    EventCallback,
    EventId,
    EventMessage,
    EventStore,
    StreamId,
)

__all__ = ["BoundedEventStore"]


@dataclass(frozen=True)
class _Event:
    stream_id: StreamId
    message: types.JSONRPCMessage | None
    size: int
    stored_at: float


class BoundedEventStore(EventStore):
    """Events of every stream, oldest first, within a count, a byte and an age bound."""

    def __init__(
        self,
        *,
        max_events: int = 4096,
        max_bytes: int = 32 * 1024 * 1024,
        ttl_seconds: float = 600.0,
    ) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self._events: OrderedDict[EventId, _Event] = OrderedDict()
        self._streams: dict[StreamId, list[EventId]] = {}
        self._bytes = 0

    # No __len__: the SDK tests `if self._event_store`, and an empty store must not read as
    # "no store".
    @property
    def count(self) -> int:
        """Events currently kept."""
        return len(self._events)

    @property
    def size_bytes(self) -> int:
        """Serialized bytes of the messages currently kept."""
        return self._bytes

    async def store_event(
        self, stream_id: StreamId, message: types.JSONRPCMessage | None
    ) -> EventId:
        event_id = secrets.token_urlsafe(16)
        size = 0 if message is None else len(message.model_dump_json(by_alias=True))
        self._events[event_id] = _Event(stream_id, message, size, time.monotonic())
        self._streams.setdefault(stream_id, []).append(event_id)
        self._bytes += size
        self._evict()
        return event_id

    def _evict(self) -> None:
        horizon = time.monotonic() - self.ttl_seconds
        while self._events:
            oldest_id, oldest = next(iter(self._events.items()))
            if (
                len(self._events) <= self.max_events
                and self._bytes <= self.max_bytes
                and oldest.stored_at >= horizon
            ):
                return
            del self._events[oldest_id]
            self._bytes -= oldest.size
            ids = self._streams.get(oldest.stream_id)
            if ids:
                # Events of one stream are stored in order, so the oldest is first.
                if ids[0] == oldest_id:
                    ids.pop(0)
                else:
                    ids.remove(oldest_id)
                if not ids:
                    del self._streams[oldest.stream_id]

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        self._evict()
        event = self._events.get(last_event_id)
        if event is None:
            return None
        ids = self._streams.get(event.stream_id, [])
        try:
            start = ids.index(last_event_id) + 1
        except ValueError:
            return None
        for event_id in list(ids[start:]):
            later = self._events.get(event_id)
            if later is not None and later.message is not None:
                await send_callback(EventMessage(later.message, event_id))
        return event.stream_id
