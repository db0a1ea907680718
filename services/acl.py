"""Kafka principals and ACLs, provisioned from the registry: ``gridflow acl apply``.

``schemas.access.grants`` says, in catalogue names, who may read and write
what. Here those grants become the broker's ACLs in the deployment's
namespace, and every principal they name (each processor, each sender) gets
its SCRAM credential from a credentials file. Applying is idempotent: what is
there already is left alone and reported as such, and ``prune`` removes the
ACLs of the namespace that the grants no longer name, so the broker holds
exactly what the registry says.

Translation into the namespace follows :class:`~services.runtime.names.Names`:
a topic or group name spelled ``gridflow.…`` becomes ``<namespace>.…``, a
sender's own consumer groups (``gridflow.zs.urban.…``) included. The principals
themselves are the same in every namespace: a principal is an identity, not a
deployment. Prune only touches ACLs on resources named ``<namespace>.…``.

Processes find their own password in the same file when
``GRIDFLOW_KAFKA_CREDENTIALS_FILE`` names it (``services.runtime.security``).

The credentials file is YAML, ``principal: password``, and a secret: it is
written with mode 0600 and refused when others may read it.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from schemas.access import Grant, grants
from schemas.catalogue import Site
from services.runtime.names import Names
from services.runtime.security import CredentialsError, load_credentials

log = logging.getLogger(__name__)

CATALOGUE_PREFIX = "gridflow."
DEFAULT_ADMIN = "gridflow.admin"
"""The super user of the deploy scripts' SASL broker: it provisions, it needs no ACL."""
SCRAM_MECHANISM = "SCRAM-SHA-512"
PASSWORD_BYTES = 24  # secrets.token_urlsafe: 32 characters, 192 bits


# --- grants -> broker bindings (pure) ------------------------------------------------


@dataclass(frozen=True, order=True)
class Binding:
    """One ALLOW ACL as the broker holds it: ``User:`` principal, broker-spelled name.

    Every gridflow ACL allows, from any host: the identity is the principal, not
    where it connects from.
    """

    principal: str
    operation: Literal["read", "write"]
    resource: Literal["topic", "group"]
    name: str
    pattern: Literal["literal", "prefixed"] = "literal"

    def __str__(self) -> str:
        star = "*" if self.pattern == "prefixed" else ""
        return f"{self.principal} {self.operation} {self.resource} {self.name}{star}"


def broker_name(names: Names, resource: str, name: str) -> str:
    """The broker's name of a grant's topic or group (or prefix) in ``names``' namespace."""
    if not name.startswith(CATALOGUE_PREFIX):
        return name  # a sender's own groups: named by the principal, in every namespace
    if resource == "topic":
        return names.topic(name)
    return names.group(name.removeprefix(CATALOGUE_PREFIX))


def binding(grant: Grant, names: Names) -> Binding:
    """``grant`` as the broker's ACL in ``names``' namespace."""
    return Binding(
        principal="User:" + grant.principal,
        operation=grant.operation,
        resource=grant.resource,
        name=broker_name(names, grant.resource, grant.name),
        pattern=grant.pattern,
    )


def bindings(all_grants: Iterable[Grant], names: Names) -> list[Binding]:
    return sorted({binding(g, names) for g in all_grants})


def principals(all_grants: Iterable[Grant]) -> list[str]:
    """Every principal the grants name (without ``User:``): who needs a credential."""
    return sorted({g.principal for g in all_grants})


def in_namespace(b: Binding, names: Names) -> bool:
    """Whether ``b`` concerns a resource of ``names``' namespace (what prune may remove)."""
    return b.name.startswith(f"{names.namespace}.")


# --- kafka-python ACL objects ----------------------------------------------------------


def to_acl(b: Binding) -> Any:
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    return ACL(
        principal=b.principal,
        host="*",
        operation=ACLOperation.READ if b.operation == "read" else ACLOperation.WRITE,
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(
            ResourceType.TOPIC if b.resource == "topic" else ResourceType.GROUP,
            b.name,
            ACLResourcePatternType.PREFIXED
            if b.pattern == "prefixed"
            else ACLResourcePatternType.LITERAL,
        ),
    )


def from_acl(acl: Any) -> Binding | None:
    """The :class:`Binding` an ACL on the broker is, or None when gridflow never makes
    its kind (a DENY, a host, another operation or resource type)."""
    from kafka.admin import ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourceType

    operations = {ACLOperation.READ: "read", ACLOperation.WRITE: "write"}
    resources = {ResourceType.TOPIC: "topic", ResourceType.GROUP: "group"}
    patterns = {
        ACLResourcePatternType.LITERAL: "literal",
        ACLResourcePatternType.PREFIXED: "prefixed",
    }
    pattern = acl.resource_pattern
    if (
        acl.permission_type != ACLPermissionType.ALLOW
        or acl.host != "*"
        or acl.operation not in operations
        or pattern.resource_type not in resources
        or pattern.pattern_type not in patterns
    ):
        return None
    return Binding(
        principal=acl.principal,
        operation=operations[acl.operation],  # type: ignore[arg-type]
        resource=resources[pattern.resource_type],  # type: ignore[arg-type]
        name=pattern.resource_name,
        pattern=patterns[pattern.pattern_type],  # type: ignore[arg-type]
    )


def _foreign_in_namespace(acl: Any, names: Names) -> bool:
    """An ACL of another kind (DENY, a host...) on a resource of the namespace."""
    return str(acl.resource_pattern.resource_name).startswith(f"{names.namespace}.")


# --- credentials file ------------------------------------------------------------------


def write_credentials(path: Path, credentials: Mapping[str, str]) -> None:
    """Write ``credentials`` to ``path`` atomically, created with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("# gridflow Kafka principals: principal -> SCRAM password. A secret.\n")
            yaml.safe_dump(dict(sorted(credentials.items())), out, allow_unicode=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_credentials(
    path: Path, needed: Sequence[str], generate: bool
) -> tuple[dict[str, str], list[str]]:
    """The password of every principal in ``needed``, and which of them were generated.

    Without ``generate`` a principal missing from the file is an error: a
    deployment's passwords are chosen by its operator, not invented behind
    their back. With it, random ones are added and the file rewritten.
    """
    credentials = load_credentials(path)
    missing = [p for p in needed if p not in credentials]
    if missing and not generate:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise CredentialsError(
            f"{len(missing)} principal(s) have no password in {path}: {shown} "
            "(add them, or pass --generate to create random ones)"
        )
    if missing:
        for p in missing:
            credentials[p] = secrets.token_urlsafe(PASSWORD_BYTES)
        write_credentials(path, credentials)
    return {p: credentials[p] for p in needed}, missing


# --- applying ----------------------------------------------------------------------------


@dataclass
class Applied:
    """What ``apply`` did, for the report."""

    credentials_created: list[str] = field(default_factory=list)
    credentials_updated: list[str] = field(default_factory=list)
    acls_created: list[Binding] = field(default_factory=list)
    acls_present: list[Binding] = field(default_factory=list)
    acls_removed: list[Binding] = field(default_factory=list)


def current_bindings(admin: Any) -> tuple[set[Binding], list[Any]]:
    """Every ACL on the broker: as bindings, and the ones of other kinds as they are."""
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )

    everything = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    acls, _ = admin.describe_acls(everything)
    known: set[Binding] = set()
    other: list[Any] = []
    for acl in acls:
        b = from_acl(acl)
        if b is None:
            other.append(acl)
        else:
            known.add(b)
    return known, other


def set_credentials(admin: Any, credentials: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Upsert the SCRAM-SHA-512 credential of each principal; (created, updated).

    The broker keeps only a salted hash, so whether a password changed cannot be
    told: every credential is written again (a new salt, the same password).
    """
    from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

    if not credentials:
        return [], []
    existing = admin.describe_user_scram_credentials(list(credentials))
    has = {
        user
        for user, info in existing.items()
        if not info["error"]
        and any(c["mechanism"] == ScramMechanism.SCRAM_SHA_512 for c in info["credential_infos"])
    }
    upserts = [
        UserScramCredentialUpsertion(user, ScramMechanism.SCRAM_SHA_512, password)
        for user, password in sorted(credentials.items())
    ]
    failed = {u: e for u, e in admin.alter_user_scram_credentials(upserts).items() if e}
    if failed:
        raise RuntimeError(f"SCRAM credentials refused by the broker: {failed}")
    users = sorted(credentials)
    return [u for u in users if u not in has], [u for u in users if u in has]


def create_bindings(admin: Any, wanted: Sequence[Binding], batch: int = 500) -> None:
    for start in range(0, len(wanted), batch):
        chunk = wanted[start : start + batch]
        result = admin.create_acls([to_acl(b) for b in chunk])
        if result["failed"]:
            raise RuntimeError(f"the broker refused {len(result['failed'])} ACL(s): {result}")


def delete_bindings(admin: Any, gone: Sequence[Any]) -> None:
    """Delete exactly these ACLs (bindings or kafka-python ACL objects)."""
    from kafka.admin import ACL

    acls = [g if isinstance(g, ACL) else to_acl(g) for g in gone]
    for start in range(0, len(acls), 500):
        for _filter, _matched, error in admin.delete_acls(acls[start : start + 500]):
            if error.errno != 0:
                raise RuntimeError(f"deleting ACLs failed: {error}")


def apply(
    admin: Any,
    site: Site,
    processors: Iterable[str],
    names: Names,
    credentials: Mapping[str, str],
    prune: bool = False,
) -> Applied:
    """Make the broker hold the credentials and exactly the ACLs of ``grants()``.

    ``credentials`` must hold the password of every principal the grants name
    (:func:`ensure_credentials`). With ``prune``, ACLs on the namespace's
    resources that the grants do not name are removed, of any kind.
    """
    all_grants = grants(site, processors)
    needed = principals(all_grants)
    missing = [p for p in needed if p not in credentials]
    if missing:
        raise CredentialsError(f"no password for {len(missing)} principal(s): {missing[:5]}")
    out = Applied()
    out.credentials_created, out.credentials_updated = set_credentials(
        admin, {p: credentials[p] for p in needed}
    )
    wanted = bindings(all_grants, names)
    present, other = current_bindings(admin)
    out.acls_present = [b for b in wanted if b in present]
    out.acls_created = [b for b in wanted if b not in present]
    create_bindings(admin, out.acls_created)
    if prune:
        keep = set(wanted)
        stale = sorted(b for b in present if in_namespace(b, names) and b not in keep)
        foreign = [a for a in other if _foreign_in_namespace(a, names)]
        delete_bindings(admin, [*stale, *foreign])
        out.acls_removed = stale
        if foreign:
            log.info("removed ACLs of other kinds", extra={"acls_removed": len(foreign)})
    return out


def revoke(admin: Any, names: Names) -> list[Binding]:
    """Remove every gridflow ACL on the namespace's resources (a test's clean-up)."""
    present, _ = current_bindings(admin)
    gone = sorted(b for b in present if in_namespace(b, names))
    delete_bindings(admin, gone)
    return gone


def admin_client(
    bootstrap: str, security: Mapping[str, Any], client_id: str = "gridflow-acl"
) -> Any:
    """A kafka-python admin client as the principal of ``security`` (the admin)."""
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(
        bootstrap_servers=bootstrap.split(","), client_id=client_id, **dict(security)
    )


__all__ = [
    "DEFAULT_ADMIN",
    "Applied",
    "Binding",
    "CredentialsError",
    "admin_client",
    "apply",
    "binding",
    "bindings",
    "broker_name",
    "ensure_credentials",
    "from_acl",
    "load_credentials",
    "principals",
    "revoke",
    "to_acl",
    "write_credentials",
]
