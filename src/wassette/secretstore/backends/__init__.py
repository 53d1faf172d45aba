"""Secrets backends other than the local YAML store (which lives in ``secretstore/store.py``).

Each backend implements :class:`wassette.secretstore.backend.SecretBackend` and passes the
shared contract suite in ``tests/secretstore/contract.py``. Backends are imported lazily by
whoever builds them from the configuration, so a third-party client library (``hvac`` for
Vault) is only loaded when that backend is actually selected.
"""
