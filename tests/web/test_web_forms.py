"""Subscribe with double opt-in, confirm, one-click unsubscribe and preferences, over real HTTP."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from newsroom_feed.daemon import Daemon
from newsroom_feed.models import utcnow
from newsroom_feed.people import subscriptions
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app
from newsroom_feed.web.texts import consent_text

from ..conftest import make_settings
from ..smtp_server import SmtpServer
from ..web_helpers import ServerThread, csrf_token, serve, submit

ANIA = {
    "email": "ania.nowak@gazeta.example.pl",
    "name": "Anna Nowak",
    "kind": "journalist",
    "organization": "Gazeta Miejska",
    "categories": ["kultura"],
    "frequency": "daily",
    "consent": "yes",
}


@pytest.fixture
def categorised(store: Store) -> Store:
    store.set_category("kultura", "Kultura", "Wydarzenia kulturalne")
    store.set_category("transport", "Transport publiczny")
    return store


@pytest.fixture
def server(settings: Settings, categorised: Store) -> Iterator[ServerThread]:
    with serve(create_app(settings)) as running:
        yield running


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as opened:
        yield opened


def outbox_rows(store: Store) -> list[tuple[str, str, int]]:
    return store.conn.execute("SELECT kind, key, subscriber_id FROM outbox ORDER BY id").fetchall()


# -- the form ------------------------------------------------------------------------------------------


def test_subscribe_form_is_polish_by_default_and_english_on_request(client: httpx.Client) -> None:
    polish = client.get("/subscribe")
    assert polish.status_code == 200
    assert '<html lang="pl">' in polish.text
    assert "Adres e-mail" in polish.text
    assert "Kultura" in polish.text and "Transport publiczny" in polish.text
    assert consent_text("pl") in polish.text
    english = client.get("/subscribe", params={"lang": "en"})
    assert '<html lang="en">' in english.text
    assert "E-mail address" in english.text
    assert consent_text("en") in english.text


def test_every_form_field_has_a_label(client: httpx.Client) -> None:
    page = client.get("/subscribe").text
    ids = set(re.findall(r'<input[^>]*\bid="([^"]+)"', page))
    labelled = set(re.findall(r'<label for="([^"]+)"', page))
    assert ids and ids <= labelled


def test_subscribing_stores_a_pending_subscriber_and_queues_one_confirmation(
    client: httpx.Client, categorised: Store
) -> None:
    response = submit(client, "/subscribe", ANIA)
    assert response.status_code == 303
    assert response.headers["location"] == "/subscribe/sent?lang=pl"
    subscriber = subscriptions.get_subscriber(categorised, ANIA["email"])
    assert subscriber.status == "pending"
    assert subscriber.categories == ("kultura",)
    assert subscriber.frequency == "daily"
    assert subscriber.consent_text == consent_text("pl")
    assert subscriber.consent_source == "web"
    rows = outbox_rows(categorised)
    assert [(kind, subscriber_id) for kind, _, subscriber_id in rows] == [("confirmation", subscriber.id)]
    assert rows[0][1].startswith("confirm:")
    assert "Sprawdź skrzynkę" in client.get(response.headers["location"]).text


def test_english_form_stores_the_english_consent_and_language(
    client: httpx.Client, categorised: Store
) -> None:
    response = submit(client, "/subscribe?lang=en", {**ANIA, "lang": "en"})
    assert response.status_code == 303
    subscriber = subscriptions.get_subscriber(categorised, ANIA["email"])
    assert subscriber.language == "en"
    assert subscriber.consent_text == consent_text("en")


def test_asking_again_for_a_known_address_reveals_nothing_and_sends_no_second_mail(
    client: httpx.Client, categorised: Store
) -> None:
    first = submit(client, "/subscribe", ANIA)
    again = submit(client, "/subscribe", {**ANIA, "email": ANIA["email"].upper()})
    other = submit(client, "/subscribe", {**ANIA, "email": "nowy@example.pl"})
    assert first.status_code == again.status_code == other.status_code == 303
    assert first.headers["location"] == again.headers["location"] == other.headers["location"]
    mails_to_ania = [row for row in outbox_rows(categorised) if row[2] == 1]
    assert len(mails_to_ania) == 1


def test_a_post_without_the_csrf_token_is_refused(client: httpx.Client, categorised: Store) -> None:
    client.get("/subscribe")
    response = client.post("/subscribe", data=ANIA)
    assert response.status_code == 403
    forged = client.post("/subscribe", data={**ANIA, "csrf_token": "forged.token"})
    assert forged.status_code == 403
    assert subscriptions.list_subscribers(categorised) == []


def test_a_csrf_token_from_another_browser_is_refused(server: ServerThread, categorised: Store) -> None:
    with httpx.Client(base_url=server.url) as victim, httpx.Client(base_url=server.url) as attacker:
        token = csrf_token(attacker.get("/subscribe").text)
        victim.get("/subscribe")
        assert victim.post("/subscribe", data={**ANIA, "csrf_token": token}).status_code == 403
    assert subscriptions.list_subscribers(categorised) == []


def test_the_honeypot_field_stores_nothing_but_looks_like_success(
    client: httpx.Client, categorised: Store
) -> None:
    response = submit(client, "/subscribe", {**ANIA, "website": "http://spam.example"})
    assert response.status_code == 303
    assert subscriptions.list_subscribers(categorised) == []
    assert outbox_rows(categorised) == []


def test_missing_consent_and_bad_email_come_back_as_422_naming_the_fields(
    client: httpx.Client, categorised: Store
) -> None:
    response = submit(client, "/subscribe", {**ANIA, "email": "nie-adres", "consent": ""})
    assert response.status_code == 422
    assert 'id="email-error"' in response.text
    assert 'id="consent-error"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'value="Anna Nowak"' in response.text  # what was typed is kept
    assert subscriptions.list_subscribers(categorised) == []
    invalid = submit(client, "/subscribe", {**ANIA, "email": "ania@@example"})
    assert invalid.status_code == 422
    assert 'id="email-error"' in invalid.text


def test_typed_text_is_escaped_when_the_form_comes_back(client: httpx.Client) -> None:
    response = submit(client, "/subscribe", {**ANIA, "name": '<script>alert("x")</script>', "consent": ""})
    assert response.status_code == 422
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_subscribe_attempts_are_limited_per_client_address(tmp_path: Path, categorised: Store) -> None:
    app = create_app(make_settings(tmp_path, http={"subscribe_per_hour": 2}))
    with serve(app) as running, httpx.Client(base_url=running.url) as client:
        codes = [
            submit(client, "/subscribe", {**ANIA, "email": f"osoba{n}@example.pl"}).status_code
            for n in range(3)
        ]
        assert codes == [303, 303, 429]
        limited = submit(client, "/subscribe", {**ANIA, "email": "osoba9@example.pl"})
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
    assert len(subscriptions.list_subscribers(categorised)) == 2


def test_form_posts_are_limited_per_minute(tmp_path: Path, categorised: Store) -> None:
    app = create_app(make_settings(tmp_path, http={"posts_per_minute": 3}))
    with serve(app) as running, httpx.Client(base_url=running.url) as client:
        codes = [client.post("/subscribe", data={}).status_code for _ in range(4)]
    assert codes == [403, 403, 403, 429]


# -- confirm -------------------------------------------------------------------------------------------


def test_opening_the_confirmation_link_changes_nothing_until_the_button_is_pressed(
    client: httpx.Client, settings: Settings, categorised: Store
) -> None:
    submit(client, "/subscribe", ANIA)
    pending = subscriptions.get_subscriber(categorised, ANIA["email"])
    path = subscriptions.link_url(settings, pending, "confirm", utcnow()).removeprefix(settings.base_url)
    with httpx.Client(base_url=str(client.base_url)) as link_scanner:  # opens every link, no cookie
        page = link_scanner.get(path)
        assert page.status_code == 200
        assert page.text.count("<button") == 1
        assert "Potwierdź subskrypcję" in page.text
        assert link_scanner.post(path, data={}).status_code == 403  # no CSRF token: refused
    assert subscriptions.get_subscriber(categorised, ANIA["email"]).status == "pending"

    token = csrf_token(client.get(path).text)
    response = client.post(path, data={"csrf_token": token})
    assert response.status_code == 303
    assert subscriptions.get_subscriber(categorised, ANIA["email"]).status == "active"
    confirmed = client.get(response.headers["location"])
    assert confirmed.status_code == 200
    assert "Subskrypcja potwierdzona" in confirmed.text
    preferences = re.search(r'href="(/preferences/[^"]+)"', confirmed.text)
    assert preferences and client.get(preferences.group(1)).status_code == 200
    again = client.post(path, data={"csrf_token": token})  # a double click
    assert again.status_code == 303
    assert subscriptions.get_subscriber(categorised, ANIA["email"]).status == "active"
    assert "Subskrypcja potwierdzona" in client.get(path).text  # the link keeps saying it worked


def test_the_confirmation_page_speaks_the_subscribers_language(
    client: httpx.Client, settings: Settings, categorised: Store
) -> None:
    submit(client, "/subscribe?lang=en", {**ANIA, "lang": "en"})
    pending = subscriptions.get_subscriber(categorised, ANIA["email"])
    assert pending.language == "en"
    path = subscriptions.link_url(settings, pending, "confirm", utcnow()).removeprefix(settings.base_url)
    page = client.get(path)
    assert 'lang="en"' in page.text
    assert "Confirm my subscription" in page.text
    response = submit(client, path, {})
    assert "Subscription confirmed" in client.get(response.headers["location"]).text


def test_a_forged_or_foreign_confirmation_link_is_refused(
    client: httpx.Client, settings: Settings, categorised: Store
) -> None:
    submit(client, "/subscribe", ANIA)
    pending = subscriptions.get_subscriber(categorised, ANIA["email"])
    unsubscribe_link = subscriptions.link_token(settings, pending, "unsubscribe")
    pages = [client.get(f"/confirm/{token}") for token in (pending.token, unsubscribe_link, "AAAA.BBBB")]
    assert [page.status_code for page in pages] == [404, 404, 404]
    assert len({page.text for page in pages}) == 1  # the same neutral page for every bad link
    assert "Link jest nieważny" in pages[0].text
    token = csrf_token(client.get("/subscribe").text)
    for bad in (pending.token, unsubscribe_link):
        assert client.post(f"/confirm/{bad}", data={"csrf_token": token}).status_code == 404
    assert subscriptions.get_subscriber(categorised, ANIA["email"]).status == "pending"


# -- unsubscribe ---------------------------------------------------------------------------------------


@pytest.fixture
def ania(client: httpx.Client, settings: Settings, categorised: Store) -> subscriptions.Subscriber:
    submit(client, "/subscribe", ANIA)
    pending = subscriptions.get_subscriber(categorised, ANIA["email"])
    return subscriptions.confirm(categorised, pending.token, utcnow())


def test_unsubscribe_page_has_one_button_and_changes_nothing(
    client: httpx.Client, settings: Settings, categorised: Store, ania: subscriptions.Subscriber
) -> None:
    token = subscriptions.link_token(settings, ania, "unsubscribe")
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert page.text.count("<button") == 1
    assert ania.email not in page.text
    assert subscriptions.get_subscriber(categorised, ania.email).status == "active"


def test_rfc8058_one_click_post_unsubscribes_without_cookie_or_csrf(
    server: ServerThread, settings: Settings, categorised: Store, ania: subscriptions.Subscriber
) -> None:
    token = subscriptions.link_token(settings, ania, "unsubscribe")
    with httpx.Client(base_url=server.url) as mail_provider:
        response = mail_provider.post(
            f"/unsubscribe/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
        assert subscriptions.get_subscriber(categorised, ania.email).status == "unsubscribed"
        again = mail_provider.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert again.status_code == 200
        assert "set-cookie" not in response.headers


def test_one_click_with_any_other_token_answers_the_same(
    server: ServerThread, categorised: Store, ania: subscriptions.Subscriber
) -> None:
    with httpx.Client(base_url=server.url) as anyone:
        for token in ("x", ania.token, "AAAA.BBBB", "%00"):
            response = anyone.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
            assert (response.status_code, response.text) == (200, "OK\n")
    assert subscriptions.get_subscriber(categorised, ania.email).status == "active"


def test_the_unsubscribe_button_needs_the_page_csrf_token(
    client: httpx.Client, settings: Settings, categorised: Store, ania: subscriptions.Subscriber
) -> None:
    token = subscriptions.link_token(settings, ania, "unsubscribe")
    assert client.post(f"/unsubscribe/{token}", data={}).status_code == 403
    assert subscriptions.get_subscriber(categorised, ania.email).status == "active"
    response = submit(client, f"/unsubscribe/{token}", {}, action=f"/unsubscribe/{token}")
    assert response.status_code == 200
    assert "Wypisano" in response.text
    assert subscriptions.get_subscriber(categorised, ania.email).status == "unsubscribed"


# -- preferences ---------------------------------------------------------------------------------------


def test_preferences_change_categories_frequency_and_language(
    client: httpx.Client, settings: Settings, categorised: Store, ania: subscriptions.Subscriber
) -> None:
    path = f"/preferences/{subscriptions.link_token(settings, ania, 'preferences')}"
    page = client.get(path)
    assert page.status_code == 200
    assert ania.email in page.text
    assert page.headers["cache-control"] == "no-store"
    response = submit(
        client,
        path,
        {"action": "save", "categories": ["transport"], "frequency": "weekly", "language": "en"},
    )
    assert response.status_code == 303
    changed = subscriptions.get_subscriber(categorised, ania.email)
    assert (changed.categories, changed.frequency, changed.language) == (("transport",), "weekly", "en")
    assert "Settings saved." in client.get(response.headers["location"]).text


def test_preferences_save_when_a_stored_name_has_a_control_character(
    client: httpx.Client, settings: Settings, categorised: Store, ania: subscriptions.Subscriber
) -> None:
    with categorised.transaction():  # as an older version or an outside writer left it
        categorised.conn.execute("UPDATE subscribers SET name = ? WHERE id = ?", ("Anna\x1bNowak", ania.id))
    path = f"/preferences/{subscriptions.link_token(settings, ania, 'preferences')}"
    response = submit(
        client, path, {"action": "save", "categories": ["transport"], "frequency": "weekly", "language": "pl"}
    )
    assert response.status_code == 303
    changed = subscriptions.get_subscriber(categorised, ania.email)
    assert (changed.categories, changed.frequency, changed.name) == (
        ("transport",),
        "weekly",
        "Anna\x1bNowak",
    )


def test_a_wrong_choice_on_the_preferences_page_is_a_422(
    client: httpx.Client, settings: Settings, categorised: Store, ania: subscriptions.Subscriber
) -> None:
    path = f"/preferences/{subscriptions.link_token(settings, ania, 'preferences')}"
    response = submit(client, path, {"action": "save", "frequency": "hourly", "language": "pl"})
    assert response.status_code == 422
    assert 'id="frequency-error"' in response.text
    assert subscriptions.get_subscriber(categorised, ania.email).frequency == "daily"


def test_erase_my_data_removes_the_subscriber(
    client: httpx.Client, settings: Settings, categorised: Store, ania: subscriptions.Subscriber
) -> None:
    path = f"/preferences/{subscriptions.link_token(settings, ania, 'preferences')}"
    unconfirmed = submit(client, path, {"action": "erase"})
    assert unconfirmed.status_code == 422
    response = submit(client, path, {"action": "erase", "erase_confirm": "yes"})
    assert response.status_code == 200
    assert "Dane usunięte" in response.text
    assert subscriptions.list_subscribers(categorised) == []
    assert client.get(path).status_code == 404


def test_a_preferences_link_with_a_bad_signature_shows_nothing(client: httpx.Client) -> None:
    response = client.get("/preferences/abc.def")
    assert response.status_code == 404
    assert "Link jest nieważny" in response.text


def test_unsubscribe_page_looks_the_same_for_a_token_that_does_not_exist(
    client: httpx.Client, settings: Settings, ania: subscriptions.Subscriber
) -> None:
    real = client.get(f"/unsubscribe/{subscriptions.link_token(settings, ania, 'unsubscribe')}")
    bogus = client.get("/unsubscribe/nie-istnieje.AAAA")
    assert real.status_code == bogus.status_code == 200
    strip = re.compile(r'(value|action)="[^"]*"')
    assert strip.sub("", real.text) == strip.sub("", bogus.text)


def test_pages_have_no_inline_script_or_style_for_the_csp_to_block() -> None:
    from newsroom_feed.bundled import bundled_templates

    templates = sorted(bundled_templates("web").glob("*.html"))
    assert len(templates) >= 5, "the subscriber pages are templates in this directory"
    for template in templates:
        text = template.read_text(encoding="utf-8")
        assert "<script" not in text, template.name
        assert "<style" not in text and " style=" not in text, template.name
        assert not re.search(r"\son[a-z]+\s*=", text), template.name  # no event-handler attributes


# -- limits per client and for everyone ----------------------------------------------------------------


def _subscribe_from(client: httpx.Client, address: str, email: str) -> httpx.Response:
    """Subscribe ``email`` as the client at ``address``, forwarded by a proxy on 127.0.0.1 (which the
    test server, as uvicorn by default, trusts)."""
    client.headers["x-forwarded-for"] = address
    return submit(client, "/subscribe", {**ANIA, "email": email})


def test_ipv6_clients_are_limited_by_their_slash_64_and_ipv4_clients_by_their_address(
    tmp_path: Path, categorised: Store
) -> None:
    app = create_app(make_settings(tmp_path, http={"subscribe_per_hour": 1}))
    clients = [
        ("2001:db8:1:2::a", 303),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", 429),  # the same customer line, another address
        ("2001:db8:1:3::a", 303),  # the next /64
        ("198.51.100.7", 303),
        ("198.51.100.8", 303),  # IPv4: each address on its own
        ("::ffff:198.51.100.7", 429),  # the first IPv4 client, written as IPv6
    ]
    with serve(app) as running, httpx.Client(base_url=running.url) as client:
        codes = [
            _subscribe_from(client, address, f"osoba{n}@example.pl").status_code
            for n, (address, _) in enumerate(clients)
        ]
    assert codes == [code for _, code in clients]


def test_new_addresses_per_hour_are_capped_for_everyone_across_processes(
    tmp_path: Path, categorised: Store
) -> None:
    """Two web processes on one store share the count; past it nothing is stored or mailed, and a known
    address gets the same 429 as a new one (the cap does not tell which addresses are stored)."""
    settings = make_settings(tmp_path, http={"confirmations_per_hour": 2})
    with (
        serve(create_app(settings)) as first,
        serve(create_app(settings)) as second,
        httpx.Client(base_url=first.url) as one,
        httpx.Client(base_url=second.url) as other,
    ):
        assert _subscribe_from(one, "198.51.100.1", "nowy1@example.pl").status_code == 303
        assert _subscribe_from(other, "198.51.100.2", "nowy2@example.pl").status_code == 303
        capped = _subscribe_from(one, "198.51.100.3", "nowy3@example.pl")
        known = _subscribe_from(other, "198.51.100.4", "nowy1@example.pl")
    assert capped.status_code == known.status_code == 429
    assert capped.text == known.text
    assert "Chwilowo nie przyjmujemy zapisów" in capped.text and "Nic nie zostało zapisane" in capped.text
    assert 0 < int(capped.headers["retry-after"]) <= 3601
    assert [s.email for s in subscriptions.list_subscribers(categorised)] == [
        "nowy1@example.pl",
        "nowy2@example.pl",
    ]
    assert [kind for kind, _, _ in outbox_rows(categorised)] == ["confirmation", "confirmation"]


@pytest.mark.slow
@pytest.mark.parametrize(("trusted", "codes"), [([], [303, 429]), (["127.0.0.1"], [303, 303])])
async def test_the_daemon_believes_forwarded_addresses_only_from_trusted_proxies(
    tmp_path: Path, smtp_server: SmtpServer, trusted: list[str], codes: list[int]
) -> None:
    """`NEWSROOM_HTTP__TRUSTED_PROXIES` reaches uvicorn: with no trusted proxy every request counts as
    127.0.0.1, whatever X-Forwarded-For claims; with the proxy trusted, each forwarded client its own."""
    settings = make_settings(
        tmp_path,
        http={"port": 0, "subscribe_per_hour": 1, "trusted_proxies": trusted},
        smtp={"port": smtp_server.port},
    )
    daemon = Daemon(settings)
    serving = asyncio.ensure_future(daemon.serve(signals=False))
    try:
        await asyncio.wait_for(daemon.started.wait(), 20)
        url = daemon.web_url()
        assert url is not None
        got = []
        async with httpx.AsyncClient(base_url=url) as client:
            for n, address in enumerate(("198.51.100.1", "203.0.113.9")):
                headers = {"x-forwarded-for": address}
                page = await client.get("/subscribe", headers=headers)
                response = await client.post(
                    "/subscribe",
                    data={**ANIA, "email": f"osoba{n}@example.pl", "csrf_token": csrf_token(page.text)},
                    headers=headers,
                )
                got.append(response.status_code)
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(serving, 20) == 0
    assert got == codes
