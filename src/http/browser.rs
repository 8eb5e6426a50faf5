//! Browser plumbing shared by the sign-in, consent, account and sign-out pages: the cookies
//! (session, browser binding), CSRF tokens of forms, the sign-in a page names, and the pages for
//! an expired sign-in or form.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::ApiError;
use super::{AppState, OrgEntry};
use crate::authn::engine::{Ctx, FormToken, SignIn, load_bound, token_matches};
use crate::authn::outcome::Refusal;
use crate::secret::{random_token, sha256_hex};
use crate::store::applications::Application;
use crate::store::auth::LoginTransaction;
use crate::store::now;

pub const SESSION_COOKIE: &str = "sesame_session";
pub const BROWSER_COOKIE: &str = "sesame_browser";
/// Marks a browser that completed a sign-in, for smart lockout (`authn::policy::known_device`).
pub const DEVICE_COOKIE: &str = "sesame_device";

/// A cookie of the organization: only sent to its paths, not to scripts, not cross-site.
pub(super) fn cookie<'a>(
    state: &AppState,
    org: &OrgEntry,
    name: &'a str,
    value: String,
) -> Cookie<'a> {
    Cookie::build(name, value)
        .path(format!(
            "{}/t/{}/",
            state.settings.base_url.path(),
            org.org.slug
        ))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.base_url.as_str().starts_with("https://"))
        .finish()
}

/// The SHA-256 of a cookie's value: how sessions and bindings are stored.
pub(super) fn cookie_hash(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name).map(|c| sha256_hex(c.value()))
}

/// A 303 to `location`, never cached.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

#[derive(Debug, Deserialize)]
pub struct TxQuery {
    pub(super) tx: Option<String>,
}

/// The open transaction named by `tx`, if it belongs to this browser, with its application
/// (none for the account area's).
pub(super) async fn open_transaction(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
    tx: Option<String>,
) -> Result<Option<(LoginTransaction, Option<Application>)>, ApiError> {
    let (Some(tx_id), Some(browser)) = (tx, cookie_hash(req, BROWSER_COOKIE)) else {
        return Ok(None);
    };
    let found = load_bound(state, org, &tx_id, &browser, now()).await?;
    if let Some((tx, _)) = &found {
        crate::authn::engine::prefer_languages_of(tx);
    }
    Ok(found)
}

/// The sign-in named by `tx`, if it is this browser's (and not a consent transaction).
pub(super) async fn sign_in(
    state: &AppState,
    org: &std::sync::Arc<OrgEntry>,
    req: &HttpRequest,
    tx: Option<String>,
) -> Result<Option<SignIn>, ApiError> {
    let (Some(tx_id), Some(browser)) = (tx, cookie_hash(req, BROWSER_COOKIE)) else {
        return Ok(None);
    };
    Ok(SignIn::open(state, org, &tx_id, &browser, now()).await?)
}

/// The client's address as the trusted proxies pass it on (empty when unknown).
pub(super) fn client_ip(state: &AppState, req: &HttpRequest) -> String {
    super::client_ip::of_request(req, &state.settings.trusted_proxies)
        .map(|ip| ip.to_string())
        .unwrap_or_default()
}

/// The engine's context of a browser request; `form` is the token a form carried.
pub(super) fn ctx(state: &AppState, req: &HttpRequest, form: FormToken) -> Ctx {
    Ctx {
        client_ip: client_ip(state, req),
        now: now(),
        session_hash: cookie_hash(req, SESSION_COOKIE),
        form,
        device: req.cookie(DEVICE_COOKIE).map(|c| c.value().to_string()),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| {
                ua.chars()
                    .take(crate::store::sessions::Session::USER_AGENT_MAX)
                    .collect()
            }),
    }
}

/// A new CSRF token for the form a page shows; its hash replaces the transaction's previous
/// one, so only the newest page's form is accepted.
pub(super) async fn new_csrf(state: &AppState, tx_id: &str) -> Result<String, ApiError> {
    let csrf = random_token(32);
    let (id, hash) = (tx_id.to_string(), sha256_hex(csrf.expose()));
    state
        .db
        .run(move |conn| LoginTransaction::set_csrf(conn, &id, &hash))
        .await?;
    Ok(csrf.expose().clone())
}

/// Whether a form's CSRF token is the one its transaction's page showed (compared by hash, in
/// constant time).
pub(super) fn csrf_matches(sent: Option<&str>, tx: &LoginTransaction) -> bool {
    token_matches(sent, tx)
}

/// The answer to a form whose CSRF token is missing or stale (sign-in, consent, sign-out).
pub(super) fn form_expired_page(state: &AppState) -> HttpResponse {
    refusal_page(state, Refusal::FormExpired)
}

/// The page of a sign-in that cannot go on.
pub(super) fn refusal_page(state: &AppState, refusal: Refusal) -> HttpResponse {
    state.pages.error(
        refusal_status(refusal),
        &refusal.title(),
        &refusal.message(),
    )
}

/// The HTTP status of a refusal, for pages and the JSON API alike.
pub(super) fn refusal_status(refusal: Refusal) -> StatusCode {
    match refusal {
        Refusal::Expired | Refusal::AnotherAccount => StatusCode::BAD_REQUEST,
        Refusal::Locked { .. }
        | Refusal::Disabled
        | Refusal::ConfirmAgain
        | Refusal::FormExpired => StatusCode::FORBIDDEN,
        Refusal::NetworkThrottled { .. } | Refusal::LinksThrottled => StatusCode::TOO_MANY_REQUESTS,
        Refusal::LinkInvalid | Refusal::LinkUsed | Refusal::LinkExpired => StatusCode::BAD_REQUEST,
        Refusal::LinkOtherBrowser => StatusCode::FORBIDDEN,
    }
}

pub(super) fn expired_page(state: &AppState) -> HttpResponse {
    refusal_page(state, Refusal::Expired)
}
