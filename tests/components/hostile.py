"""Hostile servers on 127.0.0.1 for source tests.

- :class:`HeaderLogger`: a "registry" that answers every request with 401 and a Basic (or
  Bearer, realm on itself) challenge, logging every Authorization header it is sent.
- :class:`Slowloris`: a raw TCP server that stalls one chosen phase of a fetch (response
  headers, token, manifest, blob body, TLS handshake) by sending one byte per ``drip`` seconds,
  so a client that only bounds each read would wait forever.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.components.servers import _serve, _Server


class HeaderLogger:
    """401 to everything; ``seen`` holds every request's Authorization header (or None)."""

    def __init__(self, scheme: str = "basic") -> None:
        self.seen: list[str | None] = []
        self.paths: list[str] = []
        seen, paths = self.seen, self.paths
        holder: dict[str, str] = {}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                seen.append(self.headers.get("Authorization"))
                paths.append(self.path)
                if scheme == "basic":
                    challenge = 'Basic realm="hostile"'
                else:
                    challenge = f'Bearer realm="{holder["url"]}/token",service="hostile"'
                self.send_response(401)
                self.send_header("WWW-Authenticate", challenge)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        holder["url"] = f"http://{self.host}"
        self.thread = _serve(self.server)

    def credentials_seen(self) -> list[str]:
        return [h for h in self.seen if h]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _manifest(wasm: bytes) -> bytes:
    digest = "sha256:" + hashlib.sha256(wasm).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.wasm.content.layer.v1+wasm",
                    "digest": digest,
                    "size": len(wasm),
                }
            ],
        }
    ).encode()


class Slowloris:
    """Stalls ``phase`` of a fetch: ``headers`` (https file or registry), ``token``,
    ``manifest``, ``blob``, ``tls`` (the handshake) or ``https-body``.

    Plain http (so loopback OCI works) except ``tls``/``https-*``, which wrap the socket in
    TLS with ``tls_context`` (``tls`` never completes the handshake: it drips garbage).
    Connections are served on threads; ``close()`` stops everything.
    """

    WASM = b"\0asm\x0d\x00\x01\x00" + b"\0" * 64

    def __init__(
        self, phase: str, drip: float = 0.5, tls_context: ssl.SSLContext | None = None
    ) -> None:
        self.phase = phase
        self.drip = drip
        self.tls_context = tls_context
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.stopped = threading.Event()
        self.connections = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket, data: bytes) -> None:
        """Send ``data`` one byte per ``drip`` seconds, forever if it runs out."""
        i = 0
        while not self.stopped.is_set():
            conn.sendall(data[i % len(data) : i % len(data) + 1])
            i += 1
            time.sleep(self.drip)

    def _read_request(self, conn: socket.socket) -> str:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n", 1)[0].decode("latin-1")

    def _handle(self, raw: socket.socket) -> None:
        conn: socket.socket = raw
        try:
            if self.phase == "tls":
                # Accept TCP, then answer the ClientHello one useless byte at a time.
                # A valid record header promising 16 KiB of handshake, then the body dripped.
                self._drip(raw, b"\x16\x03\x03\x40\x00" + b"\x00" * 16384)
                return
            if self.tls_context is not None:
                conn = self.tls_context.wrap_socket(raw, server_side=True)
            elif raw.recv(1, socket.MSG_PEEK) == b"\x16":
                # A TLS probe to this plain server: answer like one (not TLS), promptly.
                raw.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                return
            while not self.stopped.is_set():
                line = self._read_request(conn)
                if not line:
                    return
                self._answer(conn, line.split(" ")[1] if " " in line else "/")
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _send(self, conn: socket.socket, status: str, headers: dict[str, str], body: bytes) -> None:
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        conn.sendall(head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    def _answer(self, conn: socket.socket, path: str) -> None:  # noqa: PLR0911 - one per phase
        phase = self.phase
        if phase in ("headers", "https-headers"):
            self._drip(conn, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100)
            return
        if phase == "https-body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + self.WASM[:8])
            self._drip(conn, b"\0")
            return
        if path.startswith("/token"):
            # Only the token phase stalls here.
            self._drip(conn, b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"token":"')
            return
        if path == "/v2/" or "/manifests/" in path:
            if phase == "token":
                realm = f"http://{self.host}/token"
                self._send(
                    conn,
                    "401 Unauthorized",
                    {"WWW-Authenticate": f'Bearer realm="{realm}",service="slow"'},
                    b"",
                )
                return
            if phase == "manifest" and "/manifests/" in path:
                body = _manifest(self.WASM)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1"
                    b"+json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                )
                self._drip(conn, body)
                return
            self._send(
                conn,
                "200 OK",
                {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
                _manifest(self.WASM) if "/manifests/" in path else b"{}",
            )
            return
        if "/blobs/" in path:
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Length: "
                + str(len(self.WASM)).encode()
                + b"\r\n\r\n"
                + self.WASM[:4]
            )
            self._drip(conn, self.WASM[4:])
            return
        self._send(conn, "404 Not Found", {}, b"")

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


def tls_context_for(tmp: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a trustme cert for 127.0.0.1, and the CA file to trust it."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    ca_file = tmp / "slow-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return ctx, ca_file
