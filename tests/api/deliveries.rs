//! Deliveries per target, against real receivers on loopback: a receiver that hangs holds only
//! its own lanes (at most `SESAME_DELIVERY_CONCURRENCY` requests at once), while another
//! receiver of the same events gets all of them; released, it gets every event too.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, TestDb, test_env};
use crate::sms_otp::{BOB_PASSWORD, password_step};

const SECRET: &str = "a-subscriber-secret-0123456789";
/// Lanes per target in these tests.
const LANES: usize = 2;
/// Events published: more than the lanes, so the blocked receiver's backlog waits.
const EVENTS: usize = 6;

/// A WebSub receiver that confirms subscriptions at once and holds every delivery until the
/// test opens the gate. It counts the deliveries it holds at any moment: a request whose
/// connection the sender closed (it gave up) no longer counts.
#[derive(Clone, Default)]
pub struct Gate {
    open: Arc<AtomicBool>,
    opened: Arc<tokio::sync::Notify>,
    held: Arc<AtomicUsize>,
    most_held: Arc<AtomicUsize>,
    arrived: Arc<AtomicUsize>,
    /// Event ids of the deliveries answered 2xx.
    answered: Arc<Mutex<Vec<String>>>,
    verified: Arc<AtomicBool>,
}

impl Gate {
    pub async fn start() -> (Self, String) {
        let gate = Self::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let g = gate.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(g.clone().serve(stream));
            }
        });
        (gate, format!("http://127.0.0.1:{port}/hook"))
    }

    /// One request per connection (`Connection: close`), so one connection is one delivery.
    async fn serve(self, mut stream: TcpStream) {
        let Some((head, body)) = read_request(&mut stream).await else {
            return;
        };
        let request_line = head.lines().next().unwrap_or_default().to_string();
        if request_line.starts_with("GET ") {
            let query = request_line
                .split_whitespace()
                .nth(1)
                .and_then(|target| target.split_once('?'))
                .map_or("", |(_, q)| q);
            let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let challenge = params.get("hub.challenge").cloned().unwrap_or_default();
            self.verified.store(true, Ordering::SeqCst);
            respond(&mut stream, "200 OK", &challenge).await;
            return;
        }
        let event_id = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("x-sesame-event-id")
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default();
        drop(body);
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let now_held = self.held.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_held.fetch_max(now_held, Ordering::SeqCst);
        // Held until the gate opens, or until the sender hangs up.
        let mut probe = [0u8; 1];
        let released = loop {
            let opened = self.opened.notified();
            if self.open.load(Ordering::SeqCst) {
                break true;
            }
            tokio::select! {
                () = opened => {}
                read = stream.read(&mut probe) => match read {
                    Ok(0) | Err(_) => break false,
                    Ok(_) => {}
                },
            }
        };
        // No longer held once released: counted down before the answer, which lets the sender
        // start its next delivery (counting down after would see both at once).
        self.held.fetch_sub(1, Ordering::SeqCst);
        if released {
            respond(&mut stream, "204 No Content", "").await;
            self.answered.lock().unwrap().push(event_id);
        }
    }

    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        self.opened.notify_waiters();
    }

    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    pub fn most_held(&self) -> usize {
        self.most_held.load(Ordering::SeqCst)
    }

    pub fn arrived(&self) -> usize {
        self.arrived.load(Ordering::SeqCst)
    }

    pub fn answered(&self) -> Vec<String> {
        self.answered.lock().unwrap().clone()
    }

    pub fn verified(&self) -> bool {
        self.verified.load(Ordering::SeqCst)
    }
}

/// Reads a request's head and its `Content-Length` body.
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Waits for a condition the system must reach; the limit only stops a broken run.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The provisioning file's subscriptions of acme to `topic`, one per callback.
pub fn webhooks_toml(topic: &str, callbacks: &[&str], secret_file: &std::path::Path) -> String {
    callbacks
        .iter()
        .map(|callback| {
            format!(
                "\n[[organizations.webhooks]]\ntopic = \"{topic}\"\ncallback = \"{callback}\"\nsecret = {{ file = \"{}\" }}\n",
                secret_file.display()
            )
        })
        .collect()
}

pub fn active_subscriptions(app: &TestApp) -> usize {
    use diesel::prelude::*;
    use sesame::store::schema::subscriptions::dsl::*;
    let mut conn = app.db.get().unwrap();
    subscriptions
        .filter(state.eq("active"))
        .count()
        .get_result::<i64>(&mut conn)
        .unwrap() as usize
}

async fn a_hanging_receiver_holds_up_only_itself(backend: Backend) {
    let db = TestDb::new(&backend);
    let mut env = test_env(&db.url, db.dir.path());
    env.insert("SESAME_OUTBOUND_ALLOW_PRIVATE".into(), "true".into());
    env.insert("SESAME_DELIVERY_CONCURRENCY".into(), LANES.to_string());
    let app = TestApp::spawn_with(db, env).await;
    let (fast, fast_url) = crate::websub::Subscriber::start().await;
    let (slow, slow_url) = Gate::start().await;
    let secret = app.write_file("hook-secret", SECRET);
    app.import(&format!(
        "{}{}",
        crate::sms_otp::acme_toml("", "max_attempts = 50"),
        webhooks_toml("LOGINS", &[&fast_url, &slow_url], &secret)
    ));
    eventually("both subscriptions active", || {
        active_subscriptions(&app) == 2
    })
    .await;
    assert!(slow.verified() && fast.verifications().len() == 1);

    // Each sign-in publishes a loginSuccess event to both receivers, from the request.
    for _ in 0..EVENTS {
        let res = password_step(&app, &Browser::default(), "pwd-web", "bob", BOB_PASSWORD).await;
        assert_eq!(res.status(), 303);
    }
    eventually("every event at the fast receiver", || {
        fast.event_ids().iter().collect::<HashSet<_>>().len() == EVENTS
    })
    .await;
    // ... while the slow one still holds its first deliveries, no more than its lanes.
    eventually("the slow receiver's lanes busy", || slow.held() == LANES).await;
    assert!(slow.answered().is_empty(), "the gate is still closed");
    assert_eq!(
        slow.most_held(),
        LANES,
        "at most {LANES} in flight to one target"
    );
    assert_eq!(fast.event_ids().len(), EVENTS, "each once");

    slow.open();
    eventually("every event at the slow receiver", || {
        slow.answered().iter().collect::<HashSet<_>>().len() == EVENTS
    })
    .await;
    assert!(
        slow.most_held() <= LANES,
        "{} held at once",
        slow.most_held()
    );
    let fast_ids: HashSet<String> = fast.event_ids().into_iter().collect();
    let slow_ids: HashSet<String> = slow.answered().into_iter().collect();
    assert_eq!(fast_ids, slow_ids, "the same events to both");
}

both_backends!(a_hanging_receiver_holds_up_only_itself);
