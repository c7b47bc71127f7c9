"""Reading what comes back to the bounce address: delivery status notifications, complaints,
auto-replies and mailto unsubscribes, and applying each to its subscriber.

Reading is pure (`read`: bytes in, a `Reading` out, never an exception) and goes from the most to the
least reliable signal:

1. RFC 3464 ``message/delivery-status``: the worst recipient block wins; ``failed`` with a 5.x.x status
   is a hard bounce, ``failed`` with 4.x.x (a message that expired in a queue) or ``delayed`` a soft one,
   ``delivered``/``relayed``/``expanded`` nothing (``unknown``).
2. RFC 5965 ARF (``message/feedback-report``): a complaint, except ``not-spam`` and ``auth-failure``.
3. flufl.bounce (Mailman's detectors) for the bounces of servers that write no DSN (Exim, qmail, ...).
4. RFC 3834 auto-replies (``Auto-Submitted`` other than ``no``, ``X-Autoreply``, ``Precedence:
   auto_reply``), then, as a last resort, subjects such as "Out of office" or "Nieobecność": ignored.
   They come after flufl.bounce because Postfix and Exim mark their own bounces ``auto-replied`` too.

Whom a report is about (`process`): the signed VERP token in the address it was delivered to
(``Delivered-To``, ``X-Original-To``, ``To``, ``Envelope-To``), else in the original message's envelope
sender (an ARF ``Original-Mail-From``, the quoted ``Return-Path``), else the original ``Message-ID``,
which the composer makes per outbox row. A report to a signed ``mailto:`` unsubscribe address is an
unsubscribe whatever it says. A forged token names nobody: the report is recorded and changes nothing.
"""

from __future__ import annotations

import email
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email import policy
from email.message import Message
from email.parser import HeaderParser
from typing import Any, Literal

from flufl.bounce import all_failures

from newsroom_feed.mail.verp import Verp
from newsroom_feed.models import iso
from newsroom_feed.people import consent
from newsroom_feed.people.subscriptions import subscribers_by_ids, unsubscribe
from newsroom_feed.settings import Settings
from newsroom_feed.store import bounces as rows
from newsroom_feed.store import subscribers as subscriber_rows
from newsroom_feed.store.database import Store

ReportKind = Literal["hard", "soft", "complaint", "auto-reply", "unsubscribe", "unknown", "unreadable"]
KINDS: tuple[ReportKind, ...] = (
    "hard", "soft", "complaint", "auto-reply", "unsubscribe", "unknown", "unreadable",
)  # fmt: skip

#: The consent-history source of a mailto unsubscribe (RFC 2369).
MAILTO = "mailto"
#: What stands for an address in a report about a subscriber who was erased.
ERASED = "[erased]"
#: Headers where the receiving server writes the address a report was delivered to, most reliable first.
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "To", "Envelope-To")
#: Diagnostics are kept this long at most: enough for any SMTP reply, bounded against a hostile report.
DIAGNOSTIC_CHARS = 1000

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_ADDRESS = re.compile(r"[^\s<>()\[\]\"';:,@]+@[A-Za-z0-9.-]+[A-Za-z0-9]")
_OUR_MESSAGE_ID = re.compile(r"<(\d{1,18})\.[0-9a-f]{24}@[^>\s]+>")
_BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n")
_AUTO_REPLY_SUBJECT = re.compile(
    r"out of (the )?office|automatic reply|auto[- ]?reply|autoresponse|auto[- ]?response|vacation|"
    r"nieobecno(ść|sc)|odpowied(ź|z) automatyczna|automatyczna odpowied(ź|z)|abwesenheit|urlop|"
    r"absence|r[ée]ponse automatique",
    re.IGNORECASE,
)
_RANK = {"hard": 3, "soft": 2, "unknown": 1}


@dataclass(frozen=True, slots=True)
class Report:
    """What one message from the bounce mailbox says, as `process` recorded it."""

    kind: ReportKind
    #: The outbox row its VERP address names (verified), if any.
    outbox_id: int | None = None
    recipient: str | None = None
    #: The RFC 3463 status (``5.1.1``), when the report gives one.
    status: str | None = None
    diagnostic: str | None = None
    report_message_id: str | None = None
    #: The subscriber the report is about (through its outbox row or its mailto address), if any.
    subscriber_id: int | None = None
    #: The latest delivery of that outbox row, which the report is recorded on.
    delivery_id: int | None = None
    #: Whether the report changed the subscriber (bounced or unsubscribed them, or counted a bounce).
    applied: bool = False


@dataclass(frozen=True, slots=True)
class Reading:
    """What the bytes of a report say, before anyone is looked up (`read`)."""

    kind: ReportKind
    recipient: str | None = None
    status: str | None = None
    diagnostic: str | None = None
    report_message_id: str | None = None
    #: Header values naming where the report was delivered: where a mailto or VERP token may stand.
    delivered_to: tuple[str, ...] = ()
    #: The original message's envelope sender as the report quotes it (ARF, Return-Path): VERP only.
    original_senders: tuple[str, ...] = ()
    #: The Message-ID of the original message, when the report quotes its headers.
    original_message_id: str | None = None
    #: Who reported a complaint (the report's From domain), for the consent history.
    reporter: str | None = None
    #: Every failed address a detector found (flufl.bounce), to pick the subscriber's own.
    failed: frozenset[str] = field(default_factory=frozenset)


# -- reading ----------------------------------------------------------------------------------------


def read(raw: bytes, delivered_to: Sequence[str] = ()) -> Reading:
    """What a report says. Never raises: bytes that are no mail at all (no header), or that break the
    parser, read as ``unreadable`` (the intake sets them aside for a person); a flufl.bounce detector
    that breaks only means no bounce was recognised.

    ``delivered_to``: the envelope recipients, when the caller knows them (an SMTP receiver's RCPT TO).
    """
    try:
        message = email.message_from_bytes(raw, policy=policy.default)
        if not raw.strip() or not message.keys():
            return Reading("unreadable", delivered_to=tuple(delivered_to))
        return _read(message, tuple(delivered_to))
    except Exception:  # untrusted bytes: whatever a parser or detector throws means "cannot read"
        return Reading("unreadable", delivered_to=tuple(delivered_to))


def _read(message: Message, given: tuple[str, ...]) -> Reading:
    delivered_to = given + tuple(
        _text(value) for name in RECIPIENT_HEADERS for value in message.get_all(name, [])
    )
    original = _original_headers(message)
    base: dict[str, Any] = {
        "delivered_to": delivered_to,
        "report_message_id": _clean(message.get("Message-ID")),
        "original_message_id": _clean(original.get("Message-ID")) if original is not None else None,
        "original_senders": tuple(_text(v) for v in original.get_all("Return-Path", [])) if original else (),
    }
    status_part = _part(message, "message/delivery-status")
    if status_part is not None:
        found = _delivery_status(status_part)
        if found is not None:
            return Reading(**base, **found)
    feedback_part = _part(message, "message/feedback-report")
    if feedback_part is not None:
        return _feedback(message, feedback_part, base)
    temporary, permanent = _detected(message)
    if permanent or temporary:
        failed = frozenset(_decode(address) for address in permanent or temporary)
        return Reading(
            "hard" if permanent else "soft",
            recipient=min(failed),
            diagnostic=_clean(message.get("Subject")),
            failed=failed,
            **base,
        )
    if _is_auto_reply(message):
        return Reading("auto-reply", diagnostic=_clean(message.get("Subject")), **base)
    return Reading("unknown", diagnostic=_clean(message.get("Subject")), **base)


def _detected(message: Message) -> tuple[frozenset[bytes], frozenset[bytes]]:
    """flufl.bounce's temporary and permanent failures. Its detectors stop at the first one that
    raises (Yale's, on a message without From), which means "no bounce we can read", not an
    unreadable message."""
    try:
        return all_failures(message)
    except Exception:  # a third-party heuristic on untrusted input
        return frozenset(), frozenset()


def _text(value: object) -> str:
    return " ".join(str(value).split())


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = _text(value)[:DIAGNOSTIC_CHARS]
    return text or None


def _decode(address: bytes) -> str:
    return address.decode("ascii", "replace").strip().strip("<>").lower()


def _part(message: Message, content_type: str) -> Message | None:
    """The first part of this type, not looking inside a quoted original message."""
    stack = [message]
    while stack:
        part = stack.pop(0)
        if part.get_content_type() == content_type:
            return part
        if part.is_multipart() and part.get_content_type() != "message/rfc822":
            stack.extend(item for item in part.get_payload() if isinstance(item, Message))
    return None


def _field_blocks(part: Message) -> list[Message]:
    """The header blocks of a ``message/delivery-status`` or ``message/feedback-report`` part: the
    email package parses them as a list of messages, unless a transfer encoding hid them; then they are
    parsed here from the decoded text."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload:
        return [item for item in payload if isinstance(item, Message)]
    data = part.get_payload(decode=True)
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(payload)
    parser = HeaderParser(policy=policy.compat32)
    return [parser.parsestr(block.strip() + "\n") for block in _BLANK_LINE.split(text) if block.strip()]


def _typed_value(value: object) -> str | None:
    """``rfc822; ania@example.pl`` → ``ania@example.pl`` (the address type of RFC 3464 fields)."""
    if value is None:
        return None
    text = _text(value)
    return text.split(";", 1)[1].strip() if ";" in text else text or None


def _delivery_status(part: Message) -> dict[str, Any] | None:
    """The worst per-recipient outcome of a DSN, or None when it has no recipient block."""
    best: dict[str, Any] | None = None
    for block in _field_blocks(part)[1:]:
        action = _text(block.get("Action", "")).lower()
        status_match = _STATUS.search(_text(block.get("Status", "")))
        status = ".".join(status_match.groups()) if status_match else None
        if action == "failed":
            kind = "soft" if status and status.startswith("4") else "hard"
        elif action == "delayed":
            kind = "soft"
        elif action in ("delivered", "relayed", "expanded"):
            kind = "unknown"
        else:
            continue
        recipient = _typed_value(block.get("Final-Recipient")) or _typed_value(
            block.get("Original-Recipient")
        )
        found = {
            "kind": kind,
            "recipient": recipient.strip("<>").lower() if recipient else None,
            "status": status,
            "diagnostic": _clean(_typed_value(block.get("Diagnostic-Code"))),
        }
        if best is None or _RANK[kind] > _RANK[best["kind"]]:
            best = found
    return best


def _feedback(message: Message, part: Message, base: dict[str, Any]) -> Reading:
    """An ARF report: a complaint unless it says the mail was no spam or reports an authentication
    failure (RFC 6591), which are no wish to stop."""
    blocks = _field_blocks(part)
    fields = blocks[0] if blocks else Message()
    feedback_type = _text(fields.get("Feedback-Type", "")).lower() or None
    sender = message.get("From")
    reporter = _ADDRESS.search(_text(sender)) if sender else None
    senders = tuple(_text(v) for v in fields.get_all("Original-Mail-From", [])) + base["original_senders"]
    recipient = _clean(fields.get("Original-Rcpt-To"))
    return Reading(
        "unknown" if feedback_type in ("not-spam", "auth-failure") else "complaint",
        recipient=recipient.strip("<>").lower() if recipient else None,
        diagnostic=f"Feedback-Type: {feedback_type}" if feedback_type else None,
        reporter=reporter.group(0).rsplit("@", 1)[1].lower() if reporter else None,
        **(base | {"original_senders": senders}),
    )


def _original_headers(message: Message) -> Message | None:
    """The headers of the original message a report quotes (``text/rfc822-headers`` or
    ``message/rfc822``), if any."""
    stack = [message]
    while stack:
        part = stack.pop(0)
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                quoted: Message = inner[0]
                return quoted
        elif content_type in ("text/rfc822-headers", "text/global-headers"):
            data = part.get_payload(decode=True)
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(part.get_payload())
            return HeaderParser(policy=policy.compat32).parsestr(text.lstrip())
        elif part.is_multipart():
            stack.extend(item for item in part.get_payload() if isinstance(item, Message))
    return None


def _is_auto_reply(message: Message) -> bool:
    submitted = _text(message.get("Auto-Submitted", "")).lower()
    if submitted and not submitted.startswith("no"):
        return True
    if message.get("X-Autoreply") is not None or message.get("X-Autorespond") is not None:
        return True
    if _text(message.get("Precedence", "")).lower() == "auto_reply":
        return True
    return bool(_AUTO_REPLY_SUBJECT.search(_text(message.get("Subject", ""))))


# -- applying ---------------------------------------------------------------------------------------


def process(
    store: Store,
    settings: Settings,
    raw: bytes,
    source: str,
    now: datetime,
    *,
    delivered_to: Sequence[str] = (),
) -> Report | None:
    """Read one message and apply it (subscriber status, consent history, the delivery); None when the
    same bytes were processed before. Never raises for a bad message: it is recorded as ``unreadable``.

    ``source`` says where it came from (``imap``, ``maildir``, ``smtp``); ``delivered_to``, the
    envelope recipients when the caller has them (an SMTP receiver), is tried before any header.
    Everything happens in one transaction, so a report either counts once or not at all.
    """
    digest = hashlib.sha256(raw).hexdigest()
    if rows.seen(store, digest):
        return None
    reading = read(raw, delivered_to)
    verp = Verp.for_settings(settings)
    with store.transaction():
        report = _resolve(store, verp, reading)
        if not rows.insert(
            store,
            at=iso(now),
            source=source,
            digest=digest,
            kind=report.kind,
            outbox_id=report.outbox_id,
            delivery_id=report.delivery_id,
            subscriber_id=report.subscriber_id,
            recipient=report.recipient,
            status=report.status,
            diagnostic=report.diagnostic,
            report_message_id=report.report_message_id,
        ):
            return None
        applied = _apply(store, settings, report, reading, source, now)
    return replace(report, applied=applied)


def _resolve(store: Store, verp: Verp | None, reading: Reading) -> Report:
    """The report with the subscriber, outbox row and delivery it is about, verified."""
    kind = reading.kind
    if verp is not None:
        for value in reading.delivered_to:
            for claimed, mac in verp.unsubscribe_claims(value):
                found = subscribers_by_ids(store, [claimed])
                if found and verp.unsubscribe_holds(claimed, found[0].token, mac):
                    return Report(
                        "unsubscribe",
                        recipient=found[0].email,
                        diagnostic=reading.diagnostic,
                        report_message_id=reading.report_message_id,
                        subscriber_id=claimed,
                    )
    outbox_id = _outbox_id(store, verp, reading)
    target = rows.outbox_target(store, outbox_id) if outbox_id is not None else None
    subscriber_id = target[0] if target else None
    delivery_id = target[1] if target else None
    recipient, diagnostic = reading.recipient, reading.diagnostic
    if target is not None and subscriber_id is None:
        # The row's subscriber was erased: the report may quote the address, which must not come back.
        recipient = None
        diagnostic = _ADDRESS.sub(ERASED, diagnostic) if diagnostic else None
    elif subscriber_id is not None:
        email = subscribers_by_ids(store, [subscriber_id])[0].email
        if recipient is None or (reading.failed and email.lower() in reading.failed):
            recipient = email
    return Report(
        kind,
        outbox_id=outbox_id if target is not None else None,
        recipient=recipient,
        status=reading.status,
        diagnostic=diagnostic,
        report_message_id=reading.report_message_id,
        subscriber_id=subscriber_id,
        delivery_id=delivery_id,
    )


def _outbox_id(store: Store, verp: Verp | None, reading: Reading) -> int | None:
    """The outbox row: a VERP token where the report was delivered, then in the original's envelope
    sender, then the original Message-ID (ours carry the row id and a MAC, and must match the row's)."""
    if verp is not None:
        for value in (*reading.delivered_to, *reading.original_senders):
            outbox_id = verp.outbox_id(value)
            if outbox_id is not None:
                return outbox_id
    message_id = reading.original_message_id
    match = _OUR_MESSAGE_ID.search(message_id or "")
    if match is not None and message_id is not None:
        row_id = int(match.group(1))
        target = rows.outbox_target(store, row_id)
        if target is not None and target[2] == match.group(0):
            return row_id
    return None


def _apply(
    store: Store, settings: Settings, report: Report, reading: Reading, source: str, now: datetime
) -> bool:
    """Change the subscriber as the report asks; True when their status changed or a hard bounce was
    counted towards `bounce_after`."""
    subscriber_id = report.subscriber_id
    if subscriber_id is None or report.kind not in ("hard", "soft", "complaint", "unsubscribe"):
        return False
    found = subscribers_by_ids(store, [subscriber_id])
    if not found:
        return False
    subscriber = found[0]
    if report.kind in ("complaint", "unsubscribe"):
        event: Literal["withdrawal", "complaint"] = (
            "complaint" if report.kind == "complaint" else "withdrawal"
        )
        where = MAILTO if report.kind == "unsubscribe" else f"arf: {reading.reporter or 'unknown reporter'}"
        after = unsubscribe(store, subscriber.token, now, source=where, event=event)
        return after.status != subscriber.status
    detail = {"kind": report.kind, "status": report.status, "diagnostic": report.diagnostic, "via": source}
    if report.kind == "hard":
        subscriber_rows.count_bounce(store, subscriber_id, settings.outbox.bounce_after)
    elif subscriber.status == "active":
        since = iso(now - timedelta(days=settings.bounces.soft_days))
        if rows.soft_count(store, subscriber_id, since) >= settings.bounces.soft_limit:
            subscriber_rows.change_status(store, subscriber_id, ("active",), "bounced")
    became_bounced = subscriber.status != "bounced" and bool(
        subscriber_rows.bounced_among(store, [subscriber_id])
    )
    if became_bounced:
        consent.record(store, subscriber_id, "bounce", "bounce report", now, detail=detail)
    return report.kind == "hard" or became_bounced


def list_reports(store: Store, *, limit: int | None = None, kind: str | None = None) -> list[BounceRow]:
    """Reports read, newest first (`bounces list`)."""
    return [BounceRow(*row) for row in rows.listing(store, limit, kind)]


@dataclass(frozen=True, slots=True)
class BounceRow:
    """One report as `bounces list` shows it; ``email`` and ``outbox_key`` are None once the subscriber
    was erased or when the report named nobody."""

    id: int
    at: str
    source: str
    kind: str
    recipient: str | None
    status: str | None
    diagnostic: str | None
    email: str | None
    outbox_key: str | None

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in BounceRow.__slots__}
