"""A real aiosmtpd server for tests: records every message it accepts, and fails on demand.

Failures are queued per test: `fail_next(451)` answers the next DATA with 451, `drop_next()` closes the
connection in the middle of DATA, as aiosmtplib's own tests inject them.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        with self.server.lock:
            self.server.data_commands += 1
            failure = self.server.failures.popleft() if self.server.failures else None
        if failure == "drop":
            # The protocol (not the session) owns the transport: close it mid-DATA, before any reply.
            assert smtp.transport is not None
            smtp.transport.close()
            return "421 connection dropped by the test"
        if failure is not None:
            return failure
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        with self.server.lock:
            self.server.received.append(
                Received(str(envelope.mail_from), [str(rcpt) for rcpt in envelope.rcpt_tos], content)
            )
        return "250 OK queued"


class LoopListener:
    """An asyncio server on 127.0.0.1 (port 0: the OS picks a free one) in an event loop of its own
    thread, so a test's synchronous code can talk to it: what every aiosmtpd server of the tests runs on."""

    def __init__(self, name: str) -> None:
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    def listen(self, protocol: Callable[[], asyncio.Protocol], host: str = "127.0.0.1") -> None:
        self._thread.start()

        async def listen() -> asyncio.base_events.Server:
            return await self._loop.create_server(protocol, host, 0)

        self._server = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(timeout=10)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


class SmtpServer(LoopListener):
    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__("smtp-server")
        self.host = host
        self.received: list[Received] = []
        self.failures: deque[str] = deque()
        self.data_commands = 0
        self.lock = threading.Lock()

    def start(self) -> None:
        """Listen on port 0 (the OS picks a free port) in a loop of its own thread."""
        handler = _Handler(self)
        self.listen(lambda: SMTP(handler, enable_SMTPUTF8=True, hostname="mx.test.example"), self.host)

    def fail_next(self, code: int, text: str = "failure injected by the test", times: int = 1) -> None:
        with self.lock:
            self.failures.extend([f"{code} {text}"] * times)

    def drop_next(self, times: int = 1) -> None:
        with self.lock:
            self.failures.extend(["drop"] * times)

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [item.message for item in self.received]
