"""Migration 14: the outbox takes any kind the mail registry names, and upgrading keeps every row and
every reference to it (deliveries, bounce reports)."""

from __future__ import annotations

import sqlite3

import pytest

from newsroom_feed.settings import Settings
from newsroom_feed.store import schema as store_module
from newsroom_feed.store.database import Store

AT = "2026-12-01T08:00:00Z"


def test_an_upgraded_outbox_keeps_its_rows_deliveries_and_bounce_reports(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:13])
    with Store(settings.database, settings.domain, zone=settings.zone) as old:
        conn = old.conn
        conn.execute(
            "INSERT INTO subscribers (id, email, kind, language, frequency, status, token, consent_source,"
            " created_at) VALUES (7, 'gmina@example.pl', 'city', 'pl', 'daily', 'bounced', 't', 'operator',"
            " ?)",
            (AT,),
        )
        conn.execute(
            "INSERT INTO outbox (id, key, kind, subscriber_id, release_ids, status, attempts,"
            " next_attempt_at, message_id, created_at, sent_at) VALUES (3, 'digest:daily:x', 'digest', 7,"
            " '[1]', 'sent', 1, ?, '<3.ab@prasa.example.pl>', ?, ?)",
            (AT, AT, AT),
        )
        conn.execute(
            "INSERT INTO deliveries (id, outbox_id, attempt, at, code, reply, outcome)"
            " VALUES (5, 3, 1, ?, 250, 'OK', 'sent')",
            (AT,),
        )
        conn.execute(
            "INSERT INTO bounces (at, source, digest, kind, outbox_id, delivery_id, subscriber_id, recipient,"
            " status) VALUES (?, 'imap', 'abc', 'hard', 3, 5, 7, 'gmina@example.pl', '5.1.1')",
            (AT,),
        )
    monkeypatch.undo()
    with Store(settings.database, settings.domain, zone=settings.zone) as upgraded:
        conn = upgraded.conn
        assert upgraded.schema_version == len(store_module.MIGRATIONS)
        assert conn.execute("SELECT id, kind, status, message_id FROM outbox").fetchall() == [
            (3, "digest", "sent", "<3.ab@prasa.example.pl>")
        ]
        assert conn.execute("SELECT id, outbox_id, code FROM deliveries").fetchall() == [(5, 3, 250)]
        assert conn.execute("SELECT outbox_id, delivery_id, subscriber_id FROM bounces").fetchall() == [
            (3, 5, 7)
        ]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # A kind the registry will name (a correction) is a row like any other; a status is still checked.
        conn.execute(
            "INSERT INTO outbox (key, kind, subscriber_id, status, next_attempt_at, created_at)"
            " VALUES ('correction:x', 'correction', 7, 'pending', ?, ?)",
            (AT, AT),
        )
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO outbox (key, kind, status, next_attempt_at, created_at)"
                " VALUES ('k', 'alert', 'lost', ?, ?)",
                (AT, AT),
            )
        # Deleting the outbox row still cascades into its deliveries and unlinks its reports.
        conn.execute("DELETE FROM outbox WHERE id = 3")
        assert conn.execute("SELECT count(*) FROM deliveries").fetchone() == (0,)
        assert conn.execute("SELECT outbox_id, delivery_id FROM bounces").fetchall() == [(None, None)]
