//! The live feed behind the console's Server-Sent Events: what happened to alerts and approvals,
//! in the activity log's order, fanned out to every open console of this process.
//!
//! The activity log is the durable, ordered record of every change (each event is written in the
//! transaction of its change), so its id is the event id a browser resumes from: a reconnect
//! with `Last-Event-ID` reads `id > last` from the database and loses nothing. One poller task
//! per process reads new events when woken — by this process's commits (the store's activity
//! wake-up), by PostgreSQL `NOTIFY` from other processes (migration 0013's trigger), or by a slow
//! tick (SQLite shared by several processes) — and broadcasts them; each connection follows the
//! broadcast and, when it falls behind (or resumes), re-reads from the database by its own cursor.
//!
//! PostgreSQL hands out ids when rows are inserted, not when they commit: a row with a lower id
//! can become visible after a higher one. The poller therefore delivers in id order only up to
//! the first id it has not seen, and waits up to a grace window (`gap_grace`) for that id to
//! commit before treating it as rolled back; so every browser sees ids strictly increasing and its
//! `Last-Event-ID` is a safe place to resume from.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use calseta_core::alerts::{AlertStatus, CloseClassification, EnrichmentStatus, Severity};
use calseta_core::scopes::Scope;
use calseta_core::workflows::ApprovalStatus;
use calseta_store::Db;
use calseta_store::activity::{self as repo, LiveRow};
use serde_json::{Value, json};
use tokio::sync::{Mutex, broadcast, watch};
use tokio::time::Instant;

use crate::ServiceError;
use crate::resources::api_keys::ApiKey;

/// Activity events about an alert that change its row in the queue (`alert_ingested` adds one).
const ALERT_EVENTS: &[&str] = &[
    "alert_ingested",
    "alert_status_updated",
    "alert_closed",
    "alert_severity_updated",
    "alert_malice_updated",
    "alert_enrichment_completed",
    "alert_enrichment_failed",
    "indicator_malice_updated",
];
/// The events that make an alert new in the queue.
const NEW_ALERT: &str = "alert_ingested";
/// Activity events of the approval gate.
const REQUESTED: &str = "workflow_approval_requested";
const RESPONDED: &str = "workflow_approval_responded";
const EXPIRED: &str = "workflow_approval_expired";

/// Rows read per query (the poller's and a catching-up connection's).
const PAGE: i64 = 500;
/// Ids not yet seen that the poller waits for at most; a larger hole (a sequence that jumped
/// after a crash) is taken as ids that will never commit.
const MAX_GAPS: usize = 10_000;

/// How the live feed behaves.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// `CONSOLE_SSE_MAX_CONNECTIONS` (256): open event streams in this process; more are refused.
    pub max_connections: usize,
    /// `CONSOLE_SSE_GAP_GRACE_MS` (5000): how long an id not yet visible holds back later events
    /// before it is taken as rolled back (PostgreSQL commits ids out of order).
    pub gap_grace: Duration,
    /// The fallback poll when nothing wakes the feed (SQLite files shared by processes).
    pub poll_interval: Duration,
    /// Events buffered per connection before it counts as lagging and re-reads the database.
    pub buffer: usize,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            max_connections: 256,
            gap_grace: Duration::from_millis(5000),
            poll_interval: Duration::from_secs(1),
            buffer: 1024,
        }
    }
}

/// What an event is about, and so which scope may see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveKind {
    /// A new or changed alert (`alerts:read`).
    Alert,
    /// An approval requested or decided (`approvals:write`, as REST's approval list).
    Approval,
}

impl LiveKind {
    /// The SSE `event:` name.
    pub const fn name(self) -> &'static str {
        match self {
            LiveKind::Alert => "alert",
            LiveKind::Approval => "approval",
        }
    }
}

/// One event for the consoles: its id in the activity log and its JSON, serialized once for
/// every connection.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// The activity event's id: the SSE `id:`.
    pub id: i64,
    /// What it is about.
    pub kind: LiveKind,
    /// The JSON `data:` (one line).
    pub data: Arc<str>,
}

/// What a connection may see, from its key's scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveAccess {
    /// Alert events (`alerts:read`).
    pub alerts: bool,
    /// Approval events (`approvals:write`, the scope REST reads approvals with).
    pub approvals: bool,
}

impl LiveAccess {
    /// What `key` may see.
    pub fn of(key: &ApiKey) -> Self {
        LiveAccess { alerts: key.allows(Scope::AlertsRead), approvals: key.allows(Scope::ApprovalsWrite) }
    }

    fn sees(self, kind: LiveKind) -> bool {
        match kind {
            LiveKind::Alert => self.alerts,
            LiveKind::Approval => self.approvals,
        }
    }
}

/// The event a row is for the consoles, or `None` for events they do not show.
pub fn event_of(row: &LiveRow) -> Option<LiveEvent> {
    let event_type = row.event_type.as_str();
    let refs = row.references.as_ref().map(|r| &r.0);
    let text = |key: &str| refs.and_then(|r| r.get(key)).and_then(Value::as_str).map(str::to_string);
    let (kind, data) = if ALERT_EVENTS.contains(&event_type) {
        let uuid = row.alert_uuid?;
        // The alert as it is now (the row the queue shows), each enum read as its core type.
        let status = row.status.as_deref().and_then(|s| AlertStatus::parse(s).ok());
        let severity = row.severity.as_deref().and_then(|s| Severity::parse(s).ok());
        let enrichment = row.enrichment_status.as_deref().and_then(|s| EnrichmentStatus::parse(s).ok());
        let classification =
            row.close_classification.as_deref().and_then(|s| CloseClassification::parse(s).ok());
        let data = json!({
            "type": event_type,
            "new": event_type == NEW_ALERT,
            "alert": {
                "uuid": uuid,
                "title": row.title,
                "severity": severity.map(Severity::as_str),
                "status": status.map(AlertStatus::as_str),
                "close_classification": classification.map(CloseClassification::as_str),
                "source": row.source_name,
                "enrichment_status": enrichment.map(EnrichmentStatus::as_str),
                "occurred_at": row.occurred_at,
            },
            "at": row.created_at,
        });
        (LiveKind::Alert, data)
    } else if [REQUESTED, RESPONDED, EXPIRED].contains(&event_type) {
        let status = match event_type {
            REQUESTED => Some(ApprovalStatus::Pending),
            EXPIRED => Some(ApprovalStatus::Expired),
            _ => text("decision").and_then(|d| ApprovalStatus::parse(&d).ok()),
        };
        let data = json!({
            "type": event_type,
            "approval": {
                "uuid": text("approval_uuid"),
                "workflow_name": text("workflow_name"),
                "status": status.map(ApprovalStatus::as_str),
                "alert_uuid": row.alert_uuid,
            },
            "at": row.created_at,
        });
        (LiveKind::Approval, data)
    } else {
        return None;
    };
    Some(LiveEvent { id: row.id, kind, data: Arc::from(data.to_string()) })
}

struct Feed {
    db: Db,
    settings: LiveSettings,
    sender: broadcast::Sender<Arc<LiveEvent>>,
    /// Every event with an id up to this one has been broadcast (or will never be): raised before
    /// each broadcast, so a connection that reads it after subscribing misses nothing.
    watermark: AtomicI64,
    connections: AtomicUsize,
    /// Whether the poller runs (started by the first subscription).
    started: Mutex<bool>,
    /// `true` once the process stops: the poller ends, and so does every stream.
    stopped: watch::Sender<bool>,
    /// The server's shutdown signal, when it has one.
    shutdown: Option<watch::Receiver<bool>>,
}

/// This process's live feed; cheap to clone.
#[derive(Clone)]
pub struct LiveFeed(Arc<Feed>);

/// A place among the bounded connections, given back when dropped.
pub struct Permit(Arc<Feed>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

impl LiveFeed {
    /// The feed over `db`; its poller starts with the first subscription and stops when
    /// `shutdown` turns `true` (or [`LiveFeed::stop`] is called).
    pub fn new(db: Db, settings: LiveSettings, shutdown: Option<watch::Receiver<bool>>) -> Self {
        let (sender, _) = broadcast::channel(settings.buffer.max(16));
        let (stopped, _) = watch::channel(false);
        LiveFeed(Arc::new(Feed {
            db,
            settings,
            sender,
            watermark: AtomicI64::new(0),
            connections: AtomicUsize::new(0),
            started: Mutex::new(false),
            stopped,
            shutdown,
        }))
    }

    /// The settings.
    pub fn settings(&self) -> &LiveSettings {
        &self.0.settings
    }

    /// A place for one more connection, or `None` when `max_connections` are open.
    pub fn acquire(&self) -> Option<Permit> {
        let max = self.0.settings.max_connections;
        self.0
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| Permit(self.0.clone()))
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.0.connections.load(Ordering::Acquire)
    }

    /// Ends the poller and every stream (the process is stopping).
    pub fn stop(&self) {
        self.0.stopped.send_replace(true);
    }

    /// A connection's stream of events with `access`: those after `last_event_id` (a browser
    /// resuming) — read from the database, then live — or, without one, those from now on.
    /// The newest activity event's id: a page reads it as it renders, and its event stream starts
    /// there (`since`), so what happens in between is not lost.
    pub async fn latest(&self) -> Result<i64, ServiceError> {
        Ok(repo::latest_id(&self.0.db).await?)
    }

    /// A stream for `access` from `last_event_id` (or from now).
    pub async fn subscribe(
        &self,
        permit: Permit,
        access: LiveAccess,
        last_event_id: Option<i64>,
    ) -> Result<Subscription, ServiceError> {
        self.start().await?;
        // Subscribe before reading the watermark: what is broadcast after this is received, what
        // was broadcast before is at or below the watermark read next, and so read from the log.
        let rx = self.0.sender.subscribe();
        let watermark = self.0.watermark.load(Ordering::Acquire);
        let read_through = match last_event_id {
            Some(last) if last < watermark => last.max(0),
            // Ahead of this process (another process delivered further): events up to it were
            // seen; beyond the log's end it is no place at all, so start from now.
            Some(last) if last <= repo::latest_id(&self.0.db).await? => last,
            _ => watermark,
        };
        Ok(Subscription {
            feed: self.0.clone(),
            rx,
            read_through,
            catch_up: read_through < watermark,
            backlog: VecDeque::new(),
            access,
            stopped: self.0.stopped.subscribe(),
            _permit: permit,
        })
    }

    async fn start(&self) -> Result<(), ServiceError> {
        let mut started = self.0.started.lock().await;
        if !*started {
            let latest = repo::latest_id(&self.0.db).await?;
            self.0.watermark.store(latest, Ordering::Release);
            tokio::spawn(poll(Arc::downgrade(&self.0), latest));
            *started = true;
        }
        Ok(())
    }
}

/// The ids the poller has read past and the events it holds back until the ids before them are
/// settled.
struct Cursor {
    /// Every id up to here is delivered or given up on.
    watermark: i64,
    /// The highest id read.
    max_seen: i64,
    /// Ids below `max_seen` not yet visible, with when they were first missed.
    gaps: BTreeMap<i64, Instant>,
    /// Rows read but not yet delivered (a gap precedes them), by id; `None` for rows the consoles
    /// do not show.
    held: BTreeMap<i64, Option<LiveEvent>>,
}

impl Cursor {
    fn new(start: i64) -> Self {
        Cursor { watermark: start, max_seen: start, gaps: BTreeMap::new(), held: BTreeMap::new() }
    }

    /// Takes in rows read (new ones or gaps filled); ids skipped by new rows become gaps.
    fn take(&mut self, rows: Vec<LiveRow>, now: Instant) {
        for row in rows {
            if row.id > self.max_seen {
                let missing = row.id - self.max_seen - 1;
                if missing > 0 && self.gaps.len() + (missing as usize) <= MAX_GAPS {
                    for id in self.max_seen + 1..row.id {
                        self.gaps.insert(id, now);
                    }
                }
                self.max_seen = row.id;
            } else if self.gaps.remove(&row.id).is_none() {
                continue;
            }
            self.held.insert(row.id, event_of(&row));
        }
    }

    /// Forgets gaps older than `grace` (their transactions rolled back).
    fn expire(&mut self, now: Instant, grace: Duration) {
        self.gaps.retain(|id, since| {
            let keep = now.duration_since(*since) < grace;
            if !keep {
                tracing::debug!(id, "activity id never became visible; live feed moves past it");
            }
            keep
        });
    }

    /// The events now deliverable in id order (those below the first gap), and the new watermark.
    fn ready(&mut self) -> Vec<(i64, Option<LiveEvent>)> {
        let limit = self.gaps.keys().next().map_or(self.max_seen, |first| first - 1);
        let later = self.held.split_off(&(limit + 1));
        let ready = std::mem::replace(&mut self.held, later).into_iter().collect();
        self.watermark = self.watermark.max(limit);
        ready
    }

    fn next_expiry(&self, grace: Duration) -> Option<Instant> {
        self.gaps.values().min().map(|since| *since + grace)
    }
}

/// The poller: one per process, from the first subscription until the feed stops or is dropped.
async fn poll(feed: Weak<Feed>, start: i64) {
    let Some(strong) = feed.upgrade() else { return };
    let db = strong.db.clone();
    let settings = strong.settings.clone();
    let mut stopped = strong.stopped.subscribe();
    let mut shutdown = strong.shutdown.clone();
    drop(strong);
    let listener = tokio::spawn(repo::forward_notifications(db.clone()));
    let mut cursor = Cursor::new(start);
    loop {
        let expiry = cursor.next_expiry(settings.gap_grace);
        let wait_expiry = async {
            match expiry {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let wait_shutdown = async {
            match shutdown.as_mut() {
                Some(rx) => {
                    let _ = rx.wait_for(|stop| *stop).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = db.activity_wakeup().notified() => {}
            _ = tokio::time::sleep(settings.poll_interval) => {}
            _ = wait_expiry => {}
            _ = stopped.wait_for(|stop| *stop) => break,
            _ = wait_shutdown => {
                if let Some(feed) = feed.upgrade() {
                    feed.stopped.send_replace(true);
                }
                break;
            }
        }
        let Some(strong) = feed.upgrade() else { break };
        if let Err(e) = read_new(&strong, &mut cursor, settings.gap_grace).await {
            tracing::warn!(error = %e, "live feed could not read the activity log; retrying");
        }
    }
    listener.abort();
}

/// Reads every new event (and gaps since filled), and broadcasts what is deliverable.
async fn read_new(feed: &Feed, cursor: &mut Cursor, grace: Duration) -> Result<(), ServiceError> {
    loop {
        let gaps: Vec<i64> = cursor.gaps.keys().copied().take(PAGE as usize).collect();
        let filled = repo::live_by_ids(&feed.db, &gaps).await?;
        let rows = repo::live_after(&feed.db, cursor.max_seen, None, PAGE).await?;
        let full = rows.len() as i64 == PAGE;
        let now = Instant::now();
        cursor.take(filled, now);
        cursor.take(rows, now);
        cursor.expire(now, grace);
        for (id, event) in cursor.ready() {
            if let Some(event) = event {
                // Raised before sending: see `Feed::watermark`.
                feed.watermark.fetch_max(id, Ordering::AcqRel);
                // No receiver is no error: nobody is watching.
                let _ = feed.sender.send(Arc::new(event));
            }
        }
        feed.watermark.fetch_max(cursor.watermark, Ordering::AcqRel);
        if !full {
            return Ok(());
        }
    }
}

/// One connection's events, in id order, each once, only those its access allows.
pub struct Subscription {
    feed: Arc<Feed>,
    rx: broadcast::Receiver<Arc<LiveEvent>>,
    /// Every event up to this id is in `backlog`, delivered, or not for this connection.
    read_through: i64,
    /// Events after `read_through` are to be read from the database (resume, or lagging).
    catch_up: bool,
    backlog: VecDeque<Arc<LiveEvent>>,
    access: LiveAccess,
    stopped: watch::Receiver<bool>,
    _permit: Permit,
}

impl Subscription {
    /// The id this connection has read through: where a browser resumes from.
    pub fn position(&self) -> i64 {
        self.read_through
    }

    /// Changes what the connection may see (its key's scopes were read again).
    pub fn set_access(&mut self, access: LiveAccess) {
        self.access = access;
    }

    /// The next event, or `None` when the feed stops (the process is shutting down).
    ///
    /// Cancel-safe: state changes only after each await completes, so a caller may race it
    /// against a heartbeat timer.
    pub async fn next(&mut self) -> Result<Option<Arc<LiveEvent>>, ServiceError> {
        loop {
            if *self.stopped.borrow() {
                return Ok(None);
            }
            if let Some(event) = self.backlog.pop_front() {
                if self.access.sees(event.kind) {
                    return Ok(Some(event));
                }
                continue;
            }
            if self.catch_up {
                let through = self.feed.watermark.load(Ordering::Acquire);
                if through <= self.read_through {
                    // Nothing settled beyond what this connection has: never move back.
                    self.catch_up = false;
                    continue;
                }
                let rows = repo::live_after(&self.feed.db, self.read_through, Some(through), PAGE).await?;
                let full = rows.len() as i64 == PAGE;
                self.read_through = if full { rows.last().map_or(through, |r| r.id) } else { through };
                self.catch_up = full;
                self.backlog.extend(rows.iter().filter_map(event_of).map(Arc::new));
                continue;
            }
            tokio::select! {
                _ = self.stopped.changed() => {}
                received = self.rx.recv() => match received {
                    Ok(event) => {
                        if event.id > self.read_through {
                            self.read_through = event.id;
                            self.backlog.push_back(event);
                        }
                    }
                    // Fell behind the broadcast: what was dropped is in the log.
                    Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up = true,
                    Err(broadcast::error::RecvError::Closed) => return Ok(None),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> LiveRow {
        LiveRow {
            id,
            event_type: NEW_ALERT.into(),
            references: None,
            created_at: chrono::Utc::now(),
            alert_uuid: Some(uuid::Uuid::new_v4()),
            title: Some("t".into()),
            severity: None,
            status: None,
            source_name: None,
            enrichment_status: None,
            close_classification: None,
            occurred_at: None,
        }
    }

    fn ids(ready: &[(i64, Option<LiveEvent>)]) -> Vec<i64> {
        ready.iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn an_id_committed_late_is_delivered_before_the_ids_after_it() {
        let now = Instant::now();
        let mut cursor = Cursor::new(10);
        cursor.take(vec![row(11), row(13), row(14)], now);
        assert_eq!(ids(&cursor.ready()), vec![11], "12 is not visible yet: 13 and 14 wait");
        assert_eq!(cursor.watermark, 11);
        cursor.take(vec![row(12)], now);
        assert_eq!(ids(&cursor.ready()), vec![12, 13, 14]);
        assert_eq!(cursor.watermark, 14);
        assert!(cursor.gaps.is_empty());
    }

    #[test]
    fn a_gap_past_the_grace_window_is_given_up() {
        let now = Instant::now();
        let grace = Duration::from_secs(5);
        let mut cursor = Cursor::new(0);
        cursor.take(vec![row(2)], now);
        assert!(cursor.ready().is_empty());
        cursor.expire(now + Duration::from_secs(1), grace);
        assert!(cursor.ready().is_empty(), "still within the grace window");
        cursor.expire(now + grace, grace);
        assert_eq!(ids(&cursor.ready()), vec![2]);
        // Seen after being given up on, it is not delivered out of order.
        cursor.take(vec![row(1)], now + grace);
        assert!(cursor.ready().is_empty());
    }

    #[test]
    fn only_shown_events_become_consoles_events() {
        let mut other = row(1);
        other.event_type = "alert_finding_added".into();
        assert!(event_of(&other).is_none());
        let mut orphan = row(2);
        orphan.alert_uuid = None;
        assert!(event_of(&orphan).is_none(), "an alert event without its alert (deleted)");
        let event = event_of(&row(3)).unwrap();
        assert_eq!(event.kind, LiveKind::Alert);
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(data["new"], true);
        let mut approval = row(4);
        approval.event_type = RESPONDED.into();
        approval.references = Some(json!({"approval_uuid": "a", "decision": "approved"}).into());
        let data: Value = serde_json::from_str(&event_of(&approval).unwrap().data).unwrap();
        assert_eq!(data["approval"]["status"], ApprovalStatus::Approved.as_str());
    }
}
