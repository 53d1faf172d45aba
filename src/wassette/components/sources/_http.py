"""The HTTP plumbing shared by the https and OCI sources (the only importer of httpx).

One client per fetch: TLS verified (with an explicit CA bundle when given), no proxy or CA
settings picked up from the environment behind our back (``trust_env=False``: the CLI passes
them explicitly), and redirects followed by hand so that a redirect can never downgrade to
plain http, never carries credentials to another origin, and never leads from a remote
server to a loopback or private address.

**One deadline for the whole fetch.** httpx's timeouts bound each socket operation, so a
server sending one byte every few seconds keeps a fetch alive forever. Every socket operation
of a fetch therefore goes through :class:`_DeadlineBackend`, which gives each DNS lookup,
connect, TLS handshake, read and write at most the time left until the fetch's one deadline;
when it passes, the fetch fails naming the host, the phase (probe, token, manifest, blob,
download) and the step (dns, connect, tls, headers, body) it was stuck in.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata

import httpcore
import httpx

from wassette.components.sources.base import FetchOptions, StagingWriter
from wassette.errors import ComponentSourceError, SourceUnreachableError, UsageError

MAX_REDIRECTS = 10
_REDIRECTS = {301, 302, 303, 307, 308}


def _version() -> str:
    try:
        return metadata.version("wassette")
    except metadata.PackageNotFoundError:
        return "0"


USER_AGENT = f"wassette-python/{_version()}"


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1`` (the hosts that may use plain http)."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_private_address(host: str) -> bool:
    """True for loopback, private, link-local, unspecified and similar non-public addresses
    (``localhost`` included); False for public addresses and for names."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return not addr.is_global or addr.is_multicast


class Deadline:
    """The one deadline of a fetch, and where the fetch is (for the error when it passes)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.phase = "connect"
        self.step = "connect"
        self.host = ""
        # Set while following a redirect away from a public origin: a name that resolves to
        # a loopback or private address is then refused at connect time.
        self.forbid_private = False

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def clamp(self, timeout: float | None, *, connect: bool = False) -> float:
        """``timeout`` cut to the time left; raises a timeout when none is left."""
        left = self.remaining()
        if left <= 0:
            raise (httpcore.ConnectTimeout if connect else httpcore.ReadTimeout)(
                "the fetch deadline passed"
            )
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every operation ends by the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._deadline.step in ("request", "connect", "tls"):
            self._deadline.step = "headers"
        return self._inner.read(max_bytes, self._deadline.clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._deadline.step in ("connect", "tls"):
            self._deadline.step = "request"
        self._inner.write(buffer, self._deadline.clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        self._deadline.step = "tls"
        # CPython bounds the whole handshake by the socket timeout, not each read.
        inner = self._inner.start_tls(
            ssl_context, server_hostname, self._deadline.clamp(timeout, connect=True)
        )
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


def _resolve(host: str, port: int, deadline: Deadline) -> list[str]:
    """Resolve ``host`` within the deadline (getaddrinfo itself cannot be interrupted, so it
    runs on a daemon thread that is abandoned if the deadline passes first)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return [host.strip("[]")]
    except ValueError:
        pass
    result: list[str] = []
    failure: list[BaseException] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            result.extend(str(info[4][0]) for info in infos)
        except OSError as exc:
            failure.append(exc)

    worker = threading.Thread(target=lookup, name="wassette-dns", daemon=True)
    worker.start()
    worker.join(deadline.clamp(None, connect=True))
    if worker.is_alive():
        raise httpcore.ConnectTimeout("name resolution did not finish before the deadline")
    if failure or not result:
        raise httpcore.ConnectError(f"cannot resolve {host}")
    return list(dict.fromkeys(result))


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend with DNS, connect and every stream operation under a deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        deadline = self._deadline
        deadline.host = f"{host}:{port}"
        deadline.step = "dns"
        addresses = _resolve(host, port, deadline)
        if deadline.forbid_private and any(is_private_address(a) for a in addresses):
            raise httpcore.ConnectError(f"{host} resolves to a loopback or private address")
        deadline.step = "connect"
        last: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    deadline.clamp(timeout, connect=True),
                    local_address,
                    socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                if deadline.expired():
                    break
                continue
            return _DeadlineStream(stream, deadline)
        assert last is not None
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:  # pragma: no cover - never configured
        raise httpcore.ConnectError("unix sockets are not used for component sources")

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self._deadline.remaining())))


def make_client(options: FetchOptions, deadline: Deadline | None = None) -> httpx.Client:
    """An httpx client with our timeouts, TLS trust and deadline, and no environment-driven
    settings."""
    verify: ssl.SSLContext | bool = True
    if options.ca_file is not None:
        try:
            verify = ssl.create_default_context(cafile=str(options.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(
                f"cannot use CA bundle {options.ca_file}",
                why=type(exc).__name__,
                fix="point SSL_CERT_FILE at a readable PEM file of CA certificates",
            ) from None
    timeout = httpx.Timeout(
        connect=options.connect_timeout,
        read=options.read_timeout,
        write=options.read_timeout,
        pool=options.connect_timeout,
    )
    transport = httpx.HTTPTransport(verify=verify, trust_env=False, proxy=options.proxy)
    if deadline is not None:
        # The one place httpx's transport internals are touched: its connection pool (or
        # proxy pool) takes our deadline backend for every socket it opens.
        transport._pool._network_backend = _DeadlineBackend(deadline)
    return httpx.Client(
        transport=transport,
        timeout=timeout,
        trust_env=False,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def deadline_error(what: str, deadline: Deadline) -> SourceUnreachableError:
    """The error for a fetch that ran out of time: host, phase and step named."""
    where = deadline.host or what
    return SourceUnreachableError(
        f"{what} did not finish in time: stalled at {where} in the {deadline.phase} phase "
        f"(step: {deadline.step})",
        why=f"a whole fetch must finish within {deadline.seconds:g} s",
        fix="retry later; if the server is only slow, raise the limit with --timeout, "
        "WASSETTE_FETCH_TIMEOUT or fetch_timeout in the config",
    )


def _describe_transport_error(  # noqa: PLR0911 - one answer per kind of failure
    exc: httpx.TransportError, what: str, deadline: Deadline | None = None
) -> ComponentSourceError:
    """Translate an httpx transport failure into one of our errors (never echoing secrets)."""
    if deadline is not None and isinstance(exc, httpx.TimeoutException) and deadline.expired():
        return deadline_error(what, deadline)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return SourceUnreachableError(
                f"TLS certificate of {what} is not trusted",
                why=str(cause.verify_message or "certificate verification failed"),
                fix="if the server uses a private CA, set SSL_CERT_FILE to its CA bundle",
            )
        if isinstance(cause, ssl.SSLError):
            return SourceUnreachableError(
                f"TLS handshake with {what} failed",
                why=str(cause.reason or cause),
                fix="check that the server speaks https on that port",
            )
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.TimeoutException):
        return SourceUnreachableError(
            f"{what} did not answer in time",
            why=f"{type(exc).__name__}",
            fix="check the address and your network, or retry later",
        )
    if isinstance(exc, httpx.ConnectError):
        return SourceUnreachableError(
            f"cannot connect to {what}",
            why=str(exc) or "connection failed",
            fix="check the host and port, and that the server is running",
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ComponentSourceError(f"invalid URL for {what}", why=str(exc))
    return SourceUnreachableError(
        f"the connection to {what} failed",
        why=f"{type(exc).__name__}: {exc}",
        fix="retry; if it persists, check the server",
    )


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def refuse_private_redirect(target: httpx.URL, what: str) -> None:
    """Refuse a redirect (from a remote origin) whose host is a loopback or private address."""
    if is_private_address(target.host):
        raise ComponentSourceError(
            f"{what} redirected to a loopback or private address",
            why="a remote server may not send us to this machine or its local network "
            "(that reaches services it could not reach itself)",
            fix="use a source that serves its content from public addresses",
        )


class HttpSession:
    """A client plus the rules for plain http and redirects, for one fetch."""

    def __init__(
        self,
        options: FetchOptions,
        *,
        allow_plain_http: Callable[[httpx.URL], bool],
        what: str,
    ) -> None:
        self.options = options
        self.allow_plain_http = allow_plain_http
        self.what = what
        self.deadline = Deadline(options.total_timeout)
        self.client = make_client(options, self.deadline)

    def _error(self, exc: httpx.TransportError) -> ComponentSourceError:
        return _describe_transport_error(exc, self.what, self.deadline)

    def check_deadline(self) -> None:
        """Raise the deadline error if the fetch is out of time (between operations)."""
        if self.deadline.expired():
            raise deadline_error(self.what, self.deadline)

    def close(self) -> None:
        """Close the underlying connection pool."""
        self.client.close()

    def check_scheme(self, url: httpx.URL) -> None:
        """Refuse anything but https, or http where ``allow_plain_http`` says so."""
        if url.scheme == "https":
            return
        if url.scheme == "http" and self.allow_plain_http(url):
            return
        raise ComponentSourceError(
            f"refusing to fetch {url.scheme}://{url.host} over an insecure connection",
            why="plain http is only allowed to loopback addresses (or an explicitly insecure "
            "registry)",
            fix="use https",
        )

    @contextmanager
    def open(
        self,
        url: str | httpx.URL,
        *,
        headers: dict[str, str] | None = None,
        method: str = "GET",
        phase: str = "download",
    ) -> Iterator[httpx.Response]:
        """Send a request and yield the streaming response, following redirects safely.

        ``headers`` (which may carry credentials) go only to the first request's origin. A
        redirect from a remote (public) origin to a loopback or private address is refused.
        ``phase`` names this request in a deadline error.
        """
        current = httpx.URL(url)
        first_origin = _origin(current)
        remote = not is_private_address(current.host)
        response: httpx.Response | None = None
        self.deadline.phase = phase
        try:
            for hop in range(MAX_REDIRECTS + 1):
                self.check_scheme(current)
                if hop and remote:
                    refuse_private_redirect(current, self.what)
                self.deadline.forbid_private = bool(hop and remote and self.options.proxy is None)
                sent = dict(headers or {}) if _origin(current) == first_origin else {}
                request = self.client.build_request(method, current, headers=sent)
                self.deadline.step = "connect"
                self.deadline.host = f"{current.host}:{current.port or _default_port(current)}"
                try:
                    response = self.client.send(request, stream=True)
                except httpx.TransportError as exc:
                    raise self._error(exc) from None
                finally:
                    self.deadline.forbid_private = False
                self.deadline.step = "body"
                if response.status_code not in _REDIRECTS:
                    break
                location = response.headers.get("Location")
                response.close()
                response = None
                if not location:
                    raise ComponentSourceError(
                        f"{self.what} sent a redirect without a Location", fix="check the URL"
                    )
                current = current.join(location)
            else:
                raise ComponentSourceError(
                    f"too many redirects from {self.what}",
                    why=f"more than {MAX_REDIRECTS}",
                    fix="check the URL",
                )
            assert response is not None
            yield response
        finally:
            if response is not None:
                response.close()

    def speaks_tls(self, url: str) -> bool:
        """Whether ``url`` (an https URL) completes a TLS handshake and answers HTTP.

        False only when the server answers the handshake with something that is not TLS
        (a plain-http server on that port). A certificate that fails verification, a refused
        connection or a timeout raise as usual: never a reason to fall back to plain http.
        """
        self.deadline.phase = "probe"
        self.deadline.step = "connect"
        try:
            response = self.client.send(self.client.build_request("GET", url), stream=True)
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError) as exc:
            cause: BaseException | None = exc
            while cause is not None:
                if isinstance(cause, ssl.SSLCertVerificationError):
                    break
                if isinstance(cause, ssl.SSLError):
                    return False
                cause = cause.__cause__ or cause.__context__
            raise self._error(exc) from None
        except httpx.TransportError as exc:
            raise self._error(exc) from None
        response.close()
        return True

    def read_body(self, response: httpx.Response, limit: int) -> bytes:
        """Read a whole (small) response body, refusing more than ``limit`` bytes."""
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > limit:
                    raise ComponentSourceError(
                        f"response from {self.what} is too large",
                        why=f"more than {limit} bytes",
                        fix="check the URL",
                    )
                chunks.append(chunk)
        except httpx.TransportError as exc:
            raise self._error(exc) from None
        return b"".join(chunks)

    def stream_into(self, response: httpx.Response, writer: StagingWriter) -> None:
        """Copy a response body into a staging writer, mapping transport errors."""
        try:
            for chunk in response.iter_bytes(chunk_size=1 << 16):
                writer.write(chunk)
        except httpx.TransportError as exc:
            raise self._error(exc) from None
