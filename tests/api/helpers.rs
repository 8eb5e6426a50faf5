//! The one test harness: boots the real application on a random port with a fresh database.
//!
//! Every storage-touching test runs on both backends through [`both_backends!`]: SQLite always,
//! PostgreSQL when `SESAME_TEST_DATABASE_URL` names a server (each test in a new database,
//! dropped afterwards). With the variable set and the server unreachable, tests fail. Without
//! it, the PostgreSQL half says it did not run; under CI (`CI` set) it fails instead.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Output;

use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use serde_json::Value;
use sesame::Application;
use sesame::config::Settings;
use sesame::store::Db;

/// A fixed key-encryption key for tests (base64 of 32 bytes).
pub const TEST_KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// The admin URL of a PostgreSQL server, where per-test databases are created.
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL backend if configured; `None` (after saying so) otherwise.
    pub fn postgres() -> Option<Self> {
        match std::env::var("SESAME_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Some(Self::Postgres(url)),
            _ => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI is set but SESAME_TEST_DATABASE_URL is not: the PostgreSQL tests would not run"
                );
                eprintln!(
                    "NOT RUN on PostgreSQL: set SESAME_TEST_DATABASE_URL to run this test there"
                );
                None
            }
        }
    }
}

/// Generates `<name>::sqlite` and `<name>::postgres` tests from `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(backend) = $crate::helpers::Backend::postgres() {
                        super::$name(backend).await
                    }
                }
            }
        )*
    };
}

/// A fresh database; dropped (PostgreSQL) or deleted (SQLite) with the guard.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub fn new(backend: &Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}", dir.path().join("sesame.db").display()),
                dir,
                pg: None,
            },
            Backend::Postgres(admin_url) => {
                let name = format!("sesame_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(admin_url).unwrap_or_else(|e| {
                    panic!("SESAME_TEST_DATABASE_URL is set but unreachable: {e}")
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create test database");
                let mut url =
                    url::Url::parse(admin_url).expect("SESAME_TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    dir,
                    pg: Some((admin_url.clone(), name)),
                }
            }
        }
    }

    /// The same database reached through another address (e.g. a proxy); PostgreSQL only.
    pub fn url_via(&self, host_port: &str) -> String {
        let mut url = url::Url::parse(&self.url).unwrap();
        let (host, port) = host_port.split_once(':').unwrap();
        url.set_host(Some(host)).unwrap();
        url.set_port(Some(port.parse().unwrap())).unwrap();
        url.to_string()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.pg
            && let Ok(mut admin) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

/// The environment a test's Sesame runs with (as the binary would read it).
pub fn test_env(db_url: &str, data_dir: &std::path::Path) -> HashMap<String, String> {
    HashMap::from([
        ("DATABASE_URL".into(), db_url.to_string()),
        ("SESAME_LISTEN".into(), "127.0.0.1:0".into()),
        ("SESAME_KEY_ENCRYPTION_KEY".into(), TEST_KEK.into()),
        ("SESAME_KEY_CACHE_SECONDS".into(), "0".into()),
        ("SESAME_DATA_DIR".into(), data_dir.display().to_string()),
        // Quiet by default; SESAME_TEST_LOG=debug shows the server's logs.
        (
            "SESAME_LOG".into(),
            std::env::var("SESAME_TEST_LOG").unwrap_or_else(|_| "off".into()),
        ),
    ])
}

pub fn settings_from(env: &HashMap<String, String>) -> Settings {
    Settings::from_sources(None, &|name| env.get(name).cloned()).expect("test settings are valid")
}

/// A running Sesame and what a test needs to talk to it.
#[derive(Debug)]
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub db: Db,
    pub state: actix_web::web::Data<sesame::http::AppState>,
    pub env: HashMap<String, String>,
    pub test_db: TestDb,
    /// Every text message the app sent (the in-process capture channel).
    pub sms: std::sync::Arc<sesame::sms::Capture>,
    /// The separate metrics listener's port, when `SESAME_METRICS_LISTEN` set one.
    pub metrics_port: Option<u16>,
}

impl TestApp {
    /// The status UserInfo at acme answers to the access token `token`.
    pub async fn userinfo_status(&self, token: &str) -> u16 {
        self.client
            .get(format!("{}/userinfo", self.issuer("acme")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn spawn(backend: &Backend) -> Self {
        let test_db = TestDb::new(backend);
        let env = test_env(&test_db.url, test_db.dir.path());
        Self::spawn_with(test_db, env).await
    }

    /// Boots on port 0 with the given environment; the base URL is the real address.
    pub async fn spawn_with(test_db: TestDb, mut env: HashMap<String, String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = listener.local_addr().unwrap().port();
        let scheme = if env.contains_key("SESAME_TLS_CERT") {
            "https"
        } else {
            "http"
        };
        // `SESAME_TEST_HOST=localhost`: a host name (passkeys refuse an address as their
        // relying party).
        let host = env.remove("SESAME_TEST_HOST").unwrap_or_else(|| {
            if scheme == "https" {
                "localhost"
            } else {
                "127.0.0.1"
            }
            .to_string()
        });
        // A test may serve under a path prefix (`SESAME_TEST_BASE_PATH`, e.g. `/id`).
        let prefix = env.remove("SESAME_TEST_BASE_PATH").unwrap_or_default();
        env.entry("SESAME_BASE_URL".into())
            .or_insert_with(|| format!("{scheme}://{host}:{port}{prefix}"));
        let settings = settings_from(&env);
        sesame::telemetry::init(&settings.log);
        let sms = std::sync::Arc::new(sesame::sms::Capture::default());
        let app = Application::build_with_sms(settings, listener, sms.clone())
            .await
            .expect("application builds");
        let db = app.state().db.clone();
        let state = app.state_handle();
        let metrics_port = app.metrics_port();
        tokio::spawn(app.run_until_stopped());
        Self {
            address: format!("{scheme}://{host}:{port}"),
            port,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            db,
            state,
            env,
            test_db,
            sms,
            metrics_port,
        }
    }

    /// An ID token signed with the organization's active RS256 key, issued at `iat` (one minute
    /// of validity), as if Sesame had issued it.
    pub async fn sign_id_token(&self, org: &str, sub: &str, client_id: &str, iat: i64) -> String {
        use sesame::keys::Alg;
        use sesame::oidc::tokens::Issue;
        use sesame::store::auth::Grant;
        let org_row = sesame::store::organizations::Organization::find_by_slug(
            &mut self.db.get().unwrap(),
            org,
        )
        .unwrap()
        .unwrap();
        let keys = self.state.keys.get(&self.db, org_row.id).await.unwrap();
        let grant = Grant {
            id: "g".into(),
            organization_id: org_row.id,
            application_id: "a".into(),
            user_id: Some(sub.into()),
            sid: None,
            scope: "openid".into(),
            auth_time: iat,
            amr: "[]".into(),
            acr: String::new(),
            nonce: None,
            created_at: iat,
            revoked_at: None,
            claims: None,
            resource: None,
        };
        let issuer = self.issuer(org);
        let issue = Issue {
            issuer: &issuer,
            client_id,
            subject: sub,
            grant: &grant,
            now: iat,
        };
        issue
            .id_token(
                keys.signer(Alg::RS256).unwrap(),
                "at",
                60,
                false,
                Default::default(),
            )
            .unwrap()
    }

    pub fn issuer(&self, org: &str) -> String {
        format!("{}/t/{org}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let res = self.get(path).await;
        let status = res.status().as_u16();
        (status, res.json().await.expect("a JSON body"))
    }

    pub async fn discovery(&self, org: &str) -> (u16, Value) {
        self.get_json(&format!("/t/{org}/.well-known/openid-configuration"))
            .await
    }

    pub async fn jwks(&self, org: &str) -> Value {
        let (status, body) = self.get_json(&format!("/t/{org}/jwks")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Runs the `sesame` binary against this app's database and configuration.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli(&self.env, args)
    }

    /// Applies a provisioning file (TOML text) through `sesame import`; panics on failure.
    pub fn import(&self, toml: &str) -> String {
        let path = self.write_file("import.toml", toml);
        let out = self.cli(&["import", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.test_db.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

/// Runs the `sesame` binary with exactly `env` (plus PATH) as its environment.
pub fn cli(env: &HashMap<String, String>, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .expect("the sesame binary runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A provisioning file with one organization, used by several tests.
pub fn acme_toml() -> String {
    r#"
[[organizations]]
slug = "acme"
display_name = "Acme Corp"

[[organizations.applications]]
client_id = "acme-web"
name = "Acme Web"
type = "confidential"
client_secret = "an-acme-client-secret-of-forty-characters"
redirect_uris = ["https://app.acme.example/callback"]

[[organizations.applications]]
client_id = "acme-spa"
type = "public"
redirect_uris = ["https://spa.acme.example/callback"]

[[organizations.users]]
username = "Bob"
password = "bobs-long-password"
email = "bob@acme.example"
email_verified = true
phone_number = "+44 7400 900123"
phone_number_verified = true
[organizations.users.profile]
given_name = "Bob"
family_name = "Builder"
"#
    .to_string()
}

/// A browser: keeps cookies, follows no redirects (tests look at each hop).
#[derive(Debug, Clone)]
pub struct Browser {
    pub client: reqwest::Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self::with_headers(&[])
    }
}

impl Browser {
    /// A browser whose every request carries `headers` (a language, a forwarded address).
    pub fn with_headers(headers: &[(&'static str, &str)]) -> Self {
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(map)
                .build()
                .unwrap(),
        }
    }
}

/// The value of a hidden form field in an HTML page.
pub fn form_field(html: &str, name: &str) -> Option<String> {
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

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_string()
}

/// The query parameters of a URL.
pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

impl Browser {
    /// Opens an authorization URL; on the sign-in page, signs in. Returns the response that goes
    /// back to the client (a redirect to the redirect URI, or the form_post page).
    pub async fn authorize_and_sign_in(
        &self,
        auth_url: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let res = self.client.get(auth_url).send().await.unwrap();
        assert_eq!(
            res.status(),
            303,
            "authorize should redirect: {:?}",
            res.text().await
        );
        let next = location(&res);
        if !next.contains("/login?tx=") {
            // A session answered at once: this is the response to the client.
            return res;
        }
        self.sign_in(&next, username, password).await
    }

    /// Fills in the sign-in page at `login_url`.
    pub async fn sign_in(
        &self,
        login_url: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = self.client.get(login_url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        let action = login_url.split('?').next().unwrap().to_string();
        let form = [
            ("tx", form_field(&html, "tx").expect("tx field")),
            ("csrf", form_field(&html, "csrf").expect("csrf field")),
            ("username", username.to_string()),
            ("password", password.to_string()),
        ];
        self.client.post(action).form(&form).send().await.unwrap()
    }
}

/// The claims of a JWT, unverified (where it matters, the signature was checked elsewhere).
pub fn payload(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url"),
    )
    .expect("JSON claims")
}

/// Waits up to 15 seconds for `done` (work the server does in the background).
pub async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..150 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}
