//! `/detection-rules` and `/detection-rules/{uuid}`: the rules that fire alerts — the list,
//! searched by name and MITRE ATT&CK mapping with REST's own list parameters, and one rule with its
//! documentation (Markdown through [`crate::markdown`]), its newest alerts and its metrics drawn as
//! our own SVG charts ([`crate::charts`]). The forms that create, change and delete rules are in
//! `detection_rule_form`.
//!
//! Rule names, MITRE labels and documentation may come from a SIEM (ingest creates stub rules from
//! whatever an alert names) or from anyone with the admin scope: escaped text everywhere, and the
//! documentation only through the sanitizing Markdown renderer.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use calseta_core::scopes::Scope;
use calseta_services::ServiceError;
use calseta_services::params::{
    AlertQueueArgs, AlertSearch, DetectionRuleSearch, ListParams, Paging, RawArgs, RuleMetricsWindow,
};
use calseta_services::records::DetectionRuleRow;
use serde_json::Value;
use uuid::Uuid;

use super::listing::{Filters, Pager, Shown, query_errors};
use super::{PageContext, PageError, path_uuid, render};
use crate::charts::{self, Bar, Column, Series, Stacked};
use crate::markdown::{self, SafeHtml};
use crate::state::ConsoleState;

/// How many of the rule's newest alerts its page lists (the queue, filtered, has them all).
const ALERTS_SHOWN: u32 = 20;

/// A rule as the list shows it.
struct Row {
    uuid: Uuid,
    name: String,
    source: String,
    severity: String,
    tactics: String,
    techniques: String,
    active: bool,
    created: Shown,
}

#[derive(Template)]
#[template(path = "detection_rules.html")]
struct List {
    ctx: PageContext,
    filters: Filters,
    rows: Vec<Row>,
    pager: Pager,
    errors: Vec<String>,
    can_write: bool,
}

/// Joins a MITRE or data-source list for a table cell.
fn joined(list: &[String]) -> String {
    list.join(", ")
}

/// `GET /detection-rules`: one page of rules as REST's list parameters (`name`, `mitre_tactic`,
/// `mitre_technique`, `source_name`, `severity`, `is_active`, sorting, paging) filter them; a
/// query that cannot be read is shown with its errors (422).
pub async fn list(ctx: PageContext, State(state): State<ConsoleState>, RawQuery(raw): RawQuery) -> Response {
    if let Err(refusal) = ctx.require_scope(Scope::AlertsRead) {
        return refusal.into_response();
    }
    let filters = Filters::from_query(raw.as_deref());
    let encoded = filters.encoded();
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut pager = Pager::default();
    match RawArgs::from_query(Some(&encoded), DetectionRuleSearch::REPEATED).parse::<DetectionRuleSearch>() {
        Err(e) => errors = query_errors(&e.to_string()),
        Ok(search) => match state.services().detection_rules.search(&search, Paging::REST).await {
            Ok((found, total, page)) => {
                pager = Pager::new("/detection-rules", &filters, page, total);
                rows = found
                    .into_iter()
                    .map(|r| Row {
                        uuid: r.uuid,
                        source: r.source_name.clone().unwrap_or_default(),
                        severity: r.severity.clone().unwrap_or_default(),
                        tactics: joined(&r.mitre_tactics.0),
                        techniques: joined(
                            &[r.mitre_techniques.0.clone(), r.mitre_subtechniques.0.clone()].concat(),
                        ),
                        active: r.is_active,
                        created: r.created_at.into(),
                        name: r.name,
                    })
                    .collect();
            }
            Err(ServiceError::Invalid(fields)) => {
                errors = fields
                    .iter()
                    .map(|f| format!("{}: {}", f.loc.last().map_or("", String::as_str), f.msg))
                    .collect();
            }
            Err(e) => return PageError::from(e).into_response(),
        },
    }
    let failed = !errors.is_empty();
    let can_write = ctx.allows(Scope::Admin);
    let mut response = render(&List { ctx, filters, rows, pager, errors, can_write });
    if failed && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

/// One of the rule's alerts.
struct RuleAlert {
    uuid: Uuid,
    title: String,
    severity: &'static str,
    status: &'static str,
    occurred: Shown,
}

/// A headline figure of the rule's metrics.
struct Figure {
    id: &'static str,
    label: &'static str,
    text: String,
}

/// One of the indicators most often seen in the rule's alerts.
struct TopIndicator {
    kind: String,
    value: String,
    count: i64,
    malice: String,
}

#[derive(Template)]
#[template(path = "detection_rule.html")]
struct Detail {
    ctx: PageContext,
    uuid: Uuid,
    name: String,
    source_rule_id: Option<String>,
    source: Option<String>,
    severity: Option<String>,
    active: bool,
    system: bool,
    tactics: Vec<String>,
    techniques: Vec<String>,
    subtechniques: Vec<String>,
    data_sources: Vec<String>,
    run_frequency: Option<String>,
    created_by: Option<String>,
    created: Shown,
    updated: Shown,
    documentation: Option<SafeHtml>,
    alerts: Vec<RuleAlert>,
    alerts_total: i64,
    period: String,
    figures: Vec<Figure>,
    over_time_chart: Option<String>,
    status_chart: Option<String>,
    severity_chart: Option<String>,
    classification_chart: Option<String>,
    top_indicators: Vec<TopIndicator>,
    can_write: bool,
}

/// Reads the uuid of a path; anything else is the rule's 404.
pub(crate) fn rule_uuid(raw: &str) -> Result<Uuid, PageError> {
    path_uuid(raw, "Detection rule not found.")
}

/// `{"key": n, …}` of the metrics as bars (the service sorts the keys).
fn count_bars(value: &Value, class: &'static str) -> Vec<Bar> {
    value
        .as_object()
        .map(|map| {
            map.iter().map(|(k, v)| Bar { label: k.clone(), value: v.as_i64().unwrap_or(0), class }).collect()
        })
        .unwrap_or_default()
}

/// `[{"date", "count"}, …]` as `date → count`.
fn day_counts(value: &Value) -> Vec<(String, i64)> {
    value
        .as_array()
        .map(|days| {
            days.iter()
                .map(|d| {
                    (
                        d["date"].as_str().map(str::to_string).unwrap_or_else(|| d["date"].to_string()),
                        d["count"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Alerts per day, split into false positives and the rest (one stacked column per day).
fn over_time(metrics: &Value) -> Option<String> {
    let all = day_counts(&metrics["alerts_over_time"]);
    let fp: std::collections::HashMap<String, i64> =
        day_counts(&metrics["fp_over_time"]).into_iter().collect();
    let columns = all
        .into_iter()
        .map(|(date, count)| {
            let false_positives = fp.get(&date).copied().unwrap_or(0).min(count);
            Column {
                label: date.get(5..10).unwrap_or(&date).to_string(),
                full: date.clone(),
                values: vec![count - false_positives, false_positives],
            }
        })
        .collect();
    charts::stacked(&Stacked {
        id: "rule-over-time",
        title: "The rule's alerts per day".into(),
        series: vec![
            Series { name: "Other alerts".into(), class: "fill-accent" },
            Series { name: "False positives".into(), class: "fill-sev-info" },
        ],
        columns,
    })
}

/// Seconds as "3 h 5 min", "12 min" or "40 s"; "—" when there is nothing to average.
fn duration_text(seconds: Option<f64>) -> String {
    let Some(seconds) = seconds.filter(|s| s.is_finite() && *s >= 0.0) else { return "—".into() };
    let whole = seconds.round() as i64;
    match (whole / 3600, (whole % 3600) / 60) {
        (0, 0) => format!("{whole} s"),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn percent(value: &Value) -> String {
    value.as_f64().map(|v| format!("{:.0}%", v * 100.0)).unwrap_or_else(|| "—".into())
}

/// `GET /detection-rules/{uuid}`: the rule, its documentation, its newest alerts and its
/// metrics for the window `from`/`to` (REST's metrics parameters; the last 30 days by default).
pub async fn show(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsRead)?;
    let uuid = rule_uuid(&raw_uuid)?;
    let services = state.services();
    let rule = services.detection_rules.get_rule(uuid).await?;

    let filters = Filters::from_query(raw.as_deref());
    let window = RawArgs::from_query(Some(&filters.encoded()), RuleMetricsWindow::REPEATED)
        .parse::<RuleMetricsWindow>()
        .map_err(|e| PageError::unprocessable(e.to_string()))?;
    let (from, to) = window.bounds().map_err(|e| match e {
        ServiceError::Invalid(fields) => {
            PageError::unprocessable(fields.into_iter().map(|f| f.msg).collect::<Vec<_>>().join("; "))
        }
        other => PageError::from(other),
    })?;
    let metrics = services.metrics.detection_rule(uuid, from, to).await?;

    let query = format!("detection_rule_uuid={uuid}&page_size={ALERTS_SHOWN}");
    let search = RawArgs::from_query(Some(&query), AlertSearch::REPEATED)
        .parse::<AlertSearch>()
        .map_err(|e| PageError::bad_request(e.to_string()))?;
    let found = services.alerts.queue(&search, &AlertQueueArgs::default()).await?;
    let alerts = found
        .rows
        .into_iter()
        .map(|r| RuleAlert {
            uuid: r.summary.uuid,
            title: r.summary.title,
            severity: r.summary.severity.as_str(),
            status: r.summary.status.as_str(),
            occurred: r.summary.occurred_at.into(),
        })
        .collect();

    let figures = vec![
        Figure { id: "rule-total", label: "Alerts", text: metrics["total_alerts"].to_string() },
        Figure { id: "rule-active", label: "Still open", text: metrics["active_alerts"].to_string() },
        Figure {
            id: "rule-fp-rate",
            label: "False-positive rate",
            text: percent(&metrics["false_positive_rate"]),
        },
        Figure {
            id: "rule-tp-rate",
            label: "True-positive rate",
            text: percent(&metrics["true_positive_rate"]),
        },
        Figure { id: "rule-mtta", label: "MTTA", text: duration_text(metrics["mtta_seconds"].as_f64()) },
        Figure { id: "rule-mttc", label: "MTTC", text: duration_text(metrics["mttc_seconds"].as_f64()) },
    ];
    let top_indicators = metrics["top_indicators"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|i| TopIndicator {
                    kind: i["type"].as_str().unwrap_or_default().to_string(),
                    value: i["value"].as_str().unwrap_or_default().to_string(),
                    count: i["count"].as_i64().unwrap_or(0),
                    malice: i["malice"].as_str().unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let page = Detail {
        period: format!("{} – {}", from.format("%Y-%m-%d %H:%M UTC"), to.format("%Y-%m-%d %H:%M UTC")),
        figures,
        over_time_chart: over_time(&metrics),
        status_chart: charts::bars(
            "rule-by-status",
            "The rule's alerts by status",
            &count_bars(&metrics["alerts_by_status"], "fill-accent"),
        ),
        severity_chart: charts::bars(
            "rule-by-severity",
            "The rule's alerts by severity",
            &count_bars(&metrics["alerts_by_severity"], "fill-accent"),
        ),
        classification_chart: charts::bars(
            "rule-by-classification",
            "How the rule's closed alerts were classified",
            &count_bars(&metrics["close_classifications"], "fill-accent"),
        ),
        top_indicators,
        alerts,
        alerts_total: found.total,
        can_write: ctx.allows(Scope::Admin),
        ..Detail::of(ctx, rule)
    };
    Ok(render(&page))
}

impl Detail {
    /// The rule's own facts; the alerts and metrics are filled in by [`show`].
    fn of(ctx: PageContext, rule: DetectionRuleRow) -> Self {
        Detail {
            ctx,
            uuid: rule.uuid,
            documentation: markdown::render_opt(rule.documentation.as_deref()),
            name: rule.name,
            source_rule_id: rule.source_rule_id,
            source: rule.source_name,
            severity: rule.severity,
            active: rule.is_active,
            system: rule.is_system,
            tactics: rule.mitre_tactics.0,
            techniques: rule.mitre_techniques.0,
            subtechniques: rule.mitre_subtechniques.0,
            data_sources: rule.data_sources.0,
            run_frequency: rule.run_frequency,
            created_by: rule.created_by,
            created: rule.created_at.into(),
            updated: rule.updated_at.into(),
            alerts: Vec::new(),
            alerts_total: 0,
            period: String::new(),
            figures: Vec::new(),
            over_time_chart: None,
            status_chart: None,
            severity_chart: None,
            classification_chart: None,
            top_indicators: Vec::new(),
            can_write: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_as_hours_minutes_or_seconds() {
        assert_eq!(duration_text(None), "—");
        assert_eq!(duration_text(Some(40.0)), "40 s");
        assert_eq!(duration_text(Some(720.0)), "12 min");
        assert_eq!(duration_text(Some(11_100.0)), "3 h 5 min");
    }

    #[test]
    fn metrics_become_bars_and_a_stacked_day_chart() {
        let bars = count_bars(&json!({"Closed": 2, "Open": 3}), "fill-accent");
        assert_eq!(
            bars.iter().map(|b| (b.label.as_str(), b.value)).collect::<Vec<_>>(),
            [("Closed", 2), ("Open", 3)]
        );
        let svg = over_time(&json!({"alerts_over_time": [{"date": "2026-01-02", "count": 3}],
                                    "fp_over_time": [{"date": "2026-01-02", "count": 1}]}))
        .unwrap();
        assert!(
            svg.contains("data-calseta-chart")
                && svg.contains("data-value=\"2\"")
                && svg.contains("data-value=\"1\"")
        );
        assert!(over_time(&json!({"alerts_over_time": [], "fp_over_time": []})).is_none());
    }
}
