//! Liveness of the database and the job queue, and which enrichment providers are usable.

use std::collections::BTreeMap;
use std::time::Duration;

use calseta_core::jobs::JobStatus;
use calseta_store::{Db, enrichment_providers, jobs};

/// Each health probe gets this long.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The outcome of one health check.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// The database answered.
    pub database_ok: bool,
    /// The jobs table answered.
    pub queue_ok: bool,
    /// Jobs waiting to run (status `queued`).
    pub queue_depth: i64,
    /// Job counts per queue and status.
    pub queues: BTreeMap<String, BTreeMap<String, i64>>,
    /// `configured` / `unconfigured` per active provider.
    pub enrichment_providers: BTreeMap<String, &'static str>,
}

impl crate::Services {
    /// Runs every health probe (see [`check`]) against this process's database.
    pub async fn health(
        &self,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
        mock_mode: bool,
    ) -> HealthReport {
        check(&self.db, env, mock_mode).await
    }
}

/// Runs every probe, each bounded by a timeout.
pub async fn check(db: &Db, env: &(dyn Fn(&str) -> Option<String> + Sync), mock_mode: bool) -> HealthReport {
    // Reads answering is not enough: a full disk answers reads and refuses every write.
    let database_ok = matches!(tokio::time::timeout(PROBE_TIMEOUT, db.ping()).await, Ok(Ok(())))
        && matches!(tokio::time::timeout(PROBE_TIMEOUT, db.probe_write()).await, Ok(Ok(())));
    let (queue_ok, queue_depth, queues) = match tokio::time::timeout(PROBE_TIMEOUT, jobs::depth(db)).await {
        Ok(Ok(rows)) => {
            let mut queues: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
            let mut waiting = 0;
            for row in rows {
                if row.status == JobStatus::Queued {
                    waiting += row.count;
                }
                queues.entry(row.queue).or_default().insert(row.status.to_string(), row.count);
            }
            (true, waiting, queues)
        }
        _ => (false, 0, BTreeMap::new()),
    };
    let enrichment_providers =
        match tokio::time::timeout(PROBE_TIMEOUT, enrichment_providers::active_credential_states(db)).await {
            Ok(Ok(rows)) => rows
                .into_iter()
                .map(|p| {
                    let from_env =
                        p.env_var_mapping.as_ref().and_then(|m| m.0.as_object().cloned()).is_some_and(|m| {
                            m.values()
                                .filter_map(|v| v.as_str())
                                .any(|var| env(var).is_some_and(|v| !v.is_empty()))
                        });
                    let configured = p.auth_type == "no_auth"
                        || p.has_auth_config
                        || from_env
                        || (mock_mode && p.has_mock_responses);
                    (p.provider_name, if configured { "configured" } else { "unconfigured" })
                })
                .collect(),
            _ => BTreeMap::new(),
        };
    HealthReport { database_ok, queue_ok, queue_depth, queues, enrichment_providers }
}
