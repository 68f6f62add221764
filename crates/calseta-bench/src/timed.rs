//! Load for a fixed time: requests made by a function of their sequence number, a fixed number
//! in flight, until a deadline; each request timed to its whole answer, each answer judged by a
//! check. What `--scale` measures each query with.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::stats::{Latency, round};

/// One request: method, path (from the server's base) and body.
pub(crate) struct Request {
    pub(crate) method: reqwest::Method,
    pub(crate) path: String,
    pub(crate) body: Option<Vec<u8>>,
}

impl Request {
    /// A `GET` of `path`.
    pub(crate) fn get(path: String) -> Self {
        Request { method: reqwest::Method::GET, path, body: None }
    }
}

/// Makes request `i`.
pub(crate) type MakeRequest = Arc<dyn Fn(u64) -> Request + Send + Sync>;
/// Whether an answer (status, body) is the one expected.
pub(crate) type Check = fn(u16, &[u8]) -> bool;

/// Where to send requests, with which key.
#[derive(Clone)]
pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) key: String,
}

/// What a run measured.
pub(crate) struct Measured {
    pub(crate) latency: Latency,
    /// Answers the check refused, and requests that failed.
    pub(crate) errors: usize,
    /// Accepted answers per second of the run.
    pub(crate) per_second: f64,
}

impl Measured {
    /// Requests, errors, p50/p99 (ms) and per second.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "requests": self.latency.count(), "errors": self.errors,
            "p50_ms": round(self.latency.p(0.5)), "p99_ms": round(self.latency.p(0.99)),
            "per_second": round(self.per_second), "latency_ms": self.latency.to_json(),
        })
    }
}

/// Sends requests made by `make` with `concurrency` in flight for `duration`.
pub(crate) async fn run_for(
    client: &Client,
    make: MakeRequest,
    check: Check,
    concurrency: usize,
    duration: Duration,
) -> Measured {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, make, next) = (client.clone(), make.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let (mut times, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < deadline {
                let request = make(next.fetch_add(1, Ordering::Relaxed));
                let sent = Instant::now();
                let mut builder = client
                    .http
                    .request(request.method, format!("{}{}", client.base, request.path))
                    .bearer_auth(&client.key);
                if let Some(body) = request.body {
                    builder = builder.header("content-type", "application/json").body(body);
                }
                let accepted = match builder.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        response.bytes().await.is_ok_and(|body| check(status, &body))
                    }
                    Err(_) => false,
                };
                if accepted {
                    times.push(sent.elapsed());
                } else {
                    errors += 1;
                }
            }
            (times, errors)
        }));
    }
    let (times, errors) = gather(tasks).await;
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let per_second = times.len() as f64 / elapsed;
    Measured { latency: Latency::new(times), errors, per_second }
}

/// The answer times and error counts of load tasks, together (a task that died is one error).
pub(crate) async fn gather(
    tasks: Vec<tokio::task::JoinHandle<(Vec<Duration>, usize)>>,
) -> (Vec<Duration>, usize) {
    let (mut times, mut errors) = (Vec::new(), 0);
    for task in tasks {
        match task.await {
            Ok((t, e)) => {
                times.extend(t);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    (times, errors)
}

/// A `200`.
pub(crate) fn ok(status: u16, _: &[u8]) -> bool {
    status == 200
}

/// An ingest answered as a duplicate (`202` with `is_duplicate: true`).
pub(crate) fn duplicate(status: u16, body: &[u8]) -> bool {
    status == 202
        && serde_json::from_slice::<Value>(body).is_ok_and(|b| b["data"]["is_duplicate"] == Value::Bool(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_accept_only_the_expected_answers() {
        assert!(ok(200, b""));
        assert!(!ok(404, b""));
        assert!(duplicate(202, br#"{"data": {"is_duplicate": true}}"#));
        assert!(!duplicate(202, br#"{"data": {"is_duplicate": false}}"#));
        assert!(!duplicate(200, br#"{"data": {"is_duplicate": true}}"#));
    }

    /// Requests go on until the deadline, each made from its number; refused answers count as
    /// errors, accepted ones are timed.
    #[tokio::test]
    async fn requests_run_until_the_deadline_and_refusals_are_errors() {
        let app = axum::Router::new()
            .route("/even/{n}", axum::routing::get(|| async { "ok" }))
            .route("/odd/{n}", axum::routing::get(|| async { (axum::http::StatusCode::NOT_FOUND, "") }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = Client { http: reqwest::Client::new(), base, key: "k".into() };
        let make: MakeRequest =
            Arc::new(|i| Request::get(format!("/{}/{i}", if i % 2 == 0 { "even" } else { "odd" })));
        let run = run_for(&client, make, ok, 4, Duration::from_millis(300)).await;
        let (accepted, errors) = (run.latency.count(), run.errors);
        assert!(accepted > 10 && errors > 10, "{accepted} accepted, {errors} errors");
        assert!(accepted.abs_diff(errors) <= 4, "every other request is refused");
        assert!(run.per_second > 0.0);
    }
}
