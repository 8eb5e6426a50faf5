//! The `magic_link` first step: "email me a link" on the sign-in page, and the link itself.
//!
//! The answer to a request is the same page whether or not the username or address belongs to
//! anyone, and the lookup and the mail happen after it, in the background, so the timing says
//! nothing either. Only users
//! with a verified email address get links. The per-IP limit answers visibly (it says nothing
//! about accounts); the per-address limit stops sending silently, for the same reason.
//!
//! The link carries a 256-bit token (only its SHA-256 is stored) and names the sign-in it
//! finishes; opening it checks the sign-in's browser-binding cookie before the link is spent, so
//! a mail scanner or another browser sees a clear page and does not use the link up.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

use super::browser::{
    csrf_matches, ctx, expired_page, form_expired_page, open_transaction, sign_in,
};
use super::error::ApiError;
use super::signin::respond;
use super::{AppState, OrgEntry};
use crate::authn::engine::{self, Command, FormToken};
use crate::authn::flow::Authenticator;
use crate::authn::outcome::{Outcome, StepError};
use crate::authn::policy;
use crate::domain::{Email, Username};
use crate::mail::Mail;
use crate::secret::{random_token, sha256_hex};
use crate::store::auth::LoginTransaction;
use crate::store::magic_links::MagicLink;
use crate::store::now;
use crate::store::users::User;

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
    let org = state.organization(&path).await?;
    let form = form.into_inner();
    let Some(signing_in) = sign_in(&state, &org, &req, form.tx.clone()).await? else {
        return Ok(expired_page(&state));
    };
    let Some(step) =
        engine::first_step(&state, &signing_in, Some(&Authenticator::MagicLink)).await?
    else {
        return Ok(expired_page(&state));
    };
    if !csrf_matches(form.csrf.as_deref(), &signing_in.tx) {
        return Ok(form_expired_page(&state));
    }
    let (tx, purpose) = (&signing_in.tx, &signing_in.purpose);
    let identifier = form.identifier.trim().to_string();
    if identifier.is_empty() || identifier.len() > 254 {
        let error = Some(StepError::IdentifierMissing);
        let view = engine::first_view(&signing_in, step, "", error);
        return respond(&state, &signing_in, &req, Outcome::Step(view)).await;
    }
    let settings = org.org.settings.magic_link.clone();
    let org_id = org.org.id;
    let ip = super::client_ip::of_request(&req, &state.settings.trusted_proxies)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let (key, window, t) = (
        policy::link_ip_key(org_id, &ip),
        settings.window_seconds,
        now(),
    );
    let from_ip = state
        .db
        .run(move |conn| policy::count(conn, &key, window, t))
        .await?;
    if from_ip.attempts > settings.max_sends_per_ip {
        return Ok(state.pages.error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in links",
            "Too many sign-in links were asked for from your network. Wait a while, or sign in another way.",
        ));
    }

    // Everything that depends on whether the account exists happens after the answer, in
    // the background: the response (and its timing) is the same for everyone.
    let (bg_state, bg_org, bg_tx) = (state.clone(), org.clone(), tx.clone());
    let (wanted, app_name) = (identifier.clone(), purpose.name(&org));
    tokio::spawn(async move {
        if let Err(e) = find_and_send(&bg_state, &bg_org, &bg_tx, &app_name, wanted).await {
            tracing::warn!(error = ?e, "magic link request failed");
        }
    });
    let minutes = (settings.lifetime_seconds + 59) / 60;
    Ok(state.pages.render(
        StatusCode::OK,
        "magic_link_sent.html",
        context! {
            org_name => org.org.display_name,
            app_name => purpose.name(&org),
            identifier,
            minutes,
            back_url => format!("{}/login?tx={}", org.issuer, tx.id),
        },
    ))
}

/// Finds who `wanted` names (a username, or a verified address held by exactly one user) and,
/// if they can get links, sends one.
async fn find_and_send(
    state: &web::Data<AppState>,
    org: &OrgEntry,
    tx: &LoginTransaction,
    app_name: &str,
    wanted: String,
) -> Result<(), ApiError> {
    let org_id = org.org.id;
    let tx_user = tx.user_id.clone();
    let user = state
        .db
        .run(move |conn| {
            let found = if wanted.contains('@') {
                match Email::parse(&wanted) {
                    Ok(email) => {
                        let mut users = User::find_by_verified_email(conn, org_id, &email)?;
                        // Two accounts with one address: the address says nothing about whom.
                        if users.len() == 1 { users.pop() } else { None }
                    }
                    Err(_) => None,
                }
            } else {
                match Username::parse(&wanted) {
                    Ok(name) => User::find_by_username(conn, org_id, &name)?,
                    Err(_) => None,
                }
            };
            Ok(found.filter(|u| {
                u.email.is_some()
                    && u.email_verified
                    && !u.disabled
                    && tx_user.as_deref().is_none_or(|id| id == u.id)
            }))
        })
        .await?;
    match user {
        Some(user) => send_link(state, org, tx, app_name, &user).await,
        None => Ok(()),
    }
}

/// Stores a new link for the sign-in (voiding its earlier ones) and mails it, unless the address
/// had its share of links in the window (then nothing is sent, silently).
async fn send_link(
    state: &web::Data<AppState>,
    org: &OrgEntry,
    tx: &LoginTransaction,
    app_name: &str,
    user: &User,
) -> Result<(), ApiError> {
    let Some(email) = user.email.clone() else {
        return Ok(());
    };
    let settings = org.org.settings.magic_link.clone();
    let token = random_token(32);
    let t = now();
    let link = MagicLink {
        token_hash: sha256_hex(token.expose()),
        organization_id: org.org.id,
        transaction_id: tx.id.clone(),
        user_id: user.id.clone(),
        created_at: t,
        expires_at: t + settings.lifetime_seconds,
        used_at: None,
    };
    let key = policy::link_address_key(org.org.id, email.as_str());
    let (max, window) = (settings.max_sends_per_address, settings.window_seconds);
    let allowed = state
        .db
        .run(move |conn| {
            crate::store::write_transaction(conn, |conn| {
                let sent = policy::count(conn, &key, window, t)?.attempts;
                if sent > max {
                    return Ok(false);
                }
                MagicLink::insert(conn, &link)?;
                Ok(true)
            })
        })
        .await?;
    if !allowed {
        tracing::warn!(user = %user.id, "magic link not sent: too many for this address");
        return Ok(());
    }
    let url = format!("{}/magic-link?token={}", org.issuer, token.expose());
    let minutes = (settings.lifetime_seconds + 59) / 60;
    let ctx = context! {
        app_name,
        org_name => org.org.display_name,
        link => url,
        minutes,
    };
    let (text, html) = match (
        state.pages.text("magic_link_email.txt", &ctx),
        state.pages.text("magic_link_email.html", &ctx),
    ) {
        (Ok(t), Ok(h)) => (t, h),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "magic link email template failed");
            return Err(ApiError::Internal);
        }
    };
    let subject = format!("Sign in to {app_name}");
    let mail = Mail {
        to: email.as_str(),
        subject: &subject,
        text,
        html,
    };
    match org.org.settings.mail.send(mail).await {
        Ok(()) => tracing::info!(user = %user.id, "magic link sent"),
        Err(e) => tracing::warn!(user = %user.id, error = %e, "magic link could not be sent"),
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    token: Option<String>,
}

fn link_page(state: &AppState, status: StatusCode, title: &str, message: &str) -> HttpResponse {
    state.pages.error(status, title, message)
}

/// `GET /t/{org}/magic-link?token=…`: the link from the mail.
pub async fn open_link(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let invalid = || {
        link_page(
            &state,
            StatusCode::BAD_REQUEST,
            "This link does not work",
            "This sign-in link is not valid. Go back to the application and ask for a new one.",
        )
    };
    let Some(token) = query.into_inner().token.filter(|t| !t.is_empty()) else {
        return Ok(invalid());
    };
    let (org_id, hash) = (org.org.id, sha256_hex(&token));
    let h = hash.clone();
    let found = state
        .db
        .run(move |conn| {
            let Some(link) = MagicLink::find(conn, org_id, &h)? else {
                return Ok(None);
            };
            let open = LoginTransaction::find_open(conn, org_id, &link.transaction_id)?.is_some();
            Ok(Some((link, open)))
        })
        .await?;
    let Some((link, open)) = found else {
        return Ok(invalid());
    };
    if link.used_at.is_some() {
        return Ok(link_page(
            &state,
            StatusCode::BAD_REQUEST,
            "This link was already used",
            "Each sign-in link works once, and a newer link replaces older ones. Go back to the application and ask for a new one if you need to.",
        ));
    }
    if link.expires_at <= now() || !open {
        return Ok(link_page(
            &state,
            StatusCode::BAD_REQUEST,
            "This link has expired",
            "Sign-in links work for a few minutes only. Go back to the application and ask for a new one.",
        ));
    }
    // The browser that asked, or nothing: checked before the link is spent, so opening it
    // elsewhere (or a mail scanner fetching it) leaves it usable where it belongs.
    if open_transaction(&state, &org, &req, Some(link.transaction_id.clone()))
        .await?
        .is_none()
    {
        return Ok(link_page(
            &state,
            StatusCode::FORBIDDEN,
            "Open the link in the browser you signed in from",
            "For your safety, a sign-in link only works in the browser where you asked for it. Open it there (copy the address from the email if needed).",
        ));
    }
    let Some(signing_in) = sign_in(&state, &org, &req, Some(link.transaction_id.clone())).await?
    else {
        return Ok(expired_page(&state));
    };
    if engine::first_step(&state, &signing_in, Some(&Authenticator::MagicLink))
        .await?
        .is_none()
    {
        return Ok(expired_page(&state));
    }
    let user_id = link.user_id.clone();
    let user = state
        .db
        .run(move |conn| {
            if !MagicLink::spend(conn, &hash)? {
                return Ok(None);
            }
            User::find(conn, org_id, &user_id)
        })
        .await?;
    let Some(user) = user else {
        return Ok(link_page(
            &state,
            StatusCode::BAD_REQUEST,
            "This link was already used",
            "Each sign-in link works once. Go back to the application and ask for a new one if you need to.",
        ));
    };
    let command = Command::FirstStepPassed {
        user: Box::new(user),
        method: Authenticator::MagicLink,
        at: now(),
    };
    let context = ctx(&state, &req, FormToken::NotAForm);
    let outcome = engine::run(&state, &signing_in, command, &context).await?;
    respond(&state, &signing_in, &req, outcome).await
}
