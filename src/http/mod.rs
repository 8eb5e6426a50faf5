//! The HTTP surface: shared state, routes, and the middleware every request passes through.

pub mod account;
pub mod api;
pub mod authorize;
pub mod branding;
pub mod browser;
pub mod client_ip;
pub mod console;
pub mod cors;
pub mod discovery;
pub mod error;
pub mod federation;
pub mod health;
pub mod logout;
pub mod magic_link;
pub mod metrics;
pub mod native;
pub mod overrides;
pub mod pages;
pub mod register;
pub mod reset;
pub mod signin;
pub mod sms_status;
pub mod token;
pub mod userinfo;
pub mod websub;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage, HttpResponse, web};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

use crate::state::Core;
pub use crate::state::OrgEntry;
use error::ApiError;

/// What every handler can reach: the application core (see [`crate::state`]) and what only
/// the web layer needs (templates).
#[derive(Debug)]
pub struct AppState {
    pub core: Arc<Core>,
    pub pages: pages::Pages,
}

impl AppState {
    pub fn new(core: Arc<Core>) -> Self {
        Self {
            core,
            pages: pages::Pages::default(),
        }
    }

    /// The organization `slug`, as [`Core::organization`] finds it; the pages this request
    /// renders show its branding (see [`branding`]).
    pub async fn organization(&self, slug: &str) -> Result<Arc<OrgEntry>, crate::state::CoreError> {
        let org = self.core.organization(slug).await?;
        branding::record(&org);
        Ok(org)
    }
}

impl std::ops::Deref for AppState {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}

/// A request's parameters: the query of a GET, or the form body of a POST, with their
/// URL-encoded text. `None` when they cannot be read or hold a control character.
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
    // Encoded again rather than copied: the raw text of a POST body is not fit for a URL.
    let encoded = serde_urlencoded::to_string(&pairs).ok()?;
    let params = crate::oidc::authorize::Params::from_pairs(pairs);
    if params.control_character().is_some() {
        return None;
    }
    Some((encoded, params))
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
            &crate::i18n::text("errors-params-invalid-title", &[]),
            &crate::i18n::text("errors-params-invalid", &[]),
        )));
    };
    if req.method() == actix_web::http::Method::POST {
        return Err(Box::new(browser::see_other(&format!("{endpoint}?{raw}"))));
    }
    Ok(params)
}

/// Registers every route under the base URL's path prefix (`""` or like `/id`). With a prefix,
/// `/healthz` and `/readyz` also answer at the root, for load balancers probing the node itself.
pub fn mount(prefix: &str, cfg: &mut web::ServiceConfig) {
    if prefix.is_empty() {
        routes(cfg);
        return;
    }
    cfg.service(
        web::scope(prefix)
            .configure(routes)
            .default_service(web::to(not_found)),
    )
    .service(health::healthz)
    .service(health::readyz)
    .default_service(web::to(not_found));
}

/// Registers every route. An organization's endpoints live in one `/t/{org}` scope whose inner
/// paths are static: a request is routed by one dynamic match and string comparisons, where
/// forty `/t/{org}/...` patterns would each be a regular expression tried in turn — twice per
/// request, since [`request_context`] looks the route pattern up again for the log and metrics.
/// Each `route` keeps its method as a guard, so a method no route takes falls through to the
/// 404 like any unknown path.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use web::{get, post};
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(
            web::scope("/t/{org}")
                .wrap(actix_web::middleware::from_fn(branding::scope))
                .route(
                    "/.well-known/openid-configuration",
                    get().to(discovery::openid_configuration),
                )
                .route("/jwks", get().to(discovery::jwks))
                .route("/branding/logo", get().to(branding::logo))
                .route("/token", post().to(token::token))
                .route("/userinfo", get().to(userinfo::userinfo))
                .route("/userinfo", post().to(userinfo::userinfo))
                .route("/authorize", get().to(authorize::authorize))
                .route("/authorize", post().to(authorize::authorize))
                .route("/login", get().to(signin::login_page))
                .route("/login", post().to(signin::login_submit))
                .route("/otp", get().to(signin::otp_page))
                .route("/otp", post().to(signin::otp_submit))
                .route("/otp/delivery", get().to(signin::otp_delivery))
                .route("/backup-code", get().to(signin::backup_page))
                .route("/backup-code", post().to(signin::backup_submit))
                .route("/code", get().to(signin::code_page))
                .route("/code", post().to(signin::code_submit))
                .route("/sent-code", get().to(signin::sent_page))
                .route("/sent-code", post().to(signin::sent_submit))
                .route("/passkey", get().to(signin::key_page))
                .route("/passkey", post().to(signin::key_submit))
                .route("/magic-link", get().to(magic_link::open_link))
                .route("/magic-link", post().to(magic_link::request_link))
                .route("/password-reset", get().to(reset::start))
                .route("/password-reset/link", get().to(magic_link::open_link))
                .route("/password-reset/new", get().to(reset::new_password_page))
                .route("/password-reset/new", post().to(reset::new_password_submit))
                .route("/register", get().to(register::start))
                .route("/register", post().to(register::submit))
                .route("/register/link", get().to(register::open_link))
                .route("/federated/{name}", post().to(federation::start))
                .route("/federated/{name}/callback", get().to(federation::callback))
                .route("/authn", post().to(native::authn))
                .route("/consent", get().to(authorize::consent_page))
                .route("/consent", post().to(authorize::consent_submit))
                .route("/account/", get().to(account::account_page))
                .route("/account", get().to(account::account_page))
                .route("/account/verify", get().to(account::verify))
                .route(
                    "/account/backup-codes",
                    post().to(account::backup_codes_change),
                )
                .route("/account/phone", post().to(account::phone_change))
                .route(
                    "/account/credentials",
                    post().to(account::credentials_change),
                )
                .route("/account/sessions", post().to(account::sessions_change))
                .route("/account/password", post().to(account::password_change))
                .route(
                    "/account/applications",
                    post().to(account::applications_change),
                )
                .route("/sms/status/{gateway}", post().to(sms_status::receipt))
                .route("/revoke", post().to(token::revoke))
                .route("/introspect", post().to(token::introspect))
                .route("/logout", get().to(logout::logout))
                .route("/logout", post().to(logout::logout))
                .route("/logout/confirm", post().to(logout::confirm))
                .default_service(web::to(not_found)),
        )
        .service(web::scope("/api").configure(api::routes))
        .service(web::scope("/console").configure(console::routes))
        .route("/websubhub", post().to(websub::hub_request))
        .route("/metrics", get().to(metrics::on_main_listener))
        .default_service(web::to(not_found));
}

/// The separate metrics listener's routes (`[metrics] listen`): `/metrics` and nothing else.
pub fn metrics_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics::on_metrics_listener))
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// Root span of every request. Unlike the default it logs the path without the query string
/// (which will carry codes and tokens) and the client IP by our trusted-proxy rules instead of
/// believing any forwarding header. With traces on, it is the OTLP server span, named
/// `METHOD route-pattern`, continuing the trace of a `traceparent` header sent by a trusted
/// proxy (see [`remote_parent`]).
#[derive(Debug)]
pub struct SesameRootSpan;

impl RootSpanBuilder for SesameRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let state = request.app_data::<web::Data<AppState>>();
        let trusted = state
            .map(|s| s.settings.trusted_proxies.clone())
            .unwrap_or_default();
        let ip = client_ip::of_service_request(request, &trusted)
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        let method = request
            .extensions()
            .get::<OriginalMethod>()
            .map_or_else(|| request.method().to_string(), |m| m.0.to_string());
        let known = request.extensions().get::<RoutePattern>().cloned();
        let route = known.map_or_else(|| request.match_pattern(), |r| r.0);
        // OpenTelemetry's naming for server spans: the method and the route template (never the
        // path, which would make every organization's requests a different name).
        let name = match &route {
            Some(route) => format!("{method} {route}"),
            None => method.clone(),
        };
        let empty = tracing::field::Empty;
        let span = tracing::info_span!(
            "HTTP request",
            otel.name = %name,
            otel.kind = "server",
            http.method = %method,
            http.route = %route.as_deref().unwrap_or("default"),
            http.target = %request.path(),
            http.client_ip = %ip,
            request_id = %request_id,
            http.status_code = empty,
            otel.status_code = empty,
            exception.message = empty,
        );
        let tracing_on = state.is_some_and(|s| s.settings.traces.is_some());
        if tracing_on {
            let peer = request.peer_addr().map(|a| a.ip());
            let from_proxy = peer.is_some_and(|ip| trusted.iter().any(|net| net.contains(&ip)));
            if let Some(parent) = remote_parent(request.headers(), from_proxy) {
                use tracing_opentelemetry::OpenTelemetrySpanExt;
                let _ = span.set_parent(parent);
            }
        }
        span
    }

    /// The status, and an error status for 5xx answers only: a 4xx is the client's mistake,
    /// not a failure of the server (OpenTelemetry's rule for server spans). Only the error's
    /// `Display` is recorded, which is what the client was told, never its `Debug`.
    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(res) => (res.status(), res.response().error()),
            Err(e) => (e.as_response_error().status_code(), Some(e)),
        };
        span.record("http.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
            if let Some(error) = error {
                span.record("exception.message", tracing::field::display(error));
            }
        }
    }
}

/// The caller's trace context from a W3C `traceparent` (and `tracestate`) header, believed only
/// from a trusted proxy, like `X-Request-Id`: from anyone, a client could pick trace ids that
/// collide with others' traces and, with the sampled flag, force every one of its requests to
/// be recorded (a cheap way to flood the collector). A gateway in front that starts or
/// forwards traces is trusted through `SESAME_TRUSTED_PROXIES`.
fn remote_parent(
    headers: &actix_web::http::header::HeaderMap,
    from_trusted_proxy: bool,
) -> Option<opentelemetry::Context> {
    use opentelemetry::propagation::{Extractor, TextMapPropagator};
    use opentelemetry::trace::TraceContextExt;

    struct Headers<'a>(&'a actix_web::http::header::HeaderMap);
    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }

    if !from_trusted_proxy || !headers.contains_key("traceparent") {
        return None;
    }
    let context =
        opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&Headers(headers));
    context.span().span_context().is_valid().then_some(context)
}

/// The request's id, logged with everything it causes and echoed as `X-Request-Id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The method the client sent, when [`request_context`] changed it (`HEAD` served as `GET`).
#[derive(Debug, Clone)]
struct OriginalMethod(actix_web::http::Method);

/// A new request id: a version 4 UUID from the thread's CSPRNG (`rand::rng()`, reseeded from
/// the OS), not a `getrandom` system call per request as `Uuid::new_v4` makes.
fn new_request_id() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

/// The route pattern the request matches, looked up once by [`request_context`] for the access
/// log, the metrics and the request span: each lookup walks the routes again.
#[derive(Debug, Clone)]
struct RoutePattern(Option<String>);

/// A request id given by a proxy is kept when it is printable ASCII without spaces and at most
/// 128 characters: anything else could forge or break log lines.
fn sane_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len()) && value.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Outermost middleware: names the request (a trusted proxy's `X-Request-Id`, else a new
/// UUID), echoes that id, serves `HEAD` as the `GET` route (actix-web's `web::get()` routes do
/// not match `HEAD`; the server itself drops the body of an answer to a `HEAD`, over HTTP/1 and
/// HTTP/2, and keeps its headers), and writes the access log: one INFO line per request with
/// the matched route pattern, never the path's query, which carries codes and tokens; the same
/// pattern labels the request's metrics.
pub async fn request_context(
    mut req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    use actix_web::http::Method;
    use actix_web::http::header::{HeaderName, HeaderValue};

    let started = std::time::Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let trusted = state
        .as_ref()
        .map(|s| s.settings.trusted_proxies.clone())
        .unwrap_or_default();
    let peer = req.peer_addr().map(|a| a.ip());
    let from_proxy = peer.is_some_and(|ip| trusted.iter().any(|net| net.contains(&ip)));
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| from_proxy && sane_request_id(v))
        .map_or_else(new_request_id, str::to_string);
    let method = req.method().clone();
    if method == Method::HEAD {
        req.extensions_mut().insert(OriginalMethod(Method::HEAD));
        req.head_mut().method = Method::GET;
    }
    req.extensions_mut().insert(RequestId(id.clone()));
    let client_ip = client_ip::client_ip(peer, req.headers(), &trusted)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let (proto, host) = client_ip::forwarded_origin(peer, req.headers(), &trusted);
    let pattern = req.match_pattern();
    req.extensions_mut().insert(RoutePattern(pattern.clone()));
    let route = pattern.unwrap_or_else(|| "default".into());

    let result = next.call(req).await;
    let status = match &result {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    if let Some(state) = &state {
        state
            .metrics
            .http_request(&route, method.as_str(), status.as_u16(), started.elapsed());
    }
    tracing::info!(
        target: "sesame::access",
        method = %method,
        route = %route,
        status = status.as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        request_id = %id,
        client_ip = %client_ip,
        forwarded_proto = proto.as_deref(),
        forwarded_host = host.as_deref(),
        "request"
    );
    let mut res = result?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::{remote_parent, sane_request_id};

    #[test]
    fn a_traceparent_is_followed_from_trusted_proxies_only() {
        use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
        use opentelemetry::trace::TraceContextExt;
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("traceparent"),
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let parent = remote_parent(&headers, true).expect("a valid traceparent is used");
        let span = parent.span();
        let context = span.span_context();
        assert_eq!(
            context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(context.span_id().to_string(), "00f067aa0ba902b7");
        assert!(context.is_sampled() && context.is_remote());
        assert!(remote_parent(&headers, false).is_none(), "untrusted peer");
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "garbage",
        ] {
            headers.insert(
                HeaderName::from_static("traceparent"),
                HeaderValue::from_static(bad),
            );
            assert!(remote_parent(&headers, true).is_none(), "{bad}");
        }
        assert!(remote_parent(&HeaderMap::new(), true).is_none());
    }

    #[test]
    fn new_request_ids_are_random_version_4_uuids() {
        let (a, b) = (super::new_request_id(), super::new_request_id());
        assert_ne!(a, b);
        for id in [a, b] {
            let uuid = uuid::Uuid::parse_str(&id).unwrap();
            assert_eq!(uuid.get_version(), Some(uuid::Version::Random), "{id}");
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
    }

    #[test]
    fn only_sane_request_ids_are_kept() {
        assert!(sane_request_id("abc-123_XYZ.=/:"));
        assert!(sane_request_id(&"a".repeat(128)));
        for bad in ["", "has space", "tab\t", "caf\u{e9}", "new\nline"] {
            assert!(!sane_request_id(bad), "{bad:?}");
        }
        assert!(!sane_request_id(&"a".repeat(129)));
    }
}
