//! Detection rules: CRUD with MITRE fields and documentation. Rules created as stubs by ingest
//! (from a source's rule reference) are edited in place.

use calseta_store::Db;
use calseta_store::detection_rules::{self as rules, DetectionRuleRow, RuleFields, RuleFilter};
use uuid::Uuid;

use crate::{FieldError, ServiceError};

/// Checks list fields: entries of 1 to 255 characters.
pub(crate) fn check_lists(name: &str, values: &[String], errors: &mut Vec<FieldError>) {
    if values.iter().any(|v| v.trim().is_empty() || v.chars().count() > 255) {
        errors.push(FieldError::body(name, format!("{name} entries must be 1 to 255 characters")));
    }
}

/// Detection-rule use cases.
pub struct DetectionRuleService {
    db: Db,
}

impl DetectionRuleService {
    /// A service over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// A page of rules.
    pub async fn list_rules(
        &self,
        filter: &RuleFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<DetectionRuleRow>, i64), ServiceError> {
        Ok(rules::list(&self.db, filter, limit, offset).await?)
    }

    /// A page of rules as `search` asks (REST's list, the `search_detection_rules` tool), with
    /// the page read.
    pub async fn search(
        &self,
        search: &crate::params::DetectionRuleSearch,
        paging: crate::params::Paging,
    ) -> Result<(Vec<DetectionRuleRow>, i64, calseta_core::pagination::PageRequest), ServiceError> {
        let (filter, page) = search.to_query(paging)?;
        let (rows, total) = rules::list(&self.db, &filter, page.limit(), page.offset()).await?;
        Ok((rows, total, page))
    }

    /// One rule.
    pub async fn get_rule(&self, uuid: Uuid) -> Result<DetectionRuleRow, ServiceError> {
        rules::get(&self.db, uuid)
            .await?
            .ok_or_else(|| ServiceError::NotFound("Detection rule not found.".into()))
    }

    fn check_rule(f: &RuleFields) -> Result<(), ServiceError> {
        let mut errors = Vec::new();
        if f.name.trim().is_empty() || f.name.chars().count() > 500 {
            errors.push(FieldError::body("name", "name must be 1 to 500 characters"));
        }
        for (name, list) in [
            ("mitre_tactics", &f.mitre_tactics),
            ("mitre_techniques", &f.mitre_techniques),
            ("mitre_subtechniques", &f.mitre_subtechniques),
            ("data_sources", &f.data_sources),
        ] {
            check_lists(name, list, &mut errors);
        }
        ServiceError::check(errors)
    }

    /// Creates a rule.
    pub async fn create_rule(&self, fields: RuleFields) -> Result<DetectionRuleRow, ServiceError> {
        Self::check_rule(&fields)?;
        rules::insert(&self.db, &fields).await.map_err(|e| {
            if e.is_unique_violation() {
                ServiceError::Conflict {
                    code: "DUPLICATE_DETECTION_RULE",
                    message: "A detection rule with this source_name and source_rule_id already exists."
                        .into(),
                }
            } else {
                e.into()
            }
        })
    }

    /// Applies `change` to the rule's editable fields (stub rules from ingest are enriched in place).
    pub async fn patch_rule(
        &self,
        uuid: Uuid,
        change: impl FnOnce(&mut RuleFields),
    ) -> Result<DetectionRuleRow, ServiceError> {
        let current = self.get_rule(uuid).await?;
        let id = current.id;
        let mut fields = RuleFields::from(current);
        change(&mut fields);
        Self::check_rule(&fields)?;
        Ok(rules::update(&self.db, id, &fields).await?)
    }

    /// Deletes a rule.
    pub async fn delete_rule(&self, uuid: Uuid) -> Result<(), ServiceError> {
        if rules::delete(&self.db, uuid).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound("Detection rule not found.".into()))
        }
    }
}
