//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3,
//! OIDC Core §9): `client_secret_basic`, `client_secret_post`, `private_key_jwt` (RFC 7523) and
//! `none` for public clients. The web layer hands over the `Authorization` header and the form.

use base64::Engine;

use super::authorize::Params;
use super::token::TokenError;
use crate::domain::ClientType;
use crate::secret::sha256_hex;
use crate::state::{Core, OrgEntry};
use crate::store::applications::Application;
use crate::store::now;

/// The client's credentials as presented.
#[derive(Debug)]
pub struct Presented {
    client_id: String,
    secret: Option<String>,
    /// A `private_key_jwt` assertion (RFC 7523).
    assertion: Option<String>,
}

/// The credentials after an auth scheme, matched case-insensitively (RFC 7235 §2.1).
pub fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = header.split_once(' ')?;
    name.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `client_secret_basic` (RFC 6749 §2.3.1: id and secret are form-urlencoded inside Basic),
/// `client_secret_post`, or `none` (a public client sending only its id). `header` is the
/// request's `Authorization` header.
pub fn presented_credentials(
    header: Option<&str>,
    params: &Params,
) -> Result<Presented, TokenError> {
    if let Some(kind) = params.get("client_assertion_type") {
        if header.and_then(|h| strip_scheme(h, "Basic")).is_some()
            || params.get("client_secret").is_some()
        {
            return Err(TokenError::InvalidRequest(
                "use one client authentication method, not two".into(),
            ));
        }
        if kind != JWT_BEARER {
            return Err(TokenError::InvalidClient(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        let assertion = params
            .get("client_assertion")
            .ok_or_else(|| TokenError::InvalidRequest("client_assertion is required".into()))?;
        // The client is named by client_id, or else by the assertion's (still unverified) `sub`.
        let client_id = match params.get("client_id") {
            Some(id) => id.to_string(),
            None => crate::keys::jwk::unverified_claims(assertion)
                .and_then(|c| c["sub"].as_str().map(str::to_string))
                .ok_or_else(|| {
                    TokenError::InvalidClient("the client assertion names no client".into())
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
            return Err(TokenError::InvalidRequest(
                "use one client authentication method, not two".into(),
            ));
        }
        let bad = || TokenError::InvalidClient("malformed Basic credentials".into());
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
            return Err(TokenError::InvalidClient(
                "client_id differs from the authenticated client".into(),
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
        .ok_or_else(|| TokenError::InvalidClient("client authentication is required".into()))?;
    Ok(Presented {
        client_id: client_id.to_string(),
        secret: params.get("client_secret").map(str::to_string),
        assertion: None,
    })
}

/// Finds and authenticates the client. Unknown clients and wrong secrets get the same answer.
pub async fn authenticate(
    core: &Core,
    org: &OrgEntry,
    p: &Presented,
) -> Result<Application, TokenError> {
    let (org_id, client_id) = (org.org.id, p.client_id.clone());
    let app = core
        .db
        .run(move |conn| Application::find(conn, org_id, &client_id))
        .await?;
    let fail = || TokenError::InvalidClient("client authentication failed".into());
    let app = app.ok_or_else(fail)?;
    if let Some(assertion) = &p.assertion {
        if app.client_type != ClientType::Confidential {
            return Err(fail());
        }
        return check_assertion(core, org, &app, assertion)
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
    core: &Core,
    org: &OrgEntry,
    app: &Application,
    assertion: &str,
) -> Result<(), TokenError> {
    let fail = |why: &str| TokenError::InvalidClient(format!("client assertion: {why}"));
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
            let keys = core.client_keys(&app.id, uri, false).await.map_err(unusable)?;
            match verify(&keys) {
                Some(claims) => Some(claims),
                // Perhaps the client rotated its keys: fetch them again (rate-limited).
                None => verify(&core.client_keys(&app.id, uri, true).await.map_err(unusable)?),
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
    let first_use = core
        .db
        .run(move |conn| crate::store::auth::record_assertion(conn, &id, exp))
        .await?;
    if first_use {
        Ok(())
    } else {
        Err(fail("this assertion was already used"))
    }
}
