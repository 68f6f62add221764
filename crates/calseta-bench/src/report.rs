//! The human-readable summary: the headline figures of a finished report as a Markdown table.

use serde_json::Value;

/// Prints the headline figures of `report` as a Markdown table.
pub(crate) fn print_table(report: &Value) {
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
    if let Some(busy) = p["writer_busy"].as_f64() {
        let work = &p["database_work_per_alert"];
        println!(
            "| SQLite's writer during the pipeline | held {:.0} % of the time; per alert held {} ms (commits {} ms), waited for {} ms |",
            busy * 100.0,
            work["writer_held_ms"],
            work["commit_ms"],
            work["writer_wait_ms"]
        );
    }
    let s = &report["single_alert"];
    println!(
        "| single alert at idle (median of {}) | → Enriched {} ms, → webhook {} ms |",
        s["alerts"], s["ingest_to_enriched_ms"]["p50"], s["ingest_to_webhook_ms"]["p50"]
    );
    for (name, r) in report["reads"].as_object().into_iter().flatten() {
        println!("| read {name}, c=16 | {}/s p99 {} ms |", r["per_second"], r["latency_ms"]["p99"]);
    }
    println!("| enrichment cache hit ratio | {} |", report["enrichment_cache"]["hit_ratio"]);
    let w = &report["workflow_runs"];
    println!(
        "| workflow run overhead ({}, {} runs) | p50 {} ms p99 {} ms, {} runs/s, {} runs/s two at a time |",
        w["sandbox"].as_str().unwrap_or(""),
        w["runs"],
        w["overhead_ms"]["p50"],
        w["overhead_ms"]["p99"],
        w["runs_per_second"],
        w["runs_per_second_two_at_a_time"]
    );
}
