//! The parent side of a workflow run: starts the sandboxed interpreter with the embedded harness,
//! answers its requests (HTTP, secrets, integrations) through a [`WorkflowHost`], collects its log
//! within bounds, and kills it at the wall-clock limit. Also validation, in the same sandbox.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::pool::{self, WarmPool};
use crate::sandbox::{self, Interpreter, Layers, RunLimits};

const HARNESS: &str = include_str!("../python/harness.py");
const VALIDATOR: &str = include_str!("../python/validate.py");
/// Longest protocol line the child may send (a request or the result).
const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Log kept per run; entries past it are counted, not stored.
const MAX_LOG_BYTES: usize = 256 * 1024;
/// Requests one run may make to the parent.
const MAX_REQUESTS: usize = 1000;
/// What is kept of the child's stderr (`print` output and tracebacks).
const MAX_STDERR_BYTES: u64 = 16 * 1024;
/// Children kept started ahead of their runs (each serves one run).
const WARM_CHILDREN: usize = 2;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// `WorkflowResult.ok`.
    Success,
    /// `WorkflowResult.fail`, an exception, or a sandbox refusal.
    Failed,
    /// Killed at the wall-clock limit.
    TimedOut,
}

/// What one run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// How it ended.
    pub status: RunStatus,
    /// The result's message, or why the run failed.
    pub message: String,
    /// The result's data.
    pub data: Value,
    /// Log entries, one JSON object per line (as v1 stores `log_output`).
    pub log_output: String,
    /// What the code printed or the interpreter wrote on stderr (bounded).
    pub stderr: String,
    /// Wall-clock duration.
    pub duration: Duration,
}

/// One HTTP request the workflow asked for.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpCall {
    /// `GET`, `POST`, …
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Query parameters.
    #[serde(default)]
    pub params: serde_json::Map<String, Value>,
    /// Request headers.
    #[serde(default)]
    pub headers: serde_json::Map<String, Value>,
    /// `{"json": …}`, `{"form": {…}}` or `{"text": "…"}`.
    #[serde(default)]
    pub body: Option<Value>,
    /// Seconds; the run's limit bounds it anyway.
    #[serde(default)]
    pub timeout: Option<f64>,
}

/// The answer to an [`HttpCall`].
#[derive(Debug, Clone, Serialize)]
pub struct HttpAnswer {
    /// Status code.
    pub status_code: u16,
    /// Response headers.
    pub headers: serde_json::Map<String, Value>,
    /// Body as text.
    pub text: String,
    /// The URL answered.
    pub url: String,
}

/// What the platform does for a running workflow: every effect outside the sandbox.
#[async_trait::async_trait]
pub trait WorkflowHost: Send + Sync {
    /// Makes an HTTP request (SSRF rules apply); `Err` is raised in the workflow.
    async fn http(&self, call: HttpCall) -> Result<HttpAnswer, String>;
    /// A workflow secret's value (`None` when there is none by that name).
    async fn secret(&self, name: &str) -> Option<String>;
    /// Calls an identity integration's method (`okta.revoke_sessions(login)`, …).
    async fn integration(&self, integration: &str, method: &str, args: &[String]) -> Result<Value, String>;
}

/// What one run executes.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The workflow's code.
    pub code: String,
    /// `ctx.indicator`'s fields.
    pub indicator: Value,
    /// `ctx.alert`'s fields.
    pub alert: Option<Value>,
    /// Integrations configured (`okta`, `entra`).
    pub integrations: Vec<String>,
    /// Memory and time.
    pub limits: RunLimits,
}

/// The sandbox level `/health` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxLevel {
    /// Every layer.
    Full,
    /// Some layers missing (named).
    Degraded(Vec<&'static str>),
    /// No interpreter: workflows cannot run.
    Unavailable(String),
}

impl std::fmt::Display for SandboxLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SandboxLevel::Full => f.write_str("full"),
            SandboxLevel::Degraded(missing) => write!(f, "degraded: no {}", missing.join(", no ")),
            SandboxLevel::Unavailable(_) => f.write_str("unavailable"),
        }
    }
}

/// Why validation could not run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    /// No interpreter.
    #[error("the workflow runtime is unavailable: {0}")]
    Unavailable(String),
    /// The child failed.
    #[error("workflow validation failed to run: {0}")]
    Failed(String),
}

/// The workflow runtime: an interpreter and the layers that contain it.
#[derive(Debug, Clone)]
pub struct Runtime {
    interpreter: Result<Interpreter, String>,
    layers: Layers,
    pool: std::sync::Arc<WarmPool>,
}

impl Runtime {
    /// Discovers the interpreter (`python` when configured) and probes the layers; logs what is
    /// missing.
    pub async fn discover(python: Option<&Path>) -> Runtime {
        let interpreter = Interpreter::discover(python).await;
        let layers = match &interpreter {
            Ok(i) => sandbox::probe_layers(i).await,
            Err(_) => Layers { namespaces: false, landlock_abi: 0, seccomp: false },
        };
        let runtime =
            Runtime { interpreter, layers, pool: std::sync::Arc::new(WarmPool::new(WARM_CHILDREN)) };
        match runtime.level() {
            SandboxLevel::Full => tracing::info!(layers = ?layers, "workflow sandbox: full"),
            SandboxLevel::Degraded(missing) => tracing::warn!(?missing, "workflow sandbox degraded"),
            SandboxLevel::Unavailable(reason) => tracing::warn!(%reason, "workflow runtime unavailable"),
        }
        runtime
    }

    /// The runtime with the given layers only (tests of each layer alone), with its own children.
    pub fn with_layers(&self, layers: Layers) -> Runtime {
        Runtime {
            interpreter: self.interpreter.clone(),
            layers,
            pool: std::sync::Arc::new(WarmPool::new(WARM_CHILDREN)),
        }
    }

    /// The runtime keeping `count` children started ahead of their runs (0: each run starts its
    /// own child; the default is 2).
    pub fn with_warm_children(&self, count: usize) -> Runtime {
        Runtime {
            interpreter: self.interpreter.clone(),
            layers: self.layers,
            pool: std::sync::Arc::new(WarmPool::new(count)),
        }
    }

    /// Starts children for runs with `memory_mb` ahead of time (in the background).
    pub fn prewarm(&self, memory_mb: u64) {
        if let Ok(interpreter) = &self.interpreter {
            self.pool.refill(interpreter, self.layers, memory_mb, HARNESS);
        }
    }

    /// How many started children are waiting for a run.
    pub fn warm_children(&self) -> usize {
        self.pool.waiting()
    }

    /// The layers this runtime applies.
    pub fn layers(&self) -> Layers {
        self.layers
    }

    /// `full`, `degraded: …` or `unavailable`.
    pub fn level(&self) -> SandboxLevel {
        match &self.interpreter {
            Err(reason) => SandboxLevel::Unavailable(reason.clone()),
            Ok(_) if self.layers.missing().is_empty() => SandboxLevel::Full,
            Ok(_) => SandboxLevel::Degraded(self.layers.missing()),
        }
    }

    /// Validates workflow code with the interpreter's own parser: the problems, empty when valid.
    pub async fn validate(&self, code: &str) -> Result<Vec<String>, RuntimeError> {
        let interpreter = self.interpreter.as_ref().map_err(|e| RuntimeError::Unavailable(e.clone()))?;
        let limits = RunLimits { memory_mb: 512, timeout: Duration::from_secs(10) };
        let mut command =
            sandbox::command(interpreter, self.layers, limits, VALIDATOR).map_err(RuntimeError::Failed)?;
        let mut child = command.spawn().map_err(|e| RuntimeError::Failed(e.to_string()))?;
        let group = child.id();
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(RuntimeError::Failed("no pipes".into()));
        };
        let code = code.as_bytes().to_vec();
        let feed = tokio::spawn(async move {
            let _ = stdin.write_all(&code).await;
        });
        let read = async {
            let mut out = Vec::new();
            stdout.take(MAX_LINE_BYTES as u64).read_to_end(&mut out).await.map(|_| out)
        };
        let outcome = tokio::time::timeout(limits.timeout, read).await;
        feed.abort();
        if let Some(group) = group {
            sandbox::kill_group(group);
        }
        let out = outcome
            .map_err(|_| RuntimeError::Failed("timed out".into()))?
            .map_err(|e| RuntimeError::Failed(e.to_string()))?;
        serde_json::from_slice(&out).map_err(|_| RuntimeError::Failed("the validator gave no answer".into()))
    }

    /// Runs one workflow to its end (or its limit). Never fails: every problem is a failed run.
    pub async fn run(&self, request: RunRequest, host: &dyn WorkflowHost) -> RunOutcome {
        let started = Instant::now();
        let mut run = RunState::default();
        let (status, message, data) = match &self.interpreter {
            Err(reason) => {
                (RunStatus::Failed, format!("The workflow runtime is unavailable: {reason}"), json!({}))
            }
            Ok(interpreter) => {
                if !self.layers.missing().is_empty() {
                    run.log(
                        "warning",
                        format!("sandbox degraded: no {}", self.layers.missing().join(", no ")),
                    );
                }
                self.run_child(interpreter, &request, host, &mut run).await
            }
        };
        RunOutcome {
            status,
            message,
            data,
            log_output: run.log_output(),
            stderr: run.stderr,
            duration: started.elapsed(),
        }
    }

    async fn run_child(
        &self,
        interpreter: &Interpreter,
        request: &RunRequest,
        host: &dyn WorkflowHost,
        run: &mut RunState,
    ) -> (RunStatus, String, Value) {
        let failed = |message: String| (RunStatus::Failed, message, json!({}));
        // A child started ahead of time if one waits (it has run nothing yet), else a new one;
        // either way it serves this run only, and another is started for the next.
        let warm = self.pool.take(request.limits.memory_mb);
        let spawned = match warm {
            Some(spawned) => spawned,
            None => match pool::spawn(interpreter, self.layers, request.limits, HARNESS) {
                Ok(spawned) => spawned,
                Err(e) => return failed(format!("Sandbox set-up failed: {e}")),
            },
        };
        self.pool.refill(interpreter, self.layers, request.limits.memory_mb, HARNESS);
        let pool::Spawned { mut child, mut stdin, stdout, mut stderr, group } = spawned;
        let drain = tokio::spawn(async move {
            let mut kept = Vec::new();
            let _ = (&mut stderr).take(MAX_STDERR_BYTES).read_to_end(&mut kept).await;
            let _ = tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await;
            String::from_utf8_lossy(&kept).into_owned()
        });
        let job = json!({
            "code": request.code,
            "indicator": request.indicator,
            "alert": request.alert,
            "integrations": request.integrations,
            "memory_mb": request.limits.memory_mb,
            // A child started ahead of time has the longest CPU limit; the harness lowers it to
            // this run's before any workflow code runs.
            "cpu_seconds": request.limits.timeout.as_secs().saturating_add(1),
        });
        let conversation = async {
            let mut line = job.to_string().into_bytes();
            line.push(b'\n');
            stdin.write_all(&line).await.map_err(|e| format!("the interpreter stopped at start: {e}"))?;
            let mut reader = BufReader::new(stdout);
            loop {
                let Some(message) = read_line(&mut reader).await? else {
                    return Err("the interpreter stopped without a result".to_string());
                };
                match message.get("op").and_then(Value::as_str) {
                    Some("result") => return Ok(message),
                    // A child started for this run says so once, before its job; nothing to answer.
                    Some("ready") => {}
                    Some("log") => run.log_entry(message.get("entry").cloned().unwrap_or_default()),
                    Some(op) => {
                        run.requests += 1;
                        if run.requests > MAX_REQUESTS {
                            return Err(format!("more than {MAX_REQUESTS} requests"));
                        }
                        let reply = answer(op, &message, host, run).await;
                        let mut line = reply.to_string().into_bytes();
                        line.push(b'\n');
                        stdin.write_all(&line).await.map_err(|e| format!("the interpreter stopped: {e}"))?;
                    }
                    None => return Err("the interpreter broke the protocol".into()),
                }
            }
        };
        let outcome = tokio::time::timeout(request.limits.timeout, conversation).await;
        // The run is over either way: nothing of it outlives the answer. The group kill reaches
        // the interpreter (and, without namespaces, whatever it left its group for is still
        // bounded by its CPU limit); the middle process is killed directly too, and waited for
        // with a bound so that a process that will not die cannot hold this task.
        if let Some(group) = group {
            sandbox::kill_group(group);
        }
        let _ = child.start_kill();
        let exit = tokio::time::timeout(Duration::from_secs(5), child.wait()).await.ok().and_then(Result::ok);
        run.stderr = tokio::time::timeout(Duration::from_secs(2), drain)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        match outcome {
            Err(_) => (
                RunStatus::TimedOut,
                format!("Workflow execution timed out after {} seconds", request.limits.timeout.as_secs()),
                json!({}),
            ),
            Ok(Ok(result)) => {
                let success = result.get("success").and_then(Value::as_bool).unwrap_or(false);
                let message = result.get("message").and_then(Value::as_str).unwrap_or_default().to_string();
                let data = result.get("data").cloned().unwrap_or_else(|| json!({}));
                let status = if success { RunStatus::Success } else { RunStatus::Failed };
                (status, message, data)
            }
            Ok(Err(reason)) => failed(stopped_reason(&reason, exit, &run.stderr, request.limits)),
        }
    }
}

/// Why a child stopped without a result, in the operator's words.
fn stopped_reason(
    reason: &str,
    exit: Option<std::process::ExitStatus>,
    stderr: &str,
    limits: RunLimits,
) -> String {
    use std::os::unix::process::ExitStatusExt;
    let code = exit.and_then(|e| e.code().or_else(|| e.signal().map(|s| 128 + s)));
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    match code {
        Some(c) if c == 128 + libc::SIGXCPU => {
            format!("Workflow stopped: CPU time limit ({} s) reached", limits.timeout.as_secs() + 1)
        }
        _ if last.contains("MemoryError") => {
            format!("Workflow exceeded memory limit ({}MB)", limits.memory_mb)
        }
        _ if !last.is_empty() => format!("Workflow stopped: {reason} ({last})"),
        _ => format!("Workflow stopped: {reason}"),
    }
}

async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> Result<Option<Value>, String> {
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| e.to_string())?;
    if n == 0 {
        return Ok(None);
    }
    if line.len() > MAX_LINE_BYTES {
        return Err(format!("a message larger than {MAX_LINE_BYTES} bytes"));
    }
    serde_json::from_slice(&line).map(Some).map_err(|_| "the interpreter broke the protocol".into())
}

async fn answer(op: &str, message: &Value, host: &dyn WorkflowHost, run: &mut RunState) -> Value {
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let reply = |result: Result<Value, String>| match result {
        Ok(value) => json!({"id": id, "ok": true, "value": value}),
        Err(error) => json!({"id": id, "ok": false, "error": error}),
    };
    match op {
        "http" => {
            let call: HttpCall = match serde_json::from_value(message.clone()) {
                Ok(c) => c,
                Err(e) => return reply(Err(format!("bad HTTP request: {e}"))),
            };
            let (method, url) = (call.method.clone(), call.url.clone());
            match host.http(call).await {
                Ok(answer) => {
                    run.log("info", format!("HTTP {method} {} -> {}", loggable(&url), answer.status_code));
                    reply(serde_json::to_value(answer).map_err(|e| e.to_string()))
                }
                Err(error) => {
                    run.log("error", format!("HTTP {method} {} refused: {error}", loggable(&url)));
                    reply(Err(error))
                }
            }
        }
        "secret" => {
            let name = message.get("name").and_then(Value::as_str).unwrap_or_default();
            reply(Ok(host.secret(name).await.map(Value::String).unwrap_or(Value::Null)))
        }
        "integration" => {
            let integration = message.get("integration").and_then(Value::as_str).unwrap_or_default();
            let method = message.get("method").and_then(Value::as_str).unwrap_or_default();
            let args: Vec<String> = message
                .get("args")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            reply(host.integration(integration, method, &args).await)
        }
        other => reply(Err(format!("unknown request '{other}'"))),
    }
}

/// A URL as the run's log shows it: without userinfo, query or fragment, where credentials hide.
fn loggable(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme && !url[scheme + 3..at].contains('/') => {
            format!("{}{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// What a run accumulates: its log (bounded) and stderr.
#[derive(Default)]
struct RunState {
    entries: Vec<String>,
    log_bytes: usize,
    dropped: usize,
    requests: usize,
    stderr: String,
}

impl RunState {
    fn log(&mut self, level: &str, message: String) {
        let ts = chrono_now();
        self.log_entry(json!({"level": level, "message": message, "ts": ts}));
    }

    fn log_entry(&mut self, entry: Value) {
        let line = entry.to_string();
        if self.log_bytes + line.len() > MAX_LOG_BYTES {
            self.dropped += 1;
            return;
        }
        self.log_bytes += line.len() + 1;
        self.entries.push(line);
    }

    fn log_output(&self) -> String {
        let mut lines = self.entries.clone();
        if self.dropped > 0 {
            lines.push(
                json!({"level": "warning", "message": format!("{} log entries dropped (log limit {} KiB)", self.dropped, MAX_LOG_BYTES / 1024)})
                    .to_string(),
            );
        }
        lines.join("\n")
    }
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::loggable;

    #[test]
    fn logged_urls_lose_userinfo_query_and_fragment() {
        assert_eq!(
            loggable("https://user:pw@api.example.com/a/b?key=s3cret#f"),
            "https://api.example.com/a/b"
        );
        assert_eq!(loggable("http://127.0.0.1:8080/hook"), "http://127.0.0.1:8080/hook");
        assert_eq!(loggable("https://api.example.com/p@th"), "https://api.example.com/p@th");
    }
}
