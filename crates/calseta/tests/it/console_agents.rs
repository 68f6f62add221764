//! The console's agents (`/agents…`): registering one with its signing secret shown once, a test
//! event a real endpoint (a loopback server) receives signed and whose answer the page shows as
//! text, rotation, the edit form for triggers, profile and state through REST's service with
//! REST's refusals next to the fields, the list's last delivery and the delivery log with its
//! retries, the scopes REST asks for — and, in Chromium, the journey, hostile names and answers
//! rendered inert, and axe-core.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::browser::ChromeSession;
use crate::console::{Browser, Page, create_key, signed_in, unescape};
use crate::console_browser::{
    FOREIGN_MARKUP, HOSTILE_TEXTS, assert_inert, assert_quiet, axe_core, axe_violations, ingest, sign_in,
};
use crate::console_rules::{field_message, rest_messages, set_value, text_content};
use crate::helpers::*;

/// A refusal case: the field, what REST receives beside a valid name and URL, what the form
/// sends beside them.
type Case<'a> = (&'a str, Value, Vec<(&'a str, &'a str)>);

/// A server whose agents may live on 127.0.0.1, retrying a failed delivery in ten minutes (so a
/// retry stays queued while the test looks at it).
async fn agents_app() -> TestApp {
    spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()), ("AGENT_RETRY_BASE_SECONDS", "600".into())],
        ..AppOptions::default()
    })
    .await
}

/// A loopback agent answering every POST to `/agent` with `status` and `body`.
pub(crate) async fn endpoint(status: u16, body: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/agent"))
        .respond_with(ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "text/plain"))
        .mount(&server)
        .await;
    server
}

/// Registers an agent through REST; its uuid.
async fn rest_agent(app: &TestApp, body: Value) -> String {
    let (status, created) = app.post("/v1/agents", &app.admin_key, body).await;
    assert_eq!(status, 201, "{created}");
    created["data"]["uuid"].as_str().unwrap().to_string()
}

async fn rest_get(app: &TestApp, uuid: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/agents/{uuid}"), &app.admin_key).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// The secret in the page's shown-once field, if any.
fn shown_secret(page: &Page) -> Option<String> {
    let marker = "id=\"signing-secret\" class=\"secret-value\" type=\"text\" readonly value=\"";
    let start = page.body.find(marker)? + marker.len();
    Some(page.body[start..].split('"').next().unwrap().to_string())
}

/// Whether `request` carries a Standard Webhooks signature `secret` made.
fn signed_with(request: &Request, secret: &str) -> bool {
    let header = |name: &str| request.headers.get(name).unwrap().to_str().unwrap().to_string();
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
    calseta_core::webhooks::verify(
        secret,
        &header("webhook-id"),
        timestamp,
        &request.body,
        &header("webhook-signature"),
    )
}

/// The text of the element with class `class` (the first), unescaped.
fn text_of_class(page: &Page, class: &str) -> String {
    let marker = format!("class=\"{class}\">");
    let start =
        page.body.find(&marker).unwrap_or_else(|| panic!("no {class} in {}", page.body)) + marker.len();
    let end = start + page.body[start..].find("</").unwrap();
    unescape(&page.body[start..end])
}

/// The base form of a new agent at `url`, plus `extra`.
pub(crate) fn new_agent<'a>(
    token: &'a str,
    url: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("csrf_token", token),
        ("name", "Triage bot"),
        ("endpoint_url", url),
        ("payload_profile", "full"),
        ("timeout_seconds", "30"),
        ("retry_count", "3"),
        ("is_active", "on"),
    ];
    form.extend_from_slice(extra);
    form
}

#[tokio::test]
async fn console_agents_register_shows_the_secret_once_and_a_test_event_arrives_signed() {
    let app = agents_app().await;
    let agent = endpoint(200, r#"{"ok": true, "note": "<b>received</b>"}"#).await;
    let url = format!("{}/agent", agent.uri());
    let mut browser = signed_in(&app, &["agents:read", "agents:write"]).await;
    let token = browser.get("/agents/new").await.csrf_token();

    let created = browser.post("/agents", &new_agent(&token, &url, &[("signing", "generate")])).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let secret = shown_secret(&created).expect("the secret is shown once");
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert!(created.body.contains("data-copy=\"signing-secret\""), "a copy button");
    let (_, listed) = app.get("/v1/agents", &app.admin_key).await;
    let uuid = listed["data"][0]["uuid"].as_str().unwrap().to_string();
    let rest = rest_get(&app, &uuid).await;
    assert_eq!(
        (rest["name"].as_str(), rest["has_signing_secret"].as_bool()),
        (Some("Triage bot"), Some(true))
    );
    assert!(rest.get("signing_secret").is_none());

    // Never again: the agent's page says it is signed, without the secret.
    let page = browser.get(&format!("/agents/{uuid}")).await;
    assert_eq!(page.status, 200);
    assert!(shown_secret(&page).is_none() && !page.body.contains(&secret), "{}", page.body);
    assert!(page.body.contains("signed (the secret is not shown again)"));

    // The test event: received by the endpoint, signed with that secret; the answer shown as text.
    let tested = browser.post(&format!("/agents/{uuid}/test"), &[("csrf_token", &token)]).await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    let requests = agent.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert!(signed_with(&requests[0], &secret), "the test event verifies with the shown secret");
    let payload: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!((payload["event"].as_str(), payload["test"].as_bool()), (Some("alert.test"), Some(true)));
    assert_eq!(text_of_class(&tested, "test-status"), "HTTP 200");
    assert!(text_of_class(&tested, "test-latency").ends_with(" ms"));
    assert_eq!(
        text_of_class(&tested, "raw-payload test-body"),
        serde_json::to_string_pretty(&json!({"ok": true, "note": "<b>received</b>"})).unwrap()
    );
    assert!(!tested.body.contains("<b>received</b>"), "the agent's answer is text");
    assert!(shown_secret(&tested).is_none());

    // Rotation: a new secret, once; the next test event is signed with it, not the old one.
    let rotated = browser.post(&format!("/agents/{uuid}/rotate-secret"), &[("csrf_token", &token)]).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = shown_secret(&rotated).expect("the new secret is shown once");
    assert_ne!(new_secret, secret);
    assert!(shown_secret(&browser.get(&format!("/agents/{uuid}")).await).is_none());
    browser.post(&format!("/agents/{uuid}/test"), &[("csrf_token", &token)]).await;
    let requests = agent.received_requests().await.unwrap();
    assert!(signed_with(&requests[1], &new_secret) && !signed_with(&requests[1], &secret));

    // An endpoint that fails: the page says so, with its status and answer.
    let down = endpoint(503, "<i>down</i>").await;
    let down_uuid =
        rest_agent(&app, json!({"name": "down", "endpoint_url": format!("{}/agent", down.uri())})).await;
    let tested = browser.post(&format!("/agents/{down_uuid}/test"), &[("csrf_token", &token)]).await;
    assert!(tested.body.contains("Test event: not delivered"), "{}", tested.body);
    assert_eq!(text_of_class(&tested, "test-status"), "HTTP 503");
    assert_eq!(text_of_class(&tested, "raw-payload test-body"), "<i>down</i>");
    // REST's test call answers the same.
    let (_, rest) = app.post(&format!("/v1/agents/{down_uuid}/test"), &app.admin_key, json!({})).await;
    assert_eq!(
        (rest["data"]["delivered"].as_bool(), rest["data"]["status_code"].as_u64()),
        (Some(false), Some(503))
    );
}

#[tokio::test]
async fn console_agents_edit_changes_triggers_profile_and_state_like_rests_patch() {
    let app = agents_app().await;
    let agent = endpoint(200, "ok").await;
    let url = format!("{}/agent", agent.uri());
    let uuid =
        rest_agent(&app, json!({"name": "Bot", "endpoint_url": url, "signing_secret": "generate"})).await;
    let mut browser = signed_in(&app, &["agents:read", "agents:write"]).await;
    let page = browser.get(&format!("/agents/{uuid}")).await;
    let token = page.csrf_token();
    let filter = r#"{"match_all": [{"field": "tags", "op": "contains", "value": "prod"}]}"#;

    let saved = browser
        .post(
            &format!("/agents/{uuid}"),
            &[
                ("csrf_token", &token),
                ("name", "Bot (prod)"),
                ("description", "Pages the on-call"),
                ("endpoint_url", &url),
                ("auth_header_name", "X-Agent-Key"),
                ("auth_header_value", "s3cret"),
                ("signing", "keep"),
                ("trigger_on_sources", "elastic"),
                ("trigger_on_sources", "sentinel"),
                ("trigger_on_severities", "High"),
                ("trigger_on_severities", "Critical"),
                ("trigger_filter", filter),
                ("payload_profile", "compact"),
                ("timeout_seconds", "12"),
                ("retry_count", "0"),
                ("documentation", "Runbook: page the lead."),
            ],
        )
        .await;
    assert_eq!((saved.status, saved.location()), (303, format!("/agents/{uuid}").as_str()), "{}", saved.body);
    let rest = rest_get(&app, &uuid).await;
    assert_eq!(rest["name"], "Bot (prod)");
    assert_eq!(rest["trigger_on_sources"], json!(["elastic", "sentinel"]));
    assert_eq!(rest["trigger_on_severities"], json!(["High", "Critical"]));
    assert_eq!(rest["trigger_filter"], serde_json::from_str::<Value>(filter).unwrap());
    assert_eq!(
        (rest["payload_profile"].as_str(), rest["is_active"].as_bool()),
        (Some("compact"), Some(false))
    );
    assert_eq!((rest["timeout_seconds"].as_i64(), rest["retry_count"].as_i64()), (Some(12), Some(0)));
    assert_eq!(
        (rest["auth_header_name"].as_str(), rest["has_signing_secret"].as_bool()),
        (Some("X-Agent-Key"), Some(true))
    );
    // The header value works and is never shown.
    browser.post(&format!("/agents/{uuid}/test"), &[("csrf_token", &token)]).await;
    let sent = agent.received_requests().await.unwrap();
    assert_eq!(sent[0].headers.get("x-agent-key").unwrap(), "s3cret");
    let page = browser.get(&format!("/agents/{uuid}")).await;
    assert!(!page.body.contains("s3cret"));
    assert!(
        page.body.contains("value=\"elastic\" checked") && page.body.contains("value=\"Critical\" checked"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<option value=\"compact\" selected>"));

    // Clearing: any source and severity, no filter, no header, no signature, active again.
    let saved = browser
        .post(
            &format!("/agents/{uuid}"),
            &[
                ("csrf_token", &token),
                ("name", "Bot (prod)"),
                ("endpoint_url", &url),
                ("auth_header_name", "X-Agent-Key"),
                ("clear_auth", "on"),
                ("signing", "none"),
                ("trigger_filter", ""),
                ("payload_profile", "full"),
                ("timeout_seconds", "12"),
                ("retry_count", "0"),
                ("is_active", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let rest = rest_get(&app, &uuid).await;
    assert_eq!(
        (rest["trigger_on_sources"].clone(), rest["trigger_filter"].clone()),
        (json!([]), Value::Null)
    );
    assert_eq!(
        (rest["auth_header_name"].clone(), rest["has_signing_secret"].clone()),
        (Value::Null, json!(false))
    );
    assert_eq!(rest["is_active"], true);

    // Delete: gone from REST too.
    let deleted = browser.post(&format!("/agents/{uuid}/delete"), &[("csrf_token", &token)]).await;
    assert_eq!((deleted.status, deleted.location()), (303, "/agents"));
    assert_eq!(app.get(&format!("/v1/agents/{uuid}"), &app.admin_key).await.0, 404);
    assert_eq!(browser.get(&format!("/agents/{uuid}")).await.status, 404);
}

#[tokio::test]
async fn console_agents_refusals_are_rests_messages_next_to_the_field() {
    let app = agents_app().await;
    let agent = endpoint(200, "ok").await;
    let url = format!("{}/agent", agent.uri());
    let mut browser = signed_in(&app, &["agents:read", "agents:write"]).await;
    let token = browser.get("/agents/new").await.csrf_token();
    let bad_filter = r#"{"match_all": [{"field": "severity"}]}"#;

    // (field, what REST receives beside a valid name and URL, what the form sends beside them)
    let cases: Vec<Case> = vec![
        ("name", json!({"name": " "}), vec![("name", " ")]),
        ("timeout_seconds", json!({"timeout_seconds": 0}), vec![("timeout_seconds", "0")]),
        ("timeout_seconds", json!({"timeout_seconds": "soon"}), vec![("timeout_seconds", "soon")]),
        ("retry_count", json!({"retry_count": 11}), vec![("retry_count", "11")]),
        (
            "trigger_on_severities",
            json!({"trigger_on_severities": ["Urgent"]}),
            vec![("trigger_on_severities", "Urgent")],
        ),
        (
            "trigger_on_sources",
            json!({"trigger_on_sources": ["nosuch"]}),
            vec![("trigger_on_sources", "nosuch")],
        ),
        ("payload_profile", json!({"payload_profile": "tiny"}), vec![("payload_profile", "tiny")]),
        (
            "trigger_filter",
            json!({"trigger_filter": serde_json::from_str::<Value>(bad_filter).unwrap()}),
            vec![("trigger_filter", bad_filter)],
        ),
        ("trigger_filter", json!({"trigger_filter": "{oops"}), vec![("trigger_filter", "{oops")]),
        (
            "signing_secret",
            json!({"signing_secret": "nope"}),
            vec![("signing", "paste"), ("signing_secret", "nope")],
        ),
        ("auth_header_name", json!({"auth_header_name": "X-Key"}), vec![("auth_header_name", "X-Key")]),
    ];
    for (field, extra, fields) in cases {
        let mut body = json!({"name": "ok", "endpoint_url": url});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, refused) = app.post("/v1/agents", &app.admin_key, body).await;
        assert_eq!(status, 422, "{refused}");
        let expected = rest_messages(&refused).into_iter().find(|(f, _)| f == field).unwrap().1;
        let mut form = new_agent(&token, &url, &[("signing", "none")]);
        form.retain(|(k, _)| !fields.iter().any(|(f, _)| f == k) || *k == "csrf_token");
        form.extend(fields.iter().copied());
        let page = browser.post("/agents", &form).await;
        assert_eq!(page.status, 422, "{field}: {}", page.body);
        assert!(
            field_message(&page, field).starts_with(&expected),
            "{field}: {} vs {expected}",
            field_message(&page, field)
        );
        assert!(page.body.contains(&format!("aria-describedby=\"{field}-error\"")), "{field}");
    }
    assert_eq!(app.get("/v1/agents", &app.admin_key).await.1["data"], json!([]), "nothing was registered");

    // A blocked address: REST's refusal, above the form, with what was typed kept.
    let (_, blocked) = app
        .post("/v1/agents", &app.admin_key, json!({"name": "x", "endpoint_url": "http://10.1.2.3/hook"}))
        .await;
    let page =
        browser.post("/agents", &new_agent(&token, "http://10.1.2.3/hook", &[("signing", "none")])).await;
    assert_eq!(page.status, 422, "{}", page.body);
    let message = blocked["error"]["message"].as_str().unwrap();
    assert!(message.contains("SSRF"), "{blocked}");
    assert!(unescape(&page.body).contains(message), "{message} in {}", page.body);
    assert!(page.body.contains("value=\"http://10.1.2.3/hook\""));
    assert!(!page.body.contains("nope"), "a pasted secret is not shown back");

    // Editing: REST's PATCH refusal next to the field, and nothing changes.
    let uuid = rest_agent(&app, json!({"name": "steady", "endpoint_url": url, "retry_count": 2})).await;
    let (_, refused) =
        app.patch(&format!("/v1/agents/{uuid}"), &app.admin_key, json!({"retry_count": 11})).await;
    let page = browser
        .post(
            &format!("/agents/{uuid}"),
            &[
                ("csrf_token", &token),
                ("name", "steady"),
                ("endpoint_url", &url),
                ("signing", "keep"),
                ("payload_profile", "full"),
                ("timeout_seconds", "30"),
                ("retry_count", "11"),
                ("is_active", "on"),
            ],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert_eq!(field_message(&page, "retry_count"), rest_messages(&refused)[0].1);
    assert!(page.body.contains("id=\"retry_count\" name=\"retry_count\" value=\"11\""), "what was typed");
    assert_eq!(rest_get(&app, &uuid).await["retry_count"], 2);
}

#[tokio::test]
async fn console_agents_list_shows_the_last_delivery_and_the_log_attempts_latency_and_retries() {
    let app = agents_app().await;
    let good = endpoint(200, "{\"ok\": true}").await;
    let down = endpoint(500, "boom").await;
    let good_uuid =
        rest_agent(&app, json!({"name": "good", "endpoint_url": format!("{}/agent", good.uri())})).await;
    let down_uuid = rest_agent(
        &app,
        json!({"name": "down", "endpoint_url": format!("{}/agent", down.uri()), "retry_count": 1}),
    )
    .await;
    let idle_uuid = rest_agent(
        &app,
        json!({"name": "idle", "endpoint_url": format!("{}/agent", good.uri()),
        "trigger_on_sources": ["elastic"]}),
    )
    .await;
    let alert = ingest(&app, json!({"title": "deliver me", "src_ip": "203.0.113.70"})).await;
    let runs = |uuid: String| {
        let app = &app;
        async move {
            eventually("an attempt recorded", Duration::from_secs(30), || async {
                let (_, runs) = app.get(&format!("/v1/agents/{uuid}/runs"), &app.admin_key).await;
                (runs["data"].as_array().map(Vec::len) == Some(1)).then_some(runs["data"][0].clone())
            })
            .await
        }
    };
    let good_run = runs(good_uuid.clone()).await;
    let down_run = runs(down_uuid.clone()).await;
    assert_eq!((good_run["status"].as_str(), down_run["status"].as_str()), (Some("success"), Some("failed")));
    let mut browser = signed_in(&app, &["agents:read"]).await;

    let list = browser.get("/agents").await;
    assert_eq!(list.status, 200, "{}", list.body);
    let row = |uuid: &str| {
        let start = list.body.find(&format!("data-agent-uuid=\"{uuid}\"")).unwrap();
        list.body[start..start + list.body[start..].find("</tr>").unwrap()].to_string()
    };
    let good_row = row(&good_uuid);
    assert!(good_row.contains("delivery-success\">success</span> HTTP 200"), "{good_row}");
    assert!(good_row.contains(&format!("href=\"/alerts/{alert}\"")), "{good_row}");
    assert!(row(&down_uuid).contains("delivery-failed\">failed</span> HTTP 500"), "{}", row(&down_uuid));
    assert!(row(&idle_uuid).contains("never"), "{}", row(&idle_uuid));
    assert!(row(&idle_uuid).contains("sources: elastic"));

    // The failing agent's log: the attempt with its code, latency and error, and the retry queued
    // for later with its attempt count.
    let delivery = down_run["delivery_id"].as_str().unwrap().to_string();
    let page = eventually("the retry queued", Duration::from_secs(30), || async {
        let mut b = Browser::new(&app);
        b.cookies = browser.cookies.clone();
        let page = b.get(&format!("/agents/{down_uuid}")).await;
        page.body.contains("class=\"table deliveries-pending\"").then_some(page)
    })
    .await;
    let log = &page.body[page.body.find("id=\"deliveries\"").unwrap()..];
    let pending = &log[..log.find("class=\"table deliveries\"").unwrap()];
    assert!(pending.contains(&format!("<code>{delivery}</code>")), "{pending}");
    assert!(pending.contains("<td>1 of 2</td>"), "{pending}");
    assert!(pending.contains("data-local>"), "the next attempt's time: {pending}");
    let attempts = &log[log.find("class=\"table deliveries\"").unwrap()..];
    assert!(attempts.contains(&format!("data-delivery-id=\"{delivery}\"")), "{attempts}");
    assert!(
        attempts.contains("delivery-failed\">failed</span>") && attempts.contains("<td>HTTP 500</td>"),
        "{attempts}"
    );
    assert!(
        attempts.contains("<td>1</td>")
            && attempts.contains(" ms</td>")
            && attempts.contains("HTTP 500</td>")
    );
    assert!(page.body.contains("Delivery log <span class=\"count\">(1)</span>"));
}

#[tokio::test]
async fn console_agents_scopes_decide_what_is_offered_and_allowed() {
    let app = agents_app().await;
    let agent = endpoint(200, "ok").await;
    let uuid =
        rest_agent(&app, json!({"name": "watched", "endpoint_url": format!("{}/agent", agent.uri())})).await;
    let mut reader = signed_in(&app, &["agents:read"]).await;
    let list = reader.get("/agents").await;
    assert_eq!(list.status, 200);
    assert!(!list.body.contains("href=\"/agents/new\""));
    let page = reader.get(&format!("/agents/{uuid}")).await;
    assert_eq!(page.status, 200);
    for action in ["/test\"", "/rotate-secret\"", "/delete\"", &format!("action=\"/agents/{uuid}\"")] {
        assert!(!page.body.contains(action), "{action} offered to a reader");
    }
    let token = page.csrf_token();
    assert_eq!(reader.get("/agents/new").await.status, 403);
    for path in [
        "/agents".to_string(),
        format!("/agents/{uuid}"),
        format!("/agents/{uuid}/test"),
        format!("/agents/{uuid}/rotate-secret"),
        format!("/agents/{uuid}/delete"),
    ] {
        let refused = reader
            .post(&path, &[("csrf_token", &token), ("name", "x"), ("endpoint_url", "https://x.example")])
            .await;
        assert_eq!(refused.status, 403, "{path}");
    }
    assert!(agent.received_requests().await.unwrap().is_empty(), "no test event was sent");
    assert_eq!(rest_get(&app, &uuid).await["name"], "watched");

    let mut writer = signed_in(&app, &["agents:read", "agents:write"]).await;
    assert_eq!(writer.post(&format!("/agents/{uuid}/test"), &[]).await.status, 403, "no CSRF token");
    assert!(agent.received_requests().await.unwrap().is_empty());
    assert_eq!(writer.get("/agents/nope").await.status, 404);
    assert_eq!(writer.get(&format!("/agents/{}", uuid::Uuid::now_v7())).await.status, 404);
    let mut other = signed_in(&app, &["alerts:read"]).await;
    assert_eq!(other.get("/agents").await.status, 403);
    assert_eq!(other.get(&format!("/agents/{uuid}")).await.status, 403);
}

#[tokio::test]
async fn console_agents_browser_register_secret_once_then_a_test_event_shows_the_answer() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = agents_app().await;
    let agent = endpoint(200, r#"{"received": "yes"}"#).await;
    let (key, _) =
        create_key(&app, json!({"name": "Agent owner", "scopes": ["agents:read", "agents:write"]})).await;
    sign_in(&browser, &app, &key, "/agents").await;
    browser.click("a[href='/agents/new']").await;
    browser.wait_for_path("/agents/new").await;
    browser.css("#name").await.send_keys("Journey bot").await.unwrap();
    browser.css("#endpoint_url").await.send_keys(&format!("{}/agent", agent.uri())).await.unwrap();
    browser.click("input[name=trigger_on_severities][value=High]").await;
    browser.click(".agent-form button[type=submit]").await;
    let secret = eventually("the secret shown once", Duration::from_secs(20), || async {
        let field = browser.find(fantoccini::Locator::Css("#signing-secret")).await.ok()?;
        field.prop("value").await.ok().flatten()
    })
    .await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_quiet(&browser, "the new agent").await;
    let copy_hidden = browser.run("return document.querySelector('button[data-copy]').hidden;", vec![]).await;
    assert_eq!(copy_hidden, json!(false), "the script reveals the copy button");

    let (_, listed) = app.get("/v1/agents", &app.admin_key).await;
    let uuid = listed["data"][0]["uuid"].as_str().unwrap().to_string();
    assert_eq!(listed["data"][0]["trigger_on_severities"], json!(["High"]));
    browser.open(&app.url(&format!("/agents/{uuid}"))).await;
    assert!(browser.find(fantoccini::Locator::Css("#signing-secret")).await.is_err(), "not on reload");
    let html = browser.source().await.unwrap();
    assert!(!html.contains(&secret));

    browser.click("#send-test").await;
    eventually("the test result", Duration::from_secs(20), || async {
        browser.find(fantoccini::Locator::Css(".test-body")).await.ok()
    })
    .await;
    assert_eq!(text_content(&browser, ".test-status").await, "HTTP 200");
    assert_eq!(text_content(&browser, ".test-body").await, "{\n  \"received\": \"yes\"\n}");
    assert_quiet(&browser, "the test result").await;
    let requests = agent.received_requests().await.unwrap();
    assert!(signed_with(&requests[0], &secret));
    browser.open(&app.url("/agents")).await;
    assert_eq!(text_content(&browser, ".agent-name").await, "Journey bot");
    browser.quit().await;
}

#[tokio::test]
async fn console_agents_browser_hostile_names_and_test_answers_render_inert() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = agents_app().await;
    let server = MockServer::start().await;
    let mut agents = Vec::new();
    for (i, text) in HOSTILE_TEXTS.iter().enumerate() {
        Mock::given(method("POST"))
            .and(path(format!("/h{i}")))
            .respond_with(ResponseTemplate::new(200).set_body_raw(text.as_bytes().to_vec(), "text/html"))
            .mount(&server)
            .await;
        let uuid = rest_agent(
            &app,
            json!({"name": text, "description": text, "documentation": text,
            "endpoint_url": format!("{}/h{i}", server.uri())}),
        )
        .await;
        agents.push(uuid);
    }
    let (key, _) =
        create_key(&app, json!({"name": "Hostile <owner>", "scopes": ["agents:read", "agents:write"]})).await;
    sign_in(&browser, &app, &key, "/agents").await;
    assert_inert(&browser, &app, "/agents").await;
    let listed = browser
        .run("return [...document.querySelectorAll('.agent-name')].map(a => a.textContent);", vec![])
        .await;
    for text in HOSTILE_TEXTS {
        assert!(listed.as_array().unwrap().contains(&json!(text)), "{text} listed as written");
    }
    for (uuid, text) in agents.iter().zip(HOSTILE_TEXTS) {
        assert_inert(&browser, &app, &format!("/agents/{uuid}")).await;
        assert_eq!(text_content(&browser, "#agent-title").await, *text);
        // The agent answers the test event with the hostile text: shown as written, inert.
        browser.click("#send-test").await;
        eventually("the test result", Duration::from_secs(20), || async {
            browser.find(fantoccini::Locator::Css(".test-body")).await.ok()
        })
        .await;
        assert_quiet(&browser, text).await;
        assert_eq!(browser.run(FOREIGN_MARKUP, vec![]).await, json!([]), "{text}");
        assert_eq!(text_content(&browser, ".test-body").await, *text);
    }
    browser.quit().await;
}

#[tokio::test]
async fn console_agents_browser_pages_have_no_serious_accessibility_violations() {
    let Some(axe) = axe_core() else { return };
    let Some(browser) = ChromeSession::start().await else { return };
    let app = agents_app().await;
    let down = endpoint(500, "boom").await;
    let uuid = rest_agent(&app, json!({"name": "Down bot", "endpoint_url": format!("{}/agent", down.uri()),
        "retry_count": 1, "signing_secret": "generate", "trigger_filter": {"match_all": [{"field": "severity", "op": "in", "value": ["High", "Low"]}]}}))
    .await;
    ingest(&app, json!({"title": "deliver me", "severity": "High", "src_ip": "203.0.113.80"})).await;
    eventually("an attempt recorded", Duration::from_secs(30), || async {
        let (_, runs) = app.get(&format!("/v1/agents/{uuid}/runs"), &app.admin_key).await;
        (runs["data"].as_array().map(Vec::len) == Some(1)).then_some(())
    })
    .await;
    let (key, _) = create_key(&app, json!({"name": "Axe", "scopes": ["agents:read", "agents:write"]})).await;
    sign_in(&browser, &app, &key, "/agents").await;
    for dark in [false, true] {
        browser.prefer_dark(dark).await;
        let mut report = Vec::new();
        for path in ["/agents".to_string(), "/agents/new".to_string(), format!("/agents/{uuid}")] {
            browser.open(&app.url(&path)).await;
            report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("{path}: {v}")));
        }
        // The answers to posts: a test result, a secret shown once, a refused form.
        browser.click("#send-test").await;
        eventually("the test result", Duration::from_secs(20), || async {
            browser.find(fantoccini::Locator::Css(".test-body")).await.ok()
        })
        .await;
        report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("test result: {v}")));
        browser.click("#rotate-secret").await;
        eventually("the secret", Duration::from_secs(20), || async {
            browser.find(fantoccini::Locator::Css("#signing-secret")).await.ok()
        })
        .await;
        report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("secret once: {v}")));
        browser.open(&app.url(&format!("/agents/{uuid}"))).await;
        set_value(&browser, "#retry_count", "11").await;
        browser.click("#edit button[type=submit]").await;
        eventually("the refusal", Duration::from_secs(20), || async {
            browser.find(fantoccini::Locator::Css("#retry_count-error")).await.ok()
        })
        .await;
        report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("refused form: {v}")));
        let theme = if dark { "dark" } else { "light" };
        assert!(report.is_empty(), "axe-core, {theme} theme:\n{}", report.join("\n"));
    }
    browser.quit().await;
}
