//! The console's settings index and its sources, API-key and workflow-secret pages
//! (`/settings`, `/settings/sources`, `/settings/api-keys`, `/settings/secrets`): each action over
//! plain HTTP as REST sees it afterwards, each refusal next to its field in REST's words, the
//! scopes REST asks for, a secret shown once and never again, the webhook URL a SIEM is given
//! accepting an alert signed with the secret set here; and in Chromium the journey from creating a
//! key to revoking it, the round trips, hostile names rendered inert and axe-core on every page in
//! both themes.

use std::time::Duration;

use calseta_core::sources::hmac_sha256_hex;
use serde_json::{Value, json};

use crate::approvals::gated_workflow;
use crate::browser::ChromeSession;
use crate::console::{Browser, Page, askama_escape, create_key, signed_in_with_key, unescape};
use crate::console_browser::{
    HOSTILE_TEXTS, assert_inert, assert_quiet, assert_refused_quietly, axe_core, axe_violations, sign_in,
};
use crate::helpers::*;
use crate::secret_grants::grant;

/// Form fields, in order.
type Fields<'a> = &'a [(&'a str, &'a str)];

/// The public base URL the tests configure: what the webhook URLs shown must start with.
const PUBLIC_BASE: &str = "https://calseta.example/";

/// An app whose public base URL is [`PUBLIC_BASE`] and whose Elastic secret comes from the
/// environment.
async fn app_with_public_base() -> TestApp {
    spawn_app_with(AppOptions {
        env: vec![
            ("CALSETA_API_BASE_URL", PUBLIC_BASE.into()),
            ("ELASTIC_WEBHOOK_SECRET", "elastic-from-env".into()),
        ],
        ..AppOptions::default()
    })
    .await
}

/// The message shown under `field` (the `field_error` macro's paragraph), unescaped.
fn field_message(html: &str, field: &str) -> String {
    let marker = format!("id=\"{field}-error\">");
    let start =
        html.find(&marker).unwrap_or_else(|| panic!("no message for {field} in {html}")) + marker.len();
    unescape(&html[start..start + html[start..].find("</p>").unwrap()])
}

/// The notice above a form (the `form_errors` macro), unescaped.
fn general_messages(html: &str) -> String {
    let start = html.find("<ul class=\"error-list\">").unwrap_or_else(|| panic!("no form notice in {html}"));
    unescape(&html[start..start + html[start..].find("</ul>").unwrap()])
}

/// REST's message for the first refused field.
fn rest_field_message(body: &Value) -> String {
    body["error"]["details"]["errors"][0]["msg"].as_str().unwrap_or_else(|| panic!("{body}")).to_string()
}

/// The value of the read-only field `id` (a secret shown once), unescaped.
fn shown_once(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\" class=\"secret-value\" type=\"text\" readonly value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {id} in {html}")) + marker.len();
    unescape(&html[start..start + html[start..].find('"').unwrap()])
}

/// Posts the form at `path` with the page's CSRF token and `fields`.
async fn submit(browser: &mut Browser, form_page: &str, path: &str, fields: &[(&str, &str)]) -> Page {
    let page = browser.get(form_page).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = page.csrf_token();
    let mut all = vec![("csrf_token", token.as_str())];
    all.extend_from_slice(fields);
    browser.post(path, &all).await
}

/// The API keys as REST lists them (active ones).
async fn rest_keys(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.get("/v1/api-keys?page_size=500", &app.admin_key).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

async fn alerts_status(app: &TestApp, key: &str) -> u16 {
    app.get("/v1/alerts", key).await.0
}

#[tokio::test]
async fn console_settings_keys_index_lists_only_the_sections_the_key_may_open() {
    let app = spawn_app().await;
    let (mut admin, _) = signed_in_with_key(&app, &["admin"]).await;
    let page = admin.get("/settings").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for href in [
        "/settings/sources",
        "/settings/api-keys",
        "/settings/mappings",
        "/settings/secrets",
        "/settings/jobs",
        "/settings/system",
    ] {
        assert!(page.body.contains(&format!("href=\"{href}\"")), "admin sees {href}");
    }

    let (mut reader, _) = signed_in_with_key(&app, &["alerts:read"]).await;
    let page = reader.get("/settings").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("href=\"/settings/sources\""));
    for href in [
        "/settings/api-keys",
        "/settings/mappings",
        "/settings/secrets",
        "/settings/jobs",
        "/settings/system",
    ] {
        assert!(!page.body.contains(&format!("href=\"{href}\"")), "alerts:read does not see {href}");
    }
    // The pages themselves refuse what the index does not offer, as REST refuses the same key.
    for path in ["/settings/api-keys", "/settings/secrets"] {
        assert_eq!(reader.get(path).await.status, 403, "{path}");
    }

    let (mut writer, _) = signed_in_with_key(&app, &["alerts:write"]).await;
    assert_eq!(writer.get("/settings").await.status, 403);
    assert_eq!(writer.get("/settings/sources").await.status, 403);
}

#[tokio::test]
async fn console_settings_keys_create_shows_the_key_once_and_it_authenticates() {
    let app = spawn_app().await;
    let (mut browser, _) = signed_in_with_key(&app, &["admin"]).await;
    let expiry = (chrono::Utc::now() + chrono::Duration::days(30)).format("%Y-%m-%dT%H:%M").to_string();
    let page = submit(
        &mut browser,
        "/settings/api-keys",
        "/settings/api-keys",
        &[
            ("name", "SIEM <forwarder>"),
            ("key_type", "agent"),
            ("scopes", "alerts:read"),
            ("scopes", "alerts:ingest"),
            ("allowed_sources", "generic"),
            ("expires_at", &expiry),
        ],
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let plain = shown_once(&page.body, "new-key");
    assert!(plain.starts_with("cai_"), "{plain}");
    assert!(page.body.contains("data-copy=\"new-key\""), "the copy button is beside it");
    assert!(page.body.contains(&askama_escape("SIEM <forwarder>")), "the name is escaped");

    // It works against REST with what the form asked for.
    assert_eq!(alerts_status(&app, &plain).await, 200);
    let (status, refused) =
        app.post("/v1/ingest/sentinel", &plain, json!({"properties": {"title": "t"}})).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("SOURCE_NOT_ALLOWED")), "{refused}");
    let keys = rest_keys(&app).await;
    let created = keys.iter().find(|k| k["name"] == "SIEM <forwarder>").expect("REST lists the key");
    assert_eq!(created["scopes"], json!(["alerts:read", "alerts:ingest"]));
    assert_eq!(created["key_type"], "agent");
    assert_eq!(created["allowed_sources"], json!(["generic"]));
    assert!(created["expires_at"].as_str().unwrap().starts_with(&expiry[..16]), "{created}");
    let prefix = created["key_prefix"].as_str().unwrap();

    // Shown once: the list from now on has its prefix, never the key.
    let list = browser.get("/settings/api-keys").await;
    assert_eq!(list.status, 200);
    assert!(!list.body.contains(&plain), "the key is never shown again");
    assert!(!list.body.contains("id=\"new-key\""));
    assert!(list.body.contains(&format!("data-key-prefix=\"{prefix}\"")));
    assert!(page.headers.get("cache-control").is_some_and(|v| v == "no-store"), "no cache keeps it");
}

#[tokio::test]
async fn console_settings_keys_create_refusals_are_rests_next_to_the_field() {
    let app = spawn_app().await;
    let (mut browser, _) = signed_in_with_key(&app, &["admin"]).await;
    let before = rest_keys(&app).await.len();
    let cases: [(Fields, &str, Value); 6] = [
        (
            &[("name", "k"), ("scopes", "alerts:reed")],
            "scopes",
            json!({"name": "k", "scopes": ["alerts:reed"]}),
        ),
        (&[("name", "k")], "scopes", json!({"name": "k", "scopes": []})),
        (
            &[("name", "  "), ("scopes", "alerts:read")],
            "name",
            json!({"name": "  ", "scopes": ["alerts:read"]}),
        ),
        (
            &[("name", "k"), ("scopes", "alerts:read"), ("key_type", "robot")],
            "key_type",
            json!({"name": "k", "scopes": ["alerts:read"], "key_type": "robot"}),
        ),
        (
            &[("name", "k"), ("scopes", "alerts:read"), ("expires_at", "next tuesday")],
            "expires_at",
            json!({"name": "k", "scopes": ["alerts:read"], "expires_at": "next tuesday"}),
        ),
        (
            &[("name", "k"), ("scopes", "alerts:read"), ("expires_at", "2001-01-01T00:00")],
            "expires_at",
            json!({"name": "k", "scopes": ["alerts:read"], "expires_at": "2001-01-01T00:00"}),
        ),
    ];
    for (fields, field, rest_body) in cases {
        let page = submit(&mut browser, "/settings/api-keys", "/settings/api-keys", fields).await;
        assert_eq!(page.status, 422, "{field}: {}", page.body);
        let (status, rest) = app.post("/v1/api-keys", &app.admin_key, rest_body).await;
        assert_eq!(status, 422, "{rest}");
        assert_eq!(field_message(&page.body, field), rest_field_message(&rest), "{field}");
        assert!(
            page.body.contains(&format!("aria-describedby=\"{field}-error\"")),
            "{field}: the input names its message"
        );
        assert!(!page.body.contains("id=\"new-key\""), "no key shown");
    }
    // What was typed comes back.
    let page = submit(
        &mut browser,
        "/settings/api-keys",
        "/settings/api-keys",
        &[("name", "Typed <name>"), ("scopes", "alerts:write"), ("expires_at", "soon")],
    )
    .await;
    assert!(page.body.contains(&format!("value=\"{}\"", askama_escape("Typed <name>"))), "{}", page.body);
    assert!(page.body.contains("value=\"alerts:write\" checked"));
    assert!(page.body.contains("value=\"soon\""));
    assert_eq!(rest_keys(&app).await.len(), before, "nothing was created");
}

#[tokio::test]
async fn console_settings_keys_edit_changes_scopes_and_sources_as_rest_sees_them() {
    let app = spawn_app().await;
    let (mut browser, _) = signed_in_with_key(&app, &["admin"]).await;
    let (plain, uuid) = create_key(&app, json!({"name": "edit me", "scopes": ["alerts:read"]})).await;
    let path = format!("/settings/api-keys/{uuid}");
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("value=\"alerts:read\" checked"));
    assert!(!page.body.contains(&plain));

    let saved = submit(
        &mut browser,
        &path,
        &path,
        &[("scopes", "alerts:read"), ("scopes", "workflows:read"), ("allowed_sources", "splunk")],
    )
    .await;
    assert_eq!((saved.status, saved.location()), (303, "/settings/api-keys"), "{}", saved.body);
    let (_, rest) = app.get(&format!("/v1/api-keys/{uuid}"), &app.admin_key).await;
    assert_eq!(rest["data"]["scopes"], json!(["alerts:read", "workflows:read"]));
    assert_eq!(rest["data"]["allowed_sources"], json!(["splunk"]));

    // No source checked lifts the restriction, as `allowed_sources: null` does.
    let saved = submit(&mut browser, &path, &path, &[("scopes", "alerts:read")]).await;
    assert_eq!(saved.status, 303);
    let (_, rest) = app.get(&format!("/v1/api-keys/{uuid}"), &app.admin_key).await;
    assert_eq!(rest["data"]["allowed_sources"], Value::Null);

    // Refusals: REST's words, next to the field; nothing changes.
    let refused = submit(&mut browser, &path, &path, &[("scopes", "root")]).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let (_, rest_refusal) =
        app.patch(&format!("/v1/api-keys/{uuid}"), &app.admin_key, json!({"scopes": ["root"]})).await;
    assert_eq!(field_message(&refused.body, "scopes"), rest_field_message(&rest_refusal));
    let long = "s".repeat(101);
    let refused =
        submit(&mut browser, &path, &path, &[("scopes", "alerts:read"), ("allowed_sources", &long)]).await;
    assert_eq!(refused.status, 422);
    let (_, rest_refusal) =
        app.patch(&format!("/v1/api-keys/{uuid}"), &app.admin_key, json!({"allowed_sources": [long]})).await;
    assert_eq!(field_message(&refused.body, "allowed_sources"), rest_field_message(&rest_refusal));
    let (_, rest) = app.get(&format!("/v1/api-keys/{uuid}"), &app.admin_key).await;
    assert_eq!(rest["data"]["scopes"], json!(["alerts:read"]));
}

#[tokio::test]
async fn console_settings_keys_revoke_asks_first_then_the_key_stops_working() {
    let app = spawn_app().await;
    let (mut browser, _) = signed_in_with_key(&app, &["admin"]).await;
    let (plain, uuid) = create_key(&app, json!({"name": "to revoke", "scopes": ["alerts:read"]})).await;
    let confirm_path = format!("/settings/api-keys/{uuid}/revoke");

    let list = browser.get("/settings/api-keys").await;
    assert!(list.body.contains(&format!("href=\"{confirm_path}\"")), "the list links to the confirmation");
    let confirm = browser.get(&confirm_path).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm.body.contains(&format!("action=\"{confirm_path}\"")), "a plain form revokes");
    assert_eq!(alerts_status(&app, &plain).await, 200, "asking revokes nothing");

    let token = confirm.csrf_token();
    let done = browser.post(&confirm_path, &[("csrf_token", &token)]).await;
    assert_eq!((done.status, done.location()), (303, "/settings/api-keys"), "{}", done.body);
    assert_eq!(alerts_status(&app, &plain).await, 401, "revoked at once");
    let (_, rest) = app.get(&format!("/v1/api-keys/{uuid}"), &app.admin_key).await;
    assert_eq!(rest["data"]["is_active"], false);
    let list = browser.get("/settings/api-keys").await;
    let row_start = list.body.find(&format!("data-key-uuid=\"{uuid}\"")).unwrap();
    let row = &list.body[row_start..row_start + list.body[row_start..].find("</tr>").unwrap()];
    assert!(row.contains("revoked") && !row.contains("/revoke\""), "{row}");
    assert_eq!(browser.get(&confirm_path).await.status, 409, "already revoked");

    // Without the CSRF token nothing happens.
    let (other, other_uuid) = create_key(&app, json!({"name": "kept", "scopes": ["alerts:read"]})).await;
    let forged = browser.post(&format!("/settings/api-keys/{other_uuid}/revoke"), &[]).await;
    assert_eq!(forged.status, 403);
    assert_eq!(alerts_status(&app, &other).await, 200);
}

#[tokio::test]
async fn console_settings_keys_scopes_refuse_what_rest_refuses() {
    let app = spawn_app().await;
    let (mut reader, _) = signed_in_with_key(&app, &["alerts:read"]).await;
    let before = rest_keys(&app).await.len();
    let page = reader.get("/settings/sources").await;
    assert_eq!(page.status, 200, "alerts:read reads sources, as REST's list");
    assert!(!page.body.contains("action=\"/settings/sources\""), "but is offered no change");
    let token = page.csrf_token();
    let (victim, victim_uuid) = create_key(&app, json!({"name": "victim", "scopes": ["alerts:read"]})).await;
    for (path, fields) in [
        ("/settings/api-keys", vec![("name", "x"), ("scopes", "admin")]),
        (&*format!("/settings/api-keys/{victim_uuid}"), vec![("scopes", "admin")]),
        (&*format!("/settings/api-keys/{victim_uuid}/revoke"), vec![]),
        ("/settings/sources", vec![("source_name", "sentinel"), ("display_name", "x")]),
        ("/settings/secrets", vec![("name", "X"), ("value", "y")]),
    ] {
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend(fields);
        assert_eq!(reader.post(path, &all).await.status, 403, "{path}");
    }
    assert_eq!(rest_keys(&app).await.len(), before + 1, "nothing was created");
    assert_eq!(alerts_status(&app, &victim).await, 200, "nothing was revoked");
    let (_, secrets) = app.get("/v1/workflow-secrets", &app.admin_key).await;
    assert_eq!(secrets["data"], json!([]));
}

/// The sentinel payload a SIEM would send, and its signature headers with `secret`.
fn sentinel_alert(title: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"properties": {"title": title, "severity": "High"}})).unwrap()
}

/// Posts `body` to the path of the webhook URL `url` (served here, not at the public base).
async fn post_webhook(
    app: &TestApp,
    url: &str,
    key: &str,
    body: &[u8],
    signature: Option<String>,
) -> (u16, Value) {
    let path = url.strip_prefix(PUBLIC_BASE.trim_end_matches('/')).unwrap_or_else(|| panic!("{url}"));
    let mut request = app.client.post(app.url(path)).bearer_auth(key).body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("X-Sentinel-Signature", signature);
    }
    status_json(request.send().await.unwrap()).await
}

/// The uuid of the (first) source card of plugin `source_name` on the sources page.
fn source_uuid(html: &str, source_name: &str) -> String {
    let at = html
        .find(&format!("\" data-source-name=\"{source_name}\""))
        .unwrap_or_else(|| panic!("no {source_name} card in {html}"));
    html[at - 36..at].to_string()
}

#[tokio::test]
async fn console_settings_keys_sources_webhook_url_and_secret_verify_an_alert() {
    let app = app_with_public_base().await;
    let (mut browser, _) = signed_in_with_key(&app, &["admin"]).await;
    let ingest_key = app.key_with(&["alerts:ingest"]).await;

    // Every plugin's URL is under the configured public base; Elastic's secret comes from the
    // environment, Sentinel has none yet.
    let page = browser.get("/settings/sources").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("https://calseta.example/v1/ingest/sentinel"));
    assert!(page.body.contains("Verified with the secret from ELASTIC_WEBHOOK_SECRET"), "{}", page.body);
    assert!(!page.body.contains("elastic-from-env"), "an environment secret is never shown");

    let added = submit(
        &mut browser,
        "/settings/sources",
        "/settings/sources",
        &[("source_name", "sentinel"), ("display_name", "Sentinel (prod)")],
    )
    .await;
    assert_eq!((added.status, added.location()), (303, "/settings/sources"), "{}", added.body);
    let page = browser.get("/settings/sources").await;
    let uuid = source_uuid(&page.body, "sentinel");
    let url = shown_once(&page.body, &format!("url-{uuid}"));
    assert_eq!(url, "https://calseta.example/v1/ingest/sentinel");
    assert!(page.body.contains("Not verified: no secret is set here or in SENTINEL_WEBHOOK_SECRET"));
    assert!(page.body.contains("x-sentinel-signature"), "the header is named");
    let (status, rest) = app.get(&format!("/v1/sources/{uuid}"), &app.admin_key).await;
    assert_eq!((status, rest["data"]["display_name"].as_str()), (200, Some("Sentinel (prod)")));

    // Generate: the secret is shown once and verifies the next webhook.
    let secret_path = format!("/settings/sources/{uuid}/secret");
    let generated = submit(&mut browser, "/settings/sources", &secret_path, &[("action", "generate")]).await;
    assert_eq!(generated.status, 200, "{}", generated.body);
    let secret = shown_once(&generated.body, "new-secret");
    assert!(secret.len() >= 40, "{secret}");
    let body = sentinel_alert("Signed from the SIEM");
    let good = Some(format!("sha256={}", hmac_sha256_hex(&secret, &body)));
    let (status, accepted) = post_webhook(&app, &url, &ingest_key, &body, good.clone()).await;
    assert_eq!(status, 202, "{accepted}");
    let (status, refused) = post_webhook(&app, &url, &ingest_key, &body, None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (401, Some("INVALID_SIGNATURE")));
    let page = browser.get("/settings/sources").await;
    assert!(!page.body.contains(&secret), "never shown again");
    assert!(page.body.contains("Verified with the secret set here."));
    let (_, rest) = app.get(&format!("/v1/sources/{uuid}"), &app.admin_key).await;
    assert!(!rest.to_string().contains(&secret), "nor by REST");

    // Rotate: the old signature stops verifying at once, the new one verifies.
    let rotated = submit(&mut browser, "/settings/sources", &secret_path, &[("action", "generate")]).await;
    let new_secret = shown_once(&rotated.body, "new-secret");
    assert_ne!(new_secret, secret);
    assert_eq!(post_webhook(&app, &url, &ingest_key, &body, good).await.0, 401);
    let signed = Some(hmac_sha256_hex(&new_secret, &body));
    assert_eq!(post_webhook(&app, &url, &ingest_key, &body, signed).await.0, 202);

    // A secret the SIEM already has, typed in.
    let set = submit(
        &mut browser,
        "/settings/sources",
        &secret_path,
        &[("action", "set"), ("webhook_secret", "typed-by-the-admin")],
    )
    .await;
    // Saved, and never sent back: the admin has it (only a generated secret is shown, once).
    assert_eq!((set.status, set.location()), (303, "/settings/sources"));
    assert!(!browser.get("/settings/sources").await.body.contains("typed-by-the-admin"));
    let signed = Some(hmac_sha256_hex("typed-by-the-admin", &body));
    assert_eq!(post_webhook(&app, &url, &ingest_key, &body, signed).await.0, 202);

    // Removed: unsigned webhooks are accepted again (no environment secret for Sentinel).
    let removed = submit(&mut browser, "/settings/sources", &secret_path, &[("action", "remove")]).await;
    assert_eq!(removed.status, 303);
    assert_eq!(post_webhook(&app, &url, &ingest_key, &body, None).await.0, 202);
}

#[tokio::test]
async fn console_settings_keys_source_refusals_are_rests_and_delete_asks_first() {
    let app = app_with_public_base().await;
    let (mut browser, _) = signed_in_with_key(&app, &["admin"]).await;
    let page = submit(
        &mut browser,
        "/settings/sources",
        "/settings/sources",
        &[("source_name", "sentinel"), ("display_name", " ")],
    )
    .await;
    assert_eq!(page.status, 422, "{}", page.body);
    let (_, rest) = app
        .post("/v1/sources", &app.admin_key, json!({"source_name": "sentinel", "display_name": " "}))
        .await;
    assert_eq!(field_message(&page.body, "display_name"), rest_field_message(&rest));

    let page = submit(
        &mut browser,
        "/settings/sources",
        "/settings/sources",
        &[("source_name", "qradar"), ("display_name", "Q")],
    )
    .await;
    assert_eq!(page.status, 422);
    let (_, rest) =
        app.post("/v1/sources", &app.admin_key, json!({"source_name": "qradar", "display_name": "Q"})).await;
    let message = rest["error"]["message"].as_str().unwrap();
    let start = page.body.find("id=\"add\"").unwrap();
    assert!(general_messages(&page.body[start..]).contains(message), "{message} in {}", &page.body[start..]);
    let (_, listed) = app.get("/v1/sources", &app.admin_key).await;
    assert_eq!(listed["data"], json!([]), "nothing was added");

    // An empty secret is refused next to its field; a generic source has no signature to set.
    let (_, sentinel) = app
        .post("/v1/sources", &app.admin_key, json!({"source_name": "sentinel", "display_name": "S"}))
        .await;
    let sentinel = sentinel["data"]["uuid"].as_str().unwrap().to_string();
    let page = submit(
        &mut browser,
        "/settings/sources",
        &format!("/settings/sources/{sentinel}/secret"),
        &[("action", "set"), ("webhook_secret", "   ")],
    )
    .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert_eq!(field_message(&page.body, "webhook_secret"), "webhook_secret must be 1 to 1024 characters");
    let (_, generic) =
        app.post("/v1/sources", &app.admin_key, json!({"source_name": "generic", "display_name": "G"})).await;
    let generic = generic["data"]["uuid"].as_str().unwrap().to_string();
    let page = submit(
        &mut browser,
        "/settings/sources",
        &format!("/settings/sources/{generic}/secret"),
        &[("action", "generate")],
    )
    .await;
    assert_eq!(page.status, 422);
    assert!(general_messages(&page.body).contains("(SIGNATURE_NOT_SUPPORTED)"), "{}", page.body);
    assert!(!page.body.contains("id=\"new-secret\""));

    // Deactivate and activate, as REST's `is_active`.
    let active_path = format!("/settings/sources/{sentinel}/active");
    let off = submit(&mut browser, "/settings/sources", &active_path, &[("is_active", "false")]).await;
    assert_eq!((off.status, off.location()), (303, "/settings/sources"), "{}", off.body);
    let (_, rest) = app.get(&format!("/v1/sources/{sentinel}"), &app.admin_key).await;
    assert_eq!(rest["data"]["is_active"], false);
    let page = browser.get("/settings/sources").await;
    let card = &page.body[page.body.find(&format!("data-source-uuid=\"{sentinel}\"")).unwrap()..];
    assert!(card[..card.find("</li>").unwrap()].contains("inactive"));
    let on = submit(&mut browser, "/settings/sources", &active_path, &[("is_active", "true")]).await;
    assert_eq!(on.status, 303);
    let (_, rest) = app.get(&format!("/v1/sources/{sentinel}"), &app.admin_key).await;
    assert_eq!(rest["data"]["is_active"], true);

    // Delete asks first, then deletes as REST's DELETE does.
    let confirm_path = format!("/settings/sources/{generic}/delete");
    let confirm = browser.get(&confirm_path).await;
    assert_eq!(confirm.status, 200);
    let (status, _) = app.get(&format!("/v1/sources/{generic}"), &app.admin_key).await;
    assert_eq!(status, 200, "asking deletes nothing");
    let token = confirm.csrf_token();
    let done = browser.post(&confirm_path, &[("csrf_token", &token)]).await;
    assert_eq!((done.status, done.location()), (303, "/settings/sources"));
    let (status, _) = app.get(&format!("/v1/sources/{generic}"), &app.admin_key).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn console_settings_keys_a_stored_secret_replaces_the_environments() {
    let app = app_with_public_base().await;
    let (mut browser, _) = signed_in_with_key(&app, &["alerts:read"]).await;
    let ingest_key = app.key_with(&["alerts:ingest"]).await;
    let body = serde_json::to_vec(&json!({"kibana.alert.rule.name": "Stored beats env"})).unwrap();
    let send = |secret: &str| {
        app.client
            .post(app.url("/v1/ingest/elastic"))
            .bearer_auth(&ingest_key)
            .header("X-Elastic-Signature", hmac_sha256_hex(secret, &body))
            .body(body.clone())
            .send()
    };
    assert_eq!(send("elastic-from-env").await.unwrap().status(), 202, "the environment's secret verifies");

    // Stored through REST (`auth_config.webhook_secret`), it wins over the environment's at once.
    let (status, created) = app
        .post(
            "/v1/sources",
            &app.admin_key,
            json!({"source_name": "elastic", "display_name": "Elastic", "auth_config": {"webhook_secret": "stored-elastic"}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(send("elastic-from-env").await.unwrap().status(), 401);
    assert_eq!(send("stored-elastic").await.unwrap().status(), 202);
    let page = browser.get("/settings/sources").await;
    assert_eq!(page.status, 200);
    let card = &page.body[page.body.find("data-source-name=\"elastic\"").unwrap()..];
    assert!(
        card.contains("Verified with the secret set here.")
            && card.contains("<dd class=\"secret-stored\">yes</dd>")
    );
    assert!(!page.body.contains("stored-elastic") && !page.body.contains("elastic-from-env"));
    assert!(!page.body.contains("/secret\""), "alerts:read is offered no secret form");

    // An inactive integration's secret is not used.
    let uuid = created["data"]["uuid"].as_str().unwrap();
    let (status, _) =
        app.patch(&format!("/v1/sources/{uuid}"), &app.admin_key, json!({"is_active": false})).await;
    assert_eq!(status, 200);
    assert_eq!(send("elastic-from-env").await.unwrap().status(), 202);
}

#[tokio::test]
async fn console_settings_keys_workflow_secrets_set_rotate_delete_and_never_show_values() {
    let app = spawn_app().await;
    let (mut browser, _) = signed_in_with_key(&app, &["admin", "workflows:read"]).await;
    let workflow = gated_workflow(&app, "Block <the> IP", "high").await;
    grant(&app, &workflow, &["OKTA_TOKEN", "NOT_YET_SET"]).await;

    let first_value = "first-value-Zq8r<&>";
    let saved = submit(
        &mut browser,
        "/settings/secrets",
        "/settings/secrets",
        &[("name", "OKTA_TOKEN"), ("value", first_value)],
    )
    .await;
    assert_eq!(
        (saved.status, saved.location()),
        (303, "/settings/secrets?saved=OKTA_TOKEN"),
        "{}",
        saved.body
    );
    let (_, listed) = app.get("/v1/workflow-secrets", &app.admin_key).await;
    assert_eq!(listed["data"][0]["name"], "OKTA_TOKEN");
    let first_update = listed["data"][0]["updated_at"].clone();

    let page = browser.get("/settings/secrets?saved=OKTA_TOKEN").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("data-secret=\"OKTA_TOKEN\""));
    // Its grants: the workflow that may read it, and a grant waiting for its secret.
    let row_start = page.body.find("data-secret=\"OKTA_TOKEN\"").unwrap();
    let row = &page.body[row_start..row_start + page.body[row_start..].find("</tr>").unwrap()];
    assert!(
        row.contains(&format!("href=\"/workflows/{workflow}\">{}</a>", askama_escape("Block <the> IP"))),
        "{row}"
    );
    assert!(page.body.contains("<code>NOT_YET_SET</code>"), "a grant without its secret is listed");

    // Rotate: a new value under the same name.
    let second_value = "second-value-Kp2w";
    let rotated = submit(
        &mut browser,
        "/settings/secrets",
        "/settings/secrets",
        &[("name", "OKTA_TOKEN"), ("value", second_value)],
    )
    .await;
    assert_eq!(rotated.status, 303);
    let (_, listed) = app.get("/v1/workflow-secrets", &app.admin_key).await;
    assert_ne!(listed["data"][0]["updated_at"], first_update, "rotated");

    // A refusal in REST's words, and the value typed is not sent back.
    let refused = submit(
        &mut browser,
        "/settings/secrets",
        "/settings/secrets",
        &[("name", "bad name!"), ("value", "refused-value-Xy")],
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let rest = app
        .client
        .put(app.url("/v1/workflow-secrets/bad%20name!"))
        .bearer_auth(&app.admin_key)
        .json(&json!({"value": "v"}))
        .send()
        .await
        .unwrap();
    let (_, rest) = status_json(rest).await;
    assert_eq!(field_message(&refused.body, "name"), rest_field_message(&rest));
    assert!(refused.body.contains("value=\"bad name!\""), "the name comes back");

    // No value ever appears in any page.
    let mut pages = vec![refused.body.clone()];
    for path in [
        "/settings",
        "/settings/secrets",
        "/settings/secrets/OKTA_TOKEN/delete",
        "/settings/api-keys",
        "/settings/sources",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        pages.push(page.body);
    }
    for body in &pages {
        for value in [first_value, "first-value-Zq8r", second_value, "refused-value-Xy"] {
            assert!(!body.contains(value), "a secret's value is in a page");
        }
    }

    // Delete asks first.
    let confirm = browser.get("/settings/secrets/OKTA_TOKEN/delete").await;
    let token = confirm.csrf_token();
    let (_, listed) = app.get("/v1/workflow-secrets", &app.admin_key).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "asking deletes nothing");
    let done = browser.post("/settings/secrets/OKTA_TOKEN/delete", &[("csrf_token", &token)]).await;
    assert_eq!((done.status, done.location()), (303, "/settings/secrets?deleted=OKTA_TOKEN"));
    let (_, listed) = app.get("/v1/workflow-secrets", &app.admin_key).await;
    assert_eq!(listed["data"], json!([]));
    assert_eq!(browser.get("/settings/secrets/OKTA_TOKEN/delete").await.status, 404);
}

// ---- Chromium ----------------------------------------------------------------------------------

/// A human admin key for the browser tests.
async fn admin_key(app: &TestApp) -> String {
    create_key(app, json!({"name": "Console admin", "scopes": ["admin", "workflows:read"]})).await.0
}

#[tokio::test]
async fn console_settings_keys_browser_journey_create_use_revoke() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    let key = admin_key(&app).await;
    sign_in(&browser, &app, &key, "/settings").await;
    browser.click("a[href='/settings/api-keys']").await;
    browser.wait_for_path("/settings/api-keys").await;

    browser.css("#key-name").await.send_keys("Journey key").await.unwrap();
    browser.click("input[name=scopes][value='alerts:read']").await;
    browser.click("#create-key-form button[type=submit]").await;
    let created = eventually("the key is shown", Duration::from_secs(20), || async {
        let value = browser
            .run("const f = document.getElementById('new-key'); return f ? f.value : null", vec![])
            .await;
        value.as_str().map(str::to_string)
    })
    .await;
    assert!(created.starts_with("cai_"), "{created}");
    assert_quiet(&browser, "the new key").await;

    // The copy button is revealed; a click selects the field (and copies it where allowed).
    let copy = browser.css("button[data-copy='new-key']").await;
    assert!(copy.is_displayed().await.unwrap(), "the copy button is revealed");
    copy.click().await.unwrap();
    let copied = eventually("the copy button answers", Duration::from_secs(10), || async {
        let state = browser
            .run(
                "const f = document.getElementById('new-key'); const b = document.querySelector(\"button[data-copy='new-key']\");
                 return [f.selectionStart === 0 && f.selectionEnd === f.value.length, b.textContent];",
                vec![],
            )
            .await;
        (state[1] != "Copy").then_some(state)
    })
    .await;
    assert_eq!(copied[0], true, "the field is selected: {copied}");
    assert!(["Copied", "Press Ctrl+C to copy"].contains(&copied[1].as_str().unwrap()), "{copied}");

    // It works against REST.
    assert_eq!(alerts_status(&app, &created).await, 200);

    // Gone on reload.
    browser.open(&app.url("/settings/api-keys")).await;
    let html = browser.run("return document.documentElement.outerHTML", vec![]).await;
    assert!(!html.as_str().unwrap().contains(&created), "the key is not shown again");
    assert!(browser.run("return document.getElementById('new-key') === null", vec![]).await == json!(true));

    // Revoke it in the console: a confirmation page, then the key stops working.
    let prefix = &created[..8];
    browser.click(&format!("tr[data-key-prefix='{prefix}'] a[href$='/revoke']")).await;
    eventually("the confirmation page", Duration::from_secs(20), || async {
        browser.path().await.ends_with("/revoke").then_some(())
    })
    .await;
    assert_quiet(&browser, "the confirmation").await;
    assert_eq!(alerts_status(&app, &created).await, 200, "asking revokes nothing");
    browser.click(".settings-confirm-form button[type=submit]").await;
    browser.wait_for_path("/settings/api-keys").await;
    assert_eq!(alerts_status(&app, &created).await, 401, "revoked in the console, refused by REST");
    let state = browser
        .run(
            &format!(
                "return document.querySelector(\"tr[data-key-prefix='{prefix}'] .key-state\").textContent"
            ),
            vec![],
        )
        .await;
    assert_eq!(state, "revoked");
    assert_quiet(&browser, "after revoking").await;
    browser.quit().await;
}

#[tokio::test]
async fn console_settings_keys_browser_round_trips_sources_and_secrets() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = app_with_public_base().await;
    let key = admin_key(&app).await;
    sign_in(&browser, &app, &key, "/settings/sources").await;

    // Add a source, generate its secret: shown once, and it verifies a signed webhook.
    browser.css("#add-plugin").await.select_by_value("sentinel").await.unwrap();
    browser.css("#add-display").await.send_keys("Sentinel EU").await.unwrap();
    browser.click("#add-source-form button[type=submit]").await;
    let generate = "li[data-source-name='sentinel'] button[value=generate]";
    eventually("the source is listed", Duration::from_secs(20), || async {
        browser
            .run(&format!("return document.querySelector(\"{generate}\") !== null"), vec![])
            .await
            .as_bool()
            .filter(|b| *b)
    })
    .await;
    browser.click(generate).await;
    let secret = eventually("the secret is shown", Duration::from_secs(20), || async {
        let value = browser
            .run("const f = document.getElementById('new-secret'); return f ? f.value : null", vec![])
            .await;
        value.as_str().map(str::to_string)
    })
    .await;
    let url = browser
        .run(
            "return document.querySelector(\"li[data-source-name='sentinel'] .webhook-url input\").value",
            vec![],
        )
        .await;
    let url = url.as_str().unwrap().to_string();
    let ingest_key = app.key_with(&["alerts:ingest"]).await;
    let body = sentinel_alert("Signed in the browser test");
    let signed = Some(hmac_sha256_hex(&secret, &body));
    assert_eq!(post_webhook(&app, &url, &ingest_key, &body, signed).await.0, 202);
    assert_quiet(&browser, "the sources page").await;

    // Set a workflow secret, rotate it, delete it.
    browser.open(&app.url("/settings/secrets")).await;
    browser.css("#secret-name").await.send_keys("SLACK_TOKEN").await.unwrap();
    browser.css("#secret-value").await.send_keys("xoxb-browser-value").await.unwrap();
    browser.click("#set-secret-form button[type=submit]").await;
    eventually("the secret is listed", Duration::from_secs(20), || async {
        browser
            .run("return document.querySelector(\"tr[data-secret='SLACK_TOKEN']\") !== null", vec![])
            .await
            .as_bool()
            .filter(|b| *b)
    })
    .await;
    let (_, listed) = app.get("/v1/workflow-secrets", &app.admin_key).await;
    let before = listed["data"][0]["updated_at"].clone();
    browser.css("#rotate-SLACK_TOKEN").await.send_keys("xoxb-rotated").await.unwrap();
    browser.click("tr[data-secret='SLACK_TOKEN'] .rotate-form button").await;
    eventually("the secret is rotated", Duration::from_secs(20), || async {
        let (_, listed) = app.get("/v1/workflow-secrets", &app.admin_key).await;
        (listed["data"][0]["updated_at"] != before).then_some(())
    })
    .await;
    let html = browser.run("return document.documentElement.outerHTML", vec![]).await;
    assert!(!html.as_str().unwrap().contains("xoxb-"), "no value in the page");
    browser.click("tr[data-secret='SLACK_TOKEN'] a[href$='/delete']").await;
    browser.wait_for_path("/settings/secrets/SLACK_TOKEN/delete").await;
    browser.click(".settings-confirm-form button[type=submit]").await;
    eventually("the secret is deleted", Duration::from_secs(20), || async {
        let (_, listed) = app.get("/v1/workflow-secrets", &app.admin_key).await;
        (listed["data"] == json!([])).then_some(())
    })
    .await;
    assert_quiet(&browser, "the secrets page").await;
    browser.quit().await;
}

#[tokio::test]
async fn console_settings_keys_browser_hostile_names_render_inert() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    let key = admin_key(&app).await;
    let mut key_uuids = Vec::new();
    let mut source_uuids = Vec::new();
    for text in HOSTILE_TEXTS {
        key_uuids.push(create_key(&app, json!({"name": text, "scopes": ["alerts:read"]})).await.1);
        let (status, source) = app
            .post("/v1/sources", &app.admin_key, json!({"source_name": "sentinel", "display_name": text}))
            .await;
        assert_eq!(status, 201, "{source}");
        source_uuids.push(source["data"]["uuid"].as_str().unwrap().to_string());
    }
    // Secret names cannot carry markup; the workflows granted them can.
    let workflow = gated_workflow(&app, HOSTILE_TEXTS[0], "low").await;
    grant(&app, &workflow, &["API_TOKEN"]).await;
    let put = app.client.put(app.url("/v1/workflow-secrets/API_TOKEN")).bearer_auth(&app.admin_key);
    assert_eq!(put.json(&json!({"value": "<script>alert(1)</script>"})).send().await.unwrap().status(), 200);

    sign_in(&browser, &app, &key, "/settings").await;
    let mut pages = vec![
        "/settings/api-keys".to_string(),
        "/settings/sources".to_string(),
        "/settings/secrets".to_string(),
    ];
    pages.push(format!("/settings/api-keys/{}", key_uuids[1]));
    pages.push(format!("/settings/api-keys/{}/revoke", key_uuids[3]));
    pages.push(format!("/settings/sources/{}/delete", source_uuids[4]));
    for path in &pages {
        assert_inert(&browser, &app, path).await;
    }
    for path in ["/settings/api-keys", "/settings/sources"] {
        browser.open(&app.url(path)).await;
        let text = browser.run("return document.body.innerText", vec![]).await;
        for hostile in HOSTILE_TEXTS {
            assert!(text.as_str().unwrap().contains(hostile), "{path}: {hostile} is not shown as written");
        }
    }
    browser.open(&app.url("/settings/secrets")).await;
    let grants = browser
        .run(
            "return document.querySelector(\"tr[data-secret='API_TOKEN'] .secret-grants\").innerText",
            vec![],
        )
        .await;
    assert!(grants.as_str().unwrap().contains(HOSTILE_TEXTS[0]), "{grants}");
    browser.open(&app.url(&format!("/settings/api-keys/{}/revoke", key_uuids[3]))).await;
    let text = browser.run("return document.querySelector('.settings-confirm').innerText", vec![]).await;
    assert!(text.as_str().unwrap().contains(HOSTILE_TEXTS[3]), "{text}");
    assert_quiet(&browser, "the hostile names").await;
    browser.quit().await;
}

#[tokio::test]
async fn console_settings_keys_browser_pages_have_no_serious_accessibility_violations() {
    let Some(axe) = axe_core() else { return };
    let Some(browser) = ChromeSession::start().await else { return };
    let app = app_with_public_base().await;
    let key = admin_key(&app).await;
    let (_, key_uuid) =
        create_key(&app, json!({"name": "Reader", "scopes": ["alerts:read"], "allowed_sources": ["splunk"]}))
            .await;
    let (_, source) = app
        .post("/v1/sources", &app.admin_key, json!({"source_name": "sentinel", "display_name": "Sentinel"}))
        .await;
    let source = source["data"]["uuid"].as_str().unwrap().to_string();
    let workflow = gated_workflow(&app, "Isolate host", "high").await;
    grant(&app, &workflow, &["EDR_TOKEN", "UNSET"]).await;
    let put = app.client.put(app.url("/v1/workflow-secrets/EDR_TOKEN")).bearer_auth(&app.admin_key);
    assert_eq!(put.json(&json!({"value": "v"})).send().await.unwrap().status(), 200);
    sign_in(&browser, &app, &key, "/settings").await;

    let paths = [
        "/settings".to_string(),
        "/settings/api-keys".to_string(),
        format!("/settings/api-keys/{key_uuid}"),
        format!("/settings/api-keys/{key_uuid}/revoke"),
        "/settings/sources".to_string(),
        format!("/settings/sources/{source}/delete"),
        "/settings/secrets".to_string(),
        "/settings/secrets/EDR_TOKEN/delete".to_string(),
    ];
    for dark in [false, true] {
        browser.prefer_dark(dark).await;
        let mut report = Vec::new();
        for path in &paths {
            browser.open(&app.url(path)).await;
            report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("{path}: {v}")));
        }
        // The pages as a form leaves them: a new key shown once, a new secret, refusals.
        browser.open(&app.url("/settings/api-keys")).await;
        browser.css("#key-name").await.send_keys("Axe key").await.unwrap();
        browser.click("input[name=scopes][value='alerts:read']").await;
        browser.click("#create-key-form button[type=submit]").await;
        eventually("the key is shown", Duration::from_secs(20), || async {
            browser
                .run("return document.getElementById('new-key') !== null", vec![])
                .await
                .as_bool()
                .filter(|b| *b)
        })
        .await;
        report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("new key: {v}")));
        browser.open(&app.url("/settings/api-keys")).await;
        browser.css("#key-expires").await.send_keys("someday").await.unwrap();
        browser.css("#key-name").await.send_keys("Refused").await.unwrap();
        browser.click("#create-key-form button[type=submit]").await;
        eventually("the refusal is shown", Duration::from_secs(20), || async {
            browser
                .run("return document.getElementById('expires_at-error') !== null", vec![])
                .await
                .as_bool()
                .filter(|b| *b)
        })
        .await;
        report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("refused key: {v}")));
        browser.open(&app.url("/settings/sources")).await;
        browser.click(&format!("li[data-source-uuid='{source}'] button[value=generate]")).await;
        eventually("the secret is shown", Duration::from_secs(20), || async {
            browser
                .run("return document.getElementById('new-secret') !== null", vec![])
                .await
                .as_bool()
                .filter(|b| *b)
        })
        .await;
        report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("new secret: {v}")));
        browser.open(&app.url("/settings/secrets")).await;
        browser.css("#secret-name").await.send_keys("bad name").await.unwrap();
        browser.click("#set-secret-form button[type=submit]").await;
        eventually("the refusal is shown", Duration::from_secs(20), || async {
            browser
                .run("return document.getElementById('name-error') !== null", vec![])
                .await
                .as_bool()
                .filter(|b| *b)
        })
        .await;
        report
            .extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("refused secret: {v}")));
        assert!(report.is_empty(), "{} theme: {report:#?}", if dark { "dark" } else { "light" });
        // The refused forms were answered 422, which Chrome logs; nothing else may be.
        assert_refused_quietly(&browser, "refused forms").await;
    }
    browser.quit().await;
}
