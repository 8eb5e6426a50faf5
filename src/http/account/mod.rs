//! The account area, `{issuer}/account/`: a user's own page for their mobile number, backup
//! codes, authenticator apps and passkeys, sessions and connected applications.
//!
//! Viewing needs a session. Any change needs a fresh pass through the user's whole chain — the
//! password and, when they have one, their second factor, both within the last
//! [`FRESH_SECONDS`](crate::authn::engine::FRESH_SECONDS) — so a password-only session can never mint backup codes or move the
//! codes to another phone. A new number is saved only once a code sent to it is entered. Every
//! change is recorded and publishes an event, in the transaction of the change.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use minijinja::context;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::authorize::{begin, current_session};
use super::browser::{form_expired_page, see_other};
use super::error::ApiError;
use super::{AppState, OrgEntry};
use crate::authn::backup;
use crate::authn::engine::{AccountRequest, Progress, fresh_until};
use crate::authn::factor::{CODE_FACTORS, KEY_FACTORS, key_factor};
use crate::authn::flow::PassedList;
use crate::domain::PhoneNumber;
use crate::store::account_changes::AccountChange;
use crate::store::credentials::Credential;
use crate::store::sessions::Session;
use crate::store::users::User;
use crate::store::{StoreError, backup_codes, now};

mod credentials;
mod passkeys;
mod password;
mod sessions;
pub use credentials::credentials_change;
use credentials::{enroll_by_admin_app, may_enroll_factor};
pub use password::password_change;
pub(super) use password::{check_new_password, check_policy, notify, send_notice};
pub use sessions::{applications_change, sessions_change};

/// The CSRF token of the account forms: a MAC of the session id under a key outside the
/// database, so it is tied to the session and cannot be forged.
fn csrf_token(state: &AppState, session: &Session) -> Result<String, ApiError> {
    let mac = state
        .keys
        .kek()
        .mac("account-csrf", session.sid.as_bytes())
        .map_err(|_| ApiError::Internal)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac))
}

fn csrf_ok(state: &AppState, session: &Session, sent: Option<&str>) -> Result<bool, ApiError> {
    let expected = csrf_token(state, session)?;
    Ok(sent.is_some_and(|s| bool::from(s.as_bytes().ct_eq(expected.as_bytes()))))
}

struct Account {
    session: Session,
    user: User,
    backup_left: i64,
    /// Confirmed credentials of plug-in factors (authenticator apps).
    credentials: Vec<Credential>,
    second_factor: bool,
    /// The user's live sessions here, this one among them.
    sessions: Vec<Session>,
    /// The applications that can act for the user.
    apps: Vec<sessions::AppWithAccess>,
}

async fn load(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
) -> Result<Option<Account>, ApiError> {
    let Some((session, user)) = current_session(state, org, req).await? else {
        return Ok(None);
    };
    let (id, org_id) = (user.id.clone(), org.org.id);
    let (backup_left, credentials, (sessions, apps)) = state
        .db
        .run(move |conn| {
            Ok((
                backup_codes::remaining(conn, &id)?,
                Credential::of_user(conn, &id)?,
                sessions::load(conn, org_id, &id)?,
            ))
        })
        .await?;
    let second_factor = (user.phone_number.is_some() && user.phone_number_verified)
        || backup_left > 0
        || !credentials.is_empty();
    Ok(Some(Account {
        session,
        user,
        backup_left,
        credentials,
        second_factor,
        sessions,
        apps,
    }))
}

fn account_url(org: &OrgEntry) -> String {
    format!("{}/account/", org.issuer)
}

/// Starts a pass through the user's chain that returns to the account page: for the session's
/// user when there is one (stepping their session up), else for whoever signs in.
async fn start_verify(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
    account: Option<&Account>,
) -> Result<HttpResponse, ApiError> {
    let request = serde_json::to_string(&AccountRequest::Verify).expect("requests serialize");
    let progress = account.map(|a| Progress {
        user_id: a.user.id.clone(),
        passed: PassedList::default(),
        session_sid: Some(a.session.sid.clone()),
    });
    begin(state, org, req, None, request, "login", progress).await
}

#[derive(Debug, Deserialize)]
pub struct AccountQuery {
    changed: Option<String>,
}

async fn render(
    state: &AppState,
    org: &OrgEntry,
    account: &Account,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let id = account.user.id.clone();
    let changes = state
        .db
        .run(move |conn| AccountChange::of_user(conn, &id))
        .await?;
    let changes: Vec<_> = changes
        .iter()
        .take(10)
        .map(|c| {
            context! {
                when => crate::i18n::ago(c.created_at, now()),
                what => change_label(&c.change),
                detail => c.detail,
            }
        })
        .collect();
    let phone = account
        .user
        .phone_number
        .as_ref()
        .filter(|_| account.user.phone_number_verified)
        .map(PhoneNumber::masked);
    let fresh = fresh_until(&account.session, account.second_factor, now());
    let (sessions_action, apps_action) = sessions::actions(org);
    Ok(state.pages.render(
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        "account.html",
        context! {
            org_name => org.org.display_name,
            username => account.user.username.as_str(),
            phone,
            backup_left => account.backup_left,
            can_generate => can_generate(account),
            can_enroll => may_enroll(org, account),
            enroll_by_admin => enroll_by_admin(),
            fresh_until => fresh.map(|t| crate::i18n::until(t, now())),
            verify_url => format!("{}/account/verify", org.issuer),
            backup_action => format!("{}/account/backup-codes", org.issuer),
            phone_action => format!("{}/account/phone", org.issuer),
            credentials_action => format!("{}/account/credentials", org.issuer),
            credentials => listed(account, false),
            keys => listed(account, true),
            key_factors => KEY_FACTORS.iter()
                .filter(|f| passkeys::may_add_key(state, org, account, f.name()))
                .map(|f| context! {
                    name => f.name(),
                    label => crate::i18n::factor_text(f.name(), "label", f.label()),
                }).collect::<Vec<_>>(),
            enroll_by_admin_key => passkeys::enroll_by_admin_key(),
            factors => CODE_FACTORS.iter()
                .filter(|f| may_enroll_factor(org, account, f.name()))
                .map(|f| context! {
                    name => f.name(),
                    label => crate::i18n::factor_text(f.name(), "label", f.label()),
                }).collect::<Vec<_>>(),
            enroll_by_admin_app => enroll_by_admin_app(),
            has_password => account.user.password_hash.is_some(),
            email_notice => account.user.email_verified && account.user.email.is_some(),
            password_action => format!("{}/account/password", org.issuer),
            min_length => org.org.settings.password_policy.min_length,
            sessions => sessions::listed_sessions(account, fresh.is_some()),
            sessions_action,
            apps => sessions::listed_apps(account),
            apps_action,
            csrf => csrf_token(state, &account.session)?,
            changes,
            notice,
            error,
        },
    ))
}

/// What a recorded change (`account_changes.change`) is, as the page lists it: "password
/// changed". A kind this version does not know is shown as it is stored, underscores aside.
fn change_label(change: &str) -> String {
    let id = match change {
        "backup_codes_generated" => "forms-account-change-backup-codes-generated",
        "backup_codes_removed" => "forms-account-change-backup-codes-removed",
        "mobile_number_changed" => "forms-account-change-mobile-number-changed",
        "credential_added" => "forms-account-change-credential-added",
        "credential_removed" => "forms-account-change-credential-removed",
        "sessions_ended" => "forms-account-change-sessions-ended",
        "application_access_removed" => "forms-account-change-application-access-removed",
        "password_changed" => "forms-account-change-password-changed",
        "password_reset" => "forms-account-change-password-reset",
        "registered" => "forms-account-change-registered",
        _ => return change.replace('_', " "),
    };
    crate::i18n::text(id, &[])
}

/// The account's credentials of code factors (authenticator apps) or of key factors
/// (passkeys), as the page lists them.
fn listed(account: &Account, keys: bool) -> Vec<minijinja::Value> {
    account
        .credentials
        .iter()
        .filter(|c| key_factor(&c.factor).is_some() == keys)
        .map(|c| {
            context! {
                id => c.id,
                name => c.name,
                added => c.confirmed_at.map(|t| crate::i18n::ago(t, now())),
                last_used => c.last_used_at.map(|t| crate::i18n::ago(t, now())),
            }
        })
        .collect()
}

/// `GET {issuer}/account/`.
pub async fn account_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let Some(account) = load(&state, &org, &req).await? else {
        return start_verify(&state, &org, &req, None).await;
    };
    let notice = match query.changed.as_deref() {
        Some("mobile_number_changed") => Some("forms-account-notice-mobile-number-saved"),
        Some("backup_codes_removed") => Some("forms-account-notice-backup-codes-removed"),
        Some("credential_added") => Some("forms-account-notice-credential-added"),
        Some("credential_removed") => Some("forms-account-notice-credential-removed"),
        Some("key_added") => Some("forms-account-notice-key-added"),
        Some("sessions_ended") => Some("forms-account-notice-sessions-ended"),
        Some("password_changed") => Some("forms-account-notice-password-changed"),
        Some("application_access_removed") => {
            Some("forms-account-notice-application-access-removed")
        }
        _ => None,
    }
    .map(|id| crate::i18n::text(id, &[]));
    render(&state, &org, &account, notice.as_deref(), None).await
}

/// `GET {issuer}/account/verify`: a fresh pass through the chain, back to the account page.
pub async fn verify(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let account = load(&state, &org, &req).await?;
    start_verify(&state, &org, &req, account.as_ref()).await
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    csrf: Option<String>,
    action: Option<String>,
    number: Option<String>,
    /// A plug-in factor's name (`totp`), to enroll.
    factor: Option<String>,
    /// A credential's id: the pending one to confirm, or one to remove.
    id: Option<String>,
    code: Option<String>,
    /// A new passkey's name, and the browser's answer to its registration (WebAuthn's JSON).
    name: Option<String>,
    response: Option<String>,
}

/// The account behind a change form, when its CSRF token (`csrf`) is right and its chain is
/// fresh; otherwise the response to send instead.
async fn for_change(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
    csrf: Option<&str>,
) -> Result<Result<Account, HttpResponse>, ApiError> {
    let Some(account) = load(state, org, req).await? else {
        return Ok(Err(see_other(&account_url(org))));
    };
    if !csrf_ok(state, &account.session, csrf)? {
        return Ok(Err(form_expired_page(state)));
    }
    if fresh_until(&account.session, account.second_factor, now()).is_none() {
        return Ok(Err(see_other(&format!("{}/account/verify", org.issuer))));
    }
    Ok(Ok(account))
}

/// `POST {issuer}/account/backup-codes`: `action=generate` (a new set, shown once; the old set
/// stops working) or `action=remove`.
pub async fn backup_codes_change(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<ChangeForm>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let form = form.into_inner();
    let account = match for_change(&state, &org, &req, form.csrf.as_deref()).await? {
        Ok(a) => a,
        Err(res) => return Ok(res),
    };
    let user_id = account.user.id.clone();
    match form.action.as_deref() {
        Some("generate") => {
            if !can_generate(&account) {
                let msg = crate::i18n::text("forms-account-backup-need-phone", &[]);
                return render(&state, &org, &account, None, Some(&msg)).await;
            }
            let org2 = org.clone();
            let core = state.core.clone();
            let codes = state
                .db
                .run(move |conn| {
                    let settings = &org2.org.settings.backup_codes;
                    let origin = org2.event_origin();
                    backup::regenerate(conn, core.keys.kek(), settings, origin, &user_id, None)
                        .map_err(|e| match e {
                            backup::SetError::Store(e) => e,
                            backup::SetError::Key(e) => StoreError::Corrupt(e.to_string()),
                        })
                })
                .await?;
            tracing::info!(user = %account.user.id, "backup codes generated");
            let codes: Vec<&str> = codes.iter().map(|c| c.expose().as_str()).collect();
            let res = state.pages.render(
                StatusCode::OK,
                "backup_codes.html",
                context! {
                    org_name => org.org.display_name,
                    codes,
                    account_url => account_url(&org),
                },
            );
            Ok(res)
        }
        Some("remove") => {
            let org2 = org.clone();
            state
                .db
                .run(move |conn| backup::remove(conn, org2.event_origin(), &user_id))
                .await?;
            tracing::info!(user = %account.user.id, "backup codes removed");
            Ok(see_other(&format!(
                "{}?changed=backup_codes_removed",
                account_url(&org)
            )))
        }
        _ => {
            let msg = crate::i18n::text("forms-account-backup-choose", &[]);
            render(&state, &org, &account, None, Some(&msg)).await
        }
    }
}

/// Whether the user may generate backup codes: they stand in for the codes sent to a number
/// (the fallback of SMS OTP steps), so only with a verified number or codes already issued.
fn can_generate(account: &Account) -> bool {
    (account.user.phone_number.is_some() && account.user.phone_number_verified)
        || account.backup_left > 0
}

/// What the account page says when a user may not add a number themselves.
fn enroll_by_admin() -> String {
    crate::i18n::text("forms-account-phone-by-admin", &[])
}

/// Whether the user may send a code to a new number: not when the organization's switch for
/// numbers is `off`; otherwise see [`may_add_a_factor`].
fn may_enroll(org: &OrgEntry, account: &Account) -> bool {
    org.org.settings.enrollment.sms_otp != crate::authn::credentials::Switch::Off
        && may_add_a_factor(org, account)
}

/// Whether the user may add a second factor in the account area: with their second factor when
/// they have one; without one, only when the organization lets a first step alone enrol one
/// (`sms_otp.enroll_with_password_only`).
fn may_add_a_factor(org: &OrgEntry, account: &Account) -> bool {
    account.second_factor || org.org.settings.sms_otp.enroll_with_password_only
}

/// `POST {issuer}/account/phone`: sends a code to the new number; entering it on the OTP page
/// saves the number (see [`enroll_phone`]).
pub async fn phone_change(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<ChangeForm>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let form = form.into_inner();
    let account = match for_change(&state, &org, &req, form.csrf.as_deref()).await? {
        Ok(a) => a,
        Err(res) => return Ok(res),
    };
    if !may_enroll(&org, &account) {
        return render(&state, &org, &account, None, Some(&enroll_by_admin())).await;
    }
    // The numbering plan and the organization's allow-list, before any code is sent.
    let settings = &org.org.settings.sms_otp;
    let number = match settings.destination(form.number.as_deref().unwrap_or_default()) {
        Ok(to) => to.number,
        Err(reason) => {
            let reason = ("reason", reason.message().into());
            let msg = crate::i18n::text("forms-account-phone-unusable", &[reason]);
            return render(&state, &org, &account, None, Some(&msg)).await;
        }
    };
    let request = serde_json::to_string(&AccountRequest::Phone {
        number: number.as_str().to_string(),
    })
    .expect("requests serialize");
    // The fresh first step counts; the code to the new number is the second (whatever the
    // session passed before, this number has not been confirmed).
    let mut passed = PassedList::from_json(&account.session.passed);
    passed.0.retain(|p| p.method.identifies());
    let progress = Progress {
        user_id: account.user.id.clone(),
        passed,
        session_sid: Some(account.session.sid.clone()),
    };
    begin(&state, &org, &req, None, request, "otp", Some(progress)).await
}
