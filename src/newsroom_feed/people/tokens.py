"""Signed subscriber links: the token in a confirm, unsubscribe or preferences link, and its check.

Links in mail carry the subscriber's random ``token`` signed with the service's key and a salt per purpose
(confirm, unsubscribe, preferences), so a link made for one purpose does not work for another and a forged
link is refused before the database is asked. Confirmation links expire; the others work for years, a
rotation of the key included (the `previous_secret_keys` setting keeps the old keys verifying).
"""

from __future__ import annotations

import hashlib
import hmac
from base64 import urlsafe_b64encode
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from itsdangerous import BadSignature, Signer

from newsroom_feed.errors import NotFound
from newsroom_feed.models import Subscriber, utcnow
from newsroom_feed.settings import Settings

Purpose = Literal["confirm", "unsubscribe", "preferences"]
PURPOSES: tuple[Purpose, ...] = ("confirm", "unsubscribe", "preferences")

#: A confirmation link older than this is refused; the person asks again from the form.
CONFIRM_MAX_AGE = timedelta(days=7)
#: What a bad link says, whatever is wrong with it: it never tells whether some other token exists.
INVALID_LINK = "this link is not valid: it may be mistyped, or the subscription no longer exists"


class LinkSigner:
    """Signs and checks the tokens in subscriber links; one per key, cheap to reuse for many messages.

    A link is ``<token>.<signature>`` (``<token>.<issued, hex seconds>.<signature>`` for confirmation),
    HMAC-SHA256 with a salt per purpose. Links are signed with ``key``; a link signed with one of the
    ``previous`` keys (mail sent before the key was rotated) still verifies, and nothing new is signed
    with them.
    """

    def __init__(self, key: str, previous: Sequence[str] = ()) -> None:
        # itsdangerous takes a list of keys, oldest first: each verifies, the last signs.
        keys = [*previous, key]
        self._signers = {
            purpose: Signer(keys, salt=f"newsroom-feed/{purpose}", digest_method=hashlib.sha256)
            for purpose in PURPOSES
        }
        # Signing runs twice per recipient of a 100,000-address digest: itsdangerous derives the key
        # and builds an hmac object per call, so sign here with its derived keys and one-shot HMAC,
        # giving the very bytes `Signer.sign` gives (verification stays with itsdangerous).
        self._derived = {purpose: signer.derive_key() for purpose, signer in self._signers.items()}

    @classmethod
    def for_settings(cls, settings: Settings) -> LinkSigner:
        """The signer of the settings' key that also accepts their `previous_secret_keys`."""
        *previous, key = settings.verifying_keys()
        return cls(key, previous)

    def sign(self, token: str, purpose: Purpose, now: datetime | None = None) -> str:
        value = token
        if purpose == "confirm":
            value = f"{token}.{int((now or utcnow()).timestamp()):x}"
        mac = hmac.digest(self._derived[purpose], value.encode("ascii"), "sha256")
        return f"{value}.{urlsafe_b64encode(mac).rstrip(b'=').decode('ascii')}"

    def unsign(self, signed: str, purpose: Purpose, now: datetime | None = None) -> str:
        """The raw token of a signed link.

        :raises NotFound: the signature is wrong (forged, mistyped, another purpose) or it expired.
        """
        try:
            value = self._signers[purpose].unsign(signed.strip()).decode("ascii")
        except (BadSignature, UnicodeError, KeyError):
            raise NotFound(INVALID_LINK) from None
        if purpose != "confirm":
            return value
        token, _, issued = value.rpartition(".")
        try:
            issued_at = datetime.fromtimestamp(int(issued, 16), UTC)
        except ValueError:
            raise NotFound(INVALID_LINK) from None
        if (now or utcnow()) - issued_at > CONFIRM_MAX_AGE:
            raise NotFound("this confirmation link has expired: please subscribe again")
        return token


def link_token(
    settings: Settings, subscriber: Subscriber, purpose: Purpose, now: datetime | None = None
) -> str:
    """The signed token for a link of ``purpose`` (``/<purpose>/<token>``)."""
    return LinkSigner.for_settings(settings).sign(subscriber.token, purpose, now)


def link_url(
    settings: Settings, subscriber: Subscriber, purpose: Purpose, now: datetime | None = None
) -> str:
    """The public URL of a subscriber link, e.g. ``https://prasa.example.pl/unsubscribe/<token>``."""
    return f"{settings.base_url}/{purpose}/{link_token(settings, subscriber, purpose, now)}"
