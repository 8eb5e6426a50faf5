//! Codes a plug-in factor sends (`email_otp`, see `sesame_plugin_api::factor::SentCodeFactor`):
//! the organization's settings and the throttle key. The codes follow the SMS OTP rules
//! (`otp::random_code`, kept only as a keyed hash bound to the sign-in, expiry, failed attempts
//! per code, a cooldown and a number of resends per sign-in), plus a limit per address so one
//! mailbox cannot be flooded from many sign-ins.

use serde::{Deserialize, Serialize};

/// An organization's email code settings (`[organizations.email_otp]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SentCodeSettings {
    /// How long a code works (mail is slower than SMS: ten minutes by default).
    pub expiry_seconds: i64,
    /// Digits only; otherwise upper-case letters and digits.
    pub numeric_only: bool,
    pub length: usize,
    /// Wrong entries one code survives; then it is void and a new one is needed.
    pub max_failed_attempts: i64,
    /// New codes one sign-in may ask for after its first.
    pub resend_attempts: i64,
    /// The least time between two codes to one sign-in.
    pub resend_cooldown_seconds: i64,
    /// Codes mailed to one address within `window_seconds`, over all sign-ins.
    pub max_sends_per_address: i64,
    pub window_seconds: i64,
}

impl Default for SentCodeSettings {
    fn default() -> Self {
        Self {
            expiry_seconds: 600,
            numeric_only: true,
            length: 6,
            max_failed_attempts: 3,
            resend_attempts: 3,
            resend_cooldown_seconds: 30,
            max_sends_per_address: 10,
            window_seconds: 3600,
        }
    }
}

impl SentCodeSettings {
    /// Checks the bounds (those of SMS OTP where they share a name); the message names the field.
    /// A code outliving its sign-in (15 minutes) could never be used, so 900 s is the most.
    pub fn validate(&self) -> Result<(), String> {
        let range = super::in_range;
        range("expiry_seconds", self.expiry_seconds, 60, 900)?;
        let (lo, hi) = if self.numeric_only { (6, 10) } else { (4, 10) };
        range("length", self.length as i64, lo, hi)?;
        range("max_failed_attempts", self.max_failed_attempts, 1, 10)?;
        range("resend_attempts", self.resend_attempts, 0, 20)?;
        range(
            "resend_cooldown_seconds",
            self.resend_cooldown_seconds,
            0,
            300,
        )?;
        range("max_sends_per_address", self.max_sends_per_address, 1, 100)?;
        range("window_seconds", self.window_seconds, 60, 86_400)
    }

    /// Minutes a code works, rounded up, for messages.
    pub fn minutes(&self) -> i64 {
        (self.expiry_seconds + 59) / 60
    }
}

/// The throttle key of the codes of `factor` sent to `address`.
pub fn address_key(factor: &str, organization_id: i64, address: &str) -> String {
    format!("{factor}:{organization_id}:{}", address.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounds_name_the_field() {
        let s = SentCodeSettings::default();
        s.validate().unwrap();
        assert_eq!(s.minutes(), 10);
        let short = SentCodeSettings {
            length: 4,
            ..Default::default()
        };
        assert!(short.validate().unwrap_err().starts_with("length"));
        let long = SentCodeSettings {
            expiry_seconds: 3600,
            ..Default::default()
        };
        assert!(long.validate().unwrap_err().starts_with("expiry_seconds"));
    }
}
