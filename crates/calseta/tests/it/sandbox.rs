//! Sandbox mode: a fresh start shows the five case-study alerts enriched by the mock providers,
//! each with its detection rule and the documents chosen for it; the demo keys work with their
//! scopes; a second start adds nothing; and the daily reset puts visitors' changes away.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

const READ_KEY: &str = "cai_sandbox_demo_key_not_for_production";
const LAB_KEY: &str = "cai_lab_demo_full_access_key_not_for_prod";

/// An app in sandbox mode.
pub(crate) async fn sandbox_app() -> TestApp {
    spawn_app_with(AppOptions {
        env: vec![("SANDBOX_MODE", "true".into()), ("ENRICHMENT_MOCK_MODE", "true".into())],
        ..AppOptions::default()
    })
    .await
}

/// The five sandbox alerts, once the worker has enriched them.
pub(crate) async fn enriched_alerts(app: &TestApp) -> Vec<Value> {
    eventually("the five sandbox alerts are enriched", Duration::from_secs(30), || async {
        let (_, list) = app.get("/v1/alerts?page_size=50", READ_KEY).await;
        let alerts = list["data"].as_array().cloned().unwrap_or_default();
        (alerts.len() == 5 && alerts.iter().all(|a| a["enrichment_status"] == "Enriched")).then_some(alerts)
    })
    .await
}

#[tokio::test]
async fn a_fresh_start_shows_five_enriched_alerts_with_context_and_a_restart_adds_nothing() {
    let app = sandbox_app().await;
    let alerts = enriched_alerts(&app).await;
    let titles: Vec<&str> = alerts.iter().filter_map(|a| a["title"].as_str()).collect();
    assert_eq!(titles.len(), 5, "{titles:?}");
    for alert in &alerts {
        let uuid = alert["uuid"].as_str().unwrap();
        let (_, detail) = app.get(&format!("/v1/alerts/{uuid}"), READ_KEY).await;
        let detail = &detail["data"];
        assert!(detail["detection_rule"]["name"].is_string(), "every alert has its rule: {detail}");
        assert!(
            detail["detection_rule"]["documentation"].as_str().is_some_and(|d| d.len() > 500),
            "with its documentation"
        );
        assert!(!detail["indicators"].as_array().unwrap().is_empty(), "{detail}");
        assert_ne!(detail["malice"], "Pending", "mock verdicts: {}", detail["title"]);
        let (_, context) = app.get(&format!("/v1/alerts/{uuid}/context"), READ_KEY).await;
        assert!(!context["data"].as_array().unwrap().is_empty(), "documents chosen for {}", detail["title"]);
    }
    // The read-only key reads and cannot write; the lab key can.
    let (status, _) = app.post("/v1/detection-rules", READ_KEY, json!({"name": "x"})).await;
    assert_eq!(status, 403);
    let (status, rules) = app.get("/v1/detection-rules?page_size=50", LAB_KEY).await;
    assert_eq!((status, rules["meta"]["total"].as_i64()), (200, Some(5)));
    let (_, documents) = app.get("/v1/context-documents?page_size=50", LAB_KEY).await;
    assert_eq!(documents["meta"]["total"], 3);

    // A second process on the same database (a restart) seeds nothing new.
    let second = start_worker_with(&app, &[("SANDBOX_MODE", "true"), ("ENRICHMENT_MOCK_MODE", "true")]).await;
    drop(second);
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM alerts").await, 5);
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM detection_rules").await, 5);
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM context_documents").await, 3);
    assert_eq!(
        query_i64(&app, "SELECT COUNT(*) FROM api_keys WHERE is_system").await,
        3,
        "bootstrap + 2 demo keys"
    );

    // A visitor's changes, then the day's reset: they go, the seed comes back.
    let (status, _) = app.post("/v1/detection-rules", LAB_KEY, json!({"name": "Visitor rule"})).await;
    assert_eq!(status, 201);
    exec_sql(&app, "UPDATE calseta_state SET value = '2000-01-01' WHERE key = 'sandbox_reset_day'").await;
    let reset = start_worker_with(&app, &[("SANDBOX_MODE", "true"), ("ENRICHMENT_MOCK_MODE", "true")]).await;
    eventually("the reset removes the visitor's rule", Duration::from_secs(30), || async {
        (query_i64(&app, "SELECT COUNT(*) FROM detection_rules WHERE name = 'Visitor rule'").await == 0)
            .then_some(())
    })
    .await;
    drop(reset);
    let alerts = enriched_alerts(&app).await;
    assert_eq!(alerts.len(), 5);
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM detection_rules").await, 5);
}

#[tokio::test]
async fn the_public_demo_keys_stop_working_outside_sandbox_mode_and_come_back_in_it() {
    let app = sandbox_app().await;
    let (status, _) = app.get("/v1/alerts", LAB_KEY).await;
    assert_eq!(status, 200);
    // A visitor revokes a demo key; the next sandbox start restores it.
    let (_, keys) = app.get("/v1/api-keys", LAB_KEY).await;
    let read =
        keys["data"].as_array().unwrap().iter().find(|k| k["key_prefix"] == "cai_sand").unwrap().clone();
    let (status, _) = app.delete(&format!("/v1/api-keys/{}", read["uuid"].as_str().unwrap()), LAB_KEY).await;
    assert!(status == 200 || status == 204, "{status}");
    assert_eq!(app.get("/v1/alerts", READ_KEY).await.0, 401);
    drop(start_worker_with(&app, &[("SANDBOX_MODE", "true")]).await);
    assert_eq!(app.get("/v1/alerts", READ_KEY).await.0, 200, "restored by the sandbox seed");
    // The same database started for real: the public keys are refused from then on.
    drop(start_worker_with(&app, &[("SANDBOX_MODE", "false"), ("ENRICHMENT_MOCK_MODE", "false")]).await);
    // (This process learns of the other's change when its few-second key cache expires.)
    eventually("the demo keys are refused", Duration::from_secs(20), || async {
        (app.get("/v1/alerts", LAB_KEY).await.0 == 401 && app.get("/v1/alerts", READ_KEY).await.0 == 401)
            .then_some(())
    })
    .await;
}
