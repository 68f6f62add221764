//! Wiring: connect and migrate the database, resolve the encryption key, issue the bootstrap key,
//! and run the HTTP server and/or the worker until told to stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use calseta_jobs::{JobHandler, JobKind, JobRegistry, Worker};
use calseta_services::platform::crypto::{self, EncryptionKey, KeySource};
use calseta_services::resources::bootstrap;
use calseta_services::{ServiceError, Services};
use calseta_store::{Db, DbOptions, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;

/// Why the process could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database connection or migration.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Configuration or key handling.
    #[error("{0}")]
    Service(#[from] ServiceError),
    /// The listen address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Connects to the configured database.
pub async fn connect_database(config: &Config) -> Result<Db, StartError> {
    let options = DbOptions {
        url: config.database_url.clone(),
        max_connections: config.database_pool_size,
        sqlite_synchronous_full: config.sqlite_synchronous_full,
    };
    Ok(Db::connect(&options).await?)
}

/// Connects to and migrates the configured database (operations commands).
pub async fn open_database(config: &Config) -> Result<Db, StartError> {
    let db = connect_database(config).await?;
    db.migrate().await?;
    Ok(db)
}

/// Connects, checks the encryption key — before touching the schema, so a misconfigured process
/// changes nothing — then migrates.
pub async fn open_for_service(config: &Config) -> Result<(Db, EncryptionKey), StartError> {
    let db = connect_database(config).await?;
    let key = encryption_key(config, &db)?;
    db.migrate().await?;
    Ok((db, key))
}

/// Resolves `ENCRYPTION_KEY` (generating a key file on SQLite) and logs where it came from.
pub fn encryption_key(config: &Config, db: &Db) -> Result<EncryptionKey, StartError> {
    let (key, source) = crypto::resolve(config.encryption_key.as_deref(), db.engine(), db.sqlite_path())?;
    let previous = config
        .encryption_key_previous
        .iter()
        .map(|text| {
            EncryptionKey::parse(text).map_err(|_| {
                ServiceError::Config("ENCRYPTION_KEY_PREVIOUS must hold Fernet keys, comma-separated".into())
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let key = key.with_previous(previous);
    if key.has_previous() {
        tracing::info!(
            "ENCRYPTION_KEY_PREVIOUS set: old secrets still decrypt; run `calseta rotate-encryption-key`"
        );
    }
    match source {
        KeySource::Configured => tracing::info!("encryption key from ENCRYPTION_KEY"),
        KeySource::KeyFile(path) => tracing::info!(path = %path.display(), "encryption key from key file"),
        KeySource::Generated(path) => {
            tracing::warn!(path = %path.display(), "generated a new encryption key file (mode 0600); back it up with the database")
        }
        KeySource::Ephemeral => tracing::warn!("in-memory database: using a throw-away encryption key"),
    }
    Ok(key)
}

/// What `serve` runs.
pub struct ServeOptions {
    /// Listen address, e.g. `127.0.0.1:8000` (port 0 picks a free port).
    pub bind: String,
    /// Run the in-process worker.
    pub run_worker: bool,
    /// Extra job handlers (tests register their own kinds).
    pub extra_jobs: Vec<(JobKind, Arc<dyn JobHandler>)>,
}

/// A started server.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The `MCP_PORT` listener's address, when one was asked for.
    pub mcp_addr: Option<SocketAddr>,
    /// The bootstrap admin key, when this start issued it.
    pub bootstrap_key: Option<String>,
    /// The database.
    pub db: Db,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Asks the server and worker to stop (graceful).
    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Waits until the server and worker have stopped, then closes the database.
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        self.db.close().await;
    }

    /// Stops and waits.
    pub async fn shutdown(self) {
        self.stop();
        self.wait().await;
    }
}

/// Builds the services and seeds what every process expects to find (system mappings, builtin
/// providers and their field extractions).
pub async fn services(config: &Config, db: &Db, key: EncryptionKey) -> Result<Arc<Services>, StartError> {
    let services = Arc::new(config.services(db.clone(), key)?);
    services.seed().await?;
    Ok(services)
}

/// The job handlers of this build: the services' pipeline and maintenance kinds, plus `extra`
/// (tests register their own kinds).
pub fn job_registry(
    config: &Config,
    services: &Services,
    extra: Vec<(JobKind, Arc<dyn JobHandler>)>,
) -> JobRegistry {
    let mut registry = services.job_registry(config.job_retention);
    for (kind, handler) in extra {
        registry.register(kind, handler);
    }
    registry
}

/// Starts the API server (and the worker unless disabled).
pub async fn start(config: &Config, options: ServeOptions) -> Result<Running, StartError> {
    let started = Instant::now();
    let (db, key) = open_for_service(config).await?;
    let services = services(config, &db, key).await?;
    let bootstrap_key = bootstrap::issue_bootstrap_key_once(&services.keys).await?.map(|issued| issued.plain);

    let listener = tokio::net::TcpListener::bind(&options.bind)
        .await
        .map_err(|source| StartError::Bind { addr: options.bind.clone(), source })?;
    let addr =
        listener.local_addr().map_err(|source| StartError::Bind { addr: options.bind.clone(), source })?;
    let (shutdown, shutdown_rx) = watch::channel(false);

    let state = calseta_api::AppState::new(services.clone(), config.api_settings());
    let limits = config.api_settings().rate_limits;
    let mcp = || calseta_mcp::http::router(services.clone(), config.app_version.clone(), limits);
    let app = calseta_api::router(state.clone(), mcp());
    let mut tasks = vec![serve_http(listener, app, shutdown_rx.clone())];
    let mut mcp_addr = None;
    if let Some(port) = config.mcp_port {
        let host = options.bind.rsplit_once(':').map(|(host, _)| host).unwrap_or("127.0.0.1");
        let mcp_bind = format!("{host}:{port}");
        let mcp_listener = tokio::net::TcpListener::bind(&mcp_bind)
            .await
            .map_err(|source| StartError::Bind { addr: mcp_bind.clone(), source })?;
        mcp_addr =
            Some(mcp_listener.local_addr().map_err(|source| StartError::Bind { addr: mcp_bind, source })?);
        tasks.push(serve_http(mcp_listener, calseta_api::mcp_only_router(state, mcp()), shutdown_rx.clone()));
    }
    if options.run_worker {
        let worker = Worker::new(
            db.clone(),
            job_registry(config, &services, options.extra_jobs),
            config.worker_config(),
        );
        tasks.push(tokio::spawn(worker.run(shutdown_rx)));
    }
    tracing::info!(
        addr = %addr,
        mcp_addr = ?mcp_addr,
        engine = ?db.engine(),
        worker = options.run_worker,
        startup_ms = started.elapsed().as_millis() as u64,
        "calseta listening"
    );
    Ok(Running { addr, mcp_addr, bootstrap_key, db, shutdown, tasks })
}

/// Serves `app` on `listener` until `shutdown` turns true.
fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let stopped = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    })
}

/// Listens for SIGTERM and SIGINT from the moment it is called (so a signal that arrives while
/// the server is still printing its start-up messages is a clean stop, not the default kill); the
/// future resolves at the first one.
pub fn termination_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(term) => {}
                _ = wait(interrupt) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Tells a newcomer how to use sandbox mode at `bind`, the address it listens on (and warns when it listens beyond this machine: its
/// demo keys are public).
pub fn print_sandbox_banner(bind: &str) {
    use calseta_services::demo::{DEMO_LAB_KEY, DEMO_READ_KEY};
    let base = format!("http://{}", bind.replace("0.0.0.0", "127.0.0.1"));
    eprintln!();
    eprintln!("================================================================================");
    eprintln!(" Calseta sandbox: five case-study alerts, enriched with mock providers, with their");
    eprintln!(" detection rules and runbooks. Demo keys (public — never use them in production):");
    eprintln!();
    eprintln!("     read-only:    {DEMO_READ_KEY}");
    eprintln!("     full access:  {DEMO_LAB_KEY}");
    eprintln!();
    eprintln!(" Try:  curl -s -H 'Authorization: Bearer {DEMO_READ_KEY}' {base}/v1/alerts");
    eprintln!(" MCP:  {base}/mcp  with  Authorization: Bearer {DEMO_LAB_KEY}  (docs/mcp.md)");
    eprintln!(" API reference: {base}/docs    Metrics: {base}/v1/metrics/summary");
    eprintln!(" The sandbox resets itself every day after midnight UTC.");
    eprintln!("================================================================================");
    eprintln!();
    if !(bind.starts_with("127.") || bind.starts_with("localhost") || bind.starts_with("[::1]")) {
        tracing::warn!(%bind, "sandbox mode listens beyond this machine: its demo keys are public");
    }
}

/// Prints the bootstrap key on stderr, outside the log stream.
pub fn print_bootstrap_key(key: &str) {
    eprintln!();
    eprintln!("================================================================================");
    eprintln!(" Calseta bootstrap admin API key (shown once — store it now):");
    eprintln!();
    eprintln!("     {key}");
    eprintln!();
    eprintln!(" Use it as:  Authorization: Bearer {key}");
    eprintln!(" Create narrower keys with POST /v1/api-keys or `calseta api-key create`.");
    eprintln!("================================================================================");
    eprintln!();
}
