//! `/api/v1/organizations/{org}/applications`: viewers read; admins create, change (the
//! "Sign-in Method" too: a preset or the steps, checked by the engine's rules), delete and give
//! new secrets. The work is [`crate::admin::applications`]'s.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::{
    ApiProblem, caller, created, if_match, json, json_body, no_content, organization, recorder,
    tagged,
};
use crate::admin::Role;
use crate::admin::applications::{self as service, ApplicationChanged, ApplicationView};
use crate::http::AppState;

fn valid_client_id(client_id: &str) -> Result<(), ApiProblem> {
    crate::domain::ClientId::parse(client_id)
        .map(|_| ())
        .map_err(|_| {
            ApiProblem::NotFound("no application with that client id in this organization".into())
        })
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
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &path, Role::Viewer).await?;
    let org_id = org.org.id;
    let apps = state
        .db
        .run(move |conn| Ok(service::list(conn, org_id)))
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
    responses((status = 200, description = "The application, with its ETag", body = ApplicationView))
)]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiProblem> {
    let (slug, client_id) = path.into_inner();
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &slug, Role::Viewer).await?;
    valid_client_id(&client_id)?;
    let org_id = org.org.id;
    let (app, version) = state
        .db
        .run(move |conn| Ok(service::get(conn, org_id, &client_id)))
        .await??;
    Ok(tagged(StatusCode::OK, &app, version))
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations/{org}/applications",
    tag = "applications",
    operation_id = "createApplication",
    summary = "Create an application",
    description = "Checked like a provisioning file's, the sign-in flow by the engine's rules. A \
                   confidential application without a secret or keys gets one generated, \
                   answered this once. Needs the role admin.",
    params(("org" = String, Path, description = "The organization's slug")),
    request_body = crate::provisioning::AppSpec,
    responses(
        (status = 201, description = "The application, with its ETag and Location", body = ApplicationChanged),
        (status = 409, description = "The client id is taken", body = super::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiProblem> {
    change(state, req, path.into_inner(), None, Change::Create(body)).await
}

#[utoipa::path(
    patch,
    path = "/api/v1/organizations/{org}/applications/{client_id}",
    tag = "applications",
    operation_id = "updateApplication",
    summary = "Change an application",
    description = "A JSON merge patch (RFC 7396) of its fields (`client_secret` write-only; \
                   `has_secret`, `created_at`, `updated_at` read-only; the client id never \
                   changes), sent with `If-Match` holding the ETag read. \
                   `{\"sign_in_flow\": \"username_password_sms_otp\", \"backup_codes\": true}` \
                   adds SMS OTP as a second factor with backup codes. Needs the role admin.",
    params(
        ("org" = String, Path, description = "The organization's slug"),
        ("client_id" = String, Path, description = "The application's client id"),
        ("If-Match" = String, Header, description = "The ETag read, or `*` to overwrite whatever is there"),
    ),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The application changed, with its new ETag (and a secret generated by the change, once)", body = ApplicationChanged),
        (status = 409, description = "The application kept changing meanwhile: try again", body = super::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The application changed since it was read", body = super::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = super::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiProblem> {
    let (slug, client_id) = path.into_inner();
    change(state, req, slug, Some(client_id), Change::Update(body)).await
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations/{org}/applications/{client_id}/secret",
    tag = "applications",
    operation_id = "newApplicationSecret",
    summary = "Give an application a new client secret",
    description = "Generated, answered this once; the old secret stops working at once. Only for \
                   a confidential application that authenticates with a secret. `If-Match` is \
                   optional. Needs the role admin.",
    params(
        ("org" = String, Path, description = "The organization's slug"),
        ("client_id" = String, Path, description = "The application's client id"),
        ("If-Match" = Option<String>, Header, description = "The ETag read: refused with 412 if the application changed since"),
    ),
    responses(
        (status = 200, description = "The application, with its new secret", body = ApplicationChanged),
        (status = 409, description = "The application has no secret (public, or with keys)", body = super::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn new_secret(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiProblem> {
    let (slug, client_id) = path.into_inner();
    change(state, req, slug, Some(client_id), Change::NewSecret).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/organizations/{org}/applications/{client_id}",
    tag = "applications",
    operation_id = "deleteApplication",
    summary = "Delete an application",
    description = "With everything issued to it: its codes, grants and tokens, consents, and the \
                   roles it held as a service application. `If-Match` is optional. Needs the \
                   role admin.",
    params(
        ("org" = String, Path, description = "The organization's slug"),
        ("client_id" = String, Path, description = "The application's client id"),
        ("If-Match" = Option<String>, Header, description = "The ETag read: refused with 412 if the application changed since"),
    ),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiProblem> {
    let (slug, client_id) = path.into_inner();
    change(state, req, slug, Some(client_id), Change::Delete).await
}

/// What a request changes of an application (with its body).
#[derive(Debug)]
enum Change {
    Create(web::Bytes),
    Update(web::Bytes),
    NewSecret,
    Delete,
}

/// Every change's course: the caller holds the role admin in the organization; the change is
/// made and audited; the node's cached copy of the organization (its redirect URIs' origins,
/// its first steps) is dropped at once, the other nodes' as `docs/deploy.md` says.
async fn change(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: String,
    client_id: Option<String>,
    change: Change,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &slug, Role::Admin).await?;
    if let Some(client_id) = &client_id {
        valid_client_id(client_id)?;
    }
    let expected = if_match(&req, matches!(change, Change::Update(_)))?;
    let body: Value = match &change {
        Change::Create(body) | Change::Update(body) => json_body(&req, body)?,
        Change::NewSecret | Change::Delete => Value::Null,
    };
    let creating = matches!(change, Change::Create(_));
    let recorder = recorder(&state, caller);
    let org_row = org.org.clone();
    let client = client_id.clone().unwrap_or_default();
    let answer = state
        .db
        .run(move |conn| {
            Ok(match change {
                Change::Create(_) => service::create(conn, &recorder, &org_row, body).map(Some),
                Change::Update(_) => {
                    service::update(conn, &recorder, &org_row, &client, &expected, &body).map(Some)
                }
                Change::NewSecret => {
                    service::new_secret(conn, &recorder, &org_row, &client, &expected).map(Some)
                }
                Change::Delete => {
                    service::delete(conn, &recorder, &org_row, &client, &expected).map(|()| None)
                }
            })
        })
        .await??;
    state.forget_organization(&slug);
    Ok(match answer {
        None => no_content(),
        Some((app, version)) if creating => created(
            &app,
            version,
            &format!(
                "{}/api/v1/organizations/{slug}/applications/{}",
                state.settings.base_url.as_str(),
                app.application.client_id
            ),
        ),
        Some((app, version)) => tagged(StatusCode::OK, &app, version),
    })
}
