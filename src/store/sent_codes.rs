//! Codes that plug-in factors sent in sign-ins in progress (`email_otp`): the same bookkeeping
//! as SMS codes (`store::otps`) — an attempt claimed by one conditional `UPDATE` before the
//! comparison, a right code spent by another — per sign-in and factor.

use diesel::prelude::*;

use super::otps::Dead;
use super::schema::sent_codes;
use super::{DbConn, StoreError, now};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sent_codes)]
pub struct SentCode {
    pub id: String,
    pub transaction_id: String,
    /// The factor that sent it (`email_otp`).
    pub factor: String,
    /// 0 for the sign-in's first code of the factor, then one more per resend.
    pub seq: i64,
    pub user_id: String,
    /// Where it went (an email address), so a changed address does not take an old code.
    pub destination: String,
    /// HMAC-SHA256 of the code (see `authn::otp::keyed_hash`).
    pub code_hash: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub failed_attempts: i64,
    pub used_at: Option<i64>,
    pub voided_at: Option<i64>,
}

impl SentCode {
    /// The newest code of `factor` in a sign-in, whatever its state.
    pub fn latest(
        conn: &mut DbConn,
        transaction_id: &str,
        factor: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(sent_codes::table
            .filter(sent_codes::transaction_id.eq(transaction_id))
            .filter(sent_codes::factor.eq(factor))
            .order(sent_codes::seq.desc())
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Why this code cannot be used at `now`, if it cannot.
    pub fn dead(&self, max_failed: i64, now: i64) -> Option<Dead> {
        Dead::of(
            self.used_at,
            self.voided_at,
            self.failed_attempts >= max_failed,
            self.expires_at <= now,
        )
    }

    /// Stores a new code and voids the sign-in's earlier ones of the factor. A second request
    /// racing to store the same `seq` fails with `StoreError::Conflict` (call inside a
    /// transaction).
    pub fn insert_replacing(conn: &mut DbConn, code: &Self) -> Result<(), StoreError> {
        diesel::update(
            sent_codes::table
                .filter(sent_codes::transaction_id.eq(&code.transaction_id))
                .filter(sent_codes::factor.eq(&code.factor))
                .filter(sent_codes::voided_at.is_null()),
        )
        .set(sent_codes::voided_at.eq(Some(code.created_at)))
        .execute(conn)?;
        diesel::insert_into(sent_codes::table)
            .values(code)
            .execute(conn)?;
        Ok(())
    }

    /// Claims one attempt at the code: true while it is live and under `max_failed`. The
    /// attempt counts as failed until [`SentCode::spend`] takes it back.
    pub fn claim_attempt(
        conn: &mut DbConn,
        id: &str,
        max_failed: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            sent_codes::table
                .filter(sent_codes::id.eq(id))
                .filter(sent_codes::used_at.is_null())
                .filter(sent_codes::voided_at.is_null())
                .filter(sent_codes::expires_at.gt(now))
                .filter(sent_codes::failed_attempts.lt(max_failed)),
        )
        .set(sent_codes::failed_attempts.eq(sent_codes::failed_attempts + 1))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Spends the code after a right entry at `t`: true exactly once.
    pub fn spend(conn: &mut DbConn, id: &str, t: i64) -> Result<bool, StoreError> {
        let n = diesel::update(
            sent_codes::table
                .filter(sent_codes::id.eq(id))
                .filter(sent_codes::used_at.is_null())
                .filter(sent_codes::voided_at.is_null())
                .filter(sent_codes::expires_at.gt(t)),
        )
        .set((
            sent_codes::used_at.eq(Some(t)),
            sent_codes::failed_attempts.eq(sent_codes::failed_attempts - 1),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Drops a code that could not be sent (the mailer refused it), so it uses up neither a
    /// resend nor the cooldown, and makes the code it replaced live again (if nothing else
    /// voided it meanwhile): the one in the user's mailbox keeps working.
    pub fn drop_unsent(conn: &mut DbConn, code: &Self) -> Result<(), StoreError> {
        super::write_transaction(conn, |conn| {
            diesel::delete(sent_codes::table.find(&code.id)).execute(conn)?;
            diesel::update(
                sent_codes::table
                    .filter(sent_codes::transaction_id.eq(&code.transaction_id))
                    .filter(sent_codes::factor.eq(&code.factor))
                    .filter(sent_codes::seq.eq(code.seq - 1))
                    .filter(sent_codes::voided_at.eq(Some(code.created_at))),
            )
            .set(sent_codes::voided_at.eq(None::<i64>))
            .execute(conn)?;
            Ok(())
        })
    }

    /// The failed attempts a code has now.
    pub fn failed_attempts(conn: &mut DbConn, id: &str) -> Result<i64, StoreError> {
        Ok(sent_codes::table
            .find(id)
            .select(sent_codes::failed_attempts)
            .first(conn)?)
    }

    /// Deletes codes that expired over an hour ago.
    pub fn purge(conn: &mut DbConn) -> Result<usize, StoreError> {
        Ok(
            diesel::delete(sent_codes::table.filter(sent_codes::expires_at.lt(now() - 3600)))
                .execute(conn)?,
        )
    }
}
