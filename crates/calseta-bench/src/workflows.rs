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
    async fn secret(&self, _name: &str) -> Result<Option<String>, String> {
        Ok(None)
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

async fn latencies(runtime: &Runtime, runs: usize, wait_for_warm: bool) -> Result<Latency, String> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        if wait_for_warm {
            // A run that arrives while a started child waits: the usual case below saturation.
            let deadline = Instant::now() + Duration::from_secs(30);
            while runtime.warm_children() == 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let outcome = runtime.run(request(), &Idle).await;
        if outcome.status != RunStatus::Success {
            return Err(format!("the trivial workflow failed: {}", outcome.message));
        }
        samples.push(outcome.duration);
    }
    Ok(Latency::new(samples))
}

/// Measures a run's overhead with a started child waiting (the default) and with every run
/// starting its own (`cold`), and throughput back to back, one and two at a time; the report's
/// `workflow_runs`.
pub(crate) async fn measure(runs: usize) -> Result<Value, String> {
    let runtime = Runtime::discover(&calseta_workflows::SandboxOptions::default()).await;
    let level = runtime.level().to_string();
    // One warm-up run: the interpreter's files into the page cache.
    let warm = runtime.run(request(), &Idle).await;
    if warm.status != RunStatus::Success {
        return Err(format!("the trivial workflow failed: {}", warm.message));
    }
    let waiting = latencies(&runtime, runs, true).await?;
    let cold = latencies(&runtime.with_warm_children(0), runs, false).await?;
    let started = Instant::now();
    for _ in 0..runs {
        let outcome = runtime.run(request(), &Idle).await;
        if outcome.status != RunStatus::Success {
            return Err(format!("the trivial workflow failed: {}", outcome.message));
        }
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
    println!(
        "workflow runs ({level}): overhead p50 {:.1} ms with a started child waiting ({:.1} ms starting one), \
         {:.1} runs/s one at a time, {:.1} runs/s two at a time",
        waiting.p(0.5),
        cold.p(0.5),
        sequential,
        paired
    );
    Ok(
        json!({"sandbox": level, "runs": runs, "overhead_ms": waiting.to_json(), "cold_overhead_ms": cold.to_json(),
              "runs_per_second": round(sequential), "runs_per_second_two_at_a_time": round(paired)}),
    )
}
