//! Event sinks against real brokers: NATS JetStream, RabbitMQ and Redis Streams receive an
//! organization's events with their subject, routing key or stream and the webhooks' envelope;
//! OTP notifications go only where the organization allows them (sealed or plain); a NATS server
//! and a RabbitMQ node stopped and started again lose nothing; a Sesame node SIGKILLed while it
//! publishes loses nothing either.
//!
//! The brokers come from `SESAME_TEST_NATS_URL`, `SESAME_TEST_AMQP_URL` (guest, password in
//! `SESAME_TEST_AMQP_PASSWORD`, default `guest`) and `SESAME_TEST_REDIS_URL`; the restart
//! tests start their own `nats-server` and `rabbitmq-server` on other ports. Without the variables the tests say they did
//! not run; under CI they fail.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::both_backends;
use crate::brokers::{
    AmqpQueue, NatsServer, NatsStream, RabbitServer, amqp_password, broker, redis_delete,
    redis_entries, unique,
};
use crate::helpers::{Backend, Browser, TestApp, TestDb, location, stdout, test_env, wait_for};
use crate::sms_otp::{BOB_PASSWORD, MFA_CB, code_at, get, password_step, submit};

/// 32 bytes in base64url, the sealed sink's key.
const SEAL_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

/// The organization of the SMS OTP tests, its texts sent by subscribers, with `sinks`.
fn org_toml(sinks: &str) -> String {
    let toml = crate::sms_otp::acme_toml("resend_cooldown_seconds = 0", "max_attempts = 20")
        .replace(
            "[organizations.lock_policy]",
            "[organizations.sms]\nchannel = \"webhook\"\n[organizations.lock_policy]",
        );
    format!("{toml}\n{sinks}")
}

/// A server with [`org_toml`] imported.
pub async fn spawn(backend: &Backend, sinks: &str) -> TestApp {
    let db = TestDb::new(backend);
    let mut env = test_env(&db.url, db.dir.path());
    // The webhook subscribers of these tests listen on loopback.
    env.insert("SESAME_OUTBOUND_ALLOW_PRIVATE".into(), "true".into());
    let app = TestApp::spawn_with(db, env).await;
    app.import(&org_toml(sinks));
    app
}

/// Publishes `n` account events (`USER_OPERATIONS`): new backup codes for bob, from the CLI.
fn account_events(env: &HashMap<String, String>, n: usize) {
    for _ in 0..n {
        let out = crate::helpers::cli(env, &["backup-codes", "--org", "acme", "--user", "bob"]);
        assert!(out.status.success(), "{}", crate::helpers::stderr(&out));
    }
}

/// How many deliveries to `sink` the newest events' listing shows delivered.
fn delivered(env: &HashMap<String, String>, sink: &str) -> usize {
    stdout(&crate::helpers::cli(
        env,
        &["events", "list", "--org", "acme", "--limit", "1000"],
    ))
    .matches(&format!("to sink:{sink}: delivered"))
    .count()
}

/// The event a body holds: its JSON, or a JWE of it under [`SEAL_KEY`].
fn open(body: &[u8]) -> Value {
    if body.starts_with(b"{") {
        return serde_json::from_slice(body).unwrap();
    }
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(SEAL_KEY)
        .unwrap();
    let decrypter = josekit::jwe::Dir.decrypter_from_bytes(key).unwrap();
    let (json, header) =
        josekit::jwe::deserialize_compact(std::str::from_utf8(body).unwrap(), &decrypter)
            .expect("a JWE under the seal key");
    assert_eq!(header.content_encryption(), Some("A256GCM"));
    serde_json::from_slice(&json).unwrap()
}

fn uri_of(event: &Value) -> String {
    event["event"]
        .as_object()
        .and_then(|e| e.keys().next().cloned())
        .unwrap_or_default()
}

async fn every_sink_gets_its_topics_and_codes_only_where_allowed(backend: Backend) {
    let (Some(nats), Some(amqp), Some(redis_url)) = (
        broker("SESAME_TEST_NATS_URL"),
        broker("SESAME_TEST_AMQP_URL"),
        broker("SESAME_TEST_REDIS_URL"),
    ) else {
        return;
    };
    let u = unique();
    let mut stream = NatsStream::create(&nats, &u).await;
    let exchange = format!("sesame-{u}");
    let queue = AmqpQueue::bind(&amqp, &exchange, None).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("seal-key");
    std::fs::write(&key_file, SEAL_KEY).unwrap();
    let password_file = dir.path().join("amqp-password");
    std::fs::write(&password_file, amqp_password()).unwrap();
    // A webhook subscriber of LOGINS at the same time.
    let (hook, callback) = crate::websub::Subscriber::start().await;
    let hook_secret = dir.path().join("hook-secret");
    std::fs::write(&hook_secret, "a-subscriber-secret-0123456789").unwrap();
    let sinks = format!(
        r#"
[[organizations.webhooks]]
topic = "LOGINS"
callback = "{callback}"
secret = {{ file = "{hook_secret}" }}

[[organizations.event_sinks]]
name = "bus"
type = "nats"
url = "{nats}"
subject_prefix = "{u}"
topics = ["LOGINS", "NOTIFICATIONS"]
otp_notifications = "sealed"
seal_key = {{ file = "{key}" }}

[[organizations.event_sinks]]
name = "queue"
type = "rabbitmq"
url = "{amqp}"
username = "guest"
password = {{ file = "{password}" }}
exchange = "{exchange}"
topics = ["LOGINS", "USER_OPERATIONS", "NOTIFICATIONS"]

[[organizations.event_sinks]]
name = "stream"
type = "redis"
url = "{redis_url}"
stream_prefix = "{u}"
topics = ["NOTIFICATIONS", "LOGINS"]
otp_notifications = "plain"
"#,
        key = key_file.display(),
        password = password_file.display(),
        hook_secret = hook_secret.display(),
    );
    let app = spawn(&backend, &sinks).await;
    wait_for("the webhook's verification", || {
        !hook.verifications().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The code goes to the sinks allowed to carry it (no subscriber, no gateway).
    let browser = Browser::default();
    let res = password_step(&app, &browser, "mfa-web", "bob", BOB_PASSWORD).await;
    let otp_url = location(&res);
    let (status, page) = get(&browser, &otp_url).await;
    assert_eq!(status, 200, "{page}");
    let notifications = format!("{u}:acme:NOTIFICATIONS");
    let mut entries = Vec::new();
    for _ in 0..200 {
        entries = redis_entries(&redis_url, &notifications).await;
        if !entries.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(entries.len(), 1, "one code, one entry");
    let entry = &entries[0];
    assert_eq!(entry["type"], "SmsOtpNotificationEvent");
    assert_eq!(entry["topic"], "NOTIFICATIONS");
    assert_eq!(entry["organization"], "acme");
    assert_eq!(entry["content_type"], "application/json");
    let otp_event: Value = serde_json::from_str(&entry["payload"]).unwrap();
    assert_eq!(otp_event["jti"], entry["jti"].as_str());
    assert_eq!(otp_event["iss"], app.issuer("acme"));
    assert_eq!(
        otp_event["aud"],
        format!("{}/websubhub/topics/acme/NOTIFICATIONS", app.address)
    );
    let data = &otp_event["event"]["urn:ietf:params:notifications:smsOtp"];
    assert_eq!(data["sendTo"], "+447400900123");
    let body = data["messageBody"].as_str().unwrap();
    let start = body.find(" is ").unwrap() + 4;
    let code = body[start..].split('.').next().unwrap().to_string();
    let res = submit(&browser, &otp_url, &[("code", &code)]).await;
    code_at(&res, MFA_CB);
    // A wrong password: loginFailed.
    let res = password_step(
        &app,
        &Browser::default(),
        "mfa-web",
        "bob",
        "wrong-password",
    )
    .await;
    assert_eq!(res.status(), 200);
    // A change of the account: USER_OPERATIONS, which only RabbitMQ takes.
    account_events(&app.env, 1);

    // NATS: the code sealed, both sign-in events, each with its id for the stream's dedup.
    let mut nats_messages = Vec::new();
    for _ in 0..200 {
        if stream.count().await >= 3 {
            nats_messages = stream.messages().await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(nats_messages.len(), 3, "the code and two sign-in events");
    let mut uris = Vec::new();
    for (subject, headers, body) in &nats_messages {
        let event = open(body);
        assert_eq!(headers["Nats-Msg-Id"], event["jti"].as_str().unwrap());
        let topic = event["aud"].as_str().unwrap().rsplit('/').next().unwrap();
        assert_eq!(subject, &format!("{u}.acme.{topic}"));
        if topic == "NOTIFICATIONS" {
            assert_eq!(headers["Content-Type"], "application/jose");
            assert!(!String::from_utf8_lossy(body).contains(&code), "sealed");
            assert_eq!(event["jti"], otp_event["jti"], "the same event");
        } else {
            assert_eq!(headers["Content-Type"], "application/json");
        }
        uris.push(uri_of(&event));
    }
    uris.sort();
    assert_eq!(
        uris,
        [
            "urn:ietf:params:logins:loginFailed",
            "urn:ietf:params:logins:loginSuccess",
            "urn:ietf:params:notifications:smsOtp",
        ]
    );
    // The webhook got the same two sign-in events (the same ids), and not the code.
    let login_ids: HashSet<String> = nats_messages
        .iter()
        .filter(|(subject, _, _)| subject.ends_with(".LOGINS"))
        .map(|(_, headers, _)| headers["Nats-Msg-Id"].clone())
        .collect();
    wait_for("the webhook's two events", || {
        hook.event_ids().into_iter().collect::<HashSet<_>>() == login_ids
    })
    .await;

    // RabbitMQ: the sign-in events and the account change, never the code.
    let mut amqp_messages = Vec::new();
    for _ in 0..200 {
        amqp_messages.extend(queue.take().await);
        if amqp_messages.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    amqp_messages.extend(queue.take().await);
    let mut seen = Vec::new();
    for m in &amqp_messages {
        let event: Value = serde_json::from_slice(&m.body).unwrap();
        assert_eq!(m.message_id, event["jti"].as_str().unwrap());
        assert!(m.persistent);
        assert_eq!(m.content_type, "application/json");
        assert!(!String::from_utf8_lossy(&m.body).contains(&code));
        seen.push((m.routing_key.clone(), m.kind.clone()));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("acme.LOGINS".to_string(), "LoginFailedEvent".to_string()),
            ("acme.LOGINS".to_string(), "LoginSuccessEvent".to_string()),
            (
                "acme.USER_OPERATIONS".to_string(),
                "BackupCodesGeneratedEvent".to_string()
            ),
        ]
    );

    // Redelivered on request: the same event again, with the same id.
    let account_event = amqp_messages
        .iter()
        .find(|m| m.routing_key == "acme.USER_OPERATIONS")
        .map(|m| m.message_id.clone())
        .unwrap();
    let out = app.cli(&[
        "events",
        "redeliver",
        "--org",
        "acme",
        "--jti",
        &account_event,
    ]);
    assert!(
        stdout(&out).contains("to sink:queue: scheduled again"),
        "{}",
        stdout(&out)
    );
    let mut again = Vec::new();
    for _ in 0..100 {
        again.extend(queue.take().await);
        if !again.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(again.len(), 1, "redelivered once");
    assert_eq!(again[0].message_id, account_event);
    assert_eq!(again[0].routing_key, "acme.USER_OPERATIONS");

    // Redis: the sign-in events on their own stream.
    let logins = redis_entries(&redis_url, &format!("{u}:acme:LOGINS")).await;
    let mut types: Vec<&str> = logins.iter().map(|e| e["type"].as_str()).collect();
    types.sort();
    assert_eq!(types, ["LoginFailedEvent", "LoginSuccessEvent"]);
    for e in &logins {
        let event: Value = serde_json::from_str(&e["payload"]).unwrap();
        assert_eq!(event["jti"], e["jti"].as_str());
    }
    assert!(
        redis_entries(&redis_url, &format!("{u}:acme:USER_OPERATIONS"))
            .await
            .is_empty(),
        "not its topic"
    );

    // The listing shows each sink's deliveries.
    wait_for("every sink's deliveries recorded", || {
        ["bus", "queue", "stream"]
            .iter()
            .all(|sink| delivered(&app.env, sink) == 3)
    })
    .await;
    stream.delete().await;
    queue.delete().await;
    redis_delete(&redis_url, &u).await;
}

/// The NATS server stopped and started again: its events wait and all arrive, once each,
/// while another sink of the same events gets them at once.
async fn a_nats_server_stopped_and_started_again_loses_nothing(backend: Backend) {
    let (Some(_), Some(redis_url)) = (
        broker("SESAME_TEST_NATS_URL"),
        broker("SESAME_TEST_REDIS_URL"),
    ) else {
        return;
    };
    let u = unique();
    const N: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let mut server = NatsServer::start(crate::outbox::free_port(), dir.path());
    let mut stream = NatsStream::create(&server.url(), "ops").await;
    let sinks = format!(
        "[[organizations.event_sinks]]\nname = \"bus\"\ntype = \"nats\"\nurl = \"{}\"\nsubject_prefix = \"ops\"\ntopics = [\"USER_OPERATIONS\"]\ntimeout_seconds = 2\n\n[[organizations.event_sinks]]\nname = \"stream\"\ntype = \"redis\"\nurl = \"{redis_url}\"\nstream_prefix = \"{u}\"\ntopics = [\"USER_OPERATIONS\"]\n",
        server.url()
    );
    let app = spawn(&backend, &sinks).await;
    account_events(&app.env, N);
    for _ in 0..200 {
        if stream.count().await == N as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stream.count().await, N as u64);

    // Down: the events wait in the outbox, their deliveries retried.
    server.stop();
    account_events(&app.env, N);
    wait_for("a failed attempt", || {
        stdout(&app.cli(&["events", "list", "--org", "acme"])).contains("last error")
    })
    .await;
    // The other sink is not held up by the one whose broker is down.
    let key = format!("{u}:acme:USER_OPERATIONS");
    for _ in 0..100 {
        if redis_entries(&redis_url, &key).await.len() == 2 * N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(redis_entries(&redis_url, &key).await.len(), 2 * N);
    // The listing sums up each sink: the one behind shows what waits.
    let listed = stdout(&app.cli(&["events", "list", "--org", "acme"]));
    let line = |sink: &str| {
        listed
            .lines()
            .find(|l| l.starts_with(&format!("    sink:{sink}: ")))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        line("stream"),
        format!("    sink:stream: {} delivered", 2 * N)
    );
    assert!(
        line("bus").starts_with(&format!(
            "    sink:bus: {N} delivered, {N} pending (the oldest since "
        )),
        "{listed}"
    );
    server.restart();
    let mut stream = NatsStream::create(&server.url(), "ops").await;
    let mut count = 0;
    for _ in 0..600 {
        count = stream.count().await;
        if count == 2 * N as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count, 2 * N as u64, "every event, once");
    let ids: HashSet<String> = stream
        .messages()
        .await
        .into_iter()
        .map(|(_, headers, _)| headers["Nats-Msg-Id"].clone())
        .collect();
    assert_eq!(ids.len(), 2 * N, "distinct events");
    assert_eq!(delivered(&app.env, "bus"), 2 * N);
    stream.delete().await;
    redis_delete(&redis_url, &u).await;
}

/// The node SIGKILLed while it publishes a backlog to the three brokers, then started again:
/// every event reaches each sink; JetStream and the Redis script drop the replays, RabbitMQ's
/// consumers see them with the same `message_id`.
async fn a_killed_node_loses_no_sink_event(backend: Backend) {
    let (Some(nats), Some(amqp), Some(redis_url)) = (
        broker("SESAME_TEST_NATS_URL"),
        broker("SESAME_TEST_AMQP_URL"),
        broker("SESAME_TEST_REDIS_URL"),
    ) else {
        return;
    };
    const N: usize = 60;
    let u = unique();
    let mut stream = NatsStream::create(&nats, &u).await;
    // Every publish the NATS server sees, replays included (the stream keeps one of each).
    let raw = async_nats::connect(&nats).await.unwrap();
    let mut raw_sub = raw.subscribe(format!("{u}.>")).await.unwrap();
    raw.flush().await.unwrap();
    let exchange = format!("sesame-{u}");
    let queue = AmqpQueue::bind(&amqp, &exchange, None).await;
    let db = TestDb::new(&backend);
    let env = crate::outbox::env_for(&db, crate::outbox::free_port());
    let password_file = db.dir.path().join("amqp-password");
    std::fs::write(&password_file, amqp_password()).unwrap();
    let toml = format!(
        "{}\n[[organizations.event_sinks]]\nname = \"bus\"\ntype = \"nats\"\nurl = \"{nats}\"\nsubject_prefix = \"{u}\"\ntopics = [\"USER_OPERATIONS\"]\n\n[[organizations.event_sinks]]\nname = \"queue\"\ntype = \"rabbitmq\"\nurl = \"{amqp}\"\nusername = \"guest\"\npassword = {{ file = \"{}\" }}\nexchange = \"{exchange}\"\ntopics = [\"USER_OPERATIONS\"]\n\n[[organizations.event_sinks]]\nname = \"stream\"\ntype = \"redis\"\nurl = \"{redis_url}\"\nstream_prefix = \"{u}\"\ntopics = [\"USER_OPERATIONS\"]\n",
        crate::sms_otp::acme_toml("", ""),
        password_file.display()
    );
    let file = db.dir.path().join("sinks.toml");
    std::fs::write(&file, toml).unwrap();
    let out = crate::helpers::cli(&env, &["import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", crate::helpers::stderr(&out));
    // The backlog is written while no node runs.
    account_events(&env, N);
    let mut node = crate::outbox::Node::start(&env).await;
    // Killed as soon as the first events are in (a loaded machine may take seconds to start).
    for _ in 0..3000 {
        if stream.count().await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.kill();
    let before = stream.count().await;
    let node = crate::outbox::Node::start(&env).await;
    let stream_key = format!("{u}:acme:USER_OPERATIONS");
    let mut amqp_ids = Vec::new();
    for _ in 0..600 {
        amqp_ids.extend(queue.take().await.into_iter().map(|m| m.message_id));
        let distinct = amqp_ids.iter().collect::<HashSet<_>>().len();
        if stream.count().await as usize >= N
            && distinct >= N
            && redis_entries(&redis_url, &stream_key).await.len() >= N
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every delivery recorded: what the killed node had in flight has been claimed again
    // (after its lease) and published again.
    let all_recorded = || {
        ["bus", "queue", "stream"]
            .iter()
            .all(|sink| delivered(&env, sink) == N)
    };
    for _ in 0..300 {
        if all_recorded() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(all_recorded(), "every delivery recorded as delivered");
    amqp_ids.extend(queue.take().await.into_iter().map(|m| m.message_id));
    drop(node);
    let mut raw_count: usize = 0;
    while let Ok(Some(_)) = tokio::time::timeout(
        Duration::from_millis(200),
        futures_util::StreamExt::next(&mut raw_sub),
    )
    .await
    {
        raw_count += 1;
    }
    let kept = stream.count().await as usize;
    let nats_ids: HashSet<String> = stream
        .messages()
        .await
        .into_iter()
        .map(|(_, h, _)| h["Nats-Msg-Id"].clone())
        .collect();
    let amqp_distinct = amqp_ids.iter().collect::<HashSet<_>>().len();
    let entries = redis_entries(&redis_url, &stream_key).await;
    let redis_distinct = entries
        .iter()
        .map(|e| e["jti"].clone())
        .collect::<HashSet<_>>()
        .len();
    let name = crate::outbox::backend_name(&backend);
    eprintln!(
        "kill-and-restart, NATS JetStream ({name}): {N} events published, {kept} in the stream ({} distinct), {raw_count} publishes seen, {} replays dropped by deduplication, {before} in the stream before the kill",
        nats_ids.len(),
        raw_count.saturating_sub(kept)
    );
    eprintln!(
        "kill-and-restart, RabbitMQ ({name}): {N} events published, {} received, {amqp_distinct} distinct, {} duplicates (same message_id)",
        amqp_ids.len(),
        amqp_ids.len() - amqp_distinct
    );
    eprintln!(
        "kill-and-restart, Redis Streams ({name}): {N} events published, {} entries, {redis_distinct} distinct",
        entries.len()
    );
    assert!(
        before > 0 && (before as usize) < N,
        "the node was killed while it published ({before} of {N})"
    );
    assert_eq!(kept, N, "JetStream: every event once");
    assert_eq!(nats_ids.len(), N);
    assert_eq!(amqp_distinct, N, "RabbitMQ: every event");
    assert_eq!(entries.len(), N, "Redis: every event once");
    assert_eq!(redis_distinct, N);
    stream.delete().await;
    queue.delete().await;
    redis_delete(&redis_url, &u).await;
}

async fn a_rabbitmq_server_killed_and_started_again_loses_nothing(backend: Backend) {
    if broker("SESAME_TEST_AMQP_URL").is_none() {
        return;
    }
    const N: usize = 5;
    let u = unique();
    let dir = tempfile::tempdir().unwrap();
    let mut server = RabbitServer::start(
        &format!("sesame-{u}"),
        crate::outbox::free_port(),
        dir.path(),
    );
    // A durable queue, so what the broker confirmed outlives it.
    let queue_name = format!("events-{u}");
    let queue = AmqpQueue::bind(&server.url(), "sesame", Some(&queue_name)).await;
    let sinks = format!(
        "[[organizations.event_sinks]]\nname = \"queue\"\ntype = \"rabbitmq\"\nurl = \"{}\"\ntopics = [\"USER_OPERATIONS\"]\ntimeout_seconds = 2\n",
        server.url()
    );
    let app = spawn(&backend, &sinks).await;
    account_events(&app.env, N);
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids.extend(queue.take().await.into_iter().map(|m| m.message_id));
        if ids.len() >= N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ids.len(), N, "the first events");

    // Killed: the events wait in the outbox; confirmed ones are on the broker's disk.
    server.kill();
    account_events(&app.env, N);
    wait_for("a failed attempt", || {
        stdout(&app.cli(&["events", "list", "--org", "acme"])).contains("last error")
    })
    .await;
    server.restart();
    let queue = AmqpQueue::bind(&server.url(), "sesame", Some(&queue_name)).await;
    // A broker killed may hand out again what it had handed out before (its acknowledgements
    // were not on disk yet): consumers drop those by message_id, so count distinct ones.
    for _ in 0..600 {
        ids.extend(queue.take().await.into_iter().map(|m| m.message_id));
        if ids.iter().collect::<HashSet<_>>().len() >= 2 * N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let distinct: HashSet<&String> = ids.iter().collect();
    eprintln!(
        "RabbitMQ killed and started again ({}): {} events published, {} received, {} distinct (the rest handed out again by the restarted broker)",
        crate::outbox::backend_name(&backend),
        2 * N,
        ids.len(),
        distinct.len()
    );
    assert_eq!(distinct.len(), 2 * N, "every event");
    // A message the broker took just before it was killed, unconfirmed, is published again
    // (at least once): its delivery is recorded at its next attempt.
    let recorded = || delivered(&app.env, "queue") == 2 * N;
    for _ in 0..120 {
        if recorded() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        recorded(),
        "{}",
        stdout(&app.cli(&["events", "list", "--org", "acme"]))
    );
}

/// A sink added by an import while the server holds the organization in its cache gets the
/// events queued for it (the worker reads the organization afresh rather than give them up);
/// an import refuses sinks it cannot take, naming each.
async fn a_sink_added_while_the_server_runs_gets_its_events(backend: Backend) {
    let Some(nats) = broker("SESAME_TEST_NATS_URL") else {
        return;
    };
    let u = unique();
    let mut stream = NatsStream::create(&nats, &u).await;
    let app = spawn(&backend, "").await;
    let (status, _) = app.discovery("acme").await;
    assert_eq!(status, 200, "the organization is now cached");
    app.import(&org_toml(&format!(
        "[[organizations.event_sinks]]\nname = \"bus\"\ntype = \"nats\"\nurl = \"{nats}\"\nsubject_prefix = \"{u}\"\ntopics = [\"USER_OPERATIONS\"]\n"
    )));
    account_events(&app.env, 1);
    wait_for("the event in the stream", || {
        delivered(&app.env, "bus") == 1
    })
    .await;
    assert_eq!(stream.count().await, 1);
    stream.delete().await;

    // Refused at import, each named: a second sink of the same name, a topic that is not one,
    // codes for a sink while gateways send the texts, codes in clear to another host.
    let bad = format!(
        "{}\n[[organizations.event_sinks]]\nname = \"bus\"\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\ntopics = [\"LOGINS\"]\n\n[[organizations.event_sinks]]\nname = \"bus\"\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\ntopics = [\"LOGIN\"]\n\n[[organizations.event_sinks]]\nname = \"codes\"\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\ntopics = [\"NOTIFICATIONS\"]\notp_notifications = \"plain\"\n",
        crate::sms_otp::acme_toml("", "")
    );
    let path = app.write_file("bad-sinks.toml", &bad);
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = crate::helpers::stderr(&out);
    assert!(
        err.contains("event_sinks[1]") && err.contains("declared twice"),
        "{err}"
    );
    assert!(err.contains("'LOGIN' is not a topic"), "{err}");
    assert!(
        err.contains("event_sinks[2]") && err.contains("webhook"),
        "{err}"
    );
    let in_clear = org_toml(
        "[[organizations.event_sinks]]\nname = \"codes\"\ntype = \"redis\"\nurl = \"redis://redis.internal:6379\"\ntopics = [\"NOTIFICATIONS\"]\notp_notifications = \"plain\"\n",
    );
    let path = app.write_file("clear-sinks.toml", &in_clear);
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(crate::helpers::stderr(&out).contains("TLS"));
}

both_backends!(
    a_sink_added_while_the_server_runs_gets_its_events,
    a_rabbitmq_server_killed_and_started_again_loses_nothing,
    a_killed_node_loses_no_sink_event,
    every_sink_gets_its_topics_and_codes_only_where_allowed,
    a_nats_server_stopped_and_started_again_loses_nothing,
);
