"""`newsroom-feed mailsink`: a real SMTP server that files every message into a Maildir."""

from __future__ import annotations

import asyncio
import mailbox
from pathlib import Path

from newsroom_feed.mailer import Mailer
from newsroom_feed.mailsink import serve
from newsroom_feed.settings import Settings

from .mail_helpers import smtp_settings

MESSAGE = (
    "From: prasa@newsroom.example.pl\r\nTo: anna@example.pl\r\n"
    "Subject: =?utf-8?q?Z=C5=82ote_Lajki?=\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\nZażółć gęślą jaźń\r\n"
).encode()


async def test_every_accepted_message_lands_in_the_maildir(settings: Settings, tmp_path: Path) -> None:
    stop, bound = asyncio.Event(), asyncio.get_running_loop().create_future()
    maildir = tmp_path / "var" / "mail"
    server = asyncio.create_task(
        serve("127.0.0.1", 0, maildir, stop, ready=lambda host, port: bound.set_result(port))
    )
    port = await asyncio.wait_for(bound, 5)
    async with Mailer(smtp_settings(settings, port).smtp) as mailer:
        for recipient in ("anna@example.pl", "jan@example.pl"):
            accepted = await mailer.send("prasa@newsroom.example.pl", recipient, MESSAGE)
            assert accepted.reply.startswith("OK stored as ")
    stop.set()
    await server
    stored = sorted(mailbox.Maildir(maildir, create=False), key=lambda m: str(m["Delivered-To"]))
    assert [str(m["Delivered-To"]) for m in stored] == ["anna@example.pl", "jan@example.pl"]
    assert stored[0]["Return-Path"] == "<prasa@newsroom.example.pl>"
    assert stored[0].get_payload(decode=True).decode("utf-8").strip() == "Zażółć gęślą jaźń"
    assert len(list((maildir / "new").iterdir())) == 2
