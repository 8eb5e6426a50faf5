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
use crate::events::subscribe::{self, Mode, Request};
use crate::oidc::client_auth::strip_scheme;
use crate::oidc::presented::carries_scope;

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
    let Some(mode) = field("hub.mode").and_then(Mode::parse) else {
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
    let hub_url = hub::hub_url(base);
    if !carries_scope(&state, &org, token, &hub_url, SUBSCRIBE_SCOPE).await {
        return Ok(forbidden());
    }

    let request = Request::check(
        &state.outbound,
        mode,
        topic,
        field("hub.callback"),
        field("hub.lease_seconds"),
        field("hub.secret"),
    );
    match request {
        Ok(request) => {
            subscribe::submit(&state, org.org.id, request).await?;
            Ok(HttpResponse::Accepted().finish())
        }
        Err(why) => Ok(bad(&why)),
    }
}
