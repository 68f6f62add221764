//! The database going away under a running server: requests are answered `503
//! SERVICE_UNAVAILABLE` with `Retry-After` (never `500`), `/health` says the database is failing,
//! and once it is back everything works again with nothing already accepted lost.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

/// Runs `sql` on the PostgreSQL server's maintenance database.
async fn admin_sql(sql: &str) {
    let admin = with_database(&pg_admin_url().unwrap(), "postgres");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
}

#[tokio::test]
async fn while_postgres_refuses_connections_requests_are_503_with_retry_after_and_nothing_is_lost() {
    if pg_admin_url().is_none() {
        // SQLite is a file in this process: it cannot go away like a server (tested on PostgreSQL).
        return;
    }
    let app = spawn_app().await;
    let name = app.database.url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let (status, accepted) = app
        .post("/v1/ingest/generic", &app.admin_key, json!({"title": "Before the outage", "severity": "High"}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    // The server goes away: no new connection is allowed, and every open one is ended.
    admin_sql(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false")).await;
    admin_sql(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        .await;
    for (method, path) in [("POST", "/v1/ingest/generic"), ("GET", "/v1/alerts")] {
        let request = match method {
            "POST" => app.client.post(app.url(path)).json(&json!({"title": "During", "severity": "Low"})),
            _ => app.client.get(app.url(path)),
        };
        let response = request.bearer_auth(&app.admin_key).send().await.unwrap();
        let retry_after =
            response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        let (status, body) = status_json(response).await;
        assert_eq!((status, retry_after.as_deref()), (503, Some("5")), "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE", "{body}");
    }
    let (status, health) = status_json(app.client.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!((status, health["database"].as_str()), (503, Some("error")), "{health}");
    // Back: the same requests work, and the alert accepted before is there.
    admin_sql(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true")).await;
    eventually("the server answers again", Duration::from_secs(60), || async {
        let (status, _) = app
            .post("/v1/ingest/generic", &app.admin_key, json!({"title": "After", "severity": "Low"}))
            .await;
        (status == 202).then_some(())
    })
    .await;
    let (status, alerts) = app.get("/v1/alerts?page_size=100", &app.admin_key).await;
    assert_eq!(status, 200);
    assert!(alerts["data"].as_array().unwrap().iter().any(|a| a["title"] == "Before the outage"), "{alerts}");
    eventually("health is ok again", Duration::from_secs(60), || async {
        let (status, _) = status_json(app.client.get(app.url("/health")).send().await.unwrap()).await;
        (status == 200).then_some(())
    })
    .await;
}

#[tokio::test]
async fn while_the_database_takes_no_writes_writes_are_503_and_health_says_so() {
    if pg_admin_url().is_none() {
        return;
    }
    let app = spawn_app().await;
    let name = app.database.url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    // Reads answer, every write is refused — as with a full disk.
    admin_sql(&format!("ALTER DATABASE \"{name}\" SET default_transaction_read_only = on")).await;
    admin_sql(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        .await;
    let (status, _) = eventually("reads answer on new connections", Duration::from_secs(60), || async {
        let (status, body) = app.get("/v1/alerts", &app.admin_key).await;
        (status == 200).then_some((status, body))
    })
    .await;
    assert_eq!(status, 200);
    let response = app
        .client
        .post(app.url("/v1/ingest/generic"))
        .bearer_auth(&app.admin_key)
        .json(&json!({"title": "Refused", "severity": "Low"}))
        .send()
        .await
        .unwrap();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (status, body) = status_json(response).await;
    assert_eq!((status, retry_after.as_deref()), (503, Some("5")), "{body}");
    let (status, health) = status_json(app.client.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(
        (status, health["database"].as_str()),
        (503, Some("error")),
        "reads work, writes do not: {health}"
    );
    admin_sql(&format!("ALTER DATABASE \"{name}\" SET default_transaction_read_only = off")).await;
    admin_sql(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        .await;
    eventually("writes work again", Duration::from_secs(60), || async {
        let (status, _) = app
            .post("/v1/ingest/generic", &app.admin_key, json!({"title": "After", "severity": "Low"}))
            .await;
        (status == 202).then_some(())
    })
    .await;
    let (status, _) = status_json(app.client.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, 200, "a write succeeded: health is ok again");
}
