"""``https://`` URIs: a component file on a web server.

TLS is always verified (``FetchOptions.ca_file`` replaces the default CA bundle; the CLI passes
``$SSL_CERT_FILE``). Plain ``http://`` is refused. The body streams into a staged file under a
size limit and an overall deadline; ``FetchOptions.digest`` pins its sha256. The id is the last
path segment without ``.wasm`` (``https://h/p/weather.wasm`` -> ``weather``).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import httpx

from wassette.components.sources._http import HttpSession
from wassette.components.sources.base import (
    DerivedId,
    Fetched,
    FetchOptions,
    Source,
    StagingWriter,
    sanitize_component_id,
    size_error,
    verify_pin,
)
from wassette.errors import ComponentSourceError, SourceAuthError, SourceNotFoundError, UsageError


class HttpsSource(Source):
    """A component downloaded over https."""

    scheme = "https"

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parts = urlsplit(uri)
        if parts.scheme.lower() != "https" or not parts.hostname:
            raise UsageError(
                f"invalid https URI {uri[:80]!a}",
                why="it needs the form https://host/path/name.wasm",
                fix="check the URI",
            )
        segment = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) if parts.path else ""
        if not segment:
            raise UsageError(
                f"cannot derive a component id from {uri[:80]!a}",
                why="the URL path has no file name",
                fix="use a URL ending in the component's file name, e.g. .../weather.wasm",
            )
        if parts.username is not None or parts.password is not None:
            raise UsageError(
                "refusing an https URI with credentials in it",
                why="user:password@ in a URL ends up in shell history, logs and process lists",
                fix="use a public URL, or download the file yourself and load it from a path",
            )
        stem = segment[: -len(".wasm")] if segment.lower().endswith(".wasm") else segment
        self._derived = sanitize_component_id(stem, uri=uri)
        self.host = parts.hostname
        # Shown in messages: no query string or fragment, which may carry signed-URL tokens.
        self.display = f"https://{parts.netloc}{parts.path}"

    @property
    def derived_id(self) -> DerivedId:
        """The last path segment without ``.wasm`` (docs/spec.md section 4)."""
        return self._derived

    def fetch(self, options: FetchOptions) -> Fetched:
        """Download into a staged file, verifying TLS, size, wasm magic and any digest pin."""
        what = f"https://{self.host}"
        session = HttpSession(options, allow_plain_http=lambda _url: False, what=what)
        deadline = session.deadline.at
        writer: StagingWriter | None = None
        done = False
        try:
            with session.open(self.uri, headers={"Accept": "application/wasm, */*"}) as resp:
                _check_status(resp, self.display)
                declared = _content_length(resp)
                if declared is not None and declared > options.max_size:
                    raise size_error(self.display, options.max_size, declared)
                writer = StagingWriter(
                    what=self.display,
                    max_size=options.max_size,
                    temp_dir=options.temp_dir,
                    progress=options.progress,
                    progress_total=declared,
                    deadline=deadline,
                )
                session.stream_into(resp, writer)
            digest = writer.finish()
            verify_pin(digest, options.digest, what=self.display, path=writer.path)
            fetched = Fetched(
                component_id=self.component_id,
                source_uri=self.uri,
                wasm_path=writer.path,
                digest=digest,
                size=writer.size,
                id_note=self._derived.note,
                owned=True,
            )
            done = True
            return fetched
        finally:
            session.close()
            if writer is not None and not done:
                writer.discard()


def _content_length(resp: httpx.Response) -> int | None:
    value = resp.headers.get("Content-Length")
    if value is None or resp.headers.get("Content-Encoding"):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _check_status(resp: httpx.Response, uri: str) -> None:
    """Turn a non-200 answer into a clear error."""
    code = resp.status_code
    if code == 200:
        return
    if code in {404, 410}:
        raise SourceNotFoundError(f"{uri} was not found", why=f"HTTP {code}", fix="check the URL")
    if code in (401, 403):
        raise SourceAuthError(
            f"{uri} refused the download",
            why=f"HTTP {code}",
            fix="https sources are fetched anonymously: use a public URL, or download the "
            "file yourself and load it from a path",
        )
    raise ComponentSourceError(
        f"{uri} could not be downloaded",
        why=f"HTTP {code} {resp.reason_phrase}".rstrip(),
        fix="check the URL, or retry later",
    )
