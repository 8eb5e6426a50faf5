//! What a password a user chooses must be: NIST SP 800-63B-4 (§3.1.1.2) rather than
//! composition rules. A minimum length (8 by default, the floor NIST sets for a password used
//! with a second factor; 15 is its floor for a password used alone, which an organization whose
//! applications ask for the password only should set), at most [`MAX_LENGTH`] characters (NIST
//! asks to allow at least 64), any characters, no rule on their kinds, and refused when it is
//! one of the most common breached passwords (a bundled list, `common.txt`: 3,309 entries of 8
//! characters or more from the SecLists "10 million passwords" top 10,000), one character
//! repeated, or contains the username, the email address (or its local part) or the
//! organization's slug (each of 4 characters or more).
//!
//! Length counts Unicode scalar values, as NIST counts characters. It applies to the passwords
//! users choose in the account area; administrators and provisioning files set passwords under
//! their own rule (8 characters at least).

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The longest password accepted.
pub const MAX_LENGTH: usize = 128;

/// An organization's password policy (`[organizations.password_policy]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// The fewest characters: 8 to 64.
    pub min_length: usize,
    /// Refuse the passwords of the bundled list of common breached passwords.
    pub refuse_common: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            refuse_common: true,
        }
    }
}

/// The words a password must not contain: shorter ones would refuse too much by chance.
const SHORTEST_WORD: usize = 4;

impl PasswordPolicy {
    /// Checks the bounds; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(8..=64).contains(&self.min_length) {
            return Err(format!(
                "min_length: {} is out of range 8-64",
                self.min_length
            ));
        }
        Ok(())
    }

    /// Whether `password` may be chosen; `words` are the user's and the organization's names
    /// (username, email address and its local part, organization slug) it must not contain,
    /// each compared whole, case aside, when it has 4 characters or more.
    /// The error is a sentence for the user, in the current request's language (English
    /// outside a request).
    pub fn check(&self, password: &str, words: &[&str]) -> Result<(), String> {
        use crate::i18n::text;
        let length = password.chars().count();
        if length < self.min_length {
            let min = i64::try_from(self.min_length).unwrap_or(i64::MAX);
            return Err(text("forms-policy-too-short", &[("min", min.into())]));
        }
        if length > MAX_LENGTH {
            let max = i64::try_from(MAX_LENGTH).unwrap_or(i64::MAX);
            return Err(text("forms-policy-too-long", &[("max", max.into())]));
        }
        let lower = password.to_lowercase();
        let mut chars = lower.chars();
        if let Some(first) = chars.next()
            && chars.all(|c| c == first)
        {
            return Err(text("forms-policy-repeated", &[]));
        }
        if words
            .iter()
            .map(|w| w.trim().to_lowercase())
            .any(|w| w.chars().count() >= SHORTEST_WORD && lower.contains(&w))
        {
            return Err(text("forms-policy-names", &[]));
        }
        if self.refuse_common && common().contains(lower.as_str()) {
            return Err(text("forms-policy-common", &[]));
        }
        Ok(())
    }
}

/// The bundled list, lower-case, read once.
fn common() -> &'static HashSet<&'static str> {
    static COMMON: OnceLock<HashSet<&'static str>> = OnceLock::new();
    COMMON.get_or_init(|| {
        include_str!("common.txt")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_read_and_holds_what_attackers_try_first() {
        assert_eq!(common().len(), 3309);
        for p in ["password", "12345678", "iloveyou", "trustno1", "password1"] {
            assert!(common().contains(p), "{p}");
        }
        assert!(common().iter().all(|p| p.chars().count() >= 8));
    }

    #[test]
    fn passwords_are_judged_by_length_and_lists_not_composition() {
        let policy = PasswordPolicy::default();
        let words = ["alice", "alice@example.com", "alice", "acme"];
        assert!(policy.check("correct horse battery staple", &words).is_ok());
        // No composition rule: all lower-case letters is fine, so is any script.
        assert!(policy.check("plainlowercasewords", &words).is_ok());
        assert!(policy.check("pässwörtchen-über-alles", &words).is_ok());
        assert!(
            policy
                .check("short", &words)
                .unwrap_err()
                .contains("at least 8")
        );
        // Characters, not bytes: 8 two-byte letters are 8.
        assert!(policy.check("ääääöööö", &words).is_ok());
        assert!(policy.check(&"x".repeat(129), &words).is_err());
        assert!(policy.check("aaaaaaaaaaaa", &words).is_err());
        assert!(
            policy
                .check("PassWord1", &words)
                .unwrap_err()
                .contains("commonly used")
        );
        assert!(
            policy
                .check("Alice-in-wonderland", &words)
                .unwrap_err()
                .contains("username")
        );
        assert!(policy.check("my-acme-password!", &words).is_err());
        // Short words are not held against a password.
        assert!(policy.check("bob-builds-bridges", &["bob"]).is_ok());
        let open = PasswordPolicy {
            min_length: 12,
            refuse_common: false,
        };
        assert!(open.check("password1234", &[]).is_ok());
        assert!(open.check("password123", &[]).is_err());
        assert!(
            PasswordPolicy {
                min_length: 7,
                ..open.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            PasswordPolicy {
                min_length: 65,
                ..open
            }
            .validate()
            .is_err()
        );
    }
}
