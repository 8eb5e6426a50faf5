//! The sign-in chain: the pages that run each step of an application's flow (password, SMS
//! OTP, backup code) and the engine glue between them.
//!
//! A sign-in in progress is a login transaction: it records who the user is once a first step
//! identified them and which authenticators they passed. After each step, [`advance`] asks the
//! flow for the next missing step and sends the browser to its page; when none is missing,
//! [`finish`] creates (or steps up) the session and answers the client. Every check is on the
//! server, in the database: counts, expiry, single use.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::authorize::{
    SESSION_COOKIE, SESSION_LIFETIME, TxQuery, cookie, cookie_hash, csrf_matches, expired_page,
    form_expired_page, open_transaction, proceed, see_other,
};
use super::error::ApiError;
use super::{AppState, OrgEntry};
use crate::authn::flow::{Authenticator, PassedList, SignInFlow};
use crate::authn::{backup, otp};
use crate::domain::{PhoneNumber, Username};
use crate::events::hub::{self, Publish};
use crate::oidc::authorize::AuthRequest;
use crate::secret::{Secret, random_token, sha256_hex};
use crate::store::applications::Application;
use crate::store::auth::{LoginTransaction, Session};
use crate::store::deliveries::{self, Delivery};
use crate::store::otps::{Dead, SmsOtp};
use crate::store::users::User;
use crate::store::{StoreError, backup_codes, format_utc, now, throttle, write_transaction};

/// The flow an authorization must pass: the application's, or more when `acr_values` asks.
pub(super) fn required_flow(app: &Application, auth: &AuthRequest) -> SignInFlow {
    SignInFlow::required(&app.flow(), app.backup_codes, &auth.acr_values)
}

/// The page that runs a step: the first-step page for identifying authenticators, the OTP page
/// for an SMS OTP step (which links to the backup-code page when the step offers it).
pub(super) fn page_for(step: &[Authenticator]) -> &'static str {
    if step.contains(&Authenticator::SmsOtp) {
        "otp"
    } else {
        "login"
    }
}

/// What a sign-in is for.
pub(super) enum Purpose {
    /// An application's authorization request.
    Authorize {
        auth: Box<AuthRequest>,
        app: Box<Application>,
    },
    /// The account area (no application): a fresh check before a change, or confirming a new
    /// mobile number.
    Account(AccountRequest),
}

/// An account-area transaction, stored as its request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "account", rename_all = "snake_case")]
pub(super) enum AccountRequest {
    /// The user's full chain again: password, then their second factor when they have one.
    Verify,
    /// An OTP sent to `number`; entering it saves the number as the user's, verified.
    Phone { number: String },
}

impl Purpose {
    /// The flow this sign-in must pass. An account check asks for any first step the
    /// organization's applications offer (so users of magic links or upstream providers can
    /// reach their account too), then the second step only when the user has a second factor (a
    /// verified number or backup codes); confirming a number asks for its code.
    async fn flow(
        &self,
        state: &AppState,
        org: &OrgEntry,
        user: Option<&User>,
    ) -> Result<SignInFlow, ApiError> {
        Ok(match self {
            Self::Authorize { auth, app } => required_flow(app, auth),
            Self::Account(AccountRequest::Verify) => {
                let second = match user {
                    Some(u) => super::account::has_second_factor(state, u).await?,
                    None => true,
                };
                SignInFlow::account_check(org.first_steps.clone(), second)
            }
            Self::Account(AccountRequest::Phone { .. }) => {
                let mut flow = SignInFlow::account_check(org.first_steps.clone(), false);
                flow.require_sms_otp();
                flow
            }
        })
    }

    /// What the pages and the text message name: the application, or the account.
    pub(super) fn name(&self, org: &OrgEntry) -> String {
        match self {
            Self::Authorize { app, .. } => app.name.clone(),
            Self::Account(_) => format!("{} account", org.org.display_name),
        }
    }

    fn login_hint(&self) -> Option<&str> {
        match self {
            Self::Authorize { auth, .. } => auth.login_hint.as_deref(),
            Self::Account(_) => None,
        }
    }

    fn client(&self) -> &str {
        match self {
            Self::Authorize { app, .. } => app.client_id.as_str(),
            Self::Account(_) => "(account)",
        }
    }
}

/// The open sign-in transaction `tx` of this browser, whatever it is for (not consent ones).
pub(super) async fn signin_transaction(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
    tx: Option<String>,
) -> Result<Option<(LoginTransaction, Purpose)>, ApiError> {
    let Some((tx, app)) = open_transaction(state, org, req, tx).await? else {
        return Ok(None);
    };
    let purpose = match app {
        Some(app) => match serde_json::from_str::<AuthRequest>(&tx.request) {
            Ok(auth) if auth.consent_sid.is_none() => Purpose::Authorize {
                auth: Box::new(auth),
                app: Box::new(app),
            },
            _ => return Ok(None),
        },
        None => match serde_json::from_str::<AccountRequest>(&tx.request) {
            Ok(account) => Purpose::Account(account),
            Err(_) => return Ok(None),
        },
    };
    Ok(Some((tx, purpose)))
}

/// The sign-in a step belongs to.
#[derive(Clone, Copy)]
pub(super) struct SignInAt<'a> {
    pub org: &'a OrgEntry,
    pub req: &'a HttpRequest,
    pub tx: &'a LoginTransaction,
    pub purpose: &'a Purpose,
}

/// After a step passed: on to the next missing step's page, or finish.
async fn advance(
    state: &AppState,
    at: SignInAt<'_>,
    user: &User,
    passed: PassedList,
    session_sid: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let flow = at.purpose.flow(state, at.org, Some(user)).await?;
    let Some(step) = flow.next_step(&passed) else {
        return finish(state, at, user, passed, session_sid).await;
    };
    let page = page_for(step);
    let (id, user_id, json, sid) = (
        at.tx.id.clone(),
        user.id.clone(),
        passed.to_json(),
        session_sid.clone(),
    );
    let recorded = state
        .db
        .run(move |conn| {
            LoginTransaction::record_progress(conn, &id, &user_id, &json, sid.as_deref())
        })
        .await?;
    if !recorded {
        return Ok(expired_page(state));
    }
    Ok(see_other(&format!(
        "{}/{page}?tx={}",
        at.org.issuer, at.tx.id
    )))
}

/// The whole flow passed: the session records it (a new session with a new cookie, or the
/// stepped-up one with a new cookie), the account's failure count is reset, and the client is
/// answered.
async fn finish(
    state: &AppState,
    at: SignInAt<'_>,
    user: &User,
    passed: PassedList,
    session_sid: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let cookie_value = random_token(32);
    let id_hash = sha256_hex(cookie_value.expose());
    let amr = serde_json::to_string(&passed.amr()).expect("amr serializes");
    let acr = passed.acr().to_string();
    let t = now();
    let fresh = Session {
        id_hash: id_hash.clone(),
        sid: uuid::Uuid::new_v4().to_string(),
        organization_id: at.org.org.id,
        user_id: user.id.clone(),
        auth_time: passed.identified_at().unwrap_or(t),
        amr: amr.clone(),
        acr: acr.clone(),
        created_at: t,
        expires_at: t + SESSION_LIFETIME,
        ended_at: None,
        passed: passed.to_json(),
    };
    let old = cookie_hash(at.req, SESSION_COOKIE);
    let account = throttle::account_key(at.org.org.id, user.username.as_str());
    let success = Publish::new(
        at.org.event_origin(state.settings.base_url.as_str()),
        "LOGINS",
        hub::LOGIN_SUCCESS,
        "LoginSuccessEvent",
        serde_json::json!({
            "organizationId": at.org.org.id,
            "organizationName": at.org.org.display_name,
            "userId": user.id,
            "username": user.username.as_str(),
            "clientId": at.purpose.client(),
            "amr": passed.amr(),
            "acr": passed.acr(),
        }),
    );
    let (tx_id, user_id) = (at.tx.id.clone(), user.id.clone());
    let session = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !LoginTransaction::complete(conn, &tx_id)? {
                    return Ok(None);
                }
                throttle::reset(conn, &account)?;
                success.store(conn)?;
                let auth = (
                    fresh.passed.as_str(),
                    amr.as_str(),
                    acr.as_str(),
                    fresh.auth_time,
                );
                if let Some(sid) = &session_sid
                    && Session::step_up(conn, sid, &user_id, &id_hash, auth)?
                {
                    return Session::find_by_sid(conn, sid);
                }
                if let Some(old) = old {
                    Session::end(conn, &old)?;
                }
                Session::insert(conn, &fresh)?;
                Ok(Some(fresh))
            })
        })
        .await?;
    let Some(session) = session else {
        return Ok(expired_page(state));
    };
    tracing::info!(
        user = %user.id,
        client_id = %at.purpose.client(),
        amr = %session.amr,
        "signed in"
    );
    let mut res = match at.purpose {
        Purpose::Authorize { auth, app } => {
            proceed(state, at.org, app, auth, &session, user, at.req).await?
        }
        Purpose::Account(_) => see_other(&format!("{}/account/", at.org.issuer)),
    };
    res.add_cookie(&cookie(
        state,
        at.org,
        SESSION_COOKIE,
        cookie_value.expose().clone(),
    ))
    .map_err(|_| ApiError::Internal)?;
    Ok(res)
}

/// What the sign-in page shows besides the form's own values: an error next to the password
/// form or next to the email-link form.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct LoginErrors<'a> {
    pub password: Option<&'a str>,
    pub magic_link: Option<&'a str>,
}

/// Shows the first-step page with a fresh CSRF token: the password form, the "email me a
/// link" form and one button per upstream provider, as the step offers them.
pub(super) async fn login_form(
    state: &AppState,
    org: &OrgEntry,
    tx: &LoginTransaction,
    purpose: &Purpose,
    step: &[Authenticator],
    username: &str,
    errors: LoginErrors<'_>,
) -> Result<HttpResponse, ApiError> {
    let csrf = random_token(32);
    let (id, hash) = (tx.id.clone(), sha256_hex(csrf.expose()));
    state
        .db
        .run(move |conn| LoginTransaction::set_csrf(conn, &id, &hash))
        .await?;
    let username = if username.is_empty() {
        purpose.login_hint().unwrap_or_default().to_string()
    } else {
        username.to_string()
    };
    let providers: Vec<_> = step
        .iter()
        .filter_map(|a| match a {
            Authenticator::Federated(name) => org
                .org
                .settings
                .identity_provider(name)
                .map(|p| context! { label => p.label(), action => format!("{}/federated/{name}", org.issuer) }),
            _ => None,
        })
        .collect();
    Ok(state.pages.render(
        StatusCode::OK,
        "login.html",
        context! {
            org_name => org.org.display_name,
            app_name => purpose.name(org),
            action => format!("{}/login", org.issuer),
            magic_link_action => format!("{}/magic-link", org.issuer),
            password => step.contains(&Authenticator::Password),
            magic_link => step.contains(&Authenticator::MagicLink),
            providers,
            tx => tx.id,
            csrf => csrf.expose(),
            username,
            error => errors.password,
            magic_link_error => errors.magic_link,
        },
    ))
}

pub async fn login_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<TxQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let Some(first) =
        first_step_transaction(&state, &org, &req, query.into_inner().tx, None).await?
    else {
        return Ok(expired_page(&state));
    };
    login_form(
        &state,
        &org,
        &first.tx,
        &first.purpose,
        &first.step,
        "",
        LoginErrors::default(),
    )
    .await
}

/// A sign-in at its first step.
pub(super) struct FirstStep {
    pub tx: LoginTransaction,
    pub purpose: Purpose,
    /// The step's alternatives.
    pub step: Vec<Authenticator>,
}

/// A sign-in whose next step identifies the user (and offers `method`, when given). Once a
/// sign-in is past it (or a step-up starts past it), its first-step pages are closed: who the
/// user is cannot change halfway through.
pub(super) async fn first_step_transaction(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
    tx: Option<String>,
    method: Option<&Authenticator>,
) -> Result<Option<FirstStep>, ApiError> {
    let Some((tx, purpose)) = signin_transaction(state, org, req, tx).await? else {
        return Ok(None);
    };
    let passed = PassedList::from_json(&tx.passed);
    let flow = purpose.flow(state, org, None).await?;
    let Some(step) = flow.next_step(&passed) else {
        return Ok(None);
    };
    let fits =
        step.iter().all(Authenticator::identifies) && method.is_none_or(|m| step.contains(m));
    Ok(fits.then(|| FirstStep {
        step: step.to_vec(),
        tx,
        purpose,
    }))
}

/// A first step passed for `user` (a password, a magic link, an upstream provider): on to the
/// next step. A disabled account stops here; a sign-in that began for a known user (an account
/// check, a step-up) stays that user's, since signing in as someone else there would carry their
/// session and codes over.
pub(super) async fn first_step_passed(
    state: &AppState,
    sign_in: SignInAt<'_>,
    user: &User,
    method: Authenticator,
    at: i64,
) -> Result<HttpResponse, ApiError> {
    if user.disabled {
        return Ok(state.pages.error(
            StatusCode::FORBIDDEN,
            "Account disabled",
            "This account is disabled. Contact your administrator.",
        ));
    }
    if sign_in.tx.user_id.as_deref().is_some_and(|u| u != user.id) {
        return Ok(state.pages.error(
            StatusCode::BAD_REQUEST,
            "Another account",
            "This sign-in is for another account. Go back and start again.",
        ));
    }
    tracing::info!(user = %user.id, client_id = %sign_in.purpose.client(), method = %method, "first step passed");
    let mut passed = PassedList::from_json(&sign_in.tx.passed);
    passed.add(method, at);
    advance(state, sign_in, user, passed, sign_in.tx.session_sid.clone()).await
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    tx: Option<String>,
    csrf: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub async fn login_submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let form = form.into_inner();
    let Some(FirstStep { tx, purpose, step }) = first_step_transaction(
        &state,
        &org,
        &req,
        form.tx.clone(),
        Some(&Authenticator::Password),
    )
    .await?
    else {
        return Ok(expired_page(&state));
    };
    if !csrf_matches(form.csrf.as_deref(), &tx) {
        return Ok(form_expired_page(&state));
    }

    // Throttling: the client IP first (before any hashing), the account after the password.
    let org_id = org.org.id;
    let policy = org.org.settings.lock_policy.clone();
    let ip = super::client_ip::of_request(&req, &state.settings.trusted_proxies)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let ip_key = throttle::ip_key(org_id, &ip);
    let parsed = Username::parse(&form.username);
    let account_key = throttle::account_key(
        org_id,
        parsed.as_ref().map_or(form.username.trim(), |u| u.as_str()),
    );
    let key = ip_key.clone();
    if let Some(until) = state
        .db
        .run(move |conn| throttle::locked_until(conn, &key))
        .await?
    {
        return Ok(state.pages.error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins",
            &format!(
                "There were too many failed sign-ins from your network. Try again after {}.",
                format_utc(until)
            ),
        ));
    }

    // Every attempt is counted before its hash runs, so a burst of parallel guesses cannot slip
    // past the limits; a right password takes its count back.
    let (a_key, i_key, window) = (account_key.clone(), ip_key.clone(), policy.window_seconds);
    let ((account_attempts, account_locks), (ip_attempts, _)) = state
        .db
        .run(move |conn| {
            Ok((
                throttle::count_attempt(conn, &a_key, window)?,
                throttle::count_attempt(conn, &i_key, window)?,
            ))
        })
        .await?;
    if ip_attempts > policy.ip_max_failures {
        let (key, p) = (ip_key.clone(), policy.clone());
        let until = state
            .db
            .run(move |conn| throttle::lock_ip(conn, &key, &p))
            .await?;
        return Ok(state.pages.error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins",
            &format!(
                "There were too many failed sign-ins from your network. Try again after {}.",
                format_utc(until)
            ),
        ));
    }

    // Same work for an unknown user as for a wrong password: one argon2 verification.
    let user = match parsed {
        Ok(username) => {
            state
                .db
                .run(move |conn| User::find_by_username(conn, org_id, &username))
                .await?
        }
        Err(_) => None,
    };
    let phc = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.clone());
    let verified = state.hasher.verify(phc, Secret::new(form.password)).await
        && user.as_ref().is_some_and(|u| u.password_hash.is_some());
    // A locked account answers the same page whether or not the password was right, so
    // guessing during a lock learns nothing; it is shown after the hash ran, and unknown
    // usernames lock the same way, so it says nothing about who exists either.
    let (key, p) = (account_key.clone(), policy.clone());
    let locked = state
        .db
        .run(move |conn| match throttle::locked_until(conn, &key)? {
            Some(until) => Ok(Some(until)),
            // Attempts counted past the limit at the same moment: lock now.
            None if account_attempts > p.max_attempts => {
                throttle::lock_account(conn, &key, &p, account_locks).map(Some)
            }
            None => Ok(None),
        })
        .await?;
    if let Some(until) = locked {
        return Ok(state.pages.error(
            StatusCode::FORBIDDEN,
            "Account locked",
            &format!(
                "This account is locked after too many failed sign-ins. Try again after {}.",
                format_utc(until)
            ),
        ));
    }
    let known = user
        .as_ref()
        .map(|u| (u.id.clone(), u.username.as_str().to_string()));
    if let Some((id, name)) = &known {
        // A lock still holding was answered above; one that ran out ends now.
        account_lock(&state, &org, &account_key, (id, name)).await?;
    }
    let user = match user {
        Some(u) if verified => u,
        _ => {
            let (account, ip) = (account_key.clone(), ip_key.clone());
            // Events only for an account that exists (an unknown name is nobody's failure).
            let locking = account_attempts >= policy.max_attempts;
            let events = known
                .as_ref()
                .map(|(id, name)| {
                    let until = locking.then(|| now() + policy.lock_duration(account_locks));
                    failure_events(
                        &state,
                        &org,
                        (id, name),
                        purpose.client(),
                        "password",
                        until,
                    )
                })
                .unwrap_or_default();
            // An automatic lock only stops new sign-ins: if it also revoked what the account
            // holds, anyone could sign a user out everywhere with a few wrong guesses.
            state
                .db
                .run(move |conn| {
                    write_transaction(conn, |conn| {
                        if locking {
                            throttle::lock_account(conn, &account, &policy, account_locks)?;
                        }
                        if ip_attempts >= policy.ip_max_failures {
                            throttle::lock_ip(conn, &ip, &policy)?;
                        }
                        for e in &events {
                            e.store(conn)?;
                        }
                        Ok(())
                    })
                })
                .await?;
            return login_form(
                &state,
                &org,
                &tx,
                &purpose,
                &step,
                &form.username,
                LoginErrors {
                    password: Some("Wrong username or password."),
                    magic_link: None,
                },
            )
            .await;
        }
    };
    // The password's attempt is taken back but the account's count is not reset: a second
    // factor failing after a right password must keep counting toward the lock. A whole chain
    // passed resets it (see `finish`).
    let (account, ip) = (account_key.clone(), ip_key.clone());
    state
        .db
        .run(move |conn| {
            throttle::forgive(conn, &account)?;
            throttle::forgive(conn, &ip)
        })
        .await?;
    let at = SignInAt {
        org: &org,
        req: &req,
        tx: &tx,
        purpose: &purpose,
    };
    first_step_passed(&state, at, &user, Authenticator::Password, now()).await
}

/// A sign-in at a second-factor step: its user is known and the step offers `method`.
struct SecondFactor {
    tx: LoginTransaction,
    purpose: Purpose,
    user: User,
    step: Vec<Authenticator>,
    /// Where codes go: the user's verified number, or the number being confirmed.
    phone: Option<PhoneNumber>,
}

impl SecondFactor {
    fn at<'a>(&'a self, org: &'a OrgEntry, req: &'a HttpRequest) -> SignInAt<'a> {
        SignInAt {
            org,
            req,
            tx: &self.tx,
            purpose: &self.purpose,
        }
    }

    fn passed(&self) -> PassedList {
        PassedList::from_json(&self.tx.passed)
    }

    fn account_key(&self) -> String {
        throttle::account_key(self.user.organization_id, self.user.username.as_str())
    }

    fn phone(&self) -> Option<&PhoneNumber> {
        self.phone.as_ref()
    }
}

async fn second_factor(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
    tx: Option<String>,
    method: Authenticator,
) -> Result<Option<SecondFactor>, ApiError> {
    let Some((tx, purpose)) = signin_transaction(state, org, req, tx).await? else {
        return Ok(None);
    };
    let Some(user_id) = tx.user_id.clone() else {
        return Ok(None);
    };
    let org_id = org.org.id;
    let Some(user) = state
        .db
        .run(move |conn| User::find(conn, org_id, &user_id))
        .await?
        .filter(|u| !u.disabled)
    else {
        return Ok(None);
    };
    let passed = PassedList::from_json(&tx.passed);
    let Some(step) = purpose
        .flow(state, org, Some(&user))
        .await?
        .next_step(&passed)
        .filter(|s| s.contains(&method))
        .map(<[Authenticator]>::to_vec)
    else {
        return Ok(None);
    };
    let phone = match &purpose {
        Purpose::Account(AccountRequest::Phone { number }) => PhoneNumber::parse(number).ok(),
        _ => user
            .phone_number
            .clone()
            .filter(|_| user.phone_number_verified),
    };
    Ok(Some(SecondFactor {
        tx,
        purpose,
        user,
        step,
        phone,
    }))
}

/// The second-factor step passed with `method`: recorded, and on to the next step or the end.
async fn step_passed(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
    sf: &SecondFactor,
    method: Authenticator,
) -> Result<HttpResponse, ApiError> {
    let mut passed = sf.passed();
    passed.add(method, now());
    let sid = sf.tx.session_sid.clone();
    advance(state, sf.at(org, req), &sf.user, passed, sid).await
}

/// The sign-in at a second-factor step offering `method`, or the page to show instead: the
/// expired page, the expired-form page when a form's CSRF token (`csrf`, for forms) is wrong, or
/// the locked page.
async fn at_step(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
    tx: Option<String>,
    method: Authenticator,
    csrf: Option<Option<&str>>,
) -> Result<Result<SecondFactor, HttpResponse>, ApiError> {
    let Some(sf) = second_factor(state, org, req, tx, method).await? else {
        return Ok(Err(expired_page(state)));
    };
    if let Some(sent) = csrf
        && !csrf_matches(sent, &sf.tx)
    {
        return Ok(Err(form_expired_page(state)));
    }
    let key = sf.account_key();
    let user = (sf.user.id.as_str(), sf.user.username.as_str());
    if let Some(until) = account_lock(state, org, &key, user).await? {
        return Ok(Err(locked_page(state, until)));
    }
    Ok(Ok(sf))
}

/// The page of a locked account. The password was verified at this step, so saying until when
/// tells an attacker nothing they could not learn from the first step.
fn locked_page(state: &AppState, until: i64) -> HttpResponse {
    state.pages.error(
        StatusCode::FORBIDDEN,
        "Account locked",
        &format!(
            "This account is locked after too many failed sign-ins. Try again after {}.",
            format_utc(until)
        ),
    )
}

/// Counts a second-factor attempt toward the account's lock policy, before the code is checked
/// (as for passwords). Returns the attempts in the window and the number of earlier locks.
async fn count_attempt(
    state: &AppState,
    org: &OrgEntry,
    key: &str,
) -> Result<(i64, i64), ApiError> {
    let (key, window) = (key.to_string(), org.org.settings.lock_policy.window_seconds);
    Ok(state
        .db
        .run(move |conn| throttle::count_attempt(conn, &key, window))
        .await?)
}

/// The events of a failed attempt of a known user: `loginFailed`, and `lockUser` when
/// `locked_until` is set.
fn failure_events(
    state: &AppState,
    org: &OrgEntry,
    user: (&str, &str),
    client: &str,
    authenticator: &str,
    locked_until: Option<i64>,
) -> Vec<Publish> {
    let origin = org.event_origin(state.settings.base_url.as_str());
    let (user_id, username) = user;
    let base = serde_json::json!({
        "organizationId": org.org.id,
        "organizationName": org.org.display_name,
        "userId": user_id,
        "username": username,
    });
    let mut failed = base.clone();
    failed["clientId"] = client.into();
    failed["authenticator"] = authenticator.into();
    let mut events = vec![Publish::new(
        origin,
        "LOGINS",
        hub::LOGIN_FAILED,
        "LoginFailedEvent",
        failed,
    )];
    if let Some(until) = locked_until {
        let mut lock = base;
        lock["lockedUntil"] = until.into();
        events.push(Publish::new(
            origin,
            "USER_OPERATIONS",
            hub::LOCK_USER,
            "LockUserEvent",
            lock,
        ));
    }
    events
}

/// The account's lock: `Some(until)` while it holds. A lock that has run out ends here, at the
/// account's next attempt (as WSO2's do), and publishes `unlockUser` in the same transaction.
/// One read when the account has no lock.
async fn account_lock(
    state: &AppState,
    org: &OrgEntry,
    key: &str,
    user: (&str, &str),
) -> Result<Option<i64>, ApiError> {
    let k = key.to_string();
    let Some(until) = state
        .db
        .run(move |conn| throttle::lock_end(conn, &k))
        .await?
    else {
        return Ok(None);
    };
    if until > now() {
        return Ok(Some(until));
    }
    let (user_id, username) = user;
    let event = Publish::new(
        org.event_origin(state.settings.base_url.as_str()),
        "USER_OPERATIONS",
        hub::UNLOCK_USER,
        "UnlockUserEvent",
        serde_json::json!({
            "organizationId": org.org.id,
            "organizationName": org.org.display_name,
            "userId": user_id,
            "username": username,
            "lockedUntil": until,
        }),
    );
    let key = key.to_string();
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                // Another request may have ended it first: published once.
                if throttle::take_expired_lock(conn, &key)?.is_some() {
                    event.store(conn)?;
                }
                Ok(())
            })
        })
        .await?;
    Ok(None)
}

/// After a wrong code: locks the account when the attempts reached the policy's limit, and
/// publishes `loginFailed` (and `lockUser`) in the same transaction.
async fn second_factor_failed(
    state: &AppState,
    org: &OrgEntry,
    sf: &SecondFactor,
    authenticator: &str,
    (attempts, locks): (i64, i64),
) -> Result<Option<i64>, ApiError> {
    let policy = org.org.settings.lock_policy.clone();
    let key = sf.account_key();
    let lock = attempts >= policy.max_attempts;
    let until = lock.then(|| now() + policy.lock_duration(locks));
    let events = failure_events(
        state,
        org,
        (&sf.user.id, sf.user.username.as_str()),
        sf.purpose.client(),
        authenticator,
        until,
    );
    Ok(state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let until = if lock {
                    Some(throttle::lock_account(conn, &key, &policy, locks)?)
                } else {
                    None
                };
                for e in &events {
                    e.store(conn)?;
                }
                Ok(until)
            })
        })
        .await?)
}

/// Before a check, after its attempt was counted: a lock set meanwhile (a lock resets the
/// count, so a request that counted after it must look again), or attempts counted past the
/// limit at the same moment (a parallel burst), stop the check from running.
async fn lock_if_past(
    state: &AppState,
    org: &OrgEntry,
    key: &str,
    (attempts, locks): (i64, i64),
) -> Result<Option<i64>, ApiError> {
    let policy = org.org.settings.lock_policy.clone();
    let key = key.to_string();
    Ok(state
        .db
        .run(move |conn| match throttle::locked_until(conn, &key)? {
            Some(until) => Ok(Some(until)),
            None if attempts > policy.max_attempts => {
                throttle::lock_account(conn, &key, &policy, locks).map(Some)
            }
            None => Ok(None),
        })
        .await?)
}

async fn forgive(state: &AppState, key: &str) -> Result<(), ApiError> {
    let key = key.to_string();
    Ok(state
        .db
        .run(move |conn| throttle::forgive(conn, &key))
        .await?)
}

/// What happened to a send.
enum Sent {
    Yes,
    /// Another request sent this code a moment ago (a double click, two tabs).
    Already,
    Failed,
    /// Not sent yet; the delivery worker keeps trying until the code expires.
    Retrying,
    /// Too many sends to this user or number: blocked until then.
    Blocked(i64),
}

/// Generates a code, stores its keyed hash (voiding the earlier ones) together with its
/// `SmsOtpNotificationEvent` in one transaction, then sends it through the SMS channel.
async fn send_code(
    state: &AppState,
    org: &OrgEntry,
    sf: &SecondFactor,
    phone: &PhoneNumber,
    seq: i64,
) -> Result<Sent, ApiError> {
    let settings = &org.org.settings.sms_otp;
    let kek = state.keys.kek();
    let code = settings.generate();
    let host = url::Url::parse(state.settings.base_url.as_str())
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "localhost".into());
    let body = settings.message(&sf.purpose.name(org), &code, &host);
    let t = now();
    let expires_at = t + settings.expiry_seconds;
    let row = SmsOtp {
        id: uuid::Uuid::new_v4().to_string(),
        transaction_id: sf.tx.id.clone(),
        seq,
        user_id: sf.user.id.clone(),
        phone_number: phone.as_str().to_string(),
        code_hash: otp::keyed_hash(kek, &sf.tx.id, code.expose())
            .map_err(|_| ApiError::Internal)?,
        created_at: t,
        expires_at,
        failed_attempts: 0,
        used_at: None,
        voided_at: None,
        event_jti: None,
    };
    let origin = org.event_origin(state.settings.base_url.as_str());
    let event = crate::events::sms_otp_notification(kek, origin, phone.as_str(), &body, expires_at)
        .map_err(|_| ApiError::Internal)?;
    if let Some(until) = count_send(state, org, &sf.user.id, phone).await? {
        return Ok(Sent::Blocked(until));
    }
    // The code, its event and the event's delivery are stored together; this request then
    // delivers it at once, and if it cannot (or dies first) the worker retries until the code
    // expires.
    let claimed_until = t + state.settings.delivery_lease_seconds;
    let delivery = Delivery::new(
        &event.jti,
        org.org.id,
        deliveries::SMS,
        expires_at,
        Some(claimed_until),
    );
    let row = SmsOtp {
        event_jti: Some(event.jti.clone()),
        ..row
    };
    let d = delivery.clone();
    // In webhook mode the event goes to the NOTIFICATIONS subscribers, who send the SMS.
    let webhook = org.sms.as_ref().is_ok_and(|c| c.is_webhook());
    let stored = state
        .db
        .run(move |conn| {
            let r = write_transaction(conn, |conn| {
                SmsOtp::insert_replacing(conn, &row)?;
                crate::store::events::OutboxEvent::insert(conn, &event)?;
                if webhook {
                    crate::events::hub::fan_out(conn, &event, "NOTIFICATIONS", expires_at)
                } else {
                    Delivery::insert(conn, &d).map(|()| 1)
                }
            });
            match r {
                Ok(n) => Ok(Some(n)),
                Err(StoreError::Conflict(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
    let Some(targets) = stored else {
        return Ok(Sent::Already);
    };
    if webhook {
        state.deliveries_due.notify_one();
        if targets == 0 {
            tracing::error!(org = %org.org.slug, "SMS OTP not sent: webhook mode and no subscriber");
            return Ok(Sent::Failed);
        }
        return Ok(Sent::Yes);
    }
    match crate::events::worker::deliver(state, delivery).await {
        Ok(()) => {
            tracing::info!(user = %sf.user.id, to = %phone.masked(), "SMS OTP sent");
            Ok(Sent::Yes)
        }
        Err(error) => {
            tracing::warn!(user = %sf.user.id, to = %phone.masked(), %error, "SMS OTP not sent yet");
            Ok(if error.is_retryable() {
                Sent::Retrying
            } else {
                Sent::Failed
            })
        }
    }
}

const NOT_SENT: &str = "We could not send the code to this number. Ask for a new code in a moment.";
const STILL_TRYING: &str = "We could not send the code yet and keep trying for a few minutes. If it has not arrived in a minute, ask for a new code.";

/// Shows the OTP page with a fresh CSRF token.
async fn otp_form(
    state: &AppState,
    org: &OrgEntry,
    sf: &SecondFactor,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let csrf = random_token(32);
    let (id, hash) = (sf.tx.id.clone(), sha256_hex(csrf.expose()));
    let latest = state
        .db
        .run(move |conn| {
            LoginTransaction::set_csrf(conn, &id, &hash)?;
            SmsOtp::latest(conn, &id)
        })
        .await?;
    let settings = &org.org.settings.sms_otp;
    let wait = latest
        .as_ref()
        .map_or(0, |l| {
            l.created_at + settings.resend_cooldown_seconds - now()
        })
        .max(0);
    let backup_url = sf
        .step
        .contains(&Authenticator::BackupCode)
        .then(|| format!("{}/backup-code?tx={}", org.issuer, sf.tx.id));
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(state.pages.render(
        status,
        "otp.html",
        context! {
            org_name => org.org.display_name,
            app_name => sf.purpose.name(org),
            action => format!("{}/otp", org.issuer),
            tx => sf.tx.id,
            csrf => csrf.expose(),
            no_phone => sf.phone().is_none(),
            masked_phone => sf.phone().map(PhoneNumber::masked),
            numeric => settings.numeric_only,
            maxlength => settings.length + 4,
            resend_after => (wait > 0).then(|| format_utc(now() + wait)),
            resend_wait => wait,
            // Only a code that was sent (or is being sent) is announced as sent.
            sent => latest.is_some(),
            backup_url,
            notice,
            error,
        },
    ))
}

/// `GET {issuer}/otp?tx=…`: the SMS OTP step. The first visit sends the first code (exactly
/// once, however many tabs load it); later codes are sent only when the user asks.
pub async fn otp_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<TxQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let tx = query.into_inner().tx;
    let sf = match at_step(&state, &org, &req, tx, Authenticator::SmsOtp, None).await? {
        Ok(sf) => sf,
        Err(page) => return Ok(page),
    };
    let Some(phone) = sf.phone().cloned() else {
        return otp_form(&state, &org, &sf, None, None).await;
    };
    let id = sf.tx.id.clone();
    let latest = state.db.run(move |conn| SmsOtp::latest(conn, &id)).await?;
    let error = match latest {
        Some(_) => None,
        None => match send_code(&state, &org, &sf, &phone, 0).await? {
            Sent::Yes | Sent::Already => None,
            Sent::Failed => Some(NOT_SENT.to_string()),
            Sent::Retrying => Some(STILL_TRYING.to_string()),
            Sent::Blocked(until) => Some(blocked_message(until)),
        },
    };
    otp_form(&state, &org, &sf, None, error.as_deref()).await
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    tx: Option<String>,
    csrf: Option<String>,
    #[serde(default)]
    code: String,
    action: Option<String>,
}

/// `POST {issuer}/otp`: check a code (`action=verify`) or send a new one (`action=resend`).
pub async fn otp_submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let form = form.into_inner();
    let csrf = Some(form.csrf.as_deref());
    let sf = match at_step(
        &state,
        &org,
        &req,
        form.tx.clone(),
        Authenticator::SmsOtp,
        csrf,
    )
    .await?
    {
        Ok(sf) => sf,
        Err(page) => return Ok(page),
    };
    let account = sf.account_key();
    let Some(phone) = sf.phone().cloned() else {
        return otp_form(&state, &org, &sf, None, None).await;
    };
    if form.action.as_deref() == Some("resend") {
        return resend(&state, &org, &sf, &phone).await;
    }

    let settings = &org.org.settings.sms_otp;
    let max = settings.max_failed_attempts;
    let id = sf.tx.id.clone();
    let current = state
        .db
        .run(move |conn| SmsOtp::latest(conn, &id))
        .await?
        // Only a code sent to this user at this number counts.
        .filter(|c| c.user_id == sf.user.id && c.phone_number == phone.as_str());
    let Some(current) = current else {
        return otp_form(
            &state,
            &org,
            &sf,
            None,
            Some("No code was sent yet. Ask for a new code."),
        )
        .await;
    };
    // The attempt counts toward the account's lock before anything is compared, and a burst
    // past the limit locks at once: parallel guesses get no more checks than the policy allows.
    let counted = count_attempt(&state, &org, &account).await?;
    if let Some(until) = lock_if_past(&state, &org, &account, counted).await? {
        return Ok(locked_page(&state, until));
    }
    // One attempt at this code is claimed before the comparison, for the same reason.
    let (otp_id, m) = (current.id.clone(), max);
    let claimed = state
        .db
        .run(move |conn| SmsOtp::claim_attempt(conn, &otp_id, m))
        .await?;
    if !claimed {
        forgive(&state, &account).await?;
        return otp_form(
            &state,
            &org,
            &sf,
            None,
            Some(dead_message(current.dead(max))),
        )
        .await;
    }
    let typed = settings.normalize(&form.code);
    let right = otp::matches(state.keys.kek(), &sf.tx.id, &typed, &current.code_hash)
        .map_err(|_| ApiError::Internal)?;
    if right {
        let otp_id = current.id.clone();
        if !state
            .db
            .run(move |conn| SmsOtp::spend(conn, &otp_id))
            .await?
        {
            // Another submission of the same code won the race: no failure to count.
            forgive(&state, &account).await?;
            return otp_form(
                &state,
                &org,
                &sf,
                None,
                Some(dead_message(Some(Dead::Used))),
            )
            .await;
        }
        forgive(&state, &account).await?;
        tracing::info!(user = %sf.user.id, "SMS OTP verified");
        if let Purpose::Account(AccountRequest::Phone { number }) = &sf.purpose {
            return super::account::enroll_phone(&state, &org, &sf.tx, &sf.user, number).await;
        }
        return step_passed(&state, &org, &req, &sf, Authenticator::SmsOtp).await;
    }
    if let Some(until) = second_factor_failed(&state, &org, &sf, "sms_otp", counted).await? {
        tracing::warn!(user = %sf.user.id, "account locked after failed SMS OTPs");
        return Ok(locked_page(&state, until));
    }
    let otp_id = current.id.clone();
    let failed = state
        .db
        .run(move |conn| SmsOtp::failed_attempts(conn, &otp_id))
        .await?;
    let left = max - failed;
    let message = if left <= 0 {
        "That code is not right, and it was the last try: this code no longer works. Ask for a new code.".to_string()
    } else if left == 1 {
        "That code is not right. 1 attempt left.".to_string()
    } else {
        format!("That code is not right. {left} attempts left.")
    };
    otp_form(&state, &org, &sf, None, Some(&message)).await
}

fn dead_message(dead: Option<Dead>) -> &'static str {
    match dead {
        Some(Dead::Expired) => "This code has expired. Ask for a new code.",
        Some(Dead::Used) => "This code was already used. Ask for a new code.",
        Some(Dead::Void) | None => {
            "This code no longer works (too many wrong tries, or a newer code was sent). Ask for a new code."
        }
    }
}

/// Sends a new code (voiding the previous one), within the cooldown and the resend limit: after
/// `resend_attempts` resends within an hour, resending is blocked for `resend_block_seconds`.
/// The limit is per user, so starting a new sign-in does not reset it.
async fn resend(
    state: &AppState,
    org: &OrgEntry,
    sf: &SecondFactor,
    phone: &PhoneNumber,
) -> Result<HttpResponse, ApiError> {
    let settings = org.org.settings.sms_otp.clone();
    let id = sf.tx.id.clone();
    let latest = state.db.run(move |conn| SmsOtp::latest(conn, &id)).await?;
    if let Some(l) = &latest {
        let wait = l.created_at + settings.resend_cooldown_seconds - now();
        if wait > 0 {
            let message = format!("Please wait {wait} seconds before asking for a new code.");
            return otp_form(state, org, sf, None, Some(&message)).await;
        }
    }
    let seq = latest.map_or(0, |l| l.seq + 1);
    match send_code(state, org, sf, phone, seq).await? {
        Sent::Yes | Sent::Already => {
            otp_form(
                state,
                org,
                sf,
                Some("We sent a new code. Earlier codes no longer work."),
                None,
            )
            .await
        }
        Sent::Failed => otp_form(state, org, sf, None, Some(NOT_SENT)).await,
        Sent::Retrying => otp_form(state, org, sf, None, Some(STILL_TRYING)).await,
        Sent::Blocked(until) => otp_form(state, org, sf, None, Some(&blocked_message(until))).await,
    }
}

fn blocked_message(until: i64) -> String {
    format!(
        "Too many new codes were asked for. You can ask again after {}.",
        format_utc(until)
    )
}

/// Counts a send against the user and against the number, each allowed `resend_attempts + 1`
/// sends an hour (the first code and its resends) before sending to it is blocked for
/// `resend_block_seconds`. Per user, so new sign-ins do not reset it; per number, so the account
/// area cannot be used to send texts to any number. Returns the end of a block.
async fn count_send(
    state: &AppState,
    org: &OrgEntry,
    user_id: &str,
    phone: &PhoneNumber,
) -> Result<Option<i64>, ApiError> {
    let settings = &org.org.settings.sms_otp;
    let (limit, block) = (settings.resend_attempts + 1, settings.resend_block_seconds);
    let keys = [
        format!("otp-send:{}:{user_id}", org.org.id),
        format!("otp-send-to:{}:{}", org.org.id, phone.as_str()),
    ];
    Ok(state
        .db
        .run(move |conn| {
            for key in &keys {
                if let Some(until) = throttle::locked_until(conn, key)? {
                    return Ok(Some(until));
                }
            }
            let mut blocked = None;
            for key in &keys {
                let (sends, _) = throttle::count_attempt(conn, key, 3600)?;
                if sends > limit {
                    blocked = Some(throttle::lock_for(conn, key, block)?);
                }
            }
            Ok(blocked)
        })
        .await?)
}

/// Shows the backup-code page with a fresh CSRF token.
async fn backup_form(
    state: &AppState,
    org: &OrgEntry,
    sf: &SecondFactor,
    error: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let csrf = random_token(32);
    let (id, hash) = (sf.tx.id.clone(), sha256_hex(csrf.expose()));
    state
        .db
        .run(move |conn| LoginTransaction::set_csrf(conn, &id, &hash))
        .await?;
    Ok(state.pages.render(
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        "backup_code.html",
        context! {
            org_name => org.org.display_name,
            app_name => sf.purpose.name(org),
            action => format!("{}/backup-code", org.issuer),
            tx => sf.tx.id,
            csrf => csrf.expose(),
            otp_url => format!("{}/otp?tx={}", org.issuer, sf.tx.id),
            error,
        },
    ))
}

/// `GET {issuer}/backup-code?tx=…`: the fallback of an SMS OTP step that offers backup codes.
pub async fn backup_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<TxQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let tx = query.into_inner().tx;
    match at_step(&state, &org, &req, tx, Authenticator::BackupCode, None).await? {
        Ok(sf) => backup_form(&state, &org, &sf, None).await,
        Err(page) => Ok(page),
    }
}

/// `POST {issuer}/backup-code`: one keyed hash and one conditional update per attempt; each
/// code works once, and failures count toward the account's lock.
pub async fn backup_submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let form = form.into_inner();
    let csrf = Some(form.csrf.as_deref());
    let sf = match at_step(
        &state,
        &org,
        &req,
        form.tx.clone(),
        Authenticator::BackupCode,
        csrf,
    )
    .await?
    {
        Ok(sf) => sf,
        Err(page) => return Ok(page),
    };
    let account = sf.account_key();
    let counted = count_attempt(&state, &org, &account).await?;
    if let Some(until) = lock_if_past(&state, &org, &account, counted).await? {
        return Ok(locked_page(&state, until));
    }
    let hash = backup::keyed_hash(state.keys.kek(), &sf.user.id, &form.code)
        .map_err(|_| ApiError::Internal)?;
    let user_id = sf.user.id.clone();
    let spent = state
        .db
        .run(move |conn| backup_codes::spend(conn, &user_id, &hash))
        .await?;
    if spent {
        forgive(&state, &account).await?;
        tracing::info!(user = %sf.user.id, "backup code used");
        return step_passed(&state, &org, &req, &sf, Authenticator::BackupCode).await;
    }
    if let Some(until) = second_factor_failed(&state, &org, &sf, "backup_code", counted).await? {
        tracing::warn!(user = %sf.user.id, "account locked after failed backup codes");
        return Ok(locked_page(&state, until));
    }
    backup_form(
        &state,
        &org,
        &sf,
        Some("That backup code is not valid or was already used."),
    )
    .await
}
