//! The SQL stores' schema, as numbered migrations: a store opened by a newer tidegate gains the
//! new steps; one written by a newer tidegate than this is refused rather than misread.
//!
//! Both SQL stores keep the same tables (column types spelled per database):
//! - `tidegate_generation`: one row, bumped first in every write transaction (which also
//!   serializes writers, so revision numbers and versions never race);
//! - `tidegate_documents (kind, id) → body, version, updated_at_ms`;
//! - `tidegate_revisions (api, number) → definition, created_at_ms, author, comment`;
//! - `tidegate_audit (seq) → at_ms, actor, action, target, before, after`;
//! - `tidegate_tokens (name) → hash, created_at_ms, expires_at_ms, role` (the times since
//!   migration 2, NULL when unknown (created before) or, for the expiry, never; the role since
//!   migration 3, `admin` for the tokens created before);
//! - `tidegate_schema`: one row, the number of migrations applied.

/// SQLite migrations, in order; entry `n` brings the schema from version n to n + 1.
pub(crate) const SQLITE: &[&str] = &["
    CREATE TABLE tidegate_generation (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
    INSERT INTO tidegate_generation (id, value) VALUES (1, 0);
    CREATE TABLE tidegate_documents (kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,
        version INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL, PRIMARY KEY (kind, id));
    CREATE TABLE tidegate_revisions (api TEXT NOT NULL, number INTEGER NOT NULL,
        definition TEXT NOT NULL, created_at_ms INTEGER NOT NULL, author TEXT NOT NULL,
        comment TEXT, PRIMARY KEY (api, number));
    CREATE TABLE tidegate_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL,
        actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, before TEXT, after TEXT);
    CREATE INDEX tidegate_audit_target ON tidegate_audit (target, seq);
    CREATE TABLE tidegate_tokens (name TEXT PRIMARY KEY, hash TEXT NOT NULL);
", "
    ALTER TABLE tidegate_tokens ADD COLUMN created_at_ms INTEGER;
    ALTER TABLE tidegate_tokens ADD COLUMN expires_at_ms INTEGER;
", "
    ALTER TABLE tidegate_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
"];

/// PostgreSQL migrations, in order (same tables as [`SQLITE`]).
pub(crate) const POSTGRES: &[&str] = &[
    "
    CREATE TABLE tidegate_generation (id INTEGER PRIMARY KEY CHECK (id = 1), value BIGINT NOT NULL);
    INSERT INTO tidegate_generation (id, value) VALUES (1, 0);
    CREATE TABLE tidegate_documents (kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,
        version BIGINT NOT NULL, updated_at_ms BIGINT NOT NULL, PRIMARY KEY (kind, id));
    CREATE TABLE tidegate_revisions (api TEXT NOT NULL, number BIGINT NOT NULL,
        definition TEXT NOT NULL, created_at_ms BIGINT NOT NULL, author TEXT NOT NULL,
        comment TEXT, PRIMARY KEY (api, number));
    CREATE TABLE tidegate_audit (seq BIGSERIAL PRIMARY KEY, at_ms BIGINT NOT NULL,
        actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, before TEXT, after TEXT);
    CREATE INDEX tidegate_audit_target ON tidegate_audit (target, seq);
    CREATE TABLE tidegate_tokens (name TEXT PRIMARY KEY, hash TEXT NOT NULL);
",
    "
    ALTER TABLE tidegate_tokens ADD COLUMN created_at_ms BIGINT,
        ADD COLUMN expires_at_ms BIGINT;
",
    "
    ALTER TABLE tidegate_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
",
];

/// Creates the version table when missing (same text for both databases).
pub(crate) const VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS tidegate_schema (version BIGINT NOT NULL)";

/// What to say about a store whose schema is newer than this binary knows.
pub(crate) fn too_new(found: i64, known: usize) -> String {
    format!(
        "the store's schema is version {found}, newer than this tidegate knows ({known}); run a tidegate at least as new as the one that wrote it"
    )
}
