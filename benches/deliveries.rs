//! Event deliveries of a running Sesame to WebSub receivers on loopback:
//!
//! - **throughput**: events published to a topic only a fast receiver subscribes to, in
//!   transactions of [`BATCH`] events as fast as the database takes them; deliveries per second
//!   from the first commit to the last event's arrival;
//! - **latency**: events published one per transaction at [`RATE`] per second to a topic that a
//!   fast receiver and a slow one (answering after [`SLOW`]) both subscribe to; p50/p99 from the
//!   start of the committing transaction to the event's arrival at the fast receiver.
//!
//! Run with `cargo bench --bench deliveries`. It prints figures and never fails on time: numbers
//! from a shared 2-core machine are for comparing runs, not for gating them.
//!
//! Events are published the way the sign-in engine publishes them (`Publish::store` inside a
//! write transaction through the pool), so the worker is woken as in production. The real
//! application is booted in-process on a port-0 listener, with its delivery worker; the
//! receivers (actix-web) share the process and the CPU. Each round has a fresh database and its
//! own runtime, dropped afterwards, so no round's backlog reaches the next.
//!
//! SQLite (in a temporary directory) always runs. With `SESAME_BENCH_DATABASE_URL` naming a
//! PostgreSQL server (e.g. `postgres://postgres@127.0.0.1:5432/postgres`), the same runs on a
//! freshly created database there, dropped afterwards. `SESAME_BENCH_ROUNDS` sets the rounds per
//! backend (default 3); `SESAME_DELIVERY_CONCURRENCY` and `SESAME_DATABASE_POOL_SIZE`, when set,
//! are passed to the server.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use sesame::Application;
use sesame::config::Settings;
use sesame::events::hub::Publish;
use sesame::state::Core;

/// Events of the throughput run.
const THROUGHPUT_EVENTS: usize = 5_000;
/// Events per transaction in the throughput run (publishing must outpace delivery).
const BATCH: usize = 50;
/// Events per second in the latency run, one per transaction, and for how long.
const RATE: u64 = 25;
const LATENCY_SECONDS: u64 = 12;
/// How long the slow receiver takes to answer each delivery.
const SLOW: Duration = Duration::from_secs(2);
/// A run that has not seen every event by then reports what arrived.
const PATIENCE: Duration = Duration::from_secs(300);

const ORG: &str = "bench";
const SECRET: &str = "a-bench-subscriber-secret-0123456789";
/// A fixed key-encryption key (base64 of 32 bytes): the bench's keys are thrown away anyway.
const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[derive(Debug, Clone)]
enum Backend {
    Sqlite,
    /// The admin URL of a PostgreSQL server, where the bench database is created.
    Postgres(String),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// A fresh database, removed with the guard (also when a run panics part-way).
#[derive(Debug)]
struct BenchDb {
    url: String,
    dir: tempfile::TempDir,
    /// The admin URL and the database name to drop (PostgreSQL only).
    pg: Option<(String, String)>,
}

impl BenchDb {
    fn new(backend: &Backend) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}", dir.path().join("sesame.db").display()),
                dir,
                pg: None,
            },
            Backend::Postgres(admin_url) => {
                let name = format!("sesame_bench_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(admin_url).unwrap_or_else(|e| {
                    panic!("SESAME_BENCH_DATABASE_URL is set but unreachable: {e}")
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create the bench database");
                let mut url =
                    url::Url::parse(admin_url).expect("SESAME_BENCH_DATABASE_URL is a URL");
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    dir,
                    pg: Some((admin_url.clone(), name)),
                }
            }
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.pg {
            // FORCE: the server's pool still holds connections.
            let dropped = PgConnection::establish(admin_url)
                .map_err(|e| e.to_string())
                .and_then(|mut admin| {
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .map_err(|e| e.to_string())
                });
            if let Err(e) = dropped {
                eprintln!("could not drop the bench database {name}: {e}");
            }
        }
    }
}

/// A WebSub receiver: confirms subscriptions, and records when each event first arrived.
#[derive(Clone, Default)]
struct Receiver {
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    requests: Arc<std::sync::atomic::AtomicUsize>,
}

impl Receiver {
    /// Starts it on a port-0 listener; it answers each delivery after `delay`.
    fn start(delay: Duration) -> (Self, String) {
        let receiver = Self::default();
        let r = receiver.clone();
        let server = HttpServer::new(move || {
            let r = r.clone();
            App::new().default_service(web::to(move |req: HttpRequest, _body: web::Bytes| {
                let r = r.clone();
                async move {
                    if req.method() == actix_web::http::Method::GET {
                        let challenge = url::form_urlencoded::parse(req.query_string().as_bytes())
                            .find(|(k, _)| k == "hub.challenge")
                            .map(|(_, v)| v.into_owned())
                            .unwrap_or_default();
                        return HttpResponse::Ok().body(challenge);
                    }
                    let at = Instant::now();
                    r.requests
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if let Some(id) = req
                        .headers()
                        .get("x-sesame-event-id")
                        .and_then(|v| v.to_str().ok())
                    {
                        r.arrivals
                            .lock()
                            .expect("arrivals lock")
                            .entry(id.to_string())
                            .or_insert(at);
                    }
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    HttpResponse::NoContent().finish()
                }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("bind the receiver");
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        (receiver, format!("http://127.0.0.1:{port}/hook"))
    }

    fn arrivals(&self) -> HashMap<String, Instant> {
        self.arrivals.lock().expect("arrivals lock").clone()
    }

    fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A running Sesame whose organization has the fast receiver on `LOGINS` and
/// `USER_OPERATIONS`, and the slow one on `USER_OPERATIONS`.
struct Server {
    core: Arc<Core>,
    fast: Receiver,
    slow: Receiver,
    _db: BenchDb,
}

impl Server {
    async fn start(backend: &Backend) -> Self {
        let db = BenchDb::new(backend);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = listener.local_addr().expect("a local address").port();
        let mut env = HashMap::from([
            ("DATABASE_URL", db.url.clone()),
            ("SESAME_LISTEN", "127.0.0.1:0".to_string()),
            ("SESAME_BASE_URL", format!("http://127.0.0.1:{port}")),
            ("SESAME_KEY_ENCRYPTION_KEY", KEK.to_string()),
            ("SESAME_DATA_DIR", db.dir.path().display().to_string()),
            ("SESAME_OUTBOUND_ALLOW_PRIVATE", "true".to_string()),
            ("SESAME_LOG", "off".to_string()),
        ]);
        // Settings of the delivery worker and the pool to compare, from the bench's environment.
        for name in ["SESAME_DELIVERY_CONCURRENCY", "SESAME_DATABASE_POOL_SIZE"] {
            if let Ok(value) = std::env::var(name) {
                env.insert(name, value);
            }
        }
        let settings = Settings::from_sources(None, &|name| env.get(name).cloned())
            .expect("bench settings are valid");
        sesame::telemetry::init(&settings.log);
        let app = Application::build_with_sms(
            settings,
            listener,
            Arc::new(sesame::sms::Capture::default()),
        )
        .await
        .expect("the application builds");
        let core = app.state().core.clone();
        let (fast, fast_url) = Receiver::start(Duration::ZERO);
        let (slow, slow_url) = Receiver::start(SLOW);
        let secret = db.dir.path().join("webhook-secret");
        std::fs::write(&secret, SECRET).expect("write the webhook secret");
        let hooks: String = [
            ("LOGINS", &fast_url),
            ("USER_OPERATIONS", &fast_url),
            ("USER_OPERATIONS", &slow_url),
        ]
        .iter()
        .map(|(topic, callback)| {
            format!(
                "\n[[organizations.webhooks]]\ntopic = \"{topic}\"\ncallback = \"{callback}\"\nsecret = {{ file = \"{}\" }}\n",
                secret.display()
            )
        })
        .collect();
        let toml =
            format!("[[organizations]]\nslug = \"{ORG}\"\ndisplay_name = \"Bench Corp\"\n{hooks}");
        let plan =
            sesame::provisioning::Plan::parse(&toml, "bench").unwrap_or_else(|e| panic!("{e}"));
        let kek = core.keys.kek().clone();
        let recorder = sesame::admin::audit::Recorder::new(
            &core.settings,
            sesame::admin::Actor::operator(sesame::admin::Via::Import),
        );
        core.db
            .run(move |conn| plan.apply(conn, &kek, &recorder))
            .await
            .expect("the provisioning file applies");
        tokio::spawn(app.run_until_stopped());
        let server = Self {
            core,
            fast,
            slow,
            _db: db,
        };
        // The worker verifies the subscriptions (a GET to each callback) before any delivery.
        let started = Instant::now();
        while server.active_subscriptions().await < 3 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the subscriptions were not verified"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    async fn active_subscriptions(&self) -> i64 {
        use diesel::prelude::*;
        use sesame::store::schema::subscriptions::dsl::{state, subscriptions};
        self.core
            .db
            .run(|conn| {
                Ok(subscriptions
                    .filter(state.eq("active"))
                    .count()
                    .get_result::<i64>(conn)?)
            })
            .await
            .expect("count the subscriptions")
    }

    /// Publishes `n` events on `topic` in one transaction; returns their ids.
    async fn publish(&self, topic: &'static str, n: usize) -> Vec<String> {
        let org = self.core.organization(ORG).await.expect("the organization");
        let events: Vec<Publish> = (0..n)
            .map(|i| {
                let (uri, kind) = if topic == "LOGINS" {
                    (sesame::events::hub::LOGIN_SUCCESS, "LoginSuccessEvent")
                } else {
                    (sesame::events::hub::LOCK_USER, "LockUserEvent")
                };
                Publish::new(
                    org.event_origin(),
                    topic,
                    uri,
                    kind,
                    serde_json::json!({ "userId": format!("user-{i}"), "username": "bench" }),
                )
            })
            .collect();
        let ids = events.iter().map(|e| e.event.jti.clone()).collect();
        self.core
            .db
            .run(move |conn| {
                sesame::store::write_transaction(conn, |conn| {
                    for event in &events {
                        event.store(conn)?;
                    }
                    Ok(())
                })
            })
            .await
            .expect("the events are stored");
        ids
    }
}

/// Waits until `receiver` saw every one of `ids`, or [`PATIENCE`] ran out; returns the arrivals.
async fn arrivals_of(receiver: &Receiver, ids: &[String]) -> HashMap<String, Instant> {
    let started = Instant::now();
    loop {
        let arrivals = receiver.arrivals();
        let seen = ids.iter().filter(|id| arrivals.contains_key(*id)).count();
        if seen == ids.len() || started.elapsed() > PATIENCE {
            return arrivals;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Debug, Clone, Copy)]
struct Throughput {
    per_second: f64,
    arrived: usize,
}

async fn throughput(server: &Server) -> Throughput {
    let started = Instant::now();
    let mut ids = Vec::with_capacity(THROUGHPUT_EVENTS);
    while ids.len() < THROUGHPUT_EVENTS {
        ids.extend(
            server
                .publish("LOGINS", BATCH.min(THROUGHPUT_EVENTS - ids.len()))
                .await,
        );
    }
    let arrivals = arrivals_of(&server.fast, &ids).await;
    let last = ids
        .iter()
        .filter_map(|id| arrivals.get(id))
        .max()
        .copied()
        .unwrap_or(started);
    let arrived = ids.iter().filter(|id| arrivals.contains_key(*id)).count();
    Throughput {
        per_second: arrived as f64 / (last - started).as_secs_f64().max(1e-9),
        arrived,
    }
}

#[derive(Debug, Clone, Copy)]
struct Latency {
    p50_ms: f64,
    p99_ms: f64,
    arrived: usize,
    published: usize,
    /// Deliveries the slow receiver got while the run lasted.
    slow_requests: usize,
}

async fn latency(server: &Server) -> Latency {
    let mut committed: Vec<(String, Instant)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for _ in 0..RATE * LATENCY_SECONDS {
        tick.tick().await;
        let at = Instant::now();
        let id = server.publish("USER_OPERATIONS", 1).await.remove(0);
        committed.push((id, at));
    }
    let ids: Vec<String> = committed.iter().map(|(id, _)| id.clone()).collect();
    let arrivals = arrivals_of(&server.fast, &ids).await;
    let slow_requests = server.slow.requests();
    let mut ms: Vec<f64> = committed
        .iter()
        .filter_map(|(id, at)| {
            arrivals
                .get(id)
                .map(|a| a.saturating_duration_since(*at).as_secs_f64() * 1_000.0)
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    Latency {
        p50_ms: percentile(&ms, 50.0),
        p99_ms: percentile(&ms, 99.0),
        arrived: ms.len(),
        published: committed.len(),
        slow_requests,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(&values, 50.0)
}

/// One round on a fresh server, in a runtime of its own (dropped with the server's worker).
fn round(backend: &Backend) -> (Throughput, Latency) {
    // As many runtime threads as the tests use (the actix servers run their own workers).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let server = Server::start(backend).await;
        let t = throughput(&server).await;
        let l = latency(&server).await;
        (t, l)
    })
}

fn main() {
    let mut backends = vec![Backend::Sqlite];
    match std::env::var("SESAME_BENCH_DATABASE_URL") {
        Ok(url) if !url.is_empty() => backends.push(Backend::Postgres(url)),
        _ => eprintln!("PostgreSQL not run: set SESAME_BENCH_DATABASE_URL to include it"),
    }
    let rounds: usize = std::env::var("SESAME_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "Sesame event deliveries: server, receivers and publisher in one process, {cores} cores"
    );
    println!(
        "throughput: {THROUGHPUT_EVENTS} events to a fast receiver, {BATCH} per transaction; \
         latency: {RATE} events/s for {LATENCY_SECONDS} s to a fast receiver and one answering after {} s",
        SLOW.as_secs()
    );
    println!(
        "{:<9} {:>5} {:>14} {:>16} {:>16} {:>10} {:>14}",
        "backend", "round", "deliveries/s", "fast p50 ms", "fast p99 ms", "arrived", "slow reached"
    );
    for backend in &backends {
        let mut results = Vec::new();
        for i in 0..rounds {
            let (t, l) = round(backend);
            println!(
                "{:<9} {:>5} {:>14.0} {:>16.1} {:>16.1} {:>10} {:>14}",
                backend.name(),
                i + 1,
                t.per_second,
                l.p50_ms,
                l.p99_ms,
                format!("{}/{}", l.arrived, l.published),
                l.slow_requests,
            );
            if t.arrived < THROUGHPUT_EVENTS {
                println!(
                    "          (throughput: {}/{THROUGHPUT_EVENTS} arrived within {} s)",
                    t.arrived,
                    PATIENCE.as_secs()
                );
            }
            results.push((t, l));
        }
        println!(
            "{:<9} {:>5} {:>14.0} {:>16.1} {:>16.1}",
            backend.name(),
            "median",
            median(results.iter().map(|(t, _)| t.per_second).collect()),
            median(results.iter().map(|(_, l)| l.p50_ms).collect()),
            median(results.iter().map(|(_, l)| l.p99_ms).collect()),
        );
    }
}
