//! Chat transports for notifications: Slack's Web API (`chat.postMessage`, `chat.update`) and a
//! Microsoft Teams incoming webhook, both through the SSRF-safe client. They carry messages; what
//! the messages say is the caller's business.

use std::time::Duration;

use serde_json::Value;

use crate::platform::outbound::{OutboundClient, OutboundError, error_text, read_capped};

/// The most of a chat service's answer that is read.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Slack's Web API with a bot token.
#[derive(Clone)]
pub struct SlackApi {
    http: OutboundClient,
    /// `SLACK_API_BASE_URL` (`https://slack.com/api`).
    base_url: String,
    bot_token: String,
}

impl SlackApi {
    /// A client of the Web API at `base_url`.
    pub fn new(http: OutboundClient, base_url: &str, bot_token: &str) -> Self {
        SlackApi {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            bot_token: bot_token.to_string(),
        }
    }

    /// Calls a Web API method with a JSON body; Slack's answer when it says `ok: true`.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, String> {
        let url = self.http.check_destination(&format!("{}/{method}", self.base_url), false).await?;
        let request = self
            .http
            .client(false)
            .post(url)
            .bearer_auth(&self.bot_token)
            .timeout(Duration::from_secs(10))
            .json(body);
        let response = request.send().await.map_err(error_text)?;
        let status = response.status();
        let answer: Value = serde_json::from_slice(&read_bounded(response).await?)
            .map_err(|_| format!("Slack {method} answered HTTP {status} without JSON"))?;
        if answer.get("ok").and_then(Value::as_bool) == Some(true) {
            Ok(answer)
        } else {
            let error = answer.get("error").and_then(Value::as_str).unwrap_or("unknown error");
            Err(format!("Slack {method} failed: {error} (HTTP {status})"))
        }
    }
}

/// A Teams incoming webhook.
#[derive(Clone)]
pub struct TeamsWebhook {
    http: OutboundClient,
    url: String,
}

impl TeamsWebhook {
    /// The webhook at `url` (`TEAMS_WEBHOOK_URL`).
    pub fn new(http: OutboundClient, url: &str) -> Self {
        TeamsWebhook { http, url: url.to_string() }
    }

    /// Posts one message (an Adaptive Card attachment); Teams accepts with 200, 201 or 202.
    pub async fn post(&self, message: &Value) -> Result<(), String> {
        let url = self.http.check_destination(&self.url, false).await?;
        let response = self
            .http
            .client(false)
            .post(url)
            .timeout(Duration::from_secs(15))
            .json(message)
            .send()
            .await
            .map_err(error_text)?;
        let status = response.status().as_u16();
        if matches!(status, 200..=202) {
            Ok(())
        } else {
            Err(format!("Teams webhook answered HTTP {status}"))
        }
    }
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    read_capped(&mut response, MAX_ANSWER_BYTES).await.map_err(|e| match e {
        OutboundError::TooLarge { max } => format!("answer larger than {} KiB", max / 1024),
        other => other.causes(),
    })
}
