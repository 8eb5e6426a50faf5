//! The RabbitMQ sink against a real broker: `SESAME_TEST_AMQP_URL` (e.g.
//! `amqp://127.0.0.1:5672/%2f`), user `SESAME_TEST_AMQP_USER` (default `guest`), password in
//! the environment variable `SESAME_TEST_AMQP_PASSWORD` (default `guest`).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::uri::{AMQPUri, AMQPUserInfo};
use lapin::{Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};
use sesame_plugin_api::{Event, EventSink, SecretRef, SendError};
use sesame_plugin_rabbitmq::{Config, RabbitmqSink};

const URL_VAR: &str = "SESAME_TEST_AMQP_URL";
const USER_VAR: &str = "SESAME_TEST_AMQP_USER";
const PASSWORD_VAR: &str = "SESAME_TEST_AMQP_PASSWORD";

/// The broker's URL, or `None` (after saying so) when the tests are not to run here.
fn broker_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{URL_VAR} is not set: CI must run the rabbitmq sink tests against a broker"
            );
            println!("NOT RUN: set {URL_VAR} to run the rabbitmq sink tests against a broker");
            None
        }
    }
}

fn username() -> String {
    std::env::var(USER_VAR).unwrap_or_else(|_| "guest".into())
}

fn password() -> String {
    std::env::var(PASSWORD_VAR).unwrap_or_else(|_| "guest".into())
}

/// A name no other run or test uses.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = RandomState::new().hash_one((std::process::id(), n, Instant::now()));
    format!("{prefix}-{random:016x}-{n}")
}

/// A file holding `content`, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(content: &str) -> Self {
        let path = std::env::temp_dir().join(unique("sesame-rabbitmq-test"));
        std::fs::write(&path, content).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The test password as a secret reference: the environment variable when it is set, else a
/// file holding the default (tests cannot set environment variables without `unsafe`).
fn password_ref() -> (SecretRef, Option<TempFile>) {
    if std::env::var_os(PASSWORD_VAR).is_some() {
        let secret = SecretRef {
            env: Some(PASSWORD_VAR.into()),
            file: None,
            sealed: None,
        };
        (secret, None)
    } else {
        let file = TempFile::new(&password());
        let secret = SecretRef {
            env: None,
            file: Some(file.0.clone()),
            sealed: None,
        };
        (secret, Some(file))
    }
}

fn sink(url: &str, exchange: &str) -> RabbitmqSink {
    let (password, _file) = password_ref();
    RabbitmqSink::new(Config {
        url: url.into(),
        username: Some(username()),
        password: Some(password),
        exchange: exchange.into(),
        tls: None,
        timeout_seconds: 5,
    })
    .expect("the sink's settings are valid")
}

fn event<'a>(jti: &'a str, body: &'a [u8]) -> Event<'a> {
    Event {
        jti,
        event_type: "LoginSuccessEvent",
        organization: "acme",
        topic: "LOGINS",
        body,
        content_type: "application/json",
    }
}

/// A consumer's side: its own connection, the exchange declared as the sink declares it, and
/// an exclusive auto-delete queue bound to `binding`.
struct Reader {
    connection: Connection,
    channel: Channel,
    exchange: String,
    queue: String,
}

impl Reader {
    async fn connect(url: &str, exchange: &str) -> Self {
        let mut uri: AMQPUri = url.parse().expect("the test URL parses");
        uri.authority.userinfo = AMQPUserInfo {
            username: username(),
            password: password(),
        };
        let connection = Connection::connect_uri(uri, ConnectionProperties::default())
            .await
            .expect("the test consumer connects");
        let channel = connection.create_channel().await.unwrap();
        Self {
            connection,
            channel,
            exchange: exchange.into(),
            queue: unique("sesame-test-queue"),
        }
    }

    async fn declare_topic_exchange(&self) {
        self.channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
    }

    async fn bind(&self, binding: &str) -> Consumer {
        self.channel
            .queue_declare(
                self.queue.as_str().into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        self.channel
            .queue_bind(
                self.queue.as_str().into(),
                self.exchange.as_str().into(),
                binding.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        self.channel
            .basic_consume(
                self.queue.as_str().into(),
                unique("sesame-test-consumer").into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap()
    }

    async fn cleanup(self) {
        let _ = self
            .channel
            .exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await;
        let _ = self.connection.close(200, "OK".into()).await;
    }
}

async fn next(consumer: &mut Consumer) -> Delivery {
    let delivery = tokio::time::timeout(Duration::from_secs(5), consumer.next())
        .await
        .expect("a message within 5 s")
        .expect("the consumer is open")
        .expect("a delivery");
    delivery.ack(BasicAckOptions::default()).await.unwrap();
    delivery
}

async fn nothing_more(consumer: &mut Consumer) {
    let more = tokio::time::timeout(Duration::from_millis(300), consumer.next()).await;
    assert!(more.is_err(), "no other message");
}

fn text(value: &Option<lapin::types::ShortString>) -> Option<&str> {
    value.as_ref().map(|s| s.as_str())
}

#[tokio::test]
async fn a_published_event_reaches_a_bound_queue_with_its_properties() {
    let Some(url) = broker_url() else { return };
    let exchange = unique("sesame-test");
    let reader = Reader::connect(&url, &exchange).await;
    reader.declare_topic_exchange().await;
    let mut consumer = reader.bind("acme.LOGINS").await;

    let sink = sink(&url, &exchange);
    let jti = unique("jti");
    let body = format!(r#"{{"jti":"{jti}","events":{{"LoginSuccessEvent":{{}}}}}}"#);
    sink.publish(event(&jti, body.as_bytes()))
        .await
        .expect("confirmed");

    let delivery = next(&mut consumer).await;
    assert_eq!(delivery.exchange.as_str(), exchange);
    assert_eq!(delivery.routing_key.as_str(), "acme.LOGINS");
    assert_eq!(delivery.data, body.as_bytes());
    let p = &delivery.properties;
    assert_eq!(text(p.message_id()), Some(jti.as_str()));
    assert_eq!(*p.delivery_mode(), Some(2));
    assert_eq!(text(p.content_type()), Some("application/json"));
    assert_eq!(text(p.kind()), Some("LoginSuccessEvent"));
    assert_eq!(text(p.app_id()), Some("sesame"));
    assert!(p.timestamp().is_some());
    nothing_more(&mut consumer).await;

    // The connection is reused: a second event on another topic of the same organization.
    let mut everything = {
        let all = Reader::connect(&url, &exchange).await;
        let consumer = all.bind("acme.*").await;
        (all, consumer)
    };
    let jti2 = unique("jti");
    let sealed = Event {
        topic: "NOTIFICATIONS",
        event_type: "OtpNotificationEvent",
        content_type: "application/jose",
        ..event(&jti2, b"eyJhbGciOi.x.y.z.w")
    };
    sink.publish(sealed).await.expect("confirmed");
    let delivery = next(&mut everything.1).await;
    assert_eq!(delivery.routing_key.as_str(), "acme.NOTIFICATIONS");
    assert_eq!(
        text(delivery.properties.content_type()),
        Some("application/jose")
    );
    assert_eq!(
        text(delivery.properties.kind()),
        Some("OtpNotificationEvent")
    );
    assert_eq!(delivery.data, b"eyJhbGciOi.x.y.z.w");
    nothing_more(&mut consumer).await;

    everything.0.cleanup().await;
    reader.cleanup().await;
}

#[tokio::test]
async fn the_same_jti_twice_is_two_messages_with_one_message_id() {
    let Some(url) = broker_url() else { return };
    let exchange = unique("sesame-test");
    let reader = Reader::connect(&url, &exchange).await;
    reader.declare_topic_exchange().await;
    let mut consumer = reader.bind("acme.LOGINS").await;

    let sink = sink(&url, &exchange);
    let jti = unique("jti");
    sink.publish(event(&jti, b"{\"n\":1}")).await.unwrap();
    sink.publish(event(&jti, b"{\"n\":1}")).await.unwrap();

    // RabbitMQ keeps both: consumers deduplicate on message_id.
    let first = next(&mut consumer).await;
    let second = next(&mut consumer).await;
    assert_eq!(text(first.properties.message_id()), Some(jti.as_str()));
    assert_eq!(text(second.properties.message_id()), Some(jti.as_str()));
    assert_eq!(first.data, second.data);
    nothing_more(&mut consumer).await;
    reader.cleanup().await;
}

#[tokio::test]
async fn an_unroutable_event_is_retryable_until_a_queue_is_bound() {
    let Some(url) = broker_url() else { return };
    let exchange = unique("sesame-test");
    let sink = sink(&url, &exchange);
    let jti = unique("jti");

    // No queue is bound: the broker would drop the message, so it is not taken.
    let err = sink.publish(event(&jti, b"{}")).await.unwrap_err();
    eprintln!("{err}");
    match &err {
        SendError::Retryable(m) => {
            assert!(
                m.contains("no queue is bound to routing key acme.LOGINS"),
                "{m}"
            )
        }
        other => panic!("expected retryable, got {other:?}"),
    }

    // The sink declared the exchange; once a queue is bound the same sink (and connection)
    // delivers the retry.
    let reader = Reader::connect(&url, &exchange).await;
    let mut consumer = reader.bind("acme.#").await;
    sink.publish(event(&jti, b"{}")).await.expect("confirmed");
    let delivery = next(&mut consumer).await;
    assert_eq!(text(delivery.properties.message_id()), Some(jti.as_str()));
    nothing_more(&mut consumer).await;
    reader.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_are_all_confirmed() {
    let Some(url) = broker_url() else { return };
    let exchange = unique("sesame-test");
    let reader = Reader::connect(&url, &exchange).await;
    reader.declare_topic_exchange().await;
    let mut consumer = reader.bind("acme.LOGINS").await;

    let sink = Arc::new(sink(&url, &exchange));
    let jtis: Vec<String> = (0..8).map(|_| unique("jti")).collect();
    let tasks: Vec<_> = jtis
        .iter()
        .map(|jti| {
            let (sink, jti) = (sink.clone(), jti.clone());
            tokio::spawn(async move { sink.publish(event(&jti, b"{}")).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mut seen = Vec::new();
    for _ in &jtis {
        let d = next(&mut consumer).await;
        seen.push(text(d.properties.message_id()).unwrap().to_string());
    }
    seen.sort();
    let mut expected = jtis.clone();
    expected.sort();
    assert_eq!(seen, expected);
    reader.cleanup().await;
}

#[tokio::test]
async fn an_exchange_of_another_type_is_permanent_and_the_sink_recovers_once_it_is_fixed() {
    let Some(url) = broker_url() else { return };
    let exchange = unique("sesame-test");
    let reader = Reader::connect(&url, &exchange).await;
    reader
        .channel
        .exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();

    let sink = sink(&url, &exchange);
    let jti = unique("jti");
    let err = sink.publish(event(&jti, b"{}")).await.unwrap_err();
    eprintln!("{err}");
    match &err {
        SendError::Permanent(m) => {
            assert!(m.contains(&format!("declaring exchange {exchange}")), "{m}");
            assert!(
                m.contains("PRECONDITION") || m.contains("inequivalent"),
                "{m}"
            );
        }
        other => panic!("expected permanent, got {other:?}"),
    }

    // An operator replaces the exchange: the next attempt reconnects and goes through.
    reader
        .channel
        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await
        .unwrap();
    reader.declare_topic_exchange().await;
    let mut consumer = reader.bind("acme.LOGINS").await;
    sink.publish(event(&jti, b"{}")).await.expect("confirmed");
    let delivery = next(&mut consumer).await;
    assert_eq!(text(delivery.properties.message_id()), Some(jti.as_str()));
    reader.cleanup().await;
}

/// A TCP relay to the broker whose connections the test can cut, as a broker restart or a
/// network failure would.
struct Relay {
    url: String,
    accepted: Arc<AtomicU32>,
    cut: tokio::sync::watch::Sender<u32>,
}

impl Relay {
    async fn start(broker_url: &str) -> Self {
        let mut url = url::Url::parse(broker_url).unwrap();
        let host = url.host_str().unwrap().trim_matches(['[', ']']).to_string();
        let port = url.port().unwrap_or(5672);
        let target = tokio::net::lookup_host((host.as_str(), port))
            .await
            .unwrap()
            .next()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(listener.local_addr().unwrap().port()))
            .unwrap();
        let accepted = Arc::new(AtomicU32::new(0));
        let (cut, watch) = tokio::sync::watch::channel(0);
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let mut watch = watch.clone();
                // Only a cut after this connection was accepted closes it.
                watch.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.changed() => {}
                    }
                });
            }
        });
        Self {
            url: url.to_string(),
            accepted,
            cut,
        }
    }

    /// Closes every connection relayed so far.
    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

#[tokio::test]
async fn the_sink_reconnects_after_its_connection_drops() {
    let Some(url) = broker_url() else { return };
    let exchange = unique("sesame-test");
    let reader = Reader::connect(&url, &exchange).await;
    reader.declare_topic_exchange().await;
    let mut consumer = reader.bind("acme.LOGINS").await;
    let relay = Relay::start(&url).await;
    let sink = sink(&relay.url, &exchange);

    let first = unique("jti");
    sink.publish(event(&first, b"{}")).await.expect("confirmed");
    sink.publish(event(&first, b"{}")).await.expect("confirmed");
    assert_eq!(
        relay.accepted.load(Ordering::SeqCst),
        1,
        "one connection, reused"
    );

    relay.cut();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = unique("jti");
    // The sink may not have seen the close yet: then this attempt fails (retryably) and
    // drops the connection, and the next one reconnects.
    if let Err(err) = sink.publish(event(&second, b"{}")).await {
        eprintln!("{err}");
        assert!(err.is_retryable(), "{err:?}");
        sink.publish(event(&second, b"{}"))
            .await
            .expect("confirmed");
    }
    assert_eq!(relay.accepted.load(Ordering::SeqCst), 2, "reconnected once");

    for expected in [&first, &first, &second] {
        let d = next(&mut consumer).await;
        assert_eq!(text(d.properties.message_id()), Some(expected.as_str()));
    }
    nothing_more(&mut consumer).await;
    reader.cleanup().await;
}

/// A TLS-terminating relay to the broker, with a certificate for 127.0.0.1 from a CA made
/// here; returns its port and the CA's PEM.
async fn tls_relay(broker_url: &str) -> (u16, String) {
    use tokio_rustls::rustls;

    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Sesame test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let url = url::Url::parse(broker_url).unwrap();
    let host = url.host_str().unwrap().trim_matches(['[', ']']).to_string();
    let target = tokio::net::lookup_host((host.as_str(), url.port().unwrap_or(5672)))
        .await
        .unwrap()
        .next()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut inbound) = acceptor.accept(inbound).await else {
                    return;
                };
                let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    (port, ca.pem())
}

#[tokio::test]
async fn amqps_trusts_the_ca_file_and_nothing_unknown() {
    let Some(url) = broker_url() else { return };
    let exchange = unique("sesame-test");
    let reader = Reader::connect(&url, &exchange).await;
    reader.declare_topic_exchange().await;
    let mut consumer = reader.bind("acme.LOGINS").await;
    let (port, ca_pem) = tls_relay(&url).await;
    let vhost = url::Url::parse(&url).unwrap().path().to_string();
    let tls_url = format!("amqps://127.0.0.1:{port}{vhost}");
    let ca_file = TempFile::new(&ca_pem);
    let config = |ca: Option<PathBuf>| {
        let (password, _file) = password_ref();
        RabbitmqSink::new(Config {
            url: tls_url.clone(),
            username: Some(username()),
            password: Some(password),
            exchange: exchange.clone(),
            tls: ca.map(|ca_file| sesame_plugin_api::TlsSettings {
                ca_file: Some(ca_file),
            }),
            timeout_seconds: 5,
        })
        .unwrap()
    };

    // Without the CA, the relay's certificate is refused.
    let err = config(None).publish(event("jti", b"{}")).await.unwrap_err();
    eprintln!("{err}");
    assert!(err.is_retryable(), "{err:?}");

    // With it, the event goes through TLS.
    let jti = unique("jti");
    config(Some(ca_file.0.clone()))
        .publish(event(&jti, b"{}"))
        .await
        .expect("confirmed over TLS");
    let delivery = next(&mut consumer).await;
    assert_eq!(text(delivery.properties.message_id()), Some(jti.as_str()));
    nothing_more(&mut consumer).await;
    reader.cleanup().await;
}

#[tokio::test]
async fn an_exchange_deleted_under_the_sink_is_declared_again() {
    let Some(url) = broker_url() else { return };
    let exchange = unique("sesame-test");
    let reader = Reader::connect(&url, &exchange).await;
    reader.declare_topic_exchange().await;
    let sink = sink(&url, &exchange);
    let mut consumer = reader.bind("acme.LOGINS").await;
    let first = unique("jti");
    sink.publish(event(&first, b"{}")).await.expect("confirmed");
    assert_eq!(
        text(next(&mut consumer).await.properties.message_id()),
        Some(first.as_str())
    );

    // Someone deletes the exchange (and with it the binding) while the sink is connected.
    reader
        .channel
        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await
        .unwrap();
    let second = unique("jti");
    let err = sink.publish(event(&second, b"{}")).await.unwrap_err();
    eprintln!("{err}");
    assert!(err.is_retryable(), "{err:?}");
    // The next attempt reconnects and declares it again; it is routed once a queue is bound.
    let err = sink.publish(event(&second, b"{}")).await.unwrap_err();
    eprintln!("{err}");
    assert!(
        matches!(&err, SendError::Retryable(m) if m.contains("no queue is bound")),
        "{err:?}"
    );
    reader
        .channel
        .queue_bind(
            reader.queue.as_str().into(),
            exchange.as_str().into(),
            "acme.LOGINS".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    sink.publish(event(&second, b"{}"))
        .await
        .expect("confirmed");
    assert_eq!(
        text(next(&mut consumer).await.properties.message_id()),
        Some(second.as_str())
    );
    nothing_more(&mut consumer).await;
    reader.cleanup().await;
}

#[tokio::test]
async fn bad_credentials_are_permanent() {
    let Some(url) = broker_url() else { return };
    let wrong = TempFile::new("certainly-not-the-password");
    let sink = RabbitmqSink::new(Config {
        url: url.clone(),
        username: Some(username()),
        password: Some(SecretRef {
            env: None,
            file: Some(wrong.0.clone()),
            sealed: None,
        }),
        exchange: unique("sesame-test"),
        tls: None,
        timeout_seconds: 5,
    })
    .unwrap();
    let err = sink.publish(event("jti", b"{}")).await.unwrap_err();
    eprintln!("{err}");
    match &err {
        SendError::Permanent(m) => {
            assert!(!m.contains("certainly-not-the-password"), "{m}");
        }
        other => panic!("expected permanent, got {other:?}"),
    }
}

#[tokio::test]
async fn a_broker_that_is_not_there_is_retryable_within_the_timeout() {
    // Runs without a broker too: it needs none.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let sink = RabbitmqSink::new(Config {
        url: format!("amqp://127.0.0.1:{port}/%2f"),
        username: None,
        password: None,
        exchange: "sesame".into(),
        tls: None,
        timeout_seconds: 2,
    })
    .unwrap();
    let started = Instant::now();
    let err = sink.publish(event("jti", b"{}")).await.unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, SendError::Retryable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // And again: the sink tries anew each time.
    let err = sink.publish(event("jti", b"{}")).await.unwrap_err();
    assert!(matches!(err, SendError::Retryable(_)), "{err:?}");
}
