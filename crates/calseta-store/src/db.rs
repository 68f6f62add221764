//! The database handle: connection pools per engine, transactions, and the in-process wake-ups
//! (jobs enqueued, activity appended).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::Notify;

use crate::StoreError;
use crate::counters::{Counters, DbWork};
use crate::engine::Engine;
use crate::query::Query;
use crate::writer::{self, GroupWriter, Lease};

/// The current time at the precision both engines store (microseconds).
///
/// Every timestamp is produced here and bound as a parameter, never by SQL `now()`, so SQLite's
/// text timestamps stay in one format and compare correctly.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
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
    /// How long the SQLite group-commit writer keeps a batch open while more writes are waiting
    /// to join it: longer shares each commit among more writes, shorter makes each write wait
    /// less for its commit.
    pub sqlite_group_commit: Duration,
}

impl DbOptions {
    /// Options for `url` with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            sqlite_synchronous_full: true,
            sqlite_group_commit: writer::DEFAULT_MAX_BATCH_AGE,
        }
    }
}

enum Pools {
    /// SQLite allows one writer: every write goes through the group-commit `writer`, so writers
    /// queue in-process instead of contending for the file lock and share commits; reads use
    /// `reader`.
    Sqlite {
        writer: Arc<GroupWriter>,
        reader: SqlitePool,
        path: Option<PathBuf>,
        _scratch: Option<ScratchFile>,
    },
    Postgres(PgPool),
}

struct Inner {
    pools: Pools,
    counters: Arc<Counters>,
    job_wakeup: Notify,
    activity_wakeup: Notify,
    /// When a write last failed, until a later write succeeds: reads can answer while writes do
    /// not (a full disk), and health must say so.
    write_failed_at: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long a failed write keeps the database reported as failing when no write succeeds since.
const WRITE_FAILURE_MEMORY: std::time::Duration = std::time::Duration::from_secs(60);

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
        let counters = Arc::new(Counters::default());
        let pools = if url.starts_with("sqlite:") {
            // The writer and the readers are separate connections, which would each see their own
            // in-memory database; an in-memory URL gets a scratch file removed on close instead.
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let scratch = in_memory.then(ScratchFile::new);
            let base = match &scratch {
                Some(scratch) => SqliteConnectOptions::new().filename(&scratch.0),
                None => SqliteConnectOptions::from_str(url)?,
            };
            let base = base
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(if options.sqlite_synchronous_full {
                    SqliteSynchronous::Full
                } else {
                    SqliteSynchronous::Normal
                })
                .busy_timeout(Duration::from_secs(10))
                // Takes effect when the file is created: freed pages can then be given back.
                .auto_vacuum(sqlx::sqlite::SqliteAutoVacuum::Incremental)
                .foreign_keys(true);
            let path = (!in_memory).then(|| base.get_filename().to_path_buf());
            // Creating the file and switching it to WAL takes an exclusive lock; processes opening
            // a new file at the same moment would deadlock on it, so they take turns.
            let _opening = match &path {
                Some(path) => Some(lock_file(path).await?),
                None => None,
            };
            let writer = GroupWriter::new(
                writer::connect(&base).await?,
                counters.clone(),
                options.sqlite_group_commit,
            );
            let reader = SqlitePoolOptions::new()
                .max_connections(options.max_connections.max(1))
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(base)
                .await?;
            Pools::Sqlite { writer, reader, path, _scratch: scratch }
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
        Ok(Db {
            inner: Arc::new(Inner {
                pools,
                counters,
                job_wakeup: Notify::new(),
                activity_wakeup: Notify::new(),
                write_failed_at: std::sync::Mutex::new(None),
            }),
        })
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

    /// Connections in the (reading) pool, and how many of them are idle.
    pub fn pool_stats(&self) -> (u32, usize) {
        match &self.inner.pools {
            Pools::Sqlite { reader, .. } => (reader.size(), reader.num_idle()),
            Pools::Postgres(pool) => (pool.size(), pool.num_idle()),
        }
    }

    /// The work this handle (and its clones) has asked of the database so far.
    pub fn work_done(&self) -> DbWork {
        self.inner.counters.read()
    }

    /// The pool for one read statement (counted as sent).
    pub(crate) fn read_pool(&self) -> PoolRef<'_> {
        self.inner.counters.statement();
        match &self.inner.pools {
            Pools::Sqlite { reader, .. } => PoolRef::Sqlite(reader),
            Pools::Postgres(pool) => PoolRef::Postgres(pool),
        }
    }

    /// The pool for an autocommit write, on PostgreSQL; `None` on SQLite, where every write is a
    /// unit of the group-commit writer.
    /// Counted as one statement, write transaction and commit when it is `Some` (an autocommit
    /// write is its own transaction; it is counted when sent).
    pub(crate) fn autocommit_pool(&self) -> Option<&PgPool> {
        match &self.inner.pools {
            Pools::Sqlite { .. } => None,
            Pools::Postgres(pool) => {
                let counters = &self.inner.counters;
                counters.statement();
                counters.write_transaction();
                counters.commit();
                Some(pool)
            }
        }
    }

    /// Starts a write transaction.
    ///
    /// On SQLite this is a unit of the group-commit writer and holds the writer until commit or
    /// drop: never start another write of the same [`Db`] while holding a [`Tx`].
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        self.inner.counters.write_transaction();
        let inner = match &self.inner.pools {
            // The writer counts its own transaction control (a unit may share its batch's BEGIN).
            Pools::Sqlite { writer, .. } => writer.begin().await.map(TxInner::Sqlite),
            Pools::Postgres(pool) => {
                self.inner.counters.statement();
                pool.begin().await.map(TxInner::Postgres).map_err(StoreError::from)
            }
        };
        let inner = self.note_write(inner)?;
        Ok(Tx {
            inner,
            deferred: Vec::new(),
            deferred_unsent: false,
            jobs_enqueued: false,
            activity_appended: false,
            db: self.clone(),
        })
    }

    /// Remembers whether a write (its start or its commit) failed for want of the database.
    fn note_write<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let failed = match &result {
            Ok(_) => None,
            Err(e) if e.is_unavailable() => Some(std::time::Instant::now()),
            Err(_) => return result,
        };
        let mut at = self.inner.write_failed_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *at = failed;
        result
    }

    /// Whether the database takes writes: none failed for want of the database since the last
    /// that succeeded (within a minute; SQLite's writes fail at commit), and on PostgreSQL a
    /// statement that writes nothing, in a transaction rolled back, is accepted (a read-only or
    /// failed-over server refuses it). Nothing is changed.
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        if self.writes_failing() {
            return Err(StoreError::CommitFailed("the last write failed".into()));
        }
        match &self.inner.pools {
            Pools::Sqlite { .. } => Ok(()),
            Pools::Postgres(pool) => {
                // BEGIN, the statement, ROLLBACK.
                (0..3).for_each(|_| self.inner.counters.statement());
                let mut tx = pool.begin().await?;
                sqlx::query("UPDATE calseta_state SET key = key WHERE false").execute(&mut *tx).await?;
                tx.rollback().await?;
                Ok(())
            }
        }
    }

    /// Whether writes are failing: one failed for want of the database within the last minute and
    /// none succeeded since.
    fn writes_failing(&self) -> bool {
        let at = self.inner.write_failed_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        at.is_some_and(|t| t.elapsed() < WRITE_FAILURE_MEMORY)
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
                writer.exclusive(async |conn| Ok(migrator.run(conn).await?)).await?
            }
            Pools::Postgres(pool) => migrator.run(pool).await?,
        }
        Ok(())
    }

    /// On SQLite, returns free pages to the file system (`PRAGMA incremental_vacuum`; databases
    /// created by this version use `auto_vacuum = INCREMENTAL`). PostgreSQL's autovacuum does this.
    pub async fn reclaim_space(&self) -> Result<(), StoreError> {
        if let Pools::Sqlite { writer, .. } = &self.inner.pools {
            writer
                .exclusive(async |conn| {
                    sqlx::query("PRAGMA incremental_vacuum").execute(&mut *conn).await?;
                    Ok(())
                })
                .await?;
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

    /// Signalled (in this process) whenever a committed transaction appended activity events:
    /// the console's live feed reads them at once instead of at its next poll.
    pub fn activity_wakeup(&self) -> &Notify {
        &self.inner.activity_wakeup
    }

    /// Forwards PostgreSQL `NOTIFY`s on `channel` to the wake-up `wake` picks, reconnecting after
    /// a lost connection (and waking once after each connect, for what was committed meanwhile);
    /// returns at once on SQLite, where processes sharing a file find each other's work by
    /// polling. Runs until its task is aborted. `what` names the feed in the log.
    pub async fn forward_notifications(
        &self,
        channel: &'static str,
        what: &'static str,
        wake: fn(&Db) -> &Notify,
    ) {
        let Some(pool) = self.pg_pool().cloned() else { return };
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %e, feed = what, "LISTEN connection failed; relying on polling");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen(channel).await {
                tracing::warn!(error = %e, feed = what, "LISTEN failed; relying on polling");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
            wake(self).notify_one();
            loop {
                match listener.recv().await {
                    Ok(_) => wake(self).notify_one(),
                    Err(e) => {
                        tracing::warn!(error = %e, feed = what, "LISTEN connection lost; reconnecting");
                        wake(self).notify_one();
                        break;
                    }
                }
            }
        }
    }

    /// Closes every pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match &self.inner.pools {
            Pools::Sqlite { writer, reader, .. } => {
                reader.close().await;
                // Commits whatever batch is open; the connection closes when the last handle goes.
                let _ = writer.exclusive(async |_| Ok(())).await;
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

/// A scratch SQLite file standing in for an in-memory database, removed (with its WAL) on drop.
struct ScratchFile(PathBuf);

impl ScratchFile {
    fn new() -> Self {
        ScratchFile(std::env::temp_dir().join(format!("calseta-memory-{}.db", uuid::Uuid::new_v4())))
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = self.0.as_os_str().to_owned();
            name.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(name));
        }
    }
}

enum TxInner {
    Sqlite(Lease),
    Postgres(Transaction<'static, Postgres>),
}

pub(crate) enum TxConn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// A write transaction; dropped without [`Tx::commit`] it rolls back.
pub struct Tx {
    inner: TxInner,
    /// Writes whose outcome nobody reads before the transaction's next statement (a job
    /// enqueued, an event appended), held to be sent together just before that statement or the
    /// commit: on SQLite one round trip for all of them. The order of statements is unchanged.
    deferred: Vec<Query>,
    /// Set while deferred writes are on their way and cleared when they landed: a transaction
    /// whose deferred writes failed or were cut off (the caller stopped waiting) refuses to
    /// commit, even if the caller went on after the error.
    deferred_unsent: bool,
    jobs_enqueued: bool,
    activity_appended: bool,
    db: Db,
}

impl Tx {
    /// The connection for one statement of the transaction (counted as sent).
    pub(crate) fn conn(&mut self) -> TxConn<'_> {
        self.db.inner.counters.statement();
        match &mut self.inner {
            TxInner::Sqlite(lease) => TxConn::Sqlite(lease.conn()),
            TxInner::Postgres(tx) => TxConn::Postgres(tx),
        }
    }

    /// Holds `query`, a write whose outcome nobody reads, until the transaction's next statement
    /// or its commit (see [`Tx::flush_deferred`]); its error, if any, fails that statement.
    pub(crate) fn defer(&mut self, query: Query) {
        // On PostgreSQL deferred statements go one by one (a `pg_notify` among them).
        debug_assert!(
            self.engine() == Engine::Postgres || crate::query::can_go_together(&query),
            "not a write that can be sent together: {}",
            query.sql
        );
        self.deferred.push(query);
    }

    /// Sends the deferred writes, in order: on SQLite as one command (one hop to the writer's
    /// connection thread), on PostgreSQL one statement at a time. Called before every statement
    /// of the transaction (by `on_tx!`) and before its commit.
    pub(crate) async fn flush_deferred(&mut self) -> Result<(), sqlx::Error> {
        if self.deferred.is_empty() {
            return Ok(());
        }
        let deferred = std::mem::take(&mut self.deferred);
        self.deferred_unsent = true;
        let counters = &self.db.inner.counters;
        match &mut self.inner {
            TxInner::Sqlite(lease) => {
                counters.statements_together(deferred.len());
                let query = crate::query::together(deferred);
                bind_args!(sqlx::query(&query.sql), &query.args).execute(lease.conn()).await?;
            }
            TxInner::Postgres(tx) => {
                for query in &deferred {
                    counters.statement();
                    bind_args!(sqlx::query(&query.sql), &query.args).execute(&mut **tx).await?;
                }
            }
        }
        self.deferred_unsent = false;
        Ok(())
    }

    /// The first row `query` answers, if any, read after the deferred writes — on SQLite in the
    /// same command, so the writes cost no round trip of their own.
    pub(crate) async fn fetch_optional<T: crate::query::Row>(
        &mut self,
        query: &Query,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.fetch_rows(query, true).await?.into_iter().next())
    }

    /// Every row `query` answers, read after the deferred writes — on SQLite in the same command,
    /// so the writes cost no round trip of their own.
    pub(crate) async fn fetch_all<T: crate::query::Row>(
        &mut self,
        query: &Query,
    ) -> Result<Vec<T>, StoreError> {
        self.fetch_rows(query, false).await
    }

    /// The rows `query` answers (only the first if `first_only`), read after the deferred writes.
    async fn fetch_rows<T: crate::query::Row>(
        &mut self,
        query: &Query,
        first_only: bool,
    ) -> Result<Vec<T>, StoreError> {
        let counters = &self.db.inner.counters;
        match &mut self.inner {
            TxInner::Sqlite(lease) if !self.deferred.is_empty() => {
                let mut statements = std::mem::take(&mut self.deferred);
                self.deferred_unsent = true;
                statements.push(query.clone());
                counters.statements_together(statements.len());
                let command = crate::query::together(statements);
                // The deferred writes return no rows: the rows are the query's.
                let select = bind_args!(sqlx::query_as::<_, T>(&command.sql), &command.args);
                let rows = if first_only {
                    select.fetch_optional(lease.conn()).await?.into_iter().collect()
                } else {
                    select.fetch_all(lease.conn()).await?
                };
                self.deferred_unsent = false;
                Ok(rows)
            }
            _ => {
                let rows = on_tx!(self, c => {
                    let select = bind_args!(sqlx::query_as::<_, T>(&query.sql), &query.args);
                    if first_only {
                        select.fetch_optional(c).await.map(|row| row.into_iter().collect())
                    } else {
                        select.fetch_all(c).await
                    }
                })?;
                Ok(rows)
            }
        }
    }

    pub(crate) fn engine(&self) -> Engine {
        match self.inner {
            TxInner::Sqlite(_) => Engine::Sqlite,
            TxInner::Postgres(_) => Engine::Postgres,
        }
    }

    pub(crate) fn note_job_enqueued(&mut self) {
        self.jobs_enqueued = true;
    }

    pub(crate) fn note_activity_appended(&mut self) {
        self.activity_appended = true;
    }

    /// Sends the deferred writes now rather than with the commit (the same round trip on SQLite:
    /// the commit sends them first too), so that their failure is told apart from the commit's —
    /// after which the transaction's work may have been stored.
    pub async fn flush(&mut self) -> Result<(), StoreError> {
        Ok(self.flush_deferred().await?)
    }

    /// Commits, then wakes this process's worker if jobs were enqueued and its live feed if
    /// activity was appended (other processes are woken by `NOTIFY` on PostgreSQL, or by their
    /// poll on SQLite).
    pub async fn commit(mut self) -> Result<(), StoreError> {
        // A deferred write that fails fails the commit; the transaction is then rolled back
        // when dropped, like any transaction whose statement failed.
        self.flush_deferred().await?;
        if self.deferred_unsent {
            return Err(StoreError::CommitFailed(
                "a deferred write of this transaction did not complete".into(),
            ));
        }
        let committed = match self.inner {
            TxInner::Sqlite(tx) => tx.commit().await,
            TxInner::Postgres(tx) => {
                let counters = &self.db.inner.counters;
                counters.statement();
                let committed = tx.commit().await.map_err(StoreError::from);
                if committed.is_ok() {
                    counters.commit();
                }
                committed
            }
        };
        self.db.note_write(committed)?;
        if self.jobs_enqueued {
            self.db.job_wakeup().notify_one();
        }
        if self.activity_appended {
            self.db.activity_wakeup().notify_one();
        }
        Ok(())
    }

    /// Rolls back explicitly.
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(tx) => tx.rollback().await?,
            TxInner::Postgres(tx) => {
                self.db.inner.counters.statement();
                tx.rollback().await?
            }
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
