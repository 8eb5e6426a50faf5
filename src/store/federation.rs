//! Sign-ins at upstream OpenID providers: the state of each redirect in flight, and the links
//! between upstream accounts (issuer + subject) and local users.

use diesel::prelude::*;

use super::schema::{federated_identities, federation_states};
use super::{DbConn, StoreError, now};

/// One redirect to an upstream provider, waiting for its callback.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = federation_states)]
pub struct FederationState {
    /// SHA-256 of the `state` parameter.
    pub state_hash: String,
    pub organization_id: i64,
    pub transaction_id: String,
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl FederationState {
    pub fn insert(conn: &mut DbConn, s: &Self) -> Result<(), StoreError> {
        diesel::insert_into(federation_states::table)
            .values(s)
            .execute(conn)?;
        Ok(())
    }

    /// A live (unused, unexpired) state, without spending it.
    pub fn find(
        conn: &mut DbConn,
        organization_id: i64,
        state_hash: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(federation_states::table
            .filter(federation_states::state_hash.eq(state_hash))
            .filter(federation_states::organization_id.eq(organization_id))
            .filter(federation_states::used_at.is_null())
            .filter(federation_states::expires_at.gt(now()))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Takes the state for its one callback: `None` if unknown, used or expired.
    pub fn take(
        conn: &mut DbConn,
        organization_id: i64,
        state_hash: &str,
    ) -> Result<Option<Self>, StoreError> {
        let t = now();
        let n = diesel::update(
            federation_states::table
                .filter(federation_states::state_hash.eq(state_hash))
                .filter(federation_states::organization_id.eq(organization_id))
                .filter(federation_states::used_at.is_null())
                .filter(federation_states::expires_at.gt(t)),
        )
        .set(federation_states::used_at.eq(Some(t)))
        .execute(conn)?;
        if n != 1 {
            return Ok(None);
        }
        Ok(federation_states::table
            .find(state_hash)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Deletes states an hour past their expiry.
    pub fn purge(conn: &mut DbConn) -> Result<usize, StoreError> {
        Ok(diesel::delete(
            federation_states::table.filter(federation_states::expires_at.lt(now() - 3600)),
        )
        .execute(conn)?)
    }
}

/// A local user's upstream account.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = federated_identities)]
pub struct FederatedIdentity {
    pub organization_id: i64,
    pub issuer: String,
    pub subject: String,
    pub provider: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_used_at: i64,
}

impl FederatedIdentity {
    pub fn find(
        conn: &mut DbConn,
        organization_id: i64,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(federated_identities::table
            .filter(federated_identities::organization_id.eq(organization_id))
            .filter(federated_identities::issuer.eq(issuer))
            .filter(federated_identities::subject.eq(subject))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// How many upstream accounts are linked to a user.
    pub fn count_of_user(conn: &mut DbConn, user_id: &str) -> Result<i64, StoreError> {
        Ok(federated_identities::table
            .filter(federated_identities::user_id.eq(user_id))
            .count()
            .get_result(conn)?)
    }

    pub fn insert(conn: &mut DbConn, link: &Self) -> Result<(), StoreError> {
        diesel::insert_into(federated_identities::table)
            .values(link)
            .execute(conn)?;
        Ok(())
    }

    pub fn touch(
        conn: &mut DbConn,
        organization_id: i64,
        issuer: &str,
        subject: &str,
    ) -> Result<(), StoreError> {
        diesel::update(
            federated_identities::table
                .filter(federated_identities::organization_id.eq(organization_id))
                .filter(federated_identities::issuer.eq(issuer))
                .filter(federated_identities::subject.eq(subject)),
        )
        .set(federated_identities::last_used_at.eq(now()))
        .execute(conn)?;
        Ok(())
    }
}
