"""The SQLite store: the connection, the migrations runner, typed reads and writes of releases and categories.

The other table groups have their named queries beside this module (`outbox.py`, `subscribers.py`,
`digests.py`, `build.py`, `upkeep.py`); they run on `Store.conn` and join the caller's
`Store.transaction()`, so every write of one operation commits together or not at all. No module outside
this package spells SQL.

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

The same reads hold every row to the rules of release input (`flaws.py`, made of the checks in
`models.py`): a link that is not http(s), a contact address that is not one and a bad attachment are left
out; a release or category beyond a bound, with a slug that cannot be a path or with text that is not
UTF-8 is held back from every public list (`_publishable`). `flaws` finds them, incrementally, and the
build reports them; no such row stops a build.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

import sqlite_utils
from slugify import slugify

from newsroom_feed.errors import InputError, ReleaseNotFound, StoreError
from newsroom_feed.markup import clean_html, render_markdown, xml_safe, xml_safe_or_none
from newsroom_feed.models import (
    ALT_MAX,
    CAPTION_MAX,
    CREDIT_MAX,
    DEFAULT_ZONE,
    EVENT_LOCATION_MAX,
    Attachment,
    Category,
    Contact,
    Correction,
    Event,
    Release,
    ReleaseInput,
    correction_note,
    iso,
    slug_problem,
)
from newsroom_feed.private_files import create_private_file, make_private_dirs
from newsroom_feed.settings import Settings
from newsroom_feed.store import flaws as rules
from newsroom_feed.store.flaws import Flaw
from newsroom_feed.store.schema import INCOMPLETE as _INCOMPLETE
from newsroom_feed.store.schema import MIGRATIONS as MIGRATIONS  # re-exported: tests and tools read it here
from newsroom_feed.store.schema import TIME_COLUMNS
from newsroom_feed.store.schema import readable_times as _readable_times

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
    #: Why the last build or lift failed, or what it held back; None when all is well (`/healthz`).
    last_error: str | None = None


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
        try:
            if str(path) != ":memory:":
                # Subscribers' addresses live here: 0600 (and so its -wal and -shm), whatever the umask.
                make_private_dirs(self.path.parent)
                create_private_file(self.path)
            conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        except (sqlite3.DatabaseError, OSError) as error:
            raise StoreError(f"cannot open the store {path}: {error}") from None
        conn.execute("PRAGMA foreign_keys=ON")
        # What a command or an HTTP answer acknowledged must survive a power cut: in WAL, NORMAL syncs
        # only at checkpoints and can lose the last commits (a release the CLI confirmed, a one-click
        # unsubscribe answered 200, a row marked sent, so mailed again). FULL syncs the WAL at every
        # commit; `python -m bench build delivery` prints what that costs.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self._flaws = _Flaws()
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
        """Every category but those `flaws` holds back (a slug that cannot be a path, a name too long)."""
        rows = self.conn.execute(
            f"SELECT slug, name, description FROM categories c WHERE 1{self._publishable(None, 'c.')} "
            "ORDER BY slug"
        ).fetchall()
        return [_category(*row) for row in rows]

    def category_slugs_by_id(self, ids: Iterable[int]) -> list[str]:
        """Slugs of these categories, leaving out those held back: no output path is made of theirs."""
        wanted = sorted(set(ids))
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        rows = self.conn.execute(
            f"SELECT slug FROM categories c WHERE id IN ({marks}){self._publishable(None, 'c.')}", wanted
        ).fetchall()
        return [row[0] for row in rows]

    def page_slugs(self, release_ids: Iterable[int]) -> list[str]:
        """Slugs of these releases that can be a path: where their pages would be, to remove the pages
        of releases that are held back now (an over-long or undecodable slug never had one)."""
        slugs = []
        for chunk, marks in id_chunks(sorted(set(release_ids))):
            rows = self.conn.execute(f"SELECT CAST(slug AS BLOB) FROM releases WHERE id IN ({marks})", chunk)
            for (raw,) in rows:
                slug = _strict(raw)
                if isinstance(slug, str) and slug_problem(slug) is None:
                    slugs.append(slug)
        return slugs

    def visible_category_counts(self, now: datetime) -> list[tuple[Category, int]]:
        """Categories with at least one visible release, and how many: embargoed ones are not counted.
        Counts every release; the build reads the counts it keeps instead (`kept_category_counts`)."""
        return self.listed_categories(self.count_visible(now))

    def count_visible(self, now: datetime, category_ids: Iterable[int] | None = None) -> dict[int, int]:
        """How many releases the public may see at ``now`` in each of these categories (0 for one with
        none), or in every category that has any when None: what `category_counts` keeps."""
        wanted = None if category_ids is None else sorted(set(category_ids))
        counts = dict.fromkeys(wanted or (), 0)
        sql = f"SELECT rc.category_id, count(*) {self._visible_links()}"
        if wanted is None:
            counts.update(self.conn.execute(f"{sql} GROUP BY rc.category_id", (iso(now),)).fetchall())
            return counts
        for chunk, marks in id_chunks(wanted):
            rows = self.conn.execute(
                f"{sql} AND rc.category_id IN ({marks}) GROUP BY rc.category_id", [iso(now), *chunk]
            )
            counts.update(rows.fetchall())
        return counts

    def _visible_links(self) -> str:
        """FROM and WHERE of the release-category links the public may see at a moment (the parameter)."""
        visible = (
            f"r.retracted_at IS NULL AND r.uid IS NOT NULL AND r.visible_at <= ? AND {_readable_times()}"
            f"{self._publishable('r.')}"
        )
        return (
            "FROM release_categories rc JOIN releases r ON r.id = rc.release_id "
            # Joined so that a link an outside writer left to no category (foreign keys off) is not kept.
            f"JOIN categories c ON c.id = rc.category_id WHERE {visible}"
        )

    def visible_pairs(self, now: datetime, release_ids: Iterable[int] | None = None) -> list[tuple[int, int]]:
        """The (release, category) links the public may see at ``now``, of these releases (None: of
        all): what the counts are made of, read once so that the counts and the pairs kept agree."""
        sql = f"SELECT rc.release_id, rc.category_id {self._visible_links()}"
        if release_ids is None:
            return self.conn.execute(sql, (iso(now),)).fetchall()
        pairs: list[tuple[int, int]] = []
        for chunk, marks in id_chunks(sorted(set(release_ids))):
            pairs += self.conn.execute(f"{sql} AND rc.release_id IN ({marks})", [iso(now), *chunk])
        return pairs

    def counted_pairs(self, release_ids: Iterable[int]) -> list[tuple[int, int]]:
        """The (release, category) links of these releases the last build counted (`save_build_state`)."""
        pairs: list[tuple[int, int]] = []
        for chunk, marks in id_chunks(sorted(set(release_ids))):
            sql = f"SELECT release_id, category_id FROM counted_pairs WHERE release_id IN ({marks})"
            pairs += self.conn.execute(sql, chunk)
        return pairs

    def kept_category_counts(self) -> dict[int, int]:
        """The visible releases of each category as the last build counted them (`save_build_state`)."""
        return dict(self.conn.execute("SELECT category_id, visible FROM category_counts").fetchall())

    def listed_categories(self, counts: dict[int, int]) -> list[tuple[Category, int]]:
        """The categories of ``counts`` (by id) with a visible release, as the index lists them (by name,
        then slug), leaving out those `flaws` holds back."""
        rows = self.conn.execute(
            f"SELECT id, slug, name, description FROM categories c WHERE 1{self._publishable(None, 'c.')} "
            "ORDER BY name COLLATE NOCASE, slug"
        ).fetchall()
        return [
            (_category(slug, name, description), counts[category_id])
            for category_id, slug, name, description in rows
            if counts.get(category_id, 0) > 0
        ]

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
                    contact_name, contact_email, contact_phone, source_url, early_access, event_start,
                    event_end, event_all_day, event_location, event_online_url, published_at,
                    embargo_until, created_at, updated_at, external_key)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
                    early_access = ?, event_start = ?, event_end = ?, event_all_day = ?, event_location = ?,
                    event_online_url = ?, published_at = ?, embargo_until = ?, updated_at = ?
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

    def correct_release(self, ref: str | int, note: str, changes: dict[str, Any], now: datetime) -> Release:
        """A correction ("korekta"): ``changes`` as `update_release` applies them and the ``note`` kept
        with its time, in one transaction; uid, number and slug stay, and ``updated_at`` moves even
        when only the note is new, so every feed shows the entry again.

        :raises ReleaseNotFound: no such release.
        :raises InputError: the note is empty, too long or holds control characters (``note``), the
            release is retracted, or the changed document is invalid; nothing is written.
        """
        text = correction_note(note)
        current = self.get_release(ref)
        if current.retracted_at is not None:
            raise InputError(
                "release", f"{current.number} is retracted; a retracted release is not corrected"
            )
        with self.transaction():
            self.update_release(current.id, changes, now)
            self.conn.execute(
                "INSERT INTO corrections (release_id, at, note) VALUES (?, ?, ?)",
                (current.id, iso(now), text),
            )
            self.conn.execute(
                "UPDATE releases SET updated_at = ? WHERE id = ? AND updated_at < ?",
                (iso(now), current.id, iso(now)),
            )
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
        bytes that are not UTF-8 become U+FFFD (sqlite3 refuses to read such a row at all), a missing
        ``body_html`` is rendered from the Markdown, and ``body_html`` the writer supplied is kept but
        cleaned by the allow-list of `render_markdown`. Categories an outside writer named with such
        characters are cleaned here too. What completing cannot repair (a BLOB for a title, a title of a
        thousand characters) is left for `flaws` to hold back; a row that cannot be completed at all (its
        minted uid taken by another row) stays incomplete, so unpublished, and is reported by `flaws`:
        no row stops the others.
        """
        self._clean_categories()
        columns = [*_TEXT_COLUMNS, "body_html", *TIME_COLUMNS]
        rows, unreadable = _tolerant(self.conn, ", ".join(columns), "releases", _INCOMPLETE, "id")
        for release_id, _ in unreadable:
            raw = self.conn.execute(
                f"SELECT id, {', '.join(f'CAST({column} AS BLOB)' for column in columns)} FROM releases "
                "WHERE id = ?",
                (release_id,),
            ).fetchone()
            rows.append(tuple(_decoded(value) for value in raw))
        done = []
        self._flaws.incomplete = {}
        for release_id, *values in sorted(rows, key=lambda row: int(row[0])):
            try:
                self._complete(release_id, values, now)
            except sqlite3.IntegrityError as error:
                _log.warning("release id %s cannot be completed: %s; it stays unpublished", release_id, error)
                taken = re.search(r"releases\.(\w+)", str(error))
                self._flaws.incomplete[int(release_id)] = (
                    taken.group(1) if taken else "row",
                    f"cannot be completed: {error}",
                )
                continue
            done.append(int(release_id))
        return done

    def _complete(self, release_id: int, values: list[Any], now: datetime) -> None:
        """Complete one row `complete_pending` read (its columns after the id, in its order).

        :raises sqlite3.IntegrityError: the uid or number it mints is already another row's.
        """
        texts = {
            column: xml_safe(value) if isinstance(value, str) else value
            for column, value in zip(_TEXT_COLUMNS, values[: len(_TEXT_COLUMNS)], strict=True)
        }
        html, *time_texts = values[len(_TEXT_COLUMNS) :]
        # A BLOB where text belongs stays as it was, for `flaws` to hold the release back; the slug and
        # the HTML are then made as for an empty text.
        title = texts["title"] = texts["title"] if texts["title"] is not None else ""
        title = title if isinstance(title, str) else ""
        body = texts["body_markdown"] = texts["body_markdown"] if texts["body_markdown"] is not None else ""
        body = body if isinstance(body, str) else ""
        texts["language"] = texts["language"] or "pl"
        html = clean_html(html) if isinstance(html, str) else render_markdown(body)
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

    def _clean_categories(self) -> None:
        """Take the characters XML cannot hold out of category names and descriptions: the categories
        are few, so all are read (an outside writer may have inserted or renamed one with plain SQL).
        They are read as bytes, so that text that is not UTF-8 (or a BLOB) is repaired too, not fatal."""
        for category_id, name, description, types in self.conn.execute(
            "SELECT id, CAST(name AS BLOB), CAST(description AS BLOB), typeof(name) || typeof(description) "
            "FROM categories"
        ).fetchall():
            clean = (xml_safe(_decoded(name) or ""), xml_safe(_decoded(description) or ""))
            if types != "texttext" or clean != (_strict(name), _strict(description)):
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
            "SELECT id, CAST(number AS BLOB) FROM releases WHERE retracted_at IS NULL AND visible_at >= ? "
            "ORDER BY visible_at DESC, id DESC",
            (iso(HELD_UNTIL),),
        ).fetchall()
        return [(int(release_id), _decoded(number)) for release_id, number in rows]

    # -- what outside writers stored ----------------------------------------------------------------

    def flaws(self) -> list[Flaw]:
        """Every value in the store that no writer may store (see `flaws.py`): what the outputs leave
        out or hold back, for the build's report and `newsroom-feed check`; rows first completed with
        an error (`complete_pending`) too.

        Rescans only when the database changed since the last call (``PRAGMA data_version`` for other
        connections' commits, ``total_changes`` for this one's), and then only the releases the
        `changes` log names since the last scan (the categories, which are few and have no insert
        trigger, whole): a build with nothing new costs a pragma, one new release a few reads, and only
        the first call of a `Store` scans every release (about 60 ms for 10,000).
        """
        state = self._flaws_now()
        found = [flaw for release_id in sorted(state.releases) for flaw in state.releases[release_id]]
        found += [flaw for category_id in sorted(state.categories) for flaw in state.categories[category_id]]
        found += [
            Flaw(rules.release_row(release_id, None), field, problem, True)
            for release_id, (field, problem) in sorted(state.incomplete.items())
        ]
        return found

    def _flaws_now(self, *, releases: bool = True) -> _Flaws:
        """`flaws` as of now: the categories' always, the releases' with ``releases`` (the operator's own
        views of releases need only the categories', and so never pay for the first scan)."""
        state = self._flaws
        key = (int(self.conn.execute("PRAGMA data_version").fetchone()[0]), self.conn.total_changes)
        if key != state.key:
            state.categories = _scan_categories(self.conn)
            state.held_categories = frozenset(state.categories)
            state.key = key
        if releases and key != state.releases_key:
            self._rescan_releases(state)
            state.releases_key = key
        return state

    def _rescan_releases(self, state: _Flaws) -> None:
        # Two queries: one holding both max() and min() would read the whole log.
        head = int(self.conn.execute("SELECT coalesce(max(id), 0) FROM changes").fetchone()[0])
        oldest = int(self.conn.execute("SELECT coalesce(min(id), 0) FROM changes").fetchone()[0])
        if state.scanned_to is None or oldest > state.scanned_to + 1:
            # The first scan, or `prune_changes` took rows this one has not read: read everything.
            state.releases = _scan_releases(self.conn)
        elif head > state.scanned_to:
            changed = sorted(
                int(row[0])
                for row in self.conn.execute(
                    "SELECT DISTINCT release_id FROM changes WHERE id > ? AND id <= ? "
                    "AND release_id IS NOT NULL",
                    (state.scanned_to, head),
                )
            )
            for release_id in changed:
                state.releases.pop(release_id, None)
            state.releases.update(_scan_releases(self.conn, changed))
        state.scanned_to = head
        state.held_releases = frozenset(
            release_id for release_id, found in state.releases.items() if any(flaw.held for flaw in found)
        )

    def _publishable(self, releases: str | None = "r.", categories: str | None = None) -> str:
        """SQL that leaves out the releases (of the table ``releases`` names, as ``r.``) and categories
        `flaws` holds back: empty while there are none, so every build's queries stay as they were."""
        state = self._flaws_now(releases=releases is not None)
        sql = ""
        if releases is not None and state.held_releases:
            sql += f" AND {releases}id NOT IN ({','.join(map(str, sorted(state.held_releases)))})"
        if categories is not None and state.held_categories:
            sql += f" AND {categories}id NOT IN ({','.join(map(str, sorted(state.held_categories)))})"
        return sql

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
                f"AND uid IS NOT NULL AND visible_at <= ? AND {_readable_times('')}{self._publishable('')} "
                "ORDER BY visible_at, id",
                (iso(now),),
            )
        ]
        return self.releases_by_ids(ids)

    def notice_visible(self, now: datetime) -> int:
        """Stamp ``noticed_at = now`` on the visible, complete releases not seen before; returns how many.

        A digest covers the releases noticed in its period, so whoever looks first (a build, a digest
        run) stamps them, whether or not their alerts are planned yet. Reads `releases_unnoticed`.

        Times are kept to the second and a period is (start, end]: a release first seen in the very second
        a digest run ended, after that run, is stamped one second past its end, or it would fall between
        that period and the next. Releases `flaws` holds back are not noticed until they are fixed.
        """
        with self.transaction() as conn:
            last_end = conn.execute("SELECT max(period_end) FROM digest_runs").fetchone()[0]
            stamp = iso(now)
            if last_end is not None and stamp <= last_end:
                stamp = iso(datetime.fromisoformat(last_end) + timedelta(seconds=1))
            return conn.execute(
                "UPDATE releases SET noticed_at = ? WHERE noticed_at IS NULL AND retracted_at IS NULL "
                f"AND uid IS NOT NULL AND visible_at <= ? AND {_readable_times('')}{self._publishable('')}",
                (stamp, iso(now)),
            ).rowcount

    def noticed_between(
        self, start: datetime, end: datetime, *, unnoticed_at_end: bool = False
    ) -> list[tuple[int, datetime, datetime]]:
        """(id, visible_at, noticed_at) of the releases noticed in (start, end] and visible by ``end``,
        newest first; with ``unnoticed_at_end`` (a preview, which stamps nothing) a visible release not
        noticed yet counts as noticed at ``end``, as the run it previews would stamp it."""
        sql = (
            "SELECT id, visible_at, noticed_at FROM releases WHERE retracted_at IS NULL AND uid IS NOT NULL "
            "AND noticed_at > ? AND noticed_at <= ? AND visible_at <= ?"
        )
        params: list[Any] = [iso(start), iso(end), iso(end)]
        if unnoticed_at_end:
            sql += (
                " UNION ALL SELECT id, visible_at, ? FROM releases WHERE noticed_at IS NULL "
                f"AND retracted_at IS NULL AND uid IS NOT NULL AND visible_at <= ? AND {_readable_times('')}"
            )
            params += [iso(end), iso(end)]
        rows = self.conn.execute(sql + " ORDER BY visible_at DESC, id DESC", params).fetchall()
        return [
            (int(release_id), datetime.fromisoformat(visible), datetime.fromisoformat(noticed))
            for release_id, visible, noticed in rows
        ]

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
        found = self.releases_by_ids([int(row[0])], held=True)
        if not found:
            raise StoreError(f"release id {row[0]} cannot be read: {self._unreadable(int(row[0]))}")
        return found[0]

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
        releases = self.releases_by_ids([row[0] for row in self.conn.execute(sql, params)], held=True)
        if status:
            releases = [release for release in releases if release.status(now) == status]
        return releases[:limit] if limit else releases

    def visible_releases(
        self, now: datetime, *, category: str | None = None, limit: int | None = None
    ) -> list[Release]:
        """What the public may see at ``now``, newest first: never embargoed, scheduled or retracted."""
        return self.releases_by_ids(self.visible_ids(now, category, limit=limit))

    def event_releases(self, now: datetime) -> list[Release]:
        """Releases announcing an event that the public has seen, by the event's start: every visible
        one, and those retracted after they became visible (a calendar shows them cancelled). One
        retracted before it became visible was never public and is not here."""
        rows = self.conn.execute(
            "SELECT r.id FROM releases r WHERE r.event_start IS NOT NULL AND r.uid IS NOT NULL"
            " AND r.visible_at <= ? AND (r.retracted_at IS NULL OR r.retracted_at >= r.visible_at)"
            f" AND {_readable_times()}{self._publishable('r.')} ORDER BY r.event_start, r.id",
            (iso(now),),
        )
        return self.releases_by_ids([row[0] for row in rows])

    def upcoming_event_releases(self, now: datetime) -> list[Release]:
        """Visible releases whose event may not be over at ``now``, by the event's start: the events
        page's, read on every build. The bound is a day early, as text (a day ``YYYY-MM-DD`` sorts
        before the moments of that day), so only the few events near it need the exact test by the
        caller (`site.calendar.upcoming_events`), not every past event of the newsroom."""
        since = (now.astimezone(UTC) - timedelta(days=2)).date().isoformat()
        rows = self.conn.execute(
            "SELECT r.id FROM releases r WHERE r.event_start IS NOT NULL AND r.retracted_at IS NULL"
            " AND r.uid IS NOT NULL AND r.visible_at <= ? AND max(r.event_start, coalesce(r.event_end, ''))"
            f" >= ? AND {_readable_times()}{self._publishable('r.')} ORDER BY r.event_start, r.id",
            (iso(now), since),
        )
        return self.releases_by_ids([row[0] for row in rows])

    def withdrawn_releases(self, release_ids: Iterable[int] | None = None) -> list[Release]:
        """Releases retracted after the public saw them (of ``release_ids``, or all): each keeps a
        "withdrawn" notice where its page was, answered with 410. One retracted before it became
        visible was never public, and has none."""
        sql = (
            "SELECT r.id FROM releases r WHERE r.retracted_at IS NOT NULL AND r.uid IS NOT NULL"
            f" AND r.retracted_at >= r.visible_at AND {_readable_times()}{self._publishable('r.')}"
        )
        if release_ids is None:
            rows = self.conn.execute(sql + " ORDER BY r.id")
            return self.releases_by_ids([row[0] for row in rows])
        found: list[int] = []
        for chunk, marks in id_chunks(sorted(set(release_ids))):
            found += [row[0] for row in self.conn.execute(f"{sql} AND r.id IN ({marks})", chunk)]
        return self.releases_by_ids(found)

    def visible_lines(
        self, now: datetime, category: str, *, limit: int | None = None, offset: int = 0
    ) -> list[ReleaseLine]:
        """Releases of a category the public may see at ``now``, newest first, as list lines: all, or
        ``limit`` of them after skipping the newest ``offset`` (one page of the category's list)."""
        columns = "r.slug, r.title, r.number, r.visible_at, r.urgent, r.summary"
        rows = self._visible(columns, now, category, limit, offset, window=limit is not None).fetchall()
        if limit is None or len(rows) < limit:
            rows = self._visible(columns, now, category, limit, offset).fetchall()
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
        if category is not None and limit is not None:
            ids = self._newest_in(now, [category], limit)
            if len(ids) == limit:
                return ids
        return [row[0] for row in self._visible("r.id", now, category, limit)]

    def visible_ids_in(
        self, now: datetime, categories: Sequence[str], *, limit: int | None = None
    ) -> list[int]:
        """Ids of the releases the public may see at ``now`` in any of these categories, newest first
        (a subscriber's personal feed): the same `_visible` read as every public list, narrowed to them
        (a short list by `_newest_in`, which is narrowed differently)."""
        if not categories:
            return self.visible_ids(now, limit=limit)
        if limit is not None:
            ids = self._newest_in(now, categories, limit)
            if len(ids) == limit:
                return ids
        marks = ",".join("?" * len(categories))
        held = self._publishable(None, "c.")
        listed = (
            "r.id IN (SELECT rc.release_id FROM release_categories rc JOIN categories c"
            f" ON c.id = rc.category_id WHERE c.slug IN ({marks}){held})"
        )
        return [row[0] for row in self._visible("r.id", now, None, limit, extra=(listed, list(categories)))]

    def _newest_in(self, now: datetime, categories: Sequence[str], limit: int) -> list[int]:
        """The first ``limit`` ids of `visible_ids_in`, looked for only among the `_WINDOW` newest
        releases: fewer means the caller must ask the whole store.

        The walk goes down the visible index newest first and stops at ``limit``, testing each release's
        categories as it goes (EXISTS keeps SQLite from starting at the categories' side and sorting all
        their releases): 0.5-0.7 ms for a personal feed at 10,000 releases, where a join with the window
        sorted the whole window (7-9 ms). The window's bottom is read from the index alone.
        """
        marks = ",".join("?" * len(categories))
        walk = (
            "r.visible_at >= coalesce((SELECT w.visible_at FROM releases w"
            " WHERE w.retracted_at IS NULL AND w.visible_at <= ?"
            f" ORDER BY w.visible_at DESC, w.id DESC LIMIT 1 OFFSET {_WINDOW - 1}), '')"
            " AND EXISTS (SELECT 1 FROM release_categories rc JOIN categories c ON c.id = rc.category_id"
            f" WHERE rc.release_id = r.id AND c.slug IN ({marks}){self._publishable(None, 'c.')})"
        )
        return [
            row[0] for row in self._visible("r.id", now, None, limit, extra=(walk, [iso(now), *categories]))
        ]

    def visible_newer(self, now: datetime, category: str, release_id: int) -> int | None:
        """How many visible releases of a category come after this one in its list (its place counted
        from the newest); None when it is not visible in the category. Cheap for a new release, whose
        place is near the top, and what tells which of the category's pages a change moves."""
        row = self.conn.execute("SELECT visible_at FROM releases WHERE id = ?", (release_id,)).fetchone()
        if row is None or row[0] is None or release_id not in self.visible_among(now, category, [release_id]):
            return None
        # The release itself is counted too: found in the window, every newer one is in it as well.
        from_it = ("r.visible_at >= ? AND (r.visible_at > ? OR r.id >= ?)", [row[0], row[0], release_id])
        counted, seen = self._visible(
            "count(*), coalesce(max(r.id = ?), 0)",
            now,
            category,
            order=None,
            extra=from_it,
            window=True,
            lead=[release_id],
        ).fetchone()
        if seen:
            return int(counted) - 1
        cursor = self._visible("count(*)", now, category, order=None, extra=from_it)
        return int(cursor.fetchone()[0]) - 1

    def last_visible_id(self, now: datetime, category: str | None, at_most: int) -> int | None:
        """The highest id at most ``at_most`` of a release the public may see at ``now`` (in one category):
        where the newest archive of a scope is, found from the top of the id index rather than by
        reading every visible id."""
        extra = ("r.id <= ?", [at_most])
        row = None
        if category is not None:
            row = self._visible(
                "r.id", now, category, 1, order="r.id DESC", extra=extra, window=True
            ).fetchone()
        if row is None:
            row = self._visible("r.id", now, category, 1, order="r.id DESC", extra=extra).fetchone()
        return None if row is None else int(row[0])

    def visible_among(self, now: datetime, category: str, release_ids: list[int]) -> set[int]:
        """Which of these releases the public may see at ``now`` in the category."""
        found: set[int] = set()
        for chunk, marks in id_chunks(sorted(set(release_ids))):
            cursor = self._visible("r.id", now, category, order=None, extra=(f"r.id IN ({marks})", chunk))
            found.update(row[0] for row in cursor)
        return found

    def _visible(
        self,
        columns: str,
        now: datetime,
        category: str | None,
        limit: int | None = None,
        offset: int = 0,
        *,
        order: str | None = "r.visible_at DESC, r.id DESC",
        extra: tuple[str, list[Any]] | None = None,
        window: bool = False,
        lead: list[Any] | None = None,
    ) -> sqlite3.Cursor:
        """``columns`` of the releases ``r`` the public may see at ``now`` (in one category), newest first:
        the one query behind every public list, so they cannot disagree about what is visible. ``extra``
        narrows it further (SQL and its parameters); ``lead``: parameters of ``columns``.

        With ``window`` (and a category), only the `_WINDOW` releases that come first in ``order`` among
        all of ``extra`` are looked at: what the caller must check is complete (else it asks again
        without), as SQLite would otherwise read every release of the category and sort them, which
        grows with the store (12 ms for a category of 6,700 at 100,000 releases), where a short walk
        down the newest releases does not.
        """
        params: list[Any] = list(lead or [])
        times = f"r.retracted_at IS NULL AND r.uid IS NOT NULL AND r.visible_at <= ? AND {_readable_times()}"
        visible = times + self._publishable("r.", None if category is None else "c.")
        if window and category is not None:
            newest = times + self._publishable("r.")
            where = f"{newest} AND {extra[0]}" if extra is not None else newest
            # CROSS JOIN keeps SQLite from turning the join round: the window is read first, in order.
            sql = (
                f"SELECT {columns} FROM (SELECT r.id FROM releases r WHERE {where}"
                f" ORDER BY {order or 'r.visible_at DESC, r.id DESC'} LIMIT {_WINDOW}) w"
                " CROSS JOIN releases r ON r.id = w.id"
                " JOIN release_categories rc ON rc.release_id = r.id"
                " JOIN categories c ON c.id = rc.category_id AND c.slug = ?"
            )
            params += [iso(now), *(extra[1] if extra is not None else []), category]
        else:
            sql = _select_releases(columns, category, params)
        sql += f" WHERE {visible}"
        params.append(iso(now))
        if extra is not None:
            sql += f" AND {extra[0]}"
            params.extend(extra[1])
        if order is not None:
            sql += f" ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        return self.conn.execute(sql, params)

    def last_release_id(self) -> int:
        """The highest release id given out so far (0 for an empty store)."""
        row = self.conn.execute("SELECT coalesce(max(id), 0) FROM releases").fetchone()
        return int(row[0])

    def visible_between(self, start: datetime, end: datetime) -> list[Release]:
        """Releases that became visible in (start, end] and are still visible: a digest period."""
        rows = self.conn.execute(
            "SELECT id FROM releases WHERE retracted_at IS NULL AND uid IS NOT NULL "
            f"AND visible_at > ? AND visible_at <= ? AND {_readable_times('')}{self._publishable('')} "
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

    def releases_by_ids(self, ids: list[int], *, held: bool = False) -> list[Release]:
        """Releases in the order of ``ids``, with their categories and attachments, in three queries.

        What every output reads (pages, feeds, mail, API), so what `flaws` finds is acted on here: a
        release held back is left out (unless ``held``: the operator's own views, `get_release` and
        `list_releases`, show it), as are the categories held back, the attachments with a bad field,
        a link that is not http(s) and a contact address that is not one. A row sqlite3 cannot read
        (text that is not UTF-8) is left out whatever ``held`` says.
        """
        if not held:
            kept = self._flaws_now().held_releases
            ids = [release_id for release_id in ids if release_id not in kept]
        found: dict[int, Release] = {}
        for chunk, _ in id_chunks(ids):
            try:
                found.update(self._read_releases(chunk))
            except sqlite3.OperationalError as error:
                if rules.undecodable_column(error) is None:
                    raise
                for release_id in chunk:  # the one row that cannot be read, among the others that can
                    try:
                        found.update(self._read_releases([release_id]))
                    except sqlite3.OperationalError as error:
                        if rules.undecodable_column(error) is None:
                            raise
        return [found[release_id] for release_id in ids if release_id in found]

    def _read_releases(self, chunk: list[int]) -> dict[int, Release]:
        """:raises sqlite3.OperationalError: a value in these rows is not UTF-8 text."""
        marks = ",".join("?" * len(chunk))
        categories: dict[int, list[Category]] = {}
        attachments: dict[int, list[Attachment]] = {}
        corrections: dict[int, list[Correction]] = {}
        for correction_id, release_id, at, note in self.conn.execute(
            f"SELECT id, release_id, at, note FROM corrections WHERE release_id IN ({marks})"
            " ORDER BY release_id, id",
            chunk,
        ):
            moment = stored_moment(at) if isinstance(at, str) else None
            if moment is not None and isinstance(note, str) and note.strip():
                corrections.setdefault(release_id, []).append(
                    Correction(moment, xml_safe(note), int(correction_id))
                )
        for row in self.conn.execute(
            f"SELECT rc.release_id, c.slug, c.name, c.description FROM release_categories rc "
            f"JOIN categories c ON c.id = rc.category_id WHERE rc.release_id IN ({marks})"
            f"{self._publishable(None, 'c.')} ORDER BY rc.release_id, rc.position",
            chunk,
        ):
            categories.setdefault(row[0], []).append(_category(row[1], row[2], row[3]))
        for release_id, url, title, mime_type, length, alt, caption, credit in self.conn.execute(
            f"SELECT release_id, url, title, mime_type, length, alt, caption, credit FROM attachments "
            f"WHERE release_id IN ({marks}) ORDER BY release_id, position",
            chunk,
        ):
            if rules.attachment_problem(url, title, mime_type, length) is None:
                attachment = Attachment(
                    url.strip(),
                    xml_safe_or_none(title),
                    mime_type.lower(),
                    length,
                    _image_text(alt, ALT_MAX),
                    _image_text(caption, CAPTION_MAX),
                    _image_text(credit, CREDIT_MAX),
                )
                attachments.setdefault(release_id, []).append(attachment)
        found = {}
        for row in self.conn.execute(f"SELECT {_RELEASE_COLUMNS} FROM releases WHERE id IN ({marks})", chunk):
            release = _release(row, categories, attachments, corrections)
            found[release.id] = release
        return found

    def _unreadable(self, release_id: int) -> str:
        """What `flaws` says of a release that cannot be read."""
        found = self._flaws_now().releases.get(release_id, [])
        return "; ".join(f"{flaw.field}: {flaw.problem}" for flaw in found) or "a value is not UTF-8 text"

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

    def prune_changes(self, before: datetime) -> int:
        """Delete the change log rows written before ``before`` that the last build already read; returns
        how many.

        Rows after ``build_state.change_cursor`` are what the next build must still see, whatever their
        age (a build that keeps failing). The newest row stays too, so `last_change_id` never goes back
        to 0, below the cursor, once everything older is gone.
        """
        with self.transaction():
            return self.conn.execute(
                "DELETE FROM changes WHERE at < ? "
                "AND id <= (SELECT change_cursor FROM build_state WHERE id = 1) "
                "AND id < (SELECT max(id) FROM changes)",
                (iso(before),),
            ).rowcount

    def build_state(self) -> BuildState:
        row = self.conn.execute(
            "SELECT change_cursor, built_at, fingerprint, last_error FROM build_state WHERE id = 1"
        ).fetchone()
        return BuildState(int(row[0]), stored_moment(row[1]), row[2], row[3])

    def save_build_state(
        self,
        cursor: int,
        built_at: datetime,
        error: str | None = None,
        *,
        fingerprint: str | None = None,
        counts: dict[int, int] | None = None,
        every_count: bool = False,
        pairs: Iterable[tuple[int, int]] = (),
        pairs_of: Iterable[int] = (),
    ) -> None:
        """Record a build: its change cursor, time, problem (None: all well), when given the fingerprint
        of the settings and templates it was made with (otherwise the last one is kept), the visible
        counts of the categories it counted (``every_count``: of all of them, the others have none), and
        the visible ``pairs`` they were made of, in place of those kept of ``pairs_of`` (of every release
        with ``every_count``). One transaction, so the kept counts always match the cursor and the pairs:
        a crash before it counts again."""
        with self.transaction():
            self.conn.execute(
                "UPDATE build_state SET change_cursor = ?, built_at = ?, last_error = ?, "
                "fingerprint = coalesce(?, fingerprint) WHERE id = 1",
                (cursor, iso(built_at), error, fingerprint),
            )
            if every_count:
                self.conn.execute("DELETE FROM category_counts")
                self.conn.execute("DELETE FROM counted_pairs")
            for chunk, marks in id_chunks(sorted(set(pairs_of))):
                self.conn.execute(f"DELETE FROM counted_pairs WHERE release_id IN ({marks})", chunk)
            self.conn.executemany("INSERT INTO counted_pairs (release_id, category_id) VALUES (?, ?)", pairs)
            if counts:
                self.conn.executemany(
                    "INSERT INTO category_counts (category_id, visible) VALUES (?, ?) "
                    "ON CONFLICT(category_id) DO UPDATE SET visible = excluded.visible",
                    sorted(counts.items()),
                )

    def release_stamps(self, ids: list[int]) -> dict[int, tuple[str | None, str | None]]:
        """Each existing release's stored ``updated_at`` and ``retracted_at``: one cheap query that tells
        whether a copy read earlier still holds."""
        stamps: dict[int, tuple[str | None, str | None]] = {}
        for chunk, marks in id_chunks(ids):
            for release_id, updated, retracted in self.conn.execute(
                f"SELECT id, updated_at, retracted_at FROM releases WHERE id IN ({marks})", chunk
            ):
                stamps[release_id] = (updated, retracted)
        return stamps

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
            int(document.early_access),
            *_event_values(document.event.to_event() if document.event is not None else None),
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
            "SELECT url, title, mime_type, length, alt, caption, credit FROM attachments "
            "WHERE release_id = ? ORDER BY position",
            (release_id,),
        ).fetchall()
        given = [
            (a.url, a.title, a.mime_type, a.length, a.alt, a.caption, a.credit) for a in document.attachments
        ]
        if [tuple(row) for row in stored] != given:
            self.conn.execute("DELETE FROM attachments WHERE release_id = ?", (release_id,))
            self.conn.executemany(
                "INSERT INTO attachments (release_id, position, url, title, mime_type, length, alt, "
                "caption, credit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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


_Key = TypeVar("_Key", int, str)


def id_chunks(ids: Sequence[_Key]) -> Iterator[tuple[list[_Key], str]]:
    """``ids`` (row ids, or keys) in runs that fit one ``IN (...)``, each with its ``?,?,...`` marks.

    Older SQLite builds allow 999 parameters in a statement; 900 leaves room for a few more.
    """
    for start in range(0, len(ids), 900):
        chunk = list(ids[start : start + 900])
        yield chunk, ",".join("?" * len(chunk))


#: How many of the newest releases a windowed read of one category walks (`Store._visible`): at one
#: category in 20, enough for a feed (50) and a page (100) of it; the window costs about 1 ms.
_WINDOW = 2_000


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
    "published_at", "embargo_until", "contact", "source_url", "early_access", "event",
}  # fmt: skip

#: The text columns of a release an outside writer may fill (`complete_pending` cleans them).
_TEXT_COLUMNS = (
    "title", "summary", "body_markdown", "language", "contact_name", "contact_email", "contact_phone",
    "source_url",
)  # fmt: skip

_RELEASE_COLUMNS = (
    "id, uid, number, slug, title, summary, body_markdown, body_html, language, urgent, contact_name, "
    "contact_email, contact_phone, source_url, published_at, embargo_until, created_at, updated_at, "
    "retracted_at, early_access, event_start, event_end, event_all_day, event_location, event_online_url"
)


def _release(
    row: tuple[Any, ...],
    categories: dict[int, list[Category]],
    attachments: dict[int, list[Attachment]],
    corrections: dict[int, list[Correction]],
) -> Release:
    (release_id, uid, number, slug, title, summary, body_markdown, body_html, language, urgent,
     contact_name, contact_email, contact_phone, source_url, published_at, embargo_until, created_at,
     updated_at, retracted_at, early_access, *event) = row  # fmt: skip
    published = stored_moment(published_at) or datetime.fromtimestamp(0, UTC)
    text = rules.shown_text  # a held release is still shown to the operator, whatever it holds
    body = text(body_markdown) or ""
    if isinstance(body_html, str):
        html = clean_html(body_html) if body_html else ""
    else:  # NULL until the next build completes the row; a BLOB is rendered from the Markdown
        html = render_markdown(body) if body_html is not None else ""
    return Release(
        id=release_id,
        uid=cast(str, text(uid)),
        number=cast(str, text(number)),
        slug=cast(str, text(slug)),
        title=text(title) or "",
        summary=text(summary),
        body_markdown=body,
        body_html=html,
        language=text(language) or "pl",
        urgent=bool(urgent),
        contact=Contact(text(contact_name), rules.shown_email(contact_email), text(contact_phone)),
        source_url=rules.shown_link(source_url),
        published_at=published,
        embargo_until=stored_moment(embargo_until),
        created_at=stored_moment(created_at) or published,
        updated_at=stored_moment(updated_at) or published,
        retracted_at=stored_moment(retracted_at),
        categories=tuple(categories.get(release_id, ())),
        attachments=tuple(attachments.get(release_id, ())),
        early_access=early_access == 1,  # an outside writer's odd value shares nothing early
        event=_event(*event),
        corrections=tuple(corrections.get(release_id, ())),
    )


def _event_values(event: Event | None) -> tuple[Any, ...]:
    """The ``event_*`` columns of an event (all NULL, and not all-day, without one)."""
    if event is None:
        return (None, None, 0, None, None)
    start, end = (_event_text(value) for value in (event.start, event.end))
    return (start, end, int(event.all_day), event.location, event.online_url)


def _event_text(value: datetime | date | None) -> str | None:
    """An event time in the store: a moment in the store's form, or a day as ``YYYY-MM-DD``."""
    if value is None:
        return None
    return iso(value) if isinstance(value, datetime) else value.isoformat()


def _event(start: Any, end: Any, all_day: Any, location: Any, online_url: Any) -> Event | None:
    """The event of a row, as far as it can be read: an outside writer's start that is neither a day
    (all-day) nor a time in the store's form means no event; an unreadable end, location or link is
    left out rather than shown."""
    if not isinstance(start, str):
        return None
    day = all_day == 1
    first = _event_time(start, day)
    if first is None:
        return None
    last = _event_time(end, day) if isinstance(end, str) else None
    if last is not None and last < first:  # both days or both moments (by `day`)
        last = None
    place = xml_safe(" ".join(location.split()))[:EVENT_LOCATION_MAX] if isinstance(location, str) else ""
    link = rules.shown_link(online_url)
    return Event(first, last, day, place or None, link)


def _event_time(text: str, day: bool) -> datetime | date | None:
    try:
        if day:
            return date.fromisoformat(text) if len(text) == 10 else None
        return stored_moment(text) if len(text) > 10 else None
    except ValueError:
        return None


def _image_text(value: Any, maximum: int) -> str | None:
    """An image field as an outside writer may have left it: text only, XML-safe, within its bound."""
    if not isinstance(value, str) or not value.strip():
        return None
    return xml_safe(" ".join(value.split()))[:maximum]


def _category(slug: str, name: str, description: str) -> Category:
    """A category as read, without characters XML cannot hold (an outside writer may have put some in
    after `Store.complete_pending` cleaned the table)."""
    return Category(slug, xml_safe(name), xml_safe(description))


# -- what outside writers stored: scans for `Store.flaws` and `newsroom-feed check` -------------------


@dataclass(slots=True)
class _Flaws:
    """What `Store.flaws` found, and as of when: `key` is ``(PRAGMA data_version, total_changes)`` at
    the scan, `scanned_to` the last `changes` row it took into account."""

    key: tuple[int, int] | None = None
    #: The `key` the releases were last brought up to date at.
    releases_key: tuple[int, int] | None = None
    scanned_to: int | None = None
    releases: dict[int, list[Flaw]] = field(default_factory=dict)
    categories: dict[int, list[Flaw]] = field(default_factory=dict)
    held_releases: frozenset[int] = frozenset()
    held_categories: frozenset[int] = frozenset()
    #: Rows `Store.complete_pending` could not complete in its last run: (field, problem).
    incomplete: dict[int, tuple[str, str]] = field(default_factory=dict)


#: The release columns `flaws.release_flaws` judges; the body by its type and length only, so that a scan
#: of every release does not carry every body into Python.
_SCANNED = (
    "number, uid, slug, title, summary, typeof(body_markdown), length(body_markdown), language, "
    "contact_name, contact_email, contact_phone, source_url"
)


def _scan_releases(conn: sqlite3.Connection, ids: list[int] | None = None) -> dict[int, list[Flaw]]:
    """The flaws of these releases (all when ``ids`` is None) and their attachments, by release id;
    releases without any are not keys."""
    found: dict[int, list[Flaw]] = {}
    chunks = [("1", [])] if ids is None else [(f"id IN ({marks})", chunk) for chunk, marks in id_chunks(ids)]
    for where, params in chunks:
        rows, unreadable = _tolerant(conn, _SCANNED, "releases", where, "id", params)
        numbers: dict[int, Any] = {}
        for release_id, number, uid, slug, title, summary, body_type, body_length, language, contact_name, \
                contact_email, contact_phone, source_url in rows:  # fmt: skip
            numbers[release_id] = number
            flaws = rules.release_flaws(
                release_id, title=title, summary=summary, body_type=body_type, body_length=body_length,
                language=language, contact_name=contact_name, contact_email=contact_email,
                contact_phone=contact_phone, source_url=source_url, slug=slug, number=number, uid=uid,
            )  # fmt: skip
            if flaws:
                found[release_id] = flaws
        for release_id, column in unreadable:
            (number,) = conn.execute(
                "SELECT CAST(number AS BLOB) FROM releases WHERE id = ?", (release_id,)
            ).fetchone()
            numbers[release_id] = _strict(number)
            row = rules.release_row(release_id, numbers[release_id])
            flaw = Flaw(row, rules.field_of_column(column), rules.NOT_UTF8, True)
            found.setdefault(release_id, []).append(flaw)
        where = where.replace("id IN", "release_id IN")
        columns, order = "release_id, url, title, mime_type, length", "release_id, position"
        rows, unreadable = _tolerant(conn, columns, "attachments", where, order, params)
        position, last = 0, None
        for _, release_id, url, title, mime_type, length in rows:
            position = position + 1 if release_id == last else 0
            last = release_id
            bad = rules.attachment_problem(url, title, mime_type, length)
            if bad is not None:
                row = rules.release_row(release_id, numbers.get(release_id))
                found.setdefault(release_id, []).append(
                    Flaw(row, f"attachments.{position}.{bad[0]}", bad[1], False)
                )
        for attachment_id, column in unreadable:
            (release_id,) = conn.execute(
                "SELECT release_id FROM attachments WHERE id = ?", (attachment_id,)
            ).fetchone()
            row = rules.release_row(release_id, numbers.get(release_id))
            problem = f"the {column} of an attachment {rules.NOT_UTF8}"
            found.setdefault(release_id, []).append(Flaw(row, "attachments", problem, True))
    return found


def _scan_categories(conn: sqlite3.Connection) -> dict[int, list[Flaw]]:
    """The flaws of every category, by id; categories without any are not keys."""
    rows, unreadable = _tolerant(conn, "slug, name, description", "categories", "1", "id")
    found: dict[int, list[Flaw]] = {}
    for category_id, slug, name, description in rows:
        flaws = rules.category_flaws(category_id, slug, name, description)
        if flaws:
            found[category_id] = flaws
    for category_id, column in unreadable:
        found[category_id] = [Flaw(rules.category_row(category_id), column, rules.NOT_UTF8, True)]
    return found


def outside_flaws(conn: sqlite3.Connection) -> list[Flaw]:
    """Every flaw of the store an open connection reads (`newsroom-feed check`, which opens no `Store`
    so as to change nothing), with the releases held back for a time that cannot be read."""
    found = [flaw for flaws in _scan_releases(conn).values() for flaw in flaws]
    found += [flaw for flaws in _scan_categories(conn).values() for flaw in flaws]
    for release_id, number in conn.execute(
        "SELECT id, CAST(number AS BLOB) FROM releases WHERE retracted_at IS NULL AND visible_at >= ? "
        "ORDER BY id",
        (iso(HELD_UNTIL),),
    ):
        problem = "cannot be read as a time; set it with newsroom-feed release update"
        row = rules.release_row(release_id, _decoded(number))
        found.append(Flaw(row, "published_at or embargo_until", problem, True))
    return found


def _tolerant(
    conn: sqlite3.Connection, columns: str, table: str, where: str, order: str, params: Iterable[Any] = ()
) -> tuple[list[tuple[Any, ...]], list[tuple[int, str]]]:
    """``SELECT id, columns FROM table WHERE where ORDER BY order``, and (id, column) of the rows sqlite3
    cannot read: it refuses a whole query for one value that is not UTF-8, so then each row is read
    alone and only the bad ones are set aside.

    :raises sqlite3.OperationalError: for anything but text that is not UTF-8.
    """
    params = list(params)
    try:
        sql = f"SELECT id, {columns} FROM {table} WHERE {where} ORDER BY {order}"
        return conn.execute(sql, params).fetchall(), []
    except sqlite3.OperationalError as error:
        if rules.undecodable_column(error) is None:
            raise
    rows: list[tuple[Any, ...]] = []
    unreadable: list[tuple[int, str]] = []
    ids = conn.execute(f"SELECT id FROM {table} WHERE {where} ORDER BY {order}", params).fetchall()
    for (row_id,) in ids:
        try:
            rows += conn.execute(f"SELECT id, {columns} FROM {table} WHERE id = ?", (row_id,)).fetchall()
        except sqlite3.OperationalError as error:
            column = rules.undecodable_column(error)
            if column is None:
                raise
            unreadable.append((int(row_id), column))
    return rows, unreadable


def _decoded(value: Any) -> Any:
    """A value read with ``CAST(... AS BLOB)`` as text again, bytes that are not UTF-8 as U+FFFD."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _strict(value: Any) -> Any:
    """Like `_decoded`, but None for bytes that are not UTF-8."""
    if not isinstance(value, bytes):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


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
