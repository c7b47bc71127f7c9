"""Signing in to the desk, over real HTTP: sessions, roles, limits, set-up links, one-time codes."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pyotp

from newsroom_feed.models import utcnow
from newsroom_feed.people import users
from newsroom_feed.settings import Settings
from newsroom_feed.store.audit import OPERATOR
from newsroom_feed.store.database import Store

from ...web_helpers import ServerThread, csrf_token
from .conftest import ADMIN, EDITOR, PASSWORD, sign_in


def test_a_signed_out_visitor_is_sent_to_sign_in_and_back_where_they_were_going(
    visitor: httpx.Client,
) -> None:
    answer = visitor.get("/desk/releases?status=draft")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/desk/login?ended=1&next=/desk/releases")
    page = visitor.get(answer.headers["location"])
    assert "Sesja wygasła albo nie jesteś zalogowany" in page.text
    done = visitor.post(
        "/desk/login",
        data={"email": EDITOR, "password": PASSWORD, "csrf_token": csrf_token(page.text),
              "next": "/desk/releases?status=draft"},
    )  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == "/desk/releases?status=draft"


def test_the_session_cookie_is_httponly_samesite_and_scoped_to_the_desk(visitor: httpx.Client) -> None:
    answer = sign_in(visitor, EDITOR)
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and "newsroom_desk=" in v)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/desk" in cookie
    assert "Max-Age=43200" in cookie
    assert visitor.get("/desk/").status_code == 200


def test_a_wrong_password_is_refused_beside_the_field_and_keeps_the_address(visitor: httpx.Client) -> None:
    answer = sign_in(visitor, EDITOR, "nie to hasło wcale")
    assert answer.status_code == 400
    assert 'id="password-error">Nieprawidłowy adres e-mail lub hasło.' in answer.text
    assert f'value="{EDITOR}"' in answer.text
    assert visitor.get("/desk/").status_code == 303


def test_sign_in_attempts_are_limited_per_account_with_a_clear_message(visitor: httpx.Client) -> None:
    for _ in range(5):
        assert sign_in(visitor, EDITOR, "zgadywane hasło 123").status_code == 400
    locked = sign_in(visitor, EDITOR)  # even the right password, now
    assert locked.status_code == 429
    assert "Zbyt wiele nieudanych prób logowania. Spróbuj ponownie za 15 min" in locked.text
    assert int(locked.headers["retry-after"]) > 0
    # Another account from the same client is still let in.
    assert sign_in(visitor, ADMIN).status_code == 303


def test_an_editor_gets_403_on_an_admin_page_and_an_admin_does_not(
    signed_in: Callable[[str], httpx.Client],
) -> None:
    editor = signed_in("editor")
    refused = editor.get("/desk/users")
    assert refused.status_code == 403 and "tylko dla administratorów" in refused.text
    assert signed_in("admin").get("/desk/users").status_code == 200


def test_signing_out_ends_the_session_on_the_server(signed_in: Callable[[str], httpx.Client]) -> None:
    client = signed_in("editor")
    stolen = dict(client.cookies)
    home = client.get("/desk/")
    out = client.post("/desk/logout", data={"csrf_token": csrf_token(home.text)})
    assert out.status_code == 303 and out.headers["location"] == "/desk/login?out=1"
    with httpx.Client(base_url=str(client.base_url), cookies=stolen) as replay:
        assert replay.get("/desk/").status_code == 303


def test_a_form_without_its_csrf_token_is_refused(signed_in: Callable[[str], httpx.Client]) -> None:
    client = signed_in("editor")
    answer = client.post("/desk/logout", data={})
    assert answer.status_code == 403 and "Formularz wygasł" in answer.text
    assert client.get("/desk/").status_code == 200


def test_a_set_up_link_sets_the_password_once(server: ServerThread, settings: Settings, store: Store) -> None:
    new = users.add(store, "nowa@zmp.example.pl", "editor", utcnow(), OPERATOR)
    token = users.Links(settings.verifying_keys()).setup_link(store, new.id, utcnow())
    with httpx.Client(base_url=server.url) as client:
        page = client.get(f"/desk/setup/{token}")
        assert page.status_code == 200 and "nowa@zmp.example.pl" in page.text
        short = client.post(
            f"/desk/setup/{token}",
            data={"password": "krótkie", "repeat": "krótkie", "csrf_token": csrf_token(page.text)},
        )
        assert short.status_code == 400 and 'id="password-error">must be at least 12 characters' in short.text
        done = client.post(
            f"/desk/setup/{token}",
            data={
                "password": "nowe hasło prasowe",
                "repeat": "nowe hasło prasowe",
                "csrf_token": csrf_token(page.text),
            },
        )
        assert done.status_code == 303
        assert client.get(f"/desk/setup/{token}").status_code == 404
        assert sign_in(client, "nowa@zmp.example.pl", "nowe hasło prasowe").status_code == 303


def test_one_time_codes_guard_the_sign_in_and_a_code_works_once(
    signed_in: Callable[[str], httpx.Client], server: ServerThread
) -> None:
    client = signed_in("editor")
    page = client.get("/desk/account")
    secret = page.text.split('id="totp-secret">', 1)[1].split("<", 1)[0]
    code = pyotp.TOTP(secret).now()
    on = client.post(
        "/desk/account/totp", data={"secret": secret, "code": code, "csrf_token": csrf_token(page.text)}
    )
    assert on.status_code == 200 and "Włączono logowanie dwuetapowe" in on.text
    recovery = on.text.split("<code>", 2)[1].split("<", 1)[0]
    with httpx.Client(base_url=server.url) as other:
        first = sign_in(other, EDITOR)
        assert first.headers["location"] == "/desk/login/code"
        assert other.get("/desk/").status_code == 303  # the password alone opens nothing
        step = other.get("/desk/login/code")
        replay = other.post("/desk/login/code", data={"code": code, "csrf_token": csrf_token(step.text)})
        assert replay.status_code == 400 and "został już użyty" in replay.text
        done = other.post("/desk/login/code", data={"code": recovery, "csrf_token": csrf_token(step.text)})
        assert done.status_code == 303
        assert other.get("/desk/").status_code == 200
