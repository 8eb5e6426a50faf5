//! Sending text messages. Sign-in code only sees [`SmsChannel`]; the channels built in now are the
//! console (development: prints each message) and an in-process capture for tests. Gateways
//! (HTTP, Twilio) come as plugins behind the same trait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::domain::PhoneNumber;

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// Worth trying again later (a timeout, a 5xx, a rate limit).
    #[error("temporary failure: {0}")]
    Retryable(String),
    /// Trying again will not help (a rejected number, bad credentials).
    #[error("rejected: {0}")]
    Permanent(String),
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<String, SmsError>> + Send + 'a>>;

/// Sends one message to one E.164 number and returns the provider's message id.
pub trait SmsChannel: Send + Sync + std::fmt::Debug {
    fn send<'a>(&'a self, to: &'a PhoneNumber, body: &'a str) -> SendFuture<'a>;
}

/// Development channel: prints every message on standard output, so a developer can read the
/// code. Never for production: the codes are in the output (a warning says so at start).
#[derive(Debug, Default)]
pub struct Console;

impl SmsChannel for Console {
    fn send<'a>(&'a self, to: &'a PhoneNumber, body: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let id = uuid::Uuid::new_v4().to_string();
            // stdout, not the log: log pipelines must never carry codes.
            println!(
                "\n=== SMS to {to} (console channel, development only) ===\n{body}\n===\n",
                to = to.as_str()
            );
            Ok(id)
        })
    }
}

/// One message kept by [`Capture`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub to: String,
    pub body: String,
}

/// Test channel: keeps the messages in memory and sends nothing. Can be told to fail.
#[derive(Debug, Default)]
pub struct Capture {
    sent: Mutex<Vec<Sent>>,
    failing: std::sync::atomic::AtomicBool,
}

impl Capture {
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().expect("capture lock").clone()
    }

    /// Makes every following send fail (a gateway outage), or succeed again.
    pub fn set_failing(&self, failing: bool) {
        self.failing
            .store(failing, std::sync::atomic::Ordering::SeqCst);
    }
}

impl SmsChannel for Capture {
    fn send<'a>(&'a self, to: &'a PhoneNumber, body: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(SmsError::Retryable("capture channel set to fail".into()));
            }
            self.sent.lock().expect("capture lock").push(Sent {
                to: to.as_str().to_string(),
                body: body.to_string(),
            });
            Ok(uuid::Uuid::new_v4().to_string())
        })
    }
}
