"""The admin API over real HTTP: the bearer gate, releases, subscribers, outbox, errors naming fields."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from newsroom_feed.mail import outbox
from newsroom_feed.models import utcnow
from newsroom_feed.people import subscriptions
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app

from ..web_helpers import ServerThread, serve

TOKEN = "test-admin-token-not-for-production"
RELEASE = {
    "title": "Złote Lajki 2026 wręczone",
    "summary": "Rada Programowa przyznała nagrody.",
    "body": "Markdown **tekst**",
    "categories": ["informacje-prasowe"],
    "attachments": [
        {"url": "https://example.pl/files/komunikat.pdf", "title": "Komunikat (PDF)",
         "mime_type": "application/pdf", "length": 183422}
    ],
    "published_at": "2026-11-26T10:30:00+01:00",
    "contact": {"name": "Biuro prasowe", "email": "prasa@example.pl", "phone": "+48 61 000 00 00"},
}  # fmt: skip


@pytest.fixture
def server(settings: Settings, store: Store) -> Iterator[ServerThread]:
    with serve(create_app(settings)) as running:
        yield running


@pytest.fixture
def api(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/api", headers={"authorization": f"Bearer {TOKEN}"}) as client:
        yield client


@pytest.fixture
def anonymous(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/releases"),
        ("POST", "/api/releases"),
        ("GET", "/api/releases/1"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/no-such-route"),
        ("DELETE", "/api/subscribers"),
        ("GET", "/api"),
    ],
)
def test_without_the_token_every_api_path_answers_the_same_401(
    anonymous: httpx.Client, method: str, path: str
) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {TOKEN}"}):
        response = anonymous.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json() == {
            "error": {
                "field": "authorization",
                "problem": "a valid 'Authorization: Bearer <token>' header is required",
            }
        }


def test_without_a_configured_token_the_api_is_off(tmp_path: Path) -> None:
    settings = load_settings(
        database=tmp_path / "db.sqlite", public_dir=tmp_path / "public", secret_key="k", admin_token=None
    )
    with serve(create_app(settings)) as running, httpx.Client(base_url=running.url) as client:
        for headers in ({}, {"authorization": "Bearer None"}, {"authorization": f"Bearer {TOKEN}"}):
            assert client.get("/api/releases", headers=headers).status_code == 503


def test_a_release_is_created_read_listed_updated_and_retracted(api: httpx.Client, store: Store) -> None:
    created = api.post("/releases", json=RELEASE)
    assert created.status_code == 201, created.text
    document = created.json()
    assert document["title"] == RELEASE["title"]
    assert document["uid"].startswith("tag:prasa.example.pl,2026:release/")
    assert document["attachments"][0]["length"] == 183422
    assert created.headers["location"] == f"/api/releases/{document['id']}"
    assert api.get(f"/releases/{document['slug']}").json()["id"] == document["id"]
    assert [item["id"] for item in api.get("/releases").json()] == [document["id"]]

    updated = api.patch(f"/releases/{document['id']}", json={"title": "Złote Lajki 2026: laureaci"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["title"] == "Złote Lajki 2026: laureaci"
    assert updated.json()["uid"] == document["uid"]
    assert updated.json()["slug"] == document["slug"]

    retracted = api.post(f"/releases/{document['id']}/retract")
    assert retracted.json()["status"] == "retracted"
    assert api.get("/releases", params={"status": "retracted"}).json()[0]["id"] == document["id"]
    assert store.get_release(document["id"]).retracted_at is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**RELEASE, "attachments": [{"url": "ftp://example.pl/x.pdf"}]}, "attachments.0.url"),
        ({"summary": "bez tytułu"}, "title"),
        ({"title": "Tytuł", "published_at": "jutro"}, "published_at"),
        ({"title": "Tytuł", "embargo_until": "0001-01-01T00:00:00+01:00"}, "embargo_until"),
        ({"title": "Tytuł", "colour": "red"}, "colour"),
        ({"title": "Tytuł", "categories": ["Zła Kategoria"]}, "categories"),
        ({"title": "Tytuł", "contact": {"email": "nie-adres"}}, "contact.email"),
        (["not", "an", "object"], ""),
    ],
)
def test_invalid_releases_are_422_naming_the_field(
    api: httpx.Client, store: Store, body: object, field: str
) -> None:
    response = api.post("/releases", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == (field or "body")
    assert error["problem"]
    assert store.list_releases(now=utcnow()) == []


def test_a_body_that_is_not_json_is_a_422_on_body(api: httpx.Client) -> None:
    response = api.post("/releases", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body"


def test_an_invalid_update_names_the_field_and_changes_nothing(api: httpx.Client) -> None:
    document = api.post("/releases", json=RELEASE).json()
    response = api.patch(f"/releases/{document['id']}", json={"source_url": "javascript:alert(1)"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "source_url"
    assert api.patch(f"/releases/{document['id']}", json={"uid": "x"}).json()["error"]["field"] == "uid"
    assert api.get(f"/releases/{document['id']}").json()["source_url"] is None


def test_an_unknown_release_is_a_404_json(api: httpx.Client) -> None:
    for response in (
        api.get("/releases/nie-ma"),
        api.patch("/releases/999", json={}),
        api.post("/releases/9/retract"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["field"] == "ref"


def test_bad_query_parameters_are_422_naming_them(api: httpx.Client) -> None:
    response = api.get("/releases", params={"limit": "many"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "query.limit"
    assert api.get("/releases", params={"status": "lost"}).json()["error"]["field"] == "query.status"


def test_subscribers_are_listed_and_exported_as_the_import_csv(api: httpx.Client, store: Store) -> None:
    subscriptions.add_subscriber(
        store,
        {"email": "ania@gazeta.example.pl", "name": "Anna Nowak", "kind": "journalist",
         "categories": ["kultura", "sport"], "frequency": "daily"},
        utcnow(),
    )  # fmt: skip
    subscriptions.add_subscriber(store, {"email": "urzad@poznan.example.pl"}, utcnow(), double_opt_in=True)
    listed = api.get("/subscribers").json()
    assert [s["email"] for s in listed] == ["ania@gazeta.example.pl", "urzad@poznan.example.pl"]
    assert set(listed[0]) == {
        "email", "name", "kind", "organization", "categories", "frequency", "language", "status",
        "created_at", "confirmed_at",
    }  # fmt: skip
    assert [s["email"] for s in api.get("/subscribers", params={"status": "pending"}).json()] == [
        "urzad@poznan.example.pl"
    ]
    exported = api.get("/subscribers/export")
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["email", "name", "kind", "organization", "categories", "frequency", "language"]
    assert rows[1:] == [
        ["ania@gazeta.example.pl", "Anna Nowak", "journalist", "", "kultura;sport", "daily", "pl"]
    ]


def test_outbox_status_counts_rows_by_status_and_kind(api: httpx.Client, store: Store) -> None:
    subscriber = subscriptions.add_subscriber(store, {"email": "ania@gazeta.example.pl"}, utcnow())
    outbox.enqueue(store, [outbox.NewMessage(subscriber.id, "confirm:1", "confirmation")], utcnow())
    status = api.get("/outbox").json()
    assert status["counts"] == {"pending": {"confirmation": 1}}
    assert status["waiting"] == 1
    assert status["items"][0]["email"] == "ania@gazeta.example.pl"
    assert status["items"][0]["key"] == "confirm:1"


def test_openapi_document_describes_the_release_model(api: httpx.Client) -> None:
    document = api.get("/openapi.json").json()
    assert document["servers"] == [{"url": "/api"}]
    # Only the API: the subscriber pages are not in it.
    assert set(document["paths"]) == {
        "/releases", "/releases/{ref}", "/releases/{ref}/retract", "/releases/{ref}/corrections",
        "/subscribers", "/subscribers/export", "/outbox",
    }  # fmt: skip
    schemas = document["components"]["schemas"]
    assert schemas["ReleaseInput"]["required"] == ["title"]
    assert "AttachmentInput" in schemas
