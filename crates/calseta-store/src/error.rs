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

impl StoreError {
    /// Whether the error is a unique-constraint violation.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }
}
