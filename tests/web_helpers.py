"""Test helpers for the web app: a real uvicorn server on 127.0.0.1 (port chosen by the OS) in a thread,
raw HTTP requests that no client library normalises, and a CSRF-aware form poster."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn


class ServerThread:
    """uvicorn serving an ASGI app in a thread, as httpx's own tests do."""

    def __init__(self, app: Any) -> None:
        # log_config and log_level None: uvicorn leaves the process's logging alone, so later tests
        # (and their log assertions) see the logging set up as it was.
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=None, log_level=None, access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        self.port = int(self.server.servers[0].sockets[0].getsockname()[1])

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def serve(app: Any) -> Iterator[ServerThread]:
    server = ServerThread(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def raw_get(port: int, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Send the request target exactly as given (no dot-segment removal), return (status, body)."""
    lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def submit(
    client: httpx.Client, page_url: str, data: dict[str, Any], action: str | None = None
) -> httpx.Response:
    """Load a form page (getting the CSRF cookie and token), then post ``data`` as that form would."""
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action or page_url, data={**data, "csrf_token": csrf_token(page.text)})
