//! The parent side of a workflow run: starts the sandboxed interpreter with the embedded harness,
//! answers its requests (HTTP, secrets, integrations) through a [`WorkflowHost`], collects its log
//! within bounds, and kills it at the wall-clock limit. Also validation, in the same sandbox.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::mask::SecretMask;
use crate::pool::{self, WarmPool};
use crate::sandbox::{self, ChildIdentity, Interpreter, Layers, RunLimits};

const HARNESS: &str = include_str!("../python/harness.py");
const VALIDATOR: &str = include_str!("../python/validate.py");
/// Longest protocol line the child may send (a request or the result).
const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Log kept per run; entries past it are counted, not stored.
const MAX_LOG_BYTES: usize = 256 * 1024;
/// Requests one run may make to the parent.
const MAX_REQUESTS: usize = 1000;
/// Messages of any kind (requests and log entries) one run may send.
const MAX_MESSAGES: usize = 5000;
/// Bytes one run may send over the protocol in all: the parent parses each one.
const MAX_PROTOCOL_BYTES: u64 = 16 * 1024 * 1024;
/// How long a queued run waits for a free sandbox slot before it fails.
const RUN_SLOT_WAIT: Duration = Duration::from_secs(300);
/// How long a validation waits for a free sandbox slot.
const VALIDATION_SLOT_WAIT: Duration = Duration::from_secs(10);
/// How long a child that closed its channel may take to exit by itself.
const STOP_GRACE: Duration = Duration::from_millis(500);
/// Bytes of stderr read past what is kept, so that masking sees every secret form whole: the
/// longest form of the longest secret (64 KiB percent-encoded).
const STDERR_MASK_MARGIN: u64 = 3 * 64 * 1024;
/// Log levels a workflow's entries may have.
const LOG_LEVELS: [&str; 4] = ["debug", "info", "warning", "error"];
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
    /// Log entries, one JSON object per line (as v1 stores `log_output`), each with `source`:
    /// `platform` for what the parent saw and did, `workflow` for what the code logged.
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
    /// A workflow secret's value (`None` when there is none by that name); `Err` when the workflow
    /// may not read it (the reason is raised in the workflow and written to the run's log).
    async fn secret(&self, name: &str) -> Result<Option<String>, String>;
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
            SandboxLevel::Unavailable(reason) => write!(f, "unavailable: {reason}"),
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
    /// Every sandbox slot stayed taken (`WORKFLOW_MAX_CONCURRENT_RUNS`); try again later.
    #[error(
        "the workflow sandbox is busy: all {0} of its slots (WORKFLOW_MAX_CONCURRENT_RUNS) are in use; try again shortly"
    )]
    Busy(usize),
}

/// How the sandbox is set up: the interpreter, the user children run as, what to do without
/// namespaces, and how many children may run at once.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// `WORKFLOW_PYTHON`: the interpreter (default `/usr/bin/python3`, else `python3` on `PATH`).
    pub python: Option<PathBuf>,
    /// `WORKFLOW_UID`: the host user children run as when the server is root (name or number;
    /// default `nobody`).
    pub user: Option<String>,
    /// `WORKFLOW_GID`: their group (name or number; default `nogroup`, else `nobody`).
    pub group: Option<String>,
    /// `WORKFLOW_ALLOW_DEGRADED`: run workflows as root without user namespaces (refused unless
    /// set).
    pub allow_degraded: bool,
    /// `WORKFLOW_MAX_CONCURRENT_RUNS`: sandbox children at once (runs, test runs, validations).
    pub max_concurrent_runs: usize,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            python: None,
            user: None,
            group: None,
            allow_degraded: false,
            max_concurrent_runs: 4,
        }
    }
}

/// The workflow runtime: an interpreter and the layers that contain it.
#[derive(Debug, Clone)]
pub struct Runtime {
    interpreter: Result<Interpreter, String>,
    layers: Layers,
    /// The host user children become (`None` where the server is not root).
    identity: Result<Option<ChildIdentity>, String>,
    allow_degraded: bool,
    pool: Arc<WarmPool>,
    /// One permit per child that may run at once, shared by runs, test runs and validation.
    slots: Arc<Semaphore>,
    max_concurrent_runs: usize,
}

impl Runtime {
    /// Discovers the interpreter and the user children run as, and probes the layers; logs what
    /// is missing.
    pub async fn discover(options: &SandboxOptions) -> Runtime {
        let interpreter = Interpreter::discover(options.python.as_deref()).await;
        let identity = sandbox::child_identity(options.user.as_deref(), options.group.as_deref());
        let layers = match (&interpreter, &identity) {
            (Ok(i), Ok(identity)) => sandbox::probe_layers(i, *identity).await,
            _ => Layers { namespaces: false, landlock_abi: 0, seccomp: false },
        };
        let max = options.max_concurrent_runs.max(1);
        let runtime = Runtime {
            interpreter,
            layers,
            identity,
            allow_degraded: options.allow_degraded,
            pool: Arc::new(WarmPool::new(WARM_CHILDREN)),
            slots: Arc::new(Semaphore::new(max)),
            max_concurrent_runs: max,
        };
        match runtime.level() {
            SandboxLevel::Full => tracing::info!(
                namespaces = layers.namespaces,
                landlock_abi = layers.landlock_abi,
                seccomp = layers.seccomp,
                "workflow sandbox: full"
            ),
            SandboxLevel::Degraded(missing) => {
                tracing::warn!(missing = %missing.join(", "), "workflow sandbox degraded")
            }
            SandboxLevel::Unavailable(reason) => tracing::warn!(%reason, "workflow runtime unavailable"),
        }
        runtime
    }

    /// The runtime with the given layers only (tests of each layer alone), with its own children.
    pub fn with_layers(&self, layers: Layers) -> Runtime {
        Runtime { layers, pool: Arc::new(WarmPool::new(WARM_CHILDREN)), ..self.clone() }
    }

    /// The runtime that runs (`true`) or refuses (`false`) workflows as root without user
    /// namespaces, as `WORKFLOW_ALLOW_DEGRADED` says.
    pub fn with_degraded_allowed(&self, allowed: bool) -> Runtime {
        Runtime { allow_degraded: allowed, ..self.clone() }
    }

    /// The runtime keeping `count` children started ahead of their runs (0: each run starts its
    /// own child; the default is 2).
    pub fn with_warm_children(&self, count: usize) -> Runtime {
        Runtime { pool: Arc::new(WarmPool::new(count)), ..self.clone() }
    }

    /// Why workflows may not run here at all, if they may not.
    fn refusal(&self) -> Option<String> {
        if let Err(reason) = &self.interpreter {
            return Some(reason.clone());
        }
        if let Err(reason) = &self.identity {
            return Some(reason.clone());
        }
        if !self.layers.namespaces && sandbox::is_root() && !self.allow_degraded {
            return Some(
                "the server runs as root and user namespaces are unavailable, so a workflow would keep \
                 the server's privileges; workflows do not run (set WORKFLOW_ALLOW_DEGRADED=true to run \
                 them without namespaces)"
                    .into(),
            );
        }
        None
    }

    /// The interpreter and the user to run it as, or why runs are refused.
    fn runnable(&self) -> Result<(&Interpreter, Option<ChildIdentity>), String> {
        if let Some(reason) = self.refusal() {
            return Err(reason);
        }
        match (&self.interpreter, &self.identity) {
            (Ok(interpreter), Ok(identity)) => Ok((interpreter, *identity)),
            (Err(reason), _) | (_, Err(reason)) => Err(reason.clone()),
        }
    }

    /// A sandbox slot, waiting at most `wait` for one.
    async fn slot(&self, wait: Duration) -> Result<OwnedSemaphorePermit, RuntimeError> {
        match tokio::time::timeout(wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(RuntimeError::Busy(self.max_concurrent_runs)),
        }
    }

    /// Starts children for runs with `memory_mb` ahead of time (in the background).
    pub fn prewarm(&self, memory_mb: u64) {
        if let Ok((interpreter, identity)) = self.runnable() {
            self.pool.refill(interpreter, self.layers, identity, memory_mb, HARNESS);
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
        match self.refusal() {
            Some(reason) => SandboxLevel::Unavailable(reason),
            None if self.layers.missing().is_empty() => SandboxLevel::Full,
            None => SandboxLevel::Degraded(self.layers.missing()),
        }
    }

    /// Validates workflow code with the interpreter's own parser: the problems, empty when valid.
    /// It runs in a sandbox child like a run, within the same bounds and the same slots.
    pub async fn validate(&self, code: &str) -> Result<Vec<String>, RuntimeError> {
        let (interpreter, identity) = self.runnable().map_err(RuntimeError::Unavailable)?;
        let _slot = self.slot(VALIDATION_SLOT_WAIT).await?;
        let limits = RunLimits { memory_mb: 512, timeout: Duration::from_secs(10) };
        let mut command = sandbox::command(interpreter, self.layers, identity, limits, VALIDATOR)
            .map_err(RuntimeError::Failed)?;
        // The validator writes nothing there; were it to, a pipe nobody reads would block it.
        command.stderr(std::process::Stdio::null());
        let mut child = command.spawn().map_err(|e| RuntimeError::Failed(e.to_string()))?;
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
        pool::end(&mut child, Duration::ZERO).await;
        let out = outcome
            .map_err(|_| RuntimeError::Failed("timed out".into()))?
            .map_err(|e| RuntimeError::Failed(e.to_string()))?;
        serde_json::from_slice(&out).map_err(|_| RuntimeError::Failed("the validator gave no answer".into()))
    }

    /// Runs one workflow to its end (or its limit). Never fails: every problem is a failed run,
    /// including waiting longer than five minutes for a free sandbox slot.
    pub async fn run(&self, request: RunRequest, host: &dyn WorkflowHost) -> RunOutcome {
        let started = Instant::now();
        match self.run_within(request, host, RUN_SLOT_WAIT).await {
            Ok(outcome) => outcome,
            Err(e) => RunOutcome {
                status: RunStatus::Failed,
                message: format!("The run did not start: {e}"),
                data: json!({}),
                log_output: String::new(),
                stderr: String::new(),
                duration: started.elapsed(),
            },
        }
    }

    /// Runs one workflow once a sandbox slot is free, waiting at most `wait` for one
    /// ([`RuntimeError::Busy`] then: nothing ran). Every other problem is a failed run. What the
    /// run records and returns has its secrets masked.
    pub async fn run_within(
        &self,
        request: RunRequest,
        host: &dyn WorkflowHost,
        wait: Duration,
    ) -> Result<RunOutcome, RuntimeError> {
        let started = Instant::now();
        let mut run = RunState::default();
        let (status, message, data) = match self.runnable() {
            Err(reason) => {
                (RunStatus::Failed, format!("The workflow runtime is unavailable: {reason}"), json!({}))
            }
            Ok((interpreter, identity)) => {
                let _slot = self.slot(wait).await?;
                if !self.layers.missing().is_empty() {
                    run.note(
                        "warning",
                        format!("sandbox degraded: no {}", self.layers.missing().join(", no ")),
                    );
                }
                self.run_child(interpreter, identity, &request, host, &mut run).await
            }
        };
        let mask = SecretMask::new(run.served.iter().map(String::as_str));
        let mut data = data;
        mask.value(&mut data);
        Ok(RunOutcome {
            status,
            message: mask.text(&message),
            data,
            log_output: run.log_output(&mask),
            stderr: mask.text(&run.stderr),
            duration: started.elapsed(),
        })
    }

    async fn run_child(
        &self,
        interpreter: &Interpreter,
        identity: Option<ChildIdentity>,
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
            None => match pool::spawn(interpreter, self.layers, identity, request.limits, HARNESS) {
                Ok(spawned) => spawned,
                Err(e) => return failed(format!("Sandbox set-up failed: {e}")),
            },
        };
        self.pool.refill(interpreter, self.layers, identity, request.limits.memory_mb, HARNESS);
        let pool::Spawned { mut child, mut stdin, stdout, mut stderr } = spawned;
        let drain = tokio::spawn(async move {
            let mut kept = Vec::new();
            // More than is kept: a secret that straddles the cut is masked whole before the cut.
            let _ = (&mut stderr).take(MAX_STDERR_BYTES + STDERR_MASK_MARGIN).read_to_end(&mut kept).await;
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
            // Everything the child sends counts against one budget, whatever it is.
            let mut reader = BufReader::new(stdout.take(MAX_PROTOCOL_BYTES));
            let mut messages = 0usize;
            loop {
                let Some(message) = read_line(&mut reader).await? else {
                    if reader.get_ref().limit() == 0 {
                        return Err(format!("more than {} MiB sent", MAX_PROTOCOL_BYTES / (1024 * 1024)));
                    }
                    return Err("the interpreter stopped without a result".to_string());
                };
                messages += 1;
                if messages > MAX_MESSAGES {
                    return Err(format!("more than {MAX_MESSAGES} messages (requests and log entries)"));
                }
                match message.get("op").and_then(Value::as_str) {
                    Some("result") => return parse_result(&message),
                    // A child started for this run says so once, before its job; nothing to answer.
                    Some("ready") => {}
                    Some("log") => run.workflow_entry(message.get("entry"))?,
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
        // The run is over either way: nothing of it outlives the answer. A child that stopped on
        // its own (the channel closed) gets a moment to exit, so that its status can say why.
        let grace = if matches!(outcome, Ok(Err(_))) { STOP_GRACE } else { Duration::ZERO };
        let exit = pool::end(&mut child, grace).await;
        let stderr = tokio::time::timeout(Duration::from_secs(2), drain)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        run.stderr =
            cut(&SecretMask::new(run.served.iter().map(String::as_str)).text(&stderr), MAX_STDERR_BYTES);
        match outcome {
            Err(_) => (
                RunStatus::TimedOut,
                format!("Workflow execution timed out after {} seconds", request.limits.timeout.as_secs()),
                json!({}),
            ),
            Ok(Ok((success, message, data))) => {
                (if success { RunStatus::Success } else { RunStatus::Failed }, message, data)
            }
            Ok(Err(reason)) => failed(stopped_reason(&reason, exit, &run.stderr, request.limits)),
        }
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: u64) -> String {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// The result a child sent: `{"success": bool, "message": text, "data": object}` exactly as the
/// harness sends it, or why it is not.
fn parse_result(message: &Value) -> Result<(bool, String, Value), String> {
    match (message.get("success"), message.get("message"), message.get("data")) {
        (Some(Value::Bool(success)), Some(Value::String(text)), Some(data @ Value::Object(_))) => {
            Ok((*success, text.clone(), data.clone()))
        }
        _ => Err("the workflow's result is malformed: it must be success (true or false), message \
                  (text) and data (an object)"
            .into()),
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
        Some(c) if c == 128 + libc::SIGSYS => {
            "Workflow stopped: it made a system call the sandbox forbids, and was killed".to_string()
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
            // What goes into the platform's entry is checked first: the child chose it.
            if !is_http_method(&call.method) {
                return reply(Err("bad HTTP request: the method must be a token such as GET".into()));
            }
            let (method, url) = (call.method.clone(), loggable(&call.url));
            let http = |status: Value| json!({"method": method, "url": url, "status": status});
            match host.http(call).await {
                Ok(answer) => {
                    let message = format!("HTTP {method} {url} -> {}", answer.status_code);
                    run.platform_entry("info", message, Some(("http", http(answer.status_code.into()))));
                    reply(serde_json::to_value(answer).map_err(|e| e.to_string()))
                }
                Err(error) => {
                    let message = format!("HTTP {method} {url} refused: {error}");
                    run.platform_entry("error", message, Some(("http", http(Value::Null))));
                    reply(Err(error))
                }
            }
        }
        "secret" => {
            let name = message.get("name").and_then(Value::as_str).unwrap_or_default();
            if !is_secret_name(name) {
                run.note("error", "secret refused: not a secret name (1 to 128 of A-Z a-z 0-9 _ - .)".into());
                return reply(Err("not a secret name: 1 to 128 of A-Z a-z 0-9 _ - .".into()));
            }
            match host.secret(name).await {
                Ok(value) => {
                    run.served.extend(value.clone());
                    reply(Ok(value.map(Value::String).unwrap_or(Value::Null)))
                }
                Err(error) => {
                    run.note("error", format!("secret '{name}' refused: {error}"));
                    reply(Err(error))
                }
            }
        }
        "integration" => {
            let integration = message.get("integration").and_then(Value::as_str).unwrap_or_default();
            let method = message.get("method").and_then(Value::as_str).unwrap_or_default();
            let args: Vec<String> = message
                .get("args")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            if !["okta", "entra"].contains(&integration) || !is_secret_name(method) {
                return reply(Err(format!("no integration call '{integration}.{method}'")));
            }
            // The platform's record of an action taken at an identity provider (the account is
            // the workflow's argument: kept as data, not in the message).
            let result = host.integration(integration, method, &args).await;
            let detail =
                json!({"integration": integration, "method": method, "args": args, "ok": result.is_ok()});
            let message = match &result {
                Ok(_) => format!("{integration}.{method} -> ok"),
                Err(e) => format!("{integration}.{method} refused: {e}"),
            };
            let level = if result.is_ok() { "info" } else { "error" };
            run.platform_entry(level, message, Some(("integration", detail)));
            reply(result)
        }
        other => reply(Err(format!("unknown request '{other}'"))),
    }
}

/// Whether `method` is an HTTP method token (letters only, at most 16).
fn is_http_method(method: &str) -> bool {
    !method.is_empty() && method.len() <= 16 && method.bytes().all(|b| b.is_ascii_alphabetic())
}

/// Whether `name` can be a workflow secret's (or an integration method's) name.
fn is_secret_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
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

/// What a run accumulates: its log (bounded), the secret values it was served, and stderr.
#[derive(Default)]
struct RunState {
    entries: Vec<Value>,
    log_bytes: usize,
    dropped: usize,
    requests: usize,
    /// Every secret value the parent handed to the child: masked in everything recorded.
    served: Vec<String>,
    stderr: String,
}

impl RunState {
    /// An entry of the platform's own (`source: platform`): the child cannot write this field.
    fn platform_entry(&mut self, level: &str, message: String, detail: Option<(&str, Value)>) {
        let mut entry = json!({"level": level, "message": message, "ts": chrono_now(), "source": "platform"});
        if let (Some((key, value)), Some(map)) = (detail, entry.as_object_mut()) {
            map.insert(key.to_string(), value);
        }
        self.keep(entry);
    }

    /// A platform note (a sandbox or secret refusal).
    fn note(&mut self, level: &str, message: String) {
        self.platform_entry(level, message, None);
    }

    /// An entry the workflow logged: it must have the documented shape — `level` (debug, info,
    /// warning, error), `message` (text), optional `extra`/`data` (object), optional `ts` — and
    /// is stored as the workflow's, with the parent's time. Anything else ends the run.
    fn workflow_entry(&mut self, entry: Option<&Value>) -> Result<(), String> {
        const MALFORMED: &str = "the workflow sent a malformed log entry: an entry is level (debug, info, \
                                 warning or error), message (text) and optionally extra (an object)";
        let Some(fields) = entry.and_then(Value::as_object) else { return Err(MALFORMED.into()) };
        if fields.keys().any(|k| !["level", "message", "extra", "data", "ts"].contains(&k.as_str())) {
            return Err(MALFORMED.into());
        }
        let level = fields.get("level").and_then(Value::as_str).filter(|l| LOG_LEVELS.contains(l));
        let message = fields.get("message").and_then(Value::as_str);
        let extra = fields.get("extra").or_else(|| fields.get("data"));
        let (Some(level), Some(message)) = (level, message) else { return Err(MALFORMED.into()) };
        if extra.is_some_and(|e| !e.is_object()) || fields.get("ts").is_some_and(|t| !t.is_string()) {
            return Err(MALFORMED.into());
        }
        let mut stored = Map::new();
        stored.insert("level".into(), level.into());
        stored.insert("message".into(), message.into());
        stored.insert("ts".into(), chrono_now().into());
        if let Some(extra) = extra.filter(|e| e.as_object().is_some_and(|o| !o.is_empty())) {
            stored.insert("extra".into(), extra.clone());
        }
        stored.insert("source".into(), "workflow".into());
        self.keep(Value::Object(stored));
        Ok(())
    }

    fn keep(&mut self, entry: Value) {
        let size = entry.to_string().len();
        if self.log_bytes + size > MAX_LOG_BYTES {
            self.dropped += 1;
            return;
        }
        self.log_bytes += size + 1;
        self.entries.push(entry);
    }

    fn log_output(&self, mask: &SecretMask) -> String {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .map(|entry| {
                let mut entry = entry.clone();
                mask.value(&mut entry);
                entry.to_string()
            })
            .collect();
        if self.dropped > 0 {
            lines.push(
                json!({"level": "warning", "message": format!("{} log entries dropped (log limit {} KiB)", self.dropped, MAX_LOG_BYTES / 1024), "source": "platform"})
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
