"""fsutil.os_errors: the one way an OSError becomes one of our errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from wassette import fsutil
from wassette.errors import ConfigError, StorageError
from wassette.secretstore.backends.vault.auth import AppRoleAuth, TokenFileAuth


def test_os_error_becomes_ours_with_the_os_reason_and_no_chain(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with (
        pytest.raises(StorageError) as caught,
        fsutil.os_errors(StorageError, f"cannot read {missing}", fix="check the path"),
    ):
        missing.read_bytes()
    err = caught.value
    assert err.what == f"cannot read {missing}"
    assert err.why == "No such file or directory"
    assert err.fix == "check the path"
    assert err.__cause__ is None and err.__suppress_context__


def test_passing_errors_and_other_exceptions_leave_unchanged(tmp_path: Path) -> None:
    with (
        pytest.raises(FileNotFoundError),
        fsutil.os_errors(StorageError, "x", fix="y", passing=(FileNotFoundError,)),
    ):
        (tmp_path / "nope").read_bytes()
    with (
        pytest.raises(ValueError, match="not an OSError"),
        fsutil.os_errors(StorageError, "x", fix="y"),
    ):
        raise ValueError("not an OSError")
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    with (
        pytest.raises(StorageError, match="x"),
        fsutil.os_errors(StorageError, "x", fix="y", passing=(FileNotFoundError,)),
    ):
        (plain / "child").read_bytes()  # NotADirectoryError: not in passing
    # Nothing raised: the block's value is kept.
    with fsutil.os_errors(StorageError, "x", fix="y"):
        value = 42
    assert value == 42


@pytest.mark.parametrize(
    ("auth", "what", "setting"),
    [
        (lambda p: TokenFileAuth(path=p), "Vault token file", "token_file"),
        (
            lambda p: AppRoleAuth(role_id="r", secret_id_file=p),
            "AppRole secret id file",
            "secret_id_file",
        ),
    ],
)
def test_vault_credential_files_that_cannot_be_read(
    tmp_path: Path, auth: object, what: str, setting: str
) -> None:
    # No Vault is contacted: the file is read first, and its failure is a config error.
    missing = tmp_path / "gone"
    with pytest.raises(ConfigError) as caught:
        auth(missing).login(None)  # type: ignore[operator]
    assert caught.value.what == f"cannot read the {what} {missing}"
    assert caught.value.why == "No such file or directory"
    assert f"[vault] {setting}" in (caught.value.fix or "")
