//! The alert detail page's response sections and their routes: the relationship graph (the alert,
//! its indicators and the other alerts sharing them, drawn as server-side SVG), the alert's
//! deliveries to agents (attempts and those still queued), and what the actions section offers the
//! key (its forms post to `alert_actions`) — plus the agent payload page (`/alerts/{uuid}/payload`:
//! both profiles with their cl100k token counts).
//!
//! Indicator values, titles and agent names are attacker- or operator-written: the SVG is built in
//! the template (`alert_graph.html`) from numbers and escaped text only, never assembled as a
//! string and marked safe; colours come from CSS classes (the CSP allows no `style` attribute).

use std::collections::HashMap;
use std::f64::consts::PI;
use std::sync::OnceLock;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use calseta_core::agents::{DeliveryStatus, PayloadProfile};
use calseta_core::scopes::Scope;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::alert_shared::{malice_class, parse_uuid, refusal, severity_class};
use super::{PageContext, PageError, render};
use crate::state::ConsoleState;

/// The graph draws at most this many indicators…
const GRAPH_MAX_INDICATORS: usize = 12;
/// …at most this many other alerts per indicator (the newest)…
const GRAPH_SIBLINGS_PER_INDICATOR: i64 = 5;
/// …and at most this many other alerts in all: a readable picture, not an exhaustive one.
const GRAPH_MAX_ALERTS: usize = 24;
/// How many delivery attempts and pending deliveries the page lists.
const DELIVERIES_SHOWN: i64 = 50;
/// How many workflows the run form offers.
const WORKFLOWS_OFFERED: i64 = 200;
/// Labels longer than this many characters are shortened (the full text is the tooltip).
const LABEL_CHARS: usize = 22;

/// The SVG's size; the alert is at its centre.
const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 600.0;
const INNER_RING: f64 = 140.0;
/// The centre of the picture, in whole units.
const CENTRE: (i32, i32) = (380, 300);
const OUTER_RING: f64 = 255.0;

/// A moment as the page shows it.
pub struct Stamp {
    /// RFC 3339, for `datetime`.
    pub iso: String,
    /// For people.
    pub text: String,
}

impl Stamp {
    pub(super) fn of(at: DateTime<Utc>) -> Self {
        Stamp { iso: at.to_rfc3339(), text: at.format("%Y-%m-%d %H:%M:%S UTC").to_string() }
    }
}

/// One node of the graph, placed.
pub struct GraphNode {
    /// Centre.
    pub x: i32,
    /// Centre.
    pub y: i32,
    /// Where its label starts (below the node).
    pub label_y: i32,
    /// The shortened label.
    pub label: String,
    /// The tooltip: the full text.
    pub title: String,
    /// The CSS class of its colour (a fixed word, never alert text).
    pub class: &'static str,
    /// The alert it links to (other alerts only).
    pub href_uuid: Option<String>,
}

/// One edge of the graph.
pub struct GraphEdge {
    /// From.
    pub x1: i32,
    /// From.
    pub y1: i32,
    /// To.
    pub x2: i32,
    /// To.
    pub y2: i32,
}

/// The relationship graph section.
pub struct GraphView {
    /// The alert itself, at the centre.
    pub centre: GraphNode,
    /// Its indicators on the inner ring.
    pub indicators: Vec<GraphNode>,
    /// Other alerts sharing them, on the outer ring (each a link).
    pub alerts: Vec<GraphNode>,
    /// Alert–indicator and indicator–alert lines.
    pub edges: Vec<GraphEdge>,
    /// The alert's indicators in all.
    pub indicator_total: usize,
    /// Whether some indicator or related alert is not drawn (the page says so).
    pub truncated: bool,
    /// The SVG's viewBox.
    pub view_box: String,
}

/// One delivery attempt.
pub struct AttemptView {
    /// The agent's name.
    pub agent: String,
    /// The agent's id.
    pub agent_uuid: String,
    /// The Standard Webhooks message id.
    pub delivery_id: String,
    /// success, failed or timeout.
    pub status: &'static str,
    /// The CSS class of the status.
    pub status_class: &'static str,
    /// Which attempt of the delivery.
    pub attempt: i32,
    /// The agent's HTTP status.
    pub response_code: Option<i32>,
    /// How long the attempt took.
    pub latency_ms: Option<i64>,
    /// When it started.
    pub at: Stamp,
    /// Why it failed.
    pub error: Option<String>,
}

/// A delivery still to come.
pub struct PendingView {
    /// The agent, or "every matching agent" for a queued dispatch.
    pub agent: String,
    /// The message id (deliveries only).
    pub delivery_id: Option<String>,
    /// queued or running.
    pub status: &'static str,
    /// Attempts so far of those allowed.
    pub attempts: String,
    /// When the next attempt starts at the earliest.
    pub next: Stamp,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// The deliveries section.
pub struct DeliveriesView {
    /// Whether the key may read deliveries (`agents:read`, as REST's agent runs).
    pub visible: bool,
    /// The newest attempts.
    pub attempts: Vec<AttemptView>,
    /// Attempts in all.
    pub total: i64,
    /// Queued dispatches, first attempts and retries.
    pub pending: Vec<PendingView>,
}

/// A choice of a select.
pub struct Choice {
    /// The submitted value (an id).
    pub value: String,
    /// What people read.
    pub label: String,
}

/// The actions section: what the key may do and the choices it has.
pub struct RespondView {
    /// `agents:write`: dispatch to an agent.
    pub can_dispatch: bool,
    /// Registered, active agents.
    pub agents: Vec<Choice>,
    /// `workflows:execute`: run a workflow.
    pub can_execute: bool,
    /// Active workflows.
    pub workflows: Vec<Choice>,
    /// The alert's indicators.
    pub indicators: Vec<Choice>,
}

impl RespondView {
    /// Whether the section has anything to offer.
    pub fn any(&self) -> bool {
        self.can_dispatch || self.can_execute
    }
}

/// The three sections the alert page includes.
pub struct Sections {
    /// `alert_graph.html`.
    pub graph: GraphView,
    /// `alert_deliveries.html`.
    pub deliveries: DeliveriesView,
    /// `alert_respond.html`.
    pub respond: RespondView,
}

/// `text` shortened to [`LABEL_CHARS`] characters (never inside a character).
fn shorten(text: &str) -> String {
    if text.chars().count() <= LABEL_CHARS {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(LABEL_CHARS - 1).collect();
        short.push('…');
        short
    }
}

/// The CSS class of a delivery outcome.
fn delivery_class(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Success => "delivery-success",
        DeliveryStatus::Failed => "delivery-failed",
        DeliveryStatus::Timeout => "delivery-timeout",
    }
}

/// The point at `angle` on the ring of `radius` around the centre (rounded to whole units).
fn on_ring(radius: f64, angle: f64) -> (i32, i32) {
    let x = WIDTH / 2.0 + radius * angle.cos();
    let y = HEIGHT / 2.0 + radius * angle.sin();
    // Rounded coordinates inside the viewBox: the casts cannot overflow.
    #[allow(clippy::cast_possible_truncation)]
    (x.round() as i32, y.round() as i32)
}

/// The angle of slot `i` of `n` evenly spaced slots, starting at the top.
fn slot_angle(i: usize, n: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let fraction = i as f64 / n.max(1) as f64;
    -PI / 2.0 + 2.0 * PI * fraction
}

/// A node at `(x, y)` with its label below it.
fn node(
    (x, y): (i32, i32),
    label: &str,
    title: String,
    class: &'static str,
    href_uuid: Option<String>,
) -> GraphNode {
    GraphNode { x, y, label_y: y + 30, label: shorten(label), title, class, href_uuid }
}

/// Lays out the alert, its indicators and the other alerts sharing them: the alert at the centre,
/// indicators evenly on the inner ring, each other alert on the outer ring at the mean angle of
/// the indicators it shares (then spread so that none overlap).
async fn graph(state: &ConsoleState, uuid: Uuid) -> Result<GraphView, PageError> {
    let (alert, indicators, counts, siblings) =
        state.services().alerts.graph(uuid, GRAPH_SIBLINGS_PER_INDICATOR).await?;
    let indicator_total = indicators.len();
    let shown: Vec<_> = indicators.into_iter().take(GRAPH_MAX_INDICATORS).collect();
    let centre = node(
        CENTRE,
        &alert.title,
        format!("This alert: {} ({})", alert.title, alert.severity.as_str()),
        "node-alert",
        None,
    );
    let mut edges = Vec::new();
    let mut angle_of: HashMap<i64, (f64, (i32, i32))> = HashMap::new();
    let mut indicator_nodes = Vec::new();
    for (i, indicator) in shown.iter().enumerate() {
        let angle = slot_angle(i, shown.len());
        let at = on_ring(INNER_RING, angle);
        angle_of.insert(indicator.id, (angle, at));
        edges.push(GraphEdge { x1: centre.x, y1: centre.y, x2: at.0, y2: at.1 });
        indicator_nodes.push(node(
            at,
            &indicator.value,
            format!("{}: {} — {}", indicator.kind, indicator.value, indicator.malice.as_str()),
            malice_class(indicator.malice),
            None,
        ));
    }
    // Other alerts in the order the store returned them (newest first per indicator), once each.
    let mut order: Vec<Uuid> = Vec::new();
    let mut shares: HashMap<Uuid, Vec<i64>> = HashMap::new();
    let mut rows = HashMap::new();
    for sibling in siblings.into_iter().filter(|s| angle_of.contains_key(&s.indicator_id)) {
        let entry = shares.entry(sibling.uuid).or_default();
        if entry.is_empty() {
            order.push(sibling.uuid);
        }
        entry.push(sibling.indicator_id);
        rows.entry(sibling.uuid).or_insert(sibling);
    }
    let mut truncated = indicator_total > shown.len() || order.len() > GRAPH_MAX_ALERTS;
    // The store returns a few alerts per indicator: more exist when its count is larger.
    let drawn_per_indicator: HashMap<i64, usize> =
        shares.values().flatten().fold(HashMap::new(), |mut acc, id| {
            *acc.entry(*id).or_default() += 1;
            acc
        });
    for (indicator_id, count) in &counts {
        let drawn = drawn_per_indicator.get(indicator_id).copied().unwrap_or(0);
        if angle_of.contains_key(indicator_id) && usize::try_from(*count).unwrap_or(usize::MAX) > drawn {
            truncated = true;
        }
    }
    order.truncate(GRAPH_MAX_ALERTS);
    // Each alert wants the mean angle of its indicators; sorted by that, they take evenly spaced
    // slots so labels never sit on each other.
    let mut wanted: Vec<(f64, Uuid)> = order
        .iter()
        .map(|u| {
            let ids = shares.get(u).map(Vec::as_slice).unwrap_or_default();
            let (sx, sy) = ids
                .iter()
                .filter_map(|id| angle_of.get(id))
                .fold((0.0, 0.0), |(sx, sy), (a, _)| (sx + a.cos(), sy + a.sin()));
            (sy.atan2(sx), *u)
        })
        .collect();
    wanted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let offset = wanted.first().map(|w| w.0 + PI / 2.0).unwrap_or(0.0);
    let mut alert_nodes = Vec::new();
    for (i, (_, sibling_uuid)) in wanted.iter().enumerate() {
        let Some(row) = rows.get(sibling_uuid) else { continue };
        let at = on_ring(OUTER_RING, slot_angle(i, wanted.len()) + offset);
        for id in shares.get(sibling_uuid).map(Vec::as_slice).unwrap_or_default() {
            if let Some((_, from)) = angle_of.get(id) {
                edges.push(GraphEdge { x1: from.0, y1: from.1, x2: at.0, y2: at.1 });
            }
        }
        alert_nodes.push(node(
            at,
            &row.title,
            format!(
                "{} — {}, {} ({})",
                row.title,
                row.severity.as_str(),
                row.status.as_str(),
                row.source_name
            ),
            severity_class(row.severity),
            Some(row.uuid.to_string()),
        ));
    }
    Ok(GraphView {
        centre,
        indicators: indicator_nodes,
        alerts: alert_nodes,
        edges,
        indicator_total,
        truncated,
        view_box: format!("0 0 {WIDTH} {HEIGHT}"),
    })
}

/// The deliveries of the alert, when the key may read them.
async fn deliveries(
    state: &ConsoleState,
    ctx: &PageContext,
    uuid: Uuid,
) -> Result<DeliveriesView, PageError> {
    if !ctx.allows(Scope::AgentsRead) {
        return Ok(DeliveriesView { visible: false, attempts: Vec::new(), total: 0, pending: Vec::new() });
    }
    let found = state.services().agents.deliveries_of_alert(uuid, DELIVERIES_SHOWN).await?;
    let attempts = found
        .attempts
        .into_iter()
        .map(|a| AttemptView {
            agent: a.agent_name,
            agent_uuid: a.agent_uuid.to_string(),
            delivery_id: a.delivery_id.unwrap_or_default(),
            status: a.status.as_str(),
            status_class: delivery_class(a.status),
            attempt: a.attempt_count,
            response_code: a.response_status_code,
            latency_ms: a.started_at.zip(a.completed_at).map(|(s, c)| (c - s).num_milliseconds().max(0)),
            at: Stamp::of(a.started_at.unwrap_or(a.created_at)),
            error: a.error_message.filter(|e| !e.is_empty()),
        })
        .collect();
    let pending = found
        .pending
        .into_iter()
        .map(|p| PendingView {
            agent: match (p.agent_name, p.agent_uuid) {
                (Some(name), _) => name,
                (None, Some(agent)) => agent.to_string(),
                (None, None) => "every matching agent".into(),
            },
            delivery_id: p.delivery_id,
            status: p.status.as_str(),
            attempts: format!("{} of {}", p.attempts, p.max_attempts),
            next: Stamp::of(p.next_attempt_at),
            last_error: p.last_error.filter(|e| !e.is_empty()),
        })
        .collect();
    Ok(DeliveriesView { visible: true, attempts, total: found.total_attempts, pending })
}

/// What the actions section offers the key.
async fn respond(state: &ConsoleState, ctx: &PageContext, uuid: Uuid) -> Result<RespondView, PageError> {
    let services = state.services();
    let can_dispatch = ctx.allows(Scope::AgentsWrite);
    let can_execute = ctx.allows(Scope::WorkflowsExecute);
    let agents = if can_dispatch {
        services
            .agents
            .list()
            .await?
            .into_iter()
            .filter(|a| a.is_active)
            .map(|a| Choice { value: a.uuid.to_string(), label: a.name })
            .collect()
    } else {
        Vec::new()
    };
    let (workflows, indicators) = if can_execute {
        let workflows = services
            .workflows
            .runnable(WORKFLOWS_OFFERED)
            .await?
            .into_iter()
            .map(|w| Choice { value: w.uuid.to_string(), label: w.name })
            .collect();
        let indicators = services
            .alerts
            .indicators(uuid)
            .await?
            .into_iter()
            .map(|i| Choice { value: i.uuid.to_string(), label: format!("{}: {}", i.kind, i.value) })
            .collect();
        (workflows, indicators)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(RespondView { can_dispatch, agents, can_execute, workflows, indicators })
}

impl Sections {
    /// The three sections of alert `uuid` for the key of `ctx`.
    pub async fn load(state: &ConsoleState, ctx: &PageContext, uuid: Uuid) -> Result<Self, PageError> {
        Ok(Sections {
            graph: graph(state, uuid).await?,
            deliveries: deliveries(state, ctx, uuid).await?,
            respond: respond(state, ctx, uuid).await?,
        })
    }
}

/// The cl100k tokenizer, built once (it parses a large rank table); `None` if it cannot load.
fn tokenizer() -> Option<&'static tiktoken_rs::CoreBPE> {
    static BPE: OnceLock<Option<tiktoken_rs::CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| match tiktoken_rs::cl100k_base() {
        Ok(bpe) => Some(bpe),
        Err(e) => {
            tracing::error!(error = %e, "cannot load the cl100k tokenizer");
            None
        }
    })
    .as_ref()
}

/// One profile's payload on the payload page.
struct ProfileView {
    name: &'static str,
    pretty: String,
    bytes: usize,
    tokens: Option<usize>,
}

#[derive(Template)]
#[template(path = "alert_payload.html")]
struct PayloadPage {
    ctx: PageContext,
    uuid: String,
    profiles: Vec<ProfileView>,
    count_ms: u128,
}

/// `GET /alerts/{uuid}/payload`: the `alert.enriched` payload agents receive, in both profiles —
/// built by the same service as REST's `GET /v1/alerts/{uuid}/payload` — pretty-printed, each
/// with its cl100k token count.
///
/// The count is of the compact JSON text an agent is sent (what its model reads), counted here
/// because only this page shows it; it runs on the blocking pool, off the async workers, and only
/// when this page is asked for (the alert page links to it rather than paying for it).
pub async fn payload(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsRead)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let dispatch = &state.services().dispatch;
    let mut bodies = Vec::new();
    for profile in [PayloadProfile::Full, PayloadProfile::Compact] {
        let value = dispatch.payload(uuid, profile.as_str()).await.map_err(refusal)?;
        bodies.push((profile.as_str(), value));
    }
    let counted = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let profiles: Vec<ProfileView> = bodies
            .into_iter()
            .map(|(name, value)| {
                let wire = value.to_string();
                ProfileView {
                    name,
                    tokens: tokenizer().map(|bpe| bpe.encode_with_special_tokens(&wire).len()),
                    bytes: wire.len(),
                    pretty: serde_json::to_string_pretty(&value).unwrap_or(wire),
                }
            })
            .collect();
        (profiles, started.elapsed().as_millis())
    })
    .await;
    let Ok((profiles, count_ms)) = counted else {
        return Err(PageError::internal());
    };
    tracing::debug!(alert = %uuid, count_ms, "payload tokens counted");
    Ok(render(&PayloadPage { ctx, uuid: uuid.to_string(), profiles, count_ms }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_shortened_by_characters_not_bytes() {
        assert_eq!(shorten("short"), "short");
        let long = "é".repeat(40);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), LABEL_CHARS);
        assert!(short.ends_with('…'));
    }

    #[test]
    fn ring_slots_stay_inside_the_picture() {
        for n in 1..30 {
            for i in 0..n {
                let (x, y) = on_ring(OUTER_RING, slot_angle(i, n));
                assert!((0..WIDTH as i32).contains(&x) && (0..HEIGHT as i32).contains(&y));
            }
        }
    }
}
