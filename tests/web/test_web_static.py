"""The public directory over real HTTP: content types, conditional GET, gzip, HEAD, indexes, no traversal."""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from newsroom_feed.settings import Settings
from newsroom_feed.web import create_app, static

from ..conftest import make_settings
from ..web_helpers import ServerThread, raw_get, serve

RSS_BYTES = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Informacje prasowe</title>'
    + "<item><title>Złote Lajki 2026 wręczone</title></item>" * 40
    + "</channel></rss>\n"
).encode()


@pytest.fixture
def hub_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, websub={"hubs": ["https://hub.example.net/"]})


@pytest.fixture
def public(hub_settings: Settings) -> Path:
    root = hub_settings.public_dir
    (root / "feeds" / "kultura").mkdir(parents=True)
    (root / "releases" / "zlote-lajki").mkdir(parents=True)
    (root / "feeds" / "rss.xml").write_bytes(RSS_BYTES)
    (root / "feeds" / "atom.xml").write_bytes(
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"/>'
    )
    (root / "feeds" / "feed.json").write_text('{"version": "https://jsonfeed.org/version/1.1"}')
    (root / "feeds" / "kultura" / "rss.xml").write_bytes(RSS_BYTES)
    (root / "index.html").write_text("<!DOCTYPE html><title>Start</title>", encoding="utf-8")
    (root / "releases" / "zlote-lajki" / "index.html").write_text(
        "<!DOCTYPE html><title>Złote Lajki</title>", encoding="utf-8"
    )
    (root / "feeds" / ".rss.xml.tmp").write_text("half-written")
    return root


@pytest.fixture
def server(hub_settings: Settings, public: Path) -> Iterator[ServerThread]:
    with serve(create_app(hub_settings)) as running:
        yield running


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    # httpx asks for gzip by default; the tests say what they accept.
    with httpx.Client(base_url=server.url, headers={"accept-encoding": "identity"}) as opened:
        yield opened


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/feeds/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/feeds/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/feeds/feed.json", "application/feed+json; charset=utf-8"),
        ("/feeds/kultura/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
    ],
)
def test_outputs_are_served_with_their_media_types(client: httpx.Client, path: str, media_type: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type


def test_feed_has_a_strong_etag_of_its_content_and_a_short_cache_lifetime(client: httpx.Client) -> None:
    response = client.get("/feeds/rss.xml")
    assert response.content == RSS_BYTES
    assert response.headers["etag"] == f'"{hashlib.sha256(RSS_BYTES).hexdigest()[:32]}"'
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["last-modified"].endswith("GMT")


def test_matching_if_none_match_answers_304_without_a_body(client: httpx.Client) -> None:
    etag = client.get("/feeds/rss.xml").headers["etag"]
    response = client.get("/feeds/rss.xml", headers={"if-none-match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert "content-length" not in response.headers  # RFC 9110: a 304 must not say 0 for a feed
    assert response.headers["etag"] == etag
    weak = client.get("/feeds/rss.xml", headers={"if-none-match": f'"other", W/{etag}'})
    assert weak.status_code == 304


def test_a_304_on_the_wire_has_no_content_length_and_keeps_the_connection(server: ServerThread) -> None:
    etag = httpx.get(f"{server.url}/feeds/rss.xml", headers={"accept-encoding": "identity"}).headers["etag"]
    request = (
        f"GET /feeds/rss.xml HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: {etag}\r\n\r\n"
        "GET /feeds/rss.xml HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request)
        received = b"".join(iter(lambda: sock.recv(65536), b""))
    first, _, rest = received.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 304 ")
    assert b"content-length" not in first.lower()
    assert b"transfer-encoding" not in first.lower()
    # The next answer follows at once: the client knew the 304 had no body.
    assert rest.startswith(b"HTTP/1.1 200 ")
    assert rest.endswith(RSS_BYTES)


def test_if_modified_since_answers_304_until_the_feed_changes(client: httpx.Client, public: Path) -> None:
    first = client.get("/feeds/rss.xml")
    since = first.headers["last-modified"]
    assert client.get("/feeds/rss.xml", headers={"if-modified-since": since}).status_code == 304
    feed = public / "feeds" / "rss.xml"
    feed.write_bytes(RSS_BYTES.replace(b"2026", b"2027"))
    later = feed.stat().st_mtime + 5
    os.utime(feed, (later, later))
    changed = client.get("/feeds/rss.xml", headers={"if-modified-since": since})
    assert changed.status_code == 200
    assert b"2027" in changed.content
    assert changed.headers["etag"] != first.headers["etag"]


def test_an_etag_that_no_longer_matches_gets_the_new_content(client: httpx.Client, public: Path) -> None:
    etag = client.get("/feeds/rss.xml").headers["etag"]
    (public / "feeds" / "rss.xml").write_bytes(b"<rss version='2.0'><channel/></rss>")
    response = client.get("/feeds/rss.xml", headers={"if-none-match": etag})
    assert response.status_code == 200
    assert response.content == b"<rss version='2.0'><channel/></rss>"


def test_if_none_match_wins_over_if_modified_since(client: httpx.Client) -> None:
    response = client.get(
        "/feeds/rss.xml",
        headers={"if-none-match": '"stale"', "if-modified-since": formatdate(4102444800, usegmt=True)},
    )
    assert response.status_code == 200


def test_head_answers_the_headers_of_get_without_a_body(client: httpx.Client) -> None:
    got = client.get("/feeds/rss.xml")
    head = client.head("/feeds/rss.xml")
    assert head.status_code == 200
    assert head.content == b""
    for name in ("etag", "content-type", "content-length", "last-modified", "cache-control"):
        assert head.headers[name] == got.headers[name]


def test_gzip_goes_to_clients_that_ask_with_an_etag_of_its_own(client: httpx.Client) -> None:
    plain = client.get("/feeds/rss.xml")
    zipped = client.get("/feeds/rss.xml", headers={"accept-encoding": "br, gzip;q=0.8"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == RSS_BYTES  # httpx decodes it
    assert int(zipped.headers["content-length"]) < len(RSS_BYTES)
    assert "Accept-Encoding" in zipped.headers["vary"]
    assert "Accept-Encoding" in plain.headers["vary"]
    assert zipped.headers["etag"] != plain.headers["etag"]
    again = client.get(
        "/feeds/rss.xml", headers={"accept-encoding": "gzip", "if-none-match": zipped.headers["etag"]}
    )
    assert again.status_code == 304
    # The compressed variant's tag does not validate the identity variant, nor the other way round.
    assert client.get("/feeds/rss.xml", headers={"if-none-match": zipped.headers["etag"]}).status_code == 200


def test_gzip_refused_with_q_zero_is_not_sent(client: httpx.Client) -> None:
    response = client.get("/feeds/rss.xml", headers={"accept-encoding": "gzip;q=0, *;q=1"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.content == RSS_BYTES


def test_raw_gzip_bytes_decompress_to_the_feed(server: ServerThread) -> None:
    status, body = raw_get(server.port, "/feeds/rss.xml", {"Accept-Encoding": "gzip"})
    assert status == 200
    assert gzip.decompress(body) == RSS_BYTES


def test_feed_responses_carry_websub_hub_and_self_links(client: httpx.Client) -> None:
    link = client.get("/feeds/kultura/rss.xml").headers["link"]
    assert '<https://hub.example.net/>; rel="hub"' in link
    assert '<https://prasa.example.pl/feeds/kultura/rss.xml>; rel="self"' in link


def test_release_directory_serves_its_index_page(client: httpx.Client) -> None:
    response = client.get("/releases/zlote-lajki/")
    assert response.status_code == 200
    assert "Złote Lajki" in response.text
    moved = client.get("/releases/zlote-lajki")
    assert moved.status_code == 301
    assert moved.headers["location"] == "/releases/zlote-lajki/"


def test_missing_file_is_a_plain_404(client: httpx.Client) -> None:
    assert client.get("/feeds/nie-ma.xml").status_code == 404
    assert client.get("/feeds/rss.xml/").status_code == 404


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/feeds/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/feeds/%2E%2E/%2e%2e/secret.txt",
        "/feeds/..%2f..%2fsecret.txt",
        "/..%5c..%5csecret.txt",
        "//etc/passwd",
        "/%2fetc/passwd",
        "/feeds/.rss.xml.tmp",
        "/link-out.txt",
        "/linked-dir/secret.txt",
    ],
)
def test_no_path_outside_the_public_directory_can_be_read(
    server: ServerThread, public: Path, tmp_path: Path, target: str
) -> None:
    secret = tmp_path / "var" / "secret.txt"
    secret.write_text("TOP-SECRET")
    (tmp_path / "var" / "outside").mkdir()
    (tmp_path / "var" / "outside" / "secret.txt").write_text("TOP-SECRET")
    (public / "link-out.txt").symlink_to(secret)
    (public / "linked-dir").symlink_to(tmp_path / "var" / "outside")
    status, body = raw_get(server.port, target)
    assert status in (400, 404)
    assert b"TOP-SECRET" not in body
    assert b"root:" not in body


def test_an_unchanged_file_is_served_from_memory_not_read_and_hashed_again(
    hub_settings: Settings, public: Path
) -> None:
    """Feed readers poll every few minutes: a file whose size and mtime did not change is answered from
    the bytes and ETag read the first time. Shown by changing its bytes behind the server's back (same
    size, same mtime, which no publish does: it replaces the file), after which the old bytes are
    still served."""
    feed = public / "feeds" / "rss.xml"
    with serve(create_app(hub_settings)) as running, httpx.Client(base_url=running.url) as client:
        first = client.get("/feeds/rss.xml")
        stat = feed.stat()
        feed.write_bytes(bytes(reversed(RSS_BYTES)))
        os.utime(feed, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        for _ in range(3):
            again = client.get("/feeds/rss.xml", headers={"if-none-match": first.headers["etag"]})
            assert again.status_code == 304
        served = client.get("/feeds/rss.xml")
    assert served.content == first.content == RSS_BYTES
    assert served.headers["etag"] == first.headers["etag"]


def test_security_headers_are_on_every_response(client: httpx.Client) -> None:
    for path in ("/feeds/rss.xml", "/nie-ma", "/subscribe", "/api/releases"):
        headers = client.get(path).headers
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"


def test_large_files_are_streamed_with_the_same_validators(
    hub_settings: Settings, public: Path, client: httpx.Client
) -> None:
    big = os.urandom(static.MEMORY_LIMIT + 10)
    (public / "archive.bin").write_bytes(big)
    response = client.get("/archive.bin")
    assert response.content == big
    assert response.headers["etag"] == f'"{hashlib.sha256(big).hexdigest()[:32]}"'
    again = client.get("/archive.bin", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304
    assert "content-length" not in again.headers
