"""Markdown bodies into sanitised HTML, and plain text out of them.

Release bodies come from operators, imports and an outside CMS; the HTML goes into feeds, pages and mail,
so it is rendered with raw HTML disabled and then cleaned by nh3 (an allow-list: no script, no event
attributes, no `javascript:` links) whatever the Markdown said.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

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
    them, about 5 ms of its 15. The result depends on the text alone, so bodies of a usual size are
    remembered (at most `_CLEANED_KEPT` of them, so at most ~8 MB)."""
    if len(fragment) > _CLEANED_MAX_LENGTH:
        return _clean(fragment)
    return _clean_remembered(fragment)


#: Bodies longer than this (a long press release is 10,000 characters of HTML) are cleaned every time.
_CLEANED_MAX_LENGTH = 16_384
_CLEANED_KEPT = 256


def _clean(fragment: str) -> str:
    return str(_cleaner.clean(xml_safe(fragment))).strip()


_clean_remembered = lru_cache(maxsize=_CLEANED_KEPT)(_clean)


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
