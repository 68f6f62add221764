//! The enrich stage: providers as data, run by one generic executor.
//!
//! Every indicator × applicable provider runs concurrently, bounded per provider (concurrency and
//! a token-bucket rate limit shared through the database), each HTTP step with a hard timeout and
//! the whole alert with a deadline. A provider's failure, timeout, 5xx, malformed or oversized
//! answer stays in its own result. A `429` (or an empty rate-limit bucket) defers that provider's
//! remaining lookups to a scheduled `enrich_deferred` job instead of failing or blocking. Successful
//! results are cached in the database for every process, and concurrent lookups of one key in a
//! process make one call.
//!
//! [`registry`] loads the providers, [`steps`] executes one provider's HTTP steps, [`lookup`]
//! produces one provider's result for one value, [`run`] is the `enrich_alert` job (extraction
//! through completion, with the per-alert deadline), [`links`] its indicators' links to the alert
//! (written by the run's first write) and [`deferred`] the postponed lookups.

pub mod deferred;
pub mod links;
pub mod lookup;
pub mod maintenance;
pub mod registry;
pub mod run;
pub mod steps;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use calseta_store::Db;

use crate::platform::outbound::OutboundClient;
use crate::platform::semaphores::KeyedSemaphores;
pub use deferred::EnrichDeferred;
pub use lookup::{Lookup, skipped_result};
pub use maintenance::PurgeEnrichmentCache;
pub use registry::{EnrichmentSettings, EnvLookup, Provider, ProviderRegistry};
pub use run::{EnrichAlert, EnrichmentSummary};
pub use steps::{StepDebug, mask};

/// The engine; cheap to clone (lookups spawned per provider share its limits and single-flight).
#[derive(Clone)]
pub struct EnrichmentEngine {
    inner: Arc<EngineState>,
}

/// The engine's shared state (fields private to this stage).
pub struct EngineState {
    db: Db,
    registry: Arc<ProviderRegistry>,
    http: OutboundClient,
    alert_deadline: Duration,
    in_flight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    slots: KeyedSemaphores<String>,
    telemetry: Arc<crate::platform::telemetry::Telemetry>,
}

impl std::ops::Deref for EnrichmentEngine {
    type Target = EngineState;
    fn deref(&self) -> &EngineState {
        &self.inner
    }
}

impl EnrichmentEngine {
    /// An engine.
    pub fn new(
        db: Db,
        registry: Arc<ProviderRegistry>,
        http: OutboundClient,
        alert_deadline: Duration,
        telemetry: Arc<crate::platform::telemetry::Telemetry>,
    ) -> Self {
        let state = EngineState {
            db,
            registry,
            http,
            alert_deadline,
            in_flight: Mutex::new(HashMap::new()),
            slots: KeyedSemaphores::default(),
            telemetry,
        };
        Self { inner: Arc::new(state) }
    }

    /// The provider registry.
    pub fn registry(&self) -> &Arc<ProviderRegistry> {
        &self.registry
    }
}
