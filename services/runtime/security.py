"""How a gridflow client proves who it is to Kafka: the kafka-python security kwargs.

On a broker with SASL/SCRAM and ACLs (``deploy/kafka/start.sh --sasl``, and any
production cluster) every client authenticates as its own principal: a processor
as ``gridflow.<processor>``, a unit or another sender as its id, the provisioning
commands as the admin. What a principal may do is ``schemas.access.grants``,
made into ACLs by ``gridflow acl apply``. This module only turns the settings
into the keyword arguments every kafka-python client (``KafkaConsumer``,
``KafkaProducer``, ``KafkaAdminClient``) takes, so that all of them are secured
the same way and none is forgotten.

The password comes from ``GRIDFLOW_KAFKA_PASSWORD_FILE`` (a mounted secret) or
``GRIDFLOW_KAFKA_PASSWORD``; there is no default. Credentials with the
``PLAINTEXT`` protocol are refused rather than silently ignored: a client that
was meant to authenticate must not quietly connect without.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
        default=None, description="The principal this process authenticates as."
    )
    password: SecretStr | None = Field(default=None, description="Its password.")
    password_file: Path | None = Field(
        default=None, description="A file whose first line is its password (a mounted secret)."
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
        if not self.username:
            raise ValueError(f"{self.security_protocol} needs GRIDFLOW_KAFKA_USERNAME")
        if (self.password is None) == (self.password_file is None):
            raise ValueError(
                "give exactly one of GRIDFLOW_KAFKA_PASSWORD and GRIDFLOW_KAFKA_PASSWORD_FILE"
            )
        if (
            self.security_protocol is SecurityProtocol.SASL_PLAINTEXT
            and self.sasl_mechanism is SaslMechanism.PLAIN
        ):
            raise ValueError("SASL PLAIN sends the password in clear: use it with SASL_SSL only")
        return self

    def secret(self) -> str:
        """The password, read from its file each time (a rotated secret is picked up)."""
        if self.password is not None:
            return self.password.get_secret_value()
        assert self.password_file is not None
        try:
            lines = self.password_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"cannot read GRIDFLOW_KAFKA_PASSWORD_FILE: {exc}") from None
        if not lines or not lines[0]:
            raise ValueError(f"GRIDFLOW_KAFKA_PASSWORD_FILE {self.password_file} is empty")
        return lines[0]

    def kwargs(self) -> dict[str, Any]:
        """The kwargs for any kafka-python client; empty for PLAINTEXT (its defaults)."""
        if self.security_protocol is SecurityProtocol.PLAINTEXT:
            return {}
        out: dict[str, Any] = {
            "security_protocol": str(self.security_protocol),
            "sasl_mechanism": str(self.sasl_mechanism),
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.secret(),
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


def client_security(**overrides: Any) -> dict[str, Any]:
    """The kwargs from the environment (``GRIDFLOW_KAFKA_*``), with ``overrides`` on top."""
    return KafkaSecurity(**overrides).kwargs()


__all__ = [
    "KafkaSecurity",
    "SaslMechanism",
    "SecurityProtocol",
    "client_security",
    "sasl_kwargs",
]
