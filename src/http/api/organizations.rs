//! `/api/v1/organizations`: read (viewers), created (the system role), their display name and
//! settings changed (admins) — Connections → SMS OTP, the lock policy, backup codes, magic
//! links, the SMS channel and gateways, APIs, upstream providers, event sinks. The work is
//! [`crate::admin::organizations`]'s.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::{ApiProblem, caller, created, if_match, json, json_body, organization, tagged};
use crate::admin::Role;
use crate::admin::organizations::{self as service, NewOrganization, OrganizationView};
use crate::http::AppState;

#[utoipa::path(
    get,
    path = "/api/v1/organizations",
    tag = "organizations",
    operation_id = "listOrganizations",
    summary = "List organizations",
    description = "The organizations the caller holds a role in (every one, for the system role).",
    responses((status = 200, description = "The organizations", body = Vec<OrganizationView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let principal = caller.principal;
    let orgs = state
        .db
        .run(move |conn| Ok(service::list(conn, &principal)))
        .await??;
    Ok(json(StatusCode::OK, &orgs))
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org}",
    tag = "organizations",
    operation_id = "getOrganization",
    summary = "Read an organization",
    description = "With its settings, secrets redacted. Needs the role viewer.",
    params(("org" = String, Path, description = "The organization's slug")),
    responses((status = 200, description = "The organization, with its ETag", body = OrganizationView))
)]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    organization(&state, &caller, &path, Role::Viewer).await?;
    let slug = path.into_inner();
    let principal = caller.principal;
    let (org, version) = state
        .db
        .run(move |conn| Ok(service::get(conn, &principal, &slug)))
        .await??;
    Ok(tagged(StatusCode::OK, &org, version))
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations",
    tag = "organizations",
    operation_id = "createOrganization",
    summary = "Create an organization",
    description = "Its settings checked like a provisioning file's. Needs the system role.",
    request_body = NewOrganization,
    responses(
        (status = 201, description = "The organization, with its ETag and Location", body = OrganizationView),
        (status = 409, description = "The slug is taken", body = super::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    if !caller.principal.is_system() {
        return Err(ApiProblem::Forbidden(
            "creating an organization needs the system role".into(),
        ));
    }
    let new: NewOrganization = json_body(&req, &body)?;
    let principal = caller.principal.clone();
    let recorder = super::recorder(&state, caller);
    let kek = state.keys.kek().clone();
    let (org, version) = state
        .db
        .run(move |conn| Ok(service::create(conn, &recorder, &kek, &principal, new)))
        .await??;
    state.forget_organization(&org.slug);
    let location = format!(
        "{}/api/v1/organizations/{}",
        state.settings.base_url.as_str(),
        org.slug
    );
    Ok(created(&org, version, &location))
}

#[utoipa::path(
    patch,
    path = "/api/v1/organizations/{org}",
    tag = "organizations",
    operation_id = "updateOrganization",
    summary = "Change an organization's display name and settings",
    description = "A JSON merge patch (RFC 7396) of `display_name` and `settings`, sent with \
                   `If-Match` holding the ETag read; checked like a provisioning file. \
                   `{\"settings\": {\"sms_otp\": {\"length\": 8}}}` changes one SMS OTP setting and \
                   leaves the others; a section set to null goes back to its defaults. Secrets \
                   are write-only: `[redacted]` sent back (or a URL as shown) keeps the secret \
                   already there, unless the address it goes to changes. Needs the role admin \
                   (system, for the `admin` organization).",
    params(
        ("org" = String, Path, description = "The organization's slug"),
        ("If-Match" = String, Header, description = "The ETag read, or `*` to overwrite whatever is there"),
    ),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The organization changed, with its new ETag", body = OrganizationView),
        (status = 409, description = "The organization kept changing meanwhile: try again", body = super::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The organization changed since it was read", body = super::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = super::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    organization(&state, &caller, &path, Role::Admin).await?;
    let expected = if_match(&req, true)?;
    let patch: Value = json_body(&req, &body)?;
    let slug = path.into_inner();
    let principal = caller.principal.clone();
    let recorder = super::recorder(&state, caller);
    let changed = slug.clone();
    let kek = state.keys.kek().clone();
    let (org, version) = state
        .db
        .run(move |conn| {
            Ok(service::update(
                conn, &recorder, &kek, &principal, &changed, &expected, &patch,
            ))
        })
        .await??;
    state.forget_organization(&slug);
    Ok(tagged(StatusCode::OK, &org, version))
}
