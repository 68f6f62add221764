//! The console's enrichment providers (`/providers…`): the builder (steps, malice rules, field
//! extractions) building the body REST takes, refusals equal to REST's beside their field,
//! write-only credentials, the live test with masked credentials and the deciding rule,
//! activation, clearing the cache, per-provider counts; in Chromium the journey from a provider
//! built in the console to an alert whose indicator shows its verdict and rule, hostile content
//! rendered inert, and axe-core on every page in both themes. The provider is a loopback server.

use serde_json::{Value, json};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::browser::ChromeSession;
use crate::console::{Browser, askama_escape, create_key, rest_error_messages, signed_in};
use crate::console_browser::{
    FOREIGN_MARKUP, HOSTILE_TEXTS, assert_inert, assert_quiet, axe_core, axe_violations, ingest, sign_in,
};
use crate::helpers::*;

/// A public-looking address (TEST-NET ranges are skipped by the gate as non-routable).
const IP: &str = "93.184.216.34";
const SECRET: &str = "sekret-api-key-123456";

/// An app that may call loopback, and a provider server answering `answer` under `/intel/`.
pub(crate) async fn app_and_server(answer: Value) -> (TestApp, MockServer) {
    let server = MockServer::start().await;
    Mock::given(path_regex("^/intel/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&server)
        .await;
    let app = spawn_app_reaching_loopback().await;
    (app, server)
}

/// The builder's fields for a provider `name` calling `server` (one step with a credential
/// header, rules score ≥ 80 Malicious and score ≥ 40 Suspicious, Benign otherwise).
pub(crate) fn builder_fields(name: &str, server: &MockServer) -> Vec<(String, String)> {
    let url = format!("{}/intel/{{{{indicator.value}}}}", server.uri());
    [
        ("provider_name", name.to_string()),
        ("display_name", format!("{name} display")),
        ("description", "Scores addresses".into()),
        ("supported_indicator_types", "ip".into()),
        ("auth_type", "api_key".into()),
        ("credentials", format!("api_key: {SECRET}")),
        ("default_cache_ttl_seconds", "3600".into()),
        ("rate_limit_per_minute", "".into()),
        ("max_concurrency", "4".into()),
        ("private_network_hosts", "".into()),
        ("url_templates_by_type", "".into()),
        ("step_name", "lookup".into()),
        ("step_method", "GET".into()),
        ("step_url", url),
        ("step_timeout", "10".into()),
        ("step_expected_status", "200".into()),
        ("step_not_found_status", "404".into()),
        ("step_headers", "Accept: application/json\nx-api-key: {{auth.api_key}}".into()),
        ("step_body", "".into()),
        ("step_extra", "".into()),
        ("rule_field", "score".into()),
        ("rule_operator", ">=".into()),
        ("rule_value", "80".into()),
        ("rule_verdict", "Malicious".into()),
        ("rule_field", "score".into()),
        ("rule_operator", ">=".into()),
        ("rule_value", "40".into()),
        ("rule_verdict", "Suspicious".into()),
        ("default_verdict", "Benign".into()),
        ("not_found_verdict", "Pending".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Posts `fields` (plus the CSRF token of `form_path`'s page and `action`) to `path`.
pub(crate) async fn post_builder(
    browser: &mut Browser,
    form_path: &str,
    path: &str,
    fields: &[(String, String)],
    action: &str,
) -> crate::console::Page {
    let token = browser.get(form_path).await.csrf_token();
    let mut all: Vec<(&str, &str)> = vec![("csrf_token", token.as_str()), ("action", action)];
    all.extend(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    browser.post(path, &all).await
}

/// Posts `fields` (with the CSRF token of the provider's page) to the provider's `action`.
async fn post_on_provider(
    browser: &mut Browser,
    uuid: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> crate::console::Page {
    let token = browser.get(&format!("/providers/{uuid}")).await.csrf_token();
    let mut all = vec![("csrf_token", token.as_str())];
    all.extend_from_slice(fields);
    browser.post(&format!("/providers/{uuid}/{action}"), &all).await
}

/// The provider's REST representation by name.
pub(crate) async fn rest_provider(app: &TestApp, name: &str) -> Value {
    let (_, list) = app.get("/v1/enrichment-providers?page_size=100", &app.admin_key).await;
    list["data"].as_array().unwrap().iter().find(|p| p["provider_name"] == name).cloned().unwrap()
}

/// REST's validation messages for `body` posted to `path`.
async fn rest_messages(app: &TestApp, path: &str, body: Value) -> Vec<String> {
    let (status, refused) = app.post(path, &app.admin_key, body).await;
    assert_eq!(status, 422, "{refused}");
    rest_error_messages(&refused)
}

/// Creates the provider through the console; its uuid.
pub(crate) async fn create_in_console(
    app: &TestApp,
    browser: &mut Browser,
    server: &MockServer,
    name: &str,
) -> String {
    let page =
        post_builder(browser, "/providers/new", "/providers/new", &builder_fields(name, server), "save")
            .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let uuid = rest_provider(app, name).await["uuid"].as_str().unwrap().to_string();
    assert_eq!(page.location(), format!("/providers/{uuid}?saved=1"));
    uuid
}

/// Adds the `score` extraction through the console.
async fn add_score_extraction(browser: &mut Browser, uuid: &str) {
    let page = post_on_provider(
        browser,
        uuid,
        "extractions",
        &[
            ("indicator_type", "ip"),
            ("source_path", "score"),
            ("target_key", "score"),
            ("value_type", "int"),
            ("description", ""),
        ],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
}

#[tokio::test]
async fn console_providers_builder_creates_what_rest_takes_and_the_list_counts_results_and_cache() {
    let (app, server) = app_and_server(json!({"score": 55, "asn": "AS15133"})).await;
    let mut browser = signed_in(&app, &["admin"]).await;

    // "Add step" and "Add rule" re-render the form with one more row; nothing is saved.
    let fields = builder_fields("grid_intel", &server);
    let page = post_builder(&mut browser, "/providers/new", "/providers/new", &fields, "add_step").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body.matches("name=\"step_url\"").count(), 2);
    assert!(page.body.contains("id=\"http_config.steps.1.url\""));
    let page = post_builder(&mut browser, "/providers/new", "/providers/new", &fields, "rule_down:0").await;
    assert_eq!(page.body.matches("name=\"rule_field\"").count(), 2);
    let first = page.body.find("value=\"40\"").unwrap();
    assert!(first < page.body.find("value=\"80\"").unwrap(), "rule 2 moved up");
    let page = post_builder(&mut browser, "/providers/new", "/providers/new", &fields, "remove_rule:1").await;
    assert_eq!(page.body.matches("name=\"rule_field\"").count(), 1);
    assert_eq!(rest_provider_count(&app, "grid_intel").await, 0);

    // Save: the body REST takes.
    let uuid = create_in_console(&app, &mut browser, &server, "grid_intel").await;
    let rest = rest_provider(&app, "grid_intel").await;
    assert_eq!(rest["http_config"]["steps"][0]["headers"]["x-api-key"], "{{auth.api_key}}");
    assert_eq!(rest["http_config"]["steps"][0]["not_found_status"], json!([404]));
    assert_eq!(
        rest["malice_rules"]["rules"][1],
        json!({"field": "score", "operator": ">=", "value": 40, "verdict": "Suspicious"})
    );
    assert_eq!((rest["has_credentials"].as_bool(), rest["is_active"].as_bool()), (Some(true), Some(true)));

    // Credentials are write-only: "set", never shown.
    let page = browser.get(&format!("/providers/{uuid}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<dd id=\"provider-credentials\">set"), "{}", page.body);
    assert!(!page.body.contains(SECRET) && !page.body.contains("sekr"), "the credential is shown");

    // A field extraction through the console, then an alert enriched by the provider.
    add_score_extraction(&mut browser, &uuid).await;
    let alert = ingest(&app, json!({"title": "Beacon", "src_ip": IP})).await;
    let list = browser.get("/providers").await;
    let row = provider_row(&list.body, "grid_intel");
    for text in ["data-succeeded=\"1\"", "data-failed=\"0\"", "data-cached=\"1\"", "set</td>"] {
        assert!(row.contains(text), "{text} in {row}");
    }
    let detail = browser.get(&format!("/alerts/{alert}")).await;
    assert!(detail.body.contains("grid_intel (rule 2: score &#62;= 40)"), "{}", detail.body);

    // Clear its cache.
    let token = browser.get(&format!("/providers/{uuid}")).await.csrf_token();
    let page = browser.post(&format!("/providers/{uuid}/clear-cache"), &[("csrf_token", &token)]).await;
    assert_eq!((page.status, page.location()), (303, format!("/providers/{uuid}?cleared=1").as_str()));
    let page = browser.get(page.location()).await;
    assert!(page.body.contains("1 cached answer removed") && page.body.contains("data-cached=\"0\""));

    // Deactivate and activate, as REST's actions.
    let page = browser.post(&format!("/providers/{uuid}/deactivate"), &[("csrf_token", &token)]).await;
    assert_eq!(page.status, 303);
    assert_eq!(rest_provider(&app, "grid_intel").await["is_active"], false);
    let page = browser.post(&format!("/providers/{uuid}/activate"), &[("csrf_token", &token)]).await;
    assert_eq!(page.status, 303);
    assert_eq!(rest_provider(&app, "grid_intel").await["is_active"], true);

    // Editing keeps the credentials unless new ones are typed; an empty rate limit is no limit.
    let mut edit = builder_fields("grid_intel", &server);
    edit.retain(|(k, _)| k != "credentials" && k != "provider_name");
    edit.push(("credentials".into(), String::new()));
    edit.iter_mut().filter(|(k, _)| k == "display_name").for_each(|(_, v)| *v = "Grid intel v2".into());
    let path = format!("/providers/{uuid}");
    let page = post_builder(&mut browser, &path, &path, &edit, "save").await;
    assert_eq!(page.status, 303, "{}", page.body);
    let rest = rest_provider(&app, "grid_intel").await;
    assert_eq!(
        (rest["display_name"].as_str(), rest["has_credentials"].as_bool()),
        (Some("Grid intel v2"), Some(true))
    );

    // The extraction is toggled and deleted from the provider's page.
    let (_, extractions) =
        app.get("/v1/enrichment-field-extractions?provider_name=grid_intel", &app.admin_key).await;
    let extraction = extractions["data"][0]["uuid"].as_str().unwrap().to_string();
    let page = browser
        .post(
            &format!("/providers/{uuid}/extractions/toggle"),
            &[("csrf_token", &token), ("extraction", &extraction)],
        )
        .await;
    assert_eq!(page.status, 303);
    let (_, one) = app.get(&format!("/v1/enrichment-field-extractions/{extraction}"), &app.admin_key).await;
    assert_eq!(one["data"]["is_active"], false);
    let page = browser
        .post(
            &format!("/providers/{uuid}/extractions/delete"),
            &[("csrf_token", &token), ("extraction", &extraction)],
        )
        .await;
    assert_eq!(page.status, 303);
    let (status, _) =
        app.get(&format!("/v1/enrichment-field-extractions/{extraction}"), &app.admin_key).await;
    assert_eq!(status, 404);

    // Delete it, as REST's DELETE; a builtin is refused with REST's reason.
    let page = browser.post(&format!("/providers/{uuid}/delete"), &[("csrf_token", &token)]).await;
    assert_eq!((page.status, page.location()), (303, "/providers?deleted=grid_intel"));
    let (status, _) = app.get(&format!("/v1/enrichment-providers/{uuid}"), &app.admin_key).await;
    assert_eq!(status, 404);
    let list = browser.get("/providers?deleted=grid_intel").await;
    assert!(list.body.contains("Deleted the provider <code>grid_intel</code>"));
    assert!(!list.body.contains("data-provider=\"grid_intel\""));
    let builtin = rest_provider(&app, "virustotal").await["uuid"].as_str().unwrap().to_string();
    let page = browser.post(&format!("/providers/{builtin}/delete"), &[("csrf_token", &token)]).await;
    assert_eq!(page.status, 422, "{}", page.body);
    let (_, rest) = app.delete(&format!("/v1/enrichment-providers/{builtin}"), &app.admin_key).await;
    let message = rest["error"]["message"].as_str().unwrap();
    assert!(page.body.contains(&askama_escape(message)), "{message} in {}", page.body);
}

async fn rest_provider_count(app: &TestApp, name: &str) -> usize {
    let (_, list) = app.get("/v1/enrichment-providers?page_size=100", &app.admin_key).await;
    list["data"].as_array().unwrap().iter().filter(|p| p["provider_name"] == name).count()
}

/// The list's `<tr>` of provider `name`.
fn provider_row<'a>(body: &'a str, name: &str) -> &'a str {
    let start =
        body.find(&format!("data-provider=\"{name}\"")).unwrap_or_else(|| panic!("no {name} in {body}"));
    let rest = &body[start..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

#[tokio::test]
async fn console_providers_refusals_are_rests_messages_beside_the_step_rule_or_field() {
    let (app, server) = app_and_server(json!({"score": 1})).await;
    let mut browser = signed_in(&app, &["admin"]).await;

    // An empty URL in step 1: REST's message, beside that step's URL.
    let mut fields = builder_fields("refused_one", &server);
    fields.iter_mut().filter(|(k, _)| k == "step_url").for_each(|(_, v)| v.clear());
    let page = post_builder(&mut browser, "/providers/new", "/providers/new", &fields, "save").await;
    assert_eq!(page.status, 422, "{}", page.body);
    let rest = rest_messages(
        &app,
        "/v1/enrichment-providers",
        json!({"provider_name": "refused_one", "display_name": "x", "supported_indicator_types": ["ip"],
               "http_config": {"steps": [{"url": ""}]}}),
    )
    .await;
    assert_eq!(rest, vec!["http_config.steps[0].url is empty".to_string()]);
    assert!(
        page.body.contains(&format!(
            "<p class=\"field-error\" id=\"http_config.steps.0.url-error\">{}</p>",
            rest[0]
        )),
        "{}",
        page.body
    );
    assert!(page.body.contains("aria-describedby=\"http_config.steps.0.url-error\""));
    // What was typed comes back (the credential does not).
    assert!(page.body.contains("value=\"refused_one\"") && !page.body.contains(SECRET));

    // An operator the rules do not know, in rule 2: REST's message, beside that rule's operator.
    let mut fields = builder_fields("refused_two", &server);
    let second = fields.iter().rposition(|(k, _)| k == "rule_operator").unwrap();
    fields[second].1 = "~=".into();
    let page = post_builder(&mut browser, "/providers/new", "/providers/new", &fields, "save").await;
    assert_eq!(page.status, 422, "{}", page.body);
    let rest = rest_messages(
        &app,
        "/v1/enrichment-providers",
        json!({"provider_name": "refused_two", "display_name": "x", "supported_indicator_types": ["ip"],
               "http_config": {"steps": [{"url": "https://x/{{value}}"}]},
               "malice_rules": {"rules": [{"field": "score", "operator": ">=", "value": 80}, {"field": "score", "operator": "~=", "value": 40}]}}),
    )
    .await;
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(
        page.body.contains(&format!(
            "<p class=\"field-error\" id=\"malice_rules.rules.1.operator-error\">{}</p>",
            askama_escape(&rest[0])
        )),
        "{}",
        page.body
    );

    // A bad name beside the name; a header line without a colon beside that step's headers.
    let mut fields = builder_fields("Bad Name", &server);
    fields.iter_mut().filter(|(k, _)| k == "step_headers").for_each(|(_, v)| *v = "no colon".into());
    let page = post_builder(&mut browser, "/providers/new", "/providers/new", &fields, "save").await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("id=\"http_config.steps.0.headers-error\">line 1: write one header per line"));
    fields.iter_mut().filter(|(k, _)| k == "step_headers").for_each(|(_, v)| v.clear());
    let page = post_builder(&mut browser, "/providers/new", "/providers/new", &fields, "save").await;
    let rest = rest_messages(
        &app,
        "/v1/enrichment-providers",
        json!({"provider_name": "Bad Name", "display_name": "x", "supported_indicator_types": ["ip"],
               "http_config": {"steps": [{"url": "https://x/{{value}}"}]}}),
    )
    .await;
    assert!(
        page.body.contains(&format!("<p class=\"field-error\" id=\"provider_name-error\">{}</p>", rest[0]))
    );

    // A duplicate name: REST's conflict, above the form.
    let uuid = create_in_console(&app, &mut browser, &server, "taken_name").await;
    let page = post_builder(
        &mut browser,
        "/providers/new",
        "/providers/new",
        &builder_fields("taken_name", &server),
        "save",
    )
    .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("A provider named &#39;taken_name&#39; already exists. (DUPLICATE_PROVIDER)"));

    // An extraction without a source path: REST's message beside the field.
    let page = post_on_provider(
        &mut browser,
        &uuid,
        "extractions",
        &[("indicator_type", "ip"), ("source_path", " "), ("target_key", "k"), ("value_type", "any")],
    )
    .await;
    assert_eq!(page.status, 422, "{}", page.body);
    let rest = rest_messages(
        &app,
        "/v1/enrichment-field-extractions",
        json!({"provider_name": "taken_name", "indicator_type": "ip", "source_path": " ", "target_key": "k"}),
    )
    .await;
    assert!(
        page.body.contains(&format!("<p class=\"field-error\" id=\"source_path-error\">{}</p>", rest[0]))
    );

    // A live test of an unknown type: REST's message beside the type.
    let page = post_on_provider(
        &mut browser,
        &uuid,
        "test",
        &[("indicator_type", "planet"), ("indicator_value", "x")],
    )
    .await;
    assert_eq!(page.status, 422, "{}", page.body);
    let (_, refused) = app
        .post(
            &format!("/v1/enrichment-providers/{uuid}/test"),
            &app.admin_key,
            json!({"indicator_type": "planet", "indicator_value": "x"}),
        )
        .await;
    let message = refused["error"]["details"]["errors"][0]["msg"].as_str().unwrap().to_string();
    assert!(
        page.body.contains(&format!(
            "<p class=\"field-error\" id=\"indicator_type-error\">{}</p>",
            askama_escape(&message)
        )),
        "{message} in {}",
        page.body
    );
}

#[tokio::test]
async fn console_providers_live_test_shows_steps_masked_credentials_fields_and_the_deciding_rule() {
    let (app, server) = app_and_server(json!({"score": 91, "asn": "AS64500", "echo": SECRET})).await;
    let mut browser = signed_in(&app, &["admin"]).await;
    let uuid = create_in_console(&app, &mut browser, &server, "live_intel").await;
    add_score_extraction(&mut browser, &uuid).await;

    // REST's test answer says which rule decided (an additive field).
    let (status, rest) = app
        .post(
            &format!("/v1/enrichment-providers/{uuid}/test"),
            &app.admin_key,
            json!({"indicator_type": "ip", "indicator_value": IP}),
        )
        .await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["data"]["malice_rule"], json!({"index": 0, "condition": "score >= 80"}));

    let page =
        post_on_provider(&mut browser, &uuid, "test", &[("indicator_type", "ip"), ("indicator_value", IP)])
            .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    for text in [
        "<code>GET</code>",
        &format!("/intel/{IP}"),
        "HTTP 200",
        "<code class=\"test-header-value\">sekr****3456</code>",
        "<dt><code>score</code></dt><dd class=\"prewrap extracted-value\">91</dd>",
        "<span class=\"badge malice-malicious\">Malicious</span>",
        "<code>rule 1: score &#62;= 80</code>",
        "answered in",
    ] {
        assert!(body.contains(text), "{text} in {body}");
    }
    assert!(!body.contains(SECRET), "a credential in the test result");

    // An answer the provider does not know (its not-found status): the not-found verdict.
    let mut fields = builder_fields("unknown_intel", &server);
    fields
        .iter_mut()
        .filter(|(k, _)| k == "step_url")
        .for_each(|(_, v)| *v = v.replace("/intel/", "/nothing/"));
    let page = post_builder(&mut browser, "/providers/new", "/providers/new", &fields, "save").await;
    assert_eq!(page.status, 303, "{}", page.body);
    let unknown = rest_provider(&app, "unknown_intel").await["uuid"].as_str().unwrap().to_string();
    let page = post_on_provider(
        &mut browser,
        &unknown,
        "test",
        &[("indicator_type", "ip"), ("indicator_value", IP)],
    )
    .await;
    for text in
        ["HTTP 404", "<span class=\"badge malice-pending\">Pending</span>", "<code>not-found verdict</code>"]
    {
        assert!(page.body.contains(text), "{text} in {}", page.body);
    }

    // Without the session's CSRF token nothing is created.
    let mut forged: Vec<(&str, &str)> = vec![("action", "save")];
    let fields = builder_fields("forged_intel", &server);
    forged.extend(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert_eq!(browser.post("/providers/new", &forged).await.status, 403);
    assert_eq!(rest_provider_count(&app, "forged_intel").await, 0);

    // A read-only key sees the provider but no builder, test or action, and is refused them.
    let mut reader = signed_in(&app, &["enrichments:read"]).await;
    let page = reader.get(&format!("/providers/{uuid}")).await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("/test\"")
            && !page.body.contains("name=\"step_url\"")
            && !page.body.contains("clear-cache")
    );
    let token = page.csrf_token();
    for path in [
        format!("/providers/{uuid}/test"),
        format!("/providers/{uuid}/deactivate"),
        format!("/providers/{uuid}/clear-cache"),
        "/providers/new".into(),
    ] {
        let page = reader
            .post(&path, &[("csrf_token", &token), ("indicator_type", "ip"), ("indicator_value", IP)])
            .await;
        assert_eq!(page.status, 403, "{path}");
    }
    let mut outsider = signed_in(&app, &["alerts:read"]).await;
    assert_eq!(outsider.get("/providers").await.status, 403);
}

/// Waits until the builder shows `n` step rows (after a builder button reloaded it).
async fn step_rows(browser: &ChromeSession, n: usize) {
    eventually(&format!("{n} step rows"), std::time::Duration::from_secs(20), || async {
        let rows = browser.find_all(fantoccini::Locator::Css("[name='step_url']")).await.ok()?;
        (rows.len() == n).then_some(())
    })
    .await;
}

/// Fills the builder in Chromium and saves: the page of the new provider.
async fn build_in_chromium(browser: &ChromeSession, server: &MockServer, name: &str, display: &str) {
    let url = format!("{}/intel/{{{{indicator.value}}}}", server.uri());
    for (css, text) in [
        ("#provider_name", name.to_string()),
        ("#display_name", display.to_string()),
        ("#credentials", format!("api_key: {SECRET}")),
        ("[id='http_config.steps.0.name']", "lookup".into()),
        ("[id='http_config.steps.0.url']", url),
        ("[id='http_config.steps.0.headers']", "x-api-key: {{auth.api_key}}".into()),
        ("[id='malice_rules.rules.0.field']", "score".into()),
        ("[id='malice_rules.rules.0.value']", "80".into()),
    ] {
        let input = browser.css(css).await;
        input.clear().await.unwrap();
        input.send_keys(&text).await.unwrap();
    }
    browser.css("[id='malice_rules.rules.0.operator'] option[value='>=']").await.click().await.unwrap();
    browser.click("button[value='save']:not(.visually-hidden)").await;
}

#[tokio::test]
async fn console_providers_browser_journey_from_builder_to_the_alerts_verdict_and_live_test() {
    let Some(browser) = ChromeSession::start().await else { return };
    let (app, server) = app_and_server(json!({"score": 93, "asn": "AS64500"})).await;
    let (key, _) = create_key(&app, json!({"name": "Provider admin", "scopes": ["admin"]})).await;
    sign_in(&browser, &app, &key, "/providers/new").await;

    // "Add step" re-renders with a second row (no script involved); remove it again.
    browser.click("button[value='add_step']").await;
    step_rows(&browser, 2).await;
    browser.click("button[value='remove_step:1']").await;
    step_rows(&browser, 1).await;
    build_in_chromium(&browser, &server, "journey_intel", "Journey intel").await;
    eventually("the provider page", std::time::Duration::from_secs(20), || async {
        browser.path().await.contains("saved=1").then_some(())
    })
    .await;
    assert_quiet(&browser, "the new provider").await;
    let uuid = rest_provider(&app, "journey_intel").await["uuid"].as_str().unwrap().to_string();
    let text = browser.css("#provider-credentials").await.text().await.unwrap();
    assert!(text.starts_with("set"), "{text}");

    // A field extraction from the page.
    browser.css("#x-source_path").await.send_keys("score").await.unwrap();
    browser.css("#x-target_key").await.send_keys("score").await.unwrap();
    browser.click(".extraction-form button[type=submit]").await;
    eventually("the extraction", std::time::Duration::from_secs(20), || async {
        browser.path().await.contains("extraction=added").then_some(())
    })
    .await;

    // An alert: its indicator shows the provider's verdict and the rule that decided it.
    let alert = ingest(&app, json!({"title": "Journey beacon", "src_ip": IP})).await;
    browser.open(&app.url(&format!("/alerts/{alert}"))).await;
    let page = browser.css("main").await.text().await.unwrap();
    assert!(page.contains("journey_intel (rule 1: score >= 80)"), "{page}");
    assert!(page.contains("Malicious"), "{page}");

    // The live test: steps, status, masked credential, extracted field, verdict and rule.
    browser.open(&app.url(&format!("/providers/{uuid}"))).await;
    browser.css("#indicator_value").await.send_keys(IP).await.unwrap();
    browser.click("#live-test button[type=submit]").await;
    browser.wait_for_path(&format!("/providers/{uuid}/test")).await;
    let outcome = browser.css("#test-outcome").await.text().await.unwrap();
    assert!(outcome.contains("Malicious") && outcome.contains("rule 1: score >= 80"), "{outcome}");
    let steps = browser.css("#test-steps").await.text().await.unwrap();
    assert!(
        steps.contains("HTTP 200") && steps.contains("sekr****3456") && !steps.contains(SECRET),
        "{steps}"
    );
    let extracted = browser.css("#test-extracted").await.text().await.unwrap();
    assert!(extracted.contains("score") && extracted.contains("93"), "{extracted}");
    assert_quiet(&browser, "the live test").await;
    browser.quit().await;
}

#[tokio::test]
async fn console_providers_browser_hostile_content_is_inert_and_pages_pass_axe_in_both_themes() {
    let Some(browser) = ChromeSession::start().await else { return };
    let answer = json!({"score": 50, "notes": HOSTILE_TEXTS, "label": HOSTILE_TEXTS[0]});
    let (app, server) = app_and_server(answer).await;
    // Hostile name and description, stored through REST.
    let body = json!({
        "provider_name": "hostile_intel",
        "display_name": HOSTILE_TEXTS[1],
        "description": HOSTILE_TEXTS.join("\n"),
        "supported_indicator_types": ["ip"],
        "http_config": {"steps": [{"name": "lookup", "url": format!("{}/intel/{{{{indicator.value}}}}", server.uri())}]},
        "malice_rules": {"rules": [{"field": "score", "operator": ">=", "value": 40, "verdict": "Suspicious"}], "default_verdict": "Benign"},
    });
    let (status, created) = app.post("/v1/enrichment-providers", &app.admin_key, body).await;
    assert_eq!(status, 201, "{created}");
    let uuid = created["data"]["uuid"].as_str().unwrap().to_string();
    let extraction = json!({"provider_name": "hostile_intel", "indicator_type": "ip", "source_path": "label", "target_key": "label"});
    let (status, _) = app.post("/v1/enrichment-field-extractions", &app.admin_key, extraction).await;
    assert_eq!(status, 201);
    let (key, _) = create_key(&app, json!({"name": "Provider admin", "scopes": ["admin"]})).await;
    sign_in(&browser, &app, &key, "/providers").await;

    let list = "/providers".to_string();
    let detail = format!("/providers/{uuid}");
    for path in [&list, &detail] {
        assert_inert(&browser, &app, path).await;
        let text = browser.css("main").await.text().await.unwrap();
        assert!(text.contains(HOSTILE_TEXTS[1]), "{path}: the name as written");
    }
    let text = browser.css(".provider-description").await.text().await.unwrap();
    assert!(text.contains(HOSTILE_TEXTS[8]) && text.contains(HOSTILE_TEXTS[0]), "{text}");

    // The live test shows the provider's hostile answer as text.
    let run_test = || async {
        browser.open(&app.url(&detail)).await;
        browser.css("#indicator_value").await.send_keys(IP).await.unwrap();
        browser.click("#live-test button[type=submit]").await;
        browser.wait_for_path(&format!("{detail}/test")).await;
        browser.css("#test-outcome").await;
    };
    run_test().await;
    assert_quiet(&browser, "the live test").await;
    assert_eq!(browser.run(FOREIGN_MARKUP, vec![]).await, json!([]), "the live test: markup became elements");
    let raw = browser.css("#test-raw-response").await.text().await.unwrap();
    assert!(raw.contains("<img src=x onerror=alert(1)>") && raw.contains("{{7*7}}"), "{raw}");
    let extracted = browser.css("#test-extracted").await.text().await.unwrap();
    assert!(extracted.contains(HOSTILE_TEXTS[0]), "{extracted}");

    let Some(axe) = axe_core() else { return browser.quit().await };
    let mut report = Vec::new();
    for dark in [false, true] {
        browser.prefer_dark(dark).await;
        for path in [&list, &detail, &"/providers/new".to_string()] {
            browser.open(&app.url(path)).await;
            report.extend(
                axe_violations(&browser, &axe).await.into_iter().map(|v| format!("{path} dark={dark}: {v}")),
            );
        }
        run_test().await;
        report.extend(
            axe_violations(&browser, &axe).await.into_iter().map(|v| format!("test dark={dark}: {v}")),
        );
        // A refused builder (errors beside fields) too.
        browser.open(&app.url("/providers/new")).await;
        browser.css("#provider_name").await.send_keys("Bad Name").await.unwrap();
        browser.click("button[value='save']:not(.visually-hidden)").await;
        eventually("the refused builder", std::time::Duration::from_secs(20), || async {
            browser.find(fantoccini::Locator::Css(".field-error")).await.ok().map(|_| ())
        })
        .await;
        report.extend(
            axe_violations(&browser, &axe).await.into_iter().map(|v| format!("refused dark={dark}: {v}")),
        );
    }
    assert!(report.is_empty(), "axe-core: {report:#?}");
    browser.quit().await;
}

#[tokio::test]
async fn console_providers_a_builtin_takes_credentials_rules_and_limits_but_keeps_its_steps() {
    let app = spawn_app().await;
    let mut browser = signed_in(&app, &["admin"]).await;
    let before = rest_provider(&app, "virustotal").await;
    let uuid = before["uuid"].as_str().unwrap().to_string();
    let path = format!("/providers/{uuid}");
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    // Its steps are shown, not offered for editing.
    assert!(
        !page.body.contains("name=\"step_url\"")
            && page.body.contains("class=\"document-text provider-config\"")
    );
    assert!(page.body.contains("<dd id=\"provider-credentials\">not set"), "{}", page.body);

    let fields: Vec<(String, String)> = [
        ("description", "VirusTotal, our key"),
        ("credentials", "api_key: vt-secret-key-0987654321"),
        ("default_cache_ttl_seconds", "1800"),
        ("rate_limit_per_minute", "4"),
        ("max_concurrency", "2"),
        ("private_network_hosts", ""),
        ("rule_field", "data.attributes.last_analysis_stats.malicious"),
        ("rule_operator", ">"),
        ("rule_value", "2"),
        ("rule_verdict", "Malicious"),
        ("default_verdict", "Benign"),
        ("not_found_verdict", "Pending"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let page = post_builder(&mut browser, &path, &path, &fields, "save").await;
    assert_eq!(page.status, 303, "{}", page.body);
    let after = rest_provider(&app, "virustotal").await;
    assert_eq!(after["http_config"], before["http_config"]);
    assert_eq!(after["has_credentials"], true);
    assert_eq!(
        (after["rate_limit_per_minute"].as_i64(), after["max_concurrency"].as_i64()),
        (Some(4), Some(2))
    );
    assert_eq!(after["malice_rules"]["rules"].as_array().unwrap().len(), 1, "{after}");
    let page = browser.get(&path).await;
    assert!(page.body.contains("<dd id=\"provider-credentials\">set") && !page.body.contains("vt-secret"));
}
