//! Changing one's password in the account area, after the fresh pass through the whole chain
//! every change there needs, which must have included the password itself (so it is not asked
//! again: it was just given). A pass with another first step (a magic link, an upstream
//! provider) does not let anyone replace the password: the mailbox or the upstream account
//! alone must not give the password's access to applications that ask for it.
//!
//! The new password is checked by the organization's policy (`password::policy`), hashed with
//! argon2id, and saved in one transaction that also ends every other session of the user and
//! revokes everything issued outside this browser (offline access too), records the change and
//! publishes `PasswordUpdatedEvent`. Then the user is told by email, at their verified address
//! (best effort: a mail that cannot be sent is logged, the change stands).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{account_url, for_change, render};
use crate::authn::engine::FRESH_SECONDS;
use crate::authn::flow::{Authenticator, PassedList};
use crate::events::{AccountChangeKind, account_changed};
use crate::http::browser::see_other;
use crate::http::error::ApiError;
use crate::http::{AppState, OrgEntry};
use crate::mail::Mail;
use crate::secret::Secret;
use crate::store::sessions::Session;
use crate::store::users::User;
use crate::store::{now, write_transaction};

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    csrf: Option<String>,
    password: Option<Secret<String>>,
    confirm: Option<Secret<String>>,
}

/// `POST {issuer}/account/password`.
pub async fn password_change(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let form = form.into_inner();
    let account = match for_change(&state, &org, &req, form.csrf.as_deref()).await? {
        Ok(a) => a,
        Err(res) => return Ok(res),
    };
    if account.user.password_hash.is_none() {
        let msg = crate::i18n::text("forms-password-none", &[]);
        return render(&state, &org, &account, None, Some(&msg)).await;
    }
    if !password_just_given(&account.session, now()) {
        let msg = crate::i18n::text("forms-password-confirm-first", &[]);
        return render(&state, &org, &account, None, Some(&msg)).await;
    }
    let (Some(password), Some(confirm)) = (form.password, form.confirm) else {
        let msg = crate::i18n::text("forms-password-twice", &[]);
        return render(&state, &org, &account, None, Some(&msg)).await;
    };
    if password != confirm {
        let msg = crate::i18n::text("forms-password-differ", &[]);
        return render(&state, &org, &account, None, Some(&msg)).await;
    }
    let user = &account.user;
    if let Err(msg) = check_policy(&org, user, password.expose()) {
        return render(&state, &org, &account, None, Some(&msg)).await;
    }
    let Some(hash) = state.hasher.hash(password).await else {
        return Err(ApiError::Internal);
    };
    let (user_id, keep, entry) = (user.id.clone(), account.session.sid.clone(), org.clone());
    let changed = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                // Checked again now, after the hash: an administrator (or another browser) may
                // have ended this session meanwhile.
                if !Session::is_live(conn, &user_id, &keep)? {
                    return Ok(false);
                }
                User::set_password_hash(conn, &user_id, &hash)?;
                Session::end_all_but(conn, &user_id, &keep)?;
                account_changed(
                    conn,
                    entry.event_origin(),
                    &user_id,
                    AccountChangeKind::PasswordChanged,
                    "",
                )?;
                Ok(true)
            })
        })
        .await?;
    if !changed {
        return Ok(see_other(&account_url(&org)));
    }
    tracing::info!(user = %user.id, "password changed in the account area; other sessions ended");
    let org_name = || ("org", org.org.display_name.as_str().into());
    let text = [
        crate::i18n::text("mail-notice-password-changed", &[org_name()]),
        crate::i18n::text("mail-notice-password-changed-not-you", &[]),
    ]
    .join("\n\n");
    let subject = crate::i18n::text("mail-subject-password-changed", &[org_name()]);
    notify(&state, &org, user, subject, text, "password_changed");
    Ok(see_other(&format!(
        "{}?changed=password_changed",
        account_url(&org)
    )))
}

/// Whether the session's latest pass included the password, within the account area's
/// freshness window.
fn password_just_given(session: &Session, now: i64) -> bool {
    PassedList::from_json(&session.passed)
        .0
        .iter()
        .any(|p| matches!(p.method, Authenticator::Password) && p.at + FRESH_SECONDS > now)
}

/// Checks a new password of `user` by the organization's policy; the message says what is wrong.
pub(in crate::http) fn check_policy(
    org: &OrgEntry,
    user: &User,
    password: &str,
) -> Result<(), String> {
    let email = user.email.as_ref().map(|e| e.as_str());
    check_new_password(org, user.username.as_str(), email, password)
}

/// Checks a password chosen for the account `username` with the address `email` (an account
/// not created yet: a registration) by the organization's policy.
pub(in crate::http) fn check_new_password(
    org: &OrgEntry,
    username: &str,
    email: Option<&str>,
    password: &str,
) -> Result<(), String> {
    let local = email.and_then(|e| e.split('@').next()).unwrap_or_default();
    let words = [
        username,
        email.unwrap_or_default(),
        local,
        org.org.slug.as_str(),
    ];
    org.org.settings.password_policy.check(password, &words)
}

/// Tells the user, at their verified address, that their password changed (`purpose`: the
/// mail metric's), so a change they did not make does not go unseen. Sent apart from the
/// request: a client that goes away does not stop the notice.
pub(in crate::http) fn notify(
    state: &web::Data<AppState>,
    org: &std::sync::Arc<OrgEntry>,
    user: &User,
    subject: String,
    text: String,
    purpose: &'static str,
) {
    let Some(to) = user.email.as_ref().filter(|_| user.email_verified) else {
        return;
    };
    let (state, org, to) = (state.clone(), org.clone(), to.as_str().to_string());
    let locale = crate::i18n::current();
    actix_web::rt::spawn(async move {
        let notice = send_notice(&state, &org, &to, &subject, text, purpose);
        crate::i18n::with_locale(locale, notice).await
    });
}

/// Sends `text` (a notice, no secret in it) to `to`, with its HTML part (in the current
/// language); logged when it fails.
pub(in crate::http) async fn send_notice(
    state: &AppState,
    org: &OrgEntry,
    to: &str,
    subject: &str,
    text: String,
    purpose: &'static str,
) {
    let html = match state
        .mail_templates
        .plain_html(crate::i18n::current(), subject, &text)
    {
        Ok(html) => html,
        Err(e) => {
            tracing::warn!(error = %e, purpose, "notice: template failed");
            return;
        }
    };
    let mail = Mail {
        to,
        subject,
        text,
        html,
    };
    let sent = org.org.settings.mail.send(mail).await;
    state
        .metrics
        .mail_send(&org.org.slug, purpose, sent.is_ok());
    if let Err(e) = sent {
        tracing::warn!(error = %e, purpose, "notice could not be sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::flow::Passed;

    fn session(passed: Vec<(Authenticator, i64)>) -> Session {
        let list = PassedList(
            passed
                .into_iter()
                .map(|(method, at)| Passed { method, at })
                .collect(),
        );
        Session {
            id_hash: String::new(),
            sid: "s".into(),
            organization_id: 1,
            user_id: "u".into(),
            auth_time: 0,
            amr: "[]".into(),
            acr: String::new(),
            created_at: 0,
            expires_at: i64::MAX,
            ended_at: None,
            passed: list.to_json(),
            user_agent: None,
            ip: None,
            last_seen_at: None,
        }
    }

    #[test]
    fn only_a_fresh_password_lets_the_password_change() {
        let now = 10_000;
        assert!(password_just_given(
            &session(vec![
                (Authenticator::Password, now - 60),
                (Authenticator::SmsOtp, now)
            ]),
            now
        ));
        // A mailbox or an upstream account alone does not replace the password.
        assert!(!password_just_given(
            &session(vec![
                (Authenticator::MagicLink, now),
                (Authenticator::SmsOtp, now)
            ]),
            now
        ));
        assert!(!password_just_given(
            &session(vec![(Authenticator::Federated("corp".into()), now)]),
            now
        ));
        // Nor a password given before the window.
        assert!(!password_just_given(
            &session(vec![(Authenticator::Password, now - FRESH_SECONDS)]),
            now
        ));
    }
}
