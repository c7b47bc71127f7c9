# ruff: noqa: E501  (sentences read better whole than cut at 110 columns)
"""Subscribers for admins: search and filters, add one, import and export CSV, a subscriber's page with
their consent history, and erasure behind a confirmation step.

Every write goes through `people.subscriptions` and `people.subscriber_csv`, the same calls as the
`subscriber` commands, so the desk and the CLI cannot disagree. The export is personal data: admins
only, never cached. Erasing also blanks the subscriber's rows in the audit log (`audit.scrub`), and the
entry that records the erasure names no address.
"""

from __future__ import annotations

import io
from typing import Annotated, Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from newsroom_feed.errors import InputError, SubscriberNotFound
from newsroom_feed.models import Frequency, SubscriberKind, SubscriberStatus
from newsroom_feed.people import consent, subscriber_csv, subscriptions
from newsroom_feed.people.users import DeskUser
from newsroom_feed.store import audit
from newsroom_feed.store import desk_subscribers as queries
from newsroom_feed.web.desk import words as desk_words
from newsroom_feed.web.desk.core import (
    Paging,
    actor,
    admin,
    checked_form,
    choices,
    lang_of,
    message,
    now_of,
    render,
    see_other,
    store_of,
    text,
)
from newsroom_feed.web.desk.words import words

router = APIRouter()

PER_PAGE = 50
#: A CSV of 100,000 subscribers is about 10 MB; this leaves room and still bounds what we read.
IMPORT_MAX_BYTES = 50 * 1024 * 1024
STATUSES: tuple[str, ...] = get_args(SubscriberStatus)
KINDS: tuple[str, ...] = get_args(SubscriberKind)
FREQUENCIES: tuple[str, ...] = get_args(Frequency)
FIELDS = ("email", "name", "kind", "organization", "categories", "frequency", "language")

WORDS = {
    "pl": {
        "sub_title": "Subskrybenci",
        "sub_search": "Szukaj",
        "sub_search_hint": "Fragment adresu, imienia i nazwiska albo organizacji.",
        "sub_filter": "Filtruj",
        "sub_any": "dowolny",
        "sub_any_category": "dowolna",
        "sub_category_hint": "Także ci, którzy otrzymują wszystkie kategorie.",
        "sub_found": "Znaleziono: {count}.",
        "sub_none_found": "Nie znaleziono subskrybentów.",
        "sub_add": "Dodaj subskrybenta",
        "sub_import": "Importuj CSV",
        "sub_export": "Eksportuj CSV",
        "sub_status": "Status",
        "sub_kind": "Rodzaj",
        "sub_category": "Kategoria",
        "sub_categories": "Kategorie",
        "sub_categories_hint": "Brak zaznaczenia oznacza wszystkie kategorie.",
        "sub_all_categories": "wszystkie",
        "sub_email": "Adres e-mail",
        "sub_name": "Imię i nazwisko",
        "sub_organization": "Organizacja",
        "sub_frequency": "Częstotliwość",
        "sub_language": "Język wiadomości",
        "sub_created": "Dodano",
        "sub_confirmed": "Potwierdzono",
        "sub_unsubscribed_at": "Wypisano",
        "sub_consent_source": "Źródło zgody",
        "sub_double_opt_in": "Wyślij prośbę o potwierdzenie (double opt-in)",
        "sub_double_opt_in_hint": "Subskrybent będzie oczekujący, dopóki nie kliknie linku w wiadomości. Bez tego jest aktywny od razu (zgoda udzielona operatorowi).",
        "sub_added": "Dodano subskrybenta {email} ({status}).",
        "sub_status_pending": "oczekuje",
        "sub_status_active": "aktywny",
        "sub_status_unsubscribed": "wypisany",
        "sub_status_bounced": "odbijany",
        "sub_kind_journalist": "dziennikarz",
        "sub_kind_city": "miasto",
        "sub_kind_other": "inny",
        "sub_frequency_immediate": "od razu",
        "sub_frequency_daily": "codziennie",
        "sub_frequency_weekly": "co tydzień",
        "sub_language_pl": "polski",
        "sub_language_en": "angielski",
        "sub_import_lead": "Plik CSV z nagłówkiem {header} (kategorie rozdzielone średnikiem; puste = wszystkie). Adresy już zapisane są pomijane.",
        "sub_file": "Plik CSV",
        "sub_file_missing": "Wybierz plik CSV.",
        "sub_file_encoding": "Plik musi być zapisany w UTF-8.",
        "sub_import_done": "Zaimportowano: {imported}. Pominięto (już zapisani): {skipped}. Odrzucono wierszy: {rejected}.",
        "sub_rejected": "Odrzucone wiersze",
        "sub_line": "Wiersz",
        "sub_field": "Pole",
        "sub_reason": "Powód",
        "sub_details": "Dane",
        "sub_consent": "Historia zgód",
        "sub_consent_at": "Kiedy",
        "sub_consent_event": "Zdarzenie",
        "sub_consent_version": "Wersja treści zgody",
        "sub_consent_detail": "Szczegóły",
        "sub_consent_empty": "Brak zdarzeń.",
        "sub_erase": "Usuń dane subskrybenta",
        "sub_erase_lead": "Usunięte zostaną wszystkie dane osobowe {email}: adres, imię, organizacja, wybory i historia zgód. W wysyłce zostaną tylko anonimowe liczby. Tego nie da się cofnąć.",
        "sub_erase_confirm": "Tak, usuń dane",
        "sub_erased": "Dane subskrybenta zostały usunięte.",
        "sub_list": "Lista subskrybentów",
        "sub_table": "Subskrybenci, strona {page} z {pages}",
        "sub_not_found": "Nie ma takiego subskrybenta. Może jego dane zostały usunięte.",
    },
    "en": {
        "sub_title": "Subscribers",
        "sub_search": "Search",
        "sub_search_hint": "Part of the address, name or organization.",
        "sub_filter": "Filter",
        "sub_any": "any",
        "sub_any_category": "any",
        "sub_category_hint": "Also those who receive every category.",
        "sub_found": "Found: {count}.",
        "sub_none_found": "No subscribers found.",
        "sub_add": "Add a subscriber",
        "sub_import": "Import CSV",
        "sub_export": "Export CSV",
        "sub_status": "Status",
        "sub_kind": "Kind",
        "sub_category": "Category",
        "sub_categories": "Categories",
        "sub_categories_hint": "None ticked means every category.",
        "sub_all_categories": "all",
        "sub_email": "E-mail address",
        "sub_name": "Name",
        "sub_organization": "Organization",
        "sub_frequency": "Frequency",
        "sub_language": "Language of the messages",
        "sub_created": "Added",
        "sub_confirmed": "Confirmed",
        "sub_unsubscribed_at": "Unsubscribed",
        "sub_consent_source": "Consent source",
        "sub_double_opt_in": "Send a confirmation request (double opt-in)",
        "sub_double_opt_in_hint": "The subscriber stays pending until they use the link in the message. Without it they are active at once (consent given to the operator).",
        "sub_added": "Added the subscriber {email} ({status}).",
        "sub_status_pending": "pending",
        "sub_status_active": "active",
        "sub_status_unsubscribed": "unsubscribed",
        "sub_status_bounced": "bounced",
        "sub_kind_journalist": "journalist",
        "sub_kind_city": "city",
        "sub_kind_other": "other",
        "sub_frequency_immediate": "immediately",
        "sub_frequency_daily": "daily",
        "sub_frequency_weekly": "weekly",
        "sub_language_pl": "Polish",
        "sub_language_en": "English",
        "sub_import_lead": "A CSV file with the header {header} (categories separated by semicolons; empty = all). Addresses already stored are skipped.",
        "sub_file": "CSV file",
        "sub_file_missing": "Choose a CSV file.",
        "sub_file_encoding": "The file must be saved as UTF-8.",
        "sub_import_done": "Imported: {imported}. Skipped (already stored): {skipped}. Rejected rows: {rejected}.",
        "sub_rejected": "Rejected rows",
        "sub_line": "Line",
        "sub_field": "Field",
        "sub_reason": "Reason",
        "sub_details": "Details",
        "sub_consent": "Consent history",
        "sub_consent_at": "When",
        "sub_consent_event": "Event",
        "sub_consent_version": "Consent text version",
        "sub_consent_detail": "Detail",
        "sub_consent_empty": "No events.",
        "sub_erase": "Erase the subscriber's data",
        "sub_erase_lead": "Every piece of personal data of {email} will be erased: address, name, organization, choices and consent history. The outbox keeps anonymous counts only. This cannot be undone.",
        "sub_erase_confirm": "Yes, erase the data",
        "sub_erased": "The subscriber's data was erased.",
        "sub_list": "Subscriber list",
        "sub_table": "Subscribers, page {page} of {pages}",
        "sub_not_found": "There is no such subscriber. Their data may have been erased.",
    },
}
desk_words.register(WORDS)


def _options(t: dict[str, str], prefix: str, values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(value, t[f"{prefix}_{value}"]) for value in values]


def _one_of(value: str | None, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else ""


# -- the list ---------------------------------------------------------------------------------------


@router.get("/subscribers")
def subscriber_list(request: Request, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    t = words(lang_of(request))
    store = store_of(request)
    categories = store.categories()
    asked = request.query_params
    wanted = queries.SubscriberFilter(
        text=(asked.get("q") or "").strip()[:200],
        status=_one_of(asked.get("status"), STATUSES),
        kind=_one_of(asked.get("kind"), KINDS),
        category=_one_of(asked.get("category"), tuple(c.slug for c in categories)),
    )
    asked_offset = (Paging.asked(request) - 1) * PER_PAGE
    ids, total = queries.page_and_count(store, wanted, PER_PAGE, asked_offset)
    paging = Paging.of(request, total, PER_PAGE)
    if paging.offset != asked_offset:  # asked past the last page: show the last
        ids = queries.page_ids(store, wanted, paging.per_page, paging.offset)
    by_id = {found.id: found for found in subscriptions.subscribers_by_ids(store, ids)}
    query = urlencode(
        [(name, value) for name, value in (
            ("q", wanted.text), ("status", wanted.status), ("kind", wanted.kind), ("category", wanted.category)
        ) if value]
    )  # fmt: skip
    return render(
        request, "subscribers.html", user, title=t["sub_title"], wanted=wanted, paging=paging,
        subscribers=[by_id[i] for i in ids if i in by_id], query=query,
        statuses=_options(t, "sub_status", STATUSES), kinds=_options(t, "sub_kind", KINDS),
        categories=[(c.slug, c.name) for c in categories], erased=bool(asked.get("erased")),
    )  # fmt: skip


# -- adding one -------------------------------------------------------------------------------------


def _form_page(
    request: Request, user: DeskUser, status: int = 200, *, values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    t = words(lang_of(request))
    return render(
        request, "subscriber_new.html", user, status, title=t["sub_add"], errors=errors or {},
        values=values or {"kind": "other", "frequency": "immediate", "language": "pl", "categories": []},
        kinds=_options(t, "sub_kind", KINDS), frequencies=_options(t, "sub_frequency", FREQUENCIES),
        languages=[("pl", t["sub_language_pl"]), ("en", t["sub_language_en"])],
        categories=[(c.slug, c.name) for c in store_of(request).categories()],
    )  # fmt: skip


@router.get("/subscribers/new")
def new_subscriber(request: Request, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    return _form_page(request, user)


def _field_of(error: InputError) -> str:
    """The form field an error is about (``categories.0`` is the categories field)."""
    name = error.field.split(".", 1)[0]
    return name if name in FIELDS else "email"


@router.post("/subscribers/new")
async def add_subscriber(request: Request, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    values: dict[str, Any] = {name: text(form, name) for name in FIELDS if name != "categories"}
    values["categories"] = choices(form, "categories")
    double_opt_in = text(form, "double_opt_in") == "yes"
    data = {name: value for name, value in values.items() if value not in ("", [])}
    data.setdefault("email", "")
    store, now = store_of(request), now_of(request)
    try:
        with store.transaction():
            added = subscriptions.add_subscriber(store, data, now, double_opt_in=double_opt_in, via="desk")
            audit.record(
                store, actor(user), "subscriber", added.id, "add",
                {"email": (None, added.email), "status": (None, added.status)}, now,
            )  # fmt: skip
    except InputError as error:
        return _form_page(
            request, user, 400, values={**values, "double_opt_in": double_opt_in},
            errors={_field_of(error): error.problem},
        )  # fmt: skip
    return see_other(f"/desk/subscribers/{added.id}?added=1")


# -- import and export ------------------------------------------------------------------------------


def _import_page(
    request: Request, user: DeskUser, status: int = 200, *, errors: dict[str, str] | None = None,
    result: subscriber_csv.ImportResult | None = None,
) -> Response:  # fmt: skip
    t = words(lang_of(request))
    return render(
        request, "subscriber_import.html", user, status, title=t["sub_import"], errors=errors or {},
        result=result, header=",".join(subscriber_csv.CSV_HEADER),
    )  # fmt: skip


@router.get("/subscribers/import")
def import_form(request: Request, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    return _import_page(request, user)


async def _csv_text(form: FormData, t: dict[str, str]) -> str | InputError:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return InputError("file", t["sub_file_missing"])
    try:
        data = await upload.read() if upload.filename else b""
    finally:
        await upload.close()  # its spooled temporary file, at once rather than at garbage collection
    if not data.strip():
        return InputError("file", t["sub_file_missing"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return InputError("file", t["sub_file_encoding"])


@router.post("/subscribers/import", max_body_size=IMPORT_MAX_BYTES)
async def import_csv(request: Request, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    t = words(lang_of(request))
    csv_text = await _csv_text(form, t)
    if isinstance(csv_text, InputError):
        return _import_page(request, user, 400, errors={"file": csv_text.problem})
    store, now = store_of(request), now_of(request)
    try:
        result = subscriber_csv.import_subscribers(
            store, csv_text, now, double_opt_in=text(form, "double_opt_in") == "yes"
        )
    except InputError as error:
        return _import_page(request, user, 400, errors={"file": error.problem})
    with store.transaction():
        audit.record(
            store, actor(user), "subscriber", None, "import",
            {"imported": (None, len(result.imported)), "skipped": (None, result.skipped),
             "rejected": (None, len(result.rejected))}, now,
        )  # fmt: skip
    return _import_page(request, user, 400 if result.rejected else 200, result=result)


@router.get("/subscribers/export.csv")
def export_csv(request: Request, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    """The same CSV as `subscriber export` (``?status=`` as its ``--status``); recorded in the audit log."""
    store, now = store_of(request), now_of(request)
    status = _one_of(request.query_params.get("status"), STATUSES) or None
    out = io.StringIO()
    exported = subscriber_csv.export_subscribers(store, out, status=status)
    with store.transaction():
        audit.record(store, actor(user), "subscriber", None, "export", {"count": (None, exported)}, now)
    return Response(
        out.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "cache-control": "no-store",
            "content-disposition": f'attachment; filename="subscribers-{now:%Y%m%d}.csv"',
        },
    )


# -- one subscriber ---------------------------------------------------------------------------------


def _not_found(request: Request, user: DeskUser) -> Response:
    return message(request, user, "not_found_title", "sub_not_found", 404)


@router.get("/subscribers/{subscriber_id:int}")
def subscriber_page(
    request: Request, subscriber_id: int, user: Annotated[DeskUser, Depends(admin)]
) -> Response:
    t = words(lang_of(request))
    store = store_of(request)
    try:
        subscriber = subscriptions.get_subscriber(store, subscriber_id)
    except SubscriberNotFound:
        return _not_found(request, user)
    return render(
        request, "subscriber.html", user, title=subscriber.email, subscriber=subscriber,
        events=consent.history(store, subscriber.id), history=audit.entries(store, "subscriber", subscriber.id),
        added=bool(request.query_params.get("added")),
        added_text=t["sub_added"].format(email=subscriber.email, status=t[f"sub_status_{subscriber.status}"]),
    )  # fmt: skip


@router.get("/subscribers/{subscriber_id:int}/erase")
def erase_form(request: Request, subscriber_id: int, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    t = words(lang_of(request))
    try:
        subscriber = subscriptions.get_subscriber(store_of(request), subscriber_id)
    except SubscriberNotFound:
        return _not_found(request, user)
    return render(request, "subscriber_erase.html", user, title=t["sub_erase"], subscriber=subscriber)


@router.post("/subscribers/{subscriber_id:int}/erase")
async def erase(request: Request, subscriber_id: int, user: Annotated[DeskUser, Depends(admin)]) -> Response:
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    store, now = store_of(request), now_of(request)
    try:
        with store.transaction():
            subscriber = subscriptions.get_subscriber(store, subscriber_id)
            subscriptions.remove_subscriber(store, subscriber.email)
            audit.scrub(store, "subscriber", subscriber.id)
            audit.record(store, actor(user), "subscriber", subscriber.id, "erase", {}, now)
    except SubscriberNotFound:
        return _not_found(request, user)
    return see_other("/desk/subscribers?erased=1")
