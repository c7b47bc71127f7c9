"""The journalist application form, `/journalists/apply`, over real HTTP, with its confirmation mail
delivered to a real SMTP server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest

from newsroom_feed.mail.delivery import deliver
from newsroom_feed.people import journalists, subscriptions
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app

from ..mail_helpers import smtp_settings
from ..smtp_server import SmtpServer
from ..web_helpers import ServerThread, csrf_token, serve, submit

ANIA = {
    "name": "Anna Nowak",
    "organization": "Gazeta Miejska",
    "email": "ania.nowak@gazeta.example.pl",
    "work_url": "https://gazeta.example.pl/autorzy/anna-nowak",
    "press_card": "LP 0042/2026",
    "categories": ["kultura"],
    "terms": "yes",
}


@pytest.fixture
def server(settings: Settings, store: Store) -> Iterator[ServerThread]:
    store.set_category("kultura", "Kultura")
    with serve(create_app(settings)) as running:
        yield running


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as opened:
        yield opened


def test_the_form_is_polish_by_default_english_on_request_and_shows_the_terms_and_their_version(
    client: httpx.Client,
) -> None:
    polish = client.get("/journalists/apply")
    assert polish.status_code == 200
    assert '<html lang="pl">' in polish.text
    assert "Link do Twoich publikacji" in polish.text
    assert journalists.TERMS["pl"] in polish.text and "2026-1" in polish.text
    english = client.get("/journalists/apply", params={"lang": "en"})
    assert '<html lang="en">' in english.text
    assert "Link to your work" in english.text and journalists.TERMS["en"] in english.text
    ids = set(re.findall(r'<input[^>]*\bid="([^"]+)"', polish.text))
    assert ids and ids <= set(re.findall(r'<label for="([^"]+)"', polish.text))


def test_apply_then_confirm_by_the_link_in_the_mail_leaves_an_active_journalist_awaiting_verification(
    client: httpx.Client, settings: Settings, store: Store, smtp_server: SmtpServer
) -> None:
    response = submit(client, "/journalists/apply", ANIA)
    assert response.status_code == 303
    assert "weryfikację" in client.get(response.headers["location"]).text
    assert subscriptions.get_subscriber(store, ANIA["email"]).status == "pending"

    report = asyncio.run(deliver(store, smtp_settings(settings, smtp_server.port)))
    assert report.sent == 1
    [mail] = smtp_server.messages()
    assert mail["To"].addresses[0].addr_spec == ANIA["email"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    link = re.search(re.escape(settings.base_url) + r"(/confirm/\S+)", text)
    assert link, text
    page = client.get(link.group(1))
    assert page.status_code == 200
    confirmed = client.post(link.group(1), data={"csrf_token": csrf_token(page.text)})
    assert confirmed.status_code == 303
    assert "czeka na weryfikację" in client.get(confirmed.headers["location"]).text

    subscriber = subscriptions.get_subscriber(store, ANIA["email"])
    assert (subscriber.status, subscriber.kind, subscriber.frequency) == ("active", "journalist", "immediate")
    assert subscriber.categories == ("kultura",)
    found = journalists.get(store, ANIA["email"])
    assert found.verification == "applied"
    assert (found.outlet, found.work_url, found.press_card) == (
        "Gazeta Miejska", ANIA["work_url"], "LP 0042/2026"
    )  # fmt: skip
    assert journalists.accepted_current(store, subscriber, settings)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"work_url": "gazeta.example.pl/autor"}, "work_url", "http:// lub https://"),
        ({"work_url": ""}, "work_url", "To pole jest wymagane"),
        ({"terms": ""}, "terms", "Zaakceptuj warunki embarga"),
        ({"email": "nie-adres"}, "email", "poprawny adres e-mail"),
    ],
)
def test_a_bad_field_is_shown_beside_it_and_nothing_is_stored(
    client: httpx.Client, store: Store, changes: dict[str, str], field: str, words: str
) -> None:
    response = submit(client, "/journalists/apply", {**ANIA, **changes})
    assert response.status_code == 400
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', response.text)
    assert error and words in error.group(1)
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', response.text, re.S)
    assert ANIA["name"] in response.text  # what was typed stays in the form
    assert subscriptions.list_subscribers(store) == []
    assert store.conn.execute("SELECT count(*) FROM terms_acceptances").fetchone()[0] == 0


def test_a_post_without_the_csrf_token_is_refused(client: httpx.Client, store: Store) -> None:
    client.get("/journalists/apply")
    assert client.post("/journalists/apply", data=ANIA).status_code == 403
    assert subscriptions.list_subscribers(store) == []


def test_applying_for_a_stored_address_looks_the_same_and_changes_nothing(
    client: httpx.Client, store: Store
) -> None:
    first = submit(client, "/journalists/apply", ANIA)
    again = submit(client, "/journalists/apply", {**ANIA, "organization": "Inna Gazeta"})
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert journalists.get(store, ANIA["email"]).outlet == "Gazeta Miejska"
