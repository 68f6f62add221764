//! `GET /events`: the console's live updates as Server-Sent Events, over the services' live feed.
//!
//! A signed-in session gets a `text/event-stream`: first a `ready` event whose id is where the
//! stream starts (so a browser that reconnects before any event resumes from there), then an
//! `alert` event for every new or changed alert its key may read and an `approval` event for every
//! approval requested or decided it may see, each with its activity-log id as the SSE `id:`, and a
//! comment line every heartbeat interval. At each heartbeat the session is checked again (without
//! counting as activity): a session that ended — signed out, idle, revoked key — ends the stream,
//! and a key whose scopes changed sees accordingly. Streams are bounded per process: past the
//! limit the answer is `503` with `Retry-After`. Without a session the answer is `401`: an event
//! stream has no page to come back to after signing in.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use calseta_services::live::{LiveAccess, Subscription};
use calseta_services::resources::console_sessions::Lookup;

use crate::pages::PageContext;
use crate::state::ConsoleState;

/// How long a refused browser is asked to wait before trying again.
const RETRY_AFTER_SECONDS: u64 = 10;
/// The reconnection delay a browser is told to use after the stream breaks.
const RECONNECT: Duration = Duration::from_secs(3);

/// One open stream's state between events.
struct Stream {
    subscription: Subscription,
    heartbeat: tokio::time::Interval,
    state: ConsoleState,
    session_id: String,
    ready: Option<Event>,
}

/// What the next step of a stream yields.
enum Step {
    Send(Event),
    End,
}

impl Stream {
    async fn step(&mut self) -> Step {
        if let Some(ready) = self.ready.take() {
            return Step::Send(ready);
        }
        tokio::select! {
            next = self.subscription.next() => match next {
                Ok(Some(event)) => Step::Send(
                    Event::default().id(event.id.to_string()).event(event.kind.name()).data(&*event.data),
                ),
                Ok(None) => Step::End,
                // The database is away: end, and the browser reconnects with its last id.
                Err(e) => {
                    tracing::warn!(error = %e, "console event stream could not read the activity log");
                    Step::End
                }
            },
            _ = self.heartbeat.tick() => match self.state.sessions().check(&self.session_id).await {
                Ok(Lookup::Active(session)) => {
                    self.subscription.set_access(LiveAccess::of(&session.key));
                    Step::Send(Event::default().comment("heartbeat"))
                }
                Ok(Lookup::Ended(_)) => Step::End,
                // Cannot tell now; the next heartbeat asks again.
                Err(_) => Step::Send(Event::default().comment("heartbeat")),
            },
        }
    }
}

/// `GET /events`: the live updates of the signed-in session (see the module documentation).
pub async fn stream(
    ctx: Result<PageContext, Response>,
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = match ctx {
        Ok(ctx) => ctx,
        // The page extractor sends browsers to sign in; an event stream is told plainly.
        Err(refusal) if refusal.status() == StatusCode::SEE_OTHER => {
            return (StatusCode::UNAUTHORIZED, "Sign in to the console first.").into_response();
        }
        Err(refusal) => return refusal,
    };
    let access = LiveAccess::of(ctx.key());
    let Some(permit) = state.live().acquire() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS))],
            "Too many open live-update streams on this server; try again shortly.",
        )
            .into_response();
    };
    // A reconnect names the last event it saw; a first connect, the position its page was read at.
    let since = query
        .as_deref()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "since"))
        .and_then(|(_, v)| v.trim().parse::<i64>().ok());
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(since);
    let subscription = match state.live().subscribe(permit, access, last_event_id).await {
        Ok(subscription) => subscription,
        Err(e) => return crate::PageError::from(e).into_response(),
    };
    let period = state.settings().heartbeat;
    let ready =
        Event::default().id(subscription.position().to_string()).event("ready").retry(RECONNECT).data("{}");
    let stream = Stream {
        subscription,
        heartbeat: tokio::time::interval_at(tokio::time::Instant::now() + period, period),
        session_id: ctx.session_id().to_string(),
        state,
        ready: Some(ready),
    };
    let events = futures::stream::unfold(stream, |mut stream| async move {
        match stream.step().await {
            Step::Send(event) => Some((Ok::<_, std::convert::Infallible>(event), stream)),
            Step::End => None,
        }
    });
    let mut response = Sse::new(events).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Proxies that buffer responses (nginx) would hold events back.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
