//! The outbox under failure: the server process killed (SIGKILL) in the middle of deliveries and
//! restarted loses no message; two nodes on one database deliver each message once.

use std::collections::HashSet;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::both_backends;
use crate::gateways::{Provider, http};
use crate::helpers::{Backend, Browser, TestDb, cli, form_field, location, stdout, test_env};

const N: usize = 12;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn org_toml(provider: &str, bearer_file: &str) -> String {
    crate::sms_otp::acme_toml("resend_attempts = 20", "max_attempts = 50").replace(
        "[organizations.lock_policy]",
        &format!(
            "[organizations.sms]\nchannel = \"gateways\"\n{}\n[organizations.lock_policy]",
            http(provider).replace("BEARER_FILE", bearer_file)
        ),
    )
}

pub struct Node {
    child: Child,
    base: String,
}

impl Node {
    pub async fn start(env: &std::collections::HashMap<String, String>) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_sesame"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let base = env["SESAME_BASE_URL"].clone();
        let client = reqwest::Client::new();
        let start = Instant::now();
        while client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map(|r| r.status() != 200)
            .unwrap_or(true)
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the server did not come up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, base }
    }

    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs bob in to mfa-web up to the OTP page, which sends a code (or tries to).
async fn ask_for_a_code(base: &str) -> u16 {
    let browser = Browser::default();
    let mut url = url::Url::parse(&format!("{base}/t/acme/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "mfa-web")
        .append_pair("redirect_uri", crate::sms_otp::MFA_CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid");
    let res = browser
        .authorize_and_sign_in(url.as_str(), "bob", crate::sms_otp::BOB_PASSWORD)
        .await;
    let otp = location(&res);
    let page = browser.client.get(&otp).send().await.unwrap();
    let status = page.status().as_u16();
    assert!(form_field(&page.text().await.unwrap(), "tx").is_some());
    status
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn env_for(db: &TestDb, port: u16) -> std::collections::HashMap<String, String> {
    let mut env = test_env(&db.url, db.dir.path());
    env.insert("SESAME_LISTEN".into(), format!("127.0.0.1:{port}"));
    env.insert("SESAME_BASE_URL".into(), format!("http://127.0.0.1:{port}"));
    env.insert("SESAME_OUTBOUND_ALLOW_PRIVATE".into(), "true".into());
    env.insert("SESAME_DELIVERY_LEASE_SECONDS".into(), "10".into());
    env.insert("SESAME_LOG".into(), "off".into());
    env
}

fn provision(db: &TestDb, env: &std::collections::HashMap<String, String>, provider: &str) {
    let bearer = db.dir.path().join("bearer");
    std::fs::write(&bearer, "token").unwrap();
    let file = db.dir.path().join("org.toml");
    std::fs::write(&file, org_toml(provider, bearer.to_str().unwrap())).unwrap();
    let out = cli(env, &["import", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn a_killed_server_loses_no_message(backend: Backend) {
    let (provider, provider_url) = Provider::start().await;
    let db = TestDb::new(&backend);
    let env = env_for(&db, free_port());
    provision(&db, &env, &provider_url);
    let mut node = Node::start(&env).await;

    // The provider is down: every code waits in the outbox.
    provider.set_down(true);
    for _ in 0..N {
        assert_eq!(ask_for_a_code(&node.base).await, 422, "not sent yet");
    }
    // It comes back, slowly; the server is killed while it delivers.
    provider.set_delay_ms(400);
    provider.set_down(false);
    wait_until("a first delivery", Duration::from_secs(30), || {
        !provider.accepted().is_empty()
    })
    .await;
    node.kill();
    let before_restart = provider.accepted().len();
    let mut node = Node::start(&env).await;
    wait_until("every message", Duration::from_secs(60), || {
        provider.accepted().iter().collect::<HashSet<_>>().len() >= N
    })
    .await;
    // Let late duplicates, if any, arrive before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.kill();
    let accepted = provider.accepted();
    let distinct = accepted.iter().collect::<HashSet<_>>().len();
    eprintln!(
        "kill-and-restart, SMS ({}): {N} messages sent, {distinct} received, {} duplicates, {before_restart} received before the kill",
        backend_name(&backend),
        accepted.len() - distinct
    );
    assert_eq!(distinct, N, "no message lost");
}

async fn two_nodes_deliver_each_message_once(backend: Backend) {
    let (provider, provider_url) = Provider::start().await;
    let db = TestDb::new(&backend);
    let env_a = env_for(&db, free_port());
    let env_b = env_for(&db, free_port());
    provision(&db, &env_a, &provider_url);
    let node_a = Node::start(&env_a).await;
    let _node_b = Node::start(&env_b).await;
    provider.set_down(true);
    for _ in 0..N {
        ask_for_a_code(&node_a.base).await;
    }
    // Both nodes' workers see the same due deliveries when the provider comes back.
    provider.set_down(false);
    wait_until("every message", Duration::from_secs(30), || {
        provider.accepted().iter().collect::<HashSet<_>>().len() >= N
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let accepted = provider.accepted();
    let distinct = accepted.iter().collect::<HashSet<_>>().len();
    assert_eq!(distinct, N);
    assert_eq!(
        accepted.len(),
        N,
        "each message once: {} duplicates",
        accepted.len() - N
    );
}

async fn a_killed_server_loses_no_webhook_event(backend: Backend) {
    let (sub, callback) = crate::websub::Subscriber::start().await;
    let db = TestDb::new(&backend);
    let env = env_for(&db, free_port());
    let secret = db.dir.path().join("hook-secret");
    std::fs::write(&secret, "a-subscriber-secret-0123456789").unwrap();
    let file = db.dir.path().join("hooks.toml");
    std::fs::write(
        &file,
        format!(
            "{}\n[[organizations.webhooks]]\ntopic = \"USER_OPERATIONS\"\ncallback = \"{callback}\"\nsecret = {{ file = \"{}\" }}\n",
            crate::sms_otp::acme_toml("", ""),
            secret.display()
        ),
    )
    .unwrap();
    let out = cli(&env, &["import", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut node = Node::start(&env).await;
    wait_until("the verification", Duration::from_secs(10), || {
        !sub.verifications().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The subscriber is down while events are published.
    sub.down.store(true, std::sync::atomic::Ordering::SeqCst);
    for _ in 0..N {
        let out = cli(&env, &["backup-codes", "--org", "acme", "--user", "bob"]);
        assert!(out.status.success());
    }
    sub.delay_ms.store(300, std::sync::atomic::Ordering::SeqCst);
    sub.down.store(false, std::sync::atomic::Ordering::SeqCst);
    wait_until("a first delivery", Duration::from_secs(30), || {
        !sub.event_ids().is_empty()
    })
    .await;
    node.kill();
    let before_restart = sub.event_ids().len();
    let mut node = Node::start(&env).await;
    wait_until("every event", Duration::from_secs(60), || {
        sub.event_ids().iter().collect::<HashSet<_>>().len() >= N
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.kill();
    let ids = sub.event_ids();
    let distinct = ids.iter().collect::<HashSet<_>>().len();
    eprintln!(
        "kill-and-restart, webhooks ({}): {N} events published, {distinct} received, {} duplicates, {before_restart} received before the kill",
        backend_name(&backend),
        ids.len() - distinct
    );
    assert_eq!(distinct, N, "no event lost");
}

/// A node killed while a receiver holds its deliveries: after the restart every event reaches
/// both receivers, and the one that answered at once gets nothing twice (only what was in
/// flight is replayed).
async fn a_killed_server_replays_only_what_was_in_flight(backend: Backend) {
    use crate::deliveries::{Gate, eventually, webhooks_toml};
    const LANES: usize = 2;
    let (fast, fast_url) = crate::websub::Subscriber::start().await;
    let (slow, slow_url) = Gate::start().await;
    let db = TestDb::new(&backend);
    let mut env = env_for(&db, free_port());
    env.insert("SESAME_DELIVERY_CONCURRENCY".into(), LANES.to_string());
    let secret = db.dir.path().join("hook-secret");
    std::fs::write(&secret, "a-subscriber-secret-0123456789").unwrap();
    let file = db.dir.path().join("hooks.toml");
    std::fs::write(
        &file,
        format!(
            "{}{}",
            crate::sms_otp::acme_toml("", ""),
            webhooks_toml("USER_OPERATIONS", &[&fast_url, &slow_url], &secret)
        ),
    )
    .unwrap();
    let out = cli(&env, &["import", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut node = Node::start(&env).await;
    eventually("both verifications", || {
        slow.verified() && fast.verifications().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..N {
        let out = cli(&env, &["backup-codes", "--org", "acme", "--user", "bob"]);
        assert!(out.status.success());
    }
    eventually("every event at the fast receiver", || {
        fast.event_ids().iter().collect::<HashSet<_>>().len() == N
    })
    .await;
    eventually("the slow receiver's lanes busy", || slow.held() == LANES).await;
    // The fast receiver records an event before it answers: the kill comes only once the node
    // has recorded every answer, so what is replayed is what was in flight, never an answered one.
    eventually("every fast delivery recorded as delivered", || {
        stdout(&cli(
            &env,
            &["events", "list", "--org", "acme", "--limit", "1000"],
        ))
        .matches(": delivered after")
        .count()
            == N
    })
    .await;
    node.kill();
    eventually("the killed node's requests hung up", || slow.held() == 0).await;
    slow.open();
    let mut node = Node::start(&env).await;
    eventually("every event at the slow receiver", || {
        slow.answered().iter().collect::<HashSet<_>>().len() == N
    })
    .await;
    // Late duplicates, if any, arrive before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.kill();
    eprintln!(
        "kill with deliveries held ({}): {N} events, {} requests reached the slow receiver, {} the fast one",
        backend_name(&backend),
        slow.arrived(),
        fast.event_ids().len()
    );
    assert_eq!(
        fast.event_ids().len(),
        N,
        "nothing replayed to the fast receiver"
    );
    assert!(slow.most_held() <= LANES);
}

pub fn backend_name(backend: &Backend) -> &'static str {
    if matches!(backend, Backend::Sqlite) {
        "sqlite"
    } else {
        "postgres"
    }
}

both_backends!(
    a_killed_server_loses_no_message,
    a_killed_server_loses_no_webhook_event,
    a_killed_server_replays_only_what_was_in_flight,
    two_nodes_deliver_each_message_once
);
