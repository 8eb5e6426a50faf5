//! The server's side of plug-in factors' credentials: sealing the plug-in's bytes under the
//! key-encryption key (AES-256-GCM, the row's id and factor as associated data, so a sealed
//! value moved to another row does not open), enrolling (a pending row, confirmed by its first
//! code) and removing. The step that checks codes is `engine::credential`.

use sesame_plugin_api::factor::{Check, CodeFactor, CredentialData, Enrollee, Shown};

use crate::events::{AccountChangeKind, Origin, account_changed};
use crate::keys::{Kek, KeyError};
use crate::store::credentials::Credential;
use crate::store::{DbConn, StoreError, write_transaction};

fn context(id: &str, factor: &str) -> Vec<u8> {
    format!("credential:{factor}:{id}").into_bytes()
}

pub fn seal(kek: &Kek, id: &str, factor: &str, data: &CredentialData) -> Result<Vec<u8>, KeyError> {
    kek.seal(data.expose(), &context(id, factor))
}

pub fn open(kek: &Kek, c: &Credential) -> Result<CredentialData, KeyError> {
    kek.open(&c.sealed, &context(&c.id, &c.factor))
        .map(CredentialData::new)
}

/// An enrollment started: the pending row's id and what the page shows once.
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
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// Starts enrolling `factor` for the user: a new pending credential (replacing any earlier
/// pending one of theirs), saved sealed, and what the user needs to set up their device.
pub fn begin(
    conn: &mut DbConn,
    kek: &Kek,
    factor: &'static dyn CodeFactor,
    who: Enrollee<'_>,
    organization_id: i64,
    user_id: &str,
    now: i64,
) -> Result<Started, EnrollError> {
    let enrolling = factor
        .enroll(who)
        .map_err(|e| EnrollError::Internal(e.to_string()))?;
    let id = uuid::Uuid::new_v4().to_string();
    let sealed = seal(kek, &id, factor.name(), &enrolling.credential)
        .map_err(|e| EnrollError::Internal(e.to_string()))?;
    let row = Credential {
        id: id.clone(),
        organization_id,
        user_id: user_id.to_string(),
        factor: factor.name().to_string(),
        name: capitalized(factor.label()),
        sealed,
        version: 0,
        created_at: now,
        confirmed_at: None,
        last_used_at: None,
    };
    write_transaction(conn, |conn| {
        Credential::purge_pending(conn, user_id, now)?;
        Credential::insert(conn, &row)
    })?;
    Ok(Started {
        id,
        shown: enrolling.shown,
    })
}

fn capitalized(label: &str) -> String {
    let mut chars = label.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Finishes an enrollment with its first code: the credential is confirmed (and that code's
/// time step spent), recorded as an account change and published, in one transaction.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site each, all of them plain values"
)]
pub fn confirm(
    conn: &mut DbConn,
    kek: &Kek,
    factor: &'static dyn CodeFactor,
    origin: Origin<'_>,
    user_id: &str,
    id: &str,
    code: &str,
    now: i64,
) -> Result<Credential, EnrollError> {
    write_transaction(conn, |conn| {
        let Some(mut pending) =
            Credential::pending(conn, user_id, id, now)?.filter(|c| c.factor == factor.name())
        else {
            return Ok(Err(EnrollError::Expired));
        };
        let data = open(kek, &pending).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let Check::Passed(data) = factor.check(&data, code, now) else {
            return Ok(Err(EnrollError::Wrong));
        };
        let sealed =
            seal(kek, id, factor.name(), &data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if !Credential::save_if_unchanged(conn, id, pending.version, &sealed, Some(now), Some(now))?
        {
            return Ok(Err(EnrollError::Expired));
        }
        account_changed(
            conn,
            origin,
            user_id,
            AccountChangeKind::CredentialAdded,
            factor.label(),
        )?;
        pending.confirmed_at = Some(now);
        Ok(Ok(pending))
    })?
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
            crate::authn::factor::code_factor(&c.factor).map_or(c.factor.as_str(), |f| f.label());
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
