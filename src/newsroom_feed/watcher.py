"""The watcher: notices commits by any process to the store and asks for a build when releases changed.

It polls ``PRAGMA data_version`` on a connection of its own (a few microseconds; the value changes only
when *another* connection commits, and stays frozen while this connection holds a read transaction, hence
autocommit and no open cursors). Only when it changed does it compare the newest `changes` row with the
build cursor: releases written by the CLI, the admin API or an outside CMS with plain SQL all land there
through triggers. The build moves the cursor only after the files are in place, so a build that fails or
is killed is simply asked for again. A build that failed elsewhere (an embargo lift, whose clock job is
spent) is handed over with `request_build`, and retried here with the same backoff until it succeeds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from newsroom_feed.store.build import ChangeProbe

log = structlog.get_logger(__name__)

#: After a failed build, wait this long before asking again, doubling up to the maximum.
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0


class Watcher:
    """Polls one database for commits; calls ``on_change`` for new release changes, ``on_commit`` for any.

    ``on_change`` is awaited (one build at a time) and should raise on failure, to be retried with
    backoff. ``on_commit`` is a cheap notification, e.g. to wake the sender when another process queued
    mail.
    """

    def __init__(
        self,
        database: Path,
        interval: float,
        on_change: Callable[[], Awaitable[object]],
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.database = database
        self.interval = interval
        self._on_change = on_change
        self._on_commit = on_commit
        self._probe: ChangeProbe | None = None
        self._version: int | None = None
        self._pending = False
        self.polls = 0

    def request_build(self) -> None:
        """Ask for a build at the next poll even though nothing was committed: one that failed elsewhere
        (a lift) must still happen. Retried with backoff until it succeeds, like a failed change build."""
        self._pending = True

    @property
    def pending(self) -> bool:
        """Whether a build is asked for and has not yet succeeded."""
        return self._pending

    def open(self) -> None:
        """Open the dedicated connection; the store must exist (the daemon opened it and migrated)."""
        self._probe = ChangeProbe(self.database)
        self._version = self._data_version()

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None

    def _data_version(self) -> int:
        assert self._probe is not None, "open() first"
        return self._probe.data_version()

    def committed(self) -> bool:
        """Whether another connection committed since the last call."""
        self.polls += 1
        version = self._data_version()
        if version == self._version:
            return False
        self._version = version
        return True

    def behind(self) -> bool:
        """Whether `changes` holds rows after the build cursor, i.e. outputs are out of date."""
        assert self._probe is not None, "open() first"
        return self._probe.behind()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set. Starts by catching up on changes made while nobody watched."""
        if self._probe is None:
            self.open()
        self._pending = self._pending or self.behind()
        retry = RETRY_FIRST_SECONDS
        wait = 0.0
        while not stop.is_set():
            if self.committed():
                if self._on_commit is not None:
                    self._on_commit()
                self._pending = self._pending or self.behind()
            if self._pending:
                try:
                    await self._on_change()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("build failed; will try again", retry_in=retry)
                    wait, retry = retry, min(retry * 2, RETRY_MAX_SECONDS)
                else:
                    self._pending, retry = False, RETRY_FIRST_SECONDS
            await _sleep_or_stop(stop, max(wait, self.interval))
            wait = 0.0


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return
