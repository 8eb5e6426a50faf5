//! The HTTP surface: shared state, routes, and the middleware every request passes through.

pub mod account;
pub mod authorize;
pub mod client_ip;
pub mod cors;
pub mod discovery;
pub mod error;
pub mod federation;
pub mod health;
pub mod logout;
pub mod magic_link;
pub mod pages;
pub mod signin;
pub mod token;
pub mod userinfo;
pub mod websub;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage, HttpResponse, web};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

use crate::config::Settings;
use crate::domain::OrgSlug;
use crate::keys::KeyStore;
use crate::oidc;
use crate::password::Hasher;
use crate::store::Db;
use crate::store::organizations::Organization;
use error::ApiError;

/// What every handler can reach.
#[derive(Debug)]
pub struct AppState {
    pub settings: Settings,
    pub db: Db,
    pub keys: KeyStore,
    pub pages: pages::Pages,
    pub hasher: Hasher,
    pub outbound: crate::outbound::Outbound,
    /// Wakes the delivery worker when new deliveries are due.
    pub deliveries_due: tokio::sync::Notify,
    /// The gateway behind organizations' console channel (tests put a capture there).
    pub console_sms: Arc<dyn crate::plugin::SmsGateway>,
    /// Upstream providers' discovery documents (federated sign-ins).
    pub upstream: federation::UpstreamCache,
    /// Client key sets fetched from `jwks_uri`, by application id, with when they were fetched.
    client_keys: RwLock<HashMap<String, FetchedKeys>>,
    /// A real argon2id hash of nothing, verified against when a username is unknown so that the
    /// answer takes as long as for a wrong password.
    pub dummy_hash: String,
    orgs: RwLock<HashMap<String, Arc<OrgEntry>>>,
}

/// A known organization and its discovery document, serialized once. Re-read after
/// [`ORG_CACHE_TTL`] so that an import on another node (a new display name or lock policy)
/// reaches this one.
#[derive(Debug)]
pub struct OrgEntry {
    pub org: Organization,
    pub issuer: String,
    pub discovery: Vec<u8>,
    /// Origins of the organization's registered redirect URIs: the browsers allowed to call the
    /// token, UserInfo and revocation endpoints cross-origin.
    pub origins: std::collections::HashSet<String>,
    /// The first steps the organization's applications offer: what the account area accepts
    /// when a user confirms it is them.
    pub first_steps: Vec<crate::authn::flow::Authenticator>,
    /// The organization's SMS channel, or why it could not be built (a missing secret file).
    pub sms: Result<crate::plugin::SmsChannel, String>,
    /// `SESAME_DELIVERY_MAX_AGE_SECONDS`, for the events' origin.
    delivery_max_age: i64,
    loaded: std::time::Instant,
}

pub const ORG_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

impl OrgEntry {
    /// Where this organization's events come from.
    pub fn event_origin<'a>(&'a self, base_url: &'a str) -> crate::events::Origin<'a> {
        crate::events::Origin {
            issuer: &self.issuer,
            base_url,
            organization_id: self.org.id,
            organization_slug: &self.org.slug,
            organization_name: &self.org.display_name,
            delivery_max_age: self.delivery_max_age,
        }
    }
}

impl AppState {
    pub fn new(
        settings: Settings,
        db: Db,
        keys: KeyStore,
        console_sms: Arc<dyn crate::plugin::SmsGateway>,
    ) -> Self {
        let outbound_allow_private = settings.outbound_allow_private;
        Self {
            settings,
            db,
            keys,
            deliveries_due: tokio::sync::Notify::new(),
            console_sms,
            upstream: federation::UpstreamCache::default(),
            pages: pages::Pages::default(),
            hasher: Hasher::per_core(),
            outbound: crate::outbound::Outbound::new(outbound_allow_private),
            client_keys: RwLock::new(HashMap::new()),
            dummy_hash: crate::password::hash(&crate::secret::random_token(16)),
            orgs: RwLock::new(HashMap::new()),
        }
    }

    /// Drops the cached entry of an organization, so the next request reads it afresh (an
    /// import in another process otherwise shows after [`ORG_CACHE_TTL`]).
    pub fn forget_organization(&self, slug: &str) {
        self.orgs.write().expect("org cache lock").remove(slug);
    }

    /// The organization named in a URL, or 404. Malformed slugs never reach the database.
    pub async fn organization(&self, slug: &str) -> Result<Arc<OrgEntry>, ApiError> {
        if let Some(entry) = self.orgs.read().expect("org cache lock").get(slug)
            && entry.loaded.elapsed() < ORG_CACHE_TTL
        {
            return Ok(entry.clone());
        }
        let unknown = || ApiError::UnknownOrganization(slug.chars().take(64).collect());
        let slug = OrgSlug::parse(slug).map_err(|_| unknown())?;
        let key = slug.as_str().to_string();
        let org = self
            .db
            .run(move |conn| {
                let Some(org) = Organization::find_by_slug(conn, slug.as_str())? else {
                    return Ok(None);
                };
                let apps = crate::store::applications::Application::list(conn, org.id)?;
                Ok(Some((org, apps)))
            })
            .await?;
        let (org, apps) = org.ok_or_else(unknown)?;
        let origins = apps
            .iter()
            .flat_map(|a| a.redirect_uris.iter())
            .filter_map(|u| url::Url::parse(u.as_str()).ok())
            .filter(|u| u.scheme() == "https" || u.scheme() == "http")
            .map(|u| u.origin().ascii_serialization())
            .collect();
        let flows: Vec<_> = apps.iter().map(|a| a.flow()).collect();
        let first_steps = crate::authn::flow::SignInFlow::first_steps(flows.iter());
        let issuer = self.settings.base_url.issuer(&org.slug);
        let discovery =
            serde_json::to_vec(&oidc::discovery::document(&issuer)).expect("discovery serializes");
        let sms =
            crate::plugin::SmsChannel::build(&org.settings.sms, &self.outbound, &self.console_sms);
        if let Err(error) = &sms {
            tracing::error!(org = %org.slug, %error, "the organization's SMS channel cannot be built");
        }
        let entry = Arc::new(OrgEntry {
            org,
            issuer,
            discovery,
            origins,
            first_steps,
            sms,
            delivery_max_age: self.settings.delivery_max_age_seconds,
            loaded: std::time::Instant::now(),
        });
        self.orgs
            .write()
            .expect("org cache lock")
            .insert(key, entry.clone());
        Ok(entry)
    }
}

impl AppState {
    /// The claims of an ID token this issuer signed, used as a hint (authorization, logout).
    /// Expiry is not checked: an expired ID token still says who the user was.
    pub async fn id_token_hint(
        &self,
        org: &OrgEntry,
        hint: &str,
    ) -> Result<Option<serde_json::Value>, ApiError> {
        let keys = self.keys.get(&self.db, org.org.id).await?;
        Ok(
            crate::keys::jwk::decode_verified(hint, |kid| kid.and_then(|k| keys.verifier(k)))
                .filter(|(header, _)| header["typ"] != "at+jwt")
                .map(|(_, claims)| claims)
                .filter(|c| c["iss"] == org.issuer.as_str()),
        )
    }
}

/// A request's parameters: the query of a GET, or the form body of a POST. `None` when they
/// cannot be read.
pub(crate) fn read_params(
    req: &actix_web::HttpRequest,
    body: &[u8],
) -> Option<(String, crate::oidc::authorize::Params)> {
    let raw = if req.method() == actix_web::http::Method::POST {
        String::from_utf8_lossy(body).into_owned()
    } else {
        req.query_string().to_string()
    };
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(&raw).ok()?;
    Some((raw, crate::oidc::authorize::Params::from_pairs(pairs)))
}

/// The parameters of a browser-facing endpoint that accepts GET and POST (authorization,
/// logout). A POST is answered with a 303 to the same request as a GET: a cross-site POST
/// carries no `SameSite=Lax` cookie, so the user's session would be invisible to it.
pub(crate) fn params_as_get(
    state: &AppState,
    req: &actix_web::HttpRequest,
    body: &[u8],
    endpoint: &str,
) -> Result<crate::oidc::authorize::Params, Box<HttpResponse>> {
    let Some((raw, params)) = read_params(req, body) else {
        return Err(Box::new(state.pages.error(
            actix_web::http::StatusCode::BAD_REQUEST,
            "Invalid request",
            "The request's parameters could not be read.",
        )));
    };
    if req.method() == actix_web::http::Method::POST {
        return Err(Box::new(authorize::see_other(&format!("{endpoint}?{raw}"))));
    }
    Ok(params)
}

/// How long a client's fetched key set is used before it is fetched again.
const CLIENT_KEYS_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// A key set is re-fetched early (an unknown kid: the client rotated) at most this often.
const CLIENT_KEYS_MIN_REFRESH: std::time::Duration = std::time::Duration::from_secs(10);

impl AppState {
    /// The keys a client published at `uri`: cached, and fetched again after the TTL or, when
    /// `stale` (a signature did not verify), if the cached copy is old enough.
    pub async fn client_keys(
        &self,
        app_id: &str,
        uri: &str,
        stale: bool,
    ) -> Result<Arc<Vec<crate::keys::jwk::KeyedVerifier>>, String> {
        if let Some((fetched, keys)) = self
            .client_keys
            .read()
            .expect("client key cache")
            .get(app_id)
        {
            let age = fetched.elapsed();
            if age < CLIENT_KEYS_TTL && !(stale && age >= CLIENT_KEYS_MIN_REFRESH) {
                return Ok(keys.clone());
            }
        }
        let doc = self
            .outbound
            .get_json(uri)
            .await
            .map_err(|e| e.to_string())?;
        let keys = Arc::new(crate::keys::jwk::parse_jwks(&doc)?);
        self.client_keys.write().expect("client key cache").insert(
            app_id.to_string(),
            (std::time::Instant::now(), keys.clone()),
        );
        Ok(keys)
    }
}

/// A client's key set fetched from its `jwks_uri`, with when it was fetched.
type FetchedKeys = (
    std::time::Instant,
    Arc<Vec<crate::keys::jwk::KeyedVerifier>>,
);

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(discovery::openid_configuration)
        .service(discovery::jwks)
        .route("/t/{org}/authorize", web::get().to(authorize::authorize))
        .route("/t/{org}/authorize", web::post().to(authorize::authorize))
        .route("/t/{org}/login", web::get().to(signin::login_page))
        .route("/t/{org}/login", web::post().to(signin::login_submit))
        .route("/t/{org}/magic-link", web::get().to(magic_link::open_link))
        .route(
            "/t/{org}/magic-link",
            web::post().to(magic_link::request_link),
        )
        .route(
            "/t/{org}/federated/{name}",
            web::post().to(federation::start),
        )
        .route(
            "/t/{org}/federated/{name}/callback",
            web::get().to(federation::callback),
        )
        .route("/t/{org}/otp", web::get().to(signin::otp_page))
        .route("/t/{org}/otp", web::post().to(signin::otp_submit))
        .route("/t/{org}/backup-code", web::get().to(signin::backup_page))
        .route(
            "/t/{org}/backup-code",
            web::post().to(signin::backup_submit),
        )
        .route("/t/{org}/consent", web::get().to(authorize::consent_page))
        .route(
            "/t/{org}/consent",
            web::post().to(authorize::consent_submit),
        )
        .route("/t/{org}/account/", web::get().to(account::account_page))
        .route("/t/{org}/account", web::get().to(account::account_page))
        .route("/t/{org}/account/verify", web::get().to(account::verify))
        .route(
            "/t/{org}/account/backup-codes",
            web::post().to(account::backup_codes_change),
        )
        .route(
            "/t/{org}/account/phone",
            web::post().to(account::phone_change),
        )
        .route("/websubhub", web::post().to(websub::hub_request))
        .route("/t/{org}/token", web::post().to(token::token))
        .route("/t/{org}/revoke", web::post().to(token::revoke))
        .route("/t/{org}/introspect", web::post().to(token::introspect))
        .route("/t/{org}/logout", web::get().to(logout::logout))
        .route("/t/{org}/logout", web::post().to(logout::logout))
        .route("/t/{org}/logout/confirm", web::post().to(logout::confirm))
        .route("/t/{org}/userinfo", web::get().to(userinfo::userinfo))
        .route("/t/{org}/userinfo", web::post().to(userinfo::userinfo))
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// Root span of every request. Unlike the default it logs the path without the query string
/// (which will carry codes and tokens) and the client IP by our trusted-proxy rules instead of
/// believing any forwarding header. The end-of-request fields are those the default fills in.
#[derive(Debug)]
pub struct SesameRootSpan;

impl RootSpanBuilder for SesameRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let trusted = request
            .app_data::<web::Data<AppState>>()
            .map(|s| s.settings.trusted_proxies.clone())
            .unwrap_or_default();
        let ip = client_ip::of_service_request(request, &trusted)
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        let empty = tracing::field::Empty;
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %request.match_pattern().unwrap_or_else(|| "default".into()),
            http.target = %request.path(),
            http.client_ip = %ip,
            request_id = %request_id,
            http.status_code = empty,
            otel.status_code = empty,
            exception.message = empty,
            exception.details = empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Echoes the request id as `X-Request-Id`, so a user's report can be matched to the logs.
pub async fn request_id_header(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req.extensions().get::<RequestId>().copied();
    let mut res = next.call(req).await?;
    if let Some(id) = id
        && let Ok(value) = actix_web::http::header::HeaderValue::from_str(&id.to_string())
    {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            value,
        );
    }
    Ok(res)
}
