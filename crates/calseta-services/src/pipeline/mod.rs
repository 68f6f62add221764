//! The alert's journey, one stage per folder: `ingest` accepts and stores the alert with its
//! enrichment job; `extract` finds its indicators; `enrich` runs the providers and completes the
//! run; `context` chooses the organisation's knowledge for it; `dispatch` delivers the payload to
//! agents; `respond` executes workflows behind the approval gate when an agent or analyst asks.
//! Stages never import each other: they hand off through the job kinds of [`kinds`] and the
//! traits of [`hooks`], which the composition root (`Services`) wires together.

pub mod context;
pub mod dispatch;
pub mod enrich;
pub mod extract;
pub mod hooks;
pub mod ingest;
pub mod kinds;
pub mod respond;
