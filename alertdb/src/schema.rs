//! The database's tables, as numbered migrations. Each runs once, on the master, through
//! the sync journal's `change_schema` so the backup runs the same SQL in the same place of
//! the replicated stream; the version reached is a replicated row (`allerta_schema`), not a
//! PRAGMA (PRAGMAs are not replicated). Never edit a migration that has shipped: add one.
//!
//! Times are milliseconds since the epoch (UTC). Every table has a primary key (the
//! session extension replicates rows by key).

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: operators, contacts, lists, messages, campaigns, the per-recipient ledger, audit.
    r#"
    CREATE TABLE IF NOT EXISTS allerta_schema (version INTEGER PRIMARY KEY);
    CREATE TABLE operators (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'operator')),
        password_hash TEXT NOT NULL,
        pin_hash TEXT
    );
    CREATE TABLE contacts (
        id INTEGER PRIMARY KEY,
        external_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        language TEXT NOT NULL DEFAULT 'it',
        tags TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE contact_numbers (
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        number TEXT NOT NULL,
        PRIMARY KEY (contact_id, position)
    );
    CREATE TABLE lists (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE list_members (
        list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        PRIMARY KEY (list_id, contact_id)
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('text', 'recording')),
        body TEXT NOT NULL,
        language TEXT NOT NULL DEFAULT 'it'
    );
    CREATE TABLE campaigns (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        message_id INTEGER NOT NULL REFERENCES messages(id),
        priority INTEGER NOT NULL DEFAULT 0,
        max_lines INTEGER NOT NULL CHECK (max_lines > 0),
        cps REAL NOT NULL CHECK (cps > 0),
        ring_secs INTEGER NOT NULL CHECK (ring_secs > 0),
        max_attempts INTEGER NOT NULL CHECK (max_attempts > 0),
        retry_secs INTEGER NOT NULL CHECK (retry_secs >= 0),
        window_start INTEGER,
        window_end INTEGER,
        state TEXT NOT NULL CHECK (state IN ('draft', 'running', 'paused', 'stopped', 'done')),
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER
    );
    CREATE TABLE campaign_lists (
        campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
        list_id INTEGER NOT NULL REFERENCES lists(id),
        PRIMARY KEY (campaign_id, list_id)
    );
    CREATE TABLE recipients (
        campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
        contact_id INTEGER NOT NULL REFERENCES contacts(id),
        status TEXT NOT NULL CHECK (status IN ('pending', 'calling', 'confirmed', 'gave_up', 'stopped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL DEFAULT 0,
        last_outcome TEXT,
        PRIMARY KEY (campaign_id, contact_id)
    );
    CREATE INDEX recipients_due ON recipients (campaign_id, status, next_at);
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
        contact_id INTEGER NOT NULL REFERENCES contacts(id),
        number TEXT NOT NULL,
        node TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        answered_at INTEGER,
        ended_at INTEGER,
        outcome TEXT,
        sip_code INTEGER,
        dtmf TEXT
    );
    CREATE INDEX attempts_open ON attempts (campaign_id, outcome);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        who TEXT NOT NULL,
        what TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    "#,
    // 2: an attempt recorded by the other node while its writes could not reach this one
    // (a split brain, or an old master's last writes) carries when it was merged here
    // (`reconcile`): until then this node could not know of it.
    r#"
    ALTER TABLE attempts ADD COLUMN merged_at INTEGER;
    "#,
    // 3: Asterisk's database (AstDB: DBGet/DBPut/DBDel, the dialplan's DB()), replicated
    // with the rest so a value an application stored is there after a takeover.
    r#"
    CREATE TABLE astdb (
        family TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (family, key)
    );
    "#,
    // 4: the web console. An operator can be disabled, and `session_epoch` ends every
    // session of an operator at once (sign-out, password change, disabling): a session
    // carries the epoch it was issued in. The keys that sign sessions and the console's
    // certificate are replicated so a takeover keeps both: no second sign-in, no new
    // certificate warning in the browser.
    r#"
    ALTER TABLE operators ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE operators ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE console_keys (
        id INTEGER PRIMARY KEY,
        key BLOB NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE console_tls (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        cert_pem TEXT NOT NULL,
        key_pem TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    "#,
    // 5: a person's attempts in a campaign, found without a scan: the report's last
    // attempt per person and the console's chart read them for every recipient (a
    // 2,000-recipient report took a second and a half without it).
    r#"
    CREATE INDEX attempts_person ON attempts (campaign_id, contact_id, id);
    "#,
];
