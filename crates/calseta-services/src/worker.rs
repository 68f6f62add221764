//! The durable job runtime.
//!
//! A worker claims due jobs under a lease, renews the lease while the handler runs, and records
//! the outcome fenced by the attempt's lease token: an attempt that lost its lease (its worker
//! stalled and the job was reclaimed) can no longer write its result. Failures are rescheduled
//! with the kind's back-off — never slept inside the worker — and exhausted jobs become dead
//! letters. Wake-ups come from the in-process notifier (SQLite, and jobs enqueued by this process)
//! and `LISTEN/NOTIFY` (PostgreSQL), with a slow poll as the safety net.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use calseta_store::jobs::{self as repo, JobRow};
use calseta_store::{Db, Tx};
use serde_json::Value;
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;
use uuid::Uuid;

use crate::jobs::JobKind;

/// Deliveries are claimed before new enrichments: under a backlog an enriched alert reaches its
/// agents first instead of waiting behind every alert that arrived after it.
const FIRST_QUEUE: &str = crate::dispatch::DELIVER_WEBHOOK.queue;
/// How often a claim also looks for jobs whose worker died (at most once per lease period).
const LAPSED_CHECK_EVERY: Duration = Duration::from_secs(1);

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
}

impl JobFailure {
    /// A failure worth retrying (network, database, timeouts).
    pub fn retryable(error: impl std::fmt::Display) -> Self {
        Self { message: error.to_string(), retryable: true }
    }

    /// A failure no retry can fix (bad payload).
    pub fn permanent(error: impl std::fmt::Display) -> Self {
        Self { message: error.to_string(), retryable: false }
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

impl JobContext {
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
        let mut tx = self.db.begin().await.map_err(JobFailure::retryable)?;
        if !repo::holds_lease(&mut tx, self.id, self.lease_token).await.map_err(JobFailure::retryable)? {
            return Err(JobFailure::retryable("lease lost: the job was reclaimed by another worker"));
        }
        Ok(tx)
    }

    /// Marks the job succeeded inside the handler's fenced transaction and commits both together.
    pub async fn finish(&self, mut tx: Tx) -> Result<(), JobFailure> {
        if !repo::mark_succeeded(&mut tx, self.id, self.lease_token).await.map_err(JobFailure::retryable)? {
            return Err(JobFailure::retryable("lease lost: the job was reclaimed by another worker"));
        }
        tx.commit().await.map_err(JobFailure::retryable)?;
        self.finished.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// The handlers a worker runs, by kind.
#[derive(Default, Clone)]
pub struct JobRegistry {
    handlers: HashMap<&'static str, (JobKind, Arc<dyn JobHandler>)>,
}

impl JobRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the handler of `kind`.
    pub fn register(&mut self, kind: JobKind, handler: Arc<dyn JobHandler>) {
        self.handlers.insert(kind.name, (kind, handler));
    }

    fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.handlers.keys().map(|k| k.to_string()).collect();
        kinds.sort();
        kinds
    }
}

/// Worker tuning.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at once (`QUEUE_CONCURRENCY`).
    pub concurrency: usize,
    /// Lease length; renewed every third of it.
    pub lease: Duration,
    /// Safety-net poll when no wake-up arrives.
    pub poll_interval: Duration,
    /// How long shutdown waits for in-flight jobs before releasing them.
    pub shutdown_grace: Duration,
    /// How often this worker schedules the prune of finished jobs (`None` = never).
    pub prune_every: Option<Duration>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 10,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(25),
            prune_every: Some(Duration::from_secs(3600)),
        }
    }
}

/// Aborts the task when dropped, so aborting an attempt also stops its handler and renewer.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type InFlight = Arc<Mutex<HashMap<i64, Uuid>>>;

/// A job worker over one database.
pub struct Worker {
    db: Db,
    registry: Arc<JobRegistry>,
    config: WorkerConfig,
}

impl Worker {
    /// A worker running `registry`'s handlers.
    pub fn new(db: Db, registry: JobRegistry, config: WorkerConfig) -> Self {
        Self { db, registry: Arc::new(registry), config }
    }

    /// Runs until `shutdown` turns true, then drains in-flight jobs (bounded by the grace period)
    /// and releases the leases of any still running.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let kinds = self.registry.kinds();
        let concurrency = self.config.concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        let in_flight: InFlight = Arc::new(Mutex::new(HashMap::new()));
        let mut attempts: JoinSet<()> = JoinSet::new();
        let _listener = self
            .db
            .pg_pool()
            .map(|_| AbortOnDrop(tokio::spawn(repo::forward_notifications(self.db.clone()))));
        let _scheduler = self
            .config
            .prune_every
            .map(|every| AbortOnDrop(tokio::spawn(schedule_prunes(self.db.clone(), every))));
        tracing::info!(concurrency, kinds = ?kinds, "worker started");

        // Lapsed leases are rare (a worker died); looking for them once per interval keeps the
        // frequent claims to the due jobs.
        let mut lapsed_checked: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            while attempts.try_join_next().is_some() {}
            let free = slots.available_permits();
            let mut claimed = 0;
            if free > 0 {
                let token = Uuid::new_v4();
                let lease_until = calseta_store::now() + lease_delta(self.config.lease);
                let reclaim_lapsed =
                    lapsed_checked.is_none_or(|at| at.elapsed() >= LAPSED_CHECK_EVERY.min(self.config.lease));
                if reclaim_lapsed {
                    lapsed_checked = Some(std::time::Instant::now());
                }
                let order = repo::ClaimOrder { first_queue: Some(FIRST_QUEUE), reclaim_lapsed };
                match repo::claim(&self.db, &kinds, free as i64, token, lease_until, order).await {
                    Ok(rows) => {
                        claimed = rows.len();
                        for row in rows {
                            let Ok(permit) = slots.clone().acquire_owned().await else { break };
                            if let Ok(mut map) = in_flight.lock() {
                                map.insert(row.id, token);
                            }
                            let attempt = Attempt {
                                db: self.db.clone(),
                                registry: self.registry.clone(),
                                lease: self.config.lease,
                                in_flight: in_flight.clone(),
                                token,
                            };
                            let span = tracing::info_span!("job", job = %row.uuid, kind = %row.kind, attempt = row.attempts);
                            attempts.spawn(
                                async move {
                                    attempt.run(row).await;
                                    drop(permit);
                                }
                                .instrument(span),
                            );
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming jobs failed"),
                }
            }
            if free > 0 && claimed == free {
                continue;
            }
            let idle = self.idle_time(&kinds).await;
            tokio::select! {
                _ = self.db.job_wakeup().notified() => {}
                _ = tokio::time::sleep(idle) => {}
                _ = shutdown.changed() => {}
                Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
            }
        }

        tracing::info!(in_flight = attempts.len(), "worker stopping: draining in-flight jobs");
        let deadline = tokio::time::sleep(self.config.shutdown_grace);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = attempts.join_next() => if next.is_none() { break },
                _ = &mut deadline => {
                    attempts.abort_all();
                    while attempts.join_next().await.is_some() {}
                    let leftover: Vec<(i64, Uuid)> =
                        in_flight.lock().map(|m| m.iter().map(|(k, v)| (*k, *v)).collect()).unwrap_or_default();
                    for (id, token) in leftover {
                        match repo::release(&self.db, id, token).await {
                            Ok(_) => tracing::warn!(job_id = id, "released unfinished job at shutdown"),
                            Err(e) => tracing::warn!(job_id = id, error = %e, "could not release job; its lease will expire"),
                        }
                    }
                    break;
                }
            }
        }
        tracing::info!("worker stopped");
    }
}

impl Worker {
    /// How long to wait for a wake-up: until the next scheduled retry, at most the poll interval.
    async fn idle_time(&self, kinds: &[String]) -> Duration {
        match repo::next_due(&self.db, kinds).await {
            Ok(Some(due)) => {
                let wait = (due - calseta_store::now()).to_std().unwrap_or(Duration::ZERO);
                wait.clamp(Duration::from_millis(5), self.config.poll_interval)
            }
            _ => self.config.poll_interval,
        }
    }
}

/// ±10 % so that retries of many jobs failing together do not return together.
fn with_jitter(delay: Duration) -> Duration {
    use rand::Rng;
    delay.mul_f64(rand::rng().random_range(0.9..1.1))
}

fn lease_delta(lease: Duration) -> chrono::Duration {
    chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30))
}

struct Attempt {
    db: Db,
    registry: Arc<JobRegistry>,
    lease: Duration,
    in_flight: InFlight,
    token: Uuid,
}

impl Attempt {
    async fn run(self, row: JobRow) {
        let id = row.id;
        self.execute(row).await;
        if let Ok(mut map) = self.in_flight.lock() {
            map.remove(&id);
        }
    }

    async fn execute(&self, row: JobRow) {
        let attempt = u32::try_from(row.attempts).unwrap_or(1);
        if row.attempts > row.max_attempts {
            // Reclaimed after its final attempt's worker died: a job that keeps killing workers
            // must not be retried forever.
            let message = "the worker running the final attempt stopped before finishing (lease expired)";
            self.record_failure(&row, message, None).await;
            return;
        }
        let Some((kind, handler)) = self.registry.handlers.get(row.kind.as_str()).cloned() else {
            self.record_failure(&row, "no handler registered for this job kind", None).await;
            return;
        };

        let (lost_tx, lost_rx) = watch::channel(false);
        let ctx = Arc::new(JobContext {
            uuid: row.uuid,
            kind: row.kind.clone(),
            payload: row.payload.0.clone(),
            attempt,
            max_attempts: u32::try_from(row.max_attempts).unwrap_or(1),
            id: row.id,
            lease_token: self.token,
            db: self.db.clone(),
            lease_lost: lost_rx,
            finished: AtomicBool::new(false),
        });
        let _renewer =
            AbortOnDrop(tokio::spawn(renew_lease(self.db.clone(), row.id, self.token, self.lease, lost_tx)));
        let handler_ctx = ctx.clone();
        let mut handle = AbortOnDrop(tokio::spawn(async move { handler.run(&handler_ctx).await }));
        let outcome = match (&mut handle.0).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(JobFailure::retryable("the handler panicked")),
            Err(_) => Err(JobFailure::retryable("the handler was cancelled")),
        };
        match outcome {
            Ok(()) => {
                if ctx.finished.load(Ordering::SeqCst) {
                    return;
                }
                let committed = async {
                    let mut tx = self.db.begin().await?;
                    let held = repo::mark_succeeded(&mut tx, row.id, self.token).await?;
                    tx.commit().await?;
                    Ok::<bool, calseta_store::StoreError>(held)
                }
                .await;
                match committed {
                    Ok(true) => tracing::debug!(job = %row.uuid, kind = %row.kind, "job succeeded"),
                    Ok(false) => {
                        tracing::warn!(job = %row.uuid, "job finished after losing its lease; result discarded")
                    }
                    Err(e) => {
                        tracing::warn!(job = %row.uuid, error = %e, "could not record success; the job will run again")
                    }
                }
            }
            Err(failure) => {
                // The row's own attempt budget wins (deliveries set it per agent).
                let policy = calseta_core::jobs::RetryPolicy {
                    max_attempts: u32::try_from(row.max_attempts).unwrap_or(1),
                    ..kind.retry
                };
                let delay =
                    if failure.retryable { policy.next_delay(attempt).map(with_jitter) } else { None };
                let retry_at = delay.map(|d| calseta_store::now() + lease_delta(d));
                self.record_failure(&row, &failure.message, retry_at).await;
            }
        }
    }

    async fn record_failure(
        &self,
        row: &JobRow,
        message: &str,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
    ) {
        match repo::mark_failed(&self.db, row.id, self.token, message, retry_at).await {
            Ok(true) if retry_at.is_some() => {
                tracing::warn!(job = %row.uuid, kind = %row.kind, attempt = row.attempts, error = message, "job failed; retry scheduled")
            }
            Ok(true) => {
                tracing::error!(job = %row.uuid, kind = %row.kind, attempt = row.attempts, error = message, "job failed permanently; kept as a dead letter")
            }
            Ok(false) => {
                tracing::warn!(job = %row.uuid, "job failed after losing its lease; outcome discarded")
            }
            Err(e) => {
                tracing::warn!(job = %row.uuid, error = %e, "could not record failure; the lease will expire and the job run again")
            }
        }
    }
}

async fn renew_lease(db: Db, id: i64, token: Uuid, lease: Duration, lost: watch::Sender<bool>) {
    let every = (lease / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let until = calseta_store::now() + lease_delta(lease);
        match repo::renew_lease(&db, id, token, until).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = lost.send(true);
                return;
            }
            Err(e) => tracing::warn!(job_id = id, error = %e, "lease renewal failed; retrying"),
        }
    }
}

async fn schedule_prunes(db: Db, every: Duration) {
    loop {
        if let Err(e) = crate::jobs::schedule_prune(&db).await {
            tracing::warn!(error = %e, "could not schedule job pruning");
        }
        tokio::time::sleep(every).await;
    }
}
