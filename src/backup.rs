//! `sesame backup`: an online, consistent copy of a SQLite database, checked after it is written.
//!
//! The copy is SQLite's `VACUUM INTO`: one read transaction over the live database (WAL mode lets
//! the server keep writing meanwhile), written to a new file, so the copy is the database as of one
//! instant. PostgreSQL has its own tools (`pg_dump`); `backup` refuses it and says so.
//!
//! Nothing is migrated: a backup taken before an upgrade must hold the old schema.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

use crate::config::{DatabaseUrl, KeySource};
use crate::keys::Kek;
use crate::store::DbConn;

/// The reminder every backup prints (and the README repeats).
pub const KEEP_THE_KEY: &str = "Keep the key-encryption key with your backups, stored apart from \
     them: the signing keys, webhook secrets and backup-code keys in the database are sealed with \
     it, so a restore without it cannot sign a token (and whoever holds both holds the signing keys).";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "`sesame backup` copies SQLite databases; {0} is PostgreSQL. Back it up with PostgreSQL's \
         own tools, e.g. `pg_dump --format=custom --file=sesame.dump \"$DATABASE_URL\"` (restore \
         into an empty database with `pg_restore --no-owner --dbname=URL sesame.dump`), and keep \
         the key-encryption key with the dump"
    )]
    Postgres(String),
    #[error("there is no SQLite database at {0} (nothing to back up)")]
    NoDatabase(PathBuf),
    #[error("{0} already exists: a backup never overwrites a file")]
    Exists(PathBuf),
    #[error("cannot create {path}: {reason}")]
    Create { path: PathBuf, reason: String },
    #[error("cannot copy {from} to {to}: {reason}")]
    Copy {
        from: PathBuf,
        to: PathBuf,
        reason: String,
    },
    #[error("the copy at {path} failed its check: {reason}")]
    Check { path: PathBuf, reason: String },
}

/// Whether the configured key-encryption key opens the copied database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// The key opens the database's check value: this is the key to keep.
    Opens,
    /// The key does not open it: the database was set up with another key.
    DoesNotOpen,
    /// The database has no check value yet (no server has started on it).
    NoCheckValue,
    /// No key could be loaded here (none configured, no development key file).
    NoKey,
}

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct Report {
    pub from: PathBuf,
    pub to: PathBuf,
    pub bytes: u64,
    /// The newest migration the copy holds.
    pub schema_version: String,
    pub organizations: i64,
    pub users: i64,
    pub key: KeyCheck,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

#[derive(QueryableByName)]
struct Integrity {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

/// Copies the SQLite database at `url` to `to` (a new file, mode 0600), then opens the copy and
/// checks it: integrity, schema version, row counts, and whether `kek` opens it.
pub fn sqlite(url: &DatabaseUrl, to: &Path, kek: Option<&Kek>) -> Result<Report, BackupError> {
    let from = match url {
        DatabaseUrl::Postgres(_) => return Err(BackupError::Postgres(url.to_string())),
        DatabaseUrl::Sqlite(path) => path.clone(),
    };
    // Opening a missing file would create an empty database.
    if !from.is_file() {
        return Err(BackupError::NoDatabase(from));
    }
    let copy_err = |reason: String| BackupError::Copy {
        from: from.clone(),
        to: to.to_path_buf(),
        reason,
    };
    let to_text = to
        .to_str()
        .ok_or_else(|| copy_err("the path is not valid UTF-8".into()))?;
    let from_text = from
        .to_str()
        .ok_or_else(|| copy_err("the path is not valid UTF-8".into()))?;
    // An empty file, readable by its owner only, created here so that nobody else's file is ever
    // overwritten; VACUUM INTO accepts an empty target.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => BackupError::Exists(to.to_path_buf()),
            _ => BackupError::Create {
                path: to.to_path_buf(),
                reason: e.to_string(),
            },
        })?;
    let copied = (|| -> Result<(), String> {
        let mut source = SqliteConnection::establish(from_text).map_err(|e| e.to_string())?;
        // Wait for a writer's lock rather than fail, as the server's connections do.
        source
            .batch_execute("PRAGMA busy_timeout = 5000;")
            .map_err(|e| e.to_string())?;
        diesel::sql_query("VACUUM INTO ?")
            .bind::<Text, _>(to_text)
            .execute(&mut source)
            .map_err(|e| e.to_string())?;
        Ok(())
    })();
    if let Err(reason) = copied {
        let _ = std::fs::remove_file(to);
        return Err(copy_err(reason));
    }
    check(&from, to, to_text, kek)
}

fn check(from: &Path, to: &Path, to_text: &str, kek: Option<&Kek>) -> Result<Report, BackupError> {
    let fail = |reason: String| BackupError::Check {
        path: to.to_path_buf(),
        reason,
    };
    let mut conn = SqliteConnection::establish(to_text).map_err(|e| fail(e.to_string()))?;
    let integrity: Integrity = diesel::sql_query("PRAGMA integrity_check")
        .get_result(&mut conn)
        .map_err(|e| fail(e.to_string()))?;
    if integrity.integrity_check != "ok" {
        return Err(fail(format!(
            "integrity check: {}",
            integrity.integrity_check
        )));
    }
    let version: Version =
        diesel::sql_query("SELECT max(version) AS v FROM __diesel_schema_migrations")
            .get_result(&mut conn)
            .map_err(|e| fail(format!("not a Sesame database ({e})")))?;
    let count = |conn: &mut SqliteConnection, table: &str| -> Result<i64, BackupError> {
        diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result::<Count>(conn)
            .map(|c| c.n)
            .map_err(|e| fail(format!("{table}: {e}")))
    };
    let organizations = count(&mut conn, "organizations")?;
    let users = count(&mut conn, "users")?;
    let mut conn = DbConn::Sqlite(conn);
    let key = match kek {
        None => KeyCheck::NoKey,
        Some(kek) => {
            match crate::keys::kek_opens(&mut conn, kek).map_err(|e| fail(e.to_string()))? {
                Some(true) => KeyCheck::Opens,
                Some(false) => KeyCheck::DoesNotOpen,
                None => KeyCheck::NoCheckValue,
            }
        }
    };
    drop(conn);
    let bytes = std::fs::metadata(to)
        .map_err(|e| fail(e.to_string()))?
        .len();
    Ok(Report {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        bytes,
        schema_version: version.v.unwrap_or_else(|| "none".into()),
        organizations,
        users,
        key,
    })
}

/// Where the configured key-encryption key comes from, for the reminder (never the key itself).
pub fn describe_key_source(source: &KeySource) -> String {
    match source {
        KeySource::Inline(_) => {
            "the configured key (SESAME_KEY_ENCRYPTION_KEY or keys.encryption_key)".into()
        }
        KeySource::File(path) => format!(
            "the file {} (SESAME_KEY_ENCRYPTION_KEY_FILE)",
            path.display()
        ),
        KeySource::Development(path) => format!(
            "the development key file {} (no key is configured)",
            path.display()
        ),
    }
}
