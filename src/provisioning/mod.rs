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
use crate::store::applications::{Application, TokenLifetimes};
use crate::store::organizations::{OrgSettings, Organization, Resource};
use crate::store::subscriptions::{self, Subscription};
use crate::store::users::{Profile, User};
use crate::store::{DbConn, StoreError, now};

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
    #[serde(default)]
    applications: Vec<FileApp>,
    #[serde(default)]
    users: Vec<FileUser>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileApp {
    client_id: String,
    name: Option<String>,
    #[serde(rename = "type")]
    client_type: String,
    client_secret: Option<Secret<String>>,
    /// Public keys for private_key_jwt, as a JWKS (`{ keys = [ … ] }`).
    jwks: Option<serde_json::Value>,
    id_token_signed_response_alg: Option<String>,
    access_token_signed_response_alg: Option<String>,
    #[serde(default)]
    third_party: bool,
    /// Where the client publishes its JWKS for private_key_jwt.
    jwks_uri: Option<String>,
    /// Identifiers of the organization's resources this application may ask tokens for.
    #[serde(default)]
    resources: Vec<String>,
    /// A preset name or the steps, each a list of alternative authenticators.
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
    grant_types: Option<Vec<String>>,
    access_token_lifetime: Option<i64>,
    id_token_lifetime: Option<i64>,
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

#[derive(Debug)]
struct WebhookPlan {
    topic: &'static str,
    callback: String,
    secret: Secret<String>,
    lease_seconds: i64,
}

/// `sign_in_flow = "username_password_sms_otp"` or `sign_in_flow = [["password"], ["sms_otp"]]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FlowSpec {
    Preset(String),
    Steps(Vec<Vec<String>>),
}

/// The predefined flows, by the names the provisioning file uses.
pub const PRESET_PASSWORD: &str = "username_password";
pub const PRESET_PASSWORD_SMS_OTP: &str = "username_password_sms_otp";

impl FlowSpec {
    /// The validated flow. The SMS OTP preset ("add SMS OTP as a second factor") offers backup
    /// codes beside the OTP when the application enables them.
    fn resolve(&self, backup_codes: bool) -> Result<SignInFlow, String> {
        match self {
            Self::Preset(name) if name == PRESET_PASSWORD => Ok(SignInFlow::password_only()),
            Self::Preset(name) if name == PRESET_PASSWORD_SMS_OTP => {
                Ok(SignInFlow::password_then_sms_otp(backup_codes))
            }
            Self::Preset(other) => Err(format!(
                "'{other}' is not a preset: use {PRESET_PASSWORD} or {PRESET_PASSWORD_SMS_OTP}, or list the steps"
            )),
            Self::Steps(steps) => SignInFlow::parse(steps, backup_codes),
        }
    }
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
}

#[derive(Debug)]
struct AppPlan {
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
    /// Secrets generated for new confidential applications: `(entry, secret)`, shown once.
    pub generated_secrets: Vec<(String, Secret<String>)>,
}

/// Collects errors while validating, so one run reports them all.
struct Errors(Vec<String>);

impl Errors {
    fn check<T>(&mut self, at: &str, field: &str, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|e| self.0.push(format!("{at}.{field}: {e}")))
            .ok()
    }

    fn fail(&mut self, at: &str, field: &str, message: impl Into<String>) {
        self.0.push(format!("{at}.{field}: {}", message.into()));
    }
}

/// A user's number by the numbering plan, normalized to E.164 (premium-rate, shared-cost and
/// invalid numbers refused; the organization's allow-list applies when codes are sent).
fn provisioned_number(value: &str) -> Result<PhoneNumber, String> {
    PhoneNumber::parse(value)?;
    crate::authn::sms_limits::normalize(value)
        .map_err(|reason| format!("'{value}': {}", reason.message()))
}

fn lifetime(
    errors: &mut Errors,
    at: &str,
    field: &str,
    value: Option<i64>,
    default: i64,
    max: i64,
) -> i64 {
    match value {
        None => default,
        Some(v) if (30..=max).contains(&v) => v,
        Some(v) => {
            errors.fail(
                at,
                field,
                format!("{v} is out of range: use 30 to {max} seconds"),
            );
            default
        }
    }
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
        let mut errors = Errors(Vec::new());
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
            let lock_policy = org.lock_policy.unwrap_or_default();
            if let Err(e) = lock_policy.validate() {
                errors.fail(&at, "lock_policy", e);
            }
            for (k, r) in org.resources.iter().enumerate() {
                let valid = url::Url::parse(&r.identifier).is_ok_and(|u| u.fragment().is_none());
                if !valid {
                    errors.fail(
                        &at,
                        &format!("resources[{k}].identifier"),
                        "must be an absolute URI without a fragment",
                    );
                }
                if let Some(bad) = r.scopes.iter().find(|s| {
                    s.is_empty()
                        || s.contains(' ')
                        || authorize::SUPPORTED_SCOPES.contains(&s.as_str())
                }) {
                    errors.fail(
                        &at,
                        &format!("resources[{k}].scopes"),
                        format!("'{bad}' cannot be an API scope"),
                    );
                }
            }
            let sms_otp = org.sms_otp.unwrap_or_default();
            if let Err(e) = sms_otp.validate() {
                errors.fail(&at, "sms_otp", e);
            }
            let email_otp = org.email_otp.unwrap_or_default();
            if let Err(e) = email_otp.validate() {
                errors.fail(&at, "email_otp", e);
            }
            let backup_codes = org.backup_codes.unwrap_or_default();
            if let Err(e) = backup_codes.validate() {
                errors.fail(&at, "backup_codes", e);
            }
            // The gateways are built once here, so a bad field or a missing secret is reported
            // now; the egress policy is applied again when they send.
            let sms = org.sms.unwrap_or_default();
            let console: std::sync::Arc<dyn crate::plugin::SmsGateway> =
                std::sync::Arc::new(sesame_plugin_console::Console);
            if let Err(e) = SmsChannel::build(&sms, &Outbound::new(true), &console) {
                errors.fail(&at, "sms", e);
            }
            // Each sink is built once here too: its plug-in checks its fields and reads its
            // secrets (it connects only when it first publishes).
            let subscribers_send = matches!(sms, SmsSettings::Webhook);
            for (k, sink) in org.event_sinks.iter().enumerate() {
                let field = format!("event_sinks[{k}]");
                let checked = sink
                    .validate(subscribers_send)
                    .and_then(|()| crate::events::sinks::build(sink).map(|_| ()));
                if let Err(e) = checked {
                    errors.fail(&at, &field, e);
                }
                if org.event_sinks[..k].iter().any(|s| s.name == sink.name) {
                    errors.fail(&at, &field, format!("'{}' is declared twice", sink.name));
                }
            }
            let magic_link = org.magic_link.unwrap_or_default();
            if let Err(e) = magic_link.validate() {
                errors.fail(&at, "magic_link", e);
            }
            let mail = org.mail.unwrap_or_default();
            if let Err(e) = mail.validate() {
                errors.fail(&at, "mail", e);
            }
            for (k, p) in org.identity_providers.iter().enumerate() {
                let field = format!("identity_providers[{k}]");
                if let Err(e) = p.validate() {
                    errors.fail(&at, &field, e);
                }
                if org.identity_providers[..k].iter().any(|q| q.name == p.name) {
                    errors.fail(&at, &field, format!("'{}' is declared twice", p.name));
                }
            }
            for (name, value) in &org.factors {
                let field = format!("factors.{name}");
                match crate::authn::factor::code_factor(name) {
                    Some(factor) => {
                        if let Err(e) = factor.check_settings(value) {
                            errors.fail(&at, &field, e);
                        }
                    }
                    None => {
                        let names: Vec<&str> = crate::authn::factor::CODE_FACTORS
                            .iter()
                            .map(|f| f.name())
                            .collect();
                        errors.fail(
                            &at,
                            &field,
                            format!("'{name}' takes no settings here: use {}", names.join(", ")),
                        );
                    }
                }
            }
            let settings = OrgSettings {
                lock_policy,
                resources: org.resources,
                sms_otp,
                email_otp,
                backup_codes,
                sms,
                magic_link,
                mail,
                identity_providers: org.identity_providers,
                enrollment: org.enrollment.unwrap_or_default(),
                factors: org.factors,
                event_sinks: org.event_sinks,
            };
            for (j, app) in org.applications.iter().enumerate() {
                for r in &app.resources {
                    if settings.resource(r).is_none() {
                        errors.fail(
                            &format!("{at}.applications[{j}] ({})", app.client_id),
                            "resources",
                            format!("'{r}' is not one of this organization's resources"),
                        );
                    }
                }
            }
            let webhooks = validate_webhooks(&mut errors, &at, org.webhooks);
            let apps = validate_apps(&mut errors, &at, org.applications);
            for app in &apps {
                let Some(flow) = &app.sign_in_flow else {
                    continue;
                };
                for a in flow.steps().iter().flatten() {
                    if let Authenticator::Federated(name) = a
                        && settings.identity_provider(name).is_none()
                    {
                        errors.fail(
                            &format!("{at}.applications ({})", app.client_id.as_str()),
                            "sign_in_flow",
                            format!("'{a}' names no provider in identity_providers"),
                        );
                    }
                }
            }
            let users = validate_users(&mut errors, &at, org.users);
            if let Some(slug) = slug {
                orgs.push(OrgPlan {
                    slug,
                    display_name,
                    settings,
                    apps,
                    users,
                    webhooks,
                });
            }
        }
        if errors.0.is_empty() {
            Ok(Self { orgs })
        } else {
            Err(ImportErrors(errors.0))
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
        crate::store::write_transaction(conn, |conn| self.apply_within(conn, kek, recorder))
    }

    /// What [`Self::apply`] would do, reported and then rolled back (`sesame import --dry-run`):
    /// the same statements in the same transaction, so the report is exactly what applying the
    /// file now would print; nothing is kept, not even a generated client secret.
    pub fn preview(
        &self,
        conn: &mut DbConn,
        kek: &Kek,
        recorder: &Recorder,
    ) -> Result<Report, StoreError> {
        crate::store::rolled_back(conn, |conn| self.apply_within(conn, kek, recorder))
    }

    fn apply_within(
        &self,
        conn: &mut DbConn,
        kek: &Kek,
        recorder: &Recorder,
    ) -> Result<Report, StoreError> {
        let mut report = Report::default();
        for org_plan in &self.orgs {
            apply_org(conn, org_plan, &mut report, kek, recorder)?;
        }
        Ok(report)
    }
}

fn validate_webhooks(
    errors: &mut Errors,
    org_at: &str,
    hooks: Vec<FileWebhook>,
) -> Vec<WebhookPlan> {
    let mut out = Vec::new();
    for (k, hook) in hooks.into_iter().enumerate() {
        let at = format!("{org_at}.webhooks[{k}]");
        let topic = hub::TOPICS.iter().find(|t| **t == hook.topic);
        if topic.is_none() {
            errors.fail(
                &at,
                "topic",
                format!(
                    "'{}' is not a topic: use {}",
                    hook.topic,
                    hub::TOPICS.join(", ")
                ),
            );
        }
        let callback_ok = url::Url::parse(&hook.callback)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.fragment().is_none());
        if !callback_ok {
            errors.fail(&at, "callback", "must be an http(s) URL without a fragment");
        }
        let secret = match hook.secret.resolve() {
            Ok(s) if (16..=200).contains(&s.len()) => Some(Secret::new(s)),
            Ok(_) => {
                errors.fail(&at, "secret", "must be 16 to 200 bytes");
                None
            }
            Err(e) => {
                errors.fail(&at, "secret", e);
                None
            }
        };
        let lease_seconds = hook.lease_seconds.unwrap_or(hub::MAX_LEASE_SECONDS);
        if !(hub::MIN_LEASE_SECONDS..=hub::MAX_LEASE_SECONDS).contains(&lease_seconds) {
            errors.fail(
                &at,
                "lease_seconds",
                format!(
                    "{lease_seconds} is out of range {}-{}",
                    hub::MIN_LEASE_SECONDS,
                    hub::MAX_LEASE_SECONDS
                ),
            );
        }
        if let (Some(topic), Some(secret), true) = (topic, secret, callback_ok) {
            out.push(WebhookPlan {
                topic,
                callback: hook.callback,
                secret,
                lease_seconds,
            });
        }
    }
    out
}

/// Declares a subscription: new ones, and changed secrets or leases, wait for the subscriber's
/// intent verification like requested ones; one that is already so is left alone.
fn apply_webhook(
    conn: &mut DbConn,
    org: &Organization,
    plan: &WebhookPlan,
    report: &mut Report,
    kek: &Kek,
    recorder: &Recorder,
) -> Result<(), StoreError> {
    let entry = format!("webhook {}/{} -> {}", org.slug, plan.topic, plan.callback);
    // The callback as the audit log shows it (its query redacted: it may hold a token).
    let shown = |secret: &str, state: &str| {
        json!({
            "topic": plan.topic,
            "callback": plan.callback,
            "lease_seconds": plan.lease_seconds,
            "secret": secret,
            "state": state,
        })
    };
    let seal =
        |id: &str| hub::seal_secret(kek, id, plan.secret.expose()).map_err(StoreError::Corrupt);
    match Subscription::find(conn, org.id, plan.topic, &plan.callback)? {
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            let t = now();
            Subscription::insert(
                conn,
                &Subscription {
                    secret: seal(&id)?,
                    id: id.clone(),
                    organization_id: org.id,
                    topic: plan.topic.into(),
                    callback: plan.callback.clone(),
                    pending_secret: None,
                    previous_secret: None,
                    previous_secret_until: None,
                    state: subscriptions::PENDING.into(),
                    pending_mode: Some("subscribe".into()),
                    lease_seconds: plan.lease_seconds,
                    expires_at: None,
                    verify_after: t,
                    verify_attempts: 0,
                    created_at: t,
                    updated_at: t,
                },
            )?;
            recorder.record(
                conn,
                org,
                Change {
                    action: "webhook.create",
                    entity: "webhook",
                    entity_id: &id,
                    before: None,
                    after: Some(shown("set", subscriptions::PENDING)),
                },
            )?;
            report.created.push(entry);
        }
        Some(existing) => {
            let same_secret = kek
                .open(&existing.secret, existing.id.as_bytes())
                .is_ok_and(|s| s == plan.secret.expose().as_bytes());
            // A lease running out within 30 days is renewed by the import (declared
            // subscriptions have no subscriber to renew them).
            let lease_ok = existing.expires_at.is_some_and(|e| e > now() + 30 * 86_400);
            let settled = existing.state == subscriptions::ACTIVE
                && same_secret
                && lease_ok
                && existing.lease_seconds == plan.lease_seconds;
            if settled {
                report.unchanged += 1;
            } else {
                let sealed = seal(&existing.id)?;
                Subscription::request(
                    conn,
                    &existing.id,
                    "subscribe",
                    Some(&sealed),
                    plan.lease_seconds,
                )?;
                let mut before = shown(
                    if same_secret { "set" } else { "previous" },
                    &existing.state,
                );
                before["lease_seconds"] = json!(existing.lease_seconds);
                recorder.record(
                    conn,
                    org,
                    Change {
                        action: "webhook.update",
                        entity: "webhook",
                        entity_id: &existing.id,
                        before: Some(before),
                        after: Some(shown("set", subscriptions::PENDING)),
                    },
                )?;
                report.updated.push(entry);
            }
        }
    }
    Ok(())
}

fn validate_apps(errors: &mut Errors, org_at: &str, apps: Vec<FileApp>) -> Vec<AppPlan> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (j, app) in apps.into_iter().enumerate() {
        let at = format!("{org_at}.applications[{j}] ({})", app.client_id);
        let client_id = errors.check(&at, "client_id", ClientId::parse(&app.client_id));
        if !seen.insert(app.client_id.clone()) {
            errors.fail(&at, "client_id", "declared twice in this organization");
        }
        let client_type = errors.check(&at, "type", ClientType::parse(&app.client_type));
        let secret = app.client_secret;
        match (&client_type, &secret) {
            (_, Some(_)) if app.jwks.is_some() => {
                errors.fail(&at, "client_secret", "give either client_secret or jwks (private_key_jwt), not both");
            }
            (Some(ClientType::Public), Some(_)) => {
                errors.fail(&at, "client_secret", "a public application has no secret; remove it or use type = \"confidential\"");
            }
            (_, Some(s)) if s.expose().chars().count() < MIN_SECRET_LEN => errors.fail(
                &at,
                "client_secret",
                format!("too short: at least {MIN_SECRET_LEN} characters (or omit it to have one generated)"),
            ),
            _ => {}
        }
        let jwks = match app.jwks {
            None => None,
            Some(_) if client_type == Some(ClientType::Public) => {
                errors.fail(
                    &at,
                    "jwks",
                    "a public application cannot authenticate with keys",
                );
                None
            }
            Some(doc) => match crate::keys::jwk::parse_jwks(&doc) {
                Ok(_) => Some(doc.to_string()),
                Err(e) => {
                    errors.fail(&at, "jwks", e);
                    None
                }
            },
        };
        let jwks_uri = match &app.jwks_uri {
            None => None,
            Some(_) if jwks.is_some() || secret.is_some() => {
                errors.fail(
                    &at,
                    "jwks_uri",
                    "give one of client_secret, jwks or jwks_uri",
                );
                None
            }
            Some(_) if client_type == Some(ClientType::Public) => {
                errors.fail(
                    &at,
                    "jwks_uri",
                    "a public application cannot authenticate with keys",
                );
                None
            }
            Some(u) => match url::Url::parse(u) {
                Ok(parsed) if parsed.scheme() == "https" || parsed.scheme() == "http" => {
                    Some(u.clone())
                }
                _ => {
                    errors.fail(&at, "jwks_uri", format!("'{u}' is not an https URL"));
                    None
                }
            },
        };
        let id_token_alg = match &app.id_token_signed_response_alg {
            None => Alg::RS256,
            Some(a) => errors
                .check(&at, "id_token_signed_response_alg", Alg::parse(a))
                .unwrap_or(Alg::RS256),
        };
        let access_token_alg = match &app.access_token_signed_response_alg {
            None => Alg::RS256,
            Some(a) => errors
                .check(&at, "access_token_signed_response_alg", Alg::parse(a))
                .unwrap_or(Alg::RS256),
        };
        let redirect_uris: Vec<RedirectUri> = app
            .redirect_uris
            .iter()
            .enumerate()
            .filter_map(|(k, u)| {
                errors.check(&at, &format!("redirect_uris[{k}]"), RedirectUri::parse(u))
            })
            .collect();
        let post_logout_redirect_uris: Vec<RedirectUri> = app
            .post_logout_redirect_uris
            .iter()
            .enumerate()
            .filter_map(|(k, u)| {
                errors.check(
                    &at,
                    &format!("post_logout_redirect_uris[{k}]"),
                    RedirectUri::parse(u),
                )
            })
            .collect();
        let grant_names = app
            .grant_types
            .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]);
        let mut grant_types = Vec::new();
        for (k, g) in grant_names.iter().enumerate() {
            let parsed = serde_json::from_value::<GrantType>(serde_json::Value::String(g.clone())).map_err(|_| {
                format!("'{g}' is not a grant type: use authorization_code, refresh_token or client_credentials")
            });
            if let Some(g) = errors.check(&at, &format!("grant_types[{k}]"), parsed)
                && !grant_types.contains(&g)
            {
                grant_types.push(g);
            }
        }
        grant_types.sort();
        if grant_types.contains(&GrantType::AuthorizationCode)
            && redirect_uris.is_empty()
            && app.redirect_uris.is_empty()
        {
            errors.fail(
                &at,
                "redirect_uris",
                "at least one is required for the authorization_code grant",
            );
        }
        if client_type == Some(ClientType::Public)
            && grant_types.contains(&GrantType::ClientCredentials)
        {
            errors.fail(
                &at,
                "grant_types",
                "a public application cannot use client_credentials",
            );
        }
        let d = TokenLifetimes::default();
        let lifetimes = TokenLifetimes {
            access_token: lifetime(
                errors,
                &at,
                "access_token_lifetime",
                app.access_token_lifetime,
                d.access_token,
                86_400,
            ),
            id_token: lifetime(
                errors,
                &at,
                "id_token_lifetime",
                app.id_token_lifetime,
                d.id_token,
                86_400,
            ),
            refresh_token: lifetime(
                errors,
                &at,
                "refresh_token_lifetime",
                app.refresh_token_lifetime,
                d.refresh_token,
                31_536_000,
            ),
        };
        let sign_in_flow = app
            .sign_in_flow
            .as_ref()
            .and_then(|spec| errors.check(&at, "sign_in_flow", spec.resolve(app.backup_codes)));
        if app.backup_codes
            && !sign_in_flow
                .as_ref()
                .is_some_and(|f| f.steps().iter().any(|s| s.contains(&Authenticator::SmsOtp)))
        {
            errors.fail(
                &at,
                "backup_codes",
                "backup codes are offered on the SMS OTP step: give a sign_in_flow with sms_otp",
            );
        }
        if app.websub_subscribe && !grant_types.contains(&GrantType::ClientCredentials) {
            errors.fail(
                &at,
                "websub_subscribe",
                "needs the client_credentials grant (subscriptions are managed with its tokens)",
            );
        }
        if app.app_native && !grant_types.contains(&GrantType::AuthorizationCode) {
            errors.fail(
                &at,
                "app_native",
                "needs the authorization_code grant (the JSON sign-in API ends with a code)",
            );
        }
        // The JSON sign-in API runs the password, SMS OTP and backup codes only: sign-in links
        // and upstream providers need a browser, so its first step must offer the password.
        let first_offers_password = sign_in_flow.as_ref().is_none_or(|f| {
            f.steps()
                .first()
                .is_some_and(|s| s.contains(&Authenticator::Password))
        });
        if app.app_native && !first_offers_password {
            errors.fail(
                &at,
                "app_native",
                "the JSON sign-in API needs the password in the flow's first step (sign-in links and upstream providers need a browser)",
            );
        }
        if app.app_native && app.third_party {
            errors.fail(
                &at,
                "app_native",
                "a third-party application asks for consent in a browser: it cannot be app_native",
            );
        }
        if let (Some(client_id), Some(client_type)) = (client_id, client_type) {
            out.push(AppPlan {
                name: app.name.unwrap_or_else(|| client_id.to_string()),
                client_id,
                client_type,
                secret,
                jwks,
                id_token_alg,
                access_token_alg,
                third_party: app.third_party,
                jwks_uri,
                resources: app.resources,
                sign_in_flow,
                backup_codes: app.backup_codes,
                websub_subscribe: app.websub_subscribe,
                app_native: app.app_native,
                redirect_uris,
                post_logout_redirect_uris,
                grant_types,
                lifetimes,
            });
        }
    }
    out
}

fn validate_users(errors: &mut Errors, org_at: &str, users: Vec<FileUser>) -> Vec<UserPlan> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (j, user) in users.into_iter().enumerate() {
        let at = format!("{org_at}.users[{j}] ({})", user.username);
        let username = errors.check(&at, "username", Username::parse(&user.username));
        if let Some(u) = &username
            && !seen.insert(u.clone())
        {
            errors.fail(&at, "username", "declared twice in this organization");
        }
        let password = match (user.password, user.password_hash) {
            (Some(_), Some(_)) => {
                errors.fail(
                    &at,
                    "password",
                    "give either password or password_hash, not both",
                );
                PasswordPlan::Keep
            }
            (Some(p), None) if p.expose().chars().count() < MIN_PASSWORD_LEN => {
                errors.fail(
                    &at,
                    "password",
                    format!("too short: at least {MIN_PASSWORD_LEN} characters"),
                );
                PasswordPlan::Keep
            }
            (Some(p), None) => PasswordPlan::Clear(p),
            (None, Some(h)) => match password::validate_phc(&h) {
                Ok(()) => PasswordPlan::Hash(h),
                Err(e) => {
                    errors.fail(&at, "password_hash", e);
                    PasswordPlan::Keep
                }
            },
            (None, None) => PasswordPlan::Keep,
        };
        let email = user
            .email
            .as_deref()
            .and_then(|e| errors.check(&at, "email", Email::parse(e)));
        let phone_number = user
            .phone_number
            .as_deref()
            .and_then(|p| errors.check(&at, "phone_number", provisioned_number(p)));
        if user.email_verified && user.email.is_none() {
            errors.fail(&at, "email_verified", "true without an email");
        }
        if user.phone_number_verified && user.phone_number.is_none() {
            errors.fail(&at, "phone_number_verified", "true without a phone_number");
        }
        if let Some(username) = username {
            out.push(UserPlan {
                username,
                password,
                email,
                email_verified: user.email_verified,
                phone_number,
                phone_number_verified: user.phone_number_verified,
                disabled: user.disabled,
                profile: user.profile,
            });
        }
    }
    out
}

fn apply_org(
    conn: &mut DbConn,
    plan: &OrgPlan,
    report: &mut Report,
    kek: &Kek,
    recorder: &Recorder,
) -> Result<(), StoreError> {
    let entry = format!("organization {}", plan.slug);
    let shown = |display_name: &str, settings: &OrgSettings| json!({ "display_name": display_name, "settings": settings });
    let after = shown(&plan.display_name, &plan.settings);
    let org = match Organization::find_by_slug(conn, plan.slug.as_str())? {
        None => {
            report.created.push(entry);
            let org = Organization::create(conn, &plan.slug, &plan.display_name, &plan.settings)?;
            recorder.record(
                conn,
                &org,
                Change {
                    action: "organization.create",
                    entity: "organization",
                    entity_id: &org.slug,
                    before: None,
                    after: Some(after),
                },
            )?;
            org
        }
        Some(old) if old.display_name != plan.display_name || old.settings != plan.settings => {
            Organization::update(conn, old.id, &plan.display_name, &plan.settings)?;
            report.updated.push(entry);
            let org = Organization {
                display_name: plan.display_name.clone(),
                settings: plan.settings.clone(),
                ..old.clone()
            };
            recorder.record(
                conn,
                &org,
                Change {
                    action: "organization.update",
                    entity: "organization",
                    entity_id: &org.slug,
                    before: Some(shown(&old.display_name, &old.settings)),
                    after: Some(after),
                },
            )?;
            org
        }
        Some(org) => {
            report.unchanged += 1;
            org
        }
    };
    for app in &plan.apps {
        apply_app(conn, &org, app, report, recorder)?;
    }
    for user in &plan.users {
        apply_user(conn, &org, user, report, recorder)?;
    }
    for hook in &plan.webhooks {
        apply_webhook(conn, &org, hook, report, kek, recorder)?;
    }
    Ok(())
}

fn apply_app(
    conn: &mut DbConn,
    org: &Organization,
    plan: &AppPlan,
    report: &mut Report,
    recorder: &Recorder,
) -> Result<(), StoreError> {
    let entry = format!("application {}/{}", org.slug, plan.client_id);
    let existing = Application::find(conn, org.id, plan.client_id.as_str())?;
    let secret_hash = match (plan.client_type, &plan.secret, &existing) {
        (ClientType::Public, _, _) => None,
        // Keys instead of a secret: private_key_jwt.
        (ClientType::Confidential, None, _) if plan.jwks.is_some() || plan.jwks_uri.is_some() => {
            None
        }
        (ClientType::Confidential, Some(secret), _) => Some(sha256_hex(secret.expose())),
        (ClientType::Confidential, None, Some(old)) if old.secret_hash.is_some() => {
            old.secret_hash.clone()
        }
        (ClientType::Confidential, None, _) => {
            let secret = random_token(32);
            let hash = sha256_hex(secret.expose());
            report.generated_secrets.push((entry.clone(), secret));
            Some(hash)
        }
    };
    let t = now();
    let mut app = Application {
        id: existing
            .as_ref()
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), |a| a.id.clone()),
        organization_id: org.id,
        client_id: plan.client_id.clone(),
        name: plan.name.clone(),
        client_type: plan.client_type,
        secret_hash,
        redirect_uris: plan.redirect_uris.clone(),
        post_logout_redirect_uris: plan.post_logout_redirect_uris.clone(),
        grant_types: plan.grant_types.clone(),
        lifetimes: plan.lifetimes,
        sign_in_flow: plan.sign_in_flow.clone(),
        backup_codes: plan.backup_codes,
        websub_subscribe: plan.websub_subscribe,
        app_native: plan.app_native,
        jwks: plan.jwks.clone(),
        id_token_alg: plan.id_token_alg,
        access_token_alg: plan.access_token_alg,
        third_party: plan.third_party,
        jwks_uri: plan.jwks_uri.clone(),
        resources: plan.resources.clone(),
        created_at: t,
        updated_at: t,
    };
    let (action, before) = match existing {
        None => {
            Application::insert(conn, &app)?;
            report.created.push(entry);
            ("application.create", None)
        }
        Some(old) => {
            app.created_at = old.created_at;
            app.updated_at = old.updated_at;
            if app == old {
                report.unchanged += 1;
                return Ok(());
            }
            Application::update(conn, &app)?;
            report.updated.push(entry);
            (
                "application.update",
                Some(crate::admin::applications::audited(&old)),
            )
        }
    };
    recorder.record(
        conn,
        org,
        Change {
            action,
            entity: "application",
            entity_id: app.client_id.as_str(),
            before,
            after: Some(crate::admin::applications::audited(&app)),
        },
    )?;
    Ok(())
}

fn apply_user(
    conn: &mut DbConn,
    org: &Organization,
    plan: &UserPlan,
    report: &mut Report,
    recorder: &Recorder,
) -> Result<(), StoreError> {
    let entry = format!("user {}/{}", org.slug, plan.username);
    let existing = User::find_by_username(conn, org.id, &plan.username)?;
    let old_hash = existing.as_ref().and_then(|u| u.password_hash.clone());
    let password_hash = match &plan.password {
        PasswordPlan::Keep => old_hash,
        PasswordPlan::Hash(h) => Some(h.clone()),
        // Re-hashing would change the salt on every import: keep a hash that already matches.
        PasswordPlan::Clear(p) => match old_hash {
            Some(h) if password::verify(&h, p) => Some(h),
            _ => Some(password::hash(p)),
        },
    };
    let t = now();
    let mut user = User {
        id: existing
            .as_ref()
            .map_or_else(User::new_id, |u| u.id.clone()),
        organization_id: org.id,
        username: plan.username.clone(),
        email: plan.email.clone(),
        email_verified: plan.email_verified,
        phone_number: plan.phone_number.clone(),
        phone_number_verified: plan.phone_number_verified,
        profile: plan.profile.clone(),
        password_hash,
        disabled: plan.disabled,
        created_at: t,
        updated_at: t,
    };
    let (action, before) = match existing {
        None => {
            User::insert(conn, &user)?;
            report.created.push(entry);
            ("user.create", None)
        }
        Some(old) => {
            user.created_at = old.created_at;
            user.updated_at = old.updated_at;
            if user == old {
                report.unchanged += 1;
                return Ok(());
            }
            let before = crate::admin::users::audited(conn, &old)?;
            User::update(conn, &user)?;
            // A new password or a disabled account ends every session and token.
            if (user.disabled && !old.disabled) || user.password_hash != old.password_hash {
                crate::store::auth::sign_out_everywhere(conn, &user.id)?;
            }
            report.updated.push(entry);
            ("user.update", Some(before))
        }
    };
    let after = crate::admin::users::audited(conn, &user)?;
    recorder.record(
        conn,
        org,
        Change {
            action,
            entity: "user",
            entity_id: &user.id,
            before,
            after: Some(after),
        },
    )?;
    Ok(())
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
