"""The ``gridflow`` command: run a processor, provision topics, migrate, demo, report."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.cli_archive import api_app, archive_app, serve_api
from services.cli_calendar import calendar_app
from services.cli_case import case_app
from services.cli_deadletters import deadletters
from services.cli_kpi import kpi, report
from services.cli_notify import notify_app
from services.cli_route import route
from services.cli_serve import serve_app
from services.cli_site import site_app
from services.processors import PROCESSORS
from services.settings import Settings

app = typer.Typer(
    help="gridflow: grid-governance and 12345 case workflow engine.", no_args_is_help=True
)
topics_app = typer.Typer(help="The Kafka topics of the catalogue.", no_args_is_help=True)
db_app = typer.Typer(help="The processors' database.", no_args_is_help=True)
acl_app = typer.Typer(
    help="Kafka principals and ACLs, provisioned from the registry.", no_args_is_help=True
)
app.add_typer(topics_app, name="topics")
app.add_typer(db_app, name="db")
app.add_typer(acl_app, name="acl")
app.command("deadletters")(deadletters)
app.add_typer(calendar_app, name="calendar")
app.add_typer(archive_app, name="archive")
app.add_typer(api_app, name="api")
app.add_typer(case_app, name="case")
app.command("kpi")(kpi)
app.command("report")(report)
app.add_typer(notify_app, name="notify")
app.command("route")(route)
app.add_typer(site_app, name="site")
app.add_typer(serve_app, name="serve")
serve_app.command("api")(serve_api)
console = Console()


def _settings(log_file: Path | None = None) -> Settings:
    from services.logs import configure

    settings = Settings()
    configure(settings.log_level, settings.log_format, log_file)
    return settings


@app.command()
def run(
    processor: Annotated[
        str, typer.Argument(help="intake, router, escalator, notifier or archive")
    ],
) -> None:
    """Run one processor on Kafka, as its own process and consumer group."""
    if processor not in PROCESSORS:
        raise typer.BadParameter(f"choose one of {', '.join(PROCESSORS)}")
    from services.runtime.worker import run as run_worker

    run_worker(processor, _settings())


@app.command()
def up(
    logs: Annotated[Path, typer.Option(help="Directory for the processors' logs.")] = Path(
        ".run/logs"
    ),
) -> None:
    """Run all five processors on Kafka, each as its own process, until Ctrl-C."""
    import contextlib
    import signal

    from services.runtime.local import LocalCluster

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    from services.processors import cluster_ports

    settings = _settings()
    cluster = LocalCluster(logs, metrics_ports=cluster_ports(settings.metrics_port))
    cluster.start()
    console.print(f"five processors running; logs in {logs}/; Ctrl-C stops them")
    signal.signal(signal.SIGTERM, interrupt)
    crashed = None
    with contextlib.suppress(KeyboardInterrupt):
        crashed = cluster.wait()
    if crashed is not None:
        name, status = crashed
        console.print(f"[red]{name} exited with status {status}[/]; stopping the others")
    codes = cluster.stop()
    console.print(f"stopped: {codes}")
    if crashed is not None or any(code != 0 for code in codes.values()):
        raise typer.Exit(1)


@topics_app.command("create")
def topics_create() -> None:
    """Create the catalogue's topics and one assignment topic per unit (idempotent)."""
    from schemas.catalogue import load_site
    from services.runtime.names import Names
    from services.runtime.security import client_security
    from services.topics import create_topics, site_topics

    settings = _settings()
    topics = site_topics(load_site(settings.site))
    created, existed = create_topics(
        settings.kafka_bootstrap,
        topics,
        settings.topic_replication,
        Names(settings.namespace),
        client_security(),  # on a SASL broker: as the admin (GRIDFLOW_KAFKA_USERNAME)
    )
    console.print(f"topics: {created} created, {existed} already there")


@topics_app.command("list")
def topics_list() -> None:
    """Print the topic catalogue: name, key, messages, writers, readers."""
    from schemas.topics import ASSIGNMENTS, CATALOGUE

    table = Table("topic", "key", "messages", "writers", "readers")
    for t in (*CATALOGUE, ASSIGNMENTS):
        kinds = ", ".join(getattr(m, "TYPE", "") or m.__name__ for m in t.carries)
        table.add_row(t.name, t.key, kinds, ", ".join(t.writers), ", ".join(t.readers))
    console.print(table)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the newest schema."""
    from services.storage.migrate import current, upgrade
    from storage.db import make_engine

    engine = make_engine(_settings().database_url)
    upgrade(engine)
    console.print(f"database at revision {current(engine)}")


@app.command()
def demo(
    reports: Annotated[int, typer.Option(help="How many reports the channels send.")] = 360,
    days: Annotated[int, typer.Option(help="Working days of reports.")] = 8,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same run.")] = 7,
    database: Annotated[
        str | None,
        typer.Option(
            help="SQLAlchemy URL of an empty database for the run; default: a new "
            "demo.sqlite under GRIDFLOW_RUN_DIR, replaced on each run."
        ),
    ] = None,
) -> None:
    """Run every processor in this process over a simulated street (seed 000)."""
    from services.demo.run import run_demo

    run_dir = Settings().run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    log_file = run_dir / "demo.log"
    settings = _settings(log_file)
    console.print(f"logs: {log_file}")
    if database is None:  # the demo's own file: a new run replaces it
        path = run_dir / "demo.sqlite"
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        database = f"sqlite:///{path}"
    else:
        _refuse_a_used_database(database)
    run_demo(
        console, reports=reports, days=days, seed=seed, database_url=database, settings=settings
    )


def _refuse_a_used_database(url: str) -> None:
    """A database given to the demo is never deleted, nor mixed with an earlier run."""
    from sqlalchemy import inspect

    from storage.db import make_engine

    engine = make_engine(url)
    try:
        used = "archive_events" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if used:
        console.print(
            f"[red]{url} holds gridflow tables already.[/] The demo never deletes a database "
            "it is given: give it an empty one, or leave --database out."
        )
        raise typer.Exit(2)


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([dhm])$")


@app.command()
def tick(
    at: Annotated[str | None, typer.Option(help="ISO time to set the clock to.")] = None,
    advance: Annotated[
        str | None, typer.Option(help="Move the clock from now: e.g. 3d, 12h, 30m.")
    ] = None,
) -> None:
    """Publish a clock tick for an escalator running with GRIDFLOW_CLOCK=ticks."""
    from kafka import KafkaProducer

    from schemas.catalogue import load_site
    from schemas.clock import ClockTicked, TickPayload
    from schemas.codec import encode
    from schemas.topics import CLOCK
    from services.runtime.clock import SystemClock
    from services.runtime.names import Names
    from services.runtime.security import client_security

    settings = _settings()
    tz = load_site(settings.site).tz
    moment = datetime.fromisoformat(at) if at else SystemClock(tz).now()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    if advance:
        match = _DURATION.match(advance)
        if not match:
            raise typer.BadParameter("advance looks like 3d, 12h or 30m")
        unit = {"d": "days", "h": "hours", "m": "minutes"}[match.group(2)]
        moment += timedelta(**{unit: float(match.group(1))})
    message = ClockTicked.derive(
        TickPayload(now=moment),
        producer="gridflow-cli",
        now=moment,
        case_id=None,
        key=(moment.isoformat(),),
    )
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap.split(","), acks="all", **client_security()
    )
    topic = Names(settings.namespace).topic(CLOCK.name)
    producer.send(topic, value=encode(message)).get(timeout=30)
    producer.close()
    console.print(f"clock ticked to {moment.isoformat()}")


@app.command()
def send(
    file: Annotated[Path, typer.Argument(help="JSON lines file of raw reports, or - for stdin")],
    channel: Annotated[
        str | None,
        typer.Option(
            help="Send every line on this channel's report topic (on a SASL broker, the "
            "channel GRIDFLOW_KAFKA_USERNAME speaks for). By default each line goes to the "
            "topic of the channel it names."
        ),
    ] = None,
) -> None:
    """Produce raw reports (one JSON object a line) to the channels' report topics."""
    from kafka import KafkaProducer

    from schemas.access import channel_topic
    from schemas.catalogue import load_site
    from schemas.reports import Channel
    from services.runtime.names import Names
    from services.runtime.security import client_security

    settings = _settings()
    site, names = load_site(settings.site), Names(settings.namespace)
    known = {c.value: c for c in Channel if site.channel_sender(c) is not None}
    if channel is not None and channel not in known:
        raise typer.BadParameter(f"{channel!r} is not a channel of site {site.id}: {sorted(known)}")
    lines = sys.stdin if str(file) == "-" else file.open(encoding="utf-8")
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        acks="all",
        **client_security(),  # on a SASL broker: as the channel (GRIDFLOW_KAFKA_USERNAME)
    )
    count, not_objects, unsent, topics = 0, [], [], set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            key = f"{data.get('channel')}:{data.get('external_id')}".encode()
        else:
            key = None  # intake dead-letters it with the reason
            not_objects.append(number)
        named = data.get("channel") if isinstance(data, dict) else None
        chosen = channel or (named if isinstance(named, str) else None)
        if chosen not in known:
            unsent.append(number)  # no channel to send it as: refused here, not sent
            continue
        topic = names.topic(channel_topic(site, known[chosen]).name)
        topics.add(topic)
        producer.send(topic, key=key, value=line.strip().encode())
        count += 1
    producer.flush()
    producer.close()
    console.print(f"sent {count} report(s) to {', '.join(sorted(topics)) or 'no topic'}")
    if not_objects:
        shown = ", ".join(map(str, not_objects[:10])) + (" ..." if len(not_objects) > 10 else "")
        console.print(
            f"[yellow]warning:[/] {len(not_objects)} line(s) are not a JSON object each "
            f"(lines {shown}); they will be dead letters. The file must be JSON lines, one "
            "report a line: a pretty-printed file can be converted with `jq -c . FILE`."
        )
    if unsent:
        shown = ", ".join(map(str, unsent[:10])) + (" ..." if len(unsent) > 10 else "")
        console.print(
            f"[red]not sent:[/] {len(unsent)} line(s) name no channel of site {site.id} "
            f"(lines {shown}); a report travels on its channel's own topic. Give --channel."
        )
        raise typer.Exit(1)


@app.command("schemas")
def export_schemas() -> None:
    """Regenerate the JSON Schema files in schemas/json/."""
    from schemas.jsonschema import write

    for path in write():
        console.print(f"wrote {path}")


@acl_app.command("apply")
def acl_apply(
    credentials: Annotated[
        Path,
        typer.Option(
            envvar="GRIDFLOW_KAFKA_CREDENTIALS_FILE",
            help="YAML file, principal -> password, of every principal (mode 0600).",
        ),
    ],
    generate: Annotated[
        bool, typer.Option(help="Add random passwords for missing principals to the file.")
    ] = False,
    prune: Annotated[
        bool, typer.Option(help="Also remove ACLs on the namespace's resources not granted.")
    ] = False,
    username: Annotated[
        str | None, typer.Option(help="Admin principal; default GRIDFLOW_KAFKA_USERNAME.")
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(help="Admin password file; default GRIDFLOW_KAFKA_PASSWORD(_FILE)."),
    ] = None,
) -> None:
    """Create the SCRAM credentials of every principal and exactly the ACLs of the grants.

    Connects as the admin (a super user) with GRIDFLOW_KAFKA_BOOTSTRAP and the
    GRIDFLOW_KAFKA_* security settings; idempotent.
    """
    from schemas.access import grants
    from schemas.catalogue import load_site
    from services.acl import CredentialsError, admin_client, apply, ensure_credentials, principals
    from services.processors import PROCESSORS
    from services.runtime.names import Names

    settings = _settings()
    site = load_site(settings.site)
    try:
        passwords, generated = ensure_credentials(
            credentials, principals(grants(site, PROCESSORS)), generate
        )
        security = _admin_security(username, password_file)
    except (CredentialsError, ValueError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    if generated:
        console.print(f"generated {len(generated)} password(s) into {credentials}")
    admin = admin_client(settings.kafka_bootstrap, security)
    try:
        done = apply(admin, site, PROCESSORS, Names(settings.namespace), passwords, prune=prune)
    finally:
        admin.close()
    console.print(
        f"credentials: {len(done.credentials_created)} created, "
        f"{len(done.credentials_updated)} updated"
    )
    console.print(
        f"ACLs: {len(done.acls_created)} created, {len(done.acls_present)} already present"
        + (f", {len(done.acls_removed)} removed" if prune else "")
    )


def _admin_security(username: str | None, password_file: Path | None) -> dict[str, object]:
    """The admin's client security: GRIDFLOW_KAFKA_*, the options on top."""
    import os

    from services.runtime.security import KafkaSecurity

    overrides: dict[str, object] = {}
    if username is not None:
        overrides["username"] = username
    if password_file is not None:
        overrides["password_file"] = password_file
        overrides["password"] = None
    if overrides and "GRIDFLOW_KAFKA_SECURITY_PROTOCOL" not in os.environ:
        overrides["security_protocol"] = "SASL_PLAINTEXT"
    return KafkaSecurity(**overrides).kwargs()


@acl_app.command("show")
def acl_show(
    principal: Annotated[
        str | None, typer.Option(help="Only this principal's ACLs (e.g. zs.urban).")
    ] = None,
) -> None:
    """Print the ACLs `acl apply` creates, in this deployment's namespace."""
    from schemas.access import grants
    from schemas.catalogue import load_site
    from services.acl import bindings
    from services.processors import PROCESSORS
    from services.runtime.names import Names

    settings = _settings()
    rows = bindings(grants(load_site(settings.site), PROCESSORS), Names(settings.namespace))
    if principal is not None:
        rows = [b for b in rows if b.principal == f"User:{principal}"]
    table = Table("principal", "operation", "resource", "name", "pattern")
    table.columns[3].overflow = "fold"
    for b in rows:
        table.add_row(b.principal, b.operation, b.resource, b.name, b.pattern)
    console.print(table)
    principals = {b.principal for b in rows}
    console.print(f"{len(rows)} ACL(s) for {len(principals)} principal(s)")


def main() -> None:
    app()
