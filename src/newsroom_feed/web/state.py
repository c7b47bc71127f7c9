"""What every request handler shares: settings, metrics, a store per worker thread, limits, CSRF tokens.

A `Store` wraps one sqlite3 connection, which must not be used by two threads at once; handlers run in
a pool of worker threads, so each thread opens its own connection the first time it needs one (WAL lets
them read side by side). The schema is brought up to date once, by the first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from starlette.requests import Request

from newsroom_feed.metrics import Metrics
from newsroom_feed.models import utcnow
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store
from newsroom_feed.web.security import CsrfTokens, RateLimiter


class Stores:
    """One `Store` per thread, all closed together when the app stops."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()
        self._opened: list[Store] = []
        self._lock = threading.Lock()
        self._migrated = False

    def get(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            with self._lock:
                store = Store.for_settings(self.settings, migrate=not self._migrated)
                self._migrated = True
                self._opened.append(store)
            self._local.store = store
        return store

    def close(self) -> None:
        with self._lock:
            for store in self._opened:
                store.close()
            self._opened.clear()
            self._migrated = False
        self._local = threading.local()


@dataclass
class WebState:
    settings: Settings
    metrics: Metrics
    stores: Stores
    csrf: CsrfTokens
    #: Subscribe attempts per client per hour (NEWSROOM_HTTP__SUBSCRIBE_PER_HOUR); a client is an IPv4
    #: address or an IPv6 /64 (`security.client_key`).
    subscribe_limit: RateLimiter
    #: Any form POST per client per minute (NEWSROOM_HTTP__POSTS_PER_MINUTE).
    post_limit: RateLimiter
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def build(cls, settings: Settings, metrics: Metrics, clock: Callable[[], datetime] | None) -> WebState:
        return cls(
            settings=settings,
            metrics=metrics,
            stores=Stores(settings),
            csrf=CsrfTokens(settings.signing_key()),
            subscribe_limit=RateLimiter(settings.http.subscribe_per_hour, 3600.0),
            post_limit=RateLimiter(settings.http.posts_per_minute, 60.0),
            clock=clock or utcnow,
        )


def state_of(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def client_address(request: Request) -> str:
    """The client's address as the server saw it: uvicorn applies X-Forwarded-For itself, from the
    proxies in NEWSROOM_HTTP__TRUSTED_PROXIES only (the daemon hands them over as forwarded_allow_ips)."""
    return request.client.host if request.client else "unknown"
