//! Detection rules, context documents chosen by targeting rules, and past alerts.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::ingest::ingest_and_wait;

const RULE_UUID: &str = "c0ffee00-1111-4222-8333-444455556666";

fn travel_alert(ip: &str, when: &str) -> String {
    json!({
        "kibana.alert.rule": {"name": "Impossible Travel Detected", "severity": "high", "uuid": RULE_UUID},
        "@timestamp": when,
        "source": {"ip": ip},
        "user": {"email": "nick.hathaway@calseta.com", "name": "nick.hathaway"},
    })
    .to_string()
}

#[tokio::test]
async fn detection_rules_are_managed_and_linked() {
    let app = spawn_app().await;
    let key = app.admin_key.clone();
    let rule = json!({
        "name": "Impossible Travel", "source_name": "elastic", "source_rule_id": RULE_UUID, "severity": "High",
        "mitre_tactics": ["TA0001"], "mitre_techniques": ["T1078"], "mitre_subtechniques": ["T1078.004"],
        "data_sources": ["Okta"], "documentation": "# Impossible Travel\nTwo logins too far apart.",
    });
    let (status, body) = app.post("/v1/detection-rules", &key, rule.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["created_by"], key[..8]);
    let uuid = body["data"]["uuid"].as_str().unwrap().to_string();
    let (status, body) = app.post("/v1/detection-rules", &key, rule).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("DUPLICATE_DETECTION_RULE")));
    let (status, _) = app.post("/v1/detection-rules", &key, json!({"name": ""})).await;
    assert_eq!(status, 422);

    let detail =
        ingest_and_wait(&app, "elastic", &travel_alert("185.220.101.47", "2026-04-11T10:00:00Z")).await;
    assert_eq!(
        detail["data"]["detection_rule"]["uuid"],
        uuid.as_str(),
        "no stub: the existing rule is linked"
    );
    assert_eq!(detail["data"]["detection_rule"]["mitre_techniques"], json!(["T1078"]));
    assert!(
        detail["data"]["detection_rule"]["documentation"]
            .as_str()
            .unwrap()
            .starts_with("# Impossible Travel")
    );

    // A stub from ingest is enriched in place.
    let other =
        ingest_and_wait(&app, "generic", &json!({"title": "x", "rule_id": "GEN-7"}).to_string()).await;
    let stub = other["data"]["detection_rule"]["uuid"].as_str().unwrap().to_string();
    let (status, body) = app
        .patch(
            &format!("/v1/detection-rules/{stub}"),
            &key,
            json!({"name": "Generic rule 7", "mitre_tactics": ["TA0002"], "documentation": "docs"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["data"]["name"].as_str(), body["data"]["source_rule_id"].as_str()),
        (Some("Generic rule 7"), Some("GEN-7"))
    );

    let (_, list) = app.get("/v1/detection-rules?sort_by=name&sort_order=asc", &key).await;
    let names: Vec<&str> =
        list["data"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Generic rule 7", "Impossible Travel"]);
    let (_, list) = app.get("/v1/detection-rules?source_name=elastic", &key).await;
    assert_eq!(list["meta"]["total"], 1);
    let (status, _) = app.get("/v1/detection-rules?sort_by=color", &key).await;
    assert_eq!(status, 400);
    let reader = app.key_with(&["alerts:read"]).await;
    let (status, _) = app.get(&format!("/v1/detection-rules/{uuid}"), &reader).await;
    assert_eq!(status, 200);
    let (status, _) = app.patch(&format!("/v1/detection-rules/{uuid}"), &reader, json!({"name": "x"})).await;
    assert_eq!(status, 403);

    let (status, _) = app.delete(&format!("/v1/detection-rules/{uuid}"), &key).await;
    assert_eq!(status, 204);
    let alert = detail["data"]["uuid"].as_str().unwrap();
    let (_, after) = app.get(&format!("/v1/alerts/{alert}"), &key).await;
    assert_eq!(after["data"]["detection_rule"], Value::Null);
}

#[tokio::test]
async fn context_documents_are_chosen_by_targeting_rules() {
    let app = spawn_app().await;
    let key = app.admin_key.clone();
    let create = |body: Value| app.post("/v1/context-documents", &key, body);
    let (status, body) = create(json!({"title": "Bad", "document_type": "novel", "content": "x", "targeting_rules": {"match_none": [], "match_any": [{"field": "title", "op": "like"}]}})).await;
    assert_eq!(status, 422, "{body}");
    let messages: Vec<String> = body["error"]["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["msg"].as_str().unwrap().to_string())
        .collect();
    assert!(messages.iter().any(|m| m.contains("document_type")), "{messages:?}");
    let targeting = messages.iter().find(|m| m.contains("match_none")).expect("targeting problems");
    assert!(
        targeting.contains("field") && targeting.contains("missing 'value'"),
        "every problem listed: {targeting}"
    );

    let (status, runbook) = create(json!({"title": "Account Compromise Runbook", "document_type": "runbook", "content": "1. Revoke sessions",
        "targeting_rules": {"match_any": [{"field": "severity", "op": "in", "value": ["High", "Critical"]}]}})).await;
    assert_eq!(status, 201, "{runbook}");
    let (_, plan) = create(json!({"title": "Company IR Plan", "document_type": "ir_plan", "is_global": true, "content": "Call the IR lead."})).await;
    let (_, _sop) = create(json!({"title": "Sentinel SOP", "document_type": "sop", "content": "x", "targeting_rules": {"match_all": [{"field": "source_name", "op": "eq", "value": "sentinel"}]}})).await;
    let (_, guide) = create(json!({"title": "Medium and up", "document_type": "detection_guide", "content": "x", "targeting_rules": {"match_all": [{"field": "severity", "op": "gte", "value": "Medium"}]}})).await;

    let detail =
        ingest_and_wait(&app, "elastic", &travel_alert("185.220.101.47", "2026-04-11T10:00:00Z")).await;
    let titles: Vec<&str> = detail["data"]["context_documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["Company IR Plan", "Medium and up", "Account Compromise Runbook"],
        "global first, then by type"
    );
    assert_eq!(detail["meta"]["context_documents_applied"], 3);
    assert_eq!(detail["data"]["context_documents"][2]["content"], "1. Revoke sessions");
    let alert = detail["data"]["uuid"].as_str().unwrap();
    let (status, context) = app.get(&format!("/v1/alerts/{alert}/context"), &key).await;
    assert_eq!(status, 200);
    assert_eq!(context["data"].as_array().unwrap().len(), 3);
    assert!(context["meta"]["past_alerts"].is_array());

    let low = ingest_and_wait(&app, "generic", &json!({"title": "low", "severity": "low"}).to_string()).await;
    let titles: Vec<&str> = low["data"]["context_documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Company IR Plan"]);

    let runbook_uuid = runbook["data"]["uuid"].as_str().unwrap();
    let (_, patched) = app
        .patch(
            &format!("/v1/context-documents/{runbook_uuid}"),
            &key,
            json!({"content": "1. Revoke sessions\n2. Reset password"}),
        )
        .await;
    assert_eq!(patched["data"]["version"], 2);
    let (_, patched) = app
        .patch(
            &format!("/v1/context-documents/{runbook_uuid}"),
            &key,
            json!({"title": "Account Compromise Runbook v2"}),
        )
        .await;
    assert_eq!(patched["data"]["version"], 2, "only content changes bump the version");
    let (_, list) = app
        .get("/v1/context-documents?document_type=runbook,ir_plan&sort_by=title&sort_order=asc", &key)
        .await;
    assert_eq!(list["meta"]["total"], 2);
    assert!(list["data"][0].get("content").is_none(), "lists omit content");
    let guide_uuid = guide["data"]["uuid"].as_str().unwrap();
    let (status, _) = app.delete(&format!("/v1/context-documents/{guide_uuid}"), &key).await;
    assert_eq!(status, 204);
    let (_, after) = app.get(&format!("/v1/alerts/{alert}"), &key).await;
    assert_eq!(after["meta"]["context_documents_applied"], 2);
    let _ = plan;
}

#[tokio::test]
async fn past_alerts_share_enrichable_indicators() {
    let app = spawn_app().await;
    let key = app.admin_key.clone();
    let older = ingest_and_wait(&app, "generic", &json!({"title": "Impossible Travel Detected", "occurred_at": "2024-09-17T09:14:00Z", "src_ip": "185.220.101.47", "ip": "10.0.0.5"}).to_string()).await;
    let newer = ingest_and_wait(&app, "generic", &json!({"title": "Impossible Travel Detected", "occurred_at": "2024-11-03T14:22:00Z", "src_ip": "91.108.56.130", "email": "nick.hathaway@calseta.com"}).to_string()).await;
    let unrelated = ingest_and_wait(
        &app,
        "generic",
        &json!({"title": "Printer offline", "occurred_at": "2024-12-01T00:00:00Z", "ip": "10.0.0.5"})
            .to_string(),
    )
    .await;
    let older_uuid = older["data"]["uuid"].as_str().unwrap();
    let newer_uuid = newer["data"]["uuid"].as_str().unwrap();
    let (status, _) = app.patch(&format!("/v1/alerts/{older_uuid}"), &key, json!({"status": "Closed", "close_classification": "Benign Positive - Suspicious but Expected", "close_notes": "VPN exit node. User confirmed travel. INC-2601."})).await;
    assert_eq!(status, 200);
    app.post(
        &format!("/v1/alerts/{newer_uuid}/findings"),
        &key,
        json!({"agent_name": "triage", "summary": "Confirmed malicious. Sessions revoked. INC-2847."}),
    )
    .await;
    app.patch(
        &format!("/v1/alerts/{newer_uuid}"),
        &key,
        json!({"status": "Closed", "close_classification": "True Positive - Suspicious Activity"}),
    )
    .await;

    let current = ingest_and_wait(&app, "generic", &json!({"title": "Impossible Travel Detected", "occurred_at": "2026-04-11T10:00:00Z", "src_ip": "185.220.101.47", "email": "nick.hathaway@calseta.com", "ip": "10.0.0.5"}).to_string()).await;
    let past = current["data"]["past_alerts"].as_array().unwrap();
    let uuids: Vec<&str> = past.iter().map(|p| p["uuid"].as_str().unwrap()).collect();
    assert_eq!(uuids, [newer_uuid, older_uuid], "newest first; a shared private IP links nothing");
    assert_eq!(past[0]["close_classification"], "True Positive - Suspicious Activity");
    assert_eq!(
        past[0]["analyst_notes"], "Confirmed malicious. Sessions revoked. INC-2847.",
        "latest finding when no close notes"
    );
    assert_eq!(past[0]["indicators"], json!([{"type": "email", "value": "nick.hathaway@calseta.com"}]));
    assert_eq!(past[1]["analyst_notes"], "VPN exit node. User confirmed travel. INC-2601.");
    assert_eq!(past[1]["status"], "Closed");
    assert!(past[1]["closed_at"].is_string());
    assert_eq!(past[1]["indicators"], json!([{"type": "ip", "value": "185.220.101.47"}]));
    let unrelated_uuid = unrelated["data"]["uuid"].as_str().unwrap();
    let (_, u) = app.get(&format!("/v1/alerts/{unrelated_uuid}"), &key).await;
    assert_eq!(u["data"]["past_alerts"], json!([]));
}

pub(crate) fn minimal_pdf(text: &str) -> Vec<u8> {
    let stream = format!("BT /F1 24 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1)
            .as_bytes(),
    );
    pdf
}

pub(crate) fn minimal_docx() -> Vec<u8> {
    use std::io::Write;
    let mut buffer = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buffer);
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("word/document.xml", options).unwrap();
    zip.write_all(br#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>
        <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Ransomware Playbook</w:t></w:r></w:p>
        <w:p><w:r><w:t>Disconnect the host</w:t></w:r><w:r><w:t xml:space="preserve"> &amp; call IR.</w:t></w:r></w:p>
        </w:body></w:document>"#).unwrap();
    zip.finish().unwrap();
    buffer.into_inner()
}

async fn upload(app: &TestApp, filename: &str, bytes: Vec<u8>, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new()
        .text("title", format!("From {filename}"))
        .text("document_type", "playbook")
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()));
    for (k, v) in extra {
        form = form.text(k.to_string(), v.to_string());
    }
    post_form(app, form).await
}

async fn post_form(app: &TestApp, form: reqwest::multipart::Form) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/v1/context-documents"))
        .bearer_auth(&app.admin_key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    status_json(resp).await
}

#[tokio::test]
async fn uploads_are_converted_to_markdown_in_isolation() {
    let app = spawn_app().await;
    let (status, body) = upload(
        &app,
        "runbook.md",
        b"# Runbook\n\n1. Revoke sessions".to_vec(),
        &[("tags", "identity, tor"), ("is_global", "yes")],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["content"], "# Runbook\n\n1. Revoke sessions");
    assert_eq!(
        (body["data"]["tags"].clone(), body["data"]["is_global"].clone()),
        (json!(["identity", "tor"]), json!(true))
    );

    let (status, body) = upload(
        &app,
        "plan.html",
        b"<html><body><h2>Containment</h2><ul><li>Isolate</li></ul></body></html>".to_vec(),
        &[("targeting_rules", r#"{"match_any": [{"field": "severity", "op": "eq", "value": "High"}]}"#)],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["data"]["content"].as_str().unwrap().contains("## Containment"), "{body}");
    assert_eq!(body["data"]["targeting_rules"]["match_any"][0]["value"], "High");

    let (status, body) = upload(&app, "playbook.docx", minimal_docx(), &[]).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["content"], "# Ransomware Playbook\n\nDisconnect the host & call IR.");

    let (status, body) = upload(&app, "sop.pdf", minimal_pdf("Isolate the host"), &[]).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["data"]["content"].as_str().unwrap().contains("Isolate the host"), "{body}");

    let mut corrupt = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\n".to_vec();
    corrupt.extend((0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    let (status, body) = upload(&app, "broken.pdf", corrupt, &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("UNSUPPORTED_FORMAT")), "{body}");
    let (status, body) = upload(&app, "tool.exe", b"MZ\x90\x00".to_vec(), &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("UNSUPPORTED_FORMAT")), "{body}");
    let (status, _) = upload(&app, "bad.md", b"x".to_vec(), &[("targeting_rules", "{not json")]).await;
    assert_eq!(status, 422);
    let (status, _) = upload(&app, "bad.md", b"x".to_vec(), &[("document_type", "")]).await;
    assert_eq!(status, 422);
    let form = reqwest::multipart::Form::new()
        .text("document_type", "sop")
        .part("file", reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("a.md"));
    let (status, body) = post_form(&app, form).await;
    assert_eq!(
        (status, body["error"]["details"]["errors"][0]["loc"].clone()),
        (422, json!(["body", "title"]))
    );
    let (status, body) = upload(&app, "huge.txt", vec![b'a'; 11 * 1024 * 1024], &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("PAYLOAD_TOO_LARGE")), "{body}");
    // The server is still healthy after all of that.
    let (_, health) = app.get("/health", "").await;
    assert_eq!(health["status"], "ok");
}
