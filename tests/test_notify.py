"""The systemd notify protocol (``Type=notify``): datagrams on a real unix socket, from the `Notifier`
and from `newsroom-feed run` as a subprocess (READY=1, WATCHDOG=1, STOPPING=1)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from newsroom_feed.models import ReleaseInput, utcnow
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store
from newsroom_feed.systemd import Notifier

from .smtp_server import SmtpServer


@contextlib.contextmanager
def systemd_socket(abstract: bool = False) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's notify socket; yields it and its NOTIFY_SOCKET value."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    folder = None
    try:
        if abstract:
            name = f"newsroom-feed-test-{os.getpid()}-{secrets.token_hex(4)}"
            listener.bind("\0" + name)
            yield listener, "@" + name
        else:
            # A unix socket path is limited to 108 bytes; pytest's tmp_path can be longer.
            folder = tempfile.mkdtemp(prefix="nf-", dir="/tmp")
            path = f"{folder}/notify"
            listener.bind(path)
            yield listener, path
    finally:
        listener.close()
        if folder is not None:
            with contextlib.suppress(OSError):
                os.unlink(f"{folder}/notify")
            os.rmdir(folder)


def received(listener: socket.socket, timeout: float = 2.0) -> str:
    listener.settimeout(timeout)
    return listener.recv(4096).decode("utf-8")


# -- the notifier ------------------------------------------------------------------------------------


def test_ready_reaches_the_socket_named_by_notify_socket() -> None:
    with systemd_socket() as (listener, address):
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": address})
        assert notifier.ready("Serving http://127.0.0.1:8000/")
        assert received(listener) == "READY=1\nSTATUS=Serving http://127.0.0.1:8000/"
        notifier.close()


def test_an_abstract_socket_name_starting_with_at_is_reached() -> None:
    with systemd_socket(abstract=True) as (listener, address):
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": address})
        assert notifier.stopping("Stopping: finishing mail in flight")
        assert received(listener) == "STOPPING=1\nSTATUS=Stopping: finishing mail in flight"
        notifier.close()


def test_a_status_with_a_line_break_stays_one_status_line() -> None:
    """A build error quoted in STATUS= must not inject a second assignment such as READY=1."""
    with systemd_socket() as (listener, address):
        notifier = Notifier(address)
        notifier.status("Degraded: build failed\nREADY=1")
        assert received(listener) == "STATUS=Degraded: build failed READY=1"
        notifier.close()


def test_without_systemd_nothing_is_sent_and_nothing_fails() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert notifier.ready("Serving") is False
    assert notifier.watchdog_interval is None


def test_a_vanished_notify_socket_does_not_stop_the_service() -> None:
    notifier = Notifier("/tmp/nf-no-such-directory/notify")
    assert notifier.status("Serving") is False
    assert notifier.watchdog() is False
    notifier.close()


def test_the_watchdog_is_pinged_at_half_of_watchdog_usec() -> None:
    with systemd_socket() as (listener, address):
        notifier = Notifier.from_environment(
            {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())}
        )

        async def for_a_while() -> None:
            pinging = asyncio.ensure_future(notifier.keep_alive())
            await asyncio.sleep(0.35)  # pings at 0, 0.1, 0.2 and 0.3 s
            pinging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinging

        asyncio.run(for_a_while())
        notifier.close()
        pings: list[str] = []
        drain(listener, pings)
    assert set(pings) == {"WATCHDOG=1"}
    assert 3 <= len(pings) <= 5


def test_a_watchdog_meant_for_another_process_is_not_pinged() -> None:
    notifier = Notifier.from_environment(
        {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid() + 1)}
    )
    assert notifier.watchdog_interval is None


# -- the daemon under a make-believe systemd -----------------------------------------------------------


def collect_until(
    listener: socket.socket, messages: list[str], done: Callable[[str], bool], timeout: float
) -> str:
    """Receive datagrams into ``messages`` until one satisfies ``done``; returns that one."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"not within {timeout} s; received: {messages}")
        listener.settimeout(left)
        try:
            message = listener.recv(4096).decode("utf-8")
        except TimeoutError:
            continue
        messages.append(message)
        if done(message):
            return message


def drain(listener: socket.socket, messages: list[str]) -> None:
    """Every datagram already waiting, into ``messages``."""
    listener.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:
            messages.append(listener.recv(4096).decode("utf-8"))


@pytest.mark.slow
def test_run_says_ready_once_it_serves_keeps_the_watchdog_and_says_stopping_on_sigterm(
    settings: Settings, store: Store, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    store.add_release(ReleaseInput.parse({"title": "Złote Lajki 2026 wręczone"}), utcnow())
    assert settings.secret_key is not None and settings.admin_token is not None
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSROOM_")}
    env.update(
        NEWSROOM_DATABASE=str(settings.database),
        NEWSROOM_PUBLIC_DIR=str(settings.public_dir),
        NEWSROOM_BASE_URL=settings.base_url,
        NEWSROOM_SECRET_KEY=settings.secret_key.get_secret_value(),
        NEWSROOM_ADMIN_TOKEN=settings.admin_token.get_secret_value(),
        NEWSROOM_SMTP__PORT=str(smtp_server.port),
        NEWSROOM_HTTP__PORT="0",
        NEWSROOM_LOG_FORMAT="json",
        WATCHDOG_USEC="400000",
    )
    messages: list[str] = []
    with systemd_socket(abstract=True) as (listener, address), open(tmp_path / "daemon.log", "w") as log:
        env["NOTIFY_SOCKET"] = address
        process = subprocess.Popen(
            [sys.executable, "-m", "newsroom_feed.cli", "run"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            ready = collect_until(listener, messages, lambda m: "READY=1" in m.splitlines(), 30.0)
            # Ready means ready: the web app answers and the first build has published the release.
            found = re.search(r"^STATUS=Serving (http://\S+/)$", ready, re.MULTILINE)
            assert found, ready
            assert httpx.get(f"{found.group(1)}healthz", timeout=5).json()["status"] == "ok"
            feed = settings.public_dir / "feeds" / "rss.xml"
            assert "Złote Lajki 2026 wręczone" in feed.read_text(encoding="utf-8")

            after_ready = len(messages)
            time.sleep(1.0)  # the watchdog at 0.2 s: about five pings
            drain(listener, messages)
            assert messages[after_ready:].count("WATCHDOG=1") >= 3

            process.send_signal(signal.SIGTERM)
            collect_until(listener, messages, lambda m: "STOPPING=1" in m.splitlines(), 10.0)
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    assert "STATUS=Starting: first build" in messages[: messages.index(ready)]
