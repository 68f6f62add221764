//! The decide page in a real browser: headless Chromium driven over the WebDriver protocol
//! (chromedriver, plain HTTP and JSON). The approver opens the link from the Teams card, sees the
//! request (agent text shown, never run), clicks Approve, and the workflow runs once.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them the
//! test says so and passes on a developer's machine, and fails under CI (`CI` set), so CI never
//! skips it silently.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::approvals::{app_with_teams, decide_token, gated_workflow};
use crate::helpers::*;
use crate::respond::{alert_with_account, finished_run};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// W3C WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    child: Child,
    base: String,
    session: String,
    client: reqwest::Client,
    _profile: TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Option<Driver> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs Chromium for the browser test: apt-get install chromium chromium-driver"
            );
            eprintln!("browser test skipped: {CHROMIUM} or {CHROMEDRIVER} is missing");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let profile = TempDir::new();
        let mut driver = Driver { child, base, session: String::new(), client, _profile: profile };
        eventually("chromedriver is ready", Duration::from_secs(30), || async {
            let status = driver.client.get(format!("{}/status", driver.base)).send().await.ok()?;
            let body: Value = status.json().await.ok()?;
            body["value"]["ready"].as_bool().filter(|ready| *ready)
        })
        .await;
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", driver._profile.0.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}});
        let session = driver.call(reqwest::Method::POST, "/session", Some(capabilities)).await;
        driver.session = session["sessionId"].as_str().expect("a WebDriver session").to_string();
        Some(driver)
    }

    async fn call(&self, method: reqwest::Method, at: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{at}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        answer["value"].clone()
    }

    async fn session(&self, method: reqwest::Method, at: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{at}", self.session), body).await
    }

    async fn open(&self, url: &str) {
        self.session(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    async fn source(&self) -> String {
        self.session(reqwest::Method::GET, "/source", None).await.as_str().unwrap_or_default().to_string()
    }

    async fn title(&self) -> String {
        self.session(reqwest::Method::GET, "/title", None).await.as_str().unwrap_or_default().to_string()
    }

    async fn click(&self, css: &str) {
        let found = self
            .session(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
            .await;
        let id = found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_string();
        self.session(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await;
    }
}

#[tokio::test]
async fn an_approver_decides_in_a_real_browser() {
    let Some(browser) = Driver::start().await else { return };
    let (teams, app) = app_with_teams().await;
    alert_with_account(&app, "jdoe@example.com").await;
    let admin = app.admin_key.clone();
    let workflow = gated_workflow(&app, "Suspend account", "high").await;
    let reason = "Impossible travel <img src=x onerror=\"document.title='pwned'\">";
    let (_, pending) = app
        .post(
            &format!("/v1/workflows/{workflow}/execute"),
            &admin,
            json!({"indicator_type": "account", "indicator_value": "jdoe@example.com", "reason": reason, "confidence": 0.8}),
        )
        .await;
    let approval = pending["data"]["approval_request_uuid"].as_str().unwrap().to_string();
    let card = eventually("Teams receives the card", Duration::from_secs(20), || async {
        teams
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .next()
            .map(|r| String::from_utf8(r.body).unwrap())
    })
    .await;
    let token = decide_token(&card, &approval);

    browser.open(&app.url(&format!("/v1/approvals/{approval}/decide?token={token}"))).await;
    assert_eq!(browser.title().await, "Approve Suspend account · Calseta", "the agent's text never runs");
    let page = browser.source().await;
    assert!(
        page.contains("Suspend account") && page.contains("jdoe@example.com") && page.contains("80%"),
        "{page}"
    );
    let (_, still) = app.get(&format!("/v1/workflow-approvals/{approval}"), &admin).await;
    assert_eq!(still["data"]["status"], "pending", "opening the page decides nothing");

    browser.click("button.approve").await;
    eventually("the browser shows the outcome", Duration::from_secs(20), || async {
        browser.source().await.contains("Workflow approved. Execution has been queued.").then_some(())
    })
    .await;
    let (_, decided) = app.get(&format!("/v1/workflow-approvals/{approval}"), &admin).await;
    assert_eq!(
        (decided["data"]["status"].as_str(), decided["data"]["responder_id"].as_str()),
        (Some("approved"), Some("browser"))
    );
    let run = finished_run(&app, &workflow).await;
    assert_eq!(run["result"]["message"], "ran for jdoe@example.com");

    // Back to the link afterwards: it says what became of the request.
    browser.open(&app.url(&format!("/v1/approvals/{approval}/decide?token={token}"))).await;
    assert!(browser.source().await.contains("This approval request has already been approved."));
    browser.session(reqwest::Method::DELETE, "", None).await;
}
