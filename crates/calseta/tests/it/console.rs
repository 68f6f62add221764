//! The analyst console's foundation over plain HTTP: sign-in with a human key and the session it
//! opens (cookie attributes, idle and absolute expiry, sign-out, a revoked key), the refusals
//! (agent keys, wrong keys under the failed-attempt limit, CSRF and foreign origins), the security
//! headers and hashed assets, sandbox mode's one-click sign-in, and the API beside it unchanged.

use std::collections::HashMap;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; form-action 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; require-trusted-types-for 'script'";
const LAB_KEY: &str = "cai_lab_demo_full_access_key_not_for_prod";

/// Form fields, in order.
type Fields<'a> = &'a [(&'a str, &'a str)];

/// A response, read whole.
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// The `Set-Cookie` line for `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }

    /// The value of the first hidden `csrf_token` field.
    pub(crate) fn csrf_token(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start =
            self.body.find(marker).unwrap_or_else(|| panic!("no csrf_token in {}", self.body)) + marker.len();
        self.body[start..].split('"').next().unwrap().to_string()
    }
}

/// A browser without redirects or a cookie jar of its own: cookies are kept by hand, so each
/// test sees every `Set-Cookie` and what is sent.
pub(crate) struct Browser {
    client: reqwest::Client,
    base: String,
    pub(crate) cookies: HashMap<String, String>,
}

impl Browser {
    pub(crate) fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { client, base: app.base.clone(), cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn read(&mut self, response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for line in headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if line.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        Page { status, headers, body: response.text().await.unwrap() }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// Posts `fields` urlencoded from `origin` (`None`: no `Origin` header).
    pub(crate) async fn post_from(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish());
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        self.read(response).await
    }

    /// Posts `fields` as a page of this console would.
    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let origin = self.base.clone();
        self.post_from(path, fields, Some(&origin)).await
    }

    /// Opens the sign-in form and submits `key` (with `next`, when given).
    async fn sign_in_to(&mut self, key: &str, next: Option<&str>) -> Page {
        let form = self.get("/login").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let token = form.csrf_token();
        let mut fields = vec![("csrf_token", token.as_str()), ("api_key", key)];
        if let Some(next) = next {
            fields.push(("next", next));
        }
        self.post("/login", &fields).await
    }

    pub(crate) async fn sign_in(&mut self, key: &str) -> Page {
        let page = self.sign_in_to(key, None).await;
        assert_eq!(page.status, 303, "{}", page.body);
        page
    }
}

/// Attributes like ` onclick=` in `html`: inline handlers the CSP would refuse to run.
pub(crate) fn event_handler_attributes(html: &str) -> Vec<String> {
    html.match_indices(" on")
        .filter_map(|(at, _)| {
            let name: String = html[at + 1..].chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            html[at + 1 + name.len()..].starts_with('=').then_some(name)
        })
        .collect()
}

/// Creates a key through the API; (plain key, uuid).
pub(crate) async fn create_key(app: &TestApp, body: Value) -> (String, String) {
    let (status, created) = app.post("/v1/api-keys", &app.admin_key, body).await;
    assert_eq!(status, 201, "{created}");
    (
        created["data"]["key"].as_str().unwrap().to_string(),
        created["data"]["uuid"].as_str().unwrap().to_string(),
    )
}

pub(crate) async fn analyst(app: &TestApp) -> String {
    create_key(app, json!({"name": "Analyst <Ada>", "scopes": ["alerts:read", "alerts:write"]})).await.0
}

/// A browser signed in with a fresh human key named `name` holding `scopes`; (browser, plain key).
pub(crate) async fn signed_in_as(app: &TestApp, name: &str, scopes: &[&str]) -> (Browser, String) {
    let (key, _) = create_key(app, json!({"name": name, "scopes": scopes})).await;
    let mut browser = Browser::new(app);
    browser.sign_in(&key).await;
    (browser, key)
}

/// A browser signed in with a fresh human key holding `scopes`; (browser, plain key).
pub(crate) async fn signed_in_with_key(app: &TestApp, scopes: &[&str]) -> (Browser, String) {
    signed_in_as(app, "Console <user>", scopes).await
}

/// A browser signed in with a fresh human key holding `scopes`.
pub(crate) async fn signed_in(app: &TestApp, scopes: &[&str]) -> Browser {
    signed_in_with_key(app, scopes).await.0
}

/// `text` as askama escapes it into a page.
pub(crate) fn askama_escape(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// Whether `html` holds `text` escaped (askama writes `&#60;`, others `&lt;`).
pub(crate) fn contains_escaped(html: &str, text: &str) -> bool {
    let numeric = text.replace('<', "&#60;").replace('>', "&#62;").replace('"', "&#34;");
    let named = text.replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    html.contains(&numeric) || html.contains(&named)
}

/// Undoes HTML escaping, askama's numeric escapes (`&#60;`) and the named ones (`&lt;`) alike;
/// the ampersand last, so an escaped escape comes back as the text that was written.
pub(crate) fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

/// The messages of a REST 422 body's `details.errors` (plain texts as they are, `{msg}` entries
/// by their `msg`).
pub(crate) fn rest_error_messages(body: &Value) -> Vec<String> {
    body["error"]["details"]["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no details.errors in {body}"))
        .iter()
        .map(|e| e.as_str().map_or_else(|| e["msg"].as_str().unwrap().to_string(), str::to_string))
        .collect()
}

#[tokio::test]
async fn an_unauthenticated_page_request_is_sent_to_sign_in() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/login");
    let page = browser.get("/alerts?status=Open").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/login?next=%2Falerts%3Fstatus%3DOpen");
    // A made-up session cookie is no session.
    browser.cookies.insert("calseta_session".into(), "x".repeat(43));
    let page = browser.get("/approvals").await;
    assert_eq!(page.status, 303);
    assert!(page.location().starts_with("/login?next=%2Fapprovals"), "{}", page.location());

    let form = browser.get("/login?next=%2Falerts").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("name=\"api_key\" type=\"password\""), "{}", form.body);
    assert!(form.body.contains("name=\"next\" value=\"/alerts\""));
    let cookie = form.set_cookie("calseta_login_csrf").expect("the form's double-submit cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
}

#[tokio::test]
async fn a_human_key_signs_in_and_the_dashboard_shows_its_name_and_scopes() {
    let app = spawn_app().await;
    let key = analyst(&app).await;
    let mut browser = Browser::new(&app);
    let page = browser.sign_in(&key).await;
    assert_eq!(page.location(), "/");
    let cookie = page.set_cookie("calseta_session").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no Secure without HTTPS_ENABLED: {cookie}");
    let id = cookie.split(';').next().unwrap().trim_start_matches("calseta_session=");
    assert_eq!(id.len(), 43, "256 random bits, base64url");
    // Only a digest of the id is stored.
    let digest = hex::encode(Sha256::digest(id.as_bytes()));
    let stored =
        query_i64(&app, &format!("SELECT COUNT(*) FROM console_sessions WHERE session_digest = '{digest}'"))
            .await;
    assert_eq!(stored, 1);
    let leaked =
        query_i64(&app, &format!("SELECT COUNT(*) FROM console_sessions WHERE session_digest = '{id}'"))
            .await;
    assert_eq!(leaked, 0);

    let home = browser.get("/").await;
    assert_eq!(home.status, 200, "{}", home.body);
    // The name is escaped like every other text, and the scopes are listed.
    assert!(
        home.body.contains("Analyst &#60;Ada&#62;") || home.body.contains("Analyst &lt;Ada&gt;"),
        "{}",
        home.body
    );
    assert!(!home.body.contains("<Ada>"));
    assert!(home.body.contains("alerts:read") && home.body.contains("alerts:write"));
    for landmark in [
        "<main",
        "href=\"#main\"",
        "href=\"/alerts\"",
        "href=\"/approvals\"",
        "href=\"/activity\"",
        "action=\"/logout\"",
    ] {
        assert!(home.body.contains(landmark), "{landmark}");
    }
    assert_eq!(browser.get("/alerts").await.status, 200);

    // A signed-in browser opening the form goes on; `next` is honoured only for paths on this site.
    let again = browser.get("/login?next=%2Fapprovals").await;
    assert_eq!((again.status, again.location()), (303, "/approvals"));
    let mut other = Browser::new(&app);
    assert_eq!(other.sign_in_to(&key, Some("/alerts?status=Open")).await.location(), "/alerts?status=Open");
    let mut other = Browser::new(&app);
    assert_eq!(other.sign_in_to(&key, Some("//evil.example/x")).await.location(), "/");
    let mut other = Browser::new(&app);
    assert_eq!(other.sign_in_to(&key, Some("https://evil.example")).await.location(), "/");
}

#[tokio::test]
async fn agent_keys_are_refused_with_a_clear_message() {
    let app = spawn_app().await;
    let (agent, _) =
        create_key(&app, json!({"name": "triage-bot", "scopes": ["alerts:read"], "key_type": "agent"})).await;
    let mut browser = Browser::new(&app);
    let page = browser.sign_in_to(&agent, None).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("agent key"), "{}", page.body);
    assert!(page.set_cookie("calseta_session").is_none());
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM console_sessions").await, 0);
    assert_eq!(browser.get("/").await.status, 303);
}

#[tokio::test]
async fn wrong_keys_are_refused_and_counted_against_the_unauthenticated_limit() {
    let app = spawn_app_with(AppOptions {
        env: vec![("RATE_LIMIT_UNAUTHED_PER_MINUTE", "3".into())],
        ..AppOptions::default()
    })
    .await;
    let mut browser = Browser::new(&app);
    let first = browser.sign_in_to("cai_wrongwrongwrongwrongwrongwrongwrongwrongwro", None).await;
    assert_eq!(first.status, 401, "{}", first.body);
    assert!(first.body.contains("not accepted"), "{}", first.body);
    assert!(first.set_cookie("calseta_session").is_none());
    // A minute boundary between attempts resets the window; a second round covers it.
    let mut throttled = None;
    for _ in 0..8 {
        let page = browser.sign_in_to("not-even-a-key", None).await;
        if page.status == 429 {
            throttled = Some(page);
            break;
        }
        assert_eq!(page.status, 401, "{}", page.body);
    }
    let page = throttled.expect("sign-ins past RATE_LIMIT_UNAUTHED_PER_MINUTE are refused");
    let retry_after: u64 = page.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert!(page.body.contains("Too many"), "{}", page.body);
    // The limit is the one REST counts failures in: the API refuses this address too (unless the
    // window has just ended).
    let (status, _) = app.get("/v1/alerts", "cai_wrongwrongwrongwrongwrongwrongwrongwrongwro").await;
    if retry_after > 2 {
        assert_eq!(status, 429);
    }
}

#[tokio::test]
async fn posts_without_the_csrf_token_or_from_another_origin_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let key = analyst(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&key).await;
    let token = browser.get("/").await.csrf_token();
    let own = app.base.as_str();
    let refusals: [(Fields<'_>, Option<&str>); 6] = [
        (&[], Some(own)),
        (&[("csrf_token", "")], Some(own)),
        (&[("csrf_token", "0123456789abcdef")], Some(own)),
        (&[("csrf_token", &token)], Some("http://evil.example")),
        (&[("csrf_token", &token)], Some("null")),
        (&[("csrf_token", &token)], None),
    ];
    for (fields, origin) in refusals {
        let page = browser.post_from("/logout", fields, origin).await;
        assert_eq!(page.status, 403, "{fields:?} from {origin:?}");
        assert!(page.body.contains("not sent from this console"), "{}", page.body);
        assert_eq!(page.header("content-security-policy"), CSP);
        assert!(page.set_cookie("calseta_session").is_none());
    }
    // Nothing changed: the session still works.
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM console_sessions").await, 1);
    assert_eq!(browser.get("/").await.status, 200);

    // The sign-in form is checked the same way, with its double-submit token.
    let mut fresh = Browser::new(&app);
    let form = fresh.get("/login").await;
    let form_token = form.csrf_token();
    let page = fresh
        .post_from("/login", &[("csrf_token", &form_token), ("api_key", &key)], Some("http://evil.example"))
        .await;
    assert_eq!(page.status, 403);
    let page = fresh.post("/login", &[("csrf_token", "forged"), ("api_key", &key)]).await;
    assert_eq!(page.status, 403);
    fresh.cookies.clear();
    let page = fresh.post("/login", &[("csrf_token", &form_token), ("api_key", &key)]).await;
    assert_eq!(page.status, 403, "the field alone, without its cookie");
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM console_sessions").await, 1);
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let app = spawn_app().await;
    let key = analyst(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&key).await;
    let session = browser.cookies["calseta_session"].clone();
    let token = browser.get("/").await.csrf_token();
    let page = browser.post("/logout", &[("csrf_token", &token)]).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/login?reason=signed_out");
    assert!(page.set_cookie("calseta_session").unwrap().contains("Max-Age=0"));
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM console_sessions").await, 0);
    assert!(browser.get("/login?reason=signed_out").await.body.contains("You have signed out."));
    // The old cookie, replayed, opens nothing.
    browser.cookies.insert("calseta_session".into(), session);
    let page = browser.get("/").await;
    assert_eq!((page.status, page.location()), (303, "/login"));
}

#[tokio::test]
async fn a_revoked_keys_session_ends_at_its_next_request() {
    let app = spawn_app().await;
    let (key, uuid) = create_key(&app, json!({"name": "soon revoked", "scopes": ["alerts:read"]})).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&key).await;
    assert_eq!(browser.get("/").await.status, 200);
    let (status, body) = app.delete(&format!("/v1/api-keys/{uuid}"), &app.admin_key).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    let page = browser.get("/").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/login?reason=revoked");
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM console_sessions").await, 0);
    assert!(browser.get(page.location()).await.body.contains("was revoked"));
}

#[tokio::test]
async fn sessions_end_after_the_configured_idle_time_and_twelve_hours_at_most() {
    let app = spawn_app_with(AppOptions {
        env: vec![("CONSOLE_SESSION_IDLE_MINUTES", "5".into())],
        ..AppOptions::default()
    })
    .await;
    let key = analyst(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&key).await;
    let now = chrono::Utc::now();
    // Idle for less than the configured minutes: still signed in, and the activity is recorded.
    exec_sql_at(&app, "UPDATE console_sessions SET last_seen_at = $1", now - chrono::TimeDelta::minutes(4))
        .await;
    assert_eq!(browser.get("/").await.status, 200);
    let seen = query_i64(&app, "SELECT COUNT(*) FROM console_sessions").await;
    assert_eq!(seen, 1);
    // Idle for longer: the session ends at the next request.
    exec_sql_at(&app, "UPDATE console_sessions SET last_seen_at = $1", now - chrono::TimeDelta::minutes(6))
        .await;
    let page = browser.get("/").await;
    assert_eq!((page.status, page.location()), (303, "/login?reason=idle"));
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM console_sessions").await, 0);

    // However active, a session ends at its absolute expiry.
    browser.sign_in(&key).await;
    exec_sql_at(&app, "UPDATE console_sessions SET expires_at = $1", now - chrono::TimeDelta::seconds(1))
        .await;
    let page = browser.get("/").await;
    assert_eq!((page.status, page.location()), (303, "/login?reason=expired"));
}

#[tokio::test]
async fn a_session_lasts_twelve_hours_from_sign_in() {
    let app = spawn_app().await;
    let key = analyst(&app).await;
    let mut browser = Browser::new(&app);
    let page = browser.sign_in(&key).await;
    assert!(page.set_cookie("calseta_session").unwrap().contains("Max-Age=43200"));
    // Signed in eleven hours ago and active since: still signed in.
    let now = chrono::Utc::now();
    exec_sql_times(
        &app,
        "UPDATE console_sessions SET created_at = $1, expires_at = $2",
        &[Some(now - chrono::TimeDelta::hours(11)), Some(now + chrono::TimeDelta::hours(1))],
    )
    .await;
    assert_eq!(browser.get("/").await.status, 200);
}

#[tokio::test]
async fn console_responses_carry_a_strict_csp_and_the_security_headers() {
    let app = spawn_app().await;
    let key = analyst(&app).await;
    let mut browser = Browser::new(&app);
    let login = browser.get("/login").await;
    browser.sign_in(&key).await;
    let home = browser.get("/").await;
    let redirect = Browser::new(&app).get("/alerts").await;
    for page in [&login, &home, &redirect] {
        assert_eq!(page.header("content-security-policy"), CSP);
        assert_eq!(page.header("x-content-type-options"), "nosniff");
        assert_eq!(page.header("referrer-policy"), "same-origin");
        assert_eq!(page.header("x-frame-options"), "DENY");
        assert_eq!(page.header("cache-control"), "no-store");
    }
    // Nothing inline for the CSP to forbid: no style attributes, no script without a source.
    for page in [&login, &home] {
        assert!(page.header("content-type").starts_with("text/html"), "{}", page.header("content-type"));
        assert!(!page.body.contains("style="), "{}", page.body);
        assert!(!page.body.contains("<style"));
        for script in page.body.split("<script").skip(1) {
            assert!(script.trim_start().starts_with("src=\"/assets/"), "inline script: {script}");
        }
        assert_eq!(event_handler_attributes(&page.body), Vec::<String>::new());
    }
}

#[tokio::test]
async fn assets_are_served_immutable_under_the_hashed_names_pages_link() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let key = analyst(&app).await;
    browser.sign_in(&key).await;
    let home = browser.get("/").await;
    // A page weighs at most 150 KB before its data: the empty queue with its stylesheet and script.
    let mut weight = browser.get("/alerts").await.body.len();
    for (prefix, extension, content_type) in
        [("href=\"", ".css", "text/css"), ("src=\"", ".js", "text/javascript")]
    {
        let marker = format!("{prefix}/assets/app-");
        let start =
            home.body.find(&marker).unwrap_or_else(|| panic!("{marker} in {}", home.body)) + prefix.len();
        let path = home.body[start..].split('"').next().unwrap().to_string();
        assert!(path.ends_with(extension), "{path}");
        let hash = path.trim_start_matches("/assets/app-").trim_end_matches(extension);
        assert_eq!(hash.len(), 12);
        let asset = browser.get(&path).await;
        assert_eq!(asset.status, 200);
        assert_eq!(asset.header("cache-control"), "public, max-age=31536000, immutable");
        assert!(asset.header("content-type").starts_with(content_type), "{}", asset.header("content-type"));
        assert_eq!(asset.header("x-content-type-options"), "nosniff");
        assert!(
            hex::encode(Sha256::digest(asset.body.as_bytes())).starts_with(hash),
            "the name is the content's"
        );
        weight += asset.body.len();
    }
    assert!(weight <= 150_000, "an empty queue page and its assets weigh {weight} bytes");
    let stale = browser.get("/assets/app-000000000000.css").await;
    assert_eq!(stale.status, 404);
    assert_eq!(stale.header("cache-control"), "no-store");
}

#[tokio::test]
async fn one_click_sandbox_sign_in_is_offered_only_in_sandbox_mode() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let form = browser.get("/login").await;
    assert!(!form.body.contains("name=\"demo\""), "{}", form.body);
    let token = form.csrf_token();
    let page = browser.post("/login", &[("csrf_token", &token), ("demo", "lab")]).await;
    assert_eq!(page.status, 403);
    assert!(page.set_cookie("calseta_session").is_none());
    // Outside sandbox mode the demo key does not exist either.
    let page = browser.sign_in_to(LAB_KEY, None).await;
    assert_eq!(page.status, 401);

    let sandbox = crate::sandbox::sandbox_app().await;
    let mut browser = Browser::new(&sandbox);
    let form = browser.get("/login").await;
    assert!(form.body.contains("name=\"demo\" value=\"lab\""), "{}", form.body);
    let token = form.csrf_token();
    let page = browser.post("/login", &[("csrf_token", &token), ("demo", "lab")]).await;
    assert_eq!((page.status, page.location()), (303, "/"), "{}", page.body);
    let home = browser.get("/").await;
    assert!(home.body.contains("Lab demo (full access)"), "{}", home.body);
    assert!(home.body.contains("Sandbox"));
}

#[tokio::test]
async fn the_api_docs_and_unknown_paths_are_unchanged_beside_the_console() {
    let app = spawn_app().await;
    let (status, body) = app.get("/v1/alerts", &app.admin_key).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"].is_array());
    let docs = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_ne!(
        docs.headers()["content-security-policy"].to_str().unwrap(),
        CSP,
        "the docs keep their own CSP"
    );
    let (status, _) = app.get("/health", &app.admin_key).await;
    assert_eq!(status, 200);
    let (status, openapi) = app.get("/openapi.json", &app.admin_key).await;
    assert_eq!(status, 200);
    assert!(openapi["paths"]["/v1/alerts"].is_object());
    let missing = app.client.get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let (_, body) = status_json(missing).await;
    assert_eq!(body["error"]["code"], "NOT_FOUND", "{body}");
    // The API's responses keep the API's headers.
    let api = app.client.get(app.url("/v1/alerts")).bearer_auth(&app.admin_key).send().await.unwrap();
    assert_eq!(api.headers()["referrer-policy"], "no-referrer");
    assert_eq!(api.headers()["content-security-policy"], "default-src 'none'; frame-ancestors 'none'");
}
