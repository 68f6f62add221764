//! The alert page's response sections over plain HTTP: the relationship graph (the alert, its
//! indicators and a second alert sharing one, linked, with attacker-written labels escaped), the
//! agent payload page (both profiles with their cl100k token counts, equal to the REST payload's),
//! the deliveries after a dispatch to a loopback agent, and the dispatch and run-a-workflow forms
//! (a run, and an approval request for a gated workflow) — refused for a read-only key.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::console::{contains_escaped, event_handler_attributes, signed_in};
use crate::helpers::*;
use crate::ingest::ingest_and_wait;

/// Ingests a generic alert and waits for its enrichment; its uuid.
async fn alert(app: &TestApp, payload: Value) -> String {
    let detail = ingest_and_wait(app, "generic", &payload.to_string()).await;
    detail["data"]["uuid"].as_str().unwrap().to_string()
}

/// Adds an indicator to an alert without enriching it.
async fn add_indicator(app: &TestApp, alert: &str, kind: &str, value: &str) {
    let body = json!({"indicators": [{"type": kind, "value": value}]});
    let (status, added) =
        app.post(&format!("/v1/alerts/{alert}/indicators?enrich=false"), &app.admin_key, body).await;
    assert_eq!(status, 201, "{added}");
}

/// cl100k tokens of a payload as sent (compact JSON), as `it/payload.rs` counts them.
fn tokens(value: &Value) -> usize {
    tiktoken_rs::cl100k_base().unwrap().encode_with_special_tokens(&value.to_string()).len()
}

/// Sets every `key` in `value` to `to`.
fn set_all(value: &mut Value, key: &str, to: &str) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == key {
                    *v = Value::String(to.to_string());
                } else {
                    set_all(v, key, to);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| set_all(v, key, to)),
        _ => {}
    }
}

/// The text between `start` and the next `end` in `html`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("no {start} in {html}")) + start.len();
    let rest = &html[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[tokio::test]
async fn console_response_graph_shows_the_alert_its_indicators_and_linked_alerts_escaped() {
    let app = spawn_app().await;
    let centre = alert(&app, json!({"title": "Graph centre", "src_ip": "93.184.216.34"})).await;
    let other = alert(&app, json!({"title": "<script>alert(1)</script>", "src_ip": "93.184.216.34"})).await;
    add_indicator(&app, &centre, "account", "<script>evil()</script>@example.com").await;

    let mut browser = signed_in(&app, &["alerts:read"]).await;
    let page = browser.get(&format!("/alerts/{centre}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    let svg = between(body, "<svg class=\"alert-graph\"", "</svg>");
    assert!(svg.contains("<title>This alert: Graph centre"), "{svg}");
    assert!(svg.contains("93.184.216.34"), "the shared indicator is drawn: {svg}");
    assert!(
        contains_escaped(svg, "account: <script>evil()</script>@example.com"),
        "indicator tooltip escaped: {svg}"
    );
    assert!(svg.contains(&format!("<a href=\"/alerts/{other}\" class=\"graph-link\">")), "{svg}");
    assert!(contains_escaped(svg, "<script>alert(1)</script>"), "the other alert's title, escaped: {svg}");
    assert!(!body.contains("<script>alert(1)") && !body.contains("<script>evil"), "{body}");
    assert!(!svg.contains("style="), "colours come from classes: {svg}");
    assert!(event_handler_attributes(body).is_empty());
    // The other alert's graph links back.
    let back = browser.get(&format!("/alerts/{other}")).await;
    assert!(
        back.body.contains(&format!("<a href=\"/alerts/{centre}\" class=\"graph-link\">")),
        "{}",
        back.body
    );
}

#[tokio::test]
async fn console_response_payload_page_counts_tokens_of_both_profiles_as_rest_serves_them() {
    let app = spawn_app().await;
    let uuid =
        alert(&app, json!({"title": "Payload <tokens>", "src_ip": "93.184.216.34", "user": "ada"})).await;
    let mut browser = signed_in(&app, &["alerts:read"]).await;
    let detail = browser.get(&format!("/alerts/{uuid}")).await;
    assert!(detail.body.contains(&format!("href=\"/alerts/{uuid}/payload\"")), "{}", detail.body);

    let started = std::time::Instant::now();
    let page = browser.get(&format!("/alerts/{uuid}/payload")).await;
    // The cost, printed (`-- --nocapture`): the first load also builds the tokenizer.
    let first = started.elapsed().as_millis();
    let started = std::time::Instant::now();
    let again = browser.get(&format!("/alerts/{uuid}/payload")).await;
    println!(
        "payload page: first {first} ms, again {} ms (counting {})",
        started.elapsed().as_millis(),
        between(&again.body, "counted in ", ")")
    );
    assert_eq!(page.status, 200, "{}", page.body);
    let (_, mut full) = app.get(&format!("/v1/alerts/{uuid}/payload"), &app.admin_key).await;
    let (_, compact) = app.get(&format!("/v1/alerts/{uuid}/payload?profile=compact"), &app.admin_key).await;
    // The full payload says when it was built: the page's build time stands in for REST's.
    let full_section = between(&page.body, "id=\"payload-full\"", "</section>");
    let generated = between(full_section, "generated_at&#34;: &#34;", "&#34;");
    set_all(&mut full, "generated_at", generated);
    for (name, value) in [("full", &full), ("compact", &compact)] {
        let shown = between(&page.body, &format!("data-profile=\"{name}\">"), "<");
        assert_eq!(shown, tokens(value).to_string(), "{name} profile's token count");
    }
    assert!(contains_escaped(full_section, "Payload <tokens>"), "{full_section}");
    assert!(page.body.contains("compact profile"), "{}", page.body);
    assert!(!page.body.contains("Payload <tokens>"));
}

/// An agent on loopback answering 200, and an app that may deliver to it.
async fn app_with_agent() -> (TestApp, MockServer, String) {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let app = spawn_app_reaching_loopback().await;
    // Triggered by another source only: nothing reaches it unless dispatched.
    let (status, agent) = app
        .post(
            "/v1/agents",
            &app.admin_key,
            json!({"name": "Triage <bot>", "endpoint_url": server.uri(), "trigger_on_sources": ["elastic"]}),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    (app, server, agent["data"]["uuid"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn console_response_dispatch_lists_the_delivery_and_is_refused_without_agents_write() {
    let (app, server, agent) = app_with_agent().await;
    let uuid = alert(&app, json!({"title": "Dispatch me", "src_ip": "93.184.216.34"})).await;
    let dispatch = format!("/alerts/{uuid}/dispatch");

    // A read-only key is not offered the form, and a forged post is refused.
    let mut reader = signed_in(&app, &["alerts:read", "agents:read"]).await;
    let page = reader.get(&format!("/alerts/{uuid}")).await;
    assert!(!page.body.contains(&format!("action=\"{dispatch}\"")), "{}", page.body);
    let token = page.csrf_token();
    let refused = reader.post(&dispatch, &[("csrf_token", &token), ("agent_uuid", &agent)]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM jobs WHERE kind = 'dispatch_alert'").await, 0);

    let mut writer = signed_in(&app, &["alerts:read", "agents:read", "agents:write"]).await;
    let page = writer.get(&format!("/alerts/{uuid}")).await;
    assert!(page.body.contains(&format!("action=\"{dispatch}\"")), "{}", page.body);
    assert!(
        page.body.contains(&format!("<option value=\"{agent}\">Triage &#60;bot&#62;</option>")),
        "{}",
        page.body
    );
    assert!(page.body.contains("This alert has not been delivered to any agent yet."));
    let token = page.csrf_token();
    let sent = writer.post(&dispatch, &[("csrf_token", &token), ("agent_uuid", &agent)]).await;
    assert_eq!((sent.status, sent.location()), (303, format!("/alerts/{uuid}#deliveries").as_str()));

    eventually("the delivery recorded", Duration::from_secs(30), || async {
        (query_i64(&app, "SELECT COUNT(*) FROM agent_runs").await > 0).then_some(())
    })
    .await;
    let delivered = writer.get(&format!("/alerts/{uuid}")).await.body;
    assert!(delivered.contains("delivery-success"), "{delivered}");
    let table = between(&delivered, "<table class=\"deliveries\">", "</table>");
    assert!(table.contains("Triage &#60;bot&#62;"), "{table}");
    assert!(table.contains("HTTP 200"), "{table}");
    assert!(table.contains(" ms</td>"), "latency: {table}");
    assert!(table.contains("<td>1</td>"), "first attempt: {table}");
    let received = server.received_requests().await.unwrap_or_default();
    let id = received[0].headers.get("webhook-id").unwrap().to_str().unwrap().to_string();
    assert!(table.contains(&id), "the delivery id agents saw: {table}");
}

#[tokio::test]
async fn console_response_pending_retries_show_their_next_attempt() {
    let (app, _server, agent) = app_with_agent().await;
    let uuid = alert(&app, json!({"title": "Retry me", "src_ip": "93.184.216.34"})).await;
    // A delivery waiting for its second attempt, as the queue holds it.
    let payload = json!({"alert_uuid": uuid, "agent_uuid": agent, "delivery_id": "msg_pending1", "body": {}});
    let next: chrono::DateTime<chrono::Utc> = "2099-01-01T00:00:00Z".parse().unwrap();
    let created = chrono::Utc::now();
    exec_sql_times(
        &app,
        &format!(
            "INSERT INTO jobs (uuid, kind, queue, payload, status, attempts, max_attempts, run_at, last_error, created_at, updated_at) \
             VALUES ({}, 'deliver_webhook', 'dispatch', '{payload}', 'queued', 1, 4, $1, 'HTTP 503', $2, $2)",
            crate::respond::uuid_literal(&app, "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
        ),
        &[Some(next), Some(created)],
    )
    .await;
    let mut browser = signed_in(&app, &["alerts:read", "agents:read"]).await;
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    let table = between(&page.body, "<table class=\"deliveries-pending\">", "</table>");
    assert!(table.contains("Triage &#60;bot&#62;") && table.contains("msg_pending1"), "{table}");
    assert!(
        table.contains("1 of 4") && table.contains("2099-01-01") && table.contains("HTTP 503"),
        "{table}"
    );
}

#[tokio::test]
async fn console_response_runs_a_workflow_or_asks_for_approval_and_refuses_a_read_only_key() {
    let app = spawn_app().await;
    let uuid = crate::respond::alert_with_account(&app, "eve@example.com").await;
    let code = "from app.workflows.context import WorkflowResult\n\nasync def run(ctx):\n    return WorkflowResult.ok('ran')\n";
    let mut workflows = Vec::new();
    for (name, mode) in [("Ungated", "never"), ("Gated", "always")] {
        let body = json!({"name": name, "code": code, "state": "active", "approval_mode": mode});
        let (status, created) = app.post("/v1/workflows", &app.admin_key, body).await;
        assert_eq!(status, 201, "{created}");
        workflows.push(created["data"]["uuid"].as_str().unwrap().to_string());
    }
    let (_, payload) = app.get(&format!("/v1/alerts/{uuid}/payload"), &app.admin_key).await;
    let indicator = payload["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["value"] == "eve@example.com")
        .unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let action = format!("/alerts/{uuid}/workflows");
    let count =
        "SELECT (SELECT COUNT(*) FROM workflow_runs) + (SELECT COUNT(*) FROM workflow_approval_requests)";

    let mut reader = signed_in(&app, &["alerts:read", "workflows:read"]).await;
    let page = reader.get(&format!("/alerts/{uuid}")).await;
    assert!(!page.body.contains(&format!("action=\"{action}\"")), "{}", page.body);
    let token = page.csrf_token();
    let fields =
        [("csrf_token", token.as_str()), ("workflow_uuid", &workflows[0]), ("indicator_uuid", &indicator)];
    let refused = reader.post(&action, &fields).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(query_i64(&app, count).await, 0);

    let mut responder = signed_in(&app, &["alerts:read", "workflows:execute"]).await;
    let page = responder.get(&format!("/alerts/{uuid}")).await;
    assert!(page.body.contains(&format!("action=\"{action}\"")), "{}", page.body);
    assert!(page.body.contains(&format!("<option value=\"{indicator}\">account: eve@example.com</option>")));
    let token = page.csrf_token();

    let fields =
        [("csrf_token", token.as_str()), ("workflow_uuid", &workflows[0]), ("indicator_uuid", &indicator)];
    let ran = responder.post(&action, &fields).await;
    assert_eq!(ran.status, 303, "{}", ran.body);
    let outcome = responder.get(ran.location()).await;
    assert_eq!(outcome.status, 200, "{}", outcome.body);
    let run = between(&outcome.body, "<dt>Run</dt><dd><code>", "<");
    let (status, runs) = app.get(&format!("/v1/workflows/{}/runs", workflows[0]), &app.admin_key).await;
    assert_eq!(status, 200, "{runs}");
    let rest = runs["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["uuid"] == run)
        .unwrap_or_else(|| panic!("{runs}"));
    assert_eq!(rest["trigger_context"]["alert_uuid"], uuid.as_str(), "{rest}");
    assert_eq!(rest["trigger_context"]["indicator_value"], "eve@example.com", "{rest}");
    assert!(outcome.body.contains("<h2 id=\"outcome-title\">Ungated</h2>"), "{}", outcome.body);
    assert!(outcome.body.contains("<dd class=\"run-status\">"), "{}", outcome.body);

    let fields = [
        ("csrf_token", token.as_str()),
        ("workflow_uuid", &workflows[1]),
        ("indicator_uuid", &indicator),
        ("reason", "Contain <eve>"),
    ];
    let gated = responder.post(&action, &fields).await;
    assert_eq!(gated.status, 303, "{}", gated.body);
    assert!(gated.location().contains("approval="), "{}", gated.location());
    let outcome = responder.get(gated.location()).await;
    assert!(outcome.body.contains("<dd class=\"approval-status\">pending</dd>"), "{}", outcome.body);
    assert!(contains_escaped(&outcome.body, "Contain <eve>"), "{}", outcome.body);
    let approval = between(&outcome.body, "<dt>Approval request</dt><dd><code>", "<");
    let (_, rest) = app.get(&format!("/v1/workflow-approvals/{approval}"), &app.admin_key).await;
    assert_eq!(rest["data"]["status"], "pending", "{rest}");
    assert_eq!(query_i64(&app, count).await, 2, "one run and one approval request");
}
