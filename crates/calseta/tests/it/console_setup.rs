//! The configuration half's acceptance: a new user, signed in to the console with the admin key
//! `calseta api-key create` printed, goes from an empty server to a configured enrichment
//! provider, context document, agent and workflow through the console's forms alone (REST is only
//! read, to find what was made), and the next alert a SIEM sends arrives at that agent enriched by
//! that provider with its deciding rule, carrying that document, and offering that workflow.

use std::time::Duration;

use serde_json::{Value, json};

use crate::console::Browser;
use crate::console_agents::{endpoint, new_agent};
use crate::console_documents::{editor_form, post_fields};
use crate::console_providers::{app_and_server, create_in_console};
use crate::helpers::*;

#[tokio::test]
async fn console_setup_a_new_user_configures_provider_document_agent_and_workflow_without_the_rest_api() {
    let (app, intel) = app_and_server(json!({"score": 93, "asn": "AS64500"})).await;
    let agent = endpoint(200, "received").await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_key).await;

    // An enrichment provider: one HTTP step, rules score >= 80 Malicious, >= 40 Suspicious.
    create_in_console(&app, &mut browser, &intel, "setup_intel").await;

    // A runbook for high-severity alerts.
    let token = browser.get("/context-documents/new").await.csrf_token();
    let conditions = [("all", "severity", "eq", "High")];
    let fields = editor_form(
        &token,
        "Tor sign-in runbook",
        "# Tor sign-in\n\nBlock the exit node.",
        &conditions,
        "save",
    );
    let saved = post_fields(&mut browser, "/context-documents/new", &fields).await;
    assert_eq!(saved.status, 303, "{}", saved.body);

    // An agent, its signing secret shown once.
    let token = browser.get("/agents/new").await.csrf_token();
    let url = format!("{}/agent", agent.uri());
    let registered = browser.post("/agents", &new_agent(&token, &url, &[])).await;
    assert_eq!(registered.status, 200, "{}", registered.body);
    assert!(registered.body.contains("secret-once"), "the signing secret is shown once");

    // A workflow from the "block an IP" template, then made active in its settings.
    let form = browser.get("/workflows/new?template=block_ip").await;
    assert_eq!(form.status, 200);
    let code = calseta_services::resources::workflow_templates::template("block_ip").unwrap().code;
    let token = form.csrf_token();
    let created = browser
        .post(
            "/workflows/new",
            &[
                ("csrf_token", &token),
                ("template", "block_ip"),
                ("name", "Block at the firewall"),
                ("code", code),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let settings = format!("{}/settings", created.location().split('?').next().unwrap());
    let token = browser.get(&settings).await.csrf_token();
    let activated = browser
        .post(
            &settings,
            &[
                ("csrf_token", &token),
                ("name", "Block at the firewall"),
                ("state", "active"),
                ("timeout_seconds", "30"),
                ("indicator_types", "ip"),
                ("approval_mode", "always"),
                ("risk_level", "high"),
                ("approval_timeout_seconds", "3600"),
                ("approval_channel", ""),
                ("documentation", "Blocks the address at the edge."),
            ],
        )
        .await;
    assert_eq!(activated.status, 303, "{}", activated.body);

    // The SIEM sends an alert.
    let (status, body) = app
        .post(
            "/v1/ingest/generic",
            &app.admin_key,
            json!({"title": "Sign-in from a Tor exit node", "severity": "high", "src_ip": "93.184.216.34"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");

    // The agent receives it, enriched, with the runbook and the workflow.
    let delivered: Value = eventually("the agent receives the alert", Duration::from_secs(60), || async {
        let requests = agent.received_requests().await.unwrap_or_default();
        requests.iter().find_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
    })
    .await;
    let indicator = delivered["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["value"] == "93.184.216.34")
        .cloned()
        .unwrap_or_else(|| panic!("the address in {delivered}"));
    assert_eq!(indicator["malice"], "Malicious", "{indicator}");
    assert!(indicator["enrichment_results"]["setup_intel"].is_object(), "{indicator}");
    let documents: Vec<&str> = delivered["context_documents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["title"].as_str())
        .collect();
    assert!(documents.contains(&"Tor sign-in runbook"), "{documents:?}");
    let workflows: Vec<&str> =
        delivered["workflows"].as_array().unwrap().iter().filter_map(|w| w["name"].as_str()).collect();
    assert!(workflows.contains(&"Block at the firewall"), "{workflows:?}");

    // And the analyst sees the provider's verdict with its deciding rule on the alert's page.
    let uuid = delivered["alert"]["uuid"].as_str().unwrap();
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    assert!(page.body.contains("setup_intel"), "{}", page.body);
    assert!(page.body.contains("score &#62;= 80") || page.body.contains("score >= 80"), "{}", page.body);
}
