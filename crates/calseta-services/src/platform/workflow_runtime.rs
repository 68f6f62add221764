//! The workflow runtime, discovered on first use (a few interpreter starts) and then the same for
//! the process's life: validation at save time, runs, and the level `/health` reports.

use std::sync::Arc;
use std::time::Duration;

use calseta_workflows::{Runtime, RuntimeError};

use crate::ServiceError;

/// How long a request (a test run, a validation) waits for a free sandbox slot.
pub const REQUEST_SLOT_WAIT: Duration = Duration::from_secs(10);

/// A runtime error as the caller sees it: unavailable (503 with `Retry-After`), saying why — a
/// busy sandbox says so.
pub fn runtime_error(error: RuntimeError) -> ServiceError {
    ServiceError::Unavailable(error.to_string())
}
pub use calseta_workflows::SandboxOptions;

/// The runtime of this process.
pub struct LazyRuntime {
    options: SandboxOptions,
    runtime: tokio::sync::OnceCell<Runtime>,
}

impl LazyRuntime {
    /// A runtime set up as `options` say (`WORKFLOW_PYTHON`, `WORKFLOW_UID`, …).
    pub fn new(options: SandboxOptions) -> Self {
        LazyRuntime { options, runtime: tokio::sync::OnceCell::new() }
    }

    /// The runtime, discovering it on first use.
    pub async fn get(&self) -> &Runtime {
        self.runtime.get_or_init(|| Runtime::discover(&self.options)).await
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
