"""Requests per second for ``GET /feeds/rss.xml`` answered 200 and 304, against plain static servers.

Each server runs in a process of its own and the load comes from another process: a small asyncio
HTTP/1.1 client on keep-alive connections (cheap enough that the server, not the client, is measured).
Baselines, measured in the same run on the same file: Python's ``http.server`` (ThreadingHTTPServer,
HTTP/1.1; its 304 comes from If-Modified-Since) and uvicorn with Starlette's ``StaticFiles`` (the same
server and HTTP parser as the app, so the ratio shows what the app itself costs).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SECONDS = 3.0
CONNECTIONS = 16
FEED_ITEMS = 50


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _feed(root: Path) -> bytes:
    """A realistic feed: 50 items with Polish text, about 60 KB."""
    item = (
        "<item><title>Złote Lajki 2026 wręczone – nagrody dla miast {n}</title>"
        "<link>https://prasa.example.pl/releases/zlote-lajki-{n}/</link>"
        '<guid isPermaLink="false">tag:prasa.example.pl,2026:release/{n}</guid>'
        "<pubDate>Thu, 26 Nov 2026 09:30:00 +0000</pubDate>"
        "<description>Rada Programowa Związku Miast Polskich przyznała nagrody za komunikację "
        "z mieszkańcami. Gratulujemy laureatom i dziękujemy wszystkim zgłoszonym miastom.</description>"
        "<content:encoded><![CDATA[<p>Treść komunikatu numer {n}, z pogrubieniem <strong>ważnych</strong> "
        "informacji i listą:</p><ul><li>Poznań</li><li>Gdańsk</li><li>Kraków</li></ul>]]></content:encoded>"
        "</item>"
    )
    body = "".join(item.format(n=n) for n in range(FEED_ITEMS))
    data = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>Informacje prasowe</title>{body}</channel></rss>\n"
    ).encode()
    (root / "feeds").mkdir(parents=True, exist_ok=True)
    (root / "feeds" / "rss.xml").write_bytes(data)
    return data


# -- servers (each in a process of its own) ---------------------------------------------------------


def _serve_app(directory: str, port: int) -> None:
    import uvicorn

    from newsroom_feed.settings import load_settings
    from newsroom_feed.web import create_app

    base = Path(directory)
    settings = load_settings(
        database=base / "newsroom.db", public_dir=base / "public", secret_key="bench", admin_token="bench"
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="error", access_log=False)


def _serve_starlette(directory: str, port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    app = Starlette(routes=[Mount("/", StaticFiles(directory=str(Path(directory) / "public")))])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def _serve_http_server(directory: str, port: int) -> None:
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Handler(SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Handler, directory=str(Path(directory) / "public"))
    ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever()


# -- the load generator ---------------------------------------------------------------------------------


async def _connection(port: int, request: bytes, deadline: float, expect: int) -> int:
    done = 0
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            if status != expect:
                raise RuntimeError(f"expected {expect}, got {status}")
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length:
                await reader.readexactly(length)
            done += 1
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()
    return done


def _load(port: int, headers: dict[str, str], expect: int, seconds: float, out: Any) -> None:
    lines = [
        "GET /feeds/rss.xml HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def run() -> int:
        deadline = time.perf_counter() + seconds
        counts = await asyncio.gather(
            *(_connection(port, request, deadline, expect) for _ in range(CONNECTIONS))
        )
        return sum(counts)

    started = time.perf_counter()
    total = asyncio.run(run())
    out.put(total / (time.perf_counter() - started))


def _wait_for(port: int, process: multiprocessing.Process) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not process.is_alive():
            raise RuntimeError("the server process exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def _validators(port: int) -> dict[str, str]:
    import httpx

    response = httpx.get(f"http://127.0.0.1:{port}/feeds/rss.xml", headers={"accept-encoding": "identity"})
    response.raise_for_status()
    return {name: response.headers[name] for name in ("etag", "last-modified") if name in response.headers}


def _measure(target: Callable[[str, int], None], directory: str) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    port = _free_port()
    server = context.Process(target=target, args=(directory, port), daemon=True)
    server.start()
    try:
        _wait_for(port, server)
        validators = _validators(port)
        conditional = (
            {"If-None-Match": validators["etag"]}
            if "etag" in validators
            else {"If-Modified-Since": validators["last-modified"]}
        )
        results = {}
        for label, headers, expect in (("200", {}, 200), ("304", conditional, 304)):
            queue = context.Queue()
            loader = context.Process(target=_load, args=(port, headers, expect, SECONDS, queue))
            loader.start()
            results[label] = float(queue.get(timeout=SECONDS + 30))
            loader.join(timeout=10)
        return results
    finally:
        server.terminate()
        server.join(timeout=10)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-http-") as directory:
        size = len(_feed(Path(directory) / "public"))
        print(
            f"GET /feeds/rss.xml ({size // 1024} KB), {CONNECTIONS} keep-alive connections, "
            f"{SECONDS:.0f} s each, {os.cpu_count()} CPUs, load generator in its own process",
            flush=True,
        )
        app = _measure(_serve_app, directory)
        starlette = _measure(_serve_starlette, directory)
        plain = _measure(_serve_http_server, directory)
    print(f"{'server':<34}{'200 req/s':>12}{'304 req/s':>12}")
    for label, figures in (
        ("newsroom-feed app (uvicorn)", app),
        ("baseline: uvicorn + StaticFiles", starlette),
        ("baseline: http.server (threads)", plain),
    ):
        print(f"{label:<34}{figures['200']:>12.0f}{figures['304']:>12.0f}")
    for label, baseline in (("uvicorn + StaticFiles", starlette), ("http.server", plain)):
        ratio_200, ratio_304 = app["200"] / baseline["200"], app["304"] / baseline["304"]
        print(f"app / {label}: 200 {ratio_200:.2f}x, 304 {ratio_304:.2f}x", flush=True)


if __name__ == "__main__":
    sys.exit(main())
