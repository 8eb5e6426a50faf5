//! The sink's settings: the configuration, how the sink authenticates, and the checks made when
//! it is built.

use std::fmt;
use std::path::PathBuf;

use async_nats::{ConnectOptions, ServerAddr};
use serde::{Deserialize, Serialize};
use sesame_plugin_api::{SecretRef, SendError, TlsSettings};

/// The subject prefix when the configuration names none.
pub const DEFAULT_SUBJECT_PREFIX: &str = "sesame";
/// The bound on connect + publish + ack when the configuration names none.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 10;

/// A NATS sink's connection settings, as the provisioning file writes them under
/// `[[organizations.event_sinks]]` (see the crate's documentation for an example).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `nats://host:4222` or `tls://host:4222`; several servers of one cluster separated by
    /// commas (`nats://a:4222,nats://b:4222`). No credentials in it.
    pub url: String,
    /// The first tokens of every subject: `{subject_prefix}.{organization}.{topic}`. One or more
    /// tokens separated by dots, without wildcards or whitespace.
    #[serde(default = "default_subject_prefix")]
    pub subject_prefix: String,
    /// A user name, with `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// A token, instead of a user name and password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretRef>,
    /// A `.creds` file (a user JWT and its nkey seed, as `nsc` writes it), instead of the above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// The bound, in seconds, on connecting, publishing and waiting for JetStream's ack.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
}

fn default_subject_prefix() -> String {
    DEFAULT_SUBJECT_PREFIX.into()
}

fn default_timeout_seconds() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}

/// How the sink authenticates. Holds secrets: its `Debug` shows only which way.
pub(crate) enum Auth {
    None,
    UserPassword { username: String, password: String },
    Token(String),
    Credentials { path: PathBuf, contents: String },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::UserPassword { username, .. } => f
                .debug_struct("UserPassword")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
            Self::Credentials { path, .. } => f
                .debug_struct("Credentials")
                .field("path", path)
                .finish_non_exhaustive(),
        }
    }
}

/// Checks that `value` is one subject token: not empty, no `.`, `*`, `>` or whitespace (nor
/// control characters).
pub(crate) fn subject_token(what: &str, value: &str) -> Result<(), SendError> {
    if value.is_empty()
        || value
            .chars()
            .any(|c| matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control())
    {
        return Err(SendError::Permanent(format!(
            "{what} {value:?} cannot be a NATS subject token (empty, or holds '.', '*', '>' or \
             whitespace)"
        )));
    }
    Ok(())
}

pub(crate) fn check_subject_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Err("subject_prefix: must not be empty".into());
    }
    if prefix.starts_with('$') {
        return Err(format!(
            "subject_prefix: {prefix:?} starts with '$', which NATS reserves for its own subjects \
             ($JS, $SYS…)"
        ));
    }
    for token in prefix.split('.') {
        if subject_token("", token).is_err() {
            return Err(format!(
                "subject_prefix: {prefix:?} must be subject tokens separated by single dots, \
                 without '*', '>' or whitespace"
            ));
        }
    }
    Ok(())
}

pub(crate) fn parse_servers(url: &str) -> Result<Vec<ServerAddr>, String> {
    let mut servers = Vec::new();
    for part in url.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err("url: an empty server address in the list".into());
        }
        let (scheme, _) = part
            .split_once("://")
            .ok_or("url: must start with nats:// or tls://")?;
        if !scheme.eq_ignore_ascii_case("nats") && !scheme.eq_ignore_ascii_case("tls") {
            return Err("url: must start with nats:// or tls://".into());
        }
        // Never echo the address itself: it might carry a password.
        let server: ServerAddr = part
            .parse()
            .map_err(|e: std::io::Error| format!("url: not a server address ({e})"))?;
        if server.has_user_pass() || server.password().is_some() {
            return Err(
                "url: must not carry credentials (NATS takes a lone user name as a token): give \
                 username and password, token or credentials_file instead"
                    .into(),
            );
        }
        if server.host().is_empty() {
            return Err("url: a server address without a host".into());
        }
        let inner = server.clone().into_inner();
        if !matches!(inner.path(), "" | "/")
            || inner.query().is_some()
            || inner.fragment().is_some()
        {
            return Err(format!(
                "url: {} has a path, query or fragment; a NATS address is scheme://host:port",
                server.as_url_str()
            ));
        }
        servers.push(server);
    }
    Ok(servers)
}

pub(crate) fn resolve_auth(config: &Config) -> Result<Auth, String> {
    let mut ways = Vec::new();
    if config.username.is_some() || config.password.is_some() {
        ways.push("username and password");
    }
    if config.token.is_some() {
        ways.push("token");
    }
    if config.credentials_file.is_some() {
        ways.push("credentials_file");
    }
    if ways.len() > 1 {
        return Err(format!(
            "give at most one way to authenticate (username and password, token, or \
             credentials_file), not {}",
            ways.join(" and ")
        ));
    }
    let secret = |field: &str, secret: &SecretRef| {
        let value = secret.resolve().map_err(|e| format!("{field}: {e}"))?;
        if value.is_empty() {
            return Err(format!("{field}: is empty"));
        }
        Ok(value)
    };
    match (
        &config.username,
        &config.password,
        &config.token,
        &config.credentials_file,
    ) {
        (None, None, None, None) => Ok(Auth::None),
        (Some(username), Some(password), _, _) => {
            if username.is_empty() {
                return Err("username: must not be empty".into());
            }
            Ok(Auth::UserPassword {
                username: username.clone(),
                password: secret("password", password)?,
            })
        }
        (Some(_), None, _, _) => Err("password: required with username".into()),
        (None, Some(_), _, _) => Err("username: required with password".into()),
        (None, None, Some(token), _) => Ok(Auth::Token(secret("token", token)?)),
        (None, None, None, Some(path)) => {
            let contents = std::fs::read_to_string(path)
                .map_err(|e| format!("credentials_file: cannot read {}: {e}", path.display()))?;
            // Parses the user JWT and the nkey seed now, so a bad file shows at load time.
            ConnectOptions::with_credentials(&contents).map_err(|e| {
                format!(
                    "credentials_file: {} is not a NATS .creds file: {e}",
                    path.display()
                )
            })?;
            Ok(Auth::Credentials {
                path: path.clone(),
                contents,
            })
        }
    }
}

pub(crate) fn check_ca_file(path: &std::path::Path) -> Result<(), String> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| format!("tls.ca_file: cannot read {}: {e}", path.display()))?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "tls.ca_file: {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sesame_plugin_api::EventSink;

    use super::*;
    use crate::NatsSink;

    fn config(json: serde_json::Value) -> Result<Config, serde_json::Error> {
        serde_json::from_value(json)
    }

    fn sink(json: serde_json::Value) -> Result<NatsSink, String> {
        NatsSink::new(config(json).expect("the configuration parses"))
    }

    fn temp_file(name: &str, contents: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("sesame-nats-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    const UNSET: &str = "SESAME_TEST_NATS_SURELY_UNSET_VARIABLE";

    #[test]
    fn a_minimal_configuration_takes_the_defaults() {
        let c = config(serde_json::json!({ "url": "nats://127.0.0.1:4222" })).unwrap();
        assert_eq!(c.subject_prefix, "sesame");
        assert_eq!(c.timeout_seconds, 10);
        assert_eq!(c.username, None);
        assert_eq!(c.tls, None);
        let s = NatsSink::new(c).unwrap();
        assert!(!s.require_tls);
        assert!(matches!(s.auth, Auth::None));
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert_eq!(s.kind(), "nats");
    }

    #[test]
    fn a_full_configuration_parses() {
        let secret = temp_file("full-password", "s3cret\n");
        let ca = temp_file(
            "full-ca.pem",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        );
        let c = config(serde_json::json!({
            "url": "tls://nats-1.example:4222, tls://nats-2.example:4222",
            "subject_prefix": "prod.sesame",
            "username": "sesame",
            "password": { "file": secret },
            "tls": { "ca_file": ca },
            "timeout_seconds": 3,
        }))
        .unwrap();
        assert_eq!(
            c.password,
            Some(SecretRef {
                env: None,
                file: Some(secret.clone()),
                sealed: None,
            })
        );
        let s = NatsSink::new(c).unwrap();
        assert_eq!(s.servers.len(), 2);
        assert!(s.require_tls);
        assert_eq!(s.timeout, Duration::from_secs(3));
        match &s.auth {
            Auth::UserPassword { username, password } => {
                assert_eq!(username, "sesame");
                assert_eq!(password, "s3cret");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.subject("acme", "LOGINS").unwrap(),
            "prod.sesame.acme.LOGINS"
        );
        // The secret shows nowhere in Debug.
        let debug = format!("{s:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("sesame"), "{debug}");
        std::fs::remove_file(secret).unwrap();
        std::fs::remove_file(ca).unwrap();
    }

    #[test]
    fn unknown_fields_and_inline_secrets_are_refused() {
        assert!(config(serde_json::json!({ "url": "nats://h", "stream": "X" })).is_err());
        assert!(config(serde_json::json!({ "url": "nats://h", "password": "inline" })).is_err());
        assert!(config(serde_json::json!({ "subject_prefix": "x" })).is_err());
    }

    #[test]
    fn the_url_must_be_nats_or_tls_without_credentials() {
        for url in ["http://h:4222", "h:4222", "ws://h:4222", "wss://h", ""] {
            let e = sink(serde_json::json!({ "url": url })).unwrap_err();
            assert!(e.starts_with("url: "), "{url}: {e}");
        }
        let e = sink(serde_json::json!({ "url": "redis://h" })).unwrap_err();
        assert_eq!(e, "url: must start with nats:// or tls://");
        let e = sink(serde_json::json!({ "url": "nats://sesame:hunter2@h:4222" })).unwrap_err();
        assert!(e.contains("must not carry credentials"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        // A lone user name is a token to NATS.
        let e = sink(serde_json::json!({ "url": "nats://t0ken@h:4222" })).unwrap_err();
        assert!(
            e.contains("must not carry credentials") && !e.contains("t0ken"),
            "{e}"
        );
        // One bad server in a list spoils it.
        let e = sink(serde_json::json!({ "url": "nats://a:4222,nats://u:p@b:4222" })).unwrap_err();
        assert!(e.contains("must not carry credentials"), "{e}");
        let e = sink(serde_json::json!({ "url": "nats://a:4222,,nats://b" })).unwrap_err();
        assert!(e.contains("empty server"), "{e}");
        let e = sink(serde_json::json!({ "url": "nats://a:4222/sesame" })).unwrap_err();
        assert!(e.contains("path"), "{e}");
        // Schemes in any case, several servers, a trailing slash.
        let s = sink(serde_json::json!({ "url": "NATS://a:4222/, nats://b" })).unwrap();
        assert_eq!(s.servers.len(), 2);
        assert_eq!(s.servers[1].port(), 4222);
        assert!(!s.require_tls);
        // One tls:// server: TLS required.
        let s = sink(serde_json::json!({ "url": "nats://a,tls://b" })).unwrap();
        assert!(s.require_tls);
    }

    #[test]
    fn at_most_one_way_to_authenticate() {
        let secret = temp_file("one-way", "t0ken");
        let file = serde_json::json!({ "file": secret });
        let e = sink(serde_json::json!({
            "url": "nats://h", "username": "u", "password": file, "token": file,
        }))
        .unwrap_err();
        assert!(e.contains("at most one way"), "{e}");
        assert!(e.contains("username and password and token"), "{e}");
        let e = sink(serde_json::json!({
            "url": "nats://h", "token": file, "credentials_file": "/nonexistent.creds",
        }))
        .unwrap_err();
        assert!(e.contains("token and credentials_file"), "{e}");
        let e = sink(serde_json::json!({ "url": "nats://h", "username": "u" })).unwrap_err();
        assert_eq!(e, "password: required with username");
        let e = sink(serde_json::json!({ "url": "nats://h", "password": file })).unwrap_err();
        assert_eq!(e, "username: required with password");
        let s = sink(serde_json::json!({ "url": "nats://h", "token": file })).unwrap();
        assert!(matches!(&s.auth, Auth::Token(t) if t == "t0ken"));
        assert!(!format!("{s:?}").contains("t0ken"));
        std::fs::remove_file(secret).unwrap();
    }

    #[test]
    fn missing_secrets_are_named() {
        let e = sink(serde_json::json!({
            "url": "nats://h", "username": "u", "password": { "env": UNSET },
        }))
        .unwrap_err();
        assert_eq!(
            e,
            format!("password: environment variable {UNSET} is not set")
        );
        let e =
            sink(serde_json::json!({ "url": "nats://h", "token": { "env": UNSET } })).unwrap_err();
        assert!(e.starts_with("token: environment variable"), "{e}");
        let e = sink(serde_json::json!({
            "url": "nats://h", "token": { "file": "/nonexistent/sesame-token" },
        }))
        .unwrap_err();
        assert!(e.starts_with("token: cannot read"), "{e}");
        let empty = temp_file("empty-token", "\n");
        let e =
            sink(serde_json::json!({ "url": "nats://h", "token": { "file": empty } })).unwrap_err();
        assert_eq!(e, "token: is empty");
        std::fs::remove_file(empty).unwrap();
    }

    #[test]
    fn credentials_files_are_read_and_parsed_when_built() {
        let e = sink(serde_json::json!({
            "url": "nats://h", "credentials_file": "/nonexistent/sesame.creds",
        }))
        .unwrap_err();
        assert!(e.starts_with("credentials_file: cannot read"), "{e}");
        let bad = temp_file("bad.creds", "not a creds file");
        let e =
            sink(serde_json::json!({ "url": "nats://h", "credentials_file": bad })).unwrap_err();
        assert!(e.contains("is not a NATS .creds file"), "{e}");
        std::fs::remove_file(bad).unwrap();

        // The format `nsc` writes (the nkey seed is the one NATS documents as an example).
        let seed = "SUAIO3FHUX5PNV2LQIIP7TZ3N4L7TX3W53MQGEIVYFIGA635OZCKEYHFLM";
        let creds = format!(
            "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJqd3QiLCJhbGciOiJlZDI1NTE5In0.e30.c2ln\n\
             ------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used sign and prove identity.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        );
        let good = temp_file("good.creds", &creds);
        let s = sink(serde_json::json!({ "url": "nats://h", "credentials_file": good })).unwrap();
        assert!(matches!(s.auth, Auth::Credentials { .. }));
        assert!(!format!("{s:?}").contains(seed));
        std::fs::remove_file(good).unwrap();
    }

    #[test]
    fn ca_files_must_hold_a_certificate_and_require_tls() {
        let e = sink(serde_json::json!({
            "url": "nats://h", "tls": { "ca_file": "/nonexistent/ca.pem" },
        }))
        .unwrap_err();
        assert!(e.starts_with("tls.ca_file: cannot read"), "{e}");
        let junk = temp_file("junk.pem", "hello");
        let e =
            sink(serde_json::json!({ "url": "nats://h", "tls": { "ca_file": junk } })).unwrap_err();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        std::fs::remove_file(junk).unwrap();
        let ca = temp_file(
            "ca.pem",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        );
        let s = sink(serde_json::json!({ "url": "nats://h", "tls": { "ca_file": ca } })).unwrap();
        assert!(s.require_tls);
        std::fs::remove_file(ca).unwrap();
        // An empty tls table changes nothing: TLS is chosen by the scheme.
        let s = sink(serde_json::json!({ "url": "nats://h", "tls": {} })).unwrap();
        assert!(!s.require_tls);
    }

    #[test]
    fn the_subject_prefix_is_tokens_without_wildcards() {
        for good in ["sesame", "prod.sesame", "a-b_c.d1"] {
            sink(serde_json::json!({ "url": "nats://h", "subject_prefix": good })).unwrap();
        }
        for bad in [
            "", ".", "a.", ".a", "a..b", "a.*", "a.>", ">", "a b", "a\tb", "$JS.API", "a*b",
        ] {
            let e =
                sink(serde_json::json!({ "url": "nats://h", "subject_prefix": bad })).unwrap_err();
            assert!(e.starts_with("subject_prefix: "), "{bad:?}: {e}");
        }
        let e = sink(serde_json::json!({ "url": "nats://h", "timeout_seconds": 0 })).unwrap_err();
        assert_eq!(e, "timeout_seconds: must be between 1 and 300");
        let e = sink(serde_json::json!({ "url": "nats://h", "timeout_seconds": 301 })).unwrap_err();
        assert_eq!(e, "timeout_seconds: must be between 1 and 300");
    }
}
