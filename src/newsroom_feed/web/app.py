"""The FastAPI application: `create_app(settings)` wires the routes, the admin API and the middlewares.

`newsroom-feed run` serves it inside the daemon's event loop; tests serve it with uvicorn in a thread.
The app's own paths (`DYNAMIC_PATHS`): ``/healthz``, ``/metrics``, the subscriber pages (``/subscribe``,
``/confirm/…``, ``/unsubscribe/…``, ``/preferences/…``, ``/_web/web.css``) and ``/api/…`` (the admin
API, behind its token). A GET or HEAD of any other path is a file of the public directory.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from newsroom_feed.metrics import Metrics
from newsroom_feed.settings import Settings
from newsroom_feed.web import account, desk, forms, health, journalists, personal
from newsroom_feed.web.api import create_api
from newsroom_feed.web.security import ApiGate, ASGIApp, Message, Receive, Scope, SecurityHeaders, Send
from newsroom_feed.web.state import WebState
from newsroom_feed.web.static import PublicFiles

MAX_BODY = 2 * 1024 * 1024


def create_app(
    settings: Settings, *, metrics: Metrics | None = None, clock: Callable[[], datetime] | None = None
) -> FastAPI:
    """The web app of one newsroom.

    ``metrics`` is shared with the daemon's other parts so ``/metrics`` shows builds and deliveries too;
    ``clock`` (default: the real UTC time) decides what "now" is for release statuses and consent times.
    """
    state = WebState.build(settings, metrics or Metrics(), clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.stores.close()

    app = FastAPI(
        title="newsroom-feed",
        # Forms and release documents are small; this bounds what a client can make us read.
        max_body_size=MAX_BODY,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.web = state
    app.state.personal_feeds = personal.PersonalFeeds(settings)
    app.include_router(health.router)
    app.include_router(forms.router)
    app.include_router(journalists.router)
    app.include_router(account.router)
    app.include_router(personal.router)
    desk.install(app, state)
    app.mount("/api", create_api(state))
    # Added last is outermost: security headers go on every answer, including the gate's 401s.
    app.add_middleware(StaticFirst, files=PublicFiles(settings))
    app.add_middleware(ApiGate, token=settings.admin_token)
    app.add_middleware(RequestMetrics, metrics=state.metrics)
    app.add_middleware(SecurityHeaders)
    return app


#: Paths (exact, or as a prefix with a slash after them) answered by the app's routes, not the files.
DYNAMIC_PATHS = (
    "/api",
    "/subscribe",
    "/confirm",
    "/unsubscribe",
    "/preferences",
    "/_web",
    "/healthz",
    "/metrics",
    "/desk",
    "/my",
    "/journalists",
)


def is_dynamic(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in DYNAMIC_PATHS)


class StaticFirst:
    """GET and HEAD of anything but the app's own routes go straight to the public files.

    Feed polls are most of the traffic; answering them before the framework's router and dependency
    machinery cuts their in-process cost about tenfold (about 30 µs for a 200 or a 304; see
    ``bench/bench_http.py`` for what that gives over real HTTP).
    """

    def __init__(self, app: ASGIApp, files: PublicFiles) -> None:
        self.app = app
        self.files = files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and not is_dynamic(scope["path"]):
            await self.files(scope, receive, send)
            return
        await self.app(scope, receive, send)


class RequestMetrics:
    """Counts answers and their latency by area (a fixed, small label set: no per-URL series)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._counters: dict[tuple[str, int], Any] = {}
        self._timers = {area: metrics.http_seconds.labels(area=area) for area in AREAS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            area = area_of(scope.get("path", ""))
            counter = self._counters.get((area, status))
            if counter is None:
                counter = self._counters[(area, status)] = self.metrics.http_requests.labels(
                    area=area, status=str(status)
                )
            counter.inc()
            self._timers[area].observe(time.perf_counter() - started)


AREAS = ("api", "healthz", "metrics", "forms", "desk", "static")


def area_of(path: str) -> str:
    if path.startswith("/api"):
        return "api"
    if path in ("/healthz", "/metrics"):
        return path[1:]
    if path.startswith(forms.FORM_PREFIXES):
        return "forms"
    if path == "/desk" or path.startswith("/desk/"):
        return "desk"
    return "static"
