"""The plain-form reader (no YAML library) agrees with the YAML parser on everything it takes.

``read_plain`` exists for start-up time (``secret list`` never imports PyYAML for a file in
the form we write). It may decline any text (then the parser reads it); what it must never do
is read a text differently from the parser, or accept one the parser rejects.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wassette.errors import SecretsFileError
from wassette.secretstore import yamlfile
from wassette.secretstore.plainform import read_plain
from wassette.secretstore.yamlfile import quote

PATH = Path("secrets.yaml")
KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)


def _parser(text: str) -> dict[str, str] | None:
    try:
        return dict(yamlfile._parse(text, PATH).values)
    except SecretsFileError:
        return None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, st.text(), max_size=6))
def test_what_we_write_is_read_without_the_parser(values: dict[str, str]) -> None:
    text = "".join(f"{k}: {quote(v)}\n" for k, v in values.items())
    assert read_plain(text) == values
    assert _parser(text) == values


# Lines from the plain form, near misses and other YAML, mixed: whatever read_plain takes, the
# parser must read the same way.
LINES = st.one_of(
    st.builds(lambda k, v: f"{k}: {quote(v)}", KEYS, st.text(max_size=8)),
    st.builds(lambda k, v: f'{k}: "{v}"', KEYS, st.text(max_size=8)),
    st.builds(lambda k, v: f"{k}: {v}", KEYS, st.text(max_size=8)),
    st.builds(lambda c: f"#{c}", st.text(max_size=8)),
    st.sampled_from(
        [
            "",
            " ",
            "---",
            "...",
            "%YAML 1.1",
            "- a",
            '  A: "x"',
            'A: "x" # c',
            'A: "x\\e"',
            'A: "\\ud800"',
            'A: "\\U00110000"',
            'A: "x\\\n',
            'A: &a "x"',
            "B: *a",
            'A: !!str "x"',
            '{A: "x"}',
            "\ufeff",
            "\t",
            'A: "\u2028"',
            'A: "\x85"',
        ]
    ),
    st.text(max_size=10),
)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES, max_size=6), st.sampled_from(["\n", ""]))
@example(['A: "1"', 'A: "2"'], "\n")
@example(['A: "x\\x0a"', "# c"], "")
def test_the_plain_reader_never_disagrees_with_the_parser(lines: list[str], end: str) -> None:
    text = "\n".join(lines) + end
    plain = read_plain(text)
    if plain is not None:
        assert _parser(text) == plain, text


@pytest.mark.parametrize(
    "text",
    [
        'A: "1"\nA: "2"\n',  # duplicate: the parser names it
        "A: 1\n",  # plain scalar: the parser reads it
        'A: "x" # note\n',
        '\tA: "x"\n',
        'A: "x"\r\n',
        'A: "\\ud800"\n',
    ],
)
def test_other_forms_go_to_the_parser(text: str) -> None:
    assert read_plain(text) is None


def test_reading_a_plain_file_does_not_import_pyyaml(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "c.yaml"
    path.write_text(f"# kept\nA: {quote('v')}\n")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from wassette.secretstore.yamlfile import read_document\n"
        f"assert read_document(Path({str(path)!r})).as_dict() == {{'A': 'v'}}\n"
        "assert 'yaml' not in sys.modules, 'PyYAML was imported'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
