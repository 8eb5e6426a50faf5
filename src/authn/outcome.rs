//! What the sign-in engine answers: plain values that serialize to JSON. The HTML pages and the
//! JSON sign-in API are two renderings of the same outcome, and every message a user reads is
//! written here, once.

use serde::Serialize;

use super::flow::Authenticator;
use crate::store::now;
use crate::store::otps::Dead;
use crate::store::sessions::Session;
use crate::store::users::User;

/// The kind of step a sign-in is at: which page (or which JSON step) runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A step that identifies the user: password, magic link, upstream providers.
    First,
    /// An SMS OTP step (which may offer backup codes beside it).
    SmsOtp,
    /// The backup-code fallback of an SMS OTP step.
    BackupCode,
    /// A plug-in factor checked by a typed code (an authenticator app); the step's view names
    /// which one.
    Code,
    /// A plug-in factor that sends a code (email); the step's view names which one.
    Sent,
    /// A plug-in factor proven by a key on the user's device (a passkey).
    Key,
}

impl StepKind {
    /// The kind that runs `step`: that of its first factor that is not a fallback (a fallback
    /// is offered beside its factor, whose page links to it), or the sign-in page's when a
    /// passkey shares the step with a first-step method.
    pub fn of(step: &[Authenticator]) -> Self {
        let kind = step
            .iter()
            .map(Authenticator::factor)
            .find(|f| f.fallback_of().is_none())
            .map_or(Self::First, |f| f.step_kind());
        // A passkey listed before a password (or a link, a provider): the sign-in page offers
        // them all, the passkey page only the passkey and the codes.
        if kind == Self::Key && step.iter().any(|a| a.factor().step_kind() == Self::First) {
            Self::First
        } else {
            kind
        }
    }

    /// Whether `step` can be run as this kind.
    pub fn fits(self, step: &[Authenticator]) -> bool {
        match self {
            Self::First => step.iter().all(Authenticator::identifies),
            kind => step.iter().any(|a| a.factor().step_kind() == kind),
        }
    }

    /// The page of a step in the browser flow, under the issuer.
    pub fn page(self) -> &'static str {
        match self {
            Self::First => "login",
            Self::SmsOtp => "otp",
            Self::BackupCode => "backup-code",
            Self::Code => "code",
            Self::Sent => "sent-code",
            Self::Key => "passkey",
        }
    }
}

/// What the engine answers to a command.
#[derive(Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Show this step: the first time, or again with an error or a notice.
    Step(Step),
    /// A step passed; the next one is of this kind (pages send the browser there, the JSON API
    /// shows it at once).
    Advanced { kind: StepKind },
    /// The whole flow passed: a session was created (or stepped up).
    Completed(Box<Completed>),
    /// A code sent to a new number was entered: the number is the user's now (account area).
    NumberSaved,
    /// A password reset passed its flow: the browser may choose the new password (no session).
    ResetCleared,
    /// A sign-in link was asked for: the same answer whether or not anyone has that username or
    /// address (a link is mailed, valid for `minutes`, only if someone does).
    LinkSent { identifier: String, minutes: i64 },
    /// The sign-in cannot go on.
    Refused(Refusal),
}

impl Outcome {
    /// A short label for traces: the outcome's kind and, for a refusal or a step shown again
    /// with an error, its stable code (never a user's input).
    pub fn label(&self) -> String {
        fn code(value: impl Serialize) -> String {
            serde_json::to_value(value)
                .ok()
                .and_then(|v| v["code"].as_str().map(str::to_string))
                .unwrap_or_default()
        }
        match self {
            Self::Step(step) => match &step.error {
                Some(error) => format!("step: {}", code(error)),
                None => "step".into(),
            },
            Self::Advanced { .. } => "advanced".into(),
            Self::Completed(_) => "completed".into(),
            Self::NumberSaved => "number_saved".into(),
            Self::ResetCleared => "reset_cleared".into(),
            Self::LinkSent { .. } => "link_sent".into(),
            Self::Refused(refusal) => format!("refused: {}", code(refusal)),
        }
    }

    /// The outcome and its reason as metric labels: `passed` (on to the next step),
    /// `completed` (the whole flow), `failed` (the step again, with the error's code), `refused`
    /// (with the refusal's code), `shown` (the step again without an error), `link_sent`,
    /// `reset_cleared` (a password reset's flow passed: no session).
    pub fn metric_labels(&self) -> (&'static str, &'static str) {
        match self {
            Self::Advanced { .. } => ("passed", ""),
            Self::Completed(_) | Self::NumberSaved => ("completed", ""),
            Self::ResetCleared => ("reset_cleared", ""),
            Self::Step(Step {
                error: Some(error), ..
            }) => ("failed", error.code()),
            Self::Step(_) => ("shown", ""),
            Self::LinkSent { .. } => ("link_sent", ""),
            Self::Refused(refusal) => ("refused", refusal.code()),
        }
    }
}

/// A step to show, with everything a page or a JSON answer needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub kind: StepKind,
    /// The step's alternatives (the user passes any one).
    pub authenticators: Vec<Authenticator>,
    /// What the user is signing in to: the application, or their account.
    pub app_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<FirstView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_otp: Option<Box<SmsOtpView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<Box<CodeView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<Box<SentView>>,
    /// The step's factors that send a code which this user can receive (their contact point is
    /// verified), offered as other ways on every second-factor page but their own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sent_offers: Vec<SentOffer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Box<KeyView>>,
    /// The step's key factor (`passkey`) when the user holds a key of it, or may create one here:
    /// offered as another way on the step's other pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_offer: Option<KeyOffer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<Notice>,
}

/// A first step: the username to fill in (what was typed, or the client's `login_hint`) and the
/// upstream providers offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirstView {
    pub username: String,
    pub providers: Vec<ProviderView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderView {
    pub name: String,
    pub label: String,
}

/// An SMS OTP step (also shown, as its parent, on the backup-code fallback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmsOtpView {
    /// The number codes go to, masked to its last four digits; none when the user has no
    /// verified number.
    pub masked_phone: Option<String>,
    /// Whether a code was sent (or is being sent) for this sign-in.
    pub sent: bool,
    /// Seconds until a new code may be asked for (0: now).
    pub resend_wait_seconds: i64,
    /// Digits only, or upper-case letters and digits.
    pub numeric: bool,
    pub length: i64,
    /// Whether the step offers backup codes as the fallback.
    pub backup_code: bool,
    /// The plug-in factor of the step that the user has a credential of (offered instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_factor: Option<&'static str>,
    /// The user adds their first number here: the step asks for one (and sends its code).
    pub enroll: bool,
    /// The provider reported that the text with the latest code will not arrive (or no
    /// gateway could send it): the page says so and offers the user's other ways.
    pub undelivered: bool,
    /// A receipt may still come for the latest code's text (a gateway of the organization
    /// takes them, and the code is live and its fate unknown): the page may watch for it.
    pub awaiting_receipt: bool,
}

/// What is known of the delivery of a sign-in's latest code, for the page that watches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryView {
    /// No receipt yet; `watching` while one may still come.
    Pending {
        watching: bool,
    },
    Delivered,
    Failed,
    /// No live code to speak of (none sent, used, replaced or expired).
    Closed,
}

/// A step of a plug-in factor checked by a typed code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeView {
    /// The factor's name in flows (`totp`).
    pub factor: &'static str,
    /// How the page names it ("authenticator app").
    pub label: &'static str,
    pub numeric: bool,
    pub length: u8,
    /// Whether the user has a credential of it: without one, the step cannot be passed here
    /// unless it comes with a setup.
    pub enrolled: bool,
    /// The setup of a credential the user enrolls in this sign-in (their first second factor,
    /// when the organization enrolls this factor during sign-in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup: Option<Box<SetupView>>,
    /// Whether the step also offers SMS OTP and the user has a verified number for it.
    pub sms_otp: bool,
    /// Whether the step also offers backup codes.
    pub backup_code: bool,
}

/// A step of a plug-in factor that sends a code (an email code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentView {
    /// The factor's name in flows (`email_otp`).
    pub factor: &'static str,
    /// How the page names it ("email code").
    pub label: &'static str,
    /// Where codes go, masked (`j•••@example.com`); none when the user has no verified address.
    pub masked_destination: Option<String>,
    /// Whether a code was sent for this sign-in.
    pub sent: bool,
    /// Seconds until a new code may be asked for (0: now).
    pub resend_wait_seconds: i64,
    /// New codes this sign-in may still ask for.
    pub resends_left: i64,
    pub numeric: bool,
    pub length: usize,
    /// Whether the step also offers SMS OTP and the user has a verified number for it.
    pub sms_otp: bool,
    /// The plug-in factor checked by a typed code that the user has (offered instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_factor: Option<&'static str>,
    /// Whether the step also offers backup codes.
    pub backup_code: bool,
}

/// A key factor offered as another way: to use a key the user holds, or to create their first
/// (enrollment during sign-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeyOffer {
    pub factor: &'static str,
    pub create: bool,
}

/// A key step (a passkey): the ceremony the page runs with the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyView {
    pub factor: &'static str,
    pub label: &'static str,
    /// The ceremony the browser's answer goes back to; `None` when the user holds no key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceremony: Option<String>,
    /// The options of `navigator.credentials.get()` — or `.create()` when `register` — (the
    /// `publicKey` member, in WebAuthn's JSON form).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<serde_json::Value>,
    /// The user creates their first passkey in this sign-in (enrollment during sign-in): the
    /// ceremony is a registration, its id the pending key's.
    pub register: bool,
    /// The step's other ways the user has: SMS OTP (a verified number), backup codes, a
    /// plug-in factor checked by a code.
    pub sms_otp: bool,
    pub backup_code: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_factor: Option<&'static str>,
}

/// A factor that sends a code, offered as another way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SentOffer {
    pub factor: &'static str,
    /// The link's text ("Email me a code instead").
    pub offer: &'static str,
}

/// An enrollment during sign-in: the pending credential and what the user needs to set up
/// their app. Secret: only in the step's page or JSON answer (never cached), never in logs.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct SetupView {
    /// The pending credential's id, sent back with the first code.
    pub id: String,
    /// The secret as text.
    pub text: String,
    /// The QR code (inline SVG).
    pub qr_svg: String,
}

impl std::fmt::Debug for SetupView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupView")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why the step is shown again. Stable codes for the JSON API; [`StepError::message`] is the
/// text both renderings show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum StepError {
    /// A wrong username or password (the same for an unknown username).
    WrongCredentials,
    /// A sign-in link was asked for without a username or address.
    IdentifierMissing,
    /// A code was entered before any was sent.
    NoCodeSent,
    /// A wrong code; `attempts_left` more tries at this code (0: it no longer works).
    CodeWrong {
        attempts_left: i64,
    },
    CodeExpired,
    CodeUsed,
    /// Too many wrong tries, or a newer code was sent.
    CodeVoid,
    /// The code could not be sent.
    NotSent,
    /// The code could not be sent yet; the delivery worker keeps trying.
    StillTrying,
    /// A new code was asked for within the cooldown.
    ResendWait {
        seconds: i64,
    },
    /// Too many codes were asked for: blocked until then.
    ResendBlocked {
        until: i64,
    },
    /// A backup code that is not one of the user's, or was used.
    BackupCodeWrong,
    /// The organization's SMS budget was reached: no code is sent until then; the user's
    /// backup codes still work.
    SmsPaused {
        until: i64,
    },
    /// Codes cannot be sent to this number (see `NumberRefusal`).
    NumberRefused {
        reason: crate::authn::sms_limits::NumberRefusal,
    },
    /// A plug-in factor's code that is not right (for none of the user's credentials of it).
    FactorCodeWrong,
    /// A plug-in factor's code that was already accepted (an authenticator app's code works
    /// once): wait for the next one.
    CodeReplayed,
    /// The user has no credential of the step's factor.
    NotEnrolled,
    /// The sign-in asked for all the new codes it may (an email code's `resend_attempts`).
    NoMoreCodes,
    /// The address got its share of codes in the window: none is sent now.
    AddressThrottled,
    /// The organization's mailer did not take the message.
    MailNotSent,
    /// The browser's answer is not a valid signature of one of the user's keys for this
    /// ceremony.
    KeyRefused,
    /// The answer came to a ceremony that is over (used, lapsed or unknown): a new one starts.
    KeyTimedOut,
}

impl StepError {
    /// The stable code (the JSON API's `code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongCredentials => "wrong_credentials",
            Self::IdentifierMissing => "identifier_missing",
            Self::NoCodeSent => "no_code_sent",
            Self::CodeWrong { .. } => "code_wrong",
            Self::CodeExpired => "code_expired",
            Self::CodeUsed => "code_used",
            Self::CodeVoid => "code_void",
            Self::NotSent => "not_sent",
            Self::StillTrying => "still_trying",
            Self::ResendWait { .. } => "resend_wait",
            Self::ResendBlocked { .. } => "resend_blocked",
            Self::BackupCodeWrong => "backup_code_wrong",
            Self::SmsPaused { .. } => "sms_paused",
            Self::NumberRefused { .. } => "number_refused",
            Self::FactorCodeWrong => "factor_code_wrong",
            Self::CodeReplayed => "code_replayed",
            Self::NotEnrolled => "not_enrolled",
            Self::NoMoreCodes => "no_more_codes",
            Self::AddressThrottled => "address_throttled",
            Self::MailNotSent => "mail_not_sent",
            Self::KeyRefused => "key_refused",
            Self::KeyTimedOut => "key_timed_out",
        }
    }

    pub fn from_dead(dead: Option<Dead>) -> Self {
        match dead {
            Some(Dead::Expired) => Self::CodeExpired,
            Some(Dead::Used) => Self::CodeUsed,
            Some(Dead::Void) | None => Self::CodeVoid,
        }
    }

    /// The sentence a user reads, in the page's language (`crate::i18n`).
    pub fn message(&self) -> String {
        use crate::i18n::{duration, text};
        let id = match self {
            Self::CodeWrong { attempts_left } if *attempts_left <= 0 => {
                "engine-error-code-wrong-last"
            }
            Self::CodeWrong { attempts_left } => {
                return text("engine-error-code-wrong", &[("n", (*attempts_left).into())]);
            }
            Self::ResendWait { seconds } => {
                return text("engine-error-resend-wait", &[("n", (*seconds).into())]);
            }
            Self::ResendBlocked { until } => {
                return text(
                    "engine-error-resend-blocked",
                    &[("wait", duration(*until, now()).into())],
                );
            }
            Self::SmsPaused { until } => {
                return text(
                    "engine-error-sms-paused",
                    &[("wait", duration(*until, now()).into())],
                );
            }
            Self::NumberRefused { reason } => return reason.message(),
            other => &format!("engine-error-{}", other.code().replace('_', "-")),
        };
        text(id, &[])
    }
}

/// Good news shown with a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// A new code was sent; earlier ones no longer work.
    NewCodeSent,
}

impl Notice {
    pub fn message(self) -> String {
        match self {
            Self::NewCodeSent => crate::i18n::text("engine-notice-new-code-sent", &[]),
        }
    }
}

/// Why a sign-in cannot go on. Stable codes for the JSON API; [`Refusal::title`] and
/// [`Refusal::message`] are what both renderings show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Refusal {
    /// The sign-in is unknown, finished, expired, another browser's, or not at this step.
    Expired,
    /// A form that was not sent from the step's current page (a missing or stale token).
    FormExpired,
    /// The account is locked after too many failures.
    Locked { until: i64 },
    /// Too many failures from the client's network.
    NetworkThrottled { until: i64 },
    /// The account is disabled.
    Disabled,
    /// The sign-in began for another user (an account check, a step-up).
    AnotherAccount,
    /// A number change whose confirmation is no longer fresh.
    ConfirmAgain,
    /// Too many sign-in links asked for from the client's network.
    LinksThrottled,
    /// A sign-in link that is not one.
    LinkInvalid,
    /// A sign-in link that was used, or replaced by a newer one.
    LinkUsed,
    /// A sign-in link past its lifetime, or whose sign-in ended.
    LinkExpired,
    /// A sign-in link opened in another browser than the one that asked.
    LinkOtherBrowser,
}

impl Refusal {
    /// The stable code (the JSON API's `code`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::FormExpired => "form_expired",
            Self::Locked { .. } => "locked",
            Self::NetworkThrottled { .. } => "network_throttled",
            Self::Disabled => "disabled",
            Self::AnotherAccount => "another_account",
            Self::ConfirmAgain => "confirm_again",
            Self::LinksThrottled => "links_throttled",
            Self::LinkInvalid => "link_invalid",
            Self::LinkUsed => "link_used",
            Self::LinkExpired => "link_expired",
            Self::LinkOtherBrowser => "link_other_browser",
        }
    }

    /// The page's title, in the page's language.
    pub fn title(self) -> String {
        crate::i18n::text(&format!("{}-title", self.message_id()), &[])
    }

    /// The sentence a user reads, in the page's language.
    pub fn message(self) -> String {
        let wait = match self {
            Self::Locked { until } | Self::NetworkThrottled { until } => {
                crate::i18n::duration(until, now())
            }
            _ => String::new(),
        };
        crate::i18n::text(&self.message_id(), &[("wait", wait.into())])
    }

    /// The id of the message (`locales/*/engine.ftl`).
    fn message_id(self) -> String {
        format!("engine-refusal-{}", self.code().replace('_', "-"))
    }
}

/// A completed sign-in. Only the public part serializes; the session cookie's value is for the
/// browser flow alone.
#[derive(Debug, Serialize)]
pub struct Completed {
    pub user_id: String,
    pub amr: Vec<&'static str>,
    pub acr: &'static str,
    pub auth_time: i64,
    #[serde(skip)]
    pub session: Session,
    #[serde(skip)]
    pub user: User,
    /// The new session cookie's value (its SHA-256 is the session's id).
    #[serde(skip)]
    pub cookie: crate::secret::Secret<String>,
    /// With smart lockout, the device cookie that makes this browser one the account knows.
    #[serde(skip)]
    pub device_cookie: Option<crate::secret::Secret<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_json_codes() {
        let errors = [
            StepError::WrongCredentials,
            StepError::IdentifierMissing,
            StepError::NoCodeSent,
            StepError::CodeWrong { attempts_left: 1 },
            StepError::CodeExpired,
            StepError::CodeUsed,
            StepError::CodeVoid,
            StepError::NotSent,
            StepError::StillTrying,
            StepError::ResendWait { seconds: 1 },
            StepError::ResendBlocked { until: 1 },
            StepError::BackupCodeWrong,
            StepError::SmsPaused { until: 1 },
            StepError::NumberRefused {
                reason: crate::authn::sms_limits::NumberRefusal::Country,
            },
            StepError::FactorCodeWrong,
            StepError::CodeReplayed,
            StepError::NotEnrolled,
        ];
        for e in errors {
            assert_eq!(serde_json::to_value(&e).unwrap()["code"], e.code());
        }
        let refusals = [
            Refusal::Expired,
            Refusal::FormExpired,
            Refusal::Locked { until: 1 },
            Refusal::NetworkThrottled { until: 1 },
            Refusal::Disabled,
            Refusal::AnotherAccount,
            Refusal::ConfirmAgain,
            Refusal::LinksThrottled,
            Refusal::LinkInvalid,
            Refusal::LinkUsed,
            Refusal::LinkExpired,
            Refusal::LinkOtherBrowser,
        ];
        for r in refusals {
            assert_eq!(serde_json::to_value(r).unwrap()["code"], r.code());
        }
    }
}
