//! The sink's settings: the configuration and the checks made when the sink is built.

use serde::{Deserialize, Serialize};
use sesame_plugin_api::{SecretRef, TlsSettings};

/// The longest deduplication window taken: 100 years (Redis refuses expiry times near `i64`'s
/// bound in milliseconds).
pub(crate) const MAX_DEDUP_SECONDS: u64 = 100 * 365 * 24 * 3600;

/// The sink's settings, as written under `[[organizations.event_sinks]]` beside `type = "redis"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `redis://host:port/db` or `rediss://host:port/db` (TLS); the port defaults to 6379 and
    /// the database to 0. No credentials in it: they go in `username` and `password`.
    pub url: String,
    /// The ACL user (Redis 6+); without it, `password` is the default user's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// Streams are `{stream_prefix}:{organization}:{topic}`, markers
    /// `{stream_prefix}:seen:{jti}`.
    #[serde(default = "default_stream_prefix")]
    pub stream_prefix: String,
    /// Each append trims the stream to about this many entries (`MAXLEN ~`); at least 1.
    #[serde(default = "default_max_len")]
    pub max_len: u64,
    /// How long a `jti` is remembered to drop replays; 0 turns deduplication off.
    #[serde(default = "default_dedup_seconds")]
    pub dedup_seconds: u64,
    /// For `rediss://` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// Bound on connecting, appending and the answer, per publish; at least 1.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
}

fn default_stream_prefix() -> String {
    "sesame".into()
}

fn default_max_len() -> u64 {
    100_000
}

fn default_dedup_seconds() -> u64 {
    86_400
}

fn default_timeout_seconds() -> u64 {
    10
}

/// Checks the URL: scheme, host, a database number as the path, no credentials, no query or
/// fragment (redis-rs reads `#insecure` as "do not check the certificate"). Says whether it is
/// TLS. Errors never quote the URL (a password may be in it).
pub(crate) fn check_url(raw: &str) -> Result<(url::Url, bool), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("url: {e}"))?;
    let tls = match url.scheme() {
        "redis" => false,
        "rediss" => true,
        _ => return Err("url: must start with redis:// or rediss://".into()),
    };
    if url.password().is_some() {
        return Err(
            "url: must not hold a password; give it in password (an env or file reference)".into(),
        );
    }
    if !url.username().is_empty() {
        return Err("url: must not hold a user name; give it in username".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("url: names no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("url: takes no query (?…) or fragment (#…)".into());
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() && (db.len() > 9 || !db.bytes().all(|b| b.is_ascii_digit())) {
        return Err("url: the path is a database number, e.g. redis://host:6379/0".into());
    }
    Ok((url, tls))
}

/// A stream prefix: not empty, no spaces, and a `{` only to open a hash tag (`{name}`).
pub(crate) fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("stream_prefix: must be non-empty, without spaces".into());
    }
    if let Some(open) = prefix.find('{') {
        let tag = &prefix[open + 1..];
        if tag.find('}').is_none_or(|close| close == 0) {
            return Err(
                "stream_prefix: a '{' must open a Redis Cluster hash tag closed in the prefix, \
                 e.g. {sesame}"
                    .into(),
            );
        }
    }
    Ok(())
}

/// A PEM file with at least one certificate.
pub(crate) fn check_ca(pem: &[u8]) -> Result<(), String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        cert.map_err(|e| format!("not PEM: {e}"))?;
        count += 1;
    }
    if count == 0 {
        return Err("holds no PEM certificate".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedisSink;

    fn config(value: serde_json::Value) -> Config {
        serde_json::from_value(value).unwrap()
    }

    fn sink(value: serde_json::Value) -> Result<RedisSink, String> {
        RedisSink::new(config(value))
    }

    #[test]
    fn settings_parse_with_their_defaults() {
        let c = config(serde_json::json!({ "url": "redis://127.0.0.1:6379/2" }));
        assert_eq!(
            c,
            Config {
                url: "redis://127.0.0.1:6379/2".into(),
                username: None,
                password: None,
                stream_prefix: "sesame".into(),
                max_len: 100_000,
                dedup_seconds: 86_400,
                tls: None,
                timeout_seconds: 10,
            }
        );
        let c = config(serde_json::json!({
            "url": "rediss://redis.internal:6380",
            "username": "sesame",
            "password": { "env": "SESAME_TEST_REDIS_UNIT_PASSWORD" },
            "stream_prefix": "{events}",
            "max_len": 10,
            "dedup_seconds": 0,
            "tls": { "ca_file": "/etc/ca.pem" },
            "timeout_seconds": 3,
        }));
        assert_eq!(c.username.as_deref(), Some("sesame"));
        assert_eq!(
            c.password.as_ref().and_then(|p| p.env.as_deref()),
            Some("SESAME_TEST_REDIS_UNIT_PASSWORD")
        );
        assert_eq!(
            c.tls.as_ref().and_then(|t| t.ca_file.as_deref()),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        assert_eq!((c.max_len, c.dedup_seconds, c.timeout_seconds), (10, 0, 3));
        // It serializes back to the same settings.
        let again: Config = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn unknown_fields_and_inline_passwords_are_refused() {
        let e = serde_json::from_value::<Config>(serde_json::json!({
            "url": "redis://localhost", "maxlen": 5
        }))
        .unwrap_err();
        assert!(e.to_string().contains("maxlen"), "{e}");
        assert!(
            serde_json::from_value::<Config>(serde_json::json!({
                "url": "redis://localhost", "password": "hunter2"
            }))
            .is_err()
        );
        assert!(serde_json::from_value::<Config>(serde_json::json!({})).is_err());
    }

    #[test]
    fn urls_are_checked() {
        assert!(sink(serde_json::json!({ "url": "redis://localhost" })).is_ok());
        assert!(sink(serde_json::json!({ "url": "redis://localhost:6379/" })).is_ok());
        assert!(sink(serde_json::json!({ "url": "redis://[::1]:6379/15" })).is_ok());
        assert!(sink(serde_json::json!({ "url": "rediss://redis.example.com:6380/0" })).is_ok());

        let err = |url: &str| sink(serde_json::json!({ "url": url })).unwrap_err();
        assert_eq!(
            err("http://localhost:6379"),
            "url: must start with redis:// or rediss://"
        );
        assert_eq!(
            err("unix:///run/redis.sock"),
            "url: must start with redis:// or rediss://"
        );
        assert!(err("not a url").starts_with("url: "));
        assert!(err("redis://localhost/db0").contains("database number"));
        assert!(err("redis://localhost/0/1").contains("database number"));
        assert!(err("redis://localhost/?protocol=resp3").contains("no query"));
        assert!(err("rediss://localhost/#insecure").contains("fragment"));
        assert!(err("redis:///0").starts_with("url: "));
        assert!(err("redis://alice@localhost").contains("give it in username"));
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_never_quoted() {
        for url in [
            "redis://:s3cr3t-pw@localhost:6379",
            "redis://alice:s3cr3t-pw@localhost:6379/0",
            "rediss://alice:s3cr3t-pw@localhost",
        ] {
            let e = sink(serde_json::json!({ "url": url })).unwrap_err();
            assert!(e.starts_with("url: must not hold a password"), "{e}");
            assert!(!e.contains("s3cr3t-pw"));
        }
    }

    #[test]
    fn secrets_are_resolved_and_never_shown() {
        let e = sink(serde_json::json!({
            "url": "redis://localhost",
            "password": { "env": "SESAME_TEST_REDIS_UNSET_VARIABLE" },
        }))
        .unwrap_err();
        assert_eq!(
            e,
            "password: environment variable SESAME_TEST_REDIS_UNSET_VARIABLE is not set"
        );
        let e = sink(serde_json::json!({
            "url": "redis://localhost",
            "password": { "file": "/nonexistent/sesame/redis-password" },
        }))
        .unwrap_err();
        assert!(e.starts_with("password: cannot read"), "{e}");
        let e = sink(serde_json::json!({ "url": "redis://localhost", "username": "alice" }))
            .unwrap_err();
        assert!(e.starts_with("username: needs a password"), "{e}");

        let path = std::env::temp_dir().join(format!("sesame-redis-pw-{}", std::process::id()));
        std::fs::write(&path, "s3cr3t-pw\n").unwrap();
        let s = sink(serde_json::json!({
            "url": "redis://localhost",
            "username": "alice",
            "password": { "file": path },
        }));
        std::fs::remove_file(&path).unwrap();
        let s = s.unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("s3cr3t-pw"), "{debug}");
        assert!(debug.contains("***") && debug.contains("alice"), "{debug}");
    }

    #[test]
    fn numbers_and_prefixes_are_checked() {
        let err = |extra: serde_json::Value| {
            let mut c = serde_json::json!({ "url": "redis://localhost" });
            c.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            sink(c).unwrap_err()
        };
        assert!(err(serde_json::json!({ "max_len": 0 })).starts_with("max_len:"));
        assert!(err(serde_json::json!({ "timeout_seconds": 0 })).starts_with("timeout_seconds:"));
        assert!(err(serde_json::json!({ "timeout_seconds": 301 })).starts_with("timeout_seconds:"));
        assert!(
            err(serde_json::json!({ "dedup_seconds": MAX_DEDUP_SECONDS + 1 }))
                .starts_with("dedup_seconds:")
        );
        assert!(err(serde_json::json!({ "stream_prefix": "" })).starts_with("stream_prefix:"));
        assert!(err(serde_json::json!({ "stream_prefix": "a b" })).starts_with("stream_prefix:"));
        assert!(err(serde_json::json!({ "stream_prefix": "{sesame" })).contains("hash tag"));
        assert!(err(serde_json::json!({ "stream_prefix": "{}x" })).contains("hash tag"));
        assert_eq!(
            err(serde_json::json!({ "tls": { "ca_file": "/etc/ca.pem" } })),
            "tls: only with a rediss:// url"
        );
    }

    #[test]
    fn ca_files_are_read_and_checked() {
        let c = |path: &std::path::Path| {
            sink(serde_json::json!({
                "url": "rediss://localhost", "tls": { "ca_file": path }
            }))
        };
        let e = c(std::path::Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(e.starts_with("tls.ca_file: cannot read"), "{e}");
        let path = std::env::temp_dir().join(format!("sesame-redis-ca-{}", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let e = c(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(e.contains("no PEM certificate"), "{e}");
        // Without a CA file, the public roots: fine.
        assert!(sink(serde_json::json!({ "url": "rediss://localhost", "tls": {} })).is_ok());
    }
}
