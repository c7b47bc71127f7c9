"""/healthz and /metrics over real HTTP."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from newsroom_feed.mail import outbox
from newsroom_feed.metrics import Metrics
from newsroom_feed.models import utcnow
from newsroom_feed.people import subscriptions
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app

from ..web_helpers import serve


def test_healthz_reports_the_last_build_and_the_outbox_backlog(settings: Settings, store: Store, now) -> None:
    store.save_build_state(store.last_change_id(), now)
    subscriber = subscriptions.add_subscriber(store, {"email": "ania@gazeta.example.pl"}, now)
    outbox.enqueue(store, [outbox.NewMessage(subscriber.id, "confirm:1", "confirmation")], now)
    with serve(create_app(settings)) as running:
        response = httpx.get(f"{running.url}/healthz")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "status": "ok",
        "store": {"reachable": True},
        "last_build": "2026-11-26T09:30:00Z",
        "last_error": None,
        "outbox": {"backlog": 1, "failed": 0},
    }


def test_healthz_says_degraded_after_a_failed_build(settings: Settings, store: Store, now) -> None:
    store.save_build_state(0, now, error="feeds: disk full")
    with serve(create_app(settings)) as running:
        response = httpx.get(f"{running.url}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["last_error"] == "feeds: disk full"


def test_healthz_is_503_when_the_store_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "not-a-database").mkdir()
    settings = load_settings(
        database=tmp_path / "not-a-database", public_dir=tmp_path / "public", secret_key="k"
    )
    with serve(create_app(settings)) as running:
        response = httpx.get(f"{running.url}/healthz")
        assert httpx.get(f"{running.url}/metrics").status_code == 200
    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert response.json()["store"]["reachable"] is False


# -- who sees the details ---------------------------------------------------------------------------

#: What nginx adds to every request it proxies (deploy/nginx-newsroom-feed.conf).
PROXIED = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}


def test_healthz_tells_a_client_behind_the_proxy_only_the_status(
    settings: Settings, store: Store, now
) -> None:
    """nginx connects from 127.0.0.1, but the client it forwards is anyone on the internet."""
    store.save_build_state(0, now, error="feeds: cannot write /var/www/newsroom-feed/feeds/rss.xml")
    with serve(create_app(settings)) as running:
        response = httpx.get(f"{running.url}/healthz", headers=PROXIED)
    assert response.status_code == 200
    assert response.json() == {"status": "degraded"}
    assert response.headers["cache-control"] == "no-store"


def test_healthz_details_need_the_admin_token_behind_the_proxy(settings: Settings, store: Store, now) -> None:
    store.save_build_state(0, now, error="feeds: disk full")
    assert settings.admin_token is not None
    token = settings.admin_token.get_secret_value()
    with serve(create_app(settings)) as running:
        wrong = httpx.get(f"{running.url}/healthz", headers={**PROXIED, "authorization": f"Bearer {token}x"})
        right = httpx.get(f"{running.url}/healthz", headers={**PROXIED, "authorization": f"Bearer {token}"})
    assert wrong.json() == {"status": "degraded"}
    assert right.json()["last_error"] == "feeds: disk full"
    assert right.json()["outbox"] == {"backlog": 0, "failed": 0}


def test_healthz_hides_why_the_store_is_down_from_the_public(tmp_path: Path) -> None:
    (tmp_path / "not-a-database").mkdir()
    settings = load_settings(
        database=tmp_path / "not-a-database", public_dir=tmp_path / "public", secret_key="k"
    )
    with serve(create_app(settings)) as running:
        response = httpx.get(f"{running.url}/healthz", headers={"x-forwarded-for": "198.51.100.20"})
    assert response.status_code == 503
    assert response.json() == {"status": "down"}
    assert "not-a-database" not in response.text


def _outward_address() -> str | None:
    """An address of this machine that is not loopback (connecting a UDP socket sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


def test_healthz_tells_a_client_on_another_address_only_the_status(
    settings: Settings, store: Store, now
) -> None:
    """No proxy in between, but the client is not on loopback: a monitor elsewhere on the network."""
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    store.save_build_state(store.last_change_id(), now)
    config = uvicorn.Config(
        create_app(settings), host=address, port=0, log_config=None, log_level=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        response = httpx.get(f"http://{address}:{port}/healthz")
    finally:
        server.should_exit = True
        thread.join(10)
    assert response.json() == {"status": "ok"}


def test_metrics_expose_builds_deliveries_queue_depth_and_latency(
    settings: Settings, store: Store, now
) -> None:
    metrics = Metrics()
    metrics.builds.labels(outcome="ok").inc()
    metrics.lifts.inc()
    metrics.messages.labels(kind="alert", outcome="sent").inc(3)
    metrics.delivery_seconds.observe(0.02)
    subscriber = subscriptions.add_subscriber(store, {"email": "ania@gazeta.example.pl"}, now)
    outbox.enqueue(store, [outbox.NewMessage(subscriber.id, "confirm:1", "confirmation")], utcnow())
    with serve(create_app(settings, metrics=metrics)) as running:
        httpx.get(f"{running.url}/feeds/rss.xml")
        response = httpx.get(f"{running.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'newsroom_builds_total{outcome="ok"} 1.0' in text
    assert "newsroom_embargo_lifts_total 1.0" in text
    assert 'newsroom_messages_total{kind="alert",outcome="sent"} 3.0' in text
    assert "newsroom_delivery_seconds_bucket" in text
    assert 'newsroom_outbox_depth{status="pending"} 1.0' in text
    assert 'newsroom_http_requests_total{area="static",status="404"} 1.0' in text
    assert 'newsroom_http_request_seconds_bucket{area="static"' in text


def test_two_apps_in_one_process_keep_their_own_metrics(settings: Settings, store: Store) -> None:
    first, second = Metrics(), Metrics()
    first.lifts.inc()
    create_app(settings, metrics=first)
    create_app(settings, metrics=second)
    assert b"newsroom_embargo_lifts_total 1.0" in first.exposition()
    assert b"newsroom_embargo_lifts_total 0.0" in second.exposition()
