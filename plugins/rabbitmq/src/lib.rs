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
use serde::{Deserialize, Serialize};
use sesame_plugin_api::{BoxFuture, Event, EventSink, SecretRef, SendError, TlsSettings};

/// The exchange events go to unless `exchange` says otherwise.
pub const DEFAULT_EXCHANGE: &str = "sesame";
/// The bound on connecting, publishing and awaiting the confirm unless `timeout_seconds` says
/// otherwise.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 10;

/// The longest name AMQP 0-9-1 carries (a "short string"): exchange names, routing keys,
/// message ids, types.
const MAX_SHORT: usize = 255;

fn default_exchange() -> String {
    DEFAULT_EXCHANGE.to_string()
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}

/// A RabbitMQ sink's settings, as the provisioning file writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `amqp://host:port/vhost` or `amqps://host:port/vhost` (the vhost URL-encoded: `%2f` is
    /// `/`). Without credentials: those go in `username` and `password`.
    pub url: String,
    /// The user to log in as. Without one the client logs in as `guest`/`guest` (which
    /// RabbitMQ only lets in from localhost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The user's password; required with `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// The topic exchange to publish to (declared durable on connection).
    #[serde(default = "default_exchange")]
    pub exchange: String,
    /// TLS options (`amqps://` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// The bound on one publish: connecting (when needed), publishing and the broker's confirm.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

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

/// Exchange names RabbitMQ takes: letters, digits, `-`, `_`, `.`, `:`; not `amq.…` (reserved).
fn check_exchange(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("exchange: must not be empty (the default exchange cannot be declared)".into());
    }
    if name.len() > MAX_SHORT {
        return Err(format!("exchange: at most {MAX_SHORT} bytes"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err("exchange: only letters, digits, '-', '_', '.' and ':'".into());
    }
    if name.starts_with("amq.") {
        return Err("exchange: names starting with amq. are reserved by the broker".into());
    }
    Ok(())
}

/// What the sink takes from the URL itself, beyond what amq-protocol-uri reads.
struct UrlParts {
    ipv6_host: Option<String>,
    host_for_display: String,
    vhost_for_display: String,
}

fn url_parts(raw: &str) -> Result<UrlParts, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("url: {e}"))?;
    if !matches!(url.scheme(), "amqp" | "amqps") {
        return Err("url: must start with amqp:// or amqps://".into());
    }
    if url.password().is_some() {
        return Err(
            "url: must not hold a password: put it in `password` (an env or file secret)".into(),
        );
    }
    if !url.username().is_empty() {
        return Err("url: must not hold a user name: put it in `username`".into());
    }
    let Some(host) = url.host() else {
        return Err("url: names no host".into());
    };
    if url.fragment().is_some() {
        return Err("url: must not have a #fragment".into());
    }
    let (ipv6_host, host_for_display) = match host {
        url::Host::Ipv6(ip) => (Some(ip.to_string()), format!("[{ip}]")),
        other => (None, other.to_string()),
    };
    Ok(UrlParts {
        ipv6_host,
        host_for_display,
        vhost_for_display: url.path().trim_start_matches('/').to_string(),
    })
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

    fn secret_file(name: &str, content: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "sesame-rabbitmq-{name}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn a_minimal_config_takes_the_defaults() {
        let c = config(json!({ "url": "amqp://127.0.0.1:5672/%2f" })).unwrap();
        assert_eq!(c.exchange, "sesame");
        assert_eq!(c.timeout_seconds, 10);
        assert_eq!(c.username, None);
        assert_eq!(c.password, None);
        assert_eq!(c.tls, None);
        let s = RabbitmqSink::new(c).unwrap();
        assert_eq!(s.kind(), "rabbitmq");
        assert_eq!(s.exchange(), "sesame");
        assert_eq!(s.uri.vhost, "/");
        assert_eq!(s.uri.authority.userinfo.username, "guest");
    }

    #[test]
    fn a_full_config_parses_and_resolves_its_secret() {
        let password = secret_file("password", "s3cret-pass\n");
        let c = config(json!({
            "url": "amqp://rabbit.internal:5673/events",
            "username": "sesame",
            "password": { "file": password },
            "exchange": "sesame.events",
            "timeout_seconds": 3,
        }))
        .unwrap();
        let s = RabbitmqSink::new(c.clone()).unwrap();
        std::fs::remove_file(&password).unwrap();
        assert_eq!(s.uri.authority.userinfo.username, "sesame");
        assert_eq!(s.uri.authority.userinfo.password, "s3cret-pass");
        assert_eq!(s.uri.authority.host, "rabbit.internal");
        assert_eq!(s.uri.authority.port, 5673);
        assert_eq!(s.uri.vhost, "events");
        assert_eq!(s.exchange(), "sesame.events");
        assert_eq!(s.timeout, Duration::from_secs(3));
        // The Debug output never shows the password.
        let debug = format!("{s:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(
            debug.contains("amqp://rabbit.internal:5673/events"),
            "{debug}"
        );
        // And the config round-trips through serde.
        let back: Config = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn unknown_fields_and_inline_passwords_are_refused() {
        assert!(config(json!({ "url": "amqp://h/", "bogus": 1 })).is_err());
        assert!(
            config(json!({ "url": "amqp://h/", "username": "u", "password": "inline" })).is_err()
        );
        assert!(
            config(json!({ "exchange": "x" })).is_err(),
            "url is required"
        );
    }

    #[test]
    fn bad_urls_are_refused_naming_the_field() {
        let err = sink(json!({ "url": "http://h:5672/" })).unwrap_err();
        assert_eq!(err, "url: must start with amqp:// or amqps://");
        let err = sink(json!({ "url": "nonsense" })).unwrap_err();
        assert!(err.starts_with("url: "), "{err}");
        let err = sink(json!({ "url": "amqp://guest:hunter2@h:5672/%2f" })).unwrap_err();
        assert!(err.starts_with("url: must not hold a password"), "{err}");
        assert!(!err.contains("hunter2"));
        let err = sink(json!({ "url": "amqp://guest@h:5672/%2f" })).unwrap_err();
        assert!(err.starts_with("url: must not hold a user name"), "{err}");
    }

    #[test]
    fn credentials_come_in_pairs_and_secrets_must_resolve() {
        let err = sink(json!({ "url": "amqp://h/", "username": "u" })).unwrap_err();
        assert_eq!(err, "password: required with username");
        let err = sink(json!({ "url": "amqp://h/", "password": { "env": "X" } })).unwrap_err();
        assert_eq!(err, "username: required with password");
        let err = sink(json!({
            "url": "amqp://h/",
            "username": "u",
            "password": { "env": "SESAME_TEST_RABBITMQ_SURELY_UNSET_7f3a" },
        }))
        .unwrap_err();
        assert_eq!(
            err,
            "password: environment variable SESAME_TEST_RABBITMQ_SURELY_UNSET_7f3a is not set"
        );
    }

    #[test]
    fn exchanges_and_timeouts_are_checked() {
        for (exchange, start) in [
            ("", "exchange: must not be empty"),
            ("amq.topic", "exchange: names starting with amq."),
            ("has space", "exchange: only"),
            ("a/b", "exchange: only"),
        ] {
            let err = sink(json!({ "url": "amqp://h/", "exchange": exchange })).unwrap_err();
            assert!(err.starts_with(start), "{exchange:?}: {err}");
        }
        assert!(sink(json!({ "url": "amqp://h/", "exchange": "a-b_c.d:e" })).is_ok());
        let long = "x".repeat(256);
        assert!(sink(json!({ "url": "amqp://h/", "exchange": long })).is_err());
        let err = sink(json!({ "url": "amqp://h/", "timeout_seconds": 0 })).unwrap_err();
        assert_eq!(err, "timeout_seconds: must be between 1 and 300");
        let err = sink(json!({ "url": "amqp://h/", "timeout_seconds": u64::MAX })).unwrap_err();
        assert_eq!(err, "timeout_seconds: must be between 1 and 300");
    }

    #[test]
    fn a_ca_file_needs_amqps_and_a_certificate() {
        let err = sink(json!({ "url": "amqp://h/", "tls": { "ca_file": "/nonexistent.pem" } }))
            .unwrap_err();
        assert_eq!(err, "tls.ca_file: needs an amqps:// url");
        let err = sink(json!({ "url": "amqps://h/", "tls": { "ca_file": "/nonexistent.pem" } }))
            .unwrap_err();
        assert!(
            err.starts_with("tls.ca_file: cannot read /nonexistent.pem"),
            "{err}"
        );
        let junk = secret_file("junk-ca", "not a certificate");
        let err = sink(json!({ "url": "amqps://h/", "tls": { "ca_file": junk } })).unwrap_err();
        assert!(err.ends_with("holds no PEM certificate"), "{err}");
        std::fs::remove_file(&junk).unwrap();
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let ca = secret_file("ca", pem);
        let s = sink(json!({ "url": "amqps://h/", "tls": { "ca_file": ca } })).unwrap();
        std::fs::remove_file(&ca).unwrap();
        assert_eq!(s.tls.cert_chain.as_deref(), Some(pem));
        assert_eq!(s.uri.scheme, AMQPScheme::AMQPS);
        assert_eq!(s.uri.authority.port, 5671);
        // TLS settings without a CA file are fine anywhere.
        assert!(sink(json!({ "url": "amqp://h/", "tls": {} })).is_ok());
    }

    #[test]
    fn ipv6_hosts_are_kept() {
        let s = sink(json!({ "url": "amqp://[::1]:5672/%2f" })).unwrap();
        assert_eq!(s.uri.authority.host, "::1");
        assert_eq!(s.endpoint, "amqp://[::1]:5672/%2f");
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
