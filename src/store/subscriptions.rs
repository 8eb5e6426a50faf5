//! WebSub subscriptions: a callback per organization topic, verified before it receives anything.

use diesel::prelude::*;

use super::schema::subscriptions;
use super::{DbConn, StoreError, now};

pub const PENDING: &str = "pending";
pub const ACTIVE: &str = "active";
pub const DENIED: &str = "denied";

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = subscriptions)]
pub struct Subscription {
    pub id: String,
    pub organization_id: i64,
    /// `NOTIFICATIONS`, `USER_OPERATIONS`, `LOGINS`.
    pub topic: String,
    pub callback: String,
    /// Sealed under the key-encryption key (bound to the subscription id).
    pub secret: Vec<u8>,
    /// A new secret waiting for its intent verification (a rotation).
    pub pending_secret: Option<Vec<u8>>,
    /// The secret before the last rotation, still signing until `previous_secret_until`.
    pub previous_secret: Option<Vec<u8>>,
    pub previous_secret_until: Option<i64>,
    pub state: String,
    /// `subscribe` or `unsubscribe` while an intent verification is due.
    pub pending_mode: Option<String>,
    pub lease_seconds: i64,
    pub expires_at: Option<i64>,
    /// When the next intent verification is due (moved forward as a claim while it runs).
    pub verify_after: i64,
    pub verify_attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The subscription `s`, only while the verification claim it was read with still holds.
fn claimed(
    s: &Subscription,
) -> diesel::helper_types::Filter<
    diesel::helper_types::Find<subscriptions::table, &str>,
    diesel::helper_types::Eq<subscriptions::verify_after, i64>,
> {
    subscriptions::table
        .find(s.id.as_str())
        .filter(subscriptions::verify_after.eq(s.verify_after))
}

impl Subscription {
    pub fn find(
        conn: &mut DbConn,
        organization_id: i64,
        topic: &str,
        callback: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(subscriptions::table
            .filter(subscriptions::organization_id.eq(organization_id))
            .filter(subscriptions::topic.eq(topic))
            .filter(subscriptions::callback.eq(callback))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// The organization's subscriptions, by topic and callback.
    pub fn list(conn: &mut DbConn, organization_id: i64) -> Result<Vec<Self>, StoreError> {
        Ok(subscriptions::table
            .filter(subscriptions::organization_id.eq(organization_id))
            .order((subscriptions::topic, subscriptions::callback))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Removes a subscription at once (an administrator's decision: no intent verification);
    /// its deliveries still due fail as the subscription's.
    pub fn remove(conn: &mut DbConn, id: &str) -> Result<bool, StoreError> {
        Ok(diesel::delete(subscriptions::table.find(id)).execute(conn)? == 1)
    }

    pub fn by_id(conn: &mut DbConn, id: &str) -> Result<Option<Self>, StoreError> {
        Ok(subscriptions::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    pub fn insert(conn: &mut DbConn, s: &Self) -> Result<(), StoreError> {
        diesel::insert_into(subscriptions::table)
            .values(s)
            .execute(conn)?;
        Ok(())
    }

    /// Asks for an intent verification of `mode` (with the new secret and lease of a
    /// subscribe request).
    pub fn request(
        conn: &mut DbConn,
        id: &str,
        mode: &str,
        pending_secret: Option<&[u8]>,
        lease_seconds: i64,
    ) -> Result<(), StoreError> {
        let t = now();
        diesel::update(subscriptions::table.find(id))
            .set((
                subscriptions::pending_mode.eq(Some(mode)),
                subscriptions::pending_secret.eq(pending_secret),
                subscriptions::lease_seconds.eq(lease_seconds),
                subscriptions::verify_after.eq(t),
                subscriptions::verify_attempts.eq(0),
                subscriptions::updated_at.eq(t),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Active, unexpired subscriptions of a topic.
    pub fn active(
        conn: &mut DbConn,
        organization_id: i64,
        topic: &str,
    ) -> Result<Vec<Self>, StoreError> {
        Ok(subscriptions::table
            .filter(subscriptions::organization_id.eq(organization_id))
            .filter(subscriptions::topic.eq(topic))
            .filter(subscriptions::state.eq(ACTIVE))
            .filter(subscriptions::expires_at.gt(now()))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Claims subscriptions whose intent verification is due, for `lease` seconds.
    pub fn claim_verifications(
        conn: &mut DbConn,
        lease: i64,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError> {
        let t = now();
        let due: Vec<Self> = subscriptions::table
            .filter(subscriptions::pending_mode.is_not_null())
            .filter(subscriptions::verify_after.le(t))
            .order(subscriptions::verify_after)
            .limit(limit)
            .select(Self::as_select())
            .load(conn)?;
        let mut claimed = Vec::new();
        for s in due {
            // Conditional on the value read: a node that claimed it meanwhile wins.
            let n = diesel::update(
                subscriptions::table
                    .find(&s.id)
                    .filter(subscriptions::verify_after.eq(s.verify_after)),
            )
            .set((
                subscriptions::verify_after.eq(t + lease),
                subscriptions::verify_attempts.eq(s.verify_attempts + 1),
            ))
            .execute(conn)?;
            if n == 1 {
                // The claim's value: the outcome is recorded only while it still holds.
                claimed.push(Self {
                    verify_after: t + lease,
                    verify_attempts: s.verify_attempts + 1,
                    ..s
                });
            }
        }
        Ok(claimed)
    }

    /// The subscriber confirmed a subscribe: active for its lease, with the new secret (the
    /// old one signs on until `overlap_until`).
    pub fn confirm_subscribe(
        conn: &mut DbConn,
        s: &Self,
        overlap_until: i64,
    ) -> Result<(), StoreError> {
        let t = now();
        let rotated = s.state == ACTIVE && s.pending_secret.is_some();
        // Only while this verification's claim holds: a request that came in meanwhile reset
        // `verify_after` and is verified on its own.
        diesel::update(claimed(s))
            .set((
                subscriptions::state.eq(ACTIVE),
                subscriptions::secret.eq(s.pending_secret.clone().unwrap_or(s.secret.clone())),
                subscriptions::pending_secret.eq(None::<Vec<u8>>),
                subscriptions::previous_secret.eq(rotated.then(|| s.secret.clone())),
                subscriptions::previous_secret_until.eq(rotated.then_some(overlap_until)),
                subscriptions::pending_mode.eq(None::<String>),
                subscriptions::expires_at.eq(Some(t + s.lease_seconds)),
                subscriptions::updated_at.eq(t),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The subscriber did not confirm: a new subscription is denied; an existing one stays as
    /// it was (its secret unchanged).
    pub fn refuse(conn: &mut DbConn, s: &Self) -> Result<(), StoreError> {
        let t = now();
        let state = if s.state == ACTIVE { ACTIVE } else { DENIED };
        diesel::update(claimed(s))
            .set((
                subscriptions::state.eq(state),
                subscriptions::pending_secret.eq(None::<Vec<u8>>),
                subscriptions::pending_mode.eq(None::<String>),
                subscriptions::updated_at.eq(t),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Removes the subscription after a verified unsubscribe (unless a request superseded it).
    pub fn delete(conn: &mut DbConn, s: &Self) -> Result<(), StoreError> {
        diesel::delete(claimed(s)).execute(conn)?;
        Ok(())
    }

    /// Tries a failed verification again later, or gives up after a few tries.
    pub fn retry_verification(conn: &mut DbConn, s: &Self, at: i64) -> Result<(), StoreError> {
        diesel::update(claimed(s))
            .set(subscriptions::verify_after.eq(at))
            .execute(conn)?;
        Ok(())
    }
}
