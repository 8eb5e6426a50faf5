//! The authenticators as factors. Each one implements [`Factor`]: what it adds to `amr`, whether
//! it identifies the user (and so may be a first step), what it is only offered beside, whether
//! the application must switch it on, how it is enrolled and which kind of step runs it. The
//! flow rules (`flow::SignInFlow::new`), `amr`/`acr` and the engine ask the [`registry`] for
//! these properties instead of naming factors, so a new factor is a new entry here and needs no
//! edit in the rules or the engine's decisions.
//!
//! Factors from plug-ins (`plugins/`) that check a typed code implement
//! [`sesame_plugin_api::factor::CodeFactor`]; registering one is one line in [`CODE_FACTORS`]
//! and one in [`registry`]. The engine runs all of them with the same step
//! (`engine::credential`). Factors that send a code to a verified contact point implement
//! [`sesame_plugin_api::factor::SentCodeFactor`], registered the same way in [`SENT_FACTORS`]
//! and run by `engine::sent`. Factors proven by a key on the user's device (passkeys) implement
//! [`sesame_plugin_api::key::KeyFactor`], registered in [`KEY_FACTORS`] and run by
//! `engine::key`.

use std::fmt;

use sesame_plugin_api::factor::{CodeFactor, SentCodeFactor};
use sesame_plugin_api::key::KeyFactor;

use super::outcome::StepKind;

/// How a user gets what a factor checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrollment {
    /// A credential of the account itself (a password, a verified email address), set by an
    /// administrator or the provisioning file.
    Account,
    /// A link to an account at an upstream provider, made at the first federated sign-in.
    UpstreamLink,
    /// A verified mobile number: provisioned, or added in the account area after a code.
    VerifiedPhone,
    /// A set of single-use codes generated for the user and shown once.
    CodeSet,
    /// A credential of a plug-in factor, saved once its first code was entered (see
    /// `authn::credentials`).
    Credential,
    /// A verified email address, set by an administrator or the provisioning file.
    VerifiedEmail,
}

/// What a magic link and an email code both prove.
const EMAIL_ADDRESS: &str = "email address";

/// One way of proving identity.
pub trait Factor: Send + Sync + fmt::Debug {
    /// The name in flows (`federated:NAME` factors share the entry `federated`).
    fn name(&self) -> &'static str;
    /// How the flow rules' messages name it.
    fn label(&self) -> &'static str {
        self.name()
    }
    /// RFC 8176 method references it adds to `amr`.
    fn amr(&self) -> &'static [&'static str];
    /// Passing it establishes who the user is: only such factors may be a first step, and a
    /// factor that does not needs an earlier step that does.
    fn identifies(&self) -> bool;
    /// The factor it is only offered beside, as its fallback.
    fn fallback_of(&self) -> Option<&'static str> {
        None
    }
    /// The application setting that must be on before a flow may offer it.
    fn application_switch(&self) -> Option<&'static str> {
        None
    }
    fn enrollment(&self) -> Enrollment;
    /// The kind of step that runs it.
    fn step_kind(&self) -> StepKind;
    /// What passing it proves access to, when another factor can prove the same (`email
    /// address`): a flow may not ask for it again as a second factor.
    fn proves(&self) -> Option<&'static str> {
        None
    }
    /// Its place among the first steps a sign-in page offers.
    fn order(&self) -> u8 {
        u8::MAX
    }
    /// Passing it proves two factors at once (a passkey with user verification: a device the
    /// user holds, unlocked by what they know or are). It identifies the user and still counts
    /// as a second factor (`mfa`), and a flow may list it in several steps: one pass satisfies
    /// each (`[["password", "passkey"], ["sms_otp", "passkey"]]`: a password and a code, or a
    /// passkey alone).
    fn multi_factor(&self) -> bool {
        false
    }
}

#[derive(Debug)]
struct Password;

impl Factor for Password {
    fn name(&self) -> &'static str {
        "password"
    }
    fn amr(&self) -> &'static [&'static str] {
        &["pwd"]
    }
    fn identifies(&self) -> bool {
        true
    }
    fn enrollment(&self) -> Enrollment {
        Enrollment::Account
    }
    fn step_kind(&self) -> StepKind {
        StepKind::First
    }
    fn order(&self) -> u8 {
        0
    }
}

#[derive(Debug)]
struct MagicLink;

impl Factor for MagicLink {
    fn name(&self) -> &'static str {
        "magic_link"
    }
    /// RFC 8176 registers no value for it: `email`, for a link proven by reading the mailbox.
    fn amr(&self) -> &'static [&'static str] {
        &["email"]
    }
    fn identifies(&self) -> bool {
        true
    }
    fn proves(&self) -> Option<&'static str> {
        Some(EMAIL_ADDRESS)
    }
    fn enrollment(&self) -> Enrollment {
        Enrollment::Account
    }
    fn step_kind(&self) -> StepKind {
        StepKind::First
    }
    fn order(&self) -> u8 {
        1
    }
}

#[derive(Debug)]
struct Federated;

impl Factor for Federated {
    fn name(&self) -> &'static str {
        "federated"
    }
    fn label(&self) -> &'static str {
        "a federated sign-in"
    }
    /// RFC 8176 registers no value for it: `fed`, as Microsoft Entra ID uses.
    fn amr(&self) -> &'static [&'static str] {
        &["fed"]
    }
    fn identifies(&self) -> bool {
        true
    }
    fn enrollment(&self) -> Enrollment {
        Enrollment::UpstreamLink
    }
    fn step_kind(&self) -> StepKind {
        StepKind::First
    }
    fn order(&self) -> u8 {
        2
    }
}

#[derive(Debug)]
struct SmsOtp;

impl Factor for SmsOtp {
    fn name(&self) -> &'static str {
        "sms_otp"
    }
    fn label(&self) -> &'static str {
        "SMS OTP"
    }
    fn amr(&self) -> &'static [&'static str] {
        &["sms", "otp"]
    }
    fn identifies(&self) -> bool {
        false
    }
    fn enrollment(&self) -> Enrollment {
        Enrollment::VerifiedPhone
    }
    fn step_kind(&self) -> StepKind {
        StepKind::SmsOtp
    }
}

#[derive(Debug)]
struct BackupCode;

impl Factor for BackupCode {
    fn name(&self) -> &'static str {
        "backup_code"
    }
    /// A single-use code from a list issued in advance: RFC 8176 has no value of its own for
    /// it, and it is not `sms`.
    fn amr(&self) -> &'static [&'static str] {
        &["otp"]
    }
    fn identifies(&self) -> bool {
        false
    }
    fn fallback_of(&self) -> Option<&'static str> {
        Some("sms_otp")
    }
    fn application_switch(&self) -> Option<&'static str> {
        Some("the application's backup codes enabled")
    }
    fn enrollment(&self) -> Enrollment {
        Enrollment::CodeSet
    }
    fn step_kind(&self) -> StepKind {
        StepKind::BackupCode
    }
}

/// A plug-in factor checked by a typed code, as the flow rules see it.
#[derive(Debug)]
pub struct CodePlugin(pub &'static dyn CodeFactor);

impl Factor for CodePlugin {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn label(&self) -> &'static str {
        self.0.label()
    }
    fn amr(&self) -> &'static [&'static str] {
        self.0.amr()
    }
    /// A code proves a device the user holds, not who they are.
    fn identifies(&self) -> bool {
        false
    }
    fn enrollment(&self) -> Enrollment {
        Enrollment::Credential
    }
    fn step_kind(&self) -> StepKind {
        StepKind::Code
    }
}

/// A plug-in factor that sends a code, as the flow rules see it.
#[derive(Debug)]
pub struct SentPlugin(pub &'static dyn SentCodeFactor);

impl Factor for SentPlugin {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn label(&self) -> &'static str {
        self.0.label()
    }
    fn amr(&self) -> &'static [&'static str] {
        self.0.amr()
    }
    /// A code to a contact point proves access to it, not who the user is.
    fn identifies(&self) -> bool {
        false
    }
    fn fallback_of(&self) -> Option<&'static str> {
        self.0.fallback_of()
    }
    fn proves(&self) -> Option<&'static str> {
        match self.0.destination() {
            sesame_plugin_api::factor::Destination::Email => Some(EMAIL_ADDRESS),
        }
    }
    fn enrollment(&self) -> Enrollment {
        match self.0.destination() {
            sesame_plugin_api::factor::Destination::Email => Enrollment::VerifiedEmail,
        }
    }
    fn step_kind(&self) -> StepKind {
        StepKind::Sent
    }
}

/// A plug-in factor proven by a key on the user's device, as the flow rules see it: when the
/// plug-in says it proves two factors (a passkey: discoverable, user verification), it
/// identifies the user on its own (a first step without a username) and may also be a later
/// step's second factor; otherwise it is a second factor only.
#[derive(Debug)]
pub struct KeyPlugin(pub &'static dyn KeyFactor);

impl Factor for KeyPlugin {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn label(&self) -> &'static str {
        self.0.label()
    }
    fn amr(&self) -> &'static [&'static str] {
        self.0.amr()
    }
    /// Only a key that proves two factors (user verification, discoverable) may sign in alone.
    fn identifies(&self) -> bool {
        self.0.multi_factor()
    }
    fn multi_factor(&self) -> bool {
        self.0.multi_factor()
    }
    fn enrollment(&self) -> Enrollment {
        Enrollment::Credential
    }
    fn step_kind(&self) -> StepKind {
        StepKind::Key
    }
    fn order(&self) -> u8 {
        3
    }
}

/// The plug-in factors checked by a typed code.
pub static CODE_FACTORS: [&'static dyn CodeFactor; 1] = [&sesame_plugin_totp::TOTP];

/// The plug-in factors that send a code.
pub static SENT_FACTORS: [&'static dyn SentCodeFactor; 1] = [&sesame_plugin_email_otp::EMAIL_OTP];

/// The plug-in factors proven by a key on the user's device.
pub static KEY_FACTORS: [&'static dyn KeyFactor; 1] = [&sesame_plugin_passkey::PASSKEY];

static TOTP: CodePlugin = CodePlugin(&sesame_plugin_totp::TOTP);
static EMAIL_OTP: SentPlugin = SentPlugin(&sesame_plugin_email_otp::EMAIL_OTP);
static PASSKEY: KeyPlugin = KeyPlugin(&sesame_plugin_passkey::PASSKEY);

static REGISTRY: [&'static dyn Factor; 8] = [
    &Password,
    &MagicLink,
    &Federated,
    &SmsOtp,
    &BackupCode,
    &TOTP,
    &EMAIL_OTP,
    &PASSKEY,
];

/// Every factor Sesame knows, in the order messages list them.
pub fn registry() -> &'static [&'static dyn Factor] {
    &REGISTRY
}

/// The plug-in factor checked by a typed code of this name.
pub fn code_factor(name: &str) -> Option<&'static dyn CodeFactor> {
    CODE_FACTORS.iter().copied().find(|f| f.name() == name)
}

/// The plug-in factor that sends a code, of this name.
pub fn sent_factor(name: &str) -> Option<&'static dyn SentCodeFactor> {
    SENT_FACTORS.iter().copied().find(|f| f.name() == name)
}

/// The plug-in factor proven by a key, of this name.
pub fn key_factor(name: &str) -> Option<&'static dyn KeyFactor> {
    KEY_FACTORS.iter().copied().find(|f| f.name() == name)
}

/// The factor of a name in flows (`federated:NAME` is the `federated` factor).
pub fn by_name(name: &str) -> Option<&'static dyn Factor> {
    let base = if name.starts_with("federated:") {
        "federated"
    } else {
        name
    };
    registry().iter().copied().find(|f| f.name() == base)
}

/// The names a flow may use, for messages: `password, magic_link, federated:NAME, sms_otp or
/// backup_code`.
pub fn names_for_messages() -> String {
    let names: Vec<String> = registry()
        .iter()
        .map(|f| match f.name() {
            "federated" => "federated:NAME".to_string(),
            other => other.to_string(),
        })
        .collect();
    join_or(&names)
}

/// The identifying factors, for messages: `password, magic_link, a federated sign-in or passkey`.
pub fn identifying_for_messages() -> String {
    let labels: Vec<String> = registry()
        .iter()
        .filter(|f| f.identifies())
        .map(|f| f.label().to_string())
        .collect();
    join_or(&labels)
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_factor_is_found_by_its_name_and_the_messages_list_them() {
        for f in registry() {
            assert_eq!(by_name(f.name()).unwrap().name(), f.name());
        }
        assert_eq!(by_name("federated:google").unwrap().name(), "federated");
        assert!(by_name("sms").is_none());
        assert_eq!(
            names_for_messages(),
            "password, magic_link, federated:NAME, sms_otp, backup_code, totp, email_otp or passkey"
        );
        assert_eq!(
            identifying_for_messages(),
            "password, magic_link, a federated sign-in or passkey"
        );
        // Every code plug-in is in the registry, as a factor of its own kind.
        for f in CODE_FACTORS {
            let factor = by_name(f.name()).unwrap();
            assert_eq!(factor.step_kind(), StepKind::Code);
            assert_eq!(code_factor(f.name()).unwrap().name(), f.name());
        }
        for f in SENT_FACTORS {
            let factor = by_name(f.name()).unwrap();
            assert_eq!(factor.step_kind(), StepKind::Sent);
            assert_eq!(sent_factor(f.name()).unwrap().name(), f.name());
        }
        for f in KEY_FACTORS {
            let factor = by_name(f.name()).unwrap();
            assert_eq!(factor.step_kind(), StepKind::Key);
            assert_eq!(key_factor(f.name()).unwrap().name(), f.name());
        }
        // A fallback names a factor that exists and is offered on its own.
        for f in registry() {
            if let Some(primary) = f.fallback_of() {
                assert!(by_name(primary).unwrap().fallback_of().is_none());
            }
        }
    }
}
