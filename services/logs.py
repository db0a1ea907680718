"""Structured logging: one JSON object a line (or readable lines on a console).

Log records carry ids (case, event, unit, topic, offset) in their ``extra``
fields; never a resident's name, phone or address.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter


def error_fields(exc: BaseException | None = None) -> dict[str, str]:
    """An exception (default: the one being handled), for a log record, without its message.

    Exception messages can carry personal data (a database error quotes the row's
    parameters, a validation error the input), so only the type and where it was
    raised are logged.
    """
    if exc is None:
        exc = sys.exc_info()[1]
    if exc is None:
        return {}
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        frame = tb.tb_frame
        where = f"{frame.f_code.co_filename}:{tb.tb_lineno} in {frame.f_code.co_name}"
        tb = tb.tb_next
    return {"error_type": type(exc).__name__, "error_at": where}


def formatter(fmt: str = "json") -> logging.Formatter:
    """The formatter of every gridflow log line: JSON with the ``extra`` fields, or console.

    One function, so a test can format captured records exactly as production writes them.
    """
    if fmt == "json":
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
        )
    return logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def configure(level: str = "INFO", fmt: str = "json", file: Path | None = None) -> None:
    """Log to stderr, or to ``file`` (the demo keeps its console for the summary)."""
    handler: logging.Handler
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(file, mode="w", encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("kafka", "httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # kafka-python 3 warns whenever a busy machine delays its I/O loop by 0.1 s
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
