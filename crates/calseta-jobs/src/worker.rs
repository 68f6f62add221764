//! The worker loop.
//!
//! A worker claims due jobs under a lease, renews the lease while the handler runs, and records
//! the outcome fenced by the attempt's lease token: an attempt that lost its lease (its worker
//! stalled and the job was reclaimed) can no longer write its result. Failures are rescheduled
//! with the kind's back-off — never slept inside the worker — and exhausted jobs become dead
//! letters. Wake-ups come from the in-process notifier (SQLite, and jobs enqueued by this process)
//! and `LISTEN/NOTIFY` (PostgreSQL), with a slow poll as the safety net.
//!
//! Which queues are claimed first and how many slots a queue may hold are [`WorkerConfig`]
//! settings chosen by the composition root: the runtime itself knows no queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use calseta_core::redact::strip_url_secrets;
use calseta_store::Db;
use calseta_store::jobs::{self as repo, JobRow};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;
use uuid::Uuid;

use crate::handler::JobContext;
use crate::{JobFailure, JobRegistry};

/// How often a claim also looks for jobs whose worker died (at most once per lease period), and
/// takes any due job whatever queue its row names; a round that found jobs due and took none
/// makes the next round look too.
const LAPSED_CHECK_EVERY: Duration = Duration::from_secs(1);

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
    /// Queues whose due jobs are claimed before older due jobs of other queues, in this order.
    pub queue_priority: Vec<String>,
    /// The most attempts of a queue this worker runs at once; queues not listed share the
    /// remaining `concurrency` slots.
    pub queue_slots: HashMap<String, usize>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 10,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(25),
            queue_priority: Vec::new(),
            queue_slots: HashMap::new(),
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

/// One group of kinds claimed together: a budgeted queue's kinds, or every other kind.
struct ClaimGroup {
    kinds: Vec<String>,
    /// The queues of those kinds: a claim skips its statements for other queues.
    queues: Vec<String>,
    /// The queue's own slots; `None` for the shared group.
    budget: Option<Arc<Semaphore>>,
}

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

    /// The claim groups: one per budgeted queue (in priority order, then by name), then the rest.
    fn claim_groups(&self) -> Vec<ClaimGroup> {
        let kinds = self.registry.kinds();
        let mut budgeted: Vec<(&String, &usize)> = self.config.queue_slots.iter().collect();
        let rank =
            |queue: &str| self.config.queue_priority.iter().position(|q| q == queue).unwrap_or(usize::MAX);
        budgeted.sort_by(|a, b| (rank(a.0), a.0).cmp(&(rank(b.0), b.0)));
        let mut groups: Vec<ClaimGroup> = budgeted
            .into_iter()
            .map(|(queue, slots)| ClaimGroup {
                kinds: kinds.iter().filter(|k| k.queue == queue).map(|k| k.name.to_string()).collect(),
                queues: vec![queue.clone()],
                budget: Some(Arc::new(Semaphore::new((*slots).max(1)))),
            })
            .filter(|g| !g.kinds.is_empty())
            .collect();
        let unbudgeted = || kinds.iter().filter(|k| !self.config.queue_slots.contains_key(k.queue));
        let shared: Vec<String> = unbudgeted().map(|k| k.name.to_string()).collect();
        if !shared.is_empty() {
            let mut queues: Vec<String> = unbudgeted().map(|k| k.queue.to_string()).collect();
            queues.sort();
            queues.dedup();
            groups.push(ClaimGroup { kinds: shared, queues, budget: None });
        }
        groups
    }

    /// Runs until `shutdown` turns true, then drains in-flight jobs (bounded by the grace period)
    /// and releases the leases of any still running.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let all_kinds: Vec<String> = self.registry.kinds().iter().map(|k| k.name.to_string()).collect();
        let groups = self.claim_groups();
        let priority: Vec<&str> = self.config.queue_priority.iter().map(String::as_str).collect();
        let concurrency = self.config.concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        let in_flight: InFlight = Arc::new(Mutex::new(HashMap::new()));
        let mut attempts: JoinSet<()> = JoinSet::new();
        let _listener = self
            .db
            .pg_pool()
            .map(|_| AbortOnDrop(tokio::spawn(repo::forward_notifications(self.db.clone()))));
        let _schedulers: Vec<AbortOnDrop<()>> = self
            .registry
            .periodic()
            .iter()
            .map(|(kind, every)| {
                AbortOnDrop(tokio::spawn(schedule_periodic(self.db.clone(), kind.name, *kind, *every)))
            })
            .collect();
        // Plain text fields: `kinds` comma-separated, `queue_slots` as `queue=slots` pairs.
        let mut queue_slots: Vec<String> =
            self.config.queue_slots.iter().map(|(queue, n)| format!("{queue}={n}")).collect();
        queue_slots.sort();
        tracing::info!(
            concurrency,
            kinds = all_kinds.join(","),
            queue_slots = (!queue_slots.is_empty()).then(|| queue_slots.join(",")),
            "worker started"
        );

        // Lapsed leases are rare (a worker died); looking for them once per interval keeps the
        // frequent claims to the due jobs.
        let mut lapsed_checked: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            while attempts.try_join_next().is_some() {}
            let reclaim_lapsed =
                lapsed_checked.is_none_or(|at| at.elapsed() >= LAPSED_CHECK_EVERY.min(self.config.lease));
            if reclaim_lapsed {
                lapsed_checked = Some(std::time::Instant::now());
            }
            let order = repo::ClaimOrder { priority: &priority, reclaim_lapsed };
            // The groups with a free slot, and how many jobs each may take now.
            let open: Vec<(&ClaimGroup, usize)> = groups
                .iter()
                .map(|group| {
                    let free = slots
                        .available_permits()
                        .min(group.budget.as_ref().map_or(usize::MAX, |b| b.available_permits()));
                    (group, free)
                })
                .filter(|(_, free)| *free > 0)
                .collect();
            let open_kinds: Vec<String> = open.iter().flat_map(|(g, _)| g.kinds.iter().cloned()).collect();
            // Claim only when something can be taken: a read on the reader pool, instead of a
            // write transaction that takes nothing (on SQLite it would hold the only writer while
            // ingest waits). A failed read claims anyway, so the claim reports the error.
            let next_due = repo::next_due(&self.db, &open_kinds).await;
            let now = calseta_store::now();
            let due_now = match &next_due {
                Ok(next) => {
                    next.queued.is_some_and(|at| at <= now)
                        || (reclaim_lapsed && next.lapsed.is_some_and(|at| at <= now))
                }
                Err(_) => true,
            };
            let lapsed_interval = LAPSED_CHECK_EVERY.min(self.config.lease);
            let next_lapsed_look = now
                + lease_delta(
                    lapsed_interval.saturating_sub(lapsed_checked.map_or(Duration::ZERO, |at| at.elapsed())),
                );
            // Whether some group filled every slot it could take (then claim again at once).
            let mut saturated = false;
            let mut claimed_any = false;
            if !open.is_empty() && due_now {
                let token = Uuid::new_v4();
                let lease_until = calseta_store::now() + lease_delta(self.config.lease);
                let requests: Vec<repo::ClaimGroup> = open
                    .iter()
                    .map(|(group, free)| repo::ClaimGroup {
                        kinds: &group.kinds,
                        queues: &group.queues,
                        limit: *free as i64,
                    })
                    .collect();
                let total = slots.available_permits() as i64;
                let claimed =
                    match repo::claim_groups(&self.db, &requests, total, token, lease_until, order).await {
                        Ok(claimed) => claimed,
                        Err(e) => {
                            tracing::warn!(error = %e, "claiming jobs failed");
                            Vec::new()
                        }
                    };
                for ((group, free), rows) in open.iter().zip(claimed) {
                    saturated |= rows.len() == *free;
                    claimed_any |= !rows.is_empty();
                    for row in rows {
                        let Ok(permit) = slots.clone().acquire_owned().await else { break };
                        let queue_permit = match &group.budget {
                            Some(budget) => match budget.clone().acquire_owned().await {
                                Ok(p) => Some(p),
                                Err(_) => break,
                            },
                            None => None,
                        };
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
                                drop::<(OwnedSemaphorePermit, Option<OwnedSemaphorePermit>)>((
                                    permit,
                                    queue_permit,
                                ));
                            }
                            .instrument(span),
                        );
                    }
                }
            }
            if saturated {
                continue;
            }
            if due_now && !claimed_any && !reclaim_lapsed {
                // Due, yet nothing taken: the next round also runs the claim's fuller statements
                // (lapsed leases, and any due job whatever queue its row names).
                lapsed_checked = None;
            }
            // Only jobs that could be claimed now shorten the wait: a group at its limit is woken
            // by one of its attempts finishing, not by polling for its backlog. When nothing was
            // claimed, the read above still tells when the next job falls due.
            let idle = if claimed_any {
                let open: Vec<String> = groups
                    .iter()
                    .filter(|g| {
                        slots.available_permits() > 0
                            && g.budget.as_ref().is_none_or(|b| b.available_permits() > 0)
                    })
                    .flat_map(|g| g.kinds.iter().cloned())
                    .collect();
                self.idle_time(&open, next_lapsed_look).await
            } else {
                self.wait_for(next_due.ok().and_then(|next| next_claim_at(next, next_lapsed_look)))
            };
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

    /// How long to wait for a wake-up: until the next scheduled retry, at most the poll interval.
    async fn idle_time(&self, kinds: &[String], next_lapsed_look: chrono::DateTime<chrono::Utc>) -> Duration {
        self.wait_for(
            repo::next_due(&self.db, kinds).await.ok().and_then(|next| next_claim_at(next, next_lapsed_look)),
        )
    }

    /// How long to wait for a wake-up when the next job falls due at `due` (if any is known).
    fn wait_for(&self, due: Option<chrono::DateTime<chrono::Utc>>) -> Duration {
        match due {
            Some(due) => {
                let wait = (due - calseta_store::now()).to_std().unwrap_or(Duration::ZERO);
                wait.clamp(Duration::from_millis(5), self.config.poll_interval)
            }
            None => self.config.poll_interval,
        }
    }
}

/// When to claim next: when a queued job falls due, or when a lease lapses — but not before the
/// next look for lapsed leases (`next_lapsed_look`), since only that claim takes them (waking
/// earlier would claim nothing, every few milliseconds, until then).
fn next_claim_at(
    next: repo::NextDue,
    next_lapsed_look: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let lapsed = next.lapsed.map(|at| at.max(next_lapsed_look));
    match (next.queued, lapsed) {
        (Some(queued), Some(lapsed)) => Some(queued.min(lapsed)),
        (queued, lapsed) => queued.or(lapsed),
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
            if self.record_failure(&row, message, None).await
                && let Some((_, handler)) = self.registry.get(row.kind.as_str())
            {
                handler.on_dead(&self.db, &row.payload.0, message).await;
            }
            return;
        }
        let Some((kind, handler)) = self.registry.get(row.kind.as_str()) else {
            self.record_failure(&row, "no handler registered for this job kind", None).await;
            return;
        };

        let (lost_tx, lost_rx) = watch::channel(false);
        let ctx = Arc::new(JobContext::new(&row, self.token, self.db.clone(), lost_rx));
        let _renewer =
            AbortOnDrop(tokio::spawn(renew_lease(self.db.clone(), row.id, self.token, self.lease, lost_tx)));
        let (handler_ctx, running) = (ctx.clone(), handler.clone());
        let mut handle = AbortOnDrop(tokio::spawn(async move { running.run(&handler_ctx).await }));
        let outcome = match (&mut handle.0).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(JobFailure::retryable("the handler panicked")),
            Err(_) => Err(JobFailure::retryable("the handler was cancelled")),
        };
        match outcome {
            Ok(()) => {
                if ctx.finished() {
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
            Err(JobFailure { postpone: Some(after), message, .. }) => {
                let run_at = calseta_store::now() + lease_delta(after);
                match repo::postpone(&self.db, row.id, self.token, run_at).await {
                    Ok(true) => tracing::debug!(job = %row.uuid, reason = %message, "job postponed"),
                    Ok(false) => tracing::warn!(job = %row.uuid, "job postponed after losing its lease"),
                    Err(e) => {
                        tracing::warn!(job = %row.uuid, error = %e, "could not postpone; the lease will expire and the job run again")
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
                if self.record_failure(&row, &failure.message, retry_at).await && retry_at.is_none() {
                    // A dead letter: the handler settles what the job was acting on.
                    handler.on_dead(&self.db, &row.payload.0, &strip_url_secrets(&failure.message)).await;
                }
            }
        }
    }

    /// Records a failed attempt (a retry at `retry_at`, or a dead letter); whether it was recorded
    /// (the attempt still held its lease).
    async fn record_failure(
        &self,
        row: &JobRow,
        message: &str,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> bool {
        // `last_error` is served by the jobs API and logged: no URL in it keeps a credential.
        let message = &strip_url_secrets(message);
        match repo::mark_failed(&self.db, row.id, self.token, message, retry_at).await {
            Ok(true) if retry_at.is_some() => {
                tracing::warn!(job = %row.uuid, kind = %row.kind, attempt = row.attempts, error = message, "job failed; retry scheduled");
                true
            }
            Ok(true) => {
                tracing::error!(job = %row.uuid, kind = %row.kind, attempt = row.attempts, error = message, "job failed permanently; kept as a dead letter");
                true
            }
            Ok(false) => {
                tracing::warn!(job = %row.uuid, "job failed after losing its lease; outcome discarded");
                false
            }
            Err(e) => {
                tracing::warn!(job = %row.uuid, error = %e, "could not record failure; the lease will expire and the job run again");
                false
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

/// Queues one job of a periodic kind every `every`, unless one is already waiting.
async fn schedule_periodic(db: Db, name: &'static str, kind: crate::JobKind, every: Duration) {
    loop {
        if let Err(e) = crate::maintenance::schedule_once(&db, &kind).await {
            tracing::warn!(kind = name, error = %e, "could not schedule a periodic job");
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lapsed_lease_is_claimed_at_the_next_look_for_lapsed_leases_not_before() {
        let now = calseta_store::now();
        let at = |ms: i64| now + chrono::Duration::milliseconds(ms);
        let look = at(600);
        let next = |queued: Option<i64>, lapsed: Option<i64>| repo::NextDue {
            queued: queued.map(at),
            lapsed: lapsed.map(at),
        };
        // A lease that lapsed already waits for the look instead of a claim every 5 ms.
        assert_eq!(next_claim_at(next(None, Some(-100)), look), Some(look));
        // A queued job due before the look comes first.
        assert_eq!(next_claim_at(next(Some(200), Some(-100)), look), Some(at(200)));
        // A lease that lapses after the look is claimable when it lapses.
        assert_eq!(next_claim_at(next(Some(2000), Some(900)), look), Some(at(900)));
        assert_eq!(next_claim_at(next(Some(-5), None), look), Some(at(-5)));
        assert_eq!(next_claim_at(repo::NextDue::default(), look), None);
    }
}
