//! `calseta bench`: the benchmark harness. It launches real `calseta` processes on a fresh
//! database, drives them over loopback HTTP with alerts made unique from the SIEM fixtures, runs a
//! loopback agent that records every `alert.enriched` delivery, samples the server processes' RSS
//! and CPU from `/proc`, and reports JSON and a table. Figures are never asserted anywhere.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use calseta_core::indicators::{self, IndicatorType};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// What to benchmark.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// An empty database (`postgres://…`); a fresh SQLite file in a temporary directory when absent.
    pub database_url: Option<String>,
    /// Separate `calseta worker` processes (`serve --no-worker` then); 0 = the in-process worker.
    pub workers: usize,
    /// Where the SIEM fixtures are (searched recursively for `*.json`).
    pub fixtures: Vec<PathBuf>,
    /// Smaller counts, for a smoke run.
    pub quick: bool,
    /// Also write the report here.
    pub json_out: Option<PathBuf>,
}

/// Runs every benchmark and prints the report.
pub async fn run(options: BenchOptions) -> Result<(), String> {
    let scale = if options.quick { Scale::QUICK } else { Scale::FULL };
    let mut templates = load_templates(&options.fixtures)?;
    let workdir = std::env::temp_dir().join(format!("calseta-bench-{}", std::process::id()));
    std::fs::create_dir_all(&workdir).map_err(|e| format!("cannot create {}: {e}", workdir.display()))?;
    let database_url = options
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", workdir.join("bench.db").display()));
    let engine = if database_url.starts_with("postgres") { "postgresql" } else { "sqlite" };
    if engine == "sqlite" && options.workers > 0 {
        return Err("--workers needs PostgreSQL: SQLite is served by one process".into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the calseta binary: {e}"))?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut env: Vec<(String, String)> = [
        ("DATABASE_URL", database_url.as_str()),
        ("CALSETA_BIND", &format!("127.0.0.1:{port}")),
        ("CALSETA_API_BASE_URL", &base),
        ("ENRICHMENT_MOCK_MODE", "true"),
        ("RATE_LIMIT_AUTHED_PER_MINUTE", "100000000"),
        ("RATE_LIMIT_INGEST_PER_MINUTE", "100000000"),
        ("RATE_LIMIT_ENRICHMENT_PER_MINUTE", "100000000"),
        ("RATE_LIMIT_UNAUTHED_PER_MINUTE", "100000000"),
        ("SSRF_ALLOWED_HOSTS", "127.0.0.1"),
        ("LOG_LEVEL", "WARNING"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if engine == "postgresql" && std::env::var("ENCRYPTION_KEY").is_err() {
        env.push((
            "ENCRYPTION_KEY".into(),
            calseta_services::crypto::EncryptionKey::generate().expose().to_string(),
        ));
    }
    let launcher = Launcher { exe, env, log: workdir.join("server.log") };
    let key = launcher.create_admin_key().await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let target = Target { client, base, key };

    let mut startups = Vec::new();
    for _ in 0..3 {
        let (mut fleet, took) = launcher.start(&target, 0).await?;
        startups.push(took);
        fleet.kill().await;
    }
    let (mut fleet, took) = launcher.start(&target, options.workers).await?;
    startups.push(took);
    let startup_ms = median(&mut startups).as_secs_f64() * 1000.0;
    println!("started {} on {engine} in {startup_ms:.1} ms (median of 4)", fleet.describe());

    let mut report = json!({
        "engine": engine, "processes": fleet.describe(), "quick": options.quick,
        "machine": machine(), "startup_ms": round(startup_ms),
    });
    let outcome = match resolve_indicators(&target, &mut templates).await {
        Ok(()) => {
            let made_unique: Vec<String> = templates
                .iter()
                .filter(|t| t.primary)
                .map(|t| format!("{} {}", t.source, t.indicators.len()))
                .collect();
            println!("indicators made unique per alert: {}", made_unique.join(", "));
            report["unique_indicators_per_alert"] = json!(
                templates
                    .iter()
                    .filter(|t| t.primary)
                    .map(|t| (t.source.clone(), t.indicators.len()))
                    .collect::<HashMap<_, _>>()
            );
            run_phases(&target, &fleet, &templates, scale, &mut report).await
        }
        Err(e) => Err(e),
    };
    fleet.kill().await;
    outcome?;
    print_table(&report);
    if let Some(path) = &options.json_out {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("report written to {}", path.display());
    }
    let _ = std::fs::remove_dir_all(&workdir);
    Ok(())
}

/// How many requests each phase sends.
#[derive(Debug, Clone, Copy)]
struct Scale {
    ingest_per_run: usize,
    pipeline_alerts: usize,
    single_alerts: usize,
    read_seconds: u64,
}

impl Scale {
    const FULL: Scale =
        Scale { ingest_per_run: 2000, pipeline_alerts: 5000, single_alerts: 50, read_seconds: 5 };
    const QUICK: Scale =
        Scale { ingest_per_run: 200, pipeline_alerts: 300, single_alerts: 10, read_seconds: 1 };
}

async fn run_phases(
    target: &Target,
    fleet: &Fleet,
    templates: &[Template],
    scale: Scale,
    report: &mut Value,
) -> Result<(), String> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = fleet.sample_during(tokio::time::sleep(Duration::from_secs(2))).await.1;
    report["idle"] = idle.to_json();
    let alerts = AlertFactory::new();

    // Ingest: every source, unique alerts and duplicates, at each concurrency.
    let mut ingest = Vec::new();
    for concurrency in [1usize, 8, 32, 64] {
        for template in templates.iter().filter(|t| t.primary) {
            for duplicates in [false, true] {
                let bodies: Vec<(String, Vec<u8>)> = if duplicates {
                    let body = alerts.make(template);
                    vec![(template.source.clone(), body); scale.ingest_per_run]
                } else {
                    (0..scale.ingest_per_run)
                        .map(|_| (template.source.clone(), alerts.make(template)))
                        .collect()
                };
                let (run, resources) = fleet.sample_during(ingest_all(target, bodies, concurrency)).await;
                let run = run?;
                println!(
                    "ingest {:<9} {:<9} c={concurrency:<3} {:>8.0}/s p50 {:.2} ms p99 {:.2} ms",
                    template.source,
                    if duplicates { "duplicate" } else { "unique" },
                    run.throughput(),
                    run.latency.p(0.50),
                    run.latency.p(0.99)
                );
                ingest.push(json!({
                    "source": template.source, "kind": if duplicates { "duplicate" } else { "unique" },
                    "concurrency": concurrency, "requests": run.latency.count(), "errors": run.errors,
                    "per_second": round(run.throughput()), "latency_ms": run.latency.to_json(), "server": resources.to_json(),
                }));
                target.drain().await?;
            }
        }
    }
    report["ingest"] = Value::Array(ingest);

    // From here on a loopback agent receives every alert.
    let agent = Agent::start().await?;
    let (status, body) = target
        .send(
            reqwest::Method::POST,
            "/v1/agents",
            Some(json!({"name": "bench-agent", "endpoint_url": agent.url, "signing_secret": "generate", "timeout_seconds": 30})),
        )
        .await?;
    if status != 201 {
        return Err(format!("registering the bench agent failed: {status} {body}"));
    }

    let mut to_enriched = Vec::new();
    let mut to_webhook = Vec::new();
    let generic = templates.iter().find(|t| t.source == "generic").unwrap_or(&templates[0]);
    for _ in 0..scale.single_alerts {
        let body = alerts.make(generic);
        let started = Instant::now();
        let uuid = target.ingest(&generic.source, body).await?;
        loop {
            let (_, detail) = target.send(reqwest::Method::GET, &format!("/v1/alerts/{uuid}"), None).await?;
            match detail["data"]["enrichment_status"].as_str() {
                Some("Enriched") => break,
                Some("Failed") => return Err(format!("alert {uuid} failed enrichment")),
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
        to_enriched.push(started.elapsed());
        let delivered =
            agent.wait_for(&uuid, Duration::from_secs(30)).await.ok_or("no webhook for a single alert")?;
        to_webhook.push(delivered - started);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (to_enriched, to_webhook) = (Latency::new(to_enriched), Latency::new(to_webhook));
    println!(
        "single alert: ingest → Enriched p50 {:.1} ms, ingest → webhook p50 {:.1} ms",
        to_enriched.p(0.5),
        to_webhook.p(0.5)
    );
    report["single_alert"] = json!({
        "alerts": to_enriched.count(), "ingest_to_enriched_ms": to_enriched.to_json(), "ingest_to_webhook_ms": to_webhook.to_json(),
    });

    // Pipeline: many alerts as fast as possible, until every one is enriched and delivered.
    let primaries: Vec<&Template> = templates.iter().filter(|t| t.primary).collect();
    let bodies: Vec<(String, Vec<u8>)> = (0..scale.pipeline_alerts)
        .map(|i| {
            let template = primaries[i % primaries.len()];
            (template.source.clone(), alerts.make(template))
        })
        .collect();
    let (pipeline, resources) = fleet
        .sample_during(async {
            let started = Instant::now();
            let run = ingest_all(target, bodies, 32).await?;
            let ingested = started.elapsed();
            let deadline = Instant::now() + Duration::from_secs(120 + scale.pipeline_alerts as u64 / 20);
            let mut enriched_after = None;
            while Instant::now() < deadline {
                if enriched_after.is_none() && target.pending_alerts().await? == 0 {
                    enriched_after = Some(started.elapsed());
                }
                if enriched_after.is_some() && agent.delivered(&run.uuids) == run.uuids.len() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok::<_, String>((run, started, ingested, enriched_after))
        })
        .await;
    let (run, started, ingested, enriched_after) = pipeline?;
    let arrivals = agent.arrivals(&run.uuids);
    let last_delivery = arrivals.iter().map(|(_, at)| *at).max().map(|at| at - started);
    let per_alert: Vec<Duration> = arrivals
        .iter()
        .filter_map(|(uuid, at)| {
            run.sent_at.get(uuid.as_str()).map(|sent| at.saturating_duration_since(*sent))
        })
        .collect();
    let per_alert = Latency::new(per_alert);
    let unfinished = run.uuids.len() - arrivals.len();
    let enriched_rate = enriched_after.map(|d| run.uuids.len() as f64 / d.as_secs_f64());
    let delivered_rate = last_delivery.map(|d| arrivals.len() as f64 / d.as_secs_f64());
    println!(
        "pipeline: {} alerts, ingested in {:.2} s, all enriched {:.0}/s, all delivered {:.0}/s, ingest → webhook p50 {:.1} ms p99 {:.1} ms, unfinished {unfinished}",
        run.uuids.len(),
        ingested.as_secs_f64(),
        enriched_rate.unwrap_or(0.0),
        delivered_rate.unwrap_or(0.0),
        per_alert.p(0.5),
        per_alert.p(0.99)
    );
    report["pipeline"] = json!({
        "alerts": run.uuids.len(), "ingest_errors": run.errors, "ingest_seconds": round(ingested.as_secs_f64()),
        "all_enriched_seconds": enriched_after.map(|d| round(d.as_secs_f64())),
        "enriched_per_second": enriched_rate.map(round), "delivered_per_second": delivered_rate.map(round),
        "ingest_to_webhook_ms": per_alert.to_json(), "unfinished": unfinished, "server": resources.to_json(),
    });

    // Reads at concurrency 16.
    let sample: Vec<String> = run.uuids.iter().take(1000).cloned().collect();
    let mut reads = serde_json::Map::new();
    for (name, paths) in [
        ("alert_detail", sample.iter().map(|u| format!("/v1/alerts/{u}")).collect::<Vec<_>>()),
        ("alert_list", vec!["/v1/alerts?page_size=50".to_string()]),
        ("alert_context", sample.iter().map(|u| format!("/v1/alerts/{u}/context")).collect()),
    ] {
        let (run, resources) =
            fleet.sample_during(read_all(target, paths, 16, Duration::from_secs(scale.read_seconds))).await;
        let run = run?;
        println!(
            "read {name:<13} {:>8.0}/s p50 {:.2} ms p99 {:.2} ms",
            run.throughput(),
            run.latency.p(0.5),
            run.latency.p(0.99)
        );
        reads.insert(
            name.into(),
            json!({"per_second": round(run.throughput()), "errors": run.errors, "latency_ms": run.latency.to_json(), "server": resources.to_json()}),
        );
    }
    report["reads"] = Value::Object(reads);

    let (mut hits, mut lookups) = (0usize, 0usize);
    for uuid in run.uuids.iter().take(200) {
        let (_, detail) = target.send(reqwest::Method::GET, &format!("/v1/alerts/{uuid}"), None).await?;
        count_cache_hits(&detail, &mut hits, &mut lookups);
    }
    report["enrichment_cache"] = json!({"lookups": lookups, "hits": hits,
        "hit_ratio": (lookups > 0).then(|| round(hits as f64 / lookups as f64))});
    Ok(())
}

/// Counts `cache_hit` flags of provider results anywhere in a document.
fn count_cache_hits(value: &Value, hits: &mut usize, lookups: &mut usize) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Bool(hit)) = map.get("cache_hit") {
                *lookups += 1;
                *hits += usize::from(*hit);
            }
            map.values().for_each(|v| count_cache_hits(v, hits, lookups));
        }
        Value::Array(items) => items.iter().for_each(|v| count_cache_hits(v, hits, lookups)),
        _ => {}
    }
}

/// The server under test, as a client sees it.
struct Target {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Target {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn ingest(&self, source: &str, body: Vec<u8>) -> Result<String, String> {
        let response = self
            .client
            .post(format!("{}/v1/ingest/{source}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("ingest: {e}"))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.map_err(|e| format!("ingest answer: {e}"))?;
        match body["data"]["alert_uuid"].as_str() {
            Some(uuid) if status == 202 => Ok(uuid.to_string()),
            _ => Err(format!("ingest answered {status}: {body}")),
        }
    }

    async fn pending_alerts(&self) -> Result<i64, String> {
        let (_, body) =
            self.send(reqwest::Method::GET, "/v1/alerts?enrichment_status=Pending&page_size=1", None).await?;
        body["meta"]["total"].as_i64().ok_or_else(|| format!("unexpected alert list: {body}"))
    }

    /// Waits until the worker has enriched everything ingested so far.
    async fn drain(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            if self.pending_alerts().await? == 0 {
                let (_, health) = self.send(reqwest::Method::GET, "/health", None).await?;
                if health["queue_depth"].as_i64() == Some(0) {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("the worker did not drain the queue within 10 minutes".into())
    }
}

/// The outcome of a batch of requests.
struct RunResult {
    latency: Latency,
    elapsed: Duration,
    errors: usize,
    /// Alerts created, in order of acceptance.
    uuids: Vec<String>,
    /// When each alert's ingest request was sent.
    sent_at: HashMap<String, Instant>,
}

impl RunResult {
    fn throughput(&self) -> f64 {
        self.latency.count() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sends every body with `concurrency` requests in flight.
async fn ingest_all(
    target: &Target,
    bodies: Vec<(String, Vec<u8>)>,
    concurrency: usize,
) -> Result<RunResult, String> {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (bodies, next, client, base, key) =
            (bodies.clone(), next.clone(), target.client.clone(), target.base.clone(), target.key.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = (Vec::new(), 0usize, Vec::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((source, body)) = bodies.get(i) else { return out };
                let sent = Instant::now();
                let response = client
                    .post(format!("{base}/v1/ingest/{source}"))
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let answer = match response {
                    Ok(r) if r.status().as_u16() == 202 => r.json::<Value>().await.ok(),
                    _ => None,
                };
                out.0.push(sent.elapsed());
                match answer.as_ref().and_then(|a| a["data"]["alert_uuid"].as_str()) {
                    Some(uuid) => out.2.push((uuid.to_string(), sent)),
                    None => out.1 += 1,
                }
            }
        }));
    }
    let (mut latencies, mut errors, mut created) = (Vec::new(), 0, Vec::new());
    for task in tasks {
        let (l, e, c) = task.await.map_err(|e| format!("a load task failed: {e}"))?;
        latencies.extend(l);
        errors += e;
        created.extend(c);
    }
    let elapsed = started.elapsed();
    created.sort_by_key(|(_, sent)| *sent);
    let mut uuids = Vec::with_capacity(created.len());
    let mut sent_at = HashMap::with_capacity(created.len());
    for (uuid, sent) in created {
        if sent_at.insert(uuid.clone(), sent).is_none() {
            uuids.push(uuid);
        }
    }
    Ok(RunResult { latency: Latency::new(latencies), elapsed, errors, uuids, sent_at })
}

/// GETs the paths round-robin with `concurrency` requests in flight for `duration`.
async fn read_all(
    target: &Target,
    paths: Vec<String>,
    concurrency: usize,
    duration: Duration,
) -> Result<RunResult, String> {
    if paths.is_empty() {
        return Err("nothing to read: the pipeline created no alerts".into());
    }
    let paths = Arc::new(paths);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (paths, next, client, base, key) =
            (paths.clone(), next.clone(), target.client.clone(), target.base.clone(), target.key.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            while started.elapsed() < duration {
                let path = &paths[next.fetch_add(1, Ordering::Relaxed) % paths.len()];
                let sent = Instant::now();
                let ok = match client.get(format!("{base}{path}")).bearer_auth(&key).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                latencies.push(sent.elapsed());
                errors += usize::from(!ok);
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (l, e) = task.await.map_err(|e| format!("a load task failed: {e}"))?;
        latencies.extend(l);
        errors += e;
    }
    Ok(RunResult {
        latency: Latency::new(latencies),
        elapsed: started.elapsed(),
        errors,
        uuids: Vec::new(),
        sent_at: HashMap::new(),
    })
}

/// Sorted request latencies.
struct Latency(Vec<Duration>);

impl Latency {
    fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Latency(samples)
    }

    fn count(&self) -> usize {
        self.0.len()
    }

    /// The `q` quantile in milliseconds (nearest rank).
    fn p(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1].as_secs_f64() * 1000.0
    }

    fn to_json(&self) -> Value {
        json!({"p50": round(self.p(0.5)), "p90": round(self.p(0.9)), "p99": round(self.p(0.99)), "max": round(self.p(1.0))})
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A SIEM payload to clone alerts from.
struct Template {
    source: String,
    payload: Value,
    /// The indicators (type, normalized value) replaced per alert: what the server extracts from
    /// the payload (see [`resolve_indicators`]), else the payload's IPv4 addresses.
    indicators: Vec<(IndicatorType, String)>,
    /// The first fixture of each source drives the per-source runs.
    primary: bool,
}

/// Loads `*.json` fixtures (recursively) and recognises their source by shape.
fn load_templates(dirs: &[PathBuf]) -> Result<Vec<Template>, String> {
    let mut files = Vec::new();
    for dir in dirs {
        collect_json(dir, &mut files);
    }
    files.sort();
    let mut templates: Vec<Template> = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let Ok(payload @ Value::Object(_)) = serde_json::from_str::<Value>(&text) else { continue };
        let source = if payload.get("properties").is_some() {
            "sentinel"
        } else if payload.get("kibana.alert.rule.name").is_some()
            || payload.pointer("/kibana/alert/rule/name").is_some()
        {
            "elastic"
        } else if payload.get("result").is_some()
            && (payload.get("search_name").is_some() || payload.get("sid").is_some())
        {
            "splunk"
        } else if payload.get("title").is_some() {
            "generic"
        } else {
            continue;
        };
        let indicators = addresses_of(&payload);
        let primary = !templates.iter().any(|t| t.source == source);
        templates.push(Template { source: source.into(), payload, indicators, primary });
    }
    if !templates.iter().any(|t| t.source == "generic") {
        let payload = json!({"title": "Impossible Travel Detected", "severity": "High", "occurred_at": "2026-04-11T10:00:00Z",
            "src_ip": "185.220.101.47", "email": "nick.hathaway@calseta.com", "domain": "login-portal.example.net"});
        let indicators = addresses_of(&payload);
        templates.push(Template { source: "generic".into(), payload, indicators, primary: true });
    }
    if templates.len() < 2 {
        return Err(format!("no SIEM fixtures found in {dirs:?} (pass --fixtures DIR)"));
    }
    Ok(templates)
}

fn collect_json(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                collect_json(&entry.path(), out);
            }
        }
    } else if path.extension().is_some_and(|e| e == "json") {
        out.push(path.to_path_buf());
    }
}

/// The distinct IPv4 addresses of a payload, as `ip` indicators.
fn addresses_of(payload: &Value) -> Vec<(IndicatorType, String)> {
    fn collect(value: &Value, out: &mut Vec<(IndicatorType, String)>) {
        match value {
            Value::String(s) if s.parse::<Ipv4Addr>().is_ok() && !out.iter().any(|(_, a)| a == s) => {
                out.push((IndicatorType::Ip, s.clone()))
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            Value::Object(map) => map.values().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    collect(payload, &mut out);
    out
}

/// Asks the server which indicators it extracts from each template (the extraction dry run), so
/// that every one of them can be made unique per alert.
async fn resolve_indicators(target: &Target, templates: &mut [Template]) -> Result<(), String> {
    for template in templates.iter_mut() {
        let body = json!({"source_name": template.source, "raw_payload": template.payload});
        let (status, report) =
            target.send(reqwest::Method::POST, "/v1/indicator-mappings/test-extraction", Some(body)).await?;
        if status != 200 {
            // A fixture the source refuses keeps its addresses as the indicators made unique.
            continue;
        }
        template.indicators = report["data"]["deduplicated"]
            .as_array()
            .map(|found| {
                found
                    .iter()
                    .filter_map(|i| {
                        let kind = IndicatorType::parse(i["type"].as_str()?).ok()?;
                        Some((kind, i["value"].as_str()?.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
    }
    Ok(())
}

/// A value of `kind` unique to alert `n` and position `k`, derived from `value`.
fn unique_indicator(kind: IndicatorType, value: &str, n: u64, k: usize) -> Option<String> {
    Some(match kind {
        IndicatorType::Ip => match value.parse::<Ipv4Addr>() {
            Ok(_) => unique_address(n, k),
            Err(_) => return None,
        },
        IndicatorType::HashMd5 | IndicatorType::HashSha1 | IndicatorType::HashSha256 => {
            let suffix = format!("{n:012x}{k:04x}");
            let keep = value.len().checked_sub(suffix.len())?;
            format!("{}{suffix}", value.get(..keep)?)
        }
        IndicatorType::Domain => format!("n{n}-{k}.{value}"),
        IndicatorType::Url => format!("{value}{}bench={n}-{k}", if value.contains('?') { '&' } else { '?' }),
        IndicatorType::Email => {
            let (local, domain) = value.split_once('@')?;
            format!("{local}.n{n}-{k}@{domain}")
        }
        IndicatorType::Account => format!("{value}.n{n}-{k}"),
    })
}

/// Replaces every string that is one of the template's indicators (as the server would normalize
/// it) with that indicator's unique value for this alert.
fn replace_indicators(value: &mut Value, replacements: &[(IndicatorType, &str, String)]) {
    match value {
        Value::String(s) => {
            if let Some((_, _, new)) = replacements.iter().find(|(kind, old, _)| {
                indicators::normalize(*kind, s).is_ok_and(|normalized| normalized == *old)
            }) {
                *s = new.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_indicators(v, replacements)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_indicators(v, replacements)),
        _ => {}
    }
}

/// Makes alerts unique: a numbered title and fresh values for every indicator per alert.
struct AlertFactory {
    counter: AtomicU64,
}

impl AlertFactory {
    /// Title fields of the four sources.
    const TITLES: [&'static str; 6] = [
        "/properties/title",
        "/kibana.alert.rule.name",
        "/search_name",
        "/result/rule_name",
        "/result/signature",
        "/title",
    ];

    fn new() -> Self {
        AlertFactory { counter: AtomicU64::new(1) }
    }

    fn make(&self, template: &Template) -> Vec<u8> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut payload = template.payload.clone();
        for pointer in Self::TITLES {
            if let Some(Value::String(title)) = payload.pointer_mut(pointer) {
                *title = format!("{title} #{n}");
            }
        }
        let replacements: Vec<(IndicatorType, &str, String)> = template
            .indicators
            .iter()
            .enumerate()
            .filter_map(|(k, (kind, old))| Some((*kind, old.as_str(), unique_indicator(*kind, old, n, k)?)))
            .collect();
        replace_indicators(&mut payload, &replacements);
        serde_json::to_vec(&payload).unwrap_or_default()
    }
}

/// A public address unique to alert `n` and position `k`.
fn unique_address(n: u64, k: usize) -> String {
    const FIRST_OCTETS: [u8; 6] = [45, 77, 91, 103, 154, 185];
    let first = FIRST_OCTETS[k % FIRST_OCTETS.len()].wrapping_add((k / FIRST_OCTETS.len()) as u8);
    let [_, b, c, d] = (n as u32).to_be_bytes();
    Ipv4Addr::new(first, b, c, d).to_string()
}

/// A loopback agent recording when each alert's `alert.enriched` POST arrived.
struct Agent {
    url: String,
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Agent {
    async fn start() -> Result<Agent, String> {
        let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let recorded = arrivals.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let recorded = recorded.clone();
                async move {
                    let at = Instant::now();
                    if let Ok(payload) = serde_json::from_slice::<Value>(&body)
                        && let Some(uuid) = payload["alert"]["uuid"].as_str()
                        && let Ok(mut map) = recorded.lock()
                    {
                        map.entry(uuid.to_string()).or_insert(at);
                    }
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot start the bench agent: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Agent { url: format!("http://{addr}/hook"), arrivals })
    }

    fn arrival(&self, uuid: &str) -> Option<Instant> {
        self.arrivals.lock().ok()?.get(uuid).copied()
    }

    async fn wait_for(&self, uuid: &str, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(at) = self.arrival(uuid) {
                return Some(at);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        None
    }

    fn arrivals(&self, uuids: &[String]) -> Vec<(String, Instant)> {
        let Ok(map) = self.arrivals.lock() else { return Vec::new() };
        uuids.iter().filter_map(|u| map.get(u).map(|at| (u.clone(), *at))).collect()
    }

    fn delivered(&self, uuids: &[String]) -> usize {
        self.arrivals(uuids).len()
    }
}

/// Starts `calseta` processes with the benchmark configuration.
struct Launcher {
    exe: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Launcher {
    fn command(&self, args: &[&str]) -> Result<Command, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open {}: {e}", self.log.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(&self.exe);
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(log)
            .stderr(log2)
            .kill_on_drop(true);
        Ok(command)
    }

    /// Migrates the database and creates the admin key the benchmark uses.
    async fn create_admin_key(&self) -> Result<String, String> {
        let output = self
            .command(&["api-key", "create", "--name", "bench", "--scopes", "admin"])?
            .stdout(Stdio::piped())
            .output()
            .await
            .map_err(|e| format!("cannot run calseta api-key create: {e}"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("key (shown once): "))
            .map(|k| k.trim().to_string())
            .ok_or_else(|| format!("calseta api-key create failed (see {}): {text}", self.log.display()))
    }

    /// Starts the server (and `workers` worker processes) and waits until it is healthy.
    async fn start(&self, target: &Target, workers: usize) -> Result<(Fleet, Duration), String> {
        let started = Instant::now();
        let args: &[&str] = if workers > 0 { &["serve", "--no-worker"] } else { &["serve"] };
        let mut children =
            vec![self.command(args)?.spawn().map_err(|e| format!("cannot start calseta serve: {e}"))?];
        let healthy = loop {
            if let Ok(r) = target.client.get(format!("{}/health", target.base)).send().await
                && r.status().is_success()
            {
                break started.elapsed();
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!("the server did not become healthy (see {})", self.log.display()));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        for _ in 0..workers {
            children.push(
                self.command(&["worker"])?
                    .spawn()
                    .map_err(|e| format!("cannot start calseta worker: {e}"))?,
            );
        }
        Ok((Fleet { children, workers }, healthy))
    }
}

/// The running server processes.
struct Fleet {
    children: Vec<Child>,
    workers: usize,
}

impl Fleet {
    fn describe(&self) -> String {
        if self.workers == 0 {
            "1 × serve".into()
        } else {
            format!("1 × serve --no-worker + {} × worker", self.workers)
        }
    }

    async fn kill(&mut self) {
        for child in &mut self.children {
            let _ = child.kill().await;
        }
    }

    fn sample(&self) -> (u64, u64) {
        self.children
            .iter()
            .filter_map(Child::id)
            .filter_map(proc_stats)
            .fold((0, 0), |(r, c), (rss, cpu)| (r + rss, c + cpu))
    }

    /// Runs `work` while sampling the processes' RSS every 50 ms and their CPU time.
    async fn sample_during<T>(&self, work: impl std::future::Future<Output = T>) -> (T, Resources) {
        let (_, cpu_before) = self.sample();
        let started = Instant::now();
        let stop = AtomicBool::new(false);
        let peak = AtomicU64::new(0);
        let sampler = async {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(self.sample().0, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let work = async {
            let out = work.await;
            stop.store(true, Ordering::Relaxed);
            out
        };
        let (out, ()) = tokio::join!(work, sampler);
        let (rss_end, cpu_after) = self.sample();
        let wall = started.elapsed().as_secs_f64().max(1e-9);
        // /proc reports CPU time in clock ticks, 100 per second on Linux.
        let cpu_percent = (cpu_after.saturating_sub(cpu_before)) as f64 / 100.0 / wall * 100.0;
        (out, Resources { rss_peak_kib: peak.load(Ordering::Relaxed).max(rss_end), cpu_percent })
    }
}

/// Server resource use during a phase.
struct Resources {
    rss_peak_kib: u64,
    cpu_percent: f64,
}

impl Resources {
    fn to_json(&self) -> Value {
        json!({"rss_peak_mib": round(self.rss_peak_kib as f64 / 1024.0), "cpu_percent": round(self.cpu_percent)})
    }
}

/// RSS in KiB and user + system CPU ticks of a process.
fn proc_stats(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((rss, utime + stime))
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
    });
    let memory =
        std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| t.lines().next().map(str::to_string));
    json!({"cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), "cpu": cpu, "memory": memory})
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn print_table(report: &Value) {
    println!();
    println!("| measure | figure |");
    println!("|---|---|");
    println!(
        "| engine / processes | {} / {} |",
        report["engine"].as_str().unwrap_or(""),
        report["processes"].as_str().unwrap_or("")
    );
    println!("| startup to healthy | {} ms |", report["startup_ms"]);
    println!(
        "| RSS idle / CPU idle | {} MiB / {} % |",
        report["idle"]["rss_peak_mib"], report["idle"]["cpu_percent"]
    );
    if let Some(runs) = report["ingest"].as_array() {
        let best = runs
            .iter()
            .filter(|r| r["concurrency"] == 32 && r["kind"] == "unique")
            .map(|r| {
                format!(
                    "{} {}/s p99 {} ms",
                    r["source"].as_str().unwrap_or(""),
                    r["per_second"],
                    r["latency_ms"]["p99"]
                )
            })
            .collect::<Vec<_>>();
        println!("| ingest, unique, c=32 | {} |", best.join("; "));
        let peak = runs.iter().filter_map(|r| r["server"]["rss_peak_mib"].as_f64()).fold(0.0, f64::max);
        println!("| RSS peak during ingest | {peak} MiB |");
    }
    let p = &report["pipeline"];
    println!(
        "| pipeline ({} alerts) | enriched {}/s, delivered {}/s, ingest → webhook p50 {} ms p99 {} ms, unfinished {}, RSS peak {} MiB |",
        p["alerts"],
        p["enriched_per_second"],
        p["delivered_per_second"],
        p["ingest_to_webhook_ms"]["p50"],
        p["ingest_to_webhook_ms"]["p99"],
        p["unfinished"],
        p["server"]["rss_peak_mib"]
    );
    let s = &report["single_alert"];
    println!(
        "| single alert at idle (median of {}) | → Enriched {} ms, → webhook {} ms |",
        s["alerts"], s["ingest_to_enriched_ms"]["p50"], s["ingest_to_webhook_ms"]["p50"]
    );
    for (name, r) in report["reads"].as_object().into_iter().flatten() {
        println!("| read {name}, c=16 | {}/s p99 {} ms |", r["per_second"], r["latency_ms"]["p99"]);
    }
    println!("| enrichment cache hit ratio | {} |", report["enrichment_cache"]["hit_ratio"]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_unique_per_call() {
        let payload =
            json!({"title": "T", "src_ip": "10.0.0.1", "nested": {"ip": "10.0.0.1", "other": "8.8.8.8"}});
        let indicators = addresses_of(&payload);
        let template = Template { source: "generic".into(), payload, indicators, primary: true };
        let factory = AlertFactory::new();
        let a: Value = serde_json::from_slice(&factory.make(&template)).unwrap();
        let b: Value = serde_json::from_slice(&factory.make(&template)).unwrap();
        assert_ne!(a["title"], b["title"]);
        assert_eq!(a["src_ip"], a["nested"]["ip"], "one original address maps to one new address");
        assert_ne!(a["src_ip"], a["nested"]["other"]);
        assert_ne!(a["src_ip"], b["src_ip"]);
    }

    #[test]
    fn every_indicator_gets_a_valid_value_of_its_type_per_alert() {
        let md5 = "44d88612fea8a8f36de82e1278abb02f";
        let payload = json!({"title": "T", "hash": md5.to_uppercase(), "host": "evil.example.com",
            "user": "Jdoe@Contoso.com", "url": "https://evil.example.com/a", "account": "CONTOSO\\jdoe"});
        let indicators = vec![
            (IndicatorType::HashMd5, md5.to_string()),
            (IndicatorType::Domain, "evil.example.com".to_string()),
            (IndicatorType::Email, "jdoe@contoso.com".to_string()),
            (IndicatorType::Url, "https://evil.example.com/a".to_string()),
            (IndicatorType::Account, "CONTOSO\\jdoe".to_string()),
        ];
        let template = Template { source: "generic".into(), payload, indicators, primary: true };
        let factory = AlertFactory::new();
        let a: Value = serde_json::from_slice(&factory.make(&template)).unwrap();
        let b: Value = serde_json::from_slice(&factory.make(&template)).unwrap();
        for (field, kind) in [
            ("hash", IndicatorType::HashMd5),
            ("host", IndicatorType::Domain),
            ("user", IndicatorType::Email),
            ("url", IndicatorType::Url),
            ("account", IndicatorType::Account),
        ] {
            let (x, y) = (a[field].as_str().unwrap(), b[field].as_str().unwrap());
            assert_ne!(x, y, "{field} differs between alerts");
            assert_ne!(x, template.payload[field], "{field} was replaced");
            assert!(indicators::normalize(kind, x).is_ok(), "{field} {x} is still a valid {kind:?}");
        }
        assert_eq!(a["hash"].as_str().unwrap().len(), md5.len());
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let latency = Latency::new((1..=100).map(Duration::from_millis).collect());
        assert_eq!(latency.p(0.5), 50.0);
        assert_eq!(latency.p(0.99), 99.0);
        assert_eq!(latency.p(1.0), 100.0);
        assert_eq!(Latency::new(Vec::new()).p(0.5), 0.0);
    }
}
