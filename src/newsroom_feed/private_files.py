"""Files only the service's user may read: the store, its backups, the generated signing key.

The store holds subscribers' addresses and the key forges their links, so whatever the umask the process
inherits (0022 from a login shell, 0000 from some supervisors), what the service creates for them is
mode 0600 and the directories it creates for them 0700. Files and directories that already exist keep
their mode: an operator may have opened the state directory to a group on purpose (a CMS writing
releases with plain SQL as another user).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents, each with mode 0700.

    Not ``Path.mkdir(parents=True, mode=0o700)``: that gives the parents it creates the umask's mode.
    """
    missing = []
    for folder in (directory, *directory.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(DIRECTORY_MODE)
        except FileExistsError:
            continue  # made meanwhile by another process, with its own mode
        folder.chmod(DIRECTORY_MODE)  # exactly 0700, whatever bits the umask took away


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty with mode 0600 if it does not exist; whether it was created.

    SQLite creates a database file with mode 0644 less the umask, and gives its ``-wal`` and ``-shm``
    files the database file's mode: so an empty 0600 file made before the first connection (SQLite
    takes an empty file for a new database) keeps all three private.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, FILE_MODE)  # exactly 0600, whatever bits the umask took away
    finally:
        os.close(fd)
    return True


def private_temporary(directory: Path, name: str) -> Path:
    """A new empty 0600 file in ``directory`` (``mkstemp``), named after the ``name`` it will become,
    hidden, so that a half-made file is never taken for the real one."""
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".partial")
    os.close(fd)
    return Path(temporary)


def write_new_private_file(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` as a new 0600 file, whole and on disk, unless ``path`` exists.

    The file is written and synced under a temporary name and linked into place, so a process reading
    ``path`` meanwhile never sees it empty or half-written, and of two processes creating it at once
    one wins and the other reads the winner's (``False``: it existed, left as it was).
    """
    make_private_dirs(path.parent)
    temporary = private_temporary(path.parent, path.name)
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        sync_directory(path.parent)
        return True
    finally:
        temporary.unlink(missing_ok=True)


def sync_directory(directory: Path) -> None:
    """Make a rename or a new name in ``directory`` survive a power cut (the entry lives in the
    directory, which ``fsync`` of the file does not write). Some file systems refuse; that is no error."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
