//! Response envelopes (`{"data","meta"}`) and pagination parameters.

use calseta_core::pagination::{self, MAX_PAGE_SIZE, PageRequest};
use calseta_services::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

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

/// `page` (≥ 1, default 1) and `page_size` (1..=500, default 50).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 4294967295_i64)]
    pub page: Option<i64>,
    /// Items per page, 1 to 500.
    #[param(minimum = 1, maximum = 500)]
    pub page_size: Option<i64>,
}

impl PageParams {
    /// Validates into a page request (422 when out of range).
    pub fn validate(&self) -> Result<PageRequest, ApiError> {
        let mut errors = Vec::new();
        let page = self.page.unwrap_or(1);
        let page_size = self.page_size.unwrap_or(i64::from(pagination::DEFAULT_PAGE_SIZE));
        if page < 1 || page > i64::from(u32::MAX) {
            errors.push(query_error("page", "Input should be greater than or equal to 1"));
        }
        if !(1..=i64::from(MAX_PAGE_SIZE)).contains(&page_size) {
            errors.push(query_error("page_size", format!("Input should be between 1 and {MAX_PAGE_SIZE}")));
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(&errors));
        }
        Ok(PageRequest { page: page as u32, page_size: page_size as u32 })
    }
}

/// A validation error located in the query string.
pub fn query_error(field: &str, msg: impl Into<String>) -> FieldError {
    FieldError { loc: vec!["query".into(), field.into()], msg: msg.into(), kind: "value_error".into() }
}
