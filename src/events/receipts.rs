//! SMS delivery receipts applied to the codes they concern: by the receipt endpoint, or, for a
//! receipt that came before its message's id was recorded, by the delivery that records it.

use crate::domain::PhoneNumber;
use crate::plugin::Delivery;
use crate::state::OrgEntry;
use crate::store::otps::{EarlyReceipt, SmsOtp};
use crate::store::{DbConn, StoreError, now};

use super::SmsAlert;

/// What a receipt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Recorded on its code (and, for a failure, published).
    Recorded,
    /// Its code already had a report: nothing changed.
    AlreadyKnown,
    /// No code has this message (yet): kept for the delivery that will record it.
    Kept,
}

/// Applies a final receipt (`Delivered` or `Failed`) for the message `message_id` that the
/// gateway `gateway` (its label) sent for `org`, in the caller's transaction: stored on its code,
/// and an undelivered code published as `SmsOtpUndeliveredEvent`.
pub fn apply(
    conn: &mut DbConn,
    org: &OrgEntry,
    gateway: &str,
    message_id: &str,
    delivery: Delivery,
    detail: &str,
) -> Result<Applied, StoreError> {
    SmsOtp::lock_message(conn, org.org.id, gateway, message_id)?;
    let Some(sent) = SmsOtp::by_message(conn, org.org.id, gateway, message_id)? else {
        EarlyReceipt::keep(
            conn,
            &EarlyReceipt {
                organization_id: org.org.id,
                gateway: gateway.to_string(),
                message_id: message_id.to_string(),
                delivery: delivery.as_str().to_string(),
                detail: detail.to_string(),
                received_at: now(),
            },
        )?;
        return Ok(Applied::Kept);
    };
    if !SmsOtp::set_delivery(conn, &sent.otp_id, delivery.as_str(), detail)? {
        return Ok(Applied::AlreadyKnown);
    }
    if delivery == Delivery::Failed {
        let masked_to = PhoneNumber::parse(&sent.phone_number)
            .map(|p| p.masked())
            .unwrap_or_default();
        SmsAlert::Undelivered {
            user_id: sent.user_id,
            masked_to,
            // The gateway's type, as the status URL names it.
            gateway: crate::plugin::gateway_kind(gateway).to_string(),
            detail: detail.to_string(),
        }
        .publish(org.event_origin())
        .store(conn)?;
    }
    Ok(Applied::Recorded)
}

/// After a delivery recorded (in this transaction) which gateway sent a code's text and the
/// provider's id: applies the receipt that came before, if one did.
pub fn apply_early(
    conn: &mut DbConn,
    org: &OrgEntry,
    gateway: &str,
    message_id: &str,
) -> Result<(), StoreError> {
    SmsOtp::lock_message(conn, org.org.id, gateway, message_id)?;
    if let Some(early) = EarlyReceipt::take(conn, org.org.id, gateway, message_id)? {
        let delivery = if early.delivery == Delivery::Failed.as_str() {
            Delivery::Failed
        } else {
            Delivery::Delivered
        };
        apply(conn, org, gateway, message_id, delivery, &early.detail)?;
    }
    Ok(())
}
