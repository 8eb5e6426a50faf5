//! "Forgot your password?": the pages of a password reset (`authn::reset`).
//!
//! `GET {issuer}/password-reset?tx=…` (the link under the sign-in page's password form) starts
//! a reset in this browser, remembering the sign-in it left when that one is this browser's.
//! Its first page asks for the username or email address and mails a link, through the same
//! engine steps as a magic link (same answer for everyone, same limits); the link
//! (`/password-reset/link`) opens like a magic link; the second factor follows when the
//! organization asks for it. Then `/password-reset/new` takes the new password: checked by the
//! organization's policy and saved in one transaction that completes the reset (so it works
//! once), ends every session and revokes every grant of the user, ends their other open
//! sign-ins, voids their unused links, lifts the account's locks (the failures were against the
//! old password), records the change and publishes `PasswordUpdatedEvent`.
//! No session is opened: the user signs in again with the new password and their second
//! factor, and is told by email.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

use super::account::{check_policy, notify};
use super::authorize::begin;
use super::browser::{
    TxQuery, csrf_matches, expired_page, form_expired_page, new_csrf, open_transaction, sign_in,
};
use super::error::ApiError;
use super::{AppState, OrgEntry};
use crate::authn::engine::{AccountRequest, Purpose, SignIn};
use crate::authn::flow::{Authenticator, PassedList};
use crate::authn::policy;
use crate::events::{AccountChangeKind, SignInEvent, Subject, account_changed};
use crate::secret::Secret;
use crate::store::auth::{LoginTransaction, sign_out_everywhere};
use crate::store::magic_links::MagicLink;
use crate::store::users::User;
use crate::store::{now, write_transaction};

/// `GET {issuer}/password-reset?tx=…`: starts a reset (the first page asks whose).
pub async fn start(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<TxQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    if !org.org.settings.password_reset.enabled {
        return Ok(not_offered(&state));
    }
    // Remembered only when it is this browser's open sign-in: the page after the reset offers
    // to go on with it.
    // It also keeps that sign-in's language.
    let (back, ui_locales) =
        match open_transaction(&state, &org, &req, query.into_inner().tx).await? {
            Some((tx, _)) => (
                Some(tx.id),
                crate::authn::engine::stored_ui_locales(&tx.request),
            ),
            None => (None, Vec::new()),
        };
    let request = serde_json::to_string(&AccountRequest::Reset { back, ui_locales })
        .expect("requests serialize");
    begin(&state, &org, &req, None, request, "login", None).await
}

fn not_offered(state: &AppState) -> HttpResponse {
    state.pages.error(
        StatusCode::NOT_FOUND,
        &crate::i18n::text("errors-reset-not-offered-title", &[]),
        &crate::i18n::text("errors-reset-not-offered", &[]),
    )
}

/// A reset that passed its flow, ready for the new password.
struct Cleared {
    sign_in: SignIn,
    user: User,
    back: Option<String>,
}

/// The reset named by `tx` if it is this browser's, still open, and passed its whole flow (the
/// link and, when asked for, the second factor), with its user (who still has a password and
/// is not disabled).
async fn cleared(
    state: &AppState,
    org: &std::sync::Arc<OrgEntry>,
    req: &HttpRequest,
    tx: Option<String>,
) -> Result<Option<Cleared>, ApiError> {
    if !org.org.settings.password_reset.enabled {
        return Ok(None);
    }
    let Some(sign_in) = sign_in(state, org, req, tx).await? else {
        return Ok(None);
    };
    let Purpose::Account(AccountRequest::Reset { back, .. }) = &sign_in.purpose else {
        return Ok(None);
    };
    let back = back.clone();
    let link_opened = PassedList::from_json(&sign_in.tx.passed)
        .0
        .iter()
        .any(|p| p.method == Authenticator::MagicLink);
    let Some(user_id) = sign_in.tx.user_id.clone().filter(|_| link_opened) else {
        return Ok(None);
    };
    if sign_in.next_step(&state.core).await?.is_some() {
        return Ok(None);
    }
    let org_id = org.org.id;
    let user = state
        .db
        .run(move |conn| User::find(conn, org_id, &user_id))
        .await?
        .filter(|u| !u.disabled && u.password_hash.is_some());
    Ok(user.map(|user| Cleared {
        sign_in,
        user,
        back,
    }))
}

/// `GET {issuer}/password-reset/new?tx=…`: the new password's form.
pub async fn new_password_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<TxQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let Some(cleared) = cleared(&state, &org, &req, query.into_inner().tx).await? else {
        return Ok(expired_page(&state));
    };
    form(&state, &org, &cleared, StatusCode::OK, None).await
}

async fn form(
    state: &AppState,
    org: &OrgEntry,
    cleared: &Cleared,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let tx = &cleared.sign_in.tx.id;
    let csrf = new_csrf(state, tx).await?;
    Ok(state.pages.render(
        status,
        "password_reset.html",
        context! {
            org_name => org.org.display_name,
            username => cleared.user.username.as_str(),
            action => format!("{}/password-reset/new", org.issuer),
            tx,
            csrf,
            min_length => org.org.settings.password_policy.min_length,
            error,
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct NewPasswordForm {
    tx: Option<String>,
    csrf: Option<String>,
    password: Option<Secret<String>>,
    confirm: Option<Secret<String>>,
}

/// `POST {issuer}/password-reset/new`: saves the new password (once).
pub async fn new_password_submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form_data: web::Form<NewPasswordForm>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let sent = form_data.into_inner();
    let Some(cleared) = cleared(&state, &org, &req, sent.tx).await? else {
        return Ok(expired_page(&state));
    };
    if !csrf_matches(sent.csrf.as_deref(), &cleared.sign_in.tx) {
        return Ok(form_expired_page(&state));
    }
    let refuse = |msg: &str| {
        let msg = msg.to_string();
        let (state, org, cleared) = (&state, &org, &cleared);
        async move {
            form(
                state,
                org,
                cleared,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&msg),
            )
            .await
        }
    };
    let (Some(password), Some(confirm)) = (sent.password, sent.confirm) else {
        return refuse(&crate::i18n::text("errors-reset-password-missing", &[])).await;
    };
    if password != confirm {
        return refuse(&crate::i18n::text("errors-reset-password-mismatch", &[])).await;
    }
    if let Err(msg) = check_policy(&org, &cleared.user, password.expose()) {
        return refuse(&msg).await;
    }
    let Some(hash) = state.hasher.hash(password).await else {
        return Err(ApiError::Internal);
    };
    let (tx_id, user_id, entry) = (
        cleared.sign_in.tx.id.clone(),
        cleared.user.id.clone(),
        org.clone(),
    );
    let saved = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let (t, org_id) = (now(), entry.org.id);
                // Checked again after the hash: the reset may have expired, the user been
                // disabled or left without a password meanwhile.
                let user = User::find(conn, org_id, &user_id)?
                    .filter(|u| !u.disabled && u.password_hash.is_some());
                let Some(user) = user else {
                    return Ok(false);
                };
                // Completing the reset first makes it single use: a second submit finds it done.
                if LoginTransaction::find_open(conn, org_id, &tx_id, t)?.is_none()
                    || !LoginTransaction::complete(conn, &tx_id, t)?
                {
                    return Ok(false);
                }
                User::set_password_hash(conn, &user_id, &hash)?;
                // The failures that locked the account were against the old password.
                let name = user.username.as_str();
                if let Some(until) = policy::unlock_account(conn, org_id, name, t)? {
                    let subject = Subject {
                        user_id: &user_id,
                        username: name,
                    };
                    SignInEvent::Unlocked { until }
                        .publish(entry.event_origin(), subject)
                        .store(conn)?;
                }
                sign_out_everywhere(conn, &user_id)?;
                LoginTransaction::end_of_user(conn, &user_id, t)?;
                MagicLink::void_of_user(conn, &user_id, t)?;
                account_changed(
                    conn,
                    entry.event_origin(),
                    &user_id,
                    AccountChangeKind::PasswordReset,
                    "by email link",
                )?;
                Ok(true)
            })
        })
        .await?;
    if !saved {
        return Ok(expired_page(&state));
    }
    let user = &cleared.user;
    tracing::info!(user = %user.id, "password reset; every session ended");
    let org_name = &org.org.display_name;
    let text = [
        crate::i18n::text("mail-notice-password-reset", &[("org", org_name.into())]),
        crate::i18n::text("mail-notice-password-reset-not-you", &[]),
    ]
    .join("\n\n");
    let subject = crate::i18n::text(
        "mail-subject-password-reset-done",
        &[("org", org_name.into())],
    );
    notify(&state, &org, user, subject, text, "password_reset");
    // The sign-in the user left, if it is still open in this browser (one of this user's was
    // ended above with every other).
    let back = match open_transaction(&state, &org, &req, cleared.back.clone()).await? {
        Some((tx, _)) => Some(format!("{}/login?tx={}", org.issuer, tx.id)),
        None => None,
    };
    Ok(state.pages.render(
        StatusCode::OK,
        "password_reset_done.html",
        context! {
            org_name,
            continue_url => back,
            account_url => format!("{}/account/", org.issuer),
        },
    ))
}
