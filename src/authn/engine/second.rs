//! The second-factor steps: the sign-in at such a step, and SMS OTP (sending, resending,
//! checking), each attempt counted toward the account's lock before it is checked
//! ([`super::attempt`]).

use super::attempt::{Attempted, CodeRefusal, locked_after, stopped_by};
use super::*;
use crate::authn::outcome::KeyOffer;
use crate::authn::sms_limits::{self, NumberRefusal};

/// A sign-in at a second-factor step: its user is known and the step offers the method.
pub(super) struct SecondFactor<'a> {
    pub(super) sign_in: &'a SignIn,
    pub(super) user: User,
    pub(super) step: Vec<Authenticator>,
    /// Where codes go: the user's verified number, or the number being confirmed.
    pub(super) phone: Option<PhoneNumber>,
    /// The user adds their first number in this sign-in (`[organizations.enrollment] sms_otp =
    /// "during_sign_in"`): `phone` is the number the last code went to, saved once it is entered.
    pub(super) enrolling: bool,
    /// The step's key factor (a passkey) when the user holds a key of it: the other pages
    /// offer it.
    pub(super) key_offer: Option<&'static str>,
    /// The step's key factor when the user holds none but may create one in this sign-in
    /// (enrollment during sign-in): the other pages offer that.
    pub(super) key_create: Option<&'static str>,
}

impl SecondFactor<'_> {
    /// The step's key factor as the other pages offer it (see `key_offer`, `key_create`).
    pub(super) fn offered_key(&self) -> Option<KeyOffer> {
        match (self.key_offer, self.key_create) {
            (Some(factor), _) => Some(KeyOffer {
                factor,
                create: false,
            }),
            (None, Some(factor)) => Some(KeyOffer {
                factor,
                create: true,
            }),
            (None, None) => None,
        }
    }

    pub(super) fn account_key(&self) -> String {
        policy::account_key(self.user.organization_id, self.user.username.as_str())
    }

    pub(super) fn org(&self) -> &OrgEntry {
        &self.sign_in.org
    }

    pub(super) fn tx_id(&self) -> &str {
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
    let mut sf = SecondFactor {
        sign_in,
        user,
        step,
        phone,
        enrolling: false,
        key_offer: None,
        key_create: None,
    };
    sf.key_offer = super::key::held_key_factor(core, &sf.step, &sf.user.id).await?;
    if sf.key_offer.is_none()
        && let Some(name) = sf.step.iter().find_map(|a| match a {
            Authenticator::Key(name) => Some(*name),
            _ => None,
        })
        && super::credential::enrolls_here(core, &sf, name).await?
    {
        sf.key_create = Some(name);
    }
    if sf.phone.is_none()
        && sf.step.contains(&Authenticator::SmsOtp)
        && enrolls_number(core, &sf).await?
    {
        sf.enrolling = true;
        let (id, user_id) = (sf.tx_id().to_string(), sf.user.id.clone());
        sf.phone = core
            .db
            .run(move |conn| SmsOtp::latest(conn, &id))
            .await?
            .filter(|c| c.user_id == user_id)
            .and_then(|c| PhoneNumber::parse(&c.phone_number).ok());
    }
    if let Some(until) =
        account_lock(core, &sign_in.org, &sf.account_key(), &sf.user, ctx.now).await?
    {
        return Ok(Err(Refusal::Locked { until }));
    }
    Ok(Ok(sf))
}

/// Whether the user adds their first number in this sign-in: the organization enrolls numbers
/// during sign-in and the user has no second factor at all (a user who has one uses it).
async fn enrolls_number(core: &Core, sf: &SecondFactor<'_>) -> Result<bool, CoreError> {
    Ok(
        sf.org().org.settings.enrollment.sms_otp == crate::authn::credentials::Switch::DuringSignIn
            && matches!(sf.sign_in.purpose, Purpose::Authorize { .. })
            && !has_second_factor(core, &sf.user).await?,
    )
}

/// "Send a code to this number" while adding the first number in a sign-in: the numbering plan
/// and the organization's allow-list, then a code to it (with every send limit), voiding earlier
/// codes; the number is saved only when its code is entered.
pub(super) async fn enroll_number(
    core: &Core,
    sign_in: &SignIn,
    number: &str,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let mut sf = match at_step(core, sign_in, Authenticator::SmsOtp, ctx).await? {
        Ok(sf) if sf.enrolling => sf,
        Ok(_) => return Ok(Outcome::Refused(Refusal::Expired)),
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let settings = &sf.org().org.settings.sms_otp;
    let to = match settings.destination(number) {
        Ok(to) => to.number,
        Err(reason) => {
            let error = Some(StepError::NumberRefused { reason });
            return step_view(core, &sf, StepKind::SmsOtp, error, None, ctx).await;
        }
    };
    let id = sf.tx_id().to_string();
    let latest = core.db.run(move |conn| SmsOtp::latest(conn, &id)).await?;
    if let Some(l) = &latest {
        let seconds = l.created_at + settings.resend_cooldown_seconds - ctx.now;
        if seconds > 0 {
            let error = Some(StepError::ResendWait { seconds });
            return step_view(core, &sf, StepKind::SmsOtp, error, None, ctx).await;
        }
    }
    let seq = latest.map_or(0, |l| l.seq + 1);
    sf.phone = Some(to.clone());
    let sent = send_code(core, &sf, &to, seq, ctx).await?;
    let notice = sent.error().is_none().then_some(Notice::NewCodeSent);
    step_view(core, &sf, StepKind::SmsOtp, sent.error(), notice, ctx).await
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
    let code_factor = held_code_factor(core, &sf.step, &sf.user.id).await?;
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
        sms_otp: Some(Box::new(SmsOtpView {
            masked_phone: sf.phone.as_ref().map(PhoneNumber::masked),
            // Only a code that was sent (or is being sent) is announced as sent.
            sent: latest.is_some(),
            resend_wait_seconds: wait,
            numeric: settings.numeric_only,
            length: settings.length as i64,
            backup_code: sf.step.contains(&Authenticator::BackupCode),
            code_factor,
            enroll: sf.enrolling,
            // The provider reported that the text of the code in play will not arrive (said
            // here unless the step has a more precise error of its own, e.g. the send's).
            undelivered: error.is_none()
                && latest.as_ref().is_some_and(|l| {
                    l.delivery.as_deref() == Some("failed") && l.used_at.is_none()
                }),
            awaiting_receipt: latest
                .as_ref()
                .is_some_and(|l| super::delivery::awaits_receipt(sf.org(), l, ctx.now)),
        })),
        code: None,
        sent: None,
        sent_offers: super::sent::offers(&sf.step, &sf.user),
        key: None,
        key_offer: sf.offered_key(),
        error,
        notice,
    }))
}

/// The first of the step's plug-in factors that the user has a credential of; no query when the
/// step offers none.
pub(super) async fn held_code_factor(
    core: &Core,
    step: &[Authenticator],
    user_id: &str,
) -> Result<Option<&'static str>, CoreError> {
    if !step.iter().any(|a| matches!(a, Authenticator::Code(_))) {
        return Ok(None);
    }
    Ok(super::credential::shown_factor(core, step, user_id)
        .await?
        .filter(|(_, enrolled)| *enrolled)
        .map(|(f, _)| f.name()))
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

/// The SMS OTP step's check: the code read, the attempt counted toward the account's lock and
/// claimed on the code before the comparison, then either the code spent together with the
/// progress or the session it earned, or the failure recorded — all in one transaction.
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
    let settings = &sf.org().org.settings.sms_otp;
    let enrolling = matches!(
        &sign_in.purpose,
        Purpose::Account(AccountRequest::Phone { .. })
    );
    // Confirming a new number saves it afterwards (see `enroll_phone`); a sign-in goes on.
    let next = if enrolling {
        None
    } else {
        Some(sf.next(core, Authenticator::SmsOtp, ctx).await?)
    };
    let attempt = sf.attempt("sms_otp", ctx);
    // A first number added in this sign-in is saved, verified, with the step it passes.
    let saving = sf.enrolling.then(|| {
        let mut updated = sf.user.clone();
        updated.phone_number = Some(phone.clone());
        updated.phone_number_verified = true;
        (updated, phone.masked(), sf.sign_in.org.clone())
    });
    let (max, now) = (settings.max_failed_attempts, ctx.now);
    let normalized = settings.normalize(typed);
    let kek = core.keys.kek().clone();
    let (tx_id, user_id) = (sf.tx_id().to_string(), sf.user.id.clone());
    let result = core
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                // Only a code sent to this user at this number counts.
                let Some(current) = SmsOtp::latest(conn, &tx_id)?
                    .filter(|c| c.user_id == user_id && c.phone_number == phone.as_str())
                else {
                    return Ok(Attempted::Refused(CodeRefusal::NoCode));
                };
                let counted = match attempt.count(conn)? {
                    Ok(counted) => counted,
                    Err(stopped) => return Ok(Attempted::Locked(stopped)),
                };
                // One attempt at this code is claimed before the comparison, for the same reason.
                if !SmsOtp::claim_attempt(conn, &current.id, max, now)? {
                    attempt.forgive(conn)?;
                    return Ok(Attempted::Refused(CodeRefusal::Dead(
                        current.dead(max, now),
                    )));
                }
                let right = otp::matches(&kek, &tx_id, &normalized, &current.code_hash)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if right {
                    if !SmsOtp::spend(conn, &current.id, now)? {
                        // Another submission of the same code won the race: no failure to count.
                        attempt.forgive(conn)?;
                        return Ok(Attempted::Refused(CodeRefusal::Dead(Some(Dead::Used))));
                    }
                    attempt.forgive(conn)?;
                    if let Some((updated, masked, org)) = &saving {
                        User::set_phone_number(
                            conn,
                            &updated.id,
                            updated.phone_number.as_ref(),
                            updated.phone_number_verified,
                        )?;
                        crate::events::account_changed(
                            conn,
                            org.event_origin(),
                            &updated.id,
                            crate::events::AccountChangeKind::MobileNumberChanged,
                            masked,
                        )?;
                    }
                    return Ok(Attempted::Passed(match next {
                        Some(next) => Some(next.write(conn)?),
                        None => None,
                    }));
                }
                let locked = attempt.failed(conn, counted)?;
                let failed = SmsOtp::failed_attempts(conn, &current.id)?;
                Ok(Attempted::Wrong {
                    locked,
                    attempts_left: (max - failed).max(0),
                })
            })
        })
        .await?;
    match result {
        Attempted::Refused(CodeRefusal::NoCode) => view(StepError::NoCodeSent).await,
        Attempted::Refused(CodeRefusal::Dead(dead)) => view(StepError::from_dead(dead)).await,
        Attempted::Locked(stopped) => Ok(stopped_by(core, sf.org(), stopped, "sms_otp")),
        Attempted::Passed(reached) => {
            tracing::info!(user = %sf.user.id, "SMS OTP verified");
            match (reached, &sign_in.purpose) {
                (Some(reached), _) => Ok(reached.outcome()),
                (None, Purpose::Account(AccountRequest::Phone { number })) => {
                    enroll_phone(core, sign_in, &sf.user, number, ctx).await
                }
                (None, _) => Err(CoreError::Internal("a passed step without a next".into())),
            }
        }
        Attempted::Wrong {
            locked: Some(until),
            ..
        } => Ok(locked_after(core, &sf, until, "sms_otp")),
        Attempted::Wrong { attempts_left, .. } => {
            view(StepError::CodeWrong { attempts_left }).await
        }
    }
}

impl SecondFactor<'_> {
    /// What passing this step with `method` leads to.
    pub(super) async fn next(
        &self,
        core: &Core,
        method: Authenticator,
        ctx: &Ctx,
    ) -> Result<Next, CoreError> {
        let mut passed = self.sign_in.passed();
        passed.add(method, ctx.now);
        Next::decide(core, self.sign_in, &self.user, passed, ctx).await
    }
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
    let locale = crate::i18n::current();
    let body = settings.message(locale, &sf.sign_in.purpose.name(org), &code, &host);
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
        gateway: None,
        delivery: None,
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
    let sent_event = event.clone();
    // In webhook mode the event goes to the NOTIFICATIONS subscribers, who send the SMS.
    let webhook = org.sms.as_ref().is_ok_and(|c| c.is_webhook());
    let sinks = org.event_origin().sink_targets("NOTIFICATIONS", true);
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
                    crate::events::hub::fan_out(conn, &event, "NOTIFICATIONS", expires_at, &sinks)?
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
            tracing::error!(org = %org.org.slug, "SMS OTP not sent: webhook mode and no subscriber or sink");
            return Ok(Sent::Failed);
        }
        return Ok(Sent::Yes);
    }
    let slug = org.org.slug.clone();
    match crate::events::worker::deliver_stored(core, delivery, sent_event, slug).await {
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
