//! The public base URL and the database URL, parsed once; printing them never shows a
//! password.

use std::fmt;
use std::path::PathBuf;

use url::Url;

use crate::secret::Secret;

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
