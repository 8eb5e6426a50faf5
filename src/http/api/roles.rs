//! `/api/v1/organizations/{org}/roles`: who administers the organization. Admins read; owners
//! grant and take back roles up to their own (the system role is granted at the command line
//! only: `sesame admin grant`). Nobody changes their own role.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{ApiProblem, Caller, caller, json, json_body, no_content, organization};
use crate::admin::roles::{self as service, Named, RoleView};
use crate::admin::{ADMIN_ORGANIZATION, AdminError, Role};
use crate::http::AppState;

/// The role to grant.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// `viewer`, `support`, `admin` or `owner`.
    role: Role,
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org}/roles",
    tag = "roles",
    operation_id = "listRoles",
    summary = "List who administers the organization",
    description = "Its administrators and service applications with their roles, and those \
                   with the system role. Needs the role admin.",
    params(("org" = String, Path, description = "The organization's slug")),
    responses((status = 200, description = "The roles", body = Vec<RoleView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &path, Role::Admin).await?;
    let admin = state.organization(ADMIN_ORGANIZATION).await?;
    let (admin_id, org_id) = (admin.org.id, org.org.id);
    let roles = state
        .db
        .run(move |conn| Ok(service::list(conn, admin_id, org_id)))
        .await??;
    Ok(json(StatusCode::OK, &roles))
}

#[utoipa::path(
    put,
    path = "/api/v1/organizations/{org}/roles/{kind}/{name}",
    tag = "roles",
    operation_id = "grantRole",
    summary = "Grant a role",
    description = "To an administrator (`users`, by username) or a service application \
                   (`clients`, by client id) of the `admin` organization, replacing the role it \
                   had here. Needs the role owner; the system role is granted at the command \
                   line only.",
    params(
        ("org" = String, Path, description = "The organization's slug"),
        ("kind" = String, Path, description = "`users` or `clients`"),
        ("name" = String, Path, description = "The username or the client id"),
    ),
    request_body = Grant,
    responses(
        (status = 200, description = "The roles over the organization now", body = Vec<RoleView>),
        (status = 409, description = "Your own role", body = super::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn grant(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiProblem> {
    change(state, req, path.into_inner(), Some(body)).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/organizations/{org}/roles/{kind}/{name}",
    tag = "roles",
    operation_id = "revokeRole",
    summary = "Take back a role",
    description = "The role the administrator or service application holds over this \
                   organization. Needs the role owner.",
    params(
        ("org" = String, Path, description = "The organization's slug"),
        ("kind" = String, Path, description = "`users` or `clients`"),
        ("name" = String, Path, description = "The username or the client id"),
    ),
    responses(
        (status = 204, description = "Taken back"),
        (status = 409, description = "Your own role", body = super::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiProblem> {
    change(state, req, path.into_inner(), None).await
}

/// A grant (with its body) or a revocation.
async fn change(
    state: web::Data<AppState>,
    req: HttpRequest,
    (slug, kind, name): (String, String, String),
    body: Option<web::Bytes>,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &slug, Role::Owner).await?;
    let named = match kind.as_str() {
        "users" => Named::User(name),
        "clients" => Named::Client(name),
        _ => {
            return Err(ApiProblem::NotFound(
                "roles are held by `users` or `clients`".into(),
            ));
        }
    };
    let role = match &body {
        Some(body) => {
            let grant: Grant = json_body(&req, body)?;
            if grant.role == Role::System {
                return Err(ApiProblem::InvalidField {
                    field: "role".into(),
                    message: "the system role is granted at the command line (sesame admin grant)"
                        .into(),
                });
            }
            Some(grant.role)
        }
        None => None,
    };
    let admin = state.organization(ADMIN_ORGANIZATION).await?;
    let admin_id = admin.org.id;
    let org_id = org.org.id;
    let Caller { principal, actor } = caller;
    let revoked = state
        .db
        .run(move |conn| {
            let result = (|| {
                let (id, label) = service::principal(conn, admin_id, &named)?;
                if id == principal.id {
                    return Err(AdminError::Conflict(
                        "you cannot change your own role: another owner can".into(),
                    ));
                }
                match role {
                    Some(role) => {
                        service::grant(conn, org.event_origin(), &actor, &id, Some(org_id), role)?;
                        Ok(true)
                    }
                    None => {
                        if service::revoke(conn, org.event_origin(), &actor, &id, Some(org_id))? {
                            Ok(true)
                        } else {
                            Err(AdminError::NotFound(format!("{label} holds no role here")))
                        }
                    }
                }
            })();
            Ok(result.and_then(|_| service::list(conn, admin_id, org_id)))
        })
        .await??;
    Ok(match body {
        Some(_) => json(StatusCode::OK, &revoked),
        None => no_content(),
    })
}
