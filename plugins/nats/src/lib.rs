//! An event sink that publishes Sesame's events to a NATS JetStream stream.
//!
//! # Where
//!
//! Each event is published to the subject `{subject_prefix}.{organization}.{topic}`, e.g.
//! `sesame.acme.LOGINS` (prefix `sesame`, the default; organization slug `acme`; topic `LOGINS`,
//! `USER_OPERATIONS` or `NOTIFICATIONS`). An organization or a topic that cannot be one NATS
//! subject token (it holds `.`, `*`, `>` or whitespace) is refused, never published elsewhere.
//!
//! Sesame publishes through JetStream but does **not** create the stream: its retention, storage
//! and replication are the operator's choice. Create one that captures `{subject_prefix}.>`
//! before enabling the sink; until then every publish fails with a retryable error that says so
//! (NATS answers "no responders"), and the server's outbox keeps the events and tries again.
//!
//! # The message
//!
//! - payload: the event's body, as is — the event's envelope as JSON (what webhooks receive), or,
//!   for an OTP notification the sink is configured to get sealed, a compact JWE of that JSON;
//! - header `Nats-Msg-Id`: the event's `jti`, the same on every attempt at one event;
//! - header `Content-Type`: `application/json`, or `application/jose` for a JWE;
//! - header `Sesame-Event-Type`: the event's type, e.g. `LoginSuccessEvent`.
//!
//! # Acknowledged
//!
//! A publish returns `Ok` only once JetStream has answered with a `PublishAck`: the stream has
//! stored the message (on a quorum of its replicas, for a replicated stream). Connecting,
//! publishing and waiting for that ack are bounded together by `timeout_seconds`; past it, or
//! with the server unreachable, the publish is retryable. Bad credentials, a permissions
//! violation for the subject (or for the `_INBOX.>` subscription acks come back on) and a message
//! larger than the server or stream takes are permanent.
//!
//! # Duplicates
//!
//! The server's outbox delivers at least once: an attempt whose ack was lost is made again.
//! JetStream drops a message whose `Nats-Msg-Id` it has already stored within the stream's
//! duplicate window (2 minutes unless the stream says otherwise, `--dupe-window`) and acks it
//! as a duplicate; Sesame takes that ack as success. A consumer that must never see a replay
//! later than the window deduplicates on the `Nats-Msg-Id` header.
//!
//! # Configuration
//!
//! Under the organization's sink in the provisioning file (the server reads `name`, `type`,
//! `topics` and the OTP fields itself; the rest is [`Config`]):
//!
//! ```toml
//! [[organizations.event_sinks]]
//! name = "bus"
//! type = "nats"
//! topics = ["LOGINS", "USER_OPERATIONS"]
//! url = "tls://nats-1.example.internal:4222,tls://nats-2.example.internal:4222"
//! subject_prefix = "sesame"                      # the default
//! username = "sesame"
//! password = { env = "SESAME_NATS_PASSWORD" }     # or { file = "/run/secrets/nats" }
//! # token = { env = "SESAME_NATS_TOKEN" }          # …or a token…
//! # credentials_file = "/etc/sesame/sesame.creds"  # …or a .creds file (JWT + nkey): one way only
//! tls = { ca_file = "/etc/sesame/nats-ca.pem" }   # a private CA; without it, the system's roots
//! timeout_seconds = 10                            # the default
//! ```
//!
//! `tls://` (or a `ca_file`) requires TLS; with `nats://` the connection is plain unless the
//! server requires TLS. Credentials never go in the URL.
//!
//! # Consuming
//!
//! With the `nats` command-line tool, once (the operator's retention; Sesame only publishes):
//!
//! ```sh
//! nats stream add SESAME --subjects 'sesame.>' --storage file --retention limits \
//!     --max-age 30d --dupe-window 2m --replicas 1 --defaults
//! ```
//!
//! then either watch live messages (core NATS: nothing replayed, nothing acknowledged)…
//!
//! ```sh
//! nats sub 'sesame.acme.>' --headers-only   # or without --headers-only to see the bodies
//! ```
//!
//! …or read the stream durably through a pull consumer, acknowledging what was handled:
//!
//! ```sh
//! nats consumer add SESAME audit --pull --deliver all --ack explicit \
//!     --filter 'sesame.acme.>' --defaults
//! nats consumer next SESAME audit --count 10
//! ```

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream;
use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::{ConnectError, ConnectErrorKind, ConnectOptions, HeaderMap, ServerAddr};
use sesame_plugin_api::{BoxFuture, Event, EventSink, SendError};
use tokio::sync::watch;
use tokio::time::Instant;

mod config;

use config::{
    Auth, check_ca_file, check_subject_prefix, parse_servers, resolve_auth, subject_token,
};
pub use config::{Config, DEFAULT_SUBJECT_PREFIX, DEFAULT_TIMEOUT_SECONDS};

/// The header that carries the event's type.
pub const EVENT_TYPE_HEADER: &str = "Sesame-Event-Type";

/// An open connection and what was learnt on it.
#[derive(Clone)]
struct Connection {
    /// Which connection this is, so an error on an old one does not drop a newer one.
    id: u64,
    client: async_nats::Client,
    jetstream: jetstream::Context,
    /// The last permissions violation the server reported on this connection (NATS reports it
    /// asynchronously, and the publish's ack then never comes).
    refusals: watch::Receiver<Option<String>>,
}

/// Publishes events to NATS JetStream. Built without connecting; the first publish connects,
/// later ones reuse the connection, and one that failed is replaced on the next attempt.
pub struct NatsSink {
    servers: Vec<ServerAddr>,
    subject_prefix: String,
    auth: Auth,
    ca_file: Option<PathBuf>,
    require_tls: bool,
    timeout: Duration,
    /// The current connection, if any. Never held across an await.
    current: Mutex<Option<Connection>>,
    /// Held while connecting, so concurrent publishes make one connection, not one each.
    connecting: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
}

impl fmt::Debug for NatsSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsSink")
            .field("servers", &self.servers_text())
            .field("subject_prefix", &self.subject_prefix)
            .field("auth", &self.auth)
            .field("ca_file", &self.ca_file)
            .field("require_tls", &self.require_tls)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl NatsSink {
    /// Checks the configuration and reads its secrets. Does not connect.
    pub fn new(config: Config) -> Result<Self, String> {
        let servers = parse_servers(&config.url)?;
        check_subject_prefix(&config.subject_prefix)?;
        // At most 5 minutes: a publish outlasting the outbox's lease would be claimed again and
        // sent twice (the lease is 30 s by default, 600 s at most).
        if !(1..=300).contains(&config.timeout_seconds) {
            return Err("timeout_seconds: must be between 1 and 300".into());
        }
        let auth = resolve_auth(&config)?;
        let ca_file = match config.tls.as_ref().and_then(|t| t.ca_file.clone()) {
            Some(path) => {
                check_ca_file(&path)?;
                Some(path)
            }
            None => None,
        };
        let require_tls = ca_file.is_some() || servers.iter().any(ServerAddr::tls_required);
        Ok(Self {
            servers,
            subject_prefix: config.subject_prefix,
            auth,
            ca_file,
            require_tls,
            timeout: Duration::from_secs(config.timeout_seconds),
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            next_id: AtomicU64::new(1),
        })
    }

    /// The subject an event of this organization and topic is published to.
    pub fn subject(&self, organization: &str, topic: &str) -> Result<String, SendError> {
        subject_token("organization", organization)?;
        subject_token("topic", topic)?;
        Ok(format!("{}.{organization}.{topic}", self.subject_prefix))
    }

    fn servers_text(&self) -> String {
        self.servers
            .iter()
            .map(ServerAddr::as_url_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The open connection, or a new one.
    async fn connection(&self) -> Result<Connection, SendError> {
        if let Some(connection) = self.live() {
            return Ok(connection);
        }
        let _connecting = self.connecting.lock().await;
        // Another publish may have connected while this one waited.
        if let Some(connection) = self.live() {
            return Ok(connection);
        }
        let connection = self.connect().await?;
        *self.slot() = Some(connection.clone());
        Ok(connection)
    }

    /// The current connection if it is up. One that is down is forgotten: a new connection
    /// fails at once while the server is down, where a publish on the old one would wait for
    /// the client's own reconnection until the timeout.
    fn live(&self) -> Option<Connection> {
        let mut slot = self.slot();
        match slot.as_ref() {
            Some(c) if c.client.connection_state() == State::Connected => Some(c.clone()),
            Some(_) => {
                *slot = None;
                None
            }
            None => None,
        }
    }

    /// Drops connection `id` if it is still the current one (after an error on it).
    fn forget(&self, id: u64) {
        let mut slot = self.slot();
        if slot.as_ref().is_some_and(|c| c.id == id) {
            *slot = None;
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Connection>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn connect(&self) -> Result<Connection, SendError> {
        let (refusal_sender, refusals) = watch::channel(None);
        let mut options = ConnectOptions::new()
            .name("sesame")
            .connection_timeout(self.timeout)
            .request_timeout(Some(self.timeout))
            // The client reconnects by itself in the background; the sink replaces a connection
            // that is down anyway, so a bounded number of tries is enough (and an abandoned
            // client stops trying).
            .max_reconnects(Some(self.servers.len() * 2 + 4))
            .require_tls(self.require_tls)
            .event_callback(move |event| {
                let sender = refusal_sender.clone();
                async move {
                    if let async_nats::Event::ServerError(async_nats::ServerError::Other(message)) =
                        event
                        && message
                            .to_ascii_lowercase()
                            .contains("permissions violation")
                    {
                        sender.send_replace(Some(message));
                    }
                }
            });
        options = match &self.auth {
            Auth::None => options,
            Auth::UserPassword { username, password } => {
                options.user_and_password(username.clone(), password.clone())
            }
            Auth::Token(token) => options.token(token.clone()),
            Auth::Credentials { path, contents } => options.credentials(contents).map_err(|e| {
                SendError::Permanent(format!("credentials_file {}: {e}", path.display()))
            })?,
        };
        if let Some(ca_file) = &self.ca_file {
            options = options.add_root_certificates(ca_file.clone());
        }
        let client = options
            .connect(self.servers.clone())
            .await
            .map_err(|e| self.connect_error(&e))?;
        let mut jetstream = jetstream::new(client.clone());
        jetstream.set_timeout(self.timeout);
        Ok(Connection {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            client,
            jetstream,
            refusals,
        })
    }

    fn connect_error(&self, e: &ConnectError) -> SendError {
        let servers = self.servers_text();
        match e.kind() {
            ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
                SendError::Permanent(format!("NATS at {servers} refused the credentials: {e}"))
            }
            ConnectErrorKind::Tls | ConnectErrorKind::ServerParse => {
                SendError::Permanent(format!("cannot set up the connection to {servers}: {e}"))
            }
            ConnectErrorKind::Dns
            | ConnectErrorKind::TimedOut
            | ConnectErrorKind::Io
            | ConnectErrorKind::MaxReconnects => {
                SendError::Retryable(format!("cannot connect to NATS at {servers}: {e}"))
            }
        }
    }

    /// Publishes on `connection` and waits for the ack (or a refusal).
    async fn publish_on(
        &self,
        connection: &Connection,
        subject: &str,
        headers: HeaderMap,
        body: &[u8],
    ) -> Result<Published, Failure> {
        let mut refusals = connection.refusals.clone();
        refusals.mark_unchanged();
        let ack = connection
            .jetstream
            .publish_with_headers(subject.to_owned(), headers, Vec::from(body).into())
            .await
            .map_err(|e| self.publish_error(subject, &e))?;
        tokio::select! {
            ack = ack.into_future() => match ack {
                // `duplicate` means the stream already had this jti: taken all the same.
                Ok(ack) => Ok(Published {
                    stream: ack.stream,
                    sequence: ack.sequence,
                    duplicate: ack.duplicate,
                }),
                Err(e) => Err(self.publish_error(subject, &e)),
            },
            refusal = refused(&mut refusals, subject) => Err(Failure {
                error: SendError::Permanent(format!("NATS refused the publish to {subject}: {refusal}")),
                reconnect: false,
            }),
        }
    }

    fn publish_error(&self, subject: &str, e: &PublishError) -> Failure {
        let retry = |text: String, reconnect| Failure {
            error: SendError::Retryable(text),
            reconnect,
        };
        match e.kind() {
            PublishErrorKind::StreamNotFound => retry(self.no_stream(subject), false),
            PublishErrorKind::TimedOut => retry(
                format!(
                    "no acknowledgement from JetStream for {subject} within {}s",
                    self.timeout.as_secs()
                ),
                true,
            ),
            PublishErrorKind::BrokenPipe => {
                retry(format!("the connection to NATS broke: {e}"), true)
            }
            PublishErrorKind::MaxAckPending => {
                retry(format!("publishing to {subject}: {e}"), false)
            }
            PublishErrorKind::MaxPayloadExceeded => Failure {
                error: SendError::Permanent(format!("publishing to {subject}: {e}")),
                reconnect: false,
            },
            PublishErrorKind::WrongLastMessageId
            | PublishErrorKind::WrongLastSequence
            | PublishErrorKind::Other => {
                let api_error =
                    std::error::Error::source(e).and_then(|s| s.downcast_ref::<jetstream::Error>());
                match api_error {
                    // JetStream answered: the connection works, the stream refused.
                    Some(api)
                        if api.error_code()
                            == jetstream::ErrorCode::STREAM_MESSAGE_EXCEEDS_MAXIMUM =>
                    {
                        Failure {
                            error: SendError::Permanent(format!(
                                "the stream capturing {subject} refused the message: {api}"
                            )),
                            reconnect: false,
                        }
                    }
                    // A full stream or account, a cluster without a leader…: later may work.
                    Some(api) => retry(
                        format!("the stream capturing {subject} refused the message: {api}"),
                        false,
                    ),
                    // The client is closed, or the answer was not JetStream's.
                    None => retry(format!("publishing to {subject}: {e}"), true),
                }
            }
        }
    }

    /// Publishes one event and returns JetStream's ack: what [`EventSink::publish`] does, with
    /// the ack's details (a `duplicate` ack means the stream already held this `jti`).
    pub async fn publish_acked(&self, event: Event<'_>) -> Result<Published, SendError> {
        let subject = self.subject(event.organization, event.topic)?;
        let headers = headers(&event)?;
        let deadline = Instant::now() + self.timeout;
        let late = || {
            SendError::Retryable(format!(
                "NATS did not acknowledge the publish to {subject} within {}s",
                self.timeout.as_secs()
            ))
        };
        let connection = tokio::time::timeout_at(deadline, self.connection())
            .await
            .map_err(|_| late())??;
        match tokio::time::timeout_at(
            deadline,
            self.publish_on(&connection, &subject, headers, event.body),
        )
        .await
        {
            Ok(Ok(published)) => Ok(published),
            Ok(Err(failure)) => {
                if failure.reconnect {
                    self.forget(connection.id);
                }
                Err(failure.error)
            }
            Err(_) => {
                self.forget(connection.id);
                Err(late())
            }
        }
    }

    fn no_stream(&self, subject: &str) -> String {
        format!(
            "no JetStream stream captures {subject} (NATS answered \"no responders\"): create a \
             stream capturing {prefix}.> (e.g. `nats stream add SESAME --subjects '{prefix}.>'`); \
             Sesame does not create streams, their retention is the operator's",
            prefix = self.subject_prefix
        )
    }
}

/// JetStream's acknowledgement of one publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The stream that stored the message.
    pub stream: String,
    /// Its sequence number in that stream (for a duplicate, the original's).
    pub sequence: u64,
    /// The stream already held a message with this `jti` (within its duplicate window) and
    /// dropped this one.
    pub duplicate: bool,
}

/// An error, and whether the connection it happened on should be replaced.
struct Failure {
    error: SendError,
    reconnect: bool,
}

/// Waits until the server reports a permissions violation that concerns a publish to
/// `subject`: the publish itself, or the subscription its ack comes back on.
async fn refused(refusals: &mut watch::Receiver<Option<String>>, subject: &str) -> String {
    loop {
        if refusals.changed().await.is_err() {
            // The connection is gone: the ack's own error or timeout answers.
            return std::future::pending().await;
        }
        let message = refusals.borrow_and_update().clone();
        if let Some(message) = message {
            let lower = message.to_ascii_lowercase();
            let ours = (lower.contains("for publish")
                && message.contains(&format!("\"{subject}\"")))
                || (lower.contains("for subscription") && message.contains("_INBOX"));
            if ours {
                return message;
            }
        }
    }
}

impl EventSink for NatsSink {
    fn kind(&self) -> &'static str {
        "nats"
    }

    fn publish<'a>(&'a self, event: Event<'a>) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move { self.publish_acked(event).await.map(|_| ()) })
    }
}

/// The message's headers, each checked to be one line of visible ASCII.
fn headers(event: &Event<'_>) -> Result<HeaderMap, SendError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        async_nats::header::NATS_MESSAGE_ID,
        header_value("jti", event.jti)?,
    );
    headers.insert(
        "Content-Type",
        header_value("content_type", event.content_type)?,
    );
    headers.insert(
        EVENT_TYPE_HEADER,
        header_value("event_type", event.event_type)?,
    );
    Ok(headers)
}

fn header_value<'v>(what: &str, value: &'v str) -> Result<&'v str, SendError> {
    if value.is_empty() || !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(SendError::Permanent(format!(
            "{what} {value:?} cannot be a NATS header value (empty, or not printable ASCII)"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> Result<Config, serde_json::Error> {
        serde_json::from_value(json)
    }

    fn sink(json: serde_json::Value) -> Result<NatsSink, String> {
        NatsSink::new(config(json).expect("the configuration parses"))
    }

    #[test]
    fn subjects_are_prefix_organization_topic() {
        let s = sink(serde_json::json!({ "url": "nats://h" })).unwrap();
        assert_eq!(s.subject("acme", "LOGINS").unwrap(), "sesame.acme.LOGINS");
        assert_eq!(
            s.subject("my-org-2", "USER_OPERATIONS").unwrap(),
            "sesame.my-org-2.USER_OPERATIONS"
        );
        for (organization, topic) in [
            ("ac.me", "LOGINS"),
            ("acme", "LOG.INS"),
            ("*", "LOGINS"),
            ("acme", ">"),
            ("ac me", "LOGINS"),
            ("acme", "LOGINS\n"),
            ("", "LOGINS"),
            ("acme", ""),
        ] {
            let e = s.subject(organization, topic).unwrap_err();
            assert!(
                matches!(e, SendError::Permanent(_)),
                "{organization:?}.{topic:?}: {e}"
            );
        }
    }

    #[test]
    fn headers_carry_the_jti_content_type_and_event_type() {
        let event = Event {
            jti: "0b6d3c8e-4a57-4bb0-9d3e-5f0c1d2e3f40",
            event_type: "LoginSuccessEvent",
            organization: "acme",
            topic: "LOGINS",
            body: b"{}",
            content_type: "application/json",
        };
        let h = headers(&event).unwrap();
        assert_eq!(h.get("Nats-Msg-Id").map(|v| v.as_str()), Some(event.jti));
        assert_eq!(
            h.get("Content-Type").map(|v| v.as_str()),
            Some("application/json")
        );
        assert_eq!(
            h.get("Sesame-Event-Type").map(|v| v.as_str()),
            Some("LoginSuccessEvent")
        );
        for bad in [
            Event { jti: "", ..event },
            Event {
                jti: "a\r\nX-Injected: 1",
                ..event
            },
            Event {
                event_type: "Login\nSuccess",
                ..event
            },
        ] {
            assert!(matches!(headers(&bad), Err(SendError::Permanent(_))));
        }
    }

    #[tokio::test]
    async fn one_connection_serves_successive_publishes() {
        let url = match std::env::var("SESAME_TEST_NATS_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI is set but SESAME_TEST_NATS_URL is not"
                );
                println!(
                    "NOT RUN: set SESAME_TEST_NATS_URL to run the nats sink tests against a broker"
                );
                return;
            }
        };
        // No stream captures this prefix: NATS answers "no responders", on a working connection.
        let prefix = format!(
            "unit-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let s = sink(serde_json::json!({ "url": url, "subject_prefix": prefix })).unwrap();
        let event = Event {
            jti: "j1",
            event_type: "LoginSuccessEvent",
            organization: "acme",
            topic: "LOGINS",
            body: b"{}",
            content_type: "application/json",
        };
        for _ in 0..3 {
            let e = s.publish(event).await.unwrap_err();
            assert!(e.to_string().contains("no responders"), "{e}");
        }
        assert_eq!(s.next_id.load(Ordering::Relaxed), 2, "one connection made");
        let id = s.slot().as_ref().expect("the connection is kept").id;
        // After an error that broke it, the connection is replaced on the next attempt.
        s.forget(id);
        assert!(s.slot().is_none());
        s.publish(event).await.unwrap_err();
        assert_eq!(
            s.next_id.load(Ordering::Relaxed),
            3,
            "a second connection made"
        );
        // Forgetting an older connection leaves the newer one alone.
        s.forget(id);
        assert!(s.slot().is_some());
    }

    #[test]
    fn the_missing_stream_error_says_what_to_create() {
        let s = sink(serde_json::json!({ "url": "nats://h", "subject_prefix": "prod.sesame" }))
            .unwrap();
        let text = s.no_stream("prod.sesame.acme.LOGINS");
        assert!(text.contains("prod.sesame.>"), "{text}");
        assert!(text.contains("no responders"), "{text}");
    }
}
