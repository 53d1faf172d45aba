"""``oci://registry/repo[:tag|@sha256:...]``: a component pushed to an OCI registry.

A small client for the OCI distribution API (``/v2/<repo>/manifests|blobs``) on httpx:

- auth (:mod:`~wassette.components.sources.oci_auth`): anonymous first; on a 401 it follows
  the ``WWW-Authenticate`` challenge, either the Bearer token flow or plain Basic auth.
  Credentials come from ``FetchOptions.credentials`` (the CLI fills them from
  ``WASSETTE_OCI_USERNAME``/``WASSETTE_OCI_PASSWORD``) or else the ``auths`` entry of
  ``~/.docker/config.json`` for that registry. A password never appears in a message.
- integrity: the manifest is hashed and checked against the digest in the reference (or the
  registry's ``Docker-Content-Digest``), every blob against its descriptor's digest and size;
  anything that does not match is refused (:class:`~wassette.errors.SourceIntegrityError`).
- layers: exactly one wasm layer (``application/vnd.wasm.content.layer.v1+wasm`` or
  ``application/wasm``) and at most one policy layer (``application/vnd.wassette.policy+yaml``).
- transport: https first; plain http only to a loopback registry (127.0.0.0/8, ::1, localhost)
  or with ``FetchOptions.insecure``, and then only when its port does not speak TLS at all (a
  certificate that fails verification is an error, never a reason to downgrade);
  connect/read timeouts, an overall deadline and a size limit.

The component id is the repository path with ``/`` -> ``_``, registry and tag dropped
(``oci://ghcr.io/microsoft/time-server-js:1.0`` -> ``microsoft_time-server-js``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from wassette import fsutil
from wassette.components.sources._http import HttpSession, is_loopback_host
from wassette.components.sources.base import (
    MAX_POLICY_SIZE,
    DerivedId,
    Fetched,
    FetchOptions,
    Source,
    StagingWriter,
    parse_digest,
    sanitize_component_id,
    size_error,
    verify_pin,
)
from wassette.components.sources.oci_auth import (
    RegistryAuth,
    credentials_from_docker_config,
    docker_config_path,
    parse_challenge,
)
from wassette.errors import (
    ComponentSourceError,
    SourceIntegrityError,
    SourceNotFoundError,
    UsageError,
)

_T = TypeVar("_T")

# Re-exported: callers and tests reach the Docker-config and challenge helpers from here.
__all__ = [
    "OciReference",
    "OciSource",
    "credentials_from_docker_config",
    "docker_config_path",
    "parse_challenge",
]

WASM_LAYER_TYPES = frozenset({"application/vnd.wasm.content.layer.v1+wasm", "application/wasm"})
POLICY_LAYER_TYPE = "application/vnd.wassette.policy+yaml"
WASM_CONFIG_TYPE = "application/vnd.wasm.config.v0+json"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))
_INDEX_TYPES = {OCI_INDEX, DOCKER_LIST}
#: Registries refuse manifests over 4 MiB; so do we.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

# The distribution spec's grammar (reference.go), lowercase path components.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)


@dataclass(frozen=True)
class OciReference:
    """A parsed ``oci://`` reference. ``digest`` wins over ``tag`` when both are given."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, uri: str) -> OciReference:
        """Parse ``oci://[registry/]repo[:tag][@digest]`` (Docker's rules for the registry)."""
        shown = f"{uri[:100]!a}"
        if not uri.lower().startswith("oci://"):
            raise UsageError(f"not an oci:// reference: {shown}")
        rest = uri[len("oci://") :]
        digest = None
        if "@" in rest:
            rest, _, digest_text = rest.partition("@")
            algo, hexdigest = parse_digest(digest_text)
            digest = f"{algo}:{hexdigest}"
        first, slash, remainder = rest.partition("/")
        # Docker's rule: the first component is a registry if it has a '.', a ':' or is
        # 'localhost'; otherwise the reference is on Docker Hub.
        if slash and ("." in first or ":" in first or first == "localhost" or first[:1] == "["):
            registry, path = first, remainder
        else:
            registry, path = DOCKER_HUB, rest
        tag = None
        if ":" in path.rsplit("/", 1)[-1]:
            path, _, tag = path.rpartition(":")
        if registry == DOCKER_HUB and "/" not in path:
            path = f"library/{path}"
        problems = []
        if not _HOST.fullmatch(registry):
            problems.append(f"registry {registry!a} is not a host[:port]")
        if not _REPOSITORY.fullmatch(path):
            problems.append(
                f"repository {path[:100]!a} must be lowercase letters, digits and "
                "separators (. _ - /)"
            )
        if tag is not None and not _TAG.fullmatch(tag):
            problems.append(f"tag {tag[:100]!a} is not valid")
        if problems:
            raise UsageError(
                f"invalid OCI reference {shown}",
                why="; ".join(problems),
                fix="use oci://registry/repository[:tag|@sha256:<digest>], e.g. "
                "oci://ghcr.io/microsoft/time-server-js:latest",
            )
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry=registry, repository=path, tag=tag, digest=digest)

    @property
    def host(self) -> str:
        """The registry host without port or brackets."""
        host = self.registry
        if host.startswith("["):
            return host[1 : host.index("]")]
        return host.rsplit(":", 1)[0] if ":" in host else host

    @property
    def api_registry(self) -> str:
        """The host[:port] serving the API (Docker Hub's API lives elsewhere)."""
        return DOCKER_HUB_API if self.registry in (DOCKER_HUB, "index.docker.io") else self.registry

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest if known, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = f"oci://{self.registry}/{self.repository}"
        if self.tag and not self.digest:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


class OciSource(Source):
    """A component stored as an OCI artifact."""

    scheme = "oci"

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self.ref = OciReference.parse(uri)
        raw = self.ref.repository.replace("/", "_")
        self._derived = sanitize_component_id(raw, uri=uri)

    @property
    def derived_id(self) -> DerivedId:
        """Repository path with ``/`` -> ``_`` (docs/spec.md section 4)."""
        return self._derived

    def fetch(self, options: FetchOptions) -> Fetched:
        """Pull manifest, wasm layer and optional policy layer, verifying every digest."""
        client = _RegistryClient(self.ref, options)
        try:
            return client.pull(self._derived, self.uri)
        finally:
            client.close()


class _RegistryClient:
    """One pull from one repository: auth state, scheme and deadline."""

    def __init__(self, ref: OciReference, options: FetchOptions) -> None:
        self.ref = ref
        self.options = options
        # https always comes first; a loopback (or explicitly insecure) registry whose port
        # does not speak TLS at all is then used over plain http, as Docker does.
        self.may_use_http = is_loopback_host(ref.host) or options.insecure
        self.base = f"https://{ref.api_registry}"
        self._scheme_known = not self.may_use_http
        self.what = f"registry {ref.registry}"
        self.session = HttpSession(options, allow_plain_http=self._http_allowed, what=self.what)
        self.deadline = self.session.deadline.at
        self.auth = RegistryAuth(ref, options, self.session, self.what)

    def close(self) -> None:
        self.session.close()

    def _http_allowed(self, url: httpx.URL) -> bool:
        return self.options.insecure or is_loopback_host(url.host)

    # ---- requests -------------------------------------------------------------------------

    def _get(
        self,
        path: str,
        accept: str | None,
        on_response: Callable[[httpx.Response], _T],
        *,
        phase: str,
    ) -> _T:
        """GET ``base + path`` with auth (one challenge round), then ``on_response(resp)``."""
        if not self._scheme_known:
            if not self.session.speaks_tls(f"{self.base}/v2/"):
                self.base = f"http://{self.ref.api_registry}"
            self._scheme_known = True
        url = f"{self.base}{path}"
        for attempt in range(2):
            headers = {"Accept": accept} if accept else {}
            if self.auth.header:
                headers["Authorization"] = self.auth.header
            with self.session.open(url, headers=headers, phase=phase) as resp:
                challenge = resp.headers.get("WWW-Authenticate", "")
                if resp.status_code == 401 and attempt == 0 and challenge:
                    # First contact, or a token that no longer fits (expired, other scope):
                    # answer the challenge once, then give up on a second 401.
                    self.auth.answer(challenge)
                    continue
                if resp.status_code in (401, 403):
                    raise self.auth.failed(
                        resp.status_code, had_credentials=self.auth.credentials() is not None
                    )
                return on_response(resp)
        raise self.auth.failed(401, had_credentials=self.auth.credentials() is not None)

    def _not_found(self, resp: httpx.Response, what: str) -> SourceNotFoundError | None:
        if resp.status_code != 404:
            return None
        return SourceNotFoundError(
            f"{what} not found in {self.ref.registry}/{self.ref.repository}",
            why="HTTP 404 (the repository, tag or digest does not exist)",
            fix="check the reference; list the repository's tags with your registry's tools",
        )

    def _unexpected(self, resp: httpx.Response, what: str) -> ComponentSourceError:
        return ComponentSourceError(
            f"{self.what} could not serve {what}",
            why=f"HTTP {resp.status_code} {resp.reason_phrase}".rstrip(),
            fix="retry later, or check the registry",
        )

    def get_manifest(self, reference: str) -> tuple[dict[str, Any], str]:
        """Fetch and verify one manifest; return (parsed, its sha256 digest)."""
        label = f"manifest {reference}"

        def handle(resp: httpx.Response) -> tuple[bytes, str | None]:
            missing = self._not_found(resp, label)
            if missing:
                raise missing
            if resp.status_code != 200:
                raise self._unexpected(resp, label)
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_MANIFEST_SIZE:
                raise size_error(label, MAX_MANIFEST_SIZE, int(declared))
            body = self.session.read_body(resp, MAX_MANIFEST_SIZE)
            return body, resp.headers.get("Docker-Content-Digest")

        body, header_digest = self._get(
            f"/v2/{self.ref.repository}/manifests/{reference}", _ACCEPT, handle, phase="manifest"
        )
        # Verify against what we asked for (a digest reference), else what the registry claims.
        expected = reference if reference.startswith(("sha256:", "sha512:")) else header_digest
        if expected:
            try:
                algo, hexdigest = parse_digest(expected)
            except UsageError:
                raise ComponentSourceError(
                    f"{self.what} sent an invalid digest for the {label}",
                    why=f"Docker-Content-Digest: {expected[:80]!a}",
                    fix="check the registry",
                ) from None
            actual = hashlib.new(algo, body).hexdigest()
            if actual != hexdigest:
                raise SourceIntegrityError(
                    f"the {label} from {self.ref.registry} does not match its digest",
                    why=f"expected {algo}:{hexdigest}, got {algo}:{actual}",
                    fix="the registry or something between served altered content: do not use it",
                )
        try:
            manifest = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            manifest = None
        if not isinstance(manifest, dict):
            raise ComponentSourceError(
                f"the {label} from {self.ref.registry} is not a JSON object",
                fix="check that the reference names an OCI artifact",
            )
        return manifest, f"sha256:{hashlib.sha256(body).hexdigest()}"

    def _descriptor(self, raw: object, what: str) -> tuple[str, str, int]:
        if not isinstance(raw, dict):
            raise ComponentSourceError(f"a {what} descriptor in the manifest is malformed")
        media, digest, size = raw.get("mediaType"), raw.get("digest"), raw.get("size")
        valid_size = isinstance(size, int) and not isinstance(size, bool) and size >= 0
        if not isinstance(digest, str) or not valid_size:
            raise ComponentSourceError(
                f"a {what} descriptor in the manifest is malformed",
                why="it needs a digest string and a non-negative size",
            )
        try:
            algo, hexdigest = parse_digest(digest)
        except UsageError:
            raise ComponentSourceError(
                f"a {what} descriptor in the manifest has an invalid digest",
                why=f"{digest[:80]!a} is not sha256:<64 hex> or sha512:<128 hex>",
                fix="the artifact was pushed incorrectly: re-push it",
            ) from None
        assert isinstance(size, int)
        return (media if isinstance(media, str) else ""), f"{algo}:{hexdigest}", size

    def _pick_from_index(self, index: dict[str, Any]) -> str:
        entries = index.get("manifests")
        if not isinstance(entries, list) or not entries:
            raise ComponentSourceError(f"the image index for {self.ref} lists no manifests")
        wasm = []
        for entry in entries:
            platform = entry.get("platform") if isinstance(entry, dict) else None
            if isinstance(platform, dict) and (
                platform.get("architecture") == "wasm"
                or str(platform.get("os", "")).startswith("wasi")
            ):
                wasm.append(entry)
        chosen = wasm if wasm else entries
        if len(chosen) != 1:
            raise ComponentSourceError(
                f"the image index for {self.ref} has {len(chosen)} candidate manifests",
                why="cannot tell which one holds the component",
                fix="load the component's manifest by digest (oci://...@sha256:...)",
            )
        _, digest, _ = self._descriptor(chosen[0], "manifest")
        return digest

    def download_blob(
        self, digest: str, size: int, what: str, *, max_size: int, check_magic: bool
    ) -> StagingWriter:
        """Stream one blob into a staged file, verifying size and digest."""
        if size > max_size:
            raise size_error(what, max_size, size)
        writer = StagingWriter(
            what=what,
            max_size=max_size,
            temp_dir=self.options.temp_dir,
            expected_size=size,
            expected_digest=digest,
            progress=self.options.progress if check_magic else None,
            check_magic=check_magic,
            deadline=self.deadline,
        )
        ok = False
        try:

            def handle(resp: httpx.Response) -> None:
                missing = self._not_found(resp, f"blob {digest}")
                if missing:
                    raise missing
                if resp.status_code != 200:
                    raise self._unexpected(resp, what)
                self.session.stream_into(resp, writer)

            self._get(f"/v2/{self.ref.repository}/blobs/{digest}", None, handle, phase="blob")
            writer.finish()
            ok = True
            return writer
        finally:
            if not ok:
                writer.discard()

    def pull(self, derived: DerivedId, uri: str) -> Fetched:
        """The whole pull: manifest (via an index if need be), wasm layer, policy layer."""
        manifest, manifest_digest = self.get_manifest(self.ref.reference)
        media = manifest.get("mediaType")
        media = media if isinstance(media, str) else None
        if media in _INDEX_TYPES or (media is None and "manifests" in manifest):
            manifest, manifest_digest = self.get_manifest(self._pick_from_index(manifest))
        layers = manifest.get("layers")
        if not isinstance(layers, list):
            raise ComponentSourceError(
                f"the manifest of {self.ref} has no layers",
                fix="check that the reference names a wasm OCI artifact",
            )
        wasm_layers, policy_layers, seen = [], [], []
        for raw in layers:
            layer_media, digest, size = self._descriptor(raw, "layer")
            seen.append(layer_media or "(none)")
            if layer_media in WASM_LAYER_TYPES:
                wasm_layers.append((digest, size))
            elif layer_media == POLICY_LAYER_TYPE:
                policy_layers.append((digest, size))
        if len(wasm_layers) != 1:
            raise ComponentSourceError(
                f"{self.ref} has {len(wasm_layers)} wasm layers, not exactly one",
                why=f"layer media types: {', '.join(seen) or '(no layers)'}",
                fix="push the component as one layer of type "
                "application/vnd.wasm.content.layer.v1+wasm",
            )
        if len(policy_layers) > 1:
            raise ComponentSourceError(
                f"{self.ref} has {len(policy_layers)} policy layers",
                fix=f"push at most one layer of type {POLICY_LAYER_TYPE}",
            )
        wasm_digest, wasm_size = wasm_layers[0]
        policy_bytes = None
        if policy_layers:
            p_digest, p_size = policy_layers[0]
            staged = self.download_blob(
                p_digest,
                p_size,
                f"policy layer of {self.ref}",
                max_size=MAX_POLICY_SIZE,
                check_magic=False,
            )
            try:
                policy_bytes = staged.path.read_bytes()
            finally:
                staged.path.unlink(missing_ok=True)
        staged = self.download_blob(
            wasm_digest,
            wasm_size,
            f"wasm layer of {self.ref}",
            max_size=self.options.max_size,
            check_magic=True,
        )
        ok = False
        try:
            sha256 = (
                wasm_digest
                if wasm_digest.startswith("sha256:")
                else f"sha256:{fsutil.sha256_file(staged.path)}"
            )
            verify_pin(sha256, self.options.digest, what=str(self.ref), path=staged.path)
            fetched = Fetched(
                component_id=derived.component_id,
                source_uri=uri,
                wasm_path=staged.path,
                digest=sha256,
                size=staged.size,
                policy_bytes=policy_bytes,
                id_note=derived.note,
                manifest_digest=manifest_digest,
                owned=True,
            )
            ok = True
            return fetched
        finally:
            if not ok:
                staged.path.unlink(missing_ok=True)
