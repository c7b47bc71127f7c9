"""DKIM: every kind of message leaves signed, and an independent implementation (dkimpy) verifies it
with the record `dkim keygen` printed, after the message crossed a real SMTP server."""

from __future__ import annotations

import asyncio
import re
import stat
from datetime import datetime
from pathlib import Path

import dkim as dkimpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsroom_feed.cli import main
from newsroom_feed.mail.compose import Composer
from newsroom_feed.mail.delivery import deliver
from newsroom_feed.mail.dkim import SIGNED_FIELDS, relaxed_body
from newsroom_feed.models import OutboxItem
from newsroom_feed.people.subscriptions import add_subscriber
from newsroom_feed.settings import Settings
from newsroom_feed.store import outbox as outbox_rows
from newsroom_feed.store.database import Store

from ..mail_helpers import add_release, smtp_settings
from ..smtp_server import SmtpServer

SELECTOR = "newsroom2026"


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSROOM_DATABASE", str(settings.database))


@pytest.fixture
def signing(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], cli_env: None
) -> tuple[Settings, bytes]:
    """Settings signing with a key made by `dkim keygen`, and the TXT record it printed."""
    key = tmp_path / "dkim.pem"
    assert main(["dkim", "keygen", "--selector", SELECTOR, "--out", str(key)]) == 0
    printed = capsys.readouterr().out
    name, strings = printed.split(" IN TXT ", 1)
    assert name == f"{SELECTOR}._domainkey.{settings.dkim_domain}."
    record = "".join(re.findall(r'"([^"]*)"', strings)).encode()
    dkim = settings.dkim.model_copy(update={"selector": SELECTOR, "private_key_file": key})
    return settings.model_copy(update={"dkim": dkim}), record


def dns_for(record: bytes, domain: str) -> object:
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{SELECTOR}._domainkey.{domain}.".encode() else None

    return lookup


def test_keygen_writes_an_owner_only_key_and_never_overwrites_one(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], cli_env: None
) -> None:
    key = tmp_path / "klucz.pem"
    assert main(["dkim", "keygen", "--selector", SELECTOR, "--out", str(key)]) == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "v=DKIM1; k=rsa; p=" in capsys.readouterr().out
    before = key.read_bytes()
    assert main(["dkim", "keygen", "--selector", SELECTOR, "--out", str(key)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert key.read_bytes() == before
    assert main(["dkim", "keygen", "--selector", "zły selektor"]) == 2
    assert "--selector" in capsys.readouterr().err


def test_every_kind_of_message_is_signed_and_verifies_after_crossing_a_real_smtp_server(
    signing: tuple[Settings, bytes], store: Store, now: datetime, smtp_server: SmtpServer
) -> None:
    settings, record = signing
    release = add_release(store, now, "Złote Lajki 2026 wręczone – ąćęłńóśźż", categories=["kultura"],
                          body="Treść z **pogrubieniem** i linkiem https://example.pl/?a=1&b=2")  # fmt: skip
    ania = add_subscriber(store, {"email": "ania@example.pl", "name": "Anna Żółć"}, now)
    add_subscriber(store, {"email": "jan@example.pl", "language": "en"}, now, double_opt_in=True)
    rows = [
        (f"alert:{release.uid}", "alert", ania.id, f"[{release.id}]", None),
        ("digest:daily:2026-11-26T07:00:00Z", "digest", ania.id, f"[{release.id}]", None),
    ]
    with store.transaction():
        outbox_rows.insert_new(store, rows, "2000-01-01T00:00:00Z")
    asyncio.run(deliver(store, smtp_settings(settings, smtp_server.port)))
    received = list(smtp_server.received)
    kinds = sorted(message.message["X-Newsroom-Kind"] for message in received)
    assert kinds == ["alert", "confirmation", "digest"]
    for message in received:
        data = message.data
        assert data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
        assert dkimpy.verify(data, dnsfunc=dns_for(record, settings.dkim_domain)), message.message["Subject"]
        signed = re.search(rb"h=([^;]+);", data)
        assert signed is not None
        names = signed.group(1).replace(b"\r\n\t", b"").decode().split(":")
        assert set(names) == set(SIGNED_FIELDS), "every header of DESIGN.md section 5 is signed"


def test_a_changed_subject_or_body_no_longer_verifies_but_a_relays_refolding_does(
    signing: tuple[Settings, bytes], store: Store, now: datetime
) -> None:
    settings, record = signing
    release = add_release(store, now, "Seminarium o transporcie publicznym")
    ania = add_subscriber(store, {"email": "ania@example.pl"}, now)
    item = OutboxItem(1, f"alert:{release.uid}", "alert", ania.id, (release.id,), "pending", 0)
    data = Composer(settings, store, clock=lambda: now).render(item).data
    lookup = dns_for(record, settings.dkim_domain)
    assert dkimpy.verify(data, dnsfunc=lookup)
    relayed = b"Received: from newsroom by relay; Thu, 26 Nov 2026 10:00:00 +0000\r\n" + re.sub(
        rb"\r\nSubject: ", b"\r\nSubject:   ", data, count=1
    )
    assert dkimpy.verify(relayed, dnsfunc=lookup), "relaxed canonicalisation survives re-spacing"
    forged = re.sub(rb"\r\nSubject: [^\r]*", b"\r\nSubject: =?utf-8?q?Sfa=C5=82szowany?=", data, count=1)
    assert not dkimpy.verify(forged, dnsfunc=lookup)
    head, _, body = data.partition(b"\r\n\r\n")
    tampered = head + b"\r\n\r\n" + body.replace(b"Seminarium", b"Seminarion", 1)
    assert tampered != data
    assert not dkimpy.verify(tampered, dnsfunc=lookup)


@given(st.lists(st.sampled_from([b"a", b" ", b"\t", b"\r\n", b"\xc5\x82", b"  "]), max_size=40))
def test_the_fast_body_canonicalisation_is_rfc_6376s_line_by_line_rule(pieces: list[bytes]) -> None:
    body = b"".join(pieces)
    lines = [re.sub(rb"[ \t]+", b" ", line).rstrip(b" ") for line in body.split(b"\r\n")]
    expected = re.sub(rb"(\r\n)+$", b"", b"\r\n".join(lines))
    assert relaxed_body(body) == (expected + b"\r\n" if expected else b"")
