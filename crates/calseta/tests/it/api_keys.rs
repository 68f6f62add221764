//! API keys: REST endpoints, authentication outcomes, the bootstrap key.

use std::time::Duration;

use calseta::app::{self, ServeOptions};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn api_key_lifecycle_over_rest() {
    let app = spawn_app().await;
    let admin = app.admin_key.clone();

    let (status, body) = app
        .post(
            "/v1/api-keys",
            &admin,
            json!({"name": "splunk-forwarder", "scopes": ["alerts:write", "alerts:read", "alerts:write"],
                   "key_type": "agent", "allowed_sources": ["splunk"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let created = &body["data"];
    let key = created["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("cai_") && key.len() == 47, "{key}");
    assert_eq!(created["key_prefix"], key[..8]);
    assert_eq!(created["scopes"], json!(["alerts:write", "alerts:read"]));
    assert_eq!(created["key_type"], "agent");
    assert_eq!(created["allowed_sources"], json!(["splunk"]));
    assert_eq!(body["meta"], json!({}));
    let uuid = created["uuid"].as_str().unwrap().to_string();

    // The new key authenticates, and its scopes are enforced.
    let (status, _) = app.get("/v1/api-keys", &key).await;
    assert_eq!(status, 403);

    let (status, body) = app.get("/v1/api-keys", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(body["meta"]["total"], 2);
    assert_eq!(body["meta"]["total_pages"], 1);
    assert_eq!(body["data"][0]["uuid"], uuid.as_str(), "newest first");
    assert!(body["data"][0].get("key").is_none(), "the plain key is never listed");

    let (status, body) = app
        .patch(&format!("/v1/api-keys/{uuid}"), &admin, json!({"scopes": ["admin"], "allowed_sources": null}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["scopes"], json!(["admin"]));
    assert_eq!(body["data"]["allowed_sources"], json!(null));
    // Omitted fields stay; null on a non-nullable field is ignored.
    let (status, body) = app
        .patch(&format!("/v1/api-keys/{uuid}"), &admin, json!({"is_active": null, "name": "ignored"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["scopes"], json!(["admin"]));
    assert_eq!(body["data"]["is_active"], true);

    // The patched scope takes effect at once in this process.
    let (status, _) = app.get("/v1/api-keys", &key).await;
    assert_eq!(status, 200);

    let (status, body) = app.delete(&format!("/v1/api-keys/{uuid}"), &admin).await;
    assert_eq!(status, 204);
    assert_eq!(body, serde_json::Value::Null);
    let (status, body) = app.get("/v1/api-keys", &key).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
    assert_eq!(body["error"]["message"], "Invalid API key.");

    // Revoked keys are hidden from the list but still readable, and can be re-activated.
    let (_, body) = app.get("/v1/api-keys", &admin).await;
    assert_eq!(body["meta"]["total"], 1);
    let (status, body) = app.get(&format!("/v1/api-keys/{uuid}"), &admin).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["is_active"], false);
    let (status, _) = app.patch(&format!("/v1/api-keys/{uuid}"), &admin, json!({"is_active": true})).await;
    assert_eq!(status, 200);
    let (status, _) = app.get("/v1/api-keys", &key).await;
    assert_eq!(status, 200);

    // Unknown ids.
    let missing = uuid::Uuid::new_v4();
    let (status, body) = app.get(&format!("/v1/api-keys/{missing}"), &admin).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["message"], "API key not found.");
    let (status, _) = app.delete(&format!("/v1/api-keys/{missing}"), &admin).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn api_key_validation_errors() {
    let app = spawn_app().await;
    let admin = app.admin_key.clone();
    for (body, field) in [
        (json!({"name": "x", "scopes": ["alerts:read", "root"]}), "scopes"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "", "scopes": ["admin"]}), "name"),
        (json!({"name": "x", "scopes": ["admin"], "key_type": "robot"}), "key_type"),
        (json!({"name": "x", "scopes": ["admin"], "expires_at": "2001-01-01T00:00:00Z"}), "expires_at"),
        (json!({"name": "x", "scopes": ["admin"], "expires_at": "soon"}), "expires_at"),
        (json!({"scopes": ["admin"]}), "name"),
        (json!({"name": "x", "scopes": "admin"}), "scopes"),
    ] {
        let (status, resp) = app.post("/v1/api-keys", &admin, body.clone()).await;
        assert_eq!(status, 422, "{body} → {resp}");
        assert_eq!(resp["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(resp["error"]["message"], "Request validation failed.");
        let errors = resp["error"]["details"]["errors"].as_array().unwrap();
        assert!(
            errors.iter().any(|e| e["loc"].as_array().unwrap().iter().any(|l| l == field)),
            "{body} → {resp}"
        );
    }
    let (status, resp) = app
        .patch(&format!("/v1/api-keys/{}", uuid::Uuid::new_v4()), &admin, json!({"scopes": ["nope"]}))
        .await;
    assert_eq!(status, 422, "{resp}");
}

#[tokio::test]
async fn authentication_failures_have_distinct_codes() {
    let app = spawn_app().await;
    let client = &app.client;
    let url = app.url("/v1/api-keys");

    let resp = client.get(&url).send().await.unwrap();
    let (status, body) = status_json(resp).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("UNAUTHORIZED")));
    assert!(
        body["error"]["message"].as_str().unwrap().starts_with("Missing or invalid Authorization header")
    );

    for header in ["Basic abc", "bearer cai_abcdefgh", "Token cai_x"] {
        let resp = client.get(&url).header("Authorization", header).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{header}");
    }
    let (status, body) = app.get("/v1/api-keys", "sk_live_not_ours").await;
    assert_eq!((status, body["error"]["message"].as_str()), (401, Some("Invalid API key format.")));
    let (status, body) = app.get("/v1/api-keys", "cai_thisKeyDoesNotExistAnywhere000000000000000").await;
    assert_eq!((status, body["error"]["message"].as_str()), (401, Some("Invalid API key.")));

    // An expiring key works until its expiry, then answers KEY_EXPIRED.
    let expires = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let (status, body) = app
        .post(
            "/v1/api-keys",
            &app.admin_key,
            json!({"name": "short", "scopes": ["admin"], "expires_at": expires}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let key = body["data"]["key"].as_str().unwrap().to_string();
    let (status, _) = app.get("/v1/api-keys", &key).await;
    assert_eq!(status, 200);
    let body = eventually("the key to expire", Duration::from_secs(10), || async {
        let (status, body) = app.get("/v1/api-keys", &key).await;
        (status == 401).then_some(body)
    })
    .await;
    assert_eq!(body["error"]["code"], "KEY_EXPIRED");
    assert_eq!(body["error"]["message"], "API key has expired.");
}

#[tokio::test]
async fn last_used_at_is_recorded() {
    let app = spawn_app().await;
    let key = app.key_with(&["admin"]).await;
    let (_, body) = app.get("/v1/api-keys", &app.admin_key).await;
    let entry =
        body["data"].as_array().unwrap().iter().find(|k| k["key_prefix"] == key[..8]).unwrap().clone();
    assert_eq!(entry["last_used_at"], serde_json::Value::Null);
    let uuid = entry["uuid"].as_str().unwrap().to_string();
    let (status, _) = app.get("/v1/api-keys", &key).await;
    assert_eq!(status, 200);
    eventually("last_used_at to be written", Duration::from_secs(10), || async {
        let (_, body) = app.get(&format!("/v1/api-keys/{uuid}"), &app.admin_key).await;
        body["data"]["last_used_at"].as_str().map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn bootstrap_key_is_issued_exactly_once() {
    let mut app = spawn_app().await;
    let admin = app.admin_key.clone();
    // Revoke every key, then restart on the same database: no new bootstrap key.
    let (_, body) = app.get("/v1/api-keys", &admin).await;
    for key in body["data"].as_array().unwrap() {
        let uuid = key["uuid"].as_str().unwrap();
        let (status, _) = app.delete(&format!("/v1/api-keys/{uuid}"), &admin).await;
        assert_eq!(status, 204);
    }
    app.stop().await;
    let config = config_from(&app.env);
    let again = app::start(
        &config,
        ServeOptions { bind: "127.0.0.1:0".into(), run_worker: false, extra_jobs: vec![] },
    )
    .await
    .unwrap();
    assert!(again.bootstrap_key.is_none());
    again.shutdown().await;
}

#[tokio::test]
async fn concurrent_first_starts_issue_one_bootstrap_key() {
    let database = test_database().await;
    let config = config_from(&test_env(&database.url));
    let start = || {
        app::start(
            &config,
            ServeOptions { bind: "127.0.0.1:0".into(), run_worker: false, extra_jobs: vec![] },
        )
    };
    let (a, b, c) = tokio::join!(start(), start(), start());
    let started = [a.expect("first start"), b.expect("second start"), c.expect("third start")];
    let issued = started.iter().filter(|r| r.bootstrap_key.is_some()).count();
    assert_eq!(issued, 1);
    for running in started {
        running.shutdown().await;
    }
}
