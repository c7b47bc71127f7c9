"""Corrections by mail (issue 13), through the command line and a real SMTP sink: who gets one, how it
is threaded under the copy each reader received, what it says first, and how digests show it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage

from newsroom_feed.cli import main
from newsroom_feed.mail import outbox
from newsroom_feed.models import Release, utcnow
from newsroom_feed.planner import build, plan_digest
from newsroom_feed.settings import Settings
from newsroom_feed.store import journalists
from newsroom_feed.store.database import Store

from ..mail_helpers import add_release, add_subscriber
from ..smtp_server import SmtpServer

NOTE = "Poprawiono datę gali: odbyła się w piątek 27 listopada."
OLD_BODY = "Gala odbyła się w czwartek 26 listopada w Poznaniu."
NEW_BODY = "Gala odbyła się w piątek 27 listopada w Poznaniu."


def _run(*argv: str) -> None:
    assert main(list(argv)) == 0, argv


def _kind(smtp_server: SmtpServer, kind: str) -> Iterator[tuple[str, EmailMessage]]:
    for received in smtp_server.received:
        message = received.message
        if message["X-Newsroom-Kind"] == kind:
            yield received.recipients[0], message


def _text(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def _gala(store: Store) -> Release:
    return add_release(store, utcnow(), "Złote Lajki 2026 wręczone", body=OLD_BODY, categories=["kultura"])


def _correct(release: Release, note: str = NOTE, *options: str) -> None:
    _run("release", "correct", str(release.id), "--note", note, *options)


def test_a_correction_reaches_exactly_those_who_got_the_original_each_threaded_to_their_own_copy(
    store: Store, smtp_server: SmtpServer, cli_env: None
) -> None:
    add_subscriber(store, "anna@example.pl")
    add_subscriber(store, "john@example.com", categories=["kultura"], language="en")
    add_subscriber(store, "sport@example.pl", categories=["sport"])
    add_subscriber(store, "daily@example.pl", frequency="daily", categories=["kultura"])
    release = _gala(store)
    _run("build")
    _run("outbox", "send")
    originals = {address: message["Message-ID"] for address, message in _kind(smtp_server, "alert")}
    assert set(originals) == {"anna@example.pl", "john@example.com"}
    add_subscriber(store, "late@example.pl")  # joined after the original went: nothing to correct

    _correct(release, NOTE, "--body", NEW_BODY)
    _run("build")
    _run("outbox", "send")

    corrections = dict(_kind(smtp_server, "correction"))
    assert set(corrections) == set(originals)
    for address, message in corrections.items():
        assert message["In-Reply-To"] == originals[address]
        assert message["References"].split() == [originals[address]]
        assert message["Message-ID"] not in originals.values()
    polish, english = corrections["anna@example.pl"], corrections["john@example.com"]
    assert polish["Subject"] == "Korekta: Złote Lajki 2026 wręczone"
    assert english["Subject"] == "Correction: Złote Lajki 2026 wręczone"
    for message in (polish, english):
        for subtype in ("plain", "html"):
            content = _text(message, subtype)
            note_at = content.index(NOTE)
            assert note_at < content.index(NEW_BODY), subtype
            assert note_at < content.rindex("Złote Lajki 2026 wręczone"), subtype
            assert OLD_BODY not in content
    # The note opens the message with its time, in the reader's words.
    assert re.search(r"KOREKTA z \d{1,2} [a-ząćęłńóśźż]+ \d{4}, \d\d:\d\d:\n" + NOTE, _text(polish, "plain"))
    assert re.search(r"CORRECTION of \d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d:\n" + NOTE, _text(english, "plain"))

    _run("build")
    _run("outbox", "send")
    assert len(list(_kind(smtp_server, "correction"))) == 2, "a second build plans nothing more"


def test_a_second_correction_is_threaded_under_the_same_original(
    store: Store, smtp_server: SmtpServer, cli_env: None
) -> None:
    add_subscriber(store, "anna@example.pl")
    release = _gala(store)
    _run("build")
    _run("outbox", "send")
    [(_, original)] = _kind(smtp_server, "alert")
    second = "Uzupełniono listę laureatów:\n<b>Anna</b> & Jan."
    for note in (NOTE, second):
        _correct(release, note)
        _run("build")
        _run("outbox", "send")
    corrections = [message for _, message in _kind(smtp_server, "correction")]
    assert [message["In-Reply-To"] for message in corrections] == [original["Message-ID"]] * 2
    assert len({message["Message-ID"] for message in corrections}) == 2
    first_text, second_text = (_text(message, "plain") for message in corrections)
    assert NOTE in first_text and "laureatów" not in first_text
    assert second in second_text and NOTE not in second_text
    # In HTML the note is text, never markup, and keeps its line breaks.
    assert "laureatów:<br>\n&lt;b&gt;Anna&lt;/b&gt; &amp; Jan." in _text(corrections[1], "html")


def test_a_copy_on_the_wire_when_the_correction_is_planned_is_answered_by_the_id_it_goes_out_with(
    store: Store, settings: Settings, smtp_server: SmtpServer, cli_env: None
) -> None:
    """A sender died holding the alert (``sending``, no Message-ID stored yet): it counts as received,
    and the correction names the Message-ID that alert carries when it finally goes."""
    add_subscriber(store, "anna@example.pl")
    release = _gala(store)
    _run("build")
    claimed = outbox.claim(store, "a-sender-that-died", utcnow(), lease_seconds=60)
    assert [item.key for item in claimed.items] == [f"alert:{release.uid}"]
    _correct(release)
    _run("build")
    _run("outbox", "send")  # takes the lock: the dead sender's alert goes first, then the correction
    [(_, original)] = _kind(smtp_server, "alert")
    [(_, correction)] = _kind(smtp_server, "correction")
    assert correction["In-Reply-To"] == original["Message-ID"]


def test_an_alert_still_queued_goes_corrected_and_no_correction_follows_it(
    store: Store, smtp_server: SmtpServer, cli_env: None
) -> None:
    add_subscriber(store, "anna@example.pl")
    release = _gala(store)
    _run("build")
    _correct(release, NOTE, "--body", NEW_BODY)
    _run("build")
    _run("outbox", "send")
    [(_, alert)] = _kind(smtp_server, "alert")
    assert NEW_BODY in _text(alert, "plain")
    assert list(_kind(smtp_server, "correction")) == []


def test_a_reader_of_an_early_copy_gets_the_correction_threaded_under_that_copy(
    store: Store, smtp_server: SmtpServer, cli_env: None
) -> None:
    """Early copies (kind ``early``) count as the original: whoever received one is answered."""
    journalist = add_subscriber(store, "redakcja@example.pl", frequency="daily", categories=["kultura"])
    add_subscriber(store, "anna@example.pl")
    with store.transaction():  # what the application form stores
        journalists.set_application(store, journalist, "https://gazeta.example.pl/redakcja", None)
    _run("journalist", "verify", "redakcja@example.pl", "--terms-accepted")
    lift = utcnow() + timedelta(hours=2)
    release = add_release(
        store,
        utcnow(),
        "Złote Lajki 2026: laureaci",
        body=OLD_BODY,
        categories=["kultura"],
        embargo_until=lift.isoformat(),
        early_access=True,
    )
    _run("build")
    _run("outbox", "send")
    [(address, copy)] = _kind(smtp_server, "early")
    assert address == "redakcja@example.pl"
    _correct(release, NOTE, "--body", NEW_BODY)
    _run("build")
    _run("outbox", "send")
    [(address, correction)] = _kind(smtp_server, "correction")
    assert address == "redakcja@example.pl", "anna gets the corrected alert at the lift, nothing before"
    assert correction["In-Reply-To"] == copy["Message-ID"]
    assert NOTE in _text(correction, "plain")


# -- digests ----------------------------------------------------------------------------------------


def _digest_parts(smtp_server: SmtpServer) -> list[tuple[str, str, str]]:
    return [
        (str(message["Subject"]), _text(message, "plain"), _text(message, "html"))
        for _, message in _kind(smtp_server, "digest")
    ]


def _gala_read_in_a_digest(store: Store, settings: Settings) -> Release:
    """The gala, published two hours ago and sent in that hour's daily digest: the digest before."""
    at = utcnow() - timedelta(hours=2)
    release = add_release(
        store,
        at,
        "Złote Lajki 2026 wręczone",
        body=OLD_BODY,
        categories=["kultura"],
        published_at=at.isoformat(),
    )
    build(store, settings, at)
    assert plan_digest(store, settings, "daily", at + timedelta(minutes=1)).planned >= 1
    _run("outbox", "send")
    return release


def test_a_digest_reader_sees_the_correction_in_its_own_section_of_the_next_digest(
    store: Store, settings: Settings, smtp_server: SmtpServer, cli_env: None
) -> None:
    add_subscriber(store, "daily@example.pl", frequency="daily", categories=["kultura"])
    add_subscriber(store, "sport@example.pl", frequency="daily", categories=["sport"])
    release = _gala_read_in_a_digest(store, settings)
    assert [r.recipients for r in smtp_server.received] == [["daily@example.pl"]]

    _correct(release, NOTE, "--body", NEW_BODY)
    fresh = add_release(store, utcnow(), "Nowy sezon w operze", categories=["kultura"])
    _run("build")
    _run("digest", "send", "--frequency", "daily")

    assert [r.recipients for r in smtp_server.received] == [["daily@example.pl"]] * 2
    assert list(_kind(smtp_server, "correction")) == [], "a digest reader got no alert to answer"
    subject, text, html = _digest_parts(smtp_server)[1]
    assert subject.endswith(": 1 komunikat, 1 korekta")
    new_part, _, corrections = text.partition("\nKorekty\n")
    assert fresh.title in new_part and release.title not in new_part
    assert release.title in corrections and NOTE in corrections and fresh.title not in corrections
    assert corrections.index(release.title) < corrections.index(NOTE)
    before, heading, after = re.split(r"(<h2[^>]*>Korekty</h2>)", html)
    assert heading and NOTE in after and NOTE not in before and fresh.title in before


def test_a_digest_with_only_a_correction_still_goes(
    store: Store, settings: Settings, smtp_server: SmtpServer, cli_env: None
) -> None:
    add_subscriber(store, "daily@example.pl", frequency="daily", language="en")
    release = _gala_read_in_a_digest(store, settings)
    _correct(release)
    _run("build")
    _run("digest", "send", "--frequency", "daily")
    _run("digest", "send", "--frequency", "daily")  # nothing new since: no third digest
    digests = _digest_parts(smtp_server)
    assert len(digests) == 2
    subject, text, _ = digests[1]
    assert subject.endswith(": 1 correction")
    assert "\nCorrections\n" in text and NOTE in text
