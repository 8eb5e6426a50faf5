//! What is known of the delivery of a sign-in's latest SMS code: the small frame on the code's
//! page asks, and reloads itself while a receipt may still come.

use super::*;
use crate::authn::outcome::DeliveryView;

/// How long after its text was sent a code's page watches for a delivery receipt; carriers
/// report a failure within seconds to a minute.
pub const RECEIPT_WATCH_SECONDS: i64 = 120;

/// Whether a receipt may still come for `code`'s text: its fate is unknown, it is live, it was
/// sent within [`RECEIPT_WATCH_SECONDS`], and the gateway that took it (or, while it is being
/// sent, one of the organization's) takes receipts.
pub(super) fn awaits_receipt(org: &OrgEntry, code: &SmsOtp, now: i64) -> bool {
    code.delivery.is_none()
        && code.dead(i64::MAX, now).is_none()
        && now - code.created_at < RECEIPT_WATCH_SECONDS
        && org
            .sms
            .as_ref()
            .is_ok_and(|c| c.takes_receipts(code.gateway.as_deref()))
}

/// The delivery of `sign_in`'s latest code at `now`.
pub async fn sms_delivery(
    core: &Core,
    sign_in: &SignIn,
    now: i64,
) -> Result<DeliveryView, CoreError> {
    let id = sign_in.tx.id.clone();
    let latest = core.db.run(move |conn| SmsOtp::latest(conn, &id)).await?;
    let Some(latest) = latest else {
        return Ok(DeliveryView::Closed);
    };
    // Wrong entries do not close it: the page says what they mean.
    if latest.dead(i64::MAX, now).is_some() {
        return Ok(DeliveryView::Closed);
    }
    Ok(match latest.delivery.as_deref() {
        Some("failed") => DeliveryView::Failed,
        Some(_) => DeliveryView::Delivered,
        None => DeliveryView::Pending {
            watching: awaits_receipt(&sign_in.org, &latest, now),
        },
    })
}
