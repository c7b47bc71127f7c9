"""Every calendar the build writes imports into a real calendar client, Debian's khal, and shows each
event at its Warsaw wall time, across the changes of clock, with its Polish place intact."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from newsroom_feed import planner
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from .conftest import NOW
from .site.test_calendar import PLACE, TITLE, event_newsroom

KHAL = shutil.which("khal")
pytestmark = pytest.mark.skipif(KHAL is None, reason="Debian's khal is not installed (apt-get install khal)")


class Khal:
    """khal with a configuration, a database and one calendar folder of its own under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calendar = root / "prasa"
        self.calendar.mkdir(parents=True)
        self.config = root / "config"
        self.config.write_text(
            "[calendars]\n[[prasa]]\n"
            f"path = {self.calendar}\ntype = calendar\n"
            "[locale]\n"
            "timeformat = %H:%M\ndateformat = %Y-%m-%d\nlongdateformat = %Y-%m-%d\n"
            "datetimeformat = %Y-%m-%d %H:%M\nlongdatetimeformat = %Y-%m-%d %H:%M\n"
            "local_timezone = Europe/Warsaw\ndefault_timezone = Europe/Warsaw\n",
            encoding="utf-8",
        )

    def __call__(self, *arguments: str) -> str:
        """Run khal; it must exit 0 and complain of nothing. Returns what it printed."""
        environment = {
            **os.environ,
            "XDG_DATA_HOME": str(self.root / "data"),
            "XDG_CACHE_HOME": str(self.root / "cache"),
            "XDG_CONFIG_HOME": str(self.root / "xdg"),
            "LC_ALL": "C.UTF-8",
            "TZ": "Europe/Warsaw",
        }
        done = subprocess.run(
            [str(KHAL), "-c", str(self.config), *arguments],
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=environment,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (arguments, done.stdout, done.stderr)
        assert "error" not in done.stderr.lower() and "warning" not in done.stderr.lower(), done.stderr
        return done.stdout


@pytest.fixture
def khal(tmp_path: Path) -> Khal:
    return Khal(tmp_path / "khal")


def test_every_generated_calendar_imports_into_khal(store: Store, settings: Settings, khal: Khal) -> None:
    releases = event_newsroom(store)
    planner.build(store, settings, NOW)
    files = sorted(settings.public_dir.rglob("*.ics"))
    assert len(files) == 7
    for path in files:
        shown = khal("printics", str(path))
        assert "events found" in shown, path
        khal("import", "--batch", "-a", "prasa", str(path))
    # One file per event: the same UIDs, imported from several calendars, are one event each.
    imported = sorted(khal.calendar.glob("*.ics"))
    assert len(imported) == 4
    listing = khal("list", "--format", "{start} | {end} | {title} | {location}", "2026-12-10", "1d")
    assert f"2026-12-10 10:00 | 2026-12-10 16:00 | {TITLE} | {PLACE}" in listing
    seminar = khal("list", "--once", "--format", "{start} | {end} | {title}", "2026-11-26", "2d")
    assert f"2026-11-26 | 2026-11-27 | {releases['seminar'].title}" in seminar


@pytest.mark.parametrize(("day", "name"), [("2026-03-29", "spring"), ("2026-10-25", "autumn")])
def test_an_event_on_the_day_the_clocks_change_stays_at_ten_in_khal(
    store: Store, settings: Settings, khal: Khal, day: str, name: str
) -> None:
    releases = event_newsroom(store)
    planner.build(store, settings, NOW)
    khal("import", "--batch", "-a", "prasa", str(settings.public_dir / "feeds" / "events.ics"))
    listing = khal("list", "--format", "{start-time} {title}", day, "1d")
    assert f"10:00 {releases[name].title}" in listing
