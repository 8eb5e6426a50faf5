//! The account area's passkeys (key factors): added by a registration ceremony in the browser
//! and named by the user, after a fresh pass through the user's chain; removed like any other
//! credential (`credentials_change`'s `remove`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use minijinja::context;
use sesame_plugin_api::key::KeyFactor;

use super::credentials::may_enroll_factor;
use super::{Account, AppState, ChangeForm, OrgEntry, account_url, csrf_token, render};
use crate::authn::credentials::EnrollError;
use crate::authn::passkeys::{self, NAME_MAX, Party, Registration};
use crate::http::browser::see_other;
use crate::http::error::ApiError;
use crate::store::now;

/// What the account page says when a user may not add a passkey themselves.
pub(super) fn enroll_by_admin_key() -> String {
    crate::i18n::text("forms-passkeys-key-by-admin", &[])
}

/// Whether the user may add a key of `factor` here: the organization's switch and the rule for
/// a new second factor, and a base URL passkeys can be bound to. A key that signs in on its own
/// (a passkey) needs the user's second factor even where a password alone may add a first one
/// (`sms_otp.enroll_with_password_only`): a password alone must not mint a credential that
/// later needs no password.
pub(super) fn may_add_key(state: &AppState, org: &OrgEntry, account: &Account, name: &str) -> bool {
    let alone = crate::authn::factor::key_factor(name).is_some_and(|f| f.multi_factor());
    may_enroll_factor(org, account, name)
        && (account.second_factor || !alone)
        && Party::of(&state.core.settings.base_url).is_some()
}

/// `action=begin` (a new registration ceremony, shown with a name field) and `action=confirm`
/// with `id`, `name` and the browser's `response`.
pub(super) async fn key_change(
    state: web::Data<AppState>,
    org: std::sync::Arc<OrgEntry>,
    account: Account,
    factor: &'static dyn KeyFactor,
    form: ChangeForm,
) -> Result<HttpResponse, ApiError> {
    if !may_add_key(&state, &org, &account, factor.name()) {
        return render(&state, &org, &account, None, Some(&enroll_by_admin_key())).await;
    }
    let Some(party) = Party::of(&state.core.settings.base_url) else {
        return render(&state, &org, &account, None, Some(&enroll_by_admin_key())).await;
    };
    let held = account
        .credentials
        .iter()
        .filter(|c| c.factor == factor.name())
        .count();
    let default_name = crate::i18n::text(
        "forms-passkeys-default-name",
        &[("n", i64::try_from(held + 1).unwrap_or(i64::MAX).into())],
    );
    match form.action.as_deref() {
        Some("begin") => {
            let begun = begin(&state, &org, &account, factor, party).await?;
            setup_page(&state, &org, &account, factor, begun, &default_name, None)
        }
        Some("confirm") => {
            let Some(name) = passkeys::key_name(form.name.as_deref().unwrap_or_default()) else {
                let max = ("max", i64::try_from(NAME_MAX).unwrap_or(i64::MAX).into());
                let msg = crate::i18n::text("forms-passkeys-name-length", &[max]);
                let begun = begin(&state, &org, &account, factor, party).await?;
                return setup_page(
                    &state,
                    &org,
                    &account,
                    factor,
                    begun,
                    &default_name,
                    Some(&msg),
                );
            };
            let id = form.id.clone().unwrap_or_default();
            let response = form.response.clone().unwrap_or_default();
            let (org2, core, user) = (org.clone(), state.core.clone(), account.user.clone());
            let party2 = party.clone();
            let result = state
                .db
                .run(move |conn| {
                    let r =
                        Registration::new(core.keys.kek(), factor, &org2, &user, &party2, now());
                    match r.finish(conn, &id, &response, &name) {
                        Ok(_) => Ok(Ok(())),
                        Err(EnrollError::Store(e)) => Err(e),
                        Err(e) => Ok(Err(e)),
                    }
                })
                .await?;
            let why = match result {
                Ok(()) => {
                    tracing::info!(user = %account.user.id, factor = factor.name(), "key added");
                    let to = format!("{}?changed=key_added", account_url(&org));
                    return Ok(see_other(&to));
                }
                Err(EnrollError::Expired) => "forms-passkeys-setup-expired",
                Err(EnrollError::Taken) => "forms-passkeys-taken",
                Err(_) => "forms-passkeys-not-accepted",
            };
            let msg = crate::i18n::text(why, &[]);
            let begun = begin(&state, &org, &account, factor, party).await?;
            setup_page(
                &state,
                &org,
                &account,
                factor,
                begun,
                &default_name,
                Some(&msg),
            )
        }
        _ => {
            let msg = crate::i18n::text("forms-passkeys-choose", &[]);
            render(&state, &org, &account, None, Some(&msg)).await
        }
    }
}

/// A new registration ceremony for the account's user.
async fn begin(
    state: &AppState,
    org: &std::sync::Arc<OrgEntry>,
    account: &Account,
    factor: &'static dyn KeyFactor,
    party: Party,
) -> Result<passkeys::Begun, ApiError> {
    let (org2, core, user) = (org.clone(), state.core.clone(), account.user.clone());
    Ok(state
        .db
        .run(move |conn| {
            let r = Registration::new(core.keys.kek(), factor, &org2, &user, &party, now());
            r.begin(conn).map_err(EnrollError::into_store)
        })
        .await?)
}

/// The page that runs a registration ceremony: the options for the browser, a name field.
fn setup_page(
    state: &AppState,
    org: &OrgEntry,
    account: &Account,
    factor: &'static dyn KeyFactor,
    begun: passkeys::Begun,
    name: &str,
    error: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    Ok(state.pages.render_with_script(
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        "passkey_setup.html",
        context! {
            org_name => org.org.display_name,
            label => crate::i18n::factor_text(factor.name(), "label", factor.label()),
            factor => factor.name(),
            id => begun.id,
            options => begun.options.to_string(),
            name,
            name_max => NAME_MAX,
            action => format!("{}/account/credentials", org.issuer),
            csrf => csrf_token(state, &account.session)?,
            account_url => account_url(org),
            error,
        },
    ))
}
