//! Prometheus telemetry of this process: counters and histograms the code records as it works
//! (HTTP requests, enrichment lookups, agent deliveries), gauges set at scrape time from the
//! database (jobs, workflow runs, pending approvals, the pool) and the standard `process_*` series
//! read from `/proc`, rendered in the OpenMetrics text format or the Prometheus text format 0.0.4,
//! whichever the scraper's `Accept` prefers.

use std::sync::atomic::AtomicU64;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The content type of the OpenMetrics text exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of the Prometheus text exposition (format 0.0.4).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The outcomes of an agent delivery attempt.
const DELIVERY_OUTCOMES: [&str; 4] = ["success", "failed", "timeout", "blocked"];

/// The outcomes of an enrichment lookup.
const LOOKUP_OUTCOMES: [&str; 5] = ["success", "failure", "cache_hit", "mock", "deferred"];

/// The statuses a workflow run is stored with.
const RUN_STATUSES: [&str; 5] = ["queued", "running", "success", "failed", "timed_out"];

/// Which text exposition a scrape gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0.0 (`application/openmetrics-text`), ending in `# EOF`.
    OpenMetrics,
    /// The Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    Text,
}

impl Format {
    /// The format an `Accept` header prefers: OpenMetrics only when it is asked for with a
    /// q-value at least as high as `text/plain`'s (a wildcard counts for both), else 0.0.4 — so
    /// no `Accept`, `*/*` or a plain `text/plain` get 0.0.4.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let (mut openmetrics, mut text): (Option<f64>, Option<f64>) = (None, None);
        for range in accept.unwrap_or_default().split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, v)| v.trim().parse::<f64>().ok().filter(|q| (0.0..=1.0).contains(q)))
                .unwrap_or(0.0);
            let best = |slot: &mut Option<f64>| *slot = Some(slot.map_or(q, |s: f64| s.max(q)));
            match media.as_str() {
                "application/openmetrics-text" => best(&mut openmetrics),
                // A wildcard is no request for OpenMetrics: it counts for the plain text only.
                "text/plain" | "text/*" | "*/*" => best(&mut text),
                _ => {}
            }
        }
        match openmetrics {
            Some(om) if om > 0.0 && om >= text.unwrap_or(0.0) => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    /// The `Content-Type` of an exposition in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => CONTENT_TYPE,
            Format::Text => TEXT_CONTENT_TYPE,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    queue: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

/// What the database and the process say at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Jobs by (queue, status).
    pub jobs: Vec<(String, String, i64)>,
    /// Every job queue, shown (at zero) in each status even when it holds no job.
    pub queues: Vec<String>,
    /// Workflow runs by status.
    pub workflow_runs: Vec<(String, i64)>,
    /// Approval requests pending.
    pub approvals_pending: i64,
    /// Connections in the database pool, and how many are idle.
    pub pool_size: i64,
    /// Idle connections.
    pub pool_idle: i64,
    /// Active enrichment providers, shown (at zero) with every outcome before their first lookup.
    pub providers: Vec<String>,
    /// The work this process has asked of the database so far.
    pub db_work: calseta_store::DbWork,
}

/// The standard `process_*` series, read from `/proc/self` at each scrape.
#[derive(Debug)]
struct ProcessCollector {
    /// When this collector was made (Unix seconds): the start time where `/proc` cannot say.
    created: f64,
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let usage = process_usage().unwrap_or_default();
        let cpu = ConstCounter::new(usage.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let resident = ConstGauge::new(usage.resident_bytes);
        resident.encode(encoder.encode_descriptor(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            None,
            resident.metric_type(),
        )?)?;
        let start = ConstGauge::new(usage.start_time_seconds.unwrap_or(self.created));
        start.encode(encoder.encode_descriptor(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            None,
            start.metric_type(),
        )?)?;
        let fds = ConstGauge::new(usage.open_fds);
        fds.encode(encoder.encode_descriptor(
            "process_open_fds",
            "Number of open file descriptors",
            None,
            fds.metric_type(),
        )?)?;
        Ok(())
    }
}

/// This process's telemetry.
pub struct Telemetry {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Family<RouteLabels, Histogram>,
    enrichment_lookups: Family<ProviderLabels, Counter>,
    deliveries: Family<OutcomeLabels, Counter>,
    jobs: Family<JobLabels, Gauge>,
    workflow_runs: Family<StatusLabels, Gauge>,
    approvals_pending: Gauge,
    pool_size: Gauge,
    pool_idle: Gauge,
    db_statements: Counter,
    db_round_trips: Counter,
    db_write_transactions: Counter,
    db_commits: Counter,
    /// SQLite's write connection: held, waited for, committing (seconds).
    db_writer_held: Counter<f64, AtomicU64>,
    db_writer_wait: Counter<f64, AtomicU64>,
    db_commit_time: Counter<f64, AtomicU64>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// Every metric, registered; the bounded series start at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        });
        let enrichment_lookups = Family::<ProviderLabels, Counter>::default();
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        for outcome in DELIVERY_OUTCOMES {
            drop(deliveries.get_or_create(&OutcomeLabels { outcome: outcome.into() }));
        }
        let jobs = Family::<JobLabels, Gauge>::default();
        let workflow_runs = Family::<StatusLabels, Gauge>::default();
        let approvals_pending = Gauge::default();
        let pool_size = Gauge::default();
        let pool_idle = Gauge::default();
        registry.register(
            "calseta_http_requests",
            "HTTP requests by method, route and status",
            http_requests.clone(),
        );
        registry.register(
            "calseta_http_request_duration_seconds",
            "HTTP request latency by route",
            http_seconds.clone(),
        );
        registry.register(
            "calseta_enrichment_lookups",
            "Enrichment lookups by provider and outcome (success, failure, cache_hit, mock, deferred)",
            enrichment_lookups.clone(),
        );
        registry.register(
            "calseta_agent_deliveries",
            "Agent webhook deliveries by outcome",
            deliveries.clone(),
        );
        registry.register("calseta_jobs", "Jobs by queue and status", jobs.clone());
        registry.register("calseta_workflow_runs", "Workflow runs by status", workflow_runs.clone());
        registry.register(
            "calseta_approvals_pending",
            "Approval requests waiting for a decision",
            approvals_pending.clone(),
        );
        registry.register(
            "calseta_db_pool_connections",
            "Connections in the database pool",
            pool_size.clone(),
        );
        registry.register(
            "calseta_db_pool_idle_connections",
            "Idle connections in the database pool",
            pool_idle.clone(),
        );
        let (db_statements, db_round_trips, db_write_transactions, db_commits) =
            (Counter::default(), Counter::default(), Counter::default(), Counter::default());
        registry.register(
            "calseta_db_statements",
            "Statements this process sent to the database, transaction control included",
            db_statements.clone(),
        );
        registry.register(
            "calseta_db_round_trips",
            "Round trips to the database driver (statements sent together count once)",
            db_round_trips.clone(),
        );
        registry.register(
            "calseta_db_write_transactions",
            "Write transactions this process began (on SQLite, units of the group-commit writer)",
            db_write_transactions.clone(),
        );
        registry.register(
            "calseta_db_commits",
            "Commits made durable (on SQLite one per group commit, however many units it holds)",
            db_commits.clone(),
        );
        let (db_writer_held, db_writer_wait, db_commit_time) =
            (Counter::default(), Counter::default(), Counter::default());
        registry.register(
            "calseta_db_writer_held_seconds",
            "Time SQLite's one write connection was held by write transactions and their commits \
             (a pipeline that holds it nearly all the time is bound by it; 0 on PostgreSQL)",
            db_writer_held.clone(),
        );
        registry.register(
            "calseta_db_writer_wait_seconds",
            "Time write transactions waited for SQLite's write connection, summed over them (0 on PostgreSQL)",
            db_writer_wait.clone(),
        );
        registry.register(
            "calseta_db_commit_seconds",
            "Time SQLite's group commits took, the disk's flush included (0 on PostgreSQL)",
            db_commit_time.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector { created: unix_now() }));
        Telemetry {
            registry,
            http_requests,
            http_seconds,
            enrichment_lookups,
            deliveries,
            jobs,
            workflow_runs,
            approvals_pending,
            pool_size,
            pool_idle,
            db_statements,
            db_round_trips,
            db_write_transactions,
            db_commits,
            db_writer_held,
            db_writer_wait,
            db_commit_time,
        }
    }

    /// One HTTP request (`route` is the route template, never a raw path with ids in it).
    pub fn http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = HttpLabels { method: method.into(), route: route.into(), status: status.to_string() };
        self.http_requests.get_or_create(&labels).inc();
        self.http_seconds
            .get_or_create(&RouteLabels { method: method.into(), route: route.into() })
            .observe(seconds);
    }

    /// Shows one request's series before any such request completes (at zero).
    pub fn http_series(&self, method: &str, route: &str, status: u16) {
        let labels = HttpLabels { method: method.into(), route: route.into(), status: status.to_string() };
        // Creating a series is all: the returned guard goes at once.
        drop(self.http_requests.get_or_create(&labels));
        drop(self.http_seconds.get_or_create(&RouteLabels { method: method.into(), route: route.into() }));
    }

    /// One enrichment lookup's outcome.
    pub fn enrichment(&self, provider: &str, outcome: &str) {
        self.enrichment_lookups
            .get_or_create(&ProviderLabels { provider: provider.into(), outcome: outcome.into() })
            .inc();
    }

    /// One delivery attempt's outcome.
    pub fn delivery(&self, outcome: &str) {
        self.deliveries.get_or_create(&OutcomeLabels { outcome: outcome.into() }).inc();
    }

    /// The exposition in `format`, with the gauges set from `snapshot`.
    pub fn render(&self, snapshot: &Snapshot, format: Format) -> String {
        self.jobs.clear();
        for queue in &snapshot.queues {
            for &status in calseta_core::jobs::JobStatus::ALL {
                let labels = JobLabels { queue: queue.clone(), status: status.as_str().into() };
                drop(self.jobs.get_or_create(&labels));
            }
        }
        for (queue, status, n) in &snapshot.jobs {
            self.jobs.get_or_create(&JobLabels { queue: queue.clone(), status: status.clone() }).set(*n);
        }
        self.workflow_runs.clear();
        for status in RUN_STATUSES {
            drop(self.workflow_runs.get_or_create(&StatusLabels { status: status.into() }));
        }
        for (status, n) in &snapshot.workflow_runs {
            self.workflow_runs.get_or_create(&StatusLabels { status: status.clone() }).set(*n);
        }
        for provider in &snapshot.providers {
            for outcome in LOOKUP_OUTCOMES {
                let labels = ProviderLabels { provider: provider.clone(), outcome: outcome.into() };
                drop(self.enrichment_lookups.get_or_create(&labels));
            }
        }
        self.approvals_pending.set(snapshot.approvals_pending);
        self.pool_size.set(snapshot.pool_size);
        self.pool_idle.set(snapshot.pool_idle);
        // The store keeps the totals; the counters are moved up to them.
        let work = snapshot.db_work;
        for (counter, total) in [
            (&self.db_statements, work.statements),
            (&self.db_round_trips, work.round_trips),
            (&self.db_write_transactions, work.write_transactions),
            (&self.db_commits, work.commits),
        ] {
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        for (counter, total) in [
            (&self.db_writer_held, work.writer_held),
            (&self.db_writer_wait, work.writer_waited),
            (&self.db_commit_time, work.committing),
        ] {
            counter.inc_by((total.as_secs_f64() - counter.get()).max(0.0));
        }
        let mut text = String::new();
        let encoded = match format {
            Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut text, &self.registry),
            Format::Text => prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry),
        };
        if encoded.is_err() {
            text.clear();
        }
        text
    }
}

/// The current time in Unix seconds.
fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// What `/proc` says about this process.
#[derive(Debug, Default, Clone, Copy)]
struct ProcessUsage {
    resident_bytes: i64,
    cpu_seconds: f64,
    start_time_seconds: Option<f64>,
    open_fds: i64,
}

/// This process's figures from `/proc/self` (Linux; `None` elsewhere).
fn process_usage() -> Option<ProcessUsage> {
    // Linux reports pages of 4 KiB and ticks of 1/100 s on every platform Calseta ships for.
    const TICKS: f64 = 100.0;
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: i64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after its closing parenthesis,
    // with field 3 (`state`) at index 0.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let (user, system): (f64, f64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    let boot_time: Option<f64> = std::fs::read_to_string("/proc/stat").ok().and_then(|text| {
        text.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
    });
    let started_ticks: Option<f64> = fields.get(19).and_then(|v| v.parse().ok());
    let start_time_seconds = boot_time.zip(started_ticks).map(|(boot, ticks)| boot + ticks / TICKS);
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|entries| i64::try_from(entries.count()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Some(ProcessUsage {
        resident_bytes: resident_pages * 4096,
        cpu_seconds: (user + system) / TICKS,
        start_time_seconds,
        open_fds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            jobs: vec![("enrichment".into(), "queued".into(), 3)],
            queues: vec!["enrichment".into(), "dispatch".into()],
            workflow_runs: vec![("success".into(), 2)],
            approvals_pending: 1,
            pool_size: 4,
            pool_idle: 3,
            providers: vec!["virustotal".into()],
            db_work: calseta_store::DbWork {
                statements: 40,
                round_trips: 31,
                write_transactions: 7,
                commits: 3,
                writer_held: std::time::Duration::from_millis(1500),
                writer_waited: std::time::Duration::from_millis(250),
                committing: std::time::Duration::from_millis(500),
            },
        }
    }

    #[test]
    fn recorded_and_scraped_figures_are_rendered() {
        let telemetry = Telemetry::new();
        telemetry.http("GET", "/v1/alerts/{uuid}", 200, 0.004);
        telemetry.enrichment("virustotal", "cache_hit");
        telemetry.delivery("success");
        let text = telemetry.render(&snapshot(), Format::OpenMetrics);
        for line in [
            r#"calseta_http_requests_total{method="GET",route="/v1/alerts/{uuid}",status="200"} 1"#,
            r#"calseta_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/alerts/{uuid}"} 1"#,
            r#"calseta_enrichment_lookups_total{provider="virustotal",outcome="cache_hit"} 1"#,
            r#"calseta_agent_deliveries_total{outcome="success"} 1"#,
            r#"calseta_jobs{queue="enrichment",status="queued"} 3"#,
            r#"calseta_workflow_runs{status="success"} 2"#,
            "calseta_approvals_pending 1",
            "calseta_db_pool_connections 4",
            "calseta_db_statements_total 40",
            "calseta_db_round_trips_total 31",
            "calseta_db_write_transactions_total 7",
            "calseta_db_commits_total 3",
            "calseta_db_writer_held_seconds_total 1.5",
            "calseta_db_writer_wait_seconds_total 0.25",
            "calseta_db_commit_seconds_total 0.5",
            "# TYPE process_cpu_seconds counter",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(text.contains("\nprocess_resident_memory_bytes "), "{text}");
        assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
        // A later scrape moves the database counters up to the store's new totals.
        let later = Snapshot {
            db_work: calseta_store::DbWork {
                statements: 55,
                round_trips: 42,
                write_transactions: 9,
                commits: 4,
                writer_held: std::time::Duration::from_millis(2250),
                ..snapshot().db_work
            },
            ..snapshot()
        };
        let text = telemetry.render(&later, Format::Text);
        assert!(text.contains("calseta_db_statements_total 55"), "{text}");
        assert!(text.contains("calseta_db_round_trips_total 42"), "{text}");
        assert!(text.contains("calseta_db_commits_total 4"), "{text}");
        assert!(text.contains("calseta_db_writer_held_seconds_total 2.25"), "{text}");
    }

    #[test]
    fn bounded_series_exist_at_zero_before_anything_happens() {
        let telemetry = Telemetry::new();
        telemetry.http_series("GET", "/metrics", 200);
        for format in [Format::OpenMetrics, Format::Text] {
            let text = telemetry.render(&snapshot(), format);
            for line in [
                r#"calseta_agent_deliveries_total{outcome="blocked"} 0"#,
                r#"calseta_enrichment_lookups_total{provider="virustotal",outcome="deferred"} 0"#,
                r#"calseta_jobs{queue="dispatch",status="dead"} 0"#,
                r#"calseta_workflow_runs{status="timed_out"} 0"#,
                r#"calseta_http_requests_total{method="GET",route="/metrics",status="200"} 0"#,
                r#"calseta_http_request_duration_seconds_count{method="GET",route="/metrics"} 0"#,
                "process_start_time_seconds ",
                "process_open_fds ",
            ] {
                assert!(text.contains(line), "{format:?}: {line} not in\n{text}");
            }
            // Every family has its help.
            let families = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
            let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
            assert_eq!((families, helps), (20, 20), "{text}");
        }
    }

    #[test]
    fn the_text_format_names_counters_by_their_samples_and_has_no_eof() {
        let telemetry = Telemetry::new();
        telemetry.delivery("success");
        let text = telemetry.render(&snapshot(), Format::Text);
        assert!(text.contains("# TYPE calseta_agent_deliveries_total counter\n"), "{text}");
        assert!(text.contains("# HELP process_cpu_seconds_total "), "{text}");
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
    }

    #[test]
    fn accept_headers_choose_the_format_by_q_value() {
        let prometheus =
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1";
        for (accept, expected) in [
            (Some(prometheus), Format::OpenMetrics),
            (Some("application/openmetrics-text; version=1.0.0"), Format::OpenMetrics),
            (Some("Application/OpenMetrics-Text;q=0.9, text/plain;q=0.9"), Format::OpenMetrics),
            (Some("application/openmetrics-text;q=0.2,text/plain;version=0.0.4;q=0.8"), Format::Text),
            (Some("application/openmetrics-text;q=0"), Format::Text),
            (Some("application/openmetrics-text;q=0.5,*/*"), Format::Text),
            (Some("text/plain"), Format::Text),
            (Some("text/plain;version=0.0.4"), Format::Text),
            (Some("*/*"), Format::Text),
            (Some("application/json"), Format::Text),
            (Some("application/openmetrics-text;q=banana"), Format::Text),
            (None, Format::Text),
        ] {
            assert_eq!(Format::negotiate(accept), expected, "{accept:?}");
        }
        assert!(Format::Text.content_type().starts_with("text/plain; version=0.0.4"));
        assert!(Format::OpenMetrics.content_type().starts_with("application/openmetrics-text"));
    }
}
