//! SMS one-time passwords: per-organization settings, generation and keyed hashing.
//!
//! Codes come from the OS random source, uniformly over the alphabet (rejection sampling, no
//! modulo bias). They are stored only as an HMAC keyed with a secret outside the database
//! (derived from the key-encryption key) and bound to the login transaction: a six-digit space
//! behind a plain digest would be reversed instantly.

use rand::{Rng, TryRngCore};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::sms_limits::{LineType, SendLimits, default_line_types, validate_destination};
use crate::keys::{Kek, KeyError};
use crate::secret::Secret;

pub const DEFAULT_TEMPLATE: &str =
    "Your one-time password for the {app} is {code}. This expires in {minutes} minutes.";

/// An organization's SMS OTP settings; the defaults are those of the guide (DESIGN.md §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtpSettings {
    pub expiry_seconds: i64,
    /// Digits only; otherwise upper-case letters and digits.
    pub numeric_only: bool,
    pub length: usize,
    /// Resends allowed to one sign-in: `resend_attempts + 1` codes an hour per user and per
    /// number (sliding windows; see `limits`), then sending is blocked until the hour has room,
    /// for at least `resend_block_seconds`.
    pub resend_attempts: i64,
    pub resend_block_seconds: i64,
    /// The least time between two sends to one sign-in (the cooldown the page shows).
    pub resend_cooldown_seconds: i64,
    /// Wrong entries one OTP survives; then it is void and a new one is needed.
    pub max_failed_attempts: i64,
    /// The SMS text: `{app}`, `{code}` and `{minutes}` are replaced. Left as it is, each user
    /// gets Sesame's own text in their language (`locales/*/sms.ftl`); changed, it is the text
    /// for the languages [`OtpSettings::message_templates`] does not name.
    pub message_template: String,
    /// The SMS text per language (`de = "…"`), with the same placeholders.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub message_templates: std::collections::BTreeMap<crate::i18n::Locale, String>,
    /// Append the WebOTP line (`@host #code`) so browsers can fill the code in.
    pub webotp: bool,
    /// How many codes may be sent per user, number, client and organization (the SMS budget).
    pub limits: SendLimits,
    /// Where codes may go: ISO 3166 country codes (`GB`) or prefixes (`+44`, `+1415`); empty:
    /// any country. Numbers are checked against the numbering plan either way.
    pub allowed_countries: Vec<String>,
    /// The line types codes may go to (default `mobile` and `fixed_line_or_mobile`);
    /// premium-rate and shared-cost numbers never.
    pub line_types: Vec<LineType>,
    /// Whether a user without a second factor may add a mobile number in the account area with
    /// their first step alone (the code to the new number being the only other check). Off by
    /// default, for existing organizations too: whoever knows a password could otherwise have
    /// codes texted to numbers of their choosing. Numbers then come from the administrator.
    pub enroll_with_password_only: bool,
}

impl Default for OtpSettings {
    fn default() -> Self {
        Self {
            expiry_seconds: 300,
            numeric_only: true,
            length: 6,
            resend_attempts: 5,
            resend_block_seconds: 300,
            resend_cooldown_seconds: 30,
            max_failed_attempts: 3,
            message_template: DEFAULT_TEMPLATE.into(),
            message_templates: Default::default(),
            webotp: false,
            limits: SendLimits::default(),
            allowed_countries: Vec::new(),
            line_types: default_line_types(),
            enroll_with_password_only: false,
        }
    }
}

impl OtpSettings {
    /// Where a code to `number` would go, by the numbering plan and the organization's
    /// allow-list.
    pub fn destination(
        &self,
        number: &str,
    ) -> Result<super::sms_limits::Destination, super::sms_limits::NumberRefusal> {
        super::sms_limits::destination(number, &self.allowed_countries, &self.line_types)
    }

    /// Checks the bounds; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let range = super::in_range;
        range("expiry_seconds", self.expiry_seconds, 30, 3600)?;
        // Fewer than six digits are too guessable; letters and digits give more per character.
        let (lo, hi) = if self.numeric_only { (6, 10) } else { (4, 10) };
        range("length", self.length as i64, lo, hi)?;
        range("resend_attempts", self.resend_attempts, 1, 20)?;
        range("resend_block_seconds", self.resend_block_seconds, 0, 86_400)?;
        range(
            "resend_cooldown_seconds",
            self.resend_cooldown_seconds,
            0,
            300,
        )?;
        range("max_failed_attempts", self.max_failed_attempts, 1, 10)?;
        let named = self.message_templates.iter().map(|(l, t)| (l.tag(), t));
        for (language, template) in std::iter::once(("", &self.message_template)).chain(named) {
            let field = if language.is_empty() {
                "message_template".to_string()
            } else {
                format!("message_templates.{language}")
            };
            if !template.contains("{code}") {
                return Err(format!("{field}: must contain {{code}}"));
            }
            if template.chars().count() > 300 {
                return Err(format!("{field}: at most 300 characters"));
            }
        }
        self.limits.validate(self.resend_attempts)?;
        for entry in &self.allowed_countries {
            validate_destination(entry)?;
        }
        if self.line_types.is_empty() {
            return Err("line_types: name at least one (mobile, fixed_line_or_mobile, …)".into());
        }
        Ok(())
    }

    /// A fresh code (see [`random_code`]).
    pub fn generate(&self) -> Secret<String> {
        random_code(self.numeric_only, self.length)
    }

    /// The SMS text for `code` in `locale`. `host` is Sesame's public host, for the WebOTP line.
    pub fn message(
        &self,
        locale: crate::i18n::Locale,
        app: &str,
        code: &Secret<String>,
        host: &str,
    ) -> String {
        let minutes = (self.expiry_seconds + 59) / 60;
        let template = match self.message_templates.get(&locale) {
            Some(t) => t,
            None if self.message_template != DEFAULT_TEMPLATE => &self.message_template,
            None => {
                let args = [
                    ("app", app.into()),
                    ("code", code.expose().into()),
                    ("minutes", minutes.into()),
                ];
                return self.with_webotp(
                    crate::i18n::text_in(locale, "sms-otp-code", &args),
                    code,
                    host,
                );
            }
        };
        let text = template
            .replace("{app}", app)
            .replace("{minutes}", &minutes.to_string())
            .replace("{code}", code.expose());
        self.with_webotp(text, code, host)
    }

    fn with_webotp(&self, mut text: String, code: &Secret<String>, host: &str) -> String {
        if self.webotp {
            text.push_str(&format!("\n\n@{host} #{}", code.expose()));
        }
        text
    }

    /// What a user typed, normalized (see [`normalize`]).
    pub fn normalize(&self, typed: &str) -> String {
        normalize(typed)
    }
}

/// A fresh code of `length` characters from the OS random source, each uniform over the digits
/// (`numeric_only`) or the upper-case letters and digits.
pub fn random_code(numeric_only: bool, length: usize) -> Secret<String> {
    let alphabet = alphabet(numeric_only);
    let mut rng = rand::rngs::OsRng.unwrap_err();
    // `random_range` samples without modulo bias (it rejects the uneven tail).
    let code = (0..length)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect();
    Secret::new(code)
}

fn alphabet(numeric_only: bool) -> &'static [u8] {
    if numeric_only {
        b"0123456789"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    }
}

/// What a user typed, normalized: spaces dropped, letters upper-cased (alphanumeric codes are
/// shown upper-case; phones may offer lower case).
pub fn normalize(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The stored form of a code: HMAC-SHA256 over the transaction id and the code, under a key
/// derived from the key-encryption key, so the database alone cannot reverse it.
pub fn keyed_hash(kek: &Kek, transaction_id: &str, code: &str) -> Result<Vec<u8>, KeyError> {
    Ok(kek
        .mac("sms-otp", format!("{transaction_id}\n{code}").as_bytes())?
        .to_vec())
}

/// Compares a typed code with a stored hash in constant time.
pub fn matches(
    kek: &Kek,
    transaction_id: &str,
    typed: &str,
    stored: &[u8],
) -> Result<bool, KeyError> {
    Ok(keyed_hash(kek, transaction_id, typed)?.ct_eq(stored).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_guide_and_bounds_are_checked() {
        let s = OtpSettings::default();
        assert!(s.validate().is_ok());
        assert_eq!(
            (
                s.expiry_seconds,
                s.length,
                s.resend_attempts,
                s.max_failed_attempts
            ),
            (300, 6, 5, 3)
        );
        for (bad, field) in [
            (
                OtpSettings {
                    length: 5,
                    ..OtpSettings::default()
                },
                "length",
            ),
            (
                OtpSettings {
                    length: 11,
                    ..OtpSettings::default()
                },
                "length",
            ),
            (
                OtpSettings {
                    numeric_only: false,
                    length: 3,
                    ..OtpSettings::default()
                },
                "length",
            ),
            (
                OtpSettings {
                    expiry_seconds: 10,
                    ..OtpSettings::default()
                },
                "expiry_seconds",
            ),
            (
                OtpSettings {
                    message_template: "no code".into(),
                    ..OtpSettings::default()
                },
                "message_template",
            ),
        ] {
            assert!(bad.validate().unwrap_err().starts_with(field), "{field}");
        }
        assert!(
            OtpSettings {
                numeric_only: false,
                length: 4,
                ..OtpSettings::default()
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn codes_use_only_the_alphabet_at_the_set_length() {
        let numeric = OtpSettings::default();
        let alnum = OtpSettings {
            numeric_only: false,
            length: 8,
            ..OtpSettings::default()
        };
        for _ in 0..200 {
            let c = numeric.generate();
            assert_eq!(c.expose().len(), 6);
            assert!(c.expose().bytes().all(|b| b.is_ascii_digit()));
            let c = alnum.generate();
            assert_eq!(c.expose().len(), 8);
            assert!(
                c.expose()
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            );
        }
    }

    /// Pearson's chi-square over many draws: each character of the alphabet appears about
    /// equally often. The bound is the 99.99th percentile for the degrees of freedom, so a
    /// correct generator fails about once in ten thousand runs and a biased one every time.
    #[test]
    fn characters_are_uniform_by_chi_square() {
        for (settings, critical) in [
            (OtpSettings::default(), 33.72), // 9 df
            (
                OtpSettings {
                    numeric_only: false,
                    length: 10,
                    ..OtpSettings::default()
                },
                75.0,
            ), // 35 df
        ] {
            let alphabet = alphabet(settings.numeric_only);
            let mut counts = vec![0u64; alphabet.len()];
            let draws = 20_000;
            for _ in 0..draws {
                for b in settings.generate().expose().bytes() {
                    counts[alphabet.iter().position(|a| *a == b).unwrap()] += 1;
                }
            }
            let total: u64 = counts.iter().sum();
            let expected = total as f64 / alphabet.len() as f64;
            let chi2: f64 = counts
                .iter()
                .map(|&c| (c as f64 - expected).powi(2) / expected)
                .sum();
            assert!(
                chi2 < critical,
                "chi-square {chi2:.1} over {} symbols: {counts:?}",
                alphabet.len()
            );
        }
    }

    #[test]
    fn message_has_code_minutes_app_and_optional_webotp_line() {
        use crate::i18n::Locale;
        let code = Secret::new("075052".to_string());
        let plain = OtpSettings::default().message(Locale::En, "myapp", &code, "id.example.com");
        assert_eq!(
            plain,
            "Your one-time password for the myapp is 075052. This expires in 5 minutes."
        );
        let german = OtpSettings::default().message(Locale::De, "myapp", &code, "id.example.com");
        assert_eq!(
            german,
            "Ihr Einmalpasswort für myapp lautet 075052. Es läuft in 5 Minuten ab."
        );
        let webotp = OtpSettings {
            webotp: true,
            ..OtpSettings::default()
        }
        .message(Locale::Es, "myapp", &code, "id.example.com");
        assert!(webotp.starts_with("Su contraseña"), "{webotp}");
        assert!(webotp.ends_with("\n\n@id.example.com #075052"), "{webotp}");
    }

    #[test]
    fn an_operators_texts_win_per_language_then_for_all() {
        use crate::i18n::Locale;
        let code = Secret::new("075052".to_string());
        let settings = OtpSettings {
            message_template: "{code} is your {app} code".into(),
            message_templates: [(Locale::De, "{code} ist Ihr Code ({minutes} Min.)".into())].into(),
            ..OtpSettings::default()
        };
        assert!(settings.validate().is_ok());
        let text = |l| settings.message(l, "Acme", &code, "h");
        assert_eq!(text(Locale::De), "075052 ist Ihr Code (5 Min.)");
        assert_eq!(text(Locale::Es), "075052 is your Acme code");
        let broken = OtpSettings {
            message_templates: [(Locale::Es, "sin código".into())].into(),
            ..OtpSettings::default()
        };
        assert_eq!(
            broken.validate().unwrap_err(),
            "message_templates.es: must contain {code}"
        );
    }

    #[test]
    fn stored_hashes_are_keyed_and_bound_to_the_transaction() {
        let kek = Kek::new(Secret::new([3u8; 32]));
        let stored = keyed_hash(&kek, "tx1", "123456").unwrap();
        assert!(matches(&kek, "tx1", "123456", &stored).unwrap());
        assert!(!matches(&kek, "tx1", "123457", &stored).unwrap());
        assert!(
            !matches(&kek, "tx2", "123456", &stored).unwrap(),
            "bound to its transaction"
        );
        let other = Kek::new(Secret::new([4u8; 32]));
        assert!(
            !matches(&other, "tx1", "123456", &stored).unwrap(),
            "useless without the key"
        );
        assert_eq!(OtpSettings::default().normalize(" ab 12 "), "AB12");
    }
}
