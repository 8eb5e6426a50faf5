//! The provisioning file (`sesame import FILE`): organizations, applications and users declared in
//! TOML. Importing is idempotent: the same file twice changes nothing; a changed value is updated.
//! The whole file is validated first and applied in one transaction, so a bad file changes nothing.

use std::fmt;

use serde::Deserialize;
use serde_json::json;

use crate::admin::audit::{Change, Recorder};
use crate::authn::backup::BackupCodeSettings;
use crate::authn::flow::{Authenticator, SignInFlow};
use crate::authn::otp::OtpSettings;
use crate::authn::policy::LockPolicy;
use crate::domain::{
    ClientId, ClientType, Email, GrantType, OrgSlug, PhoneNumber, RedirectUri, Username,
};
use crate::events::hub;
use crate::keys::Alg;
use crate::keys::Kek;
use crate::oidc::authorize;
use crate::password;
use crate::plugin::{Outbound, SecretRef, SmsChannel, SmsSettings};
use crate::secret::{Secret, random_token, sha256_hex};
use crate::store::admin::AuditEntry;
use crate::store::applications::{Application, TokenLifetimes};
use crate::store::organizations::{OrgSettings, Organization, Resource};
use crate::store::subscriptions::{self, Subscription};
use crate::store::users::{Profile, User};
use crate::store::{DbConn, StoreError, now};

mod apply;
mod prune;
mod validate;

pub use prune::{Doomed, Kind as PruneKind};

use apply::{apply_app, apply_org};
use validate::{Errors, FlowSpec, validate_apps, validate_users, validate_webhooks};
pub use validate::{PRESET_PASSWORD, PRESET_PASSWORD_SMS_OTP};

/// Client secrets given in the file must be at least this long; generated ones have 256 bits.
pub const MIN_SECRET_LEN: usize = 32;
/// Clear-text passwords in the file must be at least this long (NIST SP 800-63B).
pub const MIN_PASSWORD_LEN: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    organizations: Vec<FileOrg>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOrg {
    slug: String,
    display_name: Option<String>,
    lock_policy: Option<LockPolicy>,
    #[serde(default)]
    resources: Vec<Resource>,
    sms_otp: Option<OtpSettings>,
    email_otp: Option<crate::authn::sent_code::SentCodeSettings>,
    backup_codes: Option<BackupCodeSettings>,
    sms: Option<SmsSettings>,
    magic_link: Option<crate::authn::magic_link::MagicLinkSettings>,
    mail: Option<crate::mail::MailSettings>,
    enrollment: Option<crate::authn::credentials::EnrollmentSettings>,
    password_policy: Option<crate::password::policy::PasswordPolicy>,
    password_reset: Option<crate::authn::reset::PasswordResetSettings>,
    registration: Option<crate::authn::registration::RegistrationSettings>,
    branding: Option<crate::branding::BrandingSettings>,
    /// Settings of plug-in factors, by name (`[organizations.factors.totp]`).
    #[serde(default)]
    factors: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    identity_providers: Vec<crate::authn::federation::IdentityProvider>,
    /// WebSub subscriptions an administrator declares (verified like requested ones).
    #[serde(default)]
    webhooks: Vec<FileWebhook>,
    /// Brokers that receive the organization's events (`[[organizations.event_sinks]]`).
    #[serde(default)]
    event_sinks: Vec<crate::events::sinks::SinkSettings>,
    /// Absent is not empty: `--prune` deletes only the kinds an organization's entry lists.
    applications: Option<Vec<AppSpec>>,
    users: Option<Vec<FileUser>>,
}

/// An application as the provisioning file and the management API declare it (the API takes
/// the same fields in JSON: [`application_form`] is an existing one in this form).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "client_id": "shop",
    "type": "confidential",
    "redirect_uris": ["https://shop.example/callback"],
    "sign_in_flow": "username_password_sms_otp",
    "backup_codes": true
}))]
pub struct AppSpec {
    /// 1-100 of `A-Z a-z 0-9 - . _ ~`; never changes.
    client_id: String,
    /// The client id when absent.
    name: Option<String>,
    /// `confidential` or `public`.
    #[serde(rename = "type")]
    client_type: String,
    /// Write-only, at least 32 characters; generated (and shown once) for a confidential
    /// application that gives neither it nor keys.
    #[schema(value_type = Option<String>, write_only)]
    client_secret: Option<Secret<String>>,
    /// Public keys for `private_key_jwt`, as a JWKS (`{"keys": [...]}`).
    #[schema(value_type = Option<Object>)]
    jwks: Option<serde_json::Value>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    id_token_signed_response_alg: Option<String>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    access_token_signed_response_alg: Option<String>,
    /// Asks the user's consent before sharing their data.
    #[serde(default)]
    third_party: bool,
    /// Where the client publishes its JWKS for `private_key_jwt`.
    jwks_uri: Option<String>,
    /// Identifiers of the organization's resources this application may ask tokens for.
    #[serde(default)]
    resources: Vec<String>,
    /// A preset (`username_password`, or `username_password_sms_otp`: "add SMS OTP as a second
    /// factor") or the steps, each a list of alternative authenticators
    /// (`[["password"], ["sms_otp", "backup_code"]]`). "Username + Password" when absent.
    sign_in_flow: Option<FlowSpec>,
    /// "Enable backup codes" on the SMS OTP step.
    #[serde(default)]
    backup_codes: bool,
    /// May get `websub:subscribe` tokens (client credentials) to manage webhook subscriptions.
    #[serde(default)]
    websub_subscribe: bool,
    /// May sign users in through the JSON sign-in API (`response_mode=direct`).
    #[serde(default)]
    app_native: bool,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials` (the first two when absent).
    grant_types: Option<Vec<String>>,
    /// Seconds, 30 to 86400.
    access_token_lifetime: Option<i64>,
    /// Seconds, 30 to 86400.
    id_token_lifetime: Option<i64>,
    /// Seconds, 30 to 31536000.
    refresh_token_lifetime: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWebhook {
    topic: String,
    callback: String,
    secret: SecretRef,
    lease_seconds: Option<i64>,
}

/// A subscription checked and ready to declare.
#[derive(Debug)]
pub struct WebhookPlan {
    topic: &'static str,
    callback: String,
    secret: Secret<String>,
    lease_seconds: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUser {
    username: String,
    password: Option<Secret<String>>,
    password_hash: Option<String>,
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    phone_number: Option<String>,
    #[serde(default)]
    phone_number_verified: bool,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    profile: Profile,
}

/// A validated provisioning file, ready to apply.
#[derive(Debug)]
pub struct Plan {
    orgs: Vec<OrgPlan>,
}

#[derive(Debug)]
struct OrgPlan {
    slug: OrgSlug,
    display_name: String,
    settings: OrgSettings,
    apps: Vec<AppPlan>,
    users: Vec<UserPlan>,
    webhooks: Vec<WebhookPlan>,
    lists: Lists,
}

/// Which kinds an organization's entry lists (`applications`, `users` present, even empty):
/// what `--prune` may delete there.
#[derive(Debug, Clone, Copy)]
struct Lists {
    applications: bool,
    users: bool,
}

/// An application checked and ready to create or change.
#[derive(Debug)]
pub struct AppPlan {
    client_id: ClientId,
    name: String,
    client_type: ClientType,
    secret: Option<Secret<String>>,
    jwks: Option<String>,
    id_token_alg: Alg,
    access_token_alg: Alg,
    third_party: bool,
    jwks_uri: Option<String>,
    resources: Vec<String>,
    sign_in_flow: Option<SignInFlow>,
    backup_codes: bool,
    websub_subscribe: bool,
    app_native: bool,
    redirect_uris: Vec<RedirectUri>,
    post_logout_redirect_uris: Vec<RedirectUri>,
    grant_types: Vec<GrantType>,
    lifetimes: TokenLifetimes,
}

#[derive(Debug)]
enum PasswordPlan {
    Keep,
    Clear(Secret<String>),
    Hash(String),
}

#[derive(Debug)]
struct UserPlan {
    username: Username,
    password: PasswordPlan,
    email: Option<Email>,
    email_verified: bool,
    phone_number: Option<PhoneNumber>,
    phone_number_verified: bool,
    disabled: bool,
    profile: Profile,
}

/// Everything wrong with a file, each message naming its entry and field.
#[derive(Debug)]
pub struct ImportErrors(pub Vec<String>);

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the provisioning file has {} error(s):", self.0.len())?;
        for e in &self.0 {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportErrors {}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Invalid(#[from] ImportErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: usize,
    /// What `--prune` deleted (`application acme/old-app`, `user acme/bob`).
    pub deleted: Vec<String>,
    /// What `--prune` was to delete and kept: it changed since the summary (renamed, given a
    /// role), so it is no longer what the operator confirmed.
    pub kept: Vec<String>,
    /// A dry run's changes field by field, as the audit log would record them (secrets
    /// redacted): `organization acme: settings.sms_otp: {…} → {…}`.
    pub diff: Vec<String>,
    /// Secrets generated for new confidential applications: `(entry, secret)`, shown once.
    pub generated_secrets: Vec<(String, Secret<String>)>,
}

impl Plan {
    /// Parses and validates a whole file; `source` names it in messages.
    pub fn parse(text: &str, source: &str) -> Result<Self, ImportErrors> {
        let doc: FileDoc = toml::from_str(text).map_err(|e| {
            ImportErrors(vec![format!(
                "{source}: {}",
                crate::config::toml_error(text, &e)
            )])
        })?;
        let mut errors = Errors::default();
        let mut orgs = Vec::new();
        let mut seen_slugs = std::collections::HashSet::new();
        for (i, org) in doc.organizations.into_iter().enumerate() {
            let at = format!("organizations[{i}] ({})", org.slug);
            let slug = errors.check(&at, "slug", OrgSlug::parse(&org.slug));
            if !seen_slugs.insert(org.slug.clone()) {
                errors.fail(&at, "slug", "declared twice in this file");
            }
            let display_name = org.display_name.unwrap_or_else(|| org.slug.clone());
            if display_name.trim().is_empty() {
                errors.fail(&at, "display_name", "must not be empty");
            }
            let settings = OrgSettings {
                lock_policy: org.lock_policy.unwrap_or_default(),
                resources: org.resources,
                sms_otp: org.sms_otp.unwrap_or_default(),
                email_otp: org.email_otp.unwrap_or_default(),
                backup_codes: org.backup_codes.unwrap_or_default(),
                sms: org.sms.unwrap_or_default(),
                magic_link: org.magic_link.unwrap_or_default(),
                mail: org.mail.unwrap_or_default(),
                identity_providers: org.identity_providers,
                enrollment: org.enrollment.unwrap_or_default(),
                factors: org.factors,
                event_sinks: org.event_sinks,
                password_policy: org.password_policy.unwrap_or_default(),
                password_reset: org.password_reset.unwrap_or_default(),
                registration: org.registration.unwrap_or_default(),
                branding: org.branding.unwrap_or_default(),
            };
            validate::settings(&mut errors, &at, &settings);
            let webhooks = validate_webhooks(&mut errors, &at, org.webhooks);
            let lists = Lists {
                applications: org.applications.is_some(),
                users: org.users.is_some(),
            };
            let apps = validate_apps(
                &mut errors,
                &at,
                org.applications.unwrap_or_default(),
                &settings,
            );
            let flows: Vec<_> = apps
                .iter()
                .map(|a| (a.client_id.as_str(), a.flow()))
                .collect();
            validate::registration(
                &mut errors,
                &at,
                slug.as_ref(),
                &settings,
                (&flows, lists.applications),
            );
            let users = validate_users(&mut errors, &at, org.users.unwrap_or_default());
            if let Some(slug) = slug {
                orgs.push(OrgPlan {
                    slug,
                    display_name,
                    settings,
                    apps,
                    users,
                    webhooks,
                    lists,
                });
            }
        }
        if errors.is_empty() {
            Ok(Self { orgs })
        } else {
            Err(errors.into())
        }
    }

    /// Applies the plan in one transaction, each change with its audit entry by `recorder`'s
    /// actor. `kek` seals webhook secrets.
    pub fn apply(
        &self,
        conn: &mut DbConn,
        kek: &Kek,
        recorder: &Recorder,
    ) -> Result<Report, StoreError> {
        self.apply_and_prune(conn, kek, recorder, &[])
    }

    /// [`Self::apply`], and deletes `doomed` (what [`Self::prune_list`] found and the operator
    /// was shown) in the same transaction.
    pub fn apply_and_prune(
        &self,
        conn: &mut DbConn,
        kek: &Kek,
        recorder: &Recorder,
        doomed: &[Doomed],
    ) -> Result<Report, StoreError> {
        crate::store::write_transaction(conn, |conn| self.apply_within(conn, kek, recorder, doomed))
    }

    /// What [`Self::apply`] would do, reported and then rolled back (`sesame import --dry-run`):
    /// the same statements in the same transaction, so the report is exactly what applying the
    /// file now would print; nothing is kept, not even a generated client secret.
    pub fn preview(
        &self,
        conn: &mut DbConn,
        kek: &Kek,
        recorder: &Recorder,
        doomed: &[Doomed],
    ) -> Result<Report, StoreError> {
        crate::store::rolled_back(conn, |conn| {
            let last = AuditEntry::last_seq(conn)?;
            let mut report = self.apply_within(conn, kek, recorder, doomed)?;
            // This import's entries: on PostgreSQL other transactions' commits are visible
            // too, so by who (`recorder`'s actor, via import) and where (the file's
            // organizations).
            let mut slugs = std::collections::HashMap::new();
            for plan in &self.orgs {
                if let Some(org) = Organization::find_by_slug(conn, plan.slug.as_str())? {
                    slugs.insert(org.id, org.slug);
                }
            }
            let mut diff = Vec::new();
            for entry in AuditEntry::after(conn, last)? {
                let Some(slug) = entry.organization_id.and_then(|id| slugs.get(&id)) else {
                    continue;
                };
                let ours = entry.actor == recorder.actor.principal
                    && entry.via == recorder.actor.via.as_str();
                if !ours || !entry.action.ends_with(".update") {
                    continue;
                }
                let name = match entry.entity.as_str() {
                    "organization" => format!("organization {slug}"),
                    "user" => {
                        let user = User::find(
                            conn,
                            entry.organization_id.unwrap_or_default(),
                            &entry.entity_id,
                        )?;
                        let username = user
                            .map_or(entry.entity_id.clone(), |u| u.username.as_str().to_string());
                        format!("user {slug}/{username}")
                    }
                    other => format!("{other} {slug}/{}", entry.entity_id),
                };
                diff.extend(diff_lines(&name, &entry));
            }
            report.diff = diff;
            Ok(report)
        })
    }

    fn apply_within(
        &self,
        conn: &mut DbConn,
        kek: &Kek,
        recorder: &Recorder,
        doomed: &[Doomed],
    ) -> Result<Report, StoreError> {
        let mut report = Report::default();
        for org_plan in &self.orgs {
            apply_org(conn, org_plan, &mut report, kek, recorder)?;
        }
        (report.deleted, report.kept) = prune::delete(conn, recorder, doomed)?;
        Ok(report)
    }
}

/// An audit entry's changes as lines of a diff of the entity `name`: `user acme/bob: email:
/// "a" → "b"`, each value as compact JSON, cut short past [`DIFF_VALUE_CHARS`].
fn diff_lines(name: &str, entry: &AuditEntry) -> Vec<String> {
    let changes: serde_json::Value = serde_json::from_str(&entry.changes).unwrap_or_default();
    let shown = |v: &serde_json::Value| {
        let text = v.to_string();
        if text.chars().count() > DIFF_VALUE_CHARS {
            format!(
                "{}…",
                text.chars().take(DIFF_VALUE_CHARS).collect::<String>()
            )
        } else {
            text
        }
    };
    changes
        .as_object()
        .into_iter()
        .flatten()
        .map(|(field, change)| {
            format!(
                "{name}: {field}: {} → {}",
                shown(&change["before"]),
                shown(&change["after"])
            )
        })
        .collect()
}

/// The longest value a dry run's diff shows whole.
const DIFF_VALUE_CHARS: usize = 300;

/// The fields refused (each a path and why) when the management API's change is checked.
pub type FieldErrors = Vec<(String, String)>;

/// Checks an organization's settings as the management API changes them, by the rules and
/// with the messages of a file (paths from the settings' root: `sms_otp`, `resources[0].scopes`).
pub fn check_settings(settings: &OrgSettings) -> Result<(), FieldErrors> {
    let mut errors = Errors::default();
    validate::settings(&mut errors, "", settings);
    errors.into_result()
}

/// Checks that new `settings` still hold what the organization's applications name (their
/// APIs, the upstream providers of their flows), and that registration is opened only to
/// applications of the organization a new account can sign in to; paths from the settings'
/// root.
pub fn check_applications(settings: &OrgSettings, apps: &[Application]) -> Result<(), FieldErrors> {
    let mut errors = Errors::default();
    for app in apps {
        validate::still_named(&mut errors, app, settings);
    }
    let flows: Vec<_> = apps
        .iter()
        .map(|a| (a.client_id.as_str(), a.flow()))
        .collect();
    validate::registration(&mut errors, "", None, settings, (&flows, true));
    errors.into_result()
}

/// An application of the organization with `settings`, as the management API creates or
/// changes it, checked by the rules of a file (its flow by the engine's).
pub fn plan_application(spec: AppSpec, settings: &OrgSettings) -> Result<AppPlan, FieldErrors> {
    let mut errors = Errors::default();
    let plan = validate::application(&mut errors, "", spec, settings);
    errors.into_result()?;
    plan.ok_or_else(|| vec![("client_id".into(), "is not acceptable".into())])
}

/// A subscription an administrator declares through the management API (its secret given,
/// not named), checked like a file's.
pub fn plan_webhook(
    topic: String,
    callback: String,
    secret: Secret<String>,
    lease_seconds: Option<i64>,
) -> Result<WebhookPlan, FieldErrors> {
    let mut errors = Errors::default();
    let secret = Ok(secret.expose().clone());
    let plan = validate::webhook(&mut errors, "", topic, callback, secret, lease_seconds);
    errors.into_result()?;
    plan.ok_or_else(|| vec![("callback".into(), "is not acceptable".into())])
}

/// Declares the planned subscription, pending its subscriber's intent verification, with its
/// audit entry; an existing one with that topic and callback is renewed (new secret or lease).
pub fn apply_declared_webhook(
    conn: &mut DbConn,
    org: &Organization,
    plan: &WebhookPlan,
    kek: &Kek,
    recorder: &Recorder,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    apply::apply_webhook(conn, org, plan, &mut report, kek, recorder)?;
    Ok(report)
}

impl WebhookPlan {
    pub fn topic(&self) -> &'static str {
        self.topic
    }

    pub fn callback(&self) -> &str {
        &self.callback
    }
}

impl AppPlan {
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The flow the application's sign-ins will run (the password alone unless it names one).
    fn flow(&self) -> SignInFlow {
        self.sign_in_flow
            .clone()
            .unwrap_or_else(SignInFlow::password_only)
    }
}

/// Creates or changes the application as planned, with its audit entry by `recorder`'s actor
/// (a client secret generated for a new confidential application is in the report).
pub fn apply_application(
    conn: &mut DbConn,
    org: &Organization,
    plan: &AppPlan,
    recorder: &Recorder,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    apply_app(conn, org, plan, &mut report, recorder)?;
    Ok(report)
}

/// An existing application in the form [`AppSpec`] reads, the client secret left out (it is
/// write-only): what a merge patch of the management API applies to. Read back, it plans the
/// application as it is.
pub fn application_form(app: &Application) -> serde_json::Value {
    let names = |uris: &[RedirectUri]| -> Vec<String> {
        uris.iter().map(|u| u.as_str().to_string()).collect()
    };
    json!({
        "client_id": app.client_id.as_str(),
        "name": app.name,
        "type": app.client_type.as_str(),
        "jwks": app.jwks.as_deref().and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()),
        "jwks_uri": app.jwks_uri,
        "id_token_signed_response_alg": app.id_token_alg.as_str(),
        "access_token_signed_response_alg": app.access_token_alg.as_str(),
        "third_party": app.third_party,
        "resources": app.resources,
        "sign_in_flow": app.sign_in_flow.as_ref().map(SignInFlow::to_names),
        "backup_codes": app.backup_codes,
        "websub_subscribe": app.websub_subscribe,
        "app_native": app.app_native,
        "redirect_uris": names(&app.redirect_uris),
        "post_logout_redirect_uris": names(&app.post_logout_redirect_uris),
        "grant_types": app.grant_types,
        "access_token_lifetime": app.lifetimes.access_token,
        "id_token_lifetime": app.lifetimes.id_token,
        "refresh_token_lifetime": app.lifetimes.refresh_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_example_is_a_valid_file() {
        let readme = std::fs::read_to_string("README.md").unwrap();
        let section = &readme[readme.find("## Provisioning file").unwrap()..];
        let start = section.find("```toml\n").unwrap() + "```toml\n".len();
        let example = &section[start..start + section[start..].find("```").unwrap()];
        let plan = Plan::parse(example, "README.md").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.orgs.len(), 1);
        assert_eq!(plan.orgs[0].apps.len(), 2);
        assert_eq!(plan.orgs[0].settings.resources.len(), 1);
    }

    #[test]
    fn errors_name_entry_and_field() {
        let text = r#"
[[organizations]]
slug = "acme"
[[organizations.applications]]
client_id = "web"
type = "confidential"
client_secret = "short"
redirect_uris = ["https://app.example/cb", "http://evil.example/cb"]
[[organizations.users]]
username = "bob"
phone_number = "12345"
password = "longenough"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA"
"#;
        let errors = Plan::parse(text, "test.toml").unwrap_err().0;
        let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
        assert!(
            has("organizations[0] (acme).applications[0] (web).client_secret: too short"),
            "{errors:#?}"
        );
        assert!(
            has("applications[0] (web).redirect_uris[1]: 'http://evil.example/cb'"),
            "{errors:#?}"
        );
        assert!(has("users[0] (bob).phone_number"), "{errors:#?}");
        assert!(has("users[0] (bob).password: give either"), "{errors:#?}");
    }

    #[test]
    fn an_unknown_access_token_algorithm_is_refused_by_name() {
        let file = |alg: &str| {
            format!(
                "[[organizations]]\nslug = \"acme\"\n[[organizations.applications]]\n\
                 client_id = \"svc\"\ntype = \"confidential\"\n\
                 grant_types = [\"client_credentials\"]\n\
                 access_token_signed_response_alg = \"{alg}\"\n"
            )
        };
        let errors = Plan::parse(&file("HS256"), "test.toml").unwrap_err().0;
        assert!(
            errors.iter().any(|e| e.contains(
                "applications[0] (svc).access_token_signed_response_alg: 'HS256' is not a \
                 signing algorithm: use RS256, ES256 or EdDSA"
            )),
            "{errors:#?}"
        );
        for alg in ["RS256", "ES256", "EdDSA"] {
            let plan = Plan::parse(&file(alg), "test.toml").unwrap();
            assert_eq!(plan.orgs[0].apps[0].access_token_alg.as_str(), alg);
        }
    }

    #[test]
    fn unknown_keys_and_bad_types_are_reported_with_the_file_name() {
        let errors = Plan::parse(
            "[[organizations]]\nslug = \"a\"\ncolour = \"red\"\n",
            "x.toml",
        )
        .unwrap_err();
        assert!(
            errors.to_string().contains("x.toml") && errors.to_string().contains("colour"),
            "{errors}"
        );
    }

    #[test]
    fn public_apps_reject_secrets_and_client_credentials() {
        let text = r#"
[[organizations]]
slug = "acme"
[[organizations.applications]]
client_id = "spa"
type = "public"
client_secret = "0123456789abcdef0123456789abcdef"
grant_types = ["authorization_code", "client_credentials"]
redirect_uris = ["https://spa.example/cb"]
"#;
        let errors = Plan::parse(text, "t").unwrap_err().0;
        assert!(errors.iter().any(|e| e.ends_with("client_secret: a public application has no secret; remove it or use type = \"confidential\"")));
        assert!(errors.iter().any(|e| {
            e.contains("grant_types: a public application cannot use client_credentials")
        }));
    }
}
