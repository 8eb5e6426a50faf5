//! `{issuer}/.well-known/openid-configuration` and `{issuer}/jwks`: public documents, served from
//! pre-serialized bytes, readable cross-origin.

use actix_web::{HttpResponse, get, web};

use super::{AppState, error::ApiError};

#[get("/t/{org}/.well-known/openid-configuration")]
pub async fn openid_configuration(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(org.discovery.clone()))
}

#[get("/t/{org}/jwks")]
pub async fn jwks(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let keys = state.keys.get(&state.db, org.org.id).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Cache-Control", "public, max-age=60"))
        .body(keys.jwks.clone()))
}
