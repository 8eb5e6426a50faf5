//! The providers under test: Sesame booted in this process over HTTPS (a certificate generated
//! at run time; the Config plan wants https endpoints) with a fresh SQLite database provisioned
//! from `conformance/provision.toml` and its text messages kept in the capture channel, or the
//! calibration provider (panva's oidc-provider, started with Node).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::browser::{Browser, Credentials, OtpSource};

/// The suite's callback for the alias `sesame` (as in provision.toml).
pub const CALLBACK: &str = "https://localhost.emobix.co.uk:8443/test/a/sesame/callback";

/// A static client of the plan.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: String,
}

/// One provider to run the plans against.
#[derive(Debug, Clone)]
pub struct Target {
    /// The run's name in results (`sesame-password`, `sesame-mfa`, `calibration`).
    pub run: String,
    pub issuer: String,
    pub ca_pem: Vec<u8>,
    pub client: Client,
    pub client2: Client,
    pub client_secret_post: Client,
    pub credentials: Credentials,
    /// Users taken in turn, one per browser (several only where codes are rate-limited).
    pub usernames: Vec<String>,
    pub next_user: Arc<std::sync::atomic::AtomicUsize>,
}

impl Target {
    pub fn ca(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(&self.ca_pem).expect("the run's certificate parses")
    }

    /// A plain HTTP client trusting the run's certificate (no cookies, no redirects).
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .add_root_certificate(self.ca())
            .build()
            .expect("the HTTP client builds")
    }

    /// A fresh browser (new cookie jar), as the suite uses per module, signing in as the next
    /// user.
    pub fn browser(&self) -> Browser {
        let mut credentials = self.credentials.clone();
        if !self.usernames.is_empty() {
            let n = self
                .next_user
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            credentials.username = self.usernames[n % self.usernames.len()].clone();
        }
        Browser::new(&self.ca(), &[CALLBACK], credentials)
    }
}

/// The provisioning file's applications of `org`, by client id.
fn clients(provision: &str, org: &str) -> Result<(Client, Client, Client), String> {
    let doc: toml::Value = toml::from_str(provision).map_err(|e| e.to_string())?;
    let doc: Value = serde_json::to_value(doc).map_err(|e| e.to_string())?;
    let organization = doc["organizations"]
        .as_array()
        .and_then(|orgs| orgs.iter().find(|o| o["slug"] == org))
        .ok_or_else(|| format!("no organization {org} in provision.toml"))?;
    let find = |id: &str| -> Result<Client, String> {
        let app = organization["applications"]
            .as_array()
            .and_then(|apps| apps.iter().find(|a| a["client_id"] == id))
            .ok_or_else(|| format!("no application {id} in {org}"))?;
        Ok(Client {
            id: id.into(),
            secret: app["client_secret"].as_str().unwrap_or_default().into(),
        })
    };
    Ok((
        find("client")?,
        find("client2")?,
        find("client_secret_post")?,
    ))
}

/// The usernames of `org` in provision.toml.
fn users(provision: &str, org: &str) -> Result<Vec<String>, String> {
    let doc: toml::Value = toml::from_str(provision).map_err(|e| e.to_string())?;
    let doc: Value = serde_json::to_value(doc).map_err(|e| e.to_string())?;
    Ok(doc["organizations"]
        .as_array()
        .and_then(|orgs| orgs.iter().find(|o| o["slug"] == org))
        .and_then(|o| o["users"].as_array())
        .map(|users| {
            users
                .iter()
                .filter_map(|u| u["username"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default())
}

pub fn provision_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("provision.toml")
}

/// A self-signed certificate for `localhost`, as PEM (certificate, key).
pub fn certificate() -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("a certificate is generated");
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

/// A running Sesame; dropping it leaves the server to end with the process.
#[derive(Debug)]
pub struct Sesame {
    pub base: String,
    pub cert_pem: String,
    pub capture: Arc<sesame::sms::Capture>,
    _dir: tempfile_dir::Dir,
}

/// A temporary directory removed on drop (kept small: no extra crate).
mod tempfile_dir {
    #[derive(Debug)]
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Sesame {
    /// Boots Sesame on a free port over TLS and applies provision.toml.
    pub async fn start() -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("sesame-conformance-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let dir = tempfile_dir::Dir(dir);
        let (cert, key) = certificate();
        let (cert_path, key_path) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
        std::fs::write(&cert_path, &cert).map_err(|e| e.to_string())?;
        std::fs::write(&key_path, &key).map_err(|e| e.to_string())?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let base = format!("https://localhost:{port}");
        let env: std::collections::HashMap<&str, String> = [
            (
                "DATABASE_URL",
                format!("sqlite://{}", dir.0.join("sesame.db").display()),
            ),
            ("SESAME_BASE_URL", base.clone()),
            ("SESAME_DATA_DIR", dir.0.display().to_string()),
            ("SESAME_TLS_CERT", cert_path.display().to_string()),
            ("SESAME_TLS_KEY", key_path.display().to_string()),
            // A fixed test key: this database lives for one run.
            (
                "SESAME_KEY_ENCRYPTION_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
            ),
            (
                "SESAME_LOG",
                std::env::var("SESAME_CONFORMANCE_LOG").unwrap_or_else(|_| "off".into()),
            ),
        ]
        .into_iter()
        .collect();
        let settings = sesame::config::Settings::from_sources(None, &|name| env.get(name).cloned())
            .map_err(|e| e.to_string())?;
        sesame::telemetry::init(&settings.log);
        let capture = Arc::new(sesame::sms::Capture::default());
        let app = sesame::Application::build_with_sms(settings, listener, capture.clone())
            .await
            .map_err(|e| e.to_string())?;
        let state = app.state_handle();
        tokio::spawn(app.run_until_stopped());
        let text = std::fs::read_to_string(provision_path()).map_err(|e| e.to_string())?;
        let plan = sesame::provisioning::Plan::parse(&text, "provision.toml")
            .map_err(|e| e.to_string())?;
        let mut conn = state.db.get().map_err(|e| e.to_string())?;
        let recorder = sesame::admin::audit::Recorder::new(
            &state.settings,
            sesame::admin::Actor::operator(sesame::admin::Via::Import),
        );
        plan.apply(&mut conn, state.keys.kek(), &recorder)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            base,
            cert_pem: cert,
            capture,
            _dir: dir,
        })
    }

    /// The run against organization `org` (`conformance` or `conformance-mfa`).
    pub fn target(&self, run: &str, org: &str) -> Result<Target, String> {
        let text = std::fs::read_to_string(provision_path()).map_err(|e| e.to_string())?;
        let (client, client2, client_secret_post) = clients(&text, org)?;
        let capture = self.capture.clone();
        // The code in the newest text message (the default template: "… is 123456. …").
        let otp: OtpSource = Arc::new(move || {
            let sent = capture.sent();
            let body = &sent.last()?.body;
            let start = body.find(" is ")? + 4;
            Some(body[start..].split('.').next()?.to_string())
        });
        let usernames = users(&text, org)?;
        Ok(Target {
            usernames,
            next_user: Arc::default(),
            run: run.into(),
            issuer: format!("{}/t/{org}", self.base),
            ca_pem: self.cert_pem.clone().into_bytes(),
            client,
            client2,
            client_secret_post,
            credentials: Credentials {
                username: "conformance-user".into(),
                password: "conformance-user-password".into(),
                otp: Some(otp),
            },
        })
    }
}

/// The calibration provider: `node conformance/calibration/server.mjs` over HTTPS.
#[derive(Debug)]
pub struct Calibration {
    child: tokio::process::Child,
    pub target: Target,
    _dir: tempfile_dir::Dir,
}

impl Calibration {
    pub async fn start() -> Result<Self, String> {
        use tokio::io::AsyncBufReadExt;
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("calibration");
        let dir = std::env::temp_dir().join(format!("sesame-calibration-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let dir = tempfile_dir::Dir(dir);
        let (cert, key) = certificate();
        let (cert_path, key_path) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
        std::fs::write(&cert_path, &cert).map_err(|e| e.to_string())?;
        std::fs::write(&key_path, &key).map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let mut child = tokio::process::Command::new("node")
            .arg(root.join("server.mjs"))
            .current_dir(&root)
            .env("PORT", port.to_string())
            .env("CERT_FILE", &cert_path)
            .env("KEY_FILE", &key_path)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("node does not start: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim() == "ready" {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        if !ready {
            return Err("the calibration provider did not print ready (is `npm ci` done in conformance/calibration?)".into());
        }
        // Keep reading its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let text = std::fs::read_to_string(provision_path()).map_err(|e| e.to_string())?;
        let (client, client2, client_secret_post) = clients(&text, "conformance")?;
        Ok(Self {
            child,
            target: Target {
                run: "calibration".into(),
                issuer: format!("https://localhost:{port}"),
                ca_pem: cert.into_bytes(),
                client,
                client2,
                client_secret_post,
                credentials: Credentials {
                    username: "conformance-user".into(),
                    password: "conformance-user-password".into(),
                    otp: None,
                },
                usernames: Vec::new(),
                next_user: Arc::default(),
            },
            _dir: dir,
        })
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The portable config for the real suite names the same clients and secrets as the
    /// provisioning file, so it keeps working when either changes.
    #[test]
    fn the_suite_config_matches_provision_toml() {
        let text = std::fs::read_to_string(provision_path()).unwrap();
        let (client, client2, post) = clients(&text, "conformance").unwrap();
        let config: Value = serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("suite-config.json"),
            )
            .unwrap(),
        )
        .unwrap();
        for (key, c) in [
            ("client", client),
            ("client2", client2),
            ("client_secret_post", post),
        ] {
            assert_eq!(config[key]["client_id"], c.id.as_str(), "{key}");
            assert_eq!(config[key]["client_secret"], c.secret.as_str(), "{key}");
        }
        assert!(
            config["browser"]
                .to_string()
                .contains("*/test/a/sesame/callback*"),
            "the callback of the alias"
        );
        assert!(CALLBACK.contains("/test/a/sesame/callback"));
    }
}
