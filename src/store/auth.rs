//! Authorization state: login transactions, SSO sessions, grants, codes and tokens.
//!
//! Secrets are looked up by their SHA-256. Consuming a code or a refresh token is one conditional
//! `UPDATE … WHERE used_at IS NULL`, so two concurrent uses cannot both succeed.

use diesel::prelude::*;

use super::schema::{
    access_tokens, applications, authorization_codes, grants, login_transactions, refresh_tokens,
    revoked_access_tokens, sessions, users,
};
use super::users::User;
use super::{DbConn, StoreError, now};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_transactions)]
pub struct LoginTransaction {
    pub id: String,
    pub organization_id: i64,
    /// The client signing in; `None` for a check the account area asks for.
    pub application_id: Option<String>,
    /// The validated authorization request, as JSON.
    pub request: String,
    /// SHA-256 of the browser-binding cookie: only the browser that started may finish.
    pub browser_hash: String,
    /// SHA-256 of the current CSRF token of the sign-in form.
    pub csrf_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
    /// The user, once a first step identified them (or the session being stepped up did).
    pub user_id: Option<String>,
    /// Authenticators passed so far, as JSON (`authn::flow::PassedList`).
    pub passed: String,
    /// The session this sign-in steps up (its passed list seeded `passed`).
    pub session_sid: Option<String>,
}

impl LoginTransaction {
    /// Records progress: who the user is and what they passed. Only while the transaction is
    /// open, so a finished sign-in cannot be changed.
    pub fn record_progress(
        conn: &mut DbConn,
        id: &str,
        user_id: &str,
        passed: &str,
        session_sid: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            login_transactions::table
                .filter(login_transactions::id.eq(id))
                .filter(login_transactions::completed_at.is_null()),
        )
        .set((
            login_transactions::user_id.eq(Some(user_id)),
            login_transactions::passed.eq(passed),
            login_transactions::session_sid.eq(session_sid),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    pub fn insert(conn: &mut DbConn, tx: &Self) -> Result<(), StoreError> {
        diesel::insert_into(login_transactions::table)
            .values(tx)
            .execute(conn)?;
        Ok(())
    }

    /// An open (not completed, not expired at `now`) transaction of the organization.
    pub fn find_open(
        conn: &mut DbConn,
        organization_id: i64,
        id: &str,
        now: i64,
    ) -> Result<Option<Self>, StoreError> {
        Ok(login_transactions::table
            .filter(login_transactions::id.eq(id))
            .filter(login_transactions::organization_id.eq(organization_id))
            .filter(login_transactions::completed_at.is_null())
            .filter(login_transactions::expires_at.gt(now))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// [`Self::find_open`] with its application read in the same statement: `(tx, None)` for a
    /// transaction of no application (the account area's), nothing when its application is gone.
    pub fn find_open_with_app(
        conn: &mut DbConn,
        organization_id: i64,
        id: &str,
        now: i64,
    ) -> Result<Option<(Self, Option<super::applications::Application>)>, StoreError> {
        let found: Option<(Self, Option<super::applications::Row>)> = login_transactions::table
            .left_join(
                applications::table
                    .on(login_transactions::application_id.eq(applications::id.nullable())),
            )
            .filter(login_transactions::id.eq(id))
            .filter(login_transactions::organization_id.eq(organization_id))
            .filter(login_transactions::completed_at.is_null())
            .filter(login_transactions::expires_at.gt(now))
            .select((
                Self::as_select(),
                Option::<super::applications::Row>::as_select(),
            ))
            .first(conn)
            .optional()?;
        match found {
            None => Ok(None),
            Some((tx, None)) if tx.application_id.is_none() => Ok(Some((tx, None))),
            Some((_, None)) => Ok(None),
            Some((tx, Some(row))) => Ok(Some((tx, Some(row.into_app()?)))),
        }
    }

    /// Binds the transaction to a new secret in place of `old_hash`: false if another request
    /// rebound it first (a replayed flow id of the JSON sign-in API), so each binding is used once.
    pub fn rebind(
        conn: &mut DbConn,
        id: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            login_transactions::table
                .filter(login_transactions::id.eq(id))
                .filter(login_transactions::browser_hash.eq(old_hash))
                .filter(login_transactions::completed_at.is_null()),
        )
        .set(login_transactions::browser_hash.eq(new_hash))
        .execute(conn)?;
        Ok(n == 1)
    }

    pub fn set_csrf(conn: &mut DbConn, id: &str, csrf_hash: &str) -> Result<(), StoreError> {
        diesel::update(login_transactions::table.find(id))
            .set(login_transactions::csrf_hash.eq(csrf_hash))
            .execute(conn)?;
        Ok(())
    }

    /// Ends every open sign-in of the user (a password reset): none of them can finish, whatever
    /// it passed already.
    pub fn end_of_user(conn: &mut DbConn, user_id: &str, now: i64) -> Result<usize, StoreError> {
        Ok(diesel::update(
            login_transactions::table
                .filter(login_transactions::user_id.eq(user_id))
                .filter(login_transactions::completed_at.is_null()),
        )
        .set(login_transactions::completed_at.eq(Some(now)))
        .execute(conn)?)
    }

    /// Marks the transaction done at `now`; false if it was already completed (a double submit).
    pub fn complete(conn: &mut DbConn, id: &str, now: i64) -> Result<bool, StoreError> {
        let n = diesel::update(
            login_transactions::table
                .filter(login_transactions::id.eq(id))
                .filter(login_transactions::completed_at.is_null()),
        )
        .set(login_transactions::completed_at.eq(Some(now)))
        .execute(conn)?;
        Ok(n == 1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = grants)]
pub struct Grant {
    pub id: String,
    pub organization_id: i64,
    pub application_id: String,
    pub user_id: Option<String>,
    pub sid: Option<String>,
    pub scope: String,
    pub auth_time: i64,
    pub amr: String,
    pub acr: String,
    pub nonce: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// The `claims` request parameter, as JSON (see `oidc::authorize::ClaimsRequest`).
    pub claims: Option<String>,
    /// The API the access tokens are for (their `aud`); `None` means UserInfo.
    pub resource: Option<String>,
}

impl Grant {
    /// The claims requested by name; none when absent or unreadable.
    pub fn claims_request(&self) -> crate::oidc::authorize::ClaimsRequest {
        self.claims
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default()
    }
}

impl Grant {
    pub fn insert(conn: &mut DbConn, g: &Self) -> Result<(), StoreError> {
        diesel::insert_into(grants::table).values(g).execute(conn)?;
        Ok(())
    }

    /// Revokes the grant and with it every code, access token and refresh token issued from it
    /// (access tokens name their grant and are checked against it when presented).
    pub fn revoke(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
        diesel::update(grants::table.find(id).filter(grants::revoked_at.is_null()))
            .set(grants::revoked_at.eq(Some(now())))
            .execute(conn)?;
        Ok(())
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = authorization_codes)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub grant_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl Grant {
    /// Revokes what a session's sign-out ends: its grants, except offline access (which
    /// outlives the session by design).
    pub fn revoke_for_session(conn: &mut DbConn, sid: &str) -> Result<(), StoreError> {
        let live: Vec<(String, String)> = grants::table
            .filter(grants::sid.eq(sid))
            .filter(grants::revoked_at.is_null())
            .select((grants::id, grants::scope))
            .load(conn)?;
        // Scope tokens compared whole: "offline_access", not any scope containing the text.
        let ended: Vec<String> = live
            .into_iter()
            .filter(|(_, scope)| !scope.split(' ').any(|s| s == "offline_access"))
            .map(|(id, _)| id)
            .collect();
        diesel::update(grants::table.filter(grants::id.eq_any(&ended)))
            .set(grants::revoked_at.eq(Some(now())))
            .execute(conn)?;
        Ok(())
    }
}

/// A single-use credential (a code, a refresh token) found for the token endpoint: with its
/// grant, and the grant's user if they are in the organization.
#[derive(Debug)]
pub struct Redeemable<R> {
    pub credential: R,
    pub grant: Grant,
    pub user: Option<User>,
}

impl<R> Redeemable<R> {
    fn of(
        (credential, grant, user): (R, Grant, Option<super::users::Row>),
    ) -> Result<Self, StoreError> {
        Ok(Self {
            credential,
            grant,
            user: user.map(|u| u.into_user()).transpose()?,
        })
    }
}

impl AuthorizationCode {
    pub fn insert(conn: &mut DbConn, c: &Self) -> Result<(), StoreError> {
        diesel::insert_into(authorization_codes::table)
            .values(c)
            .execute(conn)?;
        Ok(())
    }

    /// The code, its grant and the grant's user in the organization, in one statement, whatever
    /// their state (the caller checks).
    pub fn find(
        conn: &mut DbConn,
        organization_id: i64,
        code_hash: &str,
    ) -> Result<Option<Redeemable<Self>>, StoreError> {
        let found = authorization_codes::table
            .inner_join(grants::table)
            .left_join(
                users::table.on(grants::user_id
                    .eq(users::id.nullable())
                    .and(users::organization_id.eq(organization_id))),
            )
            .filter(authorization_codes::code_hash.eq(code_hash))
            .select((
                Self::as_select(),
                Grant::as_select(),
                Option::<super::users::Row>::as_select(),
            ))
            .first(conn)
            .optional()?;
        found.map(Redeemable::of).transpose()
    }

    /// Uses the code: true exactly once, for an unexpired code of a grant not revoked. The
    /// grant is read again by this statement, so a revocation committed after the code was
    /// found (a reused refresh token, a sign-out) is seen: no tokens come from a revoked grant.
    pub fn consume(conn: &mut DbConn, code_hash: &str) -> Result<bool, StoreError> {
        let t = now();
        let n = diesel::update(
            authorization_codes::table
                .filter(authorization_codes::code_hash.eq(code_hash))
                .filter(authorization_codes::used_at.is_null())
                .filter(authorization_codes::expires_at.gt(t))
                // A correlated EXISTS: `grant_id IN (SELECT id FROM grants WHERE …)` had
                // SQLite build an index of every live grant on each use (the token endpoint's
                // figures fell fivefold at a few thousand grants); this reads the one grant by key.
                .filter(diesel::dsl::exists(
                    grants::table
                        .filter(grants::id.eq(authorization_codes::grant_id))
                        .filter(grants::revoked_at.is_null()),
                )),
        )
        .set(authorization_codes::used_at.eq(Some(t)))
        .execute(conn)?;
        Ok(n == 1)
    }
}

/// Ends every session of a user and revokes every grant (offline ones too): after a password
/// change, disabling or locking, nothing issued before may keep working.
pub fn sign_out_everywhere(conn: &mut DbConn, user_id: &str) -> Result<(), StoreError> {
    let t = now();
    diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::ended_at.is_null()),
    )
    .set(sessions::ended_at.eq(Some(t)))
    .execute(conn)?;
    diesel::update(
        grants::table
            .filter(grants::user_id.eq(user_id))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::revoked_at.eq(Some(t)))
    .execute(conn)?;
    Ok(())
}

/// Records a client assertion's id; false when it was recorded before (a replay). Expired ids
/// are purged on the way, so the table holds only assertions still alive.
pub fn record_assertion(conn: &mut DbConn, id: &str, expires_at: i64) -> Result<bool, StoreError> {
    use super::schema::used_assertions;
    diesel::delete(used_assertions::table.filter(used_assertions::expires_at.lt(now())))
        .execute(conn)?;
    let inserted = diesel::insert_into(used_assertions::table)
        .values((
            used_assertions::id.eq(id),
            used_assertions::expires_at.eq(expires_at),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict(_) => Ok(false),
            other => Err(other),
        },
    }
}

/// Revokes one access token (RFC 7009); the rest of its grant stays. Its `jti` is denied until
/// `expires_at` (the token's `exp`), after which the token fails on its own. A token issued
/// before access tokens stopped being recorded also loses its row.
pub fn revoke_access_token(
    conn: &mut DbConn,
    jti: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    let denied = diesel::insert_into(revoked_access_tokens::table)
        .values((
            revoked_access_tokens::jti.eq(jti),
            revoked_access_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn);
    match denied.map_err(StoreError::from) {
        // Revoked before: nothing more to do.
        Ok(_) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    diesel::delete(access_tokens::table.find(jti)).execute(conn)?;
    Ok(())
}

/// What a user's access token stands on, read in one statement when it is presented: its grant,
/// the grant's user (`None` if gone), and whether the token itself was revoked. `None` when the
/// grant does not exist (any more) in the organization.
pub fn user_token_state(
    conn: &mut DbConn,
    organization_id: i64,
    grant_id: &str,
    jti: &str,
) -> Result<Option<(Grant, Option<User>, bool)>, StoreError> {
    let found: Option<(Grant, Option<super::users::Row>, bool)> = grants::table
        .left_join(users::table.on(grants::user_id.eq(users::id.nullable())))
        .filter(grants::id.eq(grant_id))
        .filter(grants::organization_id.eq(organization_id))
        .select((
            Grant::as_select(),
            Option::<super::users::Row>::as_select(),
            diesel::dsl::exists(revoked_access_tokens::table.find(jti)),
        ))
        .first(conn)
        .optional()?;
    found
        .map(|(grant, user, revoked)| {
            Ok((grant, user.map(|u| u.into_user()).transpose()?, revoked))
        })
        .transpose()
}

/// What a client-credentials token says of whom it was issued to.
#[derive(Debug, Clone)]
pub struct ServiceToken {
    pub client_id: String,
    /// The application's id (`app_id`); absent from tokens issued before it was added.
    pub application_id: Option<String>,
    pub issued_at: i64,
}

/// What a client-credentials token stands on, read in one statement when it is presented: the
/// client's application id (`None` when the application no longer exists in the organization,
/// or is another one than the token was issued to — a deleted client's token does not pass for
/// the token of a new one that took its client id; for tokens without `app_id`, one created
/// after the token was issued), and whether the token itself was revoked.
pub fn service_token_state(
    conn: &mut DbConn,
    organization_id: i64,
    token: &ServiceToken,
    jti: &str,
) -> Result<Option<(String, bool)>, StoreError> {
    let mut query = applications::table
        .filter(applications::organization_id.eq(organization_id))
        .filter(applications::client_id.eq(&token.client_id))
        .select((
            applications::id,
            diesel::dsl::exists(revoked_access_tokens::table.find(jti)),
        ))
        .into_boxed();
    query = match &token.application_id {
        Some(id) => query.filter(applications::id.eq(id)),
        None => query.filter(applications::created_at.le(token.issued_at)),
    };
    Ok(query.first(conn).optional()?)
}

/// The live grant behind an access token issued before access tokens stopped being recorded
/// (one row per token in `access_tokens`): known, unexpired and its grant not revoked. Such
/// tokens work until they expire, then their rows are purged.
pub fn grant_of_recorded_access_token(
    conn: &mut DbConn,
    jti: &str,
) -> Result<Option<Grant>, StoreError> {
    Ok(access_tokens::table
        .inner_join(grants::table)
        .filter(access_tokens::jti.eq(jti))
        .filter(access_tokens::expires_at.gt(now()))
        .filter(grants::revoked_at.is_null())
        .select(Grant::as_select())
        .first(conn)
        .optional()?)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub token_hash: String,
    pub grant_id: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl RefreshToken {
    pub fn insert(conn: &mut DbConn, t: &Self) -> Result<(), StoreError> {
        diesel::insert_into(refresh_tokens::table)
            .values(t)
            .execute(conn)?;
        Ok(())
    }

    pub fn find(conn: &mut DbConn, token_hash: &str) -> Result<Option<(Self, Grant)>, StoreError> {
        Ok(refresh_tokens::table
            .inner_join(grants::table)
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .select((Self::as_select(), Grant::as_select()))
            .first(conn)
            .optional()?)
    }

    /// The token, its grant and the grant's user in the organization, in one statement.
    pub fn find_redeemable(
        conn: &mut DbConn,
        organization_id: i64,
        token_hash: &str,
    ) -> Result<Option<Redeemable<Self>>, StoreError> {
        let found = refresh_tokens::table
            .inner_join(grants::table)
            .left_join(
                users::table.on(grants::user_id
                    .eq(users::id.nullable())
                    .and(users::organization_id.eq(organization_id))),
            )
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .select((
                Self::as_select(),
                Grant::as_select(),
                Option::<super::users::Row>::as_select(),
            ))
            .first(conn)
            .optional()?;
        found.map(Redeemable::of).transpose()
    }

    /// Uses the token for one rotation: true exactly once, for an unexpired token of a grant
    /// not revoked (read again by this statement, as for [`AuthorizationCode::consume`]).
    pub fn consume(conn: &mut DbConn, token_hash: &str) -> Result<bool, StoreError> {
        let t = now();
        let n = diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(token_hash))
                .filter(refresh_tokens::used_at.is_null())
                .filter(refresh_tokens::expires_at.gt(t))
                // A correlated EXISTS: `grant_id IN (SELECT id FROM grants WHERE …)` had
                // SQLite build an index of every live grant on each use (the token endpoint's
                // figures fell fivefold at a few thousand grants); this reads the one grant by key.
                .filter(diesel::dsl::exists(
                    grants::table
                        .filter(grants::id.eq(refresh_tokens::grant_id))
                        .filter(grants::revoked_at.is_null()),
                )),
        )
        .set(refresh_tokens::used_at.eq(Some(t)))
        .execute(conn)?;
        Ok(n == 1)
    }
}

/// What a user allowed a third-party application.
pub mod consent {
    use diesel::prelude::*;

    use crate::store::schema::consents;
    use crate::store::{DbConn, StoreError, now, write_transaction};

    /// The scopes the user allowed the application, if any.
    pub fn scopes(
        conn: &mut DbConn,
        user_id: &str,
        application_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let scope: Option<String> = consents::table
            .find((user_id, application_id))
            .select(consents::scope)
            .first(conn)
            .optional()?;
        Ok(scope
            .map(|s| {
                s.split(' ')
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Records consent to `scope`, added to what was allowed before.
    pub fn allow(
        conn: &mut DbConn,
        user_id: &str,
        application_id: &str,
        scope: &[String],
    ) -> Result<(), StoreError> {
        write_transaction(conn, |conn| {
            let mut all = scopes(conn, user_id, application_id)?;
            let existed = !all.is_empty();
            for s in scope {
                if !all.contains(s) {
                    all.push(s.clone());
                }
            }
            let joined = all.join(" ");
            if existed {
                diesel::update(consents::table.find((user_id, application_id)))
                    .set((consents::scope.eq(&joined), consents::updated_at.eq(now())))
                    .execute(conn)?;
            } else {
                diesel::insert_into(consents::table)
                    .values((
                        consents::user_id.eq(user_id),
                        consents::application_id.eq(application_id),
                        consents::scope.eq(&joined),
                        consents::updated_at.eq(now()),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
    }
}

/// What [`purge_expired`] deleted, per table.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub transactions: usize,
    pub codes: usize,
    /// Rows of access tokens issued before they stopped being recorded (see
    /// [`grant_of_recorded_access_token`]).
    pub access_tokens: usize,
    /// Denied `jti`s of revoked access tokens, once the tokens have expired.
    pub revoked_access_tokens: usize,
    pub refresh_tokens: usize,
    pub sessions: usize,
    pub throttle: usize,
    pub sms_otps: usize,
    pub sent_codes: usize,
    pub sms_sends: usize,
    /// Outbox events purged: sealed ones (holding a code) once delivered or expired.
    pub events: usize,
    pub magic_links: usize,
    pub registrations: usize,
    pub federation_states: usize,
    pub ceremonies: usize,
}

/// Deletes rows nothing can use any more, so storage does not grow with traffic: every
/// authorization request leaves a transaction, every code and refresh token a row. Rows are kept an hour past
/// expiry (a day for sessions and counters) so late requests still get a precise answer.
pub fn purge_expired(conn: &mut DbConn) -> Result<Purged, StoreError> {
    use super::schema::login_throttle;
    let t = now();
    Ok(Purged {
        transactions: diesel::delete(
            login_transactions::table.filter(login_transactions::expires_at.lt(t - 3600)),
        )
        .execute(conn)?,
        codes: diesel::delete(
            authorization_codes::table.filter(authorization_codes::expires_at.lt(t - 3600)),
        )
        .execute(conn)?,
        access_tokens: diesel::delete(
            access_tokens::table.filter(access_tokens::expires_at.lt(t - 3600)),
        )
        .execute(conn)?,
        revoked_access_tokens: diesel::delete(
            revoked_access_tokens::table.filter(revoked_access_tokens::expires_at.lt(t - 3600)),
        )
        .execute(conn)?,
        refresh_tokens: diesel::delete(
            refresh_tokens::table.filter(refresh_tokens::expires_at.lt(t - 3600)),
        )
        .execute(conn)?,
        sessions: diesel::delete(sessions::table.filter(sessions::expires_at.lt(t - 86_400)))
            .execute(conn)?,
        throttle: diesel::delete(
            login_throttle::table
                .filter(login_throttle::window_start.lt(t - 86_400))
                .filter(
                    login_throttle::locked_until
                        .is_null()
                        .or(login_throttle::locked_until.lt(t)),
                ),
        )
        .execute(conn)?,
        sms_otps: super::otps::SmsOtp::purge(conn)?,
        sent_codes: super::sent_codes::SentCode::purge(conn)?,
        ceremonies: super::ceremonies::Ceremony::purge(conn)?,
        sms_sends: super::sms_sends::SmsSend::purge(conn)?,
        events: super::events::OutboxEvent::purge(conn)?,
        magic_links: super::magic_links::MagicLink::purge(conn)?,
        registrations: super::registrations::Registration::purge(conn)?,
        federation_states: super::federation::FederationState::purge(conn)?,
    })
}
