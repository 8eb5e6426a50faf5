//! The server's side of key factors (passkeys; see `authn::factor::KEY_FACTORS`): the relying
//! party derived from the base URL, the user handle, the ceremonies' states kept sealed and used
//! once, and registering a key (a pending credential row holds the registration's state until
//! the browser's answer confirms it). The sign-in step is `engine::key`.
//!
//! Decisions:
//! - The relying party id is the base URL's host name, the origin its scheme, host and port: a
//!   deployment on an IP address cannot use passkeys (browsers refuse addresses as RP ids).
//! - The user handle is the user's id when that is a UUID (Sesame makes them so), else the first
//!   16 bytes of its SHA-256: opaque, stable, never personal data.
//! - Every key is registered discoverable (`residentKey: required`) with user verification
//!   required, as passkeys are.
//! - A key id (credential id) belongs to one account: registering one already registered is
//!   refused (WebAuthn § 7.1 step 22).

use sesame_plugin_api::factor::{CredentialData, FactorError};
use sesame_plugin_api::key::{KeyFactor, KeyHolder, RelyingParty};

use super::credentials::{EnrollError, open, seal};
use crate::config::BaseUrl;
use crate::events::{AccountChangeKind, Origin, account_changed};
use crate::keys::Kek;
use crate::secret::{random_token, sha256_hex};
use crate::state::OrgEntry;
use crate::store::ceremonies::{self, Ceremony};
use crate::store::credentials::Credential;
use crate::store::users::User;
use crate::store::{DbConn, StoreError, write_transaction};

/// The relying party of a deployment: its base URL's host name and origin.
#[derive(Debug, Clone)]
pub struct Party {
    pub id: String,
    pub origin: String,
}

impl Party {
    /// `None` when the base URL's host is an address.
    pub fn of(base: &BaseUrl) -> Option<Self> {
        Some(Self {
            id: base.domain()?,
            origin: base.origin(),
        })
    }

    /// As the plug-in takes it, named for an organization.
    pub fn named<'a>(&'a self, name: &'a str) -> RelyingParty<'a> {
        RelyingParty {
            id: &self.id,
            origin: &self.origin,
            name,
        }
    }
}

/// The WebAuthn user handle of a user id.
pub fn handle_of(user_id: &str) -> [u8; 16] {
    use sha2::Digest;
    match uuid::Uuid::parse_str(user_id) {
        Ok(u) => *u.as_bytes(),
        Err(_) => {
            let digest = sha2::Sha256::digest(format!("sesame-user-handle:{user_id}"));
            let mut handle = [0u8; 16];
            handle.copy_from_slice(&digest[..16]);
            handle
        }
    }
}

/// A registration's failed transaction as the user hears of it: the key id's uniqueness refused
/// the row (two registrations of one key at once on PostgreSQL, where both passed the check
/// before either wrote) is "registered already", not a server error.
pub fn taken_or(e: StoreError) -> EnrollError {
    match e {
        StoreError::Conflict(_) => EnrollError::Taken,
        other => EnrollError::Store(other),
    }
}

/// The stored form of a key id: its SHA-256, hex.
pub fn lookup_of(key_id: &[u8]) -> String {
    sha256_hex(key_id)
}

/// What binds a ceremony of `factor` to the sign-in `tx_id`.
pub fn bound_to(factor: &str, tx_id: &str) -> String {
    format!("{factor}:{tx_id}")
}

fn ceremony_context(id: &str, bound_to: &str, factor: &str) -> Vec<u8> {
    format!("ceremony:{factor}:{bound_to}:{id}").into_bytes()
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Keeps a ceremony's state, sealed, bound to `bound_to`: the id the page carries back.
pub fn keep_ceremony(
    conn: &mut DbConn,
    kek: &Kek,
    factor: &str,
    bound_to: &str,
    state: &CredentialData,
    now: i64,
) -> Result<String, StoreError> {
    let id = random_token(24).expose().clone();
    let sealed = kek
        .seal(state.expose(), &ceremony_context(&id, bound_to, factor))
        .map_err(corrupt)?;
    Ceremony::insert(
        conn,
        &Ceremony {
            id: id.clone(),
            bound_to: bound_to.to_string(),
            factor: factor.to_string(),
            sealed,
            created_at: now,
            expires_at: now + ceremonies::LIFETIME,
            used_at: None,
        },
    )?;
    Ok(id)
}

/// The state of the ceremony `id` bound to `bound_to`, claimed (never again): `None` when it is
/// unknown, used, expired or another factor's.
pub fn claim_ceremony(
    conn: &mut DbConn,
    kek: &Kek,
    factor: &str,
    bound_to: &str,
    id: &str,
    now: i64,
) -> Result<Option<CredentialData>, StoreError> {
    let Some(c) = Ceremony::claim(conn, id, bound_to, now)? else {
        return Ok(None);
    };
    if c.factor != factor {
        return Ok(None);
    }
    kek.open(&c.sealed, &ceremony_context(&c.id, &c.bound_to, &c.factor))
        .map(|state| Some(CredentialData::new(state)))
        .map_err(corrupt)
}

/// The user's keys of `factor`, opened (a key that does not open is skipped and logged, so it
/// cannot lock the user out of their others), with their rows.
pub fn held_keys(
    conn: &mut DbConn,
    kek: &Kek,
    user_id: &str,
    factor: &str,
) -> Result<Vec<(Credential, CredentialData)>, StoreError> {
    Ok(Credential::confirmed(conn, user_id, factor)?
        .into_iter()
        .filter_map(|c| match open(kek, &c) {
            Ok(data) => Some((c, data)),
            Err(error) => {
                tracing::error!(credential = %c.id, %error, "a key does not open: skipped");
                None
            }
        })
        .collect())
}

/// Saves a key that just signed (`credential`: its new state, when the assertion changed it) with
/// its last use, if no other request changed it meanwhile: false when one did (that one won).
pub fn save_used(
    conn: &mut DbConn,
    kek: &Kek,
    c: &Credential,
    credential: Option<CredentialData>,
    now: i64,
) -> Result<bool, StoreError> {
    let sealed = match credential {
        Some(data) => seal(kek, c, &data).map_err(corrupt)?,
        None => c.sealed.clone(),
    };
    Credential::save_if_unchanged(conn, &c.id, c.version, &sealed, c.confirmed_at, Some(now))
}

/// One user's registration of a key: everything but the connection and the answer.
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    pub kek: &'a Kek,
    pub factor: &'static dyn KeyFactor,
    /// The organization (its id, and where the account-change event goes).
    pub origin: Origin<'a>,
    pub user: &'a User,
    pub rp: RelyingParty<'a>,
    pub now: i64,
}

/// A registration begun: the pending row's id and the browser's options.
#[derive(Debug)]
pub struct Begun {
    pub id: String,
    pub options: serde_json::Value,
}

/// The most a key's name may hold, in characters.
pub const NAME_MAX: usize = 64;

/// A key's name as the user typed it, trimmed; `None` when it is empty, too long or holds
/// control characters.
pub fn key_name(typed: &str) -> Option<String> {
    let name = typed.trim();
    (!name.is_empty() && name.chars().count() <= NAME_MAX && !name.chars().any(char::is_control))
        .then(|| name.to_string())
}

impl<'a> Registration<'a> {
    /// `user`'s registration of a key of `factor` in `org`, at `party`.
    pub fn new(
        kek: &'a Kek,
        factor: &'static dyn KeyFactor,
        org: &'a OrgEntry,
        user: &'a User,
        party: &'a Party,
        now: i64,
    ) -> Self {
        Self {
            kek,
            factor,
            origin: org.event_origin(),
            user,
            rp: party.named(&org.org.display_name),
            now,
        }
    }

    fn plugin(e: FactorError) -> EnrollError {
        match e {
            FactorError::Input(e) => EnrollError::Input(e),
            FactorError::Internal(e) => EnrollError::Internal(e),
        }
    }

    /// Begins a registration: a pending row (replacing the user's earlier pending ones) holding
    /// the ceremony's state, sealed; the user's keys are excluded.
    pub fn begin(&self, conn: &mut DbConn) -> Result<Begun, EnrollError> {
        let held: Vec<CredentialData> =
            held_keys(conn, self.kek, &self.user.id, self.factor.name())?
                .into_iter()
                .map(|(_, data)| data)
                .collect();
        let holder = KeyHolder {
            handle: handle_of(&self.user.id),
            name: self.user.username.as_str(),
            display_name: self.user.username.as_str(),
        };
        let ceremony = self
            .factor
            .begin_registration(self.rp, holder, &held, true)
            .map_err(Self::plugin)?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut row = Credential {
            id: id.clone(),
            organization_id: self.origin.organization_id,
            user_id: self.user.id.clone(),
            factor: self.factor.name().to_string(),
            name: String::new(),
            sealed: Vec::new(),
            version: 0,
            created_at: self.now,
            confirmed_at: None,
            last_used_at: None,
            lookup: None,
        };
        row.sealed = seal(self.kek, &row, &ceremony.state).map_err(corrupt)?;
        write_transaction(conn, |conn| {
            Credential::purge_pending(conn, &self.user.id, self.now)?;
            Credential::insert(conn, &row)
        })?;
        Ok(Begun {
            id,
            options: ceremony.options,
        })
    }

    /// Finishes the registration `id` with the browser's answer, in one transaction: the key
    /// saved under `name`, recorded as an account change and published. The pending row is
    /// used once: a second answer finds it confirmed and is refused as expired.
    pub fn finish(
        &self,
        conn: &mut DbConn,
        id: &str,
        response: &str,
        name: &str,
    ) -> Result<Credential, EnrollError> {
        match write_transaction(conn, |conn| self.finish_in(conn, id, response, name)) {
            Err(e) => Err(taken_or(e)),
            Ok(finished) => finished,
        }
    }

    /// [`Self::finish`] in the caller's transaction (a sign-in step that enrolls a key and
    /// passes with it). The caller maps a failed transaction with [`taken_or`].
    pub fn finish_in(
        &self,
        conn: &mut DbConn,
        id: &str,
        response: &str,
        name: &str,
    ) -> Result<Result<Credential, EnrollError>, StoreError> {
        {
            // Within the ceremony's lifetime, not only the pending row's: the library does not
            // check a challenge's age.
            let Some(mut pending) = Credential::pending(conn, &self.user.id, id, self.now)?
                .filter(|c| c.factor == self.factor.name())
                .filter(|c| c.created_at + ceremonies::LIFETIME > self.now)
            else {
                return Ok(Err(EnrollError::Expired));
            };
            let state = open(self.kek, &pending).map_err(corrupt)?;
            let key = match self.factor.finish_registration(self.rp, &state, response) {
                Ok(key) => key,
                Err(why) => {
                    tracing::info!(user = %self.user.id, %why, "a key registration was refused");
                    return Ok(Err(EnrollError::Wrong));
                }
            };
            let lookup = lookup_of(&key.key_id);
            if Credential::lookup_taken(conn, &lookup)? {
                return Ok(Err(EnrollError::Taken));
            }
            let sealed = seal(self.kek, &pending, &key.credential).map_err(corrupt)?;
            let v = pending.version;
            if !Credential::confirm_key(conn, id, v, &sealed, &lookup, name, self.now)? {
                return Ok(Err(EnrollError::Expired));
            }
            // The new key is what the user will most likely reach for next.
            User::set_last_second_factor(conn, &self.user.id, self.factor.name())?;
            account_changed(
                conn,
                self.origin,
                &self.user.id,
                AccountChangeKind::CredentialAdded,
                self.factor.label(),
            )?;
            pending.confirmed_at = Some(self.now);
            pending.name = name.to_string();
            Ok(Ok(pending))
        }
    }
}
