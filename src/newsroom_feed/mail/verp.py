"""Signed addresses under the bounce address: the VERP envelope sender of each message, and the
``mailto:`` unsubscribe address of each subscriber (RFC 2369).

``bounces@example.pl`` becomes ``bounces+<token>@example.pl``. The token is lowercase letters, digits and
``-`` only, because relays and mailbox servers may lowercase a local part, and it is signed, so a report
naming it cannot be forged to bounce or unsubscribe someone:

- envelope sender: ``<outbox id, base 36>-<10 base32 chars of HMAC-SHA256(id)>`` (``1kq-7xa2bmc4qd``):
  a bounce names the outbox row, hence the subscriber and the delivery, even when its body is useless;
- unsubscribe: ``u-<subscriber id, base 36>-<16 base32 chars of HMAC-SHA256(id:token)>``: the MAC binds
  the subscriber's random token, so an old address never fits a later subscriber that got the same id.

The keys are derived from the signing key with a label per purpose; tokens signed with one of the
``previous_secret_keys`` still verify, and nothing new is signed with them.
"""

from __future__ import annotations

import hmac
import re
from base64 import b32encode

from newsroom_feed.settings import Settings

#: Base32 characters of the MAC: 50 bits for an outbox row (a forger gets one guess per mail sent to
#: us), 80 for an unsubscribe, whose forgery would silence a person.
OUTBOX_MAC_CHARS = 10
UNSUBSCRIBE_MAC_CHARS = 16
#: The prefix that tells an unsubscribe token from an outbox one.
UNSUBSCRIBE_PREFIX = "u-"

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_TOKEN_IN_ADDRESS = re.compile(r"\+([0-9a-z-]{3,60})@", re.IGNORECASE)
_OUTBOX_TOKEN = re.compile(r"^([0-9a-z]{1,13})-([a-z2-7]{10})$")
_UNSUBSCRIBE_TOKEN = re.compile(r"^u-([0-9a-z]{1,13})-([a-z2-7]{16})$")


def base36(number: int) -> str:
    """A non-negative integer in base 36, lowercase."""
    if number < 0:
        raise ValueError("base36 takes a non-negative integer")
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _DIGITS[digit] + digits
        if not number:
            return digits


def _derive(secret: str, purpose: str) -> bytes:
    return hmac.digest(secret.encode("utf-8"), f"newsroom-feed/verp/{purpose}".encode("ascii"), "sha256")


def _mac(key: bytes, value: str, chars: int) -> str:
    return b32encode(hmac.digest(key, value.encode("utf-8"), "sha256")).decode("ascii")[:chars].lower()


def tokens_in(address: str) -> list[str]:
    """The ``+token`` parts of every address in a header value, lowercased (unchecked)."""
    return [match.lower() for match in _TOKEN_IN_ADDRESS.findall(address)]


class Verp:
    """Makes and checks the signed addresses of one bounce address; one per composer (cheap to reuse)."""

    def __init__(self, address: str, keys: list[str]) -> None:
        """``keys``: every verifying key, oldest first, the signing key last (`Settings.verifying_keys`)."""
        self.local, _, self.domain = address.rpartition("@")
        self._outbox_keys = [_derive(key, "outbox") for key in reversed(keys)]
        self._unsubscribe_keys = [_derive(key, "unsubscribe") for key in reversed(keys)]

    @classmethod
    def for_settings(cls, settings: Settings) -> Verp | None:
        """The VERP of ``settings.bounces.address``, or None when no bounce address is set (no VERP)."""
        address = settings.bounces.address
        return cls(str(address), settings.verifying_keys()) if address else None

    # -- making -------------------------------------------------------------------------------------

    def sender(self, outbox_id: int) -> str:
        """The envelope sender (MAIL FROM) of the message of an outbox row."""
        identifier = base36(outbox_id)
        mac = _mac(self._outbox_keys[0], identifier, OUTBOX_MAC_CHARS)
        return f"{self.local}+{identifier}-{mac}@{self.domain}"

    def unsubscribe_address(self, subscriber_id: int, token: str) -> str:
        """The address whose mail unsubscribes this subscriber (the ``mailto:`` of List-Unsubscribe)."""
        identifier = base36(subscriber_id)
        mac = _mac(self._unsubscribe_keys[0], f"{identifier}:{token}", UNSUBSCRIBE_MAC_CHARS)
        return f"{self.local}+{UNSUBSCRIBE_PREFIX}{identifier}-{mac}@{self.domain}"

    # -- checking -----------------------------------------------------------------------------------

    def outbox_id(self, address: str) -> int | None:
        """The outbox row a VERP address names, when its signature holds under any verifying key; the
        first valid token in the value wins. None for anything else (forged, mistyped, not ours)."""
        for token in tokens_in(address):
            match = _OUTBOX_TOKEN.match(token)
            if match is None:
                continue
            identifier, mac = match.groups()
            if any(
                hmac.compare_digest(_mac(key, identifier, OUTBOX_MAC_CHARS), mac) for key in self._outbox_keys
            ):
                return int(identifier, 36)
        return None

    def unsubscribe_claims(self, address: str) -> list[tuple[int, str]]:
        """(subscriber id, MAC) of each unsubscribe token in a header value, not yet verified: the MAC
        covers the subscriber's token, which only the store knows (`unsubscribe_holds`)."""
        claims = []
        for token in tokens_in(address):
            match = _UNSUBSCRIBE_TOKEN.match(token)
            if match is not None:
                claims.append((int(match.group(1), 36), match.group(2)))
        return claims

    def unsubscribe_holds(self, subscriber_id: int, token: str, mac: str) -> bool:
        """Whether ``mac`` was made for this subscriber (its id and its current token)."""
        value = f"{base36(subscriber_id)}:{token}"
        return any(
            hmac.compare_digest(_mac(key, value, UNSUBSCRIBE_MAC_CHARS), mac)
            for key in self._unsubscribe_keys
        )


def envelope_sender(settings: Settings, outbox_id: int) -> str:
    """The MAIL FROM of an outbox row's message: its VERP address, or the From address without VERP."""
    verp = Verp.for_settings(settings)
    return verp.sender(outbox_id) if verp else str(settings.mail.from_address)


def outbox_id_of(settings: Settings, address: str) -> int | None:
    """The outbox row a (possibly bounced-to) address names, verified; None without VERP or for a
    forged or foreign address."""
    verp = Verp.for_settings(settings)
    return verp.outbox_id(address) if verp else None
