//! The second-factor steps: SMS OTP (sending, resending, checking) and backup codes, each
//! attempt counted toward the account's lock before it is checked.

use super::*;
use crate::authn::sms_limits::{self, NumberRefusal};

/// A sign-in at a second-factor step: its user is known and the step offers the method.
pub(super) struct SecondFactor<'a> {
    sign_in: &'a SignIn,
    user: User,
    step: Vec<Authenticator>,
    /// Where codes go: the user's verified number, or the number being confirmed.
    pub(super) phone: Option<PhoneNumber>,
}

impl SecondFactor<'_> {
    fn account_key(&self) -> String {
        policy::account_key(self.user.organization_id, self.user.username.as_str())
    }

    fn org(&self) -> &OrgEntry {
        &self.sign_in.org
    }

    fn tx_id(&self) -> &str {
        &self.sign_in.tx.id
    }
}

/// The sign-in at a second-factor step offering `method`, or why not: expired (no user yet, a
/// disabled one, another step), or locked.
pub(super) async fn at_step<'a>(
    core: &Core,
    sign_in: &'a SignIn,
    method: Authenticator,
    ctx: &Ctx,
) -> Result<Result<SecondFactor<'a>, Refusal>, CoreError> {
    let Some(user_id) = sign_in.tx.user_id.clone() else {
        return Ok(Err(Refusal::Expired));
    };
    let org_id = sign_in.org.org.id;
    let Some(user) = core
        .db
        .run(move |conn| User::find(conn, org_id, &user_id))
        .await?
        .filter(|u| !u.disabled)
    else {
        return Ok(Err(Refusal::Expired));
    };
    let Some(step) = sign_in
        .purpose
        .flow(core, &sign_in.org, Some(&user))
        .await?
        .next_step(&sign_in.passed())
        .filter(|s| s.contains(&method))
        .map(<[Authenticator]>::to_vec)
    else {
        return Ok(Err(Refusal::Expired));
    };
    let phone = match &sign_in.purpose {
        Purpose::Account(AccountRequest::Phone { number }) => PhoneNumber::parse(number).ok(),
        _ => user
            .phone_number
            .clone()
            .filter(|_| user.phone_number_verified),
    };
    if !ctx.form.admits(&sign_in.tx) {
        return Ok(Err(Refusal::FormExpired));
    }
    let sf = SecondFactor {
        sign_in,
        user,
        step,
        phone,
    };
    if let Some(until) =
        account_lock(core, &sign_in.org, &sf.account_key(), &sf.user, ctx.now).await?
    {
        return Ok(Err(Refusal::Locked { until }));
    }
    Ok(Ok(sf))
}

/// The view of a second-factor step.
pub(super) async fn step_view(
    core: &Core,
    sf: &SecondFactor<'_>,
    kind: StepKind,
    error: Option<StepError>,
    notice: Option<Notice>,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let id = sf.tx_id().to_string();
    let latest = core.db.run(move |conn| SmsOtp::latest(conn, &id)).await?;
    let settings = &sf.org().org.settings.sms_otp;
    let wait = latest
        .as_ref()
        .map_or(0, |l| {
            l.created_at + settings.resend_cooldown_seconds - ctx.now
        })
        .max(0);
    Ok(Outcome::Step(Step {
        kind,
        authenticators: sf.step.clone(),
        app_name: sf.sign_in.purpose.name(sf.org()),
        first: None,
        sms_otp: Some(SmsOtpView {
            masked_phone: sf.phone.as_ref().map(PhoneNumber::masked),
            // Only a code that was sent (or is being sent) is announced as sent.
            sent: latest.is_some(),
            resend_wait_seconds: wait,
            numeric: settings.numeric_only,
            length: settings.length as i64,
            backup_code: sf.step.contains(&Authenticator::BackupCode),
        }),
        error,
        notice,
    }))
}

/// The first visit of an SMS OTP step sends the first code (exactly once, however many tabs load
/// it); later codes are sent only when the user asks.
pub(super) async fn first_code(
    core: &Core,
    sf: &SecondFactor<'_>,
    phone: &PhoneNumber,
    ctx: &Ctx,
) -> Result<Option<StepError>, CoreError> {
    let id = sf.tx_id().to_string();
    if core
        .db
        .run(move |conn| SmsOtp::latest(conn, &id))
        .await?
        .is_some()
    {
        return Ok(None);
    }
    Ok(send_code(core, sf, phone, 0, ctx).await?.error())
}

/// `Ok(code)` of an SMS OTP step, or the outcome to answer instead.
pub(super) async fn sms_code(
    core: &Core,
    sign_in: &SignIn,
    typed: &str,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let sf = match at_step(core, sign_in, Authenticator::SmsOtp, ctx).await? {
        Ok(sf) => sf,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let view = |error| step_view(core, &sf, StepKind::SmsOtp, Some(error), None, ctx);
    let Some(phone) = sf.phone.clone() else {
        return step_view(core, &sf, StepKind::SmsOtp, None, None, ctx).await;
    };
    let account = sf.account_key();
    let settings = &sf.org().org.settings.sms_otp;
    let (max, now) = (settings.max_failed_attempts, ctx.now);
    let id = sf.tx_id().to_string();
    let current = core
        .db
        .run(move |conn| SmsOtp::latest(conn, &id))
        .await?
        // Only a code sent to this user at this number counts.
        .filter(|c| c.user_id == sf.user.id && c.phone_number == phone.as_str());
    let Some(current) = current else {
        return view(StepError::NoCodeSent).await;
    };
    // The attempt counts toward the account's lock before anything is compared, and a burst
    // past the limit locks at once: parallel guesses get no more checks than the policy allows.
    let counted = match count_second_factor(core, &sf, "sms_otp", ctx).await? {
        Ok(counted) => counted,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    // One attempt at this code is claimed before the comparison, for the same reason.
    let otp_id = current.id.clone();
    let claimed = core
        .db
        .run(move |conn| SmsOtp::claim_attempt(conn, &otp_id, max, now))
        .await?;
    if !claimed {
        forgive(core, &account).await?;
        return view(StepError::from_dead(current.dead(max, now))).await;
    }
    let normalized = settings.normalize(typed);
    let right = otp::matches(core.keys.kek(), sf.tx_id(), &normalized, &current.code_hash)
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    if right {
        let otp_id = current.id.clone();
        if !core
            .db
            .run(move |conn| SmsOtp::spend(conn, &otp_id, now))
            .await?
        {
            // Another submission of the same code won the race: no failure to count.
            forgive(core, &account).await?;
            return view(StepError::from_dead(Some(Dead::Used))).await;
        }
        forgive(core, &account).await?;
        tracing::info!(user = %sf.user.id, "SMS OTP verified");
        if let Purpose::Account(AccountRequest::Phone { number }) = &sign_in.purpose {
            return enroll_phone(core, sign_in, &sf.user, number, ctx).await;
        }
        return step_passed(core, &sf, Authenticator::SmsOtp, ctx).await;
    }
    if let Some(until) = second_factor_failed(core, &sf, "sms_otp", counted, ctx).await? {
        tracing::warn!(user = %sf.user.id, "account locked after failed SMS OTPs");
        return Ok(Outcome::Refused(Refusal::Locked { until }));
    }
    let otp_id = current.id.clone();
    let failed = core
        .db
        .run(move |conn| SmsOtp::failed_attempts(conn, &otp_id))
        .await?;
    view(StepError::CodeWrong {
        attempts_left: (max - failed).max(0),
    })
    .await
}

/// Counts a second-factor attempt toward the account's lock policy before the code is checked
/// (as for passwords); a lock set meanwhile, or a burst past the limit, refuses it.
pub(super) async fn count_second_factor(
    core: &Core,
    sf: &SecondFactor<'_>,
    factor: &'static str,
    ctx: &Ctx,
) -> Result<Result<Counted, Refusal>, CoreError> {
    let (key, p, now) = (
        sf.account_key(),
        sf.org().org.settings.lock_policy.clone(),
        ctx.now,
    );
    let (counted, locked) = core
        .db
        .run(move |conn| {
            let counted = policy::count(conn, &key, p.window_seconds, now)?;
            Ok((counted, policy::lock_if_past(conn, &key, &p, counted, now)?))
        })
        .await?;
    Ok(match locked {
        Some(stopped) => {
            if stopped.new {
                core.metrics.account_locked(&sf.org().org.slug, factor);
            }
            Err(Refusal::Locked {
                until: stopped.until,
            })
        }
        None => Ok(counted),
    })
}

pub(super) async fn forgive(core: &Core, key: &str) -> Result<(), CoreError> {
    let key = key.to_string();
    Ok(core.db.run(move |conn| policy::forgive(conn, &key)).await?)
}

/// After a wrong code: locks the account when the attempts reached the policy's limit, and
/// publishes `loginFailed` (and `lockUser`) in the same transaction.
pub(super) async fn second_factor_failed(
    core: &Core,
    sf: &SecondFactor<'_>,
    authenticator: &'static str,
    counted: Counted,
    ctx: &Ctx,
) -> Result<Option<i64>, CoreError> {
    let lock_policy = sf.org().org.settings.lock_policy.clone();
    let key = sf.account_key();
    let now = ctx.now;
    let lock = policy::locks_now(&lock_policy, counted);
    let until = lock.then(|| now + lock_policy.lock_duration(counted.locks));
    let events = failure_events(
        sf.org(),
        &sf.user,
        sf.sign_in.purpose.client(),
        authenticator,
        until,
    );
    let until = core
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let until = if lock {
                    Some(policy::lock_account(
                        conn,
                        &key,
                        &lock_policy,
                        counted,
                        now,
                    )?)
                } else {
                    None
                };
                for e in &events {
                    e.store(conn)?;
                }
                Ok(until)
            })
        })
        .await?;
    if until.is_some() {
        core.metrics
            .account_locked(&sf.org().org.slug, authenticator);
    }
    Ok(until)
}

/// The second-factor step passed with `method`: recorded, and on to the next step or the end.
pub(super) async fn step_passed(
    core: &Core,
    sf: &SecondFactor<'_>,
    method: Authenticator,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let mut passed = sf.sign_in.passed();
    passed.add(method, ctx.now);
    advance(core, sf.sign_in, &sf.user, passed, ctx).await
}

/// Sends a new code (voiding the previous one), within the cooldown and the send limits.
pub(super) async fn resend(core: &Core, sign_in: &SignIn, ctx: &Ctx) -> Result<Outcome, CoreError> {
    let sf = match at_step(core, sign_in, Authenticator::SmsOtp, ctx).await? {
        Ok(sf) => sf,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let Some(phone) = sf.phone.clone() else {
        return step_view(core, &sf, StepKind::SmsOtp, None, None, ctx).await;
    };
    let cooldown = sf.org().org.settings.sms_otp.resend_cooldown_seconds;
    let id = sf.tx_id().to_string();
    let latest = core.db.run(move |conn| SmsOtp::latest(conn, &id)).await?;
    if let Some(l) = &latest {
        let seconds = l.created_at + cooldown - ctx.now;
        if seconds > 0 {
            let error = StepError::ResendWait { seconds };
            return step_view(core, &sf, StepKind::SmsOtp, Some(error), None, ctx).await;
        }
    }
    let seq = latest.map_or(0, |l| l.seq + 1);
    let sent = send_code(core, &sf, &phone, seq, ctx).await?;
    let notice = sent.error().is_none().then_some(Notice::NewCodeSent);
    step_view(core, &sf, StepKind::SmsOtp, sent.error(), notice, ctx).await
}

/// What happened to a send.
pub(super) enum Sent {
    Yes,
    /// Another request sent this code a moment ago (a double click, two tabs).
    Already,
    Failed,
    /// Not sent yet; the delivery worker keeps trying until the code expires.
    Retrying,
    /// Too many sends to this user, number or client: blocked until then.
    Blocked(i64),
    /// The organization's SMS budget's breaker holds until then.
    Paused(i64),
    /// The number cannot receive codes.
    Refused(NumberRefusal),
}

impl Sent {
    fn error(&self) -> Option<StepError> {
        match self {
            Self::Yes | Self::Already => None,
            Self::Failed => Some(StepError::NotSent),
            Self::Retrying => Some(StepError::StillTrying),
            Self::Blocked(until) => Some(StepError::ResendBlocked { until: *until }),
            Self::Paused(until) => Some(StepError::SmsPaused { until: *until }),
            Self::Refused(reason) => Some(StepError::NumberRefused { reason: *reason }),
        }
    }
}

/// Generates a code, stores its keyed hash (voiding the earlier ones) together with its
/// `SmsOtpNotificationEvent` in one transaction, then sends it through the SMS channel.
pub(super) async fn send_code(
    core: &Core,
    sf: &SecondFactor<'_>,
    phone: &PhoneNumber,
    seq: i64,
    ctx: &Ctx,
) -> Result<Sent, CoreError> {
    let org = sf.org();
    let settings = &org.org.settings.sms_otp;
    let kek = core.keys.kek();
    let internal = |e: crate::keys::KeyError| CoreError::Internal(e.to_string());
    let code = settings.generate();
    let host = url::Url::parse(core.settings.base_url.as_str())
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "localhost".into());
    let body = settings.message(&sf.sign_in.purpose.name(org), &code, &host);
    let t = ctx.now;
    let expires_at = t + settings.expiry_seconds;
    let event = crate::events::sms_otp_notification(
        kek,
        org.event_origin(),
        phone.as_str(),
        &body,
        expires_at,
    )
    .map_err(internal)?;
    let row = SmsOtp {
        id: uuid::Uuid::new_v4().to_string(),
        transaction_id: sf.tx_id().to_string(),
        seq,
        user_id: sf.user.id.clone(),
        phone_number: phone.as_str().to_string(),
        code_hash: otp::keyed_hash(kek, sf.tx_id(), code.expose()).map_err(internal)?,
        created_at: t,
        expires_at,
        failed_attempts: 0,
        used_at: None,
        voided_at: None,
        event_jti: Some(event.jti.clone()),
    };
    // Where the code may go (the numbering plan, the allow-list), checked at every send: a
    // number saved before a country was taken off the list gets no more codes.
    let to = match settings.destination(phone.as_str()) {
        Ok(to) => to,
        Err(reason) => {
            tracing::warn!(user = %sf.user.id, to = %phone.masked(), ?reason, "SMS OTP refused: number");
            return Ok(Sent::Refused(reason));
        }
    };
    // The code, its event and the event's delivery are stored together, in the transaction that
    // checks and counts the send limits; this request then delivers it at once, and if it
    // cannot (or dies first) the worker retries until the code expires.
    let claimed_until = t + core.settings.delivery_lease_seconds;
    let delivery = Delivery::new(
        &event.jti,
        org.org.id,
        deliveries::SMS,
        expires_at,
        Some(claimed_until),
    );
    let d = delivery.clone();
    // In webhook mode the event goes to the NOTIFICATIONS subscribers, who send the SMS.
    let webhook = org.sms.as_ref().is_ok_and(|c| c.is_webhook());
    let otp_settings = settings.clone();
    let (entry, user_id, ip) = (
        sf.sign_in.org.clone(),
        sf.user.id.clone(),
        ctx.client_ip.clone(),
    );
    let stored = core
        .db
        .run(move |conn| {
            let r = write_transaction(conn, |conn| {
                let send = sms_limits::Send {
                    organization_id: entry.org.id,
                    user_id: &user_id,
                    to: &to,
                    client_ip: &ip,
                };
                let (verdict, alerts) =
                    sms_limits::check_and_record(conn, &otp_settings, &send, t)?;
                for alert in &alerts {
                    alert.publish(entry.event_origin()).store(conn)?;
                }
                if let Err(held) = verdict {
                    return Ok((Err(held), alerts));
                }
                SmsOtp::insert_replacing(conn, &row)?;
                crate::store::events::OutboxEvent::insert(conn, &event)?;
                let targets = if webhook {
                    crate::events::hub::fan_out(conn, &event, "NOTIFICATIONS", expires_at)?
                } else {
                    Delivery::insert(conn, &d).map(|()| 1)?
                };
                Ok((Ok(targets), alerts))
            });
            match r {
                Ok(s) => Ok(Some(s)),
                Err(StoreError::Conflict(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
    let Some((verdict, alerts)) = stored else {
        return Ok(Sent::Already);
    };
    for alert in alerts {
        tracing::warn!(org = %org.org.slug, ?alert, "SMS alert published");
    }
    let targets = match verdict {
        Ok(targets) => targets,
        Err(sms_limits::Held::Blocked(until)) => return Ok(Sent::Blocked(until)),
        Err(sms_limits::Held::Paused(until)) => {
            tracing::warn!(org = %org.org.slug, until, "SMS OTP not sent: the SMS budget's breaker holds");
            return Ok(Sent::Paused(until));
        }
    };
    if webhook {
        core.deliveries_due.notify_one();
        if targets == 0 {
            tracing::error!(org = %org.org.slug, "SMS OTP not sent: webhook mode and no subscriber");
            return Ok(Sent::Failed);
        }
        return Ok(Sent::Yes);
    }
    match crate::events::worker::deliver(core, delivery).await {
        Ok(()) => {
            tracing::info!(user = %sf.user.id, to = %phone.masked(), "SMS OTP sent");
            Ok(Sent::Yes)
        }
        Err(error) => {
            tracing::warn!(user = %sf.user.id, to = %phone.masked(), %error, "SMS OTP not sent yet");
            Ok(if error.is_retryable() {
                Sent::Retrying
            } else {
                Sent::Failed
            })
        }
    }
}

/// A backup code: one keyed hash and one conditional update per attempt; each code works once,
/// and failures count toward the account's lock.
pub(super) async fn backup_code(
    core: &Core,
    sign_in: &SignIn,
    typed: &str,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let sf = match at_step(core, sign_in, Authenticator::BackupCode, ctx).await? {
        Ok(sf) => sf,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let counted = match count_second_factor(core, &sf, "backup_code", ctx).await? {
        Ok(counted) => counted,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let hash = backup::keyed_hash(core.keys.kek(), &sf.user.id, typed)
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    let user_id = sf.user.id.clone();
    let spent = core
        .db
        .run(move |conn| backup_codes::spend(conn, &user_id, &hash))
        .await?;
    if spent {
        forgive(core, &sf.account_key()).await?;
        tracing::info!(user = %sf.user.id, "backup code used");
        return step_passed(core, &sf, Authenticator::BackupCode, ctx).await;
    }
    if let Some(until) = second_factor_failed(core, &sf, "backup_code", counted, ctx).await? {
        tracing::warn!(user = %sf.user.id, "account locked after failed backup codes");
        return Ok(Outcome::Refused(Refusal::Locked { until }));
    }
    let error = Some(StepError::BackupCodeWrong);
    step_view(core, &sf, StepKind::BackupCode, error, None, ctx).await
}
