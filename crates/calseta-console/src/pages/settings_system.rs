//! `/settings/system`: how this process is doing and how it is set up — the health `/health`
//! reports (database, job queue, queues, enrichment providers), the isolation the workflow
//! sandbox achieved on this host and why, the version, the database engine, and the process
//! configuration with every secret masked (the binary masks it before handing it over, see
//! [`crate::ConfigEntry`]). Read with the `admin` scope REST's settings endpoint needs.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use calseta_core::scopes::Scope;
use calseta_services::views::system::SandboxReport;

use super::{PageContext, PageError, render};
use crate::ConfigEntry;
use crate::state::ConsoleState;

/// One queue's counts, in the order a job passes through the statuses.
struct QueueRow {
    queue: String,
    counts: Vec<i64>,
}

#[derive(Template)]
#[template(path = "settings_system.html")]
struct SystemPage<'a> {
    ctx: PageContext,
    status: &'static str,
    database_ok: bool,
    queue_ok: bool,
    queue_depth: i64,
    queues: Vec<QueueRow>,
    statuses: [&'static str; 4],
    providers: Vec<(String, &'static str)>,
    sandbox: SandboxReport,
    version: &'a str,
    engine: &'static str,
    configuration: &'a [ConfigEntry],
}

/// `GET /settings/system`.
pub async fn show(ctx: PageContext, State(state): State<ConsoleState>) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let services = state.services();
    // The same probes, environment and mock mode `/health` uses.
    let env = |name: &str| std::env::var(name).ok();
    let mock_mode = services.enrichment.registry().mock_mode();
    let report = services.health(&env, mock_mode).await;
    let statuses = ["queued", "running", "succeeded", "dead"];
    let queues = report
        .queues
        .into_iter()
        .map(|(queue, by_status)| QueueRow {
            queue,
            counts: statuses.iter().map(|s| by_status.get(*s).copied().unwrap_or(0)).collect(),
        })
        .collect();
    let settings = state.settings();
    let page = SystemPage {
        ctx,
        status: if report.database_ok { "ok" } else { "down" },
        database_ok: report.database_ok,
        queue_ok: report.queue_ok,
        queue_depth: report.queue_depth,
        queues,
        statuses: ["queued", "running", "done", "dead"],
        providers: report.enrichment_providers.into_iter().collect(),
        sandbox: services.workflow_sandbox_report().await,
        version: &settings.app_version,
        engine: services.database_engine(),
        configuration: &settings.configuration,
    };
    Ok(render(&page))
}
