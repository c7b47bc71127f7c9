"""A subscriber's personal feed: ``/my/<token>/rss.xml``, ``atom.xml``, ``feed.json``.

The releases of that subscriber's categories (none chosen: every category), made by the public feeds'
own writers (`site.formats`) from the same visible reads the build uses, so nothing embargoed, scheduled
or retracted can show here earlier than on the public site. Served from memory, never written into the
public directory: the bytes of each (token, format) are kept with what they were made from (the store's
last change, the subscriber's categories and name, and the next moment a release becomes visible) and
made again only when one of those moved. A poll therefore costs two indexed reads and a dict lookup.

A verified journalist whose verification stands also finds the releases shared early (``early_access``)
while their embargo runs, marked in the title and with the embargo time in the summary; each fetch that
hands such a release out is recorded (`store.early_access`), so a leak can be traced. Whether the reader
is verified now is part of what the bytes were made from, so a revocation shows at the next poll.

Only active subscribers have a feed. A token nobody holds answers 404, one its subscriber replaced 410
Gone; an unsubscribed or erased subscriber's answers 404, like one that never existed.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime as babel_datetime
from fastapi import APIRouter, Request
from starlette.responses import Response

from newsroom_feed.markup import xml_safe
from newsroom_feed.models import Release, iso
from newsroom_feed.settings import Settings
from newsroom_feed.site import layout
from newsroom_feed.site.feeds import FeedScope, OutputFormat, feed_updated, summary
from newsroom_feed.site.formats import FORMATS
from newsroom_feed.store import early_access
from newsroom_feed.store import personal_feeds as rows
from newsroom_feed.store.database import Store
from newsroom_feed.store.personal_feeds import FeedOwner
from newsroom_feed.web.state import state_of
from newsroom_feed.web.static import Conditions, not_modified

router = APIRouter(include_in_schema=False)

#: Random bytes of a feed token: 192 bits, out of reach of guessing, 32 URL-safe characters.
TOKEN_BYTES = 24
#: Bytes of (token, format) documents kept in memory; the least recently asked for go first. A document
#: of 50 releases with their bodies is about 80 KB: some 800 of them, the feeds of the subscribers who
#: poll, where each one not kept costs about 9 ms to make again (bench/bench_personal.py).
CACHE_BYTES = 64 * 1024 * 1024
#: Readers recheck after a minute, as for the public feeds, but no shared cache may keep a copy.
CACHE_CONTROL = "private, max-age=60"

_BY_NAME: dict[str, OutputFormat] = {output.name: output for output in FORMATS}
_NOT_FOUND = b"Nie znaleziono / Not found\n"
_GONE = (
    "Ten adres kanału zastąpiono nowym: znajdziesz go na stronie ustawień subskrypcji.\n"
    "This feed address was replaced by a new one: find it on your subscription preferences page.\n"
).encode()


# -- tokens ----------------------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def feed_token(store: Store, subscriber_id: int) -> str:
    """The subscriber's feed token, minted the first time it is asked for (their preferences page).

    :raises LookupError: no subscriber has this id (erased meanwhile).
    """
    token = rows.token_of(store, subscriber_id)
    if token is None:
        with store.transaction():
            rows.set_if_missing(store, subscriber_id, new_token())
        token = rows.token_of(store, subscriber_id)
    if token is None:
        raise LookupError(f"no subscriber {subscriber_id}")
    return token


def replace_feed_token(store: Store, subscriber_id: int, now: datetime) -> str:
    """Give the subscriber a new feed address; the old one answers 410 Gone from now on."""
    token = new_token()
    with store.transaction():
        rows.replace(store, subscriber_id, token, iso(now))
    return token


def feed_urls(settings: Settings, token: str) -> list[tuple[str, str]]:
    """(format label, URL) of each personal feed document, in the order of the public feed links."""
    return [
        (output.label, layout.personal_feed_url(settings.base_url, token, output.name)) for output in FORMATS
    ]


# -- the document ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonalScope(FeedScope):
    """One subscriber's feed: its own title, self links and feed id; no hub (nobody pings a private URL)."""

    token: str = ""
    #: Whom it is for: the subscriber's name, or their address.
    reader: str = ""

    @property
    def title(self) -> str:
        return xml_safe(f"{self.settings.feed.title} – {self.reader}")

    @property
    def feed_id(self) -> str:
        # Stable for as long as the token is, and different for every token; a URN, so it is not taken
        # for an address to fetch.
        url = layout.personal_feed_url(self.settings.base_url, self.token, "")
        return uuid.uuid5(uuid.NAMESPACE_URL, url).urn

    def current_url(self, name: str) -> str:
        return layout.personal_feed_url(self.settings.base_url, self.token, name)


@dataclass(frozen=True, slots=True)
class _Document:
    #: What the bytes were made from; a poll compares it with the store's answer of now.
    made_from: tuple[object, ...]
    #: The next moment a release becomes visible: the bytes are stale from then on.
    valid_until: datetime | None
    body: bytes
    etag: str
    last_modified: str
    updated: datetime
    #: The releases in ``body`` shared before their lift: each fetch of these bytes is recorded.
    early_ids: tuple[int, ...] = ()


class PersonalFeeds:
    """The personal feed documents of one app, in memory."""

    def __init__(self, settings: Settings) -> None:
        # Personal feeds announce no WebSub hub: the hubs are pinged for the public feeds only.
        websub = settings.websub.model_copy(update={"hubs": []})
        self.settings = settings.model_copy(update={"websub": websub})
        self._documents: OrderedDict[tuple[str, str], _Document] = OrderedDict()
        self._kept = 0
        self._lock = threading.Lock()
        #: The public part of the documents, shared by every reader of the same categories: after a
        #: change every reader's feed is made again, and most readers share a few category mixes.
        self._lists: OrderedDict[tuple[int, tuple[str, ...]], _PublicList] = OrderedDict()

    def document(self, store: Store, owner: FeedOwner, token: str, name: str, now: datetime) -> _Document:
        """The bytes of one personal feed at ``now``, made again only if what they depend on moved."""
        made_from = (
            store.last_change_id(),
            owner.categories,
            owner.name,
            owner.email,
            owner.verified,
            owner.language,
        )
        key = (token, name)
        with self._lock:
            known = self._documents.get(key)
            if known is not None:
                self._documents.move_to_end(key)
        if (
            known is not None
            and known.made_from == made_from
            and (known.valid_until is None or now < known.valid_until)
        ):
            return known
        made = self._make(store, owner, token, name, now, made_from)
        with self._lock:
            replaced = self._documents.pop(key, None)
            self._kept += len(made.body) - (0 if replaced is None else len(replaced.body))
            self._documents[key] = made
            while self._kept > CACHE_BYTES and len(self._documents) > 1:
                self._kept -= len(self._documents.popitem(last=False)[1].body)
        return made

    def _make(
        self,
        store: Store,
        owner: FeedOwner,
        token: str,
        name: str,
        now: datetime,
        made_from: tuple[object, ...],
    ) -> _Document:
        items = self.settings.feed.items
        early = early_for(store, owner, now, items, self.settings.zone)
        public = self._public_list(store, owner.categories, now, made_from[0])
        releases = [*early, *public.releases][: max(items, len(early))]
        scope = PersonalScope(self.settings, token=token, reader=owner.name or owner.email)
        body = _BY_NAME[name].render(scope, releases)
        updated = feed_updated(releases)
        return _Document(
            made_from,
            public.valid_until,
            body,
            f'"{hashlib.sha256(body).hexdigest()}"',
            format_datetime(updated, usegmt=True),
            updated,
            tuple(release.id for release in early),
        )

    def _public_list(
        self, store: Store, categories: tuple[str, ...], now: datetime, change: object
    ) -> _PublicList:
        """The newest public releases of these categories at ``now``, read once per store change (and
        again when the next embargo lifts) for all their readers."""
        key = (int(change) if isinstance(change, int) else -1, tuple(sorted(categories)))
        with self._lock:
            known = self._lists.get(key)
        if known is not None and (known.valid_until is None or now < known.valid_until):
            return known
        future = store.future_moments(now)
        made = _PublicList(
            tuple(newest_for(store, categories, now, self.settings.feed.items)),
            future[0][1] if future else None,
        )
        with self._lock:
            self._lists[key] = made
            while len(self._lists) > _LISTS_KEPT:
                self._lists.popitem(last=False)
        return made


@dataclass(frozen=True, slots=True)
class _PublicList:
    releases: tuple[Release, ...]
    #: The next moment a release becomes visible: the list is stale from then on.
    valid_until: datetime | None


#: Category mixes whose public lists are kept (each at most `feed.items` releases).
_LISTS_KEPT = 256


def newest_for(store: Store, categories: tuple[str, ...], now: datetime, items: int) -> list[Release]:
    """The newest ``items`` releases the public may see at ``now`` in these categories (none: all),
    newest first: for one category, the very read of its public feed."""
    if len(categories) == 1:
        return store.visible_releases(now, category=categories[0], limit=items)
    return store.releases_by_ids(store.visible_ids_in(now, categories, limit=items))


def early_for(store: Store, owner: FeedOwner, now: datetime, items: int, zone: ZoneInfo) -> list[Release]:
    """The releases shared early that a verified journalist may see at ``now`` in their categories,
    marked; none for anyone else (a revoked journalist sees only what is public)."""
    if not owner.verified or owner.status != "active":
        return []
    ids = early_access.embargoed_ids(store, now, owner.categories, limit=items)
    return [marked(release, owner.language, zone) for release in store.releases_by_ids(ids)]


#: The embargo mark of an early-access entry, in the reader's language (Polish unless English).
_MARKS = {
    "pl": (
        "[EMBARGO do {when}] ",
        "Embargo do {when} (czas polski): do tej chwili nie publikuj ani nie przekazuj dalej. ",
    ),
    "en": (
        "[EMBARGO until {when}] ",
        "Embargo until {when} (Polish time): do not publish or pass on before then. ",
    ),
}


def marked(release: Release, language: str, zone: ZoneInfo) -> Release:
    """The release as an early-access entry: the embargo's end (in Polish time, in the reader's words)
    leads its title and its summary.

    Its dates are those of the saving, not of the lift: the public entry of the same id comes at the lift
    with a later ``updated``, so readers replace the marked title, and neither the entry nor the feed
    (Last-Modified, which If-Modified-Since is compared with) carries a moment still to come."""
    if release.embargo_until is None:  # not read by `early_for`, which asks for an embargo running
        return release
    locale = "en" if language == "en" else "pl"
    when = babel_datetime(release.embargo_until, "d MMMM y, HH:mm", tzinfo=zone, locale=locale)
    title_mark, summary_mark = _MARKS[locale]
    return replace(
        release,
        embargo_until=None,
        published_at=min(release.published_at, release.created_at),
        title=title_mark.format(when=when) + release.title,
        summary=summary_mark.format(when=when) + summary(release),
    )


def _feeds_of(request: Request) -> PersonalFeeds:
    """The app's personal feeds (`create_app` makes them)."""
    feeds: PersonalFeeds = request.app.state.personal_feeds
    return feeds


# -- answering ---------------------------------------------------------------------------------------


@router.api_route("/my/{token}/{name}", methods=["GET", "HEAD"])
def personal_feed(request: Request, token: str, name: str) -> Response:
    """One personal feed document, or 304 when the reader's copy is current."""
    web = state_of(request)
    output = _BY_NAME.get(name)
    store = web.stores.get()
    owner = rows.owner(store, token, web.settings.journalists.terms_version) if output is not None else None
    if output is None or owner is None or owner.status != "active":
        if output is not None and owner is None and rows.is_retired(store, token):
            return _plain(410, _GONE)
        return _plain(404, _NOT_FOUND)
    document = _feeds_of(request).document(store, owner, token, name, web.clock())
    headers = {
        "ETag": document.etag,
        "Last-Modified": document.last_modified,
        "Cache-Control": CACHE_CONTROL,
        "X-Robots-Tag": "noindex",
        "Link": f'<{layout.personal_feed_url(web.settings.base_url, token, name)}>; rel="self"',
    }
    # The public files' RFC 9110 checks (`static.not_modified`), with the document's ETag and time.
    conditions = Conditions(
        request.method, "", request.headers.get("if-none-match"), request.headers.get("if-modified-since")
    )
    if not_modified(conditions, document.etag, int(document.updated.timestamp()) * 1_000_000_000):
        return Response(status_code=304, headers=headers)
    body = b"" if request.method == "HEAD" else document.body
    if body and document.early_ids:
        with store.transaction():
            early_access.record(store, document.early_ids, owner.subscriber_id, "feed", web.clock())
    response = Response(body, headers=headers, media_type=f"{output.media_type}; charset=utf-8")
    if request.method == "HEAD":
        response.headers["content-length"] = str(len(document.body))
    return response


def _plain(status: int, body: bytes) -> Response:
    return Response(
        body,
        status_code=status,
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"},
    )
