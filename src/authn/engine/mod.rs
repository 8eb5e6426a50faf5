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

mod account;
mod attempt;
mod backup_code;
mod code;
mod credential;
mod delivery;
mod finish;
mod first;
mod key;
pub mod link;
mod purpose;
mod second;
mod sent;

use account::enroll_phone;
pub use account::{fresh_until, has_second_factor, second_factors};
use backup_code::backup_code;
pub use code::issue_code;
pub use credential::opening_kind;
pub use delivery::{RECEIPT_WATCH_SECONDS, sms_delivery};
use finish::{Next, Reached, advance};
pub use first::{first_step, first_view};
use first::{first_step_open, first_step_passed, password_step, show_first};
pub use purpose::{AccountRequest, Purpose, prefer_languages_of, required_flow, stored_ui_locales};
use second::{at_step, enroll_number, first_code, resend, sms_code, step_view};

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
use crate::store::auth::{AuthorizationCode, Grant, LoginTransaction};
use crate::store::deliveries::{self, Delivery};
use crate::store::otps::{Dead, SmsOtp};
use crate::store::sessions::Session;
use crate::store::users::User;
use crate::store::{StoreError, backup_codes, write_transaction};

/// How long a user has to finish signing in.
pub const TRANSACTION_LIFETIME: i64 = 900;
/// How long an SSO session lasts.
pub const SESSION_LIFETIME: i64 = 12 * 3600;
/// How long a pass through the chain allows account changes.
pub const FRESH_SECONDS: i64 = 600;

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
        .run(move |conn| LoginTransaction::find_open_with_app(conn, org_id, &tx_id, now))
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
    /// Add this number as the user's first one (enrollment during sign-in): a code is sent to it.
    EnrollNumber {
        number: String,
    },
    BackupCode {
        code: Secret<String>,
    },
    /// A code of a plug-in factor (`totp`); `pending`: the credential enrolled in this sign-in
    /// that the code confirms.
    Code {
        factor: String,
        code: Secret<String>,
        pending: Option<String>,
    },
    /// Show the step of the plug-in factor `factor` that sends a code (`email_otp`): the first
    /// visit sends the first code.
    ShowSent {
        factor: String,
    },
    /// A code a plug-in factor sent.
    SentCode {
        factor: String,
        code: Secret<String>,
    },
    /// Send a new code of a plug-in factor (voiding the previous one).
    SendCode {
        factor: String,
    },
    /// The browser's answer (`response`, WebAuthn's JSON) to the key ceremony `ceremony` of a
    /// plug-in key factor (`passkey`).
    KeyAnswer {
        factor: String,
        ceremony: String,
        response: String,
        /// The name of a passkey created in this sign-in (enrollment during sign-in): the
        /// answer is then a registration's.
        enroll: Option<String>,
    },
}

impl Command {
    /// The command's name, for traces (without its values).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Show(StepKind::First) => "show first step",
            Self::Show(StepKind::SmsOtp) => "show SMS OTP step",
            Self::Show(StepKind::BackupCode) => "show backup code step",
            Self::Show(StepKind::Code) => "show code step",
            Self::Show(StepKind::Sent) | Self::ShowSent { .. } => "show sent-code step",
            Self::Show(StepKind::Key) => "show key step",
            Self::Password { .. } => "password",
            Self::RequestLink { .. } => "request link",
            Self::FirstStepPassed { .. } => "first step passed",
            Self::SmsCode { .. } => "SMS code",
            Self::Resend => "resend",
            Self::EnrollNumber { .. } => "enroll number",
            Self::BackupCode { .. } => "backup code",
            Self::Code { .. } => "factor code",
            Self::SentCode { .. } => "sent code",
            Self::SendCode { .. } => "send code",
            Self::KeyAnswer { .. } => "key answer",
        }
    }
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
    /// The browser's device cookie (smart lockout; see `policy::known_device`).
    pub device: Option<String>,
    /// The browser's `User-Agent`, kept with a session it opens (the account area lists them).
    pub user_agent: Option<String>,
}

impl Command {
    /// The factor whose credential the command presents; `None` for commands that present
    /// none (showing a step, asking for a link or a new code).
    fn factor(&self) -> Option<&'static str> {
        match self {
            Self::Password { .. } => Some(Authenticator::Password.factor().name()),
            Self::FirstStepPassed { method, .. } => Some(method.factor().name()),
            Self::SmsCode { .. } => Some(Authenticator::SmsOtp.factor().name()),
            Self::BackupCode { .. } => Some(Authenticator::BackupCode.factor().name()),
            Self::Code { factor, .. } => super::factor::code_factor(factor).map(|f| f.name()),
            Self::SentCode { factor, .. } => super::factor::sent_factor(factor).map(|f| f.name()),
            Self::KeyAnswer { factor, .. } => super::factor::key_factor(factor).map(|f| f.name()),
            Self::Show(_)
            | Self::ShowSent { .. }
            | Self::SendCode { .. }
            | Self::RequestLink { .. }
            | Self::Resend
            | Self::EnrollNumber { .. } => None,
        }
    }
}

/// Runs a command, in a span (exported as a trace span) naming the command and its outcome.
/// Every command that presents a credential is counted in the sign-in metrics here, the one
/// place all surfaces (pages, JSON API, links, upstream providers) pass through.
pub async fn run(
    core: &Arc<Core>,
    sign_in: &SignIn,
    command: Command,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    use tracing::Instrument;
    let factor = command.factor();
    let span = tracing::debug_span!(
        "sign-in step",
        otel.name = %format!("sign-in: {}", command.name()),
        sesame.org = %sign_in.org.org.slug,
        sesame.outcome = tracing::field::Empty,
    );
    let result = run_command(core, sign_in, command, ctx)
        .instrument(span.clone())
        .await;
    if let Ok(outcome) = &result {
        if !span.is_disabled() {
            span.record("sesame.outcome", outcome.label());
        }
        if let Some(factor) = factor {
            core.metrics.sign_in(
                &sign_in.org.org.slug,
                sign_in.purpose.client(),
                factor,
                outcome.metric_labels(),
            );
        }
    }
    result
}

async fn run_command(
    core: &Arc<Core>,
    sign_in: &SignIn,
    command: Command,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    match command {
        Command::Show(StepKind::First) => show_first(core, sign_in, "", None).await,
        Command::Show(StepKind::Code) => credential::show(core, sign_in, ctx).await,
        Command::Show(StepKind::Sent) => sent::show_step(core, sign_in, ctx).await,
        Command::Show(StepKind::Key) => key::show(core, sign_in, ctx).await,
        Command::ShowSent { factor } => sent::show(core, sign_in, &factor, ctx).await,
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
        Command::EnrollNumber { number } => enroll_number(core, sign_in, &number, ctx).await,
        Command::BackupCode { code } => backup_code(core, sign_in, code.expose(), ctx).await,
        Command::Code {
            factor,
            code,
            pending,
        } => credential::check(core, sign_in, &factor, code.expose(), pending, ctx).await,
        Command::SentCode { factor, code } => {
            sent::check(core, sign_in, &factor, code.expose(), ctx).await
        }
        Command::SendCode { factor } => sent::resend(core, sign_in, &factor, ctx).await,
        Command::KeyAnswer {
            factor,
            ceremony,
            response,
            enroll: Some(name),
        } => key::enroll(core, sign_in, &factor, &ceremony, &response, &name, ctx).await,
        Command::KeyAnswer {
            factor,
            ceremony,
            response,
            enroll: None,
        } => key::check(core, sign_in, &factor, &ceremony, &response, ctx).await,
    }
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
/// account's next attempt, and publishes `unlockUser` in the same transaction (once). One read
/// when the account has no lock.
async fn account_lock(
    core: &Core,
    org: &Arc<OrgEntry>,
    key: &str,
    user: &User,
    now: i64,
) -> Result<Option<i64>, CoreError> {
    let (org, key, user) = (org.clone(), key.to_string(), user.clone());
    Ok(core
        .db
        .run(move |conn| {
            match crate::store::throttle::lock_end(conn, &key)? {
                None => return Ok(None),
                Some(until) if until > now => return Ok(Some(until)),
                Some(_) => {}
            }
            write_transaction(conn, |conn| account_lock_in(conn, &org, &user, &key, now))
        })
        .await?)
}

/// [`account_lock`] in the caller's transaction.
fn account_lock_in(
    conn: &mut crate::store::DbConn,
    org: &OrgEntry,
    user: &User,
    key: &str,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(match policy::account_lock(conn, key, now)? {
        Lock::Open => None,
        Lock::Held(until) => Some(until),
        Lock::Ended(until) => {
            SignInEvent::Unlocked { until }
                .publish(org.event_origin(), subject(user))
                .store(conn)?;
            None
        }
    })
}

#[cfg(test)]
mod tests;
