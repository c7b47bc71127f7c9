"""Named queries on desk users and their sessions; `people.users` keeps the rules (hashing, codes, roles).

Every function joins the caller's transaction. Rows come back as tuples in the order of `COLUMNS`.
Times are passed in as stored text.
"""

from __future__ import annotations

from typing import Any

from newsroom_feed.store.database import Store

COLUMNS = (
    "id, email, role, password_hash, totp_secret, totp_last_step, recovery_codes, disabled_at, "
    "last_sign_in_at, created_at, updated_at, setup_nonce, setup_expires_at"
)


def insert(store: Store, email: str, role: str, password_hash: str | None, now: str) -> int:
    cursor = store.conn.execute(
        "INSERT INTO users (email, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        (email, role, password_hash, now, now),
    )
    return int(cursor.lastrowid or 0)


def row_by_id(store: Store, user_id: int) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = store.conn.execute(
        f"SELECT {COLUMNS} FROM users WHERE id = ?", (user_id,)
    ).fetchone()
    return row


def row_by_email(store: Store, email: str) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = store.conn.execute(
        f"SELECT {COLUMNS} FROM users WHERE email = ? COLLATE NOCASE", (email,)
    ).fetchone()
    return row


def rows(store: Store) -> list[tuple[Any, ...]]:
    return list(store.conn.execute(f"SELECT {COLUMNS} FROM users ORDER BY email COLLATE NOCASE"))


def count_admins(store: Store) -> int:
    row = store.conn.execute(
        "SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL"
    ).fetchone()
    return int(row[0])


def update(store: Store, user_id: int, now: str, **columns: Any) -> None:
    """Set ``columns`` (names from `COLUMNS`, never from input) and ``updated_at``."""
    names = ", ".join(f"{name} = ?" for name in columns)
    store.conn.execute(
        f"UPDATE users SET {names}, updated_at = ? WHERE id = ?", (*columns.values(), now, user_id)
    )


def delete(store: Store, user_id: int) -> None:
    store.conn.execute("DELETE FROM users WHERE id = ?", (user_id,))


# -- sessions ---------------------------------------------------------------------------------------


def open_session(store: Store, key_hash: str, user_id: int, now: str, expires_at: str) -> None:
    store.conn.execute(
        "INSERT INTO desk_sessions (key_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        (key_hash, user_id, now, expires_at),
    )


def session_user_row(store: Store, key_hash: str, now: str) -> tuple[Any, ...] | None:
    """The enabled user of an unexpired session."""
    columns = ", ".join(f"u.{name.strip()}" for name in COLUMNS.split(","))
    row: tuple[Any, ...] | None = store.conn.execute(
        f"SELECT {columns} FROM desk_sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.key_hash = ? AND s.expires_at > ? AND u.disabled_at IS NULL",
        (key_hash, now),
    ).fetchone()
    return row


def close_session(store: Store, key_hash: str) -> None:
    store.conn.execute("DELETE FROM desk_sessions WHERE key_hash = ?", (key_hash,))


def close_sessions_of(store: Store, user_id: int) -> int:
    return store.conn.execute("DELETE FROM desk_sessions WHERE user_id = ?", (user_id,)).rowcount


def prune_sessions(store: Store, now: str) -> int:
    return store.conn.execute("DELETE FROM desk_sessions WHERE expires_at <= ?", (now,)).rowcount
