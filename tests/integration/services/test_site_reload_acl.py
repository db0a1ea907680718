"""``gridflow site reload --credentials`` on the SASL broker with ACLs (issue 9, point 3).

A unit added to the catalogue gets, from the one admin step, its topics, its SCRAM
credential and its ACLs: it may write its own command topic at once. The
processors need no admin right for it (docs/ARCHITECTURE.md, "A catalogue that
changes while the processes run").
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer
from typer.testing import CliRunner

from schemas.access import grants
from schemas.catalogue import DEFAULT_SITE, load_site
from schemas.topics import assignment_topic, command_topic
from services.acl import admin_client, bindings, current_bindings, load_credentials, revoke
from services.cli_site import site_app
from services.processors import PROCESSORS
from services.runtime.names import Names
from services.runtime.security import sasl_kwargs
from services.site_watch import marked_version
from services.topics import site_topics
from tests.infra import SaslKafka
from tests.support.processes import wait_for
from tests.unit.services.test_site_watch import add_unit

pytestmark = pytest.mark.kafka
NEW = "zs.bikes"


def test_reload_gives_a_new_unit_its_topics_credential_and_acls(
    kafka_sasl: SaslKafka, tmp_path: Path
) -> None:
    site_dir = tmp_path / "site"
    shutil.copytree(DEFAULT_SITE, site_dir)
    add_unit(site_dir)
    site = load_site(site_dir)
    names = Names(f"reloadacl{uuid.uuid4().hex[:8]}")
    credentials = tmp_path / "principals.yaml"
    admin = admin_client(kafka_sasl.bootstrap, kafka_sasl.admin(), client_id="gridflow-test")
    try:
        result = CliRunner().invoke(
            site_app,
            ["reload", "--credentials", str(credentials), "--generate"],
            env={
                "GRIDFLOW_KAFKA_BOOTSTRAP": kafka_sasl.bootstrap,
                "GRIDFLOW_NAMESPACE": names.namespace,
                "GRIDFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "GRIDFLOW_KAFKA_USERNAME": kafka_sasl.admin_user,
                "GRIDFLOW_KAFKA_PASSWORD": kafka_sasl.admin_password,
                "GRIDFLOW_KAFKA_PASSWORD_FILE": None,  # unset
                "GRIDFLOW_SITE": str(site_dir),
                "GRIDFLOW_LOG_FORMAT": "console",
            },
        )
        assert result.exit_code == 0, result.output
        assert "ACLs: " in result.output and "created" in result.output, result.output
        assert marked_version(site_dir) == site.version
        wanted = [
            b for b in bindings(grants(site, PROCESSORS), names) if b.principal == f"User:{NEW}"
        ]
        assert wanted
        # the broker shows new ACLs a moment after it acknowledged them
        wait_for("the new unit's ACLs", lambda: set(wanted) <= current_bindings(admin)[0], 30)
        assert names.topic(assignment_topic(NEW).name) in admin.list_topics()
        password = load_credentials(credentials)[NEW]
        producer = KafkaProducer(
            bootstrap_servers=kafka_sasl.bootstrap,
            request_timeout_ms=10_000,
            **sasl_kwargs(NEW, password),
        )
        try:  # the new unit writes its own command topic: authorised
            producer.send(names.topic(command_topic(NEW).name), b"{}").get(timeout=15)
        finally:
            producer.close()
    finally:
        revoke(admin, names)
        admin.delete_topics([names.topic(t.name) for t in site_topics(site)], timeout_ms=30_000)
        admin.close()
