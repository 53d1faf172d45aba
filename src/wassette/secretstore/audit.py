"""A tamper-evident audit log of what happens to secrets: append-only, hash-chained JSON lines.

``<state dir>/audit.log`` (0600, directory 0700). Each line is one JSON object::

    {"seq": 7, "time": "...", "actor": "me@host", "event": "set", "component": "c",
     "keys": ["API_KEY"], "prev": "<hash of line 6>", "hash": "<sha256 of this line>"}

``hash`` is the SHA-256 of the line's canonical JSON without ``hash`` (sorted keys, compact);
``prev`` chains each line to the one before, and ``seq`` numbers them. A head file
(``audit.log.head``) remembers the last ``seq``/``hash`` written, so cutting lines off the end is
caught too. :func:`verify` names the first line that was edited, removed, inserted or moved.

What is logged: key names, component ids, tiers, counts and versions; **never a value**.

Appenders from any number of processes serialise on a lock file and write each line with a
single ``write`` on an ``O_APPEND`` descriptor, then fsync: lines never interleave.

The chain is tamper-*evident* against edits that do not rewrite everything after them; someone
able to rewrite the whole file and its head can forge a consistent log (it is not signed).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from wassette.errors import AuditLogError
from wassette.fsutil import os_reason

LOG_NAME = "audit.log"
GENESIS = "0" * 64
_TAIL_READ = 1 << 16

EVENTS = (
    "set",
    "delete",
    "rollback",
    "import",
    "encrypt",
    "decrypt",
    "key-rotate",
    "purge-history",
    "reveal",
    "export",
    "inject",
    "replace",  # a component id now runs a binary from another source (approved)
    "accept-policy",  # permissions a shipped policy proposed were granted (approved)
)


def _canonical(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data``, in hex.

    From CPython's built-in SHA-256 when there is one (``_sha256`` in 3.11, ``_sha2`` later):
    hashlib would load OpenSSL (~3 ms of a one-shot ``tool invoke``, which records its
    injection, and ~3 MB resident in a server) to hash a few short lines. The digest is the
    same either way; without the built-in module, hashlib.
    """
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            from hashlib import sha256
    return str(sha256(data).hexdigest())


def line_hash(record: Mapping[str, Any]) -> str:
    """The hash of a record: SHA-256 of its canonical JSON without the ``hash`` field."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return sha256_hex(_canonical(body).encode("utf-8"))


class VerifyResult(NamedTuple):
    """Outcome of :func:`verify`: ``ok``, lines checked, and the first problem found."""

    ok: bool
    lines: int
    problem: str | None = None
    line: int | None = None


class AuditLog:
    """The audit log file and its appender."""

    def __init__(self, path: Path, *, actor: str | None = None, lock_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")
        self._actor = actor
        self.lock_timeout = lock_timeout

    @property
    def actor(self) -> str:
        """``user@host`` recorded with each event."""
        if self._actor is None:
            from wassette.secretstore.records import default_actor

            self._actor = default_actor()
        return self._actor

    # ------------------------------------------------------------------------------ append

    def record(
        self,
        event: str,
        component_id: str | None = None,
        keys: Sequence[str] | Mapping[str, str] = (),
        **detail: Any,
    ) -> dict[str, Any]:
        """Append one event; ``keys`` are key names (or key -> tier); never pass values."""
        return self.record_many([(event, component_id, keys, detail)])[0]

    def record_many(
        self,
        events: Sequence[
            tuple[str, str | None, Sequence[str] | Mapping[str, str], Mapping[str, Any]]
        ],
    ) -> list[dict[str, Any]]:
        """Append several events under one lock and one fsync (the server batches injections)."""
        from wassette.secretstore.records import now as _now

        records: list[dict[str, Any]] = []
        for event, component_id, keys, detail in events:
            record: dict[str, Any] = {"time": _now(), "actor": self.actor, "event": event}
            if component_id is not None:
                record["component"] = component_id
            if keys:
                record["keys"] = dict(keys) if isinstance(keys, Mapping) else list(keys)
            record.update(detail)
            records.append(record)
        if not records:
            return records
        with self._locked():
            seq, prev = self._last()
            lines = []
            for record in records:
                seq += 1
                record["seq"] = seq
                record["prev"] = prev
                record["hash"] = prev = line_hash(record)
                lines.append(_canonical(record) + "\n")
            data = "".join(lines).encode("utf-8")
            try:
                self._append(data, records[-1]["seq"], records[-1]["hash"])
            except OSError as exc:
                raise AuditLogError(
                    f"cannot append to the audit log {self.path}",
                    why=os_reason(exc),
                    fix=f"check free space and permissions of {self.path.parent}",
                ) from None
        return records

    def _append(self, data: bytes, seq: int, digest: str) -> None:
        """Append ``data`` and move the head to it, or leave log and head as they were.

        A failed append (disk full, I/O error: possibly after a partial write) is cut back to
        the log's previous length, so a clean failure never looks like tampering to
        :meth:`verify`, and the next append chains to the last line really recorded.
        """
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            try:
                written = os.write(fd, data)  # one write on O_APPEND: whole lines or nothing
                if written != len(data):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                os.fsync(fd)
                self._write_head(seq, digest)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                    os.fsync(fd)
                raise
        finally:
            os.close(fd)

    def record_injection(self, component_id: str, key_tiers: Mapping[str, str]) -> None:
        """Log that ``key_tiers`` (key -> tier: policy/secret/inherited) were injected.

        For the runtime, at each instantiation. Only key names and tier names are logged.
        """
        self.record("inject", component_id, dict(key_tiers))

    def _write_head(self, seq: int, digest: str) -> None:
        # Written in place (small, after the fsynced line): a crash in between leaves the head
        # one line behind, which verify tolerates for exactly the last line.
        tmp = self.head_path.with_name(f".{self.head_path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps({"seq": seq, "hash": digest}) + "\n")
            os.replace(tmp, self.head_path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def _last(self) -> tuple[int, str]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - _TAIL_READ))
                tail = fh.read()
        except FileNotFoundError:
            return 0, GENESIS
        lines = [line for line in tail.split(b"\n") if line.strip()]
        if not lines:
            return 0, GENESIS
        last = lines[-1]
        try:
            rec = json.loads(last)
            return int(rec["seq"]), str(rec["hash"])
        except (ValueError, KeyError, TypeError):
            # A damaged last line (torn by a crash): chain to its bytes; verify will flag it.
            return len(lines), sha256_hex(last)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        from wassette.fsutil import file_lock, make_private_dirs

        try:
            make_private_dirs(self.path.parent)
        except OSError as exc:
            raise AuditLogError(
                f"cannot create the audit log directory {self.path.parent}",
                why=os_reason(exc),
                fix="check permissions of its parent",
            ) from None
        with file_lock(
            self.lock_path,
            what=f"the audit log {self.path}",
            timeout=self.lock_timeout,
            busy="another wassette process is appending to it",
            error=AuditLogError,
        ):
            yield

    # ------------------------------------------------------------------------------- read

    def events(self, component_id: str | None = None) -> list[dict[str, Any]]:
        """Every parseable event, oldest first, optionally only those of ``component_id``."""
        out = []
        for _number, _raw, rec in self._lines():
            if rec is None:
                continue
            if component_id is None or rec.get("component") == component_id:
                out.append(rec)
        return out

    def _lines(self) -> Iterator[tuple[int, bytes, dict[str, Any] | None]]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        for number, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                yield number, raw, None
                continue
            yield number, raw, rec if isinstance(rec, dict) else None

    def verify(self) -> VerifyResult:  # noqa: PLR0911, PLR0912 - one check, one verdict each
        """Check the whole chain; report the first line that was edited, removed or moved."""
        prev_hash, prev_seq, count = GENESIS, 0, 0
        for number, _raw, rec in self._lines():
            count += 1
            if rec is None or not isinstance(rec.get("seq"), int):
                return VerifyResult(False, count, "the line is not a valid audit record", number)
            if rec.get("hash") != line_hash(rec):
                return VerifyResult(
                    False,
                    count,
                    "the line was edited (its hash does not match its content)",
                    number,
                )
            seq = rec["seq"]
            if seq <= prev_seq:
                return VerifyResult(
                    False,
                    count,
                    f"lines are out of order (seq {seq} follows seq {prev_seq})",
                    number,
                )
            if seq != prev_seq + 1:
                return VerifyResult(
                    False,
                    count,
                    f"{seq - prev_seq - 1} line(s) before it were removed "
                    f"(seq jumps from {prev_seq} to {seq})",
                    number,
                )
            if rec.get("prev") != prev_hash:
                return VerifyResult(
                    False,
                    count,
                    "the chain is broken: the line before it was replaced or rewritten",
                    number,
                )
            prev_hash, prev_seq = rec["hash"], seq
        try:
            head = json.loads(self.head_path.read_text())
        except FileNotFoundError:
            head = None
        except ValueError:
            return VerifyResult(False, count, f"the head file {self.head_path} is damaged")
        if head is not None:
            head_seq = head.get("seq")
            if not isinstance(head_seq, int):
                return VerifyResult(False, count, f"the head file {self.head_path} is damaged")
            if head_seq > prev_seq:
                return VerifyResult(
                    False,
                    count,
                    f"{head_seq - prev_seq} line(s) were removed from the end "
                    f"(the log ends at seq {prev_seq}, seq {head_seq} was written)",
                )
            if head_seq == prev_seq and head.get("hash") != prev_hash:
                return VerifyResult(
                    False, count, "the last line was replaced (it does not match the head file)"
                )
            if head_seq < prev_seq - 1:
                return VerifyResult(
                    False,
                    count,
                    f"the log has lines after seq {head_seq} that were never recorded as written",
                )
        elif count:
            return VerifyResult(False, count, f"the head file {self.head_path} is missing")
        return VerifyResult(True, count)
