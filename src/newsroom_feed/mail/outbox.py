"""The delivery ledger: idempotent enqueueing, claiming due rows under a lease, recording every attempt.

Row life: ``pending`` → (claimed) ``sending`` → ``sent`` | ``pending`` again with a backoff (4xx,
disconnects) | ``failed`` (5xx, too many attempts) | ``withdrawn`` (its subscriber may no longer be
written to). A row is ``sending`` only while a sender
holds its lease; a lease that runs out (the sender died) makes the row due again, and whoever takes the
single-instance lock calls `reclaim_all` at once. A live sender `renew`s the leases of its rows well
before they run out, a claim never takes back rows of the claiming owner itself, and `record` changes a
row only while the recording owner still holds it: a slow SMTP transaction never lets a row be sent twice,
and a late outcome never overwrites what another sender recorded.

Rows of subscribers who are unsubscribed, bounced or erased are never sent: a claim closes them
``withdrawn`` with ``last_error`` starting ``withdrawn:``, and so does the sender's last look before DATA
(`withdrawal_reasons`, then `withdraw`) when the subscriber left after the claim, so the ledger still
shows what was planned and why it did not go. Nothing failed there: `retry` never queues them again. An
SMTP reply recorded after the subscriber was erased has the address taken out (`record`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from newsroom_feed.mail.kinds import kind_named
from newsroom_feed.models import OutboxItem, OutboxKind, iso
from newsroom_feed.settings import OutboxSettings
from newsroom_feed.store import early_access, subscribers
from newsroom_feed.store import outbox as rows
from newsroom_feed.store.database import Store

Outcome = Literal["sent", "transient", "permanent"]

WITHDRAWN = "withdrawn: "
#: What stands for an erased address in a reply recorded after the erase (as `subscriptions` scrubs).
ERASED = "[erased]"


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to plan: at most one row per (subscriber, key), however often it is planned."""

    subscriber_id: int
    key: str
    kind: OutboxKind
    release_ids: tuple[int, ...] = ()
    #: The Message-ID this message answers (the one that subscriber received): threads it (RFC 5322).
    in_reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one SMTP transaction of a claimed row came to.

    ``bounce`` is set for a permanent failure about the recipient (a 5xx to RCPT or DATA), which counts
    towards the subscriber's ``bounced`` status; a message we could not even compose does not.
    ``recipient`` is the address the message went to, taken out of the reply if the subscriber is
    erased by the time it is recorded.
    """

    item: OutboxItem
    outcome: Outcome
    code: int | None
    reply: str
    message_id: str | None = None
    bounce: bool = False
    recipient: str = ""


@dataclass(frozen=True, slots=True)
class Claimed:
    """Rows taken, and how many were closed ``withdrawn`` on the way (their subscriber left)."""

    items: list[OutboxItem]
    withdrawn: int


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One row as `outbox list` shows it; ``email`` is None once the subscriber was erased."""

    id: int
    key: str
    kind: str
    email: str | None
    status: str
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    message_id: str | None
    sent_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "kind": self.kind,
            "email": self.email,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
            "message_id": self.message_id,
            "sent_at": self.sent_at,
        }


def enqueue(store: Store, messages: Iterable[NewMessage], now: datetime) -> int:
    """Plan messages, skipping any (subscriber, key) already planned; returns how many rows are new.

    Joins the caller's transaction when there is one, so a planner can enqueue and record why in one
    commit.
    """
    with store.transaction():
        return rows.insert_new(
            store,
            ((m.key, m.kind, m.subscriber_id, _ids_json(m.release_ids), m.in_reply_to) for m in messages),
            iso(now),
        )


def _ids_json(ids: tuple[int, ...]) -> str:
    """A JSON array of ints, written directly: this runs once per planned row."""
    return "[" + ",".join(str(int(value)) for value in ids) + "]"


def claim(
    store: Store,
    owner: str,
    now: datetime,
    *,
    lease_seconds: float,
    limit: int = 1,
    terms_version: str | None = None,
) -> Claimed:
    """Take up to ``limit`` due rows for ``owner`` until ``now + lease_seconds``, oldest due first.

    Rows whose lease ran out are due again, except ``owner``'s own: those are in its hands (in flight or
    prefetched) and its lease may only look expired because a transaction outlived it. Rows whose
    subscriber may not be written to are closed ``withdrawn`` (``withdrawn: ...``) on the way and
    counted, never returned. ``terms_version``: the embargo terms in force, which an early copy's reader
    must have accepted (None: no early copy goes).
    """
    lease_until = iso(now + timedelta(seconds=lease_seconds))
    items: list[OutboxItem] = []
    withdrawn = 0
    with store.transaction():
        rows.expire_leases(store, iso(now), owner)
        while len(items) < limit:
            due = rows.due_rows(store, iso(now), limit - len(items))
            if not due:
                break
            taken, skips = [], []
            for row in due:
                row_id, key, kind, subscriber_id, release_ids, attempts, message_id, answers = row[:8]
                status, verification, terms = row[8:]
                reason = _skip_reason(kind, subscriber_id, status, verification, terms, terms_version)
                if reason is not None:
                    skips.append((WITHDRAWN + reason, row_id))
                    continue
                taken.append((lease_until, owner, row_id))
                items.append(
                    OutboxItem(
                        id=row_id,
                        key=key,
                        kind=kind,
                        subscriber_id=subscriber_id,
                        release_ids=tuple(json.loads(release_ids)),
                        status="sending",
                        attempts=attempts,
                        message_id=message_id,
                        in_reply_to=answers,
                        verified=verification == "verified",
                    )
                )
            rows.close_withdrawn(store, skips)
            rows.take(store, taken)
            withdrawn += len(skips)
    return Claimed(items, withdrawn)


def _skip_reason(
    kind: str,
    subscriber_id: int | None,
    status: str | None,
    verification: str | None,
    terms: str | None,
    terms_version: str | None,
) -> str | None:
    """Why a row may not go to its subscriber now, or None; whom a kind may reach is the kind's rule
    (an early copy: a verified journalist who accepted the terms of ``terms_version`` only, so a
    revocation or new terms stop what is still queued).

    :raises UnknownMessageKind: the row's kind is not in `kinds.KINDS`.
    """
    if subscriber_id is None or status is None:
        return "subscriber erased"
    rule = kind_named(kind)
    current_terms = terms_version is not None and terms == terms_version
    if rule.may_receive(status, verification, current_terms=current_terms):
        return None
    if status not in rule.receivers:
        return f"subscriber {status}"
    if verification == "verified":
        return "journalist has not accepted the current embargo terms"
    return f"journalist {verification or 'not verified'}"


def withdrawal_reasons(
    store: Store, items: Sequence[OutboxItem], terms_version: str | None = None
) -> list[str | None]:
    """Why each claimed row may no longer be sent (its subscriber unsubscribed, bounced or was erased
    since the claim), or None: the sender's last look before DATA, one primary-key query for the rows
    of every worker that asks at once."""
    ids = sorted({item.id for item in items})
    if not ids:
        return []
    found = rows.subscriber_states(store, ids)
    return [
        _skip_reason(item.kind, *found[item.id], terms_version) if item.id in found else "row deleted"
        for item in items
    ]


def withdraw(store: Store, withdrawals: Iterable[tuple[int, str]], owner: str) -> int:
    """Close claimed rows ``withdrawn`` with their reason; no attempt is counted (the relay got no
    DATA), and `retry` never queues them again. Only rows ``owner`` still holds change."""
    wanted = [(reason, row_id, owner) for row_id, reason in withdrawals]
    with store.transaction():
        return rows.withdraw_held(store, wanted)


def record(
    store: Store, attempts: Sequence[Attempt], now: datetime, settings: OutboxSettings, *, owner: str
) -> list[str]:
    """Write the outcome of several attempts in one transaction; returns each row's new status.

    A transient failure puts the row back with an exponential backoff, or fails it after
    ``settings.max_attempts``; a permanent one fails it at once and, for a bounce, counts towards the
    subscriber's ``bounced`` status (at ``settings.bounce_after``).

    Every attempt goes into ``deliveries`` (it happened), but a row changes only while ``owner`` still
    holds it (``sending`` under its lease); a ``sent`` outcome also settles a row that was given back to
    the queue meanwhile (``pending``, no owner), so that nobody sends it again. Otherwise the row belongs
    to another sender or is settled already, is left as it is, and its status here is ``"lost"``.
    """
    return [status for _, status in record_outcomes(store, attempts, now, settings, owner=owner)]


def record_outcomes(
    store: Store, attempts: Sequence[Attempt], now: datetime, settings: OutboxSettings, *, owner: str
) -> list[tuple[Attempt, str]]:
    """`record`, returning each attempt as it was written with the row's new status: a reply about a
    subscriber erased while the message was in flight has the address taken out, in the ledger and in
    what the sender reports and logs."""
    when = iso(now)
    with store.transaction():
        # Inside the transaction: an erase either committed before (its address is taken out here) or
        # comes after and scrubs what is written now itself.
        written = _without_erased_addresses(store, attempts)
        rows.insert_deliveries(
            store,
            [(a.item.id, a.item.attempts + 1, when, a.code, a.reply[:1000], a.outcome) for a in written],
        )
        return [(attempt, _record_one(store, attempt, now, settings, owner)) for attempt in written]


def _without_erased_addresses(store: Store, attempts: Sequence[Attempt]) -> list[Attempt]:
    """The attempts with the recipient taken out of the reply where the row lost its subscriber (erased
    while the message was in flight): relays quote the address ("550 <ania@...>: no such user"), and
    an erase must not come back through the ledger."""
    ids = sorted({a.item.id for a in attempts if a.recipient})
    if not ids:
        return list(attempts)
    erased = rows.erased_among(store, ids)
    if not erased:
        return list(attempts)
    scrubbed = []
    for attempt in attempts:
        if attempt.item.id in erased and attempt.recipient:
            pattern = re.compile(re.escape(attempt.recipient), re.IGNORECASE)
            attempt = dataclasses.replace(attempt, reply=pattern.sub(ERASED, attempt.reply), recipient="")
        scrubbed.append(attempt)
    return scrubbed


def _record_one(store: Store, attempt: Attempt, now: datetime, settings: OutboxSettings, owner: str) -> str:
    item, number = attempt.item, attempt.item.attempts + 1
    if attempt.outcome == "sent":
        changed = rows.mark_sent(store, item.id, number, iso(now), attempt.message_id, owner)
        if changed and item.subscriber_id is not None and kind_named(item.kind).early_copy:
            # Who had the release before its lift, for tracing a leak: with the row's own change.
            early_access.record(store, item.release_ids, item.subscriber_id, "mail", now)
        return "sent" if changed else "lost"
    error = f"{attempt.code or 'no reply'} {attempt.reply}".strip()[:1000]
    if attempt.outcome == "transient" and number < settings.max_attempts:
        retry_at = now + timedelta(seconds=backoff(number, settings))
        changed = rows.mark_pending(store, item.id, number, iso(retry_at), error, attempt.message_id, owner)
        return "pending" if changed else "lost"
    if attempt.outcome == "transient":
        error = f"gave up after {number} attempts: {error}"
    if not rows.mark_failed(store, item.id, number, error, attempt.message_id, owner):
        return "lost"
    if attempt.bounce and item.subscriber_id is not None:
        subscribers.count_bounce(store, item.subscriber_id, settings.bounce_after)
    return "failed"


def renew(store: Store, owner: str, now: datetime, *, lease_seconds: float) -> int:
    """Extend the leases of every row ``owner`` holds to ``now + lease_seconds``; returns how many.

    A live sender calls this well within each lease (at a third of it), so neither its rows in flight
    nor those it prefetched look abandoned however long an SMTP transaction takes; when the sender dies
    the renewals stop and the leases run out as before.
    """
    with store.transaction():
        return rows.renew_leases(store, owner, iso(now + timedelta(seconds=lease_seconds)))


def bounced_subscribers(store: Store, ids: Iterable[int]) -> set[int]:
    """Which of these subscribers are `bounced` now (after `record` counted their failures)."""
    return subscribers.bounced_among(store, sorted(set(ids)))


def backoff(attempt: int, settings: OutboxSettings) -> float:
    """Seconds before attempt ``attempt + 1``: doubling from ``backoff_seconds`` up to the maximum."""
    return float(min(settings.backoff_seconds * 2 ** (attempt - 1), settings.backoff_max_seconds))


def give_back(store: Store, ids: Iterable[int], owner: str) -> int:
    """Give rows claimed but not attempted back to the queue, unchanged (a stopping sender)."""
    wanted = [(row_id, owner) for row_id in ids]
    with store.transaction():
        return rows.give_back(store, wanted)


def defer(store: Store, until: Iterable[tuple[int, datetime]], owner: str) -> int:
    """Put claimed rows back to wait until a moment (their releases went back under embargo), with no
    attempt counted: nothing was tried."""
    wanted = [(iso(moment), row_id, owner) for row_id, moment in until]
    with store.transaction():
        return rows.postpone(store, wanted)


def reclaim_all(store: Store) -> int:
    """Make every ``sending`` row due again: only for the holder of the single-instance lock, which
    knows that no other sender is alive."""
    with store.transaction():
        return rows.reclaim_all(store)


def retry(store: Store, now: datetime, *, include_failed: bool = False) -> int:
    """Make waiting rows due now; with ``include_failed`` also re-queue failed rows with fresh attempts."""
    with store.transaction():
        count = rows.hurry_pending(store, iso(now))
        if include_failed:
            count += rows.requeue_failed(store, iso(now))
    return count


def waiting(store: Store) -> int:
    """Rows not yet delivered nor given up: due later, or held by a sender."""
    return rows.count_waiting(store)


def counts(store: Store) -> dict[str, dict[str, int]]:
    """Rows by status, then by kind: what `/api/outbox` shows and `/metrics` sums per status."""
    found: dict[str, dict[str, int]] = {}
    for kind, status, count in rows.counts_by_kind(store):
        found.setdefault(status, {})[kind] = count
    return found


def next_due(store: Store) -> datetime | None:
    """When the earliest pending row becomes due, to sleep until then."""
    due = rows.earliest_due(store)
    return datetime.fromisoformat(due) if due else None


def list_rows(store: Store, *, statuses: Sequence[str] = (), limit: int | None = None) -> list[OutboxRow]:
    """Ledger rows, newest first, filtered by status."""
    return [OutboxRow(*row) for row in rows.listing(store, statuses, limit)]
