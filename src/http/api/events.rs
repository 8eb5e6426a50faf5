//! `/api/v1/organizations/{org}/events`: the outbox and its deliveries, and redelivery.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{ApiProblem, caller, json, organization, page_limit, query};
use crate::admin::Role;
use crate::admin::events::{self as service, DeliveryView, EventView};
use crate::http::AppState;

/// How many events.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// The newest this many, 1 to 200 (50 when absent).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// One delivery after a redelivery request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Redelivery {
    pub delivery: DeliveryView,
    /// False for an event holding a code that is no longer live (expired, used or replaced: a
    /// dead code is never sent).
    pub scheduled: bool,
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org}/events",
    tag = "events",
    operation_id = "listEvents",
    summary = "List events and their deliveries",
    description = "The newest events of the outbox (delivered ones are kept a week), message \
                   bodies redacted and numbers masked, with each delivery's state, attempts and \
                   last error. Needs the role viewer.",
    params(("org" = String, Path, description = "The organization's slug"), EventQuery),
    responses((status = 200, description = "The events, newest first", body = Vec<EventView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &path, Role::Viewer).await?;
    let q: EventQuery = query(&req)?;
    let limit = page_limit(q.limit)?;
    let (kek, org_id) = (state.keys.kek().clone(), org.org.id);
    let events = state
        .db
        .run(move |conn| Ok(service::list(conn, &kek, org_id, limit)))
        .await??;
    Ok(json(StatusCode::OK, &events))
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations/{org}/events/{id}/redeliver",
    tag = "events",
    operation_id = "redeliverEvent",
    summary = "Deliver an event again",
    description = "To each of its targets, retried for the delivery age again; an event holding a \
                   code only while the code is live. Needs the role admin.",
    params(
        ("org" = String, Path, description = "The organization's slug"),
        ("id" = String, Path, description = "The event's id (`jti`)"),
    ),
    responses((status = 200, description = "Each delivery and whether it was scheduled", body = Vec<Redelivery>))
)]
pub async fn redeliver(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiProblem> {
    let (slug, jti) = path.into_inner();
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &slug, Role::Admin).await?;
    let answer = redeliver_event(&state, caller.actor, org, jti).await?;
    Ok(json(StatusCode::OK, &answer))
}

/// Schedules event `jti` of `org` again to each of its targets for `actor` (the API's
/// operation and the console's button) and wakes the delivery worker.
pub(crate) async fn redeliver_event(
    state: &AppState,
    actor: crate::admin::Actor,
    org: std::sync::Arc<crate::state::OrgEntry>,
    jti: String,
) -> Result<Vec<Redelivery>, ApiProblem> {
    if uuid::Uuid::parse_str(&jti).is_err() {
        return Err(ApiProblem::NotFound(format!("no event '{jti}' here")));
    }
    let max_age = state.settings.delivery_max_age_seconds;
    let done = state
        .db
        .run(move |conn| {
            Ok(service::redeliver(
                conn,
                org.event_origin(),
                &actor,
                &jti,
                max_age,
            ))
        })
        .await??;
    state.deliveries_due.notify_one();
    let answer: Vec<Redelivery> = done
        .into_iter()
        .map(|(delivery, scheduled)| Redelivery {
            delivery,
            scheduled,
        })
        .collect();
    Ok(answer)
}
