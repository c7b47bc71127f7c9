"""Every path and URL of the public site: where the build writes a file and where readers find it.

A leaf module (it imports nothing of the project but settings), so that `mail/` may ask it for the
URLs a message links to without depending on the rest of `site/`. The layout (DESIGN.md section 4):
``/`` is the index, ``/releases/<slug>/`` a release, ``/categories/<slug>/`` a category beside its feeds
at ``/feeds/<slug>/`` (its older releases at ``/categories/<slug>/page/<n>/``, 1 the oldest), ``/feeds/``
the newsroom's feeds, ``/feeds/[<slug>/]archive/<block>/`` the RFC 5005 archives, ``/assets/`` the
stylesheet, ``/events/`` the upcoming events, ``/feeds/[<slug>/]events.ics`` and
``/releases/<slug>/event.ics`` the calendars (`site.calendar`). A feed's file name (``rss.xml``) is
its format's (`site.formats`).
"""

from __future__ import annotations

from newsroom_feed.settings import Settings

#: The file a folder's URL (``x/``) is served from.
DIRECTORY_INDEX = "index.html"
INDEX_PATH = DIRECTORY_INDEX
STYLESHEET_PATH = "assets/style.css"
FEEDS = "feeds"
#: Folders of the public directory that the build owns; anything else there is left alone.
#: The notices of withdrawn releases (`gone_path`), answered with 410 at the release's URL.
GONE = "gone"
OUTPUT_FOLDERS = ("releases", "categories", FEEDS, "assets", "events", GONE)
#: The one feed named where a single feed is offered (mails, the demo): RSS, which every reader takes.
#: `site.rss` writes its feeds under this name.
PRIMARY_FEED = "rss.xml"

#: Releases by id in blocks of this many make the RFC 5005 archive documents: a release's id never
#: changes, so the archive that holds it is known from the id alone, and a block is archived once every
#: id in it has been given out, so an archive document does not change when new releases arrive.
ARCHIVE_BLOCK = 100

#: A category's page lists its newest this many releases and links to its older pages, each holding
#: this many counted from the oldest: a new release moves none of them, so it rewrites the first page
#: alone (and, when it completes a page, that page and the one before, whose link to it is new).
CATEGORY_PAGE = 50


def release_path(slug: str) -> str:
    """The page of one release, relative to the public directory."""
    return f"releases/{slug}/{DIRECTORY_INDEX}"


def gone_path(slug: str) -> str:
    """The notice of a release withdrawn after it was public. Never served at this path: the web server
    answers ``/releases/<slug>/`` with it and status 410 (`web.static`, the shipped nginx site)."""
    return f"{GONE}/{slug}.html"


def category_path(slug: str) -> str:
    """The page of one category; ``categories/<slug>/`` sits beside ``/feeds/<slug>/``."""
    return f"categories/{slug}/{DIRECTORY_INDEX}"


def category_page_path(slug: str, page: int | None) -> str:
    """One page of a category's list: ``categories/<slug>/page/<n>/`` (None: the category's own page)."""
    if page is None:
        return category_path(slug)
    return f"{category_pages_dir(slug)}/{page}/{DIRECTORY_INDEX}"


def category_pages_dir(slug: str) -> str:
    """The folder of a category's older pages, all of which the build owns."""
    return f"categories/{slug}/page"


def complete_pages(count: int) -> int:
    """How many full pages ``count`` releases fill, counted from the oldest: pages 1..n have files."""
    return count // CATEGORY_PAGE


def page_of(position: int) -> int:
    """The page (1, 2, ...) holding the release at ``position`` (0 = the category's oldest)."""
    return position // CATEGORY_PAGE + 1


#: The iCalendar file of a scope's event releases, beside its feeds (`site.calendar`).
CALENDAR = "events.ics"
#: The page of upcoming events.
EVENTS_PATH = f"events/{DIRECTORY_INDEX}"


def calendar_path(category: str | None) -> str:
    """The calendar of the newsroom's (None) or one category's events: ``/feeds/[<slug>/]events.ics``."""
    return feed_path(category, CALENDAR)


def release_calendar_path(slug: str) -> str:
    """The one event of a release as an iCalendar file, beside its page: what "add to calendar" opens."""
    return f"releases/{slug}/event.ics"


def release_calendar_url(base_url: str, slug: str) -> str:
    return url(base_url, release_calendar_path(slug))


def feed_dir(category: str | None) -> str:
    """The folder of the newsroom's feeds (None) or of one category's."""
    return FEEDS if category is None else f"{FEEDS}/{category}"


def feed_path(category: str | None, name: str) -> str:
    """The subscription document of one scope in the format whose file is ``name``."""
    return f"{feed_dir(category)}/{name}"


def archive_path(category: str | None, block: int, name: str) -> str:
    """One RFC 5005 archive document of one scope."""
    return f"{feed_dir(category)}/archive/{block}/{name}"


def is_feed_path(path: str, names: tuple[str, ...]) -> bool:
    """Whether an output path is a feed or feed archive in one of the formats named (WebSub pings them)."""
    return path.startswith(f"{FEEDS}/") and path.endswith(names)


def archive_block(release_id: int) -> int:
    """The archive block (1, 2, ...) of a release id."""
    return (release_id - 1) // ARCHIVE_BLOCK + 1


def complete_blocks(last_release_id: int) -> int:
    """How many blocks are archived: those whose every id has been given out."""
    return last_release_id // ARCHIVE_BLOCK


def url(base_url: str, path: str) -> str:
    """The URL of a file in the public directory; ``x/index.html`` is served as ``x/``."""
    return f"{base_url}/{path.removesuffix(DIRECTORY_INDEX)}"


def public_url(settings: Settings, path: str) -> str:
    """`url` under the configured base URL."""
    return url(settings.base_url, path)


def release_url(base_url: str, slug: str) -> str:
    """Where a release's page is read: the ``link`` of its feed entries and of the mails that announce it."""
    return url(base_url, release_path(slug))


def category_url(base_url: str, slug: str) -> str:
    return url(base_url, category_path(slug))


def category_scheme(base_url: str) -> str:
    """The ``domain``/``scheme`` of feed categories: the folder the category pages live in."""
    return f"{base_url}/categories/"


def desk_setup_url(base_url: str, token: str) -> str:
    """Where a new desk user sets their password: the one-time link `user add` prints."""
    return f"{base_url}/desk/setup/{token}"


#: Personal feeds, served by the app from memory and never written into the public directory.
PERSONAL = "my"


def personal_feed_url(base_url: str, token: str, name: str) -> str:
    """A subscriber's personal feed in the format whose file is ``name``: ``/my/<token>/rss.xml``."""
    return f"{base_url}/{PERSONAL}/{token}/{name}"


#: Files press officers upload from the desk: outside `OUTPUT_FOLDERS`, so no build ever removes them.
UPLOADS = "files"


def upload_path(sha256: str, file_name: str) -> str:
    """Where an uploaded file lives: named by its content (the first 16 hex digits of its SHA-256, 64
    bits: no two different files meet), so the path is stable and the same file uploaded twice is one."""
    return f"{UPLOADS}/{sha256[:16]}/{file_name}"


def upload_preview_path(sha256: str) -> str:
    """The small JPEG the desk shows of an uploaded image (an upload's own name never starts with _)."""
    return f"{UPLOADS}/{sha256[:16]}/_preview.jpg"
