"""Server time of the desk's busiest pages at 10,000 releases and 100,000 subscribers.

The app answers in-process through its ASGI interface (httpx's ASGITransport: no sockets, so the figure
is the server's own time, the one a press officer waits for on top of the network). Each page is asked
for ROUNDS times with a signed-in admin's cookies; p50 and p95 are printed, and the ratio of each p95 to
the baseline measured in the same run: the public subscription form (``GET /subscribe``), a page of the
same app that reads a few rows. The issue's aims: under 50 ms for pages, under 100 ms for search.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.bench_build import _fill, bench_settings
from newsroom_feed.models import utcnow
from newsroom_feed.people import users
from newsroom_feed.store.audit import OPERATOR
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app

RELEASES = 10_000
SUBSCRIBERS = 100_000
ROUNDS = 60
ADMIN = "bench@zmp.example.pl"
PASSWORD = "hasło do pomiarów 2026"


def _subscribers(store: Store, count: int = SUBSCRIBERS) -> None:
    """Subscribers as a long-running newsroom has them: mixed kinds, statuses, a few categories each."""
    kinds, frequencies = ("journalist", "city", "other"), ("immediate", "daily", "weekly")
    statuses = ("active",) * 8 + ("pending", "bounced")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO subscribers (id, email, name, kind, organization, language, frequency, status, "
            "token, consent_source, created_at) VALUES (?, ?, ?, ?, ?, 'pl', ?, ?, ?, 'operator', ?)",
            (
                (n, f"osoba{n}@redakcja{n % 900}.example.pl", f"Osoba {n} Kowalska", kinds[n % 3],
                 f"Redakcja {n % 900}", frequencies[n % 3], statuses[n % 10], f"token-{n:08d}",
                 (start + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"))
                for n in range(1, count + 1)
            ),
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO subscriber_categories (subscriber_id, category_id) VALUES (?, ?)",
            ((n, 1 + n % 6) for n in range(1, count + 1) if n % 4),
        )


async def _timings(client: httpx.AsyncClient, path: str, rounds: int = ROUNDS) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = await client.get(path)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code}")
    return times


async def _measure(root: Path) -> None:
    settings = bench_settings(root)
    with Store.for_settings(settings) as store:
        started = time.perf_counter()
        _fill(store, RELEASES)
        _subscribers(store)
        users.add(store, ADMIN, "admin", utcnow(), OPERATOR, PASSWORD)
        took = time.perf_counter() - started
        print(f"store: {RELEASES:,} releases, {SUBSCRIBERS:,} subscribers ({took:.1f} s)")
        middle = RELEASES // 2
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        page = await client.get("/desk/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        signed = await client.post(
            "/desk/login", data={"email": ADMIN, "password": PASSWORD, "csrf_token": token.group(1)}
        )
        if signed.status_code != 303:
            raise RuntimeError(f"sign-in failed: {signed.status_code}")
        pages = [
            ("baseline: GET /subscribe", "/subscribe", None),
            ("release list, page 1", "/desk/releases", 50),
            ("release list, page 100", "/desk/releases?page=100", 50),
            ("release search (title)", "/desk/releases?q=nr+4321", 100),
            ("release list, status + category", "/desk/releases?status=published&category=kategoria-3", 50),
            ("edit page of a release", f"/desk/releases/{middle}", 50),
            ("subscriber list, page 1", "/desk/subscribers", 50),
            ("subscriber search (address)", "/desk/subscribers?q=osoba4242%40", 100),
            ("subscriber search (organization) + kind", "/desk/subscribers?q=Redakcja+77&kind=city", 100),
        ]
        base = 0.0
        print(f"{'page':44} {'p50 ms':>8} {'p95 ms':>8} {'x base':>7}  aim")
        for label, path, aim in pages:
            await _timings(client, path, 5)  # warm: the first request of a thread opens its store
            times = sorted(await _timings(client, path))
            p50 = statistics.median(times) * 1000
            p95 = times[int(len(times) * 0.95) - 1] * 1000
            if aim is None:
                base = p95
            verdict = "" if aim is None else f"< {aim} ms {'met' if p95 < aim else 'MISSED'}"
            print(f"{label:44} {p50:8.1f} {p95:8.1f} {p95 / base:7.2f}  {verdict}")


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_measure(Path(directory)))


if __name__ == "__main__":
    main()
