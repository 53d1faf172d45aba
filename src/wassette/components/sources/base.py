"""The one interface every component source implements, and what a fetch hands back.

A :class:`Source` is built from a URI, knows the component id that URI yields (docs/spec.md
section 4), and fetches the wasm (and, for OCI, an optional policy layer) into a
:class:`Fetched`. Sources never touch the component directory: installing is
``components/registry.py``'s job, so a fetch that fails half-way can never damage an installed
component.

Downloads are staged in a private temporary file (0600) while being hashed and size-checked,
never held whole in memory; :class:`Fetched` owns that file and deletes it on ``close()``.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar

from wassette.errors import (
    ComponentSourceError,
    InvalidComponentIdError,
    SourceIntegrityError,
    UsageError,
)
from wassette.ids import COMPONENT_ID_PATTERN, validate_component_id

#: Every WebAssembly binary (core module or component) starts with these four bytes.
WASM_MAGIC = b"\0asm"
#: Default size limit for one component: componentize-py output is ~20 MB, so this is generous.
DEFAULT_MAX_SIZE = 256 * 1024 * 1024
#: One whole fetch (DNS, connect, TLS, token, manifest, every blob) must finish within this.
DEFAULT_FETCH_TIMEOUT = 120.0
#: The largest policy file we accept from a source (a policy is a few hundred bytes).
MAX_POLICY_SIZE = 1024 * 1024

#: ``progress(bytes_done, bytes_total_or_None)``, called as a download advances.
ProgressCallback = Callable[[int, int | None], None]

_DIGEST = re.compile(r"(sha256):([0-9a-f]{64})|(sha512):([0-9a-f]{128})")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._-]")
_MAX_ID = 128


def registry_key(text: str) -> str:
    """Normalise a registry name (``https://ghcr.io``, ``ghcr.io/v1/``, ``GHCR.io``...) to the
    lowercase host[:port] credentials are bound to; Docker Hub's aliases become ``docker.io``."""
    text = text.strip()
    for prefix in ("https://", "http://"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    host = text.split("/", 1)[0].lower().rstrip(".")
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or token) for one registry. The password never prints.

    ``registry`` is the host[:port] the credentials belong to; they are offered to that
    registry (and the token service it names) only. Credentials with no registry are never
    sent anywhere: a registry an MCP client or a publisher names must not receive the
    operator's login just by answering 401.
    """

    username: str
    password: str = field(repr=False)
    registry: str | None = None

    def applies_to(self, registry: str) -> bool:
        """Whether these credentials may be offered to ``registry`` (host[:port])."""
        return self.registry is not None and registry_key(self.registry) == registry_key(registry)


@dataclass(frozen=True)
class FetchOptions:
    """How to fetch: limits, timeouts, trust and credentials. Explicit, never from os.environ.

    ``digest`` pins the sha256 (or sha512) of the wasm bytes for any source. ``ca_file`` is the
    CA bundle to trust instead of the default one (the CLI passes ``$SSL_CERT_FILE``).
    ``insecure`` allows plain http to a non-loopback OCI registry (loopback registries may
    always use http). ``credentials`` beat ``docker_config`` (``~/.docker/config.json``).
    ``base_dir`` resolves relative file paths (default: the current directory); ``temp_dir``
    is where downloads are staged (default: the system temporary directory).
    """

    max_size: int = DEFAULT_MAX_SIZE
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    total_timeout: float = DEFAULT_FETCH_TIMEOUT
    digest: str | None = None
    ca_file: Path | None = None
    insecure: bool = False
    credentials: Credentials | None = None
    docker_config: Path | None = None
    proxy: str | None = None
    progress: ProgressCallback | None = None
    base_dir: Path | None = None
    temp_dir: Path | None = None


@dataclass(frozen=True)
class DerivedId:
    """A component id derived from a URI, and, if it had to be sanitised, how."""

    component_id: str
    note: str | None = None


@dataclass
class Fetched:
    """A fetched component, ready to install.

    ``wasm_path`` is a staged temporary file owned by this object when ``owned`` is true (it is
    deleted by :meth:`close`), or the user's own file for ``file://`` sources (never deleted).
    ``digest`` is ``sha256:<hex>`` of the wasm bytes, verified against any pin.
    """

    component_id: str
    source_uri: str
    wasm_path: Path
    digest: str
    size: int
    policy_bytes: bytes | None = None
    id_note: str | None = None
    manifest_digest: str | None = None
    owned: bool = False

    def read_wasm(self) -> bytes:
        """The wasm bytes (reads the staged file)."""
        return self.wasm_path.read_bytes()

    def close(self) -> None:
        """Delete the staged file, if this object owns one. Idempotent."""
        if self.owned:
            self.wasm_path.unlink(missing_ok=True)
            self.owned = False

    def __enter__(self) -> Fetched:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Source(ABC):
    """One component source scheme (``file``, ``https``, ``oci``)."""

    scheme: ClassVar[str]

    def __init__(self, uri: str) -> None:
        self.uri = uri

    @property
    @abstractmethod
    def derived_id(self) -> DerivedId:
        """The component id this URI yields (docs/spec.md section 4), already validated."""

    @property
    def component_id(self) -> str:
        """Shorthand for ``derived_id.component_id``."""
        return self.derived_id.component_id

    @abstractmethod
    def fetch(self, options: FetchOptions) -> Fetched:
        """Fetch the component. Raises a :class:`~wassette.errors.WassetteError` on failure."""


def sanitize_component_id(raw: str, *, uri: str) -> DerivedId:
    """Turn the id-bearing part of a URI into a valid component id, saying how if it changed.

    Characters outside ``[A-Za-z0-9._-]`` become ``_``, leading characters that are not a letter
    or digit are dropped, and the result is cut to 128 characters. An empty result is an error.
    """
    cleaned = _NOT_ALLOWED.sub("_", raw)
    stripped = cleaned.lstrip("._-")
    result = stripped[:_MAX_ID]
    if not result:
        raise InvalidComponentIdError(
            f"cannot derive a component id from {_shown(uri)}",
            why=f"the name part {_shown(raw)} has no letter or digit to keep",
            fix="rename the file or repository so its name starts with a letter or digit",
        )
    note = None
    if result != raw:
        steps = []
        if cleaned != raw:
            steps.append("characters outside A-Za-z0-9._- became '_'")
        if stripped != cleaned:
            steps.append("leading '.', '_' or '-' were dropped")
        if len(stripped) > _MAX_ID:
            steps.append(f"it was cut to {_MAX_ID} characters")
        note = f"component id {result!r} derived from {_shown(raw)}: " + "; ".join(steps)
    return DerivedId(validate_component_id(result), note)


def _shown(text: str, limit: int = 80) -> str:
    return ascii(text if len(text) <= limit else text[:limit] + "...")


def parse_digest(text: str) -> tuple[str, str]:
    """Split ``sha256:<64 hex>`` (or ``sha512:<128 hex>``) into (algorithm, hex)."""
    m = _DIGEST.fullmatch(text.strip().lower())
    if not m:
        raise UsageError(
            f"invalid digest {_shown(text)}",
            why="a digest is 'sha256:' followed by 64 hexadecimal digits",
            fix="copy the digest exactly, e.g. from `sha256sum component.wasm`",
        )
    algo = m.group(1) or m.group(3)
    hexdigest = m.group(2) or m.group(4)
    return algo, hexdigest


def check_wasm_magic(head: bytes, *, what: str) -> None:
    """Refuse content that is not a WebAssembly binary (an HTML error page, a tarball...)."""
    if not head.startswith(WASM_MAGIC):
        raise ComponentSourceError(
            f"{what} is not a WebAssembly binary",
            why="it does not start with the wasm magic bytes \\0asm",
            fix="check that the URI points at a .wasm component, not a web page or archive",
        )


def size_error(what: str, limit: int, size: int | None = None) -> ComponentSourceError:
    """The error for content over the size limit."""
    got = f"{size} bytes" if size is not None else f"more than {limit} bytes"
    return ComponentSourceError(
        f"{what} is too large ({got})",
        why=f"the size limit for a component is {limit} bytes",
        fix="raise the limit if you trust this component, or check the URI",
    )


class StagingWriter:
    """Streams bytes into a private temporary file while hashing and size-checking them.

    The first bytes are checked for the wasm magic; ``expected_size`` and ``expected_digest``
    (``sha256:<hex>``), when given, are enforced as the bytes arrive and at the end.
    """

    def __init__(
        self,
        *,
        what: str,
        max_size: int,
        temp_dir: Path | None = None,
        expected_size: int | None = None,
        expected_digest: str | None = None,
        progress: ProgressCallback | None = None,
        check_magic: bool = True,
        deadline: float | None = None,
        progress_total: int | None = None,
    ) -> None:
        self.what = what
        self.max_size = max_size
        self.expected_size = expected_size
        self.progress = progress
        self.check_magic = check_magic
        self.deadline = deadline
        self.progress_total = progress_total if progress_total is not None else expected_size
        algo = "sha256"
        self.expected_hex: str | None = None
        if expected_digest is not None:
            algo, self.expected_hex = parse_digest(expected_digest)
        self.algo = algo
        import hashlib  # OpenSSL (~3 MB resident): loaded by a fetch, not by every server start

        self._hash = hashlib.new(algo)
        self._sha256 = self._hash if algo == "sha256" else hashlib.sha256()
        self.size = 0
        self._head = b""
        # The pid in the name lets a later fetch remove what a killed process left behind.
        fd, name = tempfile.mkstemp(
            prefix=f"{STAGING_PREFIX}{os.getpid()}-", suffix=".wasm", dir=temp_dir
        )
        self.path = Path(name)
        self._file: IO[bytes] = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        """Append one chunk, enforcing the limits."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ComponentSourceError(
                f"fetching {self.what} took too long",
                why="the total time limit for one download was reached",
                fix="retry on a faster connection, or raise the time limit",
            )
        self.size += len(chunk)
        if self.expected_size is not None and self.size > self.expected_size:
            raise SourceIntegrityError(
                f"{self.what} is larger than its declared size of {self.expected_size} bytes",
                why="the server sent more bytes than the manifest promised",
                fix="the registry or something between may be tampering: do not use it",
            )
        if self.size > self.max_size:
            raise size_error(self.what, self.max_size)
        if self.check_magic and len(self._head) < len(WASM_MAGIC):
            self._head += chunk[: len(WASM_MAGIC) - len(self._head)]
            if len(self._head) >= len(WASM_MAGIC):
                check_wasm_magic(self._head, what=self.what)
        self._hash.update(chunk)
        if self._sha256 is not self._hash:
            self._sha256.update(chunk)
        self._file.write(chunk)
        if self.progress is not None:
            self.progress(self.size, self.progress_total)

    def finish(self) -> str:
        """Close the file, check size and digest; return ``sha256:<hex>`` of the content."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if self.check_magic and len(self._head) < len(WASM_MAGIC):
            check_wasm_magic(self._head, what=self.what)
        if self.expected_size is not None and self.size != self.expected_size:
            raise SourceIntegrityError(
                f"{self.what} is {self.size} bytes, not the declared {self.expected_size}",
                why="the download was cut short or the content was altered",
                fix="retry; if it persists, the source is serving corrupt content",
            )
        actual = self._hash.hexdigest()
        if self.expected_hex is not None and actual != self.expected_hex:
            raise SourceIntegrityError(
                f"{self.what} does not match its digest",
                why=f"expected {self.algo}:{self.expected_hex}, got {self.algo}:{actual}",
                fix="the content was altered or corrupted: do not use it; check the source",
            )
        return f"sha256:{self._sha256.hexdigest()}"

    def discard(self) -> None:
        """Close and delete the staged file (after a failure)."""
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


STAGING_PREFIX = "wassette-fetch-"
_STAGED = re.compile(r"wassette-fetch-([0-9]{1,10})-[A-Za-z0-9_]+\.wasm")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process (or a pid we cannot judge): leave its files
    return True


def sweep_stale_staging(temp_dir: Path | None = None) -> list[Path]:
    """Delete staged downloads left by processes that no longer run (killed mid-fetch).

    Only regular files named ``wassette-fetch-<pid>-*.wasm``, owned by this user, whose pid
    is not alive; live fetches of other processes are never touched. Returns what was removed.
    """
    directory = Path(temp_dir) if temp_dir is not None else Path(tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _STAGED.fullmatch(entry.name)
        if m is None or int(m.group(1)) == os.getpid() or _process_alive(int(m.group(1))):
            continue
        try:
            st = entry.lstat()
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid():
                entry.unlink()
                removed.append(entry)
        except OSError:
            continue
    return removed


def verify_pin(digest: str, pin: str | None, *, what: str, path: Path) -> None:
    """Check a user's ``--digest`` pin against the content (re-hashing for sha512 pins)."""
    if pin is None:
        return
    algo, expected = parse_digest(pin)
    if algo == "sha256":
        actual = digest.split(":", 1)[1]
    else:
        import hashlib

        h = hashlib.new(algo)
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        actual = h.hexdigest()
    if actual != expected:
        raise SourceIntegrityError(
            f"{what} does not match the pinned digest",
            why=f"expected {algo}:{expected}, got {algo}:{actual}",
            fix="the content changed since it was pinned: verify it, then update the pin",
        )


__all__ = [
    "COMPONENT_ID_PATTERN",
    "DEFAULT_FETCH_TIMEOUT",
    "DEFAULT_MAX_SIZE",
    "MAX_POLICY_SIZE",
    "WASM_MAGIC",
    "Credentials",
    "DerivedId",
    "FetchOptions",
    "Fetched",
    "ProgressCallback",
    "Source",
    "StagingWriter",
    "check_wasm_magic",
    "parse_digest",
    "registry_key",
    "sanitize_component_id",
    "size_error",
    "sweep_stale_staging",
    "verify_pin",
]
