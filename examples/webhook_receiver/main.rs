//! A WebSub subscriber for Sesame's `NOTIFICATIONS` topic that sends each SMS OTP through an
//! HTTP SMS API: the counterpart of the Asgardeo guide's sample webhook.
//!
//! It answers the hub's intent verification (echoing `hub.challenge` for its topic), checks
//! both signatures of every delivery (`X-Hub-Signature` over the body, `X-Sesame-Signature` over
//! timestamp and body, refusing deliveries older than five minutes), skips event ids it has
//! already handled (deliveries are at least once), and forwards `sendTo` and `messageBody` as
//! JSON to the SMS API.
//!
//! Run it:
//!
//! ```sh
//! WEBHOOK_SECRET=… WEBHOOK_TOPIC=https://id.example/websubhub/topics/acme/NOTIFICATIONS \
//! SMS_API_URL=https://sms.example/send LISTEN=127.0.0.1:8088 \
//!   cargo run --example webhook_receiver
//! ```
//!
//! then subscribe `http://…:8088/hook` at the hub with the same secret.

mod receiver;

use receiver::{Receiver, serve};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            eprintln!("set {name}");
            std::process::exit(2)
        })
    };
    let receiver = Receiver::new(
        &var("WEBHOOK_SECRET"),
        &var("WEBHOOK_TOPIC"),
        &var("SMS_API_URL"),
    );
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8088".into());
    let (server, addr) = serve(receiver, &listen)?;
    eprintln!("webhook receiver on http://{addr}/hook");
    server.await
}
