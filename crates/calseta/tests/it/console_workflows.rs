//! The console's workflow pages (`/workflows…`): the list with state, risk, approval mode and last
//! run; creating from every template (each one's code validated by the real interpreter); the
//! editor's Validate and Save with each problem at its line and REST's own message; the test
//! runner's log, HTTP steps and result; versions with a diff; the run history with each run's
//! log; settings and secret grants; the scope, CSRF and input refusals — over HTTP, and in
//! Chromium: the edit → validate → fix → test → diff journey, hostile content rendered inert,
//! and axe-core on each page in both themes.

use std::time::Duration;

use calseta_services::resources::workflow_templates::{TemplateKind, templates};
use serde_json::{Value, json};

use crate::browser::ChromeSession;
use crate::console::{Page, create_key, rest_error_messages, signed_in_with_key, unescape};
use crate::console_browser::{
    HOSTILE_TEXTS, assert_inert, assert_quiet, assert_refused_quietly, axe_core, axe_violations, sign_in,
};
use crate::helpers::*;
use crate::respond::{alert_with_account, finished_run};

const GOOD: &str = "from app.workflows.context import WorkflowContext, WorkflowResult\n\n\n\
async def run(ctx: WorkflowContext) -> WorkflowResult:\n    ctx.log.info(\"checking\", value=ctx.indicator.value)\n    \
return WorkflowResult.ok(\"checked \" + ctx.indicator.value)\n";

/// Code that calls an API and logs: the test runner's HTTP steps and both kinds of log entry.
const CALLS_API: &str = "from app.workflows.context import WorkflowContext, WorkflowResult\n\n\n\
async def run(ctx: WorkflowContext) -> WorkflowResult:\n    \
user = await ctx.http.get(f\"https://idp.example.test/users/{ctx.indicator.value}\")\n    \
ctx.log.info(\"looked up\", status=user.status_code)\n    \
done = await ctx.http.post(\"https://idp.example.test/lock\", json={\"id\": user.json()[\"id\"]})\n    \
return WorkflowResult.ok(\"locked \" + user.json()[\"id\"], data={\"status\": done.status_code})\n";

const AUTHOR: &[&str] = &["workflows:read", "workflows:write", "workflows:execute"];

/// Creates a workflow over REST with `extra` fields; its uuid.
async fn workflow(app: &TestApp, name: &str, code: &str, extra: Value) -> String {
    let mut body = json!({"name": name, "code": code});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, created) = app.post("/v1/workflows", &app.admin_key, body).await;
    assert_eq!(status, 201, "{created}");
    created["data"]["uuid"].as_str().unwrap().to_string()
}

/// The page's text with askama's escapes undone (to find a message as REST gives it).
fn text(page: &Page) -> String {
    unescape(&page.body)
}

/// The part of `html` from `start` to the next `end`.
fn section<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("{start} not in page"));
    let rest = &html[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

async fn rest_workflow(app: &TestApp, uuid: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/workflows/{uuid}"), &app.admin_key).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

#[tokio::test]
async fn console_workflows_list_shows_state_risk_approval_and_last_run() {
    let app = spawn_app().await;
    let ran = workflow(
        &app,
        "Lock <b>account</b>",
        GOOD,
        json!({"state": "active", "approval_mode": "never", "risk_level": "high", "indicator_types": ["account"]}),
    )
    .await;
    let draft = workflow(&app, "A draft", GOOD, json!({})).await;
    let alert = alert_with_account(&app, "jdoe@example.com").await;
    let (status, queued) = app
        .post(
            &format!("/v1/workflows/{ran}/execute"),
            &app.admin_key,
            json!({"indicator_type": "account", "indicator_value": "jdoe@example.com", "alert_uuid": alert}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    finished_run(&app, &ran).await;

    let (mut browser, _) = signed_in_with_key(&app, &["workflows:read"]).await;
    let page = browser.get("/workflows").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let row = section(&page.body, &format!("data-workflow-uuid=\"{ran}\""), "</tr>");
    assert!(
        row.contains(&format!("href=\"/workflows/{ran}\">Lock &#60;b&#62;account&#60;/b&#62;</a>")),
        "{row}"
    );
    assert!(
        row.contains("wf-state-active\">active</span>") && row.contains("wf-risk-high\">high</span>"),
        "{row}"
    );
    assert!(row.contains("<td>never</td>") && row.contains("account"), "{row}");
    assert!(
        row.contains(&format!(
            "href=\"/workflows/{ran}/runs\"><span class=\"badge run-success\">success</span>"
        )),
        "{row}"
    );
    assert!(row.contains("<time datetime="), "the last run's time: {row}");
    let row = section(&page.body, &format!("data-workflow-uuid=\"{draft}\""), "</tr>");
    assert!(row.contains("wf-state-draft\">draft</span>") && row.contains(">never</span>"), "{row}");
    // The nine builtins are listed too, marked.
    assert_eq!(page.body.matches("wf-system\">Builtin").count(), 9, "the builtins");
    // A reader is offered no way to create.
    assert!(!page.body.contains("href=\"/workflows/new\""), "a reader sees no New workflow");
    let filtered = browser.get("/workflows?state=draft").await;
    assert!(filtered.body.contains(&draft) && !filtered.body.contains(&ran), "filtered by state");
    let refused = browser.get("/workflows?page_size=0").await;
    assert_eq!(refused.status, 422, "a query REST refuses is refused: {}", refused.body);

    // Without workflows:read the list is refused, as REST refuses it.
    let (mut other, _) = signed_in_with_key(&app, &["alerts:read"]).await;
    assert_eq!(other.get("/workflows").await.status, 403);
    assert_eq!(other.get(&format!("/workflows/{ran}")).await.status, 403);
}

#[tokio::test]
async fn console_workflows_every_template_validates_and_creates_a_workflow() {
    let app = spawn_app().await;
    let (mut browser, _) = signed_in_with_key(&app, AUTHOR).await;
    let picker = browser.get("/workflows/new").await;
    assert_eq!(picker.status, 200, "{}", picker.body);
    let all = templates();
    assert_eq!(all.iter().filter(|t| t.kind == TemplateKind::Builtin).count(), 9);
    for key in ["block_ip", "isolate_host", "disable_account", "open_ticket", "post_to_channel"] {
        assert!(all.iter().any(|t| t.key == key && t.kind == TemplateKind::CommonAction), "{key}");
    }
    for t in &all {
        assert!(
            picker.body.contains(&format!("href=\"/workflows/new?template={}\"", t.key)),
            "{} offered",
            t.key
        );
        let form = browser.get(&format!("/workflows/new?template={}", t.key)).await;
        assert_eq!(form.status, 200);
        let token = form.csrf_token();
        // The form is filled with the template's code, as typed back by a browser (CRLF).
        assert!(text(&form).contains(t.code), "{}: the code is in the form", t.key);
        let code = t.code.replace('\n', "\r\n");
        let name = format!("From {}", t.key);
        let created = browser
            .post(
                "/workflows/new",
                &[("csrf_token", &token), ("template", t.key), ("name", &name), ("code", &code)],
            )
            .await;
        assert_eq!(created.status, 303, "{}: the template's code validates: {}", t.key, created.body);
        let uuid = created.location().trim_start_matches("/workflows/").to_string();
        let stored = rest_workflow(&app, &uuid).await;
        assert_eq!(stored["code"], t.code, "{}: stored with the template's line endings", t.key);
        assert_eq!(stored["state"], "draft");
        assert_eq!(stored["risk_level"], t.risk_level.as_str());
        let types: Vec<&str> = t.indicator_types.iter().map(|i| i.as_str()).collect();
        assert_eq!(stored["indicator_types"], json!(types));
    }
    assert_eq!(browser.get("/workflows/new?template=nope").await.status, 404);
}

#[tokio::test]
async fn console_workflows_bad_code_is_refused_at_its_line_with_rests_message() {
    let app = spawn_app().await;
    let uuid = workflow(&app, "Editor", GOOD, json!({})).await;
    let (mut browser, _) = signed_in_with_key(&app, AUTHOR).await;
    let page = browser.get(&format!("/workflows/{uuid}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<textarea id=\"code\" name=\"code\""), "the editor");
    assert!(page.body.contains("<span class=\"hl-"), "highlighted");
    assert!(page.body.contains("id=\"code-L6\""), "numbered lines");
    assert!(page.body.contains("id=\"ctx-reference-title\""), "the ctx reference");
    let token = page.csrf_token();

    // REST's refusal of the same code.
    let bad = GOOD.replace("from app.workflows", "import json\nimport subprocess\nfrom app.workflows");
    let (status, rest) =
        app.patch(&format!("/v1/workflows/{uuid}"), &app.admin_key, json!({"code": bad})).await;
    assert_eq!((status, rest["error"]["code"].as_str()), (400, Some("WORKFLOW_CODE_INVALID")), "{rest}");
    let messages = rest_error_messages(&rest);
    assert_eq!(messages, ["Line 2, column 0: import of 'subprocess' is not allowed"]);

    for action in ["validate", "save"] {
        let refused = browser
            .post(
                &format!("/workflows/{uuid}/code"),
                &[("csrf_token", &token), ("action", action), ("code", &bad)],
            )
            .await;
        assert_eq!(refused.status, 422, "{action}: {}", refused.body);
        let body = text(&refused);
        for message in &messages {
            assert!(body.contains(message), "{action}: REST's message {message} is shown");
        }
        let problems = section(&refused.body, "id=\"code-error\"", "</div>");
        assert!(problems.contains("<a href=\"#code-L2\">line 2, column 0</a>"), "{problems}");
        assert!(
            refused.body.contains("<span id=\"code-L2\" class=\"wf-ln wf-ln-error\">2</span>"),
            "line 2 marked"
        );
        assert!(!refused.body.contains("class=\"wf-ln wf-ln-error\">3<"), "only line 2");
        assert!(refused.body.contains("aria-invalid=\"true\" aria-describedby=\"code-error\""), "the field");
        assert!(text(&refused).contains("import subprocess"), "{action}: the typed code is kept");
    }
    assert_eq!(rest_workflow(&app, &uuid).await["code_version"], 1, "nothing was saved");

    // A syntax error is located by the parser's own line and column.
    let syntax = "async def run(ctx)\n    return 1\n";
    let (_, rest) =
        app.patch(&format!("/v1/workflows/{uuid}"), &app.admin_key, json!({"code": syntax})).await;
    let message = rest_error_messages(&rest).remove(0);
    assert!(message.starts_with("Syntax error") && message.contains("(line 1, column"), "{message}");
    let refused = browser
        .post(
            &format!("/workflows/{uuid}/code"),
            &[("csrf_token", &token), ("action", "validate"), ("code", syntax)],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(text(&refused).contains(&message), "REST's syntax message");
    assert!(refused.body.contains("class=\"wf-ln wf-ln-error\">1</span>"), "line 1 marked");

    // Creating with bad code is refused the same way, with what was typed kept.
    let new = browser.get("/workflows/new").await;
    let refused = browser
        .post("/workflows/new", &[("csrf_token", &new.csrf_token()), ("name", "Bad <one>"), ("code", &bad)])
        .await;
    assert_eq!(refused.status, 422);
    assert!(text(&refused).contains(&messages[0]) && refused.body.contains("value=\"Bad &#60;one&#62;\""));
    let validated = browser
        .post(
            "/workflows/new",
            &[("csrf_token", &new.csrf_token()), ("action", "validate"), ("name", "V"), ("code", &bad)],
        )
        .await;
    assert_eq!(validated.status, 422);
    assert!(
        validated.body.contains("class=\"wf-ln wf-ln-error\">2</span>"),
        "Validate marks line 2 when creating too"
    );
    let validated = browser
        .post(
            "/workflows/new",
            &[("csrf_token", &new.csrf_token()), ("action", "validate"), ("name", "V"), ("code", GOOD)],
        )
        .await;
    assert_eq!(validated.status, 200);
    assert!(validated.body.contains("id=\"validated-notice\""));
    let (_, list) = app.get("/v1/workflows?page_size=500", &app.admin_key).await;
    assert!(!list["data"].as_array().unwrap().iter().any(|w| w["name"] == "V"), "Validate creates nothing");
    let (status, rest) = app.post("/v1/workflows", &app.admin_key, json!({"name": "", "code": GOOD})).await;
    assert_eq!(status, 422, "{rest}");
    let refused = browser
        .post("/workflows/new", &[("csrf_token", &new.csrf_token()), ("name", ""), ("code", GOOD)])
        .await;
    assert_eq!(refused.status, 422);
    let name_error = section(&refused.body, "id=\"name-error\"", "</p>");
    assert!(
        name_error.contains(&rest_error_messages(&rest)[0]),
        "REST's field message at the name: {name_error}"
    );

    // Validate on good code says so and saves nothing; Save makes a version (CRLF from the
    // browser stored as LF).
    let fixed = GOOD.replace("checked ", "fixed ").replace('\n', "\r\n");
    let ok = browser
        .post(
            &format!("/workflows/{uuid}/code"),
            &[("csrf_token", &token), ("action", "validate"), ("code", &fixed)],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("id=\"validated-notice\"") && !ok.body.contains("wf-ln-error"));
    assert_eq!(rest_workflow(&app, &uuid).await["code_version"], 1);
    let saved = browser
        .post(
            &format!("/workflows/{uuid}/code"),
            &[("csrf_token", &token), ("action", "save"), ("code", &fixed), ("base_version", "1")],
        )
        .await;
    assert_eq!((saved.status, saved.location()), (303, format!("/workflows/{uuid}?saved=2").as_str()));
    let stored = rest_workflow(&app, &uuid).await;
    assert_eq!(
        (stored["code_version"].as_i64(), stored["code"].as_str()),
        (Some(2), Some(fixed.replace("\r\n", "\n").as_str()))
    );
    let page = browser.get(&format!("/workflows/{uuid}?saved=2")).await;
    assert!(page.body.contains("id=\"saved-notice\""));
    // A save from an editor opened at an older version is refused; nothing changes.
    let stale = browser
        .post(
            &format!("/workflows/{uuid}/code"),
            &[("csrf_token", &token), ("action", "save"), ("code", GOOD), ("base_version", "1")],
        )
        .await;
    assert_eq!(stale.status, 422);
    assert!(stale.body.contains("changed by someone else"), "{}", stale.body);
    assert_eq!(rest_workflow(&app, &uuid).await["code_version"], 2);
}

#[tokio::test]
async fn console_workflows_scopes_and_csrf_decide_what_is_shown_and_allowed() {
    let app = spawn_app().await;
    let uuid = workflow(&app, "Guarded", GOOD, json!({"state": "active"})).await;
    let (mut reader, _) = signed_in_with_key(&app, &["workflows:read"]).await;
    let page = reader.get(&format!("/workflows/{uuid}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<textarea id=\"code\"") && !page.body.contains("/code\""), "no editor form");
    assert!(page.body.contains("<span class=\"hl-"), "the code is shown");
    assert!(!page.body.contains(&format!("href=\"/workflows/{uuid}/test\"")), "no Test tab");
    let settings = reader.get(&format!("/workflows/{uuid}/settings")).await;
    assert!(!settings.body.contains("id=\"settings-form\"") && !settings.body.contains("id=\"grants\""));
    let token = page.csrf_token();
    for (path, fields) in [
        (format!("/workflows/{uuid}/code"), vec![("action", "save"), ("code", GOOD)]),
        (format!("/workflows/{uuid}/settings"), vec![("name", "x")]),
        (format!("/workflows/{uuid}/secrets"), vec![("code_version", "1")]),
        (format!("/workflows/{uuid}/test"), vec![("indicator_type", "ip")]),
        ("/workflows/new".to_string(), vec![("name", "x"), ("code", GOOD)]),
    ] {
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend(fields);
        assert_eq!(reader.post(&path, &all).await.status, 403, "{path}");
    }
    assert_eq!(reader.get("/workflows/new").await.status, 403);
    assert_eq!(reader.get(&format!("/workflows/{uuid}/test")).await.status, 403);
    assert_eq!(rest_workflow(&app, &uuid).await["name"], "Guarded");

    // An author's form without the session's token, or from elsewhere, changes nothing.
    let (mut author, _) = signed_in_with_key(&app, AUTHOR).await;
    let path = format!("/workflows/{uuid}/settings");
    assert_eq!(author.post(&path, &[("name", "Renamed")]).await.status, 403);
    let token = author.get(&path).await.csrf_token();
    let foreign = author
        .post_from(&path, &[("csrf_token", &token), ("name", "Renamed")], Some("https://evil.example"))
        .await;
    assert_eq!(foreign.status, 403);
    assert_eq!(rest_workflow(&app, &uuid).await["name"], "Guarded");
    // An unknown workflow is the 404 page on every tab.
    for tab in ["", "/test", "/versions", "/runs", "/settings"] {
        let missing = author.get(&format!("/workflows/00000000-0000-7000-8000-000000000000{tab}")).await;
        assert_eq!(missing.status, 404, "{tab}");
    }
    assert_eq!(author.get("/workflows/not-a-uuid").await.status, 404);
}

#[tokio::test]
async fn console_workflows_test_runner_shows_the_log_http_steps_and_result() {
    let app = spawn_app().await;
    let uuid =
        workflow(&app, "Lock", CALLS_API, json!({"state": "active", "indicator_types": ["account"]})).await;
    let (mut browser, _) = signed_in_with_key(&app, AUTHOR).await;
    let form = browser.get(&format!("/workflows/{uuid}/test")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(
        form.body.contains("name=\"mock_url_0\"")
            && form.body.contains("<option value=\"account\" selected>")
    );
    assert!(!form.body.contains("name=\"live_http\""), "approval mode always: no live test offered");
    let token = form.csrf_token();
    let path = format!("/workflows/{uuid}/test");
    let fields = |extra: &[(&'static str, &'static str)]| {
        let mut all: Vec<(&str, &str)> = vec![
            ("indicator_type", "account"),
            ("indicator_value", "jdoe@example.com"),
            ("mock_method_0", "GET"),
            ("mock_url_0", "https://idp.example.test/users/*"),
            ("mock_status_0", "200"),
            ("mock_body_0", "{\"id\": \"00u1\"}"),
            ("mock_method_1", "POST"),
            ("mock_url_1", "https://idp.example.test/lock"),
            ("mock_status_1", "204"),
            ("mock_body_1", ""),
        ];
        all.extend_from_slice(extra);
        all
    };
    let mut sent = vec![("csrf_token", token.as_str())];
    sent.extend(fields(&[]));
    let result = browser.post(&path, &sent).await;
    assert_eq!(result.status, 200, "{}", result.body);
    let section_html = section(&result.body, "id=\"test-result\"", "</section>");
    assert!(section_html.contains("id=\"result-status\">success</span>"), "{section_html}");
    assert!(section_html.contains("id=\"result-message\">locked 00u1</dd>"), "{section_html}");
    assert!(text(&result).contains("\"status\": 204"), "the result's data");
    let steps = section(section_html, "wf-steps", "</table>");
    assert!(
        steps.contains("<code>GET</code>")
            && steps.contains("https://idp.example.test/users/jdoe@example.com"),
        "{steps}"
    );
    assert!(steps.contains("<code>POST</code>") && steps.contains("run-success\">204</span>"), "{steps}");
    // The platform's entries are marked apart from the workflow's own.
    assert_eq!(section_html.matches("wf-log-entry wf-log-platform").count(), 2, "{section_html}");
    assert_eq!(section_html.matches("wf-log-entry wf-log-workflow").count(), 1, "{section_html}");
    assert!(section_html.contains("<span class=\"wf-log-message prewrap\">looked up</span>"));
    // What was typed is kept.
    assert!(result.body.contains("value=\"https://idp.example.test/users/*\""));

    // REST's answer for the same test: the same result.
    let (status, rest) = app
        .post(
            &format!("/v1/workflows/{uuid}/test"),
            &app.admin_key,
            json!({"indicator_type": "account", "indicator_value": "jdoe@example.com", "mock_http_responses": {
                "GET https://idp.example.test/users/*": {"status": 200, "json": {"id": "00u1"}},
                "POST https://idp.example.test/lock": {"status": 204, "text": ""}}}),
        )
        .await;
    assert_eq!((status, rest["data"]["message"].as_str()), (200, Some("locked 00u1")), "{rest}");

    // Refusals: REST's messages at their fields; an unreadable mock status at its row.
    let (_, rest) = app
        .post(
            &format!("/v1/workflows/{uuid}/test"),
            &app.admin_key,
            json!({"indicator_type": "ipv9", "indicator_value": " "}),
        )
        .await;
    let messages = rest_error_messages(&rest);
    assert_eq!(messages.len(), 2, "{rest}");
    let refused = browser
        .post(&path, &[("csrf_token", &token), ("indicator_type", "ipv9"), ("indicator_value", " ")])
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        text(&refused).contains(&messages[0]) && text(&refused).contains(&messages[1]),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("id=\"indicator_value-error\""));
    let mut sent = vec![("csrf_token", token.as_str())];
    sent.extend(fields(&[("mock_url_2", "https://x.test/"), ("mock_status_2", "abc")]));
    let refused = browser.post(&path, &sent).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("id=\"mock_status_2-error\""), "{}", refused.body);
    // Live HTTP is refused when the approval mode asks a person first, as over REST.
    let mut sent = vec![("csrf_token", token.as_str())];
    sent.extend(fields(&[("live_http", "true")]));
    assert_eq!(browser.post(&path, &sent).await.status, 403);
    // A draft does not run: REST's refusal, above the form.
    let draft = workflow(&app, "Draft", GOOD, json!({})).await;
    let (_, rest) = app.post(&format!("/v1/workflows/{draft}/test"), &app.admin_key, json!({})).await;
    let message = rest["error"]["message"].as_str().unwrap().to_string();
    let form = browser.get(&format!("/workflows/{draft}/test")).await;
    assert!(text(&form).contains(&message), "the form says why it cannot run");
    let refused = browser
        .post(
            &format!("/workflows/{draft}/test"),
            &[("csrf_token", &token), ("indicator_type", "ip"), ("indicator_value", "1.2.3.4")],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(text(&refused).contains(&message), "{}", refused.body);
    // With approval mode never, live requests are offered.
    let open = workflow(&app, "Open", GOOD, json!({"state": "active", "approval_mode": "never"})).await;
    assert!(browser.get(&format!("/workflows/{open}/test")).await.body.contains("name=\"live_http\""));
}

#[tokio::test]
async fn console_workflows_versions_show_a_diff_between_any_two() {
    let app = spawn_app().await;
    let uuid = workflow(&app, "Versions", GOOD, json!({})).await;
    let second = GOOD.replace("checked ", "second <b>&</b> ");
    let third = format!("{second}\n# a comment <script>alert(1)</script>\n");
    for code in [&second, &third] {
        let (status, body) =
            app.patch(&format!("/v1/workflows/{uuid}"), &app.admin_key, json!({"code": code})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (mut browser, _) = signed_in_with_key(&app, &["workflows:read"]).await;
    let page = browser.get(&format!("/workflows/{uuid}/versions")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for v in 1..=3 {
        assert!(page.body.contains(&format!("data-version=\"{v}\"")), "version {v} listed");
    }
    // By default: the previous version against the current code.
    assert!(page.body.contains("Changes from version 2 to version 3"));
    assert!(page.body.contains("<td class=\"diff-sign\">+</td><td class=\"diff-text\"><code># a comment &#60;script&#62;alert(1)&#60;/script&#62;</code>"), "{}", page.body);
    assert!(!page.body.contains("<script>alert(1)"));
    let page = browser.get(&format!("/workflows/{uuid}/versions?from=1&to=3")).await;
    let diff = section(&page.body, "class=\"wf-diff\"", "</section>");
    assert!(diff.contains("<tr class=\"diff-del\">") && diff.contains("<tr class=\"diff-add\">"), "{diff}");
    assert!(
        diff.contains("checked &#34; + ctx") || diff.contains("checked &quot; + ctx"),
        "the removed line: {diff}"
    );
    assert!(diff.contains("second &#60;b&#62;&#38;&#60;/b&#62;"), "the added line, escaped: {diff}");
    assert!(page.body.contains("id=\"diff-summary\""));
    let same = browser.get(&format!("/workflows/{uuid}/versions?from=2&to=2")).await;
    assert!(same.body.contains("id=\"diff-empty\""));
    assert_eq!(browser.get(&format!("/workflows/{uuid}/versions?from=9")).await.status, 404);
}

#[tokio::test]
async fn console_workflows_run_history_shows_each_runs_log() {
    let app = spawn_app().await;
    let uuid = workflow(
        &app,
        "History",
        GOOD,
        json!({"state": "active", "approval_mode": "never", "indicator_types": ["account"]}),
    )
    .await;
    let alert = alert_with_account(&app, "jdoe@example.com").await;
    let (status, body) = app
        .post(
            &format!("/v1/workflows/{uuid}/execute"),
            &app.admin_key,
            json!({"indicator_type": "account", "indicator_value": "jdoe@example.com", "alert_uuid": alert}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let run = finished_run(&app, &uuid).await;
    let (mut browser, _) = signed_in_with_key(&app, &["workflows:read"]).await;
    let page = browser.get(&format!("/workflows/{uuid}/runs")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let item =
        section(&page.body, &format!("data-run-uuid=\"{}\"", run["uuid"].as_str().unwrap()), "</li>\n    ");
    assert!(item.contains("run-success\">success</span>"), "{item}");
    assert!(item.contains("<code>account: jdoe@example.com</code>"), "{item}");
    assert!(item.contains("success: checked jdoe@example.com"), "{item}");
    assert!(
        page.body.contains("wf-log-entry wf-log-workflow") && page.body.contains(">checking</span>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("(1)"), "the count");
    assert_eq!(browser.get(&format!("/workflows/{uuid}/runs?page=0")).await.status, 400);
}

/// `PUT` over REST (the test client has no PUT helper).
async fn put(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .put(app.url(path))
        .header("authorization", format!("Bearer {}", app.admin_key))
        .json(&body)
        .send()
        .await
        .unwrap();
    status_json(response).await
}

#[tokio::test]
async fn console_workflows_settings_and_grants_save_and_refuse_like_rest() {
    let app = spawn_app().await;
    let uuid = workflow(&app, "Settings", GOOD, json!({})).await;
    let (mut browser, _) = signed_in_with_key(&app, AUTHOR).await;
    let path = format!("/workflows/{uuid}/settings");
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("id=\"grants\""), "grants need admin");
    let token = page.csrf_token();
    let fields = |expiry: &'static str| {
        vec![
            ("name", "Settled <i>name</i>"),
            ("state", "active"),
            ("timeout_seconds", "45"),
            ("indicator_types", "ip"),
            ("indicator_types", "domain"),
            ("approval_mode", "agent_only"),
            ("risk_level", "critical"),
            ("approval_timeout_seconds", expiry),
            ("approval_channel", "#soc"),
            ("documentation", "Blocks **things**."),
        ]
    };
    let mut sent = vec![("csrf_token", token.as_str())];
    sent.extend(fields("5"));
    let (_, rest) = app
        .patch(&format!("/v1/workflows/{uuid}"), &app.admin_key, json!({"approval_timeout_seconds": 5}))
        .await;
    let message = rest_error_messages(&rest).remove(0);
    let refused = browser.post(&path, &sent).await;
    assert_eq!(refused.status, 422);
    let error = section(&refused.body, "id=\"approval_timeout_seconds-error\"", "</p>");
    assert!(error.contains(&message), "REST's message at the field: {error}");
    assert!(refused.body.contains("value=\"Settled &#60;i&#62;name&#60;/i&#62;\""), "typed values kept");
    assert_eq!(rest_workflow(&app, &uuid).await["name"], "Settings", "nothing saved");

    let mut sent = vec![("csrf_token", token.as_str())];
    sent.extend(fields("900"));
    let saved = browser.post(&path, &sent).await;
    assert_eq!((saved.status, saved.location()), (303, format!("{path}?saved=settings").as_str()));
    let w = rest_workflow(&app, &uuid).await;
    for (field, expected) in [
        ("name", json!("Settled <i>name</i>")),
        ("state", json!("active")),
        ("is_active", json!(true)),
        ("timeout_seconds", json!(45)),
        ("indicator_types", json!(["ip", "domain"])),
        ("approval_mode", json!("agent_only")),
        ("risk_level", json!("critical")),
        ("approval_timeout_seconds", json!(900)),
        ("approval_channel", json!("#soc")),
        ("documentation", json!("Blocks **things**.")),
    ] {
        assert_eq!(w[field], expected, "{field}");
    }

    // Secret grants: an admin's form, confirmed for the version shown.
    let (status, _) =
        put(&app, "/v1/workflow-secrets/FIREWALL_API_KEY", json!({"value": "s3cret-value"})).await;
    assert_eq!(status, 200);
    let (mut admin, _) = signed_in_with_key(&app, &["admin"]).await;
    let page = admin.get(&path).await;
    let grants = section(&page.body, "id=\"grants\"", "</section>");
    assert!(grants.contains("name=\"secret\" value=\"FIREWALL_API_KEY\">"), "{grants}");
    assert!(!page.body.contains("s3cret-value"), "a secret's value is never shown");
    let token = page.csrf_token();
    let grants_path = format!("/workflows/{uuid}/secrets");
    let saved = admin
        .post(
            &grants_path,
            &[
                ("csrf_token", &token),
                ("code_version", "1"),
                ("secret", "FIREWALL_API_KEY"),
                ("more", "LATER_ONE"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let (_, grants) = app.get(&format!("/v1/workflows/{uuid}/secrets"), &app.admin_key).await;
    assert_eq!(grants["data"]["secrets"], json!(["FIREWALL_API_KEY", "LATER_ONE"]));
    assert_eq!(grants["data"]["confirmed_code_version"], 1);
    let page = admin.get(&format!("{path}?saved=grants")).await;
    assert!(
        page.body.contains(
            "value=\"LATER_ONE\" checked> <code>LATER_ONE</code> <span class=\"small muted\">(not stored yet)"
        ),
        "{}",
        page.body
    );
    // A bad name: REST's message at the field; a stale version: REST's conflict, above the form.
    let (_, rest) = put(
        &app,
        &format!("/v1/workflows/{uuid}/secrets"),
        json!({"secrets": ["bad name"], "code_version": 1}),
    )
    .await;
    let message = rest_error_messages(&rest).remove(0);
    let refused = admin
        .post(&grants_path, &[("csrf_token", &token), ("code_version", "1"), ("more", "bad name")])
        .await;
    assert_eq!(refused.status, 422);
    assert!(section(&refused.body, "id=\"secrets-error\"", "</p>").contains(&message), "{}", refused.body);
    let refused =
        admin.post(&grants_path, &[("csrf_token", &token), ("code_version", "7"), ("secret", "A")]).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("(WORKFLOW_CODE_CHANGED)"), "{}", refused.body);
    let (_, grants) = app.get(&format!("/v1/workflows/{uuid}/secrets"), &app.admin_key).await;
    assert_eq!(grants["data"]["secrets"], json!(["FIREWALL_API_KEY", "LATER_ONE"]), "unchanged");
    // New code from a key without admin suspends them; the page says so.
    let code_page = browser.get(&format!("/workflows/{uuid}")).await;
    let saved = browser
        .post(
            &format!("/workflows/{uuid}/code"),
            &[
                ("csrf_token", &code_page.csrf_token()),
                ("action", "save"),
                ("code", GOOD),
                ("base_version", "1"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303);
    let page = admin.get(&path).await;
    assert!(page.body.contains("id=\"grants-suspended\""), "{}", page.body);

    // Deleting: the name typed again; a builtin is refused as over REST.
    let delete = format!("/workflows/{uuid}/delete");
    let token = browser.get(&path).await.csrf_token();
    assert_eq!(browser.post(&delete, &[("csrf_token", &token), ("confirm", "wrong")]).await.status, 422);
    let deleted = browser.post(&delete, &[("csrf_token", &token), ("confirm", "Settled <i>name</i>")]).await;
    assert_eq!((deleted.status, deleted.location()), (303, "/workflows?deleted=1"));
    assert!(browser.get("/workflows?deleted=1").await.body.contains("id=\"deleted-notice\""));
    let (status, _) = app.get(&format!("/v1/workflows/{uuid}"), &app.admin_key).await;
    assert_eq!(status, 404);
    let (_, builtins) = app.get("/v1/workflows?sort_by=name&sort_order=asc", &app.admin_key).await;
    let builtin =
        builtins["data"].as_array().unwrap().iter().find(|w| w["is_system"] == true).unwrap().clone();
    let builtin_settings =
        browser.get(&format!("/workflows/{}/settings", builtin["uuid"].as_str().unwrap())).await;
    assert!(!builtin_settings.body.contains("id=\"delete-form\""), "no delete form for a builtin");
    let refused = browser
        .post(
            &format!("/workflows/{}/delete", builtin["uuid"].as_str().unwrap()),
            &[("csrf_token", &token), ("confirm", builtin["name"].as_str().unwrap())],
        )
        .await;
    assert_eq!(refused.status, 403);
}

/// A workflow whose name, documentation and code carry the hostile set, and whose runs log and
/// return it: (uuid, code).
async fn hostile_workflow(app: &TestApp) -> (String, String) {
    let literals: Vec<String> = HOSTILE_TEXTS.iter().map(|t| serde_json::to_string(t).unwrap()).collect();
    let comments: Vec<String> = HOSTILE_TEXTS.iter().map(|t| format!("# {t}")).collect();
    let code = format!(
        "from app.workflows.context import WorkflowResult\n\n{}\nTEXTS = [{}]\n\n\nasync def run(ctx):\n    \
         for text in TEXTS:\n        ctx.log.info(text, text=text)\n    \
         await ctx.http.get(\"https://api.example.test/<script>alert(1)</script>\")\n    \
         return WorkflowResult.ok(\" \".join(TEXTS), data={{\"texts\": TEXTS}})\n",
        comments.join("\n"),
        literals.join(", ")
    );
    let uuid = workflow(
        app,
        &format!("{} {} {}", HOSTILE_TEXTS[0], HOSTILE_TEXTS[1], HOSTILE_TEXTS[8]),
        &code,
        json!({"state": "active", "approval_mode": "never", "documentation": HOSTILE_TEXTS.join("\n\n"),
               "indicator_types": ["account"]}),
    )
    .await;
    // A second version, so the diff shows hostile lines too.
    let (status, body) = app
        .patch(
            &format!("/v1/workflows/{uuid}"),
            &app.admin_key,
            json!({"code": code.replace("# {{7*7}}", "# changed {{7*7}}")}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (uuid, code)
}

#[tokio::test]
async fn console_workflows_browser_hostile_content_renders_inert() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    let (uuid, _) = hostile_workflow(&app).await;
    let alert = alert_with_account(&app, "<img src=x onerror=alert(1)>").await;
    let (status, body) = app
        .post(
            &format!("/v1/workflows/{uuid}/execute"),
            &app.admin_key,
            json!({"indicator_type": "account", "indicator_value": "<img src=x onerror=alert(1)>", "alert_uuid": alert}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    finished_run(&app, &uuid).await;
    let (key, _) = create_key(&app, json!({"name": "<svg onload=alert(1)>", "scopes": ["admin"]})).await;
    sign_in(&browser, &app, &key, "/workflows").await;
    for path in [
        "/workflows".to_string(),
        format!("/workflows/{uuid}"),
        format!("/workflows/{uuid}/versions?from=1&to=2"),
        format!("/workflows/{uuid}/runs"),
        format!("/workflows/{uuid}/settings"),
        format!("/workflows/{uuid}/test"),
    ] {
        assert_inert(&browser, &app, &path).await;
        let shown = browser.run("return document.body.innerText", vec![]).await;
        let shown = shown.as_str().unwrap();
        assert!(shown.contains("<script>alert(1)</script>"), "{path}: the literal text is visible");
        assert!(shown.contains("{{7*7}}"), "{path}: template syntax shown as written");
    }
    // The runs page: the log's entries, written by the workflow, are text.
    browser.open(&app.url(&format!("/workflows/{uuid}/runs"))).await;
    browser.click("details.wf-run-details summary").await;
    let messages = browser
        .run("return [...document.querySelectorAll('.wf-log-workflow .wf-log-message')].map(e => e.textContent)", vec![])
        .await;
    assert_eq!(messages, json!(HOSTILE_TEXTS), "each logged text shown as written");
    // The editor's highlighted view and textarea hold the code as written.
    browser.open(&app.url(&format!("/workflows/{uuid}"))).await;
    let (view, area) = (
        browser.run("return document.querySelector('.wf-code code').textContent", vec![]).await,
        browser.run("return document.getElementById('code').value", vec![]).await,
    );
    assert_eq!(
        view.as_str().unwrap().trim_end(),
        area.as_str().unwrap().trim_end(),
        "the view shows the code"
    );
    for hostile in HOSTILE_TEXTS {
        assert!(area.as_str().unwrap().contains(hostile), "{hostile}");
    }
    // A test run whose log and result are the hostile set.
    browser.open(&app.url(&format!("/workflows/{uuid}/test"))).await;
    browser.css("#indicator_value").await.clear().await.unwrap();
    browser.css("#indicator_value").await.send_keys("<svg onload=alert(1)>").await.unwrap();
    browser.css("#mock_url_0").await.send_keys("https://api.example.test/*").await.unwrap();
    browser
        .css("#mock_body_0")
        .await
        .send_keys("<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>")
        .await
        .unwrap();
    browser.click("#run-test").await;
    eventually("the test result shows", Duration::from_secs(30), || async {
        browser.find(fantoccini::Locator::Css("#test-result")).await.ok().map(|_| ())
    })
    .await;
    assert_quiet(&browser, "the test result").await;
    let foreign = browser.run(crate::console_browser::FOREIGN_MARKUP, vec![]).await;
    assert_eq!(foreign, json!([]), "the test result is inert");
    let message = browser.css("#result-message").await.text().await.unwrap();
    assert_eq!(message, HOSTILE_TEXTS.join(" ").trim(), "the result's message as written");
    let logged = browser
        .run("return [...document.querySelectorAll('#test-result .wf-log-workflow .wf-log-message')].map(e => e.textContent)", vec![])
        .await;
    assert_eq!(logged, json!(HOSTILE_TEXTS));
    browser.quit().await;
}

#[tokio::test]
async fn console_workflows_browser_journey_edit_validate_fix_test_and_diff() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    let uuid = workflow(&app, "Journey", GOOD, json!({"state": "active", "indicator_types": ["ip"]})).await;
    let (key, _) = create_key(&app, json!({"name": "Author", "scopes": AUTHOR})).await;
    sign_in(&browser, &app, &key, "/workflows").await;
    browser.click(&format!("a[href='/workflows/{uuid}']")).await;
    browser.wait_for_path(&format!("/workflows/{uuid}")).await;
    assert_quiet(&browser, "the editor").await;

    // Edit: a forbidden import on line 5. Validate marks line 5 and lists REST's message.
    let broken = GOOD.replace(
        "async def run(ctx: WorkflowContext) -> WorkflowResult:\n",
        "import os\nasync def run(ctx: WorkflowContext) -> WorkflowResult:\n",
    );
    assert_eq!(broken.lines().nth(3), Some("import os"));
    browser.run("document.getElementById('code').value = arguments[0]", vec![json!(broken)]).await;
    browser.click("#validate-button").await;
    eventually("Validate shows the problem", Duration::from_secs(30), || async {
        browser.find(fantoccini::Locator::Css("#code-error")).await.ok().map(|_| ())
    })
    .await;
    let (_, rest) =
        app.patch(&format!("/v1/workflows/{uuid}"), &app.admin_key, json!({"code": broken})).await;
    let message = rest_error_messages(&rest).remove(0);
    assert!(message.starts_with("Line 4, column 0:"), "{message}");
    let listed = browser.css("#code-error .wf-problem-message").await.text().await.unwrap();
    assert_eq!(listed, message);
    let marked =
        browser.run("return [...document.querySelectorAll('.wf-ln-error')].map(e => e.id)", vec![]).await;
    assert_eq!(marked, json!(["code-L4"]), "line 4 is marked");
    assert_eq!(browser.css("#code").await.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    assert_refused_quietly(&browser, "validate").await;

    // Fix it and save: a new version.
    let fixed = GOOD.replace("checked ", "fixed ");
    browser.run("document.getElementById('code').value = arguments[0]", vec![json!(fixed)]).await;
    browser.click("#validate-button").await;
    eventually("Validate finds nothing", Duration::from_secs(30), || async {
        browser.find(fantoccini::Locator::Css("#validated-notice")).await.ok().map(|_| ())
    })
    .await;
    browser.click("#save-button").await;
    eventually("the save lands", Duration::from_secs(30), || async {
        (rest_workflow(&app, &uuid).await["code_version"] == 2).then_some(())
    })
    .await;
    eventually("the saved notice", Duration::from_secs(20), || async {
        browser.find(fantoccini::Locator::Css("#saved-notice")).await.ok().map(|_| ())
    })
    .await;
    assert_eq!(rest_workflow(&app, &uuid).await["code"], fixed.as_str());

    // Test run: the log shows the workflow's entry.
    browser.click(&format!("a[href='/workflows/{uuid}/test']")).await;
    browser.wait_for_path(&format!("/workflows/{uuid}/test")).await;
    browser.click("#run-test").await;
    eventually("the test result", Duration::from_secs(30), || async {
        browser.find(fantoccini::Locator::Css("#test-result")).await.ok().map(|_| ())
    })
    .await;
    assert_eq!(browser.css("#result-status").await.text().await.unwrap(), "success");
    assert_eq!(browser.css("#result-message").await.text().await.unwrap(), "fixed 1.2.3.4");
    let log = browser.run("return [...document.querySelectorAll('#test-result .wf-log-workflow .wf-log-message')].map(e => e.textContent)", vec![]).await;
    assert_eq!(log, json!(["checking"]));
    assert_quiet(&browser, "the test run").await;

    // Versions: the new version and its diff.
    browser.click(&format!("a[href='/workflows/{uuid}/versions']")).await;
    browser.wait_for_path(&format!("/workflows/{uuid}/versions")).await;
    let rows = browser
        .run("return [...document.querySelectorAll('tr[data-version]')].map(r => r.dataset.version)", vec![])
        .await;
    assert_eq!(rows, json!(["2", "1"]));
    let added = browser
        .run(
            "return [...document.querySelectorAll('tr.diff-add .diff-text')].map(e => e.textContent)",
            vec![],
        )
        .await;
    let removed = browser
        .run(
            "return [...document.querySelectorAll('tr.diff-del .diff-text')].map(e => e.textContent)",
            vec![],
        )
        .await;
    assert_eq!(added, json!(["    return WorkflowResult.ok(\"fixed \" + ctx.indicator.value)"]));
    assert_eq!(removed, json!(["    return WorkflowResult.ok(\"checked \" + ctx.indicator.value)"]));
    assert_quiet(&browser, "the diff").await;
    browser.quit().await;
}

#[tokio::test]
async fn console_workflows_browser_pages_have_no_serious_accessibility_violations() {
    let Some(axe) = axe_core() else { return };
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    let uuid = workflow(&app, "Accessible", CALLS_API, json!({"state": "active"})).await;
    let (status, _) = app
        .patch(
            &format!("/v1/workflows/{uuid}"),
            &app.admin_key,
            json!({"code": CALLS_API.replace("lock", "unlock")}),
        )
        .await;
    assert_eq!(status, 200);
    let (key, _) = create_key(&app, json!({"name": "Admin", "scopes": ["admin"]})).await;
    sign_in(&browser, &app, &key, "/workflows").await;
    for dark in [false, true] {
        browser.prefer_dark(dark).await;
        let mut report = Vec::new();
        for path in [
            "/workflows".to_string(),
            "/workflows/new?template=block_ip".to_string(),
            format!("/workflows/{uuid}"),
            format!("/workflows/{uuid}/versions"),
            format!("/workflows/{uuid}/runs"),
            format!("/workflows/{uuid}/settings"),
        ] {
            browser.open(&app.url(&path)).await;
            report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("{path}: {v}")));
        }
        // The editor with problems marked.
        browser.open(&app.url(&format!("/workflows/{uuid}"))).await;
        browser
            .run("document.getElementById('code').value = 'import os\\nasync def run(ctx)\\n'", vec![])
            .await;
        browser.click("#validate-button").await;
        eventually("the problems", Duration::from_secs(30), || async {
            browser.find(fantoccini::Locator::Css("#code-error")).await.ok().map(|_| ())
        })
        .await;
        report.extend(
            axe_violations(&browser, &axe).await.into_iter().map(|v| format!("editor with problems: {v}")),
        );
        // The test result.
        browser.open(&app.url(&format!("/workflows/{uuid}/test"))).await;
        browser.css("#mock_url_0").await.send_keys("https://idp.example.test/*").await.unwrap();
        browser.css("#mock_body_0").await.send_keys("{\"id\": \"00u1\"}").await.unwrap();
        browser.click("#run-test").await;
        eventually("the test result", Duration::from_secs(30), || async {
            browser.find(fantoccini::Locator::Css("#test-result")).await.ok().map(|_| ())
        })
        .await;
        report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("test result: {v}")));
        let theme = if dark { "dark" } else { "light" };
        assert!(report.is_empty(), "axe-core, {theme} theme:\n{}", report.join("\n"));
    }
    browser.quit().await;
}
