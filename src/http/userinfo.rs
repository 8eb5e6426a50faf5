//! The UserInfo endpoint (OIDC Core §5.3): GET or POST with a bearer token in the header, or
//! POST with `access_token` in the form body (RFC 6750 §2.2).

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::error::OAuthError;
use crate::oidc::authorize::Params;
use crate::oidc::client_auth::strip_scheme;
use crate::oidc::presented::{UserGrant, live_access_token};
use crate::oidc::tokens::userinfo_claims;

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
    let from_header = header.and_then(|h| strip_scheme(h, "Bearer").map(str::to_string));
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

    let live = match live_access_token(&state, &org, &token).await? {
        Ok(found) => found,
        Err(why) => return Err(OAuthError::invalid_token(why)),
    };
    let claims = &live.claims;
    if claims["aud"] != format!("{}/userinfo", org.issuer).as_str() {
        return Err(OAuthError::invalid_token(
            "this access token is for another resource",
        ));
    }
    // The user was read with the token's grant; a client-credentials token has none.
    let Some(UserGrant { grant, user }) = &live.user else {
        return Err(OAuthError::invalid_token(
            "the access token is not for a user",
        ));
    };
    // What this token's scope allows: a token from a refresh narrowed to fewer scopes releases
    // only those (RFC 6749 §6), and never more than the grant holds.
    let granted: Vec<&str> = grant.scope.split(' ').collect();
    let scope = claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| granted.contains(s))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(userinfo_claims(
            user,
            &scope,
            &grant.claims_request().userinfo,
        )))
}
