//! Response envelopes (`{"data","meta"}`) and query-string error locations.

use calseta_core::pagination::{self, PageRequest};
use calseta_services::FieldError;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// `{"data": <object>, "meta": {}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// The object.
    pub data: T,
    /// Always `{}` for single objects.
    #[schema(value_type = Object)]
    pub meta: Map<String, Value>,
}

impl<T> Envelope<T> {
    /// Wraps `data` with empty meta.
    pub fn new(data: T) -> Self {
        Self { data, meta: Map::new() }
    }
}

/// `{"data": [...], "meta": {total, page, page_size, total_pages}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ListEnvelope<T> {
    /// This page's items.
    pub data: Vec<T>,
    /// Pagination.
    pub meta: ListMeta,
}

/// Pagination metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListMeta {
    /// Items across all pages.
    pub total: i64,
    /// This page (1-based).
    pub page: u32,
    /// Items per page.
    pub page_size: u32,
    /// `ceil(total / page_size)`, 0 when empty.
    pub total_pages: i64,
}

impl<T> ListEnvelope<T> {
    /// A page of `data` out of `total`.
    pub fn new(data: Vec<T>, total: i64, page: PageRequest) -> Self {
        Self {
            data,
            meta: ListMeta {
                total,
                page: page.page,
                page_size: page.page_size,
                total_pages: pagination::total_pages(total, page.page_size),
            },
        }
    }
}

/// A validation error located in the query string.
pub fn query_error(field: &str, msg: impl Into<String>) -> FieldError {
    FieldError { loc: vec!["query".into(), field.into()], msg: msg.into(), kind: "value_error".into() }
}
