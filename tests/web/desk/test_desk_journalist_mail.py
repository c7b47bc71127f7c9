"""The desk's verify and refuse buttons tell the applicant by mail, sent to a real aiosmtpd server (the
CLI's side is in tests/mail/test_early_mail.py)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from newsroom_feed.mail.delivery import deliver
from newsroom_feed.models import utcnow
from newsroom_feed.people import journalists, subscriptions
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from ...mail_helpers import smtp_settings
from ...smtp_server import SmtpServer
from .test_desk_journalists import press


def confirmed_applicant(store: Store, settings: Settings, email: str, language: str) -> int:
    """An application whose confirmation link was followed: the address is theirs."""
    data = {"email": email, "name": "Ktoś", "language": language, "consent_text": "Zgoda."}
    added = journalists.apply(store, settings, data, "https://gazeta.example.pl/autor", None, utcnow())
    assert added is not None
    subscriptions.confirm(store, added.token, utcnow())
    return added.id


async def test_verifying_and_refusing_in_the_desk_mails_each_applicant_in_their_language(
    store: Store, settings: Settings, signed_in: Callable[[str], httpx.Client], smtp_server: SmtpServer
) -> None:
    ania = confirmed_applicant(store, settings, "ania@gazeta.example.pl", "pl")
    mary = confirmed_applicant(store, settings, "mary@wire.example.com", "en")
    client = signed_in("admin")
    assert press(client, ania, "verify").status_code == 303
    assert press(client, mary, "refuse").status_code == 303
    assert journalists.get(store, mary).verification == "refused"
    await deliver(store, smtp_settings(settings, smtp_server.port))
    subjects = {
        received.recipients[0]: received.message["Subject"]
        for received in smtp_server.received
        if received.message["X-Newsroom-Kind"] == "verification"
    }
    assert subjects == {
        "ania@gazeta.example.pl": f"Weryfikacja dziennikarska potwierdzona: {settings.feed.organization}",
        "mary@wire.example.com": f"Your journalist application: {settings.feed.organization}",
    }
