//! Request extractors whose rejections use the API's error envelope: 422 `VALIDATION_ERROR` with
//! the failing location, never axum's plain-text rejections.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use calseta_services::FieldError;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::validation(&[FieldError {
                loc: vec!["body".into()],
                msg: "Expected a JSON body with Content-Type: application/json".into(),
                kind: "content_type".into(),
            }]));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|_| {
            ApiError::validation(&[FieldError {
                loc: vec!["body".into()],
                msg: "The request body could not be read".into(),
                kind: "body_read".into(),
            }])
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserializes JSON bytes, reporting where it failed.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => Ok(value),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let (kind, mut loc) = if inner.is_syntax() || inner.is_eof() {
                ("json_invalid", vec!["body".to_string()])
            } else {
                let kind =
                    if inner.to_string().starts_with("missing field") { "missing" } else { "value_error" };
                (kind, vec!["body".to_string()])
            };
            if path != "." && kind != "json_invalid" {
                loc.extend(path.split('.').map(str::to_string));
            }
            if kind == "missing"
                && let Some(field) = inner.to_string().split('`').nth(1)
            {
                loc.push(field.to_string());
            }
            let msg = if kind == "json_invalid" {
                format!("JSON decode error: {inner}")
            } else {
                inner.to_string()
            };
            Err(ApiError::validation(&[FieldError { loc, msg, kind: kind.into() }]))
        }
    }
}

/// Query-string parameters.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let mut loc = vec!["query".to_string()];
            let path = e.path().to_string();
            if path != "." {
                loc.push(path);
            }
            ApiError::validation(&[FieldError {
                loc,
                msg: e.into_inner().to_string(),
                kind: "value_error".into(),
            }])
        })
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// Path parameters.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::validation(&[FieldError {
                loc: vec!["path".into()],
                msg: rejection.body_text(),
                kind: "value_error".into(),
            }])),
        }
    }
}
