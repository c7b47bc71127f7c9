"""The desk's release pages over real HTTP: the list, writing, drafts, embargoes, edits, retraction,
field errors and uploads, checked in the store and in the public build."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from newsroom_feed import planner
from newsroom_feed.models import ReleaseInput, utcnow
from newsroom_feed.settings import Settings
from newsroom_feed.store import drafts
from newsroom_feed.store.database import Store

from ...web_helpers import csrf_token

POLISH_TITLE = "Złote Lajki 2026: zażółć gęślą jaźń w Poznaniu"


class _Form(HTMLParser):
    """The fields a browser would send from the page's form with ``enctype="multipart/form-data"``:
    inputs (checked boxes only), textareas and selected options, in order; files and buttons left out."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._inside = False
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._inside = found.get("enctype") == "multipart/form-data"
        if not self._inside or "name" not in found:
            if tag == "option" and self._select and "selected" in found:
                self.fields.append((self._select, found.get("value", "")))
            return
        kind = found.get("type", "text")
        if tag == "input" and kind not in ("file", "submit") and (kind != "checkbox" or "checked" in found):
            self.fields.append((found["name"], found.get("value", "")))
        elif tag == "textarea":
            self._textarea = found["name"]
            self.fields.append((found["name"], ""))
        elif tag == "select":
            self._select = found["name"]

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, value = self.fields[-1]
            self.fields[-1] = (name, value + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self._inside = False


def form_of(page: str) -> dict[str, Any]:
    """The edit form's fields as the page shows them (a repeated name becomes a list)."""
    parser = _Form()
    parser.feed(page)
    fields: dict[str, Any] = {}
    for name, value in parser.fields:
        if name in fields:
            fields[name] = [*(fields[name] if isinstance(fields[name], list) else [fields[name]]), value]
        else:
            fields[name] = value
    return fields


def send(
    client: httpx.Client,
    page_url: str,
    changes: dict[str, Any],
    *,
    action: str,
    target: str | None = None,
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
) -> httpx.Response:
    """Open the edit page, change some fields, press a button: what a press officer does."""
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    data = {**form_of(page.text), **changes, "action": action, "csrf_token": csrf_token(page.text)}
    return client.post(
        target or page_url, data=data, files=files or [("upload", ("", b"", "application/octet-stream"))]
    )


def error_beside(page: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{re.escape(field)}-error">([^<]*)</p>', page)
    assert found, f"no error beside {field}"
    return found.group(1)


def id_of(response: httpx.Response, kind: str) -> int:
    assert response.status_code == 303, response.text
    found = re.match(rf"/desk/{kind}/(\d+)\?done=", response.headers["location"])
    assert found, response.headers["location"]
    return int(found.group(1))


def public_text(settings: Settings) -> str:
    return "\n".join(
        path.read_text(errors="replace") for path in Path(settings.public_dir).rglob("*") if path.is_file()
    )


@pytest.fixture
def editor(signed_in: Callable[[str], httpx.Client]) -> httpx.Client:
    return signed_in("editor")


def add(store: Store, title: str, now: datetime, **fields: Any) -> int:
    return store.add_release(ReleaseInput.parse({"title": title, **fields}), now).id


# -- the list ---------------------------------------------------------------------------------------


def test_the_list_pages_fifty_at_a_time_searches_by_number_and_filters_by_status_and_category(
    store: Store, editor: httpx.Client
) -> None:
    start = utcnow() - timedelta(days=2)
    numbers = {}
    for n in range(120):
        categories = ["kultura"] if n % 10 == 0 else []
        release_id = add(store, f"Komunikat numer {n}", start + timedelta(minutes=n), categories=categories)
        numbers[n] = store.get_release(release_id).number
    drafts.add(store, {"title": "Szkic o budżecie", "categories": ["kultura"]}, None, utcnow())
    lift = datetime(2031, 1, 15, 9, 0, tzinfo=UTC)
    add(store, "Pod embargiem", utcnow(), embargo_until=lift.isoformat())

    first = editor.get("/desk/releases")
    assert first.status_code == 200
    assert first.text.count('class="status status-') == 50
    assert "Znaleziono: 122." in first.text and "Strona 1 z 3" in first.text
    assert 'href="/desk/drafts/' in first.text  # drafts are listed with the releases
    third = editor.get("/desk/releases?page=3")
    assert third.text.count('class="status status-') == 22
    assert "Komunikat numer 0<" in third.text and "Strona 3 z 3" in third.text

    by_number = editor.get("/desk/releases", params={"q": numbers[57]})
    assert "Znaleziono: 1." in by_number.text and "Komunikat numer 57<" in by_number.text
    by_title = editor.get("/desk/releases", params={"q": "numer 11"})
    assert "Znaleziono: 11." in by_title.text  # 11, 110..119

    only_drafts = editor.get("/desk/releases", params={"status": "draft"})
    assert "Znaleziono: 1." in only_drafts.text and "Szkic o budżecie" in only_drafts.text
    assert 'class="status status-draft">szkic<' in only_drafts.text
    embargoed = editor.get("/desk/releases", params={"status": "embargoed"})
    assert "Znaleziono: 1." in embargoed.text
    assert "do 15 stycznia 2031, 10:00" in embargoed.text  # the lift, in Warsaw time
    in_category = editor.get("/desk/releases", params={"category": "kultura", "status": "published"})
    assert "Znaleziono: 12." in in_category.text and "Szkic o budżecie" not in in_category.text
    for name in ("q", "status", "category"):
        assert f'<label for="{name}">' in first.text
    paged = editor.get("/desk/releases", params={"category": "kultura"})
    assert "Znaleziono: 13." in paged.text


# -- writing and publishing -------------------------------------------------------------------------


def test_a_release_written_in_polish_is_stored_and_reaches_the_public_feed(
    store: Store, settings: Settings, editor: httpx.Client
) -> None:
    new = editor.get("/desk/releases/new")
    assert 'value="Biuro prasowe"' in new.text and 'value="prasa@newsroom.example.pl"' in new.text
    answer = send(
        editor, "/desk/releases/new",
        {"title": POLISH_TITLE, "summary": "Rada Programowa wręczyła nagrody.",
         "body": "**Gratulujemy** laureatom!", "new_categories": "informacje-prasowe",
         "source_url": "https://poznan.example.pl/lajki"},
        action="publish",
    )  # fmt: skip
    release = store.get_release(id_of(answer, "releases"))
    assert release.title == POLISH_TITLE
    assert [c.slug for c in release.categories] == ["informacje-prasowe"]
    assert release.contact.email == "prasa@newsroom.example.pl" and release.contact.name == "Biuro prasowe"
    assert release.status(utcnow()) == "published"
    page = editor.get(answer.headers["location"])
    assert "Komunikat opublikowany." in page.text
    assert release.uid in page.text and release.number in page.text
    assert f'<a href="https://prasa.example.pl/releases/{release.slug}/">' in page.text

    planner.build(store, settings, utcnow())
    feed = (Path(settings.public_dir) / "feeds" / "rss.xml").read_text()
    assert POLISH_TITLE in feed
    assert POLISH_TITLE in (Path(settings.public_dir) / "releases" / release.slug / "index.html").read_text()


def test_a_draft_is_kept_out_of_every_output_until_it_is_published(
    store: Store, settings: Settings, editor: httpx.Client
) -> None:
    saved = send(editor, "/desk/releases/new", {"title": "Tajny szkic o Złotych Lajkach"}, action="draft")
    draft_id = id_of(saved, "drafts")
    page = editor.get(saved.headers["location"])
    assert "Szkic zapisany." in page.text and 'value="Tajny szkic o Złotych Lajkach"' in page.text
    assert store.list_releases(now=utcnow()) == []
    planner.build(store, settings, utcnow())
    assert "Tajny szkic" not in public_text(settings)

    published = send(editor, f"/desk/drafts/{draft_id}", {}, action="publish")
    release = store.get_release(id_of(published, "releases"))
    assert release.title == "Tajny szkic o Złotych Lajkach"
    assert drafts.get(store, draft_id) is None
    assert editor.get(f"/desk/drafts/{draft_id}").status_code == 404


def test_an_embargo_entered_in_warsaw_winter_time_is_stored_as_the_utc_moment(
    store: Store, editor: httpx.Client
) -> None:
    answer = send(
        editor, "/desk/releases/new", {"title": "Embargo zimowe", "embargo_until": "2031-01-15T10:00"},
        action="schedule",
    )  # fmt: skip
    release = store.get_release(id_of(answer, "releases"))
    assert release.embargo_until == datetime(2031, 1, 15, 9, 0, tzinfo=UTC)
    assert release.status(utcnow()) == "embargoed"
    page = editor.get(answer.headers["location"])
    assert "Komunikat zaplanowany." in page.text
    assert 'value="2031-01-15T10:00"' in page.text
    assert "W UTC: 2031-01-15 09:00 UTC." in page.text
    assert 'data-countdown="2031-01-15T09:00:00Z">' in page.text
    assert re.search(r'data-countdown="[^"]+">\d+ d \d+ h \d+ min</span>', page.text)


# -- editing and retracting -------------------------------------------------------------------------


def test_saving_changes_keeps_uid_number_and_slug_and_the_audit_shows_old_and_new(
    store: Store, editor: httpx.Client
) -> None:
    before = store.get_release(add(store, "Stary tytuł komunikatu", utcnow() - timedelta(hours=1)))
    answer = send(editor, f"/desk/releases/{before.id}", {"title": "Nowy tytuł komunikatu"}, action="save")
    assert id_of(answer, "releases") == before.id
    after = store.get_release(before.id)
    assert after.title == "Nowy tytuł komunikatu"
    assert (after.uid, after.number, after.slug) == (before.uid, before.number, before.slug)
    assert after.published_at == before.published_at  # shown to the minute, kept to the second
    assert after.updated_at > before.updated_at
    page = editor.get(answer.headers["location"])
    assert "Zmiany zapisane." in page.text
    audit = page.text[page.text.index('id="audit-heading"') :]
    assert "redakcja@zmp.example.pl" in audit
    assert re.search(
        r"<th scope=\"row\">title</th><td>Stary tytuł komunikatu</td><td>Nowy tytuł komunikatu</td>", audit
    )
    assert "published_at</th>" not in audit


def test_retracting_asks_for_confirmation_first(store: Store, editor: httpx.Client) -> None:
    release_id = add(store, "Do wycofania", utcnow() - timedelta(hours=1))
    confirm = editor.get(f"/desk/releases/{release_id}/retract")
    assert confirm.status_code == 200 and "Wycofać komunikat?" in confirm.text
    assert store.get_release(release_id).retracted_at is None
    done = editor.post(f"/desk/releases/{release_id}/retract", data={"csrf_token": csrf_token(confirm.text)})
    assert done.status_code == 303
    assert store.get_release(release_id).retracted_at is not None
    page = editor.get(done.headers["location"])
    assert "Komunikat wycofany." in page.text and 'class="status status-retracted"' in page.text
    assert "retracted" in page.text[page.text.index('id="audit-heading"') :]
    forged = editor.post(f"/desk/releases/{release_id}/retract", data={"csrf_token": "nie-ten"})
    assert forged.status_code == 403


# -- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "action", "field", "words"),
    [
        ({"title": ""}, "publish", "title", "Podaj tytuł"),
        ({"title": ""}, "draft", "title", "Podaj tytuł"),
        ({"contact_email": "prasa(at)example"}, "publish", "contact_email", "poprawny adres e-mail"),
        ({"source_url": "javascript:alert(1)"}, "publish", "source_url", "http:// lub https://"),
        ({"published_at": "2020-01-01T10:00"}, "schedule", "published_at", "Ten czas już minął"),
        ({"new_categories": "Kultura i Sztuka"}, "draft", "new_categories", "małych liter"),
    ],
)
def test_bad_input_is_shown_beside_its_field_with_what_was_typed_and_nothing_is_stored(
    store: Store, editor: httpx.Client, changes: dict[str, str], action: str, field: str, words: str
) -> None:
    typed = {"title": "Komunikat z błędem", "summary": "Lead, który ma zostać", **changes}
    answer = send(editor, "/desk/releases/new", typed, action=action)
    assert answer.status_code == 400
    assert words in error_beside(answer.text, field)
    assert f'aria-describedby="{field}-hint {field}-error"' in answer.text or (
        f'aria-describedby="{field}-error"' in answer.text
    )
    assert f'href="#{field}"' in answer.text  # the summary links to the field
    assert ">Lead, który ma zostać</textarea>" in answer.text
    for name, value in changes.items():
        assert f'value="{value}"' in answer.text or name == "title"
    assert store.list_releases(now=utcnow()) == []
    assert editor.get("/desk/releases", params={"status": "draft"}).text.count("status-draft") == 0


def test_every_bad_field_is_marked_at_once(store: Store, editor: httpx.Client) -> None:
    answer = send(
        editor, "/desk/releases/new",
        {"title": "", "contact_email": "zly-adres", "source_url": "ftp://example.pl/x"}, action="draft",
    )  # fmt: skip
    assert answer.status_code == 400
    assert "Podaj tytuł" in error_beside(answer.text, "title")
    assert "adres e-mail" in error_beside(answer.text, "contact_email")
    assert "https://" in error_beside(answer.text, "source_url")
    assert store.list_releases(now=utcnow()) == []


# -- uploads ----------------------------------------------------------------------------------------


def png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 40)).save(out, "PNG")
    return out.getvalue()


def test_an_uploaded_png_becomes_an_attachment_and_its_alt_text_is_saved(
    store: Store, settings: Settings, editor: httpx.Client
) -> None:
    photo = png()
    answer = send(
        editor, "/desk/releases/new", {"title": "Komunikat ze zdjęciem"}, action="publish",
        files=[("upload", ("Laureaci gali.png", photo, "image/png"))],
    )  # fmt: skip
    release_id = id_of(answer, "releases")
    [attachment] = store.get_release(release_id).attachments
    assert attachment.mime_type == "image/png" and attachment.length == len(photo)
    assert attachment.title == "Laureaci gali.png"
    assert attachment.url.startswith("https://prasa.example.pl/files/")
    page = editor.get(f"/desk/releases/{release_id}")
    thumb = re.search(r'<img class="thumb" src="(/files/[0-9a-f]{16}/_preview\.jpg)"', page.text)
    assert thumb and editor.get(thumb.group(1)).headers["content-type"] == "image/jpeg"

    saved = send(
        editor, f"/desk/releases/{release_id}",
        {"attachment-0-alt": "Laureaci z dyplomami na scenie", "attachment-0-credit": "Jan Kowalski"},
        action="save",
    )  # fmt: skip
    assert saved.status_code == 303
    [attachment] = store.get_release(release_id).attachments
    assert attachment.alt == "Laureaci z dyplomami na scenie" and attachment.credit == "Jan Kowalski"
    assert attachment.length == len(photo)
    page = editor.get(f"/desk/releases/{release_id}")
    assert 'alt="Laureaci z dyplomami na scenie"' in page.text


def test_a_photo_larger_than_the_apps_two_megabyte_form_limit_is_accepted(
    store: Store, editor: httpx.Client
) -> None:
    """The app bounds request bodies at 2 MB; the edit form's route leaves files to the upload limit."""
    noise = Image.frombytes("RGB", (1000, 1000), os.urandom(3_000_000))
    out = io.BytesIO()
    noise.save(out, "PNG")
    assert out.tell() > 2 * 1024 * 1024
    answer = send(
        editor, "/desk/releases/new", {"title": "Duże zdjęcie"}, action="draft",
        files=[("upload", ("duze.png", out.getvalue(), "image/png"))],
    )  # fmt: skip
    draft = drafts.get(store, id_of(answer, "drafts"))
    assert draft is not None and draft.document["attachments"][0]["length"] == out.tell()


def test_an_html_file_named_pdf_is_refused_beside_the_upload_field(
    store: Store, editor: httpx.Client
) -> None:
    answer = send(
        editor, "/desk/releases/new", {"title": "Komunikat z podrobionym PDF"}, action="publish",
        files=[("upload", ("komunikat.pdf", b"<html><script>alert(1)</script></html>", "application/pdf"))],
    )  # fmt: skip
    assert answer.status_code == 400
    assert "komunikat.pdf nie jest plikiem PDF" in error_beside(answer.text, "upload")
    assert 'value="Komunikat z podrobionym PDF"' in answer.text
    assert store.list_releases(now=utcnow()) == []
