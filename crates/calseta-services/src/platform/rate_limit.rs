//! Fixed-window request limits per minute, keyed by route (REST) or limit class (MCP) and API
//! key, or by client IP for failed authentications, which REST and MCP count together.
//!
//! Counters live in this process: with N API processes the effective limit is N times the
//! configured one (documented in docs/operations.md).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Entries kept before stale windows are swept.
const SWEEP_AT: usize = 50_000;

/// The client's address, as the HTTP layer determined it (`X-Forwarded-For` honoured only behind
/// `TRUSTED_PROXY_COUNT` proxies); a request extension.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// The bucket failed authentications from `ip` count in (REST and MCP alike).
pub(crate) fn unauthed_bucket(ip: &str) -> String {
    format!("unauthed|{ip}")
}

/// Per-minute limits by route class; 0 disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Default for authenticated routes (`RATE_LIMIT_AUTHED_PER_MINUTE`).
    pub authed: u32,
    /// Ingest routes (`RATE_LIMIT_INGEST_PER_MINUTE`).
    pub ingest: u32,
    /// On-demand enrichment, re-enrich, provider tests (`RATE_LIMIT_ENRICHMENT_PER_MINUTE`).
    pub enrichment: u32,
    /// Workflow execution (`RATE_LIMIT_WORKFLOW_EXECUTE_PER_MINUTE`).
    pub workflow_execute: u32,
    /// Failed authentications per client IP (`RATE_LIMIT_UNAUTHED_PER_MINUTE`).
    pub unauthed: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { authed: 600, ingest: 100, enrichment: 60, workflow_execute: 30, unauthed: 30 }
    }
}

/// The limiter.
#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (u64, u32)>>,
}

fn current_window() -> (u64, u64) {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    (secs / 60, 60 - secs % 60)
}

impl RateLimiter {
    /// Counts a request against `bucket`; `Err(retry_after_seconds)` once over `per_minute`.
    pub fn hit(&self, bucket: &str, per_minute: u32) -> Result<(), u64> {
        if per_minute == 0 {
            return Ok(());
        }
        let (window, retry_after) = current_window();
        // A panic elsewhere while holding the lock leaves counts that are still counts: go on
        // limiting with them rather than turn limiting off.
        let mut windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, (w, _)| *w == window);
        }
        let entry = windows.entry(bucket.to_string()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= per_minute {
            return Err(retry_after);
        }
        entry.1 += 1;
        Ok(())
    }

    /// Whether `bucket` is already at `per_minute` this window, without counting.
    pub fn exhausted(&self, bucket: &str, per_minute: u32) -> Option<u64> {
        if per_minute == 0 {
            return None;
        }
        let (window, retry_after) = current_window();
        let windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match windows.get(bucket) {
            Some((w, count)) if *w == window && *count >= per_minute => Some(retry_after),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_bucket() {
        let limiter = RateLimiter::default();
        assert!(limiter.hit("a", 2).is_ok());
        assert!(limiter.hit("a", 2).is_ok());
        let retry = limiter.hit("a", 2).unwrap_err();
        assert!((1..=60).contains(&retry));
        assert!(limiter.exhausted("a", 2).is_some());
        assert!(limiter.hit("b", 2).is_ok());
        assert!(limiter.hit("a", 0).is_ok());
    }

    #[test]
    fn a_poisoned_lock_does_not_turn_limiting_off() {
        let limiter = std::sync::Arc::new(RateLimiter::default());
        let poisoner = limiter.clone();
        let _ = std::thread::spawn(move || {
            let _held = poisoner.windows.lock();
            panic!("poison the lock");
        })
        .join();
        assert!(limiter.windows.is_poisoned());
        // Two hits in one clock minute (retried if a minute boundary falls between them): the
        // second is refused, as without the poison.
        for attempt in 0.. {
            let bucket = format!("k{attempt}");
            let (before, _) = current_window();
            let first = limiter.hit(&bucket, 1);
            let second = limiter.hit(&bucket, 1);
            if current_window().0 == before {
                assert!(first.is_ok() && second.is_err(), "still limited after the poison");
                break;
            }
        }
    }
}
