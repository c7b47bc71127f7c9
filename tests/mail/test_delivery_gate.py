"""The last gate before DATA (issue 8): a relay that throttles at RCPT leaves nothing un-awaited, and a
subscriber who unsubscribed, bounced or was erased after their row was claimed gets no DATA."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from newsroom_feed.cli import main
from newsroom_feed.mail import outbox
from newsroom_feed.mail.delivery import deliver
from newsroom_feed.mail.outbox import NewMessage
from newsroom_feed.models import utcnow
from newsroom_feed.people.subscriptions import get_subscriber, remove_subscriber, unsubscribe
from newsroom_feed.planner import announce
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from ..mail_helpers import PlainRenderer, add_release, add_subscriber, smtp_settings

#: What the relay answers for an address at RCPT or DATA: None accepts, a string is the reply.
Answer = Callable[[str], str | None]


@dataclass
class Relay:
    """A real SMTP server (aiosmtpd, in a thread of its own) whose RCPT and DATA answers a test decides,
    and which logs every RCPT, DATA and RSET it is given and every connection it accepts."""

    at_rcpt: Answer = lambda address: None
    at_data: Answer = lambda address: None
    commands: list[str] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.commands.append(f"RCPT {address}")
        refusal = self.at_rcpt(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        address = str(envelope.rcpt_tos[0])
        self.commands.append(f"DATA {address}")
        return self.at_data(address) or "250 OK queued"

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.commands.append("RSET")
        return "250 OK"

    @contextlib.contextmanager
    def running(self) -> Iterator[Relay]:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="relay", daemon=True)
        thread.start()

        def connected() -> SMTP:
            self.connections += 1
            return SMTP(self, hostname="relay.test.example")

        async def listen() -> asyncio.Server:
            return await loop.create_server(connected, "127.0.0.1", 0)

        server = asyncio.run_coroutine_threadsafe(listen(), loop).result(timeout=10)
        self.port = int(server.sockets[0].getsockname()[1])
        try:
            yield self
        finally:

            async def close() -> None:
                server.close()
                await server.wait_closed()

            asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()


def _one_connection(settings: Settings, port: int) -> Settings:
    """One SMTP connection, so the order of the transactions is the order of the rows."""
    mail = smtp_settings(settings, port)
    return mail.model_copy(update={"smtp": mail.smtp.model_copy(update={"connections": 1})})


def _plan_alerts(store: Store, *emails: str) -> list[int]:
    """One alert per address, due now, in this order; returns the outbox row ids."""
    ids = [add_subscriber(store, email) for email in emails]
    outbox.enqueue(
        store, [NewMessage(sid, "alert:tag:x,2026:release/1", "alert", (1,)) for sid in ids], utcnow()
    )
    return [int(row[0]) for row in store.conn.execute("SELECT id FROM outbox ORDER BY id")]


def _row(store: Store, row_id: int) -> tuple[str, int, str | None]:
    found = store.conn.execute(
        "SELECT status, attempts, last_error FROM outbox WHERE id = ?", (row_id,)
    ).fetchone()
    return (found[0], found[1], found[2])


def _deliveries(store: Store, row_id: int) -> list[tuple[int | None, str]]:
    rows = store.conn.execute("SELECT code, reply FROM deliveries WHERE outbox_id = ?", (row_id,)).fetchall()
    return [(code, reply) for code, reply in rows]


async def test_a_450_at_rcpt_is_retried_later_and_leaves_no_coroutine_unawaited(
    store: Store, settings: Settings
) -> None:
    """Postfix throttling: `450 4.7.1 too much mail` to RCPT; the gate is never created, so never left."""
    [row] = _plan_alerts(store, "anna@example.pl")
    relay = Relay(at_rcpt=lambda address: "450 4.7.1 <anna@example.pl>: too much mail")
    with relay.running(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = await deliver(store, _one_connection(settings, relay.port), renderer=PlainRenderer(store))
        gc.collect()  # an un-awaited coroutine warns when it is collected
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
    assert relay.commands == ["RCPT anna@example.pl", "RSET"]
    assert (report.sent, report.failed, report.withdrawn, report.waiting) == (0, 0, 0, 1)
    status, attempts, error = _row(store, row)
    assert (status, attempts) == ("pending", 1)
    assert error is not None and "450 4.7.1" in error and "too much mail" in error


def _unsubscribed(settings: Settings, address: str) -> None:
    with Store.for_settings(settings) as other:
        unsubscribe(other, get_subscriber(other, address).token, utcnow())


def _erased(settings: Settings, address: str) -> None:
    with Store.for_settings(settings) as other:
        remove_subscriber(other, address)


def _bounced(settings: Settings, address: str) -> None:
    # As the bounce intake or another sender's third 550 would leave it, from another process.
    with Store.for_settings(settings) as other, other.transaction() as conn:
        conn.execute("UPDATE subscribers SET status = 'bounced' WHERE email = ?", (address,))


@pytest.mark.parametrize(
    ("leave", "reason"),
    [
        (_unsubscribed, "subscriber unsubscribed"),
        (_erased, "subscriber erased"),
        (_bounced, "subscriber bounced"),
    ],
    ids=["unsubscribed", "erased", "bounced"],
)
async def test_a_subscriber_who_leaves_after_the_claim_gets_no_data_and_the_row_closes_withdrawn(
    store: Store, settings: Settings, leave: Callable[[Settings, str], None], reason: str
) -> None:
    """Anna leaves while her message is at RCPT: RSET instead of DATA, the connection goes on to Jan."""
    anna_row, jan_row = _plan_alerts(store, "anna@example.pl", "jan@example.pl")

    def at_rcpt(address: str) -> None:
        if address == "anna@example.pl":
            leave(settings, address)

    relay = Relay(at_rcpt=at_rcpt)
    with relay.running():
        report = await deliver(store, _one_connection(settings, relay.port), renderer=PlainRenderer(store))
    assert relay.commands == ["RCPT anna@example.pl", "RSET", "RCPT jan@example.pl", "DATA jan@example.pl"]
    assert relay.connections == 1
    assert (report.sent, report.failed, report.withdrawn) == (1, 0, 1)
    assert _row(store, anna_row) == ("withdrawn", 0, f"withdrawn before DATA: {reason}")
    assert _deliveries(store, anna_row) == []
    assert _row(store, jan_row)[0] == "sent"


@pytest.mark.parametrize(
    "reply",
    ["250 2.0.0 Ok: queued for <Anna@Example.pl>", "550 5.1.1 <anna@example.pl>: Recipient address rejected"],
    ids=["accepted", "refused"],
)
async def test_a_reply_recorded_after_an_erase_does_not_bring_the_address_back(
    store: Store, settings: Settings, reply: str
) -> None:
    """Erased while the relay holds DATA: the reply that quotes the address is recorded without it."""
    [row] = _plan_alerts(store, "anna@example.pl")

    def at_data(address: str) -> str:
        _erased(settings, address)
        return reply

    outcomes: list[str] = []
    relay = Relay(at_data=at_data)
    with relay.running():
        report = await deliver(
            store,
            _one_connection(settings, relay.port),
            renderer=PlainRenderer(store),
            on_outcome=lambda attempt, status: outcomes.append(attempt.reply),
        )
    assert relay.commands[:2] == ["RCPT anna@example.pl", "DATA anna@example.pl"]
    everything = json.dumps(
        [_deliveries(store, row), _row(store, row), outcomes, report.errors], ensure_ascii=False
    ).lower()
    assert "anna@example.pl" not in everything
    [(code, recorded)] = _deliveries(store, row)
    assert code == int(reply[:3]) and "<[erased]>" in recorded
    assert [row.email for row in outbox.list_rows(store)] == [None]


# -- through the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def relay_env(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Relay, Callable[[Answer], None]]]:
    """A running relay and the environment `outbox send` would have; the test sets the RCPT answer."""
    relay = Relay()
    with relay.running():
        for name, value in {
            "NEWSROOM_DATABASE": str(settings.database),
            "NEWSROOM_PUBLIC_DIR": str(settings.public_dir),
            "NEWSROOM_BASE_URL": settings.base_url,
            "NEWSROOM_SECRET_KEY": "test-secret-key-not-for-production",
            "NEWSROOM_SMTP__PORT": str(relay.port),
            "NEWSROOM_SMTP__CONNECTIONS": "1",
            "NEWSROOM_SMTP__RATE_PER_SECOND": "10000",
        }.items():
            monkeypatch.setenv(name, value)

        def answer_rcpt(answer: Answer) -> None:
            relay.at_rcpt = answer

        yield relay, answer_rcpt


def _announced(store: Store, settings: Settings, *emails: str) -> None:
    """The alerts of a real release to these subscribers, planned as a build plans them."""
    now = utcnow()
    for email in emails:
        add_subscriber(store, email)
    add_release(store, now, "Złote Lajki 2026 wręczone")
    announce(store, settings, now)


def test_outbox_send_exits_0_for_a_withdrawn_row_which_retry_failed_leaves_alone(
    store: Store,
    settings: Settings,
    relay_env: tuple[Relay, Callable[[Answer], None]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    relay, answer_rcpt = relay_env
    _announced(store, settings, "anna@example.pl", "jan@example.pl")
    answer_rcpt(lambda address: _unsubscribed(settings, address) if address == "anna@example.pl" else None)
    assert main(["outbox", "send"]) == 0
    assert "sent 1, waiting 0, failed 0, withdrawn 1" in capsys.readouterr().out
    assert main(["outbox", "list", "--json"]) == 0
    rows = {row["email"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["anna@example.pl"]["status"] == "withdrawn"
    assert rows["anna@example.pl"]["last_error"] == "withdrawn before DATA: subscriber unsubscribed"
    assert rows["jan@example.pl"]["status"] == "sent"
    assert main(["outbox", "list", "--status", "withdrawn"]) == 0
    listed = capsys.readouterr().out
    assert "anna@example.pl" in listed and "jan@example.pl" not in listed

    answer_rcpt(lambda address: None)
    assert main(["outbox", "retry", "--failed"]) == 0
    assert "0 messages are due now." in capsys.readouterr().out
    assert relay.commands.count("DATA anna@example.pl") == 0
    assert outbox.list_rows(store, statuses=["withdrawn"])[0].email == "anna@example.pl"


def test_a_row_claimed_for_a_subscriber_who_already_left_closes_withdrawn_not_failed(
    store: Store,
    settings: Settings,
    relay_env: tuple[Relay, Callable[[Answer], None]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Left between planning and the claim: the claim closes the row, nothing reaches the relay."""
    relay, _ = relay_env
    _announced(store, settings, "anna@example.pl")
    _bounced(settings, "anna@example.pl")
    assert main(["outbox", "send"]) == 0
    assert "sent 0, waiting 0, failed 0, withdrawn 1" in capsys.readouterr().out
    assert relay.commands == []
    [row] = outbox.list_rows(store)
    assert (row.status, row.last_error) == ("withdrawn", "withdrawn: subscriber bounced")
    assert outbox.retry(store, utcnow() + timedelta(days=1), include_failed=True) == 0
