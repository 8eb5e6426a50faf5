//! The three servers: how each is configured, started (optionally pinned to a core), found ready,
//! and described by its discovery document.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::procs::{self, Procs};

/// The bench organization's names, the same on both sides (`bench/peer/server.mjs` has them).
pub const ORG: &str = "bench";
pub const WEB_CLIENT: &str = "bench-web";
pub const SVC_RS256: &str = "bench-svc-rs";
pub const SVC_ES256: &str = "bench-svc-es";
pub const SECRET: &str = "a-bench-client-secret-of-forty-characters";
pub const REDIRECT_URI: &str = "https://app.bench.example/callback";
pub const RESOURCE: &str = "https://api.bench.example";
pub const RESOURCE_SCOPE: &str = "api:read";
pub const SCOPE: &str = "openid profile email phone";
/// Every user's password; each side stores the same argon2id PHC string of it.
pub const PASSWORD: &str = "bench-password-of-every-user";
/// The peer's one-time code: fixed, nothing is sent.
pub const PEER_OTP: &str = "424242";

/// User `i` of either side.
#[derive(Debug, Clone)]
pub struct User {
    pub username: String,
    pub phone: String,
}

impl User {
    pub fn nth(i: usize) -> Self {
        Self {
            username: format!("user-{i:05}"),
            // +1 415 500 xxxx: numbers the numbering plan takes as mobile-or-fixed (US).
            phone: format!("+141550{i:05}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    SesameSqlite,
    SesamePostgres,
    Peer,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::SesameSqlite => "Sesame SQLite",
            Self::SesamePostgres => "Sesame PostgreSQL",
            Self::Peer => "peer",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Self::SesameSqlite => "sesame-sqlite",
            Self::SesamePostgres => "sesame-postgres",
            Self::Peer => "peer",
        }
    }

    pub fn is_sesame(self) -> bool {
        self != Self::Peer
    }
}

/// How to start a target: enough to start it again (pinned) for the per-core mode.
#[derive(Debug, Clone)]
pub struct Spec {
    pub kind: Kind,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
    pub log: PathBuf,
    pub issuer: String,
}

/// A running target and its endpoints.
#[derive(Debug)]
pub struct Target {
    pub spec: Spec,
    pub pid: u32,
    pub authorization: String,
    pub token: String,
    pub userinfo: String,
    pub jwks: String,
    pub discovery: String,
}

impl Target {
    pub fn kind(&self) -> Kind {
        self.spec.kind
    }

    pub fn name(&self) -> &'static str {
        self.spec.kind.name()
    }
}

/// What every Sesame target shares.
#[derive(Debug)]
pub struct SesameSetup<'a> {
    pub binary: &'a Path,
    pub work: &'a Path,
    pub sms_port: u16,
    pub phc: &'a str,
    pub kek: &'a str,
    pub users: usize,
}

/// Creates a Sesame target's database and data (migrate, import): SQLite in the work
/// directory, or the PostgreSQL database `pg_url`.
pub async fn prepare_sesame(
    setup: &SesameSetup<'_>,
    kind: Kind,
    pg_url: Option<&str>,
) -> Result<Spec, String> {
    let dir = setup.work.join(kind.slug());
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port = procs::free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let database = match (kind, pg_url) {
        (Kind::SesamePostgres, Some(url)) => url.to_string(),
        _ => format!("sqlite://{}", dir.join("sesame.db").display()),
    };
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", database),
        ("SESAME_LISTEN", format!("127.0.0.1:{port}")),
        ("SESAME_BASE_URL", base.clone()),
        ("SESAME_KEY_ENCRYPTION_KEY", setup.kek.to_string()),
        ("SESAME_DATA_DIR", dir.display().to_string()),
        // Warnings and errors only: an access line per request would be most of the work.
        ("SESAME_LOG", "warn".to_string()),
        // The SMS provider is the bench's, on loopback over plain HTTP.
        ("SESAME_OUTBOUND_ALLOW_PRIVATE", "true".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let log = dir.join("sesame.log");
    procs::run_to_end(setup.binary, &["migrate"], &env, &log).await?;
    let file = dir.join("provision.toml");
    let sms_url = format!("http://127.0.0.1:{}/v1/messages", setup.sms_port);
    std::fs::write(&file, provisioning(setup.users, &sms_url, setup.phc))
        .map_err(|e| e.to_string())?;
    let path = file.display().to_string();
    procs::run_to_end(setup.binary, &["import", &path], &env, &log).await?;
    Ok(Spec {
        kind,
        program: setup.binary.to_path_buf(),
        args: vec!["serve".into()],
        env,
        cwd: None,
        log,
        issuer: format!("{base}/t/{ORG}"),
    })
}

/// The peer's start: `node server.mjs` in its directory.
pub fn prepare_peer(
    node: &Path,
    peer_dir: &Path,
    work: &Path,
    phc: &str,
    users: usize,
) -> Result<Spec, String> {
    if !peer_dir.join("node_modules/oidc-provider").is_dir() {
        return Err(format!(
            "{}: run `npm ci` there first (bench/run does)",
            peer_dir.display()
        ));
    }
    let dir = work.join(Kind::Peer.slug());
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port = procs::free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    Ok(Spec {
        kind: Kind::Peer,
        program: node.to_path_buf(),
        args: vec!["server.mjs".into()],
        env: vec![
            ("PORT".into(), port.to_string()),
            ("PASSWORD_HASH".into(), phc.to_string()),
            ("USERS".into(), users.to_string()),
            ("OTP_CODE".into(), PEER_OTP.into()),
            ("NODE_ENV".into(), "production".into()),
        ],
        cwd: Some(peer_dir.to_path_buf()),
        log: dir.join("peer.log"),
        issuer: base,
    })
}

/// Starts a target (pinned to `pin` when given) and waits until its discovery document is
/// served (at most a minute).
pub async fn start(
    procs: &Procs,
    http: &reqwest::Client,
    spec: &Spec,
    pin: Option<usize>,
) -> Result<Target, String> {
    let pid = procs.spawn(&procs::Launch {
        name: spec.kind.name(),
        program: &spec.program,
        args: &spec.args,
        env: &spec.env,
        cwd: spec.cwd.as_deref(),
        log: &spec.log,
        pin,
    })?;
    let discovery = format!("{}/.well-known/openid-configuration", spec.issuer);
    let deadline = Instant::now() + Duration::from_secs(60);
    let doc = loop {
        if !procs.alive(pid) {
            return Err(format!(
                "{} exited while starting:\n{}",
                spec.kind.name(),
                procs::tail(&spec.log, 30)
            ));
        }
        if let Ok(res) = http.get(&discovery).send().await
            && res.status().is_success()
            && let Ok(doc) = res.json::<serde_json::Value>().await
        {
            break doc;
        }
        if Instant::now() > deadline {
            procs.stop(pid).await;
            return Err(format!(
                "{} not ready after 60 s:\n{}",
                spec.kind.name(),
                procs::tail(&spec.log, 30)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let endpoint = |name: &str| {
        doc[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{}: no {name} in discovery", spec.kind.name()))
    };
    Ok(Target {
        authorization: endpoint("authorization_endpoint")?,
        token: endpoint("token_endpoint")?,
        userinfo: endpoint("userinfo_endpoint")?,
        jwks: endpoint("jwks_uri")?,
        discovery,
        spec: spec.clone(),
        pid,
    })
}

/// Sesame's provisioning file for the bench: one organization whose SMS codes go to the
/// bench's receiver through the HTTP gateway, limits out of the way of a load test, the web
/// application (password then SMS OTP), two services (client credentials, RS256 and ES256
/// access tokens for one API) and `users` users with the same password hash.
pub fn provisioning(users: usize, sms_url: &str, phc: &str) -> String {
    let mut out = format!(
        r#"[[organizations]]
slug = "{ORG}"
display_name = "Bench"

# A load test from one address, each user signing in again and again: the per-user, per-number,
# per-address and organization send limits as high as they go, no per-country alerts (README:
# SMS limits). The lock policy stays at its defaults: the bench makes no wrong attempt.
[organizations.sms_otp.limits]
user_per_hour = 1000
user_per_day = 10000
number_per_hour = 1000
number_per_day = 10000
ip_per_hour = 1000000
ip_per_day = 10000000
organization_per_hour = 10000000
organization_per_day = 100000000
country_alert_per_hour = 0

[organizations.sms]
channel = "gateways"

[[organizations.sms.gateways]]
type = "http"
url = "{sms_url}"
body_template = '{{"to":"{{to}}","text":"{{message}}"}}'
idempotency_header = "Idempotency-Key"

[[organizations.resources]]
identifier = "{RESOURCE}"
scopes = ["{RESOURCE_SCOPE}"]

[[organizations.applications]]
client_id = "{WEB_CLIENT}"
name = "Bench web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{REDIRECT_URI}"]
sign_in_flow = [["password"], ["sms_otp"]]

[[organizations.applications]]
client_id = "{SVC_RS256}"
type = "confidential"
client_secret = "{SECRET}"
grant_types = ["client_credentials"]
resources = ["{RESOURCE}"]

[[organizations.applications]]
client_id = "{SVC_ES256}"
type = "confidential"
client_secret = "{SECRET}"
grant_types = ["client_credentials"]
resources = ["{RESOURCE}"]
access_token_signed_response_alg = "ES256"
"#
    );
    for i in 0..users {
        let user = User::nth(i);
        out.push_str(&format!(
            r#"
[[organizations.users]]
username = "{name}"
password_hash = "{phc}"
email = "{name}@bench.example"
email_verified = true
phone_number = "{phone}"
phone_number_verified = true
[organizations.users.profile]
name = "Bench User {i}"
given_name = "Bench"
family_name = "User {i}"
"#,
            name = user.username,
            phone = user.phone,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provisioning_file_is_valid_for_sesame() {
        let phc = sesame::password::hash(&sesame::secret::Secret::new(PASSWORD.to_string()));
        let text = provisioning(3, "http://127.0.0.1:9/v1/messages", &phc);
        let plan =
            sesame::provisioning::Plan::parse(&text, "bench").unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{plan:?}");
        assert!(
            shown.contains("user-00002")
                && shown.contains(SVC_ES256)
                && shown.contains("access_token_alg: ES256"),
            "{shown}"
        );
    }
}
