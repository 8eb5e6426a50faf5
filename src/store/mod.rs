//! Storage: one connection type over SQLite and PostgreSQL, a pool, migrations, and the models.
//!
//! Model functions take the connection explicitly (`User::find(conn, …)`). Where SQL must differ
//! between the backends, the query matches on [`DbConn`] in one place.

pub mod account_changes;
pub mod admin;
pub mod applications;
pub mod auth;
pub mod backup_codes;
pub mod ceremonies;
pub mod credentials;
pub mod deliveries;
pub mod events;
pub mod federation;
pub mod keys;
pub mod magic_links;
pub mod organizations;
pub mod otps;
pub mod registrations;
pub mod schema;
pub mod sent_codes;
pub mod sessions;
pub mod sms_sends;
pub mod subscriptions;
pub mod throttle;
mod transaction;
pub mod users;

use transaction::SQLITE_BUSY_TIMEOUT;
pub use transaction::{rolled_back, write_transaction};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::R2D2Connection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::{DatabaseSettings, DatabaseUrl, SqliteSynchronous};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend. Diesel's derive makes the DSL work over both.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl std::fmt::Debug for DbConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Postgres(_) => "DbConn::Postgres",
            Self::Sqlite(_) => "DbConn::Sqlite",
        })
    }
}

/// `text` for a `LIKE` pattern with `ESCAPE '\\'`: its wildcards (`%`, `_`) and the backslash
/// match themselves.
pub(crate) fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// What can go wrong in storage, as far as callers care.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached now; the request may succeed later (HTTP 503).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was broken (e.g. a username taken).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(transparent)]
    Query(DieselError),
    /// Stored data that does not parse: a bug or a hand-edited row.
    #[error("corrupt data in {0}")]
    Corrupt(String),
    /// The database work itself failed (a panic in a closure): a bug, not an outage.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => Self::Unavailable(info.message().to_string()),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::Conflict(info.message().to_string())
            }
            // SQLITE_FULL: the disk (or the file system) is full. Like a lost connection it
            // resolves without a change of code, once space is freed.
            DieselError::DatabaseError(_, info) if info.message() == SQLITE_FULL_MESSAGE => {
                Self::Unavailable(SQLITE_FULL_MESSAGE.to_string())
            }
            other => Self::Query(other),
        }
    }
}

/// SQLite's text for SQLITE_FULL, the only way Diesel reports it.
const SQLITE_FULL_MESSAGE: &str = "database or disk is full";

impl StoreError {
    /// A write failed for lack of disk space (SQLite).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::Unavailable(reason) if reason == SQLITE_FULL_MESSAGE)
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// Why a connection could not be opened. Names the host and database, never the password.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to the {backend} database {target}: {reason}")]
pub struct ConnectError {
    backend: &'static str,
    target: String,
    reason: String,
}

/// Our r2d2 manager: the URL scheme picks the backend, so a failure reports that backend's real
/// error (the derived `establish` tries each backend in turn and hides it).
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    synchronous: SqliteSynchronous,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self {
            url,
            synchronous: SqliteSynchronous::default(),
        }
    }

    /// The manager for `settings` (its URL and SQLite's durability).
    pub fn for_settings(settings: &DatabaseSettings) -> Self {
        Self {
            url: settings.url.clone(),
            synchronous: settings.sqlite_synchronous,
        }
    }

    fn describe(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(path) => format!("file {}", path.display()),
            DatabaseUrl::Postgres(pg) => format!("'{}' at {}", pg.database, pg.host),
        }
    }

    fn fail(&self, reason: impl ToString) -> ConnectError {
        ConnectError {
            backend: self.url.backend_name(),
            target: self.describe(),
            reason: reason.to_string().trim().to_string(),
        }
    }

    pub fn establish(&self) -> Result<DbConn, ConnectError> {
        match &self.url {
            DatabaseUrl::Postgres(pg) => PgConnection::establish(pg.expose())
                .map(DbConn::Postgres)
                .map_err(|e| self.fail(e)),
            DatabaseUrl::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        self.fail(format!("cannot create folder {}: {e}", parent.display()))
                    })?;
                }
                let text = path
                    .to_str()
                    .ok_or_else(|| self.fail("the path is not valid UTF-8"))?;
                let mut conn = SqliteConnection::establish(text).map_err(|e| self.fail(e))?;
                // Per connection: WAL lets readers run beside the writer, the busy timeout makes
                // writers queue instead of failing, and foreign keys are off unless asked for.
                // The journal size limit makes SQLite truncate the write-ahead log when a
                // checkpoint resets it; without it the file stays at its largest size.
                // `synchronous` is the operator's choice (see `SqliteSynchronous`).
                conn.batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = {}; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = {}; \
                     PRAGMA journal_size_limit = 1048576;",
                    SQLITE_BUSY_TIMEOUT.as_millis(),
                    self.synchronous.as_str()
                ))
                .map_err(|e| self.fail(e))?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConn, ConnectError> {
        self.establish()
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectError> {
        conn.ping().map_err(|e| self.fail(e))
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        DISCARD.replace(false) || conn.is_broken()
    }
}

/// A PostgreSQL connection idle for this long is checked with `SELECT 1` before it is used;
/// one that answered more recently is used as it is. r2d2's own check on every checkout cost a
/// round trip per [`Db::run`] (about a quarter of UserInfo's and the code exchange's time on
/// PostgreSQL). What is given up: after a server restart, each connection used within the last
/// second fails the one request that gets it (a 503, at most one per pooled connection) and is
/// then dropped; a checked one can die just after its check all the same. SQLite's connections
/// are files: never checked.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

thread_local! {
    /// Set just before a dead connection is dropped on this thread: r2d2 asks `has_broken` when
    /// the connection is handed back, on the thread that drops it, and so keeps it out.
    static DISCARD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// When a pooled connection last answered (in its r2d2 extensions).
#[derive(Debug, Clone, Copy)]
struct Answered(std::time::Instant);

/// Drops a connection that lost its server instead of handing it back to the pool.
fn discard(conn: PooledConn) {
    DISCARD.set(true);
    drop(conn);
}

/// Whether `conn` must answer `SELECT 1` before it is used.
fn needs_check(conn: &PooledConn) -> bool {
    matches!(**conn, DbConn::Postgres(_))
        && r2d2::PooledConnection::extensions(conn)
            .get::<Answered>()
            .is_none_or(|a| a.0.elapsed() >= CHECK_AFTER_IDLE)
}

/// After `f` ran on `conn`: a connection the server dropped leaves the pool, one that
/// answered is marked so for [`needs_check`].
fn settle<T>(mut conn: PooledConn, result: &Result<T, StoreError>) {
    match result {
        Err(e @ StoreError::Unavailable(_)) if !e.is_disk_full() => discard(conn),
        _ => answered(&mut conn),
    }
}

/// Notes that a PostgreSQL connection answered just now.
fn answered(conn: &mut PooledConn) {
    if matches!(**conn, DbConn::Postgres(_)) {
        let now = std::time::Instant::now();
        let extensions = r2d2::PooledConnection::extensions_mut(conn);
        match extensions.get_mut::<Answered>() {
            Some(a) => a.0 = now,
            None => {
                extensions.insert(Answered(now));
            }
        }
    }
}

/// Logs pool connection failures through tracing (r2d2 uses the `log` crate by default).
#[derive(Debug)]
struct PoolErrorLogger;

impl r2d2::HandleError<ConnectError> for PoolErrorLogger {
    fn handle_error(&self, error: ConnectError) {
        tracing::warn!(%error, "database connection failed");
    }
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConn = r2d2::PooledConnection<ConnectionManager>;

/// The pool plus a way to run blocking Diesel work off the async threads.
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
    /// Set when a write failed on a full disk; cleared when [`Db::readiness`]'s test write
    /// works again. Reads still work on a full disk, so `SELECT 1` alone would say ready.
    disk_full: Arc<AtomicBool>,
    metrics: PoolMetrics,
    /// The delivery worker's doorbell, rung after a closure queued deliveries.
    deliveries_due: Arc<deliveries::Wakeups>,
}

/// What the pool measures itself (registered by `crate::metrics`): the wait for a connection
/// is only known where the connection is taken.
#[derive(Debug, Clone)]
pub struct PoolMetrics {
    pub wait: prometheus_client::metrics::histogram::Histogram,
    pub timeouts: prometheus_client::metrics::counter::Counter,
}

impl Default for PoolMetrics {
    fn default() -> Self {
        Self {
            // 1 ms to the longest pool timeout (300 s).
            wait: prometheus_client::metrics::histogram::Histogram::new([
                0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 300.0,
            ]),
            timeouts: prometheus_client::metrics::counter::Counter::default(),
        }
    }
}

impl PoolMetrics {
    /// Takes a connection within `timeout`, recording the wait (and the failure, if any).
    /// A connection that fails its check (see [`CHECK_AFTER_IDLE`]) is dropped and another
    /// taken, as r2d2 does with its own check.
    fn get(&self, pool: &Pool, timeout: Option<Duration>) -> Result<PooledConn, StoreError> {
        let started = std::time::Instant::now();
        let limit = timeout.unwrap_or_else(|| pool.connection_timeout());
        let conn = loop {
            let left = limit.saturating_sub(started.elapsed());
            match pool.get_timeout(left.max(Duration::from_millis(1))) {
                Ok(mut conn) if needs_check(&conn) => match conn.ping() {
                    Ok(()) => {
                        answered(&mut conn);
                        break Ok(conn);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "database connection failed its check; dropped");
                        discard(conn);
                    }
                },
                other => break other,
            }
        };
        self.wait.observe(started.elapsed().as_secs_f64());
        if conn.is_err() {
            self.timeouts.inc();
        }
        Ok(conn?)
    }
}

/// The pool's size now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
}

impl Db {
    /// Connects once (so an unreachable database is reported clearly), runs pending migrations,
    /// then builds the pool. Later outages do not fail the pool: requests get 503 until it is back.
    pub fn open(settings: &DatabaseSettings) -> Result<Self, OpenError> {
        Self::open_checked(settings, |_| Ok(()))
    }

    /// Like [`Db::open`], running `check` on the first connection before the pool exists. The
    /// pool's threads start connecting at once, and a process that exits while they do can
    /// crash in libpq's exit handlers: so every start-up check runs before it.
    pub fn open_checked<E: From<OpenError>>(
        settings: &DatabaseSettings,
        check: impl FnOnce(&mut DbConn) -> Result<(), E>,
    ) -> Result<Self, E> {
        let manager = ConnectionManager::for_settings(settings);
        let mut conn = manager.establish().map_err(OpenError::from)?;
        run_migrations(&mut conn)?;
        check(&mut conn)?;
        drop(conn);
        let pool = r2d2::Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(1))
            // Checked here instead, only after an idle second (see `CHECK_AFTER_IDLE`).
            .test_on_check_out(false)
            .connection_timeout(settings.timeout)
            .error_handler(Box::new(PoolErrorLogger))
            .build_unchecked(manager);
        Ok(Self {
            pool,
            disk_full: Arc::default(),
            metrics: PoolMetrics::default(),
            deliveries_due: Arc::default(),
        })
    }

    /// One connection, migrated, without a pool: for short-lived CLI commands, which must not
    /// leave pool threads holding connections while the process exits.
    pub fn connect_once(settings: &DatabaseSettings) -> Result<DbConn, OpenError> {
        let mut conn = ConnectionManager::for_settings(settings).establish()?;
        run_migrations(&mut conn)?;
        Ok(conn)
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (pool, metrics) = (self.pool.clone(), self.metrics.clone());
        // Keep the request's span (and its request id) on logs written inside `f`. Traced as a
        // `db` span with a `pool checkout` child (the wait for a connection), inside a request
        // or another span only: the background worker's polling would otherwise start a trace
        // every second.
        let current = tracing::Span::current();
        let db = if current.is_none() {
            tracing::Span::none()
        } else {
            tracing::debug_span!("db", otel.kind = "client")
        };
        let traced = !db.is_disabled();
        let span = if traced { db } else { current };
        let result = tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                let checkout = if traced {
                    tracing::debug_span!("pool checkout")
                } else {
                    tracing::Span::none()
                };
                let mut conn = checkout.in_scope(|| metrics.get(&pool, None))?;
                let result = queued(f, &mut conn);
                settle(conn, &result);
                result
            })
        })
        .await
        .map_err(|e| StoreError::Internal(format!("database task failed: {e}")))?;
        self.finish(result)
    }

    /// Records a full disk, and wakes the delivery worker for what the closure queued: its
    /// transaction has ended by now (an event rolled back only costs the worker a look).
    fn finish<T>(&self, result: Result<WithQueued<T>, StoreError>) -> Result<T, StoreError> {
        match result {
            Ok((value, targets)) => {
                if !targets.is_empty() {
                    self.deliveries_due.queued(targets);
                }
                Ok(value)
            }
            Err(e) => {
                if e.is_disk_full() {
                    self.disk_full.store(true, Ordering::Relaxed);
                }
                Err(e)
            }
        }
    }

    /// The delivery worker's doorbell: rung by [`Db::run`] after a closure queued deliveries.
    pub fn deliveries_due(&self) -> Arc<deliveries::Wakeups> {
        self.deliveries_due.clone()
    }

    /// Like [`Db::run`], answering within `within` whatever happens: the connection is waited
    /// for that long at most, and a query that hangs (a half-open connection) is left behind.
    pub async fn run_within<T, F>(&self, within: Duration, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (pool, metrics) = (self.pool.clone(), self.metrics.clone());
        let span = tracing::Span::current();
        let task = tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                let mut conn = metrics.get(&pool, Some(within))?;
                let result = queued(f, &mut conn);
                settle(conn, &result);
                result
            })
        });
        match tokio::time::timeout(within + Duration::from_millis(250), task).await {
            Ok(Ok(result)) => self.finish(result),
            Ok(Err(e)) => Err(StoreError::Internal(format!("database task failed: {e}"))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {} ms",
                within.as_millis()
            ))),
        }
    }

    /// The instruments the pool records into (for `crate::metrics` to register).
    pub fn pool_metrics(&self) -> &PoolMetrics {
        &self.metrics
    }

    /// How many connections the pool holds and how many are idle.
    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            connections: state.connections,
            idle: state.idle_connections,
            max: self.pool.max_size(),
        }
    }

    /// A connection for synchronous callers (the CLI).
    pub fn get(&self) -> Result<PooledConn, StoreError> {
        self.metrics.get(&self.pool, None)
    }

    /// `SELECT 1` through the pool: is the database answering now?
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|conn| {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok(())
        })
        .await
    }

    /// For the readiness probe: the database answers within `within` (a connection and
    /// `SELECT 1`, not the requests' longer pool timeout), and, after a write failed on a full
    /// disk, a write works again.
    pub async fn readiness(&self, within: Duration) -> Result<(), StoreError> {
        let disk_full = self.disk_full.clone();
        // The blocking task can hang on a half-open connection; the probe answers anyway.
        self.run_within(within, move |conn| {
            if disk_full.load(Ordering::Relaxed) {
                test_write(conn)?;
                disk_full.store(false, Ordering::Relaxed);
                tracing::info!("a write works again after the disk was full");
            } else {
                diesel::sql_query("SELECT 1").execute(conn)?;
            }
            Ok(())
        })
        .await
    }

    /// Checkpoints SQLite's write-ahead log and truncates it to nothing, so it does not keep
    /// the space of its busiest moment. Nothing on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        self.run(|conn| {
            if let DbConn::Sqlite(c) = conn {
                c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")?;
            }
            Ok(())
        })
        .await
    }
}

/// A closure's value and the targets it gave due deliveries.
type WithQueued<T> = (T, std::collections::HashSet<deliveries::TargetKey>);

/// Runs `f` and returns what it queued for the delivery worker along with its result (see
/// `deliveries::QUEUED`: a thread-local, as `f` runs on this blocking thread from start to end).
fn queued<T>(
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
    conn: &mut DbConn,
) -> Result<WithQueued<T>, StoreError> {
    // Left over from work done on this thread outside `Db::run` (a CLI connection): not ours.
    deliveries::take_queued();
    let value = f(conn)?;
    Ok((value, deliveries::take_queued()))
}

/// A write that changes nothing: the schema's `user_version` set to itself (SQLite rewrites
/// the header page, which needs space in the log). On PostgreSQL, where Sesame never marks the
/// disk full, a `SELECT 1`.
fn test_write(conn: &mut DbConn) -> Result<(), StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        user_version: i32,
    }
    match conn {
        DbConn::Sqlite(c) => {
            let v = diesel::sql_query("PRAGMA user_version").get_result::<Version>(c)?;
            c.batch_execute(&format!("PRAGMA user_version = {}", v.user_version))?;
        }
        DbConn::Postgres(c) => {
            diesel::sql_query("SELECT 1").execute(c)?;
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("database migration failed: {0}")]
    Migrate(String),
}

/// Applies the embedded migrations of the connection's backend. On PostgreSQL an advisory lock
/// serializes nodes that start at the same moment.
pub fn run_migrations(conn: &mut DbConn) -> Result<Vec<String>, OpenError> {
    let fail = |e: Box<dyn std::error::Error + Send + Sync>| OpenError::Migrate(e.to_string());
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map_err(fail)?,
        DbConn::Postgres(c) => {
            // An arbitrary constant: "sesame" in ASCII.
            c.batch_execute("SELECT pg_advisory_lock(115101115097109101)")
                .map_err(|e| OpenError::Migrate(e.to_string()))?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|versions| {
                    versions
                        .into_iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                })
                .map_err(fail);
            let _ = c.batch_execute("SELECT pg_advisory_unlock(115101115097109101)");
            return result;
        }
    };
    Ok(applied.into_iter().map(|v| v.to_string()).collect())
}

/// Seconds since the Unix epoch: the portable timestamp stored in every table.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64
}

/// An epoch time as `YYYY-MM-DD HH:MM:SS UTC`, for pages (no time-zone database needed).
pub fn format_utc(epoch: i64) -> String {
    let (days, secs) = (epoch.div_euclid(86_400), epoch.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// An epoch time as RFC 3339 in UTC (`2026-11-28T01:01:01Z`), for JSON answers.
pub fn format_rfc3339(epoch: i64) -> String {
    let readable = format_utc(epoch);
    let (date, time) = readable.split_at(10);
    format!("{date}T{}Z", time.trim_start().trim_end_matches(" UTC"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_795_827_661), "2026-11-28 01:01:01 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_rfc3339(1_795_827_661), "2026-11-28T01:01:01Z");
    }

    #[test]
    fn both_backends_have_the_same_migrations() {
        let names = |dir: &str| {
            let mut v: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            v.sort();
            v
        };
        let (sqlite, postgres) = (names("migrations/sqlite"), names("migrations/postgres"));
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, postgres);
    }

    /// The bundled SQLite is built with the query planner stability guarantee on (see
    /// `.cargo/config.toml`): without it every cached statement with a bound `LIMIT` (each
    /// `.first()`) is parsed and planned again on each execution.
    #[test]
    fn sqlite_plans_do_not_depend_on_bound_values() {
        #[derive(diesel::QueryableByName)]
        struct CompileOption {
            #[diesel(sql_type = diesel::sql_types::Text)]
            compile_options: String,
        }
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let options: Vec<String> = diesel::sql_query("PRAGMA compile_options")
            .load::<CompileOption>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|o| o.compile_options)
            .collect();
        assert!(
            options.iter().any(|o| o == "ENABLE_QPSG"),
            "SQLite was built without SQLITE_ENABLE_QPSG: {options:?}"
        );
    }
}
