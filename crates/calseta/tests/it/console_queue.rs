//! The console's alert queue (`/alerts`, `POST /alerts/bulk`) and audit log (`/activity`):
//! filters held in the URL, sorting and paging, escaping of attacker-written alert content, the
//! bulk change's scope and CSRF checks, and the audit log's filters.

use serde_json::{Value, json};

use crate::console::{Browser, create_key};
use crate::helpers::*;
use crate::ingest::wait_enriched;

const CLOSE_AS: &str = "Benign Positive - Suspicious but Expected";

/// Ingests a generic alert and waits for its enrichment to settle (so nothing changes it after).
async fn ingest(app: &TestApp, payload: Value) -> String {
    let (status, body) =
        app.post("/v1/alerts", &app.admin_key, json!({"source_name": "generic", "payload": payload})).await;
    assert_eq!(status, 202, "{body}");
    let uuid = body["data"]["alert_uuid"].as_str().unwrap().to_string();
    wait_enriched(app, &uuid).await;
    uuid
}

/// A signed-in browser for a fresh human key with `scopes`.
async fn signed_in(app: &TestApp, scopes: &[&str]) -> Browser {
    let (key, _) = create_key(app, json!({"name": "Queue analyst", "scopes": scopes})).await;
    let mut browser = Browser::new(app);
    browser.sign_in(&key).await;
    browser
}

/// The alert's status and close classification, read through REST.
async fn rest_state(app: &TestApp, uuid: &str) -> (String, Value) {
    let (status, body) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
    assert_eq!(status, 200, "{body}");
    (body["data"]["status"].as_str().unwrap().to_string(), body["data"]["close_classification"].clone())
}

/// Where `needle` first appears in `haystack` (panics when absent).
fn at(haystack: &str, needle: &str) -> usize {
    haystack.find(needle).unwrap_or_else(|| panic!("{needle} not in page"))
}

#[tokio::test]
async fn console_queue_lists_filters_sorts_and_pages_through_the_url() {
    let app = spawn_app().await;
    let low =
        ingest(&app, json!({"title": "alpha-low", "severity": "low", "occurred_at": "2026-01-01T00:00:00Z"}))
            .await;
    let high = ingest(
        &app,
        json!({"title": "bravo-high", "severity": "high", "occurred_at": "2026-01-02T00:00:00Z"}),
    )
    .await;
    ingest(&app, json!({"title": "charlie-high", "severity": "high", "occurred_at": "2026-01-03T00:00:00Z"}))
        .await;
    let (status, body) =
        app.patch(&format!("/v1/alerts/{low}"), &app.admin_key, json!({"status": "Triaging"})).await;
    assert_eq!(status, 200, "{body}");
    let mut browser = signed_in(&app, &["alerts:read", "alerts:write"]).await;

    let page = browser.get("/alerts").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for title in ["alpha-low", "bravo-high", "charlie-high"] {
        assert!(page.body.contains(title), "{title}");
    }
    assert!(page.body.contains(&format!("href=\"/alerts/{high}\"")));
    assert!(page.body.contains("<time datetime=\"2026-01-02T00:00:00Z\""), "{}", page.body);
    // Newest first by default.
    assert!(at(&page.body, "charlie-high") < at(&page.body, "alpha-low"));

    // Filters are the URL; the empty fields a GET form sends mean "any".
    let page = browser.get("/alerts?status=&severity=High&source_name=&tags=").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("bravo-high") && !page.body.contains("alpha-low"));
    assert!(page.body.contains("name=\"severity\" value=\"High\" checked"), "the form shows the filter");
    let page = browser.get("/alerts?status=Triaging").await;
    assert!(page.body.contains("alpha-low") && !page.body.contains("bravo-high"));
    let page = browser.get("/alerts?status=Open&severity=Low").await;
    assert!(page.body.contains("No alerts match"), "the empty state says what to do");

    // Sorting.
    let page = browser.get("/alerts?sort_by=title&sort_order=asc").await;
    assert!(at(&page.body, "alpha-low") < at(&page.body, "bravo-high"));
    assert!(at(&page.body, "bravo-high") < at(&page.body, "charlie-high"));
    let page = browser.get("/alerts?sort_by=title&sort_order=desc").await;
    assert!(at(&page.body, "charlie-high") < at(&page.body, "alpha-low"));

    // Paging keeps the filters.
    let first = browser.get("/alerts?severity=High&sort_by=title&sort_order=asc&page_size=1").await;
    assert!(first.body.contains("bravo-high") && !first.body.contains("charlie-high"));
    let next = "/alerts?severity=High&#38;sort_by=title&#38;sort_order=asc&#38;page_size=1&#38;page=2";
    assert!(first.body.contains(&format!("href=\"{next}\"")), "{}", first.body);
    let second = browser.get(&next.replace("&#38;", "&")).await;
    assert!(second.body.contains("charlie-high") && !second.body.contains("bravo-high"));
    assert!(!second.body.contains("alpha-low"));
    assert!(second.body.contains(
        "href=\"/alerts?severity=High&#38;sort_by=title&#38;sort_order=asc&#38;page_size=1\" rel=\"prev\""
    ));
    assert!(!second.body.contains("rel=\"next\""));
}

#[tokio::test]
async fn console_queue_shows_hostile_titles_as_escaped_text() {
    let app = spawn_app().await;
    let title = "<script>alert(1)</script>\" onmouseover=\"x javascript:alert(2)";
    ingest(&app, json!({"title": title, "severity": "high"})).await;
    let mut browser = signed_in(&app, &["alerts:read", "alerts:write"]).await;
    let page = browser.get("/alerts").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<script>alert(1)"), "{}", page.body);
    assert!(!page.body.contains("\" onmouseover=\"x"));
    // Askama escapes with numeric references: the text is all there, as text.
    assert!(
        page.body.contains(
            "&#60;script&#62;alert(1)&#60;/script&#62;&#34; onmouseover=&#34;x javascript:alert(2)"
        )
    );
    assert!(!page.body.contains("href=\"javascript:"));
}

#[tokio::test]
async fn console_queue_read_only_keys_get_no_bulk_form_and_a_forged_bulk_post_is_refused() {
    let app = spawn_app().await;
    let uuid = ingest(&app, json!({"title": "read-only view", "severity": "high"})).await;
    let mut browser = signed_in(&app, &["alerts:read"]).await;
    let page = browser.get("/alerts").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("read-only view"));
    assert!(!page.body.contains("action=\"/alerts/bulk\""));
    assert!(!page.body.contains("name=\"alert_uuid\""));
    let token = page.csrf_token();
    let refused = browser
        .post(
            "/alerts/bulk",
            &[("csrf_token", &token), ("alert_uuid", &uuid), ("action", "Escalated"), ("return", "")],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(rest_state(&app, &uuid).await.0, "Open");
}

#[tokio::test]
async fn console_queue_bulk_close_and_status_change_and_the_activity_log() {
    let app = spawn_app().await;
    let a = ingest(&app, json!({"title": "close-me-a", "severity": "high"})).await;
    let b = ingest(&app, json!({"title": "close-me-b", "severity": "high"})).await;
    let c = ingest(&app, json!({"title": "escalate-me", "severity": "low"})).await;
    let mut browser = signed_in(&app, &["alerts:read", "alerts:write"]).await;
    let page = browser.get("/alerts?severity=High").await;
    assert!(page.body.contains("action=\"/alerts/bulk\""));
    assert!(page.body.contains(&format!("name=\"alert_uuid\" value=\"{a}\"")));
    let token = page.csrf_token();

    // Without the CSRF token: refused, nothing changes.
    let refused = browser.post("/alerts/bulk", &[("alert_uuid", &a), ("action", "Escalated")]).await;
    assert_eq!(refused.status, 403);
    // Closing needs a classification.
    let refused = browser
        .post("/alerts/bulk", &[("csrf_token", &token), ("alert_uuid", &a), ("action", "close")])
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(rest_state(&app, &a).await.0, "Open");

    let done = browser
        .post(
            "/alerts/bulk",
            &[
                ("csrf_token", &token),
                ("return", "severity=High&changed=9"),
                ("alert_uuid", &a),
                ("alert_uuid", &b),
                ("action", "close"),
                ("close_classification", CLOSE_AS),
                ("close_notes", "expected admin activity"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), "/alerts?severity=High&changed=2&failed=0");
    for uuid in [&a, &b] {
        assert_eq!(rest_state(&app, uuid).await, ("Closed".to_string(), json!(CLOSE_AS)));
    }
    let after = browser.get(done.location()).await;
    assert!(after.body.contains("2 alert(s) changed"), "{}", after.body);

    let done = browser
        .post(
            "/alerts/bulk",
            &[("csrf_token", &token), ("return", ""), ("alert_uuid", &c), ("action", "Escalated")],
        )
        .await;
    assert_eq!(done.location(), "/alerts?changed=1&failed=0");
    assert_eq!(rest_state(&app, &c).await.0, "Escalated");

    // The audit log lists the changes, newest first, and filters by alert and event type.
    let log = browser.get("/activity").await;
    assert_eq!(log.status, 200, "{}", log.body);
    assert!(log.body.contains("alert_status_updated"));
    assert!(at(&log.body, &format!("/alerts/{c}\"")) < at(&log.body, &format!("/alerts/{a}\"")));
    let log = browser.get(&format!("/activity?alert_uuid={a}&actor=&event_type=")).await;
    assert_eq!(log.status, 200, "{}", log.body);
    assert!(log.body.contains("alert_status_updated") && log.body.contains("alert_ingested"));
    assert!(log.body.contains(&format!("/alerts/{a}\"")));
    assert!(!log.body.contains(&format!("/alerts/{c}\"")) && !log.body.contains(&format!("/alerts/{b}\"")));
    let log = browser.get(&format!("/activity?alert_uuid={a}&event_type=alert_status_updated")).await;
    assert!(!log.body.contains("alert_ingested"));
    let log = browser.get("/activity?actor=system&event_type=alert_status_updated").await;
    assert!(log.body.contains("No events match"), "{}", log.body);
}

#[tokio::test]
async fn console_queue_bad_filters_are_shown_on_the_page() {
    let app = spawn_app().await;
    let mut browser = signed_in(&app, &["alerts:read"]).await;
    for (path, field) in [
        ("/alerts?page=0", "page"),
        ("/alerts?status=Bogus", "status"),
        ("/alerts?page_size=100000", "page_size"),
        ("/activity?alert_uuid=not-a-uuid", "alert_uuid"),
        ("/activity?page=0", "page"),
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 422, "{path}: {}", page.body);
        assert!(page.body.contains("could not be read"), "{path}");
        assert!(page.body.contains(&format!("<li>{field}:")), "{path}: {}", page.body);
        assert!(page.body.contains("Filters"), "the page, with its form");
    }
    let page = browser.get("/alerts?sort_by=nope").await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("could not be read"));
    let page = browser.get("/alerts?status=%3Cb%3Ebold%3C%2Fb%3E").await;
    assert!(!page.body.contains("<b>bold</b>"), "the bad value is shown back escaped");
}
