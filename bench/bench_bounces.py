# ruff: noqa: E501  (sample mail messages read better one header per line)
"""Bounce reports read per second, over 10,000 of them of the kinds a bounce mailbox holds.

The mix: Postfix DSNs (RFC 3464) for most, Exim bounces without a DSN (left to flufl.bounce's detectors),
RFC 5965 complaints and out-of-office replies, each addressed to the VERP address of a real outbox row.
Two figures against a baseline measured in the same run, the stdlib parse of the same bytes and a walk
over their parts (what any reader must at least do): ``read`` (classify only) and ``process`` (classify,
match the row, record the report and apply it to the subscriber, one transaction each).
"""

from __future__ import annotations

import email
import email.policy
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.bench_build import bench_settings
from newsroom_feed.mail import bounces
from newsroom_feed.mail.verp import envelope_sender
from newsroom_feed.store.database import Store

REPORTS = 10_000
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def _dsn(to: str, recipient: str, n: int) -> bytes:
    boundary = f"{n:08X}.1764149462/mail.prasa.example.pl"
    return (
        f"Return-Path: <>\r\nDelivered-To: {to}\r\nDate: Thu, 03 Dec 2026 10:31:02 +0100\r\n"
        f"From: MAILER-DAEMON@mail.prasa.example.pl (Mail Delivery System)\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nTo: {to}\r\nAuto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n"
        f'\tboundary="{boundary}"\r\n'
        f"Message-Id: <20261203093102.{n:08X}@mail.prasa.example.pl>\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mail.prasa.example.pl\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Biuro prasowe <prasa@prasa.example.pl>\r\nTo: {recipient}\r\nSubject: Komunikat {n}\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def _exim(to: str, recipient: str, n: int) -> bytes:
    return (
        f"Return-path: <>\r\nEnvelope-to: {to}\r\nX-Failed-Recipients: {recipient}\r\n"
        f"From: Mail Delivery System <Mailer-Daemon@smtp.gmina.example.pl>\r\nTo: {to}\r\n"
        f"Subject: Mail delivery failed: returning message to sender\r\n"
        f"Message-Id: <E{n:08d}-0F@smtp.gmina.example.pl>\r\n\r\n"
        f"A message that you sent could not be delivered to one or more of its\r\n"
        f"recipients. This is a permanent error. The following address(es) failed:\r\n\r\n"
        f"  {recipient}\r\n    mailbox is full: retry timeout exceeded\r\n"
    ).encode()


def _arf(to: str, recipient: str, n: int) -> bytes:
    boundary = f"part{n}_boundary"
    return (
        f"From: <abusedesk@poczta.example.com>\r\nTo: {to}\r\nDelivered-To: {to}\r\nMIME-Version: 1.0\r\n"
        f"Message-ID: <fbl-{n}@poczta.example.com>\r\nSubject: FW: Komunikat\r\n"
        f'Content-Type: multipart/report; report-type=feedback-report;\r\n\tboundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
        f"--{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: abuse\r\nUser-Agent: Bench/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: <{recipient}>\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\nFrom: prasa@prasa.example.pl\r\n"
        f"To: {recipient}\r\nSubject: Komunikat\r\n\r\n(body)\r\n--{boundary}--\r\n"
    ).encode()


def _auto_reply(to: str, recipient: str, n: int) -> bytes:
    return (
        f"From: <{recipient}>\r\nTo: {to}\r\nDelivered-To: {to}\r\nSubject: Nieobecność: Komunikat {n}\r\n"
        f"Auto-Submitted: auto-replied\r\nMessage-ID: <ooo-{n}@gmina.example.pl>\r\n\r\n"
        f"Jestem na urlopie do 7 grudnia.\r\n"
    ).encode()


def _reports(settings_sender: list[str]) -> list[bytes]:
    makers = [_dsn] * 14 + [_exim] * 3 + [_arf] * 2 + [_auto_reply]
    return [
        makers[n % len(makers)](sender, f"osoba{n}@gmina{n % 300}.example.pl", n)
        for n, sender in enumerate(settings_sender)
    ]


def _fill(store: Store, count: int) -> None:
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO subscribers (id, email, kind, language, frequency, status, token, consent_source, "
            "created_at) VALUES (?, ?, 'city', 'pl', 'daily', 'active', ?, 'operator', '2026-01-01T00:00:00Z')",
            ((n, f"osoba{n}@gmina{n % 300}.example.pl", f"token-{n:08d}") for n in range(1, count + 1)),
        )
        conn.executemany(
            "INSERT INTO outbox (id, key, kind, subscriber_id, release_ids, status, attempts, next_attempt_at, "
            "created_at, sent_at) VALUES (?, 'digest:daily:2026-12-03T07:00:00Z', 'digest', ?, '[]', 'sent', 1, "
            "'2026-12-03T07:00:00Z', '2026-12-03T07:00:00Z', '2026-12-03T07:01:00Z')",
            ((n, n) for n in range(1, count + 1)),
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        settings = bench_settings(Path(directory)).model_copy()
        settings = settings.model_copy(
            update={"bounces": settings.bounces.model_copy(update={"address": "bounces@prasa.example.pl"})}
        )
        reports = _reports([envelope_sender(settings, n) for n in range(1, REPORTS + 1)])
        started = time.perf_counter()
        for raw in reports:
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            for _part in parsed.walk():
                pass
        baseline = REPORTS / (time.perf_counter() - started)
        started = time.perf_counter()
        kinds: dict[str, int] = {}
        for raw in reports:
            kind = bounces.read(raw).kind
            kinds[kind] = kinds.get(kind, 0) + 1
        reading = REPORTS / (time.perf_counter() - started)
        with Store.for_settings(settings) as store:
            _fill(store, REPORTS)
            started = time.perf_counter()
            for raw in reports:
                bounces.process(store, settings, raw, "bench", NOW)
            processing = REPORTS / (time.perf_counter() - started)
    mix = ", ".join(f"{count:,} {kind}" for kind, count in sorted(kinds.items()))
    print(f"{REPORTS:,} reports: {mix}")
    print(f"baseline: stdlib parse + walk        {baseline:>9,.0f} reports/s")
    print(
        f"read (classify)                      {reading:>9,.0f} reports/s  ({reading / baseline:.2f} x baseline)"
    )
    print(
        f"process (classify, match, record,     {processing:>9,.0f} reports/s  ({processing / baseline:.2f} x baseline)"
        "\n  apply; a transaction each)"
    )


if __name__ == "__main__":
    main()
