//! The browser harness and the decide page in a real browser.
//!
//! [`ChromeSession`] drives headless Chromium through chromedriver with `fantoccini` (a W3C
//! WebDriver client, over plain HTTP on loopback): chromedriver on a free port, a throwaway
//! profile, a fixed window size, Chrome's console kept (`goog:loggingPrefs`) so a test can assert
//! that a page logged no error or CSP violation, and Chrome DevTools commands through chromedriver
//! (`goog/cdp/execute`) for what WebDriver has no command for (emulating a dark theme).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them every
//! browser test says so and passes on a developer's machine, and fails under CI (`CI` set), so CI
//! never skips them silently.
//!
//! The test here: the approver opens the link from the Teams card, sees the request (agent text
//! shown, never run), clicks Approve, and the workflow runs once.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::Deref;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::approvals::{app_with_teams, decide_token, gated_workflow};
use crate::helpers::*;
use crate::respond::{alert_with_account, finished_run};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How a session's browser is set up.
#[derive(Clone, Copy)]
pub(crate) struct ChromeOptions {
    /// The window's width and height in CSS pixels.
    pub(crate) window: (u32, u32),
}

impl Default for ChromeOptions {
    fn default() -> Self {
        ChromeOptions { window: (1280, 900) }
    }
}

/// Headless Chromium under its own chromedriver; derefs to the `fantoccini` client. Dropping it
/// shuts chromedriver down (which quits the browser) and kills it if it lingers.
pub(crate) struct ChromeSession {
    client: Client,
    driver: Child,
    port: u16,
    _profile: TempDir,
}

impl Deref for ChromeSession {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for ChromeSession {
    fn drop(&mut self) {
        // chromedriver's own shutdown quits every browser it started; a kill alone would orphan
        // Chromium. Sent raw because Drop cannot await.
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ =
                stream.write_all(b"GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            let _ = stream.read(&mut [0u8; 256]);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.driver.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Whether this process runs as root (Chromium's sandbox refuses root without `--no-sandbox`).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("Uid:").map(|ids| ids.split_whitespace().next() == Some("0"))
            })
        })
        .unwrap_or(false)
}

/// A WebDriver command fantoccini has no method for: `method` on `/session/{id}/{path}`.
#[derive(Debug)]
struct SessionCommand {
    method: http::Method,
    path: &'static str,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/{}", session_id.unwrap_or_default(), self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (self.method.clone(), self.body.as_ref().map(Value::to_string))
    }
}

impl ChromeSession {
    /// A session with the default window, or `None` (after saying why) when Chromium is missing
    /// outside CI.
    pub(crate) async fn start() -> Option<ChromeSession> {
        ChromeSession::start_with(ChromeOptions::default()).await
    }

    pub(crate) async fn start_with(options: ChromeOptions) -> Option<ChromeSession> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs Chromium for the browser tests: apt-get install chromium chromium-driver"
            );
            eprintln!("browser test skipped: {CHROMIUM} or {CHROMEDRIVER} is missing");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = TempDir::new();
        let base = format!("http://127.0.0.1:{port}");
        let probe = reqwest::Client::builder().no_proxy().build().unwrap();
        eventually("chromedriver is ready", Duration::from_secs(30), || async {
            let status = probe.get(format!("{base}/status")).send().await.ok()?;
            let body: Value = status.json().await.ok()?;
            body["value"]["ready"].as_bool().filter(|ready| *ready)
        })
        .await;
        let (width, height) = options.window;
        let mut args = vec![
            "--headless=new".to_string(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.0.display()),
        ];
        if running_as_root() {
            args.push("--no-sandbox".into());
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            // Chrome's console (errors, CSP violations) kept for `console_errors`.
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&base)
            .await
            .expect("a WebDriver session");
        let session = ChromeSession { client, driver, port, _profile: profile };
        // Chromium keeps a window at least 500 px wide; the viewport is set exactly (and as a
        // phone's, with touch and the mobile viewport, when it is narrow).
        session
            .cdp(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}),
            )
            .await;
        Some(session)
    }

    /// Opens `url` and waits for the document to have loaded (WebDriver's navigation does).
    pub(crate) async fn open(&self, url: &str) {
        self.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The first element matching `css`, failing the test when there is none.
    pub(crate) async fn css(&self, css: &str) -> fantoccini::elements::Element {
        self.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Clicks the first element matching `css`.
    pub(crate) async fn click(&self, css: &str) {
        self.css(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub(crate) async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The path (and query) of the current page.
    pub(crate) async fn path(&self) -> String {
        let url = self.current_url().await.unwrap();
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Waits until the current page's path is `path` (its query, if any, is not compared).
    pub(crate) async fn wait_for_path(&self, path: &str) {
        let path = path.split('?').next().unwrap_or_default();
        eventually(&format!("the browser reaches {path}"), Duration::from_secs(20), || async {
            (self.current_url().await.ok()?.path() == path).then_some(())
        })
        .await;
    }

    /// Chrome's console entries since the last call (chromedriver's log endpoint clears what it
    /// returns): each `{level, message, source, timestamp}`.
    pub(crate) async fn browser_log(&self) -> Vec<Value> {
        let command = SessionCommand {
            method: http::Method::POST,
            path: "se/log",
            body: Some(json!({"type": "browser"})),
        };
        let entries = self.issue_cmd(command).await.expect("chromedriver's log endpoint");
        entries.as_array().cloned().unwrap_or_default()
    }

    /// The console entries logged at `SEVERE` (errors, refused loads, CSP violations) since the
    /// last call. The browser's own request for `/favicon.ico` (no page asks for it; the console
    /// has no icon) is not counted.
    pub(crate) async fn console_errors(&self) -> Vec<Value> {
        self.browser_log()
            .await
            .into_iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .filter(|entry| {
                let message = entry["message"].as_str().unwrap_or_default();
                !(entry["source"] == "network" && message.contains("/favicon.ico - "))
            })
            .collect()
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver.
    pub(crate) async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let command = SessionCommand {
            method: http::Method::POST,
            path: "goog/cdp/execute",
            body: Some(json!({"cmd": cmd, "params": params})),
        };
        self.issue_cmd(command).await.unwrap_or_else(|e| panic!("CDP {cmd}: {e}"))
    }

    /// Emulates the operating system's dark (`true`) or light theme for `prefers-color-scheme`.
    pub(crate) async fn prefer_dark(&self, dark: bool) {
        let value = if dark { "dark" } else { "light" };
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": value}]}),
        )
        .await;
    }

    /// A PNG of the whole page (beyond the viewport, up to `max_height` CSS pixels).
    pub(crate) async fn full_page_png(&self, max_height: u64) -> Vec<u8> {
        use base64::Engine as _;
        let size = self
            .run(
                "return [document.documentElement.clientWidth, document.documentElement.scrollHeight]",
                vec![],
            )
            .await;
        let (width, height) = (size[0].as_u64().unwrap(), size[1].as_u64().unwrap().min(max_height));
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true,
                       "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}),
            )
            .await;
        base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap()
    }

    /// Whether a JavaScript dialog (`alert`, `confirm`, `prompt`) is open.
    pub(crate) async fn dialog_open(&self) -> bool {
        self.get_alert_text().await.is_ok()
    }

    /// Ends the WebDriver session (the browser closes); chromedriver goes with the drop.
    pub(crate) async fn quit(self) {
        let _ = self.client.clone().close().await;
    }
}

#[tokio::test]
async fn an_approver_decides_in_a_real_browser() {
    let Some(browser) = ChromeSession::start().await else { return };
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
    assert_eq!(
        browser.title().await.unwrap(),
        "Approve Suspend account · Calseta",
        "the agent's text never runs"
    );
    let page = browser.source().await.unwrap();
    assert!(
        page.contains("Suspend account") && page.contains("jdoe@example.com") && page.contains("80%"),
        "{page}"
    );
    let (_, still) = app.get(&format!("/v1/workflow-approvals/{approval}"), &admin).await;
    assert_eq!(still["data"]["status"], "pending", "opening the page decides nothing");

    browser.click("button.approve").await;
    eventually("the browser shows the outcome", Duration::from_secs(20), || async {
        browser.source().await.ok()?.contains("Workflow approved. Execution has been queued.").then_some(())
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
    assert!(browser.source().await.unwrap().contains("This approval request has already been approved."));
    browser.quit().await;
}
