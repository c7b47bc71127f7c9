"""A daily digest to 10,000 subscribers through the whole pipeline, against aiosmtplib alone.

Pipeline: plan the digest run, claim rows, render and compose each message, send it over the mailer pool,
record the outcome in the ledger. Baseline, measured in the same run: aiosmtplib sending pre-built
message bytes over the same number of connections to the same sink. The sink is a minimal aiosmtpd
server in a separate process, so it does not share our GIL. The pipeline runs once more per round with the
store at ``synchronous=NORMAL`` (what it used before acknowledged writes had to survive a power cut), so
the cost of FULL is printed from the same run. The CPU each configuration costs a message, in this
process and in the sink, is printed too: the two share the machine's cores, and so does the share of
CPU time the host of a virtual machine took for others meanwhile (steal). Then the peak memory (max
RSS) of a process that plans, composes and records a digest for 100,000 subscribers (without SMTP, to
keep the bench short).

Run with ``python -m bench delivery``; ``BENCH_SUBSCRIBERS`` and ``BENCH_MEMORY_SUBSCRIBERS`` change the
sizes.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosmtplib
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from newsroom_feed.mail import dkim
from newsroom_feed.mail.delivery import deliver
from newsroom_feed.mail.smtp import Accepted
from newsroom_feed.models import ReleaseInput, iso
from newsroom_feed.planner import plan_digest
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.store.database import Store

CONNECTIONS = 4
ROUNDS = 2
CATEGORIES = ("kultura", "sport", "transport", "edukacja")
#: Each subscriber follows two neighbouring categories: 4 mixes, 10 releases each (5 per category).
MIXES = tuple((CATEGORIES[n], CATEGORIES[(n + 1) % 4]) for n in range(4))
NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)

SINK = """
import asyncio, sys
from aiosmtpd.smtp import SMTP

class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Sink(), hostname="sink"), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _settings(directory: Path, port: int) -> Settings:
    return load_settings(
        database=directory / "newsroom.db",
        public_dir=directory / "public",
        base_url="https://prasa.example.pl",
        secret_key="bench-secret",
        smtp={"host": "127.0.0.1", "port": port, "connections": CONNECTIONS, "rate_per_second": 1_000_000},
    )


def _fill(store: Store, subscribers: int) -> None:
    """20 releases in the last day (5 per category) and ``subscribers`` daily subscribers."""
    for number in range(20):
        category = CATEGORIES[number % 4]
        document = ReleaseInput.parse(
            {
                "title": f"Komunikat {number + 1}: Zażółć gęślą jaźń w kategorii {category}",
                "summary": "Rada Programowa przyznała nagrody za najlepsze działania komunikacyjne miast.",
                "body": "Treść **komunikatu** z [odnośnikiem](https://example.pl/komunikat).\n\n" * 5,
                "categories": [category],
                "published_at": (NOW - timedelta(hours=20 - number)).isoformat(),
            }
        )
        store.add_release(document, NOW - timedelta(hours=21))
    # As a running daemon would have: each release announced (and so noticed) by the build the moment
    # it became visible.
    with store.transaction() as conn:
        conn.execute("UPDATE releases SET announced_at = visible_at, noticed_at = visible_at")
    category_ids = dict(store.conn.execute("SELECT slug, id FROM categories").fetchall())
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO subscribers (id, email, name, kind, frequency, status, token, created_at) "
            "VALUES (?, ?, ?, 'journalist', 'daily', 'active', ?, ?)",
            (
                (
                    n + 1,
                    f"dziennikarz{n}@redakcja{n % 97}.example.pl",
                    f"Dziennikarz {n}",
                    f"t{n:08d}",
                    iso(NOW),
                )
                for n in range(subscribers)
            ),
        )
        conn.executemany(
            "INSERT INTO subscriber_categories (subscriber_id, category_id) VALUES (?, ?)",
            ((n + 1, category_ids[slug]) for n in range(subscribers) for slug in MIXES[n % 4]),
        )


def _start_sink() -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, int(process.stdout.readline())


async def _baseline(port: int, data: bytes, count: int) -> float:
    """aiosmtplib alone: ``count`` pre-built messages over CONNECTIONS reused connections."""

    async def one_connection(share: int) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        for n in range(share):
            await client.sendmail("prasa@newsroom.example.pl", [f"r{n}@example.pl"], data)
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(one_connection(count // CONNECTIONS) for _ in range(CONNECTIONS)))
    return time.perf_counter() - started


def _cpu(sink: int) -> tuple[float, float]:
    """CPU seconds used so far by this process and by the sink (from /proc; zeros where there is none)."""
    own = os.times()
    try:
        fields = Path(f"/proc/{sink}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return own.user + own.system, 0.0
    return own.user + own.system, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _CpuPerMessage:
    """CPU per message of this process and of the sink, summed over the runs of one configuration.

    The sink runs on the same two cores: any CPU the sender spends (DKIM's RSA above all) is CPU the
    sink, the baseline's bottleneck, may not get, so on a busy machine the ratios tend to the ratio
    of these figures rather than to what the sender's own latency allows.
    """

    def __init__(self, sink: int) -> None:
        self.sink = sink
        self.own = self.theirs = 0.0
        self.messages = 0

    def measure(self, messages: int, run: Callable[[], float]) -> float:
        own, theirs = _cpu(self.sink)
        seconds = run()
        own_after, theirs_after = _cpu(self.sink)
        self.own += own_after - own
        self.theirs += theirs_after - theirs
        self.messages += messages
        return seconds

    def __str__(self) -> str:
        per = 1000 / max(1, self.messages)
        return f"{self.own * per:.2f} + {self.theirs * per:.2f}"


def _stolen() -> tuple[int, int]:
    """Ticks the hypervisor took from this machine's CPUs so far, and all ticks (``/proc/stat``)."""
    try:
        ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    return ticks[7], sum(ticks)


def _steal_share(before: tuple[int, int], after: tuple[int, int]) -> str:
    """On a shared virtual machine the host may run others on our cores: the share of time it took
    while the bench ran says whether its figures are this program's or the neighbours'."""
    total = after[1] - before[1]
    if total <= 0:
        return "steal time unknown"
    return f"{(after[0] - before[0]) * 100 / total:.1f}% of CPU time stolen by the host"


def _signing_cost(key_file: Path, data: bytes, count: int = 200) -> tuple[float, float]:
    """Milliseconds of one RSA-2048 signature alone and of signing one message whole (canonicalisation,
    hashes and RSA), on this machine: what DKIM adds to each message, before any contention."""
    signer = dkim.Signer.from_file(key_file, "newsroom.example.pl", "bench")
    started = time.perf_counter()
    for _ in range(count):
        signer.key.sign(data[:600], padding.PKCS1v15(), hashes.SHA256())
    rsa = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(count):
        signer.sign(data, 0)
    whole = time.perf_counter() - started
    return rsa * 1000 / count, whole * 1000 / count


def _disk(directory: Path) -> str:
    """Where the store was, since an fsync costs what the disk makes it cost (nothing on tmpfs)."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return str(directory)
    resolved = str(directory.resolve())
    best = max((m for m in mounts if resolved.startswith(m[1].rstrip("/") + "/")), key=lambda m: len(m[1]))
    return f"store on {best[2]} at {best[1]}"


def _reset(settings: Settings) -> None:
    """Forget the previous round's digest run, so the next one plans and sends it all again."""
    with Store.for_settings(settings) as store, store.transaction() as conn:
        conn.execute("DELETE FROM deliveries")
        conn.execute("DELETE FROM outbox")
        conn.execute("DELETE FROM digest_runs")


#: Commits of the last `_pipeline` run: with FULL each one waits for an fsync of the WAL.
COMMITS = [0]


def _pipeline(settings: Settings, subscribers: int, synchronous: str = "FULL") -> float:
    """Plan and deliver the daily digest; returns the seconds it took.

    ``synchronous``: the store's own FULL, or NORMAL as it was before issue 8, to price FULL in the
    same run (in WAL, FULL syncs the log at every commit: each claim and each batch of outcomes).
    """
    COMMITS[0] = 0

    def count(statement: str) -> None:
        COMMITS[0] += statement.startswith("COMMIT")

    with Store.for_settings(settings) as store:
        store.conn.execute(f"PRAGMA synchronous={synchronous}")
        store.conn.set_trace_callback(count)
        started = time.perf_counter()
        plan = plan_digest(store, settings, "daily", NOW)
        report = asyncio.run(deliver(store, settings, clock=lambda: NOW))
        elapsed = time.perf_counter() - started
    assert plan.planned == report.sent == subscribers, report
    return elapsed


def _fsync_cost(directory: Path, commits: int = 300) -> tuple[float, float]:
    """Milliseconds of one small commit in WAL with synchronous NORMAL and FULL, on the bench's disk."""
    conn = sqlite3.connect(directory / "fsync.db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (a)")
        costs = {}
        for mode in ("NORMAL", "FULL"):
            conn.execute(f"PRAGMA synchronous={mode}")
            started = time.perf_counter()
            for n in range(commits):
                conn.execute("INSERT INTO t VALUES (?)", (n,))  # autocommit: one transaction each
            costs[mode] = (time.perf_counter() - started) / commits * 1000
    finally:
        conn.close()
    return costs["NORMAL"], costs["FULL"]


class _NullTransport:
    """Accepts everything at once: the memory run measures plan, compose and ledger, not SMTP."""

    async def send(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        *,
        ready: Callable[[], Awaitable[object]] | None = None,
    ) -> Accepted:
        if ready is not None:
            await ready()
        return Accepted(250, "OK")


def _sample_message(settings: Settings) -> bytes:
    from newsroom_feed.mail.compose import Composer
    from newsroom_feed.models import OutboxItem

    with Store.for_settings(settings) as store:
        ids = tuple(row[0] for row in store.conn.execute("SELECT id FROM releases ORDER BY id LIMIT 10"))
        item = OutboxItem(1, "digest:daily:2026-11-26T07:00:00Z", "digest", 1, ids, "pending", 0)
        return Composer(settings, store, clock=lambda: NOW).render(item).data


def _peak_rss_kib() -> int:
    """This process's peak resident memory. ``ru_maxrss`` survives exec, so a child started by a big
    parent would report the parent's size; Linux's VmHWM belongs to the new image alone."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_run(directory: str, subscribers: int) -> None:
    """In a child process: fill, plan, compose and record ``subscribers`` digests; print peak RSS."""
    path = Path(directory)
    settings = _settings(path, 9)
    with Store.for_settings(settings) as store:
        _fill(store, subscribers)
    before = _peak_rss_kib()
    with Store.for_settings(settings) as store:
        started = time.perf_counter()
        plan = plan_digest(store, settings, "daily", NOW)
        report = asyncio.run(deliver(store, settings, transport=_NullTransport(), clock=lambda: NOW))
        elapsed = time.perf_counter() - started
    peak = _peak_rss_kib()
    print(f"{plan.planned} {report.sent} {elapsed:.2f} {before / 1024:.1f} {peak / 1024:.1f}", flush=True)


def main() -> None:
    subscribers = int(os.environ.get("BENCH_SUBSCRIBERS", "10000"))
    big = int(os.environ.get("BENCH_MEMORY_SUBSCRIBERS", "100000"))
    sink, port = _start_sink()
    stolen = _stolen()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-delivery-") as scratch:
            settings = _settings(Path(scratch), port)
            disk = _disk(Path(scratch))
            with Store.for_settings(settings) as store:
                _fill(store, subscribers)
            data = _sample_message(settings)
            # Other work on a shared machine moves SMTP throughput by tens of percent from one minute to
            # the next, so the two are interleaved: baseline, pipeline, baseline, pipeline, baseline;
            # each pipeline round is followed by one with synchronous=NORMAL, to price FULL.
            cpu_base, cpu_plain, cpu_signed = (_CpuPerMessage(sink.pid) for _ in range(3))
            half = subscribers // 2
            baseline_seconds = cpu_base.measure(half, lambda: asyncio.run(_baseline(port, data, half)))
            key = Path(scratch) / "dkim.pem"
            dkim.generate_key(key)
            signed = settings.model_copy(
                update={"dkim": settings.dkim.model_copy(update={"private_key_file": key})}
            )
            pipeline_seconds = normal_seconds = signed_seconds = 0.0
            for _ in range(ROUNDS):
                _reset(settings)
                pipeline_seconds += cpu_plain.measure(subscribers, lambda: _pipeline(settings, subscribers))
                baseline_seconds += cpu_base.measure(half, lambda: asyncio.run(_baseline(port, data, half)))
                _reset(settings)
                signed_seconds += cpu_signed.measure(subscribers, lambda: _pipeline(signed, subscribers))
                _reset(settings)
                normal_seconds += _pipeline(settings, subscribers, "NORMAL")
            commit_normal, commit_full = _fsync_cost(Path(scratch))
            rsa_ms, signing_ms = _signing_cost(key, data)
            steal = _steal_share(stolen, _stolen())
        base_rate = (ROUNDS + 1) * (subscribers // 2) / baseline_seconds
        rate = ROUNDS * subscribers / pipeline_seconds
        print(f"message size                       {len(data):>9,} bytes, {CONNECTIONS} connections")
        print(f"host                               {steal} (above a few %, ratios wander)")
        print(f"baseline: aiosmtplib, pre-built    {base_rate:>9,.0f} msgs/s")
        print(
            f"pipeline: plan+compose+ledger+SMTP {rate:>9,.0f} msgs/s  ({ROUNDS} x {subscribers:,} digests)"
        )
        print(f"ratio pipeline / baseline          {rate / base_rate:>9.2f}  (aim >= 0.7)")
        signed_rate = ROUNDS * subscribers / signed_seconds
        print(
            f"pipeline with DKIM signing         {signed_rate:>9,.0f} msgs/s  "
            f"ratio {signed_rate / base_rate:.2f} (aim >= 0.7)"
        )
        print(
            f"CPU per message, ms, sender + sink   baseline {cpu_base}, pipeline {cpu_plain},"
            f" with DKIM {cpu_signed}"
        )
        print(
            f"DKIM alone, ms a message             {signing_ms:.2f} (of which the RSA-2048 signature"
            f" {rsa_ms:.2f})"
        )
        normal_rate = ROUNDS * subscribers / normal_seconds
        print(f"pipeline, synchronous=NORMAL       {normal_rate:>9,.0f} msgs/s  (FULL: the pipeline line)")
        print(
            f"a commit, NORMAL / FULL            {commit_normal:>9.3f} / {commit_full:.3f} ms  "
            f"({COMMITS[0] / subscribers:.2f} commits per message; {disk})"
        )
    finally:
        sink.terminate()
        sink.wait()
    with tempfile.TemporaryDirectory(prefix="bench-delivery-mem-") as scratch:
        code = f"from bench.bench_delivery import memory_run; memory_run({scratch!r}, {big})"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        planned, sent_big, seconds, before, peak = out.stdout.split()
        print(
            f"memory: {int(planned):,} digests planned, composed and recorded (no SMTP)"
            f" in {float(seconds):.1f} s ({int(sent_big) / float(seconds):,.0f} msgs/s);"
            f" max RSS {float(peak):.0f} MB (after filling the store {float(before):.0f} MB; aim < 150 MB)"
        )
