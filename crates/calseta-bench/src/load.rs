//! Load generation: batches of ingest or read requests (REST or MCP) with a fixed number in
//! flight, and what they measured.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::Target;
use crate::stats::Latency;

/// The outcome of a batch of requests.
pub(crate) struct RunResult {
    pub(crate) latency: Latency,
    pub(crate) elapsed: Duration,
    pub(crate) errors: usize,
    /// Alerts created, in order of acceptance.
    pub(crate) uuids: Vec<String>,
    /// When each alert's ingest request was sent.
    pub(crate) sent_at: HashMap<String, Instant>,
}

impl RunResult {
    /// Requests per second.
    pub(crate) fn throughput(&self) -> f64 {
        self.latency.count() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sends every (source, body) with `concurrency` requests in flight.
pub(crate) async fn ingest_all(
    target: &Target,
    bodies: Vec<(String, Vec<u8>)>,
    concurrency: usize,
) -> Result<RunResult, String> {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (bodies, next, client, base, key) =
            (bodies.clone(), next.clone(), target.client.clone(), target.base.clone(), target.key.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = (Vec::new(), 0usize, Vec::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((source, body)) = bodies.get(i) else { return out };
                let sent = Instant::now();
                let response = client
                    .post(format!("{base}/v1/ingest/{source}"))
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let answer = match response {
                    Ok(r) if r.status().as_u16() == 202 => r.json::<Value>().await.ok(),
                    _ => None,
                };
                out.0.push(sent.elapsed());
                match answer.as_ref().and_then(|a| a["data"]["alert_uuid"].as_str()) {
                    Some(uuid) => out.2.push((uuid.to_string(), sent)),
                    None => out.1 += 1,
                }
            }
        }));
    }
    let (mut latencies, mut errors, mut created) = (Vec::new(), 0, Vec::new());
    for task in tasks {
        let (l, e, c) = task.await.map_err(|e| format!("a load task failed: {e}"))?;
        latencies.extend(l);
        errors += e;
        created.extend(c);
    }
    let elapsed = started.elapsed();
    created.sort_by_key(|(_, sent)| *sent);
    let mut uuids = Vec::with_capacity(created.len());
    let mut sent_at = HashMap::with_capacity(created.len());
    for (uuid, sent) in created {
        if sent_at.insert(uuid.clone(), sent).is_none() {
            uuids.push(uuid);
        }
    }
    Ok(RunResult { latency: Latency::new(latencies), elapsed, errors, uuids, sent_at })
}

/// One read: a REST GET, or an MCP JSON-RPC request POSTed to `/mcp`.
#[derive(Debug, Clone)]
pub(crate) enum Read {
    /// `GET` this path; a 2xx is a success.
    Rest(String),
    /// POST this JSON-RPC request to `/mcp`; an answer with a `result` is a success.
    Mcp(Value),
}

impl Read {
    /// A JSON-RPC request for MCP `method` with `params`.
    pub(crate) fn mcp(method: &str, params: Value) -> Read {
        Read::Mcp(serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
    }
}

/// Sends `read` and says whether it succeeded.
async fn send_read(client: &reqwest::Client, base: &str, key: &str, read: &Read) -> bool {
    match read {
        Read::Rest(path) => match client.get(format!("{base}{path}")).bearer_auth(key).send().await {
            Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
            Err(_) => false,
        },
        Read::Mcp(body) => {
            let request = client
                .post(format!("{base}/mcp"))
                .bearer_auth(key)
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-06-18")
                .json(body);
            match request.send().await {
                Ok(r) if r.status().is_success() => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v.get("result").is_some_and(|r| r["isError"] != true)),
                _ => false,
            }
        }
    }
}

/// Sends the reads round-robin with `concurrency` requests in flight for `duration`.
pub(crate) async fn read_all(
    target: &Target,
    paths: Vec<Read>,
    concurrency: usize,
    duration: Duration,
) -> Result<RunResult, String> {
    if paths.is_empty() {
        return Err("nothing to read: the pipeline created no alerts".into());
    }
    let paths = Arc::new(paths);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (paths, next, client, base, key) =
            (paths.clone(), next.clone(), target.client.clone(), target.base.clone(), target.key.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            while started.elapsed() < duration {
                let read = &paths[next.fetch_add(1, Ordering::Relaxed) % paths.len()];
                let sent = Instant::now();
                let ok = send_read(&client, &base, &key, read).await;
                latencies.push(sent.elapsed());
                errors += usize::from(!ok);
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (l, e) = task.await.map_err(|e| format!("a load task failed: {e}"))?;
        latencies.extend(l);
        errors += e;
    }
    Ok(RunResult {
        latency: Latency::new(latencies),
        elapsed: started.elapsed(),
        errors,
        uuids: Vec::new(),
        sent_at: HashMap::new(),
    })
}
