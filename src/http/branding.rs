//! The organization's branding on its pages (`crate::branding`): which organization the page
//! being rendered belongs to, and its logo.
//!
//! The pages of the `/t/{org}` scope run inside [`scope`]; the handler resolving its
//! organization ([`AppState::organization`](super::AppState::organization)) records it there, and
//! [`Pages`](super::pages::Pages) reads it when it renders, so no handler passes the brand along
//! and a page rendered before the organization is known (an unknown one) shows Sesame's own.

use std::cell::RefCell;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};

use super::error::ApiError;
use super::{AppState, OrgEntry};
use crate::branding::{DEFAULT_COLOR, PageBrand};

tokio::task_local! {
    static PAGE_ORG: RefCell<Option<Arc<OrgEntry>>>;
}

/// Middleware of the `/t/{org}` scope: the pages a request renders show the branding of the
/// organization its handler resolved, in the language the request asks for (`crate::i18n`).
pub async fn scope(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let accept_language = req
        .headers()
        .get(actix_web::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let page = PAGE_ORG.scope(RefCell::new(None), next.call(req));
    crate::i18n::scope(accept_language.as_deref(), page).await
}

/// Records the organization of the request being handled (outside [`scope`], nothing): its
/// branding and its default language.
pub(super) fn record(org: &Arc<OrgEntry>) {
    let _ = PAGE_ORG.try_with(|cell| *cell.borrow_mut() = Some(org.clone()));
    crate::i18n::set_default(org.org.settings.branding.language());
}

/// The brand of the page being rendered: its organization's, or Sesame's own.
pub(super) fn current() -> PageBrand {
    PAGE_ORG
        .try_with(|cell| {
            cell.borrow()
                .as_ref()
                .map(|o| PageBrand::new(&o.org.display_name, &o.issuer, &o.brand))
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| PageBrand {
            name: "Sesame".into(),
            logo_url: None,
            color: DEFAULT_COLOR.into(),
            support_url: None,
        })
}

#[derive(Debug, serde::Deserialize)]
pub struct LogoQuery {
    v: Option<String>,
}

/// `GET {issuer}/branding/logo?v={version}`: the organization's logo. The pages' URL carries the
/// logo's hash, so that one is cached for a day (any other is checked again each time: a logo
/// changed or removed does not linger). Opened by itself, an SVG runs nothing, cannot be framed
/// and is offered as a download.
pub async fn logo(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<LogoQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let Some(logo) = &org.brand.logo else {
        return Err(ApiError::NotFound);
    };
    let cache = if query.v.as_deref() == Some(logo.version.as_str()) {
        "public, max-age=86400"
    } else {
        "no-cache"
    };
    Ok(HttpResponse::Ok()
        .content_type(logo.content_type)
        .insert_header(("Cache-Control", cache))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox",
        ))
        .insert_header(("Content-Disposition", "attachment; filename=\"logo\""))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Cross-Origin-Resource-Policy", "same-origin"))
        .body(logo.bytes.clone()))
}
