//! How each step of a sign-in is drawn: the page of a step (the first step's forms, a code's,
//! a key's, the ways to a code sent elsewhere), with its error and a fresh CSRF token. The pages
//! only show what the engine decided (`authn::outcome::Step`).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use minijinja::context;

use super::back_to;
use crate::authn::engine::{Purpose, SignIn, required_flow};
use crate::authn::flow::Authenticator;
use crate::authn::outcome::{FirstView, Step, StepError, StepKind};
use crate::http::browser::new_csrf;
use crate::http::error::ApiError;
use crate::http::pages::Pages;
use crate::http::{AppState, OrgEntry};
use crate::i18n::factor_text;

/// Shows a step's page with a fresh CSRF token.
pub(super) async fn render_step(
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
                Pages::CSP_FRAMING_SELF
            } else {
                Pages::CSP
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
                    resend_after => (wait > 0).then(|| crate::i18n::from_now(wait)),
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
                label => factor_text(code.factor, "label", code.label),
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
                    label => factor_text(sent.factor, "label", sent.label),
                    masked_destination => sent.masked_destination,
                    sent => sent.sent,
                    numeric => sent.numeric,
                    maxlength => sent.length + 4,
                    resend_after => (wait > 0).then(|| crate::i18n::from_now(wait)),
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
                    label => factor_text(key.factor, "label", key.label),
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
fn code_url(step: &Step, org: &OrgEntry, tx: &str) -> Option<String> {
    step.sms_otp
        .as_ref()
        .and_then(|v| v.code_factor)
        .map(|_| format!("{}/code?tx={tx}", org.issuer))
}

/// The link to the step's passkey page when the step offers a key factor the user holds or may
/// create here: its address and its text.
fn key_url(step: &Step, org: &OrgEntry, tx: &str) -> Option<minijinja::Value> {
    step.key_offer.map(|o| {
        context! {
            url => format!("{}/passkey?tx={tx}", org.issuer),
            text => crate::i18n::text(
                if o.create { "engine-key-create" } else { "engine-key-use" },
                &[],
            ),
        }
    })
}

/// The links to the step's factors that send a code (an email code) which the user can receive.
fn sent_ways(step: &Step, org: &OrgEntry, tx: &str) -> Vec<minijinja::Value> {
    step.sent_offers
        .iter()
        .map(|o| {
            context! {
                url => format!("{}/sent-code?tx={tx}&factor={}", org.issuer, o.factor),
                offer => factor_text(o.factor, "offer", o.offer),
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
        Purpose::Authorize { app, auth }
            if crate::http::register::offered(
                org,
                sign_in.tx.user_id.is_some(),
                app,
                &required_flow(app, auth),
            ) =>
        {
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
        key_label => key.map(|k| factor_text(k.factor, "label", k.label)),
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
