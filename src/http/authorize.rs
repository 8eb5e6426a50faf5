//! The authorization endpoint and the sign-in pages.
//!
//! `GET|POST {issuer}/authorize` validates the request; with a usable SSO session it answers the
//! client at once, otherwise it stores a login transaction (bound to this browser by a cookie)
//! and sends the browser to `{issuer}/login`. A successful sign-in creates a new session (a new
//! cookie value: the id changes at sign-in) and answers the client with a one-time code.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

use super::browser::{
    BROWSER_COOKIE, SESSION_COOKIE, TxQuery, cookie, cookie_hash, csrf_matches, expired_page,
    form_expired_page, open_transaction,
};
use super::error::ApiError;
use super::{AppState, OrgEntry};
use crate::authn::engine::{
    Progress, issue_code as issue_code_for, new_transaction, required_flow,
};
use crate::authn::flow::PassedList;
use crate::oidc::authorize::{self, AuthRequest, AuthorizeError, ResponseMode};
use crate::secret::{random_token, sha256_hex};
use crate::store::applications::Application;
use crate::store::auth::{LoginTransaction, consent};
use crate::store::now;
use crate::store::sessions::Session;
use crate::store::users::User;

/// Answers the client at its redirect URI, in the requested response mode, with `iss`
/// (RFC 9207) always added.
fn to_client(
    state: &AppState,
    org: &OrgEntry,
    redirect_uri: &str,
    mode: ResponseMode,
    mut params: Vec<(&'static str, String)>,
) -> HttpResponse {
    params.push(("iss", org.issuer.clone()));
    match mode {
        ResponseMode::Query => {
            let mut url = match url::Url::parse(redirect_uri) {
                Ok(u) => u,
                Err(_) => {
                    return state.pages.error(
                        StatusCode::BAD_REQUEST,
                        &crate::i18n::text("errors-authorize-invalid-redirect-title", &[]),
                        &crate::i18n::text("errors-authorize-invalid-redirect", &[]),
                    );
                }
            };
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
            HttpResponse::SeeOther()
                .insert_header(("Location", url.to_string()))
                .insert_header(("Cache-Control", "no-store"))
                .finish()
        }
        ResponseMode::FormPost => {
            let nonce = random_token(16);
            let csp = format!(
                "default-src 'none'; script-src 'nonce-{}'; frame-ancestors 'none'; base-uri 'none'",
                nonce.expose()
            );
            let fields: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            state.pages.render_with_csp(
                StatusCode::OK,
                "form_post.html",
                context! { action => redirect_uri, fields, nonce => nonce.expose() },
                &csp,
            )
        }
    }
}

fn error_to_client(
    state: &AppState,
    org: &OrgEntry,
    req: &AuthRequest,
    error: &'static str,
    description: &str,
) -> HttpResponse {
    let mut params = vec![
        ("error", error.to_string()),
        ("error_description", description.to_string()),
    ];
    if let Some(s) = &req.state {
        params.push(("state", s.clone()));
    }
    to_client(state, org, &req.redirect_uri, req.response_mode, params)
}

async fn find_app(
    state: &AppState,
    org_id: i64,
    client_id: Option<String>,
) -> Result<Option<Application>, ApiError> {
    let Some(client_id) = client_id else {
        return Ok(None);
    };
    Ok(state
        .db
        .run(move |conn| Application::find(conn, org_id, &client_id))
        .await?)
}

/// A live session of this browser at this organization, with its (enabled) user.
pub(super) async fn current_session(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
) -> Result<Option<(Session, User)>, ApiError> {
    let Some(hash) = cookie_hash(req, SESSION_COOKIE) else {
        return Ok(None);
    };
    let org_id = org.org.id;
    Ok(state
        .db
        .run(move |conn| {
            let Some(session) = Session::find_live(conn, org_id, &hash)? else {
                return Ok(None);
            };
            let Some(user) = User::find(conn, org_id, &session.user_id)?.filter(|u| !u.disabled)
            else {
                return Ok(None);
            };
            // The account area shows when each session was last used; a database that cannot
            // take the write (full, read-only) does not stop the session from working.
            if let Err(e) = Session::touch(conn, &session, crate::store::now()) {
                tracing::warn!(error = %e, "cannot record when a session was last used");
            }
            Ok(Some((session, user)))
        })
        .await?)
}

pub async fn authorize(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    // The JSON sign-in API of native apps (see `native`): answered there, in JSON.
    if let Some((_, params)) = super::read_params(&req, &body)
        && params.get("response_mode") == Some("direct")
    {
        return super::native::start(&state, &org, &req, params).await;
    }
    let params =
        match super::params_as_get(&state, &req, &body, &format!("{}/authorize", org.issuer)) {
            Ok(p) => p,
            Err(res) => return Ok(*res),
        };
    let app = find_app(
        &state,
        org.org.id,
        params.get("client_id").map(str::to_string),
    )
    .await?;
    // The pages this answer may show (an error, the form_post page) speak the client's language.
    if let Some(tags) = params.get("ui_locales") {
        crate::i18n::prefer_ui_locales_param(tags);
    }
    let auth = match authorize::validate(&params, app.as_ref(), &org.org.settings) {
        Ok(a) => a,
        Err(e) => return Ok(refused_request(&state, &org, e)),
    };
    let app = app.expect("validated requests have an application");
    let hinted = match hinted_subject(&state, &org, &auth, params.get("id_token_hint")).await? {
        Ok(sub) => sub,
        Err(res) => return Ok(res),
    };
    let session = current_session(&state, &org, &req).await?;
    let fresh_enough = |s: &Session| auth.max_age.is_none_or(|max| now() - s.auth_time <= max);
    let hinted_user = |u: &User| hinted.as_ref().is_none_or(|sub| sub == &u.id);
    match session {
        Some((session, user))
            if !auth.prompt_login && fresh_enough(&session) && hinted_user(&user) =>
        {
            with_session(&state, &org, &app, &auth, &req, &session, &user).await
        }
        _ if auth.prompt_none => Ok(error_to_client(
            &state,
            &org,
            &auth,
            "login_required",
            "the user must sign in",
        )),
        _ => start_transaction(&state, &org, &app, &auth, &req, "login", None).await,
    }
}

/// The answer to a request that failed validation: a page when the client cannot be trusted
/// with a redirect, else an error at its redirect URI.
fn refused_request(state: &AppState, org: &OrgEntry, error: AuthorizeError) -> HttpResponse {
    match error {
        AuthorizeError::Page(message) => state.pages.error(
            StatusCode::BAD_REQUEST,
            &crate::i18n::text("errors-authorize-unusable-title", &[]),
            &message.text(),
        ),
        AuthorizeError::Redirect {
            redirect_uri,
            response_mode,
            state: st,
            error,
            description,
        } => {
            let mut p = vec![
                ("error", error.to_string()),
                ("error_description", description),
            ];
            if let Some(s) = st {
                p.push(("state", s));
            }
            to_client(state, org, &redirect_uri, response_mode, p)
        }
    }
}

/// The subject an `id_token_hint` names: the user the client expects, so a session of someone
/// else does not count (and under prompt=none, that is login_required). A hint that is not an
/// ID token of this issuer for this client is answered with an error at the client.
async fn hinted_subject(
    state: &AppState,
    org: &OrgEntry,
    auth: &AuthRequest,
    hint: Option<&str>,
) -> Result<Result<Option<String>, HttpResponse>, ApiError> {
    let Some(hint) = hint else {
        return Ok(Ok(None));
    };
    Ok(
        match state.hinted_subject(org, hint, &auth.client_id).await? {
            Some(sub) => Ok(Some(sub)),
            None => Err(error_to_client(
                state,
                org,
                auth,
                "invalid_request",
                "id_token_hint is not an ID token of this issuer for this client",
            )),
        },
    )
}

/// A usable session: it counts for what it passed; a step the client's flow needs and the
/// session lacks runs now (step-up), and only that step.
async fn with_session(
    state: &AppState,
    org: &OrgEntry,
    app: &Application,
    auth: &AuthRequest,
    req: &HttpRequest,
    session: &Session,
    user: &User,
) -> Result<HttpResponse, ApiError> {
    let passed = PassedList::from_json(&session.passed);
    let flow = required_flow(app, auth);
    let Some(step) = flow.next_step(&passed) else {
        return proceed(state, org, app, auth, session, user, req).await;
    };
    if auth.prompt_none {
        return Ok(error_to_client(
            state,
            org,
            auth,
            "interaction_required",
            "this application needs a further sign-in step",
        ));
    }
    let progress = Progress {
        user_id: user.id.clone(),
        passed: passed.clone(),
        session_sid: Some(session.sid.clone()),
    };
    let page = crate::authn::engine::opening_kind(&state.core, step, user)
        .await?
        .page();
    start_transaction(state, org, app, auth, req, page, Some(progress)).await
}

/// Stores the request in a transaction bound to this browser (a cookie, created if missing) and
/// sends the browser to `page` (`login`, `otp` or `consent`) to continue it.
pub(super) async fn start_transaction(
    state: &AppState,
    org: &OrgEntry,
    app: &Application,
    auth: &AuthRequest,
    req: &HttpRequest,
    page: &str,
    progress: Option<Progress>,
) -> Result<HttpResponse, ApiError> {
    let request = serde_json::to_string(auth).expect("requests serialize");
    begin(
        state,
        org,
        req,
        Some(app.id.clone()),
        request,
        page,
        progress,
    )
    .await
}

/// Stores a transaction (for an application, or without one for the account area) and sends
/// the browser to its first page.
pub(super) async fn begin(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
    application_id: Option<String>,
    request: String,
    page: &str,
    progress: Option<Progress>,
) -> Result<HttpResponse, ApiError> {
    let browser = req
        .cookie(BROWSER_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() >= 43);
    let new_browser = browser.is_none();
    let browser = browser.unwrap_or_else(|| random_token(32).expose().clone());
    let binding = sha256_hex(&browser);
    let tx = new_transaction(org, application_id, request, &binding, progress, now());
    let location = format!("{}/{page}?tx={}", org.issuer, tx.id);
    state
        .db
        .run(move |conn| LoginTransaction::insert(conn, &tx))
        .await?;
    let mut res = HttpResponse::SeeOther();
    res.insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"));
    if new_browser {
        res.cookie(cookie(state, org, BROWSER_COOKIE, browser));
    }
    Ok(res.finish())
}

/// The user is known: ask for consent if a third-party application needs it, else answer the
/// client with a code.
pub(super) async fn proceed(
    state: &AppState,
    org: &OrgEntry,
    app: &Application,
    auth: &AuthRequest,
    session: &Session,
    user: &User,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if app.third_party {
        let (user_id, app_id) = (user.id.clone(), app.id.clone());
        let granted = state
            .db
            .run(move |conn| consent::scopes(conn, &user_id, &app_id))
            .await?;
        if auth.prompt_consent || auth.consent_scopes().iter().any(|s| !granted.contains(s)) {
            if auth.prompt_none {
                return Ok(error_to_client(
                    state,
                    org,
                    auth,
                    "consent_required",
                    "the user must consent first",
                ));
            }
            let pending = AuthRequest {
                consent_sid: Some(session.sid.clone()),
                ..auth.clone()
            };
            return start_transaction(state, org, app, &pending, req, "consent", None).await;
        }
    }
    issue_code(state, org, app, auth, session, user).await
}

/// Records the grant and a one-time code, and answers the client with it.
async fn issue_code(
    state: &AppState,
    org: &OrgEntry,
    app: &Application,
    auth: &AuthRequest,
    session: &Session,
    user: &User,
) -> Result<HttpResponse, ApiError> {
    let code = issue_code_for(state, org, app, auth, session, user, now()).await?;
    let mut params = vec![("code", code.expose().clone())];
    if let Some(s) = &auth.state {
        params.push(("state", s.clone()));
    }
    Ok(to_client(
        state,
        org,
        &auth.redirect_uri,
        auth.response_mode,
        params,
    ))
}

/// The open authorization transaction named by `tx`, if it belongs to this browser; `consent`
/// says which kind (sign-in or consent).
pub(super) async fn transaction(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
    tx: Option<String>,
    consent: bool,
) -> Result<Option<(LoginTransaction, AuthRequest, Application)>, ApiError> {
    let Some((tx, Some(app))) = open_transaction(state, org, req, tx).await? else {
        return Ok(None);
    };
    let Ok(auth) = serde_json::from_str::<AuthRequest>(&tx.request) else {
        return Ok(None);
    };
    crate::i18n::prefer_ui_locales(&auth.ui_locales);
    // A sign-in transaction is for /login, a consent transaction for /consent: never crossed.
    if auth.consent_sid.is_some() != consent {
        return Ok(None);
    }
    Ok(Some((tx, auth, app)))
}

/// What each scope lets an application see, in the user's words.
/// Scopes that are not OpenID Connect's belong to the requested API (`resource`), named as such.
fn describe_scope(scope: &str, resource: Option<&str>) -> String {
    use crate::i18n::text;
    match scope {
        "openid" | "profile" | "email" | "phone" | "address" | "offline_access" => {
            text(&format!("signin-scope-{}", scope.replace('_', "-")), &[])
        }
        other => match resource {
            Some(api) => text(
                "signin-scope-api",
                &[("api", api.into()), ("permission", other.into())],
            ),
            None => text("signin-scope-other", &[("permission", other.into())]),
        },
    }
}

/// The transaction and the signed-in user a consent page is about.
async fn consent_context(
    state: &AppState,
    org: &OrgEntry,
    req: &HttpRequest,
    tx: Option<String>,
) -> Result<Option<(LoginTransaction, AuthRequest, Application, Session, User)>, ApiError> {
    let Some((tx, auth, app)) = transaction(state, org, req, tx, true).await? else {
        return Ok(None);
    };
    let Some((session, user)) = current_session(state, org, req).await? else {
        return Ok(None);
    };
    // Only the session the consent was asked for may answer it.
    if auth.consent_sid.as_deref() != Some(session.sid.as_str()) {
        return Ok(None);
    }
    Ok(Some((tx, auth, app, session, user)))
}

pub async fn consent_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<TxQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let Some((tx, auth, app, _, user)) =
        consent_context(&state, &org, &req, query.into_inner().tx).await?
    else {
        return Ok(expired_page(&state));
    };
    let csrf = random_token(32);
    let (id, hash) = (tx.id.clone(), sha256_hex(csrf.expose()));
    state
        .db
        .run(move |conn| LoginTransaction::set_csrf(conn, &id, &hash))
        .await?;
    let scopes: Vec<String> = auth
        .consent_scopes()
        .iter()
        .map(|s| describe_scope(s, auth.resource.as_deref()))
        .collect();
    Ok(state.pages.render(
        StatusCode::OK,
        "consent.html",
        context! {
            org_name => org.org.display_name,
            app_name => app.name,
            username => user.username.as_str(),
            scopes,
            action => format!("{}/consent", org.issuer),
            tx => tx.id,
            csrf => csrf.expose(),
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    tx: Option<String>,
    csrf: Option<String>,
    decision: Option<String>,
}

pub async fn consent_submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<ConsentForm>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let form = form.into_inner();
    let Some((tx, auth, app, session, user)) = consent_context(&state, &org, &req, form.tx).await?
    else {
        return Ok(expired_page(&state));
    };
    if !csrf_matches(form.csrf.as_deref(), &tx) {
        return Ok(form_expired_page(&state));
    }
    let tx_id = tx.id.clone();
    if !state
        .db
        .run(move |conn| LoginTransaction::complete(conn, &tx_id, now()))
        .await?
    {
        return Ok(expired_page(&state));
    }
    if form.decision.as_deref() != Some("allow") {
        return Ok(error_to_client(
            &state,
            &org,
            &auth,
            "access_denied",
            "the user denied access",
        ));
    }
    let (user_id, app_id, scope) = (user.id.clone(), app.id.clone(), auth.consent_scopes());
    state
        .db
        .run(move |conn| consent::allow(conn, &user_id, &app_id, &scope))
        .await?;
    issue_code(&state, &org, &app, &auth, &session, &user).await
}

#[cfg(test)]
mod tests {
    use super::describe_scope;

    #[test]
    fn api_scopes_name_their_api_on_the_consent_page() {
        assert_eq!(describe_scope("email", None), "See your email address");
        let api = describe_scope("orders:read", Some("https://api.acme.example"));
        assert!(
            api.contains("https://api.acme.example") && api.contains("orders:read"),
            "{api}"
        );
    }
}
