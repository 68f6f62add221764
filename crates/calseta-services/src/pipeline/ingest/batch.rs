//! Concurrent ingests written together.
//!
//! An ingest's writes — the dedup lookup, the alert, its job and its event — are a handful of
//! statements; on SQLite each write transaction also holds the database's only writer, and what it
//! costs beyond its statements (taking the writer, its savepoint, handing the writer on) is paid per
//! transaction. So on SQLite ingests do not each take a transaction: each joins the ingests
//! waiting, and one task per batch waits for the writer, takes the ingests queued by then — at most
//! [`MAX_BATCH`] — and writes them in one transaction. A lone ingest is a batch of one: nothing
//! waits for company. Every ingest is answered only once its batch is committed, so `202` still
//! means stored and queued; an ingest whose request stopped waiting before its batch took it is not
//! written. On PostgreSQL each ingest keeps a transaction of its own: its pooled connections write
//! in parallel, and a batch would put their statements in a row (measured: ingest over HTTP slower).
//!
//! A batch that fails before its commit — one alert the database refuses — is written again one
//! alert per transaction (those transactions together), so each ingest gets its own outcome and
//! one bad alert fails alone. A failed commit fails every ingest of the batch: a commit that failed
//! may still have happened, and writing the alerts again could store them twice.

use std::sync::{Arc, Mutex, PoisonError};

use calseta_jobs::JobKind;
use calseta_store::{Db, Engine, StoreError};
use tokio::sync::oneshot;

use super::{IngestSettings, Ingested, PreparedAlert, persist};
use crate::ServiceError;

/// The most ingests one batch writes: on SQLite a batch holds the only writer while it writes.
pub const MAX_BATCH: usize = 256;

/// One ingest waiting for its batch.
struct Waiting {
    prepared: PreparedAlert,
    answer: oneshot::Sender<Result<Ingested, ServiceError>>,
}

/// The ingests waiting, and whether a batch task will take them.
#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    /// A batch task is waiting for its transaction and will take what is queued.
    collecting: bool,
}

/// Writes ingests in batches of those that arrive together.
pub struct IngestWriter {
    db: Db,
    settings: Arc<IngestSettings>,
    enrich_job: JobKind,
    queue: Mutex<Queue>,
}

impl IngestWriter {
    /// A writer over `db` queueing `enrich_job` for every new alert.
    pub fn new(db: Db, settings: Arc<IngestSettings>, enrich_job: JobKind) -> Arc<Self> {
        Arc::new(IngestWriter { db, settings, enrich_job, queue: Mutex::new(Queue::default()) })
    }

    /// How many ingests wait for their batch to take its transaction.
    pub fn waiting(&self) -> usize {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).waiting.len()
    }

    /// Writes `prepared` with the ingests arriving with it; its outcome once its batch committed.
    pub async fn write(self: &Arc<Self>, prepared: PreparedAlert) -> Result<Ingested, ServiceError> {
        if self.db.engine() == Engine::Postgres {
            return self.write_alone(&prepared).await;
        }
        let (answer, outcome) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.waiting.push(Waiting { prepared, answer });
            !std::mem::replace(&mut queue.collecting, true)
        };
        if start {
            self.spawn_batch();
        }
        outcome.await.map_err(|_| stopped())?
    }

    /// Starts a batch task: on a task of its own, so that a request that stops waiting does not
    /// stop the batch it joined.
    fn spawn_batch(self: &Arc<Self>) {
        let writer = self.clone();
        tokio::spawn(async move { writer.write_batch().await });
    }

    /// Takes a write transaction, then the ingests queued by then, and writes them.
    async fn write_batch(self: Arc<Self>) {
        let tx = self.db.begin().await;
        let mut batch: Vec<Waiting> = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let take = queue.waiting.len().min(MAX_BATCH);
            let batch = queue.waiting.drain(..take).collect();
            // The rest go to the next batch, which starts now; else the next ingest starts one.
            queue.collecting = !queue.waiting.is_empty();
            if queue.collecting {
                self.spawn_batch();
            }
            batch
        };
        // Requests that stopped waiting are not written (as a request's own transaction was not).
        batch.retain(|waiting| !waiting.answer.is_closed());
        if batch.is_empty() {
            return;
        }
        batch.sort_by(|a, b| a.prepared.alert.fingerprint.cmp(&b.prepared.alert.fingerprint));
        let mut tx = match tx {
            Ok(tx) => tx,
            Err(e) => return self.write_apart(batch, e.into()).await,
        };
        let mut outcomes = Vec::with_capacity(batch.len());
        for waiting in &batch {
            match persist(&mut tx, &self.settings, &self.enrich_job, &waiting.prepared).await {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    // Nothing of the batch is kept: each alert is written again, alone.
                    drop(tx);
                    return self.write_apart(batch, e).await;
                }
            }
        }
        // The last alert's job and event, sent before the commit: a failure there is its alone.
        if let Err(e) = tx.flush().await {
            drop(tx);
            return self.write_apart(batch, e.into()).await;
        }
        match tx.commit().await {
            Ok(()) => {
                for (waiting, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = waiting.answer.send(Ok(outcome));
                }
            }
            // Not written again: a commit that failed may still have happened (a connection lost
            // on its way back), and the alerts would be stored twice. Each ingest fails, as a
            // lone one would, and its sender may retry (deduplicated within the window).
            Err(e) => {
                let message = e.to_string();
                let mut first = Some(e);
                for waiting in batch {
                    let error = first.take().unwrap_or_else(|| StoreError::CommitFailed(message.clone()));
                    let _ = waiting.answer.send(Err(error.into()));
                }
            }
        }
    }

    /// Answers a batch that failed before its commit with `error` (one ingest), or writes each of
    /// its ingests in a transaction of its own — all at once, so that on SQLite they share
    /// commits and each fails as soon as its own transaction does.
    async fn write_apart(&self, mut batch: Vec<Waiting>, error: ServiceError) {
        if batch.len() == 1 {
            if let Some(waiting) = batch.pop() {
                let _ = waiting.answer.send(Err(error));
            }
            return;
        }
        tracing::debug!(ingests = batch.len(), %error, "an ingest batch failed; writing its alerts one by one");
        futures::future::join_all(batch.into_iter().map(|waiting| async move {
            let outcome = self.write_alone(&waiting.prepared).await;
            let _ = waiting.answer.send(outcome);
        }))
        .await;
    }

    /// Writes one alert in a transaction of its own.
    async fn write_alone(&self, prepared: &PreparedAlert) -> Result<Ingested, ServiceError> {
        let mut tx = self.db.begin().await?;
        let ingested = persist(&mut tx, &self.settings, &self.enrich_job, prepared).await?;
        tx.commit().await?;
        Ok(ingested)
    }
}

/// The answer of an ingest whose batch task is gone (it panicked): nothing of it was committed.
fn stopped() -> ServiceError {
    StoreError::CommitFailed("the ingest's batch did not complete".into()).into()
}
