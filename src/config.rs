//! Typed settings: an optional TOML file overlaid by `SESAME_*` environment variables.
//!
//! Every value is parsed here, once, into a type that cannot hold a bad value. A bad value stops
//! start-up with a [`ConfigError`] naming the setting (the environment variable, or the key and the
//! file) and what is wrong with it. Secrets are [`Secret`]s and never print.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ipnet::IpNet;
use serde::Deserialize;
use url::Url;

use crate::secret::Secret;

/// A setting that could not be used: which one, and why.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

impl ConfigError {
    fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

/// The effective settings of one Sesame process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub base_url: BaseUrl,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    /// OpenTelemetry traces; `None` (the default) exports nothing and starts nothing.
    pub traces: Option<TraceSettings>,
    pub tls: Option<TlsSettings>,
    /// Peers whose `X-Forwarded-For` header is believed when finding the client's address.
    pub trusted_proxies: Vec<IpNet>,
    pub key_encryption_key: KeySource,
    /// How long a node serves its cached key set before re-reading it from the database, so a
    /// rotation done elsewhere shows within this time. 0 reads on every use.
    pub key_cache_ttl: Duration,
    /// Where development files (the default SQLite database, a generated key file) live.
    pub data_dir: PathBuf,
    /// A directory of templates replacing built-in ones (pages and mails), by file name; read
    /// and checked at start (`crate::templates`).
    pub templates_dir: Option<PathBuf>,
    /// Let outbound requests (client JWKS URIs) reach loopback and private addresses, and plain
    /// http: for development and tests only.
    pub outbound_allow_private: bool,
    /// How long a node's claim on an event delivery holds: a node that died mid-delivery has
    /// its claims delivered by another (or by itself after a restart) once this has passed.
    pub delivery_lease_seconds: i64,
    /// How long webhook deliveries are retried before they are marked dead (an SMS OTP event
    /// only until its code expires).
    pub delivery_max_age_seconds: i64,
    /// Deliveries in flight at once to one target (a webhook subscription, an organization's
    /// SMS channel) on each node: a slow or dead receiver holds at most this many.
    pub delivery_concurrency: usize,
    pub metrics: MetricsSettings,
}

/// Who may read `/metrics`, and where.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// Off: `/metrics` answers 404 everywhere.
    pub enabled: bool,
    /// A separate address serving only `/metrics` (e.g. a private interface); when set, the
    /// main listener answers 404 there, so metrics never share the public port.
    pub listen: Option<SocketAddr>,
    /// A bearer token scrapers must send; without it anyone who reaches the endpoint reads it.
    pub token: Option<Secret<String>>,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: DatabaseUrl,
    pub pool_size: u32,
    /// How long a request waits for a database connection before it is answered 503.
    pub timeout: Duration,
    /// SQLite's `synchronous` (ignored on PostgreSQL): what a power loss may cost.
    pub sqlite_synchronous: SqliteSynchronous,
}

/// SQLite's `PRAGMA synchronous` in WAL mode. A crash of the process loses nothing either way;
/// the two differ only on a power loss or an operating-system crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSynchronous {
    /// The write-ahead log is synced at checkpoints, not at every commit: the database stays
    /// consistent, but the transactions committed since the last sync (typically under a second
    /// of sign-ins, codes and token grants) may be rolled back.
    #[default]
    Normal,
    /// Every commit is synced before it is answered: nothing acknowledged is lost, at the cost
    /// of one fsync per write transaction.
    Full,
}

impl SqliteSynchronous {
    pub fn parse(v: &str) -> Result<Self, String> {
        match v.trim().to_ascii_lowercase().as_str() {
            "normal" => Ok(Self::Normal),
            "full" => Ok(Self::Full),
            _ => Err("expected \"normal\" or \"full\"".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Full => "full",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub filter: String,
    pub format: LogFormat,
}

/// Where and how traces are exported (OTLP over HTTP, protobuf). Present only when an endpoint
/// is configured.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    /// The collector's traces URL, ending in `/v1/traces`.
    pub endpoint: Url,
    /// `service.name` of every span.
    pub service_name: String,
    /// The share of new traces recorded, 0.0 to 1.0. A trusted caller's sampling decision is
    /// followed (see `http::SesameRootSpan`).
    pub sample_ratio: f64,
    /// Extra headers on every export (a collector's credentials), resolved from their secret
    /// references at start.
    pub headers: Vec<(String, Secret<String>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Where the key-encryption key (which encrypts signing keys at rest) comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Given directly (base64 of 32 bytes).
    Inline(Secret<[u8; 32]>),
    /// A file holding base64 of 32 bytes, provided by the operator.
    File(PathBuf),
    /// Nothing configured: a development key file under the data folder, created on first start
    /// with mode 0600. Start-up warns about it.
    Development(PathBuf),
}

/// The public base URL: scheme, host, optional port and path prefix, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    pub fn parse(value: &str) -> Result<Self, String> {
        let url = Url::parse(value).map_err(|e| format!("not a URL ({e})"))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!(
                "scheme must be http or https, not {}",
                url.scheme()
            ));
        }
        if url.host_str().is_none() {
            return Err("a host is required".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or a fragment".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain credentials".into());
        }
        // A path prefix (`https://example.com/id`) is served as is: every route, cookie and
        // issuer sits under it, so a proxy forwards the prefix without rewriting it.
        let path = url.path().trim_end_matches('/');
        if path
            .split('/')
            .skip(1)
            .any(|seg| seg.is_empty() || seg == "." || seg == ".." || seg.contains('%'))
        {
            return Err(format!(
                "the path '{}' must be plain segments like /id (no empty, dot or escaped segments)",
                url.path()
            ));
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path prefix every route is served under: empty, or like `/id`.
    pub fn path(&self) -> &str {
        // Parsed once in `parse`; the text after the authority is the path.
        let after_scheme = self.0.split_once("://").map_or("", |(_, rest)| rest);
        after_scheme.find('/').map_or("", |i| &after_scheme[i..])
    }

    /// The origin browsers report for its pages: scheme, host and port (no path).
    pub fn origin(&self) -> String {
        Url::parse(&self.0).map_or_else(|_| self.0.clone(), |u| u.origin().ascii_serialization())
    }

    /// Its host when that is a domain name (not an IP address): the WebAuthn relying party id
    /// passkeys are bound to.
    pub fn domain(&self) -> Option<String> {
        Url::parse(&self.0).ok()?.domain().map(str::to_string)
    }

    /// The issuer of an organization: `{base}/t/{slug}`.
    pub fn issuer(&self, org_slug: &str) -> String {
        format!("{}/t/{}", self.0, org_slug)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A database location; the scheme picks the backend. Printing it never shows a password.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(PostgresUrl),
}

#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    /// The full URL for libpq, password included.
    full: Secret<String>,
    /// The same URL with the password masked, for messages.
    redacted: String,
    pub host: String,
    pub database: String,
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({})", self.redacted)
    }
}

impl PostgresUrl {
    pub fn expose(&self) -> &str {
        self.full.expose()
    }
}

impl DatabaseUrl {
    /// `postgres://…` / `postgresql://…` for PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or a bare
    /// path for SQLite. A PostgreSQL URL without `connect_timeout` gets 5 seconds, so an
    /// unreachable host fails fast instead of hanging start-up or a request.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.is_empty() {
            return Err("must not be empty".into());
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            let mut url = Url::parse(value).map_err(|e| format!("not a valid URL ({e})"))?;
            let host = url.host_str().unwrap_or("localhost").to_string();
            let port = url.port().unwrap_or(5432);
            let database = url.path().trim_start_matches('/').to_string();
            if database.is_empty() {
                return Err(
                    "a PostgreSQL URL must name a database (postgres://HOST/DATABASE)".into(),
                );
            }
            if !url.query_pairs().any(|(k, _)| k == "connect_timeout") {
                url.query_pairs_mut().append_pair("connect_timeout", "5");
            }
            let mut redacted = url.clone();
            if redacted.password().is_some() {
                let _ = redacted.set_password(Some("***"));
            }
            let masked: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let secret = k == "password" || k == "sslpassword";
                    (
                        k.into_owned(),
                        if secret {
                            "***".to_string()
                        } else {
                            v.into_owned()
                        },
                    )
                })
                .collect();
            redacted.query_pairs_mut().clear().extend_pairs(masked);
            return Ok(Self::Postgres(PostgresUrl {
                full: Secret::new(url.to_string()),
                redacted: redacted.to_string(),
                host: format!("{host}:{port}"),
                database,
            }));
        }
        let path = if let Some(rest) = value.strip_prefix("sqlite://") {
            rest
        } else if let Some(rest) = value.strip_prefix("sqlite:") {
            rest
        } else if let Some((scheme, _)) = value.split_once("://") {
            return Err(format!(
                "unsupported database scheme '{scheme}': use postgres://… or sqlite://PATH"
            ));
        } else {
            value
        };
        if path.is_empty() {
            return Err("the SQLite URL has no file path".into());
        }
        if path == ":memory:" || path.contains("mode=memory") {
            return Err(
                "an in-memory SQLite database is not supported: every pooled connection would see \
                 a different database; give a file path"
                    .into(),
            );
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(pg) => f.write_str(&pg.redacted),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// The TOML file. Every key is optional; unknown keys are an error so typos do not pass unnoticed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    base_url: Option<String>,
    data_dir: Option<String>,
    templates_dir: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    #[serde(default)]
    database: FileDatabase,
    #[serde(default)]
    log: FileLog,
    #[serde(default)]
    tls: FileTls,
    #[serde(default)]
    keys: FileKeys,
    #[serde(default)]
    outbound: FileOutbound,
    #[serde(default)]
    events: FileEvents,
    #[serde(default)]
    traces: FileTraces,
    #[serde(default)]
    metrics: FileMetrics,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTraces {
    otlp_endpoint: Option<String>,
    service_name: Option<String>,
    sample_ratio: Option<f64>,
    /// Header name -> where its value is read (`{ env = "…" }` or `{ file = "…" }`), so a
    /// collector's token never sits in the file.
    #[serde(default)]
    headers: std::collections::BTreeMap<String, sesame_plugin_api::SecretRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMetrics {
    enabled: Option<bool>,
    listen: Option<String>,
    token: Option<String>,
    token_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEvents {
    delivery_lease_seconds: Option<i64>,
    delivery_max_age_seconds: Option<i64>,
    delivery_concurrency: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOutbound {
    allow_private: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDatabase {
    url: Option<String>,
    pool_size: Option<u32>,
    timeout_seconds: Option<u64>,
    sqlite_synchronous: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLog {
    filter: Option<String>,
    format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: Option<String>,
    key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKeys {
    encryption_key: Option<String>,
    encryption_key_file: Option<String>,
    cache_seconds: Option<u64>,
}

/// One raw value and the name to blame if it is bad.
struct Raw {
    value: String,
    origin: String,
}

/// Looks a setting up: the environment variable wins over the file key.
struct Sources<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    file: Option<&'a Path>,
}

impl Sources<'_> {
    fn get(&self, env_name: &str, file_key: &str, file_value: Option<String>) -> Option<Raw> {
        if let Some(value) = (self.env)(env_name) {
            return Some(Raw {
                value,
                origin: env_name.to_string(),
            });
        }
        file_value.map(|value| Raw {
            value,
            origin: match self.file {
                Some(path) => format!("`{file_key}` in {}", path.display()),
                None => file_key.to_string(),
            },
        })
    }
}

fn parse_with<T>(
    raw: Option<Raw>,
    default: T,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    match raw {
        None => Ok(default),
        Some(raw) => parse(&raw.value).map_err(|message| {
            ConfigError::new(raw.origin, format!("{message} (got {:?})", raw.value))
        }),
    }
}

/// Like [`parse_with`] for secret values: the error never repeats the value.
fn parse_secret<T>(raw: Raw, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, ConfigError> {
    parse(&raw.value).map_err(|message| ConfigError::new(raw.origin, message))
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9090";
pub const DEFAULT_BASE_URL: &str = "http://localhost:9090";

impl Settings {
    /// Reads the process environment and, when `--config`/`SESAME_CONFIG` names one, a TOML file.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        let file_from_env = env("SESAME_CONFIG").map(PathBuf::from);
        let file = config_file.map(Path::to_path_buf).or(file_from_env);
        Self::from_sources(file.as_deref(), &env)
    }

    /// The same as [`Settings::load`] with the environment given as a function (for tests).
    pub fn from_sources(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file_settings = match file {
            None => FileSettings::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new(
                        format!("config file {}", path.display()),
                        format!("cannot read it: {e}"),
                    )
                })?;
                toml::from_str(&text).map_err(|e| {
                    ConfigError::new(
                        format!("config file {}", path.display()),
                        toml_error(&text, &e),
                    )
                })?
            }
        };
        let src = Sources { env, file };
        let f = file_settings;

        let listen = parse_with(
            src.get("SESAME_LISTEN", "listen", f.listen),
            DEFAULT_LISTEN
                .parse()
                .expect("default listen address parses"),
            |v| {
                v.parse::<SocketAddr>().map_err(|_| {
                    "expected ADDRESS:PORT, e.g. 127.0.0.1:9090 or [::]:9090".to_string()
                })
            },
        )?;
        let base_url = parse_with(
            src.get("SESAME_BASE_URL", "base_url", f.base_url),
            BaseUrl::parse(DEFAULT_BASE_URL).expect("default base URL parses"),
            BaseUrl::parse,
        )?;
        let data_dir = parse_with(
            src.get("SESAME_DATA_DIR", "data_dir", f.data_dir),
            PathBuf::from("data"),
            |v| {
                if v.trim().is_empty() {
                    Err("must not be empty".into())
                } else {
                    Ok(PathBuf::from(v))
                }
            },
        )?;
        let templates_dir = match src.get("SESAME_TEMPLATES_DIR", "templates_dir", f.templates_dir)
        {
            None => None,
            raw => Some(parse_with(raw, PathBuf::new(), |v| {
                if v.trim().is_empty() {
                    Err("must not be empty".into())
                } else {
                    Ok(PathBuf::from(v))
                }
            })?),
        };
        let default_db = DatabaseUrl::Sqlite(data_dir.join("sesame.db"));
        let url = match src.get("DATABASE_URL", "database.url", f.database.url) {
            None => default_db,
            Some(raw) => parse_secret(raw, DatabaseUrl::parse)?,
        };
        let pool_size = parse_with(
            src.get(
                "SESAME_DATABASE_POOL_SIZE",
                "database.pool_size",
                f.database.pool_size.map(|v| v.to_string()),
            ),
            10,
            |v| match v.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => Ok(n),
                _ => Err("expected a whole number from 1 to 1000".into()),
            },
        )?;
        let timeout = parse_with(
            src.get(
                "SESAME_DATABASE_TIMEOUT",
                "database.timeout_seconds",
                f.database.timeout_seconds.map(|v| v.to_string()),
            ),
            Duration::from_secs(5),
            |v| match v.parse::<u64>() {
                Ok(n) if (1..=300).contains(&n) => Ok(Duration::from_secs(n)),
                _ => Err("expected a number of seconds from 1 to 300".into()),
            },
        )?;
        let sqlite_synchronous = parse_with(
            src.get(
                "SESAME_DATABASE_SQLITE_SYNCHRONOUS",
                "database.sqlite_synchronous",
                f.database.sqlite_synchronous,
            ),
            SqliteSynchronous::default(),
            SqliteSynchronous::parse,
        )?;
        let filter = parse_with(
            src.get("SESAME_LOG", "log.filter", f.log.filter),
            "info".to_string(),
            |v| {
                tracing_subscriber::EnvFilter::try_new(v)
                    .map(|_| v.to_string())
                    .map_err(|e| format!("not a valid log filter ({e})"))
            },
        )?;
        let format = parse_with(
            src.get("SESAME_LOG_FORMAT", "log.format", f.log.format),
            LogFormat::Text,
            |v| match v {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err("expected `text` or `json`".into()),
            },
        )?;
        let existing_file = |v: &str| {
            let path = PathBuf::from(v);
            if path.is_file() {
                Ok(Some(path))
            } else {
                Err("no such file".to_string())
            }
        };
        let cert = parse_with(
            src.get("SESAME_TLS_CERT", "tls.cert", f.tls.cert),
            None,
            existing_file,
        )?;
        let key = parse_with(
            src.get("SESAME_TLS_KEY", "tls.key", f.tls.key),
            None,
            existing_file,
        )?;
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(TlsSettings { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "SESAME_TLS_KEY",
                    "SESAME_TLS_CERT is set, so the private key file is required too",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "SESAME_TLS_CERT",
                    "SESAME_TLS_KEY is set, so the certificate file is required too",
                ));
            }
        };
        let trusted_proxies = parse_with(
            src.get(
                "SESAME_TRUSTED_PROXIES",
                "trusted_proxies",
                f.trusted_proxies.map(|list| list.join(",")),
            ),
            Vec::new(),
            parse_cidrs,
        )?;
        let inline_key = src.get(
            "SESAME_KEY_ENCRYPTION_KEY",
            "keys.encryption_key",
            f.keys.encryption_key,
        );
        let key_file = src.get(
            "SESAME_KEY_ENCRYPTION_KEY_FILE",
            "keys.encryption_key_file",
            f.keys.encryption_key_file,
        );
        let key_cache_ttl = parse_with(
            src.get(
                "SESAME_KEY_CACHE_SECONDS",
                "keys.cache_seconds",
                f.keys.cache_seconds.map(|v| v.to_string()),
            ),
            Duration::from_secs(10),
            |v| match v.parse::<u64>() {
                Ok(n) if n <= 3600 => Ok(Duration::from_secs(n)),
                _ => Err("expected a number of seconds from 0 to 3600".into()),
            },
        )?;
        let outbound_allow_private = parse_with(
            src.get(
                "SESAME_OUTBOUND_ALLOW_PRIVATE",
                "outbound.allow_private",
                f.outbound.allow_private.map(|v| v.to_string()),
            ),
            false,
            parse_bool,
        )?;
        let delivery_lease_seconds = parse_with(
            src.get(
                "SESAME_DELIVERY_LEASE_SECONDS",
                "events.delivery_lease_seconds",
                f.events.delivery_lease_seconds.map(|v| v.to_string()),
            ),
            30,
            |v| match v.parse::<i64>() {
                Ok(n) if (10..=600).contains(&n) => Ok(n),
                _ => Err("expected a number of seconds from 10 to 600".into()),
            },
        )?;
        let delivery_max_age_seconds = parse_with(
            src.get(
                "SESAME_DELIVERY_MAX_AGE_SECONDS",
                "events.delivery_max_age_seconds",
                f.events.delivery_max_age_seconds.map(|v| v.to_string()),
            ),
            86_400,
            |v| match v.parse::<i64>() {
                Ok(n) if (60..=30 * 86_400).contains(&n) => Ok(n),
                _ => Err("expected a number of seconds from 60 to 2592000 (30 days)".into()),
            },
        )?;
        let delivery_concurrency = parse_with(
            src.get(
                "SESAME_DELIVERY_CONCURRENCY",
                "events.delivery_concurrency",
                f.events.delivery_concurrency.map(|v| v.to_string()),
            ),
            8,
            |v| match v.parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => Ok(n),
                _ => Err("expected a whole number from 1 to 64".into()),
            },
        )?;
        let traces = parse_traces(&src, f.traces)?;
        let metrics = metrics_settings(&src, f.metrics)?;
        let key_encryption_key = match (inline_key, key_file) {
            (Some(raw), None) => KeySource::Inline(parse_secret(raw, parse_key)?),
            (None, Some(raw)) => KeySource::File(parse_with(Some(raw), PathBuf::new(), |v| {
                if v.trim().is_empty() {
                    Err("must not be empty".into())
                } else {
                    Ok(PathBuf::from(v))
                }
            })?),
            (None, None) => KeySource::Development(data_dir.join("key-encryption.key")),
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "SESAME_KEY_ENCRYPTION_KEY",
                    "set either the key or SESAME_KEY_ENCRYPTION_KEY_FILE, not both",
                ));
            }
        };

        Ok(Self {
            listen,
            base_url,
            database: DatabaseSettings {
                url,
                pool_size,
                timeout,
                sqlite_synchronous,
            },
            log: LogSettings { filter, format },
            traces,
            tls,
            trusted_proxies,
            key_encryption_key,
            key_cache_ttl,
            data_dir,
            templates_dir,
            outbound_allow_private,
            delivery_lease_seconds,
            delivery_max_age_seconds,
            delivery_concurrency,
            metrics,
        })
    }

    /// The effective settings as TOML, secrets redacted (for `sesame config show`).
    pub fn to_redacted_toml(&self) -> String {
        use toml::{Table, Value};
        let s = |v: String| Value::String(v);
        let mut root = Table::new();
        root.insert("listen".into(), s(self.listen.to_string()));
        root.insert("base_url".into(), s(self.base_url.to_string()));
        root.insert("data_dir".into(), s(self.data_dir.display().to_string()));
        if let Some(dir) = &self.templates_dir {
            root.insert("templates_dir".into(), s(dir.display().to_string()));
        }
        root.insert(
            "trusted_proxies".into(),
            Value::Array(
                self.trusted_proxies
                    .iter()
                    .map(|n| s(n.to_string()))
                    .collect(),
            ),
        );
        let mut database = Table::new();
        database.insert("url".into(), s(self.database.url.to_string()));
        database.insert(
            "pool_size".into(),
            Value::Integer(self.database.pool_size.into()),
        );
        database.insert(
            "timeout_seconds".into(),
            Value::Integer(self.database.timeout.as_secs() as i64),
        );
        database.insert(
            "sqlite_synchronous".into(),
            s(self.database.sqlite_synchronous.as_str().to_string()),
        );
        root.insert("database".into(), Value::Table(database));
        let mut log = Table::new();
        log.insert("filter".into(), s(self.log.filter.clone()));
        log.insert(
            "format".into(),
            s(if self.log.format == LogFormat::Json {
                "json"
            } else {
                "text"
            }
            .into()),
        );
        root.insert("log".into(), Value::Table(log));
        if let Some(traces) = &self.traces {
            let mut t = Table::new();
            t.insert("otlp_endpoint".into(), s(traces.endpoint.to_string()));
            t.insert("service_name".into(), s(traces.service_name.clone()));
            t.insert("sample_ratio".into(), Value::Float(traces.sample_ratio));
            let headers: Table = traces
                .headers
                .iter()
                .map(|(name, _)| (name.clone(), s("[redacted]".into())))
                .collect();
            t.insert("headers".into(), Value::Table(headers));
            root.insert("traces".into(), Value::Table(t));
        }
        if let Some(tls) = &self.tls {
            let mut t = Table::new();
            t.insert("cert".into(), s(tls.cert.display().to_string()));
            t.insert("key".into(), s(tls.key.display().to_string()));
            root.insert("tls".into(), Value::Table(t));
        }
        let mut keys = Table::new();
        match &self.key_encryption_key {
            KeySource::Inline(_) => keys.insert("encryption_key".into(), s("[redacted]".into())),
            KeySource::File(p) => {
                keys.insert("encryption_key_file".into(), s(p.display().to_string()))
            }
            KeySource::Development(p) => keys.insert(
                "encryption_key_file".into(),
                s(format!(
                    "{} (development key, generated if missing)",
                    p.display()
                )),
            ),
        };
        keys.insert(
            "cache_seconds".into(),
            Value::Integer(self.key_cache_ttl.as_secs() as i64),
        );
        root.insert("keys".into(), Value::Table(keys));
        let mut outbound = Table::new();
        outbound.insert(
            "allow_private".into(),
            Value::Boolean(self.outbound_allow_private),
        );
        root.insert("outbound".into(), Value::Table(outbound));
        let mut events = Table::new();
        events.insert(
            "delivery_lease_seconds".into(),
            Value::Integer(self.delivery_lease_seconds),
        );
        events.insert(
            "delivery_max_age_seconds".into(),
            Value::Integer(self.delivery_max_age_seconds),
        );
        events.insert(
            "delivery_concurrency".into(),
            Value::Integer(self.delivery_concurrency as i64),
        );
        root.insert("events".into(), Value::Table(events));
        let mut metrics = Table::new();
        metrics.insert("enabled".into(), Value::Boolean(self.metrics.enabled));
        if let Some(listen) = self.metrics.listen {
            metrics.insert("listen".into(), s(listen.to_string()));
        }
        if self.metrics.token.is_some() {
            metrics.insert("token".into(), s("[redacted]".into()));
        }
        root.insert("metrics".into(), Value::Table(metrics));
        toml::to_string(&root).expect("a TOML table serializes")
    }
}

/// The `[traces]` settings. The endpoint turns traces on; where it comes from, first found wins:
/// `SESAME_OTLP_ENDPOINT`, `traces.otlp_endpoint`, then the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
/// (used as is) and `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` appended). Sesame's own settings
/// win because the `OTEL_*` variables are often set for every process of a platform, as defaults.
/// `OTEL_SDK_DISABLED=true` turns traces off whatever else is set. The service name likewise:
/// `SESAME_SERVICE_NAME`, `traces.service_name`, `OTEL_SERVICE_NAME`, else `sesame`.
fn parse_traces(src: &Sources<'_>, f: FileTraces) -> Result<Option<TraceSettings>, ConfigError> {
    if (src.env)("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    // The standard variables count as unset when empty, as the OpenTelemetry spec says.
    let standard = |name: &str| {
        src.get(name, "", None)
            .filter(|r| !r.value.trim().is_empty())
    };
    let (raw, base) = match src.get(
        "SESAME_OTLP_ENDPOINT",
        "traces.otlp_endpoint",
        f.otlp_endpoint,
    ) {
        Some(raw) => (Some(raw), true),
        None => match standard("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Some(raw) => (Some(raw), false),
            None => (standard("OTEL_EXPORTER_OTLP_ENDPOINT"), true),
        },
    };
    // Not echoed when bad: a URL given with credentials in it must not reach the log.
    let endpoint = raw
        .map(|raw| parse_secret(raw, |v| parse_otlp_endpoint(v, base)))
        .transpose()?;
    // The other settings are checked even without an endpoint: a bad value is reported now, not
    // on the day traces are turned on.
    let service_name = parse_with(
        src.get("SESAME_SERVICE_NAME", "traces.service_name", f.service_name)
            .or_else(|| standard("OTEL_SERVICE_NAME")),
        "sesame".to_string(),
        |v| {
            let v = v.trim();
            if v.is_empty() || v.len() > 128 {
                Err("expected a name of 1 to 128 characters".into())
            } else {
                Ok(v.to_string())
            }
        },
    )?;
    let sample_ratio = parse_with(
        src.get(
            "SESAME_TRACE_SAMPLE_RATIO",
            "traces.sample_ratio",
            f.sample_ratio.map(|v| v.to_string()),
        ),
        1.0,
        |v| match v.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => Err("expected a number from 0.0 to 1.0".into()),
        },
    )?;
    let mut headers = Vec::new();
    for (name, secret) in f.headers {
        let setting = format!("traces.headers.{name}");
        let setting = match src.file {
            Some(path) => format!("`{setting}` in {}", path.display()),
            None => setting,
        };
        if actix_web::http::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(ConfigError::new(setting, "not a valid header name"));
        }
        let value = secret
            .resolve()
            .map_err(|e| ConfigError::new(setting.clone(), e))?;
        if actix_web::http::header::HeaderValue::from_str(&value).is_err() {
            return Err(ConfigError::new(
                setting,
                "the value is not a valid header value",
            ));
        }
        headers.push((name, Secret::new(value)));
    }
    let Some(endpoint) = endpoint else {
        return Ok(None);
    };
    Ok(Some(TraceSettings {
        endpoint,
        service_name,
        sample_ratio,
        headers,
    }))
}

/// An OTLP/HTTP URL. A base (`http://collector:4318`) gets `/v1/traces` appended when `base`
/// is set, unless it already ends so; no credentials or query in it (they would be logged).
fn parse_otlp_endpoint(value: &str, base: bool) -> Result<Url, String> {
    let mut url = Url::parse(value.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err("expected an http or https URL".into());
    }
    if url.host_str().is_none() {
        return Err("a host is required".into());
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err("must not carry credentials or a query (put a token in traces.headers)".into());
    }
    if base && !url.path().ends_with("/v1/traces") {
        let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    Ok(url)
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// The `[metrics]` settings. The token is given inline or, better, as a file (a mounted
/// secret), like the key-encryption key; it must be long enough not to be guessed.
fn metrics_settings(src: &Sources<'_>, f: FileMetrics) -> Result<MetricsSettings, ConfigError> {
    let enabled = parse_with(
        src.get(
            "SESAME_METRICS_ENABLED",
            "metrics.enabled",
            f.enabled.map(|v| v.to_string()),
        ),
        true,
        parse_bool,
    )?;
    let listen = parse_with(
        src.get("SESAME_METRICS_LISTEN", "metrics.listen", f.listen),
        None,
        |v| {
            v.parse::<SocketAddr>()
                .map(Some)
                .map_err(|_| "expected ADDRESS:PORT, e.g. 127.0.0.1:9091 or [::1]:9091".to_string())
        },
    )?;
    let check = |v: &str| {
        if v.len() < 16 || !v.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            Err(
                "the metrics token must be at least 16 printable characters without spaces"
                    .to_string(),
            )
        } else {
            Ok(Secret::new(v.to_string()))
        }
    };
    let inline = src.get("SESAME_METRICS_TOKEN", "metrics.token", f.token);
    let file = src.get(
        "SESAME_METRICS_TOKEN_FILE",
        "metrics.token_file",
        f.token_file,
    );
    let token = match (inline, file) {
        (None, None) => None,
        (Some(raw), None) => Some(parse_secret(raw, check)?),
        (None, Some(raw)) => {
            let origin = raw.origin.clone();
            let text = std::fs::read_to_string(&raw.value).map_err(|e| {
                ConfigError::new(&origin, format!("cannot read {}: {e}", raw.value))
            })?;
            Some(parse_secret(
                Raw {
                    value: text.trim_end_matches(['\n', '\r']).to_string(),
                    origin,
                },
                check,
            )?)
        }
        (Some(raw), Some(_)) => {
            return Err(ConfigError::new(
                raw.origin,
                "set either the metrics token or its file, not both",
            ));
        }
    };
    Ok(MetricsSettings {
        enabled,
        listen,
        token,
    })
}

/// A TOML error as `line L, column C: message`, without the excerpt of the offending line that
/// the default message quotes (it may hold a password or a key).
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}

fn parse_cidrs(value: &str) -> Result<Vec<IpNet>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!("'{item}' is not an IP address or CIDR block (e.g. 10.0.0.0/8)")
                })
        })
        .collect()
}

/// A key-encryption key: base64 (standard alphabet) of exactly 32 random bytes.
pub fn parse_key(value: &str) -> Result<Secret<[u8; 32]>, String> {
    let bytes = BASE64.decode(value.trim()).map_err(|_| {
        "not valid base64 (generate one with `openssl rand -base64 32`)".to_string()
    })?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("must decode to 32 bytes, got {}", b.len()))?;
    Ok(Secret::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_sources(None, &move |name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_documented_values() {
        let s = load(&[]).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:9090");
        assert_eq!(s.base_url.as_str(), "http://localhost:9090");
        assert_eq!(
            s.database.url,
            DatabaseUrl::Sqlite(PathBuf::from("data/sesame.db"))
        );
        assert_eq!(s.log.format, LogFormat::Text);
        assert!(s.tls.is_none());
        assert!(s.trusted_proxies.is_empty());
        assert!(matches!(s.key_encryption_key, KeySource::Development(_)));
        assert_eq!(s.database.sqlite_synchronous, SqliteSynchronous::Normal);
    }

    #[test]
    fn sqlite_durability_is_chosen_and_applied() {
        let s = load(&[("SESAME_DATABASE_SQLITE_SYNCHRONOUS", "FULL")]).unwrap();
        assert_eq!(s.database.sqlite_synchronous, SqliteSynchronous::Full);
        assert!(
            s.to_redacted_toml()
                .contains("sqlite_synchronous = \"full\"")
        );
        // The connection really runs with it (SQLite reports FULL as 2, NORMAL as 1).
        #[derive(diesel::QueryableByName)]
        struct Sync {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            synchronous: i32,
        }
        let dir = tempfile::tempdir().unwrap();
        for (choice, expected) in [(SqliteSynchronous::Full, 2), (SqliteSynchronous::Normal, 1)] {
            let settings = DatabaseSettings {
                url: DatabaseUrl::Sqlite(dir.path().join("sync.db")),
                pool_size: 1,
                timeout: Duration::from_secs(5),
                sqlite_synchronous: choice,
            };
            let conn = crate::store::ConnectionManager::for_settings(&settings)
                .establish()
                .unwrap();
            let crate::store::DbConn::Sqlite(mut c) = conn else {
                panic!("sqlite expected")
            };
            use diesel::RunQueryDsl as _;
            let got = diesel::sql_query("PRAGMA synchronous")
                .get_result::<Sync>(&mut c)
                .unwrap();
            assert_eq!(got.synchronous, expected, "{choice:?}");
        }
    }

    #[test]
    fn each_bad_value_names_its_setting() {
        for (name, value) in [
            ("SESAME_LISTEN", "not-an-address"),
            ("SESAME_BASE_URL", "ftp://example.com"),
            ("SESAME_BASE_URL", "https://example.com/?x=1"),
            ("SESAME_BASE_URL", "https://example.com/id//p"),
            ("DATABASE_URL", "mysql://localhost/db"),
            ("SESAME_LOG", "info,[[["),
            ("SESAME_LOG_FORMAT", "xml"),
            ("SESAME_TLS_CERT", "/nonexistent/cert.pem"),
            ("SESAME_TRUSTED_PROXIES", "10.0.0.0/8,banana"),
            ("SESAME_DATABASE_POOL_SIZE", "0"),
            ("SESAME_DATABASE_SQLITE_SYNCHRONOUS", "off"),
            ("SESAME_DELIVERY_CONCURRENCY", "0"),
            ("SESAME_KEY_ENCRYPTION_KEY", "c2hvcnQ="),
        ] {
            let err = load(&[(name, value)]).unwrap_err();
            assert_eq!(err.setting, name, "{value}: {err}");
        }
    }

    #[test]
    fn database_password_never_appears_in_messages() {
        let s = load(&[(
            "DATABASE_URL",
            "postgres://app:s3cretpw@db.example:6543/sesame",
        )])
        .unwrap();
        let shown = format!("{:?} {} {}", s, s.database.url, s.to_redacted_toml());
        assert!(!shown.contains("s3cretpw"), "{shown}");
        let DatabaseUrl::Postgres(pg) = &s.database.url else {
            panic!("postgres expected")
        };
        assert_eq!(pg.host, "db.example:6543");
        assert_eq!(pg.database, "sesame");
        assert!(pg.expose().contains("s3cretpw") && pg.expose().contains("connect_timeout=5"));
        let s = load(&[(
            "DATABASE_URL",
            "postgres://db.example/sesame?password=qu3rysecret&sslmode=require",
        )])
        .unwrap();
        let shown = format!("{} {}", s.database.url, s.to_redacted_toml());
        assert!(
            !shown.contains("qu3rysecret") && shown.contains("sslmode=require"),
            "{shown}"
        );
        // A bad secret value is not echoed back either.
        let err = load(&[("SESAME_KEY_ENCRYPTION_KEY", "!!!notbase64-secretish")]).unwrap_err();
        assert!(!err.to_string().contains("secretish"), "{err}");
    }

    #[test]
    fn sqlite_url_forms() {
        for v in ["sqlite://data/x.db", "sqlite:data/x.db", "data/x.db"] {
            assert_eq!(
                DatabaseUrl::parse(v).unwrap(),
                DatabaseUrl::Sqlite(PathBuf::from("data/x.db"))
            );
        }
        assert!(DatabaseUrl::parse("sqlite::memory:").is_err());
    }

    #[test]
    fn tls_needs_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "x").unwrap();
        let err = load(&[("SESAME_TLS_CERT", cert.to_str().unwrap())]).unwrap_err();
        assert_eq!(err.setting, "SESAME_TLS_KEY");
    }

    #[test]
    fn environment_overrides_file_and_file_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sesame.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:1234\"\nbase_url = \"https://id.example.com/\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n[log]\nformat = \"json\"\n",
        )
        .unwrap();
        let env = |name: &str| (name == "SESAME_LISTEN").then(|| "127.0.0.1:5555".to_string());
        let s = Settings::from_sources(Some(&path), &env).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:5555");
        assert_eq!(s.base_url.as_str(), "https://id.example.com");
        assert_eq!(s.base_url.issuer("acme"), "https://id.example.com/t/acme");
        assert_eq!(s.base_url.path(), "");
        let prefixed = BaseUrl::parse("https://example.com/id/").unwrap();
        assert_eq!(prefixed.as_str(), "https://example.com/id");
        assert_eq!(prefixed.path(), "/id");
        assert_eq!(prefixed.issuer("acme"), "https://example.com/id/t/acme");
        assert_eq!(
            BaseUrl::parse("http://localhost:9090/a/b").unwrap().path(),
            "/a/b"
        );
        assert!(BaseUrl::parse("https://example.com/id//x").is_err());
        assert!(BaseUrl::parse("https://example.com/a%20b").is_err());
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.trusted_proxies.len(), 1);

        std::fs::write(&path, "[log]\nformat = \"yaml\"\n").unwrap();
        let err = Settings::from_sources(Some(&path), &|_| None).unwrap_err();
        assert!(
            err.setting.contains("log.format") && err.setting.contains("sesame.toml"),
            "{err}"
        );

        std::fs::write(&path, "[keys]\nencryption_kye = \"T0PSECRETKEYVALUE\"\n").unwrap();
        let err = Settings::from_sources(Some(&path), &|_| None).unwrap_err();
        assert!(
            err.to_string().contains("encryption_kye") && err.to_string().contains("line 2"),
            "{err}"
        );
        assert!(!err.to_string().contains("T0PSECRET"), "{err}");

        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let err = Settings::from_sources(Some(&path), &|_| None).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn traces_are_off_unless_an_endpoint_is_set_and_sesame_settings_win() {
        assert!(load(&[]).unwrap().traces.is_none());
        let not_enough = [
            ("OTEL_SERVICE_NAME", "idp"),
            ("SESAME_TRACE_SAMPLE_RATIO", "0.5"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", " "),
        ];
        assert!(load(&not_enough).unwrap().traces.is_none());
        let t = load(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")])
            .unwrap()
            .traces
            .unwrap();
        assert_eq!(t.endpoint.as_str(), "http://collector:4318/v1/traces");
        assert_eq!((t.service_name.as_str(), t.sample_ratio), ("sesame", 1.0));
        // The signal's own variable is used as is, and wins over the general one.
        let t = load(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://c.example/custom",
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:4318"),
            ("OTEL_SERVICE_NAME", "idp"),
        ])
        .unwrap()
        .traces
        .unwrap();
        assert_eq!(t.endpoint.as_str(), "https://c.example/custom");
        assert_eq!(t.service_name, "idp");
        let t = load(&[
            ("SESAME_OTLP_ENDPOINT", "http://mine:4318/"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://theirs/v1/traces",
            ),
            ("SESAME_SERVICE_NAME", "a"),
            ("OTEL_SERVICE_NAME", "b"),
            ("SESAME_TRACE_SAMPLE_RATIO", "0.25"),
        ])
        .unwrap()
        .traces
        .unwrap();
        assert_eq!(t.endpoint.as_str(), "http://mine:4318/v1/traces");
        assert_eq!((t.service_name.as_str(), t.sample_ratio), ("a", 0.25));
        let t = load(&[("SESAME_OTLP_ENDPOINT", "http://c:4318/v1/traces")]).unwrap();
        assert_eq!(
            t.traces.unwrap().endpoint.as_str(),
            "http://c:4318/v1/traces"
        );
        let disabled = [
            ("SESAME_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ];
        assert!(load(&disabled).unwrap().traces.is_none());
        for (name, value) in [
            ("SESAME_OTLP_ENDPOINT", "ftp://c:4318"),
            ("SESAME_OTLP_ENDPOINT", "http://user:pw@c:4318"),
            ("SESAME_OTLP_ENDPOINT", "http://c:4318/?token=x"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
            ("SESAME_TRACE_SAMPLE_RATIO", "1.5"),
            ("SESAME_SERVICE_NAME", " "),
        ] {
            let err = load(&[(name, value)]).unwrap_err();
            assert_eq!(err.setting, name, "{value}: {err}");
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
    }

    #[test]
    fn trace_export_headers_come_from_secret_references() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("otlp-token");
        std::fs::write(&token, "Bearer t0psecret-otlp\n").unwrap();
        let path = dir.path().join("sesame.toml");
        std::fs::write(
            &path,
            format!(
                "[traces]\notlp_endpoint = \"https://otlp.example\"\nsample_ratio = 0.1\n\
                 [traces.headers]\nauthorization = {{ file = \"{}\" }}\n",
                token.display()
            ),
        )
        .unwrap();
        let s = Settings::from_sources(Some(&path), &|_| None).unwrap();
        let t = s.traces.as_ref().unwrap();
        assert_eq!(t.sample_ratio, 0.1);
        assert_eq!(t.headers.len(), 1);
        assert_eq!(t.headers[0].0, "authorization");
        assert_eq!(t.headers[0].1.expose(), "Bearer t0psecret-otlp");
        let shown = format!("{s:?} {}", s.to_redacted_toml());
        assert!(!shown.contains("t0psecret"), "{shown}");
        let parsed: toml::Value = toml::from_str(&s.to_redacted_toml()).unwrap();
        assert_eq!(
            parsed["traces"]["otlp_endpoint"].as_str(),
            Some("https://otlp.example/v1/traces")
        );
        std::fs::remove_file(&token).unwrap();
        let err = Settings::from_sources(Some(&path), &|_| None).unwrap_err();
        assert!(
            err.setting.contains("traces.headers.authorization"),
            "{err}"
        );
    }

    #[test]
    fn metrics_settings_and_their_token() {
        let s = load(&[]).unwrap();
        assert!(s.metrics.enabled && s.metrics.listen.is_none() && s.metrics.token.is_none());
        let s = load(&[
            ("SESAME_METRICS_ENABLED", "false"),
            ("SESAME_METRICS_LISTEN", "127.0.0.1:9091"),
            ("SESAME_METRICS_TOKEN", "a-scraper-token-0123456789"),
        ])
        .unwrap();
        assert!(!s.metrics.enabled);
        assert_eq!(s.metrics.listen.unwrap().to_string(), "127.0.0.1:9091");
        let shown = format!("{s:?} {}", s.to_redacted_toml());
        assert!(!shown.contains("a-scraper-token"), "{shown}");
        for (name, value) in [
            ("SESAME_METRICS_ENABLED", "maybe"),
            ("SESAME_METRICS_LISTEN", "nowhere"),
            ("SESAME_METRICS_TOKEN", "short-secret"),
            ("SESAME_METRICS_TOKEN_FILE", "/nonexistent/token"),
        ] {
            let err = load(&[(name, value)]).unwrap_err();
            assert_eq!(err.setting, name, "{err}");
            assert!(!err.to_string().contains("short-secret"), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "a-token-from-a-mounted-file\n").unwrap();
        let s = load(&[("SESAME_METRICS_TOKEN_FILE", file.to_str().unwrap())]).unwrap();
        assert_eq!(
            s.metrics.token.unwrap().expose(),
            "a-token-from-a-mounted-file"
        );
        let both = load(&[
            ("SESAME_METRICS_TOKEN", "a-scraper-token-0123456789"),
            ("SESAME_METRICS_TOKEN_FILE", file.to_str().unwrap()),
        ]);
        assert!(both.is_err());
    }

    #[test]
    fn redacted_toml_is_valid_toml_without_secrets() {
        let s = load(&[(
            "SESAME_KEY_ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )])
        .unwrap();
        let text = s.to_redacted_toml();
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(
            parsed["keys"]["encryption_key"].as_str(),
            Some("[redacted]")
        );
        assert!(!text.contains("AAECAwQF"));
    }
}
