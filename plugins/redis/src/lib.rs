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
use sesame_plugin_api::{BoxFuture, Event, EventSink, SendError, TlsSettings};
use tokio::time::Instant;

mod config;

pub use config::Config;
use config::{MAX_DEDUP_SECONDS, check_ca, check_prefix, check_url};

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
