//! The console's context documents (`/context-documents…`): the list and each document's page
//! (Markdown sanitized), create, edit and delete through the same service REST uses, the
//! targeting-rule builder without JavaScript (rows added and removed by submit buttons) and its
//! refusals next to the row with REST's message, the preview of the last alerts (counts and the
//! clause that matched each, as HTML and as JSON), uploads converted and shown for review before
//! saving (CSRF and `Origin` checked as for any form), and in Chromium: the journey from a
//! targeting rule to an alert's Context and its agent payload, hostile documents rendered inert,
//! and axe-core on every page in both themes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::browser::ChromeSession;
use crate::console::{Browser, Page, create_key, signed_in_with_key, unescape};
use crate::console_browser::{
    HOSTILE_TEXTS, assert_inert, assert_quiet, assert_refused_quietly, axe_core, axe_violations, ingest,
    sign_in, text_of,
};
use crate::helpers::*;
use crate::knowledge::{minimal_docx, minimal_pdf};

async fn editor(app: &TestApp) -> (Browser, String) {
    signed_in_with_key(app, &["alerts:read", "alerts:write"]).await
}

/// Creates a document through REST; its uuid.
async fn rest_document(app: &TestApp, body: Value) -> String {
    let (status, created) = app.post("/v1/context-documents", &app.admin_key, body).await;
    assert_eq!(status, 201, "{created}");
    created["data"]["uuid"].as_str().unwrap().to_string()
}

/// The document as REST reads it (`None` when gone).
async fn rest_get(app: &TestApp, uuid: &str) -> Option<Value> {
    let (status, body) = app.get(&format!("/v1/context-documents/{uuid}"), &app.admin_key).await;
    (status == 200).then(|| body["data"].clone())
}

async fn rest_total(app: &TestApp) -> i64 {
    let (_, list) = app.get("/v1/context-documents", &app.admin_key).await;
    list["meta"]["total"].as_i64().unwrap()
}

/// REST's refusal messages for a document `body`, by field.
async fn rest_refusal(app: &TestApp, body: Value) -> Vec<(String, String)> {
    let (status, refused) = app.post("/v1/context-documents", &app.admin_key, body).await;
    assert_eq!(status, 422, "{refused}");
    refused["error"]["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (e["loc"][1].as_str().unwrap_or_default().to_string(), e["msg"].as_str().unwrap().to_string())
        })
        .collect()
}

/// The message shown under the input named `name` (the `field_error` macro), unescaped.
fn field_error(page: &Page, name: &str) -> Option<String> {
    let marker = format!("id=\"{name}-error\">");
    let start = page.body.find(&marker)? + marker.len();
    Some(unescape(page.body[start..].split("</p>").next()?))
}

/// The editor's fields for a document with `conditions` (group, field, op, value) and `action`.
pub(crate) fn editor_form<'a>(
    token: &'a str,
    title: &'a str,
    content: &'a str,
    conditions: &'a [(&'a str, &'a str, &'a str, &'a str)],
    action: &'a str,
) -> Vec<(String, String)> {
    let mut fields = vec![
        ("csrf_token".to_string(), token.to_string()),
        ("title".into(), title.into()),
        ("document_type".into(), "runbook".into()),
        ("description".into(), "From the console".into()),
        ("tags".into(), "identity, tor".into()),
        ("content".into(), content.into()),
        ("scope".into(), "targeted".into()),
        ("action".into(), action.into()),
    ];
    for (i, (group, field, op, value)) in conditions.iter().enumerate() {
        fields.push((format!("cond_group_{i}"), group.to_string()));
        fields.push((format!("cond_field_{i}"), field.to_string()));
        fields.push((format!("cond_op_{i}"), op.to_string()));
        fields.push((format!("cond_value_{i}"), value.to_string()));
    }
    fields
}

/// The preview endpoint's answer to `form`.
async fn json_preview(browser: &mut Browser, form: Vec<(String, String)>) -> Value {
    let page = post_fields(browser, "/context-documents/preview", &form).await;
    assert_eq!(page.status, 200, "{}", page.body);
    serde_json::from_str(&page.body).unwrap()
}

pub(crate) async fn post_fields(browser: &mut Browser, path: &str, fields: &[(String, String)]) -> Page {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    browser.post(path, &pairs).await
}

/// Posts `fields` and `file` as `multipart/form-data` from `origin`, with the browser's cookies.
async fn post_upload(
    app: &TestApp,
    browser: &Browser,
    fields: &[(&str, &str)],
    file: Option<(&str, Vec<u8>)>,
    origin: Option<&str>,
) -> Page {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    if let Some((name, bytes)) = file {
        form = form.part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
    }
    let cookies = browser.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut request =
        client.post(app.url("/context-documents/upload")).header("cookie", cookies).multipart(form);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    Page { status, headers, body: response.text().await.unwrap() }
}

#[tokio::test]
async fn console_documents_list_and_detail_render_sanitized_markdown_and_follow_the_keys_scopes() {
    let app = spawn_app().await;
    let global = rest_document(
        &app,
        json!({"title": "Company IR Plan", "document_type": "ir_plan", "is_global": true,
               "content": "# Call the IR lead\n\n<script>alert(1)</script>\n\nSee [a link](javascript:alert(1))."}),
    )
    .await;
    let targeted = rest_document(
        &app,
        json!({"title": "High and up", "document_type": "runbook", "content": "1. Revoke sessions",
               "targeting_rules": {"match_all": [{"field": "severity", "op": "gte", "value": "High"}],
                                   "match_any": [{"field": "tags", "op": "in", "value": ["vip", "finance"]}]}}),
    )
    .await;
    rest_document(&app, json!({"title": "Everything", "document_type": "sop", "content": "x"})).await;

    let (mut browser, _) = editor(&app).await;
    let list = browser.get("/context-documents").await;
    assert_eq!(list.status, 200, "{}", list.body);
    for text in [
        "Company IR Plan",
        "Global: every alert",
        "High and up",
        "Targeted: all of 1 and any of 1 conditions",
        "Every alert (no conditions)",
        "ir_plan",
        "<time datetime=",
        "href=\"/context-documents/new\"",
        "href=\"/context-documents/upload\"",
    ] {
        assert!(list.body.contains(text), "the list shows {text}: {}", list.body);
    }
    assert!(list.body.contains(&format!("href=\"/context-documents/{global}\"")));
    // Paged as REST pages.
    let first = browser.get("/context-documents?page_size=2").await;
    assert!(first.body.contains("rel=\"next\"") && first.body.contains("page=2"), "{}", first.body);
    let refused = browser.get("/context-documents?page_size=0").await;
    assert_eq!(refused.status, 422, "{}", refused.body);

    // The Markdown is rendered and sanitized: the heading is markup, the script is text.
    let detail = browser.get(&format!("/context-documents/{global}")).await;
    assert_eq!(detail.status, 200);
    assert!(detail.body.contains("<h1>Call the IR lead</h1>"), "{}", detail.body);
    assert!(detail.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{}", detail.body);
    assert!(detail.body.contains("See <a") && !detail.body.contains("href=\"javascript:"), "{}", detail.body);
    assert!(detail.body.contains(&format!("action=\"/context-documents/{global}/delete\"")));
    let detail = browser.get(&format!("/context-documents/{targeted}")).await;
    assert!(
        detail.body.contains("severity gte High") && detail.body.contains("tags in [vip, finance]"),
        "{}",
        detail.body
    );
    assert_eq!(browser.get("/context-documents/not-a-uuid").await.status, 404);
    assert_eq!(browser.get("/context-documents/00000000-0000-0000-0000-000000000000").await.status, 404);

    // A read-only key reads, and is offered nothing it may not do; the server refuses it anyway.
    let (mut reader, _) = signed_in_with_key(&app, &["alerts:read"]).await;
    let list = reader.get("/context-documents").await;
    assert_eq!(list.status, 200);
    assert!(
        !list.body.contains("/context-documents/new") && !list.body.contains("/context-documents/upload")
    );
    let detail = reader.get(&format!("/context-documents/{global}")).await;
    assert!(!detail.body.contains("/delete") && !detail.body.contains("/edit"), "{}", detail.body);
    for path in
        ["/context-documents/new", "/context-documents/upload", &format!("/context-documents/{global}/edit")]
    {
        assert_eq!(reader.get(path).await.status, 403, "{path}");
    }
    let token = reader.get("/context-documents").await.csrf_token();
    let page = reader.post(&format!("/context-documents/{global}/delete"), &[("csrf_token", &token)]).await;
    assert_eq!(page.status, 403);
    let form = editor_form(&token, "Sneaky", "x", &[], "save");
    assert_eq!(post_fields(&mut reader, "/context-documents/new", &form).await.status, 403);
    assert_eq!(post_fields(&mut reader, "/context-documents/preview", &form).await.status, 403);
    assert!(rest_get(&app, &global).await.is_some(), "nothing was deleted");
    assert_eq!(rest_total(&app).await, 3, "nothing was created");

    // A key that may write documents but not read alerts edits without the preview (it lists
    // alerts), and the preview endpoint refuses it.
    let (mut writer, _) = signed_in_with_key(&app, &["alerts:write"]).await;
    let page = writer.get("/context-documents/new").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("needs a key with the alerts:read scope") && !page.body.contains("preview-count")
    );
    let token = page.csrf_token();
    let form = editor_form(&token, "T", "C", &[], "preview");
    assert_eq!(post_fields(&mut writer, "/context-documents/preview", &form).await.status, 403);

    // A key without alerts:read is refused the list, as REST refuses it.
    let (mut outsider, _) = signed_in_with_key(&app, &["approvals:write"]).await;
    assert_eq!(outsider.get("/context-documents").await.status, 403);
}

#[tokio::test]
async fn console_documents_create_edit_and_delete_round_trip_through_the_builder() {
    let app = spawn_app().await;
    let (mut browser, _) = editor(&app).await;
    let blank = browser.get("/context-documents/new").await;
    assert_eq!(blank.status, 200, "{}", blank.body);
    for name in ["cond_group_0", "cond_field_0", "cond_op_0", "cond_value_0", "scope", "content"] {
        assert!(blank.body.contains(&format!("name=\"{name}\"")), "{name}");
    }
    let token = blank.csrf_token();

    // Save: the rows become the JSON REST's targeting_rules takes (an "in" value is a list; a row
    // without a value is left out).
    let form = editor_form(
        &token,
        "Account Compromise Runbook",
        "# Steps\n\n1. Revoke sessions",
        &[
            ("all", "severity", "gte", "High"),
            ("any", "tags", "in", "vip, finance"),
            ("any", "source_name", "eq", "elastic"),
            ("all", "source_name", "eq", ""),
        ],
        "save",
    );
    let saved = post_fields(&mut browser, "/context-documents/new", &form).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let uuid = saved.location().strip_prefix("/context-documents/").unwrap().to_string();
    let stored = rest_get(&app, &uuid).await.unwrap();
    assert_eq!(
        stored["targeting_rules"],
        json!({"match_all": [{"field": "severity", "op": "gte", "value": "High"}],
               "match_any": [{"field": "tags", "op": "in", "value": ["vip", "finance"]},
                             {"field": "source_name", "op": "eq", "value": "elastic"}]})
    );
    assert_eq!(
        (&stored["title"], &stored["tags"], &stored["is_global"], &stored["version"], &stored["description"]),
        (
            &json!("Account Compromise Runbook"),
            &json!(["identity", "tor"]),
            &json!(false),
            &json!(1),
            &json!("From the console")
        )
    );
    assert_eq!(stored["content"], "# Steps\n\n1. Revoke sessions");

    // The edit form shows the rules as rows again.
    let edit = browser.get(&format!("/context-documents/{uuid}/edit")).await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("name=\"cond_value_0\" value=\"High\""), "{}", edit.body);
    assert!(edit.body.contains("name=\"cond_value_1\" value=\"vip, finance\""), "{}", edit.body);
    assert!(edit.body.contains("name=\"cond_value_2\" value=\"elastic\""));
    assert!(edit.body.contains(&format!("action=\"/context-documents/{uuid}/edit\"")));

    // Editing: a new text bumps the version; a global document keeps no rules.
    let mut form = editor_form(&token, "Account Compromise Runbook v2", "1. Revoke\n2. Reset", &[], "save");
    form.retain(|(k, _)| k != "scope");
    form.push(("scope".into(), "global".into()));
    let saved = post_fields(&mut browser, &format!("/context-documents/{uuid}/edit"), &form).await;
    assert_eq!((saved.status, saved.location()), (303, format!("/context-documents/{uuid}").as_str()));
    let stored = rest_get(&app, &uuid).await.unwrap();
    assert_eq!(
        (&stored["title"], &stored["version"], &stored["is_global"], &stored["targeting_rules"]),
        (&json!("Account Compromise Runbook v2"), &json!(2), &json!(true), &Value::Null)
    );

    // Without the CSRF token nothing changes.
    let mut forged = editor_form("", "Forged", "x", &[], "save");
    forged.remove(0);
    assert_eq!(
        post_fields(&mut browser, &format!("/context-documents/{uuid}/edit"), &forged).await.status,
        403
    );
    assert_eq!(post_fields(&mut browser, "/context-documents/new", &forged).await.status, 403);
    assert_eq!(browser.post(&format!("/context-documents/{uuid}/delete"), &[]).await.status, 403);
    assert_eq!(rest_get(&app, &uuid).await.unwrap()["version"], 2);

    // Delete, back to the list.
    let deleted = browser.post(&format!("/context-documents/{uuid}/delete"), &[("csrf_token", &token)]).await;
    assert_eq!((deleted.status, deleted.location()), (303, "/context-documents"));
    assert!(rest_get(&app, &uuid).await.is_none());
    let again = browser.post(&format!("/context-documents/{uuid}/delete"), &[("csrf_token", &token)]).await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn console_documents_builder_adds_and_removes_rows_without_javascript() {
    let app = spawn_app().await;
    let (mut browser, _) = editor(&app).await;
    let token = browser.get("/context-documents/new").await.csrf_token();
    let rows = [("all", "severity", "eq", "High"), ("any", "tags", "eq", "vip")];
    let added =
        post_fields(&mut browser, "/context-documents/new", &editor_form(&token, "T", "C", &rows, "add"))
            .await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert!(added.body.contains("name=\"cond_value_2\" value=\"\""), "one more, empty row: {}", added.body);
    assert!(added.body.contains("name=\"cond_value_1\" value=\"vip\""), "what was typed is kept");
    assert!(added.body.contains("name=\"title\" maxlength=\"500\" required value=\"T\""), "{}", added.body);

    let removed = post_fields(
        &mut browser,
        "/context-documents/new",
        &editor_form(&token, "T", "C", &rows, "remove_0"),
    )
    .await;
    assert_eq!(removed.status, 200);
    assert!(removed.body.contains("name=\"cond_value_0\" value=\"vip\""), "{}", removed.body);
    assert!(!removed.body.contains("name=\"cond_value_1\""));
    let unknown =
        post_fields(&mut browser, "/context-documents/new", &editor_form(&token, "T", "C", &rows, "explode"))
            .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(rest_total(&app).await, 0, "none of these saved anything");
}

#[tokio::test]
async fn console_documents_refusals_are_rests_messages_next_to_the_field() {
    let app = spawn_app().await;
    let (mut browser, _) = editor(&app).await;
    let token = browser.get("/context-documents/new").await.csrf_token();

    // A field the rules do not support (a tampered form): refused by the same validation as REST,
    // with REST's message, under the row's field select.
    let rows = [("all", "severity", "eq", "High"), ("any", "title", "eq", "x")];
    let page =
        post_fields(&mut browser, "/context-documents/new", &editor_form(&token, "T", "C", &rows, "save"))
            .await;
    assert_eq!(page.status, 422, "{}", page.body);
    let rest = rest_refusal(
        &app,
        json!({"title": "T", "document_type": "runbook", "content": "C",
               "targeting_rules": {"match_all": [{"field": "severity", "op": "eq", "value": "High"}],
                                   "match_any": [{"field": "title", "op": "eq", "value": "x"}]}}),
    )
    .await;
    let rest_message = &rest.iter().find(|(f, _)| f == "targeting_rules").unwrap().1;
    assert_eq!(field_error(&page, "cond_field_1").as_deref(), Some(rest_message.as_str()));
    assert!(page.body.contains("id=\"cond_field_1\" name=\"cond_field_1\" aria-invalid=\"true\" aria-describedby=\"cond_field_1-error\""), "{}", page.body);
    assert!(
        page.body.contains("<option value=\"title\" selected>title</option>"),
        "the refused value is shown"
    );
    assert_eq!(field_error(&page, "cond_field_0"), None);

    // An operator outside the list, under the row's operator.
    let rows = [("all", "severity", "like", "High")];
    let page =
        post_fields(&mut browser, "/context-documents/new", &editor_form(&token, "T", "C", &rows, "preview"))
            .await;
    assert_eq!(page.status, 422);
    let rest = rest_refusal(
        &app,
        json!({"title": "T", "document_type": "runbook", "content": "C",
               "targeting_rules": {"match_all": [{"field": "severity", "op": "like", "value": "High"}]}}),
    )
    .await;
    assert_eq!(field_error(&page, "cond_op_0").as_deref(), Some(rest[0].1.as_str()));

    // The preview endpoint refuses the same rules with the same message, by input.
    let form = editor_form(&token, "T", "C", &rows, "preview");
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let preview = browser.post("/context-documents/preview", &pairs).await;
    assert_eq!(preview.status, 422, "{}", preview.body);
    let body: Value = serde_json::from_str(&preview.body).unwrap();
    assert_eq!(body["errors"], json!([{"field": "cond_op_0", "message": rest[0].1}]));

    // The document's own fields: REST's messages under each.
    let mut form = editor_form(&token, " ", " ", &[], "save");
    form.retain(|(k, _)| k != "document_type");
    form.push(("document_type".into(), "novel".into()));
    let page = post_fields(&mut browser, "/context-documents/new", &form).await;
    assert_eq!(page.status, 422, "{}", page.body);
    let rest = rest_refusal(&app, json!({"title": " ", "document_type": "novel", "content": " "})).await;
    for (field, message) in &rest {
        assert_eq!(field_error(&page, field).as_deref(), Some(message.as_str()), "{field}");
    }
    assert!(page.body.contains("This was not saved"));
    assert_eq!(rest_total(&app).await, 0);
}

#[tokio::test]
async fn console_documents_preview_counts_the_last_alerts_with_the_clause_that_matched_each() {
    let app = spawn_app().await;
    let mut alerts = Vec::new();
    for (title, severity, tags) in [
        ("Low noise", "low", json!([])),
        ("VIP sign-in", "medium", json!(["vip"])),
        ("Ransomware on host-7", "high", json!(["finance"])),
        ("Domain admin added", "critical", json!(["vip"])),
    ] {
        alerts.push(ingest(&app, json!({"title": title, "severity": severity, "tags": tags})).await);
    }
    let (mut browser, _) = editor(&app).await;
    let token = browser.get("/context-documents/new").await.csrf_token();
    let preview = |rows: Vec<(&'static str, &'static str, &'static str, &'static str)>, global: bool| {
        let mut form = editor_form(&token, "T", "C", &[], "preview");
        for (i, (group, field, op, value)) in rows.into_iter().enumerate() {
            form.push((format!("cond_group_{i}"), group.into()));
            form.push((format!("cond_field_{i}"), field.into()));
            form.push((format!("cond_op_{i}"), op.into()));
            form.push((format!("cond_value_{i}"), value.into()));
        }
        if global {
            form.push(("scope".into(), "global".into()));
        }
        form
    };

    let high = json_preview(&mut browser, preview(vec![("all", "severity", "gte", "High")], false)).await;
    assert_eq!(
        (high["considered"].clone(), high["matched"].clone(), high["window"].clone()),
        (json!(4), json!(2), json!(1000))
    );
    assert_eq!(
        high["examples"],
        json!([
            {"uuid": alerts[3], "title": "Domain admin added", "severity": "Critical", "source_name": "generic",
             "detection_rule": null, "clauses": "all of: severity gte High"},
            {"uuid": alerts[2], "title": "Ransomware on host-7", "severity": "High", "source_name": "generic",
             "detection_rule": null, "clauses": "all of: severity gte High"},
        ]),
        "newest first, each with the clause the alert page would show"
    );
    assert_eq!(
        high["targeting_rules"],
        json!({"match_all": [{"field": "severity", "op": "gte", "value": "High"}]})
    );
    let vip = json_preview(
        &mut browser,
        preview(vec![("any", "tags", "eq", "vip"), ("any", "severity", "eq", "High")], false),
    )
    .await;
    assert_eq!(vip["matched"], 3);
    assert_eq!(vip["examples"][0]["clauses"], "any of: tags eq vip");
    assert_eq!(vip["examples"][1]["clauses"], "any of: severity eq High");
    let both = json_preview(
        &mut browser,
        preview(
            vec![
                ("all", "severity", "gte", "Medium"),
                ("any", "tags", "in", "vip, finance"),
                ("any", "source_name", "eq", "elastic"),
            ],
            false,
        ),
    )
    .await;
    assert_eq!(both["matched"], 3);
    assert_eq!(
        both["examples"][0]["clauses"],
        "any of: tags in [vip, finance] and all of: severity gte Medium"
    );
    let none =
        json_preview(&mut browser, preview(vec![("all", "source_name", "eq", "sentinel")], false)).await;
    assert_eq!((none["matched"].clone(), none["examples"].clone()), (json!(0), json!([])));
    let every = json_preview(&mut browser, preview(vec![], false)).await;
    assert_eq!(every["matched"], 4);
    assert_eq!(every["examples"][0]["clauses"], "no targeting rules (every alert)");
    let global =
        json_preview(&mut browser, preview(vec![("all", "source_name", "eq", "sentinel")], true)).await;
    assert_eq!(global["matched"], 4);
    assert_eq!(global["examples"][0]["clauses"], "global: attached to every alert");

    // Without JavaScript: the Preview button shows the form again with the same preview.
    let page = post_fields(
        &mut browser,
        "/context-documents/new",
        &preview(vec![("all", "severity", "gte", "High")], false),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<strong id=\"preview-count\" data-matched=\"2\">2</strong> of the last <span id=\"preview-considered\">4</span>"), "{}", page.body);
    assert!(page.body.contains(&format!("<a href=\"/alerts/{}\">Domain admin added</a>", alerts[3])));
    assert!(page.body.contains("Matched by all of: severity gte High"));
    assert!(!page.body.contains(&format!("/alerts/{}\"", alerts[0])), "the low alert is not an example");

    // What the preview promised is what a saved document gets on the alerts' pages.
    let saved = post_fields(&mut browser, "/context-documents/new", &{
        let mut form = preview(vec![("all", "severity", "gte", "High")], false);
        form.retain(|(k, _)| k != "action");
        form.push(("action".into(), "save".into()));
        form
    })
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    for (i, alert) in alerts.iter().enumerate() {
        let page = browser.get(&format!("/alerts/{alert}")).await;
        assert_eq!(page.body.contains("Matched by all of: severity gte High"), i >= 2, "alert {i}");
    }
}

/// The titles of the documents REST's `GET /v1/alerts/{uuid}/context` attaches to an alert.
async fn context_titles(app: &TestApp, alert: &str) -> Vec<String> {
    let (status, context) = app.get(&format!("/v1/alerts/{alert}/context"), &app.admin_key).await;
    assert_eq!(status, 200, "{context}");
    context["data"].as_array().unwrap().iter().map(|d| d["title"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn console_documents_detection_rule_conditions_preview_attach_and_refuse_like_rest() {
    let app = spawn_app().await;
    for (name, id) in [
        ("Okta - Impossible Travel", "OK-1"),
        ("okta: MFA fatigue", "OK-2"),
        ("Azure - Risky sign-in", "AZ-1"),
    ] {
        let (status, rule) = app
            .post(
                "/v1/detection-rules",
                &app.admin_key,
                json!({"name": name, "source_name": "generic", "source_rule_id": id}),
            )
            .await;
        assert_eq!(status, 201, "{rule}");
    }
    // The generic source's rule_id links an alert to the rule with that source_rule_id.
    let travel = ingest(
        &app,
        json!({"title": "Travel", "rule_id": "OK-1", "severity": "High", "src_ip": "203.0.113.70"}),
    )
    .await;
    let mfa = ingest(
        &app,
        json!({"title": "Push storm", "rule_id": "OK-2", "severity": "Low", "src_ip": "203.0.113.71"}),
    )
    .await;
    let azure = ingest(
        &app,
        json!({"title": "Risky", "rule_id": "AZ-1", "severity": "High", "src_ip": "203.0.113.72"}),
    )
    .await;
    let ruleless = ingest(&app, json!({"title": "Okta in the title only", "src_ip": "203.0.113.73"})).await;
    let (status, detail) = app.get(&format!("/v1/alerts/{travel}"), &app.admin_key).await;
    assert_eq!(status, 200);
    assert!(detail.to_string().contains("Okta - Impossible Travel"), "linked: {detail}");

    let (mut browser, _) = editor(&app).await;
    let blank = browser.get("/context-documents/new").await;
    assert!(
        blank.body.contains("<option value=\"detection_rule\">Detection rule</option>"),
        "the builder offers the field"
    );
    let token = blank.csrf_token();
    let rows = [("any", "detection_rule", "contains", "OKTA")];

    // The live preview: exactly the two Okta rules' alerts (any case), newest first, each with
    // the clause that matched it and its rule's name.
    let preview = json_preview(
        &mut browser,
        editor_form(&token, "Okta runbook", "Revoke Okta sessions.", &rows, "preview"),
    )
    .await;
    assert_eq!(
        (preview["considered"].clone(), preview["matched"].clone()),
        (json!(4), json!(2)),
        "{preview}"
    );
    assert_eq!(
        preview["examples"],
        json!([
            {"uuid": mfa, "title": "Push storm", "severity": "Low", "source_name": "generic",
             "detection_rule": "okta: MFA fatigue", "clauses": "any of: detection_rule contains OKTA"},
            {"uuid": travel, "title": "Travel", "severity": "High", "source_name": "generic",
             "detection_rule": "Okta - Impossible Travel", "clauses": "any of: detection_rule contains OKTA"},
        ])
    );
    assert_eq!(
        preview["targeting_rules"],
        json!({"match_any": [{"field": "detection_rule", "op": "contains", "value": "OKTA"}]})
    );
    let exact = json_preview(
        &mut browser,
        editor_form(
            &token,
            "T",
            "C",
            &[("all", "detection_rule", "in", "Azure - Risky sign-in, Other")],
            "preview",
        ),
    )
    .await;
    assert_eq!(exact["matched"], 1);
    assert_eq!(exact["examples"][0]["uuid"], json!(azure));
    // Without JavaScript, the same preview in the page.
    let page = post_fields(
        &mut browser,
        "/context-documents/new",
        &editor_form(&token, "Okta runbook", "Revoke Okta sessions.", &rows, "preview"),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("data-matched=\"2\">2</strong>"), "{}", page.body);
    assert!(page.body.contains("Matched by any of: detection_rule contains OKTA"));
    assert!(page.body.contains("generic · rule Okta - Impossible Travel"));
    assert!(page.body.contains("<option value=\"detection_rule\" selected>Detection rule</option>"));

    // Saved through the builder: in the Okta alerts' context, not in the others'.
    let saved = post_fields(
        &mut browser,
        "/context-documents/new",
        &editor_form(&token, "Okta runbook", "Revoke Okta sessions.", &rows, "save"),
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let uuid = saved.location().strip_prefix("/context-documents/").unwrap().to_string();
    assert_eq!(
        rest_get(&app, &uuid).await.unwrap()["targeting_rules"],
        json!({"match_any": [{"field": "detection_rule", "op": "contains", "value": "OKTA"}]})
    );
    for (alert, attached) in [(&travel, true), (&mfa, true), (&azure, false), (&ruleless, false)] {
        let titles = context_titles(&app, alert).await;
        assert_eq!(titles.contains(&"Okta runbook".to_string()), attached, "{alert}: {titles:?}");
        let page = browser.get(&format!("/alerts/{alert}")).await;
        assert_eq!(
            page.body.contains("Matched by any of: detection_rule contains OKTA"),
            attached,
            "{alert}"
        );
    }

    // REST takes the same rule, and evaluates it the same way.
    rest_document(
        &app,
        json!({"title": "Azure exact", "document_type": "sop", "content": "C",
               "targeting_rules": {"match_all": [{"field": "detection_rule", "op": "eq", "value": "Azure - Risky sign-in"}]}}),
    )
    .await;
    assert!(context_titles(&app, &azure).await.contains(&"Azure exact".to_string()));
    assert!(!context_titles(&app, &travel).await.contains(&"Azure exact".to_string()));

    // An operator the field does not take: REST's message, under the row's operator.
    let bad = [("any", "detection_rule", "gte", "Okta")];
    let page =
        post_fields(&mut browser, "/context-documents/new", &editor_form(&token, "T", "C", &bad, "save"))
            .await;
    assert_eq!(page.status, 422, "{}", page.body);
    let rest = rest_refusal(
        &app,
        json!({"title": "T", "document_type": "runbook", "content": "C",
               "targeting_rules": {"match_any": [{"field": "detection_rule", "op": "gte", "value": "Okta"}]}}),
    )
    .await;
    let rest_message = &rest.iter().find(|(f, _)| f == "targeting_rules").unwrap().1;
    assert_eq!(rest_message, "match_any[0].op must be one of eq, in, contains for field detection_rule");
    assert_eq!(field_error(&page, "cond_op_0").as_deref(), Some(rest_message.as_str()));
    assert_eq!(field_error(&page, "cond_field_0"), None);
    assert_eq!(rest_total(&app).await, 2, "nothing saved");
}

#[tokio::test]
async fn console_documents_preview_evaluates_only_the_last_thousand_alerts() {
    let app = spawn_app().await;
    let seed = ingest(&app, json!({"title": "The oldest", "severity": "low"})).await;
    // 1,005 older Critical alerts, stored directly (ingesting them one by one would take minutes).
    let uuid = if app.database.url.starts_with("postgres") { "gen_random_uuid()" } else { "randomblob(16)" };
    exec_sql(
        &app,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1005) \
             INSERT INTO alerts (uuid, title, severity, source_name, occurred_at, ingested_at, created_at, updated_at, tags) \
             SELECT {uuid}, 'Bulk alert', 'Critical', 'generic', a.occurred_at, a.ingested_at, a.created_at, a.updated_at, '[\"bulk\"]' \
             FROM n CROSS JOIN (SELECT occurred_at, ingested_at, created_at, updated_at FROM alerts LIMIT 1) AS a"
        ),
    )
    .await;
    for title in ["New one", "New two", "New three"] {
        ingest(&app, json!({"title": title, "severity": "low"})).await;
    }
    let (mut browser, _) = editor(&app).await;
    let token = browser.get("/context-documents/new").await.csrf_token();
    let low = json_preview(
        &mut browser,
        editor_form(&token, "T", "C", &[("all", "severity", "eq", "Low")], "preview"),
    )
    .await;
    assert_eq!(
        (low["considered"].clone(), low["matched"].clone()),
        (json!(1000), json!(3)),
        "the oldest is outside the window"
    );
    assert!(!low.to_string().contains(&seed));
    let bulk = json_preview(
        &mut browser,
        editor_form(&token, "T", "C", &[("all", "tags", "eq", "bulk")], "preview"),
    )
    .await;
    assert_eq!(bulk["matched"], 997);
    assert_eq!(bulk["examples"].as_array().unwrap().len(), 10, "ten examples at most");
}

#[tokio::test]
async fn console_documents_uploads_show_the_converted_text_before_saving() {
    let app = spawn_app().await;
    let (mut browser, _) = editor(&app).await;
    let form = browser.get("/context-documents/upload").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("enctype=\"multipart/form-data\""));
    let token = form.csrf_token();
    let own = app.base.clone();

    // A DOCX: converted by REST's converter, shown for review, not saved.
    let review = post_upload(
        &app,
        &browser,
        &[("csrf_token", &token), ("title", ""), ("document_type", "playbook")],
        Some(("playbook.docx", minimal_docx())),
        Some(&own),
    )
    .await;
    assert_eq!(review.status, 200, "{}", review.body);
    assert!(review.body.contains("Converted from <strong>playbook.docx</strong>"), "{}", review.body);
    assert!(
        unescape(&review.body)
            .contains(">\n# Ransomware Playbook\n\nDisconnect the host & call IR.</textarea>"),
        "the converted text, editable: {}",
        review.body
    );
    assert!(review.body.contains("name=\"title\" maxlength=\"500\" required value=\"playbook\""));
    assert!(review.body.contains("<option value=\"playbook\" selected>"));
    assert!(review.body.contains("action=\"/context-documents/new\""));
    assert_eq!(rest_total(&app).await, 0, "nothing is saved before the review");

    // The reviewed (and corrected) text is what is saved.
    let mut save = editor_form(
        &token,
        "Ransomware Playbook",
        "# Ransomware Playbook\n\nDisconnect the host & call IR now.",
        &[("all", "severity", "eq", "Critical")],
        "save",
    );
    save.push(("source_file".into(), "playbook.docx".into()));
    let saved = post_fields(&mut browser, "/context-documents/new", &save).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let uuid = saved.location().strip_prefix("/context-documents/").unwrap();
    assert_eq!(
        rest_get(&app, uuid).await.unwrap()["content"],
        "# Ransomware Playbook\n\nDisconnect the host & call IR now."
    );

    // A PDF too.
    let review = post_upload(
        &app,
        &browser,
        &[("csrf_token", &token), ("title", "Host isolation SOP"), ("document_type", "sop")],
        Some(("sop.pdf", minimal_pdf("Isolate the host"))),
        Some(&own),
    )
    .await;
    assert_eq!(review.status, 200, "{}", review.body);
    assert!(review.body.contains("Isolate the host"), "{}", review.body);
    assert!(review.body.contains("value=\"Host isolation SOP\""));

    // An unsupported type is refused at the file input, with REST's message.
    let refused = post_upload(
        &app,
        &browser,
        &[("csrf_token", &token), ("title", "Tool"), ("document_type", "sop")],
        Some(("tool.exe", b"MZ\x90\x00".to_vec())),
        Some(&own),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let rest = {
        let form = reqwest::multipart::Form::new()
            .text("title", "Tool")
            .text("document_type", "sop")
            .part("file", reqwest::multipart::Part::bytes(b"MZ\x90\x00".to_vec()).file_name("tool.exe"));
        let response = app
            .client
            .post(app.url("/v1/context-documents"))
            .bearer_auth(&app.admin_key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        status_json(response).await.1
    };
    let expected = format!(
        "{} ({})",
        rest["error"]["message"].as_str().unwrap(),
        rest["error"]["code"].as_str().unwrap()
    );
    assert_eq!(field_error(&refused, "file").as_deref(), Some(expected.as_str()), "{}", refused.body);
    assert!(refused.body.contains("aria-invalid=\"true\" aria-describedby=\"file-error\""));
    assert!(refused.body.contains("value=\"Tool\""), "what was typed is kept");
    let unreadable = post_upload(
        &app,
        &browser,
        &[("csrf_token", &token), ("document_type", "sop")],
        Some(("broken.pdf", b"%PDF-1.7\nnot really".to_vec())),
        Some(&own),
    )
    .await;
    assert_eq!(unreadable.status, 422, "{}", unreadable.body);
    assert!(field_error(&unreadable, "file").unwrap().contains("UNSUPPORTED_FORMAT"));
    let missing = post_upload(&app, &browser, &[("csrf_token", &token)], None, Some(&own)).await;
    assert_eq!(
        (missing.status, field_error(&missing, "file").as_deref()),
        (422, Some("Choose a file to upload."))
    );

    // The multipart form is checked as every form: the session's token, from this origin.
    for (fields, origin) in [
        (vec![], Some(own.as_str())),
        (vec![("csrf_token", "0123456789abcdef")], Some(own.as_str())),
        (vec![("csrf_token", token.as_str())], Some("http://evil.example")),
        (vec![("csrf_token", token.as_str())], None),
    ] {
        let page = post_upload(&app, &browser, &fields, Some(("a.md", b"# A".to_vec())), origin).await;
        assert_eq!(page.status, 403, "{fields:?} from {origin:?}");
        assert!(page.body.contains("not sent from this console"));
    }
    let (mut reader, _) = signed_in_with_key(&app, &["alerts:read"]).await;
    let reader_token = reader.get("/context-documents").await.csrf_token();
    let page = post_upload(
        &app,
        &reader,
        &[("csrf_token", &reader_token)],
        Some(("a.md", b"# A".to_vec())),
        Some(&own),
    )
    .await;
    assert_eq!(page.status, 403);
    assert_eq!(rest_total(&app).await, 1, "only the reviewed document was saved");
}

/// Waits until the preview count reads `count` and no refresh of the preview is in flight.
async fn wait_count(browser: &ChromeSession, count: &str) {
    // Settled too: a change not yet answered — its request waiting out the typing pause or in
    // flight — dims the preview (`aria-busy`), and what the test checks next (axe's contrast
    // among it) would see it mid-update.
    eventually(&format!("the preview count to be {count}"), Duration::from_secs(20), || async {
        let busy = browser
            .run("return document.getElementById('targeting-preview').hasAttribute('aria-busy')", vec![])
            .await;
        (text_of(browser, "#preview-count").await == count && busy == serde_json::Value::Bool(false))
            .then_some(())
    })
    .await;
}

/// Replaces the text of the input matching `css` as a person would (select all, type).
async fn retype(browser: &ChromeSession, css: &str, text: &str) {
    let input = browser.css(css).await;
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

#[tokio::test]
async fn console_documents_browser_journey_from_a_targeting_rule_to_the_alerts_context_and_payload() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    let low = ingest(&app, json!({"title": "Low noise", "severity": "low"})).await;
    let high =
        ingest(&app, json!({"title": "Ransomware on host-7", "severity": "high", "tags": ["finance"]})).await;
    let critical =
        ingest(&app, json!({"title": "Domain admin added", "severity": "critical", "tags": ["vip"]})).await;
    let (key, _) =
        create_key(&app, json!({"name": "Docs editor", "scopes": ["alerts:read", "alerts:write"]})).await;
    sign_in(&browser, &app, &key, "/context-documents").await;

    browser.click("a[href='/context-documents/new']").await;
    browser.wait_for_path("/context-documents/new").await;
    wait_count(&browser, "3").await; // no condition yet: every alert
    browser.css("#title").await.send_keys("Escalation runbook").await.unwrap();
    browser.css("#content").await.send_keys("1. Page the on-call lead").await.unwrap();
    browser.css("#cond_op_0").await.select_by_value("gte").await.unwrap();
    browser.css("#cond_value_0").await.send_keys("High").await.unwrap();
    wait_count(&browser, "2").await;
    retype(&browser, "#cond_value_0", "Critical").await;
    wait_count(&browser, "1").await;
    // Stale from the change itself, while its request still waits out the typing pause.
    let busy = browser
        .run(
            "const input = document.getElementById('cond_value_0'); \
             input.dispatchEvent(new Event('input', {bubbles: true})); \
             return document.getElementById('targeting-preview').getAttribute('aria-busy')",
            vec![],
        )
        .await;
    assert_eq!(busy, json!("true"), "the preview is marked busy at once");
    wait_count(&browser, "1").await;
    assert_eq!(text_of(&browser, "#preview-examples li a").await, "Domain admin added");
    assert_eq!(
        text_of(&browser, "#preview-examples .preview-clause").await,
        "Matched by all of: severity gte Critical"
    );
    // A second condition through the no-JavaScript button (the form comes back with one more row).
    browser.click("button[name=action][value=add]").await;
    eventually("the added row", Duration::from_secs(20), || async {
        browser.find(fantoccini::Locator::Css("#cond_value_1")).await.ok()
    })
    .await;
    browser.css("#cond_group_1").await.select_by_value("any").await.unwrap();
    browser.css("#cond_field_1").await.select_by_value("tags").await.unwrap();
    browser.css("#cond_value_1").await.send_keys("finance").await.unwrap();
    wait_count(&browser, "0").await; // critical and tagged finance: none
    browser.css("#cond_group_0").await.select_by_value("any").await.unwrap();
    wait_count(&browser, "2").await; // critical, or tagged finance
    let rules: Value = serde_json::from_str(&text_of(&browser, "#targeting-json").await).unwrap();
    assert_eq!(
        rules,
        json!({"match_any": [{"field": "severity", "op": "gte", "value": "Critical"},
                             {"field": "tags", "op": "eq", "value": "finance"}]}),
        "the JSON REST would take, kept in step"
    );
    assert_quiet(&browser, "the editor").await;

    browser.click("#save-document").await;
    eventually("the document's page", Duration::from_secs(20), || async {
        let path = browser.path().await;
        (path.starts_with("/context-documents/") && !path.ends_with("/new")).then_some(path)
    })
    .await;
    assert_eq!(text_of(&browser, "#document-title").await, "Escalation runbook");
    assert_eq!(text_of(&browser, "#document-reach").await, "Attached to 2 of the last 3 alerts");

    // It is in the Context of the matching alerts, with the clause that matched…
    browser.open(&app.url(&format!("/alerts/{critical}"))).await;
    let context = text_of(&browser, "#context").await;
    assert!(
        context.contains("Escalation runbook")
            && context.contains("Matched by any of: severity gte Critical"),
        "{context}"
    );
    browser.open(&app.url(&format!("/alerts/{high}"))).await;
    assert!(text_of(&browser, "#context").await.contains("Matched by any of: tags eq finance"));
    browser.open(&app.url(&format!("/alerts/{low}"))).await;
    assert!(!text_of(&browser, "#context").await.contains("Escalation runbook"));
    assert_quiet(&browser, "the alert pages").await;

    // …and in the next agent payload of those alerts only.
    for (alert, expected) in [(&critical, true), (&high, true), (&low, false)] {
        let (status, payload) = app.get(&format!("/v1/alerts/{alert}/payload"), &app.admin_key).await;
        assert_eq!(status, 200, "{payload}");
        let titles: Vec<&str> = payload["context_documents"]
            .as_array()
            .or_else(|| payload["data"]["context_documents"].as_array())
            .unwrap()
            .iter()
            .filter_map(|d| d["title"].as_str())
            .collect();
        assert_eq!(titles.contains(&"Escalation runbook"), expected, "{alert}: {titles:?}");
        if expected {
            assert!(payload.to_string().contains("1. Page the on-call lead"));
        }
    }
    browser.quit().await;
}

#[tokio::test]
async fn console_documents_browser_hostile_documents_render_inert_with_their_text_visible() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    // Alerts with hostile titles, for the preview's examples.
    for text in HOSTILE_TEXTS.iter().take(4) {
        ingest(&app, json!({"title": text, "severity": "high"})).await;
    }
    let body = HOSTILE_TEXTS.join("\n\n");
    let mut uuids = Vec::new();
    for text in HOSTILE_TEXTS {
        uuids.push(
            rest_document(
                &app,
                json!({"title": text, "document_type": "runbook", "description": text, "tags": [text],
                       "content": body,
                       "targeting_rules": {"match_any": [{"field": "tags", "op": "eq", "value": text}]}}),
            )
            .await,
        );
    }
    let (key, _) =
        create_key(&app, json!({"name": "Docs editor", "scopes": ["alerts:read", "alerts:write"]})).await;
    sign_in(&browser, &app, &key, "/context-documents?page_size=50").await;
    assert_inert(&browser, &app, "/context-documents?page_size=50").await;
    let list = browser.run("return document.body.innerText", vec![]).await;
    for text in HOSTILE_TEXTS {
        assert!(list.as_str().unwrap().contains(text), "the list shows {text} as written");
    }
    for (uuid, text) in uuids.iter().zip(HOSTILE_TEXTS) {
        for path in [format!("/context-documents/{uuid}"), format!("/context-documents/{uuid}/edit")] {
            assert_inert(&browser, &app, &path).await;
        }
        browser.open(&app.url(&format!("/context-documents/{uuid}"))).await;
        assert_eq!(text_of(&browser, "#document-title").await, *text, "the title, character for character");
        // Markup in the body is shown as written (Markdown's own syntax, such as `*` for
        // emphasis, is still Markdown: `{{7*7}}` there is emphasis, inert either way).
        let shown = text_of(&browser, "#document-content").await;
        for literal in
            ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "{% raw %}{{ config }}{% endraw %}"]
        {
            assert!(shown.contains(literal), "{uuid}: the body shows {literal} as written: {shown}");
        }
        let about = text_of(&browser, "#about-title + .facts").await;
        assert!(about.contains(text), "{uuid}: the description and tag show {text} as written: {about}");
    }
    // The live preview builds hostile alert titles as text.
    assert_inert(&browser, &app, "/context-documents/new").await;
    browser.css("#cond_value_0").await.send_keys("High").await.unwrap();
    wait_count(&browser, "4").await;
    let titles = browser
        .run(
            "return [...document.querySelectorAll('#preview-examples li a')].map(a => a.textContent)",
            vec![],
        )
        .await;
    for text in HOSTILE_TEXTS.iter().take(4) {
        assert!(titles.as_array().unwrap().contains(&json!(text)), "{text} in {titles}");
    }
    assert_quiet(&browser, "the live preview").await;
    let foreign = browser.run(crate::console_browser::FOREIGN_MARKUP, vec![]).await;
    assert_eq!(foreign, json!([]), "the preview built no markup from alert titles");
    browser.quit().await;
}

#[tokio::test]
async fn console_documents_browser_pages_have_no_serious_accessibility_violations() {
    let Some(axe) = axe_core() else { return };
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    ingest(&app, json!({"title": "Domain admin added", "severity": "critical", "tags": ["vip"]})).await;
    let uuid = rest_document(
        &app,
        json!({"title": "Account Compromise Runbook", "document_type": "runbook", "description": "When an account is taken over",
               "tags": ["identity"], "content": "# Steps\n\n1. Revoke sessions\n2. Reset the password\n\n| Step | Who |\n|---|---|\n| 1 | SOC |",
               "targeting_rules": {"match_all": [{"field": "severity", "op": "gte", "value": "High"}]}}),
    )
    .await;
    rest_document(
        &app,
        json!({"title": "IR plan", "document_type": "ir_plan", "is_global": true, "content": "Call."}),
    )
    .await;
    let (key, _) =
        create_key(&app, json!({"name": "Docs editor", "scopes": ["alerts:read", "alerts:write"]})).await;
    sign_in(&browser, &app, &key, "/context-documents").await;
    let dir = TempDir::new();
    let file = dir.0.join("playbook.docx");
    std::fs::write(&file, minimal_docx()).unwrap();

    for dark in [false, true] {
        browser.prefer_dark(dark).await;
        let mut report = Vec::new();
        for path in [
            "/context-documents".to_string(),
            format!("/context-documents/{uuid}"),
            format!("/context-documents/{uuid}/edit"),
        ] {
            browser.open(&app.url(&path)).await;
            report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("{path}: {v}")));
        }
        // The editor with a live preview listing an alert, and with a refused row.
        browser.open(&app.url("/context-documents/new")).await;
        browser.css("#cond_value_0").await.send_keys("Critical").await.unwrap();
        wait_count(&browser, "1").await;
        report.extend(
            axe_violations(&browser, &axe).await.into_iter().map(|v| format!("editor with preview: {v}")),
        );
        assert_quiet(&browser, "the editor's live preview").await;
        // A blank title (the browser's own `required` check passes spaces): refused by the
        // service, the message next to the field.
        browser.css("#title").await.send_keys("  ").await.unwrap();
        browser.click("#save-document").await;
        eventually("the refusal", Duration::from_secs(20), || async {
            (!text_of(&browser, "#title-error").await.is_empty()).then_some(())
        })
        .await;
        report
            .extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("refused editor: {v}")));
        // The refused form is answered 422, which Chrome logs; nothing else may be.
        assert_refused_quietly(&browser, "refused editor").await;
        // The upload form, then the review of the converted file.
        browser.open(&app.url("/context-documents/upload")).await;
        report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("upload: {v}")));
        browser.css("#file").await.send_keys(file.to_str().unwrap()).await.unwrap();
        browser.click("form[action='/context-documents/upload'] button[type=submit]").await;
        eventually("the review page", Duration::from_secs(30), || async {
            (!text_of(&browser, "#upload-review").await.is_empty()).then_some(())
        })
        .await;
        assert!(
            browser
                .run("return document.getElementById('content').value", vec![])
                .await
                .as_str()
                .unwrap()
                .contains("Ransomware Playbook")
        );
        report
            .extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("upload review: {v}")));
        assert_quiet(&browser, "the document pages").await;
        let theme = if dark { "dark" } else { "light" };
        assert!(report.is_empty(), "axe-core, {theme} theme:\n{}", report.join("\n"));
    }
    browser.quit().await;
}

/// The screenshots in `docs/console/` for docs/console.md, taken only when
/// `CALSETA_SCREENSHOTS_DIR` names where to put them: the list, a document, the editor with its
/// preview, and an upload's review.
#[tokio::test]
async fn console_documents_browser_screenshots() {
    let Some(dir) = std::env::var_os("CALSETA_SCREENSHOTS_DIR").map(std::path::PathBuf::from) else {
        eprintln!("screenshots not taken: set CALSETA_SCREENSHOTS_DIR");
        return;
    };
    let Some(browser) = ChromeSession::start().await else { return };
    std::fs::create_dir_all(&dir).unwrap();
    let app = spawn_app().await;
    for (title, severity, tags) in [
        ("Impossible travel for jdoe", "high", json!(["identity"])),
        ("Domain admin added", "critical", json!(["vip"])),
        ("Ransomware beacon from host-7", "critical", json!(["finance"])),
        ("Port scan from 10.0.0.5", "low", json!([])),
    ] {
        ingest(&app, json!({"title": title, "severity": severity, "tags": tags})).await;
    }
    let runbook = rest_document(
        &app,
        json!({"title": "Account Compromise Runbook", "document_type": "runbook",
               "description": "When an account is taken over", "tags": ["identity"],
               "content": "# Account compromise\n\n1. Revoke the user's sessions\n2. Reset the password and MFA\n3. Review sign-ins from the last 7 days\n\n| Step | Owner |\n|---|---|\n| Revoke | SOC tier 1 |\n| Review | SOC tier 2 |",
               "targeting_rules": {"match_all": [{"field": "severity", "op": "gte", "value": "High"}],
                                   "match_any": [{"field": "tags", "op": "in", "value": ["identity", "vip"]}]}}),
    )
    .await;
    rest_document(&app, json!({"title": "Company IR Plan", "document_type": "ir_plan", "is_global": true, "content": "Call the IR lead."})).await;
    rest_document(
        &app,
        json!({"title": "Ransomware SOP", "document_type": "sop", "content": "Isolate first.",
        "targeting_rules": {"match_all": [{"field": "tags", "op": "eq", "value": "finance"}]}}),
    )
    .await;
    let (key, _) =
        create_key(&app, json!({"name": "Docs editor", "scopes": ["alerts:read", "alerts:write"]})).await;
    sign_in(&browser, &app, &key, "/context-documents").await;
    let shoot = async |name: &str| {
        let png = browser.full_page_png(2400).await;
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    };
    shoot("documents").await;
    browser.open(&app.url(&format!("/context-documents/{runbook}"))).await;
    shoot("document").await;
    browser.open(&app.url(&format!("/context-documents/{runbook}/edit"))).await;
    wait_count(&browser, "2").await;
    shoot("document-editor").await;
    let file = dir.join("playbook.docx");
    std::fs::write(&file, minimal_docx()).unwrap();
    browser.open(&app.url("/context-documents/upload")).await;
    browser.css("#file").await.send_keys(file.to_str().unwrap()).await.unwrap();
    browser.click("form[action='/context-documents/upload'] button[type=submit]").await;
    eventually("the review page", Duration::from_secs(30), || async {
        (!text_of(&browser, "#upload-review").await.is_empty()).then_some(())
    })
    .await;
    std::fs::remove_file(&file).unwrap();
    shoot("document-upload-review").await;
    browser.quit().await;
}
