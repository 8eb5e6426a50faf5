//! The sign-in pages: each form becomes a command for the sign-in engine (`authn::engine`), and
//! each outcome becomes a page (a step, again with its error), a redirect to the next step's
//! page, the answer to the client, or a refusal page. No decision is made here; how each step
//! is drawn is in `pages`.

mod pages;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

use super::AppState;
use super::authorize::proceed;
use super::browser::{
    DEVICE_COOKIE, SESSION_COOKIE, TxQuery, cookie, ctx, expired_page, refusal_page, see_other,
    sign_in,
};
use super::error::ApiError;
use crate::authn::engine::{self, Command, FormToken, Purpose, SignIn};
use crate::authn::outcome::{Completed, DeliveryView, Outcome, StepKind};
use crate::secret::Secret;
use crate::store::now;
use pages::render_step;

/// Renders an outcome of the engine for the browser.
pub(super) async fn respond(
    state: &AppState,
    sign_in: &SignIn,
    req: &HttpRequest,
    outcome: Outcome,
) -> Result<HttpResponse, ApiError> {
    let issuer = &sign_in.org.issuer;
    match outcome {
        Outcome::Step(step) => render_step(state, sign_in, &step).await,
        Outcome::Advanced { kind } => Ok(see_other(&format!(
            "{issuer}/{}?tx={}",
            kind.page(),
            sign_in.tx.id
        ))),
        Outcome::Completed(done) => completed(state, sign_in, req, done).await,
        Outcome::NumberSaved => Ok(see_other(&format!(
            "{issuer}/account/?changed=mobile_number_changed"
        ))),
        Outcome::ResetCleared => Ok(see_other(&format!(
            "{issuer}/password-reset/new?tx={}",
            sign_in.tx.id
        ))),
        Outcome::LinkSent {
            identifier,
            minutes,
        } => Ok(state.pages.render(
            StatusCode::OK,
            "magic_link_sent.html",
            context! {
                org_name => sign_in.org.org.display_name,
                app_name => sign_in.purpose.name(&sign_in.org),
                identifier,
                minutes,
                reset => sign_in.purpose.resets_password(),
                back_url => format!("{issuer}/login?tx={}", back_to(&sign_in.purpose).unwrap_or(&sign_in.tx.id)),
            },
        )),
        Outcome::Refused(refusal) => Ok(refusal_page(state, refusal)),
    }
}

/// The sign-in a password reset left, to go back to.
fn back_to(purpose: &Purpose) -> Option<&String> {
    match purpose {
        Purpose::Account(engine::AccountRequest::Reset { back, .. }) => back.as_ref(),
        _ => None,
    }
}

/// The whole chain passed: the client is answered (consent first, for a third-party
/// application) or the user goes back to their account, with the new session cookie.
async fn completed(
    state: &AppState,
    sign_in: &SignIn,
    req: &HttpRequest,
    done: Box<Completed>,
) -> Result<HttpResponse, ApiError> {
    let org = &sign_in.org;
    let mut res = match &sign_in.purpose {
        Purpose::Authorize { auth, app } => {
            proceed(state, org, app, auth, &done.session, &done.user, req).await?
        }
        Purpose::Account(_) => see_other(&format!("{}/account/", org.issuer)),
    };
    res.add_cookie(&cookie(
        state,
        org,
        SESSION_COOKIE,
        done.cookie.expose().clone(),
    ))
    .map_err(|_| ApiError::Internal)?;
    if let Some(device) = &done.device_cookie {
        let mut c = cookie(state, org, DEVICE_COOKIE, device.expose().clone());
        // Long-lived: it is what keeps this browser working while strangers are locked out.
        c.set_max_age(actix_web::cookie::time::Duration::days(400));
        res.add_cookie(&c).map_err(|_| ApiError::Internal)?;
    }
    Ok(res)
}

/// Runs `command` on the sign-in named by `tx` (`form`: the token a form carried) and renders
/// the outcome.
pub(super) async fn run(
    state: &AppState,
    org_slug: &str,
    req: &HttpRequest,
    tx: Option<String>,
    form: FormToken,
    command: Command,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(org_slug).await?;
    let Some(sign_in) = sign_in(state, &org, req, tx).await? else {
        return Ok(expired_page(state));
    };
    let outcome = engine::run(&state.core, &sign_in, command, &ctx(state, req, form)).await?;
    respond(state, &sign_in, req, outcome).await
}

/// A step's page, as a `GET` shows it.
async fn show(
    state: &AppState,
    org_slug: &str,
    req: &HttpRequest,
    query: web::Query<TxQuery>,
    kind: StepKind,
) -> Result<HttpResponse, ApiError> {
    let (tx, token) = (query.into_inner().tx, FormToken::NotAForm);
    run(state, org_slug, req, tx, token, Command::Show(kind)).await
}

/// `GET {issuer}/login?tx=…`: the first step (password, sign-in link, upstream providers).
pub async fn login_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<TxQuery>,
) -> Result<HttpResponse, ApiError> {
    show(&state, &path, &req, query, StepKind::First).await
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    tx: Option<String>,
    csrf: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST {issuer}/login`: the password.
pub async fn login_submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let command = Command::Password {
        username: form.username,
        password: Secret::new(form.password),
    };
    let token = FormToken::Sent(form.csrf);
    run(&state, &path, &req, form.tx, token, command).await
}

/// `GET {issuer}/otp?tx=…`: the SMS OTP step. The first visit sends the first code (exactly
/// once, however many tabs load it); later codes are sent only when the user asks.
pub async fn otp_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<TxQuery>,
) -> Result<HttpResponse, ApiError> {
    show(&state, &path, &req, query, StepKind::SmsOtp).await
}

/// How often the code page's frame asks again while a receipt may come (for
/// [`engine::RECEIPT_WATCH_SECONDS`] after the text was sent).
const RECEIPT_REFRESH_SECONDS: i64 = 5;

/// `GET {issuer}/otp/delivery?tx=…`: the code page's small frame, saying what the provider
/// reported of the latest code's text and reloading itself (a meta refresh, no script) while a
/// report may still come. Reads only: the page's form and its CSRF token stay as they are.
pub async fn otp_delivery(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<TxQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let Some(sign_in) = sign_in(&state, &org, &req, query.into_inner().tx).await? else {
        return Ok(state
            .pages
            .render_frame("otp_delivery.html", context! { state => "closed" }));
    };
    let view = engine::sms_delivery(&state.core, &sign_in, now()).await?;
    let (name, refresh) = match view {
        DeliveryView::Pending { watching } => {
            ("pending", watching.then_some(RECEIPT_REFRESH_SECONDS))
        }
        DeliveryView::Delivered => ("delivered", None),
        DeliveryView::Failed => ("failed", None),
        DeliveryView::Closed => ("closed", None),
    };
    Ok(state.pages.render_frame(
        "otp_delivery.html",
        context! {
            state => name,
            refresh,
            otp_url => format!("{}/otp?tx={}", org.issuer, sign_in.tx.id),
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    tx: Option<String>,
    csrf: Option<String>,
    #[serde(default)]
    code: String,
    action: Option<String>,
    /// A first mobile number added during sign-in (`action=number`).
    number: Option<String>,
}

/// `POST {issuer}/otp`: check a code (`action=verify`) or send a new one (`action=resend`).
pub async fn otp_submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let command = if form.action.as_deref() == Some("resend") {
        Command::Resend
    } else if form.action.as_deref() == Some("number") {
        Command::EnrollNumber {
            number: form.number.unwrap_or_default(),
        }
    } else {
        Command::SmsCode {
            code: Secret::new(form.code),
        }
    };
    let token = FormToken::Sent(form.csrf);
    run(&state, &path, &req, form.tx, token, command).await
}

/// `GET {issuer}/backup-code?tx=…`: the fallback of an SMS OTP step that offers backup codes.
pub async fn backup_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<TxQuery>,
) -> Result<HttpResponse, ApiError> {
    show(&state, &path, &req, query, StepKind::BackupCode).await
}

/// `POST {issuer}/backup-code`.
pub async fn backup_submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let command = Command::BackupCode {
        code: Secret::new(form.code),
    };
    let token = FormToken::Sent(form.csrf);
    run(&state, &path, &req, form.tx, token, command).await
}

/// `GET {issuer}/code?tx=…`: the step of a plug-in factor checked by a typed code (an
/// authenticator app).
pub async fn code_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<TxQuery>,
) -> Result<HttpResponse, ApiError> {
    show(&state, &path, &req, query, StepKind::Code).await
}

#[derive(Debug, Deserialize)]
pub struct FactorCodeForm {
    tx: Option<String>,
    csrf: Option<String>,
    #[serde(default)]
    factor: String,
    #[serde(default)]
    code: String,
    /// The credential being set up in this sign-in, when the page showed a setup.
    pending: Option<String>,
}

/// `POST {issuer}/code`: `factor` (as the page named it) and `code`.
pub async fn code_submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<FactorCodeForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let command = Command::Code {
        factor: form.factor,
        code: Secret::new(form.code),
        pending: form.pending,
    };
    let token = FormToken::Sent(form.csrf);
    run(&state, &path, &req, form.tx, token, command).await
}

#[derive(Debug, Deserialize)]
pub struct SentQuery {
    tx: Option<String>,
    factor: Option<String>,
}

/// `GET {issuer}/sent-code?tx=…&factor=…`: the step of a plug-in factor that sends a code (an
/// email code, `factor=email_otp`; without `factor`, the step's first). The first visit sends
/// the first code; later codes only when the user asks.
pub async fn sent_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<SentQuery>,
) -> Result<HttpResponse, ApiError> {
    let SentQuery { tx, factor } = query.into_inner();
    let command = match factor {
        Some(factor) => Command::ShowSent { factor },
        None => Command::Show(StepKind::Sent),
    };
    run(&state, &path, &req, tx, FormToken::NotAForm, command).await
}

#[derive(Debug, Deserialize)]
pub struct SentForm {
    tx: Option<String>,
    csrf: Option<String>,
    #[serde(default)]
    factor: String,
    #[serde(default)]
    code: String,
    action: Option<String>,
}

/// `POST {issuer}/sent-code`: `factor` and `code`, or `action=resend` for a new code.
pub async fn sent_submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<SentForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let command = if form.action.as_deref() == Some("resend") {
        Command::SendCode {
            factor: form.factor,
        }
    } else {
        Command::SentCode {
            factor: form.factor,
            code: Secret::new(form.code),
        }
    };
    let token = FormToken::Sent(form.csrf);
    run(&state, &path, &req, form.tx, token, command).await
}

/// `GET {issuer}/passkey?tx=…`: the step of a key factor (a passkey), with a new ceremony.
pub async fn key_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<TxQuery>,
) -> Result<HttpResponse, ApiError> {
    show(&state, &path, &req, query, StepKind::Key).await
}

#[derive(Debug, Deserialize)]
pub struct KeyForm {
    tx: Option<String>,
    csrf: Option<String>,
    #[serde(default)]
    factor: String,
    #[serde(default)]
    ceremony: String,
    /// The browser's answer, WebAuthn's JSON.
    #[serde(default)]
    response: String,
    /// The name of a passkey created in this sign-in (its form has the field).
    name: Option<String>,
}

/// `POST {issuer}/passkey`: `factor`, `ceremony` and the browser's `response`.
pub async fn key_submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<KeyForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let command = Command::KeyAnswer {
        factor: form.factor,
        ceremony: form.ceremony,
        response: form.response,
        enroll: form.name,
    };
    let token = FormToken::Sent(form.csrf);
    run(&state, &path, &req, form.tx, token, command).await
}
