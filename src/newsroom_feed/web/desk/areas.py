"""The desk's areas beyond sign-in and home: one module each, each with a ``router``."""

from __future__ import annotations

from fastapi import APIRouter

from newsroom_feed.web.desk import outbox, releases, service, subscribers, uploads
from newsroom_feed.web.desk import users as desk_users


def routers() -> list[APIRouter]:
    return [
        releases.router,
        uploads.router,
        subscribers.router,
        outbox.router,
        service.router,
        desk_users.router,
    ]
