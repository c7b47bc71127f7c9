"""The public application form for journalists, `/journalists/apply` (issue 12).

Like `/subscribe` (`web.forms`): CSRF, the per-client rate limit, errors beside their fields with nothing
stored, and a double opt-in whose confirmation mail is the subscribe form's. An applicant also gives a link
that shows their work, optionally a press card number, and accepts the embargo terms; once they confirm,
they are subscribed and wait for an admin to verify them (`people.journalists`). An address already stored
gets the same answer as a new one and changes nothing, so the form tells nobody who is subscribed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from newsroom_feed.errors import InputError
from newsroom_feed.people import journalists, subscriptions
from newsroom_feed.web.forms import over_client_limit, posted_form
from newsroom_feed.web.render import form_choices, form_text, language, render, with_csrf
from newsroom_feed.web.state import WebState, state_of
from newsroom_feed.web.texts import consent_text, texts

router = APIRouter(include_in_schema=False)

#: The order of the fields on the page, which the error summary follows.
_FIELD_ORDER = ("name", "organization", "email", "work_url", "press_card", "terms")
_FIELD_LIMIT = 200

WORDS = {
    "pl": {
        "title": "Zgłoszenie dziennikarza",
        "lead": (
            "Zweryfikowani dziennikarze dostają informacje prasowe objęte embargiem przed jego upływem. "
            "Po potwierdzeniu adresu e-mail Twoje zgłoszenie sprawdzi biuro prasowe."
        ),
        "other_language": "English",
        "name": "Imię i nazwisko",
        "organization": "Redakcja",
        "email": "Służbowy adres e-mail",
        "email_hint": "Wyślemy na niego link potwierdzający.",
        "work_url": "Link do Twoich publikacji",
        "work_url_hint": "Strona redakcji lub Twoja strona autorska, np. https://gazeta.example.pl/autor/jan",
        "press_card": "Numer legitymacji prasowej",
        "consent_hint": "Wysłanie zgłoszenia oznacza też zgodę na powiadomienia: {consent}",
        "terms_heading": "Warunki embarga (wersja {version})",
        "terms": "Akceptuję powyższe warunki embarga.",
        "button": "Wyślij zgłoszenie",
        "error_required": "To pole jest wymagane.",
        "error_work_url": "Podaj link zaczynający się od http:// lub https://.",
        "error_press_card": "Numer legitymacji może mieć najwyżej 100 znaków.",
        "error_terms": "Zaakceptuj warunki embarga, bez tego nie możemy przyjąć zgłoszenia.",
        "sent_title": "Sprawdź skrzynkę",
        "sent_text": (
            "Jeśli adres jest poprawny, wysłaliśmy na niego link potwierdzający. Po potwierdzeniu "
            "zgłoszenie czeka na weryfikację przez biuro prasowe."
        ),
    },
    "en": {
        "title": "Journalist application",
        "lead": (
            "Verified journalists receive press releases under embargo before it lifts. Once you confirm "
            "your e-mail address, the press office will review your application."
        ),
        "other_language": "Polski",
        "name": "Name",
        "organization": "Outlet",
        "email": "Work e-mail address",
        "email_hint": "We will send a confirmation link to it.",
        "work_url": "Link to your work",
        "work_url_hint": "Your outlet's site or your author page, e.g. https://paper.example.com/author/jane",
        "press_card": "Press card number",
        "consent_hint": "Sending the application also means agreeing to alerts: {consent}",
        "terms_heading": "Embargo terms (version {version})",
        "terms": "I accept the embargo terms above.",
        "button": "Send the application",
        "error_required": "This field is required.",
        "error_work_url": "Enter a link starting with http:// or https://.",
        "error_press_card": "The press card number can have at most 100 characters.",
        "error_terms": "Please accept the embargo terms; without them we cannot take your application.",
        "sent_title": "Check your inbox",
        "sent_text": (
            "If the address is valid, we have sent a confirmation link to it. Once you confirm, your "
            "application waits for the press office to verify it."
        ),
    },
}

_EMPTY_FORM: dict[str, Any] = {
    "name": "", "organization": "", "email": "", "work_url": "", "press_card": "", "categories": [],
    "terms": False,
}  # fmt: skip


def _page(
    request: Request, lang: str, form: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    web = state_of(request)
    words = WORDS[lang]
    return with_csrf(
        request,
        lambda token: render(
            request,
            "journalist_apply.html",
            lang,
            status,
            title=words["title"],
            j=words,
            other_lang="en" if lang == "pl" else "pl",
            csrf_token=token,
            form=form,
            errors=errors,
            categories=web.stores.get().categories(),
            terms_text=journalists.terms_text(web.settings, lang),
            terms_version=journalists.terms_version(web.settings),
            consent_text=consent_text(lang),
        ),
    )


@router.get("/journalists/apply")
def apply_form(request: Request, lang: str = "pl") -> Response:
    return _page(request, language(lang), dict(_EMPTY_FORM), {})


@router.post("/journalists/apply")
async def apply(request: Request) -> Response:
    form, lang, refused = await posted_form(request)
    if refused is None:
        refused = over_client_limit(request, lang)
    if refused is not None:
        return refused
    web = state_of(request)
    values: dict[str, Any] = {name: form_text(form, name) for name in _FIELD_ORDER if name != "terms"}
    values["categories"] = form_choices(form, "categories")
    values["terms"] = form_text(form, "terms") == "yes"
    errors = await run_in_threadpool(_apply, web, values, lang)
    if errors:
        return await run_in_threadpool(_page, request, lang, values, errors, 400)
    return RedirectResponse(f"/journalists/apply/sent?lang={lang}", status_code=303)


@router.get("/journalists/apply/sent")
def apply_sent(request: Request, lang: str = "pl") -> Response:
    lang = language(lang)
    words = WORDS[lang]
    return render(
        request, "message.html", lang, title=words["sent_title"], text=words["sent_text"], links=[],
        status_role="status",
    )  # fmt: skip


def _apply(web: WebState, values: dict[str, Any], lang: str) -> dict[str, str]:
    """Check the form and store the application; the errors to show, by field (none: done)."""
    words = WORDS[lang]
    errors: dict[str, str] = {}
    for name in ("name", "organization", "email", "work_url"):
        if not values[name]:
            errors[name] = words["error_required"]
    for name in ("name", "organization"):
        if len(values[name]) > _FIELD_LIMIT:
            errors[name] = texts(lang)["error_too_long"]
    if values["email"] and "email" not in errors:
        try:
            subscriptions.SubscriberInput.parse({"email": values["email"]})
        except InputError:
            errors["email"] = texts(lang)["error_email"]
    if values["work_url"] and "work_url" not in errors:
        try:
            journalists.check_work_url(values["work_url"])
        except InputError:
            errors["work_url"] = words["error_work_url"]
    card = values["press_card"]
    if len(card) > 100 or any(not c.isprintable() for c in card):
        errors["press_card"] = words["error_press_card"]
    if not values["terms"]:
        errors["terms"] = words["error_terms"]
    if errors:
        return {field: errors[field] for field in _FIELD_ORDER if field in errors}
    store = web.stores.get()
    known = {category.slug for category in store.categories()}
    data = {
        "email": values["email"],
        "name": values["name"],
        "organization": values["organization"],
        "categories": [slug for slug in values["categories"] if slug in known],
        "language": lang,
        "consent_text": consent_text(lang),
    }
    try:
        journalists.apply(store, web.settings, data, values["work_url"], card, web.clock())
    except InputError as error:
        field = error.field.split(".", 1)[0]
        problems = {"work_url": words["error_work_url"], "press_card": words["error_press_card"]}
        if field in ("name", "organization"):
            return {field: texts(lang)["error_too_long"]}
        return {field: problems[field]} if field in problems else {"email": texts(lang)["error_email"]}
    return {}
