//! Write transactions: `BEGIN IMMEDIATE` on SQLite behind the process's own writers' lock, a
//! plain transaction on PostgreSQL, and a transaction that is always rolled back (dry runs).

use std::time::Duration;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::result::Error as DieselError;

use super::{DbConn, StoreError};

/// How long SQLite waits for another connection's write lock (`PRAGMA busy_timeout`).
pub(super) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite write transactions of this process, one at a time (SQLite allows one writer).
/// They queue here, where the next one starts as soon as the last commits, rather than in
/// SQLite's busy handler, which sleeps 1, 2, 5, 10, 15… ms between tries however soon the lock
/// is free (with eight token requests at once, the code exchange went from 1.5 to 1.95 times the
/// peer's, `bash bench/run`). A writer waits here at most [`SQLITE_WRITER_WAIT`] and then goes on
/// to SQLite's own wait, as every writer did before: another process holding the database (a CLI
/// command) costs a request at most that second plus the busy timeout, never a queue of busy
/// timeouts. Single-statement writes outside a transaction, and other processes, meet SQLite's
/// busy handler as before. One lock for every SQLite database of the process: writers of
/// different files (tests only) wait for each other's short transactions.
static SQLITE_WRITER: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// The longest wait for [`SQLITE_WRITER`]: far more than a queue of the server's transactions
/// (well under a millisecond each) takes, far less than the busy timeout.
const SQLITE_WRITER_WAIT: Duration = Duration::from_secs(1);

thread_local! {
    /// How deep this thread is in SQLite write transactions: a transaction opened inside
    /// another (an administrative change calling a store function that has its own) is a
    /// savepoint of it, as Diesel's nested transactions are on PostgreSQL, and never waits for
    /// the writers' lock its own thread holds.
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs `f` in a write transaction. On SQLite it is `BEGIN IMMEDIATE`: a deferred transaction
/// that reads before it writes fails at once with BUSY when another connection wrote meanwhile,
/// while an immediate one takes the write lock up front and waits its turn (the process's own
/// writers in [`SQLITE_WRITER`], then SQLite's busy timeout). Inside another write transaction
/// of the same connection it is a savepoint (on both backends): an error undoes what `f` did
/// and leaves the outer transaction to its caller.
pub fn write_transaction<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if matches!(conn, DbConn::Postgres(_)) {
        return conn.transaction(f);
    }
    sqlite_transaction(conn, End::Commit, f)
}

/// This thread's turn in [`SQLITE_WRITER`], given back when dropped (also by a panic).
struct WriterTurn {
    _guard: parking_lot::MutexGuard<'static, ()>,
}

impl WriterTurn {
    /// The turn, or `None` when [`SQLITE_WRITER_WAIT`] passed waiting for it.
    fn take() -> Option<Self> {
        let guard = SQLITE_WRITER.try_lock_for(SQLITE_WRITER_WAIT)?;
        Some(Self { _guard: guard })
    }
}

/// Runs `f` in a write transaction that is always rolled back: what `f` would change is seen
/// inside it and then undone (a dry run).
pub fn rolled_back<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    /// Carries `f`'s answer out of Diesel's transaction as an error, so that it rolls back.
    enum Undo<T> {
        Done(T),
        Failed(StoreError),
    }
    impl<T> From<DieselError> for Undo<T> {
        fn from(e: DieselError) -> Self {
            Self::Failed(e.into())
        }
    }
    if let DbConn::Postgres(_) = conn {
        let undone = conn.transaction::<std::convert::Infallible, Undo<T>, _>(|conn| {
            Err(match f(conn) {
                Ok(value) => Undo::Done(value),
                Err(e) => Undo::Failed(e),
            })
        });
        return match undone {
            Err(Undo::Done(value)) => Ok(value),
            Err(Undo::Failed(e)) => Err(e),
            Ok(never) => match never {},
        };
    }
    sqlite_transaction(conn, End::Rollback, f)
}

/// How a SQLite transaction whose closure succeeded ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Commit,
    Rollback,
}

/// `BEGIN IMMEDIATE` in this thread's turn among the writers, `f`, then `COMMIT` (or
/// `ROLLBACK` for [`End::Rollback`]), and `ROLLBACK` when `f` failed or panicked: a panic must
/// not hand the connection back to the pool inside a transaction that holds SQLite's write lock
/// (every other writer would then fail with BUSY).
fn sqlite_transaction<T>(
    conn: &mut DbConn,
    end: End,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let nested = DEPTH.get() > 0;
    let _turn = if nested { None } else { WriterTurn::take() };
    let (begin, commit, rollback) = if nested {
        (
            "SAVEPOINT sesame_nested",
            "RELEASE sesame_nested",
            "ROLLBACK TO sesame_nested; RELEASE sesame_nested",
        )
    } else {
        ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
    };
    conn.batch_execute(begin)?;
    DEPTH.set(DEPTH.get() + 1);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)));
    DEPTH.set(DEPTH.get() - 1);
    match outcome {
        Ok(Ok(value)) if end == End::Commit => match conn.batch_execute(commit) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = conn.batch_execute(rollback);
                Err(e.into())
            }
        },
        Ok(Ok(value)) => {
            conn.batch_execute(rollback)?;
            Ok(value)
        }
        Ok(Err(e)) => {
            let _ = conn.batch_execute(rollback);
            Err(e)
        }
        Err(panic) => {
            let _ = conn.batch_execute(rollback);
            std::panic::resume_unwind(panic)
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;
    use diesel::sqlite::SqliteConnection;

    use super::*;

    fn rows(conn: &mut DbConn) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query("SELECT COUNT(*) AS n FROM t")
            .get_result::<Count>(conn)
            .unwrap()
            .n
    }

    /// A write transaction that panics is rolled back before the panic goes on, so its
    /// connection goes back to the pool outside any transaction, and the writers' lock is free.
    #[test]
    fn a_panicking_write_transaction_is_rolled_back_and_frees_the_writers() {
        let mut conn = DbConn::Sqlite(SqliteConnection::establish(":memory:").unwrap());
        conn.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_transaction(&mut conn, |c| -> Result<(), StoreError> {
                c.batch_execute("INSERT INTO t VALUES (1)")?;
                panic!("a bug in the closure");
            })
        }));
        assert!(panicked.is_err());
        assert_eq!(rows(&mut conn), 0, "the insert was rolled back");
        assert_eq!(DEPTH.get(), 0, "this thread is out of the transaction");
        write_transaction(&mut conn, |c| {
            Ok(c.batch_execute("INSERT INTO t VALUES (2)")?)
        })
        .expect("a new transaction opens on the same connection");
        assert_eq!(rows(&mut conn), 1);
        // Another thread gets the lock (it was not left held).
        std::thread::spawn(|| assert!(WriterTurn::take().is_some()))
            .join()
            .unwrap();
    }

    /// A transaction inside another is a savepoint: its failure undoes its own writes only,
    /// and neither waits for the writers' lock its thread holds.
    #[test]
    fn a_transaction_inside_another_is_a_savepoint() {
        let mut conn = DbConn::Sqlite(SqliteConnection::establish(":memory:").unwrap());
        conn.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
        write_transaction(&mut conn, |c| {
            c.batch_execute("INSERT INTO t VALUES (1)")?;
            write_transaction(c, |c| Ok(c.batch_execute("INSERT INTO t VALUES (2)")?))?;
            let failed = write_transaction(c, |c| -> Result<(), StoreError> {
                c.batch_execute("INSERT INTO t VALUES (3)")?;
                Err(StoreError::Conflict("undo this one".into()))
            });
            assert!(failed.is_err());
            assert_eq!(
                rows(c),
                2,
                "the failed inner writes are undone, the others seen"
            );
            Ok(())
        })
        .unwrap();
        assert_eq!(rows(&mut conn), 2, "both kept writes committed");
        assert_eq!(DEPTH.get(), 0);
    }

    #[test]
    fn a_rolled_back_transaction_answers_and_keeps_nothing() {
        let mut conn = DbConn::Sqlite(SqliteConnection::establish(":memory:").unwrap());
        conn.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
        let seen = rolled_back(&mut conn, |c| {
            c.batch_execute("INSERT INTO t VALUES (1), (2)")?;
            Ok(rows(c))
        })
        .unwrap();
        assert_eq!(seen, 2, "the closure sees its own writes");
        assert_eq!(rows(&mut conn), 0, "and none is kept");
        let failed = rolled_back(&mut conn, |c| -> Result<(), StoreError> {
            c.batch_execute("INSERT INTO nowhere VALUES (1)")?;
            Ok(())
        });
        assert!(failed.is_err(), "the closure's error is the answer");
        write_transaction(&mut conn, |c| {
            Ok(c.batch_execute("INSERT INTO t VALUES (3)")?)
        })
        .unwrap();
        assert_eq!(rows(&mut conn), 1);
    }
}
