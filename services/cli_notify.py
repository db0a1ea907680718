"""``gridflow notify``: the notifier's outbox, for operators.

- ``gridflow notify send``: the sender alone, as its own process (with
  ``GRIDFLOW_NOTIFY_SENDER_INLINE=false`` for the notifier), until SIGTERM or Ctrl-C;
- ``gridflow notify outbox``: the latest deliveries and where each stands;
- ``gridflow notify replay``: dead letters pending again, sent by the next round.

It reads the notifier's database (``GRIDFLOW_DATABASE_URL``). Registered on the main
app by ``services/cli.py`` (``app.add_typer(notify_app, name="notify")``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from notifier.sql import SqlOutbox
    from services.settings import Settings
    from storage.db import Transaction

notify_app = typer.Typer(help="The notifier's outbox: send, list, replay dead letters.")


def _settings() -> Settings:
    from services.logs import configure
    from services.settings import Settings

    settings = Settings()
    configure(settings.log_level, settings.log_format)
    return settings


def _outbox(settings: Settings) -> tuple[Engine, Transaction, SqlOutbox]:
    from notifier.sql import SqlOutbox
    from services.storage.migrate import upgrade
    from storage.db import Transaction, make_engine

    engine = make_engine(settings.database_url)
    upgrade(engine)
    tx = Transaction(engine)
    return engine, tx, SqlOutbox(tx)


@notify_app.command("send")
def send() -> None:
    """Run the notifier's sender alone, delivering from the outbox until Ctrl-C."""
    from services.runtime.sender import run_alone

    run_alone(_settings())


@notify_app.command("outbox")
def outbox(
    status: Annotated[
        str | None, typer.Option(help="Only deliveries in this state: pending, delivered, dead.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """List the latest deliveries: where each stands, and the last error."""
    from notifier.ports import OutboxStatus

    try:
        wanted = OutboxStatus(status) if status else None
    except ValueError:
        raise typer.BadParameter("status is pending, delivered or dead") from None
    engine, tx, box = _outbox(_settings())
    try:
        with tx.begin():
            rows = box.rows(wanted, limit)
    finally:
        engine.dispose()
    # the recipient says who ("resident"), never a resident's number or address
    listed = [
        {
            "key": r.entry.key,
            "channel": r.entry.channel.value,
            "recipient": r.entry.recipient,
            "template": r.entry.template,
            "case_id": r.entry.case_id,
            "status": r.status.value,
            "attempts": r.attempts,
            "next_at": r.next_at.isoformat(timespec="seconds")
            if r.status is OutboxStatus.PENDING and r.next_at
            else None,
            "http_status": r.http_status,
            "error": r.error,
        }
        for r in rows
    ]
    if as_json:
        for item in listed:
            typer.echo(json.dumps(item, ensure_ascii=False))
        return
    table = Table("key", "channel", "recipient", "template", "case", "status", "tries", "next")
    table.add_column("error", overflow="fold")
    for item in listed:
        table.add_row(
            *(str(item[k] or "") for k in ("key", "channel", "recipient", "template", "case_id")),
            str(item["status"]),
            str(item["attempts"]),
            str(item["next_at"] or ""),
            str(item["error"] or ""),
        )
    Console().print(table)


@notify_app.command("replay")
def replay(
    key: Annotated[
        list[str] | None, typer.Option("--key", help="Only this dead letter's key (repeatable).")
    ] = None,
) -> None:
    """Send dead letters again: pending from now, their attempts counted afresh."""
    engine, tx, box = _outbox(_settings())
    try:
        with tx.begin():
            n = box.replay(datetime.now(UTC), key or None)
    finally:
        engine.dispose()
    Console().print(f"{n} dead letter(s) queued again")
