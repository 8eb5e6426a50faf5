//! Event sinks: an organization's events published to a broker (NATS JetStream, RabbitMQ, Redis
//! Streams) by a plug-in, beside its webhooks and with the same guarantees.
//!
//! A sink is named in the organization's settings (`[[organizations.event_sinks]]`) with the
//! topics it receives. When an event of one of those topics is written to the outbox, a delivery
//! to `sink:{name}` is written with it, in the same transaction; the delivery worker then
//! publishes it through the plug-in in the sink's own lanes (a broker that is down delays only
//! its own deliveries), retries with backoff until the broker acknowledges it, and records the
//! outcome. Webhooks go the same way: each active subscription is a sink of the hub's
//! ([`super::hub::SubscriberSink`]), so the worker publishes every event through
//! [`EventSink::publish`], whatever receives it. The event's `jti` goes with every attempt, so brokers that
//! deduplicate (JetStream, the Redis sink's script) drop replays, and consumers of the others can.
//!
//! **OTP notifications** (`SmsOtpNotificationEvent`, which holds the code in its message) go to
//! a sink only when the organization's texts are sent by its subscribers
//! (`[organizations.sms] channel = "webhook"`) and the sink says so: `otp_notifications =
//! "plain"` (the envelope as is), or `"sealed"`: a compact JWE (`alg` `dir`, `enc` `A256GCM`)
//! of the envelope under the sink's `seal_key`, 32 bytes in base64, which only the consumer
//! holds. The code never reaches a log either way.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::plugin::{EventSink, SecretRef, SendError};
use crate::secret::Secret;
use crate::state::{Core, OrgEntry};
use crate::store::events::OutboxEvent;

/// The target of a delivery to the sink `name`.
pub fn target(name: &str) -> String {
    format!("sink:{name}")
}

/// The sink a delivery's target names, if it names one.
pub fn named(target: &str) -> Option<&str> {
    target.strip_prefix("sink:")
}

/// One configured broker, by its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkKind {
    Nats(sesame_plugin_nats::Config),
    Rabbitmq(sesame_plugin_rabbitmq::Config),
    Redis(sesame_plugin_redis::Config),
}

impl SinkKind {
    /// Whether what goes to the broker is out of others' sight: TLS, or a broker on this host
    /// (every server of its URL, for NATS's lists).
    pub fn private_transport(&self) -> bool {
        let (urls, tls) = match self {
            Self::Nats(c) => (c.url.as_str(), "tls"),
            Self::Rabbitmq(c) => (c.url.as_str(), "amqps"),
            Self::Redis(c) => (c.url.as_str(), "rediss"),
        };
        urls.split(',').all(|u| {
            url::Url::parse(u.trim()).is_ok_and(|u| {
                u.scheme() == tls
                    || match u.host() {
                        // Hosts of URLs whose scheme the URL standard does not know stay
                        // text, addresses included.
                        Some(url::Host::Domain(d)) => {
                            d == "localhost"
                                || d.parse::<std::net::IpAddr>()
                                    .is_ok_and(|ip| ip.is_loopback())
                        }
                        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                        None => false,
                    }
            })
        })
    }
}

/// What a sink receives of the OTP notifications.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtpNotifications {
    /// None (the default): they hold a code.
    #[default]
    None,
    /// The envelope as is, code included.
    Plain,
    /// A compact JWE of the envelope under the sink's `seal_key`.
    Sealed,
}

/// One `[[organizations.event_sinks]]`: its name, what it receives, and the broker's settings
/// (the plug-in's own fields, beside `type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkSettings {
    /// Names the sink in deliveries (`sink:{name}`) and listings: 1-64 of `a-z 0-9 - _`.
    pub name: String,
    /// The topics it receives: `NOTIFICATIONS`, `USER_OPERATIONS`, `LOGINS`.
    pub topics: Vec<String>,
    #[serde(default, skip_serializing_if = "is_none")]
    pub otp_notifications: OtpNotifications,
    /// For `otp_notifications = "sealed"`: the key, 32 bytes in base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_key: Option<SecretRef>,
    #[serde(flatten)]
    pub kind: SinkKind,
}

fn is_none(o: &OtpNotifications) -> bool {
    *o == OtpNotifications::None
}

impl SinkSettings {
    /// Whether an event of `topic` goes to this sink (`otp`: it is an OTP notification).
    pub fn receives(&self, topic: &str, otp: bool) -> bool {
        self.topics.iter().any(|t| t == topic)
            && (!otp || self.otp_notifications != OtpNotifications::None)
    }

    /// Checks the settings beyond their shape; `subscribers_send` says whether the
    /// organization's texts are sent by its subscribers (the only mode with OTP notifications).
    pub fn validate(&self, subscribers_send: bool) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(format!(
                "name: '{}' must be 1-64 of a-z, 0-9, '-' and '_'",
                self.name
            ));
        }
        if self.topics.is_empty() {
            return Err(format!(
                "topics: list at least one of {}",
                super::hub::TOPICS.join(", ")
            ));
        }
        if let Some(bad) = self
            .topics
            .iter()
            .find(|t| !super::hub::TOPICS.contains(&t.as_str()))
        {
            return Err(format!(
                "topics: '{bad}' is not a topic; use {}",
                super::hub::TOPICS.join(", ")
            ));
        }
        match self.otp_notifications {
            OtpNotifications::None if self.seal_key.is_some() => {
                return Err("seal_key: only for otp_notifications = \"sealed\"".into());
            }
            OtpNotifications::None => {}
            _ if !subscribers_send => {
                return Err("otp_notifications: only when subscribers send the texts \
                     ([organizations.sms] channel = \"webhook\"); gateways send them otherwise, \
                     and no sink gets the code"
                    .into());
            }
            _ if !self.topics.iter().any(|t| t == "NOTIFICATIONS") => {
                return Err(
                    "otp_notifications: the sink must receive the NOTIFICATIONS topic".into(),
                );
            }
            OtpNotifications::Plain if self.seal_key.is_some() => {
                return Err("seal_key: only for otp_notifications = \"sealed\"".into());
            }
            OtpNotifications::Plain if !self.kind.private_transport() => {
                return Err(
                    "otp_notifications: \"plain\" sends the codes readable, so only over \
                     TLS (tls://, amqps://, rediss://) or to a broker on this host; use \
                     \"sealed\" otherwise"
                        .into(),
                );
            }
            OtpNotifications::Plain => {}
            OtpNotifications::Sealed => {
                let Some(key) = &self.seal_key else {
                    return Err("seal_key: otp_notifications = \"sealed\" needs one".into());
                };
                seal_key(key).map_err(|e| format!("seal_key: {e}"))?;
            }
        }
        Ok(())
    }
}

/// The sinks built on this node, by organization and name, with the settings they were built
/// from: kept across the organization's reloads (and their connections with them) while those
/// stay the same, for at most [`SINK_REBUILD`]. The server's state holds one.
#[derive(Debug, Default)]
pub struct SinkCache {
    built: RwLock<HashMap<(i64, String), CachedSink>>,
}

#[derive(Debug)]
struct CachedSink {
    settings: SinkSettings,
    built: BuiltSink,
    at: Instant,
}

/// How long a built sink is kept: its secrets (files, environment) are read again at least
/// this often, and at once after its broker refused it.
pub const SINK_REBUILD: Duration = Duration::from_secs(600);

impl SinkCache {
    /// The sink `settings` describes for the organization `organization_id`, built when none
    /// is kept for them. A sink that cannot be built (a secret missing at run time) is tried
    /// again at the next delivery.
    pub fn get(&self, organization_id: i64, settings: &SinkSettings) -> Result<BuiltSink, String> {
        let key = (organization_id, settings.name.clone());
        let fresh = |c: &CachedSink| c.settings == *settings && c.at.elapsed() < SINK_REBUILD;
        if let Some(cached) = self.built.read().expect("sink cache lock").get(&key)
            && fresh(cached)
        {
            return Ok(cached.built.clone());
        }
        let mut cache = self.built.write().expect("sink cache lock");
        // Another lane may have built it meanwhile: one connection per sink.
        if let Some(cached) = cache.get(&key)
            && fresh(cached)
        {
            return Ok(cached.built.clone());
        }
        let built = build(settings).inspect_err(|error| {
            tracing::error!(sink = %settings.name, %error, "the event sink cannot be built");
        })?;
        cache.insert(
            key,
            CachedSink {
                settings: settings.clone(),
                built: built.clone(),
                at: Instant::now(),
            },
        );
        Ok(built)
    }

    /// Forgets a built sink: the next delivery builds it again.
    pub fn forget(&self, organization_id: i64, name: &str) {
        self.built
            .write()
            .expect("sink cache lock")
            .remove(&(organization_id, name.to_string()));
    }

    /// Drops the organization's sinks that `sinks` no longer names, with their connections.
    pub fn keep_only(&self, organization_id: i64, sinks: &[SinkSettings]) {
        self.built
            .write()
            .expect("sink cache lock")
            .retain(|(id, name), _| {
                *id != organization_id || sinks.iter().any(|s| &s.name == name)
            });
    }
}

/// Reads a seal key: 32 bytes in base64 (standard or URL-safe, padded or not).
fn seal_key(key: &SecretRef) -> Result<Secret<Vec<u8>>, String> {
    let text = Secret::new(key.resolve()?);
    let text = text.expose().trim().trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
        .map_err(|_| "not base64".to_string())?;
    if bytes.len() != 32 {
        return Err(format!("{} bytes; it must be 32", bytes.len()));
    }
    Ok(Secret::new(bytes))
}

/// A sink ready to publish: the plug-in and, for sealed OTP notifications, the key.
#[derive(Debug, Clone)]
pub struct BuiltSink {
    pub sink: Arc<dyn EventSink>,
    seal_key: Option<Secret<Vec<u8>>>,
}

/// Builds the plug-in (it checks its fields and reads its secrets; it connects when it first
/// publishes).
pub fn build(settings: &SinkSettings) -> Result<BuiltSink, String> {
    let sink: Arc<dyn EventSink> = match &settings.kind {
        SinkKind::Nats(c) => Arc::new(sesame_plugin_nats::NatsSink::new(c.clone())?),
        SinkKind::Rabbitmq(c) => Arc::new(sesame_plugin_rabbitmq::RabbitmqSink::new(c.clone())?),
        SinkKind::Redis(c) => Arc::new(sesame_plugin_redis::RedisSink::new(c.clone())?),
    };
    let seal_key = match (&settings.otp_notifications, &settings.seal_key) {
        (OtpNotifications::Sealed, Some(key)) => {
            Some(seal_key(key).map_err(|e| format!("seal_key: {e}"))?)
        }
        _ => None,
    };
    Ok(BuiltSink { sink, seal_key })
}

/// Whether an event is an OTP notification: the only events stored sealed, since their message
/// holds the code.
fn holds_a_code(event: &OutboxEvent) -> bool {
    event.sealed
}

/// The topic of an event: the last segment of its `aud` (the topic's URL).
pub fn topic_of(payload: &serde_json::Value) -> &str {
    payload["aud"]
        .as_str()
        .and_then(|aud| aud.rsplit('/').next())
        .unwrap_or_default()
}

/// The sink `name` among `sinks`, if it receives `event` (whose opened payload is `payload`).
pub fn receiving<'a>(
    sinks: &'a [SinkSettings],
    name: &str,
    event: &OutboxEvent,
    payload: &serde_json::Value,
) -> Option<&'a SinkSettings> {
    let otp = holds_a_code(event);
    sinks
        .iter()
        .find(|s| s.name == name && s.receives(topic_of(payload), otp))
}

/// One attempt at delivering `event` (its opened payload) to the sink `name` of `org`, the
/// organization `slug` as the node has it cached.
pub async fn deliver(
    state: &Core,
    org: Arc<OrgEntry>,
    slug: &str,
    name: &str,
    event: &OutboxEvent,
    payload: &serde_json::Value,
) -> Result<(), SendError> {
    // The organization as cached may predate the sink or its topic (an import a moment ago, on
    // another node): read it afresh before giving the delivery up.
    let org = match receiving(&org.org.settings.event_sinks, name, event, payload) {
        Some(_) => org,
        None => {
            state.forget_organization(slug);
            state
                .organization(slug)
                .await
                .map_err(|e| SendError::Retryable(format!("{e:?}")))?
        }
    };
    let settings =
        receiving(&org.org.settings.event_sinks, name, event, payload).ok_or_else(|| {
            SendError::Permanent(format!(
                "the sink {name} no longer receives this event (removed, or its topics changed)"
            ))
        })?;
    let built = state
        .sinks
        .get(org.org.id, settings)
        .map_err(SendError::Retryable)?;
    match publish(&built, settings, &org.org.slug, event, payload).await {
        // A broker's refusal (credentials rotated, a permission taken away) is mended by its
        // operator: the event waits, and the sink is built again (its secrets read again) for
        // the next attempt.
        Err(SendError::Permanent(refused)) => {
            state.sinks.forget(org.org.id, name);
            Err(SendError::Retryable(format!("refused: {refused}")))
        }
        other => other,
    }
}

/// Publishes one event (its opened payload) through `built`, which must receive it
/// ([`receiving`]).
async fn publish(
    built: &BuiltSink,
    settings: &SinkSettings,
    organization: &str,
    event: &OutboxEvent,
    payload: &serde_json::Value,
) -> Result<(), SendError> {
    let topic = topic_of(payload);
    let otp = holds_a_code(event);
    let json = payload.to_string().into_bytes();
    let (body, content_type) = match (otp, settings.otp_notifications, &built.seal_key) {
        (true, OtpNotifications::Sealed, Some(key)) => (seal(key, &json)?, "application/jose"),
        (true, OtpNotifications::Sealed, None) => {
            return Err(SendError::Permanent("no seal key".into()));
        }
        _ => (json, "application/json"),
    };
    built
        .sink
        .publish(crate::plugin::Event {
            jti: &event.jti,
            event_type: &event.event_type,
            organization,
            topic,
            body: &body,
            content_type,
        })
        .await
}

/// A compact JWE (`dir`, `A256GCM`) of `json` under `key`.
fn seal(key: &Secret<Vec<u8>>, json: &[u8]) -> Result<Vec<u8>, SendError> {
    use josekit::jwe::{Dir, JweHeader};
    let failed = |e: josekit::JoseError| SendError::Permanent(format!("cannot seal: {e}"));
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_content_type("application/json");
    let encrypter = Dir.encrypter_from_bytes(key.expose()).map_err(failed)?;
    josekit::jwe::serialize_compact(json, &header, &encrypter)
        .map(String::into_bytes)
        .map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<SinkSettings, String> {
        serde_json::from_value(json).map_err(|e| e.to_string())
    }

    #[test]
    fn settings_take_the_plug_ins_fields_and_refuse_unknown_ones() {
        let s = parse(serde_json::json!({
            "name": "bus", "type": "redis", "topics": ["LOGINS"],
            "url": "redis://127.0.0.1:6379",
        }))
        .unwrap();
        assert!(matches!(s.kind, SinkKind::Redis(_)));
        assert!(s.receives("LOGINS", false));
        assert!(
            !s.receives("LOGINS", true),
            "no OTP notifications by default"
        );
        assert!(!s.receives("NOTIFICATIONS", false));
        s.validate(false).unwrap();
        let back = parse(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s, "stored and read back");
        let typo = parse(serde_json::json!({
            "name": "bus", "type": "redis", "topics": ["LOGINS"],
            "url": "redis://127.0.0.1:6379", "max_lenght": 5,
        }));
        assert!(typo.unwrap_err().contains("max_lenght"));
        let unknown = parse(serde_json::json!({"name": "bus", "type": "kafka", "topics": []}));
        assert!(unknown.unwrap_err().contains("kafka"));
    }

    #[test]
    fn a_built_sink_is_kept_while_its_settings_stay_and_dropped_with_them() {
        let settings = |name: &str, url: &str| {
            parse(serde_json::json!({
                "name": name, "type": "redis", "topics": ["LOGINS"], "url": url,
            }))
            .unwrap()
        };
        let cache = SinkCache::default();
        let bus = settings("bus", "redis://127.0.0.1:6379");
        let first = cache.get(1, &bus).unwrap();
        assert!(
            Arc::ptr_eq(&first.sink, &cache.get(1, &bus).unwrap().sink),
            "kept"
        );
        assert!(
            !Arc::ptr_eq(&first.sink, &cache.get(2, &bus).unwrap().sink),
            "another organization's own"
        );
        let moved = settings("bus", "redis://127.0.0.1:6380");
        let second = cache.get(1, &moved).unwrap();
        assert!(
            !Arc::ptr_eq(&first.sink, &second.sink),
            "rebuilt for new settings"
        );
        cache.forget(1, "bus");
        assert!(!Arc::ptr_eq(
            &second.sink,
            &cache.get(1, &moved).unwrap().sink
        ));
        cache.keep_only(1, &[settings("other", "redis://127.0.0.1:6379")]);
        assert_eq!(
            cache.built.read().unwrap().len(),
            1,
            "only organization 2's is left"
        );
        let missing = SinkSettings {
            otp_notifications: OtpNotifications::Sealed,
            seal_key: Some(SecretRef {
                env: None,
                file: Some("/nonexistent/sesame-seal-key".into()),
                sealed: None,
            }),
            ..settings("codes", "redis://127.0.0.1:6379")
        };
        assert!(cache.get(1, &missing).unwrap_err().contains("seal_key"));
        assert_eq!(
            cache.built.read().unwrap().len(),
            1,
            "a failed build is not kept"
        );
    }

    #[test]
    fn otp_notifications_need_the_subscriber_mode_a_topic_and_a_key_when_sealed() {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        let file = std::env::temp_dir().join(format!("sesame-seal-key-{}", std::process::id()));
        std::fs::write(&file, format!("{key}\n")).unwrap();
        let sink = |otp: &str, topics: &[&str], seal: bool| {
            let mut v = serde_json::json!({
                "name": "bus", "type": "redis", "topics": topics,
                "url": "redis://127.0.0.1:6379", "otp_notifications": otp,
            });
            if seal {
                v["seal_key"] = serde_json::json!({ "file": file });
            }
            parse(v).unwrap()
        };
        let sealed = sink("sealed", &["NOTIFICATIONS"], true);
        sealed.validate(true).unwrap();
        assert!(sealed.receives("NOTIFICATIONS", true));
        assert!(sealed.validate(false).unwrap_err().contains("webhook"));
        let plain = sink("plain", &["NOTIFICATIONS"], false);
        plain.validate(true).unwrap();
        let remote = SinkSettings {
            kind: parse(serde_json::json!({
                "name": "bus", "type": "redis", "topics": ["NOTIFICATIONS"],
                "url": "redis://redis.internal:6379",
            }))
            .unwrap()
            .kind,
            ..plain.clone()
        };
        assert!(remote.validate(true).unwrap_err().contains("TLS"));
        let remote_tls = SinkSettings {
            kind: parse(serde_json::json!({
                "name": "bus", "type": "nats", "topics": ["NOTIFICATIONS"],
                "url": "tls://nats-1.internal:4222,tls://nats-2.internal:4222",
            }))
            .unwrap()
            .kind,
            ..plain.clone()
        };
        remote_tls.validate(true).unwrap();
        let one_in_clear = SinkSettings {
            kind: parse(serde_json::json!({
                "name": "bus", "type": "nats", "topics": ["NOTIFICATIONS"],
                "url": "tls://nats-1.internal:4222,nats://nats-2.internal:4222",
            }))
            .unwrap()
            .kind,
            ..plain.clone()
        };
        assert!(one_in_clear.validate(true).is_err());
        for local in [
            "redis://localhost:6379",
            "redis://[::1]:6379",
            "nats://127.0.0.1:4222",
        ] {
            let kind = parse(serde_json::json!({
                "name": "bus", "type": if local.starts_with("nats") { "nats" } else { "redis" },
                "topics": ["NOTIFICATIONS"], "url": local,
            }))
            .unwrap()
            .kind;
            assert!(kind.private_transport(), "{local}");
        }
        let no_topic = sink("plain", &["LOGINS"], false);
        assert!(
            no_topic
                .validate(true)
                .unwrap_err()
                .contains("NOTIFICATIONS")
        );
        let no_key = sink("sealed", &["NOTIFICATIONS"], false);
        assert!(no_key.validate(true).unwrap_err().contains("seal_key"));
        let stray_key = sink("plain", &["NOTIFICATIONS"], true);
        assert!(stray_key.validate(true).unwrap_err().contains("seal_key"));
        let bad_name = SinkSettings {
            name: "Bus.1".into(),
            ..sealed.clone()
        };
        assert!(bad_name.validate(true).unwrap_err().contains("name"));
        let bad_topic = SinkSettings {
            topics: vec!["LOGIN".into()],
            ..sealed.clone()
        };
        assert!(bad_topic.validate(true).unwrap_err().contains("'LOGIN'"));

        // Sealed: a JWE the key opens, and nothing readable without it.
        let built = build(&sealed).unwrap();
        let jwe = seal(built.seal_key.as_ref().unwrap(), br#"{"code":"424242"}"#).unwrap();
        let jwe = String::from_utf8(jwe).unwrap();
        assert_eq!(jwe.split('.').count(), 5);
        assert!(!jwe.contains("424242"));
        let decrypter = josekit::jwe::Dir
            .decrypter_from_bytes(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(key)
                    .unwrap(),
            )
            .unwrap();
        let (opened, header) = josekit::jwe::deserialize_compact(&jwe, &decrypter).unwrap();
        assert_eq!(opened, br#"{"code":"424242"}"#);
        assert_eq!(header.content_encryption(), Some("A256GCM"));
        std::fs::remove_file(&file).unwrap();
    }
}
