//! Throughput and latency of the hottest endpoints of a running Sesame: the token endpoint's
//! authorization-code exchange and client-credentials grant, UserInfo, and the SMS OTP step of a multi-factor sign-in (the
//! right code submitted: attempt counting, the keyed-hash check, spending the code, the session
//! and the authorization code).
//!
//! Run with `cargo bench --bench endpoints`. It prints figures and never fails on time: numbers
//! from a shared 2-core machine are for comparing runs, not for gating them.
//!
//! The real application is booted in-process on a port-0 listener, exactly as the integration
//! tests do, and driven over HTTP by reqwest. The load generator therefore shares the CPU with
//! the server, which lowers absolute figures but keeps them comparable from run to run.
//!
//! SQLite (in a temporary directory) always runs. With `SESAME_BENCH_DATABASE_URL` naming a
//! PostgreSQL server (e.g. `postgres://postgres@127.0.0.1:5432/postgres`), the same runs on a
//! freshly created database there, dropped afterwards.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use sesame::Application;
use sesame::config::Settings;
use sesame::secret::Secret;
use sesame::store::Db;

/// In-flight requests at any moment: enough to keep both server workers and the database busy
/// without turning the run into a measurement of queueing in the load generator.
const CONCURRENCY: usize = 8;
const USERINFO_REQUESTS: usize = 2_000;
const EXCHANGE_REQUESTS: usize = 500;
const CLIENT_CREDENTIALS_REQUESTS: usize = 2_000;
/// Untimed requests first, so connection set-up, the signing-key load and the org cache are not
/// counted.
const WARMUP_REQUESTS: usize = 50;
/// Codes live 60 seconds; minting them in batches keeps each one fresh however slow a backend is.
const CODE_BATCH: usize = 250;
const PASSWORD_VERIFICATIONS: usize = 20;
/// OTP submissions timed; each needs its own sign-in up to the OTP page (untimed), and each
/// user may be sent only a few codes an hour, so every submission has its own user.
const OTP_REQUESTS: usize = 200;
const OTP_WARMUP: usize = 16;
const MFA_CLIENT_ID: &str = "bench-mfa";
/// A service (no user): the client-credentials grant.
const SERVICE_CLIENT_ID: &str = "bench-svc";

const ORG: &str = "bench";
const CLIENT_ID: &str = "bench-web";
const CLIENT_SECRET: &str = "a-bench-client-secret-of-forty-characters";
const REDIRECT_URI: &str = "https://app.bench.example/callback";
const USERNAME: &str = "alice";
const PASSWORD: &str = "alices-long-password";
/// A fixed key-encryption key (base64 of 32 bytes): the bench's keys are thrown away anyway.
const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn provisioning_toml(otp_users: usize, phc: &str) -> String {
    let users: String = (0..otp_users)
        .map(|i| {
            format!(
                "\n[[organizations.users]]\nusername = \"otp{i}\"\npassword_hash = \"{phc}\"\nphone_number = \"+14155{i:06}\"\nphone_number_verified = true\n"
            )
        })
        .collect();
    format!(
        r#"
[[organizations]]
slug = "{ORG}"
display_name = "Bench Corp"
[organizations.sms_otp]
resend_cooldown_seconds = 0

[organizations.sms_otp.limits]
# A load test from one address: the client and organization limits out of the way,
# no per-country alerts (see the README's SMS limits).
user_per_day = 10000
number_per_day = 10000
ip_per_hour = 1000000
ip_per_day = 10000000
organization_per_hour = 10000000
organization_per_day = 100000000
country_alert_per_hour = 0

[[organizations.applications]]
client_id = "{CLIENT_ID}"
type = "confidential"
client_secret = "{CLIENT_SECRET}"
redirect_uris = ["{REDIRECT_URI}"]

[[organizations.applications]]
client_id = "{MFA_CLIENT_ID}"
type = "confidential"
client_secret = "{CLIENT_SECRET}"
redirect_uris = ["{REDIRECT_URI}"]
sign_in_flow = "username_password_sms_otp"

[[organizations.applications]]
client_id = "{SERVICE_CLIENT_ID}"
type = "confidential"
client_secret = "{CLIENT_SECRET}"
grant_types = ["client_credentials"]
{users}

[[organizations.users]]
username = "{USERNAME}"
password = "{PASSWORD}"
email = "alice@bench.example"
email_verified = true
[organizations.users.profile]
given_name = "Alice"
family_name = "Bench"
"#
    )
}

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
            // FORCE: the server's pool still holds connections, and there is no way to stop it.
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

/// A running Sesame with one organization, application and user.
#[derive(Debug)]
struct Server {
    issuer: String,
    /// Keeps no cookies: the token and UserInfo endpoints are called by relying parties.
    client: reqwest::Client,
    /// The text messages sent (an in-process capture: nothing leaves the machine).
    sms: Arc<sesame::sms::Capture>,
    _db: BenchDb,
}

impl Server {
    async fn start(backend: &Backend) -> Self {
        let db = BenchDb::new(backend);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = listener.local_addr().expect("a local address").port();
        let address = format!("http://127.0.0.1:{port}");
        let env = HashMap::from([
            ("DATABASE_URL", db.url.clone()),
            ("SESAME_LISTEN", "127.0.0.1:0".to_string()),
            ("SESAME_BASE_URL", address.clone()),
            ("SESAME_KEY_ENCRYPTION_KEY", KEK.to_string()),
            ("SESAME_DATA_DIR", db.dir.path().display().to_string()),
            ("SESAME_LOG", "off".to_string()),
        ]);
        let settings = Settings::from_sources(None, &|name| env.get(name).cloned())
            .expect("bench settings are valid");
        sesame::telemetry::init(&settings.log);
        let sms = Arc::new(sesame::sms::Capture::default());
        let app = Application::build_with_sms(settings, listener, sms.clone())
            .await
            .expect("the application builds");
        let recorder = sesame::admin::audit::Recorder::new(
            &app.state().settings,
            sesame::admin::Actor::operator(sesame::admin::Via::Import),
        );
        provision(
            app.state().db.clone(),
            app.state().keys.kek().clone(),
            recorder,
        )
        .await;
        tokio::spawn(app.run_until_stopped());
        Self {
            issuer: format!("{address}/t/{ORG}"),
            client: no_redirects().build().expect("an HTTP client"),
            sms,
            _db: db,
        }
    }

    fn authorize_url(&self) -> String {
        self.authorize_url_for(CLIENT_ID)
    }

    fn authorize_url_for(&self, client_id: &str) -> String {
        let mut url = url::Url::parse(&format!("{}/authorize", self.issuer)).expect("a URL");
        url.query_pairs_mut()
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid email profile");
        url.to_string()
    }

    async fn exchange(&self, code: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/token", self.issuer))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
            ])
            .send()
            .await
            .expect("the token request is sent")
    }

    async fn client_credentials(&self) -> reqwest::Response {
        self.client
            .post(format!("{}/token", self.issuer))
            .basic_auth(SERVICE_CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("the token request is sent")
    }

    async fn userinfo(&self, access_token: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/userinfo", self.issuer))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("the UserInfo request is sent")
    }
}

/// Redirects are the protocol here (codes arrive in a `Location`), so none are followed.
fn no_redirects() -> reqwest::ClientBuilder {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none())
}

/// Applies the provisioning file through the library, as `sesame import` would. Blocking work
/// (argon2 hashing of the user's password, Diesel), so off the async threads.
async fn provision(db: Db, kek: sesame::keys::Kek, recorder: sesame::admin::audit::Recorder) {
    // One hash for every OTP user: provisioning stays fast.
    let phc = sesame::password::hash(&Secret::new(PASSWORD.to_string()));
    let toml = provisioning_toml(OTP_REQUESTS + OTP_WARMUP, &phc);
    let plan = sesame::provisioning::Plan::parse(&toml, "bench").unwrap_or_else(|e| panic!("{e}"));
    tokio::task::spawn_blocking(move || {
        let mut conn = db.get().expect("a database connection");
        plan.apply(&mut conn, &kek, &recorder)
            .expect("the provisioning file applies")
    })
    .await
    .expect("provisioning ran");
}

/// Panics with the response body: an unexpected answer is a finding to report, not to skip.
async fn expect_status(res: reqwest::Response, want: u16, what: &str) -> reqwest::Response {
    if res.status().as_u16() == want {
        return res;
    }
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    panic!("{what}: expected {want}, got {status}: {body}");
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location header")
        .to_string()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The value of a hidden form field in the sign-in page.
fn form_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(
        html[start..start + end]
            .replace("&amp;", "&")
            .replace("&#x2f;", "/")
            .replace("&#x2F;", "/"),
    )
}

/// A browser signed in once. Its SSO session makes every later authorization request answer
/// with a code at once, so codes can be minted without paying for argon2 each time.
#[derive(Debug)]
struct Browser {
    client: reqwest::Client,
    authorize_url: String,
}

impl Browser {
    async fn sign_in(server: &Server) -> Self {
        let client = no_redirects()
            .cookie_store(true)
            .build()
            .expect("an HTTP client");
        let authorize_url = server.authorize_url();
        let res = client.get(&authorize_url).send().await.expect("authorize");
        let login = location(&expect_status(res, 303, "authorize without a session").await);
        assert!(
            login.contains("/login?tx="),
            "not the sign-in page: {login}"
        );
        let page = client.get(&login).send().await.expect("the sign-in page");
        let html = expect_status(page, 200, "the sign-in page")
            .await
            .text()
            .await
            .expect("the sign-in page's body");
        let form = [
            ("tx", form_field(&html, "tx").expect("a tx field")),
            ("csrf", form_field(&html, "csrf").expect("a csrf field")),
            ("username", USERNAME.to_string()),
            ("password", PASSWORD.to_string()),
        ];
        let action = login.split('?').next().expect("a path").to_string();
        let res = client
            .post(action)
            .form(&form)
            .send()
            .await
            .expect("sign in");
        let back = location(&expect_status(res, 303, "sign-in").await);
        assert!(
            query_param(&back, "code").is_some(),
            "no code after sign-in: {back}"
        );
        Self {
            client,
            authorize_url,
        }
    }

    async fn code(&self) -> String {
        let res = self
            .client
            .get(&self.authorize_url)
            .send()
            .await
            .expect("authorize");
        let back = location(&expect_status(res, 303, "authorize with a session").await);
        query_param(&back, "code").unwrap_or_else(|| panic!("no code in {back}"))
    }

    async fn codes(&self, n: usize) -> Vec<String> {
        let mut codes = Vec::with_capacity(n);
        for _ in 0..n {
            codes.push(self.code().await);
        }
        codes
    }
}

/// The timing of one batch of requests: its wall-clock time and each request's latency.
#[derive(Debug, Default)]
struct Run {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn add(&mut self, other: Run) {
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
    }

    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// Nearest-rank percentile, in milliseconds.
    fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1_000.0
    }
}

/// Sends one request per item with `CONCURRENCY` of them in flight, timing each one.
///
/// A fixed set of workers pulling from a shared queue (rather than a task per request) keeps
/// the in-flight count constant, so latency reflects the server and not a pile-up of tasks.
async fn drive<T, F, Fut>(items: Vec<T>, request: F) -> Run
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let queue = Arc::new(Mutex::new(items.into_iter()));
    let start = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (queue, request) = (queue.clone(), request.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let next = queue.lock().expect("the queue lock").next();
                    let Some(item) = next else { break };
                    let sent = Instant::now();
                    request(item).await;
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut run = Run::default();
    for worker in workers {
        run.latencies
            .extend(worker.await.expect("a request failed (see above)"));
    }
    run.elapsed = start.elapsed();
    run
}

async fn exchange_codes(server: &Arc<Server>, codes: Vec<String>) -> Run {
    let server = server.clone();
    drive(codes, move |code| {
        let server = server.clone();
        async move {
            let res = server.exchange(&code).await;
            // The body is read so the timing covers the whole response, signing included.
            let _ = expect_status(res, 200, "code exchange").await.bytes().await;
        }
    })
    .await
}

async fn bench_code_exchange(server: &Arc<Server>, browser: &Browser) -> Run {
    exchange_codes(server, browser.codes(WARMUP_REQUESTS).await).await;
    let mut total = Run::default();
    let mut left = EXCHANGE_REQUESTS;
    while left > 0 {
        let n = left.min(CODE_BATCH);
        // Minting is untimed: only the exchanges below count.
        let codes = browser.codes(n).await;
        total.add(exchange_codes(server, codes).await);
        left -= n;
    }
    total
}

async fn bench_client_credentials(server: &Arc<Server>) -> Run {
    let call = |server: Arc<Server>| {
        move |()| {
            let server = server.clone();
            async move {
                let res = server.client_credentials().await;
                let _ = expect_status(res, 200, "client_credentials")
                    .await
                    .bytes()
                    .await;
            }
        }
    };
    drive(vec![(); WARMUP_REQUESTS], call(server.clone())).await;
    drive(vec![(); CLIENT_CREDENTIALS_REQUESTS], call(server.clone())).await
}

async fn bench_userinfo(server: &Arc<Server>, browser: &Browser) -> Run {
    let res = server.exchange(&browser.code().await).await;
    let tokens: serde_json::Value = expect_status(res, 200, "code exchange")
        .await
        .json()
        .await
        .expect("a JSON token response");
    let token: Arc<str> = tokens["access_token"]
        .as_str()
        .expect("an access token")
        .into();
    let call = |server: Arc<Server>, token: Arc<str>| {
        move |()| {
            let (server, token) = (server.clone(), token.clone());
            async move {
                let res = server.userinfo(&token).await;
                let _ = expect_status(res, 200, "UserInfo").await.bytes().await;
            }
        }
    };
    drive(
        vec![(); WARMUP_REQUESTS],
        call(server.clone(), token.clone()),
    )
    .await;
    drive(vec![(); USERINFO_REQUESTS], call(server.clone(), token)).await
}

/// One sign-in waiting at its OTP page, with the code the user received.
struct AtOtp {
    client: reqwest::Client,
    action: String,
    form: Vec<(&'static str, String)>,
}

/// Signs user `otp{i}` in to the MFA application up to the OTP page (untimed: argon2 and the
/// send are not what this measures) and reads the code from the captured text message.
async fn to_otp_page(server: &Server, i: usize) -> AtOtp {
    let client = no_redirects()
        .cookie_store(true)
        .build()
        .expect("an HTTP client");
    let res = client
        .get(server.authorize_url_for(MFA_CLIENT_ID))
        .send()
        .await
        .expect("authorize");
    let login = location(&expect_status(res, 303, "authorize").await);
    let html = expect_status(
        client.get(&login).send().await.expect("login"),
        200,
        "login",
    )
    .await
    .text()
    .await
    .expect("the login page");
    let form = [
        ("tx", form_field(&html, "tx").expect("a tx field")),
        ("csrf", form_field(&html, "csrf").expect("a csrf field")),
        ("username", format!("otp{i}")),
        ("password", PASSWORD.to_string()),
    ];
    let action = login.split('?').next().expect("a path").to_string();
    let res = client
        .post(&action)
        .form(&form)
        .send()
        .await
        .expect("sign in");
    let otp_url = location(&expect_status(res, 303, "password step").await);
    let page = client.get(&otp_url).send().await.expect("the OTP page");
    let html = expect_status(page, 200, "the OTP page")
        .await
        .text()
        .await
        .expect("the OTP page's body");
    let phone = format!("+14155{i:06}");
    let sent = server.sms.sent();
    let body = &sent
        .iter()
        .rev()
        .find(|m| m.to == phone)
        .expect("a text message to the user")
        .body;
    let start = body.find(" is ").expect("the default template") + 4;
    let code = body[start..].split('.').next().expect("a code").to_string();
    AtOtp {
        client,
        action: otp_url.split('?').next().expect("a path").to_string(),
        form: vec![
            ("tx", form_field(&html, "tx").expect("a tx field")),
            ("csrf", form_field(&html, "csrf").expect("a csrf field")),
            ("code", code),
            ("action", "verify".to_string()),
        ],
    }
}

async fn submit_codes(pending: Vec<AtOtp>) -> Run {
    drive(pending, |at: AtOtp| async move {
        let res = at
            .client
            .post(&at.action)
            .form(&at.form)
            .send()
            .await
            .expect("the OTP request is sent");
        let back = location(&expect_status(res, 303, "OTP step").await);
        assert!(
            back.starts_with(REDIRECT_URI),
            "not back to the client: {back}"
        );
    })
    .await
}

async fn bench_otp_step(server: &Arc<Server>) -> Run {
    let mut pending = Vec::with_capacity(OTP_WARMUP);
    for i in 0..OTP_WARMUP {
        pending.push(to_otp_page(server, i).await);
    }
    submit_codes(pending).await;
    let mut pending = Vec::with_capacity(OTP_REQUESTS);
    for i in OTP_WARMUP..OTP_WARMUP + OTP_REQUESTS {
        pending.push(to_otp_page(server, i).await);
    }
    submit_codes(pending).await
}

async fn bench_backend(backend: &Backend) -> Vec<(&'static str, Run)> {
    let server = Arc::new(Server::start(backend).await);
    let browser = Browser::sign_in(&server).await;
    let exchange = bench_code_exchange(&server, &browser).await;
    let client_credentials = bench_client_credentials(&server).await;
    let userinfo = bench_userinfo(&server, &browser).await;
    let otp = bench_otp_step(&server).await;
    vec![
        ("token (code exchange)", exchange),
        ("token (client creds)", client_credentials),
        ("userinfo", userinfo),
        ("otp (right code)", otp),
    ]
}

/// The median time of one argon2id verification: the floor of every password sign-in.
fn password_verify_median() -> Duration {
    let password = Secret::new(PASSWORD.to_string());
    let phc = sesame::password::hash(&password);
    let mut times: Vec<Duration> = (0..PASSWORD_VERIFICATIONS)
        .map(|_| {
            let start = Instant::now();
            assert!(sesame::password::verify(&phc, &password));
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

fn main() {
    let mut backends = vec![Backend::Sqlite];
    match std::env::var("SESAME_BENCH_DATABASE_URL") {
        Ok(url) if !url.is_empty() => backends.push(Backend::Postgres(url)),
        _ => eprintln!("PostgreSQL not run: set SESAME_BENCH_DATABASE_URL to include it"),
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    // As many runtime threads as the tests use (the actix server runs its own workers).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");

    let mut rows = Vec::new();
    for backend in &backends {
        for (endpoint, run) in runtime.block_on(bench_backend(backend)) {
            rows.push((endpoint, backend.name(), run));
        }
    }

    println!();
    println!("Sesame endpoints: server and load generator in one process, {cores} cores");
    println!(
        "{:<22} {:<9} {:>8} {:>11} {:>9} {:>10} {:>8}",
        "endpoint", "backend", "requests", "concurrency", "req/s", "median ms", "p95 ms"
    );
    for (endpoint, backend, run) in &rows {
        println!(
            "{:<22} {:<9} {:>8} {:>11} {:>9.0} {:>10.2} {:>8.2}",
            endpoint,
            backend,
            run.latencies.len(),
            CONCURRENCY,
            run.per_second(),
            run.percentile_ms(50.0),
            run.percentile_ms(95.0),
        );
    }
    println!(
        "argon2id password verification (m=19456 KiB, t=2, p=1): median {:.1} ms over {} runs",
        password_verify_median().as_secs_f64() * 1_000.0,
        PASSWORD_VERIFICATIONS
    );
}
