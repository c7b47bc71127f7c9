"""The subscribe form (double opt-in) and the confirmation page.

Each handler parses the form, calls one core function of `subscriptions`, and renders a page. What the
pages say never depends on whether an address exists: a subscribe request for a known address looks
exactly like one for a new address, and sends at most one confirmation mail per address per hour. Past
`NEWSROOM_HTTP__CONFIRMATIONS_PER_HOUR` new addresses in an hour (all clients together) every request is
answered 429 and nothing is sent, for known addresses too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from newsroom_feed.bundled import bundled_templates
from newsroom_feed.errors import InputError, NotFound, RateLimited
from newsroom_feed.models import Subscriber
from newsroom_feed.people import journalists, subscriptions
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
    stylesheet_bytes,
    too_many,
    with_csrf,
)
from newsroom_feed.web.state import WebState, client_address, state_of
from newsroom_feed.web.texts import consent_text, texts

router = APIRouter(include_in_schema=False)

#: URL prefixes of the subscriber pages (for the metrics' ``area`` label).
FORM_PREFIXES = ("/subscribe", "/confirm/", "/unsubscribe/", "/preferences/", "/_web/")
KINDS = ("journalist", "city", "other")
FREQUENCIES = ("immediate", "daily", "weekly")
_FIELD_LIMIT = 200
#: The order of the fields on the page, which the error summary follows.
_FIELD_ORDER = ("email", "name", "kind", "organization", "frequency", "consent")


# -- subscribe -------------------------------------------------------------------------------------


@router.get("/_web/web.css")
def stylesheet() -> Response:
    return Response(
        stylesheet_bytes(bundled_templates("web")),
        media_type="text/css; charset=utf-8",
        headers={"cache-control": "public, max-age=86400"},
    )


def _subscribe_page(
    request: Request, lang: str, form: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    categories = state_of(request).stores.get().categories()
    return with_csrf(
        request,
        lambda token: render(
            request,
            "subscribe.html",
            lang,
            status,
            title=texts(lang)["subscribe_title"],
            other_lang="en" if lang == "pl" else "pl",
            csrf_token=token,
            form=form,
            errors=errors,
            kinds=KINDS,
            frequencies=FREQUENCIES,
            categories=categories,
            consent_text=consent_text(lang),
        ),
    )


_EMPTY_FORM: dict[str, Any] = {
    "email": "", "name": "", "kind": "journalist", "organization": "", "categories": [],
    "frequency": "immediate", "consent": False,
}  # fmt: skip


@router.get("/subscribe")
def subscribe_form(request: Request, lang: str = "pl") -> Response:
    return _subscribe_page(request, language(lang), dict(_EMPTY_FORM), {})


async def posted_form(request: Request) -> tuple[FormData, str, Response | None]:
    """The posted form, its language, and the answer that refuses it (`guard`), if any."""
    form = await request.form()
    lang = language(form_text(form, "lang") or request.query_params.get("lang"))
    return form, lang, guard(request, form, lang)


def over_client_limit(request: Request, lang: str) -> Response | None:
    """The 429 page once this client has sent too many sign-ups (`/subscribe` and `/journalists/apply`
    share the limit), else None."""
    limit = state_of(request).subscribe_limit
    client = client_address(request)
    return None if limit.allow(client) else too_many(request, lang, limit.retry_after(client))


@router.post("/subscribe")
async def subscribe(request: Request) -> Response:
    form, lang, refused = await posted_form(request)
    if refused is not None:
        return refused
    web = state_of(request)
    if form_text(form, "website"):
        # A bot filled the field people never see: answer as if it worked, store nothing.
        return _sent(lang)
    refused = over_client_limit(request, lang)
    if refused is not None:
        return refused
    values = {
        "email": form_text(form, "email"),
        "name": form_text(form, "name"),
        "kind": form_text(form, "kind") or "other",
        "organization": form_text(form, "organization"),
        "categories": form_choices(form, "categories"),
        "frequency": form_text(form, "frequency") or "immediate",
        "consent": form_text(form, "consent") == "yes",
    }
    try:
        errors = await run_in_threadpool(_request_subscription, web, values, lang)
    except RateLimited as limited:
        return _busy(request, lang, limited.retry_after)
    if errors:
        return await run_in_threadpool(_subscribe_page, request, lang, values, errors, 422)
    return _sent(lang)


def _busy(request: Request, lang: str, retry_after: int) -> Response:
    """The hourly cap of new addresses is reached: say so, and when to come back (not this client's
    fault, so not the per-client "too many attempts" page)."""
    response = message(request, lang, "busy_title", "busy_text", 429, role="alert")
    response.headers["retry-after"] = str(retry_after)
    return response


def _sent(lang: str) -> Response:
    """Post/redirect/get: a reload of the result page does not send the form again."""
    return RedirectResponse(f"/subscribe/sent?lang={lang}", status_code=303)


@router.get("/subscribe/sent")
def subscribe_sent(request: Request, lang: str = "pl") -> Response:
    lang = language(lang)
    return message(request, lang, "sent_title", "sent_text", role="status")


def _request_subscription(web: WebState, values: dict[str, Any], lang: str) -> dict[str, str]:
    """Validate the form and ask for the subscription; the errors to show, by field (none: done).

    `subscriptions.request_subscription` writes the pending subscriber and queues its confirmation mail
    in one transaction, so a crash never leaves a pending address that nobody will ever ask to confirm.
    """
    t = texts(lang)
    errors: dict[str, str] = {}
    store = web.stores.get()
    known = {category.slug for category in store.categories()}
    if values["kind"] not in KINDS:
        errors["kind"] = t["error_choice"]
    if values["frequency"] not in FREQUENCIES:
        errors["frequency"] = t["error_choice"]
    for name in ("name", "organization"):
        if len(values[name]) > _FIELD_LIMIT:
            errors[name] = t["error_too_long"]
    if not values["consent"]:
        errors["consent"] = t["error_consent"]
    values["categories"] = [slug for slug in values["categories"] if slug in known]
    try:
        subscriptions.SubscriberInput.parse({"email": values["email"]})
    except InputError:
        errors["email"] = t["error_email"]
    if errors:
        return {field: errors[field] for field in _FIELD_ORDER if field in errors}
    data = {
        "email": values["email"],
        "name": values["name"] or None,
        "kind": values["kind"],
        "organization": values["organization"] or None,
        "categories": values["categories"],
        "frequency": values["frequency"],
        "language": lang,
        "consent_text": consent_text(lang),
    }
    try:
        subscriptions.request_subscription(
            store, data, web.clock(), confirmations_per_hour=web.settings.http.confirmations_per_hour
        )
    except InputError as error:
        field = error.field.split(".", 1)[0]
        if field == "email":
            return {"email": t["error_email"]}
        if field in ("name", "organization"):
            return {field: t["error_too_long"]}
        return {field if field in ("kind", "frequency") else "email": t["error_choice"]}
    return {}


# -- confirm ---------------------------------------------------------------------------------------


@router.get("/confirm/{token}")
def confirm_page(request: Request, token: str, lang: str | None = None) -> Response:
    """A page with one button; a GET changes nothing, since corporate link scanners open every link in
    a mail and would otherwise confirm the double opt-in without the person. Once confirmed, the same
    link shows that it worked (idempotent)."""
    web = state_of(request)
    subscriber = _confirm_subscriber(web, token)
    if subscriber is None:
        return invalid_link(request, language(lang))
    lang = language(lang, subscriber.language)
    if subscriber.status == "active":
        return _confirmed(request, web, subscriber, lang)
    if subscriber.status != "pending":
        return invalid_link(request, lang)
    return button_page(request, "confirm", token, lang)


@router.post("/confirm/{token}")
async def confirm(request: Request, token: str, lang: str | None = None) -> Response:
    """The page's button activates the subscription, then redirects to the page (post/redirect/get).

    The CSRF double submit is kept as on every other form: the mail link's GET sets the cookie, so the
    flow from a mail client works. Without a valid CSRF token every link gets the same 403, valid or not.
    """
    form = await request.form()
    web = state_of(request)
    subscriber = await run_in_threadpool(_confirm_subscriber, web, token)
    lang = language(lang, subscriber.language if subscriber is not None else "pl")
    refused = guard(request, form, lang)
    if refused is not None:
        return refused
    if subscriber is None:
        return invalid_link(request, lang)
    confirmed = await run_in_threadpool(_activate, web, subscriber, token)
    if confirmed is None or confirmed.status != "active":
        return invalid_link(request, lang)
    return RedirectResponse(f"/confirm/{quote(token, safe='')}?lang={lang}", status_code=303)


def _confirm_subscriber(web: WebState, token: str) -> Subscriber | None:
    """The subscriber behind a confirmation link; None when it is forged, expired, of another purpose,
    or its subscriber was erased (all answered alike)."""
    try:
        return subscriptions.resolve(web.stores.get(), web.settings, token, "confirm", web.clock())
    except NotFound:
        return None


def _activate(web: WebState, subscriber: Subscriber, signed: str) -> Subscriber | None:
    """Confirm what was asked by the time the link's mail went out (`subscriptions.confirm`)."""
    issued_at = subscriptions.link_issued_at(signed)
    try:
        return subscriptions.confirm(web.stores.get(), subscriber.token, web.clock(), issued_at=issued_at)
    except NotFound:
        return None  # erased between the page and the button


def _confirmed(request: Request, web: WebState, subscriber: Subscriber, lang: str) -> Response:
    preferences = subscriptions.link_url(web.settings, subscriber, "preferences")
    awaiting = journalists.awaiting(web.stores.get(), subscriber.id)  # applied as a journalist
    return message(
        request,
        lang,
        "confirmed_title",
        "confirmed_journalist_text" if awaiting else "confirmed_text",
        links=[{"href": local_path(web, preferences), "label": texts(lang)["preferences_link"]}],
        role="status",
    )
