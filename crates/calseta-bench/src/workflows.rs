//! The workflow runtime's own cost: a trivial workflow run again and again in the sandbox (spawn,
//! namespaces, Landlock, seccomp, harness, teardown), one at a time and two at a time.

use std::time::{Duration, Instant};

use calseta_workflows::{HttpAnswer, HttpCall, RunLimits, RunRequest, RunStatus, Runtime, WorkflowHost};
use serde_json::{Value, json};

use crate::stats::{Latency, round};

const TRIVIAL: &str = "from app.workflows.context import WorkflowResult\n\nasync def run(ctx):\n    return WorkflowResult.ok('ok')\n";

/// A host that is never asked anything (the trivial workflow does nothing outside).
struct Idle;

#[async_trait::async_trait]
impl WorkflowHost for Idle {
    async fn http(&self, _call: HttpCall) -> Result<HttpAnswer, String> {
        Err("not in the benchmark".into())
    }
    async fn secret(&self, _name: &str) -> Option<String> {
        None
    }
    async fn integration(&self, _: &str, _: &str, _: &[String]) -> Result<Value, String> {
        Err("not in the benchmark".into())
    }
}

fn request() -> RunRequest {
    RunRequest {
        code: TRIVIAL.into(),
        indicator: json!({"type": "ip", "value": "198.51.100.7"}),
        alert: None,
        integrations: Vec::new(),
        limits: RunLimits { memory_mb: 256, timeout: Duration::from_secs(30) },
    }
}

/// Measures `runs` sequential runs and as many two at a time; the report's `workflow_runs`.
pub(crate) async fn measure(runs: usize) -> Result<Value, String> {
    let runtime = Runtime::discover(None).await;
    let level = runtime.level().to_string();
    // One warm-up run: the interpreter's files into the page cache.
    let warm = runtime.run(request(), &Idle).await;
    if warm.status != RunStatus::Success {
        return Err(format!("the trivial workflow failed: {}", warm.message));
    }
    let mut samples = Vec::with_capacity(runs);
    let started = Instant::now();
    for _ in 0..runs {
        let outcome = runtime.run(request(), &Idle).await;
        if outcome.status != RunStatus::Success {
            return Err(format!("the trivial workflow failed: {}", outcome.message));
        }
        samples.push(outcome.duration);
    }
    let sequential = runs as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for _ in 0..runs / 2 {
        let (a, b) = tokio::join!(runtime.run(request(), &Idle), runtime.run(request(), &Idle));
        if a.status != RunStatus::Success || b.status != RunStatus::Success {
            return Err("the trivial workflow failed two at a time".into());
        }
    }
    let paired = (runs / 2 * 2) as f64 / started.elapsed().as_secs_f64();
    let latency = Latency::new(samples);
    println!(
        "workflow runs ({level}): overhead p50 {:.1} ms, {:.1} runs/s one at a time, {:.1} runs/s two at a time",
        latency.p(0.5),
        sequential,
        paired
    );
    Ok(json!({"sandbox": level, "runs": runs, "overhead_ms": latency.to_json(),
              "runs_per_second": round(sequential), "runs_per_second_two_at_a_time": round(paired)}))
}
