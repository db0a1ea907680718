"""The email transport: a resident's message over SMTP (smtplib).

Configured by settings (README, Configuration): ``GRIDFLOW_SMTP_HOST``, ``_PORT``,
``_FROM``, ``_TLS`` (``none``, ``starttls`` or ``ssl``), ``_USERNAME`` and
``_PASSWORD``. Each attempt opens a connection (a resident gets a message or two a
case, not a stream). The ``Message-ID`` is derived from the idempotency key, and
the key is in ``X-Gridflow-Idempotency-Key``: a repeat is recognisable as one.

An answer in the 4xx range, or no answer, is tried again later; a 5xx (an unknown
mailbox, a refused sender) is refused for good.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate

from notifier.ports import Attempt, OutboxEntry, Transport
from schemas.notifications import NotificationChannel


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    sender: str = "gridflow@localhost"
    tls: str = "none"  # none, starttls or ssl
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0


def message_of(entry: OutboxEntry, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = entry.address
    msg["Subject"] = entry.subject or entry.template
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{entry.key}@gridflow>"
    msg["X-Gridflow-Idempotency-Key"] = entry.key
    msg["X-Gridflow-Event"] = entry.event_type
    msg.set_content(entry.body, charset="utf-8")
    return msg


class EmailTransport(Transport):
    channel = NotificationChannel.EMAIL

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.tls == "ssl":
            return smtplib.SMTP_SSL(
                c.host, c.port, timeout=c.timeout, context=ssl.create_default_context()
            )
        smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
        if c.tls == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def send(self, entry: OutboxEntry, attempt: int) -> Attempt:
        try:
            with self._connect() as smtp:
                if self.config.username:
                    smtp.login(self.config.username, self.config.password or "")
                smtp.send_message(message_of(entry, self.config.sender))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            permanent = all(code >= 500 for code in codes)
            return Attempt(False, None, f"SMTP recipient refused {codes}", permanent=permanent)
        except smtplib.SMTPResponseException as exc:
            return Attempt(False, None, f"SMTP {exc.smtp_code}", permanent=exc.smtp_code >= 500)
        except (smtplib.SMTPException, OSError) as exc:  # refused, timed out, TLS failed
            return Attempt(False, None, f"{type(exc).__name__}"[:300])
        return Attempt(True)
