"""``/healthz`` for load balancers and operators, ``/metrics`` for Prometheus.

``/healthz`` answers 503 only when the store cannot be read: a failed build or a mail backlog is worth
seeing (``status: degraded``) but the app still serves feeds and forms, so a balancer should keep it.

The public gets only ``{"status": "ok" | "degraded" | "down"}``: a build error or a store error can
quote paths, addresses and SQL, and counts tell an outsider how big the list is and when mail goes out.
The details go to a caller with the admin token, or to a client on this machine that did not come
through a proxy (an operator's ``curl http://127.0.0.1:8000/healthz``, a local monitoring agent).
Under the daemon the details also carry ``mail``: the findings of the mail pre-flight it ran at start
(`mail.preflight`; ``findings`` null while it runs). A DNS problem does not make the service degraded:
feeds and forms work, and the mail still leaves.
"""

from __future__ import annotations

import ipaddress
import sqlite3
from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from newsroom_feed.errors import NewsroomError
from newsroom_feed.mail import outbox
from newsroom_feed.mail.preflight import PreflightResult
from newsroom_feed.metrics import CONTENT_TYPE
from newsroom_feed.models import OutboxStatus, iso
from newsroom_feed.web.security import bearer_matches
from newsroom_feed.web.state import state_of

router = APIRouter()

_STATUSES = get_args(OutboxStatus)

#: A request carrying any of these came through a proxy (nginx sets X-Forwarded-For): the proxy's
#: loopback address says nothing about the client, who may be anywhere.
_PROXY_HEADERS = frozenset({b"x-forwarded-for", b"forwarded", b"x-real-ip"})


@router.get("/healthz", include_in_schema=False)
def healthz(request: Request) -> JSONResponse:
    web = state_of(request)
    report: dict[str, Any] = {"status": "ok", "store": {"reachable": True}}
    try:
        store = web.stores.get()
        state = store.build_state()
        last_error = state.last_error
        by_status = {status: sum(kinds.values()) for status, kinds in outbox.counts(store).items()}
        report["last_build"] = iso(state.built_at) if state.built_at else None
        report["last_error"] = last_error
        report["outbox"] = {
            "backlog": by_status.get("pending", 0) + by_status.get("sending", 0),
            "failed": by_status.get("failed", 0),
        }
    except (sqlite3.Error, NewsroomError) as error:
        report = {"status": "down", "store": {"reachable": False, "error": str(error)}}
        return _answer(request, report, 503)
    if last_error:
        report["status"] = "degraded"
    # Set by the daemon on the app it serves; an app without a daemon has no pre-flight to show.
    preflight = getattr(request.app.state, "mail_preflight", None)
    if isinstance(preflight, PreflightResult):
        report["mail"] = preflight.to_json()
    return _answer(request, report, 200)


def _answer(request: Request, report: dict[str, Any], status_code: int) -> JSONResponse:
    if not may_see_details(request):
        report = {"status": report["status"]}
    return JSONResponse(report, status_code=status_code, headers={"cache-control": "no-store"})


def may_see_details(request: Request) -> bool:
    """The admin token, or a loopback client that no proxy forwarded.

    Behind nginx every request arrives from 127.0.0.1, so a forwarding header disqualifies the request
    whatever address uvicorn settled on.
    """
    token = state_of(request).settings.admin_token
    secret = token.get_secret_value().encode() if token is not None else b""
    if secret and bearer_matches(request.scope, secret):
        return True
    if any(name in _PROXY_HEADERS for name, _ in request.scope.get("headers", ())):
        return False
    return _is_loopback(request.client.host if request.client else "")


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a unix socket or a test transport: not known to be this machine
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


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
