"""Subscribers on the desk, over real HTTP: search, filters, paging, add, CSV import and export, erasure."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from newsroom_feed.errors import SubscriberNotFound
from newsroom_feed.models import Subscriber, utcnow
from newsroom_feed.people import subscriptions
from newsroom_feed.people.subscriber_csv import CSV_HEADER
from newsroom_feed.store import audit
from newsroom_feed.store.database import Store

from ...web_helpers import csrf_token

ADMIN_PAGES = [
    "/desk/subscribers",
    "/desk/subscribers/new",
    "/desk/subscribers/import",
    "/desk/subscribers/export.csv",
]


def _add(store: Store, email: str, **fields: object) -> Subscriber:
    return subscriptions.add_subscriber(store, {"email": email, **fields}, utcnow())


def _post_new(client: httpx.Client, **fields: object) -> httpx.Response:
    """Fill in and send the desk's new-subscriber form."""
    form = client.get("/desk/subscribers/new")
    return client.post("/desk/subscribers/new", data={**fields, "csrf_token": csrf_token(form.text)})


def _emails(page: str) -> list[str]:
    return re.findall(r'<a href="/desk/subscribers/\d+">([^<]+)</a>', page)


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_an_editor_is_refused_every_subscriber_page(
    signed_in: Callable[[str], httpx.Client], store: Store, path: str
) -> None:
    _add(store, "ania@gazeta.example.pl")
    answer = signed_in("editor").get(path)
    assert answer.status_code == 403 and "tylko dla administratorów" in answer.text
    assert "ania@gazeta.example.pl" not in answer.text


def test_search_filters_and_paging_find_the_right_subscribers_among_120(
    signed_in: Callable[[str], httpx.Client], store: Store
) -> None:
    for n in range(100):
        _add(store, f"czytelnik{n:03d}@example.pl", kind="other")
    for n in range(15):
        _add(store, f"redakcja{n:02d}@gazeta.example.pl", kind="journalist", organization="Gazeta Łódzka",
             categories=["sport"])  # fmt: skip
    for n in range(5):
        _add(store, f"urzad{n}@poznan.example.pl", kind="city", name="Urząd Miasta", categories=["kultura"])
    client = signed_in("admin")

    first = client.get("/desk/subscribers")
    assert first.status_code == 200 and "Znaleziono: 120." in first.text
    assert len(_emails(first.text)) == 50 and "Strona 1 z 3" in first.text
    last = client.get("/desk/subscribers?page=3")
    assert len(_emails(last.text)) == 20
    assert set(_emails(first.text)).isdisjoint(_emails(last.text))
    # A page past the end shows the last one; a last page exactly full still counts every match.
    beyond = client.get("/desk/subscribers?page=9")
    assert _emails(beyond.text) == _emails(last.text) and "Strona 3 z 3" in beyond.text
    for page in ("2", "7"):
        readers = client.get("/desk/subscribers", params={"q": "czytelnik", "page": page})
        assert "Znaleziono: 100." in readers.text and "Strona 2 z 2" in readers.text
        assert len(_emails(readers.text)) == 50

    # A substring in any letter case, Polish letters too.
    by_organization = client.get("/desk/subscribers", params={"q": "ŁÓDZK"})
    assert "Znaleziono: 15." in by_organization.text
    assert all(email.startswith("redakcja") for email in _emails(by_organization.text))
    by_name = client.get("/desk/subscribers", params={"q": "urząd"})
    assert sorted(_emails(by_name.text)) == [f"urzad{n}@poznan.example.pl" for n in range(5)]
    assert "Znaleziono: 1." in client.get("/desk/subscribers", params={"q": "CZYTELNIK042"}).text

    assert "Znaleziono: 5." in client.get("/desk/subscribers", params={"kind": "city"}).text
    # Those who chose the category, and those who chose none (they get every category).
    sport = client.get("/desk/subscribers", params={"category": "sport"})
    assert "Znaleziono: 115." in sport.text
    assert "urzad0@poznan.example.pl" not in client.get("/desk/subscribers?category=sport&page=3").text

    subscriptions.unsubscribe(
        store, subscriptions.get_subscriber(store, "czytelnik007@example.pl").token, utcnow()
    )
    withdrawn = client.get("/desk/subscribers", params={"status": "unsubscribed"})
    assert _emails(withdrawn.text) == ["czytelnik007@example.pl"]
    # Paging keeps the filters.
    journalists = client.get("/desk/subscribers", params={"q": "example", "kind": "journalist"})
    assert "Znaleziono: 15." in journalists.text and "Strona" not in journalists.text
    assert 'href="/desk/subscribers?q=example&amp;page=2"' in client.get("/desk/subscribers?q=example").text


def test_adding_a_subscriber_makes_them_active_with_operator_consent(
    signed_in: Callable[[str], httpx.Client], store: Store
) -> None:
    client = signed_in("admin")
    answer = _post_new(
        client, email="Ola@Gazeta.example.pl", name="Ola Nowak", kind="journalist", organization="Gazeta",
        categories=["sport"], frequency="daily", language="pl",
    )  # fmt: skip
    assert answer.status_code == 303
    page = client.get(answer.headers["location"])
    assert "Dodano subskrybenta Ola@gazeta.example.pl (aktywny)." in page.text
    added = subscriptions.get_subscriber(store, "ola@gazeta.example.pl")
    assert (added.status, added.consent_source, added.categories, added.frequency) == (
        "active", "operator", ("sport",), "daily",
    )  # fmt: skip
    assert "opt-in" in page.text and "operator" in page.text  # the consent history


def test_a_bad_address_is_shown_beside_the_email_field_and_nothing_is_stored(
    signed_in: Callable[[str], httpx.Client], store: Store
) -> None:
    client = signed_in("admin")
    answer = _post_new(
        client, email="to nie adres", name="Ktoś", kind="other", frequency="immediate", language="pl"
    )
    assert answer.status_code == 400
    assert 'id="email-error">' in answer.text and "is not a valid e-mail address" in answer.text
    assert 'aria-invalid="true"' in answer.text and 'value="Ktoś"' in answer.text
    assert subscriptions.list_subscribers(store) == []


def test_a_csv_import_shows_each_rejected_row_with_its_line_and_imports_the_good_ones(
    signed_in: Callable[[str], httpx.Client], store: Store
) -> None:
    _add(store, "juz@example.pl")
    csv_text = (
        ",".join(CSV_HEADER) + "\n"
        "ania@gazeta.example.pl,Ania,journalist,Gazeta,sport;kultura,immediate,pl\n"
        "zly adres,Ktoś,other,,,immediate,pl\n"
        "juz@example.pl,,other,,,immediate,pl\n"
        "bartek@radio.example.pl,Bartek,journalist,Radio,,weekly,en\n"
        "ania@gazeta.example.pl,Ania znowu,journalist,,,immediate,pl\n"
    )
    client = signed_in("admin")
    form = client.get("/desk/subscribers/import")
    answer = client.post(
        "/desk/subscribers/import",
        data={"csrf_token": csrf_token(form.text)},
        files={"file": ("lista.csv", csv_text.encode("utf-8"), "text/csv")},
    )
    assert answer.status_code == 400  # some rows were refused
    assert "Zaimportowano: 2. Pominięto (już zapisani): 1. Odrzucono wierszy: 2." in answer.text
    rows = re.findall(r'<tr><th scope="row">(\d+)</th><td>([^<]*)</td><td>([^<]*)</td></tr>', answer.text)
    assert [(line, field) for line, field, _ in rows] == [("3", "email"), ("6", "email")]
    assert "is not a valid e-mail address" in rows[0][2] and "duplicates line 2" in rows[1][2]
    assert subscriptions.get_subscriber(store, "bartek@radio.example.pl").frequency == "weekly"
    assert subscriptions.get_subscriber(store, "ania@gazeta.example.pl").categories == ("kultura", "sport")


def test_a_csv_with_another_header_is_refused_beside_the_file_field(
    signed_in: Callable[[str], httpx.Client], store: Store
) -> None:
    client = signed_in("admin")
    form = client.get("/desk/subscribers/import")
    answer = client.post(
        "/desk/subscribers/import",
        data={"csrf_token": csrf_token(form.text)},
        files={"file": ("lista.csv", b"adres,imie\nania@example.pl,Ania\n", "text/csv")},
    )
    assert answer.status_code == 400 and 'id="file-error">must be exactly email,name,kind' in answer.text
    assert subscriptions.list_subscribers(store) == []


def test_a_csv_bigger_than_the_app_wide_body_limit_can_be_imported(
    signed_in: Callable[[str], httpx.Client], store: Store
) -> None:
    filler = "x" * 180
    lines = [",".join(CSV_HEADER)] + [
        f"osoba{n:05d}@example.pl,Osoba {filler},other,,,immediate,pl" for n in range(12_000)
    ]
    body = ("\n".join(lines) + "\n").encode()
    assert len(body) > 2 * 1024 * 1024
    client = signed_in("admin")
    form = client.get("/desk/subscribers/import")
    answer = client.post(
        "/desk/subscribers/import",
        data={"csrf_token": csrf_token(form.text)},
        files={"file": ("duzy.csv", body, "text/csv")},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text[:500]
    assert "Zaimportowano: 12000." in answer.text


def test_the_export_is_the_subscriber_csv_and_is_never_cached(
    signed_in: Callable[[str], httpx.Client], store: Store
) -> None:
    _add(store, "ania@gazeta.example.pl", name="=Ania", categories=["sport", "kultura"])
    _add(store, "bartek@radio.example.pl", frequency="weekly", language="en")
    answer = signed_in("admin").get("/desk/subscribers/export.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.text.splitlines() == [
        "email,name,kind,organization,categories,frequency,language",
        "ania@gazeta.example.pl,'=Ania,other,,kultura;sport,immediate,pl",
        "bartek@radio.example.pl,,other,,,weekly,en",
    ]


def test_erasing_after_confirmation_removes_the_personal_data_and_the_address_from_the_audit_log(
    signed_in: Callable[[str], httpx.Client], store: Store
) -> None:
    client = signed_in("admin")
    added = _post_new(
        client, email="ania@gazeta.example.pl", name="Ania Kowalska", kind="journalist",
        frequency="immediate", language="pl",
    )  # fmt: skip
    page_url = added.headers["location"].split("?", 1)[0]
    subscriber_id = int(page_url.rsplit("/", 1)[1])
    page = client.get(page_url)
    assert "ania@gazeta.example.pl" in page.text.split('id="audit-heading"', 1)[1]  # the add, audited

    confirm = client.get(f"{page_url}/erase")
    assert confirm.status_code == 200 and "Tego nie da się cofnąć" in confirm.text
    assert subscriptions.get_subscriber(store, subscriber_id).email == "ania@gazeta.example.pl"  # not yet
    done = client.post(f"{page_url}/erase", data={"csrf_token": csrf_token(confirm.text)})
    assert done.status_code == 303
    assert "Dane subskrybenta zostały usunięte." in client.get(done.headers["location"]).text

    with pytest.raises(SubscriberNotFound):
        subscriptions.get_subscriber(store, "ania@gazeta.example.pl")
    assert client.get(page_url).status_code == 404
    logged = audit.entries(store, "subscriber", subscriber_id)
    assert [entry.action for entry in logged] == ["erase", "add"]
    everything = repr(audit.entries(store, limit=1000))
    assert "ania@gazeta.example.pl" not in everything and "Kowalska" not in everything
