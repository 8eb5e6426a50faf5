//! The `magic_link` first step: asking for a link, and opening it.
//!
//! The answer to a request is the same whether or not the username or address belongs to
//! anyone, and the lookup and the mail happen after it, in the background, so the timing says
//! nothing either. Only users with a verified email address get links. The per-IP limit answers
//! visibly (it says nothing about accounts); the per-address limit stops sending silently, for
//! the same reason.
//!
//! The link carries a 256-bit token (only its SHA-256 is stored) and names the sign-in it
//! finishes; opening it checks the sign-in's binding (the browser that asked) before the link is
//! spent, so a mail scanner or another browser is told so and does not use the link up.
//!
//! A password reset (`authn::reset`) sends and opens its links here too: its flow starts with
//! this step, so it shares the answer, the limits and the binding; only the mail differs, and
//! only users who have a password get one.

use std::sync::Arc;

use super::{Command, Ctx, SignIn, first_step, first_view, load_bound, run};
use crate::authn::flow::Authenticator;
use crate::authn::outcome::{Outcome, Refusal, StepError};
use crate::authn::policy;
use crate::domain::{Email, Username};
use crate::mail::Mail;
use crate::secret::{random_token, sha256_hex};
use crate::state::{Core, CoreError, OrgEntry};
use crate::store::auth::LoginTransaction;
use crate::store::magic_links::MagicLink;
use crate::store::users::User;

/// "Email me a sign-in link" for `identifier` (a username or an email address).
pub(super) async fn request(
    core: &Arc<Core>,
    sign_in: &SignIn,
    identifier: &str,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let Some(step) = first_step(core, sign_in, Some(&Authenticator::MagicLink)).await? else {
        return Ok(Outcome::Refused(Refusal::Expired));
    };
    if !ctx.form.admits(&sign_in.tx) {
        return Ok(Outcome::Refused(Refusal::FormExpired));
    }
    let identifier = identifier.trim().to_string();
    if identifier.is_empty() || identifier.len() > 254 {
        let error = Some(StepError::IdentifierMissing);
        return Ok(Outcome::Step(
            first_view(core, sign_in, step, "", error).await?,
        ));
    }
    let org = &sign_in.org;
    let settings = org.org.settings.magic_link.clone();
    let (key, window, now) = (
        policy::link_ip_key(org.org.id, &ctx.client_ip),
        settings.window_seconds,
        ctx.now,
    );
    let from_ip = core
        .db
        .run(move |conn| policy::count(conn, &key, window, now))
        .await?;
    if from_ip.attempts > settings.max_sends_per_ip {
        return Ok(Outcome::Refused(Refusal::LinksThrottled));
    }
    // Everything that depends on whether the account exists happens after the answer, in the
    // background: the answer (and its timing) is the same for everyone.
    let (core, org, tx) = (core.clone(), org.clone(), sign_in.tx.clone());
    let (wanted, app_name) = (identifier.clone(), sign_in.purpose.name(&org));
    let kind = if sign_in.purpose.resets_password() {
        LinkKind::Reset
    } else {
        LinkKind::SignIn { app_name }
    };
    // The mail speaks the page's language.
    let locale = crate::i18n::current();
    tokio::spawn(async move {
        let mail = find_and_send(&core, &org, &tx, &kind, wanted, now);
        if let Err(e) = crate::i18n::with_locale(locale, mail).await {
            tracing::warn!(error = %e, "magic link request failed");
        }
    });
    Ok(Outcome::LinkSent {
        identifier,
        minutes: (settings.lifetime_seconds + 59) / 60,
    })
}

/// What a link does, which its mail says.
enum LinkKind {
    /// Signs in to the application (or the account) named.
    SignIn { app_name: String },
    /// Lets the user choose a new password (`authn::reset`).
    Reset,
}

/// Finds who `wanted` names (a username, or a verified address held by exactly one user) and,
/// if they can get links, sends one. Only users who have a password get reset links.
async fn find_and_send(
    core: &Core,
    org: &OrgEntry,
    tx: &LoginTransaction,
    kind: &LinkKind,
    wanted: String,
    now: i64,
) -> Result<(), CoreError> {
    let org_id = org.org.id;
    let tx_user = tx.user_id.clone();
    let needs_password = matches!(kind, LinkKind::Reset);
    let user = core
        .db
        .run(move |conn| {
            let found = if wanted.contains('@') {
                match Email::parse(&wanted) {
                    Ok(email) => {
                        let mut users = User::find_by_verified_email(conn, org_id, &email)?;
                        // Two accounts with one address: the address says nothing about whom.
                        if users.len() == 1 { users.pop() } else { None }
                    }
                    Err(_) => None,
                }
            } else {
                match Username::parse(&wanted) {
                    Ok(name) => User::find_by_username(conn, org_id, &name)?,
                    Err(_) => None,
                }
            };
            Ok(found.filter(|u| {
                u.email.is_some()
                    && u.email_verified
                    && !u.disabled
                    && (u.password_hash.is_some() || !needs_password)
                    && tx_user.as_deref().is_none_or(|id| id == u.id)
            }))
        })
        .await?;
    match user {
        Some(user) => send(core, org, tx, kind, &user, now).await,
        None => Ok(()),
    }
}

/// Stores a new link for the sign-in (voiding its earlier ones) and mails it, unless the address
/// had its share of links in the window (then nothing is sent, silently).
async fn send(
    core: &Core,
    org: &OrgEntry,
    tx: &LoginTransaction,
    kind: &LinkKind,
    user: &User,
    now: i64,
) -> Result<(), CoreError> {
    let Some(email) = user.email.clone() else {
        return Ok(());
    };
    let settings = org.org.settings.magic_link.clone();
    let token = random_token(32);
    let link = MagicLink {
        token_hash: sha256_hex(token.expose()),
        organization_id: org.org.id,
        transaction_id: tx.id.clone(),
        user_id: user.id.clone(),
        created_at: now,
        expires_at: now + settings.lifetime_seconds,
        used_at: None,
    };
    let key = policy::link_address_key(org.org.id, email.as_str());
    let (max, window) = (settings.max_sends_per_address, settings.window_seconds);
    let allowed = core
        .db
        .run(move |conn| {
            crate::store::write_transaction(conn, |conn| {
                if policy::count(conn, &key, window, now)?.attempts > max {
                    return Ok(false);
                }
                MagicLink::insert(conn, &link)?;
                Ok(true)
            })
        })
        .await?;
    if !allowed {
        tracing::warn!(user = %user.id, "magic link not sent: too many for this address");
        return Ok(());
    }
    let minutes = (settings.lifetime_seconds + 59) / 60;
    let org_name = &org.org.display_name;
    let locale = crate::i18n::current();
    let (purpose, subject, parts) = match kind {
        LinkKind::SignIn { app_name } => (
            "magic_link",
            crate::i18n::text("mail-subject-magic-link", &[("app", app_name.into())]),
            core.mail_templates.sign_in_link(
                locale,
                app_name,
                org_name,
                &format!("{}/magic-link?token={}", org.issuer, token.expose()),
                minutes,
            ),
        ),
        LinkKind::Reset => (
            "password_reset_link",
            crate::i18n::text("mail-subject-password-reset", &[("org", org_name.into())]),
            core.mail_templates.reset_link(
                locale,
                org_name,
                &format!(
                    "{}/password-reset/link?token={}",
                    org.issuer,
                    token.expose()
                ),
                minutes,
            ),
        ),
    };
    let (text, html) =
        parts.map_err(|e| CoreError::Internal(format!("{purpose} email template: {e}")))?;
    let mail = Mail {
        to: email.as_str(),
        subject: &subject,
        text,
        html,
    };
    let sent = org.org.settings.mail.send(mail).await;
    core.metrics.mail_send(&org.org.slug, purpose, sent.is_ok());
    match sent {
        Ok(()) => tracing::info!(user = %user.id, purpose, "link sent"),
        Err(e) => tracing::warn!(user = %user.id, purpose, error = %e, "link could not be sent"),
    }
    Ok(())
}

/// Opens the link whose token is `token`, in the browser bound by `binding_hash` (the SHA-256
/// of its binding cookie, if it has one). Returns the sign-in it belongs to (to render what
/// follows) with the outcome of its first step, or why the link cannot be used.
pub async fn open(
    core: &Arc<Core>,
    org: &Arc<OrgEntry>,
    token: &str,
    binding_hash: Option<&str>,
    ctx: &Ctx,
) -> Result<Result<(SignIn, Outcome), Refusal>, CoreError> {
    let refused = |r| Ok(Err(r));
    if token.is_empty() {
        return refused(Refusal::LinkInvalid);
    }
    let (org_id, hash, now) = (org.org.id, sha256_hex(token), ctx.now);
    let h = hash.clone();
    let found = core
        .db
        .run(move |conn| {
            let Some(link) = MagicLink::find(conn, org_id, &h)? else {
                return Ok(None);
            };
            let open =
                LoginTransaction::find_open(conn, org_id, &link.transaction_id, now)?.is_some();
            Ok(Some((link, open)))
        })
        .await?;
    let Some((link, open)) = found else {
        return refused(Refusal::LinkInvalid);
    };
    if link.used_at.is_some() {
        return refused(Refusal::LinkUsed);
    }
    if link.expires_at <= ctx.now || !open {
        return refused(Refusal::LinkExpired);
    }
    // The browser that asked, or nothing: checked before the link is spent, so opening it
    // elsewhere (or a mail scanner fetching it) leaves it usable where it belongs.
    let binding = binding_hash.unwrap_or_default();
    if load_bound(core, org, &link.transaction_id, binding, now)
        .await?
        .is_none()
    {
        return refused(Refusal::LinkOtherBrowser);
    }
    let Some(sign_in) = SignIn::open(core, org, &link.transaction_id, binding, now).await? else {
        return refused(Refusal::Expired);
    };
    if first_step(core, &sign_in, Some(&Authenticator::MagicLink))
        .await?
        .is_none()
    {
        return refused(Refusal::Expired);
    }
    let user_id = link.user_id.clone();
    let user = core
        .db
        .run(move |conn| {
            if !MagicLink::spend(conn, &hash)? {
                return Ok(None);
            }
            User::find(conn, org_id, &user_id)
        })
        .await?;
    let Some(user) = user else {
        return refused(Refusal::LinkUsed);
    };
    let command = Command::FirstStepPassed {
        user: Box::new(user),
        method: Authenticator::MagicLink,
        at: ctx.now,
    };
    let outcome = run(core, &sign_in, command, ctx).await?;
    Ok(Ok((sign_in, outcome)))
}
