//! Users' credentials of plug-in factors (see `authn::credentials`), sealed. A row is pending
//! until its first code was entered; only confirmed rows sign anyone in.

use diesel::prelude::*;

use super::schema::credentials;
use super::{DbConn, StoreError};

/// How long an enrollment may take between showing the secret and entering its first code.
pub const PENDING_LIFETIME: i64 = 900;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = credentials)]
pub struct Credential {
    pub id: String,
    pub organization_id: i64,
    pub user_id: String,
    /// The factor's name (`totp`).
    pub factor: String,
    /// The user's name for it ("Authenticator app", "Work phone").
    pub name: String,
    /// The plug-in's bytes, sealed under the key-encryption key with the id as associated data.
    pub sealed: Vec<u8>,
    pub version: i64,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// A key's credential id, hashed (SHA-256, hex; unique): set for passkeys once registered.
    pub lookup: Option<String>,
}

impl Credential {
    pub fn insert(conn: &mut DbConn, c: &Self) -> Result<(), StoreError> {
        diesel::insert_into(credentials::table)
            .values(c)
            .execute(conn)?;
        Ok(())
    }

    /// The user's confirmed credentials of `factor`, oldest first.
    pub fn confirmed(
        conn: &mut DbConn,
        user_id: &str,
        factor: &str,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(credentials::table
            .filter(credentials::user_id.eq(user_id))
            .filter(credentials::factor.eq(factor))
            .filter(credentials::confirmed_at.is_not_null())
            .order((credentials::created_at.asc(), credentials::id.asc()))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// All the user's confirmed credentials, of any factor, oldest first.
    pub fn of_user(conn: &mut DbConn, user_id: &str) -> Result<Vec<Self>, StoreError> {
        Ok(credentials::table
            .filter(credentials::user_id.eq(user_id))
            .filter(credentials::confirmed_at.is_not_null())
            .order((credentials::created_at.asc(), credentials::id.asc()))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// The user's pending credential `id`, if it is still within [`PENDING_LIFETIME`].
    pub fn pending(
        conn: &mut DbConn,
        user_id: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<Self>, StoreError> {
        Ok(credentials::table
            .filter(credentials::id.eq(id))
            .filter(credentials::user_id.eq(user_id))
            .filter(credentials::confirmed_at.is_null())
            .filter(credentials::created_at.gt(now - PENDING_LIFETIME))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// The user's newest pending credential of `factor` within [`PENDING_LIFETIME`].
    pub fn latest_pending(
        conn: &mut DbConn,
        user_id: &str,
        factor: &str,
        now: i64,
    ) -> Result<Option<Self>, StoreError> {
        Ok(credentials::table
            .filter(credentials::user_id.eq(user_id))
            .filter(credentials::factor.eq(factor))
            .filter(credentials::confirmed_at.is_null())
            .filter(credentials::created_at.gt(now - PENDING_LIFETIME))
            .order(credentials::created_at.desc())
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Saves what a check or a confirmation wrote, if the row is still at `version`: false when
    /// another request changed it first (that request's check won; this one must not pass).
    pub fn save_if_unchanged(
        conn: &mut DbConn,
        id: &str,
        version: i64,
        sealed: &[u8],
        confirmed_at: Option<i64>,
        last_used_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            credentials::table
                .filter(credentials::id.eq(id))
                .filter(credentials::version.eq(version)),
        )
        .set((
            credentials::sealed.eq(sealed),
            credentials::version.eq(version + 1),
            credentials::confirmed_at.eq(confirmed_at),
            credentials::last_used_at.eq(last_used_at),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// The confirmed credential of the organization whose key id hashes to `lookup`.
    pub fn by_lookup(
        conn: &mut DbConn,
        organization_id: i64,
        lookup: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(credentials::table
            .filter(credentials::lookup.eq(lookup))
            .filter(credentials::organization_id.eq(organization_id))
            .filter(credentials::confirmed_at.is_not_null())
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Whether a key of this `lookup` is registered, to anyone (ids are unique across
    /// organizations too: one device key, one account).
    pub fn lookup_taken(conn: &mut DbConn, lookup: &str) -> Result<bool, StoreError> {
        Ok(diesel::select(diesel::dsl::exists(
            credentials::table.filter(credentials::lookup.eq(lookup)),
        ))
        .get_result(conn)?)
    }

    /// Confirms the pending key `id` (still at `version`) as registered: its credential, its
    /// lookup and its name. False when another request confirmed or replaced it first.
    pub fn confirm_key(
        conn: &mut DbConn,
        id: &str,
        version: i64,
        sealed: &[u8],
        lookup: &str,
        name: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            credentials::table
                .filter(credentials::id.eq(id))
                .filter(credentials::version.eq(version))
                .filter(credentials::confirmed_at.is_null()),
        )
        .set((
            credentials::sealed.eq(sealed),
            credentials::version.eq(version + 1),
            credentials::confirmed_at.eq(now),
            credentials::lookup.eq(lookup),
            credentials::name.eq(name),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Removes one of the user's credentials; false when there was none of that id.
    pub fn remove(conn: &mut DbConn, user_id: &str, id: &str) -> Result<bool, StoreError> {
        Ok(diesel::delete(
            credentials::table
                .filter(credentials::id.eq(id))
                .filter(credentials::user_id.eq(user_id)),
        )
        .execute(conn)?
            == 1)
    }

    /// Removes every credential of the user (an administrator's reset of second factors);
    /// returns the factors they were of.
    pub fn remove_all(conn: &mut DbConn, user_id: &str) -> Result<Vec<String>, StoreError> {
        let of_user = credentials::table.filter(credentials::user_id.eq(user_id));
        let factors = of_user.select(credentials::factor).load(conn)?;
        diesel::delete(of_user).execute(conn)?;
        Ok(factors)
    }

    /// Removes pending credentials older than [`PENDING_LIFETIME`] (of every user), and the
    /// user's other pending ones: one enrollment at a time per user.
    pub fn purge_pending(conn: &mut DbConn, user_id: &str, now: i64) -> Result<(), StoreError> {
        diesel::delete(
            credentials::table
                .filter(credentials::confirmed_at.is_null())
                .filter(
                    credentials::created_at
                        .le(now - PENDING_LIFETIME)
                        .or(credentials::user_id.eq(user_id)),
                ),
        )
        .execute(conn)?;
        Ok(())
    }
}
