# ruff: noqa: E501  (sentences read better whole than cut at 110 columns)
"""Desk users for admins: the list, adding one, and per user: role, disable or enable, reset, remove.

No password is ever typed for someone else: adding or resetting a user shows a one-time set-up link
(valid 24 hours) for the admin to pass on, as `user add` prints one. Every change is audited by
`people.users`, which also refuses to leave the desk without an active admin; its message is shown
beside the action that was refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from newsroom_feed.errors import InputError, UserNotFound
from newsroom_feed.people import users
from newsroom_feed.people.users import ROLES, DeskUser
from newsroom_feed.site.layout import desk_setup_url
from newsroom_feed.store import audit
from newsroom_feed.store.audit import Actor
from newsroom_feed.store.database import Store
from newsroom_feed.web.desk import words as desk_words
from newsroom_feed.web.desk.core import (
    actor,
    admin,
    checked_form,
    desk_of,
    lang_of,
    message,
    now_of,
    render,
    see_other,
    store_of,
    text,
)
from newsroom_feed.web.desk.words import words
from newsroom_feed.web.state import state_of

router = APIRouter()

WORDS = {
    "pl": {
        "usr_title": "Użytkownicy",
        "usr_list": "Konta biura prasowego",
        "usr_email": "Adres e-mail",
        "usr_role": "Rola",
        "usr_status": "Stan",
        "usr_status_invited": "zaproszony",
        "usr_status_active": "aktywny",
        "usr_status_disabled": "wyłączony",
        "usr_codes": "Kody jednorazowe",
        "usr_codes_on": "włączone",
        "usr_codes_off": "wyłączone",
        "usr_last_sign_in": "Ostatnie logowanie",
        "usr_never": "nigdy",
        "usr_add": "Dodaj użytkownika",
        "usr_add_hint": "Nowy użytkownik dostanie jednorazowy link do ustawienia hasła; przekaż mu go.",
        "usr_added": "Dodano {email}. Przekaż ten jednorazowy link do ustawienia hasła (ważny 24 godziny, działa raz):",
        "usr_link_new": "Nowy link do ustawienia hasła dla {email} (ważny 24 godziny, działa raz):",
        "usr_setup_link": "Link do ustawienia hasła",
        "usr_change_role": "Zmień rolę",
        "usr_disable": "Wyłącz konto",
        "usr_disable_hint": "Użytkownik nie zaloguje się, a jego otwarte sesje kończą się od razu.",
        "usr_enable": "Włącz konto",
        "usr_reset": "Zresetuj dostęp",
        "usr_reset_hint": "Usuwa hasło i kody jednorazowe, kończy sesje i tworzy nowy link do ustawienia hasła.",
        "usr_remove": "Usuń użytkownika",
        "usr_remove_lead": "Konto {email} zostanie usunięte. Wpisy w historii zmian pozostaną pod tym adresem. Tego nie da się cofnąć.",
        "usr_remove_confirm": "Tak, usuń konto",
        "usr_removed": "Użytkownik został usunięty.",
        "usr_saved": "Zapisano.",
        "usr_actions": "Działania",
        "usr_details": "Konto",
        "usr_created": "Utworzono",
        "usr_by_heading": "Zmiany wprowadzone przez tego użytkownika",
        "usr_by_empty": "Ten użytkownik niczego jeszcze nie zmienił.",
        "usr_subject": "Czego dotyczy",
        "usr_not_found": "Nie ma takiego użytkownika. Może został usunięty.",
        "usr_you": "(Ty)",
    },
    "en": {
        "usr_title": "Users",
        "usr_list": "Desk accounts",
        "usr_email": "E-mail address",
        "usr_role": "Role",
        "usr_status": "Status",
        "usr_status_invited": "invited",
        "usr_status_active": "active",
        "usr_status_disabled": "disabled",
        "usr_codes": "One-time codes",
        "usr_codes_on": "on",
        "usr_codes_off": "off",
        "usr_last_sign_in": "Last sign-in",
        "usr_never": "never",
        "usr_add": "Add a user",
        "usr_add_hint": "The new user gets a one-time link to set their password; pass it on to them.",
        "usr_added": "Added {email}. Pass on this one-time link to set the password (valid 24 hours, works once):",
        "usr_link_new": "A new link to set the password of {email} (valid 24 hours, works once):",
        "usr_setup_link": "Set-up link",
        "usr_change_role": "Change the role",
        "usr_disable": "Disable the account",
        "usr_disable_hint": "The user cannot sign in, and their open sessions end at once.",
        "usr_enable": "Enable the account",
        "usr_reset": "Reset access",
        "usr_reset_hint": "Forgets the password and one-time codes, ends the sessions and makes a new set-up link.",
        "usr_remove": "Remove the user",
        "usr_remove_lead": "The account {email} will be removed. Its entries in the change history stay under this address. This cannot be undone.",
        "usr_remove_confirm": "Yes, remove the account",
        "usr_removed": "The user was removed.",
        "usr_saved": "Saved.",
        "usr_actions": "Actions",
        "usr_details": "Account",
        "usr_created": "Created",
        "usr_by_heading": "Changes made by this user",
        "usr_by_empty": "This user has not changed anything yet.",
        "usr_subject": "About",
        "usr_not_found": "There is no such user. They may have been removed.",
        "usr_you": "(you)",
    },
}
desk_words.register(WORDS)


def status_of(user: DeskUser) -> str:
    """invited (no password yet), active or disabled: as `user list` says."""
    return str(user.to_json()["status"])


def _roles(t: dict[str, str]) -> list[tuple[str, str]]:
    return [(role, t[f"role_{role}"]) for role in ROLES]


def _setup_url(request: Request, user_id: int) -> str:
    token = desk_of(request).links.setup_link(store_of(request), user_id, now_of(request))
    return desk_setup_url(state_of(request).settings.base_url, token)


# -- the list ---------------------------------------------------------------------------------------


def _list_page(
    request: Request, user: DeskUser, status: int = 200, *, errors: dict[str, str] | None = None,
    email: str = "", role: str = "editor",
) -> Response:  # fmt: skip
    t = words(lang_of(request))
    return render(
        request, "users.html", user, status, title=t["usr_title"], people=users.listing(store_of(request)),
        status_of=status_of, roles=_roles(t), errors=errors or {}, email=email, role=role,
        removed=bool(request.query_params.get("removed")),
    )  # fmt: skip


@router.get("/users")
def user_list(request: Request, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    return _list_page(request, user)


@router.post("/users")
async def add_user(request: Request, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    t = words(lang_of(request))
    email, role = text(form, "email"), text(form, "role")
    try:
        added = users.add(store_of(request), email, role, now_of(request), actor(user))
    except InputError as error:
        field = error.field if error.field in ("email", "role") else "email"
        return _list_page(request, user, 400, errors={field: error.problem}, email=email, role=role)
    link = _setup_url(request, added.id)
    return _user_page(request, user, added.id, notice=t["usr_added"].format(email=added.email), link=link)


# -- one user ---------------------------------------------------------------------------------------


def _user_page(
    request: Request, user: DeskUser, user_id: int, status: int = 200, *, errors: dict[str, str] | None = None,
    notice: str = "", link: str = "",
) -> Response:  # fmt: skip
    t = words(lang_of(request))
    store = store_of(request)
    try:
        shown = users.get(store, user_id)
    except UserNotFound:
        return message(request, user, "not_found_title", "usr_not_found", 404)
    if not notice and request.query_params.get("saved"):
        notice = t["usr_saved"]
    return render(
        request, "user.html", user, status, title=shown.email, shown=shown, status_of=status_of,
        roles=_roles(t), errors=errors or {}, notice=notice, link=link,
        history=audit.entries(store, "user", shown.id, limit=100),
        made=audit.entries(store, user_id=shown.id, limit=100),
    )  # fmt: skip


@router.get("/users/{user_id:int}")
def user_page(request: Request, user_id: int, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    return _user_page(request, user, user_id)


#: A change to a user: (store, the user's id, the form, now, who) → the user as changed.
Change = Callable[[Store, int, FormData, datetime, Actor], DeskUser]


async def _act(
    request: Request, user: DeskUser, user_id: int, action: str, change: Change
) -> DeskUser | Response:
    """Run one POST action on a user: the changed user, or the page to answer (a refusal is shown beside
    the action's own button, ``errors[action]``)."""
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    try:
        return change(store_of(request), user_id, form, now_of(request), actor(user))
    except UserNotFound:
        return message(request, user, "not_found_title", "usr_not_found", 404)
    except InputError as error:
        if action == "remove":
            return _remove_page(request, user, user_id, 400, error.problem)
        return _user_page(request, user, user_id, 400, errors={action: error.problem})


def _saved(outcome: DeskUser | Response) -> Response:
    return outcome if isinstance(outcome, Response) else see_other(f"/desk/users/{outcome.id}?saved=1")


@router.post("/users/{user_id:int}/role")
async def change_role(request: Request, user_id: int, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    def change(store: Store, target: int, form: FormData, now: datetime, who: Actor) -> DeskUser:
        return users.set_role(store, target, text(form, "role"), now, who)

    return _saved(await _act(request, user, user_id, "role", change))


@router.post("/users/{user_id:int}/disable")
async def disable(request: Request, user_id: int, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    def change(store: Store, target: int, form: FormData, now: datetime, who: Actor) -> DeskUser:
        return users.disable(store, target, now, who)

    return _saved(await _act(request, user, user_id, "disable", change))


@router.post("/users/{user_id:int}/enable")
async def enable(request: Request, user_id: int, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    def change(store: Store, target: int, form: FormData, now: datetime, who: Actor) -> DeskUser:
        return users.enable(store, target, now, who)

    return _saved(await _act(request, user, user_id, "enable", change))


@router.post("/users/{user_id:int}/reset")
async def reset(request: Request, user_id: int, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    def change(store: Store, target: int, form: FormData, now: datetime, who: Actor) -> DeskUser:
        return users.reset(store, target, now, who)

    outcome = await _act(request, user, user_id, "reset", change)
    if isinstance(outcome, Response):
        return outcome
    t = words(lang_of(request))
    link = _setup_url(request, outcome.id)
    return _user_page(
        request, user, outcome.id, notice=t["usr_link_new"].format(email=outcome.email), link=link
    )


def _remove_page(
    request: Request, user: DeskUser, user_id: int, status: int = 200, problem: str = ""
) -> Response:
    t = words(lang_of(request))
    try:
        shown = users.get(store_of(request), user_id)
    except UserNotFound:
        return message(request, user, "not_found_title", "usr_not_found", 404)
    errors = {"remove": problem} if problem else {}
    return render(
        request, "user_remove.html", user, status, title=t["usr_remove"], shown=shown, errors=errors
    )


@router.get("/users/{user_id:int}/remove")
def remove_form(request: Request, user_id: int, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    return _remove_page(request, user, user_id)


@router.post("/users/{user_id:int}/remove")
async def remove(request: Request, user_id: int, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    def change(store: Store, target: int, form: FormData, now: datetime, who: Actor) -> DeskUser:
        removed = users.get(store, target)
        users.remove(store, target, now, who)
        return removed

    outcome = await _act(request, user, user_id, "remove", change)
    return outcome if isinstance(outcome, Response) else see_other("/desk/users?removed=1")
