//! The step of every plug-in factor that sends a code (see `authn::factor::SENT_FACTORS`; today
//! `email_otp`): the SMS OTP rules — the first visit sends the first code (once, however many
//! tabs load it), a new code only when asked, after the cooldown and within the resends a
//! sign-in may have; the code kept as a keyed hash bound to the sign-in and the factor; each
//! attempt counted toward the account's lock and claimed on the code before the comparison; the
//! code spent with what the step earned in one transaction. The plug-in words the message; the
//! server sends it to the user's verified contact point through the organization's channel.

use sesame_plugin_api::factor::{CodeNotice, Destination, SentCodeFactor};

use super::attempt::{Attempted, CodeRefusal, locked_after, stopped_by};
use super::second::SecondFactor;
use super::*;
use crate::authn::factor::sent_factor;
use crate::authn::outcome::{SentOffer, SentView};
use crate::authn::sent_code::{self, SentCodeSettings};
use crate::domain::Email;
use crate::mail::Mail;
use crate::store::sent_codes::SentCode;

/// The step's factors that send a code which `user` can receive, as other ways to offer.
pub(super) fn offers(step: &[Authenticator], user: &User) -> Vec<SentOffer> {
    step.iter()
        .filter_map(|a| match a {
            Authenticator::Sent(name) => sent_factor(name),
            _ => None,
        })
        .filter(|f| destination(*f, user).is_some())
        .map(|f| SentOffer {
            factor: f.name(),
            offer: f.offer(),
        })
        .collect()
}

/// Where `factor`'s codes go for `user`: their verified contact point of its kind.
fn destination(factor: &dyn SentCodeFactor, user: &User) -> Option<Email> {
    match factor.destination() {
        Destination::Email => user.email.clone().filter(|_| user.email_verified),
    }
}

/// The organization's settings for `factor`'s codes.
fn settings<'a>(org: &'a OrgEntry, factor: &dyn SentCodeFactor) -> &'a SentCodeSettings {
    match factor.destination() {
        Destination::Email => &org.org.settings.email_otp,
    }
}

/// What a code's keyed hash is bound to: the sign-in and the factor, so no code of another
/// factor (an SMS code of the same sign-in) can match it.
fn bound_to(factor: &dyn SentCodeFactor, tx_id: &str) -> String {
    format!("{}:{tx_id}", factor.name())
}

/// The sign-in at the step of the sent-code factor named `name`, or why not.
async fn at_factor_step<'a>(
    core: &Core,
    sign_in: &'a SignIn,
    name: &str,
    ctx: &Ctx,
) -> Result<Result<(SecondFactor<'a>, &'static dyn SentCodeFactor), Refusal>, CoreError> {
    let Some(factor) = sent_factor(name) else {
        return Ok(Err(Refusal::Expired));
    };
    Ok(
        at_step(core, sign_in, Authenticator::Sent(factor.name()), ctx)
            .await?
            .map(|sf| (sf, factor)),
    )
}

/// The sign-in at the step of the factor `name`, with where its codes go for the user; or what
/// to answer instead: the refusal, or the step saying the user has no such contact point.
async fn reachable<'a>(
    core: &Core,
    sign_in: &'a SignIn,
    name: &str,
    ctx: &Ctx,
) -> Result<Result<(SecondFactor<'a>, &'static dyn SentCodeFactor, Email), Outcome>, CoreError> {
    let (sf, factor) = match at_factor_step(core, sign_in, name, ctx).await? {
        Ok(found) => found,
        Err(refusal) => return Ok(Err(Outcome::Refused(refusal))),
    };
    match destination(factor, &sf.user) {
        Some(to) => Ok(Ok((sf, factor, to))),
        None => {
            let error = Some(StepError::NotEnrolled);
            Ok(Err(view(core, &sf, factor, error, None, ctx).await?))
        }
    }
}

/// The step's page: where codes go, whether one was sent, when a new one may be asked for.
async fn view(
    core: &Core,
    sf: &SecondFactor<'_>,
    factor: &'static dyn SentCodeFactor,
    error: Option<StepError>,
    notice: Option<Notice>,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let (id, name) = (sf.tx_id().to_string(), factor.name());
    let latest = core
        .db
        .run(move |conn| SentCode::latest(conn, &id, name))
        .await?;
    let s = settings(sf.org(), factor);
    let code_factor = super::second::held_code_factor(core, &sf.step, &sf.user.id).await?;
    let sent = latest.as_ref().map_or(0, |l| l.seq + 1);
    Ok(Outcome::Step(Step {
        kind: StepKind::Sent,
        authenticators: sf.step.clone(),
        app_name: sf.sign_in.purpose.name(sf.org()),
        first: None,
        sms_otp: None,
        code: None,
        sent: Some(Box::new(SentView {
            factor: factor.name(),
            label: factor.label(),
            masked_destination: destination(factor, &sf.user).map(|d| d.masked()),
            sent: latest.is_some(),
            resend_wait_seconds: latest
                .as_ref()
                .map_or(0, |l| l.created_at + s.resend_cooldown_seconds - ctx.now)
                .max(0),
            resends_left: (s.resend_attempts + 1 - sent).clamp(0, s.resend_attempts),
            numeric: s.numeric_only,
            length: s.length,
            sms_otp: sf.step.contains(&Authenticator::SmsOtp)
                && sf.user.phone_number.is_some()
                && sf.user.phone_number_verified,
            code_factor,
            backup_code: sf.step.contains(&Authenticator::BackupCode),
        })),
        sent_offers: offers(&sf.step, &sf.user)
            .into_iter()
            .filter(|o| o.factor != factor.name())
            .collect(),
        key: None,
        key_offer: sf.offered_key(),
        error,
        notice,
    }))
}

/// Shows the step of the first factor that sends a code in the sign-in's current step.
pub(super) async fn show_step(
    core: &Core,
    sign_in: &SignIn,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let name = sign_in
        .next_step(core)
        .await?
        .and_then(|step| {
            step.into_iter().find_map(|a| match a {
                Authenticator::Sent(name) => Some(name),
                _ => None,
            })
        })
        .unwrap_or_default();
    show(core, sign_in, name, ctx).await
}

/// Shows the step of the factor `name`; the first visit sends the first code.
pub(super) async fn show(
    core: &Core,
    sign_in: &SignIn,
    name: &str,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let (sf, factor) = match at_factor_step(core, sign_in, name, ctx).await? {
        Ok(found) => found,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let (id, name) = (sf.tx_id().to_string(), factor.name());
    let first = core
        .db
        .run(move |conn| SentCode::latest(conn, &id, name))
        .await?
        .is_none();
    let error = match destination(factor, &sf.user) {
        Some(to) if first => send(core, &sf, factor, &to, 0, ctx).await?,
        _ => None,
    };
    view(core, &sf, factor, error, None, ctx).await
}

/// "Send a new code": after the cooldown and within the sign-in's resends; voids the earlier
/// codes.
pub(super) async fn resend(
    core: &Core,
    sign_in: &SignIn,
    name: &str,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let (sf, factor, to) = match reachable(core, sign_in, name, ctx).await? {
        Ok(found) => found,
        Err(outcome) => return Ok(outcome),
    };
    let s = settings(sf.org(), factor);
    let (id, name) = (sf.tx_id().to_string(), factor.name());
    let latest = core
        .db
        .run(move |conn| SentCode::latest(conn, &id, name))
        .await?;
    let seq = latest.as_ref().map_or(0, |l| l.seq + 1);
    let refused = match &latest {
        Some(l) if l.created_at + s.resend_cooldown_seconds > ctx.now => {
            Some(StepError::ResendWait {
                seconds: l.created_at + s.resend_cooldown_seconds - ctx.now,
            })
        }
        _ if seq > s.resend_attempts => Some(StepError::NoMoreCodes),
        _ => None,
    };
    if refused.is_some() {
        return view(core, &sf, factor, refused, None, ctx).await;
    }
    let error = send(core, &sf, factor, &to, seq, ctx).await?;
    let notice = error.is_none().then_some(Notice::NewCodeSent);
    view(core, &sf, factor, error, notice, ctx).await
}

/// Generates a code, stores its keyed hash (voiding the earlier ones) if the address's limit
/// has room, and mails it. A second request storing the same `seq` (a double click, two tabs)
/// sends nothing: the code is already on its way.
async fn send(
    core: &Core,
    sf: &SecondFactor<'_>,
    factor: &'static dyn SentCodeFactor,
    to: &Email,
    seq: i64,
    ctx: &Ctx,
) -> Result<Option<StepError>, CoreError> {
    let org = sf.org();
    let s = settings(org, factor).clone();
    let code = otp::random_code(s.numeric_only, s.length);
    let kek = core.keys.kek();
    let hash = otp::keyed_hash(kek, &bound_to(factor, sf.tx_id()), code.expose())
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    let now = ctx.now;
    let row = SentCode {
        id: uuid::Uuid::new_v4().to_string(),
        transaction_id: sf.tx_id().to_string(),
        factor: factor.name().to_string(),
        seq,
        user_id: sf.user.id.clone(),
        destination: to.as_str().to_string(),
        code_hash: hash,
        created_at: now,
        expires_at: now + s.expiry_seconds,
        failed_attempts: 0,
        used_at: None,
        voided_at: None,
    };
    let key = sent_code::address_key(factor.name(), org.org.id, to.as_str());
    let (max, window) = (s.max_sends_per_address, s.window_seconds);
    let unsent = row.clone();
    let stored = core
        .db
        .run(move |conn| {
            let r = write_transaction(conn, |conn| {
                if policy::count(conn, &key, window, now)?.attempts > max {
                    return Ok(false);
                }
                SentCode::insert_replacing(conn, &row)?;
                Ok(true)
            });
            match r {
                Ok(stored) => Ok(Some(stored)),
                Err(StoreError::Conflict(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
    match stored {
        None => return Ok(None),
        Some(false) => {
            tracing::warn!(user = %sf.user.id, factor = factor.name(), "code not sent: too many for this address");
            return Ok(Some(StepError::AddressThrottled));
        }
        Some(true) => {}
    }
    let message = factor.message(&CodeNotice {
        organization: &org.org.display_name,
        application: &sf.sign_in.purpose.name(org),
        code: code.expose(),
        minutes: s.minutes(),
        language: crate::i18n::current().tag(),
    });
    let sent = match factor.destination() {
        Destination::Email => {
            let html = core
                .mail_templates
                .plain_html(crate::i18n::current(), &message.subject, &message.text)
                .map_err(|e| CoreError::Internal(format!("code email template: {e}")))?;
            let mail = Mail {
                to: to.as_str(),
                subject: &message.subject,
                text: message.text,
                html,
            };
            org.org.settings.mail.send(mail).await
        }
    };
    core.metrics
        .mail_send(&org.org.slug, factor.name(), sent.is_ok());
    match sent {
        Ok(()) => {
            tracing::info!(user = %sf.user.id, factor = factor.name(), to = %to.masked(), "code sent");
            Ok(None)
        }
        Err(error) => {
            tracing::warn!(user = %sf.user.id, factor = factor.name(), to = %to.masked(), %error, "code not sent");
            core.db
                .run(move |conn| SentCode::drop_unsent(conn, &unsent))
                .await?;
            Ok(Some(StepError::MailNotSent))
        }
    }
}

/// Checks a typed code of the factor `name`: the attempt counted toward the account's lock and
/// claimed on the code before the comparison, then the code spent with what the step earned, or
/// the failure recorded — in one transaction.
pub(super) async fn check(
    core: &Core,
    sign_in: &SignIn,
    name: &str,
    typed: &str,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let (sf, factor, to) = match reachable(core, sign_in, name, ctx).await? {
        Ok(found) => found,
        Err(outcome) => return Ok(outcome),
    };
    let next = sf
        .next(core, Authenticator::Sent(factor.name()), ctx)
        .await?;
    let attempt = sf.attempt(factor.name(), ctx);
    let (max, now) = (settings(sf.org(), factor).max_failed_attempts, ctx.now);
    let typed = otp::normalize(typed);
    let kek = core.keys.kek().clone();
    let (tx_id, user_id, bound) = (
        sf.tx_id().to_string(),
        sf.user.id.clone(),
        bound_to(factor, sf.tx_id()),
    );
    let result = core
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                // Only a code sent to this user at this address counts.
                let Some(current) = SentCode::latest(conn, &tx_id, factor.name())?
                    .filter(|c| c.user_id == user_id && c.destination == to.as_str())
                else {
                    return Ok(Attempted::Refused(CodeRefusal::NoCode));
                };
                let counted = match attempt.count(conn)? {
                    Ok(counted) => counted,
                    Err(stopped) => return Ok(Attempted::Locked(stopped)),
                };
                if !SentCode::claim_attempt(conn, &current.id, max, now)? {
                    attempt.forgive(conn)?;
                    return Ok(Attempted::Refused(CodeRefusal::Dead(
                        current.dead(max, now),
                    )));
                }
                let right = otp::matches(&kek, &bound, &typed, &current.code_hash)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if right {
                    attempt.forgive(conn)?;
                    if !SentCode::spend(conn, &current.id, now)? {
                        // Another submission of the same code won the race: no failure to count.
                        return Ok(Attempted::Refused(CodeRefusal::Dead(Some(Dead::Used))));
                    }
                    return Ok(Attempted::Passed(Some(next.write(conn)?)));
                }
                let locked = attempt.failed(conn, counted)?;
                let failed = SentCode::failed_attempts(conn, &current.id)?;
                Ok(Attempted::Wrong {
                    locked,
                    attempts_left: (max - failed).max(0),
                })
            })
        })
        .await?;
    let again = |error| view(core, &sf, factor, Some(error), None, ctx);
    match result {
        Attempted::Refused(CodeRefusal::NoCode) => again(StepError::NoCodeSent).await,
        Attempted::Refused(CodeRefusal::Dead(dead)) => again(StepError::from_dead(dead)).await,
        Attempted::Locked(stopped) => Ok(stopped_by(core, sf.org(), stopped, factor.name())),
        Attempted::Passed(Some(reached)) => {
            tracing::info!(user = %sf.user.id, factor = factor.name(), "sent code verified");
            Ok(reached.outcome())
        }
        Attempted::Passed(None) => Err(CoreError::Internal("a passed step without a next".into())),
        Attempted::Wrong {
            locked: Some(until),
            ..
        } => Ok(locked_after(core, &sf, until, factor.name())),
        Attempted::Wrong { attempts_left, .. } => {
            again(StepError::CodeWrong { attempts_left }).await
        }
    }
}
