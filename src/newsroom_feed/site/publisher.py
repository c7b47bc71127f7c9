"""Writes the public directory: atomic replacement of each file, identical bytes skipped, stale files removed.

A reader (the web app, nginx, a CDN pulling the directory) sees either the old or the new version of a
file, never half of one: each file is written to a temporary file in its own directory, flushed with
``fsync`` and renamed over the old one with `os.replace`. A file whose bytes are already on disk is not
touched, so its mtime, and the ETag the web app derives from its content, stay put and a build with
nothing new reports nothing changed.
"""

# String paths and os calls, not pathlib, in the per-file path of a build: pathlib cost about as much as
# writing the files themselves (30 µs a path; a full build writes 14,000 files).
# ruff: noqa: PTH105, PTH108, PTH112, PTH113, PTH116, PTH120, PTH123

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from newsroom_feed.errors import NewsroomError
from newsroom_feed.private_files import sync_directory

#: Above this many changed files, one `os.sync` replaces an fsync per file and per directory.
_SYNC_BATCH = 64
#: Path parts that would leave the public directory or name it twice.
_BAD_PARTS = frozenset({"", ".", ".."})
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


class PublishError(NewsroomError):
    """An output could not be written or a path would leave the public directory."""


@dataclass(slots=True)
class PublishResult:
    """What really changed on disk, as paths relative to the public directory."""

    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: sha256 (hex) of every file written: a strong validator for whoever serves it.
    digests: dict[str, str] = field(default_factory=dict)


class Publisher:
    """The public directory of one newsroom."""

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = root
        #: fsync each file before its rename; only a throwaway directory (a benchmark) turns it off.
        self.durable = durable
        self._root = str(root)
        #: Temporary files staged so far, for their names.
        self._staged = 0

    def target(self, path: str) -> Path:
        """The file for a relative output path.

        :raises PublishError: the path is absolute or climbs out of the public directory.
        """
        return Path(self._file(path))

    def _file(self, path: str) -> str:
        """`target` as a string: a full build checks 14,000 paths, and pathlib costs 30 µs a path.

        :raises PublishError: the path is absolute or climbs out of the public directory.
        """
        parts = path.split("/")
        if not path or path.startswith("/") or any(part in _BAD_PARTS for part in parts):
            raise PublishError(f"not a path inside the public directory: {path!r}")
        return f"{self._root}/{path}"

    def exists(self, path: str) -> bool:
        return os.path.isfile(self._file(path))

    def publish(self, outputs: Mapping[str, bytes], remove: Iterable[str] = ()) -> PublishResult:
        """Write ``outputs`` where their bytes differ from the disk, then delete ``remove``.

        Paths in both are written, not removed. Directories left empty by a removal are removed too.

        :raises PublishError: a file could not be written or removed (disk full, permissions).
        """
        result = PublishResult()
        files = {path: self._file(path) for path in sorted(outputs)}
        changed = [path for path, target in files.items() if not _same(target, outputs[path])]
        batch = self.durable and len(changed) > _SYNC_BATCH
        staged: list[tuple[str, str]] = []
        made: set[str] = set()
        try:
            for path in changed:
                target = files[path]
                directory = os.path.dirname(target)
                if directory not in made:
                    _make_public_directory(self.root, directory)
                    made.add(directory)
                temporary = self._stage(directory, outputs[path], fsync=self.durable and not batch)
                staged.append((temporary, target))
            if batch:
                # One flush of every file system instead of one fsync per file: a full build of
                # thousands of pages would otherwise spend most of its time waiting on the disk.
                os.sync()
            for temporary, target in staged:
                os.replace(temporary, target)
        except OSError as error:
            for temporary, _ in staged:
                _unlink(temporary)
            raise PublishError(f"cannot write the public directory {self.root}: {error}") from error
        for path in changed:
            result.written.append(path)
            result.digests[path] = hashlib.sha256(outputs[path]).hexdigest()
        if batch:
            os.sync()
        elif self.durable:
            # The renames themselves are durable once their directories are flushed.
            for directory in sorted({os.path.dirname(target) for _, target in staged}):
                sync_directory(Path(directory))
        for path in sorted(set(remove) - set(outputs)):
            if self._remove(self.target(path)):
                result.removed.append(path)
        return result

    def files_under(self, *folders: str) -> set[str]:
        """Every file below these folders of the public directory, as relative paths."""
        found: set[str] = set()
        for folder in folders:
            base = self.target(folder)
            for directory, _, names in os.walk(base):
                relative = Path(directory).relative_to(self.root).as_posix()
                found.update(f"{relative}/{name}" for name in names if not name.startswith(".tmp-"))
        return found

    def _stage(self, directory: str, data: bytes, *, fsync: bool) -> str:
        """The bytes in a new temporary file in ``directory``, readable by all, ready to be renamed.

        Named by process and counter, not by `tempfile`'s random names, which cost more than the
        write itself; ``O_EXCL`` still refuses a name some other process holds, and the next is tried.
        """
        while True:
            self._staged += 1
            temporary = f"{directory}/.tmp-{os.getpid()}-{self._staged}"
            try:
                descriptor = os.open(temporary, _CREATE, 0o644)
            except FileExistsError:
                continue
            break
        try:
            # The mode given to open is cut by the umask; a web server running as another user must read it.
            os.fchmod(descriptor, 0o644)
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            if fsync:
                os.fsync(descriptor)
        except BaseException:
            os.close(descriptor)
            _unlink(temporary)
            raise
        os.close(descriptor)
        return temporary

    def _remove(self, target: Path) -> bool:
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        except OSError as error:
            raise PublishError(f"cannot remove {target}: {error}") from error
        parent = target.parent
        while parent != self.root and parent.is_relative_to(self.root):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
        return True


def _same(target: str, data: bytes) -> bool:
    """Whether ``target`` holds exactly ``data``: the size first, so a changed file is rarely read."""
    try:
        if os.stat(target).st_size != len(data):
            return False
        with open(target, "rb") as handle:
            return handle.read() == data
    except (FileNotFoundError, NotADirectoryError):
        return False


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _make_public_directory(root: Path, directory: str) -> None:
    """Make ``directory`` (and its parents up to ``root``) readable by everyone, whatever the umask.

    The daemon runs with ``UMask=0077`` so that the store and its secrets are private; the public
    directory is the one thing a separate web server (nginx as www-data) must read, and a directory made
    under that umask would be 0700 and answer 403 for every page.
    """
    if os.path.isdir(directory):  # the common case, once per directory of a build: one stat, no pathlib
        return
    target = Path(directory)
    top = root.parent.resolve()
    missing = [path for path in (target, *target.parents) if not path.is_dir() and path.resolve() != top]
    target.mkdir(parents=True, exist_ok=True)
    for made in missing:
        made.chmod(0o755)  # the public directory is meant to be read by the web server
