//! The step of every plug-in factor checked by a typed code (see `authn::factor::CODE_FACTORS`):
//! the same bookkeeping as backup codes — the attempt counted toward the account's lock before
//! the check, the credential's new state and what the step earned written in one transaction —
//! with the check itself done by the plug-in against the user's credentials of that factor.

use sesame_plugin_api::factor::{Check, CodeFactor, Enrollee};

use super::attempt::{Attempted, CodeRefusal, locked_after, stopped_by};
use super::second::SecondFactor;
use super::*;
use crate::authn::credentials::{self, EnrollError, Enrollment, Switch};
use crate::authn::outcome::{CodeView, SetupView};
use crate::store::credentials::Credential;

/// The step's code factor to show: the first of the step's that the user has a credential of,
/// else the step's first.
pub(super) async fn shown_factor(
    core: &Core,
    step: &[Authenticator],
    user_id: &str,
) -> Result<Option<(&'static dyn CodeFactor, bool)>, CoreError> {
    let offered: Vec<&'static dyn CodeFactor> = step
        .iter()
        .filter_map(|a| match a {
            Authenticator::Code(name) => crate::authn::factor::code_factor(name),
            _ => None,
        })
        .collect();
    let id = user_id.to_string();
    let held: Vec<String> = core
        .db
        .run(move |conn| Credential::of_user(conn, &id))
        .await?
        .into_iter()
        .map(|c| c.factor)
        .collect();
    Ok(offered
        .iter()
        .find(|f| held.iter().any(|h| h == f.name()))
        .map(|f| (*f, true))
        .or_else(|| offered.first().map(|f| (*f, false))))
}

/// The kind of page a step opens on for `user`: with several second factors in the step, the
/// one the user passed last (`users.last_second_factor`) if they still have it, else the first
/// of the step's that they have (a verified number for SMS OTP, a credential for a plug-in
/// factor); the step's own kind when they have none (its page says so). A step with one kind
/// costs no query.
pub async fn opening_kind(
    core: &Core,
    step: &[Authenticator],
    user: &User,
) -> Result<StepKind, CoreError> {
    let kind = StepKind::of(step);
    let primaries: Vec<&Authenticator> = step
        .iter()
        .filter(|a| a.second_factor() && a.factor().fallback_of().is_none())
        .collect();
    if kind == StepKind::First || primaries.len() < 2 {
        return Ok(kind);
    }
    let id = user.id.clone();
    let (last, held) = core
        .db
        .run(move |conn| {
            Ok((
                User::last_second_factor(conn, &id)?,
                Credential::of_user(conn, &id)?,
            ))
        })
        .await?;
    let phone = user.phone_number.is_some() && user.phone_number_verified;
    let usable: Vec<&&Authenticator> = primaries
        .iter()
        .filter(|a| match a {
            Authenticator::SmsOtp => phone,
            Authenticator::Code(name) | Authenticator::Key(name) => {
                held.iter().any(|c| c.factor == *name)
            }
            _ => false,
        })
        .collect();
    let chosen = usable
        .iter()
        .find(|a| last.as_deref() == Some(a.factor().name()))
        .or(usable.first());
    Ok(chosen.map_or(kind, |a| a.factor().step_kind()))
}

fn view(
    sf: &SecondFactor<'_>,
    factor: &'static dyn CodeFactor,
    enrolled: bool,
    setup: Option<Box<SetupView>>,
    error: Option<StepError>,
) -> Outcome {
    let format = factor.code_format(sf.org().org.settings.factor_settings(factor.name()));
    Outcome::Step(Step {
        kind: StepKind::Code,
        authenticators: sf.step.clone(),
        app_name: sf.sign_in.purpose.name(sf.org()),
        first: None,
        sms_otp: None,
        code: Some(Box::new(CodeView {
            factor: factor.name(),
            label: factor.label(),
            numeric: format.numeric,
            length: format.length,
            enrolled,
            setup,
            sms_otp: sf.step.contains(&Authenticator::SmsOtp) && sf.phone.is_some(),
            backup_code: sf.step.contains(&Authenticator::BackupCode),
        })),
        sent: None,
        sent_offers: super::sent::offers(&sf.step, &sf.user),
        key: None,
        key_offer: sf.offered_key(),
        error,
        notice: None,
    })
}

/// Whether the user enrolls `factor` in this sign-in: when the organization enrolls it during
/// sign-in and the user has no second factor at all (the guide's progressive enrollment: a user
/// who has one must use it).
pub(super) async fn enrolls_here(
    core: &Core,
    sf: &SecondFactor<'_>,
    factor: &str,
) -> Result<bool, CoreError> {
    Ok(
        sf.org().org.settings.enrollment.of(factor) == Switch::DuringSignIn
            && matches!(sf.sign_in.purpose, Purpose::Authorize { .. })
            && !has_second_factor(core, &sf.user).await?,
    )
}

/// The enrollment of `factor` for the sign-in's user, built inside a database closure.
fn enrollment<'a>(
    kek: &'a crate::keys::Kek,
    org: &'a OrgEntry,
    user: &'a User,
    factor: &'static dyn CodeFactor,
    now: i64,
) -> Enrollment<'a> {
    Enrollment {
        kek,
        factor,
        origin: org.event_origin(),
        user_id: &user.id,
        who: Enrollee {
            issuer: &org.org.display_name,
            account: user.username.as_str(),
        },
        settings: org.org.settings.factor_settings(factor.name()),
        now,
    }
}

/// The setup a sign-in shows for enrolling `factor` (the user's pending credential, or a new
/// one): the same on every reload until its first code is entered.
async fn setup(
    core: &Core,
    sf: &SecondFactor<'_>,
    factor: &'static dyn CodeFactor,
    now: i64,
) -> Result<Option<Box<SetupView>>, CoreError> {
    let (kek, org, user) = (
        core.keys.kek().clone(),
        sf.sign_in.org.clone(),
        sf.user.clone(),
    );
    let started = core
        .db
        .run(move |conn| {
            match enrollment(&kek, &org, &user, factor, now).pending_or_new(conn) {
                Ok(started) => Ok(Some(started)),
                // Names the plug-in cannot put in a setup: the step says the user has none.
                Err(EnrollError::Input(why)) => {
                    tracing::warn!(user = %user.id, %why, "no setup for these names");
                    Ok(None)
                }
                Err(e) => Err(e.into_store()),
            }
        })
        .await?;
    Ok(started.map(|s| {
        Box::new(SetupView {
            id: s.id,
            text: s.shown.text,
            qr_svg: s.shown.qr_svg,
        })
    }))
}

/// Shows the code step of the sign-in's current step (with the setup of the factor when the
/// user enrolls it here).
pub(super) async fn show(core: &Core, sign_in: &SignIn, ctx: &Ctx) -> Result<Outcome, CoreError> {
    let Some(method) = sign_in.next_step(core).await?.and_then(|step| {
        step.into_iter()
            .find(|a| matches!(a, Authenticator::Code(_)))
    }) else {
        return Ok(Outcome::Refused(Refusal::Expired));
    };
    let sf = match at_step(core, sign_in, method, ctx).await? {
        Ok(sf) => sf,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let Some((factor, enrolled)) = shown_factor(core, &sf.step, &sf.user.id).await? else {
        return Ok(Outcome::Refused(Refusal::Expired));
    };
    let shown = if !enrolled && enrolls_here(core, &sf, factor.name()).await? {
        setup(core, &sf, factor, ctx.now).await?
    } else {
        None
    };
    Ok(view(&sf, factor, enrolled, shown, None))
}

/// What a code was checked against.
enum Against {
    /// The user's confirmed credentials of the factor.
    Held(Vec<Credential>),
    /// The pending credential of an enrollment in this sign-in.
    Pending(String),
}

/// Checks a code of `factor` against each of the user's credentials of it or, when the user
/// enrolls it in this sign-in, against the pending one (`pending`): then the first right code
/// saves the credential and passes the step in one transaction.
pub(super) async fn check(
    core: &Core,
    sign_in: &SignIn,
    factor: &str,
    typed: &str,
    pending: Option<String>,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let Some(factor) = crate::authn::factor::code_factor(factor) else {
        return Ok(Outcome::Refused(Refusal::Expired));
    };
    let method = Authenticator::Code(factor.name());
    let sf = match at_step(core, sign_in, method.clone(), ctx).await? {
        Ok(sf) => sf,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let enrolling = match pending {
        Some(id) if enrolls_here(core, &sf, factor.name()).await? => Some(id),
        _ => None,
    };
    let next = sf.next(core, method, ctx).await?;
    let attempt = sf.attempt(factor.name(), ctx);
    let (kek, now) = (core.keys.kek().clone(), ctx.now);
    let (org, user, typed) = (sf.sign_in.org.clone(), sf.user.clone(), typed.to_string());
    let result = core
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let held = Credential::confirmed(conn, &user.id, factor.name())?;
                let against = match (held.is_empty(), enrolling) {
                    (false, _) => Against::Held(held),
                    (true, Some(id)) => Against::Pending(id),
                    (true, None) => return Ok(None),
                };
                let counted = match attempt.count(conn)? {
                    Ok(counted) => counted,
                    Err(stopped) => return Ok(Some(Attempted::Locked(stopped))),
                };
                let mut replayed = false;
                match against {
                    Against::Pending(id) => {
                        let e = enrollment(&kek, &org, &user, factor, now);
                        match e.confirm_in(conn, &id, &typed)? {
                            Ok(_) => {
                                attempt.forgive(conn)?;
                                return Ok(Some(Attempted::Passed(Some(next.write(conn)?))));
                            }
                            Err(EnrollError::Wrong) => {}
                            // Lapsed or replaced: a new setup, and this try is not counted.
                            Err(EnrollError::Expired) => {
                                attempt.forgive(conn)?;
                                return Ok(None);
                            }
                            Err(e) => return Err(e.into_store()),
                        }
                    }
                    Against::Held(held) => {
                        for c in held {
                            // A credential that does not open (or that the plug-in cannot read)
                            // is skipped, so it cannot lock the user out of their other ones.
                            let data = match credentials::open(&kek, &c) {
                                Ok(data) => data,
                                Err(error) => {
                                    tracing::error!(credential = %c.id, %error, "a credential does not open: skipped");
                                    continue;
                                }
                            };
                            match factor.check(&data, &typed, now) {
                                Check::Passed(data) => {
                                    let sealed = credentials::seal(&kek, &c, &data)
                                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                                    // Another request with this code passed with this credential
                                    // meanwhile (a double click): refused and, as for SMS codes,
                                    // not counted as a failure.
                                    if !Credential::save_if_unchanged(
                                        conn,
                                        &c.id,
                                        c.version,
                                        &sealed,
                                        c.confirmed_at,
                                        Some(now),
                                    )? {
                                        attempt.forgive(conn)?;
                                        return Ok(Some(Attempted::Refused(CodeRefusal::Dead(
                                            Some(Dead::Used),
                                        ))));
                                    }
                                    attempt.forgive(conn)?;
                                    return Ok(Some(Attempted::Passed(Some(next.write(conn)?))));
                                }
                                Check::Replayed => replayed = true,
                                Check::Wrong => {}
                                Check::Unreadable(error) => {
                                    tracing::error!(credential = %c.id, %error, "a credential is unreadable: skipped");
                                }
                            }
                        }
                    }
                }
                // A code a credential already accepted is no guess (like a used SMS code): refused,
                // not counted — so a double click or a second tab is never a failure.
                if replayed {
                    attempt.forgive(conn)?;
                    return Ok(Some(Attempted::Refused(CodeRefusal::Dead(Some(Dead::Used)))));
                }
                let locked = attempt.failed(conn, counted)?;
                Ok(Some(Attempted::Wrong {
                    locked,
                    attempts_left: (),
                }))
            })
        })
        .await?;
    match result {
        None => again(core, &sf, factor, ctx.now, None).await,
        Some(Attempted::Locked(stopped)) => Ok(stopped_by(core, sf.org(), stopped, factor.name())),
        Some(Attempted::Passed(Some(reached))) => {
            tracing::info!(user = %sf.user.id, factor = factor.name(), "second-factor code verified");
            Ok(reached.outcome())
        }
        Some(Attempted::Wrong {
            locked: Some(until),
            ..
        }) => Ok(locked_after(core, &sf, until, factor.name())),
        Some(Attempted::Wrong { locked: None, .. }) => {
            let error = StepError::FactorCodeWrong;
            let enrolled = shown_factor(core, &sf.step, &sf.user.id)
                .await?
                .is_some_and(|(_, enrolled)| enrolled);
            if enrolled {
                Ok(view(&sf, factor, true, None, Some(error)))
            } else {
                again(core, &sf, factor, ctx.now, Some(error)).await
            }
        }
        Some(Attempted::Refused(_)) => {
            Ok(view(&sf, factor, true, None, Some(StepError::CodeReplayed)))
        }
        Some(Attempted::Passed(None)) => Err(CoreError::Internal(
            "a code attempt without an outcome".into(),
        )),
    }
}

/// The step again for a user without a credential of `factor`: with its setup when they enroll
/// it here, else saying they have none.
async fn again(
    core: &Core,
    sf: &SecondFactor<'_>,
    factor: &'static dyn CodeFactor,
    now: i64,
    error: Option<StepError>,
) -> Result<Outcome, CoreError> {
    let shown = if enrolls_here(core, sf, factor.name()).await? {
        setup(core, sf, factor, now).await?
    } else {
        None
    };
    match shown {
        Some(shown) => Ok(view(sf, factor, false, Some(shown), error)),
        None => Ok(view(sf, factor, false, None, Some(StepError::NotEnrolled))),
    }
}
