//! The context-document editor: create and edit forms with the **targeting-rule builder** and its
//! **preview**, and **uploads** converted to Markdown and shown for review before anything is
//! saved.
//!
//! The builder is a list of condition rows (`cond_group_N` all/any, `cond_field_N`, `cond_op_N`,
//! `cond_value_N`) that becomes the JSON REST's `targeting_rules` takes (`match_all` from the
//! "all" rows, `match_any` from the "any" rows; an `in` value is a comma-separated list), or the
//! document is global. Without JavaScript, "Add condition", "Remove" and "Preview" are submit
//! buttons that show the form again; with it, `assets/app.js` asks `POST
//! /context-documents/preview` for the preview as conditions change. Every check is the
//! services': a refused rule comes back as REST's message, put next to the row it is about.
//!
//! Document bodies, titles and alert titles in the preview were written by someone else: escaped
//! text only (the editor never renders the Markdown; the detail page does, sanitized).

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use calseta_core::scopes::Scope;
use calseta_core::targeting::{FIELDS, OPS};
use calseta_services::ServiceError;
use calseta_services::error::FieldError;
use calseta_services::records::DocumentFields;
use calseta_services::resources::context_documents::{DOCUMENT_TYPES, PREVIEW_WINDOW, TargetingPreview};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::forms::{FormErrors, render_refused};
use super::{PageContext, PageError, path_uuid, render, see_other};
use crate::session::{SignedForm, SignedUpload};
use crate::state::ConsoleState;

/// The most condition rows a form may carry (more are ignored, never an error page).
const MAX_CONDITIONS: usize = 50;
/// How many matching alerts a preview lists.
const PREVIEW_EXAMPLES: usize = 10;
/// The formats an upload accepts, for the file input's `accept` (the converter decides).
const UPLOAD_ACCEPT: &str = ".md,.markdown,.txt,.html,.htm,.pdf,.docx,.pptx";

/// One condition row of the builder, as typed.
#[derive(Debug, Clone)]
pub(crate) struct ConditionRow {
    /// `all` (every such row must hold) or `any` (one such row must hold).
    pub group: String,
    pub field: String,
    pub op: String,
    pub value: String,
}

impl ConditionRow {
    fn blank() -> Self {
        ConditionRow { group: "all".into(), field: "severity".into(), op: "eq".into(), value: String::new() }
    }

    /// The rule REST's `targeting_rules` holds for this row (`in` takes a list).
    fn rule(&self) -> Value {
        let value = if self.op == "in" {
            Value::Array(
                self.value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| Value::String(v.to_string()))
                    .collect(),
            )
        } else {
            Value::String(self.value.trim().to_string())
        };
        json!({"field": self.field, "op": self.op, "value": value})
    }
}

/// The editor's form, as typed (or as read from a saved document).
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub title: String,
    pub document_type: String,
    pub description: String,
    /// Comma-separated.
    pub tags: String,
    pub content: String,
    /// Attached to every alert; the conditions are then not used.
    pub global: bool,
    pub rows: Vec<ConditionRow>,
    /// The uploaded file the content was converted from (review of an upload).
    pub source_file: String,
}

/// The rules a draft builds, and which row each rule came from (so a refusal of
/// `match_all[1]` is shown at its row).
struct Built {
    rules: Option<Value>,
    all_rows: Vec<usize>,
    any_rows: Vec<usize>,
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl Draft {
    fn empty() -> Self {
        Draft {
            title: String::new(),
            document_type: "runbook".into(),
            description: String::new(),
            tags: String::new(),
            content: String::new(),
            global: false,
            rows: vec![ConditionRow::blank()],
            source_file: String::new(),
        }
    }

    /// A saved document as the form shows it.
    fn of_document(
        title: &str,
        document_type: &str,
        description: Option<&str>,
        tags: &[String],
        content: &str,
        global: bool,
        rules: Option<&Value>,
    ) -> Self {
        let mut rows = Vec::new();
        for (key, group) in [("match_all", "all"), ("match_any", "any")] {
            for rule in rules.and_then(|r| r.get(key)).and_then(Value::as_array).into_iter().flatten() {
                rows.push(ConditionRow {
                    group: group.into(),
                    field: text(&rule["field"]),
                    op: text(&rule["op"]),
                    value: text(&rule["value"]),
                });
            }
        }
        if rows.is_empty() {
            rows.push(ConditionRow::blank());
        }
        Draft {
            title: title.into(),
            document_type: document_type.into(),
            description: description.unwrap_or_default().into(),
            tags: tags.join(", "),
            content: content.into(),
            global,
            rows,
            source_file: String::new(),
        }
    }

    /// The form's fields (repeated rows by their number, in order) and the button pressed.
    fn from_pairs(pairs: &[(String, String)]) -> (Self, String) {
        let get = |name: &str| pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut indices: Vec<usize> = pairs
            .iter()
            .filter_map(|(k, _)| {
                let rest = k.strip_prefix("cond_")?;
                let (_, number) = rest.rsplit_once('_')?;
                number.parse::<usize>().ok()
            })
            .collect();
        indices.sort_unstable();
        indices.dedup();
        let rows = indices
            .into_iter()
            .take(MAX_CONDITIONS)
            .map(|i| {
                let blank = ConditionRow::blank();
                ConditionRow {
                    group: get(&format!("cond_group_{i}")).unwrap_or(blank.group),
                    field: get(&format!("cond_field_{i}")).unwrap_or(blank.field),
                    op: get(&format!("cond_op_{i}")).unwrap_or(blank.op),
                    value: get(&format!("cond_value_{i}")).unwrap_or_default(),
                }
            })
            .collect();
        let draft = Draft {
            title: get("title").unwrap_or_default(),
            document_type: get("document_type").unwrap_or_default(),
            description: get("description").unwrap_or_default(),
            tags: get("tags").unwrap_or_default(),
            content: get("content").unwrap_or_default(),
            global: get("scope").as_deref() == Some("global"),
            rows,
            source_file: get("source_file").unwrap_or_default(),
        };
        (draft, get("action").unwrap_or_else(|| "save".into()))
    }

    /// The targeting rules the rows build: rows without a value are left out, and no rule at all
    /// (or a global document) is no rules.
    fn built(&self) -> Built {
        let mut built = Built { rules: None, all_rows: Vec::new(), any_rows: Vec::new() };
        if self.global {
            return built;
        }
        let (mut all, mut any) = (Vec::new(), Vec::new());
        for (i, row) in self.rows.iter().enumerate() {
            if row.value.trim().is_empty() {
                continue;
            }
            if row.group == "any" {
                any.push(row.rule());
                built.any_rows.push(i);
            } else {
                all.push(row.rule());
                built.all_rows.push(i);
            }
        }
        let mut map = Map::new();
        if !all.is_empty() {
            map.insert("match_all".into(), Value::Array(all));
        }
        if !any.is_empty() {
            map.insert("match_any".into(), Value::Array(any));
        }
        built.rules = (!map.is_empty()).then_some(Value::Object(map));
        built
    }

    /// The document's fields as REST's body would carry them.
    fn fields(&self) -> DocumentFields {
        DocumentFields {
            title: self.title.clone(),
            document_type: self.document_type.clone(),
            is_global: self.global,
            targeting_rules: self.built().rules,
            description: Some(self.description.clone()).filter(|d| !d.trim().is_empty()),
            content: self.content.clone(),
            tags: self.tags.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect(),
            version: 1,
        }
    }
}

/// The refusal `error` as form errors, with each targeting problem (`match_all[1].op must be …`)
/// at the row it names: REST's message, split at its `; ` into one message per problem.
fn refusal(error: ServiceError, built: &Built) -> Result<FormErrors, PageError> {
    let ServiceError::Invalid(fields) = error else { return FormErrors::from_service(error) };
    let (targeting, rest): (Vec<FieldError>, Vec<FieldError>) =
        fields.into_iter().partition(|f| f.loc.last().is_some_and(|l| l == "targeting_rules"));
    let mut errors = FormErrors::from_service(ServiceError::Invalid(rest))?;
    for problem in targeting.iter().flat_map(|f| f.msg.split("; ")) {
        match row_of(problem, built) {
            Some((row, part)) => errors.add(&format!("cond_{part}_{row}"), problem),
            None => errors.add("targeting_rules", problem),
        }
    }
    Ok(errors)
}

/// The row and input (`field`, `op` or `value`) a problem such as `match_any[0].op must be …` or
/// `match_all[2] is missing 'value'` is about.
fn row_of(problem: &str, built: &Built) -> Option<(usize, &'static str)> {
    let (rows, rest) = if let Some(rest) = problem.strip_prefix("match_all[") {
        (&built.all_rows, rest)
    } else {
        (&built.any_rows, problem.strip_prefix("match_any[")?)
    };
    let (index, rest) = rest.split_once(']')?;
    let row = *rows.get(index.parse::<usize>().ok()?)?;
    let part = if rest.starts_with(".op") || rest.contains("'op'") {
        "op"
    } else if rest.starts_with(".value") || rest.contains("'value'") {
        "value"
    } else {
        "field"
    };
    Some((row, part))
}

/// One alert of a preview.
pub(crate) struct ExampleView {
    pub uuid: String,
    pub title: String,
    pub severity: String,
    pub source_name: String,
    /// The name of its detection rule, when it has one.
    pub detection_rule: Option<String>,
    pub clauses: String,
}

/// A preview as the editor shows it.
pub(crate) struct PreviewView {
    pub considered: usize,
    pub matched: usize,
    pub examples: Vec<ExampleView>,
}

impl From<TargetingPreview> for PreviewView {
    fn from(p: TargetingPreview) -> Self {
        PreviewView {
            considered: p.considered,
            matched: p.matched,
            examples: p
                .examples
                .into_iter()
                .map(|e| ExampleView {
                    uuid: e.uuid.to_string(),
                    title: e.title,
                    severity: e.severity.as_str().to_string(),
                    source_name: e.source_name,
                    detection_rule: e.detection_rule,
                    clauses: e.clauses.join(" and "),
                })
                .collect(),
        }
    }
}

/// A condition row as the template shows it: its inputs' names (`cond_field_3`) precomputed.
pub(crate) struct RowView {
    pub index: usize,
    pub number: usize,
    pub group: String,
    pub field: String,
    pub op: String,
    pub value: String,
    /// Whether the field and operator are among the builder's choices (a tampered or old value
    /// is shown as itself, so what was refused is visible).
    pub field_known: bool,
    pub op_known: bool,
    pub n_group: String,
    pub n_field: String,
    pub n_op: String,
    pub n_value: String,
}

impl RowView {
    fn of(index: usize, row: &ConditionRow) -> Self {
        RowView {
            index,
            number: index + 1,
            group: row.group.clone(),
            field: row.field.clone(),
            op: row.op.clone(),
            value: row.value.clone(),
            field_known: FIELDS.contains(&row.field.as_str()),
            op_known: OPS.contains(&row.op.as_str()),
            n_group: format!("cond_group_{index}"),
            n_field: format!("cond_field_{index}"),
            n_op: format!("cond_op_{index}"),
            n_value: format!("cond_value_{index}"),
        }
    }
}

/// A builder choice: its value and label.
pub(crate) struct Choice {
    pub value: &'static str,
    pub label: &'static str,
}

fn field_choices() -> Vec<Choice> {
    FIELDS
        .iter()
        .map(|f| Choice {
            value: f,
            label: match *f {
                "source_name" => "Source",
                "severity" => "Severity",
                "tags" => "Tags",
                "detection_rule" => "Detection rule",
                _ => f,
            },
        })
        .collect()
}

fn op_choices() -> Vec<Choice> {
    OPS.iter()
        .map(|o| Choice {
            value: o,
            label: match *o {
                "eq" => "is",
                "in" => "is one of (a, b…)",
                "contains" => "contains",
                "gte" => "is at least (severity)",
                "lte" => "is at most (severity)",
                _ => o,
            },
        })
        .collect()
}

#[derive(Template)]
#[template(path = "document_editor.html")]
struct Editor {
    ctx: PageContext,
    /// `None`: a new document.
    uuid: Option<String>,
    draft: Draft,
    rows: Vec<RowView>,
    errors: FormErrors,
    preview: Option<PreviewView>,
    /// Whether the key may read alerts (and so see the preview).
    can_preview: bool,
    /// The rules the conditions build, as JSON (REST's `targeting_rules`).
    rules_json: String,
    types: [&'static str; 6],
    fields: Vec<Choice>,
    ops: Vec<Choice>,
    window: i64,
}

impl Editor {
    fn action(&self) -> String {
        match &self.uuid {
            Some(uuid) => format!("/context-documents/{uuid}/edit"),
            None => "/context-documents/new".to_string(),
        }
    }
}

/// Shows the editor for `draft`, with its preview (or the preview's refusal among `errors`).
async fn editor(
    state: &ConsoleState,
    ctx: PageContext,
    uuid: Option<Uuid>,
    draft: Draft,
    mut errors: FormErrors,
) -> Result<Editor, PageError> {
    let built = draft.built();
    // The preview shows alerts, which only a key that may read alerts sees (alerts:write alone
    // saves documents, as REST's create does, but does not read alerts).
    let can_preview = ctx.allows(Scope::AlertsRead);
    let preview = if errors.is_empty() && can_preview {
        match state
            .services()
            .documents
            .preview_targeting(draft.global, built.rules.as_ref(), PREVIEW_EXAMPLES)
            .await
        {
            Ok(preview) => Some(PreviewView::from(preview)),
            Err(e) => {
                errors = refusal(e, &built)?;
                None
            }
        }
    } else {
        None
    };
    let rules_json = built
        .rules
        .as_ref()
        .map(|r| serde_json::to_string_pretty(r).unwrap_or_default())
        .unwrap_or_else(|| "null".into());
    Ok(Editor {
        ctx,
        uuid: uuid.map(|u| u.to_string()),
        rows: draft.rows.iter().enumerate().map(|(i, r)| RowView::of(i, r)).collect(),
        draft,
        errors,
        preview,
        can_preview,
        rules_json,
        types: DOCUMENT_TYPES,
        fields: field_choices(),
        ops: op_choices(),
        window: PREVIEW_WINDOW,
    })
}

fn parse_uuid(raw: &str) -> Result<Uuid, PageError> {
    path_uuid(raw, "There is no context document with this id.")
}

/// `GET /context-documents/new`: an empty editor.
pub async fn new_form(ctx: PageContext, State(state): State<ConsoleState>) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsWrite)?;
    Ok(render(&editor(&state, ctx, None, Draft::empty(), FormErrors::none()).await?))
}

/// `GET /context-documents/{uuid}/edit`: the editor with the document as saved.
pub async fn edit_form(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsWrite)?;
    let uuid = parse_uuid(&raw)?;
    let d = state.services().documents.get_document(uuid).await?;
    let draft = Draft::of_document(
        &d.title,
        &d.document_type,
        d.description.as_deref(),
        &d.tags.0,
        &d.content,
        d.is_global,
        d.targeting_rules.as_ref().map(|r| &r.0),
    );
    Ok(render(&editor(&state, ctx, Some(uuid), draft, FormErrors::none()).await?))
}

/// `POST /context-documents/new`: the editor's buttons — save (then the document's page),
/// or add/remove a condition or preview (the form again).
pub async fn create(
    State(state): State<ConsoleState>,
    SignedForm { ctx, form }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    submit(state, ctx, None, form).await
}

/// `POST /context-documents/{uuid}/edit`: as [`create`], saving over the document.
pub async fn update(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, form }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let uuid = parse_uuid(&raw)?;
    submit(state, ctx, Some(uuid), form).await
}

async fn submit(
    state: ConsoleState,
    ctx: PageContext,
    uuid: Option<Uuid>,
    form: Vec<(String, String)>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsWrite)?;
    let (mut draft, action) = Draft::from_pairs(&form);
    match action.as_str() {
        "add" => {
            if draft.rows.len() < MAX_CONDITIONS {
                draft.rows.push(ConditionRow::blank());
            }
        }
        "preview" => {}
        "save" => {
            let documents = &state.services().documents;
            let fields = draft.fields();
            let saved = match uuid {
                None => documents.create_document(fields).await,
                Some(uuid) => {
                    documents
                        .patch_document(uuid, |f| {
                            let version = f.version;
                            *f = DocumentFields { version, ..fields };
                        })
                        .await
                }
            };
            return match saved {
                Ok(row) => Ok(see_other(&format!("/context-documents/{}", row.uuid))),
                Err(e) => {
                    let errors = refusal(e, &draft.built())?;
                    Ok(render_refused(&editor(&state, ctx, uuid, draft, errors).await?))
                }
            };
        }
        other => match other.strip_prefix("remove_").and_then(|n| n.parse::<usize>().ok()) {
            Some(row) if row < draft.rows.len() => {
                draft.rows.remove(row);
                if draft.rows.is_empty() {
                    draft.rows.push(ConditionRow::blank());
                }
            }
            _ => return Err(PageError::bad_request("The form was sent with an unknown button.")),
        },
    }
    let page = editor(&state, ctx, uuid, draft, FormErrors::none()).await?;
    Ok(if page.errors.is_empty() { render(&page) } else { render_refused(&page) })
}

/// `POST /context-documents/preview`: the preview of the editor's conditions as JSON, for
/// `assets/app.js` (the same fields as the form; `422` with the refusals per input). It lists
/// alerts, so it also takes `alerts:read`.
pub async fn preview(
    State(state): State<ConsoleState>,
    SignedForm { ctx, form }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsWrite)?;
    ctx.require_scope(Scope::AlertsRead)?;
    let (draft, _) = Draft::from_pairs(&form);
    let built = draft.built();
    let found = state
        .services()
        .documents
        .preview_targeting(draft.global, built.rules.as_ref(), PREVIEW_EXAMPLES)
        .await;
    Ok(match found {
        Ok(preview) => {
            let view = PreviewView::from(preview);
            let examples: Vec<Value> = view
                .examples
                .iter()
                .map(|e| {
                    json!({"uuid": e.uuid, "title": e.title, "severity": e.severity,
                           "source_name": e.source_name, "detection_rule": e.detection_rule,
                           "clauses": e.clauses})
                })
                .collect();
            Json(json!({"considered": view.considered, "matched": view.matched, "window": PREVIEW_WINDOW,
                        "examples": examples, "targeting_rules": built.rules}))
            .into_response()
        }
        Err(e) => {
            let errors = refusal(e, &built)?;
            let mut messages: Vec<Value> = errors
                .all_fields()
                .map(|(field, message)| json!({"field": field, "message": message}))
                .collect();
            messages.extend(errors.general.iter().map(|m| json!({"field": null, "message": m})));
            (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"errors": messages}))).into_response()
        }
    })
}

#[derive(Template)]
#[template(path = "document_upload.html")]
struct Upload {
    ctx: PageContext,
    errors: FormErrors,
    title: String,
    document_type: String,
    types: [&'static str; 6],
    accept: &'static str,
}

/// `GET /context-documents/upload`: the upload form.
pub async fn upload_form(ctx: PageContext) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsWrite)?;
    Ok(render(&Upload {
        ctx,
        errors: FormErrors::none(),
        title: String::new(),
        document_type: "runbook".into(),
        types: DOCUMENT_TYPES,
        accept: UPLOAD_ACCEPT,
    }))
}

/// `POST /context-documents/upload`: converts the file with the converter REST's upload uses and
/// shows the editor with the text for review; nothing is saved until that form is.
pub async fn upload(
    State(state): State<ConsoleState>,
    SignedUpload { ctx, fields, file }: SignedUpload,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsWrite)?;
    let title = fields.get("title").map(|t| t.trim().to_string()).unwrap_or_default();
    let document_type = fields.get("document_type").cloned().unwrap_or_default();
    let refused = |ctx: PageContext, errors: FormErrors| {
        render_refused(&Upload {
            ctx,
            errors,
            title: title.clone(),
            document_type: document_type.clone(),
            types: DOCUMENT_TYPES,
            accept: UPLOAD_ACCEPT,
        })
    };
    let Some((filename, bytes)) = file.filter(|(name, _)| !name.is_empty()) else {
        let mut errors = FormErrors::none();
        errors.add("file", "Choose a file to upload.");
        return Ok(refused(ctx, errors));
    };
    let content = match state.services().documents.convert_upload(&filename, &bytes).await {
        Ok(content) => content,
        // The file's refusal (its format, a file that cannot be read) belongs at the file input.
        Err(ServiceError::Unprocessable { code, message }) => {
            let mut errors = FormErrors::none();
            errors.add("file", format!("{message} ({code})"));
            return Ok(refused(ctx, errors));
        }
        Err(other) => return Ok(refused(ctx, FormErrors::from_service(other)?)),
    };
    let stem = filename.rsplit_once('.').map_or(filename.as_str(), |(stem, _)| stem);
    let mut draft = Draft::empty();
    draft.title = if title.is_empty() { stem.to_string() } else { title.clone() };
    draft.document_type = document_type.clone();
    draft.content = content;
    draft.source_file = filename.clone();
    Ok(render(&editor(&state, ctx, None, draft, FormErrors::none()).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn rows_build_the_json_rest_takes() {
        let (draft, action) = Draft::from_pairs(&pairs(&[
            ("cond_group_0", "all"),
            ("cond_field_0", "severity"),
            ("cond_op_0", "gte"),
            ("cond_value_0", "High"),
            ("cond_group_2", "any"),
            ("cond_field_2", "tags"),
            ("cond_op_2", "in"),
            ("cond_value_2", "vip, finance,"),
            ("cond_group_1", "any"),
            ("cond_field_1", "source_name"),
            ("cond_op_1", "eq"),
            ("cond_value_1", ""),
            ("action", "preview"),
        ]));
        assert_eq!(action, "preview");
        assert_eq!(draft.rows.len(), 3);
        let built = draft.built();
        assert_eq!(
            built.rules,
            Some(json!({"match_all": [{"field": "severity", "op": "gte", "value": "High"}],
                        "match_any": [{"field": "tags", "op": "in", "value": ["vip", "finance"]}]}))
        );
        assert_eq!((built.all_rows, built.any_rows), (vec![0], vec![2]));
    }

    #[test]
    fn a_saved_documents_rules_become_rows_again() {
        let rules = json!({"match_any": [{"field": "tags", "op": "in", "value": ["a", "b"]}],
                           "match_all": [{"field": "severity", "op": "eq", "value": "Low"}]});
        let draft = Draft::of_document("t", "sop", None, &[], "c", false, Some(&rules));
        assert_eq!(draft.rows.len(), 2);
        assert_eq!((draft.rows[0].group.as_str(), draft.rows[0].value.as_str()), ("all", "Low"));
        assert_eq!((draft.rows[1].group.as_str(), draft.rows[1].value.as_str()), ("any", "a, b"));
        assert_eq!(draft.built().rules, Some(rules));
        assert_eq!(Draft::of_document("t", "sop", None, &[], "c", true, None).built().rules, None);
    }

    #[test]
    fn targeting_refusals_land_on_their_rows() {
        let built = Built { rules: None, all_rows: vec![1, 3], any_rows: vec![0] };
        let error = ServiceError::Invalid(vec![
            FieldError::body(
                "targeting_rules",
                "match_all[1].field must be one of source_name, severity, tags, detection_rule; match_any[0].op must be one of x; \
                 match_all[0] is missing 'value'; targeting_rules needs match_any or match_all",
            ),
            FieldError::body("title", "title must be 1 to 500 characters"),
        ]);
        let errors = refusal(error, &built).unwrap();
        assert_eq!(
            errors.field("cond_field_3").as_deref(),
            Some("match_all[1].field must be one of source_name, severity, tags, detection_rule")
        );
        assert_eq!(errors.field("cond_op_0").as_deref(), Some("match_any[0].op must be one of x"));
        assert_eq!(errors.field("cond_value_1").as_deref(), Some("match_all[0] is missing 'value'"));
        assert_eq!(
            errors.field("targeting_rules").as_deref(),
            Some("targeting_rules needs match_any or match_all")
        );
        assert!(errors.invalid("title"));
    }
}
