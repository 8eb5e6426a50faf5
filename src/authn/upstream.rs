//! Sesame as a relying party of an upstream OpenID provider, free of the web framework.
//!
//! [`begin`] builds the authorization request (code flow, PKCE S256, a fresh `state` and
//! `nonce`; the state is kept hashed with the sign-in it belongs to). [`finish`] checks the
//! provider's answer (RFC 9207 `iss`, its error), exchanges the code, verifies the ID token
//! (signature, issuer, audience, expiry, nonce) with the `openidconnect` crate (or, for RFC
//! 9864's `Ed25519` which it cannot parse, with Sesame's own JOSE layer), reads UserInfo
//! when the provider has it, and finds the local user by the upstream issuer and subject (see
//! [`super::federation::link`]). All requests to the provider go through the outbound client and
//! its egress policy. Failures are logged here, where their detail is known, and answered as an
//! [`UpstreamError`] the web layer renders as a readable page.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreProviderMetadata,
};
use openidconnect::{
    AuthType, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, RedirectUrl,
    Scope,
};
use serde_json::{Map, Value};

use super::engine::Purpose;
use super::federation::{IdentityProvider, Linked, link};
use crate::outbound::{Outbound, OutboundError};
use crate::secret::{random_token, sha256_hex};
use crate::state::{Core, OrgEntry};
use crate::store::federation::FederationState;
use crate::store::{StoreError, now, write_transaction};

/// How long a redirect to the provider may take to come back.
const STATE_LIFETIME: i64 = 600;
/// How long a provider's discovery document (and its keys) is reused.
const METADATA_TTL: Duration = Duration::from_secs(600);

/// Why an upstream sign-in cannot go on (the detail is logged where it happened).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The provider cannot be reached, or Sesame's settings for it are unusable.
    #[error("the provider cannot be reached")]
    Unreachable,
    /// The provider's answer could not be verified.
    #[error("the provider's answer could not be verified")]
    Unverified,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A provider's discovery document (and keys), and whether it promises RFC 9207's `iss` in
/// its answers (`authorization_response_iss_parameter_supported`, which the library's type does
/// not carry).
#[derive(Debug)]
struct Upstream {
    meta: CoreProviderMetadata,
    sends_iss: bool,
    /// The document as published: what the library's types drop (RFC 9864's `Ed25519` in
    /// `id_token_signing_alg_values_supported`, the `jwks_uri` for such keys).
    raw: Value,
}

/// Providers' discovery documents, by discovery URL.
#[derive(Debug, Default)]
pub struct UpstreamCache(RwLock<HashMap<String, (Instant, Arc<Upstream>)>>);

impl UpstreamCache {
    fn get(&self, url: &str) -> Option<Arc<Upstream>> {
        let map = self.0.read().expect("upstream cache lock");
        map.get(url)
            .filter(|(at, _)| at.elapsed() < METADATA_TTL)
            .map(|(_, m)| m.clone())
    }

    fn put(&self, url: &str, upstream: Arc<Upstream>) {
        self.0
            .write()
            .expect("upstream cache lock")
            .insert(url.to_string(), (Instant::now(), upstream));
    }

    /// Forgets a document, so the next use fetches it (and the provider's keys) again.
    fn forget(&self, url: &str) {
        self.0.write().expect("upstream cache lock").remove(url);
    }
}

/// Sends one of `openidconnect`'s requests through the outbound client (egress policy, time
/// limits, size cap, no redirects).
async fn call(
    outbound: &Outbound,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, OutboundError> {
    let (parts, body) = request.into_parts();
    let builder = outbound
        .request(parts.method, &parts.uri.to_string())?
        .headers(parts.headers)
        .body(body);
    let (status, headers, body) = outbound.send_capped_with_headers(builder).await?;
    let mut response = openidconnect::http::Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// The provider's discovery document (and keys), from the cache or fetched.
async fn metadata(core: &Core, provider: &IdentityProvider) -> Result<Arc<Upstream>, String> {
    if let Some(upstream) = core.upstream.get(&provider.discovery_url) {
        return Ok(upstream);
    }
    let issuer = IssuerUrl::new(provider.issuer().to_string()).map_err(|e| e.to_string())?;
    let outbound = core.outbound.clone();
    let http = |r| call(&outbound, r);
    let meta = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .map_err(|e| error_chain(&e))?;
    let raw = core
        .outbound
        .get_json(&format!(
            "{}/.well-known/openid-configuration",
            provider.issuer()
        ))
        .await
        .map_err(|e| e.to_string())?;
    let upstream = Arc::new(Upstream {
        meta,
        sends_iss: raw["authorization_response_iss_parameter_supported"] == true,
        raw,
    });
    core.upstream.put(&provider.discovery_url, upstream.clone());
    Ok(upstream)
}

/// [`metadata`], a failure logged and answered as unreachable.
async fn discovered(
    core: &Core,
    provider: &IdentityProvider,
) -> Result<Arc<Upstream>, UpstreamError> {
    metadata(core, provider).await.map_err(|e| {
        tracing::warn!(provider = %provider.name, error = %e, "upstream discovery failed");
        UpstreamError::Unreachable
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn redirect_uri(org: &OrgEntry, provider: &IdentityProvider) -> String {
    format!("{}/federated/{}/callback", org.issuer, provider.name)
}

type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn client(
    org: &OrgEntry,
    provider: &IdentityProvider,
    meta: &CoreProviderMetadata,
) -> Result<Client, String> {
    let secret = provider.client_secret.resolve()?;
    let redirect = RedirectUrl::new(redirect_uri(org, provider)).map_err(|e| e.to_string())?;
    // client_secret_basic unless the provider only takes client_secret_post.
    let post_only = meta
        .token_endpoint_auth_methods_supported()
        .is_some_and(|m| {
            !m.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && m.contains(&CoreClientAuthMethod::ClientSecretPost)
        });
    let client = CoreClient::from_provider_metadata(
        meta.clone(),
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(redirect);
    Ok(if post_only {
        client.set_auth_type(AuthType::RequestBody)
    } else {
        client
    })
}

/// Starts a sign-in at the provider for the sign-in `tx_id`: records the state and returns the
/// URL to send the browser to.
pub async fn begin(
    core: &Core,
    org: &OrgEntry,
    provider: &IdentityProvider,
    tx_id: &str,
    purpose: &Purpose,
) -> Result<String, UpstreamError> {
    let upstream = discovered(core, provider).await?;
    let client = client(org, provider, &upstream.meta).map_err(|e| {
        tracing::error!(provider = %provider.name, error = %e, "upstream client settings unusable");
        UpstreamError::Unreachable
    })?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state_value = random_token(32);
    let nonce = random_token(32);
    let (s, n) = (state_value.expose().clone(), nonce.expose().clone());
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(s),
            move || Nonce::new(n),
        )
        .set_pkce_challenge(challenge);
    for scope in provider.scopes.iter().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    // A client that asked for a fresh sign-in gets one upstream too (OIDC Core §3.1.2.1): the
    // provider's session would otherwise stand in for it.
    if let Purpose::Authorize { auth, .. } = purpose {
        if auth.prompt_login {
            request = request.add_prompt(openidconnect::core::CoreAuthPrompt::Login);
        }
        if let Some(max_age) = auth.max_age {
            request = request.set_max_age(Duration::from_secs(max_age.max(0) as u64));
        }
    }
    let (url, _, _) = request.url();
    let t = now();
    let record = FederationState {
        state_hash: sha256_hex(state_value.expose()),
        organization_id: org.org.id,
        transaction_id: tx_id.to_string(),
        provider: provider.name.clone(),
        nonce: nonce.expose().clone(),
        pkce_verifier: verifier.secret().clone(),
        created_at: t,
        expires_at: t + STATE_LIFETIME,
        used_at: None,
    };
    core.db
        .run(move |conn| FederationState::insert(conn, &record))
        .await?;
    Ok(url.to_string())
}

/// The unspent sign-in at `provider` that the answer's `state` belongs to, if any.
pub async fn pending(
    core: &Core,
    org: &OrgEntry,
    provider: &IdentityProvider,
    state_value: &str,
) -> Result<Option<FederationState>, StoreError> {
    let (org_id, hash) = (org.org.id, sha256_hex(state_value));
    let found = core
        .db
        .run(move |conn| FederationState::find(conn, org_id, &hash))
        .await?;
    Ok(found.filter(|f| f.provider == provider.name))
}

/// Spends the answer's `state`; false when it was spent already (or expired meanwhile).
pub async fn take(core: &Core, org: &OrgEntry, state_value: &str) -> Result<bool, StoreError> {
    let (org_id, hash) = (org.org.id, sha256_hex(state_value));
    let taken = core
        .db
        .run(move |conn| FederationState::take(conn, org_id, &hash))
        .await?;
    Ok(taken.is_some())
}

/// The provider's answer at the callback, as sent.
#[derive(Debug)]
pub struct Answer {
    pub code: Option<String>,
    pub error: Option<String>,
    pub iss: Option<String>,
}

/// What became of a verified answer.
#[derive(Debug)]
pub enum Finished {
    /// The local account of the upstream one (linked or created as the settings allow), and
    /// when the user signed in at the provider.
    Linked(Linked, i64),
    /// The provider refused the sign-in with this (well-formed) error code.
    Refused(String),
}

/// Checks the provider's answer to the sign-in `flight` (its state spent), exchanges the code,
/// verifies the ID token and finds the local user. `tx_user` is the user the sign-in is for,
/// when it is known (a step-up or an account check).
pub async fn finish(
    core: &Core,
    org: &Arc<OrgEntry>,
    provider: &IdentityProvider,
    flight: &FederationState,
    answer: Answer,
    tx_user: Option<String>,
) -> Result<Finished, UpstreamError> {
    let upstream = discovered(core, provider).await?;
    // RFC 9207: an answer naming another issuer is a mix-up; a provider that promises `iss`
    // and leaves it out is refused too. Checked before an error is believed.
    let iss_ok = match answer.iss.as_deref() {
        Some(iss) => iss == provider.issuer(),
        None => !upstream.sends_iss,
    };
    if !iss_ok {
        tracing::warn!(provider = %provider.name, "upstream answer with a wrong or missing iss");
        return Err(UpstreamError::Unverified);
    }
    if let Some(error) = answer.error {
        // Only a well-formed error code is logged or repeated (RFC 6749 §4.1.2.1).
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        tracing::info!(provider = %provider.name, error = %code, "upstream sign-in refused");
        return Ok(Finished::Refused(code));
    }
    let Some(code) = answer.code.filter(|c| !c.is_empty()) else {
        return Err(UpstreamError::Unverified);
    };
    let (claims, profile) = match verify(core, org, provider, &upstream, code, flight).await {
        Ok(c) => c,
        Err(Failure::Unreachable(e)) => {
            tracing::warn!(provider = %provider.name, error = %e, "upstream unreachable");
            return Err(UpstreamError::Unreachable);
        }
        Err(Failure::Unverified(e)) => {
            tracing::warn!(provider = %provider.name, error = %e, "upstream answer refused");
            return Err(UpstreamError::Unverified);
        }
    };
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    // The time of the sign-in at the provider when it says (never in the future): the session's
    // auth_time must not claim a fresher sign-in than happened.
    let t = now();
    let at = claims
        .get("auth_time")
        .and_then(Value::as_i64)
        .map_or(t, |a| a.min(t));
    let mapped = provider.map(&claims);
    let issuer = provider.issuer().to_string();
    let run_link = || {
        let (p, issuer, subject, mapped, tx_user) = (
            provider.clone(),
            issuer.clone(),
            subject.clone(),
            mapped.clone(),
            tx_user.clone(),
        );
        let entry = org.clone();
        core.db.run(move |conn| {
            write_transaction(conn, |conn| {
                let origin = entry.event_origin();
                link(
                    conn,
                    origin,
                    &p,
                    (&issuer, &subject),
                    (&mapped, profile),
                    tx_user.as_deref(),
                )
            })
        })
    };
    // Two first sign-ins of one upstream account at once (two tabs) race to create the same
    // rows; the loser of the race finds the winner's on a second look.
    let linked = match run_link().await {
        Err(StoreError::Conflict(_)) => run_link().await?,
        other => other?,
    };
    Ok(Finished::Linked(linked, at))
}

use super::federation::UpstreamProfile as Profile;

enum Failure {
    Unreachable(String),
    Unverified(String),
}

/// Exchanges the code and verifies the ID token; returns the upstream claims (the ID token's,
/// completed by UserInfo's for the same subject) and whether the profile is whole: `false`
/// when the provider has a UserInfo endpoint that failed.
async fn verify(
    core: &Core,
    org: &OrgEntry,
    provider: &IdentityProvider,
    upstream: &Upstream,
    code: String,
    flight: &FederationState,
) -> Result<(Map<String, Value>, Profile), Failure> {
    let meta = &upstream.meta;
    let client = client(org, provider, meta).map_err(Failure::Unreachable)?;
    let tokens = exchange(core, org, provider, meta, code, flight).await?;
    let raw_id = tokens["id_token"]
        .as_str()
        .ok_or_else(|| Failure::Unverified("no ID token in the token response".into()))?
        .to_string();
    let access_token = tokens["access_token"]
        .as_str()
        .ok_or_else(|| Failure::Unverified("no access token in the token response".into()))?
        .to_string();
    let nonce = Nonce::new(flight.nonce.clone());
    let alg = crate::keys::jwk::unverified_header(&raw_id)
        .and_then(|h| h["alg"].as_str().map(str::to_string))
        .unwrap_or_default();
    let subject = if alg == "Ed25519" {
        // RFC 9864's fully specified name, which the library cannot parse: verified here.
        fully_specified(core, provider, upstream, &raw_id, flight).await?
    } else {
        let id_token: openidconnect::core::CoreIdToken =
            serde_json::from_value(Value::String(raw_id.clone()))
                .map_err(|e| Failure::Unverified(format!("unreadable ID token: {e}")))?;
        match id_token.claims(&verifier(&client, meta), &nonce) {
            Ok(verified) => verified.subject().to_string(),
            // The provider may have rotated its keys since they were cached: fetch them afresh
            // and verify once more (only for a signature failure, so bad requests cannot make
            // Sesame refetch at will).
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                core.upstream.forget(&provider.discovery_url);
                let fresh = metadata(core, provider)
                    .await
                    .map_err(Failure::Unreachable)?;
                let again =
                    self::client(org, provider, &fresh.meta).map_err(Failure::Unreachable)?;
                id_token
                    .claims(&verifier(&again, &fresh.meta), &nonce)
                    .map_err(|e| Failure::Unverified(error_chain(&e)))?
                    .subject()
                    .to_string()
            }
            Err(e) => return Err(Failure::Unverified(error_chain(&e))),
        }
    };
    let id_token = raw_id;
    // The verified token's payload, for claims the mapping names (any name, not only the
    // standard ones the library types).
    let mut claims = jwt_payload(&id_token)
        .ok_or_else(|| Failure::Unverified("unreadable ID token payload".into()))?;
    let mut profile = Profile::Whole;
    if let Some(endpoint) = meta.userinfo_endpoint() {
        match userinfo(core, endpoint.as_str(), &access_token).await {
            Ok(info) if info.get("sub").and_then(Value::as_str) == Some(subject.as_str()) => {
                for (k, v) in info {
                    if !matches!(k.as_str(), "sub" | "iss" | "aud") {
                        claims.insert(k, v);
                    }
                }
            }
            Ok(_) => {
                return Err(Failure::Unverified(
                    "UserInfo is about another subject".into(),
                ));
            }
            // The ID token alone is enough to sign a known user in; its claims are used. A
            // new user is not made from it (see `federation::link`).
            Err(e) => {
                tracing::warn!(provider = %provider.name, error = %e, "upstream UserInfo failed");
                profile = Profile::Partial;
            }
        }
    }
    Ok((claims, profile))
}

/// Exchanges the code at the provider's token endpoint (`client_secret_basic`, or
/// `client_secret_post` when that is all the provider takes) and returns its JSON answer. Done
/// here rather than by the library, whose token response cannot hold an ID token signed with an
/// algorithm it does not know.
async fn exchange(
    core: &Core,
    org: &OrgEntry,
    provider: &IdentityProvider,
    meta: &CoreProviderMetadata,
    code: String,
    flight: &FederationState,
) -> Result<Value, Failure> {
    let endpoint = meta
        .token_endpoint()
        .ok_or_else(|| Failure::Unreachable("the provider has no token endpoint".into()))?;
    let secret = provider
        .client_secret
        .resolve()
        .map_err(Failure::Unreachable)?;
    let post_only = meta
        .token_endpoint_auth_methods_supported()
        .is_some_and(|m| {
            !m.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && m.contains(&CoreClientAuthMethod::ClientSecretPost)
        });
    let redirect = redirect_uri(org, provider);
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", flight.pkce_verifier.as_str()),
    ];
    let mut request = core
        .outbound
        .request(reqwest::Method::POST, endpoint.as_str())
        .map_err(|e| Failure::Unreachable(e.to_string()))?
        .header("Accept", "application/json");
    if post_only {
        form.push(("client_id", provider.client_id.as_str()));
        form.push(("client_secret", secret.as_str()));
    } else {
        // RFC 6749 §2.3.1: both form-encoded before they are put in the header.
        let encode =
            |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        request = request.basic_auth(encode(&provider.client_id), Some(encode(&secret)));
    }
    let body =
        serde_urlencoded::to_string(&form).map_err(|e| Failure::Unreachable(e.to_string()))?;
    let request = request
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    let (status, _, body) = core
        .outbound
        .send_capped_with_headers(request)
        .await
        .map_err(|e| Failure::Unreachable(e.to_string()))?;
    let answer: Value = serde_json::from_slice(&body)
        .map_err(|e| Failure::Unverified(format!("token response is not JSON: {e}")))?;
    if !status.is_success() {
        // Only a well-formed error code is repeated (as for the authorization answer).
        let code: String = answer["error"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(Failure::Unverified(format!(
            "the token endpoint answered {status}: {code}"
        )));
    }
    if !answer["token_type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    {
        return Err(Failure::Unverified("the token type is not Bearer".into()));
    }
    Ok(answer)
}

/// Verifies an ID token signed with RFC 9864's `Ed25519` (which the provider must announce):
/// the signature with one of its Ed25519 keys, then issuer, audience (and `azp` when there are
/// several), expiry, issue time and nonce, as OpenID Connect Core §3.1.3.7 says. Returns the
/// subject.
async fn fully_specified(
    core: &Core,
    provider: &IdentityProvider,
    upstream: &Upstream,
    id_token: &str,
    flight: &FederationState,
) -> Result<String, Failure> {
    use crate::keys::jwk;
    let announced = upstream.raw["id_token_signing_alg_values_supported"]
        .as_array()
        .is_some_and(|algs| algs.iter().any(|a| a == "Ed25519"));
    if !announced {
        return Err(Failure::Unverified(
            "an ID token signed with Ed25519, which the provider does not announce".into(),
        ));
    }
    let jwks_uri = upstream.raw["jwks_uri"]
        .as_str()
        .ok_or_else(|| Failure::Unverified("the provider has no jwks_uri".into()))?;
    let doc = core
        .outbound
        .get_json(jwks_uri)
        .await
        .map_err(|e| Failure::Unreachable(e.to_string()))?;
    // Keys of other kinds, or that Sesame cannot use, are passed over, not fatal.
    let keys: Vec<(Option<String>, Arc<jwk::Verifier>)> = doc["keys"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|k| {
            let verifier = jwk::Verifier::from_jwk(k).ok()?;
            (verifier.alg == crate::keys::Alg::EdDSA)
                .then(|| (k["kid"].as_str().map(str::to_string), Arc::new(verifier)))
        })
        .collect();
    let kid = jwk::unverified_header(id_token).and_then(|h| h["kid"].as_str().map(str::to_string));
    let verified = keys
        .iter()
        .filter(|(k, _)| kid.is_none() || k.is_none() || *k == kid)
        .find_map(|(_, v)| jwk::decode_verified(id_token, |_| Some(v.clone())))
        .map(|(_, claims)| claims)
        .ok_or_else(|| Failure::Unverified("the ID token's signature does not verify".into()))?;
    check_claims(&verified, provider, &flight.nonce, now()).map_err(Failure::Unverified)?;
    Ok(verified["sub"].as_str().unwrap_or_default().to_string())
}

/// The checks of OpenID Connect Core §3.1.3.7 on a verified ID token's claims (a minute of clock
/// skew allowed).
fn check_claims(
    claims: &Value,
    provider: &IdentityProvider,
    nonce: &str,
    now: i64,
) -> Result<(), String> {
    const SKEW: i64 = 60;
    if claims["iss"].as_str() != Some(provider.issuer()) {
        return Err("the ID token's issuer is not the provider".into());
    }
    let client = provider.client_id.as_str();
    let audiences: Vec<&str> = match &claims["aud"] {
        Value::String(a) => vec![a.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&client) {
        return Err("the ID token is not for Sesame".into());
    }
    if audiences.len() > 1 && claims["azp"].as_str() != Some(client) {
        return Err("the ID token has several audiences and another azp".into());
    }
    if claims["exp"].as_i64().is_none_or(|exp| exp + SKEW <= now) {
        return Err("the ID token has expired".into());
    }
    if claims["iat"].as_i64().is_none_or(|iat| iat - SKEW > now) {
        return Err("the ID token has no or a future issue time".into());
    }
    if claims["nonce"].as_str() != Some(nonce) {
        return Err("the ID token's nonce is not this sign-in's".into());
    }
    if claims["sub"].as_str().is_none_or(str::is_empty) {
        return Err("the ID token has no subject".into());
    }
    Ok(())
}

/// The ID token verifier for the algorithms the provider says it signs with (asymmetric ones
/// only; the library's default is RS256 alone).
fn verifier<'a>(
    client: &'a Client,
    meta: &CoreProviderMetadata,
) -> openidconnect::core::CoreIdTokenVerifier<'a> {
    use openidconnect::core::CoreJwsSigningAlgorithm as A;
    let algs: Vec<A> = meta
        .id_token_signing_alg_values_supported()
        .iter()
        .filter(|a| {
            matches!(
                a,
                A::RsaSsaPkcs1V15Sha256
                    | A::RsaSsaPkcs1V15Sha384
                    | A::RsaSsaPkcs1V15Sha512
                    | A::RsaSsaPssSha256
                    | A::RsaSsaPssSha384
                    | A::RsaSsaPssSha512
                    | A::EcdsaP256Sha256
                    | A::EcdsaP384Sha384
                    | A::EdDsa
            )
        })
        .cloned()
        .collect();
    client.id_token_verifier().set_allowed_algs(algs)
}

fn jwt_payload(jwt: &str) -> Option<Map<String, Value>> {
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// UserInfo as JSON (a signed or encrypted answer is not read: the ID token suffices).
async fn userinfo(
    core: &Core,
    endpoint: &str,
    access_token: &str,
) -> Result<Map<String, Value>, String> {
    let request = core
        .outbound
        .request(reqwest::Method::GET, endpoint)
        .map_err(|e| e.to_string())?
        .bearer_auth(access_token)
        .header("Accept", "application/json");
    let (status, headers, body) = core
        .outbound
        .send_capped_with_headers(request)
        .await
        .map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err("not a JSON answer".into());
    }
    serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_token_claims_are_checked_as_core_3_1_3_7_says() {
        let provider: IdentityProvider = serde_json::from_value(serde_json::json!({
            "name": "corp",
            "discovery_url": "https://idp.example/.well-known/openid-configuration",
            "client_id": "sesame",
            "client_secret": { "env": "UNUSED" },
        }))
        .unwrap();
        let now = 1_800_000_000;
        let good = serde_json::json!({
            "iss": "https://idp.example", "sub": "u1", "aud": "sesame",
            "exp": now + 300, "iat": now, "nonce": "n0",
        });
        assert_eq!(check_claims(&good, &provider, "n0", now), Ok(()));
        let with = |field: &str, value: Value| {
            let mut c = good.clone();
            c[field] = value;
            check_claims(&c, &provider, "n0", now)
        };
        assert!(with("iss", "https://evil.example".into()).is_err());
        assert!(with("aud", "someone-else".into()).is_err());
        assert!(
            with("aud", serde_json::json!(["sesame", "other"])).is_err(),
            "azp needed"
        );
        let mut both = good.clone();
        both["aud"] = serde_json::json!(["sesame", "other"]);
        both["azp"] = "sesame".into();
        assert_eq!(check_claims(&both, &provider, "n0", now), Ok(()));
        assert!(with("exp", (now - 61).into()).is_err());
        assert_eq!(with("exp", (now - 30).into()), Ok(()), "a minute of skew");
        assert!(with("iat", (now + 120).into()).is_err());
        assert!(with("nonce", "other".into()).is_err());
        assert!(with("sub", "".into()).is_err());
        assert!(check_claims(&good, &provider, "n1", now).is_err());
    }
}
