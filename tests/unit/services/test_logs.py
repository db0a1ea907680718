"""Logs never carry an exception's message: it may quote a resident's data."""

from __future__ import annotations

import json

from sqlalchemy import text

from services.logs import error_fields
from storage.db import make_engine


def test_error_fields_name_the_type_and_place_not_the_message() -> None:
    try:
        raise ValueError("王女士 13812345678 兴庄路88号")
    except ValueError:
        fields = error_fields()
    assert fields["error_type"] == "ValueError"
    assert "test_logs.py" in fields["error_at"]
    assert "138" not in json.dumps(fields, ensure_ascii=False)


def test_database_errors_do_not_quote_parameters() -> None:
    engine = make_engine("sqlite://")
    with engine.connect() as conn:
        try:
            conn.execute(text("SELECT * FROM nowhere WHERE phone = :p"), {"p": "13812345678"})
        except Exception as exc:
            message = str(exc)
    assert "13812345678" not in message
