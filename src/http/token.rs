//! The token, revocation and introspection endpoints: the form and the `Authorization` header
//! in, JSON out. The grants, client authentication and token checks are in `oidc::token`,
//! `oidc::client_auth` and `oidc::presented`.

use actix_web::{HttpRequest, HttpResponse, web};

use super::error::OAuthError;
use super::{AppState, OrgEntry};
use crate::oidc::authorize::Params;
use crate::oidc::{client_auth, presented, token};
use crate::store::applications::Application;

pub async fn token(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let org = state.organization(&path).await?;
    let (params, app) = form_and_client(&state, &org, &req, &body).await?;
    let answer = token::grant(&state, &org, &app, &params).await?;
    Ok(no_store(HttpResponse::Ok()).json(answer))
}

fn no_store(mut res: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    res.insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"));
    res
}

/// Reads the form body and authenticates the client, as the token, revocation and
/// introspection endpoints all do.
async fn form_and_client(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Params, Application), OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
        OAuthError::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )
    })?;
    let params = Params::from_pairs(pairs);
    if let Some(name) = params.control_character() {
        return Err(OAuthError::new(
            "invalid_request",
            format!(
                "the parameter {} holds a control character",
                name.escape_default()
            ),
        ));
    }
    if let Some(name) = params.repeated() {
        return Err(OAuthError::new(
            "invalid_request",
            format!("the parameter {name} appears more than once"),
        ));
    }
    let header = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok());
    let presented = client_auth::presented_credentials(header, &params)?;
    let app = client_auth::authenticate(state, org, &presented).await?;
    Ok((params, app))
}

/// Token revocation (RFC 7009). Answers 200 whether or not the token was known, so the endpoint
/// says nothing about tokens; a token of another client is left alone.
pub async fn revoke(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let org = state.organization(&path).await?;
    let (params, app) = form_and_client(&state, &org, &req, &body).await?;
    presented::revoke(&state, &org, &app, &params).await?;
    Ok(no_store(HttpResponse::Ok()).finish())
}

/// Token introspection (RFC 7662), for confidential clients (typically resource servers).
pub async fn introspect(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let org = state.organization(&path).await?;
    let (params, app) = form_and_client(&state, &org, &req, &body).await?;
    let answer = presented::introspect(&state, &org, &app, &params).await?;
    Ok(no_store(HttpResponse::Ok()).json(answer))
}
