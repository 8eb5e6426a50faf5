//! Factors proven with a key the user's device holds (passkeys, WebAuthn): the plug-in's side of
//! the seam.
//!
//! A key factor runs ceremonies: the server asks the plug-in to begin one (the options the
//! browser's `navigator.credentials` call takes, and a state the server keeps), sends the
//! options to the browser, and hands the browser's answer back with the state to finish it. The
//! plug-in owns the format of its credentials and of its ceremony states and never sees the
//! database or a key; the server seals both under its key-encryption key, uses a ceremony's
//! state at most once (a replayed answer finds no state), and saves what an assertion changed
//! (the signature counter, the backup flags) only if nobody changed the credential meanwhile.

use crate::factor::{CredentialData, FactorError};

/// The relying party a ceremony is for: the server derives it from its public base URL.
#[derive(Debug, Clone, Copy)]
pub struct RelyingParty<'a> {
    /// The RP ID: the base URL's host (a passkey works for that host and its subdomains' RPs
    /// only).
    pub id: &'a str,
    /// The origin the browser reports, e.g. `https://id.example.com`.
    pub origin: &'a str,
    /// The name an authenticator may show (the organization's display name).
    pub name: &'a str,
}

/// Whom a key is registered for.
#[derive(Debug, Clone, Copy)]
pub struct KeyHolder<'a> {
    /// The user handle: stable, opaque and not personal (a UUID's bytes). A discoverable key
    /// returns it, so the server can tell whose key signed.
    pub handle: [u8; 16],
    /// The account name an authenticator shows (the username).
    pub name: &'a str,
    pub display_name: &'a str,
}

/// A ceremony begun.
#[derive(Debug, Clone)]
pub struct Ceremony {
    /// The options for the browser (`publicKey` of `navigator.credentials.create()` or
    /// `.get()`, in the JSON form of WebAuthn Level 3's `parse…OptionsFromJSON`). Public.
    pub options: serde_json::Value,
    /// What the server keeps until the answer comes (the challenge, among others): secret.
    pub state: CredentialData,
}

/// A key registered: the credential to save and its id (unique across all users: the server
/// refuses an id already registered).
#[derive(Debug, Clone)]
pub struct NewKey {
    pub credential: CredentialData,
    pub key_id: Vec<u8>,
}

/// What checking an assertion against the user's keys found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asserted {
    /// Signed by the key at `index` in the list given: the credential as it must be saved from
    /// now on (`None` when nothing changed), and whether the user was verified (a PIN or a
    /// biometric on the device).
    Passed {
        index: usize,
        credential: Option<CredentialData>,
        user_verified: bool,
    },
    /// Not a valid answer to this ceremony with one of these keys (a wrong signature, another
    /// origin, a cloned key's counter, no user verification where it was required, …); the
    /// reason is for logs, never for the user.
    Refused(String),
    /// The server's side does not work (a state that is not an assertion's, a relying party
    /// that cannot be built): not the user's doing, so not counted against them.
    Failed(String),
}

/// A factor proven by a key on the user's device.
pub trait KeyFactor: Send + Sync + std::fmt::Debug {
    /// The name in sign-in flows and in the server's records, e.g. `passkey`.
    fn name(&self) -> &'static str;
    /// How pages name it, e.g. `passkey`.
    fn label(&self) -> &'static str;
    /// RFC 8176 method references it adds to `amr`.
    fn amr(&self) -> &'static [&'static str];
    /// Every ceremony requires user verification and registers discoverable keys, so a pass
    /// proves two factors and may sign in on its own, without a username (a passkey). A factor
    /// that answers false (a security key used for presence only) is a second factor only.
    fn multi_factor(&self) -> bool {
        false
    }
    /// Begins registering a new key for `holder`, excluding the keys they hold (an
    /// authenticator that has one of them refuses to make another). `discoverable`: the key
    /// must be stored on the authenticator with the user handle, so it can sign in without a
    /// username.
    fn begin_registration(
        &self,
        rp: RelyingParty<'_>,
        holder: KeyHolder<'_>,
        held: &[CredentialData],
        discoverable: bool,
    ) -> Result<Ceremony, FactorError>;
    /// Finishes a registration from the browser's answer (`response`, JSON); `Err` with the
    /// reason (for logs) when the answer is not valid for `state`.
    fn finish_registration(
        &self,
        rp: RelyingParty<'_>,
        state: &CredentialData,
        response: &str,
    ) -> Result<NewKey, String>;
    /// Begins an assertion with one of `held` (the user's keys).
    fn begin_assertion(
        &self,
        rp: RelyingParty<'_>,
        held: &[CredentialData],
    ) -> Result<Ceremony, FactorError>;
    /// Begins an assertion by whichever discoverable key the user picks (no username first).
    fn begin_discoverable(&self, rp: RelyingParty<'_>) -> Result<Ceremony, FactorError>;
    /// The user handle and key id a discoverable assertion claims (not verified yet): the
    /// server finds the user's keys with them, then calls [`KeyFactor::finish_assertion`].
    fn claimed_holder(&self, response: &str) -> Option<([u8; 16], Vec<u8>)>;
    /// Finishes an assertion begun with `state` against `held` (the user's keys).
    fn finish_assertion(
        &self,
        rp: RelyingParty<'_>,
        state: &CredentialData,
        response: &str,
        held: &[CredentialData],
    ) -> Asserted;
    /// The id of a saved credential (to find it by the id an assertion names).
    fn key_id(&self, credential: &CredentialData) -> Option<Vec<u8>>;
}
