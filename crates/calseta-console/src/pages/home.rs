//! The placeholder the sections not yet built answer with (the dashboard at `/` is
//! [`super::dashboard`]; the approvals inbox replaces the last use of this).

use askama::Template;
use axum::response::Response;

use super::{PageContext, render};

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
