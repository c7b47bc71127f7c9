"""The SMTP pool against a real aiosmtpd server on loopback: delivery, error classes, reconnects, rate."""

from __future__ import annotations

import time

import pytest

from newsroom_feed.errors import PermanentDeliveryError, TransientDeliveryError
from newsroom_feed.mail.smtp import Mailer
from newsroom_feed.settings import Settings

from ..mail_helpers import smtp_settings
from ..smtp_server import SmtpServer

MESSAGE = (
    "Subject: Złote Lajki\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nZażółć gęślą jaźń\r\n".encode()
)


async def test_message_bytes_arrive_unchanged(settings: Settings, smtp_server: SmtpServer) -> None:
    async with Mailer(smtp_settings(settings, smtp_server.port).smtp) as mailer:
        accepted = await mailer.send("prasa@newsroom.example.pl", "anna@example.pl", MESSAGE)
    assert accepted.code == 250
    assert smtp_server.received[0].recipients == ["anna@example.pl"]
    assert smtp_server.received[0].data.rstrip(b"\r\n") == MESSAGE.rstrip(b"\r\n")
    assert "Zażółć gęślą jaźń" in smtp_server.messages()[0].get_content()


async def test_4xx_is_transient_and_keeps_its_code(settings: Settings, smtp_server: SmtpServer) -> None:
    smtp_server.fail_next(451, "try again later")
    async with Mailer(smtp_settings(settings, smtp_server.port).smtp) as mailer:
        with pytest.raises(TransientDeliveryError) as caught:
            await mailer.send("prasa@newsroom.example.pl", "anna@example.pl", MESSAGE)
        assert caught.value.code == 451
        assert "try again later" in caught.value.reply
        await mailer.send("prasa@newsroom.example.pl", "anna@example.pl", MESSAGE)
    assert len(smtp_server.received) == 1


async def test_5xx_is_permanent_and_names_the_recipient(settings: Settings, smtp_server: SmtpServer) -> None:
    smtp_server.fail_next(550, "no such mailbox")
    async with Mailer(smtp_settings(settings, smtp_server.port).smtp) as mailer:
        with pytest.raises(PermanentDeliveryError) as caught:
            await mailer.send("prasa@newsroom.example.pl", "nobody@example.pl", MESSAGE)
    assert caught.value.code == 550
    assert caught.value.recipient == "nobody@example.pl"


async def test_connection_dropped_during_data_is_transient_and_the_pool_reconnects(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.drop_next()
    configured = smtp_settings(settings, smtp_server.port).smtp.model_copy(update={"connections": 1})
    async with Mailer(configured) as mailer:
        with pytest.raises(TransientDeliveryError):
            await mailer.send("prasa@newsroom.example.pl", "anna@example.pl", MESSAGE)
        await mailer.send("prasa@newsroom.example.pl", "anna@example.pl", MESSAGE)
    assert len(smtp_server.received) == 1


async def test_unreachable_relay_is_transient(settings: Settings) -> None:
    configured = smtp_settings(settings, 9).smtp.model_copy(update={"timeout": 2.0})
    async with Mailer(configured) as mailer:
        with pytest.raises(TransientDeliveryError, match="cannot connect"):
            await mailer.send("prasa@newsroom.example.pl", "anna@example.pl", MESSAGE)


async def test_rate_limit_spaces_messages(settings: Settings, smtp_server: SmtpServer) -> None:
    configured = smtp_settings(settings, smtp_server.port).smtp.model_copy(
        update={"rate_per_second": 40.0, "connections": 2}
    )
    async with Mailer(configured) as mailer:
        started = time.monotonic()
        for _ in range(10):
            await mailer.send("prasa@newsroom.example.pl", "anna@example.pl", MESSAGE)
        elapsed = time.monotonic() - started
    # 10 messages at 40/s with a burst of 2: at least 8 intervals of 25 ms.
    assert elapsed >= 0.19
    assert len(smtp_server.received) == 10
