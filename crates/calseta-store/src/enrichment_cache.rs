//! `enrichment_cache` (successful provider results shared by every process) and
//! `provider_rate_limits` (token buckets shared by every process).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::{Db, Engine, StoreError};

/// A cached result and when it was stored, if still fresh.
pub async fn get(
    db: &Db,
    provider: &str,
    kind: &str,
    value: &str,
) -> Result<Option<(Value, DateTime<Utc>)>, StoreError> {
    let now = crate::now();
    let row: Option<(Json<Value>, DateTime<Utc>)> = on_pool!(db.read_pool(), p => sqlx::query_as(
        "SELECT result, cached_at FROM enrichment_cache WHERE provider_name = $1 AND indicator_type = $2 \
         AND indicator_value = $3 AND expires_at > $4",
    )
    .bind(provider)
    .bind(kind)
    .bind(value)
    .bind(now)
    .fetch_optional(p)
    .await)?;
    Ok(row.map(|(j, at)| (j.0, at)))
}

/// Stores a result for `ttl`.
pub async fn put(
    db: &Db,
    provider: &str,
    kind: &str,
    value: &str,
    result: &Value,
    ttl: Duration,
) -> Result<(), StoreError> {
    let now = crate::now();
    let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
    on_write!(db, p => sqlx::query(
        "INSERT INTO enrichment_cache (provider_name, indicator_type, indicator_value, result, cached_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider_name, indicator_type, indicator_value) \
         DO UPDATE SET result = excluded.result, cached_at = excluded.cached_at, expires_at = excluded.expires_at",
    )
    .bind(provider)
    .bind(kind)
    .bind(value)
    .bind(Json(result))
    .bind(now)
    .bind(expires)
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Deletes expired entries; returns how many.
pub async fn purge_expired(db: &Db) -> Result<u64, StoreError> {
    let now = crate::now();
    Ok(on_write!(db, p => sqlx::query("DELETE FROM enrichment_cache WHERE expires_at <= $1")
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Takes one token from `provider`'s bucket (capacity and refill `per_minute`); `Err(wait)` when
/// empty, with the time until the next token. Shared by every process through the database.
pub async fn take_token(
    db: &Db,
    provider: &str,
    per_minute: u32,
) -> Result<Result<(), Duration>, StoreError> {
    let capacity = f64::from(per_minute.max(1));
    let per_second = capacity / 60.0;
    let now = crate::now();
    let mut tx = db.begin().await?;
    let lock = if tx.engine() == Engine::Postgres { " FOR UPDATE" } else { "" };
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO provider_rate_limits (provider_name, tokens, refilled_at) VALUES ($1, $2, $3) ON CONFLICT (provider_name) DO NOTHING",
    )
    .bind(provider)
    .bind(capacity)
    .bind(now)
    .execute(&mut *c)
    .await
    .map(|_| ()))?;
    let sql = format!("SELECT tokens, refilled_at FROM provider_rate_limits WHERE provider_name = $1{lock}");
    let (tokens, refilled_at): (f64, DateTime<Utc>) =
        on_tx!(tx, c => sqlx::query_as(&sql).bind(provider).fetch_one(c).await)?;
    let elapsed = (now - refilled_at).num_milliseconds().max(0) as f64 / 1000.0;
    let available = (tokens + elapsed * per_second).min(capacity);
    let (remaining, outcome) = if available >= 1.0 {
        (available - 1.0, Ok(()))
    } else {
        (available, Err(Duration::from_secs_f64(((1.0 - available) / per_second).max(0.01))))
    };
    on_tx!(tx, c => sqlx::query("UPDATE provider_rate_limits SET tokens = $2, refilled_at = $3 WHERE provider_name = $1")
        .bind(provider)
        .bind(remaining)
        .bind(now)
        .execute(c)
        .await
        .map(|_| ()))?;
    tx.commit().await?;
    Ok(outcome)
}

/// Deletes every cached result of `provider` (fresh or expired); returns how many.
pub async fn clear_provider(db: &Db, provider: &str) -> Result<u64, StoreError> {
    Ok(on_write!(db, p => sqlx::query("DELETE FROM enrichment_cache WHERE provider_name = $1")
        .bind(provider)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
}

/// One provider's stored outcomes and cache, as the providers page lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderUsage {
    /// Indicators holding a successful result of this provider (`success: true`).
    pub succeeded: i64,
    /// Indicators holding a failed result (`status: "failed"`, or an old result with
    /// `success: false` and no status).
    pub failed: i64,
    /// Results in the shared cache that are still fresh.
    pub cached: i64,
}

/// Every provider's [`ProviderUsage`], keyed by provider name (providers with nothing stored are
/// absent). The results are counted over `indicators.enrichment_results` — one entry per provider
/// per indicator — with the JSON taken apart in the database, so raw answers are never read out.
pub async fn usage(db: &Db) -> Result<std::collections::BTreeMap<String, ProviderUsage>, StoreError> {
    use sqlx::Row;
    let results = match db.engine() {
        Engine::Sqlite => {
            "SELECT j.key AS k, \
               SUM(CASE WHEN json_type(j.value, '$.success') = 'true' THEN 1 ELSE 0 END) AS ok, \
               SUM(CASE WHEN json_type(j.value, '$.success') = 'true' THEN 0 \
                        WHEN json_extract(j.value, '$.status') = 'failed' THEN 1 \
                        WHEN json_type(j.value, '$.status') IS NULL THEN 1 ELSE 0 END) AS bad \
             FROM indicators i, json_each(CASE WHEN json_type(i.enrichment_results) = 'object' \
               THEN i.enrichment_results ELSE '{}' END) j \
             WHERE i.enrichment_results IS NOT NULL GROUP BY 1"
        }
        Engine::Postgres => {
            "SELECT j.key AS k, \
               SUM(CASE WHEN j.value -> 'success' = 'true'::jsonb THEN 1 ELSE 0 END)::bigint AS ok, \
               SUM(CASE WHEN j.value -> 'success' = 'true'::jsonb THEN 0 \
                        WHEN j.value ->> 'status' = 'failed' THEN 1 \
                        WHEN j.value -> 'status' IS NULL THEN 1 ELSE 0 END)::bigint AS bad \
             FROM indicators i CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(i.enrichment_results) = 'object' \
               THEN i.enrichment_results ELSE '{}'::jsonb END) j \
             WHERE i.enrichment_results IS NOT NULL GROUP BY 1"
        }
    };
    let mut usage = std::collections::BTreeMap::<String, ProviderUsage>::new();
    let rows = on_pool!(db.read_pool(), p => sqlx::query(results).fetch_all(p).await.map(|rows| {
        rows.iter()
            .map(|r| (r.get::<String, _>("k"), r.get::<i64, _>("ok"), r.get::<i64, _>("bad")))
            .collect::<Vec<_>>()
    }))?;
    for (provider, ok, bad) in rows {
        let entry = usage.entry(provider).or_default();
        entry.succeeded = ok;
        entry.failed = bad;
    }
    let now = crate::now();
    let cached = on_pool!(db.read_pool(), p => sqlx::query(
        "SELECT provider_name AS k, COUNT(*) AS n FROM enrichment_cache WHERE expires_at > $1 GROUP BY provider_name",
    )
    .bind(now)
    .fetch_all(p)
    .await
    .map(|rows| rows.iter().map(|r| (r.get::<String, _>("k"), r.get::<i64, _>("n"))).collect::<Vec<_>>()))?;
    for (provider, n) in cached {
        usage.entry(provider).or_default().cached = n;
    }
    Ok(usage)
}
