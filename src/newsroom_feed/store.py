"""The SQLite store: the connection, the migrations runner, typed reads and writes of releases and categories.

The only module that imports sqlite_utils. Other modules that own a table of their own (the outbox, the
subscribers) run their SQL through `Store.conn` inside `Store.transaction()`, so every write of one
operation commits together or not at all.

Times are stored as UTC text ``YYYY-MM-DDTHH:MM:SSZ`` so that text order is time order. Triggers (the
schema is in `schema.py`) append to `changes` on every write to the release tables, so a row written by
another process, even with plain SQL, is seen by the watcher.

What an outside writer stores is not trusted. `complete_pending` (run before every build) cleans the rows
it completes: characters XML cannot hold leave the texts and category names, a missing ``body_html`` is
rendered from the Markdown, a supplied one is cleaned by the allow-list of `markup.render_markdown`; and a
trigger (migration 4) empties ``body_html`` when the Markdown alone is edited, so the next build renders
it again. A complete row can still be changed later with plain SQL (``body_html`` alone, a title), so every
read that builds a `Release` or `Category` cleans them again: the HTML through the same allow-list
(`markup.clean_html`, about 20 µs a body, under 5 % of a full build of 10,000 releases), the texts of XML-
invalid characters. That is the one place all outputs (feeds, pages, mail, API) read from, so no HTML
reaches them uncleaned whatever wrote it, without a second trigger and flag column for HTML edits.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils
from slugify import slugify

from newsroom_feed.errors import ReleaseNotFound, StoreError
from newsroom_feed.markup import clean_html, render_markdown, xml_safe, xml_safe_or_none
from newsroom_feed.models import (
    DEFAULT_ZONE,
    Attachment,
    Category,
    Contact,
    Release,
    ReleaseInput,
    iso,
)
from newsroom_feed.schema import INCOMPLETE as _INCOMPLETE
from newsroom_feed.schema import MIGRATIONS as MIGRATIONS  # re-exported: tests and tools read it here
from newsroom_feed.schema import TIME_COLUMNS
from newsroom_feed.schema import readable_times as _readable_times
from newsroom_feed.settings import Settings

_log = logging.getLogger(__name__)


#: What `Store._read_outside` returns for a time column holding text that is not a time.
_UNREADABLE = datetime(1, 1, 1, tzinfo=UTC)
_UNREADABLE_EFFECT = {
    "published_at": "the release is held back until its time is set (newsroom-feed release update)",
    "embargo_until": "the release is held back until its embargo is set (newsroom-feed release update)",
    "retracted_at": "the release is retracted as of now",
}
#: A release whose time an outside writer stored unreadably is held back by this embargo (far enough
#: from the end of `datetime` that converting it to any zone still works) until the operator sets it.
HELD_UNTIL = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    table: str
    op: str
    release_id: int | None
    category_id: int | None


@dataclass(frozen=True, slots=True)
class BuildState:
    change_cursor: int
    built_at: datetime | None
    #: Of the settings and templates the last build's outputs were made with (`planner.fingerprint`).
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class ReleaseLine:
    """What a list of releases shows (a category page): no body, no attachments, one cheap query."""

    slug: str
    title: str
    number: str
    visible_at: datetime
    urgent: bool
    summary: str | None


def stored_moment(text: str | None) -> datetime | None:
    """A time as the store keeps it; one without an offset is UTC (never the machine's zone).

    :raises ValueError: unreadable text, which only an outside writer can have put there since the last
        `Store.complete_pending` (a build then fails and the next one, after completing, succeeds).
    """
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _outside_moment(text: str) -> datetime:
    """A time an outside writer stored: any ISO 8601 form Python reads (``2026-11-26 23:59:00``,
    ``2026-11-27``, ``2026-11-26T23:59:00+01:00``); without an offset it is UTC, as every time in the
    store is. Fractions of a second round up, so that a release never becomes visible early.

    :raises ValueError: not a time, or before the year 1000 (which the store's form cannot hold).
    """
    moment = datetime.fromisoformat(text.strip().upper())  # RFC 3339 allows a lower-case t and z
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    if moment.year < 1000:
        raise ValueError("before the year 1000")
    return min(moment, HELD_UNTIL)


class Store:
    """One open database. Cheap to create; not shared between threads."""

    def __init__(
        self,
        path: Path | str,
        authority: str = "newsroom.example.pl",
        *,
        zone: ZoneInfo = DEFAULT_ZONE,
        migrate: bool = True,
    ):
        self.path = Path(path)
        self.authority = authority
        self.zone = zone
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as error:
            raise StoreError(f"cannot open the store {path}: {error}") from None
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        if migrate:
            self.migrate()

    @classmethod
    def for_settings(cls, settings: Settings, *, migrate: bool = True) -> Store:
        """The store the settings name, minting uids under their domain and reading times in their zone."""
        return cls(settings.database, settings.domain, zone=settings.zone, migrate=migrate)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        if not self.db["schema_migrations"].exists():
            return 0
        row = self.conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def migrate(self) -> int:
        """Bring the schema up to date; returns how many migrations ran.

        :raises StoreError: if the file was written by a newer version of the service.
        """
        with self.transaction():
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)"
            )
            current = self.schema_version
            if current > len(MIGRATIONS):
                raise StoreError(
                    f"the store {self.path} has schema version {current}, newer than this program "
                    f"({len(MIGRATIONS)}); upgrade newsroom-feed"
                )
            for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in _statements(script):
                    self.conn.execute(statement)
                self.conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, iso(datetime.now(UTC))),
                )
        return len(MIGRATIONS) - current

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE); nested use joins the outer one."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- categories ---------------------------------------------------------------------------------

    def ensure_categories(self, slugs: Iterable[str]) -> list[int]:
        """Ids of these categories, creating unknown ones with the slug as their name."""
        ids = []
        for slug in slugs:
            self.conn.execute(
                "INSERT INTO categories (slug, name) VALUES (?, ?) ON CONFLICT(slug) DO NOTHING", (slug, slug)
            )
            row = self.conn.execute("SELECT id FROM categories WHERE slug = ?", (slug,)).fetchone()
            ids.append(int(row[0]))
        return ids

    def set_category(self, slug: str, name: str, description: str = "") -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO categories (slug, name, description) VALUES (?, ?, ?) "
                "ON CONFLICT(slug) DO UPDATE SET name = excluded.name, description = excluded.description",
                (slug, name, description),
            )

    def categories(self) -> list[Category]:
        rows = self.conn.execute("SELECT slug, name, description FROM categories ORDER BY slug").fetchall()
        return [_category(*row) for row in rows]

    def category_slugs_by_id(self, ids: Iterable[int]) -> list[str]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        rows = self.conn.execute(f"SELECT slug FROM categories WHERE id IN ({marks})", wanted).fetchall()
        return [row[0] for row in rows]

    def visible_category_counts(self, now: datetime) -> list[tuple[Category, int]]:
        """Categories with at least one visible release, and how many: embargoed ones are not counted."""
        rows = self.conn.execute(
            f"""
            SELECT c.slug, c.name, c.description, count(*)
            FROM categories c
            JOIN release_categories rc ON rc.category_id = c.id
            JOIN releases r ON r.id = rc.release_id
            WHERE r.retracted_at IS NULL AND r.uid IS NOT NULL AND r.visible_at <= ? AND {_readable_times()}
            GROUP BY c.id ORDER BY c.name COLLATE NOCASE, c.slug
            """,
            (iso(now),),
        ).fetchall()
        return [(_category(slug, name, description), count) for slug, name, description, count in rows]

    # -- releases: writes ---------------------------------------------------------------------------

    def add_release(
        self, document: ReleaseInput, now: datetime, *, external_key: str | None = None
    ) -> Release:
        """Store a new release, minting its uid, number and slug once."""
        with self.transaction():
            published = document.published_at or now
            cursor = self.conn.execute(
                """
                INSERT INTO releases (title, summary, body_markdown, body_html, language, urgent,
                    contact_name, contact_email, contact_phone, source_url, published_at, embargo_until,
                    created_at, updated_at, external_key)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    *self._content_values(document),
                    iso(published),
                    iso(document.embargo_until) if document.embargo_until else None,
                    iso(now),
                    iso(now),
                    external_key,
                ),
            )
            release_id = int(cursor.lastrowid or 0)
            self._mint_identity(release_id, document.title, published, now)
            self._replace_links(release_id, document)
        return self.get_release(release_id)

    def update_release(self, ref: str | int, changes: dict[str, Any], now: datetime) -> Release:
        """Apply ``changes`` (fields of the release document) to a release; uid, number and slug stay.

        :raises ReleaseNotFound: no such release.
        :raises InputError: the changed document is invalid; nothing is written.
        """
        current = self.get_release(ref)
        base = {key: value for key, value in current.to_document(now).items() if key in _DOCUMENT_FIELDS}
        base.update(changes)
        document = ReleaseInput.parse(base, self.zone)
        content = self._content_values(document)
        with self.transaction():
            self.conn.execute(
                """
                UPDATE releases SET title = ?, summary = ?, body_markdown = ?, body_html = ?, language = ?,
                    urgent = ?, contact_name = ?, contact_email = ?, contact_phone = ?, source_url = ?,
                    published_at = ?, embargo_until = ?, updated_at = ?
                WHERE id = ?
                """,
                (
                    *content,
                    iso(document.published_at or current.published_at),
                    iso(document.embargo_until) if document.embargo_until else None,
                    iso(max(now, current.updated_at)),
                    current.id,
                ),
            )
            self._keep_html(current.id, content[3])
            self._replace_links(current.id, document)
        return self.get_release(current.id)

    def retract_release(self, ref: str | int, now: datetime) -> Release:
        """Take a release out of every output; the row stays, so its uid is never reused."""
        current = self.get_release(ref)
        if current.retracted_at is None:
            with self.transaction():
                self.conn.execute(
                    "UPDATE releases SET retracted_at = ?, updated_at = ? WHERE id = ?",
                    (iso(now), iso(now), current.id),
                )
        return self.get_release(current.id)

    def external_key_exists(self, key: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM releases WHERE external_key = ?", (key,)).fetchone()
        return row is not None

    def complete_pending(self, now: datetime) -> list[int]:
        """Fill in what an outside writer left NULL (uid, number, slug, times, HTML) and rewrite the times
        it wrote in another form than the store's; returns the ids of the rows fixed.

        An outside CMS may insert only a title with plain SQL; the service completes the row the first
        time it sees it, and the uid is still minted exactly once. `visible_at` compares the text of the
        times, so a time such as ``2026-11-26 23:59:00`` (UTC, as every time in the store) must become
        ``2026-11-26T23:59:00Z`` before any build reads the row: ``' '`` sorts before ``'T'``, and the
        release would show 13 hours early. A time that cannot be read at all never publishes anything:
        an unreadable embargo or publication time holds the release back (embargo `HELD_UNTIL`, publication
        time now) until the operator sets a real one (`held_releases` lists them, the build reports them);
        an unreadable retraction time retracts as of now; unreadable creation or update times become now.
        Each problem is logged with the text that was found.

        Texts lose the characters XML cannot hold (one NUL in a title would otherwise stop every feed),
        a missing ``body_html`` is rendered from the Markdown, and ``body_html`` the writer supplied is
        kept but cleaned by the allow-list of `render_markdown`. Categories an outside writer named with
        such characters are cleaned here too.
        """
        self._clean_categories()
        rows = self.conn.execute(
            f"SELECT id, {', '.join(_TEXT_COLUMNS)}, body_html, {', '.join(TIME_COLUMNS)} "
            f"FROM releases WHERE {_INCOMPLETE}"
        ).fetchall()
        done = []
        for release_id, *values in rows:
            texts = {
                column: xml_safe_or_none(value)
                for column, value in zip(_TEXT_COLUMNS, values[: len(_TEXT_COLUMNS)], strict=True)
            }
            html, *time_texts = values[len(_TEXT_COLUMNS) :]
            title = texts["title"] = texts["title"] or ""
            body = texts["body_markdown"] = texts["body_markdown"] or ""
            texts["language"] = texts["language"] or "pl"
            html = render_markdown(body) if html is None else clean_html(html)
            times = dict(zip(TIME_COLUMNS, time_texts, strict=True))
            moments = {column: self._read_outside(release_id, column, text) for column, text in times.items()}
            published = moments["published_at"] or now
            embargo = moments["embargo_until"]
            if moments["published_at"] is _UNREADABLE:
                published, embargo = now, HELD_UNTIL
            elif embargo is _UNREADABLE:
                embargo = HELD_UNTIL
            retracted = now if moments["retracted_at"] is _UNREADABLE else moments["retracted_at"]
            created = moments["created_at"] if moments["created_at"] not in (None, _UNREADABLE) else now
            updated = moments["updated_at"] if moments["updated_at"] not in (None, _UNREADABLE) else now
            with self.transaction():
                self.conn.execute(
                    f"UPDATE releases SET {', '.join(f'{column} = ?' for column in _TEXT_COLUMNS)}, "
                    "body_html = ?, published_at = ?, embargo_until = ?, retracted_at = ?, created_at = ?, "
                    "updated_at = ?, urgent = coalesce(urgent, 0) WHERE id = ?",
                    (
                        *texts.values(),
                        html,
                        iso(published),
                        iso(embargo) if embargo else None,
                        iso(retracted) if retracted else None,
                        iso(created),
                        iso(updated),
                        release_id,
                    ),
                )
                self._keep_html(release_id, html)
                self._mint_identity(release_id, title, published, created)
            done.append(int(release_id))
        return done

    def _clean_categories(self) -> None:
        """Take the characters XML cannot hold out of category names and descriptions: the categories
        are few, so all are read (an outside writer may have inserted or renamed one with plain SQL)."""
        for category_id, name, description in self.conn.execute(
            "SELECT id, name, description FROM categories"
        ).fetchall():
            clean = (xml_safe(name or ""), xml_safe(description or ""))
            if clean != (name, description):
                with self.transaction():
                    self.conn.execute(
                        "UPDATE categories SET name = ?, description = ? WHERE id = ?", (*clean, category_id)
                    )

    def _read_outside(self, release_id: int, column: str, text: str | None) -> datetime | None:
        """A time column of a row `complete_pending` fixes: None for NULL or empty, `_UNREADABLE` (logged)
        for text that is not a time."""
        if text is None or not str(text).strip():
            return None
        try:
            return _outside_moment(str(text))
        except (ValueError, OverflowError):
            effect = _UNREADABLE_EFFECT.get(column, "it is replaced by the time it was found")
            _log.warning("release %s: %s %r is not a time; %s", release_id, column, text, effect)
            return _UNREADABLE

    def held_releases(self) -> list[tuple[int, str | None]]:
        """(id, number) of the releases held back because an outside writer stored an unreadable time.

        Reads the range of `releases_visible` at `HELD_UNTIL`, so a build can ask every time.
        """
        rows = self.conn.execute(
            "SELECT id, number FROM releases WHERE retracted_at IS NULL AND visible_at >= ? "
            "ORDER BY visible_at DESC, id DESC",
            (iso(HELD_UNTIL),),
        ).fetchall()
        return [(int(release_id), number) for release_id, number in rows]

    def mark_announced(self, release_ids: Iterable[int], now: datetime) -> None:
        ids = list(release_ids)
        with self.transaction():
            self.conn.executemany(
                "UPDATE releases SET announced_at = ? WHERE id = ? AND announced_at IS NULL",
                [(iso(now), release_id) for release_id in ids],
            )

    def unannounced_visible(self, now: datetime) -> list[Release]:
        """Visible releases whose alerts have not been planned yet, oldest first."""
        ids = [
            row[0]
            for row in self.conn.execute(
                "SELECT id FROM releases WHERE announced_at IS NULL AND retracted_at IS NULL "
                f"AND uid IS NOT NULL AND visible_at <= ? AND {_readable_times('')} ORDER BY visible_at, id",
                (iso(now),),
            )
        ]
        return self.releases_by_ids(ids)

    # -- releases: reads ----------------------------------------------------------------------------

    def get_release(self, ref: str | int) -> Release:
        """A release by id, slug, number (``12/2026``) or uid.

        :raises ReleaseNotFound: none matches.
        """
        text = str(ref).strip()
        row = None
        # ASCII digits that fit SQLite's INTEGER: "²" is a digit to str.isdigit, 10**30 overflows.
        if text.isascii() and text.isdigit() and len(text) <= 18:
            row = self.conn.execute("SELECT id FROM releases WHERE id = ?", (int(text),)).fetchone()
        if row is None:
            row = self.conn.execute(
                "SELECT id FROM releases WHERE slug = ? OR number = ? OR uid = ?", (text, text, text)
            ).fetchone()
        if row is None:
            raise ReleaseNotFound(text)
        return self.releases_by_ids([int(row[0])])[0]

    def list_releases(
        self,
        *,
        now: datetime,
        status: str | None = None,
        category: str | None = None,
        limit: int | None = None,
    ) -> list[Release]:
        """Every completed release newest first, optionally by status (as `Release.status`) and category."""
        params: list[Any] = []
        sql = _select_releases("r.id", category or None, params)
        sql += " WHERE r.uid IS NOT NULL ORDER BY r.visible_at DESC, r.id DESC"
        releases = self.releases_by_ids([row[0] for row in self.conn.execute(sql, params)])
        if status:
            releases = [release for release in releases if release.status(now) == status]
        return releases[:limit] if limit else releases

    def visible_releases(
        self, now: datetime, *, category: str | None = None, limit: int | None = None
    ) -> list[Release]:
        """What the public may see at ``now``, newest first: never embargoed, scheduled or retracted."""
        return self.releases_by_ids(self.visible_ids(now, category, limit=limit))

    def visible_lines(self, now: datetime, category: str) -> list[ReleaseLine]:
        """Every release of a category the public may see at ``now``, newest first, as list lines."""
        rows = self._visible("r.slug, r.title, r.number, r.visible_at, r.urgent, r.summary", now, category)
        return [
            ReleaseLine(
                slug,
                xml_safe(title),
                number,
                stored_moment(visible) or now,
                bool(urgent),
                xml_safe_or_none(summary),
            )
            for slug, title, number, visible, urgent, summary in rows
        ]

    def visible_ids(
        self, now: datetime, category: str | None = None, *, limit: int | None = None
    ) -> list[int]:
        """Ids of the releases the public may see at ``now`` (in one category), newest first."""
        return [row[0] for row in self._visible("r.id", now, category, limit)]

    def _visible(
        self, columns: str, now: datetime, category: str | None, limit: int | None = None
    ) -> sqlite3.Cursor:
        """``columns`` of the releases ``r`` the public may see at ``now`` (in one category), newest first:
        the one query behind every public list, so they cannot disagree about what is visible."""
        params: list[Any] = []
        sql = _select_releases(columns, category, params)
        sql += (
            " WHERE r.retracted_at IS NULL AND r.uid IS NOT NULL AND r.visible_at <= ?"
            f" AND {_readable_times()} ORDER BY r.visible_at DESC, r.id DESC"
        )
        params.append(iso(now))
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self.conn.execute(sql, params)

    def last_release_id(self) -> int:
        """The highest release id given out so far (0 for an empty store)."""
        row = self.conn.execute("SELECT coalesce(max(id), 0) FROM releases").fetchone()
        return int(row[0])

    def visible_between(self, start: datetime, end: datetime) -> list[Release]:
        """Releases that became visible in (start, end] and are still visible: a digest period."""
        rows = self.conn.execute(
            "SELECT id FROM releases WHERE retracted_at IS NULL AND uid IS NOT NULL "
            f"AND visible_at > ? AND visible_at <= ? AND {_readable_times('')} "
            "ORDER BY visible_at DESC, id DESC",
            (iso(start), iso(end)),
        )
        return self.releases_by_ids([row[0] for row in rows])

    def future_moments(self, now: datetime) -> list[tuple[int, datetime]]:
        """(release id, moment it becomes visible) for every release not yet visible: the embargo clock."""
        rows = self.conn.execute(
            "SELECT id, visible_at FROM releases WHERE retracted_at IS NULL AND uid IS NOT NULL "
            f"AND visible_at > ? AND {_readable_times('')} ORDER BY visible_at",
            (iso(now),),
        ).fetchall()
        return [(int(release_id), stored_moment(text) or now) for release_id, text in rows]

    def releases_by_ids(self, ids: list[int]) -> list[Release]:
        """Releases in the order of ``ids``, with their categories and attachments, in three queries."""
        if not ids:
            return []
        found: dict[int, Release] = {}
        categories: dict[int, list[Category]] = {}
        attachments: dict[int, list[Attachment]] = {}
        for chunk, marks in id_chunks(ids):
            for row in self.conn.execute(
                f"SELECT rc.release_id, c.slug, c.name, c.description FROM release_categories rc "
                f"JOIN categories c ON c.id = rc.category_id WHERE rc.release_id IN ({marks}) "
                f"ORDER BY rc.release_id, rc.position",
                chunk,
            ):
                categories.setdefault(row[0], []).append(_category(row[1], row[2], row[3]))
            for row in self.conn.execute(
                f"SELECT release_id, url, title, mime_type, length FROM attachments "
                f"WHERE release_id IN ({marks}) ORDER BY release_id, position",
                chunk,
            ):
                attachments.setdefault(row[0], []).append(Attachment(row[1], row[2], row[3], row[4]))
            sql = f"SELECT {_RELEASE_COLUMNS} FROM releases WHERE id IN ({marks})"
            for row in self.conn.execute(sql, chunk):
                release = _release(row, categories, attachments)
                found[release.id] = release
        return [found[release_id] for release_id in ids if release_id in found]

    # -- changes and build state --------------------------------------------------------------------

    def changes_after(self, cursor: int, limit: int = 10_000) -> list[Change]:
        rows = self.conn.execute(
            "SELECT id, tbl, op, release_id, category_id FROM changes WHERE id > ? ORDER BY id LIMIT ?",
            (cursor, limit),
        ).fetchall()
        return [Change(*row) for row in rows]

    def last_change_id(self) -> int:
        row = self.conn.execute("SELECT coalesce(max(id), 0) FROM changes").fetchone()
        return int(row[0])

    def build_state(self) -> BuildState:
        row = self.conn.execute(
            "SELECT change_cursor, built_at, fingerprint FROM build_state WHERE id = 1"
        ).fetchone()
        return BuildState(int(row[0]), stored_moment(row[1]), row[2])

    def save_build_state(
        self, cursor: int, built_at: datetime, error: str | None = None, *, fingerprint: str | None = None
    ) -> None:
        """Record a build: its change cursor, time, problem (None: all well) and, when given, the
        fingerprint of the settings and templates it was made with (otherwise the last one is kept)."""
        with self.transaction():
            self.conn.execute(
                "UPDATE build_state SET change_cursor = ?, built_at = ?, last_error = ?, "
                "fingerprint = coalesce(?, fingerprint) WHERE id = 1",
                (cursor, iso(built_at), error, fingerprint),
            )

    def release_category_ids(self, release_ids: Iterable[int]) -> set[int]:
        wanted = sorted(set(release_ids))
        found: set[int] = set()
        for chunk, marks in id_chunks(wanted):
            found.update(
                row[0]
                for row in self.conn.execute(
                    f"SELECT category_id FROM release_categories WHERE release_id IN ({marks})", chunk
                )
            )
        return found

    # -- helpers ------------------------------------------------------------------------------------

    def _content_values(self, document: ReleaseInput) -> tuple[Any, ...]:
        contact = document.contact
        return (
            document.title,
            document.summary,
            document.body,
            render_markdown(document.body),
            document.language,
            int(document.urgent),
            contact.name if contact else None,
            contact.email if contact else None,
            contact.phone if contact else None,
            document.source_url,
        )

    def _keep_html(self, release_id: int, html: str) -> None:
        """Write ``html`` again if the `releases_markdown_edited` trigger (migration 4) just emptied it:
        it does so when the Markdown changed and the HTML did not, which is also what the service itself
        does when a new text renders to the same HTML (or when cleaning changed only the Markdown)."""
        self.conn.execute(
            "UPDATE releases SET body_html = ? WHERE id = ? AND body_html IS NULL", (html, release_id)
        )

    def _replace_links(self, release_id: int, document: ReleaseInput) -> None:
        wanted = self.ensure_categories(document.categories)
        current = [
            row[0]
            for row in self.conn.execute(
                "SELECT category_id FROM release_categories WHERE release_id = ? ORDER BY position",
                (release_id,),
            )
        ]
        if current != wanted:
            self.conn.execute("DELETE FROM release_categories WHERE release_id = ?", (release_id,))
            self.conn.executemany(
                "INSERT INTO release_categories (release_id, category_id, position) VALUES (?, ?, ?)",
                [(release_id, category_id, position) for position, category_id in enumerate(wanted)],
            )
        stored = self.conn.execute(
            "SELECT url, title, mime_type, length FROM attachments WHERE release_id = ? ORDER BY position",
            (release_id,),
        ).fetchall()
        given = [(a.url, a.title, a.mime_type, a.length) for a in document.attachments]
        if [tuple(row) for row in stored] != given:
            self.conn.execute("DELETE FROM attachments WHERE release_id = ?", (release_id,))
            self.conn.executemany(
                "INSERT INTO attachments (release_id, position, url, title, mime_type, length) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(release_id, position, *values) for position, values in enumerate(given)],
            )

    def _mint_identity(self, release_id: int, title: str, published: datetime, created: datetime) -> None:
        """uid, yearly number and slug, each only where still missing: minted once, kept forever."""
        uid, number, slug = self.conn.execute(
            "SELECT uid, number, slug FROM releases WHERE id = ?", (release_id,)
        ).fetchone()
        if uid is None:
            uid = f"tag:{self.authority},{created.astimezone(self.zone).year}:release/{release_id}"
        if number is None:
            year = published.astimezone(self.zone).year
            taken = self.conn.execute(
                "SELECT count(*) FROM releases WHERE number LIKE ?", (f"%/{year}",)
            ).fetchone()[0]
            sequence = int(taken) + 1
            while self.conn.execute(
                "SELECT 1 FROM releases WHERE number = ?", (f"{sequence}/{year}",)
            ).fetchone():
                sequence += 1
            number = f"{sequence}/{year}"
        if slug is None:
            slug = self._unique_slug(title, release_id)
        self.conn.execute(
            "UPDATE releases SET uid = ?, number = ?, slug = ? WHERE id = ?", (uid, number, slug, release_id)
        )

    def _unique_slug(self, title: str, release_id: int) -> str:
        base = slugify(title, max_length=80, word_boundary=True) or f"komunikat-{release_id}"
        candidate, suffix = base, 2
        while self.conn.execute(
            "SELECT 1 FROM releases WHERE slug = ? AND id != ?", (candidate, release_id)
        ).fetchone():
            candidate = f"{base}-{suffix}"
            suffix += 1
        return candidate


def id_chunks(ids: list[int]) -> Iterator[tuple[list[int], str]]:
    """``ids`` in runs that fit one ``IN (...)``, each with its ``?,?,...`` marks.

    Older SQLite builds allow 999 parameters in a statement; 900 leaves room for a few more.
    """
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        yield chunk, ",".join("?" * len(chunk))


def _select_releases(columns: str, category: str | None, params: list[Any]) -> str:
    """``SELECT columns FROM releases r``, joined to one category (its slug appended to ``params``)."""
    if category is None:
        return f"SELECT {columns} FROM releases r"
    params.append(category)
    return (
        f"SELECT {columns} FROM releases r JOIN release_categories rc ON rc.release_id = r.id"
        " JOIN categories c ON c.id = rc.category_id AND c.slug = ?"
    )


_DOCUMENT_FIELDS = {
    "title", "summary", "body", "categories", "urgent", "language", "attachments",
    "published_at", "embargo_until", "contact", "source_url",
}  # fmt: skip

#: The text columns of a release an outside writer may fill (`complete_pending` cleans them).
_TEXT_COLUMNS = (
    "title", "summary", "body_markdown", "language", "contact_name", "contact_email", "contact_phone",
    "source_url",
)  # fmt: skip

_RELEASE_COLUMNS = (
    "id, uid, number, slug, title, summary, body_markdown, body_html, language, urgent, contact_name, "
    "contact_email, contact_phone, source_url, published_at, embargo_until, created_at, updated_at, "
    "retracted_at"
)


def _release(
    row: tuple[Any, ...], categories: dict[int, list[Category]], attachments: dict[int, list[Attachment]]
) -> Release:
    (release_id, uid, number, slug, title, summary, body_markdown, body_html, language, urgent,
     contact_name, contact_email, contact_phone, source_url, published_at, embargo_until, created_at,
     updated_at, retracted_at) = row  # fmt: skip
    published = stored_moment(published_at) or datetime.fromtimestamp(0, UTC)
    return Release(
        id=release_id,
        uid=uid,
        number=number,
        slug=slug,
        title=xml_safe(title),
        summary=xml_safe_or_none(summary),
        body_markdown=body_markdown or "",
        body_html=clean_html(body_html) if body_html else "",
        language=xml_safe(language or "pl"),
        urgent=bool(urgent),
        contact=Contact(
            xml_safe_or_none(contact_name), xml_safe_or_none(contact_email), xml_safe_or_none(contact_phone)
        ),
        source_url=xml_safe_or_none(source_url),
        published_at=published,
        embargo_until=stored_moment(embargo_until),
        created_at=stored_moment(created_at) or published,
        updated_at=stored_moment(updated_at) or published,
        retracted_at=stored_moment(retracted_at),
        categories=tuple(categories.get(release_id, ())),
        attachments=tuple(attachments.get(release_id, ())),
    )


def _category(slug: str, name: str, description: str) -> Category:
    """A category as read, without characters XML cannot hold (an outside writer may have put some in
    after `Store.complete_pending` cleaned the table)."""
    return Category(slug, xml_safe(name), xml_safe(description))


def _statements(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements, buffer = [], []
    for line in script.splitlines():
        buffer.append(line)
        joined = "\n".join(buffer).strip()
        if joined and sqlite3.complete_statement(joined):
            statements.append(joined)
            buffer = []
    rest = "\n".join(buffer).strip()
    if rest:
        statements.append(rest)
    return statements


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
