"""The `newsroom-feed` command tree: each command parses, calls one core function, prints.

`base` holds the root group, `Context` and the error to exit code mapping in `main`; each other module
adds its commands to the root group when imported here.
"""

from __future__ import annotations

from newsroom_feed.cli import (
    bounces,
    delivery,
    journalists,
    mailing,
    operations,
    releases,
    subscribers,
    users,
)
from newsroom_feed.cli.base import Context, cli, emit_json, main, open_store, pass_context, run

__all__ = [
    "Context",
    "bounces",
    "cli",
    "delivery",
    "emit_json",
    "journalists",
    "mailing",
    "main",
    "open_store",
    "operations",
    "pass_context",
    "releases",
    "run",
    "subscribers",
    "users",
]
