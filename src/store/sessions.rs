//! A user's sessions (one per browser signed in) and the applications that can act for them:
//! what the SSO cookie finds, what the account area lists, and how one or all of them end.

use diesel::prelude::*;

use super::auth::Grant;
use super::schema::{consents, grants, sessions};
use super::{DbConn, StoreError, now};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    /// SHA-256 of the session cookie's value.
    pub id_hash: String,
    /// The public session id (`sid` claim); unrelated to the cookie value.
    pub sid: String,
    pub organization_id: i64,
    pub user_id: String,
    pub auth_time: i64,
    /// JSON array of RFC 8176 method names.
    pub amr: String,
    pub acr: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    /// Authenticators passed, as JSON (`authn::flow::PassedList`): what later authorizations
    /// are checked against.
    pub passed: String,
    /// The browser's `User-Agent` at sign-in, cut short (see [`Session::USER_AGENT_MAX`]).
    pub user_agent: Option<String>,
    /// The client's address at sign-in.
    pub ip: Option<String>,
    /// When the session last let the user in (see [`Session::touch`]).
    pub last_seen_at: Option<i64>,
}

impl Session {
    /// A step-up: the session gains what the user just passed and a new cookie (the id changes
    /// whenever the authentication level does); `auth` holds the JSON passed list, `amr`, `acr`
    /// and the `auth_time` (the first step's time: new when the password was entered again).
    /// False if the session ended meanwhile or is another user's.
    pub fn step_up(
        conn: &mut DbConn,
        sid: &str,
        user_id: &str,
        new_id_hash: &str,
        auth: (&str, &str, &str, i64),
    ) -> Result<bool, StoreError> {
        let (passed, amr, acr, auth_time) = auth;
        let n = diesel::update(
            sessions::table
                .filter(sessions::sid.eq(sid))
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::ended_at.is_null())
                .filter(sessions::expires_at.gt(now())),
        )
        .set((
            sessions::id_hash.eq(new_id_hash),
            sessions::passed.eq(passed),
            sessions::amr.eq(amr),
            sessions::acr.eq(acr),
            sessions::auth_time.eq(auth_time),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    pub fn insert(conn: &mut DbConn, s: &Self) -> Result<(), StoreError> {
        diesel::insert_into(sessions::table)
            .values(s)
            .execute(conn)?;
        Ok(())
    }

    pub fn find_by_sid(conn: &mut DbConn, sid: &str) -> Result<Option<Self>, StoreError> {
        Ok(sessions::table
            .filter(sessions::sid.eq(sid))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// A live session of the organization with this cookie hash.
    pub fn find_live(
        conn: &mut DbConn,
        organization_id: i64,
        id_hash: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(sessions::table
            .filter(sessions::id_hash.eq(id_hash))
            .filter(sessions::organization_id.eq(organization_id))
            .filter(sessions::ended_at.is_null())
            .filter(sessions::expires_at.gt(now()))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// The longest `User-Agent` kept.
    pub const USER_AGENT_MAX: usize = 300;

    /// How stale `last_seen_at` may grow before [`Session::touch`] writes it again.
    pub const SEEN_EVERY: i64 = 60;

    /// Records that the session was used now, at most once a [`Session::SEEN_EVERY`] (checked
    /// on the copy read, then again by the statement, so two requests at once write once).
    pub fn touch(conn: &mut DbConn, session: &Self, now: i64) -> Result<(), StoreError> {
        if session
            .last_seen_at
            .is_some_and(|t| t > now - Self::SEEN_EVERY)
        {
            return Ok(());
        }
        super::write_transaction(conn, |conn| {
            diesel::update(
                sessions::table.find(&session.id_hash).filter(
                    sessions::last_seen_at
                        .is_null()
                        .or(sessions::last_seen_at.le(now - Self::SEEN_EVERY)),
                ),
            )
            .set(sessions::last_seen_at.eq(Some(now)))
            .execute(conn)?;
            Ok(())
        })
    }

    /// A user's live sessions in an organization, last used first.
    pub fn live_of_user(
        conn: &mut DbConn,
        organization_id: i64,
        user_id: &str,
    ) -> Result<Vec<Self>, StoreError> {
        let mut live: Vec<Self> = sessions::table
            .filter(sessions::organization_id.eq(organization_id))
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::ended_at.is_null())
            .filter(sessions::expires_at.gt(now()))
            .select(Self::as_select())
            .load(conn)?;
        live.sort_by_key(|s| std::cmp::Reverse(s.last_seen_at.unwrap_or(s.created_at)));
        Ok(live)
    }

    /// Ends the user's sessions whose `sid` is in `sids` (ones of other users, or ended, are
    /// left alone) and revokes what each issued (as a sign-out does: see
    /// [`Grant::revoke_for_session`]). Returns how many ended.
    pub fn end_of_user(
        conn: &mut DbConn,
        user_id: &str,
        sids: &[String],
    ) -> Result<usize, StoreError> {
        let mut ended = 0;
        for sid in sids {
            let n = diesel::update(
                sessions::table
                    .filter(sessions::sid.eq(sid))
                    .filter(sessions::user_id.eq(user_id))
                    .filter(sessions::ended_at.is_null()),
            )
            .set(sessions::ended_at.eq(Some(now())))
            .execute(conn)?;
            if n > 0 {
                Grant::revoke_for_session(conn, sid)?;
                ended += n;
            }
        }
        Ok(ended)
    }

    /// Whether the user's session `sid` is live (not ended, not expired).
    pub fn is_live(conn: &mut DbConn, user_id: &str, sid: &str) -> Result<bool, StoreError> {
        let n: i64 = sessions::table
            .filter(sessions::sid.eq(sid))
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::ended_at.is_null())
            .filter(sessions::expires_at.gt(now()))
            .count()
            .get_result(conn)?;
        Ok(n > 0)
    }

    /// Ends every live session of the user but `keep` (a `sid`) and revokes every grant not
    /// issued in `keep`, offline ones too: after the user changed their password, only the
    /// browser that changed it stays signed in, and nothing issued elsewhere keeps working.
    pub fn end_all_but(conn: &mut DbConn, user_id: &str, keep: &str) -> Result<(), StoreError> {
        let t = now();
        diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::sid.ne(keep))
                .filter(sessions::ended_at.is_null()),
        )
        .set(sessions::ended_at.eq(Some(t)))
        .execute(conn)?;
        diesel::update(
            grants::table
                .filter(grants::user_id.eq(user_id))
                .filter(grants::revoked_at.is_null())
                .filter(grants::sid.is_null().or(grants::sid.ne(keep))),
        )
        .set(grants::revoked_at.eq(Some(t)))
        .execute(conn)?;
        Ok(())
    }

    pub fn end(conn: &mut DbConn, id_hash: &str) -> Result<(), StoreError> {
        diesel::update(
            sessions::table
                .find(id_hash)
                .filter(sessions::ended_at.is_null()),
        )
        .set(sessions::ended_at.eq(Some(now())))
        .execute(conn)?;
        Ok(())
    }
}

/// An application that can act for a user: one the user consented to, or one holding a grant
/// not revoked that can still give it tokens (one of a live session, or with offline access).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApp {
    pub application_id: String,
    /// The scopes consented to, when the user was asked.
    pub consented: Option<String>,
    /// The latest consent or grant.
    pub since: i64,
}

/// The applications connected to a user (see [`ConnectedApp`]), latest first; `live_sids` are
/// the user's live sessions. Grants of sessions gone, which no longer give tokens, are not read.
pub fn connected_apps(
    conn: &mut DbConn,
    user_id: &str,
    live_sids: &[String],
) -> Result<Vec<ConnectedApp>, StoreError> {
    let consented: Vec<(String, String, i64)> = consents::table
        .filter(consents::user_id.eq(user_id))
        .select((
            consents::application_id,
            consents::scope,
            consents::updated_at,
        ))
        .load(conn)?;
    let granted: Vec<(String, String, i64)> = grants::table
        .filter(grants::user_id.eq(user_id))
        .filter(grants::revoked_at.is_null())
        .filter(
            grants::sid
                .eq_any(live_sids)
                .or(grants::scope.like("%offline_access%")),
        )
        .select((grants::application_id, grants::scope, grants::created_at))
        .load(conn)?;
    let mut apps: std::collections::HashMap<String, ConnectedApp> = consented
        .into_iter()
        .map(|(application_id, scope, at)| {
            let app = ConnectedApp {
                application_id: application_id.clone(),
                consented: Some(scope),
                since: at,
            };
            (application_id, app)
        })
        .collect();
    for (application_id, _, at) in granted {
        apps.entry(application_id.clone())
            .and_modify(|app| app.since = app.since.max(at))
            .or_insert(ConnectedApp {
                application_id,
                consented: None,
                since: at,
            });
    }
    let mut apps: Vec<ConnectedApp> = apps.into_values().collect();
    apps.sort_by(|a, b| {
        b.since
            .cmp(&a.since)
            .then_with(|| a.application_id.cmp(&b.application_id))
    });
    Ok(apps)
}

/// Takes an application's access away from a user: its remembered consent goes (the next
/// authorization asks again) and every grant of the user to it is revoked, offline ones too,
/// with the codes and tokens issued from them. Returns whether there was anything to remove.
pub fn disconnect_app(
    conn: &mut DbConn,
    user_id: &str,
    application_id: &str,
) -> Result<bool, StoreError> {
    let consents_removed =
        diesel::delete(consents::table.find((user_id, application_id))).execute(conn)?;
    let grants_revoked = diesel::update(
        grants::table
            .filter(grants::user_id.eq(user_id))
            .filter(grants::application_id.eq(application_id))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::revoked_at.eq(Some(now())))
    .execute(conn)?;
    Ok(consents_removed + grants_revoked > 0)
}
