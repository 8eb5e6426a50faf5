//! The sign-in pages: each form becomes a command for the sign-in engine (`authn::engine`), and
//! each outcome becomes a page (a step, again with its error), a redirect to the next step's
//! page, the answer to the client, or a refusal page. No decision is made here.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

use super::AppState;
use super::authorize::proceed;
use super::browser::{
    DEVICE_COOKIE, SESSION_COOKIE, TxQuery, cookie, ctx, expired_page, new_csrf, refusal_page,
    see_other, sign_in,
};
use super::error::ApiError;
use crate::authn::engine::{self, Command, FormToken, Purpose, SignIn};
use crate::authn::flow::Authenticator;
use crate::authn::outcome::{
    Completed, DeliveryView, FirstView, Outcome, Step, StepError, StepKind,
};
use crate::secret::Secret;
use crate::store::{format_utc, now};

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
        Purpose::Account(engine::AccountRequest::Reset { back }) => back.as_ref(),
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

/// Shows a step's page with a fresh CSRF token.
async fn render_step(
    state: &AppState,
    sign_in: &SignIn,
    step: &Step,
) -> Result<HttpResponse, ApiError> {
    let org = &sign_in.org;
    let csrf = new_csrf(state, &sign_in.tx.id).await?;
    let error = step.error.as_ref().map(StepError::message);
    // Errors of a code step are unprocessable input; the first step answers 200 either way.
    let status = if error.is_some() && step.kind != StepKind::First {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let tx = &sign_in.tx.id;
    match (step.kind, &step.first, &step.sms_otp, &step.code) {
        (StepKind::First, Some(first), _, _) => {
            Ok(first_page(state, sign_in, step, first, &csrf, status))
        }
        (StepKind::SmsOtp, _, Some(otp), _) => {
            let wait = otp.resend_wait_seconds;
            // While a receipt may still come, a small frame watches for it (no script).
            let csp = if otp.awaiting_receipt {
                super::pages::Pages::CSP_FRAMING_SELF
            } else {
                super::pages::Pages::CSP
            };
            Ok(state.pages.render_with_csp(
                status,
                "otp.html",
                context! {
                    org_name => org.org.display_name,
                    app_name => step.app_name,
                    action => format!("{}/otp", org.issuer),
                    tx,
                    csrf,
                    no_phone => otp.masked_phone.is_none(),
                    enroll => otp.enroll,
                    masked_phone => otp.masked_phone,
                    numeric => otp.numeric,
                    maxlength => otp.length + 4,
                    resend_after => (wait > 0).then(|| format_utc(now() + wait)),
                    resend_wait => wait,
                    sent => otp.sent,
                    undelivered => otp.undelivered,
                    delivery_url => otp.awaiting_receipt
                        .then(|| format!("{}/otp/delivery?tx={tx}", org.issuer)),
                    backup_url => otp.backup_code.then(|| format!("{}/backup-code?tx={tx}", org.issuer)),
                    code_url => code_url(step, org, tx),
                    sent_ways => sent_ways(step, org, tx),
                    key_url => key_url(step, org, tx),
                    notice => step.notice.map(|n| n.message()),
                    error,
                },
                csp,
            ))
        }
        (StepKind::BackupCode, _, _, _) => Ok(state.pages.render(
            status,
            "backup_code.html",
            context! {
                org_name => org.org.display_name,
                app_name => step.app_name,
                action => format!("{}/backup-code", org.issuer),
                tx,
                csrf,
                // A text message only for a user with a number (or who may add one here).
                otp_url => step.sms_otp.as_ref()
                    .filter(|v| v.masked_phone.is_some() || v.enroll)
                    .map(|_| format!("{}/otp?tx={tx}", org.issuer)),
                code_url => code_url(step, org, tx),
                sent_ways => sent_ways(step, org, tx),
                key_url => key_url(step, org, tx),
                error,
            },
        )),
        (StepKind::Code, _, _, Some(code)) => Ok(state.pages.render(
            status,
            "code.html",
            context! {
                org_name => org.org.display_name,
                app_name => step.app_name,
                action => format!("{}/code", org.issuer),
                tx,
                csrf,
                factor => code.factor,
                label => code.label,
                numeric => code.numeric,
                length => code.length,
                maxlength => u16::from(code.length) + 4,
                enrolled => code.enrolled,
                not_enrolled => StepError::NotEnrolled.message(),
                setup_id => code.setup.as_ref().map(|s| s.id.clone()),
                qr_svg => code.setup.as_ref()
                    .map(|s| minijinja::Value::from_safe_string(s.qr_svg.clone())),
                text_secret => code.setup.as_ref().map(|s| s.text.clone()),
                otp_url => code.sms_otp.then(|| format!("{}/otp?tx={tx}", org.issuer)),
                backup_url => code.backup_code
                    .then(|| format!("{}/backup-code?tx={tx}", org.issuer)),
                sent_ways => sent_ways(step, org, tx),
                key_url => key_url(step, org, tx),
                error,
            },
        )),
        (StepKind::Sent, _, _, _) if let Some(sent) = &step.sent => {
            let wait = sent.resend_wait_seconds;
            Ok(state.pages.render(
                status,
                "sent_code.html",
                context! {
                    org_name => org.org.display_name,
                    app_name => step.app_name,
                    action => format!("{}/sent-code", org.issuer),
                    tx,
                    csrf,
                    factor => sent.factor,
                    label => sent.label,
                    masked_destination => sent.masked_destination,
                    sent => sent.sent,
                    numeric => sent.numeric,
                    maxlength => sent.length + 4,
                    resend_after => (wait > 0).then(|| format_utc(now() + wait)),
                    resend_wait => wait,
                    resends_left => sent.resends_left,
                    otp_url => sent.sms_otp.then(|| format!("{}/otp?tx={tx}", org.issuer)),
                    code_url => sent.code_factor.map(|_| format!("{}/code?tx={tx}", org.issuer)),
                    backup_url => sent.backup_code
                        .then(|| format!("{}/backup-code?tx={tx}", org.issuer)),
                    sent_ways => sent_ways(step, org, tx),
                    key_url => key_url(step, org, tx),
                    notice => step.notice.map(|n| n.message()),
                    error,
                },
            ))
        }
        (StepKind::Key, _, _, _) if let Some(key) = &step.key => {
            Ok(state.pages.render_with_script(
                status,
                "passkey.html",
                context! {
                    org_name => org.org.display_name,
                    app_name => step.app_name,
                    action => format!("{}/passkey", org.issuer),
                    tx,
                    csrf,
                    factor => key.factor,
                    label => key.label,
                    ceremony => key.ceremony,
                    register => key.register,
                    name_max => crate::authn::passkeys::NAME_MAX,
                    not_enrolled => StepError::NotEnrolled.message(),
                    options => key.options.as_ref().map(ToString::to_string),
                    otp_url => key.sms_otp.then(|| format!("{}/otp?tx={tx}", org.issuer)),
                    code_url => key.code_factor.map(|_| format!("{}/code?tx={tx}", org.issuer)),
                    backup_url => key.backup_code
                        .then(|| format!("{}/backup-code?tx={tx}", org.issuer)),
                    sent_ways => sent_ways(step, org, tx),
                    error,
                },
            ))
        }
        _ => {
            tracing::error!(kind = ?step.kind, "a step without its view");
            Err(ApiError::Internal)
        }
    }
}

/// The link to the step's code page when the step also offers a plug-in factor checked by a
/// typed code (an authenticator app) and the user has one.
fn code_url(step: &Step, org: &super::OrgEntry, tx: &str) -> Option<String> {
    step.sms_otp
        .as_ref()
        .and_then(|v| v.code_factor)
        .map(|_| format!("{}/code?tx={tx}", org.issuer))
}

/// The link to the step's passkey page when the step offers a key factor the user holds or may
/// create here: its address and its text.
fn key_url(step: &Step, org: &super::OrgEntry, tx: &str) -> Option<minijinja::Value> {
    step.key_offer.map(|o| {
        context! {
            url => format!("{}/passkey?tx={tx}", org.issuer),
            text => if o.create { "Create a passkey instead" } else { "Use your passkey instead" },
        }
    })
}

/// The links to the step's factors that send a code (an email code) which the user can receive.
fn sent_ways(step: &Step, org: &super::OrgEntry, tx: &str) -> Vec<minijinja::Value> {
    step.sent_offers
        .iter()
        .map(|o| {
            context! {
                url => format!("{}/sent-code?tx={tx}&factor={}", org.issuer, o.factor),
                offer => o.offer,
            }
        })
        .collect()
}

/// The first step's page: the password form, the "email me a link" form and one button per
/// upstream provider, as the step offers them.
fn first_page(
    state: &AppState,
    sign_in: &SignIn,
    step: &Step,
    first: &FirstView,
    csrf: &str,
    status: StatusCode,
) -> HttpResponse {
    let (org, tx) = (&sign_in.org, &sign_in.tx.id);
    let error = step.error.as_ref().map(StepError::message);
    let providers: Vec<_> = first
        .providers
        .iter()
        .map(|p| {
            context! {
                label => p.label,
                action => format!("{}/federated/{}", org.issuer, p.name),
            }
        })
        .collect();
    // The errors of the sign-in-link form and of the passkey sit next to their forms.
    let link_error = matches!(step.error, Some(StepError::IdentifierMissing));
    let key_error = matches!(
        step.error,
        Some(StepError::KeyRefused | StepError::KeyTimedOut)
    );
    let key = step.key.as_ref().filter(|k| k.ceremony.is_some());
    let password = step.authenticators.contains(&Authenticator::Password);
    let reset = sign_in.purpose.resets_password();
    // "Forgot your password?" under the password form, where the organization resets by email.
    let forgot_url = (password && !reset && org.org.settings.password_reset.enabled)
        .then(|| format!("{}/password-reset?tx={tx}", org.issuer));
    // "Create an account" where the organization opened registration to the application.
    let register_url = match &sign_in.purpose {
        Purpose::Authorize { app, .. } if super::register::offered(org, &sign_in.tx, app) => {
            Some(format!("{}/register?tx={tx}", org.issuer))
        }
        _ => None,
    };
    let ctx = context! {
        org_name => org.org.display_name,
        app_name => step.app_name,
        action => format!("{}/login", org.issuer),
        magic_link_action => format!("{}/magic-link", org.issuer),
        password,
        magic_link => step.authenticators.contains(&Authenticator::MagicLink),
        reset,
        forgot_url,
        register_url,
        back_url => back_to(&sign_in.purpose).map(|b| format!("{}/login?tx={b}", org.issuer)),
        providers,
        tx,
        csrf,
        username => first.username,
        error => error.as_ref().filter(|_| !link_error && !key_error),
        magic_link_error => error.as_ref().filter(|_| link_error),
        key_error => error.as_ref().filter(|_| key_error),
        key_action => format!("{}/passkey", org.issuer),
        key_factor => key.map(|k| k.factor),
        key_label => key.map(|k| k.label),
        ceremony => key.and_then(|k| k.ceremony.clone()),
        options => key.and_then(|k| k.options.as_ref()).map(ToString::to_string),
    };
    // The page runs a script only when it offers a passkey.
    if key.is_some() {
        state.pages.render_with_script(status, "login.html", ctx)
    } else {
        state.pages.render(status, "login.html", ctx)
    }
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
