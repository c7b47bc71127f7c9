"""The desk's release pages: the list (releases and drafts), the edit form, publishing and retraction.

A draft is a release document kept in ``drafts`` and never published; "Publish now" and "Schedule" turn
it into a release (`Store.add_release`) and delete it in the same transaction. Every change is written
to the audit log with the document fields that changed, in the transaction of the change. Bad input is
shown beside its field with the form as typed (400) and nothing is stored, except uploaded files, which
are content-addressed: sending the same file again finds the one already saved.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from newsroom_feed.errors import InputError, ReleaseNotFound
from newsroom_feed.models import Release, ReleaseInput, correction_note, iso, parse_moment
from newsroom_feed.people.users import DeskUser
from newsroom_feed.settings import Settings
from newsroom_feed.site import layout, uploads
from newsroom_feed.store import audit, desk_releases, drafts
from newsroom_feed.store.database import Store
from newsroom_feed.web.desk import release_form
from newsroom_feed.web.desk.core import (
    Paging,
    actor,
    checked_form,
    editor,
    input_time,
    lang_of,
    message,
    now_of,
    raw,
    render,
    see_other,
    store_of,
    text,
)
from newsroom_feed.web.desk.release_form import ReleaseForm
from newsroom_feed.web.desk.release_words import FIELD_PROBLEMS
from newsroom_feed.web.desk.words import words
from newsroom_feed.web.state import state_of

router = APIRouter()

PER_PAGE = 50
#: The edit form's POST carries the uploads; each file is held to ``NEWSROOM_DESK__UPLOAD_MAX_BYTES`` by
#: `uploads.save`, so the route itself only stops what no setting allows (the setting's own maximum).
UPLOAD_BODY_MAX = 1024**3 + 1024**2
Editor = Annotated[DeskUser, Depends(editor)]


# -- the list ---------------------------------------------------------------------------------------


@router.get("/releases")
def release_list(request: Request, user: Editor) -> Response:
    store, now, t = store_of(request), now_of(request), words(lang_of(request))
    params = request.query_params
    status = params.get("status", "")
    wanted = desk_releases.ListFilter(
        q=params.get("q", "").strip()[:300],
        status=status if status in desk_releases.STATUSES else "",
        category=params.get("category", "").strip()[:100],
    )
    paging = Paging.of(request, desk_releases.count(store, wanted, now), PER_PAGE)
    rows = desk_releases.page(store, wanted, now, paging.per_page, paging.offset)
    chosen = {key: value for key, value in vars_of(wanted).items() if value}
    return render(
        request, "releases.html", user, title=t["rel_list_title"], rows=rows, wanted=wanted, paging=paging,
        statuses=desk_releases.STATUSES, categories=store.categories(),
        pager_base="/desk/releases?" + (urlencode(chosen) + "&" if chosen else ""),
    )  # fmt: skip


def vars_of(wanted: desk_releases.ListFilter) -> dict[str, str]:
    return {"q": wanted.q, "status": wanted.status, "category": wanted.category}


# -- the edit pages ---------------------------------------------------------------------------------


@router.get("/releases/new")
def new_release(request: Request, user: Editor) -> Response:
    return _edit_page(request, user, release_form.new_form(state_of(request).settings))


@router.get("/releases/{release_id:int}")
def edit_release(request: Request, release_id: int, user: Editor) -> Response:
    release = _release(store_of(request), release_id)
    if release is None:
        return message(request, user, "rel_gone_title", "rel_gone_text", 404)
    zone, now = state_of(request).settings.zone, now_of(request)
    if release.retracted_at is not None:
        t = words(lang_of(request))
        notice = t["rel_done_retracted"] if request.query_params.get("done") else ""
        history = audit.entries(store_of(request), "release", release.id)
        return render(
            request, "release_view.html", user, title=release.title, release=release, history=history,
            release_status=release.status(now), notice=notice,
        )  # fmt: skip
    document = release_form.release_document(release, now)
    return _edit_page(request, user, release_form.form_of_document(document, zone), release=release)


@router.get("/drafts/{draft_id:int}")
def edit_draft(request: Request, draft_id: int, user: Editor) -> Response:
    draft = drafts.get(store_of(request), draft_id)
    if draft is None:
        return message(request, user, "rel_gone_title", "rel_gone_text", 404)
    zone = state_of(request).settings.zone
    return _edit_page(request, user, release_form.form_of_document(draft.document, zone), draft=draft)


@router.post("/releases/new", max_body_size=UPLOAD_BODY_MAX)
async def create(request: Request, user: Editor) -> Response:
    try:
        return await _submit(request, user, None)
    finally:
        await request.close()  # the uploaded files' temporary copies


@router.post("/drafts/{draft_id:int}", max_body_size=UPLOAD_BODY_MAX)
async def submit_draft(request: Request, draft_id: int, user: Editor) -> Response:
    draft = drafts.get(store_of(request), draft_id)
    if draft is None:
        return message(request, user, "rel_gone_title", "rel_gone_text", 404)
    try:
        return await _submit(request, user, draft)
    finally:
        await request.close()


@router.post("/releases/{release_id:int}", max_body_size=UPLOAD_BODY_MAX)
async def save_release(request: Request, release_id: int, user: Editor) -> Response:
    try:
        return await _save(request, release_id, user)
    finally:
        await request.close()


async def _save(request: Request, release_id: int, user: DeskUser) -> Response:
    """Save changes to a release: the same release (uid, number, slug kept), its ``updated`` moved."""
    store, now = store_of(request), now_of(request)
    release = _release(store, release_id)
    if release is None:
        return message(request, user, "rel_gone_title", "rel_gone_text", 404)
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    values, upload_errors = await _values_with_uploads(request, user, form)
    document, rows = _edited_document(request, release, values)
    parsed = _checked(request, document, rows, upload_errors)
    if not isinstance(parsed, ReleaseInput):
        return _edit_page(request, user, values, parsed, release=release, status=400)
    before = release_form.audited(release_form.release_document(release, now))
    try:
        with store.transaction():
            updated = store.update_release(release.id, document, now)
            after = release_form.audited(release_form.release_document(updated, now))
            changes = audit.changes_between(before, after)
            if changes:
                audit.record(store, actor(user), "release", release.id, "updated", changes, now)
    except InputError as error:  # checked above; the store checks again
        errors = _problems(request, {release_form.field_id(error, rows): error})
        return _edit_page(request, user, values, errors, release=release, status=400)
    return see_other(f"/desk/releases/{release.id}?done=saved")


def _edited_document(
    request: Request, release: Release, values: ReleaseForm
) -> tuple[dict[str, Any], list[int]]:
    """The document an edit (a save or a correction) of ``release`` stands for, and its form rows."""
    zone = state_of(request).settings.zone
    document, rows = release_form.document_of_form(values, zone)
    # The form shows minutes, and an hour that autumn repeats only once: a time left as it was shown
    # keeps its seconds (set from the CLI or the API) and its side of the change of summer time.
    for name, moment in (("published_at", release.published_at), ("embargo_until", release.embargo_until)):
        if moment is not None and document[name] == input_time(moment, zone):
            document[name] = iso(moment)
    event, kept = document["event"], release.event
    if event is not None and kept is not None and not event["all_day"] and not kept.all_day:
        for name, shown in (("start", values.event_start), ("end", values.event_end)):
            moment = getattr(kept, name)
            if isinstance(moment, datetime) and shown == input_time(moment, zone):
                event[name] = iso(moment)
    return document, rows


async def _submit(request: Request, user: DeskUser, draft: drafts.Draft | None) -> Response:
    """Save draft, Publish now or Schedule: the buttons of a new release and of a draft."""
    store, now = store_of(request), now_of(request)
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    values, upload_errors = await _values_with_uploads(request, user, form)
    action = text(form, "action")
    document, rows = release_form.document_of_form(values, state_of(request).settings.zone)
    if action == "publish":
        document["published_at"] = iso(now)
    parsed = _checked(request, document, rows, upload_errors)
    if not isinstance(parsed, ReleaseInput):
        return _edit_page(request, user, values, parsed, draft=draft, status=400)
    if action == "schedule":
        errors = _schedule_problems(request, parsed, now)
        if errors:
            return _edit_page(request, user, values, errors, draft=draft, status=400)
    stored = release_form.stored_document(parsed)
    who = actor(user)
    if action not in ("publish", "schedule"):
        with store.transaction():
            if draft is None:
                draft_id = drafts.add(store, stored, user.id, now)
                changes = audit.changes_between({}, _filled(release_form.audited(stored)))
                audit.record(store, who, "draft", draft_id, "created", changes, now)
            else:
                draft_id = draft.id
                drafts.update(store, draft.id, stored, now)
                changes = audit.changes_between(
                    release_form.audited(draft.document), release_form.audited(stored)
                )
                if changes:
                    audit.record(store, who, "draft", draft.id, "updated", changes, now)
        return see_other(f"/desk/drafts/{draft_id}?done=draft")
    try:
        with store.transaction():
            release = store.add_release(parsed, now)
            after = _filled(release_form.audited(release_form.release_document(release, now)))
            audit.record(store, who, "release", release.id, "created", audit.changes_between({}, after), now)
            if draft is not None:
                if not drafts.delete(store, draft.id):
                    raise _DraftGone  # published meanwhile (another tab): not twice
                changes = {"release": (None, release.number)}
                audit.record(store, who, "draft", draft.id, "published", changes, now)
    except _DraftGone:
        return message(request, user, "rel_gone_title", "rel_gone_text", 404)
    done = "published" if release.is_visible(now) else "scheduled"
    return see_other(f"/desk/releases/{release.id}?done={done}")


def _filled(document: dict[str, Any]) -> dict[str, Any]:
    """A new document's fields that say something (an empty body or ``urgent: false`` does not)."""
    return {name: value for name, value in document.items() if value not in (None, "", False)}


class _DraftGone(Exception):
    """The draft being published was deleted after the page was opened: the transaction is undone."""


def _schedule_problems(request: Request, document: ReleaseInput, now: datetime) -> dict[str, str]:
    """Scheduling needs a moment to wait for, and each one given still ahead."""
    t = words(lang_of(request))
    errors = {
        name: t["rel_err_past"]
        for name, moment in (
            ("published_at", document.published_at),
            ("embargo_until", document.embargo_until),
        )
        if moment is not None and moment <= now
    }
    if document.published_at is None and document.embargo_until is None:
        errors["published_at"] = t["rel_err_no_time"]
    return errors


def _checked(
    request: Request, document: dict[str, Any], rows: list[int], upload_errors: dict[str, str]
) -> ReleaseInput | dict[str, str]:
    """The validated document, or what to show beside each field (the files' problems too)."""
    parsed = release_form.parse(document, state_of(request).settings.zone, rows)
    if isinstance(parsed, ReleaseInput) and not upload_errors:
        return parsed
    return {**(_problems(request, parsed) if isinstance(parsed, dict) else {}), **upload_errors}


def _problems(request: Request, problems: dict[str, InputError]) -> dict[str, str]:
    """The document's problems, by form field, in the editor's language."""
    t = words(lang_of(request))
    errors = {}
    for where, error in problems.items():
        key = FIELD_PROBLEMS.get(where)
        if where.startswith("attachment-"):
            key = "rel_err_attachment"
        if error.field.endswith("url"):
            key = "rel_err_url"
        errors[where] = t[key or "rel_err_other"]
    return errors


async def _values_with_uploads(
    request: Request, user: DeskUser, form: FormData
) -> tuple[ReleaseForm, dict[str, str]]:
    """The form as sent, with a row for each file uploaded with it, and what was wrong with any file."""
    store, now, settings = store_of(request), now_of(request), state_of(request).settings
    t = words(lang_of(request))
    values = release_form.form_of_request(form)
    saved: list[uploads.Upload] = []
    problems: list[str] = []
    for item in form.getlist("upload"):
        if not isinstance(item, UploadFile) or not item.filename:
            continue
        name = item.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if item.size is not None and item.size > settings.desk.upload_max_bytes:
            problems.append(_upload_problem(t, settings, name, item.size, b""))
            continue
        data = await item.read()
        try:
            saved.append(uploads.save(store, settings, name, data, now, user.id))
        except InputError:
            problems.append(_upload_problem(t, settings, name, len(data), data))
    values = values.with_uploads(saved)
    return values, ({"upload": " ".join(problems)} if problems else {})


def _upload_problem(t: dict[str, str], settings: Settings, name: str, size: int, data: bytes) -> str:
    """Why `uploads.save` refused a file, in the editor's language (its checks, in its order)."""
    limit = settings.desk.upload_max_bytes
    if size == 0:
        return t["rel_err_upload_empty"].format(name=name)
    if size > limit:
        return t["rel_err_upload_size"].format(name=name, size=file_size(size), limit=file_size(limit))
    if uploads.content_type(data) is None:
        return t["rel_err_upload_type"].format(name=name)
    return t["rel_err_upload_image"].format(name=name)


def file_size(length: int) -> str:
    """A size as people read it: 183 kB, 4.2 MB."""
    if length < 1000:
        return f"{length} B"
    if length < 1_000_000:
        return f"{length / 1000:.0f} kB"
    return f"{length / 1_000_000:.1f} MB"


# -- correction ("korekta") ------------------------------------------------------------------------
#
# A published release is corrected, not silently edited: the form is the edit form, prefilled, with a
# note for readers above it. `Store.correct_release` keeps the note with its time and moves `updated`,
# so the page shows the correction box and every feed shows the entry again, opening with the note.


@router.get("/releases/{release_id:int}/correct")
def correct_form(request: Request, release_id: int, user: Editor) -> Response:
    release = _release(store_of(request), release_id)
    if release is None:
        return message(request, user, "rel_gone_title", "rel_gone_text", 404)
    if not _correctable(request, release):
        return message(request, user, "rel_correct_not_public_title", "rel_correct_not_public_text", 409)
    document = release_form.release_document(release, now_of(request))
    values = release_form.form_of_document(document, state_of(request).settings.zone)
    return _edit_page(request, user, values, release=release, correcting=True)


@router.post("/releases/{release_id:int}/correct", max_body_size=UPLOAD_BODY_MAX)
async def correct(request: Request, release_id: int, user: Editor) -> Response:
    try:
        return await _correct(request, release_id, user)
    finally:
        await request.close()


def _correctable(request: Request, release: Release) -> bool:
    """Only what someone has received is corrected: a public release, or one shared early with verified
    journalists (they get the correction, threaded under their copy). Any other embargoed or scheduled
    release is just edited, and a retracted one is gone."""
    if release.retracted_at is not None:
        return False
    now = now_of(request)
    return release.is_visible(now) or (release.early_access and release.visible_at > now)


async def _correct(request: Request, release_id: int, user: DeskUser) -> Response:
    """The changes of the form and the note, in one transaction with their audit row; the note's problem
    is shown beside it with the form as typed, and nothing is stored."""
    store, now = store_of(request), now_of(request)
    release = _release(store, release_id)
    if release is None:
        return message(request, user, "rel_gone_title", "rel_gone_text", 404)
    if not _correctable(request, release):
        return message(request, user, "rel_correct_not_public_title", "rel_correct_not_public_text", 409)
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    note = raw(form, "note")
    values, upload_errors = await _values_with_uploads(request, user, form)
    document, rows = _edited_document(request, release, values)
    parsed = _checked(request, document, rows, upload_errors)
    errors = {} if isinstance(parsed, ReleaseInput) else parsed
    try:
        correction_note(note)
    except InputError:
        errors = {"note": words(lang_of(request))["rel_err_note"], **errors}
    if errors:
        return _edit_page(
            request, user, values, errors, release=release, status=400, correcting=True, note=note
        )
    before = release_form.audited(release_form.release_document(release, now))
    try:
        with store.transaction():
            corrected = store.correct_release(release.id, note, document, now)
            after = release_form.audited(release_form.release_document(corrected, now))
            changes = audit.changes_between(before, after)
            changes["correction"] = (None, corrected.corrections[-1].note)
            audit.record(store, actor(user), "release", release.id, "corrected", changes, now)
    except InputError as error:  # checked above; the store checks again
        errors = _problems(request, {release_form.field_id(error, rows): error})
        return _edit_page(
            request, user, values, errors, release=release, status=400, correcting=True, note=note
        )
    return see_other(f"/desk/releases/{release.id}?done=corrected")


# -- retraction -------------------------------------------------------------------------------------


@router.get("/releases/{release_id:int}/retract")
def retract_form(request: Request, release_id: int, user: Editor) -> Response:
    release = _release(store_of(request), release_id)
    if release is None:
        return message(request, user, "rel_gone_title", "rel_gone_text", 404)
    t = words(lang_of(request))
    return render(request, "release_retract.html", user, title=t["rel_retract_title"], release=release)


@router.post("/releases/{release_id:int}/retract")
async def retract(request: Request, release_id: int, user: Editor) -> Response:
    store, now = store_of(request), now_of(request)
    release = _release(store, release_id)
    if release is None:
        return message(request, user, "rel_gone_title", "rel_gone_text", 404)
    form = await checked_form(request, user)
    if isinstance(form, Response):
        return form
    if release.retracted_at is None:
        with store.transaction():
            retracted = store.retract_release(release.id, now)
            changes = {"retracted_at": (None, iso(retracted.retracted_at or now))}
            audit.record(store, actor(user), "release", release.id, "retracted", changes, now)
    return see_other(f"/desk/releases/{release.id}?done=retracted")


# -- rendering --------------------------------------------------------------------------------------


def _release(store: Store, release_id: int) -> Release | None:
    try:
        return store.get_release(release_id)
    except ReleaseNotFound:
        return None


def _edit_page(
    request: Request,
    user: DeskUser,
    values: ReleaseForm,
    errors: dict[str, str] | None = None,
    *,
    release: Release | None = None,
    draft: drafts.Draft | None = None,
    status: int = 200,
    correcting: bool = False,
    note: str = "",
) -> Response:
    """The edit form; with ``correcting``, the correction form of a published release (its ``note``
    above the fields, sent to ``/correct``)."""
    store, now, settings = store_of(request), now_of(request), state_of(request).settings
    t = words(lang_of(request))
    if release is not None and correcting:
        title, action = t["rel_correct_title"], f"/desk/releases/{release.id}/correct"
        history = audit.entries(store, "release", release.id)
    elif release is not None:
        title, action = t["rel_edit_title"], f"/desk/releases/{release.id}"
        history = audit.entries(store, "release", release.id)
    elif draft is not None:
        title, action = t["rel_draft_title"], f"/desk/drafts/{draft.id}"
        history = audit.entries(store, "draft", draft.id)
    else:
        title, action, history = t["rel_new_title"], "/desk/releases/new", []
    known = store.categories()
    extra = [slug for slug in values.categories if slug not in {c.slug for c in known}]
    done = request.query_params.get("done", "")
    embargo = _moment(values.embargo_until, settings)
    return render(
        request, "release_edit.html", user, status, title=title, values=values, errors=errors or {},
        release=release, draft=draft, action=action, history=history, now=now,
        categories=[(c.slug, c.name) for c in known] + [(slug, slug) for slug in extra],
        previews=_previews(store, settings, values),
        embargo=embargo, embargo_left=_time_left(t, embargo - now) if embargo else "",
        release_status=release.status(now) if release else "draft",
        public_url=layout.release_url(settings.base_url, release.slug) if release else "",
        notice=t.get(f"rel_done_{done}", "") if done.isalpha() else "",
        upload_limit=file_size(settings.desk.upload_max_bytes), file_size=file_size,
        languages=[("pl", t["rel_lang_pl"]), ("en", t["rel_lang_en"])],
        correcting=correcting, note=note,
        correctable=release is not None and not correcting and _correctable(request, release),
    )  # fmt: skip


def _previews(store: Store, settings: Settings, values: ReleaseForm) -> dict[str, str]:
    """The thumbnails of uploaded images, by attachment URL: same-origin paths, as the desk's CSP allows
    images only from itself (the app serves the public directory, uploads included)."""
    found = uploads.by_urls(store, settings, [row.url for row in values.attachments])
    return {
        url: "/" + layout.upload_preview_path(upload.sha256)
        for url, upload in found.items()
        if upload.is_image
    }


def _moment(local: str, settings: Settings) -> datetime | None:
    """A ``datetime-local`` value as a UTC moment, or None if it is empty or not a time."""
    try:
        return parse_moment(local, settings.zone) if local else None
    except ValueError:
        return None


def _time_left(t: dict[str, str], left: timedelta) -> str:
    """The static time left until a moment, for pages seen without script (desk.js counts it down)."""
    if left.total_seconds() <= 0:
        return t["rel_passed"]
    minutes = int(left.total_seconds() // 60)
    return t["rel_left"].format(days=minutes // 1440, hours=minutes % 1440 // 60, minutes=minutes % 60)
