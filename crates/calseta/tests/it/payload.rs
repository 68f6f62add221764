//! The compact payload profile against the sandbox's five case-study alerts: every fact of the
//! full payload is still there (titles, indicator values and verdicts, extracted enrichment
//! fields, rule name, document titles and content, past alerts with classification and notes),
//! and each compact payload fits in 3,000 cl100k tokens (printed: `cargo test -p calseta --test it
//! payload -- --nocapture`).

use serde_json::Value;

const READ_KEY: &str = "cai_sandbox_demo_key_not_for_production";
/// The token budget of one compact payload (issue 13).
const BUDGET: usize = 3_000;

fn tokens(value: &Value) -> usize {
    let bpe = tiktoken_rs::cl100k_base().unwrap();
    bpe.encode_with_special_tokens(&value.to_string()).len()
}

/// Every string and number of a value, as text.
fn leaves(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(b) => out.push(b.to_string()),
        Value::Array(items) => items.iter().for_each(|v| leaves(v, out)),
        Value::Object(map) => map.values().for_each(|v| leaves(v, out)),
        Value::Null => {}
    }
}

fn assert_present(compact: &str, fact: &str, what: &str) {
    // The fact as it appears inside a JSON string (escaped), without the quotes.
    let quoted = serde_json::to_string(fact).unwrap();
    assert!(compact.contains(&quoted[1..quoted.len() - 1]), "{what} '{fact}' is missing");
}

#[tokio::test]
async fn compact_payloads_keep_every_fact_within_the_token_budget() {
    let app = crate::sandbox::sandbox_app().await;
    let alerts = crate::sandbox::enriched_alerts(&app).await;
    for alert in alerts {
        let uuid = alert["uuid"].as_str().unwrap();
        let (status, full) = app.get(&format!("/v1/alerts/{uuid}/payload"), READ_KEY).await;
        assert_eq!(status, 200, "{full}");
        let (_, compact) = app.get(&format!("/v1/alerts/{uuid}/payload?profile=compact"), READ_KEY).await;
        let (full_tokens, compact_tokens) = (tokens(&full), tokens(&compact));
        println!("{}: full {full_tokens} tokens, compact {compact_tokens} tokens", full["alert"]["title"]);
        assert!(compact_tokens <= BUDGET, "{}: {compact_tokens} tokens > {BUDGET}", full["alert"]["title"]);
        assert!(compact_tokens < full_tokens);
        let text = compact.to_string();
        assert_present(&text, full["alert"]["title"].as_str().unwrap(), "title");
        for indicator in full["indicators"].as_array().unwrap() {
            let value = indicator["value"].as_str().unwrap();
            let kept = compact["indicators"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["value"] == value && i["type"] == indicator["type"]);
            let kept = kept.unwrap_or_else(|| panic!("indicator {value} is missing"));
            assert_eq!(kept["malice"], indicator["malice"], "{value}'s verdict");
            assert_eq!(kept["uuid"], indicator["uuid"], "{value}'s id");
            for (provider, result) in indicator["enrichment_results"].as_object().into_iter().flatten() {
                if result["status"] == "success" {
                    assert_eq!(
                        kept["enrichment"][provider], result["extracted"],
                        "{value}: {provider}'s fields"
                    );
                }
            }
        }
        if let Some(name) = full["detection_rule"]["name"].as_str() {
            assert_eq!(compact["detection_rule"]["name"], name);
            assert_eq!(compact["detection_rule"]["documentation"], full["detection_rule"]["documentation"]);
        }
        for document in full["context_documents"].as_array().unwrap() {
            let kept = compact["context_documents"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["title"] == document["title"]);
            assert_eq!(
                kept.map(|d| &d["content"]),
                Some(&document["content"]),
                "document {}",
                document["title"]
            );
        }
        for past in full["past_alerts"].as_array().unwrap() {
            let mut facts = Vec::new();
            leaves(&past["close_classification"], &mut facts);
            leaves(&past["analyst_notes"], &mut facts);
            leaves(&past["title"], &mut facts);
            for fact in facts {
                assert_present(&text, &fact, "past alert fact");
            }
        }
        // Only the workflows that act on the alert's indicator types, each with its uuid.
        let kinds: Vec<&str> =
            full["indicators"].as_array().unwrap().iter().filter_map(|i| i["type"].as_str()).collect();
        for workflow in compact["workflows"].as_array().into_iter().flatten() {
            assert!(workflow["uuid"].is_string() && workflow["summary"].is_string());
            let types: Vec<&str> = workflow["indicator_types"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            assert!(types.is_empty() || types.iter().any(|t| kinds.contains(t)), "{workflow}");
        }
    }
    let (status, body) =
        app.get("/v1/alerts/00000000-0000-0000-0000-000000000000/payload?profile=tiny", READ_KEY).await;
    assert_eq!(status, 422, "{body}");
}

/// An agent endpoint on loopback that accepts every POST.
async fn accepting_receiver() -> wiremock::MockServer {
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    receiver
}

#[tokio::test]
async fn each_agent_receives_the_profile_it_registered_for() {
    let receiver = accepting_receiver().await;
    let app = crate::helpers::spawn_app_with(crate::helpers::AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into())],
        ..crate::helpers::AppOptions::default()
    })
    .await;
    for (name, profile) in
        [("full-agent", serde_json::json!(null)), ("compact-agent", serde_json::json!("compact"))]
    {
        let (status, body) = app
            .post(
                "/v1/agents",
                &app.admin_key,
                serde_json::json!({"name": name,
                "endpoint_url": format!("{}/{name}", receiver.uri()), "payload_profile": profile}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let expected = if profile.is_null() { "full" } else { "compact" };
        assert_eq!(body["data"]["payload_profile"], expected);
    }
    let (status, body) = app
        .post(
            "/v1/agents",
            &app.admin_key,
            serde_json::json!({"name": "x", "endpoint_url": format!("{}/x", receiver.uri()),
            "payload_profile": "tiny"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    crate::ingest::ingest_and_wait(
        &app,
        "generic",
        r#"{"title": "Beacon", "severity": "High", "src_ip": "10.1.2.3"}"#,
    )
    .await;
    let received = crate::helpers::eventually(
        "both agents receive the alert",
        std::time::Duration::from_secs(20),
        || async {
            let requests = receiver.received_requests().await.unwrap();
            (requests.len() >= 2).then_some(requests)
        },
    )
    .await;
    let body_at = |path: &str| -> Value {
        let request = received.iter().find(|r| r.url.path() == path).unwrap();
        serde_json::from_slice(&request.body).unwrap()
    };
    let (full, compact) = (body_at("/full-agent"), body_at("/compact-agent"));
    assert!(full.get("profile").is_none() && full["alert"]["_metadata"].is_object(), "{full}");
    assert_eq!(compact["profile"], "compact");
    assert_eq!(compact["alert"]["title"], "Beacon");
    assert!(compact.to_string().len() < full.to_string().len());
}

/// The delivered payload shows an alert's indicators and past alerts as its enrichment run left
/// them, though it was built before that run's transaction linked them: one indicator another
/// alert already has (so a past alert), two new to Calseta, one found twice.
#[tokio::test]
async fn the_delivered_payload_shows_the_indicators_its_run_linked_as_they_are_stored() {
    let receiver = accepting_receiver().await;
    let app = crate::helpers::spawn_app_with(crate::helpers::AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()), ("ENRICHMENT_MOCK_MODE", "true".into())],
        ..crate::helpers::AppOptions::default()
    })
    .await;
    let earlier = crate::ingest::ingest_generic(
        &app,
        serde_json::json!({"title": "Earlier beacon", "src_ip": "185.220.101.47"}),
    )
    .await;
    let (status, body) = app
        .post(
            "/v1/agents",
            &app.admin_key,
            serde_json::json!({"name": "reader", "endpoint_url": format!("{}/reader", receiver.uri())}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let alert = crate::ingest::ingest_generic(
        &app,
        serde_json::json!({"title": "Later beacon", "src_ip": "185.220.101.47", "dst_ip": "198.51.100.23",
            "domain": "c2.example.net", "description": "callback to 198.51.100.23"}),
    )
    .await;
    let delivered: Value = crate::helpers::eventually(
        "the agent receives the alert",
        std::time::Duration::from_secs(20),
        || async {
            let requests = receiver.received_requests().await.unwrap();
            requests.first().map(|r| serde_json::from_slice(&r.body).unwrap())
        },
    )
    .await;
    assert_eq!(delivered["alert"]["uuid"], alert.as_str());
    let (status, now) = app.get(&format!("/v1/alerts/{alert}/payload"), &app.admin_key).await;
    assert_eq!(status, 200, "{now}");
    let values: Vec<&str> =
        delivered["indicators"].as_array().unwrap().iter().filter_map(|i| i["value"].as_str()).collect();
    assert!(
        ["185.220.101.47", "198.51.100.23", "c2.example.net"].iter().all(|v| values.contains(v)),
        "{values:?}"
    );
    assert_eq!(delivered["indicators"], now["indicators"], "the indicators as stored");
    assert_eq!(delivered["past_alerts"], now["past_alerts"], "the past alerts as stored");
    assert!(delivered["past_alerts"].to_string().contains(&earlier), "{}", delivered["past_alerts"]);
}
