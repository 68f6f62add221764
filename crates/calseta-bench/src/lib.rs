//! `calseta bench`: the benchmark harness. It owns everything the benchmark does: it launches
//! real `calseta` processes (the running executable) on a fresh database, drives them over
//! loopback HTTP with alerts made unique from the SIEM fixtures, runs a loopback agent that
//! records every `alert.enriched` delivery, keeps console event streams open while alerts are
//! ingested (the live-update fan-out, `console_live`), samples the server processes' RSS and CPU from
//! `/proc`, and reports JSON and a table. Figures are never asserted anywhere.
//!
//! `--pages N` measures the analyst console's pages instead ([`pages`]), on a database filled
//! with `N` alerts; `--scale N` the hot queries at 10,000 alerts and at `N` ([`scale`]).
//!
//! The loopback agent ([`agent`]), fixture loading ([`fixtures`]) and indicator rewriting
//! ([`rewrite`]) are public for reuse (sandbox mode, tests).

pub mod agent;
pub mod ceilings;
mod client;
mod console_live;
mod extraction;
pub mod fixtures;
mod load;
mod pages;
mod phases;
mod report;
pub mod rewrite;
mod scale;
mod scale_data;
mod server;
mod stats;
mod timed;
mod tokens;
mod workflows;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use crate::client::Target;
use crate::fixtures::Template;
use crate::phases::Scale;
use crate::server::Launcher;
use crate::stats::{median, round};

/// What to benchmark.
#[derive(Clone)]
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
    /// Measure only the console's pages, on a database filled with this many alerts.
    pub pages: Option<usize>,
    /// Measure only extraction of 64 KB alerts, in process (no server).
    pub extraction_only: bool,
    /// The ingest service in this process, for ingest without HTTP and the storage ceiling.
    pub in_process: Option<Arc<dyn ceilings::InProcessIngest>>,
    /// Measure only the hot queries at 10,000 alerts and at this many (filled directly).
    pub scale: Option<u64>,
}

/// Runs every benchmark and prints the report. Must run inside a multi-threaded tokio runtime,
/// in the `calseta` binary (it starts copies of the running executable as the servers).
pub async fn run(options: BenchOptions) -> Result<(), String> {
    let scale = if options.quick { Scale::QUICK } else { Scale::FULL };
    let extraction_runs = if options.quick { 50 } else { 500 };
    if options.extraction_only {
        let report =
            json!({"machine": server::machine(), "extraction_64k": extraction::measure(extraction_runs)});
        extraction::print(&report["extraction_64k"]);
        return write_json(&options, &report);
    }
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
    let port = server::free_port()?;
    let launcher = Launcher::new(&database_url, engine == "postgresql", port, &workdir)?;
    let key = launcher.create_admin_key().await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let target = Target { client, base: format!("http://127.0.0.1:{port}"), key };
    if let Some(alerts) = options.pages {
        let (mut fleet, _) = launcher.start_without_worker(&target).await?;
        println!("console pages on {engine}: filling {alerts} alerts (server without its worker)");
        let outcome = pages::run(&target, alerts, options.quick).await;
        fleet.kill().await;
        let report = json!({"engine": engine, "machine": server::machine(), "console_pages": outcome?});
        return finish(&options, &report, &workdir);
    }
    if let Some(alerts) = options.scale {
        let outcome = scale::run(&launcher, &target, &database_url, alerts, options.quick).await?;
        scale::print(&outcome);
        let report = json!({"engine": engine, "machine": server::machine(), "scale": outcome});
        return finish(&options, &report, &workdir);
    }
    let mut templates = fixtures::load_templates(&options.fixtures)?;

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
        "machine": server::machine(), "startup_ms": round(startup_ms),
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
            phases::run_phases(&target, &fleet, &templates, scale, &mut report).await
        }
        Err(e) => Err(e),
    };
    let live_scale =
        if options.quick { console_live::LiveScale::QUICK } else { console_live::LiveScale::FULL };
    let outcome = match outcome {
        Ok(()) => console_live::measure(&target, &templates, live_scale).await.map(|live| {
            report["console_live"] = live;
        }),
        Err(e) => Err(e),
    };
    fleet.kill().await;
    outcome?;
    if let Some(ingest) = &options.in_process {
        let generic = templates.iter().find(|t| t.source == "generic").unwrap_or(&templates[0]);
        // Far beyond the numbers the server phases used, so no alert is taken as a duplicate.
        let factory = rewrite::AlertFactory::starting_at(1 << 40);
        let bodies = |n: usize| {
            (0..n)
                .map(|_| {
                    (generic.source.clone(), String::from_utf8_lossy(&factory.make(generic)).into_owned())
                })
                .collect()
        };
        let alerts = scale.in_process_alerts();
        let measured = ceilings::in_process(ingest.as_ref(), launcher.env(), bodies, alerts, 32).await?;
        report["ceilings"]["ingest_without_http"] = measured["ingest_without_http"].clone();
        report["ceilings"]["storage"] = measured["storage"].clone();
    }
    add_fractions(&mut report);
    report["workflow_runs"] = workflows::measure(if options.quick { 20 } else { 100 }).await?;
    report["payload_tokens"] = tokens::measure(&workdir).await?;
    report["extraction_64k"] = extraction::measure(extraction_runs);
    extraction::print(&report["extraction_64k"]);
    report::print_table(&report);
    finish(&options, &report, &workdir)
}

/// Ingest (generic, unique, c=32) and the pipeline as fractions of the ceilings.
fn add_fractions(report: &mut serde_json::Value) {
    let ingest = report["ingest"]
        .as_array()
        .and_then(|runs| {
            runs.iter().find(|r| r["source"] == "generic" && r["kind"] == "unique" && r["concurrency"] == 32)
        })
        .map(|r| r["per_second"].clone())
        .unwrap_or_default();
    let pipeline = report["pipeline"]["enriched_per_second"].clone();
    let ceilings = &report["ceilings"];
    let fractions = json!({
        "ingest_of_http_ceiling": ceilings::fraction(&ingest, &ceilings["http"]["per_second"]),
        "ingest_of_ingest_without_http": ceilings::fraction(&ingest, &ceilings["ingest_without_http"]["per_second"]),
        "ingest_of_storage_ceiling": ceilings::fraction(&ingest, &ceilings["storage"]["per_second"]),
        "pipeline_of_storage_ceiling": ceilings::fraction(&pipeline, &ceilings["storage"]["per_second"]),
    });
    println!("fractions of the ceilings: {fractions}");
    report["ceilings"]["fractions"] = fractions;
}

/// Writes the JSON report when asked and removes the working directory.
fn finish(
    options: &BenchOptions,
    report: &serde_json::Value,
    workdir: &std::path::Path,
) -> Result<(), String> {
    write_json(options, report)?;
    let _ = std::fs::remove_dir_all(workdir);
    Ok(())
}

/// Writes the JSON report to `--json` when asked.
fn write_json(options: &BenchOptions, report: &serde_json::Value) -> Result<(), String> {
    if let Some(path) = &options.json_out {
        let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("report written to {}", path.display());
    }
    Ok(())
}

/// Asks the server which indicators it extracts from each template (the extraction dry run), so
/// that every one of them can be made unique per alert. A fixture the source refuses keeps its
/// addresses as the indicators made unique.
async fn resolve_indicators(target: &Target, templates: &mut [Template]) -> Result<(), String> {
    for template in templates.iter_mut() {
        if let Some(found) = target.extracted_indicators(&template.source, &template.payload).await? {
            template.indicators = found;
        }
    }
    Ok(())
}
