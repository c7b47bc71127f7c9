"""The clock: APScheduler jobs for embargo lifts, digest runs, the outbox retry sweep and the daily
prune of old personal data (at start, then every 24 hours), and catch-up.

What a job does is given by the daemon as callbacks (build, plan a digest, sweep the outbox); this module
owns only *when*. Embargo jobs are one date job per release that is not yet visible, kept in step with the
store after every build. Digest jobs fire at local wall-clock times in ``NEWSROOM_TIMEZONE``; a run missed
while the daemon was down is made up once at start (the digest watermark makes it cover the whole gap).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from newsroom_feed.settings import Settings

log = structlog.get_logger(__name__)

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LIFT_PREFIX = "lift:"

LiftCallback = Callable[[datetime], Awaitable[None]]
DigestCallback = Callable[[str], Awaitable[None]]
SweepCallback = Callable[[], Awaitable[None]]
PruneCallback = Callable[[], Awaitable[None]]
#: How often the retention prune (`maintenance.prune`) runs; it also runs once as the clock starts.
PRUNE_INTERVAL = timedelta(days=1)


class LocalTimeTrigger(BaseTrigger):  # type: ignore[misc]
    """Fires at a wall-clock time in a zone, daily or on one weekday, correctly across DST changes.

    APScheduler 3's `CronTrigger` with a `zoneinfo` zone fires at both occurrences of a wall time in the
    repeated hour of an autumn change: set for 02:30 in Europe/Warsaw it fires on 25 October 2026 at
    00:30 UTC (02:30 CEST) and again at 01:30 UTC (02:30 CET), then goes on to 26 October (tried on the
    pinned 3.11.3, asking it as the scheduler does, with ``now`` from ``datetime.now(zone)``). So a
    digest set in that hour would run twice that night, the second run an hour long. This trigger
    resolves the wall time itself instead: in the repeated hour it fires once, at the first occurrence;
    a wall time skipped in spring fires at the same distance after the change (02:30 becomes 03:30), as
    `CronTrigger` and cron do.
    """

    def __init__(self, at: time, zone: ZoneInfo, weekday: int | None = None) -> None:
        self.at = at.replace(tzinfo=None, fold=0)
        self.zone = zone
        self.weekday = weekday

    def __str__(self) -> str:
        day = "daily" if self.weekday is None else _WEEKDAYS[self.weekday]
        return f"{day} {self.at:%H:%M} {self.zone.key}"

    def __repr__(self) -> str:
        return f"<LocalTimeTrigger {self}>"

    def _instant(self, day: date) -> datetime:
        # fold=0 picks the first of two occurrences, and for a time in a spring gap zoneinfo applies the
        # offset from before the change, which lands the same distance after it.
        return datetime.combine(day, self.at, tzinfo=self.zone).astimezone(UTC)

    def _days(self, start: date, step: int) -> Iterable[date]:
        for offset in range(0, 9 * step, step):
            day = start + timedelta(days=offset)
            if self.weekday is None or day.weekday() == self.weekday:
                yield day

    def next_at_or_after(self, moment: datetime) -> datetime:
        """The first fire time at or after ``moment``."""
        local_day = moment.astimezone(self.zone).date() - timedelta(days=1)
        for day in self._days(local_day, 1):
            instant = self._instant(day)
            if instant >= moment:
                return instant.astimezone(self.zone)
        raise AssertionError("a weekly trigger always fires within nine days")  # pragma: no cover

    def previous_at_or_before(self, moment: datetime) -> datetime:
        """The last fire time at or before ``moment``: the run a daemon that was down may have missed."""
        local_day = moment.astimezone(self.zone).date() + timedelta(days=1)
        for day in self._days(local_day, -1):
            instant = self._instant(day)
            if instant <= moment:
                return instant.astimezone(self.zone)
        raise AssertionError("a weekly trigger always fired within nine days")  # pragma: no cover

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        if previous_fire_time is not None:
            now = max(now, previous_fire_time + timedelta(microseconds=1))
        return self.next_at_or_after(now)


def digest_triggers(settings: Settings) -> dict[str, LocalTimeTrigger]:
    """The daily and weekly digest triggers from ``NEWSROOM_DIGEST__DAILY_AT`` / ``__WEEKLY_AT``."""
    zone = settings.zone
    daily = time.fromisoformat(settings.digest.daily_at)
    match = re.fullmatch(r"(\w{3}) (\d\d:\d\d)", settings.digest.weekly_at)
    assert match is not None, "validated by DigestSettings"
    weekly = time.fromisoformat(match.group(2))
    return {
        "daily": LocalTimeTrigger(daily, zone),
        "weekly": LocalTimeTrigger(weekly, zone, _WEEKDAYS.index(match.group(1))),
    }


def missed_digests(
    triggers: dict[str, LocalTimeTrigger], served_since: dict[str, datetime | None], now: datetime
) -> list[str]:
    """Frequencies whose last scheduled run (at or before ``now``) fell after ``served_since``.

    ``served_since`` is, per frequency, the end of the last digest run, or, when there was none, the
    moment the store was first served; ``None`` (a newsroom never served) misses nothing.
    """
    missed = []
    for frequency, trigger in triggers.items():
        since = served_since.get(frequency)
        if since is not None and trigger.previous_at_or_before(now) > since:
            missed.append(frequency)
    return missed


@dataclass(frozen=True, slots=True)
class EmbargoSync:
    """What `Clock.sync_embargoes` changed."""

    added: int = 0
    moved: int = 0
    dropped: int = 0


class Clock:
    """The daemon's AsyncIOScheduler: embargo lifts, digest runs and the outbox sweep, one instance each."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_lift: LiftCallback,
        on_digest: DigestCallback,
        on_sweep: SweepCallback | None = None,
        sweep_seconds: float = 30.0,
        on_prune: PruneCallback | None = None,
    ) -> None:
        self.settings = settings
        self.scheduler = AsyncIOScheduler(
            timezone=settings.zone,
            # A lift or a digest that starts late (a busy loop, a suspended VM) still runs, once.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.triggers = digest_triggers(settings)
        self._on_lift = on_lift
        self._on_digest = on_digest
        self._on_sweep = on_sweep
        self._sweep_seconds = sweep_seconds
        self._on_prune = on_prune

    def start(self, *, paused: bool = False) -> None:
        """Start the scheduler with the digest jobs and the sweep; needs a running event loop."""
        for frequency, trigger in self.triggers.items():
            self.scheduler.add_job(
                self._on_digest, trigger, args=(frequency,), id=f"digest:{frequency}", replace_existing=True
            )
        if self._on_sweep is not None:
            self.scheduler.add_job(
                self._on_sweep,
                IntervalTrigger(seconds=self._sweep_seconds),
                id="sweep",
                replace_existing=True,
            )
        if self._on_prune is not None:
            # Retention does not wait for a wall-clock time: a daemon restarted every night would
            # otherwise never prune. Once now, then a day after each run.
            self.scheduler.add_job(
                self._on_prune,
                IntervalTrigger(seconds=PRUNE_INTERVAL.total_seconds()),
                id="prune",
                replace_existing=True,
                next_run_time=datetime.now(self.settings.zone),
            )
        self.scheduler.start(paused=paused)

    def shutdown(self) -> None:
        """Stop firing; a job already running finishes on its own (the daemon awaits its builds)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def sync_embargoes(self, moments: Iterable[tuple[int, datetime]]) -> EmbargoSync:
        """Make the lift jobs exactly the given (release id, visible at) pairs: add, move, drop.

        Called after every build with `Store.future_moments`, so a release whose embargo was moved,
        lifted early, retracted or deleted, by any process, has its job follow.
        """
        wanted = {f"{_LIFT_PREFIX}{release_id}": moment for release_id, moment in moments}
        added = moved = dropped = 0
        for job in self.scheduler.get_jobs():
            if not job.id.startswith(_LIFT_PREFIX):
                continue
            moment = wanted.pop(job.id, None)
            if moment is None:
                job.remove()
                dropped += 1
            elif job.trigger.run_date != moment:
                self.scheduler.reschedule_job(job.id, trigger=DateTrigger(run_date=moment))
                self.scheduler.modify_job(job.id, args=(moment,))
                moved += 1
        for job_id, moment in wanted.items():
            self.scheduler.add_job(self._on_lift, DateTrigger(run_date=moment), args=(moment,), id=job_id)
            added += 1
        return EmbargoSync(added, moved, dropped)

    def lift_times(self) -> dict[int, datetime]:
        """The scheduled lifts by release id (for logs, `/healthz` and tests)."""
        return {
            int(job.id.removeprefix(_LIFT_PREFIX)): job.trigger.run_date
            for job in self.scheduler.get_jobs()
            if job.id.startswith(_LIFT_PREFIX)
        }

    def next_runs(self) -> dict[str, Any]:
        """Each job id with its next run time (None while the scheduler is not started)."""
        return {job.id: getattr(job, "next_run_time", None) for job in self.scheduler.get_jobs()}
