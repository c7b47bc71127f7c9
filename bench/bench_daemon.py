"""The daemon: from a commit by another process to the new feed file in place, and its idle CPU use.

A store of 10,000 releases (the build benchmark's), a real `newsroom-feed run` subprocess, and 100
title-only inserts with plain SQL from this process, one at a time; each latency runs from the insert's
COMMIT to the moment `feeds/rss.xml` carries the new title. Baseline, measured in the same run: the same
change (one raw insert) followed by a bare `planner.build` called in-process, with no watcher and no
process boundary. Then the daemon's CPU time over an idle spell (20 s by default, not the issue's 60 s,
to keep the bench short; BENCH_IDLE_SECONDS=60 for the full figure). Aims: p95 < 250 ms, idle < 1 %.
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

from bench.bench_build import CATEGORIES, RELEASES, _fill
from newsroom_feed import planner
from newsroom_feed.models import utcnow
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.store.database import Store

INSERTS = 100
BASELINE_INSERTS = 20
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
    if not started.wait(60):
        process.kill()
        raise RuntimeError("the daemon did not start:\n" + "".join(lines))
    return process, lines


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the ")".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latencies(settings: Settings, root: Path) -> tuple[list[float], float, list[str]]:
    """Latencies of the daemon, and its CPU share while idle."""
    process, lines = _start_daemon(settings, root)
    feed = _Feed(settings.public_dir / "feeds" / "rss.xml")
    times = []
    try:
        for n in range(INSERTS):
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
        time.sleep(2.0)
        cpu_before, wall_before = _cpu_seconds(process.pid), time.monotonic()
        time.sleep(IDLE_SECONDS)
        cpu = _cpu_seconds(process.pid) - cpu_before
        idle_share = cpu / (time.monotonic() - wall_before)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        if code != 0:
            print(f"daemon exited {code}", flush=True)
    return times, idle_share, lines


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as scratch:
        root = Path(scratch)
        settings = load_settings(
            database=root / "newsroom.db",
            public_dir=root / "public",
            base_url="https://prasa.example.pl",
            secret_key="bench",
        )
        with Store.for_settings(settings) as store:
            _fill(store)
        print(f"store: {RELEASES} releases in {CATEGORIES} categories", flush=True)

        base = baseline(settings)
        base_p50, base_p95 = statistics.median(base), _quantile(base, 0.95)
        print(
            f"baseline: insert + in-process build, {BASELINE_INSERTS} runs   "
            f"p50 {base_p50 * 1000:7.1f} ms   p95 {base_p95 * 1000:7.1f} ms",
            flush=True,
        )
        times, idle, lines = latencies(settings, root)
        p50, p95 = statistics.median(times), _quantile(times, 0.95)
        print(
            f"daemon: commit by another process -> feed in place, {INSERTS} inserts\n"
            f"    p50 {p50 * 1000:7.1f} ms ({p50 / base_p50:5.2f}x baseline)   "
            f"p95 {p95 * 1000:7.1f} ms ({p95 / base_p95:5.2f}x baseline)   "
            f"max {max(times) * 1000:7.1f} ms   aim: p95 < 250 ms",
            flush=True,
        )
        builds = [json.loads(line) for line in lines if '"event": "build"' in line]
        if builds:
            ms = [float(event["ms"]) for event in builds]
            print(f"    daemon's own build times: p50 {statistics.median(ms):.1f} ms over {len(ms)} builds")
        print(
            f"daemon idle for {IDLE_SECONDS:.0f} s: {idle * 100:.2f} % of one core   aim: < 1 %",
            flush=True,
        )


if __name__ == "__main__":
    main()
