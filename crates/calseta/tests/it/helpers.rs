//! `spawn_app` and friends.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calseta::app::{self, Running, ServeOptions};
use calseta::config::Config;
use calseta_jobs::JobHandler;
use calseta_jobs::JobKind;
use calseta_store::{Db, DbOptions};
use serde_json::Value;
use sqlx::Connection;
use uuid::Uuid;

/// A database for one test: a temp SQLite file, or a fresh PostgreSQL database.
pub struct TestDatabase {
    pub url: String,
    /// Keeps the temp directory alive.
    pub _dir: Option<TempDir>,
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("calseta-it-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn pg_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.trim().is_empty())
}

/// `postgres://u@h:p/db?x` → `postgres://u@h:p/<name>`
pub fn with_database(url: &str, name: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    match base[scheme_end..].find('/') {
        Some(slash) => format!("{}/{}", &base[..scheme_end + slash], name),
        None => format!("{base}/{name}"),
    }
}

async fn ensure_template(admin_url: &str) -> String {
    let template = format!("calseta_tpl_{}", calseta_store::migrations_fingerprint());
    let mut admin = sqlx::PgConnection::connect(admin_url).await.expect("connect to TEST_DATABASE_URL");
    sqlx::query("SELECT pg_advisory_lock(7243001)").execute(&mut admin).await.unwrap();
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&template)
        .fetch_optional(&mut admin)
        .await
        .unwrap();
    if exists.is_none() {
        sqlx::query(&format!("CREATE DATABASE \"{template}\"")).execute(&mut admin).await.unwrap();
        let db = Db::connect(&DbOptions::new(with_database(admin_url, &template))).await.unwrap();
        db.migrate().await.unwrap();
        db.close().await;
    }
    sqlx::query("SELECT pg_advisory_unlock(7243001)").execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    template
}

/// A fresh PostgreSQL database cloned from the migrated template.
pub async fn fresh_postgres(admin_url: &str) -> String {
    let template = ensure_template(admin_url).await;
    let name = format!("calseta_t_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
    let mut attempts = 0;
    loop {
        // Cloning fails while another session is attached to the template; retry briefly.
        match sqlx::query(&format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""))
            .execute(&mut admin)
            .await
        {
            Ok(_) => break,
            Err(e) if attempts < 50 => {
                attempts += 1;
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot create test database: {e}"),
        }
    }
    admin.close().await.unwrap();
    with_database(admin_url, &name)
}

/// A fresh database on the engine under test.
pub async fn test_database() -> TestDatabase {
    match pg_admin_url() {
        Some(admin) => TestDatabase { url: fresh_postgres(&admin).await, _dir: None },
        None => {
            let dir = TempDir::new();
            let url = format!("sqlite://{}", dir.0.join("calseta.db").display());
            TestDatabase { url, _dir: Some(dir) }
        }
    }
}

/// A fixed encryption key for tests on PostgreSQL (where one is required).
pub const TEST_ENCRYPTION_KEY: &str = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktMzJieXQ=";

/// Settings for a test app: generous limits unless the test overrides them.
pub fn test_env(db_url: &str) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("DATABASE_URL", db_url),
        ("RATE_LIMIT_AUTHED_PER_MINUTE", "100000"),
        ("RATE_LIMIT_INGEST_PER_MINUTE", "100000"),
        ("RATE_LIMIT_UNAUTHED_PER_MINUTE", "100000"),
        ("JOB_LEASE_SECONDS", "2"),
        ("JOB_POLL_INTERVAL_MS", "200"),
        ("WORKER_SHUTDOWN_GRACE_SECONDS", "5"),
        ("DATABASE_POOL_SIZE", "4"),
        // The in-process server must re-execute the real binary, not this test harness.
        ("DOCUMENT_CONVERTER_BIN", env!("CARGO_BIN_EXE_calseta")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if db_url.starts_with("postgres") {
        env.insert("ENCRYPTION_KEY".into(), TEST_ENCRYPTION_KEY.into());
    }
    env
}

pub fn config_from(env: &HashMap<String, String>) -> Config {
    Config::from_lookup(&|name| env.get(name).cloned()).expect("valid test config")
}

/// A running server under test.
pub struct TestApp {
    pub base: String,
    /// `http://…` of the `MCP_PORT` listener, when the test asked for one.
    pub mcp_base: Option<String>,
    pub client: reqwest::Client,
    /// The bootstrap admin key.
    pub admin_key: String,
    pub db: Db,
    pub env: HashMap<String, String>,
    pub database: TestDatabase,
    running: Option<Running>,
}

pub struct AppOptions {
    pub env: Vec<(&'static str, String)>,
    pub run_worker: bool,
    pub jobs: Vec<(JobKind, Arc<dyn JobHandler>)>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self { env: Vec::new(), run_worker: true, jobs: Vec::new() }
    }
}

/// Starts the real server on port 0 with a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

/// Starts the real server whose outbound requests may reach loopback, where the tests' own
/// providers, agents and chat servers listen (the default refuses it, as in production).
pub async fn spawn_app_reaching_loopback() -> TestApp {
    spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into())],
        ..AppOptions::default()
    })
    .await
}

/// Starts the real server on port 0 with a fresh database and `options`.
pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    // The server's errors go to the test's captured output, shown when it fails (a 500's cause).
    let _ = tracing_subscriber::fmt().with_max_level(tracing::Level::ERROR).with_test_writer().try_init();
    let database = test_database().await;
    let mut env = test_env(&database.url);
    for (k, v) in options.env {
        env.insert(k.to_string(), v);
    }
    let config = config_from(&env);
    let running = app::start(
        &config,
        ServeOptions { bind: "127.0.0.1:0".into(), run_worker: options.run_worker, extra_jobs: options.jobs },
    )
    .await
    .expect("app starts");
    let admin_key = running.bootstrap_key.clone().expect("a new database issues a bootstrap key");
    TestApp {
        base: format!("http://{}", running.addr),
        mcp_base: running.mcp_addr.map(|a| format!("http://{a}")),
        client: reqwest::Client::new(),
        admin_key,
        db: running.db.clone(),
        env,
        database,
        running: Some(running),
    }
}

impl TestApp {
    /// The services the server runs.
    pub fn services(&self) -> std::sync::Arc<calseta_services::Services> {
        self.running.as_ref().expect("the server runs").services.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let resp = self.client.get(self.url(path)).bearer_auth(key).send().await.unwrap();
        status_json(resp).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        let resp = self.client.post(self.url(path)).bearer_auth(key).json(&body).send().await.unwrap();
        status_json(resp).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        let resp = self.client.patch(self.url(path)).bearer_auth(key).json(&body).send().await.unwrap();
        status_json(resp).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> (u16, Value) {
        let resp = self.client.delete(self.url(path)).bearer_auth(key).send().await.unwrap();
        status_json(resp).await
    }

    /// Creates a key with `scopes` through the API and returns the plain key.
    pub async fn key_with(&self, scopes: &[&str]) -> String {
        let (status, body) = self
            .post("/v1/api-keys", &self.admin_key, serde_json::json!({"name": "test", "scopes": scopes}))
            .await;
        assert_eq!(status, 201, "{body}");
        body["data"]["key"].as_str().unwrap().to_string()
    }

    /// Stops the server and worker gracefully.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(running) = &self.running {
            running.stop();
        }
    }
}

pub async fn status_json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Polls `check` until it returns `Some`, failing after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Runs `$body` with a direct connection `$conn` to the test database (outside the server), on
/// whichever engine the test runs.
macro_rules! with_direct_connection {
    ($app:expr, |$conn:ident| $body:expr) => {{
        if $app.database.url.starts_with("postgres") {
            let mut $conn = sqlx::PgConnection::connect(&$app.database.url).await.unwrap();
            $body
        } else {
            let mut $conn = sqlx::SqliteConnection::connect(&$app.database.url).await.unwrap();
            $body
        }
    }};
}

/// Runs one SQL statement on the test database from outside the server, to set up a state the
/// API cannot produce (e.g. a stored payload that no longer parses).
pub async fn exec_sql(app: &TestApp, sql: &str) {
    with_direct_connection!(app, |conn| {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    })
}

/// Makes the test database refuse, with `refused by the test`, every `event` (`INSERT`, `UPDATE`)
/// of a `table` row for which `condition` (on `NEW`) holds: a write the server cannot make.
pub async fn refuse_rows(app: &TestApp, name: &str, table: &str, event: &str, condition: &str) {
    if app.db.engine() == calseta_store::Engine::Postgres {
        let function = format!(
            "CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql"
        );
        exec_sql(app, &function).await;
        let trigger = format!(
            "CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW WHEN ({condition}) EXECUTE FUNCTION {name}()"
        );
        exec_sql(app, &trigger).await;
    } else {
        let trigger = format!(
            "CREATE TRIGGER {name} BEFORE {event} ON {table} WHEN {condition} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        );
        exec_sql(app, &trigger).await;
    }
}

/// One number read by SQL from the test database, from outside the server.
pub async fn query_i64(app: &TestApp, sql: &str) -> i64 {
    with_direct_connection!(app, |conn| sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap())
}

/// The text one SQL query answers, from outside the server.
pub async fn query_text(app: &TestApp, sql: &str) -> String {
    with_direct_connection!(app, |conn| sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap())
}

/// Runs one SQL statement binding `$1` to `at`, from outside the server (e.g. to age rows).
pub async fn exec_sql_at(app: &TestApp, sql: &str, at: chrono::DateTime<chrono::Utc>) {
    with_direct_connection!(app, |conn| {
        sqlx::query(sql).bind(at).execute(&mut conn).await.unwrap();
    })
}

/// Runs one SQL statement binding `times` as `$1`, `$2`, … (`None` binds NULL), from outside the
/// server: timestamps bound as the server binds them, so both engines compare them alike.
pub async fn exec_sql_times(app: &TestApp, sql: &str, times: &[Option<chrono::DateTime<chrono::Utc>>]) {
    with_direct_connection!(app, |conn| {
        let mut query = sqlx::query(sql);
        for time in times {
            query = query.bind(*time);
        }
        query.execute(&mut conn).await.unwrap();
    })
}

/// Starts a second process on the test database — API and worker — with `overrides` on top of
/// the test's environment (e.g. another key, retention on).
pub async fn start_worker_with(app: &TestApp, overrides: &[(&str, &str)]) -> Running {
    let mut env = app.env.clone();
    for (k, v) in overrides {
        env.insert(k.to_string(), v.to_string());
    }
    app::start(
        &config_from(&env),
        ServeOptions { bind: "127.0.0.1:0".into(), run_worker: true, extra_jobs: vec![] },
    )
    .await
    .expect("the second process starts")
}
