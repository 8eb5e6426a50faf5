//! Backup codes: a set of single-use codes per user, the fallback when the phone is away.
//!
//! Codes come from the OS random source over an alphabet without look-alike characters. They are
//! stored as HMAC-SHA256 under a key derived from the key-encryption key (outside the database)
//! and bound to the user, so checking one is a single indexed lookup of its keyed hash: no slow
//! hash per stored code, and a stolen database alone reverses nothing.

use rand::{Rng, TryRngCore};
use serde::{Deserialize, Serialize};

use crate::keys::{Kek, KeyError};
use crate::secret::Secret;

/// Lower-case letters and digits without 0/o, 1/i/l: easy to read off paper.
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";

/// An organization's backup-code settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupCodeSettings {
    /// Codes in a set.
    pub count: usize,
    /// Characters per code (each carries almost 5 bits).
    pub length: usize,
}

impl Default for BackupCodeSettings {
    fn default() -> Self {
        Self {
            count: 10,
            length: 10,
        }
    }
}

impl BackupCodeSettings {
    /// Checks the bounds; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=20).contains(&self.count) {
            return Err(format!("count: {} is out of range 1-20", self.count));
        }
        // Eight characters are 39 bits: with the lock policy, far out of an online guesser's reach.
        if !(8..=20).contains(&self.length) {
            return Err(format!("length: {} is out of range 8-20", self.length));
        }
        Ok(())
    }

    /// A fresh set, each code shown as two halves joined by a hyphen.
    pub fn generate(&self) -> Vec<Secret<String>> {
        let mut rng = rand::rngs::OsRng.unwrap_err();
        (0..self.count)
            .map(|_| {
                let raw: String = (0..self.length)
                    .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                    .collect();
                let (a, b) = raw.split_at(self.length / 2);
                Secret::new(format!("{a}-{b}"))
            })
            .collect()
    }
}

/// A new set of codes: shown once, stored as `hashes` with `store::backup_codes::replace`.
#[derive(Debug)]
pub struct NewSet {
    pub codes: Vec<Secret<String>>,
    pub hashes: Vec<Vec<u8>>,
}

/// A new set for `user_id`.
pub fn new_set(
    kek: &Kek,
    settings: &BackupCodeSettings,
    user_id: &str,
) -> Result<NewSet, KeyError> {
    let codes = settings.generate();
    let hashes = codes
        .iter()
        .map(|c| keyed_hash(kek, user_id, c.expose()))
        .collect::<Result<_, _>>()?;
    Ok(NewSet { codes, hashes })
}

/// Why a set could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Gives the user a new set of codes in place of the old one, recorded and published as an
/// account change in one transaction; the account area and the CLI both come here. `by` says
/// who asked, after the count in the change's detail ("10 codes, by an administrator (CLI)").
/// Returns the codes, to be shown once.
pub fn regenerate(
    conn: &mut crate::store::DbConn,
    kek: &Kek,
    settings: &BackupCodeSettings,
    origin: crate::events::Origin<'_>,
    user_id: &str,
    by: Option<&str>,
) -> Result<Vec<Secret<String>>, SetError> {
    use crate::events::{AccountChangeKind, account_changed};
    let set = new_set(kek, settings, user_id)?;
    let detail = match by {
        Some(who) => format!("{} codes, by {who}", set.codes.len()),
        None => format!("{} codes", set.codes.len()),
    };
    crate::store::write_transaction(conn, |conn| {
        crate::store::backup_codes::replace(conn, user_id, &set.hashes)?;
        account_changed(
            conn,
            origin,
            user_id,
            AccountChangeKind::BackupCodesGenerated,
            &detail,
        )
    })?;
    Ok(set.codes)
}

/// Removes the user's codes, recorded and published as an account change in one transaction.
pub fn remove(
    conn: &mut crate::store::DbConn,
    origin: crate::events::Origin<'_>,
    user_id: &str,
) -> Result<(), crate::store::StoreError> {
    use crate::events::{AccountChangeKind, account_changed};
    crate::store::write_transaction(conn, |conn| {
        crate::store::backup_codes::remove(conn, user_id)?;
        account_changed(
            conn,
            origin,
            user_id,
            AccountChangeKind::BackupCodesRemoved,
            "",
        )
    })
}

/// What a user typed, normalized: spaces and hyphens dropped, lower case.
pub fn normalize(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The stored form of a code of `user_id`: HMAC-SHA256 under a key outside the database.
pub fn keyed_hash(kek: &Kek, user_id: &str, code: &str) -> Result<Vec<u8>, KeyError> {
    Ok(kek
        .mac(
            "backup-code",
            format!("{user_id}\n{}", normalize(code)).as_bytes(),
        )?
        .to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_have_the_configured_size_and_alphabet() {
        let s = BackupCodeSettings::default();
        let set = s.generate();
        assert_eq!(set.len(), 10);
        for code in &set {
            let n = normalize(code.expose());
            assert_eq!(n.len(), 10);
            assert!(n.bytes().all(|b| ALPHABET.contains(&b)), "{n}");
            assert_eq!(code.expose().len(), 11, "shown with one hyphen");
        }
        let mut distinct: Vec<_> = set.iter().map(|c| c.expose().clone()).collect();
        distinct.dedup();
        assert_eq!(distinct.len(), 10);
        assert!(
            BackupCodeSettings {
                count: 0,
                ..s.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            BackupCodeSettings { length: 6, ..s }
                .validate()
                .unwrap_err()
                .starts_with("length")
        );
    }

    #[test]
    fn hashes_are_keyed_bound_to_the_user_and_ignore_formatting() {
        let kek = Kek::new(Secret::new([5u8; 32]));
        let h = keyed_hash(&kek, "u1", "abcde-fghjk").unwrap();
        assert_eq!(h, keyed_hash(&kek, "u1", " ABCDE FGHJK ").unwrap());
        assert_ne!(h, keyed_hash(&kek, "u2", "abcde-fghjk").unwrap());
        assert_ne!(
            h,
            keyed_hash(&Kek::new(Secret::new([6u8; 32])), "u1", "abcdefghjk").unwrap()
        );
    }
}
