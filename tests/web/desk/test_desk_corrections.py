"""A correction ("korekta") from the desk over real HTTP: the prefilled form with its note, the note's
problem beside it, the audit row, the corrections listed on the release, the public page's box."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import httpx
import lxml.html
import pytest

from newsroom_feed import planner
from newsroom_feed.models import utcnow
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from ...web_helpers import csrf_token
from .test_desk_releases import add, error_beside, form_of, id_of, send

NOTE = "Poprawiono godzinę: seminarium zaczyna się o 11:00."


@pytest.fixture
def editor(signed_in: Callable[[str], httpx.Client]) -> httpx.Client:
    return signed_in("editor")


def test_a_correction_changes_the_release_keeps_its_uid_and_is_listed_audited_and_shown_in_public(
    store: Store, settings: Settings, editor: httpx.Client
) -> None:
    before = store.get_release(
        add(store, "Seminarium o smogu", utcnow() - timedelta(hours=2), summary="Start o 10:00.")
    )
    edit_page = editor.get(f"/desk/releases/{before.id}")
    assert f'href="/desk/releases/{before.id}/correct"' in edit_page.text
    form = editor.get(f"/desk/releases/{before.id}/correct")
    assert form.status_code == 200
    assert form_of(form.text)["title"] == "Seminarium o smogu"  # prefilled
    assert 'name="note"' in form.text and "Korekta komunikatu" in form.text

    answer = send(
        editor,
        f"/desk/releases/{before.id}/correct",
        {"note": NOTE, "summary": "Start o 11:00."},
        action="correct",
    )
    assert id_of(answer, "releases") == before.id
    after = store.get_release(before.id)
    assert (after.uid, after.number, after.slug) == (before.uid, before.number, before.slug)
    assert after.summary == "Start o 11:00."
    assert [correction.note for correction in after.corrections] == [NOTE]
    assert after.updated_at > before.updated_at

    page = editor.get(answer.headers["location"])
    assert "Korekta opublikowana." in page.text
    listed = lxml.html.fromstring(page.text).xpath("string(//section[@class='corrections'])")
    assert NOTE in listed
    audit = page.text[page.text.index('id="audit-heading"') :]
    assert "corrected" in audit and "redakcja@zmp.example.pl" in audit
    assert re.search(r"<th scope=\"row\">summary</th><td>Start o 10:00.</td><td>Start o 11:00.</td>", audit)
    assert f'<th scope="row">correction</th><td>—</td><td>{NOTE}</td>' in audit

    planner.build(store, settings, utcnow())
    public = (settings.public_dir / "releases" / before.slug / "index.html").read_text(encoding="utf-8")
    assert '<h2 id="korekta">Korekta</h2>' in public and NOTE in public


@pytest.mark.parametrize("note", ["", "   ", "x" * 2001])
def test_a_missing_or_overlong_note_is_shown_beside_it_and_nothing_changes(
    store: Store, editor: httpx.Client, note: str
) -> None:
    before = store.get_release(add(store, "Ranking gmin", utcnow() - timedelta(hours=1)))
    answer = send(
        editor,
        f"/desk/releases/{before.id}/correct",
        {"note": note, "title": "Ranking gmin 2026"},
        action="correct",
    )
    assert answer.status_code == 400
    assert "Napisz, co poprawiono" in error_beside(answer.text, "note")
    assert 'href="#note"' in answer.text
    assert 'value="Ranking gmin 2026"' in answer.text  # the form as typed
    assert store.get_release(before.id) == before


def test_a_bad_field_in_a_correction_is_shown_beside_that_field_with_the_note_kept(
    store: Store, editor: httpx.Client
) -> None:
    before = store.get_release(add(store, "Ranking gmin", utcnow() - timedelta(hours=1)))
    answer = send(
        editor,
        f"/desk/releases/{before.id}/correct",
        {"note": NOTE, "contact_email": "zly-adres"},
        action="correct",
    )
    assert answer.status_code == 400
    assert "adres e-mail" in error_beside(answer.text, "contact_email")
    assert f">{NOTE}</textarea>" in answer.text
    assert store.get_release(before.id) == before


def test_only_a_release_someone_received_is_corrected_and_the_form_needs_its_csrf_token(
    store: Store, editor: httpx.Client
) -> None:
    embargoed = add(
        store, "Pod embargiem", utcnow(), embargo_until=(utcnow() + timedelta(days=1)).isoformat()
    )
    assert editor.get(f"/desk/releases/{embargoed}/correct").status_code == 409
    assert f"/desk/releases/{embargoed}/correct" not in editor.get(f"/desk/releases/{embargoed}").text
    # Shared early, it is in journalists' hands already: they are owed the correction.
    shared = add(
        store, "Pod embargiem, dla dziennikarzy", utcnow(),
        embargo_until=(utcnow() + timedelta(days=1)).isoformat(), early_access=True,
    )  # fmt: skip
    assert editor.get(f"/desk/releases/{shared}/correct").status_code == 200
    assert f"/desk/releases/{shared}/correct" in editor.get(f"/desk/releases/{shared}").text
    public = add(store, "Publiczny", utcnow() - timedelta(hours=1))
    before = store.get_release(public)
    form = editor.get(f"/desk/releases/{public}/correct")
    assert csrf_token(form.text)
    typed = {**form_of(form.text), "note": NOTE, "title": "Podmieniony tytuł", "csrf_token": "nie-ten"}
    forged = editor.post(f"/desk/releases/{public}/correct", data=typed)
    assert forged.status_code == 403
    assert store.get_release(public) == before  # neither the change nor the note


def test_a_signed_out_visitor_cannot_open_or_send_a_correction(store: Store, visitor: httpx.Client) -> None:
    public = add(store, "Publiczny", utcnow() - timedelta(hours=1))
    before = store.get_release(public)
    opened = visitor.get(f"/desk/releases/{public}/correct")
    assert opened.status_code == 303 and opened.headers["location"].startswith("/desk/login")
    sent = visitor.post(f"/desk/releases/{public}/correct", data={"note": NOTE, "title": "Podmieniony"})
    assert sent.status_code == 303 and sent.headers["location"].startswith("/desk/login")
    assert store.get_release(public) == before
