//! The tools: v1's eight (findings, status, malice, searches, enrichment, workflow execution) and
//! Calseta's additions (pending approvals, approve/reject, the agent payload). Each tool is its
//! argument type ([`ToolInput`]): the type names the tool and its scope, its JSON Schema is the
//! tool's input schema, and its arguments are read into it before any use case runs.

mod alerts;
mod fields;
mod respond;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use calseta_core::scopes::Scope;
use calseta_services::Services;
use calseta_services::audit::Actor;
use calseta_services::resources::api_keys::ApiKey;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::McpFailure;

/// Who calls a tool and what it may use.
pub(crate) struct Call<'a> {
    /// The use cases.
    services: &'a Services,
    /// The caller's key (already authorized for the tool's scope).
    key: &'a ApiKey,
}

impl Call<'_> {
    /// The caller as the activity log records it.
    fn actor(&self) -> Actor {
        Actor::mcp(self.key)
    }
}

/// A tool's arguments as a type: the tool's name, scope and description, and what it does.
trait ToolInput: DeserializeOwned + JsonSchema + Send + 'static {
    /// The tool's name.
    const NAME: &'static str;
    /// The scope calling it takes.
    const SCOPE: Scope;
    /// Whether it only reads.
    const READ_ONLY: bool;
    /// What it does, for the model.
    const DESCRIPTION: &'static str;

    /// Runs the tool with these arguments.
    fn run(self, call: Call<'_>) -> impl Future<Output = Result<Value, McpFailure>> + Send;

    /// Reads the arguments (after unknown names are refused); the search tools read theirs with
    /// the parameter reader REST uses.
    fn read(arguments: JsonObject) -> Result<Self, McpFailure> {
        fields::parse(arguments)
    }
}

/// A running tool call.
type Running<'a> = Pin<Box<dyn Future<Output = Result<Value, McpFailure>> + Send + 'a>>;

/// One tool as the server lists and calls it.
struct ToolSpec {
    name: &'static str,
    scope: Scope,
    read_only: bool,
    description: &'static str,
    schema: fn() -> Arc<JsonObject>,
    run: for<'a> fn(Call<'a>, JsonObject) -> Running<'a>,
}

impl ToolSpec {
    /// The tool whose arguments are `T`.
    const fn of<T: ToolInput>() -> ToolSpec {
        ToolSpec {
            name: T::NAME,
            scope: T::SCOPE,
            read_only: T::READ_ONLY,
            description: T::DESCRIPTION,
            schema: fields::input_schema::<T>,
            run: run::<T>,
        }
    }
}

/// Reads `T` from `arguments` and runs it.
fn run<T: ToolInput>(call: Call<'_>, arguments: JsonObject) -> Running<'_> {
    Box::pin(async move { T::read(arguments)?.run(call).await })
}

const TOOLS: &[ToolSpec] = &[
    ToolSpec::of::<alerts::PostAlertFinding>(),
    ToolSpec::of::<alerts::UpdateAlertStatus>(),
    ToolSpec::of::<alerts::SearchAlerts>(),
    ToolSpec::of::<alerts::UpdateAlertMalice>(),
    ToolSpec::of::<alerts::SearchDetectionRules>(),
    ToolSpec::of::<respond::EnrichIndicator>(),
    ToolSpec::of::<respond::UpdateIndicatorMalice>(),
    ToolSpec::of::<respond::ExecuteWorkflow>(),
    ToolSpec::of::<respond::ListPendingApprovals>(),
    ToolSpec::of::<respond::ApproveWorkflow>(),
    ToolSpec::of::<respond::RejectWorkflow>(),
    ToolSpec::of::<alerts::GetAlertPayload>(),
];

fn spec(name: &str) -> Option<&'static ToolSpec> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The catalogue, with each tool's generated schema, built once per process.
fn catalogue() -> &'static [Tool] {
    static CATALOGUE: OnceLock<Vec<Tool>> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        TOOLS
            .iter()
            .map(|t| {
                Tool::new(t.name, t.description, (t.schema)())
                    .with_annotations(ToolAnnotations::new().read_only(t.read_only).open_world(false))
            })
            .collect()
    })
}

/// Every tool as MCP lists it.
pub(crate) fn listed_tools() -> Vec<Tool> {
    catalogue().to_vec()
}

/// The scope tool `name` takes, if it exists.
pub(crate) fn scope_of(name: &str) -> Option<Scope> {
    spec(name).map(|t| t.scope)
}

/// Runs tool `name` for `key` with `arguments`.
pub(crate) async fn call(
    services: &Services,
    key: &ApiKey,
    name: &str,
    arguments: Option<JsonObject>,
) -> Result<Value, McpFailure> {
    // Unreachable: the server refuses names outside the catalogue before calling.
    let (Some(spec), Some(tool)) = (spec(name), catalogue().iter().find(|t| t.name == name)) else {
        return Err(McpFailure::BadArgument(format!("Unknown tool: {name}")));
    };
    let arguments = arguments.unwrap_or_default();
    fields::refuse_unknown(&arguments, &fields::properties(&tool.input_schema))?;
    (spec.run)(Call { services, key }, arguments).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_object_schema_naming_its_required_arguments() {
        for t in TOOLS {
            let schema = (t.schema)();
            let properties = fields::properties(&schema);
            for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                assert!(properties.iter().any(|p| Some(*p) == required.as_str()), "{}: {required}", t.name);
            }
            assert_eq!(schema.get("type"), Some(&Value::from("object")), "{}", t.name);
            assert!(!properties.is_empty(), "{}", t.name);
        }
        let names: std::collections::BTreeSet<&str> = TOOLS.iter().map(|t| t.name).collect();
        assert_eq!((listed_tools().len(), names.len()), (12, 12));
    }
}
