//! Ingestion through HTTP: every fixture (ours, and the shared real-shaped ones when
//! `CALSETA_FIXTURES_DIR` is set) normalized and extracted as snapshotted; the reference's check
//! order and every error path; signatures with replay protection; the dedup window and its race
//! freedom; `?api_key=`; raw payloads returned exactly as received.

use std::path::{Path, PathBuf};
use std::time::Duration;

use calseta_core::sources::hmac_sha256_hex;
use serde_json::{Value, json};

use crate::helpers::*;

/// Ingests `body` for `source` and waits until enrichment finished; returns the alert detail.
pub async fn ingest_and_wait(app: &TestApp, source: &str, body: &str) -> Value {
    let resp = app
        .client
        .post(app.url(&format!("/v1/ingest/{source}")))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let (status, accepted) = status_json(resp).await;
    assert_eq!(status, 202, "{source}: {accepted}");
    let uuid = accepted["data"]["alert_uuid"].as_str().unwrap().to_string();
    wait_enriched(app, &uuid).await
}

/// Ingests a generic alert whose payload is `payload` and waits for its enrichment to settle
/// (so nothing changes it after); its uuid.
pub async fn ingest_generic(app: &TestApp, payload: Value) -> String {
    let (status, body) =
        app.post("/v1/alerts", &app.admin_key, json!({"source_name": "generic", "payload": payload})).await;
    assert_eq!(status, 202, "{body}");
    let uuid = body["data"]["alert_uuid"].as_str().unwrap().to_string();
    wait_enriched(app, &uuid).await;
    uuid
}

/// Polls an alert until its enrichment run finished.
pub async fn wait_enriched(app: &TestApp, uuid: &str) -> Value {
    eventually("the alert to be enriched", Duration::from_secs(30), || async {
        let (_, detail) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
        (detail["data"]["enrichment_status"] != "Pending").then_some(detail)
    })
    .await
}

/// What the snapshots pin: the normalized alert and its indicators.
async fn normalized_view(app: &TestApp, detail: &Value) -> Value {
    let alert = &detail["data"];
    let uuid = alert["uuid"].as_str().unwrap();
    let (_, activity) = app.get(&format!("/v1/alerts/{uuid}/activity"), &app.admin_key).await;
    let completed = activity["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "alert_enrichment_completed")
        .cloned();
    json!({
        "title": alert["title"],
        "severity": alert["severity"],
        "occurred_at": alert["occurred_at"],
        "description": alert["description"],
        "tags": alert["tags"],
        "source_name": alert["source_name"],
        "status": alert["status"],
        "enrichment_status": alert["enrichment_status"],
        "fingerprint": alert["fingerprint"],
        "detection_rule": alert["detection_rule"]["name"],
        "indicators": alert["indicators"].as_array().unwrap().iter().map(|i| json!([i["type"], i["value"]])).collect::<Vec<_>>(),
        "rejected": completed.map(|e| e["references"]["indicators_rejected"].clone()).unwrap_or(Value::Null),
    })
}

fn fixtures_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[tokio::test]
async fn repo_fixtures_normalize_and_extract_as_snapshotted() {
    let app = spawn_app().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seen = 0;
    for source in ["sentinel", "elastic", "splunk", "generic"] {
        for file in fixtures_in(&root.join(source)) {
            let body = std::fs::read_to_string(&file).unwrap();
            let detail = ingest_and_wait(&app, source, &body).await;
            let name = format!("{source}__{}", file.file_stem().unwrap().to_string_lossy());
            insta::assert_json_snapshot!(name, normalized_view(&app, &detail).await);
            seen += 1;
        }
    }
    assert!(seen >= 8);
}

/// `sentinel_x.json`, `02_elastic_y.json` → the source name.
fn source_of(file: &Path) -> String {
    let stem = file.file_stem().unwrap().to_string_lossy().to_string();
    let without_number = stem
        .split_once('_')
        .filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(stem);
    without_number.split('_').next().unwrap().to_string()
}

#[tokio::test]
async fn shared_fixtures_normalize_and_extract_as_snapshotted() {
    let Ok(dir) = std::env::var("CALSETA_FIXTURES_DIR") else {
        eprintln!("CALSETA_FIXTURES_DIR not set: shared fixtures not exercised");
        return;
    };
    let app = spawn_app().await;
    let mut seen = 0;
    for sub in ["sources", "calseta-case-study"] {
        for file in fixtures_in(&Path::new(&dir).join(sub)) {
            let source = source_of(&file);
            let body = std::fs::read_to_string(&file).unwrap();
            let detail = ingest_and_wait(&app, &source, &body).await;
            let view = normalized_view(&app, &detail).await;
            assert!(!view["indicators"].as_array().unwrap().is_empty(), "{}: no indicators", file.display());
            let name = format!("shared__{}", file.file_stem().unwrap().to_string_lossy());
            insta::assert_json_snapshot!(name, view);
            seen += 1;
        }
    }
    assert!(seen > 0, "no fixtures found under {dir}");
}

#[tokio::test]
async fn raw_payload_comes_back_exactly_as_sent() {
    let app = spawn_app().await;
    let body = r#"{"zeta":1,"title":"Order and precision","alpha":{"event_id":9007199254740993,"ratio":1.50,"big":123456789012345678901234567890},"severity":"low"}"#;
    let detail = ingest_and_wait(&app, "generic", body).await;
    let uuid = detail["data"]["uuid"].as_str().unwrap();
    let text = app
        .client
        .get(app.url(&format!("/v1/alerts/{uuid}")))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(&format!("\"raw_payload\":{body}")), "{text}");
}

#[tokio::test]
async fn ingest_checks_run_in_the_reference_order() {
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("SENTINEL_WEBHOOK_SECRET", "s3ntinel".into()),
            ("SPLUNK_WEBHOOK_SECRET", "splunk-token".into()),
        ],
        ..AppOptions::default()
    })
    .await;
    let (status, body) = app
        .post(
            "/v1/api-keys",
            &app.admin_key,
            json!({"name": "splunk only", "scopes": ["alerts:write"], "allowed_sources": ["splunk"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let splunk_only = body["data"]["key"].as_str().unwrap().to_string();
    let send = |source: &str, key: &str, body: &'static [u8], headers: Vec<(&'static str, String)>| {
        let mut req = app.client.post(app.url(&format!("/v1/ingest/{source}"))).bearer_auth(key).body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let check = |resp: reqwest::Response, status: u16, code: &'static str| async move {
        let (got, body) = status_json(resp).await;
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{body}");
    };
    let sentinel = br#"{"properties": {"title": "t", "severity": "High"}}"#;
    // Unknown source is checked before the key's source restriction…
    check(send("qradar", &splunk_only, b"{}", vec![]).await.unwrap(), 404, "UNKNOWN_SOURCE").await;
    // …which is checked before the signature…
    check(send("sentinel", &splunk_only, sentinel, vec![]).await.unwrap(), 403, "SOURCE_NOT_ALLOWED").await;
    // …which is checked before JSON.
    check(send("sentinel", &app.admin_key, b"not json", vec![]).await.unwrap(), 401, "INVALID_SIGNATURE")
        .await;
    let wrong = vec![("X-Sentinel-Signature", "sha256=00ff".to_string())];
    check(send("sentinel", &app.admin_key, sentinel, wrong).await.unwrap(), 401, "INVALID_SIGNATURE").await;
    let signed =
        |body: &[u8]| vec![("X-Sentinel-Signature", format!("sha256={}", hmac_sha256_hex("s3ntinel", body)))];
    let (status, body) =
        status_json(send("sentinel", &app.admin_key, sentinel, signed(sentinel)).await.unwrap()).await;
    assert_eq!(status, 202, "{body}");
    check(send("sentinel", &app.admin_key, b"{nope", signed(b"{nope")).await.unwrap(), 400, "INVALID_JSON")
        .await;
    check(
        send("sentinel", &app.admin_key, b"\xff\xfe{}", signed(b"\xff\xfe{}")).await.unwrap(),
        400,
        "INVALID_JSON",
    )
    .await;
    check(
        send("sentinel", &app.admin_key, b"[1,2]", signed(b"[1,2]")).await.unwrap(),
        422,
        "INVALID_PAYLOAD",
    )
    .await;
    check(
        send("sentinel", &app.admin_key, b"{\"properties\": {}}", signed(b"{\"properties\": {}}"))
            .await
            .unwrap(),
        422,
        "INVALID_PAYLOAD",
    )
    .await;

    // Replay protection: the timestamp is covered by the HMAC and must be recent.
    let now = chrono::Utc::now().timestamp();
    let stamped = |stamp: i64| {
        let message = format!("{stamp}.{}", std::str::from_utf8(sentinel).unwrap());
        vec![
            ("X-Sentinel-Signature", hmac_sha256_hex("s3ntinel", message.as_bytes())),
            ("X-Calseta-Timestamp", stamp.to_string()),
        ]
    };
    let (status, _) =
        status_json(send("sentinel", &app.admin_key, sentinel, stamped(now)).await.unwrap()).await;
    assert_eq!(status, 202);
    check(
        send("sentinel", &app.admin_key, sentinel, stamped(now - 3600)).await.unwrap(),
        401,
        "INVALID_SIGNATURE",
    )
    .await;

    // Splunk's shared token.
    let splunk = br#"{"search_name": "s", "result": {"src_ip": "198.51.100.1"}}"#;
    check(send("splunk", &splunk_only, splunk, vec![]).await.unwrap(), 401, "INVALID_SIGNATURE").await;
    let token = vec![("X-Splunk-Webhook-Secret", "splunk-token".to_string())];
    let (status, body) = status_json(send("splunk", &splunk_only, splunk, token).await.unwrap()).await;
    assert_eq!(status, 202, "{body}");

    // Deep nesting is refused clearly; wrong field types still ingest with defaults.
    let deep = format!("{{\"title\": \"deep\", \"x\": {}{}}}", "[".repeat(200), "]".repeat(200));
    let resp = app
        .client
        .post(app.url("/v1/ingest/generic"))
        .bearer_auth(&app.admin_key)
        .body(deep)
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(resp).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("INVALID_PAYLOAD")), "{body}");
    let odd = r#"{"title": 12345, "severity": ["high"], "occurred_at": {"when": "now"}, "tags": "not-a-list", "src_ip": 42}"#;
    let detail = ingest_and_wait(&app, "generic", odd).await;
    assert_eq!(detail["data"]["title"], "12345");
    assert_eq!(detail["data"]["severity"], "Pending");
    assert_eq!(detail["data"]["tags"], json!([]));
}

#[tokio::test]
async fn programmatic_ingest() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/v1/alerts",
            &app.admin_key,
            json!({"source_name": "generic", "payload": {"title": "From an agent", "src_ip": "203.0.113.9"}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let detail = wait_enriched(&app, body["data"]["alert_uuid"].as_str().unwrap()).await;
    assert_eq!(detail["data"]["indicators"][0]["value"], "203.0.113.9");
    for (payload, status, code) in [
        (json!({"source_name": "nope", "payload": {"title": "x"}}), 404, "UNKNOWN_SOURCE"),
        (json!({"source_name": "generic", "payload": ["x"]}), 422, "VALIDATION_ERROR"),
        (json!({"source_name": "generic", "payload": {"no_title": 1}}), 422, "INVALID_PAYLOAD"),
        (json!({"payload": {"title": "x"}}), 422, "VALIDATION_ERROR"),
    ] {
        let (got, body) = app.post("/v1/alerts", &app.admin_key, payload).await;
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{body}");
    }
}

#[tokio::test]
async fn api_key_in_the_query_string_only_for_ingest_only_keys_on_ingest_routes() {
    let app = spawn_app().await;
    let ingest_only = app.key_with(&["alerts:ingest"]).await;
    let broad = app.key_with(&["alerts:ingest", "alerts:read"]).await;
    let writer = app.key_with(&["alerts:write"]).await;
    let post = |url: String| {
        app.client
            .post(url)
            .header("content-type", "application/json")
            .body(r#"{"title": "via query key"}"#)
            .send()
    };
    let (status, body) =
        status_json(post(app.url(&format!("/v1/ingest/generic?api_key={ingest_only}"))).await.unwrap()).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) =
        status_json(post(app.url(&format!("/v1/ingest/generic?api_key={broad}"))).await.unwrap()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("FORBIDDEN")), "{body}");
    // alerts:write can change alerts: it is no ingest-only key, so never in a URL.
    let (status, body) =
        status_json(post(app.url(&format!("/v1/ingest/generic?api_key={writer}"))).await.unwrap()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("FORBIDDEN")), "{body}");
    // An ingest-only key can do nothing but ingest, even as a bearer header.
    let (status, _) = app
        .patch("/v1/alerts/00000000-0000-0000-0000-000000000000", &ingest_only, json!({"severity": "Low"}))
        .await;
    assert_eq!(status, 403);
    let resp = app
        .client
        .post(app.url("/v1/ingest/generic"))
        .bearer_auth(&ingest_only)
        .header("content-type", "application/json")
        .body(r#"{"title": "via header"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    // Never on other routes.
    let resp = app.client.get(app.url(&format!("/v1/alerts?api_key={ingest_only}"))).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn duplicates_within_the_window_bump_the_original() {
    let app = spawn_app().await;
    let first = r#"{"title": "Beacon to C2", "indicators": [{"type": "domain", "value": "c2.example.com"}], "src_ip": "192.0.2.10"}"#;
    let detail = ingest_and_wait(&app, "generic", first).await;
    let uuid = detail["data"]["uuid"].as_str().unwrap().to_string();
    // Defanged, re-cased and re-ordered: the same normalized indicators, so the same alert.
    let again = r#"{"src_ip": " 192.0.2.10 ", "indicators": [{"type": "domain", "value": "C2[.]Example.com."}], "title": "Beacon to C2"}"#;
    let (status, body) = app
        .post(
            "/v1/alerts",
            &app.admin_key,
            json!({"source_name": "generic", "payload": serde_json::from_str::<Value>(again).unwrap()}),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        body["data"],
        json!({"alert_uuid": uuid, "status": "deduplicated", "is_duplicate": true, "duplicate_count": 1})
    );

    // Many processes' worth of concurrent identical ingests: one alert.
    let payload = r#"{"title": "Concurrent storm", "src_ip": "192.0.2.99"}"#;
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let request =
            app.client.post(app.url("/v1/ingest/generic")).bearer_auth(&app.admin_key).body(payload);
        sends.spawn(request.send());
    }
    let mut uuids = std::collections::HashSet::new();
    let mut duplicates = 0;
    while let Some(resp) = sends.join_next().await {
        let (status, body) = status_json(resp.unwrap().unwrap()).await;
        assert_eq!(status, 202);
        uuids.insert(body["data"]["alert_uuid"].as_str().unwrap().to_string());
        if body["data"]["is_duplicate"] == true {
            duplicates += 1;
        }
    }
    assert_eq!((uuids.len(), duplicates), (1, 19));
    let (_, list) = app.get("/v1/alerts?page_size=500", &app.admin_key).await;
    assert_eq!(list["meta"]["total"], 2);
    let storm = list["data"].as_array().unwrap().iter().find(|a| a["title"] == "Concurrent storm").unwrap();
    assert_eq!(storm["duplicate_count"], 19);
    let (_, activity) = app
        .get(
            &format!("/v1/alerts/{}/activity?page_size=100", storm["uuid"].as_str().unwrap()),
            &app.admin_key,
        )
        .await;
    let dedup_events = activity["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "alert_deduplicated")
        .count();
    assert_eq!(dedup_events, 19);
}

#[tokio::test]
async fn a_zero_window_disables_dedup() {
    let app = spawn_app_with(AppOptions {
        env: vec![("ALERT_DEDUP_WINDOW_HOURS", "0".into())],
        ..AppOptions::default()
    })
    .await;
    let body = json!({"source_name": "generic", "payload": {"title": "same"}});
    let (_, a) = app.post("/v1/alerts", &app.admin_key, body.clone()).await;
    let (_, b) = app.post("/v1/alerts", &app.admin_key, body).await;
    assert_ne!(a["data"]["alert_uuid"], b["data"]["alert_uuid"]);
    assert_eq!(b["data"]["is_duplicate"], false);
}
