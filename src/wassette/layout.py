"""Every file name a component has in the component directory, in one place.

A component ``<id>`` is installed when ``<component dir>/<id>.wasm`` exists. Beside it:

=========================  ==================================================================
``<id>.wasm``              the component (written only by ``components.registry.install``)
``<id>.compiled``          its precompiled artifact (private cache; ``.key`` and ``.lock``
                           beside it belong to the runtime's artifact cache)
``<id>.tools.json``        tool schemas and a validation stamp (a cache of the wasm)
``<id>.policy.yaml``       its policy (absent = deny everything)
``<id>.source.json``       where the wasm came from: source URI, sha256, when (provenance)
``<id>.proposal.json``     a policy that arrived with the component and was not (yet)
                           approved: kept privately so ``component accept-policy`` applies
                           exactly what was shown
=========================  ==================================================================

Secrets live in another directory and are never named here. Pure: no I/O.

No suffix below is a proper suffix of another one, so the files of two different ids can
never collide (ids may contain dots).

Wassette keeps its own caches in the same directory as ``<id>.cwasm`` and
``<id>.metadata.json`` (its engine and format, not ours). Our caches use other names, so the
two programs can share a component directory (the default one is the same) without
overwriting each other's caches and recompiling on every start; no name of ours ends in
``.cwasm`` or ``.metadata.json``, so none can be Wassette's file for another id. An unload
still removes those (``FOREIGN``): they are caches of the wasm it removes.
"""

from __future__ import annotations

from pathlib import Path

from wassette.ids import validate_component_id

WASM = ".wasm"
COMPILED = ".compiled"
COMPILED_KEY = COMPILED + ".key"
COMPILED_LOCK = COMPILED + ".lock"
METADATA = ".tools.json"
#: Wassette's caches of the same wasm (also the names this program used for its own before).
FOREIGN = (".cwasm", ".cwasm.key", ".cwasm.lock", ".metadata.json")
POLICY = ".policy.yaml"
SOURCE = ".source.json"
PROPOSAL = ".proposal.json"

#: Derived from one wasm: stale as soon as the wasm changes.
DERIVED = (COMPILED, METADATA)
#: Everything an unload removes. Secrets are deliberately absent (they live elsewhere).
ALL = (WASM, COMPILED, COMPILED_KEY, COMPILED_LOCK, METADATA, POLICY, SOURCE, PROPOSAL, *FOREIGN)


def path(component_dir: Path, component_id: str, suffix: str) -> Path:
    """``<component_dir>/<id><suffix>``, with the id validated (it cannot leave the dir)."""
    if suffix not in ALL:
        raise ValueError(f"unknown component file suffix {suffix!r}")
    return component_dir / f"{validate_component_id(component_id)}{suffix}"


def files(component_dir: Path, component_id: str) -> dict[str, Path]:
    """Every file of one component, by suffix (whether or not it exists)."""
    return {suffix: path(component_dir, component_id, suffix) for suffix in ALL}
