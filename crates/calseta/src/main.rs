//! `calseta`: the single binary — API server, worker and operations commands.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::process::ExitCode;

use calseta::app::{self, ServeOptions};
use calseta::config::{Config, LogFormat};
use calseta::logging;
use calseta_core::jobs::JobStatus;
use calseta_core::pagination::PageRequest;
use calseta_jobs::Worker;
use calseta_services::platform::crypto::EncryptionKey;
use calseta_services::resources::api_keys::{ApiKey, ApiKeyService, NewKeyRequest};
use calseta_services::resources::{bootstrap, jobs};
use calseta_services::{FieldError, ServiceError};
use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

#[derive(Parser)]
#[command(name = "calseta", version, about = "Calseta: the data layer for AI security agents")]
struct Cli {
    /// Database URL (overrides DATABASE_URL): sqlite://PATH or postgres://…
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Log level (overrides LOG_LEVEL): DEBUG, INFO, WARNING, ERROR
    #[arg(long, global = true)]
    log_level: Option<String>,
    /// Log format (overrides LOG_FORMAT): json or text
    #[arg(long, global = true)]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server with an in-process worker.
    Serve(ServeArgs),
    /// Seed sandbox mode's demo data into the database (what `serve --sandbox` does at start) and
    /// exit; the alerts are enriched by the next worker that runs.
    SeedSandbox,
    /// Run a worker only (scale-out on PostgreSQL).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Serve MCP on stdin/stdout for a local client (Claude Desktop, …), acting with the key in
    /// CALSETA_API_KEY on the server's DATABASE_URL. Logs go to stderr.
    McpStdio,
    /// Manage API keys.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Inspect background jobs and retry dead letters.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Encryption key utilities.
    #[command(subcommand)]
    EncryptionKey(EncryptionKeyCommand),
    /// Re-encrypt every stored secret with ENCRYPTION_KEY (decrypting with it or with
    /// ENCRYPTION_KEY_PREVIOUS); all or nothing.
    RotateEncryptionKey,
    /// Benchmark: start calseta on a fresh database (SQLite in a temporary directory, or the empty
    /// PostgreSQL database given by --database-url) and measure ingest, pipeline, reads, resources.
    Bench(BenchArgs),
    /// Internal: convert an uploaded document (stdin) to Markdown (stdout) under resource limits.
    #[command(hide = true)]
    ConvertDocument {
        /// md, txt, html, pdf or docx.
        #[arg(long)]
        format: String,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Listen address (overrides CALSETA_BIND; default 127.0.0.1:8000). Use 0.0.0.0:8000 to accept
    /// connections from other machines.
    #[arg(long)]
    bind: Option<String>,
    /// Serve the API only; run `calseta worker` processes for jobs.
    #[arg(long)]
    no_worker: bool,
    /// Sandbox mode: seed the demo (five enriched case-study alerts with their rules and
    /// documents, two public demo keys) with mock enrichment, no network needed.
    #[arg(long)]
    sandbox: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// Run `serve --no-worker` plus this many `calseta worker` processes (PostgreSQL only).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Fixture directories (searched recursively for SIEM payloads).
    #[arg(long, num_args = 1.., default_values_t = [String::from("../shared/fixtures"), String::from("crates/calseta/tests/fixtures")])]
    fixtures: Vec<String>,
    /// Small counts, for a smoke run.
    #[arg(long)]
    quick: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<String>,
    /// Measure only the console's pages (queue and alert detail, server-rendered, signed in) on
    /// a database filled with this many alerts, e.g. `--pages 100000`.
    #[arg(long)]
    pages: Option<usize>,
    /// Measure only extraction of 64 KB alerts (every decoder), in process, no server.
    #[arg(long)]
    extraction: bool,
    /// Measure only the hot queries (alert list, detail, past alerts, dedup) at 10,000 alerts and
    /// at this many, filled directly into a fresh database, e.g. `--scale 1000000`.
    #[arg(long)]
    scale: Option<u64>,
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create a key and print it once.
    Create {
        /// Label.
        #[arg(long)]
        name: String,
        /// Scopes (space or comma separated): alerts:read alerts:write enrichments:read workflows:read
        /// workflows:write workflows:execute approvals:write agents:read agents:write admin
        #[arg(long, required = true, num_args = 1.., value_delimiter = ',')]
        scopes: Vec<String>,
        /// human (default) or agent.
        #[arg(long, default_value = "human")]
        key_type: String,
        /// Restrict ingest to these sources.
        #[arg(long, num_args = 1.., value_delimiter = ',')]
        allowed_sources: Vec<String>,
        /// Expiry, ISO 8601 (UTC when no offset is given).
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List keys (active only unless --all).
    List {
        /// Include revoked keys.
        #[arg(long)]
        all: bool,
    },
    /// Revoke a key by its UUID.
    Revoke {
        /// The key's UUID.
        uuid: Uuid,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// queued, running, succeeded or dead.
        #[arg(long)]
        status: Option<String>,
        /// Queue name.
        #[arg(long)]
        queue: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Put a dead job back in its queue.
    Retry {
        /// The job's UUID.
        uuid: Uuid,
    },
}

#[derive(Subcommand)]
enum EncryptionKeyCommand {
    /// Print a new random ENCRYPTION_KEY.
    Generate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::ConvertDocument { format } = &cli.command {
        return convert_document(format);
    }
    if let Command::Bench(args) = cli.command {
        return bench(args, cli.database_url);
    }
    // A `.env` file fills in variables the environment does not set.
    let _ = dotenvy::dotenv();
    let mut overrides: HashMap<&'static str, String> = HashMap::new();
    for (name, value) in
        [("DATABASE_URL", &cli.database_url), ("LOG_LEVEL", &cli.log_level), ("LOG_FORMAT", &cli.log_format)]
    {
        if let Some(value) = value {
            overrides.insert(name, value.clone());
        }
    }
    if let Command::Serve(ServeArgs { bind: Some(bind), .. }) = &cli.command {
        overrides.insert("CALSETA_BIND", bind.clone());
    }
    if matches!(&cli.command, Command::Serve(ServeArgs { sandbox: true, .. }) | Command::SeedSandbox) {
        overrides.insert("SANDBOX_MODE", "true".into());
        overrides.insert("ENRICHMENT_MOCK_MODE", "true".into());
    }
    let lookup = |name: &str| overrides.get(name).cloned().or_else(|| std::env::var(name).ok());
    let config = match Config::from_lookup(&lookup) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("calseta: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("calseta: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("calseta: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> Result<(), String> {
    match command {
        Command::Serve(args) => {
            logging::init(config.log_level, config.log_format, "api", &config.app_version);
            let options = ServeOptions {
                bind: config.bind.clone(),
                run_worker: !args.no_worker,
                extra_jobs: Vec::new(),
            };
            // Listening for signals before the server starts: one sent as soon as it listens stops
            // it cleanly, after its start-up messages.
            let stopped = app::termination_signal();
            let running = app::start(&config, options).await.map_err(|e| e.to_string())?;
            if let Some(key) = &running.bootstrap_key {
                app::print_bootstrap_key(key);
            }
            if config.sandbox_mode {
                app::print_sandbox_banner(&running.addr.to_string());
            }
            stopped.await;
            tracing::info!("shutting down");
            running.shutdown().await;
            Ok(())
        }
        Command::McpStdio => {
            // stdout carries the MCP messages: every log line goes to stderr.
            logging::init_on(
                config.log_level,
                config.log_format,
                "mcp",
                &config.app_version,
                logging::Output::Stderr,
            );
            let api_key = std::env::var("CALSETA_API_KEY")
                .ok()
                .filter(|k| !k.trim().is_empty())
                .ok_or("CALSETA_API_KEY: set it to the API key the MCP client acts with")?;
            let (db, key) = app::open_for_service(&config).await.map_err(|e| e.to_string())?;
            let services = app::services(&config, &db, key).await.map_err(|e| e.to_string())?;
            let limits = config.api_settings().rate_limits;
            let served =
                calseta_mcp::stdio::serve(services, api_key.trim(), config.app_version.clone(), limits).await;
            db.close().await;
            served.map_err(|e| e.to_string())
        }
        Command::Worker => {
            logging::init(config.log_level, config.log_format, "worker", &config.app_version);
            let stopped = app::termination_signal();
            let (db, key) = app::open_for_service(&config).await.map_err(|e| e.to_string())?;
            let services = app::services(&config, &db, key).await.map_err(|e| e.to_string())?;
            let (stop, stop_rx) = tokio::sync::watch::channel(false);
            let worker = Worker::new(
                db.clone(),
                app::job_registry(&config, &services, Vec::new()),
                config.worker_config(),
            );
            let handle = tokio::spawn(worker.run(stop_rx));
            stopped.await;
            tracing::info!("shutting down");
            let _ = stop.send(true);
            let _ = handle.await;
            db.close().await;
            Ok(())
        }
        Command::SeedSandbox => {
            cli_logging(&config);
            let (db, key) = app::open_for_service(&config).await.map_err(|e| e.to_string())?;
            // Building the services seeds what every process expects, the sandbox included.
            let services = app::services(&config, &db, key).await.map_err(|e| e.to_string())?;
            drop(services);
            db.close().await;
            println!("sandbox seeded; `calseta serve --sandbox` serves and enriches it");
            Ok(())
        }
        Command::Migrate => {
            cli_logging(&config);
            let db = app::open_database(&config).await.map_err(|e| e.to_string())?;
            db.close().await;
            println!("migrations applied");
            Ok(())
        }
        Command::ApiKey(command) => {
            cli_logging(&config);
            let db = app::open_database(&config).await.map_err(|e| e.to_string())?;
            let keys = ApiKeyService::new(db.clone());
            let result = api_key_command(&keys, command).await;
            db.close().await;
            result
        }
        Command::Jobs(command) => {
            cli_logging(&config);
            let db = app::open_database(&config).await.map_err(|e| e.to_string())?;
            let result = jobs_command(&db, command).await;
            db.close().await;
            result
        }
        Command::ConvertDocument { .. } | Command::Bench(_) => Ok(()),
        Command::RotateEncryptionKey => {
            cli_logging(&config);
            let (db, key) = app::open_for_service(&config).await.map_err(|e| e.to_string())?;
            let done = calseta_services::resources::secrets::rotate(&db, &key).await.map_err(describe)?;
            println!(
                "re-encrypted {} secret(s); {} already used ENCRYPTION_KEY",
                done.rewritten, done.current
            );
            db.close().await;
            Ok(())
        }
        Command::EncryptionKey(EncryptionKeyCommand::Generate) => {
            println!("{}", EncryptionKey::generate().expose());
            Ok(())
        }
    }
}

fn cli_logging(config: &Config) {
    // Operations commands print their results on stdout; keep logs terse and on the same stream
    // only for warnings.
    let level = if config.log_level == "debug" { "debug" } else { "warn" };
    let format = if config.log_format == LogFormat::Json { LogFormat::Text } else { config.log_format };
    logging::init(level, format, "cli", &config.app_version);
}

fn describe(error: ServiceError) -> String {
    match error {
        ServiceError::Invalid(errors) => errors
            .iter()
            .map(|FieldError { loc, msg, .. }| format!("{}: {msg}", loc.last().cloned().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

fn print_key(key: &ApiKey) {
    println!("uuid:            {}", key.uuid);
    println!("name:            {}", key.name);
    println!("prefix:          {}", key.key_prefix);
    println!("scopes:          {}", key.scopes.join(" "));
    println!("key_type:        {}", key.key_type);
    println!("active:          {}", key.is_active);
    println!(
        "allowed_sources: {}",
        key.allowed_sources.as_ref().map(|s| s.join(" ")).unwrap_or_else(|| "any".into())
    );
    println!("expires_at:      {}", key.expires_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "never".into()));
}

async fn api_key_command(keys: &ApiKeyService, command: ApiKeyCommand) -> Result<(), String> {
    match command {
        ApiKeyCommand::Create { name, scopes, key_type, allowed_sources, expires_at } => {
            let expires_at = match expires_at {
                Some(text) => Some(
                    calseta_core::time::parse_timestamp(&text)
                        .ok_or_else(|| format!("--expires-at: '{text}' is not a valid datetime"))?,
                ),
                None => None,
            };
            let request = NewKeyRequest {
                name,
                scopes,
                key_type: Some(key_type),
                allowed_sources: (!allowed_sources.is_empty()).then_some(allowed_sources),
                expires_at,
            };
            let issued = bootstrap::issue_operator_key(keys, request).await.map_err(describe)?;
            print_key(&issued.key);
            println!();
            println!("key (shown once): {}", issued.plain);
            Ok(())
        }
        ApiKeyCommand::List { all } => {
            let mut page = PageRequest { page: 1, page_size: 500 };
            println!(
                "{:<36}  {:<8}  {:<6}  {:<6}  {:<24}  scopes",
                "uuid", "prefix", "type", "active", "name"
            );
            loop {
                let (batch, total) = keys.list(!all, page).await.map_err(describe)?;
                for key in &batch {
                    println!(
                        "{:<36}  {:<8}  {:<6}  {:<6}  {:<24}  {}",
                        key.uuid,
                        key.key_prefix,
                        key.key_type,
                        key.is_active,
                        key.name,
                        key.scopes.join(",")
                    );
                }
                if i64::from(page.page) * i64::from(page.page_size) >= total || batch.is_empty() {
                    break;
                }
                page.page += 1;
            }
            Ok(())
        }
        ApiKeyCommand::Revoke { uuid } => {
            let key = keys.revoke(uuid).await.map_err(describe)?;
            println!("revoked {} ({})", key.uuid, key.key_prefix);
            Ok(())
        }
    }
}

async fn jobs_command(db: &calseta_store::Db, command: JobsCommand) -> Result<(), String> {
    match command {
        JobsCommand::List { status, queue, limit } => {
            let status = status.map(|s| JobStatus::parse(&s)).transpose().map_err(|e| e.to_string())?;
            let page = PageRequest { page: 1, page_size: limit.clamp(1, 500) };
            let (rows, total) = jobs::list(db, status, queue.as_deref(), page).await.map_err(describe)?;
            println!(
                "{:<36}  {:<22}  {:<11}  {:<9}  {:<8}  last_error",
                "uuid", "kind", "queue", "status", "attempts"
            );
            for job in rows {
                println!(
                    "{:<36}  {:<22}  {:<11}  {:<9}  {:<8}  {}",
                    job.uuid,
                    job.kind,
                    job.queue,
                    job.status,
                    format!("{}/{}", job.attempts, job.max_attempts),
                    job.last_error.unwrap_or_default()
                );
            }
            println!("({total} in all)");
            Ok(())
        }
        JobsCommand::Retry { uuid } => {
            let job = jobs::retry_dead(db, uuid).await.map_err(describe)?;
            println!("requeued {} ({})", job.uuid, job.kind);
            Ok(())
        }
    }
}

/// `calseta bench`: its own runtime, no configuration of its own (it configures the servers it starts).
fn bench(args: BenchArgs, database_url: Option<String>) -> ExitCode {
    let options = calseta_bench::BenchOptions {
        database_url,
        workers: args.workers,
        fixtures: args.fixtures.into_iter().map(Into::into).collect(),
        quick: args.quick,
        json_out: args.json.map(Into::into),
        pages: args.pages,
        extraction_only: args.extraction,
        in_process: Some(std::sync::Arc::new(calseta::in_process::ServiceIngest)),
        scale: args.scale,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("calseta: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(calseta_bench::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("calseta bench: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The converter child: limits its own CPU time and address space, then parses an untrusted file.
fn convert_document(format: &str) -> ExitCode {
    use std::io::{Read, Write};
    const CPU_SECONDS: u64 = 15;
    const MEMORY_BYTES: u64 = 2 * 1024 * 1024 * 1024;
    if let Err(e) = rlimit::setrlimit(rlimit::Resource::CPU, CPU_SECONDS, CPU_SECONDS)
        .and_then(|()| rlimit::setrlimit(rlimit::Resource::AS, MEMORY_BYTES, MEMORY_BYTES))
    {
        eprintln!("cannot limit the converter: {e}");
        return ExitCode::from(3);
    }
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().take(64 * 1024 * 1024).read_to_end(&mut input) {
        eprintln!("cannot read the document: {e}");
        return ExitCode::from(3);
    }
    match calseta_services::resources::context_documents::convert::convert(format, &input) {
        Ok(markdown) => match std::io::stdout().write_all(markdown.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(3),
        },
        Err(reason) => {
            eprintln!("{reason}");
            ExitCode::from(3)
        }
    }
}
