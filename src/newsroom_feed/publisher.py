"""Writes the public directory: atomic replacement of each file, identical bytes skipped, stale files removed.

A reader (the web app, nginx, a CDN pulling the directory) sees either the old or the new version of a
file, never half of one: each file is written to a temporary file in its own directory, flushed with
``fsync`` and renamed over the old one with `os.replace`. A file whose bytes are already on disk is not
touched, so its mtime, and the ETag the web app derives from its content, stay put and a build with
nothing new reports nothing changed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from newsroom_feed.errors import NewsroomError

#: Above this many changed files, one `os.sync` replaces an fsync per file and per directory.
_SYNC_BATCH = 64


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

    def target(self, path: str) -> Path:
        """The file for a relative output path.

        :raises PublishError: the path is absolute or climbs out of the public directory.
        """
        pure = PurePosixPath(path)
        if pure.is_absolute() or not pure.parts or any(part in {"", ".", ".."} for part in pure.parts):
            raise PublishError(f"not a path inside the public directory: {path!r}")
        return self.root.joinpath(*pure.parts)

    def exists(self, path: str) -> bool:
        return self.target(path).is_file()

    def publish(self, outputs: Mapping[str, bytes], remove: Iterable[str] = ()) -> PublishResult:
        """Write ``outputs`` where their bytes differ from the disk, then delete ``remove``.

        Paths in both are written, not removed. Directories left empty by a removal are removed too.

        :raises PublishError: a file could not be written or removed (disk full, permissions).
        """
        result = PublishResult()
        changed = [path for path in sorted(outputs) if not self._same(self.target(path), outputs[path])]
        batch = self.durable and len(changed) > _SYNC_BATCH
        staged: list[tuple[Path, Path]] = []
        try:
            for path in changed:
                target = self.target(path)
                staged.append((self._stage(target, outputs[path], fsync=self.durable and not batch), target))
            if batch:
                # One flush of every file system instead of one fsync per file: a full build of
                # thousands of pages would otherwise spend most of its time waiting on the disk.
                os.sync()
            for temporary, target in staged:
                temporary.replace(target)
        except OSError as error:
            for temporary, _ in staged:
                temporary.unlink(missing_ok=True)
            raise PublishError(f"cannot write the public directory {self.root}: {error}") from error
        for path in changed:
            result.written.append(path)
            result.digests[path] = hashlib.sha256(outputs[path]).hexdigest()
        if batch:
            os.sync()
        elif self.durable:
            # The renames themselves are durable once their directories are flushed.
            for directory in sorted({target.parent for _, target in staged}):
                _fsync_directory(directory)
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

    @staticmethod
    def _same(target: Path, data: bytes) -> bool:
        try:
            return target.stat().st_size == len(data) and target.read_bytes() == data
        except FileNotFoundError:
            return False

    @staticmethod
    def _stage(target: Path, data: bytes, *, fsync: bool) -> Path:
        """The bytes in a temporary file beside ``target``, readable by all, ready to be renamed."""
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        temporary = Path(name)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                if fsync:
                    os.fsync(handle.fileno())
            # mkstemp makes the file private; a web server running as another user must read it.
            temporary.chmod(0o644)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
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


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot flush a directory; the rename still happened
    finally:
        os.close(descriptor)
