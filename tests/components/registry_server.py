"""A real OCI registry for tests: Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1.

Filesystem storage in a temp dir (so tests can tamper with stored blobs), a random port, and
optionally htpasswd (bcrypt) Basic auth. `make system-deps` installs the binary.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.secretstore.openbao import _die_with_parent, free_port, stop_process

INSTALL_HINT = (
    "the docker-registry binary is missing: run `make system-deps` (as root it runs "
    "`apt-get update && apt-get install -y docker-registry`)"
)


def registry_binary() -> str:
    """Path of docker-registry, or raise with how to install it (never skip silently)."""
    found = shutil.which("docker-registry") or (
        "/usr/bin/docker-registry" if os.access("/usr/bin/docker-registry", os.X_OK) else None
    )
    if found is None:
        raise RuntimeError(INSTALL_HINT)
    return found


class RegistryServer:
    """One docker-registry process; ``users`` turns on htpasswd auth."""

    def __init__(
        self, users: dict[str, str] | None = None, tls: tuple[Path, Path, Path] | None = None
    ) -> None:
        """``tls`` = (certificate chain, private key, CA file) serves https instead of http."""
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://{self.host}"
        self.users = users or {}
        self.root = Path(tempfile.mkdtemp(prefix="wassette-registry-"))
        self.storage = self.root / "storage"
        self.log_path = self.root / "registry.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _config(self) -> Path:
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.storage}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: {self.host}",
            "  secret: wassette-test",
        ]
        if self.tls:
            cert, key, _ = self.tls
            lines += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
        if self.users:
            import bcrypt

            htpasswd = self.root / "htpasswd"
            htpasswd.write_text(
                "".join(
                    f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode()}\n"
                    for user, pw in self.users.items()
                )
            )
            lines += ["auth:", "  htpasswd:", "    realm: wassette-test", f"    path: {htpasswd}"]
        config = self.root / "config.yml"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self, timeout: float = 20.0) -> RegistryServer:
        """Start and wait until ``/v2/`` answers (200, or 401 with auth)."""
        binary = registry_binary()
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [binary, "serve", str(self._config())],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root)},
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
        log.close()
        deadline = time.monotonic() + timeout
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(self.tls[2])) if self.tls else True
        )
        with httpx.Client(trust_env=False, timeout=1, verify=verify) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"docker-registry exited: {self.log_tail()}")
                try:
                    if client.get(f"{self.url}/v2/").status_code in (200, 401):
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry not ready after {timeout} s: {self.log_tail()}")

    def blob_file(self, digest: str) -> Path:
        """Where the registry stores a blob's bytes (to tamper with it)."""
        algo, hexdigest = digest.split(":", 1)
        return self.storage / "docker/registry/v2/blobs" / algo / hexdigest[:2] / hexdigest / "data"

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
