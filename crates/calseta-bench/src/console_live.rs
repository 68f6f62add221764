//! The console's live-update fan-out: open consoles (event streams of `GET /events`, signed in as
//! a browser would) receive each new alert's event while alerts are ingested at a steady rate; the
//! delay from sending an alert to each console receiving its event, as p50/p99, with the share
//! delivered within one second and any never delivered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::client::Target;
use crate::fixtures::Template;
use crate::rewrite::AlertFactory;
use crate::stats::{Latency, round};

/// How many consoles, how fast and how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveScale {
    consoles: usize,
    per_second: usize,
    seconds: u64,
}

impl LiveScale {
    /// The figure: 100 consoles while 500 alerts/s are ingested.
    pub(crate) const FULL: LiveScale = LiveScale { consoles: 100, per_second: 500, seconds: 10 };
    /// A smoke run.
    pub(crate) const QUICK: LiveScale = LiveScale { consoles: 10, per_second: 100, seconds: 2 };
}

/// Signs in to the console with the target's key; the session cookie (`name=value`).
async fn sign_in(target: &Target) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let form =
        client.get(format!("{}/login", target.base)).send().await.map_err(|e| format!("login: {e}"))?;
    let login_cookie = cookie(form.headers(), "calseta_login_csrf").ok_or("no login cookie")?;
    let html = form.text().await.map_err(|e| e.to_string())?;
    let marker = "name=\"csrf_token\" value=\"";
    let token = html
        .split_once(marker)
        .and_then(|(_, rest)| rest.split('"').next())
        .ok_or("no csrf_token on the login form")?
        .to_string();
    let body = format!("csrf_token={}&api_key={}", percent(&token), percent(&target.key));
    let signed = client
        .post(format!("{}/login", target.base))
        .header("origin", &target.base)
        .header("cookie", login_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    cookie(signed.headers(), "calseta_session").ok_or_else(|| format!("sign-in answered {}", signed.status()))
}

/// `name=value` of the `Set-Cookie` for `name`.
fn cookie(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// Form-encodes the few characters a key or token may hold that a form would change.
fn percent(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.~".contains(c) {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32)
            }
        })
        .collect()
}

/// The new alerts' uuids an event stream delivered, with when each arrived.
type Arrivals = Vec<(String, Instant)>;

/// Opens one console's stream and reads it until `stop`; `ready` is signalled once it follows.
async fn console(
    client: reqwest::Client,
    url: String,
    session: String,
    ready: tokio::sync::oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> Result<Arrivals, String> {
    let mut response =
        client.get(url).header("cookie", session).send().await.map_err(|e| format!("events: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("events answered {}", response.status()));
    }
    let mut ready = Some(ready);
    let mut buffer = String::new();
    let mut arrivals = Vec::new();
    loop {
        let chunk = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            chunk = response.chunk() => chunk.map_err(|e| format!("events: {e}"))?,
        };
        let Some(chunk) = chunk else { break };
        let at = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            // Whole `event:` lines are compared: the names are the stream's, not enum values.
            let named = |line: &str| block.lines().any(|l| l == line);
            if named("event: ready") {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
                continue;
            }
            let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) else { continue };
            if named("event: alert")
                && let Ok(value) = serde_json::from_str::<Value>(data)
                && value["new"] == true
                && let Some(uuid) = value["alert"]["uuid"].as_str()
            {
                arrivals.push((uuid.to_string(), at));
            }
        }
    }
    Ok(arrivals)
}

/// Runs the measurement; its section of the report.
pub(crate) async fn measure(
    target: &Target,
    templates: &[Template],
    scale: LiveScale,
) -> Result<Value, String> {
    let primary: Vec<&Template> = templates.iter().filter(|t| t.primary).collect();
    if primary.is_empty() {
        return Err("no fixture to ingest".into());
    }
    let session = sign_in(target).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut consoles = Vec::new();
    for _ in 0..scale.consoles {
        // One client per console: each stream holds its own connection, as a browser tab does.
        let client = reqwest::Client::builder().build().map_err(|e| e.to_string())?;
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let url = format!("{}/events", target.base);
        consoles.push(tokio::spawn(console(client, url, session.clone(), ready_tx, stop_rx.clone())));
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .map_err(|_| "a console stream did not open within 10 s")?
            .map_err(|_| "a console stream ended before it was ready")?;
    }

    // Numbered beyond the earlier phases' alerts: a repeat would be deduplicated, not new.
    let factory = AlertFactory::starting_at(1_000_000_000);
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let total = scale.per_second * scale.seconds as usize;
    let interval = Duration::from_secs(1) / scale.per_second.max(1) as u32;
    let started = Instant::now();
    let mut ingests = Vec::with_capacity(total);
    for i in 0..total {
        tokio::time::sleep_until((started + interval * i as u32).into()).await;
        let template = primary[i % primary.len()];
        let body = factory.make(template);
        let (source, client, base, key) =
            (template.source.clone(), target.client.clone(), target.base.clone(), target.key.clone());
        let sent = sent.clone();
        ingests.push(tokio::spawn(async move {
            let at = Instant::now();
            let one = Target { client, base, key };
            let uuid = one.ingest(&source, body).await?;
            sent.lock().map_err(|_| "poisoned")?.insert(uuid, at);
            Ok::<_, String>(())
        }));
    }
    let mut errors = 0usize;
    for ingest in ingests {
        if !matches!(ingest.await, Ok(Ok(()))) {
            errors += 1;
        }
    }
    let ingest_seconds = started.elapsed().as_secs_f64();
    // Late events still count (as slow): give them a moment before closing the streams.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_tx.send(true);
    let sent = sent.lock().map_err(|_| "poisoned")?.clone();
    let mut samples = Vec::new();
    for console in consoles {
        let arrivals = console.await.map_err(|e| e.to_string())??;
        samples.extend(
            arrivals
                .into_iter()
                .filter_map(|(uuid, at)| sent.get(&uuid).map(|s| at.saturating_duration_since(*s))),
        );
    }
    let expected = sent.len() * scale.consoles;
    let within = samples.iter().filter(|d| **d <= Duration::from_secs(1)).count();
    let latency = Latency::new(samples);
    let delivered = latency.count();
    println!(
        "console live: {} consoles, {} alerts at {:.0}/s: event p50 {:.1} ms p99 {:.1} ms, {:.2}% within 1 s, {} missing",
        scale.consoles,
        sent.len(),
        sent.len() as f64 / ingest_seconds,
        latency.p(0.5),
        latency.p(0.99),
        if expected == 0 { 0.0 } else { within as f64 * 100.0 / expected as f64 },
        expected.saturating_sub(delivered),
    );
    Ok(json!({
        "consoles": scale.consoles, "target_per_second": scale.per_second, "alerts": sent.len(),
        "ingest_errors": errors, "ingest_per_second": round(sent.len() as f64 / ingest_seconds),
        "deliveries": delivered, "missing": expected.saturating_sub(delivered),
        "within_1s_share": if expected == 0 { 0.0 } else { round(within as f64 / expected as f64) },
        "latency_ms": latency.to_json(),
    }))
}
