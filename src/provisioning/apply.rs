//! Applying a validated plan: each entry created, updated or left alone, with its audit entry.

use super::*;

/// Declares a subscription: new ones, and changed secrets or leases, wait for the subscriber's
/// intent verification like requested ones; one that is already so is left alone.
pub(super) fn apply_webhook(
    conn: &mut DbConn,
    org: &Organization,
    plan: &WebhookPlan,
    report: &mut Report,
    kek: &Kek,
    recorder: &Recorder,
) -> Result<(), StoreError> {
    let entry = format!("webhook {}/{} -> {}", org.slug, plan.topic, plan.callback);
    // The callback as the audit log shows it (its query redacted: it may hold a token).
    let shown = |secret: &str, state: &str| {
        json!({
            "topic": plan.topic,
            "callback": plan.callback,
            "lease_seconds": plan.lease_seconds,
            "secret": secret,
            "state": state,
        })
    };
    let seal =
        |id: &str| hub::seal_secret(kek, id, plan.secret.expose()).map_err(StoreError::Corrupt);
    match Subscription::find(conn, org.id, plan.topic, &plan.callback)? {
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            let t = now();
            Subscription::insert(
                conn,
                &Subscription {
                    secret: seal(&id)?,
                    id: id.clone(),
                    organization_id: org.id,
                    topic: plan.topic.into(),
                    callback: plan.callback.clone(),
                    pending_secret: None,
                    previous_secret: None,
                    previous_secret_until: None,
                    state: subscriptions::PENDING.into(),
                    pending_mode: Some("subscribe".into()),
                    lease_seconds: plan.lease_seconds,
                    expires_at: None,
                    verify_after: t,
                    verify_attempts: 0,
                    created_at: t,
                    updated_at: t,
                },
            )?;
            recorder.record(
                conn,
                org,
                Change {
                    action: "webhook.create",
                    entity: "webhook",
                    entity_id: &id,
                    before: None,
                    after: Some(shown("set", subscriptions::PENDING)),
                },
            )?;
            report.created.push(entry);
        }
        Some(existing) => {
            let same_secret = kek
                .open(&existing.secret, existing.id.as_bytes())
                .is_ok_and(|s| s == plan.secret.expose().as_bytes());
            // A lease running out within 30 days is renewed by the import (declared
            // subscriptions have no subscriber to renew them).
            let lease_ok = existing.expires_at.is_some_and(|e| e > now() + 30 * 86_400);
            let settled = existing.state == subscriptions::ACTIVE
                && same_secret
                && lease_ok
                && existing.lease_seconds == plan.lease_seconds;
            if settled {
                report.unchanged += 1;
            } else {
                let sealed = seal(&existing.id)?;
                Subscription::request(
                    conn,
                    &existing.id,
                    "subscribe",
                    Some(&sealed),
                    plan.lease_seconds,
                )?;
                let mut before = shown(
                    if same_secret { "set" } else { "previous" },
                    &existing.state,
                );
                before["lease_seconds"] = json!(existing.lease_seconds);
                recorder.record(
                    conn,
                    org,
                    Change {
                        action: "webhook.update",
                        entity: "webhook",
                        entity_id: &existing.id,
                        before: Some(before),
                        after: Some(shown("set", subscriptions::PENDING)),
                    },
                )?;
                report.updated.push(entry);
            }
        }
    }
    Ok(())
}

pub(super) fn apply_org(
    conn: &mut DbConn,
    plan: &OrgPlan,
    report: &mut Report,
    kek: &Kek,
    recorder: &Recorder,
) -> Result<(), StoreError> {
    let entry = format!("organization {}", plan.slug);
    let shown = crate::admin::organizations::audited;
    let after = shown(&plan.display_name, &plan.settings);
    let org = match Organization::find_by_slug(conn, plan.slug.as_str())? {
        None => {
            report.created.push(entry);
            let org = Organization::create(conn, &plan.slug, &plan.display_name, &plan.settings)?;
            recorder.record(
                conn,
                &org,
                Change {
                    action: "organization.create",
                    entity: "organization",
                    entity_id: &org.slug,
                    before: None,
                    after: Some(after),
                },
            )?;
            org
        }
        Some(old) if old.display_name != plan.display_name || old.settings != plan.settings => {
            Organization::update(conn, old.id, &plan.display_name, &plan.settings)?;
            report.updated.push(entry);
            let org = Organization {
                display_name: plan.display_name.clone(),
                settings: plan.settings.clone(),
                ..old.clone()
            };
            recorder.record(
                conn,
                &org,
                Change {
                    action: "organization.update",
                    entity: "organization",
                    entity_id: &org.slug,
                    before: Some(shown(&old.display_name, &old.settings)),
                    after: Some(after),
                },
            )?;
            org
        }
        Some(org) => {
            report.unchanged += 1;
            org
        }
    };
    for app in &plan.apps {
        apply_app(conn, &org, app, report, recorder)?;
    }
    for user in &plan.users {
        apply_user(conn, &org, user, report, recorder)?;
    }
    for hook in &plan.webhooks {
        apply_webhook(conn, &org, hook, report, kek, recorder)?;
    }
    Ok(())
}

pub(super) fn apply_app(
    conn: &mut DbConn,
    org: &Organization,
    plan: &AppPlan,
    report: &mut Report,
    recorder: &Recorder,
) -> Result<(), StoreError> {
    let entry = format!("application {}/{}", org.slug, plan.client_id);
    let existing = Application::find(conn, org.id, plan.client_id.as_str())?;
    let secret_hash = match (plan.client_type, &plan.secret, &existing) {
        (ClientType::Public, _, _) => None,
        // Keys instead of a secret: private_key_jwt.
        (ClientType::Confidential, None, _) if plan.jwks.is_some() || plan.jwks_uri.is_some() => {
            None
        }
        (ClientType::Confidential, Some(secret), _) => Some(sha256_hex(secret.expose())),
        (ClientType::Confidential, None, Some(old)) if old.secret_hash.is_some() => {
            old.secret_hash.clone()
        }
        (ClientType::Confidential, None, _) => {
            let secret = random_token(32);
            let hash = sha256_hex(secret.expose());
            report.generated_secrets.push((entry.clone(), secret));
            Some(hash)
        }
    };
    let t = now();
    let mut app = Application {
        id: existing
            .as_ref()
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), |a| a.id.clone()),
        organization_id: org.id,
        client_id: plan.client_id.clone(),
        name: plan.name.clone(),
        client_type: plan.client_type,
        secret_hash,
        redirect_uris: plan.redirect_uris.clone(),
        post_logout_redirect_uris: plan.post_logout_redirect_uris.clone(),
        grant_types: plan.grant_types.clone(),
        lifetimes: plan.lifetimes,
        sign_in_flow: plan.sign_in_flow.clone(),
        backup_codes: plan.backup_codes,
        websub_subscribe: plan.websub_subscribe,
        app_native: plan.app_native,
        jwks: plan.jwks.clone(),
        id_token_alg: plan.id_token_alg,
        access_token_alg: plan.access_token_alg,
        third_party: plan.third_party,
        jwks_uri: plan.jwks_uri.clone(),
        resources: plan.resources.clone(),
        created_at: t,
        updated_at: t,
    };
    let (action, before) = match existing {
        None => {
            Application::insert(conn, &app)?;
            report.created.push(entry);
            ("application.create", None)
        }
        Some(old) => {
            app.created_at = old.created_at;
            app.updated_at = old.updated_at;
            if app == old {
                report.unchanged += 1;
                return Ok(());
            }
            Application::update(conn, &app)?;
            report.updated.push(entry);
            (
                "application.update",
                Some(crate::admin::applications::audited(&old)),
            )
        }
    };
    recorder.record(
        conn,
        org,
        Change {
            action,
            entity: "application",
            entity_id: app.client_id.as_str(),
            before,
            after: Some(crate::admin::applications::audited(&app)),
        },
    )?;
    Ok(())
}

pub(super) fn apply_user(
    conn: &mut DbConn,
    org: &Organization,
    plan: &UserPlan,
    report: &mut Report,
    recorder: &Recorder,
) -> Result<(), StoreError> {
    let entry = format!("user {}/{}", org.slug, plan.username);
    let existing = User::find_by_username(conn, org.id, &plan.username)?;
    // A stranger may have registered the name first: the file must not hand them what it
    // gives its user (a password they would keep their factors beside, a role).
    if let Some(u) = &existing
        && crate::store::account_changes::AccountChange::self_registered(conn, &u.id)?
    {
        return Err(StoreError::Conflict(format!(
            "{entry}: this username belongs to an account its user registered themselves; the \
             file cannot take it over (give the file's user another username, or delete that \
             account first)"
        )));
    }
    let old_hash = existing.as_ref().and_then(|u| u.password_hash.clone());
    let password_hash = match &plan.password {
        PasswordPlan::Keep => old_hash,
        PasswordPlan::Hash(h) => {
            // An imported hash the user's sign-in already replaced by argon2id: the same
            // password, kept as it is now.
            let replaced = match &existing {
                Some(u) if u.password_hash.as_ref() != Some(h) => {
                    User::rehashed_from(conn, &u.id)? == Some(crate::secret::sha256_hex(h))
                }
                _ => false,
            };
            if replaced { old_hash } else { Some(h.clone()) }
        }
        // Re-hashing would change the salt on every import: keep a hash that already matches.
        PasswordPlan::Clear(p) => match old_hash {
            Some(h) if password::verify(&h, p) => Some(h),
            _ => Some(password::hash(p)),
        },
    };
    let t = now();
    let mut user = User {
        id: existing
            .as_ref()
            .map_or_else(User::new_id, |u| u.id.clone()),
        organization_id: org.id,
        username: plan.username.clone(),
        email: plan.email.clone(),
        email_verified: plan.email_verified,
        phone_number: plan.phone_number.clone(),
        phone_number_verified: plan.phone_number_verified,
        profile: plan.profile.clone(),
        password_hash,
        disabled: plan.disabled,
        created_at: t,
        updated_at: t,
    };
    let (action, before) = match existing {
        None => {
            User::insert(conn, &user)?;
            report.created.push(entry);
            ("user.create", None)
        }
        Some(old) => {
            user.created_at = old.created_at;
            user.updated_at = old.updated_at;
            if user == old {
                report.unchanged += 1;
                return Ok(());
            }
            let before = crate::admin::users::audited(conn, &old)?;
            User::update(conn, &user)?;
            if user.password_hash != old.password_hash {
                // A new password: a rehash made from an older imported hash is history.
                User::forget_rehash(conn, &user.id)?;
            }
            // A new password or a disabled account ends every session and token.
            if (user.disabled && !old.disabled) || user.password_hash != old.password_hash {
                crate::store::auth::sign_out_everywhere(conn, &user.id)?;
            }
            report.updated.push(entry);
            ("user.update", Some(before))
        }
    };
    let after = crate::admin::users::audited(conn, &user)?;
    recorder.record(
        conn,
        org,
        Change {
            action,
            entity: "user",
            entity_id: &user.id,
            before,
            after: Some(after),
        },
    )?;
    Ok(())
}
