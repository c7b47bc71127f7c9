"""Named queries of the desk's release list: releases and drafts together, searched, filtered, one page.

The list must stay fast at 10,000 releases, so it never loads releases to filter them in Python: the
status of `Release.status` is spelled in SQL (times are UTC text, so text order is time order), drafts
join as rows of status ``draft`` with ``UNION ALL``, and a page is one query with LIMIT/OFFSET plus one
count. A status filter drops the branch that cannot match (``draft`` reads only drafts; any other only
releases), and a category filter goes through the ``release_categories(category_id, release_id)`` index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from newsroom_feed.models import iso
from newsroom_feed.store.database import Store, stored_moment

ListStatus = Literal["draft", "scheduled", "embargoed", "published", "retracted"]
STATUSES: tuple[ListStatus, ...] = ("draft", "scheduled", "embargoed", "published", "retracted")

#: `Release.status(now)` in SQL; ``:now`` is the moment as the store's UTC text.
_STATUS = """CASE WHEN r.retracted_at IS NOT NULL THEN 'retracted'
     WHEN r.embargo_until IS NOT NULL AND r.embargo_until > :now THEN 'embargoed'
     WHEN r.published_at > :now THEN 'scheduled'
     ELSE 'published' END"""

#: The WHERE of each status, so that the filter narrows the scan rather than testing the CASE.
_STATUS_WHERE: dict[str, str] = {
    "retracted": "r.retracted_at IS NOT NULL",
    "embargoed": "r.retracted_at IS NULL AND r.embargo_until > :now",
    "scheduled": (
        "r.retracted_at IS NULL AND (r.embargo_until IS NULL OR r.embargo_until <= :now) "
        "AND r.published_at > :now"
    ),
    "published": (
        "r.retracted_at IS NULL AND (r.embargo_until IS NULL OR r.embargo_until <= :now) "
        "AND r.published_at <= :now"
    ),
}


@dataclass(frozen=True, slots=True)
class ListFilter:
    """What the list is asked for: a search text (part of a title, or a number such as ``12/2026``),
    a status and a category slug; empty means any."""

    q: str = ""
    status: str = ""
    category: str = ""


@dataclass(frozen=True, slots=True)
class ListedRelease:
    """One line of the desk's list: a release or (``is_draft``) a draft."""

    id: int
    is_draft: bool
    number: str | None
    title: str
    status: ListStatus
    embargo_until: datetime | None
    updated_at: datetime | None
    categories: tuple[str, ...]


def _branches(wanted: ListFilter, params: dict[str, Any]) -> list[str]:
    """The SELECTs of releases and of drafts that the filter can match."""
    branches = []
    if wanted.status in ("", *_STATUS_WHERE):
        where = ["r.uid IS NOT NULL"]
        if wanted.status:
            where.append(_STATUS_WHERE[wanted.status])
        if wanted.q:
            where.append("(r.title LIKE :like ESCAPE '\\' OR r.number = :q)")
        if wanted.category:
            where.append(
                "r.id IN (SELECT rc.release_id FROM release_categories rc "
                "JOIN categories c ON c.id = rc.category_id WHERE c.slug = :category)"
            )
        branches.append(
            f"SELECT r.id AS id, 0 AS is_draft, r.number AS number, r.title AS title, {_STATUS} AS status, "
            "r.embargo_until AS embargo_until, r.updated_at AS updated_at, NULL AS document_categories "
            f"FROM releases r WHERE {' AND '.join(where)}"
        )
    if wanted.status in ("", "draft"):
        where = ["1"]
        if wanted.q:
            where.append("d.title LIKE :like ESCAPE '\\'")
        if wanted.category:
            where.append(
                "EXISTS (SELECT 1 FROM json_each(d.document, '$.categories') WHERE value = :category)"
            )
        branches.append(
            "SELECT d.id AS id, 1 AS is_draft, NULL AS number, d.title AS title, 'draft' AS status, "
            "NULL AS embargo_until, d.updated_at AS updated_at, "
            "json_extract(d.document, '$.categories') AS document_categories "
            f"FROM drafts d WHERE json_valid(d.document) AND {' AND '.join(where)}"
        )
    params["q"] = wanted.q
    params["like"] = "%" + wanted.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    params["category"] = wanted.category
    return branches


def count(store: Store, wanted: ListFilter, now: datetime) -> int:
    """How many releases and drafts match: the pager's total."""
    params: dict[str, Any] = {"now": iso(now)}
    branches = _branches(wanted, params)
    if not branches:
        return 0
    counts = " + ".join(f"(SELECT count(*) FROM ({branch}))" for branch in branches)
    return int(store.conn.execute(f"SELECT {counts}", params).fetchone()[0])


def page(store: Store, wanted: ListFilter, now: datetime, limit: int, offset: int) -> list[ListedRelease]:
    """One page of the list, most recently changed first."""
    params: dict[str, Any] = {"now": iso(now), "limit": limit, "offset": offset}
    branches = _branches(wanted, params)
    if not branches:
        return []
    rows = store.conn.execute(
        " UNION ALL ".join(branches) + " ORDER BY updated_at DESC, is_draft DESC, id DESC "
        "LIMIT :limit OFFSET :offset",
        params,
    ).fetchall()
    slugs = _category_slugs(store, [int(row[0]) for row in rows if not row[1]])
    listed = []
    for row_id, is_draft, number, title, status, embargo, updated, document_categories in rows:
        categories = _draft_categories(document_categories) if is_draft else tuple(slugs.get(int(row_id), ()))
        listed.append(
            ListedRelease(
                id=int(row_id),
                is_draft=bool(is_draft),
                number=number,
                title=title,
                status=status,
                embargo_until=_moment(embargo),
                updated_at=_moment(updated),
                categories=categories,
            )
        )
    return listed


def _category_slugs(store: Store, release_ids: list[int]) -> dict[int, list[str]]:
    """The category slugs of a page's releases (at most a page of ids: one small query)."""
    if not release_ids:
        return {}
    marks = ",".join("?" * len(release_ids))
    found: dict[int, list[str]] = {}
    for release_id, slug in store.conn.execute(
        "SELECT rc.release_id, c.slug FROM release_categories rc JOIN categories c ON c.id = rc.category_id "
        f"WHERE rc.release_id IN ({marks}) ORDER BY rc.release_id, rc.position",
        release_ids,
    ):
        found.setdefault(int(release_id), []).append(str(slug))
    return found


def _draft_categories(value: str | None) -> tuple[str, ...]:
    try:
        decoded = json.loads(value) if value else []
    except ValueError:
        return ()
    return tuple(str(slug) for slug in decoded) if isinstance(decoded, list) else ()


def _moment(text: str | None) -> datetime | None:
    """A time of the list; one an outside writer stored unreadably shows as none rather than failing."""
    try:
        return stored_moment(text)
    except ValueError:
        return None
