"""WebSub publishing: tell the configured hubs that a feed changed (``hub.mode=publish``), with retries.

The daemon calls `ping_hubs` after a build that really changed a feed, never before an embargo lifts (the
feed does not change until then). A hub that is down must not stop the newsroom: failures are logged and
reported in the result, never raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
import structlog

from newsroom_feed.metrics import Metrics
from newsroom_feed.settings import Settings

log = structlog.get_logger(__name__)

#: Answers worth asking again: the hub is overloaded or briefly broken. Other 4xx mean our request is
#: wrong (an unknown topic, say) and asking again would not help.
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Ping:
    """What happened to one (hub, feed) notification."""

    hub: str
    url: str
    ok: bool
    attempts: int
    status: int | None
    error: str | None = None


def feed_url(settings: Settings, path: str) -> str:
    """The public URL of an output: absolute URLs pass, paths are joined to ``NEWSROOM_BASE_URL``."""
    if path.startswith(("http://", "https://")):
        return path
    return f"{settings.base_url}/{path.lstrip('/')}"


async def ping_hubs(
    settings: Settings,
    feed_urls: Iterable[str],
    *,
    attempts: int = 4,
    backoff: float = 0.5,
    timeout: float = 10.0,
    client: httpx.AsyncClient | None = None,
    metrics: Metrics | None = None,
) -> list[Ping]:
    """Notify every hub in ``settings.websub.hubs`` that each feed changed; returns one `Ping` per pair.

    Each (hub, feed) pair is one POST of ``hub.mode=publish&hub.url=<feed>``, since not every hub takes
    several ``hub.url`` values in one request. Timeouts, connection errors, 429 and 5xx are retried up to
    ``attempts`` times, waiting ``backoff`` seconds doubled each time; a hub's ``Retry-After`` (in
    seconds, up to 60) is honoured. Pairs run concurrently. Nothing is raised.
    """
    hubs = list(settings.websub.hubs)
    urls = list(dict.fromkeys(feed_url(settings, url) for url in feed_urls))
    if not hubs or not urls:
        return []
    owned = client is None
    session = client or httpx.AsyncClient(
        timeout=timeout, headers={"User-Agent": "newsroom-feed WebSub publisher"}
    )
    try:
        results = await asyncio.gather(
            *(_ping(session, hub, url, attempts, backoff) for hub in hubs for url in urls)
        )
    finally:
        if owned:
            await session.aclose()
    if metrics is not None:
        for result in results:
            metrics.websub_pings.labels(outcome="ok" if result.ok else "failed").inc()
    return list(results)


async def _ping(client: httpx.AsyncClient, hub: str, url: str, attempts: int, backoff: float) -> Ping:
    status: int | None = None
    error: str | None = None
    delay = backoff
    for attempt in range(1, attempts + 1):
        wait = delay
        try:
            response = await client.post(hub, data={"hub.mode": "publish", "hub.url": url})
        except httpx.HTTPError as failure:
            status, error = None, f"{type(failure).__name__}: {failure}"
        else:
            status = response.status_code
            if response.is_success:
                log.info("websub ping", hub=hub, url=url, status=status, attempts=attempt)
                return Ping(hub, url, True, attempt, status)
            error = f"hub answered {status}: {response.text[:200]}"
            if status not in _RETRY_STATUSES:
                break
            wait = max(delay, _retry_after(response))
        if attempt < attempts:
            await asyncio.sleep(wait)
            delay *= 2
    log.warning("websub ping failed", hub=hub, url=url, status=status, error=error, attempts=attempt)
    return Ping(hub, url, False, attempt, status, error)


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    return min(float(value), 60.0) if value.isdigit() else 0.0
