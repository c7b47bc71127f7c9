"""Named queries on uploads: the files press officers uploaded, by the SHA-256 of their content."""

from __future__ import annotations

from typing import Any

from newsroom_feed.store.database import Store

COLUMNS = "sha256, path, file_name, mime_type, length, width, height, uploaded_by, uploaded_at"


def insert(store: Store, values: tuple[Any, ...]) -> None:
    """Record an upload; the same content again keeps the first record."""
    store.conn.execute(
        f"INSERT OR IGNORE INTO uploads ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values
    )


def row_by_sha256(store: Store, sha256: str) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = store.conn.execute(
        f"SELECT {COLUMNS} FROM uploads WHERE sha256 = ?", (sha256,)
    ).fetchone()
    return row


def rows_by_paths(store: Store, paths: list[str]) -> list[tuple[Any, ...]]:
    if not paths:
        return []
    marks = ",".join("?" * len(paths))
    return list(store.conn.execute(f"SELECT {COLUMNS} FROM uploads WHERE path IN ({marks})", paths))
