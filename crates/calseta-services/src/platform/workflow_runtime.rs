//! The workflow runtime, discovered on first use (a few interpreter starts) and then the same for
//! the process's life: validation at save time, runs, and the level `/health` reports.

use std::path::PathBuf;
use std::sync::Arc;

use calseta_workflows::Runtime;

/// The runtime of this process.
pub struct LazyRuntime {
    python: Option<PathBuf>,
    runtime: tokio::sync::OnceCell<Runtime>,
}

impl LazyRuntime {
    /// A runtime using `python` (`WORKFLOW_PYTHON`) when given.
    pub fn new(python: Option<PathBuf>) -> Self {
        LazyRuntime { python, runtime: tokio::sync::OnceCell::new() }
    }

    /// The runtime, discovering it on first use.
    pub async fn get(&self) -> &Runtime {
        self.runtime.get_or_init(|| Runtime::discover(self.python.as_deref())).await
    }

    /// The sandbox level if the runtime is discovered; otherwise `checking`, with the discovery
    /// started in the background (so that `/health` never waits for the interpreter's probes).
    pub fn level_now(self: &Arc<Self>) -> String {
        if let Some(runtime) = self.runtime.get() {
            return runtime.level().to_string();
        }
        let this = self.clone();
        tokio::spawn(async move {
            this.get().await;
        });
        "checking".into()
    }
}
