//! SMS one-time passwords of sign-ins in progress.
//!
//! Each check first claims an attempt with one conditional `UPDATE` (only while the code is
//! live and under its limit), then compares; a right code is spent by another conditional
//! `UPDATE`. So a burst of parallel guesses gets no more comparisons than the limit, and two
//! submissions of the right code cannot both pass.

use diesel::prelude::*;

use super::schema::{sms_otps, sms_receipts};
use super::{DbConn, StoreError, now};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sms_otps)]
pub struct SmsOtp {
    pub id: String,
    pub transaction_id: String,
    /// 0 for the first code of a sign-in, then one more per resend; unique per transaction.
    pub seq: i64,
    pub user_id: String,
    /// Where it was sent (E.164).
    pub phone_number: String,
    /// HMAC-SHA256 of the code (see `authn::otp::keyed_hash`).
    pub code_hash: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub failed_attempts: i64,
    pub used_at: Option<i64>,
    pub voided_at: Option<i64>,
    /// The `SmsOtpNotificationEvent` that carries the code.
    pub event_jti: Option<String>,
    /// The gateway that took its text message ([`crate::plugin::gateway_label`]).
    pub gateway: Option<String>,
    /// What the provider reported of its text message: `delivered`, `failed`, or nothing yet.
    pub delivery: Option<String>,
}

/// A receipt that came before its message's id was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sms_receipts)]
pub struct EarlyReceipt {
    pub organization_id: i64,
    pub gateway: String,
    pub message_id: String,
    pub delivery: String,
    pub detail: String,
    pub received_at: i64,
}

impl EarlyReceipt {
    /// Keeps a receipt for a message Sesame does not know yet (the first one kept wins). Call
    /// under [`SmsOtp::lock_message`]: looked for first, so no unique violation aborts the
    /// caller's PostgreSQL transaction.
    pub fn keep(conn: &mut DbConn, receipt: &Self) -> Result<(), StoreError> {
        let kept: i64 = sms_receipts::table
            .filter(sms_receipts::organization_id.eq(receipt.organization_id))
            .filter(sms_receipts::gateway.eq(&receipt.gateway))
            .filter(sms_receipts::message_id.eq(&receipt.message_id))
            .count()
            .get_result(conn)?;
        if kept == 0 {
            diesel::insert_into(sms_receipts::table)
                .values(receipt)
                .execute(conn)?;
        }
        Ok(())
    }

    /// Takes (and deletes) the receipt kept for this message, if one came early.
    pub fn take(
        conn: &mut DbConn,
        organization_id: i64,
        gateway: &str,
        message_id: &str,
    ) -> Result<Option<Self>, StoreError> {
        let key = sms_receipts::table
            .filter(sms_receipts::organization_id.eq(organization_id))
            .filter(sms_receipts::gateway.eq(gateway))
            .filter(sms_receipts::message_id.eq(message_id));
        let found = key.select(Self::as_select()).first(conn).optional()?;
        if found.is_some() {
            diesel::delete(key).execute(conn)?;
        }
        Ok(found)
    }
}

/// A code's text message as a delivery receipt finds it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct SentMessage {
    pub otp_id: String,
    pub user_id: String,
    pub phone_number: String,
    pub delivery: Option<String>,
}

/// Why a code cannot be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dead {
    Expired,
    Used,
    /// Too many wrong entries, or replaced by a newer code.
    Void,
}

impl Dead {
    /// A code's state, in this order: used, void (replaced or out of attempts), expired.
    pub fn of(
        used_at: Option<i64>,
        voided_at: Option<i64>,
        out_of_attempts: bool,
        expired: bool,
    ) -> Option<Self> {
        if used_at.is_some() {
            Some(Self::Used)
        } else if voided_at.is_some() || out_of_attempts {
            Some(Self::Void)
        } else if expired {
            Some(Self::Expired)
        } else {
            None
        }
    }
}

impl SmsOtp {
    /// The newest code of a sign-in, whatever its state.
    pub fn latest(conn: &mut DbConn, transaction_id: &str) -> Result<Option<Self>, StoreError> {
        Ok(sms_otps::table
            .filter(sms_otps::transaction_id.eq(transaction_id))
            .order(sms_otps::seq.desc())
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

    /// Stores a new code for its sign-in and voids the earlier ones. A second request racing
    /// to store the same `seq` fails with `StoreError::Conflict` (call inside a transaction).
    pub fn insert_replacing(conn: &mut DbConn, otp: &Self) -> Result<(), StoreError> {
        // A replaced code is void: whatever of it is still waiting to be sent is not sent.
        let replaced: Vec<Option<String>> = sms_otps::table
            .filter(sms_otps::transaction_id.eq(&otp.transaction_id))
            .filter(sms_otps::voided_at.is_null())
            .select(sms_otps::event_jti)
            .load(conn)?;
        let replaced: Vec<String> = replaced.into_iter().flatten().collect();
        super::deliveries::stop(conn, &replaced, "the code was replaced by a newer one")?;
        diesel::update(
            sms_otps::table
                .filter(sms_otps::transaction_id.eq(&otp.transaction_id))
                .filter(sms_otps::voided_at.is_null()),
        )
        .set(sms_otps::voided_at.eq(Some(otp.created_at)))
        .execute(conn)?;
        diesel::insert_into(sms_otps::table)
            .values(otp)
            .execute(conn)?;
        Ok(())
    }

    /// Claims one attempt at the code: true while it is live and under `max_failed`. The
    /// attempt counts as failed until [`SmsOtp::spend`] takes it back.
    pub fn claim_attempt(
        conn: &mut DbConn,
        id: &str,
        max_failed: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            sms_otps::table
                .filter(sms_otps::id.eq(id))
                .filter(sms_otps::used_at.is_null())
                .filter(sms_otps::voided_at.is_null())
                .filter(sms_otps::expires_at.gt(now))
                .filter(sms_otps::failed_attempts.lt(max_failed)),
        )
        .set(sms_otps::failed_attempts.eq(sms_otps::failed_attempts + 1))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Spends the code after a right entry at `t`: true exactly once.
    pub fn spend(conn: &mut DbConn, id: &str, t: i64) -> Result<bool, StoreError> {
        let n = diesel::update(
            sms_otps::table
                .filter(sms_otps::id.eq(id))
                .filter(sms_otps::used_at.is_null())
                .filter(sms_otps::voided_at.is_null())
                .filter(sms_otps::expires_at.gt(t)),
        )
        .set((
            sms_otps::used_at.eq(Some(t)),
            sms_otps::failed_attempts.eq(sms_otps::failed_attempts - 1),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// The failed attempts a code has now.
    pub fn failed_attempts(conn: &mut DbConn, id: &str) -> Result<i64, StoreError> {
        Ok(sms_otps::table
            .find(id)
            .select(sms_otps::failed_attempts)
            .first(conn)?)
    }

    /// Notes which gateway took the text message of the code `event_jti` carries, and the
    /// provider's id for it (what its delivery receipts name).
    pub fn record_message(
        conn: &mut DbConn,
        event_jti: &str,
        gateway: &str,
        message_id: &str,
    ) -> Result<(), StoreError> {
        diesel::update(sms_otps::table.filter(sms_otps::event_jti.eq(event_jti)))
            .set((
                sms_otps::gateway.eq(gateway),
                sms_otps::message_id.eq(message_id),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Serializes, until the transaction ends, the receipt and the delivery that speak of one
    /// message: on PostgreSQL a transaction-scoped advisory lock (SQLite's `BEGIN IMMEDIATE`
    /// already lets one writer in). The delivery takes it after recording the id and before
    /// looking for an early receipt, the receipt before looking for the code: whichever comes
    /// second sees what the first committed, so no receipt is kept that nothing applies.
    pub fn lock_message(
        conn: &mut DbConn,
        organization_id: i64,
        gateway: &str,
        message_id: &str,
    ) -> Result<(), StoreError> {
        if let DbConn::Postgres(c) = conn {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind::<diesel::sql_types::Text, _>(format!(
                    "sms-receipt:{organization_id}:{gateway}:{message_id}"
                ))
                .execute(c)?;
        }
        Ok(())
    }

    /// The code whose text message a gateway of this kind sent with this id, in the
    /// organization.
    pub fn by_message(
        conn: &mut DbConn,
        organization_id: i64,
        gateway: &str,
        message_id: &str,
    ) -> Result<Option<SentMessage>, StoreError> {
        use super::schema::users;
        Ok(sms_otps::table
            .inner_join(users::table.on(users::id.eq(sms_otps::user_id)))
            .filter(users::organization_id.eq(organization_id))
            .filter(sms_otps::gateway.eq(gateway))
            .filter(sms_otps::message_id.eq(message_id))
            .select((
                sms_otps::id,
                sms_otps::user_id,
                sms_otps::phone_number,
                sms_otps::delivery,
            ))
            .first(conn)
            .optional()?)
    }

    /// Records what became of a code's text message: true when this changed it. A final
    /// report is not overwritten (a late `failed` after `delivered` from a retrying provider
    /// changes nothing the user sees).
    pub fn set_delivery(
        conn: &mut DbConn,
        id: &str,
        delivery: &str,
        detail: &str,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            sms_otps::table
                .filter(sms_otps::id.eq(id))
                .filter(sms_otps::delivery.is_null()),
        )
        .set((
            sms_otps::delivery.eq(delivery),
            sms_otps::delivery_detail.eq(detail),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Marks the text message of the code `event_jti` carries as failed when no gateway could
    /// send it: the user learns at once that it will not arrive.
    pub fn send_failed(conn: &mut DbConn, event_jti: &str, detail: &str) -> Result<(), StoreError> {
        diesel::update(
            sms_otps::table
                .filter(sms_otps::event_jti.eq(event_jti))
                .filter(sms_otps::delivery.is_null()),
        )
        .set((
            sms_otps::delivery.eq("failed"),
            sms_otps::delivery_detail.eq(detail),
        ))
        .execute(conn)?;
        Ok(())
    }

    /// Deletes codes that expired over an hour ago (and early receipts older than a day, which
    /// no message will claim now).
    pub fn purge(conn: &mut DbConn) -> Result<usize, StoreError> {
        diesel::delete(sms_receipts::table.filter(sms_receipts::received_at.lt(now() - 86_400)))
            .execute(conn)?;
        Ok(
            diesel::delete(sms_otps::table.filter(sms_otps::expires_at.lt(now() - 3600)))
                .execute(conn)?,
        )
    }
}
