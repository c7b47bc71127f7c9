"""Named queries on early access: the releases a verified journalist may see before their embargo lifts,
and `early_access_log`, the record of who had such a release before the lift (so a leak can be traced).

Every function joins the caller's transaction; times are passed in as datetimes and stored as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from newsroom_feed.models import iso
from newsroom_feed.store.database import Store, stored_moment
from newsroom_feed.store.journalists import NEWEST_TERMS

Channel = Literal["mail", "feed"]


@dataclass(frozen=True, slots=True)
class EarlyRead:
    """One time a release went to someone before its lift: to whom (None once erased), how and when."""

    email: str | None
    channel: str
    at: datetime | None


def embargoed_ids(store: Store, now: datetime, categories: Sequence[str], *, limit: int) -> list[int]:
    """Ids of the releases shared early that are under embargo at ``now``, not retracted, in any of these
    categories (none: every category), the soonest lift first."""
    sql = (
        "SELECT r.id FROM releases r WHERE r.early_access = 1 AND r.retracted_at IS NULL"
        " AND r.uid IS NOT NULL AND r.embargo_until > ?"
    )
    params: list[object] = [iso(now)]
    if categories:
        marks = ",".join("?" * len(categories))
        sql += (
            " AND r.id IN (SELECT rc.release_id FROM release_categories rc JOIN categories c"
            f" ON c.id = rc.category_id WHERE c.slug IN ({marks}))"
        )
        params.extend(categories)
    sql += " ORDER BY r.embargo_until, r.id LIMIT ?"
    params.append(limit)
    return [int(row[0]) for row in store.conn.execute(sql, params)]


def record(
    store: Store, release_ids: Iterable[int], subscriber_id: int, channel: Channel, at: datetime
) -> None:
    """One row per release: this subscriber had it, by this channel, at this moment."""
    store.conn.executemany(
        "INSERT INTO early_access_log (release_id, subscriber_id, channel, at) VALUES (?, ?, ?, ?)",
        [(release_id, subscriber_id, channel, iso(at)) for release_id in release_ids],
    )


def reads_of(store: Store, release_id: int) -> list[EarlyRead]:
    """Who had this release before its lift, oldest first; the address is None once erased."""
    rows = store.conn.execute(
        "SELECT s.email, l.channel, l.at FROM early_access_log l"
        " LEFT JOIN subscribers s ON s.id = l.subscriber_id WHERE l.release_id = ? ORDER BY l.id",
        (release_id,),
    )
    return [EarlyRead(email, channel, stored_moment(at)) for email, channel, at in rows]


def to_share(store: Store, now: datetime) -> list[int]:
    """Ids of the releases shared early whose embargo runs at ``now`` (not retracted), the soonest lift
    first: read through the index of visible times, so only releases still to come are looked at."""
    moment = iso(now)
    return [
        int(row[0])
        for row in store.conn.execute(
            "SELECT id FROM releases WHERE retracted_at IS NULL AND visible_at > ? AND early_access = 1 "
            "AND uid IS NOT NULL AND embargo_until > ? ORDER BY visible_at, id",
            (moment, moment),
        )
    ]


def readers(store: Store, terms_version: str) -> list[tuple[int, frozenset[str]]]:
    """(subscriber id, category slugs; none: every category) of each active verified journalist whose
    newest acceptance of the embargo terms is of ``terms_version``: who may get early copies now."""
    rows = store.conn.execute(
        "SELECT s.id, (SELECT group_concat(c.slug, ' ') FROM subscriber_categories sc"
        " JOIN categories c ON c.id = sc.category_id WHERE sc.subscriber_id = s.id)"
        " FROM subscribers s WHERE s.verification = 'verified' AND s.status = 'active'"
        f" AND {NEWEST_TERMS} = ? ORDER BY s.id",
        (terms_version,),
    )
    return [(int(sid), frozenset(slugs.split(" ")) if slugs else frozenset()) for sid, slugs in rows]
