//! Signing in to the console (authorization code with PKCE at the administration organization,
//! exchanged in-process) and out (the token revoked).

use serde::Deserialize;

use super::*;
use crate::oidc::authorize::Params;
use crate::secret::random_token;

/// Starts a sign-in to the administration organization with the console's application.
pub(super) async fn login(state: web::Data<AppState>) -> HttpResponse {
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
    let challenge = crate::oidc::authorize::pkce_challenge(verifier.expose());
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
pub(super) struct Back {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The sign-in comes back: the code exchanged (in-process, as the console's application) for
/// the access token that becomes the session.
pub(super) async fn callback(
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
    if let Err(e) = crate::oidc::presented::revoke(state, &admin, &app, &params).await {
        tracing::warn!(error = %e, "revoking the console's token at sign-out");
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Posted {
    csrf: String,
}

/// Ends the console's session (the sign-in's session at Sesame stays: signing in again
/// is quick).
pub(super) async fn logout(
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
