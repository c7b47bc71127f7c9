"""Named queries on drafts: release documents a press officer is still writing, never published.

A draft is its release document as JSON (the shape `ReleaseInput` reads) with the title beside it for
lists and search. No output reads this table: a draft becomes a release only when the desk publishes it
(`Store.add_release`), and the draft row is deleted in that same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from newsroom_feed.models import iso
from newsroom_feed.store.database import Store, stored_moment


@dataclass(frozen=True, slots=True)
class Draft:
    id: int
    title: str
    #: The release document (``title``, ``summary``, ``body``, ``categories``, ...).
    document: dict[str, Any]
    created_by: int | None
    created_at: datetime
    updated_at: datetime


def add(store: Store, document: dict[str, Any], created_by: int | None, now: datetime) -> int:
    """Store a new draft; returns its id. Joins the caller's transaction."""
    with store.transaction():
        cursor = store.conn.execute(
            "INSERT INTO drafts (title, document, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            (str(document.get("title") or ""), _dumps(document), created_by, iso(now), iso(now)),
        )
    return int(cursor.lastrowid or 0)


def update(store: Store, draft_id: int, document: dict[str, Any], now: datetime) -> bool:
    """Replace a draft's document; False if there is no such draft (deleted meanwhile)."""
    with store.transaction():
        cursor = store.conn.execute(
            "UPDATE drafts SET title = ?, document = ?, updated_at = ? WHERE id = ?",
            (str(document.get("title") or ""), _dumps(document), iso(now), draft_id),
        )
    return cursor.rowcount > 0


def get(store: Store, draft_id: int) -> Draft | None:
    row = store.conn.execute(
        "SELECT id, title, document, created_by, created_at, updated_at FROM drafts WHERE id = ?", (draft_id,)
    ).fetchone()
    if row is None:
        return None
    row_id, title, document, created_by, created_at, updated_at = row
    try:
        decoded = json.loads(document)
    except ValueError:
        decoded = {}
    created, updated = stored_moment(created_at), stored_moment(updated_at)
    assert created is not None and updated is not None
    return Draft(
        int(row_id), title, decoded if isinstance(decoded, dict) else {}, created_by, created, updated
    )


def delete(store: Store, draft_id: int) -> bool:
    """Remove a draft (published, or thrown away); joins the caller's transaction."""
    with store.transaction():
        cursor = store.conn.execute("DELETE FROM drafts WHERE id = ?", (draft_id,))
    return cursor.rowcount > 0


def _dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, default=str)
