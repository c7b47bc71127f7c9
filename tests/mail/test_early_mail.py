"""Early access by mail (issue 12), planned by real builds and sent to a real aiosmtpd server: an early copy
for verified journalists before the lift, no second alert for them at the lift, threaded notices when the
embargo moves or the release is withdrawn (also after its alerts, issue 13), a revocation that stops
what is still queued, the terms gate, and the mail that tells an applicant the admin's decision."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from newsroom_feed import planner
from newsroom_feed.cli import main
from newsroom_feed.mail import outbox
from newsroom_feed.mail.delivery import deliver
from newsroom_feed.mail.kinds import EARLY, KINDS, NOTICE, VERIFICATION, Notice
from newsroom_feed.models import Release, ReleaseInput, iso, utcnow
from newsroom_feed.people import journalists, subscriptions
from newsroom_feed.settings import Settings
from newsroom_feed.store import early_access
from newsroom_feed.store import journalists as journalist_rows
from newsroom_feed.store.audit import OPERATOR
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app, personal

from ..conftest import make_settings
from ..mail_helpers import smtp_settings
from ..smtp_server import SmtpServer
from ..web_helpers import serve

#: 10:00 in Warsaw (CET) on 10 December 2026: the embargo of the release shared early.
LIFT = datetime.fromisoformat("2026-12-10T10:00:00+01:00")
MARK_PL = "[EMBARGO do 10 grudnia 2026, 10:00] "
MARK_EN = "[EMBARGO until 10 December 2026, 10:00] "
SUMMARY = "Zespół opisał nowy gatunek porostu w Puszczy Zielonce."
BODY = "Wyniki ukażą się w czasopiśmie Lichenologist."


class Newsroom:
    """A store with its people, and the mail the test SMTP server received, by recipient."""

    def __init__(self, store: Store, settings: Settings, smtp: SmtpServer, now: datetime) -> None:
        self.store, self.settings, self.smtp, self.now = store, settings, smtp, now
        self.seen = 0

    def person(
        self, email: str, categories: list[str], *, language: str = "pl", frequency: str = "immediate"
    ) -> int:
        data = {"email": email, "categories": categories, "language": language, "frequency": frequency}
        return subscriptions.add_subscriber(self.store, {**data, "kind": "journalist"}, self.now).id

    def journalist(self, email: str, categories: list[str], *, language: str = "pl", **more: str) -> int:
        """A verified journalist who accepted the current terms, as an admin's verification leaves one."""
        someone = self.person(email, categories, language=language, **more)
        with self.store.transaction():
            journalist_rows.set_application(self.store, someone, "https://gazeta.example.pl/autorzy/1", None)
            journalist_rows.set_verification(self.store, someone, "verified", iso(self.now))
            journalists.accept_terms(self.store, self.settings, someone, self.now, "web")
        return someone

    def build(self, at: datetime) -> None:
        planner.build(self.store, self.settings, at)

    async def send(self, at: datetime) -> dict[str, list[EmailMessage]]:
        """Deliver what is due at ``at``; the messages that arrived, by recipient."""
        await deliver(self.store, smtp_settings(self.settings, self.smtp.port), clock=lambda: at)
        new = self.smtp.received[self.seen :]
        self.seen = len(self.smtp.received)
        found: dict[str, list[EmailMessage]] = {}
        for received in new:
            found.setdefault(received.recipients[0], []).append(received.message)
        return found


@pytest.fixture
def newsroom(store: Store, settings: Settings, smtp_server: SmtpServer, now: datetime) -> Newsroom:
    """Verified journalists (ania: kultura, a daily digest reader; john: English, every category;
    tomek: transport), an ordinary kultura subscriber (bartek) and an applicant not yet verified (ola)."""
    room = Newsroom(store, settings, smtp_server, now)
    store.set_category("kultura", "Kultura")
    store.set_category("transport", "Transport")
    room.journalist("ania@gazeta.example.pl", ["kultura"], frequency="daily")
    room.journalist("john@wire.example.com", [], language="en")
    room.journalist("tomek@radio.example.pl", ["transport"])
    room.person("bartek@tv.example.pl", ["kultura"])
    ola = room.person("ola@portal.example.pl", ["kultura"])
    with store.transaction():
        journalist_rows.set_application(store, ola, "https://portal.example.pl/ola", None)
        journalists.accept_terms(store, settings, ola, now, "web")
    room.build(now)
    return room


def save_secret(room: Newsroom, **changes: object) -> Release:
    document = {
        "title": "Przełomowe odkrycie w Instytucie",
        "summary": SUMMARY,
        "body": BODY,
        "categories": ["kultura"],
        "embargo_until": iso(LIFT),
        "early_access": True,
        **changes,
    }
    return room.store.add_release(ReleaseInput.parse(document), room.now)


def words(header: str) -> str:
    """A header's words one space apart: the stdlib folder leaves two where it breaks a long subject
    before an encoded word (a wart of `email.policy` folding that every kind shares)."""
    return " ".join(header.split())


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


async def early_copies(room: Newsroom) -> tuple[Release, dict[str, list[EmailMessage]]]:
    """The release saved with early access, built and sent a minute later."""
    secret = save_secret(room)
    room.build(room.now)
    return secret, await room.send(room.now + timedelta(minutes=1))


async def test_the_early_copy_reaches_only_verified_journalists_of_its_categories_marked_and_logged(
    newsroom: Newsroom, store: Store
) -> None:
    secret, got = await early_copies(newsroom)
    assert sorted(got) == ["ania@gazeta.example.pl", "john@wire.example.com"]
    [ania], [john] = got["ania@gazeta.example.pl"], got["john@wire.example.com"]
    assert ania["Subject"] == MARK_PL + secret.title
    assert john["Subject"] == MARK_EN + secret.title
    for message in (ania, john):
        assert message["X-Newsroom-Embargo-Until"] == "2026-12-10T09:00:00Z"
        assert message["X-Newsroom-Kind"] == "early"
    text, html = text_and_html(ania)
    banner = "EMBARGO do 10 grudnia 2026, 10:00 (czas polski)"
    assert text.lstrip().startswith("*** " + banner)
    assert "nie wolno publikować ani przekazywać dalej" in text and BODY in text
    assert html.index(banner) < html.index("Dzień dobry") < html.index("<h1")
    assert "Nothing of this release" in text_and_html(john)[0]
    reads = early_access.reads_of(store, secret.id)
    assert sorted((read.email, read.channel) for read in reads) == [
        ("ania@gazeta.example.pl", "mail"),
        ("john@wire.example.com", "mail"),
    ]
    assert {read.at for read in reads} == {newsroom.now + timedelta(minutes=1)}


async def test_nobody_else_gets_anything_before_the_lift_and_a_second_build_plans_nothing(
    newsroom: Newsroom,
) -> None:
    await early_copies(newsroom)
    newsroom.build(newsroom.now + timedelta(hours=1))
    assert await newsroom.send(newsroom.now + timedelta(hours=1)) == {}
    assert newsroom.smtp.received and all(
        received.recipients[0] in ("ania@gazeta.example.pl", "john@wire.example.com")
        for received in newsroom.smtp.received
    )


async def test_at_the_lift_the_journalists_get_no_second_alert_while_the_others_get_theirs(
    newsroom: Newsroom,
) -> None:
    secret, _ = await early_copies(newsroom)
    after = LIFT + timedelta(seconds=1)
    newsroom.build(after)
    got = await newsroom.send(after)
    assert sorted(got) == ["bartek@tv.example.pl", "ola@portal.example.pl"]
    assert got["bartek@tv.example.pl"][0]["Subject"] == secret.title
    assert got["bartek@tv.example.pl"][0]["X-Newsroom-Kind"] == "alert"


async def test_a_moved_embargo_is_told_once_in_the_thread_of_the_early_copy_with_the_new_time(
    newsroom: Newsroom, store: Store
) -> None:
    secret, copies = await early_copies(newsroom)
    later = LIFT + timedelta(days=1)
    store.update_release(secret.id, {"embargo_until": iso(later)}, newsroom.now + timedelta(hours=2))
    newsroom.build(newsroom.now + timedelta(hours=2))
    got = await newsroom.send(newsroom.now + timedelta(hours=2))
    assert sorted(got) == ["ania@gazeta.example.pl", "john@wire.example.com"]
    for email, [notice] in got.items():
        assert notice["In-Reply-To"] == copies[email][0]["Message-ID"]
        assert notice["References"] == copies[email][0]["Message-ID"]
        assert notice["X-Newsroom-Kind"] == "notice"
        assert notice["X-Newsroom-Embargo-Until"] == "2026-12-11T09:00:00Z"
        assert SUMMARY not in notice.as_string() and BODY not in text_and_html(notice)[0]
    [ania] = got["ania@gazeta.example.pl"]
    assert (
        words(ania["Subject"])
        == f"[EMBARGO do 11 grudnia 2026, 10:00] Zmiana terminu embarga: {secret.title}"
    )
    assert "Embargo obowiązuje teraz do 11 grudnia 2026, 10:00" in text_and_html(ania)[0]
    assert got["john@wire.example.com"][0]["Subject"].startswith("[EMBARGO until 11 December 2026, 10:00]")
    newsroom.build(newsroom.now + timedelta(hours=3))
    assert await newsroom.send(newsroom.now + timedelta(hours=3)) == {}
    # The old lift passes quietly; at the new one only the others get the alert.
    newsroom.build(LIFT + timedelta(seconds=1))
    assert await newsroom.send(LIFT + timedelta(seconds=1)) == {}
    newsroom.build(later + timedelta(seconds=1))
    assert sorted(await newsroom.send(later + timedelta(seconds=1))) == [
        "bartek@tv.example.pl",
        "ola@portal.example.pl",
    ]


async def test_an_embargo_moved_back_and_forth_is_told_at_every_move_ending_with_the_lift_in_force(
    newsroom: Newsroom, store: Store
) -> None:
    secret, copies = await early_copies(newsroom)
    later = LIFT + timedelta(days=1)
    told: list[str] = []
    for hours, lift in ((2, later), (3, LIFT), (4, later)):
        at = newsroom.now + timedelta(hours=hours)
        store.update_release(secret.id, {"embargo_until": iso(lift)}, at)
        newsroom.build(at)
        [notice] = (await newsroom.send(at))["john@wire.example.com"]
        assert notice["In-Reply-To"] == copies["john@wire.example.com"][0]["Message-ID"]
        told.append(notice["X-Newsroom-Embargo-Until"])
    assert told == ["2026-12-11T09:00:00Z", "2026-12-10T09:00:00Z", "2026-12-11T09:00:00Z"]


async def test_a_move_while_the_early_copy_is_on_the_wire_is_told_under_the_id_that_copy_carries(
    newsroom: Newsroom, store: Store
) -> None:
    """A sender died holding the copy (``sending``, no Message-ID stored yet): it may have been accepted
    with the old time, so its reader is told of the move, under the Message-ID the copy goes out with."""
    secret = save_secret(newsroom, categories=["transport"])
    newsroom.build(newsroom.now)
    terms = newsroom.settings.journalists.terms_version
    claimed = outbox.claim(
        store, "a-sender-that-died", newsroom.now, lease_seconds=60, limit=2, terms_version=terms
    )
    assert [item.key for item in claimed.items] == [EARLY.key(secret.uid)] * 2
    at = newsroom.now + timedelta(hours=2)
    store.update_release(secret.id, {"embargo_until": iso(LIFT + timedelta(days=1))}, at)
    newsroom.build(at)
    got = await newsroom.send(at)  # the dead sender's lease has expired: its copies go first
    assert sorted(got) == ["john@wire.example.com", "tomek@radio.example.pl"]
    for messages in got.values():
        # Both go in one run, on connections of their own: they may arrive in either order.
        by_kind = {message["X-Newsroom-Kind"]: message for message in messages}
        assert sorted(by_kind) == ["early", "notice"]
        assert by_kind["notice"]["In-Reply-To"] == by_kind["early"]["Message-ID"]


def test_a_withdrawal_is_told_to_the_reader_whose_early_copy_is_on_the_wire_not_to_one_still_queued(
    newsroom: Newsroom, store: Store
) -> None:
    secret = save_secret(newsroom, categories=["transport"])
    newsroom.build(newsroom.now)
    terms = newsroom.settings.journalists.terms_version
    [in_flight] = outbox.claim(
        store, "a-sender-that-died", newsroom.now, lease_seconds=60, terms_version=terms
    ).items
    store.retract_release(secret.id, newsroom.now + timedelta(hours=2))
    newsroom.build(newsroom.now + timedelta(hours=2))
    holder = {row.id: row.email for row in outbox.list_rows(store)}[in_flight.id]
    assert [row.email for row in outbox.list_rows(store) if row.kind == "notice"] == [holder]


async def test_a_retraction_before_the_lift_tells_the_early_recipients_it_is_withdrawn(
    newsroom: Newsroom, store: Store
) -> None:
    secret, copies = await early_copies(newsroom)
    store.retract_release(secret.id, newsroom.now + timedelta(hours=2))
    newsroom.build(newsroom.now + timedelta(hours=2))
    got = await newsroom.send(newsroom.now + timedelta(hours=2))
    assert sorted(got) == ["ania@gazeta.example.pl", "john@wire.example.com"]
    [ania] = got["ania@gazeta.example.pl"]
    assert ania["Subject"] == f"Komunikat wycofany: {secret.title}"
    assert ania["In-Reply-To"] == copies["ania@gazeta.example.pl"][0]["Message-ID"]
    text, html = text_and_html(ania)
    assert f"Komunikat nr {secret.number}" in text and secret.title in html
    assert SUMMARY not in text + html and BODY not in text + html
    assert got["john@wire.example.com"][0]["Subject"] == f"Release withdrawn: {secret.title}"
    newsroom.build(LIFT + timedelta(seconds=1))
    assert await newsroom.send(LIFT + timedelta(seconds=1)) == {}


async def test_a_retraction_after_the_alerts_tells_their_recipients_once_in_their_thread(
    newsroom: Newsroom, store: Store, now: datetime
) -> None:
    public = store.add_release(
        ReleaseInput.parse({"title": "Remont mostu", "body": BODY, "categories": ["transport"]}),
        now,
    )
    newsroom.build(now)
    alerts = await newsroom.send(now)
    assert sorted(alerts) == ["john@wire.example.com", "tomek@radio.example.pl"]
    later = now + timedelta(days=3)
    store.retract_release(public.id, later)
    newsroom.build(later)
    got = await newsroom.send(later)
    assert sorted(got) == ["john@wire.example.com", "tomek@radio.example.pl"]
    for email, [notice] in got.items():
        assert notice["In-Reply-To"] == alerts[email][0]["Message-ID"]
        assert BODY not in text_and_html(notice)[0]
    assert got["tomek@radio.example.pl"][0]["Subject"] == "Komunikat wycofany: Remont mostu"
    newsroom.build(later + timedelta(hours=1))
    assert await newsroom.send(later + timedelta(hours=1)) == {}


async def test_a_retraction_during_a_downtime_longer_than_the_alert_window_is_still_told(
    newsroom: Newsroom, store: Store, now: datetime
) -> None:
    """Retracted half a day after its alerts, while the daemon was down for three days (the alert
    window is 48 hours): the first build after the downtime tells the alerts' recipients all the same."""
    public = store.add_release(
        ReleaseInput.parse({"title": "Remont mostu", "body": BODY, "categories": ["transport"]}), now
    )
    newsroom.build(now)
    alerts = await newsroom.send(now)
    store.retract_release(public.id, now + timedelta(hours=12))
    back = now + timedelta(days=3)
    newsroom.build(back)
    got = await newsroom.send(back)
    assert sorted(got) == sorted(alerts) == ["john@wire.example.com", "tomek@radio.example.pl"]
    for email, [notice] in got.items():
        assert notice["X-Newsroom-Kind"] == "notice"
        assert notice["In-Reply-To"] == alerts[email][0]["Message-ID"]


async def test_a_release_corrected_then_retracted_before_the_build_is_told_withdrawn_only(
    newsroom: Newsroom, store: Store, now: datetime
) -> None:
    public = store.add_release(
        ReleaseInput.parse({"title": "Remont mostu", "body": BODY, "categories": ["transport"]}), now
    )
    newsroom.build(now)
    alerts = await newsroom.send(now)
    later = now + timedelta(hours=1)
    store.correct_release(public.id, "Poprawiono datę remontu.", {}, later)
    store.retract_release(public.id, later)
    newsroom.build(later)
    got = await newsroom.send(later)
    assert sorted(got) == sorted(alerts)
    for email, [notice] in got.items():
        assert notice["X-Newsroom-Kind"] == "notice"
        assert notice["In-Reply-To"] == alerts[email][0]["Message-ID"]


async def test_a_journalist_revoked_before_sending_never_gets_the_queued_copy(
    newsroom: Newsroom, store: Store
) -> None:
    secret = save_secret(newsroom)
    newsroom.build(newsroom.now)
    journalists.revoke(store, "ania@gazeta.example.pl", newsroom.now, OPERATOR)
    got = await newsroom.send(newsroom.now + timedelta(minutes=1))
    assert sorted(got) == ["john@wire.example.com"]
    [row] = [row for row in outbox.list_rows(store) if row.email == "ania@gazeta.example.pl"]
    assert (row.kind, row.status, row.last_error) == ("early", "withdrawn", "withdrawn: journalist revoked")
    assert [read.email for read in early_access.reads_of(store, secret.id)] == ["john@wire.example.com"]


async def test_a_journalist_revoked_while_the_copy_waits_gets_the_public_alert_at_the_lift(
    newsroom: Newsroom, store: Store
) -> None:
    """The queued copy will never go (`EarlyKind.may_receive`), so it does not stand in for the alert."""
    secret = save_secret(newsroom)
    newsroom.build(newsroom.now)
    journalists.revoke(store, "john@wire.example.com", newsroom.now, OPERATOR)
    after = LIFT + timedelta(seconds=1)
    newsroom.build(after)
    got = await newsroom.send(after)
    [alert] = got["john@wire.example.com"]
    assert (alert["X-Newsroom-Kind"], alert["Subject"]) == ("alert", secret.title)


async def test_a_journalist_revoked_after_the_copy_gets_its_correction_only_after_the_lift(
    newsroom: Newsroom, store: Store
) -> None:
    """The corrected text is embargoed material: before the lift it goes to verified journalists only."""
    secret, copies = await early_copies(newsroom)
    assert sorted(copies) == ["ania@gazeta.example.pl", "john@wire.example.com"]
    journalists.revoke(store, "john@wire.example.com", newsroom.now, OPERATOR)
    at = newsroom.now + timedelta(hours=2)
    store.correct_release(secret.id, "Poprawiono nazwę gatunku.", {"body": "Nowa treść."}, at)
    newsroom.build(at)
    got = await newsroom.send(at)
    assert sorted(got) == ["ania@gazeta.example.pl"]
    assert got["ania@gazeta.example.pl"][0]["X-Newsroom-Kind"] == "correction"
    after = LIFT + timedelta(seconds=1)
    newsroom.build(after)
    [correction] = (await newsroom.send(after))["john@wire.example.com"]
    assert correction["X-Newsroom-Kind"] == "correction"
    assert correction["In-Reply-To"] == copies["john@wire.example.com"][0]["Message-ID"]


async def test_new_terms_stop_early_mail_and_early_feed_entries_until_accepted(
    newsroom: Newsroom, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSROOM_JOURNALISTS__TERMS_VERSION", "2027-1")
    newsroom.settings = make_settings(tmp_path)
    assert newsroom.settings.journalists.terms_version == "2027-1"
    john = journalists.get(store, "john@wire.example.com").id
    journalists.accept_terms(store, newsroom.settings, john, newsroom.now, "web")
    secret, got = await early_copies(newsroom)
    assert sorted(got) == ["john@wire.example.com"]
    ania = journalists.get(store, "ania@gazeta.example.pl").id
    with serve(create_app(newsroom.settings, clock=lambda: newsroom.now)) as server:
        feeds = {
            someone: httpx.get(f"{server.url}/my/{personal.feed_token(store, someone)}/rss.xml")
            for someone in (ania, john)
        }
    assert secret.title.encode() not in feeds[ania].content and feeds[ania].status_code == 200
    assert (MARK_EN + secret.title).encode() in feeds[john].content


async def test_a_copy_queued_before_new_terms_goes_only_to_who_accepted_them_the_others_get_the_alert(
    newsroom: Newsroom, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The terms change after the copies were planned and before they went: a queued copy is not a
    promise, the terms in force decide when it is claimed, and who is left out is alerted at the lift."""
    secret = save_secret(newsroom)
    newsroom.build(newsroom.now)
    monkeypatch.setenv("NEWSROOM_JOURNALISTS__TERMS_VERSION", "2027-1")
    newsroom.settings = make_settings(tmp_path)
    ania = journalists.get(store, "ania@gazeta.example.pl").id
    journalists.accept_terms(store, newsroom.settings, ania, newsroom.now, "web")
    got = await newsroom.send(newsroom.now + timedelta(minutes=1))
    assert {who: [mail["X-Newsroom-Kind"] for mail in mails] for who, mails in got.items()} == {
        "ania@gazeta.example.pl": ["early"]
    }
    [row] = [r for r in outbox.list_rows(store) if (r.email, r.kind) == ("john@wire.example.com", "early")]
    assert (row.status, row.last_error) == (
        "withdrawn",
        "withdrawn: journalist has not accepted the current embargo terms",
    )
    after = LIFT + timedelta(seconds=1)
    newsroom.build(after)
    [alert] = (await newsroom.send(after))["john@wire.example.com"]
    assert (alert["X-Newsroom-Kind"], alert["Subject"]) == ("alert", secret.title)
    assert [read.email for read in early_access.reads_of(store, secret.id)] == ["ania@gazeta.example.pl"]


async def test_a_copy_that_has_not_gone_by_the_lift_is_withdrawn_and_its_reader_gets_the_alert(
    newsroom: Newsroom, store: Store
) -> None:
    """The sender was down until after the lift: an embargo banner arriving after the embargo would
    mislead, so the reader gets what everyone gets, once."""
    secret = save_secret(newsroom)
    newsroom.build(newsroom.now)
    after = LIFT + timedelta(minutes=5)
    newsroom.build(after)
    got = await newsroom.send(after)
    [alert] = got["john@wire.example.com"]
    assert (alert["X-Newsroom-Kind"], alert["Subject"]) == ("alert", secret.title)
    assert "ania@gazeta.example.pl" not in got  # a daily reader: her digest has it
    early = [r for r in outbox.list_rows(store) if r.kind == "early"]
    assert sorted(r.email for r in early) == ["ania@gazeta.example.pl", "john@wire.example.com"]
    assert {(r.status, r.last_error) for r in early} == {
        ("withdrawn", "withdrawn: embargo lifted before it went")
    }
    assert early_access.reads_of(store, secret.id) == []


async def test_a_copy_given_back_after_the_lift_never_goes_and_its_reader_has_the_alert(
    newsroom: Newsroom, store: Store
) -> None:
    """A sender died holding the copies before the lift; the lift does not count them as had, and the
    next sender, after it, withdraws them instead of sending a banner past its embargo."""
    secret = save_secret(newsroom)
    newsroom.build(newsroom.now)
    terms = newsroom.settings.journalists.terms_version
    held = outbox.claim(
        store, "a-sender-that-died", newsroom.now, lease_seconds=60, limit=10, terms_version=terms
    ).items
    assert [item.key for item in held] == [EARLY.key(secret.uid)] * 2
    after = LIFT + timedelta(minutes=5)
    newsroom.build(after)
    got = await newsroom.send(after)
    assert [mail["X-Newsroom-Kind"] for mail in got["john@wire.example.com"]] == ["alert"]
    assert "ania@gazeta.example.pl" not in got  # a daily reader: her digest has it
    early = [row for row in outbox.list_rows(store) if row.kind == "early"]
    assert [(row.status, row.last_error) for row in early] == [
        ("withdrawn", "withdrawn: embargo lifted before it went")
    ] * 2
    assert early_access.reads_of(store, secret.id) == []


def cli(settings: Settings, *args: str) -> int:
    return main(["--database", str(settings.database), *args])


@pytest.fixture
def applicants(newsroom: Newsroom, store: Store) -> Iterator[Newsroom]:
    """Two more applicants, confirmed but not yet decided on: kasia (Polish) and mary (English)."""
    for email, language in (("kasia@gazeta.example.pl", "pl"), ("mary@wire.example.com", "en")):
        someone = newsroom.person(email, [], language=language)
        with store.transaction():
            journalist_rows.set_application(store, someone, "https://gazeta.example.pl/kasia", None)
            journalists.accept_terms(store, newsroom.settings, someone, newsroom.now, "web")
    yield newsroom


async def test_a_verified_applicant_is_told_what_they_get_and_a_refused_one_politely(
    applicants: Newsroom, settings: Settings
) -> None:
    assert cli(settings, "journalist", "verify", "kasia@gazeta.example.pl") == 0
    assert cli(settings, "journalist", "refuse", "mary@wire.example.com") == 0
    got = await applicants.send(utcnow())  # the CLI decides and queues at the real time
    assert sorted(got) == ["kasia@gazeta.example.pl", "mary@wire.example.com"]
    [kasia], [mary] = got["kasia@gazeta.example.pl"], got["mary@wire.example.com"]
    assert kasia["Subject"] == f"Weryfikacja dziennikarska potwierdzona: {settings.feed.organization}"
    text, html = text_and_html(kasia)
    assert "e-mailem, z terminem embarga w temacie" in text and "osobistym kanale RSS" in text
    assert f"{settings.base_url}/preferences/" in text and f'href="{settings.base_url}/preferences/' in html
    assert mary["Subject"] == f"Your journalist application: {settings.feed.organization}"
    assert "cannot confirm you as a verified journalist" in text_and_html(mary)[0]
    assert mary["X-Newsroom-Kind"] == "verification"


async def test_a_decision_refused_by_its_rules_queues_no_mail(
    applicants: Newsroom, settings: Settings
) -> None:
    assert cli(settings, "journalist", "refuse", "ania@gazeta.example.pl") == 2  # verified already
    assert await applicants.send(utcnow()) == {}


def test_the_keys_of_notices_and_decisions_read_back_what_made_them(now: datetime) -> None:
    uid = "tag:prasa.example.pl,2026:release/7"
    assert NOTICE.read_key(NOTICE.moved_key(uid, LIFT, now)) == Notice(uid, "moved", LIFT)
    assert NOTICE.read_key(NOTICE.withdrawn_key(uid)) == Notice(uid, "withdrawn")
    assert NOTICE.read_key(f"notice:{uid}:moved:soon") == Notice(uid, "moved", None)  # still goes out
    assert EARLY.read_key(EARLY.key(uid)) == uid
    assert VERIFICATION.read_key(journalists.decision_key("verified", now)) == "verified"
    assert VERIFICATION.read_key(journalists.decision_key("refused", now)) == "refused"
    assert {"early": EARLY, "notice": NOTICE, "verification": VERIFICATION}.items() <= KINDS.items()
