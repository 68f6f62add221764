//! Durable job vocabulary: statuses and the retry/back-off policy of each job kind.

use std::time::Duration;

string_enum!(
    /// Lifecycle of a row in the `jobs` table.
    JobStatus, "job status", {
        /// Waiting for `run_at`.
        Queued => "queued",
        /// Claimed by a worker holding a lease.
        Running => "running",
        /// Finished successfully.
        Succeeded => "succeeded",
        /// Out of attempts; kept as a dead letter until an admin retries it.
        Dead => "dead",
    }
);

/// How often a job kind is attempted and how long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (≥ 1).
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further failure.
    pub base_backoff: Duration,
    /// Upper bound on any single wait.
    pub max_backoff: Duration,
    /// Each wait is this many times the previous one.
    pub factor: u32,
}

impl RetryPolicy {
    /// A policy with exponential back-off capped at one hour.
    pub const fn exponential(max_attempts: u32, base_backoff: Duration) -> Self {
        Self::geometric(max_attempts, base_backoff, 2)
    }

    /// A policy whose waits grow by `factor`, capped at one hour.
    pub const fn geometric(max_attempts: u32, base_backoff: Duration, factor: u32) -> Self {
        Self { max_attempts, base_backoff, max_backoff: Duration::from_secs(3600), factor }
    }

    /// The wait before the next attempt after `failed_attempts` attempts failed, or `None` when the
    /// job is out of attempts and becomes a dead letter.
    pub fn next_delay(&self, failed_attempts: u32) -> Option<Duration> {
        if failed_attempts >= self.max_attempts {
            return None;
        }
        let exponent = failed_attempts.saturating_sub(1).min(20);
        let delay = self.base_backoff.saturating_mul(self.factor.max(1).saturating_pow(exponent));
        Some(delay.min(self.max_backoff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps_then_stops() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(35),
            factor: 2,
        };
        assert_eq!(p.next_delay(1), Some(Duration::from_secs(10)));
        assert_eq!(p.next_delay(2), Some(Duration::from_secs(20)));
        assert_eq!(p.next_delay(3), Some(Duration::from_secs(35)));
        assert_eq!(p.next_delay(4), Some(Duration::from_secs(35)));
        assert_eq!(p.next_delay(5), None);
        let deliveries = RetryPolicy::geometric(4, Duration::from_secs(10), 3);
        let waits: Vec<u64> = (1..4).filter_map(|n| deliveries.next_delay(n)).map(|d| d.as_secs()).collect();
        assert_eq!(waits, [10, 30, 90], "three retries span minutes");
    }

    #[test]
    fn status_names_round_trip() {
        for &s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Ok(s));
        }
        assert!(JobStatus::parse("todo").is_err());
    }
}
