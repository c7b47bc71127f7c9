"""How an attachment is named for people: its kind and its size, the same on a page and in a mail.

``DOCX, 179,1 KB`` in Polish, ``DOCX, 179.1 KB`` in English: a known document type by the name people
use for it, another with a short subtype by that subtype (``RTF``, ``WEBP``), anything else by its MIME
type as it is (``application/x-unknown``), which says more than a cut of it; sizes in units of 1,024
bytes, one decimal, written the reader's way. Release pages (`pages.py`) and mail (`templating.py`)
both call `attachment_label`, so a reader never sees two names for one file.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

from babel import Locale
from babel.numbers import format_decimal

#: Names of document kinds for people, where the subtype alone would not do.
_KINDS = {
    "application/pdf": "PDF",
    "application/zip": "ZIP",
    "application/msword": "DOC",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/vnd.ms-excel": "XLS",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX",
    "application/vnd.ms-powerpoint": "PPT",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PPTX",
    "application/vnd.oasis.opendocument.text": "ODT",
    "application/vnd.oasis.opendocument.spreadsheet": "ODS",
    "application/vnd.oasis.opendocument.presentation": "ODP",
    "audio/mpeg": "MP3",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/svg+xml": "SVG",
}
#: Kinds whose name is a word, and so translated.
_WORDS = {"text/plain": {"pl": "tekst", "en": "text"}}
#: A subtype short and plain enough to stand for its kind (``rtf``, ``csv``, ``webp``, ``mp4``).
_PLAIN_SUBTYPE = re.compile(r"^[a-z0-9]{2,8}$")
#: Separators of thousands and decimals that `one_decimal` writes without Babel's pattern engine.
_SEPARATORS = {"pl": ("\xa0", ","), "en": (",", ".")}
_TENTH = Decimal("0.1")


def attachment_label(mime_type: str, length: int, language: str = "pl") -> str:
    """``DOCX, 179,1 KB``: the kind, and the size when it is known (a length of 0 means unknown)."""
    kind = document_kind(mime_type, language)
    return f"{kind}, {filesize(length, language)}" if length > 0 else kind


def document_kind(mime_type: str, language: str = "pl") -> str:
    mime_type = mime_type.lower()
    if mime_type in _WORDS:
        words = _WORDS[mime_type]
        return words.get(language, words["en"])
    if mime_type in _KINDS:
        return _KINDS[mime_type]
    subtype = mime_type.rpartition("/")[2]
    return subtype.upper() if _PLAIN_SUBTYPE.match(subtype) else mime_type


def filesize(length: int, language: str = "pl") -> str:
    """Bytes for people: ``512 B``, ``179,1 KB``, ``2,4 MB`` (in Polish), up to gigabytes."""
    if length < 1024:
        return f"{length} B"
    for unit, size in (("KB", 1024.0), ("MB", 1024.0**2), ("GB", 1024.0**3)):
        if length < size * 1024 or unit == "GB":
            return f"{one_decimal(length / size, language)} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def one_decimal(value: float, language: str) -> str:
    """Babel's ``#,##0.#`` without its pattern engine for the languages of `_SEPARATORS` (about 40 µs a
    call, half a release page): the same Decimal, rounded half to even; Babel itself for the others."""
    if language not in _SEPARATORS:
        return babel_number(value, language)
    group, decimal = _SEPARATORS[language]
    rounded = Decimal(str(value)).normalize().quantize(_TENTH, rounding=ROUND_HALF_EVEN)
    integer, _, fraction = f"{rounded:f}".partition(".")
    grouped = f"{int(integer):,}".replace(",", group)
    return grouped if fraction in ("", "0") else f"{grouped}{decimal}{fraction}"


def babel_number(value: float, language: str = "pl") -> str:
    """The reference `one_decimal` must equal."""
    return str(format_decimal(value, format="#,##0.#", locale=Locale.parse(language)))
