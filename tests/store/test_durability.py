"""Files only the owner reads, commits that survive a power cut, backups that never change the store."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from newsroom_feed.cli import main
from newsroom_feed.lock import InstanceLock
from newsroom_feed.models import ReleaseInput, utcnow
from newsroom_feed.people import subscriptions
from newsroom_feed.settings import Settings
from newsroom_feed.store import database as store_module
from newsroom_feed.store.database import Store

from ..conftest import make_settings

#: The umask of a login shell, and the one some supervisors leave: neither may widen what is created.
UMASKS = [0o022, 0o000]


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The environment an operator's shell (or the backup timer) gives the CLI."""
    monkeypatch.setenv("NEWSROOM_DATABASE", str(settings.database))
    monkeypatch.setenv("NEWSROOM_PUBLIC_DIR", str(settings.public_dir))
    monkeypatch.setenv("NEWSROOM_SECRET_KEY", "test-secret-key-not-for-production")


# -- who may read what ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_the_store_and_its_wal_and_shm_are_readable_by_their_owner_only(tmp_path: Path, mask: int) -> None:
    database = tmp_path / "state" / "newsroom" / "newsroom.db"
    with umask(mask), Store(database) as store:
        store.add_release(ReleaseInput.parse({"title": "Komunikat o adresach subskrybentów"}), utcnow())
        modes = {path.name: mode(path) for path in database.parent.iterdir()}
    assert modes == {"newsroom.db": 0o600, "newsroom.db-wal": 0o600, "newsroom.db-shm": 0o600}
    assert mode(tmp_path / "state") == mode(tmp_path / "state" / "newsroom") == 0o700


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_a_state_directory_that_run_creates_first_is_private(tmp_path: Path, mask: int) -> None:
    """`run` takes its lock beside the store before it opens the store, so the lock makes the directory."""
    with umask(mask), InstanceLock(tmp_path / "state" / "newsroom.db"):
        pass
    assert mode(tmp_path / "state") == 0o700


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_the_generated_signing_key_is_readable_by_its_owner_only_and_kept(tmp_path: Path, mask: int) -> None:
    settings = make_settings(tmp_path, secret_key=None, database=tmp_path / "state" / "newsroom.db")
    with umask(mask):
        key = settings.signing_key()
    key_file = tmp_path / "state" / "secret_key"
    assert mode(key_file) == 0o600
    assert mode(tmp_path / "state") == 0o700
    assert [path.name for path in key_file.parent.iterdir()] == ["secret_key"], "no temporary file left"
    assert len(key.encode()) >= 32
    assert settings.signing_key() == key == key_file.read_text(encoding="utf-8").strip()


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_a_backup_is_readable_by_its_owner_only(
    cli_env: None, store: Store, tmp_path: Path, mask: int
) -> None:
    target = tmp_path / "kopie" / "nocne" / "newsroom.db"
    with umask(mask):
        assert main(["backup", str(target)]) == 0
    assert mode(target) == 0o600
    assert mode(tmp_path / "kopie") == mode(tmp_path / "kopie" / "nocne") == 0o700


# -- power cuts ----------------------------------------------------------------------------------------


def test_the_store_syncs_every_commit_so_an_acknowledged_write_survives_a_power_cut(
    settings: Settings,
) -> None:
    """In WAL mode NORMAL syncs only at checkpoints: a release the CLI confirmed, a one-click unsubscribe
    answered 200 or a row marked sent could be gone after a power cut. FULL (2) syncs at each commit."""
    with Store.for_settings(settings) as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2


# -- backup --------------------------------------------------------------------------------------------


def test_a_backup_of_a_store_with_data_is_whole_checked_and_self_contained(
    cli_env: None, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store.add_release(ReleaseInput.parse({"title": "Złote Lajki 2026 wręczone"}), utcnow())
    subscriptions.add_subscriber(store, {"email": "anna.nowak@gazeta.example.pl"}, utcnow())
    target = tmp_path / "kopie" / "newsroom.db"
    assert main(["backup", str(target)]) == 0
    assert f"Backup written to {target}" in capsys.readouterr().out
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete", "needs no -wal beside it"
        assert [row[0] for row in copy.execute("SELECT title FROM releases")] == ["Złote Lajki 2026 wręczone"]
        assert [row[0] for row in copy.execute("SELECT email FROM subscribers")] == [
            "anna.nowak@gazeta.example.pl"
        ]
    copy.close()
    assert [path.name for path in target.parent.iterdir()] == ["newsroom.db"]
    assert mode(target) == 0o600


def _migrations(database: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version").fetchall()
    conn.close()
    return rows


def test_backup_copies_an_older_store_as_it_is_and_leaves_it_unmigrated(
    cli_env: None, settings: Settings, tmp_path: Path
) -> None:
    """The nightly timer may run between an upgrade and the daemon's restart: the store is the older
    version's until `run` or `init` migrates it; the backup copies it and must not migrate it behind
    their back."""
    with pytest.MonkeyPatch.context() as older:
        older.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:-1])
        with Store.for_settings(settings) as old:
            # As the older program would, with only the columns every version has.
            old.conn.execute("INSERT INTO releases (title) VALUES ('Komunikat sprzed aktualizacji')")
    before = _migrations(settings.database)
    assert len(before) == len(store_module.MIGRATIONS) - 1
    folder = tmp_path / "kopie"
    folder.mkdir()
    assert main(["backup", str(folder / "newsroom.db")]) == 0
    assert _migrations(settings.database) == before
    assert _migrations(folder / "newsroom.db") == before


def _damage_an_index(database: Path) -> None:
    """An index that no longer matches its table: the file opens and reads, its integrity check fails
    (as after a disk error in an index page), and SQLite's backup copies the damage page for page."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("CREATE TABLE scratch (a, b)")
        conn.execute("CREATE INDEX scratch_a ON scratch (a)")
        conn.execute("INSERT INTO scratch VALUES (1, 2), (3, 4)")
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute(
            "UPDATE sqlite_master SET sql = 'CREATE INDEX scratch_a ON scratch (b)' WHERE name = 'scratch_a'"
        )
        conn.execute("PRAGMA writable_schema = OFF")
    finally:
        conn.close()


def test_a_damaged_copy_never_replaces_the_last_good_backup_and_leaves_no_partial_file(
    cli_env: None, settings: Settings, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store.add_release(ReleaseInput.parse({"title": "Komunikat w dobrej kopii"}), utcnow())
    target = tmp_path / "kopie" / "newsroom.db"
    assert main(["backup", str(target)]) == 0
    good = target.read_bytes()
    store.close()
    _damage_an_index(settings.database)
    capsys.readouterr()
    assert main(["backup", str(target)]) == 1
    err = capsys.readouterr().err
    assert "fails its integrity check" in err and "missing from index scratch_a" in err
    assert target.read_bytes() == good
    assert [path.name for path in target.parent.iterdir()] == ["newsroom.db"], "no partial file left"
