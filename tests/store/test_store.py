"""The store's own guarantees about times: whatever form another process writes a time in, a release is
never visible before its moment."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from newsroom_feed import planner
from newsroom_feed.errors import InputError
from newsroom_feed.markup import render_markdown
from newsroom_feed.models import ReleaseInput, iso, utcnow
from newsroom_feed.settings import Settings
from newsroom_feed.store import mailings
from newsroom_feed.store.database import HELD_UNTIL, MIGRATIONS, Store

from ..conftest import NOW
from ..site.test_feeds import EMBARGOED_TITLE, sample_newsroom


def _outside_write(settings: Settings, sql: str, *params: object) -> None:
    outside = sqlite3.connect(settings.database)
    with outside:
        outside.execute(sql, params)
    outside.close()


@pytest.mark.parametrize("text", ["2026-11-26 08:00:00", "2026-11-26T08:00:00+00:00", "2026-11-26t08:00:00z"])
def test_a_time_in_another_form_hides_the_release_until_it_is_completed(
    store: Store, settings: Settings, text: str
) -> None:
    """Between an outside write and the next build's `complete_pending`, reads do not compare that text."""
    release = sample_newsroom(store)["fuzja"]
    _outside_write(settings, "UPDATE releases SET embargo_until = ? WHERE id = ?", text, release.id)
    assert release.id not in store.visible_ids(NOW)
    assert EMBARGOED_TITLE not in [found.title for found in store.visible_releases(NOW)]
    assert release.id not in [found.id for found in store.unannounced_visible(NOW)]
    assert store.complete_pending(NOW) == [release.id]
    assert store.get_release(release.id).embargo_until == NOW.replace(hour=8, minute=0)
    assert release.id in store.visible_ids(NOW)
    assert store.complete_pending(NOW) == []


def test_fractions_of_a_second_round_up_and_impossible_dates_are_held_back(
    store: Store, settings: Settings
) -> None:
    releases = sample_newsroom(store)
    _outside_write(
        settings,
        "UPDATE releases SET embargo_until = '2026-11-26T08:00:00.2Z' WHERE id = ?",
        releases["fuzja"].id,
    )
    _outside_write(
        settings,
        "UPDATE releases SET embargo_until = '2026-02-30T08:00:00Z' WHERE id = ?",
        releases["smog"].id,
    )
    store.complete_pending(NOW)
    assert store.get_release(releases["fuzja"].id).embargo_until == NOW.replace(hour=8, minute=0, second=1)
    assert store.get_release(releases["smog"].id).embargo_until == HELD_UNTIL
    assert store.held_releases() == [(releases["smog"].id, releases["smog"].number)]
    assert releases["smog"].id not in store.visible_ids(NOW + timedelta(days=365 * 100))


# -- what an outside writer stores is cleaned ------------------------------------------------------


def test_characters_xml_cannot_hold_leave_a_row_an_outside_writer_inserted(
    store: Store, settings: Settings
) -> None:
    _outside_write(
        settings,
        "INSERT INTO releases (title, summary, body_markdown, contact_name, contact_phone) "
        "VALUES ('a' || char(0) || 'b', 'Dzwonek' || char(7), 'Treść' || char(1) || ' **mocna**', "
        "'Biuro' || char(11), '22' || char(12) || ' 000')",
    )
    _outside_write(
        settings,
        "INSERT INTO categories (slug, name, description) VALUES ('cms', 'C' || char(0) || 'MS', ?)",
        "Opis\x1f",
    )
    [release_id] = store.complete_pending(NOW)
    row = store.conn.execute(
        "SELECT title, summary, body_markdown, body_html, contact_name, contact_phone, slug "
        "FROM releases WHERE id = ?",
        (release_id,),
    ).fetchone()
    assert row == (
        "ab",
        "Dzwonek",
        "Treść **mocna**",
        "<p>Treść <strong>mocna</strong></p>",
        "Biuro",
        "22 000",
        "ab",
    )
    assert [(c.name, c.description) for c in store.categories()] == [("CMS", "Opis")]
    assert store.conn.execute("SELECT name, description FROM categories").fetchall() == [("CMS", "Opis")]
    assert store.complete_pending(NOW) == []


def test_bytes_that_are_not_utf8_are_repaired_when_a_row_is_completed(
    store: Store, settings: Settings
) -> None:
    """sqlite3 refuses to read a whole row for one such byte; completing it writes U+FFFD instead, as it
    drops what XML cannot hold, so the release reads and publishes like any other."""
    _outside_write(
        settings,
        "INSERT INTO releases (title, summary) VALUES ('Gm' || CAST(X'ff' AS TEXT) || 'ina', "
        "CAST(X'4b72c3b3746b6fff' AS TEXT))",
    )
    _outside_write(settings, "INSERT INTO categories (slug, name) VALUES ('cms', CAST(X'43ff4d53' AS TEXT))")
    [release_id] = store.complete_pending(NOW)
    release = store.get_release(release_id)
    assert (release.title, release.summary) == ("Gm\ufffdina", "Krótko\ufffd")
    assert [category.name for category in store.categories()] == ["C\ufffdMS"]
    assert release.id in store.visible_ids(NOW)
    assert store.flaws() == []


def test_html_an_outside_writer_supplies_is_kept_but_cleaned(store: Store, settings: Settings) -> None:
    _outside_write(
        settings,
        "INSERT INTO releases (title, body_html) VALUES ('Z CMS', ?)",
        '<p onclick="x()">Dobry <b>tekst</b><script>alert(1)</script><img src=x onerror=alert(1)>'
        '<a href="javascript:alert(1)">link</a></p>',
    )
    [release_id] = store.complete_pending(NOW)
    expected = '<p>Dobry <b>tekst</b><a rel="noopener nofollow">link</a></p>'
    assert store.conn.execute("SELECT body_html FROM releases WHERE id = ?", (release_id,)).fetchone() == (
        expected,
    )
    assert store.get_release(release_id).body_html == expected


def test_html_changed_with_plain_sql_after_completion_is_cleaned_when_read(
    store: Store, settings: Settings
) -> None:
    release = sample_newsroom(store)["fuzja"]
    _outside_write(
        settings,
        "UPDATE releases SET body_html = '<p>x<script>alert(1)</script></p>', title = 'T' || char(0) "
        "WHERE id = ?",
        release.id,
    )
    read = store.get_release(release.id)
    assert (read.body_html, read.title) == ("<p>x</p>", "T")


def test_an_outside_edit_of_the_markdown_empties_the_html_for_the_next_build(
    store: Store, settings: Settings
) -> None:
    release = sample_newsroom(store)["fuzja"]
    _outside_write(settings, "UPDATE releases SET body_markdown = 'Nowa **treść**' WHERE id = ?", release.id)
    assert store.conn.execute("SELECT body_html FROM releases WHERE id = ?", (release.id,)).fetchone() == (
        None,
    )
    assert store.complete_pending(NOW) == [release.id]
    completed = store.get_release(release.id)
    assert completed.body_html == "<p>Nowa <strong>treść</strong></p>"
    assert (completed.uid, completed.number, completed.slug) == (release.uid, release.number, release.slug)
    assert store.complete_pending(NOW) == []


def test_an_outside_edit_of_markdown_and_html_together_keeps_the_html(
    store: Store, settings: Settings
) -> None:
    release = sample_newsroom(store)["fuzja"]
    _outside_write(
        settings, "UPDATE releases SET body_markdown = 'a', body_html = '<p>b</p>' WHERE id = ?", release.id
    )
    assert store.get_release(release.id).body_html == "<p>b</p>"
    assert store.complete_pending(NOW) == []


@pytest.mark.parametrize("body", ["Nowy **tekst**", "Stary tekst\n\n", "Stary tekst"])
def test_the_services_own_body_updates_keep_their_html(store: Store, body: str) -> None:
    """Also a new text that renders to the same HTML as the old, which the markdown trigger empties."""
    release = sample_newsroom(store)["fuzja"]
    store.update_release(release.id, {"body": "Stary tekst"}, NOW)
    updated = store.update_release(release.id, {"body": body}, NOW)
    assert updated.body_html == render_markdown(body)
    assert store.complete_pending(NOW) == []


def test_a_store_upgraded_to_schema_7_gets_its_category_counts_on_the_next_build(
    store: Store, settings: Settings
) -> None:
    """Migration 7 adds the counts the build keeps; it makes the next build a full one, which fills them."""
    sample_newsroom(store)
    assert planner.build(store, settings, NOW).full
    # The store as a build before migration 7 left it: no counts (nor the pairs of migration 8), the
    # fingerprint of its outputs kept.
    with store.transaction() as conn:
        conn.execute("DROP TABLE category_counts")
        conn.execute("DROP TABLE counted_pairs")
        # and without what migration 9 (the desk) added after them.
        for table in ("desk_sessions", "audit_log", "drafts", "uploads", "websub_pings", "bounces", "users"):
            conn.execute(f"DROP TABLE {table}")
        for column in ("alt", "caption", "credit"):
            conn.execute(f"ALTER TABLE attachments DROP COLUMN {column}")
        # and migration 12's personal feed tokens.
        conn.execute("DROP TABLE retired_feed_tokens")
        conn.execute("DROP INDEX subscribers_feed_token")
        conn.execute("ALTER TABLE subscribers DROP COLUMN feed_token")
        # and migration 13's journalists and early access.
        for table in ("terms_acceptances", "early_access_log"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DROP TRIGGER releases_early_access")
        conn.execute("DROP INDEX subscribers_verification")
        conn.execute("ALTER TABLE releases DROP COLUMN early_access")
        for column in ("verification", "work_url", "press_card", "verified_at", "revoked_at"):
            conn.execute(f"ALTER TABLE subscribers DROP COLUMN {column}")
        # and migration 15's events, corrections and follow-up mail.
        for table in ("corrections", "release_mailings"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DROP TRIGGER releases_event")
        conn.execute("DROP INDEX releases_event_start")
        for column in ("start", "end", "all_day", "location", "online_url"):
            conn.execute(f"ALTER TABLE releases DROP COLUMN event_{column}")
        conn.execute("ALTER TABLE outbox DROP COLUMN in_reply_to")
        # and migration 16's index of retracted releases.
        conn.execute("DROP INDEX releases_retracted")
        conn.execute("DELETE FROM schema_migrations WHERE version >= 7")
    store.close()
    with Store.for_settings(settings) as upgraded:
        assert upgraded.schema_version == len(MIGRATIONS)
        assert upgraded.kept_category_counts() == {}
        assert planner.build(upgraded, settings, NOW).full
        assert upgraded.kept_category_counts() == upgraded.count_visible(NOW) != {}
        assert not planner.build(upgraded, settings, NOW).full


def test_migration_16_counts_old_retractions_as_told_and_leaves_recent_ones_to_tell(store: Store) -> None:
    """Builds before it looked two days back for retractions to tell: older ones never get a notice
    after the upgrade, a recent one not told yet still does."""
    now = utcnow()
    old, recent = (
        store.add_release(ReleaseInput.parse({"title": title}), now - timedelta(days=10))
        for title in ("Stary komunikat", "Nowy komunikat")
    )
    store.retract_release(old.id, now - timedelta(days=5))
    store.retract_release(recent.id, now - timedelta(days=1))
    with store.transaction() as conn:  # as a store at schema 15 with neither told
        conn.execute("DELETE FROM release_mailings")
        conn.execute("DROP INDEX releases_retracted")
        conn.execute("DELETE FROM schema_migrations WHERE version = 16")
    assert store.migrate() == 1
    assert mailings.withdrawn_untold(store) == [(recent.id, recent.uid)]


def test_a_correction_keeps_the_identity_moves_updated_and_keeps_every_note_in_order(store: Store) -> None:
    release = store.add_release(ReleaseInput.parse({"title": "Seminarium 24 października"}), NOW)
    later = NOW + timedelta(hours=1)
    corrected = store.correct_release(
        release.id, "Poprawiono datę seminarium.", {"title": "Seminarium 25 października"}, later
    )
    again = store.correct_release(release.number, "  Dodano godzinę.\r\n", {}, later + timedelta(hours=1))
    assert (again.uid, again.slug, again.number) == (release.uid, release.slug, release.number)
    assert corrected.title == again.title == "Seminarium 25 października"
    assert again.updated_at == later + timedelta(hours=1) > corrected.updated_at > release.updated_at
    assert [(c.at, c.note) for c in again.corrections] == [
        (later, "Poprawiono datę seminarium."), (later + timedelta(hours=1), "Dodano godzinę."),
    ]  # fmt: skip
    assert again.to_document(later)["corrections"][0] == {
        "at": iso(later),
        "note": "Poprawiono datę seminarium.",
    }


@pytest.mark.parametrize(
    ("note", "changes", "field"),
    [
        ("", {}, "note"),
        ("a\x00b", {}, "note"),
        ("x" * 2001, {}, "note"),
        ("Poprawka", {"title": ""}, "title"),
    ],
)
def test_a_bad_correction_names_its_field_and_writes_nothing(
    store: Store, note: str, changes: dict[str, object], field: str
) -> None:
    release = store.add_release(ReleaseInput.parse({"title": "Ranking miast"}), NOW)
    with pytest.raises(InputError) as raised:
        store.correct_release(release.id, note, changes, NOW + timedelta(hours=1))
    assert raised.value.field == field
    assert store.get_release(release.id) == release
