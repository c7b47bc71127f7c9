"""The public directory over HTTP: content types, strong ETags, conditional GET, gzip, directory indexes.

Feed readers poll every few minutes, so the common answer is a 304: it must cost a `stat` and a dict
lookup, never a hash of the file. ETags are cached per (path, mtime, size); a file replaced by the
publisher (a rename, so a new inode and mtime) gets a new entry. Small files are kept in memory with their
gzip variant, which has an ETag of its own (``"<hash>-gz"``): two representations never share a strong
ETag (RFC 9110 section 8.8.3).

No path outside the public directory can be read: dot segments and hidden names are refused before the
file system is touched, and the real path (symlinks resolved) must still lie under the directory.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import re
import stat
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

from starlette.responses import FileResponse

from newsroom_feed.settings import Settings
from newsroom_feed.site.formats import FORMATS
from newsroom_feed.site.layout import DIRECTORY_INDEX, GONE, gone_path
from newsroom_feed.web.security import Receive, Scope, Send

HTML = "text/html; charset=utf-8"
#: Feed files by name, from the registry of formats: ``rss.xml`` also names ``rss-pl.xml`` and the like,
#: so a feed is known by its stem and suffix: (stem, suffix, media type).
_FEEDS = tuple(
    (stem, f".{suffix}", f"{output.media_type}; charset=utf-8")
    for output in FORMATS
    for stem, _, suffix in [output.name.lower().rpartition(".")]
)
FEED_TYPES = frozenset(media_type for _, _, media_type in _FEEDS)

_BY_SUFFIX = {
    ".html": HTML,
    ".htm": HTML,
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/json",
    # The calendars of `site.calendar` (RFC 5545 says UTF-8 unless told; say it for every client).
    ".ics": "text/calendar; charset=utf-8",
    ".svg": "image/svg+xml",
    ".xsl": "application/xslt+xml",
}
_COMPRESSIBLE = ("text/", "application/rss", "application/atom", "application/feed", "application/xml",
                 "application/json", "application/xslt", "image/svg", "application/javascript")  # fmt: skip

#: Files up to this size are kept in memory (with their gzip variant); larger ones are streamed.
MEMORY_LIMIT = 1024 * 1024
#: How many files the cache remembers; feeds and index pages are a few dozen, release pages the rest.
CACHE_ENTRIES = 512
#: Below this a gzip wrapper costs more than it saves.
GZIP_MIN = 256


def content_type(path: Path) -> str:
    """The media type of an output, by name: a feed named like its format (``rss*.xml``, ``atom*.xml``,
    ``feed*.json``) gets that format's."""
    name = path.name.lower()
    for stem, suffix, media_type in _FEEDS:
        if name.endswith(suffix) and name.startswith(stem):
            return media_type
    known = _BY_SUFFIX.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def cache_control(media_type: str) -> str:
    """Feeds and pages change when a release is published: readers recheck them after a minute."""
    if media_type in FEED_TYPES or media_type.startswith("text/calendar"):
        return "public, max-age=60"
    if media_type == HTML:
        return "public, max-age=120"
    return "public, max-age=3600"


@dataclass(slots=True)
class _Entry:
    mtime_ns: int
    size: int
    etag: bytes
    last_modified: bytes
    data: bytes | None
    gzipped: bytes | None = None
    gzip_etag: bytes = b""
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True)
class Conditions:
    """What the answer depends on, read from the ASGI scope once."""

    method: str
    accept_encoding: str = ""
    if_none_match: str | None = None
    if_modified_since: str | None = None

    @classmethod
    def of(cls, scope: Scope) -> Conditions:
        found: dict[bytes, str] = {}
        for name, value in scope.get("headers", ()):
            if name in _WANTED_HEADERS:
                found[name] = value.decode("latin-1")
        return cls(
            scope["method"],
            found.get(b"accept-encoding", ""),
            found.get(b"if-none-match"),
            found.get(b"if-modified-since"),
        )


_WANTED_HEADERS = frozenset({b"accept-encoding", b"if-none-match", b"if-modified-since"})
_LOCATE_TTL = 2.0


class PublicFiles:
    """Answers GET and HEAD for files under ``settings.public_dir``, as a bare ASGI handler.

    Feed polls are the bulk of the traffic, so this path skips the framework's routing and request
    objects: `StaticFirst` hands it every GET and HEAD that no dynamic route claims.
    """

    def __init__(self, settings: Settings) -> None:
        self.root = Path(os.path.realpath(settings.public_dir))
        self.base_url = settings.base_url
        self.hubs = tuple(settings.websub.hubs)
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._located: dict[str, tuple[float, Path | None]] = {}
        self._lock = threading.Lock()

    # -- finding a file -----------------------------------------------------------------------------

    def locate(self, url_path: str) -> Path | None:
        """The file or directory a URL path names, or None if it is not under the public directory.

        Resolving symlinks costs a system call per path component, so the answer is kept for
        `_LOCATE_TTL` seconds; whether the file exists is still asked on every request.
        """
        now = time.monotonic()
        known = self._located.get(url_path)
        if known is not None and now - known[0] < _LOCATE_TTL:
            return known[1]
        found = self._locate(url_path)
        with self._lock:
            if len(self._located) >= CACHE_ENTRIES * 4:
                self._located.clear()
            self._located[url_path] = (now, found)
        return found

    def _locate(self, url_path: str) -> Path | None:
        parts = [part for part in url_path.split("/") if part]
        for part in parts:
            if part.startswith(".") or "\\" in part or "\x00" in part or ":" in part:
                return None
        candidate = Path(os.path.realpath(self.root.joinpath(*parts)))
        if candidate != self.root and not candidate.is_relative_to(self.root):
            return None
        return candidate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request for ``scope["path"]``; a 404 says nothing more."""
        url_path = scope["path"].lstrip("/")
        request = Conditions.of(scope)
        # The notices of withdrawn releases are answered at the release's URL only, with 410.
        target = None if url_path.startswith(f"{GONE}/") else self.locate(url_path)
        info = _stat(target)
        if target is not None and info is not None and stat.S_ISDIR(info.st_mode):
            if url_path and not url_path.endswith("/"):
                location = quote(f"/{url_path}/", safe="/:@!$&'()*+,;=-._~")
                await _send(send, 301, [(b"location", location.encode("ascii"))], b"")
                return
            target = target / DIRECTORY_INDEX
            info = _stat(target)
        elif url_path.endswith("/"):
            info = None
        if target is None or info is None or not stat.S_ISREG(info.st_mode):
            await self._missing(send, request, url_path)
            return
        try:
            entry = self._entry(target, info)
        except OSError:
            await _send(send, 404, [(b"content-type", b"text/plain; charset=utf-8")], _NOT_FOUND)
            return
        await self._answer(scope, receive, send, request, target, info, entry, url_path)

    async def _missing(self, send: Send, request: Conditions, url_path: str) -> None:
        """404, or 410 Gone with its notice for the page of a release withdrawn after it was public:
        a reader who follows an old link learns that it was withdrawn, and when."""
        found = _RELEASE_PAGE.fullmatch(url_path)
        notice = self.locate(gone_path(found.group(1))) if found else None
        info = _stat(notice)
        if notice is None or info is None or not stat.S_ISREG(info.st_mode):
            await _send(send, 404, [(b"content-type", b"text/plain; charset=utf-8")], _NOT_FOUND)
            return
        try:
            entry = self._entry(notice, info)
        except OSError:
            await _send(send, 404, [(b"content-type", b"text/plain; charset=utf-8")], _NOT_FOUND)
            return
        headers = [(b"content-type", HTML.encode()), (b"cache-control", cache_control(HTML).encode())]
        body = entry.data if entry.data is not None and request.method != "HEAD" else b""
        await _send(send, 410, headers, body, len(entry.data or b""))

    # -- answering ----------------------------------------------------------------------------------

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request: Conditions,
        path: Path,
        info: os.stat_result,
        entry: _Entry,
        url_path: str,
    ) -> None:
        media_type = content_type(path)
        compressible = media_type.startswith(_COMPRESSIBLE)
        use_gzip = (
            compressible
            and entry.data is not None
            and entry.size >= GZIP_MIN
            and accepts_gzip(request.accept_encoding)
        )
        if use_gzip:
            self._compress(entry)
        etag = entry.gzip_etag if use_gzip else entry.etag
        headers = [
            (b"etag", etag),
            (b"last-modified", entry.last_modified),
            (b"cache-control", cache_control(media_type).encode()),
        ]
        if compressible:
            headers.append((b"vary", b"Accept-Encoding"))
        if media_type in FEED_TYPES:
            headers.append((b"link", self._links(url_path).encode()))
            # Web-based feed readers fetch from the browser; feeds are public anyway.
            headers.append((b"access-control-allow-origin", b"*"))
        if not_modified(request, etag.decode(), entry.mtime_ns):
            await _send(send, 304, headers, b"")
            return
        if entry.data is None:
            plain = {name.decode(): value.decode() for name, value in headers}
            await FileResponse(path, headers=plain, media_type=media_type, stat_result=info)(
                scope, receive, send
            )
            return
        body = entry.gzipped if use_gzip and entry.gzipped is not None else entry.data
        headers.append((b"content-type", media_type.encode()))
        if use_gzip:
            headers.append((b"content-encoding", b"gzip"))
        await _send(send, 200, headers, b"" if request.method == "HEAD" else body, len(body))

    def _links(self, url_path: str) -> str:
        links = [f'<{hub}>; rel="hub"' for hub in self.hubs]
        links.append(f'<{self.base_url}/{quote(url_path)}>; rel="self"')
        return ", ".join(links)

    def _entry(self, path: Path, info: os.stat_result) -> _Entry:
        key = str(path)
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and entry.mtime_ns == info.st_mtime_ns and entry.size == info.st_size:
                self._cache.move_to_end(key)
                return entry
        entry = _read(path)
        with self._lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return entry

    @staticmethod
    def _compress(entry: _Entry) -> None:
        with entry.lock:
            if entry.gzipped is None and entry.data is not None:
                # mtime=0 keeps the compressed bytes, and so their ETag, the same across restarts.
                entry.gzipped = gzip.compress(entry.data, compresslevel=6, mtime=0)


_NOT_FOUND = b"Nie znaleziono / Not found\n"
#: The URL path of a release page (``releases/<slug>/``), as `layout.release_path` writes it.
_RELEASE_PAGE = re.compile(rf"releases/([^/]+)(?:/|/{re.escape(DIRECTORY_INDEX)})?")


def _stat(path: Path | None) -> os.stat_result | None:
    if path is None:
        return None
    try:
        return path.stat()
    except (OSError, ValueError):
        return None


async def _send(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, length: int | None = None
) -> None:
    if status != 304:
        # RFC 9110 8.6: a 304 carries no Content-Length unless equal to the 200's; leaving it off is
        # simplest (uvicorn adds none to a 304 either).
        headers.append((b"content-length", str(len(body) if length is None else length).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _read(path: Path) -> _Entry:
    """Hash (and keep, if small) the file as it is now; the key comes from the open file, so a
    replacement between `stat` and `open` cannot pair old times with new bytes."""
    with path.open("rb") as handle:
        info = os.fstat(handle.fileno())
        digest = hashlib.sha256()
        data: bytes | None = None
        if info.st_size <= MEMORY_LIMIT:
            data = handle.read()
            digest.update(data)
        else:
            for chunk in iter(lambda: handle.read(1 << 16), b""):
                digest.update(chunk)
    tag = digest.hexdigest()[:32]
    modified = formatdate(info.st_mtime_ns / 1e9, usegmt=True).encode()
    return _Entry(
        info.st_mtime_ns, info.st_size, f'"{tag}"'.encode(), modified, data, gzip_etag=f'"{tag}-gz"'.encode()
    )


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding value allows gzip (``gzip;q=0`` and ``*;q=0`` refuse it)."""
    star: bool | None = None
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if name in ("gzip", "x-gzip"):
            return quality > 0
        if name == "*":
            star = quality > 0
    return bool(star)


def not_modified(request: Conditions, etag: str, mtime_ns: int) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match (weak comparison) wins; If-Modified-Since only without it."""
    if request.method not in ("GET", "HEAD"):
        return False
    if_none_match = request.if_none_match
    if if_none_match is not None:
        wanted = etag.removeprefix("W/")
        for candidate in if_none_match.split(","):
            candidate = candidate.strip()
            if candidate == "*" or candidate.removeprefix("W/") == wanted:
                return True
        return False
    if_modified_since = request.if_modified_since
    if if_modified_since:
        try:
            since_date = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        # An HTTP date is GMT (RFC 9110 section 5.6.7), also in the forms that do not say so (asctime,
        # "-0000"), which the parser hands back without a zone: read them as UTC, not as server time.
        if since_date.tzinfo is None:
            since_date = since_date.replace(tzinfo=UTC)
        return int(mtime_ns // 1_000_000_000) <= since_date.timestamp()
    return False
