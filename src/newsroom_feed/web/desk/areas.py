"""The desk's areas beyond sign-in and home: one module each, each with a ``router``."""

from __future__ import annotations

from fastapi import APIRouter

from newsroom_feed.web.desk import history as release_history
from newsroom_feed.web.desk import journalists as desk_journalists
from newsroom_feed.web.desk import outbox, releases, service, subscribers
from newsroom_feed.web.desk import preview as release_preview
from newsroom_feed.web.desk import users as desk_users


def routers() -> list[APIRouter]:
    return [
        # Before releases: their paths are more specific.
        release_preview.router,
        release_history.router,
        releases.router,
        subscribers.router,
        outbox.router,
        service.router,
        desk_users.router,
        desk_journalists.router,
    ]
