//! Applications: the OIDC clients of an organization.

use diesel::prelude::*;
use serde::{Serialize, de::DeserializeOwned};

use super::schema::applications;
use super::{DbConn, StoreError, now};
use crate::authn::flow::SignInFlow;
use crate::domain::{ClientId, ClientType, GrantType, RedirectUri};
use crate::keys::Alg;

/// An application as the rest of Sesame sees it: every field already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: String,
    pub organization_id: i64,
    pub client_id: ClientId,
    pub name: String,
    pub client_type: ClientType,
    /// Hex SHA-256 of the client secret (confidential clients). Secrets are generated with 256
    /// bits of entropy, so a fast digest is safe and keeps client authentication cheap.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub lifetimes: TokenLifetimes,
    /// The sign-in flow; `None` is the predefined "Username + Password".
    pub sign_in_flow: Option<SignInFlow>,
    /// "Enable backup codes" on the SMS OTP step: users may pass it with a backup code.
    pub backup_codes: bool,
    /// May ask for `websub:subscribe` tokens (client credentials) to manage webhook
    /// subscriptions at the hub.
    pub websub_subscribe: bool,
    /// May sign users in through the JSON sign-in API (`response_mode=direct`), without a
    /// browser redirect.
    pub app_native: bool,
    /// The client's public keys (a JWKS document) for `private_key_jwt`, instead of a secret.
    pub jwks: Option<String>,
    /// What signs this application's ID tokens.
    pub id_token_alg: Alg,
    /// What signs this application's access tokens (`access_token_signed_response_alg`).
    pub access_token_alg: Alg,
    /// A third-party application shows the consent page before the user's data is shared.
    pub third_party: bool,
    /// Where the client publishes its keys for `private_key_jwt` (instead of inline `jwks`).
    pub jwks_uri: Option<String>,
    /// The organization's APIs this application may ask access tokens for.
    pub resources: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Token lifetimes in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    pub access_token: i64,
    pub id_token: i64,
    pub refresh_token: i64,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access_token: 300,
            id_token: 300,
            refresh_token: 86_400,
        }
    }
}

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = applications)]
#[diesel(treat_none_as_null = true)]
pub(super) struct Row {
    id: String,
    organization_id: i64,
    client_id: String,
    name: String,
    client_type: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    access_token_lifetime: i64,
    id_token_lifetime: i64,
    refresh_token_lifetime: i64,
    sign_in_flow: Option<String>,
    created_at: i64,
    updated_at: i64,
    jwks: Option<String>,
    id_token_alg: String,
    third_party: bool,
    jwks_uri: Option<String>,
    resources: String,
    backup_codes: bool,
    websub_subscribe: bool,
    app_native: bool,
    access_token_alg: String,
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("lists of strings serialize")
}

fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("applications.{what}: {e}")))
}

impl Row {
    pub(super) fn into_app(self) -> Result<Application, StoreError> {
        let corrupt =
            |what: &str, e: String| StoreError::Corrupt(format!("applications.{what}: {e}"));
        Ok(Application {
            client_id: ClientId::parse(&self.client_id).map_err(|e| corrupt("client_id", e))?,
            client_type: ClientType::parse(&self.client_type)
                .map_err(|e| corrupt("client_type", e))?,
            redirect_uris: from_json(&self.redirect_uris, "redirect_uris")?,
            post_logout_redirect_uris: from_json(
                &self.post_logout_redirect_uris,
                "post_logout_redirect_uris",
            )?,
            grant_types: from_json(&self.grant_types, "grant_types")?,
            lifetimes: TokenLifetimes {
                access_token: self.access_token_lifetime,
                id_token: self.id_token_lifetime,
                refresh_token: self.refresh_token_lifetime,
            },
            id: self.id,
            organization_id: self.organization_id,
            name: self.name,
            secret_hash: self.secret_hash,
            sign_in_flow: self
                .sign_in_flow
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| corrupt("sign_in_flow", e.to_string()))?,
            backup_codes: self.backup_codes,
            websub_subscribe: self.websub_subscribe,
            app_native: self.app_native,
            jwks: self.jwks,
            third_party: self.third_party,
            jwks_uri: self.jwks_uri,
            resources: from_json(&self.resources, "resources")?,
            id_token_alg: Alg::parse(&self.id_token_alg).map_err(|e| corrupt("id_token_alg", e))?,
            access_token_alg: Alg::parse(&self.access_token_alg)
                .map_err(|e| corrupt("access_token_alg", e))?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }

    fn from_app(app: &Application) -> Self {
        Self {
            id: app.id.clone(),
            organization_id: app.organization_id,
            client_id: app.client_id.as_str().to_string(),
            name: app.name.clone(),
            client_type: app.client_type.as_str().to_string(),
            secret_hash: app.secret_hash.clone(),
            redirect_uris: to_json(&app.redirect_uris),
            post_logout_redirect_uris: to_json(&app.post_logout_redirect_uris),
            grant_types: to_json(&app.grant_types),
            access_token_lifetime: app.lifetimes.access_token,
            id_token_lifetime: app.lifetimes.id_token,
            refresh_token_lifetime: app.lifetimes.refresh_token,
            sign_in_flow: app.sign_in_flow.as_ref().map(to_json),
            backup_codes: app.backup_codes,
            websub_subscribe: app.websub_subscribe,
            app_native: app.app_native,
            jwks: app.jwks.clone(),
            id_token_alg: app.id_token_alg.as_str().to_string(),
            access_token_alg: app.access_token_alg.as_str().to_string(),
            third_party: app.third_party,
            jwks_uri: app.jwks_uri.clone(),
            resources: to_json(&app.resources),
            created_at: app.created_at,
            updated_at: app.updated_at,
        }
    }
}

impl Application {
    /// The flow this application's sign-ins run.
    pub fn flow(&self) -> SignInFlow {
        self.sign_in_flow
            .clone()
            .unwrap_or_else(SignInFlow::password_only)
    }

    pub fn find(
        conn: &mut DbConn,
        organization_id: i64,
        client_id: &str,
    ) -> Result<Option<Self>, StoreError> {
        applications::table
            .filter(applications::organization_id.eq(organization_id))
            .filter(applications::client_id.eq(client_id))
            .select(Row::as_select())
            .first(conn)
            .optional()?
            .map(Row::into_app)
            .transpose()
    }

    /// The application and its version, read in one statement (the version matches the row).
    pub fn find_versioned(
        conn: &mut DbConn,
        organization_id: i64,
        client_id: &str,
    ) -> Result<Option<(Self, i64)>, StoreError> {
        applications::table
            .filter(applications::organization_id.eq(organization_id))
            .filter(applications::client_id.eq(client_id))
            .select((Row::as_select(), applications::version))
            .first(conn)
            .optional()?
            .map(|(row, version)| Ok((Row::into_app(row)?, version)))
            .transpose()
    }

    pub fn find_by_id(conn: &mut DbConn, id: &str) -> Result<Option<Self>, StoreError> {
        applications::table
            .find(id)
            .select(Row::as_select())
            .first(conn)
            .optional()?
            .map(Row::into_app)
            .transpose()
    }

    pub fn list(conn: &mut DbConn, organization_id: i64) -> Result<Vec<Self>, StoreError> {
        applications::table
            .filter(applications::organization_id.eq(organization_id))
            .order(applications::client_id)
            .select(Row::as_select())
            .load(conn)?
            .into_iter()
            .map(Row::into_app)
            .collect()
    }

    /// The algorithms the organization's applications sign ID tokens and access tokens with
    /// (its key set publishes those keys, and RS256's).
    pub fn token_algs(conn: &mut DbConn, organization_id: i64) -> Result<Vec<Alg>, StoreError> {
        let pairs: Vec<(String, String)> = applications::table
            .filter(applications::organization_id.eq(organization_id))
            .select((applications::id_token_alg, applications::access_token_alg))
            .distinct()
            .load(conn)?;
        let mut algs = Vec::new();
        for (id_token, access_token) in &pairs {
            for (column, value) in [
                ("id_token_alg", id_token),
                ("access_token_alg", access_token),
            ] {
                let alg = Alg::parse(value)
                    .map_err(|e| StoreError::Corrupt(format!("applications.{column}: {e}")))?;
                if !algs.contains(&alg) {
                    algs.push(alg);
                }
            }
        }
        Ok(algs)
    }

    /// Inserts a new application (its `id`, timestamps included, as given).
    pub fn insert(conn: &mut DbConn, app: &Application) -> Result<(), StoreError> {
        diesel::insert_into(applications::table)
            .values(Row::from_app(app))
            .execute(conn)?;
        Ok(())
    }

    /// Saves every field of an existing application and stamps `updated_at`.
    pub fn update(conn: &mut DbConn, app: &Application) -> Result<(), StoreError> {
        let mut row = Row::from_app(app);
        row.updated_at = now();
        diesel::update(applications::table.find(&app.id))
            .set((&row, applications::version.eq(applications::version + 1)))
            .execute(conn)?;
        Ok(())
    }

    /// Within a transaction, holds the application for a change if its version is one of
    /// `versions` (compare and set; see [`super::organizations::Organization::claim`]).
    pub fn claim(conn: &mut DbConn, id: &str, versions: &[i64]) -> Result<bool, StoreError> {
        let n = diesel::update(
            applications::table
                .find(id)
                .filter(applications::version.eq_any(versions)),
        )
        .set(applications::version.eq(applications::version))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Deletes the application with everything issued to it (codes, grants and their tokens,
    /// consents: the foreign keys cascade).
    pub fn delete(conn: &mut DbConn, id: &str) -> Result<bool, StoreError> {
        Ok(diesel::delete(applications::table.find(id)).execute(conn)? == 1)
    }
}
