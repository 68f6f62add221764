//! HTTP conventions: health, envelopes, errors, limits, headers, OpenAPI and the docs page.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

#[tokio::test]
async fn health_reports_database_and_queue() {
    let mut app = spawn_app().await;
    let resp = app.client.get(app.url("/health")).header("X-Request-ID", "trace-123").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let headers = resp.headers().clone();
    assert_eq!(headers["x-request-id"], "trace-123");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["content-security-policy"], "default-src 'none'; frame-ancestors 'none'");
    assert!(headers.get("strict-transport-security").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["queue"], "ok");
    assert!(body["queue_depth"].is_i64());
    assert!(body["enrichment_providers"].is_object());
    assert!(body["version"].is_string());
    assert!(["checking", "full"].contains(&body["workflow_sandbox"].as_str().unwrap_or_default()), "{body}");
    let level = eventually("the sandbox level", Duration::from_secs(30), || async {
        let (_, body) = status_json(app.client.get(app.url("/health")).send().await.unwrap()).await;
        (body["workflow_sandbox"] != "checking").then(|| body["workflow_sandbox"].clone())
    })
    .await;
    assert_eq!(level, "full", "this machine offers every sandbox layer");

    // A generated request id when none (or a hostile one) is sent.
    let resp = app
        .client
        .get(app.url("/health"))
        .header("X-Request-ID", "bad id\twith spaces")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    // Database gone → 503 "down".
    app.db.close().await;
    let resp = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!((body["status"].as_str(), body["database"].as_str()), (Some("down"), Some("error")));
    app.stop().await;
}

#[tokio::test]
async fn health_reports_the_workflow_runtime_unavailable_without_python() {
    let app = spawn_app_with(AppOptions {
        env: vec![("WORKFLOW_PYTHON", "/nonexistent/python3".into())],
        ..Default::default()
    })
    .await;
    let (status, _) = status_json(app.client.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, 200, "everything else works");
    let level = eventually("the sandbox level", Duration::from_secs(30), || async {
        let (_, body) = status_json(app.client.get(app.url("/health")).send().await.unwrap()).await;
        (body["workflow_sandbox"] != "checking").then(|| body["workflow_sandbox"].clone())
    })
    .await;
    // It says why.
    let level = level.as_str().unwrap_or_default();
    assert!(level.starts_with("unavailable: ") && level.contains("/nonexistent/python3"), "{level}");
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = spawn_app().await;
    let (status, body) = app.get("/v1/nothing-here", &app.admin_key).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": {"code": "NOT_FOUND", "message": "The requested resource was not found.", "details": {}}})
    );
    let resp = app.client.put(app.url("/v1/api-keys")).bearer_auth(&app.admin_key).send().await.unwrap();
    let (status, body) = status_json(resp).await;
    assert_eq!(status, 405);
    assert_eq!(body["error"]["code"], "METHOD_NOT_ALLOWED");
    let (status, body) = app.get("/v1/api-keys/not-a-uuid", &app.admin_key).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
}

#[tokio::test]
async fn malformed_bodies_are_validation_errors() {
    let app = spawn_app().await;
    let post = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = app.client.post(app.url("/v1/api-keys")).bearer_auth(&app.admin_key).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let (status, body) =
        status_json(post("{\"name\": \"x\", ", Some("application/json")).await.unwrap()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"]["errors"][0]["type"], "json_invalid");
    let (status, body) = status_json(post("[1, 2]", Some("application/json")).await.unwrap()).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) =
        status_json(post("name=x", Some("application/x-www-form-urlencoded")).await.unwrap()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"]["errors"][0]["type"], "content_type");
    let (status, _) = status_json(post("{}", None).await.unwrap()).await;
    assert_eq!(status, 422);
    let (status, body) = status_json(
        post("{\"name\":\"x\",\"scopes\":[\"admin\"]}", Some("application/json; charset=utf-8"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn pagination_is_validated_and_totals_are_exact() {
    let app = spawn_app().await;
    for _ in 0..4 {
        app.key_with(&["alerts:read"]).await;
    }
    let (status, body) = app.get("/v1/api-keys?page=2&page_size=2", &app.admin_key).await;
    assert_eq!(status, 200);
    assert_eq!(body["meta"], json!({"total": 5, "page": 2, "page_size": 2, "total_pages": 3}));
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let (_, body) = app.get("/v1/api-keys?page=9", &app.admin_key).await;
    assert_eq!(body["data"], json!([]));
    assert_eq!(body["meta"]["total"], 5);
    for query in ["page_size=501", "page_size=0", "page=0", "page=-1", "page=abc", "page_size=9999"] {
        let (status, body) = app.get(&format!("/v1/api-keys?{query}"), &app.admin_key).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    }
}

async fn raw_request(addr: &str, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).to_string()
}

/// Sends `head` and the start of a body that then never finishes, and returns the first bytes the
/// server answers (within 15 s; the connection stays open on the client's side).
async fn answer_to_an_unfinished_body(addr: &str, head: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"{\"title\": \"never fin").await.unwrap();
    let mut response = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(15), stream.read(&mut response))
        .await
        .expect("the server answers without the rest of the body")
        .unwrap();
    String::from_utf8_lossy(&response[..n]).to_string()
}

#[tokio::test]
async fn the_configured_limits_are_the_limits_and_bodies_are_read_after_authentication() {
    let app = spawn_app_with(AppOptions {
        env: vec![("REQUEST_BODY_TIMEOUT_SECONDS", "1".into())],
        ..AppOptions::default()
    })
    .await;
    // A 3 MiB alert is within the default 5 MB ingest limit (axum's own 2 MB does not apply).
    let padding = "p".repeat(3 * 1024 * 1024);
    let alert = json!({"title": "big alert", "severity": "low", "notes": padding}).to_string();
    let resp = app
        .client
        .post(app.url("/v1/ingest/generic"))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(alert)
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(resp).await;
    assert_eq!(status, 202, "{body}");
    // Over it, the envelope.
    let too_big = "x".repeat(5 * 1024 * 1024 + 1);
    let resp = app
        .client
        .post(app.url("/v1/ingest/generic"))
        .bearer_auth(&app.admin_key)
        .body(too_big)
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(resp).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("PAYLOAD_TOO_LARGE")), "{body}");

    let addr = app.base.trim_start_matches("http://").to_string();
    // Without a key the answer comes before the body is read: a sender cannot hold the
    // connection unauthenticated.
    let head = format!(
        "POST /v1/ingest/generic HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    );
    let answer = answer_to_an_unfinished_body(&addr, &head).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // With a key, a body that does not arrive in time ends with 408 in the envelope.
    let head = format!(
        "POST /v1/ingest/generic HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
        app.admin_key
    );
    let answer = answer_to_an_unfinished_body(&addr, &head).await;
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("REQUEST_TIMEOUT"), "{answer}");
}

#[tokio::test]
async fn body_limits_apply_to_declared_and_chunked_bodies() {
    let app = spawn_app_with(AppOptions {
        env: vec![("MAX_REQUEST_BODY_SIZE_MB", "1".into()), ("MAX_INGEST_PAYLOAD_SIZE_MB", "1".into())],
        ..AppOptions::default()
    })
    .await;
    let big = "x".repeat(1024 * 1024 + 10);
    let resp = app
        .client
        .post(app.url("/v1/api-keys"))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(resp).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(body["error"]["message"], "Request body exceeds the 1MB limit for this endpoint.");

    // Chunked: no Content-Length, so the limit must hold on the bytes read.
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut request = format!(
        "POST /v1/api-keys HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.admin_key
    )
    .into_bytes();
    let chunk = "y".repeat(64 * 1024);
    for _ in 0..20 {
        request.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let response = raw_request(&addr, &request).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{}", &response[..response.len().min(200)]);
    assert!(response.contains("PAYLOAD_TOO_LARGE"));

    // Ingest routes have their own limit (and message).
    let resp = app.client.post(app.url("/v1/ingest/generic")).body(big).send().await.unwrap();
    let (status, body) = status_json(resp).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["message"], "Request body exceeds the 1MB limit for ingest endpoints.");
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("RATE_LIMIT_AUTHED_PER_MINUTE", "3".into()),
            ("RATE_LIMIT_UNAUTHED_PER_MINUTE", "2".into()),
        ],
        ..AppOptions::default()
    })
    .await;
    // A minute boundary between requests resets the window; one retry covers it.
    let mut limited = None;
    for _ in 0..2 {
        for _ in 0..4 {
            let resp =
                app.client.get(app.url("/v1/api-keys")).bearer_auth(&app.admin_key).send().await.unwrap();
            if resp.status().as_u16() == 429 {
                let retry_after: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                limited = Some((retry_after, resp.json::<Value>().await.unwrap()));
                break;
            }
        }
        if limited.is_some() {
            break;
        }
    }
    let (retry_after, body) = limited.expect("the 4th request in a minute is limited");
    assert!((1..=60).contains(&retry_after));
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert_eq!(body["error"]["details"]["retry_after_seconds"], retry_after);

    // Failed authentications are limited per client IP before any key lookup.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, _) = app.get("/v1/api-keys", "cai_wrongwrongwrongwrongwrongwrongwrongwrongwro").await;
        statuses.push(status);
    }
    assert!(statuses.contains(&401) && statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn cors_and_hsts_follow_configuration() {
    let app = spawn_app().await;
    let resp = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/api-keys"))
        .header("Origin", "https://soc.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none(), "CORS is off by default");

    let app = spawn_app_with(AppOptions {
        env: vec![("CORS_ALLOWED_ORIGINS", "https://soc.example".into()), ("HTTPS_ENABLED", "true".into())],
        ..AppOptions::default()
    })
    .await;
    let resp = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/api-keys"))
        .header("Origin", "https://soc.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], "https://soc.example");
    assert_eq!(resp.headers()["access-control-allow-credentials"], "true");
    let resp = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(resp.headers()["strict-transport-security"], "max-age=63072000; includeSubDomains");
}

#[tokio::test]
async fn openapi_document_and_offline_docs_page() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let doc: Value = resp.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(doc["info"]["title"], "Calseta API");
    assert!(doc["paths"]["/v1/api-keys"]["post"].is_object());
    assert!(doc["paths"]["/v1/jobs/{uuid}/retry"]["post"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());

    let resp = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && !csp.contains("http"), "no third-party origins: {csp}");
    let html = resp.text().await.unwrap();
    assert!(html.contains("/docs/docs.js") && !html.contains("cdn"));
    for asset in ["/docs/docs.js", "/docs/docs.css"] {
        let resp = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{asset}");
    }
}

/// The child half of `outbound_requests_ignore_proxy_environment`: run by it in a process whose
/// environment names a proxy, it sends one request through the outbound client.
#[tokio::test]
async fn outbound_request_in_child_process() {
    use calseta_services::platform::outbound::{OutboundClient, OutboundSettings, SystemResolver};
    let Ok(target) = std::env::var("CALSETA_PROXY_TEST_TARGET") else { return };
    let settings = OutboundSettings {
        allowed_hosts: vec!["127.0.0.1".into()],
        resolver: std::sync::Arc::new(SystemResolver),
    };
    let client = OutboundClient::new(&settings).unwrap();
    let status = client.client(false).get(&target).send().await.unwrap().status();
    assert_eq!(status.as_u16(), 200);
}

#[tokio::test]
async fn outbound_requests_ignore_proxy_environment() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let target = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&target)
        .await;
    // A "proxy" that counts the connections it gets and answers none.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let accepting = tokio::spawn(async move {
        while let Ok((_socket, _)) = proxy.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["http::outbound_request_in_child_process", "--exact", "--nocapture", "--test-threads", "1"])
        .env("CALSETA_PROXY_TEST_TARGET", format!("{}/probe", target.uri()))
        .env("HTTP_PROXY", &proxy_url)
        .env("http_proxy", &proxy_url)
        .env("HTTPS_PROXY", &proxy_url)
        .env("ALL_PROXY", &proxy_url)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .await
        .unwrap();
    assert!(child.status.success(), "{}", String::from_utf8_lossy(&child.stdout));
    assert_eq!(target.received_requests().await.unwrap().len(), 1, "the request went straight to its target");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "and never to the proxy");
    accepting.abort();
}
