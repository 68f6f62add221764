//! The measured phases, in order: idle, ingest (every source, unique and duplicate alerts, at
//! several concurrencies), single alerts to a loopback agent, the full pipeline, reads (REST and
//! MCP), and the enrichment cache hit ratio. Each adds its section to the JSON report.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::agent::LoopbackAgent;
use crate::ceilings;
use crate::client::Target;
use crate::fixtures::Template;
use crate::load::{Read, ingest_all, read_all};
use crate::rewrite::AlertFactory;
use crate::server::Fleet;
use crate::stats::{Latency, round};

/// How many requests each phase sends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    ingest_per_run: usize,
    pipeline_alerts: usize,
    single_alerts: usize,
    read_seconds: u64,
}

impl Scale {
    /// The full run.
    pub(crate) const FULL: Scale =
        Scale { ingest_per_run: 2000, pipeline_alerts: 5000, single_alerts: 50, read_seconds: 5 };
    /// A smoke run.
    pub(crate) const QUICK: Scale =
        Scale { ingest_per_run: 200, pipeline_alerts: 300, single_alerts: 10, read_seconds: 1 };

    /// Alerts for each in-process run (ingest without HTTP, the storage ceiling).
    pub(crate) fn in_process_alerts(self) -> usize {
        self.pipeline_alerts
    }
}

/// Runs every phase against the started fleet, adding each one's figures to `report`.
pub(crate) async fn run_phases(
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
    report["ceilings"] = json!({"http": ceilings::http(target, fleet, 32, scale.read_seconds * 2).await?});

    // From here on a loopback agent receives every alert.
    let agent = LoopbackAgent::start().await?;
    let (status, body) = target
        .send(
            reqwest::Method::POST,
            "/v1/agents",
            Some(json!({"name": "bench-agent", "endpoint_url": agent.url(), "signing_secret": "generate", "timeout_seconds": 30})),
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
    let work_before = ceilings::server_work(target).await?;
    let read_before = Instant::now();
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
    let work_after = ceilings::server_work(target).await?;
    let writer_busy = ceilings::writer_busy(work_before, work_after, read_before.elapsed());
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
        // With separate workers the serve process counts only its own share (ingest, reads).
        "database_work_per_alert": ceilings::server_work_per_alert(work_before, work_after, run.uuids.len()),
        "database_work_counted_in": fleet.describe(),
        // On SQLite, the share of the run in which the one write connection was held.
        "writer_busy": writer_busy,
    });
    println!(
        "pipeline database work per alert ({}): {}; SQLite's writer held {} of the time",
        fleet.describe(),
        report["pipeline"]["database_work_per_alert"],
        report["pipeline"]["writer_busy"]
    );

    // Reads at concurrency 16.
    let sample: Vec<String> = run.uuids.iter().take(1000).cloned().collect();
    let mut reads = serde_json::Map::new();
    for (name, paths) in [
        ("alert_detail", sample.iter().map(|u| Read::Rest(format!("/v1/alerts/{u}"))).collect::<Vec<_>>()),
        ("alert_list", vec![Read::Rest("/v1/alerts?page_size=50".to_string())]),
        ("alert_context", sample.iter().map(|u| Read::Rest(format!("/v1/alerts/{u}/context"))).collect()),
        (
            "mcp_alert",
            sample
                .iter()
                .map(|u| Read::mcp("resources/read", json!({"uri": format!("calseta://alerts/{u}")})))
                .collect(),
        ),
        (
            "mcp_search",
            vec![Read::mcp("tools/call", json!({"name": "search_alerts", "arguments": {"page_size": 20}}))],
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_hits_are_counted_anywhere_in_a_document() {
        let detail = json!({"data": {"indicators": [
            {"enrichment_results": {"a": {"cache_hit": true}, "b": {"cache_hit": false}}},
            {"enrichment_results": {"a": {"cache_hit": true}, "c": {"cache_hit": "no"}}},
        ]}});
        let (mut hits, mut lookups) = (0, 0);
        count_cache_hits(&detail, &mut hits, &mut lookups);
        assert_eq!((hits, lookups), (2, 3));
    }
}
