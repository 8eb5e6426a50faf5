//! `sesame serve --demo`: a ready-made organization, applications and user for trying Sesame out.
//! The data is an ordinary provisioning file, applied only when the `demo` organization does not
//! exist yet, so the demo never overwrites anything.

use crate::authn::backup::new_set;
use crate::domain::Username;
use crate::keys::{Kek, KeyError};
use crate::provisioning::{Plan, Report};
use crate::secret::Secret;
use crate::store::applications::Application;
use crate::store::organizations::Organization;
use crate::store::users::User;
use crate::store::{DbConn, StoreError};

pub const DEMO_ORG: &str = "demo";
pub const DEMO_USERNAME: &str = "alice";
pub const DEMO_PASSWORD: &str = "sesame-demo-password";
/// A second demo user without a second factor: demo-web asks him to create a passkey (the
/// organization enrolls passkeys during sign-in).
pub const DEMO_NEW_USERNAME: &str = "bob";
pub const DEMO_WEB_CLIENT_ID: &str = "demo-web";
pub const DEMO_WEB_SECRET: &str = "demo-web-secret-for-trying-sesame-out";
pub const DEMO_SPA_CLIENT_ID: &str = "demo-spa";
pub const DEMO_NATIVE_CLIENT_ID: &str = "demo-native";
pub const DEMO_NATIVE_REDIRECT_URI: &str = "io.sesame.demo:/callback";
/// A service application of the `admin` organization with the `system` role: the management
/// API's demo caller.
pub const DEMO_OPS_CLIENT_ID: &str = "demo-ops";
pub const DEMO_OPS_SECRET: &str = "demo-ops-secret-for-trying-the-management-api";
/// An administrator of the `admin` organization with the `system` role: the console's demo
/// user (a password, then an SMS code printed by the console channel).
pub const DEMO_ADMIN_USERNAME: &str = "admin";
pub const DEMO_ADMIN_PASSWORD: &str = "demo-admin-password";
pub const DEMO_ADMIN_PHONE: &str = "+14155550101";

/// The demo's provisioning file, for a server at `base_url`.
pub fn provisioning_toml(base_url: &str) -> String {
    let api = crate::admin::api_resource(base_url);
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
sign_in_flow = [["password", "magic_link", "passkey"], ["sms_otp", "backup_code", "totp", "passkey"]]
backup_codes = true
redirect_uris = ["http://localhost:8080/callback"]
post_logout_redirect_uris = ["http://localhost:8080/"]
grant_types = ["authorization_code", "refresh_token"]

[[organizations.applications]]
client_id = "{DEMO_SPA_CLIENT_ID}"
name = "Demo single-page app"
type = "public"
sign_in_flow = [["password"], ["sms_otp", "email_otp", "backup_code"]]
backup_codes = true
redirect_uris = ["http://localhost:5173/callback"]
post_logout_redirect_uris = ["http://localhost:5173/"]
grant_types = ["authorization_code", "refresh_token"]

[[organizations.applications]]
client_id = "{DEMO_NATIVE_CLIENT_ID}"
name = "Demo native app"
type = "public"
app_native = true
sign_in_flow = "username_password_sms_otp"
backup_codes = true
redirect_uris = ["{DEMO_NATIVE_REDIRECT_URI}"]
grant_types = ["authorization_code", "refresh_token"]

[[organizations.users]]
username = "{DEMO_USERNAME}"
password = "{DEMO_PASSWORD}"
email = "alice@example.com"
email_verified = true
phone_number = "+14155550100"
phone_number_verified = true
[organizations.users.profile]
name = "Alice Example"
given_name = "Alice"
family_name = "Example"

[[organizations.users]]
username = "{DEMO_NEW_USERNAME}"
password = "{DEMO_PASSWORD}"

[organizations.enrollment]
passkey = "during_sign_in"

[organizations.registration]
enabled = true
applications = ["{DEMO_WEB_CLIENT_ID}", "{DEMO_SPA_CLIENT_ID}"]

[[organizations]]
slug = "{admin}"
display_name = "Administration"

[[organizations.resources]]
identifier = "{api}"

[[organizations.applications]]
client_id = "{DEMO_OPS_CLIENT_ID}"
name = "Demo operations bot"
type = "confidential"
client_secret = "{DEMO_OPS_SECRET}"
grant_types = ["client_credentials"]
resources = ["{api}"]

[[organizations.users]]
username = "{DEMO_ADMIN_USERNAME}"
password = "{DEMO_ADMIN_PASSWORD}"
phone_number = "{DEMO_ADMIN_PHONE}"
phone_number_verified = true
"#,
        admin = crate::admin::ADMIN_ORGANIZATION,
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
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// What seeding created: the report, and the demo user's backup codes (shown once).
#[derive(Debug)]
pub struct Seeded {
    pub report: Report,
    pub backup_codes: Vec<Secret<String>>,
}

/// Creates the demo data on an empty database (only the built-in `default` organization, no
/// applications or users), with a set of backup codes for the demo user. Returns what was
/// created, or `None` when the demo is already there.
pub fn seed(
    conn: &mut DbConn,
    kek: &Kek,
    recorder: &crate::admin::audit::Recorder,
) -> Result<Option<Seeded>, SeedError> {
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
    let plan = Plan::parse(&provisioning_toml(recorder.base_url()), "demo")
        .expect("the demo provisioning file is valid");
    let report = plan.apply(conn, kek, recorder)?;
    let admin = Organization::find_by_slug(conn, crate::admin::ADMIN_ORGANIZATION)?
        .ok_or_else(|| StoreError::Corrupt("the demo's admin organization vanished".into()))?;
    let ops = Application::find(conn, admin.id, DEMO_OPS_CLIENT_ID)?
        .ok_or_else(|| StoreError::Corrupt("the demo's service application vanished".into()))?;
    let administrator = User::find_by_username(
        conn,
        admin.id,
        &Username::parse(DEMO_ADMIN_USERNAME).expect("the demo administrator's name is valid"),
    )?
    .ok_or_else(|| StoreError::Corrupt("the demo administrator vanished".into()))?;
    let origin = recorder.origin_of(&admin);
    for principal in [
        crate::admin::Principal::client(&ops.id),
        crate::admin::Principal::user(&administrator.id),
    ] {
        crate::admin::roles::grant(
            conn,
            origin.origin(),
            &recorder.actor,
            &principal,
            None,
            crate::admin::Role::System,
        )
        .map_err(|e| match e {
            crate::admin::AdminError::Store(e) => e,
            other => StoreError::Corrupt(other.to_string()),
        })?;
    }
    let org = Organization::find_by_slug(conn, DEMO_ORG)?
        .ok_or_else(|| StoreError::Corrupt("the demo organization vanished".into()))?;
    let username = Username::parse(DEMO_USERNAME).expect("the demo username is valid");
    let user = User::find_by_username(conn, org.id, &username)?
        .ok_or_else(|| StoreError::Corrupt("the demo user vanished".into()))?;
    let set = new_set(kek, &org.settings.backup_codes, &user.id)?;
    crate::store::write_transaction(conn, |conn| {
        crate::store::backup_codes::replace(conn, &user.id, &set.hashes)
    })?;
    Ok(Some(Seeded {
        report,
        backup_codes: set.codes,
    }))
}

/// The banner printed at start: loud about being a demo, with everything needed to try it
/// (the backup codes only when they were just created).
pub fn banner(base_url: &str, seeded: Option<&Seeded>) -> String {
    let created = seeded.is_some();
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
        format!("    native app     client_id {DEMO_NATIVE_CLIENT_ID}, PKCE, JSON sign-in API (POST {issuer}/authorize with response_mode=direct, then {issuer}/authn)"),
        format!("    user           {DEMO_USERNAME} / {DEMO_PASSWORD} (mobile +14155550100)"),
        "    sign-in        both ask for the password (demo-web also offers an emailed link),".into(),
        "                   then an SMS code: with the console channels the text message (and".into(),
        "                   the mail) is printed right here.".into(),
        format!("    authenticator  add an app (TOTP) in alice's account, {issuer}/account/ ; demo-web"),
        "                   then offers its code instead of the text message".into(),
        "    passkeys       add one in alice's account (then demo-web takes it instead of the code,".into(),
        format!("                   or alone: \"Sign in with a passkey\"); {DEMO_NEW_USERNAME} has no second factor, so"),
        format!("                   demo-web asks him to create one ({DEMO_NEW_USERNAME} / {DEMO_PASSWORD})"),
        // Demo data created by an earlier version keeps its flows: only new data has email codes.
        if seeded.is_some() {
            "    email code     the SPA also offers a code by email instead of the text message\n                   (alice@example.com; the console mailer prints it right here)".into()
        } else {
            "    email code     the SPA offers a code by email if this demo data is recent enough\n                   (remove ./data/ to create the demo afresh)".into()
        },
        match seeded {
            Some(s) => format!(
                "    backup codes   {} (each works once, instead of the SMS code)",
                s.backup_codes
                    .iter()
                    .map(|c| c.expose().as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            None => format!(
                "    backup codes   shown when created; a new set: sesame backup-codes --org {DEMO_ORG} --user {DEMO_USERNAME}"
            ),
        },
        "  Try:".into(),
        format!(
            "    sign in        {issuer}/authorize?client_id={DEMO_WEB_CLIENT_ID}&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcallback&response_type=code&scope=openid%20profile%20email&state=try-me"
        ),
        "    sample apps    cargo run --example sample_web          (http://localhost:8080)".into(),
        "                   cd examples/sample_spa && npm ci && node serve.mjs   (http://localhost:5173)".into(),
        format!(
            "    management API {base_url}/api/docs ; a token of {DEMO_OPS_CLIENT_ID} (role system):"
        ),
        format!(
            "                   curl -u {DEMO_OPS_CLIENT_ID}:{DEMO_OPS_SECRET} -d grant_type=client_credentials -d resource={base_url}/api/v1 {base_url}/t/admin/token"
        ),
        format!(
            "                   then: curl -H \"Authorization: Bearer TOKEN\" {base_url}/api/v1/organizations/{DEMO_ORG}/users"
        ),
        format!(
            "    console        {base_url}/console/ as {DEMO_ADMIN_USERNAME} / {DEMO_ADMIN_PASSWORD} (role system; the SMS code to"
        ),
        format!("                   {DEMO_ADMIN_PHONE} is printed right here)"),
        format!("    {issuer}/.well-known/openid-configuration"),
        format!("    {issuer}/jwks"),
        format!("    {base_url}/readyz"),
        rule,
    ]
    .join("\n")
}
