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
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::AppState;
use super::api::{self, ApiProblem, Caller};
use crate::admin::{ADMIN_ORGANIZATION, Role, Via};
use crate::secret::sha256_hex;

mod applications;
mod audit;
mod signin;
mod sms_otp;

use applications::{application, applications, sign_in_method_save};
use audit::audit;
use signin::{callback, login, logout};
use sms_otp::{sms_otp, sms_otp_save};

/// The console's session: the access token of the administrator's sign-in.
pub const SESSION_COOKIE: &str = "sesame_console";
/// A sign-in on its way: its `state` and PKCE verifier.
const LOGIN_COOKIE: &str = "sesame_console_login";

/// The console's routes, under `/console`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use web::{get, post};
    cfg.route("", get().to(to_home))
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
        .route("/o/{org}/audit", get().to(audit));
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

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
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
    let caller = match session(&state, &req).await {
        Ok(c) => c,
        Err(res) => return res,
    };
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
    let (caller, org) = match within(&state, &req, &slug, Role::Viewer).await {
        Ok(found) => found,
        Err(res) => return res,
    };
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

/// The role a change of the organization takes (the administration organization's, system).
fn role_to_change(slug: &str) -> Role {
    if slug == ADMIN_ORGANIZATION {
        Role::System
    } else {
        Role::Admin
    }
}
