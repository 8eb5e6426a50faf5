//! The sign-in engine: takes a [`Command`] (what the user did) on an opened [`SignIn`] with a
//! [`Ctx`] (client IP, the clock) and answers an [`Outcome`]. Free of web types: the HTML pages
//! (`http::signin`) and the JSON sign-in API (`http::native`) translate their input into
//! commands and render the outcomes; no decision is made while rendering.
//!
//! A sign-in in progress is a login transaction: it records who the user is once a first step
//! identified them and which authenticators they passed. After each step the flow names the next
//! missing step ([`Outcome::Advanced`]); when none is missing, [`finish`] creates (or steps up)
//! the session ([`Outcome::Completed`]). Every check is on the server, in the database: counts,
//! expiry, single use. The policy (locks, throttles, send limits) is `authn::policy`; the events
//! a sign-in publishes are `events::SignInEvent`.

use std::sync::Arc;

pub mod link;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::flow::{Authenticator, PassedList, SignInFlow};
use super::outcome::{
    Completed, FirstView, Notice, Outcome, ProviderView, Refusal, SmsOtpView, Step, StepError,
    StepKind,
};
use super::policy::{self, Counted, Lock};
use super::{backup, otp};
use crate::domain::{PhoneNumber, Username};
use crate::events::{SignInEvent, Subject};
use crate::oidc::authorize::AuthRequest;
use crate::secret::{Secret, random_token, sha256_hex};
use crate::state::{Core, CoreError, OrgEntry};
use crate::store::applications::Application;
use crate::store::auth::{AuthorizationCode, Grant, LoginTransaction, Session};
use crate::store::deliveries::{self, Delivery};
use crate::store::otps::{Dead, SmsOtp};
use crate::store::users::User;
use crate::store::{StoreError, backup_codes, write_transaction};

/// How long a user has to finish signing in.
pub const TRANSACTION_LIFETIME: i64 = 900;
/// How long an SSO session lasts.
pub const SESSION_LIFETIME: i64 = 12 * 3600;
/// How long a pass through the chain allows account changes.
pub const FRESH_SECONDS: i64 = 600;

/// What a sign-in is for.
#[derive(Debug, Clone)]
pub enum Purpose {
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
pub enum AccountRequest {
    /// The user's full chain again: a first step, then their second factor when they have one.
    Verify,
    /// An OTP sent to `number`; entering it saves the number as the user's, verified.
    Phone { number: String },
}

/// The flow an authorization must pass: the application's, or more when `acr_values` asks.
pub fn required_flow(app: &Application, auth: &AuthRequest) -> SignInFlow {
    SignInFlow::required(&app.flow(), app.backup_codes, &auth.acr_values)
}

impl Purpose {
    /// What a stored transaction is for; `None` for a consent transaction or an unreadable one.
    pub fn of(tx: &LoginTransaction, app: Option<Application>) -> Option<Self> {
        match app {
            Some(app) => match serde_json::from_str::<AuthRequest>(&tx.request) {
                Ok(auth) if auth.consent_sid.is_none() => Some(Self::Authorize {
                    auth: Box::new(auth),
                    app: Box::new(app),
                }),
                _ => None,
            },
            None => serde_json::from_str::<AccountRequest>(&tx.request)
                .ok()
                .map(Self::Account),
        }
    }

    /// The flow this sign-in must pass. An account check asks for any first step the
    /// organization's applications offer (so users of magic links or upstream providers can
    /// reach their account too), then the second step only when the user has a second factor (a
    /// verified number or backup codes); confirming a number asks for its code.
    pub async fn flow(
        &self,
        core: &Core,
        org: &OrgEntry,
        user: Option<&User>,
    ) -> Result<SignInFlow, CoreError> {
        Ok(match self {
            Self::Authorize { auth, app } => required_flow(app, auth),
            Self::Account(AccountRequest::Verify) => {
                let second = match user {
                    Some(u) => has_second_factor(core, u).await?,
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
    pub fn name(&self, org: &OrgEntry) -> String {
        match self {
            Self::Authorize { app, .. } => app.name.clone(),
            Self::Account(_) => format!("{} account", org.org.display_name),
        }
    }

    pub fn login_hint(&self) -> Option<&str> {
        match self {
            Self::Authorize { auth, .. } => auth.login_hint.as_deref(),
            Self::Account(_) => None,
        }
    }

    /// The client in logs and events.
    pub fn client(&self) -> &str {
        match self {
            Self::Authorize { app, .. } => app.client_id.as_str(),
            Self::Account(_) => "(account)",
        }
    }
}

/// Whether the user has a second factor: a verified mobile number or unused backup codes.
pub async fn has_second_factor(core: &Core, user: &User) -> Result<bool, CoreError> {
    if user.phone_number.is_some() && user.phone_number_verified {
        return Ok(true);
    }
    let id = user.id.clone();
    Ok(core
        .db
        .run(move |conn| backup_codes::remaining(conn, &id))
        .await?
        > 0)
}

/// Until when the session's last pass through the chain allows account changes, if it still
/// does at `now`: any first step and, when the user has one, the second factor, both within
/// [`FRESH_SECONDS`].
pub fn fresh_until(session: &Session, second_factor: bool, now: i64) -> Option<i64> {
    let passed = PassedList::from_json(&session.passed);
    let latest = |keep: &dyn Fn(&Authenticator) -> bool| {
        passed
            .0
            .iter()
            .filter(|p| keep(&p.method))
            .map(|p| p.at)
            .max()
    };
    let first = latest(&Authenticator::identifies)?;
    let oldest = if second_factor {
        first.min(latest(&|a| !a.identifies())?)
    } else {
        first
    };
    Some(oldest + FRESH_SECONDS).filter(|until| *until > now)
}

/// The open transaction `tx_id` of the organization, with its application (none for the
/// account area's), if `binding_hash` is the SHA-256 of the secret that binds it (the browser
/// cookie, or the JSON API's flow secret). Compared in constant time.
pub async fn load_bound(
    core: &Core,
    org: &OrgEntry,
    tx_id: &str,
    binding_hash: &str,
    now: i64,
) -> Result<Option<(LoginTransaction, Option<Application>)>, CoreError> {
    let (org_id, tx_id) = (org.org.id, tx_id.to_string());
    let found = core
        .db
        .run(move |conn| {
            let Some(tx) = LoginTransaction::find_open(conn, org_id, &tx_id, now)? else {
                return Ok(None);
            };
            match tx.application_id.clone() {
                None => Ok(Some((tx, None))),
                Some(app_id) => Ok(Application::find_by_id(conn, &app_id)?.map(|a| (tx, Some(a)))),
            }
        })
        .await?;
    Ok(found
        .filter(|(tx, _)| bool::from(binding_hash.as_bytes().ct_eq(tx.browser_hash.as_bytes()))))
}

/// What a sign-in starts with when a session already passed some steps (a step-up, an account
/// check of the signed-in user).
#[derive(Debug, Clone)]
pub struct Progress {
    pub user_id: String,
    pub passed: PassedList,
    pub session_sid: Option<String>,
}

/// A new transaction for `request` (an application's authorization request, or an account
/// request when `application_id` is `None`), bound to the secret whose SHA-256 is
/// `binding_hash`, open for [`TRANSACTION_LIFETIME`].
pub fn new_transaction(
    org: &OrgEntry,
    application_id: Option<String>,
    request: String,
    binding_hash: &str,
    progress: Option<Progress>,
    now: i64,
) -> LoginTransaction {
    LoginTransaction {
        id: random_token(32).expose().clone(),
        organization_id: org.org.id,
        application_id,
        request,
        browser_hash: binding_hash.to_string(),
        // Replaced by the page that shows a form, with the token it shows.
        csrf_hash: sha256_hex(random_token(32).expose()),
        created_at: now,
        expires_at: now + TRANSACTION_LIFETIME,
        completed_at: None,
        passed: progress
            .as_ref()
            .map_or_else(|| "[]".to_string(), |p| p.passed.to_json()),
        session_sid: progress.as_ref().and_then(|p| p.session_sid.clone()),
        user_id: progress.map(|p| p.user_id),
    }
}

/// A sign-in in progress, opened from its transaction.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub org: Arc<OrgEntry>,
    pub tx: LoginTransaction,
    pub purpose: Purpose,
}

impl SignIn {
    /// The sign-in `tx_id` bound to `binding_hash` and open at `now`, whatever it is for (not
    /// consent ones).
    pub async fn open(
        core: &Core,
        org: &Arc<OrgEntry>,
        tx_id: &str,
        binding_hash: &str,
        now: i64,
    ) -> Result<Option<Self>, CoreError> {
        let Some((tx, app)) = load_bound(core, org, tx_id, binding_hash, now).await? else {
            return Ok(None);
        };
        Ok(Purpose::of(&tx, app).map(|purpose| Self {
            org: org.clone(),
            tx,
            purpose,
        }))
    }

    fn passed(&self) -> PassedList {
        PassedList::from_json(&self.tx.passed)
    }

    /// The sign-in's next step (its alternatives), `None` once the flow is complete.
    pub async fn next_step(&self, core: &Core) -> Result<Option<Vec<Authenticator>>, CoreError> {
        let user = match &self.tx.user_id {
            Some(id) => {
                let (org_id, id) = (self.org.org.id, id.clone());
                core.db
                    .run(move |conn| User::find(conn, org_id, &id))
                    .await?
            }
            None => None,
        };
        let flow = self.purpose.flow(core, &self.org, user.as_ref()).await?;
        Ok(flow
            .next_step(&self.passed())
            .map(<[Authenticator]>::to_vec))
    }
}

/// What the user did.
#[derive(Debug)]
pub enum Command {
    /// Show the step of this kind (for an SMS OTP step, the first visit sends the first code).
    Show(StepKind),
    Password {
        username: String,
        password: Secret<String>,
    },
    /// "Email me a sign-in link" for a username or an email address.
    RequestLink {
        identifier: String,
    },
    /// A first step proven elsewhere for `user`: a magic link opened, an upstream provider's
    /// answer verified.
    FirstStepPassed {
        user: Box<User>,
        method: Authenticator,
        at: i64,
    },
    SmsCode {
        code: Secret<String>,
    },
    /// Send a new SMS code (voiding the previous one).
    Resend,
    BackupCode {
        code: Secret<String>,
    },
}

/// The token a form carried (the CSRF token of the page that showed the step): checked once
/// the sign-in is known to be at the command's step, before anything else happens.
#[derive(Debug, Clone, Default)]
pub enum FormToken {
    /// Not a form (a page view, a link, an upstream provider's answer): nothing to check.
    #[default]
    NotAForm,
    /// A form, and the token it carried, if any.
    Sent(Option<String>),
}

impl FormToken {
    /// Whether the token is the one the transaction's page showed (by hash, in constant time).
    fn admits(&self, tx: &LoginTransaction) -> bool {
        match self {
            Self::NotAForm => true,
            Self::Sent(sent) => token_matches(sent.as_deref(), tx),
        }
    }
}

/// Whether `sent` is the transaction's current form token (compared by hash, in constant time).
pub fn token_matches(sent: Option<&str>, tx: &LoginTransaction) -> bool {
    sent.is_some_and(|c| bool::from(sha256_hex(c).as_bytes().ct_eq(tx.csrf_hash.as_bytes())))
}

/// Where a command comes from and when.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The client's IP by the trusted-proxy rules (empty when unknown).
    pub client_ip: String,
    pub now: i64,
    /// The SHA-256 of the browser's current session cookie: that session ends when the
    /// sign-in completes with a new one.
    pub session_hash: Option<String>,
    /// The form's token, for commands sent by a form.
    pub form: FormToken,
}

/// Runs a command.
pub async fn run(
    core: &Arc<Core>,
    sign_in: &SignIn,
    command: Command,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    match command {
        Command::Show(StepKind::First) => show_first(core, sign_in, "", None).await,
        Command::Show(kind) => {
            let method = match kind {
                StepKind::BackupCode => Authenticator::BackupCode,
                _ => Authenticator::SmsOtp,
            };
            let sf = match at_step(core, sign_in, method, ctx).await? {
                Ok(sf) => sf,
                Err(refusal) => return Ok(Outcome::Refused(refusal)),
            };
            if kind == StepKind::BackupCode {
                return step_view(core, &sf, kind, None, None, ctx).await;
            }
            let error = match sf.phone.clone() {
                Some(phone) => first_code(core, &sf, &phone, ctx).await?,
                None => None,
            };
            step_view(core, &sf, kind, error, None, ctx).await
        }
        Command::Password { username, password } => {
            password_step(core, sign_in, username, password, ctx).await
        }
        Command::RequestLink { identifier } => link::request(core, sign_in, &identifier, ctx).await,
        Command::FirstStepPassed { user, method, at } => {
            if !first_step_open(core, sign_in, &method).await? {
                return Ok(Outcome::Refused(Refusal::Expired));
            }
            if !ctx.form.admits(&sign_in.tx) {
                return Ok(Outcome::Refused(Refusal::FormExpired));
            }
            first_step_passed(core, sign_in, &user, method, at, ctx).await
        }
        Command::SmsCode { code } => sms_code(core, sign_in, code.expose(), ctx).await,
        Command::Resend => resend(core, sign_in, ctx).await,
        Command::BackupCode { code } => backup_code(core, sign_in, code.expose(), ctx).await,
    }
}

/// The first step, if the sign-in's next step identifies the user (and offers `method`, when
/// given). Once a sign-in is past it (or a step-up starts past it), its first step is closed:
/// who the user is cannot change halfway through.
pub async fn first_step(
    core: &Core,
    sign_in: &SignIn,
    method: Option<&Authenticator>,
) -> Result<Option<Vec<Authenticator>>, CoreError> {
    let flow = sign_in.purpose.flow(core, &sign_in.org, None).await?;
    Ok(flow
        .next_step(&sign_in.passed())
        .filter(|step| StepKind::First.fits(step) && method.is_none_or(|m| step.contains(m)))
        .map(<[Authenticator]>::to_vec))
}

async fn first_step_open(
    core: &Core,
    sign_in: &SignIn,
    method: &Authenticator,
) -> Result<bool, CoreError> {
    Ok(first_step(core, sign_in, Some(method)).await?.is_some())
}

/// The first step to show, with what was typed and an error.
async fn show_first(
    core: &Core,
    sign_in: &SignIn,
    username: &str,
    error: Option<StepError>,
) -> Result<Outcome, CoreError> {
    let Some(step) = first_step(core, sign_in, None).await? else {
        return Ok(Outcome::Refused(Refusal::Expired));
    };
    Ok(Outcome::Step(first_view(sign_in, step, username, error)))
}

/// The view of a first step.
pub fn first_view(
    sign_in: &SignIn,
    step: Vec<Authenticator>,
    username: &str,
    error: Option<StepError>,
) -> Step {
    let org = &sign_in.org;
    let username = if username.is_empty() {
        sign_in.purpose.login_hint().unwrap_or_default().to_string()
    } else {
        username.to_string()
    };
    let providers = step
        .iter()
        .filter_map(|a| match a {
            Authenticator::Federated(name) => {
                org.org
                    .settings
                    .identity_provider(name)
                    .map(|p| ProviderView {
                        name: name.clone(),
                        label: p.label().to_string(),
                    })
            }
            _ => None,
        })
        .collect();
    Step {
        kind: StepKind::First,
        authenticators: step,
        app_name: sign_in.purpose.name(org),
        first: Some(FirstView {
            username,
            providers,
        }),
        sms_otp: None,
        error,
        notice: None,
    }
}

/// The password step. Throttling: the client IP first (before any hashing), the account after
/// the password.
async fn password_step(
    core: &Core,
    sign_in: &SignIn,
    typed: String,
    password: Secret<String>,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    if !first_step_open(core, sign_in, &Authenticator::Password).await? {
        return Ok(Outcome::Refused(Refusal::Expired));
    }
    if !ctx.form.admits(&sign_in.tx) {
        return Ok(Outcome::Refused(Refusal::FormExpired));
    }
    let org = &sign_in.org;
    let (org_id, now) = (org.org.id, ctx.now);
    let lock_policy = org.org.settings.lock_policy.clone();
    let ip_key = policy::ip_key(org_id, &ctx.client_ip);
    let parsed = Username::parse(&typed);
    let account_key =
        policy::account_key(org_id, parsed.as_ref().map_or(typed.trim(), |u| u.as_str()));
    let key = ip_key.clone();
    if let Some(until) = core
        .db
        .run(move |conn| policy::locked_until(conn, &key, now))
        .await?
    {
        return Ok(Outcome::Refused(Refusal::NetworkThrottled { until }));
    }

    // Every attempt is counted before its hash runs, so a burst of parallel guesses cannot slip
    // past the limits; a right password takes its count back.
    let (a_key, i_key, window) = (
        account_key.clone(),
        ip_key.clone(),
        lock_policy.window_seconds,
    );
    let (account, ip) = core
        .db
        .run(move |conn| {
            Ok((
                policy::count(conn, &a_key, window, now)?,
                policy::count(conn, &i_key, window, now)?,
            ))
        })
        .await?;
    if ip.attempts > lock_policy.ip_max_failures {
        let (key, p) = (ip_key.clone(), lock_policy.clone());
        let until = core
            .db
            .run(move |conn| policy::lock_ip(conn, &key, &p, now))
            .await?;
        return Ok(Outcome::Refused(Refusal::NetworkThrottled { until }));
    }

    // Same work for an unknown user as for a wrong password: one argon2 verification.
    let user = match parsed {
        Ok(username) => {
            core.db
                .run(move |conn| User::find_by_username(conn, org_id, &username))
                .await?
        }
        Err(_) => None,
    };
    let phc = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| core.dummy_hash.clone());
    let verified = core.hasher.verify(phc, password).await
        && user.as_ref().is_some_and(|u| u.password_hash.is_some());
    // A locked account answers the same whether or not the password was right, so guessing
    // during a lock learns nothing; it is answered after the hash ran, and unknown usernames
    // lock the same way, so it says nothing about who exists either.
    let (key, p) = (account_key.clone(), lock_policy.clone());
    let locked = core
        .db
        .run(move |conn| policy::lock_if_past(conn, &key, &p, account, now))
        .await?;
    if let Some(until) = locked {
        return Ok(Outcome::Refused(Refusal::Locked { until }));
    }
    if let Some(u) = &user {
        // A lock still holding was answered above; one that ran out ends now.
        if let Some(until) = account_lock(core, org, &account_key, u, now).await? {
            return Ok(Outcome::Refused(Refusal::Locked { until }));
        }
    }
    let user = match user {
        Some(u) if verified => u,
        _ => {
            // Events only for an account that exists (an unknown name is nobody's failure).
            let (account_key, ip_key) = (account_key.clone(), ip_key.clone());
            let locking = policy::locks_now(&lock_policy, account);
            let events = user
                .as_ref()
                .map(|u| {
                    let until = locking.then(|| now + lock_policy.lock_duration(account.locks));
                    failure_events(org, u, sign_in.purpose.client(), "password", until)
                })
                .unwrap_or_default();
            // An automatic lock only stops new sign-ins: if it also revoked what the account
            // holds, anyone could sign a user out everywhere with a few wrong guesses.
            core.db
                .run(move |conn| {
                    write_transaction(conn, |conn| {
                        if locking {
                            policy::lock_account(conn, &account_key, &lock_policy, account, now)?;
                        }
                        if ip.attempts >= lock_policy.ip_max_failures {
                            policy::lock_ip(conn, &ip_key, &lock_policy, now)?;
                        }
                        for e in &events {
                            e.store(conn)?;
                        }
                        Ok(())
                    })
                })
                .await?;
            return show_first(core, sign_in, &typed, Some(StepError::WrongCredentials)).await;
        }
    };
    // The password's attempt is taken back but the account's count is not reset: a second
    // factor failing after a right password must keep counting toward the lock. A whole chain
    // passed resets it (see `finish`).
    core.db
        .run(move |conn| {
            policy::forgive(conn, &account_key)?;
            policy::forgive(conn, &ip_key)
        })
        .await?;
    first_step_passed(core, sign_in, &user, Authenticator::Password, now, ctx).await
}

/// A first step passed for `user` (a password, a magic link, an upstream provider): on to the
/// next step. A disabled account stops here; a sign-in that began for a known user (an account
/// check, a step-up) stays that user's, since signing in as someone else there would carry their
/// session and codes over.
async fn first_step_passed(
    core: &Core,
    sign_in: &SignIn,
    user: &User,
    method: Authenticator,
    at: i64,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    if user.disabled {
        return Ok(Outcome::Refused(Refusal::Disabled));
    }
    if sign_in.tx.user_id.as_deref().is_some_and(|u| u != user.id) {
        return Ok(Outcome::Refused(Refusal::AnotherAccount));
    }
    tracing::info!(user = %user.id, client_id = %sign_in.purpose.client(), method = %method, "first step passed");
    let mut passed = sign_in.passed();
    passed.add(method, at);
    advance(core, sign_in, user, passed, ctx).await
}

/// After a step passed: on to the next missing step, or finish.
async fn advance(
    core: &Core,
    sign_in: &SignIn,
    user: &User,
    passed: PassedList,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let flow = sign_in.purpose.flow(core, &sign_in.org, Some(user)).await?;
    let Some(step) = flow.next_step(&passed) else {
        return finish(core, sign_in, user, passed, ctx).await;
    };
    let kind = StepKind::of(step);
    let (id, user_id, json, sid) = (
        sign_in.tx.id.clone(),
        user.id.clone(),
        passed.to_json(),
        sign_in.tx.session_sid.clone(),
    );
    let recorded = core
        .db
        .run(move |conn| {
            LoginTransaction::record_progress(conn, &id, &user_id, &json, sid.as_deref())
        })
        .await?;
    if !recorded {
        return Ok(Outcome::Refused(Refusal::Expired));
    }
    Ok(Outcome::Advanced { kind })
}

/// The whole flow passed: the session records it (a new session, or the stepped-up one, with a
/// new cookie either way), the account's failure count is reset and `loginSuccess` published,
/// in one transaction with the sign-in's completion.
async fn finish(
    core: &Core,
    sign_in: &SignIn,
    user: &User,
    passed: PassedList,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let org = &sign_in.org;
    let cookie = random_token(32);
    let id_hash = sha256_hex(cookie.expose());
    let amr = serde_json::to_string(&passed.amr()).expect("amr serializes");
    let acr = passed.acr().to_string();
    let t = ctx.now;
    let fresh = Session {
        id_hash: id_hash.clone(),
        sid: uuid::Uuid::new_v4().to_string(),
        organization_id: org.org.id,
        user_id: user.id.clone(),
        auth_time: passed.identified_at().unwrap_or(t),
        amr: amr.clone(),
        acr: acr.clone(),
        created_at: t,
        expires_at: t + SESSION_LIFETIME,
        ended_at: None,
        passed: passed.to_json(),
    };
    let old = ctx.session_hash.clone();
    let account = policy::account_key(org.org.id, user.username.as_str());
    let success = SignInEvent::LoginSuccess {
        client_id: sign_in.purpose.client().to_string(),
        amr: passed.amr(),
        acr: passed.acr(),
    }
    .publish(org.event_origin(), subject(user));
    let (tx_id, user_id, session_sid) = (
        sign_in.tx.id.clone(),
        user.id.clone(),
        sign_in.tx.session_sid.clone(),
    );
    let session = core
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !LoginTransaction::complete(conn, &tx_id, t)? {
                    return Ok(None);
                }
                policy::reset(conn, &account)?;
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
        return Ok(Outcome::Refused(Refusal::Expired));
    };
    tracing::info!(
        user = %user.id,
        client_id = %sign_in.purpose.client(),
        amr = %session.amr,
        "signed in"
    );
    Ok(Outcome::Completed(Box::new(Completed {
        user_id: user.id.clone(),
        amr: passed.amr(),
        acr: passed.acr(),
        auth_time: session.auth_time,
        session,
        user: user.clone(),
        cookie,
    })))
}

fn subject(user: &User) -> Subject<'_> {
    Subject {
        user_id: &user.id,
        username: user.username.as_str(),
    }
}

/// The events of a failed attempt of a known user: `loginFailed`, and `lockUser` when
/// `locked_until` is set.
fn failure_events(
    org: &OrgEntry,
    user: &User,
    client: &str,
    authenticator: &str,
    locked_until: Option<i64>,
) -> Vec<crate::events::hub::Publish> {
    let mut events = vec![SignInEvent::LoginFailed {
        client_id: client.to_string(),
        authenticator: authenticator.to_string(),
    }];
    if let Some(until) = locked_until {
        events.push(SignInEvent::Locked { until });
    }
    events
        .iter()
        .map(|e| e.publish(org.event_origin(), subject(user)))
        .collect()
}

/// The account's lock: `Some(until)` while it holds. A lock that has run out ends here, at the
/// account's next attempt, and publishes `unlockUser` in the same transaction (once).
async fn account_lock(
    core: &Core,
    org: &OrgEntry,
    key: &str,
    user: &User,
    now: i64,
) -> Result<Option<i64>, CoreError> {
    let k = key.to_string();
    // One read when the account has no lock.
    let Some(until) = core
        .db
        .run(move |conn| crate::store::throttle::lock_end(conn, &k))
        .await?
    else {
        return Ok(None);
    };
    if until > now {
        return Ok(Some(until));
    }
    let event = SignInEvent::Unlocked { until }.publish(org.event_origin(), subject(user));
    let key = key.to_string();
    core.db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                match policy::account_lock(conn, &key, now)? {
                    Lock::Ended(_) => event.store(conn)?,
                    Lock::Open | Lock::Held(_) => {}
                }
                Ok(())
            })
        })
        .await?;
    Ok(None)
}

/// A sign-in at a second-factor step: its user is known and the step offers the method.
struct SecondFactor<'a> {
    sign_in: &'a SignIn,
    user: User,
    step: Vec<Authenticator>,
    /// Where codes go: the user's verified number, or the number being confirmed.
    phone: Option<PhoneNumber>,
}

impl SecondFactor<'_> {
    fn account_key(&self) -> String {
        policy::account_key(self.user.organization_id, self.user.username.as_str())
    }

    fn org(&self) -> &OrgEntry {
        &self.sign_in.org
    }

    fn tx_id(&self) -> &str {
        &self.sign_in.tx.id
    }
}

/// The sign-in at a second-factor step offering `method`, or why not: expired (no user yet, a
/// disabled one, another step), or locked.
async fn at_step<'a>(
    core: &Core,
    sign_in: &'a SignIn,
    method: Authenticator,
    ctx: &Ctx,
) -> Result<Result<SecondFactor<'a>, Refusal>, CoreError> {
    let Some(user_id) = sign_in.tx.user_id.clone() else {
        return Ok(Err(Refusal::Expired));
    };
    let org_id = sign_in.org.org.id;
    let Some(user) = core
        .db
        .run(move |conn| User::find(conn, org_id, &user_id))
        .await?
        .filter(|u| !u.disabled)
    else {
        return Ok(Err(Refusal::Expired));
    };
    let Some(step) = sign_in
        .purpose
        .flow(core, &sign_in.org, Some(&user))
        .await?
        .next_step(&sign_in.passed())
        .filter(|s| s.contains(&method))
        .map(<[Authenticator]>::to_vec)
    else {
        return Ok(Err(Refusal::Expired));
    };
    let phone = match &sign_in.purpose {
        Purpose::Account(AccountRequest::Phone { number }) => PhoneNumber::parse(number).ok(),
        _ => user
            .phone_number
            .clone()
            .filter(|_| user.phone_number_verified),
    };
    if !ctx.form.admits(&sign_in.tx) {
        return Ok(Err(Refusal::FormExpired));
    }
    let sf = SecondFactor {
        sign_in,
        user,
        step,
        phone,
    };
    if let Some(until) =
        account_lock(core, &sign_in.org, &sf.account_key(), &sf.user, ctx.now).await?
    {
        return Ok(Err(Refusal::Locked { until }));
    }
    Ok(Ok(sf))
}

/// The view of a second-factor step.
async fn step_view(
    core: &Core,
    sf: &SecondFactor<'_>,
    kind: StepKind,
    error: Option<StepError>,
    notice: Option<Notice>,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let id = sf.tx_id().to_string();
    let latest = core.db.run(move |conn| SmsOtp::latest(conn, &id)).await?;
    let settings = &sf.org().org.settings.sms_otp;
    let wait = latest
        .as_ref()
        .map_or(0, |l| {
            l.created_at + settings.resend_cooldown_seconds - ctx.now
        })
        .max(0);
    Ok(Outcome::Step(Step {
        kind,
        authenticators: sf.step.clone(),
        app_name: sf.sign_in.purpose.name(sf.org()),
        first: None,
        sms_otp: Some(SmsOtpView {
            masked_phone: sf.phone.as_ref().map(PhoneNumber::masked),
            // Only a code that was sent (or is being sent) is announced as sent.
            sent: latest.is_some(),
            resend_wait_seconds: wait,
            numeric: settings.numeric_only,
            length: settings.length as i64,
            backup_code: sf.step.contains(&Authenticator::BackupCode),
        }),
        error,
        notice,
    }))
}

/// The first visit of an SMS OTP step sends the first code (exactly once, however many tabs load
/// it); later codes are sent only when the user asks.
async fn first_code(
    core: &Core,
    sf: &SecondFactor<'_>,
    phone: &PhoneNumber,
    ctx: &Ctx,
) -> Result<Option<StepError>, CoreError> {
    let id = sf.tx_id().to_string();
    if core
        .db
        .run(move |conn| SmsOtp::latest(conn, &id))
        .await?
        .is_some()
    {
        return Ok(None);
    }
    Ok(send_code(core, sf, phone, 0, ctx).await?.error())
}

/// `Ok(code)` of an SMS OTP step, or the outcome to answer instead.
async fn sms_code(
    core: &Core,
    sign_in: &SignIn,
    typed: &str,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let sf = match at_step(core, sign_in, Authenticator::SmsOtp, ctx).await? {
        Ok(sf) => sf,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let view = |error| step_view(core, &sf, StepKind::SmsOtp, Some(error), None, ctx);
    let Some(phone) = sf.phone.clone() else {
        return step_view(core, &sf, StepKind::SmsOtp, None, None, ctx).await;
    };
    let account = sf.account_key();
    let settings = &sf.org().org.settings.sms_otp;
    let (max, now) = (settings.max_failed_attempts, ctx.now);
    let id = sf.tx_id().to_string();
    let current = core
        .db
        .run(move |conn| SmsOtp::latest(conn, &id))
        .await?
        // Only a code sent to this user at this number counts.
        .filter(|c| c.user_id == sf.user.id && c.phone_number == phone.as_str());
    let Some(current) = current else {
        return view(StepError::NoCodeSent).await;
    };
    // The attempt counts toward the account's lock before anything is compared, and a burst
    // past the limit locks at once: parallel guesses get no more checks than the policy allows.
    let counted = match count_second_factor(core, &sf, ctx).await? {
        Ok(counted) => counted,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    // One attempt at this code is claimed before the comparison, for the same reason.
    let otp_id = current.id.clone();
    let claimed = core
        .db
        .run(move |conn| SmsOtp::claim_attempt(conn, &otp_id, max, now))
        .await?;
    if !claimed {
        forgive(core, &account).await?;
        return view(StepError::from_dead(current.dead(max, now))).await;
    }
    let normalized = settings.normalize(typed);
    let right = otp::matches(core.keys.kek(), sf.tx_id(), &normalized, &current.code_hash)
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    if right {
        let otp_id = current.id.clone();
        if !core
            .db
            .run(move |conn| SmsOtp::spend(conn, &otp_id, now))
            .await?
        {
            // Another submission of the same code won the race: no failure to count.
            forgive(core, &account).await?;
            return view(StepError::from_dead(Some(Dead::Used))).await;
        }
        forgive(core, &account).await?;
        tracing::info!(user = %sf.user.id, "SMS OTP verified");
        if let Purpose::Account(AccountRequest::Phone { number }) = &sign_in.purpose {
            return enroll_phone(core, sign_in, &sf.user, number, ctx).await;
        }
        return step_passed(core, &sf, Authenticator::SmsOtp, ctx).await;
    }
    if let Some(until) = second_factor_failed(core, &sf, "sms_otp", counted, ctx).await? {
        tracing::warn!(user = %sf.user.id, "account locked after failed SMS OTPs");
        return Ok(Outcome::Refused(Refusal::Locked { until }));
    }
    let otp_id = current.id.clone();
    let failed = core
        .db
        .run(move |conn| SmsOtp::failed_attempts(conn, &otp_id))
        .await?;
    view(StepError::CodeWrong {
        attempts_left: (max - failed).max(0),
    })
    .await
}

/// Counts a second-factor attempt toward the account's lock policy before the code is checked
/// (as for passwords); a lock set meanwhile, or a burst past the limit, refuses it.
async fn count_second_factor(
    core: &Core,
    sf: &SecondFactor<'_>,
    ctx: &Ctx,
) -> Result<Result<Counted, Refusal>, CoreError> {
    let (key, p, now) = (
        sf.account_key(),
        sf.org().org.settings.lock_policy.clone(),
        ctx.now,
    );
    let (counted, locked) = core
        .db
        .run(move |conn| {
            let counted = policy::count(conn, &key, p.window_seconds, now)?;
            Ok((counted, policy::lock_if_past(conn, &key, &p, counted, now)?))
        })
        .await?;
    Ok(match locked {
        Some(until) => Err(Refusal::Locked { until }),
        None => Ok(counted),
    })
}

async fn forgive(core: &Core, key: &str) -> Result<(), CoreError> {
    let key = key.to_string();
    Ok(core.db.run(move |conn| policy::forgive(conn, &key)).await?)
}

/// After a wrong code: locks the account when the attempts reached the policy's limit, and
/// publishes `loginFailed` (and `lockUser`) in the same transaction.
async fn second_factor_failed(
    core: &Core,
    sf: &SecondFactor<'_>,
    authenticator: &str,
    counted: Counted,
    ctx: &Ctx,
) -> Result<Option<i64>, CoreError> {
    let lock_policy = sf.org().org.settings.lock_policy.clone();
    let key = sf.account_key();
    let now = ctx.now;
    let lock = policy::locks_now(&lock_policy, counted);
    let until = lock.then(|| now + lock_policy.lock_duration(counted.locks));
    let events = failure_events(
        sf.org(),
        &sf.user,
        sf.sign_in.purpose.client(),
        authenticator,
        until,
    );
    Ok(core
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let until = if lock {
                    Some(policy::lock_account(
                        conn,
                        &key,
                        &lock_policy,
                        counted,
                        now,
                    )?)
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

/// The second-factor step passed with `method`: recorded, and on to the next step or the end.
async fn step_passed(
    core: &Core,
    sf: &SecondFactor<'_>,
    method: Authenticator,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let mut passed = sf.sign_in.passed();
    passed.add(method, ctx.now);
    advance(core, sf.sign_in, &sf.user, passed, ctx).await
}

/// Sends a new code (voiding the previous one), within the cooldown and the send limits.
async fn resend(core: &Core, sign_in: &SignIn, ctx: &Ctx) -> Result<Outcome, CoreError> {
    let sf = match at_step(core, sign_in, Authenticator::SmsOtp, ctx).await? {
        Ok(sf) => sf,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let Some(phone) = sf.phone.clone() else {
        return step_view(core, &sf, StepKind::SmsOtp, None, None, ctx).await;
    };
    let cooldown = sf.org().org.settings.sms_otp.resend_cooldown_seconds;
    let id = sf.tx_id().to_string();
    let latest = core.db.run(move |conn| SmsOtp::latest(conn, &id)).await?;
    if let Some(l) = &latest {
        let seconds = l.created_at + cooldown - ctx.now;
        if seconds > 0 {
            let error = StepError::ResendWait { seconds };
            return step_view(core, &sf, StepKind::SmsOtp, Some(error), None, ctx).await;
        }
    }
    let seq = latest.map_or(0, |l| l.seq + 1);
    let sent = send_code(core, &sf, &phone, seq, ctx).await?;
    let notice = sent.error().is_none().then_some(Notice::NewCodeSent);
    step_view(core, &sf, StepKind::SmsOtp, sent.error(), notice, ctx).await
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

impl Sent {
    fn error(&self) -> Option<StepError> {
        match self {
            Self::Yes | Self::Already => None,
            Self::Failed => Some(StepError::NotSent),
            Self::Retrying => Some(StepError::StillTrying),
            Self::Blocked(until) => Some(StepError::ResendBlocked { until: *until }),
        }
    }
}

/// Generates a code, stores its keyed hash (voiding the earlier ones) together with its
/// `SmsOtpNotificationEvent` in one transaction, then sends it through the SMS channel.
async fn send_code(
    core: &Core,
    sf: &SecondFactor<'_>,
    phone: &PhoneNumber,
    seq: i64,
    ctx: &Ctx,
) -> Result<Sent, CoreError> {
    let org = sf.org();
    let settings = &org.org.settings.sms_otp;
    let kek = core.keys.kek();
    let internal = |e: crate::keys::KeyError| CoreError::Internal(e.to_string());
    let code = settings.generate();
    let host = url::Url::parse(core.settings.base_url.as_str())
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "localhost".into());
    let body = settings.message(&sf.sign_in.purpose.name(org), &code, &host);
    let t = ctx.now;
    let expires_at = t + settings.expiry_seconds;
    let event = crate::events::sms_otp_notification(
        kek,
        org.event_origin(),
        phone.as_str(),
        &body,
        expires_at,
    )
    .map_err(internal)?;
    let row = SmsOtp {
        id: uuid::Uuid::new_v4().to_string(),
        transaction_id: sf.tx_id().to_string(),
        seq,
        user_id: sf.user.id.clone(),
        phone_number: phone.as_str().to_string(),
        code_hash: otp::keyed_hash(kek, sf.tx_id(), code.expose()).map_err(internal)?,
        created_at: t,
        expires_at,
        failed_attempts: 0,
        used_at: None,
        voided_at: None,
        event_jti: Some(event.jti.clone()),
    };
    let limits = (settings.resend_attempts + 1, settings.resend_block_seconds);
    let (org_id, user_id, to) = (org.org.id, sf.user.id.clone(), phone.clone());
    if let Some(until) = core
        .db
        .run(move |conn| policy::count_send(conn, org_id, &user_id, &to, limits, t))
        .await?
    {
        return Ok(Sent::Blocked(until));
    }
    // The code, its event and the event's delivery are stored together; this request then
    // delivers it at once, and if it cannot (or dies first) the worker retries until the code
    // expires.
    let claimed_until = t + core.settings.delivery_lease_seconds;
    let delivery = Delivery::new(
        &event.jti,
        org.org.id,
        deliveries::SMS,
        expires_at,
        Some(claimed_until),
    );
    let d = delivery.clone();
    // In webhook mode the event goes to the NOTIFICATIONS subscribers, who send the SMS.
    let webhook = org.sms.as_ref().is_ok_and(|c| c.is_webhook());
    let stored = core
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
        core.deliveries_due.notify_one();
        if targets == 0 {
            tracing::error!(org = %org.org.slug, "SMS OTP not sent: webhook mode and no subscriber");
            return Ok(Sent::Failed);
        }
        return Ok(Sent::Yes);
    }
    match crate::events::worker::deliver(core, delivery).await {
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

/// A backup code: one keyed hash and one conditional update per attempt; each code works once,
/// and failures count toward the account's lock.
async fn backup_code(
    core: &Core,
    sign_in: &SignIn,
    typed: &str,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let sf = match at_step(core, sign_in, Authenticator::BackupCode, ctx).await? {
        Ok(sf) => sf,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let counted = match count_second_factor(core, &sf, ctx).await? {
        Ok(counted) => counted,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let hash = backup::keyed_hash(core.keys.kek(), &sf.user.id, typed)
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    let user_id = sf.user.id.clone();
    let spent = core
        .db
        .run(move |conn| backup_codes::spend(conn, &user_id, &hash))
        .await?;
    if spent {
        forgive(core, &sf.account_key()).await?;
        tracing::info!(user = %sf.user.id, "backup code used");
        return step_passed(core, &sf, Authenticator::BackupCode, ctx).await;
    }
    if let Some(until) = second_factor_failed(core, &sf, "backup_code", counted, ctx).await? {
        tracing::warn!(user = %sf.user.id, "account locked after failed backup codes");
        return Ok(Outcome::Refused(Refusal::Locked { until }));
    }
    let error = Some(StepError::BackupCodeWrong);
    step_view(core, &sf, StepKind::BackupCode, error, None, ctx).await
}

/// The code sent to a new number was entered: the number becomes the user's, verified, and the
/// change is recorded and published with the sign-in's completion.
async fn enroll_phone(
    core: &Core,
    sign_in: &SignIn,
    user: &User,
    number: &str,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    use crate::events::{AccountChangeKind, account_changed};
    // The change was asked for by a live session of this user whose pass through the chain is
    // still fresh: checked again now, since the code may have been entered minutes later.
    let sid = sign_in.tx.session_sid.clone().unwrap_or_default();
    let now = ctx.now;
    let session = core
        .db
        .run(move |conn| Session::find_by_sid(conn, &sid))
        .await?
        .filter(|s| s.user_id == user.id && s.ended_at.is_none() && s.expires_at > now);
    let second_factor = has_second_factor(core, user).await?;
    if session
        .as_ref()
        .and_then(|s| fresh_until(s, second_factor, now))
        .is_none()
    {
        return Ok(Outcome::Refused(Refusal::ConfirmAgain));
    }
    let number = PhoneNumber::parse(number).map_err(CoreError::Internal)?;
    let masked = number.masked();
    let mut updated = user.clone();
    updated.phone_number = Some(number);
    updated.phone_number_verified = true;
    let (tx_id, org) = (sign_in.tx.id.clone(), sign_in.org.clone());
    let done = core
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !LoginTransaction::complete(conn, &tx_id, now)? {
                    return Ok(false);
                }
                User::update(conn, &updated)?;
                account_changed(
                    conn,
                    org.event_origin(),
                    &updated.id,
                    AccountChangeKind::MobileNumberChanged,
                    &masked,
                )?;
                Ok(true)
            })
        })
        .await?;
    if !done {
        return Ok(Outcome::Refused(Refusal::Expired));
    }
    tracing::info!(user = %user.id, "mobile number changed");
    Ok(Outcome::NumberSaved)
}

/// Authorization codes live 60 seconds.
const CODE_LIFETIME: i64 = 60;

/// Records the grant of a completed sign-in and a one-time code for it (60 seconds, single
/// use, only its SHA-256 kept); returns the code.
pub async fn issue_code(
    core: &Core,
    org: &OrgEntry,
    app: &Application,
    auth: &AuthRequest,
    session: &Session,
    user: &User,
    now: i64,
) -> Result<Secret<String>, CoreError> {
    let code = random_token(32);
    let t = now;
    let grant = Grant {
        id: uuid::Uuid::new_v4().to_string(),
        organization_id: org.org.id,
        application_id: app.id.clone(),
        user_id: Some(user.id.clone()),
        sid: Some(session.sid.clone()),
        scope: auth.scope_string(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        acr: session.acr.clone(),
        nonce: auth.nonce.clone(),
        created_at: t,
        revoked_at: None,
        claims: auth
            .claims
            .as_ref()
            .map(|c| serde_json::to_string(c).expect("claims serialize")),
        resource: auth.resource.clone(),
    };
    let row = AuthorizationCode {
        code_hash: sha256_hex(code.expose()),
        grant_id: grant.id.clone(),
        redirect_uri: auth.redirect_uri.clone(),
        code_challenge: auth.code_challenge.clone(),
        expires_at: t + CODE_LIFETIME,
        used_at: None,
    };
    core.db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                Grant::insert(conn, &grant)?;
                AuthorizationCode::insert(conn, &row)
            })
        })
        .await?;
    Ok(code)
}

#[cfg(test)]
mod tests;
