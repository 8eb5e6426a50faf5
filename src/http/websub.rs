//! `POST {base}/websubhub`: WebSub subscription requests (W3C WebSub §5.1). The subscriber
//! authenticates with an access token of the topic's organization carrying `websub:subscribe`
//! (client credentials of an application allowed it). The request is answered `202 Accepted`;
//! the hub then verifies the subscriber's intent with a GET challenge before anything is
//! delivered (or removed). Bad requests get a JSON problem body.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::events::hub::{self, SUBSCRIBE_SCOPE};
use crate::oidc::client_auth::strip_scheme;
use crate::oidc::token::live_access_token;
use crate::store::now;
use crate::store::subscriptions::{self, Subscription};

fn problem(status: StatusCode, title: &str, detail: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .json(json!({ "title": title, "status": status.as_u16(), "detail": detail }))
}

fn bad(detail: &str) -> HttpResponse {
    problem(StatusCode::BAD_REQUEST, "Bad subscription request", detail)
}

pub async fn hub_request(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let Some(mode) = field("hub.mode").filter(|m| *m == "subscribe" || *m == "unsubscribe") else {
        return Ok(bad("hub.mode must be subscribe or unsubscribe"));
    };
    let base = state.settings.base_url.as_str();
    let Some((slug, topic)) = field("hub.topic").and_then(|t| hub::parse_topic(base, t)) else {
        return Ok(bad(&format!(
            "hub.topic must be a topic of this hub: {}/topics/ORG/{{{}}}",
            hub::hub_url(base),
            hub::TOPICS.join(",")
        )));
    };
    // An unknown organization is answered like a wrong token, so the hub does not tell which
    // organizations exist.
    let forbidden = || {
        problem(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "the token is not a live websub:subscribe token of the topic's organization",
        )
    };
    let Ok(org) = state.organization(&slug).await else {
        return Ok(forbidden());
    };

    // The organization's administrator credential: a websub:subscribe token for this hub.
    let token = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| strip_scheme(h, "Bearer"));
    let Some(token) = token else {
        return Ok(HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer realm=\"sesame-websub\""))
            .json(json!({ "title": "Unauthorized", "status": 401,
                "detail": "send an access token with the websub:subscribe scope" })));
    };
    let authorized = match live_access_token(&state, &org, token).await {
        Ok(Ok((claims, _))) => {
            claims["aud"] == hub::hub_url(base).as_str()
                && claims["scope"]
                    .as_str()
                    .is_some_and(|s| s.split(' ').any(|x| x == SUBSCRIBE_SCOPE))
        }
        _ => false,
    };
    if !authorized {
        return Ok(forbidden());
    }

    let Some(callback) = field("hub.callback") else {
        return Ok(bad("hub.callback is required"));
    };
    match state.outbound.check_url(callback) {
        Ok(url) if url.fragment().is_none() => {}
        Ok(_) => return Ok(bad("hub.callback must not have a fragment")),
        Err(e) => return Ok(bad(&format!("hub.callback: {e}"))),
    }
    let lease = match field("hub.lease_seconds").map(str::parse::<i64>) {
        None => hub::DEFAULT_LEASE_SECONDS,
        Some(Ok(n)) if n > 0 => n.clamp(hub::MIN_LEASE_SECONDS, hub::MAX_LEASE_SECONDS),
        Some(_) => return Ok(bad("hub.lease_seconds must be a positive integer")),
    };
    let secret = field("hub.secret");
    if mode == "subscribe" && !secret.is_some_and(|s| (16..=200).contains(&s.len())) {
        return Ok(bad(
            "hub.secret is required: 16 to 200 bytes, used to sign every delivery",
        ));
    }

    let (org_id, topic, callback) = (org.org.id, topic.to_string(), callback.to_string());
    let existing = {
        let (t, c) = (topic.clone(), callback.clone());
        state
            .db
            .run(move |conn| Subscription::find(conn, org_id, &t, &c))
            .await?
    };
    let kek = state.keys.kek();
    match (mode, existing) {
        ("subscribe", None) => {
            let id = uuid::Uuid::new_v4().to_string();
            let sealed = hub::seal_secret(kek, &id, secret.unwrap_or_default())
                .map_err(|_| ApiError::Internal)?;
            let t = now();
            let sub = Subscription {
                id,
                organization_id: org_id,
                topic,
                callback,
                secret: sealed,
                pending_secret: None,
                previous_secret: None,
                previous_secret_until: None,
                state: subscriptions::PENDING.into(),
                pending_mode: Some("subscribe".into()),
                lease_seconds: lease,
                expires_at: None,
                verify_after: t,
                verify_attempts: 0,
                created_at: t,
                updated_at: t,
            };
            state
                .db
                .run(move |conn| Subscription::insert(conn, &sub))
                .await?;
        }
        ("subscribe", Some(sub)) => {
            // A renewal, or a secret rotation: the new secret applies once verified.
            let sealed = hub::seal_secret(kek, &sub.id, secret.unwrap_or_default())
                .map_err(|_| ApiError::Internal)?;
            state
                .db
                .run(move |conn| {
                    Subscription::request(conn, &sub.id, "subscribe", Some(&sealed), lease)
                })
                .await?;
        }
        (_, Some(sub)) => {
            state
                .db
                .run(move |conn| {
                    Subscription::request(conn, &sub.id, "unsubscribe", None, sub.lease_seconds)
                })
                .await?;
        }
        (_, None) => {}
    }
    state.deliveries_due.notify_one();
    Ok(HttpResponse::Accepted().finish())
}
