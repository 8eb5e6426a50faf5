//! An organization's applications and their Sign-in Method tab.

use serde::Deserialize;

use super::*;
use crate::admin::{AdminError, Expected};

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
pub(super) async fn applications(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> HttpResponse {
    let (caller, org) = or_answer!(within(&state, &req, &slug, Role::Viewer).await);
    let org_id = org.org.id;
    let apps = or_answer!(found!(
        &state,
        state
            .db
            .run(move |conn| Ok(crate::admin::applications::list(conn, org_id)))
            .await
    ));
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
pub(super) async fn application(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, client_id) = path.into_inner();
    let (caller, org) = or_answer!(within(&state, &req, &slug, Role::Viewer).await);
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
pub(super) struct SignInMethodForm {
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
    let (app, version) = or_answer!(found!(
        state,
        state
            .db
            .run(move |conn| Ok(crate::admin::applications::get(conn, org_id, &wanted)))
            .await
    ));
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

pub(super) async fn sign_in_method_save(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<SignInMethodForm>,
) -> HttpResponse {
    let (slug, client_id) = path.into_inner();
    let (caller, org) = or_answer!(acting(&state, &req, &slug, Role::Admin, &form.csrf).await);
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
