"""Small real servers on 127.0.0.1 for source tests: an https file server with a trustme CA,
and a Bearer-token front for a registry (the flow ghcr.io and Docker Hub use)."""

from __future__ import annotations

import base64
import secrets
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import trustme


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def _serve(server: _Server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


class TlsFileServer:
    """HTTPS on 127.0.0.1 with a cert from a private trustme CA.

    Routes: ``/f/<name>`` serves ``files[name]`` with a Content-Length; ``/chunked/<name>``
    the same without one; ``/redirect?to=<url>`` a 302; ``/status/<code>`` an empty answer.
    """

    def __init__(self, tmp: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = tmp / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        files, seen = self.files, self.requests

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                seen.append(self.path)
                parts = urlsplit(self.path)
                kind, _, name = parts.path.lstrip("/").partition("/")
                if kind == "f" and name in files:
                    body = files[name]
                    self._send(200, body, {"Content-Length": str(len(body))})
                elif kind == "chunked" and name in files:
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    body = files[name]
                    for i in range(0, len(body), 1 << 16):
                        chunk = body[i : i + (1 << 16)]
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                elif kind == "redirect":
                    target = parse_qs(parts.query)["to"][0]
                    self._send(302, b"", {"Location": target, "Content-Length": "0"})
                elif kind == "status":
                    self._send(int(name), b"", {"Content-Length": "0"})
                else:
                    self._send(404, b"", {"Content-Length": "0"})

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = f"https://127.0.0.1:{self.port}"
        self.thread = _serve(self.server)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TokenFront:
    """A Bearer-token registry front: ``/token`` issues tokens, ``/v2/...`` forwards to
    ``backend`` only with a valid token. ``users`` None = anonymous tokens are fine.

    Records the scopes asked for and the Authorization headers seen on ``/v2`` requests.
    """

    def __init__(
        self,
        backend: str,
        users: dict[str, str] | None = None,
        realm: Callable[[int], str] | None = None,
        blob_redirect: str | None = None,
    ) -> None:
        self.tokens: set[str] = set()
        self.scopes: list[str] = []
        self.v2_auth: list[str | None] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _plain(self, code: int, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/token":
                    query = parse_qs(parts.query)
                    front.scopes.extend(query.get("scope", []))
                    if users is not None:
                        header = self.headers.get("Authorization", "")
                        ok = False
                        if header.startswith("Basic "):
                            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
                            ok = users.get(user) == pw
                        if not ok:
                            self._plain(401)
                            return
                    token = secrets.token_hex(16)
                    front.tokens.add(token)
                    body = f'{{"token": "{token}", "expires_in": 300}}'.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                header = self.headers.get("Authorization")
                front.v2_auth.append(header)
                if not header or header.removeprefix("Bearer ") not in front.tokens:
                    realm_url = (
                        realm(front.port) if realm else f"http://127.0.0.1:{front.port}/token"
                    )
                    repo = parts.path.split("/")[2:4]
                    challenge = (
                        f'Bearer realm="{realm_url}",service="wassette-test",'
                        f'scope="repository:{"/".join(repo)}:pull"'
                    )
                    self._plain(401, {"WWW-Authenticate": challenge})
                    return
                if blob_redirect and "/blobs/" in parts.path:
                    # Like registries that hand blobs to a CDN on another origin.
                    self._plain(307, {"Location": blob_redirect + self.path})
                    return
                accept = self.headers.get("Accept")
                with httpx.Client(trust_env=False, timeout=30) as client:
                    resp = client.get(
                        backend + self.path, headers={"Accept": accept} if accept else {}
                    )
                self.send_response(resp.status_code)
                for name in ("Content-Type", "Docker-Content-Digest", "Location"):
                    if name in resp.headers:
                        self.send_header(name, resp.headers[name])
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = _serve(self.server)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RecordingProxy:
    """Plain http on 127.0.0.1 forwarding GETs to ``backend``; records each request's headers."""

    def __init__(self, backend: str) -> None:
        self.seen: list[dict[str, str]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                seen.append({k.lower(): v for k, v in self.headers.items()})
                with httpx.Client(trust_env=False, timeout=30) as client:
                    resp = client.get(backend + self.path)
                self.send_response(resp.status_code)
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = _serve(self.server)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeRegistry:
    """Plain http on 127.0.0.1 answering GETs from ``routes`` {path: (status, headers, body)}.

    For feeding the client hostile manifests and answers a real registry would not produce.
    """

    def __init__(self, bind: str = "127.0.0.1") -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, headers, body = routes.get(urlsplit(self.path).path, (404, {}, b""))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = _Server((bind, 0), Handler)
        self.host = f"{bind}:{self.server.server_address[1]}"
        self.thread = _serve(self.server)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
