"""Process life of `newsroom-feed run`: the single-instance lock, and the watcher, clock, sender and web
app on one event loop, started in that order, stopped in reverse, drained on SIGTERM/SIGINT.

Builds and digest planning run one at a time on a worker thread with a store of their own, so a build of
thousands of releases never stalls the web app or the SMTP sender that share the loop. A build that fails
(the public directory cannot be written, say) is written to ``build_state.last_error``, which `/healthz`
reports, and handed to the watcher, which retries it with backoff until one succeeds and clears the error;
an embargo lift whose build failed is so published as soon as the cause is gone, not at the next change.

Under systemd (``Type=notify``) the daemon says READY=1 only once the first build is done and the web app
listens, keeps STATUS= current, pings the watchdog from the loop and says STOPPING=1 (see `systemd`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import structlog
import uvicorn

from newsroom_feed.errors import NewsroomError
from newsroom_feed.lock import InstanceLock
from newsroom_feed.mail import intake, outbox, preflight
from newsroom_feed.mail.delivery import deliver
from newsroom_feed.maintenance import prune
from newsroom_feed.metrics import Metrics
from newsroom_feed.models import utcnow
from newsroom_feed.planner import DIGEST_PERIODS, last_digest_end, plan_digest
from newsroom_feed.planner import build as build_outputs
from newsroom_feed.scheduler import Clock, missed_digests
from newsroom_feed.settings import Settings
from newsroom_feed.site.websub import Ping, ping_hubs
from newsroom_feed.store import build as build_rows
from newsroom_feed.store import history
from newsroom_feed.store.database import Store
from newsroom_feed.systemd import Notifier
from newsroom_feed.watcher import Watcher
from newsroom_feed.web.app import create_app

log = structlog.get_logger("newsroom_feed.daemon")

T = TypeVar("T")

# -- uvicorn without its signal handlers -----------------------------------------------------------


class _WebServer(uvicorn.Server):
    """uvicorn's server with signal handling left to the daemon.

    uvicorn (since 0.29) installs its own SIGTERM/SIGINT handlers and re-raises the signal after its
    clean shutdown, so the process would die with 143 instead of draining the sender and exiting 0.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


# -- the daemon ---------------------------------------------------------------------------------------


class Daemon:
    """One `newsroom-feed run`: owns the loop's tasks and the order they start and stop in."""

    def __init__(self, settings: Settings, *, web: bool = True, notifier: Notifier | None = None) -> None:
        self.settings = settings
        #: systemd's ``Type=notify`` line (READY, STATUS, WATCHDOG, STOPPING); a no-op outside systemd.
        self.notifier = notifier or Notifier(None)
        self.metrics = Metrics()
        self.web_enabled = web
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsroom-build")
        self._build_lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._stop_watching = asyncio.Event()
        self._stop_sending = asyncio.Event()
        self._force = asyncio.Event()
        self._wake_sender = asyncio.Event()
        #: Set once everything runs (after the web app listens): for `make run` to print where to look.
        self.started = asyncio.Event()
        self._signals = 0
        self.exit_code = 0
        self.clock = Clock(
            settings, on_lift=self.lift, on_digest=self.digest, on_sweep=self.sweep, on_prune=self.prune
        )
        self.watcher = Watcher(
            settings.database, settings.watch_interval, self._on_watch, on_commit=self._wake_sender.set
        )
        #: A build failed and the watcher retries it (for the log's ``reason``).
        self._retrying = False
        self._build_store: Store | None = None
        self._send_store: Store | None = None
        self._server: uvicorn.Server | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # The bounce mailbox is read on a thread of its own: an IMAP server may take its time, and a
        # build must not wait behind it.
        self._bounce_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsroom-bounces")
        self._stop_polling = threading.Event()
        #: The SMTP bounce receiver (NEWSROOM_BOUNCES__SMTP_PORT), None when off.
        self.bounce_receiver: intake.BounceReceiver | None = None
        #: The mail pre-flight run at start (`/healthz` shows it to admins once it has ended).
        self.mail_preflight = preflight.PreflightResult()

    # -- the worker thread ---------------------------------------------------------------------------

    async def _in_worker(self, function: Callable[..., T], *args: Any) -> T:
        """Run store work on the build thread, where the build store lives."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    @property
    def build_store(self) -> Store:
        assert self._build_store is not None, "serve() opens the stores"
        return self._build_store

    # -- what the watcher and the clock ask for --------------------------------------------------------

    async def build(self, reason: str, at: datetime | None = None) -> None:
        """Run the planner once: outputs, then alerts (inside the build), then hubs, then the clock.

        ``at`` is the moment a lift job was due: the build runs as of that moment even if the timer
        fired a hair early.
        """
        async with self._build_lock:
            if self._stop_watching.is_set():
                return  # shutting down: the stores are closing; the next start builds
            now = max(utcnow(), at) if at is not None else utcnow()
            try:
                report = await self._in_worker(build_outputs, self.build_store, self.settings, now)
            except Exception as error:
                self.metrics.builds.labels(outcome="error").inc()
                await self._build_failed(reason, error)
                raise
            if self._retrying:
                self._retrying = False
                self.notifier.status(self._status_line())
            self.metrics.builds.labels(outcome="ok").inc()
            self.metrics.build_seconds.observe(report.duration)
            feeds, released = list(report.changed_feeds), list(report.newly_visible)
            log.info(
                "build",
                reason=reason,
                full=report.full,
                written=len(report.written),
                removed=len(report.removed),
                changed_feeds=len(feeds),
                newly_visible=released,
                ms=round(report.duration * 1000, 1),
            )
            if released:
                self._wake_sender.set()
            if feeds and self.settings.websub.hubs:
                # Pinging may wait on a slow hub; it must not hold up the next build.
                self._spawn("websub", self._ping(feeds, released))
            moments = await self._in_worker(self.build_store.future_moments, now)
            synced = self.clock.sync_embargoes(moments)
            if synced.added or synced.moved or synced.dropped:
                log.info("embargo clock", added=synced.added, moved=synced.moved, dropped=synced.dropped)

    async def _build_failed(self, reason: str, error: Exception) -> None:
        """Make a failed build visible (``build_state.last_error``, so `/healthz`) and have the watcher
        retry it with backoff: nothing else would ask again for a lift whose clock job is spent. The
        next successful build clears the error."""
        problem = f"build ({reason}) failed: {error.__class__.__name__}: {error}"[:1000]
        self._retrying = True
        self.notifier.status(f"Degraded, retrying: {problem[:200]}")
        self.watcher.request_build()
        try:
            await self._in_worker(_note_build_error, self.build_store, problem)
        except Exception:
            log.exception("could not record the failed build", problem=problem)

    async def _ping(self, feeds: list[str], release_ids: list[int]) -> None:
        """Tell the hubs, then record each ping with the releases this build made visible, for the
        desk's history of a release; a record that fails is logged, the pings stand."""
        pings = await ping_hubs(self.settings, feeds, metrics=self.metrics)
        if not pings:
            return
        try:
            await self._in_worker(_record_pings, self.build_store, pings, release_ids, utcnow())
        except Exception:
            log.exception("could not record the WebSub pings", pings=len(pings))

    async def _on_watch(self) -> None:
        await self.build("retry" if self._retrying else "change")

    async def lift(self, moment: datetime) -> None:
        """An embargo (or a scheduled publication) is due: publish it now; if that build fails, the
        watcher retries it until it succeeds (see `_build_failed`)."""
        log.info("lift", at=moment.isoformat())
        self.metrics.lifts.inc()
        try:
            await self.build("lift", at=moment)
        except Exception as error:
            log.warning("lift failed; the build will be retried", at=moment.isoformat(), error=str(error))

    async def digest(self, frequency: str) -> None:
        """Plan the digest run of ``frequency`` ending now; the sender delivers it.

        A run that fails (the store locked or full) is tried again with backoff until it succeeds or the
        daemon stops: the watermark and the rows are one transaction, so the retry covers the whole
        period and nothing twice; a stop leaves it to the catch-up at the next start.
        """
        delay = 1.0
        while True:
            async with self._build_lock:
                if self._stop_watching.is_set():
                    return  # shutting down: the next start catches this run up
                try:
                    plan = await self._in_worker(
                        plan_digest, self.build_store, self.settings, frequency, utcnow()
                    )
                    break
                except Exception as error:
                    log.warning("digest failed; it will be retried", frequency=frequency, error=str(error))
            try:
                await asyncio.wait_for(self._stop_watching.wait(), timeout=delay)
                return
            except TimeoutError:
                delay = min(delay * 2, 60.0)
        log.info(
            "digest",
            frequency=frequency,
            period_start=plan.period_start.isoformat(),
            period_end=plan.period_end.isoformat(),
            planned=plan.planned,
        )
        if plan.planned:
            self._wake_sender.set()

    async def sweep(self) -> None:
        """Retries come due and leases of a stuck send expire: have the sender look again."""
        self._wake_sender.set()

    async def prune(self) -> None:
        """Remove what the `privacy` settings keep no longer (`maintenance.prune`), at start and daily;
        one that fails is logged and the next day's run catches up (it prunes by age, not by day)."""
        async with self._build_lock:  # the shutdown waits for it as for a build
            if self._stop_watching.is_set():
                return
            try:
                report = await self._in_worker(prune, self.build_store, self.settings, utcnow())
            except Exception as error:
                log.warning("prune failed; it runs again tomorrow", error=str(error))
                return
        log.info("prune", **report.to_json())

    async def poll_bounces(self) -> None:
        """Read the bounce mailbox once (`intake.poll`, on the bounce thread with its own store); a read
        that fails is logged and the next poll tries again: the messages wait in the mailbox."""
        if self._stop_polling.is_set():
            return
        loop = asyncio.get_running_loop()
        try:
            summary = await loop.run_in_executor(
                self._bounce_executor, intake.poll, self.settings, self._stop_polling
            )
        except Exception as error:
            log.warning("bounce mailbox read failed; it is read again at the next poll", error=str(error))
            return
        if summary.read:
            log.info("bounces", **summary.to_json())

    async def _start_bounces(self) -> None:
        """Poll the bounce mailbox (a Maildir or IMAP) every ``poll_seconds``, first at once, and start
        the SMTP bounce receiver when its port is set.

        :raises SettingsError: the receiver is on but NEWSROOM_BOUNCES__ADDRESS is not set.
        :raises NewsroomError: the receiver cannot listen on its port.
        """
        bounces = self.settings.bounces
        if intake.mailbox_configured(self.settings):
            self.clock.scheduler.add_job(
                self.poll_bounces,
                "interval",
                seconds=bounces.poll_seconds,
                id="bounces",
                replace_existing=True,
                next_run_time=utcnow(),
            )
        if bounces.smtp_port is not None:
            receiver = intake.BounceReceiver(self.settings)
            await receiver.start()
            self.bounce_receiver = receiver

    async def _stop_bounces(self) -> None:
        """Stop the receiver (a report being recorded finishes) and let a poll under way end early."""
        self._stop_polling.set()
        if self.bounce_receiver is not None:
            await self.bounce_receiver.stop()
        await asyncio.get_running_loop().run_in_executor(None, self._bounce_executor.shutdown, True)

    async def _catch_up(self, served_since: dict[str, datetime | None]) -> None:
        """Run once, now, each digest whose scheduled time passed while no daemon was running."""
        for frequency in missed_digests(self.clock.triggers, served_since, utcnow()):
            log.info("digest missed while down", frequency=frequency)
            await self.digest(frequency)

    def _served_since(self) -> dict[str, datetime | None]:
        """Per frequency: the end of its last run, else when the store was first built (served)."""
        store = self.build_store
        built = store.build_state().built_at
        return {frequency: last_digest_end(store, frequency) or built for frequency in DIGEST_PERIODS}

    # -- the sender ----------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        """Deliver until stopped; the planner and the watcher wake it when mail was queued."""
        store = self._send_store
        assert store is not None
        retry = 1.0
        while not self._stop_sending.is_set():
            try:
                report = await deliver(
                    store,
                    self.settings,
                    stop=self._stop_sending,
                    until_idle=False,
                    wake=self._wake_sender,
                    metrics=self.metrics,
                    on_outcome=_log_delivery,
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sender failed; will start again", retry_in=retry)
                await _wait_any([self._stop_sending], retry)
                retry = min(retry * 2, 60.0)
            else:
                log.info("sender stopped", summary=report.summary())

    async def _stop_sender(self) -> None:
        """Stop claiming, give in-flight SMTP transactions the grace period, then return the leases."""
        self._stop_sending.set()
        task = self._tasks.get("sender")
        if task is not None and not task.done():
            grace = self.settings.shutdown_grace
            forced = asyncio.ensure_future(self._force.wait())
            done, _ = await asyncio.wait([task, forced], timeout=grace, return_when=asyncio.FIRST_COMPLETED)
            forced.cancel()
            if task not in done:
                log.warning("sender still busy after the grace period; cancelling", grace_seconds=grace)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._send_store is not None:
            # We hold the single-instance lock: any row still `sending` is ours, and was not sent.
            returned = outbox.reclaim_all(self._send_store)
            if returned:
                log.info("leases returned to the queue", rows=returned)

    # -- the web app -----------------------------------------------------------------------------------

    async def _start_web(self) -> None:
        if not self.web_enabled:
            return
        app = create_app(self.settings, metrics=self.metrics)
        app.state.mail_preflight = self.mail_preflight
        config = uvicorn.Config(
            app,
            host=self.settings.http.host,
            port=self.settings.http.port,
            log_config=None,
            access_log=self.settings.log_level == "debug",
            lifespan="on",
            timeout_graceful_shutdown=max(1, int(self.settings.shutdown_grace)),
            # Client addresses (rate limits) come from X-Forwarded-For only when these proxies send it.
            proxy_headers=True,
            forwarded_allow_ips=list(self.settings.http.trusted_proxies),
        )
        server = _WebServer(config)
        self._server = server
        task = self._spawn("web", _serve_web(server), critical=True)
        while not server.started:
            if task.done():
                where = f"{self.settings.http.host}:{self.settings.http.port}"
                raise NewsroomError(f"the web app could not listen on {where} (NEWSROOM_HTTP__PORT)")
            await asyncio.sleep(0.02)

    def web_url(self) -> str | None:
        """Where the web app listens (the real port when the setting is 0), None when it is off."""
        if self._server is None or not self._server.servers:
            return None
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/"

    # -- life ----------------------------------------------------------------------------------------

    def _spawn(self, name: str, coroutine: Any, *, critical: bool = False) -> asyncio.Task[None]:
        """Run ``coroutine`` as a task; a critical one ending on its own stops the daemon with exit 1."""
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks[name] = task
        if critical:
            task.add_done_callback(self._critical_done)
        return task

    def _critical_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stop.is_set():
            return
        error = task.exception()
        log.error("a daemon task ended unexpectedly", task=task.get_name(), error=repr(error))
        self.exit_code = 1
        self._stop.set()

    def request_stop(self, signame: str = "request") -> None:
        """Begin a clean shutdown; a second signal skips what is left of the grace period."""
        self._signals += 1
        if self._signals == 1:
            log.info("stopping", signal=signame)
        else:
            log.warning("stopping now", signal=signame)
            self._force.set()
        self._stop.set()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop, signal.Signals(signum).name)

    async def serve(self, *, signals: bool = True) -> int:
        """Start everything, wait for a stop request, stop everything; returns the exit code."""
        if signals:
            self._install_signal_handlers()
        # From the first moment: systemd's watchdog runs from the start, and the first build may be long.
        self._spawn("watchdog", self.notifier.keep_alive())
        self.notifier.status("Starting: first build")
        # Beside the start, never before it: DNS and the relay may be slow or away.
        self._spawn("mail pre-flight", self._check_mail())
        settings = self.settings
        self._build_store = Store.for_settings(settings)
        self._send_store = Store.for_settings(settings, migrate=False)
        try:
            returned = outbox.reclaim_all(self._send_store)
            if returned:
                log.info("rows left sending by a stopped sender are due again", rows=returned)
            served_since = self._served_since()
            await self._start(served_since)
            self.started.set()
            log.info(
                "daemon started",
                pid=os.getpid(),
                database=str(settings.database),
                public_dir=str(settings.public_dir),
                web=self.web_url(),
                next_digests={
                    key: str(value)
                    for key, value in self.clock.next_runs().items()
                    if key.startswith("digest:")
                },
                lifts_scheduled=len(self.clock.lift_times()),
            )
            # Only now: the first build is done (or failed and is being retried) and the web app listens.
            self.notifier.ready(self._status_line())
            await self._stop.wait()
        finally:
            await self._shutdown()
        log.info("daemon stopped", exit_code=self.exit_code)
        return self.exit_code

    async def _start(self, served_since: dict[str, datetime | None]) -> None:
        # 1. watcher: first a build as of now (publishes whatever came due while we were down), then poll;
        # if that build fails the daemon still starts (the web app serves what is there, /healthz says
        # why) and the watcher retries it.
        try:
            await self.build("start")
        except Exception as error:
            log.warning("first build failed; will try again", error=str(error))
        self.watcher.open()
        self._spawn("watcher", self.watcher.run(self._stop_watching), critical=True)
        # 2. clock: digest and sweep jobs (lift jobs were synced by the build), then missed digests.
        self.clock.start()
        # Missed digests are planned beside the start, not before it: one that fails keeps retrying
        # (see `digest`) while the rest of the daemon runs.
        self._spawn("digest catch-up", self._catch_up(served_since))
        # The bounce mailbox and the bounce receiver (issue 11), when configured.
        await self._start_bounces()
        # 3. sender, 4. web app.
        self._spawn("sender", self._send_loop(), critical=True)
        await self._start_web()

    async def _check_mail(self) -> None:
        """The mail pre-flight (`check --mail`), once at start: each problem a warning in the log."""
        try:
            findings = await preflight.run(self.settings)
        except Exception:
            log.exception("mail pre-flight failed")
            return
        self.mail_preflight.record(findings, utcnow())
        for finding in findings:
            level = logging.INFO if finding.level == "ok" else logging.WARNING
            log.log(
                level,
                "mail pre-flight",
                severity=finding.level,
                check=finding.check,
                found=finding.found,
                action=finding.action,
            )

    def _status_line(self) -> str:
        """What `systemctl status` shows while the daemon runs."""
        where = f"Serving {self.web_url() or 'without the web app'}"
        if self._retrying:
            return f"{where}; the last build failed and is retried (see /healthz)"
        return where

    async def _shutdown(self) -> None:
        self.notifier.stopping("Stopping: finishing mail in flight")
        self._stop.set()
        if self._server is not None:
            self._server.should_exit = True
            if self._force.is_set():
                self._server.force_exit = True
            await quietly(self._tasks.get("web"))
        await self._stop_sender()
        self.clock.shutdown()
        await self._stop_bounces()
        self._stop_watching.set()
        await quietly(self._tasks.get("watcher"))
        await quietly(self._tasks.get("digest catch-up"))
        async with self._build_lock:
            pass  # a lift or digest already running finishes its transaction
        pending = [
            task
            for name, task in self._tasks.items()
            if name in ("websub", "mail pre-flight") and not task.done()
        ]
        for task in pending:
            task.cancel()
            await quietly(task)
        self.watcher.close()
        self._executor.shutdown(wait=True)
        for store in (self._send_store, self._build_store):
            if store is not None:
                store.close()
        # The watchdog is pinged to the end: a drain within TimeoutStopSec must not look like a hang.
        watchdog = self._tasks.get("watchdog")
        if watchdog is not None:
            watchdog.cancel()
            await quietly(watchdog)
        self.notifier.close()


def _note_build_error(store: Store, problem: str) -> None:
    """Write a failed build's problem to ``build_state.last_error``, keeping its cursor and time: the
    outputs are as the last good build left them."""
    with store.transaction():
        build_rows.note_error(store, problem)


def _record_pings(store: Store, pings: list[Ping], release_ids: list[int], at: datetime) -> None:
    with store.transaction():
        history.record_pings(
            store, [(ping.hub, ping.url, ping.ok, ping.status, ping.error) for ping in pings], release_ids, at
        )


def _log_delivery(attempt: outbox.Attempt, status: str) -> None:
    """One log event per delivery outcome: sent, retried later (transient) or failed (permanent)."""
    item = attempt.item
    log.log(
        logging.INFO if attempt.outcome == "sent" else logging.WARNING,
        "delivery",
        outbox_id=item.id,
        key=item.key,
        kind=item.kind,
        outcome=attempt.outcome,
        status=status,
        attempt=item.attempts + 1,
        code=attempt.code,
        reply=attempt.reply[:200],
        message_id=attempt.message_id,
    )


async def _serve_web(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit:
        # uvicorn exits the process when it cannot bind; here that is an error to report, not an exit.
        log.error("web app stopped", host=server.config.host, port=server.config.port)


async def quietly(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    with contextlib.suppress(asyncio.CancelledError, Exception, SystemExit):
        await task


async def until(task: asyncio.Future[Any], event: asyncio.Event) -> None:
    """Wait until ``event`` is set or ``task`` ends, whichever comes first."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


async def _wait_any(events: list[asyncio.Event], timeout: float) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def run(settings: Settings) -> int:
    """`newsroom-feed run`: hold the lock, serve until SIGTERM/SIGINT, drain; returns the exit code.

    :raises SettingsError: a secret too short to serve with (before anything starts).
    :raises LockedError: another process runs the daemon on this store.
    """
    settings.require_strong_secrets()
    with InstanceLock(settings.database):
        return asyncio.run(Daemon(settings, notifier=Notifier.from_environment()).serve())
