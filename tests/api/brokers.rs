//! The brokers the event sink tests talk to: the machine's NATS (JetStream), RabbitMQ and Redis
//! as their consumers see them, and NATS and RabbitMQ servers of a test's own, to stop and start.

use std::collections::HashMap;
use std::time::Duration;

/// The URL a test reaches a broker at; `None` (said on stderr) when not configured, a failure
/// under CI.
pub fn broker(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but {var} is not: the event sink tests would not run")
        }
        _ => {
            eprintln!("NOT RUN: set {var} to run this test against a broker");
            None
        }
    }
}

/// A prefix no other test or run uses: subjects, exchanges and streams of their own.
pub fn unique() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

pub fn amqp_password() -> String {
    std::env::var("SESAME_TEST_AMQP_PASSWORD").unwrap_or_else(|_| "guest".into())
}

/// A JetStream stream capturing `{prefix}.>` (file storage, so it outlives a restart of its
/// server); `delete` removes it.
pub struct NatsStream {
    js: async_nats::jetstream::Context,
    stream: async_nats::jetstream::stream::Stream,
    name: String,
}

impl NatsStream {
    pub async fn create(url: &str, prefix: &str) -> Self {
        let client = async_nats::connect(url).await.expect("NATS");
        let js = async_nats::jetstream::new(client);
        let name = prefix.to_uppercase();
        // The same stream again after a restart (it is kept on disk).
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![format!("{prefix}.>")],
            storage: async_nats::jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await
        .expect("a stream");
        let stream = js.get_stream(&name).await.expect("the stream");
        Self { js, stream, name }
    }

    pub async fn count(&mut self) -> u64 {
        match self.stream.info().await {
            Ok(info) => info.state.messages,
            Err(_) => 0,
        }
    }

    /// Every message: (subject, headers by name, body).
    pub async fn messages(&mut self) -> Vec<(String, HashMap<String, String>, Vec<u8>)> {
        let last = self.stream.info().await.expect("info").state.last_sequence;
        let mut out = Vec::new();
        for seq in 1..=last {
            if let Ok(m) = self.stream.get_raw_message(seq).await {
                let headers = m
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.to_string(),
                            v.iter()
                                .map(|v| v.to_string())
                                .collect::<Vec<_>>()
                                .join(","),
                        )
                    })
                    .collect();
                out.push((m.subject.to_string(), headers, m.payload.to_vec()));
            }
        }
        out
    }

    pub async fn delete(self) {
        let _ = self.js.delete_stream(&self.name).await;
    }
}

/// A message a queue held.
#[derive(Debug)]
pub struct AmqpMessage {
    pub routing_key: String,
    pub message_id: String,
    pub persistent: bool,
    pub content_type: String,
    pub kind: String,
    pub body: Vec<u8>,
}

/// A queue bound to every routing key of the organization `acme` on `exchange`.
pub struct AmqpQueue {
    _conn: lapin::Connection,
    channel: lapin::Channel,
    queue: String,
    exchange: String,
}

impl AmqpQueue {
    /// `durable`: a durable queue of that name, whose messages outlive a broker's restart;
    /// otherwise an exclusive one the broker names.
    pub async fn bind(url: &str, exchange: &str, durable: Option<&str>) -> Self {
        use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
        use lapin::types::FieldTable;
        let url = url.replacen("amqp://", &format!("amqp://guest:{}@", amqp_password()), 1);
        let conn = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ");
        let channel = conn.create_channel().await.expect("a channel");
        // As the sink declares it, so whichever comes first, the other agrees.
        channel
            .exchange_declare(
                exchange.into(),
                lapin::ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("the exchange");
        let options = match durable {
            Some(_) => QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            None => QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
        };
        let queue = channel
            .queue_declare(durable.unwrap_or("").into(), options, FieldTable::default())
            .await
            .expect("a queue");
        let queue = queue.name().to_string();
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.into(),
                "acme.*".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bound");
        Self {
            _conn: conn,
            channel,
            queue,
            exchange: exchange.to_string(),
        }
    }

    /// The messages waiting.
    pub async fn take(&self) -> Vec<AmqpMessage> {
        let mut out = Vec::new();
        while let Ok(Some(m)) = self
            .channel
            .basic_get(
                self.queue.as_str().into(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await
        {
            let p = &m.delivery.properties;
            let text = |s: &Option<lapin::types::ShortString>| {
                s.as_ref().map(|s| s.to_string()).unwrap_or_default()
            };
            out.push(AmqpMessage {
                routing_key: m.delivery.routing_key.to_string(),
                message_id: text(p.message_id()),
                persistent: *p.delivery_mode() == Some(2),
                content_type: text(p.content_type()),
                kind: text(p.kind()),
                body: m.delivery.data.clone(),
            });
        }
        out
    }

    pub async fn delete(self) {
        let _ = self
            .channel
            .exchange_delete(self.exchange.as_str().into(), Default::default())
            .await;
    }
}

/// A Redis stream's entries, each as its fields.
pub async fn redis_entries(url: &str, key: &str) -> Vec<HashMap<String, String>> {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("XRANGE");
    reply
        .ids
        .into_iter()
        .map(|entry| {
            entry
                .map
                .into_iter()
                .map(|(k, v)| {
                    let v: String = redis::from_redis_value(&v).unwrap_or_default();
                    (k, v)
                })
                .collect()
        })
        .collect()
}

pub async fn redis_delete(url: &str, prefix: &str) {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    for key in keys {
        let _: Result<i64, _> = redis::cmd("DEL").arg(key).query_async(&mut conn).await;
    }
}

/// A `nats-server` of the test's own, with JetStream on disk, on a port of its own.
pub struct NatsServer {
    child: std::process::Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl NatsServer {
    pub fn start(port: u16, dir: &std::path::Path) -> Self {
        let binary =
            std::env::var("SESAME_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let child = std::process::Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn restart(&mut self) {
        *self = Self::start(self.port, &self.dir.clone());
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `rabbitmq-server` node of the test's own (its own name, ports and data directory; the
/// machine's epmd), killed with SIGKILL and started again on the same data.
pub struct RabbitServer {
    /// `None` once killed.
    child: Option<std::process::Child>,
    port: u16,
    name: String,
    dir: std::path::PathBuf,
}

impl RabbitServer {
    pub fn start(name: &str, port: u16, dir: &std::path::Path) -> Self {
        use std::os::unix::process::CommandExt;
        let binary = std::env::var("SESAME_TEST_RABBITMQ_SERVER")
            .unwrap_or_else(|_| "/usr/lib/rabbitmq/bin/rabbitmq-server".into());
        std::fs::write(dir.join("enabled_plugins"), "[].").unwrap();
        std::fs::write(dir.join("rabbitmq.conf"), "").unwrap();
        let child = std::process::Command::new(&binary)
            .current_dir(dir)
            .env("RABBITMQ_NODENAME", format!("{name}@localhost"))
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", port.to_string())
            .env("RABBITMQ_DIST_PORT", crate::outbox::free_port().to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq"))
            .env("RABBITMQ_PID_FILE", dir.join("pid"))
            // Its own process group, so that stopping it stops the Erlang VM under the script.
            .process_group(0)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "rabbitmq-server did not come up on {port}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Self {
            child: Some(child),
            port,
            name: name.to_string(),
            dir: dir.to_path_buf(),
        }
    }

    pub fn url(&self) -> String {
        format!("amqp://127.0.0.1:{}/%2f", self.port)
    }

    /// SIGKILL to the whole node: what it confirmed is on disk.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = format!("-{}", child.id());
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .status();
        let _ = child.wait();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        *self = Self::start(&self.name.clone(), self.port, &self.dir.clone());
    }
}

impl Drop for RabbitServer {
    fn drop(&mut self) {
        self.kill();
    }
}
