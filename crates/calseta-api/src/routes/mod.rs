//! One module per resource.

pub mod api_keys;
pub mod health;
pub mod jobs;
