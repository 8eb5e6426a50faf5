//! "Create an account": the pages of self-registration (`authn::registration`).
//!
//! `GET {issuer}/register?tx=…` (the link on the sign-in page of an application the organization
//! opened registration to) shows the form; `POST /register` checks it (the username free, the
//! address well-formed, the password by the organization's policy), hashes the password and
//! answers "Check your email" — the same page whether or not the address already has an
//! account. The lookup of the address and the mail happen after the answer: a new address gets a
//! link, an address that already has an account gets a notice saying so (with the way to reset
//! its password) and nothing is stored. `GET /register/link?token=…` in the browser that
//! registered creates the account, its address verified, records `registered` and publishes
//! `UserRegisteredEvent`; the sign-in the user left then goes on with the new account.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::account::{check_new_password, send_notice};
use super::browser::{
    BROWSER_COOKIE, TxQuery, client_ip, cookie_hash, csrf_matches, form_expired_page, new_csrf,
    open_transaction, refusal_page,
};
use super::error::ApiError;
use super::{AppState, OrgEntry};
use crate::admin::ADMIN_ORGANIZATION;
use crate::authn::engine::{Purpose, required_flow};
use crate::authn::flow::SignInFlow;
use crate::authn::outcome::Refusal;
use crate::authn::policy;
use crate::authn::registration::new_account_path;
use crate::domain::{Email, Username};
use crate::events::{AccountChangeKind, account_changed};
use crate::i18n::text;
use crate::mail::Mail;
use crate::secret::{Secret, random_token, sha256_hex};
use crate::state::CoreError;
use crate::store::applications::Application;
use crate::store::auth::LoginTransaction;
use crate::store::registrations::Registration;
use crate::store::users::User;
use crate::store::{now, write_transaction};

/// The longest username a registration may choose.
const USERNAME_MAX: usize = 64;

/// Whether a sign-in of `app` that must pass `flow` (its `acr_values` included) offers "Create
/// an account": the organization opened registration to the application, a new account can get
/// through `flow` (a password or a link first; a second factor it may add during sign-in), and
/// the sign-in is nobody's yet (`bound`: a step-up of a signed-in user). Never in the
/// administration organization, whose users are administrators.
pub(super) fn offered(org: &OrgEntry, bound: bool, app: &Application, flow: &SignInFlow) -> bool {
    let settings = &org.org.settings;
    !bound
        && org.org.slug != ADMIN_ORGANIZATION
        && settings.registration.offered_to(app.client_id.as_str())
        && new_account_path(&settings.enrollment, flow).is_some()
}

/// [`offered`] for a stored sign-in (its request read back for the flow it must pass).
fn offered_to_tx(org: &OrgEntry, tx: &LoginTransaction, app: &Application) -> bool {
    match Purpose::of(tx, Some(app.clone())) {
        Some(Purpose::Authorize { auth, app }) => {
            offered(org, tx.user_id.is_some(), &app, &required_flow(&app, &auth))
        }
        _ => false,
    }
}

/// The open sign-in named by `tx` if it is this browser's and its application offers
/// registration; the answer page otherwise.
async fn registering(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
    tx: Option<String>,
) -> Result<Result<(LoginTransaction, Application), HttpResponse>, ApiError> {
    if !org.org.settings.registration.enabled {
        return Ok(Err(not_offered(state)));
    }
    match open_transaction(state, org, req, tx).await? {
        Some((tx, Some(app))) if offered_to_tx(org, &tx, &app) => Ok(Ok((tx, app))),
        Some(_) => Ok(Err(not_offered(state))),
        None => Ok(Err(refusal_page(state, Refusal::Expired))),
    }
}

fn not_offered(state: &AppState) -> HttpResponse {
    state.pages.error(
        StatusCode::NOT_FOUND,
        &text("errors-register-not-offered-title", &[]),
        &text("errors-register-not-offered", &[]),
    )
}

/// `GET {issuer}/register?tx=…`: the form.
pub async fn start(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<TxQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let (tx, app) = match registering(&state, &org, &req, query.into_inner().tx).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    form(
        &state,
        &org,
        &tx,
        &app,
        &Typed::default(),
        StatusCode::OK,
        None,
    )
    .await
}

/// What the user typed, shown again with an error.
#[derive(Debug, Default)]
struct Typed {
    username: String,
    email: String,
}

async fn form(
    state: &AppState,
    org: &OrgEntry,
    tx: &LoginTransaction,
    app: &Application,
    typed: &Typed,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let csrf = new_csrf(state, &tx.id).await?;
    Ok(state.pages.render(
        status,
        "register.html",
        context! {
            org_name => org.org.display_name,
            app_name => app.name,
            action => format!("{}/register", org.issuer),
            back_url => format!("{}/login?tx={}", org.issuer, tx.id),
            tx => tx.id,
            csrf,
            username => typed.username,
            email => typed.email,
            min_length => org.org.settings.password_policy.min_length,
            error,
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct RegisterForm {
    tx: Option<String>,
    csrf: Option<String>,
    username: Option<String>,
    email: Option<String>,
    password: Option<Secret<String>>,
    confirm: Option<Secret<String>>,
}

/// A username a registration may choose: stricter than an administrator's (`Username`), so a
/// stranger cannot pick a name that looks like an address, a link or another script's letters,
/// nor one of the names given to accounts from the upstream `providers` (`<provider>-…`).
fn registered_username<'a>(
    mut providers: impl Iterator<Item = &'a str>,
    typed: &str,
) -> Result<Username, String> {
    let v = typed.trim().to_ascii_lowercase();
    let ok = !v.is_empty()
        && v.len() <= USERNAME_MAX
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        return Err(text(
            "errors-register-username-invalid",
            &[("max", (USERNAME_MAX as i64).into())],
        ));
    }
    let upstream = providers.any(|p| {
        v.strip_prefix(&p.to_lowercase())
            .is_some_and(|rest| rest.starts_with('-'))
    });
    if upstream {
        return Err(text("errors-register-username-reserved", &[]));
    }
    Username::parse(&v)
}

/// `POST {issuer}/register`: checks the form and mails the link.
pub async fn submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form_data: web::Form<RegisterForm>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let sent = form_data.into_inner();
    let (tx, app) = match registering(&state, &org, &req, sent.tx).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    if !csrf_matches(sent.csrf.as_deref(), &tx) {
        return Ok(form_expired_page(&state));
    }
    // The form's token is spent at once: the same form sent again (a reload, a double click)
    // registers nothing more; every answer below carries a new one or none.
    new_csrf(&state, &tx.id).await?;
    let typed = Typed {
        username: sent.username.unwrap_or_default().trim().to_string(),
        email: sent.email.unwrap_or_default().trim().to_string(),
    };
    let refuse = |status: StatusCode, msg: String| {
        let (state, org, tx, app, typed) = (&state, &org, &tx, &app, &typed);
        async move { form(state, org, tx, app, typed, status, Some(&msg)).await }
    };
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    let providers = org.org.settings.identity_providers.iter();
    let username = match registered_username(providers.map(|p| p.name.as_str()), &typed.username) {
        Ok(name) => name,
        Err(msg) => return refuse(invalid, msg).await,
    };
    // Lower-cased whole: one mailbox, one account, whatever the case it is typed in. ASCII
    // only, so the databases compare it as Rust does (SQLite's lower() knows no other letters).
    let email = match Email::parse(&typed.email.to_lowercase()) {
        Ok(email) if email.as_str().is_ascii() => email,
        Ok(_) => {
            let msg = text("errors-register-email-not-ascii", &[]);
            return refuse(invalid, msg).await;
        }
        Err(_) => return refuse(invalid, text("errors-register-email-invalid", &[])).await,
    };
    let (Some(password), Some(confirm)) = (sent.password, sent.confirm) else {
        return refuse(invalid, text("errors-register-password-missing", &[])).await;
    };
    if password != confirm {
        return refuse(invalid, text("errors-register-password-mismatch", &[])).await;
    }
    let (name, address) = (username.as_str(), Some(email.as_str()));
    if let Err(msg) = check_new_password(&org, name, address, password.expose()) {
        return refuse(invalid, msg).await;
    }
    // Counted once the form is right, before the one answer that says something about the
    // organization's accounts (whether the username is free), and before each mail.
    let settings = org.org.settings.registration.clone();
    let ip = client_ip(&state, &req);
    let (org_id, t) = (org.org.id, now());
    let key = policy::registration_ip_key(org_id, &ip);
    let name = username.clone();
    let (from_ip, taken) = state
        .db
        .run(move |conn| {
            let counted = policy::count(conn, &key, settings.window_seconds, t)?;
            let taken = User::find_by_username(conn, org_id, &name)?.is_some();
            Ok((counted.attempts, taken))
        })
        .await?;
    if from_ip > settings.max_per_ip {
        return Ok(state.pages.error(
            StatusCode::TOO_MANY_REQUESTS,
            &text("errors-register-throttled-title", &[]),
            &text("errors-register-throttled", &[]),
        ));
    }
    if taken {
        return refuse(
            StatusCode::CONFLICT,
            text(
                "errors-register-username-taken",
                &[("username", username.as_str().into())],
            ),
        )
        .await;
    }
    // The hash is made whether or not the address has an account: the answer takes as long.
    let Some(password_hash) = state.hasher.hash(password).await else {
        return Err(ApiError::Internal);
    };
    let Some(browser_hash) = cookie_hash(&req, BROWSER_COOKIE) else {
        return Ok(refusal_page(&state, Refusal::Expired));
    };
    let pending = Registration {
        token_hash: String::new(),
        organization_id: org_id,
        transaction_id: tx.id.clone(),
        client_id: app.client_id.as_str().to_string(),
        browser_hash,
        username: username.as_str().to_string(),
        email: email.as_str().to_string(),
        password_hash,
        created_at: t,
        expires_at: t + settings.link_lifetime_seconds,
        used_at: None,
    };
    let (bg_state, bg_org, app_name) = (state.clone(), org.clone(), app.name.clone());
    // The mail speaks the page's language.
    let locale = crate::i18n::current();
    actix_web::rt::spawn(async move {
        let mail = store_and_mail(&bg_state, &bg_org, pending, &app_name);
        if let Err(e) = crate::i18n::with_locale(locale, mail).await {
            tracing::warn!(error = %e, "registration could not be stored or mailed");
        }
    });
    Ok(state.pages.render(
        StatusCode::OK,
        "register_sent.html",
        context! {
            org_name => org.org.display_name,
            app_name => app.name,
            email => email.as_str(),
            minutes => (settings.link_lifetime_seconds + 59) / 60,
            back_url => format!("{}/login?tx={}", org.issuer, tx.id),
        },
    ))
}

/// What became of a registration in the background.
enum Filed {
    /// The address had its share of mails in the window: nothing is sent.
    Throttled,
    /// The address already belongs to an account: its owner is told, nothing is stored.
    AddressHasAccount,
    Pending,
}

/// Stores the registration with a new link and mails it, or tells the owner of an address that
/// already has an account. Mails to one address share the sign-in links' limit
/// (`[organizations.magic_link] max_sends_per_address`).
async fn store_and_mail(
    state: &AppState,
    org: &Arc<OrgEntry>,
    mut pending: Registration,
    app_name: &str,
) -> Result<(), ApiError> {
    let token = random_token(32);
    pending.token_hash = sha256_hex(token.expose());
    let links = org.org.settings.magic_link.clone();
    let key = policy::link_address_key(org.org.id, &pending.email);
    let row = pending.clone();
    let filed = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let counted = policy::count(conn, &key, links.window_seconds, row.created_at)?;
                if counted.attempts > links.max_sends_per_address {
                    return Ok(Filed::Throttled);
                }
                if User::verified_email_taken(conn, row.organization_id, &row.email)? {
                    return Ok(Filed::AddressHasAccount);
                }
                Registration::insert(conn, &row)?;
                Ok(Filed::Pending)
            })
        })
        .await?;
    let org_name = &org.org.display_name;
    match filed {
        Filed::Throttled => {
            tracing::warn!("registration not mailed: too many mails for this address");
        }
        Filed::AddressHasAccount => {
            let org_arg = || ("org", org_name.into());
            let recover = if org.org.settings.password_reset.enabled {
                "mail-notice-registration-existing-reset"
            } else {
                "mail-notice-registration-existing-admin"
            };
            let body = [
                text(
                    "mail-notice-registration-existing",
                    &[org_arg(), ("app", app_name.into())],
                ),
                text(recover, &[]),
                text("mail-notice-registration-existing-not-you", &[]),
            ]
            .join("\n\n");
            let subject = text("mail-subject-registration-existing", &[org_arg()]);
            send_notice(
                state,
                org,
                &pending.email,
                &subject,
                body,
                "registration_existing",
            )
            .await;
        }
        Filed::Pending => {
            let minutes = (pending.expires_at - pending.created_at + 59) / 60;
            let link = format!("{}/register/link?token={}", org.issuer, token.expose());
            let (text, html) = state
                .mail_templates
                .registration_link(crate::i18n::current(), app_name, org_name, &link, minutes)
                .map_err(|e| CoreError::Internal(format!("registration email template: {e}")))?;
            let subject =
                crate::i18n::text("mail-subject-registration", &[("org", org_name.into())]);
            let mail = Mail {
                to: &pending.email,
                subject: &subject,
                text,
                html,
            };
            let sent = org.org.settings.mail.send(mail).await;
            state
                .metrics
                .mail_send(&org.org.slug, "registration_link", sent.is_ok());
            if let Err(e) = sent {
                tracing::warn!(error = %e, "registration link could not be sent");
            }
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    token: Option<String>,
}

/// What opening a registration's link did.
enum Opened {
    /// The account, and the application it registered at (if it still exists).
    Account(Box<(User, Option<Application>)>),
    /// Someone took the username since.
    UsernameTaken,
    /// The address got an account since.
    AddressHasAccount,
    /// Spent or expired meanwhile.
    Used,
}

/// `GET {issuer}/register/link?token=…`: creates the account (in the browser that registered).
pub async fn open_link(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let settings = &org.org.settings.registration;
    if !settings.enabled || org.org.slug == ADMIN_ORGANIZATION {
        return Ok(not_offered(&state));
    }
    let token = query.into_inner().token.unwrap_or_default();
    if token.is_empty() || token.len() > 128 {
        return Ok(refusal_page(&state, Refusal::LinkInvalid));
    }
    let (org_id, hash, t) = (org.org.id, sha256_hex(&token), now());
    let h = hash.clone();
    let Some(found) = state
        .db
        .run(move |conn| Registration::find(conn, org_id, &h))
        .await?
    else {
        return Ok(refusal_page(&state, Refusal::LinkInvalid));
    };
    if found.used_at.is_some() {
        return Ok(refusal_page(&state, Refusal::LinkUsed));
    }
    if found.expires_at <= t {
        return Ok(refusal_page(&state, Refusal::LinkExpired));
    }
    if !settings.offered_to(&found.client_id) {
        return Ok(not_offered(&state));
    }
    // Checked before the link is spent: another browser (or a mail scanner) leaves it usable.
    let here = cookie_hash(&req, BROWSER_COOKIE).unwrap_or_default();
    if !bool::from(here.as_bytes().ct_eq(found.browser_hash.as_bytes())) {
        return Ok(refusal_page(&state, Refusal::LinkOtherBrowser));
    }
    // The sign-in it was begun from, if still open here: continued afterwards, and its language
    // is the pages' from here on.
    let tx = Some(found.transaction_id.clone());
    let back = match open_transaction(&state, &org, &req, tx).await? {
        Some((tx, _)) => Some(format!("{}/login?tx={}", org.issuer, tx.id)),
        None => None,
    };
    let (entry, pending) = (org.clone(), found.clone());
    let opened = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let p = pending;
                if !Registration::spend(conn, &p.token_hash, t)? {
                    return Ok(Opened::Used);
                }
                let corrupt = crate::store::StoreError::Corrupt;
                let username = Username::parse(&p.username).map_err(corrupt)?;
                let email = Email::parse(&p.email).map_err(corrupt)?;
                if User::find_by_username(conn, org_id, &username)?.is_some() {
                    return Ok(Opened::UsernameTaken);
                }
                if User::verified_email_taken(conn, org_id, email.as_str())? {
                    return Ok(Opened::AddressHasAccount);
                }
                let user = User {
                    id: User::new_id(),
                    organization_id: org_id,
                    username,
                    email: Some(email),
                    email_verified: true,
                    phone_number: None,
                    phone_number_verified: false,
                    profile: Default::default(),
                    password_hash: Some(p.password_hash),
                    disabled: false,
                    created_at: t,
                    updated_at: t,
                };
                // In a savepoint: a namesake created since the check above (another link, an
                // administrator) breaks the unique username, which is an answer, not an error.
                match write_transaction(conn, |conn| User::insert(conn, &user)) {
                    Err(crate::store::StoreError::Conflict(_)) => {
                        return Ok(Opened::UsernameTaken);
                    }
                    inserted => inserted?,
                }
                let app = Application::find(conn, org_id, &p.client_id)?;
                account_changed(
                    conn,
                    entry.event_origin(),
                    &user.id,
                    AccountChangeKind::Registered,
                    &format!("registered at {}", p.client_id),
                )?;
                Ok(Opened::Account(Box::new((user, app))))
            })
        })
        .await?;
    let org_name = &org.org.display_name;
    let (user, app) = match opened {
        Opened::Account(made) => *made,
        Opened::Used => return Ok(refusal_page(&state, Refusal::LinkUsed)),
        Opened::UsernameTaken => {
            return Ok(state.pages.error(
                StatusCode::CONFLICT,
                &text("errors-register-username-taken-meanwhile-title", &[]),
                &text("errors-register-username-taken-meanwhile", &[]),
            ));
        }
        Opened::AddressHasAccount => {
            return Ok(state.pages.error(
                StatusCode::CONFLICT,
                &text("errors-register-address-has-account-title", &[]),
                &text("errors-register-address-has-account", &[]),
            ));
        }
    };
    tracing::info!(user = %user.id, client = %found.client_id, "account registered");
    let enroll = app.is_some_and(|app| {
        new_account_path(&org.org.settings.enrollment, &app.flow()) == Some(true)
    });
    Ok(state.pages.render(
        StatusCode::OK,
        "register_done.html",
        context! {
            org_name,
            username => user.username.as_str(),
            enroll,
            continue_url => back,
            account_url => format!("{}/account/", org.issuer),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_usernames_are_plain_and_not_an_upstream_providers() {
        let none = std::iter::empty;
        assert_eq!(
            registered_username(none(), " Dave.Smith ")
                .unwrap()
                .as_str(),
            "dave.smith"
        );
        for bad in [
            "",
            "dave@acme",
            "da ve",
            "http://x",
            "dävid",
            &"a".repeat(65),
        ] {
            assert!(registered_username(none(), bad).is_err(), "{bad}");
        }
        let providers = || ["Google", "corp"].into_iter();
        assert!(registered_username(providers(), "google-0123abcd").is_err());
        assert!(registered_username(providers(), "Corp-x").is_err());
        assert!(registered_username(providers(), "googler").is_ok());
        assert!(registered_username(providers(), "corp").is_ok());
    }
}
