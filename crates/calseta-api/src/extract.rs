//! Request extractors whose rejections use the API's error envelope: 422 `VALIDATION_ERROR` with
//! the failing location, never axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use calseta_services::FieldError;
use calseta_services::params::{ListParams, RawArgs};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::middleware::BodyLimit;

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
        let _ = state;
        let bytes = read_body(req).await?;
        // Every JSON body is an object; serde would otherwise read a struct from an array
        // (`[null, null]` as "no change").
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{')
            && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok()
        {
            return Err(ApiError::validation(&[FieldError {
                loc: vec!["body".into()],
                msg: "Input should be a valid dictionary or object".into(),
                kind: "model_attributes_type".into(),
            }]));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// A raw body (e.g. a SIEM's webhook, read exactly as sent).
pub struct ApiBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        read_body(req).await.map(ApiBody)
    }
}

/// Reads a request's whole body within its limit and read timeout (see
/// [`crate::middleware::body_limit`]): 413 `PAYLOAD_TOO_LARGE` past the limit, 408
/// `REQUEST_TIMEOUT` when the sender is too slow, 400 `INVALID_REQUEST` when it cannot be read.
pub async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    let limit = req.extensions().get::<BodyLimit>().copied();
    let timeout = limit.map_or(std::time::Duration::from_secs(30), |l| l.read_timeout);
    match tokio::time::timeout(timeout, req.into_body().collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.downcast_ref::<http_body_util::LengthLimitError>().is_some())
                || e.to_string().contains("length limit exceeded");
            match limit {
                Some(limit) if too_large => Err(limit.too_large()),
                _ => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "The request body could not be read.",
                )),
            }
        }
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            format!("The request body was not received within {} s.", timeout.as_secs()),
        )),
    }
}

/// Deserializes JSON bytes, reporting where it failed. A body that is valid JSON but not of the
/// request's shape is read once more as JSON Schema reads it (see
/// [`crate::serde_util::LenientBody`]: `5.0` for an integer field), and that reading's answer
/// stands; the first, exact reading keeps a body that needs no leniency byte for byte (a
/// `RawValue` payload).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let outcome = match serde_path_to_error::deserialize(&mut de) {
        Err(e) if e.inner().is_data() => match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(parsed) => serde_path_to_error::deserialize(crate::serde_util::LenientBody(parsed)),
            Err(_) => Err(e),
        },
        other => other,
    };
    match outcome {
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
                calseta_services::error::json_decode_message(&inner)
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

/// A list's parameters from the query string (see [`calseta_services::params`]): every field
/// that cannot be read is a 422 `VALIDATION_ERROR` at `["query", <field>]`, a bad `sort_by` or
/// `sort_order` v1's 400 `VALIDATION_ERROR`.
pub struct ListQuery<T>(pub T);

impl<S: Send + Sync, T: ListParams> FromRequestParts<S> for ListQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawArgs::from_query(parts.uri.query(), T::REPEATED);
        raw.parse::<T>().map(ListQuery).map_err(ApiError::from)
    }
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
