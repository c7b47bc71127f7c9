"""Desk fixtures: a served app, desk users made the way an operator makes them, signed-in clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from newsroom_feed.models import utcnow
from newsroom_feed.people import users
from newsroom_feed.settings import Settings
from newsroom_feed.store.audit import OPERATOR
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app

from ...web_helpers import ServerThread, csrf_token, serve

EDITOR = "redakcja@zmp.example.pl"
ADMIN = "admin@zmp.example.pl"
PASSWORD = "zażółć gęślą jaźń 2026"


@pytest.fixture
def desk_users(store: Store) -> dict[str, users.DeskUser]:
    return {
        "editor": users.add(store, EDITOR, "editor", utcnow(), OPERATOR, PASSWORD),
        "admin": users.add(store, ADMIN, "admin", utcnow(), OPERATOR, PASSWORD),
    }


@pytest.fixture
def server(settings: Settings, store: Store, desk_users: dict[str, users.DeskUser]) -> Iterator[ServerThread]:
    with serve(create_app(settings)) as running:
        yield running


def sign_in(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    page = client.get("/desk/login")
    return client.post(
        "/desk/login", data={"email": email, "password": password, "csrf_token": csrf_token(page.text)}
    )


@pytest.fixture
def signed_in(server: ServerThread) -> Iterator[Callable[[str], httpx.Client]]:
    """``signed_in("editor")``: a client with a session of that desk user."""
    opened: list[httpx.Client] = []

    def open_as(role: str) -> httpx.Client:
        client = httpx.Client(base_url=server.url)
        opened.append(client)
        response = sign_in(client, EDITOR if role == "editor" else ADMIN)
        assert response.status_code == 303, response.text
        return client

    yield open_as
    for client in opened:
        client.close()


@pytest.fixture
def visitor(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as client:
        yield client
