"""/healthz and /metrics over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx

from newsroom_feed import outbox, subscriptions
from newsroom_feed.metrics import Metrics
from newsroom_feed.models import utcnow
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.store import Store
from newsroom_feed.web import create_app

from .web_helpers import serve


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
