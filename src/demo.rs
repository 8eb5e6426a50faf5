//! `sesame serve --demo`: a ready-made organization, applications and user for trying Sesame out.
//! The data is an ordinary provisioning file, applied only when the `demo` organization does not
//! exist yet, so the demo never overwrites anything.

use crate::provisioning::{Plan, Report};
use crate::store::applications::Application;
use crate::store::organizations::Organization;
use crate::store::users::User;
use crate::store::{DbConn, StoreError};

pub const DEMO_ORG: &str = "demo";
pub const DEMO_USERNAME: &str = "alice";
pub const DEMO_PASSWORD: &str = "sesame-demo-password";
pub const DEMO_WEB_CLIENT_ID: &str = "demo-web";
pub const DEMO_WEB_SECRET: &str = "demo-web-secret-for-trying-sesame-out";
pub const DEMO_SPA_CLIENT_ID: &str = "demo-spa";

/// The demo's provisioning file.
pub fn provisioning_toml() -> String {
    format!(
        r#"
[[organizations]]
slug = "{DEMO_ORG}"
display_name = "Sesame demo"

[[organizations.applications]]
client_id = "{DEMO_WEB_CLIENT_ID}"
name = "Demo web app"
type = "confidential"
client_secret = "{DEMO_WEB_SECRET}"
redirect_uris = ["http://localhost:8080/callback"]
post_logout_redirect_uris = ["http://localhost:8080/"]
grant_types = ["authorization_code", "refresh_token"]

[[organizations.applications]]
client_id = "{DEMO_SPA_CLIENT_ID}"
name = "Demo single-page app"
type = "public"
redirect_uris = ["http://localhost:5173/callback"]
post_logout_redirect_uris = ["http://localhost:5173/"]
grant_types = ["authorization_code", "refresh_token"]

[[organizations.users]]
username = "{DEMO_USERNAME}"
password = "{DEMO_PASSWORD}"
email = "alice@example.com"
email_verified = true
phone_number = "+15555550100"
phone_number_verified = true
[organizations.users.profile]
name = "Alice Example"
given_name = "Alice"
family_name = "Example"
"#
    )
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(
        "--demo only seeds an empty database, and this one already has organizations, \
         applications or users: the demo's credentials are public, so they never go next to real data"
    )]
    NotEmpty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates the demo data on an empty database (only the built-in `default` organization, no
/// applications or users). Returns what was created, or `None` when the demo is already there.
pub fn seed(conn: &mut DbConn) -> Result<Option<Report>, SeedError> {
    let orgs = Organization::list(conn)?;
    if orgs.iter().any(|o| o.slug == DEMO_ORG) {
        return Ok(None);
    }
    for org in &orgs {
        if org.slug != "default"
            || User::count(conn, org.id)? > 0
            || !Application::list(conn, org.id)?.is_empty()
        {
            return Err(SeedError::NotEmpty);
        }
    }
    let plan =
        Plan::parse(&provisioning_toml(), "demo").expect("the demo provisioning file is valid");
    Ok(Some(plan.apply(conn)?))
}

/// The banner printed at start: loud about being a demo, with everything needed to try it.
pub fn banner(base_url: &str, created: bool) -> String {
    let issuer = format!("{base_url}/t/{DEMO_ORG}");
    let what = if created {
        "created"
    } else {
        "already present"
    };
    let rule = "=".repeat(70);
    [
        String::new(),
        rule.clone(),
        "  DEMO MODE: for trying Sesame out only. Never use it in production:".into(),
        "  the credentials below are public.".into(),
        rule.clone(),
        format!("  Demo data {what}:"),
        format!("    organization   {DEMO_ORG}, issuer {issuer}"),
        format!("    web app        client_id {DEMO_WEB_CLIENT_ID}, client_secret {DEMO_WEB_SECRET}"),
        "                   redirect_uri http://localhost:8080/callback".into(),
        format!("    SPA (public)   client_id {DEMO_SPA_CLIENT_ID}, PKCE, redirect_uri http://localhost:5173/callback"),
        format!("    user           {DEMO_USERNAME} / {DEMO_PASSWORD} (mobile +15555550100)"),
        "  Try:".into(),
        format!("    {issuer}/.well-known/openid-configuration"),
        format!("    {issuer}/jwks"),
        format!("    {base_url}/readyz"),
        rule,
    ]
    .join("\n")
}
