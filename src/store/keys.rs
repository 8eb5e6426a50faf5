//! Signing keys of an organization, private halves encrypted (see `crate::keys`).

use diesel::prelude::*;

use super::schema::signing_keys;
use super::{DbConn, StoreError, now};

/// A key's life: `active` signs (one per algorithm and organization), `published` is kept in the
/// JWKS so tokens it signed still verify, `retired` is gone from the JWKS.
pub const ACTIVE: &str = "active";
pub const PUBLISHED: &str = "published";
pub const RETIRED: &str = "retired";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub organization_id: i64,
    pub kid: String,
    pub alg: String,
    pub state: String,
    /// The public JWK, serialized; served as is in the JWKS.
    pub public_jwk: String,
    /// The PKCS#8 private key, encrypted under the key-encryption key.
    pub private_key: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    /// For a rotated-in key still waiting to sign: when it becomes the active one.
    pub activate_at: Option<i64>,
}

impl SigningKeyRow {
    /// Keys not yet retired, newest first.
    pub fn list_published(
        conn: &mut DbConn,
        organization_id: i64,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(signing_keys::table
            .filter(signing_keys::organization_id.eq(organization_id))
            .filter(signing_keys::state.ne(RETIRED))
            .order((signing_keys::created_at.desc(), signing_keys::kid))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Every key, retired ones included, newest first.
    pub fn list_all(conn: &mut DbConn, organization_id: i64) -> Result<Vec<Self>, StoreError> {
        Ok(signing_keys::table
            .filter(signing_keys::organization_id.eq(organization_id))
            .order((signing_keys::created_at.desc(), signing_keys::kid))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Inserts a first active key. Fails with [`StoreError::Conflict`] if another node made one
    /// for the same algorithm first (a unique index allows one active key per algorithm).
    pub fn insert(conn: &mut DbConn, row: &Self) -> Result<(), StoreError> {
        diesel::insert_into(signing_keys::table)
            .values(row)
            .execute(conn)?;
        Ok(())
    }

    /// Makes `row` the active key of its algorithm; the previous active key stays published.
    pub fn rotate(conn: &mut DbConn, row: &Self) -> Result<(), StoreError> {
        super::write_transaction(conn, |conn| {
            diesel::update(
                signing_keys::table
                    .filter(signing_keys::organization_id.eq(row.organization_id))
                    .filter(signing_keys::alg.eq(&row.alg))
                    .filter(signing_keys::state.eq(ACTIVE)),
            )
            .set(signing_keys::state.eq(PUBLISHED))
            .execute(conn)?;
            Self::insert(conn, row)
        })
    }

    /// Publishes `row` now; it becomes the active key of its algorithm at `activate_at`.
    pub fn stage(conn: &mut DbConn, row: &Self) -> Result<(), StoreError> {
        Self::insert(conn, row)
    }

    /// Promotes a staged key whose time has come: the current active key of its algorithm is
    /// demoted to published first (one active key per algorithm). Safe when several nodes try at
    /// once: only the one whose conditional update still finds the key staged promotes it.
    pub fn promote(
        conn: &mut DbConn,
        organization_id: i64,
        kid: &str,
        alg: &str,
    ) -> Result<bool, StoreError> {
        super::write_transaction(conn, |conn| {
            let still_staged = signing_keys::table
                .filter(signing_keys::organization_id.eq(organization_id))
                .filter(signing_keys::kid.eq(kid))
                .filter(signing_keys::state.eq(PUBLISHED))
                .filter(signing_keys::activate_at.le(now()))
                .count()
                .get_result::<i64>(conn)?;
            if still_staged == 0 {
                return Ok(false);
            }
            diesel::update(
                signing_keys::table
                    .filter(signing_keys::organization_id.eq(organization_id))
                    .filter(signing_keys::alg.eq(alg))
                    .filter(signing_keys::state.eq(ACTIVE))
                    .filter(signing_keys::kid.ne(kid)),
            )
            .set(signing_keys::state.eq(PUBLISHED))
            .execute(conn)?;
            let n = diesel::update(
                signing_keys::table
                    .filter(signing_keys::organization_id.eq(organization_id))
                    .filter(signing_keys::kid.eq(kid))
                    .filter(signing_keys::activate_at.is_not_null()),
            )
            .set((
                signing_keys::state.eq(ACTIVE),
                signing_keys::activate_at.eq(None::<i64>),
            ))
            .execute(conn)?;
            Ok(n == 1)
        })
    }

    /// Retires a published (no longer active) key: it leaves the JWKS. Returns whether a key was
    /// retired; an active key is never retired (rotate first).
    pub fn retire(conn: &mut DbConn, organization_id: i64, kid: &str) -> Result<bool, StoreError> {
        let n = diesel::update(
            signing_keys::table
                .filter(signing_keys::organization_id.eq(organization_id))
                .filter(signing_keys::kid.eq(kid))
                .filter(signing_keys::state.eq(PUBLISHED)),
        )
        .set((
            signing_keys::state.eq(RETIRED),
            signing_keys::retired_at.eq(Some(now())),
            // A key retired while waiting to sign never will.
            signing_keys::activate_at.eq(None::<i64>),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }
}

/// The sealed check value of the key-encryption key, if the database has one yet.
pub fn kek_check(conn: &mut DbConn) -> Result<Option<Vec<u8>>, StoreError> {
    use super::schema::kek_check;
    Ok(kek_check::table
        .find(1_i64)
        .select(kek_check::sealed)
        .first(conn)
        .optional()?)
}

/// Stores the check value; false if another node stored one first.
pub fn set_kek_check(conn: &mut DbConn, sealed: &[u8]) -> Result<bool, StoreError> {
    use super::schema::kek_check;
    let inserted = diesel::insert_into(kek_check::table)
        .values((
            kek_check::id.eq(1_i64),
            kek_check::sealed.eq(sealed),
            kek_check::created_at.eq(now()),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict(_) => Ok(false),
            other => Err(other),
        },
    }
}
