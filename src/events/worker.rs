//! The delivery worker: every node runs one. It claims due deliveries with a lease (see
//! `store::deliveries`), delivers them, and records the outcome: delivered, due again after an
//! exponential backoff with jitter, or dead (a permanent error, or past the delivery's
//! `give_up_at` — for an OTP, its expiry, so a dead code is never sent).
//!
//! **Lanes.** Deliveries go out per target (a webhook subscription, an event sink, an
//! organization's SMS channel), at most `SESAME_DELIVERY_CONCURRENCY` at once per target on a
//! node. A lane holds one delivery under its own lease; when it is done, the lane records the
//! outcome and claims the next due delivery of the same target in one transaction. So a fast
//! receiver's deliveries flow back to back while a slow or dead receiver's lanes wait for it (up
//! to the outbound timeout), and a node that dies replays only the deliveries its lanes had in
//! flight. A batch that waits for its slowest member would make one slow receiver everyone's
//! problem.
//!
//! **Wake-ups.** The dispatcher starts lanes when it is told that deliveries are due: by
//! [`crate::store::Db::run`] after a closure queued some (every writer of the outbox runs in
//! one), by PostgreSQL's `NOTIFY` from any node or the CLI (see [`super::listen`]), by a retry
//! falling due, and by a safety poll (every second without notifications: SQLite, where the CLI
//! is another process; every 10 s while notifications arrive). The poll also finds the claims of
//! a node that died, once their lease has run out.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::plugin::{EventSink, SendError, Sms};
use crate::state::{Core, CoreError, OrgEntry};
use crate::store::deliveries::{self, Delivery, TargetKey};
use crate::store::events::OutboxEvent;
use crate::store::now;
use crate::store::organizations::Organization;
use crate::store::otps::SmsOtp;
use crate::store::subscriptions::{self, Subscription};

/// Deliveries in flight on one node, all targets together: a bound on tasks and connections
/// when many receivers are slow at once.
const MAX_IN_FLIGHT: usize = 256;
/// The safety poll without PostgreSQL notifications (SQLite, or the listener reconnecting).
const POLL: Duration = Duration::from_secs(1);
/// The safety poll while notifications arrive: a notification lost with a connection, or a
/// lease run out on a node that died.
const POLL_LISTENING: Duration = Duration::from_secs(10);
/// Intent verifications claimed at once.
const VERIFY_BATCH: i64 = 16;

/// The wait before attempt `attempts + 1`: 2 s doubling to at most 5 minutes, ±25% jitter so
/// that many failed deliveries do not all come back at once.
pub fn backoff(attempts: i64) -> i64 {
    let base = 2i64
        .saturating_mul(1 << attempts.clamp(1, 20).saturating_sub(1))
        .min(300);
    let jitter = rand::rng().random_range(-(base / 4)..=(base / 4));
    (base + jitter).max(1)
}

/// Runs the worker (deliveries and intent verifications) until the process ends.
pub fn spawn(state: Arc<Core>) {
    if matches!(
        state.settings.database.url,
        crate::config::DatabaseUrl::Postgres(_)
    ) {
        super::listen::spawn(
            state.settings.database.url.clone(),
            Arc::downgrade(&state.deliveries_due),
            Arc::downgrade(&state.org_changes),
        );
    }
    tokio::spawn(verifications(state.clone()));
    let lanes = Arc::new(Lanes::new(
        state.settings.delivery_concurrency,
        MAX_IN_FLIGHT,
    ));
    tokio::spawn(dispatch(state, lanes));
}

async fn verifications(state: Arc<Core>) {
    loop {
        match verify_due(&state).await {
            // A full batch: there may be more due right now.
            Ok(n) if n as i64 == VERIFY_BATCH => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "WebSub: cannot claim verifications"),
        }
        tokio::select! {
            () = state.verifications_due.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// The lanes running on this node, per target.
#[derive(Debug)]
struct Lanes {
    per_target: usize,
    max: usize,
    inner: Mutex<LaneState>,
}

#[derive(Debug, Default)]
struct LaneState {
    running: HashMap<TargetKey, usize>,
    total: usize,
    /// Targets the dispatcher found full: their lanes look once more before they end, so a
    /// delivery queued while the last lane was finishing is not left to the safety poll.
    recheck: HashSet<TargetKey>,
    /// The dispatcher left due deliveries for lack of room on this node: the next lane to end
    /// asks it to look everywhere again.
    starved: bool,
}

impl Lanes {
    fn new(per_target: usize, max: usize) -> Self {
        Self {
            per_target,
            max,
            inner: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LaneState> {
        self.inner.lock().expect("lanes lock")
    }

    /// Reserves up to `want` new lanes for `key`, as many as its bound and the node's allow.
    fn reserve(&self, key: &TargetKey, want: usize) -> usize {
        let mut s = self.state();
        let free = self
            .per_target
            .saturating_sub(s.running.get(key).copied().unwrap_or(0));
        if free == 0 {
            s.recheck.insert(key.clone());
            return 0;
        }
        let room = self.max.saturating_sub(s.total);
        if room < want.min(free) {
            s.starved = true;
        }
        let n = want.min(free).min(room);
        if n > 0 {
            *s.running.entry(key.clone()).or_default() += n;
            s.total += n;
        }
        n
    }

    /// Gives back `n` lanes of `key`. Returns whether due deliveries were left for lack of room
    /// (the dispatcher should look everywhere again).
    fn release(&self, key: &TargetKey, n: usize) -> bool {
        if n == 0 {
            return false;
        }
        let mut s = self.state();
        if let Some(running) = s.running.get_mut(key) {
            *running -= n;
            if *running == 0 {
                s.running.remove(key);
                s.recheck.remove(key);
            }
        }
        s.total -= n;
        std::mem::take(&mut s.starved)
    }

    /// A lane of `key` found nothing more to claim. It ends (`Some(starved)`, see
    /// [`Lanes::release`]) unless its target was found full meanwhile (`None`: claim again).
    fn end(&self, key: &TargetKey) -> Option<bool> {
        if self.state().recheck.remove(key) {
            return None;
        }
        Some(self.release(key, 1))
    }

    #[cfg(test)]
    fn running(&self, key: &TargetKey) -> usize {
        self.state().running.get(key).copied().unwrap_or(0)
    }
}

/// Starts lanes whenever deliveries may be due: the targets it is told of, or every target with
/// due deliveries when it looks everywhere (at start, on the safety poll, when a retry or a
/// lease falls due, or when asked).
async fn dispatch(state: Arc<Core>, lanes: Arc<Lanes>) {
    let wakeups = state.deliveries_due.clone();
    // Deliveries left by a previous run (or by the CLI) are found by looking at once.
    let mut next_look = Instant::now();
    loop {
        let woken = tokio::select! {
            () = wakeups.notified() => true,
            () = tokio::time::sleep_until(next_look) => false,
        };
        let wake = wakeups.take();
        if let Some(at) = wake.retry_at {
            next_look = next_look.min(instant_at(at));
        }
        if !woken || wake.everything || Instant::now() >= next_look {
            next_look = look_everywhere(&state, &lanes).await;
        } else {
            for key in wake.targets {
                start(&state, &lanes, key, usize::MAX).await;
            }
        }
    }
}

/// The moment the unix time `at` (seconds) begins, a little after so that `now()` has reached
/// it.
fn instant_at(at: i64) -> Instant {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let wait = Duration::from_secs(at.max(0) as u64).saturating_sub(unix);
    Instant::now() + wait + Duration::from_millis(5)
}

/// Marks expired deliveries dead, starts lanes for every target with due deliveries, and
/// returns when to look again: the next retry or lease end, or the safety poll.
async fn look_everywhere(state: &Arc<Core>, lanes: &Arc<Lanes>) -> Instant {
    let poll = if state.deliveries_due.listening() {
        POLL_LISTENING
    } else {
        POLL
    };
    let fallback = Instant::now() + poll;
    let looked = state
        .db
        .run(|conn| {
            deliveries::expire(conn)?;
            let due = deliveries::due_targets(conn)?;
            let next = deliveries::next_due_after(conn, now())?;
            Ok((due, next))
        })
        .await;
    match looked {
        Ok((due, next)) => {
            for (key, n) in due {
                start(state, lanes, key, usize::try_from(n).unwrap_or(usize::MAX)).await;
            }
            next.map_or(fallback, |at| fallback.min(instant_at(at)))
        }
        Err(error) => {
            tracing::warn!(%error, "event delivery: cannot look for due deliveries");
            fallback
        }
    }
}

/// Claims due deliveries of `key` for as many new lanes as it may have (at most `due`), and
/// starts them.
async fn start(state: &Arc<Core>, lanes: &Arc<Lanes>, key: TargetKey, due: usize) {
    let n = lanes.reserve(&key, due);
    if n == 0 {
        return;
    }
    let lease = state.settings.delivery_lease_seconds;
    let k = key.clone();
    let claimed = state
        .db
        .run(move |conn| deliveries::claim(conn, &k, lease, n as i64))
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "event delivery: cannot claim deliveries");
            Vec::new()
        });
    if lanes.release(&key, n - claimed.len()) {
        state.deliveries_due.notify_one();
    }
    for delivery in claimed {
        tokio::spawn(lane(state.clone(), lanes.clone(), key.clone(), delivery));
    }
}

/// One lane of `key`: delivers, then records and claims the next delivery of the same target
/// in one transaction, until none is due.
async fn lane(state: Arc<Core>, lanes: Arc<Lanes>, key: TargetKey, delivery: Delivery) {
    let lease = state.settings.delivery_lease_seconds;
    let mut delivery = (delivery, None);
    loop {
        let (_, next) = deliver_then_claim(&state, delivery, Some(&key)).await;
        delivery = match next {
            Some((d, context)) => (d, Some(context)),
            None => loop {
                match lanes.end(&key) {
                    Some(starved) => {
                        if starved {
                            state.deliveries_due.notify_one();
                        }
                        return;
                    }
                    None => {
                        let k = key.clone();
                        let claimed = state
                            .db
                            .run(move |conn| deliveries::claim(conn, &k, lease, 1))
                            .await;
                        if let Some(d) = claimed.ok().and_then(|mut c| c.pop()) {
                            break (d, None);
                        }
                    }
                }
            },
        };
    }
}

/// Delivers one claimed delivery, records the outcome and returns it (the request that queued
/// an SMS OTP sends it so, at once). A failure to record is logged: the claim runs out and the
/// delivery is tried again.
pub async fn deliver(state: &Core, delivery: Delivery) -> Result<(), SendError> {
    deliver_then_claim(state, (delivery, None), None).await.0
}

/// [`deliver`] of an event the caller has just stored, with its organization's slug: nothing
/// to read back before the attempt (the sign-in that sends a code saves a trip to the pool).
pub async fn deliver_stored(
    state: &Core,
    delivery: Delivery,
    event: OutboxEvent,
    slug: String,
) -> Result<(), SendError> {
    let context = Context {
        event: Some(event),
        slug: Some(slug),
        subscription: None,
    };
    deliver_then_claim(state, (delivery, Some(context)), None)
        .await
        .0
}

/// [`deliver`] (with what its attempt reads, when already read), claiming the next due delivery
/// of `next_of` in the transaction that records the outcome, and reading what its attempt will
/// need there too: one trip to the pool per delivery.
async fn deliver_then_claim(
    state: &Core,
    (delivery, context): (Delivery, Option<Context>),
    next_of: Option<&TargetKey>,
) -> (Result<(), SendError>, Option<(Delivery, Context)>) {
    use tracing::Instrument;
    // Its own trace (deliveries run after the request that queued them has been answered):
    // the target's kind and the attempt, never the address or the payload.
    let span = tracing::debug_span!(
        "event delivery",
        sesame.delivery.target = deliveries::kind_of(&delivery.target),
        sesame.delivery.attempt = delivery.attempts,
        otel.status_code = tracing::field::Empty,
    );
    async {
        let started = std::time::Instant::now();
        let outcome = attempt(state, &delivery, context).await;
        let sent = outcome.as_ref().ok().cloned().flatten();
        let outcome = outcome.map(|_| ());
        if outcome.is_err() {
            tracing::Span::current().record("otel.status_code", "ERROR");
        }
        let retry_at = match &outcome {
            Err(SendError::Retryable(_)) => Some(now() + backoff(delivery.attempts)),
            _ => None,
        };
        let elapsed = started.elapsed();
        let (d, result) = (delivery.clone(), outcome.clone());
        let (lease, next_key) = (state.settings.delivery_lease_seconds, next_of.cloned());
        let recorded = state
            .db
            .run(move |conn| {
                crate::store::write_transaction(conn, |conn| {
                    let recorded = match &result {
                        Ok(()) => {
                            // The provider's id of a code's text message: its receipts name it
                            // (and one may have come already).
                            if let Some(sms) = &sent {
                                SmsOtp::record_message(conn, &d.jti, &sms.gateway, &sms.message_id)?;
                                super::receipts::apply_early(
                                    conn,
                                    &sms.org,
                                    &sms.gateway,
                                    &sms.message_id,
                                )?;
                            }
                            deliveries::delivered(conn, &d.id, &d.jti).map(|()| None)?
                        }
                        Err(e) => {
                            let retry = deliveries::failed(conn, &d, &e.to_string(), retry_at)?;
                            if retry.is_none() && d.target == deliveries::SMS {
                                SmsOtp::send_failed(conn, &d.jti, "not sent")?;
                            }
                            Some(retry.ok_or("dead"))
                        }
                    };
                    let next = match &next_key {
                        Some(key) => deliveries::claim(conn, key, lease, 1)?.pop(),
                        None => None,
                    };
                    let next = match next {
                        Some(d) => {
                            let context = Context::load(conn, &d)?;
                            Some((d, context))
                        }
                        None => None,
                    };
                    Ok((recorded, next))
                })
            })
            .await;
        let target = deliveries::kind_of(&delivery.target);
        match recorded {
            Ok((recorded, next)) => {
                let label = match recorded {
                    None => "delivered",
                    Some(Ok(at)) => {
                        // The dispatcher looks again when it falls due.
                        state.deliveries_due.retry_at(at);
                        "retry"
                    }
                    Some(Err(dead)) => dead,
                };
                state.metrics.delivery(target, label, elapsed);
                (outcome, next)
            }
            // The lease runs out and the delivery is tried again: at least once.
            Err(error) => {
                state.metrics.delivery(target, "unrecorded", elapsed);
                tracing::warn!(delivery = %delivery.id, %error, "event delivery: outcome not recorded");
                (outcome, None)
            }
        }
    }
    .instrument(span)
    .await
}

async fn org_entry(state: &Core, organization_id: i64) -> Result<Arc<OrgEntry>, SendError> {
    let slug = state
        .db
        .run(move |conn| Organization::slug_of(conn, organization_id))
        .await
        .map_err(|e| SendError::Retryable(e.to_string()))?
        .ok_or_else(|| SendError::Permanent("the organization is gone".into()))?;
    state
        .organization(&slug)
        .await
        .map_err(|e| SendError::Retryable(format!("{e:?}")))
}

/// What an attempt reads: the event, its organization's slug and, for a webhook, the
/// subscription.
#[derive(Debug)]
struct Context {
    event: Option<OutboxEvent>,
    slug: Option<String>,
    subscription: Option<Subscription>,
}

impl Context {
    fn load(
        conn: &mut crate::store::DbConn,
        delivery: &Delivery,
    ) -> Result<Self, crate::store::StoreError> {
        Ok(Self {
            event: OutboxEvent::find(conn, &delivery.jti)?,
            slug: Organization::slug_of(conn, delivery.organization_id)?,
            subscription: match delivery.target.strip_prefix("webhook:") {
                Some(id) => Subscription::by_id(conn, id)?,
                None => None,
            },
        })
    }
}

/// A text message a gateway took.
#[derive(Debug, Clone)]
struct SentSms {
    org: Arc<OrgEntry>,
    /// The gateway's label ([`crate::plugin::gateway_label`]).
    gateway: String,
    message_id: String,
}

/// One try at a delivery; for a text message, which gateway took it and the provider's id.
async fn attempt(
    state: &Core,
    delivery: &Delivery,
    context: Option<Context>,
) -> Result<Option<SentSms>, SendError> {
    if delivery.give_up_at <= now() {
        return Err(SendError::Permanent(
            "expired before it could be delivered".into(),
        ));
    }
    let Context {
        event,
        slug,
        subscription,
    } = match context {
        Some(context) => context,
        None => {
            let d = delivery.clone();
            state
                .db
                .run(move |conn| Context::load(conn, &d))
                .await
                .map_err(|e| SendError::Retryable(e.to_string()))?
        }
    };
    let event = event.ok_or_else(|| SendError::Permanent("the event is gone (purged)".into()))?;
    let payload = super::open_payload(state.keys.kek(), &event)
        .map_err(|e| SendError::Permanent(format!("cannot open the event: {e}")))?;
    let slug = slug.ok_or_else(|| SendError::Permanent("the organization is gone".into()))?;
    let org = state
        .organization(&slug)
        .await
        .map_err(|e| SendError::Retryable(format!("{e:?}")))?;
    match delivery.target.as_str() {
        deliveries::SMS => {
            let data = &payload["event"][super::SMS_OTP_URI];
            let (Some(to), Some(body)) = (data["sendTo"].as_str(), data["messageBody"].as_str())
            else {
                return Err(SendError::Permanent("not an SMS OTP event".into()));
            };
            let channel = org
                .sms
                .as_ref()
                .map_err(|e| SendError::Retryable(e.clone()))?;
            let sms = Sms {
                to,
                body,
                idempotency_key: &delivery.jti,
                status_url: None,
            };
            let status_base = format!("{}/sms/status", org.issuer);
            let (gateway, id) = channel
                .send(sms, &status_base, &state.metrics, &org.org.slug)
                .await?;
            tracing::info!(delivery = %delivery.id, gateway, message_id = %id, attempt = delivery.attempts, "SMS delivered");
            Ok(Some(SentSms {
                org: org.clone(),
                gateway,
                message_id: id,
            }))
        }
        other if let Some(name) = super::sinks::named(other) => {
            super::sinks::deliver(state, org, &slug, name, &event, &payload)
                .await
                .map(|()| None)
        }
        other if other.starts_with("webhook:") => {
            let sub = subscription
                .filter(|s| {
                    s.state == subscriptions::ACTIVE && s.expires_at.is_some_and(|e| e > now())
                })
                .ok_or_else(|| {
                    SendError::Permanent("the subscription is no longer active".into())
                })?;
            let sink = super::hub::SubscriberSink {
                outbound: &state.outbound,
                kek: state.keys.kek(),
                base_url: state.settings.base_url.as_str(),
                subscription: &sub,
            };
            let body = payload.to_string().into_bytes();
            sink.publish(crate::plugin::Event {
                jti: &event.jti,
                event_type: &event.event_type,
                organization: &org.org.slug,
                topic: super::sinks::topic_of(&payload),
                body: &body,
                content_type: "application/json",
            })
            .await
            .map(|()| None)
        }
        other => Err(SendError::Permanent(format!("unknown target {other}"))),
    }
}

/// Runs the intent verifications that are due (new subscriptions, rotations, unsubscribes).
/// Each verification runs in its own task, so slow callbacks never hold up deliveries.
pub async fn verify_due(state: &Arc<Core>) -> Result<usize, CoreError> {
    let lease = state.settings.delivery_lease_seconds;
    let due = state
        .db
        .run(move |conn| Subscription::claim_verifications(conn, lease, VERIFY_BATCH))
        .await?;
    let n = due.len();
    for sub in due {
        let state = state.clone();
        tokio::spawn(async move { verify_one(&state, sub).await });
    }
    Ok(n)
}

async fn verify_one(state: &Core, sub: Subscription) {
    {
        let Ok(org) = org_entry(state, sub.organization_id).await else {
            return;
        };
        let mode = sub.pending_mode.clone().unwrap_or_default();
        let base = state.settings.base_url.as_str();
        let verified =
            super::hub::verify_intent(&state.outbound, base, &org.org.slug, &sub, &mode).await;
        let reason = why_not_verified(&verified);
        let s = sub.clone();
        let outcome = match verified {
            Ok(true) if mode == "unsubscribe" => {
                state
                    .db
                    .run(move |conn| Subscription::delete(conn, &s))
                    .await
            }
            Ok(true) => {
                let until = now() + super::hub::ROTATION_OVERLAP_SECONDS;
                state
                    .db
                    .run(move |conn| Subscription::confirm_subscribe(conn, &s, until))
                    .await
            }
            Err(e) if e.is_retryable() && sub.verify_attempts < 5 => {
                let at = now() + backoff(sub.verify_attempts + 1);
                state
                    .db
                    .run(move |conn| Subscription::retry_verification(conn, &s, at))
                    .await
            }
            Ok(false) | Err(_) => {
                if mode == "subscribe" && sub.state != subscriptions::ACTIVE {
                    super::hub::notify_denied(
                        &state.outbound,
                        base,
                        &org.org.slug,
                        &sub,
                        "the callback did not confirm the subscription",
                    )
                    .await;
                }
                state
                    .db
                    .run(move |conn| Subscription::refuse(conn, &s))
                    .await
            }
        };
        match (outcome, reason) {
            (Ok(()), None) => {
                tracing::info!(subscription = %sub.id, mode, "WebSub intent verification done")
            }
            (Ok(()), Some(reason)) => tracing::warn!(
                subscription = %sub.id,
                mode,
                %reason,
                "WebSub intent verification failed"
            ),
            (Err(error), _) => {
                tracing::warn!(subscription = %sub.id, %error, "WebSub verification not recorded")
            }
        }
    }
}

/// Why an intent verification did not confirm the subscriber's intent; `None` when it did.
fn why_not_verified(verified: &Result<bool, SendError>) -> Option<String> {
    match verified {
        Ok(true) => None,
        Ok(false) => Some("the callback did not answer 2xx with the challenge".into()),
        Err(e) => Some(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::{Lanes, SendError, TargetKey, backoff, why_not_verified};

    fn key(target: &str) -> TargetKey {
        TargetKey {
            organization_id: 1,
            target: target.into(),
        }
    }

    #[test]
    fn lanes_are_bounded_per_target_and_per_node() {
        let lanes = Lanes::new(2, 3);
        let (slow, fast) = (key("webhook:slow"), key("webhook:fast"));
        assert_eq!(lanes.reserve(&slow, 10), 2, "two per target");
        assert_eq!(lanes.reserve(&slow, 10), 0, "the slow target is full");
        assert_eq!(lanes.reserve(&fast, 10), 1, "one left on the node");
        assert_eq!(lanes.reserve(&fast, 10), 0);
        // The fast lane ends: the node had left due deliveries, so it asks for a look.
        assert_eq!(lanes.end(&fast), Some(true));
        assert_eq!(lanes.running(&fast), 0);
        // The slow target was found full: its next lane to run dry claims once more.
        assert_eq!(lanes.end(&slow), None);
        assert_eq!(lanes.running(&slow), 2, "still running");
        assert_eq!(lanes.end(&slow), Some(false));
        assert_eq!(lanes.running(&slow), 1);
        // Lanes reserved but not claimed are given back.
        assert_eq!(lanes.reserve(&fast, 10), 2);
        assert!(!lanes.release(&fast, 2));
        assert_eq!(lanes.running(&fast), 0);
        assert_eq!(lanes.reserve(&fast, 1), 1, "no more than due");
    }

    #[test]
    fn a_failed_verification_has_a_reason() {
        assert_eq!(why_not_verified(&Ok(true)), None);
        assert!(why_not_verified(&Ok(false)).unwrap().contains("challenge"));
        let refused = why_not_verified(&Err(SendError::Retryable("connection refused".into())));
        assert!(refused.unwrap().contains("connection refused"));
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_five_minutes() {
        for (attempts, base) in [(1, 2), (2, 4), (3, 8), (6, 64), (12, 300), (40, 300)] {
            for _ in 0..50 {
                let b = backoff(attempts);
                assert!(
                    (base - base / 4..=base + base / 4).contains(&b),
                    "{attempts}: {b}"
                );
            }
        }
    }
}
