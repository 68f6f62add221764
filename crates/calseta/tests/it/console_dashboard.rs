//! The console dashboard at `/`: its figures equal what `/v1/metrics/alerts` and
//! `/v1/metrics/summary` serve for the same window, the window selector changes them, the SVG
//! charts have axes, labels and a tooltip per bar, attacker-written names stay escaped, and what
//! a key may not read is not shown.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use crate::console::{Browser, Page, signed_in, signed_in_as, unescape};
use crate::helpers::*;
use crate::ingest::ingest_generic as ingest;

fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, h, m, 0).single().unwrap()
}

/// The `attr` attribute of the element with `id`.
fn attr_of(body: &str, id: &str, attr: &str) -> Option<String> {
    let start = body.find(&format!("id=\"{id}\""))?;
    let tag_end = start + body[start..].find('>')?;
    let tag = &body[start..tag_end];
    let marker = format!("{attr}=\"");
    let at = tag.find(&marker)? + marker.len();
    Some(unescape(tag[at..].split('"').next()?))
}

fn number(body: &str, id: &str) -> Value {
    let text = attr_of(body, id, "data-value").unwrap_or_else(|| panic!("no #{id} in {body}"));
    if text.is_empty() { Value::Null } else { json!(text.parse::<f64>().unwrap()) }
}

fn previous(body: &str, id: &str) -> Value {
    let text = attr_of(body, id, "data-previous").unwrap_or_else(|| panic!("no #{id} in {body}"));
    if text.is_empty() { Value::Null } else { json!(text.parse::<f64>().unwrap()) }
}

/// The same figure (or both absent). The page writes the exact shortest form of the service's
/// `f64`; serde_json's default parser may read the API's last digit one ulp off, hence the 1e-9.
fn same(page: &Value, api: &Value, what: &str) {
    match (page.as_f64(), api.as_f64()) {
        (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{what}: {a} ≠ {b}"),
        _ => assert_eq!(page, api, "{what}"),
    }
}

/// The `data-key` → `data-count` rows of the table with `id`.
fn table(body: &str, id: &str) -> BTreeMap<String, i64> {
    let Some(start) = body.find(&format!("<table class=\"table counts\" id=\"{id}\"")) else {
        return BTreeMap::new();
    };
    let end = start + body[start..].find("</table>").unwrap();
    body[start..end]
        .split("<tr data-key=\"")
        .skip(1)
        .map(|row| {
            let key = unescape(row.split('"').next().unwrap());
            let count =
                row.split("data-count=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
            (key, count)
        })
        .collect()
}

fn counts(value: &Value) -> BTreeMap<String, i64> {
    value.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_i64().unwrap())).collect()
}

/// The inline SVG with `id`.
fn svg<'a>(body: &'a str, id: &str) -> &'a str {
    let at = body
        .find(&format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" data-calseta-chart class=\"chart\" id=\"{id}\""
        ))
        .unwrap_or_else(|| panic!("no {id} chart"));
    let end = at + body[at..].find("</svg>").unwrap() + "</svg>".len();
    &body[at..end]
}

/// Moves an alert's lifecycle stamps, severity and status (as `metrics.rs` does).
#[allow(clippy::too_many_arguments)]
async fn set_alert(
    app: &TestApp,
    uuid: &str,
    created: DateTime<Utc>,
    acknowledged: Option<DateTime<Utc>>,
    closed: Option<DateTime<Utc>>,
    status: &str,
    classification: Option<&str>,
    severity: &str,
) {
    let classification = classification.map_or("NULL".to_string(), |c| format!("'{c}'"));
    let sql = format!(
        "UPDATE alerts SET occurred_at = $1, created_at = $2, ingested_at = $2, acknowledged_at = $3, closed_at = $4, \
         status = '{status}', close_classification = {classification}, severity = '{severity}' WHERE uuid = {}",
        crate::respond::uuid_literal(app, uuid)
    );
    let occurred = created - chrono::TimeDelta::seconds(60);
    exec_sql_times(app, &sql, &[Some(occurred), Some(created), acknowledged, closed]).await;
}

async fn dashboard(browser: &mut Browser, query: &str) -> Page {
    let page = browser.get(&format!("/{query}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

#[tokio::test]
async fn the_dashboard_shows_the_figures_the_metrics_api_serves_for_the_same_window() {
    let app = spawn_app().await;
    let admin = app.admin_key.clone();
    let (status, rule) = app
        .post(
            "/v1/detection-rules",
            &admin,
            json!({"name": "Spray <script>alert('rule')</script>", "source_name": "generic", "source_rule_id": "R1"}),
        )
        .await;
    assert_eq!(status, 201, "{rule}");

    // Four alerts in [Nov 1, Nov 4) and one in the previous window of equal length.
    let a1 = ingest(&app, json!({"title": "A1", "src_ip": "203.0.113.5", "rule_id": "R1"})).await;
    set_alert(
        &app,
        &a1,
        at(1, 10, 0),
        Some(at(1, 10, 5)),
        Some(at(1, 11, 0)),
        "Closed",
        Some("False Positive - Inaccurate Data"),
        "High",
    )
    .await;
    let a2 = ingest(&app, json!({"title": "A2", "src_ip": "203.0.113.5", "rule_id": "R1"})).await;
    set_alert(
        &app,
        &a2,
        at(2, 12, 0),
        Some(at(2, 12, 10)),
        Some(at(2, 14, 0)),
        "Closed",
        Some("True Positive - Suspicious Activity"),
        "Critical",
    )
    .await;
    let a3 = ingest(&app, json!({"title": "A3", "src_ip": "203.0.113.5"})).await;
    set_alert(&app, &a3, at(2, 15, 0), None, None, "Open", None, "High").await;
    let a4 = ingest(&app, json!({"title": "A4", "src_ip": "203.0.113.5", "rule_id": "R1"})).await;
    set_alert(&app, &a4, at(3, 8, 0), Some(at(3, 8, 30)), None, "Triaging", None, "Low").await;
    let before = ingest(&app, json!({"title": "A0", "src_ip": "203.0.113.5"})).await;
    let oct = Utc.with_ymd_and_hms(2026, 10, 30, 9, 0, 0).single().unwrap();
    set_alert(
        &app,
        &before,
        oct,
        Some(oct + chrono::TimeDelta::seconds(100)),
        None,
        "Triaging",
        None,
        "Medium",
    )
    .await;
    // An attacker-named source, an analyst's verdict, known provider results, a dead letter.
    exec_sql(
        &app,
        &format!(
            "UPDATE alerts SET source_name = '<script>alert(1)</script>', malice_override = 'Benign' WHERE uuid = {}",
            crate::respond::uuid_literal(&app, &a4)
        ),
    )
    .await;
    exec_sql(
        &app,
        "UPDATE indicators SET malice = 'Malicious', enrichment_results = \
         '{\"virustotal\": {\"status\": \"success\", \"success\": true}, \"abuseipdb\": {\"status\": \"failed\", \"success\": false}, \
           \"<b>odd</b>\": {\"success\": true}, \"_validation\": {\"status\": \"skipped\"}}' \
         WHERE value = '203.0.113.5'",
    )
    .await;
    exec_sql(
        &app,
        "UPDATE jobs SET status = 'dead' WHERE id = (SELECT MIN(id) FROM jobs WHERE status = 'succeeded')",
    )
    .await;

    let mut browser = signed_in(&app, &["alerts:read", "workflows:read"]).await;
    let page = dashboard(&mut browser, "?range=custom&from=2026-11-01T00%3A00&to=2026-11-04T00%3A00").await;
    let body = &page.body;
    let reader = app.key_with(&["alerts:read"]).await;
    let (status, api) = app
        .get("/v1/metrics/alerts?from_time=2026-11-01T00:00:00Z&to_time=2026-11-04T00:00:00Z", &reader)
        .await;
    assert_eq!(status, 200, "{api}");
    let m = &api["data"];
    let (_, prior) = app
        .get("/v1/metrics/alerts?from_time=2026-10-29T00:00:00Z&to_time=2026-11-01T00:00:00Z", &reader)
        .await;
    let p = &prior["data"];

    assert_eq!(attr_of(body, "window", "data-from").as_deref(), Some("2026-11-01T00:00:00Z"));
    assert_eq!(number(body, "total-alerts"), json!(4.0));
    assert_eq!(m["total_alerts"], 4);
    for (id, field) in [
        ("mttd", "mean_time_to_detect"),
        ("mtta", "mean_time_to_acknowledge"),
        ("mttt", "mean_time_to_triage"),
        ("mttc", "mean_time_to_conclusion"),
        ("false-positive-rate", "false_positive_rate"),
    ] {
        same(&number(body, id), &m[field], &format!("{id} now"));
        same(&previous(body, id), &p[field], &format!("{id} before"));
    }
    same(&number(body, "enrichment-coverage"), &m["enrichment_coverage"], "coverage");
    assert!((number(body, "mtta").as_f64().unwrap() - 900.0).abs() < 0.01);
    assert!((previous(body, "mtta").as_f64().unwrap() - 100.0).abs() < 0.01);
    let mtta = &body[body.find("id=\"mtta\"").unwrap()..];
    let mtta = &mtta[..mtta.find("</dd>").unwrap()];
    assert!(mtta.contains("trend-worse") && mtta.contains("▲"), "MTTA rose from 100 s: {mtta}");
    assert_eq!(table(body, "by-status"), counts(&m["alerts_by_status"]));
    assert_eq!(table(body, "by-source"), counts(&m["alerts_by_source"]));
    assert_eq!(
        table(body, "top-rules"),
        m["top_detection_rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["name"].as_str().unwrap().to_string(), r["count"].as_i64().unwrap()))
            .collect()
    );
    assert_eq!(table(body, "by-malice"), BTreeMap::from([("Malicious".into(), 3), ("Benign".into(), 1)]));
    // One indicator, counted once per provider; the enrichability gate is not a provider.
    assert!(
        body.contains("data-key=\"virustotal\" data-succeeded=\"1\" data-failed=\"0\" data-skipped=\"0\""),
        "{body}"
    );
    assert!(
        body.contains("data-key=\"abuseipdb\" data-succeeded=\"0\" data-failed=\"1\" data-skipped=\"0\"")
    );
    assert!(!body.contains("data-key=\"_validation\""));

    // Queues and approvals as the summary serves them (polled: workers may be finishing jobs).
    let dead = query_i64(&app, "SELECT COUNT(*) FROM jobs WHERE status = 'dead'").await;
    assert!(dead >= 1);
    let (app_ref, reader_ref) = (&app, &reader);
    let cookies = browser.cookies.clone();
    eventually("the dashboard's queues to equal the summary's", Duration::from_secs(20), || {
        let (app, reader) = (app_ref, reader_ref);
        let mut browser = Browser::new(app);
        browser.cookies = cookies.clone();
        async move {
            let page = browser.get("/?range=30d").await;
            let (_, summary) = app.get("/v1/metrics/summary", reader).await;
            let s = &summary["data"];
            let same = number(&page.body, "jobs-pending").as_f64() == s["queue"]["total_pending"].as_f64()
                && number(&page.body, "jobs-running").as_f64() == s["queue"]["total_in_progress"].as_f64()
                && number(&page.body, "approvals-pending").as_f64() == s["approvals"]["pending"].as_f64();
            same.then_some(())
        }
    })
    .await;
    assert_eq!(number(body, "jobs-dead"), json!(dead as f64));

    // The chart: axes, tick labels, a legend, and one bar with a tooltip per non-zero (day,
    // severity): Nov 1 High; Nov 2 Critical and High; Nov 3 Low.
    let chart = svg(body, "chart-over-time");
    assert!(chart.contains("role=\"img\"") && chart.contains("aria-labelledby=\"chart-over-time-title\""));
    assert!(chart.contains("class=\"axis axis-y\"") && chart.contains("class=\"axis axis-x\""));
    assert!(chart.contains(">11-01</text>") && chart.contains(">11-03</text>"));
    assert_eq!(chart.matches("<rect class=\"bar ").count(), 4, "{chart}");
    assert_eq!(chart.matches("<title>").count(), 4);
    assert!(chart.contains("<title>2026-11-02 · Critical: 1</title>"), "{chart}");
    assert!(!body.contains("style="));

    // Attacker-written names are escaped everywhere: tables, links and the SVG.
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(!body.contains("<b>odd"));
    let sources = svg(body, "chart-source");
    assert!(sources.contains("<title>&lt;script&gt;alert(1)&lt;/script&gt;: 1</title>"), "{sources}");
    assert!(table(body, "top-rules").contains_key("Spray <script>alert('rule')</script>"));
}

#[tokio::test]
async fn the_window_selector_changes_the_figures() {
    let app = spawn_app().await;
    let now = Utc::now();
    let recent = ingest(&app, json!({"title": "recent", "src_ip": "203.0.113.9"})).await;
    set_alert(&app, &recent, now - chrono::TimeDelta::hours(1), None, None, "Open", None, "High").await;
    let older = ingest(&app, json!({"title": "older", "src_ip": "203.0.113.9"})).await;
    set_alert(&app, &older, now - chrono::TimeDelta::days(3), None, None, "Open", None, "Low").await;

    let mut browser = signed_in(&app, &["alerts:read"]).await;
    let day = dashboard(&mut browser, "").await;
    assert_eq!(number(&day.body, "total-alerts"), json!(1.0));
    assert!(day.body.contains("<option value=\"24h\" selected>"), "{}", day.body);
    // 24 hours are bucketed by hour.
    assert!(svg(&day.body, "chart-over-time").contains(":00 UTC · High: 1</title>"));
    let week = dashboard(&mut browser, "?range=7d").await;
    assert_eq!(number(&week.body, "total-alerts"), json!(2.0));
    assert_eq!(table(&week.body, "by-status"), BTreeMap::from([("Open".into(), 2)]));
    assert!(week.body.contains("<option value=\"7d\" selected>"));
    let month = dashboard(&mut browser, "?range=30d").await;
    assert_eq!(number(&month.body, "total-alerts"), json!(2.0));

    // The form is a plain GET form; a window it cannot read is answered 422 with the reason.
    assert!(day.body.contains("<form method=\"get\" action=\"/\""));
    let bad = browser.get("/?range=custom&from=2026-11-04T00%3A00&to=2026-11-01T00%3A00").await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("from must be before to"));
    assert!(!bad.body.contains("id=\"total-alerts\""));
    let bad = browser.get("/?range=forever").await;
    assert_eq!(bad.status, 422);
}

#[tokio::test]
async fn an_empty_window_says_what_to_do_next() {
    let app = spawn_app().await;
    let mut browser = signed_in(&app, &["alerts:read", "workflows:read"]).await;
    let page = dashboard(&mut browser, "").await;
    assert_eq!(number(&page.body, "total-alerts"), json!(0.0));
    assert!(!page.body.contains("<svg"), "no chart without data");
    for next in [
        "No alerts were created in this window",
        "No alerts in this window. Choose a longer window",
        "No alert in this window came from a known detection rule",
        "No provider has looked up this window's indicators",
        "No approval requests are waiting",
    ] {
        assert!(page.body.contains(next), "{next}: {}", page.body);
    }
}

#[tokio::test]
async fn what_a_key_may_not_read_is_not_shown() {
    let app = spawn_app().await;
    ingest(&app, json!({"title": "x", "src_ip": "203.0.113.7"})).await;

    // Without alerts:read: who is signed in, and no figures.
    let (mut browser, _) = signed_in_as(&app, "Dash <Reader>", &["agents:read"]).await;
    let page = dashboard(&mut browser, "?range=30d").await;
    assert!(page.body.contains("Dash &#60;Reader&#62;") || page.body.contains("Dash &lt;Reader&gt;"));
    assert!(page.body.contains("id=\"no-metrics\""), "{}", page.body);
    for hidden in ["id=\"total-alerts\"", "<svg", "id=\"jobs-pending\"", "id=\"approvals\""] {
        assert!(!page.body.contains(hidden), "{hidden}");
    }

    // alerts:read without workflows:read: the figures, but not the approvals.
    let mut browser = signed_in(&app, &["alerts:read", "alerts:write"]).await;
    let page = dashboard(&mut browser, "?range=30d").await;
    assert_eq!(number(&page.body, "total-alerts"), json!(1.0));
    assert!(!page.body.contains("id=\"approvals\""));
    assert!(!page.body.contains("id=\"approvals-pending\""));

    let mut browser = signed_in(&app, &["alerts:read", "workflows:read"]).await;
    let page = dashboard(&mut browser, "?range=30d").await;
    assert!(page.body.contains("id=\"approvals\"") && page.body.contains("href=\"/approvals\""));
}
