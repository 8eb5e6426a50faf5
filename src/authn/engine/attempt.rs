//! A second-factor attempt's bookkeeping, shared by every factor checked at a later step (SMS
//! codes, backup codes, plug-in code factors, keys): the attempt counted toward the account's
//! lock before the check, the failure recorded (and the lock set) after a wrong one.

use super::second::SecondFactor;
use super::*;
use crate::authn::policy::LockPolicy;
use crate::store::DbConn;

/// Why a code was not checked.
pub(super) enum CodeRefusal {
    /// No code was sent to this user at this number in this sign-in.
    NoCode,
    /// The code is dead (used, void or expired), or another request spent it first.
    Dead(Option<Dead>),
}

/// What a second-factor attempt's transaction did.
pub(super) enum Attempted<W> {
    /// Not a guess: nothing counted.
    Refused(CodeRefusal),
    /// A lock held (set meanwhile, or by a burst past the limit): the code was not checked.
    Locked(policy::Stopped),
    /// Right: the credential is spent and what the step earned written (`None` when the caller
    /// writes it: a number being confirmed).
    Passed(Option<Reached>),
    /// Wrong: the failure is recorded; `locked` when it locked the account.
    Wrong {
        locked: Option<i64>,
        attempts_left: W,
    },
}

/// A second-factor attempt's bookkeeping, prepared outside the transaction that runs it: the
/// account's lock key and policy, and who the failure events name.
pub(super) struct Attempt {
    key: String,
    policy: LockPolicy,
    now: i64,
    authenticator: &'static str,
    org: Arc<OrgEntry>,
    user: User,
    client: String,
}

impl Attempt {
    /// Counts the attempt toward the account's lock before the credential is checked (as for
    /// passwords); a lock set meanwhile, or a burst past the limit, refuses it.
    pub(super) fn count(
        &self,
        conn: &mut DbConn,
    ) -> Result<Result<Counted, policy::Stopped>, StoreError> {
        let counted = policy::count(conn, &self.key, self.policy.window_seconds, self.now)?;
        Ok(
            match policy::lock_if_past(conn, &self.key, &self.policy, counted, self.now)? {
                Some(stopped) => Err(stopped),
                None => Ok(counted),
            },
        )
    }

    pub(super) fn forgive(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        policy::forgive(conn, &self.key)
    }

    /// After a wrong credential: locks the account when the attempts reached the policy's
    /// limit, and publishes `loginFailed` (and `lockUser`).
    pub(super) fn failed(
        &self,
        conn: &mut DbConn,
        counted: Counted,
    ) -> Result<Option<i64>, StoreError> {
        let lock = policy::locks_now(&self.policy, counted);
        let until = if lock {
            Some(policy::lock_account(
                conn,
                &self.key,
                &self.policy,
                counted,
                self.now,
            )?)
        } else {
            None
        };
        let planned = lock.then(|| self.now + self.policy.lock_duration(counted.locks));
        for e in failure_events(
            &self.org,
            &self.user,
            &self.client,
            self.authenticator,
            planned,
        ) {
            e.store(conn)?;
        }
        Ok(until)
    }
}

impl SecondFactor<'_> {
    pub(super) fn attempt(&self, authenticator: &'static str, ctx: &Ctx) -> Attempt {
        Attempt {
            key: self.account_key(),
            policy: self.org().org.settings.lock_policy.clone(),
            now: ctx.now,
            authenticator,
            org: self.sign_in.org.clone(),
            user: self.user.clone(),
            client: self.sign_in.purpose.client().to_string(),
        }
    }
}

/// A lock that stopped a check, counted in the metrics when the check set it.
pub(super) fn stopped_by(
    core: &Core,
    org: &OrgEntry,
    stopped: policy::Stopped,
    factor: &'static str,
) -> Outcome {
    if stopped.new {
        core.metrics.account_locked(&org.org.slug, factor);
    }
    Outcome::Refused(Refusal::Locked {
        until: stopped.until,
    })
}

/// A failed attempt that locked the account.
pub(super) fn locked_after(
    core: &Core,
    sf: &SecondFactor<'_>,
    until: i64,
    factor: &'static str,
) -> Outcome {
    core.metrics.account_locked(&sf.org().org.slug, factor);
    tracing::warn!(user = %sf.user.id, factor, "account locked after failed second-factor attempts");
    Outcome::Refused(Refusal::Locked { until })
}
