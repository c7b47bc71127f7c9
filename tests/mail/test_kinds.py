"""Message kinds: keys made and read back, who may receive each, an unknown kind refused, and a new kind
added by registering one object (its templates from the operator's directory)."""

from __future__ import annotations

import email
from datetime import datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from newsroom_feed.errors import NewsroomError, UnknownMessageKind
from newsroom_feed.mail.compose import Composer
from newsroom_feed.mail.kinds import (
    ALERT,
    CONFIRMATION,
    DIGEST,
    KINDS,
    DigestPeriod,
    ListChoice,
    MessageKind,
    kind_named,
)
from newsroom_feed.mail.templates import ReleaseView
from newsroom_feed.models import OutboxItem, OutgoingMessage, Release, ReleaseInput, Subscriber
from newsroom_feed.people.subscriptions import add_subscriber
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.store.database import Store


def item(kind: str, key: str, release_ids: tuple[int, ...], subscriber_id: int) -> OutboxItem:
    return OutboxItem(1, key, kind, subscriber_id, release_ids, "pending", 0)  # type: ignore[arg-type]


def parse(message: OutgoingMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.data, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_the_registry_holds_each_kind_under_its_name() -> None:
    assert {"alert": ALERT, "digest": DIGEST, "confirmation": CONFIRMATION}.items() <= KINDS.items()
    assert all(kind_named(name).name == name for name in KINDS)


def test_an_unknown_kind_is_an_error_not_a_fallback() -> None:
    with pytest.raises(UnknownMessageKind) as raised:
        kind_named("recall")
    assert raised.value.kind == "recall"
    assert isinstance(raised.value, NewsroomError) and isinstance(raised.value, LookupError)


def test_each_key_reads_back_what_made_it(now: datetime) -> None:
    assert ALERT.key("tag:x,2026:release/1") == "alert:tag:x,2026:release/1"
    assert ALERT.read_key(ALERT.key("tag:x,2026:release/1")) == "tag:x,2026:release/1"
    assert DIGEST.key("weekly", now) == f"digest:weekly:{now:%Y-%m-%dT%H:%M:%SZ}"
    assert DIGEST.read_key(DIGEST.key("weekly", now)) == DigestPeriod("weekly", now)
    assert DIGEST.read_key("digest:x") == DigestPeriod("daily", None)  # an odd row still goes out
    assert CONFIRMATION.read_key(CONFIRMATION.key(now)) == now
    assert CONFIRMATION.read_key("confirm:1") is None


def test_only_a_confirmation_reaches_a_pending_subscriber() -> None:
    assert CONFIRMATION.may_receive("pending") and CONFIRMATION.may_receive("active")
    for kind in (ALERT, DIGEST):
        assert kind.may_receive("active") and not kind.may_receive("pending")
    assert not any(
        kind.may_receive(status) for kind in KINDS.values() for status in ("unsubscribed", "bounced")
    )


def test_a_row_of_an_unknown_kind_is_not_composed_as_any_other(
    settings: Settings, store: Store, now: datetime
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    [result] = Composer(settings, store, clock=lambda: now).render_many([item("recall", "c:1", (), ania.id)])
    assert isinstance(result, UnknownMessageKind)


class ToyKind(MessageKind):
    """A correction notice: what a new kind needs is this class and one line in `KINDS`."""

    name = "toy"

    def context(self, key: str, releases: list[ReleaseView], now: datetime) -> dict[str, Any]:
        return {"release": releases[0]}

    def list_for(self, subscriber: Subscriber, releases: list[Release]) -> ListChoice:
        return "toys", "Zabawki"

    def headers(self, releases: list[Release]) -> list[tuple[str, str]]:
        return [("X-Toy", releases[0].slug)]


def test_a_kind_registered_at_runtime_is_composed_from_its_own_object(
    settings: Settings, store: Store, now: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = tmp_path / "toy-templates"
    templates.mkdir()
    (templates / "toy.pl.txt").write_text(
        '{% extends "layout.pl.txt" %}\n{% set subject %}Sprostowanie: {{ release.title }}{% endset %}\n'
        "{% block content %}Poprawiliśmy {{ release.title }}.{% endblock %}\n",
        encoding="utf-8",
    )
    (templates / "toy.pl.html").write_text(
        '{% extends "layout.pl.html" %}\n{% block content %}<p>Poprawiliśmy {{ release.title }}.</p>'
        "{% endblock %}\n",
        encoding="utf-8",
    )
    monkeypatch.setitem(KINDS, "toy", ToyKind())
    toy_settings = load_settings(**{**settings.model_dump(), "mail": {"templates_dir": templates}})
    release = store.add_release(ReleaseInput.parse({"title": "Budżet 2027"}, store.zone), now)
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    message = Composer(toy_settings, store, clock=lambda: now).render(
        item("toy", "toy:1", (release.id,), ania.id)
    )
    parsed = parse(message)
    assert parsed["X-Newsroom-Kind"] == "toy"
    assert parsed["X-Toy"] == release.slug
    assert parsed["Subject"] == "Sprostowanie: Budżet 2027"
    assert parsed["List-Id"] == "Zabawki <toys.prasa.example.pl>"
    text = parsed.get_body(("plain",))
    assert text is not None and "Poprawiliśmy Budżet 2027." in text.get_content()
