"""Our own small OCI push helper for tests (blob uploads + manifest PUT, on httpx).

Independent of the client under test: it only speaks the monolithic-upload half of the
distribution API, which is all a test registry needs.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from dataclasses import dataclass

import httpx

from tests.components.registry_server import RegistryServer

WASM_LAYER = "application/vnd.wasm.content.layer.v1+wasm"
PLAIN_WASM_LAYER = "application/wasm"
POLICY_LAYER = "application/vnd.wassette.policy+yaml"
WASM_CONFIG = "application/vnd.wasm.config.v0+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Pushed:
    repository: str
    tag: str
    manifest_digest: str
    layer_digests: list[str]


class Pusher:
    """Pushes artifacts to one registry (optionally with Basic auth)."""

    def __init__(
        self, base_url: str, auth: tuple[str, str] | None = None, ca_file: str | None = None
    ) -> None:
        self.base = base_url.rstrip("/")
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=ca_file) if ca_file else True
        )
        self.client = httpx.Client(trust_env=False, timeout=30, auth=auth, verify=verify)

    def close(self) -> None:
        self.client.close()

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = sha256(data)
        start = self.client.post(f"{self.base}/v2/{repo}/blobs/uploads/")
        start.raise_for_status()
        location = httpx.URL(self.base).join(start.headers["Location"])
        put = self.client.put(
            location.copy_merge_params({"digest": digest}),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        put.raise_for_status()
        return digest

    def push_manifest(
        self, repo: str, tag: str, manifest: dict[str, object], media_type: str = OCI_MANIFEST
    ) -> str:
        body = json.dumps(manifest, separators=(",", ":")).encode()
        resp = self.client.put(
            f"{self.base}/v2/{repo}/manifests/{tag}",
            content=body,
            headers={"Content-Type": media_type},
        )
        resp.raise_for_status()
        return sha256(body)

    def push_artifact(
        self,
        repo: str,
        tag: str,
        layers: list[tuple[str, bytes]],
        config: bytes = b"{}",
        config_media_type: str = WASM_CONFIG,
    ) -> Pushed:
        """Push ``layers`` [(media type, bytes)] as one OCI artifact manifest under ``tag``."""
        config_digest = self.push_blob(repo, config)
        descriptors = []
        for media, data in layers:
            descriptors.append(
                {"mediaType": media, "digest": self.push_blob(repo, data), "size": len(data)}
            )
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": config_media_type,
                "digest": config_digest,
                "size": len(config),
            },
            "layers": descriptors,
        }
        digest = self.push_manifest(repo, tag, manifest)
        return Pushed(repo, tag, digest, [str(d["digest"]) for d in descriptors])


def push_component(
    registry: RegistryServer, repo: str, tag: str, wasm: bytes, policy: bytes | None = None
) -> str:
    """Push ``wasm`` (and a policy layer, if given) as ``repo:tag``; return its ``oci://`` URI."""
    layers = [(WASM_LAYER, wasm)] + ([(POLICY_LAYER, policy)] if policy is not None else [])
    pusher = Pusher(registry.url)
    try:
        pusher.push_artifact(repo, tag, layers)
    finally:
        pusher.close()
    return f"oci://{registry.host}/{repo}:{tag}"


def with_custom_section(wasm: bytes, name: str, data: bytes) -> bytes:
    """Append a custom section: still a valid component, but with different bytes/digest."""

    def leb(n: int) -> bytes:
        out = bytearray()
        while True:
            byte = n & 0x7F
            n >>= 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    payload = leb(len(name.encode())) + name.encode() + data
    return wasm + b"\x00" + leb(len(payload)) + payload
