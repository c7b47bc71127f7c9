"""Test data for the delivery tests: subscribers and releases written straight into a real store, settings
pointed at the test SMTP server, and a plain renderer for tests that pin the ledger, not the templates."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from newsroom_feed.models import OutboxItem, OutgoingMessage, Release, ReleaseInput, iso
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store


def add_subscriber(
    store: Store,
    email: str,
    *,
    frequency: str = "immediate",
    categories: Iterable[str] = (),
    status: str = "active",
    name: str | None = None,
    language: str = "pl",
    created_at: datetime | None = None,
) -> int:
    """An operator-added subscriber, as `subscriber add` would store one."""
    with store.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO subscribers (email, name, kind, language, frequency, status, token, consent_source, "
            "created_at) VALUES (?, ?, 'journalist', ?, ?, ?, ?, 'operator', ?)",
            (
                email,
                name,
                language,
                frequency,
                status,
                secrets.token_urlsafe(16),
                iso(created_at or datetime(2026, 1, 1)),
            ),
        )
        subscriber_id = int(cursor.lastrowid or 0)
        category_ids = store.ensure_categories(categories)
        conn.executemany(
            "INSERT INTO subscriber_categories (subscriber_id, category_id) VALUES (?, ?)",
            [(subscriber_id, category_id) for category_id in category_ids],
        )
    return subscriber_id


def add_release(store: Store, now: datetime, title: str, **fields: Any) -> Release:
    document = ReleaseInput.parse({"title": title, **fields}, store.zone)
    return store.add_release(document, now)


def smtp_settings(settings: Settings, port: int, **outbox: Any) -> Settings:
    """``settings`` sending to 127.0.0.1:``port`` without a rate limit worth the name; ``outbox`` overrides
    ledger settings such as ``backoff_seconds``."""
    smtp = settings.smtp.model_copy(update={"host": "127.0.0.1", "port": port, "rate_per_second": 10_000.0})
    return settings.model_copy(update={"smtp": smtp, "outbox": settings.outbox.model_copy(update=outbox)})


class PlainRenderer:
    """A minimal composer: one short message per row, addressed to the row's subscriber."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def render(self, item: OutboxItem) -> OutgoingMessage:
        row = self.store.conn.execute(
            "SELECT email FROM subscribers WHERE id = ?", (item.subscriber_id,)
        ).fetchone()
        message_id = f"<outbox-{item.id}@prasa.example.pl>"
        data = (
            f"From: prasa@newsroom.example.pl\r\nTo: {row[0]}\r\nSubject: {item.key}\r\n"
            f"Message-ID: {message_id}\r\nX-Newsroom-Kind: {item.kind}\r\n\r\nrow {item.id}\r\n"
        ).encode()
        return OutgoingMessage(item.id, "prasa@newsroom.example.pl", row[0], message_id, data)

    def render_many(self, items: Sequence[OutboxItem]) -> list[Any]:
        results: list[Any] = []
        for item in items:
            try:
                results.append(self.render(item))
            except Exception as error:
                results.append(error)
        return results
