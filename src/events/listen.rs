//! PostgreSQL's `LISTEN`/`NOTIFY`: a trigger (migration `2026-12-05-000020_delivery_wakeups`)
//! notifies `sesame_deliveries` with `{organization id}:{target}` when a delivery becomes due,
//! at commit, whichever node or CLI wrote it; every node listens and starts lanes for that
//! target at once. Another (migration `2026-12-06-000025_administration`) notifies
//! `sesame_organizations` with an organization's id when it or one of its applications
//! changes; every node drops its cached copy ([`crate::state::OrgChanges`]).
//!
//! Diesel reads notifications without blocking and does not expose the connection's socket, so
//! a thread of its own checks the connection every [`CHECK`] (a read of what already arrived,
//! no query) and pings it every [`PING`]. While it is not connected the worker polls every
//! second, and on every (re)connection it looks at every target, for what it may have missed.

use std::collections::HashSet;
use std::sync::Weak;
use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use diesel::pg::PgConnection;

use crate::config::DatabaseUrl;
use crate::state::OrgChanges;
use crate::store::deliveries::{TargetKey, Wakeups};
use crate::store::{ConnectionManager, DbConn};

pub const CHANNEL: &str = "sesame_deliveries";
pub const ORGANIZATIONS: &str = "sesame_organizations";
/// How often the listening connection is checked for notifications that arrived.
const CHECK: Duration = Duration::from_millis(20);
/// How often the listening connection is pinged, so a dead one is noticed and replaced.
const PING: Duration = Duration::from_secs(30);
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// Starts the listening thread; it ends once the worker it wakes is gone.
pub fn spawn(url: DatabaseUrl, wakeups: Weak<Wakeups>, orgs: Weak<OrgChanges>) {
    let started = std::thread::Builder::new()
        .name("sesame-listen".into())
        .spawn(move || listen(&ConnectionManager::new(url), &wakeups, &orgs));
    if let Err(error) = started {
        tracing::warn!(%error, "event delivery: cannot start the PostgreSQL listener; polling");
    }
}

fn listen(manager: &ConnectionManager, wakeups: &Weak<Wakeups>, orgs: &Weak<OrgChanges>) {
    let mut retry = Duration::from_secs(1);
    loop {
        let Some(w) = wakeups.upgrade() else { return };
        w.set_listening(false);
        drop(w);
        let failure = match manager.establish() {
            Ok(DbConn::Postgres(mut conn)) => {
                let listening = diesel::sql_query(format!("LISTEN {CHANNEL}"))
                    .execute(&mut conn)
                    .and_then(|_| {
                        diesel::sql_query(format!("LISTEN {ORGANIZATIONS}")).execute(&mut conn)
                    });
                match listening {
                    Ok(_) => {
                        retry = Duration::from_secs(1);
                        match relay(&mut conn, wakeups, orgs) {
                            Ok(()) => return,
                            Err(e) => {
                                // The worker looks now and polls every second from then,
                                // not only after the wait before reconnecting.
                                if let Some(w) = wakeups.upgrade() {
                                    w.set_listening(false);
                                    w.notify_one();
                                }
                                e.to_string()
                            }
                        }
                    }
                    Err(e) => e.to_string(),
                }
            }
            Ok(DbConn::Sqlite(_)) => return,
            Err(e) => e.to_string(),
        };
        tracing::warn!(error = %failure, "event delivery: not listening to PostgreSQL notifications; polling every second");
        std::thread::sleep(retry);
        retry = (retry * 2).min(RECONNECT_MAX);
    }
}

/// Hands notifications to the worker and the organization cache until the connection fails
/// (`Err`) or the worker is gone (`Ok`).
fn relay(
    conn: &mut PgConnection,
    wakeups: &Weak<Wakeups>,
    orgs: &Weak<OrgChanges>,
) -> Result<(), diesel::result::Error> {
    let Some(w) = wakeups.upgrade() else {
        return Ok(());
    };
    w.set_listening(true);
    // Whatever became due, or changed, while nobody listened.
    w.notify_one();
    drop(w);
    if let Some(o) = orgs.upgrade() {
        o.everything();
    }
    let mut pinged = Instant::now();
    loop {
        let mut targets = HashSet::new();
        let mut unknown = false;
        for notification in conn.notifications_iter() {
            let notification = notification?;
            if notification.channel == ORGANIZATIONS {
                if let Some(o) = orgs.upgrade() {
                    match notification.payload.parse() {
                        Ok(id) => o.changed(id),
                        Err(_) => o.everything(),
                    }
                }
                continue;
            }
            match TargetKey::parse(&notification.payload) {
                Some(key) => {
                    targets.insert(key);
                }
                None => unknown = true,
            }
        }
        let Some(w) = wakeups.upgrade() else {
            return Ok(());
        };
        if !targets.is_empty() {
            w.queued(targets);
        }
        if unknown {
            w.notify_one();
        }
        if pinged.elapsed() >= PING {
            // A ping that hangs (a half-open connection) leaves the worker polling meanwhile.
            w.set_listening(false);
            diesel::sql_query("SELECT 1").execute(conn)?;
            w.set_listening(true);
            pinged = Instant::now();
        }
        drop(w);
        std::thread::sleep(CHECK);
    }
}
