"""`newsroom-feed check --mail` against a real DNS server on loopback (Debian's NSD serving a test zone),
in a good and a broken configuration; the relay's STARTTLS against real SMTP servers; the daemon's
pre-flight at start in the log and in `/healthz`."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from newsroom_feed.cli import main
from newsroom_feed.mail import dkim, preflight
from newsroom_feed.settings import Settings

from .conftest import DKIM_DOMAIN, DKIM_SELECTOR, make_settings
from .mail_servers import Nsd, free_port
from .smtp_server import SmtpServer
from .test_daemon import Daemon, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/usr/sbin/nsd").exists(), reason="needs Debian's nsd: apt-get install nsd"),
]

#: A test zone of our own; email-validator refuses addresses in .test, a special-use name.
DOMAIN = DKIM_DOMAIN
SELECTOR = DKIM_SELECTOR


@pytest.fixture
def nsd(tmp_path: Path) -> Iterator[Nsd]:
    server = Nsd(tmp_path / "nsd", DOMAIN)
    yield server
    server.stop()


def operator_env(monkeypatch: pytest.MonkeyPatch, nameserver: str, key: Path, smtp_port: int) -> None:
    """What the operator sets: the From and bounce addresses in the test zone, the key, the test resolver."""
    monkeypatch.setenv("NEWSROOM_MAIL__FROM_ADDRESS", f"prasa@{DOMAIN}")
    monkeypatch.setenv("NEWSROOM_BOUNCES__ADDRESS", f"bounces@{DOMAIN}")
    monkeypatch.setenv("NEWSROOM_DKIM__SELECTOR", SELECTOR)
    monkeypatch.setenv("NEWSROOM_DKIM__PRIVATE_KEY_FILE", str(key))
    monkeypatch.setenv("NEWSROOM_DNS__NAMESERVERS", nameserver)
    monkeypatch.setenv("NEWSROOM_SMTP__PORT", str(smtp_port))


def good_records(dkim_line: str, *, dmarc: bool = True) -> str:
    policy = f'_dmarc      IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc-reports@{DOMAIN}"' * dmarc
    return f"""@           IN MX  10 mail.{DOMAIN}.
mail        IN A   127.0.0.1
@           IN TXT "v=spf1 ip4:192.0.2.10 -all"
{dkim_line}
{policy}
"""


def findings_of(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, str]]:
    """The JSON findings printed, by their check's first word (SPF, DKIM, DMARC, MX, relay)."""
    printed: list[dict[str, str]] = json.loads(capsys.readouterr().out)
    return {finding["check"].split()[0]: finding for finding in printed}


def test_check_mail_passes_a_domain_that_publishes_every_record_right(
    nsd: Nsd,
    dkim_key: tuple[Path, str],
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key, dkim_line = dkim_key
    nsd.start(good_records(dkim_line))
    operator_env(monkeypatch, f"127.0.0.1:{nsd.port}", key, smtp_server.port)
    assert main(["check", "--mail"]) == 0
    out, err = capsys.readouterr()
    assert "ERROR" not in out
    assert f'ok       SPF {DOMAIN}: "v=spf1 ip4:192.0.2.10 -all"' in out
    assert f"ok       DKIM {SELECTOR}._domainkey.{DOMAIN}: matches the key in {key}" in out
    assert f"ok       DMARC _dmarc.{DOMAIN}: policy p=reject; aligned: DKIM (d={DOMAIN}) and SPF" in out
    assert f"ok       MX {DOMAIN}: mail.{DOMAIN} (10)" in out
    # The test relay offers no STARTTLS: worth a warning, not an error.
    assert f"WARNING  relay 127.0.0.1:{smtp_server.port}: no STARTTLS offered" in out
    assert err.strip() == "0 errors, 1 warning"
    assert smtp_server.received == [], "the pre-flight sends no mail"

    assert main(["check", "--mail", "--json"]) == 0
    found = findings_of(capsys)
    assert [found[name]["level"] for name in ("SPF", "DKIM", "DMARC", "MX")] == ["ok"] * 4


def test_check_mail_names_two_spf_records_a_foreign_dkim_key_and_no_dmarc(
    nsd: Nsd,
    dkim_key: tuple[Path, str],
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key, _ = dkim_key
    other = dkim.generate_key(tmp_path / "other.pem")
    foreign = dkim.zone_line(SELECTOR, DOMAIN, dkim.public_key_record(other))
    nsd.start(
        f"""@           IN MX  10 mail.{DOMAIN}.
mail        IN A   127.0.0.1
@           IN TXT "v=spf1 ip4:192.0.2.10 -all"
@           IN TXT "v=spf1 include:_spf.provider.example -all"
{foreign}
"""
    )
    operator_env(monkeypatch, f"127.0.0.1:{nsd.port}", key, smtp_server.port)
    assert main(["check", "--mail", "--json"]) == 1
    found = findings_of(capsys)
    assert found["SPF"]["level"] == "error"
    assert "2 SPF records" in found["SPF"]["found"] and "permerror" in found["SPF"]["found"]
    assert found["DKIM"]["level"] == "error"
    assert f"does not match the key in {key}" in found["DKIM"]["found"]
    # What to publish instead: the record of the configured key.
    published = dkim.public_key_record(dkim.Signer.from_file(key, DOMAIN, SELECTOR).key)
    assert published[:60] in found["DKIM"]["action"]
    assert found["DMARC"]["level"] == "warning"
    assert "no DMARC record" in found["DMARC"]["found"]
    assert "v=DMARC1; p=none; rua=mailto:" in found["DMARC"]["action"]

    assert main(["check", "--mail"]) == 1
    out, err = capsys.readouterr()
    assert f"ERROR    SPF {DOMAIN}: 2 SPF records" in out
    assert f"ERROR    DKIM {SELECTOR}._domainkey.{DOMAIN}:" in out
    assert err.strip().startswith("2 errors")


def test_check_mail_tells_what_to_publish_when_the_domain_has_no_records(
    nsd: Nsd,
    dkim_key: tuple[Path, str],
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key, dkim_line = dkim_key
    nsd.start("")
    operator_env(monkeypatch, f"127.0.0.1:{nsd.port}", key, smtp_server.port)
    assert main(["check", "--mail", "--json"]) == 1
    found = findings_of(capsys)
    assert found["SPF"]["level"] == "error"
    assert f'publish a TXT record at {DOMAIN}: "v=spf1 ip4:' in found["SPF"]["action"]
    assert "include:" in found["SPF"]["action"]
    assert found["DKIM"]["level"] == "error"
    assert found["DKIM"]["action"] == f"publish: {dkim_line}"
    assert found["MX"]["level"] == "warning"
    assert "bounces cannot reach us" in found["MX"]["found"]


def test_check_mail_counts_an_unreachable_resolver_as_a_finding(
    dkim_key: tuple[Path, str],
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing listens on the port: every lookup is a warning that says so, and the check still ends."""
    key, _ = dkim_key
    operator_env(monkeypatch, f"127.0.0.1:{free_port()}", key, smtp_server.port)
    monkeypatch.setenv("NEWSROOM_DNS__TIMEOUT", "0.5")
    assert main(["check", "--mail", "--json"]) == 0
    found = findings_of(capsys)
    for name in ("SPF", "DKIM", "DMARC", "MX"):
        assert found[name]["level"] == "warning"
        assert found[name]["found"].startswith("cannot look up")


def test_check_json_without_mail_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--json"]) == 2
    assert "--json goes with --mail" in capsys.readouterr().err


# -- the relay ----------------------------------------------------------------------------------------


def self_signed(directory: Path, alt_name: x509.GeneralName | None = None) -> ssl.SSLContext:
    """A server context with a self-signed certificate for 127.0.0.1 (or ``alt_name``), which no public CA
    vouches for; its file is ``relay.crt`` in ``directory``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.zmp.example.pl")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([alt_name or x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (directory / "relay.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "relay.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "relay.crt", directory / "relay.key")
    return context


class StartTlsRelay:
    """aiosmtpd offering STARTTLS with the given certificate, in a loop of its own thread."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    def __enter__(self) -> StartTlsRelay:
        self._thread.start()

        async def listen() -> asyncio.base_events.Server:
            return await self._loop.create_server(
                lambda: SMTP(object(), hostname="relay.zmp.example.pl", tls_context=self.context),
                "127.0.0.1",
                0,
            )

        self._server = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(timeout=10)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


async def test_a_relay_with_a_self_signed_certificate_is_not_trusted(tmp_path: Path) -> None:
    with StartTlsRelay(self_signed(tmp_path)) as relay:
        settings = make_settings(tmp_path, smtp={"port": relay.port, "security": "starttls"})
        (finding,) = await preflight.relay(settings)
    assert finding.level == "error"
    assert finding.found.startswith("certificate not trusted")
    assert "self-signed" in finding.found or "self signed" in finding.found


async def test_a_relay_whose_certificate_names_another_host_is_named(tmp_path: Path) -> None:
    """Trusted (its CA given), yet issued to another name than the one the sender connects to."""
    with StartTlsRelay(self_signed(tmp_path, x509.DNSName("relay.zmp.example.pl"))) as relay:
        settings = make_settings(tmp_path, smtp={"port": relay.port, "security": "starttls"})
        (finding,) = await preflight.relay(settings, cafile=tmp_path / "relay.crt")
    assert finding.level == "error"
    assert finding.found.startswith("certificate not valid for 127.0.0.1")


async def test_a_relay_with_a_trusted_certificate_for_its_name_passes(tmp_path: Path) -> None:
    with StartTlsRelay(self_signed(tmp_path)) as relay:
        settings = make_settings(tmp_path, smtp={"port": relay.port, "security": "starttls"})
        (finding,) = await preflight.relay(settings, cafile=tmp_path / "relay.crt")
    assert finding.level == "ok"
    assert finding.found == "STARTTLS with a certificate valid for 127.0.0.1"


async def test_a_relay_without_starttls_is_named(tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = make_settings(tmp_path, smtp={"port": smtp_server.port, "security": "starttls"})
    (finding,) = await preflight.relay(settings)
    assert finding.level == "error"
    assert finding.found.startswith("no STARTTLS")
    plain = make_settings(tmp_path, smtp={"port": smtp_server.port, "security": "none"})
    (warned,) = await preflight.relay(plain)
    assert warned.level == "warning" and warned.found.startswith("no STARTTLS")


# -- the daemon -----------------------------------------------------------------------------------------


def test_the_daemon_logs_the_pre_flight_and_shows_it_to_admins_in_healthz(
    nsd: Nsd, dkim_key: tuple[Path, str], smtp_server: SmtpServer, settings: Settings, tmp_path: Path
) -> None:
    key, dkim_line = dkim_key
    nsd.start(good_records(dkim_line, dmarc=False))
    env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSROOM_")}
    admin = "test-admin-token-not-for-production"
    env.update(
        NEWSROOM_DATABASE=str(settings.database),
        NEWSROOM_PUBLIC_DIR=str(settings.public_dir),
        NEWSROOM_SECRET_KEY="test-secret-key-not-for-production",
        NEWSROOM_ADMIN_TOKEN=admin,
        NEWSROOM_SMTP__PORT=str(smtp_server.port),
        NEWSROOM_HTTP__PORT="0",
        NEWSROOM_LOG_FORMAT="json",
        NEWSROOM_MAIL__FROM_ADDRESS=f"prasa@{DOMAIN}",
        NEWSROOM_DKIM__SELECTOR=SELECTOR,
        NEWSROOM_DKIM__PRIVATE_KEY_FILE=str(key),
        NEWSROOM_DNS__NAMESERVERS=f"127.0.0.1:{nsd.port}",
    )
    daemon = Daemon(env, tmp_path).start()
    try:
        web = daemon.wait_for("daemon started", 1.0)["web"]

        def healthz() -> dict[str, Any]:
            request = urllib.request.Request(
                f"{web}healthz",
                headers={"authorization": f"Bearer {admin}", "x-forwarded-for": "203.0.113.7"},
            )
            with urllib.request.urlopen(request, timeout=5) as answer:
                report: dict[str, Any] = json.loads(answer.read())
            return report

        mail = wait_until(lambda: healthz()["mail"]["findings"], 15.0, 0.1)
        levels = {finding["check"].split()[0]: finding["level"] for finding in mail}
        assert levels == {"SPF": "ok", "DKIM": "ok", "DMARC": "warning", "MX": "ok", "relay": "warning"}
        warned = [
            e for e in daemon.events if e.get("event") == "mail pre-flight" and e.get("level") == "warning"
        ]
        assert {e["check"].split()[0] for e in warned} == {"DMARC", "relay"}
        assert daemon.stop() == 0
    finally:
        daemon.kill()
