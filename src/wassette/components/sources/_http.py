"""The HTTP plumbing shared by the https and OCI sources (the only importer of httpx).

One client per fetch: TLS verified (with an explicit CA bundle when given), no proxy or CA
settings picked up from the environment behind our back (``trust_env=False``: the CLI passes
them explicitly), and redirects followed by hand so that a redirect can never downgrade to
plain http, and credentials are never sent to another origin.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata

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


def make_client(options: FetchOptions) -> httpx.Client:
    """An httpx client with our timeouts and TLS trust, and no environment-driven settings."""
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
    return httpx.Client(
        verify=verify,
        timeout=timeout,
        trust_env=False,
        follow_redirects=False,
        proxy=options.proxy,
        headers={"User-Agent": USER_AGENT},
    )


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _describe_transport_error(exc: httpx.TransportError, what: str) -> ComponentSourceError:
    """Translate an httpx transport failure into one of our errors (never echoing secrets)."""
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
        self.client = make_client(options)

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
    ) -> Iterator[httpx.Response]:
        """Send a request and yield the streaming response, following redirects safely.

        ``headers`` (which may carry credentials) go only to the first request's origin.
        """
        current = httpx.URL(url)
        first_origin = _origin(current)
        response: httpx.Response | None = None
        try:
            for _ in range(MAX_REDIRECTS + 1):
                self.check_scheme(current)
                sent = dict(headers or {}) if _origin(current) == first_origin else {}
                request = self.client.build_request(method, current, headers=sent)
                try:
                    response = self.client.send(request, stream=True)
                except httpx.TransportError as exc:
                    raise _describe_transport_error(exc, self.what) from None
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
            raise _describe_transport_error(exc, self.what) from None
        except httpx.TransportError as exc:
            raise _describe_transport_error(exc, self.what) from None
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
            raise _describe_transport_error(exc, self.what) from None
        return b"".join(chunks)

    def stream_into(self, response: httpx.Response, writer: StagingWriter) -> None:
        """Copy a response body into a staging writer, mapping transport errors."""
        try:
            for chunk in response.iter_bytes(chunk_size=1 << 16):
                writer.write(chunk)
        except httpx.TransportError as exc:
            raise _describe_transport_error(exc, self.what) from None
