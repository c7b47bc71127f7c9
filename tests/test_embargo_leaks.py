"""Never a leak (issue 12): every byte the service hands out before an embargo lifts, searched for every
identifying string of the embargoed release, in every escaped form it could take.

One newsroom, with public releases and one release under embargo shared early with verified journalists
(categories, an attachment, a summary, an event). Before the lift the test builds the outputs, pings a real
local WebSub hub, serves the real app on uvicorn, crawls it from the front page, asks the app's own paths
(health, metrics, the admin API without its token), fetches the personal feeds of everyone who is not a
verified journalist, plans the alerts and digests due and delivers them to a real SMTP sink. Nothing of the
release may be in any of it. At the lift the same collection must hold it, so the search cannot pass by
looking in the wrong place.
"""

from __future__ import annotations

import asyncio
import gzip
import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import pytest

from newsroom_feed import planner
from newsroom_feed.mail.delivery import deliver
from newsroom_feed.models import Release, ReleaseInput, iso
from newsroom_feed.people import journalists, subscriptions
from newsroom_feed.settings import Settings
from newsroom_feed.site.websub import ping_hubs
from newsroom_feed.store import journalists as journalist_rows
from newsroom_feed.store.audit import OPERATOR
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app, personal

from .conftest import make_settings
from .mail_helpers import smtp_settings
from .smtp_server import SmtpServer
from .web.test_web_websub import Hub
from .web_helpers import serve

#: 10:00 in Warsaw on 10 December 2026: when the embargo lifts.
LIFT = datetime.fromisoformat("2026-12-10T10:00:00+01:00")
AFTER_LIFT = LIFT + timedelta(seconds=1)
FEED_NAMES = ("rss.xml", "atom.xml", "feed.json")
#: Characters that HTML, XML and JSON each escape, and Polish letters that JSON may write as \\u escapes.
TITLE = "Odkrycie „Kwazar-Łęgi” & <nowa> gwiazda nad Wartą"
SUMMARY = 'Zespół z Żółtego Pulsaru ogłosi "Xylofon-Omega": źródło sygnałów sprzed 9 mld lat.'
BODY = "Pełny opis w raporcie **Wolframowym** – materiał zastrzeżony."
ATTACHMENT = "https://pliki.example.pl/zastrzezone/raport-bazaltowy-2026.pdf?wersja=2&jezyk=pl"
LOCATION = "Poznań, Centrum Cyrkonowe, ul. Głogowska 14"
ONLINE = "https://spotkanie.example.pl/transmisja-szafirowa"
#: A word of each field no other release uses, looked for in any case: what survives truncation.
WORDS = ("kwazar", "xylofon", "wolframow", "bazaltow", "cyrkonow", "szafirow")
#: The base URL of the outputs (tests.conftest.make_settings).
BASE = "https://prasa.example.pl"
#: How many addresses a crawl follows at most; the newsroom has a few dozen.
CRAWL_LIMIT = 400


class Clock:
    """The app's "now", moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Newsroom:
    """The store, the settings the service runs with, the sink and hub it talks to, who is subscribed."""

    store: Store
    settings: Settings
    smtp: SmtpServer
    hub: Hub
    secret: Release
    #: Subscribers by role: "reader" (immediate alerts), "digest" (daily), "applicant" (not verified),
    #: "revoked", "verified", "revoked late" (verified until a test revokes them).
    people: dict[str, int] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def hub() -> Iterator[Hub]:
    with Hub() as running:
        yield running


@pytest.fixture
def newsroom(tmp_path: Path, smtp_server: SmtpServer, hub: Hub, now: datetime) -> Iterator[Newsroom]:
    settings = smtp_settings(make_settings(tmp_path, websub={"hubs": [hub.url]}), smtp_server.port)
    with Store(settings.database, settings.domain, zone=settings.zone) as store:
        store.set_category("kultura", "Kultura")
        store.set_category("nauka", "Nauka")
        store.set_category("transport", "Transport publiczny")
        for hours, title, category in ((6, "Noc Muzeów w Poznaniu", "kultura"),
                                       (4, "Nowe tramwaje na Ratajach", "transport"),
                                       (2, "Stypendia naukowe miasta", "nauka")):  # fmt: skip
            document = {"title": title, "summary": f"{title}: szczegóły.", "categories": [category],
                        "published_at": iso(now - timedelta(hours=hours))}  # fmt: skip
            store.add_release(ReleaseInput.parse(document, store.zone), now - timedelta(hours=hours))
        people = {
            "reader": enrol(store, settings, now, "czytelnik@portal.example.pl", "immediate"),
            "digest": enrol(store, settings, now, "poranny@radio.example.pl", "daily"),
            "applicant": enrol(
                store, settings, now, "kandydatka@tv.example.pl", "immediate", journalist="applied"
            ),
            "revoked": enrol(
                store, settings, now, "odwolany@gazeta.example.pl", "daily", journalist="revoked"
            ),
            "verified": enrol(
                store, settings, now, "zaufana@agencja.example.pl", "weekly", journalist="verified"
            ),
            "revoked late": enrol(
                store, settings, now, "pozniej@portal.example.pl", "immediate", journalist="verified"
            ),
        }
        secret = store.add_release(ReleaseInput.parse(SECRET, store.zone), now)
        emails = {role: subscriptions.get_subscriber(store, sid).email for role, sid in people.items()}
        yield Newsroom(store, settings, smtp_server, hub, secret, people, emails)


SECRET = {
    "title": TITLE,
    "summary": SUMMARY,
    "body": BODY,
    "categories": ["kultura", "nauka"],
    "attachments": [
        {
            "url": ATTACHMENT,
            "title": "Raport bazaltowy (PDF)",
            "mime_type": "application/pdf",
            "length": 183422,
        }
    ],
    "embargo_until": iso(LIFT),
    "early_access": True,
    "event": {"start": "2026-12-12T18:00:00+01:00", "location": LOCATION, "online_url": ONLINE},
}


def enrol(
    store: Store, settings: Settings, now: datetime, email: str, frequency: str, journalist: str | None = None
) -> int:
    """A confirmed subscriber of kultura and nauka; a journalist applied, verified (terms accepted), or
    verified and then revoked, as the desk's buttons leave them."""
    data = {"email": email, "categories": ["kultura", "nauka"], "frequency": frequency,
            "kind": "journalist" if journalist else "other", "organization": "Redakcja"}  # fmt: skip
    someone = subscriptions.add_subscriber(store, data, now)
    if journalist:
        with store.transaction():
            journalist_rows.set_application(store, someone.id, "https://redakcja.example.pl/autor", None)
    if journalist in ("verified", "revoked"):
        journalists.verify(store, settings, someone.id, now, OPERATOR, terms_accepted=True)
    if journalist == "revoked":
        journalists.revoke(store, someone.id, now, OPERATOR)
    return someone.id


# == what is searched for ==========================================================================


@dataclass(frozen=True)
class Needle:
    """One identifying string: found literally (after decoding), or by a pattern."""

    name: str
    pattern: re.Pattern[str]


def needles(release: Release) -> list[Needle]:
    """Every identifying string of the release, and a distinctive word of each field in any case."""
    assert release.uid and release.slug and release.number
    literal = {
        "title": TITLE, "summary": SUMMARY, "attachment URL": ATTACHMENT, "event location": LOCATION,
        "event online URL": ONLINE, "slug": release.slug,
    }  # fmt: skip
    found = [Needle(name, re.compile(re.escape(collapse(value)))) for name, value in literal.items()]
    # The uid and the number end in digits that another release's may continue (release/4, release/41).
    found.append(Needle("uid", re.compile(re.escape(release.uid) + r"(?!\d)")))
    found.append(Needle("number", re.compile(r"(?<!\d)" + re.escape(release.number) + r"(?!\d)")))
    found += [Needle(f"word {word!r}", re.compile(word, re.IGNORECASE)) for word in WORDS]
    return found


def collapse(text: str) -> str:
    """Runs of white space as one space: mail and pages may wrap a long line anywhere."""
    return " ".join(text.split())


_JSON_ESCAPES = re.compile(r"(?:\\u[0-9a-fA-F]{4})+")


def json_unescaped(text: str) -> str:
    """JSON's escapes undone where they stand (\\u0141, surrogate pairs, \\" and \\/), leaving the rest of
    the text as it is, so a JSON string inside a page or a feed reads as its value."""
    text = text.replace('\\"', '"').replace("\\/", "/")
    return _JSON_ESCAPES.sub(
        lambda found: bytes.fromhex(found.group(0).replace("\\u", "")).decode("utf-16-be", "replace"), text
    )


def readings(data: bytes) -> list[str]:
    """The text of ``data`` as each reader would take it: raw, with HTML/XML entities (once and twice),
    JSON escapes and percent-encoding undone, and those combined; iCalendar's folding and escapes undone;
    white space collapsed."""
    raw = data.decode("utf-8", "replace")
    unescaped = html.unescape(raw)
    # Twice: an HTML title inside XML (Atom's type="html", RSS's <title>) is escaped once more.
    views = {raw, unescaped, html.unescape(unescaped), json_unescaped(raw), unquote(raw)}
    views |= {html.unescape(json_unescaped(raw)), json_unescaped(unescaped)}
    views |= {unquote(view) for view in list(views)}
    views.add(ics_unescaped(data))
    return [collapse(view) for view in views]


def ics_unescaped(data: bytes) -> str:
    """iCalendar's folded lines joined (a fold may split a character's bytes, so before decoding) and
    its text escapes (\\, \\; \\n \\\\) undone (RFC 5545 sections 3.1 and 3.3.11)."""
    text = data.replace(b"\r\n ", b"").replace(b"\r\n\t", b"").decode("utf-8", "replace")
    return re.sub(r"\\([,;nN\\])", lambda found: "\n" if found.group(1) in "nN" else found.group(1), text)


def search(collected: dict[str, bytes], release: Release) -> dict[str, list[str]]:
    """Where each identifying string was found: needle name -> sources."""
    wanted = needles(release)
    found: dict[str, list[str]] = {}
    for source, data in collected.items():
        views = readings(data)
        for needle in wanted:
            if any(needle.pattern.search(view) for view in views):
                found.setdefault(needle.name, []).append(source)
    return found


# == what the service hands out ====================================================================


def public_files(settings: Settings) -> dict[str, bytes]:
    """Every file of the public directory (gzip ones also unpacked), and the list of their names."""
    collected: dict[str, bytes] = {}
    for path in sorted(settings.public_dir.rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(settings.public_dir).as_posix()
        data = path.read_bytes()
        collected[f"file {name}"] = data
        if name.endswith(".gz"):
            collected[f"file {name} (unpacked)"] = gzip.decompress(data)
    collected["file names"] = "\n".join(name.removeprefix("file ") for name in collected).encode()
    return collected


_LINK = re.compile(r"""(?:href|src|action|url)\s*=\s*["']([^"'<>\s]+)["']""", re.IGNORECASE)
_ABSOLUTE = re.compile(re.escape(BASE) + r"""(/[^\s"'<>\\)\]]*)""")
#: Paths the app answers itself or the issue names, asked for even if nothing links to them.
SEEDS = (
    "/", "/robots.txt", "/sitemap.xml", "/sitemap_index.xml", "/feeds/events.ics", "/events/",
    "/subscribe", "/subscribe?lang=en", "/journalists/apply", "/journalists/apply?lang=en", "/desk/",
    "/desk/login", "/desk/releases", "/desk/journalists", "/_web/web.css",
)  # fmt: skip


def links_in(data: bytes, here: str) -> set[str]:
    """Same-site paths a page, feed or mail points at: attributes, and absolute addresses anywhere."""
    text = html.unescape(json_unescaped(data.decode("utf-8", "replace")))
    found = set()
    for target in _LINK.findall(text):
        if target.startswith(BASE):
            found.add(target[len(BASE) :] or "/")
        elif not urlsplit(target).scheme and not target.startswith(("//", "#")):
            found.add(urljoin(here, target))
    found.update(_ABSOLUTE.findall(text))
    return {path.split("#", 1)[0] for path in found if path}


def crawl(client: httpx.Client, seeds: list[str]) -> dict[str, bytes]:
    """Every answer reachable from ``seeds`` by following same-site links (each path once)."""
    collected: dict[str, bytes] = {}
    todo = list(dict.fromkeys(seeds))
    seen = set(todo)
    while todo:
        path = todo.pop(0)
        assert len(seen) <= CRAWL_LIMIT, f"the crawl found more than {CRAWL_LIMIT} addresses"
        response = client.get(path)
        collected[f"GET {path} ({response.status_code})"] = headers_and_body(response)
        if response.is_redirect and "location" in response.headers:
            target = response.headers["location"]
            found = {target[len(BASE) :] if target.startswith(BASE) else urljoin(path, target)}
        else:
            found = links_in(response.content, path)
        for target in sorted(found - seen):
            if urlsplit(target).scheme or not target.startswith("/"):
                continue
            seen.add(target)
            todo.append(target)
    return collected


def headers_and_body(response: httpx.Response) -> bytes:
    head = "".join(f"{name}: {value}\n" for name, value in response.headers.items())
    return head.encode() + b"\n" + response.content


def app_paths(newsroom: Newsroom) -> list[str]:
    """The app's own paths and every feed, whether or not a page links to them."""
    secret = newsroom.secret
    categories = [category.slug for category in newsroom.store.categories()]
    feeds = [f"/feeds/{name}" for name in FEED_NAMES]
    feeds += [f"/feeds/{slug}/{name}" for slug in categories for name in (*FEED_NAMES, "events.ics")]
    guesses = [f"/releases/{secret.slug}/", f"/releases/{secret.slug}/event.ics", f"/releases/{secret.slug}",
               f"/desk/releases/{secret.id}", f"/desk/releases/{secret.id}/preview"]  # fmt: skip
    return ["/healthz", "/metrics", *feeds, *guesses]


def api_answers(client: httpx.Client, release: Release) -> dict[str, bytes]:
    """The admin API asked without its token, and with a wrong one."""
    collected = {}
    paths = ["/api/releases", "/api/releases?status=embargoed", "/api/openapi.json", "/api/subscribers",
             "/api/outbox"]  # fmt: skip
    paths += [f"/api/releases/{ref}" for ref in (release.id, release.uid, release.slug, release.number)]
    for path in paths:
        for label, headers in (("no token", {}), ("wrong token", {"Authorization": "Bearer nie-ten"})):
            response = client.get(path, headers=headers)
            assert response.status_code == 401, (path, response.status_code)
            collected[f"GET {path} ({label}, {response.status_code})"] = headers_and_body(response)
    return collected


def personal_feeds(client: httpx.Client, newsroom: Newsroom, roles: tuple[str, ...]) -> dict[str, bytes]:
    collected = {}
    for role in roles:
        token = personal.feed_token(newsroom.store, newsroom.people[role])
        for name in FEED_NAMES:
            response = client.get(f"/my/{token}/{name}")
            assert response.status_code == 200, (role, name, response.text)
            collected[f"personal feed of {role} {name}"] = headers_and_body(response)
    return collected


def mail_readings(message: EmailMessage) -> bytes:
    """A message's decoded headers (RFC 2047 undone) and each part's decoded content (quoted-printable
    and base64 undone, charset applied), to be searched beside its raw bytes."""
    lines = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.is_multipart():
            continue
        content = part.get_content()
        lines.append(content if isinstance(content, str) else content.decode("utf-8", "replace"))
        lines.append(str(part.get_filename() or ""))
    return "\n".join(lines).encode()


def mail_to(newsroom: Newsroom, roles: tuple[str, ...]) -> dict[str, bytes]:
    """Each message the sink received for these subscribers: raw and decoded."""
    addresses = {newsroom.emails[role]: role for role in roles}
    collected = {}
    for number, received in enumerate(newsroom.smtp.received):
        roles_of = [addresses[rcpt] for rcpt in received.recipients if rcpt in addresses]
        if not roles_of:
            continue
        kind = received.message["X-Newsroom-Kind"]
        label = f"mail {number} ({kind}) to {', '.join(roles_of)}"
        collected[f"{label}, raw"] = received.data
        collected[f"{label}, decoded"] = mail_readings(received.message)
    return collected


def send_mail(newsroom: Newsroom, now: datetime) -> None:
    """What the daemon would do at ``now``: plan the digests due, deliver every row that is due."""
    for frequency in ("daily", "weekly"):
        planner.plan_digest(newsroom.store, newsroom.settings, frequency, now)
    asyncio.run(deliver(newsroom.store, newsroom.settings, clock=lambda: now))


@dataclass
class HandedOut:
    """What the service handed out at one moment: where -> bytes, apart from what is the verified
    journalist's to have before the lift (her personal feeds, her early copy and notices about it)."""

    everything: dict[str, bytes]
    verified: dict[str, bytes]
    mails: int


#: Who is not a verified journalist: everything they get is searched.
NOT_VERIFIED = ("reader", "digest", "applicant", "revoked", "revoked late")


def build_and_ping(newsroom: Newsroom, now: datetime) -> None:
    """The daemon's build at ``now``: the outputs, the alerts (and early copies) it plans, the hub pings."""
    report = planner.build(newsroom.store, newsroom.settings, now)
    asyncio.run(ping_hubs(newsroom.settings, list(report.changed_feeds)))


def hand_out(newsroom: Newsroom, now: datetime) -> HandedOut:
    """Build, ping, serve, crawl and send at ``now`` as the daemon would, and collect all of it: the files
    and answers as they are at ``now``, every ping the hub and every mail the sink has had so far."""
    settings = newsroom.settings
    build_and_ping(newsroom, now)
    collected = public_files(settings)
    with serve(create_app(settings, clock=Clock(now))) as server, httpx.Client(base_url=server.url) as client:
        send_mail(newsroom, now)
        mail = mail_to(newsroom, NOT_VERIFIED)
        seeds = [*SEEDS, *app_paths(newsroom)]
        for source, data in mail.items():
            if source.endswith("decoded"):
                seeds += sorted(links_in(data, "/"))  # unsubscribe, preferences, release pages
        collected |= crawl(client, seeds)
        collected |= api_answers(client, newsroom.secret)
        collected |= personal_feeds(client, newsroom, NOT_VERIFIED)
        verified = personal_feeds(client, newsroom, ("verified",))
        collected["GET /metrics (after the crawl)"] = client.get("/metrics").content
    collected |= mail
    # Her early copy and the notices about it are hers to have; her alerts and digests are as anyone's.
    for source, data in mail_to(newsroom, ("verified",)).items():
        early = "(early)" in source or "(notice)" in source
        (verified if early else collected)[source] = data
    for number, ping in enumerate(newsroom.hub.pings):
        collected[f"WebSub ping {number}"] = json.dumps(ping, ensure_ascii=False).encode()
    return HandedOut(collected, verified, len(mail))


# == the tests =====================================================================================


def test_nothing_the_service_hands_out_before_the_lift_names_the_embargoed_release(
    newsroom: Newsroom, now: datetime
) -> None:
    # The build queues the early copies for both verified journalists; one loses access before the
    # sender runs, and a revocation takes effect at once: the copy queued for them must not go.
    build_and_ping(newsroom, now)
    journalists.revoke(newsroom.store, newsroom.people["revoked late"], now, OPERATOR)
    before = hand_out(newsroom, now)
    assert search(before.everything, newsroom.secret) == {}
    assert "title" in search(before.verified, newsroom.secret)  # the early copy went, to her only
    # Not vacuous: the collection holds the public releases, in pages, feeds, mail and the personal feeds.
    sources = " ".join(search_title(before.everything, "Stypendia naukowe miasta"))
    for kind in ("file feeds/rss.xml", "GET /feeds/atom.xml", "GET /releases/", "mail", "personal feed of"):
        assert kind in sources, kind
    assert before.mails >= 3  # alerts of the public releases to the reader and the applicant, a digest

    # The embargo moves an hour later (a notice to whoever had it), then the release is withdrawn
    # before the lift (a notice again): still nothing of it for anyone else.
    moved = now + timedelta(minutes=10)
    newsroom.store.update_release(
        newsroom.secret.id, {"embargo_until": iso(LIFT + timedelta(hours=1))}, moved
    )
    assert search(hand_out(newsroom, moved).everything, newsroom.secret) == {}
    withdrawn = now + timedelta(minutes=20)
    newsroom.store.retract_release(newsroom.secret.id, withdrawn)
    after = hand_out(newsroom, withdrawn)
    assert search(after.everything, newsroom.secret) == {}
    notices = [source for source in after.verified if "(notice)" in source and source.endswith("decoded")]
    assert len(notices) == 2, sorted(after.verified)  # moved, withdrawn: the engine did run


def test_the_verified_journalists_feed_had_it_before_the_lift_and_everyone_has_it_after(
    newsroom: Newsroom, now: datetime
) -> None:
    before = hand_out(newsroom, now)
    found = search(before.verified, newsroom.secret)
    assert {"title", "uid", "summary"} <= set(found), found
    where = " ".join(found["title"])
    assert "personal feed of verified atom.xml" in where and "(early) to verified" in where, where
    after = hand_out(newsroom, AFTER_LIFT)
    found = search(after.everything, newsroom.secret)
    for name in ("title", "slug", "uid", "number", "summary", "attachment URL", "event location"):
        assert name in found, (name, sorted(found))
    where = " ".join(found["title"])
    everywhere = ("file feeds/rss.xml", "GET /feeds/kultura/atom.xml", "GET /releases/",
                  "personal feed of reader", "personal feed of revoked", "(alert) to reader",
                  "(digest) to digest")  # fmt: skip
    for kind in everywhere:
        assert kind in where, (kind, found["title"])
    assert any(source.startswith("WebSub ping") for source in after.everything)


def test_saving_or_editing_an_embargoed_release_changes_no_public_file_and_pings_no_hub(
    newsroom: Newsroom, now: datetime
) -> None:
    """A ping says a feed changed: for a release under embargo nothing public may change, so none goes."""
    store, settings = newsroom.store, newsroom.settings
    planner.build(store, settings, now)
    files = public_files(settings)
    later = now + timedelta(minutes=5)
    store.update_release(newsroom.secret.id, {"summary": SUMMARY + " Uzupełnienie."}, later)
    another = {**SECRET, "title": "Drugi komunikat pod embargiem", "categories": ["transport"]}
    store.add_release(ReleaseInput.parse(another, store.zone), later)
    report = planner.build(store, settings, later)
    assert (report.written, report.removed, report.changed_feeds) == ((), (), ())
    asyncio.run(ping_hubs(settings, list(report.changed_feeds)))
    assert newsroom.hub.pings == []
    assert public_files(settings) == files


def search_title(collected: dict[str, bytes], title: str) -> list[str]:
    pattern = re.compile(re.escape(title))
    return [source for source, data in collected.items() if any(map(pattern.search, readings(data)))]
