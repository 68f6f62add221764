//! The console's settings for indicator mappings (`/settings/mappings`, with the extraction dry
//! run), the job queue (`/settings/jobs`, dead letters and their retry) and the system
//! (`/settings/system`: health, the workflow sandbox level and why, version, engine and the
//! configuration with every secret masked): each action through its form and what REST then
//! reads, each refusal with REST's own message next to its field, the `admin` scope, and in
//! Chromium the main actions, hostile content rendered inert and axe-core on every page.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use calseta_core::jobs::RetryPolicy;
use calseta_jobs::{self as jobs, JobContext, JobFailure, JobHandler, JobKind};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::browser::ChromeSession;
use crate::console::{Browser, Page, create_key, signed_in, unescape};
use crate::console_browser::{HOSTILE_TEXTS, assert_inert, assert_quiet, axe_core, axe_violations, sign_in};
use crate::helpers::*;

/// A kind whose first run of each job fails for good with the payload's `error`, and whose later
/// runs (after a retry) succeed.
const FAILS_ONCE: JobKind = JobKind {
    name: "test.settings_fails_once",
    queue: "settings_test",
    retry: RetryPolicy {
        max_attempts: 3,
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        factor: 2,
    },
};

#[derive(Default)]
struct FailsOnce(Mutex<HashSet<Uuid>>);

#[async_trait::async_trait]
impl JobHandler for FailsOnce {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let first = self.0.lock().unwrap().insert(ctx.uuid);
        if first {
            Err(JobFailure::permanent(ctx.payload["error"].as_str().unwrap_or("failed").to_string()))
        } else {
            Ok(())
        }
    }
}

/// A test app whose worker knows [`FAILS_ONCE`].
async fn app_with_failing_jobs() -> TestApp {
    spawn_app_with(AppOptions {
        jobs: vec![(FAILS_ONCE, Arc::new(FailsOnce::default()) as Arc<dyn JobHandler>)],
        ..AppOptions::default()
    })
    .await
}

/// Enqueues a [`FAILS_ONCE`] job failing with `error` and waits until it is a dead letter.
async fn dead_job(app: &TestApp, error: &str) -> String {
    let mut tx = app.db.begin().await.unwrap();
    let uuid = jobs::enqueue(&mut tx, &FAILS_ONCE, json!({"error": error}), Duration::ZERO).await.unwrap();
    tx.commit().await.unwrap();
    rest_job_when(app, &uuid.to_string(), "dead").await;
    uuid.to_string()
}

async fn rest_job_when(app: &TestApp, uuid: &str, status: &str) -> Value {
    eventually(&format!("job {uuid} to be {status}"), Duration::from_secs(30), || async {
        let (_, body) = app.get(&format!("/v1/jobs/{uuid}"), &app.admin_key).await;
        (body["data"]["status"] == status).then(|| body["data"].clone())
    })
    .await
}

/// A form post with the page's CSRF token.
async fn post(browser: &mut Browser, from: &str, path: &str, fields: &[(&str, &str)]) -> Page {
    let token = browser.get(from).await.csrf_token();
    let mut all = vec![("csrf_token", token.as_str())];
    all.extend_from_slice(fields);
    browser.post(path, &all).await
}

/// Switches the mapping `uuid` on (`"true"`) or off (`"false"`) from the mappings page.
async fn switch_mapping(browser: &mut Browser, uuid: &str, active: &str) -> Page {
    post(browser, "/settings/mappings", &format!("/settings/mappings/{uuid}/active"), &[("active", active)])
        .await
}

/// Runs the mappings page's extraction test on `raw_payload` as `source_name`.
async fn test_extraction(browser: &mut Browser, source_name: &str, raw_payload: &str) -> Page {
    post(
        browser,
        "/settings/mappings",
        "/settings/mappings/test-extraction",
        &[("source_name", source_name), ("raw_payload", raw_payload)],
    )
    .await
}

/// The message under the input `field` (the `field_error` macro), unescaped; and that the input
/// is marked invalid and described by it.
fn field_error(page: &Page, field: &str) -> String {
    let marker = format!("<p class=\"field-error\" id=\"{field}-error\">");
    let start = page.body.find(&marker).unwrap_or_else(|| panic!("no error for {field}: {}", page.body))
        + marker.len();
    let message = &page.body[start..start + page.body[start..].find("</p>").unwrap()];
    assert!(
        page.body.contains(&format!("aria-invalid=\"true\" aria-describedby=\"{field}-error\"")),
        "{field} is marked invalid"
    );
    unescape(message)
}

/// REST's first validation message (`error.details.errors[0].msg`) or `error.message`.
fn rest_message(body: &Value) -> String {
    body["error"]["details"]["errors"][0]["msg"]
        .as_str()
        .or_else(|| body["error"]["message"].as_str())
        .unwrap_or_else(|| panic!("no message in {body}"))
        .to_string()
}

/// REST's mappings, by field path.
async fn rest_mapping(app: &TestApp, field_path: &str) -> Option<Value> {
    let (status, body) = app.get("/v1/indicator-mappings?page_size=500", &app.admin_key).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().iter().find(|m| m["field_path"] == field_path).cloned()
}

#[tokio::test]
async fn console_settings_system_mappings_are_listed_created_edited_switched_and_deleted() {
    let app = spawn_app().await;
    let mut browser = signed_in(&app, &["admin"]).await;

    let page = browser.get("/settings/mappings").await;
    assert_eq!(page.status, 200, "{}", page.body);
    // System mappings with their pass, and the plugins' own fields (pass 1).
    let (_, listed) = app.get("/v1/indicator-mappings?is_system=true", &app.admin_key).await;
    let system = &listed["data"][0];
    assert!(page.body.contains(&format!("data-mapping-uuid=\"{}\"", system["uuid"].as_str().unwrap())));
    assert!(page.body.contains("2 · Normalized Mappings"), "system mappings are pass 2");
    let (_, plugin) = app.get("/v1/indicator-mappings/source-plugin-fields", &app.admin_key).await;
    let first = &plugin["data"][0];
    assert!(page.body.contains(&format!("<code>{}</code>", first["field_path"].as_str().unwrap())));
    assert!(page.body.contains("1 · Source Plugin"));

    // Create.
    let created = post(
        &mut browser,
        "/settings/mappings",
        "/settings/mappings",
        &[
            ("source_name", "generic"),
            ("extraction_target", "raw_payload"),
            ("field_path", "event.src.ip"),
            ("indicator_type", "ip"),
            ("description", "The sensor's source address"),
            ("is_active", "on"),
        ],
    )
    .await;
    assert_eq!((created.status, created.location()), (303, "/settings/mappings#custom"), "{}", created.body);
    let mapping = rest_mapping(&app, "event.src.ip").await.expect("REST lists the new mapping");
    assert_eq!(
        (
            &mapping["source_name"],
            &mapping["extraction_target"],
            &mapping["indicator_type"],
            &mapping["is_active"]
        ),
        (&json!("generic"), &json!("raw_payload"), &json!("ip"), &json!(true))
    );
    assert_eq!(mapping["description"], "The sensor's source address");
    let uuid = mapping["uuid"].as_str().unwrap().to_string();
    let page = browser.get("/settings/mappings").await;
    assert!(page.body.contains(&format!("data-mapping-uuid=\"{uuid}\"")));
    assert!(page.body.contains("3 · Raw Payload Mappings"));

    // Edit: path, type, description.
    let edit = browser.get(&format!("/settings/mappings/{uuid}")).await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    assert!(edit.body.contains("value=\"event.src.ip\""));
    let saved = post(
        &mut browser,
        &format!("/settings/mappings/{uuid}"),
        &format!("/settings/mappings/{uuid}"),
        &[
            ("field_path", "event.dst.host"),
            ("indicator_type", "domain"),
            ("description", ""),
            ("is_active", "on"),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let mapping = rest_mapping(&app, "event.dst.host").await.expect("the path changed");
    assert_eq!((&mapping["indicator_type"], &mapping["description"]), (&json!("domain"), &Value::Null));

    // A system mapping's form has no path (it is fixed); its type and description can change.
    let system_uuid = system["uuid"].as_str().unwrap();
    let edit = browser.get(&format!("/settings/mappings/{system_uuid}")).await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    assert!(!edit.body.contains("name=\"field_path\"") && edit.body.contains("keeps its field path"));
    let saved = post(
        &mut browser,
        &format!("/settings/mappings/{system_uuid}"),
        &format!("/settings/mappings/{system_uuid}"),
        &[
            ("indicator_type", system["indicator_type"].as_str().unwrap()),
            ("description", "Seeded, annotated"),
            ("is_active", "on"),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let (_, again) = app.get(&format!("/v1/indicator-mappings/{system_uuid}"), &app.admin_key).await;
    assert_eq!(
        (&again["data"]["description"], &again["data"]["field_path"]),
        (&json!("Seeded, annotated"), &system["field_path"])
    );

    // Switch off, and on again; a system mapping too.
    let off = switch_mapping(&mut browser, &uuid, "false").await;
    assert_eq!(off.status, 303, "{}", off.body);
    assert_eq!(rest_mapping(&app, "event.dst.host").await.unwrap()["is_active"], false);
    let on = switch_mapping(&mut browser, &uuid, "true").await;
    assert_eq!(on.status, 303, "{}", on.body);
    assert_eq!(rest_mapping(&app, "event.dst.host").await.unwrap()["is_active"], true);
    let off = switch_mapping(&mut browser, system_uuid, "false").await;
    assert_eq!(off.status, 303, "{}", off.body);
    let (_, again) = app.get(&format!("/v1/indicator-mappings/{system_uuid}"), &app.admin_key).await;
    assert_eq!(again["data"]["is_active"], false);

    // Delete.
    let deleted =
        post(&mut browser, "/settings/mappings", &format!("/settings/mappings/{uuid}/delete"), &[]).await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    assert!(rest_mapping(&app, "event.dst.host").await.is_none(), "REST no longer lists it");
    let (status, _) = app.get(&format!("/v1/indicator-mappings/{uuid}"), &app.admin_key).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn console_settings_system_mapping_refusals_are_rests_next_to_the_field() {
    let app = spawn_app().await;
    let mut browser = signed_in(&app, &["admin"]).await;

    // Create: an empty path segment, and `*` outside free text.
    for (target, path) in [("raw_payload", "a..b"), ("normalized", "*"), ("raw_payload", "")] {
        let (status, rest) = app
            .post(
                "/v1/indicator-mappings",
                &app.admin_key,
                json!({"field_path": path, "indicator_type": "ip", "extraction_target": target}),
            )
            .await;
        assert_eq!(status, 422, "{rest}");
        let page = post(
            &mut browser,
            "/settings/mappings",
            "/settings/mappings",
            &[("extraction_target", target), ("field_path", path), ("indicator_type", "ip")],
        )
        .await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert_eq!(field_error(&page, "field_path"), rest_message(&rest), "{target} {path}");
        assert!(page.body.contains(&format!("value=\"{path}\"")), "what was typed is kept");
    }
    // A type that is none, and a source that is not registered.
    let (_, rest) = app
        .post(
            "/v1/indicator-mappings",
            &app.admin_key,
            json!({"field_path": "x", "indicator_type": "colour", "source_name": "nowhere"}),
        )
        .await;
    let page = post(
        &mut browser,
        "/settings/mappings",
        "/settings/mappings",
        &[
            ("extraction_target", "normalized"),
            ("field_path", "x"),
            ("indicator_type", "colour"),
            ("source_name", "nowhere"),
        ],
    )
    .await;
    assert_eq!(page.status, 422);
    let messages: Vec<String> = rest["error"]["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["msg"].as_str().unwrap().into())
        .collect();
    assert!(messages.contains(&field_error(&page, "indicator_type")), "{messages:?}");
    assert!(messages.contains(&field_error(&page, "source_name")), "{messages:?}");
    assert!(rest_mapping(&app, "x").await.is_none(), "nothing was created");

    // Edit: an empty path and a bad type on a custom mapping.
    let (_, made) = app
        .post(
            "/v1/indicator-mappings",
            &app.admin_key,
            json!({"field_path": "alert.host", "indicator_type": "domain", "extraction_target": "raw_payload"}),
        )
        .await;
    let uuid = made["data"]["uuid"].as_str().unwrap();
    let (_, rest) = app
        .patch(&format!("/v1/indicator-mappings/{uuid}"), &app.admin_key, json!({"field_path": " "}))
        .await;
    let page = post(
        &mut browser,
        &format!("/settings/mappings/{uuid}"),
        &format!("/settings/mappings/{uuid}"),
        &[("field_path", " "), ("indicator_type", "domain")],
    )
    .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert_eq!(field_error(&page, "field_path"), rest_message(&rest));
    let (_, rest) = app
        .patch(&format!("/v1/indicator-mappings/{uuid}"), &app.admin_key, json!({"indicator_type": "colour"}))
        .await;
    let page = post(
        &mut browser,
        &format!("/settings/mappings/{uuid}"),
        &format!("/settings/mappings/{uuid}"),
        &[("field_path", "alert.host"), ("indicator_type", "colour")],
    )
    .await;
    assert_eq!(page.status, 422);
    assert_eq!(field_error(&page, "indicator_type"), rest_message(&rest));
    assert_eq!(rest_mapping(&app, "alert.host").await.unwrap()["indicator_type"], "domain", "unchanged");

    // Deleting a system mapping is refused with REST's message.
    let (_, listed) = app.get("/v1/indicator-mappings?is_system=true", &app.admin_key).await;
    let system = listed["data"][0]["uuid"].as_str().unwrap();
    let (status, rest) = app.delete(&format!("/v1/indicator-mappings/{system}"), &app.admin_key).await;
    assert_eq!(status, 422);
    let page =
        post(&mut browser, "/settings/mappings", &format!("/settings/mappings/{system}/delete"), &[]).await;
    assert_eq!(page.status, 422);
    assert!(
        unescape(&page.body).contains(&format!("{} (SYSTEM_MAPPING_READONLY)", rest_message(&rest))),
        "{}",
        page.body
    );
    let (status, _) = app.get(&format!("/v1/indicator-mappings/{system}"), &app.admin_key).await;
    assert_eq!(status, 200, "still there");
}

/// The `pass` name REST answers, as the console shows it.
fn pass_shown(pass: &str) -> &'static str {
    match pass {
        "source_plugin" => "1 · Source Plugin",
        "normalized_mappings" => "2 · Normalized Mappings",
        "raw_payload_mappings" => "3 · Raw Payload Mappings",
        "free_text" => "4 · Free Text",
        other => panic!("unexpected pass {other}"),
    }
}

#[tokio::test]
async fn console_settings_system_dry_run_lists_rests_indicators_with_field_and_pass() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/v1/indicator-mappings",
            &app.admin_key,
            json!({"source_name": "generic", "field_path": "sensor.hosts[].ip", "indicator_type": "ip",
                   "extraction_target": "raw_payload"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let payload = json!({
        "title": "Beacon from 10.1.2.3",
        "severity": "high",
        "src_ip": "198.51.100.7",
        "description": "Callback to evil.example.net and hxxp://bad[.]example/x",
        "sensor": {"hosts": [{"ip": "203.0.113.9"}, {"ip": "not-an-ip"}]},
        "indicators": [{"type": "domain", "value": "c2.example.org"}],
    });
    let (status, rest) = app
        .post(
            "/v1/indicator-mappings/test-extraction",
            &app.admin_key,
            json!({"source_name": "generic", "raw_payload": payload}),
        )
        .await;
    assert_eq!(status, 200, "{rest}");
    let expected = rest["data"]["deduplicated"].as_array().unwrap().clone();
    assert!(expected.len() >= 4, "the payload yields indicators from several passes: {rest}");
    let passes: HashSet<&str> = expected.iter().map(|i| i["pass"].as_str().unwrap()).collect();
    assert!(passes.contains("raw_payload_mappings") && passes.len() >= 3, "{passes:?}");

    let mut browser = signed_in(&app, &["admin"]).await;
    let text = serde_json::to_string_pretty(&payload).unwrap();
    let page = test_extraction(&mut browser, "generic", &text).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for indicator in &expected {
        let row = format!(
            "<tr data-type=\"{kind}\"><td>{kind}</td><td class=\"mapping-value\"><code>{value}</code></td><td><code>{field}</code></td><td>{pass}</td><td>",
            kind = indicator["type"].as_str().unwrap(),
            value = indicator["value"].as_str().unwrap(),
            field = indicator["source_field"].as_str().unwrap(),
            pass = pass_shown(indicator["pass"].as_str().unwrap()),
        );
        assert!(unescape(&page.body).contains(&row), "{row} in {}", page.body);
    }
    assert_eq!(page.body.matches("<tr data-type=").count(), expected.len(), "exactly REST's indicators");
    // What a pass refused is listed with the reason, and the payload is kept in its textarea.
    let refused = rest["data"]["passes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["rejected"].as_array().unwrap().clone())
        .find(|r| r["value"] == "not-an-ip")
        .expect("REST refuses not-an-ip");
    assert!(unescape(&page.body).contains(&format!(
        "refused ip <code>not-an-ip</code> at <code>{}</code>",
        refused["source_field"].as_str().unwrap()
    )));
    assert!(unescape(&page.body).contains(&text), "the pasted payload is shown again");
    assert_eq!(rest_mapping(&app, "sensor.hosts[].ip").await.unwrap()["is_active"], true, "nothing changed");
}

#[tokio::test]
async fn console_settings_system_dry_run_refusals_are_rests_next_to_the_field() {
    let app = spawn_app().await;
    let mut browser = signed_in(&app, &["admin"]).await;

    // Not JSON: REST's body parser and the console's textarea give the same words.
    for text in ["{\"title\": ", "{\"title\": \"x\",}", "{'title': 1}"] {
        let response = app
            .client
            .post(app.url("/v1/indicator-mappings/test-extraction"))
            .bearer_auth(&app.admin_key)
            .header("content-type", "application/json")
            .body(text.to_string())
            .send()
            .await
            .unwrap();
        let (status, rest) = status_json(response).await;
        assert_eq!(status, 422, "{rest}");
        let page = test_extraction(&mut browser, "generic", text).await;
        assert_eq!(page.status, 422, "{}", page.body);
        let message = field_error(&page, "raw_payload");
        assert!(message.starts_with("JSON decode error: "), "{message}");
        assert_eq!(message, rest_message(&rest), "{text}");
    }

    // A source that is not registered, and a payload the source cannot read.
    let (status, rest) = app
        .post(
            "/v1/indicator-mappings/test-extraction",
            &app.admin_key,
            json!({"source_name": "nowhere", "raw_payload": {"title": "x"}}),
        )
        .await;
    assert_eq!(status, 422);
    let page = test_extraction(&mut browser, "nowhere", "{\"title\": \"x\"}").await;
    assert_eq!(page.status, 422);
    assert_eq!(field_error(&page, "source_name"), format!("{} (UNKNOWN_SOURCE)", rest_message(&rest)));
    let (status, rest) = app
        .post(
            "/v1/indicator-mappings/test-extraction",
            &app.admin_key,
            json!({"source_name": "generic", "raw_payload": {"no": "title"}}),
        )
        .await;
    assert_eq!(status, 422);
    let page = test_extraction(&mut browser, "generic", "{\"no\": \"title\"}").await;
    assert_eq!(page.status, 422);
    assert_eq!(field_error(&page, "raw_payload"), format!("{} (INVALID_PAYLOAD)", rest_message(&rest)));
}

#[tokio::test]
async fn console_settings_system_a_dead_job_shows_its_error_and_retry_requeues_it() {
    let app = app_with_failing_jobs().await;
    let uuid = dead_job(&app, "upstream said: 500 Internal Server Error").await;
    let mut browser = signed_in(&app, &["admin"]).await;

    let page = browser.get("/settings/jobs").await;
    assert_eq!(page.status, 200, "{}", page.body);
    // Counts by kind and status (queued, running, done, dead).
    assert!(
        page.body.contains(
            "<tr data-kind=\"test.settings_fails_once\"><th scope=\"row\"><code>test.settings_fails_once</code></th><td>0</td><td>0</td><td>0</td><td>1</td></tr>"
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains("<th scope=\"col\">done</th>"));
    // The dead letter with its error and a retry form.
    assert!(page.body.contains(&format!("data-job-uuid=\"{uuid}\"")));
    assert!(page.body.contains("upstream said: 500 Internal Server Error"));
    assert!(page.body.contains(&format!("action=\"/settings/jobs/{uuid}/retry\"")));

    // Retry: queued again, and this time it runs to the end.
    let retried = post(&mut browser, "/settings/jobs", &format!("/settings/jobs/{uuid}/retry"), &[]).await;
    assert_eq!(
        (retried.status, retried.location()),
        (303, format!("/settings/jobs?retried={uuid}").as_str())
    );
    let done = rest_job_when(&app, &uuid, "succeeded").await;
    assert_eq!(done["attempts"], 1, "a fresh set of attempts");
    let page = browser.get(&format!("/settings/jobs?retried={uuid}")).await;
    assert!(page.body.contains("is queued again"));
    let forged = browser.get("/settings/jobs?retried=Your+account+is+locked").await;
    assert!(!forged.body.contains("is queued again") && !forged.body.contains("account is locked"));
    assert!(!page.body.contains(&format!("data-job-uuid=\"{uuid}\"")), "no longer a dead letter");
    assert!(page.body.contains("<td>0</td><td>0</td><td>1</td><td>0</td>"), "now counted as done");

    // A job that is not dead is refused as REST refuses it.
    let (status, rest) = app.post(&format!("/v1/jobs/{uuid}/retry"), &app.admin_key, json!({})).await;
    assert_eq!(status, 409);
    let page = post(&mut browser, "/settings/jobs", &format!("/settings/jobs/{uuid}/retry"), &[]).await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(
        unescape(&page.body).contains(&format!("{} (JOB_NOT_DEAD)", rest_message(&rest))),
        "{}",
        page.body
    );
    let page =
        post(&mut browser, "/settings/jobs", &format!("/settings/jobs/{}/retry", Uuid::new_v4()), &[]).await;
    assert_eq!(page.status, 404);
}

#[tokio::test]
async fn console_settings_system_jobs_are_paged() {
    let app = app_with_failing_jobs().await;
    let mut dead = Vec::new();
    for n in 0..27 {
        let mut tx = app.db.begin().await.unwrap();
        let uuid =
            jobs::enqueue(&mut tx, &FAILS_ONCE, json!({"error": format!("failure {n}")}), Duration::ZERO)
                .await
                .unwrap();
        tx.commit().await.unwrap();
        dead.push(uuid.to_string());
    }
    for uuid in &dead {
        rest_job_when(&app, uuid, "dead").await;
    }
    let mut browser = signed_in(&app, &["admin"]).await;
    let first = browser.get("/settings/jobs").await;
    let second = browser.get("/settings/jobs?page=2").await;
    let on =
        |page: &Page| dead.iter().filter(|u| page.body.contains(&format!("data-job-uuid=\"{u}\""))).count();
    assert_eq!((on(&first), on(&second)), (25, 2));
    assert!(first.body.contains("href=\"/settings/jobs?page=2\" rel=\"next\""));
    assert!(second.body.contains("Dead letters <span class=\"count\">(27)</span>"));
}

/// A base64 key of 32 bytes, distinct from the suite's default.
const SECRET_ENCRYPTION_KEY: &str = "c2V0dGluZ3Mtc3lzdGVtLXRlc3Qta2V5LTMyYnl0ZXM=";

#[tokio::test]
async fn console_settings_system_shows_health_engine_and_sandbox_and_never_a_secret() {
    let mut env: Vec<(&'static str, String)> = vec![
        ("ENCRYPTION_KEY", SECRET_ENCRYPTION_KEY.into()),
        ("METRICS_TOKEN", "Metrics-Token-Do-Not-Show".into()),
        ("SPLUNK_WEBHOOK_SECRET", "Splunk-Secret-Do-Not-Show".into()),
        ("ANTHROPIC_API_KEY", "sk-ant-Do-Not-Show".into()),
        ("CALSETA_PROVIDER_BASE_URL_VIRUSTOTAL", "http://vt:Vt-Pass-Do-Not-Show@127.0.0.1:9/api".into()),
        ("APP_VERSION", "9.8.7-settings".into()),
    ];
    let mut secrets = vec![
        SECRET_ENCRYPTION_KEY,
        "Metrics-Token-Do-Not-Show",
        "Splunk-Secret-Do-Not-Show",
        "sk-ant-Do-Not-Show",
        "Vt-Pass-Do-Not-Show",
    ];
    // On PostgreSQL the database URL carries a password (the test server trusts loopback, so any
    // password connects); SQLite URLs have none.
    let password = "Pg-Pass-Do-Not-Show";
    if let Some(admin) = pg_admin_url() {
        let url = fresh_postgres(&admin).await;
        let with_password =
            url.replacen("postgres://postgres@", &format!("postgres://postgres:{password}@"), 1);
        assert_ne!(with_password, url, "the test database URL names its user: {url}");
        env.push(("DATABASE_URL", with_password));
        secrets.push(password);
    }
    let engine = if pg_admin_url().is_some() { "postgresql" } else { "sqlite" };
    let app = spawn_app_with(AppOptions { env, ..AppOptions::default() }).await;
    let mut browser = signed_in(&app, &["admin"]).await;

    let page = browser.get("/settings/system").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for secret in &secrets {
        assert!(!page.body.contains(secret), "{secret} is on the page");
    }
    assert!(page.body.contains(&format!("<dd id=\"engine\">{engine}</dd>")), "{}", page.body);
    assert!(page.body.contains("<dd id=\"version\">9.8.7-settings</dd>"));
    assert!(page.body.contains("<span class=\"badge badge-ok\" id=\"health-status\">ok</span>"));
    // The configuration: each secret named and masked, plain settings as they are.
    assert!(page.body.contains(
        "<tr data-setting=\"ENCRYPTION_KEY\" data-secret><th scope=\"row\"><code>ENCRYPTION_KEY</code></th><td><code>•••••• (set, masked)</code></td></tr>"
    ));
    assert!(page.body.contains("<code>METRICS_TOKEN</code></th><td><code>•••••• (set, masked)</code>"));
    assert!(page.body.contains("<code>http://vt:••••••@127.0.0.1:9/api</code>"));
    assert!(page.body.contains("<code>JOB_LEASE_SECONDS</code></th><td><code>2</code>"));
    if engine == "postgresql" {
        assert!(page.body.contains("<code>postgres://postgres:••••••@127.0.0.1"), "{}", page.body);
    }
    // The sandbox level is `/health`'s, with the reason and each layer.
    let (_, health) = app.get("/health", "").await;
    let level = eventually("/health to finish discovering the sandbox", Duration::from_secs(30), || async {
        let (_, health) = app.get("/health", "").await;
        let level = health["workflow_sandbox"].as_str()?.to_string();
        (level != "checking").then_some(level)
    })
    .await;
    assert!(
        unescape(&page.body).contains(&format!("<p id=\"sandbox-level\"><code>{level}</code></p>")),
        "{level}: {}",
        page.body
    );
    let state = level.split(':').next().unwrap();
    assert!(page.body.contains(&format!("id=\"sandbox-state\">{state}</span>")));
    assert!(page.body.contains("<p id=\"sandbox-reason\">"));
    for layer in ["namespaces", "landlock", "seccomp"] {
        assert!(page.body.contains(&format!("<tr data-layer=\"{layer}\">")));
    }
    assert_eq!(health["status"], "ok");
}

#[tokio::test]
async fn console_settings_system_pages_and_actions_need_the_admin_scope() {
    let app = app_with_failing_jobs().await;
    let dead = dead_job(&app, "refused for good").await;
    let (_, listed) = app.get("/v1/indicator-mappings?is_system=true", &app.admin_key).await;
    let system = listed["data"][0]["uuid"].as_str().unwrap().to_string();
    let mut browser = signed_in(&app, &["alerts:read", "alerts:write", "workflows:read"]).await;
    for path in
        ["/settings/mappings", &format!("/settings/mappings/{system}"), "/settings/jobs", "/settings/system"]
    {
        let page = browser.get(path).await;
        assert_eq!(page.status, 403, "{path}: {}", page.body);
        assert!(page.body.contains("lacks the admin scope"), "{path}");
    }
    // The token comes from a page this key may read.
    let token = browser.get("/").await.csrf_token();
    for (path, fields) in [
        (
            "/settings/mappings",
            vec![("field_path", "a.b"), ("indicator_type", "ip"), ("extraction_target", "raw_payload")],
        ),
        (
            "/settings/mappings/test-extraction",
            vec![("source_name", "generic"), ("raw_payload", "{\"title\": \"x\"}")],
        ),
        (&format!("/settings/mappings/{system}/active") as &str, vec![("active", "false")]),
        (&format!("/settings/mappings/{system}/delete"), vec![]),
        (&format!("/settings/jobs/{dead}/retry"), vec![]),
    ] {
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend(fields);
        let page = browser.post(path, &all).await;
        assert_eq!(page.status, 403, "{path}: {}", page.body);
    }
    assert!(rest_mapping(&app, "a.b").await.is_none());
    let (_, mapping) = app.get(&format!("/v1/indicator-mappings/{system}"), &app.admin_key).await;
    assert_eq!(mapping["data"]["is_active"], true, "unchanged");
    assert_eq!(rest_job_when(&app, &dead, "dead").await["attempts"], 1, "still dead");
}

#[tokio::test]
async fn console_settings_system_browser_creates_a_mapping_dry_runs_and_retries_a_dead_job() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = app_with_failing_jobs().await;
    let dead = dead_job(&app, "provider timed out").await;
    let (key, _) = create_key(&app, json!({"name": "Settings admin", "scopes": ["admin"]})).await;
    sign_in(&browser, &app, &key, "/settings/mappings").await;

    // Create a mapping through the form.
    browser.css("#source_name").await.select_by_value("generic").await.unwrap();
    browser.css("#extraction_target").await.select_by_value("raw_payload").await.unwrap();
    browser.css("#field_path").await.send_keys("edr.remote.addr").await.unwrap();
    browser.css("#indicator_type").await.select_by_value("ip").await.unwrap();
    browser.click("form[action='/settings/mappings'] button[type=submit]").await;
    browser.wait_for_path("/settings/mappings").await;
    let mapping = eventually("REST lists the mapping", Duration::from_secs(20), || {
        rest_mapping(&app, "edr.remote.addr")
    })
    .await;
    assert_eq!((&mapping["indicator_type"], &mapping["source_name"]), (&json!("ip"), &json!("generic")));
    assert_quiet(&browser, "after creating a mapping").await;

    // Dry run a payload that the new mapping reads.
    let payload = json!({"title": "EDR connection", "edr": {"remote": {"addr": "192.0.2.44"}}}).to_string();
    browser.run("document.querySelector('#raw_payload').value = arguments[0]", vec![json!(payload)]).await;
    browser.css("#dry-source_name").await.select_by_value("generic").await.unwrap();
    browser.click("form[action='/settings/mappings/test-extraction'] button[type=submit]").await;
    browser.wait_for_path("/settings/mappings/test-extraction").await;
    let row = browser
        .run(
            "const r = document.querySelector('#dry-indicators tr[data-type=ip]'); return r ? r.textContent : ''",
            vec![],
        )
        .await;
    let row = row.as_str().unwrap();
    assert!(
        row.contains("192.0.2.44")
            && row.contains("edr.remote.addr")
            && row.contains("3 · Raw Payload Mappings"),
        "{row}"
    );
    assert_quiet(&browser, "after the dry run").await;

    // Retry the dead job.
    browser.open(&app.url("/settings/jobs")).await;
    browser.click(&format!("form[action='/settings/jobs/{dead}/retry'] button[type=submit]")).await;
    browser.wait_for_path("/settings/jobs").await;
    rest_job_when(&app, &dead, "succeeded").await;
    let notice = browser.run("return document.querySelector('#retried')?.textContent || ''", vec![]).await;
    assert!(notice.as_str().unwrap().contains(&dead), "{notice}");
    assert_quiet(&browser, "after the retry").await;
    browser.quit().await;
}

#[tokio::test]
async fn console_settings_system_browser_renders_hostile_mappings_payloads_and_job_errors_inert() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = app_with_failing_jobs().await;
    for text in HOSTILE_TEXTS {
        let (status, body) = app
            .post(
                "/v1/indicator-mappings",
                &app.admin_key,
                json!({"field_path": text, "indicator_type": "url", "extraction_target": "raw_payload", "description": text}),
            )
            .await;
        assert_eq!(status, 201, "{text}: {body}");
        dead_job(&app, text).await;
    }
    let (key, _) = create_key(&app, json!({"name": "Settings admin", "scopes": ["admin"]})).await;
    sign_in(&browser, &app, &key, "/settings/jobs").await;

    // Stored mapping paths and descriptions, job errors and payloads.
    for path in ["/settings/mappings", "/settings/jobs"] {
        assert_inert(&browser, &app, path).await;
        let text: String = browser
            .run("return document.querySelector('main').textContent", vec![])
            .await
            .as_str()
            .unwrap()
            .into();
        for hostile in HOSTILE_TEXTS {
            assert!(text.contains(hostile), "{path} shows {hostile} as written");
        }
    }
    let mapping = rest_mapping(&app, HOSTILE_TEXTS[0]).await.unwrap();
    assert_inert(&browser, &app, &format!("/settings/mappings/{}", mapping["uuid"].as_str().unwrap())).await;

    // A pasted payload full of markup, run through the dry run: its values, fields and the
    // textarea stay text.
    browser.open(&app.url("/settings/mappings")).await;
    let mut payload = json!({"title": HOSTILE_TEXTS.join(" "), "description": HOSTILE_TEXTS.join("\n")});
    for (n, text) in HOSTILE_TEXTS.iter().enumerate() {
        payload[format!("field{n}")] = json!(text);
    }
    payload["indicators"] =
        json!(HOSTILE_TEXTS.iter().map(|t| json!({"type": "url", "value": t})).collect::<Vec<_>>());
    let text = serde_json::to_string_pretty(&payload).unwrap();
    browser.run("document.querySelector('#raw_payload').value = arguments[0]", vec![json!(text)]).await;
    browser.click("form[action='/settings/mappings/test-extraction'] button[type=submit]").await;
    browser.wait_for_path("/settings/mappings/test-extraction").await;
    assert_quiet(&browser, "the hostile dry run").await;
    let foreign = browser.run(crate::console_browser::FOREIGN_MARKUP, vec![]).await;
    assert_eq!(foreign, json!([]), "the dry run's output stays text");
    let shown = browser.run("return document.querySelector('#raw_payload').value", vec![]).await;
    assert_eq!(shown.as_str().unwrap().replace("\r\n", "\n"), text, "the payload comes back as pasted");
    let result: String = browser
        .run("return document.querySelector('#dry-result').textContent", vec![])
        .await
        .as_str()
        .unwrap()
        .into();
    assert!(result.contains("javascript:alert(1)") || result.contains("refused url"), "{result}");
    browser.quit().await;
}

#[tokio::test]
async fn console_settings_system_browser_pages_have_no_serious_accessibility_violations() {
    let Some(axe) = axe_core() else { return };
    let Some(browser) = ChromeSession::start().await else { return };
    let app = app_with_failing_jobs().await;
    dead_job(&app, "connection refused").await;
    let (status, made) = app
        .post(
            "/v1/indicator-mappings",
            &app.admin_key,
            json!({"field_path": "a.b", "indicator_type": "ip", "extraction_target": "raw_payload"}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let (key, _) = create_key(&app, json!({"name": "Settings admin", "scopes": ["admin"]})).await;
    sign_in(&browser, &app, &key, "/settings/system").await;
    let edit = format!("/settings/mappings/{}", made["data"]["uuid"].as_str().unwrap());

    for dark in [false, true] {
        browser.prefer_dark(dark).await;
        let mut report = Vec::new();
        for path in ["/settings/mappings", edit.as_str(), "/settings/jobs", "/settings/system"] {
            browser.open(&app.url(path)).await;
            report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("{path}: {v}")));
        }
        // The dry run's result and a refused form, as shown.
        browser.open(&app.url("/settings/mappings")).await;
        browser
            .run(
                "document.querySelector('#raw_payload').value = arguments[0]",
                vec![json!("{\"title\": \"Beacon\", \"src_ip\": \"198.51.100.7\"}")],
            )
            .await;
        browser.click("form[action='/settings/mappings/test-extraction'] button[type=submit]").await;
        browser.wait_for_path("/settings/mappings/test-extraction").await;
        report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("dry run: {v}")));
        browser.run("document.querySelector('#raw_payload').value = '{'", vec![]).await;
        browser.click("form[action='/settings/mappings/test-extraction'] button[type=submit]").await;
        eventually("the refusal is shown", Duration::from_secs(20), || async {
            let found = browser.run("return !!document.querySelector('#raw_payload-error')", vec![]).await;
            (found == json!(true)).then_some(())
        })
        .await;
        report.extend(
            axe_violations(&browser, &axe).await.into_iter().map(|v| format!("refused dry run: {v}")),
        );
        let theme = if dark { "dark" } else { "light" };
        assert!(report.is_empty(), "axe-core, {theme} theme:\n{}", report.join("\n"));
    }
    browser.quit().await;
}
