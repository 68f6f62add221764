//! The platform is never an outbound destination: workflow HTTP and agent endpoints are refused
//! on this server's own listeners and, on this machine, the database's port — whatever
//! `SSRF_ALLOWED_HOSTS` says — and `SSRF_ALLOWED_HOSTS` entries may name one port of a host.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::respond::{alert_with_account, finished_run};

const OWN_LISTENER: &str = "is this Calseta server's own listener";

/// A loopback server that answers `GET /ping` with 200.
async fn pinged() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ping"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"pong": true})))
        .mount(&server)
        .await;
    server
}

/// Runs a workflow that GETs each of `urls` through `ctx.http` and returns, per URL, the status
/// code or the error's text; returns the finished run.
async fn probe(app: &TestApp, urls: &[String]) -> Value {
    alert_with_account(app, "probe@example.com").await;
    let code = format!(
        r#"from app.workflows.context import WorkflowContext, WorkflowResult

URLS = {urls}

async def run(ctx: WorkflowContext) -> WorkflowResult:
    results = {{}}
    for url in URLS:
        try:
            response = await ctx.http.get(url, timeout=10)
            results[url] = response.status_code
        except Exception as exc:
            results[url] = str(exc)
    return WorkflowResult.ok("probed", data=results)
"#,
        urls = serde_json::to_string(urls).unwrap()
    );
    let (status, created) = app
        .post(
            "/v1/workflows",
            &app.admin_key,
            json!({"name": "Probe", "code": code, "state": "active", "approval_mode": "never"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let uuid = created["data"]["uuid"].as_str().unwrap().to_string();
    let (status, queued) = app
        .post(
            &format!("/v1/workflows/{uuid}/execute"),
            &app.admin_key,
            json!({"indicator_type": "account", "indicator_value": "probe@example.com"}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let run = finished_run(app, &uuid).await;
    assert_eq!(run["status"], "success", "{run}");
    run
}

/// The port of `http://host:port`.
fn port_of(base: &str) -> u16 {
    reqwest::Url::parse(base).unwrap().port().unwrap()
}

#[tokio::test]
async fn workflow_http_never_reaches_the_api_itself_even_with_loopback_allowed() {
    let other = pinged().await;
    let app = spawn_app_reaching_loopback().await;
    let own = app.url("/health");
    let keys = app.url("/v1/api-keys");
    let elsewhere = format!("{}/ping", other.uri());
    let run = probe(&app, &[own.clone(), keys.clone(), elsewhere.clone()]).await;
    let data = &run["result"]["data"];
    assert_eq!(data[&elsewhere], 200, "another loopback server is reachable: {run}");
    let api = format!("127.0.0.1:{}", port_of(&app.base));
    for url in [&own, &keys] {
        let error = data[url.as_str()].as_str().unwrap_or_default();
        assert_eq!(error, format!("SSRF blocked: {api} {OWN_LISTENER}"), "{url}: {run}");
    }
    let log = run["log_output"].as_str().unwrap();
    assert!(log.contains(&format!("HTTP GET {own} refused: SSRF blocked")), "{log}");
    assert!(log.contains(&format!("HTTP GET {elsewhere} -> 200")), "{log}");
    assert_eq!(other.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn workflow_http_never_reaches_the_api_by_name_either() {
    let other = pinged().await;
    let app = spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "localhost".into())],
        ..AppOptions::default()
    })
    .await;
    let own = format!("http://localhost:{}/health", port_of(&app.base));
    let elsewhere = format!("http://localhost:{}/ping", port_of(&other.uri()));
    let run = probe(&app, &[own.clone(), elsewhere.clone()]).await;
    let data = &run["result"]["data"];
    assert_eq!(data[&elsewhere], 200, "another server on localhost is reachable: {run}");
    let error = data[&own].as_str().unwrap_or_default();
    assert!(error.starts_with("SSRF blocked: localhost resolves to "), "{run}");
    assert!(error.ends_with(OWN_LISTENER), "{run}");
    assert_eq!(other.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn agents_cannot_point_at_the_api_or_its_mcp_listener() {
    let hook = MockServer::start().await;
    let app = spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1,localhost".into()), ("MCP_PORT", "0".into())],
        ..AppOptions::default()
    })
    .await;
    let mcp = app.mcp_base.clone().expect("an MCP listener");
    for endpoint in
        [app.url("/v1/alerts"), format!("{mcp}/mcp"), format!("http://localhost:{}/hook", port_of(&app.base))]
    {
        let (status, body) =
            app.post("/v1/agents", &app.admin_key, json!({"name": "loop", "endpoint_url": endpoint})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("INVALID_ENDPOINT_URL")),
            "{endpoint}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("endpoint_url blocked by SSRF protection: SSRF blocked:"), "{message}");
        assert!(message.ends_with(OWN_LISTENER), "{message}");
    }
    // Another loopback server, allowed, registers.
    let (status, body) = app
        .post(
            "/v1/agents",
            &app.admin_key,
            json!({"name": "hook", "endpoint_url": format!("{}/hook", hook.uri())}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn an_allowed_host_and_port_allows_that_port_only() {
    let allowed = pinged().await;
    let other = pinged().await;
    // The allowed server sends its visitors on to the other port.
    Mock::given(method("GET"))
        .and(path("/hop"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", format!("{}/ping", other.uri())))
        .mount(&allowed)
        .await;
    let allowed_port = port_of(&allowed.uri());
    let app = spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", format!("127.0.0.1:{allowed_port}"))],
        ..AppOptions::default()
    })
    .await;
    let reachable = format!("{}/ping", allowed.uri());
    let refused = format!("{}/ping", other.uri());
    let redirected = format!("{}/hop", allowed.uri());
    let run = probe(&app, &[reachable.clone(), refused.clone(), redirected.clone()]).await;
    let data = &run["result"]["data"];
    assert_eq!(data[&reachable], 200, "{run}");
    assert_eq!(
        data[&refused].as_str().unwrap_or_default(),
        "SSRF blocked: 127.0.0.1 is a private, loopback or CGNAT address",
        "{run}"
    );
    let hop = data[&redirected].as_str().unwrap_or_default();
    assert!(hop.contains("SSRF blocked: 127.0.0.1 is a private, loopback or CGNAT address"), "{run}");
    assert!(other.received_requests().await.unwrap().is_empty(), "the other port was never reached");

    // Agents follow the same entry.
    let (status, body) =
        app.post("/v1/agents", &app.admin_key, json!({"name": "other", "endpoint_url": refused})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("INVALID_ENDPOINT_URL")), "{body}");
    let (status, body) =
        app.post("/v1/agents", &app.admin_key, json!({"name": "allowed", "endpoint_url": reachable})).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn workflow_http_never_reaches_the_database_port() {
    // SQLite has no port: this is PostgreSQL's case.
    if pg_admin_url().is_none() {
        return;
    }
    let app = spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1,localhost".into())],
        ..AppOptions::default()
    })
    .await;
    let database = reqwest::Url::parse(&app.database.url).unwrap();
    let port = database.port().unwrap_or(5432);
    let by_address = format!("http://127.0.0.1:{port}/");
    let by_name = format!("http://localhost:{port}/");
    let run = probe(&app, &[by_address.clone(), by_name.clone()]).await;
    let data = &run["result"]["data"];
    assert_eq!(
        data[&by_address].as_str().unwrap_or_default(),
        format!("SSRF blocked: 127.0.0.1:{port} is the database's port"),
        "{run}"
    );
    let error = data[&by_name].as_str().unwrap_or_default();
    assert!(error.ends_with(&format!(":{port} is the database's port")), "{run}");
}

#[tokio::test]
async fn a_providers_private_network_allowance_can_be_narrowed_to_hosts_and_ports() {
    let intel = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({"score": 5})))
        .mount(&intel)
        .await;
    let port = intel.address().port();
    let app = spawn_app().await;
    let provider = |name: &str, hosts: serde_json::Value| {
        serde_json::json!({
            "provider_name": name, "display_name": name, "supported_indicator_types": ["ip"],
            "http_config": {"steps": [{"name": "lookup", "url": format!("{}/ip/{{{{indicator.value}}}}", intel.uri())}]},
            "allow_private_network": true, "private_network_hosts": hosts,
        })
    };
    let test = |uuid: String| {
        let app = &app;
        async move {
            let (status, body) = app
                .post(
                    &format!("/v1/enrichment-providers/{uuid}/test"),
                    &app.admin_key,
                    serde_json::json!({"indicator_type": "ip", "indicator_value": "93.184.216.34"}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            body.to_string()
        }
    };
    // Narrowed to the intel service's host and port: it is reached.
    let (status, on_port) = app
        .post(
            "/v1/enrichment-providers",
            &app.admin_key,
            provider("on_port", serde_json::json!([format!("127.0.0.1:{port}")])),
        )
        .await;
    assert_eq!(status, 201, "{on_port}");
    assert_eq!(on_port["data"]["private_network_hosts"], serde_json::json!([format!("127.0.0.1:{port}")]));
    let answered = test(on_port["data"]["uuid"].as_str().unwrap().to_string()).await;
    assert!(!answered.contains("SSRF blocked") && answered.contains("200"), "{answered}");
    // Narrowed to another port of the same host: refused before anything is sent.
    let (_, other) = app
        .post(
            "/v1/enrichment-providers",
            &app.admin_key,
            provider("other_port", serde_json::json!(["127.0.0.1:1"])),
        )
        .await;
    let refused = test(other["data"]["uuid"].as_str().unwrap().to_string()).await;
    assert!(refused.contains("SSRF blocked"), "{refused}");
    assert_eq!(intel.received_requests().await.unwrap().len(), 1, "only the allowed provider reached it");
    // Entries are hosts or host:port, located when they are not.
    let (status, body) = app
        .post(
            "/v1/enrichment-providers",
            &app.admin_key,
            provider("bad", serde_json::json!(["ok.internal", "x:99999"])),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("VALIDATION_ERROR")), "{body}");
    assert_eq!(
        body["error"]["details"]["errors"][0]["loc"],
        serde_json::json!(["body", "private_network_hosts", "1"])
    );
    // A patch narrows an existing provider too.
    let uuid = on_port["data"]["uuid"].as_str().unwrap().to_string();
    let (status, _) = app
        .patch(
            &format!("/v1/enrichment-providers/{uuid}"),
            &app.admin_key,
            serde_json::json!({"private_network_hosts": ["127.0.0.1:2"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(test(uuid).await.contains("SSRF blocked"));
}
