"""What happened to a release: its alerts after a real delivery run (sent, and failed with the server's
reason), the retry of the failed ones from the desk, the digests that carried it, and WebSub pings, which
the daemon records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import lxml.html

from newsroom_feed.daemon import Daemon
from newsroom_feed.mail import bounces, outbox
from newsroom_feed.mail.delivery import deliver
from newsroom_feed.mail.kinds import DIGEST
from newsroom_feed.mail.outbox import NewMessage
from newsroom_feed.mail.verp import envelope_sender
from newsroom_feed.models import Release, ReleaseInput, utcnow
from newsroom_feed.people.subscriptions import add_subscriber, remove_subscriber
from newsroom_feed.planner import announce
from newsroom_feed.settings import Settings
from newsroom_feed.store import audit, history
from newsroom_feed.store.database import Store

from ...conftest import make_settings
from ...mail.test_bounces import postfix_dsn
from ...mail_helpers import smtp_settings
from ...smtp_server import SmtpServer
from ...web_helpers import csrf_token
from ..test_web_websub import Hub
from .conftest import EDITOR

TITLE = "Dni Miast Polskich w Toruniu"
REFUSAL = "5.1.1 <nikt@example.pl>: Recipient address rejected: User unknown"


def published_release(store: Store) -> Release:
    document = ReleaseInput.parse({"title": TITLE, "body": "Zapraszamy."}, store.zone)
    return store.add_release(document, utcnow() - timedelta(minutes=1))


def one_connection(settings: Settings, port: int) -> Settings:
    """One SMTP connection, so the messages go in the order of their rows."""
    mail = smtp_settings(settings, port)
    return mail.model_copy(update={"smtp": mail.smtp.model_copy(update={"connections": 1})})


def counts_on(page: str) -> dict[str, int]:
    cells = lxml.html.fromstring(page).xpath("//td[@data-status]")
    return {cell.get("data-status"): int(cell.text_content()) for cell in cells}


def test_history_shows_sent_and_failed_alerts_with_the_reason_and_retry_queues_the_failed_again(
    store: Store, settings: Settings, smtp_server: SmtpServer, signed_in: Callable[[str], httpx.Client]
) -> None:
    release = published_release(store)
    for email in ("nikt@example.pl", "anna@example.pl"):
        add_subscriber(store, {"email": email, "frequency": "immediate"}, utcnow())
    announce(store, settings, utcnow())
    mail_settings = one_connection(settings, smtp_server.port)
    smtp_server.fail_next(550, REFUSAL)  # the first message, nikt@'s: the server refuses the recipient
    report = asyncio.run(deliver(store, mail_settings))
    assert (report.sent, report.failed) == (1, 1)
    client = signed_in("editor")

    page = client.get(f"/desk/releases/{release.id}/history")

    assert page.status_code == 200
    assert counts_on(page.text) == {"pending": 0, "sending": 0, "sent": 1, "failed": 1, "withdrawn": 0}
    rows = lxml.html.fromstring(page.text).xpath("//table[@class='hist-alerts']/tbody/tr")
    by_recipient = {row.xpath("string(th)").split()[0]: row.text_content() for row in rows}
    assert "nieudane" in by_recipient["nikt@example.pl"]
    assert f"550 {REFUSAL}" in by_recipient["nikt@example.pl"]  # the reason, and the server's reply
    assert "wysłane" in by_recipient["anna@example.pl"]

    form_token = csrf_token(page.text)
    answer = client.post(f"/desk/releases/{release.id}/history/retry", data={"csrf_token": form_token})

    assert answer.status_code == 303
    after = client.get(answer.headers["location"])
    assert "Ponownie zakolejkowano powiadomień: 1." in after.text
    assert counts_on(after.text)["failed"] == 0 and counts_on(after.text)["pending"] == 1
    assert sorted(row.status for row in outbox.list_rows(store)) == ["pending", "sent"]
    [entry] = audit.entries(store, "outbox", release.id)
    assert (entry.actor, entry.action, entry.changes["status"]) == (EDITOR, "retry", ("failed", "pending"))
    audit_section = lxml.html.fromstring(after.text).xpath("string(//section[@class='audit'])")
    assert EDITOR in audit_section and "retry" in audit_section

    # The cause gone, the re-queued alert goes out.
    report = asyncio.run(deliver(store, mail_settings))
    assert report.sent == 1
    assert counts_on(client.get(f"/desk/releases/{release.id}/history").text)["sent"] == 2


def test_retry_without_the_form_token_is_refused_and_changes_nothing(
    store: Store, settings: Settings, smtp_server: SmtpServer, signed_in: Callable[[str], httpx.Client]
) -> None:
    release = published_release(store)
    add_subscriber(store, {"email": "nikt@example.pl", "frequency": "immediate"}, utcnow())
    announce(store, settings, utcnow())
    smtp_server.fail_next(550, REFUSAL)
    asyncio.run(deliver(store, one_connection(settings, smtp_server.port)))

    answer = signed_in("editor").post(f"/desk/releases/{release.id}/history/retry", data={})

    assert answer.status_code == 403
    assert [row.status for row in outbox.list_rows(store)] == ["failed"]
    assert audit.entries(store, "outbox", release.id) == []


def test_an_erased_recipient_shows_as_erased(
    store: Store, settings: Settings, smtp_server: SmtpServer, signed_in: Callable[[str], httpx.Client]
) -> None:
    release = published_release(store)
    add_subscriber(store, {"email": "anna@example.pl", "frequency": "immediate"}, utcnow())
    announce(store, settings, utcnow())
    asyncio.run(deliver(store, one_connection(settings, smtp_server.port)))
    remove_subscriber(store, "anna@example.pl")

    page = signed_in("editor").get(f"/desk/releases/{release.id}/history?lang=en")

    assert "[erased]" in page.text
    assert "anna@example.pl" not in page.text


def test_digests_that_carried_the_release_and_its_websub_pings_show(
    store: Store, settings: Settings, signed_in: Callable[[str], httpx.Client]
) -> None:
    release = published_release(store)
    other = store.add_release(ReleaseInput.parse({"title": "Inny komunikat"}, store.zone), utcnow())
    subscriber = add_subscriber(store, {"email": "anna@example.pl", "frequency": "daily"}, utcnow())
    digest_key = DIGEST.key("daily", utcnow().replace(microsecond=0))
    outbox.enqueue(store, [NewMessage(subscriber.id, digest_key, "digest", (other.id, release.id))], utcnow())
    feed = "https://prasa.example.pl/feeds/rss.xml"
    with store.transaction():
        history.record_pings(
            store, [("https://hub.example.net/", feed, True, 204, None)], [release.id], utcnow()
        )
        history.record_pings(
            store,
            [("https://down.example.net/", feed, False, 503, "hub answered 503")],
            [release.id],
            utcnow(),
        )
        history.record_pings(
            store, [("https://other.example.net/", feed, True, 204, None)], [other.id], utcnow()
        )

    page = signed_in("editor").get(f"/desk/releases/{release.id}/history")

    assert digest_key in page.text
    pings = lxml.html.fromstring(page.text).xpath("string(//table[@class='hist-pings'])")
    assert "https://hub.example.net/" in pings and "przyjęte" in pings
    assert "https://down.example.net/" in pings and "hub answered 503" in pings
    assert "https://other.example.net/" not in pings


def test_the_daemon_records_its_websub_pings_with_the_releases_it_made_visible(tmp_path: Path) -> None:
    with Hub() as hub:
        settings = make_settings(tmp_path, websub={"hubs": [hub.url]}, watch_interval=0.05, http={"port": 0})
        with Store.for_settings(settings) as store:
            released = asyncio.run(_run_daemon_until_pinged(settings, store))
            pings = history.pings_about(store, released.id)
    assert pings
    assert {ping.hub for ping in pings} == {hub.url}
    assert all(ping.ok and ping.status == 204 for ping in pings)
    assert "https://prasa.example.pl/feeds/rss.xml" in {ping.url for ping in pings}
    assert any(ping["hub.url"] == ["https://prasa.example.pl/feeds/rss.xml"] for ping in hub.pings)


async def _run_daemon_until_pinged(settings: Settings, store: Store) -> Release:
    daemon = Daemon(settings, web=False)
    running = asyncio.ensure_future(daemon.serve(signals=False))
    try:
        await asyncio.wait_for(daemon.started.wait(), 20)
        release = store.add_release(ReleaseInput.parse({"title": TITLE}, store.zone), utcnow())
        deadline = time.monotonic() + 20
        while not history.pings_about(store, release.id):
            assert time.monotonic() < deadline, "the daemon recorded no ping about the new release"
            await asyncio.sleep(0.05)
        return release
    finally:
        daemon.request_stop()
        assert await running == 0


def test_a_bounce_that_came_back_after_the_relay_accepted_shows_with_its_reason(
    store: Store, settings: Settings, smtp_server: SmtpServer, signed_in: Callable[[str], httpx.Client]
) -> None:
    release = published_release(store)
    add_subscriber(store, {"email": "gmina@example.pl", "frequency": "immediate"}, utcnow())
    announce(store, settings, utcnow())
    verp = settings.model_copy(
        update={"bounces": settings.bounces.model_copy(update={"address": "bounces@prasa.example.pl"})}
    )
    assert asyncio.run(deliver(store, one_connection(verp, smtp_server.port))).sent == 1
    [row] = outbox.list_rows(store)
    report = postfix_dsn(
        None, to=envelope_sender(verp, row.id), recipient="gmina@example.pl", headers=""
    )  # the relay said 250; the city's server refused later, and the DSN came back to the VERP address
    assert bounces.process(store, verp, report, "maildir", utcnow()) is not None

    page = signed_in("editor").get(f"/desk/releases/{release.id}/history")

    reports = lxml.html.fromstring(page.text).xpath(
        "string(//table[@aria-labelledby='hist-reports-heading'])"
    )
    assert "gmina@example.pl" in reports and "5.1.1" in reports and "User unknown" in reports
