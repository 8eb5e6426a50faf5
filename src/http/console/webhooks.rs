//! An organization's webhooks (WebSub subscriptions) and its events with their deliveries:
//! declare or remove a subscription, send an event again.

use serde::Deserialize;

use super::*;
use crate::admin::webhooks::{self as service, NewWebhook};
use crate::secret::Secret;

/// The notices of the page, by what was done.
const DONE: &[(&str, &str)] = &[
    (
        "created",
        "The webhook was declared. It stays pending until its callback answers the intent verification; then the topic's events go to it, signed with its secret.",
    ),
    (
        "deleted",
        "The webhook was removed: nothing more goes to it.",
    ),
    (
        "redelivered",
        "The event was scheduled again for each of its targets.",
    ),
];

/// Events the page shows.
const EVENTS: i64 = 25;

pub(super) async fn webhooks(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> HttpResponse {
    let (caller, org) = or_answer!(within(&state, &req, &slug, Role::Viewer).await);
    let said = Said::from_query(&req, DONE);
    webhooks_page(&state, &req, (&caller, &org.org), said, None).await
}

async fn webhooks_page(
    state: &AppState,
    req: &HttpRequest,
    (caller, org): (&Caller, &crate::store::organizations::Organization),
    said: Said,
    entered: Option<&WebhookForm>,
) -> HttpResponse {
    let (org_id, kek) = (org.id, state.keys.kek().clone());
    let read = state
        .db
        .run(move |conn| {
            Ok(service::list(conn, org_id).and_then(|hooks| {
                crate::admin::events::list(conn, &kek, org_id, EVENTS).map(|ev| (hooks, ev))
            }))
        })
        .await;
    let (hooks, events) = or_answer!(found!(state, read));
    page(
        state,
        said.status(),
        "console_webhooks.html",
        merged(
            merged(frame(state, req, caller), said.context()),
            json!({
                "org": { "slug": org.slug, "display_name": org.display_name },
                "webhooks": hooks,
                "events": events,
                "topics": ["NOTIFICATIONS", "USER_OPERATIONS", "LOGINS", "ADMIN"],
                // What was entered, except the secret, when the form was refused.
                "entered": entered.map(|f| json!({
                    "topic": f.topic,
                    "callback": f.callback,
                    "lease_seconds": f.lease_seconds,
                })),
                "may_change": caller.principal.may(org.id, role_to_change(&org.slug)),
            }),
        ),
    )
}

/// A webhook to declare.
#[derive(Debug, Deserialize)]
pub(super) struct WebhookForm {
    csrf: String,
    topic: String,
    callback: String,
    secret: Secret<String>,
    #[serde(default)]
    lease_seconds: String,
}

pub(super) async fn webhook_create(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    form: web::Form<WebhookForm>,
) -> HttpResponse {
    let (caller, org) = or_answer!(acting(&state, &req, &slug, Role::Admin, &form.csrf).await);
    let form = form.into_inner();
    let lease = form.lease_seconds.trim();
    let lease_seconds = if lease.is_empty() {
        None
    } else {
        match lease.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                let said = Said::refused(&ApiProblem::from(crate::admin::AdminError::invalid(
                    "lease_seconds",
                    "enter a whole number of seconds, or nothing for the longest lease",
                )));
                return webhooks_page(&state, &req, (&caller, &org.org), said, Some(&form)).await;
            }
        }
    };
    let new = NewWebhook {
        topic: form.topic.clone(),
        callback: form.callback.clone(),
        secret: form.secret.clone(),
        lease_seconds,
    };
    let recorder = crate::admin::audit::Recorder::new(&state.settings, caller.actor.clone());
    let (kek, org_row) = (state.keys.kek().clone(), org.org.clone());
    let created = state
        .db
        .run(move |conn| Ok(service::create(conn, &recorder, &kek, &org_row, new)))
        .await;
    let said = match created {
        Ok(Ok(_)) => {
            return see_other(&url(&state, &format!("/o/{slug}/webhooks?done=created")));
        }
        Ok(Err(e)) => Said::refused(&e.into()),
        Err(e) => Said::refused(&e.into()),
    };
    webhooks_page(&state, &req, (&caller, &org.org), said, Some(&form)).await
}

pub(super) async fn webhook_delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<TokenOnly>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (caller, org) = or_answer!(acting(&state, &req, &slug, Role::Admin, &form.csrf).await);
    let recorder = crate::admin::audit::Recorder::new(&state.settings, caller.actor.clone());
    let org_row = org.org.clone();
    let deleted = state
        .db
        .run(move |conn| Ok(service::delete(conn, &recorder, &org_row, &id)))
        .await;
    let said = match deleted {
        Ok(Ok(())) => {
            return see_other(&url(&state, &format!("/o/{slug}/webhooks?done=deleted")));
        }
        Ok(Err(e)) => Said::refused(&e.into()),
        Err(e) => Said::refused(&e.into()),
    };
    webhooks_page(&state, &req, (&caller, &org.org), said, None).await
}

pub(super) async fn event_redeliver(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<TokenOnly>,
) -> HttpResponse {
    let (slug, jti) = path.into_inner();
    let (caller, org) = or_answer!(acting(&state, &req, &slug, Role::Admin, &form.csrf).await);
    match api::events::redeliver_event(&state, caller.actor.clone(), org.clone(), jti).await {
        Ok(done) if done.iter().any(|d| d.scheduled) => see_other(&url(
            &state,
            &format!("/o/{slug}/webhooks?done=redelivered"),
        )),
        Ok(_) => {
            let said = Said::refused(&ApiProblem::Conflict(
                "Nothing was scheduled: this event holds a code that is no longer live, and a dead code is never sent.".into(),
            ));
            webhooks_page(&state, &req, (&caller, &org.org), said, None).await
        }
        Err(problem) => {
            webhooks_page(
                &state,
                &req,
                (&caller, &org.org),
                Said::refused(&problem),
                None,
            )
            .await
        }
    }
}
