//! Connections → SMS OTP → "send a test message": a text through the organization's SMS
//! channel as configured now, to a number the organization sends codes to, so an operator sees
//! that the gateways and their credentials work before a user needs a code. Limited per
//! organization and audited (each message costs money).

use serde::Serialize;
use serde_json::json;

use super::audit::{self, Change};
use super::{Actor, AdminError};
use crate::authn::sms_limits;
use crate::events::Origin;
use crate::store::admin::AuditEntry;
use crate::store::organizations::OrgSettings;
use crate::store::{DbConn, StoreError, now};

/// Test messages an organization may send per hour.
pub const TEST_MESSAGES_PER_HOUR: i64 = 20;

/// The audit log's action of a test message.
const ACTION: &str = "sms.test_message";

/// What a test message did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestMessageSent {
    /// The number, masked.
    pub to: String,
    /// The gateway that took it (`http#0`: its type and place in the list).
    pub gateway: String,
    /// The provider's id of the message.
    pub message_id: String,
}

/// The text of a test message.
pub fn text(display_name: &str) -> String {
    format!("Test message from Sesame for {display_name}: your SMS gateway works.")
}

/// The number a test message goes to, checked as a code's would be (the organization's
/// countries and line types), after the hour's limit.
pub fn destination(
    conn: &mut DbConn,
    organization_id: i64,
    settings: &OrgSettings,
    number: &str,
) -> Result<crate::domain::PhoneNumber, AdminError> {
    let sent = AuditEntry::count_since(conn, organization_id, ACTION, now() - 3600)?;
    if sent >= TEST_MESSAGES_PER_HOUR {
        return Err(AdminError::Limited(format!(
            "{TEST_MESSAGES_PER_HOUR} test messages were sent in the last hour: wait"
        )));
    }
    sms_limits::destination(
        number,
        &settings.sms_otp.allowed_countries,
        &settings.sms_otp.line_types,
    )
    .map(|d| d.number)
    .map_err(|refusal| AdminError::invalid("phone_number", refusal.message()))
}

/// Records a test message in the audit log: to whom (masked), through which gateway, or why
/// it failed.
pub fn record(
    conn: &mut DbConn,
    origin: Origin<'_>,
    actor: &Actor,
    masked: &str,
    outcome: Result<&TestMessageSent, &str>,
) -> Result<(), StoreError> {
    let after = match outcome {
        Ok(sent) => json!({ "to": masked, "gateway": sent.gateway, "result": "sent" }),
        Err(why) => json!({ "to": masked, "result": "failed", "error": why }),
    };
    audit::record(
        conn,
        origin,
        actor,
        Change {
            action: ACTION,
            entity: "sms",
            entity_id: masked,
            before: None,
            after: Some(after),
        },
    )?;
    Ok(())
}
