//! What passing a step leads to: the next missing step's progress, or the sign-in finished
//! (the session created or stepped up, the code or the account area's answer) — decided before
//! the step's transaction and written inside it, so a credential is never spent without what
//! it earned.

use super::*;

/// After a step passed: on to the next missing step, or finish, in one transaction.
pub(super) async fn advance(
    core: &Core,
    sign_in: &SignIn,
    user: &User,
    passed: PassedList,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let next = Next::decide(core, sign_in, user, passed, ctx).await?;
    let reached = core
        .db
        .run(move |conn| write_transaction(conn, |conn| next.write(conn)))
        .await?;
    Ok(reached.outcome())
}

/// What passing a step leads to, decided (and everything it writes prepared) before the step's
/// transaction, so that the step's checks and these writes commit together: a code is never
/// spent without the progress or the session it earned.
pub(super) enum Next {
    /// Another step is missing: the transaction records the progress.
    Step {
        kind: StepKind,
        tx_id: String,
        user_id: String,
        passed: String,
        session_sid: Option<String>,
    },
    /// Nothing is missing: the transaction completes the sign-in and creates the session.
    Finish(Box<Finishing>),
    /// Nothing is missing from a password reset: the transaction records the progress, and
    /// stays open for the new password (no session).
    Cleared {
        tx_id: String,
        user_id: String,
        passed: String,
    },
}

impl Next {
    pub(super) async fn decide(
        core: &Core,
        sign_in: &SignIn,
        user: &User,
        passed: PassedList,
        ctx: &Ctx,
    ) -> Result<Self, CoreError> {
        let flow = sign_in.purpose.flow(core, &sign_in.org, Some(user)).await?;
        Ok(match flow.next_step(&passed) {
            Some(step) => Self::Step {
                kind: credential::opening_kind(core, step, user).await?,
                tx_id: sign_in.tx.id.clone(),
                user_id: user.id.clone(),
                passed: passed.to_json(),
                session_sid: sign_in.tx.session_sid.clone(),
            },
            None if sign_in.purpose.resets_password() => Self::Cleared {
                tx_id: sign_in.tx.id.clone(),
                user_id: user.id.clone(),
                passed: passed.to_json(),
            },
            None => Self::Finish(Box::new(Finishing::new(core, sign_in, user, passed, ctx)?)),
        })
    }

    /// Writes the progress or the session in the caller's transaction.
    pub(super) fn write(self, conn: &mut crate::store::DbConn) -> Result<Reached, StoreError> {
        match self {
            Self::Step {
                kind,
                tx_id,
                user_id,
                passed,
                session_sid,
            } => Ok(
                if LoginTransaction::record_progress(
                    conn,
                    &tx_id,
                    &user_id,
                    &passed,
                    session_sid.as_deref(),
                )? {
                    Reached::Step(kind)
                } else {
                    Reached::Expired
                },
            ),
            Self::Cleared {
                tx_id,
                user_id,
                passed,
            } => Ok(
                if LoginTransaction::record_progress(conn, &tx_id, &user_id, &passed, None)? {
                    Reached::Cleared
                } else {
                    Reached::Expired
                },
            ),
            Self::Finish(finishing) => Ok(match finishing.write(conn)? {
                Some(session) => Reached::Finished(finishing, Box::new(session)),
                None => Reached::Expired,
            }),
        }
    }
}

/// What a step's transaction reached.
pub(super) enum Reached {
    Step(StepKind),
    Finished(Box<Finishing>, Box<Session>),
    /// A password reset passed its flow.
    Cleared,
    /// The sign-in was completed (or ended) meanwhile.
    Expired,
}

impl Reached {
    pub(super) fn outcome(self) -> Outcome {
        match self {
            Self::Step(kind) => Outcome::Advanced { kind },
            Self::Finished(finishing, session) => finishing.completed(*session),
            Self::Cleared => Outcome::ResetCleared,
            Self::Expired => Outcome::Refused(Refusal::Expired),
        }
    }
}

/// The whole flow passed: the session records it (a new session, or the stepped-up one, with a
/// new cookie either way), the account's failure count is reset and `loginSuccess` published,
/// in one transaction with the sign-in's completion. Everything is prepared here, outside it.
pub(super) struct Finishing {
    user: User,
    passed: PassedList,
    client: String,
    cookie: Secret<String>,
    device_cookie: Option<Secret<String>>,
    fresh: Session,
    /// The browser's session before this sign-in: it ends.
    old: Option<String>,
    account: String,
    client_keys: Vec<String>,
    success: crate::events::hub::Publish,
    tx_id: String,
    session_sid: Option<String>,
    now: i64,
}

impl Finishing {
    fn new(
        core: &Core,
        sign_in: &SignIn,
        user: &User,
        passed: PassedList,
        ctx: &Ctx,
    ) -> Result<Self, CoreError> {
        let org = &sign_in.org;
        let cookie = random_token(32);
        let t = ctx.now;
        let fresh = Session {
            id_hash: sha256_hex(cookie.expose()),
            sid: uuid::Uuid::new_v4().to_string(),
            organization_id: org.org.id,
            user_id: user.id.clone(),
            auth_time: passed.identified_at().unwrap_or(t),
            amr: serde_json::to_string(&passed.amr()).expect("amr serializes"),
            acr: passed.acr().to_string(),
            created_at: t,
            expires_at: t + SESSION_LIFETIME,
            ended_at: None,
            passed: passed.to_json(),
            user_agent: ctx.user_agent.clone(),
            ip: Some(ctx.client_ip.clone()).filter(|ip| !ip.is_empty()),
            last_seen_at: Some(t),
        };
        let account = policy::account_key(org.org.id, user.username.as_str());
        // Smart lockout: this browser is one the account knows from now on (a cookie it already
        // had for this account is kept), and this client's failures are forgotten like the
        // account's.
        let lock_policy = &org.org.settings.lock_policy;
        let (kek, name) = (core.keys.kek(), user.username.as_str());
        let known = ctx
            .device
            .as_deref()
            .filter(|_| lock_policy.smart)
            .and_then(|c| policy::known_device(kek, org.org.id, name, c).map(|id| (id, c)));
        let device_cookie = match &known {
            Some((_, c)) => Some(Secret::new(c.to_string())),
            None if lock_policy.smart => Some(
                policy::device_cookie(kek, org.org.id, name)
                    .map_err(|e| CoreError::Internal(e.to_string()))?,
            ),
            None => None,
        };
        let client_keys: Vec<String> = if lock_policy.smart {
            let device = known.as_ref().map(|(id, _)| id.as_str());
            std::iter::once(None)
                .chain(device.map(Some))
                .map(|d| {
                    policy::PasswordKeys::new(lock_policy, org.org.id, name, &ctx.client_ip, d).lock
                })
                .collect()
        } else {
            Vec::new()
        };
        let success = SignInEvent::LoginSuccess {
            client_id: sign_in.purpose.client().to_string(),
            amr: passed.amr(),
            acr: passed.acr(),
        }
        .publish(org.event_origin(), subject(user));
        Ok(Self {
            user: user.clone(),
            passed,
            client: sign_in.purpose.client().to_string(),
            cookie,
            device_cookie,
            fresh,
            old: ctx.session_hash.clone(),
            account,
            client_keys,
            success,
            tx_id: sign_in.tx.id.clone(),
            session_sid: sign_in.tx.session_sid.clone(),
            now: t,
        })
    }

    /// The session, written in the caller's transaction; `None` when the sign-in was completed
    /// meanwhile.
    fn write(&self, conn: &mut crate::store::DbConn) -> Result<Option<Session>, StoreError> {
        if !LoginTransaction::complete(conn, &self.tx_id, self.now)? {
            return Ok(None);
        }
        policy::reset(conn, &self.account)?;
        for key in &self.client_keys {
            policy::reset(conn, key)?;
        }
        // The second factor passed last: a step offering several opens on it next time.
        let second = self
            .passed
            .0
            .iter()
            .filter(|p| p.method.second_factor() && p.method.factor().fallback_of().is_none())
            .max_by_key(|p| p.at);
        if let Some(p) = second {
            User::set_last_second_factor(conn, &self.user.id, p.method.factor().name())?;
        }
        self.success.store(conn)?;
        let fresh = &self.fresh;
        let auth = (
            fresh.passed.as_str(),
            fresh.amr.as_str(),
            fresh.acr.as_str(),
            fresh.auth_time,
        );
        if let Some(sid) = &self.session_sid
            && Session::step_up(conn, sid, &self.user.id, &fresh.id_hash, auth)?
        {
            return Session::find_by_sid(conn, sid);
        }
        if let Some(old) = &self.old {
            Session::end(conn, old)?;
        }
        Session::insert(conn, fresh)?;
        Ok(Some(fresh.clone()))
    }

    fn completed(self, session: Session) -> Outcome {
        tracing::info!(
            user = %self.user.id,
            client_id = %self.client,
            amr = %session.amr,
            "signed in"
        );
        Outcome::Completed(Box::new(Completed {
            user_id: self.user.id.clone(),
            amr: self.passed.amr(),
            acr: self.passed.acr(),
            auth_time: session.auth_time,
            session,
            user: self.user,
            cookie: self.cookie,
            device_cookie: self.device_cookie,
        }))
    }
}
