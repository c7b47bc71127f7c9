"""Subscribers: adding, confirming, unsubscribing, preferences, erasure, and following a link.

The `subscribers` and `subscriber_categories` tables belong to this module; others read and change
subscribers through the functions here. Every function is pure core (no HTTP, no printing): the CLI and
the web app call them and turn a `NewsroomError` into an exit code or a status.

The signed links in mail are made and checked in `tokens.py`; `resolve` finds the subscriber behind one.
Its names (`link_token`, `link_url`, `LinkSigner`, `Purpose`, ...) are re-exported here for callers.
Subscriber lists in and out as CSV are in `subscriber_csv.py`, which adds its rows through `add_if_new`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from newsroom_feed import outbox
from newsroom_feed.errors import InputError, NotFound, SubscriberNotFound
from newsroom_feed.models import (
    CategorySlugs,
    Frequency,
    Subscriber,
    SubscriberKind,
    has_control_characters,
    input_error,
    iso,
)
from newsroom_feed.settings import Settings
from newsroom_feed.store import Store, id_chunks, stored_moment
from newsroom_feed.tokens import CONFIRM_MAX_AGE as CONFIRM_MAX_AGE
from newsroom_feed.tokens import INVALID_LINK
from newsroom_feed.tokens import PURPOSES as PURPOSES
from newsroom_feed.tokens import LinkSigner as LinkSigner
from newsroom_feed.tokens import Purpose as Purpose
from newsroom_feed.tokens import link_token as link_token
from newsroom_feed.tokens import link_url as link_url

_COLUMNS = (
    "id, email, name, kind, organization, language, frequency, status, token, consent_text, consent_at, "
    "consent_source, created_at, confirmed_at, unsubscribed_at"
)
_FIELDS = tuple(_COLUMNS.split(", "))
_TIMES = ("consent_at", "created_at", "confirmed_at", "unsubscribed_at")

#: Asking again for an address gets at most one confirmation mail per this interval.
CONFIRMATION_INTERVAL = timedelta(hours=1)


# -- input ------------------------------------------------------------------------------------------


def _plain(value: str | None) -> str | None:
    if value is not None and has_control_characters(value):
        raise ValueError("must not contain control characters (line breaks, tabs, ...)")
    return value or None


class SubscriberInput(BaseModel):
    """A subscriber as the operator, a CSV row or the web form gives it; ``email`` is required."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    email: str
    name: str | None = Field(default=None, max_length=200)
    kind: SubscriberKind = "other"
    organization: str | None = Field(default=None, max_length=200)
    categories: CategorySlugs = ()
    frequency: Frequency = "immediate"
    language: Literal["pl", "en"] = "pl"
    consent_text: str | None = Field(default=None, max_length=4000)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not value:
            raise ValueError("is required")
        try:
            # Syntax only: no DNS look-up, so an import of 10,000 rows needs no network. SMTPUTF8
            # addresses are refused because our messages are plain 7-bit MIME.
            checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
        except EmailNotValidError as error:
            raise ValueError(f"{value!r} is not a valid e-mail address: {error}") from None
        return checked.ascii_email or checked.normalized

    @field_validator("name", "organization")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return _plain(value)

    @field_validator("consent_text")
    @classmethod
    def _consent(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("kind", "frequency", "language", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @classmethod
    def parse(cls, data: Any) -> SubscriberInput:
        """Validate a subscriber document.

        :raises InputError: naming the first bad field and the problem.
        """
        if isinstance(data, SubscriberInput):
            return data
        if not isinstance(data, dict):
            raise InputError("", "a subscriber must be an object with at least an email")
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise input_error(error) from None


# -- reads ------------------------------------------------------------------------------------------


def _categories(store: Store, ids: list[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    for chunk, marks in id_chunks(ids):
        for subscriber_id, slug in store.conn.execute(
            f"SELECT sc.subscriber_id, c.slug FROM subscriber_categories sc "
            f"JOIN categories c ON c.id = sc.category_id WHERE sc.subscriber_id IN ({marks}) "
            f"ORDER BY c.slug",
            chunk,
        ):
            found.setdefault(subscriber_id, []).append(slug)
    return {key: tuple(value) for key, value in found.items()}


def _build(rows: list[Any], categories: dict[int, tuple[str, ...]]) -> list[Subscriber]:
    """Subscribers from rows of `_COLUMNS`, which name their fields one for one."""
    result = []
    for row in rows:
        values = dict(zip(_FIELDS, row, strict=True))
        for name in _TIMES:
            values[name] = stored_moment(values[name])
        result.append(Subscriber(**values, categories=categories.get(values["id"], ())))
    return result


def subscribers_by_ids(store: Store, ids: Iterable[int]) -> list[Subscriber]:
    wanted = sorted(set(ids))
    rows: list[Any] = []
    for chunk, marks in id_chunks(wanted):
        rows.extend(
            store.conn.execute(f"SELECT {_COLUMNS} FROM subscribers WHERE id IN ({marks})", chunk).fetchall()
        )
    return _build(rows, _categories(store, wanted))


def get_subscriber(store: Store, ref: int | str) -> Subscriber:
    """A subscriber by id or e-mail address (case-insensitive).

    :raises SubscriberNotFound: none matches.
    """
    if isinstance(ref, int) or str(ref).isdigit():
        row = store.conn.execute(f"SELECT {_COLUMNS} FROM subscribers WHERE id = ?", (int(ref),)).fetchone()
    else:
        row = store.conn.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE email = ? COLLATE NOCASE", (str(ref).strip(),)
        ).fetchone()
    if row is None:
        raise SubscriberNotFound(str(ref))
    return _build([row], _categories(store, [row[0]]))[0]


def list_subscribers(
    store: Store, *, status: str | None = None, frequencies: Iterable[str] | None = None
) -> list[Subscriber]:
    """Subscribers ordered by id, filtered by status and frequency when given."""
    sql = f"SELECT {_COLUMNS} FROM subscribers WHERE 1 = 1"
    params: list[Any] = []
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    if frequencies is not None:
        wanted = list(frequencies)
        sql += f" AND frequency IN ({','.join('?' * len(wanted))})"
        params.extend(wanted)
    rows = store.conn.execute(sql + " ORDER BY id", params).fetchall()
    return _build(rows, _categories(store, [row[0] for row in rows]))


def subscriber_document(subscriber: Subscriber) -> dict[str, Any]:
    """What `subscriber list --json` and the admin API print for one subscriber (DESIGN.md section 4)."""
    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "kind": subscriber.kind,
        "organization": subscriber.organization,
        "categories": list(subscriber.categories),
        "frequency": subscriber.frequency,
        "language": subscriber.language,
        "status": subscriber.status,
        "created_at": iso(subscriber.created_at) if subscriber.created_at else None,
        "confirmed_at": iso(subscriber.confirmed_at) if subscriber.confirmed_at else None,
    }


def _by_token(store: Store, token: str) -> Subscriber:
    row = store.conn.execute(f"SELECT {_COLUMNS} FROM subscribers WHERE token = ?", (token,)).fetchone()
    if row is None:
        raise NotFound(INVALID_LINK)
    return _build([row], _categories(store, [row[0]]))[0]


# -- writes -----------------------------------------------------------------------------------------


def _set_categories(store: Store, subscriber_id: int, slugs: Iterable[str]) -> None:
    store.conn.execute("DELETE FROM subscriber_categories WHERE subscriber_id = ?", (subscriber_id,))
    store.conn.executemany(
        "INSERT INTO subscriber_categories (subscriber_id, category_id) VALUES (?, ?)",
        [(subscriber_id, category_id) for category_id in store.ensure_categories(slugs)],
    )


def _insert(store: Store, document: SubscriberInput, now: datetime, *, status: str, source: str) -> int:
    stamp = iso(now)
    cursor = store.conn.execute(
        "INSERT INTO subscribers (email, name, kind, organization, language, frequency, status, token, "
        "consent_text, consent_at, consent_source, created_at, confirmed_at, last_confirmation_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            document.email,
            document.name,
            document.kind,
            document.organization,
            document.language,
            document.frequency,
            status,
            secrets.token_urlsafe(16),
            document.consent_text,
            stamp,
            source,
            stamp,
            stamp if status == "active" else None,
            stamp if status == "pending" else None,
        ),
    )
    subscriber_id = int(cursor.lastrowid or 0)
    _set_categories(store, subscriber_id, document.categories)
    return subscriber_id


def _exists(store: Store, email: str) -> bool:
    return (
        store.conn.execute("SELECT 1 FROM subscribers WHERE email = ? COLLATE NOCASE", (email,)).fetchone()
        is not None
    )


def add_subscriber(
    store: Store,
    data: dict[str, Any] | SubscriberInput,
    now: datetime,
    source: str = "operator",
    double_opt_in: bool = False,
) -> Subscriber:
    """Add one subscriber: `active` at once (the operator vouches for consent), or `pending` with
    ``double_opt_in`` and its confirmation mail queued in the same transaction, so a crash never leaves
    a pending address that nobody asks to confirm.

    :raises InputError: a field is invalid, or the address is already subscribed (``email``).
    """
    document = SubscriberInput.parse(data)
    subscriber_id = add_if_new(store, document, now, source=source, double_opt_in=double_opt_in)
    if subscriber_id is None:
        raise InputError("email", f"{document.email} is already a subscriber")
    return get_subscriber(store, subscriber_id)


def add_if_new(
    store: Store, document: SubscriberInput, now: datetime, *, source: str, double_opt_in: bool
) -> int | None:
    """Store a subscriber unless the address is already there (then None), with its confirmation mail
    queued under ``double_opt_in``, in one transaction: a crash never leaves a pending address that
    nobody asks to confirm. What `add_subscriber` and a CSV import (`subscriber_csv`) both do per row.
    """
    with store.transaction():
        if _exists(store, document.email):
            return None
        subscriber_id = _insert(
            store, document, now, status="pending" if double_opt_in else "active", source=source
        )
        if double_opt_in:
            _queue_confirmation(store, subscriber_id, now)
    return subscriber_id


def _queue_confirmation(store: Store, subscriber_id: int, now: datetime) -> None:
    """Plan the confirmation mail of a pending subscriber; joins the caller's transaction."""
    outbox.enqueue(store, [outbox.NewMessage(subscriber_id, confirmation_key(now), "confirmation")], now)


def confirmation_key(now: datetime) -> str:
    """The outbox key of a confirmation mail asked for at ``now``: one per request, never merged."""
    return f"confirm:{iso(now)}"


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """What a subscribe request did. The web page says the same thing whatever it contains."""

    subscriber: Subscriber
    #: True when a confirmation mail was queued now (under `confirmation_key`).
    send_confirmation: bool
    confirmation_key: str | None = None


def request_subscription(store: Store, data: dict[str, Any], now: datetime) -> SubscriptionRequest:
    """A subscription asked for on the web form: a new address becomes `pending`.

    For an address already stored nothing is revealed: a pending or unsubscribed one takes the new
    choices and is pending again until confirmed; an active one keeps its data; either way a
    confirmation mail is due at most once per `CONFIRMATION_INTERVAL` (never to a bounced address).
    That mail is queued in the outbox in the same transaction as the subscriber's row.

    :raises InputError: a field is invalid, or ``consent_text`` is missing.
    """
    document = SubscriberInput.parse(data)
    if not document.consent_text:
        raise InputError("consent_text", "is required: the text of the consent the person agreed to")
    stamp = iso(now)
    with store.transaction():
        row = store.conn.execute(
            "SELECT id, status, last_confirmation_at FROM subscribers WHERE email = ? COLLATE NOCASE",
            (document.email,),
        ).fetchone()
        if row is None:
            subscriber_id = _insert(store, document, now, status="pending", source="web")
            send = True
        else:
            subscriber_id, status, last = int(row[0]), row[1], stored_moment(row[2])
            send = status != "bounced" and (last is None or now - last >= CONFIRMATION_INTERVAL)
            if status in ("pending", "unsubscribed"):
                store.conn.execute(
                    "UPDATE subscribers SET name = ?, kind = ?, organization = ?, language = ?, "
                    "frequency = ?, status = 'pending', consent_text = ?, consent_at = ?, "
                    "consent_source = 'web', unsubscribed_at = NULL WHERE id = ?",
                    (
                        document.name,
                        document.kind,
                        document.organization,
                        document.language,
                        document.frequency,
                        document.consent_text,
                        stamp,
                        subscriber_id,
                    ),
                )
                _set_categories(store, subscriber_id, document.categories)
            if send:
                store.conn.execute(
                    "UPDATE subscribers SET last_confirmation_at = ? WHERE id = ?", (stamp, subscriber_id)
                )
        if send:
            _queue_confirmation(store, subscriber_id, now)
    return SubscriptionRequest(
        get_subscriber(store, subscriber_id), send, confirmation_key(now) if send else None
    )


def confirm(store: Store, token: str, now: datetime) -> Subscriber:
    """Activate a pending subscriber (the confirmation link was followed); idempotent.

    ``token`` is the subscriber's raw token, as `resolve` found it.

    :raises NotFound: no subscriber has this token (never says more).
    """
    subscriber = _by_token(store, token)
    if subscriber.status == "pending":
        with store.transaction():
            store.conn.execute(
                "UPDATE subscribers SET status = 'active', confirmed_at = ? "
                "WHERE id = ? AND status = 'pending'",
                (iso(now), subscriber.id),
            )
        subscriber = _by_token(store, token)
    return subscriber


def unsubscribe(store: Store, token: str, now: datetime) -> Subscriber:
    """Stop all mail at once (RFC 8058 one-click); idempotent, the first time is kept.

    Messages queued but not yet sent are dropped; a bounced subscriber stays bounced.

    :raises NotFound: no subscriber has this token.
    """
    subscriber = _by_token(store, token)
    if subscriber.status in ("pending", "active"):
        with store.transaction():
            store.conn.execute(
                "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ? WHERE id = ?",
                (iso(now), subscriber.id),
            )
            store.conn.execute(
                "DELETE FROM outbox WHERE subscriber_id = ? AND status = 'pending'", (subscriber.id,)
            )
        subscriber = _by_token(store, token)
    return subscriber


class PreferencesInput(BaseModel):
    """The fields a subscriber may change from the preferences page (the address may not change there).

    Every field is optional and only those given are checked and written: a name stored by an older
    version or an outside writer (say, with a control character) must not block a change of frequency.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    name: str | None = Field(default=None, max_length=200)
    kind: SubscriberKind = "other"
    organization: str | None = Field(default=None, max_length=200)
    categories: CategorySlugs = ()
    frequency: Frequency = "immediate"
    language: Literal["pl", "en"] = "pl"

    @field_validator("name", "organization")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return _plain(value)

    @field_validator("kind", "frequency", "language", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


#: What a subscriber may change from the preferences page.
PREFERENCE_FIELDS = frozenset(PreferencesInput.model_fields)
#: The columns of `subscribers` among them (categories live in `subscriber_categories`).
_PREFERENCE_COLUMNS = ("name", "kind", "organization", "language", "frequency")


def update_preferences(store: Store, token: str, changes: dict[str, Any], now: datetime) -> Subscriber:
    """Change categories, frequency, language (and name, kind, organization) from the preferences page.

    Only the fields in ``changes`` are validated and written; the others stay as stored.

    :raises NotFound: no subscriber has this token.
    :raises InputError: an unknown or invalid field; nothing is changed.
    """
    subscriber = _by_token(store, token)
    for name in changes:
        if name not in PREFERENCE_FIELDS:
            raise InputError(name, "cannot be changed on the preferences page")
    try:
        document = PreferencesInput.model_validate(changes)
    except ValidationError as error:
        raise input_error(error) from None
    given = document.model_fields_set
    columns = [name for name in _PREFERENCE_COLUMNS if name in given]
    with store.transaction():
        if columns:
            assignments = ", ".join(f"{name} = ?" for name in columns)
            store.conn.execute(
                f"UPDATE subscribers SET {assignments} WHERE id = ?",
                (*(getattr(document, name) for name in columns), subscriber.id),
            )
        if "categories" in given:
            _set_categories(store, subscriber.id, document.categories)
    return _by_token(store, token)


def _erase_row(store: Store, subscriber_id: int, email: str) -> None:
    """Delete the subscriber; the outbox keeps its sent rows with no one attached (anonymous counts).

    SMTP replies often quote the address ("550 <ania@...>: no such user"), so those are scrubbed too.
    """
    pattern = re.compile(re.escape(email), re.IGNORECASE)
    with store.transaction():
        store.conn.execute(
            "DELETE FROM outbox WHERE subscriber_id = ? AND status = 'pending'", (subscriber_id,)
        )
        for outbox_id in _scrub(store, pattern, "outbox", "last_error", "subscriber_id", subscriber_id):
            _scrub(store, pattern, "deliveries", "reply", "outbox_id", outbox_id)
        store.conn.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))


def _scrub(
    store: Store, pattern: re.Pattern[str], table: str, column: str, key: str, value: int
) -> list[int]:
    """Replace ``pattern`` in ``column`` of the rows of ``table`` whose ``key`` is ``value``; their ids."""
    rows = store.conn.execute(f"SELECT id, {column} FROM {table} WHERE {key} = ?", (value,)).fetchall()
    for row_id, text in rows:
        if text:
            store.conn.execute(
                f"UPDATE {table} SET {column} = ? WHERE id = ?", (pattern.sub("[erased]", text), row_id)
            )
    return [int(row_id) for row_id, _ in rows]


def remove_subscriber(store: Store, email: str) -> None:
    """Erase a subscriber's personal data (`subscriber remove EMAIL`).

    :raises SubscriberNotFound: no subscriber has this address.
    """
    subscriber = get_subscriber(store, email)
    _erase_row(store, subscriber.id, subscriber.email)


def erase(store: Store, token: str) -> None:
    """Erase the subscriber behind a preferences link ("erase my data").

    :raises NotFound: no subscriber has this token (also when already erased).
    """
    subscriber = _by_token(store, token)
    _erase_row(store, subscriber.id, subscriber.email)


# -- links -----------------------------------------------------------------------------------------


def resolve(
    store: Store, settings: Settings, signed: str, purpose: Purpose, now: datetime | None = None
) -> Subscriber:
    """The subscriber a signed link points at.

    :raises NotFound: forged, wrong purpose, expired confirmation, or the subscriber was erased; the
        message never tells whether some other token exists.
    """
    token = LinkSigner(settings.signing_key()).unsign(signed, purpose, now)
    return _by_token(store, token)
