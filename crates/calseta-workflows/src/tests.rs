//! The runtime against real CPython: a workflow that uses every part of `ctx`, and a hostile set
//! that is stopped by the sandbox even though it never passed validation — with every layer, and
//! with each layer alone, so that each one is shown to stop its share.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::runtime::{HttpAnswer, HttpCall, RunRequest, RunStatus, Runtime, SandboxLevel, WorkflowHost};
use crate::sandbox::{Layers, RunLimits};

#[derive(Default)]
struct RecordingHost {
    calls: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl WorkflowHost for RecordingHost {
    async fn http(&self, call: HttpCall) -> Result<HttpAnswer, String> {
        self.calls.lock().map(|mut c| c.push(format!("{} {}", call.method, call.url))).ok();
        if call.url.contains("blocked") {
            return Err("destination refused by SSRF protection".into());
        }
        Ok(HttpAnswer {
            status_code: 200,
            headers: serde_json::Map::new(),
            text: json!({"echo": call.body}).to_string(),
            url: call.url,
        })
    }
    async fn secret(&self, name: &str) -> Option<String> {
        (name == "API_TOKEN").then(|| "s3cret".to_string())
    }
    async fn integration(&self, integration: &str, method: &str, args: &[String]) -> Result<Value, String> {
        self.calls.lock().map(|mut c| c.push(format!("{integration}.{method}({})", args.join(",")))).ok();
        Ok(Value::Null)
    }
}

async fn runtime() -> Runtime {
    Runtime::discover(None).await
}

fn request(code: &str) -> RunRequest {
    RunRequest {
        code: code.to_string(),
        indicator: json!({"type": "account", "value": "jdoe@example.com", "malice": "Malicious"}),
        alert: Some(json!({"title": "Impossible travel", "severity": "High"})),
        integrations: vec!["okta".into()],
        limits: RunLimits { memory_mb: 256, timeout: Duration::from_secs(5) },
    }
}

const GOOD: &str = r#"
from app.workflows.context import WorkflowContext, WorkflowResult

async def run(ctx: WorkflowContext) -> WorkflowResult:
    ctx.log.info("starting", account=ctx.indicator.value)
    token = ctx.secrets["API_TOKEN"]
    missing = ctx.secrets.get("NOPE", "none")
    response = await ctx.http.post("https://api.example.com/act", json={"who": ctx.indicator.value},
                                   headers={"Authorization": f"Bearer {token}"})
    await ctx.integrations.okta.revoke_sessions(ctx.indicator.value)
    print("printed output goes to stderr")
    return WorkflowResult.ok("done", data={"status": response.status_code, "echo": response.json()["echo"],
                                          "missing": missing, "alert": ctx.alert.title})
"#;

#[tokio::test]
async fn a_workflow_uses_ctx_through_the_parent() {
    let runtime = runtime().await;
    assert_eq!(runtime.level(), SandboxLevel::Full, "this machine offers every layer");
    let host = RecordingHost::default();
    let outcome = runtime.run(request(GOOD), &host).await;
    assert_eq!(outcome.status, RunStatus::Success, "{outcome:?}");
    assert_eq!(outcome.message, "done");
    assert_eq!(outcome.data["status"], 200);
    assert_eq!(outcome.data["echo"], json!({"json": {"who": "jdoe@example.com"}}));
    assert_eq!(
        (outcome.data["missing"].as_str(), outcome.data["alert"].as_str()),
        (Some("none"), Some("Impossible travel"))
    );
    let calls = host.calls.lock().map(|c| c.clone()).unwrap_or_default();
    assert_eq!(calls, ["POST https://api.example.com/act", "okta.revoke_sessions(jdoe@example.com)"]);
    let entries: Vec<Value> =
        outcome.log_output.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(entries[0]["message"], "starting");
    assert_eq!(entries[0]["extra"]["account"], "jdoe@example.com");
    assert!(
        entries.iter().any(|e| e["message"] == "HTTP POST https://api.example.com/act -> 200"),
        "{entries:?}"
    );
    assert!(outcome.stderr.contains("printed output"), "{}", outcome.stderr);
    assert!(!outcome.log_output.contains("s3cret"), "secrets are not logged");
}

#[tokio::test]
async fn results_and_failures_are_reported_as_v1_words_them() {
    let runtime = runtime().await;
    let host = RecordingHost::default();
    let cases = [
        ("async def run(ctx):\n    return 42\n", "returned unexpected type: int"),
        ("def run(ctx):\n    pass\n", "does not define an async function named 'run'"),
        ("raise ValueError('at load')\n", "during module load: at load"),
        ("async def run(ctx):\n    raise KeyError('k')\n", "run() raised an exception: 'k'"),
        ("async def run(ctx)\n", "syntax error"),
        ("import os\nasync def run(ctx):\n    pass\n", "import of 'os' is not allowed"),
        (
            "async def run(ctx):\n    await ctx.http.get('https://blocked.example/')\n",
            "destination refused by SSRF protection",
        ),
        (
            "from app.workflows.context import WorkflowResult\nasync def run(ctx):\n    return WorkflowResult.fail('no')\n",
            "no",
        ),
    ];
    for (code, expected) in cases {
        let outcome = runtime.run(request(code), &host).await;
        assert_eq!(outcome.status, RunStatus::Failed, "{code}: {outcome:?}");
        assert!(outcome.message.contains(expected), "{code}: {}", outcome.message);
    }
}

/// Reaches the `os` module without importing it, as code written straight into the database could.
const OS: &str = "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__";

fn hostile(body: &str) -> String {
    format!("async def run(ctx):\n    os = {OS}\n    {body}\n")
}

#[tokio::test]
async fn hostile_code_is_stopped_by_the_sandbox() {
    let runtime = runtime().await;
    let host = RecordingHost::default();
    let denied = [
        ("os['fork']()", "Operation not permitted"),
        ("os['posix_spawn']('/bin/true', ['true'], {})", "Operation not permitted"),
        ("os['sys'].modules['socket'].socket()", "Operation not permitted"),
        ("os['open']('/etc/passwd', os['O_RDONLY'])", "Permission denied"),
        ("os['open']('/tmp/calseta-sandbox-write', os['O_WRONLY'] | os['O_CREAT'])", "Permission denied"),
        ("os['open']('/proc/1/environ', os['O_RDONLY'])", "Permission denied"),
        ("os['listdir']('/')", "Permission denied"),
        ("os['execv']('/bin/sh', ['sh', '-c', 'true'])", "Permission denied"),
        ("os['environ']['PATH']", "PATH"),
    ];
    for (body, expected) in denied {
        let outcome = runtime.run(request(&hostile(body)), &host).await;
        assert_eq!(outcome.status, RunStatus::Failed, "{body}: {outcome:?}");
        assert!(outcome.message.contains(expected), "{body}: {}", outcome.message);
    }
    let stopped = [
        ("while True:\n        pass", RunStatus::TimedOut, "timed out after 2 seconds"),
        ("x = bytearray(2 * 1024 ** 3)", RunStatus::Failed, "exceeded memory limit (256MB)"),
    ];
    for (body, status, expected) in stopped {
        let mut req = request(&format!("async def run(ctx):\n    {body}\n"));
        req.limits.timeout = Duration::from_secs(2);
        let outcome = runtime.run(req, &host).await;
        assert_eq!(outcome.status, status, "{body}: {outcome:?}");
        assert!(outcome.message.contains(expected), "{body}: {}", outcome.message);
    }
    // The runtime is unharmed.
    assert_eq!(runtime.run(request(GOOD), &host).await.status, RunStatus::Success);
}

#[tokio::test]
async fn each_layer_alone_stops_its_share() {
    let full = runtime().await;
    let host = RecordingHost::default();
    let none = Layers { namespaces: false, landlock_abi: 0, seccomp: false };
    let run = |layers: Layers, body: &'static str| {
        let runtime = full.with_layers(layers);
        let host = &host;
        async move { runtime.run(request(&hostile(body)), host).await }
    };
    // Seccomp alone: no new processes, no leaving the process group, no signals.
    for body in ["os['fork']()", "os['setsid']()", "os['kill'](1, 0)"] {
        let outcome = run(Layers { seccomp: true, ..none }, body).await;
        assert!(outcome.message.contains("Operation not permitted"), "{body}: {outcome:?}");
    }
    // Landlock alone: nothing outside the interpreter's files.
    let abi = full.layers().landlock_abi;
    let outcome =
        run(Layers { landlock_abi: abi, ..none }, "os['open']('/etc/passwd', os['O_RDONLY'])").await;
    assert!(outcome.message.contains("Permission denied"), "{outcome:?}");
    // Namespaces alone: no network (the loopback of a fresh network namespace is down).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").ok();
    let port = listener.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.port()).unwrap_or(9);
    let body: &'static str = Box::leak(
        format!("s = os['sys'].modules['socket'].create_connection(('127.0.0.1', {port}), timeout=2)")
            .into_boxed_str(),
    );
    let outcome = run(Layers { namespaces: true, ..none }, body).await;
    assert_eq!(outcome.status, RunStatus::Failed, "{outcome:?}");
    assert!(outcome.message.contains("unreachable") || outcome.message.contains("refused"), "{outcome:?}");
    // Landlock alone also refuses TCP connections and signals to processes outside the sandbox.
    let outcome = run(Layers { landlock_abi: abi, ..none }, body).await;
    assert!(outcome.message.contains("Permission denied"), "{outcome:?}");
    let signal: &'static str = Box::leak(format!("os['kill']({}, 0)", std::process::id()).into_boxed_str());
    let outcome = run(Layers { landlock_abi: abi, ..none }, signal).await;
    assert!(outcome.message.contains("Operation not permitted"), "{outcome:?}");
    // Namespaces alone: the interpreter is PID 1 of its own PID namespace.
    let outcome =
        run(Layers { namespaces: true, ..none }, "raise RuntimeError(f\"pid {os['getpid']()}\")").await;
    assert!(outcome.message.contains("pid 1\n"), "{outcome:?}");
    // And without any layer the same code does reach them: the layers are what stop it.
    let outcome = run(none, body).await;
    assert!(outcome.message.contains("returned unexpected type: NoneType"), "{outcome:?}");
    let outcome = run(none, "return os['open']('/etc/passwd', os['O_RDONLY'])").await;
    assert!(outcome.message.contains("returned unexpected type: int"), "{outcome:?}");
    drop(listener);
    // The resource limits hold with or without the other layers.
    let read =
        "raise RuntimeError(os['read'](os['open']('/proc/self/limits', os['O_RDONLY']), 4096).decode())";
    let outcome = run(none, read).await;
    let limits: Vec<String> =
        outcome.message.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    for expected in [
        "Max cpu time 6 7 seconds",
        "Max file size 0 0 bytes",
        "Max core file size 0 0 bytes",
        "Max open files 64 64 files",
        "Max processes 1 1 processes",
        "Max address space 268435456 268435456 bytes",
    ] {
        assert!(limits.iter().any(|l| l == expected), "{expected}: {limits:?}");
    }
}

#[tokio::test]
async fn validation_uses_the_interpreters_parser_and_refuses_reflection() {
    let runtime = runtime().await;
    assert_eq!(runtime.validate(GOOD).await.ok(), Some(vec![]));
    let refused = [
        ("async def run(ctx)\n", "Syntax error"),
        ("def run(ctx):\n    pass\n", "must define an async function named 'run'"),
        (
            "import subprocess\nasync def run(ctx): pass\n",
            "Line 1, column 0: import of 'subprocess' is not allowed",
        ),
        ("import requests\nasync def run(ctx): pass\n", "not in the allowed imports list"),
        ("async def run(ctx):\n    eval('1')\n", "Line 2, column 4: use of 'eval' is not allowed"),
        (
            "async def run(ctx):\n    ().__class__.__base__.__subclasses__()\n",
            "access to '__subclasses__' is not allowed",
        ),
        ("async def run(ctx):\n    getattr(ctx, '__dict__')\n", "'getattr' of '__dict__' is not allowed"),
        (
            "async def run(ctx):\n    name = 'x'\n    getattr(ctx, name)\n",
            "'getattr' needs a literal attribute name",
        ),
        ("async def run(ctx):\n    vars(ctx)\n", "use of 'vars' is not allowed"),
        ("async def run(ctx):\n    type('X', (), {})\n", "use of 'type' to build classes"),
        ("async def run(ctx):\n    x = '__globals__'\n", "the name '__globals__' is not allowed"),
        ("async def run(ctx):\n    __builtins__\n", "use of '__builtins__' is not allowed"),
    ];
    for (code, expected) in refused {
        let problems = runtime.validate(code).await.unwrap_or_default();
        assert!(problems.iter().any(|p| p.contains(expected)), "{code}: {problems:?}");
    }
}

#[tokio::test]
async fn output_log_and_requests_are_bounded() {
    let runtime = runtime().await;
    let host = RecordingHost::default();
    let code = "async def run(ctx):\n    for i in range(2000):\n        ctx.log.info('x' * 1000)\n    print('y' * 1000000)\n";
    let outcome = runtime.run(request(code), &host).await;
    assert!(outcome.log_output.len() <= 256 * 1024 + 200, "{}", outcome.log_output.len());
    assert!(outcome.log_output.contains("log entries dropped"));
    assert!(outcome.stderr.len() <= 16 * 1024, "{}", outcome.stderr.len());
    let code = "async def run(ctx):\n    for i in range(1001):\n        ctx.secrets.get('A')\n";
    let outcome = runtime.run(request(code), &host).await;
    assert!(outcome.message.contains("more than 1000 requests"), "{outcome:?}");
    let code = "async def run(ctx):\n    ctx.log.info('z' * (2 * 1024 * 1024))\n";
    let outcome = runtime.run(request(code), &host).await;
    assert!(outcome.message.contains("larger than 1048576 bytes"), "{outcome:?}");
}

#[tokio::test]
async fn waiting_children_serve_one_run_each_with_the_runs_own_limits() {
    let runtime = runtime().await;
    let host = RecordingHost::default();
    let all_waiting = || async {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while runtime.warm_children() < 2 {
            assert!(std::time::Instant::now() < deadline, "the waiting children never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    runtime.prewarm(256);
    all_waiting().await;
    // A run marks a module; the next run, in another waiting child, starts clean: never reused.
    let mark = "import json\nfrom app.workflows.context import WorkflowResult\n\nasync def run(ctx):\n    \
                seen = hasattr(json, 'calseta_mark')\n    json.calseta_mark = True\n    \
                return WorkflowResult.ok('seen' if seen else 'fresh')\n";
    for _ in 0..3 {
        all_waiting().await;
        let outcome = runtime.run(request(mark), &host).await;
        assert_eq!((outcome.status, outcome.message.as_str()), (RunStatus::Success, "fresh"), "{outcome:?}");
    }
    // A waiting child started with the longest CPU limit runs with the run's own (timeout + 1).
    // (Landlock hides /proc/self/limits; the interpreter's own `resource` module tells.)
    all_waiting().await;
    let read = "r = os['sys'].modules['resource']\n    raise RuntimeError(f'cpu {r.getrlimit(0)} as {r.getrlimit(9)}')";
    let outcome = runtime.run(request(&hostile(read)), &host).await;
    assert!(outcome.message.contains("cpu (6, 7) as (268435456, 268435456)"), "{outcome:?}");
    // ...and the workflow cannot raise it again.
    all_waiting().await;
    let raise =
        "r = os['sys'].modules['resource']\n    r.setrlimit(0, (100, 100))\n    raise RuntimeError('raised')";
    let outcome = runtime.run(request(&hostile(raise)), &host).await;
    assert!(outcome.message.contains("not allowed to raise maximum limit"), "{outcome:?}");
    // An endless loop in a waiting child is still stopped at the run's own limit.
    all_waiting().await;
    let mut spin = request("async def run(ctx):\n    while True:\n        pass\n");
    spin.limits.timeout = Duration::from_secs(1);
    let outcome = runtime.run(spin, &host).await;
    assert_ne!(outcome.status, RunStatus::Success, "{outcome:?}");
    assert!(outcome.duration < Duration::from_secs(10), "{outcome:?}");
}
