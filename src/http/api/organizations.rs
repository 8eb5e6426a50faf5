//! `/api/v1/organizations` and an organization's applications (read; changes come with the
//! console's editors).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{ApiProblem, caller, json, organization};
use crate::admin::Role;
use crate::admin::applications::{self, ApplicationView};
use crate::admin::organizations::{self, OrganizationView};
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
        .run(move |conn| Ok(organizations::list(conn, &principal)))
        .await??;
    Ok(json(StatusCode::OK, &orgs))
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org}",
    tag = "organizations",
    operation_id = "getOrganization",
    summary = "Read an organization",
    description = "With its settings. Needs the role viewer.",
    params(("org" = String, Path, description = "The organization's slug")),
    responses((status = 200, description = "The organization", body = OrganizationView))
)]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &path, Role::Viewer).await?;
    Ok(json(
        StatusCode::OK,
        &organizations::view(&org.org, &caller.principal),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org}/applications",
    tag = "applications",
    operation_id = "listApplications",
    summary = "List applications",
    description = "Needs the role viewer.",
    params(("org" = String, Path, description = "The organization's slug")),
    responses((status = 200, description = "The organization's applications", body = Vec<ApplicationView>))
)]
pub async fn applications(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &path, Role::Viewer).await?;
    let org_id = org.org.id;
    let apps = state
        .db
        .run(move |conn| Ok(applications::list(conn, org_id)))
        .await??;
    Ok(json(StatusCode::OK, &apps))
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org}/applications/{client_id}",
    tag = "applications",
    operation_id = "getApplication",
    summary = "Read an application",
    description = "With its sign-in flow. The client secret is never shown. Needs the role viewer.",
    params(
        ("org" = String, Path, description = "The organization's slug"),
        ("client_id" = String, Path, description = "The application's client id"),
    ),
    responses((status = 200, description = "The application", body = ApplicationView))
)]
pub async fn application(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiProblem> {
    let (slug, client_id) = path.into_inner();
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &slug, Role::Viewer).await?;
    if crate::domain::ClientId::parse(&client_id).is_err() {
        return Err(ApiProblem::NotFound(
            "no application with that client id in this organization".into(),
        ));
    }
    let org_id = org.org.id;
    let app = state
        .db
        .run(move |conn| Ok(applications::get(conn, org_id, &client_id)))
        .await??;
    Ok(json(StatusCode::OK, &app))
}
