//! What a running workflow may do outside its sandbox, done by the platform: HTTP through the
//! SSRF-safe client, workflow secrets (never a platform setting), and the Okta and Entra calls,
//! whose credentials never enter the workflow's process.

use std::sync::Arc;
use std::time::Duration;

use calseta_workflows::{HttpAnswer, HttpCall, WorkflowHost};
use serde_json::{Map, Value, json};

use crate::platform::outbound::{OutboundClient, error_text, read_capped};
use crate::resources::workflows::{SecretGrants, WorkflowService};

/// The most of a response body a workflow gets.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Environment variables that are the platform's own settings (never served as a workflow
/// secret, even if an operator lists them in `WORKFLOW_SECRETS_FROM_ENV`): by exact name, by
/// the prefix of a family of settings, or as a webhook secret of any source.
const PLATFORM_SETTINGS: [&str; 5] =
    ["DATABASE_URL", "METRICS_TOKEN", "ANTHROPIC_API_KEY", "CALSETA_API_KEY", "WEBHOOK_SECRETS"];
const PLATFORM_PREFIXES: [&str; 8] =
    ["ENCRYPTION_KEY", "SLACK_", "TEAMS_", "OKTA_", "ENTRA_", "VIRUSTOTAL_", "ABUSEIPDB_", "DATABASE_"];

/// Whether `name` is one of the platform's own settings.
pub fn is_platform_setting(name: &str) -> bool {
    PLATFORM_SETTINGS.contains(&name)
        || PLATFORM_PREFIXES.iter().any(|p| name.starts_with(p))
        || name.ends_with("_WEBHOOK_SECRET")
}

/// Okta: `https://{OKTA_DOMAIN}` (or `OKTA_BASE_URL`) and `OKTA_API_TOKEN`.
#[derive(Debug, Clone)]
pub struct OktaSettings {
    /// Base URL of the org.
    pub base_url: String,
    /// An API token (`SSWS`).
    pub token: String,
}

/// Microsoft Entra ID: an app registration's client credentials.
#[derive(Debug, Clone)]
pub struct EntraSettings {
    /// `ENTRA_TENANT_ID`.
    pub tenant_id: String,
    /// `ENTRA_CLIENT_ID`.
    pub client_id: String,
    /// `ENTRA_CLIENT_SECRET`.
    pub client_secret: String,
    /// `https://login.microsoftonline.com` (or `ENTRA_LOGIN_BASE_URL`).
    pub login_base_url: String,
    /// `https://graph.microsoft.com` (or `ENTRA_GRAPH_BASE_URL`).
    pub graph_base_url: String,
}

/// How workflows run here.
#[derive(Debug, Clone, Default)]
pub struct WorkflowSettings {
    /// `WORKFLOW_MAX_MEMORY_MB` (256).
    pub max_memory_mb: u64,
    /// `WORKFLOW_SECRETS_FROM_ENV`: environment variables workflows may read as secrets (v1).
    pub secrets_from_env: Vec<String>,
    /// The Okta integration, when configured.
    pub okta: Option<OktaSettings>,
    /// The Entra integration, when configured.
    pub entra: Option<EntraSettings>,
}

impl WorkflowSettings {
    /// The integrations a workflow sees (`ctx.integrations.okta`, `.entra`).
    pub fn integrations(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.okta.is_some() {
            names.push("okta".to_string());
        }
        if self.entra.is_some() {
            names.push("entra".to_string());
        }
        names
    }
}

/// The platform side of one run.
pub struct PlatformHost {
    pub(crate) http: OutboundClient,
    pub(crate) workflows: Arc<WorkflowService>,
    pub(crate) settings: Arc<WorkflowSettings>,
    /// The run's own limit bounds every request.
    pub(crate) timeout: Duration,
    /// The secrets this run may read: the workflow's grants as they were when it started.
    pub(crate) grants: SecretGrants,
}

impl PlatformHost {
    async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<HttpAnswer, String> {
        // The full check: a name is resolved and held to the port rules (this server's own
        // listeners and database port, `host:port` entries) before anything is sent.
        let parsed = self.http.check_destination(url, false).await?;
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| format!("invalid method {method}"))?;
        let mut request = self.http.client(false).request(method, parsed).timeout(timeout);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request = match body {
            Some(Value::Object(mut b)) if b.contains_key("json") => {
                request.json(&b.remove("json").unwrap_or_default())
            }
            Some(Value::Object(mut b)) if b.contains_key("form") => {
                let form: Map<String, Value> =
                    b.remove("form").and_then(|f| f.as_object().cloned()).unwrap_or_default();
                let pairs: Vec<(String, String)> = form
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                    .collect();
                request.form(&pairs)
            }
            Some(Value::Object(b)) => {
                request.body(b.get("text").and_then(Value::as_str).unwrap_or_default().to_string())
            }
            _ => request,
        };
        let mut response = request.send().await.map_err(error_text)?;
        let status_code = response.status().as_u16();
        let url = response.url().to_string();
        let headers: Map<String, Value> = response
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                v.to_str().ok().map(|v| (k.as_str().to_string(), Value::String(v.to_string())))
            })
            .collect();
        let body = read_capped(&mut response, MAX_RESPONSE_BYTES).await.map_err(|e| e.causes())?;
        Ok(HttpAnswer { status_code, headers, text: String::from_utf8_lossy(&body).into_owned(), url })
    }

    async fn json_call(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<Value>,
    ) -> Result<Value, String> {
        let answer = self.send(method, url, headers, body, self.timeout.min(Duration::from_secs(30))).await?;
        if !(200..300).contains(&answer.status_code) {
            return Err(format!("HTTP {} from {}", answer.status_code, method));
        }
        Ok(serde_json::from_str(&answer.text).unwrap_or(Value::Null))
    }

    async fn okta(&self, method: &str, login: &str) -> Result<Value, String> {
        let okta = self.settings.okta.as_ref().ok_or("Okta integration is not configured")?;
        let auth = [("Authorization".to_string(), format!("SSWS {}", okta.token))];
        let base = okta.base_url.trim_end_matches('/');
        let login_path: String = url_escape(login);
        let user = self.json_call("GET", &format!("{base}/api/v1/users/{login_path}"), &auth, None).await?;
        let id = user.get("id").and_then(Value::as_str).ok_or("Okta user has no id")?;
        let users = format!("{base}/api/v1/users/{id}");
        match method {
            "revoke_sessions" => {
                self.json_call("DELETE", &format!("{users}/sessions"), &auth, None).await.map(|_| Value::Null)
            }
            "suspend_user" => self
                .json_call("POST", &format!("{users}/lifecycle/suspend"), &auth, None)
                .await
                .map(|_| Value::Null),
            "unsuspend_user" => self
                .json_call("POST", &format!("{users}/lifecycle/unsuspend"), &auth, None)
                .await
                .map(|_| Value::Null),
            "reset_password" => {
                let answer = self
                    .json_call(
                        "POST",
                        &format!("{users}/lifecycle/reset_password?sendEmail=true"),
                        &auth,
                        None,
                    )
                    .await?;
                Ok(answer.get("resetPasswordUrl").cloned().unwrap_or(Value::Null))
            }
            "expire_password" => self
                .json_call("POST", &format!("{users}/lifecycle/expire_password"), &auth, None)
                .await
                .map(|_| Value::Null),
            other => Err(format!("Okta has no method '{other}'")),
        }
    }

    async fn entra(&self, method: &str, user: &str) -> Result<Value, String> {
        let entra = self.settings.entra.as_ref().ok_or("Microsoft Entra integration is not configured")?;
        let form = json!({"form": {"grant_type": "client_credentials", "client_id": entra.client_id,
            "client_secret": entra.client_secret, "scope": "https://graph.microsoft.com/.default"}});
        let token_url = format!(
            "{}/{}/oauth2/v2.0/token",
            entra.login_base_url.trim_end_matches('/'),
            url_escape(&entra.tenant_id)
        );
        let token = self.json_call("POST", &token_url, &[], Some(form)).await?;
        let token = token.get("access_token").and_then(Value::as_str).ok_or("Entra gave no access token")?;
        let auth = [("Authorization".to_string(), format!("Bearer {token}"))];
        let users = format!("{}/v1.0/users/{}", entra.graph_base_url.trim_end_matches('/'), url_escape(user));
        let enabled = |on: bool| Some(json!({"json": {"accountEnabled": on}}));
        match method {
            "revoke_sessions" => self
                .json_call("POST", &format!("{users}/revokeSignInSessions"), &auth, None)
                .await
                .map(|_| Value::Null),
            "disable_account" => {
                self.json_call("PATCH", &users, &auth, enabled(false)).await.map(|_| Value::Null)
            }
            "enable_account" => {
                self.json_call("PATCH", &users, &auth, enabled(true)).await.map(|_| Value::Null)
            }
            "reset_mfa" => {
                let methods =
                    self.json_call("GET", &format!("{users}/authentication/methods"), &auth, None).await?;
                for m in methods.get("value").and_then(Value::as_array).into_iter().flatten() {
                    let kind = m.get("@odata.type").and_then(Value::as_str).unwrap_or_default();
                    let Some(id) = m.get("id").and_then(Value::as_str) else { continue };
                    if kind.contains("password") {
                        continue;
                    }
                    // v1 ignores a method that cannot be deleted; so do we, but the run's log says so.
                    let _ = self
                        .json_call(
                            "DELETE",
                            &format!("{users}/authentication/methods/{}", url_escape(id)),
                            &auth,
                            None,
                        )
                        .await;
                }
                Ok(Value::Null)
            }
            other => Err(format!("Entra has no method '{other}'")),
        }
    }
}

/// The URL a workflow's request goes to: its `url` with its `params` added to the query.
pub(crate) fn call_url(call: &HttpCall) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(&call.url).map_err(|e| format!("invalid URL: {e}"))?;
    if !call.params.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in &call.params {
            pairs.append_pair(k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()).as_str());
        }
    }
    Ok(url)
}

fn url_escape(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20")
}

#[async_trait::async_trait]
impl WorkflowHost for PlatformHost {
    async fn http(&self, call: HttpCall) -> Result<HttpAnswer, String> {
        let url = call_url(&call)?;
        let headers: Vec<(String, String)> = call
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            .collect();
        // Any number the workflow sends (huge, negative, NaN) ends up within the run's own limit.
        let timeout = call.timeout.and_then(|t| Duration::try_from_secs_f64(t).ok()).unwrap_or(self.timeout);
        self.send(&call.method, url.as_str(), &headers, call.body, timeout.min(self.timeout)).await
    }

    async fn secret(&self, name: &str) -> Result<Option<String>, String> {
        // Only what an admin granted to this workflow (for the code being run) is served, from
        // either source: a grant names a secret, not where its value lives.
        self.grants.check(name)?;
        // A workflow secret is an administrator's value for workflows, whatever its name; only the
        // environment holds the platform's own settings, so only that fallback is filtered.
        if let Ok(Some(value)) = self.workflows.secret_value(name).await {
            return Ok(Some(value));
        }
        if is_platform_setting(name) {
            return Ok(None);
        }
        let listed = self.settings.secrets_from_env.iter().any(|n| n == name);
        Ok(if listed { std::env::var(name).ok() } else { None })
    }

    async fn integration(&self, integration: &str, method: &str, args: &[String]) -> Result<Value, String> {
        let subject = args.first().ok_or("the call needs the account")?;
        match integration {
            "okta" => self.okta(method, subject).await,
            "entra" => self.entra(method, subject).await,
            other => Err(format!("no integration '{other}'")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_platform_setting;

    #[test]
    fn platform_settings_are_recognised_by_name_family_and_suffix() {
        for name in ["DATABASE_URL", "ENCRYPTION_KEY_PREVIOUS", "SLACK_SIGNING_SECRET", "OKTA_API_TOKEN"] {
            assert!(is_platform_setting(name), "{name}");
        }
        for name in ["ENTRA_CLIENT_SECRET", "VIRUSTOTAL_API_KEY", "SPLUNK_WEBHOOK_SECRET", "METRICS_TOKEN"] {
            assert!(is_platform_setting(name), "{name}");
        }
        for name in ["API_TOKEN", "PATH", "MY_SERVICE_KEY"] {
            assert!(!is_platform_setting(name), "{name}");
        }
    }
}
