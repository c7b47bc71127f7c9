"""The web front: static outputs over HTTP, subscriber pages, the admin API, health and metrics."""

from __future__ import annotations

from newsroom_feed.web.app import create_app

__all__ = ["create_app"]
