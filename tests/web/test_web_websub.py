"""WebSub publish pings against a local HTTP server standing in for a hub."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from newsroom_feed.metrics import Metrics
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.site.websub import ping_hubs


class Hub:
    """Records every publish ping; answers with the statuses queued in ``answers`` (then 204)."""

    def __init__(self) -> None:
        self.pings: list[dict[str, list[str]]] = []
        self.content_types: list[str] = []
        self.answers: list[int] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length).decode()
                hub.pings.append(parse_qs(body))
                hub.content_types.append(self.headers.get("content-type", ""))
                status = hub.answers.pop(0) if hub.answers else 204
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Hub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[Hub]:
    with Hub() as running:
        yield running


def hub_settings(tmp_path: Path, *hubs: str) -> Settings:
    return load_settings(
        database=tmp_path / "db.sqlite",
        base_url="https://prasa.example.pl",
        secret_key="k",
        websub={"hubs": list(hubs)},
    )


async def test_each_changed_feed_is_announced_to_the_hub(hub: Hub, tmp_path: Path) -> None:
    metrics = Metrics()
    results = await ping_hubs(
        hub_settings(tmp_path, hub.url), ["feeds/rss.xml", "/feeds/kultura/atom.xml"], metrics=metrics
    )
    assert [result.ok for result in results] == [True, True]
    assert sorted(ping["hub.url"][0] for ping in hub.pings) == [
        "https://prasa.example.pl/feeds/kultura/atom.xml",
        "https://prasa.example.pl/feeds/rss.xml",
    ]
    assert all(ping["hub.mode"] == ["publish"] for ping in hub.pings)
    assert all(kind == "application/x-www-form-urlencoded" for kind in hub.content_types)
    assert b'newsroom_websub_pings_total{outcome="ok"} 2.0' in metrics.exposition()


async def test_a_busy_hub_is_asked_again(hub: Hub, tmp_path: Path) -> None:
    hub.answers = [503, 429]
    [result] = await ping_hubs(hub_settings(tmp_path, hub.url), ["feeds/rss.xml"], backoff=0.01)
    assert result.ok
    assert result.attempts == 3
    assert len(hub.pings) == 3


async def test_a_refusing_hub_is_not_asked_again(hub: Hub, tmp_path: Path) -> None:
    hub.answers = [400]
    [result] = await ping_hubs(hub_settings(tmp_path, hub.url), ["feeds/rss.xml"], backoff=0.01)
    assert not result.ok
    assert (result.status, result.attempts) == (400, 1)
    assert len(hub.pings) == 1


async def test_a_hub_that_is_down_gives_up_quietly_and_others_still_get_the_ping(
    hub: Hub, tmp_path: Path
) -> None:
    results = await ping_hubs(
        hub_settings(tmp_path, "http://127.0.0.1:9/", hub.url), ["feeds/rss.xml"], attempts=2, backoff=0.01
    )
    down, up = results
    assert (down.ok, down.attempts, down.status) == (False, 2, None)
    assert down.error
    assert up.ok
    assert len(hub.pings) == 1


async def test_no_hubs_configured_means_no_requests(tmp_path: Path) -> None:
    assert await ping_hubs(hub_settings(tmp_path), ["feeds/rss.xml"]) == []
