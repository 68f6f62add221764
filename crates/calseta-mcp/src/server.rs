//! The MCP server handler: capabilities, listings, resource reads and tool calls, each call
//! authorized on its own.

use std::sync::Arc;

use calseta_services::platform::rate_limit::RateLimits;
use calseta_services::resources::api_keys::ApiKey;
use calseta_services::{ServiceError, Services};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, ResourceContents,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::caller::{Credentials, authenticate, authorize};
use crate::error::McpFailure;
use crate::resources::{Target, listed_resources, listed_templates};
use crate::tools;

const INSTRUCTIONS: &str = "Calseta is the data layer for AI security agents. Read calseta://alerts for recent \
alerts and calseta://alerts/{uuid} for one alert with its indicators, enrichment results, detection rule \
documentation, context documents and past related alerts (get_alert_payload gives the same facts in fewer \
tokens). Search with search_alerts and search_detection_rules; enrich with enrich_indicator. Respond with \
post_alert_finding, update_alert_status, the malice tools and execute_workflow; workflows that need a human \
wait in list_pending_approvals until approve_workflow or reject_workflow.";

/// Calseta's MCP server: one instance per HTTP request (stateless) or per stdio session.
#[derive(Clone)]
pub struct CalsetaMcp {
    services: Arc<Services>,
    credentials: Credentials,
    version: String,
    limits: RateLimits,
}

impl CalsetaMcp {
    /// A server for HTTP requests, whose keys the HTTP layer authenticates.
    pub(crate) fn for_http(services: Arc<Services>, version: String, limits: RateLimits) -> Self {
        CalsetaMcp { services, credentials: Credentials::Http, version, limits }
    }

    /// A server for one stdio client holding `api_key`.
    pub(crate) fn for_key(
        services: Arc<Services>,
        api_key: &str,
        version: String,
        limits: RateLimits,
    ) -> Self {
        CalsetaMcp { services, credentials: Credentials::Token(Arc::from(api_key)), version, limits }
    }

    /// Counts a call against the key's per-minute budget of `class`: REST's limits (enrichment,
    /// workflow execution, the default), in MCP's own counters per key.
    fn count(&self, key: &ApiKey, class: Limit) -> Result<(), McpFailure> {
        let (name, per_minute) = match class {
            Limit::Enrichment => ("enrichment", self.limits.enrichment),
            Limit::WorkflowExecute => ("workflow_execute", self.limits.workflow_execute),
            Limit::Default => ("default", self.limits.authed),
        };
        self.services.limiter.hit(&format!("MCP {name}|{}", key.uuid), per_minute).map_err(|retry_after| {
            McpFailure::Service(ServiceError::RateLimited {
                retry_after: std::time::Duration::from_secs(retry_after),
            })
        })
    }

    async fn read(&self, uri: &str, context: &RequestContext<RoleServer>) -> Result<Value, McpFailure> {
        let target = Target::parse(uri)?;
        let key = authorize(&self.services, &self.credentials, context, target.scope(), uri).await?;
        let class =
            if matches!(target, Target::Enrichment { .. }) { Limit::Enrichment } else { Limit::Default };
        self.count(&key, class)?;
        target.read(&self.services).await
    }

    async fn call(
        &self,
        scope: calseta_core::scopes::Scope,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<Value, McpFailure> {
        let key = authorize(&self.services, &self.credentials, context, scope, &request.name).await?;
        let class = match request.name.as_ref() {
            "enrich_indicator" => Limit::Enrichment,
            "execute_workflow" => Limit::WorkflowExecute,
            _ => Limit::Default,
        };
        self.count(&key, class)?;
        tools::call(&self.services, &key, &request.name, request.arguments).await
    }
}

/// Which per-minute budget a call counts against.
#[derive(Debug, Clone, Copy)]
enum Limit {
    Enrichment,
    WorkflowExecute,
    Default,
}

/// Fails a listing unless the caller holds a valid key (the catalogue needs no particular scope);
/// a listing counts against the key's default budget like any other call.
async fn check_key(
    server: &CalsetaMcp,
    context: &RequestContext<RoleServer>,
    what: &str,
) -> Result<(), ErrorData> {
    let key = authenticate(&server.services, &server.credentials, context, what)
        .await
        .map_err(McpFailure::into_protocol_error)?;
    server.count(&key, Limit::Default).map_err(McpFailure::into_protocol_error)
}

impl ServerHandler for CalsetaMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_resources().enable_tools().build())
            .with_server_info(Implementation::new("Calseta", self.version.clone()))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        check_key(self, &context, "resources/list").await?;
        Ok(ListResourcesResult::with_all_items(listed_resources()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        check_key(self, &context, "resources/templates/list").await?;
        Ok(ListResourceTemplatesResult::with_all_items(listed_templates()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let value = self.read(&request.uri, &context).await.map_err(McpFailure::into_protocol_error)?;
        let text = serde_json::to_string(&value).map_err(|e| {
            McpFailure::Service(ServiceError::Config(format!("resource JSON: {e}"))).into_protocol_error()
        })?;
        let contents = ResourceContents::text(text, request.uri).with_mime_type("application/json");
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        check_key(self, &context, "tools/list").await?;
        Ok(ListToolsResult::with_all_items(tools::listed_tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // An unknown tool is a protocol error (the client asked for something not listed).
        let Some(scope) = tools::scope_of(&request.name) else {
            return Err(ErrorData::invalid_params(format!("Unknown tool: {}", request.name), None));
        };
        Ok(match self.call(scope, request, &context).await {
            Ok(value) => {
                let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
                if value.is_object() {
                    result.structured_content = Some(value);
                }
                result
            }
            Err(failure) => failure.into_tool_result(),
        }
        .into())
    }
}
