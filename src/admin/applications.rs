//! An organization's applications as administrators see them. The client secret is never
//! shown (only whether there is one).

use serde::Serialize;

use super::AdminError;
use crate::store::applications::Application;
use crate::store::{DbConn, format_rfc3339};

/// An application (an OIDC client).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApplicationView {
    pub client_id: String,
    pub name: String,
    /// `confidential` or `public`.
    #[serde(rename = "type")]
    pub client_type: String,
    pub has_secret: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_types: Vec<String>,
    /// The sign-in flow's steps, each a list of alternatives (`[["password"], ["sms_otp",
    /// "backup_code"]]`).
    pub sign_in_flow: Vec<Vec<String>>,
    /// "Enable backup codes" on the SMS OTP step.
    pub backup_codes: bool,
    pub access_token_lifetime: i64,
    pub id_token_lifetime: i64,
    pub refresh_token_lifetime: i64,
    pub id_token_signed_response_alg: String,
    pub access_token_signed_response_alg: String,
    pub third_party: bool,
    pub app_native: bool,
    pub websub_subscribe: bool,
    /// The organization's APIs it may ask access tokens for.
    pub resources: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

pub fn view(app: &Application) -> ApplicationView {
    ApplicationView {
        client_id: app.client_id.as_str().to_string(),
        name: app.name.clone(),
        client_type: app.client_type.as_str().to_string(),
        has_secret: app.secret_hash.is_some(),
        redirect_uris: app
            .redirect_uris
            .iter()
            .map(|u| u.as_str().to_string())
            .collect(),
        post_logout_redirect_uris: app
            .post_logout_redirect_uris
            .iter()
            .map(|u| u.as_str().to_string())
            .collect(),
        grant_types: app
            .grant_types
            .iter()
            .map(|g| {
                serde_json::to_value(g)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            })
            .collect(),
        sign_in_flow: app.flow().to_names(),
        backup_codes: app.backup_codes,
        access_token_lifetime: app.lifetimes.access_token,
        id_token_lifetime: app.lifetimes.id_token,
        refresh_token_lifetime: app.lifetimes.refresh_token,
        id_token_signed_response_alg: app.id_token_alg.as_str().to_string(),
        access_token_signed_response_alg: app.access_token_alg.as_str().to_string(),
        third_party: app.third_party,
        app_native: app.app_native,
        websub_subscribe: app.websub_subscribe,
        resources: app.resources.clone(),
        created_at: format_rfc3339(app.created_at),
        updated_at: format_rfc3339(app.updated_at),
    }
}

/// The application as the audit log records it: as shown, without its timestamps, with the
/// secret's hash (which the diff redacts: the log says that the secret changed, nothing more).
pub fn audited(app: &Application) -> serde_json::Value {
    let mut value = serde_json::to_value(view(app)).expect("an application serializes");
    if let Some(fields) = value.as_object_mut() {
        fields.remove("created_at");
        fields.remove("updated_at");
        fields.insert("client_secret".into(), app.secret_hash.clone().into());
        fields.insert("jwks_uri".into(), app.jwks_uri.clone().into());
        // Public keys, but long: their digest says whether they changed.
        fields.insert(
            "jwks_sha256".into(),
            app.jwks.as_ref().map(crate::secret::sha256_hex).into(),
        );
    }
    value
}

pub fn list(conn: &mut DbConn, organization_id: i64) -> Result<Vec<ApplicationView>, AdminError> {
    Ok(Application::list(conn, organization_id)?
        .iter()
        .map(view)
        .collect())
}

pub fn get(
    conn: &mut DbConn,
    organization_id: i64,
    client_id: &str,
) -> Result<ApplicationView, AdminError> {
    Application::find(conn, organization_id, client_id)?
        .map(|a| view(&a))
        .ok_or_else(|| {
            AdminError::NotFound(format!(
                "no application with client_id '{client_id}' in this organization"
            ))
        })
}
