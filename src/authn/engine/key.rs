//! The step of key factors (passkeys; see `authn::factor::KEY_FACTORS`): as a first step, a
//! discoverable assertion tells who the user is ([`identify`]); as a later step, the page begins
//! an assertion with the user's keys: its state is kept sealed, bound to the
//! sign-in, and claimed once by the answer (a replayed answer, or a second answer to the same
//! challenge, finds nothing). The answer is checked in one transaction that counts the attempt
//! toward the account's lock, saves the key's new counter (only if no other request changed the
//! key meanwhile) and records what the step earned — the same bookkeeping as codes.

use sesame_plugin_api::factor::CredentialData;
use sesame_plugin_api::key::{Asserted, KeyFactor};

use super::attempt::{Attempted, CodeRefusal, locked_after, stopped_by};
use super::second::SecondFactor;
use super::*;
use crate::authn::credentials;
use crate::authn::credentials::EnrollError;
use crate::authn::outcome::KeyView;
use crate::authn::passkeys::{self, Party, Registration};
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
    // A user without a key of this factor may create one here (enrollment during sign-in).
    let enroll = sf.key_create == Some(factor.name());
    let (kek, user_id, bound) = (
        core.keys.kek().clone(),
        sf.user.id.clone(),
        passkeys::bound_to(factor.name(), sf.tx_id()),
    );
    let (org, user) = (sf.sign_in.org.clone(), sf.user.clone());
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
                    if held.is_empty() && enroll {
                        let r = Registration::new(&kek, factor, &org, &user, &party, now);
                        return match r.begin(conn) {
                            Ok(begun) => Ok(Some((begun.id, begun.options, true))),
                            Err(EnrollError::Input(why)) => {
                                tracing::error!(user = %user_id, %why, "no key registration can begin");
                                Ok(None)
                            }
                            Err(e) => Err(e.into_store()),
                        };
                    }
                    if held.is_empty() {
                        return Ok(None);
                    }
                    let ceremony = match factor.begin_assertion(party.named(&name), &held) {
                        Ok(c) => c,
                        // No key the plug-in can read: the page offers the other ways.
                        Err(error) => {
                            tracing::error!(user = %user_id, %error, "no key assertion can begin");
                            return Ok(None);
                        }
                    };
                    let id = passkeys::keep_ceremony(
                        conn,
                        &kek,
                        factor.name(),
                        &bound,
                        &ceremony.state,
                        now,
                    )?;
                    Ok(Some((id, ceremony.options, false)))
                })
                .await?
        }
    };
    let code_factor = super::second::held_code_factor(core, &sf.step, &sf.user.id).await?;
    let register = begun.as_ref().is_some_and(|b| b.2);
    let (ceremony, options) = begun.map(|(id, options, _)| (id, options)).unzip();
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
            register,
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

/// The ceremony a first step offering a key factor shows: a discoverable assertion (no
/// username first), or one with the user's keys when the sign-in knows its user, bound to the
/// sign-in. `None` when the step offers none, when the base URL cannot be a relying party, or
/// when no ceremony can begin (the page then offers no passkey).
pub(super) async fn first_ceremony(
    core: &Core,
    sign_in: &SignIn,
    step: &[Authenticator],
) -> Result<Option<Box<KeyView>>, CoreError> {
    let Some(factor) = step_factor(step) else {
        return Ok(None);
    };
    let Some(party) = Party::of(&core.settings.base_url) else {
        tracing::error!(base_url = %core.settings.base_url, "passkeys need a base URL with a host name");
        return Ok(None);
    };
    let kek = core.keys.kek().clone();
    let bound = passkeys::bound_to(factor.name(), &sign_in.tx.id);
    let name = sign_in.org.org.display_name.clone();
    let now = crate::store::now();
    // A sign-in that knows its user (a step-up, an account check) asks for that user's keys
    // only: the browser then offers no other account's passkey.
    let user_id = sign_in.tx.user_id.clone();
    let begun = core
        .db
        .run(move |conn| {
            let rp = party.named(&name);
            let ceremony = match &user_id {
                None => factor.begin_discoverable(rp),
                Some(user_id) => {
                    let held: Vec<CredentialData> =
                        passkeys::held_keys(conn, &kek, user_id, factor.name())?
                            .into_iter()
                            .map(|(_, data)| data)
                            .collect();
                    if held.is_empty() {
                        return Ok(None);
                    }
                    factor.begin_assertion(rp, &held)
                }
            };
            // The sign-in page still works without its passkey.
            let ceremony = match ceremony {
                Ok(c) => c,
                Err(error) => {
                    tracing::error!(%error, "no key ceremony can begin: the sign-in page offers none");
                    return Ok(None);
                }
            };
            let id =
                passkeys::keep_ceremony(conn, &kek, factor.name(), &bound, &ceremony.state, now)?;
            Ok(Some((id, ceremony.options)))
        })
        .await?;
    let Some((id, options)) = begun else {
        return Ok(None);
    };
    Ok(Some(Box::new(KeyView {
        factor: factor.name(),
        label: factor.label(),
        ceremony: Some(id),
        options: Some(options),
        sms_otp: false,
        backup_code: false,
        code_factor: None,
        register: false,
    })))
}

/// A discoverable key's answer on a first step (nobody identified yet): the key is found by
/// its id, the user handle it returns must be its user's, and the assertion is checked against
/// that key alone; then the user has passed the step as if they had typed their password. A
/// refused answer is no guess (a signature cannot be guessed) and counts toward no lock; the
/// account's lock still stops the sign-in.
async fn identify(
    core: &Core,
    sign_in: &SignIn,
    factor: &'static dyn KeyFactor,
    ceremony: &str,
    response: &str,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let method = Authenticator::Key(factor.name());
    if !super::first_step_open(core, sign_in, &method).await? {
        return Ok(Outcome::Refused(Refusal::Expired));
    }
    if !ctx.form.admits(&sign_in.tx) {
        return Ok(Outcome::Refused(Refusal::FormExpired));
    }
    let Some(party) = Party::of(&core.settings.base_url) else {
        return super::show_first(core, sign_in, "", None).await;
    };
    let (kek, now, org_id) = (core.keys.kek().clone(), ctx.now, sign_in.org.org.id);
    let bound = passkeys::bound_to(factor.name(), &sign_in.tx.id);
    let (ceremony, response) = (ceremony.to_string(), response.to_string());
    let name = sign_in.org.org.display_name.clone();
    let found = core
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let Some(state) =
                    passkeys::claim_ceremony(conn, &kek, factor.name(), &bound, &ceremony, now)?
                else {
                    return Ok(Err(StepError::KeyTimedOut));
                };
                let refused = |why: &str| {
                    tracing::info!(%why, "a first-step key assertion was refused");
                    Ok(Err(StepError::KeyRefused))
                };
                let Some((handle, key_id)) = factor.claimed_holder(&response) else {
                    return refused("no user handle or key id");
                };
                let lookup = passkeys::lookup_of(&key_id);
                let Some(c) = Credential::by_lookup(conn, org_id, &lookup)?
                    .filter(|c| c.factor == factor.name())
                else {
                    return refused("an unknown key");
                };
                // The handle is not signed: it must name the key's own user.
                if passkeys::handle_of(&c.user_id) != handle {
                    return refused("a user handle that is not the key's user's");
                }
                let Some(user) = User::find(conn, org_id, &c.user_id)? else {
                    return refused("the key's user is gone");
                };
                let data = match credentials::open(&kek, &c) {
                    Ok(data) => data,
                    Err(error) => {
                        tracing::error!(credential = %c.id, %error, "a key does not open");
                        return refused("the key does not open");
                    }
                };
                let rp = party.named(&name);
                match factor.finish_assertion(rp, &state, &response, &[data]) {
                    Asserted::Passed {
                        credential,
                        user_verified: true,
                        ..
                    } => {
                        if !passkeys::save_used(conn, &kek, &c, credential, now)? {
                            return Ok(Err(StepError::KeyTimedOut));
                        }
                        Ok(Ok(user))
                    }
                    Asserted::Passed { .. } => refused("no user verification"),
                    Asserted::Refused(why) => refused(&why),
                    Asserted::Failed(error) => {
                        tracing::error!(%error, "a first-step key assertion could not be checked");
                        Ok(Err(StepError::KeyTimedOut))
                    }
                }
            })
        })
        .await?;
    let user = match found {
        Ok(user) => user,
        Err(error) => return super::show_first(core, sign_in, "", Some(error)).await,
    };
    let key = policy::account_key(org_id, user.username.as_str());
    if let Some(until) = account_lock(core, &sign_in.org, &key, &user, now).await? {
        return Ok(Outcome::Refused(Refusal::Locked { until }));
    }
    super::first_step_passed(core, sign_in, &user, method, now, ctx).await
}

/// Checks the browser's answer (`response`, JSON) to the ceremony `ceremony` of this step: for
/// the sign-in's user once one is identified, else to find out who it is (a first step).
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
    if sign_in.tx.user_id.is_none() {
        return identify(core, sign_in, factor, ceremony, response, ctx).await;
    }
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
    let (kek, now, bound) = (
        core.keys.kek().clone(),
        ctx.now,
        passkeys::bound_to(factor.name(), sf.tx_id()),
    );
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
                let why = match factor.finish_assertion(rp, &state, &response, &data) {
                    Asserted::Passed {
                        index,
                        credential,
                        user_verified: true,
                    } => {
                        let Some((c, _)) = held.get(index) else {
                            return Err(StoreError::Corrupt("a key the user does not hold".into()));
                        };
                        // Another request passed with this key meanwhile: that one won.
                        let saved = passkeys::save_used(conn, &kek, c, credential, now)?;
                        attempt.forgive(conn)?;
                        if !saved {
                            return Ok(Some(Attempted::Refused(CodeRefusal::Dead(Some(
                                Dead::Used,
                            )))));
                        }
                        return Ok(Some(Attempted::Passed(Some(next.write(conn)?))));
                    }
                    Asserted::Passed { .. } => "no user verification".to_string(),
                    Asserted::Refused(why) => why,
                    // The server's fault, not a guess: not counted, and a new ceremony.
                    Asserted::Failed(error) => {
                        tracing::error!(user = %user_id, %error, "a key assertion could not be checked");
                        attempt.forgive(conn)?;
                        return Ok(Some(Attempted::Refused(CodeRefusal::Dead(None))));
                    }
                };
                tracing::info!(user = %user_id, %why, "a key assertion was refused");
                let locked = attempt.failed(conn, counted)?;
                Ok(Some(Attempted::Wrong {
                    locked,
                    attempts_left: (),
                }))
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

/// The browser's answer to the registration of the user's first passkey in this sign-in (the
/// organization enrolls passkeys during sign-in and the user has no second factor at all): the
/// key is saved under `name` and the step passes with it, in one transaction. A wrong answer is
/// no guess and is not counted; the page begins a new registration.
pub(super) async fn enroll(
    core: &Core,
    sign_in: &SignIn,
    factor: &str,
    pending: &str,
    response: &str,
    name: &str,
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
    let (Some(party), true) = (
        Party::of(&core.settings.base_url),
        super::credential::enrolls_here(core, &sf, factor.name()).await?,
    ) else {
        return view(core, &sf, factor, None, ctx.now).await;
    };
    let name = passkeys::key_name(name).unwrap_or_else(|| "Passkey".to_string());
    let next = sf.next(core, method, ctx).await?;
    let (kek, now) = (core.keys.kek().clone(), ctx.now);
    let (org, user) = (sf.sign_in.org.clone(), sf.user.clone());
    let (pending, response) = (pending.to_string(), response.to_string());
    let result = core
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let r = Registration::new(&kek, factor, &org, &user, &party, now);
                match r.finish_in(conn, &pending, &response, &name)? {
                    Ok(_) => Ok(Ok(next.write(conn)?)),
                    Err(EnrollError::Store(e)) => Err(e),
                    Err(e) => Ok(Err(e)),
                }
            })
        })
        .await;
    let result = match result.map_err(passkeys::taken_or) {
        Err(EnrollError::Store(e)) => return Err(e.into()),
        Err(taken) => Err(taken),
        Ok(finished) => finished,
    };
    match result {
        Ok(reached) => {
            tracing::info!(user = %sf.user.id, factor = factor.name(), "key added during sign-in");
            Ok(reached.outcome())
        }
        Err(EnrollError::Expired) => {
            view(core, &sf, factor, Some(StepError::KeyTimedOut), ctx.now).await
        }
        Err(_) => view(core, &sf, factor, Some(StepError::KeyRefused), ctx.now).await,
    }
}
