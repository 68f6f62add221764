//! The alert page's indicator part and its actions over plain HTTP: the provider and malice rule
//! that decided a verdict (enriched through a real provider on loopback), where each indicator
//! was found, an analyst's verdict with a reason, tags and adding indicators (and their refusal
//! for a read-only key), Markdown rendered sanitized, and the `console` actor in the activity log.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::console::{Browser, analyst, create_key};
use crate::helpers::*;

const IP: &str = "93.184.216.34";
const URL: &str = "https://files.evil-example.com/stage2.zip";

/// A provider on `server` at `/{route}/…` with two rules (score ≥ 80 Malicious, ≥ 40 Suspicious)
/// and a Benign default.
async fn provider(app: &TestApp, server: &MockServer, name: &str, route: &str) {
    let body = json!({
        "provider_name": name,
        "display_name": name,
        "supported_indicator_types": ["ip"],
        "http_config": {"steps": [{"name": "lookup", "url": format!("{}/{route}/{{{{indicator.value}}}}", server.uri()), "timeout_seconds": 10.0}]},
        "malice_rules": {"rules": [
            {"field": "score", "operator": ">=", "value": 80, "verdict": "Malicious"},
            {"field": "score", "operator": ">=", "value": 40, "verdict": "Suspicious"}
        ], "default_verdict": "Benign"},
    });
    let (status, created) = app.post("/v1/enrichment-providers", &app.admin_key, body).await;
    assert_eq!(status, 201, "{created}");
    let extraction = json!({"provider_name": name, "indicator_type": "ip", "source_path": "score", "target_key": "score", "value_type": "int"});
    let (status, body) = app.post("/v1/enrichment-field-extractions", &app.admin_key, extraction).await;
    assert_eq!(status, 201, "{body}");
}

/// An app with two loopback providers: `mid_intel` answers score 55 (its rule 2), `low_intel`
/// score 5 (its default).
pub(crate) async fn app_with_providers() -> (TestApp, MockServer) {
    let server = MockServer::start().await;
    Mock::given(path_regex("^/mid/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"score": 55, "asn": "AS15133"})))
        .mount(&server)
        .await;
    Mock::given(path_regex("^/low/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"score": 5})))
        .mount(&server)
        .await;
    let app = spawn_app_reaching_loopback().await;
    provider(&app, &server, "mid_intel", "mid").await;
    provider(&app, &server, "low_intel", "low").await;
    (app, server)
}

use crate::ingest::ingest_generic as ingest;

/// The REST detail's indicator `value`.
async fn rest_indicator(app: &TestApp, alert: &str, value: &str) -> Value {
    let (_, detail) = app.get(&format!("/v1/alerts/{alert}"), &app.admin_key).await;
    detail["data"]["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["value"] == value)
        .unwrap_or_else(|| panic!("no {value} in {detail}"))
        .clone()
}

/// The `<li class="indicator" …>` block of the indicator `uuid`.
fn indicator_block<'a>(body: &'a str, uuid: &str) -> &'a str {
    let start =
        body.find(&format!("id=\"indicator-{uuid}\"")).unwrap_or_else(|| panic!("no {uuid} in {body}"));
    let rest = &body[start..];
    &rest[..rest.find("<li class=\"indicator\"").unwrap_or(rest.len())]
}

/// The alert's activity through REST, newest first.
async fn activity(app: &TestApp, alert: &str) -> Vec<Value> {
    let (_, events) = app.get(&format!("/v1/alerts/{alert}/activity"), &app.admin_key).await;
    events["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn console_indicators_show_the_deciding_provider_and_rule_and_where_each_was_found() {
    let (app, _server) = app_with_providers().await;
    let uuid = ingest(
        &app,
        json!({"title": "Stage two download", "src_ip": IP, "description": format!("Fetched {URL} after logon")}),
    )
    .await;

    // The stored result names the rule (an additive field of the provider result).
    let ip = rest_indicator(&app, &uuid, IP).await;
    assert_eq!(ip["malice"], "Suspicious", "{ip}");
    let (_, full) =
        app.get(&format!("/v1/indicators/{}", ip["uuid"].as_str().unwrap()), &app.admin_key).await;
    let results = &full["data"]["enrichment_results"];
    assert_eq!(
        results["mid_intel"]["malice_rule"],
        json!({"index": 1, "condition": "score >= 40"}),
        "{full}"
    );
    assert_eq!(results["low_intel"]["malice_rule"], json!({"index": null, "condition": "default"}), "{full}");

    let mut browser = Browser::new(&app);
    browser.sign_in(&analyst(&app).await).await;
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    let block = indicator_block(body, ip["uuid"].as_str().unwrap());
    for text in [
        "<dd class=\"indicator-decided\">mid_intel (rule 2: score &#62;= 40)</dd>",
        "<code>src_ip</code> · Source Plugin",
        "mid_intel <span class=\"small\">(decided)</span>",
        "by rule 2: score &#62;= 40",
        "by default verdict (no rule matched)",
        "&#34;asn&#34;: &#34;AS15133&#34;",
        "<dt>score</dt><dd>55</dd>",
        "<summary>Raw response</summary>",
        "<td>miss</td>",
    ] {
        assert!(block.contains(text), "{text} in {block}");
    }
    // The alert's verdict names the indicator and provider that gave it.
    assert!(body.contains(&format!("Verdict from ip {IP} — mid_intel (rule 2: score &#62;= 40)")), "{body}");
    // The URL was found in the description by the free-text pass.
    let url = rest_indicator(&app, &uuid, URL).await;
    let block = indicator_block(body, url["uuid"].as_str().unwrap());
    assert!(block.contains("<code>description</code> · Free Text"), "{block}");
    assert!(block.contains("no provider verdict yet"), "{block}");

    // The same IP on another alert is served from the cache, rule and all.
    let again = ingest(&app, json!({"title": "Again", "src_ip": IP})).await;
    let page = browser.get(&format!("/alerts/{again}")).await;
    let block = indicator_block(&page.body, ip["uuid"].as_str().unwrap());
    assert!(block.contains("<td>hit</td>"), "{block}");
    assert!(block.contains("mid_intel (rule 2: score &#62;= 40)"), "{block}");
}

#[tokio::test]
async fn console_indicators_an_analysts_verdict_with_a_reason_is_logged_with_the_console_actor() {
    let (app, _server) = app_with_providers().await;
    let uuid = ingest(&app, json!({"title": "CDN hit", "src_ip": IP})).await;
    let indicator = rest_indicator(&app, &uuid, IP).await["uuid"].as_str().unwrap().to_string();
    let key = analyst(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&key).await;
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    assert!(
        page.body.contains(&format!("action=\"/alerts/{uuid}/indicators/malice\"")),
        "the form is offered"
    );
    let token = page.csrf_token();

    // A verdict change needs a reason, and a verdict it knows.
    let path = format!("/alerts/{uuid}/indicators/malice");
    let page = browser
        .post(
            &path,
            &[("csrf_token", &token), ("indicator", &indicator), ("malice", "Benign"), ("reason", " ")],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    let page = browser
        .post(
            &path,
            &[("csrf_token", &token), ("indicator", &indicator), ("malice", "Harmless"), ("reason", "x")],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    // An indicator of another alert is not this page's to change.
    let other = ingest(&app, json!({"title": "other", "src_ip": "93.184.216.35"})).await;
    let foreign = rest_indicator(&app, &other, "93.184.216.35").await["uuid"].as_str().unwrap().to_string();
    let page = browser
        .post(
            &path,
            &[("csrf_token", &token), ("indicator", &foreign), ("malice", "Benign"), ("reason", "x")],
        )
        .await;
    assert_eq!(page.status, 404, "{}", page.body);
    assert_eq!(rest_indicator(&app, &uuid, IP).await["malice"], "Suspicious");

    let reason = "Our CDN edge <b>node</b>";
    let page = browser
        .post(
            &path,
            &[("csrf_token", &token), ("indicator", &indicator), ("malice", "Benign"), ("reason", reason)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), format!("/alerts/{uuid}#indicators"));
    let ip = rest_indicator(&app, &uuid, IP).await;
    assert_eq!(
        (ip["malice"].as_str(), ip["malice_source"].as_str()),
        (Some("Benign"), Some("analyst")),
        "{ip}"
    );

    let events = activity(&app, &uuid).await;
    let event =
        events.iter().find(|e| e["event_type"] == "indicator_malice_updated").expect("the change is logged");
    assert_eq!(event["actor_type"], "console", "{event}");
    let prefix = event["actor_key_prefix"].as_str().unwrap();
    assert!(key.starts_with(prefix), "{prefix} is the signed-in key's prefix");
    assert_eq!(event["references"]["reason"], reason, "{event}");
    assert_eq!(event["references"]["to_malice"], "Benign");

    let page = browser.get(&format!("/alerts/{uuid}")).await;
    let block = indicator_block(&page.body, &indicator);
    assert!(block.contains("an analyst&#39;s verdict") || block.contains("an analyst's verdict"), "{block}");
    assert!(
        page.body.contains(&format!("by <span class=\"event-actor\">console ({prefix}…)</span>")),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Our CDN edge &#60;b&#62;node&#60;/b&#62;"),
        "the reason, escaped: {}",
        page.body
    );

    // Reset to the providers' verdict.
    let page = browser
        .post(
            &path,
            &[("csrf_token", &token), ("indicator", &indicator), ("malice", "reset"), ("reason", "undo")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let ip = rest_indicator(&app, &uuid, IP).await;
    assert_eq!(
        (ip["malice"].as_str(), ip["malice_source"].as_str()),
        (Some("Suspicious"), Some("enrichment"))
    );
}

#[tokio::test]
async fn console_indicators_status_changes_and_bulk_actions_are_logged_as_console() {
    let app = spawn_app().await;
    let uuid = ingest(&app, json!({"title": "actor", "src_ip": "203.0.113.20"})).await;
    let key = analyst(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&key).await;
    let token = browser.get(&format!("/alerts/{uuid}")).await.csrf_token();
    let page = browser
        .post(&format!("/alerts/{uuid}/update"), &[("csrf_token", &token), ("status", "Triaging")])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = browser
        .post("/alerts/bulk", &[("csrf_token", &token), ("alert_uuid", &uuid), ("action", "Escalated")])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let events = activity(&app, &uuid).await;
    let changes: Vec<&Value> = events.iter().filter(|e| e["event_type"] == "alert_status_updated").collect();
    assert_eq!(changes.len(), 2, "{events:?}");
    for event in changes {
        assert_eq!(event["actor_type"], "console", "{event}");
        assert!(key.starts_with(event["actor_key_prefix"].as_str().unwrap()), "{event}");
    }
    // The audit log filters by the console actor type and by the key prefix.
    let prefix = &events[0]["actor_key_prefix"].as_str().unwrap().to_string();
    for actor in ["console", prefix.as_str()] {
        let page = browser.get(&format!("/activity?actor={actor}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("alert_status_updated"), "{actor}: {}", page.body);
        assert!(page.body.contains(&format!("console <code>{prefix}</code>")), "{actor}: {}", page.body);
    }
}

#[tokio::test]
async fn console_indicators_tags_and_added_indicators_change_the_alert() {
    let app = spawn_app().await;
    let uuid = ingest(&app, json!({"title": "tags", "src_ip": "203.0.113.21"})).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&analyst(&app).await).await;
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    for action in ["/tags", "/indicators"] {
        assert!(page.body.contains(&format!("action=\"/alerts/{uuid}{action}\"")), "{action} offered");
    }
    let token = page.csrf_token();
    let page = browser
        .post(
            &format!("/alerts/{uuid}/tags"),
            &[("csrf_token", &token), ("add", "phishing, vip ,phishing,<x>")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), format!("/alerts/{uuid}#tags"));
    let (_, alert) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
    assert_eq!(alert["data"]["tags"], json!(["phishing", "vip", "<x>"]));
    let page = browser
        .post(
            &format!("/alerts/{uuid}/tags"),
            &[("csrf_token", &token), ("remove", "phishing"), ("remove", "<x>"), ("add", "triaged")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let (_, alert) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
    assert_eq!(alert["data"]["tags"], json!(["vip", "triaged"]));

    let page = browser
        .post(
            &format!("/alerts/{uuid}/indicators"),
            &[("csrf_token", &token), ("kind", "domain"), ("value", "Evil-Example.ORG")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let added = rest_indicator(&app, &uuid, "evil-example.org").await;
    let page = browser
        .post(
            &format!("/alerts/{uuid}/indicators"),
            &[("csrf_token", &token), ("kind", "ip"), ("value", "nope")],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    let block = indicator_block(&page.body, added["uuid"].as_str().unwrap());
    assert!(block.contains("Added by hand"), "{block}");
    let events = activity(&app, &uuid).await;
    let event = events.iter().find(|e| e["event_type"] == "alert_indicators_added").expect("logged");
    assert_eq!(event["actor_type"], "console");
}

#[tokio::test]
async fn console_indicators_actions_are_not_offered_to_a_read_only_key_and_refused() {
    let app = spawn_app().await;
    let uuid = ingest(&app, json!({"title": "read only", "src_ip": "203.0.113.22"})).await;
    let indicator = rest_indicator(&app, &uuid, "203.0.113.22").await["uuid"].as_str().unwrap().to_string();
    let (key, _) = create_key(&app, json!({"name": "Reader", "scopes": ["alerts:read"]})).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&key).await;
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    assert_eq!(page.status, 200);
    for action in ["/tags", "/indicators", "/indicators/malice"] {
        assert!(!page.body.contains(&format!("action=\"/alerts/{uuid}{action}\"")), "{action} offered");
    }
    let token = page.csrf_token();
    let before = activity(&app, &uuid).await.len();
    let forged: [(&str, Vec<(&str, &str)>); 3] = [
        ("tags", vec![("add", "forged")]),
        ("indicators", vec![("kind", "domain"), ("value", "forged.example.org")]),
        ("indicators/malice", vec![("indicator", &indicator), ("malice", "Malicious"), ("reason", "forged")]),
    ];
    for (action, mut fields) in forged {
        fields.push(("csrf_token", &token));
        let page = browser.post(&format!("/alerts/{uuid}/{action}"), &fields).await;
        assert_eq!(page.status, 403, "{action}: {}", page.body);
    }
    let (_, alert) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
    assert_eq!(alert["data"]["tags"], json!([]));
    assert_eq!(alert["data"]["indicators"].as_array().unwrap().len(), 1, "{alert}");
    assert_eq!(rest_indicator(&app, &uuid, "203.0.113.22").await["malice_source"], "enrichment");
    assert_eq!(activity(&app, &uuid).await.len(), before, "nothing logged");
}

#[tokio::test]
async fn console_indicators_markdown_is_rendered_sanitized() {
    let app = spawn_app().await;
    let hostile = "# Runbook\n\n\
        Call the **IR lead**. [Wiki](https://wiki.example.test/ir) [bad](javascript:alert(1)) \
        [data](data:text/html;base64,PHNjcmlwdD4=)\n\n\
        ![pixel](https://attacker.test/pixel.png)\n\n\
        <script>alert(6)</script>\n\n\
        <img src=x onerror=alert(7)>\n\n\
        <svg onload=alert(8)><circle/></svg>\n\n\
        <p style=\"color:red\" onclick=\"alert(9)\">styled</p>\n";
    let (status, body) = app
        .post(
            "/v1/context-documents",
            &app.admin_key,
            json!({"title": "IR runbook", "document_type": "runbook", "is_global": true, "content": hostile}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let uuid = ingest(&app, json!({"title": "markdown", "src_ip": "203.0.113.23"})).await;
    let (status, body) = app
        .post(
            &format!("/v1/alerts/{uuid}/findings"),
            &app.admin_key,
            json!({"agent_name": "triage-bot", "summary": "Finding with *emphasis* <iframe src=\"https://x.test\"></iframe> [x](javascript:alert(10))"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let mut browser = Browser::new(&app);
    browser.sign_in(&analyst(&app).await).await;
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    for html in [
        "<h1>Runbook</h1>",
        "<strong>IR lead</strong>",
        "<a href=\"https://wiki.example.test/ir\" rel=\"noopener noreferrer\">Wiki</a>",
        "<a href=\"https://attacker.test/pixel.png\" rel=\"noopener noreferrer\">pixel</a>",
        "<em>emphasis</em>",
    ] {
        assert!(body.contains(html), "{html} in {body}");
    }
    for banned in [
        "<script>alert(",
        "<img",
        "<iframe",
        "href=\"javascript:",
        "href=\"data:",
        "<p style",
        // As text (escaped) these may appear; as markup they would end in a bare `>` or `"`.
        "onerror=alert(7)>",
        "onload=alert(8)>",
        "onclick=\"alert(9)\">",
    ] {
        assert!(!body.contains(banned), "{banned} in {body}");
    }
    // The only SVG is the page's own relationship graph.
    assert_eq!(
        body.matches("<svg").count(),
        body.matches("<svg class=\"alert-graph\" data-calseta-chart").count(),
        "{body}"
    );
    // Raw HTML is shown as text.
    assert!(body.contains("&lt;script&gt;alert(6)&lt;/script&gt;"), "{body}");
}

#[tokio::test]
async fn console_indicators_origins_survive_re_enrichment_first_origin_wins() {
    let app = spawn_app().await;
    // The IP is both a source-plugin field and in the free text: the plugin's pass comes first.
    let uuid =
        ingest(&app, json!({"title": "dup", "src_ip": "203.0.113.24", "description": "from 203.0.113.24"}))
            .await;
    let indicator = rest_indicator(&app, &uuid, "203.0.113.24").await["uuid"].as_str().unwrap().to_string();
    let mut browser = Browser::new(&app);
    browser.sign_in(&analyst(&app).await).await;
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    assert!(indicator_block(&page.body, &indicator).contains("<code>src_ip</code> · Source Plugin"));
    // A link from before origins were kept reads "not recorded", and the next run fills it in.
    exec_sql(&app, "UPDATE alert_indicators SET origin_field = NULL, origin_pass = NULL").await;
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    assert!(indicator_block(&page.body, &indicator).contains("not recorded"), "{}", page.body);
    let token = page.csrf_token();
    let page = browser.post(&format!("/alerts/{uuid}/enrich"), &[("csrf_token", &token)]).await;
    assert_eq!(page.status, 303);
    eventually("the second enrichment run", Duration::from_secs(30), || async {
        let runs = activity(&app, &uuid)
            .await
            .iter()
            .filter(|e| e["event_type"] == "alert_enrichment_completed")
            .count();
        (runs == 2).then_some(())
    })
    .await;
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    assert!(
        indicator_block(&page.body, &indicator).contains("<code>src_ip</code> · Source Plugin"),
        "{}",
        page.body
    );
    // Adding the same indicator by hand keeps the first origin.
    let page = browser
        .post(
            &format!("/alerts/{uuid}/indicators"),
            &[("csrf_token", &token), ("kind", "ip"), ("value", "203.0.113.24")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    let block = indicator_block(&page.body, &indicator);
    assert!(
        block.contains("<code>src_ip</code> · Source Plugin") && !block.contains("Added by hand"),
        "{block}"
    );
}
