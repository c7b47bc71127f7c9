"""A real browser (Debian's chromium, driven by Playwright) through the whole subscriber journey:
subscribe on the form, read the confirmation mail from a real SMTP server, follow its link and press
the button there, change the preferences, unsubscribe. Each page is checked for labels, contrast,
language and a phone-width layout, and saved as a screenshot in ``test-artifacts/``."""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsroom_feed.mail.delivery import deliver
from newsroom_feed.people import subscriptions
from newsroom_feed.settings import Settings, SmtpSettings
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app

from ..smtp_server import SmtpServer
from ..web_helpers import ServerThread, serve

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}

# Runs in the page: what an accessibility checker looks at first. Every visible form control has a
# label, the document has a language, and text contrast meets WCAG 2.1 AA (4.5:1, 3:1 for large text).
AUDIT = """
() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push("html has no lang");
  for (const el of document.querySelectorAll("input, select, textarea, button")) {
    if (el.type === "hidden" || el.closest("[aria-hidden=true]")) continue;
    const named = el.labels && el.labels.length > 0 || el.getAttribute("aria-label")
      || (el.tagName === "BUTTON" && el.textContent.trim());
    if (!named) problems.push("no label: " + (el.id || el.name || el.outerHTML.slice(0, 60)));
  }
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const parts = rgb(getComputedStyle(node).backgroundColor);
      if (parts.length === 3 || (parts.length === 4 && parts[3] > 0.5)) return parts.slice(0, 3);
    }
    return [255, 255, 255];
  };
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.closest("[aria-hidden=true]")) continue;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (style.visibility === "hidden" || box.width === 0 || box.right < 0) continue;
    const [a, b] = [luminance(rgb(style.color).slice(0, 3)), luminance(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      problems.push(`contrast ${ratio.toFixed(2)}: ${el.textContent.trim().slice(0, 40)}`);
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) problems.push("wider than the screen");
  return problems;
}
"""


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    return CHROMIUM if CHROMIUM.exists() else Path(str(shutil.which("chromium")))


@pytest.fixture
def site(settings: Settings, store: Store) -> Iterator[ServerThread]:
    store.set_category("kultura", "Kultura")
    store.set_category("transport", "Transport publiczny")
    with serve(create_app(settings)) as running:
        yield running


def send_outbox(settings: Settings, smtp: SmtpServer, base_url: str) -> None:
    """Run the real sender once, in a thread of its own (Playwright's sync API owns this one)."""
    mail_settings = settings.model_copy(
        update={"base_url": base_url, "smtp": SmtpSettings(host=smtp.host, port=smtp.port, connections=1)}
    )
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with Store(mail_settings.database, mail_settings.domain, zone=mail_settings.zone) as store:
                asyncio.run(deliver(store, mail_settings))
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not failure, failure


def check_page(page: Any, name: str) -> None:
    """Audit the page at phone and desktop width, and in dark mode, and keep a screenshot of each."""
    ARTIFACTS.mkdir(exist_ok=True)
    for label, size, scheme in (
        ("phone", PHONE, "light"),
        ("desktop", DESKTOP, "light"),
        ("dark", PHONE, "dark"),
    ):
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size(size)
        assert page.evaluate(AUDIT) == [], f"{name} ({label})"
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    page.emulate_media(color_scheme="light")


def test_a_journalist_subscribes_confirms_changes_preferences_and_unsubscribes(
    chromium_path: Path, site: ServerThread, settings: Settings, store: Store, smtp_server: SmtpServer
) -> None:
    from playwright.sync_api import sync_playwright

    console_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=DESKTOP, locale="pl-PL")
            page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)

            page.goto(f"{site.url}/subscribe")
            check_page(page, "1-subscribe")
            page.get_by_label("Adres e-mail").fill("ania.nowak@gazeta.example.pl")
            page.get_by_label("Imię i nazwisko").fill("Anna Nowak")
            page.get_by_label("Dziennikarz lub dziennikarka").check()
            page.get_by_label("Redakcja lub instytucja").fill("Gazeta Miejska")
            page.get_by_label("Kultura").check()
            page.get_by_label("Codzienne zestawienie").check()
            page.get_by_label(re.compile("^Zgadzam się")).check()
            page.get_by_role("button", name="Zapisz się").click()
            page.wait_for_url("**/subscribe/sent?lang=pl")
            assert page.get_by_role("heading", name="Sprawdź skrzynkę").is_visible()
            check_page(page, "2-check-your-inbox")
            assert subscriptions.get_subscriber(store, "ania.nowak@gazeta.example.pl").status == "pending"

            send_outbox(settings, smtp_server, site.url)
            [mail] = smtp_server.messages()
            assert mail["To"].addresses[0].addr_spec == "ania.nowak@gazeta.example.pl"
            assert mail["X-Newsroom-Kind"] == "confirmation"
            text = mail.get_body(preferencelist=("plain",)).get_content()
            confirm_url = re.search(r"http://127\.0\.0\.1:\d+/confirm/\S+", text)
            assert confirm_url, text

            page.goto(confirm_url.group(0))
            assert page.get_by_role("heading", name="Potwierdź subskrypcję").is_visible()
            check_page(page, "3-confirm")
            # Opening the link (as a mail scanner would) confirms nothing: the button does.
            assert subscriptions.get_subscriber(store, "ania.nowak@gazeta.example.pl").status == "pending"
            page.get_by_role("button", name="Potwierdzam subskrypcję").click()
            page.wait_for_url("**/confirm/*?lang=pl")  # post/redirect/get to the same link
            assert page.get_by_role("heading", name="Subskrypcja potwierdzona").is_visible()
            check_page(page, "3-confirmed")
            assert subscriptions.get_subscriber(store, "ania.nowak@gazeta.example.pl").status == "active"

            page.get_by_role("link", name="Zmień ustawienia subskrypcji").click()
            assert page.get_by_role("heading", name="Ustawienia subskrypcji").is_visible()
            check_page(page, "4-preferences")
            page.get_by_label("Transport publiczny").check()
            page.get_by_label("Cotygodniowe zestawienie").check()
            page.get_by_role("button", name="Zapisz ustawienia").click()
            assert page.get_by_role("status").filter(has_text="Zapisano ustawienia.").is_visible()
            check_page(page, "5-preferences-saved")
            changed = subscriptions.get_subscriber(store, "ania.nowak@gazeta.example.pl")
            assert (changed.categories, changed.frequency) == (("kultura", "transport"), "weekly")

            page.get_by_role("link", name="Wypisz się z powiadomień").click()
            check_page(page, "6-unsubscribe")
            page.get_by_role("button", name="Wypisz mnie").click()
            assert page.get_by_role("heading", name="Wypisano").is_visible()
            check_page(page, "7-unsubscribed")
            gone = subscriptions.get_subscriber(store, "ania.nowak@gazeta.example.pl")
            assert gone.status == "unsubscribed"
        finally:
            browser.close()
    assert console_errors == []  # nothing refused by the Content-Security-Policy, nothing missing


def test_the_english_form_is_readable_on_a_phone(chromium_path: Path, site: ServerThread) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=PHONE)
            page.goto(f"{site.url}/subscribe?lang=en")
            assert page.evaluate("document.documentElement.lang") == "en"
            page.get_by_role("button", name="Subscribe").click()
            assert page.get_by_role("alert").is_visible()  # the error summary, nothing sent
            check_page(page, "8-subscribe-errors-en")
        finally:
            browser.close()
