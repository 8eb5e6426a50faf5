//! The token endpoint (RFC 6749 §3.2): client authentication, the authorization-code grant with
//! PKCE, and refresh-token rotation with reuse detection.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde_json::json;

use super::error::OAuthError;
use super::{AppState, OrgEntry};
use crate::domain::{ClientType, GrantType};
use crate::keys::Alg;
use crate::oidc::authorize::{Params, pkce_matches};
use crate::oidc::tokens::Issue;
use crate::secret::{random_token, sha256_hex};
use crate::store::applications::Application;
use crate::store::auth::{
    AuthorizationCode, Grant, RefreshToken, record_access_token, revoke_access_token,
};
use crate::store::users::User;
use crate::store::{now, write_transaction};

/// The client's credentials as presented.
struct Presented {
    client_id: String,
    secret: Option<String>,
    /// A `private_key_jwt` assertion (RFC 7523).
    assertion: Option<String>,
}

/// The credentials after an auth scheme, matched case-insensitively (RFC 7235 §2.1).
pub(super) fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = header.split_once(' ')?;
    name.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `client_secret_basic` (RFC 6749 §2.3.1: id and secret are form-urlencoded inside Basic),
/// `client_secret_post`, or `none` (a public client sending only its id).
fn presented_credentials(req: &HttpRequest, params: &Params) -> Result<Presented, OAuthError> {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok());
    if let Some(kind) = params.get("client_assertion_type") {
        if header.and_then(|h| strip_scheme(h, "Basic")).is_some()
            || params.get("client_secret").is_some()
        {
            return Err(OAuthError::new(
                "invalid_request",
                "use one client authentication method, not two",
            ));
        }
        if kind != JWT_BEARER {
            return Err(OAuthError::invalid_client(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        let assertion = params
            .get("client_assertion")
            .ok_or_else(|| OAuthError::new("invalid_request", "client_assertion is required"))?;
        // The client is named by client_id, or else by the assertion's (still unverified) `sub`.
        let client_id = match params.get("client_id") {
            Some(id) => id.to_string(),
            None => crate::keys::jwk::unverified_claims(assertion)
                .and_then(|c| c["sub"].as_str().map(str::to_string))
                .ok_or_else(|| {
                    OAuthError::invalid_client("the client assertion names no client")
                })?,
        };
        return Ok(Presented {
            client_id,
            secret: None,
            assertion: Some(assertion.to_string()),
        });
    }
    if let Some(value) = header.and_then(|h| strip_scheme(h, "Basic")) {
        if params.get("client_secret").is_some() {
            return Err(OAuthError::new(
                "invalid_request",
                "use one client authentication method, not two",
            ));
        }
        let bad = || OAuthError::invalid_client("malformed Basic credentials");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (id, secret) = text.split_once(':').ok_or_else(bad)?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let client_id = decode(id);
        if params
            .get("client_id")
            .is_some_and(|form_id| form_id != client_id)
        {
            return Err(OAuthError::invalid_client(
                "client_id differs from the authenticated client",
            ));
        }
        return Ok(Presented {
            client_id,
            secret: Some(decode(secret)),
            assertion: None,
        });
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
    Ok(Presented {
        client_id: client_id.to_string(),
        secret: params.get("client_secret").map(str::to_string),
        assertion: None,
    })
}

/// Finds and authenticates the client. Unknown clients and wrong secrets get the same answer.
async fn authenticate(
    state: &AppState,
    org: &OrgEntry,
    p: &Presented,
) -> Result<Application, OAuthError> {
    let (org_id, client_id) = (org.org.id, p.client_id.clone());
    let app = state
        .db
        .run(move |conn| Application::find(conn, org_id, &client_id))
        .await?;
    let fail = || OAuthError::invalid_client("client authentication failed");
    let app = app.ok_or_else(fail)?;
    if let Some(assertion) = &p.assertion {
        if app.client_type != ClientType::Confidential {
            return Err(fail());
        }
        return check_assertion(state, org, &app, assertion)
            .await
            .map(|()| app);
    }
    if app.jwks.is_some() || app.jwks_uri.is_some() {
        // A client that registered keys authenticates with them only.
        return Err(fail());
    }
    match (app.client_type, &p.secret, &app.secret_hash) {
        (ClientType::Public, None, _) => Ok(app),
        (ClientType::Confidential, Some(secret), Some(hash)) => {
            use subtle::ConstantTimeEq;
            if bool::from(sha256_hex(secret).as_bytes().ct_eq(hash.as_bytes())) {
                Ok(app)
            } else {
                Err(fail())
            }
        }
        _ => Err(fail()),
    }
}

/// Verifies a `private_key_jwt` assertion (RFC 7523 §3): signed by one of the client's keys,
/// `iss` and `sub` the client, `aud` this issuer or its token endpoint, unexpired, and its `jti`
/// never seen before (recorded until the assertion expires).
async fn check_assertion(
    state: &AppState,
    org: &OrgEntry,
    app: &Application,
    assertion: &str,
) -> Result<(), OAuthError> {
    let fail = |why: &str| OAuthError::invalid_client(format!("client assertion: {why}"));
    let kid = crate::keys::jwk::unverified_header(assertion)
        .and_then(|h| h["kid"].as_str().map(str::to_string));
    let verify = |keys: &[crate::keys::jwk::KeyedVerifier]| {
        keys.iter()
            .filter(|(k, _)| kid.is_none() || k.is_none() || *k == kid)
            .find_map(|(_, verifier)| {
                crate::keys::jwk::decode_verified(assertion, |_| Some(verifier.clone()))
            })
            .map(|(_, claims)| claims)
    };
    let claims = match (&app.jwks, &app.jwks_uri) {
        (Some(jwks), _) => {
            let doc: serde_json::Value = serde_json::from_str(jwks).map_err(|_| fail("the client's keys are unusable"))?;
            let keys = crate::keys::jwk::parse_jwks(&doc).map_err(|_| fail("the client's keys are unusable"))?;
            verify(&keys)
        }
        (None, Some(uri)) => {
            let unusable = |e: String| {
                tracing::warn!(client_id = %app.client_id, error = %e, "cannot fetch the client's keys");
                fail("the client's jwks_uri cannot be used")
            };
            let keys = state.client_keys(&app.id, uri, false).await.map_err(unusable)?;
            match verify(&keys) {
                Some(claims) => Some(claims),
                // Perhaps the client rotated its keys: fetch them again (rate-limited).
                None => verify(&state.client_keys(&app.id, uri, true).await.map_err(unusable)?),
            }
        }
        (None, None) => return Err(fail("the client has no keys")),
    }
    .ok_or_else(|| fail("the signature does not verify with the client's keys"))?;
    let client_id = app.client_id.as_str();
    if claims["iss"] != client_id || claims["sub"] != client_id {
        return Err(fail("iss and sub must be the client_id"));
    }
    let token_endpoint = format!("{}/token", org.issuer);
    let audience_ok =
        |v: &serde_json::Value| v == org.issuer.as_str() || v == token_endpoint.as_str();
    // One audience only: an assertion meant for several parties is not accepted here.
    let aud_ok = match &claims["aud"] {
        serde_json::Value::Array(items) => items.len() == 1 && audience_ok(&items[0]),
        other => audience_ok(other),
    };
    if !aud_ok {
        return Err(fail("aud must be the issuer or the token endpoint"));
    }
    let t = now();
    let exp = claims["exp"]
        .as_i64()
        .ok_or_else(|| fail("exp is required"))?;
    if exp <= t {
        return Err(fail("expired"));
    }
    if exp > t + 3600 {
        return Err(fail("exp is more than an hour away"));
    }
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty())
        .ok_or_else(|| fail("jti is required"))?;
    let id = format!("{}:{jti}", app.id);
    let first_use = state
        .db
        .run(move |conn| crate::store::auth::record_assertion(conn, &id, exp))
        .await?;
    if first_use {
        Ok(())
    } else {
        Err(fail("this assertion was already used"))
    }
}

pub async fn token(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let org = state.organization(&path).await?;
    let (params, app) = form_and_client(&state, &org, &req, &body).await?;
    match params.get("grant_type") {
        None => Err(OAuthError::new("invalid_request", "grant_type is required")),
        Some("authorization_code") => authorization_code(&state, &org, &app, &params).await,
        Some("refresh_token") => refresh(&state, &org, &app, &params).await,
        Some("client_credentials") => client_credentials(&state, &org, &app, &params).await,
        Some(other) => Err(OAuthError::new(
            "unsupported_grant_type",
            format!("grant_type '{other}' is not supported"),
        )),
    }
}

/// Refuses a grant the application was not registered for.
fn require_grant(app: &Application, grant: GrantType, name: &str) -> Result<(), OAuthError> {
    if app.grant_types.contains(&grant) {
        Ok(())
    } else {
        Err(OAuthError::new(
            "unauthorized_client",
            format!("this client may not use the {name} grant"),
        ))
    }
}

async fn authorization_code(
    state: &AppState,
    org: &OrgEntry,
    app: &Application,
    params: &Params,
) -> Result<HttpResponse, OAuthError> {
    require_grant(app, GrantType::AuthorizationCode, "authorization_code")?;
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::new("invalid_request", "code is required"))?;
    let hash = sha256_hex(code);
    let lookup = hash.clone();
    let found = state
        .db
        .run(move |conn| AuthorizationCode::find(conn, &lookup))
        .await?;
    let invalid = |why: &str| OAuthError::new("invalid_grant", why);
    let Some((code_row, grant)) = found else {
        return Err(invalid("the code is not valid"));
    };
    // A code presented by another client is refused without being spent.
    if grant.application_id != app.id {
        return Err(invalid("the code was issued to another client"));
    }
    if params.get("redirect_uri") != Some(code_row.redirect_uri.as_str()) {
        return Err(invalid(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&code_row.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => {}
        (Some(_), _) => return Err(invalid("code_verifier does not match the code_challenge")),
        (None, Some(_)) => {
            return Err(invalid(
                "code_verifier sent but the authorization request had no code_challenge",
            ));
        }
        (None, None) if app.client_type == ClientType::Public => {
            return Err(invalid("PKCE is required"));
        }
        (None, None) => {}
    }
    check_resource(params, &grant)?;
    let grant_id = grant.id.clone();
    let consumed = spend_or_revoke(state, hash, grant_id, AuthorizationCode::consume).await?;
    if !consumed || grant.revoked_at.is_some() {
        return Err(invalid("the code was already used or has expired"));
    }
    issue(state, org, app, &grant, true).await
}

/// Spends a single-use credential (a code, a refresh token) by its hash. One that was spent
/// before (or expired) is treated as stolen: its whole grant is revoked, so whoever holds the
/// tokens issued from it loses them too.
async fn spend_or_revoke(
    state: &AppState,
    hash: String,
    grant_id: String,
    spend: fn(&mut crate::store::DbConn, &str) -> Result<bool, crate::store::StoreError>,
) -> Result<bool, OAuthError> {
    Ok(state
        .db
        .run(move |conn| {
            if spend(conn, &hash)? {
                return Ok(true);
            }
            Grant::revoke(conn, &grant_id)?;
            Ok(false)
        })
        .await?)
}

async fn refresh(
    state: &AppState,
    org: &OrgEntry,
    app: &Application,
    params: &Params,
) -> Result<HttpResponse, OAuthError> {
    require_grant(app, GrantType::RefreshToken, "refresh_token")?;
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::new("invalid_request", "refresh_token is required"))?;
    let hash = sha256_hex(token);
    let lookup = hash.clone();
    let found = state
        .db
        .run(move |conn| RefreshToken::find(conn, &lookup))
        .await?;
    let invalid = |why: &str| OAuthError::new("invalid_grant", why);
    let Some((_, grant)) = found else {
        return Err(invalid("the refresh token is not valid"));
    };
    if grant.application_id != app.id {
        return Err(invalid("the refresh token was issued to another client"));
    }
    if grant.revoked_at.is_some() {
        return Err(invalid("the refresh token has been revoked"));
    }
    if let Some(requested) = params.get("scope") {
        let granted: Vec<&str> = grant.scope.split(' ').collect();
        if requested
            .split(' ')
            .any(|s| !s.is_empty() && !granted.contains(&s))
        {
            return Err(OAuthError::new(
                "invalid_scope",
                "a refresh cannot widen the granted scope",
            ));
        }
    }
    check_resource(params, &grant)?;
    let grant_id = grant.id.clone();
    let consumed = spend_or_revoke(state, hash, grant_id, RefreshToken::consume).await?;
    if !consumed {
        return Err(invalid("the refresh token was already used or has expired"));
    }
    // A narrower scope applies to the tokens of this response (RFC 6749 §6); the grant, and so
    // later refreshes, keep the scope the user granted.
    let mut issued = grant.clone();
    if let Some(requested) = params.get("scope") {
        issued.scope = requested
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
    }
    issue(state, org, app, &issued, false).await
}

/// RFC 6749 §4.4: a confidential client acting for itself. An access token only (no ID token,
/// no refresh token); its `sub` is the client id.
async fn client_credentials(
    state: &AppState,
    org: &OrgEntry,
    app: &Application,
    params: &Params,
) -> Result<HttpResponse, OAuthError> {
    if app.client_type != ClientType::Confidential
        || !app.grant_types.contains(&GrantType::ClientCredentials)
    {
        return Err(OAuthError::new(
            "unauthorized_client",
            "this client may not use the client_credentials grant",
        ));
    }
    // Scopes of a service token belong to the API it is for (RFC 8707 `resource`).
    let resource = match params.get("resource") {
        None => None,
        Some(r) => Some(
            org.org
                .settings
                .resource(r)
                .filter(|_| app.resources.iter().any(|a| a == r))
                .ok_or_else(|| {
                    OAuthError::new(
                        "invalid_target",
                        format!("'{r}' is not a resource registered here"),
                    )
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
        return Err(OAuthError::new(
            "invalid_scope",
            format!("scope '{bad}' is not a scope of the requested resource"),
        ));
    }
    let keys = state.keys.get(&state.db, org.org.id).await?;
    let signer = keys
        .signer(Alg::RS256)
        .ok_or_else(|| OAuthError::from(super::error::ApiError::Internal))?;
    let t = now();
    let grant = Grant {
        id: uuid::Uuid::new_v4().to_string(),
        organization_id: org.org.id,
        application_id: app.id.clone(),
        user_id: None,
        sid: None,
        scope: requested.join(" "),
        auth_time: t,
        amr: "[]".into(),
        acr: String::new(),
        nonce: None,
        created_at: t,
        revoked_at: None,
        claims: None,
        resource: match resource {
            Some(r) => Some(r.identifier.clone()),
            None if hub => Some(crate::events::hub::hub_url(
                state.settings.base_url.as_str(),
            )),
            None => None,
        },
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
    let expires = t + app.lifetimes.access_token;
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                Grant::insert(conn, &grant)?;
                record_access_token(conn, &jti, &grant.id, expires)
            })
        })
        .await?;
    Ok(no_store(HttpResponse::Ok()).json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": app.lifetimes.access_token,
    })))
}

fn no_store(mut res: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    res.insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"));
    res
}

/// Reads the form body and authenticates the client, as the token, revocation and
/// introspection endpoints all do.
async fn form_and_client(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Params, Application), OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
        OAuthError::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )
    })?;
    let params = Params::from_pairs(pairs);
    if let Some(name) = params.repeated() {
        return Err(OAuthError::new(
            "invalid_request",
            format!("the parameter {name} appears more than once"),
        ));
    }
    let presented = presented_credentials(req, &params)?;
    let app = authenticate(state, org, &presented).await?;
    Ok((params, app))
}

/// Token revocation (RFC 7009). Answers 200 whether or not the token was known, so the endpoint
/// says nothing about tokens; a token of another client is left alone.
pub async fn revoke(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let org = state.organization(&path).await?;
    let (params, app) = form_and_client(&state, &org, &req, &body).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::new("invalid_request", "token is required"))?
        .to_string();
    // A refresh token revokes its whole grant (RFC 7009 §2.1); an access token only itself.
    let hash = sha256_hex(&token);
    let app_id = app.id.clone();
    let refresh_revoked = state
        .db
        .run(move |conn| match RefreshToken::find(conn, &hash)? {
            Some((_, grant)) if grant.application_id == app_id => {
                Grant::revoke(conn, &grant.id).map(|()| true)
            }
            _ => Ok(false),
        })
        .await?;
    if !refresh_revoked
        && let Ok((claims, grant)) =
            super::userinfo::live_access_token(&state, &org, &token).await?
        && grant.application_id == app.id
    {
        let jti = claims["jti"].as_str().unwrap_or_default().to_string();
        state
            .db
            .run(move |conn| revoke_access_token(conn, &jti))
            .await?;
    }
    Ok(no_store(HttpResponse::Ok()).finish())
}

/// Token introspection (RFC 7662), for confidential clients (typically resource servers).
pub async fn introspect(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let org = state.organization(&path).await?;
    let (params, app) = form_and_client(&state, &org, &req, &body).await?;
    if app.client_type != ClientType::Confidential {
        return Err(OAuthError::invalid_client(
            "introspection is for confidential clients",
        ));
    }
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::new("invalid_request", "token is required"))?
        .to_string();
    if let Ok((claims, _)) = super::userinfo::live_access_token(&state, &org, &token).await? {
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
        return Ok(no_store(HttpResponse::Ok()).json(body));
    }
    let hash = sha256_hex(&token);
    let found = state
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
        let app_id = grant.application_id.clone();
        let owner = state
            .db
            .run(move |conn| Application::find_by_id(conn, &app_id))
            .await?;
        return Ok(no_store(HttpResponse::Ok()).json(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": grant.scope,
            "client_id": owner.map(|a| a.client_id.to_string()),
            "sub": grant.user_id,
            "iss": org.issuer,
            "exp": row.expires_at,
        })));
    }
    Ok(no_store(HttpResponse::Ok()).json(json!({ "active": false })))
}

/// A `resource` sent to the token endpoint must be the one the grant is for (one resource per
/// grant in Sesame).
fn check_resource(params: &Params, grant: &Grant) -> Result<(), OAuthError> {
    match params.get("resource") {
        Some(r) if grant.resource.as_deref() != Some(r) => Err(OAuthError::new(
            "invalid_target",
            "resource differs from the one this grant is for",
        )),
        _ => Ok(()),
    }
}

/// Signs and records the tokens of one response.
async fn issue(
    state: &AppState,
    org: &OrgEntry,
    app: &Application,
    grant: &Grant,
    first: bool,
) -> Result<HttpResponse, OAuthError> {
    let keys = state.keys.get(&state.db, org.org.id).await?;
    let signer = keys
        .signer(Alg::RS256)
        .ok_or_else(|| OAuthError::from(super::error::ApiError::Internal))?;
    let t = now();
    let user_id = grant.user_id.clone().unwrap_or_default();
    let org_id = org.org.id;
    let user = state
        .db
        .run(move |conn| User::find(conn, org_id, &user_id))
        .await?;
    let user = match user {
        Some(u) if !u.disabled => u,
        _ => {
            return Err(OAuthError::new(
                "invalid_grant",
                "the user no longer exists or is disabled",
            ));
        }
    };
    let issue = Issue {
        issuer: &org.issuer,
        client_id: app.client_id.as_str(),
        subject: &user.id,
        grant,
        now: t,
    };
    let jti = uuid::Uuid::new_v4().to_string();
    let access_token = issue.access_token(signer, &jti, app.lifetimes.access_token)?;
    let requested = crate::oidc::tokens::claims_named(&user, &grant.claims_request().id_token);
    // Access tokens are RS256 (RFC 9068 requires resource servers to support it); ID tokens use
    // the application's algorithm.
    let id_signer = keys
        .signer(app.id_token_alg)
        .ok_or_else(|| OAuthError::from(super::error::ApiError::Internal))?;
    let id_token = issue.id_token(
        id_signer,
        &access_token,
        app.lifetimes.id_token,
        first,
        requested,
    )?;
    let refresh = app
        .grant_types
        .contains(&GrantType::RefreshToken)
        .then(|| random_token(32));
    let refresh_row = refresh.as_ref().map(|r| RefreshToken {
        token_hash: sha256_hex(r.expose()),
        grant_id: grant.id.clone(),
        expires_at: t + app.lifetimes.refresh_token,
        used_at: None,
    });
    let (grant_id, expires) = (grant.id.clone(), t + app.lifetimes.access_token);
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                record_access_token(conn, &jti, &grant_id, expires)?;
                if let Some(row) = &refresh_row {
                    RefreshToken::insert(conn, row)?;
                }
                Ok(())
            })
        })
        .await?;
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": app.lifetimes.access_token,
        "id_token": id_token,
        "scope": grant.scope,
    });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r.expose());
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(body))
}
