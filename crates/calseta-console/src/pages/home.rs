//! `/`: for now, who is signed in and what the key may do; and the placeholder the sections not
//! yet built answer with (the dashboard, queue, inbox and audit log replace them).

use askama::Template;
use axum::response::Response;
use calseta_core::scopes::Scope;

use super::{PageContext, render};

/// One console area and whether the key may use it.
struct Area {
    name: &'static str,
    href: &'static str,
    needs: Scope,
    allowed: bool,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    ctx: PageContext,
    areas: Vec<Area>,
}

/// `GET /`: the signed-in key's name and scopes, and the areas it opens.
pub async fn home(ctx: PageContext) -> Response {
    let areas = [
        ("Alerts", "/alerts", Scope::AlertsRead),
        ("Approvals", "/approvals", Scope::WorkflowsRead),
        ("Activity", "/activity", Scope::AlertsRead),
    ]
    .into_iter()
    .map(|(name, href, needs)| Area { name, href, needs, allowed: ctx.allows(needs) })
    .collect();
    render(&Home { ctx, areas })
}

#[derive(Template)]
#[template(path = "placeholder.html")]
struct Placeholder {
    ctx: PageContext,
    title: &'static str,
}

/// `GET /alerts`, `/approvals`, `/activity` until their pages exist: the layout with a note, so
/// the navigation never leads to an error.
pub async fn placeholder(ctx: PageContext) -> Response {
    let title = match ctx.path.as_str() {
        "/alerts" => "Alerts",
        "/approvals" => "Approvals",
        _ => "Activity",
    };
    render(&Placeholder { ctx, title })
}
