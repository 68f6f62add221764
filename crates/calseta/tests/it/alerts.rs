//! The alerts API: list filters and sorts, detail, lifecycle PATCH, findings, indicators,
//! activity, relationship graph, re-enrichment, delete; indicator verdicts; indicator mappings.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::ingest::ingest_and_wait;

use crate::ingest::ingest_generic as ingest;

fn titles(list: &Value) -> Vec<String> {
    list["data"].as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn list_filters_and_sorts() {
    let app = spawn_app().await;
    let key = app.admin_key.clone();
    ingest(&app, json!({"title": "a-low", "severity": "low", "occurred_at": "2026-01-01T00:00:00Z", "tags": ["x", "y"], "rule_id": "R1"})).await;
    ingest(&app, json!({"title": "b-critical", "severity": "critical", "occurred_at": "2026-01-03T00:00:00Z", "tags": ["x"]})).await;
    ingest(
        &app,
        json!({"title": "c-high", "severity": "high", "occurred_at": "2026-01-02T00:00:00Z", "tags": ["y"]}),
    )
    .await;
    let elastic = r#"{"kibana.alert.rule.name": "d-elastic", "kibana.alert.severity": "medium", "@timestamp": "2026-01-04T00:00:00Z"}"#;
    ingest_and_wait(&app, "elastic", elastic).await;

    let (_, all) = app.get("/v1/alerts", &key).await;
    assert_eq!(titles(&all), ["d-elastic", "b-critical", "c-high", "a-low"], "default: occurred_at desc");
    let (_, by_sev) = app.get("/v1/alerts?sort_by=severity&sort_order=asc", &key).await;
    assert_eq!(titles(&by_sev), ["a-low", "d-elastic", "c-high", "b-critical"]);
    let (_, by_title) = app.get("/v1/alerts?sort_by=title&sort_order=asc", &key).await;
    assert_eq!(titles(&by_title), ["a-low", "b-critical", "c-high", "d-elastic"]);
    let (_, filtered) =
        app.get("/v1/alerts?severity=High,%20Critical&sort_by=title&sort_order=asc", &key).await;
    assert_eq!(titles(&filtered), ["b-critical", "c-high"]);
    let (_, filtered) = app.get("/v1/alerts?source_name=elastic", &key).await;
    assert_eq!(titles(&filtered), ["d-elastic"]);
    let (_, filtered) = app.get("/v1/alerts?tags=x&tags=y", &key).await;
    assert_eq!(titles(&filtered), ["a-low"]);
    let (_, filtered) = app.get("/v1/alerts?tags=y&sort_by=title&sort_order=asc", &key).await;
    assert_eq!(titles(&filtered), ["a-low", "c-high"]);
    let (_, filtered) = app.get("/v1/alerts?from_time=2026-01-02T00:00:00Z&to_time=2026-01-03", &key).await;
    assert_eq!(titles(&filtered), ["b-critical", "c-high"]);
    let (_, filtered) =
        app.get("/v1/alerts?status=Open&enrichment_status=Enriched&is_enriched=true", &key).await;
    assert_eq!(filtered["meta"]["total"], 4);
    let (_, filtered) = app.get("/v1/alerts?status=Closed", &key).await;
    assert_eq!(filtered["meta"]["total"], 0);

    let a_low = all["data"].as_array().unwrap().iter().find(|a| a["title"] == "a-low").unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, detail) = app.get(&format!("/v1/alerts/{a_low}"), &key).await;
    let rule_uuid = detail["data"]["detection_rule"]["uuid"].as_str().unwrap().to_string();
    assert_eq!(detail["data"]["detection_rule"]["name"], "R1", "a stub rule named after the reference");
    let (_, filtered) = app.get(&format!("/v1/alerts?detection_rule_uuid={rule_uuid}"), &key).await;
    assert_eq!(titles(&filtered), ["a-low"]);

    for (query, status) in [
        ("sort_by=color", 400),
        ("sort_order=sideways", 400),
        ("from_time=yesterday", 422),
        ("is_enriched=maybe", 422),
        ("page_size=501", 422),
        ("detection_rule_uuid=x", 422),
    ] {
        let (got, body) = app.get(&format!("/v1/alerts?{query}"), &key).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some("VALIDATION_ERROR")),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn patch_applies_the_lifecycle_rules() {
    let app = spawn_app().await;
    let key = app.key_with(&["alerts:read", "alerts:write"]).await;
    let uuid = ingest(&app, json!({"title": "lifecycle", "severity": "low", "src_ip": "203.0.113.5"})).await;
    let path = format!("/v1/alerts/{uuid}");

    let (status, body) = app.patch(&path, &key, json!({"status": "Closed"})).await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["details"]["errors"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("close_classification is required")
    );
    let (status, _) = app.patch(&path, &key, json!({"status": "Done"})).await;
    assert_eq!(status, 422);
    let (status, _) = app.patch(&path, &key, json!({"close_classification": "Mostly harmless"})).await;
    assert_eq!(status, 422);

    let (status, body) =
        app.patch(&path, &key, json!({"status": "Triaging", "severity": "High", "tags": ["ir"]})).await;
    assert_eq!(status, 200, "{body}");
    let a = &body["data"];
    assert!(a["acknowledged_at"].is_string() && a["triaged_at"].is_string() && a["closed_at"].is_null());
    assert_eq!((a["severity"].as_str(), a["tags"].clone()), (Some("High"), json!(["ir"])));
    let acknowledged = a["acknowledged_at"].clone();

    let (_, body) = app
        .patch(&path, &key, json!({"status": "Closed", "close_classification": "True Positive - Suspicious Activity", "close_notes": "Sessions revoked. INC-2847."}))
        .await;
    let a = &body["data"];
    assert!(a["closed_at"].is_string());
    assert_eq!(a["acknowledged_at"], acknowledged, "write-once");
    assert_eq!(a["close_notes"], "Sessions revoked. INC-2847.");
    let closed_at = a["closed_at"].clone();
    let (_, body) = app.patch(&path, &key, json!({"status": "Open"})).await;
    assert_eq!(
        (body["data"]["closed_at"].clone(), body["data"]["close_classification"].as_str()),
        (closed_at, Some("True Positive - Suspicious Activity"))
    );

    // Malice override, sticky until reset.
    let (_, body) = app.patch(&path, &key, json!({"malice_override": "Malicious"})).await;
    assert_eq!(
        (body["data"]["malice"].as_str(), body["data"]["malice_override_source"].as_str()),
        (Some("Malicious"), Some("analyst"))
    );
    let (_, body) =
        app.patch(&path, &key, json!({"reset_malice_override": true, "malice_override": "Benign"})).await;
    assert_eq!(
        (body["data"]["malice"].as_str(), body["data"]["malice_override"].clone()),
        (Some("Pending"), Value::Null)
    );
    // Explicit null clears nullable fields.
    let (_, body) = app.patch(&path, &key, json!({"close_notes": null, "status": null})).await;
    assert_eq!(
        (body["data"]["close_notes"].clone(), body["data"]["status"].as_str()),
        (Value::Null, Some("Open"))
    );
    // No change → no event.
    let (_, body) = app.patch(&path, &key, json!({"severity": "High"})).await;
    assert_eq!(body["data"]["severity"], "High");

    let (_, activity) = app.get(&format!("{path}/activity?page_size=50"), &key).await;
    let events: Vec<&str> =
        activity["data"].as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "alert_malice_updated",
            "alert_malice_updated",
            "alert_status_updated",
            "alert_closed",
            "alert_severity_updated",
            "alert_status_updated",
            "alert_enrichment_completed",
            "alert_ingested"
        ],
        "newest first, one per change"
    );
    let first = &activity["data"][0];
    assert_eq!(
        (first["actor_type"].as_str(), first["actor_key_prefix"].as_str()),
        (Some("api"), Some(&key[..8]))
    );
    let (_, page) = app.get(&format!("{path}/activity?page=2&page_size=3"), &key).await;
    assert_eq!((page["meta"]["total"].as_i64(), page["data"].as_array().unwrap().len()), (Some(8), 3));
}

#[tokio::test]
async fn findings_indicators_graph_reenrich_and_delete() {
    let app = spawn_app().await;
    let key = app.admin_key.clone();
    let first =
        ingest(&app, json!({"title": "first", "src_ip": "185.220.101.47", "user": "nick.hathaway"})).await;
    let second = ingest(
        &app,
        json!({"title": "second", "src_ip": "185.220.101.47", "occurred_at": "2026-01-01T00:00:00Z"}),
    )
    .await;

    let (status, body) = app
        .post(&format!("/v1/alerts/{first}/findings"), &key, json!({"agent_name": "triage-bot", "summary": "TOR exit node login", "confidence": "high", "evidence": {"abuseipdb": 97}}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["data"]["id"].is_string() && body["data"]["posted_at"].is_string());
    let (status, _) = app
        .post(
            &format!("/v1/alerts/{first}/findings"),
            &key,
            json!({"agent_name": "x", "summary": "", "confidence": "sure"}),
        )
        .await;
    assert_eq!(status, 422);
    let (_, findings) = app.get(&format!("/v1/alerts/{first}/findings"), &key).await;
    assert_eq!(findings["data"][0]["summary"], "TOR exit node login");

    let (status, body) = app
        .post(&format!("/v1/alerts/{first}/indicators?enrich=false"), &key, json!({"indicators": [{"type": "domain", "value": "Evil[.]Example.com"}, {"type": "email", "value": "a@b.example"}]}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["added_count"], 2);
    assert_eq!(body["data"]["indicators"][0]["value"], "evil.example.com");
    assert_eq!(body["data"]["enrich_requested"], false);
    let (status, body) = app
        .post(
            &format!("/v1/alerts/{first}/indicators"),
            &key,
            json!({"indicators": [{"type": "ip", "value": "999.1.1.1"}]}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"]["errors"][0]["loc"], json!(["body", "indicators", "0", "value"]));
    let (_, listed) = app.get(&format!("/v1/alerts/{first}/indicators"), &key).await;
    let values: Vec<&str> =
        listed["data"].as_array().unwrap().iter().map(|i| i["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["185.220.101.47", "nick.hathaway", "evil.example.com", "a@b.example"]);

    let (status, graph) =
        app.get(&format!("/v1/alerts/{first}/relationship-graph?sibling_limit=5"), &key).await;
    assert_eq!(status, 200, "{graph}");
    let ip = graph["data"]["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["value"] == "185.220.101.47")
        .unwrap();
    assert_eq!(ip["total_alert_count"], 1);
    assert_eq!(ip["sibling_alerts"][0]["uuid"], second.as_str());
    let (status, _) = app.get(&format!("/v1/alerts/{first}/relationship-graph?sibling_limit=51"), &key).await;
    assert_eq!(status, 422);

    let (status, body) = app.post(&format!("/v1/alerts/{first}/enrich"), &key, json!({})).await;
    assert_eq!((status, body), (202, json!({"data": {"message": "Enrichment queued"}, "meta": {}})));

    let (status, _) = app.delete(&format!("/v1/alerts/{second}"), &key).await;
    assert_eq!(status, 204);
    let (status, body) = app.get(&format!("/v1/alerts/{second}"), &key).await;
    assert_eq!((status, body["error"]["message"].as_str()), (404, Some("Alert not found.")));
    for path in ["", "/findings", "/indicators", "/activity", "/relationship-graph"] {
        let (status, _) = app.get(&format!("/v1/alerts/{second}{path}"), &key).await;
        assert_eq!(status, 404, "{path}");
    }
}

#[tokio::test]
async fn indicator_verdicts_are_sticky_until_reset() {
    let app = spawn_app().await;
    let uuid = ingest(&app, json!({"title": "verdicts", "src_ip": "198.51.100.7"})).await;
    let (_, detail) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
    let indicator = detail["data"]["indicators"][0]["uuid"].as_str().unwrap().to_string();
    let path = format!("/v1/indicators/{indicator}");
    let reader = app.key_with(&["enrichments:read"]).await;
    let (status, body) = app.get(&path, &reader).await;
    assert_eq!((status, body["data"]["malice"].as_str()), (200, Some("Pending")));

    let (_, body) = app.patch(&path, &app.admin_key, json!({"malice": "Malicious"})).await;
    assert_eq!(
        (body["data"]["malice"].as_str(), body["data"]["malice_source"].as_str()),
        (Some("Malicious"), Some("analyst"))
    );
    let (_, body) = app.patch(&path, &app.admin_key, json!({})).await;
    assert_eq!(body["data"]["malice"], "Malicious", "an empty body changes nothing");
    let (_, detail) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
    assert_eq!(detail["data"]["malice"], "Malicious", "alert malice follows its worst indicator");
    let (status, _) = app.patch(&path, &app.admin_key, json!({"malice": "Evil"})).await;
    assert_eq!(status, 422);
    let (_, body) = app.patch(&path, &app.admin_key, json!({"malice": null})).await;
    assert_eq!(
        (body["data"]["malice"].as_str(), body["data"]["malice_source"].as_str()),
        (Some("Pending"), Some("enrichment"))
    );
    let (_, activity) = app.get(&format!("/v1/alerts/{uuid}/activity"), &app.admin_key).await;
    assert_eq!(activity["data"][0]["event_type"], "indicator_malice_updated");
    assert_eq!(activity["data"][0]["references"]["malice_source"], "reset");
}

#[tokio::test]
async fn indicator_mappings_drive_extraction() {
    let app = spawn_app().await;
    let key = app.admin_key.clone();
    let (_, system) = app.get("/v1/indicator-mappings?is_system=true&page_size=100", &key).await;
    assert_eq!(system["meta"]["total"], 14);
    let src_ip =
        system["data"].as_array().unwrap().iter().find(|m| m["field_path"] == "src_ip").unwrap()["uuid"]
            .as_str()
            .unwrap()
            .to_string();
    let (status, body) = app
        .patch(&format!("/v1/indicator-mappings/{src_ip}"), &key, json!({"field_path": "source_ip"}))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("SYSTEM_MAPPING_READONLY")));
    let (status, _) = app.delete(&format!("/v1/indicator-mappings/{src_ip}"), &key).await;
    assert_eq!(status, 422);
    let (status, body) =
        app.patch(&format!("/v1/indicator-mappings/{src_ip}"), &key, json!({"is_active": false})).await;
    assert_eq!((status, body["data"]["is_active"].as_bool()), (200, Some(false)));

    for bad in [
        json!({"field_path": "x", "indicator_type": "cve", "extraction_target": "raw_payload"}),
        json!({"field_path": "x", "indicator_type": "ip", "extraction_target": "somewhere"}),
        json!({"field_path": "a..b", "indicator_type": "ip", "extraction_target": "raw_payload"}),
        json!({"field_path": "x", "indicator_type": "ip", "source_name": "qradar"}),
    ] {
        let (status, body) = app.post("/v1/indicator-mappings", &key, bad.clone()).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let (status, body) = app
        .post("/v1/indicator-mappings", &key, json!({"source_name": "generic", "field_path": "net.peers[].addr", "indicator_type": "ip", "extraction_target": "raw_payload", "description": "peer addresses"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let custom = body["data"]["uuid"].as_str().unwrap().to_string();
    let (status, body) = app.post("/v1/indicator-mappings", &key, json!({"field_path": "okta.security_context.domain", "indicator_type": "domain", "extraction_target": "raw_payload"})).await;
    assert_eq!(status, 201, "{body}");

    // Takes effect for the next alert without a restart.
    let uuid = ingest(
        &app,
        json!({"title": "peers", "net": {"peers": [{"addr": "203.0.113.1"}, {"addr": "203.0.113.2"}]}}),
    )
    .await;
    let (_, detail) = app.get(&format!("/v1/alerts/{uuid}"), &key).await;
    let values: Vec<&str> = detail["data"]["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["203.0.113.1", "203.0.113.2"]);

    let (status, dry) = app
        .post(
            "/v1/indicator-mappings/test-extraction",
            &key,
            json!({"source_name": "elastic", "raw_payload": {
            "kibana.alert.rule": {"name": "Impossible Travel Detected"}, "source": {"ip": "185.220.101.47"},
            "okta.security_context": {"domain": "torproject.org"}, "user": {"email": "bad@@x"}}}),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    let dry = &dry["data"];
    assert_eq!(dry["passes"].as_array().unwrap().len(), 4);
    assert_eq!(dry["passes"][0]["pass_name"], "source_plugin");
    assert_eq!(dry["passes"][0]["rejected"][0]["value"], "bad@@x");
    assert_eq!(dry["deduplicated_count"], 2);
    assert_eq!(dry["normalization_preview"]["title"], "Impossible Travel Detected");
    let (status, body) = app
        .post("/v1/indicator-mappings/test-extraction", &key, json!({"source_name": "x", "raw_payload": {}}))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("UNKNOWN_SOURCE")));
    let (status, body) = app
        .post(
            "/v1/indicator-mappings/test-extraction",
            &key,
            json!({"source_name": "splunk", "raw_payload": {}}),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("INVALID_PAYLOAD")));

    let (_, fields) = app.get("/v1/indicator-mappings/source-plugin-fields", &key).await;
    let fields = fields["data"].as_array().unwrap();
    assert!(fields.iter().any(|f| f["source_name"] == "elastic"
        && f["field_path"] == "source.ip"
        && f["extraction_target"] == "source_plugin"));
    assert!(fields.iter().all(|f| f["uuid"] == "00000000-0000-0000-0000-000000000000"));

    let (status, _) = app.delete(&format!("/v1/indicator-mappings/{custom}"), &key).await;
    assert_eq!(status, 204);
    let (status, _) = app.get(&format!("/v1/indicator-mappings/{custom}"), &key).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_mapping_created_in_one_process_reaches_another_within_seconds() {
    // `app` runs the worker; `other` is a second API process on the same database.
    let app = spawn_app().await;
    let other = calseta::app::start(
        &config_from(&app.env),
        calseta::app::ServeOptions { bind: "127.0.0.1:0".into(), run_worker: false, extra_jobs: vec![] },
    )
    .await
    .unwrap();
    let other_url = format!("http://{}", other.addr);
    // Warm the worker's rule cache.
    ingest(&app, json!({"title": "warm-up", "vendor": {"c2": "198.51.100.1"}})).await;

    let resp = app
        .client
        .post(format!("{other_url}/v1/indicator-mappings"))
        .bearer_auth(&app.admin_key)
        .json(&json!({"field_path": "vendor.c2", "indicator_type": "ip", "extraction_target": "raw_payload"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);

    let mut attempt = 0;
    eventually("the worker process to apply the new mapping", std::time::Duration::from_secs(15), || {
        attempt += 1;
        let title = format!("probe {attempt}");
        let app = &app;
        async move {
            let uuid = ingest(app, json!({"title": title, "vendor": {"c2": "198.51.100.1"}})).await;
            let (_, detail) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
            (detail["data"]["indicators"][0]["value"] == "198.51.100.1").then_some(())
        }
    })
    .await;
    other.shutdown().await;
}

#[tokio::test]
async fn an_alert_whose_enrichment_dies_is_marked_failed_and_a_retried_job_enriches_it() {
    let app = spawn_app_with(AppOptions { run_worker: false, ..AppOptions::default() }).await;
    let key = app.admin_key.clone();
    let payload = json!({"title": "Unreadable later", "severity": "high", "source_ip": "203.0.113.9"});
    let (status, body) =
        app.post("/v1/alerts", &key, json!({"source_name": "generic", "payload": payload})).await;
    assert_eq!(status, 202, "{body}");
    let uuid = body["data"]["alert_uuid"].as_str().unwrap().to_string();
    // The stored payload stops parsing before any worker sees it: the job fails permanently.
    exec_sql(&app, "UPDATE alerts SET raw_payload = 'not json'").await;
    let worker = start_worker_with(&app, &[]).await;
    let status_of = |uuid: String| {
        let app = &app;
        let key = key.clone();
        async move { app.get(&format!("/v1/alerts/{uuid}"), &key).await.1["data"]["enrichment_status"].clone() }
    };
    eventually("the alert to be marked Failed", Duration::from_secs(30), || async {
        (status_of(uuid.clone()).await == "Failed").then_some(())
    })
    .await;
    let (_, activity) = app.get(&format!("/v1/alerts/{uuid}/activity"), &key).await;
    let failed = activity["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "alert_enrichment_failed")
        .cloned()
        .unwrap_or_else(|| panic!("no alert_enrichment_failed event: {activity}"));
    assert!(failed["references"]["error"].as_str().unwrap().contains("not JSON"), "{failed}");

    // Once the cause is gone, retrying the dead letter runs the enrichment normally.
    let (_, dead) = app.get("/v1/jobs?status=dead", &key).await;
    let job = dead["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "enrich_alert" && j["payload"]["alert_uuid"] == uuid.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("the enrich_alert job is not a dead letter: {dead}"));
    exec_sql(&app, &format!("UPDATE alerts SET raw_payload = '{payload}'")).await;
    let (status, body) =
        app.post(&format!("/v1/jobs/{}/retry", job["uuid"].as_str().unwrap()), &key, json!({})).await;
    assert_eq!(status, 200, "{body}");
    eventually("the retried enrichment to finish", Duration::from_secs(30), || async {
        (status_of(uuid.clone()).await == "Enriched").then_some(())
    })
    .await;
    worker.shutdown().await;
}

#[tokio::test]
async fn an_alert_keeps_at_most_a_thousand_indicators_and_reports_the_rest() {
    let app = spawn_app().await;
    let indicators: Vec<Value> = (0..1200)
        .map(|i| json!({"type": "ip", "value": format!("198.{}.{}.{}", 18 + i / 65536, (i / 256) % 256, i % 256)}))
        .collect();
    let uuid = ingest(&app, json!({"title": "noisy", "severity": "low", "indicators": indicators})).await;
    let (_, found) = app.get(&format!("/v1/alerts/{uuid}/indicators"), &app.admin_key).await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1000);
    let (_, activity) = app.get(&format!("/v1/alerts/{uuid}/activity"), &app.admin_key).await;
    let completed = activity["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "alert_enrichment_completed")
        .cloned()
        .unwrap();
    assert_eq!(completed["references"]["indicators_over_limit"], 200, "{completed}");
    assert_eq!(completed["references"]["indicator_count"], 1000);
    // Nor can hand-added indicators take it past the limit.
    let add = |value: &str| {
        let body = json!({"indicators": [{"type": "ip", "value": value}]});
        let (app, uuid) = (&app, uuid.clone());
        async move { app.post(&format!("/v1/alerts/{uuid}/indicators?enrich=false"), &app.admin_key, body).await }
    };
    let (status, body) = add("203.0.113.200").await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = add("198.18.0.0").await;
    assert!(status < 300, "an indicator it already has can be added again: {body}");
}

/// A job kind that always fails permanently (it becomes a dead letter at once).
struct Doomed;

#[async_trait::async_trait]
impl calseta_jobs::JobHandler for Doomed {
    async fn run(&self, _ctx: &calseta_jobs::JobContext) -> Result<(), calseta_jobs::JobFailure> {
        Err(calseta_jobs::JobFailure::permanent("doomed"))
    }
}

const DOOMED: calseta_jobs::JobKind = calseta_jobs::JobKind {
    name: "test.doomed",
    queue: "test",
    retry: calseta_core::jobs::RetryPolicy::exponential(1, Duration::from_millis(10)),
};

#[tokio::test]
async fn retention_deletes_what_it_is_configured_not_to_keep() {
    let agent = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&agent)
        .await;
    let app = spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into())],
        jobs: vec![(DOOMED, std::sync::Arc::new(Doomed) as std::sync::Arc<dyn calseta_jobs::JobHandler>)],
        ..AppOptions::default()
    })
    .await;
    let key = app.admin_key.clone();
    let mut tx = app.db.begin().await.unwrap();
    calseta_jobs::enqueue(&mut tx, &DOOMED, json!({}), Duration::ZERO).await.unwrap();
    tx.commit().await.unwrap();
    eventually("the dead letter", Duration::from_secs(30), || async {
        (query_i64(&app, "SELECT COUNT(*) FROM jobs WHERE status = 'dead'").await == 1).then_some(())
    })
    .await;
    let (status, registered) = app
        .post("/v1/agents", &key, json!({"name": "kept?", "endpoint_url": agent.uri(), "retry_count": 0}))
        .await;
    assert_eq!(status, 201, "{registered}");
    let closed = ingest(&app, json!({"title": "old and closed", "severity": "low"})).await;
    let open = ingest(&app, json!({"title": "old but open", "severity": "low"})).await;
    let (status, body) = app
        .patch(
            &format!("/v1/alerts/{closed}"),
            &key,
            json!({"status": "Closed", "close_classification": "Duplicate"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    eventually("both deliveries", Duration::from_secs(30), || async {
        (query_i64(&app, "SELECT COUNT(*) FROM agent_runs").await == 2).then_some(())
    })
    .await;
    // Everything is three days old now.
    let old = chrono::Utc::now() - chrono::Duration::days(3);
    exec_sql_at(&app, "UPDATE alerts SET closed_at = $1 WHERE status = 'Closed'", old).await;
    exec_sql_at(&app, "UPDATE activity_events SET created_at = $1", old).await;
    exec_sql_at(&app, "UPDATE agent_runs SET created_at = $1", old).await;
    exec_sql_at(&app, "UPDATE jobs SET finished_at = $1 WHERE status = 'dead'", old).await;

    // A worker with retention on applies it when it starts (then hourly).
    let worker = start_worker_with(
        &app,
        &[
            ("RETENTION_CLOSED_ALERT_DAYS", "1"),
            ("RETENTION_ACTIVITY_DAYS", "1"),
            ("RETENTION_AGENT_RUN_DAYS", "1"),
            ("RETENTION_DEAD_JOB_DAYS", "1"),
        ],
    )
    .await;
    eventually("the closed alert to be deleted", Duration::from_secs(30), || async {
        (app.get(&format!("/v1/alerts/{closed}"), &key).await.0 == 404).then_some(())
    })
    .await;
    eventually("old activity, runs and dead letters to be deleted", Duration::from_secs(30), || async {
        let left = query_i64(&app, "SELECT COUNT(*) FROM activity_events").await
            + query_i64(&app, "SELECT COUNT(*) FROM agent_runs").await
            + query_i64(&app, "SELECT COUNT(*) FROM jobs WHERE status = 'dead'").await;
        (left == 0).then_some(())
    })
    .await;
    assert_eq!(app.get(&format!("/v1/alerts/{open}"), &key).await.0, 200, "an open alert is kept");
    worker.shutdown().await;
}

/// Whether `error` is the failure to decode column `column` of a row.
fn decode_error_in(error: &calseta_store::StoreError, column: &str) -> bool {
    matches!(error, calseta_store::StoreError::Database(sqlx::Error::ColumnDecode { index, .. }) if index == column)
}

/// Rows carry the core enums: a value no enum knows, written straight into the database, is a
/// decode error when the row is read (never a silent default), and the API answers it with the
/// error envelope rather than a 200 with a made-up value. On both engines.
#[tokio::test]
async fn an_unknown_stored_enum_value_is_a_read_error_not_a_default() {
    let app = spawn_app_with(AppOptions { run_worker: false, ..AppOptions::default() }).await;
    let key = app.admin_key.clone();
    let payload = json!({"title": "Bogus status", "severity": "high"});
    let (status, body) =
        app.post("/v1/alerts", &key, json!({"source_name": "generic", "payload": payload})).await;
    assert_eq!(status, 202, "{body}");
    let uuid: uuid::Uuid = body["data"]["alert_uuid"].as_str().unwrap().parse().unwrap();
    let (status, body) = app.get(&format!("/v1/alerts/{uuid}"), &key).await;
    assert_eq!((status, body["data"]["status"].as_str()), (200, Some("Open")), "{body}");

    // A status no version of Calseta writes.
    exec_sql(&app, "UPDATE alerts SET status = 'Snoozed'").await;
    let read = calseta_store::alerts::get(&app.db, uuid).await;
    let error = read.expect_err("an unknown status must not decode");
    assert!(decode_error_in(&error, "status"), "{error}");
    for path in [format!("/v1/alerts/{uuid}"), "/v1/alerts".to_string()] {
        let (status, body) = app.get(&path, &key).await;
        assert_eq!((status, body["error"]["code"].as_str()), (500, Some("INTERNAL_ERROR")), "{path}: {body}");
        assert!(body.get("data").is_none(), "{path}: {body}");
    }

    // The same holds for a nullable column: an unknown close classification is an error too,
    // while NULL still reads as none.
    exec_sql(&app, "UPDATE alerts SET status = 'Closed', close_classification = 'Probably Fine'").await;
    let error = calseta_store::alerts::get(&app.db, uuid).await.expect_err("unknown classification");
    assert!(decode_error_in(&error, "close_classification"), "{error}");
    let (status, body) = app.get(&format!("/v1/alerts/{uuid}"), &key).await;
    assert_eq!((status, body["error"]["code"].as_str()), (500, Some("INTERNAL_ERROR")), "{body}");
    exec_sql(&app, "UPDATE alerts SET status = 'Open', close_classification = NULL").await;
    let row = calseta_store::alerts::get(&app.db, uuid).await.unwrap().unwrap();
    assert_eq!((row.status, row.close_classification), (calseta_core::alerts::AlertStatus::Open, None));

    // And for the other tables' enums, e.g. a job's status.
    exec_sql(&app, "UPDATE jobs SET status = 'paused'").await;
    let (status, body) = app.get("/v1/jobs", &key).await;
    assert_eq!((status, body["error"]["code"].as_str()), (500, Some("INTERNAL_ERROR")), "{body}");
}
