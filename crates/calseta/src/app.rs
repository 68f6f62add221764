//! Wiring: connect and migrate the database, resolve the encryption key, issue the bootstrap key,
//! and run the HTTP server and/or the worker until told to stop.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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
        sqlite_group_commit: config.sqlite_group_commit,
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
    /// The services the server and its worker run.
    pub services: Arc<Services>,
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
    protect_configured_addresses(config, &services);
    services.seed().await?;
    Ok(services)
}

/// Registers what outbound requests must never reach before any listener is bound — the
/// configured `CALSETA_BIND` and `MCP_PORT` (all a worker-only process knows of the API's
/// listeners) and the PostgreSQL database's port; `start` adds the bound addresses.
fn protect_configured_addresses(config: &Config, services: &Services) {
    let own = services.own_listeners();
    let bind = configured_address(&config.bind);
    if let Some(bind) = bind {
        own.add_listener(bind);
    }
    if let Some(port) = config.mcp_port {
        let ip = bind.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |b| b.ip());
        own.add_listener(SocketAddr::new(ip, port));
    }
    for port in database_ports(&config.database_url) {
        own.add_database_port(port);
    }
}

/// `CALSETA_BIND` as an address; a host name stands for any address of this machine.
fn configured_address(bind: &str) -> Option<SocketAddr> {
    if let Ok(addr) = bind.parse::<SocketAddr>() {
        return Some(addr);
    }
    let (_, port) = bind.rsplit_once(':')?;
    Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port.parse().ok()?))
}

/// The TCP ports of a PostgreSQL `DATABASE_URL` (`?port=` wins, as for the driver; 5432 when
/// none is given; each host's of a `h1:p1,h2:p2` list), none for SQLite, which has no port.
fn database_ports(url: &str) -> Vec<u16> {
    const DEFAULT: u16 = 5432;
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Vec::new();
    }
    if let Ok(parsed) = reqwest::Url::parse(url) {
        let from_query = parsed.query_pairs().find(|(k, _)| k == "port").and_then(|(_, v)| v.parse().ok());
        return vec![from_query.or(parsed.port()).unwrap_or(DEFAULT)];
    }
    // A host list is no URL to the parser: read each host's port from the authority.
    let rest = url.split_once("://").map_or("", |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, hosts)| hosts);
    hosts
        .split(',')
        .map(|host| host.rsplit_once(':').and_then(|(_, port)| port.parse().ok()).unwrap_or(DEFAULT))
        .collect()
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
    // Known only now (port 0 picks one): outbound requests never reach this server itself.
    services.own_listeners().add_listener(addr);
    let (shutdown, shutdown_rx) = watch::channel(false);

    let state = calseta_api::AppState::new(services.clone(), config.api_settings());
    let limits = config.api_settings().rate_limits;
    let mcp = || calseta_mcp::http::router(services.clone(), config.app_version.clone(), limits);
    // Open console event streams end with the server, so a graceful shutdown does not wait on them.
    let console_settings =
        calseta_console::ConsoleSettings { shutdown: Some(shutdown_rx.clone()), ..config.console_settings() };
    let console = calseta_console::router(services.clone(), console_settings);
    let app = calseta_api::router_with(state.clone(), mcp(), console);
    let mut tasks = vec![serve_http(listener, app, shutdown_rx.clone())];
    let mut mcp_addr = None;
    if let Some(port) = config.mcp_port {
        let host = options.bind.rsplit_once(':').map(|(host, _)| host).unwrap_or("127.0.0.1");
        let mcp_bind = format!("{host}:{port}");
        let mcp_listener = tokio::net::TcpListener::bind(&mcp_bind)
            .await
            .map_err(|source| StartError::Bind { addr: mcp_bind.clone(), source })?;
        let bound =
            mcp_listener.local_addr().map_err(|source| StartError::Bind { addr: mcp_bind, source })?;
        services.own_listeners().add_listener(bound);
        mcp_addr = Some(bound);
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
        // Absent, not "None", without an MCP listener.
        mcp_addr = mcp_addr.map(|a| a.to_string()),
        engine = db.engine().as_str(),
        worker = options.run_worker,
        startup_ms = started.elapsed().as_millis() as u64,
        "calseta listening"
    );
    Ok(Running { addr, mcp_addr, bootstrap_key, db, services, shutdown, tasks })
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
    eprintln!(" Console: {base}/   (sign in with one click as the demo key)");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_ports_come_from_a_postgres_url_only() {
        assert_eq!(database_ports("sqlite://calseta.db"), Vec::<u16>::new());
        assert_eq!(database_ports("sqlite::memory:"), Vec::<u16>::new());
        assert_eq!(database_ports("postgres://u:p@127.0.0.1:5433/db"), [5433]);
        assert_eq!(database_ports("postgresql://u@localhost/db"), [5432]);
        assert_eq!(database_ports("postgres://u@localhost/db?port=6432"), [6432]);
        assert_eq!(database_ports("postgres://u:p@h1:5433,h2,h3:5434/db?x=1"), [5433, 5432, 5434]);
    }

    #[test]
    fn the_configured_bind_is_an_address_or_a_port_on_any() {
        assert_eq!(configured_address("127.0.0.1:8000"), Some("127.0.0.1:8000".parse().unwrap()));
        assert_eq!(configured_address("[::1]:8000"), Some("[::1]:8000".parse().unwrap()));
        assert_eq!(configured_address("localhost:8000"), Some("0.0.0.0:8000".parse().unwrap()));
        assert_eq!(configured_address("nonsense"), None);
    }
}
