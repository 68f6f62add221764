//! The OpenAPI document is the contract: the values it lists are the values the server accepts,
//! and what it rules out (wrong types, empty typed parameters, bodies that are not objects) the
//! server refuses with the reference's envelope.

use serde_json::{Value, json};

use crate::helpers::*;

async fn document(app: &TestApp) -> Value {
    app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap()
}

fn property<'a>(doc: &'a Value, schema: &str, field: &str) -> &'a Value {
    &doc["components"]["schemas"][schema]["properties"][field]
}

fn listed(values: &Value) -> Vec<Value> {
    values.as_array().cloned().unwrap_or_default()
}

fn names(values: &[&str]) -> Vec<Value> {
    values.iter().map(|v| json!(v)).collect()
}

#[tokio::test]
async fn the_document_lists_exactly_the_values_the_server_accepts() {
    let app = spawn_app().await;
    let doc = document(&app).await;

    let status = property(&doc, "AlertPatchRequest", "status");
    let mut expected = names(&calseta_core::alerts::AlertStatus::names());
    expected.push(Value::Null);
    assert_eq!(listed(&status["enum"]), expected, "{status}");
    let classification = property(&doc, "AlertPatchRequest", "close_classification");
    assert_eq!(
        listed(&classification["enum"]).len(),
        calseta_core::alerts::CloseClassification::ALL.len() + 1
    );

    // Every scope the document offers creates a key; one it does not is refused.
    let scopes = listed(&property(&doc, "CreateApiKeyRequest", "scopes")["items"]["enum"]);
    assert_eq!(scopes, names(&calseta_core::scopes::Scope::names()));
    for scope in &scopes {
        let (code, body) =
            app.post("/v1/api-keys", &app.admin_key, json!({"name": "k", "scopes": [scope]})).await;
        assert_eq!(code, 201, "{scope}: {body}");
    }
    let (code, _) = app.post("/v1/api-keys", &app.admin_key, json!({"name": "k", "scopes": ["root"]})).await;
    assert_eq!(code, 422);

    // Every indicator type and extraction target the document offers makes a mapping.
    let types = listed(&property(&doc, "MappingCreateRequest", "indicator_type")["enum"]);
    let targets = listed(&property(&doc, "MappingCreateRequest", "extraction_target")["enum"]);
    assert_eq!(types.len(), 8);
    assert!(targets.contains(&json!("raw_payload")) && targets.contains(&Value::Null), "{targets:?}");
    let sources = listed(&property(&doc, "TestExtractionRequest", "source_name")["enum"]);
    assert_eq!(sources, names(&["sentinel", "elastic", "splunk", "generic"]));
    for (i, kind) in types.iter().enumerate() {
        for target in &targets {
            let body = json!({"source_name": sources[i % sources.len()], "field_path": format!("f{i}.x"),
                              "indicator_type": kind, "extraction_target": target});
            let (code, answer) = app.post("/v1/indicator-mappings", &app.admin_key, body).await;
            assert!(code == 201 || code == 409, "{kind} {target}: {answer}");
        }
    }

    // The agent body is described field by field, with its two required fields.
    let body = &doc["paths"]["/v1/agents"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["$ref"], "#/components/schemas/AgentCreateBody");
    let agent = &doc["components"]["schemas"]["AgentCreateBody"];
    // With the rule that the auth header's name and value go together beside the fields.
    let fields = &agent["allOf"][0];
    assert_eq!(fields["required"], json!(["name", "endpoint_url"]), "{agent}");
    assert_eq!(fields["properties"]["timeout_seconds"]["maximum"], 300.0);
    assert!(fields["properties"]["signing_secret"]["pattern"].as_str().is_some_and(|p| p.contains("whsec_")));
    // Closing an alert needs a classification in the same request: the fields, and that rule.
    let body =
        &doc["paths"]["/v1/alerts/{uuid}"]["patch"]["requestBody"]["content"]["application/json"]["schema"];
    let patch = &doc["components"]["schemas"]["AlertPatchBody"];
    assert_eq!(body["$ref"], "#/components/schemas/AlertPatchBody");
    assert_eq!(patch["allOf"][0]["$ref"], "#/components/schemas/AlertPatchRequest", "{patch}");
    assert_eq!(patch["allOf"][1]["anyOf"][1]["required"], json!(["close_classification"]), "{patch}");
    // Query timestamps are ISO text or epoch numbers, as the server reads them.
    let params = listed(&doc["paths"]["/v1/alerts"]["get"]["parameters"]);
    let from = params.iter().find(|p| p["name"] == "from_time").unwrap();
    assert_eq!(from["schema"]["anyOf"][0]["format"], "date-time", "{from}");
}

#[tokio::test]
async fn bodies_and_fields_of_the_wrong_type_are_refused() {
    let app = spawn_app().await;
    let key = &app.admin_key;

    // A JSON array is not a body, even where serde could read a struct from it.
    let (_, rule) = app.post("/v1/detection-rules", key, json!({"name": "r"})).await;
    let rule = rule["data"]["uuid"].as_str().unwrap().to_string();
    let resp = app
        .client
        .patch(app.url(&format!("/v1/detection-rules/{rule}")))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body("[null, null]")
        .send()
        .await
        .unwrap();
    let (code, body) = status_json(resp).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["error"]["details"]["errors"][0]["type"], "model_attributes_type");

    // Field-by-field bodies: a wrong type is a located error, not a silent `null`.
    let (code, body) = app
        .post(
            "/v1/sources",
            key,
            json!({"source_name": "sentinel", "display_name": "S", "documentation": {}}),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["error"]["details"]["errors"][0]["loc"], json!(["body", "documentation"]));
    let (code, body) = app
        .post("/v1/sources", key, json!({"source_name": "sentinel", "display_name": "S", "is_active": "yes"}))
        .await;
    assert_eq!(code, 422, "{body}");
    let (code, source) = app
        .post("/v1/sources", key, json!({"source_name": "sentinel", "display_name": "S", "is_active": null}))
        .await;
    assert_eq!(code, 201, "{source}");
    assert_eq!(source["data"]["is_active"], true, "null leaves the default");

    // Builtin providers: unknown fields are ignored like everywhere else; known fixed ones refused.
    let (_, providers) = app.get("/v1/enrichment-providers?page_size=100", key).await;
    let builtin = providers["data"].as_array().unwrap().iter().find(|p| p["is_builtin"] == true).unwrap();
    let uuid = builtin["uuid"].as_str().unwrap();
    let path = format!("/v1/enrichment-providers/{uuid}");
    let (code, body) = app.patch(&path, key, json!({"is_active": false, "no_such_field": 1})).await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = app.patch(&path, key, json!({"display_name": "Mine"})).await;
    assert_eq!((code, body["error"]["code"].as_str()), (400, Some("BUILTIN_RESTRICTED")), "{body}");
    let (code, body) = app.patch(&path, key, json!({"is_active": "no"})).await;
    assert_eq!(code, 422, "{body}");

    // A provider test needs a value; an extraction's paths cannot be emptied.
    let (code, body) =
        app.post(&format!("{path}/test"), key, json!({"indicator_type": "ip", "indicator_value": " "})).await;
    assert_eq!(code, 422, "{body}");
    let (_, extractions) = app.get("/v1/enrichment-field-extractions?page_size=1", key).await;
    let provider = extractions["data"][0]["provider_name"].as_str().unwrap().to_string();
    let (code, created) = app
        .post(
            "/v1/enrichment-field-extractions",
            key,
            json!({"provider_name": provider, "indicator_type": "ip", "source_path": "a.b", "target_key": "ab"}),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let extraction =
        format!("/v1/enrichment-field-extractions/{}", created["data"]["uuid"].as_str().unwrap());
    for field in ["source_path", "target_key"] {
        let (code, body) = app.patch(&extraction, key, json!({field: ""})).await;
        assert_eq!(code, 422, "{field}: {body}");
    }
}

#[tokio::test]
async fn typed_query_parameters_sent_empty_are_refused() {
    let app = spawn_app().await;
    let key = app.key_with(&["alerts:read"]).await;
    for query in [
        "detection_rule_uuid=",
        "from_time=",
        "to_time=",
        "is_enriched=",
        "page=",
        "page_size=",
        "to_time=253402300800000",
    ] {
        let (code, body) = app.get(&format!("/v1/alerts?{query}"), &key).await;
        assert_eq!(code, 422, "{query}: {body}");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    }
    // Free-text filters sent empty filter nothing.
    for query in ["status=", "source_name=", "tags=", "from_time=1700000000", "to_time=2026-01-01T00:00:00Z"]
    {
        let (code, body) = app.get(&format!("/v1/alerts?{query}"), &key).await;
        assert_eq!(code, 200, "{query}: {body}");
    }
}
