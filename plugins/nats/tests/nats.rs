//! The NATS sink against a real NATS server with JetStream.
//!
//! `SESAME_TEST_NATS_URL` (e.g. `nats://127.0.0.1:4222`) names a running server for most tests;
//! without it they print NOT RUN and pass, except under CI, where they fail. The tests that
//! restart a server or need credentials start their own `nats-server` (on PATH, in /usr/sbin, or
//! named by `SESAME_TEST_NATS_SERVER`) on a free port.
//!
//! Every test uses its own subject prefix and stream (random names) and deletes the stream.

use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures_util::StreamExt;
use sesame_plugin_api::{Event, EventSink, SecretRef, SendError};
use sesame_plugin_nats::{Config, NatsSink};

const URL_VAR: &str = "SESAME_TEST_NATS_URL";

fn broker_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but {URL_VAR} is not: the nats sink tests must not be skipped in CI"
            );
            println!("NOT RUN: set {URL_VAR} to run the nats sink tests against a broker");
            None
        }
    }
}

/// 16 random hex digits (std's hasher keys are random per process and per instance).
fn random() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    format!("{:016x}", hasher.finish())
}

fn config(url: &str, prefix: &str) -> Config {
    Config {
        url: url.into(),
        subject_prefix: prefix.into(),
        username: None,
        password: None,
        token: None,
        credentials_file: None,
        tls: None,
        timeout_seconds: 5,
    }
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

/// A stream capturing `{prefix}.>`, deleted when dropped (even when the test fails).
struct TestStream {
    url: String,
    connect: async_nats::ConnectOptions,
    jetstream: jetstream::Context,
    name: String,
    prefix: String,
}

impl TestStream {
    async fn create(url: &str) -> Self {
        Self::create_with(
            url,
            async_nats::ConnectOptions::new,
            &format!("test-{}", random()),
        )
        .await
    }

    async fn create_with(
        url: &str,
        options: impl Fn() -> async_nats::ConnectOptions,
        prefix: &str,
    ) -> Self {
        let client = options()
            .connect(url)
            .await
            .expect("the test connects to NATS");
        let jetstream = jetstream::new(client);
        let name = format!("SESAME_TEST_{}", random());
        jetstream
            .create_stream(jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![format!("{prefix}.>")],
                max_age: Duration::from_secs(3600),
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .expect("the test creates its stream");
        Self {
            url: url.into(),
            connect: options(),
            jetstream,
            name,
            prefix: prefix.into(),
        }
    }

    async fn messages(&self) -> u64 {
        let stream = self.jetstream.get_stream(&self.name).await.unwrap();
        stream.get_info().await.unwrap().state.messages
    }

    /// Every message in the stream, read through a fresh pull consumer.
    async fn read_all(&self) -> Vec<jetstream::Message> {
        let stream = self.jetstream.get_stream(&self.name).await.unwrap();
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::Config {
                deliver_policy: jetstream::consumer::DeliverPolicy::All,
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut batch = consumer.fetch().max_messages(100).messages().await.unwrap();
        let mut messages = Vec::new();
        while let Some(message) = batch.next().await {
            let message = message.unwrap();
            message.ack().await.unwrap();
            messages.push(message);
        }
        messages
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let (url, name, options) = (
            self.url.clone(),
            self.name.clone(),
            std::mem::take(&mut self.connect),
        );
        // Drop cannot await: delete from a runtime of its own on another thread.
        let deleted = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let client = options.connect(url.as_str()).await.ok()?;
                    jetstream::new(client).delete_stream(&name).await.ok()
                })
        })
        .join();
        if !matches!(deleted, Ok(Some(_))) {
            eprintln!("could not delete the test stream {}", self.name);
        }
    }
}

#[tokio::test]
async fn publishes_to_prefix_organization_topic_with_the_jti_and_types_in_headers() {
    let Some(url) = broker_url() else { return };
    let stream = TestStream::create(&url).await;
    let sink = NatsSink::new(config(&url, &stream.prefix)).unwrap();
    let jti = random();
    let body = format!(r#"{{"jti":"{jti}","type":"LoginSuccessEvent","organization":"acme"}}"#);

    let published = sink
        .publish_acked(event(&jti, body.as_bytes()))
        .await
        .unwrap();
    assert_eq!(published.stream, stream.name);
    assert!(!published.duplicate);

    let messages = stream.read_all().await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(
        message.subject.as_str(),
        format!("{}.acme.LOGINS", stream.prefix)
    );
    let headers = message.headers.as_ref().expect("the message has headers");
    assert_eq!(headers.get("Nats-Msg-Id").unwrap().as_str(), jti);
    assert_eq!(
        headers.get("Content-Type").unwrap().as_str(),
        "application/json"
    );
    assert_eq!(
        headers.get("Sesame-Event-Type").unwrap().as_str(),
        "LoginSuccessEvent"
    );
    assert_eq!(message.payload.as_ref(), body.as_bytes());

    // Through the trait too, a JWE with its content type.
    let jti = random();
    sink.publish(Event {
        content_type: "application/jose",
        topic: "NOTIFICATIONS",
        event_type: "OtpNotificationEvent",
        ..event(&jti, b"eyJhbGciOiJkaXIifQ..iv.ct.tag")
    })
    .await
    .unwrap();
    let messages = stream.read_all().await;
    let message = messages
        .iter()
        .find(|m| m.subject.as_str().ends_with(".acme.NOTIFICATIONS"))
        .expect("the second event is in the stream");
    let headers = message.headers.as_ref().unwrap();
    assert_eq!(headers.get("Nats-Msg-Id").unwrap().as_str(), jti);
    assert_eq!(
        headers.get("Content-Type").unwrap().as_str(),
        "application/jose"
    );
    assert_eq!(message.payload.as_ref(), b"eyJhbGciOiJkaXIifQ..iv.ct.tag");
}

#[tokio::test]
async fn the_same_jti_twice_is_stored_once() {
    let Some(url) = broker_url() else { return };
    let stream = TestStream::create(&url).await;
    let sink = NatsSink::new(config(&url, &stream.prefix)).unwrap();
    let jti = random();

    let first = sink.publish_acked(event(&jti, b"{}")).await.unwrap();
    let second = sink.publish_acked(event(&jti, b"{}")).await.unwrap();
    assert!(!first.duplicate);
    assert!(second.duplicate, "the stream drops the replay: {second:?}");
    assert_eq!(second.sequence, first.sequence);
    // The trait's publish takes a duplicate ack as success.
    sink.publish(event(&jti, b"{}")).await.unwrap();
    assert_eq!(stream.messages().await, 1);

    // Another jti is another message.
    let other = random();
    let third = sink.publish_acked(event(&other, b"{}")).await.unwrap();
    assert!(!third.duplicate);
    assert_eq!(stream.messages().await, 2);
}

#[tokio::test]
async fn a_broker_that_is_not_there_is_retryable_within_the_timeout() {
    // Needs no broker, but follows the others' rule so CI runs it with them.
    if broker_url().is_none() {
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sink = NatsSink::new(Config {
        timeout_seconds: 2,
        ..config(&format!("nats://127.0.0.1:{port}"), "sesame")
    })
    .unwrap();
    let started = Instant::now();
    let error = sink.publish(event(&random(), b"{}")).await.unwrap_err();
    eprintln!("{error}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(error, SendError::Retryable(_)), "{error}");
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
}

#[tokio::test]
async fn without_a_stream_the_publish_is_retryable_and_says_what_to_create() {
    let Some(url) = broker_url() else { return };
    let prefix = format!("test-{}", random());
    let sink = NatsSink::new(config(&url, &prefix)).unwrap();
    let started = Instant::now();
    let error = sink.publish(event(&random(), b"{}")).await.unwrap_err();
    eprintln!("{error}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let SendError::Retryable(text) = &error else {
        panic!("{error}")
    };
    assert!(text.contains("no responders"), "{text}");
    assert!(text.contains(&format!("{prefix}.>")), "{text}");

    // Once the operator creates the stream, the same sink publishes (after a failed publish).
    let stream = TestStream::create_with(&url, async_nats::ConnectOptions::new, &prefix).await;
    sink.publish(event(&random(), b"{}")).await.unwrap();
    assert_eq!(stream.messages().await, 1);
}

#[tokio::test]
async fn organizations_and_topics_that_are_not_one_token_are_refused() {
    let Some(url) = broker_url() else { return };
    let stream = TestStream::create(&url).await;
    let sink = NatsSink::new(config(&url, &stream.prefix)).unwrap();
    for (organization, topic) in [
        ("a.b", "LOGINS"),
        ("acme", "*"),
        ("acme", ">"),
        ("a b", "X"),
    ] {
        let error = sink
            .publish(Event {
                organization,
                topic,
                ..event(&random(), b"{}")
            })
            .await
            .unwrap_err();
        eprintln!("{error}");
        assert!(matches!(error, SendError::Permanent(_)), "{error}");
    }
    assert_eq!(stream.messages().await, 0);
}

// ---- Tests with a nats-server of their own ----

fn nats_server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SESAME_TEST_NATS_SERVER") {
        return Some(path.into());
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let found = on_path
        .into_iter()
        .chain(["/usr/sbin".into(), "/usr/local/bin".into()])
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but no nats-server binary was found (PATH, /usr/sbin, SESAME_TEST_NATS_SERVER)"
        );
        println!("NOT RUN: no nats-server binary (PATH, /usr/sbin or SESAME_TEST_NATS_SERVER)");
    }
    found
}

/// A nats-server with JetStream on a free port, killed when dropped.
struct Server {
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    config: Option<PathBuf>,
    child: Option<Child>,
}

impl Server {
    fn start(binary: PathBuf, config: Option<&str>) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("sesame-nats-test-{}", random()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = config.map(|text| {
            let path = dir.join("server.conf");
            std::fs::write(&path, text).unwrap();
            path
        });
        let mut server = Self {
            binary,
            port,
            dir,
            config,
            child: None,
        };
        server.run();
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn run(&mut self) {
        let mut command = Command::new(&self.binary);
        command
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.join("store"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        self.child = Some(command.spawn().expect("nats-server starts"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// Publishes until the broker takes it (a restarted server needs a moment for JetStream).
async fn publish_eventually(sink: &NatsSink, jti: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match sink.publish(event(jti, b"{}")).await {
            Ok(()) => return,
            Err(e) => {
                assert!(e.is_retryable(), "{e}");
                assert!(Instant::now() < deadline, "still failing: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[tokio::test]
async fn the_sink_reconnects_after_the_broker_restarts() {
    let Some(binary) = nats_server_binary() else {
        return;
    };
    let mut server = Server::start(binary, None);
    let url = server.url();
    let prefix = format!("test-{}", random());
    let sink = NatsSink::new(Config {
        timeout_seconds: 2,
        ..config(&url, &prefix)
    })
    .unwrap();
    {
        let client = async_nats::connect(url.as_str()).await.unwrap();
        jetstream::new(client)
            .create_stream(jetstream::stream::Config {
                name: "SESAME_RESTART".into(),
                subjects: vec![format!("{prefix}.>")],
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    sink.publish(event(&random(), b"{}")).await.unwrap();

    server.stop();
    let started = Instant::now();
    let error = sink.publish(event(&random(), b"{}")).await.unwrap_err();
    eprintln!("{error}");
    assert!(matches!(error, SendError::Retryable(_)), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    server.run();
    let jti = random();
    publish_eventually(&sink, &jti).await;
    let client = async_nats::connect(url.as_str()).await.unwrap();
    let stream = jetstream::new(client)
        .get_stream("SESAME_RESTART")
        .await
        .unwrap();
    // The stream survived the restart (file storage): the first event and the last.
    assert_eq!(stream.get_info().await.unwrap().state.messages, 2);
}

#[tokio::test]
async fn credentials_and_permissions_are_checked_by_the_broker() {
    let Some(binary) = nats_server_binary() else {
        return;
    };
    let server = Server::start(
        binary,
        Some(
            r#"authorization {
                users = [
                    { user: "sesame", password: "s3cret-pw",
                      permissions: { publish: { deny: ["forbidden.>"] } } }
                ]
            }"#,
        ),
    );
    let url = server.url();
    let dir = std::env::temp_dir().join(format!("sesame-nats-secrets-{}", random()));
    std::fs::create_dir_all(&dir).unwrap();
    let (good, bad) = (dir.join("good"), dir.join("bad"));
    std::fs::write(&good, "s3cret-pw\n").unwrap();
    std::fs::write(&bad, "wrong-pw\n").unwrap();
    let with_password = |prefix: &str, file: &PathBuf| Config {
        username: Some("sesame".into()),
        password: Some(SecretRef {
            env: None,
            file: Some(file.clone()),
            sealed: None,
        }),
        ..config(&url, prefix)
    };
    let admin =
        || async_nats::ConnectOptions::new().user_and_password("sesame".into(), "s3cret-pw".into());
    let stream = TestStream::create_with(&url, admin, "allowed").await;
    let forbidden = TestStream::create_with(&url, admin, "forbidden").await;

    // The right password: published.
    let sink = NatsSink::new(with_password("allowed", &good)).unwrap();
    sink.publish(event(&random(), b"{}")).await.unwrap();
    assert_eq!(stream.messages().await, 1);

    // A wrong password: permanent, at once, and the error holds no secret.
    let sink = NatsSink::new(with_password("allowed", &bad)).unwrap();
    let started = Instant::now();
    let error = sink.publish(event(&random(), b"{}")).await.unwrap_err();
    eprintln!("{error}");
    assert!(matches!(error, SendError::Permanent(_)), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!error.to_string().contains("wrong-pw"), "{error}");
    assert!(!format!("{sink:?}").contains("wrong-pw"));

    // No credentials at all: permanent too.
    let sink = NatsSink::new(config(&url, "allowed")).unwrap();
    let error = sink.publish(event(&random(), b"{}")).await.unwrap_err();
    eprintln!("{error}");
    assert!(matches!(error, SendError::Permanent(_)), "{error}");

    // A subject the user may not publish to: permanent, without waiting for the timeout.
    let sink = NatsSink::new(with_password("forbidden", &good)).unwrap();
    let started = Instant::now();
    let error = sink.publish(event(&random(), b"{}")).await.unwrap_err();
    eprintln!("{error}");
    let SendError::Permanent(text) = &error else {
        panic!("{error}")
    };
    assert!(
        text.to_lowercase().contains("permissions violation"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(forbidden.messages().await, 0);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn tls_with_a_private_ca() {
    let Some(binary) = nats_server_binary() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("sesame-nats-tls-{}", random()));
    std::fs::create_dir_all(&dir).unwrap();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let server = Server::start(
        binary,
        Some(&format!(
            "tls {{ cert_file: {:?}, key_file: {:?} }}",
            cert.display().to_string(),
            key.display().to_string()
        )),
    );
    let tls_url = format!("tls://127.0.0.1:{}", server.port);
    let ca = cert.clone();
    let stream = TestStream::create_with(
        &tls_url,
        move || {
            async_nats::ConnectOptions::new()
                .add_root_certificates(ca.clone())
                .require_tls(true)
        },
        &format!("test-{}", random()),
    )
    .await;
    let with_ca = |url: &str| Config {
        tls: Some(sesame_plugin_api::TlsSettings {
            ca_file: Some(cert.clone()),
        }),
        ..config(url, &stream.prefix)
    };

    // tls:// and the private CA: published.
    let sink = NatsSink::new(with_ca(&tls_url)).unwrap();
    sink.publish(event(&random(), b"{}")).await.unwrap();
    // nats:// with a CA file: TLS is required all the same, and works.
    let sink = NatsSink::new(with_ca(&server.url())).unwrap();
    sink.publish(event(&random(), b"{}")).await.unwrap();
    assert_eq!(stream.messages().await, 2);

    // Without the CA the server's certificate is not trusted: nothing is published.
    let sink = NatsSink::new(Config {
        timeout_seconds: 2,
        ..config(&tls_url, &stream.prefix)
    })
    .unwrap();
    let error = sink.publish(event(&random(), b"{}")).await.unwrap_err();
    eprintln!("{error}");
    assert_eq!(stream.messages().await, 2);
    drop(stream);
    drop(server);
    std::fs::remove_dir_all(dir).ok();
}
