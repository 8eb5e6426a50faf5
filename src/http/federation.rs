//! The `federated:<name>` first step: Sesame as a relying party of an upstream OpenID provider.
//!
//! `POST /t/{org}/federated/{name}` (a button on the sign-in page) sends the browser to the
//! provider with the code flow, PKCE S256, a fresh `state` and `nonce`; the state is kept hashed
//! with the sign-in it belongs to. `GET /t/{org}/federated/{name}/callback` takes the state once,
//! checks the sign-in is this browser's, exchanges the code, verifies the ID token (signature,
//! issuer, audience, expiry, nonce) with the `openidconnect` crate, reads UserInfo when the
//! provider has it, and finds the local user by the upstream issuer and subject (see
//! `authn::federation` for linking and the phone-number rule). Every upstream failure ends on a
//! readable page. All requests to the provider go through the outbound client and its egress
//! policy.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreProviderMetadata,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::browser::{
    csrf_matches, ctx, expired_page, form_expired_page, open_transaction, refusal_page, see_other,
    sign_in,
};
use super::error::ApiError;
use super::signin::respond;
use super::{AppState, OrgEntry};
use crate::authn::engine::{self, Command, FormToken, Purpose, SignIn};
use crate::authn::federation::{IdentityProvider, Mapped};
use crate::authn::flow::Authenticator;
use crate::authn::outcome::Refusal;
use crate::domain::{Email, PhoneNumber, Username};
use crate::outbound::{Outbound, OutboundError};
use crate::secret::{random_token, sha256_hex};
use crate::store::federation::{FederatedIdentity, FederationState};
use crate::store::users::{Profile, User};
use crate::store::{now, write_transaction};

/// How long a redirect to the provider may take to come back.
const STATE_LIFETIME: i64 = 600;
/// How long a provider's discovery document (and its keys) is reused.
const METADATA_TTL: Duration = Duration::from_secs(600);

/// A provider's discovery document (and keys), and whether it promises RFC 9207's `iss` in
/// its answers (`authorization_response_iss_parameter_supported`, which the library's type does
/// not carry).
#[derive(Debug)]
struct Upstream {
    meta: CoreProviderMetadata,
    sends_iss: bool,
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
async fn metadata(state: &AppState, provider: &IdentityProvider) -> Result<Arc<Upstream>, String> {
    if let Some(upstream) = state.upstream.get(&provider.discovery_url) {
        return Ok(upstream);
    }
    let issuer = IssuerUrl::new(provider.issuer().to_string()).map_err(|e| e.to_string())?;
    let outbound = state.outbound.clone();
    let http = |r| call(&outbound, r);
    let meta = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .map_err(|e| error_chain(&e))?;
    let raw = state
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
    });
    state
        .upstream
        .put(&provider.discovery_url, upstream.clone());
    Ok(upstream)
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

fn unreachable_page(state: &AppState, provider: &IdentityProvider) -> HttpResponse {
    state.pages.error(
        StatusCode::BAD_GATEWAY,
        &format!("{} cannot be reached", provider.label()),
        &format!(
            "We could not reach {} to sign you in. Try again in a moment, or go back and sign in another way.",
            provider.label()
        ),
    )
}

fn unverified_page(state: &AppState, provider: &IdentityProvider) -> HttpResponse {
    state.pages.error(
        StatusCode::BAD_GATEWAY,
        &format!("{} could not be verified", provider.label()),
        &format!(
            "The answer from {} could not be verified, so you were not signed in. Go back to the application and try again; if it keeps happening, tell your administrator.",
            provider.label()
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    tx: Option<String>,
    csrf: Option<String>,
}

/// `POST /t/{org}/federated/{name}`: off to the provider.
pub async fn start(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    form: web::Form<StartForm>,
) -> Result<HttpResponse, ApiError> {
    let (slug, name) = path.into_inner();
    let org = state.organization(&slug).await?;
    let form = form.into_inner();
    let method = Authenticator::Federated(name.clone());
    let Some(signing_in) = first_step(&state, &org, &req, form.tx.clone(), &method).await? else {
        return Ok(expired_page(&state));
    };
    let (tx, purpose) = (&signing_in.tx, &signing_in.purpose);
    if !csrf_matches(form.csrf.as_deref(), tx) {
        return Ok(form_expired_page(&state));
    }
    let Some(provider) = org.org.settings.identity_provider(&name).cloned() else {
        return Ok(expired_page(&state));
    };
    let upstream = match metadata(&state, &provider).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(provider = %provider.name, error = %e, "upstream discovery failed");
            return Ok(unreachable_page(&state, &provider));
        }
    };
    let client = match client(&org, &provider, &upstream.meta) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(provider = %provider.name, error = %e, "upstream client settings unusable");
            return Ok(unreachable_page(&state, &provider));
        }
    };
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
        transaction_id: tx.id.clone(),
        provider: provider.name.clone(),
        nonce: nonce.expose().clone(),
        pkce_verifier: verifier.secret().clone(),
        created_at: t,
        expires_at: t + STATE_LIFETIME,
        used_at: None,
    };
    state
        .db
        .run(move |conn| FederationState::insert(conn, &record))
        .await?;
    Ok(see_other(url.as_str()))
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// What became of an upstream account here.
enum Linked {
    User(Box<User>),
    NoAccount,
    /// The account belongs to someone other than the user this sign-in is for (a step-up or
    /// an account check): nothing was changed.
    Another,
    /// A disabled account: nothing was linked or changed.
    Disabled,
}

/// `GET /t/{org}/federated/{name}/callback`: back from the provider.
pub async fn callback(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let (slug, name) = path.into_inner();
    let org = state.organization(&slug).await?;
    let query = query.into_inner();
    let Some(provider) = org.org.settings.identity_provider(&name).cloned() else {
        return Ok(expired_page(&state));
    };
    let Some(state_value) = query.state.filter(|s| !s.is_empty()) else {
        return Ok(state.pages.error(
            StatusCode::BAD_REQUEST,
            "This sign-in answer is incomplete",
            "The answer from the sign-in provider is missing its state. Go back to the application and start again.",
        ));
    };
    let spent = || {
        state.pages.error(
            StatusCode::BAD_REQUEST,
            "This sign-in answer has expired",
            "This answer from the sign-in provider was already used, has expired, or is not for this sign-in. Go back to the application and start again.",
        )
    };
    let (org_id, hash) = (org.org.id, sha256_hex(&state_value));
    let h = hash.clone();
    let found = state
        .db
        .run(move |conn| FederationState::find(conn, org_id, &h))
        .await?;
    let Some(flight) = found.filter(|f| f.provider == provider.name) else {
        return Ok(spent());
    };
    // Only the browser that was sent off may come back with the answer; another browser is
    // refused before the state is spent, so it cannot spoil the right one's sign-in.
    if open_transaction(&state, &org, &req, Some(flight.transaction_id.clone()))
        .await?
        .is_none()
    {
        return Ok(expired_page(&state));
    }
    let method = Authenticator::Federated(provider.name.clone());
    let tx_id = Some(flight.transaction_id.clone());
    let Some(signing_in) = first_step(&state, &org, &req, tx_id, &method).await? else {
        return Ok(expired_page(&state));
    };
    let tx = &signing_in.tx;
    let taken = state
        .db
        .run(move |conn| FederationState::take(conn, org_id, &hash))
        .await?;
    if taken.is_none() {
        return Ok(spent());
    }
    let upstream = match metadata(&state, &provider).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(provider = %provider.name, error = %e, "upstream discovery failed");
            return Ok(unreachable_page(&state, &provider));
        }
    };
    // RFC 9207: an answer naming another issuer is a mix-up; a provider that promises `iss`
    // and leaves it out is refused too. Checked before an error is believed.
    let iss_ok = match query.iss.as_deref() {
        Some(iss) => iss == provider.issuer(),
        None => !upstream.sends_iss,
    };
    if !iss_ok {
        tracing::warn!(provider = %provider.name, "upstream answer with a wrong or missing iss");
        return Ok(unverified_page(&state, &provider));
    }
    if let Some(error) = query.error {
        // Only a well-formed error code is logged or repeated (RFC 6749 §4.1.2.1).
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        tracing::info!(provider = %provider.name, error = %code, "upstream sign-in refused");
        return Ok(if code == "access_denied" {
            state.pages.error(
                StatusCode::FORBIDDEN,
                "Sign-in cancelled",
                &format!(
                    "{} did not sign you in (the sign-in was cancelled or refused). Go back to the application to try again, or sign in another way.",
                    provider.label()
                ),
            )
        } else {
            state.pages.error(
                StatusCode::BAD_GATEWAY,
                &format!("{} could not sign you in", provider.label()),
                &format!(
                    "{} answered with the error \"{code}\". Go back to the application and try again, or sign in another way.",
                    provider.label()
                ),
            )
        });
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        return Ok(unverified_page(&state, &provider));
    };
    let claims = match verify(&state, &org, &provider, &upstream, code, &flight).await {
        Ok(c) => c,
        Err(Failure::Unreachable(e)) => {
            tracing::warn!(provider = %provider.name, error = %e, "upstream unreachable");
            return Ok(unreachable_page(&state, &provider));
        }
        Err(Failure::Unverified(e)) => {
            tracing::warn!(provider = %provider.name, error = %e, "upstream answer refused");
            return Ok(unverified_page(&state, &provider));
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
    let tx_user = tx.user_id.clone();
    let run_link = || {
        let (p, issuer, subject, mapped, tx_user) = (
            provider.clone(),
            issuer.clone(),
            subject.clone(),
            mapped.clone(),
            tx_user.clone(),
        );
        let entry = org.clone();
        state.db.run(move |conn| {
            write_transaction(conn, |conn| {
                let origin = entry.event_origin();
                link(
                    conn,
                    origin,
                    &p,
                    (&issuer, &subject),
                    &mapped,
                    tx_user.as_deref(),
                )
            })
        })
    };
    // Two first sign-ins of one upstream account at once (two tabs) race to create the same
    // rows; the loser of the race finds the winner's on a second look.
    let linked = match run_link().await {
        Err(crate::store::StoreError::Conflict(_)) => run_link().await?,
        other => other?,
    };
    let user = match linked {
        Linked::User(u) => *u,
        Linked::NoAccount => {
            return Ok(state.pages.error(
                StatusCode::FORBIDDEN,
                "No account here",
                &format!(
                    "Your {} account is not linked to an account of {}. Ask your administrator for access, or sign in another way.",
                    provider.label(),
                    org.org.display_name
                ),
            ));
        }
        Linked::Another => return Ok(refusal_page(&state, Refusal::AnotherAccount)),
        Linked::Disabled => return Ok(refusal_page(&state, Refusal::Disabled)),
    };
    let command = Command::FirstStepPassed {
        user: Box::new(user),
        method,
        at,
    };
    let context = ctx(&state, &req, FormToken::NotAForm);
    let outcome = engine::run(&state, &signing_in, command, &context).await?;
    respond(&state, &signing_in, &req, outcome).await
}

/// The browser's sign-in `tx`, if its next step offers `method`.
async fn first_step(
    state: &AppState,
    org: &std::sync::Arc<OrgEntry>,
    req: &HttpRequest,
    tx: Option<String>,
    method: &Authenticator,
) -> Result<Option<SignIn>, ApiError> {
    let Some(signing_in) = sign_in(state, org, req, tx).await? else {
        return Ok(None);
    };
    Ok(engine::first_step(state, &signing_in, Some(method))
        .await?
        .map(|_| signing_in))
}

enum Failure {
    Unreachable(String),
    Unverified(String),
}

/// Exchanges the code and verifies the ID token; returns the upstream claims (the ID token's,
/// completed by UserInfo's for the same subject).
async fn verify(
    state: &AppState,
    org: &OrgEntry,
    provider: &IdentityProvider,
    upstream: &Upstream,
    code: String,
    flight: &FederationState,
) -> Result<Map<String, Value>, Failure> {
    let meta = &upstream.meta;
    let client = client(org, provider, meta).map_err(Failure::Unreachable)?;
    let outbound = state.outbound.clone();
    let http = |r| call(&outbound, r);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| Failure::Unreachable(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(flight.pkce_verifier.clone()))
        .request_async(&http)
        .await
        .map_err(|e| match e {
            openidconnect::RequestTokenError::Request(e) => Failure::Unreachable(error_chain(&e)),
            other => Failure::Unverified(error_chain(&other)),
        })?;
    let id_token = openidconnect::TokenResponse::id_token(&tokens)
        .ok_or_else(|| Failure::Unverified("no ID token in the token response".into()))?;
    let nonce = Nonce::new(flight.nonce.clone());
    let subject = match id_token.claims(&verifier(&client, meta), &nonce) {
        Ok(verified) => verified.subject().to_string(),
        // The provider may have rotated its keys since they were cached: fetch them afresh
        // and verify once more (only for a signature failure, so bad requests cannot make
        // Sesame refetch at will).
        Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
            state.upstream.forget(&provider.discovery_url);
            let fresh = metadata(state, provider)
                .await
                .map_err(Failure::Unreachable)?;
            let again = self::client(org, provider, &fresh.meta).map_err(Failure::Unreachable)?;
            id_token
                .claims(&verifier(&again, &fresh.meta), &nonce)
                .map_err(|e| Failure::Unverified(error_chain(&e)))?
                .subject()
                .to_string()
        }
        Err(e) => return Err(Failure::Unverified(error_chain(&e))),
    };
    // The verified token's payload, for claims the mapping names (any name, not only the
    // standard ones the library types).
    let mut claims = jwt_payload(&id_token.to_string())
        .ok_or_else(|| Failure::Unverified("unreadable ID token payload".into()))?;
    if let Some(endpoint) = meta.userinfo_endpoint() {
        match userinfo(state, endpoint.as_str(), tokens.access_token().secret()).await {
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
            // The ID token alone is enough to sign in; its claims are used.
            Err(e) => {
                tracing::warn!(provider = %provider.name, error = %e, "upstream UserInfo failed")
            }
        }
    }
    Ok(claims)
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
    state: &AppState,
    endpoint: &str,
    access_token: &str,
) -> Result<Map<String, Value>, String> {
    let request = state
        .outbound
        .request(reqwest::Method::GET, endpoint)
        .map_err(|e| e.to_string())?
        .bearer_auth(access_token)
        .header("Accept", "application/json");
    let (status, headers, body) = state
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

/// Finds the local user of an upstream account (`(issuer, subject)`), linking or creating one as
/// the provider's settings allow. Nothing is written for a sign-in that belongs to another user
/// (`tx_user`) or for a disabled account. When a user is created, or linked for the first time
/// (no other upstream account of theirs linked before), a verified upstream phone number becomes
/// their number if they have no verified one — recorded as an account change and published like
/// one made in the account area; never later, and never over a verified number.
fn link(
    conn: &mut crate::store::DbConn,
    origin: crate::events::Origin<'_>,
    provider: &IdentityProvider,
    (issuer, subject): (&str, &str),
    mapped: &Mapped,
    tx_user: Option<&str>,
) -> Result<Linked, crate::store::StoreError> {
    let org_id = origin.organization_id;
    if subject.is_empty() {
        return Ok(Linked::NoAccount);
    }
    let for_other = |id: &str| tx_user.is_some_and(|t| t != id);
    if let Some(known) = FederatedIdentity::find(conn, org_id, issuer, subject)? {
        if for_other(&known.user_id) {
            return Ok(Linked::Another);
        }
        FederatedIdentity::touch(conn, org_id, issuer, subject)?;
        return Ok(match User::find(conn, org_id, &known.user_id)? {
            Some(u) => Linked::User(Box::new(u)),
            None => Linked::NoAccount,
        });
    }
    let by_email = if provider.link_by_verified_email && mapped.email_verified {
        match mapped.email.as_deref().map(Email::parse) {
            Some(Ok(email)) => {
                let mut found = User::find_by_verified_email(conn, org_id, &email)?;
                if found.len() == 1 { found.pop() } else { None }
            }
            _ => None,
        }
    } else {
        None
    };
    let t = now();
    let (mut user, created) = match by_email {
        Some(u) if for_other(&u.id) => return Ok(Linked::Another),
        Some(u) if u.disabled => return Ok(Linked::Disabled),
        Some(u) => (u, false),
        // A sign-in for a known user never creates another one.
        None if tx_user.is_some() => return Ok(Linked::Another),
        None if provider.create_users => (
            new_user(conn, org_id, provider, (issuer, subject), mapped)?,
            true,
        ),
        None => return Ok(Linked::NoAccount),
    };
    let first_link = created || FederatedIdentity::count_of_user(conn, &user.id)? == 0;
    let verified_phone = mapped
        .phone_number
        .as_deref()
        .filter(|_| mapped.phone_number_verified)
        .and_then(|p| PhoneNumber::parse(p).ok());
    let takes_phone = first_link && verified_phone.is_some() && !user.phone_number_verified;
    if takes_phone {
        user.phone_number = verified_phone;
        user.phone_number_verified = true;
    }
    if created {
        User::insert(conn, &user)?;
    } else if takes_phone {
        User::update(conn, &user)?;
    }
    if let Some(number) = user.phone_number.as_ref().filter(|_| takes_phone) {
        crate::events::account_changed(
            conn,
            origin,
            &user.id,
            crate::events::AccountChangeKind::MobileNumberChanged,
            &format!("{} (from {})", number.masked(), provider.name),
        )?;
    }
    FederatedIdentity::insert(
        conn,
        &FederatedIdentity {
            organization_id: org_id,
            issuer: issuer.to_string(),
            subject: subject.to_string(),
            provider: provider.name.clone(),
            user_id: user.id.clone(),
            created_at: t,
            last_used_at: t,
        },
    )?;
    Ok(Linked::User(Box::new(user)))
}

/// A new local user for an upstream account: the mapped username when it is valid and free,
/// else `<provider>-<12 hex digits of the account's hash>`; the mapped email and names; no
/// password.
fn new_user(
    conn: &mut crate::store::DbConn,
    org_id: i64,
    provider: &IdentityProvider,
    (issuer, subject): (&str, &str),
    mapped: &Mapped,
) -> Result<User, crate::store::StoreError> {
    let wanted = mapped
        .username
        .as_deref()
        .and_then(|u| Username::parse(u).ok());
    let username = match wanted {
        Some(u) if User::find_by_username(conn, org_id, &u)?.is_none() => u,
        _ => {
            let digest = sha256_hex(&format!("{issuer}\n{subject}"));
            Username::parse(&format!(
                "{}-{}",
                provider.name.to_lowercase(),
                &digest[..12]
            ))
            .map_err(crate::store::StoreError::Corrupt)?
        }
    };
    let email = mapped.email.as_deref().and_then(|e| Email::parse(e).ok());
    // Verified only as the provider says, and only while no other user holds the address
    // verified: two verified owners would make magic links and email linking ambiguous.
    let verified = match &email {
        Some(e) if mapped.email_verified => {
            User::find_by_verified_email(conn, org_id, e)?.is_empty()
        }
        _ => false,
    };
    let t = now();
    Ok(User {
        id: User::new_id(),
        organization_id: org_id,
        username,
        email_verified: verified,
        email,
        phone_number: None,
        phone_number_verified: false,
        profile: Profile {
            name: mapped.name.clone(),
            given_name: mapped.given_name.clone(),
            family_name: mapped.family_name.clone(),
            ..Profile::default()
        },
        password_hash: None,
        disabled: false,
        created_at: t,
        updated_at: t,
    })
}
