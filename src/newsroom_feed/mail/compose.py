"""Mail composition: the exact bytes of every message, rendered once per body and spliced per recipient.

A message is rendered once per distinct body (kind, releases, language, city greeting) into a
*prototype*: headers and quoted-printable body parts, serialised, with a slot for every value that
differs per recipient (To, Date, Message-ID, List-Id, List-Unsubscribe and the link URLs in both parts).
Personalising a prototype joins bytes: no template, no `EmailMessage`, microseconds per recipient.

Quoted-printable wraps at 76 characters and could cut a URL spliced into encoded text in two. Each slot
therefore starts and ends with a soft line break ("=" CRLF, which decodes to nothing) and the value is
encoded on lines of its own, so a link survives whatever its length and whatever stands around it.

The templates, their names and their context are described in `templating.py`.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import secrets
import unicodedata
from base64 import b64encode
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.utils import format_datetime
from typing import Any

import css_inline

from newsroom_feed.errors import (
    EmbargoLifted,
    InputError,
    NewsroomError,
    NotYetVisible,
    ReleaseNotFound,
    SubscriberNotFound,
)
from newsroom_feed.mail.dkim import Signer
from newsroom_feed.mail.kinds import MessageKind, kind_named
from newsroom_feed.mail.message_ids import message_id_key, row_message_id
from newsroom_feed.mail.templates import make_environment, release_view, template_helpers
from newsroom_feed.mail.verp import Verp
from newsroom_feed.models import LANGUAGES, OutboxItem, OutgoingMessage, Release, Subscriber, utcnow
from newsroom_feed.people.subscriptions import subscribers_by_ids
from newsroom_feed.people.tokens import LinkSigner
from newsroom_feed.settings import Settings
from newsroom_feed.site import layout
from newsroom_feed.store.database import Store

#: The List-Id label of the list that carries every category.
GENERAL_LIST = "all-categories"
#: Distinct bodies kept rendered; a digest run has a handful, so this bounds memory, not speed.
PROTOTYPE_CACHE = 256

_SMTP = policy.SMTP
_ADDRESS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_ATOMS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+( [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
#: Characters quoted-printable leaves as they are (no "=", no space, no controls, ASCII only).
_QP_LITERAL = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<>?@\[\\\]^_`{|}~]*$")
_SLOTS = ("unsubscribe_url", "preferences_url", "confirm_url")


# -- headers ----------------------------------------------------------------------------------------


def header_text(value: str) -> str:
    """A header value with every control, format and line-separator character made a space.

    Titles and names can reach the store by plain SQL, so this runs whatever validation said: a CR or LF
    can never start a header of its own.
    """
    if not value.isprintable():
        value = "".join(
            " " if unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"} else char for char in value
        )
    return " ".join(value.split())


def _fold(name: str, value: str) -> bytes:
    """One header, RFC 2047-encoded where needed and folded, CRLF-terminated.

    Plain ASCII text is folded here, at the spaces between its words: the standard library folds a
    value of about 70 to 78 characters right after the colon, and readers (Python's own parser among
    them) then show it with a leading space: ``' [EMBARGO do …'``.
    """
    text = header_text(value)
    if text.isascii() and "=?" not in text:  # "=?" would read as an encoded word: let the library quote it
        return _fold_words(name, text)
    folded: str = _SMTP.header_factory(name, text).fold(policy=_SMTP)
    return folded.encode("ascii")


def _fold_words(name: str, text: str) -> bytes:
    """``name: text`` in lines of at most 78 characters where the words allow (a longer word keeps its
    own line, within the 998 that `InputError` bounds keep titles far below)."""
    lines, line = [], f"{name}:"
    for word in text.split(" "):
        if len(line) + 1 + len(word) > 78 and line != f"{name}:":
            lines.append(line)
            line = " " + word
        else:
            line += " " + word
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _phrase(name: str) -> str:
    """A display name as RFC 5322 phrase: quoted ASCII or base64 encoded-words of at most 75 chars."""
    if _ATOMS.match(name):
        return name
    if name.isascii():
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    whole = name.encode("utf-8")
    if len(whole) <= 45:
        return f"=?utf-8?b?{b64encode(whole).decode('ascii')}?="
    words, chunk = [], b""
    for char in name:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > 45:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{b64encode(word).decode('ascii')}?=" for word in words)


def address_header(name: str, display: str | None, email: str) -> bytes:
    """``To: Name <address>`` with the name encoded; the address must be plain ASCII.

    :raises InputError: the address has characters that could break the header.
    """
    if not _ADDRESS.match(email):
        raise InputError("email", f"{email!r} cannot be used in a mail header")
    shown = header_text(display or "")
    value = f"{_phrase(shown)} <{email}>" if shown else email
    return f"{name}: {value}\r\n".encode("ascii")


def _thread_headers(answers: str | None) -> bytes:
    """``In-Reply-To`` and ``References`` naming the message this one follows up (RFC 5322 section
    3.6.4), so a mail client shows a correction or a notice under the release it is about. The value
    came from our own Message-ID column; anything else that got there is dropped, not spliced."""
    if answers is None or not _MESSAGE_ID.match(answers):
        return b""
    return f"In-Reply-To: {answers}\r\nReferences: {answers}\r\n".encode("ascii")


_MESSAGE_ID = re.compile(r"^<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,200}@[A-Za-z0-9.-]{1,253}>$")


# -- quoted-printable with slots --------------------------------------------------------------------


def _qp(data: bytes) -> bytes:
    """Quoted-printable (CRLF lines) whose last line leaves room for a soft break ("=")."""
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False).replace(b"\n", b"\r\n")
    head, _, last = encoded.rpartition(b"\r\n")
    if len(last) <= 75:
        return encoded
    cut = 74
    if last[cut - 1 : cut] == b"=":
        cut -= 1
    elif last[cut - 2 : cut - 1] == b"=":
        cut -= 2
    prefix = head + b"\r\n" if head or encoded.startswith(b"\r\n") else b""
    return prefix + last[:cut] + b"=\r\n" + last[cut:]


def _slot_value(value: str) -> bytes:
    """A per-recipient value, ready to sit between two encoded segments."""
    if _QP_LITERAL.match(value):
        # A URL needs no escaping in quoted-printable: cut it into lines, as b2a_qp would.
        lines = [value[start : start + 75] for start in range(0, len(value), 75)]
        return ("=\r\n" + "=\r\n".join(lines) + "=\r\n").encode("ascii")
    return b"=\r\n" + _qp(value.encode("utf-8")) + b"=\r\n"


Piece = bytes | str


def _encode_with_slots(text: str, marks: dict[str, str]) -> list[Piece]:
    """Encoded segments of ``text`` with the names of the slots between them."""
    if not marks:
        return [_qp(text.encode("utf-8"))] if text else []
    by_mark = {mark: name for name, mark in marks.items()}
    pattern = re.compile("|".join(re.escape(mark) for mark in by_mark))
    pieces: list[Piece] = []
    position = 0
    for match in pattern.finditer(text):
        segment = text[position : match.start()]
        if segment:
            pieces.append(_qp(segment.encode("utf-8")))
        pieces.append(by_mark[match.group(0)])
        position = match.end()
    rest = text[position:]
    if rest:
        pieces.append(_qp(rest.encode("utf-8")))
    return pieces


# -- prototypes -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Prototype:
    """A message rendered once: everything after the per-recipient headers, with named slots."""

    pieces: tuple[Piece, ...]


class Composer:
    """Turns outbox rows into `OutgoingMessage` bytes. Keep one per sending loop: it caches bodies.

    ``clock`` gives the ``Date`` header and the issue time of confirmation links (tests fix it).
    """

    def __init__(
        self, settings: Settings, store: Store, *, clock: Callable[[], datetime] = utcnow, sign: bool = True
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        key = settings.signing_key()
        self._signer = LinkSigner(key)
        self._message_id_key = message_id_key(key)
        self._env = make_environment(settings.mail.templates_dir)
        self._inliner = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)
        self._domain = settings.domain
        self._prototypes: OrderedDict[tuple[Any, ...], _Prototype] = OrderedDict()
        #: How many message bodies were rendered through the templates (each then spliced for many
        #: recipients): the figure that says whether the expensive part ran once or once per recipient.
        self.bodies_rendered = 0
        self._list_headers: dict[str, bytes] = {}
        self._release_cache: dict[int, Release] = {}
        self._release_stamps: dict[int, tuple[str | None, str | None]] = {}
        self._category_names: dict[str, str] = {}
        # Random per process, so no release text can contain a slot mark by accident or on purpose.
        nonce = secrets.token_hex(6)
        self._marks = {name: f"nfslot{nonce}{index}x" for index, name in enumerate(_SLOTS)}
        sender = address_header("From", settings.mail.from_name, str(settings.mail.from_address))
        reply_to = settings.mail.reply_to
        #: Signing here serves those who compose one message (the CLI's previews, tests); a sending run
        #: composes with ``sign=False`` and signs on a thread of its own (`delivery._Run`).
        self._dkim = Signer.for_settings(settings) if sign else None
        self._sender_headers = sender + (address_header("Reply-To", None, str(reply_to)) if reply_to else b"")
        #: Signed per-row envelope senders and mailto unsubscribe addresses; None: no bounce address set.
        self._verp = Verp.for_settings(settings)

    # -- public ------------------------------------------------------------------------------------

    def render(self, item: OutboxItem) -> OutgoingMessage:
        """The message for one outbox row.

        :raises SubscriberNotFound: the subscriber was erased.
        :raises ReleaseNotFound: every release of the row is gone or retracted (nothing to say).
        :raises NotYetVisible: its releases went back under embargo; the row should wait, not go.
        :raises EmbargoLifted: an early copy whose release is public now; it should never go.
        :raises InputError: the stored address cannot go in a header.
        :raises UnknownMessageKind: the row's kind is not in `kinds.KINDS`.
        """
        result = self.render_many([item])[0]
        if isinstance(result, NewsroomError):
            raise result
        return result

    def render_many(self, items: Sequence[OutboxItem]) -> list[OutgoingMessage | NewsroomError]:
        """Messages for many rows, in order, loading subscribers and releases in a few queries.

        A row that cannot be composed gets its error in its place (as `render` would raise it), so one
        erased subscriber does not stop a batch.
        """
        subscribers = {
            subscriber.id: subscriber
            for subscriber in subscribers_by_ids(
                self.store, [item.subscriber_id for item in items if item.subscriber_id is not None]
            )
        }
        releases = self._releases(sorted({rid for item in items for rid in item.release_ids}))
        now = self.clock()
        date = f"Date: {format_datetime(now)}\r\n".encode("ascii")
        results: list[OutgoingMessage | NewsroomError] = []
        for item in items:
            subscriber = subscribers.get(item.subscriber_id) if item.subscriber_id is not None else None
            try:
                if subscriber is None:
                    raise SubscriberNotFound(f"outbox row {item.id} (erased)")
                kind = kind_named(item.kind)
                kept = [
                    releases[release_id]
                    for release_id in item.release_ids
                    if release_id in releases
                    and (kind.about_retracted or releases[release_id].retracted_at is None)
                ]
                # Before its lift a release goes only to verified journalists, by a kind made for that
                # (an early copy, a notice, a correction); anyone else's row waits for the lift. A
                # retracted release kept for its withdrawal notice counts as shown once its lift passed.
                if kind.early_copy and kept and all(release.visible_at <= now for release in kept):
                    raise EmbargoLifted()
                early = kind.before_lift and item.verified
                chosen = [r for r in kept if early or r.visible_at <= now]
                if kept and not chosen:
                    raise NotYetVisible(min(release.visible_at for release in kept))
                results.append(self._compose(item, subscriber, chosen, now, date))
            except NewsroomError as error:
                results.append(error)
        return results

    def compose(self, item: OutboxItem, subscriber: Subscriber, releases: list[Release]) -> OutgoingMessage:
        """The message of ``item`` for a subscriber and releases given rather than read from the store:
        the desk's preview of an alert for a release not yet visible (or a draft), to nobody real.

        :raises UnknownMessageKind, ReleaseNotFound, InputError: as `render` would.
        """
        now = self.clock()
        return self._compose(
            item, subscriber, releases, now, f"Date: {format_datetime(now)}\r\n".encode("ascii")
        )

    def _releases(self, ids: list[int]) -> dict[int, Release]:
        """Releases by id, reloading only those changed since this composer last read them.

        A digest run asks for the same few releases in every batch; one cheap query on
        ``updated_at`` and ``retracted_at`` tells whether what is cached still holds.
        """
        stamps = self.store.release_stamps(ids)
        stale = [rid for rid in stamps if self._release_stamps.get(rid) != stamps[rid]]
        for release in self.store.releases_by_ids(stale):
            self._release_cache[release.id] = release
            self._release_stamps[release.id] = stamps[release.id]
        if len(self._release_cache) > 4 * PROTOTYPE_CACHE:
            keep = set(stamps)
            for rid in [rid for rid in self._release_cache if rid not in keep]:
                del self._release_cache[rid]
                self._release_stamps.pop(rid, None)
        return {rid: self._release_cache[rid] for rid in stamps if rid in self._release_cache}

    def message_id(self, item: OutboxItem) -> str:
        """Stable for an outbox row, so a retry is recognisably the same message: ``<id.hash@domain>``."""
        if item.message_id:
            return item.message_id
        return row_message_id(self._message_id_key, item.id, item.key, item.subscriber_id, self._domain)

    # -- one message -------------------------------------------------------------------------------

    def _compose(
        self,
        item: OutboxItem,
        subscriber: Subscriber,
        releases: list[Release],
        now: datetime,
        date: bytes,
    ) -> OutgoingMessage:
        kind = kind_named(item.kind)
        if kind.needs_releases and not releases:
            raise ReleaseNotFound(f"outbox row {item.id}: every release is gone or retracted")
        language = subscriber.language if subscriber.language in LANGUAGES else "pl"
        city = subscriber.kind == "city"
        stamps = tuple((release.id, release.updated_at) for release in releases)
        cache_key = (kind.name, kind.body_key(item.key), stamps, language, city)
        prototype = self._prototypes.get(cache_key)
        if prototype is None:
            prototype = self._prototype(kind, item.key, releases, language, city, now)
            self.bodies_rendered += 1
            self._prototypes[cache_key] = prototype
            if len(self._prototypes) > PROTOTYPE_CACHE:
                self._prototypes.popitem(last=False)
        else:
            self._prototypes.move_to_end(cache_key)

        base = self.settings.base_url
        unsubscribe = f"{base}/unsubscribe/{self._signer.sign(subscriber.token, 'unsubscribe')}"
        values = {
            "unsubscribe_url": _slot_value(unsubscribe),
            "preferences_url": _slot_value(
                f"{base}/preferences/{self._signer.sign(subscriber.token, 'preferences')}"
            ),
        }
        if "confirm" in kind.links:
            values["confirm_url"] = _slot_value(
                f"{base}/confirm/{self._signer.sign(subscriber.token, 'confirm', now)}"
            )
        message_id = self.message_id(item)
        list_name, list_label = kind.list_for(subscriber, releases)
        if list_label is not None:
            self._category_names[list_name] = list_label
        head = b"".join(
            (
                date,
                address_header("To", subscriber.display_name, subscriber.email),
                self._sender_headers,
                f"Message-ID: {message_id}\r\n".encode("ascii"),
                _thread_headers(item.in_reply_to),
                self._list_header(list_name),
                self._feedback_id(kind.name, list_name),
                self._unsubscribe_header(unsubscribe, subscriber),
            )
        )
        data = head + b"".join(
            piece if isinstance(piece, bytes) else values[piece] for piece in prototype.pieces
        )
        if self._dkim is not None:
            data = self._dkim.sign(data, now.timestamp())
        return OutgoingMessage(
            outbox_id=item.id,
            sender=self._verp.sender(item.id) if self._verp else str(self.settings.mail.from_address),
            recipient=subscriber.email,
            message_id=message_id,
            data=data,
        )

    def _unsubscribe_header(self, unsubscribe: str, subscriber: Subscriber) -> bytes:
        """List-Unsubscribe: the https one-click link (RFC 8058) first, then, with a bounce address, the
        RFC 2369 ``mailto:`` form that the bounce intake honours. Headers are never quoted-printable, so
        the per-recipient values are spliced whole; the second one goes on a folded line of its own,
        which keeps every line far below 998 characters (DKIM's relaxed canonicalisation unfolds it)."""
        if self._verp is None:
            return f"List-Unsubscribe: <{unsubscribe}>\r\n".encode("ascii")
        mailto = self._verp.unsubscribe_address(subscriber.id, subscriber.token)
        value = f"<{unsubscribe}>,\r\n <mailto:{mailto}?subject=unsubscribe>"
        return f"List-Unsubscribe: {value}\r\n".encode("ascii")

    def _feedback_id(self, kind: str, list_name: str) -> bytes:
        """``Feedback-ID`` (Gmail's feedback loop: campaign, list, sender) on signed mail only: a
        provider trusts it only under a DKIM signature that covers it."""
        if self.settings.dkim.private_key_file is None:
            return b""
        return f"Feedback-ID: {kind}:{list_name or 'all'}:newsroom-feed:{self._domain}\r\n".encode("ascii")

    def _list_header(self, slug: str) -> bytes:
        cached = self._list_headers.get(slug)
        if cached is None:
            if slug:
                if slug not in self._category_names:
                    self._category_names.update(
                        (category.slug, category.name) for category in self.store.categories()
                    )
                label, list_id = self._category_names.get(slug, slug), slug
            else:
                label, list_id = self.settings.feed.title, GENERAL_LIST
            cached = _fold("List-Id", f"{header_text(label)} <{list_id}.{self._domain}>")
            self._list_headers[slug] = cached
        return cached

    def _prototype(
        self,
        kind: MessageKind,
        key: str,
        releases: list[Release],
        language: str,
        city: bool,
        now: datetime,
    ) -> _Prototype:
        settings = self.settings
        context: dict[str, Any] = {
            "lang": language,
            "city": city,
            "newsroom": settings.feed.organization,
            "site_url": settings.base_url,
            "feeds_url": layout.url(settings.base_url, layout.feed_path(None, layout.PRIMARY_FEED)),
            **{name: self._marks[name] for name in ("unsubscribe_url", "preferences_url")},
            **template_helpers(language, settings.zone),
        }
        views = [release_view(release, settings.base_url, language, settings.zone) for release in releases]
        context.update({f"{purpose}_url": self._marks[f"{purpose}_url"] for purpose in kind.links})
        context.update(kind.context(key, views, now))
        name = kind.template(key)
        text, subject = self._render_text(name, language, context)
        page = self._env.get_template(f"{name}.{language}.html").render({**context, "subject": subject})
        page = self._inliner.inline(page)

        headers = [
            _fold("Subject", subject),
            b"MIME-Version: 1.0\r\n",
        ]
        text = text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n") + "\n"
        page = page.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n") + "\n"
        # From the content without the per-process slot marks, so the same message has the same bytes.
        stable = text + page
        for name, mark in self._marks.items():
            stable = stable.replace(mark, name)
        boundary = "=_nf_" + hashlib.sha256(stable.encode("utf-8")).hexdigest()[:24]
        headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'.encode("ascii"))
        headers += [
            b"Auto-Submitted: auto-generated\r\n",
            b"Precedence: bulk\r\n",
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            f"X-Newsroom-Kind: {kind.name}\r\n".encode("ascii"),
        ]
        headers += [_fold(header, value) for header, value in kind.headers(releases)]
        part = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        pieces: list[Piece] = [
            b"".join(headers),
            f"\r\n--{boundary}\r\n{part.format('plain')}".encode("ascii"),
            *_encode_with_slots(text, self._marks),
            f"\r\n--{boundary}\r\n{part.format('html')}".encode("ascii"),
            *_encode_with_slots(page, self._marks),
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        ]
        return _Prototype(pieces=tuple(pieces))

    def _render_text(self, name: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
        """The text part and the subject the text template sets.

        :raises TemplateNotFound: neither the operator's directory nor the bundle has the template.
        """
        template = self._env.get_template(f"{name}.{language}.txt")
        module = template.make_module(context)
        subject = str(getattr(module, "subject", "")) or self.settings.feed.title
        return str(module), header_text(subject)
