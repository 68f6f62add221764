//! Walks the route table (the OpenAPI document is generated from it) and proves every `/v1` route
//! requires a key holding its scope: none → 401, every other scope → 403, its own scope → neither.
//! `alerts:write` also opens the ingest routes (`alerts:ingest`). The only routes without a key are
//! the approvers' own (the decide page, authorised by its link's token, and the chat callbacks,
//! by Slack's signature); they are listed here by name, so no other route can lose its key.

use serde_json::{Value, json};

use crate::helpers::*;

/// Routes that declare no key (`security: [{}]`), each authorised otherwise.
const PUBLIC_ROUTES: [&str; 4] = [
    "get /v1/approvals/{uuid}/decide",
    "post /v1/approvals/{uuid}/decide",
    "post /v1/approvals/callback/slack",
    "post /v1/approvals/callback/teams",
];

/// Routes any valid key may call (`security: [{"api_key": []}]`): they concern the caller's key.
const ANY_KEY_ROUTES: [&str; 1] = ["get /v1/api-keys/current"];

const ALL_SCOPES: [&str; 11] = [
    "alerts:ingest",
    "alerts:read",
    "alerts:write",
    "enrichments:read",
    "workflows:read",
    "workflows:write",
    "workflows:execute",
    "approvals:write",
    "agents:read",
    "agents:write",
    "admin",
];

#[tokio::test]
async fn every_v1_route_requires_its_scope() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    let doc: Value = resp.json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();

    let mut keys_by_scope = std::collections::HashMap::new();
    let mut keys_without_scope = std::collections::HashMap::new();
    for scope in ALL_SCOPES {
        keys_by_scope.insert(scope, app.key_with(&[scope]).await);
        // Every scope but this one, `admin`, and what implies it (`alerts:write` allows ingest).
        let implies = |other: &str| other == "admin" || (scope == "alerts:ingest" && other == "alerts:write");
        let others: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| *s != scope && !implies(s)).collect();
        keys_without_scope.insert(scope, app.key_with(&others).await);
    }

    let mut checked = 0;
    let mut public = 0;
    let mut any_key = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if !path.starts_with("/v1") {
                continue;
            }
            let security =
                op["security"].as_array().unwrap_or_else(|| panic!("{method} {path} declares no security"));
            if security == &vec![json!({})] {
                assert!(
                    PUBLIC_ROUTES.contains(&format!("{method} {path}").as_str()),
                    "{method} {path} needs no key"
                );
                public += 1;
                continue;
            }
            let scopes: Vec<&str> = security
                .iter()
                .flat_map(|req| req["api_key"].as_array().unwrap().iter().filter_map(Value::as_str))
                .collect();
            if scopes.is_empty() {
                let route = format!("{method} {path}");
                assert!(ANY_KEY_ROUTES.contains(&route.as_str()), "{route} takes any key");
                assert_eq!(method, "get", "{route}: only reads about the caller take any key");
                let (status, _) = status_json(app.client.get(app.url(path)).send().await.unwrap()).await;
                assert_eq!(status, 401, "{route} without a key");
                for scope in ALL_SCOPES {
                    let request = app.client.get(app.url(path)).bearer_auth(&keys_by_scope[scope]);
                    let (status, body) = status_json(request.send().await.unwrap()).await;
                    assert_eq!(status, 200, "{route} with only {scope}: {body}");
                }
                any_key += 1;
                continue;
            }
            assert_eq!(scopes.len(), 1, "{method} {path} must require exactly one scope: {scopes:?}");
            let scope = scopes[0];
            assert!(ALL_SCOPES.contains(&scope), "{method} {path}: unknown scope {scope}");
            let concrete = path.replace("{uuid}", &uuid::Uuid::new_v4().to_string());
            let send = |key: Option<&str>| {
                let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let mut request = app.client.request(method.clone(), app.url(&concrete));
                if let Some(key) = key {
                    request = request.bearer_auth(key);
                }
                if method == reqwest::Method::POST || method == reqwest::Method::PATCH {
                    request = request.json(&json!({}));
                }
                request.send()
            };
            let (status, body) = status_json(send(None).await.unwrap()).await;
            assert_eq!(status, 401, "{method} {path} without a key: {body}");
            let (status, body) = status_json(send(Some(&keys_without_scope[scope])).await.unwrap()).await;
            assert_eq!(status, 403, "{method} {path} without {scope}: {body}");
            assert_eq!(body["error"]["code"], "FORBIDDEN");
            assert_eq!(body["error"]["details"]["required_scopes"], json!([scope]));
            let (status, body) = status_json(send(Some(&keys_by_scope[scope])).await.unwrap()).await;
            assert!(status != 401 && status != 403, "{method} {path} with {scope}: {status} {body}");
            let (status, _) = status_json(send(Some(&keys_by_scope["admin"])).await.unwrap()).await;
            assert!(status != 401 && status != 403, "{method} {path} with admin: {status}");
            if scope == "alerts:ingest" {
                let (status, _) =
                    status_json(send(Some(&keys_by_scope["alerts:write"])).await.unwrap()).await;
                assert!(status != 401 && status != 403, "{method} {path} with alerts:write: {status}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "the route table should hold every /v1 operation, saw {checked}");
    assert_eq!(public, PUBLIC_ROUTES.len());
    assert_eq!(any_key, ANY_KEY_ROUTES.len());
}

#[tokio::test]
async fn the_current_key_describes_the_caller_and_reads_no_database() {
    // No worker: nothing else in the process asks the database for work meanwhile.
    let app = spawn_app_with(AppOptions { run_worker: false, ..Default::default() }).await;
    let key = app.key_with(&["alerts:ingest"]).await;
    let current = |key: String| {
        let request = app.client.get(app.url("/v1/api-keys/current")).bearer_auth(key);
        async move { status_json(request.send().await.unwrap()).await }
    };
    // The first request loads the key into the cache (one read); the next ones read nothing (the
    // once-a-minute `last_used_at` writes of this key and the admin key may still land).
    let (status, body) = current(key.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["scopes"], json!(["alerts:ingest"]));
    assert_eq!(body["data"]["key_prefix"].as_str().unwrap(), &key[..8]);
    assert!(body["data"].get("key").is_none() && body["data"].get("key_hash").is_none(), "{body}");
    let before = app.db.work_done();
    for _ in 0..50 {
        assert_eq!(current(key.clone()).await.0, 200);
    }
    let statements = app.db.work_done().since(before).statements;
    assert!(statements < 10, "50 requests with a cached key sent {statements} statements");
    let (status, body) = current("cai_notakeyatallnotakeyatallnotakeyatall".into()).await;
    assert_eq!(status, 401, "{body}");
}
