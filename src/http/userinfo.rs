//! The UserInfo endpoint (OIDC Core §5.3): GET or POST with a bearer token in the header, or
//! POST with `access_token` in the form body (RFC 6750 §2.2).

use actix_web::{HttpRequest, HttpResponse, web};

use serde_json::Value;

use super::error::OAuthError;
use super::{AppState, OrgEntry};
use crate::oidc::authorize::Params;
use crate::oidc::tokens::userinfo_claims;
use crate::store::auth::{Grant, grant_of_access_token};
use crate::store::now;
use crate::store::users::User;

pub async fn userinfo(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let org = state.organization(&path).await?;
    let header = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok());
    let from_header =
        header.and_then(|h| super::token::strip_scheme(h, "Bearer").map(str::to_string));
    let from_body = if req.method() == actix_web::http::Method::POST {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
        Params::from_pairs(pairs)
            .get("access_token")
            .map(str::to_string)
    } else {
        None
    };
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::new(
                "invalid_request",
                "send the token once, not in both header and body",
            ));
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            let mut e = OAuthError::invalid_token("an access token is required");
            // RFC 6750 §3.1: no error code when the request had no credentials at all.
            e.error = "invalid_request";
            e.challenge = Some("Bearer realm=\"sesame\"".into());
            return Err(e);
        }
    };

    let (claims, grant) = match live_access_token(&state, &org, &token).await? {
        Ok(found) => found,
        Err(why) => return Err(OAuthError::invalid_token(why)),
    };
    if claims["aud"] != format!("{}/userinfo", org.issuer).as_str() {
        return Err(OAuthError::invalid_token(
            "this access token is for another resource",
        ));
    }
    let (org_id, user_id) = (org.org.id, grant.user_id.clone());
    let user = match user_id {
        Some(id) => {
            state
                .db
                .run(move |conn| User::find(conn, org_id, &id))
                .await?
        }
        None => None,
    };
    let Some(user) = user.filter(|u| !u.disabled) else {
        return Err(OAuthError::invalid_token(
            "the access token is not for a user",
        ));
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(userinfo_claims(
            &user,
            &grant.scope,
            &grant.claims_request().userinfo,
        )))
}

/// The claims and live grant of an access token this issuer signed, or why it is not usable:
/// signature, `typ`, issuer, audience, expiry, and its grant not revoked.
pub(super) async fn live_access_token(
    state: &AppState,
    org: &OrgEntry,
    token: &str,
) -> Result<Result<(Value, Grant), &'static str>, OAuthError> {
    let keys = state.keys.get(&state.db, org.org.id).await?;
    let Some((header, claims)) =
        crate::keys::jwk::decode_verified(token, |kid| kid.and_then(|k| keys.verifier(k)))
    else {
        return Ok(Err(
            "the access token is malformed or its signature is not valid",
        ));
    };
    // For UserInfo or for one of the organization's registered APIs.
    let userinfo_aud = format!("{}/userinfo", org.issuer);
    let hub = crate::events::hub::hub_url(state.settings.base_url.as_str());
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
    match state
        .db
        .run(move |conn| grant_of_access_token(conn, &jti))
        .await?
    {
        Some(grant) => Ok(Ok((claims, grant))),
        None => Ok(Err("the access token has been revoked")),
    }
}
