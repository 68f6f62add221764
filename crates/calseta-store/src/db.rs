//! The database handle: connection pools per engine, transactions, and the in-process job wake-up.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::Notify;

use crate::StoreError;

/// The current time at the precision both engines store (microseconds).
///
/// Every timestamp is produced here and bound as a parameter, never by SQL `now()`, so SQLite's
/// text timestamps stay in one format and compare correctly.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Embedded SQLite file: zero setup, one machine.
    Sqlite,
    /// PostgreSQL: any number of API and worker processes.
    Postgres,
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `sqlite://path`, `sqlite::memory:` or `postgres://…`.
    pub url: String,
    /// Pool size (PostgreSQL) or reader pool size (SQLite).
    pub max_connections: u32,
    /// SQLite `synchronous=FULL` (default) so an acknowledged write survives a power cut;
    /// `false` selects `NORMAL`.
    pub sqlite_synchronous_full: bool,
}

impl DbOptions {
    /// Options for `url` with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), max_connections: 16, sqlite_synchronous_full: true }
    }
}

enum Pools {
    /// SQLite allows one writer: every write goes through the single-connection `writer` pool, so
    /// writers queue in-process instead of contending for the file lock; reads use `reader`.
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
        path: Option<PathBuf>,
    },
    Postgres(PgPool),
}

struct Inner {
    pools: Pools,
    job_wakeup: Notify,
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

pub(crate) enum PoolRef<'a> {
    Sqlite(&'a SqlitePool),
    Postgres(&'a PgPool),
}

impl Db {
    /// Connects to the database named by `options.url` (creating a SQLite file if missing).
    pub async fn connect(options: &DbOptions) -> Result<Db, StoreError> {
        let url = options.url.trim();
        let pools = if url.starts_with("sqlite:") {
            let base = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(if options.sqlite_synchronous_full {
                    SqliteSynchronous::Full
                } else {
                    SqliteSynchronous::Normal
                })
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let path = (!in_memory).then(|| base.get_filename().to_path_buf());
            // Creating the file and switching it to WAL takes an exclusive lock; processes opening
            // a new file at the same moment would deadlock on it, so they take turns.
            let _opening = match &path {
                Some(path) => Some(lock_file(path).await?),
                None => None,
            };
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(base.clone())
                .await?;
            // An in-memory database exists per connection, so it must share the writer.
            let reader = if in_memory {
                writer.clone()
            } else {
                SqlitePoolOptions::new()
                    .max_connections(options.max_connections.max(1))
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(base)
                    .await?
            };
            Pools::Sqlite { writer, reader, path }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let connect = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections.max(2))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(connect)
                .await?;
            Pools::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        Ok(Db { inner: Arc::new(Inner { pools, job_wakeup: Notify::new() }) })
    }

    /// The engine in use.
    pub fn engine(&self) -> Engine {
        match self.inner.pools {
            Pools::Sqlite { .. } => Engine::Sqlite,
            Pools::Postgres(_) => Engine::Postgres,
        }
    }

    /// The SQLite database file, when the engine is a file-backed SQLite.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.inner.pools {
            Pools::Sqlite { path, .. } => path.as_deref(),
            Pools::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool (for `LISTEN`), when the engine is PostgreSQL.
    pub fn pg_pool(&self) -> Option<&PgPool> {
        match &self.inner.pools {
            Pools::Postgres(pool) => Some(pool),
            Pools::Sqlite { .. } => None,
        }
    }

    pub(crate) fn read_pool(&self) -> PoolRef<'_> {
        match &self.inner.pools {
            Pools::Sqlite { reader, .. } => PoolRef::Sqlite(reader),
            Pools::Postgres(pool) => PoolRef::Postgres(pool),
        }
    }

    pub(crate) fn write_pool(&self) -> PoolRef<'_> {
        match &self.inner.pools {
            Pools::Sqlite { writer, .. } => PoolRef::Sqlite(writer),
            Pools::Postgres(pool) => PoolRef::Postgres(pool),
        }
    }

    /// Starts a write transaction.
    ///
    /// On SQLite this holds the single writer connection until commit or drop: never call a
    /// non-transactional write of the same [`Db`] while holding a [`Tx`].
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let inner = match &self.inner.pools {
            Pools::Sqlite { writer, .. } => TxInner::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?),
            Pools::Postgres(pool) => TxInner::Postgres(pool.begin().await?),
        };
        Ok(Tx { inner, jobs_enqueued: false, db: self.clone() })
    }

    /// Applies every pending migration (idempotent; safe when several processes start at once).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = crate::migrations::migrator(self.engine()).await?;
        match &self.inner.pools {
            Pools::Sqlite { writer, path, .. } => {
                // PostgreSQL migrations take an advisory lock; on SQLite, processes starting at
                // once on one file serialize on a lock file instead.
                let _lock = match path {
                    Some(path) => Some(lock_file(path).await?),
                    None => None,
                };
                migrator.run(writer).await?
            }
            Pools::Postgres(pool) => migrator.run(pool).await?,
        }
        Ok(())
    }

    /// A trivial round trip, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self.read_pool(), p => sqlx::query("SELECT 1").execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Signalled (in this process) whenever a committed transaction enqueued jobs.
    pub fn job_wakeup(&self) -> &Notify {
        &self.inner.job_wakeup
    }

    /// Closes every pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match &self.inner.pools {
            Pools::Sqlite { writer, reader, .. } => {
                reader.close().await;
                writer.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }
}

/// Takes an exclusive lock on `<db>.lock`, released when the returned file is dropped.
async fn lock_file(db_path: &Path) -> Result<std::fs::File, StoreError> {
    let mut name = db_path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let locked = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| StoreError::Corrupt(format!("migration lock task failed: {e}")))?;
    locked.map_err(|e| StoreError::Database(sqlx::Error::Io(e)))
}

/// Removes the password from a database URL before it is shown anywhere.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

pub(crate) enum TxConn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// A write transaction; dropped without [`Tx::commit`] it rolls back.
pub struct Tx {
    inner: TxInner,
    jobs_enqueued: bool,
    db: Db,
}

impl Tx {
    pub(crate) fn conn(&mut self) -> TxConn<'_> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => TxConn::Sqlite(tx),
            TxInner::Postgres(tx) => TxConn::Postgres(tx),
        }
    }

    pub(crate) fn engine(&self) -> Engine {
        match self.inner {
            TxInner::Sqlite(_) => Engine::Sqlite,
            TxInner::Postgres(_) => Engine::Postgres,
        }
    }

    /// Opens a savepoint: work after it can be undone alone (`rollback_to_savepoint`) while the
    /// rest of a group-committed transaction stands.
    pub async fn savepoint(&mut self) -> Result<(), StoreError> {
        self.execute_raw("SAVEPOINT unit").await
    }

    /// Keeps the work since the savepoint.
    pub async fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.execute_raw("RELEASE SAVEPOINT unit").await
    }

    /// Undoes the work since the savepoint and closes it.
    pub async fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        self.execute_raw("ROLLBACK TO SAVEPOINT unit").await?;
        self.execute_raw("RELEASE SAVEPOINT unit").await
    }

    async fn execute_raw(&mut self, sql: &'static str) -> Result<(), StoreError> {
        on_tx!(self, c => sqlx::query(sql).execute(c).await.map(|_| ()))?;
        Ok(())
    }

    pub(crate) fn note_job_enqueued(&mut self) {
        self.jobs_enqueued = true;
    }

    /// Commits, then wakes this process's worker if jobs were enqueued (other processes are woken
    /// by `NOTIFY` on PostgreSQL, or by their poll on SQLite).
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(tx) => tx.commit().await?,
            TxInner::Postgres(tx) => tx.commit().await?,
        }
        if self.jobs_enqueued {
            self.db.job_wakeup().notify_one();
        }
        Ok(())
    }

    /// Rolls back explicitly.
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(tx) => tx.rollback().await?,
            TxInner::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("sqlite://calseta.db"), "sqlite://calseta.db");
    }
}
