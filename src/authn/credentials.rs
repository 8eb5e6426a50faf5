//! The server's side of plug-in factors' credentials: sealing the plug-in's bytes under the
//! key-encryption key (AES-256-GCM, the row's id and factor as associated data, so a sealed
//! value moved to another row does not open), enrolling (a pending row, confirmed by its first
//! code), removing, and who may enroll where (`[organizations.enrollment]`). The step that
//! checks codes is `engine::credential`.

use serde::{Deserialize, Serialize};
use sesame_plugin_api::factor::{Check, CodeFactor, CredentialData, Enrollee, FactorError, Shown};

use crate::events::{AccountChangeKind, Origin, account_changed};
use crate::keys::{Kek, KeyError};
use crate::store::credentials::Credential;
use crate::store::{DbConn, StoreError, write_transaction};

/// Who may enroll a factor themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Switch {
    /// In the account area, and during a sign-in whose step needs the factor when the user has
    /// no second factor at all (the guide's progressive enrollment).
    DuringSignIn,
    /// In the account area only (after a fresh pass through the user's chain).
    #[default]
    AccountArea,
    /// Not by the user: an administrator provisions it.
    Off,
}

/// The enrollment switches (`[organizations.enrollment]`). For SMS OTP, `account_area` keeps
/// the account area's rules (`sms_otp.enroll_with_password_only` for users without a second
/// factor).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnrollmentSettings {
    /// Mobile numbers (SMS OTP).
    pub sms_otp: Switch,
    /// Authenticator apps.
    pub totp: Switch,
    /// Passkeys.
    pub passkey: Switch,
}

impl EnrollmentSettings {
    /// The switch of the factor `name` (the default for a factor without one).
    pub fn of(&self, name: &str) -> Switch {
        match name {
            "sms_otp" => self.sms_otp,
            "totp" => self.totp,
            "passkey" => self.passkey,
            _ => Switch::default(),
        }
    }
}

/// The associated data a credential is sealed with: its row, user, organization and factor, so a
/// sealed value copied to another row or another user's account does not open.
fn context(c: &Credential) -> Vec<u8> {
    format!(
        "credential:{}:{}:{}:{}",
        c.organization_id, c.user_id, c.factor, c.id
    )
    .into_bytes()
}

/// Seals `data` for the row `c` (whose `sealed` it becomes).
pub fn seal(kek: &Kek, c: &Credential, data: &CredentialData) -> Result<Vec<u8>, KeyError> {
    kek.seal(data.expose(), &context(c))
}

pub fn open(kek: &Kek, c: &Credential) -> Result<CredentialData, KeyError> {
    kek.open(&c.sealed, &context(c)).map(CredentialData::new)
}

/// An enrollment started: the pending row's id and what the page shows.
#[derive(Debug)]
pub struct Started {
    pub id: String,
    pub shown: Shown,
}

/// Why an enrollment did not finish.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// The pending credential is unknown, another user's or past its lifetime.
    #[error("this setup has expired")]
    Expired,
    #[error("the code is not right")]
    Wrong,
    /// A key (a passkey's credential id) registered already, to this or another account.
    #[error("this key is registered already")]
    Taken,
    /// The plug-in cannot make a setup for these names (e.g. too long for a QR code).
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl EnrollError {
    /// As a store error, for `Db::run` (which only carries those).
    pub fn into_store(self) -> StoreError {
        match self {
            Self::Store(e) => e,
            other => StoreError::Corrupt(other.to_string()),
        }
    }
}

/// One user's enrollment of one factor: everything but the connection and the code.
#[derive(Debug, Clone, Copy)]
pub struct Enrollment<'a> {
    pub kek: &'a Kek,
    pub factor: &'static dyn CodeFactor,
    /// The organization (its id, and where the account-change event goes).
    pub origin: Origin<'a>,
    pub user_id: &'a str,
    /// How the user's app names the credential.
    pub who: Enrollee<'a>,
    /// The organization's settings of the factor (`[organizations.factors.NAME]`).
    pub settings: &'a serde_json::Value,
    pub now: i64,
}

impl Enrollment<'_> {
    fn internal(e: impl std::fmt::Display) -> EnrollError {
        EnrollError::Internal(e.to_string())
    }

    fn plugin(e: FactorError) -> EnrollError {
        match e {
            FactorError::Input(e) => EnrollError::Input(e),
            FactorError::Internal(e) => EnrollError::Internal(e),
        }
    }

    /// Starts an enrollment: a new pending credential (replacing the user's earlier pending
    /// ones), saved sealed, and what the user needs to set up their device.
    pub fn begin(&self, conn: &mut DbConn) -> Result<Started, EnrollError> {
        let credential = self
            .factor
            .new_credential(self.settings)
            .map_err(Self::plugin)?;
        let shown = self
            .factor
            .shown(&credential, self.who)
            .map_err(Self::plugin)?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut row = Credential {
            id: id.clone(),
            organization_id: self.origin.organization_id,
            user_id: self.user_id.to_string(),
            factor: self.factor.name().to_string(),
            name: capitalized(self.factor.label()),
            sealed: Vec::new(),
            version: 0,
            created_at: self.now,
            confirmed_at: None,
            last_used_at: None,
            lookup: None,
        };
        row.sealed = seal(self.kek, &row, &credential).map_err(Self::internal)?;
        write_transaction(conn, |conn| {
            Credential::purge_pending(conn, self.user_id, self.now)?;
            Credential::insert(conn, &row)
        })?;
        Ok(Started { id, shown })
    }

    /// The user's pending credential still within its lifetime, or a new one: what a sign-in's
    /// setup shows, the same on every reload until its first code is entered.
    pub fn pending_or_new(&self, conn: &mut DbConn) -> Result<Started, EnrollError> {
        match Credential::latest_pending(conn, self.user_id, self.factor.name(), self.now)? {
            Some(c) => Ok(Started {
                shown: self.shown(&c)?,
                id: c.id,
            }),
            None => self.begin(conn),
        }
    }

    /// The setup of the user's pending credential `id` again (after a wrong first code).
    pub fn shown_again(&self, conn: &mut DbConn, id: &str) -> Result<Option<Shown>, EnrollError> {
        match self.pending(conn, id)? {
            Some(c) => self.shown(&c).map(Some),
            None => Ok(None),
        }
    }

    fn pending(&self, conn: &mut DbConn, id: &str) -> Result<Option<Credential>, StoreError> {
        Ok(Credential::pending(conn, self.user_id, id, self.now)?
            .filter(|c| c.factor == self.factor.name()))
    }

    fn shown(&self, c: &Credential) -> Result<Shown, EnrollError> {
        let data = open(self.kek, c).map_err(Self::internal)?;
        self.factor.shown(&data, self.who).map_err(Self::plugin)
    }

    /// Finishes the enrollment with its first code, in one transaction: see [`Self::confirm_in`].
    pub fn confirm(
        &self,
        conn: &mut DbConn,
        id: &str,
        code: &str,
    ) -> Result<Credential, EnrollError> {
        write_transaction(conn, |conn| self.confirm_in(conn, id, code))?
    }

    /// The pending credential `id` confirmed by its first code (that code's time step spent with
    /// it), recorded as an account change and published, in the caller's transaction (a sign-in
    /// step that enrolls and passes at once uses its own).
    pub fn confirm_in(
        &self,
        conn: &mut DbConn,
        id: &str,
        code: &str,
    ) -> Result<Result<Credential, EnrollError>, StoreError> {
        let corrupt = |e: KeyError| StoreError::Corrupt(e.to_string());
        let Some(mut pending) = self.pending(conn, id)? else {
            return Ok(Err(EnrollError::Expired));
        };
        let data = open(self.kek, &pending).map_err(corrupt)?;
        let Check::Passed(data) = self.factor.check(&data, code, self.now) else {
            return Ok(Err(EnrollError::Wrong));
        };
        let sealed = seal(self.kek, &pending, &data).map_err(corrupt)?;
        let now = Some(self.now);
        if !Credential::save_if_unchanged(conn, id, pending.version, &sealed, now, now)? {
            return Ok(Err(EnrollError::Expired));
        }
        // The new app is what the user will most likely reach for next.
        crate::store::users::User::set_last_second_factor(conn, self.user_id, self.factor.name())?;
        account_changed(
            conn,
            self.origin,
            self.user_id,
            AccountChangeKind::CredentialAdded,
            self.factor.label(),
        )?;
        pending.confirmed_at = now;
        Ok(Ok(pending))
    }
}

fn capitalized(label: &str) -> String {
    let mut chars = label.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Removes one of the user's credentials, recorded and published; false when it was not theirs.
pub fn remove(
    conn: &mut DbConn,
    origin: Origin<'_>,
    user_id: &str,
    id: &str,
) -> Result<bool, StoreError> {
    write_transaction(conn, |conn| {
        let Some(c) = Credential::of_user(conn, user_id)?
            .into_iter()
            .find(|c| c.id == id)
        else {
            return Ok(false);
        };
        Credential::remove(conn, user_id, id)?;
        let label =
            crate::authn::factor::by_name(&c.factor).map_or(c.factor.as_str(), |f| f.label());
        account_changed(
            conn,
            origin,
            user_id,
            AccountChangeKind::CredentialRemoved,
            label,
        )?;
        Ok(true)
    })
}
