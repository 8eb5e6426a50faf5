//! The `magic_link` first step's pages: "email me a link" on the sign-in page, and the link
//! itself. What they decide is the engine's (`authn::engine::link`); here a form or a link
//! becomes a command and the outcome a page.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::AppState;
use super::browser::{BROWSER_COOKIE, cookie_hash, ctx, refusal_page};
use super::error::ApiError;
use super::signin::{respond, run};
use crate::authn::engine::{Command, FormToken, link};

#[derive(Debug, Deserialize)]
pub struct LinkRequest {
    tx: Option<String>,
    csrf: Option<String>,
    #[serde(default)]
    identifier: String,
}

/// `POST /t/{org}/magic-link`: sends a link to the user's verified address, if there is one.
pub async fn request_link(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<LinkRequest>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let command = Command::RequestLink {
        identifier: form.identifier,
    };
    let token = FormToken::Sent(form.csrf);
    run(&state, &path, &req, form.tx, token, command).await
}

#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    token: Option<String>,
}

/// `GET /t/{org}/magic-link?token=…`: the link from the mail.
pub async fn open_link(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let token = query.into_inner().token.unwrap_or_default();
    let binding = cookie_hash(&req, BROWSER_COOKIE);
    let context = ctx(&state, &req, FormToken::NotAForm);
    match link::open(&state.core, &org, &token, binding.as_deref(), &context).await? {
        Ok((sign_in, outcome)) => respond(&state, &sign_in, &req, outcome).await,
        Err(refusal) => Ok(refusal_page(&state, refusal)),
    }
}
