//! Authenticator apps: time-based one-time passwords (RFC 6238) as a Sesame second factor.
//!
//! A credential is a random secret as long as its hash's output (160 bits for SHA-1, as RFC 4226
//! § 4 recommends; 256 and 512 bits for SHA-256 and SHA-512, the key sizes of RFC 6238's test
//! vectors) with the parameters it was enrolled with — HMAC-SHA-1, 6 digits, 30-second steps by
//! default, the values every authenticator app understands; an organization may choose others
//! (`[organizations.factors.totp]`, see [`TotpSettings`]) — and the last time step it accepted. A code is
//! accepted for the current step and one step either side (RFC 6238 § 5.2's recommended drift
//! allowance), and only for a step later than the last one accepted: the same code, or an
//! older one, is a replay (RFC 6238 § 5.2: "the verifier MUST NOT accept the second attempt of
//! the OTP after the successful validation has been issued for the first OTP").
//!
//! The credential's bytes are JSON; the server seals them, so this crate never sees a key.

use serde::{Deserialize, Serialize};
use sesame_plugin_api::factor::{
    Check, CodeFactor, CodeFormat, CredentialData, Enrollee, FactorError, FactorSettings, Shown,
};
use totp_rs::{Algorithm, Builder, Secret};

mod qr;

/// The factor, with the parameters new credentials get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totp {
    pub digits: u8,
    pub period: u64,
}

impl Default for Totp {
    fn default() -> Self {
        Self {
            digits: 6,
            period: 30,
        }
    }
}

/// The factor with the defaults, for the server's registry.
pub static TOTP: Totp = Totp {
    digits: 6,
    period: 30,
};

/// Steps accepted either side of the current one.
const SKEW: u16 = 1;

/// The HMAC of the codes (RFC 6238 § 1.2: SHA-1, SHA-256 or SHA-512).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HashAlgorithm {
    #[default]
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgorithm {
    fn totp_rs(self) -> Algorithm {
        match self {
            Self::Sha1 => Algorithm::SHA1,
            Self::Sha256 => Algorithm::SHA256,
            Self::Sha512 => Algorithm::SHA512,
        }
    }

    /// Secret length in bytes: the hash's output length.
    fn secret_bytes(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

/// An organization's TOTP settings (`[organizations.factors.totp]`), for credentials enrolled
/// from then on. Many apps (Google Authenticator among them) read only SHA-1, 6 digits and 30
/// seconds from the QR code and show wrong codes for anything else: change them only when every
/// user's app is known to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TotpSettings {
    pub algorithm: HashAlgorithm,
    /// 6 to 8 (RFC 4226 § 5.3 allows no fewer than 6).
    pub digits: u8,
    /// Seconds per code, 15 to 120.
    pub period: u64,
}

impl Default for TotpSettings {
    fn default() -> Self {
        Self {
            algorithm: HashAlgorithm::Sha1,
            digits: TOTP.digits,
            period: TOTP.period,
        }
    }
}

impl TotpSettings {
    /// The settings in `value` (`Null`: the defaults), checked; the message names the field.
    pub fn read(value: &FactorSettings) -> Result<Self, String> {
        let settings: Self = if value.is_null() {
            Self::default()
        } else {
            serde_json::from_value(value.clone()).map_err(|e| e.to_string())?
        };
        if !(6..=8).contains(&settings.digits) {
            return Err(format!("digits: {} is out of range 6-8", settings.digits));
        }
        if !(15..=120).contains(&settings.period) {
            return Err(format!(
                "period: {} is out of range 15-120",
                settings.period
            ));
        }
        Ok(settings)
    }
}

/// What the server stores (sealed) for one authenticator app.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    /// The format's version.
    v: u8,
    /// The secret, base32 without padding (as in the `otpauth://` URI).
    secret: String,
    /// SHA-1 for records written before organizations could choose.
    #[serde(default)]
    algorithm: HashAlgorithm,
    digits: u8,
    period: u64,
    /// The last time step a code was accepted for.
    #[serde(default)]
    last_step: Option<u64>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("period", &self.period)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

impl Record {
    fn read(data: &CredentialData) -> Result<Self, String> {
        let record: Self = serde_json::from_slice(data.expose()).map_err(|e| e.to_string())?;
        if record.v != 1 {
            return Err(format!("unknown TOTP record version {}", record.v));
        }
        Ok(record)
    }

    fn write(&self) -> CredentialData {
        CredentialData::new(serde_json::to_vec(self).expect("a record serializes"))
    }

    /// The code generator; `skew` steps either side accepted by its own `check`.
    fn totp(&self, skew: u16, names: Option<Enrollee<'_>>) -> Result<totp_rs::Totp, String> {
        let secret = Secret::try_from_base32(&self.secret).map_err(|e| format!("{e:?}"))?;
        let mut builder = Builder::new()
            .with_algorithm(self.algorithm.totp_rs())
            .with_digits(self.digits)
            .with_skew(skew)
            .with_step_duration(self.period)
            .with_secret(secret);
        if let Some(who) = names {
            builder = builder
                .with_issuer(Some(label_part(who.issuer)))
                .with_account_name(label_part(who.account));
        }
        builder.build().map_err(|e| format!("{e:?}"))
    }
}

/// A name as the URI's label may hold it: the label's separator `:` is replaced (the
/// `otpauth` format has no escape for it that every app reads), and it is never empty.
fn label_part(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c == ':' || c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "account".to_string()
    } else {
        cleaned.to_string()
    }
}

/// The secret in groups of four for typing (`JBSW Y3DP …`).
fn grouped(base32: &str) -> String {
    base32
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("base32 is ASCII"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the user typed, without the spaces and dashes apps and people put in codes.
fn normalize(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

impl CodeFactor for Totp {
    fn name(&self) -> &'static str {
        "totp"
    }

    fn label(&self) -> &'static str {
        "authenticator app"
    }

    /// RFC 8176 § 2: `otp`. (Not `swk`/`hwk`: nothing proves where the secret is kept.)
    fn amr(&self) -> &'static [&'static str] {
        &["otp"]
    }

    fn check_settings(&self, settings: &FactorSettings) -> Result<(), String> {
        TotpSettings::read(settings).map(|_| ())
    }

    fn code_format(&self, settings: &FactorSettings) -> CodeFormat {
        CodeFormat {
            numeric: true,
            length: TotpSettings::read(settings).map_or(self.digits, |s| s.digits),
        }
    }

    fn new_credential(&self, settings: &FactorSettings) -> Result<CredentialData, FactorError> {
        use rand::TryRngCore;
        let settings = TotpSettings::read(settings).map_err(FactorError::Input)?;
        // From the operating system: a long-lived secret.
        let mut bytes = vec![0u8; settings.algorithm.secret_bytes()];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| FactorError::Internal(e.to_string()))?;
        Ok(Record {
            v: 1,
            secret: Secret::from(bytes).to_base32(),
            algorithm: settings.algorithm,
            digits: settings.digits,
            period: settings.period,
            last_step: None,
        }
        .write())
    }

    fn shown(&self, credential: &CredentialData, who: Enrollee<'_>) -> Result<Shown, FactorError> {
        let record = Record::read(credential).map_err(FactorError::Internal)?;
        let totp = record.totp(SKEW, Some(who)).map_err(FactorError::Input)?;
        let uri = totp
            .to_url()
            .map_err(|e| FactorError::Input(format!("{e:?}")))?;
        let qr_svg = qr::svg(&uri).map_err(FactorError::Input)?;
        Ok(Shown {
            text: grouped(&record.secret),
            uri,
            qr_svg,
        })
    }

    fn check(&self, credential: &CredentialData, code: &str, now: i64) -> Check {
        let mut record = match Record::read(credential) {
            Ok(r) => r,
            Err(e) => return Check::Unreadable(e),
        };
        // Each step of the window on its own, so a code that matches an accepted step and also
        // (rarely) a newer one is taken for the newer one.
        let totp = match record.totp(0, None) {
            Ok(t) => t,
            Err(e) => return Check::Unreadable(e),
        };
        let Ok(now) = u64::try_from(now) else {
            return Check::Wrong;
        };
        let code = normalize(code);
        let origin = now / record.period;
        let mut replayed = false;
        for step in origin.saturating_sub(u64::from(SKEW))..=origin + u64::from(SKEW) {
            // Compared in constant time by `totp_rs::Token`.
            if totp.check(&code, step * record.period).is_none() {
                continue;
            }
            if record.last_step.is_some_and(|last| step <= last) {
                replayed = true;
                continue;
            }
            record.last_step = Some(step);
            return Check::Passed(record.write());
        }
        if replayed {
            Check::Replayed
        } else {
            Check::Wrong
        }
    }
}

/// The code an app shows for `credential` at `now`.
#[cfg(test)]
fn code_at(credential: &CredentialData, now: u64) -> Result<String, String> {
    let record = Record::read(credential)?;
    Ok(record.totp(0, None)?.generate(now).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 key ("12345678901234567890"), as base32.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    fn rfc_record(digits: u8) -> CredentialData {
        Record {
            v: 1,
            secret: RFC_SECRET.into(),
            algorithm: HashAlgorithm::Sha1,
            digits,
            period: 30,
            last_step: None,
        }
        .write()
    }

    #[test]
    fn the_rfc_6238_test_vectors_pass() {
        // Appendix B, SHA-1, 8 digits; and their last six digits with six.
        let cases = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (t, code) in cases {
            assert_eq!(code_at(&rfc_record(8), t).unwrap(), code, "t={t}");
            assert_eq!(code_at(&rfc_record(6), t).unwrap(), code[2..], "t={t}");
            assert!(matches!(
                TOTP.check(&rfc_record(8), code, t as i64),
                Check::Passed(_)
            ));
        }
    }

    #[test]
    fn the_rfc_6238_sha256_and_sha512_vectors_pass() {
        // Appendix B's keys: the ASCII digits repeated to 32 and 64 bytes.
        let key = |n: usize| -> String {
            let bytes: Vec<u8> = b"1234567890".iter().copied().cycle().take(n).collect();
            Secret::from(bytes).to_base32()
        };
        for (algorithm, secret, cases) in [
            (
                HashAlgorithm::Sha256,
                key(32),
                [
                    (59, "46119246"),
                    (1_111_111_109, "68084774"),
                    (20_000_000_000, "77737706"),
                ],
            ),
            (
                HashAlgorithm::Sha512,
                key(64),
                [
                    (59, "90693936"),
                    (1_111_111_109, "25091201"),
                    (20_000_000_000, "47863826"),
                ],
            ),
        ] {
            let record = Record {
                v: 1,
                secret: secret.trim_end_matches('=').to_string(),
                algorithm,
                digits: 8,
                period: 30,
                last_step: None,
            }
            .write();
            for (t, code) in cases {
                assert!(
                    matches!(TOTP.check(&record, code, t), Check::Passed(_)),
                    "{algorithm:?} t={t}"
                );
            }
        }
    }

    #[test]
    fn organizations_choose_the_parameters_of_new_credentials() {
        let settings = serde_json::json!({ "algorithm": "SHA256", "digits": 8, "period": 60 });
        TOTP.check_settings(&settings).unwrap();
        assert_eq!(TOTP.code_format(&settings).length, 8);
        assert_eq!(TOTP.code_format(&FactorSettings::Null).length, 6);
        let who = Enrollee {
            issuer: "Acme",
            account: "alice",
        };
        let e = TOTP.enroll(who, &settings).unwrap();
        let record = Record::read(&e.credential).unwrap();
        assert_eq!(
            (
                record.algorithm,
                record.digits,
                record.period,
                record.secret.len()
            ),
            (HashAlgorithm::Sha256, 8, 60, 52),
            "256 bits of secret in base32"
        );
        for part in ["algorithm=SHA256", "digits=8", "period=60"] {
            assert!(e.shown.uri.contains(part), "{part} in {}", e.shown.uri);
        }
        let code = code_at(&e.credential, 1_000_020).unwrap();
        assert_eq!(code.len(), 8);
        assert!(matches!(
            TOTP.check(&e.credential, &code, 1_000_000),
            Check::Passed(_)
        ));
        // Records written before the choice existed are SHA-1.
        let old = br#"{"v":1,"secret":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","digits":6,"period":30}"#;
        assert_eq!(
            Record::read(&CredentialData::new(old.to_vec()))
                .unwrap()
                .algorithm,
            HashAlgorithm::Sha1
        );
        for (bad, field) in [
            (
                serde_json::json!({ "digits": 5 }),
                "digits: 5 is out of range 6-8",
            ),
            (
                serde_json::json!({ "period": 600 }),
                "period: 600 is out of range 15-120",
            ),
            (
                serde_json::json!({ "algorithm": "MD5" }),
                "unknown variant `MD5`",
            ),
            (serde_json::json!({ "skew": 2 }), "unknown field `skew`"),
        ] {
            let e = TOTP.check_settings(&bad).unwrap_err();
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn one_step_of_drift_either_side_and_no_more() {
        let cred = rfc_record(6);
        let now = 1_111_111_109_i64;
        for (offset, ok) in [
            (-60, false),
            (-30, true),
            (0, true),
            (30, true),
            (60, false),
        ] {
            let code = code_at(&cred, (now + offset) as u64).unwrap();
            let passed = matches!(TOTP.check(&cred, &code, now), Check::Passed(_));
            assert_eq!(passed, ok, "offset {offset}");
        }
    }

    #[test]
    fn a_code_passes_once_and_older_steps_stay_refused() {
        let cred = rfc_record(6);
        let now = 1_234_567_890_i64;
        let code = code_at(&cred, now as u64).unwrap();
        let Check::Passed(after) = TOTP.check(&cred, &code, now) else {
            panic!("the current code passes");
        };
        assert_eq!(TOTP.check(&after, &code, now), Check::Replayed);
        assert_eq!(TOTP.check(&after, &code, now + 20), Check::Replayed);
        // The previous step's code is within the drift but older than the accepted step.
        let previous = code_at(&cred, (now - 30) as u64).unwrap();
        assert_eq!(TOTP.check(&after, &previous, now), Check::Replayed);
        // The next step's code is new.
        let next = code_at(&cred, (now + 30) as u64).unwrap();
        assert!(matches!(
            TOTP.check(&after, &next, now + 30),
            Check::Passed(_)
        ));
    }

    #[test]
    fn typed_codes_are_normalized_and_junk_is_wrong() {
        let cred = rfc_record(6);
        let code = code_at(&cred, 59).unwrap();
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(matches!(TOTP.check(&cred, &spaced, 59), Check::Passed(_)));
        for junk in ["", "12345", "1234567", "+87082", "abcdef", "２８７０８２"] {
            assert_eq!(TOTP.check(&cred, junk, 59), Check::Wrong, "{junk:?}");
        }
        assert_eq!(TOTP.check(&cred, &code, -1), Check::Wrong);
        assert!(matches!(
            TOTP.check(&CredentialData::new(b"{}".to_vec()), &code, 59),
            Check::Unreadable(_)
        ));
    }

    #[test]
    fn enrollment_gives_a_fresh_secret_its_uri_and_a_qr_code() {
        let who = Enrollee {
            issuer: "Acme: Staff",
            account: "alice",
        };
        let a = TOTP.enroll(who, &FactorSettings::Null).unwrap();
        let b = TOTP.enroll(who, &FactorSettings::Null).unwrap();
        assert_ne!(a.credential, b.credential, "a new secret each time");
        let record = Record::read(&a.credential).unwrap();
        assert_eq!(record.secret.len(), 32, "160 bits in base32");
        assert_eq!(a.shown.text.replace(' ', ""), record.secret);
        assert!(
            a.shown
                .uri
                .starts_with("otpauth://totp/Acme%20%20Staff:alice?secret="),
            "{}",
            a.shown.uri
        );
        assert!(a.shown.uri.contains(&record.secret));
        assert!(a.shown.qr_svg.starts_with("<svg"));
        assert!(!format!("{a:?}").contains(&record.secret), "Debug redacts");
        assert!(
            !format!("{record:?}").contains(&record.secret),
            "Debug redacts"
        );
        // The same credential shows the same setup again.
        let again = TOTP.shown(&a.credential, who).unwrap();
        assert_eq!(again.text, a.shown.text);
        assert_eq!(again.uri, a.shown.uri);
        // The enrolled secret checks codes.
        let code = code_at(&a.credential, 1_000_000).unwrap();
        assert!(matches!(
            TOTP.check(&a.credential, &code, 1_000_000),
            Check::Passed(_)
        ));
    }
}
