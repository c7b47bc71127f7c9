"""Desk users: press officers (editors) and admins, their passwords, sessions and one-time codes.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's second recommended option) and
must be at least 12 characters. A user added without a password gets a one-time set-up link valid 24 h:
the link carries a signed (user, nonce) pair, the row only the nonce's SHA-256, so the link works once
and a copy of the store cannot make one. Sessions work the same way: the cookie carries a random key,
signed; the row its SHA-256. One-time codes (TOTP, RFC 6238, via pyotp) are optional per user; turning
them on gives ten recovery codes, each usable once, stored hashed. A code is refused if its time step
was already used, so a code seen over a shoulder cannot be replayed within its 30 seconds.

Every change here is written to the audit log in the same transaction (`store.audit`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from newsroom_feed.errors import InputError, UserNotFound
from newsroom_feed.models import email_address, has_control_characters, iso
from newsroom_feed.store import audit
from newsroom_feed.store import users as queries
from newsroom_feed.store.database import Store, stored_moment

Role = Literal["editor", "admin"]
ROLES: tuple[Role, ...] = ("editor", "admin")
PASSWORD_MIN = 12
#: Long enough for any passphrase; short enough that hashing a hostile one costs nothing extra.
PASSWORD_MAX = 1024
SETUP_HOURS = 24
RECOVERY_CODES = 10

_HASHER = PasswordHasher()
#: Verified against when no such user exists, so a sign-in takes as long for a wrong address.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class DeskUser:
    id: int
    email: str
    role: Role
    has_password: bool
    totp_enabled: bool
    recovery_codes_left: int
    disabled_at: datetime | None
    last_sign_in_at: datetime | None
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "role": self.role,
            "status": "disabled" if self.disabled_at else ("active" if self.has_password else "invited"),
            "totp": self.totp_enabled,
            "last_sign_in_at": iso(self.last_sign_in_at) if self.last_sign_in_at else None,
            "created_at": iso(self.created_at),
        }


def _user(row: tuple[Any, ...]) -> DeskUser:
    (user_id, email, role, password_hash, totp_secret, _step, codes, disabled, last, created, *_) = row
    created_at = stored_moment(created)
    assert created_at is not None
    return DeskUser(
        id=user_id,
        email=email,
        role=role,
        has_password=bool(password_hash),
        totp_enabled=bool(totp_secret),
        recovery_codes_left=len(_codes(codes)),
        disabled_at=stored_moment(disabled),
        last_sign_in_at=stored_moment(last),
        created_at=created_at,
    )


def _codes(text: str | None) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [code for code in value if isinstance(code, str)] if isinstance(value, list) else []


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- checks -----------------------------------------------------------------------------------------


def password_problem(password: str) -> str | None:
    if len(password) < PASSWORD_MIN:
        return f"must be at least {PASSWORD_MIN} characters, got {len(password)}"
    if len(password) > PASSWORD_MAX:
        return f"must be at most {PASSWORD_MAX} characters"
    if has_control_characters(password):
        return "must not contain control characters"
    return None


def _checked_password(password: str, field: str = "password") -> str:
    problem = password_problem(password)
    if problem is not None:
        raise InputError(field, problem)
    return password


def _checked_email(email: str) -> str:
    address, problem = email_address(email.strip())
    if address is None:
        raise InputError("email", problem or "is not an e-mail address")
    return address


def _checked_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise InputError("role", f"must be one of {', '.join(ROLES)}, got {role!r}")


# -- users ------------------------------------------------------------------------------------------


def get(store: Store, ref: int | str) -> DeskUser:
    """A user by id or e-mail address (case-insensitive).

    :raises UserNotFound:
    """
    row = queries.row_by_id(store, ref) if isinstance(ref, int) else queries.row_by_email(store, ref)
    if row is None:
        raise UserNotFound(ref)
    return _user(row)


def listing(store: Store) -> list[DeskUser]:
    return [_user(row) for row in queries.rows(store)]


def add(
    store: Store, email: str, role: str, now: datetime, actor: audit.Actor, password: str | None = None
) -> DeskUser:
    """A new user, with ``password`` or (None) none yet: then `setup_link` makes the way in.

    :raises InputError: a bad address, role or password, or the address is already a user's.
    """
    address = _checked_email(email)
    checked_role = _checked_role(role)
    hashed = _HASHER.hash(_checked_password(password)) if password is not None else None
    with store.transaction():
        if queries.row_by_email(store, address) is not None:
            raise InputError("email", f"{address} is already a desk user")
        user_id = queries.insert(store, address, checked_role, hashed, iso(now))
        audit.record(
            store, actor, "user", user_id, "add", {"email": (None, address), "role": (None, role)}, now
        )
    return get(store, user_id)


def set_role(store: Store, user_id: int, role: str, now: datetime, actor: audit.Actor) -> DeskUser:
    user = get(store, user_id)
    checked = _checked_role(role)
    with store.transaction():
        if user.role == "admin" and checked != "admin" and user.active and queries.count_admins(store) <= 1:
            raise InputError("role", "the last admin cannot become an editor: make another admin first")
        queries.update(store, user.id, iso(now), role=checked)
        audit.record(store, actor, "user", user.id, "role", {"role": (user.role, checked)}, now)
    return get(store, user.id)


def set_password(store: Store, user_id: int, password: str, now: datetime, actor: audit.Actor) -> DeskUser:
    """A new password; every open session of the user ends and any set-up link stops working."""
    hashed = _HASHER.hash(_checked_password(password))
    user = get(store, user_id)
    with store.transaction():
        queries.update(
            store, user.id, iso(now), password_hash=hashed, setup_nonce=None, setup_expires_at=None
        )
        queries.close_sessions_of(store, user.id)
        audit.record(store, actor, "user", user.id, "password", {"password": ("***", "*** (new)")}, now)
    return get(store, user.id)


def disable(store: Store, user_id: int, now: datetime, actor: audit.Actor) -> DeskUser:
    """The user can no longer sign in; their open sessions end at once."""
    user = get(store, user_id)
    with store.transaction():
        _keep_an_admin(store, user, "disabled")
        queries.update(store, user.id, iso(now), disabled_at=iso(now))
        queries.close_sessions_of(store, user.id)
        audit.record(store, actor, "user", user.id, "disable", {"status": ("active", "disabled")}, now)
    return get(store, user.id)


def enable(store: Store, user_id: int, now: datetime, actor: audit.Actor) -> DeskUser:
    user = get(store, user_id)
    with store.transaction():
        queries.update(store, user.id, iso(now), disabled_at=None)
        audit.record(store, actor, "user", user.id, "enable", {"status": ("disabled", "active")}, now)
    return get(store, user.id)


def reset(store: Store, user_id: int, now: datetime, actor: audit.Actor) -> DeskUser:
    """Forget the password and the one-time codes, end every session: the user needs a new set-up link."""
    user = get(store, user_id)
    with store.transaction():
        queries.update(
            store, user.id, iso(now), password_hash=None, totp_secret=None, totp_last_step=None,
            recovery_codes="[]",
        )  # fmt: skip
        queries.close_sessions_of(store, user.id)
        changes = {"password": ("***", None), "totp": (user.totp_enabled, False)}
        audit.record(store, actor, "user", user.id, "reset", changes, now)
    return get(store, user.id)


def _keep_an_admin(store: Store, user: DeskUser, what: str) -> None:
    """:raises InputError: ``user`` is the last active admin, who cannot be ``what`` (disabled, removed)."""
    if user.role == "admin" and user.active and queries.count_admins(store) <= 1:
        raise InputError("user", f"the last admin cannot be {what}: make another admin first")


def remove(store: Store, user_id: int, now: datetime, actor: audit.Actor) -> None:
    """Delete the user; their audit rows stay, under the address they had."""
    user = get(store, user_id)
    with store.transaction():
        _keep_an_admin(store, user, "removed")
        audit.record(store, actor, "user", user.id, "remove", {"email": (user.email, None)}, now)
        queries.delete(store, user.id)


# -- set-up links -----------------------------------------------------------------------------------


class Links:
    """Signs set-up links and session cookies with the service's key (`Settings.signing_key`)."""

    def __init__(self, secret: str | list[str]) -> None:
        self._setup = URLSafeTimedSerializer(secret, salt="newsroom-feed desk set-up")
        self._session = URLSafeTimedSerializer(secret, salt="newsroom-feed desk session")

    def setup_link(self, store: Store, user_id: int, now: datetime) -> str:
        """A new one-time set-up token for the user (valid `SETUP_HOURS`); an older one stops working."""
        user = get(store, user_id)
        nonce = secrets.token_urlsafe(24)
        with store.transaction():
            queries.update(
                store, user.id, iso(now), setup_nonce=_sha256(nonce),
                setup_expires_at=iso(now + timedelta(hours=SETUP_HOURS)),
            )  # fmt: skip
        return str(self._setup.dumps([user.id, nonce]))

    def setup_user(self, store: Store, token: str, now: datetime) -> DeskUser | None:
        """The user a set-up token is for, if it is the latest, unused and younger than 24 h."""
        try:
            value = self._setup.loads(token, max_age=SETUP_HOURS * 3600)
        except BadSignature:
            return None
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int)):
            return None
        row = queries.row_by_id(store, value[0])
        if row is None or not isinstance(value[1], str):
            return None
        nonce_hash, expires = row[11], stored_moment(row[12])
        if nonce_hash is None or expires is None or expires <= now or row[7] is not None:
            return None
        if not hmac.compare_digest(nonce_hash, _sha256(value[1])):
            return None
        return _user(row)

    def redeem(self, store: Store, token: str, password: str, now: datetime) -> DeskUser:
        """Set the password through a set-up link, which then stops working.

        :raises InputError: ``token`` (the link is unknown, used or expired) or ``password``.
        """
        user = self.setup_user(store, token, now)
        if user is None:
            raise InputError("token", "this set-up link is not valid any more: ask an admin for a new one")
        return set_password(store, user.id, password, now, audit.Actor(user.email, user.id))

    # -- sessions -----------------------------------------------------------------------------------

    def open_session(self, store: Store, user: DeskUser, now: datetime, hours: float) -> str:
        """A new session; returns the cookie value (a signed random key)."""
        key = secrets.token_urlsafe(32)
        with store.transaction():
            queries.prune_sessions(store, iso(now))
            queries.open_session(store, _sha256(key), user.id, iso(now), iso(now + timedelta(hours=hours)))
            queries.update(store, user.id, iso(now), last_sign_in_at=iso(now))
        return str(self._session.dumps(key))

    def _key(self, cookie: str | None) -> str | None:
        if not cookie or len(cookie) > 200:
            return None
        try:
            key = self._session.loads(cookie)
        except BadSignature:
            return None
        return key if isinstance(key, str) else None

    def session_user(self, store: Store, cookie: str | None, now: datetime) -> DeskUser | None:
        """The enabled user of an open, unexpired session, or None."""
        key = self._key(cookie)
        if key is None:
            return None
        row = queries.session_user_row(store, _sha256(key), iso(now))
        return _user(row) if row is not None else None

    def close_session(self, store: Store, cookie: str | None) -> None:
        key = self._key(cookie)
        if key is not None:
            with store.transaction():
                queries.close_session(store, _sha256(key))


# -- signing in -------------------------------------------------------------------------------------


def check_password(store: Store, email: str, password: str) -> DeskUser | None:
    """The enabled user with this address and password, or None; as slow for an unknown address."""
    row = queries.row_by_email(store, email.strip()) if len(email) <= 320 else None
    stored_hash = row[3] if row is not None and row[3] else _DUMMY_HASH
    try:
        _HASHER.verify(stored_hash, password[:PASSWORD_MAX])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None or not row[3] or row[7] is not None:
        return None
    return _user(row)


def needs_second_factor(user: DeskUser) -> bool:
    return user.totp_enabled


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (typed in, or from a QR code of it)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def _code_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code ``code`` is (this one, or one either side for a slow clock)."""
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // totp.interval
    for candidate in (step, step - 1, step + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def enable_totp(
    store: Store, user_id: int, secret: str, code: str, now: datetime, actor: audit.Actor
) -> list[str]:
    """Turn one-time codes on once the user proved their app has ``secret``; returns the recovery codes
    (shown once, stored hashed).

    :raises InputError: ``code`` is not the current code of that secret.
    """
    user = get(store, user_id)
    step = _code_step(secret, _digits(code), now)
    if step is None:
        raise InputError("code", "is not the code your app shows now: check the phone's clock and try again")
    codes = [f"{secrets.randbelow(10**10):010d}" for _ in range(RECOVERY_CODES)]
    with store.transaction():
        queries.update(
            store, user.id, iso(now), totp_secret=secret, totp_last_step=step,
            recovery_codes=json.dumps([_sha256(c) for c in codes]),
        )  # fmt: skip
        audit.record(store, actor, "user", user.id, "totp", {"totp": (user.totp_enabled, True)}, now)
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def disable_totp(store: Store, user_id: int, now: datetime, actor: audit.Actor) -> None:
    user = get(store, user_id)
    with store.transaction():
        queries.update(store, user.id, iso(now), totp_secret=None, totp_last_step=None, recovery_codes="[]")
        audit.record(store, actor, "user", user.id, "totp", {"totp": (user.totp_enabled, False)}, now)


def _digits(code: str) -> str:
    return "".join(c for c in code if c.isdigit())


def check_second_factor(store: Store, user_id: int, code: str, now: datetime) -> bool:
    """A current one-time code not used before, or an unused recovery code (which is then spent)."""
    row = queries.row_by_id(store, user_id)
    if row is None or not row[4]:
        return False
    secret, last_step, stored_codes = row[4], row[5], _codes(row[6])
    digits = _digits(code)
    with store.transaction():
        if len(digits) == 6:
            step = _code_step(secret, digits, now)
            if step is None or (last_step is not None and step <= last_step):
                return False
            queries.update(store, user_id, iso(now), totp_last_step=step)
            return True
        if len(digits) == 10:
            hashed = _sha256(digits)
            if hashed in stored_codes:
                stored_codes.remove(hashed)
                queries.update(store, user_id, iso(now), recovery_codes=json.dumps(stored_codes))
                audit.record(
                    store, audit.Actor(row[1], user_id), "user", user_id, "recovery code used",
                    {"recovery_codes_left": (len(stored_codes) + 1, len(stored_codes))}, now,
                )  # fmt: skip
                return True
    return False
