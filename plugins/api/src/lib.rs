//! What a Sesame plugin implements and what it gets.
//!
//! The server and every plugin depend on this crate, and no plugin on the server (Cargo forbids
//! the cycle). An SMS gateway implements [`SmsGateway`]; an event bus (NATS, RabbitMQ, Redis…)
//! implements [`EventSink`]; a second factor checked by a typed code implements
//! [`factor::CodeFactor`]. Plugins make HTTP calls only through [`Outbound`], which applies the
//! egress policy, and read credentials through [`SecretRef`], so none sits in the database.

pub mod factor;
pub mod key;
pub mod outbound;
pub mod sink;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

pub use outbound::{Outbound, OutboundError, is_public};
pub use sink::{Event, EventSink, TlsSettings};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One text message to one number.
#[derive(Debug, Clone, Copy)]
pub struct Sms<'a> {
    /// E.164, e.g. `+447400900123`.
    pub to: &'a str,
    pub body: &'a str,
    /// The same for every attempt at the same message (Sesame passes the event's `jti`): gateways
    /// that support idempotency keys send it, so a retry after a lost answer is not a second SMS.
    pub idempotency_key: &'a str,
    /// Where the provider may post this message's delivery receipt
    /// (`{issuer}/sms/status/{kind}`), for gateways configured to ask for one.
    pub status_url: Option<&'a str>,
}

/// Why a send failed, and whether trying again (or another gateway) can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A timeout, a connection failure, a 5xx, a rate limit: later, or elsewhere, may work.
    #[error("temporary failure: {0}")]
    Retryable(String),
    /// A rejected number, bad credentials, a malformed request: retrying will not help.
    #[error("rejected: {0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_))
    }

    /// The usual reading of an HTTP status: 408, 429 and 5xx are retryable, other 4xx are not.
    pub fn from_status(status: u16, detail: &str) -> Self {
        let text = format!("HTTP {status}: {detail}");
        if status == 408 || status == 429 || status >= 500 {
            Self::Retryable(text)
        } else {
            Self::Permanent(text)
        }
    }
}

impl From<OutboundError> for SendError {
    fn from(e: OutboundError) -> Self {
        match e {
            // A policy refusal or a bad URL is configuration: no retry fixes it.
            OutboundError::Refused(_) | OutboundError::NotHttps(_) => {
                Self::Permanent(e.to_string())
            }
            OutboundError::Failed { .. } => Self::Retryable(e.to_string()),
        }
    }
}

/// Sends text messages (Twilio, a generic HTTP API, the console…).
pub trait SmsGateway: Send + Sync + std::fmt::Debug {
    /// A short name for logs: `console`, `http`, `twilio`.
    fn kind(&self) -> &'static str;

    /// Sends one message; returns the provider's message id.
    fn send<'a>(&'a self, sms: Sms<'a>) -> BoxFuture<'a, Result<String, SendError>>;

    /// Reads a delivery receipt the provider posted to `{issuer}/sms/status/{kind}`: checks
    /// that it comes from the provider (its signature) and says which message it is about and
    /// what became of it. Gateways that take no receipts keep the default.
    fn receipt(&self, request: &ReceiptRequest<'_>) -> Result<Receipt, ReceiptError> {
        let _ = request;
        Err(ReceiptError::NotTaken)
    }

    /// Whether this gateway is configured to take receipts (the code's page then watches for
    /// one).
    fn takes_receipts(&self) -> bool {
        false
    }
}

/// A delivery receipt as it reached Sesame.
#[derive(Debug, Clone, Copy)]
pub struct ReceiptRequest<'a> {
    /// The status URL Sesame gives its messages: what providers sign (Twilio), whatever the
    /// request's own host header says behind a proxy.
    pub url: &'a str,
    /// The request's headers, names in lower case.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl ReceiptRequest<'_> {
    /// The first value of a header, by its name in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a receipt says about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's id of the message, as [`SmsGateway::send`] returned it.
    pub message_id: String,
    pub delivery: Delivery,
    /// The provider's own status and error code (`undelivered 30003`): for the event and the
    /// logs. Never the number or the text.
    pub detail: String,
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Still on its way (queued, sent to the carrier): nothing to show yet.
    Pending,
    Delivered,
    /// It will not arrive (undelivered, failed, rejected, expired).
    Failed,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

/// Why a receipt was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// This gateway is not configured to take receipts.
    #[error("this gateway takes no delivery receipts")]
    NotTaken,
    /// The signature is missing or wrong: not from the provider.
    #[error("the receipt's signature does not verify: {0}")]
    Unauthenticated(String),
    /// Signed, but not a receipt this gateway can read.
    #[error("not a delivery receipt: {0}")]
    Malformed(String),
}

/// A credential a plugin's configuration names without holding it: an environment variable or a
/// file (e.g. a mounted secret). Resolved when the plugin is built. Read from a table only
/// (`{ env = "X" }`), never from a list: whoever checks what a configuration names (the
/// management API refuses new references) looks for tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretRef {
    pub env: Option<String>,
    pub file: Option<PathBuf>,
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            env: Option<String>,
            file: Option<PathBuf>,
        }
        struct Table;
        impl<'de> serde::de::Visitor<'de> for Table {
            type Value = SecretRef;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table with env or file")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<SecretRef, A::Error> {
                let Fields { env, file } =
                    Fields::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(SecretRef { env, file })
            }
        }
        d.deserialize_map(Table)
    }
}

impl SecretRef {
    pub fn resolve(&self) -> Result<String, String> {
        match (&self.env, &self.file) {
            (Some(name), None) => {
                std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
            }
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
            _ => Err("give either env or file".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_say_whether_a_retry_can_help() {
        assert!(SendError::from_status(503, "").is_retryable());
        assert!(SendError::from_status(429, "").is_retryable());
        assert!(!SendError::from_status(400, "").is_retryable());
        assert!(!SendError::from_status(401, "").is_retryable());
    }

    #[test]
    fn a_secret_is_named_by_a_table_only() {
        let named: SecretRef = serde_json::from_str(r#"{"env": "X"}"#).unwrap();
        assert_eq!(named.env.as_deref(), Some("X"));
        assert!(serde_json::from_str::<SecretRef>(r#"["X", null]"#).is_err());
        assert!(serde_json::from_str::<SecretRef>(r#"{"env": "X", "other": 1}"#).is_err());
    }

    #[test]
    fn secrets_come_from_files_without_their_newline() {
        let dir = std::env::temp_dir().join(format!("sesame-secret-{}", std::process::id()));
        std::fs::write(&dir, "s3cret\n").unwrap();
        let s = SecretRef {
            env: None,
            file: Some(dir.clone()),
        };
        assert_eq!(s.resolve().unwrap(), "s3cret");
        std::fs::remove_file(&dir).unwrap();
        assert!(s.resolve().unwrap_err().contains("cannot read"));
        assert!(
            SecretRef {
                env: None,
                file: None
            }
            .resolve()
            .is_err()
        );
    }
}
