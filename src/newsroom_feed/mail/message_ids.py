"""Message-IDs of outbox rows: stable per row, so a retry is the same message and a follow-up can name it.

The composer stamps them on every message it writes; the planner computes the one a row in flight will
carry (its ``message_id`` column is filled only once an attempt is recorded), so a correction planned
while the original is on the wire is still threaded to it.
"""

from __future__ import annotations

import hashlib
import hmac


def message_id_key(signing_key: str) -> bytes:
    """The HMAC key of Message-IDs, derived from the service's secret (`Settings.signing_key`): nobody
    outside can forge the id of another row, and no two services share one."""
    return hashlib.sha256(b"newsroom-feed/message-id\0" + signing_key.encode()).digest()


def row_message_id(key: bytes, row_id: int, outbox_key: str, subscriber_id: int | None, domain: str) -> str:
    """``<id.hash@domain>`` of an outbox row: the same for every attempt of that row."""
    digest = hmac.digest(key, f"{row_id}:{outbox_key}:{subscriber_id}".encode(), "sha256").hex()[:24]
    return f"<{row_id}.{digest}@{domain}>"
