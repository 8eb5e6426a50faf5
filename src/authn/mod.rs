//! Authentication: the sign-in flow engine and the authenticators beyond the password.
//!
//! `flow` holds the model (steps of alternative authenticators, what a sign-in has passed, the
//! `amr`/`acr` it earns); `factor` the properties of each authenticator that the rules ask for;
//! `engine` runs a sign-in (commands in, outcomes out, see `outcome`) under `policy` (locks,
//! throttles, send limits); `magic_link` and `federation` hold the first steps beyond the
//! password (`upstream` is Sesame's client of the providers), `otp` and `backup` the
//! second-factor codes, `reset` the password reset by email, `registration` self-registration. The pages and the JSON API that render the engine's outcomes are in
//! `http::signin` and `http::native`.

pub mod backup;
pub mod credentials;
pub mod engine;
pub mod factor;
pub mod federation;
pub mod flow;
pub mod magic_link;
pub mod otp;
pub mod outcome;
pub mod passkeys;
pub mod policy;
pub mod registration;
pub mod reset;
pub mod sent_code;
pub mod sms_limits;
pub mod upstream;

/// A setting's bounds: `Err` names the field, the value and the range (`length: 3 is out of
/// range 6-10`), the form every settings check in provisioning answers with.
pub fn in_range(name: &str, v: i64, lo: i64, hi: i64) -> Result<(), String> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(format!("{name}: {v} is out of range {lo}-{hi}"))
    }
}
