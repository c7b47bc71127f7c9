"""Preview before it goes out: the page, the feed entries and the alert mail of a release under embargo
(or of a draft), as they will be published and sent, while nothing is published or queued."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import lxml.html

from newsroom_feed.mail import outbox
from newsroom_feed.models import Release, ReleaseInput, iso, utcnow
from newsroom_feed.people.subscriptions import add_subscriber
from newsroom_feed.planner import build
from newsroom_feed.settings import Settings
from newsroom_feed.store import drafts
from newsroom_feed.store.database import Store

from .conftest import EDITOR

TITLE = "Złote Lajki 2026 wręczone"


def embargoed_release(store: Store) -> Release:
    lift = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    document = {
        "title": TITLE,
        "summary": "Rada Programowa nagrodziła najlepsze miejskie profile.",
        "body": "Nagrody **Złote Lajki** trafiły do Poznania i Gdyni.",
        "categories": ["informacje-prasowe"],
        "embargo_until": iso(lift),
        "attachments": [
            {
                "url": "https://prasa.example.pl/files/komunikat.pdf",
                "title": "Komunikat (PDF)",
                "mime_type": "application/pdf",
                "length": 183422,
            }
        ],
    }
    return store.add_release(ReleaseInput.parse(document, store.zone), utcnow())


def files_under(directory: Path) -> dict[str, bytes]:
    if not directory.exists():
        return {}
    return {
        str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob("*") if path.is_file()
    }


def sources(page: str) -> list[str]:
    """The text of every <pre> on a page, unescaped as the reader sees it."""
    return [pre.text_content() for pre in lxml.html.fromstring(page).xpath("//pre")]


def test_preview_of_an_embargoed_release_shows_page_feed_entries_and_both_mail_parts_and_publishes_nothing(
    store: Store, settings: Settings, signed_in: Callable[[str], httpx.Client]
) -> None:
    add_subscriber(store, {"email": "anna@example.pl", "frequency": "immediate"}, utcnow())
    release = embargoed_release(store)
    public_before = files_under(settings.public_dir)
    rows_before = outbox.list_rows(store)
    client = signed_in("editor")

    answer = client.get(f"/desk/releases/{release.id}/preview")

    assert answer.status_code == 200
    page = lxml.html.fromstring(answer.text)
    assert TITLE in page.findtext(".//h1")
    rss, atom, json_item, text_part = sources(answer.text)
    assert f'<guid isPermaLink="false">{release.uid}</guid>' in rss
    assert f"<title>{TITLE}</title>" in rss
    assert f"<id>{release.uid}</id>" in atom
    assert 'rel="enclosure" type="application/pdf"' in atom
    assert json.loads(json_item)["id"] == release.uid
    assert json.loads(json_item)["title"] == TITLE
    assert TITLE in page.xpath("string(//dd[@class='mail-subject'])")
    assert EDITOR in answer.text  # the sample recipient: the signed-in editor
    assert TITLE in text_part and "Nagrody Złote Lajki trafiły do Poznania i Gdyni." in text_part
    frames = {frame.get("src"): frame for frame in page.xpath("//iframe")}
    assert set(frames) == {
        f"/desk/releases/{release.id}/preview/page",
        f"/desk/releases/{release.id}/preview/mail",
    }
    assert all(frame.get("sandbox") is not None and frame.get("title") for frame in frames.values())

    shown_page = client.get(f"/desk/releases/{release.id}/preview/page")
    mail_html = client.get(f"/desk/releases/{release.id}/preview/mail")
    assert lxml.html.fromstring(shown_page.text).findtext(".//h1").strip() == TITLE
    assert TITLE in mail_html.text and "Poznania" in mail_html.text

    assert files_under(settings.public_dir) == public_before
    assert outbox.list_rows(store) == rows_before == []

    # At the lift, the build publishes exactly what the preview showed.
    build(store, settings, release.visible_at + timedelta(minutes=1))
    published = files_under(settings.public_dir)
    assert published[f"releases/{release.slug}/index.html"] == shown_page.content
    assert textwrap.indent(rss, "    ") in published["feeds/rss.xml"].decode()
    assert textwrap.indent(atom, "  ") in published["feeds/atom.xml"].decode()
    assert json_item in published["feeds/feed.json"].decode()


def test_the_framed_page_and_mail_may_be_framed_by_the_desk_only_and_run_nothing(
    store: Store, signed_in: Callable[[str], httpx.Client]
) -> None:
    release = embargoed_release(store)
    client = signed_in("editor")
    for part in ("page", "mail"):
        answer = client.get(f"/desk/releases/{release.id}/preview/{part}")
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        directives = {item.split()[0]: item.split()[1:] for item in policy.split(";") if item.strip()}
        assert directives["sandbox"] == []  # no scripts, no forms, an origin of its own
        assert directives["frame-ancestors"] == ["'self'"]
        assert directives["default-src"] == ["'none'"]
        assert "script-src" not in directives
        assert answer.headers["x-frame-options"] == "SAMEORIGIN"
    # Every other desk page still refuses to be framed at all.
    desk_page = client.get(f"/desk/releases/{release.id}/preview")
    assert desk_page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in desk_page.headers["content-security-policy"]


def test_a_signed_out_visitor_is_sent_to_sign_in_instead_of_seeing_a_preview(
    store: Store, visitor: httpx.Client
) -> None:
    release = embargoed_release(store)
    for path in ("", "/page", "/mail"):
        answer = visitor.get(f"/desk/releases/{release.id}/preview{path}")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/desk/login")
    assert TITLE not in visitor.get(f"/desk/releases/{release.id}/preview/page").text


def test_a_draft_is_previewed_with_a_stand_in_uid_and_a_slug_from_its_title(
    store: Store, settings: Settings, signed_in: Callable[[str], httpx.Client]
) -> None:
    draft_id = drafts.add(
        store, {"title": "Szkic: Dni Miast Polskich", "body": "Zapraszamy do **Torunia**."}, None, utcnow()
    )
    client = signed_in("editor")

    answer = client.get(f"/desk/drafts/{draft_id}/preview?lang=en")

    assert answer.status_code == 200
    assert "Preview: Szkic: Dni Miast Polskich" in answer.text
    rss, _, json_item, text_part = sources(answer.text)
    stand_in = f"tag:{settings.domain},{utcnow().astimezone(settings.zone).year}:preview"
    assert f'<guid isPermaLink="false">{stand_in}</guid>' in rss
    assert json.loads(json_item)["url"] == "https://prasa.example.pl/releases/szkic-dni-miast-polskich/"
    assert "Zapraszamy do Torunia." in text_part
    page = client.get(f"/desk/drafts/{draft_id}/preview/page")
    assert page.status_code == 200 and "Zapraszamy do <strong>Torunia</strong>." in page.text
    assert files_under(settings.public_dir) == {}
    assert outbox.list_rows(store) == []


def test_a_draft_that_is_not_a_valid_release_yet_names_the_field_at_fault(
    store: Store, signed_in: Callable[[str], httpx.Client]
) -> None:
    draft_id = drafts.add(store, {"title": "Szkic", "source_url": "nie-adres"}, None, utcnow())
    answer = signed_in("editor").get(f"/desk/drafts/{draft_id}/preview")
    assert answer.status_code == 400
    assert "source_url" in answer.text
    assert signed_in("editor").get(f"/desk/drafts/{draft_id}/preview/page").status_code == 404


def test_preview_of_a_release_that_does_not_exist_is_a_not_found_page(
    signed_in: Callable[[str], httpx.Client],
) -> None:
    answer = signed_in("editor").get("/desk/releases/999/preview")
    assert answer.status_code == 404
    assert "Nie ma takiej strony" in answer.text
