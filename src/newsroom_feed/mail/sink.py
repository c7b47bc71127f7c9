"""`newsroom-feed mailsink`: a real SMTP server (aiosmtpd) that stores every message it accepts in a Maildir.

For the demo and for people trying the service without a relay: point ``NEWSROOM_SMTP__HOST``/``PORT`` at
it and open the Maildir with any mail client (mutt -f var/mail) or read the files in ``var/mail/new``.
"""

from __future__ import annotations

import asyncio
import mailbox
import signal
from collections.abc import Callable
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

#: Larger messages are refused with 552, as a relay would; generous for a release with a long body.
DATA_SIZE_LIMIT = 25 * 1024 * 1024


class MaildirHandler:
    """Delivers each accepted message into a Maildir, with the envelope kept as Return-Path and
    Delivered-To headers, as a local delivery agent does.

    A message that cannot be stored is answered ``451`` (try again later), never 5xx: the sender keeps
    it queued instead of failing it and counting a bounce against a subscriber who did nothing wrong.
    """

    def __init__(self, maildir: Path) -> None:
        # `mailbox.Maildir(create=True)` makes tmp/new/cur only when it creates the directory itself;
        # an existing empty directory (made by hand, or by a deploy script) would refuse every message.
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(maildir, create=False)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        trace = f"Return-Path: <{envelope.mail_from}>\r\nDelivered-To: {', '.join(envelope.rcpt_tos)}\r\n"
        try:
            # Maildir files use the local line ending; SMTP carries CRLF.
            key = self.maildir.add((trace.encode("utf-8") + content).replace(b"\r\n", b"\n"))
        except (OSError, mailbox.Error) as error:
            return f"451 4.3.0 cannot store the message now: {error.__class__.__name__}"
        return f"250 OK stored as {key}"


async def serve(
    host: str,
    port: int,
    maildir: Path,
    stop: asyncio.Event,
    *,
    ready: Callable[[str, int], None] | None = None,
) -> None:
    """Listen on ``host:port`` (0: a free port, reported to ``ready``) until ``stop`` is set."""
    handler = MaildirHandler(maildir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="mailsink.localhost",
            enable_SMTPUTF8=True,
            data_size_limit=DATA_SIZE_LIMIT,
        ),
        host,
        port,
    )
    bound = server.sockets[0].getsockname()
    if ready is not None:
        ready(str(bound[0]), int(bound[1]))
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()


def run(host: str, port: int, maildir: Path, ready: Callable[[str, int], None] | None = None) -> None:
    """Serve until SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve(host, port, maildir, stop, ready=ready)

    asyncio.run(main())
