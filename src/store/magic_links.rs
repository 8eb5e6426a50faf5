//! Magic links of sign-ins in progress. The token is 256 random bits; only its SHA-256 is kept.
//! Using a link is one conditional `UPDATE … WHERE used_at IS NULL`, so it works once, and a
//! newer link of the same sign-in voids the older ones.

use diesel::prelude::*;

use super::schema::magic_links;
use super::{DbConn, StoreError, now};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = magic_links)]
pub struct MagicLink {
    pub token_hash: String,
    pub organization_id: i64,
    /// The sign-in (and through it the browser) the link finishes.
    pub transaction_id: String,
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl MagicLink {
    /// Stores a new link and voids the sign-in's earlier ones (only the newest mail works).
    pub fn insert(conn: &mut DbConn, link: &Self) -> Result<(), StoreError> {
        diesel::update(
            magic_links::table
                .filter(magic_links::transaction_id.eq(&link.transaction_id))
                .filter(magic_links::used_at.is_null()),
        )
        .set(magic_links::used_at.eq(Some(link.created_at)))
        .execute(conn)?;
        diesel::insert_into(magic_links::table)
            .values(link)
            .execute(conn)?;
        Ok(())
    }

    /// Voids every unused link of the user (a password reset), sign-in and reset links alike.
    pub fn void_of_user(conn: &mut DbConn, user_id: &str, now: i64) -> Result<usize, StoreError> {
        Ok(diesel::update(
            magic_links::table
                .filter(magic_links::user_id.eq(user_id))
                .filter(magic_links::used_at.is_null()),
        )
        .set(magic_links::used_at.eq(Some(now)))
        .execute(conn)?)
    }

    pub fn find(
        conn: &mut DbConn,
        organization_id: i64,
        token_hash: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(magic_links::table
            .filter(magic_links::token_hash.eq(token_hash))
            .filter(magic_links::organization_id.eq(organization_id))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Spends the link; false if it was used (or voided) or has expired meanwhile.
    pub fn spend(conn: &mut DbConn, token_hash: &str) -> Result<bool, StoreError> {
        let t = now();
        let n = diesel::update(
            magic_links::table
                .filter(magic_links::token_hash.eq(token_hash))
                .filter(magic_links::used_at.is_null())
                .filter(magic_links::expires_at.gt(t)),
        )
        .set(magic_links::used_at.eq(Some(t)))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Deletes links an hour past their expiry.
    pub fn purge(conn: &mut DbConn) -> Result<usize, StoreError> {
        Ok(
            diesel::delete(magic_links::table.filter(magic_links::expires_at.lt(now() - 3600)))
                .execute(conn)?,
        )
    }
}
