"""What comes back to the bounce address, read and applied: Postfix DSNs (hard, soft, relayed), an Exim
bounce only flufl.bounce understands, an ARF complaint, auto-replies, a mailto unsubscribe, garbage, the
same report twice, forged tokens; each after a real message went out over a real SMTP server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import dkim as dkimpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsroom_feed.cli import main
from newsroom_feed.mail import outbox
from newsroom_feed.mail.bounces import list_reports, process, read
from newsroom_feed.mail.delivery import deliver
from newsroom_feed.mail.outbox import NewMessage
from newsroom_feed.mail.verp import outbox_id_of
from newsroom_feed.people.subscriptions import (
    add_subscriber,
    consent_history,
    get_subscriber,
    remove_subscriber,
)
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from ..mail_helpers import add_release, smtp_settings
from ..smtp_server import Received, SmtpServer

BOUNCES = "bounces@prasa.example.pl"
Send = Callable[..., dict[str, Received]]
UNKNOWN_USER = "smtp; 550 5.1.1 <{r}>: Recipient address rejected: User unknown in virtual mailbox table"


def configured(
    settings: Settings, port: int, *, address: str | None = BOUNCES, **outbox_changes: object
) -> Settings:
    sending = smtp_settings(settings, port, **outbox_changes)
    bounces = sending.bounces.model_copy(update={"address": address, "soft_limit": 2, "soft_days": 14})
    return sending.model_copy(update={"bounces": bounces})


@pytest.fixture
def send(store: Store, now: datetime, smtp_server: SmtpServer) -> Send:
    """Alert every given address (added as active subscribers) about one release, over the real SMTP
    server; returns what the server received, by recipient."""

    def sending(
        settings: Settings, *emails: str, title: str = "Seminarium o transporcie"
    ) -> dict[str, Received]:
        release = add_release(store, now, title)
        ids = [
            get_subscriber(store, email).id
            if _exists(store, email)
            else add_subscriber(store, {"email": email}, now).id
            for email in emails
        ]
        outbox.enqueue(
            store, [NewMessage(sid, f"alert:{release.uid}", "alert", (release.id,)) for sid in ids], now
        )
        before = len(smtp_server.received)
        asyncio.run(deliver(store, settings))
        return {item.recipients[0]: item for item in smtp_server.received[before:]}

    return sending


def _exists(store: Store, email: str) -> bool:
    try:
        get_subscriber(store, email)
    except Exception:
        return False
    return True


def original_headers(received: Received) -> str:
    """The headers of a sent message as the next hop quotes them, with the Return-Path it adds."""
    head = received.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return f"Return-Path: <{received.sender}>\r\nReceived: from newsroom by mx.gmina.example.pl\r\n{head}"


def postfix_dsn(
    received: Received | None,
    *,
    to: str,
    recipient: str,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = UNKNOWN_USER,
    queue_id: str = "4F1C2A0",
    headers: str | None = None,
) -> bytes:
    """A DSN as Postfix writes it: text/plain notice, message/delivery-status, text/rfc822-headers."""
    boundary = f"{queue_id}.1764149462/mail.prasa.example.pl"
    # Postfix folds a long diagnostic at a space, continuing with four spaces.
    words, lines = diagnostic.format(r=recipient).split(" "), [""]
    for word in words:
        if lines[-1] and len(lines[-1]) + len(word) > 60:
            lines.append("")
        lines[-1] += (" " if lines[-1] else "") + word
    folded = "\r\n    ".join(lines)
    quoted = headers if headers is not None else (original_headers(received) if received else "")
    notice = (
        "This is the mail system at host mail.prasa.example.pl.\r\n\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients. It's attached below.\r\n\r\n"
        "                   The mail system\r\n\r\n"
        f"<{recipient}>: host mx.gmina.example.pl[192.0.2.25] said: {diagnostic.format(r=recipient)[6:]}\r\n"
    )
    if action == "delayed":
        notice = "This is the mail system at host mail.prasa.example.pl.\r\n\r\n"
        notice += "####### THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #######\r\n"
    subject = (
        "Delayed Mail (still being retried)" if action == "delayed" else "Undelivered Mail Returned to Sender"
    )
    return (
        f"Return-Path: <>\r\n"
        f"Delivered-To: {to}\r\n"
        f"X-Original-To: {to}\r\n"
        f"Received: by mail.prasa.example.pl (Postfix) id {queue_id};\r\n"
        f"\tThu, 26 Nov 2026 10:31:02 +0100 (CET)\r\n"
        f"Date: Thu, 26 Nov 2026 10:31:02 +0100 (CET)\r\n"
        f"From: MAILER-DAEMON@mail.prasa.example.pl (Mail Delivery System)\r\n"
        f"Subject: {subject}\r\n"
        f"To: {to}\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="{boundary}"\r\n'
        f"Content-Transfer-Encoding: 8bit\r\n"
        f"Message-Id: <20261126093102.{queue_id}@mail.prasa.example.pl>\r\n"
        f"\r\n"
        f"This is a MIME-encapsulated message.\r\n\r\n"
        f"--{boundary}\r\n"
        f"Content-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n{notice}\r\n"
        f"--{boundary}\r\n"
        f"Content-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mail.prasa.example.pl\r\n"
        f"X-Postfix-Queue-ID: {queue_id}\r\n"
        f"X-Postfix-Sender: rfc822; {to}\r\n"
        f"Arrival-Date: Thu, 26 Nov 2026 10:31:01 +0100 (CET)\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Remote-MTA: dns; mx.gmina.example.pl\r\n"
        f"Diagnostic-Code: {folded}\r\n\r\n"
        f"--{boundary}\r\n"
        f"Content-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n{quoted}\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def exim_bounce(received: Received, recipient: str) -> bytes:
    """An Exim bounce: plain text, no DSN part, the failed address in X-Failed-Recipients."""
    return (
        f"Return-path: <>\r\n"
        f"Envelope-to: {received.sender}\r\n"
        f"Delivery-date: Thu, 26 Nov 2026 10:40:00 +0100\r\n"
        f"Received: from mail by smtp.gmina.example.pl with local (Exim 4.96) id 1tQx2Z-000abc-0F\r\n"
        f"X-Failed-Recipients: {recipient}\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"From: Mail Delivery System <Mailer-Daemon@smtp.gmina.example.pl>\r\n"
        f"To: {received.sender}\r\n"
        f"Subject: Mail delivery failed: returning message to sender\r\n"
        f"Message-Id: <E1tQx2Z-000abc-0F@smtp.gmina.example.pl>\r\n"
        f"Date: Thu, 26 Nov 2026 10:40:00 +0100\r\n\r\n"
        f"This message was created automatically by mail delivery software.\r\n\r\n"
        f"A message that you sent could not be delivered to one or more of its\r\n"
        f"recipients. This is a permanent error. The following address(es) failed:\r\n\r\n"
        f"  {recipient}\r\n"
        f"    mailbox is full: retry timeout exceeded\r\n\r\n"
        f"------ This is a copy of the message, including all the headers. ------\r\n\r\n"
        f"{original_headers(received)}\r\n\r\n(body)\r\n"
    ).encode()


def arf_report(original: str, *, recipient: str, mail_from: str = "", feedback_type: str = "abuse") -> bytes:
    """An RFC 5965 abuse report (the shape of its appendix B example) from a mailbox provider's FBL."""
    boundary = "part1_13d.2e68ed54_boundary"
    sender_line = f"Original-Mail-From: <{mail_from}>\r\n" if mail_from else ""
    return (
        f"From: <abusedesk@poczta.example.com>\r\n"
        f"Date: Thu, 26 Nov 2026 12:00:00 +0100\r\n"
        f"Subject: FW: Seminarium o transporcie\r\n"
        f"To: <fbl@prasa.example.pl>\r\n"
        f"Delivered-To: fbl@prasa.example.pl\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Message-ID: <fbl-2026-77@poczta.example.com>\r\n"
        f'Content-Type: multipart/report; report-type=feedback-report;\r\n\tboundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\n"
        f'Content-Type: text/plain; charset="US-ASCII"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'
        f"This is an email abuse report for an email message received from IP\r\n"
        f"192.0.2.1 on Thu, 26 Nov 2026 10:31:00 +0100.\r\n\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: {feedback_type}\r\n"
        f"User-Agent: SomeGenerator/1.0\r\n"
        f"Version: 1\r\n"
        f"{sender_line}"
        f"Original-Rcpt-To: <{recipient}>\r\n"
        f"Arrival-Date: Thu, 26 Nov 2026 10:31:00 +0100\r\n"
        f"Reporting-MTA: dns; mail.poczta.example.com\r\n"
        f"Source-IP: 192.0.2.1\r\n"
        f"Authentication-Results: mail.poczta.example.com; spf=pass smtp.mail=prasa.example.pl\r\n"
        f"Reported-Domain: prasa.example.pl\r\n\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
        f"{original}\r\n\r\n(body)\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def auto_reply(to: str, subject: str, *, headers: str = "Auto-Submitted: auto-replied\r\n") -> bytes:
    return (
        f"From: Anna Nowak <ania@gmina.example.pl>\r\n"
        f"To: {to}\r\nDelivered-To: {to}\r\n"
        f"Subject: {subject}\r\n{headers}"
        f"Date: Thu, 26 Nov 2026 10:32:00 +0100\r\nMessage-ID: <ooo-1@gmina.example.pl>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n"
        f"Dzień dobry, jestem na urlopie do 7 grudnia. W pilnych sprawach proszę pisać do sekretariatu.\r\n"
    ).encode()


def events(store: Store, email: str) -> list[tuple[str, str]]:
    return [(event.event, event.source) for event in consent_history(store, email)]


# -- hard, soft, nothing ----------------------------------------------------------------------------


def test_a_postfix_dsn_for_a_mailbox_that_no_longer_exists_bounces_the_subscriber(
    settings: Settings, store: Store, now: datetime, smtp_server: SmtpServer, send: Send
) -> None:
    verp = configured(settings, smtp_server.port, bounce_after=1)
    sent = send(verp, "ania@gmina.example.pl", "jan@gmina.example.pl")
    ania = sent["ania@gmina.example.pl"]
    report = process(
        store, verp, postfix_dsn(ania, to=ania.sender, recipient="ania@gmina.example.pl"), "imap", now
    )
    assert report is not None
    assert (report.kind, report.status, report.recipient) == ("hard", "5.1.1", "ania@gmina.example.pl")
    assert report.outbox_id == outbox_id_of(verp, ania.sender)
    assert report.delivery_id is not None and report.applied
    assert "User unknown in virtual mailbox table" in (report.diagnostic or "")
    assert get_subscriber(store, "ania@gmina.example.pl").status == "bounced"
    assert get_subscriber(store, "jan@gmina.example.pl").status == "active"
    assert events(store, "ania@gmina.example.pl")[-1] == ("bounce", "bounce report")
    [row] = list_reports(store)
    assert (row.kind, row.email, row.source, row.status) == ("hard", "ania@gmina.example.pl", "imap", "5.1.1")
    assert row.outbox_key is not None and row.outbox_key.startswith("alert:")


def test_hard_bounces_count_towards_bounce_after_one_per_report(
    settings: Settings, store: Store, now: datetime, smtp_server: SmtpServer, send: Send
) -> None:
    verp = configured(settings, smtp_server.port, bounce_after=2)
    first = send(verp, "ania@gmina.example.pl")["ania@gmina.example.pl"]
    dsn = postfix_dsn(first, to=first.sender, recipient="ania@gmina.example.pl")
    assert process(store, verp, dsn, "imap", now) is not None
    assert process(store, verp, dsn, "imap", now) is None, "the same bytes are read once"
    assert get_subscriber(store, "ania@gmina.example.pl").status == "active"
    second = send(verp, "ania@gmina.example.pl", title="Druga informacja")["ania@gmina.example.pl"]
    again = postfix_dsn(second, to=second.sender, recipient="ania@gmina.example.pl", queue_id="5A2B3C4")
    assert process(store, verp, again, "imap", now) is not None
    assert get_subscriber(store, "ania@gmina.example.pl").status == "bounced"
    assert len(list_reports(store)) == 2


def test_a_bounced_subscriber_gets_nothing_more_even_a_message_already_queued(
    settings: Settings, store: Store, now: datetime, smtp_server: SmtpServer, send: Send
) -> None:
    verp = configured(settings, smtp_server.port, bounce_after=1)
    ania = send(verp, "ania@gmina.example.pl")["ania@gmina.example.pl"]
    release = add_release(store, now, "Kolejna informacja prasowa")
    subscriber = get_subscriber(store, "ania@gmina.example.pl")
    outbox.enqueue(store, [NewMessage(subscriber.id, f"alert:{release.uid}", "alert", (release.id,))], now)
    process(store, verp, postfix_dsn(ania, to=ania.sender, recipient=subscriber.email), "imap", now)
    before = len(smtp_server.received)
    asyncio.run(deliver(store, verp))
    assert len(smtp_server.received) == before
    [queued] = [row for row in outbox.list_rows(store) if row.key == f"alert:{release.uid}"]
    assert queued.status == "withdrawn" and queued.last_error == "withdrawn: subscriber bounced"


def test_soft_bounces_bounce_only_at_the_limit_within_the_window(
    settings: Settings, store: Store, now: datetime, smtp_server: SmtpServer, send: Send
) -> None:
    verp = configured(settings, smtp_server.port)  # soft_limit 2 within 14 days
    ania = send(verp, "ania@gmina.example.pl")["ania@gmina.example.pl"]
    to, who = ania.sender, "ania@gmina.example.pl"
    warning = postfix_dsn(ania, to=to, recipient=who, action="delayed", status="4.4.1",
                          diagnostic="smtp; 451 4.4.1 mx.gmina.example.pl: Connection timed out")  # fmt: skip
    report = process(store, verp, warning, "maildir", now)
    assert report is not None and (report.kind, report.status, report.applied) == ("soft", "4.4.1", False)
    assert get_subscriber(store, who).status == "active"
    expired = postfix_dsn(ania, to=to, recipient=who, action="failed", status="4.4.1", queue_id="77AA",
                          diagnostic="smtp; 421 4.4.1 mx.gmina.example.pl: Connection timed out")  # fmt: skip
    later = now + timedelta(days=20)
    assert process(store, verp, expired, "maildir", later) is not None
    assert get_subscriber(store, who).status == "active", "the first soft bounce is out of the window"
    third = postfix_dsn(ania, to=to, recipient=who, action="failed", status="4.2.2", queue_id="88BB",
                        diagnostic="smtp; 452 4.2.2 Mailbox full")  # fmt: skip
    report = process(store, verp, third, "maildir", later + timedelta(days=1))
    assert report is not None and report.kind == "soft" and report.applied
    assert get_subscriber(store, who).status == "bounced"
    assert events(store, who)[-1][0] == "bounce"


@pytest.mark.parametrize("action", ["relayed", "delivered", "expanded"])
def test_a_dsn_that_reports_success_changes_nothing(
    settings: Settings, store: Store, now: datetime, smtp_server: SmtpServer, send: Send, action: str
) -> None:
    verp = configured(settings, smtp_server.port, bounce_after=1)
    ania = send(verp, "ania@gmina.example.pl")["ania@gmina.example.pl"]
    dsn = postfix_dsn(ania, to=ania.sender, recipient="ania@gmina.example.pl", action=action, status="2.0.0",
                      diagnostic="smtp; 250 2.0.0 Ok: queued as 9F8E7D")  # fmt: skip
    report = process(store, verp, dsn, "imap", now)
    assert report is not None and report.kind == "unknown" and not report.applied
    assert get_subscriber(store, "ania@gmina.example.pl").status == "active"


def test_an_exim_bounce_without_a_dsn_is_read_by_flufl_bounce(
    settings: Settings, store: Store, now: datetime, smtp_server: SmtpServer, send: Send
) -> None:
    verp = configured(settings, smtp_server.port, bounce_after=1)
    ania = send(verp, "ania@gmina.example.pl")["ania@gmina.example.pl"]
    report = process(store, verp, exim_bounce(ania, "ania@gmina.example.pl"), "imap", now)
    assert report is not None and report.kind == "hard"
    assert report.recipient == "ania@gmina.example.pl"
    assert get_subscriber(store, "ania@gmina.example.pl").status == "bounced"


def test_without_verp_a_dsn_finds_its_row_by_the_original_message_id(
    settings: Settings, store: Store, now: datetime, smtp_server: SmtpServer, send: Send
) -> None:
    plain = configured(settings, smtp_server.port, address=None, bounce_after=1)
    ania = send(plain, "ania@gmina.example.pl")["ania@gmina.example.pl"]
    assert ania.sender == str(settings.mail.from_address)
    dsn = postfix_dsn(ania, to="prasa@prasa.example.pl", recipient="ania@gmina.example.pl")
    report = process(store, plain, dsn, "imap", now)
    assert report is not None and report.kind == "hard" and report.outbox_id is not None
    assert get_subscriber(store, "ania@gmina.example.pl").status == "bounced"
    made_up = re.sub(rb"Message-ID: <(\d+)\.", rb"Message-ID: <\g<1>0.", dsn.replace(b"4F1C2A0", b"1B2C3D4"))
    report = process(store, plain, made_up, "imap", now)
    assert report is not None and report.outbox_id is None and not report.applied


# -- complaints, auto-replies, unsubscribes ---------------------------------------------------------


def test_an_arf_complaint_unsubscribes_at_once_and_is_a_complaint_in_the_history(
    settings: Settings, store: Store, now: datetime, smtp_server: SmtpServer, send: Send
) -> None:
    verp = configured(settings, smtp_server.port)
    sent = send(verp, "ania@gmina.example.pl", "jan@gmina.example.pl")
    ania, jan = sent["ania@gmina.example.pl"], sent["jan@gmina.example.pl"]
    release = add_release(store, now, "Jeszcze w kolejce")
    ania_id = get_subscriber(store, "ania@gmina.example.pl").id
    outbox.enqueue(store, [NewMessage(ania_id, f"alert:{release.uid}", "alert", (release.id,))], now)
    by_verp = arf_report(original_headers(ania), recipient="ania@gmina.example.pl", mail_from=ania.sender)
    report = process(store, verp, by_verp, "imap", now)
    assert report is not None and report.kind == "complaint" and report.applied
    assert report.diagnostic == "Feedback-Type: abuse"
    assert get_subscriber(store, "ania@gmina.example.pl").status == "unsubscribed"
    assert events(store, "ania@gmina.example.pl")[-1] == ("complaint", "arf: poczta.example.com")
    assert all(row.key != f"alert:{release.uid}" for row in outbox.list_rows(store)), "queued mail dropped"
    # A provider that quotes only the original's headers: its Message-ID names the row.
    quoted = re.sub(r"Return-Path: <[^>]+>\r\n", "", original_headers(jan))
    report = process(store, verp, arf_report(quoted, recipient="jan@gmina.example.pl"), "imap", now)
    assert report is not None and report.kind == "complaint"
    assert get_subscriber(store, "jan@gmina.example.pl").status == "unsubscribed"


def test_a_not_spam_feedback_report_is_no_complaint(
    settings: Settings, store: Store, now: datetime, smtp_server: SmtpServer, send: Send
) -> None:
    verp = configured(settings, smtp_server.port)
    ania = send(verp, "ania@gmina.example.pl")["ania@gmina.example.pl"]
    report_bytes = arf_report(
        original_headers(ania), recipient="ania@gmina.example.pl", feedback_type="not-spam"
    )
    report = process(store, verp, report_bytes, "imap", now)
    assert report is not None and report.kind == "unknown"
    assert get_subscriber(store, "ania@gmina.example.pl").status == "active"


@pytest.mark.parametrize(
    ("subject", "headers"),
    [
        ("Nieobecność w biurze: Seminarium o transporcie", "Auto-Submitted: auto-replied\r\n"),
        ("Automatic reply: Seminarium o transporcie", "X-Autoreply: yes\r\n"),
        ("Re: Seminarium o transporcie", "Precedence: auto_reply\r\n"),
        ("Out of Office: Seminarium o transporcie", ""),
    ],
)
def test_an_out_of_office_reply_is_ignored(
    settings: Settings,
    store: Store,
    now: datetime,
    smtp_server: SmtpServer,
    send: Send,
    subject: str,
    headers: str,
) -> None:
    verp = configured(settings, smtp_server.port, bounce_after=1)
    ania = send(verp, "ania@gmina.example.pl")["ania@gmina.example.pl"]
    report = process(store, verp, auto_reply(ania.sender, subject, headers=headers), "imap", now)
    assert report is not None and report.kind == "auto-reply" and not report.applied
    assert report.outbox_id is not None
    assert get_subscriber(store, "ania@gmina.example.pl").status == "active"
    assert [row.kind for row in list_reports(store)] == ["auto-reply"]


def test_a_message_sent_over_smtp_carries_verp_and_its_mailto_unsubscribe_round_trips(
    settings: Settings, store: Store, now: datetime, smtp_server: SmtpServer, send: Send
) -> None:
    verp = configured(settings, smtp_server.port)
    ania = send(verp, "ania@gmina.example.pl")["ania@gmina.example.pl"]
    assert re.fullmatch(r"bounces\+[0-9a-z]+-[a-z2-7]{10}@prasa\.example\.pl", ania.sender)
    assert outbox_id_of(verp, ania.sender) is not None
    header = str(ania.message["List-Unsubscribe"])
    links = re.findall(r"<([^>]+)>", header)
    assert links[0].startswith("https://prasa.example.pl/unsubscribe/")
    assert ania.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    mailto = re.fullmatch(r"mailto:([^?]+)\?subject=unsubscribe", links[1])
    assert mailto is not None
    # What a mail client sends for the mailto form, as the bounce mailbox's server delivers it.
    request = (
        f"Delivered-To: {mailto.group(1)}\r\nFrom: Anna Nowak <ania@gmina.example.pl>\r\n"
        f"To: {mailto.group(1)}\r\nSubject: unsubscribe\r\nDate: {format_datetime(now)}\r\n"
        f"Message-ID: <unsub-1@gmina.example.pl>\r\n\r\n\r\n"
    ).encode("ascii")
    report = process(store, verp, request, "smtp", now)
    assert report is not None and (report.kind, report.applied) == ("unsubscribe", True)
    assert get_subscriber(store, "ania@gmina.example.pl").status == "unsubscribed"
    assert events(store, "ania@gmina.example.pl")[-1] == ("withdrawal", "mailto")
    jan = send(verp, "jan@gmina.example.pl")["jan@gmina.example.pl"]
    jan_address = re.findall(r"mailto:([^?]+)", str(jan.message["List-Unsubscribe"]))[0]
    jan_id, ania_mac = jan_address.split("-")[1], mailto.group(1).split("-")[2].split("@")[0]
    for forged in (
        f"bounces+u-{jan_id}-{ania_mac}@prasa.example.pl",
        f"bounces+u-{jan_id}-{'a' * 16}@prasa.example.pl",
    ):
        report = process(store, verp, request.replace(mailto.group(1).encode(), forged.encode()), "smtp", now)
        assert report is not None and report.kind == "unknown" and not report.applied
    assert get_subscriber(store, "jan@gmina.example.pl").status == "active"


def test_a_signed_message_with_verp_and_mailto_still_verifies_with_dkimpy(
    settings: Settings,
    store: Store,
    now: datetime,
    smtp_server: SmtpServer,
    send: Send,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("NEWSROOM_DATABASE", str(settings.database))
    key = tmp_path / "dkim.pem"
    assert main(["dkim", "keygen", "--selector", "s2026", "--out", str(key)]) == 0
    record = "".join(re.findall(r'"([^"]*)"', capsys.readouterr().out.split(" IN TXT ", 1)[1])).encode()
    verp = configured(settings, smtp_server.port)
    verp = verp.model_copy(
        update={"dkim": verp.dkim.model_copy(update={"selector": "s2026", "private_key_file": key})}
    )
    ania = send(verp, "ania@gmina.example.pl")["ania@gmina.example.pl"]
    assert b"mailto:bounces+u-" in ania.data

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"s2026._domainkey.{verp.dkim_domain}.".encode() else None

    assert dkimpy.verify(ania.data, dnsfunc=lookup)


# -- what changes nothing -------------------------------------------------------------------------


def test_a_forged_verp_token_changes_nothing_but_is_recorded(
    settings: Settings, store: Store, now: datetime, smtp_server: SmtpServer, send: Send
) -> None:
    verp = configured(settings, smtp_server.port, bounce_after=1)
    ania = send(verp, "ania@gmina.example.pl")["ania@gmina.example.pl"]
    local = ania.sender.split("@")[0]
    forged_to = local[:-10] + "a" * 10 + "@prasa.example.pl"
    dsn = postfix_dsn(None, to=forged_to, recipient="ania@gmina.example.pl", headers="Subject: guessed\r\n")
    report = process(store, verp, dsn, "imap", now)
    assert report is not None and report.kind == "hard"
    assert (report.outbox_id, report.subscriber_id, report.applied) == (None, None, False)
    assert get_subscriber(store, "ania@gmina.example.pl").status == "active"
    [row] = list_reports(store)
    assert (row.kind, row.email, row.recipient) == ("hard", None, "ania@gmina.example.pl")


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\xff\xfe\x00garbage\x80\x81", bytes(range(256)) * 4, b"\r\n\r\n\r\n", b"\xff" * 10_000],
)
def test_garbage_is_recorded_as_unreadable_and_never_raises(
    settings: Settings, store: Store, now: datetime, raw: bytes
) -> None:
    report = process(store, settings, raw, "imap", now)
    assert report is not None and report.kind == "unreadable"
    assert [row.kind for row in list_reports(store)] == ["unreadable"]
    assert process(store, settings, raw, "imap", now) is None


@given(st.binary(max_size=2000))
def test_reading_any_bytes_never_raises(raw: bytes) -> None:
    assert read(raw).kind in ("unreadable", "unknown", "auto-reply", "hard", "soft", "complaint")


def test_a_broken_report_with_headers_is_recorded_without_crashing(
    settings: Settings, store: Store, now: datetime
) -> None:
    raw = (
        b"From: MAILER-DAEMON@x\r\nTo: bounces+zz-aaaaaaaaaa@prasa.example.pl\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!!not base64!!!\r\n--b"
    )
    report = process(store, configured(settings, 25), raw, "imap", now)
    assert report is not None and report.kind in ("unknown", "unreadable") and not report.applied


def test_a_report_about_an_erased_subscriber_is_recorded_without_the_address(
    settings: Settings, store: Store, now: datetime, smtp_server: SmtpServer, send: Send
) -> None:
    verp = configured(settings, smtp_server.port, bounce_after=1)
    ania = send(verp, "ania@gmina.example.pl")["ania@gmina.example.pl"]
    remove_subscriber(store, "ania@gmina.example.pl")
    report = process(
        store, verp, postfix_dsn(ania, to=ania.sender, recipient="ania@gmina.example.pl"), "imap", now
    )
    assert report is not None and report.outbox_id is not None and not report.applied
    [row] = list_reports(store)
    assert row.email is None and row.recipient is None
    assert "ania@" not in (row.diagnostic or "") and "[erased]" in (row.diagnostic or "")


def test_erasing_a_subscriber_takes_their_address_out_of_earlier_reports(
    settings: Settings, store: Store, now: datetime, smtp_server: SmtpServer, send: Send
) -> None:
    verp = configured(settings, smtp_server.port, bounce_after=5)
    ania = send(verp, "ania@gmina.example.pl")["ania@gmina.example.pl"]
    process(store, verp, postfix_dsn(ania, to=ania.sender, recipient="ania@gmina.example.pl"), "imap", now)
    remove_subscriber(store, "ania@gmina.example.pl")
    [row] = list_reports(store)
    assert row.email is None
    assert "ania@gmina.example.pl" not in f"{row.recipient} {row.diagnostic}"
    assert row.to_json()["kind"] == "hard"


def test_a_plain_message_that_says_nothing_known_is_recorded_as_unknown_not_unreadable(
    settings: Settings, store: Store, now: datetime
) -> None:
    """Not set aside for a person: a message with headers is mail, even if it is no report we know."""
    raw = b"Subject: hello\r\nTo: bounces@prasa.example.pl\r\n\r\nJust a note, no From, no report.\r\n"
    report = process(store, configured(settings, 25), raw, "imap", now)
    assert report is not None and report.kind == "unknown" and not report.applied
