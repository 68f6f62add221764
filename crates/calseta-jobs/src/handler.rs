//! What a handler implements, and the context of one attempt: its payload, its database and the
//! fenced transaction through which its writes land only while it still holds the job's lease.

use std::sync::atomic::{AtomicBool, Ordering};

use calseta_store::jobs as repo;
use calseta_store::{Db, Tx};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;
use uuid::Uuid;

/// What a handler does with one job.
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one attempt. Handlers must be idempotent: an attempt may be repeated after a crash.
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure>;

    /// Called once when the job becomes a dead letter, so the rows it acts on are not left
    /// waiting (e.g. an alert marked `Failed` instead of staying `Pending`).
    async fn on_dead(&self, _db: &Db, _payload: &Value, _error: &str) {}
}

/// Why an attempt failed.
#[derive(Debug, Clone)]
pub struct JobFailure {
    /// Recorded as `last_error`.
    pub message: String,
    /// `false` sends the job straight to the dead letters.
    pub retryable: bool,
    /// Not a failure of the job: it could not start now and runs again after this long, its
    /// attempt not counted.
    pub postpone: Option<std::time::Duration>,
}

impl JobFailure {
    /// A failure worth retrying (network, database, timeouts).
    pub fn retryable(error: impl std::fmt::Display) -> Self {
        Self { message: error.to_string(), retryable: true, postpone: None }
    }

    /// A failure no retry can fix (bad payload).
    pub fn permanent(error: impl std::fmt::Display) -> Self {
        Self { message: error.to_string(), retryable: false, postpone: None }
    }

    /// The job cannot start now (its destination is busy): run it again after `after` without
    /// counting this attempt. Handlers say so before doing any work.
    pub fn busy(reason: impl std::fmt::Display, after: std::time::Duration) -> Self {
        Self { message: reason.to_string(), retryable: true, postpone: Some(after) }
    }
}

/// A storage failure inside a handler: retried (a lost connection, a busy writer or a failed
/// commit pass; a corrupt row waits for the operator within the job's attempts), so handlers can
/// use `?` on store calls.
impl From<calseta_store::StoreError> for JobFailure {
    fn from(error: calseta_store::StoreError) -> Self {
        JobFailure::retryable(error)
    }
}

/// A failure to queue a follow-up job (storage, or a payload that would not serialize): retried.
impl From<crate::JobError> for JobFailure {
    fn from(error: crate::JobError) -> Self {
        JobFailure::retryable(error)
    }
}

/// One attempt of one job, as its handler sees it.
pub struct JobContext {
    /// Public id.
    pub uuid: Uuid,
    /// Handler name.
    pub kind: String,
    /// Handler input.
    pub payload: Value,
    /// 1-based attempt number.
    pub attempt: u32,
    /// Attempts this job may take.
    pub max_attempts: u32,
    id: i64,
    lease_token: Uuid,
    db: Db,
    lease_lost: watch::Receiver<bool>,
    finished: AtomicBool,
}

/// Decodes a stored payload as the kind's payload type (a permanent failure when it is not one).
pub fn decode<T: DeserializeOwned>(payload: &Value) -> Result<T, JobFailure> {
    T::deserialize(payload).map_err(|e| JobFailure::permanent(format!("invalid job payload: {e}")))
}

impl JobContext {
    /// The context of an attempt holding the lease `lease_token` on the job row `id`.
    pub(crate) fn new(
        row: &repo::JobRow,
        lease_token: Uuid,
        db: Db,
        lease_lost: watch::Receiver<bool>,
    ) -> Self {
        JobContext {
            uuid: row.uuid,
            kind: row.kind.clone(),
            payload: row.payload.0.clone(),
            attempt: u32::try_from(row.attempts).unwrap_or(1),
            max_attempts: u32::try_from(row.max_attempts).unwrap_or(1),
            id: row.id,
            lease_token,
            db,
            lease_lost,
            finished: AtomicBool::new(false),
        }
    }

    /// The payload decoded as the kind's payload type.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, JobFailure> {
        decode(&self.payload)
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Whether this attempt has lost its lease (its result will be discarded).
    pub fn lease_lost(&self) -> bool {
        *self.lease_lost.borrow()
    }

    /// Starts a transaction for the handler's writes after checking that this attempt still holds
    /// its lease; on PostgreSQL the job row stays locked until the transaction ends.
    pub async fn begin_fenced(&self) -> Result<Tx, JobFailure> {
        let mut tx = self.db.begin().await?;
        if !repo::holds_lease(&mut tx, self.id, self.lease_token).await? {
            return Err(JobFailure::retryable("lease lost: the job was reclaimed by another worker"));
        }
        Ok(tx)
    }

    /// Starts a transaction for the handler's last writes, which must end in
    /// [`JobContext::finish`]. On SQLite the lease is checked there, by the completion's own
    /// update, and a transaction whose completion finds the lease lost is rolled back whole — so it
    /// needs no read of the lease up front, one round trip less than [`JobContext::begin_fenced`]
    /// (one writer: no row locks whose order could matter). On PostgreSQL it is
    /// [`JobContext::begin_fenced`]: every fenced transaction locks its job row first, so none can
    /// hold rows another waits for while waiting for the job row. A transaction that may commit
    /// without finishing takes [`JobContext::begin_fenced`].
    pub async fn begin_for_finish(&self) -> Result<Tx, JobFailure> {
        if self.db.engine() == calseta_store::Engine::Postgres {
            return self.begin_fenced().await;
        }
        Ok(self.db.begin().await?)
    }

    /// Marks the job succeeded inside the handler's fenced transaction and commits both together.
    pub async fn finish(&self, mut tx: Tx) -> Result<(), JobFailure> {
        if !repo::mark_succeeded(&mut tx, self.id, self.lease_token).await? {
            return Err(JobFailure::retryable("lease lost: the job was reclaimed by another worker"));
        }
        tx.commit().await?;
        self.finished.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Whether the handler already recorded success through [`JobContext::finish`].
    pub(crate) fn finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated SQLite database holding one claimed job, and that job's context.
    async fn claimed_job() -> (Db, JobContext, watch::Sender<bool>) {
        let db = Db::connect(&calseta_store::DbOptions::new("sqlite::memory:")).await.unwrap();
        db.migrate().await.unwrap();
        let job = repo::NewJob {
            kind: "probe".into(),
            queue: "probe".into(),
            payload: serde_json::json!({}),
            max_attempts: 1,
            run_at: calseta_store::now() - chrono::Duration::seconds(1),
        };
        let mut tx = db.begin().await.unwrap();
        repo::enqueue(&mut tx, &job).await.unwrap();
        tx.commit().await.unwrap();
        let token = Uuid::new_v4();
        let lease = calseta_store::now() + chrono::Duration::seconds(60);
        let kinds = vec!["probe".to_string()];
        let rows = repo::claim(&db, &kinds, 1, token, lease, Default::default()).await.unwrap();
        let (lost, lease_lost) = watch::channel(false);
        let ctx = JobContext::new(&rows[0], token, db.clone(), lease_lost);
        (db, ctx, lost)
    }

    #[tokio::test]
    async fn a_finishing_transaction_on_sqlite_reads_no_lease_before_its_completion() {
        let (db, ctx, _lost) = claimed_job().await;
        let before = db.work_done();
        let tx = ctx.begin_for_finish().await.unwrap();
        ctx.finish(tx).await.unwrap();
        let work = db.work_done().since(before);
        // `BEGIN IMMEDIATE`, the completion and `COMMIT`: no lease read.
        assert_eq!(work.round_trips, 3, "{work:?}");
        assert!(ctx.finished());

        let (db, ctx, _lost) = claimed_job().await;
        let before = db.work_done();
        let tx = ctx.begin_fenced().await.unwrap();
        ctx.finish(tx).await.unwrap();
        assert_eq!(db.work_done().since(before).round_trips, 4, "the fenced one reads the lease first");
    }
}
