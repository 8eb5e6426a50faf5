//! An organization's webhooks (WebSub subscriptions) as administrators manage them: listed,
//! declared (pending the subscriber's intent verification, like a requested one) and removed.
//! Secrets are write-only; callbacks are shown without their credentials and query.

use serde::{Deserialize, Serialize};

use super::AdminError;
use super::audit::{Change, Recorder};
use crate::keys::Kek;
use crate::provisioning;
use crate::secret::Secret;
use crate::store::organizations::Organization;
use crate::store::subscriptions::Subscription;
use crate::store::{DbConn, format_rfc3339, write_transaction};

/// A subscription.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub id: String,
    /// `NOTIFICATIONS`, `USER_OPERATIONS`, `LOGINS` or `ADMIN`.
    pub topic: String,
    /// Without its user information; its query redacted.
    pub callback: String,
    /// `pending` (its intent verification is due), `active` or `denied`.
    pub state: String,
    pub lease_seconds: i64,
    pub expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

fn view(s: &Subscription) -> WebhookView {
    let shown = super::audit::redacted(&serde_json::json!({ "callback": s.callback }));
    WebhookView {
        id: s.id.clone(),
        topic: s.topic.clone(),
        callback: shown["callback"].as_str().unwrap_or_default().to_string(),
        state: s.state.clone(),
        lease_seconds: s.lease_seconds,
        expires_at: s.expires_at.map(format_rfc3339),
        created_at: format_rfc3339(s.created_at),
        updated_at: format_rfc3339(s.updated_at),
    }
}

/// A subscription an administrator declares.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// `NOTIFICATIONS`, `USER_OPERATIONS`, `LOGINS` or `ADMIN`.
    pub topic: String,
    /// An http(s) URL without a fragment; it must answer the intent verification.
    pub callback: String,
    /// Write-only, 16 to 200 bytes: the key of the `X-Hub-Signature-256` HMAC.
    #[schema(write_only, value_type = String)]
    pub secret: Secret<String>,
    /// The lease in seconds (the longest the hub grants when absent).
    pub lease_seconds: Option<i64>,
}

pub fn list(conn: &mut DbConn, organization_id: i64) -> Result<Vec<WebhookView>, AdminError> {
    Ok(Subscription::list(conn, organization_id)?
        .iter()
        .map(view)
        .collect())
}

/// Declares a subscription, checked like a provisioning file's and audited; it is pending
/// until the subscriber confirms it. One with that topic and callback already is a conflict.
pub fn create(
    conn: &mut DbConn,
    recorder: &Recorder,
    kek: &Kek,
    org: &Organization,
    new: NewWebhook,
) -> Result<WebhookView, AdminError> {
    let plan = provisioning::plan_webhook(new.topic, new.callback, new.secret, new.lease_seconds)
        .map_err(AdminError::Fields)?;
    write_transaction(conn, |conn| {
        if Subscription::find(conn, org.id, plan.topic(), plan.callback())?.is_some() {
            return Ok(Err(AdminError::Conflict(
                "there is already a subscription of this callback to this topic".into(),
            )));
        }
        provisioning::apply_declared_webhook(conn, org, &plan, kek, recorder)?;
        let created = Subscription::find(conn, org.id, plan.topic(), plan.callback())?
            .ok_or_else(|| crate::store::StoreError::Corrupt("subscription vanished".into()))?;
        Ok(Ok(view(&created)))
    })?
}

/// Removes a subscription at once, audited.
pub fn delete(
    conn: &mut DbConn,
    recorder: &Recorder,
    org: &Organization,
    id: &str,
) -> Result<(), AdminError> {
    write_transaction(conn, |conn| {
        let Some(found) = Subscription::by_id(conn, id)?.filter(|s| s.organization_id == org.id)
        else {
            return Ok(Err(AdminError::NotFound(format!(
                "no webhook '{id}' in this organization"
            ))));
        };
        Subscription::remove(conn, &found.id)?;
        let shown = view(&found);
        recorder.record(
            conn,
            org,
            Change {
                action: "webhook.delete",
                entity: "webhook",
                entity_id: &found.id,
                before: Some(serde_json::json!({
                    "topic": shown.topic,
                    "callback": found.callback,
                    "lease_seconds": shown.lease_seconds,
                    "state": shown.state,
                })),
                after: None,
            },
        )?;
        Ok(Ok(()))
    })?
}
