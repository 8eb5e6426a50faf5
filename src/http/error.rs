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

impl From<crate::state::CoreError> for ApiError {
    fn from(e: crate::state::CoreError) -> Self {
        use crate::state::CoreError;
        match e {
            CoreError::UnknownOrganization(slug) => Self::UnknownOrganization(slug),
            CoreError::Store(s) => s.into(),
            CoreError::Keys(k) => k.into(),
            CoreError::Internal(reason) => {
                tracing::error!(%reason, "internal error");
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

impl From<crate::events::subscribe::SubscribeError> for ApiError {
    fn from(e: crate::events::subscribe::SubscribeError) -> Self {
        use crate::events::subscribe::SubscribeError;
        match e {
            SubscribeError::Seal => Self::Internal,
            SubscribeError::Store(s) => s.into(),
        }
    }
}

/// An OAuth error from the token or UserInfo endpoint (RFC 6749 §5.2, RFC 6750 §3): JSON with
/// the standard code, never cached.
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// Sent as `WWW-Authenticate` (client authentication and bearer token failures).
    pub challenge: Option<String>,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            challenge: None,
        }
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
            // RFC 6749 §5.2: the scheme Sesame accepts for client authentication in a header.
            challenge: Some("Basic realm=\"sesame\"".into()),
        }
    }

    pub fn invalid_token(description: impl Into<String>) -> Self {
        let description = description.into();
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_token",
            challenge: Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                description.replace('"', "'")
            )),
            description,
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Pragma", "no-cache"));
        if let Some(challenge) = &self.challenge {
            response.insert_header(("WWW-Authenticate", challenge.as_str()));
        }
        response.json(json!({ "error": self.error, "error_description": self.description }))
    }
}

impl From<ApiError> for OAuthError {
    fn from(e: ApiError) -> Self {
        let status = e.status_code();
        let error = match e {
            ApiError::UnknownOrganization(_) | ApiError::NotFound => "invalid_request",
            ApiError::Unavailable => "temporarily_unavailable",
            ApiError::Internal => "server_error",
        };
        Self {
            status,
            error,
            description: e.to_string(),
            challenge: None,
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<KeysError> for OAuthError {
    fn from(e: KeysError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::keys::KeyError> for OAuthError {
    fn from(e: crate::keys::KeyError) -> Self {
        KeysError::Key(e).into()
    }
}

impl From<crate::state::CoreError> for OAuthError {
    fn from(e: crate::state::CoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::oidc::token::TokenError> for OAuthError {
    fn from(e: crate::oidc::token::TokenError) -> Self {
        use crate::oidc::token::TokenError;
        let (error, description) = match e {
            TokenError::InvalidClient(d) => return Self::invalid_client(d),
            TokenError::InvalidRequest(d) => ("invalid_request", d),
            TokenError::InvalidGrant(d) => ("invalid_grant", d),
            TokenError::UnauthorizedClient(d) => ("unauthorized_client", d),
            TokenError::UnsupportedGrantType(d) => ("unsupported_grant_type", d),
            TokenError::InvalidScope(d) => ("invalid_scope", d),
            TokenError::InvalidTarget(d) => ("invalid_target", d),
            TokenError::NoSigner => return ApiError::Internal.into(),
            TokenError::Store(s) => return s.into(),
            TokenError::Keys(k) => return k.into(),
        };
        Self::new(error, description)
    }
}
