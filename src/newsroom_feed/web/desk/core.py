"""What every desk page shares: who is signed in, their role, the language, CSRF, rendering, times.

Handlers take the signed-in user with ``Depends(editor)`` or ``Depends(admin)``: a visitor without a
session is sent to ``/desk/login`` (303, with where they were going), an editor on an admin page gets a
403 page. Every POST goes through `checked_form`, which refuses a form without the right CSRF token or
over the client's rate, before the handler reads a single field.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_datetime as babel_datetime
from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from newsroom_feed.bundled import bundled_templates
from newsroom_feed.models import LANGUAGES
from newsroom_feed.people import users
from newsroom_feed.people.users import DeskUser
from newsroom_feed.store.audit import Actor
from newsroom_feed.store.database import Store
from newsroom_feed.web.desk.words import words
from newsroom_feed.web.render import form_choices, form_text, with_csrf
from newsroom_feed.web.security import CsrfTokens, RateLimiter
from newsroom_feed.web.state import WebState, client_address, state_of

SESSION_COOKIE = "newsroom_desk"
LANG_COOKIE = "newsroom_desk_lang"
PREFIX = "/desk"


@dataclass
class DeskState:
    """The desk's share of the app state: signing, sign-in limits."""

    links: users.Links
    #: Failed sign-ins per account, and per client, in 15 minutes.
    account_failures: RateLimiter
    client_failures: RateLimiter

    @classmethod
    def build(cls, web: WebState) -> DeskState:
        attempts = web.settings.desk.sign_in_attempts
        return cls(
            links=users.Links(web.settings.verifying_keys()),
            account_failures=RateLimiter(attempts, 900.0),
            client_failures=RateLimiter(attempts * 4, 900.0),
        )


def desk_of(request: Request) -> DeskState:
    desk: DeskState = request.app.state.desk
    return desk


# -- who and which language -------------------------------------------------------------------------


class SignInRequired(Exception):
    """No (valid) session: the handler answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class AdminOnly(Exception):
    """An editor asked for an admin page."""


def store_of(request: Request) -> Store:
    return state_of(request).stores.get()


def now_of(request: Request) -> datetime:
    return state_of(request).clock()


def current_user(request: Request) -> DeskUser | None:
    cached: DeskUser | None = getattr(request.state, "desk_user", None)
    if cached is not None:
        return cached
    user = desk_of(request).links.session_user(
        store_of(request), request.cookies.get(SESSION_COOKIE), now_of(request)
    )
    request.state.desk_user = user
    return user


def editor(request: Request) -> DeskUser:
    """The signed-in user (editor or admin), or a redirect to sign in."""
    user = current_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target if request.method == "GET" else PREFIX + "/")
    return user


def admin(request: Request) -> DeskUser:
    user = editor(request)
    if not user.is_admin:
        raise AdminOnly
    return user


def actor(user: DeskUser) -> Actor:
    return Actor(user.email, user.id)


def lang_of(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return str(asked)
    cookie = request.cookies.get(LANG_COOKIE)
    return cookie if cookie in LANGUAGES else LANGUAGES[0]


def safe_next(path: str | None) -> str:
    """A place inside the desk to go after signing in; anything else (another site) goes home."""
    if not path or not path.startswith(PREFIX + "/") or path.startswith("//"):
        return PREFIX + "/"
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or "\\" in path:
        return PREFIX + "/"
    return path


# -- rendering --------------------------------------------------------------------------------------


def local_time(moment: datetime | None, zone: ZoneInfo, lang: str, with_zone: bool = False) -> str:
    """A moment as people in the newsroom read it: Europe/Warsaw (the setting), in their language."""
    if moment is None:
        return ""
    pattern = "d MMMM y, HH:mm" + (" zzz" if with_zone else "")
    return str(babel_datetime(moment, pattern, tzinfo=zone, locale=lang))


def input_time(moment: datetime | None, zone: ZoneInfo) -> str:
    """The value of a ``datetime-local`` field: local time, to the minute."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if moment else ""


@functools.cache
def _environment(directory: Path) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(directory),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["urlpart"] = lambda value: quote(str(value), safe="")
    return environment


def template_environment() -> Environment:
    return _environment(bundled_templates("desk"))


def render(
    request: Request,
    name: str,
    user: DeskUser | None,
    status: int = 200,
    *,
    title: str,
    **context: Any,
) -> Response:
    """A desk page in the visitor's language, with the frame's words, a CSRF token and the time helpers.

    Sets the CSRF cookie when the browser has none yet, and the language cookie when ``?lang=`` chose.
    """
    web = state_of(request)
    lang = lang_of(request)
    zone = web.settings.zone
    template = template_environment().get_template(name)

    def page(csrf_token: str) -> HTMLResponse:
        html = template.render(
            lang=lang,
            other_lang="en" if lang == "pl" else "pl",
            t=words(lang),
            user=user,
            title=title,
            path=request.url.path,
            site_title=web.settings.feed.title,
            organization=web.settings.feed.organization,
            csrf_token=csrf_token,
            local=lambda moment, with_zone=False: local_time(moment, zone, lang, with_zone),
            zone_name=str(zone),
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    response = with_csrf(request, page)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="lax",
            secure=request.url.scheme == "https", path=PREFIX,
        )  # fmt: skip
    return response


def message(
    request: Request, user: DeskUser | None, title_key: str, text_key: str, status: int = 200
) -> Response:
    t = words(lang_of(request))
    return render(request, "message.html", user, status, title=t[title_key], text=t[text_key])


def see_other(path: str) -> RedirectResponse:
    """After a POST that changed something: the browser GETs the result (a reload does not repeat it)."""
    return RedirectResponse(path, status_code=303)


# -- forms ------------------------------------------------------------------------------------------


async def checked_form(request: Request, user: DeskUser | None) -> FormData | Response:
    """The form of a POST, or the 429 / 403 page to answer instead (over the rate, wrong CSRF token)."""
    web = state_of(request)
    client = client_address(request)
    if not web.post_limit.allow(client):
        response = message(request, user, "rate_title", "rate_text", 429)
        response.headers["retry-after"] = str(web.post_limit.retry_after(client))
        return response
    form = await request.form()
    token = form.get(CsrfTokens.FIELD)
    if not web.csrf.valid(request.cookies.get(CsrfTokens.COOKIE), token if isinstance(token, str) else None):
        return message(request, user, "csrf_title", "csrf_text", 403)
    return form


# The subscriber pages' field readers, under the short names the desk's handlers use.
text = form_text
choices = form_choices


def raw(form: FormData, name: str) -> str:
    """A field as typed (passwords: spaces count)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Paging:
    """One page of a long list, and the links around it."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @classmethod
    def of(cls, request: Request, total: int, per_page: int = 50) -> Paging:
        pages = max(1, -(-total // per_page))
        return cls(min(cls.asked(request), pages), per_page, total)

    @staticmethod
    def asked(request: Request) -> int:
        """The page the request asks for (1 when it names none, or no number), before the total is
        known: `of` moves one past the end back to the last."""
        try:
            return max(int(request.query_params.get("page", "1")), 1)
        except ValueError:
            return 1
