"""A release's event on the way in: the CLI options, the admin API, JSON Lines and CSV imports. Every bad
value is refused naming its field (``event.start``, ``event.end``...) and leaves the store as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app

from .test_cli_release import Cli
from .test_cli_release import cli as cli  # the fixture
from .web_helpers import serve

SEMINAR = (
    "--event-start", "2026-10-24T11:00:00+02:00",
    "--event-end", "2026-10-24T13:00:00+02:00",
    "--event-location", "Poznań, ul. Głogowska 14",
    "--event-online-url", "https://zmp.example.pl/seminarium",
)  # fmt: skip
SEMINAR_EVENT = {
    "start": "2026-10-24T09:00:00Z",
    "end": "2026-10-24T11:00:00Z",
    "all_day": False,
    "location": "Poznań, ul. Głogowska 14",
    "online_url": "https://zmp.example.pl/seminarium",
}


def add(cli: Cli, title: str, *options: str) -> dict[str, Any]:
    document: dict[str, Any] = cli.json("release", "add", "--title", title, *options, "--json")
    return document


def show(cli: Cli, ref: str) -> dict[str, Any]:
    document: dict[str, Any] = cli.json("release", "show", ref, "--json")
    return document


def event_line(cli: Cli, ref: str) -> str:
    assert cli("release", "show", ref) == 0, cli.err
    lines = [line for line in cli.out.splitlines() if line.startswith("event: ")]
    assert len(lines) == 1, cli.out
    return lines[0]


# -- the command line -------------------------------------------------------------------------------


def test_an_event_given_on_the_command_line_comes_back_from_show_json(cli: Cli) -> None:
    added = add(cli, "Miasta otwarte na migrantów: seminarium FRL", *SEMINAR)
    assert added["event"] == SEMINAR_EVENT
    assert show(cli, added["slug"]) == added
    line = event_line(cli, added["slug"])
    assert line == (
        "event: 2026-10-24 11:00 – 13:00 Europe/Warsaw; Poznań, ul. Głogowska 14; "
        "https://zmp.example.pl/seminarium"
    )


def test_an_all_day_event_keeps_its_days(cli: Cli) -> None:
    added = add(
        cli, "Kongres Miast Polskich",
        "--all-day", "--event-start", "2026-11-26", "--event-end", "2026-11-27",
        "--event-location", "Wrocław, Stadion Miejski",
    )  # fmt: skip
    assert added["event"] == {
        "start": "2026-11-26", "end": "2026-11-27", "all_day": True,
        "location": "Wrocław, Stadion Miejski", "online_url": None,
    }  # fmt: skip
    assert show(cli, added["slug"])["event"] == added["event"]
    assert (
        event_line(cli, added["slug"]) == "event: 2026-11-26 – 2026-11-27 (all day); Wrocław, Stadion Miejski"
    )


@pytest.mark.parametrize(
    ("start", "utc"),
    [
        ("2027-03-30T10:00:00+02:00", "2027-03-30T08:00:00Z"),  # summer time, two days after the change
        ("2026-11-26T10:00:00+01:00", "2026-11-26T09:00:00Z"),  # winter time
    ],
)
def test_a_ten_oclock_event_is_shown_at_ten_polish_time_in_summer_and_in_winter(
    cli: Cli, start: str, utc: str
) -> None:
    added = add(cli, "Konferencja prasowa", "--event-start", start)
    assert added["event"]["start"] == utc
    assert event_line(cli, added["slug"]) == f"event: {start[:10]} 10:00 Europe/Warsaw"
    cli("release", "update", added["slug"], "--event-location", "Sala Sesyjna")
    assert event_line(cli, added["slug"]) == f"event: {start[:10]} 10:00 Europe/Warsaw; Sala Sesyjna"


def test_updating_one_event_field_keeps_the_others(cli: Cli) -> None:
    added = add(cli, "Seminarium", *SEMINAR)
    moved = cli.json("release", "update", added["slug"], "--event-location", "Łódź, EC1", "--json")
    assert moved["event"] == {**SEMINAR_EVENT, "location": "Łódź, EC1"}
    assert (moved["uid"], moved["slug"]) == (added["uid"], added["slug"])
    longer = cli.json(
        "release", "update", added["slug"], "--event-end", "2026-10-24T15:00:00+02:00", "--json"
    )
    assert longer["event"] == {**SEMINAR_EVENT, "location": "Łódź, EC1", "end": "2026-10-24T13:00:00Z"}
    cleared = cli.json(
        "release", "update", added["slug"], "--event-end", "", "--event-online-url", "", "--json"
    )
    assert cleared["event"] == {**SEMINAR_EVENT, "location": "Łódź, EC1", "end": None, "online_url": None}
    assert (
        cli.json("release", "update", added["slug"], "--title", "Nowy tytuł", "--json")["event"]
        == (cleared["event"])
    )


def test_an_event_made_all_day_by_update_takes_days(cli: Cli) -> None:
    added = add(cli, "Seminarium", *SEMINAR)
    assert cli("release", "update", added["slug"], "--all-day", "--event-start", "2026-10-24") == 2
    assert "event.end" in cli.err  # the old end is a moment, not a day
    assert show(cli, added["slug"])["event"] == SEMINAR_EVENT
    whole_day = cli.json(
        "release",
        "update",
        added["slug"],
        "--all-day",
        "--event-start",
        "2026-10-24",
        "--event-end",
        "",
        "--json",
    )
    assert whole_day["event"]["start"] == "2026-10-24" and whole_day["event"]["all_day"] is True
    assert whole_day["event"]["location"] == SEMINAR_EVENT["location"]


def test_no_event_removes_it_and_cannot_come_with_an_event_option(cli: Cli) -> None:
    added = add(cli, "Seminarium", *SEMINAR)
    assert cli("release", "update", added["slug"], "--no-event", "--event-location", "Gdzieś") == 2
    assert "--no-event" in cli.err and "--event-location" in cli.err
    assert show(cli, added["slug"])["event"] == SEMINAR_EVENT
    assert cli.json("release", "update", added["slug"], "--no-event", "--json")["event"] is None
    assert cli("release", "show", added["slug"]) == 0
    assert "event:" not in cli.out


def test_an_event_option_without_a_start_on_a_release_without_an_event_names_event_start(cli: Cli) -> None:
    added = add(cli, "Ranking Zielonych Finansów")
    assert cli("release", "update", added["slug"], "--event-location", "Warszawa") == 2
    assert "error: event.start: is required" in cli.err
    assert show(cli, added["slug"]) == added


def test_options_change_the_event_of_a_json_document_field_by_field(cli: Cli) -> None:
    source = {"title": "Gala Złotych Lajków", "event": {**SEMINAR_EVENT, "location": "Poznań"}}
    document = cli.json(
        "release", "add", "-", "--event-location", "Poznań, Arena", "--json", stdin=json.dumps(source)
    )
    assert document["event"] == {**SEMINAR_EVENT, "location": "Poznań, Arena"}


AT_TEN = ("--event-start", "2026-11-26T10:00:00+01:00")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (("--event-start", "2026-11-26T10:00"), "event.start"),  # no offset: which zone?
        (("--event-start", "jutro o dziesiątej"), "event.start"),
        (("--event-start", "2026-11-26"), "event.start"),  # a day, but not all-day
        (("--event-start", "2026-02-30T10:00:00+01:00"), "event.start"),
        (("--event-start", "0001-01-01T00:00:00+01:00"), "event.start"),
        (("--event-location", "Poznań"), "event.start"),
        ((*AT_TEN, "--event-end", "2026-11-26T09:59:00+01:00"), "event.end"),
        ((*AT_TEN, "--event-end", "po południu"), "event.end"),
        (("--all-day", *AT_TEN), "event.start"),
        (("--all-day", "--event-start", "2026-11-26", "--event-end", "2026-11-25"), "event.end"),
        ((*AT_TEN, "--event-location", "Poznań\nul. Głogowska"), "event.location"),
        ((*AT_TEN, "--event-location", "P" * 301), "event.location"),
        ((*AT_TEN, "--event-online-url", "javascript:alert(1)"), "event.online_url"),
        ((*AT_TEN, "--event-online-url", "ftp://example.pl/s"), "event.online_url"),
    ],
)  # fmt: skip
def test_each_bad_event_value_exits_2_naming_its_field_and_stores_nothing(
    cli: Cli, options: tuple[str, ...], field: str
) -> None:
    assert cli("release", "add", "--title", "Zaproszenie", *options) == 2
    assert f"error: {field}: " in cli.err
    assert cli.json("release", "list", "--json") == []


def test_a_bad_event_in_an_update_changes_nothing(cli: Cli) -> None:
    added = add(cli, "Seminarium", *SEMINAR)
    assert cli("release", "update", added["slug"], "--event-end", "2026-10-24T10:00:00+02:00") == 2
    assert "error: event.end: must not be before the start" in cli.err
    assert show(cli, added["slug"]) == added


def test_a_correction_changes_one_event_field_and_keeps_the_others(cli: Cli) -> None:
    added = add(cli, "Seminarium", *SEMINAR)
    corrected = cli.json(
        "release", "correct", added["slug"], "--note", "Zmiana sali.", "--event-location", "Sala B", "--json"
    )
    assert corrected["event"] == {**SEMINAR_EVENT, "location": "Sala B"}


# -- the admin API ----------------------------------------------------------------------------------

TOKEN = "test-admin-token-not-for-production"


@pytest.fixture
def api(settings: Settings, store: Store) -> Iterator[httpx.Client]:
    with (
        serve(create_app(settings)) as server,
        httpx.Client(base_url=f"{server.url}/api", headers={"authorization": f"Bearer {TOKEN}"}) as client,
    ):
        yield client


def test_the_api_takes_an_event_and_gives_it_back(api: httpx.Client) -> None:
    created = api.post("/releases", json={"title": "Seminarium FRL", "event": SEMINAR_EVENT})
    assert created.status_code == 201, created.text
    assert created.json()["event"] == SEMINAR_EVENT
    assert api.get(f"/releases/{created.json()['id']}").json()["event"] == SEMINAR_EVENT


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({**SEMINAR_EVENT, "end": "2026-10-24T08:00:00Z"}, "event.end"),
        ({**SEMINAR_EVENT, "start": "2026-10-24T11:00:00"}, "event.start"),
        ({"location": "Poznań"}, "event.start"),
        ({**SEMINAR_EVENT, "all_day": True}, "event.start"),
        ({**SEMINAR_EVENT, "online_url": "javascript:alert(1)"}, "event.online_url"),
        ({**SEMINAR_EVENT, "colour": "red"}, "event.colour"),
    ],
)
def test_a_bad_event_is_a_422_naming_its_field_and_nothing_is_stored(
    api: httpx.Client, event: dict[str, Any], field: str
) -> None:
    response = api.post("/releases", json={"title": "Seminarium FRL", "event": event})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert api.get("/releases").json() == []


def test_a_bad_event_in_an_api_update_changes_nothing(api: httpx.Client) -> None:
    created = api.post("/releases", json={"title": "Seminarium FRL", "event": SEMINAR_EVENT}).json()
    response = api.patch(
        f"/releases/{created['id']}", json={"event": {**SEMINAR_EVENT, "end": "2026-10-23T12:00:00Z"}}
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "event.end"
    assert api.get(f"/releases/{created['id']}").json() == created


# -- JSON Lines -------------------------------------------------------------------------------------


def test_json_lines_rows_with_a_bad_event_are_rejected_naming_line_and_field(
    cli: Cli, tmp_path: Path
) -> None:
    rows = [
        {"title": "Seminarium", "event": SEMINAR_EVENT},
        {"title": "Koniec przed początkiem", "event": {**SEMINAR_EVENT, "end": "2026-10-24T08:00:00Z"}},
        {"title": "Bez strefy", "event": {"start": "2026-10-24T11:00"}},
    ]
    path = tmp_path / "releases.jsonl"
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n", encoding="utf-8")
    assert cli("import", str(path)) == 1
    rejected = [line for line in cli.err.splitlines() if line.startswith("rejected")]
    assert rejected == [
        "rejected: line 2: event.end: must not be before the start",
        "rejected: line 3: event.start: needs a time zone offset, such as 2026-12-10T10:00:00+01:00 or ...Z",
    ]
    stored = cli.json("release", "list", "--json")
    assert [(item["title"], item["event"]) for item in stored] == [("Seminarium", SEMINAR_EVENT)]


# -- CSV --------------------------------------------------------------------------------------------

#: The header every CSV written before events had; such files import as they always did.
OLD_HEADER = (
    "title,summary,body,categories,urgent,language,published_at,embargo_until,contact_name,"
    "contact_email,contact_phone,source_url,attachment_url,attachment_title,attachment_mime_type,"
    "attachment_length"
)
EVENT_HEADER = OLD_HEADER + ",event_start,event_end,event_all_day,event_location,event_online_url"


def test_a_csv_with_the_old_header_imports_as_before_without_events(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "stare.csv"
    path.write_text(
        OLD_HEADER + "\n"
        "Gala,Lead,Treść,nagrody,tak,pl,2026-11-20T10:00,,Anna Nowak,prasa@example.pl,,,,,,\n"
        "Za krótki wiersz,x\n",
        encoding="utf-8",
    )
    assert cli("import", str(path)) == 1
    assert "rejected: line 3: has 2 cells, the header has 16" in cli.err
    gala = show(cli, "gala")
    assert (gala["summary"], gala["urgent"], gala["published_at"]) == ("Lead", True, "2026-11-20T09:00:00Z")
    assert gala["event"] is None


def test_a_csv_with_event_columns_imports_events_and_names_each_bad_cell(cli: Cli, tmp_path: Path) -> None:
    empty_old = "," * 15  # the sixteen old columns, the title first
    path = tmp_path / "wydarzenia.csv"
    path.write_text(
        EVENT_HEADER + "\n"
        f"Seminarium{empty_old},2026-10-24T11:00:00+02:00,2026-10-24T13:00:00+02:00,nie,"
        '"Poznań, ul. Głogowska 14",https://zmp.example.pl/seminarium\n'
        f"Kongres{empty_old},2026-11-26,2026-11-27,tak,Wrocław,\n"
        f"Bez wydarzenia{empty_old},,,nie,,\n"
        f"Zła flaga{empty_old},2026-11-26,,może,,\n"
        f"Koniec przed początkiem{empty_old},2026-11-26T10:00:00Z,2026-11-26T09:00:00Z,,,\n"
        f"Samo miejsce{empty_old},,,,Gdańsk,\n"
        f"Bez strefy{empty_old},2026-11-26 10:00,,,,\n",
        encoding="utf-8",
    )
    assert cli("import", str(path)) == 1
    assert [line for line in cli.err.splitlines() if line.startswith("rejected")] == [
        "rejected: line 5: event_all_day: must be true or false (also 1/0, yes/no, tak/nie)",
        "rejected: line 6: event.end: must not be before the start",
        "rejected: line 7: event.start: is required",
        "rejected: line 8: event.start: needs a time zone offset, such as 2026-12-10T10:00:00+01:00 or ...Z",
    ]
    assert show(cli, "seminarium")["event"] == SEMINAR_EVENT
    assert show(cli, "kongres")["event"] == {
        "start": "2026-11-26", "end": "2026-11-27", "all_day": True,
        "location": "Wrocław", "online_url": None,
    }  # fmt: skip
    assert show(cli, "bez-wydarzenia")["event"] is None
    assert len(cli.json("release", "list", "--json")) == 3


def test_a_spreadsheet_csv_may_carry_only_some_event_columns(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "arkusz.csv"
    row = "Zgromadzenie Ogólne;2026-11-26T10:00:00+01:00;Warszawa"
    path.write_bytes(f"\ufefftitle;event_start;event_location\n{row}\n".encode())
    assert cli("import", str(path)) == 0, cli.err
    event = show(cli, "zgromadzenie-ogolne")["event"]
    assert (event["start"], event["location"], event["all_day"]) == (
        "2026-11-26T09:00:00Z",
        "Warszawa",
        False,
    )
