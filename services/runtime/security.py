"""How a gridflow client proves who it is to Kafka: the kafka-python security kwargs.

On a broker with SASL/SCRAM and ACLs (``deploy/kafka/start.sh --sasl``, and any
production cluster) every client authenticates as its own principal: a processor
as ``gridflow.<processor>``, a unit or another sender as its id, the provisioning
commands as the admin. What a principal may do is ``schemas.access.grants``,
made into ACLs by ``gridflow acl apply``. This module only turns the settings
into the keyword arguments every kafka-python client (``KafkaConsumer``,
``KafkaProducer``, ``KafkaAdminClient``) takes, so that all of them are secured
the same way and none is forgotten.

The principal is ``GRIDFLOW_KAFKA_USERNAME``, else the caller's default (a
processor's own, ``gridflow.<processor>``, so that ``gridflow up`` runs five
processes as five principals from one environment). The password comes from
``GRIDFLOW_KAFKA_PASSWORD_FILE`` (a mounted secret), ``GRIDFLOW_KAFKA_PASSWORD``,
or the principal's entry in the credentials file ``gridflow acl apply`` reads
(``GRIDFLOW_KAFKA_CREDENTIALS_FILE``); there is no default. Credentials with the
``PLAINTEXT`` protocol are refused rather than silently ignored: a client that
was meant to authenticate must not quietly connect without.
"""

from __future__ import annotations

import stat
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CredentialsError(ValueError):
    """A credentials file that cannot be used as it is."""


def load_credentials(path: Path) -> dict[str, str]:
    """``principal -> password`` from the YAML file ``path``; {} when it does not exist yet.

    It holds every principal's password, so, like ssh with a private key, it is
    refused when anyone but its owner may read it.
    """
    if not path.exists():
        return {}
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise CredentialsError(
            f"{path} holds passwords but others may read it (mode {mode:04o}): chmod 600 {path}"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CredentialsError(f"{path} is not YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in data.items()
    ):
        raise CredentialsError(f"{path} must map each principal to a password (strings)")
    return dict(data)


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"  # the open local broker and the quick tests
    SASL_PLAINTEXT = "SASL_PLAINTEXT"  # SASL on a trusted network (the local SASL broker)
    SASL_SSL = "SASL_SSL"  # SASL inside TLS: production across machines


class SaslMechanism(StrEnum):
    SCRAM_SHA_512 = "SCRAM-SHA-512"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    PLAIN = "PLAIN"  # only inside TLS: the password travels as it is


class KafkaSecurity(BaseSettings):
    """The client side of Kafka security, from ``GRIDFLOW_KAFKA_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="GRIDFLOW_KAFKA_", extra="ignore")

    security_protocol: SecurityProtocol = Field(
        default=SecurityProtocol.PLAINTEXT,
        description="PLAINTEXT (no authentication), SASL_PLAINTEXT or SASL_SSL.",
    )
    sasl_mechanism: SaslMechanism = Field(
        default=SaslMechanism.SCRAM_SHA_512,
        description="SASL mechanism: SCRAM-SHA-512 (the deploy scripts'), SCRAM-SHA-256, PLAIN.",
    )
    username: str | None = Field(
        default=None,
        description="The principal this process authenticates as; default: the caller's "
        "(a processor's own, gridflow.<processor>).",
    )
    password: SecretStr | None = Field(default=None, description="Its password.")
    password_file: Path | None = Field(
        default=None, description="A file whose first line is its password (a mounted secret)."
    )
    credentials_file: Path | None = Field(
        default=None,
        description="With neither password setting: the principal's entry in this YAML file "
        "(principal -> password, mode 0600), the one `gridflow acl apply` reads.",
    )
    ssl_cafile: Path | None = Field(
        default=None, description="SASL_SSL: the CA bundle to check the brokers' certificates."
    )

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        given = self.username is not None or self.password is not None or self.password_file
        if self.security_protocol is SecurityProtocol.PLAINTEXT:
            if given:
                raise ValueError(
                    "Kafka credentials are set but GRIDFLOW_KAFKA_SECURITY_PROTOCOL is "
                    "PLAINTEXT, which would ignore them: set it to SASL_PLAINTEXT or SASL_SSL"
                )
            return self
        if self.password is not None and self.password_file is not None:
            raise ValueError(
                "give one of GRIDFLOW_KAFKA_PASSWORD and GRIDFLOW_KAFKA_PASSWORD_FILE, not both"
            )
        if self.password is None and self.password_file is None and not self.credentials_file:
            raise ValueError(
                f"{self.security_protocol} needs a password: GRIDFLOW_KAFKA_PASSWORD_FILE, "
                "GRIDFLOW_KAFKA_PASSWORD or GRIDFLOW_KAFKA_CREDENTIALS_FILE"
            )
        if (
            self.security_protocol is SecurityProtocol.SASL_PLAINTEXT
            and self.sasl_mechanism is SaslMechanism.PLAIN
        ):
            raise ValueError("SASL PLAIN sends the password in clear: use it with SASL_SSL only")
        return self

    def principal(self, default: str | None = None) -> str:
        """Who this client authenticates as: the setting, else ``default``."""
        who = self.username or default
        if not who:
            raise ValueError(f"{self.security_protocol} needs GRIDFLOW_KAFKA_USERNAME")
        return who

    def secret(self, principal: str | None = None) -> str:
        """The password, read from its file each time (a rotated secret is picked up)."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is None:
            assert self.credentials_file is not None
            who = self.principal(principal)
            found = load_credentials(self.credentials_file).get(who)
            if not found:
                raise ValueError(f"no password for {who} in {self.credentials_file}")
            return found
        try:
            lines = self.password_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"cannot read GRIDFLOW_KAFKA_PASSWORD_FILE: {exc}") from None
        if not lines or not lines[0]:
            raise ValueError(f"GRIDFLOW_KAFKA_PASSWORD_FILE {self.password_file} is empty")
        return lines[0]

    def kwargs(self, principal: str | None = None) -> dict[str, Any]:
        """The kwargs for any kafka-python client; empty for PLAINTEXT (its defaults).

        ``principal`` is who to be when GRIDFLOW_KAFKA_USERNAME is not set.
        """
        if self.security_protocol is SecurityProtocol.PLAINTEXT:
            return {}
        who = self.principal(principal)
        out: dict[str, Any] = {
            "security_protocol": str(self.security_protocol),
            "sasl_mechanism": str(self.sasl_mechanism),
            "sasl_plain_username": who,
            "sasl_plain_password": self.secret(who),
        }
        if self.security_protocol is SecurityProtocol.SASL_SSL and self.ssl_cafile:
            out["ssl_cafile"] = str(self.ssl_cafile)
        return out


def sasl_kwargs(
    username: str,
    password: str,
    protocol: SecurityProtocol = SecurityProtocol.SASL_PLAINTEXT,
    mechanism: SaslMechanism = SaslMechanism.SCRAM_SHA_512,
) -> dict[str, Any]:
    """The kwargs for one principal given outright (tools and tests that act as several)."""
    return KafkaSecurity(
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        username=username,
        password=SecretStr(password),
    ).kwargs()


def client_security(principal: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The kwargs from the environment (``GRIDFLOW_KAFKA_*``), with ``overrides`` on top;
    ``principal`` is who to be when GRIDFLOW_KAFKA_USERNAME is not set (a processor's
    :func:`~schemas.access.processor_principal`)."""
    return KafkaSecurity(**overrides).kwargs(principal)


__all__ = [
    "CredentialsError",
    "KafkaSecurity",
    "SaslMechanism",
    "SecurityProtocol",
    "client_security",
    "load_credentials",
    "sasl_kwargs",
]
