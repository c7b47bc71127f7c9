"""Signing in and out, the one-time code step, set-up links, and the user's own account page.

Failed sign-ins are counted per account and per client (`DeskSettings.sign_in_attempts` in 15 minutes
per account, four times that per client); at the limit the form says so and for how long, whatever the
password, so guessing cannot go on. A user with one-time codes gets a second step: the first proves the
password and leaves a signed, five-minute cookie naming the user; only the code opens the session.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from newsroom_feed.errors import InputError
from newsroom_feed.people import users
from newsroom_feed.people.users import DeskUser
from newsroom_feed.store import audit
from newsroom_feed.web.desk.core import (
    PREFIX,
    SESSION_COOKIE,
    actor,
    checked_form,
    current_user,
    desk_of,
    editor,
    lang_of,
    now_of,
    raw,
    render,
    safe_next,
    see_other,
    store_of,
    text,
)
from newsroom_feed.web.desk.words import words
from newsroom_feed.web.state import client_address, state_of

router = APIRouter()

PENDING_COOKIE = "newsroom_desk_pending"
PENDING_SECONDS = 300


def _pending(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        state_of(request).settings.signing_key(), salt="newsroom-feed desk code step"
    )


def _login_page(
    request: Request, status: int = 200, *, email: str = "", errors: dict[str, str] | None = None,
    notice: str = "", next_path: str = "",
) -> Response:  # fmt: skip
    t = words(lang_of(request))
    return render(
        request, "login.html", None, status, title=t["login_title"], email=email, errors=errors or {},
        notice=notice, next_path=safe_next(next_path or request.query_params.get("next")),
    )  # fmt: skip


@router.get("/login")
def login_form(request: Request) -> Response:
    if current_user(request) is not None:
        return see_other(safe_next(request.query_params.get("next")))
    notice = ""
    if request.query_params.get("ended"):
        notice = words(lang_of(request))["session_ended"]
    elif request.query_params.get("out"):
        notice = words(lang_of(request))["signed_out"]
    elif request.query_params.get("set"):
        notice = words(lang_of(request))["password_set"]
    return _login_page(request, notice=notice)


def _locked(request: Request, email: str) -> int:
    """Minutes until this account or client may try again; 0 if it may now."""
    desk = desk_of(request)
    client = client_address(request)
    waits = [
        limiter.retry_after(key)
        for limiter, key in ((desk.account_failures, email.lower()), (desk.client_failures, client))
        if limiter.full(key)
    ]
    return max(1, -(-max(waits) // 60)) if waits else 0


@router.post("/login")
async def login(request: Request) -> Response:
    form = await checked_form(request, None)
    if isinstance(form, Response):
        return form
    t = words(lang_of(request))
    email, password, next_path = text(form, "email"), raw(form, "password"), text(form, "next")
    minutes = _locked(request, email)
    if minutes:
        response = _login_page(
            request, 429, email=email, errors={"password": t["login_locked"].format(minutes=minutes)},
            next_path=next_path,
        )  # fmt: skip
        response.headers["retry-after"] = str(minutes * 60)
        return response
    user = users.check_password(store_of(request), email, password)
    if user is None:
        desk = desk_of(request)
        desk.account_failures.allow(email.lower())
        desk.client_failures.allow(client_address(request))
        return _login_page(
            request, 400, email=email, errors={"password": t["bad_login"]}, next_path=next_path
        )
    if users.needs_second_factor(user):
        response = see_other(f"{PREFIX}/login/code")
        response.set_cookie(
            PENDING_COOKIE, _pending(request).dumps([user.id, safe_next(next_path)]), max_age=PENDING_SECONDS,
            httponly=True, samesite="strict", secure=request.url.scheme == "https", path=PREFIX,
        )  # fmt: skip
        return response
    return _signed_in(request, user, safe_next(next_path))


def _signed_in(request: Request, user: DeskUser, target: str) -> Response:
    settings = state_of(request).settings
    cookie = desk_of(request).links.open_session(
        store_of(request), user, now_of(request), settings.desk.session_hours
    )
    response = see_other(target)
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=int(settings.desk.session_hours * 3600), httponly=True,
        samesite="strict", secure=request.url.scheme == "https", path=PREFIX,
    )  # fmt: skip
    response.delete_cookie(PENDING_COOKIE, path=PREFIX)
    return response


def _pending_user(request: Request) -> tuple[DeskUser, str] | None:
    try:
        value = _pending(request).loads(request.cookies.get(PENDING_COOKIE, ""), max_age=PENDING_SECONDS)
    except BadSignature:
        return None
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int)):
        return None
    try:
        user = users.get(store_of(request), value[0])
    except LookupError:
        return None
    return (user, safe_next(str(value[1]))) if user.active else None


def _code_page(request: Request, status: int = 200, errors: dict[str, str] | None = None) -> Response:
    t = words(lang_of(request))
    return render(request, "code.html", None, status, title=t["code_title"], errors=errors or {})


@router.get("/login/code")
def code_form(request: Request) -> Response:
    if _pending_user(request) is None:
        return see_other(f"{PREFIX}/login?ended=1")
    return _code_page(request)


@router.post("/login/code")
async def code(request: Request) -> Response:
    form = await checked_form(request, None)
    if isinstance(form, Response):
        return form
    pending = _pending_user(request)
    if pending is None:
        return see_other(f"{PREFIX}/login?ended=1")
    user, target = pending
    t = words(lang_of(request))
    minutes = _locked(request, user.email)
    if minutes:
        return _code_page(request, 429, {"code": t["login_locked"].format(minutes=minutes)})
    if not users.check_second_factor(store_of(request), user.id, text(form, "code"), now_of(request)):
        desk = desk_of(request)
        desk.account_failures.allow(user.email.lower())
        desk.client_failures.allow(client_address(request))
        return _code_page(request, 400, {"code": t["bad_code"]})
    return _signed_in(request, user, target)


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await checked_form(request, current_user(request))
    if isinstance(form, Response):
        return form
    desk_of(request).links.close_session(store_of(request), request.cookies.get(SESSION_COOKIE))
    response = see_other(f"{PREFIX}/login?out=1")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


# -- set-up links -----------------------------------------------------------------------------------


def _setup_page(
    request: Request, token: str, user: DeskUser, status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    t = words(lang_of(request))
    return render(
        request, "setup.html", None, status, title=t["setup_title"], token=token, setup_email=user.email,
        errors=errors or {},
    )  # fmt: skip


def _setup_invalid(request: Request) -> Response:
    t = words(lang_of(request))
    return render(request, "message.html", None, 404, title=t["setup_title"], text=t["setup_invalid"])


@router.get("/setup/{token}")
def setup_form(request: Request, token: str) -> Response:
    user = desk_of(request).links.setup_user(store_of(request), token, now_of(request))
    if user is None:
        return _setup_invalid(request)
    return _setup_page(request, token, user)


@router.post("/setup/{token}")
async def setup(request: Request, token: str) -> Response:
    form = await checked_form(request, None)
    if isinstance(form, Response):
        return form
    store, now, links = store_of(request), now_of(request), desk_of(request).links
    user = links.setup_user(store, token, now)
    if user is None:
        return _setup_invalid(request)
    t = words(lang_of(request))
    password, repeated = raw(form, "password"), raw(form, "repeat")
    problem = users.password_problem(password)
    if problem is not None:
        return _setup_page(request, token, user, 400, {"password": problem})
    if password != repeated:
        return _setup_page(request, token, user, 400, {"repeat": t["passwords_differ"]})
    links.redeem(store, token, password, now)
    return see_other(f"{PREFIX}/login?set=1")


# -- the user's own account ---------------------------------------------------------------------------


def _account_page(
    request: Request, user: DeskUser, status: int = 200, *, errors: dict[str, str] | None = None,
    notice: str = "", recovery: list[str] | None = None, secret: str | None = None,
) -> Response:  # fmt: skip
    t = words(lang_of(request))
    store = store_of(request)
    fresh = users.get(store, user.id)
    secret = secret or (None if fresh.totp_enabled else users.new_totp_secret())
    issuer = state_of(request).settings.feed.organization
    return render(
        request, "account.html", fresh, status, title=t["account_title"], errors=errors or {}, notice=notice,
        recovery=recovery or [], secret=secret,
        totp_uri=users.provisioning_uri(secret, fresh.email, issuer) if secret else "",
        history=audit.entries(store, "user", fresh.id, limit=50),
    )  # fmt: skip


@router.get("/account")
def account(request: Request, user: Annotated[DeskUser, Depends(editor)]) -> Response:
    return _account_page(request, user)


@router.post("/account/password")
async def change_password(request: Request, user: Annotated[DeskUser, Depends(editor)]) -> Response:
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    t = words(lang_of(request))
    store, now = store_of(request), now_of(request)
    if users.check_password(store, user.email, raw(form, "current")) is None:
        return _account_page(request, user, 400, errors={"current": t["wrong_password"]})
    password = raw(form, "password")
    problem = users.password_problem(password)
    if problem is not None:
        return _account_page(request, user, 400, errors={"password": problem})
    if password != raw(form, "repeat"):
        return _account_page(request, user, 400, errors={"repeat": t["passwords_differ"]})
    users.set_password(store, user.id, password, now, actor(user))
    # Every session ended with the old password, this one too: open a fresh one for this browser.
    return _signed_in(request, users.get(store, user.id), f"{PREFIX}/account?changed=1")


@router.post("/account/totp")
async def totp_on(request: Request, user: Annotated[DeskUser, Depends(editor)]) -> Response:
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    t = words(lang_of(request))
    secret = text(form, "secret")
    try:
        codes = users.enable_totp(
            store_of(request), user.id, secret, text(form, "code"), now_of(request), actor(user)
        )
    except InputError as error:
        return _account_page(request, user, 400, errors={"code": error.problem}, secret=secret or None)
    return _account_page(request, user, notice=t["totp_enabled"], recovery=codes)


@router.post("/account/totp/off")
async def totp_off(request: Request, user: Annotated[DeskUser, Depends(editor)]) -> Response:
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    t = words(lang_of(request))
    store = store_of(request)
    if users.check_password(store, user.email, raw(form, "current_totp")) is None:
        return _account_page(request, user, 400, errors={"current_totp": t["wrong_password"]})
    users.disable_totp(store, user.id, now_of(request), actor(user))
    return _account_page(request, user, notice=t["totp_disabled"])
