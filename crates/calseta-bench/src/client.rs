//! The server under test as a client sees it: authenticated requests, single ingests, the
//! extraction dry run, and waiting until the worker has caught up.

use std::time::{Duration, Instant};

use calseta_core::indicators::IndicatorType;
use serde_json::{Value, json};

/// The server under test, as a client sees it.
pub(crate) struct Target {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    pub(crate) key: String,
}

impl Target {
    /// Sends a request with the admin key; the answer's status and JSON body (`null` if none).
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// Ingests one alert; its UUID.
    pub(crate) async fn ingest(&self, source: &str, body: Vec<u8>) -> Result<String, String> {
        let response = self
            .client
            .post(format!("{}/v1/ingest/{source}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("ingest: {e}"))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.map_err(|e| format!("ingest answer: {e}"))?;
        match body["data"]["alert_uuid"].as_str() {
            Some(uuid) if status == 202 => Ok(uuid.to_string()),
            _ => Err(format!("ingest answered {status}: {body}")),
        }
    }

    /// The indicators (type, normalized value) the server extracts from `payload` of `source`
    /// (the extraction dry run); `None` when the source refuses the payload.
    pub(crate) async fn extracted_indicators(
        &self,
        source: &str,
        payload: &Value,
    ) -> Result<Option<Vec<(IndicatorType, String)>>, String> {
        let body = json!({"source_name": source, "raw_payload": payload});
        let (status, report) =
            self.send(reqwest::Method::POST, "/v1/indicator-mappings/test-extraction", Some(body)).await?;
        if status != 200 {
            return Ok(None);
        }
        Ok(Some(
            report["data"]["deduplicated"]
                .as_array()
                .map(|found| {
                    found
                        .iter()
                        .filter_map(|i| {
                            let kind = IndicatorType::parse(i["type"].as_str()?).ok()?;
                            Some((kind, i["value"].as_str()?.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ))
    }

    /// How many alerts still wait for enrichment.
    pub(crate) async fn pending_alerts(&self) -> Result<i64, String> {
        let (_, body) =
            self.send(reqwest::Method::GET, "/v1/alerts?enrichment_status=Pending&page_size=1", None).await?;
        body["meta"]["total"].as_i64().ok_or_else(|| format!("unexpected alert list: {body}"))
    }

    /// Waits until the worker has enriched everything ingested so far.
    pub(crate) async fn drain(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            if self.pending_alerts().await? == 0 {
                let (_, health) = self.send(reqwest::Method::GET, "/health", None).await?;
                if health["queue_depth"].as_i64() == Some(0) {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("the worker did not drain the queue within 10 minutes".into())
    }
}
