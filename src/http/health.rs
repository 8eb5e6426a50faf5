//! Liveness and readiness probes for orchestrators and load balancers.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use super::AppState;

/// The process is up and answering. Says nothing about the database.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready to serve: the database answers within a second (a load balancer's probe must not
/// wait for the requests' pool timeout) and, after a write failed on a full disk, writes work
/// again. 503 while not, so a load balancer sends traffic elsewhere; it turns ready again by
/// itself.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.readiness(std::time::Duration::from_secs(1)).await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready", "database": "ok" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            let database = if e.is_disk_full() {
                "full"
            } else {
                "unreachable"
            };
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .json(json!({ "status": "unavailable", "database": database }))
        }
    }
}
