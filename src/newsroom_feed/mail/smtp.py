"""SMTP delivery: a pool of reused aiosmtplib connections, a rate limit, and error classification.

The only module that imports aiosmtplib. One message is in flight per connection, so a crash repeats at
most ``settings.connections`` messages. Every failure comes out as `TransientDeliveryError` (4xx,
disconnects, timeouts, our own configuration: retry later) or `PermanentDeliveryError` (a 5xx about this
recipient or this message: stop), each carrying the SMTP code and reply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

import aiosmtplib

from newsroom_feed.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from newsroom_feed.settings import SmtpSettings

#: A connection idle longer than this is closed and opened again before use: relays drop idle clients
#: (Postfix after 300 s), and a send on a half-closed socket would count as a failed attempt.
MAX_IDLE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Accepted:
    """The relay took the message: its code and reply (often carrying the relay's queue id)."""

    code: int
    reply: str


class SendingPace:
    """At most ``rate`` message starts per second, allowing a burst of ``burst`` after a quiet spell.

    Not `web.security.RateLimiter`: that one refuses a client past its allowance in a window; this one
    makes the sender wait, so a relay's limit is never hit and nothing is refused.
    """

    def __init__(self, rate: float, burst: int = 1) -> None:
        self._interval = 1.0 / rate
        self._burst = max(1, burst)
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        self._next = max(self._next, now - (self._burst - 1) * self._interval)
        delay = self._next - now
        self._next += self._interval
        if delay > 0:
            await asyncio.sleep(delay)


class _Connection:
    """One slot of the pool: an aiosmtplib client opened on first use and after any broken transaction."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self.client: aiosmtplib.SMTP | None = None
        self.last_used = 0.0

    async def ready(self) -> aiosmtplib.SMTP:
        client = self.client
        stale = time.monotonic() - self.last_used > MAX_IDLE_SECONDS
        if client is not None and client.is_connected and not stale:
            return client
        await self.close()
        self.client = await self._open()
        return self.client

    async def _open(self) -> aiosmtplib.SMTP:
        settings = self._settings
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            timeout=settings.timeout,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
        )
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
        except aiosmtplib.SMTPAuthenticationError as error:
            client.close()
            # Wrong credentials are the operator's to fix; every message would fail the same way, so
            # nothing here is this recipient's fault: retry later, never count a bounce.
            raise TransientDeliveryError(error.code, f"login refused: {error.message}") from None
        except aiosmtplib.SMTPResponseException as error:
            client.close()
            raise TransientDeliveryError(error.code, f"connect: {error.message}") from None
        except (aiosmtplib.SMTPException, OSError) as error:
            client.close()
            where = f"{settings.host}:{settings.port}"
            raise TransientDeliveryError(None, f"cannot connect to {where}: {error}") from None
        return client

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        if client.is_connected:
            try:
                await asyncio.wait_for(client.quit(), timeout=1.0)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
        else:
            client.close()


class Mailer:
    """A pool of ``settings.connections`` SMTP connections shared by concurrent `send` calls.

    Use as ``async with Mailer(settings.smtp) as mailer: await mailer.send(...)``.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._all = [_Connection(settings) for _ in range(settings.connections)]
        self._idle: asyncio.Queue[_Connection] = asyncio.Queue()
        for connection in self._all:
            self._idle.put_nowait(connection)
        self._limiter = SendingPace(settings.rate_per_second, burst=settings.connections)

    async def __aenter__(self) -> Mailer:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def send(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        *,
        ready: Callable[[], Awaitable[object]] | None = None,
    ) -> Accepted:
        """Send one message to one recipient over a pooled connection.

        ``ready``, when given, is called and awaited after RCPT and before DATA, and only if MAIL and
        RCPT were accepted (a callable, not a coroutine, so nothing is left un-awaited when they are
        refused). The sender's gate waits there for the commit of its previous outcome, so that commit
        overlaps the first round trips of this message while no message is accepted by the relay before
        the previous one is recorded, and checks that the recipient may still be written to. If
        ``ready`` raises, the transaction is reset (RSET, the connection is kept) and its exception
        comes out unchanged.

        :raises TransientDeliveryError: a 4xx reply, a dropped connection, a timeout, a refused login.
        :raises PermanentDeliveryError: a 5xx reply to RCPT or DATA (the recipient or the message); the
            error's ``recipient`` is set, so the ledger can count it towards a bounce.
        """
        connection = await self._idle.get()
        try:
            await self._limiter.wait()
            client = await connection.ready()
            try:
                reply = await _transaction(client, sender, recipient, data, ready)
            except (aiosmtplib.SMTPException, OSError, ValueError) as error:
                # After a reply error the transaction was reset (RSET); a connection in an unknown state
                # (dropped, timed out) is not reused.
                if not isinstance(error, aiosmtplib.SMTPResponseException) or not client.is_connected:
                    await connection.close()
                raise _classify(error, recipient) from None
            except _Withheld as withheld:
                # ``ready`` refused the message after RCPT: the transaction was reset, the connection
                # goes on unless the reset failed.
                if not client.is_connected:
                    await connection.close()
                raise withheld.reason from None
            except BaseException:
                # Cancelled in the middle of a transaction: the connection is in an unknown state.
                await connection.close()
                raise
            finally:
                connection.last_used = time.monotonic()
            return Accepted(reply.code, reply.message)
        finally:
            self._idle.put_nowait(connection)

    async def close(self) -> None:
        """Say QUIT on every open connection."""
        await asyncio.gather(*(connection.close() for connection in self._all))


async def probe(settings: SmtpSettings) -> str:
    """Connect (TLS and login as configured), EHLO and NOOP, then QUIT: what `newsroom-feed check` asks.

    :raises TransientDeliveryError: naming what failed (connect, TLS, login, or the NOOP reply).
    """
    connection = _Connection(settings)
    try:
        client = await connection.ready()
        try:
            reply = await client.noop()
        except (aiosmtplib.SMTPException, OSError) as error:
            raise _classify(error, "") from None
        greeting = client.last_ehlo_response
        name = greeting.message.splitlines()[0] if greeting and greeting.message else "?"
        return f"{settings.host}:{settings.port} ({name}) answered NOOP with {reply.code}"
    finally:
        await connection.close()


class _Withheld(Exception):
    """``ready`` raised after RCPT (``reason``); kept apart from SMTP errors so it is never classified."""

    def __init__(self, reason: Exception) -> None:
        super().__init__(str(reason))
        self.reason = reason


async def _transaction(
    client: aiosmtplib.SMTP,
    sender: str,
    recipient: str,
    data: bytes,
    ready: Callable[[], Awaitable[object]] | None,
) -> aiosmtplib.SMTPResponse:
    """MAIL, RCPT, (wait for ``ready``), DATA; RSET after a refusal, or when ``ready`` raises, so the
    connection can go on.

    :raises _Withheld: ``ready`` raised; the relay got no DATA.
    """
    options: list[str] = []
    if client.supports_extension("size"):
        options.append(f"SIZE={len(data)}")
    if not data.isascii() and client.supports_extension("8bitmime"):
        options.append("BODY=8BITMIME")
    try:
        await client.mail(sender, options=options)
        await client.rcpt(recipient)
    except aiosmtplib.SMTPResponseException:
        await _reset(client)
        raise
    if ready is not None:
        try:
            await ready()
        except Exception as error:
            await _reset(client)
            raise _Withheld(error) from error
    try:
        return await client.data(data)
    except aiosmtplib.SMTPResponseException:
        await _reset(client)
        raise


async def _reset(client: aiosmtplib.SMTP) -> None:
    """RSET, so the next transaction starts clean; a connection that cannot even do that is dropped."""
    if not client.is_connected:
        return
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


def _classify(error: BaseException, recipient: str) -> DeliveryError:
    """Turn an aiosmtplib failure into transient or permanent, with the code and reply kept."""
    if isinstance(error, aiosmtplib.SMTPRecipientRefused):
        return _by_code(error.code, error.message, recipient)
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        refused = error.recipients[0] if error.recipients else None
        code = refused.code if refused else None
        reply = refused.message if refused else str(error)
        return _by_code(code, reply, recipient)
    if isinstance(error, aiosmtplib.SMTPSenderRefused):
        # Our From address was refused: a configuration problem, not this recipient's.
        return TransientDeliveryError(error.code, f"sender refused: {error.message}")
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return _by_code(error.code, error.message, recipient)
    if isinstance(error, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return TransientDeliveryError(None, f"timed out: {error}")
    if isinstance(error, aiosmtplib.SMTPServerDisconnected | ConnectionError | OSError):
        return TransientDeliveryError(None, f"connection lost: {error}")
    if isinstance(error, ValueError):
        # aiosmtplib refuses an address it cannot send safely (a line break, non-ASCII without SMTPUTF8).
        return PermanentDeliveryError(None, f"address cannot be sent: {error}", recipient)
    return TransientDeliveryError(None, str(error))


def _by_code(code: int | None, reply: str, recipient: str) -> DeliveryError:
    if code is not None and 500 <= code < 600:
        return PermanentDeliveryError(code, reply, recipient)
    return TransientDeliveryError(code, reply, recipient)
