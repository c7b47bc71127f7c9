# ruff: noqa: E501  (sentences read better whole than cut at 110 columns)
"""Preview before it goes out: a release's (or a draft's) page, feed entries and alert mail, made by the
code that publishes and sends them, shown in the desk; nothing is stored, written or queued.

The page and the mail's HTML part are pages of their own, so the desk shows them in a sandboxed
``<iframe>``: each is served at its own route with ``Content-Security-Policy: sandbox`` (no script, no
forms, an origin of its own) and framing allowed to the desk only (``frame-ancestors 'self'``,
``X-Frame-Options: SAMEORIGIN``), headers that the app's `SecurityHeaders` then leaves as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from newsroom_feed.errors import InputError, ReleaseNotFound
from newsroom_feed.mail.preview import alert_preview
from newsroom_feed.models import Release, ReleaseInput
from newsroom_feed.people.users import DeskUser
from newsroom_feed.site import preview
from newsroom_feed.store import drafts
from newsroom_feed.web.desk import words
from newsroom_feed.web.desk.core import editor, lang_of, message, now_of, render, store_of
from newsroom_feed.web.state import state_of

router = APIRouter()

WORDS = {
    "pl": {
        "pre_title": "Podgląd: {title}",
        "pre_lead": "Tak komunikat będzie wyglądał po publikacji. Podgląd niczego nie publikuje ani nie wysyła.",
        "pre_draft_note": "To szkic: numer i stały identyfikator komunikat dostanie dopiero przy publikacji; tu widać zastępcze.",
        "pre_status": "Status",
        "pre_visible_at": "Widoczny od",
        "pre_time_left": "Pozostało",
        "pre_edit": "Wróć do edycji",
        "pre_history": "Co się działo z komunikatem",
        "pre_page_heading": "Strona komunikatu",
        "pre_page_frame": "Podgląd strony komunikatu",
        "pre_open_page": "Otwórz stronę w nowej karcie",
        "pre_feeds_heading": "Wpis w kanałach",
        "pre_feed_source": "Źródło wpisu w formacie {label}",
        "pre_mail_heading": "Powiadomienie e-mail",
        "pre_mail_lead": "Tak wygląda powiadomienie dla subskrybenta, który chce dostawać komunikaty od razu (przykładowy odbiorca: Ty).",
        "pre_subject": "Temat",
        "pre_from": "Od",
        "pre_to": "Do",
        "pre_text_part": "Wersja tekstowa",
        "pre_html_part": "Wersja HTML",
        "pre_mail_frame": "Podgląd wersji HTML powiadomienia",
        "pre_open_mail": "Otwórz wersję HTML w nowej karcie",
        "pre_invalid": "Tego szkicu nie da się jeszcze pokazać. Pole „{field}”: {problem}",
        "pre_status_published": "opublikowany",
        "pre_status_scheduled": "zaplanowany",
        "pre_status_embargoed": "pod embargiem",
        "pre_status_retracted": "wycofany",
        "pre_status_draft": "szkic",
    },
    "en": {
        "pre_title": "Preview: {title}",
        "pre_lead": "This is how the release will look once published. A preview publishes and sends nothing.",
        "pre_draft_note": "This is a draft: the release gets its number and permanent identifier only when published; stand-ins are shown here.",
        "pre_status": "Status",
        "pre_visible_at": "Visible from",
        "pre_time_left": "Time left",
        "pre_edit": "Back to editing",
        "pre_history": "What happened to this release",
        "pre_page_heading": "Release page",
        "pre_page_frame": "Preview of the release page",
        "pre_open_page": "Open the page in a new tab",
        "pre_feeds_heading": "Feed entries",
        "pre_feed_source": "Source of the {label} entry",
        "pre_mail_heading": "E-mail alert",
        "pre_mail_lead": "This is the alert a subscriber who wants releases at once gets (sample recipient: you).",
        "pre_subject": "Subject",
        "pre_from": "From",
        "pre_to": "To",
        "pre_text_part": "Text version",
        "pre_html_part": "HTML version",
        "pre_mail_frame": "Preview of the alert's HTML version",
        "pre_open_mail": "Open the HTML version in a new tab",
        "pre_invalid": "This draft cannot be shown yet. Field “{field}”: {problem}",
        "pre_status_published": "published",
        "pre_status_scheduled": "scheduled",
        "pre_status_embargoed": "under embargo",
        "pre_status_retracted": "retracted",
        "pre_status_draft": "draft",
    },
}
words.register(WORDS)


@dataclass(frozen=True, slots=True)
class Subject:
    """What is previewed: the release (stored, or the one a draft would become) and where it lives."""

    release: Release
    #: The desk's address of the previewed thing (``/desk/releases/7``, ``/desk/drafts/3``).
    home: str
    is_draft: bool


class CannotPreview(Exception):
    """A draft whose document does not validate yet: the problem is shown instead."""

    def __init__(self, error: InputError) -> None:
        super().__init__(str(error))
        self.error = error


def stored_release(request: Request, release_id: int) -> Subject | None:
    try:
        release = store_of(request).get_release(release_id)
    except ReleaseNotFound:
        return None
    return Subject(release, f"/desk/releases/{release.id}", is_draft=False)


def draft_release(request: Request, draft_id: int) -> Subject | None:
    """The release a draft would become now; None if there is no such draft.

    :raises CannotPreview: the draft's document is not a valid release document (yet).
    """
    store = store_of(request)
    draft = drafts.get(store, draft_id)
    if draft is None:
        return None
    settings = state_of(request).settings
    try:
        document = ReleaseInput.parse(draft.document, settings.zone)
    except InputError as error:
        raise CannotPreview(error) from None
    names = {category.slug: category.name for category in store.categories()}
    release = preview.unsaved_release(document, names, settings, now_of(request))
    return Subject(release, f"/desk/drafts/{draft_id}", is_draft=True)


# -- the desk page ------------------------------------------------------------------------------------


@router.get("/releases/{release_id:int}/preview")
def release_preview(
    request: Request, release_id: int, user: Annotated[DeskUser, Depends(editor)]
) -> Response:
    return _preview_page(request, user, stored_release(request, release_id))


@router.get("/drafts/{draft_id:int}/preview")
def draft_preview(request: Request, draft_id: int, user: Annotated[DeskUser, Depends(editor)]) -> Response:
    try:
        subject = draft_release(request, draft_id)
    except CannotPreview as problem:
        t = words.words(lang_of(request))
        text = t["pre_invalid"].format(field=problem.error.field or "—", problem=problem.error.problem)
        return render(request, "message.html", user, 400, title=t["pre_status_draft"], text=text)
    return _preview_page(request, user, subject)


def _preview_page(request: Request, user: DeskUser, subject: Subject | None) -> Response:
    if subject is None:
        return message(request, user, "not_found_title", "not_found_text", 404)
    settings = state_of(request).settings
    now = now_of(request)
    release = subject.release
    t = words.words(lang_of(request))
    return render(
        request,
        "preview.html",
        user,
        title=t["pre_title"].format(title=release.title),
        subject=subject,
        release=release,
        release_status="draft" if subject.is_draft else release.status(now),
        waiting=not subject.is_draft and release.visible_at > now and release.retracted_at is None,
        feed_items=preview.feed_items(settings, release),
        mail=alert_preview(settings, store_of(request), release, user.email, now),
    )


# -- the framed pages -----------------------------------------------------------------------------------


@router.get("/releases/{release_id:int}/preview/page")
def release_page(request: Request, release_id: int, user: Annotated[DeskUser, Depends(editor)]) -> Response:
    return _framed_page(request, user, stored_release(request, release_id))


@router.get("/drafts/{draft_id:int}/preview/page")
def draft_page(request: Request, draft_id: int, user: Annotated[DeskUser, Depends(editor)]) -> Response:
    return _framed_page(request, user, _draft_or_none(request, draft_id))


@router.get("/releases/{release_id:int}/preview/mail")
def release_mail(request: Request, release_id: int, user: Annotated[DeskUser, Depends(editor)]) -> Response:
    return _framed_mail(request, user, stored_release(request, release_id))


@router.get("/drafts/{draft_id:int}/preview/mail")
def draft_mail(request: Request, draft_id: int, user: Annotated[DeskUser, Depends(editor)]) -> Response:
    return _framed_mail(request, user, _draft_or_none(request, draft_id))


def _draft_or_none(request: Request, draft_id: int) -> Subject | None:
    """A framed part of a draft that cannot be previewed is simply not there: the desk page says why."""
    try:
        return draft_release(request, draft_id)
    except CannotPreview:
        return None


def _framed_page(request: Request, user: DeskUser, subject: Subject | None) -> Response:
    if subject is None:
        return message(request, user, "not_found_title", "not_found_text", 404)
    settings = state_of(request).settings
    origin = _origin(settings.base_url)
    # The public page loads its stylesheet and images from the public site; nothing else, and no script.
    policy = f"style-src 'self' {origin}; img-src 'self' {origin} data:; font-src 'self' {origin}"
    return _framed(preview.page(settings, subject.release), policy)


def _framed_mail(request: Request, user: DeskUser, subject: Subject | None) -> Response:
    if subject is None:
        return message(request, user, "not_found_title", "not_found_text", 404)
    settings = state_of(request).settings
    mail = alert_preview(settings, store_of(request), subject.release, user.email, now_of(request))
    # A mail's styles are inline (as mail clients want them) and its images may come from anywhere.
    return _framed(mail.html.encode("utf-8"), "style-src 'unsafe-inline'; img-src https: data:")


def _framed(body: bytes, allowed: str) -> Response:
    """A page for a sandboxed frame of the desk: no script, no forms, no plugins, framed by the desk only."""
    policy = (
        f"sandbox; default-src 'none'; {allowed}; form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
    )
    return Response(
        body,
        media_type="text/html; charset=utf-8",
        headers={
            "content-security-policy": policy,
            "x-frame-options": "SAMEORIGIN",
            "cache-control": "no-store",
        },
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
