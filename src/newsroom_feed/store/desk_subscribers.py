"""Named queries of the desk's subscriber list: search, filters and one page of ids, plus their count.

Fast at 100,000 subscribers without an index of its own: the page walks the rowid backwards (newest
first) and stops after ``offset + limit`` matches; the count is one scan. The search is a substring of the
address, name or organization in any letter case, Polish letters too: SQLite's ``LIKE`` folds ASCII only
(``Łódź`` would miss ``łódź``), so a text with such letters is also matched as a ``GLOB`` pattern with
both cases of every letter (``*[Łł][Óó][Dd][Źź]*``), in C, with no Python function per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from newsroom_feed.store.database import Store

#: GLOB's own characters, matched literally inside a one-character class.
_GLOB_SPECIAL = frozenset("*?[]")


def glob_pattern(text: str) -> str:
    """A GLOB pattern matching ``text`` anywhere, in either letter case."""
    parts = []
    for char in text:
        lower, upper = char.lower(), char.upper()
        if len(lower) == 1 and len(upper) == 1 and lower != upper:
            parts.append(f"[{lower}{upper}]")
        elif char in _GLOB_SPECIAL:
            parts.append(f"[{char}]")
        else:
            parts.append(char)
    return "*" + "".join(parts) + "*"


def like_pattern(text: str) -> str:
    """A LIKE pattern (escape ``\\``) for ``text`` anywhere: ASCII letters in any case, other letters as
    any one character. Cheap, so it narrows the rows before `glob_pattern` checks them exactly."""
    parts = []
    for char in text:
        if char in "%_\\":
            parts.append("\\" + char)
        elif not char.isascii() and char.lower() != char.upper():
            parts.append("_")
        else:
            parts.append(char)
    return "%" + "".join(parts) + "%"


@dataclass(frozen=True, slots=True)
class SubscriberFilter:
    """What the desk's list asks for; empty strings mean "any"."""

    text: str = ""
    status: str = ""
    kind: str = ""
    #: Subscribers who receive this category: who chose it, and who chose none (which means every one).
    category: str = ""

    def where(self, category_id: int | None) -> tuple[str, list[Any]]:
        """The WHERE clause and its parameters; ``category_id`` is that of `category` (None: unknown)."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.text:
            # LIKE first (about 20 ms over 100,000 rows); GLOB, five times slower, only when a letter
            # outside ASCII needs its case folded, and then only on the rows LIKE let through.
            like = like_pattern(self.text)
            clauses.append(
                "(s.email LIKE ? ESCAPE '\\' OR s.name LIKE ? ESCAPE '\\' "
                "OR s.organization LIKE ? ESCAPE '\\')"
            )
            params += [like] * 3
            if not self.text.isascii():
                clauses.append("(s.email GLOB ? OR s.name GLOB ? OR s.organization GLOB ?)")
                params += [glob_pattern(self.text)] * 3
        if self.status:
            clauses.append("s.status = ?")
            params.append(self.status)
        if self.kind:
            clauses.append("s.kind = ?")
            params.append(self.kind)
        if self.category:
            # One look-up per subscriber: no categories (NULL) means every category.
            clauses.append(
                "coalesce((SELECT max(sc.category_id = ?) FROM subscriber_categories sc "
                "WHERE sc.subscriber_id = s.id), 1)"
            )
            params.append(category_id)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _where(store: Store, wanted: SubscriberFilter) -> tuple[str, list[Any]]:
    category_id = None
    if wanted.category:
        row = store.conn.execute("SELECT id FROM categories WHERE slug = ?", (wanted.category,)).fetchone()
        category_id = int(row[0]) if row is not None else None
    return wanted.where(category_id)


def count(store: Store, wanted: SubscriberFilter) -> int:
    where, params = _where(store, wanted)
    return int(store.conn.execute(f"SELECT count(*) FROM subscribers s{where}", params).fetchone()[0])


def page_ids(store: Store, wanted: SubscriberFilter, limit: int, offset: int) -> list[int]:
    """Ids of one page of matching subscribers, newest first."""
    where, params = _where(store, wanted)
    return [
        int(row[0])
        for row in store.conn.execute(
            f"SELECT s.id FROM subscribers s{where} ORDER BY s.id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
    ]


def page_and_count(store: Store, wanted: SubscriberFilter, limit: int, offset: int) -> tuple[list[int], int]:
    """`page_ids` and `count` together. A page that is not full tells the count without a second scan:
    a search for one address (which matches a row or two, so its page walks the whole table) reads
    100,000 subscribers once, not twice. A page past the end tells nothing, and the count is asked."""
    ids = page_ids(store, wanted, limit, offset)
    if len(ids) < limit and (ids or offset == 0):
        return ids, offset + len(ids)
    return ids, count(store, wanted)
