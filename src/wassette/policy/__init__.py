"""Per-component policies: what a component may touch, deny-by-default.

``model`` holds the immutable values, ``fields`` the value checks, ``parser`` the YAML format
(over ``yamldoc``, the YAML library; ``validate``, document -> Policy; and ``sync``, Policy ->
document), ``grants`` the pure edits and ``store`` the files. :func:`wassette.runtime.environment.
build_capabilities` turns a policy into what the sandbox grants.
"""

from wassette.policy.model import (
    Access,
    EnvironmentPermission,
    NetworkPermission,
    Policy,
    StoragePermission,
)

__all__ = [
    "Access",
    "EnvironmentPermission",
    "NetworkPermission",
    "Policy",
    "StoragePermission",
]
