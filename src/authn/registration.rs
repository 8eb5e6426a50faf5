//! Self-registration ("Create an account" on the sign-in page): the settings.
//!
//! Off unless the organization turns it on and names the applications whose sign-in page offers
//! it. The form (`http::register`) takes a username, an email address and a password checked by
//! the organization's `password_policy`; nothing is created then. A link goes to the address,
//! and only opening it — in the browser that registered — creates the account, with that
//! address verified: an address nobody controls never gets an account, and an unverified one
//! never holds a username. The answer is the same whether or not the address already belongs to
//! an account (its owner is told by mail instead); the username's availability is the one thing
//! the form has to say, so registrations are limited per client IP.
//!
//! The new account then signs in like any other, through the application's whole flow: where
//! the organization enrolls a second factor during sign-in (`[organizations.enrollment]`), the
//! first sign-in adds it right away.

use serde::{Deserialize, Serialize};

use crate::authn::credentials::Switch;
use crate::authn::flow::{Authenticator, SignInFlow};

/// `[organizations.registration]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationSettings {
    /// Whether users may create accounts themselves (off by default).
    pub enabled: bool,
    /// The client ids of the applications whose sign-in page offers "Create an account"; none
    /// by default, so turning registration on for the organization opens it nowhere by itself.
    pub applications: Vec<String>,
    /// How long the verification link works.
    pub link_lifetime_seconds: i64,
    /// Registrations accepted from one client IP within `window_seconds` (each sends a mail).
    pub max_per_ip: i64,
    pub window_seconds: i64,
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            applications: Vec::new(),
            link_lifetime_seconds: 3600,
            max_per_ip: 10,
            window_seconds: 3600,
        }
    }
}

impl RegistrationSettings {
    /// Checks the bounds; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let check = super::in_range;
        check(
            "link_lifetime_seconds",
            self.link_lifetime_seconds,
            300,
            86_400,
        )?;
        check("max_per_ip", self.max_per_ip, 1, 1000)?;
        check("window_seconds", self.window_seconds, 60, 86_400)?;
        if let Some(bad) = self
            .applications
            .iter()
            .find(|c| crate::domain::ClientId::parse(c).is_err())
        {
            return Err(format!("applications: '{bad}' is not a client id"));
        }
        Ok(())
    }

    /// Whether the organization opened registration to the application `client_id`.
    pub fn offered_to(&self, client_id: &str) -> bool {
        self.enabled && self.applications.iter().any(|c| c == client_id)
    }
}

/// How a new account — a password and a verified address, nothing else — gets through `flow`:
/// `None` when it cannot (so registering there would make an account that never signs in);
/// `Some(true)` when a step needs a second factor the first sign-in adds
/// (`[organizations.enrollment]` `during_sign_in`), `Some(false)` otherwise. The first step must
/// take the password or a sign-in link (a factor is added only once the user is known), and at
/// most one later step may rely on adding a factor: once one is added, the user has a second
/// factor, and no further one is added during sign-in.
pub fn new_account_path(
    enrollment: &crate::authn::credentials::EnrollmentSettings,
    flow: &SignInFlow,
) -> Option<bool> {
    let adds = |name: &str| enrollment.of(name) == Switch::DuringSignIn;
    let (first, later) = flow.steps().split_first()?;
    if !first
        .iter()
        .any(|a| matches!(a, Authenticator::Password | Authenticator::MagicLink))
    {
        return None;
    }
    let mut enrolls = false;
    for step in later {
        // An emailed code goes to the verified address.
        let holds = step.iter().any(|a| {
            matches!(
                a,
                Authenticator::Password | Authenticator::MagicLink | Authenticator::Sent(_)
            )
        });
        if holds {
            continue;
        }
        let added = step.iter().any(|a| match a {
            Authenticator::SmsOtp => adds("sms_otp"),
            Authenticator::Code(name) | Authenticator::Key(name) => adds(name),
            _ => false,
        });
        if !added || enrolls {
            return None;
        }
        enrolls = true;
    }
    Some(enrolls)
}

/// Why registration cannot be offered to an application with `flow`, for import's message.
pub fn refusal(
    enrollment: &crate::authn::credentials::EnrollmentSettings,
    flow: &SignInFlow,
) -> Option<String> {
    new_account_path(enrollment, flow).is_none().then(|| {
        "its sign-in flow asks for something a new account cannot have or add during sign-in \
         (an upstream provider, backup codes, or a second factor whose [organizations.enrollment] \
         switch is not \"during_sign_in\")"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_only_for_the_applications_named() {
        let off = RegistrationSettings::default();
        off.validate().unwrap();
        assert!(!off.offered_to("web"));
        let named_only = RegistrationSettings {
            applications: vec!["web".into()],
            ..Default::default()
        };
        assert!(
            !named_only.offered_to("web"),
            "the organization's switch is off"
        );
        let on = RegistrationSettings {
            enabled: true,
            ..named_only
        };
        assert!(on.offered_to("web"));
        assert!(!on.offered_to("other"));
        let bad = RegistrationSettings {
            applications: vec!["a b".into()],
            ..on.clone()
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            "applications: 'a b' is not a client id"
        );
        let short = RegistrationSettings {
            link_lifetime_seconds: 60,
            ..on
        };
        assert_eq!(
            short.validate().unwrap_err(),
            "link_lifetime_seconds: 60 is out of range 300-86400"
        );
    }

    #[test]
    fn a_new_account_passes_with_a_password_an_address_and_what_it_may_add() {
        use crate::authn::credentials::EnrollmentSettings;
        let flow = |steps: &[&[&str]]| {
            let steps: Vec<Vec<String>> = steps
                .iter()
                .map(|s| s.iter().map(|a| a.to_string()).collect())
                .collect();
            SignInFlow::parse(&steps, true).unwrap()
        };
        let default = EnrollmentSettings::default();
        let during = EnrollmentSettings {
            sms_otp: Switch::DuringSignIn,
            ..Default::default()
        };
        assert_eq!(
            new_account_path(&default, &flow(&[&["password"]])),
            Some(false)
        );
        assert_eq!(
            new_account_path(&default, &flow(&[&["magic_link"]])),
            Some(false)
        );
        let sms = flow(&[&["password"], &["sms_otp", "backup_code"]]);
        assert_eq!(new_account_path(&default, &sms), None);
        assert!(refusal(&default, &sms).unwrap().contains("during_sign_in"));
        assert_eq!(new_account_path(&during, &sms), Some(true));
        assert_eq!(refusal(&during, &sms), None);
        let email = flow(&[&["password"], &["sms_otp", "email_otp"]]);
        assert_eq!(new_account_path(&default, &email), Some(false));
        // A factor is added only once the user is known, and only the first one.
        let keys = EnrollmentSettings {
            passkey: Switch::DuringSignIn,
            totp: Switch::DuringSignIn,
            ..Default::default()
        };
        assert_eq!(new_account_path(&keys, &flow(&[&["passkey"]])), None);
        let two = flow(&[&["password"], &["passkey"], &["totp"]]);
        assert_eq!(new_account_path(&keys, &two), None);
        let one = flow(&[
            &["password", "passkey"],
            &["totp", "sms_otp", "backup_code"],
        ]);
        assert_eq!(new_account_path(&keys, &one), Some(true));
    }
}
