//! The workflow runtime, discovered on first use (a few interpreter starts) and then the same for
//! the process's life: validation at save time, runs, and the level `/health` reports.

use std::path::PathBuf;

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
}
