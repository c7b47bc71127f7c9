"""The SQLite schema: migrations, triggers and indexes, as SQL text.

`store.py` runs `MIGRATIONS` in order and keeps the schema version; the SQL fragments here that the store's
queries repeat (`INCOMPLETE`, `readable_times`) live beside the migrations that index them, so the
two are changed together.
"""

from __future__ import annotations

#: The release columns whose update is a change of content (the `releases_update` trigger).
CONTENT_COLUMNS = (
    "title, summary, body_markdown, body_html, language, urgent, contact_name, contact_email, "
    "contact_phone, source_url, published_at, embargo_until, retracted_at, slug, number, uid"
)
TIME_COLUMNS = ("published_at", "embargo_until", "retracted_at", "created_at", "updated_at")
#: The one form of a time in the store (UTC, seconds, ``Z``), in which text order is time order.
_CANONICAL = "%Y-%m-%dT%H:%M:%SZ"
#: A time column holding anything else: ``strftime`` with a ``+0 days`` modifier rewrites a readable time
#: canonically (normalising 30 February to 2 March) and gives NULL for an unreadable one, so the text
#: differs from the column unless it was canonical already; NULL columns are not flagged here.
_ODD_TIMES = " OR ".join(
    f"strftime('{_CANONICAL}', {column}, '+0 days') IS NOT {column}" for column in TIME_COLUMNS
)
#: A release row an outside writer left incomplete or wrote a time into in another form than the store's;
#: `complete_pending` fixes it. Migration 3 indexes exactly this text, so that SQLite proves the partial
#: index `releases_incomplete` applies: change both together (in a new migration).
INCOMPLETE = (
    "uid IS NULL OR slug IS NULL OR number IS NULL OR body_html IS NULL "
    f"OR published_at IS NULL OR updated_at IS NULL OR {_ODD_TIMES}"
)
#: Shape of a canonical time, for GLOB: the reads of what is visible also require it of `published_at`
#: and `embargo_until`, so a time in another form written after `complete_pending` ran (by an outside
#: writer, between two builds) hides the release until the next build reads it rather than comparing its
#: text with the clock (``2026-11-26 23:59`` sorts before ``2026-11-26T09:00``).
_TIME_GLOB = "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'"


def readable_times(alias: str = "r.") -> str:
    """The SQL condition that the times deciding visibility are in the store's form (see `_TIME_GLOB`)."""
    return (
        f"{alias}published_at GLOB {_TIME_GLOB} "
        f"AND ({alias}embargo_until IS NULL OR {alias}embargo_until GLOB {_TIME_GLOB})"
    )


#: Each entry is one schema version; never edit a released one, append a new one.
MIGRATIONS: tuple[str, ...] = (
    f"""
    CREATE TABLE categories (
        id INTEGER PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE releases (
        id INTEGER PRIMARY KEY,
        uid TEXT UNIQUE,
        number TEXT UNIQUE,
        slug TEXT UNIQUE,
        title TEXT NOT NULL,
        summary TEXT,
        body_markdown TEXT NOT NULL DEFAULT '',
        body_html TEXT,
        language TEXT NOT NULL DEFAULT 'pl',
        urgent INTEGER NOT NULL DEFAULT 0,
        contact_name TEXT,
        contact_email TEXT,
        contact_phone TEXT,
        source_url TEXT,
        published_at TEXT,
        embargo_until TEXT,
        created_at TEXT,
        updated_at TEXT,
        retracted_at TEXT,
        external_key TEXT UNIQUE,
        announced_at TEXT,
        visible_at TEXT GENERATED ALWAYS AS (
            CASE WHEN embargo_until IS NOT NULL AND embargo_until > published_at
                 THEN embargo_until ELSE published_at END
        ) VIRTUAL
    );
    CREATE INDEX releases_visible ON releases(visible_at DESC, id DESC) WHERE retracted_at IS NULL;
    CREATE TABLE release_categories (
        release_id INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
        category_id INTEGER NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
        position INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (release_id, category_id)
    );
    CREATE INDEX release_categories_category ON release_categories(category_id, release_id);
    CREATE TABLE attachments (
        id INTEGER PRIMARY KEY,
        release_id INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
        position INTEGER NOT NULL DEFAULT 0,
        url TEXT NOT NULL,
        title TEXT,
        mime_type TEXT NOT NULL DEFAULT 'application/octet-stream',
        length INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX attachments_release ON attachments(release_id, position);
    CREATE TABLE changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tbl TEXT NOT NULL,
        op TEXT NOT NULL,
        release_id INTEGER,
        category_id INTEGER,
        at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE TRIGGER releases_insert AFTER INSERT ON releases BEGIN
        INSERT INTO changes (tbl, op, release_id) VALUES ('releases', 'insert', NEW.id);
    END;
    CREATE TRIGGER releases_update AFTER UPDATE OF {CONTENT_COLUMNS} ON releases BEGIN
        INSERT INTO changes (tbl, op, release_id) VALUES ('releases', 'update', NEW.id);
    END;
    CREATE TRIGGER releases_delete AFTER DELETE ON releases BEGIN
        INSERT INTO changes (tbl, op, release_id) VALUES ('releases', 'delete', OLD.id);
    END;
    CREATE TRIGGER release_categories_insert AFTER INSERT ON release_categories BEGIN
        INSERT INTO changes (tbl, op, release_id, category_id)
        VALUES ('release_categories', 'insert', NEW.release_id, NEW.category_id);
    END;
    CREATE TRIGGER release_categories_delete AFTER DELETE ON release_categories BEGIN
        INSERT INTO changes (tbl, op, release_id, category_id)
        VALUES ('release_categories', 'delete', OLD.release_id, OLD.category_id);
    END;
    CREATE TRIGGER attachments_insert AFTER INSERT ON attachments BEGIN
        INSERT INTO changes (tbl, op, release_id) VALUES ('attachments', 'insert', NEW.release_id);
    END;
    CREATE TRIGGER attachments_update AFTER UPDATE ON attachments BEGIN
        INSERT INTO changes (tbl, op, release_id) VALUES ('attachments', 'update', NEW.release_id);
    END;
    CREATE TRIGGER attachments_delete AFTER DELETE ON attachments BEGIN
        INSERT INTO changes (tbl, op, release_id) VALUES ('attachments', 'delete', OLD.release_id);
    END;
    CREATE TRIGGER categories_update AFTER UPDATE OF name, description ON categories BEGIN
        INSERT INTO changes (tbl, op, category_id) VALUES ('categories', 'update', NEW.id);
    END;

    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        name TEXT,
        kind TEXT NOT NULL DEFAULT 'other' CHECK (kind IN ('journalist', 'city', 'other')),
        organization TEXT,
        language TEXT NOT NULL DEFAULT 'pl',
        frequency TEXT NOT NULL DEFAULT 'immediate'
            CHECK (frequency IN ('immediate', 'daily', 'weekly')),
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced')),
        token TEXT NOT NULL UNIQUE,
        consent_text TEXT,
        consent_at TEXT,
        consent_source TEXT,
        created_at TEXT NOT NULL,
        confirmed_at TEXT,
        unsubscribed_at TEXT,
        permanent_failures INTEGER NOT NULL DEFAULT 0,
        last_confirmation_at TEXT
    );
    CREATE TABLE subscriber_categories (
        subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
        category_id INTEGER NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
        PRIMARY KEY (subscriber_id, category_id)
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('alert', 'digest', 'confirmation')),
        subscriber_id INTEGER REFERENCES subscribers(id) ON DELETE SET NULL,
        release_ids TEXT NOT NULL DEFAULT '[]',
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        lease_until TEXT,
        lease_owner TEXT,
        message_id TEXT,
        last_error TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        UNIQUE (subscriber_id, key)
    );
    CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        outbox_id INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
        attempt INTEGER NOT NULL,
        at TEXT NOT NULL,
        code INTEGER,
        reply TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'transient', 'permanent'))
    );
    CREATE INDEX deliveries_outbox ON deliveries(outbox_id);
    CREATE TABLE digest_runs (
        id INTEGER PRIMARY KEY,
        frequency TEXT NOT NULL CHECK (frequency IN ('daily', 'weekly')),
        period_start TEXT NOT NULL,
        period_end TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (frequency, period_end)
    );
    CREATE TABLE build_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        change_cursor INTEGER NOT NULL DEFAULT 0,
        built_at TEXT,
        last_error TEXT
    );
    INSERT INTO build_state (id, change_cursor) VALUES (1, 0);
    """,
    # 2: partial indexes that keep a build with nothing changed cheap: the rows an outside writer left
    # incomplete (the WHERE of `complete_pending` then; migration 3 replaces it) and the releases whose
    # alerts are not planned yet (`unannounced_visible`).
    """
    CREATE INDEX releases_incomplete ON releases(id) WHERE uid IS NULL OR slug IS NULL OR number IS NULL
        OR body_html IS NULL OR published_at IS NULL OR updated_at IS NULL;
    CREATE INDEX releases_unannounced ON releases(visible_at, id) WHERE announced_at IS NULL;
    """,
    # 3: rows whose times an outside writer wrote in another form are incomplete too (the WHERE of
    # `complete_pending`, `INCOMPLETE`, term for term); the build remembers the fingerprint of the
    # settings and templates its outputs were made with, to rebuild everything when they change.
    """
    DROP INDEX releases_incomplete;
    CREATE INDEX releases_incomplete ON releases(id) WHERE uid IS NULL OR slug IS NULL OR number IS NULL
        OR body_html IS NULL OR published_at IS NULL OR updated_at IS NULL
        OR strftime('%Y-%m-%dT%H:%M:%SZ', published_at, '+0 days') IS NOT published_at
        OR strftime('%Y-%m-%dT%H:%M:%SZ', embargo_until, '+0 days') IS NOT embargo_until
        OR strftime('%Y-%m-%dT%H:%M:%SZ', retracted_at, '+0 days') IS NOT retracted_at
        OR strftime('%Y-%m-%dT%H:%M:%SZ', created_at, '+0 days') IS NOT created_at
        OR strftime('%Y-%m-%dT%H:%M:%SZ', updated_at, '+0 days') IS NOT updated_at;
    ALTER TABLE build_state ADD COLUMN fingerprint TEXT;
    """,
    # 4: an outside writer that changes `body_markdown` and leaves `body_html` as it was makes the HTML
    # stale: it is emptied, which makes the row incomplete, so the next build renders it again
    # (`complete_pending`). The service writes both columns together, so its own edits fire this only
    # when a new text renders to the same HTML (`Store.update_release` then writes the HTML again); the
    # trigger writes only `body_html`, so it cannot fire itself.
    """
    CREATE TRIGGER releases_markdown_edited AFTER UPDATE OF body_markdown ON releases
    WHEN NEW.body_markdown IS NOT OLD.body_markdown AND NEW.body_html IS OLD.body_html BEGIN
        UPDATE releases SET body_html = NULL WHERE id = NEW.id;
    END;
    """,
    # 5: digests go by `noticed_at`, the moment the service first saw a release visible, which a build, a
    # digest run or an outbox run stamps alike; `announced_at` stays the mark that its alerts are planned.
    # So a release a cron job adds and a `digest send` follows is in that digest though no build ran
    # (`digest send` plans no alerts). An outbox row whose subscriber left after it was claimed closes as
    # `withdrawn`, not `failed`: nothing failed, and `outbox retry --failed` must not queue it again.
    # SQLite cannot change a CHECK, so the outbox and its deliveries are copied into new tables; the
    # deliveries go first, as dropping the outbox would cascade into them.
    """
    ALTER TABLE releases ADD COLUMN noticed_at TEXT;
    UPDATE releases SET noticed_at = announced_at WHERE announced_at IS NOT NULL;
    CREATE INDEX releases_unnoticed ON releases(visible_at, id) WHERE noticed_at IS NULL;
    CREATE INDEX releases_noticed ON releases(noticed_at) WHERE noticed_at IS NOT NULL;
    CREATE TABLE outbox_new (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('alert', 'digest', 'confirmation')),
        subscriber_id INTEGER REFERENCES subscribers(id) ON DELETE SET NULL,
        release_ids TEXT NOT NULL DEFAULT '[]',
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'withdrawn')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        lease_until TEXT,
        lease_owner TEXT,
        message_id TEXT,
        last_error TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        UNIQUE (subscriber_id, key)
    );
    INSERT INTO outbox_new SELECT id, key, kind, subscriber_id, release_ids, status, attempts,
        next_attempt_at, lease_until, lease_owner, message_id, last_error, created_at, sent_at FROM outbox;
    CREATE TABLE deliveries_new (
        id INTEGER PRIMARY KEY,
        outbox_id INTEGER NOT NULL REFERENCES outbox_new(id) ON DELETE CASCADE,
        attempt INTEGER NOT NULL,
        at TEXT NOT NULL,
        code INTEGER,
        reply TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'transient', 'permanent'))
    );
    INSERT INTO deliveries_new SELECT id, outbox_id, attempt, at, code, reply, outcome FROM deliveries;
    DROP TABLE deliveries;
    DROP TABLE outbox;
    ALTER TABLE outbox_new RENAME TO outbox;
    ALTER TABLE deliveries_new RENAME TO deliveries;
    CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
    CREATE INDEX deliveries_outbox ON deliveries(outbox_id);
    CREATE INDEX deliveries_at ON deliveries(at);
    """,
    # 6: a subscriber's consent history: every opt-in, confirmation, change of preferences, withdrawal and
    # complaint, with its time, source and the version of the consent text, kept when they unsubscribe
    # and opt in again (erasing the subscriber erases it too). Rows for what the subscribers table
    # already recorded are written from it. `changes` is pruned by age (`maintenance.prune`).
    """
    CREATE TABLE consent_events (
        id INTEGER PRIMARY KEY,
        subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        event TEXT NOT NULL
            CHECK (event IN ('opt-in', 'confirmation', 'change', 'withdrawal', 'complaint', 'bounce')),
        source TEXT NOT NULL,
        consent_text TEXT,
        consent_version TEXT,
        detail TEXT
    );
    CREATE INDEX consent_events_subscriber ON consent_events(subscriber_id, id);
    INSERT INTO consent_events (subscriber_id, at, event, source, consent_text)
        SELECT id, coalesce(consent_at, created_at), 'opt-in', coalesce(consent_source, 'unknown'),
            consent_text FROM subscribers;
    INSERT INTO consent_events (subscriber_id, at, event, source)
        SELECT id, confirmed_at, 'confirmation', coalesce(consent_source, 'unknown') FROM subscribers
        WHERE confirmed_at IS NOT NULL;
    INSERT INTO consent_events (subscriber_id, at, event, source)
        SELECT id, unsubscribed_at, 'withdrawal', 'unknown' FROM subscribers
        WHERE unsubscribed_at IS NOT NULL;
    CREATE INDEX changes_at ON changes(at);
    CREATE INDEX subscribers_pending ON subscribers(created_at) WHERE status = 'pending';
    """,
    # 7: how many visible releases each category has, as of the last build, kept by the build: a full one
    # refills it, an incremental one recounts the categories its changes touch, in the transaction that
    # saves the build state (`Store.save_build_state`), so the index lists the categories without counting
    # every release. Emptying the fingerprint makes the next build a full one, which fills it.
    """
    CREATE TABLE category_counts (
        category_id INTEGER PRIMARY KEY REFERENCES categories(id) ON DELETE CASCADE,
        visible INTEGER NOT NULL
    );
    UPDATE build_state SET fingerprint = NULL;
    """,
    # 8: the (release, category) pairs the last build counted visible, so that an incremental build moves
    # `category_counts` by what its releases changed instead of recounting whole categories: the cost of
    # a change no longer grows with the store (`Store.save_build_state`). Emptying the fingerprint makes
    # the next build a full one, which fills it.
    """
    CREATE TABLE counted_pairs (
        release_id INTEGER NOT NULL,
        category_id INTEGER NOT NULL,
        PRIMARY KEY (release_id, category_id)
    ) WITHOUT ROWID;
    UPDATE build_state SET fingerprint = NULL;
    """,
    # 9: the newsroom desk. Desk users (argon2id hashes; a one-time set-up link's hashed nonce; TOTP
    # secret and hashed recovery codes), their sessions (the cookie carries a random key, the row its
    # SHA-256, so a copy of the store opens no session), the audit log of every change made through the
    # desk or the CLI (JSON {field: [old, new]}), drafts (a release document that is never published:
    # outputs never read this table), uploads (content-addressed files in the public directory), image
    # fields of attachments, and the WebSub pings the daemon made.
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ('editor', 'admin')),
        password_hash TEXT,
        setup_nonce TEXT,
        setup_expires_at TEXT,
        totp_secret TEXT,
        totp_last_step INTEGER,
        recovery_codes TEXT NOT NULL DEFAULT '[]',
        disabled_at TEXT,
        last_sign_in_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE desk_sessions (
        key_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX desk_sessions_user ON desk_sessions(user_id);
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
        actor TEXT NOT NULL,
        subject TEXT NOT NULL,
        subject_id INTEGER,
        action TEXT NOT NULL,
        changes TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_log_subject ON audit_log(subject, subject_id, id);
    CREATE INDEX audit_log_user ON audit_log(user_id, id);
    CREATE TABLE drafts (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        document TEXT NOT NULL,
        created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE uploads (
        sha256 TEXT PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        file_name TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        length INTEGER NOT NULL,
        width INTEGER,
        height INTEGER,
        uploaded_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
        uploaded_at TEXT NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE attachments ADD COLUMN alt TEXT;
    ALTER TABLE attachments ADD COLUMN caption TEXT;
    ALTER TABLE attachments ADD COLUMN credit TEXT;
    CREATE TABLE websub_pings (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        hub TEXT NOT NULL,
        url TEXT NOT NULL,
        ok INTEGER NOT NULL,
        status INTEGER,
        error TEXT,
        release_ids TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX websub_pings_at ON websub_pings(at);
    """,
    # 10: the desk's release list, most recently changed first (releases and drafts merged): a page is
    # read from these in order instead of sorting every row (at 10,000 releases, 0.4 ms instead of 11).
    # And a release's history page finds its alerts by key (``alert:<uid>``) without scanning the outbox.
    """
    CREATE INDEX IF NOT EXISTS releases_updated ON releases(updated_at DESC, id DESC) WHERE uid IS NOT NULL;
    CREATE INDEX IF NOT EXISTS drafts_updated ON drafts(updated_at DESC, id DESC);
    CREATE INDEX IF NOT EXISTS outbox_key ON outbox(key);
    """,
    # 11: what the bounce mailbox told us. One row per report read (DSN, complaint, auto-reply, mailto
    # unsubscribe, or unreadable), keyed by the SHA-256 of its bytes so no report counts twice; the outbox
    # row (and so the delivery and the subscriber) it names through its VERP address when it has one.
    """
    CREATE TABLE bounces (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        source TEXT NOT NULL,
        digest TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN (
            'hard', 'soft', 'complaint', 'auto-reply', 'unsubscribe', 'unknown', 'unreadable'
        )),
        outbox_id INTEGER REFERENCES outbox(id) ON DELETE SET NULL,
        delivery_id INTEGER REFERENCES deliveries(id) ON DELETE SET NULL,
        subscriber_id INTEGER REFERENCES subscribers(id) ON DELETE SET NULL,
        recipient TEXT,
        status TEXT,
        diagnostic TEXT,
        report_message_id TEXT
    );
    CREATE INDEX bounces_subscriber ON bounces(subscriber_id, kind, at);
    CREATE INDEX bounces_at ON bounces(at);
    """,
    # 12: a subscriber's personal feed (``/my/<token>/rss.xml``): a random token of its own, minted when
    # first shown, so a feed address never gives away the signed links of the mails; replaced ones are
    # kept (with no link to anyone) so that they answer 410 Gone instead of 404.
    """
    ALTER TABLE subscribers ADD COLUMN feed_token TEXT;
    CREATE UNIQUE INDEX subscribers_feed_token ON subscribers(feed_token);
    CREATE TABLE retired_feed_tokens (
        token TEXT PRIMARY KEY,
        retired_at TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 13: verified journalists and early access. A journalist is a subscriber of kind ``journalist`` who
    # applied (work link, press card) and whom an admin verified; ``verification`` is NULL for everyone
    # else. Each acceptance of the embargo terms is kept with the version accepted. A release saved with
    # ``early_access`` goes to verified journalists before its embargo lifts; who had it, by mail or in a
    # personal feed, and when, is recorded, so a leak can be traced.
    """
    ALTER TABLE releases ADD COLUMN early_access INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE subscribers ADD COLUMN verification TEXT
        CHECK (verification IN ('applied', 'verified', 'refused', 'revoked'));
    ALTER TABLE subscribers ADD COLUMN work_url TEXT;
    ALTER TABLE subscribers ADD COLUMN press_card TEXT;
    ALTER TABLE subscribers ADD COLUMN verified_at TEXT;
    ALTER TABLE subscribers ADD COLUMN revoked_at TEXT;
    CREATE INDEX subscribers_verification ON subscribers(verification) WHERE verification IS NOT NULL;
    CREATE TABLE terms_acceptances (
        id INTEGER PRIMARY KEY,
        subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
        version TEXT NOT NULL,
        at TEXT NOT NULL,
        source TEXT NOT NULL
    );
    CREATE INDEX terms_acceptances_subscriber ON terms_acceptances(subscriber_id, id);
    CREATE TABLE early_access_log (
        id INTEGER PRIMARY KEY,
        release_id INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
        subscriber_id INTEGER REFERENCES subscribers(id) ON DELETE SET NULL,
        channel TEXT NOT NULL CHECK (channel IN ('mail', 'feed')),
        at TEXT NOT NULL
    );
    CREATE INDEX early_access_log_release ON early_access_log(release_id, id);
    CREATE TRIGGER releases_early_access AFTER UPDATE OF early_access ON releases BEGIN
        INSERT INTO changes (tbl, op, release_id) VALUES ('releases', 'update', NEW.id);
    END;
    """,
    # 14: the outbox's kinds are `mail.kinds.KINDS`' to name, not a CHECK's: early alerts, notices and
    # corrections join alerts, digests and confirmations without copying the table for each one (a row of
    # a kind the registry does not hold fails on its own as `UnknownMessageKind`). SQLite cannot drop a
    # CHECK, so the outbox is copied once more, with the deliveries and the bounce reports that point at
    # its rows (copied first, so that dropping the old tables sets no reference to NULL).
    """
    CREATE TABLE outbox_new (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        subscriber_id INTEGER REFERENCES subscribers(id) ON DELETE SET NULL,
        release_ids TEXT NOT NULL DEFAULT '[]',
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'withdrawn')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        lease_until TEXT,
        lease_owner TEXT,
        message_id TEXT,
        last_error TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        UNIQUE (subscriber_id, key)
    );
    INSERT INTO outbox_new SELECT id, key, kind, subscriber_id, release_ids, status, attempts,
        next_attempt_at, lease_until, lease_owner, message_id, last_error, created_at, sent_at FROM outbox;
    CREATE TABLE deliveries_new (
        id INTEGER PRIMARY KEY,
        outbox_id INTEGER NOT NULL REFERENCES outbox_new(id) ON DELETE CASCADE,
        attempt INTEGER NOT NULL,
        at TEXT NOT NULL,
        code INTEGER,
        reply TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'transient', 'permanent'))
    );
    INSERT INTO deliveries_new SELECT id, outbox_id, attempt, at, code, reply, outcome FROM deliveries;
    CREATE TABLE bounces_new (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        source TEXT NOT NULL,
        digest TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN (
            'hard', 'soft', 'complaint', 'auto-reply', 'unsubscribe', 'unknown', 'unreadable'
        )),
        outbox_id INTEGER REFERENCES outbox_new(id) ON DELETE SET NULL,
        delivery_id INTEGER REFERENCES deliveries_new(id) ON DELETE SET NULL,
        subscriber_id INTEGER REFERENCES subscribers(id) ON DELETE SET NULL,
        recipient TEXT,
        status TEXT,
        diagnostic TEXT,
        report_message_id TEXT
    );
    INSERT INTO bounces_new SELECT id, at, source, digest, kind, outbox_id, delivery_id, subscriber_id,
        recipient, status, diagnostic, report_message_id FROM bounces;
    DROP TABLE bounces;
    DROP TABLE deliveries;
    DROP TABLE outbox;
    ALTER TABLE outbox_new RENAME TO outbox;
    ALTER TABLE deliveries_new RENAME TO deliveries;
    ALTER TABLE bounces_new RENAME TO bounces;
    CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
    CREATE INDEX outbox_key ON outbox(key);
    CREATE INDEX deliveries_outbox ON deliveries(outbox_id);
    CREATE INDEX deliveries_at ON deliveries(at);
    CREATE INDEX bounces_subscriber ON bounces(subscriber_id, kind, at);
    CREATE INDEX bounces_at ON bounces(at);
    """,
    # 15: corrections, events and the follow-up mail of issues 12 and 13. A release may announce a dated
    # event (``event_*``: times in the store's form, or a date for an all-day event); every correction is
    # kept with its note and time, and ``planned_at`` says its mail was planned (once); `release_mailings`
    # keeps, per release, the embargo time its early recipients were last told and when the notice of its
    # withdrawal was planned, so a moved embargo or a retraction is told once. ``outbox.in_reply_to`` is the
    # Message-ID a follow-up answers (RFC 5322 threading: the one that subscriber received).
    """
    ALTER TABLE releases ADD COLUMN event_start TEXT;
    ALTER TABLE releases ADD COLUMN event_end TEXT;
    ALTER TABLE releases ADD COLUMN event_all_day INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE releases ADD COLUMN event_location TEXT;
    ALTER TABLE releases ADD COLUMN event_online_url TEXT;
    CREATE INDEX releases_event_start ON releases(event_start) WHERE event_start IS NOT NULL;
    CREATE TRIGGER releases_event AFTER UPDATE OF event_start, event_end, event_all_day, event_location,
        event_online_url ON releases BEGIN
        INSERT INTO changes (tbl, op, release_id) VALUES ('releases', 'update', NEW.id);
    END;
    CREATE TABLE corrections (
        id INTEGER PRIMARY KEY,
        release_id INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        note TEXT NOT NULL,
        planned_at TEXT
    );
    CREATE INDEX corrections_release ON corrections(release_id, id);
    CREATE INDEX corrections_unplanned ON corrections(id) WHERE planned_at IS NULL;
    CREATE TRIGGER corrections_insert AFTER INSERT ON corrections BEGIN
        INSERT INTO changes (tbl, op, release_id) VALUES ('releases', 'update', NEW.release_id);
    END;
    CREATE TABLE release_mailings (
        release_id INTEGER PRIMARY KEY REFERENCES releases(id) ON DELETE CASCADE,
        early_told_until TEXT,
        withdrawal_planned_at TEXT
    );
    ALTER TABLE outbox ADD COLUMN in_reply_to TEXT;
    """,
    # 16: a retraction is told to those who had the release however long after it the next build runs
    # (a downtime longer than the alert window): the builds look for every retraction not told yet,
    # through an index of the retracted releases only. A retraction older than two days when this runs
    # counts as told: it was, or it was past the window the builds before this one looked at.
    """
    CREATE INDEX releases_retracted ON releases(id) WHERE retracted_at IS NOT NULL;
    INSERT INTO release_mailings (release_id, withdrawal_planned_at)
        SELECT id, retracted_at FROM releases
        WHERE retracted_at IS NOT NULL AND retracted_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-2 days')
        ON CONFLICT(release_id) DO UPDATE
        SET withdrawal_planned_at = coalesce(withdrawal_planned_at, excluded.withdrawal_planned_at);
    """,
)
