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
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::AppState;
use super::api::{self, ApiProblem, Caller};
use crate::admin::{ADMIN_ORGANIZATION, AdminError, Expected, Role, Via};
use crate::oidc::authorize::Params;
use crate::secret::{random_token, sha256_hex};
use subtle::ConstantTimeEq;

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

/// Starts a sign-in to the administration organization with the console's application.
async fn login(state: web::Data<AppState>) -> HttpResponse {
    let admin = match state.organization(ADMIN_ORGANIZATION).await {
        Ok(org) => org,
        Err(crate::state::CoreError::UnknownOrganization(_)) => {
            return page(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "console_error.html",
                json!({
                    "title": "No administrator yet",
                    "detail": "Create the first administrator on the server with `sesame admin create --username NAME --phone NUMBER`, then come back.",
                }),
            );
        }
        Err(e) => return problem_page(&state, &e.into()),
    };
    let settings = state.settings.clone();
    let org = admin.org.clone();
    let app = match state
        .db
        .run(move |conn| crate::admin::console::application(conn, &settings, &org))
        .await
    {
        Ok(app) => app,
        Err(e) => return problem_page(&state, &e.into()),
    };
    let redirect = crate::admin::console::redirect_uri(state.settings.base_url.as_str());
    if !app.redirect_uris.iter().any(|u| u.as_str() == redirect) {
        return page(
            &state,
            StatusCode::CONFLICT,
            "console_error.html",
            json!({
                "title": "The console cannot sign you in",
                "detail": format!("The '{}' application of the '{ADMIN_ORGANIZATION}' organization does not list {redirect} among its redirect URIs.", crate::admin::console::CLIENT_ID),
            }),
        );
    }
    let st = random_token(16);
    let verifier = random_token(32);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.expose().as_bytes()));
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", crate::admin::console::CLIENT_ID),
        ("redirect_uri", redirect.as_str()),
        ("scope", "openid"),
        ("prompt", "login"),
        ("state", st.expose()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        (
            "resource",
            crate::admin::api_resource(state.settings.base_url.as_str()).as_str(),
        ),
    ])
    .unwrap_or_default();
    let mut res = see_other(&format!("{}/authorize?{query}", admin.issuer));
    let value = format!("{}.{}", st.expose(), verifier.expose());
    let _ = res.add_cookie(&cookie(&state, LOGIN_COOKIE, value, 600));
    res
}

#[derive(Debug, Deserialize)]
struct Back {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The sign-in comes back: the code exchanged (in-process, as the console's application) for
/// the access token that becomes the session.
async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<Back>,
) -> HttpResponse {
    let started = req
        .cookie(LOGIN_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let (st, verifier) = started.split_once('.').unwrap_or(("", ""));
    let Back {
        code,
        state: returned,
        error,
        error_description,
    } = query.into_inner();
    if st.is_empty() || !constant_time_eq(st.as_bytes(), returned.unwrap_or_default().as_bytes()) {
        return page(
            &state,
            StatusCode::BAD_REQUEST,
            "console_error.html",
            json!({
                "title": "Sign in again",
                "detail": "This sign-in did not start in this browser, or took too long.",
                "home": url(&state, "/"),
            }),
        );
    }
    if let Some(error) = error {
        return page(
            &state,
            StatusCode::FORBIDDEN,
            "console_error.html",
            json!({
                "title": "You are not signed in",
                "detail": error_description.unwrap_or(error),
                "home": url(&state, "/"),
            }),
        );
    }
    let answer = exchange(&state, code.unwrap_or_default(), verifier.to_string()).await;
    let (token, lifetime) = match answer {
        Ok(found) => found,
        Err(why) => {
            tracing::warn!(error = %why, "the console's sign-in did not end with a token");
            return page(
                &state,
                StatusCode::BAD_REQUEST,
                "console_error.html",
                json!({
                    "title": "Sign in again",
                    "detail": "This sign-in could not be completed (its code was used, expired, or did not come from here).",
                    "home": url(&state, "/"),
                }),
            );
        }
    };
    let mut res = see_other(&url(&state, "/"));
    let _ = res.add_cookie(&cookie(&state, SESSION_COOKIE, token, lifetime));
    let _ = res.add_removal_cookie(&cookie(&state, LOGIN_COOKIE, String::new(), 0));
    res
}

/// The access token and its lifetime for `code`, or why not.
async fn exchange(
    state: &AppState,
    code: String,
    verifier: String,
) -> Result<(String, i64), String> {
    let admin = state
        .organization(ADMIN_ORGANIZATION)
        .await
        .map_err(|e| e.to_string())?;
    let admin_id = admin.org.id;
    let app = state
        .db
        .run(move |conn| {
            crate::store::applications::Application::find(
                conn,
                admin_id,
                crate::admin::console::CLIENT_ID,
            )
        })
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the console's application is gone")?;
    let params = Params::from_pairs([
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".to_string(), code),
        (
            "redirect_uri".to_string(),
            crate::admin::console::redirect_uri(state.settings.base_url.as_str()),
        ),
        ("code_verifier".to_string(), verifier),
        (
            "client_id".to_string(),
            crate::admin::console::CLIENT_ID.to_string(),
        ),
    ]);
    let answer = crate::oidc::token::grant(state, &admin, &app, &params)
        .await
        .map_err(|e| e.to_string())?;
    let token = answer["access_token"]
        .as_str()
        .ok_or("no access token")?
        .to_string();
    Ok((token, answer["expires_in"].as_i64().unwrap_or(300)))
}

/// Revokes the console's access token (RFC 7009, as the console's application). A failure is
/// logged: the cookie goes anyway.
async fn revoke(state: &AppState, token: String) {
    let Ok(admin) = state.organization(ADMIN_ORGANIZATION).await else {
        return;
    };
    let admin_id = admin.org.id;
    let app = state
        .db
        .run(move |conn| {
            crate::store::applications::Application::find(
                conn,
                admin_id,
                crate::admin::console::CLIENT_ID,
            )
        })
        .await;
    let Ok(Some(app)) = app else {
        return;
    };
    let params = Params::from_pairs([("token".to_string(), token)]);
    if let Err(e) = crate::oidc::token::revoke(state, &admin, &app, &params).await {
        tracing::warn!(error = %e, "revoking the console's token at sign-out");
    }
}

#[derive(Debug, Deserialize)]
struct Posted {
    csrf: String,
}

/// Ends the console's session (the sign-in's session at Sesame stays: signing in again
/// is quick).
async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Posted>,
) -> HttpResponse {
    if !constant_time_eq(form.csrf.as_bytes(), form_token(&req).as_bytes()) {
        return see_other(&url(&state, "/"));
    }
    if let Some(token) = req.cookie(SESSION_COOKIE) {
        revoke(&state, token.value().to_string()).await;
    }
    let mut res = page(
        &state,
        StatusCode::OK,
        "console_error.html",
        json!({ "title": "Signed out", "detail": "You left the console.", "home": url(&state, "/") }),
    );
    let _ = res.add_removal_cookie(&cookie(&state, SESSION_COOKIE, String::new(), 0));
    res
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

/// The guide's Connections → SMS OTP → Settings.
async fn sms_otp(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> HttpResponse {
    let (caller, _) = match within(&state, &req, &slug, Role::Viewer).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let principal = caller.principal.clone();
    let wanted = slug.clone();
    let read = state
        .db
        .run(move |conn| Ok(crate::admin::organizations::get(conn, &principal, &wanted)))
        .await;
    let found = match read {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return problem_page(&state, &e.into()),
        Err(e) => return problem_page(&state, &e.into()),
    };
    let saved = req.query_string().contains("saved=1");
    sms_otp_page(&state, &req, &caller, &found, Outcome::shown(saved))
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

fn sms_otp_page(
    state: &AppState,
    req: &HttpRequest,
    caller: &Caller,
    (view, version): &(crate::admin::organizations::OrganizationView, i64),
    Outcome {
        entered,
        errors,
        saved,
    }: Outcome<'_, SmsOtpForm>,
) -> HttpResponse {
    let otp = &view.settings["sms_otp"];
    let values = match entered {
        Some(f) => json!({
            "expiry_seconds": f.expiry_seconds,
            "numeric_only": f.numeric_only.is_some(),
            "length": f.length,
            "resend_attempts": f.resend_attempts,
        }),
        None => json!({
            "expiry_seconds": otp["expiry_seconds"],
            "numeric_only": otp["numeric_only"],
            "length": otp["length"],
            "resend_attempts": otp["resend_attempts"],
        }),
    };
    let may_change = caller.principal.may(view.id, role_to_change(&view.slug));
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    page(
        state,
        status,
        "console_sms_otp.html",
        merged(
            frame(state, req, caller),
            json!({
                "org": { "slug": view.slug, "display_name": view.display_name },
                "values": values,
                "version": version,
                "errors": errors.iter().map(|(f, m)| json!({"field": f, "message": m})).collect::<Vec<_>>(),
                "field_errors": errors.iter().map(|(f, m)| (field_of(f), m.clone())).collect::<std::collections::BTreeMap<_, _>>(),
                "saved": saved,
                "may_change": may_change,
            }),
        ),
    )
}

/// The role a change of the organization takes (the administration organization's, system).
fn role_to_change(slug: &str) -> Role {
    if slug == ADMIN_ORGANIZATION {
        Role::System
    } else {
        Role::Admin
    }
}

/// The form field a refused setting belongs to: the last part of its path.
fn field_of(path: &str) -> String {
    path.rsplit('.').next().unwrap_or(path).to_string()
}

/// The SMS OTP settings form (the checkbox is absent when unchecked).
#[derive(Debug, Deserialize)]
struct SmsOtpForm {
    csrf: String,
    version: i64,
    expiry_seconds: String,
    numeric_only: Option<String>,
    length: String,
    resend_attempts: String,
}

async fn sms_otp_save(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    form: web::Form<SmsOtpForm>,
) -> HttpResponse {
    let (caller, _) = match within(&state, &req, &slug, Role::Admin).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    if !constant_time_eq(form.csrf.as_bytes(), form_token(&req).as_bytes()) {
        return problem_page(
            &state,
            &ApiProblem::Forbidden("this form did not come from this console session".into()),
        );
    }
    let form = form.into_inner();
    let mut errors = Vec::new();
    let mut number = |name: &str, text: &str| -> Value {
        match text.trim().parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => {
                errors.push((name.to_string(), "enter a whole number".to_string()));
                Value::Null
            }
        }
    };
    let patch = json!({ "settings": { "sms_otp": {
        "expiry_seconds": number("expiry_seconds", &form.expiry_seconds),
        "numeric_only": form.numeric_only.is_some(),
        "length": number("length", &form.length),
        "resend_attempts": number("resend_attempts", &form.resend_attempts),
    }}});
    let principal = caller.principal.clone();
    let wanted = slug.clone();
    if errors.is_empty() {
        let recorder = crate::admin::audit::Recorder::new(&state.settings, caller.actor.clone());
        let expected = Expected::one_of(vec![form.version]);
        let changed = state
            .db
            .run(move |conn| {
                Ok(crate::admin::organizations::update(
                    conn, &recorder, &principal, &wanted, &expected, &patch,
                ))
            })
            .await;
        match changed {
            Ok(Ok(_)) => {
                state.forget_organization(&slug);
                return see_other(&url(&state, &format!("/o/{slug}/sms-otp?saved=1")));
            }
            Ok(Err(AdminError::Fields(fields))) => errors = fields,
            Ok(Err(AdminError::Invalid { field, message })) => errors.push((field, message)),
            Ok(Err(AdminError::Stale(_))) => errors.push((
                "form".into(),
                "Someone changed these settings since you opened this page: your values are below; update again to keep them.".into(),
            )),
            Ok(Err(e)) => return problem_page(&state, &e.into()),
            Err(e) => return problem_page(&state, &e.into()),
        }
    }
    // Shown again with what was entered and why it was refused, beside each field.
    let errors: Vec<(String, String)> = errors
        .into_iter()
        .map(|(field, message)| match message.split_once(": ") {
            // The section's checks name the setting first (`length: 3 is out of range 6-10`).
            Some((setting, _))
                if field == "settings.sms_otp"
                    && setting.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
            {
                (format!("settings.sms_otp.{setting}"), message)
            }
            _ => (field, message),
        })
        .collect();
    let principal = caller.principal.clone();
    let wanted = slug.clone();
    let read = state
        .db
        .run(move |conn| Ok(crate::admin::organizations::get(conn, &principal, &wanted)))
        .await;
    let stale = errors.iter().any(|(field, _)| field == "form");
    match read {
        // The version the form was read at, unless the refusal was that it is gone: a value
        // fixed and sent again must not overwrite a change made meanwhile.
        Ok(Ok((view, version))) => sms_otp_page(
            &state,
            &req,
            &caller,
            &(view, if stale { version } else { form.version }),
            Outcome {
                entered: Some(&form),
                errors: &errors,
                saved: false,
            },
        ),
        Ok(Err(e)) => problem_page(&state, &e.into()),
        Err(e) => problem_page(&state, &e.into()),
    }
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    before: Option<i64>,
}

/// The organization's audit log, newest first, a page at a time.
async fn audit(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> HttpResponse {
    let (caller, org) = match within(&state, &req, &slug, Role::Viewer).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let (org_id, before) = (org.org.id, query.before);
    let page_read = state
        .db
        .run(move |conn| crate::admin::audit::page(conn, org_id, before, 50))
        .await;
    let log = match page_read {
        Ok(log) => log,
        Err(e) => return problem_page(&state, &e.into()),
    };
    // Each change's values as JSON text, for the page to show as they are.
    let items: Vec<Value> = log
        .items
        .iter()
        .map(|e| {
            let changes: Vec<Value> = e
                .changes
                .as_object()
                .into_iter()
                .flatten()
                .map(|(field, change)| {
                    json!({
                        "field": field,
                        "before": change["before"].to_string(),
                        "after": change["after"].to_string(),
                    })
                })
                .collect();
            merged(
                serde_json::to_value(e).unwrap_or_default(),
                json!({ "changes": changes }),
            )
        })
        .collect();
    page(
        &state,
        StatusCode::OK,
        "console_audit.html",
        merged(
            frame(&state, &req, &caller),
            json!({
                "org": { "slug": org.org.slug, "display_name": org.org.display_name },
                "audit": { "items": items, "next": log.next },
            }),
        ),
    )
}

/// How the console names an authenticator in flows.
fn authenticator_label(name: &str) -> String {
    match name {
        "password" => "Username & Password".into(),
        "magic_link" => "Magic link".into(),
        "sms_otp" => "SMS OTP".into(),
        "backup_code" => "Backup code".into(),
        "totp" => "Authenticator app (TOTP)".into(),
        "email_otp" => "Email OTP".into(),
        "passkey" => "Passkey".into(),
        other => match other.strip_prefix("federated:") {
            Some(provider) => format!("{provider} (federated)"),
            None => other.to_string(),
        },
    }
}

/// The organization's applications with their sign-in flows.
async fn applications(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> HttpResponse {
    let (caller, org) = match within(&state, &req, &slug, Role::Viewer).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let org_id = org.org.id;
    let apps = match state
        .db
        .run(move |conn| Ok(crate::admin::applications::list(conn, org_id)))
        .await
    {
        Ok(Ok(apps)) => apps,
        Ok(Err(e)) => return problem_page(&state, &e.into()),
        Err(e) => return problem_page(&state, &e.into()),
    };
    let rows: Vec<Value> = apps
        .iter()
        .map(|a| {
            let flow: Vec<String> = a
                .sign_in_flow
                .iter()
                .map(|step| {
                    step.iter()
                        .map(|n| authenticator_label(n))
                        .collect::<Vec<_>>()
                        .join(" or ")
                })
                .collect();
            json!({
                "client_id": a.client_id,
                "name": a.name,
                "type": a.client_type,
                "flow": flow.join(" → "),
            })
        })
        .collect();
    page(
        &state,
        StatusCode::OK,
        "console_applications.html",
        merged(
            frame(&state, &req, &caller),
            json!({
                "org": { "slug": org.org.slug, "display_name": org.org.display_name },
                "applications": rows,
            }),
        ),
    )
}

/// An application's Sign-in Method tab: the flow drawn as steps, the predefined flows, and the
/// classic editor.
async fn application(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, client_id) = path.into_inner();
    let (caller, org) = match within(&state, &req, &slug, Role::Viewer).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let saved = req.query_string().contains("saved=1");
    sign_in_method_page(
        &state,
        &req,
        (&caller, &org.org),
        &client_id,
        Outcome::shown(saved),
    )
    .await
}

/// The Sign-in Method form.
#[derive(Debug, Deserialize)]
struct SignInMethodForm {
    csrf: String,
    version: i64,
    /// `sms_otp` ("Add SMS OTP as a second factor"), `password` (the predefined
    /// "Username & Password"), or `steps` (the steps as edited).
    action: String,
    #[serde(default)]
    steps: String,
    backup_codes: Option<String>,
}

impl SignInMethodForm {
    /// The steps as typed: one per line, alternatives separated by commas.
    fn steps(&self) -> Vec<Vec<String>> {
        self.steps
            .lines()
            .map(|line| {
                line.split(',')
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .collect::<Vec<_>>()
            })
            .filter(|step| !step.is_empty())
            .collect()
    }
}

async fn sign_in_method_page(
    state: &AppState,
    req: &HttpRequest,
    (caller, org): (&Caller, &crate::store::organizations::Organization),
    client_id: &str,
    Outcome {
        entered,
        errors,
        saved,
    }: Outcome<'_, SignInMethodForm>,
) -> HttpResponse {
    if crate::domain::ClientId::parse(client_id).is_err() {
        return problem_page(
            state,
            &ApiProblem::NotFound("no application with that client id here".into()),
        );
    }
    let (org_id, wanted) = (org.id, client_id.to_string());
    let (app, version) = match state
        .db
        .run(move |conn| Ok(crate::admin::applications::get(conn, org_id, &wanted)))
        .await
    {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return problem_page(state, &e.into()),
        Err(e) => return problem_page(state, &e.into()),
    };
    let steps: Vec<Value> = app
        .sign_in_flow
        .iter()
        .enumerate()
        .map(|(i, step)| {
            json!({
                "number": i + 1,
                "alternatives": step.iter().map(|n| json!({"name": n, "label": authenticator_label(n)})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let typed = match entered {
        Some(f) => f.steps.clone(),
        None => app
            .sign_in_flow
            .iter()
            .map(|step| step.join(", "))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let backup_codes = entered.map_or(app.backup_codes, |f| f.backup_codes.is_some());
    // The version the form was read at, unless the refusal was that it is gone.
    let version = match entered {
        Some(f) if !errors.iter().any(|(field, _)| field == "form") => f.version,
        _ => version,
    };
    let has_sms_otp = app.sign_in_flow.iter().flatten().any(|n| n == "sms_otp");
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    page(
        state,
        status,
        "console_application.html",
        merged(
            frame(state, req, caller),
            json!({
                "org": { "slug": org.slug, "display_name": org.display_name },
                "app": app,
                "version": version,
                "steps": steps,
                "typed": typed,
                "backup_codes": backup_codes,
                "has_sms_otp": has_sms_otp,
                "errors": errors.iter().map(|(f, m)| json!({"field": f, "message": m})).collect::<Vec<_>>(),
                "field_errors": errors.iter().map(|(f, m)| (f.clone(), m.clone())).collect::<std::collections::BTreeMap<_, _>>(),
                "saved": saved,
                "may_change": caller.principal.may(org.id, role_to_change(&org.slug)),
                "names": ["password", "magic_link", "sms_otp", "backup_code", "totp", "email_otp", "passkey"],
            }),
        ),
    )
}

async fn sign_in_method_save(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<SignInMethodForm>,
) -> HttpResponse {
    let (slug, client_id) = path.into_inner();
    let (caller, org) = match within(&state, &req, &slug, Role::Admin).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    if !constant_time_eq(form.csrf.as_bytes(), form_token(&req).as_bytes()) {
        return problem_page(
            &state,
            &ApiProblem::Forbidden("this form did not come from this console session".into()),
        );
    }
    let form = form.into_inner();
    let backup_codes = form.backup_codes.is_some();
    let patch = match form.action.as_str() {
        "sms_otp" => json!({
            "sign_in_flow": crate::provisioning::PRESET_PASSWORD_SMS_OTP,
            "backup_codes": backup_codes,
        }),
        "password" => json!({
            "sign_in_flow": crate::provisioning::PRESET_PASSWORD,
            "backup_codes": false,
        }),
        _ => json!({ "sign_in_flow": form.steps(), "backup_codes": backup_codes }),
    };
    let recorder = crate::admin::audit::Recorder::new(&state.settings, caller.actor.clone());
    let expected = Expected::one_of(vec![form.version]);
    let (org_row, wanted) = (org.org.clone(), client_id.clone());
    let changed = state
        .db
        .run(move |conn| {
            Ok(crate::admin::applications::update(
                conn, &recorder, &org_row, &wanted, &expected, &patch,
            ))
        })
        .await;
    let errors = match changed {
        Ok(Ok(_)) => {
            state.forget_organization(&slug);
            return see_other(&url(
                &state,
                &format!("/o/{slug}/applications/{client_id}?saved=1"),
            ));
        }
        Ok(Err(AdminError::Fields(fields))) => fields,
        Ok(Err(AdminError::Invalid { field, message })) => vec![(field, message)],
        Ok(Err(AdminError::Stale(_))) => vec![(
            "form".into(),
            "Someone changed this application since you opened this page: check the flow below and save again.".into(),
        )],
        Ok(Err(e)) => return problem_page(&state, &e.into()),
        Err(e) => return problem_page(&state, &e.into()),
    };
    sign_in_method_page(
        &state,
        &req,
        (&caller, &org.org),
        &client_id,
        Outcome {
            entered: Some(&form),
            errors: &errors,
            saved: false,
        },
    )
    .await
}
