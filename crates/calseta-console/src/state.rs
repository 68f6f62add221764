//! The console's shared state: the services, the console settings and the session service.

use std::sync::Arc;

use calseta_services::Services;
use calseta_services::resources::console_sessions::{ConsoleSessionService, SessionPolicy};

use crate::ConsoleSettings;

struct Inner {
    services: Arc<Services>,
    settings: ConsoleSettings,
    sessions: ConsoleSessionService,
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
        ConsoleState(Arc::new(Inner { services, settings, sessions }))
    }

    /// Every use-case service.
    pub fn services(&self) -> &Services {
        &self.0.services
    }

    /// The console settings.
    pub fn settings(&self) -> &ConsoleSettings {
        &self.0.settings
    }

    /// The console's sessions.
    pub fn sessions(&self) -> &ConsoleSessionService {
        &self.0.sessions
    }
}
