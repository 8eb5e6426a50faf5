//! The one place where errors become HTTP responses.
//!
//! Protocol-style JSON bodies (`{"error": …, "error_description": …}`); unexpected errors are
//! logged with detail and answered with a generic 500; an unreachable database is a 503 with
//! `Retry-After`, since it resolves by itself.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::keys::KeysError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("unknown organization '{0}'")]
    UnknownOrganization(String),
    #[error("no such resource")]
    NotFound,
    #[error("the service is temporarily unavailable")]
    Unavailable,
    #[error("internal server error")]
    Internal,
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            Self::UnknownOrganization(_) | Self::NotFound => "not_found",
            Self::Unavailable => "temporarily_unavailable",
            Self::Internal => "server_error",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::UnknownOrganization(_) | Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header(("Cache-Control", "no-store"));
        if matches!(self, Self::Unavailable) {
            response.insert_header(("Retry-After", "5"));
        }
        response.json(json!({ "error": self.code(), "error_description": self.to_string() }))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                Self::Unavailable
            }
            other => {
                tracing::error!(error = %other, "storage error");
                Self::Internal
            }
        }
    }
}

impl From<KeysError> for ApiError {
    fn from(e: KeysError) -> Self {
        match e {
            KeysError::Store(s) => s.into(),
            KeysError::Key(k) => {
                tracing::error!(error = %k, "signing key error");
                Self::Internal
            }
        }
    }
}
