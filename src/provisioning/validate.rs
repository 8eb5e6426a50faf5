//! Validation of a provisioning file's entries (and of the management API's changes, which
//! take the same checks and messages): each check names the entry and field it refuses.

use super::*;

/// `sign_in_flow = "username_password_sms_otp"` or `sign_in_flow = [["password"], ["sms_otp"]]`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(super) enum FlowSpec {
    Preset(String),
    Steps(Vec<Vec<String>>),
}

/// The predefined flows, by the names the provisioning file uses.
pub const PRESET_PASSWORD: &str = "username_password";
pub const PRESET_PASSWORD_SMS_OTP: &str = "username_password_sms_otp";

impl FlowSpec {
    /// The validated flow. The SMS OTP preset ("add SMS OTP as a second factor") offers backup
    /// codes beside the OTP when the application enables them.
    pub(super) fn resolve(&self, backup_codes: bool) -> Result<SignInFlow, String> {
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

/// Collects errors while validating, so one run reports them all: each the path of the field
/// refused (`organizations[0] (acme).sms_otp` in a file; `sms_otp` in a change of the
/// management API, whose entry is its path) and why.
#[derive(Debug, Default)]
pub(super) struct Errors(Vec<(String, String)>);

impl Errors {
    pub(super) fn check<T>(
        &mut self,
        at: &str,
        field: &str,
        result: Result<T, String>,
    ) -> Option<T> {
        result.map_err(|e| self.fail(at, field, e)).ok()
    }

    pub(super) fn fail(&mut self, at: &str, field: &str, message: impl Into<String>) {
        let path = if at.is_empty() {
            field.to_string()
        } else {
            format!("{at}.{field}")
        };
        self.0.push((path, message.into()));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields refused and why, or nothing wrong.
    pub(super) fn into_result(self) -> Result<(), Vec<(String, String)>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

impl From<Errors> for ImportErrors {
    fn from(errors: Errors) -> Self {
        Self(
            errors
                .0
                .into_iter()
                .map(|(path, message)| format!("{path}: {message}"))
                .collect(),
        )
    }
}

/// Checks an organization's settings (`at` names them in messages): each policy's ranges, the
/// APIs' identifiers and scopes, the SMS channel and the event sinks built once (so a bad field
/// or a missing secret is reported now), the upstream providers and the plug-in factors'
/// settings.
pub(super) fn settings(errors: &mut Errors, at: &str, settings: &OrgSettings) {
    if let Err(e) = settings.lock_policy.validate() {
        errors.fail(at, "lock_policy", e);
    }
    for (k, r) in settings.resources.iter().enumerate() {
        let valid = url::Url::parse(&r.identifier).is_ok_and(|u| u.fragment().is_none());
        if !valid {
            errors.fail(
                at,
                &format!("resources[{k}].identifier"),
                "must be an absolute URI without a fragment",
            );
        }
        if settings.resources[..k]
            .iter()
            .any(|q| q.identifier == r.identifier)
        {
            errors.fail(
                at,
                &format!("resources[{k}].identifier"),
                format!("'{}' is declared twice", r.identifier),
            );
        }
        if let Some(bad) = r.scopes.iter().find(|s| {
            s.is_empty() || s.contains(' ') || authorize::SUPPORTED_SCOPES.contains(&s.as_str())
        }) {
            errors.fail(
                at,
                &format!("resources[{k}].scopes"),
                format!("'{bad}' cannot be an API scope"),
            );
        }
    }
    if let Err(e) = settings.sms_otp.validate() {
        errors.fail(at, "sms_otp", e);
    }
    if let Err(e) = settings.email_otp.validate() {
        errors.fail(at, "email_otp", e);
    }
    if let Err(e) = settings.backup_codes.validate() {
        errors.fail(at, "backup_codes", e);
    }
    if let Err(e) = settings.password_policy.validate() {
        errors.fail(at, "password_policy", e);
    }
    if let Err(e) = settings.registration.validate() {
        errors.fail(at, "registration", e);
    }
    if let Err(e) = settings.branding.validate() {
        errors.fail(at, "branding", e);
    }
    // The egress policy is applied again when the gateways send.
    let console: std::sync::Arc<dyn crate::plugin::SmsGateway> =
        std::sync::Arc::new(sesame_plugin_console::Console);
    if let Err(e) = SmsChannel::build(&settings.sms, &Outbound::new(true), &console) {
        errors.fail(at, "sms", e);
    }
    // Each sink's plug-in checks its fields and reads its secrets (it connects only when it
    // first publishes).
    let subscribers_send = matches!(settings.sms, SmsSettings::Webhook);
    for (k, sink) in settings.event_sinks.iter().enumerate() {
        let field = format!("event_sinks[{k}]");
        let checked = sink
            .validate(subscribers_send)
            .and_then(|()| crate::events::sinks::build(sink).map(|_| ()));
        if let Err(e) = checked {
            errors.fail(at, &field, e);
        }
        if settings.event_sinks[..k]
            .iter()
            .any(|s| s.name == sink.name)
        {
            errors.fail(at, &field, format!("'{}' is declared twice", sink.name));
        }
    }
    if let Err(e) = settings.magic_link.validate() {
        errors.fail(at, "magic_link", e);
    }
    if let Err(e) = settings.mail.validate() {
        errors.fail(at, "mail", e);
    }
    for (k, p) in settings.identity_providers.iter().enumerate() {
        let field = format!("identity_providers[{k}]");
        if let Err(e) = p.validate() {
            errors.fail(at, &field, e);
        }
        if settings.identity_providers[..k]
            .iter()
            .any(|q| q.name == p.name)
        {
            errors.fail(at, &field, format!("'{}' is declared twice", p.name));
        }
    }
    for (name, value) in &settings.factors {
        let field = format!("factors.{name}");
        match crate::authn::factor::code_factor(name) {
            Some(factor) => {
                if let Err(e) = factor.check_settings(value) {
                    errors.fail(at, &field, e);
                }
            }
            None => {
                let names: Vec<&str> = crate::authn::factor::CODE_FACTORS
                    .iter()
                    .map(|f| f.name())
                    .collect();
                errors.fail(
                    at,
                    &field,
                    format!("'{name}' takes no settings here: use {}", names.join(", ")),
                );
            }
        }
    }
}

/// A user's number by the numbering plan, normalized to E.164 (premium-rate, shared-cost and
/// invalid numbers refused; the organization's allow-list applies when codes are sent).
pub(super) fn provisioned_number(value: &str) -> Result<PhoneNumber, String> {
    PhoneNumber::parse(value)?;
    crate::authn::sms_limits::normalize(value)
        .map_err(|reason| format!("'{value}': {}", reason.message()))
}

pub(super) fn lifetime(
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

pub(super) fn validate_webhooks(
    errors: &mut Errors,
    org_at: &str,
    hooks: Vec<FileWebhook>,
) -> Vec<WebhookPlan> {
    let mut out = Vec::new();
    for (k, hook) in hooks.into_iter().enumerate() {
        let at = format!("{org_at}.webhooks[{k}]");
        let secret = hook.secret.resolve();
        out.extend(webhook(
            errors,
            &at,
            hook.topic,
            hook.callback,
            secret,
            hook.lease_seconds,
        ));
    }
    out
}

/// Checks one declared subscription (`at` names it in messages): a topic of the hub, an
/// http(s) callback, a secret of 16 to 200 bytes (or why it could not be read), a lease the
/// hub grants.
pub(super) fn webhook(
    errors: &mut Errors,
    at: &str,
    topic: String,
    callback: String,
    secret: Result<String, String>,
    lease_seconds: Option<i64>,
) -> Option<WebhookPlan> {
    let known = hub::TOPICS.iter().find(|t| **t == topic);
    if known.is_none() {
        errors.fail(
            at,
            "topic",
            format!("'{topic}' is not a topic: use {}", hub::TOPICS.join(", ")),
        );
    }
    let callback_ok = url::Url::parse(&callback)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.fragment().is_none());
    if !callback_ok {
        errors.fail(at, "callback", "must be an http(s) URL without a fragment");
    }
    let secret = match secret {
        Ok(s) if (16..=200).contains(&s.len()) => Some(Secret::new(s)),
        Ok(_) => {
            errors.fail(at, "secret", "must be 16 to 200 bytes");
            None
        }
        Err(e) => {
            errors.fail(at, "secret", e);
            None
        }
    };
    let lease_seconds = lease_seconds.unwrap_or(hub::MAX_LEASE_SECONDS);
    if !(hub::MIN_LEASE_SECONDS..=hub::MAX_LEASE_SECONDS).contains(&lease_seconds) {
        errors.fail(
            at,
            "lease_seconds",
            format!(
                "{lease_seconds} is out of range {}-{}",
                hub::MIN_LEASE_SECONDS,
                hub::MAX_LEASE_SECONDS
            ),
        );
    }
    match (known, secret, callback_ok) {
        (Some(topic), Some(secret), true) => Some(WebhookPlan {
            topic,
            callback,
            secret,
            lease_seconds,
        }),
        _ => None,
    }
}

/// What an existing application names in its organization's settings (APIs, upstream
/// providers), checked against new `settings`: a change of the settings may not take away what
/// an application uses.
pub(super) fn still_named(errors: &mut Errors, app: &Application, settings: &OrgSettings) {
    for r in &app.resources {
        if settings.resource(r).is_none() {
            errors.fail(
                "",
                "resources",
                format!(
                    "'{r}' is one of the APIs of the application '{}': take it out of that application first",
                    app.client_id
                ),
            );
        }
    }
    for a in app.flow().steps().iter().flatten() {
        if let Authenticator::Federated(name) = a
            && settings.identity_provider(name).is_none()
        {
            errors.fail(
                "",
                "identity_providers",
                format!(
                    "'{name}' is in the sign-in flow of the application '{}': change that flow first",
                    app.client_id
                ),
            );
        }
    }
}

/// The organization's applications, each checked by [`application`].
pub(super) fn validate_apps(
    errors: &mut Errors,
    org_at: &str,
    apps: Vec<AppSpec>,
    settings: &OrgSettings,
) -> Vec<AppPlan> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (j, app) in apps.into_iter().enumerate() {
        let at = format!("{org_at}.applications[{j}] ({})", app.client_id);
        if !seen.insert(app.client_id.clone()) {
            errors.fail(&at, "client_id", "declared twice in this organization");
        }
        out.extend(application(errors, &at, app, settings));
    }
    out
}

/// Checks one application (`at` names it in messages): its fields, its sign-in flow by the
/// engine's rules, and what it names in its organization's `settings` (APIs, upstream
/// providers).
pub(super) fn application(
    errors: &mut Errors,
    at: &str,
    app: AppSpec,
    settings: &OrgSettings,
) -> Option<AppPlan> {
    let at = at.to_string();
    {
        let client_id = errors.check(&at, "client_id", ClientId::parse(&app.client_id));
        for r in &app.resources {
            if settings.resource(r).is_none() {
                errors.fail(
                    &at,
                    "resources",
                    format!("'{r}' is not one of this organization's resources"),
                );
            }
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
        for a in sign_in_flow.iter().flat_map(|f| f.steps()).flatten() {
            if let Authenticator::Federated(name) = a
                && settings.identity_provider(name).is_none()
            {
                errors.fail(
                    &at,
                    "sign_in_flow",
                    format!("'{a}' names no provider in identity_providers"),
                );
            }
        }
        if let (Some(client_id), Some(client_type)) = (client_id, client_type) {
            return Some(AppPlan {
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
    None
}

pub(super) fn validate_users(
    errors: &mut Errors,
    org_at: &str,
    users: Vec<FileUser>,
) -> Vec<UserPlan> {
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

/// Each application the organization opens registration to must be one a new account can sign
/// in to (else registering there makes an account that never can), and, where the whole list of
/// the organization's applications is known (`listed`), one of them. `apps`: each application's
/// client id and sign-in flow.
pub(super) fn registration(
    errors: &mut Errors,
    at: &str,
    slug: Option<&OrgSlug>,
    settings: &OrgSettings,
    (apps, listed): (&[(&str, SignInFlow)], bool),
) {
    // Its users are administrators: nobody may make themselves one.
    if settings.registration.enabled
        && slug.is_some_and(|s| s.as_str() == crate::admin::ADMIN_ORGANIZATION)
    {
        errors.fail(
            at,
            "registration.enabled",
            "the administration organization's users are its administrators: nobody registers there",
        );
    }
    for (k, client_id) in settings.registration.applications.iter().enumerate() {
        let field = format!("registration.applications[{k}]");
        match apps.iter().find(|(id, _)| id == client_id) {
            Some((_, flow)) => {
                if let Some(why) = crate::authn::registration::refusal(&settings.enrollment, flow) {
                    errors.fail(at, &field, format!("'{client_id}': {why}"));
                }
            }
            None if listed => errors.fail(
                at,
                &field,
                format!("'{client_id}' is not an application of this organization"),
            ),
            None => {}
        }
    }
}
