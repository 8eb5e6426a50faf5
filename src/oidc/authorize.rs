//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1): parsing and validation,
//! free of the web framework.
//!
//! Order matters: until the client and its redirect URI are known to be good, an error is shown
//! at Sesame and never redirected (an open redirector otherwise); after that, errors go back to
//! the client in the requested response mode.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{ClientType, GrantType};
use crate::i18n::{Arg, Locale};
use crate::store::applications::Application;
use crate::store::organizations::OrgSettings;

/// The scopes Sesame knows; others in a request are ignored (RFC 6749 §3.3 lets the server
/// narrow the scope).
pub const SUPPORTED_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// A validated authorization request, kept in the login transaction while the user signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    /// Granted scopes, in a stable order (request order is irrelevant).
    pub scope: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The S256 PKCE challenge.
    pub code_challenge: Option<String>,
    pub prompt_none: bool,
    pub prompt_login: bool,
    /// `prompt=consent`: ask again even when the user consented before (third-party apps).
    #[serde(default)]
    pub prompt_consent: bool,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The `claims` parameter (OIDC Core §5.5), reduced to the claim names per target.
    #[serde(default)]
    pub claims: Option<ClaimsRequest>,
    /// The API (RFC 8707) the access tokens will be for.
    #[serde(default)]
    pub resource: Option<String>,
    /// Set on a consent transaction: the session it asks for, so the consent page cannot be
    /// used with a sign-in transaction or by another session.
    #[serde(default)]
    pub consent_sid: Option<String>,
    /// `acr_values`, in order of preference; asking only for MFA makes a single-factor
    /// application's sign-in multi-factor (see `SignInFlow::required`).
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// `ui_locales`, in order of preference: the language of the pages (`crate::i18n`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ui_locales: Vec<String>,
}

impl AuthRequest {
    /// The scopes consent is needed for: those requested, plus those whose claims are asked for
    /// by name in the `claims` parameter (else naming a claim would get around consent).
    pub fn consent_scopes(&self) -> Vec<String> {
        let mut scopes = self.scope.clone();
        if let Some(claims) = &self.claims {
            for name in claims.id_token.iter().chain(&claims.userinfo) {
                if let Some(s) = crate::oidc::tokens::scope_of_claim(name)
                    && !scopes.iter().any(|x| x == s)
                {
                    scopes.push(s.to_string());
                }
            }
        }
        scopes
    }
}

/// Which claims a client asked for by name, for the ID token and for UserInfo. Sesame releases
/// the named claims it holds; `essential`, `value` and `values` are accepted and not enforced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    #[serde(default)]
    pub id_token: Vec<String>,
    #[serde(default)]
    pub userinfo: Vec<String>,
}

impl ClaimsRequest {
    /// Parses the JSON `claims` parameter; the message says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|_| "claims is not valid JSON".to_string())?;
        let obj = doc.as_object().ok_or("claims must be a JSON object")?;
        let names = |target: &str| -> Result<Vec<String>, String> {
            match obj.get(target) {
                None | Some(serde_json::Value::Null) => Ok(Vec::new()),
                Some(serde_json::Value::Object(m)) => {
                    for (name, spec) in m {
                        if !(spec.is_null() || spec.is_object()) {
                            return Err(format!(
                                "claims.{target}.{name} must be null or an object"
                            ));
                        }
                    }
                    Ok(m.keys().cloned().collect())
                }
                Some(_) => Err(format!("claims.{target} must be an object")),
            }
        };
        Ok(Self {
            id_token: names("id_token")?,
            userinfo: names("userinfo")?,
        })
    }
}

impl AuthRequest {
    pub fn scope_string(&self) -> String {
        self.scope.join(" ")
    }
}

/// Where an authorization error goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show a page at Sesame, never redirect.
    Page(PageMessage),
    /// Send `error` back to the client.
    Redirect {
        redirect_uri: String,
        response_mode: ResponseMode,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

/// Why a request is answered with a page at Sesame (`locales/*/errors.ftl`): in the browser's
/// language on the page ([`PageMessage::text`]), in English (`Display`) where it is a protocol's
/// `error_description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageMessage {
    id: &'static str,
    args: Vec<(&'static str, String)>,
}

impl PageMessage {
    fn new(id: &'static str, args: &[(&'static str, &str)]) -> Self {
        let args = args
            .iter()
            .map(|(name, value)| (*name, value.to_string()))
            .collect();
        Self { id, args }
    }

    /// The message in the language of the request being handled (`crate::i18n`).
    pub fn text(&self) -> String {
        self.text_in(crate::i18n::current())
    }

    fn text_in(&self, locale: Locale) -> String {
        let args: Vec<(&str, Arg)> = self
            .args
            .iter()
            .map(|(name, value)| (*name, value.into()))
            .collect();
        crate::i18n::text_in(locale, self.id, &args)
    }
}

impl std::fmt::Display for PageMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text_in(Locale::En))
    }
}

/// The parameters of a request, each at most once (RFC 6749 §3.1).
#[derive(Debug, Default, Clone)]
pub struct Params {
    values: BTreeMap<String, String>,
    repeated: Vec<String>,
}

impl Params {
    /// Replaces a parameter's value (the JSON sign-in API answers `direct` requests itself and
    /// validates them as `query` ones).
    pub fn set(&mut self, key: &str, value: &str) {
        self.values.insert(key.to_string(), value.to_string());
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut p = Self::default();
        for (k, v) in pairs {
            match p.values.entry(k) {
                std::collections::btree_map::Entry::Occupied(e) => p.repeated.push(e.key().clone()),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        p
    }

    /// A parameter's value; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The first parameter that appeared more than once, if any.
    pub fn repeated(&self) -> Option<&str> {
        self.repeated.first().map(String::as_str)
    }

    /// The first parameter whose name or value holds a control character (CR, LF, NUL, …): no
    /// OAuth parameter has one (RFC 6749 Appendix A), and they are what forges log lines and
    /// breaks headers. The JSON of `claims` may hold JSON's whitespace (tab, CR, LF).
    pub fn control_character(&self) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, v)| {
                let json = k.as_str() == "claims";
                k.chars().any(char::is_control)
                    || v.chars()
                        .any(|c| c.is_control() && !(json && matches!(c, '\t' | '\n' | '\r')))
            })
            .map(|(k, _)| k.as_str())
            .or_else(|| {
                self.repeated
                    .iter()
                    .find(|k| k.chars().any(char::is_control))
                    .map(String::as_str)
            })
    }
}

fn is_pkce_value(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Validates `params` for `app`, the application named by `client_id` (looked up by the
/// caller; `None` when unknown).
pub fn validate(
    params: &Params,
    app: Option<&Application>,
    settings: &OrgSettings,
) -> Result<AuthRequest, AuthorizeError> {
    let Some(client_id) = params.get("client_id") else {
        return Err(AuthorizeError::Page(PageMessage::new(
            "errors-authorize-no-client-id",
            &[],
        )));
    };
    let Some(app) = app else {
        return Err(AuthorizeError::Page(PageMessage::new(
            "errors-authorize-unknown-client",
            &[("client", client_id)],
        )));
    };
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return Err(AuthorizeError::Page(PageMessage::new(
            "errors-authorize-no-redirect-uri",
            &[],
        )));
    };
    if !app.redirect_uris.iter().any(|u| u.as_str() == redirect_uri) {
        return Err(AuthorizeError::Page(PageMessage::new(
            "errors-authorize-redirect-unregistered",
            &[("client", client_id)],
        )));
    }
    if let Some(name) = params
        .repeated()
        .filter(|n| ["client_id", "redirect_uri"].contains(n))
    {
        return Err(AuthorizeError::Page(PageMessage::new(
            "errors-authorize-repeated",
            &[("name", name)],
        )));
    }

    // From here on, errors go back to the client.
    let state = params.get("state").map(str::to_string);
    let (response_mode, mode_error) = match params.get("response_mode") {
        None | Some("query") => (ResponseMode::Query, None),
        Some("form_post") => (ResponseMode::FormPost, None),
        Some(other) => (
            ResponseMode::Query,
            Some(format!(
                "response_mode '{other}' is not supported: use query or form_post"
            )),
        ),
    };
    let fail = |error: &'static str, description: String| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.to_string(),
        response_mode,
        state: state.clone(),
        error,
        description,
    };
    if let Some(description) = mode_error {
        return Err(fail("invalid_request", description));
    }
    if let Some(name) = params.repeated() {
        return Err(fail(
            "invalid_request",
            format!("the parameter {name} appears more than once"),
        ));
    }
    if params.get("request").is_some() {
        return Err(fail(
            "request_not_supported",
            "request objects are not supported".into(),
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(fail(
            "request_uri_not_supported",
            "request_uri is not supported".into(),
        ));
    }
    match params.get("response_type") {
        None => return Err(fail("invalid_request", "response_type is required".into())),
        Some("code") => {}
        Some(other) => {
            return Err(fail(
                "unsupported_response_type",
                format!("response_type '{other}' is not supported: use code"),
            ));
        }
    }
    if !app.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(fail(
            "unauthorized_client",
            "this application may not use the authorization code flow".into(),
        ));
    }
    let requested: Vec<&str> = params
        .get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if !requested.contains(&"openid") {
        return Err(fail("invalid_scope", "the openid scope is required".into()));
    }
    let resource = match params.get("resource") {
        None => None,
        Some(r) => match settings
            .resource(r)
            .filter(|_| app.resources.iter().any(|a| a == r))
        {
            Some(found) => Some(found),
            None => {
                return Err(fail(
                    "invalid_target",
                    format!("'{r}' is not a resource registered here"),
                ));
            }
        },
    };
    // OIDC scopes, then the resource's own scopes, in a stable order.
    let resource_scopes = resource.map(|r| r.scopes.as_slice()).unwrap_or_default();
    let scope: Vec<String> = SUPPORTED_SCOPES
        .iter()
        .map(|s| s.to_string())
        .chain(resource_scopes.iter().cloned())
        .filter(|s| requested.contains(&s.as_str()))
        .collect();

    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, None) if app.client_type == ClientType::Public => {
            return Err(fail("invalid_request", "PKCE is required for public clients: send code_challenge with code_challenge_method=S256".into()));
        }
        (None, None) => None,
        (None, Some(_)) => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method without code_challenge".into(),
            ));
        }
        (Some(_), None | Some("plain")) => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)".into(),
            ));
        }
        (Some(c), Some("S256")) if is_pkce_value(c) => Some(c.to_string()),
        (Some(_), Some("S256")) => {
            return Err(fail(
                "invalid_request",
                "code_challenge must be 43-128 characters of [A-Za-z0-9-._~]".into(),
            ));
        }
        (Some(_), Some(other)) => {
            return Err(fail(
                "invalid_request",
                format!("code_challenge_method '{other}' is not supported: use S256"),
            ));
        }
    };

    let prompts: Vec<&str> = params
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(unknown) = prompts
        .iter()
        .find(|p| !["none", "login", "consent", "select_account"].contains(p))
    {
        return Err(fail(
            "invalid_request",
            format!("prompt value '{unknown}' is not supported"),
        ));
    }
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return Err(fail(
            "invalid_request",
            "prompt=none cannot be combined with other values".into(),
        ));
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(fail(
                    "invalid_request",
                    "max_age must be a non-negative integer".into(),
                ));
            }
        },
    };
    let claims = match params.get("claims") {
        None => None,
        Some(text) => Some(ClaimsRequest::parse(text).map_err(|e| fail("invalid_request", e))?),
    };
    let nonce = params.get("nonce").map(str::to_string);
    if nonce.as_ref().is_some_and(|n| n.len() > 512)
        || state.as_ref().is_some_and(|s| s.len() > 2048)
    {
        return Err(fail("invalid_request", "nonce or state is too long".into()));
    }

    Ok(AuthRequest {
        client_id: client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        response_mode,
        scope,
        state,
        nonce,
        code_challenge,
        // select_account has nothing to select yet (one session per browser): it signs in again.
        // max_age=0 means "sign in now", whatever the session's age in whole seconds.
        prompt_login: prompts.contains(&"login")
            || prompts.contains(&"select_account")
            || max_age == Some(0),
        prompt_consent: prompts.contains(&"consent"),
        prompt_none,
        max_age,
        claims,
        resource: resource.map(|r| r.identifier.clone()),
        consent_sid: None,
        acr_values: params
            .get("acr_values")
            .map(|v| {
                v.split(' ')
                    .filter(|s| !s.is_empty())
                    .take(10)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        login_hint: params
            .get("login_hint")
            .map(|h| h.chars().take(256).collect()),
        // Tags Sesame does not speak are ignored (OIDC Core §3.1.2.1), so nothing here is refused.
        ui_locales: params
            .get("ui_locales")
            .map(|v| {
                v.split(' ')
                    .filter(|s| !s.is_empty() && s.len() <= 35)
                    .take(10)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2): `BASE64URL(SHA256(verifier))`.
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// PKCE S256 (RFC 7636 §4.6): `BASE64URL(SHA256(verifier)) == challenge`, in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    use subtle::ConstantTimeEq;
    if !is_pkce_value(verifier) {
        return false;
    }
    pkce_challenge(verifier)
        .as_bytes()
        .ct_eq(challenge.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClientId, RedirectUri};
    use crate::store::applications::TokenLifetimes;

    fn app(client_type: ClientType) -> Application {
        Application {
            id: "id".into(),
            organization_id: 1,
            client_id: ClientId::parse("web").unwrap(),
            name: "Web".into(),
            client_type,
            secret_hash: None,
            redirect_uris: vec![RedirectUri::parse("https://rp.example/cb").unwrap()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            lifetimes: TokenLifetimes::default(),
            sign_in_flow: None,
            backup_codes: false,
            websub_subscribe: false,
            app_native: false,
            jwks: None,
            id_token_alg: crate::keys::Alg::RS256,
            access_token_alg: crate::keys::Alg::RS256,
            third_party: false,
            jwks_uri: None,
            resources: vec![],
            created_at: 0,
            updated_at: 0,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    const BASE: [(&str, &str); 4] = [
        ("client_id", "web"),
        ("redirect_uri", "https://rp.example/cb"),
        ("response_type", "code"),
        ("scope", "email openid unknown"),
    ];

    fn with(extra: &[(&str, &str)]) -> Params {
        let mut all: Vec<(&str, &str)> = BASE.to_vec();
        all.extend_from_slice(extra);
        params(&all)
    }

    fn error_code(result: Result<AuthRequest, AuthorizeError>) -> &'static str {
        match result {
            Err(AuthorizeError::Redirect { error, .. }) => error,
            other => panic!("expected a redirected error, got {other:?}"),
        }
    }

    #[test]
    fn a_good_request_narrows_scope_and_keeps_state() {
        let req = validate(
            &with(&[("state", "xyz"), ("nonce", "n")]),
            Some(&app(ClientType::Confidential)),
            &OrgSettings::default(),
        )
        .unwrap();
        assert_eq!(req.scope, vec!["openid", "email"]);
        assert_eq!(req.state.as_deref(), Some("xyz"));
        assert_eq!(req.response_mode, ResponseMode::Query);
    }

    #[test]
    fn bad_client_or_redirect_uri_never_redirects() {
        let a = app(ClientType::Confidential);
        assert!(matches!(
            validate(&with(&[]), None, &OrgSettings::default()),
            Err(AuthorizeError::Page(_))
        ));
        let p = params(&[
            ("client_id", "web"),
            ("redirect_uri", "https://rp.example/cb/extra"),
            ("response_type", "code"),
        ]);
        assert!(matches!(
            validate(&p, Some(&a), &OrgSettings::default()),
            Err(AuthorizeError::Page(_))
        ));
        let p = params(&[("client_id", "web"), ("response_type", "code")]);
        assert!(matches!(
            validate(&p, Some(&a), &OrgSettings::default()),
            Err(AuthorizeError::Page(_))
        ));
    }

    #[test]
    fn protocol_errors_are_redirected_with_their_codes() {
        let a = app(ClientType::Confidential);
        let p = |extra: &[(&str, &str)]| validate(&with(extra), Some(&a), &OrgSettings::default());
        assert_eq!(
            error_code(p(&[("request", "eyJ...")])),
            "request_not_supported"
        );
        assert_eq!(
            error_code(p(&[("request_uri", "https://x")])),
            "request_uri_not_supported"
        );
        assert_eq!(
            error_code(p(&[("prompt", "none login")])),
            "invalid_request"
        );
        assert_eq!(error_code(p(&[("max_age", "-1")])), "invalid_request");
        assert_eq!(
            error_code(p(&[
                ("code_challenge", &"a".repeat(43)),
                ("code_challenge_method", "plain")
            ])),
            "invalid_request"
        );
        assert_eq!(
            error_code(p(&[("response_mode", "fragment")])),
            "invalid_request"
        );
        let no_openid = params(&[
            ("client_id", "web"),
            ("redirect_uri", "https://rp.example/cb"),
            ("response_type", "code"),
            ("scope", "email"),
        ]);
        assert_eq!(
            error_code(validate(&no_openid, Some(&a), &OrgSettings::default())),
            "invalid_scope"
        );
        let token = params(&[
            ("client_id", "web"),
            ("redirect_uri", "https://rp.example/cb"),
            ("response_type", "token"),
            ("scope", "openid"),
        ]);
        assert_eq!(
            error_code(validate(&token, Some(&a), &OrgSettings::default())),
            "unsupported_response_type"
        );
        assert_eq!(
            error_code(validate(
                &with(&[]),
                Some(&app(ClientType::Public)),
                &OrgSettings::default()
            )),
            "invalid_request",
            "public clients need PKCE"
        );
    }

    #[test]
    fn claims_parameter_parsing() {
        let c = ClaimsRequest::parse(
            r#"{"id_token":{"email":{"essential":true}},"userinfo":{"name":null},"other":1}"#,
        )
        .unwrap();
        assert_eq!(c.id_token, vec!["email"]);
        assert_eq!(c.userinfo, vec!["name"]);
        assert!(ClaimsRequest::parse("[]").is_err());
        assert!(ClaimsRequest::parse(r#"{"userinfo":{"name":5}}"#).is_err());
        assert!(ClaimsRequest::parse(r#"{"userinfo":[]}"#).is_err());
    }

    #[test]
    fn pkce_s256_rfc7636_example() {
        // RFC 7636 appendix B.
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }
}
