"""``/healthz`` for load balancers and operators, ``/metrics`` for Prometheus.

``/healthz`` answers 503 only when the store cannot be read: a failed build or a mail backlog is worth
seeing (``status: degraded``) but the app still serves feeds and forms, so a balancer should keep it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from newsroom_feed import outbox
from newsroom_feed.errors import NewsroomError
from newsroom_feed.metrics import CONTENT_TYPE
from newsroom_feed.models import iso
from newsroom_feed.web.state import state_of

router = APIRouter()

_STATUSES = ("pending", "sending", "sent", "failed")


@router.get("/healthz", include_in_schema=False)
def healthz(request: Request) -> JSONResponse:
    web = state_of(request)
    report: dict[str, Any] = {"status": "ok", "store": {"reachable": True}}
    try:
        store = web.stores.get()
        store.conn.execute("SELECT 1").fetchone()
        state = store.build_state()
        last_error = store.conn.execute("SELECT last_error FROM build_state WHERE id = 1").fetchone()[0]
        failed = store.conn.execute("SELECT count(*) FROM outbox WHERE status = 'failed'").fetchone()[0]
        report["last_build"] = iso(state.built_at) if state.built_at else None
        report["last_error"] = last_error
        report["outbox"] = {"backlog": outbox.waiting(store), "failed": int(failed)}
    except (sqlite3.Error, NewsroomError) as error:
        report = {"status": "down", "store": {"reachable": False, "error": str(error)}}
        return JSONResponse(report, status_code=503, headers={"cache-control": "no-store"})
    if last_error:
        report["status"] = "degraded"
    return JSONResponse(report, headers={"cache-control": "no-store"})


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    web = state_of(request)
    try:
        store = web.stores.get()
        counts = dict.fromkeys(_STATUSES, 0)
        for status, by_kind in outbox.counts(store).items():
            counts[status] = sum(by_kind.values())
        for status, count in counts.items():
            web.metrics.outbox_depth.labels(status=status).set(count)
    except (sqlite3.Error, NewsroomError):
        pass  # the store's state is /healthz's business; the counters are still worth scraping
    return Response(web.metrics.exposition(), media_type=CONTENT_TYPE, headers={"cache-control": "no-store"})
