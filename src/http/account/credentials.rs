//! The account area's authenticator apps (plug-in factors): set up with a QR code and a first
//! code, and removed, each after a fresh pass through the user's chain.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use sesame_plugin_api::factor::{CodeFactor, Shown};

use super::{
    Account, AppState, ChangeForm, OrgEntry, account_url, csrf_token, for_change, may_add_a_factor,
    render,
};
use crate::authn::credentials::{self, EnrollError, Switch};
use crate::authn::factor::{code_factor, key_factor};
use crate::http::browser::see_other;
use crate::http::error::ApiError;
use crate::store::now;
use crate::store::users::User;

/// `POST {issuer}/account/credentials`: `action=begin` with `factor` (a new credential, its
/// secret shown once), `action=confirm` with `factor`, `id` and `code` (saved once its first code
/// is right), or `action=remove` with `id`. A key factor's (`factor=passkey`) begin and confirm
/// are `passkeys::key_change`'s. Adding one follows the organization's enrollment
/// switch for the factor (`off`: only an administrator adds it) and the same rule as a new mobile
/// number (see [`may_add_a_factor`]): a user with no second factor cannot bind one with a password
/// alone unless the organization allows it.
pub async fn credentials_change(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<ChangeForm>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let form = form.into_inner();
    let account = match for_change(&state, &org, &req, form.csrf.as_deref()).await? {
        Ok(a) => a,
        Err(res) => return Ok(res),
    };
    if let Some(key) = form.factor.as_deref().and_then(key_factor)
        && form.action.as_deref() != Some("remove")
    {
        return super::passkeys::key_change(state, org, account, key, form).await;
    }
    let factor = form.factor.as_deref().and_then(code_factor);
    match (form.action.as_deref(), factor) {
        (Some("begin"), Some(factor)) => {
            if !may_enroll_factor(&org, &account, factor.name()) {
                let msg = enroll_by_admin_app();
                return render(&state, &org, &account, None, Some(&msg)).await;
            }
            let (org2, core, user) = (org.clone(), state.core.clone(), account.user.clone());
            let started = state
                .db
                .run(
                    move |conn| match enrollment(&core, &org2, &user, factor).begin(conn) {
                        Ok(started) => Ok(Ok(started)),
                        Err(EnrollError::Input(e)) => Ok(Err(e)),
                        Err(e) => Err(e.into_store()),
                    },
                )
                .await?;
            match started {
                Ok(started) => {
                    let shown = Some(&started.shown);
                    setup_page(&state, &org, &account, factor, &started.id, shown, None)
                }
                Err(why) => {
                    tracing::warn!(user = %account.user.id, %why, "no setup for these names");
                    let msg = crate::i18n::text("forms-credentials-names-too-long", &[]);
                    render(&state, &org, &account, None, Some(&msg)).await
                }
            }
        }
        (Some("confirm"), Some(factor)) if may_enroll_factor(&org, &account, factor.name()) => {
            let id = form.id.clone().unwrap_or_default();
            let code = form.code.clone().unwrap_or_default();
            let (org2, core, user) = (org.clone(), state.core.clone(), account.user.clone());
            let result = state
                .db
                .run(move |conn| {
                    let e = enrollment(&core, &org2, &user, factor);
                    match e.confirm(conn, &id, &code) {
                        Ok(_) => Ok(Ok(())),
                        Err(EnrollError::Wrong) => Ok(Err(e
                            .shown_again(conn, &id)
                            .map_err(EnrollError::into_store)?)),
                        Err(EnrollError::Expired) => Ok(Err(None)),
                        Err(e) => Err(e.into_store()),
                    }
                })
                .await?;
            match result {
                Ok(()) => {
                    tracing::info!(user = %account.user.id, factor = factor.name(), "credential added");
                    let to = format!("{}?changed=credential_added", account_url(&org));
                    Ok(see_other(&to))
                }
                Err(Some(shown)) => {
                    let msg = crate::i18n::text("forms-credentials-code-wrong", &[]);
                    let id = form.id.as_deref().unwrap_or_default();
                    setup_page(&state, &org, &account, factor, id, Some(&shown), Some(&msg))
                }
                Err(None) => {
                    let msg = crate::i18n::text("forms-credentials-setup-expired", &[]);
                    render(&state, &org, &account, None, Some(&msg)).await
                }
            }
        }
        (Some("remove"), _) => {
            let id = form.id.clone().unwrap_or_default();
            let (org2, user_id) = (org.clone(), account.user.id.clone());
            let removed = state
                .db
                .run(move |conn| credentials::remove(conn, org2.event_origin(), &user_id, &id))
                .await?;
            if !removed {
                let msg = crate::i18n::text("forms-credentials-not-yours", &[]);
                return render(&state, &org, &account, None, Some(&msg)).await;
            }
            tracing::info!(user = %account.user.id, "credential removed");
            let to = format!("{}?changed=credential_removed", account_url(&org));
            Ok(see_other(&to))
        }
        (Some("begin" | "confirm"), _) => {
            let msg = enroll_by_admin_app();
            render(&state, &org, &account, None, Some(&msg)).await
        }
        _ => {
            let msg = crate::i18n::text("forms-credentials-choose", &[]);
            render(&state, &org, &account, None, Some(&msg)).await
        }
    }
}

/// What the account page says when a user may not add an authenticator app themselves.
pub(super) fn enroll_by_admin_app() -> String {
    crate::i18n::text("forms-credentials-app-by-admin", &[])
}

/// Whether the user may add a credential of the plug-in factor `name` in the account area: not
/// when the organization's switch for it is `off`; otherwise as for a new number.
pub(super) fn may_enroll_factor(org: &OrgEntry, account: &Account, name: &str) -> bool {
    org.org.settings.enrollment.of(name) != Switch::Off && may_add_a_factor(org, account)
}

/// The user's enrollment of `factor`, as their app will name it.
fn enrollment<'a>(
    core: &'a crate::state::Core,
    org: &'a OrgEntry,
    user: &'a User,
    factor: &'static dyn CodeFactor,
) -> credentials::Enrollment<'a> {
    credentials::Enrollment {
        kek: core.keys.kek(),
        factor,
        origin: org.event_origin(),
        user_id: &user.id,
        who: sesame_plugin_api::factor::Enrollee {
            issuer: &org.org.display_name,
            account: user.username.as_str(),
        },
        settings: org.org.settings.factor_settings(factor.name()),
        now: now(),
    }
}

/// The setup page of a pending credential: the QR code and the typed secret, and the form for
/// its first code. The secret is never stored in the clear; the page is never cached.
fn setup_page(
    state: &AppState,
    org: &OrgEntry,
    account: &Account,
    factor: &'static dyn CodeFactor,
    id: &str,
    shown: Option<&Shown>,
    error: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let length = factor
        .code_format(org.org.settings.factor_settings(factor.name()))
        .length;
    let res = state.pages.render(
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        "credential_setup.html",
        context! {
            org_name => org.org.display_name,
            label => crate::i18n::factor_text(factor.name(), "label", factor.label()),
            factor => factor.name(),
            length,
            maxlength => u16::from(length) + 4,
            id,
            qr_svg => shown.map(|s| minijinja::Value::from_safe_string(s.qr_svg.clone())),
            text_secret => shown.map(|s| s.text.clone()),
            action => format!("{}/account/credentials", org.issuer),
            csrf => csrf_token(state, &account.session)?,
            account_url => account_url(org),
            error,
        },
    );
    Ok(res)
}
