//! The token endpoint's grants (RFC 6749 §3.2): the authorization-code grant with PKCE,
//! refresh-token rotation with reuse detection and client credentials (revocation,
//! introspection and the check of access tokens are in [`super::presented`]). Answers are JSON
//! values; refusals are [`TokenError`]s, which the web layer maps to OAuth error responses in
//! one place.
//!
//! Issuing an access token writes nothing: the token names its grant (or, for client
//! credentials, its client), and [`super::presented`] checks that grant's or client's state,
//! and the deny-list of single revoked tokens, in one query whenever the token is presented.

use serde_json::{Value, json};

use super::authorize::{Params, pkce_matches};
use super::tokens::Issue;
use crate::domain::{ClientType, GrantType};
use crate::keys::{KeyError, KeysError};
use crate::secret::{random_token, sha256_hex};
use crate::state::{Core, OrgEntry};
use crate::store::applications::Application;
use crate::store::auth::{AuthorizationCode, Grant, Redeemable, RefreshToken};
use crate::store::users::User;
use crate::store::{StoreError, now};

/// Why a token request is refused: the OAuth error codes (RFC 6749 §5.2, RFC 8707 §2) with
/// their descriptions, or a failure of the server.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_client: {0}")]
    InvalidClient(String),
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    #[error("invalid_target: {0}")]
    InvalidTarget(String),
    /// The organization has no active signing key for an algorithm it needs.
    #[error("no active signing key")]
    NoSigner,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeysError),
}

impl TokenError {
    /// The OAuth error code; `server_error` for the server's own failures.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::NoSigner | Self::Store(_) | Self::Keys(_) => "server_error",
        }
    }
}

impl From<KeyError> for TokenError {
    fn from(e: KeyError) -> Self {
        Self::Keys(KeysError::Key(e))
    }
}

/// Runs the grant the client asked for; the answer is the token response's body.
pub async fn grant(
    core: &Core,
    org: &OrgEntry,
    app: &Application,
    params: &Params,
) -> Result<Value, TokenError> {
    let (grant_type, answer) = match params.get("grant_type") {
        None => (
            "none",
            Err(TokenError::InvalidRequest("grant_type is required".into())),
        ),
        Some("authorization_code") => (
            "authorization_code",
            authorization_code(core, org, app, params).await,
        ),
        Some("refresh_token") => ("refresh_token", refresh(core, org, app, params).await),
        Some("client_credentials") => (
            "client_credentials",
            client_credentials(core, org, app, params).await,
        ),
        Some(other) => (
            "other",
            Err(TokenError::UnsupportedGrantType(format!(
                "grant_type '{other}' is not supported"
            ))),
        ),
    };
    let outcome = answer.as_ref().map_or_else(TokenError::code, |_| "issued");
    core.metrics
        .token(&org.org.slug, app.client_id.as_str(), grant_type, outcome);
    answer
}

/// Refuses a grant the application was not registered for.
fn require_grant(app: &Application, grant: GrantType, name: &str) -> Result<(), TokenError> {
    if app.grant_types.contains(&grant) {
        Ok(())
    } else {
        Err(TokenError::UnauthorizedClient(format!(
            "this client may not use the {name} grant"
        )))
    }
}

async fn authorization_code(
    core: &Core,
    org: &OrgEntry,
    app: &Application,
    params: &Params,
) -> Result<Value, TokenError> {
    require_grant(app, GrantType::AuthorizationCode, "authorization_code")?;
    let code = params
        .get("code")
        .ok_or_else(|| TokenError::InvalidRequest("code is required".into()))?;
    let (app_id, public) = (app.id.clone(), app.client_type == ClientType::Public);
    let checked = params.clone();
    let redeemed = Redeem {
        hash: sha256_hex(code),
        find: AuthorizationCode::find,
        spend: AuthorizationCode::consume,
        unknown: "the code is not valid",
        spent: "the code was already used or has expired",
        // Checked before the code is spent: a code presented by another client, or without
        // its verifier, stays good for its own client.
        check: move |code_row: &AuthorizationCode, grant: &Grant| {
            let invalid = |why: &str| Err(TokenError::InvalidGrant(why.into()));
            if grant.application_id != app_id {
                return invalid("the code was issued to another client");
            }
            if checked.get("redirect_uri") != Some(code_row.redirect_uri.as_str()) {
                return invalid("redirect_uri does not match the authorization request");
            }
            match (&code_row.code_challenge, checked.get("code_verifier")) {
                (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => {}
                (Some(_), _) => return invalid("code_verifier does not match the code_challenge"),
                (None, Some(_)) => {
                    return invalid(
                        "code_verifier sent but the authorization request had no code_challenge",
                    );
                }
                (None, None) if public => return invalid("PKCE is required"),
                (None, None) => {}
            }
            check_resource(&checked, grant)
        },
    }
    .run(core, org, app)
    .await?;
    redeemed.sign(core, org, app, None, true).await
}

/// Finds a single-use credential, its grant and the grant's user (in the organization) by the
/// credential's hash.
type Find<R> =
    fn(&mut crate::store::DbConn, i64, &str) -> Result<Option<Redeemable<R>>, StoreError>;

/// A single-use credential (a code, a refresh token) exchanged for tokens, in one database
/// transaction: found by its hash with its grant and user, checked, spent, and the new refresh
/// token recorded. One that was spent before (or expired) is treated as stolen: its whole grant is
/// revoked, so whoever holds the tokens issued from it loses them too.
struct Redeem<R, C> {
    hash: String,
    find: Find<R>,
    spend: fn(&mut crate::store::DbConn, &str) -> Result<bool, StoreError>,
    /// What the client is told when nothing has this hash, or it was spent already.
    unknown: &'static str,
    spent: &'static str,
    /// Checks made before the credential is spent: a failure leaves it as it was.
    check: C,
}

/// What a redemption gives the response: the grant, its user, and the new refresh token.
struct Redeemed {
    grant: Grant,
    user: User,
    refresh: Option<crate::secret::Secret<String>>,
}

impl<R, C> Redeem<R, C>
where
    R: Send + 'static,
    C: FnOnce(&R, &Grant) -> Result<(), TokenError> + Send + 'static,
{
    async fn run(
        self,
        core: &Core,
        org: &OrgEntry,
        app: &Application,
    ) -> Result<Redeemed, TokenError> {
        let refresh = app
            .grant_types
            .contains(&GrantType::RefreshToken)
            .then(|| random_token(32));
        let refresh_hash = refresh.as_ref().map(|r| sha256_hex(r.expose()));
        let (org_id, refresh_lifetime) = (org.org.id, app.lifetimes.refresh_token);
        let found = core
            .db
            .run(move |conn| {
                crate::store::write_transaction(conn, |conn| {
                    let invalid = |why: &str| Ok(Err(TokenError::InvalidGrant(why.into())));
                    let Some(Redeemable {
                        credential: row,
                        grant,
                        user,
                    }) = (self.find)(conn, org_id, &self.hash)?
                    else {
                        return invalid(self.unknown);
                    };
                    if let Err(e) = (self.check)(&row, &grant) {
                        return Ok(Err(e));
                    }
                    if !(self.spend)(conn, &self.hash)? {
                        Grant::revoke(conn, &grant.id)?;
                        return invalid(self.spent);
                    }
                    if grant.revoked_at.is_some() {
                        return invalid(self.spent);
                    }
                    // Read with the credential, in this transaction.
                    let user = match user {
                        Some(u) if !u.disabled => u,
                        _ => return invalid("the user no longer exists or is disabled"),
                    };
                    // The access token itself is not recorded; only a refresh token is.
                    if let Some(token_hash) = refresh_hash {
                        let row = RefreshToken {
                            token_hash,
                            grant_id: grant.id.clone(),
                            expires_at: now() + refresh_lifetime,
                            used_at: None,
                        };
                        RefreshToken::insert(conn, &row)?;
                    }
                    Ok(Ok((grant, user)))
                })
            })
            .await??;
        let (grant, user) = found;
        Ok(Redeemed {
            grant,
            user,
            refresh,
        })
    }
}

async fn refresh(
    core: &Core,
    org: &OrgEntry,
    app: &Application,
    params: &Params,
) -> Result<Value, TokenError> {
    require_grant(app, GrantType::RefreshToken, "refresh_token")?;
    let token = params
        .get("refresh_token")
        .ok_or_else(|| TokenError::InvalidRequest("refresh_token is required".into()))?;
    let (app_id, checked) = (app.id.clone(), params.clone());
    let redeemed = Redeem {
        hash: sha256_hex(token),
        find: RefreshToken::find_redeemable,
        spend: RefreshToken::consume,
        unknown: "the refresh token is not valid",
        spent: "the refresh token was already used or has expired",
        check: move |_: &RefreshToken, grant: &Grant| {
            let invalid = |why: &str| Err(TokenError::InvalidGrant(why.into()));
            if grant.application_id != app_id {
                return invalid("the refresh token was issued to another client");
            }
            if grant.revoked_at.is_some() {
                return invalid("the refresh token has been revoked");
            }
            if let Some(requested) = checked.get("scope") {
                let granted: Vec<&str> = grant.scope.split(' ').collect();
                if requested
                    .split(' ')
                    .any(|s| !s.is_empty() && !granted.contains(&s))
                {
                    return Err(TokenError::InvalidScope(
                        "a refresh cannot widen the granted scope".into(),
                    ));
                }
            }
            check_resource(&checked, grant)
        },
    }
    .run(core, org, app)
    .await?;
    // A narrower scope applies to the tokens of this response (RFC 6749 §6); the grant, and so
    // later refreshes, keep the scope the user granted.
    let narrower = params.get("scope").map(|requested| {
        requested
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    });
    redeemed.sign(core, org, app, narrower, false).await
}

/// RFC 6749 §4.4: a confidential client acting for itself. An access token only (no ID token,
/// no refresh token); its `sub` is the client id.
async fn client_credentials(
    core: &Core,
    org: &OrgEntry,
    app: &Application,
    params: &Params,
) -> Result<Value, TokenError> {
    if app.client_type != ClientType::Confidential
        || !app.grant_types.contains(&GrantType::ClientCredentials)
    {
        return Err(TokenError::UnauthorizedClient(
            "this client may not use the client_credentials grant".into(),
        ));
    }
    let (scope, resource) = service_scope(core, org, app, params)?;
    let keys = core
        .keys
        .get_publishing(&core.db, org.org.id, &[app.access_token_alg])
        .await?;
    let signer = keys
        .signer(app.access_token_alg)
        .ok_or(TokenError::NoSigner)?;
    let t = now();
    // Never stored: the token stands on its client, checked when it is presented.
    let grant = Grant {
        id: String::new(),
        organization_id: org.org.id,
        application_id: app.id.clone(),
        user_id: None,
        sid: None,
        scope,
        auth_time: t,
        amr: "[]".into(),
        acr: String::new(),
        nonce: None,
        created_at: t,
        revoked_at: None,
        claims: None,
        resource,
    };
    let issue = Issue {
        issuer: &org.issuer,
        client_id: app.client_id.as_str(),
        subject: app.client_id.as_str(),
        grant: &grant,
        now: t,
    };
    let jti = uuid::Uuid::new_v4().to_string();
    let access_token = issue.access_token(signer, &jti, app.lifetimes.access_token)?;
    Ok(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": app.lifetimes.access_token,
    }))
}

/// The scope and audience of a service token: scopes belong to the API it is for (RFC 8707
/// `resource`), or to the WebSub hub.
fn service_scope(
    core: &Core,
    org: &OrgEntry,
    app: &Application,
    params: &Params,
) -> Result<(String, Option<String>), TokenError> {
    // Scopes of a service token belong to the API it is for (RFC 8707 `resource`).
    let resource = match params.get("resource") {
        None => None,
        Some(r) => Some(
            org.org
                .settings
                .resource(r)
                .filter(|_| app.resources.iter().any(|a| a == r))
                .ok_or_else(|| {
                    TokenError::InvalidTarget(format!("'{r}' is not a resource registered here"))
                })?,
        ),
    };
    let requested: Vec<&str> = params
        .get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    // The hub is an API of its own: `websub:subscribe` (for applications allowed it) gets a
    // token whose audience is the hub.
    let hub = resource.is_none()
        && app.websub_subscribe
        && requested.contains(&crate::events::hub::SUBSCRIBE_SCOPE);
    let allowed: &[String] = match resource {
        Some(r) => r.scopes.as_slice(),
        None => &[],
    };
    if let Some(bad) = requested.iter().find(|s| {
        !(allowed.iter().any(|a| a == *s) || (hub && **s == crate::events::hub::SUBSCRIBE_SCOPE))
    }) {
        return Err(TokenError::InvalidScope(format!(
            "scope '{bad}' is not a scope of the requested resource"
        )));
    }
    let audience = match resource {
        Some(r) => Some(r.identifier.clone()),
        None if hub => Some(crate::events::hub::hub_url(core.settings.base_url.as_str())),
        None => None,
    };
    Ok((requested.join(" "), audience))
}

/// A `resource` sent to the token endpoint must be the one the grant is for (one resource per
/// grant in Sesame).
fn check_resource(params: &Params, grant: &Grant) -> Result<(), TokenError> {
    match params.get("resource") {
        Some(r) if grant.resource.as_deref() != Some(r) => Err(TokenError::InvalidTarget(
            "resource differs from the one this grant is for".into(),
        )),
        _ => Ok(()),
    }
}

impl Redeemed {
    /// Signs the tokens of the response (with `scope` instead of the grant's, when narrower);
    /// the answer is the response's body.
    async fn sign(
        self,
        core: &Core,
        org: &OrgEntry,
        app: &Application,
        scope: Option<String>,
        first: bool,
    ) -> Result<Value, TokenError> {
        let keys = core
            .keys
            .get_publishing(
                &core.db,
                org.org.id,
                &[app.access_token_alg, app.id_token_alg],
            )
            .await?;
        let signer = keys
            .signer(app.access_token_alg)
            .ok_or(TokenError::NoSigner)?;
        let mut grant = self.grant;
        if let Some(scope) = scope {
            grant.scope = scope;
        }
        let issue = Issue {
            issuer: &org.issuer,
            client_id: app.client_id.as_str(),
            subject: &self.user.id,
            grant: &grant,
            now: now(),
        };
        let jti = uuid::Uuid::new_v4().to_string();
        let access_token = issue.access_token(signer, &jti, app.lifetimes.access_token)?;
        let requested = super::tokens::claims_named(&self.user, &grant.claims_request().id_token);
        // Each token with the application's algorithm for it: access tokens RS256 unless it
        // chose otherwise (RFC 9068 requires resource servers to support RS256), ID tokens
        // likewise.
        let id_signer = keys.signer(app.id_token_alg).ok_or(TokenError::NoSigner)?;
        let id_token = issue.id_token(
            id_signer,
            &access_token,
            app.lifetimes.id_token,
            first,
            requested,
        )?;
        let mut body = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": app.lifetimes.access_token,
            "id_token": id_token,
            "scope": grant.scope,
        });
        if let Some(r) = self.refresh {
            body["refresh_token"] = json!(r.expose());
        }
        Ok(body)
    }
}
