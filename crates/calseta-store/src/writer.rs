//! The SQLite group-commit writer: every write transaction of the process — ingest, worker, API —
//! runs on one connection, and transactions that arrive while others are writing share one commit.
//!
//! SQLite allows one writer and, with `synchronous=FULL`, each commit waits for the disk. A
//! transaction here is a *unit* of the writer's open batch transaction: the unit that opens the
//! batch runs directly in it, every later one under a savepoint of its own. A unit that commits
//! leaves its savepoint for the next unit to release in the same round trip that opens its own
//! (`RELEASE …; SAVEPOINT …`), or for the batch's `COMMIT`: one round trip to the connection's
//! thread less per unit, and a `RELEASE` that fails — the transaction was rolled back under the
//! batch, as SQLite does on some I/O errors — still fails the batch for every unit in it. If no
//! other unit is waiting for the writer (or the batch is already large or old) the unit commits the
//! batch, else it hands the writer to the next unit and waits for the batch's commit. Every
//! caller's `commit()` returns only after its rows are durable, and a failed or abandoned unit is
//! undone alone (`ROLLBACK TO SAVEPOINT`, or `ROLLBACK` of a batch holding only it) while the rest
//! of its batch stands.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::{Connection, SqliteConnection};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use crate::StoreError;
use crate::counters::Counters;

/// A batch is committed once it holds this many units even if more are waiting…
const MAX_BATCH_UNITS: usize = 256;
/// …or once it has been open this long (unless set otherwise: `SQLITE_GROUP_COMMIT_MS`), so a
/// steady queue cannot hold back a commit.
pub(crate) const DEFAULT_MAX_BATCH_AGE: Duration = Duration::from_millis(4);
/// How long a committed unit waits, beyond the batch's own age limit, for the unit it handed the
/// writer to before committing the batch itself: that unit's caller may have given up (a
/// cancelled request), and nobody else would commit the batch until an unrelated write came along.
const FLUSH_DEADLINE: Duration = Duration::from_millis(50);
/// How long `begin` waits for the writer before reporting it busy (a unit held this long is a bug
/// or a stuck disk; failing beats hanging the caller forever).
const LEASE_TIMEOUT: Duration = Duration::from_secs(30);

/// How one batch ended: `None` while open, then `Ok` or the commit error's text.
type BatchOutcome = Option<Result<(), Arc<str>>>;

/// The writer shared by every [`crate::Db`] clone on a SQLite database.
pub(crate) struct GroupWriter {
    state: Arc<Mutex<WriterState>>,
    /// Units waiting for the writer: while there are any, a finished unit hands over instead of
    /// committing, so their work joins the same commit.
    queued: AtomicUsize,
    /// How long a batch may stay open while units are waiting to join it.
    max_batch_age: Duration,
}

struct WriterState {
    conn: SqliteConnection,
    /// The database handle's counters: the writer counts its transaction control and commits.
    counters: Arc<Counters>,
    /// Whether the batch transaction (`BEGIN IMMEDIATE`) is open.
    in_batch: bool,
    /// Whether a committed or undone unit's savepoint is still open, for the next unit to
    /// release (or the batch's `COMMIT`).
    savepoint_left: bool,
    /// The open unit (set by `begin`, cleared by commit or rollback). Found set by the next
    /// holder, it means the unit was abandoned and must be undone.
    unit: Unit,
    /// Units released into the open batch.
    units: usize,
    batch_started: Instant,
    /// Which batch is open (counts batches), so a late flush commits only the batch it waited for.
    batch: u64,
    outcome: watch::Sender<BatchOutcome>,
}

/// The writer, held: counts how long it was held when released.
struct Held {
    guard: OwnedMutexGuard<WriterState>,
    since: Instant,
}

impl std::ops::Deref for Held {
    type Target = WriterState;

    fn deref(&self) -> &WriterState {
        &self.guard
    }
}

impl std::ops::DerefMut for Held {
    fn deref_mut(&mut self) -> &mut WriterState {
        &mut self.guard
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.guard.counters.writer_held(self.since.elapsed());
    }
}

/// Counts a caller as queued for the writer until it gets it (or gives up).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Queued(counter)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl GroupWriter {
    /// Wraps the writer connection; a batch stays open at most `max_batch_age` while units are
    /// waiting to join it.
    pub(crate) fn new(conn: SqliteConnection, counters: Arc<Counters>, max_batch_age: Duration) -> Arc<Self> {
        let state = WriterState {
            conn,
            counters,
            in_batch: false,
            savepoint_left: false,
            unit: Unit::None,
            units: 0,
            batch_started: Instant::now(),
            batch: 0,
            outcome: watch::channel(None).0,
        };
        Arc::new(GroupWriter {
            state: Arc::new(Mutex::new(state)),
            queued: AtomicUsize::new(0),
            max_batch_age,
        })
    }

    async fn lock(&self) -> Result<Held, StoreError> {
        let asked = Instant::now();
        let _queued = Queued::new(&self.queued);
        let guard = tokio::time::timeout(LEASE_TIMEOUT, self.state.clone().lock_owned())
            .await
            .map_err(|_| StoreError::WriterBusy)?;
        let since = Instant::now();
        guard.counters.writer_waited(since - asked);
        let state = Held { guard, since };
        if state.unit == Unit::None {
            return Ok(state);
        }
        // A unit whose holder went away without committing or rolling back (a cancelled request
        // whose clean-up task could not run) is undone before anyone else writes.
        to_the_end(async move {
            let mut state = state;
            state.undo_unit().await;
            Ok(state)
        })
        .await
    }

    /// Starts a unit: waits for the writer, opens the batch if needed, opens the unit's savepoint.
    pub(crate) async fn begin(self: &Arc<Self>) -> Result<Lease, StoreError> {
        let state = self.lock().await?;
        let writer = self.clone();
        // The opening runs to the end even if the caller stops waiting: a `BEGIN` or `SAVEPOINT`
        // sent but not recorded in the writer's state would leave the connection in a transaction
        // the writer does not know of, and every later batch would fail ("cannot start a
        // transaction within a transaction"). The lease is made in the task too, so a caller gone
        // meanwhile drops it there and its janitor undoes the unit at once (an open batch holds
        // SQLite's write lock, which other processes on the file wait for).
        to_the_end(async move {
            let mut state = state;
            match state.open_unit().await {
                Ok(()) => Ok(Lease { state, janitor: Janitor { writer, armed: true } }),
                Err(e) => {
                    // Earlier units of the batch may be waiting for a commit only a finisher will do.
                    writer.finish(&mut state).await;
                    Err(e)
                }
            }
        })
        .await
    }

    /// Runs `work` with the bare writer connection outside any batch (migrations).
    pub(crate) async fn exclusive<T>(
        &self,
        work: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut state = self.lock().await?;
        if state.in_batch {
            // To the end, like every commit: see `begin`.
            state = to_the_end(async move {
                let mut state = state;
                state.commit_batch().await;
                Ok(state)
            })
            .await?;
        }
        work(&mut state.conn).await
    }

    /// Ends a holder's turn: commits the batch when nobody else is waiting to join it (or it is
    /// full or old); otherwise the next holder will.
    async fn finish(&self, state: &mut WriterState) {
        let full = state.units >= MAX_BATCH_UNITS || state.batch_started.elapsed() >= self.max_batch_age;
        if state.in_batch && (self.queued.load(Ordering::SeqCst) == 0 || full) {
            state.commit_batch().await;
        }
    }

    /// Commits `batch` if it is still open once the writer is free: the unit it was handed to
    /// never came.
    async fn flush(&self, batch: u64) {
        if let Ok(mut state) = self.lock().await
            && state.in_batch
            && state.batch == batch
        {
            tracing::debug!(units = state.units, "flushing a batch whose next unit never came");
            state.commit_batch().await;
        }
    }

    /// Takes the writer for an abandoned unit, undoes it and finishes the turn.
    async fn clean_up_abandoned(self: Arc<Self>) {
        if let Ok(mut state) = self.lock().await {
            self.finish(&mut state).await;
        }
    }
}

impl WriterState {
    /// Opens a unit: the batch's `BEGIN IMMEDIATE`, or the unit's savepoint in the open batch
    /// (releasing the previous unit's in the same round trip).
    async fn open_unit(&mut self) -> Result<(), StoreError> {
        if self.in_batch {
            if self.savepoint_left {
                // Two statements in one call: one hop to the writer's thread.
                self.counters.statements_together(2);
                // SQLite's driver runs every statement of one query text in one call.
                sqlx::query("RELEASE SAVEPOINT calseta_unit; SAVEPOINT calseta_unit")
                    .execute(&mut self.conn)
                    .await?;
            } else {
                self.control("SAVEPOINT calseta_unit").await?;
            }
            self.savepoint_left = false;
            self.unit = Unit::Savepoint;
        } else {
            self.control("BEGIN IMMEDIATE").await?;
            self.in_batch = true;
            self.units = 0;
            self.batch_started = Instant::now();
            self.batch += 1;
            self.unit = Unit::Opener;
        }
        Ok(())
    }

    /// Runs one transaction-control statement, counted like every other.
    async fn control(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        self.counters.statement();
        sqlx::query(sql).execute(&mut self.conn).await.map(|_| ())
    }

    /// Commits the open batch and tells every unit in it how that went.
    async fn commit_batch(&mut self) {
        let started = Instant::now();
        let committed = self.control("COMMIT").await;
        self.counters.commit_took(started.elapsed());
        let result = match committed {
            Ok(()) => {
                self.counters.commit();
                Ok(())
            }
            Err(e) => {
                tracing::error!(units = self.units, error = %e, "a group commit failed; its units are rolled back");
                let _ = self.control("ROLLBACK").await;
                Err(Arc::from(e.to_string()))
            }
        };
        self.in_batch = false;
        self.savepoint_left = false;
        self.units = 0;
        self.outcome.send_replace(Some(result));
        self.outcome = watch::channel(None).0;
    }

    /// Undoes the open unit; if even that fails the whole batch is rolled back (its units learn it
    /// from their outcome).
    async fn undo_unit(&mut self) {
        let unit = std::mem::replace(&mut self.unit, Unit::None);
        let undone = match unit {
            Unit::None => return,
            // Back to this unit's savepoint; it stays open, empty, for the next unit to release.
            Unit::Savepoint => self.control("ROLLBACK TO SAVEPOINT calseta_unit").await.map(|()| {
                self.savepoint_left = true;
            }),
            // The batch holds nothing else yet.
            Unit::Opener => self.control("ROLLBACK").await.map(|()| {
                self.in_batch = false;
                self.savepoint_left = false;
            }),
        };
        if let Err(e) = undone {
            tracing::error!(error = %e, "undoing a unit failed; rolling back its batch");
            let _ = self.control("ROLLBACK").await;
            self.in_batch = false;
            self.savepoint_left = false;
            self.units = 0;
            self.outcome.send_replace(Some(Err(Arc::from(format!("batch rolled back: {e}")))));
            self.outcome = watch::channel(None).0;
        }
    }

    /// Keeps the open unit's work in the batch (its savepoint, if it has one, is released by the
    /// next unit or the batch's commit).
    fn keep_unit(&mut self) {
        self.savepoint_left = self.unit == Unit::Savepoint;
        self.unit = Unit::None;
        self.units += 1;
    }
}

/// How the open unit can be undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    None,
    /// The unit opened the batch: undone by rolling the batch back (it holds nothing else), and
    /// committing it alone costs no savepoint.
    Opener,
    /// A later unit: undone by `ROLLBACK TO SAVEPOINT`.
    Savepoint,
}

/// One unit's hold on the writer; dropped without commit or rollback, its work is undone.
pub(crate) struct Lease {
    state: Held,
    janitor: Janitor,
}

/// Armed while a unit is open: if the unit is dropped unfinished, a task takes the writer, undoes
/// the unit (see `GroupWriter::lock`) and commits the batch's other units if nobody else will.
struct Janitor {
    writer: Arc<GroupWriter>,
    armed: bool,
}

impl Drop for Janitor {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Without a runtime (process exit) the next holder still undoes the unit on `lock`.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(self.writer.clone().clean_up_abandoned());
        }
    }
}

impl Lease {
    /// The writer connection, for the unit's statements.
    pub(crate) fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.state.conn
    }

    /// Keeps the unit's work and returns once the batch holding it is committed.
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        let Lease { mut state, mut janitor } = self;
        janitor.armed = false;
        let writer = janitor.writer.clone();
        // Run to the end even if the caller stops waiting: the writer must not be left mid-commit.
        let finished = tokio::spawn(async move {
            state.keep_unit();
            let mut outcome = state.outcome.subscribe();
            let batch = state.batch;
            writer.finish(&mut state).await;
            drop(state);
            loop {
                let deadline = FLUSH_DEADLINE + writer.max_batch_age;
                let waited = tokio::time::timeout(deadline, outcome.wait_for(Option::is_some))
                    .await
                    .map(|seen| seen.map(|result| result.clone()));
                match waited {
                    Ok(Ok(result)) => {
                        return match result.as_ref() {
                            Some(Ok(())) => Ok(()),
                            Some(Err(e)) => Err(StoreError::CommitFailed(e.to_string())),
                            None => Err(StoreError::CommitFailed("the batch was abandoned".into())),
                        };
                    }
                    Ok(Err(_)) => return Err(StoreError::CommitFailed("the batch was abandoned".into())),
                    Err(_) => writer.flush(batch).await,
                }
            }
        });
        finished.await.map_err(|e| StoreError::CommitFailed(format!("commit task failed: {e}")))?
    }

    /// Undoes the unit's work; the rest of its batch stands.
    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        let Lease { mut state, mut janitor } = self;
        janitor.armed = false;
        let writer = janitor.writer.clone();
        let finished = tokio::spawn(async move {
            state.undo_unit().await;
            writer.finish(&mut state).await;
        });
        finished.await.map_err(|e| StoreError::CommitFailed(format!("rollback task failed: {e}")))
    }
}

/// Runs `work` on its own task and waits for it: the writer's statements and the state recording
/// them complete together even if the caller stops waiting.
async fn to_the_end<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::spawn(work).await.map_err(|e| StoreError::CommitFailed(format!("writer task failed: {e}")))?
}

/// Opens the writer connection with the pool's options.
pub(crate) async fn connect(
    options: &sqlx::sqlite::SqliteConnectOptions,
) -> Result<SqliteConnection, StoreError> {
    Ok(SqliteConnection::connect_with(options).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer over a fresh database file `name` with one table `t (v)`; the test's directory and
    /// options to read the file back.
    async fn scratch_writer(
        name: &str,
    ) -> (Arc<GroupWriter>, Arc<Counters>, sqlx::sqlite::SqliteConnectOptions, std::path::PathBuf) {
        scratch_writer_aged(name, DEFAULT_MAX_BATCH_AGE).await
    }

    /// [`scratch_writer`] whose batches stay open at most `max_batch_age` while units wait.
    async fn scratch_writer_aged(
        name: &str,
        max_batch_age: Duration,
    ) -> (Arc<GroupWriter>, Arc<Counters>, sqlx::sqlite::SqliteConnectOptions, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("calseta-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let options =
            sqlx::sqlite::SqliteConnectOptions::new().filename(dir.join("w.db")).create_if_missing(true);
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::query("CREATE TABLE t (v INTEGER)").execute(&mut conn).await.unwrap();
        let counters = Arc::new(Counters::default());
        (GroupWriter::new(conn, counters.clone(), max_batch_age), counters, options, dir)
    }

    /// The rows of `t`, read on a connection of its own.
    async fn rows(options: &sqlx::sqlite::SqliteConnectOptions) -> i64 {
        let mut reader = SqliteConnection::connect_with(options).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&mut reader).await.unwrap()
    }

    #[tokio::test]
    async fn callers_that_stop_waiting_while_their_unit_opens_leave_the_writer_usable() {
        let (writer, _, options, dir) = scratch_writer("writer-open").await;
        for _ in 0..5 {
            // Polled once — the opening statement is on its way to the connection's thread — and
            // dropped, as a cancelled request's future is.
            tokio::select! {
                biased;
                _ = writer.begin() => panic!("the unit opened without waiting for the connection"),
                _ = std::future::ready(()) => {}
            }
        }
        let mut lease = tokio::time::timeout(Duration::from_secs(10), writer.begin()).await.unwrap().unwrap();
        sqlx::query("INSERT INTO t VALUES (1)").execute(lease.conn()).await.unwrap();
        lease.commit().await.unwrap();
        assert_eq!(rows(&options).await, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_never_holds_back_a_committed_unit() {
        let (writer, counters, options, dir) = scratch_writer("writer").await;
        let mut lease = writer.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)").execute(lease.conn()).await.unwrap();
        // A caller queues for the writer, so the committing unit hands the batch over to it…
        let waiter = Queued::new(&writer.queued);
        let commit = tokio::spawn(lease.commit());
        while writer.state.try_lock().is_err() {
            tokio::task::yield_now().await;
        }
        // …and then gives up (its request was cancelled) before taking the writer.
        drop(waiter);
        let committed = tokio::time::timeout(Duration::from_secs(10), commit).await;
        assert!(matches!(committed, Ok(Ok(Ok(())))), "the committed unit was held back: {committed:?}");
        assert_eq!(rows(&options).await, 1, "and its row is committed");
        let work = counters.read();
        assert_eq!((work.statements, work.commits), (2, 1), "BEGIN IMMEDIATE and COMMIT, one commit");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Two units on `writer`, the second waiting for it while the first commits; how long, at
    /// least, the first had held the writer and the second had waited for it when the first let go.
    async fn two_units_the_second_waiting(
        writer: &Arc<GroupWriter>,
        options: &sqlx::sqlite::SqliteConnectOptions,
    ) -> (Duration, Duration) {
        let mut first = writer.begin().await.unwrap();
        let holding = Instant::now();
        sqlx::query("INSERT INTO t VALUES (1)").execute(first.conn()).await.unwrap();
        let second = tokio::spawn({
            let writer = writer.clone();
            async move {
                let mut lease = writer.begin().await.unwrap();
                sqlx::query("INSERT INTO t VALUES (2)").execute(lease.conn()).await.unwrap();
                lease.commit().await.unwrap();
            }
        });
        while writer.queued.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // From here until the first unit lets go, the second is waiting.
        let waiting = Instant::now();
        let at_least = (holding.elapsed(), waiting.elapsed());
        first.commit().await.unwrap();
        second.await.unwrap();
        assert_eq!(rows(options).await, 2);
        at_least
    }

    /// How many commits [`two_units_the_second_waiting`] takes with batches aged at most
    /// `max_batch_age`.
    async fn commits_of_two_units(name: &str, max_batch_age: Duration) -> u64 {
        let (writer, counters, options, dir) = scratch_writer_aged(name, max_batch_age).await;
        two_units_the_second_waiting(&writer, &options).await;
        std::fs::remove_dir_all(&dir).unwrap();
        counters.read().commits
    }

    #[tokio::test]
    async fn a_batch_waits_for_queued_units_only_while_it_is_younger_than_its_limit() {
        // Young enough: the first unit hands the open batch to the waiting one, one commit for both.
        assert_eq!(commits_of_two_units("writer-age-long", Duration::from_secs(3600)).await, 1);
        // Already too old: the first unit commits alone though another is waiting.
        assert_eq!(commits_of_two_units("writer-age-none", Duration::ZERO).await, 2);
    }

    #[tokio::test]
    async fn the_writer_counts_how_long_it_was_held_waited_for_and_committing() {
        let (writer, counters, options, dir) = scratch_writer("writer-timed").await;
        let (held_at_least, waited_at_least) = two_units_the_second_waiting(&writer, &options).await;
        let work = counters.read();
        assert!(work.writer_held >= held_at_least, "{work:?} held at least {held_at_least:?}");
        assert!(work.writer_waited >= waited_at_least, "{work:?} waited at least {waited_at_least:?}");
        // The batch's commit is a statement sent while the writer is held.
        assert!(!work.committing.is_zero() && work.committing <= work.writer_held, "{work:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
