//! The `federated:<name>` first step: Sesame as a relying party of an upstream OpenID provider.
//!
//! `POST /t/{org}/federated/{name}` (a button on the sign-in page) sends the browser to the
//! provider; `GET /t/{org}/federated/{name}/callback` takes the state once, checks the sign-in is
//! this browser's, and hands the answer to `authn::upstream`, which exchanges the code, verifies
//! the ID token and finds the local user (see `authn::federation` for linking and the
//! phone-number rule). Every upstream failure ends on a readable page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::browser::{
    csrf_matches, ctx, expired_page, form_expired_page, open_transaction, refusal_page, see_other,
    sign_in,
};
use super::error::ApiError;
use super::signin::respond;
use super::{AppState, OrgEntry};
use crate::authn::engine::{self, Command, FormToken, SignIn};
use crate::authn::federation::{IdentityProvider, Linked};
use crate::authn::flow::Authenticator;
use crate::authn::outcome::Refusal;
use crate::authn::upstream::{self, Answer, Finished, UpstreamError};
use crate::i18n::{Arg, text};

/// The provider's label, the argument of the messages below.
fn named(provider: &IdentityProvider) -> [(&'static str, Arg); 1] {
    [("provider", provider.label().into())]
}

fn unreachable_page(state: &AppState, provider: &IdentityProvider) -> HttpResponse {
    let args = named(provider);
    state.pages.error(
        StatusCode::BAD_GATEWAY,
        &text("errors-federation-unreachable-title", &args),
        &text("errors-federation-unreachable", &args),
    )
}

/// A first sign-in whose profile the provider did not give (its UserInfo failed): no account
/// was made from half of it.
fn profile_unavailable_page(state: &AppState, provider: &IdentityProvider) -> HttpResponse {
    let args = named(provider);
    state.pages.error(
        StatusCode::BAD_GATEWAY,
        &text("errors-federation-no-profile-title", &args),
        &text("errors-federation-no-profile", &args),
    )
}

fn unverified_page(state: &AppState, provider: &IdentityProvider) -> HttpResponse {
    let args = named(provider);
    state.pages.error(
        StatusCode::BAD_GATEWAY,
        &text("errors-federation-unverified-title", &args),
        &text("errors-federation-unverified", &args),
    )
}

/// The page for an upstream failure; a storage failure stays an error.
fn failure_page(
    state: &AppState,
    provider: &IdentityProvider,
    e: UpstreamError,
) -> Result<HttpResponse, ApiError> {
    match e {
        UpstreamError::Unreachable => Ok(unreachable_page(state, provider)),
        UpstreamError::Unverified => Ok(unverified_page(state, provider)),
        UpstreamError::Store(s) => Err(s.into()),
    }
}

/// The page for a sign-in the provider refused with the error `code`.
fn refused_page(state: &AppState, provider: &IdentityProvider, code: &str) -> HttpResponse {
    if code == "access_denied" {
        state.pages.error(
            StatusCode::FORBIDDEN,
            &text("errors-federation-cancelled-title", &[]),
            &text("errors-federation-cancelled", &named(provider)),
        )
    } else {
        let [label] = named(provider);
        let args = [label, ("code", code.into())];
        state.pages.error(
            StatusCode::BAD_GATEWAY,
            &text("errors-federation-refused-title", &args),
            &text("errors-federation-refused", &args),
        )
    }
}

fn no_account_page(state: &AppState, org: &OrgEntry, provider: &IdentityProvider) -> HttpResponse {
    let [label] = named(provider);
    state.pages.error(
        StatusCode::FORBIDDEN,
        &text("errors-federation-no-account-title", &[]),
        &text(
            "errors-federation-no-account",
            &[label, ("org", (&org.org.display_name).into())],
        ),
    )
}

fn spent_page(state: &AppState) -> HttpResponse {
    state.pages.error(
        StatusCode::BAD_REQUEST,
        &text("errors-federation-spent-title", &[]),
        &text("errors-federation-spent", &[]),
    )
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    tx: Option<String>,
    csrf: Option<String>,
}

/// `POST /t/{org}/federated/{name}`: off to the provider.
pub async fn start(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    form: web::Form<StartForm>,
) -> Result<HttpResponse, ApiError> {
    let (slug, name) = path.into_inner();
    let org = state.organization(&slug).await?;
    let form = form.into_inner();
    let method = Authenticator::Federated(name.clone());
    let Some(signing_in) = first_step(&state, &org, &req, form.tx.clone(), &method).await? else {
        return Ok(expired_page(&state));
    };
    let (tx, purpose) = (&signing_in.tx, &signing_in.purpose);
    if !csrf_matches(form.csrf.as_deref(), tx) {
        return Ok(form_expired_page(&state));
    }
    let Some(provider) = org.org.settings.identity_provider(&name).cloned() else {
        return Ok(expired_page(&state));
    };
    match upstream::begin(&state, &org, &provider, &tx.id, purpose).await {
        Ok(url) => Ok(see_other(&url)),
        Err(e) => failure_page(&state, &provider, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// `GET /t/{org}/federated/{name}/callback`: back from the provider.
pub async fn callback(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let (slug, name) = path.into_inner();
    let org = state.organization(&slug).await?;
    let query = query.into_inner();
    let Some(provider) = org.org.settings.identity_provider(&name).cloned() else {
        return Ok(expired_page(&state));
    };
    let Some(state_value) = query.state.filter(|s| !s.is_empty()) else {
        return Ok(state.pages.error(
            StatusCode::BAD_REQUEST,
            &text("errors-federation-incomplete-title", &[]),
            &text("errors-federation-incomplete", &[]),
        ));
    };
    let Some(flight) = upstream::pending(&state, &org, &provider, &state_value).await? else {
        return Ok(spent_page(&state));
    };
    // Only the browser that was sent off may come back with the answer; another browser is
    // refused before the state is spent, so it cannot spoil the right one's sign-in.
    let tx_id = Some(flight.transaction_id.clone());
    if open_transaction(&state, &org, &req, tx_id.clone())
        .await?
        .is_none()
    {
        return Ok(expired_page(&state));
    }
    let method = Authenticator::Federated(provider.name.clone());
    let Some(signing_in) = first_step(&state, &org, &req, tx_id, &method).await? else {
        return Ok(expired_page(&state));
    };
    if !upstream::take(&state, &org, &state_value).await? {
        return Ok(spent_page(&state));
    }
    let answer = Answer {
        code: query.code,
        error: query.error,
        iss: query.iss,
    };
    let tx_user = signing_in.tx.user_id.clone();
    let (user, at) = match upstream::finish(&state, &org, &provider, &flight, answer, tx_user).await
    {
        Ok(Finished::Linked(Linked::User(user), at)) => (user, at),
        Ok(Finished::Linked(Linked::NoAccount, _)) => {
            return Ok(no_account_page(&state, &org, &provider));
        }
        Ok(Finished::Linked(Linked::Another, _)) => {
            return Ok(refusal_page(&state, Refusal::AnotherAccount));
        }
        Ok(Finished::Linked(Linked::Disabled, _)) => {
            return Ok(refusal_page(&state, Refusal::Disabled));
        }
        Ok(Finished::Linked(Linked::ProfileUnavailable, _)) => {
            return Ok(profile_unavailable_page(&state, &provider));
        }
        Ok(Finished::Refused(code)) => return Ok(refused_page(&state, &provider, &code)),
        Err(e) => return failure_page(&state, &provider, e),
    };
    let command = Command::FirstStepPassed { user, method, at };
    let context = ctx(&state, &req, FormToken::NotAForm);
    let outcome = engine::run(&state.core, &signing_in, command, &context).await?;
    respond(&state, &signing_in, &req, outcome).await
}

/// The browser's sign-in `tx`, if its next step offers `method`.
async fn first_step(
    state: &AppState,
    org: &std::sync::Arc<OrgEntry>,
    req: &HttpRequest,
    tx: Option<String>,
    method: &Authenticator,
) -> Result<Option<SignIn>, ApiError> {
    let Some(signing_in) = sign_in(state, org, req, tx).await? else {
        return Ok(None);
    };
    Ok(engine::first_step(state, &signing_in, Some(method))
        .await?
        .map(|_| signing_in))
}
