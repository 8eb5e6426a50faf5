//! The delivery worker: every node runs one. It claims due deliveries with a lease (see
//! `store::deliveries`), delivers them, and records the outcome: delivered, due again after an
//! exponential backoff with jitter, or dead (a permanent error, or past the delivery's
//! `give_up_at` — for an OTP, its expiry, so a dead code is never sent).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::plugin::{SendError, Sms};
use crate::state::{Core, CoreError, OrgEntry};
use crate::store::deliveries::{self, Delivery};
use crate::store::events::OutboxEvent;
use crate::store::now;
use crate::store::organizations::Organization;
use crate::store::subscriptions::{self, Subscription};

/// Deliveries claimed at once; delivered concurrently.
const BATCH: i64 = 16;
/// When nothing wakes it, the worker looks for due deliveries this often.
const POLL: Duration = Duration::from_secs(1);

/// The wait before attempt `attempts + 1`: 2 s doubling to at most 5 minutes, ±25% jitter so
/// that many failed deliveries do not all come back at once.
pub fn backoff(attempts: i64) -> i64 {
    let base = 2i64
        .saturating_mul(1 << attempts.clamp(1, 20).saturating_sub(1))
        .min(300);
    let jitter = rand::rng().random_range(-(base / 4)..=(base / 4));
    (base + jitter).max(1)
}

/// Runs the worker until the process ends.
pub fn spawn(state: Arc<Core>) {
    tokio::spawn(async move {
        loop {
            if let Err(error) = verify_due(&state).await {
                tracing::warn!(%error, "WebSub: cannot claim verifications");
            }
            match run_once(&state).await {
                // A full batch: there may be more due right now.
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "event delivery: cannot claim deliveries"),
            }
            tokio::select! {
                () = state.deliveries_due.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    });
}

/// Claims and delivers one batch; returns how many were claimed.
pub async fn run_once(state: &Arc<Core>) -> Result<usize, CoreError> {
    let lease = state.settings.delivery_lease_seconds;
    let claimed = state
        .db
        .run(move |conn| deliveries::claim_due(conn, lease, BATCH))
        .await?;
    let n = claimed.len();
    let mut running = tokio::task::JoinSet::new();
    for delivery in claimed {
        let state = state.clone();
        // The outcome is recorded by `deliver`.
        running.spawn(async move { deliver(&state, delivery).await.is_ok() });
    }
    running.join_all().await;
    Ok(n)
}

/// Delivers one claimed delivery, records the outcome and returns it. A failure to record is
/// logged: the claim runs out and the delivery is tried again.
pub async fn deliver(state: &Core, delivery: Delivery) -> Result<(), SendError> {
    use tracing::Instrument;
    // Its own trace (deliveries run after the request that queued them has been answered):
    // the target's kind and the attempt, never the address or the payload.
    let span = tracing::debug_span!(
        "event delivery",
        sesame.delivery.target = if delivery.target == deliveries::SMS {
            "sms"
        } else {
            "webhook"
        },
        sesame.delivery.attempt = delivery.attempts,
        otel.status_code = tracing::field::Empty,
    );
    async {
        let started = std::time::Instant::now();
        let outcome = attempt(state, &delivery).await;
        if outcome.is_err() {
            tracing::Span::current().record("otel.status_code", "ERROR");
        }
        let retry_at = match &outcome {
            Err(SendError::Retryable(_)) => Some(now() + backoff(delivery.attempts)),
            _ => None,
        };
        let elapsed = started.elapsed();
        let (d, result) = (delivery.clone(), outcome.clone());
        let recorded = state
            .db
            .run(move |conn| {
                crate::store::write_transaction(conn, |conn| match &result {
                    Ok(()) => deliveries::delivered(conn, &d.id, &d.jti).map(|()| "delivered"),
                    Err(e) => deliveries::failed(conn, &d, &e.to_string(), retry_at)
                        .map(|again| if again { "retry" } else { "dead" }),
                })
            })
            .await;
        let target = if delivery.target == deliveries::SMS {
            deliveries::SMS
        } else {
            deliveries::WEBHOOK
        };
        match recorded {
            Ok(label) => state.metrics.delivery(target, label, elapsed),
            // The lease runs out and the delivery is tried again: at least once.
            Err(error) => {
                state.metrics.delivery(target, "unrecorded", elapsed);
                tracing::warn!(delivery = %delivery.id, %error, "event delivery: outcome not recorded");
            }
        }
        outcome
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

async fn attempt(state: &Core, delivery: &Delivery) -> Result<(), SendError> {
    if delivery.give_up_at <= now() {
        return Err(SendError::Permanent(
            "expired before it could be delivered".into(),
        ));
    }
    let jti = delivery.jti.clone();
    let event = state
        .db
        .run(move |conn| OutboxEvent::find(conn, &jti))
        .await
        .map_err(|e| SendError::Retryable(e.to_string()))?
        .ok_or_else(|| SendError::Permanent("the event is gone (purged)".into()))?;
    let payload = super::open_payload(state.keys.kek(), &event)
        .map_err(|e| SendError::Permanent(format!("cannot open the event: {e}")))?;
    let org = org_entry(state, delivery.organization_id).await?;
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
            };
            let (gateway, id) = channel.send(sms, &state.metrics, &org.org.slug).await?;
            tracing::info!(delivery = %delivery.id, gateway, message_id = %id, attempt = delivery.attempts, "SMS delivered");
            Ok(())
        }
        other => match other.strip_prefix("webhook:") {
            Some(id) => {
                let id = id.to_string();
                let sub = state
                    .db
                    .run(move |conn| Subscription::by_id(conn, &id))
                    .await
                    .map_err(|e| SendError::Retryable(e.to_string()))?
                    .filter(|s| {
                        s.state == subscriptions::ACTIVE && s.expires_at.is_some_and(|e| e > now())
                    })
                    .ok_or_else(|| {
                        SendError::Permanent("the subscription is no longer active".into())
                    })?;
                super::hub::deliver(
                    &state.outbound,
                    state.keys.kek(),
                    state.settings.base_url.as_str(),
                    &org.org.slug,
                    &sub,
                    &payload,
                )
                .await
            }
            None => Err(SendError::Permanent(format!("unknown target {other}"))),
        },
    }
}

/// Runs the intent verifications that are due (new subscriptions, rotations, unsubscribes).
/// Each verification runs in its own task, so slow callbacks never hold up deliveries.
pub async fn verify_due(state: &Arc<Core>) -> Result<usize, CoreError> {
    let lease = state.settings.delivery_lease_seconds;
    let due = state
        .db
        .run(move |conn| Subscription::claim_verifications(conn, lease, BATCH))
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
    use super::{SendError, backoff, why_not_verified};

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
