//! An event sink that publishes Sesame's events to a RabbitMQ **topic exchange**.
//!
//! # Where events go
//!
//! Every event is published to one exchange (`exchange`, `sesame` by default), which the sink
//! declares on each (re)connection as a durable `topic` exchange (idempotent: declaring an
//! exchange that exists with the same settings changes nothing; one that exists with another
//! type or durability makes the broker close the channel, and publishing fails
//! [`SendError::Permanent`] with the broker's explanation). The routing key is
//! `{organization}.{topic}`, e.g. `acme.LOGINS` or `acme.USER_OPERATIONS`, so a consumer binds a
//! queue to `acme.*` for all of one organization's events, to `*.LOGINS` for every
//! organization's logins, or to `#` for everything. An organization slug or a topic holding `.`,
//! `*`, `#` or whitespace is refused (permanently): it would break that scheme.
//!
//! # The message
//!
//! - body: the event exactly as Sesame hands it over: its envelope as JSON (what webhooks
//!   receive), or, for an OTP notification the sink is configured to get sealed, a compact JWE
//!   of that JSON;
//! - `content_type`: `application/json` or `application/jose`;
//! - `message_id`: the event's `jti`;
//! - `type`: the event type, e.g. `LoginSuccessEvent`;
//! - `app_id`: `sesame`;
//! - `timestamp`: when it was published (seconds since the epoch);
//! - `delivery_mode`: 2 (persistent: it survives a broker restart in a durable queue).
//!
//! # What "acknowledged" means
//!
//! The channel is in publisher-confirm mode and every message is published `mandatory`.
//! [`EventSink::publish`] returns `Ok` only once the broker has confirmed the message (`basic.ack`)
//! *and* routed it to at least one queue. A message no queue is bound for would be dropped by
//! the broker: the broker returns it (`basic.return`, `NO_ROUTE`) before its ack, and the sink
//! answers [`SendError::Retryable`] ("no queue is bound to routing key …"), so Sesame's outbox
//! keeps the event and tries again later: nothing is lost while consumers are not set up yet. A
//! `basic.nack` (the broker could not store it) is retryable too, and so is a broker that is
//! down, a connection that dropped, or no confirm within `timeout_seconds`. Bad credentials, a
//! vhost the user may not use, a permission refused, or an exchange of another type are
//! [`SendError::Permanent`].
//!
//! # Duplicates
//!
//! Delivery is at least once: Sesame retries an event until a publish is confirmed, so a
//! confirm lost on its way back means the broker holds the message twice. RabbitMQ does not
//! deduplicate; both copies carry the same `message_id` (the event's `jti`), on which
//! consumers deduplicate.
//!
//! # Connection
//!
//! The sink connects on the first publish (building it never touches the network), keeps one
//! connection and channel for all publishes, and drops them after an error, a timeout or a
//! broker that closed them, so the next publish reconnects (to a broker that restarted, say).
//! Each publish, the connection included, is bounded by `timeout_seconds`. `amqps://` connects
//! with TLS (rustls): the broker's certificate is checked against the bundled public roots,
//! plus the PEM certificates of `tls.ca_file` when one is given (a private CA).
//!
//! # Configuration
//!
//! In the provisioning file, under `[[organizations.event_sinks]]` (Sesame adds `name`, `type`,
//! `topics` and its own fields):
//!
//! ```toml
//! url = "amqps://rabbit.example.com:5671/sesame"   # vhost `sesame`; `%2f` is the vhost `/`
//! username = "sesame"
//! password = { env = "SESAME_RABBITMQ_PASSWORD" }  # or { file = "/run/secrets/rabbitmq" }
//! exchange = "sesame"                              # the default
//! tls = { ca_file = "/etc/sesame/rabbitmq-ca.pem" } # optional, amqps:// only
//! timeout_seconds = 10                             # the default
//! ```
//!
//! The user needs the `configure` permission on the exchange (to declare it) and `write` on
//! it, e.g. `rabbitmqctl set_permissions -p sesame sesame '^sesame$' '^sesame$' '^$'`.
//!
//! # Consuming
//!
//! Bind a queue before Sesame's first events arrive (until then they wait in Sesame's outbox).
//! With `rabbitmqadmin` (the classic one, which talks to the management plugin:
//! `rabbitmq-plugins enable rabbitmq_management`; add `-V vhost -u user -p password` as needed):
//!
//! ```sh
//! rabbitmqadmin declare exchange name=sesame type=topic durable=true
//! rabbitmqadmin declare queue name=acme-logins durable=true
//! rabbitmqadmin declare binding source=sesame destination=acme-logins routing_key='acme.LOGINS'
//! rabbitmqadmin get queue=acme-logins ackmode=ack_requeue_false count=10
//! ```
//!
//! (Declare the exchange exactly so, `topic` and durable, or the sink will refuse it.) Each
//! message shows its `message_id` (the `jti` to deduplicate on), `type`, `content_type` and
//! body. A queue bound to `acme.#` gets every topic of organization `acme`.
//!
//! Do not turn on `trace` logging for `lapin` in production: at that level it logs AMQP
//! frames, which can include a returned message's body.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::{FieldTable, ShortString};
use lapin::uri::{AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ErrorKind,
    ExchangeKind,
};
use sesame_plugin_api::{BoxFuture, Event, EventSink, SendError};

mod config;

pub use config::{Config, DEFAULT_EXCHANGE, DEFAULT_TIMEOUT_SECONDS};
use config::{MAX_SHORT, check_exchange, url_parts};

/// Publishes events to a RabbitMQ topic exchange; see the crate's documentation.
pub struct RabbitmqSink {
    /// What to connect to, with the resolved credentials: never printed.
    uri: AMQPUri,
    /// The URL without credentials, for messages and logs.
    endpoint: String,
    username: Option<String>,
    tls: OwnedTLSConfig,
    exchange: String,
    timeout: Duration,
    link: tokio::sync::Mutex<Option<Link>>,
    next_link: AtomicU64,
}

/// An open connection and its confirm-mode channel, on which the exchange was declared.
struct Link {
    id: u64,
    /// Kept so the connection lives as long as the link; dropping both closes it.
    connection: Connection,
    channel: Channel,
}

impl fmt::Debug for RabbitmqSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // By hand: `uri` holds the password.
        f.debug_struct("RabbitmqSink")
            .field("endpoint", &self.endpoint)
            .field("username", &self.username)
            .field("exchange", &self.exchange)
            .field("ca_file", &self.tls.cert_chain.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RabbitmqSink {
    /// Checks the settings and reads the secrets; does not connect (the first publish does).
    /// Errors name the field at fault and never hold a secret.
    pub fn new(config: Config) -> Result<Self, String> {
        let parsed = url_parts(&config.url)?;
        let mut uri: AMQPUri = config
            .url
            .parse()
            .map_err(|e: String| format!("url: {e}"))?;
        if let Some(host) = parsed.ipv6_host {
            // amq-protocol-uri only takes names and IPv4 hosts from the URL.
            uri.authority.host = host;
        }

        match (&config.username, &config.password) {
            (Some(username), Some(password)) => {
                if username.is_empty() {
                    return Err("username: must not be empty".into());
                }
                let password = password.resolve().map_err(|e| format!("password: {e}"))?;
                uri.authority.userinfo = AMQPUserInfo {
                    username: username.clone(),
                    password,
                };
            }
            (Some(_), None) => return Err("password: required with username".into()),
            (None, Some(_)) => return Err("username: required with password".into()),
            (None, None) => {}
        }

        check_exchange(&config.exchange)?;
        // At most 5 minutes: a publish outlasting the outbox's lease would be claimed again and
        // sent twice (the lease is 30 s by default, 600 s at most).
        if !(1..=300).contains(&config.timeout_seconds) {
            return Err("timeout_seconds: must be between 1 and 300".into());
        }

        let mut tls = OwnedTLSConfig::default();
        if let Some(ca_file) = config.tls.as_ref().and_then(|t| t.ca_file.as_ref()) {
            if uri.scheme != AMQPScheme::AMQPS {
                return Err("tls.ca_file: needs an amqps:// url".into());
            }
            let pem = std::fs::read_to_string(ca_file)
                .map_err(|e| format!("tls.ca_file: cannot read {}: {e}", ca_file.display()))?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(format!(
                    "tls.ca_file: {} holds no PEM certificate",
                    ca_file.display()
                ));
            }
            tls.cert_chain = Some(pem);
        }

        let endpoint = format!(
            "{}://{}:{}/{}",
            uri.scheme, parsed.host_for_display, uri.authority.port, parsed.vhost_for_display
        );
        Ok(Self {
            uri,
            endpoint,
            username: config.username,
            tls,
            exchange: config.exchange,
            timeout: Duration::from_secs(config.timeout_seconds),
            link: tokio::sync::Mutex::new(None),
            next_link: AtomicU64::new(1),
        })
    }

    /// The exchange this sink publishes to.
    pub fn exchange(&self) -> &str {
        &self.exchange
    }

    async fn publish_confirmed(
        &self,
        routing_key: ShortString,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), SendError> {
        let (link, channel) = self.channel().await?;
        let outcome = async {
            channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    routing_key.clone(),
                    BasicPublishOptions {
                        mandatory: true,
                        immediate: false,
                    },
                    body,
                    properties,
                )
                .await?
                .await
        }
        .await;
        match outcome {
            Ok(Confirmation::Ack(None)) => Ok(()),
            // Only the code and text of a returned message: its body may hold an OTP code.
            Ok(Confirmation::Ack(Some(returned))) => Err(SendError::Retryable(format!(
                "no queue is bound to routing key {routing_key} on exchange {} of {}: the broker \
                 would drop the message ({} {})",
                self.exchange, self.endpoint, returned.reply_code, returned.reply_text
            ))),
            Ok(Confirmation::Nack(_)) => Err(SendError::Retryable(format!(
                "{} refused the message (basic.nack) on exchange {}",
                self.endpoint, self.exchange
            ))),
            Ok(Confirmation::NotRequested) => {
                // Cannot happen on a channel in confirm mode; start over with a fresh one.
                self.forget(link).await;
                Err(SendError::Retryable(format!(
                    "{} did not confirm the message (the channel is not in confirm mode)",
                    self.endpoint
                )))
            }
            Err(e) => {
                self.forget(link).await;
                Err(classify(&e, &format!("publishing to {}", self.endpoint)))
            }
        }
    }

    /// The open channel, connecting first when there is none or the broker closed it.
    async fn channel(&self) -> Result<(u64, Channel), SendError> {
        let mut slot = self.link.lock().await;
        if let Some(link) = slot.as_ref() {
            if link.connection.status().connected() && link.channel.status().connected() {
                return Ok((link.id, link.channel.clone()));
            }
            tracing::info!(endpoint = %self.endpoint, "rabbitmq connection lost, reconnecting");
            *slot = None;
        }
        let link = self.connect().await?;
        let found = (link.id, link.channel.clone());
        *slot = Some(link);
        Ok(found)
    }

    async fn connect(&self) -> Result<Link, SendError> {
        let during = |what: &str| format!("{what} {}", self.endpoint);
        let runtime = lapin::runtime::default_runtime()
            .map_err(|e| classify(&e, &during("connecting to")))?;
        let properties = ConnectionProperties::default().with_connection_name("sesame".into());
        let connection = Connection::connect_uri_with_config(
            self.uri.clone(),
            properties,
            self.tls.clone(),
            runtime,
        )
        .await
        .map_err(|e| classify(&e, &during("connecting to")))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| classify(&e, &during("opening a channel on")))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| classify(&e, &during("enabling publisher confirms on")))?;
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| {
                let what = format!(
                    "declaring exchange {} (topic, durable; an exchange of that name with \
                     another type or durability cannot be used) on",
                    self.exchange
                );
                classify(&e, &during(&what))
            })?;
        let id = self.next_link.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(endpoint = %self.endpoint, exchange = %self.exchange, "rabbitmq sink connected");
        Ok(Link {
            id,
            connection,
            channel,
        })
    }

    /// Drops the link `id` if it is still the current one, so the next publish reconnects.
    async fn forget(&self, id: u64) {
        let mut slot = self.link.lock().await;
        if slot.as_ref().is_some_and(|link| link.id == id) {
            *slot = None;
        }
    }
}

impl EventSink for RabbitmqSink {
    fn kind(&self) -> &'static str {
        "rabbitmq"
    }

    fn publish<'a>(&'a self, event: Event<'a>) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let routing_key = routing_key(event.organization, event.topic)
                .and_then(|key| short("routing key", key))
                .map_err(SendError::Permanent)?;
            let properties = properties(&event).map_err(SendError::Permanent)?;
            let attempt = self.publish_confirmed(routing_key, event.body, properties);
            match tokio::time::timeout(self.timeout, attempt).await {
                Ok(result) => result,
                Err(_) => {
                    // A broker that hangs (or blocks publishers): start over next time. The
                    // attempt was dropped, so the lock is free unless another publish holds it
                    // (then that one decides).
                    if let Ok(mut slot) = self.link.try_lock() {
                        *slot = None;
                    }
                    Err(SendError::Retryable(format!(
                        "no confirm from {} within {}s (connecting, publishing and the broker's \
                         confirm)",
                        self.endpoint,
                        self.timeout.as_secs()
                    )))
                }
            }
        })
    }
}

/// The routing key of an organization's topic: `{organization}.{topic}`, e.g. `acme.LOGINS`.
/// Refuses parts that are empty or hold `.`, `*`, `#` or whitespace (they would change what a
/// binding pattern matches).
pub fn routing_key(organization: &str, topic: &str) -> Result<String, String> {
    for (what, part) in [("organization", organization), ("topic", topic)] {
        if part.is_empty() {
            return Err(format!("the {what} is empty: no routing key for it"));
        }
        if part
            .chars()
            .any(|c| matches!(c, '.' | '*' | '#') || c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "the {what} {part:?} holds '.', '*', '#' or whitespace: it cannot be a word of a \
                 routing key"
            ));
        }
    }
    Ok(format!("{organization}.{topic}"))
}

fn properties(event: &Event<'_>) -> Result<BasicProperties, String> {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(BasicProperties::default()
        .with_message_id(short("jti", event.jti.to_string())?)
        .with_type(short("event type", event.event_type.to_string())?)
        .with_content_type(short("content type", event.content_type.to_string())?)
        .with_app_id("sesame".into())
        .with_timestamp(timestamp)
        .with_delivery_mode(2))
}

/// An AMQP short string, or why not.
fn short(what: &str, value: String) -> Result<ShortString, String> {
    let len = value.len();
    ShortString::try_new(value)
        .map_err(|_| format!("the {what} is {len} bytes long: AMQP carries at most {MAX_SHORT}"))
}

/// Says whether retrying can help with what lapin reports. `during` says what was being done
/// (and where); lapin's messages hold no credentials.
fn classify(error: &lapin::Error, during: &str) -> SendError {
    let text = format!("{during}: {error}");
    let permanent = match error.kind() {
        ErrorKind::ProtocolError(amqp) => matches!(
            amqp.get_id(),
            // CONTENT_TOO_LARGE, ACCESS_REFUSED (bad credentials, no permission),
            // PRECONDITION_FAILED (an exchange of another type, a message over the broker's
            // size limit), NOT_ALLOWED (a vhost the user may not use, or none by that name),
            // COMMAND_INVALID, NOT_IMPLEMENTED. Not NOT_FOUND: an exchange deleted under the
            // sink is declared again on the reconnection.
            311 | 403 | 406 | 530 | 503 | 540
        ),
        ErrorKind::InvalidProtocolVersion(_) | ErrorKind::AuthProviderError(_) => true,
        _ => false,
    };
    if permanent {
        SendError::Permanent(text)
    } else {
        SendError::Retryable(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(value: serde_json::Value) -> Result<Config, serde_json::Error> {
        serde_json::from_value(value)
    }

    fn sink(value: serde_json::Value) -> Result<RabbitmqSink, String> {
        RabbitmqSink::new(config(value).expect("parses"))
    }

    #[test]
    fn routing_keys_are_organization_dot_topic() {
        assert_eq!(routing_key("acme", "LOGINS").unwrap(), "acme.LOGINS");
        assert_eq!(
            routing_key("my-org", "USER_OPERATIONS").unwrap(),
            "my-org.USER_OPERATIONS"
        );
        for (org, topic) in [
            ("ac.me", "LOGINS"),
            ("acme", "LOG*INS"),
            ("acme", "#"),
            ("ac me", "LOGINS"),
            ("acme", "LOGINS\n"),
            ("", "LOGINS"),
            ("acme", ""),
        ] {
            assert!(routing_key(org, topic).is_err(), "{org:?} {topic:?}");
        }
    }

    #[tokio::test]
    async fn unusable_events_are_refused_for_good_before_connecting() {
        // Nothing listens on port 1: the refusals come before any connection attempt.
        let s = sink(json!({ "url": "amqp://127.0.0.1:1/%2f", "timeout_seconds": 1 })).unwrap();
        let event = Event {
            jti: "j1",
            event_type: "LoginSuccessEvent",
            organization: "ac.me",
            topic: "LOGINS",
            body: b"{}",
            content_type: "application/json",
        };
        assert!(matches!(
            s.publish(event).await,
            Err(SendError::Permanent(_))
        ));
        let long_jti = "j".repeat(300);
        let event = Event {
            jti: &long_jti,
            organization: "acme",
            ..event
        };
        let err = s.publish(event).await.unwrap_err();
        assert!(
            matches!(&err, SendError::Permanent(m) if m.contains("jti")),
            "{err:?}"
        );
    }

    #[test]
    fn properties_carry_the_event() {
        let event = Event {
            jti: "jti-1",
            event_type: "LoginSuccessEvent",
            organization: "acme",
            topic: "LOGINS",
            body: b"{}",
            content_type: "application/jose",
        };
        let p = properties(&event).unwrap();
        assert_eq!(p.message_id().as_ref().unwrap().as_str(), "jti-1");
        assert_eq!(p.kind().as_ref().unwrap().as_str(), "LoginSuccessEvent");
        assert_eq!(
            p.content_type().as_ref().unwrap().as_str(),
            "application/jose"
        );
        assert_eq!(p.app_id().as_ref().unwrap().as_str(), "sesame");
        assert_eq!(*p.delivery_mode(), Some(2));
        assert!(p.timestamp().unwrap() > 1_700_000_000);
    }
}
