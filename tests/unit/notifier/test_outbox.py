"""The outbox port, one suite on every backend: in memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from notifier.memory import MemoryContacts, MemoryOutbox
from notifier.ports import Contact, Contacts, Outbox, OutboxEntry, OutboxStatus
from notifier.sql import SqlContacts, SqlOutbox
from schemas.notifications import NotificationChannel
from tests.support.backends import BACKENDS, open_store
from tests.unit.notifier.factories import NOW, PHONE

LEASE = 30.0


def entry(n: int, address: str = "http://a.test/", at_minutes: int = 0) -> OutboxEntry:
    return OutboxEntry(
        key=f"k-{n:03d}",
        channel=NotificationChannel.WEBHOOK,
        recipient="unit.a",
        address=address,
        template="assignment",
        event_id=f"e-{n}",
        event_type="case.assigned",
        case_id=f"GF-{n}",
        body=f'{{"n":{n}}}',
        subject="主题",
        created_at=NOW + timedelta(minutes=at_minutes),
    )


@pytest.fixture(params=BACKENDS)
def outbox(request: pytest.FixtureRequest) -> Iterator[Outbox]:
    yield from open_store(request, MemoryOutbox, SqlOutbox)


@pytest.fixture(params=BACKENDS)
def contacts(request: pytest.FixtureRequest) -> Iterator[Contacts]:
    yield from open_store(request, MemoryContacts, SqlContacts)


def test_enqueue_keeps_one_row_per_key(outbox: Outbox) -> None:
    outbox.enqueue([entry(1), entry(2)])
    outbox.enqueue([entry(1), entry(1)])  # a batch delivered again
    rows = outbox.rows()
    assert sorted(r.entry.key for r in rows) == ["k-001", "k-002"]
    assert all(r.status is OutboxStatus.PENDING and r.attempts == 0 for r in rows)
    assert rows[0].entry.body in ('{"n":1}', '{"n":2}') and rows[0].entry.subject == "主题"


def test_claim_takes_what_is_due_under_a_lease(outbox: Outbox) -> None:
    outbox.enqueue([entry(1), entry(2, at_minutes=10)])
    [c] = outbox.claim(NOW, 10, LEASE, "t1")
    assert (c.entry.key, c.attempt, c.token) == ("k-001", 1, "t1")
    assert c.entry.created_at == NOW
    assert outbox.claim(NOW, 10, LEASE, "t2") == []  # held, and k-002 is not due yet
    # the holder died: once the lease is over, another claims it, a second attempt
    later = NOW + timedelta(seconds=LEASE)
    [again] = outbox.claim(later, 1, LEASE, "t3")
    assert (again.entry.key, again.attempt) == ("k-001", 2)
    assert not outbox.delivered("k-001", "t1", later, 200)  # the old claim lost it
    assert outbox.delivered("k-001", "t3", later, 200)


def test_claim_is_oldest_first_bounded_and_skips_busy_addresses(outbox: Outbox) -> None:
    outbox.enqueue(
        [entry(1, "http://slow.test/"), entry(2), entry(3), entry(4, "http://slow.test/")]
    )
    claimed = outbox.claim(NOW, 2, LEASE, "t", skip={"http://slow.test/"})
    assert [c.entry.key for c in claimed] == ["k-002", "k-003"]


def test_retry_dead_and_replay(outbox: Outbox) -> None:
    outbox.enqueue([entry(1), entry(2)])
    a, b = outbox.claim(NOW, 2, LEASE, "t")
    later = NOW + timedelta(minutes=5)
    assert outbox.retry(a.entry.key, "t", later, "HTTP 503 Service Unavailable", 503)
    assert outbox.dead(b.entry.key, "t", NOW, "HTTP 404 Not Found", 404)
    assert outbox.claim(NOW, 5, LEASE, "u") == []
    assert outbox.next_due() == later
    [retried] = outbox.claim(later, 5, LEASE, "u")
    assert (retried.entry.key, retried.attempt) == (a.entry.key, 2)
    [dead] = outbox.rows(OutboxStatus.DEAD)
    assert (dead.entry.key, dead.error, dead.http_status, dead.attempts) == (
        b.entry.key,
        "HTTP 404 Not Found",
        404,
        1,
    )
    assert outbox.replay(later) == 1
    [replayed] = outbox.claim(later, 5, LEASE, "v")
    assert (replayed.entry.key, replayed.attempt) == (b.entry.key, 1)  # counted afresh
    assert outbox.replay(later) == 0


def test_replay_of_some_keys(outbox: Outbox) -> None:
    outbox.enqueue([entry(1), entry(2)])
    for c in outbox.claim(NOW, 2, LEASE, "t"):
        outbox.dead(c.entry.key, "t", NOW, "gone", None)
    assert outbox.replay(NOW, keys=["k-002", "k-999"]) == 1
    assert [r.entry.key for r in outbox.rows(OutboxStatus.DEAD)] == ["k-001"]


def test_release_gives_it_back_untried(outbox: Outbox) -> None:
    outbox.enqueue([entry(1)])
    [c] = outbox.claim(NOW, 1, LEASE, "t")
    assert outbox.release(c.entry.key, "t")
    [again] = outbox.claim(NOW, 1, LEASE, "u")
    assert again.attempt == 1


def test_delivered_is_final(outbox: Outbox) -> None:
    outbox.enqueue([entry(1)])
    [c] = outbox.claim(NOW, 1, LEASE, "t")
    assert outbox.delivered(c.entry.key, "t", NOW, 204)
    assert not outbox.dead(c.entry.key, "t", NOW, "late", None)
    [row] = outbox.rows(OutboxStatus.DELIVERED)
    assert (row.http_status, row.done_at, row.lease_until) == (204, NOW, None)
    assert outbox.next_due() is None
    assert outbox.claim(NOW + timedelta(days=1), 5, LEASE, "u") == []


def test_next_due_counts_a_live_lease(outbox: Outbox) -> None:
    assert outbox.next_due() is None
    outbox.enqueue([entry(1)])
    assert outbox.next_due() == NOW
    outbox.claim(NOW, 1, LEASE, "t")
    assert outbox.next_due() == NOW + timedelta(seconds=LEASE)


def test_contacts_are_kept_and_forgotten(contacts: Contacts) -> None:
    c = Contact("hotline_12345", PHONE, "a@b.test", "https://cb.test/x", "NB-1")
    contacts.remember({"GF-1": c, "GF-2": Contact("web")})
    assert contacts.recall(["GF-1", "GF-3"]) == {"GF-1": c}
    contacts.remember({"GF-1": Contact("web", PHONE)})  # the latest wins
    assert contacts.recall(["GF-1"])["GF-1"].channel == "web"
    contacts.forget(["GF-1", "GF-9"])
    assert contacts.recall(["GF-1", "GF-2"]) == {"GF-2": Contact("web")}


def test_claim_takes_at_most_each_address_room(outbox: Outbox) -> None:
    outbox.enqueue([entry(i, f"http://{'ab'[i % 2]}.test/", at_minutes=-i) for i in range(10)])
    claimed = outbox.claim(NOW, 10, LEASE, "t", per_address=2, room={"http://a.test/": 1})
    by_address = sorted(c.entry.address for c in claimed)
    assert by_address == ["http://a.test/", "http://b.test/", "http://b.test/"]
    # the oldest of each address (here: the highest n, created earliest)
    assert {c.entry.key for c in claimed} == {"k-008", "k-009", "k-007"}
    assert len(outbox.claim(NOW, 10, LEASE, "u", per_address=2)) == 4
