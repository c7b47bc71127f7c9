"""Consent history: every opt-in, confirmation, change and withdrawal recorded with time, source and consent
text version; signing up again after unsubscribing; nobody without the subscriber's link rewrites them."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from newsroom_feed.cli import main
from newsroom_feed.mail import outbox
from newsroom_feed.people.subscriptions import (
    add_subscriber,
    confirm,
    consent_history,
    get_subscriber,
    link_issued_at,
    link_token,
    request_subscription,
    unsubscribe,
    update_preferences,
)
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app
from newsroom_feed.web.texts import consent_text

from ..web_helpers import ServerThread, serve, submit

CONSENT = "Zgadzam się na otrzymywanie informacji prasowych."
VERSION = hashlib.sha256(CONSENT.encode("utf-8")).hexdigest()[:12]


def cli(settings: Settings, *args: str) -> int:
    return main(["--database", str(settings.database), *args])


def web_data(email: str = "ania@example.pl", **more: object) -> dict[str, object]:
    return {"email": email, "name": "Anna Nowak", "consent_text": CONSENT, **more}


def events(store: Store, email: str = "ania@example.pl") -> list[tuple[str, str]]:
    return [(event.event, event.source) for event in consent_history(store, email)]


def confirmations_queued(store: Store) -> int:
    return sum(row.kind == "confirmation" and row.status == "pending" for row in outbox.list_rows(store))


# -- the history ------------------------------------------------------------------------------------


def test_opt_in_confirmation_change_and_withdrawal_are_recorded_with_time_source_and_version(
    store: Store, now: datetime
) -> None:
    asked = request_subscription(store, web_data(frequency="daily"), now)
    token = asked.subscriber.token
    confirm(store, token, now + timedelta(minutes=5))
    update_preferences(
        store, token, {"frequency": "weekly", "categories": ["kultura"]}, now + timedelta(days=1)
    )
    update_preferences(store, token, {"frequency": "weekly"}, now + timedelta(days=2))  # changes nothing
    unsubscribe(store, token, now + timedelta(days=3), source="one-click (RFC 8058)")
    history = consent_history(store, "ania@example.pl")
    assert [(e.event, e.source, e.at) for e in history] == [
        ("opt-in", "web", now),
        ("confirmation", "confirmation link", now + timedelta(minutes=5)),
        ("change", "preferences page", now + timedelta(days=1)),
        ("withdrawal", "one-click (RFC 8058)", now + timedelta(days=3)),
    ]
    assert history[0].consent_text == CONSENT
    assert (history[0].consent_version, history[1].consent_version) == (VERSION, VERSION)
    assert history[2].detail == {"frequency": "weekly", "categories": ["kultura"]}


def test_operator_adds_and_imports_are_opt_ins_from_the_operator(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(settings, "subscriber", "add", "ania@example.pl", "--consent-text", CONSENT) == 0
    csv = tmp_path / "people.csv"
    csv.write_text(
        "email,name,kind,organization,categories,frequency,language\njan@example.pl,Jan,other,,,daily,pl\n",
        encoding="utf-8",
    )
    assert cli(settings, "subscriber", "import", str(csv), "--double-opt-in") == 0
    with Store(settings.database) as store:
        ania = consent_history(store, "ania@example.pl")
        jan = consent_history(store, "jan@example.pl")
    assert [(e.event, e.source, e.consent_version, e.detail) for e in ania] == [
        ("opt-in", "operator", VERSION, {"via": "subscriber add"})
    ]
    assert [(e.event, e.source, e.detail) for e in jan] == [
        ("opt-in", "operator", {"via": "subscriber import", "double_opt_in": True})
    ]


# -- asking again after unsubscribing ---------------------------------------------------------------


def test_signing_up_again_after_unsubscribing_keeps_the_withdrawal_and_needs_a_new_confirmation(
    store: Store, now: datetime
) -> None:
    first = request_subscription(store, web_data(frequency="daily"), now)
    confirm(store, first.subscriber.token, now)
    unsubscribe(store, first.subscriber.token, now + timedelta(days=30))
    later = now + timedelta(days=60)
    again = request_subscription(store, web_data(name="Anna Kowalska", frequency="weekly"), later)
    assert again.send_confirmation
    assert confirmations_queued(store) == 1
    waiting = get_subscriber(store, "ania@example.pl")
    assert waiting.status == "pending"  # gets nothing but the confirmation mail
    assert (waiting.name, waiting.frequency) == ("Anna Nowak", "daily")
    assert waiting.unsubscribed_at == now + timedelta(days=30)

    confirmed = confirm(store, waiting.token, later + timedelta(minutes=10))
    assert confirmed.status == "active"
    assert (confirmed.name, confirmed.frequency, confirmed.consent_at) == ("Anna Kowalska", "weekly", later)
    assert confirmed.unsubscribed_at is None
    assert events(store) == [
        ("opt-in", "web"),
        ("confirmation", "confirmation link"),
        ("withdrawal", "unsubscribe page"),
        ("opt-in", "web"),
        ("confirmation", "confirmation link"),
    ]


def test_the_operator_cannot_re_add_someone_who_unsubscribed_without_double_opt_in(
    settings: Settings, capsys: pytest.CaptureFixture[str], now: datetime
) -> None:
    with Store(settings.database) as store:
        ania = add_subscriber(store, {"email": "ania@example.pl", "name": "Anna Nowak"}, now)
        unsubscribe(store, ania.token, now)
    assert cli(settings, "subscriber", "add", "ANIA@example.pl", "--name", "Ktoś Inny") == 2
    err = capsys.readouterr().err
    assert "email" in err and "unsubscribed" in err and "--double-opt-in" in err
    with Store(settings.database) as store:
        assert get_subscriber(store, ania.id).status == "unsubscribed"
        assert confirmations_queued(store) == 0

    assert (
        cli(settings, "subscriber", "add", "ania@example.pl", "--name", "Ktoś Inny", "--double-opt-in") == 0
    )
    with Store(settings.database) as store:
        again = get_subscriber(store, ania.id)
        assert (again.status, again.name) == ("pending", "Anna Nowak")
        assert confirmations_queued(store) == 1
        assert events(store) == [
            ("opt-in", "operator"),
            ("withdrawal", "unsubscribe page"),
            ("opt-in", "operator"),
        ]


def test_an_active_or_pending_address_cannot_be_added_twice(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(settings, "subscriber", "add", "ania@example.pl") == 0
    assert cli(settings, "subscriber", "add", "ania@example.pl", "--double-opt-in") == 2
    assert "already a subscriber (active)" in capsys.readouterr().err


# -- nobody without the link rewrites a subscriber --------------------------------------------------


def test_a_request_for_a_pending_address_changes_nothing_until_its_link_is_used(
    store: Store, now: datetime
) -> None:
    owner = request_subscription(store, web_data(frequency="daily", categories=["kultura"]), now)
    stranger = web_data(
        name="Mallory", organization="Spam Sp. z o.o.", frequency="immediate", consent_text="x"
    )
    request_subscription(store, stranger, now + timedelta(minutes=5))
    kept = get_subscriber(store, "ania@example.pl")
    assert (kept.name, kept.organization, kept.frequency, kept.categories) == (
        "Anna Nowak", None, "daily", ("kultura",),
    )  # fmt: skip
    assert (kept.consent_text, kept.consent_at) == (CONSENT, now)
    # The owner follows the link of the mail sent for her own request, before the stranger's came in.
    confirmed = confirm(store, owner.subscriber.token, now + timedelta(hours=2), issued_at=now)
    assert (confirmed.status, confirmed.name, confirmed.frequency, confirmed.consent_text) == (
        "active", "Anna Nowak", "daily", CONSENT,
    )  # fmt: skip


def test_the_link_of_a_later_mail_confirms_the_later_request(store: Store, now: datetime) -> None:
    first = request_subscription(store, web_data(frequency="daily"), now)
    request_subscription(store, web_data(name="Anna Kowalska", frequency="weekly"), now + timedelta(hours=2))
    confirmed = confirm(
        store, first.subscriber.token, now + timedelta(hours=3), issued_at=now + timedelta(hours=2)
    )
    assert (confirmed.name, confirmed.frequency) == ("Anna Kowalska", "weekly")


def test_a_confirmation_link_from_before_a_withdrawal_brings_nobody_back(
    store: Store, settings: Settings, now: datetime
) -> None:
    first = request_subscription(store, web_data(), now)
    old_link = link_token(settings, first.subscriber, "confirm", now)
    confirm(store, first.subscriber.token, now + timedelta(minutes=5))
    unsubscribe(store, first.subscriber.token, now + timedelta(days=1))
    request_subscription(store, web_data(), now + timedelta(days=2))  # someone asks for her again
    issued = link_issued_at(old_link)
    assert issued == now
    still = confirm(store, first.subscriber.token, now + timedelta(days=2, minutes=1), issued_at=issued)
    assert still.status == "pending"
    assert events(store)[-1] == ("opt-in", "web")


def test_a_request_that_sends_no_mail_changes_nothing(store: Store, now: datetime) -> None:
    """Within the hour of the last confirmation mail nothing is sent, so no link could confirm it."""
    request_subscription(store, web_data(), now)
    again = request_subscription(store, web_data(name="Ktoś Obcy"), now + timedelta(minutes=30))
    assert not again.send_confirmation
    assert events(store) == [("opt-in", "web")]


@pytest.fixture
def server(settings: Settings, store: Store) -> Iterator[ServerThread]:
    store.set_category("kultura", "Kultura")
    store.set_category("transport", "Transport")
    with serve(create_app(settings)) as running:
        yield running


FORM = {"email": "ania@example.pl", "name": "Anna Nowak", "kind": "journalist", "organization": "Gazeta",
        "categories": ["kultura"], "frequency": "daily", "consent": "yes"}  # fmt: skip


def test_the_web_form_for_a_stored_address_looks_the_same_and_rewrites_nothing(
    server: ServerThread, store: Store
) -> None:
    with httpx.Client(base_url=server.url) as owner:
        assert submit(owner, "/subscribe", FORM).status_code == 303
    with httpx.Client(base_url=server.url) as stranger:
        rewrite = {
            **FORM,
            "name": "Mallory",
            "organization": "Spam",
            "categories": ["transport"],
            "lang": "en",
        }
        known = submit(stranger, "/subscribe?lang=en", rewrite)
        new = submit(stranger, "/subscribe?lang=en", {**rewrite, "email": "nowy@example.pl"})
        assert (known.status_code, known.headers["location"]) == (new.status_code, new.headers["location"])
        assert stranger.get(known.headers["location"]).text == stranger.get(new.headers["location"]).text
    kept = get_subscriber(store, "ania@example.pl")
    assert (kept.status, kept.name, kept.organization, kept.categories, kept.language) == (
        "pending", "Anna Nowak", "Gazeta", ("kultura",), "pl",
    )  # fmt: skip
    assert kept.consent_text == consent_text("pl")


def test_the_web_pages_record_how_someone_withdrew(
    server: ServerThread, settings: Settings, store: Store, now: datetime
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    jan = add_subscriber(store, {"email": "jan@example.pl"}, now)
    with httpx.Client(base_url=server.url) as client:
        one_click = client.post(
            f"/unsubscribe/{link_token(settings, ania, 'unsubscribe')}",
            data={"List-Unsubscribe": "One-Click"},
        )
        assert one_click.status_code == 200
        page = f"/unsubscribe/{link_token(settings, jan, 'unsubscribe')}"
        assert submit(client, page, {}).status_code == 200
    assert events(store, "ania@example.pl")[-1] == ("withdrawal", "one-click (RFC 8058)")
    assert events(store, "jan@example.pl")[-1] == ("withdrawal", "unsubscribe page")


# -- showing and erasing it -------------------------------------------------------------------------


def test_subscriber_history_prints_the_events_and_json(
    settings: Settings, capsys: pytest.CaptureFixture[str], now: datetime
) -> None:
    with Store(settings.database) as store:
        asked = request_subscription(store, web_data(), now)
        confirm(store, asked.subscriber.token, now + timedelta(minutes=3))
    capsys.readouterr()
    assert cli(settings, "subscriber", "history", "ANIA@example.pl") == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("2026-11-26 10:30\topt-in\tweb\tconsent " + VERSION)
    assert lines[1].startswith("2026-11-26 10:33\tconfirmation\tconfirmation link")
    assert "2 events" in out.err
    assert cli(settings, "subscriber", "history", "ania@example.pl", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert [set(item) for item in document] == [
        {"at", "event", "source", "consent_version", "consent_text", "detail"}
    ] * 2
    assert document[0] | {"detail": None} == {
        "at": "2026-11-26T09:30:00Z", "event": "opt-in", "source": "web", "consent_version": VERSION,
        "consent_text": CONSENT, "detail": None,
    }  # fmt: skip
    assert cli(settings, "subscriber", "history", "nobody@example.pl") == 1
    assert "nobody@example.pl" in capsys.readouterr().err


def test_subscriber_remove_erases_the_consent_history_with_the_rest(
    settings: Settings, now: datetime
) -> None:
    with Store(settings.database) as store:
        ania = add_subscriber(store, {"email": "ania@example.pl", "consent_text": CONSENT}, now)
        unsubscribe(store, ania.token, now)
        add_subscriber(store, {"email": "jan@example.pl"}, now)
    assert cli(settings, "subscriber", "remove", "ania@example.pl") == 0
    conn = sqlite3.connect(settings.database)
    try:
        remaining = conn.execute("SELECT subscriber_id, event FROM consent_events").fetchall()
        ids = [row[0] for row in conn.execute("SELECT id FROM subscribers")]
    finally:
        conn.close()
    assert [event for _, event in remaining] == ["opt-in"]  # jan's only
    assert {subscriber_id for subscriber_id, _ in remaining} == set(ids)
