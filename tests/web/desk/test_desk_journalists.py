"""The desk's journalists page: admins verify, refuse and revoke (one journalist or a whole outlet, after a
confirmation step); every change is audited; editors are refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import lxml.html
import pytest

from newsroom_feed.models import utcnow
from newsroom_feed.people import journalists
from newsroom_feed.settings import Settings
from newsroom_feed.store import audit
from newsroom_feed.store.database import Store

from ...web_helpers import csrf_token
from .conftest import ADMIN
from .test_desk_browser import CHROMIUM_ARGS, Checker, sign_in
from .test_desk_browser import chromium_path as chromium_path  # the fixtures
from .test_desk_browser import desk as desk


def applicant(store: Store, settings: Settings, email: str, outlet: str) -> int:
    added = journalists.apply(
        store, settings, {"email": email, "name": "Ktoś", "organization": outlet, "consent_text": "Zgoda."},
        "https://gazeta.example.pl/autor", "LP-7", utcnow(),
    )  # fmt: skip
    assert added is not None
    return added.id


def row_of(page: str, email: str) -> lxml.html.HtmlElement:
    [row] = lxml.html.fromstring(page).xpath(f"//tr[@data-email='{email}']")
    return row


def press(client: httpx.Client, subscriber_id: int, action: str) -> httpx.Response:
    page = client.get("/desk/journalists")
    return client.post(
        f"/desk/journalists/{subscriber_id}/{action}", data={"csrf_token": csrf_token(page.text)}
    )


def test_an_admin_sees_the_applicant_with_outlet_work_link_press_card_and_terms(
    store: Store, settings: Settings, signed_in: Callable[[str], httpx.Client]
) -> None:
    applicant(store, settings, "ania@gazeta.example.pl", "Gazeta Miejska")
    page = signed_in("admin").get("/desk/journalists")
    assert page.status_code == 200
    row = row_of(page.text, "ania@gazeta.example.pl").text_content()
    for shown in (
        "Gazeta Miejska",
        "https://gazeta.example.pl/autor",
        "LP-7",
        "2026-1",
        "czeka na weryfikację",
    ):
        assert shown in row
    assert 'href="/desk/journalists"' in page.text  # the nav link


def test_an_admin_verifies_then_revokes_and_each_change_is_audited(
    store: Store, settings: Settings, signed_in: Callable[[str], httpx.Client]
) -> None:
    subscriber_id = applicant(store, settings, "ania@gazeta.example.pl", "Gazeta")
    client = signed_in("admin")

    verified = press(client, subscriber_id, "verify")
    assert verified.status_code == 303
    after = client.get(verified.headers["location"])
    assert "Zweryfikowano ania@gazeta.example.pl." in after.text
    assert "zweryfikowany" in row_of(after.text, "ania@gazeta.example.pl").text_content()
    assert journalists.get(store, subscriber_id).verification == "verified"

    revoked = press(client, subscriber_id, "revoke")
    assert revoked.status_code == 303
    assert journalists.get(store, subscriber_id).verification == "revoked"
    entries = audit.entries(store, "subscriber", subscriber_id)
    assert sorted((entry.actor, entry.action) for entry in entries) == [(ADMIN, "revoke"), (ADMIN, "verify")]


def test_revoking_someone_not_verified_is_refused_beside_their_row(
    store: Store, settings: Settings, signed_in: Callable[[str], httpx.Client]
) -> None:
    subscriber_id = applicant(store, settings, "ania@gazeta.example.pl", "Gazeta")
    answer = press(signed_in("admin"), subscriber_id, "revoke")
    assert answer.status_code == 400
    assert row_of(answer.text, "ania@gazeta.example.pl").xpath(".//p[@class='field-error']")
    assert journalists.get(store, subscriber_id).verification == "applied"


def test_revoking_an_outlet_asks_first_then_revokes_only_its_verified_journalists(
    store: Store, settings: Settings, signed_in: Callable[[str], httpx.Client]
) -> None:
    ids = {email: applicant(store, settings, email, outlet) for email, outlet in [
        ("a@gazeta.example.pl", "Gazeta"), ("b@gazeta.example.pl", "GAZETA"), ("c@radio.example.pl", "Radio"),
    ]}  # fmt: skip
    for subscriber_id in ids.values():
        journalists.verify(store, settings, subscriber_id, utcnow(), audit.OPERATOR)
    client = signed_in("admin")

    asked = client.get("/desk/journalists/outlet", params={"outlet": "gazeta"})
    assert asked.status_code == 200
    assert "a@gazeta.example.pl" in asked.text and "b@gazeta.example.pl" in asked.text
    assert "c@radio.example.pl" not in asked.text
    assert journalists.get(store, ids["a@gazeta.example.pl"]).verification == "verified"  # nothing done yet

    done = client.post(
        "/desk/journalists/outlet", data={"outlet": "gazeta", "csrf_token": csrf_token(asked.text)}
    )
    assert done.status_code == 303
    status = {item.email: item.verification for item in journalists.listing(store)}
    assert status == {
        "a@gazeta.example.pl": "revoked", "b@gazeta.example.pl": "revoked", "c@radio.example.pl": "verified"
    }  # fmt: skip
    assert "Odebrano dostęp dziennikarzom redakcji: 2." in client.get(done.headers["location"]).text


def test_an_unknown_outlet_is_shown_beside_the_field(
    store: Store, settings: Settings, signed_in: Callable[[str], httpx.Client]
) -> None:
    answer = signed_in("admin").get("/desk/journalists/outlet", params={"outlet": "Nikt"})
    assert answer.status_code == 400
    assert '<p class="field-error" id="outlet-error">' in answer.text


def test_an_editor_is_refused_every_journalist_page_and_action(
    store: Store, settings: Settings, signed_in: Callable[[str], httpx.Client]
) -> None:
    subscriber_id = applicant(store, settings, "ania@gazeta.example.pl", "Gazeta")
    client = signed_in("editor")
    assert client.get("/desk/journalists").status_code == 403
    assert client.get("/desk/journalists/outlet", params={"outlet": "Gazeta"}).status_code == 403
    token = csrf_token(client.get("/desk/").text)
    answer = client.post(f"/desk/journalists/{subscriber_id}/verify", data={"csrf_token": token})
    assert answer.status_code == 403
    assert journalists.get(store, subscriber_id).verification == "applied"
    assert 'href="/desk/journalists"' not in client.get("/desk/").text


def test_a_verify_without_the_form_token_is_refused(
    store: Store, settings: Settings, signed_in: Callable[[str], httpx.Client]
) -> None:
    subscriber_id = applicant(store, settings, "ania@gazeta.example.pl", "Gazeta")
    answer = signed_in("admin").post(f"/desk/journalists/{subscriber_id}/verify", data={})
    assert answer.status_code == 403
    assert journalists.get(store, subscriber_id).verification == "applied"


@pytest.mark.slow
@pytest.mark.browser
def test_the_apply_form_and_the_journalist_pages_pass_axe_in_a_real_browser(
    chromium_path: Path, desk: tuple[str, Store]
) -> None:
    from playwright.sync_api import sync_playwright

    url, store = desk
    check = Checker(first=60)  # after the other browser tests' numbers
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{url}/journalists/apply")
            check(page, "journalist-apply")
            page.get_by_label("Imię i nazwisko").fill("Jan Kowalski")
            page.get_by_label("Redakcja").fill("Radio Miasto")
            page.get_by_label("Służbowy adres e-mail").fill("jan@radio.example.pl")
            page.get_by_label("Link do Twoich publikacji").fill("radio.example.pl/jan")
            page.get_by_role("button", name="Wyślij zgłoszenie").click()
            assert page.locator("#work_url-error").is_visible() and page.locator("#terms-error").is_visible()
            check(page, "journalist-apply-errors")
            page.get_by_label("Link do Twoich publikacji").fill("https://radio.example.pl/jan")
            page.get_by_label("Akceptuję powyższe warunki embarga.").check()
            page.get_by_role("button", name="Wyślij zgłoszenie").click()
            page.wait_for_url("**/journalists/apply/sent?lang=pl")
            assert journalists.get(store, "jan@radio.example.pl").verification == "applied"

            page.goto(f"{url}/desk/login")
            sign_in(page, ADMIN)
            page.goto(f"{url}/desk/journalists")
            check(page, "desk-journalists")
            page.get_by_role("button", name="Zweryfikuj: jan@radio.example.pl").click()
            page.wait_for_url("**/desk/journalists?done=verify*")
            page.get_by_label("Nazwa redakcji").fill("radio miasto")
            page.get_by_role("button", name="Dalej").click()
            check(page, "desk-journalists-outlet")
            page.get_by_role("button", name="Tak, odbierz dostęp wszystkim").click()
            page.wait_for_url("**/desk/journalists?done=outlet*")
            assert journalists.get(store, "jan@radio.example.pl").verification == "revoked"
        finally:
            browser.close()
