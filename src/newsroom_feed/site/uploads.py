"""Files uploaded from the desk (PDF, DOCX, XLSX, JPEG, PNG) into the public directory.

The type is taken from the content, never from the name or the browser's Content-Type: puremagic reads
the signature (PDF, JPEG, PNG, a ZIP container); a ZIP is a DOCX or an XLSX only if it holds that
format's main part (``word/document.xml``, ``xl/workbook.xml``) next to ``[Content_Types].xml``; an
image must also open in Pillow, which gives its size and a small JPEG preview for the desk. The file is
stored under a path named by its SHA-256 (`layout.upload_path`) with a name made from the given one
(slugified, with the extension of the type found), written atomically by the publisher, and recorded
with its size and hash. The attachment that points at it is then an ordinary attachment.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import puremagic
from PIL import Image, UnidentifiedImageError
from slugify import slugify

from newsroom_feed.errors import InputError
from newsroom_feed.models import iso
from newsroom_feed.settings import Settings
from newsroom_feed.site import layout
from newsroom_feed.site.publisher import Publisher
from newsroom_feed.store import uploads as queries
from newsroom_feed.store.database import Store, stored_moment

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JPEG = "image/jpeg"
PNG = "image/png"
#: What may be uploaded, with the extension its stored name gets.
ACCEPTED: dict[str, str] = {PDF: "pdf", DOCX: "docx", XLSX: "xlsx", JPEG: "jpg", PNG: "png"}
IMAGES = frozenset({JPEG, PNG})
PREVIEW_SIZE = (480, 480)
#: Pillow refuses larger images as decompression bombs; a press photo is far below this.
MAX_PIXELS = 60_000_000
_OOXML_PARTS = {"word/document.xml": DOCX, "xl/workbook.xml": XLSX}


@dataclass(frozen=True, slots=True)
class Upload:
    sha256: str
    path: str
    url: str
    file_name: str
    mime_type: str
    length: int
    width: int | None
    height: int | None
    uploaded_at: datetime
    preview_url: str | None

    @property
    def is_image(self) -> bool:
        return self.mime_type in IMAGES


def content_type(data: bytes) -> str | None:
    """The accepted type the bytes really are, or None."""
    if data.startswith(b"%PDF-"):
        return PDF
    try:
        found = {match.mime_type for match in puremagic.magic_string(data[:8192])}
    except (puremagic.PureError, ValueError):
        return None
    if PNG in found and data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if JPEG in found and data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        return _office_type(data)
    return None


def _office_type(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    kinds = {kind for part, kind in _OOXML_PARTS.items() if part in names}
    return kinds.pop() if len(kinds) == 1 else None


def _image(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and a JPEG preview of an image; InputError if it does not open as one."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            image.draft("RGB", PREVIEW_SIZE)
            preview = image.convert("RGB")
            preview.thumbnail(PREVIEW_SIZE)
            out = io.BytesIO()
            preview.save(out, "JPEG", quality=80)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        raise InputError("upload", f"the image cannot be read: {error}") from None
    return width, height, out.getvalue()


def stored_name(given: str, mime_type: str) -> str:
    """A safe file name from the uploader's: ASCII slug of its stem plus the extension of its type."""
    stem = given.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    slug = slugify(stem, max_length=80, word_boundary=True) or "plik"
    return f"{slug}.{ACCEPTED[mime_type]}"


def save(
    store: Store,
    settings: Settings,
    file_name: str,
    data: bytes,
    now: datetime,
    uploaded_by: int | None = None,
) -> Upload:
    """Check, store and record one uploaded file; the same content again returns the first record.

    :raises InputError: (field ``upload``) empty, too large, or not one of the accepted types.
    """
    limit = settings.desk.upload_max_bytes
    if not data:
        raise InputError("upload", f"{file_name or 'the file'} is empty")
    if len(data) > limit:
        raise InputError(
            "upload", f"{file_name} is {len(data):,} bytes; the limit is {limit:,} bytes".replace(",", " ")
        )
    mime_type = content_type(data)
    if mime_type is None:
        raise InputError(
            "upload", f"{file_name} is not a PDF, DOCX, XLSX, JPEG or PNG file (judged by its content)"
        )
    sha256 = hashlib.sha256(data).hexdigest()
    existing = queries.row_by_sha256(store, sha256)
    if existing is not None:
        return _upload(settings, existing)
    width = height = None
    path = layout.upload_path(sha256, stored_name(file_name, mime_type))
    outputs = {path: data}
    if mime_type in IMAGES:
        width, height, preview = _image(data)
        outputs[layout.upload_preview_path(sha256)] = preview
    Publisher(settings.public_dir).publish(outputs)
    with store.transaction():
        queries.insert(
            store, (sha256, path, file_name[:255], mime_type, len(data), width, height, uploaded_by, iso(now))
        )
    # Read back, not built from the values: a concurrent upload of the same content may have won the
    # INSERT OR IGNORE, and its record is the one that stands.
    row = queries.row_by_sha256(store, sha256)
    assert row is not None
    return _upload(settings, row)


def by_urls(store: Store, settings: Settings, urls: list[str]) -> dict[str, Upload]:
    """The uploads among these attachment URLs, by URL (for the desk's image fields and previews)."""
    prefix = settings.base_url + "/"
    paths = [u.removeprefix(prefix) for u in urls if u.startswith(prefix + layout.UPLOADS + "/")]
    found = (_upload(settings, row) for row in queries.rows_by_paths(store, paths))
    return {upload.url: upload for upload in found}


def _upload(settings: Settings, row: tuple[Any, ...]) -> Upload:
    sha256, path, file_name, mime_type, length, width, height, _by, at = row
    moment = stored_moment(at)
    assert moment is not None
    preview = layout.public_url(settings, layout.upload_preview_path(sha256)) if mime_type in IMAGES else None
    return Upload(
        sha256=sha256,
        path=path,
        url=layout.public_url(settings, path),
        file_name=file_name,
        mime_type=mime_type,
        length=length,
        width=width,
        height=height,
        uploaded_at=moment,
        preview_url=preview,
    )
