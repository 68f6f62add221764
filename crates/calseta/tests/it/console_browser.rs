//! The analyst console in a real browser (headless Chromium through [`ChromeSession`]): signing in
//! through the form, the queue and an alert's page, a status change and signing out; a hostile set
//! of alerts rendered inert (no dialog, no injected element, no evaluated template syntax, no
//! console error or CSP violation); axe-core's accessibility rules on every page; the keyboard
//! shortcuts; the light and dark themes and a phone's width; and, when asked, the screenshots in
//! `docs/console/`.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use serde_json::{Value, json};

use crate::browser::{ChromeOptions, ChromeSession};
use crate::console::analyst;
use crate::helpers::*;
use crate::ingest::wait_enriched;

/// The sandbox's public demo key with full access (a human key).
pub(crate) const LAB_KEY: &str = "cai_lab_demo_full_access_key_not_for_prod";

/// Ingests `payload` through the generic webhook source and waits for its enrichment to settle.
pub(crate) async fn ingest(app: &TestApp, payload: Value) -> String {
    let (status, body) = app.post("/v1/ingest/generic", &app.admin_key, payload).await;
    assert_eq!(status, 202, "{body}");
    let uuid = body["data"]["alert_uuid"].as_str().unwrap().to_string();
    wait_enriched(app, &uuid).await;
    uuid
}

/// Signs in through the real `/login` form: opens `path`, is sent to sign in, types `key`, clicks
/// the button and comes back to `path`.
pub(crate) async fn sign_in(browser: &ChromeSession, app: &TestApp, key: &str, path: &str) {
    browser.open(&app.url(path)).await;
    browser.wait_for_path("/login").await;
    browser.css("#api_key").await.send_keys(key).await.unwrap();
    browser.click("form[action='/login'] button[type=submit]").await;
    browser.wait_for_path(path).await;
}

/// Presses `keys` one after another on whatever has the focus (as a person typing would).
async fn press(browser: &ChromeSession, keys: &[char]) {
    let mut actions = KeyActions::new("keyboard".into());
    for key in keys {
        actions = actions.then(KeyAction::Down { value: *key }).then(KeyAction::Up { value: *key });
    }
    browser.perform_actions(actions).await.unwrap();
}

/// Fails when the page opened a JavaScript dialog or logged an error (a refused load, a CSP
/// violation, a script error) since the last check.
pub(crate) async fn assert_quiet(browser: &ChromeSession, what: &str) {
    assert!(!browser.dialog_open().await, "{what}: a JavaScript dialog opened");
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "{what}: the console logged errors: {errors:#?}");
}

/// Like [`assert_quiet`], for a page answered `422` (a refused form): Chrome logs that status as a
/// failed network load, and nothing else may be logged.
pub(crate) async fn assert_refused_quietly(browser: &ChromeSession, what: &str) {
    assert!(!browser.dialog_open().await, "{what}: a JavaScript dialog opened");
    let errors: Vec<Value> = browser
        .console_errors()
        .await
        .into_iter()
        .filter(|e| {
            !(e["source"] == "network" && e["message"].as_str().unwrap_or_default().contains("status of 422"))
        })
        .collect();
    assert!(errors.is_empty(), "{what}: the console logged errors: {errors:#?}");
}

/// What a page holds beyond the console's own markup: scripts other than ours, event-handler
/// attributes, style elements and attributes, media and embedded markup, SVG other than our own
/// charts (marked `data-calseta-chart`), and links to `javascript:` or `data:` URLs.
pub(crate) const FOREIGN_MARKUP: &str = r#"
    const found = [];
    for (const s of document.scripts) {
        const src = s.getAttribute('src') || '';
        if (!/^\/assets\/app-[0-9a-f]+\.js$/.test(src)) found.push('script ' + (src || s.textContent.slice(0, 60)));
    }
    for (const el of document.querySelectorAll('*')) {
        for (const a of el.attributes) {
            if (a.name.startsWith('on') || a.name === 'style' || a.name === 'srcdoc') found.push(el.tagName + '[' + a.name + ']');
        }
    }
    const selector = 'style, img, iframe, frame, object, embed, math, video, audio, source, base, meta[http-equiv], link:not([rel=stylesheet]), form[action^="javascript:"], svg:not([data-calseta-chart])';
    for (const el of document.querySelectorAll(selector)) found.push(el.tagName);
    for (const a of document.querySelectorAll('a[href], area[href]')) {
        if (/^\s*(javascript|data|vbscript):/i.test(a.getAttribute('href'))) found.push('link ' + a.getAttribute('href'));
    }
    if (getComputedStyle(document.body).display === 'none') found.push('body hidden');
    return found;
"#;

/// Attacker-written text for configuration content (rule documentation, document bodies,
/// provider responses, workflow code, agent responses): markup, script URLs, CSS and template
/// syntax, each a string a page must show as written.
pub(crate) const HOSTILE_TEXTS: &[&str] = &[
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "</style><style>body{display:none}</style><p style=\"display:none\">hidden</p>",
    "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    "<base href=\"javascript:alert(1)//\"><a href=\"javascript:alert(1)\">x</a>",
    "[click](javascript:alert(1)) ![x](https://evil.example/x.png) <a href=\"data:text/html,<script>alert(1)</script>\">d</a>",
    "{{7*7}} ${7*7} {% raw %}{{ config }}{% endraw %} #{7*7}",
];

/// Opens `path` and fails unless it is inert: no dialog, no console error or CSP violation, and
/// none of [`FOREIGN_MARKUP`] (markup written by an attacker never becomes elements).
pub(crate) async fn assert_inert(browser: &ChromeSession, app: &TestApp, path: &str) {
    browser.open(&app.url(path)).await;
    assert_quiet(browser, path).await;
    let foreign = browser.run(FOREIGN_MARKUP, vec![]).await;
    assert_eq!(foreign, json!([]), "{path}: attacker-written markup became elements");
}

/// The hostile set: every field the pages show carries markup, script URLs, CSS or template syntax.
fn hostile_alerts() -> Vec<Value> {
    let mathml = "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>";
    let css = "</style><style>body{display:none}</style><p style=\"display:none\">hidden</p>";
    let raw = json!({
        "details": "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
        "html": "<base href=\"javascript:alert(1)//\"><a href=\"javascript:alert(1)\">x</a>",
        "template": "{{7*7}} ${7*7} {% raw %}{{ config }}{% endraw %} #{7*7}",
        "notes": HOSTILE_TEXTS.join("\n"),
    });
    let indicators = json!([
        {"type": "url", "value": "javascript:alert(1)"},
        {"type": "url", "value": "data:text/html,<script>alert(1)</script>"},
        {"type": "url", "value": "https://evil.example/<script>alert(1)</script>?q=\"><svg onload=alert(1)>"},
        {"type": "account", "value": "<img src=x onerror=alert(1)>"},
        {"type": "account", "value": "{{7*7}}"},
    ]);
    let with = |title: &str, description: &str| {
        let mut alert = json!({
            "title": title,
            "severity": "high",
            "description": description,
            "tags": ["<script>alert(1)</script>", "{{7*7}}", "</style><style>body{display:none}"],
            "user": "<svg onload=alert(1)>",
            "url": "javascript:alert(1)",
            "indicators": indicators,
        });
        for (field, value) in raw.as_object().unwrap() {
            alert[field] = value.clone();
        }
        alert
    };
    vec![
        with("<script>alert(1)</script>", "<img src=x onerror=alert(1)>"),
        with("<img src=x onerror=alert(1)>", "<svg onload=alert(1)>"),
        with("<svg onload=alert(1)>", mathml),
        with(mathml, css),
        with(css, "javascript:alert(1) data:text/html,<script>alert(1)</script>"),
        with("{{7*7}} {% raw %} ${7*7}", "{{7*7}} ${7*7} <%= 7*7 %>"),
        with("javascript:alert(1)", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
        // A 1 MB title, markup all the way.
        with(&"<b onmouseover=alert(1)>big</b>".repeat(1024 * 1024 / 31), "a very long title"),
    ]
}

#[tokio::test]
async fn console_browser_signs_in_lists_opens_changes_status_and_signs_out() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    let first = ingest(&app, json!({"title": "Impossible travel for jdoe", "severity": "high"})).await;
    ingest(&app, json!({"title": "Malware beacon from host-7", "severity": "critical"})).await;
    let key = analyst(&app).await;

    sign_in(&browser, &app, &key, "/alerts").await;
    let titles = browser.run("return [...document.querySelectorAll('table[data-queue] tbody tr td a')].map(a => a.textContent)", vec![]).await;
    let titles: Vec<&str> = titles.as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(
        titles.contains(&"Impossible travel for jdoe") && titles.contains(&"Malware beacon from host-7"),
        "{titles:?}"
    );
    assert_quiet(&browser, "the queue").await;

    // A click on a title opens the alert.
    browser.click(&format!("a[href='/alerts/{first}']")).await;
    browser.wait_for_path(&format!("/alerts/{first}")).await;
    assert_eq!(browser.css("#alert-title").await.text().await.unwrap(), "Impossible travel for jdoe");
    assert_quiet(&browser, "the alert's page").await;

    // The status form changes the alert, as REST sees it.
    browser.css("#update-status").await.select_by_value("Triaging").await.unwrap();
    browser.click("form[action$='/update'] button[type=submit]").await;
    eventually("the status change is saved", Duration::from_secs(20), || async {
        let (_, alert) = app.get(&format!("/v1/alerts/{first}"), &app.admin_key).await;
        (alert["data"]["status"] == "Triaging").then_some(())
    })
    .await;
    browser.wait_for_path(&format!("/alerts/{first}")).await;
    let badges = browser.run("return document.querySelector('.alert-badges').textContent", vec![]).await;
    assert!(badges.as_str().unwrap().contains("Status: Triaging"), "{badges}");

    // Signing out ends the session: the queue sends the browser to sign in again.
    browser.click("form[action='/logout'] button[type=submit]").await;
    browser.wait_for_path("/login").await;
    browser.open(&app.url("/alerts")).await;
    browser.wait_for_path("/login").await;
    assert_quiet(&browser, "signing out").await;
    browser.quit().await;
}

#[tokio::test]
async fn console_browser_renders_a_hostile_alert_set_inert() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    let mut uuids = Vec::new();
    for alert in hostile_alerts() {
        uuids.push(ingest(&app, alert).await);
    }
    let (_, big) = app.get(&format!("/v1/alerts/{}", uuids[7]), &app.admin_key).await;
    let big_title = big["data"]["title"].as_str().unwrap().len();
    assert!(big_title > 1_000_000, "the 1 MB title is stored whole: {big_title} bytes");
    let key = analyst(&app).await;
    sign_in(&browser, &app, &key, "/alerts?page_size=50").await;

    let pages: Vec<String> = std::iter::once("/alerts?page_size=50".to_string())
        .chain(std::iter::once("/activity".to_string()))
        .chain(uuids.iter().map(|uuid| format!("/alerts/{uuid}")))
        .collect();
    for path in &pages {
        assert_inert(&browser, &app, path).await;
        let text = browser.run("return document.body.innerText", vec![]).await;
        let text = text.as_str().unwrap();
        if path.starts_with("/alerts") {
            for literal in ["{{7*7}}", "${7*7}"] {
                assert!(text.contains(literal), "{path}: {literal} is not shown as written");
            }
        }
    }
    // Each alert's heading is its title, character for character.
    let (_, detail) = app.get(&format!("/v1/alerts/{}", uuids[5]), &app.admin_key).await;
    browser.open(&app.url(&format!("/alerts/{}", uuids[5]))).await;
    assert_eq!(
        json!(browser.css("#alert-title").await.text().await.unwrap()),
        detail["data"]["title"],
        "shown literally"
    );
    browser.open(&app.url(&format!("/alerts/{}", uuids[3]))).await;
    assert_eq!(
        browser.css("#alert-title").await.text().await.unwrap(),
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>"
    );
    assert_quiet(&browser, "the headings").await;
    browser.quit().await;
}

/// axe-core's script: `$AXE_CORE_JS`, or where `.ci/run` (and docs/console.md) install it.
pub(crate) fn axe_core() -> Option<String> {
    let path = std::env::var_os("AXE_CORE_JS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/node/node_modules/axe-core/axe.min.js")
    });
    match std::fs::read_to_string(&path) {
        Ok(script) => Some(script),
        Err(error) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs axe-core at {}: {error} (npm install --prefix .ci/node axe-core@4)",
                path.display()
            );
            eprintln!(
                "accessibility test skipped: no axe-core at {} ({error}); npm install --prefix .ci/node axe-core@4",
                path.display()
            );
            None
        }
    }
}

/// Runs axe-core on the open page; the serious and critical violations, one line per element.
pub(crate) async fn axe_violations(browser: &ChromeSession, axe: &str) -> Vec<String> {
    browser.run(&format!("{axe}\n;return true;"), vec![]).await;
    let script = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document).then(result => done({
            passed: result.passes.length,
            minor: result.violations.filter(v => v.impact !== 'serious' && v.impact !== 'critical').map(v => v.id),
            found: result.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .flatMap(v => v.nodes.map(n => v.impact + ' ' + v.id + ' (' + v.help + '): ' + n.target.join(' ') + ' — ' + n.failureSummary)),
        })).catch(error => done({passed: 0, found: ['axe failed: ' + error]}));
    "#;
    let result = browser.execute_async(script, vec![]).await.unwrap();
    assert!(result["passed"].as_u64() > Some(10), "axe-core checked the page: {result}");
    if result["minor"] != json!([]) {
        eprintln!("axe-core, moderate and minor: {}", result["minor"]);
    }
    result["found"].as_array().unwrap().iter().filter_map(Value::as_str).map(str::to_string).collect()
}

#[tokio::test]
async fn console_browser_pages_have_no_serious_accessibility_violations() {
    let Some(axe) = axe_core() else { return };
    let Some(browser) = ChromeSession::start().await else { return };
    // The sandbox's case-study alerts: enriched by the mock providers, so every verdict, severity
    // and section is on some page.
    let app = crate::sandbox::sandbox_app().await;
    let alerts = crate::sandbox::enriched_alerts(&app).await;
    let mut paths: Vec<String> = ["/", "/alerts", "/activity", "/approvals"].map(String::from).to_vec();
    paths.extend(alerts.iter().map(|alert| format!("/alerts/{}", alert["uuid"].as_str().unwrap())));

    for dark in [false, true] {
        browser.prefer_dark(dark).await;
        let mut report = Vec::new();
        if !dark {
            browser.open(&app.url("/login")).await;
            report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("/login: {v}")));
            sign_in(&browser, &app, LAB_KEY, "/").await;
        }
        for path in &paths {
            browser.open(&app.url(path)).await;
            report.extend(axe_violations(&browser, &axe).await.into_iter().map(|v| format!("{path}: {v}")));
        }
        let theme = if dark { "dark" } else { "light" };
        assert!(report.is_empty(), "axe-core, {theme} theme:\n{}", report.join("\n"));
    }
    browser.quit().await;
}

#[tokio::test]
async fn console_browser_keyboard_shortcuts_move_open_select_and_navigate() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    for (title, minutes) in [("oldest alert", 30), ("middle alert", 20), ("newest alert", 10)] {
        let occurred = (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339();
        ingest(&app, json!({"title": title, "severity": "high", "occurred_at": occurred})).await;
    }
    let key = analyst(&app).await;
    sign_in(&browser, &app, &key, "/alerts").await;
    let state = r#"
        const rows = [...document.querySelectorAll('table[data-queue] tbody tr')];
        return {
            selected: rows.map((r, i) => r.classList.contains('is-selected') ? i : -1).filter(i => i >= 0),
            checked: rows.map((r, i) => r.querySelector('input[type=checkbox]').checked ? i : -1).filter(i => i >= 0),
            focused: document.activeElement.textContent,
            titles: rows.map(r => r.querySelector('a').textContent),
        };
    "#;
    let titles = browser.run(state, vec![]).await["titles"].clone();
    assert_eq!(titles, json!(["newest alert", "middle alert", "oldest alert"]));

    // j and k move the selection (and the focus, so it shows); x ticks the row's checkbox.
    press(&browser, &['j', 'j']).await;
    assert_eq!(browser.run(state, vec![]).await["selected"], json!([1]));
    assert_eq!(browser.run(state, vec![]).await["focused"], "middle alert");
    press(&browser, &['k', 'x']).await;
    let now = browser.run(state, vec![]).await;
    assert_eq!((&now["selected"], &now["checked"]), (&json!([0]), &json!([0])), "{now}");
    press(&browser, &['x', 'j', 'x']).await;
    assert_eq!(browser.run(state, vec![]).await["checked"], json!([1]));
    // k at the top stays at the top.
    press(&browser, &['k', 'k', 'k']).await;
    assert_eq!(browser.run(state, vec![]).await["selected"], json!([0]));

    // Typing in a field is typing, not shortcuts.
    browser.css("#f-source").await.click().await.unwrap();
    press(&browser, &['j', 'g', 'd', 'x']).await;
    assert_eq!(browser.css("#f-source").await.prop("value").await.unwrap().as_deref(), Some("jgdx"));
    assert_eq!(browser.path().await, "/alerts");
    let now = browser.run(state, vec![]).await;
    assert_eq!((&now["selected"], &now["checked"]), (&json!([0]), &json!([1])), "{now}");

    // Enter opens the selected alert, from wherever the focus is outside a field.
    browser.run("document.activeElement.blur()", vec![]).await;
    press(&browser, &['j', 'j']).await;
    browser.run("document.activeElement.blur()", vec![]).await;
    press(&browser, &[Key::Enter.into()]).await;
    eventually("Enter opens the oldest alert", Duration::from_secs(20), || async {
        let title = browser.find(fantoccini::Locator::Css("#alert-title")).await.ok()?.text().await.ok()?;
        (title == "oldest alert").then_some(())
    })
    .await;

    // g d and g a go to the dashboard and the queue.
    press(&browser, &['g', 'd']).await;
    browser.wait_for_path("/").await;
    press(&browser, &['g', 'a']).await;
    browser.wait_for_path("/alerts").await;

    // ? opens the list of shortcuts; Esc closes it.
    let open = "return document.getElementById('shortcuts').open";
    assert_eq!(browser.run(open, vec![]).await, json!(false));
    press(&browser, &['?']).await;
    assert_eq!(browser.run(open, vec![]).await, json!(true));
    let listed = browser.css("#shortcuts").await.text().await.unwrap();
    for shortcut in ["j", "k", "Enter", "x", "g", "?", "Esc"] {
        assert!(listed.contains(shortcut), "{shortcut} is not listed: {listed}");
    }
    press(&browser, &[Key::Escape.into()]).await;
    assert_eq!(browser.run(open, vec![]).await, json!(false));
    assert_quiet(&browser, "the shortcuts").await;
    browser.quit().await;
}

#[tokio::test]
async fn console_browser_follows_the_dark_theme_and_fits_a_phone() {
    let Some(browser) = ChromeSession::start_with(ChromeOptions { window: (390, 844) }).await else { return };
    let app = spawn_app().await;
    let uuid = ingest(
        &app,
        json!({"title": "Impossible travel for jdoe with a long title that has to wrap on a phone", "severity": "high",
               "src_ip": "185.220.101.47", "user": "jdoe@example.com"}),
    )
    .await;
    let key = analyst(&app).await;
    sign_in(&browser, &app, &key, "/alerts").await;
    let background = "return getComputedStyle(document.body).backgroundColor";
    let overflow = "return document.documentElement.scrollWidth - document.documentElement.clientWidth";

    browser.prefer_dark(false).await;
    let light = browser.run(background, vec![]).await;
    browser.prefer_dark(true).await;
    let dark = browser.run(background, vec![]).await;
    assert_ne!(light, dark, "prefers-color-scheme: dark changes the page");
    assert_eq!(dark, "rgb(15, 18, 22)");

    // At 390 px wide nothing spills sideways: wide tables scroll inside their own box.
    for path in ["/login", "/", "/alerts", &format!("/alerts/{uuid}"), "/activity", "/approvals"] {
        browser.open(&app.url(path)).await;
        assert_eq!(browser.run(overflow, vec![]).await, json!(0), "{path} is wider than a phone");
    }
    // The queue's titles keep a readable width (the table scrolls instead of crushing them).
    browser.open(&app.url("/alerts")).await;
    let title_width = browser
        .run(
            "return document.querySelector('table[data-queue] tbody td a').getBoundingClientRect().width",
            vec![],
        )
        .await;
    assert!(title_width.as_f64() > Some(120.0), "the title column is {title_width} px wide");
    browser.quit().await;
}

/// Saves a PNG of the open page (all of it, down to 2400 px) as `<dir>/<name>.png`.
async fn shoot(browser: &ChromeSession, dir: &std::path::Path, name: &str) {
    let png = browser.full_page_png(2400).await;
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The screenshots in `docs/console/`, taken only when `CALSETA_SCREENSHOTS_DIR` names where to
/// put them (`scripts/console-screenshots.sh` does): the sandbox's case-study alerts, signed in
/// with the demo key, every page, the queue at a phone's width, and the dark theme.
#[tokio::test]
async fn console_browser_screenshots_of_every_page() {
    let Some(dir) = std::env::var_os("CALSETA_SCREENSHOTS_DIR").map(PathBuf::from) else {
        eprintln!("screenshots not taken: set CALSETA_SCREENSHOTS_DIR (scripts/console-screenshots.sh does)");
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    let app = crate::sandbox::sandbox_app().await;
    let alerts = crate::sandbox::enriched_alerts(&app).await;
    let first = alerts[0]["uuid"].as_str().unwrap().to_string();
    for (window, dark, suffix) in
        [((1280, 900), false, ""), ((390, 844), false, "-phone"), ((1280, 900), true, "-dark")]
    {
        let Some(browser) = ChromeSession::start_with(ChromeOptions { window }).await else { return };
        browser.prefer_dark(dark).await;
        browser.open(&app.url("/login")).await;
        shoot(&browser, &dir, &format!("login{suffix}")).await;
        browser.click("button[name=demo][value=lab]").await;
        browser.wait_for_path("/").await;
        let mut pages = vec![
            ("dashboard", "/".to_string()),
            ("queue", "/alerts".to_string()),
            ("detail", format!("/alerts/{first}")),
            ("activity", "/activity".to_string()),
            ("approvals", "/approvals".to_string()),
        ];
        // The configuration half, each list and its first item (the sandbox seeds them all).
        for (name, list, api) in [
            ("workflow", "/workflows", "/v1/workflows"),
            ("rule", "/detection-rules", "/v1/detection-rules"),
            ("agent", "/agents", "/v1/agents"),
            ("provider", "/providers", "/v1/enrichment-providers"),
        ] {
            pages.push((name, list.to_string()));
            let (_, found) = app.get(api, &app.admin_key).await;
            if let Some(uuid) = found["data"][0]["uuid"].as_str() {
                pages.push((name, format!("{list}/{uuid}")));
            }
        }
        let (_, workflows) = app.get("/v1/workflows", &app.admin_key).await;
        if let Some(uuid) = workflows["data"][0]["uuid"].as_str() {
            pages.push(("workflow-test", format!("/workflows/{uuid}/test")));
            pages.push(("workflow-versions", format!("/workflows/{uuid}/versions")));
        }
        for section in ["", "/sources", "/api-keys", "/mappings", "/secrets", "/jobs", "/system"] {
            pages.push(("settings", format!("/settings{section}")));
        }
        for (name, path) in pages {
            if !suffix.is_empty() && !matches!(name, "queue" | "detail" | "workflow") {
                continue;
            }
            // A list is named for its section (`workflows`), an item for its kind (`workflow`),
            // a settings page for its section (`settings-api-keys`).
            let file = match name {
                "settings" => format!("settings{}", path.trim_start_matches("/settings").replace('/', "-")),
                "workflow" | "rule" | "agent" | "provider" if path.matches('/').count() == 1 => {
                    format!("{name}s")
                }
                other => other.to_string(),
            };
            if !suffix.is_empty() && file.ends_with('s') && name == "workflow" {
                continue;
            }
            browser.open(&app.url(&path)).await;
            shoot(&browser, &dir, &format!("{file}{suffix}")).await;
        }
        browser.quit().await;
    }
}

/// The issue's acceptance: a new user opens the URL the sandbox banner prints, signs in with one
/// click, and walks the dashboard and the five case-study alerts — each enriched, with its
/// indicators, context and graph — without a console error, never typing a key or touching curl.
#[tokio::test]
async fn console_browser_a_new_user_walks_the_sandbox_after_one_click_sign_in() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = crate::sandbox::sandbox_app().await;
    let alerts = crate::sandbox::enriched_alerts(&app).await;

    browser.open(&app.url("/")).await;
    browser.wait_for_path("/login").await;
    browser.click("button[name=demo][value=lab]").await;
    browser.wait_for_path("/").await;
    let total = browser.run("return document.querySelector('#total-alerts').dataset.value", vec![]).await;
    assert_eq!(total, json!("5"), "the dashboard counts the five case studies");
    assert_quiet(&browser, "the dashboard").await;

    browser.click("nav a[href='/alerts']").await;
    browser.wait_for_path("/alerts").await;
    let links = browser
        .run(
            "return [...document.querySelectorAll('table[data-queue] tbody tr td a[href^=\"/alerts/\"]')].map(a => a.getAttribute('href'))",
            vec![],
        )
        .await;
    let links: Vec<String> =
        links.as_array().unwrap().iter().filter_map(Value::as_str).map(String::from).collect();
    for alert in &alerts {
        let href = format!("/alerts/{}", alert["uuid"].as_str().unwrap());
        assert!(links.contains(&href), "{href} in the queue: {links:?}");
        browser.open(&app.url("/alerts")).await;
        browser.click(&format!("table[data-queue] a[href='{href}']")).await;
        browser.wait_for_path(&href).await;
        let title = browser.css("#alert-title").await.text().await.unwrap();
        assert_eq!(title, alert["title"].as_str().unwrap());
        let summary = browser.run("return document.querySelector('.alert-badges').textContent", vec![]).await;
        assert!(summary.as_str().unwrap().contains("Enrichment: Enriched"), "{title}: {summary}");
        let indicators =
            browser.run("return document.querySelectorAll('#indicators .indicator').length", vec![]).await;
        assert!(indicators.as_u64().unwrap() > 0, "{title} shows its indicators");
        let graph = browser
            .run("return document.querySelectorAll('#graph svg[data-calseta-chart]').length", vec![])
            .await;
        assert_eq!(graph, json!(1), "{title} draws its graph");
        assert_quiet(&browser, &title).await;
    }
    browser.quit().await;
}

/// The text of the first element matching `css`, or "" when there is none.
pub(crate) async fn text_of(browser: &ChromeSession, css: &str) -> String {
    let text = browser
        .run(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''",
            vec![json!(css)],
        )
        .await;
    text.as_str().unwrap_or_default().to_string()
}

/// The seed's journey from the analyst's side, in Chromium: an alert arrives live in the open
/// queue; its page shows the enrichment with the provider and rule that decided it, the matched
/// document and the past alert; an agent's workflow request appears live in the open inbox; the
/// analyst approves it; the run's result is on the alert; the analyst closes it with a
/// classification; and the dashboard's MTTC, empty before, now has a figure.
#[tokio::test]
async fn console_browser_the_seeds_journey_from_the_analysts_side() {
    let Some(browser) = ChromeSession::start().await else { return };
    let (app, _providers) = crate::console_indicators::app_with_providers().await;
    let document = json!({"title": "Travel runbook", "document_type": "runbook", "is_global": true,
                          "content": "# Impossible travel\n\nCall the user."});
    let (status, body) = app.post("/v1/context-documents", &app.admin_key, document).await;
    assert_eq!(status, 201, "{body}");
    let past =
        ingest(&app, json!({"title": "Earlier login from 93.184.216.34", "src_ip": "93.184.216.34"})).await;
    let workflow = crate::approvals::gated_workflow(&app, "Block the address", "high").await;
    let (key, _) = crate::console::create_key(
        &app,
        json!({"name": "Analyst", "scopes": ["alerts:read", "alerts:write", "approvals:write", "workflows:read"]}),
    )
    .await;

    // The queue is open when the alert arrives: its row appears without a reload.
    sign_in(&browser, &app, &key, "/").await;
    let mttc_before = browser.run("return document.querySelector('#mttc').dataset.value", vec![]).await;
    browser.open(&app.url("/alerts")).await;
    browser.run("document.body.dataset.loadedOnce = 'yes'", vec![]).await;
    let (status, body) = app
        .post(
            "/v1/ingest/generic",
            &app.admin_key,
            json!({"title": "Impossible travel for jdoe", "severity": "high", "src_ip": "93.184.216.34"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let alert = body["data"]["alert_uuid"].as_str().unwrap().to_string();
    eventually("the new alert appears live in the queue", Duration::from_secs(20), || async {
        let found = browser
            .run(
                "return !!document.querySelector(`tr[data-alert-uuid=\"${arguments[0]}\"]`)",
                vec![json!(alert)],
            )
            .await;
        (found == json!(true)).then_some(())
    })
    .await;
    let same_page = browser.run("return document.body.dataset.loadedOnce || ''", vec![]).await;
    assert_eq!(same_page, json!("yes"), "the row came by the event stream, not a reload");
    assert_quiet(&browser, "the live queue").await;

    // Its page: the verdict with the provider and rule that decided it, the document, the past alert.
    wait_enriched(&app, &alert).await;
    browser.click(&format!("tr[data-alert-uuid='{alert}'] a[href='/alerts/{alert}']")).await;
    browser.wait_for_path(&format!("/alerts/{alert}")).await;
    let decided = text_of(&browser, "#indicators .indicator-decided").await;
    let section = text_of(&browser, "#indicators").await;
    assert!(decided.contains("mid_intel") && decided.contains("score >= 40"), "{decided}: {section}");
    assert!(text_of(&browser, "#context").await.contains("Travel runbook"));
    let past_link = browser
        .run(
            "return !!document.querySelector(`#past-alerts a[href=\"/alerts/${arguments[0]}\"]`)",
            vec![json!(past)],
        )
        .await;
    assert_eq!(past_link, json!(true), "the past alert sharing the address is linked");
    assert_quiet(&browser, "the alert's page").await;

    // The inbox is open when the agent asks: the request appears without the analyst reloading.
    browser.open(&app.url("/approvals")).await;
    let agent = crate::respond::agent_key(&app, &["workflows:execute"]).await;
    let (status, pending) = app
        .post(
            &format!("/v1/workflows/{workflow}/execute"),
            &agent,
            json!({"indicator_type": "ip", "indicator_value": "93.184.216.34", "alert_uuid": alert,
                   "reason": "Known bad address, mid_intel says suspicious", "confidence": 0.8}),
        )
        .await;
    assert_eq!(status, 202, "{pending}");
    let approval = pending["data"]["approval_request_uuid"].as_str().unwrap().to_string();
    let card = format!("#pending [data-approval-uuid='{approval}']");
    eventually("the request appears live in the inbox", Duration::from_secs(20), || async {
        let found = browser.run("return !!document.querySelector(arguments[0])", vec![json!(card)]).await;
        (found == json!(true)).then_some(())
    })
    .await;
    browser.click(&format!("{card} button[value=approve]")).await;
    let run = crate::respond::finished_run(&app, &workflow).await;
    assert_eq!(run["status"], "success", "{run}");

    // The run's result is on the alert; the analyst closes it with a classification.
    browser.open(&app.url(&format!("/alerts/{alert}"))).await;
    let activity = text_of(&browser, "#activity").await;
    assert!(
        activity.contains("workflow_executed") && activity.contains("ran for 93.184.216.34"),
        "{activity}"
    );
    browser
        .css("#close-classification")
        .await
        .select_by_value("True Positive - Suspicious Activity")
        .await
        .unwrap();
    browser.click("form[action$='/close'] button[type=submit]").await;
    eventually("the alert is closed", Duration::from_secs(20), || async {
        let (_, body) = app.get(&format!("/v1/alerts/{alert}"), &app.admin_key).await;
        (body["data"]["status"] == "Closed").then_some(body)
    })
    .await;

    // The dashboard's MTTC now has a figure.
    browser.open(&app.url("/")).await;
    let mttc_after = browser.run("return document.querySelector('#mttc').dataset.value", vec![]).await;
    assert_ne!(mttc_after, mttc_before, "MTTC moves once an alert is closed");
    assert!(mttc_after.as_str().unwrap().parse::<f64>().is_ok(), "{mttc_after}");
    assert_quiet(&browser, "the dashboard").await;
    browser.quit().await;
}

/// The alert's REST view, when `check` accepts it (polled).
async fn rest_alert_when(app: &TestApp, uuid: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    eventually(what, Duration::from_secs(20), || async {
        let (_, body) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
        check(&body["data"]).then(|| body["data"].clone())
    })
    .await
}

/// The alert page's and the queue's remaining actions through their real forms in Chromium —
/// tags, an added indicator, an analyst's verdict with its reason, a finding, and the queue's bulk
/// close — then a read-only key that is offered no action at all, and a revoked key whose session
/// ends at its next page.
#[tokio::test]
async fn console_browser_every_alert_action_through_its_form_and_what_other_keys_get() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    let alert = ingest(&app, json!({"title": "Beacon to 93.184.216.34", "src_ip": "93.184.216.34"})).await;
    let other = ingest(&app, json!({"title": "Second beacon", "severity": "low"})).await;
    let (key, key_uuid) = crate::console::create_key(
        &app,
        json!({"name": "Analyst", "scopes": ["alerts:read", "alerts:write"]}),
    )
    .await;
    sign_in(&browser, &app, &key, &format!("/alerts/{alert}")).await;

    // Tags.
    browser.css("#tags-add").await.send_keys("phishing, vip").await.unwrap();
    browser.click("form#tags button[type=submit]").await;
    rest_alert_when(&app, &alert, "the tags are saved", |a| a["tags"] == json!(["phishing", "vip"])).await;

    // An added indicator.
    browser.wait_for_path(&format!("/alerts/{alert}")).await;
    browser.css("#indicator-kind").await.select_by_value("domain").await.unwrap();
    browser.css("#indicator-value").await.send_keys("evil.example").await.unwrap();
    browser.click(&format!("form[action='/alerts/{alert}/indicators'] button[type=submit]")).await;
    eventually("the indicator is added", Duration::from_secs(20), || async {
        let (_, body) = app.get(&format!("/v1/alerts/{alert}/indicators"), &app.admin_key).await;
        body["data"].as_array()?.iter().any(|i| i["value"] == "evil.example").then_some(())
    })
    .await;

    // An analyst's verdict on the address, with its reason.
    browser.open(&app.url(&format!("/alerts/{alert}"))).await;
    browser.click(".indicator-override summary").await;
    let form = "form[action$='/indicators/malice']";
    browser.css(&format!("{form} select[name=malice]")).await.select_by_value("Malicious").await.unwrap();
    browser
        .css(&format!("{form} textarea[name=reason]"))
        .await
        .send_keys("Seen in our own C2 takedown")
        .await
        .unwrap();
    browser.click(&format!("{form} button[type=submit]")).await;
    eventually("the verdict is set with its reason", Duration::from_secs(20), || async {
        let (_, log) = app.get(&format!("/v1/alerts/{alert}/activity"), &app.admin_key).await;
        log["data"]
            .as_array()?
            .iter()
            .any(|e| {
                e["event_type"] == "indicator_malice_updated"
                    && e["actor_type"] == "console"
                    && e.to_string().contains("Seen in our own C2 takedown")
            })
            .then_some(())
    })
    .await;

    // A finding.
    browser.open(&app.url(&format!("/alerts/{alert}"))).await;
    browser.css("#finding-summary").await.send_keys("Beacon every 60 s to a known C2").await.unwrap();
    browser.click(&format!("form[action='/alerts/{alert}/findings'] button[type=submit]")).await;
    eventually("the finding is posted", Duration::from_secs(20), || async {
        let (_, body) = app.get(&format!("/v1/alerts/{alert}/findings"), &app.admin_key).await;
        body["data"]
            .as_array()?
            .iter()
            .any(|f| f["summary"] == "Beacon every 60 s to a known C2")
            .then_some(())
    })
    .await;
    assert_quiet(&browser, "the alert's actions").await;

    // The queue's bulk close of both alerts.
    browser.open(&app.url("/alerts")).await;
    for uuid in [&alert, &other] {
        browser.click(&format!("#sel-{uuid}")).await;
    }
    browser.css("#b-action").await.select_by_value("close").await.unwrap();
    browser.css("#b-class").await.select_by_value("True Positive - Suspicious Activity").await.unwrap();
    browser.click("form#bulk button[type=submit]").await;
    for uuid in [&alert, &other] {
        rest_alert_when(&app, uuid, "the bulk close is saved", |a| a["status"] == "Closed").await;
    }
    assert_quiet(&browser, "the bulk close").await;

    // A revoked key's session ends at its next page.
    let (status, body) = app.delete(&format!("/v1/api-keys/{key_uuid}"), &app.admin_key).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    browser.open(&app.url("/alerts")).await;
    browser.wait_for_path("/login").await;

    // A read-only key is offered no state-changing form but signing out.
    let reader =
        crate::console::create_key(&app, json!({"name": "Reader", "scopes": ["alerts:read"]})).await.0;
    sign_in(&browser, &app, &reader, &format!("/alerts/{alert}")).await;
    for path in [format!("/alerts/{alert}"), "/alerts".to_string(), "/".to_string()] {
        browser.open(&app.url(&path)).await;
        let actions = browser
            .run("return [...document.querySelectorAll('form[method=post]')].map(f => f.getAttribute('action')).filter(a => a !== '/logout')", vec![])
            .await;
        assert_eq!(actions, json!([]), "{path} offers a read-only key no action");
        assert_quiet(&browser, &path).await;
    }
    browser.quit().await;
}

/// Times are shown in the browser's zone with the exact UTC time on hover: in Tokyo (UTC+9) an
/// alert that occurred at 01:30 UTC reads 10:30, and its title keeps "01:30 UTC".
#[tokio::test]
async fn console_browser_shows_times_in_the_browsers_zone_with_utc_on_hover() {
    let Some(browser) = ChromeSession::start().await else { return };
    let app = spawn_app().await;
    ingest(&app, json!({"title": "Timed", "occurred_at": "2026-03-04T01:30:00Z"})).await;
    let key = analyst(&app).await;
    browser.cdp("Emulation.setTimezoneOverride", json!({"timezoneId": "Asia/Tokyo"})).await;
    sign_in(&browser, &app, &key, "/alerts").await;
    let shown = browser
        .run(
            "const t = document.querySelector('time[datetime=\"2026-03-04T01:30:00Z\"]'); return [t.textContent, t.title]",
            vec![],
        )
        .await;
    let (text, title) = (shown[0].as_str().unwrap(), shown[1].as_str().unwrap());
    assert!(text.contains("10:30") && !text.contains("01:30"), "local time in Tokyo: {text}");
    assert!(title.contains("01:30") && title.contains("UTC"), "UTC on hover: {title}");
    assert_quiet(&browser, "the queue in Tokyo").await;
    browser.quit().await;
}
