"""The retry schedule and the rate window: pure, and the same on every sender."""

from __future__ import annotations

from datetime import timedelta

from notifier.outbox import RateLimit, RecipientRates, RetryPolicy, idempotency_key
from schemas.envelope import stable_id
from schemas.notifications import NotificationChannel
from tests.unit.notifier.factories import NOW


def test_keys_are_event_recipient_channel() -> None:
    key = idempotency_key("e-1", "unit.a", NotificationChannel.SMS)
    assert key == stable_id("e-1", "unit.a", "sms")
    assert key != idempotency_key("e-1", "unit.a", NotificationChannel.EMAIL)


def test_backoff_grows_exponentially_with_bounded_jitter_and_a_cap() -> None:
    p = RetryPolicy(first_seconds=10, factor=2, max_delay_seconds=100, max_attempts=8, jitter=0.2)
    bases = [10, 20, 40, 80, 100, 100, 100]
    for attempt, base in enumerate(bases, start=1):
        d = p.delay("k", attempt)
        assert base * 0.8 <= d <= base * 1.2
        assert d == p.delay("k", attempt)  # the same on every sender
    assert len({p.delay(f"k{i}", 1) for i in range(20)}) > 10  # spread across entries
    assert p.next_at("k", 1, NOW) == NOW + timedelta(seconds=p.delay("k", 1))
    assert p.next_at("k", 8, NOW) is None  # the last attempt: a dead letter


def test_no_jitter_is_exact_and_the_default_spans_hours() -> None:
    p = RetryPolicy(first_seconds=1, factor=3, max_attempts=3, jitter=0)
    assert [p.delay("k", n) for n in (1, 2)] == [1, 3]
    assert p.span_seconds() == 4
    assert 5 * 3600 < RetryPolicy().span_seconds() < 8 * 3600


def test_rates_per_address_in_a_sliding_minute() -> None:
    rates = RecipientRates(RateLimit(per_minute=2))
    assert rates.allows("a", 0.0)
    rates.record("a", 0.0)
    rates.record("a", 1.0)
    assert not rates.allows("a", 30.0) and rates.allows("b", 30.0)
    assert rates.full(30.0) == {"a"}
    assert rates.allows("a", 60.5)  # the first has left the window
