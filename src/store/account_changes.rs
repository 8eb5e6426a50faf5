//! The record of changes users make to their own account.

use diesel::prelude::*;

use super::schema::account_changes;
use super::{DbConn, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = account_changes)]
pub struct AccountChange {
    pub id: String,
    pub organization_id: i64,
    pub user_id: String,
    /// `backup_codes_generated`, `backup_codes_removed`, `mobile_number_changed`.
    pub change: String,
    /// Non-secret detail (a masked number, a count).
    pub detail: String,
    pub created_at: i64,
}

impl AccountChange {
    pub fn insert(conn: &mut DbConn, c: &Self) -> Result<(), StoreError> {
        diesel::insert_into(account_changes::table)
            .values(c)
            .execute(conn)?;
        Ok(())
    }

    /// Whether the user created their account themselves (`authn::registration`): such an
    /// account is not the provisioning file's to take over or prune.
    pub fn self_registered(conn: &mut DbConn, user_id: &str) -> Result<bool, StoreError> {
        Ok(account_changes::table
            .filter(account_changes::user_id.eq(user_id))
            .filter(account_changes::change.eq("registered"))
            .select(account_changes::id)
            .first::<String>(conn)
            .optional()?
            .is_some())
    }

    /// A user's changes, newest first.
    pub fn of_user(conn: &mut DbConn, user_id: &str) -> Result<Vec<Self>, StoreError> {
        Ok(account_changes::table
            .filter(account_changes::user_id.eq(user_id))
            .order(account_changes::created_at.desc())
            .select(Self::as_select())
            .load(conn)?)
    }
}
