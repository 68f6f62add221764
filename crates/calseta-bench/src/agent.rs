//! A loopback webhook agent: an HTTP endpoint on `127.0.0.1` that accepts calseta's agent
//! deliveries (`POST /hook`) and records when each alert's first delivery arrived.
//!
//! ```no_run
//! # async fn example() -> Result<(), String> {
//! use std::time::Duration;
//! let agent = calseta_bench::agent::LoopbackAgent::start().await?;
//! // register `agent.url()` as an agent's endpoint_url, ingest an alert, then:
//! let arrived = agent.wait_for("alert-uuid", Duration::from_secs(30)).await;
//! # let _ = arrived;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::JoinHandle;

/// A loopback agent recording when each alert's `alert.enriched` POST arrived; it stops serving
/// when dropped.
#[derive(Debug)]
pub struct LoopbackAgent {
    url: String,
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    server: JoinHandle<()>,
}

impl LoopbackAgent {
    /// Starts serving on a free loopback port (inside the current tokio runtime).
    pub async fn start() -> Result<LoopbackAgent, String> {
        let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let recorded = arrivals.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let recorded = recorded.clone();
                async move {
                    let at = Instant::now();
                    if let Ok(payload) = serde_json::from_slice::<Value>(&body)
                        && let Some(uuid) = payload["alert"]["uuid"].as_str()
                        && let Ok(mut map) = recorded.lock()
                    {
                        map.entry(uuid.to_string()).or_insert(at);
                    }
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot start the bench agent: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(LoopbackAgent { url: format!("http://{addr}/hook"), arrivals, server })
    }

    /// The endpoint to register as the agent's `endpoint_url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// When the first delivery for alert `uuid` arrived, if one did.
    pub fn arrival(&self, uuid: &str) -> Option<Instant> {
        self.arrivals.lock().ok()?.get(uuid).copied()
    }

    /// Waits (polling every millisecond) up to `timeout` for a delivery for alert `uuid`.
    pub async fn wait_for(&self, uuid: &str, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(at) = self.arrival(uuid) {
                return Some(at);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        None
    }

    /// The alerts of `uuids` delivered so far, with their arrival times, in the order given.
    pub fn arrivals(&self, uuids: &[String]) -> Vec<(String, Instant)> {
        let Ok(map) = self.arrivals.lock() else { return Vec::new() };
        uuids.iter().filter_map(|u| map.get(u).map(|at| (u.clone(), *at))).collect()
    }

    /// How many of `uuids` have been delivered.
    pub fn delivered(&self, uuids: &[String]) -> usize {
        self.arrivals(uuids).len()
    }
}

impl Drop for LoopbackAgent {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_the_first_delivery_per_alert() {
        let agent = LoopbackAgent::start().await.unwrap();
        let client = reqwest::Client::new();
        for _ in 0..2 {
            let response = client
                .post(agent.url())
                .header("content-type", "application/json")
                .body(r#"{"event": "alert.enriched", "alert": {"uuid": "a-1"}}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
        }
        let first = agent.wait_for("a-1", Duration::from_secs(5)).await.unwrap();
        assert_eq!(agent.arrival("a-1"), Some(first), "a redelivery keeps the first arrival");
        let uuids = vec!["a-1".to_string(), "a-2".to_string()];
        assert_eq!(agent.delivered(&uuids), 1);
        assert_eq!(agent.arrivals(&uuids), vec![("a-1".to_string(), first)]);
        assert_eq!(agent.wait_for("a-2", Duration::from_millis(10)).await, None);
    }
}
