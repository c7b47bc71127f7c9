"""The single-instance lock: held by the daemon for its life and by batch commands while they send."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from newsroom_feed.errors import LockedError
from newsroom_feed.private_files import make_private_dirs


class InstanceLock:
    """The lock `run` holds for its whole life, on ``<database>.lock`` next to the store.

    Only its holder sends mail, so a sending command that cannot take it knows a daemon will deliver.
    The holder's PID is written to ``<database>.pid`` so that the refusal can name it. The lock is an
    OS file lock (flock): it goes away with the process, even after SIGKILL.
    """

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self.pid_path = database.with_name(database.name + ".pid")
        self._lock = FileLock(str(self.path), timeout=0)

    def holder(self) -> int | None:
        """The PID recorded by the current (or last) holder, if readable."""
        try:
            return int(self.pid_path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None

    def acquire(self) -> None:
        """Take the lock now or fail.

        :raises LockedError: another process holds it; the message names its PID.
        """
        make_private_dirs(self.path.parent)  # the store's directory, when `run` is the first to need it
        try:
            self._lock.acquire()
        except Timeout:
            pid = self.holder()
            who = f"process {pid}" if pid else "another process"
            raise LockedError(
                f"{who} already runs newsroom-feed on {self.path.with_suffix('')} (lock {self.path}); "
                "stop it first"
            ) from None
        self.pid_path.write_text(f"{os.getpid()}\n", encoding="ascii")

    def release(self) -> None:
        if self._lock.is_locked:
            with contextlib.suppress(OSError):
                self.pid_path.unlink()
            self._lock.release()

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def held_by(database: Path) -> int | None:
    """Whether a process holds the lock now: its PID (0 when it wrote none), or None when the lock is free.

    Tries the lock without writing the PID file, so asking (the desk's health page) never looks like a
    holder. No lock file means no holder ever ran here, and none is made.
    """
    lock = InstanceLock(database)
    if not lock.path.exists():
        return None
    probe = FileLock(str(lock.path), timeout=0)
    try:
        probe.acquire()
    except Timeout:
        return lock.holder() or 0
    probe.release()
    return None


@contextlib.contextmanager
def try_instance_lock(database: Path) -> Iterator[bool]:
    """Hold the lock if it is free; yields whether we hold it (False: a daemon runs and will deliver).

    For batch sending commands (`outbox send`, `digest send`): they send only when no daemon does.
    """
    lock = InstanceLock(database)
    try:
        lock.acquire()
    except LockedError:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
