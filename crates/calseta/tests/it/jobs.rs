//! The durable job runtime against a real database: success, retries with back-off, dead letters
//! and their retry, transactional enqueue, graceful shutdown, a stalled worker's late writes being
//! fenced off, a `kill -9`ed worker's job running again, and two worker processes sharing a queue.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use calseta_core::jobs::RetryPolicy;
use calseta_jobs::{self as jobs, JobKind};
use calseta_jobs::{JobContext, JobFailure, JobHandler, JobRegistry, Worker, WorkerConfig};
use calseta_store::{Db, DbOptions, state};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const QUICK: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base_backoff: Duration::from_millis(20),
    max_backoff: Duration::from_millis(100),
    factor: 2,
};
/// Records `ran:<job>` = worker name, refusing to run a job twice.
const RECORD: JobKind = JobKind { name: "test.record", queue: "test", retry: QUICK };
/// Fails until attempt `succeed_on` (or forever / permanently, per payload).
const FLAKY: JobKind = JobKind { name: "test.flaky", queue: "test", retry: QUICK };
/// Waits for the file `gate`, then records `marker` = worker name in a fenced transaction (with
/// `"finishing": true`, `marker:by:<worker>` in a transaction fenced only by its completion).
const GATED: JobKind = JobKind { name: "test.gated", queue: "test", retry: QUICK };

struct Record(String);

#[async_trait::async_trait]
impl JobHandler for Record {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        if let Some(hold) = ctx.payload["hold_ms"].as_u64() {
            tokio::time::sleep(Duration::from_millis(hold)).await;
        }
        let mut tx = ctx.begin_fenced().await?;
        let first = state::record_once(&mut tx, &format!("ran:{}", ctx.uuid), &self.0).await?;
        if !first {
            return Err(JobFailure::permanent("this job already ran"));
        }
        ctx.finish(tx).await
    }
}

struct Flaky;

#[async_trait::async_trait]
impl JobHandler for Flaky {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        if ctx.payload["permanent"] == true {
            return Err(JobFailure::permanent("bad payload"));
        }
        let succeed_on = ctx.payload["succeed_on"].as_u64().unwrap_or(u64::MAX);
        if u64::from(ctx.attempt) >= succeed_on {
            Ok(())
        } else {
            Err(JobFailure::retryable(format!("flaky failure {}", ctx.attempt)))
        }
    }

    /// Notes the death of a job as `dead:<marker>` = its last error.
    async fn on_dead(&self, db: &Db, payload: &Value, error: &str) {
        if let Some(marker) = payload["marker"].as_str() {
            let mut tx = db.begin().await.unwrap();
            state::record_once(&mut tx, &format!("dead:{marker}"), error).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
}

/// The `dead:<marker>` note of a job's dead-letter hook, once written.
async fn dead_note(db: &Db, marker: &str) -> String {
    eventually(&format!("the dead-letter hook of {marker}"), Duration::from_secs(30), || async {
        state::get(db, &format!("dead:{marker}")).await.unwrap()
    })
    .await
}

struct Gated(String);

#[async_trait::async_trait]
impl JobHandler for Gated {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let gate = ctx.payload["gate"].as_str().unwrap_or_default().to_string();
        while !Path::new(&gate).exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let marker = ctx.payload["marker"].as_str().unwrap_or_default().to_string();
        if ctx.payload["finishing"] == true {
            let finished = async {
                let mut tx = ctx.begin_for_finish().await?;
                state::record_once(&mut tx, &format!("{marker}:by:{}", self.0), &self.0).await?;
                ctx.finish(tx).await
            }
            .await;
            if finished.is_err() {
                let mut tx = ctx.db().begin().await?;
                state::record_once(&mut tx, &format!("{marker}:refused"), &self.0).await?;
                tx.commit().await?;
            }
            return finished;
        }
        match ctx.begin_fenced().await {
            Ok(mut tx) => {
                state::record_once(&mut tx, &marker, &self.0).await?;
                ctx.finish(tx).await
            }
            Err(fenced) => {
                // Instrumentation for the test: note (unfenced) that the late write was refused.
                let mut tx = ctx.db().begin().await?;
                state::record_once(&mut tx, &format!("{marker}:refused"), &self.0).await?;
                tx.commit().await?;
                Err(fenced)
            }
        }
    }
}

fn test_jobs(name: &str) -> Vec<(JobKind, Arc<dyn JobHandler>)> {
    vec![
        (RECORD, Arc::new(Record(name.to_string())) as Arc<dyn JobHandler>),
        (FLAKY, Arc::new(Flaky)),
        (GATED, Arc::new(Gated(name.to_string()))),
    ]
}

async fn enqueue(db: &Db, kind: &JobKind, payload: Value) -> Uuid {
    let mut tx = db.begin().await.unwrap();
    let uuid = jobs::enqueue(&mut tx, kind, payload, Duration::ZERO).await.unwrap();
    tx.commit().await.unwrap();
    uuid
}

async fn job(app: &TestApp, uuid: Uuid) -> Value {
    let (status, body) = app.get(&format!("/v1/jobs/{uuid}"), &app.admin_key).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

async fn job_in_status(app: &TestApp, uuid: Uuid, status: &str) -> Value {
    eventually(&format!("job {uuid} to be {status}"), Duration::from_secs(30), || async {
        let job = job(app, uuid).await;
        (job["status"] == status).then_some(job)
    })
    .await
}

#[tokio::test]
async fn jobs_succeed_retry_and_become_dead_letters() {
    // A one-minute poll: every start below relies on wake-ups and scheduled retry times.
    let app = spawn_app_with(AppOptions {
        env: vec![("JOB_POLL_INTERVAL_MS", "60000".into())],
        jobs: test_jobs("api"),
        ..AppOptions::default()
    })
    .await;

    let ok = enqueue(&app.db, &RECORD, json!({})).await;
    let done = job_in_status(&app, ok, "succeeded").await;
    assert_eq!(done["attempts"], 1);
    assert_eq!(state::get(&app.db, &format!("ran:{ok}")).await.unwrap().as_deref(), Some("api"));

    let flaky = enqueue(&app.db, &FLAKY, json!({"succeed_on": 3, "marker": "recovers"})).await;
    let done = job_in_status(&app, flaky, "succeeded").await;
    assert_eq!(done["attempts"], 3);
    assert_eq!(done["last_error"], Value::Null);

    let doomed = enqueue(&app.db, &FLAKY, json!({"marker": "doomed"})).await;
    let dead = job_in_status(&app, doomed, "dead").await;
    assert_eq!(dead["attempts"], 3);
    assert_eq!(dead["last_error"], "flaky failure 3");
    // The handler's dead-letter hook runs for a job out of attempts, not for one that recovered.
    assert_eq!(dead_note(&app.db, "doomed").await, "flaky failure 3");
    assert_eq!(state::get(&app.db, "dead:recovers").await.unwrap(), None);
    let (_, body) = app.get("/v1/jobs?status=dead", &app.admin_key).await;
    assert!(body["data"].as_array().unwrap().iter().any(|j| j["uuid"] == doomed.to_string()));

    let (status, body) = app.post(&format!("/v1/jobs/{doomed}/retry"), &app.admin_key, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "queued");
    assert_eq!(body["data"]["attempts"], 0);
    let dead = eventually("the retried job to die again", Duration::from_secs(30), || async {
        let j = job(&app, doomed).await;
        (j["status"] == "dead" && j["attempts"] == 3).then_some(j)
    })
    .await;
    assert_eq!(dead["last_error"], "flaky failure 3");

    let (status, body) = app.post(&format!("/v1/jobs/{ok}/retry"), &app.admin_key, json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "JOB_NOT_DEAD");
    let (status, _) =
        app.post(&format!("/v1/jobs/{}/retry", Uuid::new_v4()), &app.admin_key, json!({})).await;
    assert_eq!(status, 404);

    let permanent = enqueue(&app.db, &FLAKY, json!({"permanent": true, "marker": "permanent"})).await;
    let dead = job_in_status(&app, permanent, "dead").await;
    assert_eq!(dead["attempts"], 1);
    assert_eq!(dead["last_error"], "bad payload");
    assert_eq!(dead_note(&app.db, "permanent").await, "bad payload", "and for a permanent failure");

    let (status, body) = app.get("/v1/jobs?status=unknown", &app.admin_key).await;
    assert_eq!(status, 422, "{body}");

    let (_, health) = app.get("/health", "").await;
    assert_eq!(health["queues"]["test"]["dead"], 2);
}

#[tokio::test]
async fn a_rolled_back_enqueue_leaves_no_job() {
    let app = spawn_app_with(AppOptions { jobs: test_jobs("api"), ..AppOptions::default() }).await;
    let mut tx = app.db.begin().await.unwrap();
    let uuid = jobs::enqueue(&mut tx, &RECORD, json!({}), Duration::ZERO).await.unwrap();
    tx.rollback().await.unwrap();
    let (status, _) = app.get(&format!("/v1/jobs/{uuid}"), &app.admin_key).await;
    assert_eq!(status, 404);
    // A committed one runs.
    let uuid = enqueue(&app.db, &RECORD, json!({})).await;
    job_in_status(&app, uuid, "succeeded").await;
}

fn worker_config(grace: Duration) -> WorkerConfig {
    WorkerConfig {
        concurrency: 4,
        lease: Duration::from_secs(2),
        poll_interval: Duration::from_millis(100),
        shutdown_grace: grace,
        ..WorkerConfig::default()
    }
}

fn registry(name: &str) -> JobRegistry {
    let mut registry = JobRegistry::new();
    for (kind, handler) in test_jobs(name) {
        registry.register(kind, handler);
    }
    registry
}

#[tokio::test]
async fn graceful_shutdown_drains_or_releases_in_flight_jobs() {
    let app = spawn_app_with(AppOptions { run_worker: false, ..AppOptions::default() }).await;
    let dir = TempDir::new();
    let gate = dir.0.join("gate");

    // Within the grace period: the job finishes before the worker returns.
    let uuid = enqueue(&app.db, &GATED, json!({"gate": gate.to_str(), "marker": "drained"})).await;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(
        Worker::new(app.db.clone(), registry("w"), worker_config(Duration::from_secs(20))).run(stop_rx),
    );
    job_in_status(&app, uuid, "running").await;
    stop.send(true).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!worker.is_finished(), "shutdown waits for the in-flight job");
    std::fs::write(&gate, b"open").unwrap();
    worker.await.unwrap();
    assert_eq!(job(&app, uuid).await["status"], "succeeded");

    // Past the grace period: the job is released unfinished, its attempt not counted.
    let closed_gate = dir.0.join("never");
    let uuid = enqueue(&app.db, &GATED, json!({"gate": closed_gate.to_str(), "marker": "released"})).await;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let worker =
        tokio::spawn(Worker::new(app.db.clone(), registry("w"), worker_config(Duration::ZERO)).run(stop_rx));
    job_in_status(&app, uuid, "running").await;
    stop.send(true).unwrap();
    worker.await.unwrap();
    let released = job(&app, uuid).await;
    assert_eq!(released["status"], "queued");
    assert_eq!(released["attempts"], 0);
}

/// Not a test of its own: the entry point of the worker processes that the tests below start by
/// re-running this test binary. It does nothing unless `CALSETA_IT_CHILD_DB` is set.
#[tokio::test]
async fn child_worker_process() {
    let Ok(url) = std::env::var("CALSETA_IT_CHILD_DB") else { return };
    let name = std::env::var("CALSETA_IT_CHILD_NAME").unwrap_or_else(|_| "child".into());
    let poll: u64 =
        std::env::var("CALSETA_IT_CHILD_POLL_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let db = Db::connect(&DbOptions::new(url)).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    state::record_once(&mut tx, &format!("ready:{name}"), "yes").await.unwrap();
    tx.commit().await.unwrap();
    let config =
        WorkerConfig { poll_interval: Duration::from_millis(poll), ..worker_config(Duration::from_secs(5)) };
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    Worker::new(db, registry(&name), config).run(stop_rx).await;
}

struct ChildWorker(Child);

impl ChildWorker {
    fn start(db_url: &str, name: &str, poll_ms: u64) -> Self {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["jobs::child_worker_process", "--exact", "--nocapture", "--test-threads", "1"])
            .env("CALSETA_IT_CHILD_DB", db_url)
            .env("CALSETA_IT_CHILD_NAME", name)
            .env("CALSETA_IT_CHILD_POLL_MS", poll_ms.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        ChildWorker(child)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.0.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal}");
    }
}

impl Drop for ChildWorker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_killed_workers_job_runs_again_after_its_lease_expires() {
    let app = spawn_app_with(AppOptions { run_worker: false, ..AppOptions::default() }).await;
    let dir = TempDir::new();
    let gate = dir.0.join("gate");
    let uuid = enqueue(&app.db, &GATED, json!({"gate": gate.to_str(), "marker": "killed"})).await;

    let child = ChildWorker::start(&app.database.url, "doomed", 100);
    let running = job_in_status(&app, uuid, "running").await;
    assert_eq!(running["attempts"], 1);
    child.signal("-KILL");
    drop(child);

    std::fs::write(&gate, b"open").unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(
        Worker::new(app.db.clone(), registry("survivor"), worker_config(Duration::from_secs(5))).run(stop_rx),
    );
    let done = job_in_status(&app, uuid, "succeeded").await;
    assert_eq!(done["attempts"], 2);
    assert_eq!(state::get(&app.db, "killed").await.unwrap().as_deref(), Some("survivor"));
    stop.send(true).unwrap();
    worker.await.unwrap();
}

#[tokio::test]
async fn a_stalled_workers_late_writes_are_fenced_off() {
    let app = stalled_worker_resumes_after_reclaim(false).await;
    assert_eq!(state::get(&app.db, "fence").await.unwrap().as_deref(), Some("reclaimer"));
}

#[tokio::test]
async fn a_stalled_workers_late_completion_is_rolled_back_with_its_writes() {
    // The transaction is fenced by its completion alone: the write before it is undone with it.
    let app = stalled_worker_resumes_after_reclaim(true).await;
    assert_eq!(state::get(&app.db, "fence:by:reclaimer").await.unwrap().as_deref(), Some("reclaimer"));
    assert_eq!(
        state::get(&app.db, "fence:by:stalled").await.unwrap(),
        None,
        "the late write was rolled back"
    );
}

/// A `gated` job whose worker process is stopped while it runs, reclaimed and finished by another
/// worker, then resumed: returns once the resumed attempt's write was refused and the job still
/// shows the reclaimer's success.
async fn stalled_worker_resumes_after_reclaim(finishing: bool) -> TestApp {
    let app = spawn_app_with(AppOptions { run_worker: false, ..AppOptions::default() }).await;
    let dir = TempDir::new();
    let gate = dir.0.join("gate");
    let payload = json!({"gate": gate.to_str(), "marker": "fence", "finishing": finishing});
    let uuid = enqueue(&app.db, &GATED, payload).await;

    let child = ChildWorker::start(&app.database.url, "stalled", 100);
    job_in_status(&app, uuid, "running").await;
    child.signal("-STOP");

    // The stalled worker's lease lapses; another worker reclaims and finishes the job.
    std::fs::write(&gate, b"open").unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(
        Worker::new(app.db.clone(), registry("reclaimer"), worker_config(Duration::from_secs(5)))
            .run(stop_rx),
    );
    let done = job_in_status(&app, uuid, "succeeded").await;
    assert_eq!(done["attempts"], 2);

    // Resumed, the stalled attempt tries to write and is refused.
    child.signal("-CONT");
    eventually("the stalled worker to attempt its late write", Duration::from_secs(30), || async {
        state::get(&app.db, "fence:refused").await.unwrap()
    })
    .await;
    let after = job(&app, uuid).await;
    assert_eq!((after["status"].as_str(), after["attempts"].as_i64()), (Some("succeeded"), Some(2)));
    stop.send(true).unwrap();
    worker.await.unwrap();
    app
}

#[tokio::test]
async fn two_worker_processes_share_a_queue_without_running_a_job_twice() {
    let app = spawn_app_with(AppOptions { run_worker: false, ..AppOptions::default() }).await;
    // On PostgreSQL the workers poll once a minute: NOTIFY must wake them across processes.
    let poll = if app.database.url.starts_with("postgres") { 60_000 } else { 100 };
    let a = ChildWorker::start(&app.database.url, "a", poll);
    let b = ChildWorker::start(&app.database.url, "b", poll);
    // Both processes must be up before the work arrives, however slowly a busy machine starts them.
    for name in ["a", "b"] {
        eventually("the worker processes to start", Duration::from_secs(30), || async {
            state::get(&app.db, &format!("ready:{name}")).await.unwrap()
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut uuids = Vec::new();
    for _ in 0..4 {
        let mut tx = app.db.begin().await.unwrap();
        for _ in 0..50 {
            // Each job holds its worker a little, so one process alone would need seconds for all.
            uuids
                .push(jobs::enqueue(&mut tx, &RECORD, json!({"hold_ms": 40}), Duration::ZERO).await.unwrap());
        }
        tx.commit().await.unwrap();
    }
    let listed = eventually("all 200 jobs to succeed", Duration::from_secs(60), || async {
        let (_, body) = app.get("/v1/jobs?status=succeeded&page_size=500", &app.admin_key).await;
        (body["meta"]["total"] == 200).then_some(body)
    })
    .await;
    let repeated: Vec<&Value> =
        listed["data"].as_array().unwrap().iter().filter(|j| j["attempts"] != 1).collect();
    assert!(repeated.is_empty(), "every job was claimed once: {repeated:#?}");
    let mut by_worker = std::collections::HashMap::new();
    for uuid in &uuids {
        let who = state::get(&app.db, &format!("ran:{uuid}")).await.unwrap().expect("recorded");
        *by_worker.entry(who).or_insert(0) += 1;
    }
    assert_eq!(by_worker.values().sum::<i32>(), 200);
    assert_eq!(by_worker.len(), 2, "both processes took work: {by_worker:?}");
    drop((a, b));
}

#[tokio::test]
async fn claims_take_the_first_queue_before_older_jobs_of_other_queues() {
    let database = test_database().await;
    let db = Db::connect(&DbOptions::new(database.url.clone())).await.unwrap();
    db.migrate().await.unwrap();
    const URGENT: JobKind = JobKind { name: "test.urgent", queue: "urgent", retry: QUICK };
    let mut older = Vec::new();
    for _ in 0..3 {
        older.push(enqueue(&db, &RECORD, json!({})).await);
    }
    let urgent = enqueue(&db, &URGENT, json!({})).await;
    let kinds = vec![RECORD.name.to_string(), URGENT.name.to_string()];
    let lease = calseta_store::now() + chrono::Duration::seconds(30);
    let order = calseta_store::jobs::ClaimOrder { priority: &["urgent"], reclaim_lapsed: true };
    let claim = |limit: i64| {
        let (db, kinds) = (db.clone(), kinds.clone());
        async move {
            let claimed =
                calseta_store::jobs::claim(&db, &kinds, limit, Uuid::new_v4(), lease, order).await.unwrap();
            claimed.into_iter().map(|job| job.uuid).collect::<Vec<_>>()
        }
    };
    // The urgent job is the newest, yet claimed first; then the others in run order.
    assert_eq!(claim(1).await, vec![urgent]);
    assert_eq!(claim(10).await, older);
    assert!(claim(10).await.is_empty());
    db.close().await;
}

/// Holds until released, counting how many of its jobs run at once.
struct Held {
    running: Arc<std::sync::atomic::AtomicUsize>,
    most: Arc<std::sync::atomic::AtomicUsize>,
    release: tokio::sync::watch::Receiver<bool>,
}

#[async_trait::async_trait]
impl JobHandler for Held {
    async fn run(&self, _ctx: &JobContext) -> Result<(), JobFailure> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        let mut release = self.release.clone();
        let _ = release.wait_for(|open| *open).await;
        self.running.fetch_sub(1, SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_queue_slot_budget_caps_that_queue_and_leaves_the_other_slots_to_the_rest() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let app = spawn_app_with(AppOptions { run_worker: false, ..AppOptions::default() }).await;
    const HELD: JobKind = JobKind { name: "test.held", queue: "held", retry: QUICK };
    let (release, release_rx) = tokio::sync::watch::channel(false);
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut registry = registry("budget");
    registry
        .register(HELD, Arc::new(Held { running: running.clone(), most: most.clone(), release: release_rx }));
    let config = WorkerConfig {
        queue_slots: [("held".to_string(), 1)].into_iter().collect(),
        ..worker_config(Duration::from_secs(5))
    };
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(enqueue(&app.db, &HELD, json!({})).await);
    }
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(Worker::new(app.db.clone(), registry, config).run(stop_rx));
    // Jobs of other queues run while the budgeted queue is at its limit…
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(enqueue(&app.db, &RECORD, json!({})).await);
    }
    for uuid in &others {
        job_in_status(&app, *uuid, "succeeded").await;
    }
    // …and the budgeted queue never had more than its one slot, though three slots were free.
    assert_eq!(running.load(SeqCst), 1, "one held job runs");
    let queued = {
        let mut n = 0;
        for uuid in &held {
            n += usize::from(job(&app, *uuid).await["status"] == "queued");
        }
        n
    };
    assert_eq!(queued, 2, "the other two wait for the queue's slot");
    release.send(true).unwrap();
    for uuid in &held {
        job_in_status(&app, *uuid, "succeeded").await;
    }
    assert_eq!(most.load(SeqCst), 1, "the budget held for every claim");
    stop.send(true).unwrap();
    worker.await.unwrap();
}
