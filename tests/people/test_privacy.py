"""Retention: subscribers who never confirm, the change log and SMTP replies are pruned after the days the
`[privacy]` settings give, by `maintenance.prune`, `newsroom-feed prune` and the daemon; and what must
never be pruned (the changes the next build still needs, the withdrawal of someone who asked again)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsroom_feed import planner
from newsroom_feed.cli import main
from newsroom_feed.daemon import Daemon
from newsroom_feed.mail import outbox
from newsroom_feed.maintenance import PruneReport, prune
from newsroom_feed.models import ReleaseInput, iso, utcnow
from newsroom_feed.people.subscriptions import (
    add_subscriber,
    confirm,
    consent_history,
    get_subscriber,
    list_subscribers,
    request_subscription,
    unsubscribe,
)
from newsroom_feed.scheduler import Clock
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from ..conftest import NOW, make_settings
from ..smtp_server import SmtpServer

CONSENT = "Zgadzam się na otrzymywanie informacji prasowych."
DAY = timedelta(days=1)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Retention shorter than the defaults, so a test shows the settings are what counts."""
    return make_settings(tmp_path, privacy={"unconfirmed_days": 10, "changes_days": 30, "replies_days": 60})


def asks(store: Store, email: str, at: datetime, **more: object) -> None:
    request_subscription(store, {"email": email, "consent_text": CONSENT, **more}, at)


def emails(store: Store) -> list[str]:
    return [subscriber.email for subscriber in list_subscribers(store)]


# -- unconfirmed subscribers ------------------------------------------------------------------------


def test_subscribers_who_never_confirm_are_erased_after_the_set_days(
    store: Store, settings: Settings
) -> None:
    asks(store, "stary@example.pl", NOW - 11 * DAY)
    asks(store, "swiezy@example.pl", NOW - 9 * DAY)
    asks(store, "ponowny@example.pl", NOW - 20 * DAY)
    asks(store, "ponowny@example.pl", NOW - 5 * DAY)  # asked again: a new mail, a new link
    confirmed = add_subscriber(
        store, {"email": "potwierdzony@example.pl"}, NOW - 30 * DAY, double_opt_in=True
    )
    confirm(store, confirmed.token, NOW - 29 * DAY)
    add_subscriber(store, {"email": "operator@example.pl"}, NOW - 100 * DAY)

    report = prune(store, settings, NOW)
    assert (report.unconfirmed, report.lapsed) == (1, 0)
    assert emails(store) == [
        "swiezy@example.pl", "ponowny@example.pl", "potwierdzony@example.pl", "operator@example.pl",
    ]  # fmt: skip
    assert "stary@example.pl" not in [row.email for row in outbox.list_rows(store)]
    assert prune(store, settings, NOW) == PruneReport()  # twice in a row removes nothing more


def test_someone_who_withdrew_asked_again_and_never_confirmed_is_unsubscribed_again_with_history(
    store: Store, settings: Settings
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl", "name": "Anna Nowak"}, NOW - 100 * DAY)
    unsubscribe(store, ania.token, NOW - 50 * DAY)
    asks(store, "ania@example.pl", NOW - 11 * DAY, name="Ktoś Obcy")
    assert get_subscriber(store, ania.id).status == "pending"

    report = prune(store, settings, NOW)
    assert (report.unconfirmed, report.lapsed) == (0, 1)
    kept = get_subscriber(store, ania.id)
    assert (kept.status, kept.name, kept.unsubscribed_at) == ("unsubscribed", "Anna Nowak", NOW - 50 * DAY)
    history = consent_history(store, "ania@example.pl")
    assert [(event.event, event.at) for event in history] == [
        ("opt-in", NOW - 100 * DAY), ("withdrawal", NOW - 50 * DAY), ("opt-in", NOW - 11 * DAY),
    ]  # fmt: skip
    assert history[-1].detail is None  # the unconfirmed request's choices are not kept
    assert [row for row in outbox.list_rows(store) if row.status == "pending"] == []


# -- the change log ---------------------------------------------------------------------------------


def _add(store: Store, title: str, at: datetime) -> str:
    return store.add_release(ReleaseInput.parse({"title": title}, store.zone), at).slug


def test_old_change_log_rows_are_pruned_but_never_those_the_next_build_needs(
    store: Store, settings: Settings
) -> None:
    _add(store, "Pierwszy komunikat", NOW - 40 * DAY)
    planner.build(store, settings, NOW - 40 * DAY)
    cursor = store.build_state().change_cursor
    later = _add(store, "Komunikat po ostatnim buildzie", NOW - 35 * DAY)
    with store.transaction():  # a build that has kept failing since: every row is old
        store.conn.execute("UPDATE changes SET at = ?", (iso(NOW - 35 * DAY),))
    unread = store.conn.execute("SELECT count(*) FROM changes WHERE id > ?", (cursor,)).fetchone()[0]
    assert unread > 0

    report = prune(store, settings, NOW)
    assert report.changes == cursor
    assert [change.id for change in store.changes_after(0)] == [
        change.id for change in store.changes_after(cursor)
    ]
    assert len(store.changes_after(cursor)) == unread
    planner.build(store, settings, NOW)
    assert (settings.public_dir / "releases" / later / "index.html").is_file()


def test_recent_change_log_rows_stay(store: Store, settings: Settings) -> None:
    _add(store, "Świeży komunikat", NOW)
    planner.build(store, settings, NOW)
    before = len(store.changes_after(0))
    with store.transaction():
        store.conn.execute("UPDATE changes SET at = ?", (iso(NOW - 29 * DAY),))
    assert prune(store, settings, NOW).changes == 0
    assert len(store.changes_after(0)) == before


# -- SMTP replies -----------------------------------------------------------------------------------


def test_smtp_replies_older_than_the_set_days_are_pruned_and_the_outbox_keeps_its_rows(
    store: Store, settings: Settings
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl"}, NOW - 100 * DAY)
    outbox.enqueue(
        store,
        [
            outbox.NewMessage(ania.id, "alert:old", "alert", (1,)),
            outbox.NewMessage(ania.id, "alert:new", "alert", (2,)),
        ],
        NOW - 100 * DAY,
    )
    with store.transaction():
        store.conn.execute("UPDATE outbox SET status = 'sent', attempts = 2")
        for key, at in (("alert:old", NOW - 61 * DAY), ("alert:new", NOW - 59 * DAY)):
            store.conn.executemany(
                "INSERT INTO deliveries (outbox_id, attempt, at, code, reply, outcome) "
                "SELECT id, ?, ?, ?, ?, ? FROM outbox WHERE key = ?",
                [
                    (1, iso(at - DAY), 450, "4.2.2 <ania@example.pl> mailbox full", "transient", key),
                    (2, iso(at), 250, "2.0.0 Ok: queued as ABC", "sent", key),
                ],
            )

    assert prune(store, settings, NOW).replies == 2
    replies = store.conn.execute("SELECT reply FROM deliveries ORDER BY id").fetchall()
    assert [reply for (reply,) in replies] == [
        "4.2.2 <ania@example.pl> mailbox full",
        "2.0.0 Ok: queued as ABC",
    ]
    assert [(row.key, row.status, row.attempts) for row in outbox.list_rows(store)] == [
        ("alert:new", "sent", 2), ("alert:old", "sent", 2),
    ]  # fmt: skip


# -- who runs it ------------------------------------------------------------------------------------


def test_newsroom_feed_prune_prints_what_it_removed(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """From cron: the real clock, the defaults of the settings (14 days for an unconfirmed address)."""
    with Store(settings.database) as store:
        asks(store, "stary@example.pl", utcnow() - 15 * DAY)
        asks(store, "nowy@example.pl", utcnow())
    argv = ["--database", str(settings.database), "prune"]
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"unconfirmed": 1, "lapsed": 0, "changes": 0, "replies": 0}
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("Removed 0 unconfirmed subscribers, ")
    with Store(settings.database) as store:
        assert emails(store) == ["nowy@example.pl"]


async def _noop(*args: object) -> None:
    return None


async def test_the_clock_prunes_at_start_and_then_every_day(settings: Settings) -> None:
    pruned = asyncio.Event()

    async def on_prune() -> None:
        pruned.set()

    clock = Clock(settings, on_lift=_noop, on_digest=_noop, on_prune=on_prune)
    clock.start()
    try:
        await asyncio.wait_for(pruned.wait(), 5)
        next_run = clock.next_runs()["prune"]
    finally:
        clock.shutdown()
    assert timedelta(hours=23, minutes=59) < next_run - datetime.now(UTC) <= DAY


@pytest.mark.slow
async def test_the_daemon_erases_unconfirmed_subscribers_when_it_starts(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = make_settings(tmp_path, smtp={"port": smtp_server.port})
    with Store.for_settings(settings) as store:
        asks(store, "stary@example.pl", utcnow() - 15 * DAY)
        with store.transaction():  # its confirmation went out long ago
            store.conn.execute("UPDATE outbox SET status = 'sent'")
    daemon = Daemon(settings, web=False)
    serving = asyncio.ensure_future(daemon.serve(signals=False))
    try:
        await asyncio.wait_for(daemon.started.wait(), 20)
        with Store.for_settings(settings) as store:
            for _ in range(200):
                if not emails(store):
                    break
                await asyncio.sleep(0.05)
            assert emails(store) == []
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(serving, 20) == 0
