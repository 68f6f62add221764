//! `/context-documents`: the list of context documents (title, type, global or targeted, last
//! change), paged as REST pages them, and each document's page — its Markdown rendered through
//! [`crate::markdown`] (sanitized), its targeting rules as sentences, and delete. Creating,
//! editing and uploading are [`super::document_editor`]'s.
//!
//! Titles, descriptions, tags and bodies were written by whoever made the document (an upload
//! can come from anywhere): escaped text, and sanitized HTML for the body only.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use calseta_core::scopes::Scope;
use calseta_services::params::{DocumentSearch, ListParams, Paging, RawArgs};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::listing::{Filters, Pager, Shown, query_errors};
use super::{PageContext, PageError, path_uuid, render, see_other};
use crate::markdown::{self, SafeHtml};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// How a document chooses its alerts, in a few words.
fn applies_to(is_global: bool, rules: Option<&Value>) -> String {
    if is_global {
        return "Global: every alert".into();
    }
    let count = |key: &str| rules.and_then(|r| r.get(key)).and_then(Value::as_array).map_or(0, Vec::len);
    match (count("match_all"), count("match_any")) {
        (0, 0) => "Every alert (no conditions)".into(),
        (all, 0) => format!("Targeted: all of {all} condition{}", if all == 1 { "" } else { "s" }),
        (0, any) => format!("Targeted: any of {any} condition{}", if any == 1 { "" } else { "s" }),
        (all, any) => format!("Targeted: all of {all} and any of {any} conditions"),
    }
}

/// One rule as a sentence: `severity gte High`, `tags in [vip, finance]`.
fn sentence(rule: &Value) -> String {
    let part = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let value = match &rule["value"] {
        Value::Array(items) => format!("[{}]", items.iter().map(part).collect::<Vec<_>>().join(", ")),
        other => part(other),
    };
    format!("{} {} {value}", part(&rule["field"]), part(&rule["op"]))
}

/// One row of the list.
struct Row {
    uuid: String,
    title: String,
    document_type: String,
    global: bool,
    applies_to: String,
    version: i32,
    updated: Shown,
}

#[derive(Template)]
#[template(path = "documents.html")]
struct List {
    ctx: PageContext,
    rows: Vec<Row>,
    pager: Pager,
    errors: Vec<String>,
    can_write: bool,
}

/// `GET /context-documents`: one page of documents, newest first (REST's query parameters:
/// `page`, `page_size`, `document_type`, `is_global`, `sort_by`, `sort_order`).
pub async fn list(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsRead)?;
    let filters = Filters::from_query(raw.as_deref());
    let encoded = filters.encoded();
    let mut page = List {
        rows: Vec::new(),
        pager: Pager::default(),
        errors: Vec::new(),
        can_write: ctx.allows(Scope::AlertsWrite),
        ctx,
    };
    let parsed = RawArgs::from_query(Some(&encoded), DocumentSearch::REPEATED)
        .parse::<DocumentSearch>()
        .map_err(|e| e.to_string())
        .and_then(|search| search.to_query(Paging::REST).map_err(|e| e.to_string()));
    match parsed {
        Err(e) => {
            page.errors = query_errors(&e);
            let mut response = render(&page);
            *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(response);
        }
        Ok((filter, request)) => {
            let (rows, total) =
                state.services().documents.list_documents(&filter, request.limit(), request.offset()).await?;
            page.pager = Pager::new("/context-documents", &filters, request, total);
            page.rows = rows
                .into_iter()
                .map(|d| Row {
                    uuid: d.uuid.to_string(),
                    applies_to: applies_to(d.is_global, d.targeting_rules.as_ref().map(|r| &r.0)),
                    global: d.is_global,
                    title: d.title,
                    document_type: d.document_type,
                    version: d.version,
                    updated: d.updated_at.into(),
                })
                .collect();
        }
    }
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "document_detail.html")]
struct Detail {
    ctx: PageContext,
    uuid: String,
    title: String,
    document_type: String,
    description: Option<String>,
    tags: Vec<String>,
    version: i32,
    global: bool,
    applies_to: String,
    all_of: Vec<String>,
    any_of: Vec<String>,
    created: Shown,
    updated: Shown,
    content: SafeHtml,
    /// (matched, considered) of the newest alerts, when the rules could be evaluated.
    reach: Option<(usize, usize)>,
    can_write: bool,
}

fn parse_uuid(raw: &str) -> Result<Uuid, PageError> {
    path_uuid(raw, "There is no context document with this id.")
}

/// `GET /context-documents/{uuid}`: the document.
pub async fn show(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsRead)?;
    let d = state.services().documents.get_document(parse_uuid(&raw)?).await?;
    let rules = d.targeting_rules.as_ref().map(|r| &r.0);
    // How the saved rules choose among the newest alerts, as the editor's preview counts them.
    let reach = state.services().documents.preview_targeting(d.is_global, rules, 0).await.ok();
    let list = |key: &str| -> Vec<String> {
        rules.and_then(|r| r.get(key)).and_then(Value::as_array).into_iter().flatten().map(sentence).collect()
    };
    let page = Detail {
        uuid: d.uuid.to_string(),
        applies_to: applies_to(d.is_global, rules),
        all_of: if d.is_global { Vec::new() } else { list("match_all") },
        any_of: if d.is_global { Vec::new() } else { list("match_any") },
        global: d.is_global,
        content: markdown::render(&d.content),
        reach: reach.map(|r| (r.matched, r.considered)),
        title: d.title,
        document_type: d.document_type,
        description: d.description.filter(|t| !t.trim().is_empty()),
        tags: d.tags.0,
        version: d.version,
        created: d.created_at.into(),
        updated: d.updated_at.into(),
        can_write: ctx.allows(Scope::AlertsWrite),
        ctx,
    };
    Ok(render(&page))
}

/// The delete form: only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct DeleteForm {}

/// `POST /context-documents/{uuid}/delete`: deletes the document, then back to the list.
pub async fn delete(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, form: DeleteForm {} }: SignedForm<DeleteForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsWrite)?;
    state.services().documents.delete_document(parse_uuid(&raw)?).await?;
    Ok(see_other("/context-documents"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn how_a_document_applies_is_said_in_words() {
        assert_eq!(applies_to(true, None), "Global: every alert");
        assert_eq!(applies_to(false, None), "Every alert (no conditions)");
        let rules = json!({"match_all": [{"field": "severity", "op": "gte", "value": "High"}]});
        assert_eq!(applies_to(false, Some(&rules)), "Targeted: all of 1 condition");
        assert_eq!(sentence(&rules["match_all"][0]), "severity gte High");
        assert_eq!(sentence(&json!({"field": "tags", "op": "in", "value": ["a", "b"]})), "tags in [a, b]");
    }
}
