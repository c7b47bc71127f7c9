"""A subscriber's consent history: the `consent_events` table, one row per opt-in, confirmation, change of
preferences, withdrawal, complaint or bounce, with its time, source and consent text version.

The history is what shows, months later, what a person agreed to, when and where, and that they withdrew:
it is kept when they unsubscribe and when they ask again, and erased with them (`subscriptions` decides
when each event happens; this module only keeps them). Every write joins the caller's transaction, so an
event and the change it records commit together.

An opt-in ``detail`` may hold a ``request``: the choices of a subscription asked for an address already
stored, which wait here, outside the subscriber's row, until the confirmation link is used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from newsroom_feed.models import iso
from newsroom_feed.store import subscribers as rows
from newsroom_feed.store.database import Store, stored_moment

EventKind = Literal["opt-in", "confirmation", "change", "withdrawal", "complaint", "bounce"]

#: Sources of events beside ``operator`` and ``web`` (the `consent_source` values of an opt-in).
CONFIRMATION_LINK = "confirmation link"
UNSUBSCRIBE_PAGE = "unsubscribe page"
ONE_CLICK = "one-click (RFC 8058)"
PREFERENCES_PAGE = "preferences page"


def consent_version(text: str | None) -> str | None:
    """A short fingerprint of a consent text (the first 12 hex digits of its SHA-256): two events with
    the same version record agreement to the very same words, whichever form or release showed them."""
    if not text:
        return None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    """One line of a subscriber's consent history (`subscriber history`)."""

    at: datetime
    event: str
    source: str
    consent_version: str | None
    consent_text: str | None
    detail: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "event": self.event,
            "source": self.source,
            "consent_version": self.consent_version,
            "consent_text": self.consent_text,
            "detail": self.detail,
        }


def record(
    store: Store,
    subscriber_id: int,
    event: EventKind,
    source: str,
    now: datetime,
    *,
    consent_text: str | None = None,
    version: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one event; ``version`` defaults to that of ``consent_text``. For other modules too (a
    complaint, a bounce)."""
    rows.add_event(
        store,
        subscriber_id,
        iso(now),
        event,
        source,
        consent_text,
        version or consent_version(consent_text),
        json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
    )


def history(store: Store, subscriber_id: int) -> list[ConsentEvent]:
    """Every event of a subscriber, oldest first.

    Events that migration 6 wrote from what the subscribers table knew carry no version: it is worked out
    here from their consent text.
    """
    return [
        ConsentEvent(
            at=stored_moment(at) or datetime.min,
            event=event,
            source=source,
            consent_version=version or consent_version(text),
            consent_text=text,
            detail=_detail(detail),
        )
        for at, event, source, version, text, detail in rows.events(store, subscriber_id)
    ]


@dataclass(frozen=True, slots=True)
class Request:
    """A subscription request waiting for its confirmation link (an opt-in with a ``request``)."""

    at: datetime
    source: str
    consent_text: str | None
    choices: dict[str, Any]


def waiting_requests(store: Store, subscriber_id: int, made_by: datetime | None) -> list[Request]:
    """The requests made since the last confirmation and by ``made_by`` (None: any time), newest first."""
    found = []
    for at, source, text, detail in rows.unconfirmed_opt_ins(
        store, subscriber_id, iso(made_by) if made_by else "9999"
    ):
        choices = (_detail(detail) or {}).get("request")
        if isinstance(choices, dict):
            found.append(Request(stored_moment(at) or datetime.min, source, text, choices))
    return found


def forget_requests(store: Store, subscriber_id: int) -> None:
    """Drop the choices of the requests made since the last confirmation or withdrawal, which nobody
    confirmed (a stranger may have typed them); the opt-in events themselves stay."""
    rows.clear_open_requests(store, subscriber_id)


def erase(store: Store, subscriber_id: int) -> None:
    """Delete a subscriber's history. The foreign key would cascade too; said here so that erasure does
    not depend on the connection's ``foreign_keys`` PRAGMA."""
    rows.delete_events(store, subscriber_id)


def _detail(text: str | None) -> dict[str, Any] | None:
    """An event's detail as `record` wrote it; anything else (an outside writer's note) is kept as
    ``{"note": text}`` rather than lost or fatal."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return {"note": text}
    return value if isinstance(value, dict) else {"note": text}
