//! Children started ahead of their runs. A run takes a child whose interpreter is already up —
//! sandbox applied, harness loaded, blocked reading its job — instead of paying for the start
//! (most of a run's overhead). Each child serves exactly one run and is never reused; the pool is
//! topped up in the background. An idle child has done nothing but start: its CPU limit is
//! lowered to the run's own by the harness when the job arrives, before any workflow code runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};

use crate::sandbox::{self, ChildIdentity, Interpreter, Layers, RunLimits};

/// The CPU limit a waiting child starts with (the longest a workflow may run, plus one second);
/// the harness lowers it to the run's own timeout when the job arrives.
const WARM_TIMEOUT: Duration = Duration::from_secs(3600);

/// How long a child may take to start before it is discarded.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// Reads the child's `{"op": "ready"}` line, byte by byte so that nothing after it is consumed.
async fn read_ready(stdout: &mut ChildStdout) -> bool {
    use tokio::io::AsyncReadExt;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 64 {
        match stdout.read(&mut byte).await {
            Ok(1) if byte[0] == b'\n' => {
                return serde_json::from_slice::<serde_json::Value>(&line)
                    .is_ok_and(|m| m.get("op").and_then(serde_json::Value::as_str) == Some("ready"));
            }
            Ok(1) => line.push(byte[0]),
            _ => return false,
        }
    }
    false
}

/// A started child with its pipes.
pub(crate) struct Spawned {
    pub child: Child,
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
}

/// Starts `program` in the sandbox.
pub(crate) fn spawn(
    interpreter: &Interpreter,
    layers: Layers,
    identity: Option<ChildIdentity>,
    limits: RunLimits,
    program: &str,
) -> Result<Spawned, String> {
    let mut command = sandbox::command(interpreter, layers, identity, limits, program)?;
    let mut child = command.spawn().map_err(|e| e.to_string())?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err("no pipes".into());
    };
    Ok(Spawned { child, stdin, stdout, stderr })
}

/// Signals the child's process group (it leads it) — only while the child is not reaped: until
/// then its PID, and so its group's, cannot belong to anyone else. Once reaped (`id()` is then
/// `None`) nothing is signalled; the interpreter it started dies with it (its parent-death signal).
fn kill(child: &mut Child) {
    if let Some(leader) = child.id() {
        sandbox::kill_group(leader);
    }
    let _ = child.start_kill();
}

/// Ends a child: lets it exit by itself for at most `grace` (its own exit status says why it
/// stopped), then kills its group and itself, and waits for it with a bound (a process that will
/// not die cannot hold the caller). Its exit status, if it came.
pub(crate) async fn end(child: &mut Child, grace: Duration) -> Option<std::process::ExitStatus> {
    if !grace.is_zero()
        && let Ok(Ok(status)) = tokio::time::timeout(grace, child.wait()).await
    {
        return Some(status);
    }
    kill(child);
    tokio::time::timeout(Duration::from_secs(5), child.wait()).await.ok().and_then(Result::ok)
}

/// A waiting child, killed with its group if it is never used.
struct Idle {
    spawned: Option<Spawned>,
    memory_mb: u64,
}

impl Drop for Idle {
    fn drop(&mut self) {
        if let Some(mut spawned) = self.spawned.take() {
            kill(&mut spawned.child);
        }
    }
}

/// Children waiting for a run.
pub(crate) struct WarmPool {
    idle: Mutex<Vec<Idle>>,
    starting: AtomicUsize,
    size: usize,
}

impl std::fmt::Debug for WarmPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmPool").field("size", &self.size).finish_non_exhaustive()
    }
}

impl WarmPool {
    /// A pool that keeps `size` children waiting (0: every run starts its own).
    pub fn new(size: usize) -> Self {
        WarmPool { idle: Mutex::new(Vec::new()), starting: AtomicUsize::new(0), size }
    }

    /// A waiting child started with `memory_mb`, if one is alive.
    pub fn take(&self, memory_mb: u64) -> Option<Spawned> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(mut waiting) = idle.pop() {
            if waiting.memory_mb != memory_mb {
                // Started for another memory limit: killed as it is dropped.
                continue;
            }
            let Some(mut spawned) = waiting.spawned.take() else { continue };
            if matches!(spawned.child.try_wait(), Ok(None)) {
                return Some(spawned);
            }
            // It died while waiting (it should not) and `try_wait` reaped it: dropped without a
            // signal to a group that may no longer be its.
            waiting.spawned = Some(spawned);
        }
        None
    }

    /// Starts children in the background until `size` are waiting or starting.
    pub fn refill(
        self: &Arc<Self>,
        interpreter: &Interpreter,
        layers: Layers,
        identity: Option<ChildIdentity>,
        memory_mb: u64,
        program: &'static str,
    ) {
        let Ok(idle) = self.idle.lock() else { return };
        let mut missing = self.size.saturating_sub(idle.len() + self.starting.load(Ordering::SeqCst));
        drop(idle);
        while missing > 0 {
            missing -= 1;
            self.starting.fetch_add(1, Ordering::SeqCst);
            let pool = Arc::clone(self);
            let interpreter = interpreter.clone();
            tokio::spawn(async move {
                let limits = RunLimits { memory_mb, timeout: WARM_TIMEOUT };
                match spawn(&interpreter, layers, identity, limits, program) {
                    Ok(spawned) => {
                        // Waiting means ready: its interpreter is up and has said so.
                        let mut waiting = Idle { spawned: Some(spawned), memory_mb };
                        let ready = match waiting.spawned.as_mut() {
                            Some(s) => tokio::time::timeout(READY_WITHIN, read_ready(&mut s.stdout)).await,
                            None => Ok(false),
                        };
                        if matches!(ready, Ok(true)) {
                            if let Ok(mut idle) = pool.idle.lock() {
                                idle.push(waiting);
                            }
                        } else {
                            tracing::warn!("a waiting workflow child did not start; it is discarded");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not start a waiting workflow child"),
                }
                pool.starting.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    /// How many children are waiting.
    pub fn waiting(&self) -> usize {
        self.idle.lock().map(|idle| idle.len()).unwrap_or(0)
    }
}
