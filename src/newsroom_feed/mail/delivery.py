"""The sending loop: claim due outbox rows, compose each message, send it through the mailer pool, record.

N workers (``smtp.connections``) share one prefetch of claimed rows. A worker does not send the DATA of
its next row until the outcome of its last one is committed, so at any instant at most N messages are
sent but not recorded: a crash repeats at most those, and loses none (claimed rows come back when their
lease runs out, or at once when the next sender takes the single-instance lock,
`lock.try_instance_lock`, and calls `outbox.reclaim_all`). Outcomes that finish together are committed
together (one transaction).

Right before DATA a gate reads the row's subscriber again: one who unsubscribed, bounced or was erased
after the claim gets no DATA (RSET), and the row closes ``withdrawn``.

While the run lives it renews the leases of its rows (in flight and prefetched) every third of a lease,
so an SMTP transaction slower than a lease (a tarpitting relay: each command may take up to
``smtp.timeout``) never lets its row look abandoned and be sent a second time.

All store access of a run (claim, compose, record, the gate's look) happens in one worker thread, one
call at a time: the connection is never used from two threads at once, and the loop keeps the SMTP
conversations going while SQLite commits.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import os
import re
import signal
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import structlog

from newsroom_feed.errors import (
    DeliveryError,
    EmbargoLifted,
    NewsroomError,
    NotYetVisible,
    PermanentDeliveryError,
)
from newsroom_feed.mail import outbox
from newsroom_feed.mail.compose import Composer
from newsroom_feed.mail.dkim import Signer
from newsroom_feed.mail.smtp import Accepted, Mailer
from newsroom_feed.models import OutboxItem, OutgoingMessage, utcnow
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

if TYPE_CHECKING:
    from newsroom_feed.metrics import Metrics

_T = TypeVar("_T")

log = structlog.get_logger(__name__)

#: How long an idle daemon sender sleeps between looks at the outbox when nobody wakes it.
IDLE_POLL_SECONDS = 5.0
#: A report names this many permanent failures; the ledger (`outbox list --status failed`) has them all.
MAX_ERRORS_KEPT = 20
#: Rows claimed and composed at once: a digest batch shares its release loading and rendering.
PREFETCH_ROWS = 64
#: Messages signed in one trip to the DKIM thread; each chunk joins the prefetch as soon as it is
#: signed, so the workers need not wait for a whole batch (see `_Run._refill`).
SIGN_CHUNK = 8


class Transport(Protocol):
    """What sends composed bytes: `Mailer`, or anything with the same `send` (the benchmark's null sink)."""

    async def send(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        *,
        ready: Callable[[], Awaitable[object]] | None = None,
    ) -> Accepted: ...


class MessageRenderer(Protocol):
    """What turns outbox rows into bytes: `compose.Composer`. ``render_many`` loads what a batch needs
    in a few queries and puts an error in the place of a row it cannot compose."""

    def render(self, item: OutboxItem) -> OutgoingMessage: ...

    def render_many(self, items: Sequence[OutboxItem]) -> list[OutgoingMessage | NewsroomError]: ...


@dataclass
class DeliveryReport:
    """What a sending run did. ``waiting``: rows left for later (a retry not yet due, or given back on
    stop); ``withdrawn``: rows of subscribers who may no longer be written to (no failure)."""

    sent: int = 0
    waiting: int = 0
    failed: int = 0
    withdrawn: int = 0
    retried: int = 0
    stopped: bool = False
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"sent {self.sent}, waiting {self.waiting}, failed {self.failed}"
        if self.withdrawn:
            text += f", withdrawn {self.withdrawn}"
        return text


def make_owner() -> str:
    """A lease owner unique to this sender: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def default_renderer(
    settings: Settings, store: Store, clock: Callable[[], datetime] = utcnow, *, sign: bool = True
) -> MessageRenderer:
    """The real composer, one per run: it renders each distinct body once and splices recipients in."""
    return Composer(settings, store, clock=clock, sign=sign)


def preview_digests(
    store: Store,
    settings: Settings,
    messages: Iterable[outbox.NewMessage],
    out: Path,
    *,
    limit: int,
    renderer: MessageRenderer | None = None,
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
    renderer: MessageRenderer | None = None,
    metrics: Metrics | None = None,
    on_outcome: Callable[[outbox.Attempt, str], None] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> DeliveryReport:
    """Send every due row; with ``until_idle`` return when none is due, otherwise run until ``stop``.

    On ``stop``: no new row is taken, messages in flight finish and are recorded, rows claimed but not
    started go back to the queue. ``wake`` (set by the planner) cuts an idle wait short. ``on_outcome``
    hears every recorded attempt with the row's new status (the daemon logs them). ``store`` is
    used from one worker thread while this runs; do not use it elsewhere until it returns.

    Whoever composes signs: the run's own composer leaves DKIM to the run (a thread of its own), while
    a ``renderer`` given here hands over its messages as they are to go out.
    """
    signs = renderer is None
    run = _Run(
        store,
        settings,
        renderer or default_renderer(settings, store, clock, sign=False),
        metrics,
        clock,
        signs,
    )
    run.on_outcome = on_outcome
    stop = stop or asyncio.Event()
    mailer: Mailer | None = None
    if transport is None:
        mailer = transport = Mailer(settings.smtp)
    renewing = asyncio.create_task(run.keep_leases(), name="lease-renewal")
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
        renewing.cancel()
        await asyncio.gather(renewing, return_exceptions=True)
        await run.close()
        if mailer is not None:
            await mailer.close()
    report = run.report
    report.stopped = stop.is_set()
    report.waiting = outbox.waiting(store)
    return report


def send_due(
    store: Store, settings: Settings, *, on_outcome: Callable[[outbox.Attempt, str], None] | None = None
) -> DeliveryReport:
    """A batch run (`outbox send`, `digest send`): deliver every due row, return when none is due.

    SIGINT/SIGTERM stop claiming, let the messages in flight finish and be recorded, and return early
    (``report.stopped``); the rest stays queued. Runs its own event loop, so never call it from one.
    """

    async def until_signal() -> DeliveryReport:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            return await deliver(store, settings, stop=stop, on_outcome=on_outcome)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    return asyncio.run(until_signal())


class _Withdrawn(Exception):
    """The subscriber of a message about to be sent left after its row was claimed (the reason)."""


class _Run:
    """One sending run: the shared prefetch of claimed rows and the group commit of outcomes.

    Every store call (claim, compose, record) runs in one worker thread, one call at a time, so the
    loop keeps answering the SMTP connections while SQLite commits; that thread is the only user of the
    connection during the run.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        renderer: MessageRenderer,
        metrics: Metrics | None,
        clock: Callable[[], datetime],
        signs: bool = True,
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
        # quarter of a lease at the rate limit: rows are not held long away from other senders (their
        # leases are renewed meanwhile, see `keep_leases`).
        self.batch = max(1, min(PREFETCH_ROWS, int(settings.smtp.rate_per_second * lease / 4)))
        #: Claimed and composed rows waiting for a worker, each with the moment it grows stale (half a
        #: lease after its claim: past it, other senders may take the row back). In claim order, so
        #: those moments ascend and the stale rows are always at the front.
        self.prefetch: deque[tuple[OutboxItem, OutgoingMessage | Exception, float]] = deque()
        #: The claim (and compose) of the next batch, started while the workers still send this one.
        self.refill: asyncio.Future[None] | None = None
        #: The last claim found fewer rows than a batch: claim again only when the prefetch runs dry.
        self.drained = False
        #: Set whenever a refill adds signed messages to the prefetch (it adds them chunk by chunk).
        self.arrived = asyncio.Event()
        self.claiming = asyncio.Lock()
        self.outcomes: list[tuple[outbox.Attempt, asyncio.Future[str]]] = []
        self.checks: list[tuple[OutboxItem, asyncio.Future[str | None]]] = []
        self.committing = False
        self.commit_task: asyncio.Task[None] | None = None
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        #: DKIM: each batch is signed on a thread of its own, so the store thread is free to commit
        #: outcomes meanwhile, and the RSA (which leaves the GIL) runs beside the SMTP loop.
        self.signer = Signer.for_settings(settings) if signs else None
        self.signing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dkim") if self.signer else None
        # The next batch is claimed when this many rows are left. A refill without signing (claim and
        # compose) takes less time than the workers need for half a batch; with signing it takes
        # longer (measured, 64 rows: compose ~35 ms, sign ~75 ms of CPU, while half a batch is sent in
        # ~90 ms), and the workers stood idle waiting for it at most refills, so it starts a batch ahead.
        self.low_water = self.batch if self.signer else self.batch // 2
        self.on_outcome: Callable[[outbox.Attempt, str], None] | None = None

    async def _in_thread(self, function: Callable[..., _T], *args: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self.thread, function, *args)

    async def close(self) -> None:
        """Return claimed rows not started to the queue, and end the store thread."""
        try:
            if self.refill is not None:
                await asyncio.gather(self.refill, return_exceptions=True)
            await asyncio.shield(self._in_thread(self._give_back, [item.id for item, _, _ in self.prefetch]))
            self.prefetch.clear()
        finally:
            self.thread.shutdown(wait=True)
            if self.signing is not None:
                self.signing.shutdown(wait=True)

    # -- claiming -----------------------------------------------------------------------------------

    async def next_item(self) -> tuple[OutboxItem, OutgoingMessage | Exception] | None:
        """The next claimed and composed row, or None when nothing is due.

        The next batch is claimed and composed in the store thread while the workers send the rest of
        this one (its second half, or all of it when signing, see ``low_water``), so the SMTP
        connections do not stand idle while a batch is composed and signed: DKIM's RSA runs outside
        the GIL, on the other core, and a worker waits only for the first signed chunk.
        """
        async with self.claiming:
            now = time.monotonic()
            stale = []
            while self.prefetch and self.prefetch[0][2] < now:
                stale.append(self.prefetch.popleft()[0].id)
            if stale:
                await self._in_thread(self._give_back, stale)
            if self.refill is not None and self.refill.done():
                finished, self.refill = self.refill, None
                finished.result()  # a background claim that failed fails this worker, as a claim here would
            if not self.prefetch:
                if self.refill is None:
                    self.refill = asyncio.ensure_future(self._refill())
                refill = self.refill
                await self._arrival(refill)
                if refill.done():
                    if self.refill is refill:
                        self.refill = None
                    refill.result()
            if not self.prefetch:
                return None
            item, message, _ = self.prefetch.popleft()
            if self.refill is None and not self.drained and len(self.prefetch) <= self.low_water:
                # Done refills are collected above; this one is awaited there or by `close`.
                self.refill = asyncio.ensure_future(self._refill())
            return item, message

    async def _arrival(self, refill: asyncio.Future[None]) -> None:
        """Wait until the prefetch has a row or ``refill`` has ended (a failed one is not raised here:
        the caller takes its result)."""
        self.arrived.clear()
        arrived = asyncio.ensure_future(self.arrived.wait())
        try:
            await asyncio.wait((refill, arrived), return_when=asyncio.FIRST_COMPLETED)
        finally:
            arrived.cancel()

    async def _refill(self) -> None:
        """Claim and compose a batch, then hand it to the workers, signed chunk by chunk when DKIM is
        on: the first rows go out while the rest are signed."""
        deadline = time.monotonic() + self.settings.outbox.lease_seconds / 2
        claimed, composed, taken = await self._in_thread(self._claim)
        self.report.withdrawn += claimed.withdrawn
        # Rows put back to wait for a new lift count as taken: the queue may hold more behind them.
        self.drained = taken < self.batch
        rows = list(zip(claimed.items, composed, strict=True))
        step = SIGN_CHUNK if self.signing is not None else len(rows) or 1
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            if self.signing is not None:
                try:
                    signed = await asyncio.get_running_loop().run_in_executor(
                        self.signing, self._sign, [message for _, message in chunk]
                    )
                except BaseException:
                    # Never sent unsigned: the rows not handed over go back to the queue.
                    await asyncio.shield(self._in_thread(self._give_back, [i.id for i, _ in rows[start:]]))
                    raise
                chunk = list(zip([item for item, _ in chunk], signed, strict=True))
            self.prefetch.extend((item, message, deadline) for item, message in chunk)
            self.arrived.set()

    def _claim(self) -> tuple[outbox.Claimed, list[OutgoingMessage | Exception], int]:
        """The claimed rows still to send and their messages, and how many rows the claim took."""
        claimed = outbox.claim(
            self.store,
            self.owner,
            self.clock(),
            lease_seconds=self.settings.outbox.lease_seconds,
            limit=self.batch,
            terms_version=self.settings.journalists.terms_version,
        )
        composed = self._compose(claimed.items)
        pairs = list(zip(claimed.items, composed, strict=True))
        waiting = [(item.id, result.until) for item, result in pairs if isinstance(result, NotYetVisible)]
        lifted = [(item.id, str(result)) for item, result in pairs if isinstance(result, EmbargoLifted)]
        taken = len(claimed.items)
        if not waiting and not lifted:
            return claimed, composed, taken
        # An alert or digest whose releases went back under embargo waits for the new lift; an early
        # copy not sent by its lift (still queued, or given back by a stop, a 4xx, a lease that ran out)
        # never goes: the lift planned the public alert for its reader, who held no copy yet.
        outbox.defer(self.store, waiting, self.owner)
        closed = [(row_id, outbox.WITHDRAWN + why) for row_id, why in lifted]
        withdrawn = outbox.withdraw(self.store, closed, self.owner)
        set_aside = NotYetVisible | EmbargoLifted
        kept = [(item, result) for item, result in pairs if not isinstance(result, set_aside)]
        return (
            outbox.Claimed([item for item, _ in kept], claimed.withdrawn + withdrawn),
            [result for _, result in kept],
            taken,
        )

    async def keep_leases(self) -> None:
        """Renew this run's leases every third of a lease until cancelled; a failed renewal (a locked
        store) is tried again at the next tick, two more before any lease could run out."""
        lease = self.settings.outbox.lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            try:
                await self._in_thread(self._renew)
            except Exception as error:  # the next tick tries again; the sending goes on meanwhile
                log.warning("lease renewal failed", error=str(error))

    def _renew(self) -> int:
        return outbox.renew(
            self.store, self.owner, self.clock(), lease_seconds=self.settings.outbox.lease_seconds
        )

    def _sign(self, composed: list[OutgoingMessage | Exception]) -> list[OutgoingMessage | Exception]:
        assert self.signer is not None
        moment = self.clock().timestamp()
        return [
            self.signer.sign_message(message, moment) if isinstance(message, OutgoingMessage) else message
            for message in composed
        ]

    def _give_back(self, ids: list[int]) -> None:
        if ids:
            outbox.give_back(self.store, ids, self.owner)

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

    # -- one worker -----------------------------------------------------------------------------------

    async def work(
        self, transport: Transport, stop: asyncio.Event, wake: asyncio.Event | None, until_idle: bool
    ) -> None:
        # The next DATA waits for the commit of a worker's last outcome, so at most one message per
        # worker is accepted but not recorded. A `sent` outcome is committed with the gate's look at the
        # next row (one trip to the store thread for both, often shared with other workers: measured,
        # 0.44 commits per message instead of 0.97, and the look costs the fan-out nothing); any other
        # outcome at once, as the next message may never reach its gate (a 4xx to RCPT).
        recorded: asyncio.Future[str] | None = None
        try:
            while not stop.is_set():
                claimed = await self.next_item()
                if claimed is None:
                    if recorded is not None:
                        # The last outcome may make a row due again (a retry with no backoff).
                        self._start_commit()
                        await recorded
                        recorded = None
                        continue
                    if until_idle:
                        return
                    await self._idle(stop, wake)
                    continue
                attempt = await self._attempt(transport, *claimed, ready=recorded)
                # None: withdrawn, and closed so already; the previous outcome was awaited on the way.
                recorded = None if attempt is None else self._record(attempt, now=attempt.outcome != "sent")
        finally:
            if recorded is not None and not recorded.done():
                self._start_commit()
                await recorded

    async def _attempt(
        self,
        transport: Transport,
        item: OutboxItem,
        message: OutgoingMessage | Exception,
        *,
        ready: asyncio.Future[str] | None,
    ) -> outbox.Attempt | None:
        """Send one claimed row; None if its subscriber left after the claim (unsubscribed, bounced,
        erased): the relay gets no DATA and the row is closed ``withdrawn``.

        The gate runs right before DATA, only once MAIL and RCPT were accepted (the transport calls
        it; a 4xx to RCPT never creates it): it waits for this worker's previous outcome to be
        recorded, then reads the subscriber again (`_check`), so an unsubscribe, an erase or a bounce
        committed since the claim stops the message.
        """
        if isinstance(message, Exception):
            # Composing fails for a subscriber erased since the claim: that is a withdrawal too.
            answer = self._check(item)  # also commits the previous outcome, which ``ready`` waits for
            if ready is not None:
                await ready
            reason = await answer
            if reason is not None:
                await self._withdraw(item, outbox.WITHDRAWN + reason)
                return None
            return outbox.Attempt(item, "permanent", None, f"cannot compose: {message}")

        async def gate() -> None:
            answer = self._check(item)  # also commits the previous outcome, which ``ready`` waits for
            if ready is not None:
                await ready
            reason = await answer
            if reason is not None:
                raise _Withdrawn(reason)

        started = time.perf_counter()
        try:
            accepted = await transport.send(message.sender, message.recipient, message.data, ready=gate)
        except _Withdrawn as withdrawn:
            await self._withdraw(item, f"withdrawn before DATA: {withdrawn}")
            return None
        except DeliveryError as error:
            outcome: outbox.Outcome = (
                "permanent" if isinstance(error, PermanentDeliveryError) else "transient"
            )
            bounce = isinstance(error, PermanentDeliveryError) and bool(error.recipient)
            return outbox.Attempt(
                item, outcome, error.code, error.reply, message.message_id, bounce, message.recipient
            )
        finally:
            if self.metrics is not None:
                self.metrics.delivery_seconds.observe(time.perf_counter() - started)
        return outbox.Attempt(
            item, "sent", accepted.code, accepted.reply, message.message_id, recipient=message.recipient
        )

    async def _withdraw(self, item: OutboxItem, reason: str) -> None:
        closed = await self._in_thread(outbox.withdraw, self.store, [(item.id, reason)], self.owner)
        self.report.withdrawn += closed
        if closed:
            log.info("withdrawn", key=item.key, outbox_id=item.id, reason=reason)

    # -- recording ------------------------------------------------------------------------------------

    def _record(self, attempt: outbox.Attempt, *, now: bool = True) -> asyncio.Future[str]:
        """Queue the outcome for the next group commit; the future is done when it is durable.

        While one commit runs, outcomes that arrive meanwhile wait for the next: one transaction
        records several rows. Without ``now`` the commit waits to be started by the next `_check` or
        `_start_commit` (see `work`).
        """
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.outcomes.append((attempt, done))
        if now:
            self._start_commit()
        return done

    def _check(self, item: OutboxItem) -> asyncio.Future[str | None]:
        """Why ``item`` may no longer be sent, read again from the store right before its DATA.

        The look rides on the group commit: the store thread records the outcomes that wait (this
        worker's last one among them), then answers the gates of every worker that asks at once with
        one query, all in one call.
        """
        answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.checks.append((item, answer))
        self._start_commit()
        return answer

    def _start_commit(self) -> None:
        """Commit the queued outcomes and answer the queued checks, unless a commit runs: its loop
        takes them next."""
        if not self.committing:
            self.committing = True
            self.commit_task = asyncio.get_running_loop().create_task(self._commit_all())

    async def _commit_all(self) -> None:
        try:
            while self.outcomes or self.checks:
                batch, self.outcomes = self.outcomes, []
                checks, self.checks = self.checks, []
                try:
                    written, bounced, reasons = await self._in_thread(
                        self._write, [attempt for attempt, _ in batch], [item for item, _ in checks]
                    )
                except Exception as error:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(error)
                    if batch:
                        # The failure may be the outcomes' alone: the looks are asked again on their own.
                        self.checks[:0] = checks
                        continue
                    for _, answer in checks:
                        if not answer.done():
                            answer.set_exception(error)
                    continue
                for (_, done), (attempt, status) in zip(batch, written, strict=True):
                    if not done.done():
                        done.set_result(status)
                        # Counted (and logged) as written: without the address of a subscriber erased
                        # while the message was in flight.
                        self._count(attempt, status)
                for (_, answer), reason in zip(checks, reasons, strict=True):
                    if not answer.done():
                        answer.set_result(reason)
                await self._drop_bounced(bounced)
        finally:
            self.committing = False

    def _write(
        self, attempts: list[outbox.Attempt], checks: list[OutboxItem]
    ) -> tuple[list[tuple[outbox.Attempt, str]], set[int], list[str | None]]:
        """Record the outcomes, then look at the rows about to get DATA; returns the outcomes as written
        with their statuses, the subscribers now bounced among them, and the reasons to withdraw."""
        written: list[tuple[outbox.Attempt, str]] = []
        bounced: set[int] = set()
        if attempts:
            written = outbox.record_outcomes(
                self.store, attempts, self.clock(), self.settings.outbox, owner=self.owner
            )
            candidates = {
                a.item.subscriber_id for a in attempts if a.bounce and a.item.subscriber_id is not None
            }
            bounced = outbox.bounced_subscribers(self.store, candidates)
        terms = self.settings.journalists.terms_version
        return written, bounced, outbox.withdrawal_reasons(self.store, checks, terms)

    async def _drop_bounced(self, bounced: set[int]) -> None:
        """A subscriber's other prefetched rows go back after a bounce: the next claim closes them
        withdrawn if the address is now `bounced`, rather than sending to it once more."""
        if not bounced or not self.prefetch:
            return
        back = [item.id for item, _, _ in self.prefetch if item.subscriber_id in bounced]
        self.prefetch = deque(entry for entry in self.prefetch if entry[0].subscriber_id not in bounced)
        await self._in_thread(self._give_back, back)

    def _count(self, attempt: outbox.Attempt, status: str) -> None:
        if status == "lost":
            pass  # the row was no longer ours (see `outbox.record`): what its holder records counts
        elif status == "sent":
            self.report.sent += 1
        elif status == "failed":
            self.report.failed += 1
            if len(self.report.errors) < MAX_ERRORS_KEPT:
                self.report.errors.append(f"{attempt.item.key}: {attempt.code or ''} {attempt.reply}")
        else:
            self.report.retried += 1
        if self.metrics is not None:
            self.metrics.messages.labels(attempt.item.kind, attempt.outcome).inc()
        if self.on_outcome is not None:
            self.on_outcome(attempt, status)

    async def _idle(self, stop: asyncio.Event, wake: asyncio.Event | None) -> None:
        """Sleep until the next row is due, the planner wakes us, or we are stopped."""
        delay = IDLE_POLL_SECONDS
        due = await self._in_thread(outbox.next_due, self.store)
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
