//! The relying party: discovery, the sessions, and the five routes (see `main.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
    CoreClient, CoreClientAuthMethod, CoreErrorResponseType, CoreGrantType, CoreIdToken,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType, CoreTokenResponse,
    CoreUserInfoClaims,
};
use openidconnect::reqwest;
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalProviderMetadata, AuthorizationCode,
    ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, EndSessionUrl, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, LogoutRequest, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadata, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, StandardErrorResponse, SubjectIdentifier,
    TokenResponse, UserInfoError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::pages::{self, SignedInView};

const SESSION_COOKIE: &str = "sample_web_session";
/// How long a redirect to Sesame may take to come back.
const LOGIN_LIFETIME: Duration = Duration::from_secs(600);
/// Sign-ins a browser may have in flight at once (one per tab, say).
const MAX_PENDING_LOGINS: usize = 5;
/// Sessions unused for this long are forgotten.
const SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);

/// The settings, from the environment (see `main.rs`).
#[derive(Clone)]
pub struct Settings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Scheme, host and port, no trailing slash.
    pub base_url: String,
}

/// Without the client secret.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Settings {
    fn redirect_uri(&self) -> String {
        format!("{}/callback", self.base_url)
    }

    fn post_logout_redirect_uri(&self) -> String {
        format!("{}/", self.base_url)
    }
}

/// The discovery fields this app needs that `CoreProviderMetadata` does not carry: read from
/// the same document, in the same request, through the library's extension point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoreMetadata {
    /// RP-Initiated Logout 1.0.
    end_session_endpoint: Option<EndSessionUrl>,
    /// RFC 9207: the provider adds `iss` to its authorization responses, so a mix-up (a response
    /// from another provider arriving here) is caught.
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for MoreMetadata {}

type Metadata = ProviderMetadata<
    MoreMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// A client built from discovery: authorization endpoint set, token and UserInfo endpoints
/// as discovered.
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

type TokenError = RequestTokenError<
    openidconnect::HttpClientError<reqwest::Error>,
    StandardErrorResponse<CoreErrorResponseType>,
>;

/// The provider as discovered, with its signing keys.
#[derive(Debug)]
pub struct Provider {
    issuer: IssuerUrl,
    client: Client,
    end_session: Option<EndSessionUrl>,
    sends_iss: bool,
}

impl Provider {
    /// Fetches the discovery document and the key set (`jwks_uri`).
    pub async fn discover(settings: &Settings, http: &reqwest::Client) -> Result<Self, String> {
        let issuer = IssuerUrl::new(settings.issuer.clone()).map_err(|e| e.to_string())?;
        let meta = Metadata::discover_async(issuer, http)
            .await
            .map_err(|e| error_chain(&e))?;
        let more = meta.additional_metadata().clone();
        let issuer = meta.issuer().clone();
        let redirect = RedirectUrl::new(settings.redirect_uri()).map_err(|e| e.to_string())?;
        let client = CoreClient::from_provider_metadata(
            meta,
            ClientId::new(settings.client_id.clone()),
            Some(ClientSecret::new(settings.client_secret.clone())),
        )
        .set_redirect_uri(redirect);
        Ok(Self {
            issuer,
            client,
            end_session: more.end_session_endpoint,
            sends_iss: more.authorization_response_iss_parameter_supported,
        })
    }
}

/// The HTTP client for the back channel: no redirects (the library's advice: a redirect could
/// send the client secret or a code elsewhere), and a time limit.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// A sign-in on its way through Sesame.
#[derive(Debug)]
struct PendingLogin {
    state: CsrfToken,
    nonce: Nonce,
    pkce_verifier: PkceCodeVerifier,
    started: Instant,
}

/// The signed-in user: the verified ID token and the tokens, kept here rather than in the
/// browser.
#[derive(Debug, Clone)]
struct SignedIn {
    id_token: CoreIdToken,
    /// The verified ID token's payload, exactly as issued (not re-serialized from the library's
    /// types, so every claim shows).
    claims: Map<String, Value>,
    subject: SubjectIdentifier,
    /// The sign-in's nonce: an ID token from a refresh may repeat it, and then it must match.
    nonce: Nonce,
    access_token: AccessToken,
    access_expires_at: Option<SystemTime>,
    refresh_token: Option<RefreshToken>,
    refreshed_at: Option<SystemTime>,
}

#[derive(Debug)]
struct Session {
    logins: Vec<PendingLogin>,
    user: Option<SignedIn>,
    /// The `state` sent with a sign-out, until Sesame sends the browser back with it.
    logout_state: Option<CsrfToken>,
    last_seen: Instant,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            logins: Vec::new(),
            user: None,
            logout_state: None,
            last_seen: Instant::now(),
        }
    }
}

impl Session {
    fn is_empty(&self) -> bool {
        self.logins.is_empty() && self.user.is_none() && self.logout_state.is_none()
    }
}

/// A failure shown to the user: an error code (Sesame's, or this app's) and what it means.
#[derive(Debug)]
struct Problem {
    status: StatusCode,
    code: String,
    message: String,
}

impl Problem {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// A token endpoint failure: Sesame's error code when it answered with one.
    fn from_token_error(e: &TokenError) -> Self {
        match e {
            RequestTokenError::ServerResponse(r) => Problem::new(
                StatusCode::BAD_GATEWAY,
                r.error().as_ref(),
                r.error_description()
                    .cloned()
                    .unwrap_or_else(|| "The token endpoint refused the request.".into()),
            ),
            other => Problem::new(
                StatusCode::BAD_GATEWAY,
                "token_request_failed",
                error_chain(other),
            ),
        }
    }

    fn page(&self) -> HttpResponse {
        html(self.status, pages::problem(&self.code, &self.message))
    }
}

/// The app's state: settings, the provider (rediscovered when its keys change) and the
/// sessions.
#[derive(Debug)]
pub struct Rp {
    settings: Settings,
    http: reqwest::Client,
    provider: RwLock<Arc<Provider>>,
    sessions: Mutex<HashMap<String, Session>>,
    secure_cookie: bool,
}

impl Rp {
    pub fn new(settings: Settings, http: reqwest::Client, provider: Provider) -> Self {
        Self {
            secure_cookie: settings.base_url.starts_with("https:"),
            settings,
            http,
            provider: RwLock::new(Arc::new(provider)),
            sessions: Mutex::default(),
        }
    }

    fn provider(&self) -> Arc<Provider> {
        self.provider.read().expect("lock").clone()
    }

    /// Discovers the provider again, for a key set that has changed since the start.
    async fn rediscover(&self) -> Result<Arc<Provider>, String> {
        let fresh = Arc::new(Provider::discover(&self.settings, &self.http).await?);
        eprintln!("an ID token's signature did not verify: discovered the provider again");
        *self.provider.write().expect("lock") = fresh.clone();
        Ok(fresh)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().expect("lock")
    }

    /// The request's session id, when the cookie names a live session.
    fn session_id(&self, req: &HttpRequest) -> Option<String> {
        let id = req.cookie(SESSION_COOKIE)?.value().to_string();
        let mut sessions = self.sessions();
        let session = sessions.get_mut(&id)?;
        session.last_seen = Instant::now();
        Some(id)
    }

    /// A new, empty session (forgetting idle ones while at it).
    fn new_session(&self) -> String {
        let id = random_id();
        let mut sessions = self.sessions();
        sessions.retain(|_, s| s.last_seen.elapsed() < SESSION_IDLE);
        sessions.insert(id.clone(), Session::default());
        id
    }

    fn cookie(&self, id: &str) -> Cookie<'static> {
        Cookie::build(SESSION_COOKIE, id.to_string())
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure_cookie)
            .finish()
    }

    /// The signed-in user of the request's session.
    fn user(&self, req: &HttpRequest) -> Option<(String, SignedIn)> {
        let id = self.session_id(req)?;
        let user = self.sessions().get(&id)?.user.clone()?;
        Some((id, user))
    }

    /// Verifies an ID token from the token endpoint; returns its payload as issued. A signature
    /// failure is tried once more with the keys discovered afresh: Sesame may have rotated its
    /// keys (`sesame keys rotate`) since this app started.
    async fn verify_id_token(
        &self,
        id_token: &CoreIdToken,
        access_token: &AccessToken,
        nonce: &Nonce,
        nonce_required: bool,
    ) -> Result<(SubjectIdentifier, Map<String, Value>), Problem> {
        // Copy, so it can be handed to the library twice.
        let nonce_check = |claim: Option<&Nonce>| match claim {
            Some(n) if bool::from(n.secret().as_bytes().ct_eq(nonce.secret().as_bytes())) => Ok(()),
            Some(_) => Err("nonce mismatch".to_string()),
            None if nonce_required => Err("missing nonce claim".to_string()),
            None => Ok(()),
        };
        let provider = self.provider();
        let subject = match check_id_token(&provider.client, id_token, access_token, nonce_check) {
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let fresh = self
                    .rediscover()
                    .await
                    .map_err(|e| Problem::new(StatusCode::BAD_GATEWAY, "discovery_failed", e))?;
                check_id_token(&fresh.client, id_token, access_token, nonce_check)
            }
            other => other,
        }
        .map_err(|e| {
            Problem::new(
                StatusCode::BAD_GATEWAY,
                "invalid_id_token",
                format!("The ID token did not verify: {}", error_chain(&e)),
            )
        })?;
        let claims = jwt_payload(&id_token.to_string()).ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_GATEWAY,
                "invalid_id_token",
                "The ID token's payload is unreadable.",
            )
        })?;
        Ok((subject, claims))
    }

    /// UserInfo with the access token; the library checks the answer is about the same subject.
    async fn userinfo(&self, user: &SignedIn) -> Result<String, String> {
        let provider = self.provider();
        let request = provider
            .client
            .user_info(user.access_token.clone(), Some(user.subject.clone()))
            .map_err(|e| e.to_string())?;
        let claims: CoreUserInfoClaims =
            request
                .request_async(&self.http)
                .await
                .map_err(|e| match e {
                    // The status says why (401: the token expired or was revoked).
                    UserInfoError::Response(status, _, message) => format!("{message}: {status}"),
                    other => error_chain(&other),
                })?;
        serde_json::to_string_pretty(&claims).map_err(|e| e.to_string())
    }
}

/// Signature, `iss`, `aud` (and `azp`), `exp`, the nonce, and the access token's `at_hash`
/// when the ID token has one.
fn check_id_token(
    client: &Client,
    id_token: &CoreIdToken,
    access_token: &AccessToken,
    nonce: impl openidconnect::NonceVerifier,
) -> Result<SubjectIdentifier, ClaimsVerificationError> {
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, nonce)?;
    if let Some(expected) = claims.access_token_hash() {
        let actual = AccessTokenHash::from_token(
            access_token,
            id_token
                .signing_alg()
                .map_err(ClaimsVerificationError::SignatureVerification)?,
            id_token
                .signing_key(&verifier)
                .map_err(ClaimsVerificationError::SignatureVerification)?,
        )
        .map_err(|e| ClaimsVerificationError::Other(e.to_string()))?;
        if actual != *expected {
            return Err(ClaimsVerificationError::Other(
                "at_hash does not match the access token".into(),
            ));
        }
    }
    Ok(claims.subject().clone())
}

fn jwt_payload(jwt: &str) -> Option<Map<String, Value>> {
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
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

/// 256 random bits, base64url.
fn random_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn equal(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn expires_at(tokens: &CoreTokenResponse) -> Option<SystemTime> {
    tokens.expires_in().map(|d| SystemTime::now() + d)
}

/// Pages that may show claims are not cached, are not framed, and send no referrer (the
/// callback's URL holds the code).
fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ))
        .body(body)
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            HeaderValue::from_str(location).expect("a valid URL"),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// `prompt` values this app passes through to Sesame (space-separated, as in OIDC Core).
fn parse_prompt(value: &str) -> Option<Vec<CoreAuthPrompt>> {
    value
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(|p| match p {
            "none" => Some(CoreAuthPrompt::None),
            "login" => Some(CoreAuthPrompt::Login),
            "consent" => Some(CoreAuthPrompt::Consent),
            "select_account" => Some(CoreAuthPrompt::SelectAccount),
            _ => None,
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct HomeQuery {
    /// Back from Sesame's end-session endpoint.
    state: Option<String>,
}

/// `GET /`: the sign-in link, or the signed-in user's claims, UserInfo and tokens' times.
async fn home(rp: web::Data<Rp>, req: HttpRequest, query: web::Query<HomeQuery>) -> HttpResponse {
    let mut signed_out_notice = false;
    if let (Some(state), Some(id)) = (&query.state, rp.session_id(&req)) {
        let mut sessions = rp.sessions();
        if let Some(session) = sessions.get_mut(&id) {
            if session
                .logout_state
                .as_ref()
                .is_some_and(|s| equal(s.secret(), state))
            {
                session.logout_state = None;
                signed_out_notice = true;
            }
            if session.is_empty() {
                sessions.remove(&id);
            }
        }
    }
    let Some((_, user)) = rp.user(&req) else {
        return html(StatusCode::OK, pages::signed_out(signed_out_notice));
    };
    let userinfo = rp.userinfo(&user).await;
    let view = SignedInView {
        subject: user.subject.as_str(),
        claims: &serde_json::to_string_pretty(&user.claims).unwrap_or_default(),
        userinfo: userinfo.as_deref().map_err(String::as_str),
        access_expires_at: user.access_expires_at,
        refreshed_at: user.refreshed_at,
        can_refresh: user.refresh_token.is_some(),
    };
    html(StatusCode::OK, pages::signed_in(&view))
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    prompt: Option<String>,
}

/// `GET /login[?prompt=…]`: a new sign-in, with a fresh state, nonce and PKCE verifier.
async fn login(rp: web::Data<Rp>, req: HttpRequest, query: web::Query<LoginQuery>) -> HttpResponse {
    let prompts = match query.prompt.as_deref().map(parse_prompt) {
        None => Vec::new(),
        Some(Some(prompts)) => prompts,
        Some(None) => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_prompt",
                "prompt takes none, login, consent or select_account.",
            )
            .page();
        }
    };
    let provider = rp.provider();
    let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = provider
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("phone".into()))
        .set_pkce_challenge(pkce_challenge);
    for prompt in prompts {
        request = request.add_prompt(prompt);
    }
    let (url, state, nonce) = request.url();
    let id = rp.session_id(&req).unwrap_or_else(|| rp.new_session());
    {
        let mut sessions = rp.sessions();
        let session = sessions.entry(id.clone()).or_default();
        session
            .logins
            .retain(|l| l.started.elapsed() < LOGIN_LIFETIME);
        if session.logins.len() >= MAX_PENDING_LOGINS {
            session.logins.remove(0);
        }
        session.logins.push(PendingLogin {
            state,
            nonce,
            pkce_verifier,
            started: Instant::now(),
        });
    }
    let mut res = see_other(url.as_str());
    res.add_cookie(&rp.cookie(&id)).expect("a valid cookie");
    res
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /callback`: checks `state` (and `iss`), shows Sesame's error if it sent one, else
/// exchanges the code and verifies the ID token; the signed-in session gets a new id.
async fn callback(
    rp: web::Data<Rp>,
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    match finish_login(&rp, &req, &query).await {
        Ok(id) => {
            let mut res = see_other("/");
            res.add_cookie(&rp.cookie(&id)).expect("a valid cookie");
            res
        }
        Err(problem) => problem.page(),
    }
}

async fn finish_login(
    rp: &Rp,
    req: &HttpRequest,
    query: &CallbackQuery,
) -> Result<String, Problem> {
    let no_login = || {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_state",
            "This answer from Sesame does not belong to a sign-in started in this browser \
             (or that sign-in is finished or too old). Sign in again.",
        )
    };
    let id = rp.session_id(req).ok_or_else(no_login)?;
    let state = query.state.as_deref().ok_or_else(no_login)?;
    // The state is used once: taken out of the session whatever comes next.
    let login = {
        let mut sessions = rp.sessions();
        let session = sessions.get_mut(&id).ok_or_else(no_login)?;
        let at = session
            .logins
            .iter()
            .position(|l| equal(l.state.secret(), state))
            .ok_or_else(no_login)?;
        session.logins.remove(at)
    };
    if login.started.elapsed() >= LOGIN_LIFETIME {
        return Err(no_login());
    }
    let provider = rp.provider();
    match &query.iss {
        Some(iss) if iss != provider.issuer.as_str() => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_issuer",
                format!(
                    "The answer came from {iss}, not from the provider this app signs in with."
                ),
            ));
        }
        None if provider.sends_iss => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_issuer",
                "The answer has no iss, though the provider says it always sends one.",
            ));
        }
        _ => {}
    }
    if let Some(error) = &query.error {
        return Err(Problem::new(
            StatusCode::OK,
            error,
            query
                .error_description
                .clone()
                .unwrap_or_else(|| "Sesame did not sign you in.".into()),
        ));
    }
    let code = query.code.clone().ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The answer has no code.",
        )
    })?;
    let tokens = provider
        .client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| Problem::new(StatusCode::BAD_GATEWAY, "configuration", e.to_string()))?
        .set_pkce_verifier(login.pkce_verifier)
        .request_async(&rp.http)
        .await
        .map_err(|e| Problem::from_token_error(&e))?;
    let id_token = tokens.id_token().cloned().ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_GATEWAY,
            "invalid_id_token",
            "The token response has no ID token.",
        )
    })?;
    let (subject, claims) = rp
        .verify_id_token(&id_token, tokens.access_token(), &login.nonce, true)
        .await?;
    let user = SignedIn {
        id_token,
        claims,
        subject,
        nonce: login.nonce,
        access_token: tokens.access_token().clone(),
        access_expires_at: expires_at(&tokens),
        refresh_token: tokens.refresh_token().cloned(),
        refreshed_at: None,
    };
    // A new session id for the signed-in session, so an id set before sign-in (by whoever could
    // set it) is worth nothing afterwards.
    let new_id = random_id();
    let mut sessions = rp.sessions();
    let mut session = sessions.remove(&id).unwrap_or_default();
    session.user = Some(user);
    session.logout_state = None;
    session.last_seen = Instant::now();
    sessions.insert(new_id.clone(), session);
    Ok(new_id)
}

/// `POST /refresh`: the refresh grant; the new tokens replace the old. (A cross-site form cannot
/// post here with the session: the cookie is SameSite=Lax.)
async fn refresh(rp: web::Data<Rp>, req: HttpRequest) -> HttpResponse {
    let Some((id, user)) = rp.user(&req) else {
        return see_other("/");
    };
    let Some(refresh_token) = &user.refresh_token else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "no_refresh_token",
            "Sesame issued no refresh token for this sign-in.",
        )
        .page();
    };
    let provider = rp.provider();
    let request = match provider.client.exchange_refresh_token(refresh_token) {
        Ok(request) => request,
        Err(e) => {
            return Problem::new(StatusCode::BAD_GATEWAY, "configuration", e.to_string()).page();
        }
    };
    let tokens = match request.request_async(&rp.http).await {
        Ok(tokens) => tokens,
        Err(e) => {
            // The grant is gone (signed out at Sesame, revoked, expired): so is this sign-in.
            if let RequestTokenError::ServerResponse(r) = &e
                && *r.error() == CoreErrorResponseType::InvalidGrant
                && let Some(session) = rp.sessions().get_mut(&id)
            {
                session.user = None;
            }
            return Problem::from_token_error(&e).page();
        }
    };
    let mut updated = user.clone();
    if let Some(id_token) = tokens.id_token() {
        // OIDC Core 12.2: the same user; a nonce, if there is one, is the sign-in's.
        let verified = rp
            .verify_id_token(id_token, tokens.access_token(), &user.nonce, false)
            .await;
        match verified {
            Ok((subject, _)) if subject != user.subject => {
                return Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "invalid_id_token",
                    "The refreshed ID token is about another user.",
                )
                .page();
            }
            Ok((_, claims)) => {
                updated.id_token = id_token.clone();
                updated.claims = claims;
            }
            Err(problem) => return problem.page(),
        }
    }
    updated.access_token = tokens.access_token().clone();
    updated.access_expires_at = expires_at(&tokens);
    // Without a new refresh token the old one stays good (no rotation).
    if let Some(rt) = tokens.refresh_token() {
        updated.refresh_token = Some(rt.clone());
    }
    updated.refreshed_at = Some(SystemTime::now());
    if let Some(session) = rp.sessions().get_mut(&id) {
        session.user = Some(updated);
    }
    see_other("/")
}

/// `GET /logout`: forgets the local sign-in, then ends Sesame's session (RP-Initiated Logout)
/// with the ID token as the hint and a `state` for the way back.
async fn logout(rp: web::Data<Rp>, req: HttpRequest) -> HttpResponse {
    let Some(id) = rp.session_id(&req) else {
        return see_other("/");
    };
    let provider = rp.provider();
    let state = CsrfToken::new_random();
    let user = {
        let mut sessions = rp.sessions();
        let Some(session) = sessions.get_mut(&id) else {
            return see_other("/");
        };
        let user = session.user.take();
        if user.is_some() && provider.end_session.is_some() {
            session.logout_state = Some(state.clone());
        }
        user
    };
    let (Some(user), Some(end_session)) = (user, provider.end_session.clone()) else {
        return see_other("/");
    };
    let Ok(back) = PostLogoutRedirectUrl::new(rp.settings.post_logout_redirect_uri()) else {
        return see_other("/");
    };
    let url = LogoutRequest::from(end_session)
        .set_id_token_hint(&user.id_token)
        .set_post_logout_redirect_uri(back)
        .set_state(state)
        .http_get_url();
    see_other(url.as_str())
}

/// Serves the app on `listen`; returns the bound address.
pub fn serve(
    rp: Rp,
    listen: &str,
) -> std::io::Result<(actix_web::dev::Server, std::net::SocketAddr)> {
    let rp = web::Data::new(rp);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(rp.clone())
            .route("/", web::get().to(home))
            .route("/login", web::get().to(login))
            .route("/callback", web::get().to(callback))
            .route("/refresh", web::post().to(refresh))
            .route("/logout", web::get().to(logout))
    })
    .bind(listen)?;
    let addr = server.addrs()[0];
    Ok((server.run(), addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_values_pass_through_and_others_are_refused() {
        assert_eq!(parse_prompt("none"), Some(vec![CoreAuthPrompt::None]));
        assert_eq!(
            parse_prompt("login consent"),
            Some(vec![CoreAuthPrompt::Login, CoreAuthPrompt::Consent])
        );
        assert_eq!(parse_prompt("none<script>"), None);
    }

    #[test]
    fn the_payload_is_read_as_issued() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"sub":"u1","amr":["pwd","sms","otp","mfa"],"x-custom":1}"#);
        let claims = jwt_payload(&format!("e30.{payload}.sig")).expect("a payload");
        assert_eq!(claims["amr"][3], "mfa");
        assert_eq!(claims["x-custom"], 1);
        assert!(jwt_payload("not-a-jwt").is_none());
    }

    #[test]
    fn session_ids_are_long_and_distinct() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
