"""The sending loop: claim due outbox rows, compose each message, send it through the mailer pool, record.

N workers (``smtp.connections``) share one prefetch of claimed rows. A worker does not take its next row
until the outcome of its last one is committed, so at any instant at most N messages are sent but not
recorded: a crash repeats at most those, and loses none (claimed rows come back when their lease runs out,
or at once when the next sender takes the single-instance lock, `daemon.try_instance_lock`, and calls
`outbox.reclaim_all`). Outcomes that finish together are committed together (one transaction).

All store access happens in the event loop's thread, between awaits: SQLite calls here take tens of
microseconds, and the connection is never used from two threads.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import os
import re
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from newsroom_feed import outbox
from newsroom_feed.compose import Composer
from newsroom_feed.errors import DeliveryError, NewsroomError, PermanentDeliveryError
from newsroom_feed.mailer import Accepted, Mailer
from newsroom_feed.models import OutboxItem, OutgoingMessage, utcnow
from newsroom_feed.settings import Settings
from newsroom_feed.store import Store

if TYPE_CHECKING:
    from newsroom_feed.metrics import Metrics

#: How long an idle daemon sender sleeps between looks at the outbox when nobody wakes it.
IDLE_POLL_SECONDS = 5.0
#: A report names this many permanent failures; the ledger (`outbox list --status failed`) has them all.
MAX_ERRORS_KEPT = 20
#: Rows claimed (and composed) at once per connection. Small batches keep the loop from stalling every
#: connection while a big batch is composed: the relay stays busy while the next message is prepared.
PREFETCH_PER_CONNECTION = 2


class Transport(Protocol):
    """What sends composed bytes: `Mailer`, or anything with the same `send` (the benchmark's null sink)."""

    async def send(self, sender: str, recipient: str, data: bytes) -> Accepted: ...


class Renderer(Protocol):
    """What turns outbox rows into bytes: `compose.Composer`. ``render_many`` loads what a batch needs
    in a few queries and puts an error in the place of a row it cannot compose."""

    def render(self, item: OutboxItem) -> OutgoingMessage: ...

    def render_many(self, items: Sequence[OutboxItem]) -> list[OutgoingMessage | NewsroomError]: ...


@dataclass
class DeliveryReport:
    """What a sending run did. ``waiting``: rows left for later (a retry not yet due, or given back on
    stop); ``skipped``: rows of subscribers who may no longer be written to."""

    sent: int = 0
    waiting: int = 0
    failed: int = 0
    skipped: int = 0
    retried: int = 0
    stopped: bool = False
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"sent {self.sent}, waiting {self.waiting}, failed {self.failed}"
        if self.skipped:
            text += f", skipped {self.skipped}"
        return text


def make_owner() -> str:
    """A lease owner unique to this sender: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def default_renderer(settings: Settings, store: Store, clock: Callable[[], datetime] = utcnow) -> Renderer:
    """The real composer, one per run: it renders each distinct body once and splices recipients in."""
    return Composer(settings, store, clock=clock)


def preview_digests(
    store: Store,
    settings: Settings,
    messages: Iterable[outbox.NewMessage],
    out: Path,
    *,
    limit: int,
    renderer: Renderer | None = None,
) -> list[Path]:
    """Write the exact bytes of planned-but-not-stored digests as ``.eml``, and their HTML part as
    ``.html``, into ``out``; the store is only read. Returns the files written."""
    renderer = renderer or default_renderer(settings, store)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for number, message in enumerate(itertools.islice(messages, limit), start=1):
        item = OutboxItem(
            id=0,
            key=message.key,
            kind=message.kind,
            subscriber_id=message.subscriber_id,
            release_ids=message.release_ids,
            status="pending",
            attempts=0,
        )
        composed = renderer.render(item)
        stem = out / f"{number:03d}-{re.sub(r'[^A-Za-z0-9@._-]+', '_', composed.recipient)}"
        eml = stem.with_name(stem.name + ".eml")
        eml.write_bytes(composed.data)
        written.append(eml)
        parsed = email.message_from_bytes(composed.data, policy=email.policy.default)
        body = parsed.get_body(("html",)) if isinstance(parsed, EmailMessage) else None
        if isinstance(body, EmailMessage):
            html = stem.with_name(stem.name + ".html")
            html.write_text(body.get_content(), encoding="utf-8")
            written.append(html)
    return written


async def deliver(
    store: Store,
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    until_idle: bool = True,
    wake: asyncio.Event | None = None,
    transport: Transport | None = None,
    renderer: Renderer | None = None,
    metrics: Metrics | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> DeliveryReport:
    """Send every due row; with ``until_idle`` return when none is due, otherwise run until ``stop``.

    On ``stop``: no new row is taken, messages in flight finish and are recorded, rows claimed but not
    started go back to the queue. ``wake`` (set by the planner) cuts an idle wait short.
    """
    run = _Run(store, settings, renderer or default_renderer(settings, store, clock), metrics, clock)
    stop = stop or asyncio.Event()
    mailer: Mailer | None = None
    if transport is None:
        mailer = transport = Mailer(settings.smtp)
    try:
        workers = [
            asyncio.create_task(run.work(transport, stop, wake, until_idle), name=f"sender-{n}")
            for n in range(settings.smtp.connections)
        ]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
    finally:
        run.give_back()
        if mailer is not None:
            await mailer.close()
    report = run.report
    report.stopped = stop.is_set()
    report.waiting = outbox.waiting(store)
    return report


class _Run:
    """One sending run: the shared prefetch of claimed rows and the group commit of outcomes."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        renderer: Renderer,
        metrics: Metrics | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.settings = settings
        self.renderer = renderer
        self.metrics = metrics
        self.clock = clock
        self.owner = make_owner()
        self.report = DeliveryReport()
        lease = settings.outbox.lease_seconds
        # Claim enough rows at once to save transactions, but no more than the pool can send in a
        # quarter of a lease at the rate limit: a prefetched row must not outlive its lease.
        self.batch = max(1, min(PREFETCH_PER_CONNECTION * settings.smtp.connections, int(settings.smtp.rate_per_second * lease / 4)))
        self.prefetch: deque[tuple[OutboxItem, OutgoingMessage | Exception]] = deque()
        self.prefetch_deadline = 0.0
        self.outcomes: list[tuple[outbox.Attempt, asyncio.Future[str]]] = []

    # -- claiming -----------------------------------------------------------------------------------

    def next_item(self) -> tuple[OutboxItem, OutgoingMessage | Exception] | None:
        if self.prefetch and time.monotonic() > self.prefetch_deadline:
            self.give_back()
        if not self.prefetch:
            claimed = outbox.claim(
                self.store,
                self.owner,
                self.clock(),
                lease_seconds=self.settings.outbox.lease_seconds,
                limit=self.batch,
            )
            self.report.skipped += claimed.skipped
            self.prefetch.extend(zip(claimed.items, self._compose(claimed.items), strict=True))
            self.prefetch_deadline = time.monotonic() + self.settings.outbox.lease_seconds / 2
        return self.prefetch.popleft() if self.prefetch else None

    def give_back(self) -> None:
        """Return claimed rows not started (stop, or a prefetch grown old) to the queue."""
        if self.prefetch:
            outbox.release(self.store, [item.id for item, _ in self.prefetch], self.owner)
            self.prefetch.clear()

    # -- one worker -----------------------------------------------------------------------------------

    async def work(
        self, transport: Transport, stop: asyncio.Event, wake: asyncio.Event | None, until_idle: bool
    ) -> None:
        while not stop.is_set():
            claimed = self.next_item()
            if claimed is None:
                if until_idle:
                    return
                await self._idle(stop, wake)
                continue
            attempt = await self._attempt(transport, *claimed)
            status = await self._record(attempt)
            self._count(attempt, status)

    def _compose(self, items: list[OutboxItem]) -> list[OutgoingMessage | Exception]:
        """Messages for a claimed batch; a row that cannot be composed (its releases retracted, its
        subscriber erased, a template error) gets its error, fails on its own, and is no bounce."""
        if not items:
            return []
        try:
            return list(self.renderer.render_many(items))
        except Exception:
            results: list[OutgoingMessage | Exception] = []
            for item in items:
                try:
                    results.append(self.renderer.render(item))
                except Exception as error:
                    results.append(error)
            return results

    async def _attempt(
        self, transport: Transport, item: OutboxItem, message: OutgoingMessage | Exception
    ) -> outbox.Attempt:
        if isinstance(message, Exception):
            return outbox.Attempt(item, "permanent", None, f"cannot compose: {message}")
        started = time.perf_counter()
        try:
            accepted = await transport.send(message.sender, message.recipient, message.data)
        except DeliveryError as error:
            outcome: outbox.Outcome = (
                "permanent" if isinstance(error, PermanentDeliveryError) else "transient"
            )
            bounce = isinstance(error, PermanentDeliveryError) and bool(error.recipient)
            return outbox.Attempt(item, outcome, error.code, error.reply, message.message_id, bounce)
        finally:
            if self.metrics is not None:
                self.metrics.delivery_seconds.observe(time.perf_counter() - started)
        return outbox.Attempt(item, "sent", accepted.code, accepted.reply, message.message_id)

    async def _record(self, attempt: outbox.Attempt) -> str:
        """Queue the outcome for the next group commit and wait until it is durable."""
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.outcomes.append((attempt, done))
        if len(self.outcomes) == 1:
            asyncio.get_running_loop().call_soon(self._commit)
        return await done

    def _commit(self) -> None:
        batch, self.outcomes = self.outcomes, []
        try:
            statuses = outbox.record(
                self.store, [attempt for attempt, _ in batch], self.clock(), self.settings.outbox
            )
        except Exception as error:
            for _, done in batch:
                done.set_exception(error)
            return
        for (_, done), status in zip(batch, statuses, strict=True):
            done.set_result(status)
        bounced = {attempt.item.subscriber_id for attempt, _ in batch if attempt.bounce}
        if bounced and self.prefetch:
            # Their other prefetched rows go back: the next claim skips them if the address is now
            # `bounced`, rather than sending to it once more.
            back = [item.id for item, _ in self.prefetch if item.subscriber_id in bounced]
            self.prefetch = deque(pair for pair in self.prefetch if pair[0].subscriber_id not in bounced)
            outbox.release(self.store, back, self.owner)

    def _count(self, attempt: outbox.Attempt, status: str) -> None:
        if status == "sent":
            self.report.sent += 1
        elif status == "failed":
            self.report.failed += 1
            if len(self.report.errors) < MAX_ERRORS_KEPT:
                self.report.errors.append(f"{attempt.item.key}: {attempt.code or ''} {attempt.reply}")
        else:
            self.report.retried += 1
        if self.metrics is not None:
            self.metrics.messages.labels(attempt.item.kind, attempt.outcome).inc()

    async def _idle(self, stop: asyncio.Event, wake: asyncio.Event | None) -> None:
        """Sleep until the next row is due, the planner wakes us, or we are stopped."""
        delay = IDLE_POLL_SECONDS
        due = outbox.next_due(self.store)
        if due is not None:
            delay = min(delay, max(0.05, (due - self.clock()).total_seconds()))
        waiters = [asyncio.create_task(stop.wait())]
        if wake is not None:
            waiters.append(asyncio.create_task(wake.wait()))
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if wake is not None and wake.is_set():
            wake.clear()
