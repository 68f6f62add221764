//! Tokens per agent payload, per profile: a sandbox-mode server on its own fresh database seeds
//! the five case-study alerts (mock enrichment), and each alert's `full` and `compact` payloads are
//! counted with the cl100k tokenizer (built into `tiktoken-rs`, so this runs offline).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::Target;
use crate::server::{Launcher, free_port};

/// The sandbox's public read-only key.
const READ_KEY: &str = "cai_sandbox_demo_key_not_for_production";

async fn get(target: &Target, path: &str) -> Result<Value, String> {
    let response = target
        .client
        .get(format!("{}{path}", target.base))
        .bearer_auth(READ_KEY)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    response.json().await.map_err(|e| e.to_string())
}

/// The tokens of each sandbox alert's payload in both profiles; the report's `payload_tokens`.
pub(crate) async fn measure(workdir: &Path) -> Result<Value, String> {
    let bpe = tiktoken_rs::cl100k_base().map_err(|e| format!("cannot load the cl100k tokenizer: {e}"))?;
    let port = free_port()?;
    let database = format!("sqlite://{}", workdir.join("sandbox.db").display());
    let launcher = Launcher::new(&database, false, port, workdir)?.with_env("SANDBOX_MODE", "true");
    let key = launcher.create_admin_key().await?;
    let client = reqwest::Client::builder().build().map_err(|e| e.to_string())?;
    let target = Target { client, base: format!("http://127.0.0.1:{port}"), key };
    let (mut fleet, _) = launcher.start(&target, 0).await?;
    let started = Instant::now();
    let alerts = loop {
        let list = get(&target, "/v1/alerts?page_size=50").await?;
        let alerts = list["data"].as_array().cloned().unwrap_or_default();
        if alerts.len() == 5
            && alerts
                .iter()
                .all(|a| a["enrichment_status"] == calseta_core::alerts::EnrichmentStatus::Enriched.as_str())
        {
            break alerts;
        }
        if started.elapsed() > Duration::from_secs(60) {
            fleet.kill().await;
            return Err("the sandbox alerts were not enriched within a minute".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut rows = Vec::new();
    for alert in alerts {
        let uuid = alert["uuid"].as_str().unwrap_or_default();
        let full = get(&target, &format!("/v1/alerts/{uuid}/payload")).await?;
        let compact = get(&target, &format!("/v1/alerts/{uuid}/payload?profile=compact")).await?;
        let (full_tokens, compact_tokens) = (
            bpe.encode_with_special_tokens(&full.to_string()).len(),
            bpe.encode_with_special_tokens(&compact.to_string()).len(),
        );
        println!("payload tokens: {} — full {full_tokens}, compact {compact_tokens}", alert["title"]);
        rows.push(json!({"title": alert["title"], "full": full_tokens, "compact": compact_tokens}));
    }
    fleet.kill().await;
    Ok(Value::Array(rows))
}
