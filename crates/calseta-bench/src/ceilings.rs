//! The machine's own ceilings, measured in the same run as ingest and the pipeline, so each figure
//! can be read as a fraction of what this machine allows:
//!
//! - the **HTTP ceiling**: `GET /v1/api-keys/current` at the ingest concurrency — the same
//!   listener, middleware, key check and rate limit as an ingest, and no database;
//! - **ingest without HTTP**: the ingest service called in process, both halves (validate,
//!   normalize, fingerprint; then the transaction);
//! - the **storage ceiling**: only the ingest's writes (alert, job, event) — in the transactions
//!   of the ingests that arrive together, committed by the group writer — in a tight loop, with
//!   the alerts prepared beforehand.
//!
//! The in-process runs also count the database work of one ingest: statements (transaction control
//! included), write transactions and durable commits per alert, and on SQLite how long the one
//! write connection was held, waited for and committing per alert — the writer's time per alert
//! is the most alerts a second it can take.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::Target;
use crate::load::{Read, read_all};
use crate::server::Fleet;
use crate::stats::{Latency, round};

/// An alert the service has prepared, opaque to the bench.
pub type Prepared = Box<dyn Any + Send + Sync>;

/// The work a database handle has done: the store's own reading.
pub use calseta_store::DbWork as Work;

/// Per alert, between `earlier` and `now` (the writer's times in milliseconds, when it has any).
fn per_alert(now: Work, earlier: Work, alerts: usize) -> Value {
    let work = now.since(earlier);
    let per = |n: u64| round(n as f64 / alerts.max(1) as f64);
    let mut figures = json!({
        "statements": per(work.statements),
        "round_trips": per(work.round_trips),
        "write_transactions": per(work.write_transactions),
        "commits": per(work.commits),
    });
    if !work.writer_held.is_zero() {
        let ms = |d: Duration| round(d.as_secs_f64() * 1000.0 / alerts.max(1) as f64);
        figures["writer_held_ms"] = json!(ms(work.writer_held));
        figures["writer_wait_ms"] = json!(ms(work.writer_waited));
        figures["commit_ms"] = json!(ms(work.committing));
    }
    figures
}

/// The share of `elapsed` in which SQLite's write connection was held, between two readings
/// (null without both readings, or on PostgreSQL).
pub(crate) fn writer_busy(before: Option<Work>, after: Option<Work>, elapsed: Duration) -> Value {
    match (before, after) {
        (Some(before), Some(after)) if !after.since(before).writer_held.is_zero() => {
            json!(round(after.since(before).writer_held.as_secs_f64() / elapsed.as_secs_f64().max(1e-9)))
        }
        _ => Value::Null,
    }
}

/// The ingest service in this process, supplied by the `calseta` binary (this crate knows no
/// services). Opening need not be `Send`: it runs on the bench's own thread, as `serve`'s wiring
/// does.
#[async_trait::async_trait(?Send)]
pub trait InProcessIngest: Send + Sync {
    /// Opens (and migrates) the database with the servers' settings `env` (over this process's
    /// environment), as `serve` would.
    async fn open(&self, env: &[(String, String)]) -> Result<Arc<dyn IngestHalves>, String>;
}

/// The two halves of one ingest, on an open database.
#[async_trait::async_trait]
pub trait IngestHalves: Send + Sync {
    /// Validates, normalizes and fingerprints one alert of `source`; writes nothing.
    async fn prepare(&self, source: &str, body: &str) -> Result<Prepared, String>;
    /// Writes a prepared alert (in one transaction with those written at the same time) and
    /// returns once it is durable.
    async fn store(&self, prepared: &Prepared) -> Result<(), String>;
    /// The database work done so far.
    fn work(&self) -> Work;
    /// Closes the database.
    async fn close(&self);
}

/// The HTTP ceiling on the running server, at `concurrency`, for `seconds`.
pub(crate) async fn http(
    target: &Target,
    fleet: &Fleet,
    concurrency: usize,
    seconds: u64,
) -> Result<Value, String> {
    let reads = vec![Read::Rest("/v1/api-keys/current".into())];
    let (run, resources) =
        fleet.sample_during(read_all(target, reads, concurrency, Duration::from_secs(seconds))).await;
    let run = run?;
    println!(
        "ceiling HTTP (authenticated, no database) c={concurrency} {:>8.0}/s p50 {:.2} ms p99 {:.2} ms",
        run.throughput(),
        run.latency.p(0.5),
        run.latency.p(0.99)
    );
    Ok(json!({
        "route": "GET /v1/api-keys/current", "concurrency": concurrency, "per_second": round(run.throughput()),
        "errors": run.errors, "latency_ms": run.latency.to_json(), "server": resources.to_json(),
    }))
}

/// Ingest without HTTP and the storage ceiling, in this process, with the servers' settings `env`
/// (their database, after they stopped): each over its own unique alerts from `bodies(n)`,
/// `concurrency` at a time.
pub(crate) async fn in_process(
    ingest: &dyn InProcessIngest,
    env: &[(String, String)],
    bodies: impl Fn(usize) -> Vec<(String, String)>,
    alerts: usize,
    concurrency: usize,
) -> Result<Value, String> {
    let halves = ingest.open(env).await?;
    let outcome = async {
        // Both halves timed together: what ingest costs without HTTP.
        let whole = run_concurrently(&halves, bodies(alerts), concurrency, false).await?;
        // Prepared first, untimed; then only the transaction.
        let storage = run_concurrently(&halves, bodies(alerts), concurrency, true).await?;
        for (name, figures) in [("ingest without HTTP", &whole), ("ceiling storage (ingest transaction)", &storage)] {
            println!(
                "{name:<38} c={concurrency} {:>8.0}/s p50 {} ms p99 {} ms, per alert: {} statements in {} round trips, {} write transactions, {} commits, writer held {} ms",
                figures["per_second"].as_f64().unwrap_or(0.0),
                figures["latency_ms"]["p50"],
                figures["latency_ms"]["p99"],
                figures["per_alert"]["statements"],
                figures["per_alert"]["round_trips"],
                figures["per_alert"]["write_transactions"],
                figures["per_alert"]["commits"],
                figures["per_alert"]["writer_held_ms"],
            );
        }
        Ok::<_, String>(json!({"ingest_without_http": whole, "storage": storage}))
    }
    .await;
    halves.close().await;
    outcome
}

/// Runs every body through the service `concurrency` at a time; with `prepare_first` the
/// preparation happens before the clock starts and only the transaction is timed.
async fn run_concurrently(
    halves: &Arc<dyn IngestHalves>,
    bodies: Vec<(String, String)>,
    concurrency: usize,
    prepare_first: bool,
) -> Result<Value, String> {
    let count = bodies.len();
    enum Item {
        Body(String, String),
        Ready(Prepared),
    }
    let mut items = Vec::with_capacity(count);
    for (source, body) in bodies {
        items.push(if prepare_first {
            Item::Ready(halves.prepare(&source, &body).await?)
        } else {
            Item::Body(source, body)
        });
    }
    let items: Arc<Vec<Item>> = Arc::new(items);
    let next = Arc::new(AtomicUsize::new(0));
    let before = halves.work();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (items, next, halves) = (items.clone(), next.clone(), halves.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), Vec::new());
            while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                let sent = Instant::now();
                let done = match item {
                    Item::Ready(prepared) => halves.store(prepared).await,
                    Item::Body(source, body) => match halves.prepare(source, body).await {
                        Ok(prepared) => halves.store(&prepared).await,
                        Err(e) => Err(e),
                    },
                };
                latencies.push(sent.elapsed());
                if let Err(e) = done {
                    errors.push(e);
                }
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), Vec::new());
    for task in tasks {
        let (l, e) = task.await.map_err(|e| format!("an in-process ingest task failed: {e}"))?;
        latencies.extend(l);
        errors.extend(e);
    }
    let elapsed = started.elapsed();
    if let Some(first) = errors.first() {
        return Err(format!("{} of {count} in-process ingests failed, the first: {first}", errors.len()));
    }
    let latency = Latency::new(latencies);
    Ok(json!({
        "alerts": count, "concurrency": concurrency,
        "per_second": round(count as f64 / elapsed.as_secs_f64().max(1e-9)),
        "latency_ms": latency.to_json(), "per_alert": per_alert(halves.work(), before, count),
    }))
}

/// The database work a server has done, from its `/metrics` (`None` when it does not say).
pub(crate) async fn server_work(target: &Target) -> Result<Option<Work>, String> {
    let text = target
        .client
        .get(format!("{}/metrics", target.base))
        .header("accept", "text/plain")
        .send()
        .await
        .map_err(|e| format!("/metrics: {e}"))?
        .text()
        .await
        .map_err(|e| format!("/metrics: {e}"))?;
    let value = |name: &str| {
        text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
    };
    let read = |name: &str| value(name).map(|v| v as u64);
    // A server from before the writer was timed reports none of it.
    let seconds = |name: &str| value(name).map_or(Duration::ZERO, |v| Duration::from_secs_f64(v.max(0.0)));
    Ok(
        match (
            read("calseta_db_statements_total"),
            read("calseta_db_round_trips_total"),
            read("calseta_db_write_transactions_total"),
            read("calseta_db_commits_total"),
        ) {
            // A server from before round trips were counted sent every statement alone.
            (Some(statements), round_trips, Some(write_transactions), Some(commits)) => Some(Work {
                statements,
                round_trips: round_trips.unwrap_or(statements),
                write_transactions,
                commits,
                writer_held: seconds("calseta_db_writer_held_seconds_total"),
                writer_waited: seconds("calseta_db_writer_wait_seconds_total"),
                committing: seconds("calseta_db_commit_seconds_total"),
            }),
            _ => None,
        },
    )
}

/// The server's database work per alert between two `/metrics` readings.
pub(crate) fn server_work_per_alert(before: Option<Work>, after: Option<Work>, alerts: usize) -> Value {
    match (before, after) {
        (Some(before), Some(after)) => per_alert(after, before, alerts),
        _ => Value::Null,
    }
}

/// `figure` as a fraction of `ceiling` (both per second), when both are known.
pub(crate) fn fraction(figure: &Value, ceiling: &Value) -> Value {
    match (figure.as_f64(), ceiling.as_f64()) {
        (Some(f), Some(c)) if c > 0.0 => json!(round(f / c)),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_per_alert_divides_the_difference() {
        let before =
            Work { statements: 100, round_trips: 90, write_transactions: 10, commits: 5, ..Work::default() };
        let after = Work {
            statements: 900,
            round_trips: 590,
            write_transactions: 110,
            commits: 30,
            ..Work::default()
        };
        // Without the writer's times (PostgreSQL, or an older server), none are reported.
        assert_eq!(
            per_alert(after, before, 100),
            json!({"statements": 8.0, "round_trips": 5.0, "write_transactions": 1.0, "commits": 0.25})
        );
        assert_eq!(writer_busy(Some(before), Some(after), Duration::from_secs(1)), Value::Null);
        let timed = Work {
            writer_held: Duration::from_millis(450),
            writer_waited: Duration::from_millis(900),
            committing: Duration::from_millis(100),
            ..after
        };
        assert_eq!(
            per_alert(timed, before, 100),
            json!({"statements": 8.0, "round_trips": 5.0, "write_transactions": 1.0, "commits": 0.25,
                "writer_held_ms": 4.5, "writer_wait_ms": 9.0, "commit_ms": 1.0})
        );
        assert_eq!(writer_busy(Some(before), Some(timed), Duration::from_millis(500)), json!(0.9));
        assert_eq!(fraction(&json!(500.0), &json!(2000.0)), json!(0.25));
        assert_eq!(fraction(&json!(500.0), &Value::Null), Value::Null);
    }
}
