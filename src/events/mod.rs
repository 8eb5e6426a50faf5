//! Events for webhook subscribers and event sinks, in Asgardeo's format: a JSON body `{"iss",
//! "jti", "iat" (epoch milliseconds), "aud" (the topic's URL), "event": {"<event URI>":
//! {…data…}}}` — the same fields DESIGN.md §2 lists as security data and event data.
//! They are written to the outbox (`store::events`) in the transaction of the change they
//! report, with a delivery for each subscriber ([`hub`]) and sink ([`sinks`]) that takes their
//! topic; the [`worker`] delivers them.

pub mod hub;
pub mod listen;
pub mod receipts;
pub mod sinks;
pub mod subscribe;
pub mod worker;

use serde_json::json;

use crate::keys::{Kek, KeyError};
use crate::store::events::OutboxEvent;
use crate::store::now;

pub const SMS_OTP_NOTIFICATION: &str = "SmsOtpNotificationEvent";
pub const SMS_OTP_URI: &str = "urn:ietf:params:notifications:smsOtp";

/// The URL of an organization's topic (`NOTIFICATIONS`, `USER_OPERATIONS`): the events' `aud`.
pub fn topic_url(base_url: &str, org_slug: &str, topic: &str) -> String {
    format!(
        "{}/websubhub/topics/{org_slug}/{topic}",
        base_url.trim_end_matches('/')
    )
}

/// The envelope every event shares.
pub(crate) fn envelope(
    origin: Origin<'_>,
    jti: &str,
    iat_ms: i64,
    topic: &str,
    uri: &str,
    data: serde_json::Value,
) -> serde_json::Value {
    json!({
        "iss": origin.issuer,
        "jti": jti,
        "iat": iat_ms,
        "aud": topic_url(origin.base_url, origin.organization_slug, topic),
        "event": { uri: data },
    })
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(now() * 1000, |d| d.as_millis() as i64)
}

/// What an event needs to know about where it comes from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub issuer: &'a str,
    pub base_url: &'a str,
    pub organization_id: i64,
    pub organization_slug: &'a str,
    pub organization_name: &'a str,
    /// How long webhook deliveries of its events are retried (`SESAME_DELIVERY_MAX_AGE_SECONDS`).
    pub delivery_max_age: i64,
    /// The organization's event sinks (brokers), which receive its events beside webhooks.
    pub sinks: &'a [sinks::SinkSettings],
}

impl Origin<'_> {
    /// The delivery targets of the sinks that receive an event of `topic` (`otp`: an OTP
    /// notification, which holds a code).
    pub fn sink_targets(&self, topic: &str, otp: bool) -> Vec<String> {
        self.sinks
            .iter()
            .filter(|s| s.receives(topic, otp))
            .map(|s| sinks::target(&s.name))
            .collect()
    }
}

/// An organization's [`Origin`] outside a request (the CLI, imports): what it borrows, owned.
#[derive(Debug, Clone)]
pub struct OwnedOrigin {
    pub org: crate::store::organizations::Organization,
    issuer: String,
    base_url: String,
    delivery_max_age: i64,
}

impl OwnedOrigin {
    pub fn new(
        settings: &crate::config::Settings,
        org: crate::store::organizations::Organization,
    ) -> Self {
        Self::of(&settings.base_url, settings.delivery_max_age_seconds, org)
    }

    pub fn of(
        base_url: &crate::config::BaseUrl,
        delivery_max_age: i64,
        org: crate::store::organizations::Organization,
    ) -> Self {
        Self {
            issuer: base_url.issuer(&org.slug),
            base_url: base_url.as_str().to_string(),
            delivery_max_age,
            org,
        }
    }

    pub fn origin(&self) -> Origin<'_> {
        Origin {
            issuer: &self.issuer,
            base_url: &self.base_url,
            organization_id: self.org.id,
            organization_slug: &self.org.slug,
            organization_name: &self.org.display_name,
            delivery_max_age: self.delivery_max_age,
            sinks: &self.org.settings.event_sinks,
        }
    }
}

impl crate::state::OrgEntry {
    /// Where this organization's events come from.
    pub fn event_origin(&self) -> Origin<'_> {
        Origin {
            issuer: &self.issuer,
            base_url: &self.base_url,
            organization_id: self.org.id,
            organization_slug: &self.org.slug,
            organization_name: &self.org.display_name,
            delivery_max_age: self.delivery_max_age,
            sinks: &self.org.settings.event_sinks,
        }
    }
}

/// The `SmsOtpNotificationEvent` of one code sent. Its message holds the code, so the payload is
/// sealed under the key-encryption key (bound to the event id) and expires with the code.
pub fn sms_otp_notification(
    kek: &Kek,
    origin: Origin<'_>,
    send_to: &str,
    message_body: &str,
    expires_at: i64,
) -> Result<OutboxEvent, KeyError> {
    let jti = uuid::Uuid::new_v4().to_string();
    let t = now();
    let payload = envelope(
        origin,
        &jti,
        now_ms(),
        "NOTIFICATIONS",
        SMS_OTP_URI,
        json!({
            "organizationId": origin.organization_id,
            "organizationName": origin.organization_name,
            "sendTo": send_to,
            "messageBody": message_body,
        }),
    );
    let sealed = kek.seal(payload.to_string().as_bytes(), jti.as_bytes())?;
    Ok(OutboxEvent {
        jti,
        organization_id: origin.organization_id,
        event_type: SMS_OTP_NOTIFICATION.into(),
        payload: sealed,
        sealed: true,
        created_at: t,
        expires_at: Some(expires_at),
        delivered_at: None,
    })
}

/// A change a user made to their own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChangeKind {
    BackupCodesGenerated,
    BackupCodesRemoved,
    MobileNumberChanged,
    /// A plug-in factor's credential was added (the detail names the factor).
    CredentialAdded,
    CredentialRemoved,
    /// The user signed out sessions of theirs from the account area (the detail says how many).
    SessionsEnded,
    /// The user took an application's access away (the detail names it).
    ApplicationAccessRemoved,
    /// The user changed their password in the account area.
    PasswordChanged,
    /// The user chose a new password after a reset link (`authn::reset`); published as a
    /// password update too.
    PasswordReset,
    /// The user created the account themselves and verified its address
    /// (`authn::registration`); the detail names the application it was offered by.
    Registered,
}

impl AccountChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BackupCodesGenerated => "backup_codes_generated",
            Self::BackupCodesRemoved => "backup_codes_removed",
            Self::MobileNumberChanged => "mobile_number_changed",
            Self::CredentialAdded => "credential_added",
            Self::CredentialRemoved => "credential_removed",
            Self::SessionsEnded => "sessions_ended",
            Self::ApplicationAccessRemoved => "application_access_removed",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::Registered => "registered",
        }
    }

    fn event_type(self) -> &'static str {
        match self {
            Self::BackupCodesGenerated => "BackupCodesGeneratedEvent",
            Self::BackupCodesRemoved => "BackupCodesRemovedEvent",
            Self::MobileNumberChanged => "MobileNumberUpdatedEvent",
            Self::CredentialAdded => "CredentialAddedEvent",
            Self::CredentialRemoved => "CredentialRemovedEvent",
            Self::SessionsEnded => "SessionsRevokedEvent",
            Self::ApplicationAccessRemoved => "ApplicationAccessRevokedEvent",
            Self::PasswordChanged | Self::PasswordReset => "PasswordUpdatedEvent",
            Self::Registered => "UserRegisteredEvent",
        }
    }

    /// The event URI, in the style of Asgardeo's user-operation events.
    pub fn uri(self) -> &'static str {
        match self {
            Self::BackupCodesGenerated => "urn:ietf:params:user-operations:backupCodesRegenerated",
            Self::BackupCodesRemoved => "urn:ietf:params:user-operations:backupCodesRemoved",
            Self::MobileNumberChanged => "urn:ietf:params:user-operations:mobileNumberUpdated",
            Self::CredentialAdded => "urn:ietf:params:user-operations:credentialAdded",
            Self::CredentialRemoved => "urn:ietf:params:user-operations:credentialRemoved",
            Self::SessionsEnded => "urn:ietf:params:user-operations:sessionsRevoked",
            Self::ApplicationAccessRemoved => {
                "urn:ietf:params:user-operations:applicationAccessRevoked"
            }
            Self::PasswordChanged | Self::PasswordReset => {
                "urn:ietf:params:user-operations:passwordUpdated"
            }
            Self::Registered => "urn:ietf:params:user-operations:userRegistered",
        }
    }
}

/// Records an account change and publishes its event (no secret in either: `detail` is a
/// count or a masked number). Call inside the change's transaction.
pub fn account_changed(
    conn: &mut crate::store::DbConn,
    origin: Origin<'_>,
    user_id: &str,
    kind: AccountChangeKind,
    detail: &str,
) -> Result<(), crate::store::StoreError> {
    use crate::store::account_changes::AccountChange;
    let t = now();
    let jti = uuid::Uuid::new_v4().to_string();
    AccountChange::insert(
        conn,
        &AccountChange {
            id: jti.clone(),
            organization_id: origin.organization_id,
            user_id: user_id.to_string(),
            change: kind.as_str().into(),
            detail: detail.into(),
            created_at: t,
        },
    )?;
    let payload = envelope(
        origin,
        &jti,
        now_ms(),
        "USER_OPERATIONS",
        kind.uri(),
        json!({
            "organizationId": origin.organization_id,
            "organizationName": origin.organization_name,
            "userId": user_id,
            "detail": detail,
        }),
    );
    let event = OutboxEvent {
        jti,
        organization_id: origin.organization_id,
        event_type: kind.event_type().into(),
        payload: payload.to_string().into_bytes(),
        sealed: false,
        created_at: t,
        expires_at: None,
        delivered_at: None,
    };
    OutboxEvent::insert(conn, &event)?;
    let sinks = origin.sink_targets("USER_OPERATIONS", false);
    hub::fan_out(
        conn,
        &event,
        "USER_OPERATIONS",
        t + origin.delivery_max_age,
        &sinks,
    )?;
    Ok(())
}

/// Who a sign-in event is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub user_id: &'a str,
    pub username: &'a str,
}

/// The events a sign-in publishes, as typed values: each becomes its outbox row in
/// [`SignInEvent::publish`], the one place their topics, URIs and fields are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInEvent {
    /// A whole flow passed (`LOGINS`).
    LoginSuccess {
        client_id: String,
        amr: Vec<&'static str>,
        acr: &'static str,
    },
    /// An authenticator failed for a known user (`LOGINS`).
    LoginFailed {
        client_id: String,
        authenticator: String,
    },
    /// The account was locked until then (`USER_OPERATIONS`).
    Locked { until: i64 },
    /// A lock that ran out then was ended at the account's next attempt (`USER_OPERATIONS`).
    Unlocked { until: i64 },
}

impl SignInEvent {
    /// The event, ready to store in the transaction of the change it reports.
    pub fn publish(&self, origin: Origin<'_>, subject: Subject<'_>) -> hub::Publish {
        let mut data = json!({
            "organizationId": origin.organization_id,
            "organizationName": origin.organization_name,
            "userId": subject.user_id,
            "username": subject.username,
        });
        let (topic, uri, event_type) = match self {
            Self::LoginSuccess {
                client_id,
                amr,
                acr,
            } => {
                data["clientId"] = client_id.as_str().into();
                data["amr"] = json!(amr);
                data["acr"] = (*acr).into();
                ("LOGINS", hub::LOGIN_SUCCESS, "LoginSuccessEvent")
            }
            Self::LoginFailed {
                client_id,
                authenticator,
            } => {
                data["clientId"] = client_id.as_str().into();
                data["authenticator"] = authenticator.as_str().into();
                ("LOGINS", hub::LOGIN_FAILED, "LoginFailedEvent")
            }
            Self::Locked { until } => {
                data["lockedUntil"] = (*until).into();
                ("USER_OPERATIONS", hub::LOCK_USER, "LockUserEvent")
            }
            Self::Unlocked { until } => {
                data["lockedUntil"] = (*until).into();
                ("USER_OPERATIONS", hub::UNLOCK_USER, "UnlockUserEvent")
            }
        };
        hub::Publish::new(origin, topic, uri, event_type, data)
    }
}

/// Alerts about the organization's text messages (`NOTIFICATIONS`), for whoever pays for them:
/// published once per trip of the SMS budget's breaker, at most once an hour per country, and
/// once per code whose text the provider reported undelivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsAlert {
    /// The organization reached its SMS budget: codes are not sent until `until`.
    BreakerTripped {
        /// `hour` or `day`: the budget that was reached.
        window: &'static str,
        limit: i64,
        until: i64,
    },
    /// Many codes went to one country within an hour (a sign of SMS pumping).
    CountryVelocity {
        region: String,
        sent: i64,
        limit: i64,
    },
    /// A code's text message will not arrive (a delivery receipt said so).
    Undelivered {
        user_id: String,
        /// The number, masked to its last four digits.
        masked_to: String,
        gateway: String,
        /// The provider's status and error code.
        detail: String,
    },
}

pub const SMS_BREAKER_TRIPPED: &str = "urn:ietf:params:notifications:smsBudgetBreakerTripped";
pub const SMS_COUNTRY_VELOCITY: &str = "urn:ietf:params:notifications:smsCountryVelocity";
pub const SMS_OTP_UNDELIVERED: &str = "urn:ietf:params:notifications:smsOtpUndelivered";

impl SmsAlert {
    /// The event, ready to store in the transaction of the send that raised it.
    pub fn publish(&self, origin: Origin<'_>) -> hub::Publish {
        let mut data = json!({
            "organizationId": origin.organization_id,
            "organizationName": origin.organization_name,
        });
        let (uri, event_type) = match self {
            Self::BreakerTripped {
                window,
                limit,
                until,
            } => {
                data["window"] = (*window).into();
                data["limit"] = (*limit).into();
                data["pausedUntil"] = (*until).into();
                (SMS_BREAKER_TRIPPED, "SmsBudgetBreakerTrippedEvent")
            }
            Self::CountryVelocity {
                region,
                sent,
                limit,
            } => {
                data["region"] = region.as_str().into();
                data["sentLastHour"] = (*sent).into();
                data["limit"] = (*limit).into();
                (SMS_COUNTRY_VELOCITY, "SmsCountryVelocityEvent")
            }
            Self::Undelivered {
                user_id,
                masked_to,
                gateway,
                detail,
            } => {
                data["userId"] = user_id.as_str().into();
                data["sendTo"] = masked_to.as_str().into();
                data["gateway"] = gateway.as_str().into();
                data["status"] = detail.as_str().into();
                (SMS_OTP_UNDELIVERED, "SmsOtpUndeliveredEvent")
            }
        };
        hub::Publish::new(origin, "NOTIFICATIONS", uri, event_type, data)
    }
}

/// Opens an event's payload (sealed or not).
pub fn open_payload(kek: &Kek, event: &OutboxEvent) -> Result<serde_json::Value, KeyError> {
    let bytes = if event.sealed {
        kek.open(&event.payload, event.jti.as_bytes())?
    } else {
        event.payload.clone()
    };
    serde_json::from_slice(&bytes).map_err(|e| KeyError::Malformed(e.to_string()))
}

/// The payload as a listing may show it: the message body (which holds the code) redacted and
/// phone numbers masked to their last four digits.
pub fn redacted(payload: &serde_json::Value) -> serde_json::Value {
    let mut shown = payload.clone();
    if let Some(events) = shown.get_mut("event").and_then(|e| e.as_object_mut()) {
        for data in events.values_mut() {
            if let Some(body) = data.get_mut("messageBody") {
                *body = json!("[redacted]");
            }
            mask_numbers(data);
        }
    }
    shown
}

/// Masks every string that is a phone number, however deep.
fn mask_numbers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) if s.starts_with('+') => {
            if let Ok(number) = crate::domain::PhoneNumber::parse(s) {
                *s = number.masked();
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_numbers),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(mask_numbers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn the_sms_otp_event_is_sealed_and_has_the_guides_fields() {
        let kek = Kek::new(Secret::new([9u8; 32]));
        let origin = Origin {
            issuer: "https://id.example/t/myorg",
            base_url: "https://id.example",
            organization_id: 3,
            organization_slug: "myorg",
            organization_name: "My Org",
            delivery_max_age: 86_400,
            sinks: &[],
        };
        let body = "Your one-time password for the myapp is 075052. This expires in 5 minutes.";
        let event = sms_otp_notification(&kek, origin, "+1234567890", body, now() + 300).unwrap();
        assert!(event.sealed);
        assert!(
            !String::from_utf8_lossy(&event.payload).contains("075052"),
            "the code is not readable at rest"
        );
        let payload = open_payload(&kek, &event).unwrap();
        assert_eq!(payload["jti"], event.jti.as_str());
        assert_eq!(payload["iss"], "https://id.example/t/myorg");
        assert_eq!(
            payload["aud"],
            "https://id.example/websubhub/topics/myorg/NOTIFICATIONS"
        );
        assert!(payload["iat"].as_i64().unwrap() > 1_600_000_000_000);
        let data = &payload["event"][SMS_OTP_URI];
        assert_eq!(data["organizationId"], 3);
        assert_eq!(data["organizationName"], "My Org");
        assert_eq!(data["sendTo"], "+1234567890");
        assert_eq!(data["messageBody"], body);
        let shown = redacted(&payload);
        assert!(!shown.to_string().contains("075052"));
        // A listing masks the number too (issue: numbers never whole in logs or listings).
        assert_eq!(shown["event"][SMS_OTP_URI]["sendTo"], "******7890");
    }
}
