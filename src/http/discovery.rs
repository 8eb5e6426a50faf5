//! `{issuer}/.well-known/openid-configuration` and `{issuer}/jwks`: public documents, served from
//! pre-serialized bytes with a strong `ETag` (a revalidation that still matches is a `304`),
//! readable cross-origin.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::{AppState, error::ApiError};
use crate::document::PublicDocument;

pub async fn openid_configuration(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    Ok(serve(&req, &org.discovery, "public, max-age=300"))
}

pub async fn jwks(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let keys = state.keys.get(&state.db, org.org.id).await?;
    Ok(serve(&req, &keys.jwks, "public, max-age=60"))
}

fn serve(req: &HttpRequest, doc: &PublicDocument, cache_control: &'static str) -> HttpResponse {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| doc.matches(v));
    let mut res = HttpResponse::build(if fresh {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::ETAG, doc.etag.as_str()));
    if fresh {
        return res.finish();
    }
    res.content_type("application/json").body(doc.body.clone())
}
