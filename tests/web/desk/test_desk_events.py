"""The desk's event fields over real HTTP: Polish wall time in, the right moment stored on either side of
a change of summer time, all-day events by their dates, the event kept by edits and removed by clearing
its start, and each bad value shown beside its own field with nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from newsroom_feed.models import Event, ReleaseInput, utcnow
from newsroom_feed.store import drafts
from newsroom_feed.store.database import Store

from .test_desk_releases import error_beside, form_of, id_of, send

SEMINAR = {
    "event_start": "2026-10-24T11:00",
    "event_end": "2026-10-24T13:00",
    "event_location": "Poznań, ul. Głogowska 14",
    "event_online_url": "https://zmp.example.pl/seminarium",
}


@pytest.fixture
def editor(signed_in: Callable[[str], httpx.Client]) -> httpx.Client:
    return signed_in("editor")


def published(store: Store, title: str, **fields: object) -> int:
    document = ReleaseInput.parse({"title": title, **fields})
    return store.add_release(document, utcnow() - timedelta(hours=1)).id


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("2027-03-30T10:00", datetime(2027, 3, 30, 8, 0, tzinfo=UTC)),  # summer time (+02:00)
        ("2026-11-26T10:00", datetime(2026, 11, 26, 9, 0, tzinfo=UTC)),  # winter time (+01:00)
    ],
)
def test_an_event_typed_at_ten_polish_time_is_stored_as_its_moment_and_shown_at_ten(
    store: Store, editor: httpx.Client, typed: str, stored: datetime
) -> None:
    answer = send(
        editor, "/desk/releases/new", {"title": "Konferencja prasowa", "event_start": typed}, action="publish"
    )
    release = store.get_release(id_of(answer, "releases"))
    assert release.event == Event(stored, None, False, None, None)
    page = editor.get(answer.headers["location"])
    assert form_of(page.text)["event_start"] == typed


def test_a_seminar_with_place_and_link_is_published_with_its_event(
    store: Store, editor: httpx.Client
) -> None:
    page = editor.get("/desk/releases/new")
    for name in ("event_start", "event_end", "event_all_day", "event_location", "event_online_url"):
        assert f'<label for="{name}">' in page.text
    assert '<h2 id="event-heading">Wydarzenie</h2>' in page.text
    answer = send(editor, "/desk/releases/new", {"title": "Seminarium FRL", **SEMINAR}, action="publish")
    release = store.get_release(id_of(answer, "releases"))
    assert release.event == Event(
        datetime(2026, 10, 24, 9, 0, tzinfo=UTC),
        datetime(2026, 10, 24, 11, 0, tzinfo=UTC),
        False,
        "Poznań, ul. Głogowska 14",
        "https://zmp.example.pl/seminarium",
    )
    shown = form_of(editor.get(answer.headers["location"]).text)
    assert {name: shown[name] for name in SEMINAR} == SEMINAR
    assert "event_all_day" not in shown


def test_an_all_day_event_takes_the_date_part_of_its_fields(store: Store, editor: httpx.Client) -> None:
    answer = send(
        editor, "/desk/releases/new",
        {"title": "Kongres Miast Polskich", "event_start": "2026-11-26T09:00",
         "event_end": "2026-11-27T18:00", "event_all_day": "yes", "event_location": "Wrocław, Stadion"},
        action="publish",
    )  # fmt: skip
    release = store.get_release(id_of(answer, "releases"))
    assert release.event == Event(date(2026, 11, 26), date(2026, 11, 27), True, "Wrocław, Stadion")
    shown = form_of(editor.get(answer.headers["location"]).text)
    assert (shown["event_start"], shown["event_end"], shown["event_all_day"]) == (
        "2026-11-26T00:00", "2026-11-27T00:00", "yes",
    )  # fmt: skip


def test_editing_other_fields_keeps_the_event_and_clearing_the_start_removes_it(
    store: Store, editor: httpx.Client
) -> None:
    event = {"start": "2026-10-24T11:00:00+02:00", "end": "2026-10-24T13:00:00+02:00", "location": "Poznań"}
    release_id = published(store, "Seminarium FRL", event=event)
    before = store.get_release(release_id).event
    assert before is not None

    retitled = send(
        editor, f"/desk/releases/{release_id}", {"title": "Seminarium FRL: program"}, action="save"
    )
    assert id_of(retitled, "releases") == release_id
    assert store.get_release(release_id).title == "Seminarium FRL: program"
    assert store.get_release(release_id).event == before

    moved = send(editor, f"/desk/releases/{release_id}", {"event_location": "Łódź, EC1"}, action="save")
    assert id_of(moved, "releases") == release_id
    assert store.get_release(release_id).event == Event(before.start, before.end, False, "Łódź, EC1")
    audit = editor.get(moved.headers["location"]).text
    assert '<th scope="row">event.location</th><td>Poznań</td><td>Łódź, EC1</td>' in audit

    cleared = send(editor, f"/desk/releases/{release_id}", {"event_start": ""}, action="save")
    assert id_of(cleared, "releases") == release_id
    assert store.get_release(release_id).event is None
    assert form_of(editor.get(cleared.headers["location"]).text)["event_start"] == ""


def test_a_draft_keeps_its_event_until_it_is_published(store: Store, editor: httpx.Client) -> None:
    saved = send(editor, "/desk/releases/new", {"title": "Szkic zaproszenia", **SEMINAR}, action="draft")
    draft_id = id_of(saved, "drafts")
    draft = drafts.get(store, draft_id)
    assert draft is not None and draft.document["event"]["start"] == "2026-10-24T09:00:00Z"
    shown = form_of(editor.get(saved.headers["location"]).text)
    assert {name: shown[name] for name in SEMINAR} == SEMINAR
    preview = editor.get(f"/desk/drafts/{draft_id}/preview")
    assert preview.status_code == 200 and "Poznań, ul. Głogowska 14" in preview.text

    answer = send(editor, f"/desk/drafts/{draft_id}", {}, action="publish")
    event = store.get_release(id_of(answer, "releases")).event
    assert event is not None and event.start == datetime(2026, 10, 24, 9, 0, tzinfo=UTC)
    assert event.location == SEMINAR["event_location"]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"event_start": "jutro"}, "event_start", "Podaj datę i godzinę początku"),
        ({"event_start": "2026-10-24"}, "event_start", "Podaj datę i godzinę początku"),
        ({"event_end": "2026-10-24T10:59"}, "event_end", "nie wcześniejszy niż początek"),
        ({"event_end": "2026-10-23T18:00", "event_all_day": "yes"}, "event_end", "ostatni dzień"),
        ({"event_location": "P" * 301}, "event_location", "do 300 znaków"),
        ({"event_online_url": "javascript:alert(1)"}, "event_online_url", "http:// lub https://"),
    ],
)
def test_a_bad_event_value_is_shown_beside_its_field_and_nothing_is_stored(
    store: Store, editor: httpx.Client, changes: dict[str, str], field: str, words: str
) -> None:
    typed = {"title": "Seminarium z błędem", **SEMINAR, **changes}
    answer = send(editor, "/desk/releases/new", typed, action="publish")
    assert answer.status_code == 400
    assert words in error_beside(answer.text, field)
    assert f'href="#{field}"' in answer.text
    assert form_of(answer.text)[field] == typed[field]  # as typed, to be corrected
    assert store.list_releases(now=utcnow()) == []


def test_an_event_error_on_an_edit_changes_nothing_and_speaks_english_when_asked(
    store: Store, editor: httpx.Client
) -> None:
    release_id = published(store, "Seminar", event={"start": "2026-10-24T11:00:00+02:00"})
    before = store.get_release(release_id)
    url = f"/desk/releases/{release_id}?lang=en"
    answer = send(editor, url, {"event_end": "2026-10-24T10:00", "title": "Changed"}, action="save")
    assert answer.status_code == 400
    assert "an end not before the start" in error_beside(answer.text, "event_end")
    assert store.get_release(release_id) == before


@pytest.mark.parametrize(
    ("event", "path", "changes"),
    [
        (  # seconds set from the CLI or the API, which the form's minutes do not show
            {"start": "2026-10-24T11:00:30+02:00", "end": "2026-10-24T13:00:45+02:00"},
            "",
            {"title": "Seminarium FRL: program"},
        ),
        (  # 02:30 of the hour that the end of summer time repeats, its second time (+01:00)
            {"start": "2026-10-25T02:30:00+01:00", "end": "2026-10-25T04:00:00+01:00"},
            "",
            {"title": "Nocny maraton filmowy"},
        ),
        (  # a correction is an edit too
            {"start": "2026-10-24T11:00:30+02:00", "end": "2026-10-24T13:00:45+02:00"},
            "/correct",
            {"summary": "Program uzupełniony.", "note": "Dodano program seminarium."},
        ),
    ],
)
def test_saving_other_fields_keeps_the_event_times_the_form_cannot_show(
    store: Store, editor: httpx.Client, event: dict[str, str], path: str, changes: dict[str, str]
) -> None:
    release_id = published(store, "Seminarium FRL", event=event)
    before = store.get_release(release_id).event
    url = f"/desk/releases/{release_id}{path}"
    answer = send(editor, url, changes, action="correct" if path else "save")
    assert id_of(answer, "releases") == release_id
    assert store.get_release(release_id).event == before
    assert '<th scope="row">event.start</th>' not in editor.get(answer.headers["location"]).text


def test_an_event_time_typed_with_a_space_as_the_hint_shows_it_is_read_in_polish_time(
    store: Store, editor: httpx.Client
) -> None:
    """A browser without a date picker shows a text field; the hint's own spelling must be taken."""
    typed = {"title": "Gala", "event_start": "2026-11-26 10:00", "event_end": "2026-11-26 12:30"}
    answer = send(editor, "/desk/releases/new", typed, action="publish")
    release = store.get_release(id_of(answer, "releases"))
    assert release.event == Event(
        datetime(2026, 11, 26, 9, 0, tzinfo=UTC), datetime(2026, 11, 26, 11, 30, tzinfo=UTC)
    )
