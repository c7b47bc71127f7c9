"""The static pages a journalist opens: Polish, dated in Warsaw time, with feed autodiscovery, downloads,
the media contact, escaped input and no script."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from lxml import html

from newsroom_feed import planner
from newsroom_feed.labels import babel_number, filesize, one_decimal
from newsroom_feed.mail.compose import Composer
from newsroom_feed.models import OutboxItem
from newsroom_feed.people.subscriptions import add_subscriber
from newsroom_feed.settings import Settings
from newsroom_feed.site.pages import babel_date, local_date
from newsroom_feed.store.database import Store

from ..conftest import NOW
from .test_feeds import VISIBLE_TITLE, add_release, sample_newsroom

#: The start of the one script element a page may hold: schema.org data (`site.structured_data`).
JSON_LD = '<script type="application/ld+json">'
#: Elements HTML5 defines without an end tag.
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Balance(HTMLParser):
    """Fails on an end tag that closes nothing open: a cheap check that the markup is well nested."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids.extend(value for name, value in attrs if name == "id" and value)
        if tag not in _VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()


@pytest.fixture
def public(store: Store, settings: Settings) -> Path:
    sample_newsroom(store)
    planner.build(store, settings, NOW)
    return settings.public_dir


def _pages(public: Path) -> list[Path]:
    return sorted(public.rglob("*.html"))


def test_every_page_is_well_formed_polish_html5_without_script(public: Path) -> None:
    pages = _pages(public)
    assert len(pages) == 1 + 1 + 2 + 3  # index, upcoming events, two visible releases, three categories
    for path in pages:
        text = path.read_text(encoding="utf-8")
        assert text.startswith('<!DOCTYPE html>\n<html lang="pl">'), path
        # The one script element a page may have is data: its schema.org JSON-LD, which runs nothing.
        assert set(re.findall(r"<script[^>]*>", text)) <= {JSON_LD}, path
        assert " style=" not in text, path
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", text), f"{path}: an event-handler attribute"
        checker = _Balance()
        checker.feed(text)
        checker.close()
        assert checker.open == [], path
        assert len(checker.ids) == len(set(checker.ids)), path
        document = html.fromstring(text)
        assert document.find(".//main") is not None and len(document.findall(".//h1")) == 1, path
        assert document.find(".//meta[@name='viewport']") is not None


def test_pages_advertise_their_feeds(public: Path) -> None:
    index = html.parse(str(public / "index.html")).getroot()
    alternates = {(link.get("type"), link.get("href")) for link in index.findall(".//link[@rel='alternate']")}
    assert alternates == {
        ("application/rss+xml", "https://prasa.example.pl/feeds/rss.xml"),
        ("application/atom+xml", "https://prasa.example.pl/feeds/atom.xml"),
        ("application/feed+json", "https://prasa.example.pl/feeds/feed.json"),
        ("text/calendar", "https://prasa.example.pl/feeds/events.ics"),
    }
    category = html.parse(str(public / "categories" / "nagrody" / "index.html")).getroot()
    hrefs = {link.get("href") for link in category.findall(".//link[@rel='alternate']")}
    assert "https://prasa.example.pl/feeds/nagrody/atom.xml" in hrefs


def test_release_page_shows_warsaw_date_downloads_and_media_contact(public: Path) -> None:
    page = public / "releases" / "zlote-lajki-2026-wreczone" / "index.html"
    document = html.parse(str(page)).getroot()
    assert document.findtext(".//h1") == VISIBLE_TITLE
    time = document.find(".//time")
    assert time is not None
    assert time.text == "26 listopada 2026, 10:30" and time.get("datetime") == "2026-11-26T09:30:00Z"
    downloads = [
        (a.get("href"), a.text, a.getnext().text_content())  # type: ignore[union-attr]
        for a in document.findall(".//ul[@class='attachments']/li/a")
    ]
    assert downloads == [
        ("https://example.pl/files/komunikat.pdf", "Komunikat (PDF)", "(PDF, 179,1 KB)"),
        ("https://example.pl/files/gala.jpg", "Zdjęcie z gali", "(JPEG, 50,8 KB)"),
    ]
    contact = document.find(".//address")
    assert contact is not None
    assert "Biuro prasowe" in contact.text_content()
    assert {a.get("href") for a in contact.findall("a")} == {"mailto:prasa@example.pl", "tel:+48610000000"}
    body = document.find(".//div[@class='body']")
    assert body is not None and body.findtext(".//strong") == "Poznaniu"


def test_index_lists_releases_and_categories_with_visible_counts(public: Path) -> None:
    document = html.parse(str(public / "index.html")).getroot()
    titles = [a.text for a in document.findall(".//ol[@class='releases']//h3/a")]
    assert titles == [VISIBLE_TITLE, "Nowy rozkład jazdy tramwajów w Łodzi"]
    categories = [
        (li.find("a").text, li.find("span").text)  # type: ignore[union-attr]
        for li in document.findall(".//nav[@class='categories']//li")
    ]
    assert categories == [("informacje-prasowe", "(1)"), ("nagrody", "(1)"), ("transport", "(1)")]


def test_titles_are_escaped_while_the_sanitised_body_is_kept(store: Store, settings: Settings) -> None:
    add_release(
        store,
        NOW,
        title='Uwaga: <script>alert("x")</script> & "cudzysłów"',
        body="Treść z [linkiem](https://example.pl/) i <b>surowym HTML</b>",
        published_at="2026-11-26T08:00:00+01:00",
    )
    planner.build(store, settings, NOW)
    page = next((settings.public_dir / "releases").glob("*/index.html")).read_text(encoding="utf-8")
    assert re.findall(r"<script[^>]*>", page) == [JSON_LD]
    assert "alert(&#34;x&#34;)&lt;/script&gt;" in page and "</script>\n</head>" in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;cudzysłów&#34;" in page
    assert '<a href="https://example.pl/" rel="noopener nofollow">linkiem</a>' in page
    assert "<b>" not in page


def test_category_names_and_descriptions_come_from_the_store(store: Store, settings: Settings) -> None:
    store.set_category("transport", "Transport publiczny", "Komunikacja miejska w miastach związku")
    add_release(
        store, NOW, title="Bilety metropolitalne", categories=["transport"], published_at=NOW.isoformat()
    )
    planner.build(store, settings, NOW)
    page = (settings.public_dir / "categories" / "transport" / "index.html").read_text(encoding="utf-8")
    assert "<h1>Transport publiczny</h1>" in page
    assert "Komunikacja miejska w miastach związku" in page
    assert "Komunikatów w tej kategorii: 1." in page


@pytest.mark.parametrize(
    ("length", "polish", "english"),
    [
        (512, "512 B", "512 B"),
        (183422, "179,1 KB", "179.1 KB"),
        (5 * 1024**2, "5 MB", "5 MB"),
        (3 * 1024**4, "3 072 GB", "3,072 GB"),
    ],
)
def test_file_sizes_are_written_the_readers_way(length: int, polish: str, english: str) -> None:
    assert filesize(length, "pl").replace("\xa0", " ") == polish
    assert filesize(length, "en") == english


@given(
    st.integers(min_value=0, max_value=2**50) | st.integers(min_value=1000, max_value=2**21),
    st.sampled_from(["pl", "en"]),
)
@example(1280, "pl")
@example(1024 * 1023 + 972, "pl")
@example(3 * 1024**4 + 256 * 1024**2, "en")
@example(1024**2 - 1, "en")
def test_file_sizes_read_exactly_as_babel_writes_them(length: int, language: str) -> None:
    """Sizes are formatted without Babel's pattern engine (for speed); the text must not differ."""
    for unit in (1024.0, 1024.0**2, 1024.0**3):
        assert one_decimal(length / unit, language) == babel_number(length / unit, language)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_page_dates_read_exactly_as_babel_writes_them(moment: datetime) -> None:
    """Pages format dates without Babel's pattern engine (for speed); the text must not differ."""
    zone = ZoneInfo("Europe/Warsaw")
    assert local_date(moment, zone) == babel_date(moment, zone)


def test_a_page_and_a_mail_name_an_attachment_alike(store: Store, settings: Settings) -> None:
    """One formatter: "DOCX, 179,1 KB" on the page, not "VND.OPENXMLFORMATS-…DOCUMENT, 179 KB" in the mail."""
    release = add_release(
        store,
        NOW,
        title="Komunikat z załącznikami",
        published_at=NOW.isoformat(),
        attachments=[
            {"url": "https://example.pl/k.docx", "title": "Komunikat", "length": 183422,
             "mime_type": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
            {"url": "https://example.pl/k.pdf", "title": "Wersja PDF", "length": 52011,
             "mime_type": "application/pdf"},
            {"url": "https://example.pl/k.bin", "title": "Dane", "length": 1234567,
             "mime_type": "application/x-newsroom-test"},
        ],
    )  # fmt: skip
    planner.build(store, settings, NOW)
    page = html.parse(str(settings.public_dir / "releases" / release.slug / "index.html")).getroot()
    on_page = [span.text_content().strip("()") for span in page.findall(".//span[@class='file']")]
    reader = add_subscriber(store, {"email": "ania@gazeta.example.pl"}, NOW)
    alert = OutboxItem(1, f"alert:{release.uid}", "alert", reader.id, (release.id,), "pending", 0)
    mail = email.message_from_bytes(
        Composer(settings, store, clock=lambda: NOW).render(alert).data, policy=default
    )
    assert isinstance(mail, EmailMessage)
    text, rich = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text is not None and rich is not None
    in_text = re.findall(r"^- .+ \((.+)\): https://example\.pl/", text.get_content(), re.MULTILINE)
    in_html = re.findall(r"</a> \(([^)]+)\)</li>", rich.get_content())
    expected = ["DOCX, 179,1 KB", "PDF, 50,8 KB", "application/x-newsroom-test, 1,2 MB"]
    assert on_page == in_text == in_html == expected
