//! Sesame: an OpenID Connect provider whose sign-in is a configurable chain of authenticators.
//!
//! The binary (`src/main.rs`) is a thin CLI over this library; tests build the same
//! [`startup::Application`] on a random port.

pub mod admin;
pub mod authn;
pub mod backup;
pub mod branding;
pub mod cli;
pub mod config;
pub mod demo;
pub mod document;
pub mod domain;
pub mod events;
pub mod http;
pub mod i18n;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod oidc;
pub mod outbound;
pub mod password;
pub mod plugin;
pub mod provisioning;
pub mod secret;
pub mod sms;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tls;

pub use startup::Application;
