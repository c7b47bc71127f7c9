"""The public directory stays readable by a separate web server even when the service runs with UMask=0077."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsroom_feed import planner
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from ..conftest import NOW
from .test_feeds import sample_newsroom


@pytest.fixture
def strict_umask() -> Iterator[None]:
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def test_build_under_a_private_umask_leaves_every_public_directory_world_readable(
    store: Store, settings: Settings, strict_umask: None
) -> None:
    sample_newsroom(store)
    planner.build(store, settings, NOW)
    public = settings.public_dir
    directories = [public, *(path for path in public.rglob("*") if path.is_dir())]
    files = [path for path in public.rglob("*") if path.is_file()]
    assert len(directories) > 3 and files
    closed = [str(path) for path in directories if stat.S_IMODE(path.stat().st_mode) & 0o005 != 0o005]
    unreadable = [str(path) for path in files if stat.S_IMODE(path.stat().st_mode) & 0o004 == 0]
    assert closed == [] and unreadable == []


def test_store_beside_the_public_directory_stays_private_under_the_same_umask(
    settings: Settings, strict_umask: None, tmp_path: Path
) -> None:
    with Store.for_settings(settings) as store:
        sample_newsroom(store)
        planner.build(store, settings, NOW)
    assert stat.S_IMODE(settings.database.stat().st_mode) == 0o600
