//! The WebSub hub (W3C WebSub): topics per organization, subscriptions verified by the GET
//! challenge before they receive anything, and signed deliveries.
//!
//! A delivery is a `POST` of the event's JSON to the callback with `Link` headers (rel `hub` and
//! `self`), `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, and
//! `X-Sesame-Signature: t=<unix seconds>,sha256=<hex HMAC(secret, "{t}.{body}")>` — the
//! timestamp is under the MAC so a receiver can refuse old (replayed) deliveries. After a secret
//! rotation the previous secret's signature is added (`…,sha256=<old>`) until the overlap ends.

use crate::keys::Kek;
use crate::plugin::{BoxFuture, Event, EventSink, Outbound, SendError};
use crate::store::deliveries::Delivery;
use crate::store::events::OutboxEvent;
use crate::store::subscriptions::Subscription;
use crate::store::{DbConn, StoreError, now};

pub const SUBSCRIBE_SCOPE: &str = "websub:subscribe";
/// The topics of an organization.
pub const TOPICS: [&str; 4] = ["NOTIFICATIONS", "USER_OPERATIONS", "LOGINS", "ADMIN"];
/// How long a rotated-out secret keeps signing.
pub const ROTATION_OVERLAP_SECONDS: i64 = 86_400;
/// Leases: the default, and the bounds a subscriber may ask for.
pub const DEFAULT_LEASE_SECONDS: i64 = 10 * 86_400;
pub const MIN_LEASE_SECONDS: i64 = 3600;
pub const MAX_LEASE_SECONDS: i64 = 365 * 86_400;

pub fn hub_url(base_url: &str) -> String {
    format!("{}/websubhub", base_url.trim_end_matches('/'))
}

/// The target string of a webhook delivery.
pub fn target(subscription_id: &str) -> String {
    format!("webhook:{subscription_id}")
}

/// Reads `hub.topic`: the topic's URL (`{base}/websubhub/topics/{org}/{TOPIC}`) or its name
/// (`{org}-{TOPIC}`). Returns the organization slug and the topic.
pub fn parse_topic(base_url: &str, topic: &str) -> Option<(String, &'static str)> {
    let prefix = format!("{}/topics/", hub_url(base_url));
    let (org, name) = match topic.strip_prefix(&prefix) {
        Some(rest) => rest.split_once('/')?,
        None => {
            let dash = topic.rfind('-')?;
            (&topic[..dash], &topic[dash + 1..])
        }
    };
    let name = TOPICS.iter().find(|t| **t == name)?;
    (!org.is_empty() && !org.contains('/')).then(|| (org.to_string(), *name))
}

fn hmac_hex(key: &[u8], data: &[u8]) -> Result<String, openssl::error::ErrorStack> {
    Ok(crate::keys::kek::hmac_sha256(key, data)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The signature headers of a delivery body: (`X-Hub-Signature`, `X-Sesame-Signature`).
pub fn signatures(
    secret: &[u8],
    previous: Option<&[u8]>,
    timestamp: i64,
    body: &[u8],
) -> Result<(String, String), openssl::error::ErrorStack> {
    let hub = format!("sha256={}", hmac_hex(secret, body)?);
    let mut stamped = format!("{timestamp}.").into_bytes();
    stamped.extend_from_slice(body);
    let mut ours = format!("t={timestamp},sha256={}", hmac_hex(secret, &stamped)?);
    if let Some(old) = previous {
        ours.push_str(&format!(",sha256={}", hmac_hex(old, &stamped)?));
    }
    Ok((hub, ours))
}

/// Seals a subscriber's secret, bound to its subscription.
pub fn seal_secret(kek: &Kek, subscription_id: &str, secret: &str) -> Result<Vec<u8>, String> {
    kek.seal(secret.as_bytes(), subscription_id.as_bytes())
        .map_err(|e| e.to_string())
}

fn open_secret(kek: &Kek, subscription_id: &str, sealed: &[u8]) -> Result<Vec<u8>, SendError> {
    kek.open(sealed, subscription_id.as_bytes())
        .map_err(|e| SendError::Permanent(format!("cannot open the subscription secret: {e}")))
}

/// Queues the event for every active subscriber of its topic and for `sinks` (the delivery
/// targets of the organization's sinks that receive it, [`super::Origin::sink_targets`]), in
/// the caller's transaction; an event nobody receives is settled at once. Returns how many
/// deliveries were queued.
pub fn fan_out(
    conn: &mut DbConn,
    event: &OutboxEvent,
    topic: &str,
    give_up_at: i64,
    sinks: &[String],
) -> Result<usize, StoreError> {
    let subs = Subscription::active(conn, event.organization_id, topic)?;
    let targets: Vec<String> = subs
        .iter()
        .map(|s| target(&s.id))
        .chain(sinks.iter().cloned())
        .collect();
    for t in &targets {
        Delivery::insert(
            conn,
            &Delivery::new(&event.jti, event.organization_id, t, give_up_at, None),
        )?;
    }
    crate::store::deliveries::settle(conn, &event.jti)?;
    Ok(targets.len())
}

/// An event to publish on a topic (unsealed: it holds no secret).
#[derive(Debug, Clone)]
pub struct Publish {
    pub topic: &'static str,
    pub event: OutboxEvent,
    /// The organization's sinks that receive it.
    pub sinks: Vec<String>,
    /// Deliveries are retried until then.
    pub give_up_at: i64,
}

impl Publish {
    pub fn new(
        origin: super::Origin<'_>,
        topic: &'static str,
        uri: &str,
        event_type: &str,
        data: serde_json::Value,
    ) -> Self {
        let jti = uuid::Uuid::new_v4().to_string();
        let payload = super::envelope(origin, &jti, super::now_ms(), topic, uri, data);
        Self {
            topic,
            sinks: origin.sink_targets(topic, false),
            give_up_at: now() + origin.delivery_max_age,
            event: OutboxEvent {
                jti,
                organization_id: origin.organization_id,
                event_type: event_type.into(),
                payload: payload.to_string().into_bytes(),
                sealed: false,
                created_at: now(),
                expires_at: None,
                delivered_at: None,
            },
        }
    }

    /// Writes the event and queues it for the topic's subscribers (in the caller's transaction).
    pub fn store(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        OutboxEvent::insert(conn, &self.event)?;
        fan_out(conn, &self.event, self.topic, self.give_up_at, &self.sinks)?;
        Ok(())
    }
}

pub const LOGIN_SUCCESS: &str = "urn:ietf:params:logins:loginSuccess";
pub const LOGIN_FAILED: &str = "urn:ietf:params:logins:loginFailed";
pub const LOCK_USER: &str = "urn:ietf:params:user-operations:lockUser";
pub const UNLOCK_USER: &str = "urn:ietf:params:user-operations:unlockUser";

/// One active subscription as the outbox sees it: a sink like the organization's brokers
/// (the event sinks), built for each delivery from the subscription's row.
#[derive(Debug)]
pub struct SubscriberSink<'a> {
    pub outbound: &'a Outbound,
    pub kek: &'a Kek,
    pub base_url: &'a str,
    pub subscription: &'a Subscription,
}

impl EventSink for SubscriberSink<'_> {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn publish<'a>(&'a self, event: Event<'a>) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(deliver(self, event))
    }
}

/// POSTs one event to one subscriber.
async fn deliver(to: &SubscriberSink<'_>, event: Event<'_>) -> Result<(), SendError> {
    let SubscriberSink {
        outbound,
        kek,
        base_url,
        subscription,
    } = *to;
    let body = event.body.to_vec();
    let secret = open_secret(kek, &subscription.id, &subscription.secret)?;
    let previous = match (
        &subscription.previous_secret,
        subscription.previous_secret_until,
    ) {
        (Some(old), Some(until)) if until > now() => Some(open_secret(kek, &subscription.id, old)?),
        _ => None,
    };
    let (hub_sig, our_sig) = signatures(&secret, previous.as_deref(), now(), &body)
        .map_err(|e| SendError::Permanent(e.to_string()))?;
    let topic_url = super::topic_url(base_url, event.organization, &subscription.topic);
    let request = outbound
        .request(reqwest::Method::POST, &subscription.callback)?
        .header("Content-Type", "application/json")
        .header(
            "Link",
            format!(
                "<{}>; rel=\"hub\", <{topic_url}>; rel=\"self\"",
                hub_url(base_url)
            ),
        )
        .header("X-Hub-Signature", hub_sig)
        .header("X-Sesame-Signature", our_sig)
        .header("X-Sesame-Event-Id", event.jti)
        .body(body);
    let (status, text) = outbound.send_capped(request).await?;
    if status.is_success() {
        return Ok(());
    }
    let detail: String = String::from_utf8_lossy(&text).chars().take(200).collect();
    // A subscriber that is down or failing is retried until the delivery's age runs out; only a
    // 410 Gone says it will never take it.
    if status.as_u16() == 410 {
        Err(SendError::Permanent(format!("HTTP 410: {detail}")))
    } else {
        Err(SendError::Retryable(format!("HTTP {status}: {detail}")))
    }
}

/// Verifies a subscriber's intent: a GET to the callback with a random challenge, which the
/// subscriber must echo. Returns whether it did.
pub async fn verify_intent(
    outbound: &Outbound,
    base_url: &str,
    org_slug: &str,
    subscription: &Subscription,
    mode: &str,
) -> Result<bool, SendError> {
    let challenge = crate::secret::random_token(24);
    let mut url = outbound.check_url(&subscription.callback)?;
    url.query_pairs_mut()
        .append_pair("hub.mode", mode)
        .append_pair(
            "hub.topic",
            &super::topic_url(base_url, org_slug, &subscription.topic),
        )
        .append_pair("hub.challenge", challenge.expose());
    if mode == "subscribe" {
        url.query_pairs_mut()
            .append_pair("hub.lease_seconds", &subscription.lease_seconds.to_string());
    }
    let request = outbound.request(reqwest::Method::GET, url.as_str())?;
    let (status, body) = outbound.send_capped(request).await?;
    Ok(status.is_success() && body == challenge.expose().as_bytes())
}

/// Tells a subscriber its subscription was refused (best effort, as WebSub allows).
pub async fn notify_denied(
    outbound: &Outbound,
    base_url: &str,
    org_slug: &str,
    subscription: &Subscription,
    reason: &str,
) {
    let Ok(mut url) = outbound.check_url(&subscription.callback) else {
        return;
    };
    url.query_pairs_mut()
        .append_pair("hub.mode", "denied")
        .append_pair(
            "hub.topic",
            &super::topic_url(base_url, org_slug, &subscription.topic),
        )
        .append_pair("hub.reason", reason);
    if let Ok(request) = outbound.request(reqwest::Method::GET, url.as_str()) {
        let _ = outbound.send_capped(request).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_by_url_or_by_name() {
        let base = "https://id.example";
        assert_eq!(
            parse_topic(
                base,
                "https://id.example/websubhub/topics/acme/NOTIFICATIONS"
            ),
            Some(("acme".into(), "NOTIFICATIONS"))
        );
        assert_eq!(
            parse_topic(base, "my-org-USER_OPERATIONS"),
            Some(("my-org".into(), "USER_OPERATIONS"))
        );
        assert_eq!(parse_topic(base, "acme-SECRETS"), None);
        assert_eq!(
            parse_topic(base, "https://other.example/websubhub/topics/acme/LOGINS"),
            None
        );
    }

    #[test]
    fn signatures_cover_the_body_and_the_timestamp() {
        let (hub, ours) = signatures(b"s3cret", None, 1_700_000_000, b"{}").unwrap();
        // HMAC-SHA256 values computed independently (Python's hmac module).
        assert_eq!(
            hub,
            "sha256=adbde1ce40c89c14215687d5d762a47df6dfaefcfad61e2e86718ffc8498571b"
        );
        assert_eq!(
            ours,
            "t=1700000000,sha256=97926816e98fbb41ccb1673225ff29a2f35369099990e1b1561651e7bd097ebf"
        );
        let (hub2, _) = signatures(b"s3cret", None, 1_700_000_000, b"{ }").unwrap();
        assert_ne!(hub, hub2, "a changed body changes the signature");
        let (_, both) = signatures(b"new", Some(b"old"), 1, b"{}").unwrap();
        assert_eq!(both.matches("sha256=").count(), 2);
    }
}
