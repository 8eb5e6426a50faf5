//! The account area's rules in the engine: who has a second factor, how long a pass through
//! the chain allows changes, and saving a new number once its code was entered.

use super::*;

/// Whether the user has a second factor: a verified mobile number, unused backup codes or a
/// credential of a plug-in factor.
pub async fn has_second_factor(core: &Core, user: &User) -> Result<bool, CoreError> {
    Ok(!second_factors(core, user).await?.is_empty())
}

/// The second factors the user has, as the alternatives of the account check's second step:
/// SMS OTP with its backup codes when they have a verified number or unused codes, and each
/// plug-in factor they hold a credential of (an app, a passkey) — those first when they have no number, so the
/// step opens on a factor they can use.
pub async fn second_factors(core: &Core, user: &User) -> Result<Vec<Authenticator>, CoreError> {
    let phone = user.phone_number.is_some() && user.phone_number_verified;
    let id = user.id.clone();
    let (backup_left, held) = core
        .db
        .run(move |conn| {
            let held = crate::store::credentials::Credential::of_user(conn, &id)?;
            Ok((backup_codes::remaining(conn, &id)?, held))
        })
        .await?;
    let mut codes: Vec<Authenticator> = Vec::new();
    for c in held {
        let held = match (
            crate::authn::factor::code_factor(&c.factor),
            crate::authn::factor::key_factor(&c.factor),
        ) {
            (Some(f), _) => Authenticator::Code(f.name()),
            (None, Some(f)) => Authenticator::Key(f.name()),
            (None, None) => continue,
        };
        if !codes.contains(&held) {
            codes.push(held);
        }
    }
    let sms = if phone || backup_left > 0 {
        vec![Authenticator::SmsOtp, Authenticator::BackupCode]
    } else {
        Vec::new()
    };
    Ok(if phone {
        sms.into_iter().chain(codes).collect()
    } else {
        codes.into_iter().chain(sms).collect()
    })
}

/// Until when the session's last pass through the chain allows account changes, if it still
/// does at `now`: any first step and, when the user has one, the second factor, both within
/// [`FRESH_SECONDS`]. A code sent to the user's address (the email code, SMS OTP's fallback)
/// does not count as the second factor here: whoever holds the password and the mailbox must
/// not be able to replace the number or the app that protects the account.
pub fn fresh_until(session: &Session, second_factor: bool, now: i64) -> Option<i64> {
    let passed = PassedList::from_json(&session.passed);
    let latest = |keep: &dyn Fn(&Authenticator) -> bool| {
        passed
            .0
            .iter()
            .filter(|p| keep(&p.method))
            .map(|p| p.at)
            .max()
    };
    let first = latest(&Authenticator::identifies)?;
    let oldest = if second_factor {
        first.min(latest(&|a| {
            a.second_factor() && !matches!(a, Authenticator::Sent(_))
        })?)
    } else {
        first
    };
    Some(oldest + FRESH_SECONDS).filter(|until| *until > now)
}

/// The code sent to a new number was entered: the number becomes the user's, verified, and the
/// change is recorded and published with the sign-in's completion.
pub(super) async fn enroll_phone(
    core: &Core,
    sign_in: &SignIn,
    user: &User,
    number: &str,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    use crate::events::{AccountChangeKind, account_changed};
    // The change was asked for by a live session of this user whose pass through the chain is
    // still fresh: checked again now, since the code may have been entered minutes later.
    let sid = sign_in.tx.session_sid.clone().unwrap_or_default();
    let now = ctx.now;
    let session = core
        .db
        .run(move |conn| Session::find_by_sid(conn, &sid))
        .await?
        .filter(|s| s.user_id == user.id && s.ended_at.is_none() && s.expires_at > now);
    let second_factor = has_second_factor(core, user).await?;
    if session
        .as_ref()
        .and_then(|s| fresh_until(s, second_factor, now))
        .is_none()
    {
        return Ok(Outcome::Refused(Refusal::ConfirmAgain));
    }
    let number = PhoneNumber::parse(number).map_err(CoreError::Internal)?;
    let masked = number.masked();
    let mut updated = user.clone();
    updated.phone_number = Some(number);
    updated.phone_number_verified = true;
    let (tx_id, org) = (sign_in.tx.id.clone(), sign_in.org.clone());
    let done = core
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !LoginTransaction::complete(conn, &tx_id, now)? {
                    return Ok(false);
                }
                User::set_phone_number(conn, &updated.id, updated.phone_number.as_ref(), true)?;
                account_changed(
                    conn,
                    org.event_origin(),
                    &updated.id,
                    AccountChangeKind::MobileNumberChanged,
                    &masked,
                )?;
                Ok(true)
            })
        })
        .await?;
    if !done {
        return Ok(Outcome::Refused(Refusal::Expired));
    }
    tracing::info!(user = %user.id, "mobile number changed");
    Ok(Outcome::NumberSaved)
}
