"""Planning mail: alerts when releases become visible, and digest runs with a watermark."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from newsroom_feed.cli import main
from newsroom_feed.errors import InputError
from newsroom_feed.models import Release, utcnow
from newsroom_feed.planner import announce, plan_digest
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from .mail_helpers import add_release, add_subscriber
from .smtp_server import SmtpServer


def _publish(store: Store, settings: Settings, at: datetime, title: str, **fields: object) -> Release:
    """A release published at ``at`` and seen by a build at that moment, as the daemon would."""
    release = add_release(store, at, title, published_at=at.isoformat(), **fields)
    announce(store, settings, at)
    return release


def _outbox(store: Store, kind: str = "%") -> list[tuple[str, str, str]]:
    rows = store.conn.execute(
        "SELECT s.email, o.key, o.release_ids FROM outbox o JOIN subscribers s ON s.id = o.subscriber_id "
        "WHERE o.kind LIKE ? ORDER BY s.email, o.key",
        (kind,),
    ).fetchall()
    return [tuple(row) for row in rows]


def test_a_new_release_alerts_matching_immediate_subscribers_once(
    store: Store, settings: Settings, now: datetime
) -> None:
    add_subscriber(store, "all@example.pl")
    add_subscriber(store, "kultura@example.pl", categories=["kultura"])
    add_subscriber(store, "sport@example.pl", categories=["sport"])
    add_subscriber(store, "daily@example.pl", frequency="daily")
    add_subscriber(store, "gone@example.pl", status="unsubscribed")
    release = add_release(store, now, "Złote Lajki 2026", categories=["kultura"])
    assert announce(store, settings, now) == [release.id]
    assert announce(store, settings, now + timedelta(minutes=1)) == []
    key = f"alert:{release.uid}"
    assert _outbox(store) == [
        ("all@example.pl", key, f"[{release.id}]"),
        ("kultura@example.pl", key, f"[{release.id}]"),
    ]


def test_an_urgent_release_alerts_daily_and_weekly_subscribers_too(
    store: Store, settings: Settings, now: datetime
) -> None:
    add_subscriber(store, "daily@example.pl", frequency="daily")
    add_subscriber(store, "weekly@example.pl", frequency="weekly", categories=["kultura"])
    add_subscriber(store, "weekly-sport@example.pl", frequency="weekly", categories=["sport"])
    release = add_release(store, now, "Pilne: awaria wodociągu", categories=["kultura"], urgent=True)
    announce(store, settings, now)
    assert [row[0] for row in _outbox(store)] == ["daily@example.pl", "weekly@example.pl"]
    assert {row[1] for row in _outbox(store)} == {f"alert:{release.uid}"}


def test_an_embargoed_release_is_alerted_when_its_embargo_lifts(
    store: Store, settings: Settings, now: datetime
) -> None:
    add_subscriber(store, "anna@example.pl")
    lift = now + timedelta(hours=2)
    release = add_release(store, now, "Pod embargiem", embargo_until=lift.isoformat())
    assert announce(store, settings, now) == []
    assert _outbox(store) == []
    assert announce(store, settings, lift) == [release.id]
    assert len(_outbox(store)) == 1


def test_importing_old_releases_sends_no_alerts(store: Store, settings: Settings, now: datetime) -> None:
    add_subscriber(store, "anna@example.pl")
    old = add_release(store, now, "Archiwum 2019", published_at="2019-05-01T10:00:00+02:00")
    assert announce(store, settings, now) == [old.id]
    assert _outbox(store) == []
    assert announce(store, settings, now) == []


def test_digest_lists_the_subscribers_releases_of_the_period(
    store: Store, settings: Settings, now: datetime
) -> None:
    add_subscriber(store, "kultura@example.pl", frequency="daily", categories=["kultura"])
    add_subscriber(store, "sport@example.pl", frequency="daily", categories=["sport"])
    add_subscriber(store, "immediate@example.pl")
    add_subscriber(store, "weekly@example.pl", frequency="weekly")
    early = _publish(store, settings, now - timedelta(days=2), "Przedwczoraj", categories=["kultura"])
    first = _publish(store, settings, now - timedelta(hours=3), "Teatr", categories=["kultura"])
    second = _publish(store, settings, now - timedelta(hours=2), "Muzeum", categories=["kultura"])
    plan = plan_digest(store, settings, "daily", now)
    assert (plan.period_start, plan.period_end, plan.planned) == (now - timedelta(days=1), now, 1)
    key = "digest:daily:2026-11-26T09:30:00Z"
    assert _outbox(store, "digest") == [("kultura@example.pl", key, f"[{second.id},{first.id}]")]
    assert early.id not in (first.id, second.id)


def test_a_missed_digest_run_is_caught_up_once_and_nothing_is_sent_twice(
    store: Store, settings: Settings, now: datetime
) -> None:
    add_subscriber(store, "anna@example.pl", frequency="daily")
    monday = now
    a = _publish(store, settings, monday - timedelta(hours=1), "Poniedziałek")
    assert plan_digest(store, settings, "daily", monday).planned == 1
    # Tuesday's run is missed (the daemon was down); two releases appear meanwhile.
    b = _publish(store, settings, monday + timedelta(days=1, hours=-1), "Wtorek")
    c = _publish(store, settings, monday + timedelta(days=2, hours=-1), "Środa")
    wednesday = monday + timedelta(days=2)
    plan = plan_digest(store, settings, "daily", wednesday)
    assert (plan.period_start, plan.planned) == (monday, 1)
    assert plan_digest(store, settings, "daily", wednesday).planned == 0
    assert plan_digest(store, settings, "daily", wednesday + timedelta(minutes=5)).planned == 0
    ids = [row[2] for row in _outbox(store, "digest")]
    assert ids == [f"[{a.id}]", f"[{c.id},{b.id}]"]
    runs = store.conn.execute("SELECT period_start, period_end FROM digest_runs ORDER BY id").fetchall()
    assert [tuple(r) for r in runs] == [
        ("2026-11-25T09:30:00Z", "2026-11-26T09:30:00Z"),
        ("2026-11-26T09:30:00Z", "2026-11-28T09:30:00Z"),
        ("2026-11-28T09:30:00Z", "2026-11-28T09:35:00Z"),
    ]


def test_a_release_backdated_into_a_period_already_sent_goes_into_the_next_digest(
    store: Store, settings: Settings, now: datetime
) -> None:
    """Added at 10:35 with a publication time of 10:25, after the 10:30 run: not lost, not sent twice."""
    add_subscriber(store, "anna@example.pl", frequency="daily")
    _publish(store, settings, now - timedelta(hours=1), "Przed wysyłką")
    assert plan_digest(store, settings, "daily", now).planned == 1
    late = add_release(
        store, now + timedelta(minutes=5), "Dopisany", published_at=(now - timedelta(minutes=5)).isoformat()
    )
    announce(store, settings, now + timedelta(minutes=5))
    assert plan_digest(store, settings, "daily", now + timedelta(days=1)).planned == 1
    assert _outbox(store, "digest")[-1][2] == f"[{late.id}]"


def test_an_import_of_old_releases_is_not_news_for_the_digest(
    store: Store, settings: Settings, now: datetime
) -> None:
    add_subscriber(store, "anna@example.pl", frequency="daily")
    add_release(store, now - timedelta(hours=1), "Archiwum 2019", published_at="2019-05-01T10:00:00+02:00")
    announce(store, settings, now - timedelta(hours=1))
    assert plan_digest(store, settings, "daily", now).planned == 0


def test_the_first_weekly_digest_covers_seven_days(store: Store, settings: Settings, now: datetime) -> None:
    add_subscriber(store, "anna@example.pl", frequency="weekly")
    _publish(store, settings, now - timedelta(days=6), "Sprzed sześciu dni")
    _publish(store, settings, now - timedelta(days=8), "Sprzed ośmiu dni")
    plan = plan_digest(store, settings, "weekly", now)
    assert plan.period_start == now - timedelta(days=7)
    assert len(_outbox(store, "digest")[0][2].split(",")) == 1


def test_an_unknown_digest_frequency_is_refused(store: Store, settings: Settings, now: datetime) -> None:
    with pytest.raises(InputError, match="frequency"):
        plan_digest(store, settings, "hourly", now)


# -- digest preview | send --------------------------------------------------------------------------


def _daily_digest_material(store: Store, settings: Settings) -> None:
    now = utcnow()
    add_subscriber(store, "anna@example.pl", name="Anna Żółć", frequency="daily", categories=["kultura"])
    add_subscriber(store, "jan@example.pl", frequency="daily")
    add_subscriber(store, "sport@example.pl", frequency="daily", categories=["sport"])
    add_release(store, now, "Złote Lajki 2026 wręczone", categories=["kultura"])
    add_release(store, now, "Nowy przystanek", categories=["transport"])
    announce(store, settings, now)


def _counts(store: Store) -> tuple[int, int]:
    outbox_rows = store.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    runs = store.conn.execute("SELECT count(*) FROM digest_runs").fetchone()[0]
    return outbox_rows, runs


def test_digest_preview_writes_the_exact_messages_and_changes_nothing(
    store: Store,
    settings: Settings,
    cli_env: None,
    tmp_path: Path,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _daily_digest_material(store, settings)
    out = tmp_path / "preview"
    assert main(["digest", "preview", "--frequency", "daily", "--out", str(out)]) == 0
    names = sorted(path.name for path in out.iterdir())
    assert names == [
        "001-anna@example.pl.eml", "001-anna@example.pl.html", "002-jan@example.pl.eml",
        "002-jan@example.pl.html",
    ]  # fmt: skip
    message = email.message_from_bytes(
        (out / "001-anna@example.pl.eml").read_bytes(), policy=email.policy.default
    )
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/alternative"
    assert message["X-Newsroom-Kind"] == "digest"
    html = (out / "001-anna@example.pl.html").read_text(encoding="utf-8")
    assert "Złote Lajki 2026 wręczone" in html and "Nowy przystanek" not in html
    jan = (out / "002-jan@example.pl.html").read_text(encoding="utf-8")
    assert "Złote Lajki 2026 wręczone" in jan and "Nowy przystanek" in jan
    assert _counts(store) == (0, 0)
    assert smtp_server.received == []

    single = tmp_path / "single"
    assert (
        main(
            [
                "digest",
                "preview",
                "--frequency",
                "daily",
                "--subscriber",
                "JAN@example.pl",
                "--out",
                str(single),
            ]
        )
        == 0
    )
    assert sorted(path.name for path in single.iterdir()) == [
        "001-jan@example.pl.eml",
        "001-jan@example.pl.html",
    ]


def test_digest_send_plans_the_period_then_sends_and_a_second_run_sends_nothing(
    store: Store,
    settings: Settings,
    cli_env: None,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _daily_digest_material(store, settings)
    assert main(["digest", "send", "--frequency", "daily", "--dry-run"]) == 0
    assert "Would plan 2 daily digests" in capsys.readouterr().out
    assert _counts(store) == (0, 0)
    assert main(["digest", "send", "--frequency", "daily"]) == 0
    output = capsys.readouterr().out
    assert "Planned 2 daily digests" in output and "sent 2, waiting 0, failed 0" in output
    assert sorted(r.recipients[0] for r in smtp_server.received) == ["anna@example.pl", "jan@example.pl"]
    assert main(["digest", "send", "--frequency", "daily"]) == 0
    assert "Planned 0 daily digests" in capsys.readouterr().out
    assert len(smtp_server.received) == 2


def test_a_release_first_seen_in_the_second_a_digest_ran_goes_into_the_next_digest(
    store: Store, settings: Settings, now: datetime
) -> None:
    """Times are kept to the second: a build in the same second as the run, after it, must not drop a
    release between two periods."""
    add_subscriber(store, "daily@example.pl", frequency="daily")
    _publish(store, settings, now - timedelta(hours=1), "Wcześniejszy komunikat")
    assert plan_digest(store, settings, "daily", now).planned == 1
    late = _publish(store, settings, now, "Komunikat z tej samej sekundy")
    next_run = plan_digest(store, settings, "daily", now + timedelta(days=1))
    assert next_run.planned == 1
    assert _outbox(store, "digest")[-1][2] == f"[{late.id}]"
