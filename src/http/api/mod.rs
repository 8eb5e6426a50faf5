//! The management API under `{base}/api/v1/`: JSON in and out, RFC 9457 problem bodies for
//! every error, bearer access tokens of the administration organization for the API resource
//! `{base}/api/v1` (an administrator's from the console, or a service application's from client
//! credentials), roles checked per organization. Its OpenAPI 3.1 document, generated from the
//! handlers below, is at `{base}/api/openapi.json`, and readable at `{base}/api/docs`.
//!
//! The handlers parse and authorize; what they do is in [`crate::admin`], which the CLI and
//! imports call too.

pub mod applications;
pub mod docs;
pub mod events;
pub mod keys;
pub mod organizations;
pub mod roles;
pub mod sms;
pub mod users;
pub mod webhooks;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use serde::Serialize;

use super::AppState;
use crate::admin::{
    ADMIN_ORGANIZATION, Actor, AdminError, Expected, Principal, Role, Via, api_resource,
};
use crate::oidc::client_auth::strip_scheme;
use crate::oidc::presented::live_access_token;
use crate::state::CoreError;
use crate::store::StoreError;

/// The media type of problem bodies (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error as the API answers it (RFC 9457). `type` is `about:blank` (the status says it all)
/// or a `urn:sesame:problem:…` naming the case more precisely.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For `urn:sesame:problem:invalid-field`: each field refused and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One refused field of a request body or query.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every error of the management API, mapped to its status and problem body here only.
#[derive(Debug, thiserror::Error)]
pub enum ApiProblem {
    /// No credentials at all (RFC 6750 §3.1: the challenge carries no error code).
    #[error("{0}")]
    NoCredentials(String),
    /// A bearer token that is not usable: malformed, expired, revoked, or for another audience.
    #[error("{0}")]
    Unauthenticated(String),
    /// An administrator's token from a sign-in without a second factor (RFC 9470).
    #[error("{0}")]
    StepUp(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    InvalidField { field: String, message: String },
    #[error("{}", fields_detail(.0))]
    InvalidFields(Vec<(String, String)>),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Stale(String),
    #[error("send If-Match with the ETag you read, so a change made meanwhile is not overwritten")]
    PreconditionRequired,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// The SMS gateway (or another service Sesame called) refused or failed.
    #[error("{0}")]
    BadGateway(String),
    #[error("the service is temporarily unavailable")]
    Unavailable,
    #[error("internal server error")]
    Internal,
}

impl ApiProblem {
    fn kind(&self) -> &'static str {
        match self {
            Self::InvalidField { .. } | Self::InvalidFields(_) => {
                "urn:sesame:problem:invalid-field"
            }
            Self::Stale(_) => "urn:sesame:problem:stale-version",
            Self::Conflict(_) => "urn:sesame:problem:conflict",
            _ => "about:blank",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        Problem {
            kind: self.kind().into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: self.to_string(),
            errors: match self {
                Self::InvalidField { field, message } => vec![FieldError {
                    field: field.clone(),
                    message: message.clone(),
                }],
                Self::InvalidFields(fields) => fields
                    .iter()
                    .map(|(field, message)| FieldError {
                        field: field.clone(),
                        message: message.clone(),
                    })
                    .collect(),
                _ => Vec::new(),
            },
        }
    }
}

/// The detail of several refused fields: the first, and how many more.
fn fields_detail(fields: &[(String, String)]) -> String {
    match fields {
        [] => "the request is not acceptable".into(),
        [(field, message)] => format!("{field}: {message}"),
        [(field, message), rest @ ..] => {
            format!("{field}: {message} (and {} more: see errors)", rest.len())
        }
    }
}

impl ResponseError for ApiProblem {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NoCredentials(_) | Self::Unauthenticated(_) | Self::StepUp(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) | Self::InvalidField { .. } | Self::InvalidFields(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Stale(_) => StatusCode::PRECONDITION_FAILED,
            Self::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response
            .content_type(PROBLEM_JSON)
            .insert_header(("Cache-Control", "no-store"));
        let challenge = |error: &str, why: &str| {
            // RFC 6750 §3: the challenge, with the reason (quotes cannot appear in it).
            format!(
                "Bearer realm=\"sesame\", error=\"{error}\", error_description=\"{}\"",
                why.replace(['"', '\\'], "'")
            )
        };
        let challenge = match self {
            Self::NoCredentials(_) => Some("Bearer realm=\"sesame\"".to_string()),
            Self::Unauthenticated(why) => Some(challenge("invalid_token", why)),
            Self::StepUp(why) => Some(challenge("insufficient_user_authentication", why)),
            _ => None,
        };
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.insert_header((header::WWW_AUTHENTICATE, value));
        }
        match self {
            Self::Unavailable => {
                response.insert_header(("Retry-After", "5"));
            }
            Self::TooManyRequests(_) => {
                response.insert_header(("Retry-After", "3600"));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&self.problem()).expect("a problem serializes"))
    }
}

impl From<StoreError> for ApiProblem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                Self::Unavailable
            }
            // The database's words name its constraints: say what it means instead.
            StoreError::Conflict(_) => Self::Conflict(
                "a value that must be unique is taken (changed meanwhile?): read it again and retry"
                    .into(),
            ),
            other => {
                tracing::error!(error = %other, "storage error");
                Self::Internal
            }
        }
    }
}

impl From<AdminError> for ApiProblem {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound(m) => Self::NotFound(m),
            AdminError::Forbidden(m) => Self::Forbidden(m),
            AdminError::Stale(m) => Self::Stale(m),
            AdminError::Conflict(m) => Self::Conflict(m),
            AdminError::Invalid { field, message } => Self::InvalidField { field, message },
            AdminError::Fields(fields) => Self::InvalidFields(fields),
            AdminError::Limited(m) => Self::TooManyRequests(m),
            AdminError::Store(s) => s.into(),
            AdminError::Keys(k) => {
                tracing::error!(error = %k, "signing keys");
                Self::Internal
            }
        }
    }
}

impl From<CoreError> for ApiProblem {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::UnknownOrganization(slug) => {
                Self::NotFound(format!("no organization '{slug}'"))
            }
            CoreError::Store(s) => s.into(),
            CoreError::Keys(k) => {
                tracing::error!(error = %k, "signing keys");
                Self::Internal
            }
            CoreError::Internal(reason) => {
                tracing::error!(%reason, "internal error");
                Self::Internal
            }
        }
    }
}

impl From<crate::oidc::token::TokenError> for ApiProblem {
    fn from(e: crate::oidc::token::TokenError) -> Self {
        tracing::warn!(error = %e, "checking an access token");
        Self::Unavailable
    }
}

/// Who called, checked: the principal with its roles, and the actor the audit log names.
#[derive(Debug)]
pub struct Caller {
    pub principal: Principal,
    pub actor: Actor,
}

/// Authenticates the request's bearer token (see [`caller_with_token`]).
pub async fn caller(state: &AppState, req: &HttpRequest) -> Result<Caller, ApiProblem> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| strip_scheme(h, "Bearer"))
        .ok_or_else(|| {
            ApiProblem::NoCredentials(format!(
                "send an access token of the '{ADMIN_ORGANIZATION}' organization for this API \
                 as Authorization: Bearer"
            ))
        })?
        .to_string();
    caller_with_token(state, req, &token, Via::Api).await
}

/// Authenticates `token`: an access token of the administration organization for the API
/// resource, still live (its grant, user or client not revoked), an administrator's from a
/// sign-in with a second factor. `via` names the way in the audit log (the API, the console).
pub async fn caller_with_token(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    via: Via,
) -> Result<Caller, ApiProblem> {
    let admin = match state.organization(ADMIN_ORGANIZATION).await {
        Ok(org) => org,
        Err(CoreError::UnknownOrganization(_)) => {
            return Err(ApiProblem::Unauthenticated(format!(
                "there is no '{ADMIN_ORGANIZATION}' organization yet: create the first \
                 administrator with `sesame admin create`"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let live = match live_access_token(state, &admin, token).await? {
        Ok(live) => live,
        Err(why) => return Err(ApiProblem::Unauthenticated(why.into())),
    };
    if live.claims["aud"] != api_resource(state.settings.base_url.as_str()).as_str() {
        return Err(ApiProblem::Unauthenticated(
            "this access token is for another resource".into(),
        ));
    }
    let (id, name) = match &live.user {
        Some(grant) => {
            // Administrators sign in with a second factor, whatever the application's flow.
            let amr: Vec<String> = serde_json::from_str(&grant.grant.amr).unwrap_or_default();
            if !amr.iter().any(|m| m == "mfa") {
                return Err(ApiProblem::StepUp(
                    "an administrator's token must come from a sign-in with a second factor".into(),
                ));
            }
            (
                Principal::user(&grant.user.id),
                grant.user.username.as_str().to_string(),
            )
        }
        None => (
            Principal::client(&live.application_id),
            live.claims["client_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
    };
    let principal = state
        .db
        .run(move |conn| Principal::load(conn, &id, &name))
        .await?;
    let actor = Actor {
        principal: principal.id.clone(),
        name: principal.name.clone(),
        via,
        ip: super::client_ip::of_request(req, &state.settings.trusted_proxies)
            .map(|ip| ip.to_string()),
        request_id: req
            .extensions()
            .get::<super::RequestId>()
            .map(|id| id.0.clone()),
    };
    Ok(Caller { principal, actor })
}

/// Reads a JSON body: `application/json` (or, for a merge patch, `application/merge-patch+json`)
/// that parses as `T`; otherwise a problem that says what is wrong, with the field.
pub fn json_body<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, ApiProblem> {
    let media = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    if !matches!(
        media.as_deref(),
        Some("application/json" | "application/merge-patch+json")
    ) {
        return Err(ApiProblem::UnsupportedMediaType(
            "send the body as application/json".into(),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiProblem::BadRequest(format!("the body is not JSON: {e}")))?;
    if let Some(field) = control_character(&value, "") {
        return Err(ApiProblem::InvalidField {
            field,
            message: "holds a control character".into(),
        });
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let message = e.into_inner().to_string();
        if field == "." {
            ApiProblem::BadRequest(format!("the body is not acceptable: {message}"))
        } else {
            ApiProblem::InvalidField { field, message }
        }
    })
}

/// The path of the first string (or key) in `value` that holds a control character: no name,
/// address or setting has one, and some databases refuse them.
fn control_character(value: &serde_json::Value, at: &str) -> Option<String> {
    // Line breaks and tabs are text (a formatted postal address has them).
    let bad = |s: &str| {
        s.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    };
    match value {
        serde_json::Value::String(s) if bad(s) => Some(at.trim_start_matches('.').to_string()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| control_character(v, &format!("{at}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            let here = format!("{at}.{k}");
            if bad(k) {
                Some(here.trim_start_matches('.').to_string())
            } else {
                control_character(v, &here)
            }
        }),
        _ => None,
    }
}

/// Reads the query string as `T`, or a problem naming what is wrong.
pub fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiProblem> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiProblem::BadRequest(format!("the query is not acceptable: {e}")))?;
    if let Some((name, _)) = pairs
        .iter()
        .find(|(k, v)| k.chars().chain(v.chars()).any(char::is_control))
    {
        return Err(ApiProblem::InvalidField {
            field: name.clone(),
            message: "holds a control character".into(),
        });
    }
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiProblem::BadRequest(format!("the query is not acceptable: {e}")))
}

/// What `If-Match` expects (RFC 9110 §13.1.1): any version for `*`, else the versions its
/// strong tags name (a weak tag never matches). `required`: a missing header is a 428 (a
/// change that replaces fields); otherwise it allows any version (an action).
pub fn if_match(req: &HttpRequest, required: bool) -> Result<Expected, ApiProblem> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return if required {
            Err(ApiProblem::PreconditionRequired)
        } else {
            Ok(Expected::any())
        };
    };
    let value = value
        .to_str()
        .map_err(|_| ApiProblem::BadRequest("If-Match is not readable text".into()))?
        .trim();
    if value == "*" {
        return Ok(Expected::any());
    }
    let versions: Vec<i64> = value
        .split(',')
        .map(str::trim)
        .filter_map(|tag| tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok())
        .collect();
    if versions.is_empty() {
        return Err(ApiProblem::Stale(
            "If-Match names no version of this resource: read it again".into(),
        ));
    }
    Ok(Expected::one_of(versions))
}

/// A listing's `limit`: 50 when absent, else from 1 to [`crate::admin::users::MAX_PAGE`].
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiProblem> {
    let max = crate::admin::users::MAX_PAGE;
    match limit.unwrap_or(50) {
        limit if (1..=max).contains(&limit) => Ok(limit),
        _ => Err(AdminError::invalid("limit", format!("from 1 to {max}")).into()),
    }
}

/// An entity's `ETag` for its version.
pub fn etag(version: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// The organization named in the path, and the caller allowed `needed` there. Changes in the
/// administration organization (its administrators, its keys, its events) take the system
/// role, whatever role the caller holds over that organization, so no role reaches further
/// than it was granted. An unknown organization is a 404 for the system role only: to
/// others it is refused like one they hold no role in, so they cannot probe for names.
pub async fn organization(
    state: &AppState,
    caller: &Caller,
    slug: &str,
    needed: Role,
) -> Result<std::sync::Arc<crate::state::OrgEntry>, ApiProblem> {
    let org = match state.organization(slug).await {
        Ok(org) => org,
        Err(CoreError::UnknownOrganization(_)) if !caller.principal.is_system() => {
            return Err(ApiProblem::Forbidden(format!(
                "this needs the role '{}' in the organization; you have none there",
                needed.as_str()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let needed = if org.org.slug == ADMIN_ORGANIZATION && needed > Role::Viewer {
        Role::System
    } else {
        needed
    };
    caller.principal.require(org.org.id, needed)?;
    Ok(org)
}

/// The JSON answer of a read or a change, never cached.
pub fn json(status: StatusCode, value: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(value)
}

/// [`json`] with the entity's `ETag` for `version`.
pub fn tagged(status: StatusCode, value: &impl Serialize, version: i64) -> HttpResponse {
    let mut response = json(status, value);
    let (name, value) = etag(version);
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// [`tagged`], with `Location` naming the created entity.
pub fn created(value: &impl Serialize, version: i64, location: &str) -> HttpResponse {
    let mut response = tagged(StatusCode::CREATED, value, version);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The audit recorder of `caller`'s changes.
pub fn recorder(state: &AppState, caller: Caller) -> crate::admin::audit::Recorder {
    crate::admin::audit::Recorder::new(&state.settings, caller.actor)
}

/// A `204 No Content`, never cached.
pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// The API's routes, under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, patch, post, put};
    cfg.route("/openapi.json", get().to(docs::openapi_json))
        .route("/docs", get().to(docs::reference))
        .route("/v1/organizations", get().to(organizations::list))
        .route("/v1/organizations", post().to(organizations::create))
        .service(
            web::scope("/v1/organizations/{org}")
                .route("", get().to(organizations::get))
                .route("", patch().to(organizations::update))
                .route("/applications", get().to(applications::list))
                .route("/applications", post().to(applications::create))
                .route("/applications/{client_id}", get().to(applications::get))
                .route(
                    "/applications/{client_id}",
                    patch().to(applications::update),
                )
                .route(
                    "/applications/{client_id}",
                    delete().to(applications::delete),
                )
                .route(
                    "/applications/{client_id}/secret",
                    post().to(applications::new_secret),
                )
                .route("/users", get().to(users::list))
                .route("/users", post().to(users::create))
                .route("/users/{id}", get().to(users::get))
                .route("/users/{id}", patch().to(users::update))
                .route("/users/{id}", delete().to(users::delete))
                .route("/users/{id}/password", put().to(users::set_password))
                .route("/users/{id}/unlock", post().to(users::unlock))
                .route("/users/{id}/reset-factors", post().to(users::reset_factors))
                .route("/users/{id}/end-sessions", post().to(users::end_sessions))
                .route("/keys", get().to(keys::list))
                .route("/keys/rotate", post().to(keys::rotate))
                .route("/keys/{kid}/retire", post().to(keys::retire))
                .route("/events", get().to(events::list))
                .route("/events/{id}/redeliver", post().to(events::redeliver))
                .route("/audit", get().to(users::audit))
                .route("/sms/test-message", post().to(sms::test_message))
                .route("/webhooks", get().to(webhooks::list))
                .route("/webhooks", post().to(webhooks::create))
                .route("/webhooks/{id}", delete().to(webhooks::delete))
                .route("/roles", get().to(roles::list))
                .route("/roles/{kind}/{name}", put().to(roles::grant))
                .route("/roles/{kind}/{name}", delete().to(roles::revoke)),
        )
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiProblem> {
    Err(ApiProblem::NotFound(
        "no such resource or method in the management API: see /api/docs".into(),
    ))
}
