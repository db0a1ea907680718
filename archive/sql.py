"""The archive store in SQL (SQLite or PostgreSQL): tables, adapter, and the report queries."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
)
from sqlalchemy import Sequence as DbSequence

from archive.kpi import (
    ALL,
    AS_OF,
    KEYS,
    MEASURES,
    AnyOf,
    AtMost,
    By,
    Condition,
    Figures,
    HandlingClock,
    InRange,
    Is,
    IsNot,
    IsSet,
    Measure,
    Period,
    Tally,
    bounds,
    period_of,
)
from archive.ports import ArchivedEvent, ArchiveStore, DeadLetterRow
from archive.projection import CaseRow, replay
from archive.report import (
    ESCALATED,
    LAPSED,
    NOTIFICATION,
    SATISFIED_FROM,
    WARNING,
    ArchiveReport,
    counts,
)
from schemas.cases import Stage
from storage.db import MAX_ROWS, Transaction, metadata, upsert
from storage.types import JsonDocument, UtcDateTime

archive_events = Table(
    "archive_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("type", String(64), nullable=False, index=True),
    Column("case_id", String(64), index=True),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("producer", String(64), nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("causation_id", String(64)),
    Column("schema_version", Integer, nullable=False),
    Column("payload", JsonDocument, nullable=False),
    Column("archived_at", UtcDateTime, nullable=False),
    # arrival order (revision 0009): from a sequence on PostgreSQL; SQLite has its rowid
    Column("position", BigInteger, DbSequence("archive_events_position_seq"), nullable=True),
)

archive_cases = Table(
    "archive_cases",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("channel", String(32)),
    Column("category", String(64)),
    Column("grid_id", String(64)),
    Column("stage", String(16), index=True),
    Column("stage_at", UtcDateTime),
    Column("unit_id", String(160)),
    Column("tier", String(16)),
    Column("owner_tier", String(16)),
    Column("seq", Integer, nullable=False),
    *(
        Column(name, UtcDateTime)
        for name in (
            "received_at",
            "reported_at",
            "assigned_at",
            "accepted_at",
            "handled_at",
            "verified_at",
            "closed_at",
        )
    ),
    Column("escalations", Integer, nullable=False),
    Column("lapsed_deadlines", Integer, nullable=False),
    Column("deadline_warnings", Integer, nullable=False),
    Column("on_time", Boolean),
    Column("rating", Integer),
    Column("last_event_at", UtcDateTime),
    # added by revision 0008 (NULL or 0 in rows archived before, until a rebuild)
    Column("external_id", String(128)),
    *(
        Column(name, UtcDateTime)
        for name in ("first_accepted_at", "accept_due_at", "due_at", "rated_at", "followed_up_at")
    ),
    *(
        Column(name, Integer, nullable=False, server_default=text("0"))
        for name in ("reopenings", "referrals", "supervisions")
    ),
    Column("responded", Boolean),
    Column("resolved", Boolean),
    # added by revision 0012: stamped by the archive (archive.kpi.HandlingClock)
    Column("handling_days", Integer),
    # added by revision 0014: an approved extension moves due_at (archive.projection)
    Column("assignment_due_at", UtcDateTime),
    Column("extension_days", Integer, nullable=False, server_default=text("0")),
    Index(None, "channel", "external_id"),  # a case by its hotline work-order number
    Index(None, "unit_id", "stage"),  # a unit's open cases
)

archive_dead_letters = Table(
    "archive_dead_letters",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("processor", String(64), nullable=False),
    Column("reason", String(32), nullable=False, index=True),
    Column("message", Text, nullable=False),
    Column("errors", JsonDocument, nullable=False),
    Column("original_topic", String(255), nullable=False),
    Column("original_partition", Integer),
    Column("original_offset", BigInteger),
    Column("original_key", Text),
    Column("original_text", Text),
    Column("original_base64", Text),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("archived_at", UtcDateTime, nullable=False),
    Column("original_key_base64", Text),
    # added by revision 0002: NULL in the rows archived before it
    Column("original_value_null", Boolean),
    Column("original_headers", JsonDocument),
    Column("original_cut", JsonDocument),
)

_CASE_FIELDS = tuple(f.name for f in fields(CaseRow))
_EVENT_FIELDS = tuple(f.name for f in fields(ArchivedEvent))
_DEAD_FIELDS = tuple(f.name for f in fields(DeadLetterRow))

# Built once, values bound at execution: SQLAlchemy compiles each statement once
# and runs it over all of a batch's rows (multi-row VALUES on PostgreSQL). A case's
# events reach one archive instance when its topics are co-partitioned (the range
# assignor); should they not, FOR UPDATE makes a second instance wait for the
# first's commit instead of overwriting its fold, and the order means no deadlock.
_LOAD_CASES = (
    select(archive_cases)
    .where(archive_cases.c.case_id.in_(bindparam("ids", expanding=True)))
    .order_by(archive_cases.c.case_id)
    .with_for_update()
)
_ADD_EVENTS = insert(archive_events)
_ADD_DEAD_LETTERS = insert(archive_dead_letters)


def _rows(objs: Sequence[object], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Dataclasses as flat dicts (``asdict`` deep-copies payloads: too slow here)."""
    return [{n: getattr(obj, n) for n in names} for obj in objs]


class SqlArchiveStore(ArchiveStore):
    """The archive tables, a batch at a time, through the batch's transaction.

    The archive instance that owns a partition is the one writer of the events on
    it, and the inbox has dropped the ones it has seen: inserts are plain, and
    were another instance to race in, the primary key would refuse the batch and
    the runtime would retry it.
    """

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def load(self, case_ids: Collection[str]) -> dict[str, CaseRow]:
        ids = sorted(case_ids)
        found: dict[str, CaseRow] = {}
        conn = self._tx.conn
        for start in range(0, len(ids), MAX_ROWS):
            for r in conn.execute(_LOAD_CASES, {"ids": ids[start : start + MAX_ROWS]}):
                found[r.case_id] = CaseRow(**r._mapping)
        return found

    def save_cases(self, rows: Sequence[CaseRow]) -> None:
        upsert(self._tx.conn, archive_cases, _rows(rows, _CASE_FIELDS))

    def add_events(self, events: Sequence[ArchivedEvent]) -> None:
        if events:
            self._tx.conn.execute(_ADD_EVENTS, _rows(events, _EVENT_FIELDS))

    def add_dead_letters(self, rows: Sequence[DeadLetterRow]) -> None:
        if rows:
            self._tx.conn.execute(_ADD_DEAD_LETTERS, _rows(rows, _DEAD_FIELDS))

    def history(self, case_id: str) -> list[ArchivedEvent]:
        e = archive_events.c
        stmt = (
            select(*(e[n] for n in _EVENT_FIELDS))
            .where(e.case_id == case_id)
            .order_by(e.occurred_at, e.event_id)
        )
        return [ArchivedEvent(**r._mapping) for r in self._tx.conn.execute(stmt)]

    def get_dead_letter(self, event_id: str) -> DeadLetterRow | None:
        d = archive_dead_letters.c
        stmt = select(*(d[n] for n in _DEAD_FIELDS)).where(d.event_id == event_id)
        found = self._tx.conn.execute(stmt).first()
        if found is None:
            return None
        row = dict(found._mapping)
        row["original_value_null"] = bool(row["original_value_null"])  # NULL before 0002
        row["original_headers"] = row["original_headers"] or []
        return DeadLetterRow(**row)

    def report(self) -> ArchiveReport:
        """GROUP BY queries only: no row is loaded into Python."""
        conn, c, e = self._tx.conn, archive_cases.c, archive_events.c

        def grouped(column: Any) -> dict[str, int]:
            return counts(conn.execute(select(column, func.count()).group_by(column)).tuples())

        def by_payload(event_type: str, key: str) -> dict[str, int]:
            inner = select(e.payload[key].as_string().label("k")).where(e.type == event_type)
            k = inner.subquery().c.k
            return counts(conn.execute(select(k, func.count()).group_by(k)).tuples())

        stages = grouped(c.stage)
        closed = Stage.CLOSED.value
        on_time, ratings, satisfied, rating_sum, overdue = conn.execute(
            select(
                func.sum(case(((c.stage == closed) & c.on_time.is_(True), 1), else_=0)),
                func.count(c.rating),
                func.sum(case((c.rating >= SATISFIED_FROM, 1), else_=0)),
                func.sum(c.rating),
                func.sum(case(((c.stage != closed) & (c.lapsed_deadlines > 0), 1), else_=0)),
            )
        ).one()
        types = grouped(e.type)
        return ArchiveReport(
            cases=sum(stages.values()),
            closed=stages.get(closed, 0),
            open_by_stage={k: v for k, v in stages.items() if k != closed},
            by_tier=grouped(c.tier),
            by_unit=grouped(c.unit_id),
            events=sum(types.values()),
            escalations=types.get(ESCALATED, 0),
            escalations_by_tier=by_payload(ESCALATED, "from_tier"),
            deadline_warnings=types.get(WARNING, 0),
            lapsed_deadlines=types.get(LAPSED, 0),
            dead_letters_by_reason=grouped(archive_dead_letters.c.reason),
            closed_on_time=int(on_time or 0),
            ratings=int(ratings),
            satisfied=int(satisfied or 0),
            rating_sum=int(rating_sum or 0),
            notifications=by_payload(NOTIFICATION, "status"),
            open_overdue=int(overdue or 0),
        )


def read_report(engine: Engine) -> ArchiveReport:
    """The report over the database at ``engine``, in a short read transaction."""
    tx = Transaction(engine)
    with tx.begin():
        return SqlArchiveStore(tx).report()


def archived_in_order(conn: Connection, chunk: int = 5_000) -> Iterator[dict[str, Any]]:
    """Every archived event that concerns a case, in the order it was archived: by
    ``position`` on PostgreSQL, by rowid on SQLite (rows of one batch in batch order)."""
    e = archive_events.c
    order = literal_column("rowid") if conn.dialect.name == "sqlite" else e.position
    stmt = select(*(e[n] for n in _EVENT_FIELDS)).where(e.case_id.is_not(None)).order_by(order)
    for r in conn.execution_options(stream_results=True, yield_per=chunk).execute(stmt):
        yield dict(r._mapping)


def rebuild_cases(engine: Engine, clock: HandlingClock) -> int:
    """Replace archive_cases with the rows folded from the event log, each with its
    handling time by ``clock`` (the calendar as it is now), in one transaction; how many
    cases there are."""
    with engine.connect() as conn:
        rows = {k: clock.stamp(v) for k, v in replay(archived_in_order(conn)).items()}
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("LOCK TABLE archive_cases IN EXCLUSIVE MODE"))
        conn.execute(delete(archive_cases))
        ordered = [rows[k] for k in sorted(rows)]
        for start in range(0, len(ordered), MAX_ROWS):
            conn.execute(
                insert(archive_cases), _rows(ordered[start : start + MAX_ROWS], _CASE_FIELDS)
            )
    return len(rows)


def prune(
    engine: Engine, now: datetime, inbox_days: float | None, dead_letter_days: float | None
) -> dict[str, int]:
    """Delete inbox ids and dead letters (with their stored bodies) older than the
    settings say (none: keep); how many rows went from each table."""
    from storage.db import dead_letter_bodies, inbox

    gone: dict[str, int] = {}
    with engine.begin() as conn:
        if inbox_days is not None:
            cut = now - timedelta(days=inbox_days)
            gone["inbox"] = conn.execute(delete(inbox).where(inbox.c.processed_at < cut)).rowcount
        if dead_letter_days is not None:
            cut = now - timedelta(days=dead_letter_days)
            d, b = archive_dead_letters.c, dead_letter_bodies.c
            gone["archive_dead_letters"] = conn.execute(
                delete(archive_dead_letters).where(d.archived_at < cut)
            ).rowcount
            gone["dead_letter_bodies"] = conn.execute(
                delete(dead_letter_bodies).where(b.stored_at < cut)
            ).rowcount
    return gone


# --- the KPIs, counted in SQL ---------------------------------------------------------

_PG_PERIOD = {Period.DAY: "YYYY-MM-DD", Period.WEEK: 'IYYY-"W"IW', Period.MONTH: "YYYY-MM"}
"""to_char formats giving archive.kpi.period_of's labels (a unit test compares them)."""
_SQLITE_PERIOD = "gridflow_period"


def _sqlite_period(stored: str | None, period: str, tz: str) -> str | None:
    """period_of on SQLite, where UtcDateTime is naive UTC text and there are no zones."""
    if stored is None:
        return None
    moment = datetime.fromisoformat(stored).replace(tzinfo=UTC)
    return period_of(moment, Period(period), ZoneInfo(tz))


def _period(conn: Connection, column: Any, period: Period, tz: str) -> Any:
    """The label of the local period ``column`` falls in, computed by the database."""
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        raw.create_function(_SQLITE_PERIOD, 3, _sqlite_period, deterministic=True)  # type: ignore[union-attr]
        return func.gridflow_period(column, period.value, tz)
    return func.to_char(func.timezone(tz, column), _PG_PERIOD[period])


def _where(c: Condition, as_of: datetime) -> Any:
    """archive.kpi's condition as SQL over archive_cases (NULL never holds, as in kpi.holds)."""
    col = archive_cases.c
    if isinstance(c, AnyOf):
        return or_(*(_where(x, as_of) for x in c.conditions))
    column = col[c.field]
    if isinstance(c, IsSet):
        return column.is_not(None)
    if isinstance(c, Is):
        return column.is_(c.value) if isinstance(c.value, bool) else column == c.value
    if isinstance(c, IsNot):
        return column.is_distinct_from(c.value)
    if isinstance(c, AtMost):
        other = literal(as_of, UtcDateTime) if c.other == AS_OF else col[c.other]
        return column <= other
    if isinstance(c, InRange):
        return column.between(c.low, c.high)
    return column.in_(sorted(c.values))


def _all(conditions: Sequence[Condition], as_of: datetime) -> Any:
    return and_(true(), *(_where(x, as_of) for x in conditions))


def _counted(m: Measure, as_of: datetime) -> Any:
    when = _all(m.when, as_of)
    if m.plus is None:
        return func.count().filter(when)
    value = archive_cases.c[m.plus]
    if m.minus is not None:
        value = value - archive_cases.c[m.minus]
    return func.coalesce(func.sum(value).filter(when), 0)


def kpi_figures(
    conn: Connection,
    by: By,
    period: Period,
    as_of: datetime,
    tz: ZoneInfo,
    since: date | None = None,
    until: date | None = None,
    scope: Condition | None = None,
) -> list[Figures]:
    """archive.kpi's figures counted by the database: one GROUP BY (group, local period)
    per date of :data:`archive.kpi.MEASURES`, each measure a filtered count; the
    handling-time histogram grouped by ``handling_days`` too, so the mean and the
    nearest-rank p90 follow from a few rows a group, not from every case. The same
    figures as ``archive.kpi.compute`` over every row, on SQLite and PostgreSQL."""
    col = archive_cases.c
    key_name = KEYS[by]
    group = col[key_name] if key_name else literal(ALL)
    start, end = bounds(since, until, tz)
    tally = Tally()
    for dated in MEASURES:
        moment = col[dated.date]
        label = _period(conn, moment, period, tz.key).label("period")
        where = [moment.is_not(None), _all(dated.gate, as_of)]
        if scope is not None:
            where.append(_where(scope, as_of))
        if start is not None:
            where.append(moment >= start)
        if end is not None:
            where.append(moment < end)
        keys: list[Any] = [group.label("grp"), label]
        h = dated.histogram
        if h is not None:
            keys.append(col[h.name].label("days"))
        measures = [_counted(m, as_of).label(m.name) for m in dated.measures]
        if h is not None:
            measures.append(func.count().filter(_all(h.when, as_of)).label("in_histogram"))
        grouped = keys[1:] if key_name is None else keys  # by all: one constant group
        stmt = select(*keys, *measures).where(*where).group_by(*grouped)
        for r in conn.execute(stmt):
            m = r._mapping
            tally.add(m["grp"], m["period"], {x.name: m[x.name] for x in dated.measures})
            if h is not None and m["days"] is not None and m["in_histogram"]:
                tally.add_days(m["grp"], m["period"], m["days"], m["in_histogram"])
    return tally.result()
