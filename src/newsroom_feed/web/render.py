"""Rendering the subscriber pages, and what every form handler shares: CSRF, limits, form fields.

Templates live in ``templates/web/``; they render with autoescape and StrictUndefined, so typed text
cannot become markup and a missing word is an error rather than a blank.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, Response

from newsroom_feed.bundled import bundled_templates
from newsroom_feed.models import LANGUAGES
from newsroom_feed.web.security import CsrfTokens
from newsroom_feed.web.state import WebState, client_address, state_of
from newsroom_feed.web.texts import texts

# -- rendering -------------------------------------------------------------------------------------


@functools.cache
def _environment(directory: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(directory),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@functools.cache
def stylesheet_bytes(directory: Path) -> bytes:
    return (directory / "web.css").read_bytes()


def render(request: Request, name: str, lang: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page of ``templates/web`` in ``lang``, with the site's names and the words of that language."""
    web = state_of(request)
    template = _environment(bundled_templates("web")).get_template(name)
    html = template.render(
        lang=lang,
        t=texts(lang),
        site_title=web.settings.feed.title,
        organization=web.settings.feed.organization,
        **context,
    )
    # Pages with personal data or one-time tokens must not sit in shared caches.
    return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})


def message(
    request: Request,
    lang: str,
    title_key: str,
    text_key: str,
    status: int = 200,
    links: list[dict[str, str]] | None = None,
    role: str = "",
) -> HTMLResponse:
    t = texts(lang)
    return render(
        request,
        "message.html",
        lang,
        status,
        title=t[title_key],
        text=t[text_key],
        links=links or [],
        status_role=role,
    )


def language(value: str | None, fallback: str = "pl") -> str:
    return value if value in LANGUAGES else fallback


# -- CSRF and limits -------------------------------------------------------------------------------


def _csrf_cookie(request: Request) -> tuple[str, bool]:
    """The browser's CSRF cookie, or a new one (True: it must be set on the response)."""
    current = request.cookies.get(CsrfTokens.COOKIE)
    if current and 16 <= len(current) <= 64:
        return current, False
    return CsrfTokens.new_cookie(), True


def with_csrf(request: Request, build: Any) -> Response:
    """Render a form page with a CSRF token, setting the cookie when the browser has none yet."""
    web = state_of(request)
    cookie, fresh = _csrf_cookie(request)
    response: Response = build(web.csrf.form_token(cookie))
    if fresh:
        response.set_cookie(
            CsrfTokens.COOKIE,
            cookie,
            max_age=web.csrf.max_age,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response


def button_page(request: Request, page: str, token: str, lang: str) -> Response:
    """The one-button page ``{page}.html`` whose form posts back to ``/{page}/{token}``.

    A link in a mail opens this page rather than acting, since mail scanners follow every link.
    """
    return with_csrf(
        request,
        lambda csrf: render(
            request,
            f"{page}.html",
            lang,
            title=texts(lang)[f"{page}_title"],
            action=f"/{page}/{quote(token, safe='')}?lang={lang}",
            csrf_token=csrf,
        ),
    )


def guard(request: Request, form: FormData, lang: str) -> Response | None:
    """A 429 or 403 page when the client is over its limit or the form's CSRF token is wrong."""
    web = state_of(request)
    client = client_address(request)
    if not web.post_limit.allow(client):
        return too_many(request, lang, web.post_limit.retry_after(client))
    token = form.get(CsrfTokens.FIELD)
    if not web.csrf.valid(request.cookies.get(CsrfTokens.COOKIE), token if isinstance(token, str) else None):
        return message(
            request, lang, "csrf_title", "csrf_text", 403, [back_link(request, lang)], role="alert"
        )
    return None


def too_many(request: Request, lang: str, retry_after: int) -> Response:
    response = message(request, lang, "rate_title", "rate_text", 429, role="alert")
    response.headers["retry-after"] = str(retry_after)
    return response


def back_link(request: Request, lang: str) -> dict[str, str]:
    path = request.url.path if request.url.path != "/subscribe" else f"/subscribe?lang={lang}"
    return {"href": path, "label": texts(lang)["back"]}


def form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def form_choices(form: FormData, name: str) -> list[str]:
    return [value for value in form.getlist(name) if isinstance(value, str)]


def invalid_link(request: Request, lang: str) -> Response:
    return message(
        request,
        lang,
        "invalid_title",
        "invalid_text",
        404,
        [{"href": f"/subscribe?lang={lang}", "label": texts(lang)["subscribe_again"]}],
    )


def local_path(web: WebState, url: str) -> str:
    """A link of ours as a path, so it works whichever host name the page was reached by."""
    return url.removeprefix(web.settings.base_url) or "/"
