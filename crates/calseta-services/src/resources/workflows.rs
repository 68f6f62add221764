//! Workflow use cases: create and change workflows (code validated by the runtime's own parser,
//! every code change kept as a version), list and delete them, seed the builtin Okta and Entra
//! workflows, workflow secrets (stored encrypted; values never listed), and the grants that say
//! which workflow may read which secret (confirmed by an admin for one code version).

use std::collections::BTreeSet;
use std::sync::Arc;

use calseta_core::indicators::IndicatorType;
use calseta_core::workflows::{ApprovalMode, RiskLevel, WorkflowState, WorkflowType};
use calseta_store::Db;
use calseta_store::workflows::{
    self as repo, CodeVersionRow, SecretRow, WorkflowFields, WorkflowFilter, WorkflowRow,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::platform::crypto::EncryptionKey;
use crate::platform::workflow_runtime::LazyRuntime;
use crate::resources::body;
use crate::{FieldError, ServiceError};

/// A create or change body, field by field (`null` leaves a field as it is, as in v1).
pub type WorkflowInput = Map<String, Value>;

/// Which identity integrations are configured (builtins for the others start inactive).
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfiguredIntegrations {
    /// `OKTA_DOMAIN` and `OKTA_API_TOKEN`.
    pub okta: bool,
    /// `ENTRA_TENANT_ID`, `ENTRA_CLIENT_ID` and `ENTRA_CLIENT_SECRET`.
    pub entra: bool,
}

/// A builtin workflow: its name, risk, integration and data files.
pub(crate) struct Builtin {
    /// The data files' stem (`okta_suspend_user`): the template key the console offers it under.
    pub(crate) stem: &'static str,
    pub(crate) name: &'static str,
    pub(crate) risk: RiskLevel,
    okta: bool,
    pub(crate) code: &'static str,
    pub(crate) documentation: &'static str,
}

macro_rules! builtin {
    ($name:literal, $risk:ident, $okta:literal, $stem:literal) => {
        Builtin {
            stem: $stem,
            name: $name,
            risk: RiskLevel::$risk,
            okta: $okta,
            code: include_str!(concat!("../../data/workflows/", $stem, ".py")),
            documentation: include_str!(concat!("../../data/workflows/", $stem, ".md")),
        }
    };
}

pub(crate) const BUILTINS: [Builtin; 9] = [
    builtin!("Okta — Revoke All Sessions", Low, true, "okta_revoke_sessions"),
    builtin!("Okta — Suspend User", High, true, "okta_suspend_user"),
    builtin!("Okta — Unsuspend User", Medium, true, "okta_unsuspend_user"),
    builtin!("Okta — Reset Password", Medium, true, "okta_reset_password"),
    builtin!("Okta — Force Password Expiry", Low, true, "okta_expire_password"),
    builtin!("Entra — Revoke Sign-in Sessions", Low, false, "entra_revoke_sessions"),
    builtin!("Entra — Disable Account", High, false, "entra_disable_account"),
    builtin!("Entra — Enable Account", Medium, false, "entra_enable_account"),
    builtin!("Entra — Force MFA Re-registration", High, false, "entra_reset_mfa"),
];

/// The longest workflow code accepted (the validator and the harness read it whole).
const MAX_CODE_BYTES: usize = 256 * 1024;

/// The most secret names one workflow may be granted.
const MAX_GRANTS: usize = 256;

/// `404`, in v1's words, for a workflow that does not exist.
pub(crate) fn not_found(uuid: Uuid) -> ServiceError {
    ServiceError::NotFound(format!("Workflow {uuid} not found"))
}

/// What a workflow secret's name may be: 1 to 128 of `A-Z a-z 0-9 _ - .`.
fn valid_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// The workflow secrets one workflow may read, and whether they are served now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretGrants {
    /// The workflow.
    pub workflow_uuid: Uuid,
    /// The granted names, sorted.
    pub secrets: Vec<String>,
    /// The code version an admin confirmed them for (`None`: never confirmed).
    pub confirmed_code_version: Option<i32>,
    /// The workflow's code version (for a run: the version being run).
    pub code_version: i32,
}

impl SecretGrants {
    /// The grants stored with `row`, for its current code.
    pub fn of(row: &WorkflowRow) -> Self {
        SecretGrants {
            workflow_uuid: row.uuid,
            secrets: row.secret_grants.0.clone(),
            confirmed_code_version: row.secret_grants_confirmed_version,
            code_version: row.code_version,
        }
    }

    /// Grants exist, but the code changed (by a key without `admin`) since an admin confirmed
    /// them: none is served until an admin confirms the current version.
    pub fn suspended(&self) -> bool {
        !self.secrets.is_empty() && self.confirmed_code_version != Some(self.code_version)
    }

    /// Whether a run of this code may read secret `name`; `Err` says why not and what to do, in
    /// words the workflow's author reads in the run's log.
    pub fn check(&self, name: &str) -> Result<(), String> {
        let route = format!("PUT /v1/workflows/{}/secrets", self.workflow_uuid);
        if !self.secrets.iter().any(|s| s == name) {
            return Err(format!(
                "workflow secret '{name}' is not granted to this workflow; an admin grants it with {route}"
            ));
        }
        if self.suspended() {
            let confirmed = self
                .confirmed_code_version
                .map_or_else(|| "never confirmed".to_string(), |v| format!("confirmed for version {v}"));
            return Err(format!(
                "workflow secret '{name}' is not served: this workflow's secret grants are suspended since its \
                 code changed (grants {confirmed}); an admin must confirm version {} with {route}",
                self.code_version
            ));
        }
        Ok(())
    }
}

/// Workflows and workflow secrets.
pub struct WorkflowService {
    db: Db,
    runtime: Arc<LazyRuntime>,
    key: EncryptionKey,
    integrations: ConfiguredIntegrations,
}

impl WorkflowService {
    /// A service validating code with `runtime` and encrypting secrets with `key`.
    pub fn new(
        db: Db,
        runtime: Arc<LazyRuntime>,
        key: EncryptionKey,
        integrations: ConfiguredIntegrations,
    ) -> Self {
        WorkflowService { db, runtime, key, integrations }
    }

    /// One page of workflows.
    pub async fn list(
        &self,
        filter: &WorkflowFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<WorkflowRow>, i64), ServiceError> {
        Ok(repo::list(&self.db, filter, limit, offset).await?)
    }

    /// The `limit` newest workflows and the total (MCP's collection).
    pub async fn newest(&self, limit: i64) -> Result<(Vec<WorkflowRow>, i64), ServiceError> {
        let filter =
            WorkflowFilter { sort_by: "created_at".into(), descending: true, ..WorkflowFilter::default() };
        self.list(&filter, limit, 0).await
    }

    /// Up to `limit` workflows that can run now (active state, switched on), by name: what a
    /// front end offers to execute.
    pub async fn runnable(&self, limit: i64) -> Result<Vec<WorkflowRow>, ServiceError> {
        let filter = WorkflowFilter {
            states: vec![WorkflowState::Active.as_str().to_string()],
            is_active: Some(true),
            sort_by: "name".into(),
            ..WorkflowFilter::default()
        };
        Ok(self.list(&filter, limit, 0).await?.0)
    }

    /// A workflow.
    pub async fn get(&self, uuid: Uuid) -> Result<WorkflowRow, ServiceError> {
        repo::get(&self.db, uuid).await?.ok_or_else(|| not_found(uuid))
    }

    /// Checks code with the interpreter that will run it.
    pub async fn validate_code(&self, code: &str) -> Result<(), ServiceError> {
        if code.len() > MAX_CODE_BYTES {
            return Err(ServiceError::CodeInvalid(vec![format!(
                "Workflow code is larger than {} KB",
                MAX_CODE_BYTES / 1024
            )]));
        }
        let problems = self
            .runtime
            .get()
            .await
            .validate(code)
            .await
            .map_err(crate::platform::workflow_runtime::runtime_error)?;
        if problems.is_empty() { Ok(()) } else { Err(ServiceError::CodeInvalid(problems)) }
    }

    /// Creates a workflow (v1's defaults: draft, always approved, medium risk, 300 s).
    pub async fn create(&self, input: WorkflowInput) -> Result<WorkflowRow, ServiceError> {
        let mut fields = WorkflowFields {
            name: String::new(),
            workflow_type: None,
            indicator_types: Vec::new(),
            code: String::new(),
            state: WorkflowState::Draft,
            timeout_seconds: 300,
            retry_count: 0,
            is_active: true,
            tags: Vec::new(),
            time_saved_minutes: None,
            approval_mode: ApprovalMode::Always,
            approval_channel: None,
            approval_timeout_seconds: 3600,
            risk_level: RiskLevel::Medium,
            documentation: None,
        };
        let mut errors = Vec::new();
        for required in ["name", "code"] {
            if input.get(required).is_none_or(Value::is_null) {
                errors.push(FieldError::body(required, format!("{required} is required")));
            }
        }
        apply(&mut fields, &input, &mut errors);
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        self.validate_code(&fields.code).await?;
        Ok(repo::insert(&self.db, &fields).await?)
    }

    /// Changes a workflow: a new `code` is validated and the old one kept as a version. New code
    /// from an `admin` caller confirms the workflow's secret grants for it; from any other caller
    /// it suspends them until an admin confirms (both recorded in the activity log).
    pub async fn patch(
        &self,
        uuid: Uuid,
        input: WorkflowInput,
        actor: &Actor,
        admin: bool,
    ) -> Result<WorkflowRow, ServiceError> {
        let row = self.get(uuid).await?;
        let (id, read_version) = (row.id, row.code_version);
        let before = SecretGrants::of(&row);
        let mut fields = WorkflowFields::from(row);
        let mut errors = Vec::new();
        apply(&mut fields, &input, &mut errors);
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        let new_code = input.get("code").is_some_and(|c| !c.is_null());
        if new_code {
            self.validate_code(&fields.code).await?;
        }
        let mut tx = self.db.begin().await?;
        let Some(row) = repo::update(&mut tx, id, read_version, &fields, new_code, admin).await? else {
            // Gone, or its code changed since it was read: nothing is written from the stale read.
            self.get(uuid).await?;
            return Err(ServiceError::conflict(
                "WORKFLOW_CODE_CHANGED",
                format!(
                    "Workflow {uuid} changed while this request was processed (its code is no longer version {read_version}); read it and try again."
                ),
            ));
        };
        let after = SecretGrants::of(&row);
        if new_code && !after.secrets.is_empty() {
            let (event, via) = if admin {
                ("workflow_secret_grants_updated", "code_change")
            } else {
                ("workflow_secret_grants_suspended", "code_change_without_admin")
            };
            let refs = json!({"workflow_uuid": row.uuid, "workflow_name": row.name, "secrets": after.secrets,
                              "code_version": after.code_version, "confirmed_code_version": after.confirmed_code_version,
                              "previous_confirmed_code_version": before.confirmed_code_version, "via": via});
            audit::record_workflow(&mut tx, actor, event, None, row.id, refs).await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    /// A workflow's secret grants.
    pub async fn secret_grants(&self, uuid: Uuid) -> Result<SecretGrants, ServiceError> {
        Ok(SecretGrants::of(&self.get(uuid).await?))
    }

    /// Replaces a workflow's secret grants and confirms them for its code (an admin's use case).
    /// `code_version` is the version the admin reviewed: if the code is at another now, nothing
    /// changes (`409 WORKFLOW_CODE_CHANGED`). A name may be granted before its secret exists.
    pub async fn put_secret_grants(
        &self,
        uuid: Uuid,
        names: &[String],
        code_version: i32,
        actor: &Actor,
    ) -> Result<SecretGrants, ServiceError> {
        let mut errors: Vec<FieldError> = names
            .iter()
            .enumerate()
            .filter(|(_, name)| !valid_secret_name(name))
            .map(|(i, _)| FieldError {
                loc: vec!["body".into(), "secrets".into(), i.to_string()],
                msg: "a secret name is 1 to 128 of A-Z a-z 0-9 _ - .".into(),
                kind: "value_error".into(),
            })
            .collect();
        let secrets: Vec<String> = names.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        if secrets.len() > MAX_GRANTS {
            errors.push(FieldError::body("secrets", format!("at most {MAX_GRANTS} secrets may be granted")));
        }
        ServiceError::check(errors)?;
        let row = self.get(uuid).await?;
        let before = SecretGrants::of(&row);
        let reviewed = code_version;
        let changed = |current: i32| {
            ServiceError::conflict(
                "WORKFLOW_CODE_CHANGED",
                format!(
                    "The workflow's code is at version {current}, not {reviewed}: review the current code and confirm it"
                ),
            )
        };
        if reviewed != row.code_version {
            return Err(changed(row.code_version));
        }
        let mut tx = self.db.begin().await?;
        let Some(updated) = repo::set_secret_grants(&mut tx, row.id, &secrets, reviewed).await? else {
            // Changed (or deleted) between the read and the write: the admin has not seen it.
            drop(tx);
            return match repo::get(&self.db, uuid).await? {
                Some(now) => Err(changed(now.code_version)),
                None => Err(not_found(uuid)),
            };
        };
        let after = SecretGrants::of(&updated);
        let refs = json!({"workflow_uuid": updated.uuid, "workflow_name": updated.name, "secrets": after.secrets,
                          "previous_secrets": before.secrets, "code_version": after.code_version,
                          "confirmed_code_version": after.confirmed_code_version,
                          "previous_confirmed_code_version": before.confirmed_code_version,
                          "was_suspended": before.suspended(), "via": "grants"});
        audit::record_workflow(&mut tx, actor, "workflow_secret_grants_updated", None, updated.id, refs)
            .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes a workflow; system workflows stay.
    pub async fn delete(&self, uuid: Uuid) -> Result<(), ServiceError> {
        if self.get(uuid).await?.is_system {
            return Err(ServiceError::forbidden("FORBIDDEN", "System workflows cannot be deleted"));
        }
        if repo::delete(&self.db, uuid).await? { Ok(()) } else { Err(not_found(uuid)) }
    }

    /// The kept code versions, newest first.
    pub async fn versions(&self, uuid: Uuid) -> Result<Vec<CodeVersionRow>, ServiceError> {
        let row = self.get(uuid).await?;
        Ok(repo::versions(&self.db, row.id).await?)
    }

    /// Seeds the builtin workflows that are missing (matched by name; never updated once there).
    pub async fn seed_builtins(&self) -> Result<usize, ServiceError> {
        let present = repo::system_names(&self.db).await?;
        let mut added = 0;
        for builtin in BUILTINS.iter().filter(|b| !present.iter().any(|n| n == b.name)) {
            let fields = WorkflowFields {
                name: builtin.name.into(),
                workflow_type: Some(WorkflowType::Indicator),
                indicator_types: vec![IndicatorType::Account.as_str().into()],
                code: builtin.code.into(),
                state: WorkflowState::Active,
                timeout_seconds: 60,
                retry_count: 0,
                is_active: if builtin.okta { self.integrations.okta } else { self.integrations.entra },
                tags: Vec::new(),
                time_saved_minutes: None,
                approval_mode: ApprovalMode::Always,
                approval_channel: None,
                approval_timeout_seconds: 3600,
                risk_level: builtin.risk,
                documentation: Some(builtin.documentation.into()),
            };
            if repo::insert_builtin(&self.db, &fields).await?.is_some() {
                added += 1;
            }
        }
        Ok(added)
    }

    /// Stores a workflow secret (encrypted), replacing any of the same name.
    pub async fn put_secret(&self, name: &str, value: &str) -> Result<SecretRow, ServiceError> {
        if !valid_secret_name(name) {
            return Err(ServiceError::invalid("name", "a secret name is 1 to 128 of A-Z a-z 0-9 _ - ."));
        }
        if value.len() > 64 * 1024 {
            return Err(ServiceError::invalid("value", "a secret value is at most 64 KB"));
        }
        let token = self.key.encrypt(value.as_bytes())?;
        Ok(repo::put_secret(&self.db, name, &token).await?)
    }

    /// Every secret's name and times.
    pub async fn secrets(&self) -> Result<Vec<SecretRow>, ServiceError> {
        Ok(repo::list_secrets(&self.db).await?)
    }

    /// A secret's value, for a running workflow only (`None` when absent or unreadable).
    pub async fn secret_value(&self, name: &str) -> Result<Option<String>, ServiceError> {
        let Some(token) = repo::secret_value(&self.db, name).await? else { return Ok(None) };
        Ok(self.key.decrypt(&token).and_then(|bytes| String::from_utf8(bytes).ok()))
    }

    /// Deletes a secret.
    pub async fn delete_secret(&self, name: &str) -> Result<(), ServiceError> {
        if repo::delete_secret(&self.db, name).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!("Workflow secret '{name}' not found")))
        }
    }
}

fn choice<T>(
    key: &str,
    value: &Value,
    parse: impl Fn(&str) -> Result<T, calseta_core::UnknownValue>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let text = body::text(key, value, errors)?;
    match parse(&text) {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            errors.push(FieldError::body(key, e.to_string()));
            None
        }
    }
}

fn bounded(key: &str, value: &Value, min: i64, max: i64, errors: &mut Vec<FieldError>) -> Option<i32> {
    match body::integer(value).filter(|v| (min..=max).contains(v)) {
        Some(v) => i32::try_from(v).ok(),
        None => {
            errors.push(FieldError::body(key, format!("{key} must be an integer from {min} to {max}")));
            None
        }
    }
}

/// Applies the fields present (and not `null`) in `input`.
fn apply(f: &mut WorkflowFields, input: &WorkflowInput, errors: &mut Vec<FieldError>) {
    for (key, value) in input {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "name" => match body::text(key, value, errors)
                .filter(|t| !t.trim().is_empty() && t.chars().count() <= 255)
            {
                Some(t) => f.name = t,
                None => errors.push(FieldError::body(key, "name must be 1 to 255 characters")),
            },
            "workflow_type" => {
                f.workflow_type = choice(key, value, WorkflowType::parse, errors).or(f.workflow_type)
            }
            "indicator_types" => {
                let types = body::strings(key, value, errors);
                if let Some(bad) = types.iter().find(|t| IndicatorType::parse(t).is_err()) {
                    errors.push(FieldError::body(key, format!("'{bad}' is not an indicator type")));
                }
                f.indicator_types = types;
            }
            "code" => match body::text(key, value, errors) {
                Some(code) if !code.trim().is_empty() => f.code = code,
                _ => errors.push(FieldError::body(key, "code must be non-empty Python source")),
            },
            "state" => {
                if let Some(state) = choice(key, value, WorkflowState::parse, errors) {
                    // v1: the state sets is_active unless the same request sets it.
                    if input.get("is_active").is_none_or(Value::is_null) {
                        f.is_active = state == WorkflowState::Active;
                    }
                    f.state = state;
                }
            }
            "timeout_seconds" => {
                f.timeout_seconds = bounded(key, value, 1, 3600, errors).unwrap_or(f.timeout_seconds)
            }
            "retry_count" => f.retry_count = bounded(key, value, 0, 10, errors).unwrap_or(f.retry_count),
            "is_active" => f.is_active = body::flag(key, value, errors).unwrap_or(f.is_active),
            "tags" => {
                let tags = body::strings(key, value, errors);
                if tags.iter().any(|t| t.trim().is_empty() || t.chars().count() > 255) {
                    errors.push(FieldError::body(key, "tags must be 1 to 255 characters"));
                }
                f.tags = tags;
            }
            "time_saved_minutes" => f.time_saved_minutes = bounded(key, value, 0, 1_000_000, errors),
            "approval_mode" => {
                f.approval_mode = choice(key, value, ApprovalMode::parse, errors).unwrap_or(f.approval_mode)
            }
            "approval_channel" => f.approval_channel = body::text(key, value, errors),
            "approval_timeout_seconds" => {
                f.approval_timeout_seconds =
                    bounded(key, value, 60, 30 * 86_400, errors).unwrap_or(f.approval_timeout_seconds)
            }
            "risk_level" => {
                f.risk_level = choice(key, value, RiskLevel::parse, errors).unwrap_or(f.risk_level)
            }
            "documentation" => f.documentation = body::text(key, value, errors),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::{SecretGrants, valid_secret_name};

    fn grants(secrets: &[&str], confirmed: Option<i32>, code_version: i32) -> SecretGrants {
        SecretGrants {
            workflow_uuid: Uuid::nil(),
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
            confirmed_code_version: confirmed,
            code_version,
        }
    }

    #[test]
    fn only_granted_names_of_confirmed_code_are_served() {
        let confirmed = grants(&["API_TOKEN"], Some(2), 2);
        assert_eq!(confirmed.check("API_TOKEN"), Ok(()));
        assert!(!confirmed.suspended());
        let refused = confirmed.check("OTHER").unwrap_err();
        assert!(refused.starts_with("workflow secret 'OTHER' is not granted to this workflow"), "{refused}");
        assert!(refused.ends_with(&format!("PUT /v1/workflows/{}/secrets", Uuid::nil())), "{refused}");

        let suspended = grants(&["API_TOKEN"], Some(2), 3);
        assert!(suspended.suspended());
        let refused = suspended.check("API_TOKEN").unwrap_err();
        assert!(refused.contains("suspended since its code changed"), "{refused}");
        assert!(refused.contains("confirm version 3"), "{refused}");
        // A name never granted is refused as such, suspended or not.
        assert!(suspended.check("OTHER").unwrap_err().contains("is not granted"));
        // Nothing granted is nothing suspended.
        assert!(!grants(&[], Some(1), 4).suspended());
    }

    #[test]
    fn secret_names_follow_one_rule() {
        for name in ["A", "api_token", "okta.token-2", &"x".repeat(128)] {
            assert!(valid_secret_name(name), "{name}");
        }
        for name in ["", "bad name", "slash/", "é", &"x".repeat(129)] {
            assert!(!valid_secret_name(name), "{name}");
        }
    }
}
