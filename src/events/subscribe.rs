//! Subscription requests to the WebSub hub (W3C WebSub §5.1), once the subscriber is
//! authorized: the request's fields checked, then recorded as pending. Nothing is delivered (or
//! removed) before the worker has verified the subscriber's intent with a GET challenge.

use super::hub;
use crate::plugin::Outbound;
use crate::state::Core;
use crate::store::subscriptions::{self, Subscription};
use crate::store::{StoreError, now};

/// `hub.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Subscribe,
    Unsubscribe,
}

impl Mode {
    pub fn parse(mode: &str) -> Option<Self> {
        match mode {
            "subscribe" => Some(Self::Subscribe),
            "unsubscribe" => Some(Self::Unsubscribe),
            _ => None,
        }
    }
}

/// A request whose fields were checked.
#[derive(Debug)]
pub struct Request {
    mode: Mode,
    topic: &'static str,
    callback: String,
    lease: i64,
    secret: Option<String>,
}

impl Request {
    /// Checks `hub.callback`, `hub.lease_seconds` and `hub.secret` (empty fields are absent), in
    /// that order; the message says what is wrong.
    pub fn check(
        outbound: &Outbound,
        mode: Mode,
        topic: &'static str,
        callback: Option<&str>,
        lease_seconds: Option<&str>,
        secret: Option<&str>,
    ) -> Result<Self, String> {
        let Some(callback) = callback else {
            return Err("hub.callback is required".into());
        };
        match outbound.check_url(callback) {
            Ok(url) if url.fragment().is_none() => {}
            Ok(_) => return Err("hub.callback must not have a fragment".into()),
            Err(e) => return Err(format!("hub.callback: {e}")),
        }
        let lease = match lease_seconds.map(str::parse::<i64>) {
            None => hub::DEFAULT_LEASE_SECONDS,
            Some(Ok(n)) if n > 0 => n.clamp(hub::MIN_LEASE_SECONDS, hub::MAX_LEASE_SECONDS),
            Some(_) => return Err("hub.lease_seconds must be a positive integer".into()),
        };
        if mode == Mode::Subscribe && !secret.is_some_and(|s| (16..=200).contains(&s.len())) {
            return Err(
                "hub.secret is required: 16 to 200 bytes, used to sign every delivery".into(),
            );
        }
        Ok(Self {
            mode,
            topic,
            callback: callback.to_string(),
            lease,
            secret: secret.map(str::to_string),
        })
    }
}

/// Why a checked request could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("the subscriber's secret cannot be sealed")]
    Seal,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records the request for the organization `org_id` as pending verification, and wakes the
/// worker that verifies it.
pub async fn submit(core: &Core, org_id: i64, request: Request) -> Result<(), SubscribeError> {
    let Request {
        mode,
        topic,
        callback,
        lease,
        secret,
    } = request;
    let (topic, secret) = (topic.to_string(), secret.unwrap_or_default());
    let existing = {
        let (t, c) = (topic.clone(), callback.clone());
        core.db
            .run(move |conn| Subscription::find(conn, org_id, &t, &c))
            .await?
    };
    let kek = core.keys.kek();
    match (mode, existing) {
        (Mode::Subscribe, None) => {
            let id = uuid::Uuid::new_v4().to_string();
            let sealed = hub::seal_secret(kek, &id, &secret).map_err(|_| SubscribeError::Seal)?;
            let t = now();
            let sub = Subscription {
                id,
                organization_id: org_id,
                topic,
                callback,
                secret: sealed,
                pending_secret: None,
                previous_secret: None,
                previous_secret_until: None,
                state: subscriptions::PENDING.into(),
                pending_mode: Some("subscribe".into()),
                lease_seconds: lease,
                expires_at: None,
                verify_after: t,
                verify_attempts: 0,
                created_at: t,
                updated_at: t,
            };
            core.db
                .run(move |conn| Subscription::insert(conn, &sub))
                .await?;
        }
        (Mode::Subscribe, Some(sub)) => {
            // A renewal, or a secret rotation: the new secret applies once verified.
            let sealed =
                hub::seal_secret(kek, &sub.id, &secret).map_err(|_| SubscribeError::Seal)?;
            core.db
                .run(move |conn| {
                    Subscription::request(conn, &sub.id, "subscribe", Some(&sealed), lease)
                })
                .await?;
        }
        (Mode::Unsubscribe, Some(sub)) => {
            core.db
                .run(move |conn| {
                    Subscription::request(conn, &sub.id, "unsubscribe", None, sub.lease_seconds)
                })
                .await?;
        }
        (Mode::Unsubscribe, None) => {}
    }
    core.verifications_due.notify_one();
    Ok(())
}
