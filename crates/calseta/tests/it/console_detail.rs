//! The console's alert detail page `/alerts/{uuid}` over plain HTTP: what it shows of an enriched
//! alert, that an attacker-written alert renders escaped, the actions (close with a
//! classification, status and severity, add a finding, re-enrich) and their refusals (a read-only
//! key, a missing CSRF token), and the 404 page for unknown and malformed ids.

use serde_json::{Value, json};

use crate::console::{Browser, analyst, contains_escaped, event_handler_attributes, signed_in};
use crate::helpers::*;

use crate::ingest::ingest_generic as ingest;

/// Stores provider results on the indicator `value` (as enrichment would) with `malice`.
async fn store_results(app: &TestApp, value: &str, malice: &str, results: Value) {
    exec_sql(
        app,
        &format!(
            "UPDATE indicators SET enrichment_results = '{results}', malice = '{malice}', is_enriched = TRUE \
             WHERE value = '{value}'"
        ),
    )
    .await;
}

#[tokio::test]
async fn console_detail_shows_an_enriched_alerts_indicators_verdicts_and_raw_payload() {
    let app = spawn_app().await;
    let uuid = ingest(
        &app,
        json!({"title": "Tor exit login", "severity": "high", "src_ip": "185.220.101.47", "user": "nick.hathaway", "rule_id": "R-42"}),
    )
    .await;
    let results = json!({
        "virustotal": {"provider_name": "virustotal", "status": "success", "success": true,
            "extracted": {"malicious_count": 12, "country": "DE"}, "raw": {"reputation_score": -42}, "enriched_at": null, "cache_hit": true},
        "abuseipdb": {"provider_name": "abuseipdb", "status": "failed", "success": false,
            "extracted": null, "raw": null, "enriched_at": null, "error_message": "upstream timed out", "cache_hit": false}
    });
    store_results(&app, "185.220.101.47", "Malicious", results).await;

    let mut browser = Browser::new(&app);
    browser.sign_in(&analyst(&app).await).await;
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    assert!(body.contains("<h1 id=\"alert-title\">Tor exit login</h1>"), "{body}");
    for text in [
        "Severity: High",
        "Status: Open",
        "Malice: Malicious",
        "generic",
        "185.220.101.47",
        "nick.hathaway",
        "virustotal",
        "malicious_count",
        "<dd>12</dd>",
        "abuseipdb",
        "upstream timed out",
        "<td>hit</td>",
        "R-42",
        "id=\"indicators\"",
        "id=\"findings\"",
        "id=\"context\"",
        "id=\"past-alerts\"",
        "id=\"activity\"",
        "id=\"raw\"",
        "<time datetime=",
        "Raw response",
        "reputation_score",
    ] {
        assert!(body.contains(text), "{text} in the page");
    }
    // The raw payload, pretty-printed inside a collapsible.
    assert!(body.contains("<details>"), "{body}");
    assert!(
        body.contains("&#34;src_ip&#34;: &#34;185.220.101.47&#34;")
            || body.contains("&quot;src_ip&quot;: &quot;185.220.101.47&quot;"),
        "{body}"
    );
    // The analyst may act: the forms are there, each with the CSRF token.
    for action in ["/update", "/close", "/enrich", "/findings"] {
        assert!(body.contains(&format!("action=\"/alerts/{uuid}{action}\"")), "{action} form");
    }
    assert!(event_handler_attributes(body).is_empty());
    // The activity timeline shows the ingest.
    assert!(body.contains("class=\"timeline\""), "{body}");
}

#[tokio::test]
async fn console_detail_renders_a_hostile_alert_escaped() {
    let app = spawn_app().await;
    let uuid = ingest(
        &app,
        json!({"title": "<script>alert(1)</script>", "description": "</pre><script>alert(2)</script>",
               "src_ip": "198.51.100.7", "note": "</pre><script>alert(3)</script>"}),
    )
    .await;
    let results = json!({"evil": {"provider_name": "evil", "status": "success", "success": true,
        "extracted": {"<img src=x onerror=alert(1)>": "<img src=x onerror=alert(1)>"}, "raw": {"x": "</pre><script>alert(4)</script>"}, "enriched_at": null, "cache_hit": false}});
    store_results(&app, "198.51.100.7", "Suspicious", results).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&analyst(&app).await).await;
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    for raw in ["<script>alert(", "<img src=x", "</pre><script>"] {
        assert!(!body.contains(raw), "{raw} unescaped in {body}");
    }
    assert!(contains_escaped(body, "<script>alert(1)</script>"), "{body}");
    assert!(contains_escaped(body, "<img src=x onerror=alert(1)>"), "{body}");
    assert!(contains_escaped(body, "</pre><script>alert(3)</script>"), "{body}");
    assert!(contains_escaped(body, "</pre><script>alert(4)</script>"), "the provider's raw response: {body}");
    // ` onerror=` appears only as text inside escaped markup, never in a tag.
    assert!(!body.contains("<img"), "{body}");
    assert!(body.contains("Malice: Suspicious"));
}

#[tokio::test]
async fn console_detail_offers_no_actions_to_a_read_only_key_and_refuses_its_forged_posts() {
    let app = spawn_app().await;
    let uuid = ingest(&app, json!({"title": "read only", "severity": "low", "src_ip": "203.0.113.9"})).await;
    let mut browser = signed_in(&app, &["alerts:read"]).await;
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for action in ["/update", "/close", "/enrich", "/findings"] {
        assert!(!page.body.contains(&format!("action=\"/alerts/{uuid}{action}\"")), "{action} offered");
    }
    let token = page.csrf_token();
    let forged: [(&str, Vec<(&str, &str)>); 4] = [
        ("close", vec![("classification", "Duplicate"), ("notes", "forged")]),
        ("update", vec![("status", "Escalated"), ("severity", "Critical")]),
        ("findings", vec![("summary", "forged finding")]),
        ("enrich", vec![]),
    ];
    let (_, before) = app.get(&format!("/v1/alerts/{uuid}/activity"), &app.admin_key).await;
    for (action, fields) in forged {
        let mut fields = fields;
        fields.push(("csrf_token", &token));
        let page = browser.post(&format!("/alerts/{uuid}/{action}"), &fields).await;
        assert_eq!(page.status, 403, "{action}: {}", page.body);
    }
    let (_, alert) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
    assert_eq!(alert["data"]["status"], "Open");
    assert_eq!(alert["data"]["severity"], "Low");
    let (_, findings) = app.get(&format!("/v1/alerts/{uuid}/findings"), &app.admin_key).await;
    assert_eq!(findings["data"], json!([]));
    let (_, after) = app.get(&format!("/v1/alerts/{uuid}/activity"), &app.admin_key).await;
    assert_eq!(before["meta"]["total"], after["meta"]["total"], "no activity recorded");
}

#[tokio::test]
async fn console_detail_closes_with_a_classification_and_shows_the_activity() {
    let app = spawn_app().await;
    let uuid =
        ingest(&app, json!({"title": "to close", "severity": "medium", "src_ip": "203.0.113.10"})).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&analyst(&app).await).await;
    let token = browser.get(&format!("/alerts/{uuid}")).await.csrf_token();

    // Status and severity first.
    let page = browser
        .post(
            &format!("/alerts/{uuid}/update"),
            &[("csrf_token", &token), ("status", "Triaging"), ("severity", "High")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), format!("/alerts/{uuid}#actions"));
    let (_, alert) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
    assert_eq!(alert["data"]["status"], "Triaging");
    assert_eq!(alert["data"]["severity"], "High");

    // Closing without a classification is refused and changes nothing.
    let page = browser
        .post(&format!("/alerts/{uuid}/close"), &[("csrf_token", &token), ("classification", "")])
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    let page = browser
        .post(&format!("/alerts/{uuid}/close"), &[("csrf_token", &token), ("classification", "Nonsense")])
        .await;
    assert_eq!(page.status, 400, "{}", page.body);

    let page = browser
        .post(
            &format!("/alerts/{uuid}/close"),
            &[
                ("csrf_token", &token),
                ("classification", "Benign Positive - Suspicious but Expected"),
                ("notes", "Known scanner <b>ok</b>"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let (_, alert) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
    assert_eq!(alert["data"]["status"], "Closed");
    assert_eq!(alert["data"]["close_classification"], "Benign Positive - Suspicious but Expected");
    assert_eq!(alert["data"]["close_notes"], "Known scanner <b>ok</b>");

    let page = browser.get(&format!("/alerts/{uuid}")).await;
    assert!(page.body.contains("Status: Closed"), "{}", page.body);
    assert!(page.body.contains("Benign Positive - Suspicious but Expected"));
    assert!(contains_escaped(&page.body, "Known scanner <b>ok</b>"), "{}", page.body);
    for event in ["alert_closed", "alert_status_updated", "alert_severity_updated"] {
        assert!(page.body.contains(&format!("<strong class=\"event-type\">{event}</strong>")), "{event}");
    }
}

#[tokio::test]
async fn console_detail_adds_a_finding_and_re_enriches() {
    let app = spawn_app().await;
    let uuid = ingest(&app, json!({"title": "finding", "src_ip": "203.0.113.11"})).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&analyst(&app).await).await;
    let token = browser.get(&format!("/alerts/{uuid}")).await.csrf_token();
    let page = browser
        .post(
            &format!("/alerts/{uuid}/findings"),
            &[
                ("csrf_token", &token),
                ("summary", "Seen from <i>three</i> hosts"),
                ("confidence", "high"),
                ("recommended_action", "Block it"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), format!("/alerts/{uuid}#findings"));
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    assert!(contains_escaped(&page.body, "Seen from <i>three</i> hosts"), "{}", page.body);
    assert!(page.body.contains("confidence: high"));
    assert!(page.body.contains("Recommended: Block it"));
    assert!(page.body.contains("alert_finding_added"));
    let (_, findings) = app.get(&format!("/v1/alerts/{uuid}/findings"), &app.admin_key).await;
    assert_eq!(findings["data"][0]["summary"], "Seen from <i>three</i> hosts");

    // An empty finding is a 400 page, not a 500.
    let page =
        browser.post(&format!("/alerts/{uuid}/findings"), &[("csrf_token", &token), ("summary", " ")]).await;
    assert_eq!(page.status, 400, "{}", page.body);

    let page = browser.post(&format!("/alerts/{uuid}/enrich"), &[("csrf_token", &token)]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), format!("/alerts/{uuid}#indicators"));
}

#[tokio::test]
async fn console_detail_posts_without_the_csrf_token_are_refused() {
    let app = spawn_app().await;
    let uuid = ingest(&app, json!({"title": "csrf", "severity": "low", "src_ip": "203.0.113.12"})).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&analyst(&app).await).await;
    for (action, fields) in [
        ("close", vec![("classification", "Duplicate")]),
        ("update", vec![("severity", "Critical")]),
        ("findings", vec![("summary", "no token")]),
        ("enrich", vec![]),
    ] {
        let page = browser.post(&format!("/alerts/{uuid}/{action}"), &fields).await;
        assert_eq!(page.status, 403, "{action}");
        let mut forged = fields.clone();
        forged.push(("csrf_token", "0123456789abcdef"));
        let page = browser.post(&format!("/alerts/{uuid}/{action}"), &forged).await;
        assert_eq!(page.status, 403, "{action} with a wrong token");
    }
    let (_, alert) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
    assert_eq!(alert["data"]["status"], "Open");
    assert_eq!(alert["data"]["severity"], "Low");
    let (_, findings) = app.get(&format!("/v1/alerts/{uuid}/findings"), &app.admin_key).await;
    assert_eq!(findings["data"], json!([]));
}

#[tokio::test]
async fn console_detail_unknown_and_malformed_ids_answer_the_404_page() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&analyst(&app).await).await;
    for path in [
        "/alerts/00000000-0000-4000-8000-000000000000".to_string(),
        "/alerts/not-a-uuid".to_string(),
        "/alerts/%3Cscript%3E".to_string(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
        assert!(page.body.contains("<!doctype html>"), "an HTML page for {path}");
        assert!(page.body.contains("Not found"), "{}", page.body);
        assert!(!page.body.contains("<script>"));
    }
    let token = browser.get("/").await.csrf_token();
    let page = browser
        .post(
            "/alerts/00000000-0000-4000-8000-000000000000/close",
            &[("csrf_token", &token), ("classification", "Duplicate")],
        )
        .await;
    assert_eq!(page.status, 404, "{}", page.body);
}

#[tokio::test]
async fn console_detail_shows_context_documents_and_past_alerts_as_text() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/v1/context-documents",
            &app.admin_key,
            json!({"title": "IR <b>Plan</b>", "document_type": "ir_plan", "is_global": true,
                   "content": "# Steps\n<script>alert(5)</script>\n1. Call the IR lead."}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let targeted = json!({"title": "High generic runbook", "document_type": "runbook", "is_global": false,
        "content": "Escalate.",
        "targeting_rules": {"match_any": [{"field": "source_name", "op": "eq", "value": "elastic"},
                                          {"field": "severity", "op": "gte", "value": "High"}],
                            "match_all": [{"field": "source_name", "op": "in", "value": ["generic", "splunk"]}]}});
    let (status, body) = app.post("/v1/context-documents", &app.admin_key, targeted).await;
    assert_eq!(status, 201, "{body}");
    let first = ingest(&app, json!({"title": "Earlier <u>login</u>", "src_ip": "185.220.101.99"})).await;
    let (status, _) = app
        .patch(
            &format!("/v1/alerts/{first}"),
            &app.admin_key,
            json!({"status": "Closed", "close_classification": "Duplicate", "close_notes": "Seen before"}),
        )
        .await;
    assert_eq!(status, 200);
    let second =
        ingest(&app, json!({"title": "Later login", "src_ip": "185.220.101.99", "severity": "High"})).await;

    let mut browser = Browser::new(&app);
    browser.sign_in(&analyst(&app).await).await;
    let page = browser.get(&format!("/alerts/{second}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    assert!(contains_escaped(body, "IR <b>Plan</b>"), "{body}");
    assert!(contains_escaped(body, "<script>alert(5)</script>"), "{body}");
    // The document is Markdown: its list is a list; its script tag is shown as text.
    assert!(body.contains("<li>Call the IR lead.</li>"), "{body}");
    assert!(!body.contains("<script>alert(5)"));
    assert!(body.contains(&format!("<a href=\"/alerts/{first}\">")), "a link to the past alert: {body}");
    assert!(contains_escaped(body, "Earlier <u>login</u>"), "{body}");
    assert!(body.contains("185.220.101.99"));
    assert!(body.contains("Duplicate"));
    assert!(body.contains("Seen before"));
    // Each document says why it was chosen: global, or the targeting clauses that hold.
    assert!(body.contains("Matched by global: attached to every alert"), "{body}");
    assert!(
        body.contains("Matched by any of: severity gte High and all of: source_name in [generic, splunk]"),
        "{body}"
    );
}
