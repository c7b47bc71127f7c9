"""The planner: given the store and `now`, what outputs to rebuild and which alerts and digests to enqueue.

It runs when the store changes (the watcher, `build`) or when the clock passes a moment that matters (an
embargo lifting, a digest being due). Running it twice produces nothing new.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import operator
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from newsroom_feed import __version__
from newsroom_feed.errors import InputError
from newsroom_feed.event_dates import starts_at
from newsroom_feed.mail import outbox
from newsroom_feed.mail.kinds import ALERT, CORRECTION, DIGEST, EARLY, EVENTS_AHEAD, NOTICE
from newsroom_feed.mail.kinds import DIGEST_PERIODS as DIGEST_PERIODS  # the daemon's schedule reads it here
from newsroom_feed.mail.message_ids import message_id_key, row_message_id
from newsroom_feed.models import Release, Subscriber, iso
from newsroom_feed.people.subscriptions import list_subscribers
from newsroom_feed.settings import Settings
from newsroom_feed.site import formats, layout
from newsroom_feed.site.outputs import Affected, Renderer
from newsroom_feed.site.publisher import Publisher
from newsroom_feed.store import corrections, digests, early_access, mailings
from newsroom_feed.store import subscribers as subscriber_rows
from newsroom_feed.store.database import Store

# == outputs: what to rebuild (`outputs.Renderer` makes the bytes) ==============================

#: With this many changed releases a full build is as cheap as working out what they touch.
_FULL_BUILD_AFTER = 2_000


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What one build really did: paths relative to the public directory, feed URLs for WebSub pings."""

    written: tuple[str, ...]
    removed: tuple[str, ...]
    changed_feeds: tuple[str, ...]
    newly_visible: tuple[int, ...]
    full: bool
    duration: float

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed or self.newly_visible)

    def to_json(self) -> dict[str, object]:
        return {
            "full": self.full,
            "written": list(self.written),
            "removed": list(self.removed),
            "changed_feeds": list(self.changed_feeds),
            "newly_visible": list(self.newly_visible),
            "duration_ms": round(self.duration * 1000, 1),
        }


def build(
    store: Store,
    settings: Settings,
    now: datetime,
    *,
    full: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    plan_alerts: bool = True,
) -> BuildReport:
    """Bring the feeds and pages up to date with the store at ``now``, then plan the alerts of releases
    that became visible; what the daemon runs on every change and every embargo lift.

    Either way the releases that became visible are stamped noticed (`Store.notice_visible`), the
    moment digests go by. Without ``plan_alerts`` (`digest send`, which plans no alerts) nothing is
    enqueued and they stay unannounced, so the next build plans their alerts.

    Only the outputs the new changes touch are rebuilt (the global feeds and index, the categories and
    release pages concerned), unless ``full``, no build was ever made, the settings or templates the
    outputs depend on changed since the last build (see `fingerprint`), or the public directory lost its
    files. The change cursor is saved only once the files are in place, so a crash rebuilds, never skips.
    A full build tells ``on_progress(releases_rendered, releases)`` as it renders (the CLI's progress
    bar); an incremental one is too short to need it.

    Rows an outside writer left incomplete or wrote times into in another form are completed first, and
    the changes that completing appends are read after it, so no build compares a time that is not in the
    store's form with the clock. Releases held back for an unreadable time are reported in
    ``build_state.last_error`` (and so by ``/healthz``) until the operator sets their time.

    :raises PublishError: the public directory cannot be written; the cursor is not moved.
    """
    started = time.perf_counter()
    store.complete_pending(now)  # before `head`: its own changes belong to this build
    state = store.build_state()
    publisher = Publisher(settings.public_dir)
    renderer = Renderer(store, settings, now)
    head = store.last_change_id()
    made_with = fingerprint(settings, renderer.pages.directory)
    affected: Affected | None = None
    if (
        not full
        and state.built_at is not None
        and state.fingerprint == made_with
        and all(map(publisher.exists, renderer.core_paths()))
    ):
        affected = _affected(store, state.change_cursor, head, state.built_at, now)
    if affected is None:
        result = publisher.publish(*renderer.everything(publisher, on_progress))
    elif affected:
        result = publisher.publish(*renderer.some(affected, publisher))
    else:  # the store is as it was, but the clock takes events that are over off the events page
        result = publisher.publish(renderer.events_page())
    store.save_build_state(
        max(head, state.change_cursor),
        now,
        _held_problem(store),
        fingerprint=made_with,
        counts=renderer.recounted,
        every_count=renderer.every_count,
        pairs=renderer.pairs,
        pairs_of=renderer.pairs_of,
    )
    if plan_alerts:
        newly_visible = announce(store, settings, now)  # notices them too
        plan_notices(store, settings, now)
        plan_early(store, settings, now)
        plan_corrections(store, settings, now)
    else:
        store.notice_visible(now)
        newly_visible = []
    changed_feeds = [
        layout.public_url(settings, path)
        for path in [*result.written, *result.removed]
        if formats.is_feed(path)
    ]
    return BuildReport(
        written=tuple(result.written),
        removed=tuple(result.removed),
        changed_feeds=tuple(sorted(changed_feeds)),
        newly_visible=tuple(newly_visible),
        full=affected is None,
        duration=time.perf_counter() - started,
    )


def fingerprint(settings: Settings, templates: Path) -> str:
    """sha256 of what the outputs depend on besides the store: the settings that appear in them (the base
    URL, the zone of the dates, the feed's title, description, organization, author, length and
    language, the WebSub hubs), the page templates and stylesheet, and the program's version. A build
    whose fingerprint differs from the last one's rebuilds everything: a new base URL changes every link.
    """
    digest = hashlib.sha256()
    chosen = {
        "version": __version__,
        "base_url": settings.base_url,
        "timezone": settings.timezone,
        "feed": settings.feed.model_dump(mode="json"),
        "websub_hubs": list(settings.websub.hubs),
    }
    digest.update(json.dumps(chosen, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    for path in sorted(path for path in templates.rglob("*") if path.is_file()):
        digest.update(b"\0" + path.relative_to(templates).as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


#: Flaws `build_state.last_error` names; `newsroom-feed check` lists every one.
_FLAWS_REPORTED = 10


def _held_problem(store: Store) -> str | None:
    """What `build_state.last_error` (so ``/healthz``) says while an outside writer's rows break the
    rules every writer is held to: releases held back for a time that cannot be read, and what
    `Store.flaws` finds (values left out of the outputs, releases and categories held back). Every
    other release was published, so this is news for the operator rather than a failed build."""
    parts = []
    held = store.held_releases()
    if held:
        names = ", ".join(number or f"id {release_id}" for release_id, number in held)
        parts.append(
            f"held back, an outside writer stored a time that cannot be read (see the log): {names}; "
            "set it with newsroom-feed release update"
        )
    flaws = store.flaws()
    if flaws:
        named = "; ".join(map(str, flaws[:_FLAWS_REPORTED]))
        more = f"; {len(flaws) - _FLAWS_REPORTED} more" if len(flaws) > _FLAWS_REPORTED else ""
        parts.append(
            f"an outside writer stored values no writer may store: {named}{more} "
            "(newsroom-feed check lists them)"
        )
    return " | ".join(parts) or None


def _affected(store: Store, cursor: int, head: int, built_at: datetime, now: datetime) -> Affected | None:
    """Releases and categories touched since ``cursor``, plus releases whose embargo or scheduled time
    fell in (built_at, now]; None when only a full build is safe (a deleted release or a renamed
    category, whose old outputs cannot be found from the change alone, or too many changes)."""
    affected = Affected(set(), set(), set())
    touched: list[tuple[int | None, int | None]] = []
    while cursor < head:
        changes = store.changes_after(cursor)
        if not changes:
            break
        for change in changes:
            if change.id > head:
                break
            if (change.table == "releases" and change.op == "delete") or change.table == "categories":
                return None
            touched.append((change.release_id, change.category_id))
            if change.release_id is not None:
                affected.release_ids.add(change.release_id)
                if change.table == "releases" and change.op == "insert":
                    affected.inserted.add(change.release_id)
            if change.category_id is not None:
                affected.category_ids.add(change.category_id)
        cursor = changes[-1].id
        if len(affected.release_ids) > _FULL_BUILD_AFTER:
            return None
    # A release that was there before the change may have left its place in a category's list, which
    # moves the pages after it; a new one (or one the clock lifted) only adds to the lists.
    edited = {r for r, _ in touched if r is not None and r not in affected.inserted}
    affected.unsettled.update(c for r, c in touched if c is not None and r not in affected.inserted)
    affected.unsettled.update(store.release_category_ids(edited))
    if now > built_at:
        affected.release_ids.update(release.id for release in store.visible_between(built_at, now))
    affected.category_ids.update(store.release_category_ids(affected.release_ids))
    return affected


# == mail: alerts and digests ====================================================================


def announce(store: Store, settings: Settings, now: datetime) -> list[int]:
    """Releases that became visible since the last run: plan their alerts, once; returns their ids.

    Called at the end of every build, after the outputs are in place, so an alert never points at a
    page that is not there yet. One alert per matching active `immediate` subscriber; an urgent release
    goes to every matching active subscriber whatever their frequency. A release that became visible
    more than ``outbox.alert_max_age_hours`` ago (an import of old releases) is marked without alerts.
    The alerts and the mark are one transaction: a crash plans all of them or none. What is announced
    is noticed too (`Store.notice_visible`), so digests see every release whose alerts went. An early
    copy of these releases not sent yet never goes (the sender withdraws it, `errors.EmbargoLifted`), so
    its reader gets the alert too (`_not_told_early` counts only copies sent).
    """
    releases = store.unannounced_visible(now)
    if not releases:
        return []
    oldest = now - news_age(settings)
    fresh = [release for release in releases if release.visible_at >= oldest]
    with store.transaction():
        store.notice_visible(now)
        if fresh:
            frequencies = ("immediate", "daily", "weekly") if any(r.urgent for r in fresh) else ("immediate",)
            subscribers = list_subscribers(store, status="active", frequencies=frequencies)
            outbox.enqueue(store, _not_told_early(store, fresh, _alerts(fresh, subscribers)), now)
        store.mark_announced([release.id for release in releases], now)
    return [release.id for release in releases]


def _alerts(releases: list[Release], subscribers: list[Subscriber]) -> Iterator[outbox.NewMessage]:
    for release in releases:
        for subscriber in subscribers:
            if (release.urgent or subscriber.frequency == "immediate") and subscriber.wants(release):
                yield outbox.NewMessage(subscriber.id, ALERT.key(release.uid), "alert", (release.id,))


# == mail before the lift: early copies for verified journalists, and notices (issues 12, 13) ==========


def plan_early(store: Store, settings: Settings, now: datetime) -> int:
    """Plan an early copy of each release shared early (``early_access``) and still under embargo for
    every verified journalist of its categories who accepted the current embargo terms, whatever their
    frequency; returns how many rows are new.

    Runs on every build: the outbox's one row per (subscriber, key) makes it plan each copy once, and a
    journalist verified (or accepting new terms) before the lift gets theirs at the next build. The lift
    each release is announced with is recorded, so a moved embargo is told (`plan_notices`).
    """
    ids = early_access.to_share(store, now)
    if not ids:
        return 0
    releases = store.releases_by_ids(ids)
    readers = early_access.readers(store, settings.journalists.terms_version)
    with store.transaction():
        planned = outbox.enqueue(store, _early_copies(releases, readers), now)
        mailings.tell_first(store, [(release.id, iso(release.visible_at)) for release in releases])
    return planned


def _early_copies(
    releases: list[Release], readers: list[tuple[int, frozenset[str]]]
) -> Iterator[outbox.NewMessage]:
    for release in releases:
        slugs = {category.slug for category in release.categories}
        for subscriber_id, chosen in readers:
            if not chosen or chosen & slugs:
                yield outbox.NewMessage(subscriber_id, EARLY.key(release.uid), "early", (release.id,))


def _not_told_early(
    store: Store, releases: list[Release], alerts: Iterator[outbox.NewMessage]
) -> Iterator[outbox.NewMessage]:
    """The alerts without those of subscribers who have an early copy of that release (sent or still
    to go): at the lift they get no second mail. A withdrawn or failed copy reached nobody."""
    held = mailings.holders(store, [EARLY.key(release.uid) for release in releases])
    told = {(subscriber_id, ALERT.key(EARLY.read_key(key))) for subscriber_id, key in held}
    for alert in alerts:
        if (alert.subscriber_id, alert.key) not in told:
            yield alert


def plan_notices(store: Store, settings: Settings, now: datetime) -> int:
    """Tell those who received a release what happened to it since, each once, threaded under the mail
    they received: its embargo moved (to the early recipients, while the lift they were told is still
    to come), or it was withdrawn (to everyone with its early copy or alert). Returns how many rows
    are new.

    Candidates are found cheaply on every build: `release_mailings` (releases shared early or
    withdrawn) for a moved embargo, and for a withdrawal every retraction not told yet, however long
    the daemon was down (an index of the retracted releases), never a scan of the outbox.
    """
    messages: list[outbox.NewMessage] = []
    with store.transaction():
        moved = mailings.moved(store, iso(now))
        withdrawn = mailings.withdrawn_untold(store)
        if not moved and not withdrawn:
            return 0
        signing = message_id_key(settings.signing_key())  # may read the key file: only when needed
        for release_id, uid, lift in moved:
            # Keyed by when it is told too: an embargo moved back to a time told before is told again.
            key = NOTICE.moved_key(uid, datetime.fromisoformat(lift), now)
            messages.extend(
                outbox.NewMessage(sid, key, "notice", (release_id,), answers)
                for sid, answers in _originals(store, signing, settings.domain, [EARLY.key(uid)]).items()
            )
            mailings.retell(store, release_id, lift)
        for release_id, uid in withdrawn:
            key = NOTICE.withdrawn_key(uid)
            originals = _originals(store, signing, settings.domain, [ALERT.key(uid), EARLY.key(uid)])
            messages.extend(
                outbox.NewMessage(sid, key, "notice", (release_id,), answers)
                for sid, answers in originals.items()
            )
        mailings.withdrawal_told(store, [release_id for release_id, _ in withdrawn], iso(now))
        return outbox.enqueue(store, messages, now) if messages else 0


def _originals(store: Store, signing: bytes, domain: str, keys: list[str]) -> dict[int, str]:
    """The Message-ID each subscriber who holds a release (one of these rows sent or on the wire)
    received first: the original, which every follow-up about it answers, so they form one thread.

    A row on the wire has no Message-ID stored yet: the one its composer stamps is computed.
    """
    originals: dict[int, str] = {}
    for row_id, subscriber_id, key, message_id in mailings.received(store, keys):
        if subscriber_id not in originals:  # rows come oldest first for each subscriber
            originals[subscriber_id] = message_id or row_message_id(
                signing, row_id, key, subscriber_id, domain
            )
    return originals


# == corrections: to those who received the release, threaded under their copy (issue 13) ===========


def plan_corrections(store: Store, settings: Settings, now: datetime) -> int:
    """Plan the mail of every correction not planned yet: one per subscriber who received the release
    (its alert or early copy, sent or on the wire now), threaded under the Message-ID that subscriber
    received; returns how many rows are new.

    The rows and the stamp on the corrections are one transaction, so a crash plans all of a
    correction's mail or none, and a second run plans nothing more. Those whose alert is still queued
    get the corrected text with it and no correction. Digest readers see corrections in their next
    digest (`digest_messages`).
    """
    with store.transaction():
        pending = corrections.unplanned(store)
        if not pending:
            return 0
        signing = message_id_key(settings.signing_key())
        messages = [
            outbox.NewMessage(
                subscriber_id, CORRECTION.key(uid, correction_id), "correction", (release_id,), answers
            )
            for correction_id, release_id, uid, retracted in pending
            if not retracted
            for subscriber_id, answers in _originals(
                store, signing, settings.domain, [ALERT.key(uid), EARLY.key(uid)]
            ).items()
        ]
        planned = outbox.enqueue(store, messages, now) if messages else 0
        corrections.mark_planned(store, [correction_id for correction_id, *_ in pending], iso(now))
    return planned


_ALERT_MAX_AGE = timedelta(hours=48)


@dataclass(frozen=True, slots=True)
class DigestPlan:
    """A digest run: the period it covers and how many messages it planned."""

    frequency: str
    period_start: datetime
    period_end: datetime
    planned: int


def digest_period(store: Store, frequency: str, now: datetime) -> tuple[datetime, datetime]:
    """The period a run at ``now`` covers: from where the previous run of this frequency ended (the first
    run: one period back) to ``now``.

    :raises InputError: for a frequency other than daily or weekly.
    """
    if frequency not in DIGEST_PERIODS:
        raise InputError("frequency", "must be daily or weekly")
    start = last_digest_end(store, frequency) or now - DIGEST_PERIODS[frequency]
    return start, now


def last_digest_end(store: Store, frequency: str) -> datetime | None:
    """Where the last digest run of ``frequency`` ended: the watermark of the next; None before the first."""
    end = digests.last_period_end(store, frequency)
    return datetime.fromisoformat(end) if end else None


def news_age(settings: Settings) -> timedelta:
    """How old a release may be when the service first sees it and still be news (alerts, digests)."""
    return timedelta(hours=settings.outbox.alert_max_age_hours)


def digest_releases(
    store: Store,
    start: datetime,
    end: datetime,
    *,
    max_age: timedelta = _ALERT_MAX_AGE,
    unnoticed_at_end: bool = False,
) -> list[Release]:
    """Releases the service first saw visible in (start, end], newest first (`Store.noticed_between`).

    Going by the moment a release was noticed rather than `visible_at` keeps a release that was added
    after a run with a publication time before it (backdated by a few minutes) from falling into a
    period already sent; a release that was stale when first seen (an import of old releases, older
    than ``max_age``) is no news and is left out, as it is from alerts. A run stamps what it sees
    first (`plan_digest`); a preview, which writes nothing, passes ``unnoticed_at_end`` instead.
    """
    rows = store.noticed_between(start, end, unnoticed_at_end=unnoticed_at_end)
    fresh = [release_id for release_id, visible_at, noticed_at in rows if visible_at >= noticed_at - max_age]
    return store.releases_by_ids(fresh)


def digest_messages(
    store: Store,
    frequency: str,
    start: datetime,
    end: datetime,
    *,
    subscriber_id: int | None = None,
    max_age: timedelta = _ALERT_MAX_AGE,
    preview: bool = False,
) -> Iterator[outbox.NewMessage]:
    """One digest per active subscriber of ``frequency`` with at least one release of theirs published
    in (start, end] (see `digest_releases`) or published before and corrected in it (`_corrected_in`,
    listed after the new ones), whenever they joined; with ``subscriber_id``, only that
    subscriber's, whatever their frequency (a preview). A ``preview`` (or a dry run) counts the
    visible releases no one noticed yet as the run would: noticed at ``end``.

    Streams subscribers with their category slugs in one query and matches each distinct category mix
    once (the rule of `Subscriber.wants`: none chosen means everything), so planning 100,000 digests
    holds no list of subscribers.
    """
    releases = (
        digest_releases(store, start, end, max_age=max_age, unnoticed_at_end=preview) if end > start else []
    )
    if end > start:  # after the new ones, those seen before the period and corrected in it ("Korekty")
        releases += _corrected_in(store, start, end, {release.id for release in releases})
    if not releases:
        return
    news = {release.id for release in releases}
    # Last, the events of the coming two weeks not listed yet ("Wydarzenia ..."); alone they make no digest.
    releases += _coming_events(store, end, news)
    key = DIGEST.key(frequency, end)
    release_slugs = [(release.id, {category.slug for category in release.categories}) for release in releases]
    every = tuple(release.id for release in releases)
    by_mix: dict[frozenset[str], tuple[int, ...]] = {}
    if subscriber_id is None:
        pairs = subscriber_rows.category_pairs(store, frequency=frequency)
    else:
        pairs = subscriber_rows.category_pairs(store, subscriber_id=subscriber_id)
    for sid, group in itertools.groupby(pairs, key=operator.itemgetter(0)):
        mix = frozenset(slug for _, slug in group if slug is not None)
        chosen = by_mix.get(mix)
        if chosen is None:
            chosen = every if not mix else tuple(rid for rid, slugs in release_slugs if slugs & mix)
            chosen = chosen if news.intersection(chosen) else ()
            by_mix[mix] = chosen
        if chosen:
            yield outbox.NewMessage(sid, key, "digest", chosen)


def _coming_events(store: Store, end: datetime, listed: set[int]) -> list[Release]:
    """Visible releases whose event starts within `EVENTS_AHEAD` after the period's end, soonest first,
    but those the digest lists already: a digest shows them in a section of their own."""
    zone = store.zone
    coming = [
        (starts_at(release.event, zone), release.id, release)
        for release in store.upcoming_event_releases(end)
        if release.event is not None
        and release.is_visible(end)
        and release.id not in listed
        and end < starts_at(release.event, zone) <= end + EVENTS_AHEAD
    ]
    return [release for _, _, release in sorted(coming, key=lambda item: item[:2])]


def _corrected_in(store: Store, start: datetime, end: datetime, new: set[int]) -> list[Release]:
    """Releases seen before the period (so in an earlier digest's reach) and corrected in it, the most
    recently corrected first: a digest shows them in a section of their own (`DigestKind.context`)."""
    ids = corrections.corrected_between(store, iso(start), iso(end))
    return store.releases_by_ids([release_id for release_id in ids if release_id not in new])


def plan_digest(store: Store, settings: Settings, frequency: str, now: datetime) -> DigestPlan:
    """Plan the digest run of ``frequency`` ending at ``now`` and record its watermark, in one
    transaction: a missed run is caught up by the next one, and nothing is planned twice.

    :raises InputError: for a frequency other than daily or weekly.
    """
    with store.transaction():
        # The watermark is read inside the write transaction, so two runs at once (the daemon's job and
        # a `digest send`) cannot both plan from the same start: the second sees the first's end.
        start, end = digest_period(store, frequency, now)
        if end <= start:
            return DigestPlan(frequency, start, end, 0)
        # What became visible since the last look and no build saw (a cron job's `release add`) is
        # noticed now, inside the period that ends now, and so in this run. (Not above: with the clock
        # behind the watermark, `now` would fall in a period already sent.)
        store.notice_visible(now)
        messages = digest_messages(store, frequency, start, end, max_age=news_age(settings))
        planned = outbox.enqueue(store, messages, now)
        digests.record_run(store, frequency, iso(start), iso(end), iso(now))
    return DigestPlan(frequency, start, end, planned)
