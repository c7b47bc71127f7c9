"""The demo newsroom: sample releases and subscribers seeded into a store, and `make run` (seed, build,
run the daemon with the mail sink).

`seed` is reusable (the daemon's `run` may call it on an empty store); it is idempotent, each sample
release carrying an ``external_key`` of its own and each subscriber being added only when its address is
not stored yet. One sample release is under embargo for two hours from the moment of seeding, so the
embargo lifts while the demo runs, and the three demo subscribers (a journalist on alerts, a city press
office on a daily digest, an English-speaking weekly reader) make its alerts and digests land in the sink.
`make run` also makes one desk account (`DESK_ADMIN`, an admin) on the first start, prints its password
then, and prints a fresh one-time set-up link on every start, so a newcomer can sign in at ``/desk/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from newsroom_feed.errors import InputError, NewsroomError, SettingsError, SubscriberNotFound
from newsroom_feed.lock import InstanceLock
from newsroom_feed.mail import sink as mailsink
from newsroom_feed.models import Release, ReleaseInput, Subscriber, utcnow
from newsroom_feed.people import subscriptions, users
from newsroom_feed.planner import build
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.site import formats, layout
from newsroom_feed.store.audit import OPERATOR
from newsroom_feed.store.database import Store

if TYPE_CHECKING:
    from newsroom_feed.daemon import Daemon

DATA_FILE = "demo_releases.json"
KEY_PREFIX = "demo:"
#: The desk account of the demo newsroom.
DESK_ADMIN = "redakcja@zmp-demo.example.pl"


def load_data() -> dict[str, Any]:
    """The demo data shipped inside the package (found from an editable install too)."""
    text = resources.files("newsroom_feed").joinpath(DATA_FILE).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def seed(store: Store, now: datetime) -> list[Release]:
    """Add the demo categories, the sample releases and the demo subscribers that are not in the store
    yet; returns the releases added.

    Times are relative to ``now``: each release was published ``hours_ago`` before it, the embargoed
    one lifts ``embargo_hours_from_now`` after it.

    :raises InputError: the shipped data is invalid (a bug, caught by the tests).
    """
    data = load_data()
    base = now.replace(second=0, microsecond=0)
    added: list[Release] = []
    with store.transaction():
        for category in data["categories"]:
            store.set_category(category["slug"], category["name"], category.get("description", ""))
        for entry in data["releases"]:
            key = KEY_PREFIX + entry["key"]
            if store.external_key_exists(key):
                continue
            document = {"contact": data["contact"], **entry["document"]}
            document["published_at"] = (base - timedelta(hours=entry["hours_ago"])).isoformat()
            if entry.get("embargo_hours_from_now") is not None:
                lifts = base + timedelta(hours=entry["embargo_hours_from_now"])
                document["embargo_until"] = lifts.isoformat()
            if entry.get("event") is not None:
                document["event"] = _event(entry["event"], base, store.zone)
            parsed = ReleaseInput.parse(document, store.zone)
            added.append(store.add_release(parsed, now, external_key=key))
        seed_subscribers(store, now, data)
    return added


def _event(entry: dict[str, Any], now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """A demo event ``in_days`` days from ``now``, over ``days`` days, from ``start`` on the first to
    ``end`` on the last (local wall times), so `/events/` and the calendars have something coming."""
    first = now.astimezone(zone).date() + timedelta(days=entry["in_days"])
    last = first + timedelta(days=entry["days"] - 1)

    def at(day: date, clock: str) -> str:
        hour, minute = (int(part) for part in clock.split(":"))
        return datetime.combine(day, time(hour, minute), zone).isoformat()

    return {
        "start": at(first, entry["start"]),
        "end": at(last, entry["end"]),
        "location": entry.get("location"),
        "online_url": entry.get("online_url"),
    }


def seed_subscribers(store: Store, now: datetime, data: dict[str, Any] | None = None) -> list[Subscriber]:
    """Add the demo subscribers whose address is not stored yet, active at once as the operator's own;
    returns those added.

    :raises InputError: the shipped data is invalid (a bug, caught by the tests).
    """
    added: list[Subscriber] = []
    with store.transaction():
        for entry in (data or load_data())["subscribers"]:
            try:
                subscriptions.get_subscriber(store, entry["email"])
            except SubscriberNotFound:
                added.append(subscriptions.add_subscriber(store, entry, now))
    return added


def seed_desk(store: Store, settings: Settings, now: datetime) -> tuple[str | None, str]:
    """The demo's desk admin: made (with a new random password, returned) when the store has no desk
    user yet; and a fresh one-time set-up link for it (valid 24 h), whether new or not."""
    password = None
    if not users.listing(store):
        password = secrets.token_urlsafe(12)
        users.add(store, DESK_ADMIN, "admin", now, OPERATOR, password)
    try:
        account = users.get(store, DESK_ADMIN)
    except LookupError:
        return password, ""
    token = users.Links(settings.verifying_keys()).setup_link(store, account.id, now)
    return password, layout.desk_setup_url(settings.base_url, token)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _build(store: Store, settings: Settings, now: datetime) -> None:
    report = build(store, settings, now)
    if report.changed:
        took = report.duration * 1000
        _say(f"Built {len(report.written)} files, removed {len(report.removed)} ({took:.0f} ms)")


def main(argv: list[str] | None = None) -> int:
    """Seed the demo store if it is empty, build, then run the daemon and the mail sink until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m newsroom_feed.demo", description=main.__doc__)
    parser.add_argument("--no-serve", action="store_true", help="seed and build, then exit")
    options = parser.parse_args(argv)
    try:
        settings = load_settings()
        if not options.no_serve:
            settings.require_strong_secrets()  # as `run` would, before seeding anything
        with Store.for_settings(settings) as store:
            now = utcnow()
            if not store.list_releases(now=now, limit=1):
                added = seed(store, now)
                people = len(subscriptions.list_subscribers(store))
                _say(
                    f"Seeded the demo newsroom with {len(added)} releases and {people} subscribers "
                    f"in {settings.database}"
                )
            _build(store, settings, now)
            password, setup_link = seed_desk(store, settings, now)
        desk = _desk_lines(password, setup_link)
        if options.no_serve:
            _say(desk)
            return 0
        # The daemon opens stores of its own; this one is closed before it starts.
        return _run_daemon(settings, desk)
    except NewsroomError as error:
        _say(f"error: {error}")
        return 2 if isinstance(error, SettingsError | InputError) else 1


def _desk_lines(password: str | None, setup_link: str) -> str:
    if not setup_link:
        return "Desk: no demo account (the store has other desk users): newsroom-feed user list"
    if password:
        return f"Desk: sign in as {DESK_ADMIN} with the password {password} (or set one: {setup_link})"
    return f"Desk: sign in as {DESK_ADMIN}; a new password can be set once, within 24 h, at {setup_link}"


def _run_daemon(settings: Settings, desk: str) -> int:
    """`make run`: the daemon (watcher, clock, sender, web app) with the demo mail sink beside it."""
    # Imported here: the daemon pulls in uvicorn and APScheduler, which seeding does not need.
    from newsroom_feed.logs import configure_logging

    maildir = settings.database.parent / "mail"

    def announce(daemon: Daemon) -> None:
        root = (daemon.web_url() or f"http://{settings.http.host}:{settings.http.port}/").rstrip("/")
        feeds = "".join(f"  {layout.url(root, path)}\n" for path in formats.feed_paths(None))
        print(
            f"Serving {settings.public_dir} on {root} (Ctrl-C stops everything)\n"
            f"  {root}/\n{feeds}"
            f"  {root}/subscribe   (the subscription form)\n"
            f"Mail goes to the sink on {settings.smtp.host}:{settings.smtp.port}: one file per message in "
            f"{maildir}/new\n"
            f"Store: {settings.database} (try: newsroom-feed release add --title 'Nowy komunikat')\n"
            f"The newsroom desk: {root}/desk/\n{desk}",
            flush=True,
        )

    configure_logging(settings.log_format, settings.log_level)
    try:
        return run_demo(settings, maildir, announce)
    except OSError as error:
        _say(f"error: cannot listen: {error}")
        return 1


def run_demo(settings: Settings, maildir: Path, announce: Callable[[Daemon], None]) -> int:
    """`make run`: the daemon with the demo's SMTP sink (`mailsink`) on the same loop, at the SMTP
    address of the settings; ``announce`` is called once everything listens. Ctrl-C stops both.

    :raises LockedError: a daemon already runs on this store.
    """
    # Imported here: the daemon pulls in uvicorn and APScheduler, which seeding does not need.
    from newsroom_feed.daemon import Daemon, log, quietly, until

    async def both() -> int:
        stop_sink = asyncio.Event()
        listening = asyncio.Event()
        sink = asyncio.ensure_future(
            mailsink.serve(
                settings.smtp.host, settings.smtp.port, maildir, stop_sink, ready=lambda *_: listening.set()
            )
        )
        await until(sink, listening)
        if sink.done() and sink.exception() is not None:
            # Most often a sink left running by an earlier demo: the daemon sends to whatever listens.
            where = f"{settings.smtp.host}:{settings.smtp.port}"
            log.warning(
                "mail sink not started; sending to what listens there",
                smtp=where,
                error=str(sink.exception()),
            )
        daemon = Daemon(settings)
        serving = asyncio.ensure_future(daemon.serve())
        await until(serving, daemon.started)
        if daemon.started.is_set():
            announce(daemon)
        try:
            return await serving
        finally:
            stop_sink.set()
            await quietly(sink)

    with InstanceLock(settings.database):
        return asyncio.run(both())


if __name__ == "__main__":
    sys.exit(main())
