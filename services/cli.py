"""The ``gridflow`` command: run a processor, provision topics, migrate, demo, report."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from services.settings import PROCESSORS, Settings

app = typer.Typer(
    help="gridflow: grid-governance and 12345 case workflow engine.", no_args_is_help=True
)
topics_app = typer.Typer(help="The Kafka topics of the catalogue.", no_args_is_help=True)
db_app = typer.Typer(help="The processors' database.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(db_app, name="db")
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

    _settings()
    cluster = LocalCluster(logs)
    cluster.start()
    console.print(f"five processors running; logs in {logs}/; Ctrl-C stops them")
    signal.signal(signal.SIGTERM, interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        cluster.wait()
    codes = cluster.stop()
    console.print(f"stopped: {codes}")
    if any(code != 0 for code in codes.values()):
        raise typer.Exit(1)


@topics_app.command("create")
def topics_create() -> None:
    """Create the catalogue's topics and one assignment topic per unit (idempotent)."""
    from schemas.catalogue import load_site
    from services.topics import create_topics, site_topics

    settings = _settings()
    topics = site_topics(load_site(settings.site))
    created, existed = create_topics(settings.kafka_bootstrap, topics, settings.topic_replication)
    console.print(f"topics: {created} created, {existed} already there")


@topics_app.command("list")
def topics_list() -> None:
    """Print the topic catalogue: name, key, messages, writers, readers."""
    from schemas.topics import ASSIGNMENT_PREFIX, CATALOGUE

    table = Table("topic", "key", "messages", "writers", "readers")
    for t in CATALOGUE:
        kinds = ", ".join(getattr(m, "TYPE", "") or m.__name__ for m in t.carries)
        table.add_row(t.name, t.key, kinds, ", ".join(t.writers), ", ".join(t.readers))
    table.add_row(ASSIGNMENT_PREFIX + "<unit_id>", "case_id", "case.assigned", "router", "the unit")
    console.print(table)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the newest schema."""
    from services.storage.db import make_engine
    from services.storage.migrate import current, upgrade

    engine = make_engine(_settings().database_url)
    upgrade(engine)
    console.print(f"database at revision {current(engine)}")


@app.command()
def report() -> None:
    """Print the archive's figures from the database (GRIDFLOW_DATABASE_URL)."""
    from archive.sql import read_report
    from services.demo.summary import print_report
    from services.storage.db import make_engine

    print_report(console, read_report(make_engine(_settings().database_url)))


@app.command()
def demo(
    reports: Annotated[int, typer.Option(help="How many reports the channels send.")] = 360,
    days: Annotated[int, typer.Option(help="Working days of reports.")] = 8,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same run.")] = 7,
    database: Annotated[
        str, typer.Option(help="SQLAlchemy URL of the demo's database.")
    ] = "sqlite:///.run/demo.sqlite",
) -> None:
    """Run every processor in this process over a simulated street (seed 000)."""
    from services.demo.run import run_demo

    log_file = Path(".run/demo.log")
    settings = _settings(log_file)
    console.print(f"logs: {log_file}")
    if database.startswith("sqlite:///") and not database.startswith("sqlite:////"):
        path = Path(database.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
    run_demo(
        console, reports=reports, days=days, seed=seed, database_url=database, settings=settings
    )


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

    settings = _settings()
    tz = ZoneInfo(load_site(settings.site).timezone)
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
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap.split(","), acks="all")
    producer.send(CLOCK.name, value=encode(message)).get(timeout=30)
    producer.close()
    console.print(f"clock ticked to {moment.isoformat()}")


@app.command()
def send(
    file: Annotated[Path, typer.Argument(help="JSON lines file of raw reports, or - for stdin")],
) -> None:
    """Produce raw reports (one JSON object a line) to the intake topic, as a channel does."""
    from kafka import KafkaProducer

    from schemas.topics import REPORTS_RAW

    settings = _settings()
    lines = sys.stdin if str(file) == "-" else file.open(encoding="utf-8")
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap.split(","), acks="all")
    count = 0
    for line in lines:
        if line.strip():
            try:
                data = json.loads(line)
                key = f"{data.get('channel')}:{data.get('external_id')}".encode()
            except (json.JSONDecodeError, AttributeError):
                key = None  # intake dead-letters it with the reason
            producer.send(REPORTS_RAW.name, key=key, value=line.strip().encode())
            count += 1
    producer.flush()
    producer.close()
    console.print(f"sent {count} report(s) to {REPORTS_RAW.name}")


@app.command("schemas")
def export_schemas() -> None:
    """Regenerate the JSON Schema files in schemas/json/."""
    from schemas.jsonschema import write

    for path in write():
        console.print(f"wrote {path}")


def main() -> None:
    app()
