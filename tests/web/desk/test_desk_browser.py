"""A real browser (Debian's chromium, driven by Playwright) through the newsroom desk, against the real
daemon (web app, watcher, embargo clock, sender) and a real SMTP sink: sign in, write a release with a
PDF and a photo, every field error shown beside its field, an embargo a minute ahead, the preview, the
admin pages, an editor refused an admin page, the lift (feed and alert), an edit in the audit log, the
retraction, sign-out. axe-core checks every page the walk visits (WCAG 2.2 AA: nothing serious or
critical), and each is saved at phone and desktop width in ``test-artifacts/``."""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image

from newsroom_feed.daemon import Daemon
from newsroom_feed.models import utcnow
from newsroom_feed.people import subscriptions, users
from newsroom_feed.settings import Settings
from newsroom_feed.store import desk_releases
from newsroom_feed.store.audit import OPERATOR
from newsroom_feed.store.database import Store

from ...conftest import make_settings
from ...smtp_server import SmtpServer
from .conftest import ADMIN, EDITOR, PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
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
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
    "resultTypes": ["violations"],
}
JOURNALIST = "ania.nowak@gazeta.example.pl"
TITLE = "Zażółć gęślą jaźń: nowe źródła w parku Łęgi"
LEAD = "Miasto otwiera ścieżkę nad źródłami; wstęp wolny, łódź i ryż dla żądnych przygód."
NEW_LEAD = "Ścieżka nad źródłami będzie otwarta dłużej: do godziny 22, także w święta."
BODY = "## Co się zmienia\n\n- **nowa** ścieżka nad źródłami\n- *ławki* i [mapa](https://example.pl/mapa)\n"
ALT = "Drewniana kładka nad źródłem, w tle brzozy"
#: An embargo closer than this is set a minute later: the walk before the lift must fit in front of it.
LEAD_TIME = timedelta(seconds=40)
#: Runs in the page: the innermost elements that reach past the right edge of the screen.
WIDE = """
() => [...document.querySelectorAll("body *")]
  .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
  .filter((el) => ![...el.children].some((c) => c.getBoundingClientRect().right > window.innerWidth + 1))
  .slice(0, 5)
  .map((el) => el.tagName + (el.id ? "#" + el.id : "") + ": " + el.outerHTML.slice(0, 80))
"""
#: Chromium reports each answer of these statuses in the console; the walk asks for them on purpose.
EXPECTED_STATUS = re.compile(r"the server responded with a status of (400|403)")


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    return CHROMIUM if CHROMIUM.exists() else Path(str(shutil.which("chromium")))


def free_port() -> int:
    """A port nobody listens on now: the base URL (uploads', feeds' addresses) must name it beforehand."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DaemonThread:
    """The real daemon in a thread with its own event loop (Playwright's sync API owns this thread)."""

    def __init__(self, settings: Settings) -> None:
        self.daemon = Daemon(settings)
        self.loop = asyncio.new_event_loop()
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._run, name="daemon")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.exit_code = self.loop.run_until_complete(self.daemon.serve(signals=False))
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.daemon.started.is_set():
            assert self.thread.is_alive(), "the daemon stopped while starting"
            assert time.monotonic() < deadline, "the daemon did not start within 30 s"
            time.sleep(0.05)
        url = self.daemon.web_url()
        assert url is not None
        return url.rstrip("/")

    def stop(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.daemon.request_stop)
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the daemon did not stop within 30 s"
        assert self.exit_code == 0


@pytest.fixture
def desk(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[tuple[str, Store]]:
    """The daemon serving the desk on a port fixed beforehand, with an admin, an editor, a category and
    one journalist on immediate alerts; yields its URL and a store of this process."""
    port = free_port()
    settings = make_settings(
        tmp_path, http={"port": port}, smtp={"port": smtp_server.port}, base_url=f"http://127.0.0.1:{port}"
    )
    with Store(settings.database, settings.domain, zone=settings.zone) as store:
        users.add(store, EDITOR, "editor", utcnow(), OPERATOR, PASSWORD)
        users.add(store, ADMIN, "admin", utcnow(), OPERATOR, PASSWORD)
        store.set_category("kultura", "Kultura")
        store.set_category("transport", "Transport publiczny")
        subscriptions.add_subscriber(
            store, {"email": JOURNALIST, "name": "Anna Nowak", "kind": "journalist"}, utcnow()
        )
        running = DaemonThread(settings)
        url = running.start()
        assert url == f"http://127.0.0.1:{port}"
        try:
            yield url, store
        finally:
            running.stop()


class Checker:
    """axe-core and a phone-width layout check of each page, with its screenshots, numbered in order."""

    def __init__(self, first: int = 1) -> None:
        self.count = first - 1
        self.pages: list[str] = []

    def __call__(self, page: Any, name: str) -> None:
        from axe_playwright_python.sync_playwright import Axe

        ARTIFACTS.mkdir(exist_ok=True)
        page.wait_for_load_state()
        self.count += 1
        self.pages.append(name)
        for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(size)
            if label == "phone":
                width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                assert width[0] <= width[1] + 1, f"{name} is wider than a phone's screen: {width} " + str(
                    page.evaluate(WIDE)
                )
            violations = Axe().run(page, options=AXE_OPTIONS).response["violations"]
            grave = [v for v in violations if v["impact"] in ("serious", "critical")]
            others = [v["id"] for v in violations if v not in grave]
            assert not grave, (
                f"{name} ({label}): "
                + "; ".join(
                    f"{v['id']} ({v['impact']}): {[node['target'] for node in v['nodes']][:5]}" for v in grave
                )
                + (f"; also minor: {others}" if others else "")
            )
            page.screenshot(path=str(ARTIFACTS / f"desk-{self.count}-{name}-{label}.png"), full_page=True)
        page.set_viewport_size(DESKTOP)


def console_errors_of(page: Any, errors: list[str]) -> None:
    """Collect what chromium reports as an error (a script or style refused by the CSP, a missing file),
    except the 400 and 403 answers the walk asks for."""

    def seen(message: Any) -> None:
        if message.type == "error" and not EXPECTED_STATUS.search(message.text):
            errors.append(f"{message.text} ({page.url})")

    page.on("console", seen)


def sign_in(page: Any, email: str) -> None:
    page.get_by_label("Adres e-mail").fill(email)
    page.get_by_label("Hasło").fill(PASSWORD)
    page.get_by_role("button", name="Zaloguj").click()


def write_files(folder: Path) -> tuple[Path, Path]:
    pdf = folder / "program-otwarcia.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
    photo = folder / "kladka.jpg"
    Image.new("RGB", (64, 48), (34, 110, 60)).save(photo, "JPEG")
    return pdf, photo


def embargo_moment() -> datetime:
    """The next whole minute at least `LEAD_TIME` ahead: the form takes minutes."""
    now = datetime.now(UTC)
    moment = datetime.fromtimestamp(math.ceil(now.timestamp() / 60) * 60, UTC)
    return moment if moment - now >= LEAD_TIME else moment + timedelta(minutes=1)


def wait_for(what: str, check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"waited {seconds:.0f} s for {what}"
        time.sleep(0.5)


def feed(url: str) -> str:
    return httpx.get(f"{url}/feeds/rss.xml").text


def alerts_to(smtp_server: SmtpServer, email: str, title: str) -> list[EmailMessage]:
    return [
        message
        for message in smtp_server.messages()
        if message["X-Newsroom-Kind"] == "alert"
        and email in str(message["To"])
        and title in str(message["Subject"])
    ]


def field_error(page: Any, field_id: str) -> Any:
    """The error shown for a field, looked for inside that field's own wrapper (so beside it)."""
    wrapper = page.locator("div.field").filter(has=page.locator(f"#{field_id}"))
    assert page.locator(f"#{field_id}").get_attribute("aria-invalid") == "true", field_id
    return wrapper.locator(f"#{field_id}-error.field-error")


def test_an_editor_writes_embargoes_previews_publishes_edits_and_retracts_a_release(
    chromium_path: Path, desk: tuple[str, Store], smtp_server: SmtpServer, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, store = desk
    check = Checker()
    pdf, photo = write_files(tmp_path)
    console_errors: list[str] = []
    started = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=DESKTOP, locale="pl-PL")
            console_errors_of(page, console_errors)

            # 1. Signed out: sent to sign in, and back to the list after.
            page.goto(f"{url}/desk/releases")
            assert urlsplit(page.url).path == "/desk/login"
            assert "next=/desk/releases" in page.url
            expect(page.get_by_role("status")).to_contain_text("Sesja wygasła albo nie jesteś zalogowany")
            check(page, "sign-in")
            sign_in(page, ADMIN)
            page.wait_for_url(f"{url}/desk/releases")

            # 2. A new release: every field error beside its field, nothing stored; then a draft.
            page.get_by_role("link", name="Nowy komunikat").click()
            page.wait_for_url("**/desk/releases/new")
            check(page, "new-release")
            page.locator("#summary").fill(LEAD)
            page.locator("#body").fill(BODY)
            page.get_by_label("Kultura").check()
            page.locator("#contact_name").fill("Biuro Prasowe Urzędu Miasta")
            page.locator("#contact_email").fill("prasa@@urząd")
            page.locator("#contact_phone").fill("+48 12 616 12 34")
            page.locator("#upload").set_input_files([pdf, photo])
            page.get_by_role("button", name="Zapisz szkic").click()
            expect(page.get_by_role("alert")).to_contain_text("Popraw zaznaczone pola")
            expect(field_error(page, "title")).to_have_text("Podaj tytuł: do 300 znaków, w jednym wierszu.")
            expect(field_error(page, "contact_email")).to_contain_text("Podaj poprawny adres e-mail")
            assert page.locator(".field-error").count() == 2
            assert desk_releases.count(store, desk_releases.ListFilter(), utcnow()) == 0
            # The files sent with the refused form are kept in it (as rows), and the photo's fields shown.
            expect(page.locator("fieldset.attachment")).to_have_count(2)
            check(page, "field-errors")

            page.locator("#title").fill(TITLE)
            page.locator("#contact_email").fill("prasa@um.example.pl")
            page.locator("input[id$='-alt']").fill(ALT)
            page.get_by_role("button", name="Zapisz szkic").click()
            page.wait_for_url("**/desk/drafts/*?done=draft")
            expect(page.get_by_role("status")).to_contain_text("Szkic zapisany")
            expect(page.locator("img.thumb")).to_have_attribute("alt", ALT)
            expect(page.locator("fieldset.attachment").first).to_contain_text("program-otwarcia.pdf")

            # 3. The embargo, in Warsaw time; the page gives it in UTC and the time left.
            lift = embargo_moment()
            warsaw = lift.astimezone(ZoneInfo("Europe/Warsaw"))
            page.locator("#embargo_until").fill(warsaw.strftime("%Y-%m-%dT%H:%M"))
            page.get_by_role("button", name="Zapisz szkic").click()
            page.wait_for_url("**/desk/drafts/*?done=draft")
            expect(page.locator("#embargo-utc")).to_contain_text(f"W UTC: {lift:%Y-%m-%d %H:%M} UTC.")
            expect(page.locator("#embargo-utc .countdown")).to_have_text(re.compile(r"^\d+ min \d+ s$"))
            check(page, "draft")
            page.get_by_role("button", name=re.compile("^Zaplanuj")).click()
            page.wait_for_url("**/desk/releases/*?done=scheduled")
            expect(page.get_by_role("status")).to_contain_text("Komunikat zaplanowany")
            expect(page.locator(".about .status")).to_have_text("pod embargiem")
            release_path = urlsplit(page.url).path
            uid = page.locator(".about code").inner_text()
            check(page, "scheduled")

            # 4. The preview: the public page, the three feeds' entries and the alert.
            page.get_by_role("link", name="Podgląd przed wysyłką").click()
            page.wait_for_url(f"**{release_path}/preview")
            expect(page.frame_locator("iframe.preview-page").locator("h1")).to_contain_text(TITLE)
            sources = page.locator("#pre-feeds-heading ~ .preview-frame")
            expect(sources).to_have_count(3)
            for n in range(3):
                expect(sources.nth(n)).to_contain_text(uid)
            expect(page.locator("pre.mail-text")).to_contain_text(TITLE)
            expect(page.frame_locator("iframe.preview-mail").locator("body")).to_contain_text(TITLE)
            check(page, "preview")

            # 5. While the embargo runs: the desk's other pages.
            page.get_by_role("link", name="Komunikaty", exact=True).click()
            page.wait_for_url(f"{url}/desk/releases")
            expect(page.get_by_role("link", name=TITLE)).to_be_visible()
            check(page, "releases")
            page.goto(f"{url}{release_path}/history")
            check(page, "history")
            page.get_by_role("link", name="Moje konto").click()
            page.wait_for_url(f"{url}/desk/account")
            check(page, "account")
            page.get_by_role("link", name="Subskrybenci").click()
            page.wait_for_url(f"{url}/desk/subscribers")
            expect(page.get_by_role("link", name=JOURNALIST)).to_be_visible()
            check(page, "subscribers")
            page.get_by_role("link", name="Importuj CSV").click()
            page.wait_for_url(f"{url}/desk/subscribers/import")
            check(page, "import")
            csv_file = tmp_path / "subskrybenci.csv"
            csv_file.write_text(
                "email,name,kind,organization,categories,frequency,language\n"
                "jan.kowalski@radio.example.pl,Jan Kowalski,journalist,Radio Kraków,kultura,daily,pl\n"
                "to-nie-jest-adres,Ktoś,other,,,immediate,pl\n",
                encoding="utf-8",
            )
            page.locator("#file").set_input_files(csv_file)
            page.get_by_role("button", name="Importuj CSV").click()
            page.wait_for_load_state()
            expect(page.get_by_role("status")).to_contain_text("Zaimportowano: 1.")
            rejected = page.locator("table", has=page.get_by_text("Odrzucone wiersze")).locator("tbody tr")
            expect(rejected).to_have_count(1)
            expect(rejected.locator("th")).to_have_text("3")
            expect(rejected).to_contain_text("to-nie-jest-adres")
            assert subscriptions.get_subscriber(store, "jan.kowalski@radio.example.pl").status == "active"
            check(page, "import-result")
            page.get_by_role("link", name="Wysyłka").click()
            page.wait_for_url(f"{url}/desk/outbox")
            check(page, "outbox")
            page.get_by_role("link", name="Stan usługi").click()
            page.wait_for_url(f"{url}/desk/health")
            check(page, "health")
            page.get_by_role("link", name="Użytkownicy").click()
            page.wait_for_url(f"{url}/desk/users")
            expect(page.get_by_text(EDITOR)).to_be_visible()
            check(page, "users")

            editor_context = browser.new_context(viewport=DESKTOP, locale="pl-PL")
            try:
                editor_page = editor_context.new_page()
                console_errors_of(editor_page, console_errors)
                editor_page.goto(f"{url}/desk/login")
                sign_in(editor_page, EDITOR)
                editor_page.wait_for_url(f"{url}/desk/")
                refused = editor_page.goto(f"{url}/desk/subscribers")
                assert refused is not None and refused.status == 403
                expect(editor_page.locator("main")).to_contain_text(
                    "Ta strona jest tylko dla administratorów"
                )
                check(editor_page, "editor-refused")
            finally:
                editor_context.close()
            assert datetime.now(UTC) < lift, "the walk before the lift took longer than the embargo"
            print(f"before the lift: {time.monotonic() - started:.0f} s, lift in {lift - datetime.now(UTC)}")

            # 6. The lift: the daemon publishes it in the feed and sends the alert.
            wait_for("the release in the feed", lambda: TITLE in feed(url), 150)
            wait_for("the alert", lambda: bool(alerts_to(smtp_server, JOURNALIST, TITLE)), 60)
            assert datetime.now(UTC) >= lift
            [alert] = alerts_to(smtp_server, JOURNALIST, TITLE)
            assert LEAD in alert.get_body(preferencelist=("plain",)).get_content()

            # 7. An edit, in the audit log with the old and the new lead; then the retraction.
            page.goto(f"{url}{release_path}")
            expect(page.locator(".about .status")).to_have_text("opublikowany")
            public_url = page.locator(".about a[href^='http']").get_attribute("href")
            assert public_url is not None and TITLE in httpx.get(public_url).text
            page.locator("#summary").fill(NEW_LEAD)
            page.get_by_role("button", name="Zapisz zmiany").click()
            page.wait_for_url("**?done=saved")
            expect(page.get_by_role("status")).to_contain_text("Zmiany zapisane")
            change = page.locator(".audit-log tr").filter(has=page.locator("th", has_text="summary")).first
            expect(change.locator("td").nth(0)).to_have_text(LEAD)
            expect(change.locator("td").nth(1)).to_have_text(NEW_LEAD)
            check(page, "edited")
            page.get_by_role("link", name="Wycofaj komunikat").click()
            page.wait_for_url(f"**{release_path}/retract")
            expect(page.locator("p.warning")).to_contain_text(TITLE)
            check(page, "retract")
            page.get_by_role("button", name="Tak, wycofaj").click()
            page.wait_for_url(f"**{release_path}?done=retracted")
            expect(page.get_by_role("status")).to_contain_text("Komunikat wycofany")
            expect(page.locator(".about .status")).to_have_text("wycofany")
            check(page, "retracted")
            wait_for("the release to leave the feed", lambda: TITLE not in feed(url), 30)
            assert httpx.get(public_url).status_code in (404, 410)

            # 8. Sign out.
            page.get_by_role("button", name="Wyloguj").click()
            page.wait_for_url("**/desk/login?out=1")
            expect(page.get_by_role("status")).to_contain_text("Wylogowano")
            page.goto(f"{url}/desk/releases")
            assert urlsplit(page.url).path == "/desk/login"
        finally:
            browser.close()
    print(f"desk walk: {time.monotonic() - started:.0f} s, pages checked: {check.pages}")
    assert console_errors == []  # nothing refused by the Content-Security-Policy, nothing missing


def test_the_english_desk_is_readable_on_a_phone(chromium_path: Path, desk: tuple[str, Store]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, _ = desk
    check = Checker(first=30)  # after the walk's numbers, so both tests' screenshots sort apart
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=PHONE)
            page.goto(f"{url}/desk/login?lang=en")
            assert page.evaluate("document.documentElement.lang") == "en"
            expect(page.locator("h1")).to_have_text("Sign in to the newsroom desk")
            check(page, "en-sign-in")
            page.get_by_label("E-mail address").fill(EDITOR)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.goto(f"{url}/desk/releases?lang=en")
            expect(page.locator("h1")).to_have_text("Releases")
            expect(page.get_by_role("link", name="New release")).to_be_visible()
            check(page, "en-releases")
        finally:
            browser.close()
