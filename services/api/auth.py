"""Who is asking: a bearer token per sender, and what that sender may see.

Tokens are data: ``GRIDFLOW_API_TOKENS`` maps the SHA-256 (hex) of each token to a
sender id, the same identities as the Kafka principals: a unit of ``units.yaml``
or a sender of ``senders.yaml``, or ``operations`` (the operations team, the
principal ``gridflow.operations``). Only the digests are configured, so the
settings hold no secret; ``gridflow api token <sender>`` prints a new token and
the line to configure.

What each sees (:class:`Viewer`):

- a unit: the cases it holds now, with their personal data (the holder);
- a supervisor or approver (a command room): every case of its jurisdiction, with
  personal data;
- a verifier or channel: the cases of its jurisdiction (a channel: those it took),
  without personal data;
- operations: every case, with personal data.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from schemas.catalogue import Sender, SenderRole, Site

OPERATIONS = "operations"
ROOMS = (SenderRole.SUPERVISOR, SenderRole.APPROVER)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Viewer:
    """A caller the token proved: who, and the rule of what it may see."""

    id: str
    role: str  # a SenderRole value, or "operations"
    jurisdiction: str | None = None
    channel: str | None = None

    @property
    def sees_personal_data(self) -> bool:
        return self.role in (SenderRole.UNIT, OPERATIONS, *ROOMS)

    @property
    def is_room(self) -> bool:
        return self.role == OPERATIONS or self.role in ROOMS

    def may_see(
        self, site: Site, unit_id: str | None, grid_id: str | None, channel: str | None
    ) -> bool:
        """Whether this viewer may see a case held by ``unit_id`` in ``grid_id``."""
        if self.role == OPERATIONS:
            return True
        if self.role == SenderRole.UNIT:
            return unit_id == self.id
        if self.role == SenderRole.CHANNEL:
            return channel is not None and channel == self.channel
        return (
            self.jurisdiction is not None
            and grid_id is not None
            and site.within(grid_id, self.jurisdiction)
        )

    def may_see_unit(self, site: Site, unit_id: str) -> bool:
        """Whether this viewer may list ``unit_id``'s cases (the unit itself, or a room
        whose jurisdiction holds the unit)."""
        if self.role == OPERATIONS:
            return True
        if self.role == SenderRole.UNIT:
            return unit_id == self.id
        unit = site.unit(unit_id)
        return (
            self.is_room
            and unit is not None
            and self.jurisdiction is not None
            and site.within(unit.jurisdiction, self.jurisdiction)
        )


def viewer_of(sender: Sender) -> Viewer:
    channel = sender.channel.value if sender.channel else None
    return Viewer(sender.id, sender.role.value, sender.jurisdiction, channel)


class Tokens:
    """The configured tokens: digest -> the viewer it proves."""

    def __init__(self, site: Site, digests: dict[str, str]) -> None:
        self._by_digest: dict[str, Viewer] = {}
        unknown = []
        for d, sender_id in digests.items():
            if sender_id == OPERATIONS:
                self._by_digest[d.lower()] = Viewer(OPERATIONS, OPERATIONS)
                continue
            sender = site.sender(sender_id)
            if sender is None:
                unknown.append(sender_id)
                continue
            self._by_digest[d.lower()] = viewer_of(sender)
        if unknown:
            raise ValueError(f"API tokens name senders the site does not know: {sorted(unknown)}")

    def viewer(self, token: str) -> Viewer | None:
        """The viewer ``token`` proves, or None (looked up by the token's digest)."""
        return self._by_digest.get(digest(token))
