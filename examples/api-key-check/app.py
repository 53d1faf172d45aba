"""Example component for `make run`: uses the API_KEY secret without ever revealing it.

Build: componentize-py -d wit -w api-key-check componentize app -o api-key-check.wasm
"""

import hashlib
import os

import wit_world

HOW_TO_SET = (
    "API_KEY is not available: ask the operator to run "
    "`wassette secret set api-key-check API_KEY=<value>` "
    "(the policy already allows API_KEY; no restart needed)"
)


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


class WitWorld(wit_world.WitWorld):
    def check_api_key(self) -> str:
        key = os.environ.get("API_KEY")
        if not key:
            return HOW_TO_SET
        return f"API_KEY is set ({len(key)} characters, sha256 fingerprint {_fingerprint(key)})"

    def greet(self, name: str) -> str:
        key = os.environ.get("API_KEY")
        if not key:
            return f"Hello, {name}! ({HOW_TO_SET})"
        return f"Hello, {name}! (signed with key {_fingerprint(key)})"
