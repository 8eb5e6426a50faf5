//! Deliveries of outbox events to their targets, claimed by a lease so that several nodes share
//! the work without sending twice in the normal case, and a node that dies leaves its claims to
//! be picked up again (at least once).

use std::collections::HashSet;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::schema::{deliveries, event_outbox};
use super::{DbConn, StoreError, now};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const DEAD: &str = "dead";
/// The target of SMS OTP events sent through the organization's gateways.
pub const SMS: &str = "sms";
/// The kind of the targets `webhook:{subscription id}`, in figures that group them.
pub const WEBHOOK: &str = "webhook";
/// The kind of the targets `sink:{name}` (an organization's brokers).
pub const SINK: &str = "sink";
/// The kinds of targets, as figures group them.
pub const KINDS: [&str; 3] = [SMS, WEBHOOK, SINK];

/// The kind of a delivery's target: [`SMS`], [`WEBHOOK`] or [`SINK`].
pub fn kind_of(target: &str) -> &'static str {
    if target == SMS {
        SMS
    } else if target.starts_with("sink:") {
        SINK
    } else {
        WEBHOOK
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, QueryableByName)]
#[diesel(table_name = deliveries)]
pub struct Delivery {
    pub id: String,
    pub jti: String,
    pub organization_id: i64,
    pub target: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub give_up_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

impl Delivery {
    /// A new delivery of `jti` to `target`. `claimed_until` set means the caller delivers it
    /// right away (attempt 1) and the worker only takes over if that does not finish in time.
    pub fn new(
        jti: &str,
        organization_id: i64,
        target: &str,
        give_up_at: i64,
        claimed_until: Option<i64>,
    ) -> Self {
        let t = now();
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            jti: jti.to_string(),
            organization_id,
            target: target.to_string(),
            state: PENDING.into(),
            attempts: i64::from(claimed_until.is_some()),
            next_attempt_at: claimed_until.unwrap_or(t),
            give_up_at,
            last_error: None,
            created_at: t,
            delivered_at: None,
        }
    }

    /// Queues a delivery; one due now wakes this node's worker once the transaction is over.
    pub fn insert(conn: &mut DbConn, d: &Self) -> Result<(), StoreError> {
        diesel::insert_into(deliveries::table)
            .values(d)
            .execute(conn)?;
        if d.state == PENDING && d.next_attempt_at <= now() {
            note_queued(d.target_key());
        }
        Ok(())
    }

    /// The deliveries of one event.
    pub fn of_event(conn: &mut DbConn, jti: &str) -> Result<Vec<Self>, StoreError> {
        Ok(deliveries::table
            .filter(deliveries::jti.eq(jti))
            .select(Self::as_select())
            .load(conn)?)
    }
}

/// How an organization's deliveries to one target stand, in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetState {
    pub target: String,
    pub state: String,
    pub count: i64,
    /// When the oldest of them was queued.
    pub oldest: i64,
}

/// The organization's deliveries the outbox holds (delivered ones for a week), counted by target
/// and state: what `sesame events list` sums up per webhook, sink and the SMS channel.
pub fn by_target(conn: &mut DbConn, organization_id: i64) -> Result<Vec<TargetState>, StoreError> {
    use diesel::dsl::{count_star, min};
    let rows: Vec<(String, String, i64, Option<i64>)> = deliveries::table
        .filter(deliveries::organization_id.eq(organization_id))
        .group_by((deliveries::target, deliveries::state))
        .select((
            deliveries::target,
            deliveries::state,
            count_star(),
            min(deliveries::created_at),
        ))
        .order_by((deliveries::target, deliveries::state))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(target, state, count, oldest)| TargetState {
            target,
            state,
            count,
            oldest: oldest.unwrap_or_default(),
        })
        .collect())
}

/// One target's lane: a webhook subscription (`webhook:{id}`), an event sink (`sink:{name}`) or
/// an organization's SMS channel (`sms`). The worker bounds the deliveries in flight per
/// target, so a slow or dead receiver only delays its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetKey {
    pub organization_id: i64,
    pub target: String,
}

impl TargetKey {
    /// Reads `{organization id}:{target}`, the payload of PostgreSQL's `sesame_deliveries`
    /// notifications.
    pub fn parse(payload: &str) -> Option<Self> {
        let (org, target) = payload.split_once(':')?;
        Some(Self {
            organization_id: org.parse().ok()?,
            target: target.to_string(),
        })
        .filter(|k| !k.target.is_empty())
    }
}

impl std::fmt::Display for TargetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.organization_id, self.target)
    }
}

impl Delivery {
    pub fn target_key(&self) -> TargetKey {
        TargetKey {
            organization_id: self.organization_id,
            target: self.target.clone(),
        }
    }
}

thread_local! {
    /// Targets given a due delivery by the database work running on this thread. `Db::run`
    /// empties it before its closure and hands what the closure queued to the worker after it
    /// returns, that is after its transaction committed: so every writer of the outbox wakes
    /// the worker without knowing about it.
    static QUEUED: std::cell::RefCell<HashSet<TargetKey>> = std::cell::RefCell::new(HashSet::new());
}

fn note_queued(key: TargetKey) {
    QUEUED.with(|q| q.borrow_mut().insert(key));
}

/// Takes the targets queued on this thread since the last call (see [`QUEUED`]).
pub(crate) fn take_queued() -> HashSet<TargetKey> {
    QUEUED.with(|q| std::mem::take(&mut *q.borrow_mut()))
}

/// What the delivery worker of this node has been told since it last looked: targets given due
/// deliveries (by this process after a commit, or by another node through PostgreSQL's
/// NOTIFY), a request to look at everything, and the earliest retry recorded.
#[derive(Debug, Default)]
pub struct Wake {
    pub targets: HashSet<TargetKey>,
    pub everything: bool,
    pub retry_at: Option<i64>,
}

/// The worker's doorbell. Wakes are kept until taken, so none is lost between two looks.
#[derive(Debug, Default)]
pub struct Wakeups {
    pending: std::sync::Mutex<Wake>,
    notify: tokio::sync::Notify,
    /// Whether this node receives PostgreSQL's notifications now (the worker then polls
    /// slowly: a safety net only).
    listening: std::sync::atomic::AtomicBool,
}

impl Wakeups {
    fn update(&self, f: impl FnOnce(&mut Wake)) {
        f(&mut self.pending.lock().expect("wakeups lock"));
        self.notify.notify_one();
    }

    /// These targets have due deliveries.
    pub fn queued(&self, targets: impl IntoIterator<Item = TargetKey>) {
        self.update(|w| w.targets.extend(targets));
    }

    /// Something may be due somewhere: the worker looks at every target.
    pub fn notify_one(&self) {
        self.update(|w| w.everything = true);
    }

    /// A delivery is due again at `at` (unix seconds).
    pub fn retry_at(&self, at: i64) {
        self.update(|w| w.retry_at = Some(w.retry_at.map_or(at, |r| r.min(at))));
    }

    /// Waits until something was told (returns at once if it was since the last take).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// What was told since the last take.
    pub fn take(&self) -> Wake {
        std::mem::take(&mut *self.pending.lock().expect("wakeups lock"))
    }

    pub fn set_listening(&self, on: bool) {
        self.listening
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn listening(&self) -> bool {
        self.listening.load(std::sync::atomic::Ordering::Relaxed)
    }
}

const CLAIM_SQLITE: &str = "UPDATE deliveries SET next_attempt_at = ?, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM deliveries WHERE target = ? AND organization_id = ? \
                  AND state = 'pending' AND next_attempt_at <= ? \
                  ORDER BY next_attempt_at LIMIT ?) \
     RETURNING *";

/// `SKIP LOCKED`: rows another node (or another lane of this one) is claiming at this moment
/// are left to it.
const CLAIM_POSTGRES: &str = "UPDATE deliveries SET next_attempt_at = $1, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM deliveries WHERE target = $2 AND organization_id = $3 \
                  AND state = 'pending' AND next_attempt_at <= $4 \
                  ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED) \
     RETURNING *";

/// Claims up to `limit` due deliveries of one target for `lease` seconds, oldest first: they
/// are this node's to deliver, and due again if it has not recorded an outcome by then. The
/// worker claims only as many as it starts at once, so a crash replays only what was in flight.
pub fn claim(
    conn: &mut DbConn,
    key: &TargetKey,
    lease: i64,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let t = now();
    Ok(match conn {
        DbConn::Sqlite(c) => diesel::sql_query(CLAIM_SQLITE)
            .bind::<BigInt, _>(t + lease)
            .bind::<Text, _>(&key.target)
            .bind::<BigInt, _>(key.organization_id)
            .bind::<BigInt, _>(t)
            .bind::<BigInt, _>(limit)
            .load(c)?,
        DbConn::Postgres(c) => diesel::sql_query(CLAIM_POSTGRES)
            .bind::<BigInt, _>(t + lease)
            .bind::<Text, _>(&key.target)
            .bind::<BigInt, _>(key.organization_id)
            .bind::<BigInt, _>(t)
            .bind::<BigInt, _>(limit)
            .load(c)?,
    })
}

/// Marks dead what expired while it waited (an expired code is never sent). Returns how many.
pub fn expire(conn: &mut DbConn) -> Result<usize, StoreError> {
    let expired: Vec<String> = deliveries::table
        .filter(deliveries::state.eq(PENDING))
        .filter(deliveries::give_up_at.le(now()))
        .select(deliveries::jti)
        .load(conn)?;
    stop(conn, &expired, "expired before it could be delivered")?;
    Ok(expired.len())
}

/// The targets with due deliveries and how many each has, the longest-waiting first.
pub fn due_targets(conn: &mut DbConn) -> Result<Vec<(TargetKey, i64)>, StoreError> {
    use diesel::dsl::{count_star, min};
    let rows: Vec<(i64, String, i64)> = deliveries::table
        .filter(deliveries::state.eq(PENDING))
        .filter(deliveries::next_attempt_at.le(now()))
        .group_by((deliveries::organization_id, deliveries::target))
        .select((
            deliveries::organization_id,
            deliveries::target,
            count_star(),
        ))
        .order(min(deliveries::next_attempt_at))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(organization_id, target, due)| {
            (
                TargetKey {
                    organization_id,
                    target,
                },
                due,
            )
        })
        .collect())
}

/// When the next pending delivery falls due after `t`: a retry after its backoff, or a claim
/// whose lease runs out (its node may have died).
pub fn next_due_after(conn: &mut DbConn, t: i64) -> Result<Option<i64>, StoreError> {
    Ok(deliveries::table
        .filter(deliveries::state.eq(PENDING))
        .filter(deliveries::next_attempt_at.gt(t))
        .select(diesel::dsl::min(deliveries::next_attempt_at))
        .first(conn)?)
}

/// The pending deliveries of one kind of target ([`KINDS`]).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Backlog {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub target: String,
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    pub oldest_created_at: Option<i64>,
}

/// What waits to be delivered, by kind of target: one aggregate over the pending rows (the
/// `deliveries_due` index starts with the state), cheap enough for every scrape.
pub fn backlog(conn: &mut DbConn) -> Result<Vec<Backlog>, StoreError> {
    let query = diesel::sql_query(
        "SELECT CASE WHEN target = 'sms' THEN 'sms' WHEN target LIKE 'sink:%' THEN 'sink' \
         ELSE 'webhook' END AS target, \
         COUNT(*) AS pending, MIN(created_at) AS oldest_created_at \
         FROM deliveries WHERE state = 'pending' GROUP BY 1",
    );
    Ok(match conn {
        DbConn::Sqlite(c) => query.load(c)?,
        DbConn::Postgres(c) => query.load(c)?,
    })
}

/// Records a delivery done; the event counts as delivered once none of its deliveries is
/// pending.
pub fn delivered(conn: &mut DbConn, id: &str, jti: &str) -> Result<(), StoreError> {
    let t = now();
    diesel::update(
        deliveries::table
            .find(id)
            .filter(deliveries::state.eq(PENDING)),
    )
    .set((
        deliveries::state.eq(DELIVERED),
        deliveries::delivered_at.eq(Some(t)),
        deliveries::last_error.eq(None::<String>),
    ))
    .execute(conn)?;
    settle(conn, jti)
}

/// Records a failed attempt: due again at `retry_at`, or dead when that is `None` (a
/// permanent error, or past `give_up_at`). Returns when it is due again, if it is.
pub fn failed(
    conn: &mut DbConn,
    d: &Delivery,
    error: &str,
    retry_at: Option<i64>,
) -> Result<Option<i64>, StoreError> {
    let error: String = error.chars().take(500).collect();
    // The last retry is kept, brought forward to just before the end, rather than dropped.
    let retry_at = retry_at
        .map(|at| at.min(d.give_up_at - 1))
        .filter(|at| *at > now());
    match retry_at {
        Some(at) => {
            diesel::update(
                deliveries::table
                    .find(&d.id)
                    .filter(deliveries::state.eq(PENDING)),
            )
            .set((
                deliveries::next_attempt_at.eq(at),
                deliveries::last_error.eq(Some(error)),
            ))
            .execute(conn)?;
            Ok(Some(at))
        }
        None => {
            diesel::update(
                deliveries::table
                    .find(&d.id)
                    .filter(deliveries::state.eq(PENDING)),
            )
            .set((
                deliveries::state.eq(DEAD),
                deliveries::last_error.eq(Some(error)),
            ))
            .execute(conn)?;
            settle(conn, &d.jti)?;
            Ok(None)
        }
    }
}

/// Stops the pending deliveries of these events (their content is void).
pub fn stop(conn: &mut DbConn, jtis: &[String], reason: &str) -> Result<(), StoreError> {
    if jtis.is_empty() {
        return Ok(());
    }
    diesel::update(
        deliveries::table
            .filter(deliveries::jti.eq_any(jtis))
            .filter(deliveries::state.eq(PENDING)),
    )
    .set((
        deliveries::state.eq(DEAD),
        deliveries::last_error.eq(Some(reason)),
    ))
    .execute(conn)?;
    for jti in jtis {
        settle(conn, jti)?;
    }
    Ok(())
}

/// Marks the event delivered once no delivery of it is pending (so its sealed payload can go).
/// One statement: it runs for every delivery recorded.
pub fn settle(conn: &mut DbConn, jti: &str) -> Result<(), StoreError> {
    use diesel::dsl::{exists, not};
    let pending = deliveries::table
        .filter(deliveries::jti.eq(jti))
        .filter(deliveries::state.eq(PENDING));
    diesel::update(
        event_outbox::table
            .find(jti)
            .filter(event_outbox::delivered_at.is_null())
            .filter(not(exists(pending))),
    )
    .set(event_outbox::delivered_at.eq(Some(now())))
    .execute(conn)?;
    Ok(())
}

/// Makes a delivery due again now (redelivery by an administrator), for `max_age` more
/// seconds. An event carrying a code is redelivered only while that code is still live (not
/// expired, used or replaced): a dead code is never sent. Returns whether it was scheduled.
pub fn redeliver(conn: &mut DbConn, id: &str, max_age: i64) -> Result<bool, StoreError> {
    use super::schema::sms_otps;
    super::write_transaction(conn, |conn| {
        let t = now();
        let Some(d) = deliveries::table
            .find(id)
            .select(Delivery::as_select())
            .first(conn)
            .optional()?
        else {
            return Ok(false);
        };
        let codes: Vec<(i64, Option<i64>, Option<i64>)> = sms_otps::table
            .filter(sms_otps::event_jti.eq(&d.jti))
            .select((sms_otps::expires_at, sms_otps::used_at, sms_otps::voided_at))
            .load(conn)?;
        let give_up_at = match codes.first() {
            Some((expires, None, None)) if *expires > t => *expires,
            Some(_) => return Ok(false),
            None => t + max_age,
        };
        diesel::update(deliveries::table.find(id))
            .set((
                deliveries::state.eq(PENDING),
                deliveries::next_attempt_at.eq(t),
                deliveries::give_up_at.eq(give_up_at),
                deliveries::delivered_at.eq(None::<i64>),
            ))
            .execute(conn)?;
        diesel::update(event_outbox::table.find(&d.jti))
            .set(event_outbox::delivered_at.eq(None::<i64>))
            .execute(conn)?;
        note_queued(d.target_key());
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::TargetKey;

    #[test]
    fn a_notification_names_its_target() {
        let key = TargetKey::parse("12:webhook:0b7e-41").unwrap();
        assert_eq!(key.organization_id, 12);
        assert_eq!(key.target, "webhook:0b7e-41");
        assert_eq!(key.to_string(), "12:webhook:0b7e-41");
        assert_eq!(TargetKey::parse("3:sms").unwrap().target, "sms");
        for bad in ["", "sms", "x:sms", "12:", "-:webhook:a"] {
            assert_eq!(TargetKey::parse(bad), None, "{bad}");
        }
    }
}
