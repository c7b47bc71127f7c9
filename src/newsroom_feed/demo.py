"""The demo newsroom: sample releases seeded into a store, and `make run` (seed, build, serve on localhost).

`seed` is reusable (the daemon's `run` may call it on an empty store); it is idempotent, each sample
release carrying an ``external_key`` of its own. One sample release is under embargo for two hours from
the moment of seeding, so the embargo lifts while the demo runs.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import sys
import threading
import time
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from newsroom_feed.errors import InputError, NewsroomError, SettingsError
from newsroom_feed.models import Release, ReleaseInput, utcnow
from newsroom_feed.planner import build
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.store import Store

DATA_FILE = "demo_releases.json"
KEY_PREFIX = "demo:"

#: Content types a feed reader expects; the rest come from the standard mimetypes table.
_CONTENT_TYPES = {
    "rss.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
    "feed.json": "application/feed+json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


def load_data() -> dict[str, Any]:
    """The demo data shipped inside the package (found from an editable install too)."""
    text = resources.files("newsroom_feed").joinpath(DATA_FILE).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def seed(store: Store, now: datetime) -> list[Release]:
    """Add the demo categories and the sample releases that are not in the store yet; returns those added.

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
            parsed = ReleaseInput.parse(document, store.zone)
            added.append(store.add_release(parsed, now, external_key=key))
    return added


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with the feed content types; requests logged to stderr."""

    def guess_type(self, path: str | Any) -> str:
        name = str(path)
        for suffix, content_type in _CONTENT_TYPES.items():
            if name.endswith(suffix):
                return content_type
        return super().guess_type(path)


def serve(public_dir: Path, host: str, port: int) -> http.server.ThreadingHTTPServer:
    """A plain static server for the public directory, not yet started (`serve_forever` in a thread).

    :raises OSError: the address is taken.
    """
    handler = functools.partial(_Handler, directory=str(public_dir))
    return http.server.ThreadingHTTPServer((host, port), handler)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _build(store: Store, settings: Settings, now: datetime) -> None:
    report = build(store, settings, now)
    if report.changed:
        took = report.duration * 1000
        _say(f"Built {len(report.written)} files, removed {len(report.removed)} ({took:.0f} ms)")


def main(argv: list[str] | None = None) -> int:
    """Seed the demo store if it is empty, build, serve until Ctrl-C, rebuilding when an embargo lifts."""
    parser = argparse.ArgumentParser(prog="python -m newsroom_feed.demo", description=main.__doc__)
    parser.add_argument("--no-serve", action="store_true", help="seed and build, then exit")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between rebuild checks")
    options = parser.parse_args(argv)
    try:
        settings = load_settings()
        with Store(settings.database, settings.domain, zone=settings.zone) as store:
            now = utcnow()
            if not store.list_releases(now=now, limit=1):
                added = seed(store, now)
                _say(f"Seeded the demo newsroom with {len(added)} releases in {settings.database}")
            _build(store, settings, now)
            if options.no_serve:
                return 0
            return _run_daemon(settings)
    except NewsroomError as error:
        _say(f"error: {error}")
        return 2 if isinstance(error, SettingsError | InputError) else 1


def _run_daemon(settings: Settings) -> int:
    """`make run`: the daemon (watcher, clock, sender, web app) with the demo mail sink beside it."""
    # Imported here: the daemon pulls in uvicorn and APScheduler, which seeding does not need.
    from newsroom_feed.daemon import Daemon, run_demo
    from newsroom_feed.logs import configure_logging

    maildir = settings.database.parent / "mail"

    def announce(daemon: Daemon) -> None:
        root = (daemon.web_url() or f"http://{settings.http.host}:{settings.http.port}/").rstrip("/")
        print(
            f"Serving {settings.public_dir} on {root} (Ctrl-C stops everything)\n"
            f"  {root}/\n  {root}/feeds/rss.xml\n  {root}/feeds/atom.xml\n  {root}/feeds/feed.json\n"
            f"  {root}/subscribe   (the subscription form)\n"
            f"Mail goes to the sink on {settings.smtp.host}:{settings.smtp.port}: one file per message in "
            f"{maildir}/new\n"
            f"Store: {settings.database} (try: newsroom-feed release add --title 'Nowy komunikat')",
            flush=True,
        )

    configure_logging(settings.log_format, settings.log_level)
    try:
        return run_demo(settings, maildir, announce)
    except OSError as error:
        _say(f"error: cannot listen: {error}")
        return 1


def _serve(store: Store, settings: Settings, interval: float) -> int:
    try:
        server = serve(settings.public_dir, settings.http.host, settings.http.port)
    except OSError as error:
        _say(f"error: cannot listen on {settings.http.host}:{settings.http.port}: {error.strerror}")
        return 1
    root = f"http://{settings.http.host}:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="demo-http", daemon=True)
    thread.start()
    lines = ["/", "/feeds/rss.xml", "/feeds/atom.xml", "/feeds/feed.json"]
    print(f"Serving {settings.public_dir} on {root} (Ctrl-C stops)", flush=True)
    for path in lines:
        print(f"  {root}{path}", flush=True)
    try:
        while True:
            time.sleep(interval)
            try:
                _build(store, settings, utcnow())
            except NewsroomError as error:
                _say(f"error: build failed, trying again: {error}")
    except KeyboardInterrupt:
        _say("Stopping.")
    finally:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
