//! Tokens presented back to this issuer: revocation (RFC 7009), introspection (RFC 7662), and
//! the check of an access token wherever one is presented (UserInfo, introspection, the JSON
//! API, the WebSub hub): its signature, type, issuer, audience and expiry, then what it stands
//! on, read in one query — its grant not revoked and its user enabled (or its client still
//! registered), and the token itself not on the deny-list. Issuing one writes nothing (see
//! [`super::token`]).

use serde_json::{Value, json};

use super::authorize::Params;
use super::token::TokenError;
use super::tokens::{APPLICATION_CLAIM, CLIENT_CREDENTIALS, GRANT_ID_CLAIM, GRANT_TYPE_CLAIM};
use crate::domain::ClientType;
use crate::secret::sha256_hex;
use crate::state::{Core, OrgEntry};
use crate::store::applications::Application;
use crate::store::auth::{
    Grant, RefreshToken, ServiceToken, grant_of_recorded_access_token, revoke_access_token,
    service_token_state, user_token_state,
};
use crate::store::now;
use crate::store::users::User;

/// Token revocation (RFC 7009) for an authenticated client. Says nothing about whether the
/// token was known; a token of another client is left alone.
pub async fn revoke(
    core: &Core,
    org: &OrgEntry,
    app: &Application,
    params: &Params,
) -> Result<(), TokenError> {
    let token = params
        .get("token")
        .ok_or_else(|| TokenError::InvalidRequest("token is required".into()))?
        .to_string();
    // A refresh token revokes its whole grant (RFC 7009 §2.1); an access token only itself.
    let hash = sha256_hex(&token);
    let app_id = app.id.clone();
    let refresh_revoked = core
        .db
        .run(move |conn| match RefreshToken::find(conn, &hash)? {
            Some((_, grant)) if grant.application_id == app_id => {
                Grant::revoke(conn, &grant.id).map(|()| true)
            }
            _ => Ok(false),
        })
        .await?;
    if !refresh_revoked
        && let Ok(live) = live_access_token(core, org, &token).await?
        && live.application_id == app.id
    {
        let jti = live.claims["jti"].as_str().unwrap_or_default().to_string();
        let exp = live.claims["exp"].as_i64().unwrap_or_default();
        core.db
            .run(move |conn| revoke_access_token(conn, &jti, exp))
            .await?;
    }
    Ok(())
}

/// Token introspection (RFC 7662), for confidential clients (typically resource servers): the
/// answer's body.
pub async fn introspect(
    core: &Core,
    org: &OrgEntry,
    app: &Application,
    params: &Params,
) -> Result<Value, TokenError> {
    if app.client_type != ClientType::Confidential {
        return Err(TokenError::InvalidClient(
            "introspection is for confidential clients".into(),
        ));
    }
    let token = params
        .get("token")
        .ok_or_else(|| TokenError::InvalidRequest("token is required".into()))?
        .to_string();
    if let Ok(LiveToken { claims, .. }) = live_access_token(core, org, &token).await? {
        let mut body = json!({ "active": true, "token_type": "Bearer" });
        for k in [
            "scope",
            "client_id",
            "sub",
            "aud",
            "iss",
            "exp",
            "iat",
            "jti",
            "auth_time",
            "acr",
            "amr",
        ] {
            if let Some(v) = claims.get(k) {
                body[k] = v.clone();
            }
        }
        return Ok(body);
    }
    let hash = sha256_hex(&token);
    let found = core
        .db
        .run(move |conn| RefreshToken::find(conn, &hash))
        .await?;
    // A refresh token is described only to the client it was issued to (RFC 7662 §4).
    if let Some((row, grant)) = found
        && row.used_at.is_none()
        && row.expires_at > now()
        && grant.revoked_at.is_none()
        && grant.application_id == app.id
    {
        // Its client is the one asking (checked just above): nothing more to read.
        return Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": grant.scope,
            "client_id": app.client_id.to_string(),
            "sub": grant.user_id,
            "iss": org.issuer,
            "exp": row.expires_at,
        }));
    }
    Ok(json!({ "active": false }))
}

/// An access token this issuer signed that is still good.
#[derive(Debug)]
pub struct LiveToken {
    pub claims: Value,
    /// The (internal) id of the application it was issued to.
    pub application_id: String,
    /// What a user's token stands on; `None` for a client acting for itself (client credentials).
    pub user: Option<UserGrant>,
}

/// A user's grant (authorization code, refresh) and the user, read along with it.
#[derive(Debug)]
pub struct UserGrant {
    pub grant: Grant,
    pub user: User,
}

impl LiveToken {
    fn for_user(claims: Value, grant: Grant, user: User) -> Self {
        Self {
            claims,
            application_id: grant.application_id.clone(),
            user: Some(UserGrant { grant, user }),
        }
    }

    fn for_client(claims: Value, application_id: String) -> Self {
        Self {
            claims,
            application_id,
            user: None,
        }
    }
}

const REVOKED: &str = "the access token has been revoked";

/// The claims of an access token this issuer signed, and what it stands on, or why it is not
/// usable: signature, `typ`, issuer, audience, expiry; then, in one query, its grant not revoked
/// and its user still enabled (or, for client credentials, its client still registered), and
/// the token not revoked on its own.
pub async fn live_access_token(
    core: &Core,
    org: &OrgEntry,
    token: &str,
) -> Result<Result<LiveToken, &'static str>, TokenError> {
    let keys = core.keys.get(&core.db, org.org.id).await?;
    let Some((header, claims)) =
        crate::keys::jwk::decode_verified(token, |kid| kid.and_then(|k| keys.verifier(k)))
    else {
        return Ok(Err(
            "the access token is malformed or its signature is not valid",
        ));
    };
    // For UserInfo or for one of the organization's registered APIs.
    let userinfo_aud = format!("{}/userinfo", org.issuer);
    let hub = crate::events::hub::hub_url(core.settings.base_url.as_str());
    let aud_known = claims["aud"].as_str().is_some_and(|aud| {
        aud == userinfo_aud || aud == hub || org.org.settings.resource(aud).is_some()
    });
    if header["typ"] != "at+jwt" || claims["iss"] != org.issuer.as_str() || !aud_known {
        return Ok(Err("not an access token of this issuer"));
    }
    if claims["exp"].as_i64().is_none_or(|exp| exp <= now()) {
        return Ok(Err("the access token has expired"));
    }
    let jti = claims["jti"].as_str().unwrap_or_default().to_string();
    let org_id = org.org.id;
    let live = if let Some(grant_id) = claims[GRANT_ID_CLAIM].as_str() {
        let grant_id = grant_id.to_string();
        let state = core
            .db
            .run(move |conn| user_token_state(conn, org_id, &grant_id, &jti))
            .await?;
        match state {
            Some((grant, Some(user), false)) if grant.revoked_at.is_none() && !user.disabled => {
                LiveToken::for_user(claims, grant, user)
            }
            // Disabling a user revokes their grants; a disabled user's token is refused the same.
            _ => return Ok(Err(REVOKED)),
        }
    } else if claims[GRANT_TYPE_CLAIM] == CLIENT_CREDENTIALS {
        let issued_to = ServiceToken {
            client_id: claims["client_id"].as_str().unwrap_or_default().to_string(),
            application_id: claims[APPLICATION_CLAIM].as_str().map(str::to_string),
            issued_at: claims["iat"].as_i64().unwrap_or_default(),
        };
        let state = core
            .db
            .run(move |conn| service_token_state(conn, org_id, &issued_to, &jti))
            .await?;
        match state {
            Some((application_id, false)) => LiveToken::for_client(claims, application_id),
            Some((_, true)) => return Ok(Err(REVOKED)),
            None => return Ok(Err("the client no longer exists")),
        }
    } else {
        // Issued before access tokens stopped being recorded: its row decides, as it did then.
        let grant = core
            .db
            .run(move |conn| {
                let Some(grant) = grant_of_recorded_access_token(conn, &jti)? else {
                    return Ok(None);
                };
                let user = match &grant.user_id {
                    Some(id) => User::find(conn, org_id, id)?,
                    None => None,
                };
                Ok(Some((grant, user)))
            })
            .await?;
        match grant {
            Some((grant, None)) if grant.user_id.is_none() => {
                LiveToken::for_client(claims, grant.application_id)
            }
            Some((grant, Some(user))) if !user.disabled => LiveToken::for_user(claims, grant, user),
            _ => return Ok(Err(REVOKED)),
        }
    };
    Ok(Ok(live))
}

/// Whether `token` is a live access token of this issuer for `audience` carrying `scope`. A
/// token that cannot be checked (the database is away) does not.
pub async fn carries_scope(
    core: &Core,
    org: &OrgEntry,
    token: &str,
    audience: &str,
    scope: &str,
) -> bool {
    match live_access_token(core, org, token).await {
        Ok(Ok(LiveToken { claims, .. })) => {
            claims["aud"] == audience
                && claims["scope"]
                    .as_str()
                    .is_some_and(|s| s.split(' ').any(|x| x == scope))
        }
        _ => false,
    }
}
