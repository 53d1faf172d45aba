"""The contract every secrets backend must pass (after ``keyring/testing/backend.py``).

Use it by subclassing in a ``test_*.py`` module::

    class TestMyBackend(SecretBackendContract):
        @pytest.fixture
        def backend_factory(self, tmp_path):
            return functools.partial(MyBackend, tmp_path)   # picklable: used in subprocesses

        def container_exists(self, backend, component_id):
            return (tmp_path / f"{component_id}.secrets.yaml").exists()

``backend_factory`` returns a zero-argument, *picklable* callable that builds a fresh backend
instance over the same storage, in this process or in a spawned child process (the
concurrency tests need that). Every call must see the same data: it stands for "another
wassette process on the same store". ``container_exists`` tells whether the component's
container (file, Vault secret) exists at all, so the suite can check that deleting the last
key keeps it.

The suite is backend-neutral: it speaks only through :class:`SecretBackend`. Component ids
are fresh per test, so backends may share storage between tests.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wassette.errors import InvalidComponentIdError, InvalidSecretKeyError
from wassette.secretstore.backend import SecretBackend

BackendFactory = Callable[[], SecretBackend]

# Values that break naive serialisation: YAML specials, numbers with leading zeros, quoting,
# line breaks of every kind, control and non-BMP characters, things that look like references.
AWKWARD_VALUES = [
    "",
    " ",
    "  leading and trailing  ",
    "yes",
    "no",
    "on",
    "true",
    "False",
    "null",
    "~",
    "0123",
    "1e3",
    "0x1F",
    ".inf",
    "- item",
    "key: value",
    "# not a comment",
    "'single'",
    '"double"',
    'it\'s "mixed"',
    "back\\slash",
    "line1\nline2",
    "trailing newline\n",
    "\nleading newline",
    "crlf\r\nline",
    "lone\rcr",
    "\ttab",
    "unicodé ✓ 日本語 🔑",
    "{json: true}",
    "[1, 2]",
    "&anchor",
    "*alias",
    "!tag",
    "%directive",
    "@at",
    "`tick`",
    "---",
    "...",
    "A=B=C",
    "vault:shared/db#PASSWORD",
    "env:HOME",
    "literal:x",
    "line\u2028separator",
    "del\x7f",
    "\x1b[31mred",
    "\ufeffbom",
    "x" * 10_000,
]

INVALID_COMPONENT_IDS = ["", "../etc", "a/b", "a\\b", ".hidden", "-flag", "a\x00b", "x" * 129]
INVALID_KEYS = ["", "1ABC", "A-B", "A B", "A=B", "ÄPI", "A\nB"]

_KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True)
# Any text but lone surrogates (not encodable) and NUL (cannot live in an environment variable).
_VALUES = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    max_size=200,
)


def _writer(
    factory: BackendFactory,
    *,
    component_id: str,
    index: int,
    count: int,
    start: Any,
    errors: Any,
) -> None:
    """Child process body: set ``count`` keys one write at a time, then delete every 2nd."""
    try:
        backend = factory()
        start.wait(timeout=60)
        for i in range(count):
            backend.set_many(component_id, {f"W{index}_K{i}": f"writer {index} value {i}"})
        for i in range(0, count, 2):
            backend.delete_many(component_id, [f"W{index}_K{i}"])
    except Exception as exc:  # report, do not hang the parent
        errors.put(f"writer {index}: {type(exc).__name__}: {exc}")
        raise


class SecretBackendContract:
    """Tests every :class:`SecretBackend` must pass. Subclasses provide the two hooks."""

    #: how many processes race in the concurrency test, and how many keys each writes
    concurrent_writers = 3
    writes_per_writer = 12
    #: hypothesis examples for the round-trip property (each is a write and a read)
    roundtrip_examples = 40

    # ------------------------------------------------------------------ hooks

    @pytest.fixture
    def backend_factory(self) -> BackendFactory:
        """Override: a picklable zero-argument callable building a backend on shared storage."""
        raise NotImplementedError("subclasses of SecretBackendContract provide backend_factory")

    def container_exists(self, backend: SecretBackend, component_id: str) -> bool:
        """Override: whether the component's container (file, Vault secret) exists."""
        raise NotImplementedError("subclasses of SecretBackendContract implement this")

    # ------------------------------------------------------------------ fixtures

    @pytest.fixture
    def backend(self, backend_factory: BackendFactory) -> SecretBackend:
        """A fresh backend instance."""
        return backend_factory()

    @pytest.fixture
    def cid(self) -> str:
        """A component id no other test uses."""
        return f"comp-{uuid.uuid4().hex[:12]}"

    # ------------------------------------------------------------------ basics

    def test_unknown_component_has_no_secrets(self, backend: SecretBackend, cid: str) -> None:
        assert dict(backend.get_all(cid)) == {}
        assert backend.list_keys(cid) == []
        assert backend.get(cid, "ANY") is None

    def test_set_then_get(self, backend: SecretBackend, cid: str) -> None:
        backend.set_many(cid, {"API_KEY": "sk_live_abc123"})
        assert dict(backend.get_all(cid)) == {"API_KEY": "sk_live_abc123"}
        assert backend.get(cid, "API_KEY") == "sk_live_abc123"
        assert backend.get(cid, "OTHER") is None

    def test_set_many_adds_and_updates_keeping_others(
        self, backend: SecretBackend, cid: str
    ) -> None:
        backend.set_many(cid, {"A": "1", "B": "2"})
        backend.set_many(cid, {"B": "two", "C": "3"})
        assert dict(backend.get_all(cid)) == {"A": "1", "B": "two", "C": "3"}

    def test_set_nothing_is_a_no_op(self, backend: SecretBackend, cid: str) -> None:
        backend.set_many(cid, {"A": "1"})
        backend.set_many(cid, {})
        assert dict(backend.get_all(cid)) == {"A": "1"}

    def test_list_keys_is_sorted(self, backend: SecretBackend, cid: str) -> None:
        backend.set_many(cid, {"ZETA": "z", "ALPHA": "a", "MIKE": "m", "_UNDER": "u", "b": "b"})
        assert backend.list_keys(cid) == sorted(["ZETA", "ALPHA", "MIKE", "_UNDER", "b"])

    def test_values_are_str(self, backend: SecretBackend, cid: str) -> None:
        backend.set_many(cid, {"N": "42", "B": "true", "Z": "null"})
        got = backend.get_all(cid)
        assert all(type(v) is str for v in got.values())
        assert dict(got) == {"N": "42", "B": "true", "Z": "null"}

    def test_writes_are_durable_for_a_new_instance(
        self, backend_factory: BackendFactory, cid: str
    ) -> None:
        writer = backend_factory()
        writer.set_many(cid, {"A": "1", "B": "2"})
        assert dict(backend_factory().get_all(cid)) == {"A": "1", "B": "2"}
        writer.delete_many(cid, ["A"])
        assert dict(backend_factory().get_all(cid)) == {"B": "2"}

    # ------------------------------------------------------------------ delete

    def test_delete_removes_only_named_keys(self, backend: SecretBackend, cid: str) -> None:
        backend.set_many(cid, {"A": "1", "B": "2", "C": "3"})
        removed = backend.delete_many(cid, ["A", "C"])
        assert sorted(removed) == ["A", "C"]
        assert dict(backend.get_all(cid)) == {"B": "2"}

    def test_delete_ignores_missing_keys(self, backend: SecretBackend, cid: str) -> None:
        backend.set_many(cid, {"A": "1", "B": "2"})
        removed = backend.delete_many(cid, ["A", "MISSING"])
        assert removed == ["A"]
        assert backend.delete_many(cid, ["MISSING", "ALSO_MISSING"]) == []
        assert dict(backend.get_all(cid)) == {"B": "2"}

    def test_delete_on_component_without_secrets(self, backend: SecretBackend, cid: str) -> None:
        assert backend.delete_many(cid, ["A"]) == []
        assert dict(backend.get_all(cid)) == {}

    def test_deleting_last_key_keeps_the_container(self, backend: SecretBackend, cid: str) -> None:
        backend.set_many(cid, {"ONLY": "x"})
        assert self.container_exists(backend, cid)
        assert backend.delete_many(cid, ["ONLY"]) == ["ONLY"]
        assert self.container_exists(backend, cid), "the emptied container must be kept"
        assert dict(backend.get_all(cid)) == {}
        assert backend.list_keys(cid) == []
        backend.set_many(cid, {"AGAIN": "y"})
        assert dict(backend.get_all(cid)) == {"AGAIN": "y"}

    # ------------------------------------------------------------------ isolation

    def test_components_are_isolated(self, backend: SecretBackend, cid: str) -> None:
        # Ids that differ by one character, or share a prefix, must never share storage.
        ids = [cid, f"{cid}-1", f"{cid}.1", f"{cid}_1", f"{cid}x"]
        for n, component in enumerate(ids):
            backend.set_many(component, {"SHARED_NAME": f"value of {n}", f"ONLY_{n}": "x"})
        for n, component in enumerate(ids):
            assert dict(backend.get_all(component)) == {
                "SHARED_NAME": f"value of {n}",
                f"ONLY_{n}": "x",
            }
        backend.delete_many(ids[0], ["SHARED_NAME", "ONLY_1"])
        assert dict(backend.get_all(ids[0])) == {"ONLY_0": "x"}
        assert dict(backend.get_all(ids[1])) == {"SHARED_NAME": "value of 1", "ONLY_1": "x"}

    @pytest.mark.parametrize("bad", INVALID_COMPONENT_IDS, ids=ascii)
    def test_invalid_component_ids_are_refused(self, backend: SecretBackend, bad: str) -> None:
        with pytest.raises(InvalidComponentIdError):
            backend.get_all(bad)
        with pytest.raises(InvalidComponentIdError):
            backend.set_many(bad, {"A": "1"})
        with pytest.raises(InvalidComponentIdError):
            backend.delete_many(bad, ["A"])

    @pytest.mark.parametrize("bad", INVALID_KEYS, ids=ascii)
    def test_invalid_keys_are_refused_and_nothing_is_written(
        self, backend: SecretBackend, cid: str, bad: str
    ) -> None:
        with pytest.raises(InvalidSecretKeyError):
            backend.set_many(cid, {"GOOD": "v", bad: "x"})
        assert dict(backend.get_all(cid)) == {}

    # ------------------------------------------------------------------ round trips

    def test_awkward_values_round_trip_exactly(
        self, backend_factory: BackendFactory, cid: str
    ) -> None:
        items = {f"V{n}": value for n, value in enumerate(AWKWARD_VALUES)}
        backend_factory().set_many(cid, items)
        got = dict(backend_factory().get_all(cid))  # a fresh instance: really stored
        wrong = sorted(k for k in items if got.get(k) != items[k])
        assert not wrong, f"values of {wrong} did not round-trip"  # names, not values
        assert got == items

    def test_awkward_values_survive_updates_of_other_keys(
        self, backend: SecretBackend, cid: str
    ) -> None:
        items = {f"V{n}": value for n, value in enumerate(AWKWARD_VALUES)}
        backend.set_many(cid, items)
        backend.set_many(cid, {"EXTRA": "e"})
        backend.delete_many(cid, ["EXTRA"])
        assert dict(backend.get_all(cid)) == items

    def test_location_names_the_component_not_values(
        self, backend: SecretBackend, cid: str
    ) -> None:
        backend.set_many(cid, {"TOKEN": "CANARY-location-7731"})
        where = backend.location(cid)
        assert cid in where
        assert "CANARY" not in where

    def test_arbitrary_text_round_trips(self, backend_factory: BackendFactory) -> None:
        writer = backend_factory()

        @settings(
            max_examples=self.roundtrip_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(items=st.dictionaries(_KEYS, _VALUES, min_size=1, max_size=5))
        def check(items: dict[str, str]) -> None:
            component = f"prop-{uuid.uuid4().hex[:12]}"
            writer.set_many(component, items)
            assert dict(backend_factory().get_all(component)) == items

        check()

    # ------------------------------------------------------------------ one write, many keys

    def test_apply_changes_sets_deletes_and_replaces(
        self, backend: SecretBackend, cid: str
    ) -> None:
        backend.set_many(cid, {"A": "1", "B": "2", "C": "3"})
        changed = backend.apply_changes(cid, {"A": "10", "B": None, "D": "4"}, op="import")
        assert changed == ["A", "B", "D"]
        assert dict(backend.get_all(cid)) == {"A": "10", "C": "3", "D": "4"}
        changed = backend.apply_changes(cid, {"A": "10", "E": "5"}, op="import", replace=True)
        assert changed == ["C", "D", "E"]
        assert dict(backend.get_all(cid)) == {"A": "10", "E": "5"}

    # ------------------------------------------------------------------ versions (optional)

    def test_versions_mean_the_same_on_every_backend(
        self, backend: SecretBackend, cid: str
    ) -> None:
        from wassette.errors import NotFoundError

        versions = backend.versions()
        if versions is None:
            pytest.skip("this backend keeps no versions")

        def fp(name: str, value: str) -> str:
            return f"{name}={value}"  # a stand-in fingerprint: test values only

        backend.set_many(cid, {"A": "one", "B": "b"})
        backend.set_many(cid, {"A": "two"})
        backend.delete_many(cid, ["A"])
        rows = versions.key_history(cid, "A", fp)["A"]
        assert [r.fingerprint for r in rows] == ["A=one", "A=two", None]
        assert [r.current for r in rows] == [False, False, True]
        assert versions.rollback_key(cid, "A") == rows[1].version  # newest differing value
        assert backend.get(cid, "A") == "two"
        assert versions.rollback_key(cid, "A", rows[0].version) == rows[0].version
        assert backend.get(cid, "A") == "one"
        assert set(versions.key_history(cid, None, fp)) >= {"A", "B"}

        assert versions.purge_key_history(cid, ["A"]) == ["A"]
        left = versions.key_history(cid, "A", fp).get("A", [])
        # Only the current value may remain; no earlier value of A exists any more.
        assert [r.fingerprint for r in left if not r.current] == []
        assert dict(backend.get_all(cid)) == {"A": "one", "B": "b"}
        # A rollback can at most make A absent again; no earlier value comes back.
        with contextlib.suppress(NotFoundError):
            versions.rollback_key(cid, "A")
        assert backend.get(cid, "A") in (None, "one")

    # ------------------------------------------------------------------ concurrency

    def test_concurrent_writers_in_processes_lose_nothing(
        self, backend_factory: BackendFactory, cid: str
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        # A barrier, not an event: children start writing only once all have imported and
        # built their backend, so their writes really overlap.
        start = ctx.Barrier(self.concurrent_writers)
        errors = ctx.Queue()
        procs = [
            ctx.Process(
                target=_writer,
                args=(backend_factory,),
                kwargs={
                    "component_id": cid,
                    "index": w,
                    "count": self.writes_per_writer,
                    "start": start,
                    "errors": errors,
                },
            )
            for w in range(self.concurrent_writers)
        ]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=120)
        failures = []
        while not errors.empty():
            failures.append(errors.get_nowait())
        assert not failures, failures
        assert [p.exitcode for p in procs] == [0] * len(procs)
        expected = {
            f"W{w}_K{i}": f"writer {w} value {i}"
            for w in range(self.concurrent_writers)
            for i in range(1, self.writes_per_writer, 2)
        }
        got = dict(backend_factory().get_all(cid))
        assert sorted(set(expected) - set(got)) == [], "lost updates"
        assert sorted(set(got) - set(expected)) == [], "lost deletes"
        assert got == expected
