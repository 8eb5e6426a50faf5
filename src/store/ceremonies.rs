//! Key ceremonies begun and not finished (see `authn::passkeys`): the plug-in's state, sealed,
//! bound to what began it. A state is claimed once: a replayed answer, or two answers to one
//! challenge, find nothing the second time.

use diesel::prelude::*;

use super::schema::ceremonies;
use super::{DbConn, StoreError, now};

/// How long a browser has to answer a ceremony (the options' own timeout is five minutes).
pub const LIFETIME: i64 = 360;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ceremonies)]
pub struct Ceremony {
    pub id: String,
    /// `factor:transaction` for a sign-in's step.
    pub bound_to: String,
    pub factor: String,
    /// The plug-in's state, sealed under the key-encryption key with the id and binding as
    /// associated data.
    pub sealed: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl Ceremony {
    pub fn insert(conn: &mut DbConn, c: &Self) -> Result<(), StoreError> {
        diesel::insert_into(ceremonies::table)
            .values(c)
            .execute(conn)?;
        Ok(())
    }

    /// The unused, unexpired ceremony `id` bound to `bound_to`, marked used: `None` when there
    /// is none or another request claimed it first.
    pub fn claim(
        conn: &mut DbConn,
        id: &str,
        bound_to: &str,
        now: i64,
    ) -> Result<Option<Self>, StoreError> {
        let claimed = diesel::update(
            ceremonies::table
                .filter(ceremonies::id.eq(id))
                .filter(ceremonies::bound_to.eq(bound_to))
                .filter(ceremonies::used_at.is_null())
                .filter(ceremonies::expires_at.gt(now)),
        )
        .set(ceremonies::used_at.eq(now))
        .execute(conn)?;
        if claimed != 1 {
            return Ok(None);
        }
        Ok(ceremonies::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Deletes ceremonies that expired over an hour ago.
    pub fn purge(conn: &mut DbConn) -> Result<usize, StoreError> {
        Ok(
            diesel::delete(ceremonies::table.filter(ceremonies::expires_at.lt(now() - 3600)))
                .execute(conn)?,
        )
    }
}
