//! The web console's OIDC client: a public application (`console`, PKCE) of the administration
//! organization, redirecting to `{base}/console/callback`, asking tokens for the management API,
//! with a password then SMS OTP (or a backup code) flow — administrators sign in through Sesame
//! itself, with their own second factor. Created the first time the console is opened.

use serde_json::json;

use super::audit::{self, Change};
use super::{Actor, Via, api_resource};
use crate::authn::flow::SignInFlow;
use crate::domain::{ClientId, ClientType, GrantType, RedirectUri};
use crate::events::OwnedOrigin;
use crate::keys::Alg;
use crate::store::applications::{Application, TokenLifetimes};
use crate::store::organizations::Organization;
use crate::store::{DbConn, StoreError, now, write_transaction};

/// The console's client id in the administration organization.
pub const CLIENT_ID: &str = "console";

/// Where the console's sign-ins come back.
pub fn redirect_uri(base_url: &str) -> String {
    format!("{base_url}/console/callback")
}

/// The console's application, created (and audited, as Sesame's own doing) when missing. An
/// operator may change it afterwards (its flow, its lifetimes); the console checks its redirect
/// URI when a sign-in starts.
pub fn application(
    conn: &mut DbConn,
    settings: &crate::config::Settings,
    admin: &Organization,
) -> Result<Application, StoreError> {
    // Read first: every console sign-in asks for it, and only the first one writes.
    if let Some(app) = Application::find(conn, admin.id, CLIENT_ID)? {
        return Ok(app);
    }
    let created = write_transaction(conn, |conn| create(conn, settings, admin));
    match created {
        // Two first visits at once: the other one created it.
        Err(StoreError::Conflict(_)) => Application::find(conn, admin.id, CLIENT_ID)?
            .ok_or_else(|| StoreError::Corrupt("the console's application vanished".into())),
        other => other,
    }
}

fn create(
    conn: &mut DbConn,
    settings: &crate::config::Settings,
    admin: &Organization,
) -> Result<Application, StoreError> {
    {
        if let Some(app) = Application::find(conn, admin.id, CLIENT_ID)? {
            return Ok(app);
        }
        let base = settings.base_url.as_str();
        let redirect = RedirectUri::parse(&redirect_uri(base)).map_err(StoreError::Corrupt)?;
        let t = now();
        let app = Application {
            id: uuid::Uuid::new_v4().to_string(),
            organization_id: admin.id,
            client_id: ClientId::parse(CLIENT_ID).map_err(StoreError::Corrupt)?,
            name: "Sesame console".into(),
            client_type: ClientType::Public,
            secret_hash: None,
            redirect_uris: vec![redirect],
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode],
            lifetimes: TokenLifetimes {
                // A console session lasts as long as its access token.
                access_token: 3600,
                ..TokenLifetimes::default()
            },
            sign_in_flow: Some(SignInFlow::password_then_sms_otp(true)),
            backup_codes: true,
            websub_subscribe: false,
            app_native: false,
            jwks: None,
            id_token_alg: Alg::RS256,
            access_token_alg: Alg::RS256,
            third_party: false,
            jwks_uri: None,
            resources: vec![api_resource(base)],
            created_at: t,
            updated_at: t,
        };
        Application::insert(conn, &app)?;
        let origin = OwnedOrigin::new(settings, admin.clone());
        let actor = Actor {
            principal: "sesame".into(),
            name: "sesame".into(),
            via: Via::Console,
            ip: None,
            request_id: None,
        };
        audit::record(
            conn,
            origin.origin(),
            &actor,
            Change {
                action: "application.create",
                entity: "application",
                entity_id: CLIENT_ID,
                before: None,
                after: Some(json!(super::applications::audited(&app))),
            },
        )?;
        Ok(app)
    }
}
