//! The seed's journey end to end, and agent delivery: signatures, retries, isolation, SSRF.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::*;
use crate::ingest::ingest_and_wait;

const RULE_UUID: &str = "0f6a2c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";

async fn received(server: &MockServer, count: usize) -> Vec<Request> {
    eventually(&format!("{count} webhook(s)"), Duration::from_secs(30), || async {
        let requests = server.received_requests().await.unwrap_or_default();
        (requests.len() >= count).then_some(requests)
    })
    .await
}

async fn register(app: &TestApp, body: Value) -> Value {
    let (status, agent) = app.post("/v1/agents", &app.admin_key, body).await;
    assert_eq!(status, 201, "{agent}");
    agent["data"].clone()
}

#[tokio::test]
async fn the_seed_journey_ends_in_one_signed_complete_payload() {
    let listener = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/agent"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&listener)
        .await;
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()),
            ("ENRICHMENT_MOCK_MODE", "true".into()),
            ("CALSETA_API_BASE_URL", "https://calseta.example".into()),
        ],
        ..AppOptions::default()
    })
    .await;
    let key = app.admin_key.clone();

    // The organisation's knowledge.
    let (status, _) = app
        .post("/v1/detection-rules", &key, json!({"name": "Impossible Travel", "source_name": "elastic", "source_rule_id": RULE_UUID,
            "severity": "High", "mitre_tactics": ["Initial Access"], "mitre_techniques": ["T1078"], "mitre_subtechniques": ["T1078.004"],
            "data_sources": ["Okta System Log"], "documentation": "## Impossible Travel\n\nBlind spots: corporate VPN egress."}))
        .await;
    assert_eq!(status, 201);
    app.post("/v1/context-documents", &key, json!({"title": "Account Compromise Runbook", "document_type": "runbook", "content": "1. Revoke sessions.",
        "targeting_rules": {"match_any": [{"field": "severity", "op": "in", "value": ["High", "Critical"]}]}})).await;
    app.post("/v1/context-documents", &key, json!({"title": "Company IR Plan", "document_type": "ir_plan", "is_global": true, "content": "Escalate to the IR lead."})).await;

    // Two earlier investigations of the same user and IP.
    for (title, when, ip, classification, notes) in [
        (
            "Impossible Travel Detected",
            "2024-11-03T14:22:00Z",
            "91.108.56.130",
            "True Positive - Suspicious Activity",
            "Confirmed malicious. Sessions revoked. Password reset. INC-2847.",
        ),
        (
            "Impossible Travel Detected",
            "2024-09-17T09:14:00Z",
            "185.220.101.47",
            "Benign Positive - Suspicious but Expected",
            "VPN exit node. User confirmed travel. No action taken. INC-2601.",
        ),
    ] {
        let earlier = ingest_and_wait(
            &app,
            "generic",
            &json!({"title": title, "occurred_at": when, "src_ip": ip, "email": "nick.hathaway@calseta.com"})
                .to_string(),
        )
        .await;
        let uuid = earlier["data"]["uuid"].as_str().unwrap();
        let (status, _) = app
            .patch(
                &format!("/v1/alerts/{uuid}"),
                &key,
                json!({"status": "Closed", "close_classification": classification, "close_notes": notes}),
            )
            .await;
        assert_eq!(status, 200);
    }

    // The agent.
    let agent = register(&app, json!({"name": "triage-agent", "endpoint_url": format!("{}/agent", listener.uri()), "signing_secret": "generate",
        "auth_header_name": "X-Agent-Token", "auth_header_value": "agent-token-123", "trigger_on_severities": ["High", "Critical"]})).await;
    let secret = agent["signing_secret"].as_str().expect("the generated secret is shown once").to_string();
    assert!(secret.starts_with("whsec_"));
    let (_, again) = app.get(&format!("/v1/agents/{}", agent["uuid"].as_str().unwrap()), &key).await;
    assert!(again["data"].get("signing_secret").is_none() && again["data"]["has_signing_secret"] == true);
    assert!(!again.to_string().contains("agent-token-123"));

    // The alert.
    let raw = json!({
        "kibana.alert.rule": {"name": "Impossible Travel Detected", "severity": "high", "risk_score": 73, "uuid": RULE_UUID},
        "@timestamp": "2026-04-11T10:05:00Z",
        "source": {"ip": "185.220.101.47", "geo.city_name": "Frankfurt am Main"},
        "user": {"email": "nick.hathaway@calseta.com", "name": "nick.hathaway"},
        "okta.security_context": {"as.name": "Tor Project, Inc.", "domain": "torproject.org", "is_proxy": true}
    });
    let detail = ingest_and_wait(&app, "elastic", &raw.to_string()).await;
    let alert_uuid = detail["data"]["uuid"].as_str().unwrap().to_string();

    let requests = received(&listener, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(listener.received_requests().await.unwrap().len(), 1, "one POST");
    let request = &requests[0];
    let header =
        |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(header("x-agent-token"), "agent-token-123");
    let (id, timestamp, signature) =
        (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    assert!(id.starts_with("msg_"));
    let ts: i64 = timestamp.parse().unwrap();
    assert!(
        calseta_core::webhooks::verify(&secret, &id, ts, &request.body, &signature),
        "signature verifies with the secret"
    );

    let payload: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(payload["event"], "alert.enriched");
    assert_eq!(payload["calseta_api_base_url"], "https://calseta.example");
    let alert = &payload["alert"];
    assert_eq!(
        (
            alert["uuid"].as_str(),
            alert["title"].as_str(),
            alert["severity"].as_str(),
            alert["source_name"].as_str()
        ),
        (Some(alert_uuid.as_str()), Some("Impossible Travel Detected"), Some("High"), Some("elastic"))
    );
    assert_eq!(alert["malice"], "Malicious");
    assert!(alert.get("raw_payload").is_none());
    assert_eq!(alert["_metadata"]["detection_rule_matched"], true);
    assert!(
        alert["_metadata"]["enrichment"]["succeeded"].as_array().unwrap().iter().any(|p| p == "virustotal")
    );
    let ip =
        payload["indicators"].as_array().unwrap().iter().find(|i| i["value"] == "185.220.101.47").unwrap();
    assert_eq!(ip["malice"], "Malicious");
    assert_eq!(ip["enrichment_results"]["abuseipdb"]["extracted"]["is_tor"], true);
    assert!(ip["enrichment_results"]["virustotal"].get("raw").is_none(), "raw stripped");
    assert!(
        payload["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["type"] == "account" && i["enrichment_results"]["okta"]["success"] == true)
    );
    let rule = &payload["detection_rule"];
    assert_eq!(
        (rule["name"].as_str(), rule["mitre_techniques"].clone()),
        (Some("Impossible Travel"), json!(["T1078"]))
    );
    assert!(rule["documentation"].as_str().unwrap().contains("Blind spots"));
    let past = payload["past_alerts"].as_array().unwrap();
    assert_eq!(past.len(), 2);
    assert_eq!(past[0]["close_classification"], "True Positive - Suspicious Activity");
    assert_eq!(past[0]["analyst_notes"], "Confirmed malicious. Sessions revoked. Password reset. INC-2847.");
    assert_eq!(past[1]["close_classification"], "Benign Positive - Suspicious but Expected");
    assert_eq!(
        past[1]["indicators"],
        json!([{"type": "ip", "value": "185.220.101.47"}, {"type": "email", "value": "nick.hathaway@calseta.com"}])
    );
    let documents: Vec<&str> = payload["context_documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(documents, ["Company IR Plan", "Account Compromise Runbook"], "global first");
    assert_eq!(payload["context_documents"][1]["content"], "1. Revoke sessions.");
    assert_eq!(payload["workflows"], json!([]));

    let agent_uuid = agent["uuid"].as_str().unwrap();
    let runs = eventually("the run record", Duration::from_secs(10), || async {
        let (_, runs) = app.get(&format!("/v1/agents/{agent_uuid}/runs"), &key).await;
        (runs["data"].as_array().map(Vec::len) == Some(1)).then_some(runs)
    })
    .await;
    assert_eq!(
        (runs["data"][0]["status"].as_str(), runs["data"][0]["response_status_code"].as_i64()),
        (Some("success"), Some(200))
    );
    assert_eq!(runs["data"][0]["delivery_id"], id.as_str());
    let (_, activity) = app.get(&format!("/v1/alerts/{alert_uuid}/activity"), &key).await;
    assert!(
        activity["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event_type"] == "agent_webhook_dispatched" && e["references"]["status"] == "success")
    );
}

#[tokio::test]
async fn a_failing_agent_is_retried_and_never_affects_another() {
    let flaky = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&flaky)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).with_priority(2).mount(&flaky).await;
    let down = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&down)
        .await;
    let steady = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&steady).await;
    let app = spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()), ("AGENT_RETRY_BASE_SECONDS", "1".into())],
        ..AppOptions::default()
    })
    .await;
    let flaky_agent =
        register(&app, json!({"name": "flaky", "endpoint_url": flaky.uri(), "retry_count": 3})).await;
    let down_agent =
        register(&app, json!({"name": "down", "endpoint_url": down.uri(), "retry_count": 1})).await;
    register(
        &app,
        json!({"name": "steady", "endpoint_url": steady.uri(), "trigger_on_sources": ["generic"]}),
    )
    .await;
    register(
        &app,
        json!({"name": "elastic-only", "endpoint_url": steady.uri(), "trigger_on_sources": ["elastic"]}),
    )
    .await;

    let detail = ingest_and_wait(
        &app,
        "generic",
        &json!({"title": "retry me", "src_ip": "93.184.216.34"}).to_string(),
    )
    .await;
    received(&steady, 1).await;
    let flaky_requests = received(&flaky, 3).await;
    let ids: std::collections::HashSet<String> = flaky_requests
        .iter()
        .map(|r| r.headers.get("webhook-id").unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1, "retries carry the same delivery id");
    let flaky_uuid = flaky_agent["uuid"].as_str().unwrap();
    let runs = eventually("three attempts recorded", Duration::from_secs(20), || async {
        let (_, runs) = app.get(&format!("/v1/agents/{flaky_uuid}/runs"), &app.admin_key).await;
        (runs["data"].as_array().map(Vec::len) == Some(3)).then_some(runs)
    })
    .await;
    let statuses: Vec<&str> =
        runs["data"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["success", "failed", "failed"], "newest first");

    let down_uuid = down_agent["uuid"].as_str().unwrap();
    let runs = eventually("the down agent's two attempts", Duration::from_secs(20), || async {
        let (_, runs) = app.get(&format!("/v1/agents/{down_uuid}/runs"), &app.admin_key).await;
        (runs["data"].as_array().map(Vec::len) == Some(2)).then_some(runs)
    })
    .await;
    assert_eq!(runs["data"][0]["error_message"], "HTTP 500");
    assert_eq!(runs["data"][0]["response_body"], json!({"raw": "boom"}));
    let alert = detail["data"]["uuid"].as_str().unwrap();
    let outcome = eventually("the final failure event", Duration::from_secs(20), || async {
        let (_, activity) =
            app.get(&format!("/v1/alerts/{alert}/activity?page_size=50"), &app.admin_key).await;
        activity["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                e["event_type"] == "agent_webhook_dispatched" && e["references"]["agent_name"] == "down"
            })
            .cloned()
    })
    .await;
    assert_eq!(
        (outcome["references"]["status"].as_str(), outcome["references"]["attempt_count"].as_i64()),
        (Some("failed"), Some(2))
    );
    assert_eq!(
        steady.received_requests().await.unwrap().len(),
        1,
        "the elastic-only agent was not triggered"
    );

    // Manual dispatch bypasses filters; trigger-agents re-evaluates them.
    let elastic_only = app.get("/v1/agents", &app.admin_key).await.1["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "elastic-only")
        .unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = app
        .post(
            &format!("/v1/alerts/{alert}/dispatch-agent?agent_uuid={elastic_only}"),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!((status, body["data"]["agent_name"].as_str()), (202, Some("elastic-only")));
    received(&steady, 2).await;
    let (status, body) =
        app.post(&format!("/v1/alerts/{alert}/trigger-agents"), &app.admin_key, json!({})).await;
    assert_eq!(status, 202);
    assert_eq!(body["data"]["agent_names"], json!(["flaky", "down", "steady"]));
    app.patch(&format!("/v1/agents/{elastic_only}"), &app.admin_key, json!({"is_active": false})).await;
    let (status, body) = app
        .post(
            &format!("/v1/alerts/{alert}/dispatch-agent?agent_uuid={elastic_only}"),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("AGENT_INACTIVE")));
}

#[tokio::test]
async fn agents_are_never_pointed_at_private_addresses() {
    let app = spawn_app().await;
    for url in [
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/",
        "http://localhost:9999/hook",
        "ftp://example.com/x",
        "http://100.64.0.1/",
    ] {
        let (status, body) =
            app.post("/v1/agents", &app.admin_key, json!({"name": "bad", "endpoint_url": url})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("INVALID_ENDPOINT_URL")),
            "{url}: {body}"
        );
    }
    for bad in [
        json!({"name": "x"}),
        json!({"name": "x", "endpoint_url": "https://agent.example.com/hook", "auth_header_name": "X-Token"}),
        json!({"name": "x", "endpoint_url": "https://agent.example.com/hook", "signing_secret": "not-a-secret"}),
        json!({"name": "x", "endpoint_url": "https://agent.example.com/hook", "trigger_on_severities": ["Extreme"]}),
        json!({"name": "x", "endpoint_url": "https://agent.example.com/hook", "trigger_filter": {"match_any": [{"field": "title"}]}}),
        json!({"name": "x", "endpoint_url": "https://agent.example.com/hook", "timeout_seconds": 0}),
    ] {
        let (status, body) = app.post("/v1/agents", &app.admin_key, bad.clone()).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }

    // Allowed at registration, then a redirect toward a private address is refused at delivery.
    let redirecting = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(307).insert_header("Location", "http://10.0.0.7/steal"))
        .mount(&redirecting)
        .await;
    let app = spawn_app_reaching_loopback().await;
    let agent =
        register(&app, json!({"name": "redirector", "endpoint_url": redirecting.uri(), "retry_count": 0}))
            .await;
    let (status, tested) = app
        .post(&format!("/v1/agents/{}/test", agent["uuid"].as_str().unwrap()), &app.admin_key, json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(tested["data"]["delivered"], false);
    assert!(tested["data"]["error"].as_str().unwrap().contains("SSRF blocked"), "{tested}");
}

#[tokio::test]
async fn sources_are_registered_with_encrypted_credentials() {
    let app = spawn_app().await;
    let key = app.admin_key.clone();
    let (status, body) =
        app.post("/v1/sources", &key, json!({"source_name": "qradar", "display_name": "QRadar"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("INVALID_SOURCE")));
    let (status, body) = app
        .post("/v1/sources", &key, json!({"source_name": "splunk", "display_name": "Splunk ES", "auth_type": "token", "auth_config": {"token": "hec-secret"}}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(!body.to_string().contains("hec-secret"));
    let uuid = body["data"]["uuid"].as_str().unwrap().to_string();
    let (_, body) = app
        .patch(
            &format!("/v1/sources/{uuid}"),
            &key,
            json!({"display_name": "Splunk Enterprise Security", "is_active": false}),
        )
        .await;
    assert_eq!(
        (body["data"]["display_name"].as_str(), body["data"]["is_active"].as_bool()),
        (Some("Splunk Enterprise Security"), Some(false))
    );
    let reader = app.key_with(&["alerts:read"]).await;
    let (_, list) = app.get("/v1/sources", &reader).await;
    assert_eq!(list["meta"]["total"], 1);
    let (status, _) =
        app.post("/v1/sources", &reader, json!({"source_name": "elastic", "display_name": "x"})).await;
    assert_eq!(status, 403);
    let (status, _) = app.delete(&format!("/v1/sources/{uuid}"), &key).await;
    assert_eq!(status, 204);
    let (status, _) = app.get(&format!("/v1/sources/{uuid}"), &key).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_agent_that_never_answers_does_not_stall_enrichment() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // An agent that accepts every connection and never answers one.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    let app = spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()), ("QUEUE_CONCURRENCY", "4".into())],
        ..AppOptions::default()
    })
    .await;
    let agent = register(
        &app,
        json!({"name": "hung", "endpoint_url": format!("http://{addr}/hook"), "timeout_seconds": 300, "retry_count": 0}),
    )
    .await;
    let ingest = |i: usize| {
        let app = &app;
        async move {
            let payload = json!({"title": format!("alert {i}"), "severity": "high", "source_ip": format!("203.0.113.{i}")});
            let body = json!({"source_name": "generic", "payload": payload});
            let (status, body) = app.post("/v1/alerts", &app.admin_key, body).await;
            assert_eq!(status, 202, "{body}");
        }
    };
    // First, deliveries of four alerts wait on the agent (all four worker slots, were there no
    // budgets).
    for i in 0..4 {
        ingest(i).await;
    }
    eventually("the agent to hold a delivery", Duration::from_secs(30), || async {
        (accepted.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    // Then thirty more alerts arrive, and are enriched while the deliveries still hang.
    for i in 4..34 {
        ingest(i).await;
    }
    eventually("all thirty-four alerts to be enriched", Duration::from_secs(60), || async {
        let (_, list) = app.get("/v1/alerts?enrichment_status=Enriched&page_size=100", &app.admin_key).await;
        (list["meta"]["total"] == 34).then_some(())
    })
    .await;
    // No delivery ended, and the agent never held more than its one delivery slot
    // (QUEUE_CONCURRENCY=4 gives deliveries 2 slots, one agent at most 1 of them).
    let agent_uuid = agent["uuid"].as_str().unwrap();
    let (_, runs) = app.get(&format!("/v1/agents/{agent_uuid}/runs"), &app.admin_key).await;
    assert_eq!(runs["meta"]["total"], 0, "no delivery finished: {runs}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one delivery at a time to the hung agent");
    // The deliveries waiting for the agent's slot were postponed, not failed: none is dead.
    let (_, health) = app.get("/health", "").await;
    assert_eq!(health["queues"]["dispatch"].get("dead"), None, "{health}");
    holder.abort();
}

#[tokio::test]
async fn only_the_start_of_a_huge_agent_answer_is_kept() {
    let listener = MockServer::start().await;
    let huge = json!({"notes": "n".repeat(1024 * 1024)});
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(huge))
        .mount(&listener)
        .await;
    let app = spawn_app_reaching_loopback().await;
    let agent =
        register(&app, json!({"name": "verbose", "endpoint_url": listener.uri(), "retry_count": 0})).await;
    ingest_and_wait(
        &app,
        "generic",
        &json!({"title": "verbose answer", "src_ip": "203.0.113.50"}).to_string(),
    )
    .await;
    let agent_uuid = agent["uuid"].as_str().unwrap();
    let runs = eventually("the delivery", Duration::from_secs(30), || async {
        let (_, runs) = app.get(&format!("/v1/agents/{agent_uuid}/runs"), &app.admin_key).await;
        (runs["data"].as_array().map(Vec::len) == Some(1)).then_some(runs)
    })
    .await;
    let run = &runs["data"][0];
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["response_body"]["truncated"], true);
    assert!(run["response_body"].to_string().len() < 64 * 1024, "a 1 MiB answer is not kept whole");
}

#[tokio::test]
async fn secrets_that_cannot_be_decrypted_are_never_sent_and_the_key_can_be_rotated() {
    let listener = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&listener).await;
    let old_key = "b2xkLWtleS1vbGQta2V5LW9sZC1rZXktb2xkLWtleTE=";
    let new_key = "bmV3LWtleS1uZXcta2V5LW5ldy1rZXktbmV3LWtleTI=";
    let app = spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()), ("ENCRYPTION_KEY", old_key.into())],
        run_worker: false,
        ..AppOptions::default()
    })
    .await;
    let agent = register(
        &app,
        json!({"name": "keyed", "endpoint_url": listener.uri(), "retry_count": 0, "signing_secret": "generate",
               "auth_header_name": "X-Agent-Token", "auth_header_value": "agent-token-1"}),
    )
    .await;
    let agent_uuid = agent["uuid"].as_str().unwrap().to_string();
    // A workflow secret is rotated with the rest.
    let put = app.client.put(app.url("/v1/workflow-secrets/API_TOKEN")).bearer_auth(&app.admin_key);
    assert_eq!(put.json(&json!({"value": "wf-secret"})).send().await.unwrap().status().as_u16(), 200);
    let runs = |count: usize| {
        let (app, agent_uuid) = (&app, agent_uuid.clone());
        async move {
            eventually(&format!("{count} delivery attempt(s)"), Duration::from_secs(30), || async {
                let (_, runs) = app.get(&format!("/v1/agents/{agent_uuid}/runs"), &app.admin_key).await;
                // The rows, not the count: the two are read by separate statements.
                (runs["data"].as_array().map(Vec::len) == Some(count)).then_some(runs)
            })
            .await
        }
    };

    // A worker with another key cannot read the agent's secrets: nothing is sent.
    let worker = start_worker_with(&app, &[("ENCRYPTION_KEY", new_key)]).await;
    let body = json!({"source_name": "generic", "payload": {"title": "keyed", "src_ip": "203.0.113.77"}});
    let (status, ingested) = app.post("/v1/alerts", &app.admin_key, body).await;
    assert_eq!(status, 202, "{ingested}");
    let alert_uuid = ingested["data"]["alert_uuid"].as_str().unwrap().to_string();
    let failed = runs(1).await;
    assert_eq!(failed["data"][0]["status"], "failed");
    assert!(failed["data"][0]["error_message"].as_str().unwrap().starts_with("Not sent"), "{failed}");
    assert!(listener.received_requests().await.unwrap().is_empty(), "no unsigned or unauthenticated POST");
    worker.shutdown().await;

    // With the old key as ENCRYPTION_KEY_PREVIOUS the secrets decrypt again.
    let worker =
        start_worker_with(&app, &[("ENCRYPTION_KEY", new_key), ("ENCRYPTION_KEY_PREVIOUS", old_key)]).await;
    let trigger = format!("/v1/alerts/{alert_uuid}/trigger-agents");
    let (status, _) = app.post(&trigger, &app.admin_key, json!({})).await;
    assert_eq!(status, 202);
    let delivered = runs(2).await;
    assert_eq!(delivered["data"][0]["status"], "success", "{delivered}");
    worker.shutdown().await;

    // Rotation re-encrypts every secret with the new key; then the old one is no longer needed.
    let mut rotate = std::process::Command::new(env!("CARGO_BIN_EXE_calseta"));
    rotate.arg("rotate-encryption-key").env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    rotate
        .env("DATABASE_URL", &app.database.url)
        .env("ENCRYPTION_KEY", new_key)
        .env("ENCRYPTION_KEY_PREVIOUS", old_key);
    let out = rotate.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("re-encrypted 3 secret(s)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let token =
        query_text(&app, "SELECT value_encrypted FROM workflow_secrets WHERE name = 'API_TOKEN'").await;
    let current = calseta_services::platform::crypto::EncryptionKey::parse(new_key).unwrap();
    assert_eq!(
        current.decrypt(&token).as_deref(),
        Some(b"wf-secret".as_slice()),
        "the workflow secret is under the new key"
    );
    let worker = start_worker_with(&app, &[("ENCRYPTION_KEY", new_key)]).await;
    let (status, _) = app.post(&trigger, &app.admin_key, json!({})).await;
    assert_eq!(status, 202);
    let delivered = runs(3).await;
    assert_eq!(delivered["data"][0]["status"], "success", "{delivered}");
    let requests = listener.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.headers.get("x-agent-token").unwrap(), "agent-token-1");
        assert!(request.headers.get("webhook-signature").is_some());
    }
    worker.shutdown().await;
}

#[tokio::test]
async fn a_trigger_filter_on_the_detection_rule_name_selects_only_that_rules_alerts() {
    let listener = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&listener)
        .await;
    let app = spawn_app_reaching_loopback().await;
    for (name, id) in [("Okta - Impossible Travel", "OK-1"), ("Azure - Risky sign-in", "AZ-1")] {
        let (status, rule) = app
            .post(
                "/v1/detection-rules",
                &app.admin_key,
                json!({"name": name, "source_name": "generic", "source_rule_id": id}),
            )
            .await;
        assert_eq!(status, 201, "{rule}");
    }
    // An operator the field does not take is refused, as for a context document.
    let (status, refused) = app
        .post(
            "/v1/agents",
            &app.admin_key,
            json!({"name": "x", "endpoint_url": listener.uri(),
                   "trigger_filter": {"match_any": [{"field": "detection_rule", "op": "lte", "value": "Okta"}]}}),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("match_any[0].op must be one of eq, in, contains for field detection_rule"),
        "{refused}"
    );
    register(
        &app,
        json!({"name": "okta-bot", "endpoint_url": listener.uri(), "retry_count": 0,
               "trigger_filter": {"match_all": [{"field": "detection_rule", "op": "contains", "value": "okta"}]}}),
    )
    .await;

    // The deliveries are decided when enrichment completes, so once the three are enriched only
    // the Okta alert's delivery exists.
    let mut uuids = Vec::new();
    for body in [
        json!({"title": "Risky", "rule_id": "AZ-1", "src_ip": "203.0.113.80"}),
        json!({"title": "Okta in the title only", "src_ip": "203.0.113.81"}),
        json!({"title": "Travel", "rule_id": "OK-1", "src_ip": "203.0.113.82"}),
    ] {
        let detail = ingest_and_wait(&app, "generic", &body.to_string()).await;
        uuids.push(detail["data"]["uuid"].as_str().unwrap().to_string());
    }
    let (azure, ruleless, okta) = (&uuids[0], &uuids[1], &uuids[2]);
    let requests = received(&listener, 1).await;
    let payload: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(payload["alert"]["uuid"].as_str(), Some(okta.as_str()));

    // A manual trigger evaluates the same filter (with the rule's name read for it).
    for (alert, expected) in [(okta, json!(["okta-bot"])), (azure, json!([])), (ruleless, json!([]))] {
        let (status, triggered) =
            app.post(&format!("/v1/alerts/{alert}/trigger-agents"), &app.admin_key, json!({})).await;
        assert_eq!(status, 202, "{triggered}");
        assert_eq!(triggered["data"]["agent_names"], expected, "{alert}");
    }
    let requests = received(&listener, 2).await;
    for request in &requests {
        let payload: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(payload["alert"]["uuid"].as_str(), Some(okta.as_str()), "only the Okta rule's alert");
    }
}
