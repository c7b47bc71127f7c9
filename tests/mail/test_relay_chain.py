"""The whole mail chain with real parts on loopback: the sender hands mail to Debian's Postfix (the relay),
Postfix carries it to the city's mail server (aiosmtpd), which refuses or defers some mailboxes after
Postfix accepted the message; Postfix's own DSNs come back to the VERP address and land in a Dovecot
mailbox, `bounces fetch` reads them over IMAP. DKIM is checked after the relay by OpenDKIM."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from newsroom_feed.cli import main
from newsroom_feed.mail import outbox
from newsroom_feed.mail.bounces import list_reports
from newsroom_feed.mail.delivery import deliver
from newsroom_feed.models import utcnow
from newsroom_feed.people.subscriptions import add_subscriber as subscribe
from newsroom_feed.people.subscriptions import consent_history, get_subscriber
from newsroom_feed.planner import announce
from newsroom_feed.settings import Settings
from newsroom_feed.store import outbox as outbox_rows
from newsroom_feed.store.database import Store

from ..conftest import DKIM_DOMAIN, DKIM_SELECTOR, make_settings
from ..mail_helpers import add_release, add_subscriber
from ..mail_servers import (
    DOVECOT,
    NSD,
    OPENDKIM_TESTMSG,
    POSTFIX,
    CityMailServer,
    Dovecot,
    Postfix,
    namespaces_allowed,
    running_dovecot,
    verify_with_opendkim,
)
from ..smtp_server import Received
from ..test_daemon import wait_until
from .test_bounces import arf_report, original_headers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not POSTFIX.exists(), reason="needs Debian's Postfix: apt-get install postfix"),
    pytest.mark.skipif(not DOVECOT.exists(), reason="needs Debian's Dovecot: apt-get install dovecot-imapd"),
]

#: The newsroom's domain: From, the bounce address and the DKIM key; the relay calls itself mail.<it>.
DOMAIN = DKIM_DOMAIN
BOUNCES = f"bounces@{DOMAIN}"
SELECTOR = DKIM_SELECTOR
ANIA = "ania@gmina.example.pl"
ZENON = "zenon@gmina.example.pl"
#: Postfix keeps a deferred message this long, then returns it: seconds here, days in real life.
QUEUE_LIFETIME = 3


@dataclass
class Chain:
    postfix: Postfix
    city: CityMailServer


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    """One Postfix instance and the city's server behind it for the module; the tests take turns."""
    if os.geteuid() != 0:
        pytest.skip("Postfix's master runs as root (as in the CI container)")
    city = CityMailServer(DOMAIN).start()
    # Postfix's daemons run as `postfix` and must reach the queue: not under pytest's 0700 tmp_path.
    directory = Path(tempfile.mkdtemp(prefix="newsroom-postfix-"))
    directory.chmod(0o755)
    postfix = Postfix(directory, city.port, myhostname=f"mail.{DOMAIN}", queue_lifetime=QUEUE_LIFETIME)
    try:
        postfix.start()
        yield Chain(postfix, city)
    finally:
        master = postfix.master_pid()
        postfix.stop()
        city.stop()
        shutil.rmtree(directory, ignore_errors=True)
        assert master is None or not Path(f"/proc/{master}").exists(), "Postfix's master still runs"


@pytest.fixture
def mailbox(chain: Chain) -> Iterator[Dovecot]:
    """The bounce mailbox (Dovecot) the city's server delivers mail for the newsroom's domain into; the
    relay's queue is empty when the test ends, so nothing of it reaches the next test."""
    with running_dovecot() as server:

        def append(data: bytes) -> None:
            with server.client() as box:
                box.append(data, "INBOX")

        chain.city.forget()
        chain.city.deliver_local = append
        try:
            yield server
            wait_until(chain.postfix.queue_is_empty, 20.0, 0.1)
        finally:
            chain.city.deliver_local = None
            chain.city.refusals.clear()


def sending(tmp_path: Path, chain: Chain, key: Path) -> Settings:
    """The sender as an operator configures it: Postfix as its relay, VERP, DKIM on."""
    return make_settings(
        tmp_path,
        smtp={"host": "127.0.0.1", "port": chain.postfix.port, "rate_per_second": 10_000.0},
        mail={"from_address": f"prasa@{DOMAIN}"},
        dkim={"selector": SELECTOR, "private_key_file": key},
        bounces={"address": BOUNCES},
        outbox={"bounce_after": 1},
    )


def fetching(monkeypatch: pytest.MonkeyPatch, settings: Settings, mailbox: Dovecot, **more: str) -> None:
    """The environment `newsroom-feed bounces fetch` reads: the same store and secret, Dovecot's IMAP."""
    for name, value in {
        "NEWSROOM_DATABASE": str(settings.database),
        "NEWSROOM_PUBLIC_DIR": str(settings.public_dir),
        "NEWSROOM_BASE_URL": "https://prasa.example.pl",
        "NEWSROOM_SECRET_KEY": "test-secret-key-not-for-production",
        "NEWSROOM_MAIL__FROM_ADDRESS": f"prasa@{DOMAIN}",
        "NEWSROOM_BOUNCES__ADDRESS": BOUNCES,
        "NEWSROOM_BOUNCES__IMAP__HOST": "127.0.0.1",
        "NEWSROOM_BOUNCES__IMAP__PORT": str(mailbox.port),
        "NEWSROOM_BOUNCES__IMAP__USERNAME": mailbox.username,
        "NEWSROOM_BOUNCES__IMAP__PASSWORD": mailbox.password,
        "NEWSROOM_BOUNCES__IMAP__SECURITY": "none",
        "NEWSROOM_OUTBOX__BOUNCE_AFTER": "1",
        **more,
    }.items():
        monkeypatch.setenv(name, value)


def alert(store: Store, settings: Settings, title: str) -> None:
    """A release becomes visible; its alerts are planned as the daemon plans them, and sent to Postfix."""
    now = utcnow()
    add_release(store, now, title)
    announce(store, settings, now)
    report = asyncio.run(deliver(store, settings))
    assert report.failed == 0 and report.errors == [], "Postfix accepts every message"


def inbox(mailbox: Dovecot, count: int, timeout: float) -> list[bytes]:
    """The messages in the bounce mailbox once there are ``count`` of them."""
    wait_until(lambda: mailbox.folder_sizes("INBOX")["INBOX"] >= count, timeout, 0.1)
    with mailbox.client() as box:
        return [message.obj.as_bytes() for message in box.fetch(mark_seen=False)]


def postfix_dsn_about(raw: bytes, recipient: str) -> None:
    """``raw`` is a DSN written by our Postfix, about ``recipient``, to a VERP form of the bounce address."""
    assert b"From: Mail Delivery System <MAILER-DAEMON@mail.zmp.example.pl>" in raw
    assert re.search(rb"\nTo: bounces\+[\w.-]+@zmp\.example\.pl\r?\n", raw)
    assert b"report-type=delivery-status" in raw and b"X-Postfix-Queue-ID: " in raw
    assert f"Final-Recipient: rfc822; {recipient}".encode() in raw


def test_a_mailbox_the_city_refuses_after_the_relay_accepted_is_bounced_and_alerted_no_more(
    chain: Chain,
    mailbox: Dovecot,
    store: Store,
    dkim_key: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = sending(tmp_path, chain, dkim_key[0])
    chain.city.refusals[ZENON] = f"550 5.1.1 <{ZENON}>: Recipient address rejected: User unknown"
    add_subscriber(store, ANIA)
    add_subscriber(store, ZENON)
    alert(store, settings, "Seminarium o transporcie publicznym")
    assert [row.status for row in outbox.list_rows(store)] == ["sent", "sent"], "Postfix took both"

    (dsn,) = inbox(mailbox, 1, 20.0)
    postfix_dsn_about(dsn, ZENON)
    assert b"Action: failed\nStatus: 5.1.1" in dsn.replace(b"\r\n", b"\n")
    fetching(monkeypatch, settings, mailbox)
    assert main(["bounces", "fetch"]) == 0
    assert "Read 1 message" in capsys.readouterr().out

    assert get_subscriber(store, ZENON).status == "bounced"
    assert get_subscriber(store, ANIA).status == "active"
    [report] = list_reports(store)
    assert (report.kind, report.recipient, report.status) == ("hard", ZENON, "5.1.1")
    assert [event.event for event in consent_history(store, ZENON)][-1] == "bounce"

    alert(store, settings, "Rada Miasta zbiera się w czwartek")
    wait_until(lambda: len(chain.city.messages_to(ANIA)) == 2, 15.0, 0.05)
    assert sorted((row.email, row.status) for row in outbox.list_rows(store)) == [
        (ANIA, "sent"),
        (ANIA, "sent"),
        (ZENON, "sent"),
    ], "no alert planned for the bounced subscriber"
    assert chain.city.attempts[ZENON] == 1


def test_a_mailbox_that_stays_full_until_the_relay_gives_up_is_a_soft_bounce(
    chain: Chain,
    mailbox: Dovecot,
    store: Store,
    dkim_key: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Postfix defers on 451, retries, and after its queue lifetime returns the message with a 4.x.x
    status and ``Action: failed``; with ``soft_limit = 1`` that one soft bounce makes the subscriber
    bounced."""
    settings = sending(tmp_path, chain, dkim_key[0])
    chain.city.refusals[ZENON] = f"451 4.2.2 <{ZENON}>: Mailbox full, try again later"
    add_subscriber(store, ANIA)
    add_subscriber(store, ZENON)
    alert(store, settings, "Seminarium o transporcie publicznym")

    (dsn,) = inbox(mailbox, 1, QUEUE_LIFETIME + 20.0)
    postfix_dsn_about(dsn, ZENON)
    lines = dsn.replace(b"\r\n", b"\n")
    assert b"Action: failed\nStatus: 4.2.2" in lines
    assert chain.city.attempts[ZENON] >= 2, "Postfix deferred and tried again before giving up"
    fetching(monkeypatch, settings, mailbox, NEWSROOM_BOUNCES__SOFT_LIMIT="1")
    assert main(["bounces", "fetch"]) == 0

    [report] = list_reports(store)
    assert (report.kind, report.recipient, report.status) == ("soft", ZENON, "4.2.2")
    assert get_subscriber(store, ZENON).status == "bounced"
    assert get_subscriber(store, ANIA).status == "active"


def test_a_complaint_about_a_relayed_alert_unsubscribes_and_is_in_the_consent_history(
    chain: Chain,
    mailbox: Dovecot,
    store: Store,
    dkim_key: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The provider's ARF report quotes the message as Ania's mailbox received it, Postfix's Received
    header and all."""
    settings = sending(tmp_path, chain, dkim_key[0])
    add_subscriber(store, ANIA)
    add_subscriber(store, ZENON)
    alert(store, settings, "Seminarium o transporcie publicznym")
    (received,) = wait_until(lambda: chain.city.messages_to(ANIA), 15.0, 0.05)
    assert received.data.startswith(b"Received: from ")
    with mailbox.client() as box:
        box.append(arf_report(original_headers(received), recipient=ANIA, mail_from=received.sender), "INBOX")

    fetching(monkeypatch, settings, mailbox)
    assert main(["bounces", "fetch"]) == 0
    assert get_subscriber(store, ANIA).status == "unsubscribed"
    assert get_subscriber(store, ZENON).status == "active"
    last = consent_history(store, ANIA)[-1]
    assert (last.event, last.source) == ("complaint", "arf: poczta.example.com")
    [report] = list_reports(store)
    assert (report.kind, report.recipient) == ("complaint", ANIA)


@pytest.mark.skipif(
    not OPENDKIM_TESTMSG.exists(), reason="needs opendkim-testmsg: apt-get install opendkim-tools"
)
@pytest.mark.skipif(not NSD.exists(), reason="needs Debian's nsd: apt-get install nsd")
def test_every_kind_of_message_verifies_with_opendkim_after_the_relay_carried_it(
    chain: Chain, mailbox: Dovecot, store: Store, dkim_key: tuple[Path, str], tmp_path: Path
) -> None:
    """OpenDKIM (another implementation than ours and dkimpy) looks the key up in DNS, our NSD serving
    the record `dkim keygen` printed, and verifies what reached the city's server; a changed subject
    does not verify, so the check is real."""
    if not namespaces_allowed():
        pytest.skip("opendkim-testmsg asks port 53 only: needs `unshare --net --mount` and iproute2")
    key, zone_line = dkim_key
    settings = sending(tmp_path, chain, key)
    now = utcnow()
    release = add_release(store, now, "Złote Lajki 2026 wręczone – ąćęłńóśźż", categories=["kultura"],
                          body="Treść z **pogrubieniem** i linkiem https://example.pl/?a=1&b=2")  # fmt: skip
    ania = subscribe(store, {"email": ANIA, "name": "Anna Żółć"}, now)
    subscribe(store, {"email": ZENON, "language": "en"}, now, double_opt_in=True)
    rows = [
        (f"alert:{release.uid}", "alert", ania.id, f"[{release.id}]", None),
        ("digest:daily:2026-11-26T07:00:00Z", "digest", ania.id, f"[{release.id}]", None),
    ]
    with store.transaction():
        outbox_rows.insert_new(store, rows, "2000-01-01T00:00:00Z")
    asyncio.run(deliver(store, settings))

    wait_until(lambda: len(chain.city.received) == 3, 15.0, 0.05)
    relayed: dict[str, Received] = {item.message["X-Newsroom-Kind"]: item for item in chain.city.received}
    assert sorted(relayed) == ["alert", "confirmation", "digest"]
    messages = {kind: item.data for kind, item in relayed.items()}
    for data in messages.values():
        assert re.match(rb"Received: from \S+ \(\S+ \[127\.0\.0\.1\]\)\r\n\tby mail\.zmp\.example\.pl "
                        rb"\(Postfix\)", data), data[:200]  # fmt: skip
        assert b"\r\nDKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;" in data
    messages["forged"] = re.sub(
        rb"\r\nSubject: [^\r]*", b"\r\nSubject: Sfalszowany", messages["alert"], count=1
    )
    verdicts = verify_with_opendkim(tmp_path / "opendkim", DOMAIN, zone_line + "\n", messages)
    assert {kind: verdicts[kind] for kind in relayed} == dict.fromkeys(relayed, ""), "all three verify"
    assert verdicts["forged"].endswith("Bad signature"), verdicts["forged"]
