"""Where components come from: one module per URI scheme behind :class:`Source`.

``source_for(uri)`` picks the module: ``oci://`` (OCI registries), ``https://`` (web servers),
``file://`` or a bare path (this machine). ``fetch(uri, options)`` is the one-call form::

    with fetch("oci://ghcr.io/microsoft/time-server-js:latest", FetchOptions()) as fetched:
        install(component_dir, fetched.component_id, fetched.wasm_path,
                policy_bytes=fetched.policy_bytes, validate=...)
"""

from __future__ import annotations

from wassette.components.sources.base import (
    DEFAULT_MAX_SIZE,
    Credentials,
    DerivedId,
    Fetched,
    FetchOptions,
    ProgressCallback,
    Source,
)
from wassette.errors import UsageError

__all__ = [
    "DEFAULT_MAX_SIZE",
    "Credentials",
    "DerivedId",
    "FetchOptions",
    "Fetched",
    "ProgressCallback",
    "Source",
    "derive_component_id",
    "fetch",
    "source_for",
]


def source_for(uri: str) -> Source:
    """The :class:`Source` for ``uri`` (parsed and its id derived; nothing fetched yet)."""
    lowered = uri[:16].lower()
    if lowered.startswith("oci://"):
        from wassette.components.sources.oci import OciSource

        return OciSource(uri)
    if lowered.startswith("https://"):
        from wassette.components.sources.https import HttpsSource

        return HttpsSource(uri)
    if lowered.startswith("http://"):
        raise UsageError(
            f"refusing to load a component over plain http: {uri[:80]!a}",
            why="anyone on the network path could replace the code",
            fix="use an https:// URL (or an oci:// registry)",
        )
    if lowered.startswith("file://") or "://" not in uri:
        from wassette.components.sources.file import FileSource

        return FileSource(uri)
    scheme = uri.split("://", 1)[0]
    raise UsageError(
        f"unsupported component URI scheme {scheme[:20]!a}",
        why="supported schemes are oci://, https:// and file:// (or a plain path)",
        fix="e.g. oci://ghcr.io/org/component:tag or ./component.wasm",
    )


def derive_component_id(uri: str) -> str:
    """The component id a URI yields (docs/spec.md section 4), without fetching anything."""
    return source_for(uri).component_id


def fetch(uri: str, options: FetchOptions | None = None) -> Fetched:
    """Fetch the component ``uri`` names. Close the result (or use ``with``) when done.

    Each fetch first removes staged downloads that killed processes left behind.
    """
    from wassette.components.sources.base import sweep_stale_staging

    options = options or FetchOptions()
    source = source_for(uri)
    sweep_stale_staging(options.temp_dir)
    return source.fetch(options)
