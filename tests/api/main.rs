//! Integration tests against the real application (see `helpers.rs`).

mod helpers;

mod access_tokens;
mod account;
mod authorization;
mod backup;
mod brokers;
mod cli;
mod database_outage;
mod deliveries;
mod discovery;
mod email_otp;
mod enrollment;
mod federation;
mod gateways;
mod health;
mod logout;
mod magic_link;
mod management;
mod metrics;
mod native;
mod operations;
mod outbox;
mod passkey;
mod prefix;
mod provisioning;
mod receipts;
mod signing_keys;
mod sinks;
mod sms_otp;
mod smtp_server;
mod storage_faults;
mod tls;
mod totp;
mod traces;
mod websub;
