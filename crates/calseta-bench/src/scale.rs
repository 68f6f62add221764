//! `calseta bench --scale N`: whether a database of `N` alerts answers the hot queries as fast
//! as one of 10,000. One run fills a fresh database directly (`calseta_store::bulk`: the rows an
//! ingest writes, thousands of alerts per transaction, no HTTP) to 10,000 alerts, measures, fills
//! on to `N`, measures again; each time a real `calseta serve --no-worker` answers over loopback
//! HTTP, 16 requests in flight for a few seconds per query: the alert list with two filters (and
//! without one), the detail of random alerts, past alerts (the alert's context), and an ingest
//! taken as a duplicate. It reports p50/p99 and requests per second side by side, the bytes per
//! alert on disk at each size, and what retention does at `N`: the closed alerts of all but the
//! last 90 days deleted, the space given back, the bytes per remaining alert.

use std::sync::Arc;
use std::time::{Duration, Instant};

use calseta_store::bulk::{self, BulkAlert};
use calseta_store::retention::{self, Retention};
use calseta_store::{Db, DbOptions};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::client::Target;
use crate::scale_data::{self, Generator, SHARED_POOL, Slot};
use crate::server::Launcher;
use crate::stats::round;
use crate::timed::{self, Client, MakeRequest, Request};

/// Alerts per transaction while filling.
const BATCH: u64 = 5_000;
/// Growing-pool indicators stored per transaction.
const INDICATOR_BATCH: usize = 10_000;
/// The smaller database every run measures first.
pub(crate) const FIRST_POINT: u64 = 10_000;
/// Requests in flight while measuring.
const CONCURRENCY: usize = 16;
/// Alerts ingested once and then sent again as duplicates.
const DEDUP_SEEDS: u64 = 32;
/// Retention keeps closed alerts of this many days.
const KEEP_CLOSED_DAYS: i64 = 90;

/// Fills the database in order, keeping what the measurements need.
struct Loader<'a> {
    db: &'a Db,
    generator: Generator,
    key_prefix: String,
    rules: Vec<i64>,
    shared: Vec<i64>,
    rare: Vec<i64>,
    /// Every stored alert's public id, in order.
    uuids: Vec<uuid::Uuid>,
    /// Links to shared-pool indicators made so far.
    shared_links: u64,
}

impl<'a> Loader<'a> {
    /// Creates the detection rules and the shared indicators.
    async fn new(db: &'a Db, generator: Generator, key_prefix: String) -> Result<Loader<'a>, String> {
        let mut tx = db.begin().await.map_err(|e| e.to_string())?;
        let mut rules = Vec::new();
        for (source, rule) in scale_data::rule_refs() {
            let id = calseta_store::detection_rules::find_or_create_stub(&mut tx, source, &rule)
                .await
                .map_err(|e| e.to_string())?;
            rules.push(id);
        }
        tx.commit().await.map_err(|e| e.to_string())?;
        let first = generator.ingested_at(0);
        let shared: Vec<_> = (0..SHARED_POOL).map(|k| scale_data::shared_indicator(k, first)).collect();
        let shared = bulk::insert_indicators(db, &shared).await.map_err(|e| e.to_string())?;
        Ok(Loader {
            db,
            generator,
            key_prefix,
            rules,
            shared,
            rare: Vec::new(),
            uuids: Vec::new(),
            shared_links: 0,
        })
    }

    fn stored(&self) -> u64 {
        self.uuids.len() as u64
    }

    /// Stores the growing pool's members up to `count`.
    async fn grow_pool(&mut self, count: u64, seen_at: DateTime<Utc>) -> Result<(), String> {
        while (self.rare.len() as u64) < count {
            let from = self.rare.len() as u64;
            let to = count.min(from + INDICATOR_BATCH as u64);
            let batch: Vec<_> = (from..to).map(|k| scale_data::rare_indicator(k, seen_at)).collect();
            self.rare.extend(bulk::insert_indicators(self.db, &batch).await.map_err(|e| e.to_string())?);
        }
        Ok(())
    }

    /// Stores alerts until there are `count`; (seconds, alerts per second).
    async fn fill_to(&mut self, count: u64) -> Result<(f64, f64), String> {
        let started = Instant::now();
        let from = self.stored();
        let mut reported = from;
        while self.stored() < count {
            let first = self.stored();
            let last = count.min(first + BATCH);
            self.grow_pool(scale_data::rare_pool(last - 1), self.generator.ingested_at(first)).await?;
            let alerts: Vec<BulkAlert> = (first..last).map(|n| self.alert(n)).collect();
            let stored =
                bulk::insert_alerts(self.db, &alerts, &self.key_prefix).await.map_err(|e| e.to_string())?;
            self.uuids.extend(stored.into_iter().map(|(_, uuid)| uuid));
            if self.stored() - reported >= 100_000 || self.stored() == count {
                reported = self.stored();
                let took = started.elapsed().as_secs_f64();
                let rate = (reported - from) as f64 / took.max(1e-9);
                println!("scale: {reported} alerts stored ({took:.0} s, {rate:.0} alerts/s)");
            }
        }
        let took = started.elapsed().as_secs_f64();
        Ok((took, (count - from) as f64 / took.max(1e-9)))
    }

    /// Alert `n` with the database's ids of its rule and indicators.
    fn alert(&mut self, n: u64) -> BulkAlert {
        let generated = self.generator.alert(n);
        let mut alert = generated.alert;
        alert.detection_rule_id = self.rules.get(generated.rule).copied();
        for slot in generated.slots {
            let id = match slot {
                Slot::Shared(k) => {
                    self.shared_links += 1;
                    self.shared.get(k as usize)
                }
                Slot::Rare(k) => self.rare.get(k as usize),
            };
            if let Some(id) = id
                && !alert.indicator_ids.contains(id)
            {
                alert.indicator_ids.push(*id);
            }
        }
        alert
    }
}

/// The queries measured at each size: name, request maker, answer check.
fn queries(
    uuids: Arc<Vec<uuid::Uuid>>,
    window: (DateTime<Utc>, DateTime<Utc>),
) -> Vec<(&'static str, MakeRequest, timed::Check)> {
    let pick = |uuids: &Arc<Vec<uuid::Uuid>>, i: u64| {
        // A well-spread pseudo-random alert of the whole table for request i.
        let at = usize::try_from(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11).unwrap_or(0);
        uuids.get(at % uuids.len().max(1)).copied().unwrap_or_default()
    };
    let range = format!(
        "/v1/alerts?source_name=splunk&from_time={}&to_time={}&page_size=50",
        window.0.format("%Y-%m-%dT%H:%M:%SZ"),
        window.1.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let (detail, context) = (uuids.clone(), uuids);
    vec![
        ("alert list, no filter", Arc::new(|_| Request::get("/v1/alerts?page_size=50".into())), timed::ok),
        (
            "alert list, status=Open&severity=High",
            Arc::new(|_| Request::get("/v1/alerts?status=Open&severity=High&page_size=50".into())),
            timed::ok,
        ),
        (
            "alert list, source_name=splunk, last 30 days",
            Arc::new(move |_| Request::get(range.clone())),
            timed::ok,
        ),
        (
            "alert detail (random alert)",
            Arc::new(move |i| Request::get(format!("/v1/alerts/{}", pick(&detail, i)))),
            timed::ok,
        ),
        (
            "past alerts (alert context)",
            Arc::new(move |i| Request::get(format!("/v1/alerts/{}/context", pick(&context, i)))),
            timed::ok,
        ),
        (
            "dedup (ingest of a duplicate)",
            Arc::new(|i| Request {
                method: reqwest::Method::POST,
                path: "/v1/ingest/generic".into(),
                body: Some(scale_data::dedup_seed(i % DEDUP_SEEDS)),
            }),
            timed::duplicate,
        ),
    ]
}

/// Measures every query against the running server; one JSON object per query.
async fn measure(
    target: &Target,
    queries: Vec<(&'static str, MakeRequest, timed::Check)>,
    quick: bool,
) -> Result<Vec<Value>, String> {
    let client = Client { http: target.client.clone(), base: target.base.clone(), key: target.key.clone() };
    let (warm, run) = if quick {
        (Duration::from_millis(300), Duration::from_secs(1))
    } else {
        (Duration::from_secs(1), Duration::from_secs(4))
    };
    let mut out = Vec::new();
    for (name, make, check) in queries {
        let first = make(0);
        // How many alerts the list's filter matches (its `meta.total`), or past alerts shown.
        let matches = if first.method == reqwest::Method::GET {
            let (status, body) = target.send(reqwest::Method::GET, &first.path, None).await?;
            if status != 200 {
                return Err(format!("{} answered {status}: {body}", first.path));
            }
            body["meta"]["total"]
                .as_i64()
                .or_else(|| body["meta"]["past_alerts"].as_array().map(|a| a.len() as i64))
        } else {
            None
        };
        timed::run_for(&client, make.clone(), check, CONCURRENCY, warm).await;
        let measured = timed::run_for(&client, make, check, CONCURRENCY, run).await;
        println!(
            "scale: {name:<46} p50 {:>7.2} ms  p99 {:>7.2} ms  {:>8.0}/s  ({} requests, {} errors{})",
            measured.latency.p(0.5),
            measured.latency.p(0.99),
            measured.per_second,
            measured.latency.count(),
            measured.errors,
            matches.map(|m| format!(", {m} matches")).unwrap_or_default()
        );
        let mut entry = measured.to_json();
        entry["query"] = json!(name);
        entry["path"] = json!(first.path);
        entry["matches"] = json!(matches);
        out.push(entry);
    }
    Ok(out)
}

/// Ingests the duplicate seeds once, so that sending them again is deduplication.
async fn ingest_seeds(target: &Target) -> Result<(), String> {
    for i in 0..DEDUP_SEEDS {
        target.ingest("generic", scale_data::dedup_seed(i)).await?;
    }
    Ok(())
}

/// Runs the whole benchmark; the report's `scale` section.
pub(crate) async fn run(
    launcher: &Launcher,
    target: &Target,
    database_url: &str,
    total: u64,
    quick: bool,
) -> Result<Value, String> {
    let options =
        DbOptions { max_connections: 4, sqlite_synchronous_full: false, ..DbOptions::new(database_url) };
    let db = Db::connect(&options).await.map_err(|e| e.to_string())?;
    let outcome = run_on(&db, launcher, target, total, quick).await;
    db.close().await;
    outcome
}

async fn run_on(
    db: &Db,
    launcher: &Launcher,
    target: &Target,
    total: u64,
    quick: bool,
) -> Result<Value, String> {
    let engine = db.engine().as_str();
    let end = calseta_store::now();
    let generator = Generator::new(total, end);
    let key_prefix = target.key.chars().take(8).collect();
    let mut loader = Loader::new(db, generator, key_prefix).await?;
    let sizes: Vec<u64> = if total > FIRST_POINT { vec![FIRST_POINT, total] } else { vec![total] };
    let mut points = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let (seconds, rate) = loader.fill_to(size).await?;
        bulk::refresh_statistics(db).await.map_err(|e| e.to_string())?;
        let disk = bulk::disk_bytes(db).await.map_err(|e| e.to_string())?;
        println!(
            "scale: {size} alerts on {engine}: {} bytes on disk ({:.0} per alert)",
            disk,
            disk as f64 / size as f64
        );
        let newest = generator.ingested_at(size - 1);
        let window = (newest - chrono::Duration::days(30), newest);
        let (mut fleet, _) = launcher.start_without_worker(target).await?;
        let measured = async {
            if i == 0 {
                ingest_seeds(target).await?;
            }
            measure(target, queries(Arc::new(loader.uuids.clone()), window), quick).await
        }
        .await;
        fleet.kill().await;
        points.push(json!({
            "alerts": size, "fill_seconds": round(seconds), "fill_alerts_per_second": round(rate),
            "disk_bytes": disk, "bytes_per_alert": round(disk as f64 / size as f64),
            "alerts_per_shared_indicator": round(loader.shared_links as f64 / SHARED_POOL as f64),
            "queries": measured?,
        }));
    }
    let retention = apply_retention(db, end).await?;
    Ok(
        json!({"engine": engine, "alerts": total, "concurrency": CONCURRENCY, "points": points, "retention": retention}),
    )
}

/// Deletes the alerts closed more than [`KEEP_CLOSED_DAYS`] before `end` and gives the space
/// back; what it removed and the size before and after.
async fn apply_retention(db: &Db, end: DateTime<Utc>) -> Result<Value, String> {
    let err = |e: calseta_store::StoreError| e.to_string();
    let (before, alerts_before) =
        (bulk::disk_bytes(db).await.map_err(err)?, bulk::alert_count(db).await.map_err(err)?);
    let cutoff = end - chrono::Duration::days(KEEP_CLOSED_DAYS);
    let started = Instant::now();
    let removed =
        retention::apply(db, &Retention { closed_alerts_before: Some(cutoff), ..Retention::default() })
            .await
            .map_err(err)?;
    db.reclaim_space().await.map_err(err)?;
    let took = started.elapsed().as_secs_f64();
    let (after, alerts_after) =
        (bulk::disk_bytes(db).await.map_err(err)?, bulk::alert_count(db).await.map_err(err)?);
    let per_alert = |bytes: u64, alerts: i64| round(bytes as f64 / alerts.max(1) as f64);
    println!(
        "scale: retention removed {} closed alerts ({} activity events) in {took:.1} s; {before} → {after} bytes; {} → {} bytes per alert",
        removed.alerts,
        removed.activity,
        per_alert(before, alerts_before),
        per_alert(after, alerts_after)
    );
    Ok(json!({
        "closed_before": cutoff, "keep_closed_days": KEEP_CLOSED_DAYS, "seconds": round(took),
        "removed_alerts": removed.alerts, "removed_activity_events": removed.activity,
        "alerts_before": alerts_before, "alerts_after": alerts_after,
        "disk_bytes_before": before, "disk_bytes_after": after,
        "bytes_per_alert_before": per_alert(before, alerts_before), "bytes_per_alert_after": per_alert(after, alerts_after),
        // SQLite gives freed pages back (`Db::reclaim_space`); PostgreSQL keeps them for new rows
        // (autovacuum), so its size does not drop.
        "space_given_back": db.engine() == calseta_store::Engine::Sqlite,
    }))
}

/// The report as a table: each query at each size side by side, then the disk and retention.
pub(crate) fn print(report: &Value) {
    let points = report["points"].as_array().cloned().unwrap_or_default();
    let header: Vec<String> = points
        .iter()
        .map(|p| format!("{:>10} alerts: p50 ms  p99 ms     /s", p["alerts"].as_u64().unwrap_or(0)))
        .collect();
    println!(
        "\n{:<46} | {}",
        format!("scale ({})", report["engine"].as_str().unwrap_or("")),
        header.join(" | ")
    );
    let names: Vec<String> = points
        .first()
        .and_then(|p| p["queries"].as_array())
        .map(|q| q.iter().filter_map(|q| q["query"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    for name in names {
        let cells: Vec<String> = points
            .iter()
            .map(|p| {
                let q =
                    p["queries"].as_array().and_then(|qs| qs.iter().find(|q| q["query"] == name.as_str()));
                let f = |key: &str| q.and_then(|q| q[key].as_f64()).unwrap_or(0.0);
                format!("{:>17} {:>7.2} {:>7.2} {:>6.0}", "", f("p50_ms"), f("p99_ms"), f("per_second"))
            })
            .collect();
        println!("{name:<46} | {}", cells.join(" | "));
    }
    let bytes: Vec<String> =
        points.iter().map(|p| format!("{:>41.0}", p["bytes_per_alert"].as_f64().unwrap_or(0.0))).collect();
    println!("{:<46} | {}", "bytes per alert on disk", bytes.join(" | "));
    let r = &report["retention"];
    println!(
        "retention (closed alerts older than {} days): {} alerts removed, {} MB → {} MB, {} bytes per remaining alert{}",
        r["keep_closed_days"],
        r["removed_alerts"],
        round(r["disk_bytes_before"].as_f64().unwrap_or(0.0) / 1e6),
        round(r["disk_bytes_after"].as_f64().unwrap_or(0.0) / 1e6),
        r["bytes_per_alert_after"],
        if r["space_given_back"] == Value::Bool(false) {
            " (PostgreSQL keeps the space for new rows)"
        } else {
            ""
        }
    );
}
