//! Typed settings: an optional TOML file overlaid by `SESAME_*` environment variables.
//!
//! Every value is parsed here, once, into a type that cannot hold a bad value. A bad value stops
//! start-up with a [`ConfigError`] naming the setting (the environment variable, or the key and the
//! file) and what is wrong with it. Secrets are [`Secret`]s and never print.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ipnet::IpNet;
use serde::Deserialize;

use crate::secret::Secret;

mod show;
mod telemetry;
#[cfg(test)]
mod tests;
mod urls;

use telemetry::{FileMetrics, FileTraces, metrics_settings, parse_traces};
pub use telemetry::{MetricsSettings, TraceSettings};
pub use urls::{BaseUrl, DatabaseUrl, PostgresUrl};

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
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("expected true or false".into()),
    }
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
