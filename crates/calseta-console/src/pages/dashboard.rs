//! `/`: the SOC dashboard for a window the query chooses (`range` = `24h`, `7d`, `30d` or
//! `custom` with `from` and `to`; a plain GET form, so every view is a link): MTTD, MTTA, MTTT,
//! MTTC and the false-positive rate with their trend against the previous window of equal length,
//! alerts over time by severity, alerts by status, source and verdict, the top detection rules,
//! enrichment coverage and each provider's outcomes, the job queues and the approvals waiting —
//! and who is signed in.
//!
//! Every figure comes from `calseta-services`' metrics service, the one behind `/v1/metrics/*`,
//! so the console and the API agree for the same window. The figures need `alerts:read`, as
//! `/v1/metrics/alerts` does; without it the page shows only who is signed in. The approvals
//! section needs `workflows:read`, as the console's approvals area does.
//!
//! Source and rule names were written by whoever sent the alerts or the rules: in the page they
//! go through askama's escaping, in the SVG charts through [`crate::charts::escape`].

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use calseta_core::alerts::{Malice, Severity};
use calseta_core::scopes::Scope;
use calseta_services::metrics::dashboard::{Dashboard, Headline, SeriesBucket};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use super::listing::Shown;
use super::{PageContext, PageError, render};
use crate::charts::{self, Bar, Column, Series, Stacked};
use crate::state::ConsoleState;

/// The longest custom window: ten years (its series is at most 120 monthly bars).
const MAX_WINDOW_DAYS: i64 = 3660;

/// The window presets of the selector.
const PRESETS: [(&str, &str, i64); 3] =
    [("24h", "Last 24 hours", 1), ("7d", "Last 7 days", 7), ("30d", "Last 30 days", 30)];

/// The window the query chose, or why it cannot be read.
#[derive(Debug, Clone, PartialEq)]
struct Choice {
    /// `24h`, `7d`, `30d` or `custom`.
    range: String,
    /// The custom bounds as typed (shown back in the form).
    from_input: String,
    to_input: String,
}

impl Choice {
    fn from_query(raw: Option<&str>) -> Self {
        let mut choice = Choice { range: "24h".into(), from_input: String::new(), to_input: String::new() };
        for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "range" => choice.range = value.trim().to_string(),
                "from" => choice.from_input = value.trim().to_string(),
                "to" => choice.to_input = value.trim().to_string(),
                _ => {}
            }
        }
        choice
    }

    /// The window `[from, to)` at `now`, or the errors to show.
    fn bounds(&self, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), Vec<String>> {
        if let Some((_, _, days)) = PRESETS.iter().find(|(key, _, _)| *key == self.range) {
            return Ok((now - Duration::days(*days), now));
        }
        if self.range != "custom" {
            return Err(vec![format!("range: choose 24h, 7d, 30d or custom, not {:?}", self.range)]);
        }
        let from = parse_time("from", &self.from_input);
        let to = parse_time("to", &self.to_input);
        match (from, to) {
            (Ok(from), Ok(to)) if from >= to => Err(vec!["from must be before to".into()]),
            (Ok(from), Ok(to)) if to - from > Duration::days(MAX_WINDOW_DAYS) => {
                Err(vec![format!("the window may span at most {MAX_WINDOW_DAYS} days")])
            }
            (Ok(from), Ok(to)) => Ok((from, to)),
            (from, to) => Err([from.err(), to.err()].into_iter().flatten().collect()),
        }
    }
}

/// A time as typed: RFC 3339, or a `datetime-local` value (`YYYY-MM-DDTHH:MM[:SS]`) in UTC.
fn parse_time(name: &str, text: &str) -> Result<DateTime<Utc>, String> {
    if text.is_empty() {
        return Err(format!("{name}: required for a custom window"));
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
        .ok_or_else(|| format!("{name}: not a date and time (YYYY-MM-DDTHH:MM, UTC): {text:?}"))
}

/// A headline figure, its trend and the raw values (in `data-` attributes for scripts and tests).
struct Kpi {
    id: &'static str,
    name: &'static str,
    hint: &'static str,
    text: String,
    value: String,
    previous: String,
    trend: String,
    trend_class: &'static str,
}

/// How a mean time reads: seconds, minutes, hours or days.
fn duration_text(seconds: f64) -> String {
    match seconds {
        s if s < 90.0 => format!("{s:.0} s"),
        s if s < 5400.0 => format!("{:.1} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} d", s / 86_400.0),
    }
}

/// The trend of a figure where lower is better.
fn trend(current: Option<f64>, previous: Option<f64>) -> (String, &'static str) {
    match (current, previous) {
        (_, None) => ("no data in the previous window".into(), "trend-none"),
        (None, Some(_)) => ("no data in this window".into(), "trend-none"),
        (Some(c), Some(p)) if (c - p).abs() < f64::EPSILON => {
            ("unchanged on the previous window".into(), "trend-flat")
        }
        (Some(_), Some(p)) if p.abs() < f64::EPSILON => {
            ("up from 0 in the previous window".into(), "trend-worse")
        }
        (Some(c), Some(p)) => {
            let change = (c - p) / p * 100.0;
            if change > 0.0 {
                (format!("▲ {change:.0}% on the previous window"), "trend-worse")
            } else {
                (format!("▼ {:.0}% on the previous window", -change), "trend-better")
            }
        }
    }
}

fn raw(value: Option<f64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn kpis(current: &Headline, previous: &Headline) -> Vec<Kpi> {
    let mean = |id, name, hint, c: Option<f64>, p: Option<f64>| {
        let (trend, trend_class) = trend(c, p);
        Kpi {
            id,
            name,
            hint,
            text: c.map_or_else(|| "—".into(), duration_text),
            value: raw(c),
            previous: raw(p),
            trend,
            trend_class,
        }
    };
    let rate = |h: &Headline| (h.closed > 0).then_some(h.false_positive_rate);
    let (fp_trend, fp_class) = trend(rate(current), rate(previous));
    vec![
        mean("mttd", "MTTD", "mean time to detect", current.mttd, previous.mttd),
        mean("mtta", "MTTA", "mean time to acknowledge", current.mtta, previous.mtta),
        mean("mttt", "MTTT", "mean time to triage", current.mttt, previous.mttt),
        mean("mttc", "MTTC", "mean time to conclusion", current.mttc, previous.mttc),
        Kpi {
            id: "false-positive-rate",
            name: "False positives",
            hint: "of closed alerts",
            text: rate(current).map_or_else(|| "—".into(), |r| format!("{:.1}%", r * 100.0)),
            // The API's figure as it serves it (0 when nothing closed).
            value: current.false_positive_rate.to_string(),
            previous: previous.false_positive_rate.to_string(),
            trend: fp_trend,
            trend_class: fp_class,
        },
    ]
}

fn severity_class(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "fill-sev-critical",
        Severity::High => "fill-sev-high",
        Severity::Medium => "fill-sev-medium",
        Severity::Low => "fill-sev-low",
        Severity::Informational => "fill-sev-info",
        Severity::Pending => "fill-sev-pending",
    }
}

fn malice_class(malice: Malice) -> &'static str {
    match malice {
        Malice::Malicious => "fill-malice-malicious",
        Malice::Suspicious => "fill-malice-suspicious",
        Malice::Benign => "fill-malice-benign",
        Malice::Pending => "fill-malice-pending",
    }
}

/// A count in a breakdown table.
struct Count {
    key: String,
    count: i64,
    href: Option<String>,
}

/// One provider's row.
struct ProviderRow {
    name: String,
    succeeded: i64,
    failed: i64,
    skipped: i64,
}

/// The figures of the window, ready to render.
struct Figures {
    from: Shown,
    to: Shown,
    total: i64,
    kpis: Vec<Kpi>,
    coverage_text: String,
    coverage: String,
    over_time: Option<String>,
    by_status: Vec<Count>,
    status_chart: Option<String>,
    by_source: Vec<Count>,
    source_chart: Option<String>,
    by_malice: Vec<Count>,
    malice_chart: Option<String>,
    top_rules: Vec<Count>,
    providers: Vec<ProviderRow>,
    pending: i64,
    running: i64,
    dead: i64,
    approvals_pending: i64,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    ctx: PageContext,
    presets: Vec<(&'static str, &'static str)>,
    choice: Choice,
    errors: Vec<String>,
    can_read: bool,
    show_approvals: bool,
    figures: Option<Figures>,
}

/// The series' labels: short under the axis, whole in the tooltips.
fn bucket_labels(key: &str, bucket: SeriesBucket) -> (String, String) {
    match bucket {
        SeriesBucket::Hour => {
            let hour = key.get(11..13).unwrap_or(key);
            (format!("{hour}:00"), format!("{} {hour}:00 UTC", key.get(..10).unwrap_or(key)))
        }
        SeriesBucket::Day => (key.get(5..).unwrap_or(key).to_string(), key.to_string()),
        SeriesBucket::Month => (key.to_string(), key.to_string()),
    }
}

fn figures(d: Dashboard) -> Figures {
    // Critical at the bottom of each stack, where the eye starts.
    let severities: Vec<Severity> = Severity::ALL.iter().rev().copied().collect();
    let columns = d
        .over_time
        .iter()
        .map(|point| {
            let (label, full) = bucket_labels(&point.key, d.bucket);
            let values = severities
                .iter()
                .map(|s| point.counts.iter().filter(|(k, _)| k == s).map(|(_, n)| *n).sum())
                .collect();
            Column { label, full, values }
        })
        .collect();
    let over_time = charts::stacked(&Stacked {
        id: "chart-over-time",
        title: "Alerts over time by severity".into(),
        series: severities
            .iter()
            .map(|s| Series { name: s.as_str().into(), class: severity_class(*s) })
            .collect(),
        columns,
    });
    let status_bars: Vec<Bar> = d
        .by_status
        .iter()
        .map(|(s, n)| Bar { label: s.as_str().into(), value: *n, class: "fill-accent" })
        .collect();
    let source_bars: Vec<Bar> =
        d.by_source.iter().map(|(s, n)| Bar { label: s.clone(), value: *n, class: "fill-accent" }).collect();
    let malice_bars: Vec<Bar> = d
        .by_malice
        .iter()
        .map(|(m, n)| Bar { label: m.as_str().into(), value: *n, class: malice_class(*m) })
        .collect();
    // Links to the queue filtered to the same alerts: the window's bounds and one value.
    let (from_time, to_time) = (d.from.to_rfc3339(), d.to.to_rfc3339());
    let alerts_href = |name: &str, value: &str| {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair(name, value)
            .append_pair("from_time", &from_time)
            .append_pair("to_time", &to_time)
            .finish();
        Some(format!("/alerts?{query}"))
    };
    Figures {
        from: d.from.into(),
        to: d.to.into(),
        total: d.total,
        kpis: kpis(&d.current, &d.previous),
        coverage_text: format!("{:.1}%", d.enrichment_coverage * 100.0),
        coverage: d.enrichment_coverage.to_string(),
        over_time,
        status_chart: charts::bars("chart-status", "Alerts by status", &status_bars),
        by_status: d
            .by_status
            .iter()
            .map(|(s, n)| Count {
                key: s.as_str().into(),
                count: *n,
                href: alerts_href("status", s.as_str()),
            })
            .collect(),
        source_chart: charts::bars("chart-source", "Alerts by source", &source_bars),
        by_source: d
            .by_source
            .iter()
            .map(|(key, count)| Count {
                key: key.clone(),
                count: *count,
                href: alerts_href("source_name", key),
            })
            .collect(),
        malice_chart: charts::bars("chart-malice", "Alerts by verdict", &malice_bars),
        by_malice: d
            .by_malice
            .iter()
            .map(|(m, n)| Count { key: m.as_str().into(), count: *n, href: None })
            .collect(),
        top_rules: d
            .top_rules
            .iter()
            .map(|r| Count {
                key: r.name.clone(),
                count: r.count,
                href: alerts_href("detection_rule_uuid", &r.uuid.to_string()),
            })
            .collect(),
        providers: d
            .providers
            .into_iter()
            .map(|p| ProviderRow {
                name: p.provider,
                succeeded: p.succeeded,
                failed: p.failed,
                skipped: p.skipped,
            })
            .collect(),
        pending: d.queues.pending,
        running: d.queues.running,
        dead: d.queues.dead,
        approvals_pending: d.approvals_pending,
    }
}

/// `GET /`: the dashboard for the window the query chooses (the last 24 hours by default); a
/// window that cannot be read is shown with its errors (422).
pub async fn show(ctx: PageContext, State(state): State<ConsoleState>, RawQuery(raw): RawQuery) -> Response {
    let choice = Choice::from_query(raw.as_deref());
    let can_read = ctx.allows(Scope::AlertsRead);
    let show_approvals = can_read && ctx.allows(Scope::WorkflowsRead);
    let mut errors = Vec::new();
    let mut figures_shown = None;
    if can_read {
        match choice.bounds(Utc::now()) {
            Ok((from, to)) => match state.services().metrics.dashboard(from, to).await {
                Ok(d) => figures_shown = Some(figures(d)),
                Err(e) => return PageError::from(e).into_response(),
            },
            Err(e) => errors = e,
        }
    }
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let presets = PRESETS.iter().map(|(key, name, _)| (*key, *name)).collect();
    let page =
        DashboardPage { ctx, presets, choice, errors, can_read, show_approvals, figures: figures_shown };
    (status, render(&page)).into_response()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_window_defaults_to_a_day_and_reads_presets_and_custom_bounds() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 4, 0, 0).single().unwrap_or_default();
        assert_eq!(Choice::from_query(None).bounds(now), Ok((now - Duration::hours(24), now)));
        assert_eq!(Choice::from_query(Some("range=7d")).bounds(now), Ok((now - Duration::days(7), now)));
        let custom = Choice::from_query(Some("range=custom&from=2026-11-01T00%3A00&to=2026-11-08T00:00:00Z"));
        let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default();
        assert_eq!(custom.bounds(now), Ok((from, from + Duration::days(7))));
        assert!(Choice::from_query(Some("range=1y")).bounds(now).is_err());
        assert!(
            Choice::from_query(Some("range=custom&from=2026-11-08T00:00&to=2026-11-01T00:00"))
                .bounds(now)
                .is_err()
        );
        assert_eq!(Choice::from_query(Some("range=custom")).bounds(now).map_err(|e| e.len()), Err(2));
        assert!(
            Choice::from_query(Some("range=custom&from=1900-01-01T00:00&to=2026-01-01T00:00"))
                .bounds(now)
                .is_err()
        );
    }

    #[test]
    fn trends_compare_with_the_previous_window_lower_being_better() {
        assert_eq!(trend(Some(120.0), Some(100.0)), ("▲ 20% on the previous window".into(), "trend-worse"));
        assert_eq!(trend(Some(50.0), Some(100.0)), ("▼ 50% on the previous window".into(), "trend-better"));
        assert_eq!(trend(Some(50.0), None).1, "trend-none");
        assert_eq!(trend(Some(5.0), Some(5.0)).1, "trend-flat");
        assert_eq!(duration_text(45.0), "45 s");
        assert_eq!(duration_text(600.0), "10.0 min");
        assert_eq!(duration_text(7200.0), "2.0 h");
    }
}
