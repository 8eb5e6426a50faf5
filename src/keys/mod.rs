//! Signing keys per organization: generated on first use, encrypted at rest, rotated by the CLI,
//! served as a pre-serialized JWKS, and turned into [`Signer`]s once per key.

pub mod jwk;
pub mod kek;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openssl::pkey::PKey;

pub use jwk::{Alg, KeyError, Signer, Verifier};
pub use kek::Kek;

use crate::store::keys::{ACTIVE, SigningKeyRow};
use crate::store::{Db, DbConn, StoreError, now};

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// One organization's keys as served: the JWKS bytes and a signer per algorithm.
#[derive(Debug)]
pub struct OrgKeys {
    /// `{"keys":[…]}` with the keys of the algorithms in use (see [`published_algs`]), in a
    /// stable order: by algorithm (RS256, ES256, EdDSA), the active key first, then newest.
    pub jwks: crate::document::PublicDocument,
    /// The algorithms whose keys `jwks` holds.
    published: Vec<Alg>,
    signers: HashMap<Alg, Arc<Signer>>,
    /// Every published key by kid, to check tokens signed before a rotation.
    verifiers: HashMap<String, Arc<Verifier>>,
    loaded: Instant,
}

impl OrgKeys {
    /// The active signer for `alg`.
    pub fn signer(&self, alg: Alg) -> Option<&Arc<Signer>> {
        self.signers.get(&alg)
    }

    /// The published key with this kid.
    pub fn verifier(&self, kid: &str) -> Option<Arc<Verifier>> {
        self.verifiers.get(kid).cloned()
    }

    /// Whether the key set holds the keys of `alg`.
    pub fn publishes(&self, alg: Alg) -> bool {
        self.published.contains(&alg)
    }
}

/// The algorithms whose keys an organization publishes: RS256 always (the default every relying
/// party and resource server supports), and those its applications sign ID tokens or access
/// tokens with. Keys of other algorithms exist, unpublished, until an application chooses them:
/// some relying parties (libcjose, in Apache's `mod_auth_openidc` on Debian 12) cannot parse an
/// OKP key.
pub fn published_algs(in_use: &[Alg]) -> Vec<Alg> {
    Alg::ALL
        .into_iter()
        .filter(|a| *a == Alg::RS256 || in_use.contains(a))
        .collect()
}

/// The per-node cache of every organization's keys.
#[derive(Debug)]
pub struct KeyStore {
    kek: Kek,
    /// How long a cached key set is trusted before it is re-read, so a rotation made by the CLI
    /// or another node is picked up within this time (`SESAME_KEY_CACHE_SECONDS`).
    refresh_after: Duration,
    cache: RwLock<HashMap<i64, Arc<OrgKeys>>>,
}

impl KeyStore {
    pub fn new(kek: Kek, refresh_after: Duration) -> Self {
        Self {
            kek,
            refresh_after,
            cache: RwLock::new(HashMap::new()),
        }
    }

    pub fn kek(&self) -> &Kek {
        &self.kek
    }

    /// Drops the organization's cached key set: this node reads it afresh at its next use (a
    /// rotation or retirement made here; other nodes follow within [`Self::refresh_after`]).
    pub fn forget(&self, organization_id: i64) {
        self.cache
            .write()
            .expect("key cache lock")
            .remove(&organization_id);
    }

    /// The organization's keys, creating the first ones if it has none.
    pub async fn get(&self, db: &Db, organization_id: i64) -> Result<Arc<OrgKeys>, KeysError> {
        self.load(db, organization_id, false).await
    }

    /// [`Self::get`], read afresh if the cached key set does not publish the keys of every one
    /// of `algs` yet: an application that just switched to an algorithm signs nothing its
    /// verifiers cannot find here.
    pub async fn get_publishing(
        &self,
        db: &Db,
        organization_id: i64,
        algs: &[Alg],
    ) -> Result<Arc<OrgKeys>, KeysError> {
        let keys = self.load(db, organization_id, false).await?;
        if algs.iter().all(|a| keys.publishes(*a)) {
            return Ok(keys);
        }
        self.load(db, organization_id, true).await
    }

    async fn load(
        &self,
        db: &Db,
        organization_id: i64,
        force: bool,
    ) -> Result<Arc<OrgKeys>, KeysError> {
        let cached = self
            .cache
            .read()
            .expect("key cache lock")
            .get(&organization_id)
            .cloned();
        if let Some(keys) = &cached
            && keys.loaded.elapsed() < self.refresh_after
            && !force
        {
            return Ok(keys.clone());
        }
        let kek = self.kek.clone();
        let (rows, in_use) = db
            .run(move |conn| {
                let rows = ensure_keys(conn, &kek, organization_id).map_err(|e| match e {
                    KeysError::Store(s) => s,
                    KeysError::Key(k) => StoreError::Corrupt(k.to_string()),
                })?;
                let in_use =
                    crate::store::applications::Application::token_algs(conn, organization_id)?;
                Ok((rows, in_use))
            })
            .await?;
        let published = published_algs(&in_use);
        let fresh = Arc::new(self.build(organization_id, &rows, &published, cached.as_deref())?);
        self.cache
            .write()
            .expect("key cache lock")
            .insert(organization_id, fresh.clone());
        Ok(fresh)
    }

    /// Builds the served form; signers already built for the same kid are reused.
    fn build(
        &self,
        organization_id: i64,
        rows: &[SigningKeyRow],
        published: &[Alg],
        previous: Option<&OrgKeys>,
    ) -> Result<OrgKeys, KeyError> {
        let mut signers = HashMap::new();
        for row in rows.iter().filter(|r| r.state == ACTIVE) {
            let alg = Alg::parse(&row.alg).map_err(KeyError::Malformed)?;
            let reused = previous
                .and_then(|p| p.signers.get(&alg))
                .filter(|s| s.kid == row.kid);
            let signer = match reused {
                Some(s) => s.clone(),
                None => match decrypt_signer(&self.kek, organization_id, row, alg) {
                    Ok(s) => Arc::new(s),
                    Err(error) => {
                        // The key set stays served (tokens it signed still verify); only
                        // signing with this algorithm fails until an operator fixes the key.
                        tracing::error!(organization_id, kid = %row.kid, %error, "cannot open a signing key");
                        continue;
                    }
                },
            };
            signers.insert(alg, signer);
        }
        let mut verifiers = HashMap::new();
        for row in rows {
            let verifier = match previous.and_then(|p| p.verifiers.get(&row.kid)) {
                Some(v) => v.clone(),
                None => {
                    let jwk = serde_json::from_str(&row.public_jwk)
                        .map_err(|e| KeyError::Malformed(e.to_string()))?;
                    Arc::new(Verifier::from_jwk(&jwk)?)
                }
            };
            verifiers.insert(row.kid.clone(), verifier);
        }
        let rank = |alg: &str| Alg::ALL.iter().position(|a| a.as_str() == alg);
        let mut ordered: Vec<&SigningKeyRow> = rows
            .iter()
            .filter(|r| published.iter().any(|a| a.as_str() == r.alg))
            .collect();
        ordered.sort_by_key(|r| {
            (
                rank(&r.alg),
                r.state != ACTIVE,
                -r.created_at,
                r.kid.clone(),
            )
        });
        let keys: Vec<serde_json::Value> = ordered
            .iter()
            .map(|r| {
                serde_json::from_str(&r.public_jwk).map_err(|e| KeyError::Malformed(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(OrgKeys {
            jwks: crate::document::PublicDocument::new(
                serde_json::to_vec(&serde_json::json!({ "keys": keys })).expect("JWKS serializes"),
            ),
            published: published.to_vec(),
            signers,
            verifiers,
            loaded: Instant::now(),
        })
    }
}

fn context(organization_id: i64, kid: &str) -> Vec<u8> {
    format!("sesame-signing-key/{organization_id}/{kid}").into_bytes()
}

fn decrypt_signer(
    kek: &Kek,
    organization_id: i64,
    row: &SigningKeyRow,
    alg: Alg,
) -> Result<Signer, KeyError> {
    let der = kek.open(&row.private_key, &context(organization_id, &row.kid))?;
    let key = PKey::private_key_from_pkcs8(&der)?;
    let signer = Signer::new(key, alg)?;
    if signer.kid != row.kid {
        return Err(KeyError::Malformed(format!(
            "key {} does not match its kid",
            row.kid
        )));
    }
    Ok(signer)
}

/// A new key of `alg` for the organization, private half sealed, in the given state.
pub fn new_key_row(
    kek: &Kek,
    organization_id: i64,
    alg: Alg,
    state: &str,
) -> Result<SigningKeyRow, KeyError> {
    let key = alg.generate()?;
    let jwk = jwk::public_jwk(&key, alg)?;
    let kid = jwk::thumbprint(&key, alg)?;
    let der = key.private_key_to_pkcs8()?;
    Ok(SigningKeyRow {
        organization_id,
        private_key: kek.seal(&der, &context(organization_id, &kid))?,
        kid,
        alg: alg.as_str().to_string(),
        state: state.to_string(),
        public_jwk: jwk.to_string(),
        created_at: now(),
        retired_at: None,
        activate_at: None,
    })
}

/// The organization's published keys, after creating an active key for every algorithm that
/// has none. Two nodes racing to create the first key: the loser's insert conflicts, and it
/// reads the winner's.
pub fn ensure_keys(
    conn: &mut DbConn,
    kek: &Kek,
    organization_id: i64,
) -> Result<Vec<SigningKeyRow>, KeysError> {
    let mut rows = SigningKeyRow::list_published(conn, organization_id)?;
    // Staged keys whose time has come take over from the active ones.
    let due: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r.state != ACTIVE && r.activate_at.is_some_and(|t| t <= now()))
        .map(|r| (r.kid.clone(), r.alg.clone()))
        .collect();
    if !due.is_empty() {
        for (kid, alg) in &due {
            if SigningKeyRow::promote(conn, organization_id, kid, alg)? {
                tracing::info!(organization_id, %kid, %alg, "rotated-in signing key is now active");
            }
        }
        rows = SigningKeyRow::list_published(conn, organization_id)?;
    }
    let missing: Vec<Alg> = Alg::ALL
        .into_iter()
        .filter(|alg| {
            !rows
                .iter()
                .any(|r| r.state == ACTIVE && r.alg == alg.as_str())
        })
        .collect();
    if missing.is_empty() {
        return Ok(rows);
    }
    for alg in missing {
        let row = new_key_row(kek, organization_id, alg, ACTIVE)?;
        match SigningKeyRow::insert(conn, &row) {
            Ok(()) => tracing::info!(organization_id, kid = %row.kid, %alg, "created signing key"),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(SigningKeyRow::list_published(conn, organization_id)?)
}

/// Rotates the key of `alg`. With a delay, the new key is published now and signs from
/// `now + delay` on, once every node and relying party has had time to fetch the key set;
/// without one (a compromised key), it signs at once. The old key stays published until retired.
pub fn rotate(
    conn: &mut DbConn,
    kek: &Kek,
    organization_id: i64,
    alg: Alg,
    delay_seconds: i64,
) -> Result<SigningKeyRow, KeysError> {
    let row = rotation(kek, organization_id, alg, delay_seconds)?;
    store_rotation(conn, &row)?;
    Ok(row)
}

/// The new key of a [`rotate`], made (the slow part: key generation) before any transaction.
pub fn rotation(
    kek: &Kek,
    organization_id: i64,
    alg: Alg,
    delay_seconds: i64,
) -> Result<SigningKeyRow, KeysError> {
    if delay_seconds <= 0 {
        return Ok(new_key_row(kek, organization_id, alg, ACTIVE)?);
    }
    let mut row = new_key_row(kek, organization_id, alg, crate::store::keys::PUBLISHED)?;
    row.activate_at = Some(now() + delay_seconds);
    Ok(row)
}

/// Puts a key made by [`rotation`] in place: active at once, or published until it signs.
pub fn store_rotation(conn: &mut DbConn, row: &SigningKeyRow) -> Result<(), StoreError> {
    if row.activate_at.is_none() {
        SigningKeyRow::rotate(conn, row)
    } else {
        SigningKeyRow::stage(conn, row)
    }
}

const CHECK_PLAINTEXT: &[u8] = b"sesame key-encryption key check v1";
const CHECK_CONTEXT: &[u8] = b"sesame-kek-check";

/// Makes sure `kek` is the key this database was set up with (recording it on first use).
/// A different key would seal new signing keys nobody else can open and fail to open the old
/// ones, so it is refused before anything is served.
pub fn verify_kek(conn: &mut DbConn, kek: &Kek) -> Result<(), KekMismatch> {
    use crate::store::keys::{kek_check, set_kek_check};
    let stored = match kek_check(conn)? {
        Some(sealed) => sealed,
        None => {
            let sealed = kek.seal(CHECK_PLAINTEXT, CHECK_CONTEXT)?;
            if set_kek_check(conn, &sealed)? {
                return Ok(());
            }
            kek_check(conn)?.ok_or_else(|| StoreError::Corrupt("kek_check vanished".into()))?
        }
    };
    match kek.open(&stored, CHECK_CONTEXT) {
        Ok(plain) if plain == CHECK_PLAINTEXT => Ok(()),
        _ => Err(KekMismatch::Mismatch),
    }
}

/// Whether `kek` opens this database's check value, read only (nothing is recorded): `None` when
/// the database has no check value yet (no server or command has used a key on it).
pub fn kek_opens(conn: &mut DbConn, kek: &Kek) -> Result<Option<bool>, StoreError> {
    Ok(crate::store::keys::kek_check(conn)?.map(
        |sealed| matches!(kek.open(&sealed, CHECK_CONTEXT), Ok(plain) if plain == CHECK_PLAINTEXT),
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum KekMismatch {
    #[error(
        "the key-encryption key is not the one this database was set up with (its signing keys \
         cannot be opened with it): configure the original SESAME_KEY_ENCRYPTION_KEY or \
         SESAME_KEY_ENCRYPTION_KEY_FILE"
    )]
    Mismatch,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
}
