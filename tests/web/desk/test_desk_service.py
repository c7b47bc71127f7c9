"""The outbox and the health page on the desk, over real HTTP: backlog, failures, retry, build, lock."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from newsroom_feed.lock import InstanceLock
from newsroom_feed.mail import outbox
from newsroom_feed.models import utcnow
from newsroom_feed.people import subscriptions
from newsroom_feed.settings import Settings
from newsroom_feed.store import build
from newsroom_feed.store.database import Store
from newsroom_feed.store.schema import MIGRATIONS

from ...web_helpers import csrf_token


@pytest.mark.parametrize("path", ["/desk/outbox", "/desk/health"])
def test_an_editor_is_refused_the_outbox_and_the_health_page(
    signed_in: Callable[[str], httpx.Client], path: str
) -> None:
    answer = signed_in("editor").get(path)
    assert answer.status_code == 403 and "tylko dla administratorów" in answer.text


def _failed_and_waiting(store: Store, settings: Settings) -> None:
    """Two confirmation mails: one refused for good (550), one deferred (451) and waiting for its retry."""
    now = utcnow()
    ania = subscriptions.add_subscriber(store, {"email": "ania@gazeta.example.pl"}, now)
    bartek = subscriptions.add_subscriber(store, {"email": "bartek@radio.example.pl"}, now)
    outbox.enqueue(
        store,
        [outbox.NewMessage(ania.id, "confirm:a", "confirmation"),
         outbox.NewMessage(bartek.id, "confirm:b", "confirmation")],
        now,
    )  # fmt: skip
    claimed = outbox.claim(store, "test", now + timedelta(seconds=1), lease_seconds=60, limit=2).items
    by_key = {item.key: item for item in claimed}
    outbox.record(
        store,
        [outbox.Attempt(by_key["confirm:a"], "permanent", 550, "5.1.1 mailbox unavailable", bounce=True),
         outbox.Attempt(by_key["confirm:b"], "transient", 451, "4.7.1 greylisted, try later")],
        now + timedelta(seconds=2), settings.outbox, owner="test",
    )  # fmt: skip


def test_the_outbox_shows_failed_messages_with_their_reasons_and_waiting_ones_with_their_next_attempt(
    signed_in: Callable[[str], httpx.Client], store: Store, settings: Settings
) -> None:
    _failed_and_waiting(store, settings)
    page = signed_in("admin").get("/desk/outbox")
    assert page.status_code == 200
    failed = page.text.split('id="failed-heading"', 1)[1].split('id="waiting-heading"', 1)[0]
    assert "ania@gazeta.example.pl" in failed and "550 5.1.1 mailbox unavailable" in failed
    waiting = page.text.split('id="waiting-heading"', 1)[1]
    assert "bartek@radio.example.pl" in waiting and "451 4.7.1 greylisted" in waiting
    assert "<time datetime=" in waiting  # its next attempt
    counts = page.text.split('id="counts-heading"', 1)[1].split("</table>", 1)[0]
    assert '<th scope="row">confirmation</th><td>1</td><td>0</td><td>0</td><td>1</td>' in counts


def test_retry_failed_queues_the_failed_message_again_and_says_how_many(
    signed_in: Callable[[str], httpx.Client], store: Store, settings: Settings
) -> None:
    _failed_and_waiting(store, settings)
    client = signed_in("admin")
    page = client.get("/desk/outbox")
    answer = client.post("/desk/outbox/retry", data={"csrf_token": csrf_token(page.text)})
    assert answer.status_code == 303
    after = client.get(answer.headers["location"])
    assert "Ponownie w kolejce: 2." in after.text
    assert "Brak nieudanych wiadomości." in after.text
    rows = {row.key: row for row in outbox.list_rows(store)}
    assert (rows["confirm:a"].status, rows["confirm:a"].attempts) == ("pending", 0)
    due = outbox.next_due(store)
    assert due is not None and due <= utcnow()  # due now: the daemon sends it at its next look


def test_retry_without_the_form_token_changes_nothing(
    signed_in: Callable[[str], httpx.Client], store: Store, settings: Settings
) -> None:
    _failed_and_waiting(store, settings)
    answer = signed_in("admin").post("/desk/outbox/retry", data={})
    assert answer.status_code == 403
    assert {row.key: row.status for row in outbox.list_rows(store)}["confirm:a"] == "failed"


def test_the_health_page_shows_the_last_build_error_and_the_lock_holder(
    signed_in: Callable[[str], httpx.Client], store: Store, settings: Settings
) -> None:
    client = signed_in("admin")
    calm = client.get("/desk/health")
    assert calm.status_code == 200 and "Wszystko działa." in calm.text
    assert "nikt: usługa nie działa" in calm.text
    assert f"{len(MIGRATIONS)} z {len(MIGRATIONS)}" in calm.text  # the schema version
    assert "<dt>Komunikaty w bazie</dt><dd>0</dd>" in calm.text

    store.save_build_state(store.last_change_id(), utcnow())
    with store.transaction():
        build.note_error(store, "cannot write var/public/feeds/rss.xml: No space left on device")
    with InstanceLock(settings.database):
        page = client.get("/desk/health")
    assert "ostatnia budowa stron się nie powiodła" in page.text
    assert "cannot write var/public/feeds/rss.xml: No space left on device" in page.text
    assert f"proces {os.getpid()} na " in page.text
    assert "nikt: usługa nie działa" in client.get("/desk/health").text  # released
