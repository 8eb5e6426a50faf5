//! Failed sign-in counters in the database, so every node sees the same counts and locks.
//!
//! Counting is one upsert statement (`INSERT … ON CONFLICT DO UPDATE … RETURNING`); the SQL is
//! the same on both backends except for bind placeholders, so each backend's text is written out
//! here, in one place.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::schema::login_throttle;
use super::{DbConn, StoreError};

#[derive(Debug, QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    failures: i64,
    #[diesel(sql_type = BigInt)]
    lock_count: i64,
}

const COUNT_SQLITE: &str = "INSERT INTO login_throttle (key, failures, window_start, locked_until, lock_count) \
     VALUES (?, 1, ?, NULL, 0) \
     ON CONFLICT (key) DO UPDATE SET \
       failures = CASE WHEN login_throttle.locked_until > ? THEN login_throttle.failures \
         WHEN login_throttle.window_start < ? THEN 1 ELSE login_throttle.failures + 1 END, \
       window_start = CASE WHEN login_throttle.locked_until > ? THEN login_throttle.window_start \
         WHEN login_throttle.window_start < ? THEN excluded.window_start ELSE login_throttle.window_start END \
     RETURNING failures, lock_count";

const COUNT_POSTGRES: &str = "INSERT INTO login_throttle (key, failures, window_start, locked_until, lock_count) \
     VALUES ($1, 1, $2, NULL, 0) \
     ON CONFLICT (key) DO UPDATE SET \
       failures = CASE WHEN login_throttle.locked_until > $2 THEN login_throttle.failures \
         WHEN login_throttle.window_start < $3 THEN 1 ELSE login_throttle.failures + 1 END, \
       window_start = CASE WHEN login_throttle.locked_until > $2 THEN login_throttle.window_start \
         WHEN login_throttle.window_start < $4 THEN excluded.window_start ELSE login_throttle.window_start END \
     RETURNING failures, lock_count";

/// Counts one attempt under `key` at `t`; returns the attempts in the current window and how
/// many times the key was locked before. An attempt while the key is locked is not counted: it
/// is refused anyway, and counting it would lock again, longer, the moment the lock ends (anyone
/// could then keep a known username locked by trying it now and then).
pub fn count_attempt(
    conn: &mut DbConn,
    key: &str,
    window_seconds: i64,
    t: i64,
) -> Result<(i64, i64), StoreError> {
    let window_open = t - window_seconds;
    let rows: Vec<Counted> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(COUNT_SQLITE)
            .bind::<Text, _>(key)
            .bind::<BigInt, _>(t)
            .bind::<BigInt, _>(t)
            .bind::<BigInt, _>(window_open)
            .bind::<BigInt, _>(t)
            .bind::<BigInt, _>(window_open)
            .load(c)?,
        DbConn::Postgres(c) => diesel::sql_query(COUNT_POSTGRES)
            .bind::<Text, _>(key)
            .bind::<BigInt, _>(t)
            .bind::<BigInt, _>(window_open)
            .bind::<BigInt, _>(window_open)
            .load(c)?,
    };
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Corrupt("login_throttle upsert returned nothing".into()))?;
    Ok((row.failures, row.lock_count))
}

/// Takes back the count of an attempt that turned out right.
pub fn forgive(conn: &mut DbConn, key: &str) -> Result<(), StoreError> {
    diesel::update(
        login_throttle::table
            .find(key)
            .filter(login_throttle::failures.gt(0)),
    )
    .set(login_throttle::failures.eq(login_throttle::failures - 1))
    .execute(conn)?;
    Ok(())
}

/// Until when `key` is locked, if it is at `now`.
pub fn locked_until(conn: &mut DbConn, key: &str, now: i64) -> Result<Option<i64>, StoreError> {
    Ok(lock_end(conn, key)?.filter(|u| *u > now))
}

/// Locks an account until `until` (its `lock_count + 1`-th lock) and starts its count afresh.
pub fn lock_account(
    conn: &mut DbConn,
    key: &str,
    until: i64,
    lock_count: i64,
) -> Result<(), StoreError> {
    diesel::update(login_throttle::table.find(key))
        .set((
            login_throttle::locked_until.eq(Some(until)),
            login_throttle::lock_count.eq(lock_count + 1),
            login_throttle::failures.eq(0),
        ))
        .execute(conn)?;
    Ok(())
}

/// Locks `key` until `until`, keeping its count (a client IP waits out its window).
pub fn lock_until(conn: &mut DbConn, key: &str, until: i64) -> Result<(), StoreError> {
    diesel::update(login_throttle::table.find(key))
        .set(login_throttle::locked_until.eq(Some(until)))
        .execute(conn)?;
    Ok(())
}

/// The end of the key's last lock, past or not.
pub fn lock_end(conn: &mut DbConn, key: &str) -> Result<Option<i64>, StoreError> {
    Ok(login_throttle::table
        .find(key)
        .select(login_throttle::locked_until)
        .first::<Option<i64>>(conn)
        .optional()?
        .flatten())
}

/// Ends a lock whose time has passed (locks end lazily, at the next attempt, as WSO2's do), so
/// the end can be reported once. Returns when it ran out, if this call ended it.
pub fn take_expired_lock(
    conn: &mut DbConn,
    key: &str,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let Some(until) = lock_end(conn, key)?.filter(|u| *u <= now) else {
        return Ok(None);
    };
    let n = diesel::update(
        login_throttle::table
            .find(key)
            .filter(login_throttle::locked_until.eq(Some(until))),
    )
    .set(login_throttle::locked_until.eq(None::<i64>))
    .execute(conn)?;
    Ok((n == 1).then_some(until))
}

/// Blocks `key` until `until` and starts its count afresh. Returns the end of the block.
pub fn block(conn: &mut DbConn, key: &str, until: i64) -> Result<i64, StoreError> {
    diesel::update(login_throttle::table.find(key))
        .set((
            login_throttle::locked_until.eq(Some(until)),
            login_throttle::failures.eq(0),
        ))
        .execute(conn)?;
    Ok(until)
}

/// Forgets an account's failures after a successful sign-in.
pub fn reset(conn: &mut DbConn, key: &str) -> Result<(), StoreError> {
    diesel::delete(login_throttle::table.find(key)).execute(conn)?;
    Ok(())
}

/// The keys matching the `LIKE` pattern (backslash escapes, see [`super::escape_like`]), each
/// with the end of its last lock.
pub fn keys_like(
    conn: &mut DbConn,
    pattern: &str,
) -> Result<Vec<(String, Option<i64>)>, StoreError> {
    Ok(login_throttle::table
        .filter(login_throttle::key.like(pattern).escape('\\'))
        .select((login_throttle::key, login_throttle::locked_until))
        .load(conn)?)
}
