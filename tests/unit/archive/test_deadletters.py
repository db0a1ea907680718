"""The command room's view of dead letters (archive/deadletters.py): personal data
masked at any depth, structure and non-personal fields kept, non-JSON sealed as size
and digest, cut letters shown from their kept body, the role as data; the query and
the CLI on SQLite.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from archive.core import Archive
from archive.deadletters import (
    MASK,
    REVEALS,
    Role,
    UnknownRole,
    ViewerSettings,
    mask_json,
    mask_loc,
    mask_original,
    recent_dead_letters,
    role_named,
    rows_of,
)
from archive.sql import SqlArchiveStore
from schemas.codec import cut, encode, reject
from schemas.deadletter import BodyStore, FieldError, MessageRejected, Original, RejectionReason
from schemas.processing import Inbound
from schemas.topics import CASES_RECEIVED, Record, report_topic
from services.cli_deadletters import deadletters
from services.storage.migrate import upgrade
from storage.db import Transaction, keep_dead_letter_body, make_engine
from tests.unit.archive.story import ADDRESS, CLOCK, NAME, PHONE, T0, Story

REPORTS = report_topic("channel.hotline-12345").name

REPORT: dict[str, Any] = {
    "channel": "hotline_12345",
    "external_id": "NB12345-20260921-000817",
    "reported_at": "2026-09-21T09:12:45+08:00",
    "category": "urban.garbage",
    "grid_id": "zs-xzl-g03",
    "title": f"{ADDRESS}门口",
    "description": f"垃圾满了，请联系{NAME}，电话{PHONE}。",
    "urgency": "normal",
    "location": {"address": ADDRESS, "lat": 29.95, "lon": 121.6},
    "reporter": {"name": NAME, "phone": PHONE, "anonymous": False},
    "attachments": [f"https://img.example.org/{PHONE}.jpg"],
}
MASKED_REPORT = {
    **REPORT,
    "title": MASK,
    "description": MASK,
    "location": {"address": MASK, "lat": MASK, "lon": MASK},
    "reporter": {"name": MASK, "phone": MASK, "anonymous": False},
    "attachments": [MASK],
}


def personal(text: str) -> bool:
    return any(s in text for s in (NAME, PHONE, ADDRESS))


def text_original(value: str, topic: str = REPORTS, **fields: Any) -> Original:
    return Original(topic=topic, partition=0, offset=7, text=value, **fields)


def test_a_raw_report_keeps_its_shape_and_loses_the_person() -> None:
    shown = mask_original(text_original(json.dumps(REPORT, ensure_ascii=False)))
    assert json.loads(shown.value) == MASKED_REPORT
    assert not personal(shown.value) and shown.masked
    assert (shown.topic, shown.partition, shown.offset) == (REPORTS, 0, 7)


def test_the_privacy_officer_sees_it_as_it_arrived() -> None:
    value = json.dumps(REPORT, ensure_ascii=False)
    shown = mask_original(text_original(value), reveal=True)
    assert (shown.value, shown.masked) == (value, False)
    assert REVEALS == {Role.OPERATOR: False, Role.PRIVACY_OFFICER: True}


def test_personal_fields_are_masked_wherever_they_are_nested() -> None:
    story = Story(1)
    received = story.received()  # an envelope whose payload is the whole case
    document = json.loads(encode(received))
    masked = mask_json(document)
    assert not personal(json.dumps(masked, ensure_ascii=False))
    payload = masked["payload"]
    assert payload["reporter"] == {"name": MASK, "phone": MASK, "anonymous": False}
    assert payload["location"] == {"address": MASK, "lat": None, "lon": None}
    assert (payload["title"], payload["description"]) == (MASK, MASK)
    kept = {"case_id", "channel", "external_id", "category", "grid_id", "urgency"}
    assert {k: payload[k] for k in kept} == {k: document["payload"][k] for k in kept}
    assert masked["event_id"] == received.event_id and masked["type"] == "case.received"
    # a list of reports, and a report under a key no message has: masked too
    assert mask_json([REPORT, {"batch": REPORT}]) == [MASKED_REPORT, {"batch": masked_all(REPORT)}]


def masked_all(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: masked_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked_all(v) for v in value]
    return value if value is None or isinstance(value, bool) else MASK


def test_unknown_fields_and_odd_keys_are_masked_and_bare_values_too() -> None:
    stray = {**REPORT, "reporter_name": NAME, "王女士": "x", "extra": {"tel": PHONE, "n": 3}}
    masked = mask_json(stray)
    assert masked["reporter_name"] == MASK and masked["extra"] == {"tel": MASK, "n": MASK}
    assert "王女士" not in masked and masked["<key 12>"] == MASK
    assert mask_json(NAME) == MASK and mask_json(7) == MASK and mask_json(None) is None


def test_a_dead_letter_inside_a_dead_letter_is_masked_to_the_bottom() -> None:
    inner = letter(json.dumps(REPORT, ensure_ascii=False).encode())
    outer = letter(encode(inner), topic="gridflow.deadletter")
    shown = mask_original(outer.payload.original)
    assert not personal(shown.value)
    nested = json.loads(shown.value)["payload"]["original"]
    assert json.loads(nested["text"]) == MASKED_REPORT
    assert nested["topic"] == REPORTS and nested["key"] == "hotline_12345:x-1"
    # one level further down, in base64
    b64_inner = letter(b"\x00" + json.dumps(REPORT, ensure_ascii=False).encode())
    assert b64_inner.payload.original.base64 is not None
    nested_b64 = json.loads(mask_original(letter(encode(b64_inner)).payload.original).value)
    assert nested_b64["payload"]["original"]["base64"].startswith("<")  # NUL: not JSON, sealed


def letter(value: bytes, topic: str = REPORTS, **fields: Any) -> MessageRejected:
    record = Record(
        topic=topic, value=value, timestamp=T0, key=b"hotline_12345:x-1", offset=3, **fields
    )
    return reject(record, processor="intake", reason=RejectionReason.INVALID, message="bad", now=T0)


def test_what_is_not_json_is_shown_as_size_and_digest() -> None:
    xml = f"<workorder name='{NAME}' tel='{PHONE}'/>"
    shown = mask_original(text_original(xml))
    data = xml.encode()
    assert shown.value == f"<{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}>"
    assert mask_original(text_original(xml), reveal=True).value == xml
    assert mask_original(text_original("")).value == ""
    tombstone = Original(topic=REPORTS, value_null=True)
    assert mask_original(tombstone).value == "(no value)"


def test_base64_originals_are_decoded_then_masked_or_sealed() -> None:
    as_json = json.dumps(REPORT, ensure_ascii=False).encode()
    b64 = Original(topic=REPORTS, base64=base64.b64encode(as_json).decode())
    assert json.loads(mask_original(b64).value) == MASKED_REPORT
    gbk = NAME.encode("gbk")  # not UTF-8: a channel's legacy encoding
    sealed = Original(topic=REPORTS, base64=base64.b64encode(gbk).decode())
    assert mask_original(sealed).value == f"<{len(gbk)} bytes, sha256 {sha(gbk)}>"
    assert mask_original(sealed, reveal=True).value == "base64:" + base64.b64encode(gbk).decode()
    broken = Original(topic=REPORTS, base64="not base64!")
    assert mask_original(broken).value == MASK


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cut_letter(value: bytes, stored: BodyStore = BodyStore.DATABASE) -> MessageRejected:
    record = Record(topic=CASES_RECEIVED.name, value=value, timestamp=T0, key=b"case-1")
    whole = reject(record, processor="router", reason=RejectionReason.INVALID, message="m", now=T0)
    return cut(whole, record, prefix=40, stored=stored)


def test_a_cut_letter_is_sealed_unless_its_body_is_at_hand() -> None:
    value = json.dumps(REPORT, ensure_ascii=False).encode()
    original = cut_letter(value).payload.original
    assert original.cut is not None and len((original.text or "").encode()) <= 40
    shown = mask_original(original)
    assert shown.value.startswith(f"<{len(value)} bytes, sha256 {sha(value)}>")
    assert "dead_letter_bodies" in shown.value
    intake = mask_original(cut_letter(value, BodyStore.SOURCE_TOPIC).payload.original)
    assert "source topic" in intake.value
    assert json.loads(mask_original(original, body=value).value) == MASKED_REPORT
    revealed = mask_original(original, reveal=True)
    assert (
        revealed.value.startswith(original.text or "") and f"{len(value)} bytes" in revealed.value
    )
    assert mask_original(original, reveal=True, body=value).value == value.decode()


def test_keys_and_headers_are_shown_when_they_are_ids() -> None:
    headers = (("traceparent", b"00-abc-01"), ("who", NAME.encode()), ("tel", PHONE.encode()))
    original = letter(b"{}", headers=headers).payload.original
    shown = mask_original(original)
    assert shown.key == "hotline_12345:x-1"
    assert shown.headers[0] == ("traceparent", "00-abc-01")
    assert all(not personal(v) and v.startswith("<") for _, v in shown.headers[1:])
    assert mask_original(original, reveal=True).headers[1] == ("who", NAME)
    by_phone = text_original("{}", key=PHONE)  # digits alone could be a phone number
    assert mask_original(by_phone).key == f"<{len(PHONE)} bytes, sha256 {sha(PHONE.encode())}>"


def test_field_error_paths_are_masked_where_they_quote_the_input() -> None:
    assert mask_loc("reporter.phone") == "reporter.phone"
    assert mask_loc("attachments.3") == "attachments.3"
    assert mask_loc(f"extra.{NAME}") == f"extra.{MASK}"


def test_roles_are_data_and_an_unknown_one_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert role_named("operator") is Role.OPERATOR
    assert role_named("privacy_officer") is Role.PRIVACY_OFFICER
    with pytest.raises(UnknownRole, match="known roles: operator, privacy_officer"):
        role_named("admin")
    monkeypatch.delenv("GRIDFLOW_OPERATOR_ROLE", raising=False)
    assert ViewerSettings().role() is Role.OPERATOR  # the default masks
    monkeypatch.setenv("GRIDFLOW_OPERATOR_ROLE", "privacy_officer")
    assert ViewerSettings().role() is Role.PRIVACY_OFFICER
    monkeypatch.setenv("GRIDFLOW_OPERATOR_ROLE", "root")
    with pytest.raises(UnknownRole):
        ViewerSettings().role()


def archived(engine: Engine, letters: list[MessageRejected], bodies: dict[str, bytes]) -> None:
    """Through the archive processor, as the runtime does, and the kept bodies beside."""
    tx = Transaction(engine)
    with tx.begin():
        Archive(SqlArchiveStore(tx), CLOCK).handle(
            [Inbound(m, T0 + timedelta(minutes=n)) for n, m in enumerate(letters)]
        )
        for digest, value in bodies.items():
            keep_dead_letter_body(
                tx.conn, digest=digest, topic=CASES_RECEIVED.name, partition=0, offset=0,
                key=b"case-1", value=value, headers=(), at=T0,
            )  # fmt: skip


def stored_letters() -> tuple[list[MessageRejected], dict[str, bytes]]:
    report = json.dumps(REPORT, ensure_ascii=False).encode()
    plain = letter(report)
    plain = plain.model_copy(
        update={
            "payload": plain.payload.model_copy(
                update={"errors": [FieldError(loc=f"extra.{NAME}", msg="Extra inputs", type="x")]}
            )
        }
    )
    big = cut_letter(report)
    return [plain, big], {sha(report): report}


def test_the_query_lists_the_latest_first_masked_or_revealed(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    upgrade(engine)
    letters, bodies = stored_letters()
    archived(engine, letters, bodies)
    masked = recent_dead_letters(engine, role=Role.OPERATOR)
    assert [v.event_id for v in masked] == [letters[1].event_id, letters[0].event_id]
    assert all(json.loads(v.original.value) == MASKED_REPORT for v in masked)  # cut: from body
    assert masked[1].errors == (f"extra.{MASK}: Extra inputs",)
    assert not any(personal(cell) for row in rows_of(masked) for cell in row)
    revealed = recent_dead_letters(engine, role=Role.PRIVACY_OFFICER, limit=1)
    assert len(revealed) == 1 and json.loads(revealed[0].original.value) == REPORT
    with pytest.raises(ValueError):
        recent_dead_letters(engine, role=Role.OPERATOR, limit=0)
    engine.dispose()


def test_the_cli_prints_a_masked_table_and_refuses_unknown_roles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    engine = make_engine(url)
    upgrade(engine)
    letters, bodies = stored_letters()
    archived(engine, letters, bodies)
    engine.dispose()
    app = typer.Typer()
    app.command("deadletters")(deadletters)
    app.command("other")(lambda: None)  # two commands: typer keeps the name
    monkeypatch.setenv("GRIDFLOW_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    monkeypatch.delenv("GRIDFLOW_OPERATOR_ROLE", raising=False)
    out = runner.invoke(app, ["deadletters", "--limit", "5"])
    assert out.exit_code == 0, out.output
    assert "role operator, personal data masked" in out.output and "intake" in out.output
    assert not personal(out.output)
    monkeypatch.setenv("GRIDFLOW_OPERATOR_ROLE", "privacy_officer")
    out = runner.invoke(app, ["deadletters"])
    assert out.exit_code == 0 and NAME in out.output
    monkeypatch.setenv("GRIDFLOW_OPERATOR_ROLE", "admin")
    out = runner.invoke(app, ["deadletters"])
    assert out.exit_code == 2 and "unknown operator role" in out.output
