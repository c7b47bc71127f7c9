"""The daemon: from a commit by another process to the new feed file in place, and its idle CPU use.

A store of 10,000 releases (the build benchmark's), a real `newsroom-feed run` subprocess, and 100
title-only inserts with plain SQL from this process, one at a time; each latency runs from the insert's
COMMIT to the moment `feeds/rss.xml` carries the new title. Baseline, measured in the same run: the same
change (one raw insert) followed by a bare `planner.build` called in-process, with no watcher and no
process boundary. Then the daemon's CPU time over an idle spell (20 s by default, not the issue's 60 s,
to keep the bench short; BENCH_IDLE_SECONDS=60 for the full figure). Aims: p95 < 250 ms, idle < 1 %.
Last, the same latency over each larger store of BENCH_SCALING (the build benchmark's sizes and fill,
fewer inserts to keep the run short) against the 10,000-release figure: a change costs what it changes.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.bench_build import CATEGORIES, RELEASES, SCALING, _fill, bench_settings
from newsroom_feed import planner
from newsroom_feed.models import utcnow
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

INSERTS = 100
BASELINE_INSERTS = 20
#: Inserts timed over each larger store of the scaling run, fewer to keep the run short: its first full
#: build is long already; the p95 of 30 is their second-slowest.
SCALING_INSERTS = 30
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "20"))


def _insert(database: Path, title: str) -> float:
    """One release as an outside CMS writes it; returns the perf_counter time right after COMMIT."""
    with sqlite3.connect(database, isolation_level=None) as conn:
        conn.execute("INSERT INTO releases (title) VALUES (?)", (title,))
        committed = time.perf_counter()
    conn.close()
    return committed


class _Feed:
    """Watches a feed file cheaply: it is replaced atomically, so new content comes with a new inode
    (and time stamp); the bytes are read only then, to leave the CPU to the daemon."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: tuple[int, int, int] = (-1, -1, -1)
        self.content = b""

    def has(self, title: str) -> bool:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return False
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if key != self.seen:
            self.seen, self.content = key, self.path.read_bytes()
        return title.encode() in self.content


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def baseline(settings: Settings) -> list[float]:
    """Insert then a bare in-process build, as `newsroom-feed build` would run it: seconds each."""
    times = []
    with Store.for_settings(settings) as store:
        planner.build(store, settings, utcnow())
        for n in range(BASELINE_INSERTS):
            started = _insert(settings.database, f"Komunikat bazowy {n}")
            planner.build(store, settings, utcnow())
            times.append(time.perf_counter() - started)
    return times


def _start_daemon(settings: Settings, root: Path) -> tuple[subprocess.Popen[str], list[str]]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSROOM_")}
    env.update(
        NEWSROOM_DATABASE=str(settings.database),
        NEWSROOM_PUBLIC_DIR=str(settings.public_dir),
        NEWSROOM_BASE_URL=settings.base_url,
        NEWSROOM_SECRET_KEY="bench-secret-key-not-for-production",  # `run` wants 32 bytes
        NEWSROOM_HTTP__PORT="0",
        NEWSROOM_SMTP__PORT="9",  # nothing is mailed: there are no subscribers
        NEWSROOM_LOG_FORMAT="json",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "newsroom_feed.cli", "run"],
        env=env,
        cwd=root,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if '"daemon started"' in line:
                started.set()

    threading.Thread(target=read, daemon=True).start()
    if not started.wait(180):  # the first build over 100,000 releases
        process.kill()
        raise RuntimeError("the daemon did not start:\n" + "".join(lines))
    return process, lines


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the ")".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latencies(
    settings: Settings, root: Path, inserts: int = INSERTS, idle_seconds: float = IDLE_SECONDS
) -> tuple[list[float], float, list[str]]:
    """Latencies of the daemon, and its CPU share while idle (0 when ``idle_seconds`` is 0)."""
    process, lines = _start_daemon(settings, root)
    feed = _Feed(settings.public_dir / "feeds" / "rss.xml")
    times = []
    try:
        for n in range(inserts):
            title = f"Komunikat z CMS nr {n}"
            committed = _insert(settings.database, title)
            deadline = committed + 10
            while not feed.has(title):
                if time.perf_counter() > deadline:
                    log = "".join(lines[-20:])
                    raise RuntimeError(f"{title!r} not in the feed after 10 s; daemon log:\n{log}")
                time.sleep(0.001)
            times.append(time.perf_counter() - committed)
            time.sleep(0.02)
        idle_share = 0.0
        if idle_seconds:
            time.sleep(2.0)
            cpu_before, wall_before = _cpu_seconds(process.pid), time.monotonic()
            time.sleep(idle_seconds)
            cpu = _cpu_seconds(process.pid) - cpu_before
            idle_share = cpu / (time.monotonic() - wall_before)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        if code != 0:
            print(f"daemon exited {code}", flush=True)
    return times, idle_share, lines


def _report(times: list[float], inserts: int, base_p50: float, base_p95: float) -> tuple[float, float]:
    p50, p95 = statistics.median(times), _quantile(times, 0.95)
    print(
        f"daemon: commit by another process -> feed in place, {inserts} inserts\n"
        f"    p50 {p50 * 1000:7.1f} ms ({p50 / base_p50:5.2f}x baseline)   "
        f"p95 {p95 * 1000:7.1f} ms ({p95 / base_p95:5.2f}x baseline)   "
        f"max {max(times) * 1000:7.1f} ms   aim: p95 < 250 ms",
        flush=True,
    )
    return p50, p95


def _measure(releases: int, inserts: int, idle_seconds: float) -> tuple[float, float]:
    """The baseline and the daemon's latencies over a fresh store of ``releases``: (p50, p95) seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as scratch:
        root = Path(scratch)
        settings = bench_settings(root)
        with Store.for_settings(settings) as store:
            _fill(store, releases)
        print(f"store: {releases:,} releases in {CATEGORIES} categories", flush=True)

        base = baseline(settings)
        base_p50, base_p95 = statistics.median(base), _quantile(base, 0.95)
        print(
            f"baseline: insert + in-process build, {BASELINE_INSERTS} runs   "
            f"p50 {base_p50 * 1000:7.1f} ms   p95 {base_p95 * 1000:7.1f} ms",
            flush=True,
        )
        times, idle, lines = latencies(settings, root, inserts, idle_seconds)
        p50, p95 = _report(times, inserts, base_p50, base_p95)
        builds = [json.loads(line) for line in lines if '"event": "build"' in line]
        if builds:
            ms = [float(event["ms"]) for event in builds]
            print(f"    daemon's own build times: p50 {statistics.median(ms):.1f} ms over {len(ms)} builds")
        if idle_seconds:
            print(
                f"daemon idle for {idle_seconds:.0f} s: {idle * 100:.2f} % of one core   aim: < 1 %",
                flush=True,
            )
    return p50, p95


def main() -> None:
    figures = {RELEASES: _measure(RELEASES, INSERTS, IDLE_SECONDS)}
    for releases in sorted(set(SCALING) - {RELEASES}):
        print(f"\nscaling: {SCALING_INSERTS} inserts (not {INSERTS}), no idle spell", flush=True)
        figures[releases] = _measure(releases, SCALING_INSERTS, 0.0)
    if len(figures) < 2:
        return
    p50_small, p95_small = figures[RELEASES]
    print()
    for releases, (p50, p95) in sorted(figures.items()):
        print(
            f"commit -> feed at {releases:>7,} releases   p50 {p50 * 1000:7.1f} ms "
            f"({p50 / p50_small:4.2f}x)   p95 {p95 * 1000:7.1f} ms ({p95 / p95_small:4.2f}x)"
            f"   the {RELEASES:,}-release store = 1.00x",
            flush=True,
        )


if __name__ == "__main__":
    main()
