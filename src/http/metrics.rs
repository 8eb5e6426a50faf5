//! `GET /metrics`: the node's Prometheus metrics (see `crate::metrics`). Served on the main
//! listener unless `[metrics] listen` names a separate address, 404 when disabled, and behind a
//! bearer token when one is configured.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::metrics::Format;
use crate::secret::sha256_hex;

/// On the main listener: only when metrics are on and have no listener of their own.
pub async fn on_main_listener(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let settings = &state.settings.metrics;
    if !settings.enabled || settings.listen.is_some() {
        return Err(ApiError::NotFound);
    }
    Ok(expose(&state, &req).await)
}

/// On the separate metrics listener (started only when metrics are on).
pub async fn on_metrics_listener(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    expose(&state, &req).await
}

async fn expose(state: &AppState, req: &HttpRequest) -> HttpResponse {
    if let Some(token) = &state.settings.metrics.token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.get(..7)
                    .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
                    .map(|_| &v[7..])
            });
        // Digests compared in constant time: neither the token nor its length leaks.
        let expected = sha256_hex(token.expose());
        let admitted = presented
            .is_some_and(|p| bool::from(sha256_hex(p).as_bytes().ct_eq(expected.as_bytes())));
        if !admitted {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"sesame-metrics\""))
                .finish();
        }
    }
    let format = Format::from_accept(
        req.headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    let body = state.metrics.render(&state.db, format).await;
    HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}
