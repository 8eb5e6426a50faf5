//! `/api/v1/organizations/{org}/users` and the organization's audit log: who may do what is
//! checked here (viewer reads; support unlocks, resets factors, ends sessions; admin changes),
//! the work is [`crate::admin::users`]'s.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{
    ApiProblem, Caller, caller, created, if_match, json, json_body, no_content, organization,
    page_limit, query, tagged,
};
use crate::admin::users::{self as service, NewUser, UserDetail, UserPage, UserPatch};
use crate::admin::{AdminError, Principal, Role};
use crate::http::AppState;
use crate::provisioning::MIN_PASSWORD_LEN;
use crate::secret::Secret;
use crate::store::users::UserFilter;

/// The listing's filters and page.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Users whose username holds this (case-insensitive).
    username: Option<String>,
    /// Users whose email holds this (case-insensitive).
    email: Option<String>,
    /// Users whose mobile number holds these digits (`+4474`).
    phone_number: Option<String>,
    /// The `next` of the previous page.
    after: Option<String>,
    /// Users per page, 1 to 200 (50 when absent).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// A new password.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// Write-only; at least 8 characters.
    #[schema(write_only, value_type = String, min_length = 8)]
    password: Secret<String>,
}

/// Refuses an administrator's change that would lock themselves out (deleting or disabling
/// their own account, removing their second factors).
pub(crate) fn not_yourself(caller: &Caller, id: &str, what: &str) -> Result<(), ApiProblem> {
    if caller.principal.id == Principal::user(id) {
        return Err(ApiProblem::Conflict(format!(
            "you cannot {what} your own account: another administrator can"
        )));
    }
    Ok(())
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org}/users",
    tag = "users",
    operation_id = "listUsers",
    summary = "List and search users",
    description = "In username order, a page at a time. Needs the role viewer.",
    params(("org" = String, Path, description = "The organization's slug"), UserQuery),
    responses((status = 200, description = "One page of users", body = UserPage))
)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &path, Role::Viewer).await?;
    let q: UserQuery = query(&req)?;
    let filter = UserFilter {
        username: q.username,
        email: q.email,
        phone_number: q.phone_number,
    };
    let limit = page_limit(q.limit)?;
    let org_id = org.org.id;
    let page = state
        .db
        .run(move |conn| {
            Ok(service::list(
                conn,
                org_id,
                &filter,
                q.after.as_deref(),
                limit,
            ))
        })
        .await??;
    Ok(json(StatusCode::OK, &page))
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations/{org}/users",
    tag = "users",
    operation_id = "createUser",
    summary = "Create a user",
    description = "Needs the role admin.",
    params(("org" = String, Path, description = "The organization's slug")),
    request_body = NewUser,
    responses(
        (status = 201, description = "The user, with its ETag and Location", body = UserDetail),
        (status = 409, description = "The username is taken", body = super::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &path, Role::Admin).await?;
    let mut new: NewUser = json_body(&req, &body)?;
    let hash = match new.password.take() {
        Some(password) => Some(hash_password(&state, password).await?),
        None => None,
    };
    let actor = caller.actor;
    let location = format!(
        "{}/api/v1/organizations/{}/users/",
        state.settings.base_url.as_str(),
        org.org.slug
    );
    let user = state
        .db
        .run(move |conn| Ok(service::create(conn, org.event_origin(), &actor, new, hash)))
        .await??;
    Ok(created(
        &user,
        user.summary.version,
        &format!("{location}{}", user.summary.id),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org}/users/{id}",
    tag = "users",
    operation_id = "getUser",
    summary = "Read a user",
    description = "With its lock, backup codes left and enrolled factors. Needs the role viewer.",
    params(
        ("org" = String, Path, description = "The organization's slug"),
        ("id" = String, Path, description = "The user's id (its `sub`)"),
    ),
    responses((status = 200, description = "The user, with its ETag", body = UserDetail))
)]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiProblem> {
    let (slug, id) = path.into_inner();
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &slug, Role::Viewer).await?;
    let org_id = org.org.id;
    let user = state
        .db
        .run(move |conn| Ok(service::get(conn, org_id, &id)))
        .await??;
    Ok(with_etag(StatusCode::OK, &user))
}

#[utoipa::path(
    patch,
    path = "/api/v1/organizations/{org}/users/{id}",
    tag = "users",
    operation_id = "updateUser",
    summary = "Change a user",
    description = "A JSON merge patch (RFC 7396) sent with `If-Match` holding the ETag read: a user \
                   changed since is refused with 412. Disabling ends every session and revokes \
                   every token. Needs the role admin.",
    params(
        ("org" = String, Path, description = "The organization's slug"),
        ("id" = String, Path, description = "The user's id"),
        ("If-Match" = String, Header, description = "The ETag read, or `*` to overwrite whatever is there"),
    ),
    request_body(content = UserPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The user changed, with its new ETag", body = UserDetail),
        (status = 409, description = "The new username is taken", body = super::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The user changed since it was read", body = super::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = super::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiProblem> {
    let (slug, id) = path.into_inner();
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &slug, Role::Admin).await?;
    let expected = if_match(&req, true)?;
    let patch: UserPatch = json_body(&req, &body)?;
    if patch.disabled == Some(Some(true)) {
        not_yourself(&caller, &id, "disable")?;
    }
    if patch.phone_number == Some(None) {
        not_yourself(&caller, &id, "remove the mobile number of")?;
    }
    let actor = caller.actor;
    let user = state
        .db
        .run(move |conn| {
            Ok(service::update(
                conn,
                org.event_origin(),
                &actor,
                &id,
                &expected,
                patch,
            ))
        })
        .await??;
    Ok(with_etag(StatusCode::OK, &user))
}

#[utoipa::path(
    delete,
    path = "/api/v1/organizations/{org}/users/{id}",
    tag = "users",
    operation_id = "deleteUser",
    summary = "Delete a user",
    description = "With its sessions, tokens, factors and consents. Needs the role admin.",
    params(
        ("org" = String, Path, description = "The organization's slug"),
        ("id" = String, Path, description = "The user's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag read: refused with 412 if the user changed since"),
    ),
    responses(
        (status = 204, description = "The user is gone"),
        (status = 409, description = "An administrator cannot delete their own account", body = super::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiProblem> {
    let (slug, id) = path.into_inner();
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &slug, Role::Admin).await?;
    let expected = if_match(&req, false)?;
    not_yourself(&caller, &id, "delete")?;
    let actor = caller.actor;
    state
        .db
        .run(move |conn| {
            Ok(service::delete(
                conn,
                org.event_origin(),
                &actor,
                &id,
                &expected,
            ))
        })
        .await??;
    Ok(no_content())
}

#[utoipa::path(
    put,
    path = "/api/v1/organizations/{org}/users/{id}/password",
    tag = "users",
    operation_id = "setUserPassword",
    summary = "Set a user's password",
    description = "Ends every session and revokes every token of the user. Needs the role admin.",
    params(
        ("org" = String, Path, description = "The organization's slug"),
        ("id" = String, Path, description = "The user's id"),
    ),
    request_body = NewPassword,
    responses((status = 200, description = "The user, with its new ETag", body = UserDetail))
)]
pub async fn set_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiProblem> {
    let (slug, id) = path.into_inner();
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &slug, Role::Admin).await?;
    let expected = if_match(&req, false)?;
    let new: NewPassword = json_body(&req, &body)?;
    let hash = hash_password(&state, new.password).await?;
    let actor = caller.actor;
    let user = state
        .db
        .run(move |conn| {
            Ok(service::set_password(
                conn,
                org.event_origin(),
                &actor,
                &id,
                &expected,
                hash,
            ))
        })
        .await??;
    Ok(with_etag(StatusCode::OK, &user))
}

/// The three support actions share their shape: a POST without a body on the user.
macro_rules! support_action {
    ($name:ident, $service:path, $id:literal, $path:literal, $summary:literal, $description:literal, $own:expr, [$($extra:tt)*]) => {
        #[utoipa::path(
            post,
            path = $path,
            tag = "users",
            operation_id = $id,
            summary = $summary,
            description = $description,
            params(
                ("org" = String, Path, description = "The organization's slug"),
                ("id" = String, Path, description = "The user's id"),
                ("If-Match" = Option<String>, Header, description = "The ETag read: refused with 412 if the user changed since"),
            ),
            responses(
                (status = 200, description = "The user afterwards, with its ETag", body = UserDetail),
                $($extra)*
            )
        )]
        pub async fn $name(
            state: web::Data<AppState>,
            req: HttpRequest,
            path: web::Path<(String, String)>,
        ) -> Result<HttpResponse, ApiProblem> {
            let (slug, id) = path.into_inner();
            let caller = caller(&state, &req).await?;
            let org = organization(&state, &caller, &slug, Role::Support).await?;
            let expected = if_match(&req, false)?;
            // What an administrator may not do to their own account, if anything.
            let own: Option<&str> = $own;
            if let Some(what) = own {
                not_yourself(&caller, &id, what)?;
            }
            let actor = caller.actor;
            let user = state
                .db
                .run(move |conn| Ok($service(conn, org.event_origin(), &actor, &id, &expected)))
                .await??;
            Ok(with_etag(StatusCode::OK, &user))
        }
    };
}

support_action!(
    unlock,
    service::unlock,
    "unlockUser",
    "/api/v1/organizations/{org}/users/{id}/unlock",
    "Unlock an account",
    "Ends every lock on the account (for every client) and forgets its failed attempts. \
     Needs the role support.",
    None,
    []
);

support_action!(
    reset_factors,
    service::reset_factors,
    "resetUserFactors",
    "/api/v1/organizations/{org}/users/{id}/reset-factors",
    "Reset second factors",
    "Removes the mobile number, the backup codes and every enrolled credential (authenticator \
     apps, passkeys). Sessions stay: end them too if the factor may be in someone else's hands. \
     Needs the role support.",
    Some("remove the second factors of"),
    [(
        status = 409,
        description = "An administrator cannot remove their own second factors",
        body = super::Problem,
        content_type = "application/problem+json"
    )]
);

support_action!(
    end_sessions,
    service::end_sessions,
    "endUserSessions",
    "/api/v1/organizations/{org}/users/{id}/end-sessions",
    "End every session",
    "Signs the user out everywhere and revokes every grant, refresh and access token issued to \
     them. Needs the role support.",
    None,
    []
);

/// The audit log's page.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// The `next` of the previous page.
    before: Option<i64>,
    /// Entries per page, 1 to 200 (50 when absent).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org}/audit",
    tag = "audit",
    operation_id = "listAudit",
    summary = "Read the audit log",
    description = "Every change to the organization, newest first. Needs the role viewer.",
    params(("org" = String, Path, description = "The organization's slug"), AuditQuery),
    responses((status = 200, description = "One page of the log", body = crate::admin::audit::AuditPage))
)]
pub async fn audit(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &path, Role::Viewer).await?;
    let q: AuditQuery = query(&req)?;
    let limit = page_limit(q.limit)?;
    let org_id = org.org.id;
    let page = state
        .db
        .run(move |conn| crate::admin::audit::page(conn, org_id, q.before, limit))
        .await?;
    Ok(json(StatusCode::OK, &page))
}

/// Hashes a new password on the hashing pool, after checking its length.
async fn hash_password(state: &AppState, password: Secret<String>) -> Result<String, ApiProblem> {
    if password.expose().chars().count() < MIN_PASSWORD_LEN {
        return Err(AdminError::invalid(
            "password",
            format!("at least {MIN_PASSWORD_LEN} characters"),
        )
        .into());
    }
    state
        .hasher
        .hash(password)
        .await
        .ok_or(ApiProblem::Unavailable)
}

fn with_etag(status: StatusCode, user: &UserDetail) -> HttpResponse {
    tagged(status, user, user.summary.version)
}
