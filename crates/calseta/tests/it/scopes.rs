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
}
