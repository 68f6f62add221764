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
    async fn secret(&self, name: &str) -> Result<Option<String>, String> {
        Ok((name == "API_TOKEN").then(|| "s3cret".to_string()))
    }
    async fn integration(&self, integration: &str, method: &str, args: &[String]) -> Result<Value, String> {
        self.calls.lock().map(|mut c| c.push(format!("{integration}.{method}({})", args.join(",")))).ok();
        Ok(Value::Null)
    }
}

async fn runtime() -> Runtime {
    Runtime::discover(&crate::SandboxOptions::default()).await
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
    // The identity-provider call is the platform's record, whatever the workflow says of it.
    let okta = entries.iter().find(|e| e["message"] == "okta.revoke_sessions -> ok").unwrap();
    assert_eq!(
        (&okta["source"], &okta["integration"]["args"]),
        (&json!("platform"), &json!(["jdoe@example.com"]))
    );
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
        ("os['execv']('/bin/sh', ['sh', '-c', 'true'])", "forbids, and was killed"),
        ("os['execv'](os['sys'].executable, ['python3', '-c', 'pass'])", "forbids, and was killed"),
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
        let runtime = full.with_layers(layers).with_degraded_allowed(true);
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
        "Max open files 32 32 files",
        "Max processes 18 18 processes",
        "Max locked memory 0 0 bytes",
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
        // A ValueError on some interpreters: still an answer, not a crashed validator.
        ("async def run(ctx):\n    return 1\0\n", "null bytes"),
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

/// Tries each expression in the child and reports what each one raised (or returned), so one run
/// shows every refusal.
fn attempts(expressions: &[&str]) -> String {
    let mut body = String::from("tried = {}\n");
    for expr in expressions {
        body.push_str(&format!(
            "    try:\n        tried[{expr:?}] = repr({expr})\n    except BaseException as e:\n        tried[{expr:?}] = f'{{type(e).__name__}}: {{e}}'\n"
        ));
    }
    body.push_str("    raise RuntimeError('TRIED' + os['sys'].modules['json'].dumps(tried))");
    hostile(&body)
}

fn tried(outcome: &crate::RunOutcome) -> serde_json::Map<String, Value> {
    let text = outcome.message.split("TRIED").nth(1).and_then(|t| t.lines().next()).unwrap_or_default();
    serde_json::from_str(text).unwrap_or_else(|_| panic!("no report: {outcome:?}"))
}

#[tokio::test]
async fn the_child_is_never_root_and_changes_no_file_metadata() {
    let runtime = runtime().await;
    let host = RecordingHost::default();
    let dir = std::env::temp_dir().join(format!("calseta-meta-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("root-owned");
    std::fs::write(&file, "x").unwrap();
    let path = file.display().to_string();
    let before = std::fs::metadata(&file).unwrap();
    let calls = [
        format!("os['chmod']({path:?}, 0o4755)"),
        format!("os['chown']({path:?}, 65534, 65534)"),
        format!("os['lchown']({path:?}, 0, 0)"),
        format!("os['utime']({path:?}, (0, 0))"),
        format!("os['setxattr']({path:?}, 'user.calseta', b'1')"),
        format!("os['removexattr']({path:?}, 'user.calseta')"),
        "os['getuid']()".to_string(),
        "os['setuid'](0)".to_string(),
    ];
    let calls: Vec<&str> = calls.iter().map(String::as_str).collect();
    // Every layer, and the change of user alone (without seccomp): each stops the changes.
    let none = Layers { namespaces: false, landlock_abi: 0, seccomp: false };
    // (seccomp answers EPERM; the kernel's own checks for a non-owner EPERM or EACCES.)
    let cases = [
        (runtime.clone(), "PermissionError: [Errno 1] Operation not permitted"),
        (runtime.with_layers(none).with_degraded_allowed(true), "PermissionError"),
    ];
    for (runtime, refused) in cases {
        let outcome = runtime.run(request(&attempts(&calls)), &host).await;
        let tried = tried(&outcome);
        for call in &calls[..6] {
            assert!(tried[*call].as_str().unwrap().starts_with(refused), "{call}: {tried:?}");
        }
        assert_eq!(tried["os['getuid']()"], "65534", "{tried:?}");
        assert!(tried["os['setuid'](0)"].as_str().unwrap().contains("PermissionError"), "{tried:?}");
    }
    let after = std::fs::metadata(&file).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((after.mode(), after.uid(), after.gid()), (before.mode(), before.uid(), before.gid()));
    assert_eq!(after.mtime(), before.mtime());
    // seccomp denies the metadata calls as well: on a file the child's own user owns, where the
    // kernel's owner check would let them through, seccomp alone refuses them.
    let owned = dir.join("owned-by-the-child");
    std::fs::write(&owned, "x").unwrap();
    std::os::unix::fs::chown(&owned, Some(65534), Some(65534)).unwrap();
    let chmod = format!("os['chmod']({:?}, 0o777)", owned.display().to_string());
    let calls = [chmod.as_str()];
    let seccomp_only = runtime.with_layers(Layers { seccomp: true, ..none }).with_degraded_allowed(true);
    let refused = tried(&seccomp_only.run(request(&attempts(&calls)), &host).await);
    assert!(refused[chmod.as_str()].as_str().unwrap().contains("Operation not permitted"), "{refused:?}");
    assert_eq!(std::fs::metadata(&owned).unwrap().mode() & 0o777, 0o644);
    let unfiltered = runtime.with_layers(none).with_degraded_allowed(true);
    let allowed = tried(&unfiltered.run(request(&attempts(&calls)), &host).await);
    assert_eq!(allowed[chmod.as_str()], "None", "without seccomp the owner may: {allowed:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn threads_are_capped_per_run_and_forbidden_calls_fail() {
    let runtime = runtime().await;
    let host = RecordingHost::default();
    let bomb = "t = os['sys'].modules['_thread']\n    t.stack_size(32768)\n    lock = t.allocate_lock()\n    \
                lock.acquire()\n    started = 0\n    try:\n        for _ in range(2000):\n            \
                t.start_new_thread(lock.acquire, ())\n            started += 1\n    except RuntimeError as e:\n        \
                raise RuntimeError(f'threads {started}: {e}')";
    let outcome = runtime.run(request(&hostile(bomb)), &host).await;
    let started: u64 = outcome
        .message
        .split("threads ")
        .nth(1)
        .and_then(|t| t.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{outcome:?}"));
    assert!(started <= crate::THREADS_PER_RUN, "{outcome:?}");
    assert!(started >= 1, "threads still work: {outcome:?}");
    let calls = [
        "os['fsync'](1)",
        "os['pipe']()",
        "os['chdir']('/tmp')",
        "os['memfd_create']('x')",
        "os['eventfd'](0)",
        "os['pidfd_open'](1)",
        "os['sched_setaffinity'](0, {0})",
        "os['setpriority'](0, 0, 10)",
        "os['mkfifo']('/tmp/calseta-fifo')",
        "os['symlink']('/etc/passwd', '/tmp/calseta-link')",
        "os['fchmod'](0, 0o777)",
        "os['setsid']()",
        "os['sys'].modules['socket'].socket()",
        "os['sys'].modules['socket'].socketpair(os['sys'].modules['socket'].AF_INET)",
        "os['sys'].modules['_frozen_importlib']._gcd_import('fcntl').fcntl(1, 1031, 1048576)",
    ];
    let outcome = runtime.run(request(&attempts(&calls)), &host).await;
    let tried = tried(&outcome);
    for call in calls {
        assert!(tried[call].as_str().unwrap().contains("Operation not permitted"), "{call}: {tried:?}");
    }
}

#[tokio::test]
async fn as_root_without_namespaces_workflows_do_not_run_unless_allowed() {
    let runtime = runtime().await;
    let host = RecordingHost::default();
    let without = runtime.with_layers(Layers { namespaces: false, ..runtime.layers() });
    let SandboxLevel::Unavailable(reason) = without.level() else { panic!("{:?}", without.level()) };
    assert!(reason.contains("WORKFLOW_ALLOW_DEGRADED"), "{reason}");
    assert!(without.level().to_string().starts_with("unavailable: the server runs as root"));
    let outcome = without.run(request(GOOD), &host).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(outcome.message.contains("WORKFLOW_ALLOW_DEGRADED"), "{outcome:?}");
    assert!(without.validate(GOOD).await.is_err());
    let allowed = without.with_degraded_allowed(true);
    assert_eq!(allowed.level(), SandboxLevel::Degraded(vec!["namespaces"]));
    assert_eq!(allowed.run(request(GOOD), &host).await.status, RunStatus::Success);
}

#[tokio::test]
async fn secrets_are_masked_in_every_encoding_everywhere_a_run_records() {
    let runtime = runtime().await;
    let host = RecordingHost::default();
    // The secret goes out by every channel a run has, in every common encoding.
    let echo = "import base64 as b64, urllib.parse\n    s = ctx.secrets['API_TOKEN']\n    \
                forms = [s, b64.b64encode(('Bearer ' + s).encode()).decode(), b64.urlsafe_b64encode(('x' + s).encode()).decode(), \
                s.encode().hex(), s.encode().hex().upper(), urllib.parse.quote(s, safe='')]\n    \
                ctx.log.info('token ' + ' '.join(forms), token=s, forms={f: f for f in forms})\n    \
                print('printed', *forms)\n    await ctx.http.get('https://api.example.com/u/' + s)\n    \
                raise RuntimeError('raised ' + ' '.join(forms))";
    let outcome = runtime.run(request(&hostile(echo)), &host).await;
    let returned = "from app.workflows.context import WorkflowResult\nasync def run(ctx):\n    s = ctx.secrets['API_TOKEN']\n    \
                    return WorkflowResult.ok('result ' + s, data={'token': s, s: [s.encode().hex()]})\n";
    let result = runtime.run(request(returned), &host).await;
    assert!(result.data.to_string().contains("***"), "{result:?}");
    // The secret's encodings in the recording host: "s3cret".
    let forms =
        ["s3cret", "czNjcmV0", "zNjcmV0", "7333637265", "7333637265".to_uppercase().as_str(), "73336372"]
            .map(str::to_string);
    for outcome in [&outcome, &result] {
        let record =
            format!("{} {} {} {}", outcome.message, outcome.data, outcome.log_output, outcome.stderr);
        assert!(record.contains("***"), "{record}");
        for form in &forms {
            assert!(!record.contains(form.as_str()), "{form} in {record}");
        }
    }
    assert!(outcome.stderr.contains("printed ***"), "{}", outcome.stderr);
    assert!(outcome.message.contains("raised ***"), "{}", outcome.message);
    // A secret printed across the end of what is kept of the output is masked before the cut.
    for shift in 1..6 {
        let straddle = format!("print('A' * {}, ctx.secrets['API_TOKEN'], sep='')", 16 * 1024 - shift);
        let outcome = runtime.run(request(&hostile(&straddle)), &host).await;
        assert!(outcome.stderr.len() <= 16 * 1024, "{}", outcome.stderr.len());
        assert!(
            outcome.stderr.trim_end().ends_with(&"***"[..shift.min(3)]),
            "{shift}: …{}",
            &outcome.stderr[16000..]
        );
        assert!(!outcome.stderr.contains('s'), "{shift}: …{}", &outcome.stderr[16000..]);
    }
}

#[tokio::test]
async fn the_log_shows_which_entries_are_the_platforms_and_the_child_cannot_forge_them() {
    let runtime = runtime().await;
    let host = RecordingHost::default();
    let send = "os['sys'].modules['__main__']._send";
    // A workflow's entry that reads like the platform's is still the workflow's.
    let lookalike = format!(
        "{send}({{'op': 'log', 'entry': {{'level': 'info', 'message': 'HTTP POST https://x/suspend -> 200'}}}})\n    \
         await ctx.http.get('https://api.example.com/real')\n    return 1"
    );
    let outcome = runtime.run(request(&hostile(&lookalike)), &host).await;
    let entries: Vec<Value> = outcome.log_output.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let forged = entries.iter().find(|e| e["message"] == "HTTP POST https://x/suspend -> 200").unwrap();
    assert_eq!(forged["source"], "workflow", "{entries:?}");
    let real =
        entries.iter().find(|e| e["message"] == "HTTP GET https://api.example.com/real -> 200").unwrap();
    assert_eq!((&real["source"], &real["http"]["status"]), (&json!("platform"), &json!(200)), "{real}");
    // Entries of another shape, or claiming the platform's field, and results of another shape
    // end the run with the reason.
    let malformed = [
        format!(
            "{send}({{'op': 'log', 'entry': {{'level': 'info', 'message': 'x', 'source': 'platform'}}}})"
        ),
        format!("{send}({{'op': 'log', 'entry': 'sandbox degraded: no seccomp'}})"),
        format!("{send}({{'op': 'log', 'entry': {{'level': 'critical', 'message': 'x'}}}})"),
        format!("{send}({{'op': 'log', 'entry': {{'level': 'info', 'message': 'x', 'extra': [1]}}}})"),
    ];
    for body in &malformed {
        let outcome = runtime.run(request(&hostile(body)), &host).await;
        assert_eq!(outcome.status, RunStatus::Failed, "{body}");
        assert!(outcome.message.contains("malformed log entry"), "{body}: {outcome:?}");
    }
    for result in [
        "{'op': 'result', 'success': True, 'message': 'ok', 'data': [1]}",
        "{'op': 'result', 'success': 'yes', 'message': 'ok', 'data': {}}",
        "{'op': 'result', 'success': True}",
    ] {
        let body = format!("{send}({result})\n    import time\n    time.sleep(5)");
        let outcome = runtime.run(request(&hostile(&body)), &host).await;
        assert_eq!(outcome.status, RunStatus::Failed, "{result}");
        assert!(outcome.message.contains("result is malformed"), "{result}: {outcome:?}");
    }
    // Log entries count toward the run's message cap.
    let flood = format!(
        "for _ in range(6000):\n        {send}({{'op': 'log', 'entry': {{'level': 'info', 'message': ''}}}})\n    time.sleep(5)"
    );
    let outcome = runtime.run(request(&hostile(&format!("import time\n    {flood}"))), &host).await;
    assert!(outcome.message.contains("more than 5000 messages"), "{outcome:?}");
}
