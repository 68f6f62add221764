//! `POST /v1/workflows/generate` against a loopback Anthropic-compatible endpoint: the request it
//! sends, the answer it reads (in a fence or not), validation of the generated code, and the
//! errors when the model fails or generation is not configured. Nothing is saved.

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const GOOD: &str = "from app.workflows.context import WorkflowContext, WorkflowResult\n\nasync def run(ctx: WorkflowContext) -> WorkflowResult:\n    ctx.log.info('blocking', ip=ctx.indicator.value)\n    return WorkflowResult.ok('blocked')\n";

fn answer(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "msg_1", "type": "message", "role": "assistant",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn"
    }))
}

async fn app_with_model(model: &MockServer) -> TestApp {
    spawn_app_with(AppOptions {
        env: vec![
            ("ANTHROPIC_API_KEY", "sk-ant-test".into()),
            ("ANTHROPIC_BASE_URL", model.uri()),
            ("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()),
        ],
        ..AppOptions::default()
    })
    .await
}

#[tokio::test]
async fn a_description_becomes_validated_code_and_nothing_is_saved() {
    let model = MockServer::start().await;
    let proposal = json!({"code": GOOD, "suggested_name": "Block IP", "suggested_documentation": "Blocks it.",
                          "warnings": ["check the firewall URL"]});
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", "sk-ant-test"))
        .and(header("anthropic-version", "2023-06-01"))
        .and(body_partial_json(json!({"model": "claude-sonnet-4-6", "max_tokens": 4096})))
        .respond_with(answer(&format!("```json\n{proposal}\n```")))
        .expect(1)
        .mount(&model)
        .await;
    let app = app_with_model(&model).await;
    let writer = app.key_with(&["workflows:write"]).await;
    let body = json!({"description": "Block the IP at the firewall", "indicator_types": ["ip"]});
    let (status, generated) = app.post("/v1/workflows/generate", &writer, body).await;
    assert_eq!(status, 200, "{generated}");
    assert_eq!(
        generated,
        json!({"data": {"generated_code": GOOD, "suggested_name": "Block IP", "suggested_documentation": "Blocks it.",
                        "warnings": ["check the firewall URL"]}, "meta": {}})
    );
    // The prompt carries the description and the types.
    let sent: Value = serde_json::from_slice(&model.received_requests().await.unwrap()[0].body).unwrap();
    let prompt = sent["messages"][0]["content"].as_str().unwrap();
    assert!(prompt.contains("Block the IP at the firewall") && prompt.contains("ip"), "{prompt}");
    assert!(sent["system"].as_str().unwrap().contains("async def run(ctx)"));
    let (_, listed) = app.get("/v1/workflows", &app.admin_key).await;
    assert!(listed["data"].as_array().unwrap().iter().all(|w| w["name"] != "Block IP"), "nothing is saved");
    model.verify().await;
}

#[tokio::test]
async fn a_failing_model_or_invalid_code_is_a_generation_failure() {
    let model = MockServer::start().await;
    let app = app_with_model(&model).await;
    let writer = app.key_with(&["workflows:write"]).await;
    let ask = || app.post("/v1/workflows/generate", &writer, json!({"description": "Suspend the account"}));
    let cases = [
        (
            answer(&json!({"code": "import os\nasync def run(ctx):\n    pass\n"}).to_string()),
            "failed validation",
        ),
        (answer(&json!({"code": "def run(ctx)"}).to_string()), "failed validation"),
        (answer("I cannot help with that."), "not a JSON object"),
        (answer(&json!({"suggested_name": "x"}).to_string()), "has no code"),
        (ResponseTemplate::new(529).set_body_json(json!({"type": "error"})), "answered HTTP 529"),
    ];
    for (template, expected) in cases {
        model.reset().await;
        Mock::given(method("POST")).and(path("/v1/messages")).respond_with(template).mount(&model).await;
        let (status, body) = ask().await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("WORKFLOW_GENERATION_FAILED")),
            "{body}"
        );
        assert!(body["error"]["message"].as_str().unwrap().contains(expected), "{expected}: {body}");
    }
    // A name the model leaves out is v1's default.
    model.reset().await;
    Mock::given(method("POST")).respond_with(answer(&json!({"code": GOOD}).to_string())).mount(&model).await;
    let (status, body) = ask().await;
    assert_eq!(
        (status, body["data"]["suggested_name"].as_str()),
        (200, Some("Generated Workflow")),
        "{body}"
    );
    // Bad bodies are 422s; a key without workflows:write is refused.
    for bad in [json!({}), json!({"description": ""}), json!({"description": "x", "workflow_type": "other"})]
    {
        let (status, body) = app.post("/v1/workflows/generate", &writer, bad.clone()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("VALIDATION_ERROR")),
            "{bad}: {body}"
        );
    }
    let reader = app.key_with(&["workflows:read"]).await;
    let (status, _) = app.post("/v1/workflows/generate", &reader, json!({"description": "x"})).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn without_a_model_key_generation_is_unavailable() {
    let app = spawn_app().await;
    let (status, body) =
        app.post("/v1/workflows/generate", &app.admin_key, json!({"description": "Block it"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("SERVICE_UNAVAILABLE")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("ANTHROPIC_API_KEY"), "{body}");
}
