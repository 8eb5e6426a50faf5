//! The event outbox: events are written in the same transaction as the change they report, and
//! delivered later (at least once, `jti` as the idempotency key).

use diesel::prelude::*;

use super::schema::event_outbox;
use super::{DbConn, StoreError, now};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = event_outbox)]
pub struct OutboxEvent {
    pub jti: String,
    pub organization_id: i64,
    pub event_type: String,
    /// The JSON payload; sealed under the key-encryption key when `sealed` (it holds a code).
    pub payload: Vec<u8>,
    pub sealed: bool,
    pub created_at: i64,
    /// Sealed payloads are purged after this, delivered or not: the code inside is dead.
    pub expires_at: Option<i64>,
    pub delivered_at: Option<i64>,
}

impl OutboxEvent {
    pub fn insert(conn: &mut DbConn, e: &Self) -> Result<(), StoreError> {
        diesel::insert_into(event_outbox::table)
            .values(e)
            .execute(conn)?;
        Ok(())
    }

    pub fn find(conn: &mut DbConn, jti: &str) -> Result<Option<Self>, StoreError> {
        Ok(event_outbox::table
            .find(jti)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Events of an organization, newest first.
    pub fn list(
        conn: &mut DbConn,
        organization_id: i64,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(event_outbox::table
            .filter(event_outbox::organization_id.eq(organization_id))
            .order(event_outbox::created_at.desc())
            .limit(limit)
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Deletes what must not stay: sealed payloads once delivered or expired, and other events
    /// a week after delivery.
    pub fn purge(conn: &mut DbConn) -> Result<usize, StoreError> {
        let t = now();
        let sealed = diesel::delete(
            event_outbox::table
                .filter(event_outbox::sealed.eq(true))
                .filter(
                    event_outbox::delivered_at
                        .is_not_null()
                        .or(event_outbox::expires_at.lt(t)),
                ),
        )
        .execute(conn)?;
        let delivered = diesel::delete(
            event_outbox::table.filter(event_outbox::delivered_at.lt(t - 7 * 86_400)),
        )
        .execute(conn)?;
        Ok(sealed + delivered)
    }
}
