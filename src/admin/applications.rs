//! An organization's applications as administrators see them. The client secret is never
//! shown (only whether there is one).

use serde::Serialize;
use serde_json::Value;

use super::audit::{Change, Recorder};
use super::organizations::merge_patch;
use super::{AdminError, Expected, Principal};
use crate::domain::ClientType;
use crate::provisioning::{self, AppSpec};
use crate::secret::{random_token, sha256_hex};
use crate::store::applications::Application;
use crate::store::organizations::Organization;
use crate::store::{DbConn, StoreError, format_rfc3339, write_transaction};

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
    /// Its public keys for `private_key_jwt` (a JWKS), instead of a secret.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// Where it publishes its keys for `private_key_jwt`, instead of a secret.
    pub jwks_uri: Option<String>,
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
        jwks: app
            .jwks
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok()),
        jwks_uri: app.jwks_uri.clone(),
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
        // Public keys, but long: their digest says whether they changed.
        fields.remove("jwks");
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

/// The application and its version (its ETag).
pub fn get(
    conn: &mut DbConn,
    organization_id: i64,
    client_id: &str,
) -> Result<(ApplicationView, i64), AdminError> {
    let (app, version) = find(conn, organization_id, client_id)?;
    Ok((view(&app), version))
}

/// The application with its version.
fn find(
    conn: &mut DbConn,
    organization_id: i64,
    client_id: &str,
) -> Result<(Application, i64), AdminError> {
    Application::find_versioned(conn, organization_id, client_id)?
        .ok_or_else(|| not_found(client_id))
}

fn not_found(client_id: &str) -> AdminError {
    AdminError::NotFound(format!(
        "no application with client_id '{client_id}' in this organization"
    ))
}

/// The organization as stored now: its settings (APIs, upstream providers) decide what its
/// applications may name, and a node's cached copy may be older.
fn fresh(conn: &mut DbConn, org: &Organization) -> Result<Organization, StoreError> {
    Organization::find_by_slug(conn, &org.slug)?
        .ok_or_else(|| StoreError::Corrupt(format!("organization {} vanished", org.slug)))
}

fn stale(current: i64) -> AdminError {
    AdminError::Stale(format!(
        "the application changed since it was read (it is at version \"{current}\"): read it again"
    ))
}

/// An application as a change answers it: with the client secret generated for it, shown
/// this once (a new confidential application, or one made confidential, without keys or a
/// secret of its own; a new secret asked for).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApplicationChanged {
    #[serde(flatten)]
    pub application: ApplicationView,
    /// Shown once: store it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// The application's fields (those of a provisioning file, in JSON) read as a plan, checked
/// by the file's rules and messages, its flow by the engine's.
fn plan(spec: Value, org: &Organization) -> Result<provisioning::AppPlan, AdminError> {
    let spec: AppSpec = serde_path_to_error::deserialize(spec).map_err(|e| {
        let path = e.path().to_string();
        AdminError::invalid(
            if path == "." { "" } else { &path },
            e.into_inner().to_string(),
        )
    })?;
    provisioning::plan_application(spec, &org.settings).map_err(AdminError::Fields)
}

/// The application as the transaction left it, with the secret the change generated.
fn changed(
    conn: &mut DbConn,
    org: &Organization,
    client_id: &str,
    report: provisioning::Report,
) -> Result<(ApplicationChanged, i64), StoreError> {
    let (app, version) = Application::find_versioned(conn, org.id, client_id)?
        .ok_or_else(|| StoreError::Corrupt(format!("application {client_id} vanished")))?;
    let client_secret = report
        .generated_secrets
        .into_iter()
        .next()
        .map(|(_, secret)| secret.expose().clone());
    Ok((
        ApplicationChanged {
            application: view(&app),
            client_secret,
        },
        version,
    ))
}

/// Creates an application from the fields a provisioning file gives one (in JSON), checked
/// like a file's; audited. A confidential application without a secret or keys gets a
/// generated secret, answered once.
pub fn create(
    conn: &mut DbConn,
    recorder: &Recorder,
    org: &Organization,
    spec: Value,
) -> Result<(ApplicationChanged, i64), AdminError> {
    write_transaction(conn, |conn| {
        let org = &fresh(conn, org)?;
        let plan = match plan(spec, org) {
            Ok(plan) => plan,
            Err(e) => return Ok(Err(e)),
        };
        let client_id = plan.client_id().as_str().to_string();
        if Application::find(conn, org.id, &client_id)?.is_some() {
            return Ok(Err(AdminError::Conflict(format!(
                "there is already an application with client_id '{client_id}' here"
            ))));
        }
        let report = provisioning::apply_application(conn, org, &plan, recorder)?;
        Ok(Ok(changed(conn, org, &client_id, report)?))
    })?
}

/// Changes an application by a JSON merge patch (RFC 7396) of its fields as a provisioning
/// file gives them (those of [`ApplicationView`] that are not read-only, plus the write-only
/// `client_secret`), if its version is one `expected` allows; checked like a file's (the
/// flow by the engine's rules) and audited. The client id cannot change.
pub fn update(
    conn: &mut DbConn,
    recorder: &Recorder,
    org: &Organization,
    client_id: &str,
    expected: &Expected,
    patch: &Value,
) -> Result<(ApplicationChanged, i64), AdminError> {
    let Value::Object(fields) = patch else {
        return Err(AdminError::invalid(
            "",
            "a merge patch of an application is a JSON object",
        ));
    };
    if let Some(field) = fields.keys().find(|k| READ_ONLY.contains(&k.as_str())) {
        return Err(AdminError::invalid(field, "is read-only"));
    }
    for _ in 0..3 {
        let outcome = write_transaction(conn, |conn| {
            let org = &fresh(conn, org)?;
            let (old, current) = match find(conn, org.id, client_id) {
                Ok(found) => found,
                Err(e) => return Ok(Err(e)),
            };
            if !expected.allows(current) {
                return Ok(Err(stale(current)));
            }
            let mut form = provisioning::application_form(&old);
            merge_patch(&mut form, patch);
            if form.get("client_id").and_then(Value::as_str) != Some(client_id) {
                return Ok(Err(AdminError::invalid(
                    "client_id",
                    "cannot change: create another application",
                )));
            }
            let plan = match plan(form, org) {
                Ok(plan) => plan,
                Err(e) => return Ok(Err(e)),
            };
            if !Application::claim(conn, &old.id, &[current])? {
                return Ok(Ok(None));
            }
            let report = provisioning::apply_application(conn, org, &plan, recorder)?;
            Ok(Ok(Some(changed(conn, org, client_id, report)?)))
        })?;
        match outcome {
            Ok(Some(done)) => return Ok(done),
            Ok(None) if expected.is_any() => continue,
            Ok(None) => {
                return Err(AdminError::Stale(
                    "the application changed meanwhile: read it again".into(),
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Err(AdminError::Conflict(
        "the application kept changing while this change was made: try again".into(),
    ))
}

/// Fields of [`ApplicationView`] a change cannot set.
pub const READ_ONLY: [&str; 3] = ["has_secret", "created_at", "updated_at"];

/// Deletes an application, if its version is one `expected` allows, with everything issued to
/// it (codes, grants and their tokens, consents; its client-credentials tokens stop working)
/// and the roles it held as a service application; audited.
pub fn delete(
    conn: &mut DbConn,
    recorder: &Recorder,
    org: &Organization,
    client_id: &str,
    expected: &Expected,
) -> Result<(), AdminError> {
    write_transaction(conn, |conn| {
        let (old, current) = match find(conn, org.id, client_id) {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        if !expected.allows(current) || !Application::claim(conn, &old.id, &[current])? {
            return Ok(Err(stale(current)));
        }
        Application::delete(conn, &old.id)?;
        crate::store::admin::RoleGrant::remove_all(conn, &Principal::client(&old.id))?;
        recorder.record(
            conn,
            org,
            Change {
                action: "application.delete",
                entity: "application",
                entity_id: client_id,
                before: Some(audited(&old)),
                after: None,
            },
        )?;
        Ok(Ok(()))
    })?
}

/// Gives a confidential application that authenticates with a secret a new generated one,
/// answered once; the old one stops working at once. Audited (the log says that the secret
/// changed, nothing more).
pub fn new_secret(
    conn: &mut DbConn,
    recorder: &Recorder,
    org: &Organization,
    client_id: &str,
    expected: &Expected,
) -> Result<(ApplicationChanged, i64), AdminError> {
    write_transaction(conn, |conn| {
        let (old, current) = match find(conn, org.id, client_id) {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        if old.client_type == ClientType::Public || old.jwks.is_some() || old.jwks_uri.is_some() {
            return Ok(Err(AdminError::Conflict(
                "this application does not authenticate with a secret (public, or with keys)"
                    .into(),
            )));
        }
        if !expected.allows(current) || !Application::claim(conn, &old.id, &[current])? {
            return Ok(Err(stale(current)));
        }
        let secret = random_token(32);
        let app = Application {
            secret_hash: Some(sha256_hex(secret.expose())),
            ..old.clone()
        };
        Application::update(conn, &app)?;
        recorder.record(
            conn,
            org,
            Change {
                action: "application.new_secret",
                entity: "application",
                entity_id: client_id,
                before: Some(audited(&old)),
                after: Some(audited(&app)),
            },
        )?;
        let mut report = provisioning::Report::default();
        report
            .generated_secrets
            .push((client_id.to_string(), secret));
        Ok(Ok(changed(conn, org, client_id, report)?))
    })?
}
