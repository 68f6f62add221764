//! The console's detection rules (`/detection-rules…`): the list searched by name and MITRE with
//! REST's own list parameters (the same rules REST lists), a rule's page with its documentation
//! rendered sanitized, its alerts and its metrics as our own SVG charts, the create, edit and
//! delete forms with REST's refusals next to the fields, the admin scope REST asks for writes —
//! and, in Chromium, the forms round-tripping Markdown, hostile rules rendered inert, and axe-core.

use serde_json::{Value, json};

use crate::browser::ChromeSession;
use crate::console::{Page, create_key, signed_in_with_key, unescape};
use crate::console_browser::{
    FOREIGN_MARKUP, HOSTILE_TEXTS, assert_inert, assert_quiet, axe_core, axe_violations, ingest, sign_in,
};
use crate::helpers::*;

/// A refusal case: the field, REST's body, the form's fields.
type Case<'a> = (&'a str, Value, Vec<(&'a str, String)>);

/// Creates a rule through REST; its uuid.
async fn rest_rule(app: &TestApp, body: Value) -> String {
    let (status, created) = app.post("/v1/detection-rules", &app.admin_key, body).await;
    assert_eq!(status, 201, "{created}");
    created["data"]["uuid"].as_str().unwrap().to_string()
}

/// The names REST lists for `query`.
async fn rest_names(app: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = app.get(&format!("/v1/detection-rules?{query}"), &app.admin_key).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()
}

/// The rule names a console list page shows, in order (the text of each `rule-name` link).
fn listed_names(page: &Page) -> Vec<String> {
    page.body
        .split("class=\"rule-name\">")
        .skip(1)
        .map(|rest| unescape(&rest[..rest.find("</a>").unwrap()]))
        .collect()
}

/// The message the page shows under `field` (its `{field}-error` paragraph), unescaped.
pub(crate) fn field_message(page: &Page, field: &str) -> String {
    let marker = format!("id=\"{field}-error\">");
    let start = page.body.find(&marker).unwrap_or_else(|| panic!("no message for {field} in {}", page.body))
        + marker.len();
    unescape(&page.body[start..start + page.body[start..].find("</p>").unwrap()])
}

/// REST's 422 messages for `body`, by field.
pub(crate) fn rest_messages(body: &Value) -> Vec<(String, String)> {
    body["error"]["details"]["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no validation errors in {body}"))
        .iter()
        .map(|e| {
            let loc: Vec<&str> = e["loc"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            (loc.last().unwrap().to_string(), e["msg"].as_str().unwrap().to_string())
        })
        .collect()
}

#[tokio::test]
async fn console_rules_list_searches_by_name_and_mitre_like_rest_and_pages() {
    let app = spawn_app().await;
    rest_rule(&app, json!({"name": "Brute force <sign-ins>", "source_name": "elastic", "severity": "High",
        "mitre_tactics": ["Credential Access"], "mitre_techniques": ["T1110"], "mitre_subtechniques": ["T1110.003"]}))
    .await;
    rest_rule(
        &app,
        json!({"name": "Impossible travel", "source_name": "sentinel", "severity": "Medium",
        "mitre_tactics": ["Initial Access"], "mitre_techniques": ["T1078"]}),
    )
    .await;
    rest_rule(
        &app,
        json!({"name": "Password spray", "source_name": "splunk", "is_active": false,
        "mitre_tactics": ["TA0006"], "mitre_techniques": ["T1110"]}),
    )
    .await;
    let (mut browser, _) = signed_in_with_key(&app, &["alerts:read"]).await;

    for query in [
        "",
        "name=travel",
        "name=BRUTE",
        "mitre_tactic=credential-access",
        "mitre_tactic=TA0001",
        "mitre_technique=T1110",
        "mitre_technique=t1110.003",
        "is_active=false",
        "source_name=elastic,splunk&sort_by=name&sort_order=asc",
    ] {
        let page = browser.get(&format!("/detection-rules?{query}")).await;
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        assert_eq!(listed_names(&page), rest_names(&app, query).await, "{query}");
    }
    // The search form shows what was searched.
    let page = browser.get("/detection-rules?mitre_technique=T1110&name=").await;
    assert!(page.body.contains("name=\"mitre_technique\" value=\"T1110\""), "{}", page.body);
    assert_eq!(listed_names(&page).len(), 2);

    // Paged like REST, the search kept in the links.
    let page =
        browser.get("/detection-rules?mitre_technique=T1110&page_size=1&sort_by=name&sort_order=asc").await;
    assert_eq!(listed_names(&page), ["Brute force <sign-ins>"]);
    assert!(page.body.contains("href=\"/detection-rules?mitre_technique=T1110&#38;page_size=1&#38;sort_by=name&#38;sort_order=asc&#38;page=2\""), "{}", page.body);
    let page = browser
        .get("/detection-rules?mitre_technique=T1110&page_size=1&sort_by=name&sort_order=asc&page=2")
        .await;
    assert_eq!(listed_names(&page), ["Password spray"]);

    // A query REST refuses is refused here too, with the reason.
    let page = browser.get("/detection-rules?is_active=maybe").await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("is_active"), "{}", page.body);
    let (status, _) = app.get("/v1/detection-rules?is_active=maybe", &app.admin_key).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn console_rules_create_edit_and_delete_round_trip_through_the_service() {
    let app = spawn_app().await;
    let (mut browser, key) = signed_in_with_key(&app, &["admin"]).await;
    let prefix: String = key.chars().take(8).collect();

    let form = browser.get("/detection-rules/new").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let token = form.csrf_token();
    let created = browser
        .post(
            "/detection-rules",
            &[
                ("csrf_token", &token),
                ("name", "Impossible travel"),
                ("source_name", "generic"),
                ("source_rule_id", "R-42"),
                ("severity", "High"),
                ("is_active", "on"),
                ("mitre_tactics", "Initial Access, Credential Access"),
                ("mitre_techniques", "T1078"),
                ("mitre_subtechniques", "T1078.004"),
                ("data_sources", "Okta System Log\nEntra ID"),
                ("run_frequency", "every 5 minutes"),
                ("documentation", "## Triage\n\nCheck the **VPN** egress."),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let uuid = created.location().strip_prefix("/detection-rules/").unwrap().to_string();
    let (status, rule) = app.get(&format!("/v1/detection-rules/{uuid}"), &app.admin_key).await;
    assert_eq!(status, 200);
    let rule = &rule["data"];
    assert_eq!(rule["mitre_tactics"], json!(["Initial Access", "Credential Access"]));
    assert_eq!(rule["data_sources"], json!(["Okta System Log", "Entra ID"]));
    assert_eq!(
        (rule["source_name"].as_str(), rule["source_rule_id"].as_str()),
        (Some("generic"), Some("R-42"))
    );
    assert_eq!((rule["severity"].as_str(), rule["is_active"].as_bool()), (Some("High"), Some(true)));
    assert_eq!(rule["created_by"].as_str().map(|c| c.starts_with(&prefix)), Some(true), "{rule}");
    assert_eq!(rule["documentation"], "## Triage\n\nCheck the **VPN** egress.");

    // The edit form holds the rule; the fields REST cannot change are shown, not offered.
    let edit = browser.get(&format!("/detection-rules/{uuid}/edit")).await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    assert!(edit.body.contains("value=\"Initial Access, Credential Access\""), "{}", edit.body);
    assert!(!edit.body.contains("name=\"source_rule_id\""), "not patchable");
    let saved = browser
        .post(
            &format!("/detection-rules/{uuid}/edit"),
            &[
                ("csrf_token", &token),
                ("name", "Impossible travel (Okta)"),
                ("severity", ""),
                ("mitre_tactics", "Initial Access"),
                ("mitre_techniques", "T1078, T1110"),
                ("mitre_subtechniques", ""),
                ("data_sources", "Okta System Log"),
                ("documentation", "Updated."),
            ],
        )
        .await;
    assert_eq!((saved.status, saved.location()), (303, format!("/detection-rules/{uuid}").as_str()));
    let rule = app.get(&format!("/v1/detection-rules/{uuid}"), &app.admin_key).await.1["data"].clone();
    assert_eq!(rule["name"], "Impossible travel (Okta)");
    assert_eq!((rule["severity"].clone(), rule["is_active"].clone()), (Value::Null, json!(false)));
    assert_eq!(rule["mitre_techniques"], json!(["T1078", "T1110"]));
    assert_eq!(rule["mitre_subtechniques"], json!([]));
    assert_eq!(
        (rule["source_rule_id"].as_str(), rule["documentation"].as_str()),
        (Some("R-42"), Some("Updated."))
    );

    let deleted = browser.post(&format!("/detection-rules/{uuid}/delete"), &[("csrf_token", &token)]).await;
    assert_eq!((deleted.status, deleted.location()), (303, "/detection-rules"));
    assert_eq!(app.get(&format!("/v1/detection-rules/{uuid}"), &app.admin_key).await.0, 404);
    assert_eq!(browser.get(&format!("/detection-rules/{uuid}")).await.status, 404);
}

#[tokio::test]
async fn console_rules_refusals_are_rests_messages_next_to_the_field() {
    let app = spawn_app().await;
    let (mut browser, _) = signed_in_with_key(&app, &["admin"]).await;
    let token = browser.get("/detection-rules/new").await.csrf_token();
    let long = "x".repeat(256);

    // Each bad input as REST receives it and as the form sends it.
    let cases: Vec<Case> = vec![
        ("name", json!({"name": "   "}), vec![("name", "   ".into())]),
        ("name", json!({"name": "n".repeat(501)}), vec![("name", "n".repeat(501))]),
        (
            "mitre_tactics",
            json!({"name": "ok", "mitre_tactics": [long]}),
            vec![("name", "ok".into()), ("mitre_tactics", long.clone())],
        ),
        (
            "data_sources",
            json!({"name": "ok", "data_sources": [long]}),
            vec![("name", "ok".into()), ("data_sources", long.clone())],
        ),
    ];
    for (field, rest_body, fields) in cases {
        let (status, refused) = app.post("/v1/detection-rules", &app.admin_key, rest_body.clone()).await;
        assert_eq!(status, 422, "{refused}");
        let rest = rest_messages(&refused);
        let expected =
            &rest.iter().find(|(f, _)| f == field).unwrap_or_else(|| panic!("{field} in {refused}")).1;
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
        let page = browser.post("/detection-rules", &form).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert_eq!(&field_message(&page, field), expected, "{field}");
        assert!(
            page.body.contains(&format!("aria-invalid=\"true\" aria-describedby=\"{field}-error\"")),
            "{field}"
        );
    }
    // What was typed stays in the form.
    let page = browser
        .post("/detection-rules", &[("csrf_token", &token), ("name", " "), ("mitre_techniques", "T1110 <x>")])
        .await;
    assert!(page.body.contains("value=\"T1110 &#60;x&#62;\""), "{}", page.body);

    // A duplicate of (source_name, source_rule_id): REST's conflict, above the form.
    rest_rule(&app, json!({"name": "first", "source_name": "elastic", "source_rule_id": "dup-1"})).await;
    let (status, conflict) = app
        .post(
            "/v1/detection-rules",
            &app.admin_key,
            json!({"name": "second", "source_name": "elastic", "source_rule_id": "dup-1"}),
        )
        .await;
    assert_eq!(status, 409);
    let page = browser
        .post(
            "/detection-rules",
            &[
                ("csrf_token", &token),
                ("name", "second"),
                ("source_name", "elastic"),
                ("source_rule_id", "dup-1"),
            ],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains(conflict["error"]["message"].as_str().unwrap()), "{}", page.body);
    assert_eq!(rest_names(&app, "").await, ["first"]);

    // Editing: the same refusal as REST's PATCH, and nothing changes.
    let uuid = rest_rule(&app, json!({"name": "keep me"})).await;
    let (status, refused) =
        app.patch(&format!("/v1/detection-rules/{uuid}"), &app.admin_key, json!({"name": ""})).await;
    assert_eq!(status, 422);
    let page =
        browser.post(&format!("/detection-rules/{uuid}/edit"), &[("csrf_token", &token), ("name", "")]).await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert_eq!(field_message(&page, "name"), rest_messages(&refused)[0].1);
    assert_eq!(
        app.get(&format!("/v1/detection-rules/{uuid}"), &app.admin_key).await.1["data"]["name"],
        "keep me"
    );
}

#[tokio::test]
async fn console_rules_page_shows_sanitized_documentation_its_alerts_and_its_metrics() {
    let app = spawn_app().await;
    let documentation = "## What it detects\n\nSign-ins from two countries. [Runbook](https://wiki.example.test/ir) \
        [bad](javascript:alert(1))\n\n<script>alert(2)</script>\n\n<img src=x onerror=alert(3)>";
    let uuid = rest_rule(
        &app,
        json!({"name": "Impossible travel", "source_name": "generic", "source_rule_id": "R-7",
        "mitre_tactics": ["Initial Access"], "documentation": documentation}),
    )
    .await;
    let first = ingest(
        &app,
        json!({"title": "Travel <one>", "rule_id": "R-7", "severity": "High", "src_ip": "203.0.113.8"}),
    )
    .await;
    let second = ingest(
        &app,
        json!({"title": "Travel two", "rule_id": "R-7", "severity": "Low", "src_ip": "203.0.113.9"}),
    )
    .await;
    let other = ingest(&app, json!({"title": "Unrelated", "src_ip": "203.0.113.10"})).await;
    let (status, _) = app
        .patch(
            &format!("/v1/alerts/{second}"),
            &app.admin_key,
            json!({"status": "Closed", "close_classification": "False Positive - Incorrect Detection Logic"}),
        )
        .await;
    assert_eq!(status, 200);
    let (mut browser, _) = signed_in_with_key(&app, &["alerts:read"]).await;

    let page = browser.get(&format!("/detection-rules/{uuid}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    // Documentation: Markdown rendered, then sanitized.
    assert!(body.contains("<h2>What it detects</h2>"), "{body}");
    assert!(
        body.contains("<a href=\"https://wiki.example.test/ir\" rel=\"noopener noreferrer\">Runbook</a>"),
        "{body}"
    );
    assert!(body.contains("&lt;script&gt;alert(2)&lt;/script&gt;"), "{body}");
    for banned in ["<script>alert(", "<img", "href=\"javascript:", "onerror=alert(3)>"] {
        assert!(!body.contains(banned), "{banned} in {body}");
    }
    // Its alerts, each linking its page, and the queue filtered to them.
    assert!(body.contains(&format!("href=\"/alerts/{first}\">Travel &#60;one&#62;</a>")), "{body}");
    assert!(body.contains(&format!("href=\"/alerts/{second}\"")), "{body}");
    assert!(!body.contains(&format!("/alerts/{other}")), "{body}");
    assert!(body.contains(&format!("href=\"/alerts?detection_rule_uuid={uuid}\"")), "{body}");
    let queue = browser.get(&format!("/alerts?detection_rule_uuid={uuid}")).await;
    assert!(queue.body.contains(&first) && queue.body.contains(&second) && !queue.body.contains(&other));
    // Its metrics: the figures of `/v1/detection-rules/{uuid}/metrics`, drawn as our own SVG.
    let (_, metrics) = app.get(&format!("/v1/detection-rules/{uuid}/metrics"), &app.admin_key).await;
    assert_eq!(metrics["data"]["total_alerts"], 2, "{metrics}");
    assert!(body.contains("id=\"rule-total\"><dt>Alerts</dt><dd class=\"kpi-value\">2</dd>"), "{body}");
    assert!(body.contains("<dd class=\"kpi-value\">100%</dd>"), "one closed, a false positive: {body}");
    for chart in ["rule-over-time", "rule-by-status", "rule-by-severity", "rule-by-classification"] {
        assert!(
            body.contains(&format!("data-calseta-chart class=\"chart\" id=\"{chart}\"")),
            "{chart} in {body}"
        );
    }
    assert_eq!(body.matches("<svg").count(), body.matches("data-calseta-chart").count(), "only our charts");
    // The window is REST's `from`/`to`, refused as REST refuses it.
    let page = browser
        .get(&format!("/detection-rules/{uuid}?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"))
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("from must be before to"), "{}", page.body);
}

#[tokio::test]
async fn console_rules_scopes_decide_what_is_offered_and_allowed() {
    let app = spawn_app().await;
    let uuid = rest_rule(&app, json!({"name": "Read me"})).await;
    let (mut reader, _) = signed_in_with_key(&app, &["alerts:read"]).await;
    let list = reader.get("/detection-rules").await;
    assert_eq!(list.status, 200);
    assert!(!list.body.contains("/detection-rules/new"), "no create offered");
    let page = reader.get(&format!("/detection-rules/{uuid}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("/edit\"") && !page.body.contains("/delete\""), "{}", page.body);
    let token = page.csrf_token();
    assert_eq!(reader.get("/detection-rules/new").await.status, 403);
    assert_eq!(reader.get(&format!("/detection-rules/{uuid}/edit")).await.status, 403);
    for (path, fields) in [
        ("/detection-rules".to_string(), vec![("csrf_token", token.as_str()), ("name", "nope")]),
        (format!("/detection-rules/{uuid}/edit"), vec![("csrf_token", token.as_str()), ("name", "nope")]),
        (format!("/detection-rules/{uuid}/delete"), vec![("csrf_token", token.as_str())]),
    ] {
        assert_eq!(reader.post(&path, &fields).await.status, 403, "{path}");
    }
    assert_eq!(rest_names(&app, "").await, ["Read me"]);

    // Without the CSRF token or from elsewhere, an admin's post changes nothing either.
    let (mut admin, _) = signed_in_with_key(&app, &["admin"]).await;
    assert_eq!(admin.post(&format!("/detection-rules/{uuid}/delete"), &[]).await.status, 403);
    let token = admin.get("/detection-rules").await.csrf_token();
    let foreign = admin
        .post_from(
            &format!("/detection-rules/{uuid}/delete"),
            &[("csrf_token", &token)],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(foreign.status, 403);
    assert_eq!(rest_names(&app, "").await, ["Read me"]);

    let (mut nobody, _) = signed_in_with_key(&app, &["agents:read"]).await;
    assert_eq!(nobody.get("/detection-rules").await.status, 403);
    assert_eq!(nobody.get(&format!("/detection-rules/{uuid}")).await.status, 403);
    assert_eq!(admin.get("/detection-rules/not-a-uuid").await.status, 404);
    assert_eq!(admin.get(&format!("/detection-rules/{}", uuid::Uuid::now_v7())).await.status, 404);
}

/// The `textContent` of the first element matching `css`.
pub(crate) async fn text_content(browser: &ChromeSession, css: &str) -> String {
    let value =
        browser.run("return document.querySelector(arguments[0]).textContent;", vec![json!(css)]).await;
    value.as_str().unwrap_or_else(|| panic!("no {css}")).to_string()
}

/// Sets a field's value as typing would leave it.
pub(crate) async fn set_value(browser: &ChromeSession, css: &str, value: &str) {
    browser
        .run("document.querySelector(arguments[0]).value = arguments[1];", vec![json!(css), json!(value)])
        .await;
}

#[tokio::test]
async fn console_rules_browser_create_and_edit_with_markdown_documentation_renders_sanitized() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    let (key, _) = create_key(&app, json!({"name": "Detection engineer", "scopes": ["admin"]})).await;
    sign_in(&browser, &app, &key, "/detection-rules").await;
    browser.click("a[href='/detection-rules/new']").await;
    browser.wait_for_path("/detection-rules/new").await;
    browser.css("#name").await.send_keys("Brute force").await.unwrap();
    browser.css("#mitre_techniques").await.send_keys("T1110").await.unwrap();
    set_value(&browser, "#documentation", "# Brute force\n\n- many failures\n- then a **success**\n\n<script>alert(1)</script> [x](javascript:alert(2))").await;
    browser.click(".rule-form button[type=submit]").await;
    let uuid = eventually("the new rule's page", std::time::Duration::from_secs(20), || async {
        let url = browser.current_url().await.ok()?;
        let rest = url.path().strip_prefix("/detection-rules/")?;
        uuid::Uuid::parse_str(rest).ok().map(|u| u.to_string())
    })
    .await;
    assert_quiet(&browser, "the new rule").await;
    assert_eq!(text_content(&browser, ".rule-documentation h1").await, "Brute force");
    assert_eq!(text_content(&browser, ".rule-documentation strong").await, "success");
    assert!(text_content(&browser, ".rule-documentation").await.contains("<script>alert(1)</script>"));
    assert_eq!(browser.run(FOREIGN_MARKUP, vec![]).await, json!([]));
    assert_eq!(text_content(&browser, ".rule-techniques").await, "T1110");

    browser.click(&format!("a[href='/detection-rules/{uuid}/edit']")).await;
    browser.wait_for_path(&format!("/detection-rules/{uuid}/edit")).await;
    set_value(&browser, "#documentation", "Now a *table*:\n\n| a | b |\n|---|---|\n| 1 | <b>2</b> |").await;
    browser.click(".rule-form button[type=submit]").await;
    browser.wait_for_path(&format!("/detection-rules/{uuid}")).await;
    assert_eq!(text_content(&browser, ".rule-documentation em").await, "table");
    assert!(text_content(&browser, ".rule-documentation").await.contains("<b>2</b>"), "raw HTML is text");
    assert_quiet(&browser, "the edited rule").await;
    let (_, rule) = app.get(&format!("/v1/detection-rules/{uuid}"), &app.admin_key).await;
    assert!(rule["data"]["documentation"].as_str().unwrap().starts_with("Now a *table*"));

    // A refusal in the browser: the message under the field, the field marked.
    browser.open(&app.url(&format!("/detection-rules/{uuid}/edit"))).await;
    set_value(&browser, "#name", " ").await;
    browser.run("document.querySelector('#name').removeAttribute('required');", vec![]).await;
    browser.click(".rule-form button[type=submit]").await;
    eventually("the refusal", std::time::Duration::from_secs(20), || async {
        browser.find(fantoccini::Locator::Css("#name-error")).await.ok()
    })
    .await;
    assert_eq!(text_content(&browser, "#name-error").await, "name must be 1 to 500 characters");
    browser.quit().await;
}

#[tokio::test]
async fn console_rules_browser_hostile_names_and_documentation_render_inert() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    let mut rules = Vec::new();
    for (i, text) in HOSTILE_TEXTS.iter().enumerate() {
        let uuid = rest_rule(
            &app,
            json!({"name": text, "source_name": "generic", "source_rule_id": format!("H-{i}"),
            "severity": text, "mitre_tactics": [text], "data_sources": [text], "documentation": text}),
        )
        .await;
        ingest(&app, json!({"title": text, "rule_id": format!("H-{i}"), "src_ip": "203.0.113.44"})).await;
        rules.push(uuid);
    }
    let (key, _) = create_key(&app, json!({"name": "Hostile <reader>", "scopes": ["admin"]})).await;
    sign_in(&browser, &app, &key, "/detection-rules").await;
    assert_inert(&browser, &app, "/detection-rules?page_size=50").await;
    let listed = browser
        .run("return [...document.querySelectorAll('.rule-name')].map(a => a.textContent);", vec![])
        .await;
    for text in HOSTILE_TEXTS {
        assert!(listed.as_array().unwrap().contains(&json!(text)), "{text} listed as written: {listed}");
    }
    for (uuid, text) in rules.iter().zip(HOSTILE_TEXTS) {
        assert_inert(&browser, &app, &format!("/detection-rules/{uuid}")).await;
        assert_eq!(text_content(&browser, "#rule-title").await, *text);
        assert_eq!(text_content(&browser, ".rule-tactics").await, *text);
        assert_inert(&browser, &app, &format!("/detection-rules/{uuid}/edit")).await;
        let typed = browser.run("return document.querySelector('#documentation').value;", vec![]).await;
        assert_eq!(typed, json!(text), "the documentation as written in the form");
    }
    browser.quit().await;
}

#[tokio::test]
async fn console_rules_browser_pages_have_no_serious_accessibility_violations() {
    let Some(axe) = axe_core() else { return };
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    let uuid = rest_rule(
        &app,
        json!({"name": "Impossible travel", "source_name": "generic", "source_rule_id": "A-1",
        "severity": "High", "mitre_tactics": ["Initial Access"], "mitre_techniques": ["T1078"],
        "documentation": "## Triage\n\n1. Check the VPN.\n2. [Runbook](https://wiki.example.test)"}),
    )
    .await;
    ingest(&app, json!({"title": "Travel", "rule_id": "A-1", "severity": "High", "src_ip": "203.0.113.60"}))
        .await;
    let (key, _) = create_key(&app, json!({"name": "Axe", "scopes": ["admin"]})).await;
    sign_in(&browser, &app, &key, "/detection-rules").await;
    let paths = [
        "/detection-rules".to_string(),
        "/detection-rules?name=zzz".to_string(),
        "/detection-rules/new".to_string(),
        format!("/detection-rules/{uuid}"),
        format!("/detection-rules/{uuid}/edit"),
    ];
    for dark in [false, true] {
        browser.prefer_dark(dark).await;
        let mut report = Vec::new();
        for path in &paths {
            browser.open(&app.url(path)).await;
            report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("{path}: {v}")));
        }
        // A refused form, its message under the field.
        browser.open(&app.url("/detection-rules/new")).await;
        browser.run("document.querySelector('#name').removeAttribute('required');", vec![]).await;
        browser.click(".rule-form button[type=submit]").await;
        eventually("the refusal", std::time::Duration::from_secs(20), || async {
            browser.find(fantoccini::Locator::Css("#name-error")).await.ok()
        })
        .await;
        report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("refused form: {v}")));
        let theme = if dark { "dark" } else { "light" };
        assert!(report.is_empty(), "axe-core, {theme} theme:\n{}", report.join("\n"));
    }
    browser.quit().await;
}
