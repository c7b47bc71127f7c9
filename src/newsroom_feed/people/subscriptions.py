"""Subscribers: adding, confirming, unsubscribing, preferences, erasure, and following a link.

The rules of the `subscribers` and `subscriber_categories` tables live here (their queries in
`store.subscribers`); others read and change subscribers through the functions here. Every function is
pure core (no HTTP, no printing): the CLI and the web app call them and turn a `NewsroomError` into an
exit code or a status.

The signed links in mail are made and checked in `tokens.py`; `resolve` finds the subscriber behind one.
Its names (`link_token`, `link_url`, `LinkSigner`, `Purpose`, ...) are re-exported here for callers.
Subscriber lists in and out as CSV are in `subscriber_csv.py`, which adds its rows through `add_if_new`.

Every opt-in, confirmation, change of preferences and withdrawal done here goes into the subscriber's
consent history (`consent.py`) in the same transaction. A subscription asked for an address already
stored (from the web form, or by the operator for someone who withdrew) changes nothing in their row: the
request waits in its opt-in event until the confirmation link is used (`confirm` applies it), so nobody
without the subscriber's link can rewrite their name, choices or consent.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from newsroom_feed.errors import InputError, NotFound, RateLimited, SubscriberNotFound
from newsroom_feed.models import (
    CategorySlugs,
    Frequency,
    Subscriber,
    SubscriberKind,
    has_control_characters,
    input_error,
    iso,
)
from newsroom_feed.people import consent
from newsroom_feed.people.consent import CONFIRMATION_LINK, PREFERENCES_PAGE, consent_version
from newsroom_feed.people.consent import ONE_CLICK as ONE_CLICK
from newsroom_feed.people.consent import UNSUBSCRIBE_PAGE as UNSUBSCRIBE_PAGE
from newsroom_feed.people.consent import ConsentEvent as ConsentEvent
from newsroom_feed.people.tokens import CONFIRM_MAX_AGE as CONFIRM_MAX_AGE
from newsroom_feed.people.tokens import INVALID_LINK
from newsroom_feed.people.tokens import PURPOSES as PURPOSES
from newsroom_feed.people.tokens import LinkSigner as LinkSigner
from newsroom_feed.people.tokens import Purpose as Purpose
from newsroom_feed.people.tokens import link_token as link_token
from newsroom_feed.people.tokens import link_url as link_url
from newsroom_feed.settings import Settings
from newsroom_feed.store import bounces as bounce_rows
from newsroom_feed.store import outbox as outbox_rows
from newsroom_feed.store import subscribers as rows
from newsroom_feed.store.database import Store, stored_moment

_FIELDS = tuple(rows.COLUMNS.split(", "))
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
    return {key: tuple(value) for key, value in rows.category_slugs(store, ids).items()}


def _build(found: list[Any], categories: dict[int, tuple[str, ...]]) -> list[Subscriber]:
    """Subscribers from rows of `store.subscribers.COLUMNS`, which name their fields one for one."""
    result = []
    for row in found:
        values = dict(zip(_FIELDS, row, strict=True))
        for name in _TIMES:
            values[name] = stored_moment(values[name])
        result.append(Subscriber(**values, categories=categories.get(values["id"], ())))
    return result


def subscribers_by_ids(store: Store, ids: Iterable[int]) -> list[Subscriber]:
    wanted = sorted(set(ids))
    return _build(rows.rows_by_ids(store, wanted), _categories(store, wanted))


def get_subscriber(store: Store, ref: int | str) -> Subscriber:
    """A subscriber by id or e-mail address (case-insensitive).

    :raises SubscriberNotFound: none matches.
    """
    if isinstance(ref, int) or str(ref).isdigit():
        row = rows.row_by_id(store, int(ref))
    else:
        row = rows.row_by_email(store, str(ref).strip())
    if row is None:
        raise SubscriberNotFound(str(ref))
    return _build([row], _categories(store, [row[0]]))[0]


def list_subscribers(
    store: Store, *, status: str | None = None, frequencies: Iterable[str] | None = None
) -> list[Subscriber]:
    """Subscribers ordered by id, filtered by status and frequency when given."""
    found = rows.listing(store, status, None if frequencies is None else list(frequencies))
    return _build(found, _categories(store, [row[0] for row in found]))


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
    row = rows.row_by_token(store, token)
    if row is None:
        raise NotFound(INVALID_LINK)
    return _build([row], _categories(store, [row[0]]))[0]


# -- consent history --------------------------------------------------------------------------------


def consent_history(store: Store, email: str) -> list[ConsentEvent]:
    """The consent history of the subscriber ``email``, oldest first (`subscriber history`).

    :raises SubscriberNotFound: no subscriber has this address.
    """
    return consent.history(store, get_subscriber(store, email).id)


def _request_of(document: SubscriberInput) -> dict[str, Any]:
    """The choices of a subscription request that waits for its confirmation link."""
    return {
        "name": document.name,
        "kind": document.kind,
        "organization": document.organization,
        "categories": list(document.categories),
        "frequency": document.frequency,
        "language": document.language,
    }


def _hold_request(
    store: Store, subscriber_id: int, document: SubscriberInput, source: str, now: datetime
) -> None:
    """A subscription asked for an address already stored: record it as an opt-in whose choices wait
    for the confirmation link, and leave the row as it is, but for an unsubscribed address, which is
    `pending` again so that its confirmation mail goes out (`unsubscribed_at` keeps the withdrawal)."""
    rows.change_status(store, subscriber_id, ("unsubscribed",), "pending")
    consent.record(
        store,
        subscriber_id,
        "opt-in",
        source,
        now,
        consent_text=document.consent_text,
        detail={"request": _request_of(document)},
    )


def _apply_waiting_request(store: Store, subscriber_id: int, issued_at: datetime | None) -> str | None:
    """Write the newest request waiting for confirmation (`_hold_request`) into the row, as the link was
    just used; returns the version of the consent confirmed (None: none given).

    Only requests made by the time the link was (``issued_at``, see `link_issued_at`): the link confirms
    what had been asked when its mail went out, not what a stranger typed for the address since.
    """
    for request in consent.waiting_requests(store, subscriber_id, issued_at):
        try:
            document = SubscriberInput.parse(
                {"email": "x@example.pl", **request.choices, "consent_text": request.consent_text}
            )
        except InputError:
            continue  # an event changed by hand since: the row keeps what it has
        rows.apply_request(
            store,
            subscriber_id,
            document.model_dump(
                include={"name", "kind", "organization", "language", "frequency", "consent_text"}
            ),
            iso(request.at),
            request.source,
        )
        _set_categories(store, subscriber_id, document.categories)
        return consent_version(request.consent_text)
    row = rows.consent_text(store, subscriber_id)
    return consent_version(row[0]) if row else None


# -- writes -----------------------------------------------------------------------------------------


def _set_categories(store: Store, subscriber_id: int, slugs: Iterable[str]) -> None:
    rows.set_categories(store, subscriber_id, slugs)


def _insert(
    store: Store,
    document: SubscriberInput,
    now: datetime,
    *,
    status: str,
    source: str,
    detail: dict[str, Any] | None = None,
) -> int:
    """Store a new subscriber with its opt-in as the first event of its consent history."""
    stamp = iso(now)
    subscriber_id = rows.insert(
        store,
        {
            "email": document.email,
            "name": document.name,
            "kind": document.kind,
            "organization": document.organization,
            "language": document.language,
            "frequency": document.frequency,
            "status": status,
            "token": secrets.token_urlsafe(16),
            "consent_text": document.consent_text,
            "consent_at": stamp,
            "consent_source": source,
            "created_at": stamp,
            "confirmed_at": stamp if status == "active" else None,
            "last_confirmation_at": stamp if status == "pending" else None,
        },
    )
    _set_categories(store, subscriber_id, document.categories)
    consent.record(
        store, subscriber_id, "opt-in", source, now, consent_text=document.consent_text, detail=detail
    )
    return subscriber_id


def _exists(store: Store, email: str) -> bool:
    return rows.exists(store, email)


def add_subscriber(
    store: Store,
    data: dict[str, Any] | SubscriberInput,
    now: datetime,
    source: str = "operator",
    double_opt_in: bool = False,
    via: str | None = None,
) -> Subscriber:
    """Add one subscriber: `active` at once (the operator vouches for consent), or `pending` with
    ``double_opt_in`` and its confirmation mail queued in the same transaction, so a crash never leaves
    a pending address that nobody asks to confirm. ``via`` (the command) goes into the consent history.

    Someone who unsubscribed withdrew their consent, which the operator cannot give back: adding them
    again needs ``double_opt_in``, and then, as for a web request, their row keeps what it has (the
    withdrawal stays in the history) until they use the confirmation link.

    :raises InputError: a field is invalid, the address is already subscribed, or it unsubscribed and
        ``double_opt_in`` is not given (``email``).
    """
    document = SubscriberInput.parse(data)
    subscriber_id = add_if_new(store, document, now, source=source, double_opt_in=double_opt_in, via=via)
    if subscriber_id is None:
        subscriber_id = _add_again(store, document, now, source=source, double_opt_in=double_opt_in)
    return get_subscriber(store, subscriber_id)


def _add_again(
    store: Store, document: SubscriberInput, now: datetime, *, source: str, double_opt_in: bool
) -> int:
    """`add_subscriber` for an address already stored: only one that unsubscribed, with double opt-in.

    :raises InputError: the address is subscribed (pending, active, bounced), or unsubscribed and
        ``double_opt_in`` is not given.
    """
    with store.transaction():
        existing = get_subscriber(store, document.email)
        if existing.status != "unsubscribed":
            raise InputError("email", f"{existing.email} is already a subscriber ({existing.status})")
        if not double_opt_in:
            when = f" on {existing.unsubscribed_at:%Y-%m-%d}" if existing.unsubscribed_at else ""
            raise InputError(
                "email",
                f"{existing.email} unsubscribed{when}; only they can give their consent again: "
                "add them with --double-opt-in to send a confirmation mail",
            )
        _hold_request(store, existing.id, document, source, now)
        rows.update(store, existing.id, {"last_confirmation_at": iso(now)})
        _queue_confirmation(store, existing.id, now)
    return existing.id


def add_if_new(
    store: Store,
    document: SubscriberInput,
    now: datetime,
    *,
    source: str,
    double_opt_in: bool,
    via: str | None = None,
) -> int | None:
    """Store a subscriber unless the address is already there (then None), with its confirmation mail
    queued under ``double_opt_in``, in one transaction: a crash never leaves a pending address that
    nobody asks to confirm. What `add_subscriber` and a CSV import (`subscriber_csv`) both do per row;
    ``via`` (the command) goes into the opt-in event of the consent history.
    """
    detail: dict[str, Any] = {"via": via} if via else {}
    if double_opt_in:
        detail["double_opt_in"] = True
    with store.transaction():
        if _exists(store, document.email):
            return None
        subscriber_id = _insert(
            store,
            document,
            now,
            status="pending" if double_opt_in else "active",
            source=source,
            detail=detail or None,
        )
        if double_opt_in:
            _queue_confirmation(store, subscriber_id, now)
    return subscriber_id


def confirmation_key(now: datetime) -> str:
    """The outbox key of a confirmation mail asked for at ``now``: one per request, never merged
    (`mail.kinds.CONFIRMATION` reads it back)."""
    return f"confirm:{iso(now)}"


def _queue_confirmation(store: Store, subscriber_id: int, now: datetime) -> None:
    """Plan the confirmation mail of a pending subscriber; joins the caller's transaction, so a crash
    leaves either both the pending subscriber and its mail or neither."""
    outbox_rows.insert_new(
        store, [(confirmation_key(now), "confirmation", subscriber_id, "[]", None)], iso(now)
    )


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """What a subscribe request did. The web page says the same thing whatever it contains."""

    subscriber: Subscriber
    #: True when a confirmation mail was queued now (under `confirmation_key`).
    send_confirmation: bool
    confirmation_key: str | None = None


def request_subscription(
    store: Store, data: dict[str, Any], now: datetime, *, confirmations_per_hour: int | None = None
) -> SubscriptionRequest:
    """A subscription asked for on the web form: a new address becomes `pending`.

    For an address already stored nothing is revealed and nothing in its row changes: for a pending or
    unsubscribed one the request waits in its consent history until the confirmation link is used
    (`confirm`), and an unsubscribed one is pending again meanwhile; an active one keeps its data.
    Either way a confirmation mail is due at most once per `CONFIRMATION_INTERVAL` (never to a bounced
    address), and a request that sends none changes nothing at all. That mail is queued in the outbox
    in the same transaction as the subscriber's row.

    ``confirmations_per_hour`` caps the new addresses asked for in the last hour, all clients together,
    counted in the store inside the same transaction, so every web worker and process shares the count.
    Once it is reached every request is refused, for known addresses too: answering those alone would
    tell which addresses are stored.

    :raises InputError: a field is invalid, or ``consent_text`` is missing.
    :raises RateLimited: the cap is reached; nothing is stored or queued.
    """
    document = SubscriberInput.parse(data)
    if not document.consent_text:
        raise InputError("consent_text", "is required: the text of the consent the person agreed to")
    stamp = iso(now)
    with store.transaction():
        if confirmations_per_hour is not None:
            _check_new_address_cap(store, now, confirmations_per_hour)
        row = rows.confirmation_state(store, document.email)
        if row is None:
            subscriber_id = _insert(store, document, now, status="pending", source="web")
            send = True
        else:
            subscriber_id, status, last = row[0], row[1], stored_moment(row[2])
            send = status != "bounced" and (last is None or now - last >= CONFIRMATION_INTERVAL)
            if send and status in ("pending", "unsubscribed"):
                # Held only with a mail: a link confirms the requests made by the time it was made
                # (`confirm`), so one that sends nothing could never be confirmed; it changes nothing.
                _hold_request(store, subscriber_id, document, "web", now)
            if send:
                rows.update(store, subscriber_id, {"last_confirmation_at": stamp})
        if send:
            _queue_confirmation(store, subscriber_id, now)
    return SubscriptionRequest(
        get_subscriber(store, subscriber_id), send, confirmation_key(now) if send else None
    )


def _check_new_address_cap(store: Store, now: datetime, cap: int) -> None:
    """:raises RateLimited: ``cap`` addresses new to the store asked on the web form in the last hour.

    Counted on the rows that are still pending (the partial index `subscribers_pending` keeps this one
    cheap query however many subscribers there are): those are the addresses a flood of requests mails
    without their owners' wish; one whose owner confirmed was not mailed against their will.
    """
    since = now - timedelta(hours=1)
    count, oldest = rows.pending_since(store, iso(since))
    if count >= cap:
        free_at = (stored_moment(oldest) or now) + timedelta(hours=1)
        retry_after = max(1, int((free_at - now).total_seconds()) + 1)
        raise RateLimited(
            f"{count} new addresses asked for a subscription in the last hour, the limit "
            f"(NEWSROOM_HTTP__CONFIRMATIONS_PER_HOUR) is {cap}",
            retry_after,
        )


def link_issued_at(signed: str) -> datetime | None:
    """When a confirmation link was made: the middle part of its ``<token>.<issued, hex seconds>.
    <signature>`` (`LinkSigner`). Only for a link `resolve` accepted; None for one of another shape."""
    parts = signed.strip().split(".")
    try:
        return datetime.fromtimestamp(int(parts[-2], 16), UTC) if len(parts) >= 3 else None
    except (ValueError, OverflowError, OSError):
        return None


def confirm(
    store: Store,
    token: str,
    now: datetime,
    *,
    issued_at: datetime | None = None,
    source: str = CONFIRMATION_LINK,
) -> Subscriber:
    """Activate a pending subscriber (the confirmation link was followed); idempotent.

    ``token`` is the subscriber's raw token, as `resolve` found it; ``issued_at`` is when the link was
    made (`link_issued_at`): the newest request made before it is what the person confirms, and only
    now is it written into their row (`_apply_waiting_request`). A link made before the person last
    unsubscribed confirms nothing (the subscriber is returned as it is): it answered an earlier
    request, which the withdrawal ended. The confirmation goes into the consent history; a withdrawal
    before it stays there.

    :raises NotFound: no subscriber has this token (never says more).
    """
    subscriber = _by_token(store, token)
    withdrawn = subscriber.unsubscribed_at
    if issued_at is not None and withdrawn is not None and issued_at < withdrawn:
        return subscriber
    if subscriber.status == "pending":
        with store.transaction():
            activated = rows.change_status(
                store, subscriber.id, ("pending",), "active", confirmed_at=iso(now), unsubscribed_at=None
            )
            if activated:
                version = _apply_waiting_request(store, subscriber.id, issued_at)
                consent.record(store, subscriber.id, "confirmation", source, now, version=version)
        subscriber = _by_token(store, token)
    return subscriber


def unsubscribe(
    store: Store,
    token: str,
    now: datetime,
    *,
    source: str = UNSUBSCRIBE_PAGE,
    event: Literal["withdrawal", "complaint"] = "withdrawal",
) -> Subscriber:
    """Stop all mail at once (RFC 8058 one-click); idempotent, the first time is kept.

    Messages queued but not yet sent are dropped; a bounced subscriber stays bounced. The withdrawal
    goes into the consent history with ``source`` (the page's button, one-click from a mail provider,
    a mailto unsubscribe), as ``event`` (a spam complaint, from the bounce intake, is a ``complaint``).

    :raises NotFound: no subscriber has this token.
    """
    subscriber = _by_token(store, token)
    if subscriber.status in ("pending", "active"):
        with store.transaction():
            withdrawn = rows.change_status(
                store, subscriber.id, ("pending", "active"), "unsubscribed", unsubscribed_at=iso(now)
            )
            if withdrawn:
                consent.record(store, subscriber.id, event, source, now)
            outbox_rows.drop_pending(store, subscriber.id)
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


def update_preferences(
    store: Store, token: str, changes: dict[str, Any], now: datetime, *, source: str = PREFERENCES_PAGE
) -> Subscriber:
    """Change categories, frequency, language (and name, kind, organization) from the preferences page.

    Only the fields in ``changes`` are validated and written; the others stay as stored. What really
    changed goes into the consent history as one ``change`` event (a save that changes nothing adds none).

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
    changed: dict[str, Any] = {
        name: getattr(document, name)
        for name in columns
        if getattr(document, name) != getattr(subscriber, name)
    }
    if "categories" in given and tuple(sorted(set(document.categories))) != subscriber.categories:
        changed["categories"] = sorted(set(document.categories))
    with store.transaction():
        rows.update(store, subscriber.id, {name: getattr(document, name) for name in columns})
        if "categories" in given:
            _set_categories(store, subscriber.id, document.categories)
        if changed:
            consent.record(store, subscriber.id, "change", source, now, detail=changed)
    return _by_token(store, token)


def _erase_row(store: Store, subscriber_id: int, email: str) -> None:
    """Delete the subscriber; the outbox keeps its sent rows with no one attached (anonymous counts).

    SMTP replies often quote the address ("550 <ania@...>: no such user"), so those are scrubbed too.
    """
    pattern = re.compile(re.escape(email), re.IGNORECASE)
    with store.transaction():
        outbox_rows.drop_pending(store, subscriber_id)
        consent.erase(store, subscriber_id)
        outbox_rows.scrub_subscriber(store, subscriber_id, pattern, "[erased]")
        bounce_rows.scrub_subscriber(store, subscriber_id, pattern, "[erased]")
        rows.delete(store, subscriber_id)


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


@dataclass(frozen=True, slots=True)
class UnconfirmedPruned:
    """What `prune_unconfirmed` did."""

    #: Addresses that never confirmed, erased.
    removed: int = 0
    #: Addresses that had unsubscribed and asked again without confirming: unsubscribed once more.
    lapsed: int = 0


def prune_unconfirmed(store: Store, before: datetime) -> UnconfirmedPruned:
    """Erase the pending subscribers whose last confirmation mail went out before ``before`` (or, with
    none, who signed up before it) and who never confirmed: they never agreed, so nothing of theirs is
    kept.

    A pending address that had unsubscribed earlier asked again and did not confirm: its withdrawal is
    the last thing it agreed to, so it goes back to `unsubscribed` and its history stays (the choices
    of the unconfirmed requests are dropped from it: a stranger may have typed them).
    """
    cutoff = iso(before)
    ids = rows.stale_pending_ids(store, cutoff)
    removed = lapsed = 0
    for subscriber_id in ids:
        with store.transaction():
            # Read again inside the transaction: the person may have confirmed a moment ago.
            row = rows.stale_pending(store, subscriber_id, cutoff)
            if row is None:
                continue
            if row[1] is None:
                _erase_row(store, subscriber_id, row[0])
                removed += 1
                continue
            rows.change_status(store, subscriber_id, ("pending",), "unsubscribed")
            outbox_rows.drop_pending(store, subscriber_id)
            consent.forget_requests(store, subscriber_id)
        lapsed += 1
    return UnconfirmedPruned(removed, lapsed)


# -- links -----------------------------------------------------------------------------------------


def resolve(
    store: Store, settings: Settings, signed: str, purpose: Purpose, now: datetime | None = None
) -> Subscriber:
    """The subscriber a signed link points at.

    :raises NotFound: forged, wrong purpose, expired confirmation, or the subscriber was erased; the
        message never tells whether some other token exists.
    """
    token = LinkSigner.for_settings(settings).unsign(signed, purpose, now)
    return _by_token(store, token)
