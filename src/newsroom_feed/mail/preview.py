"""The alert a release would send, composed for a look before it goes: the same `Composer` the sender
uses, for one sample recipient, with no outbox row, nothing queued and nothing sent.

The composer is made for outbox rows of stored, visible releases; a preview is of a release still under
embargo, or of a draft with no row at all. `PreviewComposer` therefore hands the release and the
recipient straight to the composer's one-message step, past the loading and the visibility check that
guard real sending.
"""

from __future__ import annotations

import email
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage

from newsroom_feed.errors import InputError
from newsroom_feed.mail.compose import Composer, address_header
from newsroom_feed.mail.kinds import ALERT
from newsroom_feed.models import LANGUAGES, OutboxItem, Release, Subscriber
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

#: The subscriber token of the sample recipient: links in a preview lead nowhere that matters.
PREVIEW_TOKEN = "preview"  # noqa: S105 - not a secret: it stands for a subscriber who does not exist


@dataclass(frozen=True, slots=True)
class MailPreview:
    """What a reader sees of one message: the headers that matter and both parts, decoded."""

    subject: str
    sender: str
    recipient: str
    text: str
    html: str
    #: The whole message as it would go over SMTP (for the curious: quoted-printable and all).
    raw: bytes


def sample_subscriber(address: str, language: str, fallback: str) -> Subscriber:
    """A subscriber who wants everything at once, in ``language``, at ``address`` (or at ``fallback``
    if ``address`` cannot stand in a mail header)."""
    try:
        address_header("To", None, address)
    except InputError:
        address = fallback
    return Subscriber(
        id=0,
        email=address,
        name=None,
        kind="journalist",
        organization=None,
        language=language if language in LANGUAGES else LANGUAGES[0],
        frequency="immediate",
        status="active",
        token=PREVIEW_TOKEN,
    )


def alert_preview(
    settings: Settings, store: Store, release: Release, address: str, now: datetime
) -> MailPreview:
    """The alert of ``release`` as ``address`` would get it, in the release's language.

    :raises TemplateNotFound: no alert template in that language (the operator's or the bundled).
    """
    composer = Composer(settings, store, clock=lambda: now)
    recipient = sample_subscriber(address, release.language, str(settings.mail.from_address))
    item = OutboxItem(
        id=0,
        key=ALERT.key(release.uid),
        kind="alert",
        subscriber_id=recipient.id,
        release_ids=(release.id,),
        status="pending",
        attempts=0,
    )
    message = composer.compose(item, recipient, [release])
    return read_message(message.data)


def read_message(data: bytes) -> MailPreview:
    """The parts of a composed message a reader sees, decoded as a mail client decodes them."""
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    text = parsed.get_body(("plain",))
    page = parsed.get_body(("html",))
    return MailPreview(
        subject=str(parsed["Subject"] or ""),
        sender=str(parsed["From"] or ""),
        recipient=str(parsed["To"] or ""),
        text=text.get_content() if isinstance(text, EmailMessage) else "",
        html=page.get_content() if isinstance(page, EmailMessage) else "",
        raw=data,
    )
