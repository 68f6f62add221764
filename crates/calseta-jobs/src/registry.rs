//! The handlers a worker runs, by kind, and the kinds it schedules itself at a fixed period.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::{JobHandler, JobKind};

/// The handlers a worker runs, by kind.
#[derive(Default, Clone)]
pub struct JobRegistry {
    handlers: HashMap<&'static str, (JobKind, Arc<dyn JobHandler>)>,
    periodic: Vec<(JobKind, Duration)>,
}

impl JobRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the handler of `kind`.
    pub fn register(&mut self, kind: JobKind, handler: Arc<dyn JobHandler>) {
        self.handlers.insert(kind.name, (kind, handler));
    }

    /// Registers the handler of `kind` and has every worker queue one job of it every `every`
    /// (unless one is already waiting), so maintenance runs once per period across processes.
    pub fn register_periodic(&mut self, kind: JobKind, every: Duration, handler: Arc<dyn JobHandler>) {
        self.register(kind, handler);
        self.periodic.retain(|(k, _)| k.name != kind.name);
        self.periodic.push((kind, every));
    }

    /// The handler of a kind, with the kind as registered.
    pub fn get(&self, name: &str) -> Option<(JobKind, Arc<dyn JobHandler>)> {
        self.handlers.get(name).cloned()
    }

    /// The registered kinds, sorted by name.
    pub fn kinds(&self) -> Vec<JobKind> {
        let mut kinds: Vec<JobKind> = self.handlers.values().map(|(k, _)| *k).collect();
        kinds.sort_by_key(|k| k.name);
        kinds
    }

    /// The kinds scheduled periodically, with their periods.
    pub fn periodic(&self) -> &[(JobKind, Duration)] {
        &self.periodic
    }
}
