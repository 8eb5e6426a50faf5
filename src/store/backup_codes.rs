//! Users' backup codes, stored as keyed hashes (see `authn::backup`).

use diesel::prelude::*;

use super::schema::backup_codes;
use super::{DbConn, StoreError, now};

/// Replaces the user's set: the old codes stop working at once. Call inside a transaction.
pub fn replace(conn: &mut DbConn, user_id: &str, hashes: &[Vec<u8>]) -> Result<(), StoreError> {
    diesel::delete(backup_codes::table.filter(backup_codes::user_id.eq(user_id))).execute(conn)?;
    let t = now();
    // One statement per code: batch inserts are not portable across the two backends.
    for h in hashes {
        diesel::insert_into(backup_codes::table)
            .values((
                backup_codes::user_id.eq(user_id),
                backup_codes::code_hash.eq(h),
                backup_codes::created_at.eq(t),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Removes the user's set.
pub fn remove(conn: &mut DbConn, user_id: &str) -> Result<(), StoreError> {
    diesel::delete(backup_codes::table.filter(backup_codes::user_id.eq(user_id))).execute(conn)?;
    Ok(())
}

/// Uses a code: true exactly once for a code of the user's current set.
pub fn spend(conn: &mut DbConn, user_id: &str, code_hash: &[u8]) -> Result<bool, StoreError> {
    let n = diesel::update(
        backup_codes::table
            .filter(backup_codes::user_id.eq(user_id))
            .filter(backup_codes::code_hash.eq(code_hash))
            .filter(backup_codes::used_at.is_null()),
    )
    .set(backup_codes::used_at.eq(Some(now())))
    .execute(conn)?;
    Ok(n == 1)
}

/// How many unused codes the user has.
pub fn remaining(conn: &mut DbConn, user_id: &str) -> Result<i64, StoreError> {
    Ok(backup_codes::table
        .filter(backup_codes::user_id.eq(user_id))
        .filter(backup_codes::used_at.is_null())
        .count()
        .get_result(conn)?)
}
