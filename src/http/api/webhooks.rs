//! `/api/v1/organizations/{org}/webhooks`: viewers list the organization's subscriptions;
//! admins declare them (pending until the subscriber confirms, as the hub does for requested
//! ones) and remove them. The work is [`crate::admin::webhooks`]'s; deliveries are listed with
//! the events.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{ApiProblem, caller, json, json_body, no_content, organization, recorder};
use crate::admin::Role;
use crate::admin::webhooks::{self as service, NewWebhook, WebhookView};
use crate::http::AppState;

#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org}/webhooks",
    tag = "webhooks",
    operation_id = "listWebhooks",
    summary = "List webhooks",
    description = "The organization's subscriptions, requested at the hub or declared, with \
                   their state. Needs the role viewer.",
    params(("org" = String, Path, description = "The organization's slug")),
    responses((status = 200, description = "The subscriptions", body = Vec<WebhookView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &path, Role::Viewer).await?;
    let org_id = org.org.id;
    let hooks = state
        .db
        .run(move |conn| Ok(service::list(conn, org_id)))
        .await??;
    Ok(json(StatusCode::OK, &hooks))
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations/{org}/webhooks",
    tag = "webhooks",
    operation_id = "createWebhook",
    summary = "Declare a webhook",
    description = "Pending until the callback answers the hub's intent verification (WebSub \
                   §5.3), then events of the topic are delivered to it, signed with the secret. \
                   Needs the role admin.",
    params(("org" = String, Path, description = "The organization's slug")),
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Declared, pending its verification", body = WebhookView),
        (status = 409, description = "This callback already subscribes to this topic", body = super::Problem, content_type = "application/problem+json"),
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
    let new: NewWebhook = json_body(&req, &body)?;
    let recorder = recorder(&state, caller);
    let kek = state.keys.kek().clone();
    let hook = state
        .db
        .run(move |conn| Ok(service::create(conn, &recorder, &kek, &org.org, new)))
        .await??;
    Ok(json(StatusCode::CREATED, &hook))
}

#[utoipa::path(
    delete,
    path = "/api/v1/organizations/{org}/webhooks/{id}",
    tag = "webhooks",
    operation_id = "deleteWebhook",
    summary = "Remove a webhook",
    description = "At once, without asking the subscriber; its deliveries still due are not \
                   made. Needs the role admin.",
    params(
        ("org" = String, Path, description = "The organization's slug"),
        ("id" = String, Path, description = "The subscription's id"),
    ),
    responses((status = 204, description = "Removed"))
)]
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiProblem> {
    let (slug, id) = path.into_inner();
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &slug, Role::Admin).await?;
    let recorder = recorder(&state, caller);
    state
        .db
        .run(move |conn| Ok(service::delete(conn, &recorder, &org.org, &id)))
        .await??;
    Ok(no_content())
}
