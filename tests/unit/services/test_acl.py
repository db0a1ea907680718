"""The pure parts of ``gridflow acl``: grants become the broker's ACLs in a namespace,
applying is idempotent and prune stays inside its namespace, the credentials file is
a secret, and the client security settings refuse what would connect insecurely."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import ACL, ACLPermissionType, ScramMechanism
from typer.testing import CliRunner

from schemas.access import OPERATIONS_PRINCIPAL, Grant, grants
from schemas.catalogue import Site
from services.acl import (
    Binding,
    CredentialsError,
    apply,
    binding,
    bindings,
    ensure_credentials,
    from_acl,
    in_namespace,
    load_credentials,
    principals,
    revoke,
    to_acl,
    write_credentials,
)
from services.cli import app
from services.processors import PROCESSORS
from services.runtime.names import Names
from services.runtime.security import KafkaSecurity, client_security, sasl_kwargs

TEST = Names("t1")


@pytest.fixture(autouse=True)
def _no_kafka_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "SECURITY_PROTOCOL",
        "SASL_MECHANISM",
        "USERNAME",
        "PASSWORD",
        "PASSWORD_FILE",
        "SSL_CAFILE",
        "CREDENTIALS_FILE",
    ):
        monkeypatch.delenv(f"GRIDFLOW_KAFKA_{var}", raising=False)


# --- translation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grant", "expected"),
    [
        (
            Grant("gridflow.router", "write", "topic", "gridflow.cases.events"),
            Binding("User:gridflow.router", "write", "topic", "t1.cases.events"),
        ),
        (
            Grant("gridflow.router", "write", "topic", "gridflow.assignments.", "prefixed"),
            Binding("User:gridflow.router", "write", "topic", "t1.assignments.", "prefixed"),
        ),
        (
            Grant("gridflow.router", "read", "group", "gridflow.router"),
            Binding("User:gridflow.router", "read", "group", "t1.router"),
        ),
        (
            Grant("zs.urban", "read", "topic", "gridflow.assignments.zs.urban"),
            Binding("User:zs.urban", "read", "topic", "t1.assignments.zs.urban"),
        ),
        (  # a sender's own groups are named by the principal, in every namespace
            Grant("zs.urban", "read", "group", "zs.urban.", "prefixed"),
            Binding("User:zs.urban", "read", "group", "zs.urban.", "prefixed"),
        ),
    ],
)
def test_a_grant_becomes_an_acl_in_the_namespace(grant: Grant, expected: Binding) -> None:
    assert binding(grant, TEST) == expected


def test_the_default_namespace_keeps_the_catalogue_names(site: Site) -> None:
    every = grants(site, PROCESSORS)
    assert {(b.name, b.pattern) for b in bindings(every, Names())} == {
        (g.name, g.pattern) for g in every
    }


def test_every_acl_is_in_the_namespace_sender_groups_included(site: Site) -> None:
    found = bindings(grants(site, PROCESSORS), TEST)
    assert all(in_namespace(b, TEST) for b in found)
    unit = next(b for b in found if b.principal == "User:zs.urban" and b.resource == "group")
    assert (unit.name, unit.pattern) == (f"{TEST.namespace}.zs.urban.", "prefixed")


def test_principals_are_the_processors_and_every_sender(site: Site) -> None:
    names = principals(grants(site, PROCESSORS))
    assert {f"gridflow.{p}" for p in PROCESSORS} <= set(names)
    assert {s.id for s in site.all_senders()} <= set(names)
    assert OPERATIONS_PRINCIPAL in names
    assert len(names) == len(PROCESSORS) + len(site.all_senders()) + 1


def test_kafka_acls_round_trip(site: Site) -> None:
    for b in bindings(grants(site, PROCESSORS), TEST):
        assert from_acl(to_acl(b)) == b


def test_acls_of_other_kinds_are_not_bindings() -> None:
    acl = to_acl(Binding("User:x", "read", "topic", "t1.cases.events"))
    deny = ACL(acl.principal, "*", acl.operation, ACLPermissionType.DENY, acl.resource_pattern)
    one_host = ACL(
        acl.principal, "10.0.0.1", acl.operation, acl.permission_type, acl.resource_pattern
    )
    assert from_acl(deny) is None
    assert from_acl(one_host) is None


# --- apply, against a fake admin client --------------------------------------------


@pytest.fixture(autouse=True)
def _cheap_scram(monkeypatch: pytest.MonkeyPatch) -> None:
    """One PBKDF2 round, not 4096: ~200 principals' credentials in milliseconds."""
    from kafka.admin import UserScramCredentialUpsertion

    monkeypatch.setattr(UserScramCredentialUpsertion, "DEFAULT_ITERATIONS", 1)


class FakeAdmin:
    """The five admin calls ``apply`` makes, over lists."""

    def __init__(self) -> None:
        self.acls: list[Any] = []
        self.users: dict[str, bytes] = {}

    def describe_acls(self, _filter: Any) -> tuple[list[Any], Any]:
        return list(self.acls), None

    def create_acls(self, acls: list[Any]) -> dict[str, list[Any]]:
        self.acls.extend(acls)
        return {"succeeded": acls, "failed": []}

    def delete_acls(self, filters: list[Any]) -> list[tuple[Any, list[Any], Any]]:
        from kafka.errors import NoError

        for f in filters:
            self.acls.remove(f)
        return [(f, [f], NoError) for f in filters]

    def describe_user_scram_credentials(self, users: list[str]) -> dict[str, Any]:
        return {
            u: {
                "error": None if u in self.users else "not found",
                "credential_infos": [
                    {"mechanism": ScramMechanism.SCRAM_SHA_512, "iterations": 4096}
                ]
                if u in self.users
                else [],
            }
            for u in users
        }

    def alter_user_scram_credentials(self, upserts: list[Any]) -> dict[str, None]:
        for u in upserts:
            self.users[u.user] = u.salted_password
        return {u.user: None for u in upserts}


def _passwords(site: Site) -> dict[str, str]:
    return {p: f"pw-{p}" for p in principals(grants(site, PROCESSORS))}


def test_apply_creates_exactly_the_grants_and_then_nothing(site: Site) -> None:
    admin = FakeAdmin()
    wanted = bindings(grants(site, PROCESSORS), TEST)
    first = apply(admin, site, PROCESSORS, TEST, _passwords(site))
    assert first.acls_created == wanted and first.acls_present == []
    assert len(first.credentials_created) == len(_passwords(site))
    again = apply(admin, site, PROCESSORS, TEST, _passwords(site))
    assert again.acls_created == [] and again.acls_present == wanted
    assert again.credentials_created == [] and len(again.credentials_updated) == len(admin.users)
    assert sorted(from_acl(a) for a in admin.acls) == wanted


def test_prune_removes_what_is_not_granted_in_its_namespace_only(site: Site) -> None:
    admin = FakeAdmin()
    stale = Binding("User:zs.urban", "read", "topic", "t1.cases.events")
    elsewhere = Binding("User:zs.urban", "read", "topic", "other.cases.events")
    denied = to_acl(Binding("User:zs.urban", "write", "topic", "t1.deadletter"))
    denied.permission_type = ACLPermissionType.DENY
    admin.acls = [to_acl(stale), to_acl(elsewhere), denied]
    done = apply(admin, site, PROCESSORS, TEST, _passwords(site), prune=True)
    assert done.acls_removed == [stale]
    left = [from_acl(a) for a in admin.acls]
    assert stale not in left and elsewhere in left and denied not in admin.acls


def test_apply_refuses_without_every_password(site: Site) -> None:
    passwords = _passwords(site)
    passwords.pop("gridflow.router")
    with pytest.raises(CredentialsError, match="no password"):
        apply(FakeAdmin(), site, PROCESSORS, TEST, passwords)


def test_revoke_removes_the_namespace_alone(site: Site) -> None:
    admin = FakeAdmin()
    apply(admin, site, PROCESSORS, TEST, _passwords(site))
    apply(admin, site, PROCESSORS, Names("t2"), _passwords(site))
    revoke(admin, TEST)
    left = [from_acl(a) for a in admin.acls]
    assert left and not any(b is not None and b.name.startswith("t1.") for b in left)
    assert any(b is not None and b.name.startswith("t2.") for b in left)


# --- credentials file ---------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generate_writes_missing_passwords_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "principals.yaml"
    got, generated = ensure_credentials(path, ["a", "b"], generate=True)
    assert generated == ["a", "b"] and _mode(path) == 0o600
    assert len(set(got.values())) == 2 and all(len(p) >= 32 for p in got.values())
    again, generated = ensure_credentials(path, ["a", "b", "c"], generate=True)
    assert generated == ["c"] and again["a"] == got["a"] and again["b"] == got["b"]
    assert load_credentials(path) == again


def test_missing_passwords_without_generate_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "principals.yaml"
    write_credentials(path, {"a": "secret-a"})
    with pytest.raises(CredentialsError, match="--generate"):
        ensure_credentials(path, ["a", "b"], generate=False)
    assert ensure_credentials(path, ["a"], generate=False) == ({"a": "secret-a"}, [])


def test_a_file_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "principals.yaml"
    write_credentials(path, {"a": "secret-a"})
    path.chmod(0o644)
    with pytest.raises(CredentialsError, match="chmod 600"):
        load_credentials(path)


@pytest.mark.parametrize("text", ["[a, b]\n", "a: 1\n", "a: ''\n", "a: [\n"])
def test_a_malformed_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "principals.yaml"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(CredentialsError):
        load_credentials(path)


def test_no_file_yet_is_no_credentials(tmp_path: Path) -> None:
    assert load_credentials(tmp_path / "absent.yaml") == {}


# --- client security settings -----------------------------------------------------------


def test_plaintext_is_kafka_pythons_defaults() -> None:
    assert KafkaSecurity().kwargs() == {}


def test_sasl_kwargs_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-from-file\n")
    monkeypatch.setenv("GRIDFLOW_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("GRIDFLOW_KAFKA_USERNAME", "gridflow.router")
    monkeypatch.setenv("GRIDFLOW_KAFKA_PASSWORD_FILE", str(secret))
    security = KafkaSecurity()
    assert security.kwargs() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "gridflow.router",
        "sasl_plain_password": "s3cret-from-file",
    }
    assert "s3cret" not in repr(security)


def test_sasl_kwargs_given_outright() -> None:
    kwargs = sasl_kwargs("zs.urban", "pw")
    assert kwargs["sasl_plain_username"] == "zs.urban" and kwargs["sasl_plain_password"] == "pw"


@pytest.mark.parametrize(
    "settings",
    [
        {"username": "x", "password": "p"},  # credentials, but PLAINTEXT would ignore them
        {"security_protocol": "SASL_PLAINTEXT", "username": "x"},  # no password
        {"security_protocol": "SASL_SSL", "username": "x", "password": "p", "password_file": "f"},
        {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "PLAIN",
            "username": "x",
            "password": "p",
        },  # a password in clear
    ],
)
def test_insecure_or_incomplete_settings_are_refused(settings: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        KafkaSecurity(**settings)


def test_without_a_username_the_callers_principal_is_used() -> None:
    security = KafkaSecurity(security_protocol="SASL_PLAINTEXT", password="p")
    assert security.kwargs("gridflow.router")["sasl_plain_username"] == "gridflow.router"
    with pytest.raises(ValueError, match="GRIDFLOW_KAFKA_USERNAME"):
        security.kwargs()
    named = KafkaSecurity(security_protocol="SASL_PLAINTEXT", username="zs.urban", password="p")
    assert named.kwargs("gridflow.router")["sasl_plain_username"] == "zs.urban"


def test_the_password_from_the_credentials_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """One file for `gridflow up`: each processor finds its own principal's password."""
    path = tmp_path / "principals.yaml"
    write_credentials(path, {"gridflow.router": "pw-router", "gridflow.archive": "pw-archive"})
    monkeypatch.setenv("GRIDFLOW_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("GRIDFLOW_KAFKA_CREDENTIALS_FILE", str(path))
    assert client_security("gridflow.router")["sasl_plain_password"] == "pw-router"
    assert client_security("gridflow.archive")["sasl_plain_password"] == "pw-archive"
    with pytest.raises(ValueError, match=r"no password for gridflow\.notifier"):
        client_security("gridflow.notifier")
    path.chmod(0o640)
    with pytest.raises(CredentialsError):
        client_security("gridflow.router")


def test_acl_show_prints_a_principals_acls() -> None:
    result = CliRunner().invoke(
        app, ["acl", "show", "--principal", "zs.urban"], env={"GRIDFLOW_NAMESPACE": "t1"}
    )
    assert result.exit_code == 0, result.output
    assert (
        "t1.commands.zs.urban" in result.output and "3 ACL(s) for 1 principal(s)" in result.output
    )
