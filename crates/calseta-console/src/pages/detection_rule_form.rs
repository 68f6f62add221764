//! The detection-rule forms: create (`/detection-rules/new` → `POST /detection-rules`), edit
//! (`/detection-rules/{uuid}/edit`) and delete (`POST /detection-rules/{uuid}/delete`), each with
//! the admin scope REST's `POST`, `PATCH` and `DELETE /v1/detection-rules` take, through the same
//! service calls. A refused form is shown again with what was typed and the service's messages
//! next to the fields they name (`422`), the messages REST answers with.
//!
//! The source name, the SIEM's rule id, the run frequency and the author are set at creation only
//! (REST's `PATCH` does not change them), so the edit form shows them as facts.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use calseta_core::scopes::Scope;
use calseta_services::records::RuleFields;
use serde::Deserialize;

use super::detection_rules::rule_uuid;
use super::forms::{FormErrors, render_refused};
use super::{PageContext, PageError, render, see_other};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// The rule form as typed: lists are comma- or line-separated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RuleForm {
    name: String,
    source_rule_id: String,
    source_name: String,
    severity: String,
    /// A checkbox: present when ticked.
    is_active: Option<String>,
    mitre_tactics: String,
    mitre_techniques: String,
    mitre_subtechniques: String,
    data_sources: String,
    run_frequency: String,
    documentation: String,
}

/// The entries of a list field: split at commas and line breaks, trimmed, empty ones dropped.
fn entries(text: &str) -> Vec<String> {
    text.split([',', '\n']).map(str::trim).filter(|e| !e.is_empty()).map(str::to_string).collect()
}

/// Empty text is "not set".
fn optional(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| text.to_string())
}

impl RuleForm {
    /// The form filled from a stored rule.
    fn of(rule: &calseta_services::records::DetectionRuleRow) -> Self {
        RuleForm {
            name: rule.name.clone(),
            source_rule_id: rule.source_rule_id.clone().unwrap_or_default(),
            source_name: rule.source_name.clone().unwrap_or_default(),
            severity: rule.severity.clone().unwrap_or_default(),
            is_active: rule.is_active.then(|| "on".into()),
            mitre_tactics: rule.mitre_tactics.0.join(", "),
            mitre_techniques: rule.mitre_techniques.0.join(", "),
            mitre_subtechniques: rule.mitre_subtechniques.0.join(", "),
            data_sources: rule.data_sources.0.join(", "),
            run_frequency: rule.run_frequency.clone().unwrap_or_default(),
            documentation: rule.documentation.clone().unwrap_or_default(),
        }
    }
}

/// What the edit form shows of a rule but does not change.
struct Fixed {
    uuid: String,
    name: String,
}

#[derive(Template)]
#[template(path = "detection_rule_form.html")]
struct FormPage {
    ctx: PageContext,
    /// `None`: a new rule.
    editing: Option<Fixed>,
    form: RuleForm,
    errors: FormErrors,
    severities: Vec<&'static str>,
}

fn page(ctx: PageContext, editing: Option<Fixed>, form: RuleForm, errors: FormErrors) -> FormPage {
    FormPage { ctx, editing, form, errors, severities: calseta_core::alerts::Severity::names() }
}

/// `GET /detection-rules/new`: the empty form (admin).
pub async fn new(ctx: PageContext) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let form = RuleForm { is_active: Some("on".into()), ..RuleForm::default() };
    Ok(render(&page(ctx, None, form, FormErrors::none())))
}

/// `POST /detection-rules`: creates the rule as `POST /v1/detection-rules` does (the author is
/// the signed-in key's prefix), then `303` to it; refused input is the form again (`422`).
pub async fn create(
    State(state): State<ConsoleState>,
    SignedForm { ctx, form }: SignedForm<RuleForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let fields = RuleFields {
        name: form.name.clone(),
        source_rule_id: optional(&form.source_rule_id),
        source_name: optional(&form.source_name),
        severity: optional(&form.severity),
        is_active: form.is_active.is_some(),
        mitre_tactics: entries(&form.mitre_tactics),
        mitre_techniques: entries(&form.mitre_techniques),
        mitre_subtechniques: entries(&form.mitre_subtechniques),
        data_sources: entries(&form.data_sources),
        run_frequency: optional(&form.run_frequency),
        created_by: Some(ctx.key().key_prefix.clone()),
        documentation: optional(&form.documentation),
    };
    match state.services().detection_rules.create_rule(fields).await {
        Ok(rule) => Ok(see_other(&format!("/detection-rules/{}", rule.uuid))),
        Err(e) => Ok(render_refused(&page(ctx, None, form, FormErrors::from_service(e)?))),
    }
}

/// `GET /detection-rules/{uuid}/edit`: the form filled from the rule (admin).
pub async fn edit(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let rule = state.services().detection_rules.get_rule(rule_uuid(&raw_uuid)?).await?;
    let fixed = Fixed { uuid: rule.uuid.to_string(), name: rule.name.clone() };
    Ok(render(&page(ctx, Some(fixed), RuleForm::of(&rule), FormErrors::none())))
}

/// `POST /detection-rules/{uuid}/edit`: changes what REST's `PATCH` changes (name, severity,
/// active, the MITRE and data-source lists, documentation), then `303` to the rule.
pub async fn update(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<RuleForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = rule_uuid(&raw_uuid)?;
    let rules = &state.services().detection_rules;
    let typed = form.clone();
    let outcome = rules
        .patch_rule(uuid, |f| {
            f.name = typed.name.clone();
            f.severity = optional(&typed.severity);
            f.is_active = typed.is_active.is_some();
            f.mitre_tactics = entries(&typed.mitre_tactics);
            f.mitre_techniques = entries(&typed.mitre_techniques);
            f.mitre_subtechniques = entries(&typed.mitre_subtechniques);
            f.data_sources = entries(&typed.data_sources);
            f.documentation = optional(&typed.documentation);
        })
        .await;
    match outcome {
        Ok(rule) => Ok(see_other(&format!("/detection-rules/{}", rule.uuid))),
        Err(e) => {
            let errors = FormErrors::from_service(e)?;
            // The facts the form does not change are shown as stored.
            let stored = rules.get_rule(uuid).await?;
            let mut shown = form;
            shown.source_rule_id = stored.source_rule_id.unwrap_or_default();
            shown.source_name = stored.source_name.unwrap_or_default();
            shown.run_frequency = stored.run_frequency.unwrap_or_default();
            let fixed = Fixed { uuid: stored.uuid.to_string(), name: stored.name };
            Ok(render_refused(&page(ctx, Some(fixed), shown, errors)))
        }
    }
}

/// The delete form carries nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct Empty {}

/// `POST /detection-rules/{uuid}/delete`: deletes the rule as `DELETE /v1/detection-rules/{uuid}`
/// does (its alerts stay, unlinked), then `303` to the list.
pub async fn delete(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form: Empty {} }: SignedForm<Empty>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    state.services().detection_rules.delete_rule(rule_uuid(&raw_uuid)?).await?;
    Ok(see_other("/detection-rules"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_fields_split_at_commas_and_lines_and_drop_blanks() {
        assert_eq!(entries(" T1110, T1078\nT1003 ,, \n"), ["T1110", "T1078", "T1003"]);
        assert!(entries("  ").is_empty());
        assert_eq!(optional("  "), None);
        assert_eq!(optional("High").as_deref(), Some("High"));
    }
}
