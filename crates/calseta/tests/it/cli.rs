//! The `calseta` binary itself: serve, migrate, api-key, jobs, configuration errors, signals.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::helpers::*;

fn calseta(db_url: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_calseta"));
    command.args(args).env("DATABASE_URL", db_url).env_remove("LOG_FORMAT").env_remove("ENCRYPTION_KEY");
    if db_url.starts_with("postgres") {
        command.env("ENCRYPTION_KEY", TEST_ENCRYPTION_KEY);
    }
    command.output().unwrap()
}

/// `calseta args…` on `database` with JSON logs on a piped stdout and stderr piped.
fn serve_command(database: &TestDatabase, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_calseta"));
    command
        .args(args)
        .env("DATABASE_URL", &database.url)
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if database.url.starts_with("postgres") {
        command.env("ENCRYPTION_KEY", TEST_ENCRYPTION_KEY);
    }
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[tokio::test]
async fn api_key_commands_create_list_and_revoke() {
    let database = test_database().await;
    let url = database.url.clone();
    let out = calseta(&url, &["migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = calseta(
        &url,
        &[
            "api-key",
            "create",
            "--name",
            "splunk",
            "--scopes",
            "alerts:write,alerts:read",
            "--key-type",
            "agent",
            "--allowed-sources",
            "splunk",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let key =
        stdout.lines().find_map(|l| l.strip_prefix("key (shown once): ")).expect("key printed").to_string();
    assert!(key.starts_with("cai_") && key.len() == 47);
    let uuid = stdout.lines().find_map(|l| l.strip_prefix("uuid:")).unwrap().trim().to_string();

    let out = calseta(&url, &["api-key", "list"]);
    assert!(text(&out.stdout).contains(&uuid));
    assert!(!text(&out.stdout).contains(&key), "the plain key is never listed");

    let out = calseta(&url, &["api-key", "create", "--name", "bad", "--scopes", "alerts:root"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("'alerts:root' is not a valid scope"), "{}", text(&out.stderr));

    let out = calseta(&url, &["api-key", "revoke", &uuid]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = calseta(&url, &["api-key", "list"]);
    assert!(!text(&out.stdout).contains(&uuid));
    let out = calseta(&url, &["api-key", "list", "--all"]);
    assert!(text(&out.stdout).contains(&uuid));

    // A key created from the CLI means the installation needs no bootstrap key.
    let mut env = test_env(&url);
    env.insert("LOG_LEVEL".into(), "ERROR".into());
    let running = calseta::app::start(
        &config_from(&env),
        calseta::app::ServeOptions { bind: "127.0.0.1:0".into(), run_worker: false, extra_jobs: vec![] },
    )
    .await
    .unwrap();
    assert!(running.bootstrap_key.is_none());
    running.shutdown().await;

    let out = calseta(&url, &["jobs", "list", "--status", "dead"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("(0 in all)"));
    let out = calseta(&url, &["jobs", "retry", &uuid::Uuid::new_v4().to_string()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("Job not found"));
}

#[test]
fn configuration_errors_stop_startup_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_calseta"))
        .args(["migrate"])
        .env("LOG_FORMAT", "xml")
        .env("APPROVAL_NOTIFIER", "none")
        .env("QUEUE_BACKEND", "celery_redis")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("LOG_FORMAT: 'xml' is not one of json, text"), "{stderr}");
    assert!(stderr.contains("QUEUE_BACKEND: 'celery_redis'"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_calseta"))
        .args(["migrate"])
        .env("DATABASE_URL", "mysql://localhost/x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unsupported DATABASE_URL"), "{}", text(&out.stderr));

    let out =
        Command::new(env!("CARGO_BIN_EXE_calseta")).args(["encryption-key", "generate"]).output().unwrap();
    assert_eq!(text(&out.stdout).trim().len(), 44);
}

#[tokio::test]
async fn postgres_requires_an_encryption_key() {
    let Some(admin) = pg_admin_url() else {
        // SQLite run: a missing key is generated instead (covered by the serve test).
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_calseta"))
        .args(["worker"])
        .env("DATABASE_URL", &admin)
        .env_remove("ENCRYPTION_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("ENCRYPTION_KEY is required with PostgreSQL"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn serve_prints_the_bootstrap_key_once_and_stops_on_sigterm() {
    let database = test_database().await;
    let start = || serve_command(&database, &["serve", "--bind", "127.0.0.1:0"]).spawn().unwrap();
    // Reads the listening address from the JSON log stream.
    let addr_of = |child: &mut std::process::Child| {
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = lines.next().expect("server log").unwrap();
            let json: serde_json::Value = serde_json::from_str(&line).expect("every log line is JSON");
            assert!(json["timestamp"].is_string() && json["service"] == "api" && json["version"].is_string());
            if json["event"] == "calseta listening" {
                return (json["addr"].as_str().unwrap().to_string(), lines);
            }
        }
    };

    let mut first = start();
    let (addr, _lines) = addr_of(&mut first);
    let health: serde_json::Value =
        reqwest::get(format!("http://{addr}/health")).await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    Command::new("kill").args(["-TERM", &first.id().to_string()]).status().unwrap();
    let output = first.wait_with_output().unwrap();
    assert!(output.status.success(), "SIGTERM is a clean stop");
    let stderr = text(&output.stderr);
    let key = stderr
        .split_whitespace()
        .find(|w| w.starts_with("cai_"))
        .expect("bootstrap key on stderr")
        .to_string();

    if let Some(dir) = &database._dir {
        let key_file = dir.0.join("calseta.db.key");
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key_file).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "generated encryption key file is private");
    }

    let mut second = start();
    let (addr, _lines) = addr_of(&mut second);
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/v1/api-keys"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "the bootstrap key is an admin key");
    Command::new("kill").args(["-INT", &second.id().to_string()]).status().unwrap();
    let output = second.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(!text(&output.stderr).contains("cai_"), "no second bootstrap key");
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Runs `serve --sandbox --bind bind` until it listens, stops it; its address, log and stderr.
fn sandbox_serve(database: &TestDatabase, bind: &str) -> (String, String, String) {
    let mut child = serve_command(database, &["serve", "--sandbox", "--bind", bind]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok);
    let mut log = String::new();
    let addr = lines
        .by_ref()
        .inspect(|line| {
            log.push_str(line);
            log.push('\n');
        })
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .find(|json| json["event"] == "calseta listening")
        .and_then(|json| json["addr"].as_str().map(str::to_string))
        .expect("the server listens");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    log.extend(lines.map(|line| line + "\n"));
    let output = child.wait_with_output().unwrap();
    (addr, log, text(&output.stderr))
}

#[tokio::test]
async fn sandbox_serve_prints_the_demo_keys_a_curl_and_the_mcp_url() {
    let database = test_database().await;
    let (addr, log, banner) = sandbox_serve(&database, "127.0.0.1:0");
    for expected in [
        "cai_sandbox_demo_key_not_for_production".to_string(),
        "cai_lab_demo_full_access_key_not_for_prod".to_string(),
        format!(
            "curl -s -H 'Authorization: Bearer cai_sandbox_demo_key_not_for_production' http://{addr}/v1/alerts"
        ),
        format!("MCP:  http://{addr}/mcp"),
    ] {
        assert!(banner.contains(&expected), "{expected} in {banner}");
    }
    assert!(!log.contains("listens beyond this machine"), "{log}");
    // Its keys are public: listening beyond this machine is allowed, with a warning.
    let (_, log, _) = sandbox_serve(&database, "0.0.0.0:0");
    assert!(log.contains("sandbox mode listens beyond this machine: its demo keys are public"), "{log}");
}

#[tokio::test]
async fn seed_sandbox_seeds_once_however_often_it_runs() {
    let database = test_database().await;
    for _ in 0..2 {
        let out = calseta(&database.url, &["seed-sandbox"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let listed = text(&calseta(&database.url, &["api-key", "list"]).stdout);
    for name in ["Sandbox demo (read-only)", "Lab demo (full access)"] {
        assert_eq!(listed.matches(name).count(), 1, "{name} once in {listed}");
    }
}
