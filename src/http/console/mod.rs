//! The web console at `{base}/console/`: server-rendered pages, usable without JavaScript, no
//! external asset, under the pages' strict CSP. Administrators sign in through Sesame itself
//! (the `console` application of the administration organization: authorization code with
//! PKCE, their own second factor), and the console acts with the access token it got, checked
//! on every request like the management API's (same roles, same audit log, `via` `console`).
//!
//! The token lives in an HttpOnly, SameSite=Lax cookie scoped to the console's path; forms
//! carry a token derived from it besides, so a page of another site can neither read nor post.
//! Each sign-in asks for the password and the second factor again (`prompt=login`), and
//! signing out revokes the token: on a shared browser nobody walks into the previous
//! administrator's console.

use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::AppState;
use super::api::{self, ApiProblem, Caller};
use super::browser::see_other;
use crate::admin::{ADMIN_ORGANIZATION, Role, Via};
use crate::secret::sha256_hex;

/// The value of a `Result<T, HttpResponse>`, or the handler returns the response (a page's
/// `?`, since handlers answer pages, not errors).
macro_rules! or_answer {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(response) => return response,
        }
    };
}

/// What a service called through the database gave (`Result<Result<T, E>, F>`, both errors
/// problems), as `Ok`, or the error page to answer instead.
macro_rules! found {
    ($state:expr, $read:expr) => {
        match $read {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(problem_page($state, &e.into())),
            Err(e) => Err(problem_page($state, &e.into())),
        }
    };
}

mod applications;
mod audit;
mod keys;
mod signin;
mod sms_channel;
mod sms_otp;
mod users;
mod webhooks;

use applications::{application, applications, sign_in_method_save};
use audit::audit;
use keys::{key_retire, keys, keys_rotate};
use signin::{callback, login, logout};
use sms_channel::{sms_channel, sms_channel_save, sms_test_message};
use sms_otp::{sms_otp, sms_otp_save};
use users::{user, user_action, users};
use webhooks::{event_redeliver, webhook_create, webhook_delete, webhooks};

/// The console's session: the access token of the administrator's sign-in.
pub const SESSION_COOKIE: &str = "sesame_console";
/// A sign-in on its way: its `state` and PKCE verifier.
const LOGIN_COOKIE: &str = "sesame_console_login";

/// The console's routes, under `/console`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use web::{get, post};
    // Room for an SMS channel's section with many gateways and templates (actix's default
    // is 16 KiB; past the limit the answer is a plain 413).
    cfg.app_data(web::FormConfig::default().limit(256 * 1024))
        .route("", get().to(to_home))
        .route("/", get().to(home))
        .route("/login", get().to(login))
        .route("/callback", get().to(callback))
        .route("/logout", post().to(logout))
        .route("/o/{org}/", get().to(organization))
        .route("/o/{org}/sms-otp", get().to(sms_otp))
        .route("/o/{org}/sms-otp", post().to(sms_otp_save))
        .route("/o/{org}/applications", get().to(applications))
        .route("/o/{org}/applications/{client_id}", get().to(application))
        .route(
            "/o/{org}/applications/{client_id}",
            post().to(sign_in_method_save),
        )
        .route("/o/{org}/sms-channel", get().to(sms_channel))
        .route("/o/{org}/sms-channel", post().to(sms_channel_save))
        .route("/o/{org}/sms-channel/test", post().to(sms_test_message))
        .route("/o/{org}/users", get().to(users))
        .route("/o/{org}/users/{id}", get().to(user))
        .route("/o/{org}/users/{id}", post().to(user_action))
        .route("/o/{org}/webhooks", get().to(webhooks))
        .route("/o/{org}/webhooks", post().to(webhook_create))
        .route("/o/{org}/webhooks/{id}/delete", post().to(webhook_delete))
        .route(
            "/o/{org}/events/{jti}/redeliver",
            post().to(event_redeliver),
        )
        .route("/o/{org}/keys", get().to(keys))
        .route("/o/{org}/keys/rotate", post().to(keys_rotate))
        .route("/o/{org}/keys/{kid}/retire", post().to(key_retire))
        .route("/o/{org}/audit", get().to(audit));
}

/// A form that carries nothing but its token (a button).
#[derive(Debug, serde::Deserialize)]
struct TokenOnly {
    csrf: String,
}

/// Compares a sent token with the expected one in constant time.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The console's path (`/console`, after the base URL's path), for its cookies.
fn path(state: &AppState, rest: &str) -> String {
    format!("{}/console{rest}", state.settings.base_url.path())
}

/// A page of the console by its full URL.
fn url(state: &AppState, rest: &str) -> String {
    format!("{}/console{rest}", state.settings.base_url.as_str())
}

fn cookie<'a>(state: &AppState, name: &'a str, value: String, max_age: i64) -> Cookie<'a> {
    let mut c = Cookie::build(name, value)
        .path(path(state, ""))
        .http_only(true)
        .secure(state.settings.base_url.as_str().starts_with("https://"))
        // Lax, not Strict: a console link followed from elsewhere is a redirect chain that
        // browsers treat as cross-site to its end, and a Strict session set at its end would
        // never be sent on it (sign-in after sign-in). The forms carry their own token.
        .same_site(SameSite::Lax)
        .finish();
    c.set_max_age(Duration::seconds(max_age));
    c
}

/// A page of the console (or its error page), with the strict CSP.
fn page(state: &AppState, status: StatusCode, name: &str, ctx: Value) -> HttpResponse {
    state.pages.render(status, name, ctx)
}

fn problem_page(state: &AppState, problem: &ApiProblem) -> HttpResponse {
    let p = problem.problem();
    page(
        state,
        StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        "console_error.html",
        json!({ "title": p.title, "detail": p.detail, "home": url(state, "/") }),
    )
}

/// The signed-in administrator, or the answer to give instead: to the sign-in when there is
/// no session or it ended, an error page when the sign-in cannot act here.
async fn session(state: &AppState, req: &HttpRequest) -> Result<Caller, HttpResponse> {
    let Some(token) = req.cookie(SESSION_COOKIE) else {
        return Err(see_other(&url(state, "/login")));
    };
    match api::caller_with_token(state, req, token.value(), Via::Console).await {
        Ok(caller) => Ok(caller),
        Err(ApiProblem::Unauthenticated(_) | ApiProblem::NoCredentials(_)) => {
            let mut res = see_other(&url(state, "/login"));
            let _ = res.add_removal_cookie(&cookie(state, SESSION_COOKIE, String::new(), 0));
            Err(res)
        }
        Err(problem) => Err(problem_page(state, &problem)),
    }
}

/// The token a form of this session carries: derived from the session's access token, so a
/// page of another origin cannot know it.
fn form_token(req: &HttpRequest) -> String {
    let token = req
        .cookie(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    sha256_hex(format!("sesame-console-form:{token}"))[..32].to_string()
}

/// What every page shows: who is signed in, the form token, the console's paths.
fn frame(state: &AppState, req: &HttpRequest, caller: &Caller) -> Value {
    json!({
        "who": caller.principal.name,
        "csrf": form_token(req),
        "base": path(state, ""),
    })
}

fn merged(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

async fn to_home(state: web::Data<AppState>) -> HttpResponse {
    see_other(&url(&state, "/"))
}

/// Organizations the administrator holds a role in.
async fn home(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let caller = or_answer!(session(&state, &req).await);
    let principal = caller.principal.clone();
    let orgs = state
        .db
        .run(move |conn| Ok(crate::admin::organizations::list(conn, &principal)))
        .await;
    match orgs {
        Ok(Ok(orgs)) => page(
            &state,
            StatusCode::OK,
            "console_home.html",
            merged(
                frame(&state, &req, &caller),
                json!({ "organizations": orgs }),
            ),
        ),
        Ok(Err(e)) => problem_page(&state, &e.into()),
        Err(e) => problem_page(&state, &e.into()),
    }
}

/// An organization the administrator may see, with the caller, or the answer to give instead.
async fn within(
    state: &AppState,
    req: &HttpRequest,
    slug: &str,
    needed: Role,
) -> Result<(Caller, std::sync::Arc<crate::state::OrgEntry>), HttpResponse> {
    let caller = session(state, req).await?;
    match api::organization(state, &caller, slug, needed).await {
        Ok(org) => Ok((caller, org)),
        Err(problem) => Err(problem_page(state, &problem)),
    }
}

async fn organization(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> HttpResponse {
    let (caller, org) = or_answer!(within(&state, &req, &slug, Role::Viewer).await);
    let view = crate::admin::organizations::view(&org.org, &caller.principal);
    page(
        &state,
        StatusCode::OK,
        "console_organization.html",
        merged(frame(&state, &req, &caller), json!({ "org": view })),
    )
}

/// What a page with a form shows besides what it edits: the values entered when they were
/// refused (and why), or that the last change was saved.
struct Outcome<'a, F> {
    entered: Option<&'a F>,
    errors: &'a [(String, String)],
    saved: bool,
}

impl<F> Outcome<'_, F> {
    fn shown(saved: bool) -> Self {
        Self {
            entered: None,
            errors: &[],
            saved,
        }
    }
}

/// For a form's POST: the organization and the caller allowed `needed` there, the form sent
/// from a page of this console session (its token matches), or the answer to give instead.
async fn acting(
    state: &AppState,
    req: &HttpRequest,
    slug: &str,
    needed: Role,
    sent_token: &str,
) -> Result<(Caller, std::sync::Arc<crate::state::OrgEntry>), HttpResponse> {
    let found = within(state, req, slug, needed).await?;
    if !constant_time_eq(sent_token.as_bytes(), form_token(req).as_bytes()) {
        return Err(problem_page(
            state,
            &ApiProblem::Forbidden("this form did not come from this console session".into()),
        ));
    }
    Ok(found)
}

/// What a page says after a change or a refusal: a notice (its key in the query, chosen from
/// the page's own texts, so no link can make the console say anything else) or an error with
/// its status.
#[derive(Debug, Default)]
struct Said {
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
}

impl Said {
    /// The notice a page's `done` query parameter names among `texts`.
    fn from_query(req: &HttpRequest, texts: &[(&str, &'static str)]) -> Self {
        let done =
            web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
                .ok()
                .and_then(|q| q.get("done").cloned());
        Self {
            notice: done.and_then(|d| {
                texts
                    .iter()
                    .find(|(k, _)| *k == d)
                    .map(|(_, t)| t.to_string())
            }),
            error: None,
        }
    }

    fn notice(text: String) -> Self {
        Self {
            notice: Some(text),
            error: None,
        }
    }

    fn refused(problem: &ApiProblem) -> Self {
        let p = problem.problem();
        let mut text = p.detail;
        // One refused field is the detail already; several are listed after it.
        if p.errors.len() > 1 {
            for e in &p.errors {
                text.push_str(&format!(" {}: {}.", e.field, e.message));
            }
        }
        Self {
            notice: None,
            error: Some((
                StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST),
                text,
            )),
        }
    }

    fn status(&self) -> StatusCode {
        self.error.as_ref().map_or(StatusCode::OK, |(s, _)| *s)
    }

    fn context(&self) -> Value {
        json!({
            "notice": self.notice,
            "error": self.error.as_ref().map(|(_, e)| e),
        })
    }
}

/// The role a change of the organization takes (the administration organization's, system).
fn role_to_change(slug: &str) -> Role {
    role_for(slug, Role::Admin)
}

/// The role an action `needed` takes in the organization: as the API's
/// [`api::organization`] decides, any change in the administration organization takes system.
fn role_for(slug: &str, needed: Role) -> Role {
    if slug == ADMIN_ORGANIZATION && needed > Role::Viewer {
        Role::System
    } else {
        needed
    }
}
