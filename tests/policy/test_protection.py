"""Protected paths and server credential names (policy/protection.py), against an oracle.

The oracle resolves symlinks itself, one component at a time with ``os.readlink`` (not
``os.path.realpath``), and compares paths as tuples of components (not strings), so a
string-prefix bug such as ``/procfoo`` counting as inside ``/proc`` cannot hide in both.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wassette.components.sources import environment as oci_env
from wassette.config import Settings
from wassette.errors import PolicyError
from wassette.policy.protection import (
    CREDENTIAL_NAMES,
    CREDENTIAL_PREFIXES,
    SYSTEM_PATHS,
    Protection,
    Reach,
)
from wassette.secretstore import keys

# --- the oracle ------------------------------------------------------------------------------


def _parts(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.split("/") if p)


def oracle_resolve(path: str) -> tuple[str, ...]:
    """The real path of absolute ``path`` as components, resolving links one by one."""
    todo = list(_parts(path))
    done: list[str] = []
    hops = 0
    while todo:
        seg = todo.pop(0)
        if seg == ".":
            continue
        if seg == "..":
            if done:
                done.pop()
            continue
        here = "/" + "/".join([*done, seg])
        if os.path.islink(here) and hops < 40:
            hops += 1
            target = os.readlink(here)
            if target.startswith("/"):
                done = []
            todo = list(_parts(target)) + todo
            continue
        done.append(seg)
    return tuple(done)


def oracle_refused(protected: list[tuple[str, Reach]], path: str) -> bool:
    """True if ``path`` (as written, or resolved) is, lies inside, or contains a protected
    path, each according to its reach."""
    candidates = {_parts(os.path.normpath(path)), oracle_resolve(path)}
    for cand in candidates:
        for raw, reach in protected:
            prot = _parts(raw)
            if cand == prot:
                return True
            if reach is Reach.EXACT:
                continue
            if cand[: len(prot)] == prot:
                return True
            if reach is Reach.TREE and prot[: len(cand)] == cand:
                return True
    return False


# --- a small tree with wassette's files and links to them -------------------------------------

SEGMENTS = ["a", "data", "secrets", "components", "cfg", "secrets.key", "b", "x"]
SEGMENTS += ["l_sec", "l_a", "l_up", "l_ok", "l_key", "l_abs"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Protection]:
    root = tmp_path_factory.mktemp("prot").resolve()
    (root / "a" / "data" / "secrets").mkdir(parents=True)
    (root / "a" / "data" / "components").mkdir(parents=True)
    (root / "a" / "b").mkdir(parents=True)
    (root / "cfg").mkdir()
    (root / "cfg" / "secrets.key").write_text("k")
    (root / "x" / "b").mkdir(parents=True)
    (root / "l_sec").symlink_to("a/data/secrets")
    (root / "l_a").symlink_to("a")
    (root / "x" / "l_up").symlink_to("..")
    (root / "x" / "l_ok").symlink_to("b")
    (root / "a" / "b" / "l_key").symlink_to("../../cfg/secrets.key")
    (root / "x" / "l_abs").symlink_to(root / "a" / "data")
    p = (
        Protection.minimal()
        .plus(root / "a" / "data" / "secrets", "the secrets directory", "holds secrets")
        .with_component_dir(root / "a" / "data" / "components")
        .plus(root / "cfg" / "secrets.key", "the key file", "holds the key")
    )
    return root, p


def _protected_of(p: Protection) -> list[tuple[str, Reach]]:
    return [(x.path, x.reach) for x in p.paths]


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(SEGMENTS), max_size=6))
def test_paths_in_a_tree_with_links_classify_like_the_oracle(
    tree: tuple[Path, Protection], segs: list[str]
) -> None:
    root, protection = tree
    path = "/".join([str(root), *segs])
    expected = oracle_refused(_protected_of(protection), path)
    assert (protection.collision(path) is not None) == expected, path


SYSTEM_SEGMENTS = ["proc", "sys", "dev", "self", "fd", "srv", "data", "procx", "tmp", "environ"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(SYSTEM_SEGMENTS), max_size=4))
def test_paths_around_the_system_paths_classify_like_the_oracle(segs: list[str]) -> None:
    protection = Protection.minimal()
    path = "/" + "/".join(segs)
    expected = oracle_refused(_protected_of(protection), path)
    assert (protection.collision(path) is not None) == expected, path


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ("/", True),
        ("/proc", True),
        ("/proc/self", True),
        ("/proc/1/environ", True),
        ("/sys", True),
        ("/sys/kernel", True),
        ("/dev", True),
        ("/dev/fd", True),  # a link into /proc
        ("/dev/shm", True),
        ("/srv/data", False),
        ("/procfoo", False),
        ("/devices", False),
        ("/tmp", False),
        ("/home", False),
    ],
)
def test_system_paths(path: str, refused: bool) -> None:
    assert (Protection.minimal().collision(path) is not None) is refused


def test_root_is_refused_only_as_itself() -> None:
    hit = Protection.minimal().collision("/")
    assert hit is not None and hit.relation == "is" and hit.protected.path == "/"
    assert Protection.minimal().collision("/srv") is None


# --- built from settings -----------------------------------------------------------------------


def _settings(tmp_path: Path, **raw: object) -> Settings:
    data = tmp_path / "data" / "wassette"
    cfg = tmp_path / "config" / "wassette"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text("")
    return Settings(
        plugin_dir=data / "components",
        secrets_dir=data / "secrets",
        config_dir=cfg,
        state_dir=tmp_path / "state" / "wassette",
        config_file=cfg / "config.toml",
        raw=raw,
    )


def test_for_settings_protects_every_file_wassette_owns(tmp_path: Path) -> None:
    token = tmp_path / "vault" / "token"
    secret_id = tmp_path / "approle" / "secret-id"
    auth = tmp_path / "serve" / "auth-token"
    s = _settings(tmp_path, vault={"token_file": str(token), "secret_id_file": str(secret_id)})
    p = Protection.for_settings(
        s,
        cache_dir=tmp_path / "cache" / "wassette",
        credential_files=[(auth, "the --auth-token-file", "holds the bearer token")],
    )
    cases = {
        s.secrets_dir: "the secrets directory",
        s.secrets_dir / "x": "the secrets directory",
        s.secrets_dir.parent: "the secrets directory",  # the data dir contains it
        tmp_path: "the secrets directory",  # "$HOME": contains everything
        s.config_dir: "the encryption key file",  # contains the key file
        s.state_dir: "the state directory",
        s.state_dir / "sub": "the state directory",
        tmp_path / "cache": "the cache directory",
        s.plugin_dir: "the component directory",
        token.parent: "the [vault] token_file",
        secret_id.parent: "the [vault] secret_id_file",
        auth.parent: "the --auth-token-file",
    }
    for path, what in cases.items():
        hit = p.collision(str(path))
        assert hit is not None, path
        assert hit.protected.what == what, (path, hit)
    assert p.collision(str(tmp_path / "work")) is None
    assert p.collision(str(tmp_path / "data" / "other")) is None
    # The config file itself, when it lives outside the config dir.
    outside = tmp_path / "elsewhere" / "wassette.toml"
    outside.parent.mkdir()
    outside.write_text("")
    p2 = Protection.for_settings(s.replace(config_file=outside))
    hit = p2.collision(str(outside.parent))
    assert hit is not None and hit.protected.what == "the config file"


def test_a_symlinked_data_dir_is_protected_by_both_names(tmp_path: Path) -> None:
    real = tmp_path / "disk" / "wassette"
    (real / "secrets").mkdir(parents=True)
    link_parent = tmp_path / "home" / ".local" / "share"
    link_parent.mkdir(parents=True)
    (link_parent / "wassette").symlink_to(real)
    p = Protection.minimal().plus(link_parent / "wassette" / "secrets", "s", "holds secrets")
    assert p.collision(str(tmp_path / "disk")) is not None  # contains the real path
    assert p.collision(str(link_parent)) is not None  # contains the path as configured
    assert p.collision(str(tmp_path / "disk2")) is None


def test_grant_error_names_path_collision_reason_and_fix(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    link = tmp_path / "innocent"
    link.symlink_to(secrets)
    p = Protection.minimal().plus(
        secrets, "the secrets directory", "holds every component's secrets"
    )
    with pytest.raises(PolicyError) as info:
        p.check_grant(str(link), to="component 'c'")
    err = info.value
    assert f"fs://{link}" in err.what and "component 'c'" in err.what
    assert err.why is not None
    assert str(secrets) in err.why and "holds every component's secrets" in err.why
    assert f"real path {secrets}" in err.why
    assert err.fix is not None and "no flag overrides" in err.fix


def test_call_time_error_names_the_entry_and_the_revoke_command(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        Protection.minimal().check_entry("fs-tool", 3, "/proc/self")
    err = info.value
    assert "permissions.storage.allow[3] (fs:///proc/self)" in err.what
    assert err.fix is not None
    assert "wassette permission revoke storage fs-tool fs:///proc/self" in err.fix
    assert Protection.minimal().check_entry("c", 0, str(tmp_path)) == os.path.realpath(tmp_path)


# --- credential names --------------------------------------------------------------------------


def test_the_key_file_name_is_the_one_custody_uses() -> None:
    from wassette.policy import protection

    assert protection.KEY_FILE_NAME == keys.KEY_FILE_NAME


def test_the_named_credentials_are_the_ones_the_code_reads() -> None:
    read_by_code = {
        keys.ENV_KEY,
        keys.ENV_PASSPHRASE,
        oci_env.USERNAME_ENV,
        oci_env.PASSWORD_ENV,
        "VAULT_TOKEN",
    }
    assert read_by_code <= set(CREDENTIAL_NAMES)
    vault_source = (
        Path(__file__).parents[2]
        / "src"
        / "wassette"
        / "secretstore"
        / "backends"
        / "vault"
        / "config.py"
    ).read_text()
    assert 'environ.get("VAULT_TOKEN")' in vault_source  # the name the Vault config really reads
    for name in CREDENTIAL_NAMES:
        assert name.startswith(CREDENTIAL_PREFIXES)


@pytest.mark.parametrize(
    "key",
    [
        "WASSETTE_SECRETS_KEY",
        "WASSETTE_SECRETS_PASSPHRASE",
        "WASSETTE_OCI_PASSWORD",
        "WASSETTE_OCI_USERNAME",
        "VAULT_TOKEN",
        "VAULT_ADDR",
        "BAO_TOKEN",
        "WASSETTE_ANYTHING",
        "vault_token",  # case does not slip past
    ],
)
def test_credential_keys_have_a_reason(key: str) -> None:
    reason = Protection.minimal().credential_reason(key)
    assert reason is not None and key in reason


@pytest.mark.parametrize("key", ["API_KEY", "HOME", "PATH", "VAULTED", "MY_VAULT_TOKEN", "BAOX"])
def test_ordinary_keys_have_none(key: str) -> None:
    assert Protection.minimal().credential_reason(key) is None


def test_config_named_credentials_can_be_added() -> None:
    p = Protection.minimal().with_credential_names([("GH_TOKEN", "the deploy token")])
    reason = p.credential_reason("GH_TOKEN")
    assert reason is not None and "the deploy token" in reason


def test_system_paths_are_in_every_protection(tmp_path: Path) -> None:
    p = Protection.for_settings(_settings(tmp_path))
    assert set(SYSTEM_PATHS) <= set(p.paths)
