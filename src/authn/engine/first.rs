//! The first step: the password (throttled per client IP and per account, one argon2
//! verification whoever asks), and a first step proven elsewhere (a magic link, an upstream
//! provider).

use super::*;

/// The first step, if the sign-in's next step identifies the user (and offers `method`, when
/// given). Once a sign-in is past it (or a step-up starts past it), its first step is closed:
/// who the user is cannot change halfway through.
pub async fn first_step(
    core: &Core,
    sign_in: &SignIn,
    method: Option<&Authenticator>,
) -> Result<Option<Vec<Authenticator>>, CoreError> {
    let flow = sign_in.purpose.flow(core, &sign_in.org, None).await?;
    Ok(flow
        .next_step(&sign_in.passed())
        .filter(|step| StepKind::First.fits(step) && method.is_none_or(|m| step.contains(m)))
        .map(<[Authenticator]>::to_vec))
}

pub(super) async fn first_step_open(
    core: &Core,
    sign_in: &SignIn,
    method: &Authenticator,
) -> Result<bool, CoreError> {
    Ok(first_step(core, sign_in, Some(method)).await?.is_some())
}

/// The first step to show, with what was typed and an error.
pub(super) async fn show_first(
    core: &Core,
    sign_in: &SignIn,
    username: &str,
    error: Option<StepError>,
) -> Result<Outcome, CoreError> {
    let Some(step) = first_step(core, sign_in, None).await? else {
        return Ok(Outcome::Refused(Refusal::Expired));
    };
    Ok(Outcome::Step(
        first_view(core, sign_in, step, username, error).await?,
    ))
}

/// The view of a first step (with a new ceremony when it offers a passkey).
pub async fn first_view(
    core: &Core,
    sign_in: &SignIn,
    step: Vec<Authenticator>,
    username: &str,
    error: Option<StepError>,
) -> Result<Step, CoreError> {
    let key = super::key::first_ceremony(core, sign_in, &step).await?;
    let org = &sign_in.org;
    let username = if username.is_empty() {
        sign_in.purpose.login_hint().unwrap_or_default().to_string()
    } else {
        username.to_string()
    };
    let providers = step
        .iter()
        .filter_map(|a| match a {
            Authenticator::Federated(name) => {
                org.org
                    .settings
                    .identity_provider(name)
                    .map(|p| ProviderView {
                        name: name.clone(),
                        label: p.label().to_string(),
                    })
            }
            _ => None,
        })
        .collect();
    Ok(Step {
        kind: StepKind::First,
        authenticators: step,
        app_name: sign_in.purpose.name(org),
        first: Some(FirstView {
            username,
            providers,
        }),
        sms_otp: None,
        code: None,
        sent: None,
        sent_offers: Vec::new(),
        key,
        key_offer: None,
        error,
        notice: None,
    })
}

/// The password step. Throttling: the client IP first (before any hashing), the account after
/// the password.
pub(super) async fn password_step(
    core: &Core,
    sign_in: &SignIn,
    typed: String,
    password: Secret<String>,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    if !first_step_open(core, sign_in, &Authenticator::Password).await? {
        return Ok(Outcome::Refused(Refusal::Expired));
    }
    if !ctx.form.admits(&sign_in.tx) {
        return Ok(Outcome::Refused(Refusal::FormExpired));
    }
    let org = &sign_in.org;
    let (org_id, now) = (org.org.id, ctx.now);
    let lock_policy = org.org.settings.lock_policy.clone();
    let ip_key = policy::ip_key(org_id, &ctx.client_ip);
    let parsed = Username::parse(&typed);
    let name = parsed
        .as_ref()
        .map_or(typed.trim(), |u| u.as_str())
        .to_string();
    let account_key = policy::account_key(org_id, &name);
    let device = ctx
        .device
        .as_deref()
        .filter(|_| lock_policy.smart)
        .and_then(|c| policy::known_device(core.keys.kek(), org_id, &name, c));
    let keys = policy::PasswordKeys::new(
        &lock_policy,
        org_id,
        &name,
        &ctx.client_ip,
        device.as_deref(),
    );
    // Before the hash, in one transaction: the client's network lock; every attempt counted
    // before its hash runs, so a burst of parallel guesses cannot slip past the limits (a right
    // password takes its count back; an attempt on a lock that holds is not counted, see
    // `throttle::count_attempt`); the network lock of a client past its limit; the user.
    let (k, i_key, p) = (keys.clone(), ip_key.clone(), lock_policy.clone());
    let wanted = parsed.ok();
    let before = core
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if let Some(until) = policy::locked_until(conn, &i_key, now)? {
                    return Ok(Before::Throttled { until, new: false });
                }
                let account = policy::count(conn, &k.lock, p.window_seconds, now)?;
                let ip = policy::count(conn, &i_key, p.window_seconds, now)?;
                let ceiling = k
                    .ceiling
                    .as_deref()
                    .map(|c| policy::count(conn, c, policy::DAY, now))
                    .transpose()?;
                if ip.attempts > p.ip_max_failures {
                    let until = policy::lock_ip(conn, &i_key, &p, now)?;
                    return Ok(Before::Throttled { until, new: true });
                }
                let user = match &wanted {
                    Some(username) => User::find_by_username(conn, org_id, username)?,
                    None => None,
                };
                Ok(Before::Counted(Box::new(Counts {
                    account,
                    ip,
                    ceiling,
                    user,
                })))
            })
        })
        .await?;
    let Counts {
        account,
        ip,
        ceiling,
        user,
    } = match before {
        Before::Throttled { until, new } => {
            if new {
                core.metrics.network_locked(&org.org.slug);
            }
            return Ok(Outcome::Refused(Refusal::NetworkThrottled { until }));
        }
        Before::Counted(counts) => *counts,
    };

    // Same work for an unknown user as for a wrong password: one argon2 verification (an
    // imported hash not yet replaced costs what its own scheme costs; see the README).
    let phc = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| core.dummy_hash.clone());
    // A hash imported from another system is replaced by argon2id once the password is known.
    let imported = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .filter(|h| crate::password::needs_rehash(h));
    let again = imported.as_ref().map(|_| password.clone());
    let verified = core.hasher.verify(phc, password).await
        && user.as_ref().is_some_and(|u| u.password_hash.is_some());
    let rehash = match (verified, imported, again) {
        (true, Some(old), Some(password)) => core.hasher.hash(password).await.map(|new| (old, new)),
        _ => None,
    };
    // What a right password leads to, prepared before the transaction that writes it. A
    // disabled account stops here; a sign-in that began for a known user (an account check, a
    // step-up) stays that user's (see `first_step_passed`).
    let refusal = user.as_ref().and_then(|u| {
        if u.disabled {
            Some(Refusal::Disabled)
        } else if sign_in.tx.user_id.as_deref().is_some_and(|id| id != u.id) {
            Some(Refusal::AnotherAccount)
        } else {
            None
        }
    });
    let next = match &user {
        Some(u) if verified && refusal.is_none() => {
            let mut passed = sign_in.passed();
            passed.add(Authenticator::Password, now);
            Some(Next::decide(core, sign_in, u, passed, ctx).await?)
        }
        _ => None,
    };

    // After the hash, in one transaction: the locks, then either the counts taken back and the
    // progress (or the session) written, or the failure recorded.
    let (k, p, entry) = (keys.clone(), lock_policy.clone(), org.clone());
    let client = sign_in.purpose.client().to_string();
    let u = user.clone();
    let after = core
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                // A locked account answers the same whether or not the password was right, so
                // guessing during a lock learns nothing; it is answered after the hash ran, and
                // unknown usernames lock the same way, so it says nothing about who exists either.
                if let Some(stopped) = policy::lock_if_past(conn, &k.lock, &p, account, now)? {
                    // Refused without a word on the password: not a guess toward the ceiling.
                    if let Some(c) = &k.ceiling {
                        policy::forgive(conn, c)?;
                    }
                    return Ok(After::Stopped(stopped));
                }
                if let (Some(key), Some(counted)) = (&k.ceiling, ceiling)
                    && let Some(stopped) = policy::ceiling_if_past(conn, key, &p, counted, now)?
                {
                    return Ok(After::Stopped(stopped));
                }
                if let Some(u) = &u {
                    // A lock still holding was answered above; one that ran out ends now. With
                    // smart lockout this is the account's own lock (second factors failing).
                    if let Some(until) = account_lock_in(conn, &entry, u, &account_key, now)? {
                        if let Some(c) = &k.ceiling {
                            policy::forgive(conn, c)?;
                        }
                        return Ok(After::Stopped(policy::Stopped { until, new: false }));
                    }
                    // The daily ceiling's lock, reported as the account's: its end publishes
                    // `unlockUser`.
                    if let Some(ceiling) = &k.ceiling {
                        account_lock_in(conn, &entry, u, ceiling, now)?;
                    }
                }
                // The password may have changed while its hash ran (a reset, a change in the
                // account area, an administrator), or the account been disabled since: the one
                // just verified no longer signs in, and the attempt is a failure like any other.
                // (An account disabled before is answered as such, by `refusal` above.)
                let verified = verified
                    && match &u {
                        Some(u) => still_current(conn, org_id, u)?,
                        None => false,
                    };
                if verified {
                    if let (Some(u), Some((old, new))) = (&u, &rehash) {
                        // Unless a password was set meanwhile.
                        User::replace_imported_hash(conn, &u.id, old, new)?;
                    }
                    // The password's attempt is taken back but the account's count is not
                    // reset: a second factor failing after a right password must keep counting
                    // toward the lock. A whole chain passed resets it (see `Finishing`).
                    policy::forgive(conn, &k.lock)?;
                    if let Some(key) = &k.ceiling {
                        policy::forgive(conn, key)?;
                    }
                    policy::forgive(conn, &ip_key)?;
                    return Ok(After::Passed(next.map(|n| n.write(conn)).transpose()?));
                }
                // This client's lock; with smart lockout also the account's ceiling, which is
                // what `lockUser` reports then (a client's own lock is not the account's).
                let locking = policy::locks_now(&p, account);
                let ceiling_reached =
                    ceiling.is_some_and(|c| c.attempts >= p.account_daily_ceiling);
                let until = if p.smart {
                    ceiling_reached.then_some(now + policy::DAY)
                } else {
                    locking.then(|| now + p.lock_duration(account.locks))
                };
                let ip_locking = ip.attempts >= p.ip_max_failures;
                // An automatic lock only stops new sign-ins: if it also revoked what the account
                // holds, anyone could sign a user out everywhere with a few wrong guesses.
                if locking {
                    policy::lock_account(conn, &k.lock, &p, account, now)?;
                }
                if let Some(key) = k.ceiling.as_deref().filter(|_| ceiling_reached) {
                    policy::lock_ceiling(conn, key, now)?;
                }
                if ip_locking {
                    policy::lock_ip(conn, &ip_key, &p, now)?;
                }
                // Events only for an account that exists (an unknown name is nobody's failure).
                if let Some(u) = &u {
                    for e in failure_events(&entry, u, &client, "password", until) {
                        e.store(conn)?;
                    }
                }
                Ok(After::Wrong {
                    locking,
                    ip_locking,
                })
            })
        })
        .await?;
    match after {
        After::Stopped(stopped) => {
            if stopped.new {
                core.metrics.account_locked(&org.org.slug, "password");
            }
            Ok(Outcome::Refused(Refusal::Locked {
                until: stopped.until,
            }))
        }
        After::Wrong {
            locking,
            ip_locking,
        } => {
            if locking {
                core.metrics.account_locked(&org.org.slug, "password");
            }
            if ip_locking {
                core.metrics.network_locked(&org.org.slug);
            }
            show_first(core, sign_in, &typed, Some(StepError::WrongCredentials)).await
        }
        After::Passed(reached) => {
            if let Some(refusal) = refusal {
                return Ok(Outcome::Refused(refusal));
            }
            let (Some(reached), Some(u)) = (reached, &user) else {
                return Err(CoreError::Internal(
                    "a right password without a next".into(),
                ));
            };
            tracing::info!(user = %u.id, client_id = %sign_in.purpose.client(), method = %Authenticator::Password, "first step passed");
            Ok(reached.outcome())
        }
    }
}

/// The password step before its hash.
enum Before {
    /// The client's network lock holds (`new` when this attempt set it).
    Throttled {
        until: i64,
        new: bool,
    },
    Counted(Box<Counts>),
}

/// The attempt's counts and the user it names, if any.
struct Counts {
    account: Counted,
    ip: Counted,
    ceiling: Option<Counted>,
    user: Option<User>,
}

/// The password step after its hash.
enum After {
    /// A lock holds: refused whatever the password was.
    Stopped(policy::Stopped),
    /// Wrong (or an unknown user): recorded, with the locks this attempt set.
    Wrong { locking: bool, ip_locking: bool },
    /// Right: the counts taken back and, unless the account is refused, what it earned.
    Passed(Option<Reached>),
}

/// A first step passed for `user` (a password, a magic link, an upstream provider): on to the
/// next step. A disabled account stops here; a sign-in that began for a known user (an account
/// check, a step-up) stays that user's, since signing in as someone else there would carry their
/// session and codes over.
pub(super) async fn first_step_passed(
    core: &Core,
    sign_in: &SignIn,
    user: &User,
    method: Authenticator,
    at: i64,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    if user.disabled {
        return Ok(Outcome::Refused(Refusal::Disabled));
    }
    if sign_in.tx.user_id.as_deref().is_some_and(|u| u != user.id) {
        return Ok(Outcome::Refused(Refusal::AnotherAccount));
    }
    tracing::info!(user = %user.id, client_id = %sign_in.purpose.client(), method = %method, "first step passed");
    let mut passed = sign_in.passed();
    passed.add(method, at);
    advance(core, sign_in, user, passed, ctx).await
}

/// Whether `u`'s password, as read before its hash ran, is still the account's and the account
/// still as enabled as it was. A concurrent sign-in that replaced the same imported hash by
/// argon2id (the same password) counts as unchanged. On PostgreSQL the user's row is locked
/// first, so a change that commits after this check waits for the sign-in's transaction, and
/// ends the session it writes.
pub(super) fn still_current(
    conn: &mut crate::store::DbConn,
    org_id: i64,
    u: &User,
) -> Result<bool, crate::store::StoreError> {
    User::lock_row(conn, &u.id)?;
    let Some(now) = User::find(conn, org_id, &u.id)? else {
        return Ok(false);
    };
    if now.disabled && !u.disabled {
        return Ok(false);
    }
    if now.password_hash == u.password_hash {
        return Ok(true);
    }
    Ok(match &u.password_hash {
        Some(old) if crate::password::needs_rehash(old) => {
            User::rehashed_from(conn, &u.id)? == Some(crate::secret::sha256_hex(old))
        }
        _ => false,
    })
}
