"""What wakes the daemon. The clock: digest times in Warsaw across DST changes, catch-up after downtime,
embargo jobs that follow the store. The watcher: commits by other connections, and only release changes,
ask for a build."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from newsroom_feed import watcher as watcher_module
from newsroom_feed.models import ReleaseInput, utcnow
from newsroom_feed.people.subscriptions import add_subscriber
from newsroom_feed.scheduler import Clock, LocalTimeTrigger, digest_triggers, missed_digests
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.store.database import Store
from newsroom_feed.watcher import Watcher

WARSAW = ZoneInfo("Europe/Warsaw")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def fire_times(trigger: LocalTimeTrigger, start: datetime, count: int) -> list[datetime]:
    """Fire times as APScheduler asks for them: each after the previous one."""
    times: list[datetime] = []
    previous = None
    now = start
    for _ in range(count):
        nxt = trigger.get_next_fire_time(previous, now)
        assert nxt is not None
        times.append(nxt.astimezone(UTC))
        previous, now = nxt, nxt
    return times


def test_daily_digest_stays_at_eight_local_time_across_the_autumn_change() -> None:
    trigger = digest_triggers(load_settings())["daily"]
    times = fire_times(trigger, utc(2026, 10, 23, 12), 3)
    # 08:00 CEST is 06:00 UTC; after the night of 24/25 October 08:00 CET is 07:00 UTC.
    assert times == [utc(2026, 10, 24, 6), utc(2026, 10, 25, 7), utc(2026, 10, 26, 7)]


def test_daily_digest_stays_at_eight_local_time_across_the_spring_change() -> None:
    trigger = digest_triggers(load_settings())["daily"]
    times = fire_times(trigger, utc(2027, 3, 26, 12), 3)
    assert times == [utc(2027, 3, 27, 7), utc(2027, 3, 28, 6), utc(2027, 3, 29, 6)]


def test_weekly_digest_fires_on_its_weekday_in_local_time() -> None:
    settings = load_settings(digest={"weekly_at": "sun 08:00"})
    times = fire_times(digest_triggers(settings)["weekly"], utc(2026, 10, 20), 2)
    assert times == [utc(2026, 10, 25, 7), utc(2026, 11, 1, 7)]
    assert [moment.astimezone(WARSAW).strftime("%a %H:%M") for moment in times] == ["Sun 08:00"] * 2


def test_a_time_in_the_repeated_autumn_hour_fires_once_then_moves_on() -> None:
    """02:30 happens twice on 25 October 2026; the digest goes once, at the first, and the next day's
    run follows (APScheduler's own CronTrigger returns the same instant again and again here)."""
    trigger = LocalTimeTrigger(time(2, 30), WARSAW)
    times = fire_times(trigger, utc(2026, 10, 24, 12), 3)
    assert times == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]


def test_a_time_skipped_in_spring_fires_an_hour_later_that_day() -> None:
    trigger = LocalTimeTrigger(time(2, 30), WARSAW)
    times = fire_times(trigger, utc(2027, 3, 27, 12), 2)
    assert times == [utc(2027, 3, 28, 1, 30), utc(2027, 3, 29, 0, 30)]
    assert times[0].astimezone(WARSAW).strftime("%H:%M") == "03:30"


def test_last_scheduled_run_is_found_for_catch_up() -> None:
    triggers = digest_triggers(load_settings())
    thursday = utc(2026, 11, 26, 9, 30)
    assert triggers["daily"].previous_at_or_before(thursday) == utc(2026, 11, 26, 7)
    assert triggers["weekly"].previous_at_or_before(thursday) == utc(2026, 11, 23, 7)
    assert triggers["daily"].previous_at_or_before(utc(2026, 11, 26, 7)) == utc(2026, 11, 26, 7)


def test_a_digest_missed_while_down_is_made_up_and_a_served_one_is_not() -> None:
    triggers = digest_triggers(load_settings())
    now = utc(2026, 11, 26, 9, 30)
    served_since = {"daily": utc(2026, 11, 25, 7), "weekly": utc(2026, 11, 23, 7)}
    assert missed_digests(triggers, served_since, now) == ["daily"]
    served_since = {"daily": utc(2026, 11, 26, 7), "weekly": utc(2026, 11, 20, 7)}
    assert missed_digests(triggers, served_since, now) == ["weekly"]


def test_a_newsroom_never_served_misses_no_digest() -> None:
    triggers = digest_triggers(load_settings())
    assert missed_digests(triggers, {"daily": None, "weekly": None}, utc(2026, 11, 26, 9, 30)) == []


async def _noop(*args: object) -> None:
    return None


def _embargoed(store: Store, settings: Settings, title: str, until: datetime) -> int:
    document = ReleaseInput.parse({"title": title, "embargo_until": until.isoformat()}, settings.zone)
    return store.add_release(document, utcnow()).id


async def test_embargo_jobs_are_added_moved_and_dropped_with_the_store(
    store: Store, settings: Settings
) -> None:
    clock = Clock(settings, on_lift=_noop, on_digest=_noop)
    clock.start(paused=True)
    try:
        soon = utcnow() + timedelta(hours=1)
        first = _embargoed(store, settings, "Komunikat pod embargo", soon)
        second = _embargoed(store, settings, "Drugi komunikat pod embargo", soon + timedelta(hours=1))
        synced = clock.sync_embargoes(store.future_moments(utcnow()))
        assert (synced.added, synced.moved, synced.dropped) == (2, 0, 0)
        assert clock.lift_times() == {first: soon, second: soon + timedelta(hours=1)}

        later = soon + timedelta(hours=5)
        store.update_release(first, {"embargo_until": later.isoformat()}, utcnow())
        store.retract_release(second, utcnow())
        synced = clock.sync_embargoes(store.future_moments(utcnow()))
        assert (synced.added, synced.moved, synced.dropped) == (0, 1, 1)
        assert clock.lift_times() == {first: later}
        assert clock.next_runs()[f"lift:{first}"] == later

        again = clock.sync_embargoes(store.future_moments(utcnow()))
        assert (again.added, again.moved, again.dropped) == (0, 0, 0)
    finally:
        clock.shutdown()


async def test_digest_jobs_are_scheduled_at_the_configured_local_times(settings: Settings) -> None:
    clock = Clock(settings, on_lift=_noop, on_digest=_noop, on_sweep=_noop)
    clock.start(paused=True)
    try:
        runs = clock.next_runs()
        assert set(runs) == {"digest:daily", "digest:weekly", "sweep"}
        daily = runs["digest:daily"].astimezone(WARSAW)
        weekly = runs["digest:weekly"].astimezone(WARSAW)
        assert (daily.hour, daily.minute) == (8, 0)
        assert (weekly.strftime("%a"), weekly.hour) == ("Mon", 8)
    finally:
        clock.shutdown()


async def test_lift_job_fires_on_the_moment() -> None:
    settings = load_settings()
    fired: list[tuple[datetime, datetime]] = []
    done = asyncio.Event()

    async def on_lift(moment: datetime) -> None:
        fired.append((moment, datetime.now(UTC)))
        done.set()

    clock = Clock(settings, on_lift=on_lift, on_digest=_noop)
    clock.start()
    try:
        moment = datetime.now(UTC) + timedelta(milliseconds=300)
        clock.sync_embargoes([(7, moment)])
        await asyncio.wait_for(done.wait(), 5)
    finally:
        clock.shutdown()
    (given, called), *_ = fired
    assert given == moment
    assert timedelta(0) <= called - moment < timedelta(milliseconds=200)
    assert clock.lift_times() == {}


@pytest.mark.parametrize(("value", "local"), [("mon 08:00", "Mon 08:00"), ("sun 23:59", "Sun 23:59")])
def test_weekly_setting_fires_on_that_weekday_and_local_time(value: str, local: str) -> None:
    trigger = digest_triggers(load_settings(digest={"weekly_at": value}))["weekly"]
    assert str(trigger) == f"{value} Europe/Warsaw"
    times = fire_times(trigger, utc(2026, 11, 20), 2)
    assert [moment.astimezone(WARSAW).strftime("%a %H:%M") for moment in times] == [local] * 2
    assert times[1] - times[0] == timedelta(days=7)


class _Builds:
    """Stands in for the planner: counts builds and moves the cursor as a real build does."""

    def __init__(self, store: Store, failures: int = 0) -> None:
        self.store = store
        self.calls = 0
        self.failures = failures
        self.commits = 0

    async def build(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError("disk full")
        self.store.save_build_state(self.store.last_change_id(), utcnow())

    def commit(self) -> None:
        self.commits += 1


async def _watch(store: Store, builds: _Builds) -> tuple[Watcher, asyncio.Event, asyncio.Task[None]]:
    watcher = Watcher(store.path, 0.01, builds.build, on_commit=builds.commit)
    stop = asyncio.Event()
    task = asyncio.ensure_future(watcher.run(stop))
    await asyncio.sleep(0.05)
    return watcher, stop, task


async def _eventually(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not in time"
        await asyncio.sleep(0.01)


async def test_watcher_builds_once_for_a_release_committed_by_another_connection(store: Store) -> None:
    builds = _Builds(store)
    watcher, stop, task = await _watch(store, builds)
    try:
        with sqlite3.connect(store.path) as outside:
            outside.execute("INSERT INTO releases (title) VALUES ('Komunikat z zewnątrz')")
        await _eventually(lambda: builds.calls == 1)
        await asyncio.sleep(0.1)
        assert builds.calls == 1, "a build that caught up is not repeated"
        assert watcher.polls > 5
    finally:
        stop.set()
        await task
        watcher.close()


async def test_watcher_wakes_the_sender_but_builds_nothing_for_other_tables(store: Store) -> None:
    builds = _Builds(store)
    watcher, stop, task = await _watch(store, builds)
    try:
        outside = Store(store.path, migrate=False)
        add_subscriber(outside, {"email": "ktos@example.pl"}, utcnow())
        outside.close()
        await _eventually(lambda: builds.commits >= 1)
        await asyncio.sleep(0.05)
        assert builds.calls == 0
    finally:
        stop.set()
        await task
        watcher.close()


async def test_watcher_tries_a_failed_build_again(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watcher_module, "RETRY_FIRST_SECONDS", 0.05)
    builds = _Builds(store, failures=1)
    watcher, stop, task = await _watch(store, builds)
    try:
        with sqlite3.connect(store.path) as outside:
            outside.execute("INSERT INTO releases (title) VALUES ('Komunikat po awarii dysku')")
        await _eventually(lambda: builds.calls == 2)
        assert store.build_state().change_cursor == store.last_change_id()
    finally:
        stop.set()
        await task
        watcher.close()


async def test_watcher_catches_up_at_start_on_changes_made_while_nobody_watched(store: Store) -> None:
    store.add_release(ReleaseInput.parse({"title": "Komunikat dodany przy wyłączonej usłudze"}), utcnow())
    builds = _Builds(store)
    watcher, stop, task = await _watch(store, builds)
    try:
        await _eventually(lambda: builds.calls == 1)
        assert store.build_state().change_cursor == store.last_change_id()
        await asyncio.sleep(0.05)
        assert builds.calls == 1, "caught up: no second build without a new change"
    finally:
        stop.set()
        await task
        watcher.close()


async def test_a_build_that_failed_elsewhere_is_retried_by_the_watcher_until_it_succeeds(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lift whose build failed has no change row to bring it back: the daemon hands it over, and
    the watcher retries with backoff though nothing is committed."""
    monkeypatch.setattr(watcher_module, "RETRY_FIRST_SECONDS", 0.02)
    builds = _Builds(store, failures=2)
    watcher, stop, task = await _watch(store, builds)
    try:
        assert builds.calls == 0
        watcher.request_build()
        await _eventually(lambda: builds.calls == 3)
        assert not watcher.pending
        await asyncio.sleep(0.1)
        assert builds.calls == 3, "a build that succeeded is not repeated"
    finally:
        stop.set()
        await task
        watcher.close()
