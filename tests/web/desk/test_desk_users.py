"""Desk users managed by admins, over real HTTP: add with a set-up link, role, disable, reset, remove."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import httpx
import pytest

from newsroom_feed.errors import UserNotFound
from newsroom_feed.people import users
from newsroom_feed.store import audit
from newsroom_feed.store.database import Store

from ...web_helpers import ServerThread, csrf_token
from .conftest import ADMIN, EDITOR, sign_in


def _setup_link(page: str) -> str:
    found = re.search(r'<a href="([^"]+)" id="setup-url">', page)
    assert found, "the page shows no set-up link"
    return html.unescape(found.group(1))


def _post(client: httpx.Client, page_url: str, action: str, **data: str) -> httpx.Response:
    page = client.get(page_url)
    return client.post(action, data={**data, "csrf_token": csrf_token(page.text)})


@pytest.mark.parametrize("path", ["/desk/users", "/desk/users/{id}", "/desk/users/{id}/remove"])
def test_an_editor_is_refused_the_user_pages(
    signed_in: Callable[[str], httpx.Client], desk_users: dict[str, users.DeskUser], path: str
) -> None:
    answer = signed_in("editor").get(path.format(id=desk_users["admin"].id))
    assert answer.status_code == 403 and "tylko dla administratorów" in answer.text


def test_the_list_shows_role_status_codes_and_last_sign_in(signed_in: Callable[[str], httpx.Client]) -> None:
    page = signed_in("admin").get("/desk/users")
    assert page.status_code == 200
    row = page.text.split(f">{ADMIN}</a>", 1)[1].split("</tr>", 1)[0]
    assert "administrator" in row and "aktywny" in row and "wyłączone" in row and "<time" in row
    assert "nigdy" in page.text.split(f">{EDITOR}</a>", 1)[1].split("</tr>", 1)[0]


def test_adding_a_user_shows_a_set_up_link_that_lets_them_set_a_password_and_sign_in(
    signed_in: Callable[[str], httpx.Client], server: ServerThread, store: Store
) -> None:
    client = signed_in("admin")
    added = _post(client, "/desk/users", "/desk/users", email="nowa@zmp.example.pl", role="editor")
    assert added.status_code == 200 and "Przekaż ten jednorazowy link" in added.text
    link = _setup_link(added.text)
    assert link.startswith("https://prasa.example.pl/desk/setup/")
    assert users.get(store, "nowa@zmp.example.pl").to_json()["status"] == "invited"
    path = link.removeprefix("https://prasa.example.pl")
    with httpx.Client(base_url=server.url) as newcomer:
        form = newcomer.get(path)
        assert form.status_code == 200 and "nowa@zmp.example.pl" in form.text
        done = newcomer.post(
            path,
            data={"password": "hasło nowej osoby", "repeat": "hasło nowej osoby",
                  "csrf_token": csrf_token(form.text)},
        )  # fmt: skip
        assert done.status_code == 303
        assert sign_in(newcomer, "nowa@zmp.example.pl", "hasło nowej osoby").status_code == 303
        assert newcomer.get("/desk/").status_code == 200
    newcomer_id = users.get(store, "nowa@zmp.example.pl").id
    assert [entry.action for entry in audit.entries(store, "user", newcomer_id)] == ["password", "add"]


def test_a_bad_address_is_shown_beside_the_email_field_and_no_user_is_added(
    signed_in: Callable[[str], httpx.Client], store: Store
) -> None:
    answer = _post(signed_in("admin"), "/desk/users", "/desk/users", email="nie-adres", role="editor")
    assert answer.status_code == 400 and 'id="email-error">' in answer.text
    assert len(users.listing(store)) == 2


def test_disabling_a_user_ends_their_session_at_once_and_enabling_lets_them_back(
    signed_in: Callable[[str], httpx.Client], desk_users: dict[str, users.DeskUser], store: Store
) -> None:
    editor = signed_in("editor")
    assert editor.get("/desk/").status_code == 200
    admin = signed_in("admin")
    page_url = f"/desk/users/{desk_users['editor'].id}"
    done = _post(admin, page_url, f"{page_url}/disable")
    assert done.status_code == 303
    assert "wyłączony" in admin.get(done.headers["location"]).text
    assert editor.get("/desk/").status_code == 303  # sent to sign in
    assert sign_in(editor, EDITOR).status_code == 400
    assert _post(admin, page_url, f"{page_url}/enable").status_code == 303
    assert sign_in(editor, EDITOR).status_code == 303
    assert [e.action for e in audit.entries(store, "user", desk_users["editor"].id)][:2] == [
        "enable",
        "disable",
    ]


def test_the_last_admin_cannot_be_disabled_demoted_or_removed_and_is_told_why(
    signed_in: Callable[[str], httpx.Client], desk_users: dict[str, users.DeskUser], store: Store
) -> None:
    admin = signed_in("admin")
    page_url = f"/desk/users/{desk_users['admin'].id}"
    refused = _post(admin, page_url, f"{page_url}/disable")
    assert refused.status_code == 400
    assert 'id="disable-error">the last admin cannot be disabled' in refused.text
    demoted = _post(admin, page_url, f"{page_url}/role", role="editor")
    assert (
        demoted.status_code == 400
        and 'id="role-error">the last admin cannot become an editor' in demoted.text
    )
    removed = _post(admin, f"{page_url}/remove", f"{page_url}/remove")
    assert removed.status_code == 400 and 'id="remove-error">the last admin cannot be removed' in removed.text
    still = users.get(store, desk_users["admin"].id)
    assert still.active and still.is_admin
    assert admin.get("/desk/users").status_code == 200


def test_reset_forgets_the_password_ends_sessions_and_shows_a_new_set_up_link(
    signed_in: Callable[[str], httpx.Client], desk_users: dict[str, users.DeskUser], store: Store
) -> None:
    editor = signed_in("editor")
    admin = signed_in("admin")
    page_url = f"/desk/users/{desk_users['editor'].id}"
    answer = _post(admin, page_url, f"{page_url}/reset")
    assert answer.status_code == 200 and "Nowy link do ustawienia hasła" in answer.text
    assert _setup_link(answer.text).startswith("https://prasa.example.pl/desk/setup/")
    assert editor.get("/desk/").status_code == 303
    assert sign_in(editor, EDITOR).status_code == 400
    assert users.get(store, desk_users["editor"].id).to_json()["status"] == "invited"


def test_a_role_change_and_removal_after_confirmation_are_recorded(
    signed_in: Callable[[str], httpx.Client], desk_users: dict[str, users.DeskUser], store: Store
) -> None:
    admin = signed_in("admin")
    editor_id = desk_users["editor"].id
    page_url = f"/desk/users/{editor_id}"
    assert _post(admin, page_url, f"{page_url}/role", role="admin").status_code == 303
    assert users.get(store, editor_id).is_admin
    page = admin.get(page_url)
    assert "Historia zmian" in page.text and "role" in page.text.split('id="audit-heading"', 1)[1]
    # The admin's own page lists what they changed.
    mine = admin.get(f"/desk/users/{desk_users['admin'].id}")
    assert f"user #{editor_id}" in mine.text.split('id="made-heading"', 1)[1]

    confirm = admin.get(f"{page_url}/remove")
    assert confirm.status_code == 200 and "Tego nie da się cofnąć" in confirm.text
    assert users.get(store, editor_id)  # not yet
    done = admin.post(f"{page_url}/remove", data={"csrf_token": csrf_token(confirm.text)})
    assert (
        done.status_code == 303 and "Użytkownik został usunięty." in admin.get(done.headers["location"]).text
    )
    with pytest.raises(UserNotFound):
        users.get(store, editor_id)
    assert admin.get(page_url).status_code == 404
