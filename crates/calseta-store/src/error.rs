//! The storage layer's error type.

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database driver failed (connection, SQL, constraint).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The connection string is not a supported database URL.
    #[error("unsupported DATABASE_URL '{0}': expected sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// The SQLite writer stayed busy past the lease timeout.
    #[error("the database writer is busy; retry")]
    WriterBusy,
    /// The group commit holding this transaction failed; the transaction's work is not stored.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// A stored value could not be interpreted.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

impl From<calseta_core::UnknownValue> for StoreError {
    fn from(e: calseta_core::UnknownValue) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl StoreError {
    /// Whether the database could not be reached or could not take the write (no connection, a
    /// restarting server, a full disk, too many connections): nothing was done, and the same
    /// request may succeed shortly.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::WriterBusy | StoreError::CommitFailed(_) => true,
            StoreError::Database(e) => match e {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => {
                    let code = db.code().unwrap_or_default();
                    // PostgreSQL: connection exceptions (08), insufficient resources (53: disk
                    // full, out of memory, too many connections), operator intervention (57P:
                    // shutdown, restart). SQLite: SQLITE_FULL, SQLITE_IOERR, and SQLITE_BUSY and
                    // SQLITE_LOCKED — a transaction that read, then found another connection had
                    // written meanwhile (`SQLITE_BUSY_SNAPSHOT`), or a lock the busy timeout did not
                    // outlast: nothing was changed and a retry succeeds — with their extended codes
                    // (the low byte is the primary code).
                    let sqlite_primary = code.parse::<i64>().ok().map(|c| c & 0xff);
                    // A database that does not accept connections (being dropped, or closed with
                    // ALLOW_CONNECTIONS false for maintenance) answers a connection with 55000.
                    let not_accepting =
                        code == "55000" && db.message().contains("not currently accepting connections");
                    // 25006: the database takes no writes (read-only, a replica after a
                    // failover) — like a full disk, reads answer and every write is refused.
                    code.starts_with("08")
                        || code == "25006"
                        || code.starts_with("53")
                        || code.starts_with("57P")
                        || not_accepting
                        || matches!(sqlite_primary, Some(5 | 6 | 10 | 13))
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether the error is a unique-constraint violation.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoreError;

    #[test]
    fn unavailability_is_told_apart_from_other_failures() {
        for e in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed, sqlx::Error::WorkerCrashed] {
            assert!(StoreError::Database(e).is_unavailable());
        }
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(StoreError::Database(sqlx::Error::Io(refused)).is_unavailable());
        assert!(StoreError::WriterBusy.is_unavailable());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::Corrupt("x".into()).is_unavailable());
    }

    /// A transaction that read, then tried to write after another connection wrote: SQLite
    /// answers `SQLITE_BUSY_SNAPSHOT` at once (no busy timeout helps). Nothing was changed, so it
    /// is "unavailable, retry" (a 503), not a failure (a 500).
    #[tokio::test]
    async fn a_sqlite_snapshot_conflict_is_unavailable_not_a_failure() {
        use sqlx::Connection as _;
        let path = std::env::temp_dir().join(format!("calseta-busy-{}.db", uuid::Uuid::now_v7()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut reader = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let mut writer = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for sql in ["PRAGMA journal_mode=WAL", "CREATE TABLE t (x INTEGER)", "INSERT INTO t VALUES (1)"] {
            sqlx::query(sql).execute(&mut reader).await.unwrap();
        }
        sqlx::query("BEGIN").execute(&mut reader).await.unwrap();
        sqlx::query("SELECT count(*) FROM t").fetch_one(&mut reader).await.unwrap();
        sqlx::query("INSERT INTO t VALUES (2)").execute(&mut writer).await.unwrap();
        let conflict = sqlx::query("INSERT INTO t VALUES (3)").execute(&mut reader).await.unwrap_err();
        assert!(StoreError::Database(conflict).is_unavailable());
        drop((reader, writer));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
