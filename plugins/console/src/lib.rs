//! The console gateway, for development: each message is printed on standard output, so a
//! developer reads the code there. Standard output and not the structured log, which is shipped
//! to log stores that must never hold codes; a warning at start says codes are printed.

use serde::{Deserialize, Serialize};
use sesame_plugin_api::{BoxFuture, SendError, Sms, SmsGateway};

/// No settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

#[derive(Debug, Default)]
pub struct Console;

impl SmsGateway for Console {
    fn kind(&self) -> &'static str {
        "console"
    }

    fn send<'a>(&'a self, sms: Sms<'a>) -> BoxFuture<'a, Result<String, SendError>> {
        Box::pin(async move {
            println!(
                "\n=== SMS to {} (console channel, development only) ===\n{}\n===\n",
                sms.to, sms.body
            );
            Ok(format!("console-{}", sms.idempotency_key))
        })
    }
}
