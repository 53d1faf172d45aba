"""The secrets file format: all strings, exact round trips, comments kept, safe errors."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml as pyyaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CANARY
from wassette.errors import SecretsFileError
from wassette.secretstore import yamlfile
from wassette.secretstore.store import SecretStore

# Text a secret can hold: anything but NUL (impossible in env vars) and lone surrogates
# (not encodable as UTF-8, so not text).
secret_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=200,
)

AWKWARD_VALUES = [
    "",
    " ",
    "  leading and trailing  ",
    "héllo wörld ✓ 日本語 🎉",
    "line1\nline2\n",
    "\n",
    "\r\n",
    "tab\there",
    'double " quote',
    "single ' quote",
    "# not a comment",
    "a #b",
    "key: value",
    ": ",
    "-",
    "- item",
    "[1, 2]",
    "{a: b}",
    "&anchor",
    "*alias",
    "!tag",
    "%directive",
    "@at",
    "`backtick",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "true",
    "False",
    "null",
    "Null",
    "~",
    "0x1F",
    "0o17",
    "0123",
    "1e3",
    "1_000",
    ".inf",
    "-.inf",
    ".nan",
    "12:30:00",
    "2001-12-14",
    "---",
    "...",
    "\\",
    "\\n",
    "\x85next line\u2028line sep\u2029para",
    "\ufeffbom",
    "\x07bell\x1bescape",
    "x" * 5000,
]


def parse(text: str, path: Path = Path("t.secrets.yaml")) -> dict[str, str]:
    return yamlfile.parse_bytes(text.encode(), path).as_dict()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("DEBUG_MODE: false\n", "false"),
        ("PORT: 0123\n", "0123"),
        ("K: yes\n", "yes"),
        ("K: on\n", "on"),
        ("K: null\n", "null"),
        ("K: ~\n", "~"),
        ("K:\n", ""),
        ("K: 0x1F\n", "0x1F"),
        ("K: 1e3\n", "1e3"),
        ("K: .inf\n", ".inf"),
        ("K: 3.10\n", "3.10"),
        ("K: 2001-12-14\n", "2001-12-14"),
        ("K: 'single'\n", "single"),
        ('K: "a\\tb"\n', "a\tb"),
        ("K: |\n  block\n  text\n", "block\ntext\n"),
        ("K: >-\n  folded\n  text\n", "folded text"),
        ("K: &a shared\nL: *a\n", "shared"),
    ],
)
def test_hand_written_scalars_read_as_their_literal_text(source: str, expected: str) -> None:
    first_key = source.split(":", maxsplit=1)[0]
    assert parse(source)[first_key] == expected


def test_empty_and_comment_only_files_are_empty_mappings() -> None:
    assert parse("") == {}
    assert parse("# only a comment\n") == {}
    assert parse("{}\n") == {}


@pytest.mark.parametrize("value", AWKWARD_VALUES)
def test_awkward_values_round_trip_exactly(tmp_path: Path, value: str) -> None:
    store = SecretStore(tmp_path)
    store.set_many("c", {"K": value})
    assert SecretStore(tmp_path).get_all("c")["K"] == value
    # Another YAML reader (PyYAML, YAML 1.1: `yes` is a boolean there) sees the same string.
    assert pyyaml.safe_load((tmp_path / "c.secrets.yaml").read_text("utf-8"))["K"] == value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True), secret_text, max_size=5
    )
)
def test_any_text_round_trips_through_the_file(
    tmp_path_factory: pytest.TempPathFactory, values: dict[str, str]
) -> None:
    directory = tmp_path_factory.mktemp("rt")
    SecretStore(directory).set_many("c", values)
    assert dict(SecretStore(directory).get_all("c")) == values


def test_values_are_written_double_quoted_in_the_spec_format(tmp_path: Path) -> None:
    SecretStore(tmp_path).set_many("time-component", {"API_KEY": "sk_live_abc123", "N": "0123"})
    assert (tmp_path / "time-component.secrets.yaml").read_text() == (
        'API_KEY: "sk_live_abc123"\nN: "0123"\n'
    )


HAND_WRITTEN = """\
# Example: time-component.secrets.yaml
# Owner: platform team

API_KEY: "sk_live_abc123..."   # rotated monthly
DATABASE_URL: 'postgresql://user:pass@localhost/db'
# the token for the upstream service
SECRET_TOKEN: token_xyz789
DEBUG_MODE: false
"""


def test_comments_order_and_quoting_survive_set_and_delete(tmp_path: Path) -> None:
    path = tmp_path / "c.secrets.yaml"
    path.write_text(HAND_WRITTEN)
    store = SecretStore(tmp_path)
    store.set_many("c", {"API_KEY": "new", "ZZZ": "added"})
    store.delete_many("c", ["DEBUG_MODE"])
    text = path.read_text()
    for comment in (
        "# Example: time-component.secrets.yaml",
        "# Owner: platform team",
        "# rotated monthly",
        "# the token for the upstream service",
    ):
        assert comment in text
    assert "DATABASE_URL: 'postgresql://user:pass@localhost/db'" in text  # untouched, as written
    assert "SECRET_TOKEN: token_xyz789" in text
    assert [
        line.split(":")[0] for line in text.splitlines() if line and not line.startswith("#")
    ] == ["API_KEY", "DATABASE_URL", "SECRET_TOKEN", "ZZZ"]
    assert dict(store.get_all("c")) == {
        "API_KEY": "new",
        "DATABASE_URL": "postgresql://user:pass@localhost/db",
        "SECRET_TOKEN": "token_xyz789",
        "ZZZ": "added",
    }


CORRUPT = [
    ("KEY: [unclosed\n", "is a list at line 1"),
    (f'A: "{CANARY}\n', "line"),
    (f"A: x\n  B: {CANARY}\n", "line 2"),
    (f"- {CANARY}\n- b\n", "must be a mapping"),
    (f"just a {CANARY} scalar\n", "must be a mapping"),
    (f"A:\n  nested: {CANARY}\n", "nested mapping"),
    (f"A:\n  - {CANARY}\n", "a list"),
    (f"A: {CANARY}\nA: other-{CANARY}\n", "line 2"),
    (f"A: !!int 5\nB: {CANARY}\n", "not a string"),
    (f"A: !custom {CANARY}\n", "not a string"),
    (f"? [a, {CANARY}]\n: v\n", "a key is a list"),
    (f"A: {CANARY}\n---\nB: x\n", "line"),
    (f"A: *{CANARY}\n", "line 1"),
    (f"A: {CANARY}\n\tB: x\n", "line"),
]


@pytest.mark.parametrize(("source", "expect"), CORRUPT)
def test_corrupt_files_are_named_errors_that_never_echo_content(
    tmp_path: Path, source: str, expect: str
) -> None:
    path = tmp_path / "c.secrets.yaml"
    path.write_text(source)
    store = SecretStore(tmp_path)
    with pytest.raises(SecretsFileError) as info:
        store.get_all("c")
    message = str(info.value)
    assert str(path) in message
    assert expect in message
    assert CANARY not in message
    assert "other-" not in message
    # set and delete refuse, and leave the file byte-for-byte unchanged.
    before = path.read_bytes()
    with pytest.raises(SecretsFileError):
        store.set_many("c", {"NEW": "v"})
    with pytest.raises(SecretsFileError):
        store.delete_many("c", ["A"])
    assert path.read_bytes() == before


def test_invalid_utf8_and_oversized_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.secrets.yaml"
    path.write_bytes(b"A: ok\nB: \xff\xfe\n")
    with pytest.raises(SecretsFileError, match="not valid UTF-8 \\(line 2\\)"):
        SecretStore(tmp_path).get_all("c")
    path.write_bytes(b"A: " + b"x" * (yamlfile.MAX_FILE_BYTES + 1) + b"\n")
    with pytest.raises(SecretsFileError, match="too large"):
        SecretStore(tmp_path).get_all("c")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120), st.sampled_from(["", "A: ", "- ", "? ", "A:\n  ", "'", '"']))
def test_fuzz_any_text_parses_or_fails_cleanly_without_echo(body: str, prefix: str) -> None:
    source = prefix + body.replace("Z", CANARY)
    try:
        raw = source.encode("utf-8", "surrogatepass")
        result = yamlfile.parse_bytes(raw, Path("f.secrets.yaml")).as_dict()
    except SecretsFileError as exc:
        assert CANARY not in str(exc)
        assert CANARY not in repr(exc.__cause__)
    else:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.items())


def test_atomic_write_creates_0600_and_cleans_stale_temps(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        target = tmp_path / "c.secrets.yaml"
        stale = tmp_path / ".c.secrets.yaml.abc123.tmp"
        stale.write_text("half-written")
        SecretStore(tmp_path).set_many("c", {"A": "1"})
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert not stale.exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    finally:
        os.umask(old)


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SecretStore(tmp_path)
    store.set_many("c", {"A": "1"})
    before = (tmp_path / "c.secrets.yaml").read_bytes()

    def boom(*_args: object, **_kw: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(Exception, match="No space left on device") as info:
        store.set_many("c", {"B": "2"})
    assert "previous file is unchanged" in str(info.value)
    assert (tmp_path / "c.secrets.yaml").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


yaml_tokens = st.sampled_from(
    [
        ":",
        ": ",
        "-",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a",
        "*a",
        "!",
        "!!str",
        "!!int",
        "'",
        '"',
        "\n",
        "  ",
        "\t",
        "#",
        "?",
        "|",
        ">",
        "%YAML 1.2",
        "---",
        "...",
        "A",
        "B",
        "Z",
        "\\",
        "@",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(yaml_tokens, max_size=40))
def test_fuzz_yaml_shaped_input_never_echoes_the_canary(tokens: list[str]) -> None:
    source = "".join(tokens).replace("Z", CANARY)
    try:
        yamlfile.parse_bytes(source.encode(), Path("f.secrets.yaml"))
    except SecretsFileError as exc:
        assert CANARY not in str(exc)


@pytest.mark.parametrize(
    ("source", "ops", "expected"),
    [
        # flow style: the text editor cannot append safely -> round-trip editor, block style
        ("{A: \"1\", B: '2'}\n", {"C": "3"}, {"A": "1", "B": "2", "C": "3"}),
        # an anchor shared by two keys: editing one must not change the other
        ("A: &x shared\nB: *x\n", {"A": "new"}, {"A": "new", "B": "shared"}),
        # explicit `? key` entries
        ("? A\n: v\nB: w\n", {"B": "x"}, {"A": "v", "B": "x"}),
        # an indented top-level mapping keeps its indentation
        ("  A: 1\n  B: 2\n", {"C": "3"}, {"A": "1", "B": "2", "C": "3"}),
        # a document start marker
        ("---\nA: 1\n", {"B": "2"}, {"A": "1", "B": "2"}),
        # no newline at the end of the file
        ("A: 1", {"B": "2"}, {"A": "1", "B": "2"}),
        # an empty value and a block scalar updated in place
        ("A:\nB: |\n  x\n  y\nC: z\n", {"A": "a", "B": "b"}, {"A": "a", "B": "b", "C": "z"}),
    ],
)
def test_unusual_layouts_are_edited_correctly(
    tmp_path: Path, source: str, ops: dict[str, str], expected: dict[str, str]
) -> None:
    (tmp_path / "c.secrets.yaml").write_text(source)
    SecretStore(tmp_path).set_many("c", ops)
    assert dict(SecretStore(tmp_path).get_all("c")) == expected


def test_delete_removes_only_that_entry_and_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.secrets.yaml"
    path.write_text("# keep me\nA: 1  # about A\n# about B\nB: |\n  multi\n  line\nC: 3\n")
    SecretStore(tmp_path).delete_many("c", ["A", "B"])
    assert path.read_text() == "# keep me\n# about B\nC: 3\n"


@pytest.mark.parametrize(
    "source",
    [
        "A: " + "[" * 1_000_000,  # composing this recursively crashes the process
        "A: " + "{a: " * 300_000,
        "[" * 1_000_000,
        "A: x\nB: " + "[" * 1_000_000,
    ],
)
def test_deeply_nested_input_fails_fast_without_crashing(tmp_path: Path, source: str) -> None:
    # In a child process: a crash (e.g. a C stack overflow) must fail the test, not kill pytest.
    path = tmp_path / "c.secrets.yaml"
    path.write_text(source)
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from wassette.errors import SecretsFileError\n"
        "from wassette.secretstore.store import SecretStore\n"
        "t = time.perf_counter()\n"
        "try:\n"
        f"    SecretStore(Path({str(tmp_path)!r})).get_all('c')\n"
        "except SecretsFileError as exc:\n"
        "    print('REFUSED', round(time.perf_counter() - t, 3), str(exc).split(':')[1])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, f"child died with {proc.returncode}"
    assert proc.stdout.startswith("REFUSED"), proc.stdout
    assert float(proc.stdout.split()[1]) < 2.0
