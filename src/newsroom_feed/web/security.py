"""Web defences in one place: security headers, the admin-token gate, CSRF tokens, rate limits.

The middlewares are plain ASGI (no `BaseHTTPMiddleware`), so the hot path of a feed poll pays a few dict
operations, not an extra task per request.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import SecretStr

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: No inline script or style anywhere: every page loads one stylesheet from us and no script at all.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    # Subscriber links carry their token in the path: never send it on to another site.
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)
_SECURITY_NAMES = frozenset(name for name, _ in SECURITY_HEADERS)


class SecurityHeaders:
    """Adds the security headers to every HTTP response that has not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers} & _SECURITY_NAMES
                headers.extend(item for item in SECURITY_HEADERS if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ApiGate:
    """Everything under ``/api`` needs ``Authorization: Bearer <NEWSROOM_ADMIN_TOKEN>``.

    Checked before routing, so a caller without the token learns nothing, not even which routes exist.
    Without a configured token the API is off: 503 for everything under ``/api``.
    """

    def __init__(self, app: ASGIApp, token: SecretStr | None, prefix: str = "/api") -> None:
        self.app = app
        self.token = token.get_secret_value().encode() if token and token.get_secret_value() else None
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == self.prefix or path.startswith(self.prefix + "/")):
            if self.token is None:
                await _json_error(send, 503, "authorization", "the admin API is off: no admin token is set")
                return
            if not self._authorised(scope):
                await _json_error(
                    send, 401, "authorization", "a valid 'Authorization: Bearer <token>' header is required"
                )
                return
        await self.app(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        assert self.token is not None
        return bearer_matches(scope, self.token)


def bearer_matches(scope: Scope, token: bytes) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>``, compared in constant time."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, given = bytes(value).partition(b" ")
            if scheme.lower() == b"bearer":
                return hmac.compare_digest(given.strip(), token)
    return False


async def _json_error(send: Send, status: int, field: str, problem: str) -> None:
    body = json.dumps({"error": {"field": field, "problem": problem}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="newsroom-feed"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class CsrfTokens:
    """Signed double-submit tokens: a random value in a cookie, the same value signed in the form.

    A forged cross-site POST carries the victim's cookie but cannot read it to put the signed copy in the
    form; the signature (itsdangerous, keyed by the service's secret) stops a value planted by a
    subdomain. Forms older than ``max_age`` seconds are refused, so a page left open for a day asks again.
    """

    COOKIE = "newsroom_csrf"
    FIELD = "csrf_token"

    def __init__(self, secret: str, max_age: int = 4 * 3600) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="newsroom-feed csrf")
        self.max_age = max_age

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(24)

    def form_token(self, cookie: str) -> str:
        return str(self._serializer.dumps(cookie))

    def valid(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token:
            return False
        try:
            signed = self._serializer.loads(token, max_age=self.max_age)
        except BadSignature:
            return False
        return isinstance(signed, str) and hmac.compare_digest(signed.encode(), cookie.encode())


def client_key(address: str) -> str:
    """What a client's requests are counted under: an IPv4 address as it is, an IPv6 address by its /64.

    An IPv6 customer line gets a whole /64 at least (RFC 6177), so counting single addresses would give
    one client 2**64 fresh allowances. An IPv4 address written as IPv6 (``::ffff:192.0.2.1``) counts as
    the IPv4 address; anything that is not an address (a test client's name) counts as itself.
    """
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per client, sliding window; a client is its
    address, or its /64 for IPv6 (`client_key`).

    Kept in memory: one process serves the web, and a restart forgetting the counts is harmless.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def allow(self, address: str) -> bool:
        """Count one event for the client at ``address``; False (and not counted) at the limit."""
        key = client_key(address)
        now = self.clock()
        with self._lock:
            self._sweep(now)
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True

    def full(self, address: str) -> bool:
        """Whether the client at ``address`` is at the limit now (nothing is counted)."""
        key = client_key(address)
        now = self.clock()
        with self._lock:
            events = self._events.get(key)
            recent = sum(1 for moment in events or () if moment > now - self.window)
            return recent >= self.limit

    def retry_after(self, address: str) -> int:
        """Seconds until the client at ``address`` may try again."""
        with self._lock:
            events = self._events.get(client_key(address))
            if not events:
                return 0
            return max(1, int(events[0] + self.window - self.clock()) + 1)

    def _sweep(self, now: float) -> None:
        # Forget idle clients now and then, so the table does not grow with every address ever seen.
        if now - self._last_sweep < self.window:
            return
        self._last_sweep = now
        for key in [
            key for key, events in self._events.items() if not events or events[-1] <= now - self.window
        ]:
            del self._events[key]
