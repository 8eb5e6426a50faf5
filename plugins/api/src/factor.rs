//! Second factors as plug-ins: a factor that checks a code the user types against a credential
//! of its own (an authenticator app's secret, …).
//!
//! The plug-in owns the format of its credentials and never sees the database or a key: the
//! server keeps each user's credentials of the factor sealed under its key-encryption key, hands
//! the plug-in the opened bytes with the code and the clock, and writes back what the plug-in
//! returns — in the transaction that counts the attempt toward the account's lock and records
//! what the step earned, and only if nobody changed the credential meanwhile, so a code that a
//! credential accepts once (a TOTP time step) cannot pass twice in parallel.
//!
//! Shaped after Keycloak's `CredentialProvider` + `Authenticator` pair: what a credential is and
//! how it is checked here, the step's bookkeeping (attempts, locks, events, the session) in the
//! server's engine.

use std::fmt;

/// A credential's bytes as the plug-in wrote them: secret (a TOTP seed), so never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialData(Vec<u8>);

impl CredentialData {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for CredentialData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialData([redacted])")
    }
}

/// Who a new credential is for, as the user's app will name it.
#[derive(Debug, Clone, Copy)]
pub struct Enrollee<'a> {
    /// The organization's display name (the "issuer" an authenticator app shows).
    pub issuer: &'a str,
    /// The user's username.
    pub account: &'a str,
}

/// A credential being enrolled: saved by the server only once a first code checks against it.
#[derive(Debug, Clone)]
pub struct Enrolling {
    pub credential: CredentialData,
    /// What the enrollment page shows, once.
    pub shown: Shown,
}

/// What the user needs to set up their device. Secret: shown once, on a `no-store` page.
#[derive(Clone)]
pub struct Shown {
    /// The secret as the user can type it into an app (e.g. base32 in groups of four).
    pub text: String,
    /// The provisioning URI (`otpauth://…`) the QR code holds.
    pub uri: String,
    /// The QR code as an inline SVG document: no external asset, no script.
    pub qr_svg: String,
}

impl fmt::Debug for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Shown([redacted])")
    }
}

/// What a code is like, for the page's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeFormat {
    pub numeric: bool,
    pub length: u8,
}

/// What checking a code against one credential found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Right: the credential as it must be saved from now on (e.g. with the time step it just
    /// accepted, so that step is refused from now on).
    Passed(CredentialData),
    /// A code this credential already accepted (a replay, a double click): refused. Not a
    /// guess, so the server does not count it toward the lock (as for a used SMS code).
    Replayed,
    /// Wrong (or not a code at all).
    Wrong,
    /// The credential's bytes are not this factor's: a bug or a corrupted record.
    Unreadable(String),
}

/// Why an enrollment could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactorError {
    /// The names given cannot go into the credential (e.g. a character the URI format forbids
    /// that could not be replaced).
    #[error("invalid enrollment input: {0}")]
    Input(String),
    #[error("{0}")]
    Internal(String),
}

/// A factor's settings for one organization (`[organizations.factors.NAME]` in the
/// provisioning file), as JSON: the plug-in owns their shape, checks them at import
/// ([`CodeFactor::check_settings`]) and reads them where they apply. `Null` when the
/// organization sets none.
pub type FactorSettings = serde_json::Value;

/// A second factor checked by a code: the plug-in's side of the seam.
pub trait CodeFactor: Send + Sync + fmt::Debug {
    /// The name in sign-in flows and in the server's records, e.g. `totp`.
    fn name(&self) -> &'static str;
    /// How pages name it, e.g. `authenticator app`.
    fn label(&self) -> &'static str;
    /// RFC 8176 method references it adds to `amr`.
    fn amr(&self) -> &'static [&'static str];
    /// Checks an organization's settings of this factor; the message names the field. A
    /// factor without settings takes none.
    fn check_settings(&self, settings: &FactorSettings) -> Result<(), String> {
        match settings {
            FactorSettings::Null => Ok(()),
            FactorSettings::Object(o) if o.is_empty() => Ok(()),
            _ => Err(format!("{} takes no settings", self.name())),
        }
    }
    /// What a code is like under the organization's `settings` (checked).
    fn code_format(&self, settings: &FactorSettings) -> CodeFormat;
    /// A new credential under the organization's `settings`, not yet saved, and what the user
    /// needs to set it up.
    fn enroll(
        &self,
        who: Enrollee<'_>,
        settings: &FactorSettings,
    ) -> Result<Enrolling, FactorError> {
        let credential = self.new_credential(settings)?;
        let shown = self.shown(&credential, who)?;
        Ok(Enrolling { credential, shown })
    }
    /// A new credential (a fresh secret) under the organization's `settings` (checked), not
    /// yet saved. The credential keeps what it needs of them: settings changed later apply to
    /// new credentials only.
    fn new_credential(&self, settings: &FactorSettings) -> Result<CredentialData, FactorError>;
    /// What the user needs to set up `credential` (one not confirmed yet): the same every time,
    /// so a setup page can be shown again after a wrong first code or a reload.
    fn shown(&self, credential: &CredentialData, who: Enrollee<'_>) -> Result<Shown, FactorError>;
    /// Checks `code` (as typed) against `credential` at `now` (Unix seconds). Must compare in
    /// constant time and must not accept what the credential accepted before.
    fn check(&self, credential: &CredentialData, code: &str, now: i64) -> Check;
}

/// Where a sent code goes: a contact point of the user's that the server has verified (the
/// plug-in never sees an unverified one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The user's verified email address, through the organization's mailer.
    Email,
}

/// What a code's message may say.
#[derive(Clone, Copy)]
pub struct CodeNotice<'a> {
    /// The organization's display name.
    pub organization: &'a str,
    /// The application the user signs in to.
    pub application: &'a str,
    /// The code itself: secret, so never logged.
    pub code: &'a str,
    /// How long the code works, rounded up.
    pub minutes: i64,
    /// The user's language, a BCP 47 primary tag (`en`, `de`, `es`): the language of the page
    /// the user asked from. Word the message in it where the plug-in can, in English otherwise.
    pub language: &'a str,
}

impl fmt::Debug for CodeNotice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeNotice")
            .field("organization", &self.organization)
            .field("application", &self.application)
            .field("minutes", &self.minutes)
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

/// The message that carries a code. Secret (it holds the code): never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeMessage {
    pub subject: String,
    pub text: String,
}

impl fmt::Debug for CodeMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeMessage")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// A second factor that sends a one-time code to a verified contact point of the user's: the
/// plug-in's side of the seam. The server keeps the sign-in's state — the code (only its keyed
/// hash), its expiry, the attempts at it and the resend limits, with the same rules as SMS OTP —
/// and sends through the organization's channel; the plug-in says where the code goes and what
/// the message says.
pub trait SentCodeFactor: Send + Sync + fmt::Debug {
    /// The name in sign-in flows and in the server's records, e.g. `email_otp`.
    fn name(&self) -> &'static str;
    /// How pages name it, e.g. `email code`.
    fn label(&self) -> &'static str;
    /// The link a page shows to switch to it, e.g. `Email me a code instead`.
    fn offer(&self) -> &'static str;
    /// RFC 8176 method references it adds to `amr`.
    fn amr(&self) -> &'static [&'static str];
    /// The factor it is only offered beside, as a fallback (`sms_otp`), if any.
    fn fallback_of(&self) -> Option<&'static str> {
        None
    }
    fn destination(&self) -> Destination;
    /// The message carrying `notice.code`.
    fn message(&self, notice: &CodeNotice<'_>) -> CodeMessage;
}
