"""The audit log: who changed what, when, and each changed field's old and new value.

Every change made through the desk (and the CLI's user commands) is one row. ``changes`` is
``{field: [old, new]}`` of plain JSON values, computed by `changes_between` from two documents, so a
release's edit reads as the fields of its release document. Rows are appended, never edited, except
that erasing a subscriber blanks the values of that subscriber's rows (`scrub`): the log must not keep
an address the subscriber asked us to forget.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from newsroom_feed.models import iso
from newsroom_feed.store.database import Store, stored_moment

#: What an audit row may be about.
SUBJECTS = ("release", "draft", "user", "subscriber", "outbox")
ERASED = "[erased]"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: a desk user, or the operator at the command line (``user_id`` None)."""

    name: str
    user_id: int | None = None


OPERATOR = Actor("operator (CLI)")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    user_id: int | None
    subject: str
    subject_id: int | None
    action: str
    changes: dict[str, tuple[Any, Any]]


def changes_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The fields whose value differs, with (old, new); a field only one side has counts as None."""
    return {
        key: (before.get(key), after.get(key))
        for key in dict.fromkeys([*before, *after])
        if before.get(key) != after.get(key)
    }


def record(
    store: Store,
    actor: Actor,
    subject: str,
    subject_id: int | None,
    action: str,
    changes: Mapping[str, tuple[Any, Any]],
    now: datetime,
) -> None:
    """Append one row; joins the caller's transaction, so the change and its record commit together."""
    if subject not in SUBJECTS:
        raise ValueError(f"unknown audit subject {subject!r}")
    store.conn.execute(
        "INSERT INTO audit_log (at, user_id, actor, subject, subject_id, action, changes) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            iso(now),
            actor.user_id,
            actor.name,
            subject,
            subject_id,
            action,
            json.dumps({key: list(pair) for key, pair in changes.items()}, ensure_ascii=False, default=str),
        ),
    )


def entries(
    store: Store,
    subject: str | None = None,
    subject_id: int | None = None,
    *,
    user_id: int | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """Newest first: about one subject, or made by one desk user (``user_id``)."""
    sql = "SELECT id, at, actor, user_id, subject, subject_id, action, changes FROM audit_log WHERE 1 = 1"
    params: list[Any] = []
    if subject is not None:
        sql += " AND subject = ? AND subject_id IS ?"
        params += [subject, subject_id]
    if user_id is not None:
        sql += " AND user_id = ?"
        params.append(user_id)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    found = []
    for row_id, at, actor, by, what, what_id, action, changes in store.conn.execute(sql, params):
        try:
            decoded = json.loads(changes)
        except ValueError:
            decoded = {}
        pairs = {
            str(key): (value[0], value[1])
            for key, value in (decoded.items() if isinstance(decoded, dict) else ())
            if isinstance(value, list) and len(value) == 2
        }
        moment = stored_moment(at)
        assert moment is not None
        found.append(AuditEntry(row_id, moment, actor, by, what, what_id, action, pairs))
    return found


def scrub(store: Store, subject: str, subject_id: int) -> int:
    """Blank every value recorded about one subject (an erased subscriber), keeping who, when, what."""
    rows = store.conn.execute(
        "SELECT id, changes FROM audit_log WHERE subject = ? AND subject_id = ?", (subject, subject_id)
    ).fetchall()
    for row_id, changes in rows:
        try:
            decoded = json.loads(changes)
        except ValueError:
            decoded = {}
        blanked = {str(key): [ERASED, ERASED] for key in (decoded if isinstance(decoded, dict) else {})}
        store.conn.execute("UPDATE audit_log SET changes = ? WHERE id = ?", (json.dumps(blanked), row_id))
    return len(rows)
