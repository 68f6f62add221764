//! Figures: sorted latency samples with nearest-rank quantiles, medians and the rounding every
//! reported number goes through.

use std::time::Duration;

use serde_json::{Value, json};

/// Sorted request latencies.
pub(crate) struct Latency(Vec<Duration>);

impl Latency {
    /// Sorts the samples.
    pub(crate) fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Latency(samples)
    }

    /// How many samples there are.
    pub(crate) fn count(&self) -> usize {
        self.0.len()
    }

    /// The `q` quantile in milliseconds (nearest rank).
    pub(crate) fn p(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1].as_secs_f64() * 1000.0
    }

    /// p50, p90, p99 and max in milliseconds.
    pub(crate) fn to_json(&self) -> Value {
        json!({"p50": round(self.p(0.5)), "p90": round(self.p(0.9)), "p99": round(self.p(0.99)), "max": round(self.p(1.0))})
    }
}

/// The median (upper middle for an even count); zero for no samples.
pub(crate) fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// Two decimals.
pub(crate) fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let latency = Latency::new((1..=100).map(Duration::from_millis).collect());
        assert_eq!(latency.p(0.5), 50.0);
        assert_eq!(latency.p(0.99), 99.0);
        assert_eq!(latency.p(1.0), 100.0);
        assert_eq!(Latency::new(Vec::new()).p(0.5), 0.0);
    }
}
