//! The Redis sink against a real server: `SESAME_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`,
//! a Redis 7 without a password; the tests create and delete ACL users of their own). Each test
//! uses its own stream prefix (`sesame-test-{random}`) and deletes its keys afterwards.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;
use sesame_plugin_api::{Event, EventSink, SendError};
use sesame_plugin_redis::{Config, RedisSink};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

const VAR: &str = "SESAME_TEST_REDIS_URL";

/// The server's URL, or `None` (after saying so) when the tests are not to run here. CI must
/// run them: there, a missing variable is a failure.
fn server() -> Option<String> {
    match std::env::var(VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{VAR} is not set on CI: the redis sink tests must run there")
        }
        _ => {
            println!("NOT RUN: set {VAR} to run the redis sink tests against a broker");
            None
        }
    }
}

/// Unique enough across runs and parallel tests.
fn unique() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{:x}{:x}{:x}",
        nanos,
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

fn config(url: &str, prefix: &str) -> Config {
    serde_json::from_value(serde_json::json!({
        "url": url,
        "stream_prefix": prefix,
        "timeout_seconds": 5,
    }))
    .unwrap()
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

async fn admin(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The stream's entries, fields in order, values as bytes.
type Entries = Vec<(String, Vec<Vec<u8>>)>;

async fn entries(con: &mut redis::aio::MultiplexedConnection, key: &str) -> Entries {
    redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(con)
        .await
        .unwrap()
}

/// Deletes a test's keys (everything under its prefixes), ACL user and files or directories
/// when dropped, even after a failed assertion.
struct Cleanup {
    url: String,
    prefixes: Vec<String>,
    user: Option<String>,
    files: Vec<PathBuf>,
}

impl Cleanup {
    fn new(url: &str, prefix: &str) -> Self {
        Self {
            url: url.into(),
            prefixes: vec![prefix.into()],
            user: None,
            files: Vec::new(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for file in &self.files {
            let _ = if file.is_dir() {
                std::fs::remove_dir_all(file)
            } else {
                std::fs::remove_file(file)
            };
        }
        let Ok(mut con) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        else {
            return;
        };
        if let Some(user) = &self.user {
            let _ = redis::cmd("ACL")
                .arg("DELUSER")
                .arg(user)
                .query::<i64>(&mut con);
        }
        for prefix in &self.prefixes {
            let mut cursor = 0u64;
            while let Ok((next, keys)) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern(prefix))
                .arg("COUNT")
                .arg(1000)
                .query::<(u64, Vec<String>)>(&mut con)
            {
                if !keys.is_empty() {
                    let _ = redis::cmd("DEL").arg(&keys).query::<i64>(&mut con);
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
    }
}

/// The SCAN pattern of a prefix's keys (`{` and `}` are not special in patterns; `*`, `?`, `[`
/// and `\\` never appear in the tests' prefixes).
fn pattern(prefix: &str) -> String {
    format!("{prefix}:*")
}

async fn count_keys(con: &mut redis::aio::MultiplexedConnection, prefix: &str) -> usize {
    let pattern = pattern(prefix);
    let mut cursor = 0u64;
    let mut n = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(con)
            .await
            .unwrap();
        n += keys.len();
        if next == 0 {
            return n;
        }
        cursor = next;
    }
}

#[tokio::test]
async fn an_event_is_appended_and_reads_back_with_xrange() {
    let Some(url) = server() else { return };
    let prefix = format!("sesame-test-{}", unique());
    let cleanup = Cleanup::new(&url, &prefix);
    let sink = RedisSink::new(config(&url, &prefix)).unwrap();
    assert_eq!(sink.kind(), "redis");
    let jti = unique();
    let body = serde_json::to_vec(&serde_json::json!({
        "jti": jti, "aud": "LOGINS", "events": { "LoginSuccessEvent": { "user": "u1" } }
    }))
    .unwrap();

    sink.publish(event(&jti, &body)).await.unwrap();

    let mut con = admin(&url).await;
    let key = format!("{prefix}:acme:LOGINS");
    let got = entries(&mut con, &key).await;
    assert_eq!(got.len(), 1, "one entry in {key}");
    let (id, fields) = &got[0];
    let expected: Vec<&[u8]> = vec![
        b"jti",
        jti.as_bytes(),
        b"type",
        b"LoginSuccessEvent",
        b"organization",
        b"acme",
        b"topic",
        b"LOGINS",
        b"content_type",
        b"application/json",
        b"payload",
        &body,
    ];
    assert_eq!(fields, &expected);
    // The marker: the entry's id, for about a day.
    let marker = format!("{prefix}:seen:{jti}");
    let seen: Option<String> = con.get(&marker).await.unwrap();
    assert_eq!(seen.as_deref(), Some(id.as_str()));
    let ttl: i64 = con.ttl(&marker).await.unwrap();
    assert!((86_000..=86_400).contains(&ttl), "ttl {ttl}");

    // A JWE body (any bytes) goes as it is, with its content type.
    let jti2 = unique();
    let sealed = Event {
        content_type: "application/jose",
        event_type: "SmsOtpNotificationEvent",
        topic: "NOTIFICATIONS",
        ..event(&jti2, b"eyJhbGciOiJkaXIifQ..\x00\xff")
    };
    let id2 = sink.append(sealed).await.unwrap().unwrap();
    let got = entries(&mut con, &format!("{prefix}:acme:NOTIFICATIONS")).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, id2);
    assert_eq!(got[0].1[9], b"application/jose");
    assert_eq!(got[0].1[11], b"eyJhbGciOiJkaXIifQ..\x00\xff");

    drop(cleanup);
    assert_eq!(count_keys(&mut con, &prefix).await, 0);
}

#[tokio::test]
async fn the_same_jti_twice_makes_one_entry() {
    let Some(url) = server() else { return };
    let prefix = format!("sesame-test-{}", unique());
    let _cleanup = Cleanup::new(&url, &prefix);
    let sink = RedisSink::new(config(&url, &prefix)).unwrap();
    let jti = unique();

    let first = sink.append(event(&jti, b"{\"n\":1}")).await.unwrap();
    assert!(first.is_some());
    // A replay (the answer to the first was lost, say): Ok, nothing appended.
    assert_eq!(sink.append(event(&jti, b"{\"n\":1}")).await.unwrap(), None);
    sink.publish(event(&jti, b"{\"n\":1}")).await.unwrap();
    // Another event is appended.
    let other = unique();
    sink.publish(event(&other, b"{\"n\":2}")).await.unwrap();

    let mut con = admin(&url).await;
    let got = entries(&mut con, &format!("{prefix}:acme:LOGINS")).await;
    assert_eq!(got.len(), 2);
    assert_eq!(Some(&got[0].0), first.as_ref());
    assert_eq!(got[0].1[1], jti.as_bytes());
    assert_eq!(got[1].1[1], other.as_bytes());
}

/// Publishes at once from many tasks through one sink (they share its one connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_all_land() {
    let Some(url) = server() else { return };
    let prefix = format!("sesame-test-{}", unique());
    let _cleanup = Cleanup::new(&url, &prefix);
    let sink = std::sync::Arc::new(RedisSink::new(config(&url, &prefix)).unwrap());
    let mut tasks = JoinSet::new();
    for n in 0..50 {
        let sink = sink.clone();
        tasks.spawn(async move {
            let jti = format!("{n}-{}", unique());
            sink.publish(event(&jti, b"{}")).await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    let mut con = admin(&url).await;
    let got = entries(&mut con, &format!("{prefix}:acme:LOGINS")).await;
    assert_eq!(got.len(), 50);
}

#[tokio::test]
async fn without_deduplication_a_replay_is_a_second_entry() {
    let Some(url) = server() else { return };
    let prefix = format!("sesame-test-{}", unique());
    let _cleanup = Cleanup::new(&url, &prefix);
    let mut config = config(&url, &prefix);
    config.dedup_seconds = 0;
    let sink = RedisSink::new(config).unwrap();
    let jti = unique();

    let a = sink.append(event(&jti, b"{}")).await.unwrap();
    let b = sink.append(event(&jti, b"{}")).await.unwrap();
    assert!(a.is_some() && b.is_some() && a != b);

    let mut con = admin(&url).await;
    let got = entries(&mut con, &format!("{prefix}:acme:LOGINS")).await;
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|(_, f)| f[1] == jti.as_bytes()));
    // No marker.
    assert_eq!(count_keys(&mut con, &prefix).await, 1);
}

/// Trimming is approximate (`MAXLEN ~`), whatever `max_len` is: Redis drops whole nodes of
/// `stream-node-max-entries` (100 unless configured), so the stream keeps between `max_len` and
/// `max_len` + that many entries.
#[tokio::test]
async fn the_stream_is_trimmed_near_max_len() {
    let Some(url) = server() else { return };
    let mut con = admin(&url).await;
    let node: u64 = redis::cmd("CONFIG")
        .arg("GET")
        .arg("stream-node-max-entries")
        .query_async::<Vec<String>>(&mut con)
        .await
        .ok()
        .and_then(|v| v.get(1).and_then(|n| n.parse().ok()))
        .unwrap_or(100);
    for dedup in [86_400, 0] {
        let prefix = format!("sesame-test-{}", unique());
        let cleanup = Cleanup::new(&url, &prefix);
        let mut config = config(&url, &prefix);
        config.max_len = 10;
        config.dedup_seconds = dedup;
        let sink = RedisSink::new(config).unwrap();
        let body = vec![b'x'; 200];
        for _ in 0..300 {
            sink.publish(event(&unique(), &body)).await.unwrap();
        }
        let len: u64 = con.xlen(format!("{prefix}:acme:LOGINS")).await.unwrap();
        assert!(
            (10..=10 + node).contains(&len),
            "dedup {dedup}: {len} entries for max_len 10 (nodes of {node})"
        );
        drop(cleanup);
        assert_eq!(count_keys(&mut con, &prefix).await, 0);
    }
}

#[tokio::test]
async fn a_hash_tag_prefix_keeps_both_keys_working() {
    let Some(url) = server() else { return };
    let prefix = format!("{{sesame-test-{}}}", unique());
    let cleanup = Cleanup::new(&url, &prefix);
    let sink = RedisSink::new(config(&url, &prefix)).unwrap();
    let jti = unique();
    sink.publish(event(&jti, b"{}")).await.unwrap();
    assert_eq!(sink.append(event(&jti, b"{}")).await.unwrap(), None);

    let mut con = admin(&url).await;
    let got = entries(&mut con, &format!("{prefix}:acme:LOGINS")).await;
    assert_eq!(got.len(), 1);
    let seen: bool = con.exists(format!("{prefix}:seen:{jti}")).await.unwrap();
    assert!(seen);
    drop(cleanup);
    assert_eq!(count_keys(&mut con, &prefix).await, 0);
}

#[tokio::test]
async fn a_server_that_is_not_there_is_retryable_within_the_timeout() {
    let Some(_) = server() else { return };
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut config = config(&format!("redis://127.0.0.1:{port}"), "sesame-test");
    config.timeout_seconds = 2;
    let sink = RedisSink::new(config).unwrap();
    for _ in 0..2 {
        let start = Instant::now();
        let result = sink.publish(event("j1", b"{}")).await;
        assert!(matches!(result, Err(SendError::Retryable(_))), "{result:?}");
        assert!(start.elapsed() < Duration::from_millis(2500));
    }
}

/// A server that accepts connections and never answers: the timeout.
#[tokio::test]
async fn a_server_that_does_not_answer_is_retryable_after_the_timeout() {
    let Some(_) = server() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut config = config(&format!("redis://127.0.0.1:{port}"), "sesame-test");
    config.timeout_seconds = 1;
    let sink = RedisSink::new(config).unwrap();
    let start = Instant::now();
    let result = sink.publish(event("j1", b"{}")).await;
    assert!(matches!(result, Err(SendError::Retryable(_))), "{result:?}");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(3000),
        "{elapsed:?}"
    );
    hold.abort();
}

/// A TCP relay to the real server, on a port of its own, that can be stopped (its connections
/// cut) and started again on the same port: a server restart, as the sink sees it.
struct Relay {
    port: u16,
    target: String,
    tasks: Option<JoinSet<()>>,
}

impl Relay {
    async fn new(target: String) -> Self {
        let mut relay = Self {
            port: 0,
            target,
            tasks: None,
        };
        relay.start().await;
        relay
    }

    async fn start(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.port = listener.local_addr().unwrap().port();
        let target = self.target.clone();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        self.tasks = Some(tasks);
    }

    /// Closes the listener and every relayed connection.
    async fn stop(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.shutdown().await;
        }
    }
}

#[tokio::test]
async fn the_sink_reconnects_after_the_server_went_away() {
    let Some(url) = server() else { return };
    let target = {
        let info = url::Url::parse(&url).unwrap();
        format!(
            "{}:{}",
            info.host_str().unwrap(),
            info.port().unwrap_or(6379)
        )
    };
    let mut relay = Relay::new(target).await;
    let prefix = format!("sesame-test-{}", unique());
    let _cleanup = Cleanup::new(&url, &prefix);
    let relayed = format!("redis://127.0.0.1:{}", relay.port);
    let mut config = config(&relayed, &prefix);
    config.timeout_seconds = 2;
    let sink = RedisSink::new(config).unwrap();

    sink.publish(event(&unique(), b"{}")).await.unwrap();
    relay.stop().await;
    let result = sink.publish(event(&unique(), b"{}")).await;
    assert!(matches!(result, Err(SendError::Retryable(_))), "{result:?}");
    relay.start().await;
    // The same sink object: it connects again (the manager it had was dropped with the error).
    let jti = unique();
    sink.publish(event(&jti, b"{}")).await.unwrap();
    sink.publish(event(&unique(), b"{}")).await.unwrap();

    let mut con = admin(&url).await;
    let got = entries(&mut con, &format!("{prefix}:acme:LOGINS")).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[1].1[1], jti.as_bytes());
    relay.stop().await;
}

/// Writes a password file for a test's ACL user; removed by the caller.
fn password_file(password: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("sesame-redis-test-{}", unique()));
    std::fs::write(&path, format!("{password}\n")).unwrap();
    path
}

#[tokio::test]
async fn refused_credentials_and_permissions_are_permanent() {
    let Some(url) = server() else { return };
    let mut con = admin(&url).await;
    let prefix = format!("sesame-test-{}", unique());
    let other = format!("sesame-test-{}", unique());
    let user = format!("sesame-test-{}", unique());
    let password = unique();
    let right = password_file(&password);
    let wrong = password_file("not-the-password");
    let _cleanup = Cleanup {
        url: url.clone(),
        prefixes: vec![prefix.clone(), other.clone()],
        user: Some(user.clone()),
        files: vec![right.clone(), wrong.clone()],
    };
    // Exactly the permissions the crate's docs give for a sink's user.
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user)
        .arg("reset")
        .arg("on")
        .arg(format!(">{password}"))
        .arg(format!("~{prefix}:*"))
        .arg("+evalsha")
        .arg("+script|load")
        .arg("+exists")
        .arg("+set")
        .arg("+xadd")
        .query_async(&mut con)
        .await
        .unwrap();
    let sink_as = |file: &PathBuf, prefix: &str| {
        RedisSink::new(
            serde_json::from_value(serde_json::json!({
                "url": url,
                "username": user,
                "password": { "file": file },
                "stream_prefix": prefix,
                "timeout_seconds": 5,
            }))
            .unwrap(),
        )
        .unwrap()
    };

    // The documented permissions are enough, for both keys.
    let sink = sink_as(&right, &prefix);
    let jti = unique();
    sink.publish(event(&jti, b"{}")).await.unwrap();
    assert_eq!(sink.append(event(&jti, b"{}")).await.unwrap(), None);
    let got = entries(&mut con, &format!("{prefix}:acme:LOGINS")).await;
    assert_eq!(got.len(), 1);

    // A wrong password (WRONGPASS).
    let result = sink_as(&wrong, &prefix)
        .publish(event(&unique(), b"{}"))
        .await;
    let Err(SendError::Permanent(text)) = &result else {
        panic!("{result:?}")
    };
    assert!(
        !text.contains(&password) && !text.contains("not-the-password"),
        "{text}"
    );

    // Keys outside the user's pattern (NOPERM).
    let result = sink_as(&right, &other)
        .publish(event(&unique(), b"{}"))
        .await;
    assert!(
        matches!(&result, Err(SendError::Permanent(t)) if t.contains("NOPERM")),
        "{result:?}"
    );
    assert_eq!(count_keys(&mut con, &other).await, 0);
}

/// A `redis-server` of the test's own on a free loopback port, in a directory of its own;
/// stopped (and the directory removed) when dropped.
struct OwnServer {
    child: std::process::Child,
    dir: PathBuf,
    port: u16,
}

impl OwnServer {
    /// Starts `redis-server` with `args` (given the directory and the port); `None` (after
    /// saying why) when this machine has no `redis-server` that starts so.
    async fn start(
        what: &str,
        args: impl FnOnce(&std::path::Path, u16) -> Vec<String>,
    ) -> Option<Self> {
        let dir = std::env::temp_dir().join(format!("sesame-redis-own-{}", unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let spawned = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(args(&dir, port))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let Ok(child) = spawned else {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "CI is set but no redis-server is on PATH: the redis sink's {what} test would not run"
                );
            }
            println!("NOT RUN: no redis-server on PATH for the redis sink's {what} test");
            let _ = std::fs::remove_dir_all(&dir);
            return None;
        };
        let mut server = Self { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                if std::env::var_os("CI").is_some() {
                    panic!("CI is set but redis-server with {what} did not start ({status})");
                }
                println!("NOT RUN: redis-server with {what} did not start ({status})");
                return None;
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(server);
            }
            assert!(
                Instant::now() < deadline,
                "redis-server with {what}: no port"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// TLS (rustls on ring) to a server whose certificate a private CA signed, trusted through
/// `tls.ca_file`; without it (the public roots only) the handshake fails.
#[tokio::test]
async fn tls_with_a_private_ca() {
    let Some(_) = server() else { return };
    let dir = std::env::temp_dir().join(format!("sesame-redis-cert-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup {
        url: String::new(),
        prefixes: Vec::new(),
        user: None,
        files: vec![dir.join("cert.pem"), dir.join("key.pem"), dir.clone()],
    };
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let Some(tls) = OwnServer::start("TLS", |_, port| {
        let mut args = vec!["--port".to_string(), "0".into(), "--tls-port".into()];
        args.push(port.to_string());
        for (flag, path) in [
            ("--tls-cert-file", &cert),
            ("--tls-key-file", &key),
            ("--tls-ca-cert-file", &cert),
        ] {
            args.push(flag.into());
            args.push(path.display().to_string());
        }
        args.extend(["--tls-auth-clients".into(), "no".into()]);
        args
    })
    .await
    else {
        return;
    };
    let url = format!("rediss://127.0.0.1:{}", tls.port);
    let prefix = format!("sesame-test-{}", unique());
    let sink = RedisSink::new(
        serde_json::from_value(serde_json::json!({
            "url": url,
            "stream_prefix": prefix,
            "tls": { "ca_file": cert },
            "timeout_seconds": 5,
        }))
        .unwrap(),
    )
    .unwrap();
    let jti = unique();
    let id = sink.append(event(&jti, b"{\"tls\":true}")).await.unwrap();
    assert!(id.is_some());
    assert_eq!(
        sink.append(event(&jti, b"{\"tls\":true}")).await.unwrap(),
        None
    );

    let client = redis::Client::build_with_tls(
        url.as_str(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(&cert).unwrap()),
        },
    )
    .unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let got = entries(&mut con, &format!("{prefix}:acme:LOGINS")).await;
    assert_eq!(got.len(), 1);
    assert_eq!(Some(&got[0].0), id.as_ref());
    assert_eq!(got[0].1[11], b"{\"tls\":true}");

    // The public roots do not know this server's certificate.
    let mut config = config(&url, &prefix);
    config.timeout_seconds = 2;
    let result = RedisSink::new(config)
        .unwrap()
        .publish(event(&unique(), b"{}"))
        .await;
    assert!(
        matches!(&result, Err(SendError::Retryable(t)) if t.contains("certificate") || t.contains("Certificate")),
        "{result:?}"
    );
}

/// Under Redis Cluster a script's keys must share a hash slot: with the default prefix the
/// marker and the stream do not (`CROSSSLOT`, permanent); with a hash tag in the prefix they do,
/// and so does `dedup_seconds = 0` (one key). A one-node cluster owning every slot, so that the
/// sink's plain connection sees no redirection.
#[tokio::test]
async fn under_redis_cluster_the_keys_need_a_hash_tag() {
    let Some(_) = server() else { return };
    let Some(own) = OwnServer::start("cluster mode", |dir, port| {
        vec![
            "--port".into(),
            port.to_string(),
            "--cluster-enabled".into(),
            "yes".into(),
            "--cluster-config-file".into(),
            dir.join("nodes.conf").display().to_string(),
        ]
    })
    .await
    else {
        return;
    };
    let url = format!("redis://127.0.0.1:{}", own.port);
    let mut con = admin(&url).await;
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16383)
        .query_async(&mut con)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut con)
            .await
            .unwrap();
        if info.contains("cluster_state:ok") {
            break;
        }
        assert!(Instant::now() < deadline, "the cluster is not ok: {info}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let result = RedisSink::new(config(&url, "sesame"))
        .unwrap()
        .publish(event(&unique(), b"{}"))
        .await;
    assert!(
        matches!(&result, Err(SendError::Permanent(t)) if t.contains("CrossSlot")),
        "{result:?}"
    );

    let tagged = RedisSink::new(config(&url, "{sesame}")).unwrap();
    let jti = unique();
    assert!(tagged.append(event(&jti, b"{}")).await.unwrap().is_some());
    assert_eq!(tagged.append(event(&jti, b"{}")).await.unwrap(), None);
    assert_eq!(entries(&mut con, "{sesame}:acme:LOGINS").await.len(), 1);

    let mut plain = config(&url, "sesame");
    plain.dedup_seconds = 0;
    let plain = RedisSink::new(plain).unwrap();
    assert!(plain.append(event(&jti, b"{}")).await.unwrap().is_some());
    assert_eq!(entries(&mut con, "sesame:acme:LOGINS").await.len(), 1);
}
