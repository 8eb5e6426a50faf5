//! ID tokens (OIDC Core §2), JWT access tokens (RFC 9068) and UserInfo claims by scope.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha512};

use crate::keys::{Alg, KeyError, Signer};
use crate::store::auth::Grant;
use crate::store::users::User;

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the access token's hash, with the hash of
/// the ID token's algorithm (SHA-512 for Ed25519, as the conformance suite expects).
pub fn at_hash(access_token: &str, alg: Alg) -> String {
    let digest: Vec<u8> = match alg {
        Alg::RS256 | Alg::ES256 => Sha256::digest(access_token.as_bytes()).to_vec(),
        Alg::EdDSA => Sha512::digest(access_token.as_bytes()).to_vec(),
    };
    B64URL.encode(&digest[..digest.len() / 2])
}

/// The access-token claim naming the grant a user's token was issued from: revoking the grant
/// (logout, a reused code or refresh token, a password change) ends the token.
pub const GRANT_ID_CLAIM: &str = "grant_id";
/// The access-token claim saying how a token without a user was obtained (as Auth0's `gty`):
/// [`CLIENT_CREDENTIALS`], a token that lives as long as its client exists.
pub const GRANT_TYPE_CLAIM: &str = "gty";
pub const CLIENT_CREDENTIALS: &str = "client_credentials";
/// The access-token claim naming the application a client-credentials token was issued to (its
/// id, not its client id): a token of a deleted application is not taken for one of an
/// application created later with the same client id.
pub const APPLICATION_CLAIM: &str = "app_id";

/// What every token of one issuance shares.
#[derive(Debug)]
pub struct Issue<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub subject: &'a str,
    pub grant: &'a Grant,
    pub now: i64,
}

impl Issue<'_> {
    fn amr(&self) -> Value {
        serde_json::from_str(&self.grant.amr).unwrap_or_else(|_| json!([]))
    }

    /// An RFC 9068 access token for the UserInfo endpoint or an API. Nothing is recorded when
    /// it is issued: it names what it stands on, checked whenever it is presented — a user's
    /// token its grant (`grant_id`), a client-credentials token its client (`gty`, with
    /// `client_id`).
    pub fn access_token(
        &self,
        signer: &Signer,
        jti: &str,
        lifetime: i64,
    ) -> Result<String, KeyError> {
        let mut claims = json!({
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.grant.resource.clone().unwrap_or_else(|| format!("{}/userinfo", self.issuer)),
            "client_id": self.client_id,
            "scope": self.grant.scope,
            "jti": jti,
            "iat": self.now,
            "exp": self.now + lifetime,
        });
        // Tokens for a user say how the user signed in; client_credentials tokens have no user.
        if self.grant.user_id.is_some() {
            claims["auth_time"] = json!(self.grant.auth_time);
            claims["acr"] = json!(self.grant.acr);
            claims["amr"] = self.amr();
            claims[GRANT_ID_CLAIM] = json!(self.grant.id);
        } else {
            claims[GRANT_TYPE_CLAIM] = json!(CLIENT_CREDENTIALS);
            claims[APPLICATION_CLAIM] = json!(self.grant.application_id);
        }
        signer.sign_compact("at+jwt", claims.to_string().as_bytes())
    }

    /// An ID token. `with_nonce` is false for refreshes (OIDC Core §12.2: the refreshed token
    /// should not carry the nonce); everything else keeps the original authentication's values.
    pub fn id_token(
        &self,
        signer: &Signer,
        access_token: &str,
        lifetime: i64,
        with_nonce: bool,
        user_claims: Map<String, Value>,
    ) -> Result<String, KeyError> {
        let mut claims = json!({
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.client_id,
            "azp": self.client_id,
            "iat": self.now,
            "exp": self.now + lifetime,
            "auth_time": self.grant.auth_time,
            "acr": self.grant.acr,
            "amr": self.amr(),
            "at_hash": at_hash(access_token, signer.alg),
        });
        if let Some(sid) = &self.grant.sid {
            claims["sid"] = json!(sid);
        }
        if with_nonce && let Some(nonce) = &self.grant.nonce {
            claims["nonce"] = json!(nonce);
        }
        // Claims asked for in the ID token by the `claims` parameter; never override the above.
        if let Value::Object(map) = &mut claims {
            for (k, v) in user_claims {
                map.entry(k).or_insert(v);
            }
        }
        signer.sign_compact("JWT", claims.to_string().as_bytes())
    }
}

/// The claims each scope releases (OIDC Core §5.4).
fn scope_claims(scope: &str) -> Vec<&'static str> {
    let mut names = Vec::new();
    for s in scope.split(' ') {
        names.extend_from_slice(match s {
            "profile" => &[
                "name",
                "family_name",
                "given_name",
                "middle_name",
                "nickname",
                "preferred_username",
                "profile",
                "picture",
                "website",
                "gender",
                "birthdate",
                "zoneinfo",
                "locale",
                "updated_at",
            ][..],
            "email" => &["email", "email_verified"][..],
            "address" => &["address"][..],
            "phone" => &["phone_number", "phone_number_verified"][..],
            _ => &[][..],
        });
    }
    names
}

/// The scope that releases a claim, if any: a claim asked for by name counts as that scope
/// when a third-party application's consent is checked.
pub fn scope_of_claim(claim: &str) -> Option<&'static str> {
    ["profile", "email", "address", "phone"]
        .into_iter()
        .find(|s| scope_claims(s).contains(&claim))
}

/// Every claim Sesame holds about the user (absent values are left out).
fn all_claims(user: &User) -> Map<String, Value> {
    let mut out = match serde_json::to_value(&user.profile) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    out.entry("preferred_username")
        .or_insert_with(|| json!(user.username.as_str()));
    out.insert("updated_at".into(), json!(user.updated_at));
    if let Some(email) = &user.email {
        out.insert("email".into(), json!(email.as_str()));
        out.insert("email_verified".into(), json!(user.email_verified));
    }
    if let Some(phone) = &user.phone_number {
        out.insert("phone_number".into(), json!(phone.as_str()));
        out.insert(
            "phone_number_verified".into(),
            json!(user.phone_number_verified),
        );
    }
    out
}

/// The user's claims named in `names` (those Sesame has).
pub fn claims_named(user: &User, names: &[String]) -> Map<String, Value> {
    all_claims(user)
        .into_iter()
        .filter(|(k, _)| names.iter().any(|n| n == k))
        .collect()
}

/// The UserInfo response: `sub`, the claims the granted scopes allow, and those asked for by
/// name in the `claims` request parameter (OIDC Core §5.4, §5.5).
pub fn userinfo_claims(user: &User, scope: &str, requested: &[String]) -> Value {
    let allowed = scope_claims(scope);
    let mut out: Map<String, Value> = all_claims(user)
        .into_iter()
        .filter(|(k, _)| allowed.contains(&k.as_str()) || requested.iter().any(|r| r == k))
        .collect();
    out.insert("sub".into(), json!(user.id));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_oidc_example() {
        // OIDC Core appendix A.3: access token and its at_hash for RS256.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", Alg::RS256),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
