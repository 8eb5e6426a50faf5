//! Sign-in flows: ordered steps, each a set of alternative authenticators (the user passes any
//! one of them). Validated when saved, so an application can never be given a flow that lets SMS
//! OTP stand alone or offers backup codes it does not have.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::factor::Factor;

/// One way of proving identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Authenticator {
    Password,
    MagicLink,
    /// An upstream OpenID provider, by its configured name.
    Federated(String),
    SmsOtp,
    BackupCode,
    /// A plug-in factor checked by a typed code (`totp`), by its name.
    Code(&'static str),
    /// A plug-in factor that sends a code (`email_otp`), by its name.
    Sent(&'static str),
    /// A plug-in factor proven by a key on the user's device (`passkey`), by its name.
    Key(&'static str),
}

impl Authenticator {
    pub fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "password" => Self::Password,
            "magic_link" => Self::MagicLink,
            "sms_otp" => Self::SmsOtp,
            "backup_code" => Self::BackupCode,
            other if let Some(f) = super::factor::code_factor(other) => Self::Code(f.name()),
            other if let Some(f) = super::factor::sent_factor(other) => Self::Sent(f.name()),
            other if let Some(f) = super::factor::key_factor(other) => Self::Key(f.name()),
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
                        "'{other}' is not an authenticator: use {}",
                        super::factor::names_for_messages()
                    ));
                }
            },
        })
    }

    /// The factor behind this authenticator: its properties decide the flow rules.
    pub fn factor(&self) -> &'static dyn Factor {
        let name = match self {
            Self::Password => "password",
            Self::MagicLink => "magic_link",
            Self::Federated(_) => "federated",
            Self::SmsOtp => "sms_otp",
            Self::BackupCode => "backup_code",
            Self::Code(name) | Self::Sent(name) | Self::Key(name) => name,
        };
        super::factor::by_name(name).expect("every authenticator has its factor")
    }

    /// First-step authenticators establish who the user is; the others can only follow one.
    pub fn identifies(&self) -> bool {
        self.factor().identifies()
    }

    /// Whether passing it counts as a second factor: it does not identify the user (a code), or
    /// it proves two factors at once (a passkey with user verification).
    pub fn second_factor(&self) -> bool {
        !self.identifies() || self.factor().multi_factor()
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
            Self::Code(name) | Self::Sent(name) | Self::Key(name) => f.write_str(name),
        }
    }
}

/// A validated flow. Stored as JSON: `[["password"], ["sms_otp", "backup_code"]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInFlow {
    steps: Vec<Vec<Authenticator>>,
}

impl SignInFlow {
    /// Checks the rules of the SMS OTP guide (see DESIGN.md §2), through the factors'
    /// properties (see `authn::factor`):
    /// - every step offers at least one authenticator, none twice;
    /// - a factor that does not identify the user (SMS OTP) comes after a step that does, never
    ///   in step 1, and step 1 offers only identifying factors;
    /// - a fallback (backup codes) only beside its factor, and only when the application's
    ///   switch for it is on;
    /// - no two steps prove the same thing (an email code and a magic link, in either order: one
    ///   mailbox would pass both, and the sign-in would claim `mfa`).
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
                // One pass satisfies every step that lists it: only a factor that proves two
                // at once may stand in for a later step.
                if let Some(m) = steps[..i].iter().position(|earlier| earlier.contains(a))
                    && !a.factor().multi_factor()
                {
                    return Err(format!(
                        "step {n}: {a} is already in step {}: one pass would count for both",
                        m + 1
                    ));
                }
            }
            for a in step {
                let factor = a.factor();
                match factor.fallback_of() {
                    Some(primary) if !step.iter().any(|b| b.factor().name() == primary) => {
                        return Err(format!("step {n}: {a} is only offered beside {primary}"));
                    }
                    Some(_) => {}
                    None if !factor.identifies() && !identified => {
                        let first = super::factor::identifying_for_messages();
                        return Err(if n == 1 {
                            format!(
                                "{} cannot be the first step: it must follow {first}",
                                factor.label()
                            )
                        } else {
                            format!(
                                "step {n}: {} needs an earlier step with {first}",
                                factor.label()
                            )
                        });
                    }
                    None => {}
                }
                if let Some(proof) = factor.proves()
                    && let Some((m, b)) = steps[..i].iter().enumerate().find_map(|(m, earlier)| {
                        earlier
                            .iter()
                            .find(|b| b.factor().proves() == Some(proof))
                            .map(|b| (m + 1, b))
                    })
                {
                    return Err(format!(
                        "step {n}: {a} cannot follow {b} (step {m}): both prove access to the same {proof}"
                    ));
                }
                if let Some(switch) = factor.application_switch()
                    && !backup_codes_enabled
                {
                    return Err(format!("step {n}: {a} needs {switch}"));
                }
            }
            if i == 0 && !step.iter().all(Authenticator::identifies) {
                return Err(format!(
                    "step 1 may offer only {}",
                    super::factor::identifying_for_messages()
                ));
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

    /// The account area's check: the password or any of `first` (the organization's first
    /// steps), then a step offering `second` (the user's second factors) unless it is empty.
    pub fn account_check(first: Vec<Authenticator>, second: Vec<Authenticator>) -> Self {
        // The password always: a user who has one can use it for their own account.
        let mut first: Vec<Authenticator> = first
            .into_iter()
            .filter(Authenticator::identifies)
            .collect();
        if !first.contains(&Authenticator::Password) {
            first.insert(0, Authenticator::Password);
        }
        let mut steps = vec![first];
        if !second.is_empty() {
            steps.push(second);
        }
        Self { steps }
    }

    /// A flow nothing passes (a password reset the organization turned off meanwhile).
    pub fn closed() -> Self {
        Self {
            steps: vec![Vec::new()],
        }
    }

    /// A password reset's: a link mailed to the user, then a step offering `second` (the user's
    /// second factors, when the organization asks for them) unless it is empty.
    pub fn password_reset(second: Vec<Authenticator>) -> Self {
        let mut steps = vec![vec![Authenticator::MagicLink]];
        if !second.is_empty() {
            steps.push(second);
        }
        Self { steps }
    }

    /// Whether a step offers a factor that sends a code (by email).
    pub fn mails_codes(&self) -> bool {
        self.steps
            .iter()
            .flatten()
            .any(|a| matches!(a, Authenticator::Sent(_)))
    }

    /// Adds an SMS OTP step (without backup codes): confirming a new number needs its code.
    pub fn require_sms_otp(&mut self) {
        self.steps.push(vec![Authenticator::SmsOtp]);
    }

    /// The first steps a set of flows offers, without repeats, in a stable order (password,
    /// magic link, then providers by name).
    pub fn first_steps<'a>(flows: impl Iterator<Item = &'a SignInFlow>) -> Vec<Authenticator> {
        let mut all: Vec<Authenticator> = Vec::new();
        for flow in flows {
            for a in flow.steps.first().into_iter().flatten() {
                if !all.contains(a) {
                    all.push(a.clone());
                }
            }
        }
        all.sort_by_key(|a| {
            let name = match a {
                Authenticator::Federated(name) => name.clone(),
                _ => String::new(),
            };
            (a.factor().order(), name)
        });
        all
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

    /// True when the flow asks for a second factor: some step offers only second factors
    /// (authenticators that do not identify, or a passkey, which proves two at once; a step of
    /// first-step methods, such as a password then a magic link, proves the same kind of thing
    /// twice and earns no `mfa`).
    pub fn is_multi_factor(&self) -> bool {
        self.steps
            .iter()
            .any(|step| step.iter().all(Authenticator::second_factor))
    }

    /// The form it is stored in.
    pub fn to_names(&self) -> Vec<Vec<String>> {
        self.steps
            .iter()
            .map(|s| s.iter().map(ToString::to_string).collect())
            .collect()
    }
}

impl Serialize for Authenticator {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Authenticator {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The `acr` of a sign-in with one factor (documented in the README).
pub const ACR_PASSWORD: &str = "urn:sesame:acr:password";
/// The `acr` of a sign-in with a second factor after the first.
pub const ACR_MFA: &str = "urn:sesame:acr:mfa";

/// One authenticator a user passed, and when. Sign-ins in progress and sessions keep a list of
/// these; the flow engine compares it with what an application's flow asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passed {
    pub method: Authenticator,
    pub at: i64,
}

/// What a sign-in or a session has passed so far (stored as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PassedList(pub Vec<Passed>);

impl PassedList {
    /// Reads the stored form; an unreadable record counts as nothing passed (the user signs in
    /// again, which is safe).
    pub fn from_json(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("passed lists serialize")
    }

    pub fn has(&self, a: &Authenticator) -> bool {
        self.0.iter().any(|p| &p.method == a)
    }

    /// Records `method` as passed at `at` (replacing an earlier pass of the same method).
    pub fn add(&mut self, method: Authenticator, at: i64) {
        self.0.retain(|p| p.method != method);
        self.0.push(Passed { method, at });
    }

    /// Merges another record into this one (the later time of each method wins).
    pub fn merge(&mut self, other: &PassedList) {
        for p in &other.0 {
            match self.0.iter_mut().find(|q| q.method == p.method) {
                Some(q) => q.at = q.at.max(p.at),
                None => self.0.push(p.clone()),
            }
        }
    }

    /// When the user was first identified (the first-step authenticator), if they were.
    pub fn identified_at(&self) -> Option<i64> {
        self.0
            .iter()
            .filter(|p| p.method.identifies())
            .map(|p| p.at)
            .min()
    }

    fn second_factor(&self) -> bool {
        self.0.iter().any(|p| p.method.second_factor())
    }

    /// RFC 8176 method references: what each passed factor adds (see `authn::factor`: a
    /// password is `pwd`, a magic link `email`, a federated sign-in `fed`, an SMS OTP `sms` and
    /// `otp`, a backup code `otp`); a second factor after the first adds `mfa`.
    pub fn amr(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for p in &self.0 {
            for v in p.method.factor().amr() {
                if !out.contains(v) {
                    out.push(v);
                }
            }
        }
        if self.identified_at().is_some() && self.second_factor() && !out.contains(&"mfa") {
            out.push("mfa");
        }
        out
    }

    /// The `acr`: whether a second factor followed the first.
    pub fn acr(&self) -> &'static str {
        if self.identified_at().is_some() && self.second_factor() {
            ACR_MFA
        } else {
            ACR_PASSWORD
        }
    }
}

impl SignInFlow {
    /// The first step none of whose authenticators was passed: what the user must do next.
    /// `None` means the flow is complete.
    pub fn next_step(&self, passed: &PassedList) -> Option<&[Authenticator]> {
        self.steps
            .iter()
            .find(|step| !step.iter().any(|a| passed.has(a)))
            .map(Vec::as_slice)
    }

    /// The flow an authorization must satisfy: the application's, made multi-factor when the
    /// client asks only for [`ACR_MFA`] in `acr_values` and the application's flow is not.
    pub fn required(app_flow: &SignInFlow, backup_codes: bool, acr_values: &[String]) -> Self {
        let wants_mfa = !acr_values.is_empty() && acr_values.iter().all(|v| v == ACR_MFA);
        if wants_mfa && !app_flow.is_multi_factor() {
            let mut steps = app_flow.steps.clone();
            let mut second = vec![Authenticator::SmsOtp];
            if backup_codes {
                second.push(Authenticator::BackupCode);
            }
            // A factor of the flow that proves two at once (a passkey) satisfies it too.
            for a in steps.iter().flatten() {
                if a.factor().multi_factor() && !second.contains(a) {
                    second.push(a.clone());
                }
            }
            steps.push(second);
            Self { steps }
        } else {
            app_flow.clone()
        }
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
            err(&[&["password"], &["email_otp"]], true).contains("only offered beside sms_otp")
        );
        assert_eq!(
            err(&[&["magic_link"], &["sms_otp", "email_otp"]], true),
            "step 2: email_otp cannot follow magic_link (step 1): both prove access to the same \
             email address"
        );
        assert_eq!(
            err(
                &[&["password"], &["sms_otp", "email_otp"], &["magic_link"]],
                true
            ),
            "step 3: magic_link cannot follow email_otp (step 2): both prove access to the same \
             email address"
        );
        SignInFlow::new(
            vec![
                vec![Authenticator::Password, Authenticator::MagicLink],
                vec![Authenticator::SmsOtp],
            ],
            true,
        )
        .unwrap();
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

    #[test]
    fn two_first_steps_are_not_multi_factor() {
        let twice = SignInFlow::parse(&names(&[&["password"], &["magic_link"]]), true).unwrap();
        assert!(!twice.is_multi_factor());
        // An `acr_values=mfa` request adds the second factor it lacks, so the `acr` it earns is
        // really `mfa`.
        let required = SignInFlow::required(&twice, true, &[ACR_MFA.to_string()]);
        assert_eq!(required.steps().len(), 3);
        let mut passed = PassedList::default();
        passed.add(Authenticator::Password, 1);
        passed.add(Authenticator::MagicLink, 2);
        assert_eq!(passed.acr(), ACR_PASSWORD);
        assert_eq!(
            required.next_step(&passed),
            Some(&[Authenticator::SmsOtp, Authenticator::BackupCode][..])
        );
        passed.add(Authenticator::SmsOtp, 3);
        assert_eq!((required.next_step(&passed), passed.acr()), (None, ACR_MFA));
    }

    #[test]
    fn the_engine_asks_only_for_missing_steps() {
        let flow = SignInFlow::password_then_sms_otp(true);
        let mut passed = PassedList::default();
        assert_eq!(
            flow.next_step(&passed),
            Some(&[Authenticator::Password][..])
        );
        passed.add(Authenticator::Password, 10);
        assert_eq!(
            flow.next_step(&passed),
            Some(&[Authenticator::SmsOtp, Authenticator::BackupCode][..])
        );
        assert_eq!(passed.amr(), vec!["pwd"]);
        assert_eq!(passed.acr(), ACR_PASSWORD);
        assert_eq!(SignInFlow::password_only().next_step(&passed), None);

        let mut with_backup = passed.clone();
        with_backup.add(Authenticator::BackupCode, 20);
        assert_eq!(flow.next_step(&with_backup), None);
        assert_eq!(with_backup.amr(), vec!["pwd", "otp", "mfa"]);
        assert_eq!(with_backup.acr(), ACR_MFA);

        passed.add(Authenticator::SmsOtp, 30);
        assert_eq!(flow.next_step(&passed), None);
        assert_eq!(passed.amr(), vec!["pwd", "sms", "otp", "mfa"]);
        assert_eq!(passed.identified_at(), Some(10));
        let round = PassedList::from_json(&passed.to_json());
        assert_eq!(round, passed);
        assert_eq!(PassedList::from_json("garbage"), PassedList::default());
    }

    #[test]
    fn acr_values_for_mfa_add_a_second_factor_to_single_factor_apps() {
        let single = SignInFlow::password_only();
        let mfa = vec![ACR_MFA.to_string()];
        assert_eq!(
            SignInFlow::required(&single, false, &mfa),
            SignInFlow::password_then_sms_otp(false)
        );
        assert_eq!(SignInFlow::required(&single, false, &[]), single);
        // A client that also accepts the password acr gets the application's flow.
        let either = vec![ACR_MFA.to_string(), ACR_PASSWORD.to_string()];
        assert_eq!(SignInFlow::required(&single, false, &either), single);
    }

    #[test]
    fn a_passkey_identifies_and_proves_two_factors() {
        let parse = |steps: &[&[&str]]| SignInFlow::parse(&names(steps), true);
        // Alone, it is a whole multi-factor sign-in.
        let alone = parse(&[&["passkey"]]).unwrap();
        assert!(alone.is_multi_factor());
        let key = Authenticator::parse("passkey").unwrap();
        let mut passed = PassedList::default();
        passed.add(key.clone(), 10);
        assert_eq!(alone.next_step(&passed), None);
        assert_eq!(passed.acr(), ACR_MFA);
        assert_eq!(passed.amr(), vec!["swk", "user", "mfa"]);
        // After a password, it is the second factor.
        let second = parse(&[&["password"], &["passkey"]]).unwrap();
        assert!(second.is_multi_factor());
        let mut with_password = PassedList::default();
        with_password.add(Authenticator::Password, 10);
        with_password.add(key.clone(), 11);
        assert_eq!(with_password.amr(), vec!["pwd", "swk", "user", "mfa"]);
        // In both steps: a passkey at the first one passes the second too.
        let either = parse(&[&["password", "passkey"], &["sms_otp", "passkey"]]).unwrap();
        assert!(either.is_multi_factor());
        assert_eq!(either.next_step(&passed), None);
        // Beside a password it does not make the step multi-factor: a client asking for `mfa`
        // gets a second step, which the passkey satisfies as well.
        let first = parse(&[&["password", "passkey"]]).unwrap();
        assert!(!first.is_multi_factor());
        let required = SignInFlow::required(&first, false, &[ACR_MFA.to_string()]);
        assert_eq!(
            required.to_names(),
            names(&[&["password", "passkey"], &["sms_otp", "passkey"]])
        );
        assert_eq!(required.next_step(&passed), None);
        // Listed before a password, a passkey still opens the sign-in page (which offers both);
        // beside codes, its own page.
        use crate::authn::outcome::StepKind;
        assert_eq!(
            StepKind::of(&[key.clone(), Authenticator::Password]),
            StepKind::First
        );
        assert_eq!(
            StepKind::of(&[key.clone(), Authenticator::SmsOtp]),
            StepKind::Key
        );
        assert_eq!(
            StepKind::of(&[Authenticator::SmsOtp, key.clone()]),
            StepKind::SmsOtp
        );
        // Other factors may not stand in for a later step.
        assert_eq!(
            parse(&[&["password"], &["sms_otp", "password"]]).unwrap_err(),
            "step 2: password is already in step 1: one pass would count for both"
        );
    }
}
