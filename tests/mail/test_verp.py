"""VERP envelope senders and mailto unsubscribe addresses: short, lowercase, signed, and checked."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from newsroom_feed.mail.compose import Composer
from newsroom_feed.mail.verp import Verp, base36, envelope_sender, outbox_id_of
from newsroom_feed.models import OutboxItem
from newsroom_feed.people.subscriptions import add_subscriber
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from ..mail_helpers import add_release

BOUNCES = "bounces@prasa.example.pl"


def with_bounces(settings: Settings, address: str | None = BOUNCES, **changes: object) -> Settings:
    bounces = settings.bounces.model_copy(update={"address": address})
    return settings.model_copy(update={"bounces": bounces, **changes})


def test_the_envelope_sender_names_the_outbox_row_in_a_short_lowercase_signed_token(
    settings: Settings,
) -> None:
    verp_settings = with_bounces(settings)
    sender = envelope_sender(verp_settings, 123456)
    assert re.fullmatch(r"bounces\+[0-9a-z]+-[a-z2-7]{10}@prasa\.example\.pl", sender)
    assert sender.startswith(f"bounces+{base36(123456)}-")
    assert len(sender) < 64
    assert outbox_id_of(verp_settings, sender) == 123456
    assert outbox_id_of(verp_settings, sender.upper()) == 123456, "a relay may change the case"
    assert outbox_id_of(verp_settings, f"Mail Delivery <{sender}>") == 123456


def test_a_forged_or_altered_token_names_no_row(settings: Settings) -> None:
    verp_settings = with_bounces(settings)
    sender = envelope_sender(verp_settings, 42)
    local, domain = sender.split("@")
    identifier, mac = local.split("+")[1].split("-")
    assert outbox_id_of(verp_settings, f"bounces+{base36(43)}-{mac}@{domain}") is None
    flipped = ("a" if mac[0] != "a" else "b") + mac[1:]
    assert outbox_id_of(verp_settings, f"bounces+{identifier}-{flipped}@{domain}") is None
    assert outbox_id_of(verp_settings, "bounces@prasa.example.pl") is None
    other_key = with_bounces(settings, secret_key=SecretStr("another-secret-key-of-32-characters!"))
    assert outbox_id_of(other_key, sender) is None


def test_a_token_signed_before_a_key_rotation_still_verifies(settings: Settings) -> None:
    old = with_bounces(settings)
    sender = envelope_sender(old, 7)
    rotated = with_bounces(
        settings,
        secret_key=SecretStr("the-new-secret-key-of-32-characters!"),
        previous_secret_keys=[settings.secret_key],
    )
    assert outbox_id_of(rotated, sender) == 7
    assert envelope_sender(rotated, 7) != sender, "new mail is signed with the new key"


def test_without_a_bounce_address_the_envelope_sender_is_the_from_address(settings: Settings) -> None:
    assert envelope_sender(settings, 5) == str(settings.mail.from_address)
    assert outbox_id_of(settings, envelope_sender(with_bounces(settings), 5)) is None


def test_an_unsubscribe_address_holds_only_for_its_subscriber_and_token(settings: Settings) -> None:
    verp = Verp.for_settings(with_bounces(settings))
    assert verp is not None
    address = verp.unsubscribe_address(9, "token-of-ania")
    assert re.fullmatch(r"bounces\+u-9-[a-z2-7]{16}@prasa\.example\.pl", address)
    [(subscriber_id, mac)] = verp.unsubscribe_claims(address.upper())
    assert subscriber_id == 9
    assert verp.unsubscribe_holds(9, "token-of-ania", mac)
    assert not verp.unsubscribe_holds(9, "token-of-someone-later-given-id-9", mac)
    assert verp.outbox_id(address) is None, "an unsubscribe token is no outbox token"


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_base36_round_trips(number: int) -> None:
    assert int(base36(number), 36) == number


def test_a_composed_message_carries_the_verp_sender_and_both_unsubscribe_forms(
    settings: Settings, store: Store, now: datetime
) -> None:
    verp_settings = with_bounces(settings)
    release = add_release(store, now, "Seminarium o transporcie publicznym")
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    item = OutboxItem(31, f"alert:{release.uid}", "alert", ania.id, (release.id,), "pending", 0)
    message = Composer(verp_settings, store, clock=lambda: now).render(item)
    assert outbox_id_of(verp_settings, message.sender) == 31
    head = message.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert "Return-Path" not in head, "the receiving server writes Return-Path, never us"
    field = re.search(r"\r\nList-Unsubscribe: (.*?)\r\n(?! )", head + "\r\n", re.S)
    assert field is not None
    value = field.group(1).replace("\r\n", "")
    assert re.fullmatch(
        r"<https://prasa\.example\.pl/unsubscribe/[^>]+>, "
        r"<mailto:bounces\+u-[0-9a-z]+-[a-z2-7]{16}@prasa\.example\.pl\?subject=unsubscribe>",
        value,
    )
    assert max(len(line) for line in head.split("\r\n")) < 200
    plain = Composer(settings, store, clock=lambda: now).render(item)
    assert plain.sender == str(settings.mail.from_address)
    assert b"mailto:" not in plain.data


@pytest.mark.parametrize("bad", ["", "bounces+@x.pl", "bounces+zz-@x.pl", "bounces+-abc@x.pl", "a+b+c@"])
def test_malformed_addresses_name_nothing(settings: Settings, bad: str) -> None:
    assert outbox_id_of(with_bounces(settings), bad) is None
