//! Errors of the admin API, mapped to HTTP status codes here and nowhere else.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::actors::db::InvalidInput;

/// Every failure an admin route can answer with; the body is always `{"error": "..."}`
/// (with a `"hint"` beside it for [`AdminError::BadRequestWithHint`]).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    BadRequest(String),
    /// A bad request with what to change for it to be accepted (a search query FTS5 would
    /// not understand); the body has the hint beside the error.
    #[error("{message}")]
    BadRequestWithHint { message: String, hint: &'static str },
    #[error("missing or invalid bearer token (send `Authorization: Bearer <admin.token>`)")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("no route for {method} {path} (see /openapi.json)")]
    NotFound { method: String, path: String },
    /// The request conflicts with work in progress (a backup already running).
    #[error("{0}")]
    Conflict(String),
    #[error("{0} is unavailable: {1}")]
    Unavailable(&'static str, String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("could not bind the admin API to {address}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::BadRequest(_) | AdminError::BadRequestWithHint { .. } => {
                StatusCode::BAD_REQUEST
            }
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
            AdminError::NotFound { .. } => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Internal(_) | AdminError::Bind { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, AdminError::Unauthorized) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        match self {
            AdminError::BadRequestWithHint { hint, .. } => {
                response.json(serde_json::json!({ "error": self.to_string(), "hint": hint }))
            }
            _ => response.json(serde_json::json!({ "error": self.to_string() })),
        }
    }
}

impl From<InvalidInput> for AdminError {
    fn from(input: InvalidInput) -> Self {
        match input.hint() {
            Some(hint) => AdminError::BadRequestWithHint {
                message: input.to_string(),
                hint,
            },
            None => AdminError::BadRequest(input.to_string()),
        }
    }
}
