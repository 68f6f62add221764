//! Extraction coverage: for every repo fixture (each written the way its vendor documents the
//! payload: ECS `related.*` and `threat.enrichments`, Sentinel entity references, Splunk CIM
//! results, generic observable lists), the dry run's de-duplicated indicators with the field and
//! pass that found each, snapshotted; and the switches of the free-text pass.

use std::path::Path;

use serde_json::{Value, json};

use crate::helpers::*;

async fn dry_run(app: &TestApp, source: &str, payload: &Value) -> Value {
    let (status, body) = app
        .post(
            "/v1/indicator-mappings/test-extraction",
            &app.admin_key,
            json!({"source_name": source, "raw_payload": payload}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn found(dry: &Value) -> Vec<Value> {
    dry["deduplicated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| json!([i["type"], i["value"], i["source_field"], i["pass"]]))
        .collect()
}

#[tokio::test]
async fn every_indicator_is_found_once_with_its_field_and_pass() {
    let app = spawn_app().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seen = 0;
    for source in ["sentinel", "elastic", "splunk", "generic"] {
        let mut files: Vec<_> =
            std::fs::read_dir(root.join(source)).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let payload: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            let dry = dry_run(&app, source, &payload).await;
            let list = found(&dry);
            // Each (type, value) once.
            let mut keys: Vec<(String, String)> =
                list.iter().map(|i| (i[0].to_string(), i[1].to_string())).collect();
            keys.sort();
            let before = keys.len();
            keys.dedup();
            assert_eq!(before, keys.len(), "{}: duplicates", file.display());
            let name = format!("extraction__{source}__{}", file.file_stem().unwrap().to_string_lossy());
            insta::assert_json_snapshot!(name, list);
            seen += 1;
        }
    }
    assert!(seen >= 13, "{seen}");
}

#[tokio::test]
async fn the_free_text_pass_is_switched_by_free_text_mappings() {
    let app = spawn_app().await;
    let payload = json!({"title": "Beacon", "description": "callback to hxxp://c2.example-bad[.]com/x from 203.0.113.9",
                         "notes": {"analyst": "also seen: evil-mirror[.]org"}});
    let urls = |dry: &Value| -> Vec<String> {
        dry["deduplicated"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["value"].as_str().unwrap().to_string())
            .collect()
    };
    let dry = dry_run(&app, "generic", &payload).await;
    assert_eq!(urls(&dry), ["http://c2.example-bad.com/x", "203.0.113.9"]);
    assert_eq!(dry["passes"][3]["pass_name"], "free_text");

    // A field of the payload's own, added as free text, keeping domains only.
    let mapping = |path: &str, kind: &str, source: Option<&str>, active: bool| {
        json!({"field_path": path, "indicator_type": kind, "extraction_target": "free_text",
               "source_name": source, "is_active": active})
    };
    let (status, body) = app
        .post("/v1/indicator-mappings", &app.admin_key, mapping("notes.analyst", "domain", None, true))
        .await;
    assert_eq!(status, 201, "{body}");
    let dry = dry_run(&app, "generic", &payload).await;
    assert_eq!(urls(&dry), ["http://c2.example-bad.com/x", "203.0.113.9", "evil-mirror.org"]);

    // Off for one of the source's own fields (per mapping)...
    let (status, off) = app
        .post("/v1/indicator-mappings", &app.admin_key, mapping("description", "url", Some("generic"), false))
        .await;
    assert_eq!(status, 201, "{off}");
    let dry = dry_run(&app, "generic", &payload).await;
    assert_eq!(urls(&dry), ["evil-mirror.org"]);
    app.delete(&format!("/v1/indicator-mappings/{}", off["data"]["uuid"].as_str().unwrap()), &app.admin_key)
        .await;

    // ...and off for the whole source ('*' stands for its own fields).
    let (status, body) =
        app.post("/v1/indicator-mappings", &app.admin_key, mapping("*", "url", Some("generic"), false)).await;
    assert_eq!(status, 201, "{body}");
    let dry = dry_run(&app, "generic", &payload).await;
    assert_eq!(urls(&dry), ["evil-mirror.org"]);
    let dry =
        dry_run(&app, "elastic", &json!({"kibana.alert.rule.name": "x", "message": "to 203.0.113.9"})).await;
    assert_eq!(urls(&dry), ["203.0.113.9"], "other sources keep the pass");

    // '*' is a free-text path only.
    let (status, body) = app
        .post(
            "/v1/indicator-mappings",
            &app.admin_key,
            mapping("*", "ip", None, true)
                .as_object()
                .map(|m| {
                    let mut m = m.clone();
                    m.insert("extraction_target".into(), json!("raw_payload"));
                    Value::Object(m)
                })
                .unwrap(),
        )
        .await;
    assert_eq!(status, 422, "{body}");
}
