//! The `detection_rules` table (what ingestion needs; CRUD arrives with context).

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Db, StoreError, Tx};

/// A stored detection rule.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DetectionRuleRow {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub source_rule_id: Option<String>,
    pub source_name: Option<String>,
    pub severity: Option<String>,
    pub is_active: bool,
    pub mitre_tactics: Json<Vec<String>>,
    pub mitre_techniques: Json<Vec<String>>,
    pub mitre_subtechniques: Json<Vec<String>>,
    pub data_sources: Json<Vec<String>>,
    pub run_frequency: Option<String>,
    pub created_by: Option<String>,
    pub documentation: Option<String>,
    pub is_system: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, uuid, name, source_rule_id, source_name, severity, is_active, mitre_tactics, \
    mitre_techniques, mitre_subtechniques, data_sources, run_frequency, created_by, documentation, is_system, \
    created_at, updated_at";

/// The rule `(source_name, rule_ref)`, creating a stub named after the reference when absent.
pub async fn find_or_create_stub(tx: &mut Tx, source_name: &str, rule_ref: &str) -> Result<i64, StoreError> {
    let now = crate::now();
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO detection_rules (uuid, name, source_rule_id, source_name, is_active, mitre_tactics, mitre_techniques, \
         mitre_subtechniques, data_sources, is_system, created_at, updated_at) \
         VALUES ($1, $2, $2, $3, TRUE, '[]', '[]', '[]', '[]', FALSE, $4, $4) \
         ON CONFLICT (source_name, source_rule_id) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(rule_ref)
    .bind(source_name)
    .bind(now)
    .execute(&mut *c)
    .await
    .map(|_| ()))?;
    Ok(on_tx!(tx, c => sqlx::query_scalar::<_, i64>(
        "SELECT id FROM detection_rules WHERE source_name = $1 AND source_rule_id = $2",
    )
    .bind(source_name)
    .bind(rule_ref)
    .fetch_one(c)
    .await)?)
}

/// A rule by internal id.
pub async fn get_by_id(db: &Db, id: i64) -> Result<Option<DetectionRuleRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM detection_rules WHERE id = $1");
    Ok(
        on_pool!(db.read_pool(), p => sqlx::query_as::<_, DetectionRuleRow>(&sql).bind(id).fetch_optional(p).await)?,
    )
}

/// A rule's internal id by public id.
pub async fn id_by_uuid(db: &Db, uuid: Uuid) -> Result<Option<i64>, StoreError> {
    Ok(
        on_pool!(db.read_pool(), p => sqlx::query_scalar::<_, i64>("SELECT id FROM detection_rules WHERE uuid = $1")
        .bind(uuid)
        .fetch_optional(p)
        .await)?,
    )
}
