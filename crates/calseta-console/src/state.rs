//! The console's shared state: the services, the console settings, the session service and the
//! live feed of this process.

use std::sync::Arc;

use calseta_services::Services;
use calseta_services::live::LiveFeed;
use calseta_services::resources::console_sessions::{ConsoleSessionService, SessionPolicy};

use crate::ConsoleSettings;

struct Inner {
    services: Arc<Services>,
    settings: ConsoleSettings,
    sessions: ConsoleSessionService,
    live: LiveFeed,
}

/// Shared state of every console handler; cheap to clone.
#[derive(Clone)]
pub struct ConsoleState(Arc<Inner>);

impl ConsoleState {
    /// State over `services` with `settings`; computes the asset names now, once.
    pub fn new(services: Arc<Services>, settings: ConsoleSettings) -> Self {
        crate::assets::prepare();
        let policy = SessionPolicy::with_idle_minutes(settings.session_idle_minutes);
        let sessions = ConsoleSessionService::new(services.db.clone(), policy);
        let live = LiveFeed::new(services.db.clone(), settings.live.clone(), settings.shutdown.clone());
        ConsoleState(Arc::new(Inner { services, settings, sessions, live }))
    }

    /// Every use-case service.
    pub fn services(&self) -> &Services {
        &self.0.services
    }

    /// The console settings.
    pub fn settings(&self) -> &ConsoleSettings {
        &self.0.settings
    }

    /// This process's live feed (`GET /events`).
    pub fn live(&self) -> &LiveFeed {
        &self.0.live
    }

    /// The console's sessions.
    pub fn sessions(&self) -> &ConsoleSessionService {
        &self.0.sessions
    }
}
