//! Registrations waiting for their address to be verified (`authn::registration`). The link's
//! token is 256 random bits of which only the SHA-256 is kept; the password is already an
//! argon2id hash, and it is cleared when the link is used (the account then holds it) or voided.
//! Using a link is one conditional `UPDATE … WHERE used_at IS NULL`, so it works once.

use diesel::prelude::*;

use super::schema::registrations;
use super::{DbConn, StoreError, now};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = registrations)]
pub struct Registration {
    pub token_hash: String,
    pub organization_id: i64,
    /// The sign-in the user registered from, continued after the link when still open.
    pub transaction_id: String,
    /// The application whose sign-in page offered the registration.
    pub client_id: String,
    /// The SHA-256 of the registering browser's binding cookie: the link works only there.
    pub browser_hash: String,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl Registration {
    /// Stores a new registration and voids the address's earlier unused ones: only the newest
    /// mail works.
    pub fn insert(conn: &mut DbConn, r: &Self) -> Result<(), StoreError> {
        diesel::update(
            registrations::table
                .filter(registrations::organization_id.eq(r.organization_id))
                .filter(registrations::email.eq(&r.email))
                .filter(registrations::used_at.is_null()),
        )
        .set((
            registrations::used_at.eq(Some(r.created_at)),
            registrations::password_hash.eq(""),
        ))
        .execute(conn)?;
        diesel::insert_into(registrations::table)
            .values(r)
            .execute(conn)?;
        Ok(())
    }

    pub fn find(
        conn: &mut DbConn,
        organization_id: i64,
        token_hash: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(registrations::table
            .filter(registrations::token_hash.eq(token_hash))
            .filter(registrations::organization_id.eq(organization_id))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Spends the link (and forgets the password's hash); false if it was used or voided, or
    /// has expired meanwhile.
    pub fn spend(conn: &mut DbConn, token_hash: &str, now: i64) -> Result<bool, StoreError> {
        let n = diesel::update(
            registrations::table
                .filter(registrations::token_hash.eq(token_hash))
                .filter(registrations::used_at.is_null())
                .filter(registrations::expires_at.gt(now)),
        )
        .set((
            registrations::used_at.eq(Some(now)),
            registrations::password_hash.eq(""),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Deletes registrations an hour past their expiry.
    pub fn purge(conn: &mut DbConn) -> Result<usize, StoreError> {
        Ok(
            diesel::delete(registrations::table.filter(registrations::expires_at.lt(now() - 3600)))
                .execute(conn)?,
        )
    }
}
