//! The `detection_rules` table (what ingestion needs; CRUD arrives with context).

use calseta_core::mitre::{self, FOLDED_OUT};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::sql::{Arg, Params};
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
    match find_in(tx, source_name, rule_ref).await? {
        Some(id) => Ok(id),
        None => create_stub(tx, source_name, rule_ref).await,
    }
}

/// Creates the stub rule `(source_name, rule_ref)`, named after the reference, for a rule looked
/// up and not found (ingest looks rules up with its duplicate check,
/// [`crate::alerts::ingest_lookup`]). A stub another transaction inserted meanwhile (PostgreSQL)
/// makes the insert return nothing; it is then looked up.
pub async fn create_stub(tx: &mut Tx, source_name: &str, rule_ref: &str) -> Result<i64, StoreError> {
    let now = crate::now();
    let inserted = on_tx!(tx, c => sqlx::query_scalar::<_, i64>(
        "INSERT INTO detection_rules (uuid, name, source_rule_id, source_name, is_active, mitre_tactics, mitre_techniques, \
         mitre_subtechniques, data_sources, is_system, created_at, updated_at) \
         VALUES ($1, $2, $2, $3, TRUE, '[]', '[]', '[]', '[]', FALSE, $4, $4) \
         ON CONFLICT (source_name, source_rule_id) DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(rule_ref)
    .bind(source_name)
    .bind(now)
    .fetch_optional(c)
    .await)?;
    match inserted {
        Some(id) => Ok(id),
        None => find_in(tx, source_name, rule_ref)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("detection rule {rule_ref} vanished"))),
    }
}

/// The id of rule `(source_name, rule_ref)`, read inside `tx`.
async fn find_in(tx: &mut Tx, source_name: &str, rule_ref: &str) -> Result<Option<i64>, StoreError> {
    Ok(on_tx!(tx, c => sqlx::query_scalar::<_, i64>(
        "SELECT id FROM detection_rules WHERE source_name = $1 AND source_rule_id = $2",
    )
    .bind(source_name)
    .bind(rule_ref)
    .fetch_optional(c)
    .await)?)
}

/// The query of [`get_by_id`].
pub(crate) fn by_id_query(id: i64) -> crate::sql::Query {
    crate::sql::Query::new(
        format!("SELECT {COLUMNS} FROM detection_rules WHERE id = $1"),
        vec![crate::sql::Arg::I64(id)],
    )
}

/// A rule by internal id.
pub async fn get_by_id(db: &Db, id: i64) -> Result<Option<DetectionRuleRow>, StoreError> {
    crate::sql::fetch_optional(db, &by_id_query(id)).await
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

/// Every writable field of a rule.
#[derive(Debug, Clone)]
pub struct RuleFields {
    pub name: String,
    pub source_rule_id: Option<String>,
    pub source_name: Option<String>,
    pub severity: Option<String>,
    pub is_active: bool,
    pub mitre_tactics: Vec<String>,
    pub mitre_techniques: Vec<String>,
    pub mitre_subtechniques: Vec<String>,
    pub data_sources: Vec<String>,
    pub run_frequency: Option<String>,
    pub created_by: Option<String>,
    pub documentation: Option<String>,
}

impl From<DetectionRuleRow> for RuleFields {
    fn from(r: DetectionRuleRow) -> Self {
        RuleFields {
            name: r.name,
            source_rule_id: r.source_rule_id,
            source_name: r.source_name,
            severity: r.severity,
            is_active: r.is_active,
            mitre_tactics: r.mitre_tactics.0,
            mitre_techniques: r.mitre_techniques.0,
            mitre_subtechniques: r.mitre_subtechniques.0,
            data_sources: r.data_sources.0,
            run_frequency: r.run_frequency,
            created_by: r.created_by,
            documentation: r.documentation,
        }
    }
}

/// Inserts a rule.
pub async fn insert(db: &Db, f: &RuleFields) -> Result<DetectionRuleRow, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO detection_rules (uuid, name, source_rule_id, source_name, severity, is_active, mitre_tactics, \
         mitre_techniques, mitre_subtechniques, data_sources, run_frequency, created_by, documentation, is_system, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, FALSE, $14, $14) RETURNING {COLUMNS}"
    );
    Ok(on_write!(db, p => sqlx::query_as::<_, DetectionRuleRow>(&sql)
        .bind(Uuid::now_v7())
        .bind(&f.name)
        .bind(&f.source_rule_id)
        .bind(&f.source_name)
        .bind(&f.severity)
        .bind(f.is_active)
        .bind(Json(&f.mitre_tactics))
        .bind(Json(&f.mitre_techniques))
        .bind(Json(&f.mitre_subtechniques))
        .bind(Json(&f.data_sources))
        .bind(&f.run_frequency)
        .bind(&f.created_by)
        .bind(&f.documentation)
        .bind(now)
        .fetch_one(p)
        .await)?)
}

/// Replaces the editable fields of rule `id`.
pub async fn update(db: &Db, id: i64, f: &RuleFields) -> Result<DetectionRuleRow, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE detection_rules SET name = $2, severity = $3, is_active = $4, mitre_tactics = $5, mitre_techniques = $6, \
         mitre_subtechniques = $7, data_sources = $8, documentation = $9, updated_at = $10 WHERE id = $1 RETURNING {COLUMNS}"
    );
    Ok(on_write!(db, p => sqlx::query_as::<_, DetectionRuleRow>(&sql)
        .bind(id)
        .bind(&f.name)
        .bind(&f.severity)
        .bind(f.is_active)
        .bind(Json(&f.mitre_tactics))
        .bind(Json(&f.mitre_techniques))
        .bind(Json(&f.mitre_subtechniques))
        .bind(Json(&f.data_sources))
        .bind(&f.documentation)
        .bind(now)
        .fetch_one(p)
        .await)?)
}

/// A rule by public id.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<DetectionRuleRow>, StoreError> {
    crate::sql::by_uuid(db, "detection_rules", COLUMNS, uuid).await
}

/// Deletes a rule (alerts keep their rows, unlinked); `false` if absent.
pub async fn delete(db: &Db, uuid: Uuid) -> Result<bool, StoreError> {
    let n = on_write!(db, p => sqlx::query("DELETE FROM detection_rules WHERE uuid = $1").bind(uuid).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Filters for listing.
#[derive(Debug, Clone, Default)]
pub struct RuleFilter {
    pub source_names: Vec<String>,
    pub severities: Vec<String>,
    pub is_active: Option<bool>,
    /// The name contains this text (any case).
    pub name_contains: Option<String>,
    /// `mitre_tactics` holds this tactic: by ID or name in any case and spacing, or as stored
    /// (see `calseta_core::mitre::tactic_keys`).
    pub mitre_tactic: Option<String>,
    /// `mitre_techniques` or `mitre_subtechniques` holds this technique in any case, or one of its
    /// sub-techniques (see `calseta_core::mitre::technique_matches`).
    pub mitre_technique: Option<String>,
    pub sort_by: String,
    pub descending: bool,
}

/// One page of rules with the total.
pub async fn list(
    db: &Db,
    f: &RuleFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<DetectionRuleRow>, i64), StoreError> {
    let mut b = crate::sql::Params::default();
    let mut clauses = Vec::new();
    if !f.source_names.is_empty() {
        clauses.push(b.in_list("source_name", &f.source_names));
    }
    if !f.severities.is_empty() {
        clauses.push(b.in_list("severity", &f.severities));
    }
    if let Some(v) = f.is_active {
        clauses.push(format!("is_active = {}", b.arg(crate::sql::Arg::Bool(v))));
    }
    if let Some(name) = &f.name_contains {
        clauses.push(b.contains_text("name", name));
    }
    if let Some(tactic) = &f.mitre_tactic {
        // The stored spelling folded as `mitre::fold_tactic` folds (ASCII case, spaces, hyphens,
        // underscores), compared with every spelling of the tactic asked for.
        let folded =
            FOLDED_OUT.iter().fold("LOWER(v)".to_string(), |sql, c| format!("REPLACE({sql}, '{c}', '')"));
        let keys: Vec<String> = mitre::tactic_keys(tactic).into_iter().map(|k| b.arg(Arg::Text(k))).collect();
        let condition = format!("{folded} IN ({})", keys.join(", "));
        clauses.push(Params::json_array_any(db.engine(), "detection_rules", "mitre_tactics", &condition));
    }
    if let Some(technique) = &f.mitre_technique {
        // As `mitre::technique_matches`: the same ID in any case, or a sub-technique of it.
        let technique = mitre::fold_technique(technique);
        let mut held = |column: &str| {
            let same = b.arg(Arg::Text(technique.clone()));
            let condition = if technique.contains('.') {
                format!("UPPER(TRIM(v)) = {same}")
            } else {
                let sub = b.arg(Arg::Text(format!("{}.%", Params::like_literal(&technique))));
                format!("(UPPER(TRIM(v)) = {same} OR UPPER(TRIM(v)) LIKE {sub} ESCAPE '\\')")
            };
            Params::json_array_any(db.engine(), "detection_rules", column, &condition)
        };
        let main = held("mitre_techniques");
        let sub = held("mitre_subtechniques");
        clauses.push(format!("({main} OR {sub})"));
    }
    let where_sql =
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let direction = if f.descending { "DESC" } else { "ASC" };
    let order = match f.sort_by.as_str() {
        "severity" => format!(
            "CASE severity WHEN 'Critical' THEN 5 WHEN 'High' THEN 4 WHEN 'Medium' THEN 3 WHEN 'Low' THEN 2 \
             WHEN 'Informational' THEN 1 ELSE 0 END {direction}"
        ),
        column @ ("name" | "source_name") => format!("{column} {direction}"),
        _ => format!("created_at {direction}"),
    };
    let count_sql = format!("SELECT COUNT(*) FROM detection_rules {where_sql}");
    let count_args = b.args.clone();
    let l = b.arg(crate::sql::Arg::I64(limit));
    let o = b.arg(crate::sql::Arg::I64(offset));
    let sql = format!(
        "SELECT {COLUMNS} FROM detection_rules {where_sql} ORDER BY {order}, id {direction} LIMIT {l} OFFSET {o}"
    );
    Ok(on_pool!(db.read_pool(), p => {
        let rows = bind_args!(sqlx::query_as::<_, DetectionRuleRow>(&sql), &b.args).fetch_all(p).await?;
        let total: i64 = bind_args!(sqlx::query_scalar(&count_sql), &count_args).fetch_one(p).await?;
        Ok::<_, sqlx::Error>((rows, total))
    })?)
}
