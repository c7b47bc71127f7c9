"""A journalist's way to early access, in a real browser (Debian's chromium, driven by Playwright), against
the real daemon (web app, watcher, embargo clock, sender) and a real SMTP sink (issue 12, "Proof"):
apply at /journalists/apply, confirm by the link in the mail, an admin verifies them in the desk, an editor
saves an embargoed release with early access, the early alert with its banner reaches the sink, the
personal feed shows the release marked while the public feeds do not, the embargo lifts (the public feeds
show it, the journalist gets no second alert), the admin revokes them, and from then on their feed shows
only what is public and nothing more reaches them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import feedparser
import httpx
import pytest

from newsroom_feed.models import utcnow
from newsroom_feed.people import journalists, subscriptions, users
from newsroom_feed.store import journalists as journalist_rows
from newsroom_feed.store.audit import OPERATOR
from newsroom_feed.store.database import Store

from ..conftest import make_settings
from ..smtp_server import SmtpServer
from .desk.conftest import ADMIN, EDITOR, PASSWORD
from .desk.test_desk_browser import CHROMIUM_ARGS, DESKTOP, DaemonThread, free_port, sign_in, wait_for
from .desk.test_desk_browser import chromium_path as chromium_path  # the fixture

pytestmark = [pytest.mark.slow, pytest.mark.browser]

WARSAW = ZoneInfo("Europe/Warsaw")
ANIA = "ania.nowak@gazeta.example.pl"
#: A journalist verified by the operator: their early copies show the sender ran for everyone verified.
JAN = "jan.wrona@radio.example.pl"
#: An ordinary subscriber: the public alert at the lift reaches them.
READER = "czytelnik@portal.example.pl"
TITLE = "Nowy gatunek porostu w Puszczy Zielonce"
SUMMARY = "Zespół Instytutu opisał porost, którego nie notowano w Polsce od stu lat."
LATER_TITLE = "Raport o jakości powietrza 2026"
AFTER_REVOKE_TITLE = "Budżet obywatelski: wyniki głosowania"
#: How far ahead the first embargo is set when the editor saves it: the steps up to the lift fit in it.
LEAD_TIME = timedelta(seconds=20)
MONTHS = ("stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca", "sierpnia", "września",
          "października", "listopada", "grudnia")  # fmt: skip
FEEDS = ("/feeds/rss.xml", "/feeds/atom.xml", "/feeds/feed.json", "/feeds/kultura/rss.xml")


@dataclass
class Newsroom:
    url: str
    store: Store
    smtp: SmtpServer


@pytest.fixture
def newsroom(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[Newsroom]:
    """The daemon on a port fixed beforehand, with an admin, an editor, the kultura category, a reader on
    immediate alerts and Jan, verified with the terms accepted."""
    port = free_port()
    settings = make_settings(
        tmp_path, http={"port": port}, smtp={"port": smtp_server.port}, base_url=f"http://127.0.0.1:{port}"
    )
    with Store(settings.database, settings.domain, zone=settings.zone) as store:
        now = utcnow()
        users.add(store, EDITOR, "editor", now, OPERATOR, PASSWORD)
        users.add(store, ADMIN, "admin", now, OPERATOR, PASSWORD)
        store.set_category("kultura", "Kultura")
        store.set_category("transport", "Transport publiczny")
        subscriptions.add_subscriber(store, {"email": READER, "kind": "other"}, now)
        jan = subscriptions.add_subscriber(store, {"email": JAN, "kind": "journalist"}, now)
        with store.transaction():
            journalist_rows.set_application(store, jan.id, "https://radio.example.pl/jan", None)
        journalists.verify(store, settings, jan.id, now, OPERATOR, terms_accepted=True)
        running = DaemonThread(settings)
        url = running.start()
        try:
            yield Newsroom(url, store, smtp_server)
        finally:
            running.stop()


def polish_time(moment: datetime) -> str:
    """ "10 grudnia 2026, 10:00": how the subject, the banner and the feed's mark give the lift."""
    local = moment.astimezone(WARSAW)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local:%H:%M}"


def mails_to(smtp: SmtpServer, email: str) -> list[EmailMessage]:
    return [message for message in smtp.messages() if email in str(message["To"])]


def about(messages: list[EmailMessage], title: str) -> list[EmailMessage]:
    """The messages whose subject or either part names ``title``."""
    return [message for message in messages if title in str(message["Subject"]) or title in text_of(message)]


def text_of(message: EmailMessage) -> str:
    parts = [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
    return "\n".join(part for part in parts if isinstance(part, str))


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body(preferencelist=(kind,))
    assert body is not None, f"no text/{kind} part"
    content = body.get_content()
    assert isinstance(content, str)
    return content


def feed_titles(url: str) -> list[str]:
    """Entry titles of a feed document (Atom, RSS or JSON Feed), as a feed reader would fetch it."""
    response = httpx.get(url)
    assert response.status_code == 200, (url, response.status_code)
    if response.headers["content-type"].startswith("application/feed+json"):
        return [item["title"] for item in json.loads(response.content)["items"]]
    return [entry.title for entry in feedparser.parse(response.content).entries]


def public_titles(url: str) -> list[str]:
    """Entry titles of every public feed; a category feed not written yet (404) lists nothing."""
    found = [feed for feed in FEEDS if httpx.head(url + feed).status_code != 404]
    assert "/feeds/rss.xml" in found
    return [title for feed in found for title in feed_titles(url + feed)]


def fill_release(page: Any, url: str, title: str, lift: datetime) -> str:
    """The editor's new release: kultura, an embargo to the second, early access; scheduled. Its desk path."""
    page.goto(f"{url}/desk/releases/new")
    page.locator("#title").fill(title)
    page.locator("#summary").fill(SUMMARY if title == TITLE else f"{title}: szczegóły.")
    page.get_by_label("Kultura").check()
    page.locator("#embargo_until").fill(lift.astimezone(WARSAW).strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_label("Wcześniejszy dostęp dla zweryfikowanych dziennikarzy").check()
    page.get_by_role("button", name=re.compile("^Zaplanuj")).click()
    page.wait_for_url("**/desk/releases/*?done=scheduled")
    assert page.locator(".about .status").inner_text() == "pod embargiem"
    return str(urlsplit(page.url).path)


def test_a_journalist_applies_is_verified_gets_the_release_early_then_loses_access(
    chromium_path: Path, newsroom: Newsroom
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, store, smtp = newsroom.url, newsroom.store, newsroom.smtp
    started = time.monotonic()
    console_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            people = ("ania", "admin", "editor")
            contexts = {who: browser.new_context(viewport=DESKTOP, locale="pl-PL") for who in people}
            pages = {who: context.new_page() for who, context in contexts.items()}
            for page in pages.values():
                page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            ania, admin, editor = pages["ania"], pages["admin"], pages["editor"]

            # 1. Ania applies, with her outlet, a link to her work, a press card and the embargo terms.
            ania.goto(f"{url}/journalists/apply")
            ania.get_by_label("Imię i nazwisko").fill("Anna Nowak")
            ania.get_by_label("Redakcja").fill("Gazeta Miejska")
            ania.get_by_label("Służbowy adres e-mail").fill(ANIA)
            ania.get_by_label("Link do Twoich publikacji").fill(
                "https://gazeta.example.pl/autorzy/anna-nowak"
            )
            ania.get_by_label("Numer legitymacji prasowej").fill("LP 0042/2026")
            ania.get_by_label("Kultura").check()
            ania.get_by_label("Akceptuję powyższe warunki embarga.").check()
            ania.get_by_role("button", name="Wyślij zgłoszenie").click()
            ania.wait_for_url("**/journalists/apply/sent?lang=pl")
            expect(ania.get_by_role("status")).to_contain_text("czeka na weryfikację")

            # 2. The confirmation mail reaches the sink; its link, then the button, confirm the address.
            wait_for("the confirmation mail", lambda: bool(mails_to(smtp, ANIA)), 20)
            [confirmation] = mails_to(smtp, ANIA)
            assert confirmation["X-Newsroom-Kind"] == "confirmation"
            link = re.search(re.escape(url) + r"/confirm/\S+", part(confirmation, "plain"))
            assert link, part(confirmation, "plain")
            ania.goto(link.group(0))
            ania.get_by_role("button", name="Potwierdzam subskrypcję").click()
            ania.wait_for_url("**/confirm/*?lang=pl")
            expect(ania.locator("main")).to_contain_text("czeka na weryfikację")
            assert journalists.get(store, ANIA).verification == "applied"

            # Her preferences page gives the address of her personal feed.
            ania.get_by_role("link", name="Zmień ustawienia subskrypcji").click()
            feed_link = ania.locator(".feed-addresses a").filter(has_text="atom.xml")
            expect(feed_link).to_have_count(1)
            personal_feed = feed_link.get_attribute("href")
            assert personal_feed is not None and personal_feed.startswith(f"{url}/my/")

            # 3. An admin verifies her in the desk.
            admin.goto(f"{url}/desk/login")
            sign_in(admin, ADMIN)
            admin.wait_for_url(f"{url}/desk/")
            admin.goto(f"{url}/desk/journalists")
            row = admin.locator(f"tr[data-email='{ANIA}']")
            expect(row).to_contain_text("Gazeta Miejska")
            expect(row).to_contain_text("czeka na weryfikację")
            row.get_by_role("button", name=f"Zweryfikuj: {ANIA}").click()
            expect(admin.get_by_role("status")).to_contain_text(f"Zweryfikowano {ANIA}.")
            expect(admin.locator(f"tr[data-email='{ANIA}']")).to_contain_text("zweryfikowany")
            assert journalists.get(store, ANIA).verification == "verified"
            wait_for("the mail saying she is verified", lambda: len(mails_to(smtp, ANIA)) == 2, 20)
            assert mails_to(smtp, ANIA)[1]["X-Newsroom-Kind"] == "verification"

            # 4. An editor saves a kultura release under embargo, shared early.
            editor.goto(f"{url}/desk/login")
            sign_in(editor, EDITOR)
            editor.wait_for_url(f"{url}/desk/")
            lift = datetime.now(UTC).replace(microsecond=0) + LEAD_TIME
            fill_release(editor, url, TITLE, lift)
            [release] = [item for item in store.list_releases(now=utcnow()) if item.title == TITLE]
            assert release.embargo_until == lift and release.early_access
            when = polish_time(lift)

            # 5. The early alert reaches her: the embargo in its subject, a banner atop both parts, a header.
            wait_for("the early alert", lambda: bool(about(mails_to(smtp, ANIA), TITLE)), 20)
            [early] = about(mails_to(smtp, ANIA), TITLE)
            # What a mail client shows: the white space a fold right after "Subject:" leaves is not shown.
            assert str(early["Subject"]).lstrip().startswith(f"[EMBARGO do {when}]"), early["Subject"]
            assert datetime.fromisoformat(str(early["X-Newsroom-Embargo-Until"])) == lift
            page_html = part(early, "html")
            for text in (part(early, "plain"), page_html[page_html.index("<body") :]):
                banner = text[: text.index(TITLE)]  # before the release begins
                assert f"EMBARGO do {when}" in banner, text[:1500]
                assert "publikować" in banner and "przekazywać" in banner, banner
            assert not about(mails_to(smtp, READER), TITLE)  # the public alert waits for the lift

            # Her personal feed shows it, marked with the embargo; the public feeds do not.
            assert feed_titles(personal_feed)[0] == f"[EMBARGO do {when}] {TITLE}"
            assert feed_titles(personal_feed.replace("atom.xml", "feed.json"))[0].endswith(TITLE)
            assert not [title for title in public_titles(url) if TITLE in title]
            assert httpx.get(f"{url}/releases/{release.slug}/").status_code == 404

            # While the first waits, a second release goes early to her, lifting tomorrow.
            fill_release(editor, url, LATER_TITLE, lift + timedelta(days=1))
            wait_for("the second early alert", lambda: bool(about(mails_to(smtp, ANIA), LATER_TITLE)), 20)
            assert [title for title in feed_titles(personal_feed) if LATER_TITLE in title]
            assert datetime.now(UTC) < lift, "the walk before the lift took longer than the embargo"
            print(f"before the lift: {time.monotonic() - started:.0f} s, lift in {lift - datetime.now(UTC)}")

            # 6. The lift: the public feeds show it, the reader gets the alert, Ania no second one.
            wait_for(
                "the release in the public feeds", lambda: TITLE in feed_titles(f"{url}/feeds/rss.xml"), 60
            )
            assert datetime.now(UTC) >= lift
            wait_for("the public alert", lambda: bool(about(mails_to(smtp, READER), TITLE)), 20)
            assert all(TITLE in feed_titles(url + feed) for feed in FEEDS)
            assert httpx.get(f"{url}/releases/{release.slug}/").status_code == 200
            time.sleep(2)  # the sender's run that sent the public alert had every row of the lift
            assert [m["X-Newsroom-Kind"] for m in about(mails_to(smtp, ANIA), TITLE)] == ["early"]
            shown = feed_titles(personal_feed)
            assert TITLE in shown and f"[EMBARGO do {when}] {TITLE}" not in shown, shown

            # 7. The admin revokes her: at once her feed shows only what is public.
            admin.goto(f"{url}/desk/journalists")
            admin.locator(f"tr[data-email='{ANIA}']").get_by_role(
                "button", name=f"Odbierz dostęp: {ANIA}"
            ).click()
            expect(admin.get_by_role("status")).to_contain_text(f"Odebrano dostęp: {ANIA}.")
            revoked_at = len(mails_to(smtp, ANIA))
            for name in ("rss.xml", "atom.xml", "feed.json"):
                assert feed_titles(personal_feed.replace("atom.xml", name)) == [TITLE], name
            assert journalists.get(store, ANIA).verification == "revoked"

            # ... and nothing more reaches her: a new early release goes to Jan only.
            fill_release(editor, url, AFTER_REVOKE_TITLE, lift + timedelta(days=1))
            wait_for("Jan's early alert", lambda: bool(about(mails_to(smtp, JAN), AFTER_REVOKE_TITLE)), 20)
            time.sleep(1)
            after = mails_to(smtp, ANIA)[revoked_at:]
            for title in (TITLE, LATER_TITLE, AFTER_REVOKE_TITLE):
                assert not about(after, title), (title, [m["Subject"] for m in after])
            # At most a word about her access; no release, early or public, reaches her.
            assert {m["X-Newsroom-Kind"] for m in after} <= {"verification"}, [m["Subject"] for m in after]
            assert feed_titles(personal_feed) == [TITLE]
            for context in contexts.values():
                context.close()
        finally:
            browser.close()
    print(f"journalist journey: {time.monotonic() - started:.0f} s")
    assert console_errors == []  # nothing refused by the Content-Security-Policy, nothing missing
