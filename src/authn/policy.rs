//! Sign-in policy in one place: the account lock, the network throttle, and the limits on
//! sending codes and links. The counters live in the database (`store::throttle`), so every node
//! sees the same counts; this module decides what the counts mean. Time is an argument, so tests
//! move the clock instead of sleeping.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::store::{DbConn, StoreError, throttle};

/// What repeated failed sign-ins do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockPolicy {
    /// Failed attempts on one account within `window_seconds` that lock it.
    pub max_attempts: i64,
    /// How long the first lock lasts.
    pub duration_seconds: i64,
    /// Each further lock lasts this many times longer than the previous one.
    pub growth_factor: i64,
    /// The longest a lock can last, however often it grew.
    pub max_duration_seconds: i64,
    /// Failures are counted within this window.
    pub window_seconds: i64,
    /// Failed attempts from one client IP within the window before that IP must wait.
    pub ip_max_failures: i64,
    /// Smart lockout: failed passwords lock the account only for the client that made them (a
    /// browser that completed a sign-in to this account before, known by a cookie, or else the
    /// client IP; an IPv6 address by its /64), so a stranger guessing cannot lock its owner out.
    /// `account_daily_ceiling` bounds all unknown clients together.
    pub smart: bool,
    /// With `smart`: failed passwords on one account within a day, from all clients it has not
    /// seen sign in, after which those clients are locked out of it for a day (browsers it knows
    /// still get in). The bound on distributed guessing.
    pub account_daily_ceiling: i64,
}

impl Default for LockPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            duration_seconds: 300,
            growth_factor: 2,
            max_duration_seconds: 86_400,
            window_seconds: 900,
            ip_max_failures: 50,
            smart: false,
            account_daily_ceiling: 100,
        }
    }
}

impl LockPolicy {
    /// Checks the bounds; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let check = super::in_range;
        check("max_attempts", self.max_attempts, 1, 100)?;
        check("duration_seconds", self.duration_seconds, 1, 86_400 * 30)?;
        check("growth_factor", self.growth_factor, 1, 10)?;
        check(
            "max_duration_seconds",
            self.max_duration_seconds,
            self.duration_seconds,
            86_400 * 365,
        )?;
        check("window_seconds", self.window_seconds, 1, 86_400)?;
        check("ip_max_failures", self.ip_max_failures, 1, 100_000)?;
        check(
            "account_daily_ceiling",
            self.account_daily_ceiling,
            1,
            100_000,
        )
    }

    /// The length of the `n`-th lock (0-based), grown and capped.
    pub fn lock_duration(&self, n: i64) -> i64 {
        let mut d = self.duration_seconds;
        for _ in 0..n.clamp(0, 64) {
            d = d.saturating_mul(self.growth_factor);
            if d >= self.max_duration_seconds {
                break;
            }
        }
        d.min(self.max_duration_seconds)
    }
}

/// The throttle key of an account (by username, so unknown names count and lock the same way).
pub fn account_key(organization_id: i64, username: &str) -> String {
    format!("account:{organization_id}:{username}")
}

/// Every throttle entry that can lock the account `username` out, with the end of its last
/// lock: the classic lock, the smart lockout's locks per client (browser or address) and its
/// daily ceiling. What an administrator's unlock clears.
pub fn account_throttle(
    conn: &mut DbConn,
    organization_id: i64,
    username: &str,
) -> Result<Vec<(String, Option<i64>)>, StoreError> {
    let name = crate::store::escape_like(username);
    let mut found = Vec::new();
    for exact in [
        account_key(organization_id, username),
        format!("account-ceiling:{organization_id}:{username}"),
    ] {
        found.extend(throttle::keys_like(
            conn,
            &crate::store::escape_like(&exact),
        )?);
    }
    // A username may hold ':', so `%` could also match another account's key (device `d`
    // and user `x:bob` for bob): the part in between must be a client, as the keys write it.
    for (kind, is_client) in [
        ("account-device", is_device_id as fn(&str) -> bool),
        ("account-ip", is_ip_block),
    ] {
        let prefix = format!("{kind}:{organization_id}:");
        let suffix = format!(":{username}");
        let pattern = format!("{}%:{name}", crate::store::escape_like(&prefix));
        for (key, until) in throttle::keys_like(conn, &pattern)? {
            let client = key
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(&suffix));
            if client.is_some_and(is_client) {
                found.push((key, until));
            }
        }
    }
    Ok(found)
}

/// A browser's id as [`known_device`] makes it: URL-safe base64, no `:`.
fn is_device_id(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A client address as [`ip_block`] writes it: an IPv4 address, or an IPv6 /64.
fn is_ip_block(text: &str) -> bool {
    text.parse::<std::net::Ipv4Addr>().is_ok()
        || text
            .strip_suffix("/64")
            .is_some_and(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok())
}

/// Until when the account `username` is locked out at `now`, for some client or all: the
/// latest of its running locks.
pub fn account_locked_until(
    conn: &mut DbConn,
    organization_id: i64,
    username: &str,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(account_throttle(conn, organization_id, username)?
        .into_iter()
        .filter_map(|(_, until)| until.filter(|u| *u > now))
        .max())
}

/// Ends every lock and forgets every failure counted against the account `username` (an
/// administrator's unlock, a deleted or renamed account). Returns the end of the latest lock
/// that was still running at `now`, if any.
pub fn unlock_account(
    conn: &mut DbConn,
    organization_id: i64,
    username: &str,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let entries = account_throttle(conn, organization_id, username)?;
    for (key, _) in &entries {
        throttle::reset(conn, key)?;
    }
    Ok(entries
        .into_iter()
        .filter_map(|(_, until)| until.filter(|u| *u > now))
        .max())
}

/// One day, the window of the smart lockout's ceiling.
pub const DAY: i64 = 86_400;

/// What a failed password counts against, by the organization's lock policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordKeys {
    /// The lock that refuses this client: the account's (classic), or this client's on the
    /// account (smart).
    pub lock: String,
    /// Smart lockout, a client the account does not know: the account's daily ceiling.
    pub ceiling: Option<String>,
}

impl PasswordKeys {
    /// `device` is the id of a browser that completed a sign-in to this account (see
    /// [`known_device`]); `ip` the client's address.
    pub fn new(
        policy: &LockPolicy,
        organization_id: i64,
        username: &str,
        ip: &str,
        device: Option<&str>,
    ) -> Self {
        if !policy.smart {
            return Self {
                lock: account_key(organization_id, username),
                ceiling: None,
            };
        }
        match device {
            Some(device) => Self {
                lock: format!("account-device:{organization_id}:{device}:{username}"),
                ceiling: None,
            },
            None => Self {
                lock: format!("account-ip:{organization_id}:{}:{username}", ip_block(ip)),
                ceiling: Some(format!("account-ceiling:{organization_id}:{username}")),
            },
        }
    }
}

/// An address as one client: IPv4 whole, IPv6 by its /64 (one subscriber's, usually).
fn ip_block(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(String::new, |v4| v4.to_string()),
        Ok(ip) => ip.to_string(),
        Err(_) => ip.to_string(),
    }
}

/// The value of the cookie a browser gets when it completes a sign-in (smart lockout): a random
/// id and a MAC binding it to the organization and the username, so it cannot be made up or
/// moved to another account. It grants nothing but its own count of failed passwords.
pub fn device_cookie(
    kek: &crate::keys::Kek,
    organization_id: i64,
    username: &str,
) -> Result<Secret<String>, crate::keys::KeyError> {
    let id = crate::secret::random_token(16);
    let mac = device_mac(kek, organization_id, username, id.expose())?;
    Ok(Secret::new(format!("{}.{mac}", id.expose())))
}

/// The device id of a cookie that [`device_cookie`] made for this username, if it is one.
pub fn known_device(
    kek: &crate::keys::Kek,
    organization_id: i64,
    username: &str,
    cookie: &str,
) -> Option<String> {
    use subtle::ConstantTimeEq as _;
    let (id, mac) = cookie.split_once('.')?;
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let expected = device_mac(kek, organization_id, username, id).ok()?;
    bool::from(expected.as_bytes().ct_eq(mac.as_bytes())).then(|| id.to_string())
}

fn device_mac(
    kek: &crate::keys::Kek,
    organization_id: i64,
    username: &str,
    id: &str,
) -> Result<String, crate::keys::KeyError> {
    use base64::Engine as _;
    let mac = kek.mac(
        "device",
        format!("{organization_id}\n{username}\n{id}").as_bytes(),
    )?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac))
}

/// The throttle key of a client IP's failed sign-ins.
pub fn ip_key(organization_id: i64, ip: &str) -> String {
    format!("ip:{organization_id}:{ip}")
}

/// The throttle key of the sign-in links sent to an address.
pub fn link_address_key(organization_id: i64, address: &str) -> String {
    format!("magic-link:{organization_id}:{}", address.to_lowercase())
}

/// The throttle key of the sign-in links asked for from a client IP.
pub fn link_ip_key(organization_id: i64, ip: &str) -> String {
    format!("magic-link-ip:{organization_id}:{ip}")
}

/// The throttle key of the registrations from a client IP (an IPv6 client's whole /64: one
/// host has them all, as for network throttling).
pub fn registration_ip_key(organization_id: i64, ip: &str) -> String {
    format!("register-ip:{organization_id}:{}", ip_block(ip))
}

/// One counted attempt: the attempts in the window (this one included) and the earlier locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub attempts: i64,
    pub locks: i64,
}

/// Counts an attempt under `key` before it is checked, so a burst of parallel guesses cannot
/// slip past the limit; a right answer takes its count back with [`forgive`].
pub fn count(
    conn: &mut DbConn,
    key: &str,
    window_seconds: i64,
    now: i64,
) -> Result<Counted, StoreError> {
    let (attempts, locks) = throttle::count_attempt(conn, key, window_seconds, now)?;
    Ok(Counted { attempts, locks })
}

/// Takes back the count of an attempt that turned out right.
pub fn forgive(conn: &mut DbConn, key: &str) -> Result<(), StoreError> {
    throttle::forgive(conn, key)
}

/// Until when `key` is locked, if it is at `now`.
pub fn locked_until(conn: &mut DbConn, key: &str, now: i64) -> Result<Option<i64>, StoreError> {
    throttle::locked_until(conn, key, now)
}

/// A lock that stops a check: its end, and whether this check set it (for the metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    pub until: i64,
    pub new: bool,
}

/// Before a check, after its attempt was counted: a lock set meanwhile (a lock resets the
/// count, so a request that counted after it must look again), or attempts counted past the
/// limit at the same moment (a parallel burst), stop the check from running.
pub fn lock_if_past(
    conn: &mut DbConn,
    key: &str,
    policy: &LockPolicy,
    counted: Counted,
    now: i64,
) -> Result<Option<Stopped>, StoreError> {
    match throttle::locked_until(conn, key, now)? {
        Some(until) => Ok(Some(Stopped { until, new: false })),
        None if counted.attempts > policy.max_attempts => {
            lock_account(conn, key, policy, counted, now)
                .map(|until| Some(Stopped { until, new: true }))
        }
        None => Ok(None),
    }
}

/// The smart lockout's ceiling (see [`lock_if_past`]): a lock that holds, or a burst past the
/// ceiling, refuses the attempt.
pub fn ceiling_if_past(
    conn: &mut DbConn,
    key: &str,
    policy: &LockPolicy,
    counted: Counted,
    now: i64,
) -> Result<Option<Stopped>, StoreError> {
    match throttle::locked_until(conn, key, now)? {
        Some(until) => Ok(Some(Stopped { until, new: false })),
        None if counted.attempts > policy.account_daily_ceiling => {
            lock_ceiling(conn, key, now).map(|until| Some(Stopped { until, new: true }))
        }
        None => Ok(None),
    }
}

/// Closes an account to the clients it does not know for a day. Returns the end.
pub fn lock_ceiling(conn: &mut DbConn, key: &str, now: i64) -> Result<i64, StoreError> {
    throttle::block(conn, key, now + DAY)
}

/// Whether a failed attempt that was counted as `counted` locks the account.
pub fn locks_now(policy: &LockPolicy, counted: Counted) -> bool {
    counted.attempts >= policy.max_attempts
}

/// Locks the account; the lock's length grows with the earlier locks. Returns its end.
pub fn lock_account(
    conn: &mut DbConn,
    key: &str,
    policy: &LockPolicy,
    counted: Counted,
    now: i64,
) -> Result<i64, StoreError> {
    let until = now + policy.lock_duration(counted.locks);
    throttle::lock_account(conn, key, until, counted.locks)?;
    Ok(until)
}

/// Makes a client IP wait out the window. Returns the end of the wait.
pub fn lock_ip(
    conn: &mut DbConn,
    key: &str,
    policy: &LockPolicy,
    now: i64,
) -> Result<i64, StoreError> {
    let until = now + policy.window_seconds;
    throttle::lock_until(conn, key, until)?;
    Ok(until)
}

/// The state of an account's lock at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// No lock, or one that ended earlier.
    Open,
    /// Locked until then.
    Held(i64),
    /// A lock that ran out at that time and is ended by this call (locks end lazily, at the
    /// account's next attempt, as WSO2's do): the caller publishes `unlockUser` once.
    Ended(i64),
}

/// Reads an account's lock, ending one that ran out (one read when the account has no lock).
/// Call inside a transaction with the `unlockUser` event of [`Lock::Ended`].
pub fn account_lock(conn: &mut DbConn, key: &str, now: i64) -> Result<Lock, StoreError> {
    let Some(until) = throttle::lock_end(conn, key)? else {
        return Ok(Lock::Open);
    };
    if until > now {
        return Ok(Lock::Held(until));
    }
    // Another request may have ended it first: then it is reported there, once.
    Ok(match throttle::take_expired_lock(conn, key, now)? {
        Some(until) => Lock::Ended(until),
        None => Lock::Open,
    })
}

/// Forgets an account's failures after a whole chain passed.
pub fn reset(conn: &mut DbConn, key: &str) -> Result<(), StoreError> {
    throttle::reset(conn, key)
}
