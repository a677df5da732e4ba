//! JSON error responses.
//!
//! Every failure, including unknown routes and malformed query strings, answers
//! `{"error": "...", "hint": "..."}` so that scripts and the dashboard can show
//! the operator what to change instead of a bare status line.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// Every error answer: what went wrong and, usually, what to change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ApiError)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    #[schema(example = "invalid `limit`: \"ten\" is not a positive integer")]
    pub error: String,
    /// What to change; absent when there is nothing useful to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "use an integer from 1 to 1000 (larger values are capped at 1000)")]
    pub hint: Option<String>,
}

/// An error answered as JSON with a status code.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                hint: None,
            },
        }
    }

    pub fn bad_request(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error).with_hint(hint)
    }

    pub fn not_found(error: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error)
    }

    /// A server-side failure. The detail goes to the log; the client only learns
    /// that something failed, since internal paths and SQL are no business of an
    /// API caller.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{context} failed"),
        )
        .with_hint("see the kuzet server log for details; the request can be retried")
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.body.hint = Some(hint.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Fallback for paths no route matches.
pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {}", uri.path())).with_hint(
        "endpoints: /healthz, /metrics, /api/cameras, /api/events, /api/events/{id}, \
         /api/events/stream, /api/evidence/{hash}, /api/stats; all are described by \
         /api/openapi.json",
    )
}

/// Fallback for known paths used with the wrong method.
pub(crate) async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed here"),
    )
    .with_hint("see /api/openapi.json for the methods each endpoint accepts")
}
