"""Markdown bodies into sanitised HTML, and plain text out of them.

Release bodies come from operators, imports and an outside CMS; the HTML goes into feeds, pages and mail,
so it is rendered with raw HTML disabled and then cleaned by nh3 (an allow-list: no script, no event
attributes, no `javascript:` links) whatever the Markdown said.
"""

from __future__ import annotations

import html
import re
import threading
from collections import OrderedDict

import nh3
from markdown_it import MarkdownIt

_ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "b", "i", "u", "s", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "sup", "sub",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
_URL_SCHEMES = {"http", "https", "mailto", "tel"}

#: One sanitiser for every body, whatever its source: built once, since `nh3.clean` builds one per call
#: (about twice the cost of cleaning with a built one).
_cleaner = nh3.Cleaner(
    tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES, url_schemes=_URL_SCHEMES, link_rel="noopener nofollow"
)
#: Characters XML 1.0 cannot hold (C0 controls except tab, newline and return; U+FFFE and U+FFFF) and lone
#: surrogates, which UTF-8 cannot: lxml refuses them, so one in a title would stop every feed.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)


def render_markdown(source: str) -> str:
    """Sanitised HTML for a Markdown body; headings start at h2 since the page's h1 is the title."""
    rendered = _markdown.render(source)
    return clean_html(re.sub(r"<(/?)h1>", r"<\1h2>", rendered))


def clean_html(fragment: str) -> str:
    """``fragment`` through the allow-list of `render_markdown` (no script, no event attributes, no
    ``javascript:`` links) and without XML-invalid characters: for HTML that did not come from
    `render_markdown`, such as what an outside writer stored. Cleaning clean HTML changes nothing.

    Every read of a release cleans its stored body again (the store may have been written by someone
    else), the same few hundred bodies over and over: a personal feed read after a change cleans 50 of
    them, about 5 ms of its 15. The result depends on the text alone, so it is remembered, within
    `_CLEANED`'s bound (at most 8 MB)."""
    done = _CLEANED.get(fragment)
    if done is None:
        done = str(_cleaner.clean(xml_safe(fragment))).strip()
        _CLEANED.keep(fragment, done)
    return done


class _Remembered:
    """Cleaned bodies by their text, the least recently used dropped first, within ``most`` characters
    for the texts and results together; a pair longer than a 64th of that is not kept."""

    def __init__(self, most: int) -> None:
        self.most = most
        self._kept: OrderedDict[str, str] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, fragment: str) -> str | None:
        with self._lock:
            done = self._kept.get(fragment)
            if done is not None:
                self._kept.move_to_end(fragment)
            return done

    def keep(self, fragment: str, done: str) -> None:
        size = len(fragment) + len(done)
        if size > self.most // 64:
            return
        with self._lock:
            if fragment in self._kept:
                return
            self._kept[fragment] = done
            self._size += size
            while self._size > self.most:
                oldest, cleaned = self._kept.popitem(last=False)
                self._size -= len(oldest) + len(cleaned)


#: 2 million characters: at most 8 MB (CPython keeps a character in 4 bytes at most), some 300 bodies.
_CLEANED = _Remembered(2_000_000)


def xml_safe(text: str) -> str:
    """``text`` without the characters XML cannot hold (see `_XML_INVALID`); other text is unchanged."""
    return _XML_INVALID.sub("", text)


def xml_safe_or_none(text: str | None) -> str | None:
    return None if text is None else _XML_INVALID.sub("", text)


def html_to_text(fragment: str) -> str:
    """Readable plain text of a sanitised fragment, paragraphs kept apart (for summaries and text mail)."""
    text = re.sub(r"</(p|li|h[2-6]|tr|blockquote|pre)>|<br\s*/?>", "\n", fragment)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def summarise(fragment: str, limit: int = 300) -> str:
    """The first paragraph of a body, cut at a word boundary: a feed's description when none was given."""
    first = html_to_text(fragment).split("\n", 1)[0] if fragment else ""
    if len(first) <= limit:
        return first
    return first[: limit - 1].rsplit(" ", 1)[0] + "…"
