//! The console's live updates (`GET /events`, Server-Sent Events) read by a streaming HTTP client
//! signed in as a browser: new and changed alerts, approvals requested and decided, only what the
//! key may see, resuming with `Last-Event-ID` without losing or repeating an event, the bound on
//! open streams, heartbeats, the end of a stream with its session, events reaching a console of
//! another process on the same database, and ids committed out of order on PostgreSQL.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;

use crate::approvals::gated_workflow;
use crate::console::{Browser, signed_in};
use crate::helpers::*;
use crate::respond::alert_with_account;

/// How long any one expected event may take to arrive before the test fails.
const WAIT: Duration = Duration::from_secs(20);

/// One message of an event stream: a comment line, or an event with its fields.
#[derive(Debug, Clone, Default)]
struct Message {
    comment: Option<String>,
    id: Option<i64>,
    event: String,
    data: String,
}

impl Message {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }

    fn alert_uuid(&self) -> Option<String> {
        (self.event == "alert").then(|| self.json()["alert"]["uuid"].as_str().map(str::to_string)).flatten()
    }

    fn activity(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_string()
    }
}

/// An open event stream, read as it arrives.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    /// The next message (an event or a comment); `None` when the server ended the stream.
    async fn next(&mut self) -> Option<Message> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut message = Message { event: "message".into(), ..Message::default() };
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(comment) = line.strip_prefix(':') {
                        message.comment = Some(comment.trim().to_string());
                    } else if let Some((field, value)) = line.split_once(':') {
                        let value = value.strip_prefix(' ').unwrap_or(value);
                        match field {
                            "id" => message.id = value.parse().ok(),
                            "event" => message.event = value.to_string(),
                            "data" => data.push(value.to_string()),
                            _ => {}
                        }
                    }
                }
                message.data = data.join("\n");
                return Some(message);
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .expect("the stream sends something in time")
                .expect("the stream reads");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk?));
        }
    }

    /// The next event (comments skipped).
    async fn event(&mut self) -> Message {
        loop {
            let message = self.next().await.expect("the stream stays open");
            if message.comment.is_none() {
                return message;
            }
        }
    }

    /// Events until one satisfies `found`, all of them (that one last); fails if none does in
    /// time (heartbeats keep the stream busy, so a deadline per read would never pass).
    async fn until(&mut self, found: impl Fn(&Message) -> bool) -> Vec<Message> {
        let mut seen = Vec::new();
        let search = async {
            loop {
                let event = self.event().await;
                let done = found(&event);
                seen.push(event);
                if done {
                    return;
                }
            }
        };
        if tokio::time::timeout(WAIT, search).await.is_err() {
            panic!("the expected event did not arrive; seen: {seen:?}");
        }
        seen
    }
}

/// `GET /events` as `browser`'s session on the server at `base`.
async fn request(base: &str, browser: &Browser, last_event_id: Option<i64>) -> reqwest::Response {
    let cookie = browser.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut request = client.get(format!("{base}/events")).header("cookie", cookie);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    request.send().await.unwrap()
}

/// An open stream whose `ready` event has arrived (so it follows everything after it); and that
/// event's id.
async fn open(base: &str, browser: &Browser, last_event_id: Option<i64>) -> (Stream, i64) {
    let response = request(base, browser, last_event_id).await;
    assert_eq!(response.status(), 200);
    let mut stream = Stream { response, buffer: String::new() };
    let ready = stream.event().await;
    assert_eq!(ready.event, "ready", "{ready:?}");
    (stream, ready.id.expect("the ready event carries the position"))
}

async fn ingest(app: &TestApp, title: &str) -> String {
    let payload = json!({"title": title, "severity": "High"});
    let (status, body) =
        app.post("/v1/alerts", &app.admin_key, json!({"source_name": "generic", "payload": payload})).await;
    assert_eq!(status, 202, "{body}");
    body["data"]["alert_uuid"].as_str().unwrap().to_string()
}

fn is_new(uuid: &str) -> impl Fn(&Message) -> bool + '_ {
    move |m: &Message| m.alert_uuid().as_deref() == Some(uuid) && m.activity() == "alert_ingested"
}

fn assert_increasing(events: &[Message]) {
    let ids: Vec<i64> = events.iter().map(|e| e.id.expect("every event has an id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids strictly increase: {ids:?}");
}

#[tokio::test]
async fn new_and_changed_alerts_arrive_live_with_their_queue_row() {
    let app = spawn_app().await;
    let browser = signed_in(&app, &["alerts:read"]).await;
    let response = request(&app.base, &browser, None).await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers().get(name).unwrap().to_str().unwrap().to_string();
    assert!(header("content-type").starts_with("text/event-stream"));
    assert_eq!(header("cache-control"), "no-store");
    let mut stream = Stream { response, buffer: String::new() };
    assert_eq!(stream.event().await.event, "ready");

    let uuid = ingest(&app, "Impossible <travel>").await;
    let seen = stream.until(is_new(&uuid)).await;
    let new = seen.last().unwrap();
    assert_eq!(new.event, "alert");
    let row = &new.json()["alert"];
    assert_eq!(new.json()["new"], true);
    assert_eq!(
        (row["title"].as_str(), row["severity"].as_str(), row["status"].as_str(), row["source"].as_str()),
        (Some("Impossible <travel>"), Some("High"), Some("Open"), Some("generic"))
    );

    let (status, body) =
        app.patch(&format!("/v1/alerts/{uuid}"), &app.admin_key, json!({"status": "Triaging"})).await;
    assert_eq!(status, 200, "{body}");
    let changed = stream
        .until(|m| m.alert_uuid().as_deref() == Some(uuid.as_str()) && m.activity() == "alert_status_updated")
        .await;
    let last = changed.last().unwrap();
    assert_eq!(last.json()["new"], false);
    assert_eq!(last.json()["alert"]["status"], "Triaging");
    assert_increasing(&[seen, changed].concat());
}

#[tokio::test]
async fn an_event_stream_needs_a_session() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/events")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let mut forged = Browser::new(&app);
    forged.cookies.insert("calseta_session".into(), "not-a-session".into());
    assert_eq!(request(&app.base, &forged, None).await.status(), 401);
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_resumes_without_losing_or_repeating_an_event() {
    let app = spawn_app().await;
    let browser = signed_in(&app, &["alerts:read"]).await;
    let (mut first, _) = open(&app.base, &browser, None).await;
    let a1 = ingest(&app, "one").await;
    let a2 = ingest(&app, "two").await;
    let a3 = ingest(&app, "three").await;
    let mut before = first.until(is_new(&a1)).await;
    let resume_at = before.last().unwrap().id.unwrap();
    before.extend(first.until(is_new(&a3)).await);
    drop(first);
    let a4 = ingest(&app, "four").await;
    let a5 = ingest(&app, "five").await;

    let (mut second, position) = open(&app.base, &browser, Some(resume_at)).await;
    assert_eq!(position, resume_at, "the stream starts where the browser left off");
    let after = second.until(is_new(&a5)).await;
    assert_increasing(&after);
    assert!(after.iter().all(|e| e.id.unwrap() > resume_at), "nothing at or before Last-Event-ID again");
    let news: Vec<String> =
        after.iter().filter(|e| e.activity() == "alert_ingested").filter_map(Message::alert_uuid).collect();
    assert_eq!(news, vec![a2, a3, a4, a5.clone()], "every alert after the resume point, once, in order");
    // Everything the first connection saw after the resume point is seen again — nothing lost.
    let again: Vec<i64> = after.iter().map(|e| e.id.unwrap()).collect();
    for event in before.iter().filter(|e| e.id.unwrap() > resume_at) {
        assert!(again.contains(&event.id.unwrap()), "{event:?} is delivered after the reconnect");
    }
}

#[tokio::test]
async fn open_streams_are_bounded_per_process() {
    let app = spawn_app_with(AppOptions {
        env: vec![("CONSOLE_SSE_MAX_CONNECTIONS", "2".into()), ("CONSOLE_SSE_HEARTBEAT_SECONDS", "1".into())],
        ..AppOptions::default()
    })
    .await;
    let browser = signed_in(&app, &["alerts:read"]).await;
    let (first, _) = open(&app.base, &browser, None).await;
    let (_second, _) = open(&app.base, &browser, None).await;
    let refused = request(&app.base, &browser, None).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().get("retry-after").is_some());
    // A closed stream gives its place back.
    drop(first);
    eventually("a place is free again", WAIT, || async {
        let response = request(&app.base, &browser, None).await;
        (response.status() == 200).then_some(())
    })
    .await;
}

#[tokio::test]
async fn heartbeats_arrive_as_comment_lines_and_a_stream_ends_with_its_session() {
    let app = spawn_app_with(AppOptions {
        env: vec![("CONSOLE_SSE_HEARTBEAT_SECONDS", "1".into())],
        ..AppOptions::default()
    })
    .await;
    let mut browser = signed_in(&app, &["alerts:read"]).await;
    let (mut stream, _) = open(&app.base, &browser, None).await;
    let heartbeat = loop {
        let message = stream.next().await.expect("open");
        if let Some(comment) = message.comment {
            break comment;
        }
    };
    assert_eq!(heartbeat, "heartbeat");
    let page = browser.get("/alerts").await;
    let token = page.csrf_token();
    assert_eq!(browser.post("/logout", &[("csrf_token", token.as_str())]).await.status, 303);
    // The next heartbeat finds the session gone and ends the stream.
    while let Some(message) = stream.next().await {
        assert!(message.comment.is_some(), "nothing but heartbeats before the end: {message:?}");
    }
}

#[tokio::test]
async fn approvals_requested_and_decided_reach_only_keys_that_may_see_approvals() {
    let app = spawn_app().await;
    let approver = signed_in(&app, &["alerts:read", "approvals:write"]).await;
    let reader = signed_in(&app, &["alerts:read", "workflows:read"]).await;
    let (mut approvals, _) = open(&app.base, &approver, None).await;
    let (mut readers, _) = open(&app.base, &reader, None).await;

    let alert = alert_with_account(&app, "mallory@example.com").await;
    let workflow = gated_workflow(&app, "Disable account", "high").await;
    let (status, pending) = app
        .post(
            &format!("/v1/workflows/{workflow}/execute"),
            &app.admin_key,
            json!({"indicator_type": "account", "indicator_value": "mallory@example.com", "alert_uuid": alert}),
        )
        .await;
    assert_eq!((status, pending["data"]["status"].as_str()), (202, Some("pending_approval")), "{pending}");
    let approval = pending["data"]["approval_request_uuid"].as_str().unwrap().to_string();
    let is_approval = |status: &'static str| {
        let approval = approval.clone();
        move |m: &Message| {
            m.event == "approval"
                && m.json()["approval"]["uuid"].as_str() == Some(approval.as_str())
                && m.json()["approval"]["status"] == status
        }
    };
    let requested = approvals.until(is_approval("pending")).await;
    let request = requested.last().unwrap().json();
    assert_eq!(request["type"], "workflow_approval_requested");
    assert_eq!(request["approval"]["workflow_name"], "Disable account");
    assert_eq!(request["approval"]["alert_uuid"].as_str(), Some(alert.as_str()));

    let (status, decided) =
        app.post(&format!("/v1/workflow-approvals/{approval}/approve"), &app.admin_key, json!({})).await;
    assert_eq!(status, 200, "{decided}");
    let responded = approvals.until(is_approval("approved")).await;
    assert_eq!(responded.last().unwrap().activity(), "workflow_approval_responded");

    // The reader's stream carries the alerts but no approval, up to an alert ingested after both.
    let marker = ingest(&app, "after the decision").await;
    let seen = readers.until(is_new(&marker)).await;
    assert!(seen.iter().any(|m| m.alert_uuid().as_deref() == Some(alert.as_str())), "alerts are shown");
    assert!(seen.iter().all(|m| m.event != "approval"), "no approval without approvals:write: {seen:?}");
}

#[tokio::test]
async fn an_event_raised_in_one_process_reaches_a_console_connected_to_another() {
    // The other process reads the log only when notified: on PostgreSQL by NOTIFY (its fallback
    // poll is ten minutes); processes sharing a SQLite file find each other's events by polling.
    let postgres = pg_admin_url().is_some();
    let app = spawn_app().await;
    let poll = if postgres { "600000" } else { "200" };
    let other = start_worker_with(&app, &[("CONSOLE_SSE_POLL_MS", poll)]).await;
    let other_base = format!("http://{}", other.addr);
    let browser = signed_in(&app, &["alerts:read"]).await;
    let (mut stream, _) = open(&other_base, &browser, None).await;
    let uuid = ingest(&app, "raised in the first process").await;
    let seen = stream.until(is_new(&uuid)).await;
    assert_increasing(&seen);
    other.shutdown().await;
}

#[tokio::test]
async fn ids_committed_out_of_order_are_delivered_in_id_order_on_postgres() {
    if pg_admin_url().is_none() {
        // SQLite commits one writer at a time: ids become visible in order.
        return;
    }
    let app = spawn_app_with(AppOptions {
        env: vec![("CONSOLE_SSE_GAP_GRACE_MS", "600000".into())],
        run_worker: false,
        ..AppOptions::default()
    })
    .await;
    let browser = signed_in(&app, &["alerts:read", "approvals:write"]).await;
    let uuid = ingest(&app, "slow transaction").await;
    let (mut stream, _) = open(&app.base, &browser, None).await;

    // A transaction takes the next id and stays open while a later one commits. (It is about no
    // alert: a reference to the alert's row would hold a lock the status change waits for.)
    let mut slow = sqlx::PgConnection::connect(&app.database.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut slow).await.unwrap();
    let held: i64 = sqlx::query_scalar(
        "INSERT INTO activity_events (uuid, event_type, actor_type, \"references\", created_at) \
         VALUES (gen_random_uuid(), 'workflow_approval_expired', 'system', \
         '{\"approval_uuid\": \"held\", \"workflow_name\": \"held\"}'::jsonb, now()) RETURNING id",
    )
    .fetch_one(&mut slow)
    .await
    .unwrap();
    let (status, body) =
        app.patch(&format!("/v1/alerts/{uuid}"), &app.admin_key, json!({"status": "Escalated"})).await;
    assert_eq!(status, 200, "{body}");
    let later =
        query_i64(&app, "SELECT MAX(id) FROM activity_events WHERE event_type = 'alert_status_updated'")
            .await;
    assert!(later > held);
    sqlx::query("COMMIT").execute(&mut slow).await.unwrap();

    let seen = stream.until(|m| m.id == Some(later)).await;
    assert_increasing(&seen);
    assert!(seen.iter().any(|m| m.id == Some(held)), "the id committed late is delivered first: {seen:?}");
}

#[tokio::test]
async fn a_pages_stream_starts_where_the_page_was_read_so_nothing_in_between_is_lost() {
    let app = spawn_app().await;
    let mut browser = signed_in(&app, &["alerts:read"]).await;
    let page = browser.get("/alerts").await;
    let marker = "data-events-since=\"";
    let at = page.body.find(marker).unwrap_or_else(|| panic!("no position in {}", page.body)) + marker.len();
    let since: i64 = page.body[at..].split('"').next().unwrap().parse().unwrap();
    // An alert lands after the page was read but before its script connects.
    let between = ingest(&app, "between render and connect").await;

    let cookie = browser.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let response = reqwest::Client::new()
        .get(format!("{}/events?since={since}", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = Stream { response, buffer: String::new() };
    let ready = stream.event().await;
    assert_eq!((ready.event.as_str(), ready.id), ("ready", Some(since)), "{ready:?}");
    let events = stream.until(is_new(&between)).await;
    assert_increasing(&events);
    // Without the page's position a stream starts at now, after that alert.
    let (_, now) = open(&app.base, &browser, None).await;
    assert!(now > since, "a stream without `since` starts after the alert ({now} > {since})");
}
