"""Message kinds: one object per kind of mail (outbox key, templates, context, List-Id, headers, recipients).

The composer and the ledger know no kind by name: they look the row's ``kind`` up in `KINDS` and ask
the object. A name missing from `KINDS` raises `UnknownMessageKind`; nothing falls back to another kind.

To add a kind: subclass `MessageKind` in this module, add one line to `KINDS`, and put its templates
``<template>.<language>.txt|html`` in ``templates/email/``. Nothing else names the kinds: the outbox
stores the name (migration 14 took away its CHECK).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from newsroom_feed.errors import UnknownMessageKind
from newsroom_feed.models import Release, Subscriber, iso
from newsroom_feed.people.subscriptions import confirmation_key
from newsroom_feed.people.tokens import Purpose

if TYPE_CHECKING:
    from newsroom_feed.mail.templates import ReleaseView

#: The List-Id a message belongs to: a category slug ("" for the general list) and, when the kind
#: already holds it, the category's name (else the composer looks it up).
ListChoice = tuple[str, str | None]

DIGEST_FREQUENCIES = ("daily", "weekly")


class MessageKind:
    """What composing and claiming a row of one kind need to know; the defaults suit a kind about
    releases that only active subscribers get."""

    #: The outbox ``kind`` and the ``X-Newsroom-Kind`` header.
    name: ClassVar[str]
    #: Subscriber statuses that may get it; an erased subscriber never does.
    receivers: ClassVar[frozenset[str]] = frozenset({"active"})
    #: False for a mail about the subscription itself: it goes even with no release to show.
    needs_releases: ClassVar[bool] = True
    #: Signed links its body carries besides unsubscribe and preferences (``confirm_url`` and so on).
    links: ClassVar[tuple[Purpose, ...]] = ()

    def may_receive(self, status: str) -> bool:
        return status in self.receivers

    def template(self, key: str) -> str:
        """The template name (without ``.<language>.<ext>``) of a row with this ``key``."""
        return self.name

    def body_key(self, key: str) -> str:
        """What of the key makes the body differ beyond its releases, language and greeting; rows
        equal in it share one rendered prototype."""
        return ""

    def context(self, key: str, releases: list[ReleaseView], now: datetime) -> dict[str, Any]:
        """Template variables of its own, added to those every mail gets."""
        return {}

    def list_for(self, subscriber: Subscriber, releases: list[Release]) -> ListChoice:
        """The mailing list (RFC 2919 List-Id) this message belongs to for ``subscriber``."""
        return "", None

    def headers(self, releases: list[Release]) -> list[tuple[str, str]]:
        """Headers of its own, after ``X-Newsroom-Kind``."""
        return []


class AlertKind(MessageKind):
    """One release, sent as soon as it is visible, to the subscribers who want it at once."""

    name = "alert"

    def key(self, release_uid: str) -> str:
        return f"alert:{release_uid}"

    def read_key(self, key: str) -> str:
        """The release uid an alert key names."""
        return key.removeprefix("alert:")

    def context(self, key: str, releases: list[ReleaseView], now: datetime) -> dict[str, Any]:
        return {"release": releases[0]}

    def list_for(self, subscriber: Subscriber, releases: list[Release]) -> ListChoice:
        # The release's first category the subscriber chose: the list they would filter it by.
        for category in releases[0].categories:
            if not subscriber.categories or category.slug in subscriber.categories:
                return category.slug, category.name
        return "", None

    def headers(self, releases: list[Release]) -> list[tuple[str, str]]:
        return [("X-Release-Id", releases[0].uid)]


@dataclass(frozen=True, slots=True)
class DigestPeriod:
    """What a digest key says: its frequency and the end of its period (None if unreadable)."""

    frequency: str
    end: datetime | None


class DigestKind(MessageKind):
    """The releases of a period, daily or weekly; its key names the period, so a run is planned once."""

    name = "digest"

    def key(self, frequency: str, period_end: datetime) -> str:
        return f"digest:{frequency}:{iso(period_end)}"

    def read_key(self, key: str) -> DigestPeriod:
        """Lenient: an unknown frequency reads as daily and an unreadable end as None (the composer
        then shows the time of composing), so an odd row still goes out."""
        parts = key.split(":", 2)
        frequency = parts[1] if len(parts) > 1 and parts[1] in DIGEST_FREQUENCIES else "daily"
        try:
            end = datetime.fromisoformat(parts[2]) if len(parts) > 2 else None
        except ValueError:
            end = None
        return DigestPeriod(frequency, end)

    def template(self, key: str) -> str:
        return f"digest_{self.read_key(key).frequency}"

    def body_key(self, key: str) -> str:
        return key

    def context(self, key: str, releases: list[ReleaseView], now: datetime) -> dict[str, Any]:
        return {"releases": releases, "period_end": self.read_key(key).end or now}

    def list_for(self, subscriber: Subscriber, releases: list[Release]) -> ListChoice:
        # A digest of one chosen category belongs to that category's list; any other to the general one.
        if len(subscriber.categories) == 1:
            return subscriber.categories[0], None
        return "", None


class ConfirmationKind(MessageKind):
    """The double opt-in mail: a pending subscriber gets it, and it shows no release."""

    name = "confirmation"
    receivers = frozenset({"active", "pending"})
    needs_releases = False
    links = ("confirm",)

    def key(self, now: datetime) -> str:
        """The outbox key of a confirmation mail asked for at ``now``: one per request, never merged.

        `people.subscriptions` queues confirmations inside the opt-in's own transaction, and people sit
        below mail, so the key is made there and this kind reads it.
        """
        return confirmation_key(now)

    def read_key(self, key: str) -> datetime | None:
        """When the confirmation was asked for, or None for a key not made by `key`."""
        try:
            return datetime.fromisoformat(key.removeprefix("confirm:"))
        except ValueError:
            return None


ALERT = AlertKind()
DIGEST = DigestKind()
CONFIRMATION = ConfirmationKind()

#: Every kind by name: what an outbox row's ``kind`` is looked up in.
KINDS: dict[str, MessageKind] = {kind.name: kind for kind in (ALERT, DIGEST, CONFIRMATION)}


def kind_named(name: str) -> MessageKind:
    """:raises UnknownMessageKind: no kind of that name is registered."""
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownMessageKind(name) from None
