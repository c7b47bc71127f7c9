"""Server time of a personal feed (``/my/<token>/…``) at 10,000 releases, against the static public feed.

The app answers in-process through its ASGI interface (httpx's ASGITransport: no sockets, so the figure
is the server's own time), as in bench_desk. For each kind of subscriber (one category, three, every
category) it measures, ROUNDS times each: cold (right after a change to the store, so the document and
the public list it holds are read from the store), a new reader (the first request of a token after
that change: the document is made, the public list of that category mix is shared), warm (the same
token again: the cached bytes, checked against the store's last change and the subscriber's row), and
a warm 304. p50 and p95 are printed, then requests a second of the
warm personal RSS beside those of the static ``/feeds/rss.xml`` in the same run, and their ratio. The
issue's aim: p95 under 20 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.bench_build import NOW, _fill, bench_settings
from newsroom_feed import planner
from newsroom_feed.people import subscriptions
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app, personal

RELEASES = 10_000
ROUNDS = 60
#: Requests of each feed for the requests-a-second comparison.
THROUGHPUT = 400
AIM_MS = 20.0
KINDS = {
    "one category": ["kategoria-3"],
    "three categories": ["kategoria-3", "kategoria-8", "kategoria-15"],
    "every category": [],
}


def _tokens(store: Store, kind: str, categories: list[str]) -> list[str]:
    """ROUNDS + 1 active subscribers of these categories: a fresh token per cold request."""
    found = []
    for n in range(ROUNDS + 1):
        email = f"{kind.replace(' ', '-')}-{n}@redakcja.example.pl"
        someone = subscriptions.add_subscriber(store, {"email": email, "categories": categories}, NOW)
        found.append(personal.feed_token(store, someone.id))
    return found


async def _time(client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    response = await client.get(path, headers=headers)
    took = time.perf_counter() - started
    if response.status_code not in (200, 304):
        raise RuntimeError(f"{path}: {response.status_code}")
    return took


def _line(label: str, times: list[float], base: float | None = None) -> float:
    """Print p50 and p95 (ms) and the p95 against the static feed's (``base``; None: this is it)."""
    times = sorted(times)
    p50 = statistics.median(times) * 1000
    p95 = times[int(len(times) * 0.95) - 1] * 1000
    verdict = "" if base is None else f"< {AIM_MS:.0f} ms {'met' if p95 < AIM_MS else 'MISSED'}"
    print(f"{label:44} {p50:8.2f} {p95:8.2f} {p95 / (base or p95):8.1f}  {verdict}")
    return p95


async def _after_change(client: httpx.AsyncClient, store: Store, path: str, n: int) -> float:
    """A request right after a change to the store (a category's description rewritten, which the
    change log records): nothing cached holds, so the document and its public list are read anew."""
    store.set_category("kategoria-1", "Kategoria 1", f"opis {n}")
    return await _time(client, path)


async def _rate(client: httpx.AsyncClient, path: str) -> float:
    started = time.perf_counter()
    for _ in range(THROUGHPUT):
        await _time(client, path)
    return THROUGHPUT / (time.perf_counter() - started)


async def _measure(root: Path) -> None:
    settings = bench_settings(root)
    with Store.for_settings(settings) as store:
        started = time.perf_counter()
        _fill(store, RELEASES)
        planner.build(store, settings, NOW, full=True, plan_alerts=False)
        tokens = {kind: _tokens(store, kind, categories) for kind, categories in KINDS.items()}
        print(f"store: {RELEASES:,} releases, public site built ({time.perf_counter() - started:.1f} s)")
    app = create_app(settings, clock=lambda: NOW)
    writer = Store.for_settings(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        await _time(client, "/feeds/rss.xml")  # the first request of a thread opens its store
        print(f"{'RSS document':44} {'p50 ms':>8} {'p95 ms':>8} {'x static':>8}  aim")
        base = _line(
            "baseline: static /feeds/rss.xml", [await _time(client, "/feeds/rss.xml") for _ in range(ROUNDS)]
        )
        for kind, found in tokens.items():
            warm_path = f"/my/{found[-1]}/rss.xml"
            cold = [
                await _after_change(client, writer, f"/my/{token}/rss.xml", n)
                for n, token in enumerate(found)
            ]
            _line(f"{kind}, cold (first after a change)", cold[:ROUNDS], base)
            shared = [await _time(client, f"/my/{token}/rss.xml") for token in found[:ROUNDS]]
            _line(f"{kind}, new reader (list shared)", shared, base)
            await _time(client, warm_path)
            warm = [await _time(client, warm_path) for _ in range(ROUNDS)]
            _line(f"{kind}, warm (cached bytes)", warm, base)
            etag = (await client.get(warm_path)).headers["etag"]
            conditional = [await _time(client, warm_path, {"If-None-Match": etag}) for _ in range(ROUNDS)]
            _line(f"{kind}, warm 304", conditional, base)
        static = await _rate(client, "/feeds/rss.xml")
        mine = await _rate(client, f"/my/{tokens['three categories'][-1]}/rss.xml")
        print(f"requests a second: static /feeds/rss.xml {static:,.0f}, personal (warm, three categories) "
              f"{mine:,.0f}; personal / static {mine / static:.2f}")  # fmt: skip
    writer.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-personal-") as directory:
        asyncio.run(_measure(Path(directory)))


if __name__ == "__main__":
    main()
