"""`newsroom-feed mailsink`: a real SMTP server that files every message into a Maildir."""

from __future__ import annotations

import asyncio
import mailbox
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from newsroom_feed.errors import TransientDeliveryError
from newsroom_feed.mail.sink import serve
from newsroom_feed.mail.smtp import Mailer
from newsroom_feed.settings import Settings

from ..mail_helpers import smtp_settings

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


@asynccontextmanager
async def running_sink(maildir: Path) -> AsyncIterator[int]:
    stop, bound = asyncio.Event(), asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        serve("127.0.0.1", 0, maildir, stop, ready=lambda host, port: bound.set_result(port))
    )
    try:
        yield await asyncio.wait_for(bound, 5)
    finally:
        stop.set()
        await server


async def test_an_existing_empty_directory_becomes_a_maildir_that_keeps_mail(
    settings: Settings, tmp_path: Path
) -> None:
    maildir = tmp_path / "mail"
    maildir.mkdir()
    async with running_sink(maildir) as port, Mailer(smtp_settings(settings, port).smtp) as mailer:
        accepted = await mailer.send("prasa@newsroom.example.pl", "anna@example.pl", MESSAGE)
    assert accepted.code == 250
    assert [str(m["Delivered-To"]) for m in mailbox.Maildir(maildir, create=False)] == ["anna@example.pl"]


async def test_a_message_the_sink_cannot_store_is_refused_for_now_not_for_ever(
    settings: Settings, tmp_path: Path
) -> None:
    maildir = tmp_path / "mail"
    async with running_sink(maildir) as port, Mailer(smtp_settings(settings, port).smtp) as mailer:
        # The Maildir breaks while the sink runs (a full or unmounted disk acts the same).
        shutil.rmtree(maildir / "tmp")
        (maildir / "tmp").write_text("not a directory", encoding="utf-8")
        with pytest.raises(TransientDeliveryError) as refused:
            await mailer.send("prasa@newsroom.example.pl", "anna@example.pl", MESSAGE)
    assert refused.value.code == 451
    assert list((maildir / "new").iterdir()) == [], "nothing half-stored to be read later"
