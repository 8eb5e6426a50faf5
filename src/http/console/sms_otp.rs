//! Connections → SMS OTP → Settings: the guide's settings of an organization's SMS OTP.

use serde::Deserialize;

use super::*;
use crate::admin::{AdminError, Expected};

/// The guide's Connections → SMS OTP → Settings.
pub(super) async fn sms_otp(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> HttpResponse {
    let (caller, _) = or_answer!(within(&state, &req, &slug, Role::Viewer).await);
    let principal = caller.principal.clone();
    let wanted = slug.clone();
    let read = state
        .db
        .run(move |conn| Ok(crate::admin::organizations::get(conn, &principal, &wanted)))
        .await;
    let found = or_answer!(found!(&state, read));
    let saved = req.query_string().contains("saved=1");
    sms_otp_page(&state, &req, &caller, &found, Outcome::shown(saved))
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

/// The form field a refused setting belongs to: the last part of its path.
fn field_of(path: &str) -> String {
    path.rsplit('.').next().unwrap_or(path).to_string()
}

/// The SMS OTP settings form (the checkbox is absent when unchecked).
#[derive(Debug, Deserialize)]
pub(super) struct SmsOtpForm {
    csrf: String,
    version: i64,
    expiry_seconds: String,
    numeric_only: Option<String>,
    length: String,
    resend_attempts: String,
}

pub(super) async fn sms_otp_save(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    form: web::Form<SmsOtpForm>,
) -> HttpResponse {
    let (caller, _) = or_answer!(acting(&state, &req, &slug, Role::Admin, &form.csrf).await);
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
        let kek = state.keys.kek().clone();
        let changed = state
            .db
            .run(move |conn| {
                Ok(crate::admin::organizations::update(
                    conn, &recorder, &kek, &principal, &wanted, &expected, &patch,
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
