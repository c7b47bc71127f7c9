"""Message kinds: one object per kind of mail (outbox key, templates, context, List-Id, headers, recipients).

The composer and the ledger know no kind by name: they look the row's ``kind`` up in `KINDS` and ask
the object. A name missing from `KINDS` raises `UnknownMessageKind`; nothing falls back to another kind.

To add a kind: subclass `MessageKind` in this module, add one line to `KINDS`, and put its templates
``<template>.<language>.txt|html`` in ``templates/email/``. Nothing else names the kinds: the outbox
stores the name (migration 14 took away its CHECK).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
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
#: How long a digest period of each frequency is when runs keep to their schedule.
DIGEST_PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
#: A digest lists the events that start this long after its period ends ("Wydarzenia w najbliższych
#: dwóch tygodniach"); the planner adds their releases after the others.
EVENTS_AHEAD = timedelta(days=14)


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
    #: True for a mail that may show a release still under embargo (an early copy, a notice or a
    #: correction about one), to a verified journalist only; anyone else's row, and any other kind,
    #: waits for the lift (`NotYetVisible`).
    before_lift: ClassVar[bool] = False
    #: True for a mail about a retracted release (its withdrawal); any other kind has nothing to say.
    about_retracted: ClassVar[bool] = False
    #: True for a copy handed out before the lift: sending it is recorded in ``early_access_log``.
    early_copy: ClassVar[bool] = False

    def may_receive(
        self, status: str, verification: str | None = None, *, current_terms: bool = False
    ) -> bool:
        """Whether a subscriber of this ``status`` (and journalist ``verification``, who accepted the
        embargo terms in force or not) may get it now."""
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


def _split_corrected(
    releases: list[ReleaseView], since: datetime, end: datetime
) -> tuple[list[ReleaseView], list[ReleaseView]]:
    """A digest's releases as (new ones, corrected ones): a release corrected after it went public, in
    (since, end], goes under "Korekty" ("Corrections") with its notes; the planner added those seen
    before the period for their correction (`planner.digest_messages`).

    The key holds no period start, so ``since`` is one period back: a run soon after another (a
    `digest send` by hand) still shows the correction it was planned for, and an older correction of a
    release here for another reason (its event) is not told again. A release both published and
    corrected in the one period is listed there too, with its note: the reader learns that it changed.
    """
    new: list[ReleaseView] = []
    corrected: list[ReleaseView] = []
    for release in releases:
        fixed = any(
            release.visible_at < correction.at <= end and correction.at > since
            for correction in release.corrections
        )
        (corrected if fixed else new).append(release)
    return new, corrected


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
        period = self.read_key(key)
        end = period.end or now
        start = end - DIGEST_PERIODS[period.frequency]
        new, corrected = _split_corrected(releases, start, end)
        events = [r for r in releases if r.event is not None and end < r.event.starts <= end + EVENTS_AHEAD]
        events.sort(key=lambda release: release.event.starts if release.event is not None else end)
        # A release seen before the period is here for its event alone (as `_split_corrected` reads it).
        coming = {id(release) for release in events if release.visible_at <= start}
        new = [release for release in new if id(release) not in coming]
        return {"releases": new, "corrected": corrected, "period_end": end, "events": events}

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


class EarlyKind(AlertKind):
    """A release under embargo shared early with verified journalists (issue 12): composed before the
    lift, with the embargo in its subject, a banner in both parts and ``X-Newsroom-Embargo-Until``;
    sending it is recorded as who had the release before the lift."""

    name = "early"
    before_lift = True
    early_copy = True

    def key(self, release_uid: str) -> str:
        return f"early:{release_uid}"

    def read_key(self, key: str) -> str:
        return key.removeprefix("early:")

    def may_receive(
        self, status: str, verification: str | None = None, *, current_terms: bool = False
    ) -> bool:
        # Revocation, and new terms, take effect at once: a copy still queued never goes to someone no
        # longer verified, or bound only by terms that are no longer in force.
        return status in self.receivers and verification == "verified" and current_terms

    def context(self, key: str, releases: list[ReleaseView], now: datetime) -> dict[str, Any]:
        return {"release": releases[0], "until": releases[0].visible_at}

    def headers(self, releases: list[Release]) -> list[tuple[str, str]]:
        return [*super().headers(releases), ("X-Newsroom-Embargo-Until", iso(releases[0].visible_at))]


@dataclass(frozen=True, slots=True)
class Notice:
    """What a notice key says: the release, and whether its embargo moved (to ``until``) or it was
    withdrawn."""

    release_uid: str
    reason: str  # "moved" or "withdrawn"
    until: datetime | None = None


class NoticeKind(MessageKind):
    """A short follow-up to those who received a release (issues 12 and 13): its embargo moved, or it
    was withdrawn. Threaded under the mail it follows (``in_reply_to``); it shows the release's title
    and number only, never its text, so a withdrawn release is not handed out again."""

    name = "notice"
    before_lift = True
    about_retracted = True

    def moved_key(self, release_uid: str, until: datetime, told_at: datetime) -> str:
        """One per move: ``told_at`` (the planning time) sets apart an embargo moved back to a lift
        told before, which the readers must hear of again."""
        return f"notice:{release_uid}:moved:{iso(until)}@{iso(told_at)}"

    def withdrawn_key(self, release_uid: str) -> str:
        return f"notice:{release_uid}:withdrawn"

    def read_key(self, key: str) -> Notice:
        """Lenient, like the digest's: a moved key whose time cannot be read says "moved" without one."""
        rest = key.removeprefix("notice:")
        if rest.endswith(":withdrawn"):
            return Notice(rest.removesuffix(":withdrawn"), "withdrawn")
        uid, _, moved = rest.rpartition(":moved:")
        when = moved.partition("@")[0]
        try:
            until = datetime.fromisoformat(when)
        except ValueError:
            until = None
        return Notice(uid or rest, "moved", until)

    def template(self, key: str) -> str:
        return f"notice_{self.read_key(key).reason}"

    def body_key(self, key: str) -> str:
        return key

    def context(self, key: str, releases: list[ReleaseView], now: datetime) -> dict[str, Any]:
        notice = self.read_key(key)
        return {"release": releases[0], "until": notice.until or releases[0].visible_at}

    def list_for(self, subscriber: Subscriber, releases: list[Release]) -> ListChoice:
        # The list of the mail it follows up.
        return ALERT.list_for(subscriber, releases)

    def headers(self, releases: list[Release]) -> list[tuple[str, str]]:
        release = releases[0]
        if release.retracted_at is not None:
            return ALERT.headers(releases)
        return [*ALERT.headers(releases), ("X-Newsroom-Embargo-Until", iso(release.visible_at))]


class VerificationKind(MessageKind):
    """The answer to a journalist's application (verified or refused), queued with the admin's decision
    by `people.journalists`, which makes the key (`decision_key`): people sit below mail."""

    name = "verification"
    needs_releases = False

    def read_key(self, key: str) -> str:
        """The verification the key names: ``verified`` or ``refused``."""
        parts = key.split(":", 2)
        return "verified" if len(parts) > 1 and parts[1] == "verified" else "refused"

    def template(self, key: str) -> str:
        return f"journalist_{self.read_key(key)}"

    def body_key(self, key: str) -> str:
        return self.read_key(key)


@dataclass(frozen=True, slots=True)
class CorrectionKey:
    """What a correction key says: the release and the ``corrections`` row (None if unreadable)."""

    release_uid: str
    correction_id: int | None


class CorrectionKind(MessageKind):
    """A correction ("korekta") to those who received the release (issue 13): threaded under the
    Message-ID each of them got (``in_reply_to``), the note and its time first, then the release as
    corrected, shown as an alert shows it. Its key names the correction, so each goes once."""

    name = "correction"
    # A verified journalist who holds an early copy gets it before the lift; anyone else at the lift.
    before_lift = True

    def key(self, release_uid: str, correction_id: int) -> str:
        return f"correction:{release_uid}:{correction_id}"

    def read_key(self, key: str) -> CorrectionKey:
        """Lenient: a uid holds colons of its own, so the correction id is what follows the last one."""
        uid, _, number = key.removeprefix("correction:").rpartition(":")
        return CorrectionKey(uid, int(number)) if number.isdigit() else CorrectionKey(uid, None)

    def body_key(self, key: str) -> str:
        return key

    def context(self, key: str, releases: list[ReleaseView], now: datetime) -> dict[str, Any]:
        release = releases[0]
        wanted = self.read_key(key).correction_id
        found = [correction for correction in release.corrections if correction.id == wanted]
        # A correction the store cannot show any more (an unreadable row) leaves the corrected text.
        return {"release": release, "correction": found[0] if found else None}

    def list_for(self, subscriber: Subscriber, releases: list[Release]) -> ListChoice:
        # The list of the alert it follows up.
        return ALERT.list_for(subscriber, releases)

    def headers(self, releases: list[Release]) -> list[tuple[str, str]]:
        return ALERT.headers(releases)


ALERT = AlertKind()
DIGEST = DigestKind()
CONFIRMATION = ConfirmationKind()
EARLY = EarlyKind()
NOTICE = NoticeKind()
VERIFICATION = VerificationKind()
CORRECTION = CorrectionKind()

#: Every kind by name: what an outbox row's ``kind`` is looked up in.
KINDS: dict[str, MessageKind] = {
    kind.name: kind for kind in (ALERT, DIGEST, CONFIRMATION, EARLY, NOTICE, VERIFICATION, CORRECTION)
}


def kind_named(name: str) -> MessageKind:
    """:raises UnknownMessageKind: no kind of that name is registered."""
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownMessageKind(name) from None
