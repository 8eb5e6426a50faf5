//! The in-process capture gateway for tests: keeps the messages in memory and sends nothing; can
//! be told to fail. The console and real gateways are plugins (see `plugin`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::plugin::{BoxFuture, SendError, Sms, SmsGateway};

/// One message kept by [`Capture`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub to: String,
    pub body: String,
    pub idempotency_key: String,
}

#[derive(Debug, Default)]
pub struct Capture {
    sent: Mutex<Vec<Sent>>,
    failing: AtomicBool,
}

impl Capture {
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().expect("capture lock").clone()
    }

    /// Makes every following send fail (a gateway outage), or succeed again.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

impl SmsGateway for Capture {
    fn kind(&self) -> &'static str {
        "capture"
    }

    fn send<'a>(&'a self, sms: Sms<'a>) -> BoxFuture<'a, Result<String, SendError>> {
        Box::pin(async move {
            if self.failing.load(Ordering::SeqCst) {
                return Err(SendError::Retryable("capture channel set to fail".into()));
            }
            self.sent.lock().expect("capture lock").push(Sent {
                to: sms.to.to_string(),
                body: sms.body.to_string(),
                idempotency_key: sms.idempotency_key.to_string(),
            });
            Ok(format!("capture-{}", sms.idempotency_key))
        })
    }
}
