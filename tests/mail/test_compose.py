"""Composed messages parsed back as a mail client would: parts, Polish text, headers, per-recipient links,
header injection, template overrides, greetings and languages."""

from __future__ import annotations

import binascii
import dataclasses
import email
import os
import re
import smtplib
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from newsroom_feed.errors import ReleaseNotFound, SubscriberNotFound
from newsroom_feed.mail.compose import Composer, _encode_with_slots, _slot_value, header_text
from newsroom_feed.models import OutboxItem, OutgoingMessage, Release, ReleaseInput
from newsroom_feed.people.subscriptions import (
    add_subscriber,
    confirm,
    remove_subscriber,
    resolve,
    unsubscribe,
)
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.store.database import Store

from ..smtp_server import SmtpServer

POLISH = "ąćęłńóśźż ĄĆĘŁŃÓŚŹŻ"
LINK = re.compile(r"https://prasa\.example\.pl/(unsubscribe|preferences|confirm)/([A-Za-z0-9_.-]+)")
REQUIRED = (
    "Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type", "List-Id",
    "List-Unsubscribe", "List-Unsubscribe-Post", "Auto-Submitted", "Precedence", "X-Newsroom-Kind",
)  # fmt: skip


def add_release(store: Store, now: datetime, title: str, **fields: object) -> Release:
    return store.add_release(ReleaseInput.parse({"title": title, **fields}, store.zone), now)


@pytest.fixture
def release(store: Store, now: datetime) -> Release:
    return add_release(
        store,
        now,
        f"Złote Lajki 2026 wręczone – {POLISH}",
        summary="Rada Programowa przyznała nagrody.",
        body=f"Pierwszy **akapit** z [linkiem](https://example.pl/a?b=1&c=2).\n\nDrugi: {POLISH}.",
        categories=["informacje-prasowe", "kultura"],
        attachments=[{"url": "https://example.pl/files/komunikat.pdf", "title": "Komunikat",
                      "mime_type": "application/pdf", "length": 183422}],
        contact={"name": "Biuro prasowe", "email": "prasa@example.pl"},
        published_at="2026-11-26T10:30:00+01:00",
    )  # fmt: skip


def composer(settings: Settings, store: Store, now: datetime) -> Composer:
    return Composer(settings, store, clock=lambda: now)


def item(
    row_id: int, subscriber_id: int, release_ids: tuple[int, ...], kind: str = "alert", key: str = ""
) -> OutboxItem:
    return OutboxItem(
        id=row_id,
        key=key or f"{kind}:{row_id}",
        kind=kind,  # type: ignore[arg-type]
        subscriber_id=subscriber_id,
        release_ids=release_ids,
        status="pending",
        attempts=0,
    )


def parse(message: OutgoingMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.data, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(parsed: EmailMessage) -> tuple[str, str]:
    text, page = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and page is not None
    return text.get_content(), page.get_content()


def test_an_alert_has_a_text_and_an_html_part_with_polish_intact(
    settings: Settings, store: Store, now: datetime, release: Release
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl", "name": f"Anna {POLISH}"}, now)
    parsed = parse(composer(settings, store, now).render(item(1, ania.id, (release.id,))))
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in parsed.iter_parts())
    assert parsed["Subject"] == release.title
    assert parsed["To"].addresses[0].display_name == f"Anna {POLISH}"
    text, page = parts(parsed)
    for body in (text, page):
        assert release.title in body
        assert f"Drugi: {POLISH}." in body
        assert "26 listopada 2026, 10:30" in body
    assert "linkiem (https://example.pl/a?b=1&c=2)" in text
    assert "<" not in text
    assert 'style="' in page and "<style" not in page  # CSS inlined at render time


def test_every_required_header_is_there_and_7bit_safe(
    settings: Settings, store: Store, now: datetime, release: Release
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    message = composer(settings, store, now).render(item(7, ania.id, (release.id,)))
    parsed = parse(message)
    for name in REQUIRED:
        assert parsed[name], name
    assert message.data.isascii()
    assert re.fullmatch(r"<7\.[0-9a-f]+@prasa\.example\.pl>", parsed["Message-ID"])
    assert message.message_id == parsed["Message-ID"]
    assert parsed["Date"].datetime == now
    assert parsed["From"].addresses[0].addr_spec == str(settings.mail.from_address)
    assert parsed["List-Id"] == "informacje-prasowe <informacje-prasowe.prasa.example.pl>"
    assert re.fullmatch(
        r"<https://prasa\.example\.pl/unsubscribe/[A-Za-z0-9_.-]+>", parsed["List-Unsubscribe"]
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Precedence"] == "bulk"
    assert parsed["X-Newsroom-Kind"] == "alert"
    assert parsed["X-Release-Id"] == release.uid
    assert (message.sender, message.recipient, message.outbox_id) == (
        str(settings.mail.from_address), "ania@example.pl", 7,
    )  # fmt: skip
    assert not parsed.defects
    assert all(not part.defects for part in parsed.walk())
    for line in message.data.split(b"\r\n\r\n", 1)[1].split(b"\r\n"):
        assert len(line) <= 76


def test_the_message_id_is_stable_for_an_outbox_row_across_composers(
    settings: Settings, store: Store, now: datetime, release: Release
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    row = item(3, ania.id, (release.id,))
    first = composer(settings, store, now).render(row)
    retry = composer(settings, store, now + timedelta(hours=2)).render(row)
    other = composer(settings, store, now).render(item(4, ania.id, (release.id,)))
    assert first.message_id == retry.message_id != other.message_id
    stored = dataclasses.replace(row, message_id="<kept@prasa.example.pl>")
    assert composer(settings, store, now).render(stored).message_id == "<kept@prasa.example.pl>"


def test_a_follow_up_is_threaded_under_the_message_its_reader_received(
    settings: Settings, store: Store, now: datetime, release: Release
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    received = composer(settings, store, now).render(item(3, ania.id, (release.id,)))
    answer = dataclasses.replace(item(9, ania.id, (release.id,)), in_reply_to=received.message_id)
    parsed = parse(composer(settings, store, now).render(answer))
    assert parsed["In-Reply-To"] == parsed["References"] == received.message_id
    assert parsed["Message-ID"] != received.message_id
    # A value that is not a Message-ID (written into the column by hand) never becomes a header.
    forged = dataclasses.replace(answer, in_reply_to="<a@b>\r\nBcc: x@example.com")
    spliced = composer(settings, store, now).render(forged)
    assert b"Bcc" not in spliced.data and "In-Reply-To" not in parse(spliced)


def test_links_differ_per_recipient_survive_both_parts_and_resolve_to_that_subscriber(
    settings: Settings, store: Store, now: datetime, release: Release
) -> None:
    people = [
        add_subscriber(store, {"email": f"osoba{n}@example.pl", "name": "Ż" * n, "kind": kind}, now)
        for n, kind in enumerate(["journalist", "city", "other", "journalist"], start=1)
    ]
    results = composer(settings, store, now).render_many(
        [item(10 + n, person.id, (release.id,)) for n, person in enumerate(people)]
    )
    seen: set[str] = set()
    for person, message in zip(people, results, strict=True):
        assert isinstance(message, OutgoingMessage)
        parsed = parse(message)
        text, page = parts(parsed)
        links_text = {purpose: token for purpose, token in LINK.findall(text)}
        links_html = {purpose: token for purpose, token in LINK.findall(page)}
        assert links_text == links_html
        assert set(links_text) == {"unsubscribe", "preferences"}
        assert (
            f"<https://prasa.example.pl/unsubscribe/{links_text['unsubscribe']}>"
            == parsed["List-Unsubscribe"]
        )
        for purpose, token in links_text.items():
            assert resolve(store, settings, token, purpose).id == person.id  # type: ignore[arg-type]
            assert token not in seen
            seen.add(token)
    last = resolve(store, settings, links_text["unsubscribe"], "unsubscribe")
    assert unsubscribe(store, last.token, now).status == "unsubscribed"


def test_a_confirmation_carries_a_working_confirm_link(
    settings: Settings, store: Store, now: datetime
) -> None:
    jan = add_subscriber(store, {"email": "jan@example.pl"}, now, double_opt_in=True)
    parsed = parse(composer(settings, store, now).render(item(1, jan.id, (), "confirmation", "confirm:x")))
    assert parsed["X-Newsroom-Kind"] == "confirmation"
    assert "X-Release-Id" not in parsed
    assert parsed["Subject"].startswith("Potwierdź subskrypcję")
    text, page = parts(parsed)
    token = dict(LINK.findall(text))["confirm"]
    assert dict(LINK.findall(page))["confirm"] == token
    assert confirm(store, resolve(store, settings, token, "confirm", now).token, now).status == "active"


def test_a_digest_lists_its_releases_and_belongs_to_the_subscribers_list(
    settings: Settings, store: Store, now: datetime
) -> None:
    releases = [add_release(store, now, f"Komunikat {n} {POLISH}", categories=["kultura"]) for n in range(3)]
    single = add_subscriber(store, {"email": "a@example.pl", "categories": ["kultura"]}, now)
    everything = add_subscriber(store, {"email": "b@example.pl", "language": "en"}, now)
    ids = tuple(release.id for release in releases)
    key = "digest:weekly:2026-11-26T07:00:00Z"
    daily, weekly_en = composer(settings, store, now).render_many(
        [
            item(1, single.id, ids, "digest", "digest:daily:2026-11-26T07:00:00Z"),
            item(2, everything.id, ids, "digest", key),
        ]
    )
    assert isinstance(daily, OutgoingMessage) and isinstance(weekly_en, OutgoingMessage)
    first, second = parse(daily), parse(weekly_en)
    assert first["Subject"] == "Przegląd dnia 26 listopada 2026: 3 komunikaty"
    assert second["Subject"] == "Weekly digest to 26 November 2026: 3 releases"
    assert first["List-Id"] == "kultura <kultura.prasa.example.pl>"
    assert second["List-Id"].endswith("<all-categories.prasa.example.pl>")
    assert first["X-Newsroom-Kind"] == second["X-Newsroom-Kind"] == "digest"
    for parsed in (first, second):
        for body in parts(parsed):
            for release in releases:
                assert release.title in body
                assert f"/releases/{release.slug}/" in body


def test_member_cities_get_their_own_greeting(
    settings: Settings, store: Store, now: datetime, release: Release
) -> None:
    city = add_subscriber(
        store, {"email": "urzad@lodz.example.pl", "kind": "city", "organization": "Urząd"}, now
    )
    journalist = add_subscriber(store, {"email": "jan@example.pl", "kind": "journalist"}, now)
    results = composer(settings, store, now).render_many(
        [item(1, city.id, (release.id,)), item(2, journalist.id, (release.id,))]
    )
    (city_text, city_page), (plain_text, plain_page) = (parts(parse(m)) for m in results)  # type: ignore[arg-type]
    assert "miast członkowskich" in city_text and "miast członkowskich" in city_page
    assert "miast członkowskich" not in plain_text and "miast członkowskich" not in plain_page
    assert plain_text.startswith("Dzień dobry,")
    assert parse(results[0])["To"].addresses[0].display_name == "Urząd"  # type: ignore[arg-type]


def test_an_english_subscriber_gets_english_text_and_dates(
    settings: Settings, store: Store, now: datetime, release: Release
) -> None:
    john = add_subscriber(store, {"email": "john@example.com", "language": "en"}, now)
    parsed = parse(composer(settings, store, now).render(item(1, john.id, (release.id,))))
    text, page = parts(parsed)
    for body in (text, page):
        assert "26 November 2026, 10:30" in body
        assert "Unsubscribe" in body
    assert 'lang="en"' in page
    assert release.title in text  # the release stays in the language it was written in


def test_titles_and_names_cannot_inject_headers(
    settings: Settings, store: Store, now: datetime, release: Release
) -> None:
    """An outside writer may put anything in the store with plain SQL; no header comes of it."""
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    with store.transaction():
        store.conn.execute(
            "UPDATE releases SET title = ?, uid = ? WHERE id = ?",
            ("Tytuł\r\nBcc: evil@example.com\r\n\r\n<script>x</script>", "tag:x\nBcc: a@b.c", release.id),
        )
        store.conn.execute(
            "UPDATE subscribers SET name = ? WHERE id = ?", ("Anna\nBcc: evil@example.com\u2028", ania.id)
        )
    message = composer(settings, store, now).render(item(1, ania.id, (release.id,)))
    parsed = parse(message)
    assert "Bcc" not in parsed
    assert b"\nBcc:" not in message.data.split(b"\r\n\r\n", 1)[0]
    assert sorted(set(parsed.keys())) == sorted(set(parsed.keys()) & {*REQUIRED, "X-Release-Id"})
    assert parsed["Subject"] == "Tytuł Bcc: evil@example.com <script>x</script>"
    assert len(parsed.get_all("To")) == 1
    assert parsed["To"].addresses[0].addr_spec == "ania@example.pl"
    _, page = parts(parsed)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_an_operator_template_of_the_same_name_wins(
    settings: Settings, store: Store, now: datetime, release: Release, tmp_path: Path
) -> None:
    brand = tmp_path / "branding"
    brand.mkdir()
    (brand / "alert.pl.txt").write_text(
        '{% extends "layout.pl.txt" %}\n{% set subject %}Od operatora: {{ release.title }}{% endset %}\n'
        "{% block content %}Szablon operatora: {{ release.title }}{% endblock %}\n",
        encoding="utf-8",
    )
    (brand / "email.css").write_text("h1 { color: #00aa00; }\n", encoding="utf-8")
    branded = load_settings(**{**settings.model_dump(), "mail": {"templates_dir": brand}})
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    parsed = parse(composer(branded, store, now).render(item(1, ania.id, (release.id,))))
    text, page = parts(parsed)
    assert parsed["Subject"] == f"Od operatora: {release.title}"
    assert f"Szablon operatora: {release.title}" in text
    assert "color: #00aa00" in page
    assert dict(LINK.findall(text)).keys() == {"unsubscribe", "preferences"}  # layout from the bundle


def test_a_row_that_cannot_be_composed_gets_its_error_in_place(
    settings: Settings, store: Store, now: datetime, release: Release
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    gone = add_subscriber(store, {"email": "gone@example.pl"}, now)
    retracted = add_release(store, now, "Wycofany")
    store.conn.execute(
        "UPDATE releases SET retracted_at = ? WHERE id = ?", ("2026-11-26T09:00:00Z", retracted.id)
    )
    remove_subscriber(store, "gone@example.pl")
    good, erased, withdrawn = composer(settings, store, now).render_many(
        [item(1, ania.id, (release.id,)), item(2, gone.id, (release.id,)), item(3, ania.id, (retracted.id,))]
    )
    assert isinstance(good, OutgoingMessage)
    assert (good.outbox_id, good.recipient) == (1, "ania@example.pl")
    assert release.title in str(parse(good)["Subject"])
    assert isinstance(erased, SubscriberNotFound)
    assert isinstance(withdrawn, ReleaseNotFound)
    with pytest.raises(ReleaseNotFound):
        composer(settings, store, now).render(item(3, ania.id, (retracted.id,)))


def test_a_body_is_rendered_once_for_many_recipients(
    settings: Settings, store: Store, now: datetime, release: Release
) -> None:
    people = [add_subscriber(store, {"email": f"p{n}@example.pl"}, now) for n in range(20)]
    made = composer(settings, store, now)
    made.render_many([item(n, person.id, (release.id,)) for n, person in enumerate(people, start=1)])
    assert made.bodies_rendered == 1


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    segments=st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200), min_size=1, max_size=5
    ),
    values=st.lists(st.text(alphabet="abcXYZ019-_./:?=&", min_size=1, max_size=180), min_size=4, max_size=4),
)
def test_spliced_values_survive_quoted_printable_anywhere(segments: list[str], values: list[str]) -> None:
    """Whatever stands around a slot and however long the value, decoding gives the text back."""
    marks = {f"slot{n}": f"nfslotMARK{n}x" for n in range(len(segments) - 1)}
    source, expected = segments[0], segments[0]
    for n, segment in enumerate(segments[1:]):
        source += marks[f"slot{n}"] + segment
        expected += values[n] + segment
    normalised = source.replace("\r\n", "\n").replace("\r", "\n")
    pieces = _encode_with_slots(normalised, marks)
    encoded = b"".join(
        piece if isinstance(piece, bytes) else _slot_value(values[int(piece[4:])]) for piece in pieces
    )
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    decoded = binascii.a2b_qp(encoded.replace(b"\r\n", b"\n")).decode("utf-8")
    assert decoded == expected.replace("\r\n", "\n").replace("\r", "\n")


def test_header_text_removes_every_line_break_and_control() -> None:
    assert header_text("a\r\nb\tc\u2028d\u0085e\x00f  g") == "a b c d e f g"


def test_a_composed_message_arrives_over_smtp_with_its_polish_and_its_links(
    settings: Settings, store: Store, now: datetime, release: Release, smtp_server: SmtpServer
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl", "name": "Anna Łęcka"}, now)
    message = composer(settings, store, now).render(item(1, ania.id, (release.id,)))
    with smtplib.SMTP(smtp_server.host, smtp_server.port) as client:
        client.sendmail(message.sender, [message.recipient], message.data)
    (received,) = smtp_server.messages()
    assert received["Subject"] == release.title
    assert received["To"].addresses[0].display_name == "Anna Łęcka"
    text, page = parts(received)
    assert f"Drugi: {POLISH}." in text and f"Drugi: {POLISH}." in page
    for purpose, token in LINK.findall(text):
        assert resolve(store, settings, token, purpose).id == ania.id


def test_a_composer_that_lives_on_sees_corrections_and_retractions(
    settings: Settings, store: Store, now: datetime, release: Release
) -> None:
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    made = composer(settings, store, now)
    assert parse(made.render(item(1, ania.id, (release.id,))))["Subject"] == release.title
    store.update_release(release.id, {"title": "Sprostowanie: nowy tytuł"}, now + timedelta(minutes=5))
    assert parse(made.render(item(2, ania.id, (release.id,))))["Subject"] == "Sprostowanie: nowy tytuł"
    with store.transaction():
        store.conn.execute(
            "UPDATE releases SET retracted_at = ? WHERE id = ?", ("2026-11-26T10:00:00Z", release.id)
        )
    with pytest.raises(ReleaseNotFound):
        made.render(item(3, ania.id, (release.id,)))


GOLDEN = Path(__file__).parents[1] / "golden" / "email"


@pytest.mark.parametrize(
    ("name", "kind", "subscriber", "key"),
    [
        ("alert.pl.city.eml", "alert", {"kind": "city", "organization": "Urząd Miasta Łodzi"}, ""),
        (
            "digest_daily.en.eml",
            "digest",
            {"name": "John Smith", "language": "en"},
            "digest:daily:2026-11-26T07:00:00Z",
        ),
        ("confirmation.pl.eml", "confirmation", {"name": "Anna Żółkiewska"}, "confirm:2026-11-26T09:30:00Z"),
    ],
)
def test_messages_match_their_golden_files(
    settings: Settings,
    store: Store,
    now: datetime,
    release: Release,
    name: str,
    kind: str,
    subscriber: dict[str, str],
    key: str,
) -> None:
    """Fixed clock, secret and token: the exact bytes that go out (UPDATE_GOLDEN=1 rewrites them)."""
    person = add_subscriber(store, {"email": "odbiorca@example.pl", **subscriber}, now)
    store.conn.execute("UPDATE subscribers SET token = 'fixed-subscriber-token' WHERE id = ?", (person.id,))
    data = composer(settings, store, now).render(item(1, person.id, (release.id,), kind, key)).data
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(data)
    assert golden.exists(), f"no golden file {golden}; run with UPDATE_GOLDEN=1 to create it"
    assert data == golden.read_bytes()


@pytest.mark.parametrize("length", range(60, 90, 3))
def test_a_plain_ascii_subject_of_any_length_reads_back_without_a_leading_space(
    settings: Settings, store: Store, now: datetime, length: int
) -> None:
    words = "Embargo seminar of the association of Polish cities on the budget of the year 2027"
    title = (words * 2)[:length].strip()
    release = add_release(store, now, title)
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    message = composer(settings, store, now).render(item(1, ania.id, (release.id,)))
    assert parse(message)["Subject"] == title
    head = message.data.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n") if line.startswith((b"Subject", b" ")))
