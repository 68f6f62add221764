//! Prometheus telemetry of this process: counters and histograms the code records as it works
//! (HTTP requests, enrichment lookups, agent deliveries) and gauges set at scrape time from the
//! database and `/proc` (jobs, workflow runs, pending approvals, the pool, memory and CPU),
//! rendered in the OpenMetrics text format.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The content type of [`Telemetry::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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
    /// Workflow runs by status.
    pub workflow_runs: Vec<(String, i64)>,
    /// Approval requests pending.
    pub approvals_pending: i64,
    /// Connections in the database pool, and how many are idle.
    pub pool_size: i64,
    /// Idle connections.
    pub pool_idle: i64,
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
    resident_bytes: Gauge,
    cpu_seconds: Gauge<f64, AtomicU64>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// Every metric, registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("calseta");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        });
        let enrichment_lookups = Family::<ProviderLabels, Counter>::default();
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        let jobs = Family::<JobLabels, Gauge>::default();
        let workflow_runs = Family::<StatusLabels, Gauge>::default();
        let approvals_pending = Gauge::default();
        let pool_size = Gauge::default();
        let pool_idle = Gauge::default();
        let resident_bytes = Gauge::default();
        let cpu_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            http_seconds.clone(),
        );
        registry.register(
            "enrichment_lookups",
            "Enrichment lookups by provider and outcome (success, failure, cache_hit, mock, deferred)",
            enrichment_lookups.clone(),
        );
        registry.register("agent_deliveries", "Agent webhook deliveries by outcome", deliveries.clone());
        registry.register("jobs", "Jobs by queue and status", jobs.clone());
        registry.register("workflow_runs", "Workflow runs by status", workflow_runs.clone());
        registry.register(
            "approvals_pending",
            "Approval requests waiting for a decision",
            approvals_pending.clone(),
        );
        registry.register("db_pool_connections", "Connections in the database pool", pool_size.clone());
        registry.register(
            "db_pool_idle_connections",
            "Idle connections in the database pool",
            pool_idle.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of this process",
            resident_bytes.clone(),
        );
        registry.register("process_cpu_seconds", "CPU time of this process", cpu_seconds.clone());
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
            resident_bytes,
            cpu_seconds,
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

    /// The text exposition, with the gauges set from `snapshot` and `/proc`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        self.jobs.clear();
        for (queue, status, n) in &snapshot.jobs {
            self.jobs.get_or_create(&JobLabels { queue: queue.clone(), status: status.clone() }).set(*n);
        }
        self.workflow_runs.clear();
        for (status, n) in &snapshot.workflow_runs {
            self.workflow_runs.get_or_create(&StatusLabels { status: status.clone() }).set(*n);
        }
        self.approvals_pending.set(snapshot.approvals_pending);
        self.pool_size.set(snapshot.pool_size);
        self.pool_idle.set(snapshot.pool_idle);
        if let Some((resident, cpu)) = process_usage() {
            self.resident_bytes.set(resident);
            self.cpu_seconds.set(cpu);
        }
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// Resident bytes and CPU seconds of this process, from `/proc/self` (Linux; `None` elsewhere).
fn process_usage() -> Option<(i64, f64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: i64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let (user, system): (f64, f64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    // Linux reports pages of 4 KiB and ticks of 1/100 s on every platform Calseta ships for.
    Some((resident_pages * 4096, (user + system) / 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_and_scraped_figures_are_rendered() {
        let telemetry = Telemetry::new();
        telemetry.http("GET", "/v1/alerts/{uuid}", 200, 0.004);
        telemetry.enrichment("virustotal", "cache_hit");
        telemetry.delivery("success");
        let text = telemetry.render(&Snapshot {
            jobs: vec![("enrichment".into(), "queued".into(), 3)],
            workflow_runs: vec![("success".into(), 2)],
            approvals_pending: 1,
            pool_size: 4,
            pool_idle: 3,
        });
        for line in [
            r#"calseta_http_requests_total{method="GET",route="/v1/alerts/{uuid}",status="200"} 1"#,
            r#"calseta_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/alerts/{uuid}"} 1"#,
            r#"calseta_enrichment_lookups_total{provider="virustotal",outcome="cache_hit"} 1"#,
            r#"calseta_agent_deliveries_total{outcome="success"} 1"#,
            r#"calseta_jobs{queue="enrichment",status="queued"} 3"#,
            r#"calseta_workflow_runs{status="success"} 2"#,
            "calseta_approvals_pending 1",
            "calseta_db_pool_connections 4",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(text.contains("calseta_process_resident_memory_bytes "), "{text}");
    }
}
