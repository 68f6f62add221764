//! SOC metrics against a hand-computed set of alerts with known timestamps (both engines): MTTD,
//! MTTA, MTTT, MTTC, time to enrich, rates, breakdowns, daily series, top lists; per detection
//! rule; and workflow runs.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::ingest::ingest_and_wait;

fn at(day: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, h, m, s).single().unwrap()
}

/// An alert's lifecycle as the fixture sets it.
struct Life {
    occurred: DateTime<Utc>,
    created: DateTime<Utc>,
    enriched: Option<DateTime<Utc>>,
    acknowledged: Option<DateTime<Utc>>,
    triaged: Option<DateTime<Utc>>,
    closed: Option<DateTime<Utc>>,
    status: &'static str,
    classification: Option<&'static str>,
    severity: &'static str,
}

async fn set_life(app: &TestApp, uuid: &str, life: &Life) {
    let text = |v: Option<&str>| v.map_or("NULL".to_string(), |v| format!("'{v}'"));
    let enriched = if app.database.url.starts_with("postgres") {
        life.enriched.is_some().to_string()
    } else {
        u8::from(life.enriched.is_some()).to_string()
    };
    let sql = format!(
        "UPDATE alerts SET occurred_at = $1, created_at = $2, ingested_at = $2, enriched_at = $3, is_enriched = {enriched}, \
         acknowledged_at = $4, triaged_at = $5, closed_at = $6, status = '{}', close_classification = {}, severity = '{}' \
         WHERE uuid = {}",
        life.status,
        text(life.classification),
        life.severity,
        crate::respond::uuid_literal(app, uuid)
    );
    let times = [
        Some(life.occurred),
        Some(life.created),
        life.enriched,
        life.acknowledged,
        life.triaged,
        life.closed,
    ];
    exec_sql_times(app, &sql, &times).await;
}

fn close_to(value: &Value, expected: f64) {
    let got = value.as_f64().unwrap_or_else(|| panic!("not a number: {value}"));
    assert!((got - expected).abs() < 0.01, "{got} ≠ {expected}");
}

#[tokio::test]
async fn alert_and_rule_metrics_match_hand_computed_values() {
    let app = spawn_app().await;
    let admin = app.admin_key.clone();
    let (status, rule) = app
        .post(
            "/v1/detection-rules",
            &admin,
            json!({"name": "Password spray", "source_name": "generic", "source_rule_id": "R1"}),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    let rule_uuid = rule["data"]["uuid"].as_str().unwrap().to_string();
    let lives = [
        // A1: MTTD 60 s, enrich 10 s, MTTA 300 s, MTTT 600 s, MTTC 3600 s; a false positive.
        Life {
            occurred: at(1, 9, 59, 0),
            created: at(1, 10, 0, 0),
            enriched: Some(at(1, 10, 0, 10)),
            acknowledged: Some(at(1, 10, 5, 0)),
            triaged: Some(at(1, 10, 10, 0)),
            closed: Some(at(1, 11, 0, 0)),
            status: "Closed",
            classification: Some("False Positive - Inaccurate Data"),
            severity: "High",
        },
        // A2: MTTD 120 s, enrich 30 s, MTTA 600 s, MTTC 7200 s; a true positive.
        Life {
            occurred: at(2, 11, 58, 0),
            created: at(2, 12, 0, 0),
            enriched: Some(at(2, 12, 0, 30)),
            acknowledged: Some(at(2, 12, 10, 0)),
            triaged: None,
            closed: Some(at(2, 14, 0, 0)),
            status: "Closed",
            classification: Some("True Positive - Suspicious Activity"),
            severity: "Critical",
        },
        // A3: MTTD 30 s, not enriched, open.
        Life {
            occurred: at(2, 14, 59, 30),
            created: at(2, 15, 0, 0),
            enriched: None,
            acknowledged: None,
            triaged: None,
            closed: None,
            status: "Open",
            classification: None,
            severity: "High",
        },
        // A4 (no rule): MTTD 3600 s, enrich 20 s, MTTA 1800 s, MTTT 2700 s, triaging.
        Life {
            occurred: at(3, 7, 0, 0),
            created: at(3, 8, 0, 0),
            enriched: Some(at(3, 8, 0, 20)),
            acknowledged: Some(at(3, 8, 30, 0)),
            triaged: Some(at(3, 8, 45, 0)),
            closed: None,
            status: "Triaging",
            classification: None,
            severity: "Low",
        },
        // A5: before the window.
        Life {
            occurred: at(1, 0, 0, 0),
            created: Utc.with_ymd_and_hms(2026, 10, 20, 0, 0, 0).single().unwrap(),
            enriched: None,
            acknowledged: None,
            triaged: None,
            closed: None,
            status: "Open",
            classification: None,
            severity: "Critical",
        },
    ];
    for (n, life) in lives.iter().enumerate() {
        let mut body = json!({"title": format!("A{}", n + 1), "src_ip": "203.0.113.5"});
        if n != 3 {
            body["rule_id"] = json!("R1");
        }
        let alert = ingest_and_wait(&app, "generic", &body.to_string()).await;
        set_life(&app, alert["data"]["uuid"].as_str().unwrap(), life).await;
    }

    let reader = app.key_with(&["alerts:read"]).await;
    let window = "from_time=2026-11-01T00:00:00Z&to_time=2026-11-04T00:00:00Z";
    let (status, body) = app.get(&format!("/v1/metrics/alerts?{window}"), &reader).await;
    assert_eq!(status, 200, "{body}");
    let m = &body["data"];
    assert_eq!(m["total_alerts"], 4);
    assert_eq!(m["alerts_by_status"], json!({"Closed": 2, "Open": 1, "Triaging": 1}));
    assert_eq!(m["alerts_by_severity"], json!({"Critical": 1, "High": 2, "Low": 1}));
    assert_eq!(m["alerts_by_source"], json!({"generic": 4}));
    assert_eq!(
        m["alerts_over_time"],
        json!([{"date": "2026-11-01", "count": 1}, {"date": "2026-11-02", "count": 2}, {"date": "2026-11-03", "count": 1}])
    );
    close_to(&m["false_positive_rate"], 0.5);
    close_to(&m["mean_time_to_enrich"], 20.0);
    close_to(&m["mean_time_to_detect"], (60.0 + 120.0 + 30.0 + 3600.0) / 4.0);
    close_to(&m["mean_time_to_acknowledge"], (300.0 + 600.0 + 1800.0) / 3.0);
    close_to(&m["mean_time_to_triage"], (600.0 + 2700.0) / 2.0);
    close_to(&m["mean_time_to_conclusion"], (3600.0 + 7200.0) / 2.0);
    assert_eq!(m["active_alerts_by_severity"], json!({"High": 1, "Low": 1}));
    assert_eq!(m["top_detection_rules"], json!([{"uuid": rule_uuid, "name": "Password spray", "count": 3}]));
    close_to(&m["enrichment_coverage"], 0.75);

    let (status, body) = app
        .get(
            &format!(
                "/v1/detection-rules/{rule_uuid}/metrics?from=2026-11-01T00:00:00Z&to=2026-11-04T00:00:00Z"
            ),
            &reader,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let r = &body["data"];
    assert_eq!(
        (r["detection_rule_name"].as_str(), r["total_alerts"].as_i64(), r["active_alerts"].as_i64()),
        (Some("Password spray"), Some(3), Some(1))
    );
    assert_eq!(r["alerts_by_status"], json!({"Closed": 2, "Open": 1}));
    close_to(&r["false_positive_rate"], 0.5);
    close_to(&r["true_positive_rate"], 0.5);
    assert_eq!(
        r["close_classifications"],
        json!({"False Positive - Inaccurate Data": 1, "True Positive - Suspicious Activity": 1})
    );
    assert_eq!(r["fp_over_time"], json!([{"date": "2026-11-01", "count": 1}]));
    close_to(&r["mtta_seconds"], 450.0);
    close_to(&r["mttc_seconds"], 5400.0);
    assert_eq!(r["severity_distribution"], json!({"High": 1}));
    assert_eq!(
        r["top_indicators"],
        json!([{"type": "ip", "value": "203.0.113.5", "count": 3, "malice": r["top_indicators"][0]["malice"]}])
    );
    assert_eq!(r["alert_sources"], json!({"generic": 3}));

    // An empty window: zero rates, no means.
    let (_, body) = app
        .get("/v1/metrics/alerts?from_time=2020-01-01T00:00:00Z&to_time=2020-01-02T00:00:00Z", &reader)
        .await;
    assert_eq!(
        (body["data"]["total_alerts"].as_i64(), body["data"]["mean_time_to_detect"].is_null()),
        (Some(0), true)
    );
    close_to(&body["data"]["false_positive_rate"], 0.0);
    // Bad input.
    let (status, body) = app.get("/v1/metrics/alerts?from_time=yesterday", &reader).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .get("/v1/metrics/alerts?from_time=2026-11-04T00:00:00Z&to_time=2026-11-01T00:00:00Z", &reader)
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .get(
            &format!(
                "/v1/detection-rules/{rule_uuid}/metrics?from=2026-11-04T00:00:00Z&to=2026-11-01T00:00:00Z"
            ),
            &reader,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"]["errors"][0]["loc"], json!(["query", "from"]), "{body}");
    let (status, _) =
        app.get(&format!("/v1/detection-rules/{}/metrics", uuid::Uuid::new_v4()), &reader).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn workflow_metrics_count_runs_successes_and_time_saved() {
    let app = spawn_app().await;
    crate::respond::alert_with_account(&app, "eve@example.com").await;
    let key = app.key_with(&["workflows:write", "workflows:execute", "workflows:read"]).await;
    let ok = "from app.workflows.context import WorkflowResult\n\nasync def run(ctx):\n    return WorkflowResult.ok('ok')\n";
    let fail = "from app.workflows.context import WorkflowResult\n\nasync def run(ctx):\n    return WorkflowResult.fail('no')\n";
    let mut uuids = Vec::new();
    for (name, code, saved) in [("Saver", ok, 15), ("Failer", fail, 60)] {
        let (status, created) = app
            .post(
                "/v1/workflows",
                &key,
                json!({"name": name, "code": code, "state": "active", "approval_mode": "never",
                                                "time_saved_minutes": saved}),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        uuids.push(created["data"]["uuid"].as_str().unwrap().to_string());
    }
    for uuid in [&uuids[0], &uuids[0], &uuids[1]] {
        let (status, _) = app
            .post(
                &format!("/v1/workflows/{uuid}/execute"),
                &key,
                json!({"indicator_type": "account", "indicator_value": "eve@example.com"}),
            )
            .await;
        assert_eq!(status, 202);
    }
    eventually("the runs finish", std::time::Duration::from_secs(30), || async {
        let (_, runs) = app.get("/v1/workflow-runs?page_size=10", &key).await;
        runs["data"]
            .as_array()
            .filter(|r| r.len() == 3 && r.iter().all(|r| r["status"] != "queued" && r["status"] != "running"))
            .map(|_| ())
    })
    .await;
    let (status, body) = app.get("/v1/metrics/workflows", &key).await;
    assert_eq!(status, 200, "{body}");
    let m = &body["data"];
    assert_eq!(m["total_configured"], 11, "nine builtins and two of ours");
    assert_eq!(m["workflow_run_count"], 3);
    close_to(&m["workflow_success_rate"], 2.0 / 3.0);
    close_to(&m["time_saved_hours"], 0.5);
    assert_eq!(m["most_executed_workflows"][0], json!({"uuid": uuids[0], "name": "Saver", "run_count": 2}));
    assert_eq!(m["most_executed_workflows"][1], json!({"uuid": uuids[1], "name": "Failer", "run_count": 1}));
    let today = Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(m["workflow_runs_over_time"], json!([{"date": today, "count": 3}]));
    assert_eq!(
        m["workflows_by_type"].as_object().unwrap().values().filter_map(Value::as_i64).sum::<i64>(),
        11
    );
}

async fn set_request_times(app: &TestApp, uuid: &str, created: DateTime<Utc>, responded: DateTime<Utc>) {
    let sql = format!(
        "UPDATE workflow_approval_requests SET created_at = $1, responded_at = $2 WHERE uuid = {}",
        crate::respond::uuid_literal(app, uuid)
    );
    exec_sql_times(app, &sql, &[Some(created), Some(responded)]).await;
}

#[tokio::test]
async fn the_summary_covers_alerts_workflows_approvals_platform_and_queues() {
    let app = spawn_app().await;
    let admin = app.admin_key.clone();
    crate::respond::alert_with_account(&app, "eve@example.com").await;
    let closed = ingest_and_wait(
        &app,
        "generic",
        r#"{"title": "Noise", "severity": "Low", "src_ip": "198.51.100.9"}"#,
    )
    .await;
    let closed_uuid = closed["data"]["uuid"].as_str().unwrap();
    let (status, body) = app
        .patch(
            &format!("/v1/alerts/{closed_uuid}"),
            &admin,
            json!({"status": "Closed", "close_classification": "False Positive - Inaccurate Data"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Three requests: one approved after a minute, one rejected after three, one pending.
    let workflow = crate::approvals::gated_workflow(&app, "Gated", "high").await;
    let mut requests = Vec::new();
    for _ in 0..3 {
        let (_, pending) = app
            .post(
                &format!("/v1/workflows/{workflow}/execute"),
                &admin,
                json!({"indicator_type": "account", "indicator_value": "eve@example.com"}),
            )
            .await;
        requests.push(pending["data"]["approval_request_uuid"].as_str().unwrap().to_string());
    }
    app.post(&format!("/v1/workflow-approvals/{}/approve", requests[0]), &admin, json!({})).await;
    app.post(&format!("/v1/workflow-approvals/{}/reject", requests[1]), &admin, json!({})).await;
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    set_request_times(&app, &requests[0], hour_ago, hour_ago + chrono::Duration::seconds(60)).await;
    set_request_times(&app, &requests[1], hour_ago, hour_ago + chrono::Duration::seconds(180)).await;
    crate::respond::finished_run(&app, &workflow).await;

    let reader = app.key_with(&["alerts:read"]).await;
    let summary = eventually("the queues are drained", std::time::Duration::from_secs(30), || async {
        let (_, body) = app.get("/v1/metrics/summary", &reader).await;
        (body["data"]["queue"]["total_pending"] == 0 && body["data"]["queue"]["total_in_progress"] == 0)
            .then_some(body["data"].clone())
    })
    .await;
    assert_eq!(summary["period"], "last_30_days");
    let alerts = &summary["alerts"];
    assert_eq!((alerts["total"].as_i64(), alerts["active"].as_i64()), (Some(2), Some(1)), "{alerts}");
    assert_eq!(alerts["by_status"], json!({"Closed": 1, "Open": 1}));
    assert_eq!(
        alerts["by_severity"].as_object().unwrap().values().filter_map(Value::as_i64).sum::<i64>(),
        1,
        "active only"
    );
    close_to(&alerts["false_positive_rate"], 1.0);
    close_to(&alerts["enrichment_coverage"], 1.0);
    assert!(alerts["mttc_seconds"].as_f64().is_some_and(|s| s >= 0.0), "{alerts}");
    let workflows = &summary["workflows"];
    assert_eq!(workflows["total_configured"], 10, "nine builtins (active) and ours");
    assert_eq!(workflows["executions"], 1);
    close_to(&workflows["success_rate"], 1.0);
    let approvals = &summary["approvals"];
    assert_eq!(
        (approvals["pending"].as_i64(), approvals["approved_last_30_days"].as_i64()),
        (Some(1), Some(1))
    );
    close_to(&approvals["approval_rate"], 0.5);
    close_to(&approvals["median_response_time_minutes"], 2.0);
    let platform = &summary["platform"];
    assert_eq!(
        (platform["workflows"].as_i64(), platform["indicator_mappings"].as_i64()),
        (Some(10), Some(14))
    );
    assert_eq!((platform["detection_rules"].as_i64(), platform["agents"].as_i64()), (Some(0), Some(0)));
    let by_type: i64 = platform["enrichment_providers_by_indicator_type"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_i64)
        .sum();
    assert!(by_type >= platform["enrichment_providers"].as_i64().unwrap(), "{platform}");
    let queues = summary["queue"]["queues"].as_array().unwrap();
    let enrichment = queues.iter().find(|q| q["queue"] == "enrichment").unwrap();
    assert!(enrichment["succeeded_30d"].as_i64().unwrap() >= 2, "{enrichment}");
    assert!(enrichment["avg_duration_seconds"].as_f64().is_some(), "{enrichment}");
    assert_eq!(summary["queue"]["total_failed_30d"], 0);
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

#[tokio::test]
async fn prometheus_exposes_requests_jobs_enrichment_deliveries_and_the_process() {
    let agent = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&agent)
        .await;
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("ENRICHMENT_MOCK_MODE", "true".into()),
            ("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()),
            ("METRICS_TOKEN", "scrape-me".into()),
        ],
        ..AppOptions::default()
    })
    .await;
    let (status, body) = app
        .post(
            "/v1/agents",
            &app.admin_key,
            json!({"name": "recorder", "endpoint_url": format!("{}/hook", agent.uri()),
                                                   "trigger_on_sources": [], "trigger_on_severities": []}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let detail = ingest_and_wait(
        &app,
        "generic",
        r#"{"title": "Beacon", "severity": "High", "src_ip": "185.220.101.47"}"#,
    )
    .await;
    let uuid = detail["data"]["uuid"].as_str().unwrap().to_string();
    app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
    app.get("/v1/nothing/here", &app.admin_key).await;
    // No client can grow the labels: junk in a routed path, an invented method.
    app.client.get(app.url("/v1/alerts/junk-value-1")).send().await.unwrap();
    app.client
        .request(reqwest::Method::from_bytes(b"FOO123").unwrap(), app.url("/health"))
        .send()
        .await
        .unwrap();

    // Only with the token.
    let scrape = |token: Option<&'static str>| {
        let mut request =
            app.client.get(app.url("/metrics")).header("accept", "application/openmetrics-text");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(scrape(None).await.unwrap().status(), 401);
    assert_eq!(scrape(Some("wrong")).await.unwrap().status(), 401);
    let text = eventually("the delivery is counted", std::time::Duration::from_secs(20), || async {
        let response = scrape(Some("scrape-me")).await.unwrap();
        assert!(
            response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text")
        );
        let text = response.text().await.unwrap();
        text.contains(r#"calseta_agent_deliveries_total{outcome="success"}"#).then_some(text)
    })
    .await;
    assert!(
        sample(&text, r#"calseta_http_requests_total{method="GET",route="/v1/alerts/{uuid}",status="200"}"#)
            .unwrap()
            >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, r#"calseta_http_requests_total{method="GET",route="unmatched",status="404"}"#).unwrap()
            >= 1.0,
        "{text}"
    );
    assert!(!text.contains(&uuid), "no raw ids in labels");
    assert!(!text.contains("junk-value-1") && !text.contains("FOO123"), "{text}");
    assert!(
        sample(&text, r#"calseta_http_requests_total{method="GET",route="/v1/alerts/{uuid}",status="401"}"#)
            .unwrap()
            >= 1.0,
        "{text}"
    );
    assert!(text.contains(r#"method="other""#), "{text}");
    assert!(text.contains(r#"calseta_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/v1/alerts/{uuid}"}"#), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("calseta_enrichment_lookups_total{provider=")
            && l.contains(r#"outcome="mock""#)),
        "{text}"
    );
    assert!(
        sample(&text, r#"calseta_jobs{queue="enrichment",status="succeeded"}"#).unwrap() >= 1.0,
        "{text}"
    );
    assert_eq!(sample(&text, "calseta_approvals_pending"), Some(0.0));
    assert!(sample(&text, "calseta_db_pool_connections").unwrap() >= 1.0, "{text}");
    assert!(sample(&text, "process_resident_memory_bytes").unwrap() > 1_000_000.0, "{text}");
    assert!(text.trim_end().ends_with("# EOF"));
}
