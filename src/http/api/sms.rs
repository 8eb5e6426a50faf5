//! `POST /api/v1/organizations/{org}/sms/test-message`: Connections → SMS OTP → "send a test
//! message". The work is [`crate::admin::sms`]'s.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{ApiProblem, caller, json, json_body, organization};
use crate::admin::Role;
use crate::admin::sms::{self as service, TestMessageSent};
use crate::http::AppState;
use crate::plugin::Sms;

/// One test message at a time per organization on this node, from the hour's count to its
/// audit entry, so a burst of requests cannot pass the count together (each node counts the
/// others' messages once they are recorded); one organization's slow gateway holds up only its
/// own.
static SENDING: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<i64, std::sync::Arc<tokio::sync::Mutex<()>>>>,
> = std::sync::LazyLock::new(Default::default);

/// The turn of `organization`'s test messages.
fn turn_of(organization: i64) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    SENDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(organization)
        .or_default()
        .clone()
}

/// Where the test message goes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestMessage {
    /// With its country code (`+44 7400 900123`); a number the organization sends codes to.
    phone_number: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations/{org}/sms/test-message",
    tag = "sms",
    operation_id = "sendTestMessage",
    summary = "Send a test message",
    description = "A text (no code) through the organization's SMS channel as configured now, \
                   trying its gateways in order as a code would. At most 20 per organization \
                   and hour; audited. Needs the role admin.",
    params(("org" = String, Path, description = "The organization's slug")),
    request_body = TestMessage,
    responses(
        (status = 200, description = "A gateway took the message", body = TestMessageSent),
        (status = 409, description = "The organization's messages go to webhook subscribers, or its channel cannot be built", body = super::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The hour's test messages were sent", body = super::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The gateways refused or failed: the detail says why", body = super::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn test_message(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &path, Role::Admin).await?;
    let asked: TestMessage = json_body(&req, &body)?;
    let sent = send(&state, caller.actor, org, asked.phone_number).await?;
    Ok(json(StatusCode::OK, &sent))
}

/// Sends a test message to `phone_number` through `org`'s channel for `actor` (the API's
/// operation and the console's button), within the hour's limit, and records it.
pub(crate) async fn send(
    state: &AppState,
    actor: crate::admin::Actor,
    org: std::sync::Arc<crate::state::OrgEntry>,
    phone_number: String,
) -> Result<TestMessageSent, ApiProblem> {
    let channel = match &org.sms {
        Ok(channel) if channel.is_webhook() => {
            return Err(ApiProblem::Conflict(
                "this organization's texts are sent by its webhook subscribers (NOTIFICATIONS): \
                 there is no gateway to test"
                    .into(),
            ));
        }
        Ok(channel) => channel.clone(),
        Err(why) => {
            return Err(ApiProblem::Conflict(format!(
                "the SMS channel cannot be built: {why}"
            )));
        }
    };
    let turn = turn_of(org.org.id);
    let _turn = turn.lock().await;
    let lookup = org.clone();
    let number = state
        .db
        .run(move |conn| {
            Ok(service::destination(
                conn,
                lookup.org.id,
                &lookup.org.settings,
                &phone_number,
            ))
        })
        .await??;
    let text = service::text(&org.org.display_name);
    let key = uuid::Uuid::new_v4().to_string();
    let sms = Sms {
        to: number.as_str(),
        body: &text,
        idempotency_key: &key,
        status_url: None,
    };
    let status_base = format!("{}/sms/status", org.issuer);
    let sent = channel
        .send(sms, &status_base, &state.metrics, &org.org.slug)
        .await
        .map(|(gateway, message_id)| TestMessageSent {
            to: number.masked(),
            gateway,
            message_id,
        })
        .map_err(|e| e.to_string());
    let (masked, recorded) = (number.masked(), sent.clone());
    state
        .db
        .run(move |conn| {
            service::record(
                conn,
                org.event_origin(),
                &actor,
                &masked,
                recorded.as_ref().map_err(String::as_str),
            )
        })
        .await?;
    sent.map_err(|why| {
        ApiProblem::BadGateway(format!("the gateways did not take the message: {why}"))
    })
}
