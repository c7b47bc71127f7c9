"""Named queries on personal feed tokens: `subscribers.feed_token` and `retired_feed_tokens`.

Every function joins the caller's transaction; `web.personal` keeps the rules (who has a feed, when a
token is minted or replaced). Times are passed in as stored text.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsroom_feed.store.database import Store
from newsroom_feed.store.journalists import NEWEST_TERMS


@dataclass(frozen=True, slots=True)
class FeedOwner:
    """What a personal feed depends on of its subscriber: who it is for and which categories it lists."""

    subscriber_id: int
    status: str
    name: str | None
    email: str
    #: Slugs in slug order; empty means every category, as for their mail.
    categories: tuple[str, ...]
    #: A verified journalist whose verification stands now: sees early-access releases before the lift.
    verified: bool = False
    #: The subscriber's language, for the words the feed adds (the embargo mark).
    language: str = "pl"


def owner(store: Store, token: str, terms_version: str) -> FeedOwner | None:
    """The subscriber whose current feed token this is, in one indexed read (asked on every poll).

    ``verified`` holds for a verified journalist whose newest acceptance of the embargo terms is of
    ``terms_version``: after the operator changes the terms, no early entry shows until they accept."""
    row = store.conn.execute(
        "SELECT s.id, s.status, s.name, s.email, (SELECT group_concat(c.slug, ' ')"
        " FROM subscriber_categories sc JOIN categories c ON c.id = sc.category_id"
        " WHERE sc.subscriber_id = s.id),"
        f" coalesce(s.verification = 'verified' AND {NEWEST_TERMS} = ?, 0), s.language"
        " FROM subscribers s WHERE s.feed_token = ?",
        (terms_version, token),
    ).fetchone()
    if row is None:
        return None
    slugs = tuple(sorted(row[4].split(" "))) if row[4] else ()
    return FeedOwner(int(row[0]), row[1], row[2], row[3], slugs, bool(row[5]), row[6] or "pl")


def token_of(store: Store, subscriber_id: int) -> str | None:
    row = store.conn.execute("SELECT feed_token FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    return None if row is None else row[0]


def set_if_missing(store: Store, subscriber_id: int, token: str) -> None:
    """Give a subscriber this token unless one was given meanwhile (two first views at once)."""
    store.conn.execute(
        "UPDATE subscribers SET feed_token = ? WHERE id = ? AND feed_token IS NULL", (token, subscriber_id)
    )


def replace(store: Store, subscriber_id: int, token: str, retired_at: str) -> None:
    """Put ``token`` in place of the subscriber's current one, which is kept as retired."""
    store.conn.execute(
        "INSERT OR IGNORE INTO retired_feed_tokens (token, retired_at) "
        "SELECT feed_token, ? FROM subscribers WHERE id = ? AND feed_token IS NOT NULL",
        (retired_at, subscriber_id),
    )
    store.conn.execute("UPDATE subscribers SET feed_token = ? WHERE id = ?", (token, subscriber_id))


def is_retired(store: Store, token: str) -> bool:
    return (
        store.conn.execute("SELECT 1 FROM retired_feed_tokens WHERE token = ?", (token,)).fetchone()
        is not None
    )
