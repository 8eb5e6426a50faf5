//! The backup-code step: the fallback when no SMS code can arrive.

use super::attempt::{Attempted, locked_after, stopped_by};
use super::second::{at_step, step_view};
use super::*;

/// A backup code: one keyed hash and one conditional update per attempt, in one transaction
/// with the attempt's count and what it earned; each code works once, and failures count toward
/// the account's lock.
pub(super) async fn backup_code(
    core: &Core,
    sign_in: &SignIn,
    typed: &str,
    ctx: &Ctx,
) -> Result<Outcome, CoreError> {
    let sf = match at_step(core, sign_in, Authenticator::BackupCode, ctx).await? {
        Ok(sf) => sf,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let next = sf.next(core, Authenticator::BackupCode, ctx).await?;
    let attempt = sf.attempt("backup_code", ctx);
    let hash = backup::keyed_hash(core.keys.kek(), &sf.user.id, typed)
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    let user_id = sf.user.id.clone();
    let result = core
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let counted = match attempt.count(conn)? {
                    Ok(counted) => counted,
                    Err(stopped) => return Ok(Attempted::Locked(stopped)),
                };
                if backup_codes::spend(conn, &user_id, &hash)? {
                    attempt.forgive(conn)?;
                    return Ok(Attempted::Passed(Some(next.write(conn)?)));
                }
                let locked = attempt.failed(conn, counted)?;
                Ok(Attempted::Wrong {
                    locked,
                    attempts_left: (),
                })
            })
        })
        .await?;
    match result {
        Attempted::Locked(stopped) => Ok(stopped_by(core, sf.org(), stopped, "backup_code")),
        Attempted::Passed(Some(reached)) => {
            tracing::info!(user = %sf.user.id, "backup code used");
            Ok(reached.outcome())
        }
        Attempted::Wrong {
            locked: Some(until),
            ..
        } => Ok(locked_after(core, &sf, until, "backup_code")),
        Attempted::Wrong { locked: None, .. } => {
            let error = Some(StepError::BackupCodeWrong);
            step_view(core, &sf, StepKind::BackupCode, error, None, ctx).await
        }
        Attempted::Passed(None) | Attempted::Refused(_) => Err(CoreError::Internal(
            "a backup code attempt without an outcome".into(),
        )),
    }
}
