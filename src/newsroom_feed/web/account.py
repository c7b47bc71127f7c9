"""What a subscriber does with the links in every mail: unsubscribe (RFC 8058 one-click) and preferences.

An unsubscribe POST with any token answers the same page, so the endpoint never tells which tokens
exist. Every form carries a CSRF token, except the RFC 8058 one-click POST, which mail providers send
with no cookie at all: that body (``List-Unsubscribe=One-Click``) is honoured as it is, since
unsubscribing the owner of a secret link is the only thing it can do.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from newsroom_feed.errors import InputError, NotFound
from newsroom_feed.models import LANGUAGES, Subscriber
from newsroom_feed.people import subscriptions
from newsroom_feed.web import personal
from newsroom_feed.web.forms import FREQUENCIES
from newsroom_feed.web.render import (
    button_page,
    form_choices,
    form_text,
    guard,
    invalid_link,
    language,
    local_path,
    message,
    render,
    with_csrf,
)
from newsroom_feed.web.state import WebState, state_of
from newsroom_feed.web.texts import texts

router = APIRouter(include_in_schema=False)

ONE_CLICK = "One-Click"


# -- unsubscribe -----------------------------------------------------------------------------------


@router.get("/unsubscribe/{token}")
def unsubscribe_page(request: Request, token: str, lang: str | None = None) -> Response:
    """One button; the page is the same for every token, valid or not (a GET changes nothing, since
    mail scanners follow links)."""
    web = state_of(request)
    lang = language(lang, _language_of(web, token, "unsubscribe"))
    return button_page(request, "unsubscribe", token, lang)


@router.post("/unsubscribe/{token}")
async def unsubscribe(request: Request, token: str, lang: str | None = None) -> Response:
    """RFC 8058 one-click (no cookie, no CSRF token) or the page's button; always the same answer."""
    form = await request.form()
    one_click = form_text(form, "List-Unsubscribe") == ONE_CLICK
    web = state_of(request)
    lang = language(lang, await run_in_threadpool(_language_of, web, token, "unsubscribe"))
    if not one_click:
        refused = guard(request, form, lang)
        if refused is not None:
            return refused
    await run_in_threadpool(_unsubscribe, web, token, one_click)
    if one_click:
        return Response(status_code=200, content="OK\n", media_type="text/plain; charset=utf-8")
    return message(request, lang, "unsubscribed_title", "unsubscribed_text", role="status")


def _unsubscribe(web: WebState, token: str, one_click: bool) -> None:
    store = web.stores.get()
    now = web.clock()
    # The consent history says how they withdrew: a mail provider's one-click, or the page's button.
    source = subscriptions.ONE_CLICK if one_click else subscriptions.UNSUBSCRIBE_PAGE
    try:
        subscriber = subscriptions.resolve(store, web.settings, token, "unsubscribe", now)
        subscriptions.unsubscribe(store, subscriber.token, now, source=source)
    except NotFound:
        pass  # the same answer as for a real token: the page never tells which tokens exist


def _language_of(web: WebState, token: str, purpose: subscriptions.Purpose) -> str:
    try:
        return web_subscriber(web, token, purpose).language
    except NotFound:
        return "pl"


def web_subscriber(web: WebState, token: str, purpose: subscriptions.Purpose) -> Subscriber:
    """:raises NotFound: the link is forged, of another purpose, or its subscriber was erased."""
    return subscriptions.resolve(web.stores.get(), web.settings, token, purpose, web.clock())


# -- preferences -----------------------------------------------------------------------------------


def _preferences_page(
    request: Request,
    subscriber: Subscriber,
    token: str,
    lang: str,
    *,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    status: int = 200,
    feed_replaced: bool = False,
) -> Response:
    web = state_of(request)
    categories = web.stores.get().categories()
    unsubscribe_href = local_path(web, subscriptions.link_url(web.settings, subscriber, "unsubscribe"))
    # Only an active subscriber has a personal feed; its token is minted the first time it is shown.
    feed_urls = (
        personal.feed_urls(web.settings, personal.feed_token(web.stores.get(), subscriber.id))
        if subscriber.status == "active"
        else []
    )
    form = {
        "categories": list(subscriber.categories),
        "frequency": subscriber.frequency,
        "language": subscriber.language,
    }
    return with_csrf(
        request,
        lambda csrf: render(
            request,
            "preferences.html",
            lang,
            status,
            title=texts(lang)["preferences_title"],
            action=f"/preferences/{quote(token, safe='')}",
            csrf_token=csrf,
            email=subscriber.email,
            form=form,
            errors=errors or {},
            saved=saved,
            feed_replaced=feed_replaced,
            categories=categories,
            frequencies=FREQUENCIES,
            languages=LANGUAGES,
            unsubscribe_href=unsubscribe_href,
            feed_urls=feed_urls,
        ),
    )


@router.get("/preferences/{token}")
def preferences_page(request: Request, token: str, lang: str | None = None) -> Response:
    web = state_of(request)
    try:
        subscriber = web_subscriber(web, token, "preferences")
    except NotFound:
        return invalid_link(request, language(lang))
    saved = request.query_params.get("saved") == "1"
    replaced = request.query_params.get("feed") == "new"
    lang = language(lang, subscriber.language)
    return _preferences_page(request, subscriber, token, lang, saved=saved, feed_replaced=replaced)


@router.post("/preferences/{token}")
async def preferences(request: Request, token: str) -> Response:
    form = await request.form()
    web = state_of(request)
    try:
        subscriber = await run_in_threadpool(web_subscriber, web, token, "preferences")
    except NotFound:
        return invalid_link(request, "pl")
    lang = subscriber.language
    refused = guard(request, form, lang)
    if refused is not None:
        return refused
    if form_text(form, "action") == "erase":
        if form_text(form, "erase_confirm") != "yes":
            errors = {"erase_confirm": texts(lang)["error_erase_confirm"]}
            return await run_in_threadpool(
                lambda: _preferences_page(request, subscriber, token, lang, errors=errors, status=422)
            )
        await run_in_threadpool(_erase, web, subscriber)
        return message(request, lang, "erased_title", "erased_text", role="status")
    if form_text(form, "action") == "new_feed_address" and subscriber.status == "active":
        await run_in_threadpool(
            lambda: personal.replace_feed_token(web.stores.get(), subscriber.id, web.clock())
        )
        return RedirectResponse(f"/preferences/{quote(token, safe='')}?feed=new", status_code=303)
    changes = {
        "categories": form_choices(form, "categories"),
        "frequency": form_text(form, "frequency"),
        "language": form_text(form, "language"),
    }
    errors = await run_in_threadpool(_save_preferences, web, subscriber, changes)
    if errors:
        t = texts(lang)
        shown = {field: t["error_choice"] for field in errors}
        return await run_in_threadpool(
            lambda: _preferences_page(request, subscriber, token, lang, errors=shown, status=422)
        )
    return RedirectResponse(f"/preferences/{quote(token, safe='')}?saved=1", status_code=303)


def _save_preferences(web: WebState, subscriber: Subscriber, changes: dict[str, Any]) -> dict[str, str]:
    store = web.stores.get()
    known = {category.slug for category in store.categories()}
    errors: dict[str, str] = {}
    if changes["frequency"] not in FREQUENCIES:
        errors["frequency"] = "choice"
    if changes["language"] not in LANGUAGES:
        errors["language"] = "choice"
    if errors:
        return errors
    changes["categories"] = [slug for slug in changes["categories"] if slug in known]
    try:
        subscriptions.update_preferences(store, subscriber.token, changes, web.clock())
    except InputError as error:
        return {error.field.split(".", 1)[0]: error.problem}
    except NotFound:
        return {"categories": "gone"}
    return {}


def _erase(web: WebState, subscriber: Subscriber) -> None:
    # Erased twice (a double click): the result is the same.
    with contextlib.suppress(NotFound):
        subscriptions.erase(web.stores.get(), subscriber.token)
