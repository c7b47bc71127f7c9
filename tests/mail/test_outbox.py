"""The delivery ledger on a real SQLite file: idempotent planning, leases, attempts, backoff and bounces."""

from __future__ import annotations

from datetime import datetime, timedelta

from newsroom_feed.mail import outbox
from newsroom_feed.mail.outbox import Attempt, NewMessage
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from ..mail_helpers import add_subscriber


def _status(store: Store, row_id: int) -> tuple[str, int, str | None]:
    row = store.conn.execute(
        "SELECT status, attempts, last_error FROM outbox WHERE id = ?", (row_id,)
    ).fetchone()
    return row[0], row[1], row[2]


def test_enqueueing_the_same_message_twice_plans_it_once(store: Store, now: datetime) -> None:
    anna = add_subscriber(store, "anna@example.pl")
    message = NewMessage(anna, "alert:tag:x,2026:release/1", "alert", (1,))
    assert outbox.enqueue(store, [message], now) == 1
    assert outbox.enqueue(store, [message, message], now) == 0
    assert store.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1


def test_a_claimed_row_is_not_claimed_again_until_its_lease_expires(store: Store, now: datetime) -> None:
    anna = add_subscriber(store, "anna@example.pl")
    outbox.enqueue(store, [NewMessage(anna, "confirm:1", "confirmation")], now)
    first = outbox.claim(store, "one", now, lease_seconds=60)
    assert [item.key for item in first.items] == ["confirm:1"]
    assert outbox.claim(store, "two", now + timedelta(seconds=30), lease_seconds=60).items == []
    again = outbox.claim(store, "two", now + timedelta(seconds=61), lease_seconds=60)
    assert [item.id for item in again.items] == [first.items[0].id]


def test_reclaim_all_returns_rows_left_sending_by_a_dead_sender(store: Store, now: datetime) -> None:
    anna = add_subscriber(store, "anna@example.pl")
    outbox.enqueue(store, [NewMessage(anna, f"confirm:{n}", "confirmation") for n in range(3)], now)
    assert len(outbox.claim(store, "dead", now, lease_seconds=60, limit=3).items) == 3
    assert outbox.reclaim_all(store) == 3
    assert len(outbox.claim(store, "alive", now, lease_seconds=60, limit=5).items) == 3


def test_rows_given_back_keep_their_attempt_count(store: Store, now: datetime) -> None:
    anna = add_subscriber(store, "anna@example.pl")
    outbox.enqueue(store, [NewMessage(anna, "confirm:1", "confirmation")], now)
    item = outbox.claim(store, "me", now, lease_seconds=60).items[0]
    assert outbox.give_back(store, [item.id], "someone-else") == 0
    assert outbox.give_back(store, [item.id], "me") == 1
    assert _status(store, item.id) == ("pending", 0, None)


def test_rows_of_unsubscribed_bounced_and_erased_subscribers_are_closed_withdrawn(
    store: Store, now: datetime
) -> None:
    active = add_subscriber(store, "anna@example.pl")
    gone = add_subscriber(store, "gone@example.pl", status="unsubscribed")
    bounced = add_subscriber(store, "bounced@example.pl", status="bounced")
    erased = add_subscriber(store, "erased@example.pl")
    outbox.enqueue(
        store, [NewMessage(s, "digest:daily:x", "digest") for s in (active, gone, bounced, erased)], now
    )
    store.conn.execute("DELETE FROM subscribers WHERE id = ?", (erased,))
    claimed = outbox.claim(store, "me", now, lease_seconds=60, limit=10)
    assert [item.subscriber_id for item in claimed.items] == [active]
    assert claimed.withdrawn == 3
    errors = {row.email: row.last_error for row in outbox.list_rows(store, statuses=["withdrawn"])}
    assert errors == {
        "gone@example.pl": "withdrawn: subscriber unsubscribed",
        "bounced@example.pl": "withdrawn: subscriber bounced",
        None: "withdrawn: subscriber erased",
    }
    # Nothing failed: an operator's `retry --failed` (after fixing a relay) must not queue them again.
    assert outbox.retry(store, now, include_failed=True) == 0
    assert outbox.list_rows(store, statuses=["failed", "pending"]) == []


def test_a_pending_subscriber_gets_a_confirmation_but_no_alert(store: Store, now: datetime) -> None:
    new = add_subscriber(store, "new@example.pl", status="pending")
    outbox.enqueue(
        store, [NewMessage(new, "confirm:1", "confirmation"), NewMessage(new, "alert:a", "alert")], now
    )
    claimed = outbox.claim(store, "me", now, lease_seconds=60, limit=10)
    assert [item.kind for item in claimed.items] == ["confirmation"]


def test_transient_failures_back_off_exponentially_then_fail(
    store: Store, settings: Settings, now: datetime
) -> None:
    rules = settings.outbox.model_copy(update={"max_attempts": 3, "backoff_seconds": 30.0})
    anna = add_subscriber(store, "anna@example.pl")
    outbox.enqueue(store, [NewMessage(anna, "confirm:1", "confirmation")], now)
    moment = now
    expected_waits = [30, 60]
    for wait in expected_waits:
        item = outbox.claim(store, "me", moment, lease_seconds=60).items[0]
        assert outbox.record(
            store, [Attempt(item, "transient", 451, "later")], moment, rules, owner="me"
        ) == ["pending"]
        assert outbox.claim(store, "me", moment + timedelta(seconds=wait - 1), lease_seconds=60).items == []
        moment += timedelta(seconds=wait)
    item = outbox.claim(store, "me", moment, lease_seconds=60).items[0]
    assert outbox.record(store, [Attempt(item, "transient", 451, "later")], moment, rules, owner="me") == [
        "failed"
    ]
    assert _status(store, item.id) == ("failed", 3, "gave up after 3 attempts: 451 later")
    attempts = store.conn.execute("SELECT attempt, code, outcome FROM deliveries ORDER BY id").fetchall()
    assert attempts == [(1, 451, "transient"), (2, 451, "transient"), (3, 451, "transient")]


def test_three_permanent_failures_bounce_the_subscriber(
    store: Store, settings: Settings, now: datetime
) -> None:
    anna = add_subscriber(store, "anna@example.pl")
    outbox.enqueue(store, [NewMessage(anna, f"alert:{n}", "alert") for n in range(4)], now)
    for _ in range(3):
        item = outbox.claim(store, "me", now, lease_seconds=60).items[0]
        outbox.record(
            store,
            [Attempt(item, "permanent", 550, "no such user", bounce=True)],
            now,
            settings.outbox,
            owner="me",
        )
    status = store.conn.execute("SELECT status, permanent_failures FROM subscribers").fetchone()
    assert tuple(status) == ("bounced", 3)
    last = outbox.claim(store, "me", now, lease_seconds=60)
    assert last.items == [] and last.withdrawn == 1


def test_retry_makes_waiting_rows_due_and_failed_rows_pending_again(
    store: Store, settings: Settings, now: datetime
) -> None:
    anna = add_subscriber(store, "anna@example.pl")
    outbox.enqueue(
        store, [NewMessage(anna, "confirm:1", "confirmation"), NewMessage(anna, "alert:1", "alert")], now
    )
    first, second = outbox.claim(store, "me", now, lease_seconds=60, limit=2).items
    outbox.record(
        store,
        [Attempt(first, "transient", 421, "busy"), Attempt(second, "permanent", 554, "policy")],
        now,
        settings.outbox,
        owner="me",
    )
    assert outbox.retry(store, now) == 1
    assert [item.id for item in outbox.claim(store, "me", now, lease_seconds=60).items] == [first.id]
    assert outbox.retry(store, now, include_failed=True) == 1
    again = outbox.claim(store, "me", now, lease_seconds=60).items
    assert [(item.id, item.attempts) for item in again] == [(second.id, 0)]


def test_a_sender_never_takes_back_its_own_rows_however_long_it_holds_them(
    store: Store, now: datetime
) -> None:
    anna = add_subscriber(store, "anna@example.pl")
    outbox.enqueue(store, [NewMessage(anna, f"confirm:{n}", "confirmation") for n in range(2)], now)
    held = outbox.claim(store, "slow", now, lease_seconds=2).items[0]
    later = now + timedelta(seconds=10)
    # Its lease ran out while its transaction goes on: its own next claim leaves the row alone...
    assert [item.key for item in outbox.claim(store, "slow", later, lease_seconds=2).items] == ["confirm:1"]
    assert _status(store, held.id)[0] == "sending"
    # ...while another sender may take it, since a lease not renewed means its owner died.
    assert [item.id for item in outbox.claim(store, "other", later, lease_seconds=2).items] == [held.id]


def test_renewed_leases_keep_rows_from_other_senders(store: Store, now: datetime) -> None:
    anna = add_subscriber(store, "anna@example.pl")
    outbox.enqueue(store, [NewMessage(anna, f"confirm:{n}", "confirmation") for n in range(3)], now)
    assert len(outbox.claim(store, "alive", now, lease_seconds=2, limit=2).items) == 2
    assert outbox.renew(store, "alive", now + timedelta(seconds=1.5), lease_seconds=2) == 2
    taken = outbox.claim(store, "other", now + timedelta(seconds=3), lease_seconds=2, limit=5).items
    assert [item.key for item in taken] == ["confirm:2"]


def test_a_late_outcome_never_overwrites_what_the_new_holder_recorded(
    store: Store, settings: Settings, now: datetime
) -> None:
    anna = add_subscriber(store, "anna@example.pl")
    outbox.enqueue(store, [NewMessage(anna, "confirm:1", "confirmation")], now)
    stale = outbox.claim(store, "dead-slow", now, lease_seconds=2).items[0]
    later = now + timedelta(seconds=5)
    fresh = outbox.claim(store, "other", later, lease_seconds=2).items[0]
    rules = settings.outbox
    assert outbox.record(store, [Attempt(fresh, "sent", 250, "ok")], later, rules, owner="other") == ["sent"]
    late = [
        Attempt(stale, "transient", 451, "try later"),
        Attempt(stale, "permanent", 550, "no", bounce=True),
    ]
    assert outbox.record(store, late, later, rules, owner="dead-slow") == ["lost", "lost"]
    assert _status(store, stale.id) == ("sent", 1, None)
    assert store.conn.execute("SELECT permanent_failures FROM subscribers").fetchone()[0] == 0
    assert store.conn.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 3


def test_a_late_success_settles_a_row_given_back_so_nobody_sends_it_again(
    store: Store, settings: Settings, now: datetime
) -> None:
    anna = add_subscriber(store, "anna@example.pl")
    outbox.enqueue(store, [NewMessage(anna, "confirm:1", "confirmation")], now)
    item = outbox.claim(store, "slow", now, lease_seconds=2).items[0]
    outbox.reclaim_all(store)
    assert outbox.record(store, [Attempt(item, "sent", 250, "ok")], now, settings.outbox, owner="slow") == [
        "sent"
    ]
    assert outbox.claim(store, "other", now, lease_seconds=2).items == []
