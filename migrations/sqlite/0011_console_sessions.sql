-- Console sessions: one row per signed-in browser, shared by every process on this database.
-- Only a SHA-256 digest of the session id (the cookie's value) is stored, so a copy of the
-- database cannot sign anyone in. The key is named by its public id, without a foreign key: keys
-- are revoked, not deleted, and the sandbox's daily reset may delete a visitor's key, which must
-- then end its sessions (the next request finds no key) rather than fail the reset.
CREATE TABLE console_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_digest TEXT NOT NULL UNIQUE,
    api_key_uuid BLOB NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX ix_console_sessions_api_key ON console_sessions (api_key_uuid);
CREATE INDEX ix_console_sessions_last_seen ON console_sessions (last_seen_at);
CREATE INDEX ix_console_sessions_expires ON console_sessions (expires_at);
