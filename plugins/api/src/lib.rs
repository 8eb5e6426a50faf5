//! What a Sesame plugin implements and what it gets.
//!
//! The server and every plugin depend on this crate, and no plugin on the server (Cargo forbids
//! the cycle). An SMS gateway implements [`SmsGateway`]; an event bus (NATS, RabbitMQ, Redis…)
//! implements [`EventSink`]; a second factor checked by a typed code implements
//! [`factor::CodeFactor`]. Plugins make HTTP calls only through [`Outbound`], which applies the
//! egress policy, and read credentials through [`SecretRef`], so none sits readable in the database.

pub mod factor;
pub mod key;
pub mod outbound;
pub mod secret;
pub mod sink;

use std::future::Future;
use std::pin::Pin;

pub use outbound::{Outbound, OutboundError, is_public};
pub use secret::SecretRef;
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
}
