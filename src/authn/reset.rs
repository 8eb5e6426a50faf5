//! Password reset by email ("Forgot your password?" on the sign-in page): the settings.
//!
//! A reset is a sign-in of its own kind (`engine::AccountRequest::Reset`) whose flow is a link
//! mailed to the user's verified address — sent, limited and opened exactly like a magic link,
//! with the same answer whether or not the account exists — and, unless the organization turns
//! it off, the user's second factor. Passing it never opens a session: it only lets this browser
//! choose a new password (`http::reset`), which ends every session, revokes everything issued
//! and voids every open sign-in and unused link of the user. The next sign-in asks for the
//! whole chain again, the second factor included.
//!
//! Only accounts that have a password (and a verified address) can reset one: a mailbox must not
//! add a password to an account that signs in through an upstream provider.

use serde::{Deserialize, Serialize};

/// `[organizations.password_reset]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordResetSettings {
    /// Whether users may reset a forgotten password by email (on by default).
    pub enabled: bool,
    /// Whether a user who has a second factor must pass it before choosing the new password
    /// (on by default). Codes sent by email do not count: the link already proved the mailbox.
    /// Off, the next sign-in still asks for it; but where an application's flow takes a code
    /// by email, the mailbox would pass that sign-in too, so the reset asks for the second
    /// factor there whatever this says.
    pub require_second_factor: bool,
}

impl Default for PasswordResetSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            require_second_factor: true,
        }
    }
}
