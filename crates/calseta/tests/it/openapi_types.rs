//! Every success response in the OpenAPI document has a typed schema: no 2xx `application/json`
//! body is a bare `{"type": "object"}` (nor an envelope whose `data` is one).

use serde_json::{Value, json};

use crate::helpers::*;

/// Follows a `$ref` into `components/schemas`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// A schema that says only "an object": no properties, reference or composition.
fn is_bare_object(schema: &Value) -> bool {
    let Some(map) = schema.as_object() else { return false };
    let typed = |key: &str| map.contains_key(key);
    let is_object = match map.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        None => map.is_empty(),
        _ => false,
    };
    is_object
        && !typed("properties")
        && !typed("$ref")
        && !typed("allOf")
        && !typed("oneOf")
        && !typed("anyOf")
        && !typed("additionalProperties")
}

fn untyped(doc: &Value, schema: &Value) -> bool {
    if is_bare_object(schema) {
        return true;
    }
    let resolved = resolve(doc, schema);
    if is_bare_object(resolved) {
        return true;
    }
    match resolved["properties"].get("data") {
        Some(data) => {
            let data = resolve(doc, data);
            is_bare_object(data) || data.get("items").is_some_and(|items| is_bare_object(resolve(doc, items)))
        }
        None => false,
    }
}

#[tokio::test]
async fn every_success_response_has_a_typed_schema() {
    let app = spawn_app().await;
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut total = 0;
    let mut bare = Vec::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            let Some(responses) = operation["responses"].as_object() else { continue };
            for (status, response) in responses {
                if !status.starts_with('2') {
                    continue;
                }
                let Some(schema) = response.pointer("/content/application~1json/schema") else { continue };
                total += 1;
                if untyped(&doc, schema) {
                    bare.push(format!("{method} {path} {status}"));
                }
            }
        }
    }
    println!("{} of {total} success responses are untyped:", bare.len());
    for route in &bare {
        println!("  {route}");
    }
    assert!(bare.is_empty(), "{} untyped success responses: {bare:#?}", bare.len());
}

/// Where `value` departs from `schema`: unknown or missing properties, wrong types, a `null`
/// the schema does not allow.
fn departures(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array() {
            let fits = options.iter().any(|option| {
                let mut errors = Vec::new();
                departures(doc, option, value, at, &mut errors);
                errors.is_empty()
            });
            if !fits {
                out.push(format!("{at}: fits none of {key} ({value})"));
            }
            return;
        }
    }
    if let Some(parts) = schema["allOf"].as_array() {
        for part in parts {
            departures(doc, part, value, at, out);
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let allows = |t: &str| types.is_empty() || types.contains(&t);
    match value {
        Value::Null if !types.is_empty() && !types.contains(&"null") && schema["nullable"] != true => {
            out.push(format!("{at}: null where the schema says {types:?}"));
        }
        Value::Bool(_) if !allows("boolean") => out.push(format!("{at}: boolean where {types:?}")),
        Value::String(_) if !allows("string") => out.push(format!("{at}: string where {types:?}")),
        Value::Number(n) if !(allows("number") || (allows("integer") && (n.is_i64() || n.is_u64()))) => {
            out.push(format!("{at}: number {n} where {types:?}"))
        }
        Value::Array(items) => {
            if !allows("array") {
                out.push(format!("{at}: array where {types:?}"));
            }
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    departures(doc, item, v, &format!("{at}[{i}]"), out);
                }
            }
        }
        Value::Object(fields) => {
            if !allows("object") {
                out.push(format!("{at}: object where {types:?}"));
            }
            let properties = schema["properties"].as_object();
            for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !fields.contains_key(required) {
                    out.push(format!("{at}.{required}: required but missing"));
                }
            }
            for (key, v) in fields {
                match (properties.and_then(|p| p.get(key)), schema.get("additionalProperties")) {
                    (Some(property), _) => departures(doc, property, v, &format!("{at}.{key}"), out),
                    (None, Some(Value::Bool(false))) => out.push(format!("{at}.{key}: not in the schema")),
                    (None, Some(extra)) if extra.is_object() => {
                        departures(doc, extra, v, &format!("{at}.{key}"), out)
                    }
                    (None, _) if properties.is_some() => out.push(format!("{at}.{key}: not in the schema")),
                    (None, _) => {}
                }
            }
        }
        _ => {}
    }
}

/// The answer conforms to the document's schema for its route and status.
fn conforms(doc: &Value, method: &str, route: &str, status: u16, body: &Value) {
    let schema = doc["paths"][route][method]["responses"][status.to_string()]
        .pointer("/content/application~1json/schema")
        .unwrap_or_else(|| panic!("{method} {route} {status}: no JSON schema"));
    let mut out = Vec::new();
    departures(doc, schema, body, "$", &mut out);
    assert!(
        out.is_empty(),
        "{method} {route} {status} departs from its schema:\n{}\n{body:#}",
        out.join("\n")
    );
}

#[tokio::test]
async fn the_typed_answers_match_their_schemas() {
    let app = spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()), ("ENRICHMENT_MOCK_MODE", "true".into())],
        ..AppOptions::default()
    })
    .await;
    let key = app.admin_key.clone();
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let check = |method: &str, route: &str, expected: u16, (status, body): (u16, Value)| {
        assert_eq!(status, expected, "{method} {route}: {body}");
        conforms(&doc, method, route, status, &body);
        body
    };

    // Agents and sources.
    let agent = check(
        "post",
        "/v1/agents",
        201,
        app.post(
            "/v1/agents",
            &key,
            json!({"name": "triage", "endpoint_url": "http://127.0.0.1:9/agent", "signing_secret": "generate",
                   "trigger_filter": {"match_any": [{"field": "severity", "op": "eq", "value": "High"}]}}),
        )
        .await,
    );
    let agent_uuid = agent["data"]["uuid"].as_str().unwrap().to_string();
    check("get", "/v1/agents", 200, app.get("/v1/agents", &key).await);
    check("get", "/v1/agents/{uuid}", 200, app.get(&format!("/v1/agents/{agent_uuid}"), &key).await);
    check(
        "patch",
        "/v1/agents/{uuid}",
        200,
        app.patch(&format!("/v1/agents/{agent_uuid}"), &key, json!({"description": "Tier 1"})).await,
    );
    check(
        "post",
        "/v1/agents/{uuid}/test",
        200,
        app.post(&format!("/v1/agents/{agent_uuid}/test"), &key, json!({})).await,
    );
    let source = check(
        "post",
        "/v1/sources",
        201,
        app.post("/v1/sources", &key, json!({"source_name": "splunk", "display_name": "Splunk ES"})).await,
    );
    let source_uuid = source["data"]["uuid"].as_str().unwrap().to_string();
    check("get", "/v1/sources", 200, app.get("/v1/sources", &key).await);
    check("get", "/v1/sources/{uuid}", 200, app.get(&format!("/v1/sources/{source_uuid}"), &key).await);
    check(
        "patch",
        "/v1/sources/{uuid}",
        200,
        app.patch(&format!("/v1/sources/{source_uuid}"), &key, json!({"display_name": "Splunk"})).await,
    );

    // An alert and what hangs off it.
    let (_, rule) = app
        .post(
            "/v1/detection-rules",
            &key,
            json!({"name": "Spray", "source_name": "generic", "source_rule_id": "R1"}),
        )
        .await;
    let rule_uuid = rule["data"]["uuid"].as_str().unwrap().to_string();
    let payload = json!({"title": "Password spray", "severity": "High", "rule_id": "R1",
        "occurred_at": "2026-01-01T00:00:00Z", "src_ip": "8.8.8.8", "user": "alice@example.com"});
    let (status, body) =
        app.post("/v1/alerts", &key, json!({"source_name": "generic", "payload": payload})).await;
    assert_eq!(status, 202, "{body}");
    let alert = body["data"]["alert_uuid"].as_str().unwrap().to_string();
    crate::ingest::wait_enriched(&app, &alert).await;
    check(
        "post",
        "/v1/alerts/{uuid}/findings",
        201,
        app.post(
            &format!("/v1/alerts/{alert}/findings"),
            &key,
            json!({"agent_name": "triage", "summary": "Benign", "confidence": "high", "evidence": {"k": 1}}),
        )
        .await,
    );
    check(
        "post",
        "/v1/alerts/{uuid}/findings",
        201,
        app.post(
            &format!("/v1/alerts/{alert}/findings"),
            &key,
            json!({"agent_name": "triage", "summary": "Second"}),
        )
        .await,
    );
    check(
        "get",
        "/v1/alerts/{uuid}/findings",
        200,
        app.get(&format!("/v1/alerts/{alert}/findings"), &key).await,
    );
    check(
        "post",
        "/v1/alerts/{uuid}/indicators",
        201,
        app.post(
            &format!("/v1/alerts/{alert}/indicators?enrich=false"),
            &key,
            json!({"indicators": [{"type": "domain", "value": "evil.example"}]}),
        )
        .await,
    );
    let (status, other) =
        app.post("/v1/alerts", &key, json!({"source_name": "generic", "payload": payload.clone()})).await;
    assert_eq!(status, 202, "{other}");
    let other = other["data"]["alert_uuid"].as_str().unwrap().to_string();
    crate::ingest::wait_enriched(&app, &other).await;
    check(
        "get",
        "/v1/alerts/{uuid}/relationship-graph",
        200,
        app.get(&format!("/v1/alerts/{alert}/relationship-graph"), &key).await,
    );
    check(
        "post",
        "/v1/context-documents",
        201,
        app.post(
            "/v1/context-documents",
            &key,
            json!({"title": "IR plan", "document_type": "ir_plan", "is_global": true, "content": "Escalate."}),
        )
        .await,
    );
    let document = check(
        "post",
        "/v1/context-documents",
        201,
        app.post(
            "/v1/context-documents",
            &key,
            json!({"title": "Spray runbook", "document_type": "runbook", "content": "Reset.",
                   "targeting_rules": {"match_any": [{"field": "severity", "op": "eq", "value": "High"}]}}),
        )
        .await,
    );
    let document = document["data"]["uuid"].as_str().unwrap().to_string();
    check("get", "/v1/context-documents", 200, app.get("/v1/context-documents", &key).await);
    check(
        "get",
        "/v1/context-documents/{uuid}",
        200,
        app.get(&format!("/v1/context-documents/{document}"), &key).await,
    );
    check(
        "patch",
        "/v1/context-documents/{uuid}",
        200,
        app.patch(&format!("/v1/context-documents/{document}"), &key, json!({"description": "Spray"})).await,
    );
    check(
        "get",
        "/v1/alerts/{uuid}/context",
        200,
        app.get(&format!("/v1/alerts/{other}/context"), &key).await,
    );
    check(
        "post",
        "/v1/alerts/{uuid}/trigger-agents",
        202,
        app.post(&format!("/v1/alerts/{alert}/trigger-agents"), &key, json!({})).await,
    );
    check(
        "post",
        "/v1/alerts/{uuid}/dispatch-agent",
        202,
        app.post(&format!("/v1/alerts/{alert}/dispatch-agent?agent_uuid={agent_uuid}"), &key, json!({}))
            .await,
    );
    check(
        "post",
        "/v1/alerts/{uuid}/enrich",
        202,
        app.post(&format!("/v1/alerts/{alert}/enrich"), &key, json!({})).await,
    );
    crate::ingest::wait_enriched(&app, &alert).await;
    let runs = eventually("a delivery attempt", std::time::Duration::from_secs(30), || async {
        let (status, runs) = app.get(&format!("/v1/agents/{agent_uuid}/runs"), &key).await;
        (status == 200 && runs["data"].as_array().is_some_and(|r| !r.is_empty())).then_some((status, runs))
    })
    .await;
    check("get", "/v1/agents/{uuid}/runs", 200, runs);

    // Enrichment and extraction.
    check("get", "/v1/enrichments/providers", 200, app.get("/v1/enrichments/providers", &key).await);
    check(
        "post",
        "/v1/enrichments",
        200,
        app.post("/v1/enrichments", &key, json!({"type": "ip", "value": "8.8.8.8"})).await,
    );
    check(
        "post",
        "/v1/indicator-mappings/test-extraction",
        200,
        app.post(
            "/v1/indicator-mappings/test-extraction",
            &key,
            json!({"source_name": "generic", "raw_payload": payload}),
        )
        .await,
    );

    // Metrics.
    check("get", "/v1/metrics/alerts", 200, app.get("/v1/metrics/alerts", &key).await);
    check("get", "/v1/metrics/summary", 200, app.get("/v1/metrics/summary", &key).await);
    check("get", "/v1/metrics/workflows", 200, app.get("/v1/metrics/workflows", &key).await);
    check(
        "get",
        "/v1/detection-rules/{uuid}/metrics",
        200,
        app.get(&format!("/v1/detection-rules/{rule_uuid}/metrics"), &key).await,
    );

    // Workflows: a test run, a queued execution and one waiting for approval.
    let code = "from app.workflows.context import WorkflowContext, WorkflowResult\n\n\
                async def run(ctx: WorkflowContext) -> WorkflowResult:\n    \
                return WorkflowResult.ok(\"done\", data={\"value\": ctx.indicator.value})\n";
    let mut workflows = Vec::new();
    for (name, approval_mode) in [("Queued", "never"), ("Asked", "always")] {
        let (status, created) = app
            .post(
                "/v1/workflows",
                &key,
                json!({"name": name, "code": code, "state": "active", "approval_mode": approval_mode,
                       "indicator_types": ["ip"]}),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        workflows.push(created["data"]["uuid"].as_str().unwrap().to_string());
    }
    check(
        "post",
        "/v1/workflows/{uuid}/test",
        200,
        app.post(
            &format!("/v1/workflows/{}/test", workflows[0]),
            &key,
            json!({"indicator_type": "ip", "indicator_value": "8.8.8.8"}),
        )
        .await,
    );
    for (workflow, expected) in workflows.iter().zip(["queued", "pending_approval"]) {
        let body = check(
            "post",
            "/v1/workflows/{uuid}/execute",
            202,
            app.post(
                &format!("/v1/workflows/{workflow}/execute"),
                &key,
                json!({"indicator_type": "ip", "indicator_value": "8.8.8.8", "alert_uuid": alert,
                       "reason": "Spray source", "confidence": 0.9}),
            )
            .await,
        );
        assert_eq!(body["data"]["status"], expected, "{body}");
    }

    let (status, body) =
        status_json(app.client.post(app.url("/v1/approvals/callback/teams")).send().await.unwrap()).await;
    check("post", "/v1/approvals/callback/teams", 200, (status, body));
}

#[tokio::test]
async fn the_decide_form_and_the_metrics_windows_are_typed() {
    let app = spawn_app().await;
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();

    let form = &doc["paths"]["/v1/approvals/{uuid}/decide"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
        ["schema"];
    let form = resolve(&doc, form);
    assert_eq!(form["required"], json!(["token", "decision"]), "{form}");
    assert_eq!(form["properties"]["token"]["type"], "string", "{form}");
    let decision = resolve(&doc, &form["properties"]["decision"]);
    assert_eq!(decision["enum"], json!(["approve", "reject"]), "{decision}");

    let parameter = |route: &str, name: &str| {
        doc["paths"][route]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{route} has no {name}"))["schema"]
            .clone()
    };
    let time = parameter("/v1/alerts", "from_time");
    assert!(time.get("oneOf").is_some() || time.get("anyOf").is_some(), "{time}");
    for (route, names) in [
        ("/v1/metrics/alerts", ["from_time", "to_time"]),
        ("/v1/metrics/workflows", ["from_time", "to_time"]),
        ("/v1/detection-rules/{uuid}/metrics", ["from", "to"]),
    ] {
        for name in names {
            assert_eq!(parameter(route, name), time, "{route} {name}");
        }
    }
}
