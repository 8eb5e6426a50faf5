//! Sign-in flows: ordered steps, each a set of alternative authenticators (the user passes any
//! one of them). Validated when saved, so an application can never be given a flow that lets SMS
//! OTP stand alone or offers backup codes it does not have.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One way of proving identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Authenticator {
    Password,
    MagicLink,
    /// An upstream OpenID provider, by its configured name.
    Federated(String),
    SmsOtp,
    BackupCode,
}

impl Authenticator {
    pub fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "password" => Self::Password,
            "magic_link" => Self::MagicLink,
            "sms_otp" => Self::SmsOtp,
            "backup_code" => Self::BackupCode,
            other => match other.strip_prefix("federated:") {
                Some(name)
                    if !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
                {
                    Self::Federated(name.to_string())
                }
                _ => {
                    return Err(format!(
                        "'{other}' is not an authenticator: use password, magic_link, federated:NAME, sms_otp or backup_code"
                    ));
                }
            },
        })
    }

    /// First-step authenticators establish who the user is; SMS OTP can only follow one of them.
    pub fn identifies(&self) -> bool {
        matches!(self, Self::Password | Self::MagicLink | Self::Federated(_))
    }
}

impl fmt::Display for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password => f.write_str("password"),
            Self::MagicLink => f.write_str("magic_link"),
            Self::Federated(name) => write!(f, "federated:{name}"),
            Self::SmsOtp => f.write_str("sms_otp"),
            Self::BackupCode => f.write_str("backup_code"),
        }
    }
}

/// A validated flow. Stored as JSON: `[["password"], ["sms_otp", "backup_code"]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInFlow {
    steps: Vec<Vec<Authenticator>>,
}

impl SignInFlow {
    /// Checks the rules of the SMS OTP guide (see DESIGN.md §2):
    /// - every step offers at least one authenticator, none twice;
    /// - the first step identifies the user (password, magic link or federated);
    /// - SMS OTP comes after a step that identifies the user, never in step 1;
    /// - backup codes only beside SMS OTP, and only when the application enables them.
    pub fn new(steps: Vec<Vec<Authenticator>>, backup_codes_enabled: bool) -> Result<Self, String> {
        if steps.is_empty() {
            return Err("a sign-in flow needs at least one step".into());
        }
        let mut identified = false;
        for (i, step) in steps.iter().enumerate() {
            let n = i + 1;
            if step.is_empty() {
                return Err(format!("step {n} has no authenticator"));
            }
            for (j, a) in step.iter().enumerate() {
                if step[..j].contains(a) {
                    return Err(format!("step {n} lists {a} twice"));
                }
            }
            if step.contains(&Authenticator::SmsOtp) && !identified {
                return Err(if n == 1 {
                    "SMS OTP cannot be the first step: it must follow password, magic_link or a federated sign-in".into()
                } else {
                    format!(
                        "step {n}: SMS OTP needs an earlier step with password, magic_link or a federated sign-in"
                    )
                });
            }
            if step.contains(&Authenticator::BackupCode) {
                if !step.contains(&Authenticator::SmsOtp) {
                    return Err(format!(
                        "step {n}: backup_code is only offered beside sms_otp"
                    ));
                }
                if !backup_codes_enabled {
                    return Err(format!(
                        "step {n}: backup_code needs the application's backup codes enabled"
                    ));
                }
            }
            if i == 0 && !step.iter().all(Authenticator::identifies) {
                return Err(
                    "step 1 may offer only password, magic_link or federated sign-ins".into(),
                );
            }
            identified |= step.iter().any(Authenticator::identifies);
        }
        Ok(Self { steps })
    }

    /// Parses the stored or provisioned form (a list of lists of names) and validates it.
    pub fn parse(steps: &[Vec<String>], backup_codes_enabled: bool) -> Result<Self, String> {
        let steps = steps
            .iter()
            .map(|step| {
                step.iter()
                    .map(|a| Authenticator::parse(a))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(steps, backup_codes_enabled)
    }

    /// The predefined flow "Username + Password", Sesame's default.
    pub fn password_only() -> Self {
        Self {
            steps: vec![vec![Authenticator::Password]],
        }
    }

    /// The preset "add SMS OTP as a second factor" (and the predefined flow "Username + Password
    /// -> SMS OTP"): `[password] -> [sms_otp (+ backup_code)]`.
    pub fn password_then_sms_otp(backup_codes: bool) -> Self {
        let mut second = vec![Authenticator::SmsOtp];
        if backup_codes {
            second.push(Authenticator::BackupCode);
        }
        Self {
            steps: vec![vec![Authenticator::Password], second],
        }
    }

    pub fn steps(&self) -> &[Vec<Authenticator>] {
        &self.steps
    }

    /// True when the flow asks for a second factor.
    pub fn is_multi_factor(&self) -> bool {
        self.steps.len() > 1
    }

    /// The form it is stored in.
    pub fn to_names(&self) -> Vec<Vec<String>> {
        self.steps
            .iter()
            .map(|s| s.iter().map(ToString::to_string).collect())
            .collect()
    }
}

impl Serialize for SignInFlow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_names().serialize(s)
    }
}

/// Reads a stored flow. Backup codes are allowed here: the application setting was checked when
/// the flow was saved.
impl<'de> Deserialize<'de> for SignInFlow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<Vec<String>>::deserialize(d)?;
        Self::parse(&names, true).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(steps: &[&[&str]]) -> Vec<Vec<String>> {
        steps
            .iter()
            .map(|s| s.iter().map(|a| a.to_string()).collect())
            .collect()
    }

    #[test]
    fn the_guides_flows_are_accepted() {
        for steps in [
            names(&[&["password"]]),
            names(&[&["password"], &["sms_otp"]]),
            names(&[&["password"], &["sms_otp", "backup_code"]]),
            names(&[&["magic_link"], &["sms_otp"]]),
            names(&[&["federated:google", "password"], &["sms_otp"]]),
        ] {
            assert!(SignInFlow::parse(&steps, true).is_ok(), "{steps:?}");
        }
        assert_eq!(
            SignInFlow::password_then_sms_otp(true).to_names(),
            names(&[&["password"], &["sms_otp", "backup_code"]])
        );
    }

    #[test]
    fn each_rule_has_its_message() {
        let err =
            |steps: &[&[&str]], backup: bool| SignInFlow::parse(&names(steps), backup).unwrap_err();
        assert!(err(&[&["sms_otp"]], true).contains("cannot be the first step"));
        assert!(err(&[&["password", "sms_otp"]], true).contains("cannot be the first step"));
        assert!(
            err(&[&["password"], &["backup_code"]], true).contains("only offered beside sms_otp")
        );
        assert!(
            err(&[&["password"], &["sms_otp", "backup_code"]], false)
                .contains("backup codes enabled")
        );
        assert!(err(&[&["password"], &[]], true).contains("step 2 has no authenticator"));
        assert!(err(&[], true).contains("at least one step"));
        assert!(err(&[&["password", "password"]], true).contains("twice"));
        assert!(err(&[&["sms"]], true).contains("not an authenticator"));
        assert!(err(&[&["federated:"]], true).contains("not an authenticator"));
    }

    #[test]
    fn stored_form_round_trips() {
        let flow = SignInFlow::password_then_sms_otp(true);
        let json = serde_json::to_string(&flow).unwrap();
        assert_eq!(json, r#"[["password"],["sms_otp","backup_code"]]"#);
        assert_eq!(serde_json::from_str::<SignInFlow>(&json).unwrap(), flow);
        assert!(serde_json::from_str::<SignInFlow>(r#"[["sms_otp"]]"#).is_err());
        assert!(flow.is_multi_factor() && !SignInFlow::password_only().is_multi_factor());
    }
}
