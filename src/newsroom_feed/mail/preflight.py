"""The mail pre-flight: what receiving servers will find in DNS about our mail, and whether the relay
talks TLS with a certificate they would accept; `check --mail` prints it, the daemon logs it at start.

Every lookup goes through dnspython's asyncio resolver with a short timeout, so the daemon can run it
beside its start and cancel it at a stop. A lookup that fails (a timeout, SERVFAIL, no resolver) is a
finding, never an exception: the operator learns what could not be checked along with the rest.

Alignment (DMARC) is judged by domain names alone: one domain aligns with another when it is the same
or a parent or child of it. The organisational domain of RFC 7489 needs the public suffix list, which
this check does without; for the domains a city or a newsroom sends from the two agree.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import aiosmtplib
import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from newsroom_feed.errors import SettingsError
from newsroom_feed.mail import dkim
from newsroom_feed.models import iso
from newsroom_feed.settings import DnsSettings, Settings

Level = Literal["ok", "warning", "error"]

#: OpenSSL's verify codes for a certificate issued to another name: X509_V_ERR_HOSTNAME_MISMATCH and
#: X509_V_ERR_IP_ADDRESS_MISMATCH (the relay given as an address).
_NAME_MISMATCH = (62, 64)
#: How long the relay may take to connect, greet, answer EHLO and finish the TLS handshake.
RELAY_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class MailFinding:
    """One result of the pre-flight: what was checked, what was found there, and what to do about it."""

    level: Level
    check: str
    found: str
    action: str = ""

    def to_json(self) -> dict[str, str]:
        return {"level": self.level, "check": self.check, "found": self.found, "action": self.action}


class PreflightResult:
    """The daemon's pre-flight for `/healthz`: no findings until the run at start has ended.

    Written once by the daemon's loop and read by the web app's threads; the list is replaced whole,
    never changed in place, so a reader sees either nothing or all of it.
    """

    def __init__(self) -> None:
        self.findings: tuple[MailFinding, ...] | None = None
        self.checked_at: datetime | None = None

    def record(self, findings: list[MailFinding], at: datetime) -> None:
        self.checked_at = at
        self.findings = tuple(findings)

    def to_json(self) -> dict[str, Any]:
        findings = None if self.findings is None else [finding.to_json() for finding in self.findings]
        return {"checked_at": iso(self.checked_at) if self.checked_at else None, "findings": findings}


async def run(settings: Settings) -> list[MailFinding]:
    """Look up SPF, DKIM, DMARC and MX, and try the relay's TLS, all at once; findings in that order."""
    try:
        resolver = make_resolver(settings.dns)
    except dns.exception.DNSException as error:
        problem = MailFinding(
            "warning", "DNS", f"no resolver to ask: {error}", "set NEWSROOM_DNS__NAMESERVERS to a resolver"
        )
        return [problem, *await relay(settings)]
    parts: list[Awaitable[list[MailFinding]]] = [
        spf(resolver, settings),
        dkim_record(resolver, settings),
        dmarc(resolver, settings),
        mx(resolver, settings),
        relay(settings),
    ]
    return [finding for found in await asyncio.gather(*parts) for finding in found]


def make_resolver(settings: DnsSettings) -> dns.asyncresolver.Resolver:
    """The system's resolver, or the name servers of NEWSROOM_DNS__NAMESERVERS, with a short timeout.

    :raises dns.exception.DNSException: no name server set and no /etc/resolv.conf to read.
    """
    servers = settings.servers()
    resolver = dns.asyncresolver.Resolver(configure=not servers)
    if servers:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in servers]
    resolver.timeout = resolver.lifetime = settings.timeout
    return resolver


def envelope_domain(settings: Settings) -> str:
    """The domain of the envelope sender (SPF checks it; bounces go there): the bounce address's, else
    the From address's."""
    return _domain_of(str(settings.bounces.address or settings.mail.from_address))


def _domain_of(address: str) -> str:
    return address.rsplit("@", 1)[1].lower()


# -- lookups ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    """What one lookup gave: the records (none when the name or the type is absent), or why it failed."""

    records: list[Any]
    failure: str | None = None


async def _lookup(resolver: dns.asyncresolver.Resolver, name: str, kind: str) -> _Answer:
    try:
        answer = await resolver.resolve(name, kind, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return _Answer([])
    except dns.resolver.LifetimeTimeout:
        return _Answer([], f"no answer within {resolver.lifetime:g} s")
    except dns.resolver.NoNameservers:
        return _Answer([], "every name server failed to answer (SERVFAIL or refused)")
    except dns.exception.DNSException as error:
        return _Answer([], str(error) or error.__class__.__name__)
    return _Answer(list(answer))


async def _txt(resolver: dns.asyncresolver.Resolver, name: str) -> _Answer:
    """TXT records, each as one string: a record's strings are joined with nothing between them
    (RFC 7208 section 3.3, RFC 6376 section 3.6.2.2)."""
    answer = await _lookup(resolver, name, "TXT")
    texts = [b"".join(record.strings).decode("utf-8", "replace") for record in answer.records]
    return _Answer(texts, answer.failure)


def _failed(check: str, name: str, kind: str, failure: str) -> MailFinding:
    action = "look again later; if it stays, check the name servers (NEWSROOM_DNS__NAMESERVERS)"
    return MailFinding("warning", check, f"cannot look up {kind} {name}: {failure}", action)


def _tags(record: str) -> dict[str, str]:
    """``tag=value`` pairs of a DKIM or DMARC record (RFC 6376 section 3.2), names lower-cased."""
    tags = {}
    for part in record.split(";"):
        name, equals, value = part.partition("=")
        if equals:
            tags[name.strip().lower()] = value.strip()
    return tags


# -- SPF ----------------------------------------------------------------------------------------------


async def spf(resolver: dns.asyncresolver.Resolver, settings: Settings) -> list[MailFinding]:
    """The SPF record of the envelope domain: one, and not one that lets anyone send as us."""
    domain = envelope_domain(settings)
    check = f"SPF {domain}"
    answer = await _txt(resolver, domain)
    if answer.failure:
        return [_failed(check, domain, "TXT", answer.failure)]
    records = [
        text for text in answer.records if text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")
    ]
    if not records:
        action = f"publish a TXT record at {domain}: {_spf_suggestion(settings.smtp.host)}"
        return [
            MailFinding(
                "error", check, "no SPF record: receivers cannot tell our relay from a forger", action
            )
        ]
    if len(records) > 1:
        listed = "; ".join(f'"{record}"' for record in records)
        found = (
            f"{len(records)} SPF records ({listed}): a receiver treats that as an error (RFC 7208 permerror)"
        )
        return [MailFinding("error", check, found, "merge them into one v=spf1 record and remove the others")]
    record = records[0]
    terms = record.lower().split()[1:]
    if "+all" in terms or "all" in terms:
        found = f'"{record}" ends in +all: it lets any server on the internet send as {domain}'
        return [MailFinding("error", check, found, "end the record with -all (or ~all while you test)")]
    return [MailFinding("ok", check, f'"{record}"')]


def _spf_suggestion(relay_host: str) -> str:
    """The record to publish, as near to the relay as we can tell from its host setting."""
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(relay_host)
    except ValueError:
        address = None
    if relay_host == "localhost" or (address is not None and address.is_loopback):
        record, note = "v=spf1 ip4:<this server's public address> -all", " (the relay runs here)"
    else:
        mechanism = f"ip{address.version}:{address}" if address is not None else f"a:{relay_host}"
        record, note = f"v=spf1 {mechanism} -all", ""
    provider = '"v=spf1 include:<the SPF domain the provider names> -all"'
    return f'"{record}"{note}; or, when a mail provider relays, {provider}'


# -- DKIM ---------------------------------------------------------------------------------------------


async def dkim_record(resolver: dns.asyncresolver.Resolver, settings: Settings) -> list[MailFinding]:
    """The public key at ``<selector>._domainkey.<domain>`` against the key that signs our mail."""
    path = settings.dkim.private_key_file
    if path is None:
        action = (
            "run `newsroom-feed dkim keygen --selector NAME`, publish the record it prints and set "
            "NEWSROOM_DKIM__PRIVATE_KEY_FILE; or let the relay sign (OpenDKIM beside Postfix)"
        )
        return [
            MailFinding(
                "warning", "DKIM", "mail leaves unsigned (no NEWSROOM_DKIM__PRIVATE_KEY_FILE)", action
            )
        ]
    selector, domain = settings.dkim.selector, settings.dkim_domain
    name = f"{selector}._domainkey.{domain}"
    check = f"DKIM {name}"
    try:
        key = dkim.Signer.from_file(path, domain, selector).key
    except SettingsError as error:
        return [MailFinding("error", check, str(error), "point NEWSROOM_DKIM__PRIVATE_KEY_FILE at the key")]
    publish = dkim.zone_line(selector, domain, dkim.public_key_record(key))
    answer = await _txt(resolver, name)
    if answer.failure:
        return [_failed(check, name, "TXT", answer.failure)]
    records = [text for text in answer.records if "p" in _tags(text)]
    if not records:
        found = "no DKIM record: receivers cannot verify our signatures"
        return [MailFinding("error", check, found, f"publish: {publish}")]
    if len(records) > 1:
        found = f"{len(records)} DKIM records: a receiver may pick any of them"
        return [MailFinding("error", check, found, f"keep only this one: {publish}")]
    problem = _key_mismatch(_tags(records[0])["p"], key)
    if problem:
        found = f"{problem}: it does not match the key in {path}"
        return [MailFinding("error", check, found, f"publish: {publish} (or sign with the published key)")]
    return [MailFinding("ok", check, f"matches the key in {path}")]


def _key_mismatch(published: str, key: rsa.RSAPrivateKey) -> str | None:
    """Why the published ``p=`` is not the public half of ``key``, or None when it is."""
    text = "".join(published.split())
    if not text:
        return "the record has an empty p= (the key is revoked)"
    try:
        found = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return "the record's p= is not a public key"
    if not isinstance(found, rsa.RSAPublicKey) or found.public_numbers() != key.public_key().public_numbers():
        return "the record holds another key"
    return None


# -- DMARC --------------------------------------------------------------------------------------------


async def dmarc(resolver: dns.asyncresolver.Resolver, settings: Settings) -> list[MailFinding]:
    """The DMARC policy of the From domain, and whether our mail can pass it (SPF or DKIM aligned)."""
    domain = _domain_of(str(settings.mail.from_address))
    name = f"_dmarc.{domain}"
    check = f"DMARC {name}"
    answer = await _txt(resolver, name)
    if answer.failure:
        return [_failed(check, name, "TXT", answer.failure)]
    records = [text for text in answer.records if text.replace(" ", "").lower().startswith("v=dmarc1")]
    if not records:
        suggested = f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}"
        action = f'publish a TXT record at {name}: "{suggested}" (an address that reads the reports)'
        found = "no DMARC record: strict receivers (Microsoft 365, Gmail) trust the mail less"
        return [MailFinding("warning", check, found, action)]
    if len(records) > 1:
        found = f"{len(records)} DMARC records: receivers then apply none (RFC 7489 section 6.6.3)"
        return [MailFinding("error", check, found, "keep one v=DMARC1 record")]
    tags = _tags(records[0])
    policy = tags.get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        found = f'"{records[0]}" has no valid policy p= (none, quarantine or reject)'
        return [MailFinding("error", check, found, "add p=none, p=quarantine or p=reject")]
    dkim_domain = settings.dkim_domain if settings.dkim.private_key_file else None
    signed = dkim_domain is not None and _aligned(dkim_domain, domain, tags.get("adkim", "r"))
    bounced = _aligned(envelope_domain(settings), domain, tags.get("aspf", "r"))
    passes = [f"DKIM (d={dkim_domain})"] * signed + [f"SPF (envelope {envelope_domain(settings)})"] * bounced
    if passes:
        return [MailFinding("ok", check, f"policy p={policy}; aligned: {' and '.join(passes)}")]
    found = (
        f"policy p={policy}, and neither DKIM nor SPF of our mail aligns with {domain}: every message fails"
    )
    action = f"sign with a key of {domain} (NEWSROOM_DKIM__*), or send from a bounce address at {domain}"
    return [MailFinding("warning" if policy == "none" else "error", check, found, action)]


def _aligned(domain: str, from_domain: str, mode: str) -> bool:
    """Strict (``s``): the same name; relaxed: the same, or one a parent of the other (see the module)."""
    if domain == from_domain:
        return True
    related = from_domain.endswith("." + domain) or domain.endswith("." + from_domain)
    return mode.lower() != "s" and related


# -- MX -----------------------------------------------------------------------------------------------


async def mx(resolver: dns.asyncresolver.Resolver, settings: Settings) -> list[MailFinding]:
    """Whether bounces addressed to the envelope domain can reach anyone."""
    domain = envelope_domain(settings)
    check = f"MX {domain}"
    answer = await _lookup(resolver, domain, "MX")
    if answer.failure:
        return [_failed(check, domain, "MX", answer.failure)]
    exchanges = sorted(
        (record.preference, record.exchange.to_text(omit_final_dot=True)) for record in answer.records
    )
    if not exchanges:
        found = "no MX record: bounces cannot reach us"
        action = (
            f"publish an MX record for {domain} pointing at the server that takes its mail (unless a "
            "receiver runs on this domain's own address, NEWSROOM_BOUNCES__SMTP_PORT behind port 25)"
        )
        return [MailFinding("warning", check, found, action)]
    if [name for _, name in exchanges] in ([""], ["."]):
        found = f"a null MX (RFC 7505): {domain} takes no mail, so every bounce is lost"
        return [MailFinding("error", check, found, "publish the MX of the server that takes its mail")]
    listed = ", ".join(f"{name} ({preference})" for preference, name in exchanges)
    return [MailFinding("ok", check, listed)]


# -- the relay ----------------------------------------------------------------------------------------


async def relay(settings: Settings, *, cafile: Path | None = None) -> list[MailFinding]:
    """Connect to the relay as the sender does; with TLS on offer, check its certificate as a strict
    client would: the system's trust store (or the CAs in ``cafile``, a private CA's), the host name."""
    smtp = settings.smtp
    check = f"relay {smtp.host}:{smtp.port}"
    implicit = smtp.security == "tls"
    client = aiosmtplib.SMTP(
        hostname=smtp.host,
        port=smtp.port,
        timeout=min(smtp.timeout, RELAY_TIMEOUT),
        use_tls=implicit,
        start_tls=False,
        tls_context=ssl.create_default_context(cafile=cafile) if implicit else None,
    )
    try:
        await client.connect()
        await client.ehlo()
        if not implicit:
            if not client.supports_extension("starttls"):
                return [_no_starttls(check, smtp.security)]
            await client.starttls(tls_context=ssl.create_default_context(cafile=cafile))
    except (ssl.SSLError, aiosmtplib.SMTPException, OSError) as error:
        return [_relay_problem(check, smtp.host, error, smtp.security)]
    finally:
        client.close()
    how = "TLS" if implicit else "STARTTLS"
    return [MailFinding("ok", check, f"{how} with a certificate valid for {smtp.host}")]


def _no_starttls(check: str, security: str) -> MailFinding:
    if security == "starttls":
        found = "no STARTTLS offered, yet NEWSROOM_SMTP__SECURITY is starttls: sending will fail"
        return MailFinding("error", check, found, "enable STARTTLS on the relay, or set the security to none")
    found = "no STARTTLS offered: mail and the password cross the network in clear"
    return MailFinding(
        "warning", check, found, "enable STARTTLS on the relay (fine as it is on this machine)"
    )


def _relay_problem(check: str, host: str, error: BaseException, security: str) -> MailFinding:
    """A certificate problem named as a person would name it; anything else as the connection failure."""
    verify = _verification_error(error)
    # The sender verifies certificates when it uses TLS; with security none it never starts TLS.
    level: Level = "warning" if security == "none" else "error"
    if verify is not None:
        reason = verify.verify_message or str(verify)
        if verify.verify_code in _NAME_MISMATCH:
            found = f"certificate not valid for {host}: {reason}"
        elif verify.verify_code == 10:
            found = f"certificate expired: {reason}"
        else:
            found = f"certificate not trusted: {reason}"
        action = "install a certificate from a public CA for this host name (Let's Encrypt) on the relay"
        return MailFinding(level, check, found, action)
    return MailFinding(
        "error", check, f"cannot talk to the relay: {error}", "check NEWSROOM_SMTP__HOST, __PORT, __SECURITY"
    )


def _verification_error(error: BaseException | None) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure somewhere in ``error``'s chain of causes."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, ssl.SSLCertVerificationError):
            return error
        error = error.__cause__ or error.__context__
        seen += 1
    return None
