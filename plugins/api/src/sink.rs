//! Event sinks: where an organization's events go besides webhooks (a NATS JetStream stream, a
//! RabbitMQ exchange, a Redis stream…).
//!
//! The server's outbox calls a sink once per event and delivery attempt, at least once: an event
//! is written in the transaction of the change it reports, and retried with backoff until the
//! sink says the broker has taken it. So a sink returns `Ok` only once the broker has
//! acknowledged the message (a JetStream ack, a publisher confirm, the reply to `XADD`), and
//! publishes the event's `jti` where the broker can deduplicate on it or a consumer can.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{BoxFuture, SendError};

/// One event, ready to publish.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// The event's id: the same on every attempt at this event, the key to deduplicate on.
    pub jti: &'a str,
    /// The event's type, e.g. `LoginSuccessEvent`.
    pub event_type: &'a str,
    /// The organization's slug, e.g. `myorg`.
    pub organization: &'a str,
    /// The topic, e.g. `LOGINS`, `USER_OPERATIONS`, `NOTIFICATIONS`.
    pub topic: &'a str,
    /// What to publish: the event's envelope as JSON (what webhooks receive), or for an OTP
    /// notification a sink is configured to get sealed, a compact JWE of that JSON.
    pub body: &'a [u8],
    /// `application/json`, or `application/jose` for a JWE.
    pub content_type: &'a str,
}

/// Publishes events to a broker.
pub trait EventSink: Send + Sync + std::fmt::Debug {
    /// A short name for logs: `nats`, `rabbitmq`, `redis`.
    fn kind(&self) -> &'static str;

    /// Publishes one event; returns once the broker has taken it. A broker that is down, slow or
    /// full is [`SendError::Retryable`]; a refusal no retry can mend (bad credentials, a
    /// permission denied) is [`SendError::Permanent`]. Never logs the body: an OTP notification
    /// holds a code.
    fn publish<'a>(&'a self, event: Event<'a>) -> BoxFuture<'a, Result<(), SendError>>;
}

/// TLS options of a sink's connection (TLS itself is chosen by the URL's scheme: `tls://`,
/// `amqps://`, `rediss://`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// A PEM file of the certificate authorities to trust for the broker (a private CA). Each
    /// plug-in says whether it trusts them beside the public web roots or instead of them.
    pub ca_file: Option<PathBuf>,
}
