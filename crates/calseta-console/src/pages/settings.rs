//! `/settings`: the index of the settings pages — alert sources, API keys, indicator mappings,
//! workflow secrets, jobs and the system summary — each listed only when the signed-in key has
//! the scope REST asks for the same data, so a key never sees a link to a page it may not open.
//! Also the confirmation page the settings' destructive actions (revoke a key, delete a source or
//! a secret) ask through first, so they work without JavaScript and never on one stray click.

use askama::Template;
use axum::response::Response;
use calseta_core::scopes::Scope;

use super::{PageContext, PageError, render};

/// One settings section as the index lists it.
struct Section {
    href: &'static str,
    title: &'static str,
    about: &'static str,
}

/// The sections in the order the index lists them, with the scope each needs (REST's scope for
/// the same reads).
static SECTIONS: [(Scope, Section); 6] = [
    (
        Scope::AlertsRead,
        Section {
            href: "/settings/sources",
            title: "Alert sources",
            about: "The webhook URL to paste into each SIEM, whether its signatures are verified, and its signing secret.",
        },
    ),
    (
        Scope::Admin,
        Section {
            href: "/settings/api-keys",
            title: "API keys",
            about: "Create keys for people, agents and SIEMs (the key is shown once), change their scopes and sources, revoke them.",
        },
    ),
    (
        Scope::Admin,
        Section {
            href: "/settings/mappings",
            title: "Indicator mappings",
            about: "Which alert fields become indicators: system, custom and source-plugin fields, with a dry run on a pasted payload.",
        },
    ),
    (
        Scope::Admin,
        Section {
            href: "/settings/secrets",
            title: "Workflow secrets",
            about: "Credentials workflows read (names and times only; values are never shown), and which workflows may read each.",
        },
    ),
    (
        Scope::Admin,
        Section {
            href: "/settings/jobs",
            title: "Jobs",
            about: "The background queues: what is waiting, running and dead, with each dead job's error and a retry.",
        },
    ),
    (
        Scope::Admin,
        Section {
            href: "/settings/system",
            title: "System",
            about: "Health, the workflow sandbox level, version, database engine and the configuration with every secret masked.",
        },
    ),
];

#[derive(Template)]
#[template(path = "settings.html")]
struct Index {
    ctx: PageContext,
    sections: Vec<&'static Section>,
}

/// `GET /settings`: the sections this key may open.
pub async fn index(ctx: PageContext) -> Result<Response, PageError> {
    let sections: Vec<&'static Section> =
        SECTIONS.iter().filter(|(scope, _)| ctx.allows(*scope)).map(|(_, section)| section).collect();
    if sections.is_empty() {
        return Err(PageError::forbidden(
            "Your API key has none of the scopes the settings pages need (alerts:read or admin).",
        ));
    }
    Ok(render(&Index { ctx, sections }))
}

/// A confirmation step: what will happen, and the one form that does it.
#[derive(Template)]
#[template(path = "settings_confirm.html")]
pub(crate) struct Confirm {
    pub(crate) ctx: PageContext,
    /// The page's heading.
    pub(crate) title: String,
    /// What the action does, in a sentence.
    pub(crate) message: String,
    /// Facts about what is acted on (label, value), shown as text.
    pub(crate) facts: Vec<(&'static str, String)>,
    /// Where the form posts.
    pub(crate) action: String,
    /// The button's words.
    pub(crate) button: &'static str,
    /// Where "Cancel" goes.
    pub(crate) back: &'static str,
}
