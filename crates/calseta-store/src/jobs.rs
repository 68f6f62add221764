//! The durable `jobs` table: enqueue inside the caller's transaction, claim with a lease,
//! fence late writes, retry with back-off, keep dead letters.

use calseta_core::jobs::JobStatus;
use calseta_core::pagination::PageRequest;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::sql::{Arg, Query};
use crate::{Db, Engine, StoreError, Tx};

/// PostgreSQL channel on which enqueues are announced.
pub const NOTIFY_CHANNEL: &str = "calseta_jobs";

const COLUMNS: &str = "id, uuid, kind, queue, payload, status, attempts, max_attempts, run_at, \
                       lease_token, lease_expires_at, last_error, finished_at, created_at, updated_at";

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Handler name, e.g. `enrich_alert`.
    pub kind: String,
    /// Queue, for depth reporting (`enrichment`, `dispatch`, …).
    pub queue: String,
    /// Handler input.
    pub payload: Value,
    /// Attempts before the job becomes a dead letter.
    pub max_attempts: u32,
    /// Earliest start.
    pub run_at: DateTime<Utc>,
}

/// A row of the `jobs` table.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    /// Internal id.
    pub id: i64,
    /// Public id.
    pub uuid: Uuid,
    /// Handler name.
    pub kind: String,
    /// Queue name.
    pub queue: String,
    /// Handler input.
    pub payload: Json<Value>,
    /// `queued`, `running`, `succeeded` or `dead`.
    #[sqlx(try_from = "String")]
    pub status: JobStatus,
    /// Attempts started so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Earliest next start.
    pub run_at: DateTime<Utc>,
    /// The current attempt's fencing token while running.
    pub lease_token: Option<Uuid>,
    /// When the current lease lapses unless renewed.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it succeeded or died.
    pub finished_at: Option<DateTime<Utc>>,
    /// Enqueue time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Inserts a job in the caller's transaction: it becomes visible to workers only when the row it
/// acts on is committed with it.
pub async fn enqueue(tx: &mut Tx, job: &NewJob) -> Result<Uuid, StoreError> {
    let now = crate::now();
    let uuid = Uuid::now_v7();
    let max_attempts = i32::try_from(job.max_attempts.max(1)).unwrap_or(i32::MAX);
    // Nothing reads the row back before the next statement: sent with it (or the commit).
    tx.defer(Query::new(
        "INSERT INTO jobs (uuid, kind, queue, payload, status, attempts, max_attempts, run_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7, $7)",
        vec![
            Arg::Uuid(uuid),
            Arg::Text(job.kind.clone()),
            Arg::Text(job.queue.clone()),
            Arg::Json(Json(job.payload.clone())),
            Arg::I64(i64::from(max_attempts)),
            Arg::Time(job.run_at),
            Arg::Time(now),
        ],
    ));
    if tx.engine() == Engine::Postgres {
        // Delivered to listeners when the transaction commits, never before.
        tx.defer(Query::new(
            "SELECT pg_notify($1, $2)",
            vec![Arg::Text(NOTIFY_CHANNEL.to_string()), Arg::Text(job.queue.clone())],
        ));
    }
    tx.note_job_enqueued();
    Ok(uuid)
}

/// Which runnable jobs a claim looks at, beyond those queued and due.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaimOrder<'a> {
    /// Due jobs of these queues, in this order, are taken before older due jobs of other queues.
    pub priority: &'a [&'a str],
    /// Also take running jobs whose lease lapsed (their worker died) — first of all.
    pub reclaim_lapsed: bool,
}

/// Claims up to `limit` runnable jobs of the given kinds — queued and due, or (see [`ClaimOrder`])
/// running with a lapsed lease — under a fresh lease `token` valid until `lease_until`.
pub async fn claim(
    db: &Db,
    kinds: &[String],
    limit: i64,
    token: Uuid,
    lease_until: DateTime<Utc>,
    order: ClaimOrder<'_>,
) -> Result<Vec<JobRow>, StoreError> {
    let mut claimed =
        claim_groups(db, &[ClaimGroup { kinds, queues: &[], limit }], limit, token, lease_until, order)
            .await?;
    Ok(claimed.pop().unwrap_or_default())
}

/// The kinds one group of a worker's slots runs, and how many of them it can take now.
#[derive(Debug, Clone, Copy)]
pub struct ClaimGroup<'a> {
    /// The kinds.
    pub kinds: &'a [String],
    /// The queues of those kinds, if known (empty: not known). A job's `queue` is its kind's, as
    /// [`enqueue`] writes it, so a claim skips the priority statements of other queues, and the
    /// statement for any due job when the priority statements covered every queue of the group
    /// (except when it also looks for lapsed leases, so a row whose queue is not its kind's is
    /// still reached).
    pub queues: &'a [String],
    /// The most jobs this group takes.
    pub limit: i64,
}

/// Claims for every group in one write transaction — each group at most its `limit`, all of them
/// together at most `total` — and returns each group's jobs, in the groups' order. One
/// transaction per round instead of one per group: on SQLite each would hold the single writer.
pub async fn claim_groups(
    db: &Db,
    groups: &[ClaimGroup<'_>],
    total: i64,
    token: Uuid,
    lease_until: DateTime<Utc>,
    order: ClaimOrder<'_>,
) -> Result<Vec<Vec<JobRow>>, StoreError> {
    let mut claimed: Vec<Vec<JobRow>> = groups.iter().map(|_| Vec::new()).collect();
    if groups.iter().all(|g| g.kinds.is_empty() || g.limit <= 0) || total <= 0 {
        return Ok(claimed);
    }
    let now = crate::now();
    let mut remaining = total;
    let mut tx = db.begin().await?;
    for (group, rows) in groups.iter().zip(claimed.iter_mut()) {
        let wanted = group.limit.min(remaining);
        if group.kinds.is_empty() || wanted <= 0 {
            continue;
        }
        claim_in(&mut tx, group, wanted, token, lease_until, now, order, rows).await?;
        remaining -= rows.len() as i64;
        rows.sort_by_key(|r| (r.run_at, r.id));
    }
    tx.commit().await?;
    Ok(claimed)
}

/// One group's claim statements inside `tx`, adding what they take to `rows`.
#[allow(clippy::too_many_arguments)]
async fn claim_in(
    tx: &mut Tx,
    group: &ClaimGroup<'_>,
    limit: i64,
    token: Uuid,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
    order: ClaimOrder<'_>,
    rows: &mut Vec<JobRow>,
) -> Result<(), StoreError> {
    let kinds = group.kinds;
    let kind_params: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 5)).collect();
    let lock = match tx.engine() {
        Engine::Postgres => "FOR UPDATE SKIP LOCKED",
        // The single writer connection makes the UPDATE atomic on SQLite.
        Engine::Sqlite => "",
    };
    // One statement per kind of candidate — lapsed leases, each priority queue's due jobs, any due
    // job — each an ordered range of one index read only as far as the limit: one `OR` over them
    // would make the engine collect and sort every due job of a backlog on each claim.
    let claim_where = |condition: &str, order: &str| {
        format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_token = $1, \
             lease_expires_at = $2, updated_at = $3 \
             WHERE id IN (SELECT id FROM jobs WHERE {condition} AND kind IN ({kinds}) \
                 ORDER BY {order}, id LIMIT $4 {lock}) \
             RETURNING {COLUMNS}",
            kinds = kind_params.join(", ")
        )
    };
    let lapsed = claim_where("status = 'running' AND lease_expires_at < $3", "lease_expires_at");
    let due = claim_where("status = 'queued' AND run_at <= $3", "run_at");
    let mut statements = Vec::new();
    if order.reclaim_lapsed {
        statements.push(lapsed);
    }
    let known = |queue: &str| group.queues.is_empty() || group.queues.iter().any(|q| q == queue);
    for queue in order.priority {
        // Validated to be a plain name; inlined so the kind parameters keep their numbers.
        if known(queue) && plain_name(queue) {
            statements.push(claim_where(
                &format!("queue = '{queue}' AND status = 'queued' AND run_at <= $3"),
                "run_at",
            ));
        }
    }
    // Every queue of the group had its priority statement: nothing else can be due.
    let covered = !group.queues.is_empty()
        && group.queues.iter().all(|q| order.priority.contains(&q.as_str()) && plain_name(q));
    // Also on each look for lapsed leases (about once a second): a job whose row names another
    // queue than its kind now does (a kind moved between releases, or workers of two versions
    // on one database) is still claimed.
    if !covered || order.reclaim_lapsed {
        statements.push(due);
    }
    let first = rows.len() as i64;
    for sql in statements {
        let wanted = limit - (rows.len() as i64 - first);
        if wanted <= 0 {
            break;
        }
        let claimed = on_tx!(tx, c => {
            let mut q = sqlx::query_as::<_, JobRow>(&sql).bind(token).bind(lease_until).bind(now).bind(wanted);
            for kind in kinds {
                q = q.bind(kind);
            }
            q.fetch_all(c).await
        })?;
        rows.extend(claimed);
    }
    Ok(())
}

/// Whether `queue` is a plain name (letters, digits, `_`), safe to inline in a claim.
fn plain_name(queue: &str) -> bool {
    queue.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Extends a lease; `false` means the attempt lost it (reclaimed or finished elsewhere).
pub async fn renew_lease(db: &Db, id: i64, token: Uuid, until: DateTime<Utc>) -> Result<bool, StoreError> {
    let affected = on_write!(db, p => sqlx::query(
        "UPDATE jobs SET lease_expires_at = $3 WHERE id = $1 AND lease_token = $2 AND status = 'running'",
    )
    .bind(id)
    .bind(token)
    .bind(until)
    .execute(p)
    .await.map(|r| r.rows_affected()))?;
    Ok(affected == 1)
}

/// Inside a handler's transaction: whether the attempt still holds its lease. On PostgreSQL the
/// job row stays locked until the transaction ends, so it cannot be reclaimed meanwhile.
pub async fn holds_lease(tx: &mut Tx, id: i64, token: Uuid) -> Result<bool, StoreError> {
    let sql = match tx.engine() {
        Engine::Postgres => {
            "SELECT id FROM jobs WHERE id = $1 AND lease_token = $2 AND status = 'running' FOR UPDATE"
        }
        Engine::Sqlite => "SELECT id FROM jobs WHERE id = $1 AND lease_token = $2 AND status = 'running'",
    };
    let found: Option<i64> =
        on_tx!(tx, c => sqlx::query_scalar(sql).bind(id).bind(token).fetch_optional(c).await)?;
    Ok(found.is_some())
}

/// Marks the attempt succeeded inside `tx`; `false` if it no longer holds the lease.
pub async fn mark_succeeded(tx: &mut Tx, id: i64, token: Uuid) -> Result<bool, StoreError> {
    let now = crate::now();
    // Read through `RETURNING`: the handler's deferred writes go in the same command, and a
    // command's affected-row count would sum theirs.
    let marked: Option<(i64,)> = tx
        .fetch_optional(&Query::new(
            "UPDATE jobs SET status = 'succeeded', finished_at = $3, updated_at = $3, lease_token = NULL, \
             lease_expires_at = NULL, last_error = NULL WHERE id = $1 AND lease_token = $2 AND status = 'running' \
             RETURNING id",
            vec![Arg::I64(id), Arg::Uuid(token), Arg::Time(now)],
        ))
        .await?;
    Ok(marked.is_some())
}

/// Records a failed attempt: rescheduled at `retry_at`, or a dead letter when `retry_at` is `None`.
/// `false` if the attempt no longer holds the lease.
pub async fn mark_failed(
    db: &Db,
    id: i64,
    token: Uuid,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<bool, StoreError> {
    let now = crate::now();
    let error = truncate(error, 4000);
    let affected = match retry_at {
        Some(retry_at) => on_write!(db, p => sqlx::query(
            "UPDATE jobs SET status = 'queued', run_at = $4, last_error = $3, updated_at = $5, lease_token = NULL, \
             lease_expires_at = NULL WHERE id = $1 AND lease_token = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(token)
        .bind(&error)
        .bind(retry_at)
        .bind(now)
        .execute(p)
        .await.map(|r| r.rows_affected()))?,
        None => on_write!(db, p => sqlx::query(
            "UPDATE jobs SET status = 'dead', finished_at = $4, last_error = $3, updated_at = $4, lease_token = NULL, \
             lease_expires_at = NULL WHERE id = $1 AND lease_token = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(token)
        .bind(&error)
        .bind(now)
        .execute(p)
        .await.map(|r| r.rows_affected()))?,
    };
    Ok(affected == 1)
}

/// Gives a job back without counting the attempt (graceful shutdown ran out of time).
pub async fn release(db: &Db, id: i64, token: Uuid) -> Result<bool, StoreError> {
    postpone(db, id, token, crate::now()).await
}

/// Puts a running job back in the queue until `run_at` without counting its attempt (the handler
/// could not start now, e.g. its destination is at its concurrency limit); `false` if the lease
/// was lost.
pub async fn postpone(db: &Db, id: i64, token: Uuid, run_at: DateTime<Utc>) -> Result<bool, StoreError> {
    let now = crate::now();
    let affected = on_write!(db, p => sqlx::query(
        "UPDATE jobs SET status = 'queued', run_at = $3, updated_at = $4, lease_token = NULL, lease_expires_at = NULL, \
         attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END \
         WHERE id = $1 AND lease_token = $2 AND status = 'running'",
    )
    .bind(id)
    .bind(token)
    .bind(run_at)
    .bind(now)
    .execute(p)
    .await.map(|r| r.rows_affected()))?;
    Ok(affected == 1)
}

/// One page of jobs, newest first, optionally filtered by status and queue.
pub async fn list(
    db: &Db,
    status: Option<JobStatus>,
    queue: Option<&str>,
    page: PageRequest,
) -> Result<(Vec<JobRow>, i64), StoreError> {
    let filter = "WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR queue = $2)";
    let sql =
        format!("SELECT {COLUMNS} FROM jobs {filter} ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4");
    let count_sql = format!("SELECT COUNT(*) FROM jobs {filter}");
    let status = status.map(JobStatus::as_str);
    let (rows, total) = on_pool!(db.read_pool(), p => {
        let rows = sqlx::query_as::<_, JobRow>(&sql)
            .bind(status)
            .bind(queue)
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(p)
            .await?;
        let total: i64 = sqlx::query_scalar(&count_sql).bind(status).bind(queue).fetch_one(p).await?;
        Ok::<_, sqlx::Error>((rows, total))
    })?;
    Ok((rows, total))
}

/// A job by public id.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<JobRow>, StoreError> {
    crate::sql::by_uuid(db, "jobs", COLUMNS, uuid).await
}

/// Puts a dead letter back in its queue with a fresh set of attempts; `None` if no dead job has
/// this id.
pub async fn retry_dead(db: &Db, uuid: Uuid) -> Result<Option<JobRow>, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE jobs SET status = 'queued', attempts = 0, run_at = $2, finished_at = NULL, updated_at = $2 \
         WHERE uuid = $1 AND status = 'dead' RETURNING {COLUMNS}"
    );
    let row = match db.engine() {
        Engine::Postgres => {
            let mut tx = db.begin().await?;
            let row = on_tx!(tx, c => sqlx::query_as::<_, JobRow>(&sql).bind(uuid).bind(now).fetch_optional(c).await)?;
            if let Some(job) = &row {
                on_tx!(tx, c => sqlx::query("SELECT pg_notify($1, $2)").bind(NOTIFY_CHANNEL).bind(&job.queue).execute(c).await.map(|r| r.rows_affected()))?;
            }
            tx.commit().await?;
            row
        }
        Engine::Sqlite => {
            on_write!(db, p => sqlx::query_as::<_, JobRow>(&sql).bind(uuid).bind(now).fetch_optional(p).await)?
        }
    };
    if row.is_some() {
        db.job_wakeup().notify_one();
    }
    Ok(row)
}

/// Count of jobs per (queue, status).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct QueueDepth {
    /// Queue name.
    pub queue: String,
    /// Job status.
    #[sqlx(try_from = "String")]
    pub status: JobStatus,
    /// Number of jobs.
    pub count: i64,
}

/// Job counts per queue and status (succeeded jobs included until pruned).
pub async fn depth(db: &Db) -> Result<Vec<QueueDepth>, StoreError> {
    let rows = on_pool!(db.read_pool(), p => sqlx::query_as::<_, QueueDepth>(
        "SELECT queue, status, COUNT(*) AS count FROM jobs GROUP BY queue, status ORDER BY queue, status",
    )
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Count of jobs per (kind, status).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KindCount {
    /// Handler name.
    pub kind: String,
    /// Job status.
    #[sqlx(try_from = "String")]
    pub status: JobStatus,
    /// Number of jobs.
    pub count: i64,
}

/// Job counts per kind and status (succeeded jobs included until pruned), for the console's jobs
/// page; `(kind, status)` is indexed (migration 0015).
pub async fn counts_by_kind(db: &Db) -> Result<Vec<KindCount>, StoreError> {
    let rows = on_pool!(db.read_pool(), p => sqlx::query_as::<_, KindCount>(
        "SELECT kind, status, COUNT(*) AS count FROM jobs GROUP BY kind, status ORDER BY kind, status",
    )
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Deletes succeeded jobs finished before `before`; returns how many.
pub async fn prune_succeeded(db: &Db, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let affected = on_write!(db, p => sqlx::query(
        "DELETE FROM jobs WHERE status = 'succeeded' AND finished_at < $1",
    )
    .bind(before)
    .execute(p)
    .await.map(|r| r.rows_affected()))?;
    Ok(affected)
}

/// Whether a job of `kind` is queued or running (used to avoid piling up periodic jobs).
pub async fn has_pending(db: &Db, kind: &str) -> Result<bool, StoreError> {
    let found: Option<i64> = on_pool!(db.read_pool(), p => sqlx::query_scalar(
        "SELECT id FROM jobs WHERE kind = $1 AND status IN ('queued', 'running') LIMIT 1",
    )
    .bind(kind)
    .fetch_optional(p)
    .await)?;
    Ok(found.is_some())
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Forwards PostgreSQL `NOTIFY`s on [`NOTIFY_CHANNEL`] to this process's job wake-up, reconnecting
/// after connection loss; returns at once on SQLite. Runs until its task is aborted.
pub async fn forward_notifications(db: Db) {
    db.forward_notifications(NOTIFY_CHANNEL, "jobs", Db::job_wakeup).await;
}

/// When jobs of some kinds become claimable (see [`next_due`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NextDue {
    /// The earliest `run_at` of a queued job.
    pub queued: Option<DateTime<Utc>>,
    /// The earliest lease expiry of a running job: claimable once lapsed, by a claim that looks
    /// for lapsed leases ([`ClaimOrder::reclaim_lapsed`]).
    pub lapsed: Option<DateTime<Utc>>,
}

/// When the next job of `kinds` becomes claimable, queued or by a lapsed lease, in one read.
pub async fn next_due(db: &Db, kinds: &[String]) -> Result<NextDue, StoreError> {
    if kinds.is_empty() {
        return Ok(NextDue::default());
    }
    let params: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 1)).collect();
    let sql = format!(
        "SELECT (SELECT MIN(run_at) FROM jobs WHERE status = 'queued' AND kind IN ({kinds})), \
                (SELECT MIN(lease_expires_at) FROM jobs WHERE status = 'running' AND kind IN ({kinds}))",
        kinds = params.join(", ")
    );
    let (queued, lapsed): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = on_pool!(db.read_pool(), p => {
        let mut q = sqlx::query_as(&sql);
        for kind in kinds {
            q = q.bind(kind);
        }
        q.fetch_one(p).await
    })?;
    Ok(NextDue { queued, lapsed })
}

/// The unfinished (queued or running) jobs of `kinds` whose payload names `alert_uuid` as its
/// `alert_uuid`, soonest first, at most `limit` — an alert's pending deliveries and retries.
pub async fn unfinished_for_alert(
    db: &Db,
    kinds: &[&str],
    alert_uuid: Uuid,
    limit: i64,
) -> Result<Vec<JobRow>, StoreError> {
    unfinished_naming(db, kinds, "alert_uuid", alert_uuid, limit).await
}

/// The unfinished (queued or running) jobs of `kinds` whose payload names `agent_uuid` as its
/// `agent_uuid`, soonest first, at most `limit` — an agent's pending deliveries and retries.
pub async fn unfinished_for_agent(
    db: &Db,
    kinds: &[&str],
    agent_uuid: Uuid,
    limit: i64,
) -> Result<Vec<JobRow>, StoreError> {
    unfinished_naming(db, kinds, "agent_uuid", agent_uuid, limit).await
}

/// The unfinished jobs of `kinds` whose payload's `field` (a fixed name, never input) is `uuid`.
async fn unfinished_naming(
    db: &Db,
    kinds: &[&str],
    field: &'static str,
    uuid: Uuid,
    limit: i64,
) -> Result<Vec<JobRow>, StoreError> {
    if kinds.is_empty() {
        return Ok(Vec::new());
    }
    crate::sql::fetch_all(db, &unfinished_naming_query(db.engine(), kinds, field, uuid, limit)).await
}

/// The query of [`unfinished_naming`] (`kinds` not empty).
pub(crate) fn unfinished_naming_query(
    engine: Engine,
    kinds: &[&str],
    field: &'static str,
    uuid: Uuid,
    limit: i64,
) -> crate::sql::Query {
    use crate::sql::Arg;
    // The payload is JSONB on PostgreSQL and JSON text on SQLite.
    let payload_field = match engine {
        Engine::Postgres => format!("payload->>'{field}'"),
        Engine::Sqlite => format!("json_extract(payload, '$.{field}')"),
    };
    let params: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM jobs WHERE status IN ('queued', 'running') AND {payload_field} = $1 \
         AND kind IN ({kinds}) ORDER BY run_at, id LIMIT $2",
        kinds = params.join(", ")
    );
    let mut args = vec![Arg::Text(uuid.to_string()), Arg::I64(limit)];
    args.extend(kinds.iter().map(|k| Arg::Text((*k).to_string())));
    crate::sql::Query::new(sql, args)
}
