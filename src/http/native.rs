//! The app-native sign-in API: mobile and desktop apps sign users in without a browser
//! redirect, on the same engine as the pages (the same steps, limits, locks, events, `amr` and
//! `acr`). Shaped like Asgardeo's app-native authentication:
//!
//! - `POST {issuer}/authorize` with `response_mode=direct` (an authorization request of an
//!   application provisioned with `app_native = true`; public clients send PKCE) answers JSON
//!   with a `flowId` and the first step;
//! - `POST {issuer}/authn` with `{"flowId", "selectedAuthenticator": {"authenticatorId",
//!   "params"}}` answers the next step (with a new `flowId`) or, at the end, the authorization
//!   code and `state`, which the app exchanges at the token endpoint as usual.
//!
//! A flow id is `{sign-in}.{secret}`: only the secret's SHA-256 is stored, and every answer binds
//! the sign-in to a new secret, so each flow id works for one request (a replay is refused).
//! Only the password, SMS OTP and backup codes are offered here: sign-in links and upstream
//! providers need a browser.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::{AppState, OrgEntry};
use crate::authn::engine::{self, Command, Ctx, FormToken, Purpose, SignIn, new_transaction};
use crate::authn::flow::Authenticator;
use crate::authn::outcome::{Outcome, Refusal, Step, StepKind};
use crate::oidc::authorize::{self as request, AuthorizeError, Params, ResponseMode};
use crate::secret::{Secret, random_token, sha256_hex};
use crate::store::applications::Application;
use crate::store::auth::LoginTransaction;
use crate::store::now;

/// The stored binding of a flow secret. Its own hash space ("native:" before the secret), so a
/// browser's binding cookie never opens a JSON sign-in and a flow secret never passes for a
/// browser's cookie: each sign-in is run by the surface that started it.
fn binding(secret: &str) -> String {
    sha256_hex(format!("native:{secret}"))
}

/// Whether the application may use this API (checked at every call, not only at import).
fn allowed(app: &Application) -> bool {
    app.app_native && !app.third_party
}

/// A JSON error of the API: a stable code and a sentence.
fn problem(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "code": code, "message": message }))
}

fn answer(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

/// `POST {issuer}/authorize` with `response_mode=direct`.
pub async fn start(
    state: &AppState,
    org: &std::sync::Arc<OrgEntry>,
    req: &HttpRequest,
    mut params: Params,
) -> Result<HttpResponse, ApiError> {
    if req.method() != actix_web::http::Method::POST {
        return Ok(problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "response_mode=direct needs a POST with a form body",
        ));
    }
    let app = match params.get("client_id").map(str::to_string) {
        Some(client_id) => {
            let org_id = org.org.id;
            state
                .db
                .run(move |conn| Application::find(conn, org_id, &client_id))
                .await?
        }
        None => None,
    };
    let Some(app) = app.filter(allowed) else {
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "this client may not use response_mode=direct (it is not an app_native application)",
        ));
    };
    // The request is validated as any other, with the answer in JSON instead of a redirect.
    params.set("response_mode", "query");
    let auth = match request::validate(&params, Some(&app), &org.org.settings) {
        Ok(auth) => auth,
        Err(AuthorizeError::Page(message)) => {
            return Ok(problem(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &message.to_string(),
            ));
        }
        Err(AuthorizeError::Redirect {
            error, description, ..
        }) => return Ok(problem(StatusCode::BAD_REQUEST, error, &description)),
    };
    if auth.prompt_none {
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            "login_required",
            "the JSON sign-in API has no session to reuse: prompt=none cannot succeed",
        ));
    }
    debug_assert_eq!(auth.response_mode, ResponseMode::Query);
    // An id_token_hint must be an ID token of this issuer for this client, as on the pages
    // (where it only decides whether a session counts: this API keeps none).
    if let Some(hint) = params.get("id_token_hint")
        && state
            .hinted_subject(org, hint, &auth.client_id)
            .await?
            .is_none()
    {
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "id_token_hint is not an ID token of this issuer for this client",
        ));
    }
    let secret = random_token(32);
    let request = serde_json::to_string(&auth).expect("requests serialize");
    let tx = new_transaction(
        org,
        Some(app.id.clone()),
        request,
        &binding(secret.expose()),
        None,
        now(),
    );
    let flow_id = format!("{}.{}", tx.id, secret.expose());
    let row = tx.clone();
    state
        .db
        .run(move |conn| LoginTransaction::insert(conn, &row))
        .await?;
    let Some(sign_in) = SignIn::open(state, org, &tx.id, &tx.browser_hash, tx.created_at).await?
    else {
        return Ok(expired());
    };
    let ctx = context(state, req);
    let outcome = engine::run(&state.core, &sign_in, Command::Show(StepKind::First), &ctx).await?;
    respond(state, &sign_in, flow_id, outcome, &ctx).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthnRequest {
    flow_id: String,
    selected_authenticator: Selected,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selected {
    authenticator_id: String,
    #[serde(default)]
    params: serde_json::Map<String, Value>,
}

/// Without the parameters: they hold passwords and codes.
impl std::fmt::Debug for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selected")
            .field("authenticator_id", &self.authenticator_id)
            .finish_non_exhaustive()
    }
}

/// `POST {issuer}/authn`: one step of a flow.
pub async fn authn(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    // A fixed message: the parser's would quote the body back, passwords included.
    let Ok(request) = serde_json::from_slice::<AuthnRequest>(&body) else {
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body is not a sign-in step: {\"flowId\", \"selectedAuthenticator\": {\"authenticatorId\", \"params\"}}",
        ));
    };
    let Some((tx_id, secret)) = request.flow_id.split_once('.') else {
        return Ok(expired());
    };
    let old_hash = binding(secret);
    let Some(sign_in) = SignIn::open(&state, &org, tx_id, &old_hash, now()).await? else {
        return Ok(expired());
    };
    match &sign_in.purpose {
        Purpose::Authorize { app, .. } if allowed(app) => {}
        _ => return Ok(expired()),
    }
    let selected = &request.selected_authenticator;
    let command = match command(selected) {
        Ok(c) => c,
        Err(message) => {
            return Ok(problem(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &message,
            ));
        }
    };
    // A call for an authenticator the step does not offer is answered without spending the
    // flow id, so the app can correct itself.
    let offered = sign_in.next_step(&state).await?.unwrap_or_default();
    if !offered
        .iter()
        .any(|a| a.to_string() == selected.authenticator_id)
    {
        let message = format!(
            "'{}' is not offered at this step",
            selected.authenticator_id
        );
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &message,
        ));
    }
    // The flow id is spent before the step runs: a replay, even a concurrent one, is refused.
    let next = random_token(32);
    let (id, new_hash) = (tx_id.to_string(), binding(next.expose()));
    let rebound = state
        .db
        .run(move |conn| LoginTransaction::rebind(conn, &id, &old_hash, &new_hash))
        .await?;
    if !rebound {
        return Ok(expired());
    }
    let flow_id = format!("{tx_id}.{}", next.expose());
    let ctx = context(&state, &req);
    let outcome = engine::run(&state.core, &sign_in, command, &ctx).await?;
    respond(&state, &sign_in, flow_id, outcome, &ctx).await
}

/// The engine's command for a selected authenticator. Without its parameters, a selection
/// shows that authenticator's step (e.g. backup codes instead of the SMS code).
fn command(selected: &Selected) -> Result<Command, String> {
    let param = |name: &str| -> Result<Option<&str>, String> {
        match selected.params.get(name) {
            None => Ok(None),
            Some(Value::String(v)) => Ok(Some(v)),
            Some(_) => Err(format!("params.{name} must be a string")),
        }
    };
    let required = |name: &str| -> Result<&str, String> {
        param(name)?.ok_or_else(|| format!("{} needs params.{name}", selected.authenticator_id))
    };
    Ok(match selected.authenticator_id.as_str() {
        "password" => Command::Password {
            username: required("username")?.to_string(),
            password: Secret::new(required("password")?.to_string()),
        },
        "sms_otp" if param("number")?.is_some() => Command::EnrollNumber {
            number: required("number")?.to_string(),
        },
        "sms_otp" => match (param("otp")?, param("action")?) {
            (_, Some("resend")) => Command::Resend,
            (_, Some(other)) => return Err(format!("unknown action '{other}': use resend")),
            (Some(code), None) => Command::SmsCode {
                code: Secret::new(code.to_string()),
            },
            (None, None) => Command::Show(StepKind::SmsOtp),
        },
        "backup_code" => match param("code")? {
            Some(code) => Command::BackupCode {
                code: Secret::new(code.to_string()),
            },
            None => Command::Show(StepKind::BackupCode),
        },
        other if crate::authn::factor::code_factor(other).is_some() => match param("code")? {
            Some(code) => Command::Code {
                factor: other.to_string(),
                code: Secret::new(code.to_string()),
                pending: param("pending")?.map(str::to_string),
            },
            None => Command::Show(StepKind::Code),
        },
        other if crate::authn::factor::sent_factor(other).is_some() => {
            let factor = other.to_string();
            match (param("code")?, param("action")?) {
                (_, Some("resend")) => Command::SendCode { factor },
                (_, Some(other)) => return Err(format!("unknown action '{other}': use resend")),
                (Some(code), None) => Command::SentCode {
                    factor,
                    code: Secret::new(code.to_string()),
                },
                (None, None) => Command::ShowSent { factor },
            }
        }
        other => {
            let codes: Vec<&str> = crate::authn::factor::CODE_FACTORS
                .iter()
                .map(|f| f.name())
                .chain(crate::authn::factor::SENT_FACTORS.iter().map(|f| f.name()))
                .collect();
            return Err(format!(
                "'{other}' cannot be used here: use password, sms_otp, backup_code or {}",
                codes.join(", ")
            ));
        }
    })
}

/// The engine's context of an API call: a browser's, except that a completed API sign-in
/// never ends a browser session that happens to send its cookie.
fn context(state: &AppState, req: &HttpRequest) -> Ctx {
    Ctx {
        session_hash: None,
        ..super::browser::ctx(state, req, FormToken::NotAForm)
    }
}

fn expired() -> HttpResponse {
    refused(Refusal::Expired)
}

/// A refusal: its HTTP status, stable code, sentence (and the lock's end).
fn refused(refusal: Refusal) -> HttpResponse {
    let status = super::browser::refusal_status(refusal);
    let mut body = serde_json::to_value(refusal).expect("refusals serialize");
    body["flowStatus"] = "FAIL".into();
    body["message"] = refusal.message().into();
    answer(status, body)
}

/// Renders an outcome: the next step (an advanced flow shows its next step at once, so an SMS
/// code is sent now), the code at the end, or a refusal.
async fn respond(
    state: &AppState,
    sign_in: &SignIn,
    flow_id: String,
    outcome: Outcome,
    ctx: &Ctx,
) -> Result<HttpResponse, ApiError> {
    let outcome = match outcome {
        Outcome::Advanced { kind } => {
            // Reopened: the sign-in now knows its user and what was passed.
            let hash = binding(flow_id.split_once('.').map_or("", |(_, s)| s));
            let Some(next) =
                SignIn::open(state, &sign_in.org, &sign_in.tx.id, &hash, ctx.now).await?
            else {
                return Ok(expired());
            };
            engine::run(&state.core, &next, Command::Show(kind), ctx).await?
        }
        other => other,
    };
    match outcome {
        Outcome::Step(step) => Ok(step_answer(&sign_in.org, flow_id, &step)),
        Outcome::Completed(done) => {
            let Purpose::Authorize { auth, app } = &sign_in.purpose else {
                return Ok(expired());
            };
            let (org, session, user) = (&sign_in.org, &done.session, &done.user);
            let code = engine::issue_code(state, org, app, auth, session, user, ctx.now).await?;
            let mut data = json!({ "code": code.expose(), "iss": sign_in.org.issuer });
            if let Some(s) = &auth.state {
                data["state"] = s.as_str().into();
            }
            Ok(answer(
                StatusCode::OK,
                json!({
                    "flowStatus": "SUCCESS_COMPLETED",
                    "authData": data,
                    "amr": done.amr,
                    "acr": done.acr,
                }),
            ))
        }
        Outcome::Refused(refusal) => Ok(refused(refusal)),
        Outcome::Advanced { .. }
        | Outcome::NumberSaved
        | Outcome::ResetCleared
        | Outcome::LinkSent { .. } => Ok(expired()),
    }
}

/// A step to show: `FAIL_INCOMPLETE` when it comes back with an error.
fn step_answer(org: &OrgEntry, flow_id: String, step: &Step) -> HttpResponse {
    let mut next = serde_json::to_value(step).expect("steps serialize");
    // Only what this API can run is offered.
    next["authenticators"] = step
        .authenticators
        .iter()
        .filter(|a| {
            matches!(
                a,
                Authenticator::Password
                    | Authenticator::SmsOtp
                    | Authenticator::BackupCode
                    | Authenticator::Code(_)
                    | Authenticator::Sent(_)
            )
        })
        .map(|a| json!({ "authenticatorId": a.to_string(), "params": params_of(a) }))
        .collect();
    if let Some(error) = &step.error {
        next["error"]["message"] = error.message().into();
    }
    if let Some(notice) = step.notice {
        next["notice"] = json!({ "code": notice, "message": notice.message() });
    }
    answer(
        StatusCode::OK,
        json!({
            "flowId": flow_id,
            "flowStatus": if step.error.is_some() { "FAIL_INCOMPLETE" } else { "INCOMPLETE" },
            "nextStep": next,
            "links": [{ "name": "authentication", "href": format!("{}/authn", org.issuer), "method": "POST" }],
        }),
    )
}

/// The parameters an authenticator takes in `selectedAuthenticator.params`.
fn params_of(a: &Authenticator) -> Value {
    match a {
        Authenticator::Password => json!(["username", "password"]),
        Authenticator::SmsOtp => json!(["otp"]),
        Authenticator::BackupCode | Authenticator::Code(_) | Authenticator::Sent(_) => {
            json!(["code"])
        }
        _ => json!([]),
    }
}
