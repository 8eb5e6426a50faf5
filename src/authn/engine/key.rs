//! The step of key factors (passkeys; see `authn::factor::KEY_FACTORS`) as a second factor. The
//! page begins an assertion with the user's keys: its state is kept sealed, bound to the
//! sign-in, and claimed once by the answer (a replayed answer, or a second answer to the same
//! challenge, finds nothing). The answer is checked in one transaction that counts the attempt
//! toward the account's lock, saves the key's new counter (only if no other request changed the
//! key meanwhile) and records what the step earned — the same bookkeeping as codes.

use sesame_plugin_api::factor::CredentialData;
use sesame_plugin_api::key::{Asserted, KeyFactor};

use super::second::{Attempted, CodeRefusal, SecondFactor, locked_after, stopped_by};
use super::*;
use crate::authn::credentials;
use crate::authn::outcome::KeyView;
use crate::authn::passkeys::{self, Party};
use crate::store::credentials::Credential;

/// The step's key factor when the user holds a key of it (one query, only when the step offers
/// a key factor).
pub(super) async fn held_key_factor(
    core: &Core,
    step: &[Authenticator],
    user_id: &str,
) -> Result<Option<&'static str>, CoreError> {
    let offered: Vec<&'static str> = step
        .iter()
        .filter_map(|a| match a {
            Authenticator::Key(name) => Some(*name),
            _ => None,
        })
        .collect();
    if offered.is_empty() {
        return Ok(None);
    }
    let id = user_id.to_string();
    let held = core
        .db
        .run(move |conn| Credential::of_user(conn, &id))
        .await?;
    Ok(offered
        .into_iter()
        .find(|name| held.iter().any(|c| c.factor == *name)))
}

/// What binds a ceremony to this sign-in's step.
fn bound_to(factor: &dyn KeyFactor, sf: &SecondFactor<'_>) -> String {
    format!("{}:{}", factor.name(), sf.tx_id())
}

/// The step's page: a new ceremony with the user's keys (none when they hold none: the page
/// says so, as `StepError::NotEnrolled` words it, and offers the step's other ways).
async fn view(
    core: &Core,
    sf: &SecondFactor<'_>,
    factor: &'static dyn KeyFactor,
    error: Option<StepError>,
    now: i64,
) -> Result<Outcome, CoreError> {
    let party = Party::of(&core.settings.base_url);
    if party.is_none() {
        tracing::error!(base_url = %core.settings.base_url, "passkeys need a base URL with a host name");
    }
    let (kek, user_id, bound) = (
        core.keys.kek().clone(),
        sf.user.id.clone(),
        bound_to(factor, sf),
    );
    let name = sf.org().org.display_name.clone();
    let begun = match party {
        None => None,
        Some(party) => {
            core.db
                .run(move |conn| {
                    let held: Vec<CredentialData> =
                        passkeys::held_keys(conn, &kek, &user_id, factor.name())?
                            .into_iter()
                            .map(|(_, data)| data)
                            .collect();
                    if held.is_empty() {
                        return Ok(None);
                    }
                    let ceremony = factor
                        .begin_assertion(party.named(&name), &held)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let id = passkeys::keep_ceremony(
                        conn,
                        &kek,
                        factor.name(),
                        &bound,
                        &ceremony.state,
                        now,
                    )?;
                    Ok(Some((id, ceremony.options)))
                })
                .await?
        }
    };
    let code_factor = super::second::held_code_factor(core, &sf.step, &sf.user.id).await?;
    let (ceremony, options) = begun.unzip();
    Ok(Outcome::Step(Step {
        kind: StepKind::Key,
        authenticators: sf.step.clone(),
        app_name: sf.sign_in.purpose.name(sf.org()),
        first: None,
        sms_otp: None,
        code: None,
        sent: None,
        sent_offers: super::sent::offers(&sf.step, &sf.user),
        key: Some(Box::new(KeyView {
            factor: factor.name(),
            label: factor.label(),
            ceremony,
            options,
            sms_otp: sf.step.contains(&Authenticator::SmsOtp) && sf.phone.is_some(),
            backup_code: sf.step.contains(&Authenticator::BackupCode),
            code_factor,
        })),
        key_offer: None,
        error,
        notice: None,
    }))
}

/// The key factor of the sign-in's current step.
fn step_factor(step: &[Authenticator]) -> Option<&'static dyn KeyFactor> {
    step.iter().find_map(|a| match a {
        Authenticator::Key(name) => crate::authn::factor::key_factor(name),
        _ => None,
    })
}

/// Shows the key step of the sign-in's current step, with a new ceremony.
pub(super) async fn show(core: &Core, sign_in: &SignIn, ctx: &Ctx) -> Result<Outcome, CoreError> {
    let Some(factor) = sign_in
        .next_step(core)
        .await?
        .and_then(|step| step_factor(&step))
    else {
        return Ok(Outcome::Refused(Refusal::Expired));
    };
    let sf = match at_step(core, sign_in, Authenticator::Key(factor.name()), ctx).await? {
        Ok(sf) => sf,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    view(core, &sf, factor, None, ctx.now).await
}

/// Checks the browser's answer (`response`, JSON) to the ceremony `ceremony` of this step.
pub(super) async fn check(
    core: &Core,
    sign_in: &SignIn,
    factor: &str,
    ceremony: &str,
    response: &str,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let Some(factor) = crate::authn::factor::key_factor(factor) else {
        return Ok(Outcome::Refused(Refusal::Expired));
    };
    let method = Authenticator::Key(factor.name());
    let sf = match at_step(core, sign_in, method.clone(), ctx).await? {
        Ok(sf) => sf,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let Some(party) = Party::of(&core.settings.base_url) else {
        return view(core, &sf, factor, None, ctx.now).await;
    };
    let next = sf.next(core, method, ctx).await?;
    let attempt = sf.attempt(factor.name(), ctx);
    let (kek, now, bound) = (core.keys.kek().clone(), ctx.now, bound_to(factor, &sf));
    let (user_id, ceremony, response) = (
        sf.user.id.clone(),
        ceremony.to_string(),
        response.to_string(),
    );
    let name = sf.org().org.display_name.clone();
    let result = core
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                // An unknown, used or lapsed ceremony: not a guess, nothing counted.
                let Some(state) =
                    passkeys::claim_ceremony(conn, &kek, factor.name(), &bound, &ceremony, now)?
                else {
                    return Ok(None);
                };
                let counted = match attempt.count(conn)? {
                    Ok(counted) => counted,
                    Err(stopped) => return Ok(Some(Attempted::Locked(stopped))),
                };
                let held = passkeys::held_keys(conn, &kek, &user_id, factor.name())?;
                let data: Vec<CredentialData> = held.iter().map(|(_, d)| d.clone()).collect();
                let rp = party.named(&name);
                match factor.finish_assertion(rp, &state, &response, &data) {
                    Asserted::Passed {
                        index, credential, ..
                    } => {
                        let Some((c, _)) = held.get(index) else {
                            return Err(StoreError::Corrupt("a key the user does not hold".into()));
                        };
                        let sealed = match credential {
                            Some(data) => credentials::seal(&kek, c, &data)
                                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                            None => c.sealed.clone(),
                        };
                        // Another request passed with this key meanwhile: that one won.
                        let saved = Credential::save_if_unchanged(
                            conn,
                            &c.id,
                            c.version,
                            &sealed,
                            c.confirmed_at,
                            Some(now),
                        )?;
                        attempt.forgive(conn)?;
                        if !saved {
                            return Ok(Some(Attempted::Refused(CodeRefusal::Dead(Some(
                                Dead::Used,
                            )))));
                        }
                        Ok(Some(Attempted::Passed(Some(next.write(conn)?))))
                    }
                    Asserted::Refused(why) => {
                        tracing::info!(user = %user_id, %why, "a key assertion was refused");
                        let locked = attempt.failed(conn, counted)?;
                        Ok(Some(Attempted::Wrong {
                            locked,
                            attempts_left: (),
                        }))
                    }
                }
            })
        })
        .await?;
    match result {
        None => view(core, &sf, factor, Some(StepError::KeyTimedOut), ctx.now).await,
        Some(Attempted::Locked(stopped)) => Ok(stopped_by(core, sf.org(), stopped, factor.name())),
        Some(Attempted::Passed(Some(reached))) => {
            tracing::info!(user = %sf.user.id, factor = factor.name(), "second-factor key verified");
            Ok(reached.outcome())
        }
        Some(Attempted::Wrong {
            locked: Some(until),
            ..
        }) => Ok(locked_after(core, &sf, until, factor.name())),
        Some(Attempted::Wrong { locked: None, .. }) => {
            view(core, &sf, factor, Some(StepError::KeyRefused), ctx.now).await
        }
        Some(Attempted::Refused(_)) => {
            view(core, &sf, factor, Some(StepError::KeyTimedOut), ctx.now).await
        }
        Some(Attempted::Passed(None)) => Err(CoreError::Internal(
            "a key attempt without an outcome".into(),
        )),
    }
}
