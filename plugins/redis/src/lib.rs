//! An event sink that appends Sesame's events to Redis Streams.
//!
//! # Where events go
//!
//! Each event is one entry of the stream `{stream_prefix}:{organization}:{topic}`, e.g.
//! `sesame:acme:LOGINS` (`stream_prefix` defaults to `sesame`; the organization is its slug). An
//! organization or topic that is empty or holds `:` or whitespace is refused
//! ([`SendError::Permanent`]): it would make the key ambiguous.
//!
//! # The entry
//!
//! Six fields, in this order:
//!
//! | field          | value                                                                 |
//! | -------------- | --------------------------------------------------------------------- |
//! | `jti`          | the event's id, the same on every attempt at the same event           |
//! | `type`         | the event type, e.g. `LoginSuccessEvent`                              |
//! | `organization` | the organization's slug                                               |
//! | `topic`        | `LOGINS`, `USER_OPERATIONS` or `NOTIFICATIONS`                        |
//! | `content_type` | `application/json`, or `application/jose` for a sealed notification   |
//! | `payload`      | the body's bytes: the event's JSON envelope, or a compact JWE         |
//!
//! The entry id is Redis's own (`*`: milliseconds-sequence). Each append trims the stream to
//! about `max_len` entries (`MAXLEN ~ max_len`, see below).
//!
//! # Acknowledged
//!
//! [`EventSink::publish`] returns `Ok` once Redis has answered the `XADD` (or the script that
//! runs it) with the new entry's id, or has said that the event is a replay already in the stream.
//! That is the reply of the server the sink is connected to: with replicas, an entry acknowledged
//! by a primary that fails before replicating it can be lost (Redis replication is
//! asynchronous); with `appendfsync everysec`, the last second may be lost on a crash.
//!
//! # Duplicates
//!
//! Sesame delivers at least once: a publish whose answer was lost is published again, with the
//! same `jti`. With `dedup_seconds` > 0 (the default is a day) each append is one Lua script, run
//! atomically by Redis:
//!
//! ```lua
//! if redis.call('EXISTS', KEYS[1]) == 1 then return false end          -- a replay
//! local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
//! redis.call('SET', KEYS[1], id, 'EX', ARGV[1])
//! return id
//! ```
//!
//! where `KEYS[1]` is the marker `{stream_prefix}:seen:{jti}` and `KEYS[2]` the stream. The first
//! attempt appends the entry and sets the marker (its value is the entry's id, to find it
//! again); a replay within `dedup_seconds` finds the marker and appends nothing. This is
//! `SET marker NX EX` then `XADD` with the order turned round: a script is not undone when a
//! command in it fails, so setting the marker first would leave a marker without its entry if
//! the `XADD` failed (the key holding something else, memory full), and every retry would then
//! be taken for a replay and the event lost. Here a failed `XADD` leaves no marker, and only a
//! failing `SET` after a good `XADD` can let a retry append the event twice — at least once,
//! never lost. A replay later than `dedup_seconds` after the first attempt is appended again, so
//! consumers that must never see a duplicate still check `jti`.
//!
//! With `dedup_seconds = 0` there is no script and no marker: a plain `XADD`, and a retry after
//! a lost answer appends a second entry with the same `jti`.
//!
//! **Redis Cluster.** The sink speaks to one Redis server (it follows no `MOVED` redirection), so
//! a cluster of several nodes is reached through a cluster-aware proxy (a one-node cluster works
//! directly). Either way the script's two keys must be in one hash slot, which `sesame:seen:…` and `sesame:acme:LOGINS` are not: the script fails
//! (`CROSSSLOT`, a permanent error). Either set `dedup_seconds = 0`, or put a hash tag in the
//! prefix, e.g. `stream_prefix = "{sesame}"`: then only `sesame` is hashed, for
//! `{sesame}:seen:…` and `{sesame}:acme:LOGINS` alike, and every key of the sink is in the same
//! slot (so on one node). A `{` in `stream_prefix` must open such a tag (`{name}`).
//!
//! # Trimming
//!
//! `MAXLEN ~ max_len` is Redis's approximate trimming: it removes whole nodes of the stream's
//! radix tree only, so the stream keeps at least `max_len` entries (once it had that many) and at
//! most about `max_len` plus one node (`stream-node-max-entries`, 100 by default). It costs far
//! less than exact trimming, which is why it is used whatever `max_len` is. Size `max_len` for
//! the slowest consumer: an entry trimmed before a consumer read it is gone for that consumer.
//!
//! # Connection
//!
//! The sink connects on its first publish (building it checks the settings and reads the
//! password, nothing more), through a [`redis::aio::ConnectionManager`] that it keeps and reuses;
//! after any failed publish it drops that connection and the next publish opens a new one, so a
//! restarted server is reached again. Connecting, the call and its answer are bounded by
//! `timeout_seconds`: a server that is down or slow is [`SendError::Retryable`], and so are
//! `LOADING`, `BUSY`, `OOM`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`, `READONLY` (a failover
//! in progress) and "max number of clients". Refused credentials (`WRONGPASS`, `NOAUTH`) or
//! permissions (`NOPERM`) are [`SendError::Permanent`], as is any other error reply. An ACL user
//! for the sink needs `EVALSHA` and `SCRIPT LOAD` (the script is sent once per server), and, run
//! by the script, `EXISTS`, `SET` and `XADD`, on the keys `{stream_prefix}:*`:
//! `ACL SETUSER sesame on >… ~sesame:* +evalsha +script|load +exists +set +xadd` (only `+xadd`
//! with `dedup_seconds = 0`).
//!
//! `rediss://` URLs use TLS (rustls on ring), trusting the public web roots (webpki-roots), or
//! only the certificate authorities of `tls.ca_file` when it is given.
//!
//! # Configuration
//!
//! ```toml
//! [[organizations.event_sinks]]
//! name = "streams"
//! type = "redis"
//! topics = ["LOGINS", "USER_OPERATIONS"]
//! url = "rediss://redis.internal:6380/0"     # redis:// or rediss://, /db optional
//! username = "sesame"                          # optional (Redis ACL user)
//! password = { env = "SESAME_REDIS_PASSWORD" } # or { file = "/run/secrets/redis" }
//! stream_prefix = "sesame"                     # default
//! max_len = 100000                             # default
//! dedup_seconds = 86400                        # default; 0 = no deduplication
//! timeout_seconds = 10                         # default
//! tls = { ca_file = "/etc/sesame/redis-ca.pem" }
//! ```
//!
//! # Consuming
//!
//! Read new entries as they come:
//!
//! ```text
//! redis-cli XREAD BLOCK 0 STREAMS sesame:acme:LOGINS '$'
//! ```
//!
//! or share the work among the consumers of a group, each entry to one of them, acknowledged
//! once handled (`0` to start from the oldest entry kept, `$` from new ones only):
//!
//! ```text
//! redis-cli XGROUP CREATE sesame:acme:LOGINS audit 0 MKSTREAM
//! redis-cli XREADGROUP GROUP audit worker-1 COUNT 10 BLOCK 0 STREAMS sesame:acme:LOGINS '>'
//! redis-cli XACK sesame:acme:LOGINS audit 1718000000000-0
//! ```
//!
//! A consumer decodes `payload` by `content_type` and, to be safe against replays older than
//! `dedup_seconds` (or with deduplication off), ignores a `jti` it has already handled.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ErrorKind, IntoConnectionInfo, RedisError, Script, TlsCertificates};
use serde::{Deserialize, Serialize};
use sesame_plugin_api::{BoxFuture, Event, EventSink, SecretRef, SendError, TlsSettings};
use tokio::time::Instant;

/// The script that appends an event once: see the crate's docs. `KEYS[1]` is the jti's marker,
/// `KEYS[2]` the stream; `ARGV[1]` is `dedup_seconds`, `ARGV[2]` `max_len`, then the fields and
/// their values.
const APPEND_ONCE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
redis.call('SET', KEYS[1], id, 'EX', ARGV[1])
return id
";

/// The longest deduplication window taken: 100 years (Redis refuses expiry times near `i64`'s
/// bound in milliseconds).
const MAX_DEDUP_SECONDS: u64 = 100 * 365 * 24 * 3600;

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

/// Appends events to Redis Streams; see the crate's docs.
pub struct RedisSink {
    /// Holds the password (in its connection info): never printed.
    client: Client,
    /// The URL as configured (checked to hold no password).
    url: String,
    username: Option<String>,
    has_password: bool,
    stream_prefix: String,
    max_len: u64,
    dedup_seconds: u64,
    tls: bool,
    timeout: Duration,
    script: Script,
    /// The kept connection (the lock is never held across an await).
    slot: std::sync::Mutex<Slot>,
    /// Held while connecting, so that concurrent first publishes make one connection.
    connecting: tokio::sync::Mutex<()>,
}

/// The kept connection, and a count of those made so that a failed publish drops only the one
/// it used.
#[derive(Default)]
struct Slot {
    generation: u64,
    manager: Option<ConnectionManager>,
}

impl fmt::Debug for RedisSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSink")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &if self.has_password { "***" } else { "none" })
            .field("stream_prefix", &self.stream_prefix)
            .field("max_len", &self.max_len)
            .field("dedup_seconds", &self.dedup_seconds)
            .field("tls", &self.tls)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisSink {
    /// Checks the settings, reads the password and the CA file; does not connect.
    pub fn new(config: Config) -> Result<Self, String> {
        let (url, tls) = check_url(&config.url)?;
        if let Some(username) = &config.username
            && (username.is_empty()
                || username
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err("username: must be non-empty, without spaces".into());
        }
        if config.username.is_some() && config.password.is_none() {
            return Err("username: needs a password (Redis authenticates a user by both)".into());
        }
        let password = match &config.password {
            Some(secret) => {
                let password = secret.resolve().map_err(|e| format!("password: {e}"))?;
                if password.is_empty() {
                    return Err("password: the secret is empty".into());
                }
                Some(password)
            }
            None => None,
        };
        check_prefix(&config.stream_prefix)?;
        if config.max_len == 0 || config.max_len > i64::MAX as u64 {
            return Err("max_len: must be at least 1".into());
        }
        if config.dedup_seconds > MAX_DEDUP_SECONDS {
            return Err(format!(
                "dedup_seconds: at most {MAX_DEDUP_SECONDS} (100 years); 0 turns deduplication off"
            ));
        }
        // At most 5 minutes: a publish outlasting the outbox's lease would be claimed again and
        // sent twice (the lease is 30 s by default, 600 s at most).
        if !(1..=300).contains(&config.timeout_seconds) {
            return Err("timeout_seconds: must be between 1 and 300".into());
        }

        let mut info = url
            .as_str()
            .into_connection_info()
            .map_err(|e| format!("url: {e}"))?;
        info.redis.username = config.username.clone();
        info.redis.password = password;
        let client = match (&config.tls, tls) {
            (Some(_), false) => {
                return Err("tls: only with a rediss:// url".into());
            }
            (
                Some(TlsSettings {
                    ca_file: Some(path),
                }),
                true,
            ) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("tls.ca_file: cannot read {}: {e}", path.display()))?;
                check_ca(&pem).map_err(|e| format!("tls.ca_file: {}: {e}", path.display()))?;
                Client::build_with_tls(
                    info,
                    TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem),
                    },
                )
                .map_err(|e| format!("tls.ca_file: {}: {e}", path.display()))?
            }
            _ => Client::open(info).map_err(|e| format!("url: {e}"))?,
        };

        Ok(Self {
            client,
            url: config.url,
            username: config.username,
            has_password: config.password.is_some(),
            stream_prefix: config.stream_prefix,
            max_len: config.max_len,
            dedup_seconds: config.dedup_seconds,
            tls,
            timeout: Duration::from_secs(config.timeout_seconds),
            script: Script::new(APPEND_ONCE),
            slot: std::sync::Mutex::new(Slot::default()),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    /// The stream an event of `organization` and `topic` goes to:
    /// `{stream_prefix}:{organization}:{topic}`.
    pub fn stream_key(&self, organization: &str, topic: &str) -> Result<String, SendError> {
        check_segment("organization", organization)?;
        check_segment("topic", topic)?;
        Ok(format!("{}:{organization}:{topic}", self.stream_prefix))
    }

    /// The key that marks `jti` as appended: `{stream_prefix}:seen:{jti}`.
    pub fn seen_key(&self, jti: &str) -> String {
        format!("{}:seen:{jti}", self.stream_prefix)
    }

    /// Appends `event` to its stream: `Some(entry id)`, or `None` when deduplication found it
    /// already appended (a replay). [`EventSink::publish`] is this without the answer.
    pub async fn append(&self, event: Event<'_>) -> Result<Option<String>, SendError> {
        let key = self.stream_key(event.organization, event.topic)?;
        if event.jti.is_empty() {
            return Err(SendError::Permanent("the event has no jti".into()));
        }
        let deadline = Instant::now() + self.timeout;
        let (generation, mut connection) =
            match tokio::time::timeout_at(deadline, self.connection()).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return Err(classify(&e, "connecting")),
                Err(_) => return Err(self.timed_out("connecting")),
            };
        let result = match tokio::time::timeout_at(
            deadline,
            self.run(&mut connection, &key, &event),
        )
        .await
        {
            Ok(Ok(id)) => return Ok(id),
            Ok(Err(e)) => classify(&e, "appending"),
            Err(_) => self.timed_out("waiting for the answer"),
        };
        self.forget(generation);
        Err(result)
    }

    /// The kept connection, or a new one.
    async fn connection(&self) -> Result<(u64, ConnectionManager), RedisError> {
        if let Some(kept) = self.kept() {
            return Ok(kept);
        }
        // One publish connects; the others wait for it and take its connection.
        let _connecting = self.connecting.lock().await;
        if let Some(kept) = self.kept() {
            return Ok(kept);
        }
        if self.tls && rustls::crypto::CryptoProvider::get_default().is_none() {
            // What redis's TLS connections will use; an error means another thread installed
            // one first, which is as good.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        // One attempt per publish (Sesame's outbox retries with its own backoff), each
        // bounded; the manager still reconnects in the background after a dropped connection.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout);
        let manager = ConnectionManager::new_with_config(self.client.clone(), config).await?;
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.generation += 1;
        slot.manager = Some(manager.clone());
        Ok((slot.generation, manager))
    }

    fn kept(&self) -> Option<(u64, ConnectionManager)> {
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.manager.clone().map(|m| (slot.generation, m))
    }

    /// Drops the connection a failed publish used (unless another publish replaced it already).
    fn forget(&self, generation: u64) {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.generation == generation {
            slot.manager = None;
        }
    }

    async fn run(
        &self,
        connection: &mut ConnectionManager,
        key: &str,
        event: &Event<'_>,
    ) -> Result<Option<String>, RedisError> {
        let fields: [(&str, &[u8]); 6] = [
            ("jti", event.jti.as_bytes()),
            ("type", event.event_type.as_bytes()),
            ("organization", event.organization.as_bytes()),
            ("topic", event.topic.as_bytes()),
            ("content_type", event.content_type.as_bytes()),
            ("payload", event.body),
        ];
        if self.dedup_seconds == 0 {
            let mut xadd = redis::cmd("XADD");
            xadd.arg(key)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.max_len)
                .arg("*");
            for (field, value) in fields {
                xadd.arg(field).arg(value);
            }
            let id: String = xadd.query_async(connection).await?;
            Ok(Some(id))
        } else {
            let mut invocation = self.script.key(self.seen_key(event.jti));
            invocation
                .key(key)
                .arg(self.dedup_seconds)
                .arg(self.max_len);
            for (field, value) in fields {
                invocation.arg(field).arg(value);
            }
            invocation.invoke_async(connection).await
        }
    }

    fn timed_out(&self, what: &str) -> SendError {
        SendError::Retryable(format!(
            "redis: no answer within {}s ({what})",
            self.timeout.as_secs()
        ))
    }
}

impl EventSink for RedisSink {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn publish<'a>(&'a self, event: Event<'a>) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move { self.append(event).await.map(|_| ()) })
    }
}

/// Checks the URL: scheme, host, a database number as the path, no credentials, no query or
/// fragment (redis-rs reads `#insecure` as "do not check the certificate"). Says whether it is
/// TLS. Errors never quote the URL (a password may be in it).
fn check_url(raw: &str) -> Result<(url::Url, bool), String> {
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
fn check_prefix(prefix: &str) -> Result<(), String> {
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

/// One part of a stream's key: not empty, no `:`, no spaces.
fn check_segment(what: &str, value: &str) -> Result<(), SendError> {
    if value.is_empty()
        || value
            .chars()
            .any(|c| c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(SendError::Permanent(format!(
            "redis: the {what} '{value}' cannot name a stream (empty, or holds ':' or a space)"
        )));
    }
    Ok(())
}

/// A PEM file with at least one certificate.
fn check_ca(pem: &[u8]) -> Result<(), String> {
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

/// What a Redis error means for a retry.
fn classify(e: &RedisError, doing: &str) -> SendError {
    let text = format!("redis ({doing}): {e}");
    let code = e.code().unwrap_or_default();
    if e.kind() == ErrorKind::AuthenticationFailed
        || matches!(code, "NOAUTH" | "WRONGPASS" | "NOPERM")
    {
        return SendError::Permanent(text);
    }
    let transient = match e.kind() {
        ErrorKind::IoError
        | ErrorKind::ParseError
        | ErrorKind::BusyLoadingError
        | ErrorKind::TryAgain
        | ErrorKind::ClusterDown
        | ErrorKind::MasterDown
        | ErrorKind::ReadOnly
        | ErrorKind::ClientError => true,
        ErrorKind::ExtensionError => matches!(code, "BUSY" | "OOM" | "NOREPLICAS" | "LOADING"),
        // `ERR max number of clients reached` (on connecting) passes; other `ERR`s do not.
        ErrorKind::ResponseError => e.to_string().contains("max number of clients"),
        _ => false,
    };
    if transient {
        SendError::Retryable(text)
    } else {
        SendError::Permanent(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn streams_and_markers_are_named_from_the_prefix() {
        let s = sink(serde_json::json!({ "url": "redis://localhost" })).unwrap();
        assert_eq!(
            s.stream_key("acme", "LOGINS").unwrap(),
            "sesame:acme:LOGINS"
        );
        assert_eq!(s.seen_key("abc-123"), "sesame:seen:abc-123");
        for (org, topic) in [
            ("", "LOGINS"),
            ("acme", ""),
            ("ac:me", "LOGINS"),
            ("acme", "LOG INS"),
            ("acme\n", "LOGINS"),
            ("acme", "LOGINS:x"),
        ] {
            assert!(matches!(
                s.stream_key(org, topic),
                Err(SendError::Permanent(_))
            ));
        }
        let s = sink(serde_json::json!({
            "url": "redis://localhost", "stream_prefix": "{sesame}"
        }))
        .unwrap();
        assert_eq!(
            s.stream_key("acme", "LOGINS").unwrap(),
            "{sesame}:acme:LOGINS"
        );
        assert_eq!(s.seen_key("j1"), "{sesame}:seen:j1");
        // With a hash tag, Redis Cluster hashes only the tag: the stream and its markers share
        // a slot, which the script needs.
        assert_eq!(
            hash_tag(&s.stream_key("acme", "LOGINS").unwrap()),
            hash_tag(&s.seen_key("j1"))
        );
        assert_eq!(hash_tag("{sesame}:seen:j1"), "sesame");
        assert_eq!(hash_tag("sesame:seen:j1"), "sesame:seen:j1");
    }

    /// What Redis Cluster hashes of a key (its hash tag rule).
    fn hash_tag(key: &str) -> &str {
        if let Some(open) = key.find('{')
            && let Some(len) = key[open + 1..].find('}')
            && len > 0
        {
            return &key[open + 1..open + 1 + len];
        }
        key
    }

    #[test]
    fn errors_are_sorted_into_retryable_and_permanent() {
        let retryable = |e: RedisError| classify(&e, "appending").is_retryable();
        let io = |kind| RedisError::from(std::io::Error::new(kind, "x"));
        assert!(retryable(io(std::io::ErrorKind::ConnectionRefused)));
        assert!(retryable(io(std::io::ErrorKind::TimedOut)));
        assert!(retryable(io(std::io::ErrorKind::UnexpectedEof)));
        assert!(retryable(RedisError::from((
            ErrorKind::BusyLoadingError,
            "loading"
        ))));
        assert!(retryable(RedisError::from((
            ErrorKind::ReadOnly,
            "replica"
        ))));
        assert!(!retryable(RedisError::from((
            ErrorKind::AuthenticationFailed,
            "Password authentication failed"
        ))));
        assert!(!retryable(RedisError::from((
            ErrorKind::CrossSlot,
            "slots"
        ))));
        assert!(!retryable(RedisError::from((
            ErrorKind::ResponseError,
            "Error running script",
            "ERR user_script:3: WRONGTYPE".to_string()
        ))));
        assert!(retryable(RedisError::from((
            ErrorKind::ResponseError,
            "An error was signalled by the server",
            "max number of clients reached".to_string()
        ))));
    }
}
