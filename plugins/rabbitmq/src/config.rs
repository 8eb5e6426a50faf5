//! The sink's settings: the configuration and the checks made when the sink is built.

use serde::{Deserialize, Serialize};
use sesame_plugin_api::{SecretRef, TlsSettings};

/// The exchange events go to unless `exchange` says otherwise.
pub const DEFAULT_EXCHANGE: &str = "sesame";
/// The bound on connecting, publishing and awaiting the confirm unless `timeout_seconds` says
/// otherwise.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 10;

/// The longest name AMQP 0-9-1 carries (a "short string"): exchange names, routing keys,
/// message ids, types.
pub(crate) const MAX_SHORT: usize = 255;

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

/// Exchange names RabbitMQ takes: letters, digits, `-`, `_`, `.`, `:`; not `amq.…` (reserved).
pub(crate) fn check_exchange(name: &str) -> Result<(), String> {
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
pub(crate) struct UrlParts {
    pub(crate) ipv6_host: Option<String>,
    pub(crate) host_for_display: String,
    pub(crate) vhost_for_display: String,
}

pub(crate) fn url_parts(raw: &str) -> Result<UrlParts, String> {
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use lapin::uri::AMQPScheme;
    use serde_json::json;
    use sesame_plugin_api::EventSink;

    use super::*;
    use crate::RabbitmqSink;

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
}
