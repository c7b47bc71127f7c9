"""Verified journalists: applying, the embargo terms, and verifying, refusing or revoking (issue 12).

A journalist is a subscriber of kind ``journalist`` with a ``verification``: ``applied`` (from the web form,
through the same double opt-in as `/subscribe`), then ``verified`` or ``refused`` by an admin, and
``revoked`` after a breach, at once, alone or with everyone verified at the same outlet (the subscriber's
``organization``). Every acceptance of the embargo terms is kept with its version (`terms_acceptances`), so
a new version of the terms can be asked for again before more early material goes out
(`accepted_current`).

Every change of verification is audited (subject ``subscriber``) and goes into the subscriber's consent
history as a ``change`` in the same transaction. The queries are in `store.journalists`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from newsroom_feed.errors import InputError, NotFound, SubscriberNotFound
from newsroom_feed.models import Subscriber, iso
from newsroom_feed.people import consent, subscriptions
from newsroom_feed.settings import Settings
from newsroom_feed.store import audit
from newsroom_feed.store import journalists as rows
from newsroom_feed.store import outbox as outbox_rows
from newsroom_feed.store.audit import Actor
from newsroom_feed.store.database import Store, stored_moment

Verification = Literal["applied", "verified", "refused", "revoked"]
VERIFICATIONS: tuple[Verification, ...] = ("applied", "verified", "refused", "revoked")
#: Where an acceptance of the terms was given: the apply form, or the operator on the person's behalf.
TermsSource = Literal["web", "operator"]

#: The bundled embargo terms, used when `journalists.terms_file` is not set.
TERMS = {
    "pl": (
        "Akceptuję warunki embarga: materiałów otrzymanych przed upływem embarga nie publikuję ani nikomu "
        "nie przekazuję przed podanym terminem. Wiem, że złamanie embarga może kosztować dostęp do "
        "materiałów przed publikacją całą moją redakcję."
    ),
    "en": (
        "I accept the embargo terms: material received before its embargo lifts is neither published nor "
        "passed on to anyone before the time given. I understand that a breach can cost my whole outlet "
        "its early access."
    ),
}


def terms_version(settings: Settings) -> str:
    return settings.journalists.terms_version


def terms_text(settings: Settings, language: str) -> str:
    """The terms shown beside the checkbox: the operator's file (one text for both languages) or ours.

    :raises InputError: the file is set but cannot be read as UTF-8 (``journalists.terms_file``).
    """
    path = settings.journalists.terms_file
    if path is None:
        return TERMS.get(language, TERMS["pl"])
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError("journalists.terms_file", f"cannot read {path}: {error}") from None


@dataclass(frozen=True, slots=True)
class Journalist:
    """A journalist as the desk and `journalist list` show one."""

    id: int
    email: str
    name: str | None
    outlet: str | None
    status: str  # the subscription's: pending until the confirmation link is used
    verification: Verification
    work_url: str | None
    press_card: str | None
    created_at: datetime | None
    verified_at: datetime | None
    revoked_at: datetime | None
    terms_version: str | None  # the newest version accepted; None: never

    def to_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "name": self.name,
            "outlet": self.outlet,
            "status": self.status,
            "verification": self.verification,
            "work_url": self.work_url,
            "press_card": self.press_card,
            "terms_version": self.terms_version,
            "created_at": iso(self.created_at) if self.created_at else None,
            "verified_at": iso(self.verified_at) if self.verified_at else None,
            "revoked_at": iso(self.revoked_at) if self.revoked_at else None,
        }


def _journalist(row: tuple[Any, ...]) -> Journalist:
    (id_, email, name, outlet, status, verification, work_url, card, created, verified, revoked, terms) = row
    return Journalist(
        id_, email, name, outlet, status, verification, work_url, card,
        stored_moment(created), stored_moment(verified), stored_moment(revoked), terms,
    )  # fmt: skip


def listing(store: Store, verification: str | None = None) -> list[Journalist]:
    """Journalists ordered by id, of one verification when given.

    :raises InputError: an unknown verification (``status``).
    """
    if verification is not None and verification not in VERIFICATIONS:
        raise InputError("status", f"must be one of {', '.join(VERIFICATIONS)}, not {verification!r}")
    return [_journalist(row) for row in rows.listing(store, verification)]


def get(store: Store, ref: int | str) -> Journalist:
    """A journalist by subscriber id or e-mail address (case-insensitive).

    :raises SubscriberNotFound: no subscriber with this address or id has applied.
    """
    row = rows.row_by_id(store, ref) if isinstance(ref, int) else rows.row_by_email(store, ref.strip())
    if row is None:
        raise SubscriberNotFound(str(ref))
    return _journalist(row)


def awaiting(store: Store, subscriber_id: int) -> bool:
    """Whether the subscriber applied as a journalist and waits for an admin (their pages say so)."""
    row = rows.row_by_id(store, subscriber_id)
    return row is not None and row[5] == "applied"


def accepted_current(store: Store, subscriber: Subscriber | Journalist, settings: Settings) -> bool:
    """Whether the newest acceptance of the terms by ``subscriber`` is of the current version."""
    latest = rows.latest_acceptance(store, subscriber.id)
    return latest is not None and latest[0] == terms_version(settings)


def accept_terms(
    store: Store, settings: Settings, subscriber_id: int, now: datetime, source: TermsSource
) -> None:
    """Record an acceptance of the current terms; joins the caller's transaction."""
    rows.add_acceptance(store, subscriber_id, terms_version(settings), iso(now), source)


# -- applying ---------------------------------------------------------------------------------------


def check_work_url(value: str) -> str:
    """:raises InputError: not an absolute http(s) address with a host (``work_url``)."""
    value = value.strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() for c in value)
    ):
        raise InputError(
            "work_url", "must be a link starting with http:// or https://, e.g. https://gazeta.pl/autor/ania"
        )
    if len(value) > 500:
        raise InputError("work_url", "must be at most 500 characters")
    return value


def apply(
    store: Store,
    settings: Settings,
    data: dict[str, Any],
    work_url: str,
    press_card: str | None,
    now: datetime,
) -> Subscriber | None:
    """A journalist's application from the web form: a pending subscriber of kind ``journalist`` (its
    confirmation mail queued, as for `/subscribe`), ``applied``, with their acceptance of the terms.

    An address already stored changes nothing (None), so the form tells nobody which addresses exist.

    :raises InputError: a field is invalid (``work_url``, ``press_card`` or a subscriber field).
    """
    url = check_work_url(work_url)
    card = (press_card or "").strip() or None
    if card is not None and (len(card) > 100 or any(not c.isprintable() for c in card)):
        raise InputError("press_card", "must be at most 100 printable characters")
    document = subscriptions.SubscriberInput.parse({**data, "kind": "journalist", "frequency": "immediate"})
    with store.transaction():
        try:
            subscriptions.get_subscriber(store, document.email)
        except SubscriberNotFound:
            pass
        else:
            return None
        added = subscriptions.add_subscriber(store, document, now, source="web", double_opt_in=True)
        rows.set_application(store, added.id, url, card)
        accept_terms(store, settings, added.id, now, "web")
    return added


# -- verification -----------------------------------------------------------------------------------

#: For each action: the verification it sets, and those it may start from.
_ACTIONS: dict[str, tuple[Verification, tuple[Verification, ...]]] = {
    "verify": ("verified", ("applied", "refused", "revoked")),
    "refuse": ("refused", ("applied",)),
    "revoke": ("revoked", ("verified",)),
}


def _change(
    store: Store, journalist: Journalist, action: str, now: datetime, who: Actor, source: str
) -> None:
    """Set the verification ``action`` gives, audited and in the consent history; joins the caller's
    transaction.

    :raises InputError: the action does not apply to the journalist's current verification (``email``).
    """
    target, allowed = _ACTIONS[action]
    if journalist.verification not in allowed:
        raise InputError(
            "email",
            f"{journalist.email} is {journalist.verification}; only one {' or '.join(allowed)} can be"
            f" {target}",
        )
    rows.set_verification(store, journalist.id, target, iso(now))
    audit.record(
        store,
        who,
        "subscriber",
        journalist.id,
        action,
        {"verification": (journalist.verification, target)},
        now,
    )
    consent.record(
        store, journalist.id, "change", source, now, detail={"verification": target, "by": who.name}
    )


def decision_key(verification: Verification, now: datetime) -> str:
    """The outbox key of the mail telling an applicant the admin's decision at ``now``: one per decision
    (`mail.kinds.VERIFICATION` reads it back; people sit below mail, so the key is made here)."""
    return f"verification:{verification}:{iso(now)}"


def _tell(store: Store, subscriber_id: int, verification: Verification, now: datetime) -> None:
    """Queue the mail of the decision; joins the decision's transaction, so both happen or neither."""
    outbox_rows.insert_new(
        store, [(decision_key(verification, now), "verification", subscriber_id, "[]", None)], iso(now)
    )


def verify(
    store: Store, settings: Settings, ref: int | str, now: datetime, who: Actor, *,
    terms_accepted: bool = False, source: str = "operator",
) -> Journalist:  # fmt: skip
    """Verify an applicant (or one refused or revoked before); with ``terms_accepted`` the operator
    records their acceptance of the current terms on their behalf.

    :raises SubscriberNotFound: nobody with this address applied.
    :raises InputError: they are verified already.
    """
    with store.transaction():
        journalist = get(store, ref)
        _change(store, journalist, "verify", now, who, source)
        if terms_accepted:
            accept_terms(store, settings, journalist.id, now, "operator")
        _tell(store, journalist.id, "verified", now)
        return get(store, journalist.id)


def refuse(
    store: Store, ref: int | str, now: datetime, who: Actor, *, source: str = "operator"
) -> Journalist:
    """Refuse an applicant. :raises SubscriberNotFound, InputError: as `verify`."""
    with store.transaction():
        journalist = get(store, ref)
        _change(store, journalist, "refuse", now, who, source)
        _tell(store, journalist.id, "refused", now)
        return get(store, journalist.id)


def revoke(
    store: Store, ref: int | str, now: datetime, who: Actor, *, source: str = "operator"
) -> Journalist:
    """Revoke a verified journalist's early access, at once. :raises SubscriberNotFound, InputError:
    not found, or not verified."""
    with store.transaction():
        journalist = get(store, ref)
        _change(store, journalist, "revoke", now, who, source)
        return get(store, journalist.id)


def _outlet_key(outlet: str) -> str:
    return " ".join(outlet.split()).casefold()


def at_outlet(store: Store, outlet: str) -> list[Journalist]:
    """The verified journalists of ``outlet`` (compared case-insensitively, spaces folded)."""
    key = _outlet_key(outlet)
    return [item for item in listing(store, "verified") if item.outlet and _outlet_key(item.outlet) == key]


def revoke_outlet(
    store: Store, outlet: str, now: datetime, who: Actor, *, source: str = "operator"
) -> list[Journalist]:
    """Revoke everyone verified at ``outlet`` after a breach, in one transaction.

    :raises InputError: no outlet given (``outlet``).
    :raises NotFound: nobody verified at that outlet.
    """
    if not outlet.strip():
        raise InputError("outlet", "is required: the outlet's name as the journalists gave it")
    with store.transaction():
        found = at_outlet(store, outlet)
        if not found:
            raise NotFound(f"no verified journalist at the outlet {outlet!r}")
        for journalist in found:
            _change(store, journalist, "revoke", now, who, source)
        return [get(store, journalist.id) for journalist in found]
