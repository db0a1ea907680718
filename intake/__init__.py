"""Intake: turns the reports channels send into cases (发现上报 -> 受理).

A channel (the 12345 hotline, the grid worker's app, the web form, an Open311
gateway, the mayor's mailbox, the service window) produces one JSON object per
report to its own topic, ``gridflow.reports.<channel sender>`` (only that channel's
principal may write it; a report naming another ``channel`` is refused with reason
``permission``). Intake validates it, normalises it, and
emits one ``case.received`` on ``gridflow.cases.received``. A report it cannot
accept goes to ``gridflow.deadletter`` with every field problem named; nothing
is dropped.

The native JSON report
----------------------

A complete example is ``docs/examples/report.json`` (every field; only
``channel``, ``external_id``, ``reported_at``, ``category``, ``description`` and
``grid_id`` or a point in ``location`` are required; a test keeps it accepted by the
bundled site).

Fields:

- ``channel``: one of ``hotline_12345``, ``grid_app``, ``web``, ``open311``,
  ``mayor_mailbox``, ``window``.
- ``external_id``: the channel's own id (1-128 characters). It is the
  idempotency key: the case id is derived from ``(channel, external_id)``, so
  resending a report never opens a second case. Control characters are refused.
- ``reported_at``: ISO 8601 with a UTC offset (a time without one is refused);
  at most 15 minutes after intake receives it. Stored, like the time intake
  received it, in the site's timezone (``timezone`` in ``site.yaml``, by default
  Asia/Shanghai).
- ``category``: a category code of the site's catalogue (case and surrounding
  spaces are ignored). An unknown code alone does not refuse the report: the case
  keeps it and goes to the command room's dispatch queue (人工分拨).
- ``grid_id``: the grid (网格) the problem is in, from the site's catalogue. It may
  be left out when ``location`` gives ``lat`` and ``lon``: intake then places the
  point in its grid from the site's ``boundaries.geojson`` (a point on a boundary
  shared by several grids goes to the smallest id, and ``placement`` on the case
  says so; a point on no grid is filed under the site's whole area, ``placement``
  ``off_map``, and goes to its command room's dispatch queue). Given both, the grid
  is taken as named.
- ``description``: 1-4000 characters. ``title`` (optional, up to 200): when
  missing, the description's first 30 characters.
- ``urgency``: ``normal`` (default) or ``urgent``.
- ``request_type``: optional, what the resident asks for (诉求类型): ``enquiry``
  (咨询), ``help`` (求助), ``complaint`` (投诉), ``report`` (举报) or ``suggestion``
  (建议). A site may give each its own deadline (``deadlines.overrides``).
- ``location``: optional; ``address`` and the point (``lat``, ``lon``, WGS 84) are
  personal data.
- ``reporter``: optional; name and phone are personal data and are never logged.
  ``anonymous: true`` drops both. The phone may have spaces, dashes,
  parentheses and a ``+86``/``0086`` prefix; it must then be 3-20 digits.
- ``attachments``: up to 20 http(s) URLs, without control characters.
- ``format``: optional, ``native``; other formats name theirs (docs/FORMATS.md).
- ``source``: optional, what the channel needs back, none of it the resident's:
  ``worker_id`` (the grid worker who reported it), ``callback_url`` (an http(s) URL
  for the answer) and ``callback_reference``. The case keeps it, with its format.

Normalisation: control characters (C0, DEL, C1) are removed from text, those
that are whitespace (a tab) becoming a space; text is then Unicode NFC with
whitespace runs collapsed (the description keeps its line breaks); codes are
stripped and lower-cased; the phone keeps digits only. The limits above hold for
the text as sent and again once normalised (NFC can lengthen text: U+0958 becomes
two code points), so a name or address normalisation pushes past its limit is
refused with its field named. The case id is ``GF-`` and 16 upper-case hex digits.

The JSON Schema of this format is ``RawReport`` in :mod:`schemas.reports`.
"""

from intake.core import Intake, case_id_for, to_case

__all__ = ["Intake", "case_id_for", "to_case"]
