//! Alert use cases: list, detail, analyst changes (status lifecycle, severity, tags, close
//! classification and notes, malice override), delete, findings, indicators, activity, the
//! relationship graph and re-enrichment.

use std::sync::Arc;

use calseta_core::alerts::{AlertStatus, CloseClassification, Lifecycle, Malice, Severity};
use calseta_core::extraction::ExtractionPass;
use calseta_core::indicators::{self as indicator_values, IndicatorType, MaliceSource};
use calseta_core::pagination::PageRequest;
use calseta_jobs::JobKind;
use calseta_store::Db;
use calseta_store::activity::{self as activity_log, ActivityRow};
use calseta_store::alerts::{
    self as repo, AlertFilter, AlertQueueRow, AlertRow, AlertState, AlertSummaryRow, Position, Seek,
    SortValue,
};
use calseta_store::detection_rules;
use calseta_store::indicators::{self, IndicatorRow, NewOrigin, SiblingRow};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::pipeline::context::AlertContext;
use crate::pipeline::kinds;
use crate::views::alert_context::AlertWithContext;
use crate::views::alert_detail::{self, AlertDetail};
use crate::{FieldError, ServiceError};

/// A keyset page of the console's queue ([`AlertService::queue`]).
#[derive(Debug, Clone)]
pub struct QueuePage {
    /// The alerts, in the list's order, each with its effective malice.
    pub rows: Vec<AlertQueueRow>,
    /// How many alerts match in all.
    pub total: i64,
    /// The cursor of the page before (`before=`), if there is one.
    pub before: Option<String>,
    /// The cursor of the page after (`after=`), if there is one.
    pub after: Option<String>,
}

/// A row's keyset cursor: `id:value`, the value as the sort column holds it (RFC 3339 for a
/// time, the rank for a severity). The id comes first and is digits only, so a value holding
/// the separator still reads back whole.
pub fn cursor_of(row: &AlertSummaryRow, sort_by: &str) -> String {
    let at = Position::of(row, sort_by);
    let value = match at.value {
        SortValue::Time(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        SortValue::Text(t) => t,
        SortValue::Rank(r) => r.to_string(),
    };
    format!("{}:{value}", at.id)
}

/// Reads a cursor made by [`cursor_of`] for a list sorted by `sort_by`.
pub fn read_cursor(text: &str, sort_by: &str) -> Option<Position> {
    let (id, value) = text.split_once(':')?;
    let id = id.parse().ok()?;
    let value = match sort_by {
        "occurred_at" | "created_at" => {
            SortValue::Time(chrono::DateTime::parse_from_rfc3339(value).ok()?.with_timezone(&chrono::Utc))
        }
        "severity" => SortValue::Rank(value.parse().ok()?),
        _ => SortValue::Text(value.to_string()),
    };
    Some(Position { value, id })
}

/// A page of the system-wide audit log ([`AlertService::audit_log`]).
#[derive(Debug, Clone)]
pub struct AuditLogPage {
    /// The events, newest first.
    pub rows: Vec<ActivityRow>,
    /// How many events match in all.
    pub total: i64,
    /// The page read.
    pub page: PageRequest,
    /// The uuid of each alert the events are about, by internal id (deleted alerts are absent).
    pub alerts: std::collections::HashMap<i64, Uuid>,
}

/// Analyst changes (unvalidated). `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default)]
pub struct AlertPatch {
    /// New status.
    pub status: Option<String>,
    /// New severity.
    pub severity: Option<String>,
    /// New close classification (`Some(None)` clears it).
    pub close_classification: Option<Option<String>>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// The analyst's verdict.
    pub malice_override: Option<String>,
    /// Drop the analyst's verdict.
    pub reset_malice_override: bool,
    /// New close notes (`Some(None)` clears them).
    pub close_notes: Option<Option<String>>,
}

/// A finding to post (unvalidated).
#[derive(Debug, Clone)]
pub struct FindingInput {
    /// Who posts it.
    pub agent_name: String,
    /// What was found.
    pub summary: String,
    /// `low`, `medium` or `high`.
    pub confidence: Option<String>,
    /// What the agent recommends.
    pub recommended_action: Option<String>,
    /// Supporting data (an object, at most 64 KB).
    pub evidence: Option<Value>,
}

/// Alert use cases.
pub struct AlertService {
    db: Db,
    enrich_job: JobKind,
    context: Arc<AlertContext>,
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("Alert not found.".into())
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        format!("{}...", text.chars().take(max).collect::<String>())
    } else {
        text.to_string()
    }
}

impl AlertService {
    /// A service over `db`; `enrich_job` is the kind re-enrichment enqueues; `context` chooses an
    /// alert's documents and past alerts.
    pub fn new(db: Db, enrich_job: JobKind, context: Arc<AlertContext>) -> Self {
        Self { db, enrich_job, context }
    }

    /// One alert's own row (404 when absent), without its indicators.
    pub async fn row(&self, uuid: Uuid) -> Result<AlertRow, ServiceError> {
        repo::get(&self.db, uuid).await?.ok_or_else(not_found)
    }

    /// A page of alerts.
    pub async fn list(
        &self,
        filter: &AlertFilter,
        page: PageRequest,
    ) -> Result<(Vec<AlertSummaryRow>, i64), ServiceError> {
        Ok(repo::list(&self.db, filter, page).await?)
    }

    /// A page of alerts as `search` asks (REST's list, the `search_alerts` tool), with the page
    /// read.
    pub async fn search(
        &self,
        search: &crate::params::AlertSearch,
        paging: crate::params::Paging,
    ) -> Result<(Vec<AlertSummaryRow>, i64, PageRequest), ServiceError> {
        let page = search.page(paging)?;
        let rule_id = match search.detection_rule_uuid {
            // An unknown rule matches nothing.
            Some(uuid) => Some(self.detection_rule_id(uuid).await?.unwrap_or(-1)),
            None => None,
        };
        let (rows, total) = repo::list(&self.db, &search.filter(rule_id), page).await?;
        Ok((rows, total, page))
    }

    /// A keyset page of the console's queue: `search`'s filters, sort and page size, with the
    /// queue's own filters and cursor from `args` (a cursor that cannot be read is the query's
    /// fault: 422). `page` is not used: the queue pages by cursor, not by number.
    pub async fn queue(
        &self,
        search: &crate::params::AlertSearch,
        args: &crate::params::AlertQueueArgs,
    ) -> Result<QueuePage, ServiceError> {
        let page = search.page(crate::params::Paging::REST)?;
        let rule_id = match search.detection_rule_uuid {
            Some(uuid) => Some(self.detection_rule_id(uuid).await?.unwrap_or(-1)),
            None => None,
        };
        let mut filter = search.filter(rule_id);
        filter.title_contains = args.q.clone();
        filter.malice = args.malice.clone();
        let cursor = |key: &str, text: &Option<String>| match text {
            None => Ok(None),
            Some(t) => read_cursor(t, &filter.sort_by)
                .map(Some)
                .ok_or_else(|| FieldError::query(key, "Input should be a cursor from a paging link")),
        };
        let seek = match (cursor("after", &args.after), cursor("before", &args.before)) {
            (Ok(Some(at)), Ok(None)) => Seek::After(at),
            (Ok(None), Ok(Some(at))) => Seek::Before(at),
            (Ok(None), Ok(None)) => Seek::First,
            (Ok(Some(_)), Ok(Some(_))) => {
                return Err(ServiceError::Invalid(vec![FieldError::query(
                    "before",
                    "Give either after or before, not both",
                )]));
            }
            (after, before) => {
                let errors = [after.err(), before.err()].into_iter().flatten().collect();
                return Err(ServiceError::Invalid(errors));
            }
        };
        let found = repo::list_keyset(&self.db, &filter, &seek, i64::from(page.page_size)).await?;
        let first = found.rows.first().filter(|_| found.more_before);
        let last = found.rows.last().filter(|_| found.more_after);
        Ok(QueuePage {
            before: first.map(|r| cursor_of(&r.summary, &filter.sort_by)),
            after: last.map(|r| cursor_of(&r.summary, &filter.sort_by)),
            rows: found.rows,
            total: found.total,
        })
    }

    /// The internal id of a detection rule, for the `detection_rule_uuid` filter.
    pub async fn detection_rule_id(&self, uuid: Uuid) -> Result<Option<i64>, ServiceError> {
        Ok(detection_rules::id_by_uuid(&self.db, uuid).await?)
    }

    /// One alert with its indicators and detection rule.
    pub async fn detail(&self, uuid: Uuid) -> Result<AlertDetail, ServiceError> {
        alert_detail::load(&self.db, uuid).await
    }

    /// One alert with its context: the detail, its applicable context documents and its past
    /// related alerts.
    pub async fn with_context(&self, uuid: Uuid) -> Result<AlertWithContext, ServiceError> {
        AlertWithContext::of(&self.context, self.detail(uuid).await?).await
    }

    /// Applies analyst changes, writing an activity event for each value that changed.
    pub async fn patch(
        &self,
        uuid: Uuid,
        patch: AlertPatch,
        actor: &Actor,
    ) -> Result<AlertDetail, ServiceError> {
        self.patch_from(uuid, patch, actor).await.map(|(_, detail)| detail)
    }

    /// [`Self::patch`], also returning the status the alert had before, read in the same
    /// transaction.
    pub async fn patch_from(
        &self,
        uuid: Uuid,
        patch: AlertPatch,
        actor: &Actor,
    ) -> Result<(AlertStatus, AlertDetail), ServiceError> {
        let mut errors = Vec::new();
        let status = patch.status.as_deref().map(AlertStatus::parse).transpose().unwrap_or_else(|e| {
            errors.push(FieldError::body("status", e.to_string()));
            None
        });
        let severity = patch.severity.as_deref().map(Severity::parse).transpose().unwrap_or_else(|e| {
            errors.push(FieldError::body("severity", e.to_string()));
            None
        });
        let classification = match &patch.close_classification {
            Some(Some(c)) => match CloseClassification::parse(c) {
                Ok(c) => Some(Some(c)),
                Err(e) => {
                    errors.push(FieldError::body("close_classification", e.to_string()));
                    None
                }
            },
            Some(None) => Some(None),
            None => None,
        };
        let malice_override =
            patch.malice_override.as_deref().map(Malice::parse).transpose().unwrap_or_else(|e| {
                errors.push(FieldError::body("malice_override", e.to_string()));
                None
            });
        if status == Some(AlertStatus::Closed) && !matches!(classification, Some(Some(_))) {
            errors.push(FieldError::body(
                "close_classification",
                "close_classification is required when setting status to Closed.",
            ));
        }
        if let Some(tags) = &patch.tags
            && tags.iter().any(|t| t.trim().is_empty() || t.chars().count() > 255)
        {
            errors.push(FieldError::body("tags", "tags must be 1 to 255 characters"));
        }
        if let Some(Some(notes)) = &patch.close_notes
            && notes.chars().count() > 50_000
        {
            errors.push(FieldError::body("close_notes", "close_notes is at most 50000 characters"));
        }
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }

        let mut tx = self.db.begin().await?;
        let before = repo::get_in(&mut tx, uuid).await?.ok_or_else(not_found)?;
        let now = calseta_store::now();
        let old_status = before.status;
        let lifecycle = Lifecycle {
            status: old_status,
            acknowledged_at: before.acknowledged_at,
            triaged_at: before.triaged_at,
            closed_at: before.closed_at,
        };
        let after = match status {
            Some(next) if next != old_status => lifecycle.transition(next, now),
            _ => lifecycle,
        };
        let mut state = AlertState {
            status: after.status,
            severity: severity.unwrap_or(before.severity),
            close_classification: classification.unwrap_or(before.close_classification),
            acknowledged_at: after.acknowledged_at,
            triaged_at: after.triaged_at,
            closed_at: after.closed_at,
            tags: patch
                .tags
                .clone()
                .map(|t| t.into_iter().map(|s| s.trim().to_string()).collect())
                .unwrap_or_else(|| before.tags.0.clone()),
            malice_override: before.malice_override,
            malice_override_source: before.malice_override_source,
            malice_override_at: before.malice_override_at,
            close_notes: match &patch.close_notes {
                Some(notes) => notes.clone(),
                None => before.close_notes.clone(),
            },
        };
        let (linked, origins) = indicators::for_alert_with_origins(&self.db, before.id).await?;
        let computed = Malice::worst_of(linked.iter().map(|i| i.malice));
        let effective = |over: Option<Malice>| over.unwrap_or(computed);
        let malice_before = effective(before.malice_override);
        let mut malice_event = None;
        if patch.reset_malice_override {
            if before.malice_override.is_some() {
                state.malice_override = None;
                state.malice_override_source = None;
                state.malice_override_at = None;
                malice_event = Some("reset");
            }
        } else if let Some(m) = malice_override {
            state.malice_override = Some(m);
            state.malice_override_source = Some(MaliceSource::Analyst);
            state.malice_override_at = Some(now);
            if before.malice_override != Some(m) {
                malice_event = Some("analyst");
            }
        }
        let updated = repo::update_state(&mut tx, before.id, &state).await?;

        if updated.status != before.status {
            if updated.status == AlertStatus::Closed {
                let refs = json!({"from_status": before.status, "close_classification": updated.close_classification});
                audit::record(&mut tx, actor, "alert_closed", Some(before.id), refs).await?;
            } else {
                let refs = json!({"from_status": before.status, "to_status": updated.status});
                audit::record(&mut tx, actor, "alert_status_updated", Some(before.id), refs).await?;
            }
        }
        if updated.severity != before.severity {
            let refs = json!({"from_severity": before.severity, "to_severity": updated.severity});
            audit::record(&mut tx, actor, "alert_severity_updated", Some(before.id), refs).await?;
        }
        if let Some(source) = malice_event {
            let refs = json!({"from_malice": malice_before, "to_malice": effective(updated.malice_override), "malice_source": source});
            audit::record(&mut tx, actor, "alert_malice_updated", Some(before.id), refs).await?;
        }
        tx.commit().await?;
        Ok((before.status, AlertDetail { alert: updated, indicators: linked, detection_rule: None, origins }))
    }

    /// Deletes an alert.
    pub async fn delete(&self, uuid: Uuid) -> Result<(), ServiceError> {
        if repo::delete(&self.db, uuid).await? { Ok(()) } else { Err(not_found()) }
    }

    /// Posts a finding; returns it.
    pub async fn add_finding(
        &self,
        uuid: Uuid,
        input: FindingInput,
        actor: &Actor,
    ) -> Result<Value, ServiceError> {
        let mut errors = Vec::new();
        let agent_name = input.agent_name.trim().to_string();
        if agent_name.is_empty() || agent_name.chars().count() > 255 {
            errors.push(FieldError::body("agent_name", "agent_name must be 1 to 255 characters"));
        }
        if input.summary.trim().is_empty() || input.summary.chars().count() > 50_000 {
            errors.push(FieldError::body("summary", "summary must be 1 to 50000 characters"));
        }
        if let Some(c) = &input.confidence
            && !["low", "medium", "high"].contains(&c.as_str())
        {
            errors.push(FieldError::body("confidence", "confidence must be low, medium or high"));
        }
        match &input.evidence {
            Some(e) if !e.is_object() => {
                errors.push(FieldError::body("evidence", "evidence must be an object"))
            }
            Some(e) if e.to_string().len() > 64 * 1024 => {
                errors.push(FieldError::body("evidence", "evidence is at most 64 KB"))
            }
            _ => {}
        }
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        let mut tx = self.db.begin().await?;
        let alert = repo::get_in(&mut tx, uuid).await?.ok_or_else(not_found)?;
        let finding = json!({
            "id": Uuid::new_v4().to_string(),
            "agent_name": agent_name,
            "summary": input.summary,
            "confidence": input.confidence,
            "recommended_action": input.recommended_action,
            "evidence": input.evidence,
            "posted_at": calseta_store::now(),
        });
        let mut findings = findings_of(&alert);
        findings.push(finding.clone());
        repo::set_findings(&mut tx, alert.id, &Value::Array(findings)).await?;
        let refs = json!({
            "finding_id": finding["id"], "agent_name": finding["agent_name"],
            "summary": truncate(&input.summary, 120), "confidence": finding["confidence"],
        });
        audit::record(&mut tx, actor, "alert_finding_added", Some(alert.id), refs).await?;
        tx.commit().await?;
        Ok(finding)
    }

    /// Findings, oldest first.
    pub async fn findings(&self, uuid: Uuid) -> Result<Vec<Value>, ServiceError> {
        let mut items = findings_of(&self.row(uuid).await?);
        items.sort_by(|a, b| {
            a["posted_at"].as_str().unwrap_or_default().cmp(b["posted_at"].as_str().unwrap_or_default())
        });
        Ok(items)
    }

    /// The alert's indicators.
    pub async fn indicators(&self, uuid: Uuid) -> Result<Vec<IndicatorRow>, ServiceError> {
        let alert = self.row(uuid).await?;
        Ok(indicators::for_alert(&self.db, alert.id).await?)
    }

    /// Adds indicators by hand (normalized like extracted ones); optionally re-enriches.
    pub async fn add_indicators(
        &self,
        uuid: Uuid,
        items: &[(String, String)],
        enrich: bool,
        actor: &Actor,
    ) -> Result<Vec<IndicatorRow>, ServiceError> {
        let mut errors = Vec::new();
        if items.is_empty() || items.len() > 100 {
            errors.push(FieldError::body("indicators", "between 1 and 100 indicators"));
        }
        let mut normalized: Vec<(IndicatorType, String)> = Vec::new();
        for (i, (kind, value)) in items.iter().enumerate() {
            let loc =
                |field: &str| vec!["body".to_string(), "indicators".into(), i.to_string(), field.to_string()];
            match IndicatorType::parse(kind) {
                Err(e) => errors.push(FieldError {
                    loc: loc("type"),
                    msg: e.to_string(),
                    kind: "value_error".into(),
                }),
                Ok(kind) => match indicator_values::normalize(kind, value) {
                    Ok(v) => {
                        if !normalized.contains(&(kind, v.clone())) {
                            normalized.push((kind, v));
                        }
                    }
                    Err(reason) => {
                        errors.push(FieldError { loc: loc("value"), msg: reason, kind: "value_error".into() })
                    }
                },
            }
        }
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        let mut tx = self.db.begin().await?;
        let alert = repo::get_in(&mut tx, uuid).await?.ok_or_else(not_found)?;
        let existing = indicators::for_alert(&self.db, alert.id).await?;
        let fresh = normalized
            .iter()
            .filter(|(k, v)| !existing.iter().any(|e| e.kind == *k && e.value == *v))
            .count();
        if existing.len() + fresh > crate::pipeline::enrich::run::MAX_INDICATORS_PER_ALERT {
            return Err(ServiceError::invalid(
                "indicators",
                format!(
                    "an alert keeps at most {} indicators; it has {}",
                    crate::pipeline::enrich::run::MAX_INDICATORS_PER_ALERT,
                    existing.len()
                ),
            ));
        }
        let origin = NewOrigin { field: None, pass: ExtractionPass::Manual, decoder: None };
        let items: Vec<_> =
            normalized.iter().map(|(kind, value)| (*kind, value.as_str(), Some(origin))).collect();
        let rows = indicators::upsert_and_link_all(&mut tx, alert.id, &items).await?;
        if enrich {
            kinds::enqueue_enrichment(&mut tx, &self.enrich_job, alert.uuid).await?;
        }
        let listed: Vec<Value> = normalized.iter().map(|(k, v)| json!({"type": k, "value": v})).collect();
        let refs = json!({"indicator_count": rows.len(), "indicators": listed, "enrich_requested": enrich});
        audit::record(&mut tx, actor, "alert_indicators_added", Some(alert.id), refs).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// A page of the alert's activity, newest first.
    pub async fn activity(
        &self,
        uuid: Uuid,
        page: PageRequest,
    ) -> Result<(Vec<ActivityRow>, i64), ServiceError> {
        let alert = self.row(uuid).await?;
        Ok(activity_log::for_alert(&self.db, alert.id, page).await?)
    }

    /// A page of the audit log across the system as `search` asks, newest first, with the page
    /// read and, for each event about an alert, that alert's uuid (for links).
    pub async fn audit_log(
        &self,
        search: &crate::params::ActivitySearch,
        paging: crate::params::Paging,
    ) -> Result<AuditLogPage, ServiceError> {
        let page = search.page(paging)?;
        let alert_id = match search.alert_uuid {
            // An unknown alert matches nothing, as an unknown detection rule does in `search`.
            Some(uuid) => Some(repo::get(&self.db, uuid).await?.map_or(-1, |a| a.id)),
            None => None,
        };
        let (rows, total) = activity_log::list(&self.db, &search.filter(alert_id), page).await?;
        let mut ids: Vec<i64> = rows.iter().filter_map(|r| r.alert_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let alerts = activity_log::alert_uuids(&self.db, &ids).await?.into_iter().collect();
        Ok(AuditLogPage { rows, total, page, alerts })
    }

    /// The alert, its indicators, and for each the other alerts sharing it.
    pub async fn graph(
        &self,
        uuid: Uuid,
        sibling_limit: i64,
    ) -> Result<(AlertRow, Vec<IndicatorRow>, Vec<(i64, i64)>, Vec<SiblingRow>), ServiceError> {
        let alert = self.row(uuid).await?;
        let linked = indicators::for_alert(&self.db, alert.id).await?;
        let ids: Vec<i64> = linked.iter().map(|i| i.id).collect();
        let (counts, siblings) = indicators::siblings(&self.db, alert.id, &ids, sibling_limit).await?;
        Ok((alert, linked, counts, siblings))
    }

    /// Queues a new extraction and enrichment run.
    pub async fn re_enrich(&self, uuid: Uuid) -> Result<(), ServiceError> {
        let mut tx = self.db.begin().await?;
        let alert = repo::get_in(&mut tx, uuid).await?.ok_or_else(not_found)?;
        kinds::enqueue_enrichment(&mut tx, &self.enrich_job, alert.uuid).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The alert's findings list (empty when none were posted).
fn findings_of(alert: &AlertRow) -> Vec<Value> {
    match alert.agent_findings.as_ref().map(|j| &j.0) {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}
