"""A correction's fan-out survives SIGKILL like an alert's: restarted, the sender delivers every
correction, each threaded under that reader's original, and repeats at most the messages in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from newsroom_feed.cli import main
from newsroom_feed.mail import outbox
from newsroom_feed.models import iso, utcnow
from newsroom_feed.store.database import Store

from ..mail_helpers import add_release
from ..smtp_server import SmtpServer

READERS = 600
CONNECTIONS = 4


@pytest.mark.slow
def test_a_sender_killed_mid_correction_and_restarted_repeats_at_most_the_messages_in_flight(
    store: Store, smtp_server: SmtpServer, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Slow enough that the kill lands mid-fan-out.
    env = {
        **cli_env,
        "NEWSROOM_SMTP__CONNECTIONS": str(CONNECTIONS),
        "NEWSROOM_SMTP__RATE_PER_SECOND": "1000",
    }
    for name in ("NEWSROOM_SMTP__CONNECTIONS", "NEWSROOM_SMTP__RATE_PER_SECOND"):
        monkeypatch.setenv(name, env[name])
    now = utcnow()
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO subscribers (email, kind, frequency, status, token, created_at) "
            "VALUES (?, 'journalist', 'immediate', 'active', ?, ?)",
            [(f"r{n:04d}@example.pl", f"token-{n}", iso(now)) for n in range(READERS)],
        )
    release = add_release(store, now, "Złote Lajki 2026 wręczone", categories=["kultura"])
    assert main(["build"]) == 0
    assert main(["outbox", "send"]) == 0
    originals = {r.recipients[0]: r.message["Message-ID"] for r in smtp_server.received}
    assert len(originals) == READERS
    assert main(["release", "correct", str(release.id), "--note", "Poprawiono nazwisko laureata."]) == 0
    assert main(["build"]) == 0

    command = [sys.executable, "-m", "newsroom_feed.cli", "outbox", "send"]
    child_env = {**os.environ, **env}
    first = subprocess.Popen(command, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(smtp_server.received) < READERS + 200 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert READERS < len(smtp_server.received) < 2 * READERS, "the kill must land in the middle of the run"
    second = subprocess.run(command, env=child_env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr

    corrections = smtp_server.received[READERS:]
    per_reader = Counter(r.recipients[0] for r in corrections)
    assert set(per_reader) == set(originals)
    assert sum(per_reader.values()) - READERS <= CONNECTIONS
    for received in corrections:
        message = received.message
        assert message["X-Newsroom-Kind"] == "correction"
        assert message["In-Reply-To"] == originals[received.recipients[0]]
    rows = outbox.list_rows(store)  # what `outbox list` shows
    assert Counter(row.kind for row in rows) == {"alert": READERS, "correction": READERS}
    assert {row.status for row in rows} == {"sent"}
