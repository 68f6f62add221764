//! Enrichment against real HTTP servers on loopback: the builtin providers with their documented
//! response shapes, custom providers added through the API, failure isolation, timeouts, 429
//! deferral, rate limits, the shared cache, masking in the test endpoint, and mock mode.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::ingest::{ingest_and_wait, wait_enriched};

async fn provider_uuid(app: &TestApp, name: &str) -> String {
    let (_, list) = app.get("/v1/enrichment-providers?page_size=100", &app.admin_key).await;
    list["data"].as_array().unwrap().iter().find(|p| p["provider_name"] == name).unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn set_credentials(app: &TestApp, name: &str, credentials: Value) {
    let uuid = provider_uuid(app, name).await;
    let (status, body) = app
        .patch(
            &format!("/v1/enrichment-providers/{uuid}"),
            &app.admin_key,
            json!({"auth_config": credentials}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["has_credentials"], true);
    assert!(body["data"].get("auth_config").is_none(), "credentials are never returned");
}

fn loopback_env(server: &MockServer, extra: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    let mut env = vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1,localhost".to_string())];
    for name in ["VIRUSTOTAL", "ABUSEIPDB", "OKTA", "ENTRA"] {
        let var: &'static str = Box::leak(format!("CALSETA_PROVIDER_BASE_URL_{name}").into_boxed_str());
        env.push((var, server.uri()));
    }
    env.extend(extra);
    env
}

fn indicator<'a>(detail: &'a Value, value: &str) -> &'a Value {
    detail["data"]["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["value"] == value)
        .unwrap_or_else(|| panic!("no {value}"))
}

async fn indicator_detail(app: &TestApp, detail: &Value, value: &str) -> Value {
    let uuid = indicator(detail, value)["uuid"].as_str().unwrap().to_string();
    app.get(&format!("/v1/indicators/{uuid}"), &app.admin_key).await.1["data"].clone()
}

const TOR_IP: &str = "185.220.101.47";
const HASH: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";

#[tokio::test]
async fn builtin_providers_against_their_documented_shapes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v3/ip_addresses/{TOR_IP}")))
        .and(header("x-apikey", "vt-test-key-123456"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"attributes": {
            "last_analysis_stats": {"malicious": 14, "suspicious": 2, "harmless": 60},
            "reputation": -42, "country": "DE", "as_owner": "Zwiebelfreunde e.V.", "asn": 205100, "tags": ["tor"]}}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v3/files/{HASH}")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {"code": "NotFoundError"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/check"))
        .and(query_param("ipAddress", TOR_IP))
        .and(header("Key", "abuse-key-0000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"abuseConfidenceScore": 97, "totalReports": 1842, "isTor": true, "isp": "Tor Project", "countryCode": "DE"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/nick.hathaway%40calseta.com"))
        .and(header("Authorization", "SSWS okta-token-abcdef"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "00uNICK", "status": "ACTIVE", "profile": {"login": "nick.hathaway@calseta.com", "firstName": "Nick", "department": "Sales"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/00uNICK/groups"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/00uNICK/linkedObjects/manager"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"name": "manager"}])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("client_secret=entra-secret-xyz"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "graph-token", "expires_in": 3599})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/nick.hathaway%40calseta.com"))
        .and(header("Authorization", "Bearer graph-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "aad-1", "userPrincipalName": "nick.hathaway@calseta.com", "displayName": "Nick Hathaway", "accountEnabled": true})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/aad-1/memberOf"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/aad-1/manager"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;

    let app =
        spawn_app_with(AppOptions { env: loopback_env(&server, vec![]), ..AppOptions::default() }).await;
    set_credentials(&app, "virustotal", json!({"api_key": "vt-test-key-123456"})).await;
    set_credentials(&app, "abuseipdb", json!({"api_key": "abuse-key-0000"})).await;
    set_credentials(&app, "okta", json!({"domain": "calseta.okta.com", "api_token": "okta-token-abcdef"}))
        .await;
    set_credentials(
        &app,
        "entra",
        json!({"tenant_id": "tenant-1", "client_id": "cid", "client_secret": "entra-secret-xyz"}),
    )
    .await;
    let (_, health) = app.get("/health", "").await;
    assert_eq!(health["enrichment_providers"]["virustotal"], "configured");
    assert_eq!(health["enrichment_providers"]["internal_ip_intel"], "unconfigured");

    let body = json!({"title": "Impossible travel", "src_ip": TOR_IP, "user": "nick.hathaway@calseta.com", "sha256": HASH, "ip": "10.1.2.3"}).to_string();
    let detail = ingest_and_wait(&app, "generic", &body).await;
    assert_eq!(detail["data"]["enrichment_status"], "Enriched");
    assert_eq!(detail["data"]["malice"], "Malicious");

    let ip = indicator_detail(&app, &detail, TOR_IP).await;
    assert_eq!(ip["malice"], "Malicious");
    let vt = &ip["enrichment_results"]["virustotal"];
    assert_eq!((vt["status"].as_str(), vt["success"].as_bool()), (Some("success"), Some(true)));
    assert_eq!(vt["extracted"]["malicious_count"], 14);
    assert_eq!(vt["extracted"]["as_owner"], "Zwiebelfreunde e.V.");
    assert_eq!(vt["extracted"]["malice"], "Malicious");
    assert!(vt["raw"]["data"]["attributes"].is_object(), "indicator detail keeps raw responses");
    assert_eq!(ip["enrichment_results"]["abuseipdb"]["extracted"]["abuse_confidence_score"], 97);
    assert_eq!(ip["enrichment_results"]["abuseipdb"]["extracted"]["is_tor"], true);
    assert!(
        detail["data"]["indicators"].as_array().unwrap().iter().all(|i| i["enrichment_results"]
            .as_object()
            .is_none_or(|m| m.values().all(|r| r.get("raw").is_none()))),
        "alert detail strips raw"
    );

    let hash = indicator_detail(&app, &detail, HASH).await;
    assert_eq!(
        hash["enrichment_results"]["virustotal"]["extracted"],
        json!({"found": false, "malice": "Pending"})
    );

    let account = indicator_detail(&app, &detail, "nick.hathaway@calseta.com").await;
    let okta = &account["enrichment_results"]["okta"];
    assert_eq!(
        (
            okta["success"].as_bool(),
            okta["extracted"]["user_id"].as_str(),
            okta["extracted"]["department"].as_str()
        ),
        (Some(true), Some("00uNICK"), Some("Sales"))
    );
    assert!(okta["raw"].get("user_groups").is_none(), "a failed optional step is skipped");
    let entra = &account["enrichment_results"]["entra"];
    assert_eq!(
        (entra["success"].as_bool(), entra["extracted"]["display_name"].as_str()),
        (Some(true), Some("Nick Hathaway")),
        "{entra}"
    );
    assert_eq!(entra["extracted"]["account_enabled"], true);

    let private = indicator_detail(&app, &detail, "10.1.2.3").await;
    assert_eq!(private["enrichment_results"]["_validation"]["status"], "skipped");
    assert_eq!(
        private["enrichment_results"]["_validation"]["error_message"],
        "Enrichment skipped: non-routable IP address (10.1.2.3)"
    );

    // The same IP again: served from the cache, no second call (the mock expects exactly one).
    let again =
        ingest_and_wait(&app, "generic", &json!({"title": "Second sighting", "src_ip": TOR_IP}).to_string())
            .await;
    let ip = indicator_detail(&app, &again, TOR_IP).await;
    assert_eq!(ip["enrichment_results"]["virustotal"]["cache_hit"], true);
    server.verify().await;

    // The live test shows every step with credentials masked.
    let vt_uuid = provider_uuid(&app, "virustotal").await;
    let (status, test) = app
        .post(
            &format!("/v1/enrichment-providers/{vt_uuid}/test"),
            &app.admin_key,
            json!({"indicator_type": "hash_sha256", "indicator_value": HASH}),
        )
        .await;
    assert_eq!(status, 200, "{test}");
    let step = &test["data"]["steps"][0];
    assert_eq!(step["request_headers"]["x-apikey"], "vt-t****3456");
    assert_eq!(step["response_status_code"], 404);
    assert!(!test.to_string().contains("vt-test-key-123456"));
}

async fn custom_provider(
    app: &TestApp,
    name: &str,
    base: &str,
    route: &str,
    timeout: f64,
    extra: Value,
) -> String {
    let mut body = json!({
        "provider_name": name,
        "display_name": name,
        "supported_indicator_types": ["ip"],
        "http_config": {"steps": [{"name": "lookup", "url": format!("{base}/{route}/{{{{indicator.value}}}}"), "timeout_seconds": timeout}]},
        "malice_rules": {"rules": [{"field": "score", "operator": ">=", "value": 80, "verdict": "Malicious"}], "default_verdict": "Benign"},
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, created) = app.post("/v1/enrichment-providers", &app.admin_key, body).await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = app
        .post("/v1/enrichment-field-extractions", &app.admin_key, json!({"provider_name": name, "indicator_type": "ip", "source_path": "score", "target_key": "score", "value_type": "int"}))
        .await;
    assert_eq!(status, 201);
    created["data"]["uuid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn one_providers_failure_never_affects_another() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(path_regex("^/fast/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"score": 91})))
        .mount(&server)
        .await;
    Mock::given(path_regex("^/slow/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"score": 10})).set_delay(Duration::from_secs(4)),
        )
        .mount(&server)
        .await;
    Mock::given(path_regex("^/hang/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount(&server)
        .await;
    Mock::given(path_regex("^/broken/")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    Mock::given(path_regex("^/garbage/"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>not json</html>"))
        .mount(&server)
        .await;
    Mock::given(path_regex("^/huge/"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(6 * 1024 * 1024)))
        .mount(&server)
        .await;
    let app = spawn_app_reaching_loopback().await;
    custom_provider(&app, "fast_intel", &base, "fast", 10.0, json!({})).await;
    custom_provider(&app, "slow_intel", &base, "slow", 10.0, json!({})).await;
    custom_provider(&app, "hanging_intel", &base, "hang", 1.0, json!({})).await;
    custom_provider(&app, "broken_intel", &base, "broken", 10.0, json!({})).await;
    custom_provider(&app, "garbage_intel", &base, "garbage", 10.0, json!({})).await;
    custom_provider(&app, "huge_intel", &base, "huge", 10.0, json!({})).await;

    let (_, accepted) = app
        .post(
            "/v1/alerts",
            &app.admin_key,
            json!({"source_name": "generic", "payload": {"title": "isolation", "src_ip": "93.184.216.34"}}),
        )
        .await;
    let alert = accepted["data"]["alert_uuid"].as_str().unwrap().to_string();
    // The fast provider's verdict lands while the slow one is still answering.
    let results = eventually("the fast provider's result", Duration::from_secs(10), || async {
        let (_, detail) = app.get(&format!("/v1/alerts/{alert}"), &app.admin_key).await;
        let results = detail["data"]["indicators"].get(0)?["enrichment_results"].clone();
        results.get("fast_intel").is_some().then_some(results)
    })
    .await;
    assert!(results.get("slow_intel").is_none(), "the slow provider is still running: {results}");
    assert_eq!(results["fast_intel"]["extracted"], json!({"score": 91, "malice": "Malicious"}));

    let detail = wait_enriched(&app, &alert).await;
    let results = &indicator(&detail, "93.184.216.34")["enrichment_results"];
    assert_eq!(results["slow_intel"]["extracted"]["malice"], "Benign");
    assert_eq!(results["hanging_intel"]["success"], false);
    assert!(results["hanging_intel"]["error_message"].as_str().unwrap().contains("timed out"), "{results}");
    assert_eq!(results["broken_intel"]["error_message"], "Step 'lookup' returned HTTP 503");
    assert_eq!(results["garbage_intel"]["success"], true);
    assert!(results["huge_intel"]["error_message"].as_str().unwrap().contains("larger than 5 MB"));
    assert_eq!(indicator(&detail, "93.184.216.34")["malice"], "Malicious", "worst successful verdict");
    let meta_failed =
        app.get(&format!("/v1/alerts/{alert}"), &app.admin_key).await.1["meta"]["enrichment"]["failed"]
            .clone();
    assert_eq!(meta_failed, json!(["broken_intel", "hanging_intel", "huge_intel"]));
}

#[tokio::test]
async fn rate_limits_defer_lookups_instead_of_failing_them() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(path_regex("^/limited/"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path_regex("^/limited/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"score": 85})))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(path_regex("^/quota/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"score": 5})))
        .mount(&server)
        .await;
    let app = spawn_app_reaching_loopback().await;
    custom_provider(&app, "limited_intel", &base, "limited", 10.0, json!({})).await;

    // 429 with Retry-After: the run completes without it, a deferred job fetches it a second later.
    let detail =
        ingest_and_wait(&app, "generic", &json!({"title": "limited", "src_ip": "93.184.216.34"}).to_string())
            .await;
    let uuid = detail["data"]["uuid"].as_str().unwrap().to_string();
    let (_, activity) = app.get(&format!("/v1/alerts/{uuid}/activity"), &app.admin_key).await;
    let completed = activity["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "alert_enrichment_completed")
        .unwrap();
    assert!(
        completed["references"]["providers_skipped"].as_array().unwrap().iter().any(|p| p == "limited_intel")
    );
    eventually("the deferred lookup to land", Duration::from_secs(20), || async {
        let (_, detail) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
        (indicator(&detail, "93.184.216.34")["enrichment_results"]["limited_intel"]["success"] == true)
            .then_some(())
    })
    .await;

    // A provider allowed 1 call a minute: the second value waits in a scheduled job, the worker never blocks.
    custom_provider(&app, "quota_intel", &base, "quota", 10.0, json!({"rate_limit_per_minute": 1})).await;
    let detail = ingest_and_wait(
        &app,
        "generic",
        &json!({"title": "quota", "src_ip": "1.1.1.1", "dest_ip": "8.8.8.8"}).to_string(),
    )
    .await;
    let statuses: Vec<String> = ["1.1.1.1", "8.8.8.8"]
        .iter()
        .map(|v| {
            indicator(&detail, v)["enrichment_results"]["quota_intel"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(
        statuses.contains(&"success".to_string()) && statuses.contains(&"skipped".to_string()),
        "{statuses:?}"
    );
    let uuid = detail["data"]["uuid"].as_str().unwrap();
    let (_, fresh) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
    let skipped = fresh["meta"]["enrichment"]["skipped"].as_array().unwrap();
    assert!(skipped.iter().any(|p| p == "quota_intel"), "deferred providers are listed as skipped");
    let quota_calls = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().starts_with("/quota/"))
        .count();
    assert_eq!(quota_calls, 1);
    let (_, jobs) = app.get("/v1/jobs?status=queued", &app.admin_key).await;
    assert!(
        jobs["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["kind"] == "enrich_deferred" && j["payload"]["provider_name"] == "quota_intel"),
        "{jobs}"
    );
}

#[tokio::test]
async fn the_cache_is_shared_by_every_process() {
    let server = MockServer::start().await;
    Mock::given(path_regex("^/shared/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"score": 50})))
        .expect(1)
        .mount(&server)
        .await;
    let app = spawn_app_reaching_loopback().await;
    custom_provider(&app, "shared_intel", &server.uri(), "shared", 10.0, json!({})).await;
    let other = calseta::app::start(
        &config_from(&app.env),
        calseta::app::ServeOptions { bind: "127.0.0.1:0".into(), run_worker: false, extra_jobs: vec![] },
    )
    .await
    .unwrap();
    let other_url = format!("http://{}", other.addr);

    let (status, first) =
        app.post("/v1/enrichments", &app.admin_key, json!({"type": "ip", "value": "93.184.216.34"})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"]["results"]["shared_intel"]["cache_hit"], false);
    assert!(first["data"]["results"]["shared_intel"].get("raw").is_none());
    let resp = app
        .client
        .post(format!("{other_url}/v1/enrichments"))
        .bearer_auth(&app.admin_key)
        .json(&json!({"indicator_type": "ip", "indicator_value": "93.184.216.34"}))
        .send()
        .await
        .unwrap();
    let second: Value = resp.json().await.unwrap();
    assert_eq!(second["data"]["results"]["shared_intel"]["cache_hit"], true, "{second}");
    server.verify().await;

    let (_, skipped) =
        app.post("/v1/enrichments", &app.admin_key, json!({"type": "ip", "value": "192.168.1.10"})).await;
    assert_eq!(skipped["data"]["results"]["_validation"]["status"], "skipped");
    let (status, _) =
        app.post("/v1/enrichments", &app.admin_key, json!({"type": "ip", "value": "nope"})).await;
    assert_eq!(status, 422);
    other.shutdown().await;
}

#[tokio::test]
async fn providers_and_extractions_are_managed_as_data() {
    let app = spawn_app().await;
    let key = app.admin_key.clone();
    let (_, system) = app.get("/v1/enrichment-field-extractions?is_system=true&page_size=500", &key).await;
    assert_eq!(system["meta"]["total"], 91);
    let (_, builtins) = app.get("/v1/enrichment-providers?is_builtin=true", &key).await;
    assert_eq!(builtins["meta"]["total"], 7);
    let vt = provider_uuid(&app, "virustotal").await;
    assert_eq!(builtins["data"][0]["rate_limit_per_minute"], 4);

    let (status, body) = app
        .patch(&format!("/v1/enrichment-providers/{vt}"), &key, json!({"http_config": {"steps": []}}))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("BUILTIN_RESTRICTED")));
    let (status, _) = app.delete(&format!("/v1/enrichment-providers/{vt}"), &key).await;
    assert_eq!(status, 400);
    let (status, body) = app
        .patch(
            &format!("/v1/enrichment-providers/{vt}"),
            &key,
            json!({"rate_limit_per_minute": 500, "malice_rules": null}),
        )
        .await;
    assert_eq!((status, body["data"]["rate_limit_per_minute"].as_i64()), (200, Some(500)));

    for bad in [
        json!({"provider_name": "Bad Name", "display_name": "x", "supported_indicator_types": ["ip"], "http_config": {"steps": [{"url": "https://x.test/"}]}}),
        json!({"provider_name": "ok", "display_name": "x", "supported_indicator_types": ["cve"], "http_config": {"steps": [{"url": "https://x.test/"}]}}),
        json!({"provider_name": "ok", "display_name": "x", "supported_indicator_types": ["ip"], "http_config": {"steps": []}}),
        json!({"provider_name": "ok", "display_name": "x", "supported_indicator_types": ["ip"], "http_config": {"steps": [{"url": "https://x.test/", "method": "FETCH"}]}}),
        json!({"provider_name": "ok", "display_name": "x", "supported_indicator_types": ["ip"], "http_config": {"steps": [{"url": "https://x.test/"}]}, "malice_rules": {"rules": "nope"}}),
    ] {
        let (status, body) = app.post("/v1/enrichment-providers", &key, bad.clone()).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let good = json!({"provider_name": "greynoise", "display_name": "GreyNoise", "supported_indicator_types": ["ip"],
        "http_config": {"steps": [{"url": "https://api.greynoise.io/v3/community/{{indicator.value}}", "headers": {"key": "{{auth.api_key}}"}}]},
        "auth_type": "api_key", "auth_config": {"api_key": "gn-secret"}});
    let (status, body) = app.post("/v1/enrichment-providers", &key, good.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["data"]["has_credentials"].as_bool(), body["data"]["is_configured"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(!body.to_string().contains("gn-secret"));
    let gn = body["data"]["uuid"].as_str().unwrap().to_string();
    let (status, body) = app.post("/v1/enrichment-providers", &key, good).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("DUPLICATE_PROVIDER")));

    let (_, loaded) = app.get("/v1/enrichments/providers", &key).await;
    assert!(loaded["data"].as_array().unwrap().iter().any(|p| p["provider_name"] == "greynoise"));
    let (_, body) = app.post(&format!("/v1/enrichment-providers/{gn}/deactivate"), &key, json!({})).await;
    assert_eq!(body["data"]["is_active"], false);
    let (_, loaded) = app.get("/v1/enrichments/providers", &key).await;
    assert!(
        !loaded["data"].as_array().unwrap().iter().any(|p| p["provider_name"] == "greynoise"),
        "deactivation reaches the registry at once"
    );
    let (status, body) = app
        .post(
            &format!("/v1/enrichment-providers/{gn}/test"),
            &key,
            json!({"indicator_type": "ip", "indicator_value": "1.1.1.1"}),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("PROVIDER_NOT_LOADED")));
    app.post(&format!("/v1/enrichment-providers/{gn}/activate"), &key, json!({})).await;

    let rule = json!({"provider_name": "greynoise", "indicator_type": "ip", "source_path": "classification", "target_key": "classification"});
    let (status, body) = app.post("/v1/enrichment-field-extractions", &key, rule.clone()).await;
    assert_eq!((status, body["data"]["value_type"].as_str()), (201, Some("string")));
    let (status, body) = app.post("/v1/enrichment-field-extractions", &key, rule.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("DUPLICATE_EXTRACTION")));
    let (status, body) = app
        .post(
            "/v1/enrichment-field-extractions",
            &key,
            json!({"provider_name": "nobody", "indicator_type": "ip", "source_path": "a", "target_key": "a"}),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("PROVIDER_NOT_FOUND")));
    let bulk = json!({"extractions": [
        {"provider_name": "greynoise", "indicator_type": "ip", "source_path": "noise", "target_key": "noise", "value_type": "bool"},
        rule,
    ]});
    let (status, _) = app.post("/v1/enrichment-field-extractions/bulk", &key, bulk).await;
    assert_eq!(status, 409);
    let (_, mine) = app.get("/v1/enrichment-field-extractions?provider_name=greynoise", &key).await;
    assert_eq!(mine["meta"]["total"], 1, "bulk is all-or-nothing");

    let system_rule = system["data"][0]["uuid"].as_str().unwrap().to_string();
    let (status, body) = app
        .patch(&format!("/v1/enrichment-field-extractions/{system_rule}"), &key, json!({"source_path": "x"}))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("SYSTEM_EXTRACTION_RESTRICTED")));
    let (status, body) = app
        .patch(&format!("/v1/enrichment-field-extractions/{system_rule}"), &key, json!({"is_active": false}))
        .await;
    assert_eq!((status, body["data"]["is_active"].as_bool()), (200, Some(false)));
    let (status, _) = app.delete(&format!("/v1/enrichment-field-extractions/{system_rule}"), &key).await;
    assert_eq!(status, 403);

    let (status, _) = app.delete(&format!("/v1/enrichment-providers/{gn}"), &key).await;
    assert_eq!(status, 204);
    let (_, mine) = app.get("/v1/enrichment-field-extractions?provider_name=greynoise", &key).await;
    assert_eq!(mine["meta"]["total"], 0, "custom extractions go with their provider");
}

#[tokio::test]
async fn mock_mode_enriches_the_case_study_without_network() {
    let app = spawn_app_with(AppOptions {
        env: vec![("ENRICHMENT_MOCK_MODE", "true".into())],
        ..AppOptions::default()
    })
    .await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let tor = std::fs::read_to_string(root.join("sentinel/tor_password_spray.json")).unwrap();
    let detail = ingest_and_wait(&app, "sentinel", &tor).await;
    assert_eq!(detail["data"]["malice"], "Malicious");
    assert_eq!(indicator(&detail, "185.220.101.34")["malice"], "Malicious");
    let account = &indicator(&detail, "m.okafor@contoso.com")["enrichment_results"];
    for provider in ["okta", "entra", "hr_insider_risk", "asset_management"] {
        assert_eq!(account[provider]["success"], true, "{provider}");
    }
    assert_eq!(account["entra"]["extracted"]["display_name"], "Jorge Martinez");
    let malware = std::fs::read_to_string(root.join("elastic/flat_ecs_malware.json")).unwrap();
    let detail = ingest_and_wait(&app, "elastic", &malware).await;
    let hash = indicator(&detail, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(hash["malice"], "Malicious");
    assert_eq!(hash["enrichment_results"]["virustotal"]["extracted"]["tags"], json!(["emotet", "trojan"]));
    let (_, health) = app.get("/health", "").await;
    assert!(health["enrichment_providers"].as_object().unwrap().values().all(|v| v == "configured"));
}

#[tokio::test]
async fn the_alert_deadline_reports_without_late_providers_and_stores_them_later() {
    let server = MockServer::start().await;
    Mock::given(path_regex("^/quick/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"score": 99})))
        .mount(&server)
        .await;
    Mock::given(path_regex("^/late/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"score": 1})).set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()),
            ("ENRICHMENT_ALERT_DEADLINE_SECONDS", "1".into()),
        ],
        ..AppOptions::default()
    })
    .await;
    custom_provider(&app, "quick_intel", &server.uri(), "quick", 10.0, json!({})).await;
    custom_provider(&app, "late_intel", &server.uri(), "late", 10.0, json!({})).await;
    let detail = ingest_and_wait(
        &app,
        "generic",
        &json!({"title": "deadline", "src_ip": "93.184.216.34"}).to_string(),
    )
    .await;
    let results = &indicator(&detail, "93.184.216.34")["enrichment_results"];
    assert!(results.get("quick_intel").is_some() && results.get("late_intel").is_none(), "{results}");
    let uuid = detail["data"]["uuid"].as_str().unwrap().to_string();
    let (_, activity) = app.get(&format!("/v1/alerts/{uuid}/activity"), &app.admin_key).await;
    let completed = activity["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "alert_enrichment_completed")
        .unwrap();
    assert!(completed["references"]["providers_skipped"].as_array().unwrap().iter().any(|p| p == "deadline"));
    let late = eventually("the late result to be stored", Duration::from_secs(30), || async {
        let (_, detail) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
        indicator(&detail, "93.184.216.34")["enrichment_results"].get("late_intel").cloned()
    })
    .await;
    assert_eq!(late["success"], true, "{late}");
    // It came through the queue — an `enrich_deferred` job for the late provider — not from a
    // lookup left running on its own after the run ended.
    let (_, jobs) = app.get("/v1/jobs?page_size=100", &app.admin_key).await;
    let deferred: Vec<&Value> = jobs["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == "enrich_deferred" && j["payload"]["provider_name"] == "late_intel")
        .collect();
    assert_eq!(deferred.len(), 1, "{jobs}");
    assert_eq!(deferred[0]["payload"]["alert_uuid"], uuid.as_str());
}

#[tokio::test]
async fn an_analyst_verdict_survives_re_enrichment() {
    let app = spawn_app_with(AppOptions {
        env: vec![("ENRICHMENT_MOCK_MODE", "true".into())],
        ..AppOptions::default()
    })
    .await;
    let detail =
        ingest_and_wait(&app, "generic", &json!({"title": "sticky", "src_ip": TOR_IP}).to_string()).await;
    let ip = indicator(&detail, TOR_IP);
    assert_eq!(ip["malice"], "Malicious");
    let uuid = ip["uuid"].as_str().unwrap().to_string();
    let (_, body) =
        app.patch(&format!("/v1/indicators/{uuid}"), &app.admin_key, json!({"malice": "Benign"})).await;
    assert_eq!(body["data"]["malice"], "Benign");
    let alert = detail["data"]["uuid"].as_str().unwrap().to_string();
    let (status, _) = app.post(&format!("/v1/alerts/{alert}/enrich"), &app.admin_key, json!({})).await;
    assert_eq!(status, 202);
    // The re-run's completion event is the ordering point: after it, the verdict is still the analyst's.
    eventually("the second enrichment run", Duration::from_secs(15), || async {
        let (_, activity) = app.get(&format!("/v1/alerts/{alert}/activity"), &app.admin_key).await;
        let runs = activity["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event_type"] == "alert_enrichment_completed")
            .count();
        (runs == 2).then_some(())
    })
    .await;
    let (_, ip) = app.get(&format!("/v1/indicators/{uuid}"), &app.admin_key).await;
    assert_eq!(
        (ip["data"]["malice"].as_str(), ip["data"]["malice_source"].as_str()),
        (Some("Benign"), Some("analyst"))
    );
    let (_, body) =
        app.patch(&format!("/v1/indicators/{uuid}"), &app.admin_key, json!({"malice": null})).await;
    assert_eq!(body["data"]["malice"], "Malicious", "a reset recomputes from the stored provider verdicts");
}

#[tokio::test]
async fn mock_mode_shared_case_study_verdicts() {
    let Ok(dir) = std::env::var("CALSETA_FIXTURES_DIR") else { return };
    let app = spawn_app_with(AppOptions {
        env: vec![("ENRICHMENT_MOCK_MODE", "true".into())],
        ..AppOptions::default()
    })
    .await;
    let case = std::path::Path::new(&dir).join("calseta-case-study");
    let tor = ingest_and_wait(
        &app,
        "sentinel",
        &std::fs::read_to_string(case.join("01_sentinel_brute_force_tor.json")).unwrap(),
    )
    .await;
    assert_eq!(indicator(&tor, "185.220.101.34")["malice"], "Malicious");
    assert_eq!(tor["data"]["malice"], "Malicious");
    let emotet = ingest_and_wait(
        &app,
        "elastic",
        &std::fs::read_to_string(case.join("02_elastic_malware_hash.json")).unwrap(),
    )
    .await;
    let hashes: Vec<&Value> = emotet["data"]["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"].as_str().unwrap().starts_with("hash_"))
        .collect();
    assert!(!hashes.is_empty() && hashes.iter().all(|h| h["malice"] == "Malicious"));
    let travel = ingest_and_wait(
        &app,
        "sentinel",
        &std::fs::read_to_string(case.join("04_sentinel_impossible_travel.json")).unwrap(),
    )
    .await;
    let account = indicator(&travel, "r.chen@contoso.com");
    assert!(["okta", "entra"].iter().all(|p| account["enrichment_results"][p]["success"] == true));
    for file in ["03_splunk_anomalous_data_transfer.json", "05_elastic_suspicious_powershell.json"] {
        let source = if file.contains("splunk") { "splunk" } else { "elastic" };
        let detail = ingest_and_wait(&app, source, &std::fs::read_to_string(case.join(file)).unwrap()).await;
        assert_eq!(detail["data"]["enrichment_status"], "Enriched", "{file}");
    }
}

#[tokio::test]
async fn error_text_never_carries_a_credential_from_a_url() {
    let app = spawn_app_reaching_loopback().await;
    // Nothing listens on port 1: every call fails with a connection error.
    let url = "http://127.0.0.1:1/lookup/{{indicator.value}}?api_key={{auth.api_key}}";
    custom_provider(
        &app,
        "keyed_intel",
        "http://127.0.0.1:1",
        "unused",
        5.0,
        json!({"http_config": {"steps": [{"name": "lookup", "url": url}]}, "auth_type": "api_key",
               "auth_config": {"api_key": "sekrit-query-value-42"}}),
    )
    .await;
    let (status, agent) = app
        .post(
            "/v1/agents",
            &app.admin_key,
            json!({"name": "closed", "endpoint_url": "http://hookuser:hookpass-99@127.0.0.1:1/hook", "retry_count": 0}),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    let detail =
        ingest_and_wait(&app, "generic", &json!({"title": "keyed", "src_ip": "93.184.216.34"}).to_string())
            .await;
    let result = &indicator(&detail, "93.184.216.34")["enrichment_results"]["keyed_intel"];
    let error = result["error_message"].as_str().unwrap_or_else(|| panic!("no error recorded: {result}"));
    assert!(!error.contains("sekrit") && !error.contains("api_key="), "{error}");

    let agent_uuid = agent["data"]["uuid"].as_str().unwrap();
    let runs = eventually("the failed delivery", Duration::from_secs(30), || async {
        let (_, runs) = app.get(&format!("/v1/agents/{agent_uuid}/runs"), &app.admin_key).await;
        (runs["data"].as_array().map(Vec::len) == Some(1)).then_some(runs)
    })
    .await;
    let error = runs["data"][0]["error_message"].as_str().unwrap().to_string();
    assert!(error.starts_with("Connection error") && !error.contains("hookpass"), "{error}");
    assert!(!runs.to_string().contains("hookpass"), "the run as served keeps no credential: {runs}");
    let uuid = detail["data"]["uuid"].as_str().unwrap();
    let (_, activity) = app.get(&format!("/v1/alerts/{uuid}/activity"), &app.admin_key).await;
    assert!(
        !activity.to_string().contains("hookpass") && !activity.to_string().contains("sekrit"),
        "{activity}"
    );
}

#[tokio::test]
async fn a_token_obtained_by_a_step_is_never_kept() {
    const TOKEN: &str = "tok-obtained-abcdef123456";
    const SESSION: &str = "session-in-the-query-778899";
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": TOKEN, "session_id": SESSION, "expires_in": 3600})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/lookup/"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(query_param("session", SESSION))
        // The API echoes the token back, as some do: it must not be kept from there either.
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"score": 10, "session": {"bearer": TOKEN}})),
        )
        .mount(&server)
        .await;
    let app = spawn_app_reaching_loopback().await;
    let base = server.uri();
    let steps = json!({"steps": [
        {"name": "token", "method": "POST", "url": format!("{base}/token"), "form_body": {"client_secret": "{{auth.client_secret}}"}},
        {"name": "lookup", "method": "POST",
         "url": format!("{base}/lookup/{{{{indicator.value}}}}?session={{{{steps.token.response.session_id}}}}"),
         "headers": {"Authorization": "Bearer {{steps.token.response.access_token}}"},
         "json_body": {"client_secret": "{{auth.client_secret}}"}},
    ]});
    let provider = custom_provider(
        &app,
        "oauth_intel",
        &base,
        "unused",
        5.0,
        json!({"http_config": steps, "auth_type": "oauth2_client_credentials",
               "auth_config": {"client_secret": "client-secret-987654"}}),
    )
    .await;
    let detail =
        ingest_and_wait(&app, "generic", &json!({"title": "oauth", "src_ip": "93.184.216.34"}).to_string())
            .await;
    let ip = indicator_detail(&app, &detail, "93.184.216.34").await;
    let result = &ip["enrichment_results"]["oauth_intel"];
    assert_eq!(result["success"], true, "{result}");
    assert_eq!(result["raw"]["lookup"]["score"], 10, "the lookup itself worked: {result}");
    assert_eq!(result["raw"]["lookup"]["session"]["bearer"], "[REDACTED]", "{result}");
    assert!(!ip.to_string().contains(TOKEN) && !ip.to_string().contains(SESSION), "stored result: {ip}");

    // A second alert is answered from the shared cache: the cache row holds no token either.
    let again =
        ingest_and_wait(&app, "generic", &json!({"title": "oauth 2", "src_ip": "93.184.216.34"}).to_string())
            .await;
    let cached = indicator_detail(&app, &again, "93.184.216.34").await;
    assert_eq!(cached["enrichment_results"]["oauth_intel"]["cache_hit"], true, "{cached}");
    assert!(!cached.to_string().contains(TOKEN), "cached result: {cached}");

    // The live test shows every step, the token masked.
    let (status, tested) = app
        .post(
            &format!("/v1/enrichment-providers/{provider}/test"),
            &app.admin_key,
            json!({"indicator_type": "ip", "indicator_value": "93.184.216.34"}),
        )
        .await;
    assert_eq!(status, 200, "{tested}");
    let text = tested.to_string();
    assert!(!text.contains(TOKEN) && !text.contains("client-secret-987654"), "test output: {tested}");
    assert!(!text.contains(SESSION), "a value sent in a later step's URL query is masked: {tested}");
    assert!(text.contains("tok-****3456"), "the token appears masked: {tested}");
}

#[tokio::test]
async fn expired_cache_rows_are_purged_by_the_maintenance_job() {
    let app = spawn_app_with(AppOptions { run_worker: false, ..AppOptions::default() }).await;
    let result = json!({"success": true, "extracted": {"malice": "Benign"}});
    let cache = |value: &'static str, ttl: u64| {
        let (db, result) = (app.db.clone(), result.clone());
        async move {
            calseta_store::enrichment_cache::put(&db, "intel", "ip", value, &result, Duration::from_secs(ttl))
                .await
                .unwrap()
        }
    };
    cache("198.51.100.7", 0).await;
    cache("198.51.100.8", 3600).await;
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM enrichment_cache").await, 2);
    // A worker schedules the purge when it starts (then hourly).
    let worker = start_worker_with(&app, &[]).await;
    eventually("the expired row to be purged", Duration::from_secs(30), || async {
        (query_i64(&app, "SELECT COUNT(*) FROM enrichment_cache").await == 1).then_some(())
    })
    .await;
    worker.shutdown().await;
}

/// A server whose one provider, `slow_intel`, answers `{"score": score}` after `delay`, and its
/// provider server.
async fn with_slow_provider(score: u32, delay: Duration) -> (MockServer, TestApp) {
    let server = MockServer::start().await;
    Mock::given(path_regex("^/slow/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"score": score})).set_delay(delay))
        .mount(&server)
        .await;
    let app = spawn_app_reaching_loopback().await;
    custom_provider(&app, "slow_intel", &server.uri(), "slow", 10.0, json!({})).await;
    (server, app)
}

/// Posts a generic alert titled `title` from `src_ip`; its uuid.
async fn post_generic_alert(app: &TestApp, title: &str, src_ip: &str) -> String {
    let (status, accepted) = app
        .post(
            "/v1/alerts",
            &app.admin_key,
            json!({"source_name": "generic", "payload": {"title": title, "src_ip": src_ip}}),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    accepted["data"]["alert_uuid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn results_held_for_a_completion_that_never_comes_are_still_stored() {
    let (server, app) = with_slow_provider(95, Duration::from_millis(1500)).await;
    let alert = post_generic_alert(&app, "deleted mid-run", "93.184.216.77").await;
    // The run has asked the provider and is waiting for its answer: the alert is deleted. (Not
    // as soon as the indicator is linked: a deletion before the run reads its links back leaves
    // it nothing to look up, which a loaded machine made happen.)
    eventually("the provider to be asked", Duration::from_secs(30), || async {
        let requests = server.received_requests().await.unwrap_or_default();
        requests.iter().any(|r| r.url.path().starts_with("/slow/")).then_some(())
    })
    .await;
    let (status, _) = app.delete(&format!("/v1/alerts/{alert}"), &app.admin_key).await;
    assert_eq!(status, 204);
    // The run cannot complete an alert that is gone; the answer it held still lands on the
    // indicator, which other alerts share.
    let results = eventually("the held result to be stored", Duration::from_secs(30), || async {
        let row = calseta_store::indicators::find(&app.db, "ip", "93.184.216.77").await.unwrap()?;
        let results = row.enrichment_results?.0;
        results.get("slow_intel").is_some().then_some(results)
    })
    .await;
    assert_eq!(results["slow_intel"]["extracted"]["malice"], "Malicious", "{results}");
}

#[tokio::test]
async fn a_slow_run_shows_its_indicators_before_any_provider_answers() {
    let (_server, app) = with_slow_provider(5, Duration::from_secs(4)).await;
    let alert = post_generic_alert(&app, "slow run", "93.184.216.91").await;
    // The run's first write does not wait for its lookups: the indicator is listed, not yet
    // enriched, while the only provider is still answering.
    let detail =
        eventually("the indicator listed while the run goes on", Duration::from_secs(10), || async {
            let (_, detail) = app.get(&format!("/v1/alerts/{alert}"), &app.admin_key).await;
            let listed = detail["data"]["indicators"].as_array().is_some_and(|i| !i.is_empty());
            (listed && detail["data"]["enrichment_status"] == "Pending").then_some(detail)
        })
        .await;
    assert_eq!(detail["data"]["indicators"][0]["value"], "93.184.216.91");
    assert_eq!(detail["data"]["indicators"][0]["malice"], "Pending");
    let detail = wait_enriched(&app, &alert).await;
    assert_eq!(
        indicator(&detail, "93.184.216.91")["enrichment_results"]["slow_intel"]["success"],
        true,
        "{detail}"
    );
}

#[tokio::test]
async fn a_run_whose_completion_fails_still_links_its_indicators() {
    let app = spawn_app_with(AppOptions {
        env: vec![("ENRICHMENT_MOCK_MODE", "true".into())],
        ..AppOptions::default()
    })
    .await;
    // The database refuses to mark any alert enriched: every completion fails.
    refuse_rows(&app, "refuse_enriched", "alerts", "UPDATE", "NEW.enrichment_status = 'Enriched'").await;
    let uuid: uuid::Uuid = post_generic_alert(&app, "refused", "93.184.216.92").await.parse().unwrap();
    let alert = calseta_store::alerts::get(&app.db, uuid).await.unwrap().unwrap();
    // The run's only write would have been its completion: its indicators are linked anyway.
    let linked = eventually("the indicator linked", Duration::from_secs(20), || async {
        let linked = calseta_store::indicators::for_alert(&app.db, alert.id).await.unwrap();
        (!linked.is_empty()).then_some(linked)
    })
    .await;
    assert_eq!(linked[0].value, "93.184.216.92");
    eventually("the completion's failure recorded", Duration::from_secs(20), || async {
        let error =
            query_text(&app, "SELECT COALESCE(MAX(last_error), '') FROM jobs WHERE kind = 'enrich_alert'")
                .await;
        error.contains("refused by the test").then_some(())
    })
    .await;
    let alert = calseta_store::alerts::get(&app.db, uuid).await.unwrap().unwrap();
    assert_eq!(alert.enrichment_status, calseta_core::alerts::EnrichmentStatus::Pending);
}
