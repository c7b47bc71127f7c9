"""Verified journalists: applying with the embargo terms, verifying, refusing and revoking (one address or
a whole outlet), from the core functions and the `journalist` commands."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from newsroom_feed.cli import main
from newsroom_feed.errors import InputError
from newsroom_feed.models import utcnow
from newsroom_feed.people import consent, journalists
from newsroom_feed.people.subscriptions import get_subscriber
from newsroom_feed.settings import Settings
from newsroom_feed.store import audit
from newsroom_feed.store.audit import OPERATOR
from newsroom_feed.store.database import Store

from ..conftest import make_settings


def cli(settings: Settings, *args: str) -> int:
    return main(["--database", str(settings.database), *args])


def applicant(store: Store, settings: Settings, email: str, outlet: str, now: datetime | None = None) -> int:
    """An application as the web form stores it."""
    added = journalists.apply(
        store,
        settings,
        {"email": email, "name": email.split("@")[0], "organization": outlet, "consent_text": "Zgoda."},
        "https://gazeta.example.pl/autor",
        "LP-1234",
        now or utcnow(),
    )
    assert added is not None
    return added.id


def test_an_application_is_a_pending_immediate_journalist_who_accepted_the_current_terms(
    store: Store, settings: Settings
) -> None:
    subscriber_id = applicant(store, settings, "ania@gazeta.example.pl", "Gazeta Miejska")
    subscriber = get_subscriber(store, subscriber_id)
    assert (subscriber.status, subscriber.kind, subscriber.frequency) == (
        "pending",
        "journalist",
        "immediate",
    )
    found = journalists.get(store, "ANIA@gazeta.example.pl")
    assert (found.verification, found.work_url, found.press_card) == (
        "applied", "https://gazeta.example.pl/autor", "LP-1234"
    )  # fmt: skip
    assert found.terms_version == "2026-1"
    assert journalists.accepted_current(store, subscriber, settings)


def test_a_new_version_of_the_terms_must_be_accepted_again(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    subscriber_id = applicant(store, settings, "ania@gazeta.example.pl", "Gazeta")
    newer = make_settings(tmp_path, journalists={"terms_version": "2026-2"})
    found = journalists.get(store, subscriber_id)
    assert not journalists.accepted_current(store, found, newer)
    journalists.accept_terms(store, newer, subscriber_id, utcnow(), "operator")
    assert journalists.accepted_current(store, found, newer)
    assert not journalists.accepted_current(store, found, settings)  # the newest acceptance counts


def test_an_application_for_a_stored_address_changes_nothing(store: Store, settings: Settings) -> None:
    applicant(store, settings, "ania@gazeta.example.pl", "Gazeta")
    again = journalists.apply(
        store, settings, {"email": "Ania@gazeta.example.pl", "organization": "Inna"}, "https://x.example.pl",
        None, utcnow(),
    )  # fmt: skip
    assert again is None
    assert journalists.get(store, "ania@gazeta.example.pl").outlet == "Gazeta"


@pytest.mark.parametrize(
    "link", ["", "gazeta.example.pl/autor", "ftp://gazeta.example.pl", "https://", "javascript:alert(1)"]
)
def test_a_work_link_must_be_an_http_address(store: Store, settings: Settings, link: str) -> None:
    with pytest.raises(InputError) as refused:
        journalists.apply(store, settings, {"email": "a@example.pl"}, link, None, utcnow())
    assert refused.value.field == "work_url"
    assert journalists.listing(store) == []


def test_verify_and_revoke_are_audited_and_in_the_consent_history(store: Store, settings: Settings) -> None:
    subscriber_id = applicant(store, settings, "ania@gazeta.example.pl", "Gazeta")
    now = utcnow()
    verified = journalists.verify(store, settings, "ania@gazeta.example.pl", now, OPERATOR)
    assert verified.verification == "verified" and verified.verified_at is not None
    revoked = journalists.revoke(store, subscriber_id, now + timedelta(minutes=1), OPERATOR)
    assert revoked.verification == "revoked" and revoked.revoked_at is not None
    entries = audit.entries(store, "subscriber", subscriber_id)
    assert sorted(entry.action for entry in entries) == ["revoke", "verify"]
    changes = [event.detail for event in consent.history(store, subscriber_id) if event.event == "change"]
    assert [detail and detail["verification"] for detail in changes] == ["verified", "revoked"]


def test_only_a_verified_journalist_can_be_revoked_and_only_an_applicant_refused(
    store: Store, settings: Settings
) -> None:
    applicant(store, settings, "ania@gazeta.example.pl", "Gazeta")
    with pytest.raises(InputError):
        journalists.revoke(store, "ania@gazeta.example.pl", utcnow(), OPERATOR)
    journalists.refuse(store, "ania@gazeta.example.pl", utcnow(), OPERATOR)
    with pytest.raises(InputError):
        journalists.refuse(store, "ania@gazeta.example.pl", utcnow(), OPERATOR)
    assert journalists.get(store, "ania@gazeta.example.pl").verification == "refused"


# -- the commands -----------------------------------------------------------------------------------


def test_cli_verify_with_terms_accepted_then_list_json(
    store: Store, settings: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    applicant(store, settings, "ania@gazeta.example.pl", "Gazeta")
    applicant(store, settings, "jan@radio.example.pl", "Radio")
    newer = make_settings(tmp_path, journalists={"terms_version": "2027-1"})
    config = tmp_path / "newer.toml"
    config.write_text('[journalists]\nterms_version = "2027-1"\n', encoding="utf-8")
    assert main(["--config", str(config), "--database", str(settings.database),
                 "journalist", "verify", "ANIA@gazeta.example.pl", "--terms-accepted"]) == 0  # fmt: skip
    capsys.readouterr()
    assert cli(settings, "journalist", "list", "--json") == 0
    listed = {item["email"]: item for item in json.loads(capsys.readouterr().out)}
    assert listed["ania@gazeta.example.pl"]["verification"] == "verified"
    assert listed["ania@gazeta.example.pl"]["terms_version"] == "2027-1"
    assert listed["ania@gazeta.example.pl"]["outlet"] == "Gazeta"
    assert listed["jan@radio.example.pl"]["verification"] == "applied"
    assert journalists.accepted_current(store, journalists.get(store, "ania@gazeta.example.pl"), newer)
    assert cli(settings, "journalist", "list", "--json", "--status", "applied") == 0
    assert [item["email"] for item in json.loads(capsys.readouterr().out)] == ["jan@radio.example.pl"]


def test_cli_revoke_outlet_revokes_everyone_verified_there_and_nobody_else(
    store: Store, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    people = [
        ("a@gazeta.example.pl", "Gazeta Łódzka"),
        ("b@gazeta.example.pl", "gazeta łódzka "),
        ("c@gazeta.example.pl", "Gazeta Łódzka"),
        ("d@radio.example.pl", "Radio"),
    ]
    for email, outlet in people:
        applicant(store, settings, email, outlet)
    for email in ("a@gazeta.example.pl", "b@gazeta.example.pl", "d@radio.example.pl"):
        assert cli(settings, "journalist", "verify", email) == 0
    assert cli(settings, "journalist", "revoke", "--outlet", "GAZETA ŁÓDZKA") == 0
    status = {item.email: item.verification for item in journalists.listing(store)}
    assert status == {
        "a@gazeta.example.pl": "revoked", "b@gazeta.example.pl": "revoked",
        "c@gazeta.example.pl": "applied", "d@radio.example.pl": "verified",
    }  # fmt: skip
    assert cli(settings, "journalist", "revoke", "--outlet", "Gazeta Łódzka") == 1  # nobody verified left


def test_cli_exit_codes_for_bad_input_and_unknown_addresses(store: Store, settings: Settings) -> None:
    applicant(store, settings, "ania@gazeta.example.pl", "Gazeta")
    assert cli(settings, "journalist", "verify", "nikt@example.pl") == 1
    assert cli(settings, "journalist", "revoke", "nikt@example.pl") == 1
    assert cli(settings, "journalist", "revoke") == 2  # neither an address nor --outlet
    assert cli(settings, "journalist", "revoke", "ania@gazeta.example.pl") == 2  # not verified
    assert cli(settings, "journalist", "list", "--status", "famous") == 2
    assert cli(settings, "journalist", "refuse", "ania@gazeta.example.pl") == 0
    assert journalists.get(store, "ania@gazeta.example.pl").verification == "refused"
