//! The console's alert queue (`/alerts`, `POST /alerts/bulk`) and audit log (`/activity`):
//! filters held in the URL (malice, several tags, title text), sorting by column header, keyset
//! paging by cursor, the empty states, escaping of attacker-written alert content, the bulk
//! change's scope and CSRF checks, and the audit log's filters.

use serde_json::{Value, json};

use crate::console::signed_in;
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

    // Paging is by cursor and keeps the filters.
    let first = browser.get("/alerts?severity=High&sort_by=title&sort_order=asc&page_size=1").await;
    assert!(first.body.contains("bravo-high") && !first.body.contains("charlie-high"));
    let next = link(&first.body, "next").expect("a next page");
    assert!(
        next.starts_with("/alerts?severity=High&sort_by=title&sort_order=asc&page_size=1&after="),
        "{next}"
    );
    assert!(link(&first.body, "prev").is_none());
    let second = browser.get(&next).await;
    assert!(second.body.contains(">charlie-high<") && !second.body.contains(">bravo-high<"));
    assert!(!second.body.contains("alpha-low"));
    let prev = link(&second.body, "prev").expect("a previous page");
    assert!(prev.starts_with("/alerts?severity=High&sort_by=title&sort_order=asc&page_size=1&before="));
    assert!(link(&second.body, "next").is_none());
}

/// The link with `rel` (`next`, `prev`) on a page, unescaped.
fn link(body: &str, rel: &str) -> Option<String> {
    let end = body.find(&format!("\" rel=\"{rel}\""))?;
    let start = body[..end].rfind("href=\"")? + "href=\"".len();
    Some(body[start..end].replace("&#38;", "&"))
}

/// The link of the column header `label`, unescaped, and its `aria-sort` (if any).
fn header(body: &str, label: &str) -> (String, Option<String>) {
    let end = body.find(&format!("\">{label}</a></th>")).unwrap_or_else(|| panic!("no {label} header"));
    let th = body[..end].rfind("<th ").unwrap();
    let cell = &body[th..end];
    let href = cell[cell.find("href=\"").unwrap() + 6..].replace("&#38;", "&");
    let sort = cell.find("aria-sort=\"").map(|at| cell[at + 11..].split('"').next().unwrap().to_string());
    (href, sort)
}

/// The alerts listed on a queue page, in order (their uuids).
fn listed(body: &str) -> Vec<String> {
    body.match_indices("<td><a href=\"/alerts/")
        .map(|(at, m)| body[at + m.len()..at + m.len() + 36].to_string())
        .collect()
}

/// The table row of the alert titled `title`.
fn row_of<'a>(body: &'a str, title: &str) -> &'a str {
    let at = at(body, &format!(">{title}</a>"));
    let start = body[..at].rfind("<tr>").unwrap();
    let end = at + body[at..].find("</tr>").unwrap();
    &body[start..end]
}

async fn rest_patch(app: &TestApp, uuid: &str, body: Value) {
    let (status, answer) = app.patch(&format!("/v1/alerts/{uuid}"), &app.admin_key, body).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn console_queue_shows_each_alerts_malice_and_filters_by_it() {
    let app = spawn_app().await;
    let bad = ingest(&app, json!({"title": "override-malicious", "severity": "high"})).await;
    let fine = ingest(&app, json!({"title": "override-benign", "severity": "high"})).await;
    ingest(&app, json!({"title": "no-indicators", "severity": "high"})).await;
    let found =
        ingest(&app, json!({"title": "with-indicator", "severity": "high", "src_ip": "185.220.101.47"}))
            .await;
    rest_patch(&app, &bad, json!({"malice_override": "Malicious"})).await;
    rest_patch(&app, &fine, json!({"malice_override": "Benign"})).await;
    // The indicator's verdict (whatever the mock providers said) is what REST computes.
    let (_, detail) = app.get(&format!("/v1/alerts/{found}"), &app.admin_key).await;
    let computed = detail["data"]["malice"].as_str().unwrap().to_string();
    let mut browser = signed_in(&app, &["alerts:read"]).await;

    let page = browser.get("/alerts").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<th scope=\"col\">Malice</th>"));
    assert!(row_of(&page.body, "override-malicious").contains("malice-malicious\">Malicious</span>"));
    assert!(row_of(&page.body, "override-benign").contains("malice-benign\">Benign</span>"));
    assert!(row_of(&page.body, "no-indicators").contains("malice-pending\">Pending</span>"));
    let lower = computed.to_lowercase();
    assert!(row_of(&page.body, "with-indicator").contains(&format!("malice-{lower}\">{computed}</span>")));

    let page = browser.get("/alerts?malice=Malicious").await;
    assert!(page.body.contains("override-malicious") && !page.body.contains("override-benign"));
    assert!(page.body.contains("name=\"malice\" value=\"Malicious\" checked"), "the form shows the filter");
    let page = browser.get("/alerts?malice=Benign&malice=Pending").await;
    assert!(page.body.contains("override-benign") && page.body.contains("no-indicators"));
    assert!(!page.body.contains("override-malicious"));
    let page = browser.get(&format!("/alerts?malice={computed}")).await;
    assert!(page.body.contains("with-indicator"), "{}", page.body);
    let page = browser.get("/alerts?malice=Evil").await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("<li>malice:"), "{}", page.body);
}

#[tokio::test]
async fn console_queue_filters_by_several_tags_and_title_text() {
    let app = spawn_app().await;
    let both = ingest(&app, json!({"title": "Tagged Both", "severity": "high"})).await;
    let one = ingest(&app, json!({"title": "tagged one", "severity": "high"})).await;
    let other = ingest(&app, json!({"title": "tagged other", "severity": "high"})).await;
    rest_patch(&app, &both, json!({"tags": ["phishing", "vip"]})).await;
    rest_patch(&app, &one, json!({"tags": ["phishing"]})).await;
    rest_patch(&app, &other, json!({"tags": ["vip", "a,b"]})).await;
    let mut browser = signed_in(&app, &["alerts:read"]).await;

    // Every tag must be carried; a tag is taken whole (a comma is part of it).
    let page = browser.get("/alerts?tags=phishing&tags=vip").await;
    assert_eq!(listed(&page.body), vec![both.clone()]);
    assert!(page.body.contains("name=\"tags\" value=\"phishing\""), "{}", page.body);
    assert!(page.body.contains("name=\"tags\" value=\"vip\""));
    assert!(page.body.contains("id=\"f-tag-new\" name=\"tags\" value=\"\""), "a field for another tag");
    let page = browser.get("/alerts?tags=phishing&tags=").await;
    let mut found = listed(&page.body);
    found.sort();
    let mut expected = vec![both.clone(), one.clone()];
    expected.sort();
    assert_eq!(found, expected);
    let page = browser.get("/alerts?tags=a%2Cb").await;
    assert_eq!(listed(&page.body), vec![other.clone()]);

    // Title text, any case.
    let page = browser.get("/alerts?q=TAGGED+o").await;
    let found = listed(&page.body);
    assert!(found.contains(&one) && found.contains(&other) && !found.contains(&both), "{found:?}");
    assert!(page.body.contains("name=\"q\" value=\"TAGGED o\""));
    let page = browser.get("/alerts?q=both&tags=vip").await;
    assert_eq!(listed(&page.body), vec![both]);
}

#[tokio::test]
async fn console_queue_column_headers_sort_and_flip_the_order() {
    let app = spawn_app().await;
    for (title, severity) in [("bravo", "low"), ("alpha", "critical"), ("charlie", "medium")] {
        ingest(&app, json!({"title": title, "severity": severity})).await;
    }
    let mut browser = signed_in(&app, &["alerts:read"]).await;
    let titles = |body: &str| -> Vec<usize> {
        ["alpha", "bravo", "charlie"].map(|t| at(body, &format!(">{t}</a>"))).to_vec()
    };

    let page = browser.get("/alerts?status=Open").await;
    // Sorted by occurrence, newest first, by default; the other headers sort from their start.
    assert_eq!(header(&page.body, "Occurred").1.as_deref(), Some("descending"));
    let (by_title, sort) = header(&page.body, "Title");
    assert_eq!(sort, None);
    assert_eq!(by_title, "/alerts?status=Open&sort_by=title&sort_order=asc");

    let page = browser.get(&by_title).await;
    let t = titles(&page.body);
    assert!(t[0] < t[1] && t[1] < t[2], "A to Z");
    assert_eq!(header(&page.body, "Title").1.as_deref(), Some("ascending"));
    assert_eq!(header(&page.body, "Occurred").1, None);
    let (flipped, _) = header(&page.body, "Title");
    assert_eq!(flipped, "/alerts?status=Open&sort_by=title&sort_order=desc");
    let page = browser.get(&flipped).await;
    let t = titles(&page.body);
    assert!(t[2] < t[1] && t[1] < t[0], "Z to A");
    assert_eq!(header(&page.body, "Title").1.as_deref(), Some("descending"));

    // Severity: highest first, then flipped.
    let (by_severity, _) = header(&page.body, "Severity");
    assert_eq!(by_severity, "/alerts?status=Open&sort_by=severity&sort_order=desc");
    let page = browser.get(&by_severity).await;
    let t = titles(&page.body);
    assert!(t[0] < t[2] && t[2] < t[1], "critical, medium, low");
    let page = browser.get(&header(&page.body, "Severity").0).await;
    let t = titles(&page.body);
    assert!(t[1] < t[2] && t[2] < t[0], "low, medium, critical");
    // Malice and enrichment are no sort columns.
    assert!(page.body.contains("<th scope=\"col\">Enrichment</th>"));
}

#[tokio::test]
async fn console_queue_keyset_pages_walk_every_row_once_forward_and_back() {
    let app = spawn_app().await;
    let severities = ["low", "high", "medium", "high", "critical", "low", "high"];
    let mut matching = Vec::new();
    for (n, severity) in severities.iter().enumerate() {
        // Repeated titles and times (distinct indicators keep them apart): the id breaks ties.
        let title = format!("walk {}", n % 3);
        let occurred = format!("2026-02-0{}T00:00:00Z", 1 + n % 2);
        let ip = format!("203.0.113.{n}");
        matching.push(
            ingest(
                &app,
                json!({"title": title, "severity": severity, "occurred_at": occurred, "src_ip": ip}),
            )
            .await,
        );
    }
    for _ in 0..2 {
        ingest(&app, json!({"title": "unrelated", "severity": "high"})).await;
    }
    matching.sort();
    let mut browser = signed_in(&app, &["alerts:read"]).await;

    for sort in [
        "",
        "&sort_by=title&sort_order=asc",
        "&sort_by=severity&sort_order=desc",
        "&sort_by=occurred_at&sort_order=asc",
    ] {
        let mut path = format!("/alerts?q=walk&page_size=2{sort}");
        let mut forward: Vec<Vec<String>> = Vec::new();
        let last = loop {
            let page = browser.get(&path).await;
            assert_eq!(page.status, 200, "{path}: {}", page.body);
            assert!(
                page.body.contains("7 alert(s) match"),
                "{path}: {:?}",
                page.body.find("alert(s) match").map(|at| &page.body[at - 30..at + 20])
            );
            assert_eq!(link(&page.body, "prev").is_some(), !forward.is_empty(), "{path}");
            forward.push(listed(&page.body));
            match link(&page.body, "next") {
                Some(next) => {
                    assert!(
                        next.contains("q=walk") && next.contains(sort) && next.contains("after="),
                        "{next}"
                    );
                    path = next;
                }
                None => break page,
            }
        };
        assert_eq!(forward.len(), 4, "{sort}: {forward:?}");
        let mut seen: Vec<String> = forward.concat();
        assert_eq!(seen.len(), 7);
        seen.sort();
        assert_eq!(seen, matching, "{sort}: every matching row exactly once");

        let mut back: Vec<Vec<String>> = vec![listed(&last.body)];
        let mut page = last;
        while let Some(prev) = link(&page.body, "prev") {
            assert!(prev.contains("before="), "{prev}");
            page = browser.get(&prev).await;
            assert_eq!(page.status, 200);
            back.push(listed(&page.body));
        }
        back.reverse();
        assert_eq!(back, forward, "{sort}: the same pages backwards");
    }
    // The sort headers start over from the first page: no cursor in their links.
    let page = browser.get("/alerts?q=walk&page_size=2").await;
    let page = browser.get(&link(&page.body, "next").unwrap()).await;
    let (by_title, _) = header(&page.body, "Title");
    assert_eq!(by_title, "/alerts?q=walk&page_size=2&sort_by=title&sort_order=asc");
}

#[tokio::test]
async fn console_queue_empty_states_say_what_to_do_next() {
    let app = spawn_app().await;
    let mut browser = signed_in(&app, &["alerts:read"]).await;
    let page = browser.get("/alerts").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No alerts yet"), "{}", page.body);
    assert!(page.body.contains("<code>/v1/ingest/generic</code>"));
    assert!(!page.body.contains("<table"));

    ingest(&app, json!({"title": "only one", "severity": "low"})).await;
    let page = browser.get("/alerts?severity=Critical").await;
    assert!(page.body.contains("No alerts match these filters"), "{}", page.body);
    assert!(page.body.contains("<a href=\"/alerts\">clear all filters</a>"));
    assert!(!page.body.contains("No alerts yet"));
    // Sorting alone filters nothing.
    let page = browser.get("/alerts?sort_by=title").await;
    assert!(page.body.contains("only one"));
}

#[tokio::test]
async fn console_queue_url_round_trips_every_filter_into_the_form_and_links() {
    let app = spawn_app().await;
    let uuid = ingest(
        &app,
        json!({"title": "abc round trip", "severity": "high", "occurred_at": "2026-06-01T00:00:00Z"}),
    )
    .await;
    rest_patch(&app, &uuid, json!({"tags": ["x", "y"], "malice_override": "Benign"})).await;
    let query = "status=Open&severity=High&malice=Benign&enrichment_status=Enriched&enrichment_status=Failed\
                 &source_name=generic&q=abc&tags=x&tags=y&from_time=2026-01-01T00%3A00%3A00Z\
                 &to_time=2026-12-31T00%3A00%3A00Z&sort_by=title&sort_order=asc&page_size=5";
    let mut browser = signed_in(&app, &["alerts:read"]).await;
    let page = browser.get(&format!("/alerts?{query}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(listed(&page.body), vec![uuid], "every filter holds for the alert");
    for shown in [
        "name=\"status\" value=\"Open\" checked",
        "name=\"severity\" value=\"High\" checked",
        "name=\"malice\" value=\"Benign\" checked",
        "name=\"enrichment_status\" value=\"Enriched\" checked",
        "name=\"enrichment_status\" value=\"Failed\" checked",
        "name=\"source_name\" value=\"generic\"",
        "name=\"q\" value=\"abc\"",
        "name=\"tags\" value=\"x\"",
        "name=\"tags\" value=\"y\"",
        "name=\"from_time\" value=\"2026-01-01T00:00:00Z\"",
        "name=\"to_time\" value=\"2026-12-31T00:00:00Z\"",
        "type=\"hidden\" name=\"sort_by\" value=\"title\"",
        "type=\"hidden\" name=\"sort_order\" value=\"asc\"",
        "type=\"hidden\" name=\"page_size\" value=\"5\"",
    ] {
        assert!(page.body.contains(shown), "{shown} not in {}", page.body);
    }
    assert!(!page.body.contains("value=\"Critical\" checked"));
    // A header link keeps every filter and changes only the sort.
    let (flip, _) = header(&page.body, "Title");
    let without_sort = query.replace("&sort_by=title&sort_order=asc", "");
    assert_eq!(flip, format!("/alerts?{without_sort}&sort_by=title&sort_order=desc"));
    // The time is UTC in the page, with the full time as its title, for the script to localize.
    assert!(page.body.contains(
        "<time datetime=\"2026-06-01T00:00:00Z\" title=\"2026-06-01 00:00:00 UTC\" data-local>2026-06-01 00:00 UTC</time>"
    ));

    // The detection rule filter is shown back too (an unknown rule matches nothing).
    let rule = "0190a4d2-7a53-7c2e-9b1e-6f2d3c4b5a69";
    let page = browser.get(&format!("/alerts?detection_rule_uuid={rule}")).await;
    assert!(page.body.contains(&format!("name=\"detection_rule_uuid\" value=\"{rule}\"")));
    assert!(page.body.contains("No alerts match these filters"));
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
        ("/alerts?after=not-a-cursor", "after"),
        ("/alerts?sort_by=severity&before=1%3Ahigh", "before"),
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
