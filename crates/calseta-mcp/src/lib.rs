//! Calseta's MCP server.
//!
//! Owns the MCP surface of Calseta: the twelve resources and eight tools of Calseta v1 (collection
//! resources listed as resources, parameterised ones as templates, every one readable), the
//! approval and compact-payload tools added on top, and the one mapping from service errors to MCP
//! errors (`error.rs`). Everything is read and written through `calseta-services`, with the same
//! API keys and scopes as REST, checked on every resource read and tool call. It is served by the
//! official SDK (`rmcp`) over streamable HTTP (stateless, so any process behind a load balancer
//! can answer) and over stdio for local clients.

mod caller;
mod error;
pub mod http;
mod resources;
mod server;
pub mod stdio;
mod tools;

pub use server::CalsetaMcp;
