//! The workflow sandbox against a workflow author, through the whole server: a key with only
//! `workflows:write` and `workflows:execute` creates a workflow, and its code is then replaced
//! straight in the database — past validation — with code that reaches `os`, `socket` and
//! `_thread` without the `import` statement, so that only the operating-system layers can stop it.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::approvals::{bodies, slack_env, slack_stand_in};
use crate::helpers::*;
use crate::respond::{alert_with_account, finished_run, uuid_literal};

/// Reaches the `os` module without importing it.
const OS: &str = "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__";

/// The host user each of this file's apps runs workflows as: its own (tests run at once), so that
/// counting its tasks counts that test's sandbox children only.
fn workflow_uid(app: &TestApp) -> String {
    app.env.get("WORKFLOW_UID").cloned().unwrap_or_default()
}

/// `async def run(ctx)` whose body starts with `os` in hand.
fn hostile(body: &str) -> String {
    format!("async def run(ctx):\n    os = {OS}\n    {body}\n")
}

/// A body that tries each expression and raises a JSON report of what each one did.
fn attempts(expressions: &[String]) -> String {
    let mut body = String::from("tried = {}\n");
    for expr in expressions {
        body.push_str(&format!(
            "    try:\n        tried[{expr:?}] = repr({expr})\n    except BaseException as e:\n        tried[{expr:?}] = f'{{type(e).__name__}}: {{e}}'\n"
        ));
    }
    body.push_str("    raise RuntimeError('TRIED' + os['sys'].modules['json'].dumps(tried) + 'END')");
    hostile(&body)
}

fn report(answer: &Value) -> serde_json::Map<String, Value> {
    let message = answer["data"]["message"].as_str().unwrap_or_default();
    let text = message.split("TRIED").nth(1).and_then(|t| t.split("END").next()).unwrap_or_default();
    serde_json::from_str(text).unwrap_or_else(|_| panic!("no report in {answer}"))
}

/// Creates an active workflow with `key`, then replaces its code in the database with `code`.
async fn planted(app: &TestApp, key: &str, name: &str, approval_mode: &str, code: &str) -> String {
    let valid = "from app.workflows.context import WorkflowResult\n\nasync def run(ctx):\n    return WorkflowResult.ok('fine')\n";
    let (status, created) = app
        .post(
            "/v1/workflows",
            key,
            json!({"name": name, "code": valid, "state": "active", "approval_mode": approval_mode}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let uuid = created["data"]["uuid"].as_str().unwrap().to_string();
    plant(app, &uuid, code).await;
    uuid
}

/// Writes `code` as the workflow's code straight into the database.
async fn plant(app: &TestApp, uuid: &str, code: &str) {
    let sql = format!(
        "UPDATE workflows SET code = '{}' WHERE uuid = {}",
        code.replace('\'', "''"),
        uuid_literal(app, uuid)
    );
    exec_sql(app, &sql).await;
}

/// Runs the workflow once in test mode with `key` and returns the answer.
async fn test_run(app: &TestApp, key: &str, workflow: &str) -> Value {
    let (status, answer) = app
        .post(
            &format!("/v1/workflows/{workflow}/test"),
            key,
            json!({"indicator_type": "ip", "indicator_value": "1.2.3.4", "mock_http_responses": {}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// Tasks (threads included) of processes running as `uid` on this machine.
fn tasks_of(uid: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .filter(|status| {
            status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some(uid))
        })
        .filter_map(|status| {
            status.lines().find(|l| l.starts_with("Threads:"))?.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

/// After a case: the server is healthy and the sandbox user's tasks are back to the children
/// waiting for a run (two, each an interpreter and its parent).
async fn back_to_baseline(app: &TestApp) {
    eventually("the sandbox's tasks are back to its waiting children", Duration::from_secs(30), || async {
        (tasks_of(&workflow_uid(app)) <= 4).then_some(())
    })
    .await;
    let (status, health) = app.get("/health", &app.admin_key).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")), "{health}");
}

async fn attacker_app(extra: Vec<(&'static str, String)>) -> (TestApp, String) {
    // Unique across the apps of this run and across test processes running at once (their
    // children would otherwise be counted together).
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let app_number = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 10;
    let uid = (40_000 + (std::process::id() % 2_000) * 10 + app_number).to_string();
    let mut env = vec![
        ("WORKFLOW_UID", uid.clone()),
        ("WORKFLOW_GID", uid),
        ("RATE_LIMIT_WORKFLOW_EXECUTE_PER_MINUTE", "200".into()),
    ];
    env.extend(extra);
    let app = spawn_app_with(AppOptions { env, ..AppOptions::default() }).await;
    let key = app.key_with(&["workflows:write", "workflows:execute"]).await;
    (app, key)
}

#[tokio::test]
async fn planted_code_changes_no_host_file_and_makes_no_forbidden_call() {
    let (app, key) = attacker_app(vec![]).await;
    // A root-owned file in a directory of the host's, as the server (root) sees it.
    let dir = std::env::temp_dir().join(format!("calseta-attack-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("root-owned");
    std::fs::write(&file, "x").unwrap();
    let path = file.display().to_string();
    use std::os::unix::fs::MetadataExt;
    let before = std::fs::metadata(&file).unwrap();
    let dir_mode = std::fs::metadata(&dir).unwrap().mode();
    let python = std::process::Command::new("python3")
        .args(["-c", &format!("import os; print(os.listxattr({path:?}))")])
        .output()
        .unwrap();
    let xattrs_before = String::from_utf8_lossy(&python.stdout).to_string();
    let calls: Vec<String> = [
        format!("os['chmod']({path:?}, 0o4755)"),
        format!("os['chown']({path:?}, 65534, 65534)"),
        format!("os['lchown']({path:?}, 0, 0)"),
        format!("os['utime']({path:?}, (0, 0))"),
        format!("os['setxattr']({path:?}, 'user.calseta', b'1')"),
        format!("os['removexattr']({path:?}, 'user.calseta')"),
        format!("os['chmod']({:?}, 0o777)", dir.display().to_string()),
        "os['fsync'](1)".into(),
        "os['pipe']()".into(),
        "os['setuid'](0)".into(),
        "os['setsid']()".into(),
        "os['kill'](1, 9)".into(),
        "os['memfd_create']('x')".into(),
        "os['sys'].modules['socket'].socket()".into(),
        "os['sys'].modules['_frozen_importlib']._gcd_import('fcntl').fcntl(1, 1031, 1048576)".into(),
    ]
    .into();
    let workflow = planted(&app, &key, "Metadata", "never", &attempts(&calls)).await;
    let answer = test_run(&app, &key, &workflow).await;
    let tried = report(&answer);
    for call in &calls {
        assert!(
            tried[call].as_str().unwrap().starts_with("PermissionError: [Errno 1] Operation not permitted"),
            "{call}: {tried:?}"
        );
    }
    let after = std::fs::metadata(&file).unwrap();
    assert_eq!(
        (after.mode(), after.uid(), after.gid(), after.mtime()),
        (before.mode(), before.uid(), before.gid(), before.mtime())
    );
    assert_eq!(std::fs::metadata(&dir).unwrap().mode(), dir_mode);
    let python = std::process::Command::new("python3")
        .args(["-c", &format!("import os; print(os.listxattr({path:?}))")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&python.stdout), xattrs_before);
    // Executing anything — a shell, or the interpreter again — ends the run at once.
    for target in ["'/bin/sh', ['sh', '-c', 'id']", "os['sys'].executable, ['python3', '-c', 'pass']"] {
        plant(&app, &workflow, &hostile(&format!("os['execv']({target})"))).await;
        let answer = test_run(&app, &key, &workflow).await;
        assert_eq!(answer["data"]["success"], false);
        let message = answer["data"]["message"].as_str().unwrap();
        assert!(message.contains("system call the sandbox forbids, and was killed"), "{answer}");
    }
    let (status, health) = app.get("/health", &app.admin_key).await;
    assert_eq!((status, health["workflow_sandbox"].as_str()), (200, Some("full")), "{health}");
    std::fs::remove_dir_all(&dir).ok();
    back_to_baseline(&app).await;
}

#[tokio::test]
async fn a_thread_bomb_run_eight_times_at_once_stays_within_its_bounds() {
    let (app, key) = attacker_app(vec![]).await;
    let bomb = "import time\n    t = os['sys'].modules['_thread']\n    t.stack_size(32768)\n    lock = t.allocate_lock()\n    \
                lock.acquire()\n    started = 0\n    try:\n        for _ in range(2000):\n            \
                t.start_new_thread(lock.acquire, ())\n            started += 1\n    except RuntimeError:\n        pass\n    \
                time.sleep(1)\n    raise RuntimeError(f'THREADS {started} END')";
    let workflow = planted(&app, &key, "Bomb", "never", &hostile(bomb)).await;
    // The sampler runs beside the eight runs and keeps the most tasks it saw.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (stop, uid) = (stop.clone(), workflow_uid(&app));
        tokio::task::spawn_blocking(move || {
            let mut most = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                most = most.max(tasks_of(&uid));
                std::thread::sleep(Duration::from_millis(5));
            }
            most
        })
    };
    let runs = (0..8).map(|_| test_run(&app, &key, &workflow));
    let answers = futures::future::join_all(runs).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let most = sampler.await.unwrap();
    for answer in &answers {
        let message = answer["data"]["message"].as_str().unwrap();
        let started: u64 = message
            .split("THREADS ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{answer}"));
        assert!((1..=16).contains(&started), "{answer}");
    }
    // Four runs at once (WORKFLOW_MAX_CONCURRENT_RUNS), each at most 16 threads besides its
    // interpreter and middle process; as many runs again whose killed interpreters are still
    // being torn down as the next ones start; and the two waiting children. (Unbounded, one run
    // alone started 792 threads.)
    assert!(most > 16, "the runs were seen: {most}");
    assert!(most <= 2 * 4 * 18 + 4, "{most} tasks");
    back_to_baseline(&app).await;
}

/// The secret and the forms it is written in below.
const SECRET: &str = "Xk9-s3cr3t/Valu3+=";

fn secret_forms() -> Vec<String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        SECRET.to_string(),
        // The core of base64("Bearer " + secret), which no masking alignment may leave.
        b64.encode(format!("Bearer {SECRET}"))[12..28].to_string(),
        hex::encode(SECRET),
        form_urlencoded::byte_serialize(SECRET.as_bytes()).collect(),
        // Python's `quote`: `/` and `-._~` kept.
        "Xk9-s3cr3t/Valu3%2B%3D".to_string(),
    ]
}

/// `PUT path` with the admin key.
async fn put(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    status_json(app.client.put(app.url(path)).bearer_auth(&app.admin_key).json(&body).send().await.unwrap())
        .await
}

fn assert_masked(what: &str, text: &str) {
    for form in secret_forms() {
        assert!(!text.contains(&form), "{what} holds {form}: {text}");
    }
}

#[tokio::test]
async fn secrets_echoed_by_planted_code_are_masked_in_runs_activity_tests_and_slack() {
    let slack = slack_stand_in().await;
    let (app, key) = attacker_app(slack_env(&slack)).await;
    let (status, stored) = put(&app, "/v1/workflow-secrets/API_TOKEN", json!({"value": SECRET})).await;
    assert_eq!(status, 200, "{stored}");
    let echo = "import base64, urllib.parse\n    from app.workflows.context import WorkflowResult\n    \
                s = ctx.secrets['API_TOKEN']\n    \
                forms = [s, base64.b64encode(('Bearer ' + s).encode()).decode(), s.encode().hex(), urllib.parse.quote_plus(s), urllib.parse.quote(s)]\n    \
                ctx.log.info('echo ' + ' '.join(forms), token=s)\n    print('printed', *forms)\n    \
                return WorkflowResult.ok('done ' + ' '.join(forms), data={'forms': forms, s: s})";
    let workflow = planted(&app, &key, "Echo", "always", &hostile(echo)).await;
    crate::secret_grants::grant(&app, &workflow, &["API_TOKEN"]).await;
    // A human executes it against an alert's account, and approves it: the run is recorded, the
    // activity written, and the result posted to Slack.
    let alert = alert_with_account(&app, "jdoe@example.com").await;
    let (status, requested) = app
        .post(
            &format!("/v1/workflows/{workflow}/execute"),
            &key,
            json!({"indicator_type": "account", "indicator_value": "jdoe@example.com", "alert_uuid": alert}),
        )
        .await;
    assert_eq!(status, 202, "{requested}");
    let approval = requested["data"]["approval_request_uuid"].as_str().unwrap().to_string();
    let (status, decided) =
        app.post(&format!("/v1/workflow-approvals/{approval}/approve"), &app.admin_key, json!({})).await;
    assert_eq!(status, 200, "{decided}");
    let run = finished_run(&app, &workflow).await;
    assert_eq!(run["status"], "success", "{run}");
    let log = run["log_output"].as_str().unwrap();
    // The raw, hex and URL forms are masked whole; base64 keeps what encodes "Bearer " alone.
    assert!(log.contains("echo *** QmVhcmVyIF***Q== *** *** ***"), "{log}");
    assert!(log.contains("printed *** QmVhcmVyIF***Q== *** *** ***"), "{log}");
    assert_masked("the run", &run.to_string());
    let (_, activity) = app.get(&format!("/v1/alerts/{alert}/activity"), &app.admin_key).await;
    assert!(activity.to_string().contains("workflow_executed"), "{activity}");
    assert_masked("the activity", &activity.to_string());
    let threaded =
        eventually("the result is posted in the request's thread", Duration::from_secs(30), || async {
            bodies(&slack, "/chat.postMessage").await.into_iter().find(|m| m.get("thread_ts").is_some())
        })
        .await;
    assert!(threaded.to_string().contains("done ***"), "{threaded}");
    for message in
        bodies(&slack, "/chat.postMessage").await.iter().chain(&bodies(&slack, "/chat.update").await)
    {
        assert_masked("a Slack message", &message.to_string());
    }
    // Test mode's answer, and an exception's text.
    let answer = test_run(&app, &app.admin_key, &workflow).await;
    assert!(answer["data"]["message"].as_str().unwrap().starts_with("done ***"), "{answer}");
    assert_masked("the test answer", &answer.to_string());
    plant(
        &app,
        &workflow,
        &hostile("s = ctx.secrets['API_TOKEN']\n    raise ValueError('leaked ' + s.encode().hex())"),
    )
    .await;
    let answer = test_run(&app, &app.admin_key, &workflow).await;
    assert!(answer["data"]["message"].as_str().unwrap().contains("leaked ***"), "{answer}");
    assert_masked("the test answer", &answer.to_string());
    back_to_baseline(&app).await;
}

#[tokio::test]
async fn a_run_record_shows_which_entries_are_the_platforms() {
    let api = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200)).mount(&api).await;
    let (app, key) = attacker_app(vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into())]).await;
    let send = "os['sys'].modules['__main__']._send";
    let code = hostile(&format!(
        "{send}({{'op': 'log', 'entry': {{'level': 'info', 'message': 'HTTP POST https://okta.example/suspend -> 200'}}}})\n    \
         await ctx.http.get('{}/real')\n    from app.workflows.context import WorkflowResult\n    return WorkflowResult.ok('ok')",
        api.uri()
    ));
    let workflow = planted(&app, &key, "Forger", "never", &code).await;
    alert_with_account(&app, "carol@example.com").await;
    let (status, queued) = app
        .post(
            &format!("/v1/workflows/{workflow}/execute"),
            &key,
            json!({"indicator_type": "account", "indicator_value": "carol@example.com"}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let run = finished_run(&app, &workflow).await;
    assert_eq!(run["status"], "success", "{run}");
    let entries: Vec<Value> =
        run["log_output"].as_str().unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let forged =
        entries.iter().find(|e| e["message"] == "HTTP POST https://okta.example/suspend -> 200").unwrap();
    assert_eq!(forged["source"], "workflow", "{entries:?}");
    let real = entries.iter().find(|e| e["source"] == "platform").unwrap();
    assert_eq!(real["message"], format!("HTTP GET {}/real -> 200", api.uri()), "{entries:?}");
    assert_eq!(real["http"]["status"], 200, "{real}");
    // A result of another shape fails the run, whatever it claims.
    plant(&app, &workflow, &hostile(&format!("{send}({{'op': 'result', 'success': True, 'message': 'ok', 'data': [1]}})\n    import time\n    time.sleep(5)"))).await;
    let answer = test_run(&app, &key, &workflow).await;
    assert_eq!(answer["data"]["success"], false, "{answer}");
    assert!(answer["data"]["message"].as_str().unwrap().contains("result is malformed"), "{answer}");
    back_to_baseline(&app).await;
}

#[tokio::test]
async fn sandbox_children_are_capped_in_total_across_test_runs_and_validation() {
    let api = MockServer::start().await;
    // The request that holds the only sandbox slot answers after the others have given up.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(14)))
        .mount(&api)
        .await;
    let (app, key) = attacker_app(vec![
        ("WORKFLOW_MAX_CONCURRENT_RUNS", "1".into()),
        ("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()),
    ])
    .await;
    let code = format!("async def run(ctx):\n    await ctx.http.get('{}/hold')\n", api.uri());
    let workflow = planted(&app, &key, "Holder", "never", &code).await;
    let live = json!({"indicator_type": "ip", "indicator_value": "1.2.3.4", "live_http": true});
    let holder = {
        let (client, url, key) =
            (app.client.clone(), app.url(&format!("/v1/workflows/{workflow}/test")), key.clone());
        tokio::spawn(async move {
            client.post(url).bearer_auth(key).json(&live).send().await.map(|r| r.status().as_u16())
        })
    };
    eventually("the holder's run is in the sandbox", Duration::from_secs(30), || async {
        (!api.received_requests().await.unwrap_or_default().is_empty()).then_some(())
    })
    .await;
    // A second test run and a code validation each wait for the slot, then are told when to retry.
    let tested = app
        .client
        .post(app.url(&format!("/v1/workflows/{workflow}/test")))
        .bearer_auth(&key)
        .json(&json!({"indicator_type": "ip", "indicator_value": "1.2.3.4", "mock_http_responses": {}}))
        .send();
    let valid = "async def run(ctx):\n    pass\n";
    let saved = app
        .client
        .post(app.url("/v1/workflows"))
        .bearer_auth(&key)
        .json(&json!({"name": "Later", "code": valid}))
        .send();
    let (tested, saved) = tokio::join!(tested, saved);
    for response in [tested.unwrap(), saved.unwrap()] {
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("5"));
        let (_, body) = status_json(response).await;
        assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("sandbox is busy: all 1 of its slots"), "{body}");
    }
    assert_eq!(holder.await.unwrap().unwrap(), 200, "the holder's run finished");
    // With the slot free again, both work.
    let answer = test_run(&app, &key, &workflow).await;
    assert!(answer["data"]["message"].is_string(), "{answer}");
    back_to_baseline(&app).await;
}
