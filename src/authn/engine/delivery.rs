//! What is known of the delivery of a sign-in's latest SMS code: the small frame on the code's
//! page asks, and reloads itself while a receipt may still come.

use super::*;
use crate::authn::outcome::DeliveryView;

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
            age: now - latest.created_at,
        },
    })
}
