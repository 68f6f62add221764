//! Enrichment that tells the truth: an alert whose every provider lookup failed ends `Failed`
//! (and is still dispatched, its failures listed), one whose lookups were all skipped stays
//! `Enriched`, indicators whose every lookup failed are not enriched; and a provider's
//! `default_cache_ttl_seconds` is its cache lifetime wherever it sets no per-type TTL.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::Connection;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::ingest::wait_enriched;

/// A provider with one HTTP step at `{base}/{route}/<value>` for `types`; `extra` adds or
/// replaces body fields (TTLs).
async fn provider(app: &TestApp, name: &str, base: &str, route: &str, types: &[&str], extra: Value) {
    let mut body = json!({
        "provider_name": name,
        "display_name": name,
        "supported_indicator_types": types,
        "http_config": {"steps": [{"name": "lookup", "url": format!("{base}/{route}/{{{{indicator.value}}}}"), "timeout_seconds": 10}]},
        "malice_rules": {"rules": [{"field": "score", "operator": ">=", "value": 80, "verdict": "Malicious"}], "default_verdict": "Benign"},
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    let (status, created) = app.post("/v1/enrichment-providers", &app.admin_key, body).await;
    assert_eq!(status, 201, "{created}");
}

async fn ingest(app: &TestApp, payload: Value) -> Value {
    let (status, accepted) =
        app.post("/v1/alerts", &app.admin_key, json!({"source_name": "generic", "payload": payload})).await;
    assert_eq!(status, 202, "{accepted}");
    wait_enriched(app, accepted["data"]["alert_uuid"].as_str().unwrap()).await
}

fn indicator<'a>(detail: &'a Value, value: &str) -> &'a Value {
    detail["data"]["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["value"] == value)
        .unwrap_or_else(|| panic!("no {value} in {detail}"))
}

async fn completed_event(app: &TestApp, uuid: &str) -> Value {
    let (_, activity) = app.get(&format!("/v1/alerts/{uuid}/activity"), &app.admin_key).await;
    activity["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "alert_enrichment_completed")
        .cloned()
        .unwrap_or_else(|| panic!("no completion event: {activity}"))
}

#[tokio::test]
async fn an_alert_whose_every_lookup_failed_is_failed_and_still_dispatched() {
    let intel = MockServer::start().await;
    Mock::given(path_regex("^/down/")).respond_with(ResponseTemplate::new(503)).mount(&intel).await;
    Mock::given(path_regex("^/up/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"score": 91})))
        .mount(&intel)
        .await;
    let agent = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/agent"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&agent)
        .await;
    let app = spawn_app_reaching_loopback().await;
    let base = intel.uri();
    // Addresses fail at two providers; domains answer at a third.
    provider(&app, "down_intel", &base, "down", &["ip"], json!({})).await;
    provider(&app, "down_too", &base, "down", &["ip"], json!({})).await;
    provider(&app, "up_intel", &base, "up", &["domain"], json!({})).await;
    let (status, registered) = app
        .post(
            "/v1/agents",
            &app.admin_key,
            json!({"name": "triage", "endpoint_url": format!("{}/agent", agent.uri()), "retry_count": 0}),
        )
        .await;
    assert_eq!(status, 201, "{registered}");

    // Every lookup failed: Failed, not enriched, its failures listed.
    let failed = ingest(&app, json!({"title": "all failed", "src_ip": "93.184.216.34"})).await;
    let failed_uuid = failed["data"]["uuid"].as_str().unwrap().to_string();
    assert_eq!(failed["data"]["enrichment_status"], "Failed", "{failed}");
    assert_eq!(failed["data"]["is_enriched"], false);
    assert_eq!(failed["data"]["enriched_at"], Value::Null);
    let ip = indicator(&failed, "93.184.216.34");
    assert_eq!(ip["is_enriched"], false, "every lookup failed: {ip}");
    assert_eq!(ip["malice"], "Pending");
    for name in ["down_intel", "down_too"] {
        let result = &ip["enrichment_results"][name];
        assert_eq!((result["status"].as_str(), result["success"].as_bool()), (Some("failed"), Some(false)));
        assert_eq!(result["error_message"], "Step 'lookup' returned HTTP 503");
    }
    assert_eq!(failed["meta"]["enrichment"]["failed"], json!(["down_intel", "down_too"]), "{failed}");
    let event = completed_event(&app, &failed_uuid).await;
    assert_eq!(event["references"]["enrichment_status"], "Failed", "{event}");
    assert_eq!(event["references"]["providers_failed"], json!(["down_intel", "down_too"]));
    let (_, listed) = app.get("/v1/alerts?enrichment_status=Failed", &app.admin_key).await;
    let listed: Vec<&Value> = listed["data"].as_array().unwrap().iter().map(|a| &a["uuid"]).collect();
    assert_eq!(listed, vec![&json!(failed_uuid)]);

    // It is still dispatched, and the agent sees why nothing is known.
    let payload = eventually("the failed alert's delivery", Duration::from_secs(30), || async {
        agent.received_requests().await.unwrap_or_default().iter().find_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).ok()?;
            (body["alert"]["uuid"] == failed_uuid.as_str()).then_some(body)
        })
    })
    .await;
    assert_eq!(payload["alert"]["is_enriched"], false);
    assert_eq!(
        payload["alert"]["updated_at"], failed["data"]["updated_at"],
        "the payload shows the stored alert"
    );
    assert_eq!(payload["alert"]["_metadata"]["enrichment"]["failed"], json!(["down_intel", "down_too"]));
    let sent = &payload["indicators"][0]["enrichment_results"]["down_intel"];
    assert_eq!(
        (sent["status"].as_str(), sent["error_message"].as_str()),
        (Some("failed"), Some("Step 'lookup' returned HTTP 503"))
    );

    // One answer among the failures: Enriched; the failed address is still not enriched.
    let mixed =
        ingest(&app, json!({"title": "mixed", "src_ip": "93.184.216.34", "domain": "example.org"})).await;
    assert_eq!(mixed["data"]["enrichment_status"], "Enriched", "{mixed}");
    assert_eq!(mixed["data"]["is_enriched"], true);
    assert_eq!(indicator(&mixed, "example.org")["is_enriched"], true);
    assert_eq!(indicator(&mixed, "example.org")["malice"], "Malicious");
    assert_eq!(indicator(&mixed, "93.184.216.34")["is_enriched"], false);

    // Only skipped lookups (a private address no provider may be asked about): Enriched.
    let skipped = ingest(&app, json!({"title": "private only", "src_ip": "10.1.2.3"})).await;
    assert_eq!(skipped["data"]["enrichment_status"], "Enriched", "{skipped}");
    assert_eq!(skipped["data"]["is_enriched"], true);
    let private = indicator(&skipped, "10.1.2.3");
    assert_eq!(private["is_enriched"], true);
    assert_eq!(private["enrichment_results"]["_validation"]["status"], "skipped");
    assert_eq!(
        private["enrichment_results"]["_validation"]["error_message"],
        "Enrichment skipped: non-routable IP address (10.1.2.3)"
    );

    // Metrics count the failed alert as not enriched: two of three.
    let (_, metrics) = app.get("/v1/metrics/alerts", &app.admin_key).await;
    let coverage = metrics["data"]["enrichment_coverage"].as_f64().unwrap_or_else(|| panic!("{metrics}"));
    assert!((coverage - 2.0 / 3.0).abs() < 0.01, "{metrics}");
}

/// The enrichment cache entry's `(cached_at, expires_at)` for a provider, read from the database.
async fn cache_times(app: &TestApp, provider: &str) -> (DateTime<Utc>, DateTime<Utc>) {
    let sql = "SELECT cached_at, expires_at FROM enrichment_cache WHERE provider_name = $1";
    if app.database.url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&app.database.url).await.unwrap();
        sqlx::query_as(sql).bind(provider).fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&app.database.url).await.unwrap();
        sqlx::query_as(sql).bind(provider).fetch_one(&mut conn).await.unwrap()
    }
}

#[tokio::test]
async fn a_providers_default_ttl_is_its_cache_lifetime() {
    let intel = MockServer::start().await;
    Mock::given(path_regex("^/ttl/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"score": 5})))
        .mount(&intel)
        .await;
    let app = spawn_app_reaching_loopback().await;
    let base = intel.uri();
    // Domains' builtin default is 21600 s: neither provider's domain entries may follow it.
    provider(&app, "ttl_default", &base, "ttl", &["domain"], json!({"default_cache_ttl_seconds": 7200}))
        .await;
    provider(
        &app,
        "ttl_by_type",
        &base,
        "ttl",
        &["domain"],
        json!({"default_cache_ttl_seconds": 7200, "cache_ttl_by_type": {"domain": 120}}),
    )
    .await;
    provider(&app, "ttl_short", &base, "ttl", &["ip"], json!({"default_cache_ttl_seconds": 1})).await;

    let (status, first) =
        app.post("/v1/enrichments", &app.admin_key, json!({"type": "domain", "value": "example.org"})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"]["results"]["ttl_default"]["success"], true, "{first}");
    let (cached, expires) = cache_times(&app, "ttl_default").await;
    assert_eq!((expires - cached).num_seconds(), 7200, "the provider's default TTL");
    let (cached, expires) = cache_times(&app, "ttl_by_type").await;
    assert_eq!((expires - cached).num_seconds(), 120, "a per-type TTL still wins");

    // Observed: a 1-second default expires, and the next lookup asks the provider again.
    let lookup = || async {
        let (status, body) = app
            .post("/v1/enrichments", &app.admin_key, json!({"type": "ip", "value": "93.184.216.34"}))
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["results"]["ttl_short"].clone()
    };
    assert_eq!(lookup().await["cache_hit"], false);
    let (cached, expires) = cache_times(&app, "ttl_short").await;
    assert_eq!((expires - cached).num_seconds(), 1);
    eventually("the 1-second entry to expire", Duration::from_secs(15), || async {
        let result = lookup().await;
        (result["cache_hit"] == false && result["success"] == true).then_some(())
    })
    .await;
    let calls = intel
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/ttl/93.184.216.34")
        .count();
    assert!(calls >= 2, "the expired entry was looked up again ({calls} calls)");
}
