//! The console's approval inbox (`/approvals`): pending requests with what an approver weighs,
//! approve and reject with a note through the same gate REST uses, the four-eyes rule (the key
//! that asked cannot approve), the scope and CSRF refusals, and the settled list below.

use serde_json::{Value, json};

use crate::approvals::gated_workflow;
use crate::console::signed_in_as;
use crate::helpers::*;
use crate::respond::{agent_key, alert_with_account, finished_run};

/// Asks, as `key`, to run `workflow` against the account on `alert`; the approval request's uuid.
async fn request_run(app: &TestApp, key: &str, workflow: &str, alert: &str, reason: &str) -> String {
    let (status, pending) = app
        .post(
            &format!("/v1/workflows/{workflow}/execute"),
            key,
            json!({"indicator_type": "account", "indicator_value": "jdoe@example.com", "alert_uuid": alert,
                   "reason": reason, "confidence": 0.92}),
        )
        .await;
    assert_eq!((status, pending["data"]["status"].as_str()), (202, Some("pending_approval")), "{pending}");
    pending["data"]["approval_request_uuid"].as_str().unwrap().to_string()
}

/// The request as REST reads it.
async fn rest_approval(app: &TestApp, approval: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/workflow-approvals/{approval}"), &app.admin_key).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// The part of `html` from `start` to the next `end`.
fn section<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("{start} not in page"));
    let rest = &html[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[tokio::test]
async fn console_inbox_shows_what_an_approver_weighs_and_an_approval_runs_the_workflow_once() {
    let app = spawn_app().await;
    let alert = alert_with_account(&app, "jdoe@example.com").await;
    let workflow = gated_workflow(&app, "Disable <b>account</b>", "high").await;
    let agent = agent_key(&app, &["workflows:execute"]).await;
    let reason = "<script>alert('x')</script> token replayed from two countries";
    let approval = request_run(&app, &agent, &workflow, &alert, reason).await;
    let (mut browser, key) = signed_in_as(&app, "Approver", &["approvals:write", "alerts:read"]).await;

    let page = browser.get("/approvals").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let pending = section(&page.body, "id=\"pending\"", "</section>");
    assert!(pending.contains(&format!("data-approval-uuid=\"{approval}\"")), "{pending}");
    for shown in [
        "Disable &#60;b&#62;account&#60;/b&#62;",
        "&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62; token replayed from two countries",
        "92%",
        "Risk: high",
        "account: jdoe@example.com",
        &format!("href=\"/alerts/{alert}\""),
        " left</span>",
        "(agent)",
    ] {
        assert!(pending.contains(shown), "{shown} in {pending}");
    }
    assert!(!page.body.contains("<script>alert"), "agent text is escaped");
    assert!(pending.contains("value=\"approve\"") && pending.contains("value=\"reject\""));

    // Approve with a note: the run is queued once and the note is in the activity log.
    let token = page.csrf_token();
    let done = browser
        .post(
            &format!("/approvals/{approval}/decide"),
            &[("csrf_token", &token), ("decision", "approve"), ("note", "Confirmed with the user by phone")],
        )
        .await;
    assert_eq!((done.status, done.location()), (303, "/approvals"), "{}", done.body);
    let decided = rest_approval(&app, &approval).await;
    assert_eq!(decided["status"], "approved");
    let responder = decided["responder_id"].as_str().unwrap();
    assert!(responder.len() >= 8 && key.starts_with(responder), "the approver's key prefix: {decided}");
    let run = finished_run(&app, &workflow).await;
    assert_eq!(run["status"], "success", "{run}");
    let (_, log) = app.get(&format!("/v1/alerts/{alert}/activity"), &app.admin_key).await;
    let responded = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "workflow_approval_responded")
        .unwrap_or_else(|| panic!("no decision event in {log}"))
        .clone();
    assert_eq!(responded["references"]["note"], "Confirmed with the user by phone", "{responded}");
    assert_eq!(responded["references"]["via"], "console");
    assert_eq!(responded["actor_type"], "console", "{responded}");
    assert_eq!(responded["references"]["decision"], "approved");

    // Deciding again is refused (409) and changes nothing; the request moved to the settled list.
    let again = browser
        .post(&format!("/approvals/{approval}/decide"), &[("csrf_token", &token), ("decision", "reject")])
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(rest_approval(&app, &approval).await["status"], "approved");
    let page = browser.get("/approvals").await;
    assert!(!section(&page.body, "id=\"pending\"", "</section>").contains(&approval));
    let settled = section(&page.body, "id=\"settled\"", "</section>");
    assert!(settled.contains(&approval) && settled.contains("approved"), "{settled}");
    assert!(page.body.contains("Nothing is waiting for a decision"), "the empty state says what comes here");
}

#[tokio::test]
async fn console_inbox_refuses_the_requesting_key_its_own_approval_but_lets_it_reject() {
    let app = spawn_app().await;
    let alert = alert_with_account(&app, "jdoe@example.com").await;
    let workflow = gated_workflow(&app, "Disable account", "critical").await;
    let scopes = ["workflows:execute", "approvals:write", "alerts:read"];
    let (mut browser, key) = signed_in_as(&app, "Requester", &scopes).await;
    let approval = request_run(&app, &key, &workflow, &alert, "I think this account is taken over").await;

    let page = browser.get("/approvals").await;
    let pending = section(&page.body, "id=\"pending\"", "</section>");
    assert!(pending.contains("You requested this run, so another person must approve it."), "{pending}");
    assert!(!pending.contains("value=\"approve\"") && pending.contains("value=\"reject\""));

    // A forged approval from the console is refused.
    let token = page.csrf_token();
    let forged = browser
        .post(&format!("/approvals/{approval}/decide"), &[("csrf_token", &token), ("decision", "approve")])
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("another person must"), "{}", forged.body);
    assert_eq!(rest_approval(&app, &approval).await["status"], "pending");

    // Another person approves it; the requester could have withdrawn it by rejecting.
    let second = request_run(&app, &key, &workflow, &alert, "and this one").await;
    let rejected = browser
        .post(&format!("/approvals/{second}/decide"), &[("csrf_token", &token), ("decision", "reject")])
        .await;
    assert_eq!(rejected.status, 303, "{}", rejected.body);
    assert_eq!(rest_approval(&app, &second).await["status"], "rejected");
    let (status, body) = app
        .post(
            &format!("/v1/workflow-approvals/{approval}/approve"),
            &app.admin_key,
            json!({"reason": "second pair of eyes"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // REST's optional `reason` is the decision's note, as the console's is.
    let (_, log) = app.get(&format!("/v1/alerts/{alert}/activity"), &app.admin_key).await;
    let notes: Vec<&Value> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "workflow_approval_responded")
        .map(|e| &e["references"]["note"])
        .collect();
    assert!(notes.contains(&&json!("second pair of eyes")), "{log}");
}

#[tokio::test]
async fn console_inbox_needs_the_approvals_scope_a_csrf_token_and_a_decision() {
    let app = spawn_app().await;
    let alert = alert_with_account(&app, "jdoe@example.com").await;
    let workflow = gated_workflow(&app, "Disable account", "high").await;
    let agent = agent_key(&app, &["workflows:execute"]).await;
    let approval = request_run(&app, &agent, &workflow, &alert, "takeover").await;

    // A read-only analyst neither sees the inbox nor decides with a forged form.
    let (mut reader, _) = signed_in_as(&app, "Reader", &["alerts:read"]).await;
    let page = reader.get("/approvals").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("approvals:write"), "{}", page.body);
    let token = reader.get("/alerts").await.csrf_token();
    let forged = reader
        .post(&format!("/approvals/{approval}/decide"), &[("csrf_token", &token), ("decision", "approve")])
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    // An approver's form without the token, from another origin, or without a decision: refused.
    let (mut approver, _) = signed_in_as(&app, "Approver", &["approvals:write"]).await;
    let token = approver.get("/approvals").await.csrf_token();
    let path = format!("/approvals/{approval}/decide");
    let no_token = approver.post(&path, &[("decision", "approve")]).await;
    assert_eq!(no_token.status, 403);
    let elsewhere = approver
        .post_from(&path, &[("csrf_token", &token), ("decision", "approve")], Some("https://evil.example"))
        .await;
    assert_eq!(elsewhere.status, 403);
    let undecided = approver.post(&path, &[("csrf_token", &token), ("decision", "maybe")]).await;
    assert_eq!(undecided.status, 400, "{}", undecided.body);
    let unknown = approver
        .post(
            &format!("/approvals/{}/decide", uuid::Uuid::new_v4()),
            &[("csrf_token", &token), ("decision", "approve")],
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(rest_approval(&app, &approval).await["status"], "pending", "nothing was decided");

    // Without alerts:read the alert is named, not linked.
    let page = approver.get("/approvals").await;
    assert!(page.body.contains(&format!("<code>{alert}</code>")), "{}", page.body);
    assert!(!page.body.contains(&format!("href=\"/alerts/{alert}\"")));
}
