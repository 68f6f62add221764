//! Configuration from the environment (and `.env`), using Calseta v1's variable names where they
//! exist. Every problem is reported at startup, all at once, with the variable's name.

mod summary;

use std::fmt;
use std::time::Duration;

use summary::Summary;

/// `LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// NDJSON, one object per line.
    Json,
    /// Human-readable lines.
    Text,
}

/// The builtin enrichment providers (their base URLs can be overridden).
const BUILTIN_PROVIDERS: [&str; 7] =
    ["virustotal", "abuseipdb", "okta", "entra", "internal_ip_intel", "hr_insider_risk", "asset_management"];

/// All settings of a process.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (default `sqlite://calseta.db`; `sqlite://calseta-sandbox.db` in sandbox mode).
    pub database_url: String,
    /// `DATABASE_POOL_SIZE` (default 16).
    pub database_pool_size: u32,
    /// `SQLITE_SYNCHRONOUS` = `FULL` (default) or `NORMAL`.
    pub sqlite_synchronous_full: bool,
    /// `SQLITE_GROUP_COMMIT_MS` (1 to 1,000, default 4): how long a SQLite group commit waits for writes.
    pub sqlite_group_commit: Duration,
    /// `CALSETA_BIND` (default `127.0.0.1:8000`).
    pub bind: String,
    /// `MCP_PORT`: a second listener, on `CALSETA_BIND`'s host, serving MCP only (it is always
    /// served at `/mcp` on the API port too). `0` picks a free port.
    pub mcp_port: Option<u16>,
    /// `APP_VERSION` (default: this build's version).
    pub app_version: String,
    /// `LOG_LEVEL` as a tracing filter directive.
    pub log_level: &'static str,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `QUEUE_CONCURRENCY` (default 10; at least 2, so enrichment keeps a slot next to deliveries).
    pub queue_concurrency: usize,
    /// `QUEUE_DISPATCH_SLOTS` (default half of `QUEUE_CONCURRENCY`, at most all but one): slots
    /// deliveries may hold, so agents that hang cannot stall enrichment.
    pub queue_dispatch_slots: usize,
    /// `AGENT_MAX_CONCURRENT_DELIVERIES` (default: all dispatch slots but one, at least 1):
    /// deliveries to one agent at once in one process.
    pub agent_max_concurrent_deliveries: usize,
    /// `JOB_LEASE_SECONDS` (default 30).
    pub job_lease: Duration,
    /// `JOB_POLL_INTERVAL_MS` (default 1000): safety-net poll.
    pub job_poll_interval: Duration,
    /// `WORKER_SHUTDOWN_GRACE_SECONDS` (default 25).
    pub worker_shutdown_grace: Duration,
    /// `JOB_RETENTION_HOURS` (default 24): succeeded jobs kept this long.
    pub job_retention: Duration,
    /// `ENCRYPTION_KEY`.
    pub encryption_key: Option<String>,
    /// `ENCRYPTION_KEY_PREVIOUS`: keys (comma-separated) that still decrypt, until
    /// `calseta rotate-encryption-key` has re-encrypted every secret with `ENCRYPTION_KEY`.
    pub encryption_key_previous: Vec<String>,
    /// `ALERT_DEDUP_WINDOW_HOURS` (24; 0 disables dedup).
    pub alert_dedup_window_hours: u32,
    /// `QUEUE_MAX_RETRIES` (3): attempts of an `enrich_alert` job.
    pub queue_max_retries: u32,
    /// `QUEUE_RETRY_BACKOFF_SECONDS` (60): first back-off of `enrich_alert`, doubled per retry.
    pub queue_retry_backoff: Duration,
    /// `DOCUMENT_CONVERTER_BIN`: the `calseta` binary that converts uploads (default: this one).
    pub document_converter: std::path::PathBuf,
    /// The workflow sandbox: `WORKFLOW_PYTHON` (default: `/usr/bin/python3`, else the first
    /// `python3` on `PATH`), `WORKFLOW_UID`/`WORKFLOW_GID`, `WORKFLOW_ALLOW_DEGRADED`,
    /// `WORKFLOW_MAX_CONCURRENT_RUNS`.
    pub workflow_sandbox: calseta_services::platform::workflow_runtime::SandboxOptions,
    /// `WORKFLOW_MAX_MEMORY_MB` (256), `WORKFLOW_SECRETS_FROM_ENV`, and the Okta
    /// (`OKTA_DOMAIN`, `OKTA_API_TOKEN`, `OKTA_BASE_URL`) and Entra (`ENTRA_TENANT_ID`,
    /// `ENTRA_CLIENT_ID`, `ENTRA_CLIENT_SECRET`, `ENTRA_LOGIN_BASE_URL`, `ENTRA_GRAPH_BASE_URL`)
    /// integrations.
    pub workflows: calseta_services::pipeline::respond::host::WorkflowSettings,
    /// The approval gate: `APPROVAL_NOTIFIER` (`none`, `slack`, `teams`), `CALSETA_BASE_URL`,
    /// `APPROVAL_DEFAULT_CHANNEL`, `APPROVAL_DEFAULT_TIMEOUT_SECONDS`, `APPROVAL_SWEEP_INTERVAL_SECONDS`,
    /// `SLACK_BOT_TOKEN`, `SLACK_SIGNING_SECRET`, `SLACK_API_BASE_URL`, `TEAMS_WEBHOOK_URL`.
    pub approvals: calseta_services::pipeline::respond::notify::ApprovalSettings,
    /// `AGENT_RETRY_BASE_SECONDS` (10): first wait before re-delivering a webhook (×3 per retry).
    pub agent_retry_base: Duration,
    /// `CALSETA_API_BASE_URL` (`http://localhost:8000`): copied into agent payloads.
    pub api_base_url: String,
    /// `ENRICHMENT_MOCK_MODE` (false): providers with mock responses answer without HTTP.
    pub enrichment_mock_mode: bool,
    /// `SANDBOX_MODE` (false): seed the demo (rules, documents, alerts, public keys) and reset it
    /// daily; `serve --sandbox` sets it with `ENRICHMENT_MOCK_MODE`.
    pub sandbox_mode: bool,
    /// `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`, `ANTHROPIC_MODEL`: the workflow generator.
    pub workflow_generator: Option<calseta_services::resources::workflow_generator::GeneratorSettings>,
    /// `ENRICHMENT_ALERT_DEADLINE_SECONDS` (60): an alert's enrichment run reports after this.
    pub enrichment_alert_deadline: Duration,
    /// `SSRF_ALLOWED_HOSTS`: hosts (`host`: every port; `host:port`: that port) that outbound
    /// requests may reach on private addresses.
    pub ssrf_allowed_hosts: Vec<calseta_services::platform::outbound::AllowedHost>,
    /// `CALSETA_PROVIDER_BASE_URL_<NAME>` for the builtin providers.
    pub provider_base_urls: std::collections::HashMap<String, String>,
    /// `SENTINEL_WEBHOOK_SECRET`, `ELASTIC_WEBHOOK_SECRET`, `SPLUNK_WEBHOOK_SECRET` by source name.
    pub webhook_secrets: std::collections::HashMap<String, String>,
    /// `RATE_LIMIT_AUTHED_PER_MINUTE` (600).
    pub rate_limit_authed: u32,
    /// `RATE_LIMIT_INGEST_PER_MINUTE` (100).
    pub rate_limit_ingest: u32,
    /// `RATE_LIMIT_ENRICHMENT_PER_MINUTE` (60).
    pub rate_limit_enrichment: u32,
    /// `RATE_LIMIT_WORKFLOW_EXECUTE_PER_MINUTE` (30).
    pub rate_limit_workflow_execute: u32,
    /// `RATE_LIMIT_UNAUTHED_PER_MINUTE` (30): failed authentications per client IP.
    pub rate_limit_unauthed: u32,
    /// `TRUSTED_PROXY_COUNT` (0).
    pub trusted_proxy_count: usize,
    /// `METRICS_TOKEN`: bearer token for `/metrics` (open when unset).
    pub metrics_token: Option<String>,
    /// `HTTPS_ENABLED` (false).
    pub https_enabled: bool,
    /// `CONSOLE_SESSION_IDLE_MINUTES` (60): a console session without a request for this long
    /// ends (sessions also end 12 hours after sign-in).
    pub console_session_idle_minutes: u32,
    /// `CONSOLE_SSE_MAX_CONNECTIONS` (256): open console event streams per process.
    pub console_sse_max_connections: usize,
    /// `CONSOLE_SSE_HEARTBEAT_SECONDS` (15): the heartbeat of console event streams.
    pub console_sse_heartbeat_seconds: u64,
    /// `CONSOLE_SSE_GAP_GRACE_MS` (5000): how long the live feed waits for an activity id that is
    /// not yet visible (PostgreSQL commits ids out of order) before moving past it.
    pub console_sse_gap_grace_ms: u64,
    /// `CONSOLE_SSE_POLL_MS` (1000): how often the live feed reads the activity log when nothing
    /// woke it (processes sharing a SQLite file learn of each other's events this way).
    pub console_sse_poll_ms: u64,
    /// `SECURITY_HEADER_HSTS_ENABLED` (true).
    pub hsts_enabled: bool,
    /// `CORS_ALLOWED_ORIGINS` (comma list).
    pub cors_allowed_origins: Vec<String>,
    /// `CORS_ALLOW_ALL_ORIGINS` (false).
    pub cors_allow_all: bool,
    /// `MAX_REQUEST_BODY_SIZE_MB` (10).
    pub max_request_body_mb: usize,
    /// `MAX_INGEST_PAYLOAD_SIZE_MB` (5).
    pub max_ingest_payload_mb: usize,
    /// `REQUEST_BODY_TIMEOUT_SECONDS` (30): how long reading one request's body may take.
    pub request_body_timeout: Duration,
    /// `RETENTION_CLOSED_ALERT_DAYS`, `RETENTION_ACTIVITY_DAYS`, `RETENTION_AGENT_RUN_DAYS`,
    /// `RETENTION_DEAD_JOB_DAYS` (0 = keep forever, the default).
    pub retention: calseta_services::resources::retention::RetentionSettings,
}

/// Invalid settings, all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

/// How workflows run: memory, secrets from the environment, and the identity integrations.
fn workflow_settings(r: &mut Reader<'_>) -> calseta_services::pipeline::respond::host::WorkflowSettings {
    use calseta_services::pipeline::respond::host::{EntraSettings, OktaSettings, WorkflowSettings};
    let okta = match (r.raw("OKTA_DOMAIN"), r.raw("OKTA_API_TOKEN")) {
        (Some(domain), Some(token)) => Some(OktaSettings {
            base_url: r.raw("OKTA_BASE_URL").unwrap_or_else(|| format!("https://{domain}")),
            token,
        }),
        _ => None,
    };
    let entra = match (r.raw("ENTRA_TENANT_ID"), r.raw("ENTRA_CLIENT_ID"), r.raw("ENTRA_CLIENT_SECRET")) {
        (Some(tenant_id), Some(client_id), Some(client_secret)) => Some(EntraSettings {
            tenant_id,
            client_id,
            client_secret,
            login_base_url: r.string("ENTRA_LOGIN_BASE_URL", "https://login.microsoftonline.com"),
            graph_base_url: r.string("ENTRA_GRAPH_BASE_URL", "https://graph.microsoft.com"),
        }),
        _ => None,
    };
    WorkflowSettings {
        max_memory_mb: r.number("WORKFLOW_MAX_MEMORY_MB", 256u64, 64),
        secrets_from_env: r
            .raw("WORKFLOW_SECRETS_FROM_ENV")
            .map(|list| {
                list.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).collect()
            })
            .unwrap_or_default(),
        okta,
        entra,
    }
}

/// `SSRF_ALLOWED_HOSTS`: comma-separated `host`, `host:port`, `[v6]` or `[v6]:port` entries; each
/// one that does not parse is reported.
fn ssrf_allowed_hosts(r: &mut Reader<'_>) -> Vec<calseta_services::platform::outbound::AllowedHost> {
    use calseta_services::platform::outbound::AllowedHost;
    let list = r.string("SSRF_ALLOWED_HOSTS", "");
    let mut hosts = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match AllowedHost::parse(entry) {
            Ok(host) => hosts.push(host),
            Err(why) => {
                r.problems.push(format!("SSRF_ALLOWED_HOSTS: '{entry}' is not a host or host:port ({why})"))
            }
        }
    }
    hosts
}

/// How approvers are told and answer. The Slack notifier needs its bot token and its signing
/// secret (without the secret nobody could tell Slack's callbacks from forged ones); Teams needs
/// its webhook.
fn approval_settings(r: &mut Reader<'_>) -> calseta_services::pipeline::respond::notify::ApprovalSettings {
    use calseta_services::pipeline::respond::notify::{ApprovalSettings, NotifierKind};
    let defaults = ApprovalSettings::default();
    let notifier = r.choice(
        "APPROVAL_NOTIFIER",
        NotifierKind::None,
        &[("none", NotifierKind::None), ("slack", NotifierKind::Slack), ("teams", NotifierKind::Teams)],
    );
    let settings = ApprovalSettings {
        notifier,
        base_url: r.string("CALSETA_BASE_URL", &defaults.base_url),
        default_channel: r.string("APPROVAL_DEFAULT_CHANNEL", ""),
        default_timeout_seconds: r.number("APPROVAL_DEFAULT_TIMEOUT_SECONDS", 3600u32, 60),
        slack_bot_token: r.string("SLACK_BOT_TOKEN", ""),
        slack_signing_secret: r.raw("SLACK_SIGNING_SECRET"),
        slack_api_base_url: r.string("SLACK_API_BASE_URL", &defaults.slack_api_base_url),
        teams_webhook_url: r.string("TEAMS_WEBHOOK_URL", ""),
        sweep_every: Duration::from_secs(r.number("APPROVAL_SWEEP_INTERVAL_SECONDS", 30u64, 1)),
    };
    if notifier == NotifierKind::Slack && settings.slack_signing_secret.is_none() {
        r.problems.push(
            "SLACK_SIGNING_SECRET: required when APPROVAL_NOTIFIER=slack (Slack's approval callbacks are verified with it)"
                .into(),
        );
    }
    if notifier == NotifierKind::Slack && settings.slack_bot_token.is_empty() {
        r.problems.push("SLACK_BOT_TOKEN: required when APPROVAL_NOTIFIER=slack".into());
    }
    if notifier == NotifierKind::Teams && settings.teams_webhook_url.is_empty() {
        r.problems.push("TEAMS_WEBHOOK_URL: required when APPROVAL_NOTIFIER=teams".into());
    }
    settings
}

impl Reader<'_> {
    fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn string(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or_else(|| default.to_string())
    }

    fn group_commit_window(&mut self) -> Duration {
        let ms = self.number("SQLITE_GROUP_COMMIT_MS", 4u64, 1);
        let too_long = (ms > 1000).then(|| format!("SQLITE_GROUP_COMMIT_MS: '{ms}' is more than 1000"));
        self.problems.extend(too_long);
        Duration::from_millis(ms.min(1000))
    }

    fn number<T>(&mut self, name: &str, default: T, min: T) -> T
    where
        T: std::str::FromStr + Copy + PartialOrd + fmt::Display,
    {
        match self.raw(name) {
            None => default,
            Some(text) => match text.parse::<T>() {
                Ok(v) if v >= min => v,
                _ => {
                    self.problems.push(format!("{name}: '{text}' is not a whole number ≥ {min}"));
                    default
                }
            },
        }
    }

    fn boolean(&mut self, name: &str, default: bool) -> bool {
        match self.raw(name) {
            None => default,
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    self.problems.push(format!("{name}: '{text}' is not a boolean (true/false)"));
                    default
                }
            },
        }
    }

    fn choice<T: Copy>(&mut self, name: &str, default: T, options: &[(&str, T)]) -> T {
        match self.raw(name) {
            None => default,
            Some(text) => match options.iter().find(|(key, _)| key.eq_ignore_ascii_case(&text)) {
                Some((_, value)) => *value,
                None => {
                    let names: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
                    self.problems.push(format!("{name}: '{text}' is not one of {}", names.join(", ")));
                    default
                }
            },
        }
    }
}

impl Config {
    /// Reads every setting through `lookup` (the process environment in production).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut r = Reader { lookup, problems: Vec::new() };
        let log_level = r.choice(
            "LOG_LEVEL",
            "info",
            &[
                ("DEBUG", "debug"),
                ("INFO", "info"),
                ("WARNING", "warn"),
                ("WARN", "warn"),
                ("ERROR", "error"),
                ("CRITICAL", "error"),
            ],
        );
        let log_format =
            r.choice("LOG_FORMAT", LogFormat::Json, &[("json", LogFormat::Json), ("text", LogFormat::Text)]);
        // Calseta v1 names its queue backends; ours is always the database, which v1 calls `postgres`.
        r.choice("QUEUE_BACKEND", (), &[("postgres", ()), ("database", ())]);
        r.choice("CACHE_BACKEND", (), &[("memory", ())]);
        let sqlite_synchronous_full =
            r.choice("SQLITE_SYNCHRONOUS", true, &[("FULL", true), ("NORMAL", false)]);
        // One slot for enrichment and one for deliveries at the least.
        let queue_concurrency = r.number("QUEUE_CONCURRENCY", 10usize, 1).max(2);
        let sandbox_mode = r.boolean("SANDBOX_MODE", false);
        let queue_dispatch_slots =
            r.number("QUEUE_DISPATCH_SLOTS", queue_concurrency / 2, 1).min(queue_concurrency - 1);
        let config = Config {
            // The sandbox keeps its own file, so a later real start never opens its public keys.
            database_url: r.string(
                "DATABASE_URL",
                if sandbox_mode { "sqlite://calseta-sandbox.db" } else { "sqlite://calseta.db" },
            ),
            database_pool_size: r.number("DATABASE_POOL_SIZE", 16u32, 1),
            sqlite_synchronous_full,
            sqlite_group_commit: r.group_commit_window(),
            bind: r.string("CALSETA_BIND", "127.0.0.1:8000"),
            mcp_port: r.raw("MCP_PORT").is_some().then(|| r.number("MCP_PORT", 0u16, 0)),
            app_version: r.string("APP_VERSION", env!("CARGO_PKG_VERSION")),
            log_level,
            log_format,
            queue_concurrency,
            queue_dispatch_slots,
            agent_max_concurrent_deliveries: r.number(
                "AGENT_MAX_CONCURRENT_DELIVERIES",
                queue_dispatch_slots.saturating_sub(1).max(1),
                1,
            ),
            job_lease: Duration::from_secs(r.number("JOB_LEASE_SECONDS", 30u64, 1)),
            job_poll_interval: Duration::from_millis(r.number("JOB_POLL_INTERVAL_MS", 1000u64, 10)),
            worker_shutdown_grace: Duration::from_secs(r.number("WORKER_SHUTDOWN_GRACE_SECONDS", 25u64, 0)),
            job_retention: Duration::from_secs(r.number("JOB_RETENTION_HOURS", 24u64, 0) * 3600),
            encryption_key: r.raw("ENCRYPTION_KEY"),
            encryption_key_previous: r
                .raw("ENCRYPTION_KEY_PREVIOUS")
                .map(|v| v.split(',').map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect())
                .unwrap_or_default(),
            alert_dedup_window_hours: r.number("ALERT_DEDUP_WINDOW_HOURS", 24u32, 0),
            queue_max_retries: r.number("QUEUE_MAX_RETRIES", 3u32, 1),
            queue_retry_backoff: Duration::from_secs(r.number("QUEUE_RETRY_BACKOFF_SECONDS", 60u64, 0)),
            api_base_url: r.string("CALSETA_API_BASE_URL", "http://localhost:8000"),
            agent_retry_base: Duration::from_secs(r.number("AGENT_RETRY_BASE_SECONDS", 10u64, 1)),
            document_converter: r
                .raw("DOCUMENT_CONVERTER_BIN")
                .map(std::path::PathBuf::from)
                .or_else(|| std::env::current_exe().ok())
                .unwrap_or_else(|| std::path::PathBuf::from("calseta")),
            workflow_sandbox: calseta_services::platform::workflow_runtime::SandboxOptions {
                python: r.raw("WORKFLOW_PYTHON").map(std::path::PathBuf::from),
                user: r.raw("WORKFLOW_UID"),
                group: r.raw("WORKFLOW_GID"),
                allow_degraded: r.boolean("WORKFLOW_ALLOW_DEGRADED", false),
                max_concurrent_runs: r.number("WORKFLOW_MAX_CONCURRENT_RUNS", 4usize, 1),
            },
            workflows: workflow_settings(&mut r),
            approvals: approval_settings(&mut r),
            // Sandbox mode never calls real providers: its alerts are enriched by the mocks.
            enrichment_mock_mode: r.boolean("ENRICHMENT_MOCK_MODE", false) || sandbox_mode,
            sandbox_mode,
            workflow_generator: r.raw("ANTHROPIC_API_KEY").map(|api_key| {
                calseta_services::resources::workflow_generator::GeneratorSettings {
                    api_key,
                    base_url: r.string("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
                    model: r.string("ANTHROPIC_MODEL", "claude-sonnet-4-6"),
                }
            }),
            enrichment_alert_deadline: Duration::from_secs(r.number(
                "ENRICHMENT_ALERT_DEADLINE_SECONDS",
                60u64,
                1,
            )),
            ssrf_allowed_hosts: ssrf_allowed_hosts(&mut r),
            provider_base_urls: BUILTIN_PROVIDERS
                .iter()
                .filter_map(|name| {
                    r.raw(&format!("CALSETA_PROVIDER_BASE_URL_{}", name.to_uppercase()))
                        .map(|url| (name.to_string(), url))
                })
                .collect(),
            webhook_secrets: [
                ("sentinel", "SENTINEL_WEBHOOK_SECRET"),
                ("elastic", "ELASTIC_WEBHOOK_SECRET"),
                ("splunk", "SPLUNK_WEBHOOK_SECRET"),
            ]
            .into_iter()
            .filter_map(|(source, var)| r.raw(var).map(|secret| (source.to_string(), secret)))
            .collect(),
            rate_limit_authed: r.number("RATE_LIMIT_AUTHED_PER_MINUTE", 600u32, 0),
            rate_limit_ingest: r.number("RATE_LIMIT_INGEST_PER_MINUTE", 100u32, 0),
            rate_limit_enrichment: r.number("RATE_LIMIT_ENRICHMENT_PER_MINUTE", 60u32, 0),
            rate_limit_workflow_execute: r.number("RATE_LIMIT_WORKFLOW_EXECUTE_PER_MINUTE", 30u32, 0),
            rate_limit_unauthed: r.number("RATE_LIMIT_UNAUTHED_PER_MINUTE", 30u32, 0),
            trusted_proxy_count: r.number("TRUSTED_PROXY_COUNT", 0usize, 0),
            metrics_token: r.raw("METRICS_TOKEN"),
            https_enabled: r.boolean("HTTPS_ENABLED", false),
            console_session_idle_minutes: r.number(
                "CONSOLE_SESSION_IDLE_MINUTES",
                calseta_services::resources::console_sessions::DEFAULT_IDLE_MINUTES,
                1,
            ),
            console_sse_max_connections: r.number("CONSOLE_SSE_MAX_CONNECTIONS", 256usize, 0),
            console_sse_heartbeat_seconds: r.number("CONSOLE_SSE_HEARTBEAT_SECONDS", 15u64, 1),
            console_sse_gap_grace_ms: r.number("CONSOLE_SSE_GAP_GRACE_MS", 5000u64, 0),
            console_sse_poll_ms: r.number("CONSOLE_SSE_POLL_MS", 1000u64, 10),
            hsts_enabled: r.boolean("SECURITY_HEADER_HSTS_ENABLED", true),
            cors_allowed_origins: r
                .string("CORS_ALLOWED_ORIGINS", "")
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            cors_allow_all: r.boolean("CORS_ALLOW_ALL_ORIGINS", false),
            max_request_body_mb: r.number("MAX_REQUEST_BODY_SIZE_MB", 10usize, 1),
            max_ingest_payload_mb: r.number("MAX_INGEST_PAYLOAD_SIZE_MB", 5usize, 1),
            request_body_timeout: Duration::from_secs(r.number("REQUEST_BODY_TIMEOUT_SECONDS", 30u64, 1)),
            retention: calseta_services::resources::retention::RetentionSettings {
                closed_alert_days: r.number("RETENTION_CLOSED_ALERT_DAYS", 0u32, 0),
                activity_days: r.number("RETENTION_ACTIVITY_DAYS", 0u32, 0),
                agent_run_days: r.number("RETENTION_AGENT_RUN_DAYS", 0u32, 0),
                dead_job_days: r.number("RETENTION_DEAD_JOB_DAYS", 0u32, 0),
            },
        };
        if r.problems.is_empty() { Ok(config) } else { Err(ConfigError(r.problems)) }
    }

    /// The HTTP settings.
    pub fn api_settings(&self) -> calseta_api::ApiSettings {
        calseta_api::ApiSettings {
            app_version: self.app_version.clone(),
            cors_allowed_origins: self.cors_allowed_origins.clone(),
            cors_allow_all: self.cors_allow_all,
            https_enabled: self.https_enabled,
            hsts_enabled: self.hsts_enabled,
            max_body_bytes: self.max_request_body_mb * 1024 * 1024,
            max_ingest_bytes: self.max_ingest_payload_mb * 1024 * 1024,
            body_read_timeout: self.request_body_timeout,
            trusted_proxy_count: self.trusted_proxy_count,
            rate_limits: calseta_api::rate_limit::RateLimits {
                authed: self.rate_limit_authed,
                ingest: self.rate_limit_ingest,
                enrichment: self.rate_limit_enrichment,
                workflow_execute: self.rate_limit_workflow_execute,
                unauthed: self.rate_limit_unauthed,
            },
            metrics_token: self.metrics_token.clone(),
        }
    }

    /// The console settings.
    pub fn console_settings(&self) -> calseta_console::ConsoleSettings {
        calseta_console::ConsoleSettings {
            session_idle_minutes: self.console_session_idle_minutes,
            https_enabled: self.https_enabled,
            sandbox_mode: self.sandbox_mode,
            unauthed_per_minute: self.rate_limit_unauthed,
            live: calseta_services::live::LiveSettings {
                max_connections: self.console_sse_max_connections,
                gap_grace: Duration::from_millis(self.console_sse_gap_grace_ms),
                poll_interval: Duration::from_millis(self.console_sse_poll_ms),
                ..calseta_services::live::LiveSettings::default()
            },
            heartbeat: Duration::from_secs(self.console_sse_heartbeat_seconds),
            shutdown: None,
            app_version: self.app_version.clone(),
            configuration: self.summary(),
        }
    }

    /// Every setting by its variable name with its effective value, for the console's system
    /// page: secrets (keys, tokens, signing secrets, webhook URLs that authenticate by their path)
    /// are masked whole, URLs keep their shape with the password and credential-like query values
    /// masked. Nothing secret leaves this function.
    pub fn summary(&self) -> Vec<calseta_console::ConfigEntry> {
        let mut out = Summary::default();
        let yes_no = |b: bool| if b { "true" } else { "false" };
        let secs = |d: Duration| d.as_secs().to_string();
        out.url("DATABASE_URL", &self.database_url, true);
        out.plain("DATABASE_POOL_SIZE", self.database_pool_size);
        out.plain("SQLITE_SYNCHRONOUS", if self.sqlite_synchronous_full { "FULL" } else { "NORMAL" });
        out.plain("SQLITE_GROUP_COMMIT_MS", self.sqlite_group_commit.as_millis());
        out.plain("CALSETA_BIND", &self.bind);
        out.plain("MCP_PORT", self.mcp_port.map_or_else(|| "not set".to_string(), |p| p.to_string()));
        out.plain("APP_VERSION", &self.app_version);
        out.plain("LOG_LEVEL", self.log_level);
        out.plain("LOG_FORMAT", if self.log_format == LogFormat::Json { "json" } else { "text" });
        out.plain("QUEUE_CONCURRENCY", self.queue_concurrency);
        out.plain("QUEUE_DISPATCH_SLOTS", self.queue_dispatch_slots);
        out.plain("AGENT_MAX_CONCURRENT_DELIVERIES", self.agent_max_concurrent_deliveries);
        out.plain("JOB_LEASE_SECONDS", secs(self.job_lease));
        out.plain("JOB_POLL_INTERVAL_MS", self.job_poll_interval.as_millis());
        out.plain("WORKER_SHUTDOWN_GRACE_SECONDS", secs(self.worker_shutdown_grace));
        out.plain("JOB_RETENTION_HOURS", self.job_retention.as_secs() / 3600);
        out.secret("ENCRYPTION_KEY", self.encryption_key.is_some());
        out.secret("ENCRYPTION_KEY_PREVIOUS", !self.encryption_key_previous.is_empty());
        out.plain("ALERT_DEDUP_WINDOW_HOURS", self.alert_dedup_window_hours);
        out.plain("QUEUE_MAX_RETRIES", self.queue_max_retries);
        out.plain("QUEUE_RETRY_BACKOFF_SECONDS", secs(self.queue_retry_backoff));
        out.plain("AGENT_RETRY_BASE_SECONDS", secs(self.agent_retry_base));
        out.plain("DOCUMENT_CONVERTER_BIN", self.document_converter.display());
        let sandbox = &self.workflow_sandbox;
        out.plain(
            "WORKFLOW_PYTHON",
            sandbox.python.as_ref().map_or_else(|| "default".to_string(), |p| p.display().to_string()),
        );
        out.plain("WORKFLOW_UID", sandbox.user.as_deref().unwrap_or("default"));
        out.plain("WORKFLOW_GID", sandbox.group.as_deref().unwrap_or("default"));
        out.plain("WORKFLOW_ALLOW_DEGRADED", yes_no(sandbox.allow_degraded));
        out.plain("WORKFLOW_MAX_CONCURRENT_RUNS", sandbox.max_concurrent_runs);
        out.plain("WORKFLOW_MAX_MEMORY_MB", self.workflows.max_memory_mb);
        // Names of variables, not their values.
        out.plain("WORKFLOW_SECRETS_FROM_ENV", self.workflows.secrets_from_env.join(", "));
        match &self.workflows.okta {
            Some(okta) => {
                out.url("OKTA_BASE_URL", &okta.base_url, false);
                out.secret("OKTA_API_TOKEN", true);
            }
            None => out.secret("OKTA_API_TOKEN", false),
        }
        match &self.workflows.entra {
            Some(entra) => {
                out.plain("ENTRA_TENANT_ID", &entra.tenant_id);
                out.plain("ENTRA_CLIENT_ID", &entra.client_id);
                out.secret("ENTRA_CLIENT_SECRET", true);
                out.url("ENTRA_LOGIN_BASE_URL", &entra.login_base_url, false);
                out.url("ENTRA_GRAPH_BASE_URL", &entra.graph_base_url, false);
            }
            None => out.secret("ENTRA_CLIENT_SECRET", false),
        }
        let approvals = &self.approvals;
        out.plain("APPROVAL_NOTIFIER", approvals.notifier.as_str());
        out.url("CALSETA_BASE_URL", &approvals.base_url, false);
        out.plain("APPROVAL_DEFAULT_CHANNEL", &approvals.default_channel);
        out.plain("APPROVAL_DEFAULT_TIMEOUT_SECONDS", approvals.default_timeout_seconds);
        out.plain("APPROVAL_SWEEP_INTERVAL_SECONDS", secs(approvals.sweep_every));
        out.secret("SLACK_BOT_TOKEN", !approvals.slack_bot_token.is_empty());
        out.secret("SLACK_SIGNING_SECRET", approvals.slack_signing_secret.is_some());
        out.url("SLACK_API_BASE_URL", &approvals.slack_api_base_url, false);
        // A Teams webhook URL is its own credential: whoever holds it may post.
        out.secret("TEAMS_WEBHOOK_URL", !approvals.teams_webhook_url.is_empty());
        out.url("CALSETA_API_BASE_URL", &self.api_base_url, false);
        out.plain("ENRICHMENT_MOCK_MODE", yes_no(self.enrichment_mock_mode));
        out.plain("SANDBOX_MODE", yes_no(self.sandbox_mode));
        match &self.workflow_generator {
            Some(generator) => {
                out.secret("ANTHROPIC_API_KEY", true);
                out.url("ANTHROPIC_BASE_URL", &generator.base_url, false);
                out.plain("ANTHROPIC_MODEL", &generator.model);
            }
            None => out.secret("ANTHROPIC_API_KEY", false),
        }
        out.plain("ENRICHMENT_ALERT_DEADLINE_SECONDS", secs(self.enrichment_alert_deadline));
        out.plain(
            "SSRF_ALLOWED_HOSTS",
            self.ssrf_allowed_hosts.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        );
        let mut overrides: Vec<_> = self.provider_base_urls.iter().collect();
        overrides.sort();
        for (provider, url) in overrides {
            out.url(&format!("CALSETA_PROVIDER_BASE_URL_{}", provider.to_uppercase()), url, false);
        }
        for (source, var) in [
            ("sentinel", "SENTINEL_WEBHOOK_SECRET"),
            ("elastic", "ELASTIC_WEBHOOK_SECRET"),
            ("splunk", "SPLUNK_WEBHOOK_SECRET"),
        ] {
            out.secret(var, self.webhook_secrets.contains_key(source));
        }
        out.plain("RATE_LIMIT_AUTHED_PER_MINUTE", self.rate_limit_authed);
        out.plain("RATE_LIMIT_INGEST_PER_MINUTE", self.rate_limit_ingest);
        out.plain("RATE_LIMIT_ENRICHMENT_PER_MINUTE", self.rate_limit_enrichment);
        out.plain("RATE_LIMIT_WORKFLOW_EXECUTE_PER_MINUTE", self.rate_limit_workflow_execute);
        out.plain("RATE_LIMIT_UNAUTHED_PER_MINUTE", self.rate_limit_unauthed);
        out.plain("TRUSTED_PROXY_COUNT", self.trusted_proxy_count);
        out.secret("METRICS_TOKEN", self.metrics_token.is_some());
        out.plain("HTTPS_ENABLED", yes_no(self.https_enabled));
        out.plain("CONSOLE_SESSION_IDLE_MINUTES", self.console_session_idle_minutes);
        out.plain("CONSOLE_SSE_MAX_CONNECTIONS", self.console_sse_max_connections);
        out.plain("CONSOLE_SSE_HEARTBEAT_SECONDS", self.console_sse_heartbeat_seconds);
        out.plain("CONSOLE_SSE_GAP_GRACE_MS", self.console_sse_gap_grace_ms);
        out.plain("CONSOLE_SSE_POLL_MS", self.console_sse_poll_ms);
        out.plain("SECURITY_HEADER_HSTS_ENABLED", yes_no(self.hsts_enabled));
        out.plain("CORS_ALLOWED_ORIGINS", self.cors_allowed_origins.join(", "));
        out.plain("CORS_ALLOW_ALL_ORIGINS", yes_no(self.cors_allow_all));
        out.plain("MAX_REQUEST_BODY_SIZE_MB", self.max_request_body_mb);
        out.plain("MAX_INGEST_PAYLOAD_SIZE_MB", self.max_ingest_payload_mb);
        out.plain("REQUEST_BODY_TIMEOUT_SECONDS", secs(self.request_body_timeout));
        out.plain("RETENTION_CLOSED_ALERT_DAYS", self.retention.closed_alert_days);
        out.plain("RETENTION_ACTIVITY_DAYS", self.retention.activity_days);
        out.plain("RETENTION_AGENT_RUN_DAYS", self.retention.agent_run_days);
        out.plain("RETENTION_DEAD_JOB_DAYS", self.retention.dead_job_days);
        out.0
    }

    /// The job kinds whose retry policies are configured (`QUEUE_MAX_RETRIES`,
    /// `QUEUE_RETRY_BACKOFF_SECONDS`, `AGENT_RETRY_BASE_SECONDS`).
    pub fn pipeline_kinds(&self) -> calseta_services::pipeline::kinds::PipelineKinds {
        calseta_services::pipeline::kinds::PipelineKinds::new(
            self.queue_max_retries,
            self.queue_retry_backoff,
            self.agent_retry_base,
        )
    }

    /// The use-case services over `db`.
    pub fn services(
        &self,
        db: calseta_store::Db,
        key: calseta_services::platform::crypto::EncryptionKey,
    ) -> Result<calseta_services::Services, calseta_services::ServiceError> {
        let kinds = self.pipeline_kinds();
        calseta_services::Services::new(
            db,
            calseta_services::ServiceSettings {
                ingest: calseta_services::pipeline::ingest::IngestSettings {
                    dedup_window_hours: self.alert_dedup_window_hours,
                    webhook_secrets: self.webhook_secrets.clone(),
                },
                key,
                enrichment: calseta_services::pipeline::enrich::EnrichmentSettings {
                    mock_mode: self.enrichment_mock_mode,
                    alert_deadline: self.enrichment_alert_deadline,
                    base_url_overrides: self.provider_base_urls.clone(),
                    env: std::sync::Arc::new(|name: &str| std::env::var(name).ok()),
                },
                outbound: calseta_services::platform::outbound::OutboundSettings {
                    allowed_hosts: self.ssrf_allowed_hosts.clone(),
                    resolver: std::sync::Arc::new(calseta_services::platform::outbound::SystemResolver),
                },
                api_base_url: self.api_base_url.clone(),
                document_converter: self.document_converter.clone(),
                kinds,
                deliveries_per_agent: self.agent_max_concurrent_deliveries,
                retention: self.retention,
                workflow_sandbox: self.workflow_sandbox.clone(),
                workflows: self.workflows.clone(),
                approvals: self.approvals.clone(),
                sandbox_mode: self.sandbox_mode,
                workflow_generator: self.workflow_generator.clone(),
            },
        )
    }

    /// The worker settings: `QUEUE_CONCURRENCY`, leases and polling, the pipeline's queue priority
    /// (deliveries first) and the deliveries' slot budget (`QUEUE_DISPATCH_SLOTS`).
    pub fn worker_config(&self) -> calseta_jobs::WorkerConfig {
        calseta_jobs::WorkerConfig {
            concurrency: self.queue_concurrency,
            lease: self.job_lease,
            poll_interval: self.job_poll_interval,
            shutdown_grace: self.worker_shutdown_grace,
            queue_priority: calseta_services::Services::queue_priority(),
            queue_slots: calseta_services::Services::queue_slots(
                self.queue_concurrency,
                self.queue_dispatch_slots,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::summary::{MASKED, UNSET, mask_url};
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(&move |name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_the_references() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, "sqlite://calseta.db");
        assert_eq!(c.bind, "127.0.0.1:8000");
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!((c.rate_limit_authed, c.rate_limit_ingest), (600, 100));
        assert_eq!((c.max_request_body_mb, c.max_ingest_payload_mb), (10, 5));
        assert!(c.sqlite_synchronous_full);
        assert_eq!(c.sqlite_group_commit, Duration::from_millis(4));
    }

    #[test]
    fn the_group_commit_window_is_whole_milliseconds_from_one() {
        let c = config(&[("SQLITE_GROUP_COMMIT_MS", "1")]).unwrap();
        assert_eq!(c.sqlite_group_commit, Duration::from_millis(1));
        for bad in ["0", "-2", "1.5", "soon", "1001"] {
            let err = config(&[("SQLITE_GROUP_COMMIT_MS", bad)]).unwrap_err();
            assert!(err.to_string().contains("SQLITE_GROUP_COMMIT_MS"), "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_enum_values_are_all_reported() {
        let err = config(&[("LOG_FORMAT", "xml"), ("QUEUE_BACKEND", "sqs"), ("QUEUE_CONCURRENCY", "lots")])
            .unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        assert!(err.to_string().contains("LOG_FORMAT: 'xml' is not one of json, text"));
        assert!(err.to_string().contains("QUEUE_BACKEND"));
    }

    #[test]
    fn levels_and_lists_parse() {
        let c = config(&[
            ("LOG_LEVEL", "warning"),
            ("CORS_ALLOWED_ORIGINS", "https://a, https://b,"),
            ("HTTPS_ENABLED", "yes"),
        ])
        .unwrap();
        assert_eq!(c.log_level, "warn");
        assert_eq!(c.cors_allowed_origins, vec!["https://a", "https://b"]);
        assert!(c.https_enabled);
    }

    #[test]
    fn ssrf_allowed_hosts_take_a_host_or_a_host_and_port() {
        let c =
            config(&[("SSRF_ALLOWED_HOSTS", "LocalHost, 10.0.0.5:8443,[fd00::5]:8443, fd00::6,")]).unwrap();
        let shown: Vec<String> = c.ssrf_allowed_hosts.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["localhost", "10.0.0.5:8443", "[fd00::5]:8443", "fd00::6"]);
        let err = config(&[("SSRF_ALLOWED_HOSTS", "ok.example,bad.example:0,http://x")]).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(
            err.to_string().contains("SSRF_ALLOWED_HOSTS: 'bad.example:0' is not a host or host:port"),
            "{err}"
        );
    }

    #[test]
    fn the_slack_notifier_needs_its_signing_secret_and_token() {
        let err = config(&[("APPROVAL_NOTIFIER", "slack")]).unwrap_err();
        assert_eq!(err.0.len(), 2, "both missing settings are named: {err}");
        let err = config(&[("APPROVAL_NOTIFIER", "slack"), ("SLACK_BOT_TOKEN", "xoxb-1")]).unwrap_err();
        assert!(
            err.to_string().contains("SLACK_SIGNING_SECRET: required when APPROVAL_NOTIFIER=slack"),
            "{err}"
        );
        let err = config(&[("APPROVAL_NOTIFIER", "Slack"), ("SLACK_SIGNING_SECRET", "s")]).unwrap_err();
        assert!(err.to_string().contains("SLACK_BOT_TOKEN"), "{err}");
        let err = config(&[("APPROVAL_NOTIFIER", "teams")]).unwrap_err();
        assert!(err.to_string().contains("TEAMS_WEBHOOK_URL"), "{err}");
        let err = config(&[("APPROVAL_NOTIFIER", "email")]).unwrap_err();
        assert!(
            err.to_string().contains("APPROVAL_NOTIFIER: 'email' is not one of none, slack, teams"),
            "{err}"
        );
        let c = config(&[
            ("APPROVAL_NOTIFIER", "slack"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("SLACK_SIGNING_SECRET", "s"),
        ])
        .unwrap();
        assert_eq!(c.approvals.slack_api_base_url, "https://slack.com/api");
        assert_eq!(config(&[]).unwrap().approvals.notifier.as_str(), "none");
    }

    #[test]
    fn the_summary_lists_every_setting_and_masks_every_secret() {
        let secrets = [
            (
                "DATABASE_URL",
                "postgres://calseta:Pg-Pass-w0rd@db.internal:5432/calseta?sslpassword=Ssl-Pass-1",
            ),
            ("ENCRYPTION_KEY", "Enc-Key-0123456789abcdef0123456789abcdef0123"),
            ("ENCRYPTION_KEY_PREVIOUS", "Old-Key-1,Old-Key-2"),
            ("SLACK_BOT_TOKEN", "xoxb-Slack-Token-1"),
            ("SLACK_SIGNING_SECRET", "Slack-Signing-Secret-1"),
            ("APPROVAL_NOTIFIER", "slack"),
            ("TEAMS_WEBHOOK_URL", "https://example.webhook.office.com/webhookb2/Teams-Path-Secret"),
            ("METRICS_TOKEN", "Metrics-Token-1"),
            ("ANTHROPIC_API_KEY", "sk-ant-Anthropic-Key-1"),
            ("OKTA_DOMAIN", "acme.okta.com"),
            ("OKTA_API_TOKEN", "Okta-Token-1"),
            ("ENTRA_TENANT_ID", "tenant-1"),
            ("ENTRA_CLIENT_ID", "client-1"),
            ("ENTRA_CLIENT_SECRET", "Entra-Secret-1"),
            ("SPLUNK_WEBHOOK_SECRET", "Splunk-Secret-1"),
            ("SENTINEL_WEBHOOK_SECRET", "Sentinel-Secret-1"),
            ("ELASTIC_WEBHOOK_SECRET", "Elastic-Secret-1"),
            (
                "CALSETA_PROVIDER_BASE_URL_VIRUSTOTAL",
                "https://vt:Vt-Pass-1@127.0.0.1:9/api?apikey=Vt-Key-1&x=1",
            ),
            ("ANTHROPIC_BASE_URL", "https://Bare-Token-1@llm.example/v1"),
        ];
        let c = config(&secrets).unwrap();
        let summary = c.summary();
        let shown: String = summary.iter().map(|e| format!("{}={}\n", e.name, e.value)).collect();
        for needle in [
            "Pg-Pass-w0rd",
            "Ssl-Pass-1",
            "Enc-Key-0123",
            "Old-Key-1",
            "Old-Key-2",
            "xoxb-Slack-Token-1",
            "Slack-Signing-Secret-1",
            "Teams-Path-Secret",
            "Metrics-Token-1",
            "sk-ant-Anthropic-Key-1",
            "Okta-Token-1",
            "Entra-Secret-1",
            "Splunk-Secret-1",
            "Sentinel-Secret-1",
            "Elastic-Secret-1",
            "Vt-Pass-1",
            "Vt-Key-1",
            "Bare-Token-1",
        ] {
            assert!(!shown.contains(needle), "{needle} is shown:\n{shown}");
        }
        let value = |name: &str| summary.iter().find(|e| e.name == name).map(|e| (e.value.clone(), e.secret));
        assert_eq!(
            value("DATABASE_URL"),
            Some(("postgres://calseta:••••••@db.internal:5432/calseta?sslpassword=••••••".into(), true))
        );
        assert_eq!(value("ENCRYPTION_KEY"), Some((MASKED.into(), true)));
        assert_eq!(value("METRICS_TOKEN"), Some((MASKED.into(), true)));
        assert_eq!(
            value("CALSETA_PROVIDER_BASE_URL_VIRUSTOTAL"),
            Some(("https://vt:••••••@127.0.0.1:9/api?apikey=••••••&x=1".into(), true))
        );
        assert_eq!(value("ENTRA_TENANT_ID"), Some(("tenant-1".into(), false)));
        assert_eq!(value("QUEUE_CONCURRENCY"), Some(("10".into(), false)));
        assert_eq!(value("OKTA_BASE_URL"), Some(("https://acme.okta.com".into(), false)));
        // A password with unencoded delimiters is masked whole, never cut in two.
        assert_eq!(
            mask_url("postgres://u:p@ss/w?rd#x@db:5432/x?sslmode=require", true),
            ("postgres://u:••••••@db:5432/x?sslmode=require".to_string(), true)
        );
        assert_eq!(mask_url("https://Bare-Token@host/p", false), ("https://••••••@host/p".to_string(), true));
        assert_eq!(mask_url("postgres://calseta@db/x", true), ("postgres://calseta@db/x".to_string(), false));
        let (odd, masked) = mask_url("https://host/p?email=a@b.example", false);
        assert!(masked && !odd.contains("host/p?email=a"), "{odd}");
        // Unset secrets say so; a plain URL is shown as it is.
        let plain = config(&[]).unwrap().summary();
        let plain_value = |name: &str| plain.iter().find(|e| e.name == name).map(|e| e.value.clone());
        assert_eq!(plain_value("ENCRYPTION_KEY").as_deref(), Some(UNSET));
        assert_eq!(plain_value("DATABASE_URL").as_deref(), Some("sqlite://calseta.db"));
        assert_eq!(plain_value("CALSETA_API_BASE_URL").as_deref(), Some("http://localhost:8000"));
        let mut names: Vec<&str> = plain.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), plain.len(), "each setting once");
    }
}
