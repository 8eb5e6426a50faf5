//! RP-Initiated Logout 1.0: `GET|POST {issuer}/logout` ends the SSO session.
//!
//! Sesame redirects to a `post_logout_redirect_uri` only when it is registered, exactly, for the
//! client named by a valid `id_token_hint` (expired ones are fine: only signature, `iss` and `aud`
//! are checked) or by `client_id`. Without a hint that matches the session, the user confirms
//! first, so a cross-site link cannot sign anyone out.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use minijinja::context;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::browser::SESSION_COOKIE;
use super::error::ApiError;
use super::{AppState, OrgEntry};
use crate::i18n::text;
use crate::oidc::authorize::Params;
use crate::secret::sha256_hex;
use crate::store::applications::Application;
use crate::store::auth::Grant;
use crate::store::sessions::Session;
use crate::store::write_transaction;

/// A logout request after validation.
struct Logout {
    app: Option<Application>,
    redirect: Option<String>,
    state: Option<String>,
    /// The `sub` of a valid id_token_hint.
    hinted_subject: Option<String>,
}

/// Checks the hint, the client and the redirect URI. `Err` is the message of an error page.
/// The pages that follow speak the request's `ui_locales` (RP-Initiated Logout 1.0 §2).
async fn validate(
    state: &AppState,
    org: &OrgEntry,
    params: &Params,
) -> Result<Result<Logout, String>, ApiError> {
    if let Some(tags) = params.get("ui_locales") {
        crate::i18n::prefer_ui_locales_param(tags);
    }
    let mut client_id = params.get("client_id").map(str::to_string);
    let mut hinted_subject = None;
    if let Some(hint) = params.get("id_token_hint") {
        let Some(claims) = state.id_token_hint(org, hint).await? else {
            return Ok(Err(text("errors-logout-hint-invalid", &[])));
        };
        let aud = match &claims["aud"] {
            Value::String(s) => Some(s.clone()),
            Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        if client_id.is_some() && client_id != aud {
            return Ok(Err(text("errors-logout-client-mismatch", &[])));
        }
        client_id = aud;
        hinted_subject = claims["sub"].as_str().map(str::to_string);
    }
    let app = match client_id {
        Some(id) => {
            let org_id = org.org.id;
            let app = state
                .db
                .run(move |conn| Application::find(conn, org_id, &id))
                .await?;
            if app.is_none() {
                return Ok(Err(text("errors-logout-unknown-app", &[])));
            }
            app
        }
        None => None,
    };
    let redirect = params.get("post_logout_redirect_uri").map(str::to_string);
    if let Some(uri) = &redirect {
        let registered = app.as_ref().is_some_and(|a| {
            a.post_logout_redirect_uris
                .iter()
                .any(|u| u.as_str() == uri)
        });
        if !registered {
            return Ok(Err(text("errors-logout-redirect-unregistered", &[])));
        }
    }
    Ok(Ok(Logout {
        app,
        redirect,
        state: params.get("state").map(str::to_string),
        hinted_subject,
    }))
}

/// The confirmation form's token: a MAC of the session it would end, so it cannot be forged
/// across sites and does not outlive the session.
fn csrf_token(state: &AppState, session_hash: &str) -> Result<String, ApiError> {
    let mac = state
        .keys
        .kek()
        .mac("logout", session_hash.as_bytes())
        .map_err(|_| ApiError::Internal)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac))
}

/// Ends the session (if any) and its grants, then says so or goes back to the client.
async fn finish(
    state: &AppState,
    org: &OrgEntry,
    session: Option<Session>,
    logout: &Logout,
) -> Result<HttpResponse, ApiError> {
    if let Some(session) = session {
        state
            .db
            .run(move |conn| {
                write_transaction(conn, |conn| {
                    Session::end(conn, &session.id_hash)?;
                    Grant::revoke_for_session(conn, &session.sid)
                })
            })
            .await?;
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "")
        .path(format!(
            "{}/t/{}/",
            state.settings.base_url.path(),
            org.org.slug
        ))
        .http_only(true)
        .finish();
    gone.make_removal();
    let mut res = match &logout.redirect {
        Some(uri) => {
            let mut url = url::Url::parse(uri).map_err(|_| ApiError::Internal)?;
            if let Some(s) = &logout.state {
                url.query_pairs_mut().append_pair("state", s);
            }
            HttpResponse::SeeOther()
                .insert_header(("Location", url.to_string()))
                .finish()
        }
        None => state.pages.error(
            StatusCode::OK,
            &text("errors-logout-done-title", &[]),
            &text("errors-logout-done", &[]),
        ),
    };
    res.add_cookie(&gone).map_err(|_| ApiError::Internal)?;
    Ok(res)
}

async fn current(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
) -> Result<Option<Session>, ApiError> {
    let Some(hash) = req.cookie(SESSION_COOKIE).map(|c| sha256_hex(c.value())) else {
        return Ok(None);
    };
    let org_id = org.org.id;
    Ok(state
        .db
        .run(move |conn| Session::find_live(conn, org_id, &hash))
        .await?)
}

pub async fn logout(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let params = match super::params_as_get(&state, &req, &body, &format!("{}/logout", org.issuer))
    {
        Ok(p) => p,
        Err(res) => return Ok(*res),
    };
    let logout = match validate(&state, &org, &params).await? {
        Ok(l) => l,
        Err(message) => return Ok(unusable(&state, &message)),
    };
    let session = current(&state, &org, &req).await?;
    let hint_matches = match (&session, &logout.hinted_subject) {
        (None, _) => true,
        (Some(s), Some(sub)) => &s.user_id == sub,
        (Some(_), None) => false,
    };
    if hint_matches {
        return finish(&state, &org, session, &logout).await;
    }
    let session_hash = session
        .as_ref()
        .map(|s| s.id_hash.clone())
        .unwrap_or_default();
    Ok(state.pages.render(
        StatusCode::OK,
        "logout.html",
        context! {
            org_name => org.org.display_name,
            app_name => logout.app.as_ref().map(|a| a.name.clone()),
            action => format!("{}/logout/confirm", org.issuer),
            csrf => csrf_token(&state, &session_hash)?,
            client_id => logout.app.as_ref().map(|a| a.client_id.to_string()),
            post_logout_redirect_uri => logout.redirect,
            state => logout.state,
            ui_locales => params.get("ui_locales"),
        },
    ))
}

pub async fn confirm(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let Some((_, params)) = super::read_params(&req, &body) else {
        return Ok(state.pages.error(
            StatusCode::BAD_REQUEST,
            &text("errors-logout-unreadable-title", &[]),
            &text("errors-logout-unreadable", &[]),
        ));
    };
    let session = current(&state, &org, &req).await?;
    let expected = csrf_token(
        &state,
        &session
            .as_ref()
            .map(|s| s.id_hash.clone())
            .unwrap_or_default(),
    )?;
    let ok = params
        .get("csrf")
        .is_some_and(|c| bool::from(c.as_bytes().ct_eq(expected.as_bytes())));
    if !ok {
        return Ok(super::browser::form_expired_page(&state));
    }
    let logout = match validate(&state, &org, &params).await? {
        Ok(l) => l,
        Err(message) => return Ok(unusable(&state, &message)),
    };
    finish(&state, &org, session, &logout).await
}

/// The page of a sign-out request that cannot be used, and why.
fn unusable(state: &AppState, message: &str) -> HttpResponse {
    state.pages.error(
        StatusCode::BAD_REQUEST,
        &text("errors-logout-unusable-title", &[]),
        message,
    )
}
