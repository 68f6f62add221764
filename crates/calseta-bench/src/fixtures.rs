//! SIEM fixtures as alert templates: loading `*.json` payloads from directories, recognising their
//! source by shape, and the fallback indicators of a payload (its IPv4 addresses).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use calseta_core::indicators::IndicatorType;
use serde_json::{Value, json};

/// A SIEM payload to clone alerts from.
#[derive(Debug, Clone)]
pub struct Template {
    /// The ingest source: `sentinel`, `elastic`, `splunk` or `generic`.
    pub source: String,
    /// The payload as found in the fixture.
    pub payload: Value,
    /// The indicators (type, normalized value) replaced per alert: what the server extracts from
    /// the payload when asked, else the payload's IPv4 addresses ([`addresses_of`]).
    pub indicators: Vec<(IndicatorType, String)>,
    /// The first fixture of each source drives the per-source runs.
    pub primary: bool,
}

/// Loads `*.json` fixtures (recursively) and recognises their source by shape; adds a generic
/// template when the fixtures hold none, and fails when fewer than two templates result.
pub fn load_templates(dirs: &[PathBuf]) -> Result<Vec<Template>, String> {
    let mut files = Vec::new();
    for dir in dirs {
        collect_json(dir, &mut files);
    }
    files.sort();
    let mut templates: Vec<Template> = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let Ok(payload @ Value::Object(_)) = serde_json::from_str::<Value>(&text) else { continue };
        let Some(source) = source_of(&payload) else { continue };
        let indicators = addresses_of(&payload);
        let primary = !templates.iter().any(|t| t.source == source);
        templates.push(Template { source: source.into(), payload, indicators, primary });
    }
    if !templates.iter().any(|t| t.source == "generic") {
        let payload = json!({"title": "Impossible Travel Detected", "severity": "High", "occurred_at": "2026-04-11T10:00:00Z",
            "src_ip": "185.220.101.47", "email": "nick.hathaway@calseta.com", "domain": "login-portal.example.net"});
        let indicators = addresses_of(&payload);
        templates.push(Template { source: "generic".into(), payload, indicators, primary: true });
    }
    if templates.len() < 2 {
        return Err(format!("no SIEM fixtures found in {dirs:?} (pass --fixtures DIR)"));
    }
    Ok(templates)
}

/// The ingest source a payload's shape belongs to, if any.
pub fn source_of(payload: &Value) -> Option<&'static str> {
    if payload.get("properties").is_some() {
        Some("sentinel")
    } else if payload.get("kibana.alert.rule.name").is_some()
        || payload.pointer("/kibana/alert/rule/name").is_some()
    {
        Some("elastic")
    } else if payload.get("result").is_some()
        && (payload.get("search_name").is_some() || payload.get("sid").is_some())
    {
        Some("splunk")
    } else if payload.get("title").is_some() {
        Some("generic")
    } else {
        None
    }
}

/// The distinct IPv4 addresses of a payload, as `ip` indicators.
pub fn addresses_of(payload: &Value) -> Vec<(IndicatorType, String)> {
    fn collect(value: &Value, out: &mut Vec<(IndicatorType, String)>) {
        match value {
            Value::String(s) if s.parse::<Ipv4Addr>().is_ok() && !out.iter().any(|(_, a)| a == s) => {
                out.push((IndicatorType::Ip, s.clone()))
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            Value::Object(map) => map.values().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    collect(payload, &mut out);
    out
}

fn collect_json(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                collect_json(&entry.path(), out);
            }
        }
    } else if path.extension().is_some_and(|e| e == "json") {
        out.push(path.to_path_buf());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_recognised_by_shape() {
        assert_eq!(source_of(&json!({"properties": {"title": "T"}})), Some("sentinel"));
        assert_eq!(source_of(&json!({"kibana.alert.rule.name": "R"})), Some("elastic"));
        assert_eq!(source_of(&json!({"kibana": {"alert": {"rule": {"name": "R"}}}})), Some("elastic"));
        assert_eq!(source_of(&json!({"result": {}, "sid": "s"})), Some("splunk"));
        assert_eq!(source_of(&json!({"title": "T"})), Some("generic"));
        assert_eq!(source_of(&json!({"something": "else"})), None);
    }

    #[test]
    fn addresses_are_distinct_and_only_ipv4() {
        let payload = json!({"a": "10.0.0.1", "b": ["10.0.0.1", "8.8.8.8"], "c": {"d": "not an ip"}});
        let found: Vec<String> = addresses_of(&payload).into_iter().map(|(_, a)| a).collect();
        assert_eq!(found, ["10.0.0.1", "8.8.8.8"]);
    }
}
