"""Who may send which command (schemas.access.PERMISSIONS), allowed and refused.

Every case here is street.parking reported from the grid app in grid s-a-g1, held
by s.urban (the street's urban management). Each rule is tried with the sender it
lets through and with every kind of sender it must stop. A refused command
changes nothing, is a ``permission`` dead letter, and its refusal reaches the
sender's own view topic.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from router.core import Router
from router.memory import MemoryCaseStore
from schemas.access import PERMISSIONS, Relation
from schemas.cases import CaseSupervised, Stage
from schemas.catalogue import SenderRole, Site
from schemas.commands import COMMANDS
from schemas.deadletter import Rejected, RejectionReason
from schemas.envelope import Envelope
from schemas.replies import CommandAcknowledged, CommandRefused
from schemas.reports import Channel
from tests.unit.router.support import (
    LATER,
    T0,
    accept,
    act,
    case,
    decide,
    dispatch,
    file_of,
    follow_up,
    rate,
    received,
    refer_up,
    report_handled,
    report_part,
    request_extension,
    request_suspension,
    resume,
    return_case,
    supervise,
    verify,
)

HOLDER = "s.urban"


@pytest.fixture
def held(router: Router) -> Router:
    """A router holding GF-1 (assigned to s.urban)."""
    act(router, received(case()), T0)
    return router


def _to(router: Router, *steps: Envelope) -> Router:
    for message in steps:
        act(router, message, T0)
    return router


def _accepted(r: Router) -> Router:
    return _to(r, accept("GF-1", HOLDER))


def _handled(r: Router) -> Router:
    return _to(r, accept("GF-1", HOLDER), report_handled("GF-1", HOLDER))


def _verified(r: Router) -> Router:
    return _to(r, accept("GF-1", HOLDER), report_handled("GF-1", HOLDER), verify("GF-1", HOLDER))


REQUEST = request_suspension("GF-1", HOLDER)


def _requested(r: Router) -> Router:
    return _to(r, accept("GF-1", HOLDER), REQUEST)


def _suspended(r: Router) -> Router:
    return _to(r, accept("GF-1", HOLDER), REQUEST, decide("GF-1", REQUEST))


def _queued(r: Router) -> Router:
    """Returned by s.urban (on to s.command), then by s.command: queued (max_returns 2)."""
    return _to(r, return_case("GF-1", HOLDER), return_case("GF-1", "s.command", seq=2))


CO = "s-a.station"
"""The co-handler (协办) a dispatcher names beside the holder."""


def _co_handled(r: Router) -> Router:
    """Queued, then dispatched to s.urban (seq 3) with s-a.station co-handling."""
    return _to(_queued(r), dispatch("GF-1", HOLDER, co_handlers=(CO,)))


Setup = Callable[[Router], Router]
Make = Callable[[str], Envelope]

# (command, the state it needs, how to send it as a given sender)
COMMAND_CASES: dict[str, tuple[Setup, Make]] = {
    "case.accept": (lambda r: r, lambda who: accept("GF-1", HOLDER, sender=who, n=who)),
    "case.report_handled": (
        _accepted,
        lambda who: report_handled("GF-1", HOLDER, sender=who, n=who),
    ),
    "case.refer_up": (lambda r: r, lambda who: refer_up("GF-1", HOLDER, sender=who, n=who)),
    "case.verify": (_handled, lambda who: verify("GF-1", HOLDER, sender=who, n=who)),
    "case.rate": (_verified, lambda who: rate("GF-1", sender=who, n=who)),
    "case.follow_up": (_handled, lambda who: follow_up("GF-1", sender=who, n=who)),
    "case.supervise": (lambda r: r, lambda who: supervise("GF-1", sender=who, n=who)),
    "case.request_suspension": (
        _accepted,
        lambda who: request_suspension("GF-1", HOLDER, sender=who, n=who),
    ),
    "case.request_extension": (
        _accepted,
        lambda who: request_extension("GF-1", HOLDER, sender=who, n=who),
    ),
    "case.decide_request": (_requested, lambda who: decide("GF-1", REQUEST, sender=who, n=who)),
    "case.resume": (_suspended, lambda who: resume("GF-1", HOLDER, sender=who, n=who)),
    "case.return": (lambda r: r, lambda who: return_case("GF-1", HOLDER, sender=who, n=who)),
    "case.dispatch": (_queued, lambda who: dispatch("GF-1", HOLDER, sender=who, n=who)),
    "case.report_part": (
        _co_handled,
        lambda who: report_part("GF-1", CO, seq=3, sender=who, n=who),
    ),
}

ALLOWED: dict[str, tuple[str, ...]] = {
    "case.accept": (HOLDER,),
    "case.report_handled": (HOLDER,),
    "case.refer_up": (HOLDER,),
    "case.verify": ("s.verify", "s-a.verify"),  # the street's, and community A's (grid s-a-g1)
    "case.rate": ("grid-app",),  # the channel that took the report
    # the channel that took the report calls back (回访), or a verifier of the place
    "case.follow_up": ("grid-app", "s.verify", "s-a.verify"),
    "case.supervise": ("d.supervise",),  # the district contains the grid
    "case.request_suspension": (HOLDER,),
    "case.request_extension": (HOLDER,),
    # the command rooms over the holder (a street department): the street's, the district's
    "case.decide_request": ("s.approve", "d.approve"),
    "case.resume": (HOLDER, "s.approve", "d.approve"),
    "case.return": (HOLDER,),
    # the command rooms over the unit that held it last (s.command, the street's)
    "case.dispatch": ("s.approve", "d.approve"),
    "case.report_part": (CO,),  # a co-handler of the current assignment
}
REFUSED: dict[str, tuple[str, ...]] = {
    "case.accept": ("s.command", "s-a-g1.leader", "s.verify", "d.supervise", "grid-app"),
    "case.report_handled": ("s.command", "s.verify", "d.supervise", "grid-app"),
    "case.refer_up": ("s.command", "s.verify", "d.supervise", "grid-app"),
    # never the unit that did the work; never a verifier of another place; no one else
    "case.verify": (HOLDER, "s.command", "d.supervise", "grid-app", "hotline"),
    # never the unit rating its own work; never another channel
    "case.rate": (HOLDER, "hotline", "s.verify", "d.supervise"),
    # never the unit asking about its own work; never another channel, nor a supervisor
    "case.follow_up": (HOLDER, "hotline", "d.supervise", "s.approve"),
    "case.supervise": (HOLDER, "s.verify", "grid-app"),
    "case.request_suspension": ("s.command", "s.approve", "s.verify", "d.supervise", "grid-app"),
    "case.request_extension": ("s.command", "s.approve", "d.supervise", "grid-app"),
    # never the unit deciding its own request; never a command room below the holder,
    # even one whose area holds the case's grid (community A's)
    "case.decide_request": (HOLDER, "s-a.approve", "s.command", "s.verify", "d.supervise"),
    "case.resume": ("s-a.approve", "s.command", "s.verify", "d.supervise", "grid-app"),
    # never another unit, not even the one it would go to next; no command room
    "case.return": ("s.command", "s.approve", "s.verify", "d.supervise", "grid-app"),
    # never a unit (not even a returner taking it back), nor a room below the last holder
    "case.dispatch": (HOLDER, "s.command", "s-a.approve", "s.verify", "d.supervise"),
    # never the lead, nor a unit that does not co-handle it, nor its command room
    "case.report_part": (HOLDER, "s.command", "s-a-g1.leader", "s.approve", "grid-app"),
}


def test_every_command_has_rules_and_every_rule_is_tried() -> None:
    assert set(PERMISSIONS) == {c.TYPE for c in COMMANDS} == set(ALLOWED) == set(REFUSED)
    relations = {r.relation for rules in PERMISSIONS.values() for r in rules}
    assert relations == set(Relation)


@pytest.mark.parametrize(
    ("kind", "sender"), [(k, s) for k, senders in ALLOWED.items() for s in senders]
)
def test_allowed(kind: str, sender: str, held: Router, store: MemoryCaseStore) -> None:
    setup, make = COMMAND_CASES[kind]
    command = make(sender)
    out = act(setup(held), command, LATER)
    answer = out[-1]
    assert isinstance(answer.message, CommandAcknowledged)
    assert answer.message.payload.command_id == command.event_id
    assert answer.message.payload.sender == sender
    assert answer.message.payload.events == [
        e.message.event_id for e in out if e.topic == "gridflow.cases.events"
    ]
    assert answer.message.payload.events  # it did something to the story
    unit = held._site.sender(sender)
    assert unit is not None
    assert answer.topic == (
        f"gridflow.assignments.{sender}"
        if unit.role is SenderRole.UNIT
        else f"gridflow.replies.{sender}"
    )


@pytest.mark.parametrize(
    ("kind", "sender"), [(k, s) for k, senders in REFUSED.items() for s in senders]
)
def test_refused(kind: str, sender: str, held: Router, store: MemoryCaseStore) -> None:
    setup, make = COMMAND_CASES[kind]
    router = setup(held)
    before = file_of(store, "GF-1")
    with pytest.raises(Rejected) as caught:
        act(router, make(sender), LATER)
    assert caught.value.reason is RejectionReason.PERMISSION
    assert f"{sender} (" in caught.value.message and f"may not send {kind}" in caught.value.message
    assert file_of(store, "GF-1") == before  # nothing applied
    (answer,) = caught.value.replies
    assert isinstance(answer.message, CommandRefused)
    assert answer.message.payload.reason is RejectionReason.PERMISSION
    assert answer.message.payload.sender == sender
    unit = router._site.sender(sender)
    assert unit is not None
    assert answer.topic == (
        f"gridflow.assignments.{sender}"
        if unit.role is SenderRole.UNIT
        else f"gridflow.replies.{sender}"
    )


def test_a_verifier_of_another_place_may_not_verify(router: Router) -> None:
    act(router, received(case(grid="s-b-g1")), T0)
    _handled(router)
    with pytest.raises(Rejected) as caught:
        act(router, verify("GF-1", HOLDER, sender="s-a.verify"), LATER)
    assert caught.value.reason is RejectionReason.PERMISSION


def test_the_hotline_rates_what_it_took(router: Router) -> None:
    hotline_case = case().model_copy(update={"channel": Channel.HOTLINE_12345})
    act(router, received(hotline_case), T0)
    _verified(router)
    with pytest.raises(Rejected):
        act(router, rate("GF-1", sender="grid-app"), LATER)
    out = act(router, rate("GF-1", sender="hotline"), LATER)
    assert [e.message.type for e in out][-1] == "command.acknowledged"


@pytest.mark.parametrize("sender", [None, "nobody"])
def test_a_command_with_no_known_sender_is_refused_with_no_one_to_answer(
    sender: str | None, held: Router
) -> None:
    command = accept("GF-1", HOLDER).model_copy(update={"sender": sender})
    with pytest.raises(Rejected) as caught:
        act(held, command, LATER)
    assert caught.value.reason is RejectionReason.PERMISSION
    assert caught.value.replies == []


def test_a_state_refusal_also_reaches_the_sender(held: Router) -> None:
    with pytest.raises(Rejected) as caught:
        act(held, report_handled("GF-1", HOLDER), LATER)  # not accepted yet
    assert caught.value.reason is RejectionReason.CONFLICT
    (answer,) = caught.value.replies
    assert answer.topic == f"gridflow.assignments.{HOLDER}"
    assert isinstance(answer.message, CommandRefused)
    assert "it must be accepted" in answer.message.payload.message


def test_supervision_presses_the_holder_on_its_own_topic(
    held: Router, store: MemoryCaseStore
) -> None:
    before = file_of(store, "GF-1")
    out = act(held, supervise("GF-1"), LATER)
    assert [(e.topic, e.message.type) for e in out] == [
        ("gridflow.cases.events", "case.supervised"),
        (f"gridflow.assignments.{HOLDER}", "case.supervised"),
        ("gridflow.replies.d.supervise", "command.acknowledged"),
    ]
    supervised = out[0].message
    assert isinstance(supervised, CaseSupervised)
    assert (supervised.payload.by, supervised.payload.unit_id, supervised.payload.seq) == (
        "d.supervise",
        HOLDER,
        1,
    )
    after = file_of(store, "GF-1")
    assert after is not None and after == before and after.stage is Stage.ASSIGNED


def test_answers_are_a_function_of_the_command(tiny: Site) -> None:
    outs = []
    for _ in range(2):
        router = Router(tiny, MemoryCaseStore())
        act(router, received(case()), T0)
        outs.append(act(router, accept("GF-1", HOLDER), LATER))
    assert [e.message.model_dump_json() for e in outs[0]] == [
        e.message.model_dump_json() for e in outs[1]
    ]
