//! An organization's outbox as administrators see it: its newest events (payloads with message
//! bodies redacted and numbers masked) with each delivery's state, and redelivery.

use serde::Serialize;
use serde_json::json;

use super::audit::{self, Change};
use super::{Actor, AdminError};
use crate::events::Origin;
use crate::keys::Kek;
use crate::store::deliveries::{self, Delivery};
use crate::store::events::OutboxEvent;
use crate::store::{DbConn, format_rfc3339, write_transaction};

/// An event of the outbox and where it went.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    /// The event's `jti`, its idempotency key.
    pub id: String,
    /// e.g. `SmsOtpNotificationEvent`, `LoginSuccessEvent`, `AdminChangeEvent`.
    pub event_type: String,
    pub created_at: String,
    /// When every delivery was settled.
    pub delivered_at: Option<String>,
    /// The event as delivered, with message bodies (which hold codes) redacted and numbers
    /// masked; `null` when it can no longer be read (a code's event, once purged).
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
    pub deliveries: Vec<DeliveryView>,
}

/// One delivery of an event to one target.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: String,
    /// `webhook:{subscription id}`, `sink:{name}` or `sms`.
    pub target: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
}

fn delivery_view(d: Delivery) -> DeliveryView {
    DeliveryView {
        id: d.id,
        target: d.target,
        state: d.state,
        attempts: d.attempts,
        last_error: d.last_error,
        delivered_at: d.delivered_at.map(format_rfc3339),
    }
}

/// The organization's newest `limit` events.
pub fn list(
    conn: &mut DbConn,
    kek: &Kek,
    organization_id: i64,
    limit: i64,
) -> Result<Vec<EventView>, AdminError> {
    let mut out = Vec::new();
    for event in OutboxEvent::list(conn, organization_id, limit)? {
        let deliveries = Delivery::of_event(conn, &event.jti)?
            .into_iter()
            .map(delivery_view)
            .collect();
        out.push(EventView {
            payload: crate::events::open_payload(kek, &event)
                .ok()
                .map(|p| crate::events::redacted(&p)),
            id: event.jti,
            event_type: event.event_type,
            created_at: format_rfc3339(event.created_at),
            delivered_at: event.delivered_at.map(format_rfc3339),
            deliveries,
        });
    }
    Ok(out)
}

/// Delivers the event again to each of its targets, for `max_age` more seconds; an event
/// holding a code only while the code is live. Returns each delivery and whether it was
/// scheduled again.
pub fn redeliver(
    conn: &mut DbConn,
    origin: Origin<'_>,
    actor: &Actor,
    jti: &str,
    max_age: i64,
) -> Result<Vec<(DeliveryView, bool)>, AdminError> {
    write_transaction(conn, |conn| {
        let found: Vec<Delivery> = Delivery::of_event(conn, jti)?
            .into_iter()
            .filter(|d| d.organization_id == origin.organization_id)
            .collect();
        if found.is_empty() {
            return Ok(Err(AdminError::NotFound(format!(
                "no deliveries of event '{jti}' in this organization"
            ))));
        }
        let mut out = Vec::new();
        for d in found {
            let scheduled = deliveries::redeliver(conn, &d.id, max_age)?;
            out.push((delivery_view(d), scheduled));
        }
        audit::record(
            conn,
            origin,
            actor,
            Change {
                action: "event.redeliver",
                entity: "event",
                entity_id: jti,
                before: None,
                after: Some(json!({
                    "scheduled": out.iter().filter(|(_, s)| *s).map(|(d, _)| &d.target).collect::<Vec<_>>(),
                    "refused": out.iter().filter(|(_, s)| !*s).map(|(d, _)| &d.target).collect::<Vec<_>>(),
                })),
            },
        )?;
        Ok(Ok(out))
    })?
}
