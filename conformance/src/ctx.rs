//! What every module shares: the provider's discovery document and keys, building
//! authorization requests, calling the token and UserInfo endpoints, and the checks the suite
//! runs on every authorization response, token response and ID token.

use std::collections::HashMap;

use base64::Engine;
use serde_json::Value;

use crate::browser::{Answer, Browser, Mode};
use crate::jwt::{Jwt, half_hash};
use crate::report::ModuleLog;
use crate::target::{CALLBACK, Client, Target};

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Basic,
    Post,
}

#[derive(Debug, Clone)]
pub struct Ctx {
    pub t: Target,
    pub http: reqwest::Client,
    pub discovery: Value,
    pub jwks: Value,
}

/// A request's parameters: `Some(value)` sets one, `None` removes a default one.
pub type Params<'a> = &'a [(&'a str, Option<&'a str>)];

/// The values a request was sent with that its answer is checked against.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub max_age: Option<i64>,
    /// The code the answer carried (for c_hash).
    pub code: Option<String>,
    /// A refreshed ID token: the suite compares it with the first (CompareIdTokenClaims)
    /// instead of checking a nonce (OIDC Core §12.2 says nothing of it).
    pub refreshed: bool,
}

/// A successful token response with its ID token.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Jwt,
}

/// 128 random bits, base64url (states and nonces).
pub fn random() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs() as i64
}

impl Ctx {
    pub async fn new(t: Target) -> Result<Self, String> {
        let http = t.http();
        let url = format!("{}/.well-known/openid-configuration", t.issuer);
        let discovery: Value = http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("discovery: {e}"))?
            .json()
            .await
            .map_err(|e| format!("discovery: {e}"))?;
        let jwks_uri = discovery["jwks_uri"].as_str().ok_or("no jwks_uri")?;
        let jwks: Value = http
            .get(jwks_uri)
            .send()
            .await
            .map_err(|e| format!("jwks: {e}"))?
            .json()
            .await
            .map_err(|e| format!("jwks: {e}"))?;
        Ok(Self {
            t,
            http,
            discovery,
            jwks,
        })
    }

    /// The configuration phase every code-flow module runs first (the suite's §2.1): the
    /// endpoints are there, the keys are usable public signing keys with unique `kid`s, and the
    /// client's authentication method is advertised. False when the module cannot go on.
    pub fn configure(&self, log: &mut ModuleLog, auth: Auth) -> bool {
        let d = &self.discovery;
        if !log.fail(
            "CheckServerConfiguration",
            ["authorization_endpoint", "token_endpoint", "issuer"]
                .iter()
                .all(|f| d[*f].is_string()),
            "authorization_endpoint, token_endpoint or issuer is missing",
        ) {
            return false;
        }
        let keys = self.jwks["keys"].as_array().cloned().unwrap_or_default();
        if !log.fail(
            "ValidateServerJWKs",
            !keys.is_empty(),
            "the JWKS has no keys",
        ) {
            return false;
        }
        log.fail(
            "CheckForKeyIdInServerJWKs",
            keys.iter().all(|k| k["kid"].is_string()),
            "a key without kid",
        );
        let mut kids: Vec<&str> = keys.iter().filter_map(|k| k["kid"].as_str()).collect();
        let n = kids.len();
        kids.sort_unstable();
        kids.dedup();
        log.fail(
            "CheckDistinctKeyIdValueInServerJWKs",
            kids.len() == n,
            "duplicate kid",
        );
        log.fail(
            "EnsureServerJwksDoesNotContainPrivateOrSymmetricKeys",
            keys.iter().all(|k| {
                k["kty"] != "oct"
                    && ["d", "p", "q", "dp", "dq", "qi", "k"]
                        .iter()
                        .all(|f| k.get(*f).is_none())
            }),
            "a private or symmetric key is published",
        );
        let (name, method) = match auth {
            Auth::Basic => (
                "EnsureServerConfigurationSupportsClientSecretBasic",
                "client_secret_basic",
            ),
            Auth::Post => (
                "EnsureServerConfigurationSupportsClientSecretPost",
                "client_secret_post",
            ),
        };
        log.fail(
            name,
            self.supports("token_endpoint_auth_methods_supported", method),
            format!("{method} is not in token_endpoint_auth_methods_supported"),
        );
        true
    }

    pub fn endpoint(&self, name: &str) -> String {
        self.discovery[name]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn supports(&self, field: &str, value: &str) -> bool {
        self.discovery[field]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == value))
    }

    pub fn browser(&self) -> Browser {
        self.t.browser()
    }

    /// An authorization request of `client`: response_type=code, redirect_uri, scope=openid,
    /// a fresh state and nonce, then `extra` (set or remove).
    pub fn auth_request(
        &self,
        client: &Client,
        extra: Params<'_>,
    ) -> (Vec<(String, String)>, Sent) {
        let mut params: Vec<(String, Option<String>)> = vec![
            ("client_id".into(), Some(client.id.clone())),
            ("redirect_uri".into(), Some(CALLBACK.into())),
            ("response_type".into(), Some("code".into())),
            ("scope".into(), Some("openid".into())),
            ("state".into(), Some(random())),
            ("nonce".into(), Some(random())),
        ];
        for (k, v) in extra {
            match params.iter_mut().find(|(name, _)| name == k) {
                Some(p) => p.1 = v.map(String::from),
                None => params.push((k.to_string(), v.map(String::from))),
            }
        }
        let params: Vec<(String, String)> = params
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let sent = Sent {
            state: get("state"),
            nonce: get("nonce"),
            max_age: get("max_age").and_then(|v| v.parse().ok()),
            code: None,
            refreshed: false,
        };
        (params, sent)
    }

    pub fn auth_url(&self, params: &[(String, String)]) -> String {
        let mut url = url::Url::parse(&self.endpoint("authorization_endpoint"))
            .expect("the authorization endpoint is a URL");
        url.query_pairs_mut().extend_pairs(params);
        url.to_string()
    }

    /// Checks an authorization response that should carry a code (the suite's common checks)
    /// and returns the code.
    pub fn check_code_response(
        &self,
        log: &mut ModuleLog,
        answer: &Answer,
        sent: &Sent,
    ) -> Option<String> {
        let (params, url, mode) = match answer {
            Answer::Back {
                params, url, mode, ..
            } => (params, url, mode),
            Answer::Page { status, body } => {
                log.fail(
                    "CheckIfAuthorizationEndpointError",
                    false,
                    format!(
                        "the browser stayed on a page (HTTP {status}): {}",
                        snippet(body)
                    ),
                );
                return None;
            }
            Answer::Elsewhere { url } => {
                log.fail(
                    "CheckMatchingCallbackParameters",
                    false,
                    format!("sent to {url}, not the registered redirect URI"),
                );
                return None;
            }
        };
        if !log.fail(
            "CheckIfAuthorizationEndpointError",
            !params.contains_key("error"),
            format!("error in the authorization response: {url}"),
        ) {
            return None;
        }
        if *mode == Mode::Query {
            log.fail(
                "RejectAuthCodeInUrlFragment",
                !url.contains('#'),
                "the response is in the fragment",
            );
        }
        log.fail(
            "CheckStateInAuthorizationResponse",
            params.get("state") == sent.state.as_ref(),
            format!("state {:?}, sent {:?}", params.get("state"), sent.state),
        );
        self.check_iss(log, params);
        let code = params.get("code").cloned();
        log.fail(
            "ExtractAuthorizationCodeFromAuthorizationResponse",
            code.is_some(),
            "no code",
        );
        code
    }

    /// RFC 9207: an `iss` in the response must be the issuer; a provider that advertises it
    /// must send it.
    pub fn check_iss(&self, log: &mut ModuleLog, params: &HashMap<String, String>) {
        match params.get("iss") {
            Some(iss) => {
                log.fail(
                    "ValidateIssIfPresentInAuthorizationResponse",
                    *iss == self.t.issuer,
                    format!("iss {iss} is not {}", self.t.issuer),
                );
            }
            None => {
                let advertised =
                    self.discovery["authorization_response_iss_parameter_supported"] == true;
                log.fail(
                    "ValidateIssInAuthorizationResponse",
                    !advertised,
                    "iss is advertised but missing from the response",
                );
            }
        }
    }

    /// An error response at the client (e.g. login_required): checks state, iss, and that the
    /// error is one of `accepted`.
    pub fn check_error_response(
        &self,
        log: &mut ModuleLog,
        answer: &Answer,
        sent: &Sent,
        accepted: &[&str],
    ) -> bool {
        let Answer::Back { params, .. } = answer else {
            return log.fail(
                "CheckErrorFromAuthorizationEndpoint",
                false,
                "the browser was not sent back to the client with an error",
            );
        };
        let error = params.get("error").map(String::as_str).unwrap_or("");
        let ok = log.fail(
            "CheckErrorFromAuthorizationEndpointErrorInAllowedValues",
            accepted.contains(&error),
            format!("error {error:?}, expected one of {accepted:?}"),
        );
        log.fail(
            "CheckStateInAuthorizationResponse",
            params.get("state") == sent.state.as_ref(),
            format!("state {:?}, sent {:?}", params.get("state"), sent.state),
        );
        log.fail(
            "RejectAuthCodeInAuthorizationEndpointResponse",
            !params.contains_key("code"),
            "a code beside the error",
        );
        self.check_iss(log, params);
        let unexpected: Vec<&String> = params
            .keys()
            .filter(|k| {
                !matches!(
                    k.as_str(),
                    "error" | "error_description" | "error_uri" | "state" | "iss"
                )
            })
            .collect();
        log.warn(
            "CheckForUnexpectedParametersInErrorResponseFromAuthorizationEndpoint",
            unexpected.is_empty(),
            format!("{unexpected:?}"),
        );
        check_error_fields(
            log,
            params.get("error_description"),
            params.get("error_uri"),
        );
        ok
    }

    /// POSTs to the token endpoint as `client`; returns the status, headers and JSON body.
    pub async fn token_request(
        &self,
        client: &Client,
        auth: Auth,
        form: &[(&str, &str)],
    ) -> Result<(u16, reqwest::header::HeaderMap, Value), String> {
        let mut form: Vec<(&str, &str)> = form.to_vec();
        let mut req = self.http.post(self.endpoint("token_endpoint"));
        match auth {
            Auth::Basic => {
                // RFC 6749 §2.3.1: form-urlencode id and secret before Basic.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                req = req.basic_auth(enc(&client.id), Some(enc(&client.secret)));
            }
            Auth::Post => {
                form.push(("client_id", &client.id));
                form.push(("client_secret", &client.secret));
            }
        }
        let res = req.form(&form).send().await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.map_err(|e| e.to_string())?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, headers, body))
    }

    /// Exchanges `code` and runs the suite's token-response and ID-token checks.
    pub async fn exchange(
        &self,
        log: &mut ModuleLog,
        client: &Client,
        auth: Auth,
        code: &str,
        sent: &Sent,
        extra: &[(&str, &str)],
    ) -> Option<Tokens> {
        let sent = &Sent {
            code: Some(code.to_string()),
            ..sent.clone()
        };
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
        ];
        form.extend_from_slice(extra);
        let (status, headers, body) = match self.token_request(client, auth, &form).await {
            Ok(r) => r,
            Err(e) => {
                log.interrupt(format!("token endpoint: {e}"));
                return None;
            }
        };
        self.check_token_response(log, status, &headers, &body, client, sent, true)
            .await
    }

    /// The checks on a token response (code or refresh); `needs_id_token` for the code grant.
    #[expect(
        clippy::too_many_arguments,
        reason = "the token-response checks need each of these"
    )]
    pub async fn check_token_response(
        &self,
        log: &mut ModuleLog,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &Value,
        client: &Client,
        sent: &Sent,
        needs_id_token: bool,
    ) -> Option<Tokens> {
        if !log.fail(
            "CheckTokenEndpointHttpStatus200",
            status == 200,
            format!("HTTP {status}: {body}"),
        ) {
            return None;
        }
        log.fail(
            "CheckTokenEndpointReturnedJsonContentType",
            headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json")),
            "not application/json",
        );
        log.fail(
            "CheckTokenEndpointCacheHeaders",
            headers
                .get("cache-control")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("no-store")),
            "Cache-Control: no-store is missing (RFC 6749 §5.1)",
        );
        let access_token = body["access_token"].as_str().map(String::from);
        if !log.fail(
            "CheckForAccessTokenValue",
            access_token.is_some(),
            "no access_token",
        ) {
            return None;
        }
        log.fail(
            "CheckTokenTypeIsBearer",
            body["token_type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("bearer")),
            format!("token_type {}", body["token_type"]),
        );
        log.fail(
            "ValidateExpiresIn",
            body.get("expires_in")
                .is_none_or(|v| v.as_f64().is_some_and(|n| n > 0.0)),
            format!("expires_in {}", body["expires_in"]),
        );
        let raw = body["id_token"].as_str();
        if raw.is_none() && !needs_id_token {
            // A refresh may return no ID token (OIDC Core §12.2).
            return None;
        }
        let Some(raw) = raw else {
            log.fail("ExtractIdTokenFromTokenResponse", false, "no id_token");
            return None;
        };
        let id_token = match Jwt::parse(raw) {
            Ok(j) => j,
            Err(e) => {
                log.fail("ExtractIdTokenFromTokenResponse", false, e);
                return None;
            }
        };
        let access_token = access_token.expect("checked above");
        self.check_id_token(log, &id_token, client, sent, Some(&access_token));
        Some(Tokens {
            refresh_token: body["refresh_token"].as_str().map(String::from),
            access_token,
            id_token,
        })
    }

    /// The suite's ID token checks (OIDC Core §3.1.3.7).
    pub fn check_id_token(
        &self,
        log: &mut ModuleLog,
        jwt: &Jwt,
        client: &Client,
        sent: &Sent,
        access_token: Option<&str>,
    ) {
        let t = now();
        log.fail(
            "ValidateIdTokenSignature",
            jwt.verify(&self.jwks).is_ok(),
            jwt.verify(&self.jwks).err().unwrap_or_default(),
        );
        if let Some(kid) = jwt.header.get("kid").and_then(Value::as_str) {
            let found = self.jwks["keys"]
                .as_array()
                .is_some_and(|k| k.iter().filter(|k| k["kid"] == kid).count() == 1);
            log.fail(
                "ValidateIdTokenSignatureUsingKid",
                found && jwt.verify(&self.jwks).is_ok(),
                format!("kid {kid} names no single key of the JWKS, or it does not verify"),
            );
        }
        log.fail(
            "CheckIdTokenSignatureAlgorithm",
            jwt.alg() != "none",
            "an unsigned ID token from the token endpoint",
        );
        log.fail(
            "ValidateIdToken: iss",
            jwt.str("iss") == Some(self.t.issuer.as_str()),
            format!("iss {:?}", jwt.str("iss")),
        );
        let aud_ok = match jwt.claims.get("aud") {
            Some(Value::String(a)) => *a == client.id,
            Some(Value::Array(a)) => a.iter().any(|v| *v == client.id.as_str()),
            _ => false,
        };
        log.fail(
            "ValidateIdToken: aud",
            aud_ok,
            format!("aud {:?}", jwt.claims.get("aud")),
        );
        log.fail(
            "ValidateIdToken: exp",
            jwt.int("exp").is_some_and(|e| e > t - 300),
            format!("exp {:?}", jwt.int("exp")),
        );
        log.fail(
            "ValidateIdToken: iat",
            jwt.int("iat").is_some_and(|i| i < t + 300 && i > t - 300),
            format!("iat {:?} is not within 5 minutes of now", jwt.int("iat")),
        );
        if let Some(at) = jwt.claims.get("auth_time") {
            log.fail(
                "ValidateIdToken: auth_time",
                at.as_i64()
                    .is_some_and(|a| a <= t + 300 && a > t - 365 * 86_400),
                format!("auth_time {at}"),
            );
        }
        if let Some(acr) = jwt.claims.get("acr") {
            log.fail(
                "ValidateIdTokenACRClaimAgainstRequest (a non-empty string)",
                acr.as_str().is_some_and(|a| !a.is_empty()),
                format!("acr {acr}"),
            );
        }
        crate::basic::check_standard_claims(
            log,
            "ValidateIdTokenStandardClaims",
            &Value::Object(jwt.claims.clone()),
        );
        if let Some(u) = jwt.claims.get("updated_at") {
            log.fail(
                "EnsureIdTokenUpdatedAtValid",
                u.as_i64().is_some_and(|u| u <= t + 300 && u >= 631_152_000),
                format!("updated_at {u}"),
            );
        }
        log.fail(
            "CheckForSubjectInIdToken",
            jwt.str("sub").is_some_and(|s| !s.is_empty()),
            "sub missing or empty",
        );
        match &sent.nonce {
            _ if sent.refreshed => {}
            Some(n) => {
                log.fail(
                    "ValidateIdTokenNonce",
                    jwt.str("nonce") == Some(n.as_str()),
                    format!("nonce {:?}, sent {n}", jwt.str("nonce")),
                );
            }
            None => {
                log.fail(
                    "ValidateIdTokenNonce (none sent, none returned)",
                    jwt.claims.get("nonce").is_none(),
                    "a nonce the request did not send",
                );
            }
        }
        if sent.max_age.is_some() {
            log.fail(
                "CheckIdTokenAuthTimeClaimPresentDueToMaxAge",
                jwt.int("auth_time").is_some(),
                "max_age was sent and auth_time is missing",
            );
        }
        if let (Some(hash), Some(code)) = (jwt.str("c_hash"), &sent.code) {
            log.fail(
                "ValidateCHash",
                half_hash(jwt.alg(), code).as_deref() == Some(hash),
                "c_hash does not match the code",
            );
        }
        if let (Some(hash), Some(at)) = (jwt.str("at_hash"), access_token) {
            log.fail(
                "ValidateAtHash",
                half_hash(jwt.alg(), at).as_deref() == Some(hash),
                "at_hash does not match the access token",
            );
        }
    }

    /// GETs (or POSTs) UserInfo with `access_token`; returns status and JSON.
    pub async fn userinfo(
        &self,
        access_token: &str,
        how: UserInfoCall,
    ) -> Result<(u16, reqwest::header::HeaderMap, Value), String> {
        let endpoint = self.endpoint("userinfo_endpoint");
        let req = match how {
            UserInfoCall::GetHeader => self.http.get(&endpoint).bearer_auth(access_token),
            UserInfoCall::PostHeader => self.http.post(&endpoint).bearer_auth(access_token),
            UserInfoCall::PostBody => self
                .http
                .post(&endpoint)
                .form(&[("access_token", access_token)]),
        };
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.map_err(|e| e.to_string())?;
        Ok((
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Calls UserInfo and runs the suite's checks: 200, JSON, the ID token's `sub`.
    pub async fn check_userinfo(
        &self,
        log: &mut ModuleLog,
        tokens: &Tokens,
        how: UserInfoCall,
    ) -> Option<Value> {
        let (status, headers, body) = match self.userinfo(&tokens.access_token, how).await {
            Ok(r) => r,
            Err(e) => {
                log.interrupt(format!("userinfo: {e}"));
                return None;
            }
        };
        if how == UserInfoCall::PostBody && !(200..300).contains(&status) {
            // Sending the token in the body is optional for providers (RFC 6750 §2.2).
            log.warn(
                "UserInfoEndpointWithAccessTokenInBodyNotSupported",
                false,
                format!("HTTP {status}"),
            );
            return None;
        }
        if !log.fail(
            "EnsureHttpStatusCodeIs200 (UserInfo)",
            status == 200,
            format!("HTTP {status}: {body}"),
        ) {
            return None;
        }
        log.fail(
            "EnsureContentTypeJson (UserInfo)",
            headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json")),
            "not application/json",
        );
        crate::basic::check_standard_claims(log, "ValidateUserInfoStandardClaims", &body);
        log.fail(
            "EnsureUserInfoContainsSub",
            body["sub"].is_string(),
            "no sub",
        );
        if let Some(u) = body.get("updated_at") {
            log.fail(
                "EnsureUserInfoUpdatedAtValid",
                u.as_i64()
                    .is_some_and(|u| u <= now() + 300 && u >= 631_152_000),
                format!("updated_at {u}"),
            );
        }
        log.fail(
            "VerifyUserInfoAndIdTokenInTokenEndpointSameSub",
            body["sub"].as_str() == tokens.id_token.str("sub"),
            format!(
                "userinfo sub {} vs ID token sub {:?}",
                body["sub"],
                tokens.id_token.str("sub")
            ),
        );
        Some(body)
    }

    /// One whole code flow for `client` with `extra` parameters: browser, response checks,
    /// exchange, ID token checks.
    pub async fn code_flow(
        &self,
        log: &mut ModuleLog,
        browser: &Browser,
        client: &Client,
        auth: Auth,
        extra: Params<'_>,
    ) -> Option<(Tokens, Answer, Sent)> {
        let (params, sent) = self.auth_request(client, extra);
        let answer = match browser.open(&self.auth_url(&params)).await {
            Ok(a) => a,
            Err(e) => {
                log.interrupt(format!("browser: {e}"));
                return None;
            }
        };
        let code = self.check_code_response(log, &answer, &sent)?;
        let tokens = self.exchange(log, client, auth, &code, &sent, &[]).await?;
        Some((tokens, answer, sent))
    }
}

impl Ctx {
    /// [`Ctx::code_flow`] for `client` with the request's parameters in reverse alphabetical
    /// order (the suite's alternate happy flow).
    pub async fn code_flow_reordered(
        &self,
        log: &mut ModuleLog,
        browser: &Browser,
        extra: Params<'_>,
    ) -> Option<(Tokens, Answer, Sent)> {
        let client = &self.t.client;
        let (mut params, sent) = self.auth_request(client, extra);
        params.sort_by(|a, b| b.0.cmp(&a.0));
        let answer = match browser.open(&self.auth_url(&params)).await {
            Ok(a) => a,
            Err(e) => {
                log.interrupt(format!("browser: {e}"));
                return None;
            }
        };
        let code = self.check_code_response(log, &answer, &sent)?;
        let tokens = self
            .exchange(log, client, Auth::Basic, &code, &sent, &[])
            .await?;
        Some((tokens, answer, sent))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserInfoCall {
    GetHeader,
    PostHeader,
    PostBody,
}

/// RFC 6749 §4.1.2.1 / §5.2: error_description and error_uri use a restricted character set.
pub fn check_error_fields(log: &mut ModuleLog, description: Option<&String>, uri: Option<&String>) {
    if let Some(d) = description {
        log.warn(
            "CheckErrorDescriptionFromAuthorizationEndpointResponseErrorContainsCRLFTAB",
            !d.contains(['\r', '\n', '\t']),
            "CR, LF or TAB in error_description",
        );
        log.fail(
            "ValidateErrorDescriptionFromAuthorizationEndpointResponseError",
            d.bytes()
                .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
            format!("characters outside RFC 6749's set: {d:?}"),
        );
    }
    if let Some(u) = uri {
        log.fail(
            "ValidateErrorUriFromAuthorizationEndpointResponseError",
            url::Url::parse(u).is_ok(),
            format!("error_uri {u:?} is not a URI"),
        );
    }
}

pub fn snippet(body: &str) -> String {
    // A page's error message says most.
    if let Some(i) = body.find("class=\"error\"") {
        let rest = &body[i..];
        if let Some(g) = rest.find('>') {
            let rest = &rest[g + 1..];
            return rest[..rest.find('<').unwrap_or(rest.len()).min(300)].to_string();
        }
    }
    // Else its title or heading says what it is.
    for tag in ["<h1>", "<title>"] {
        if let Some(i) = body.find(tag) {
            let rest = &body[i + tag.len()..];
            return rest[..rest.find('<').unwrap_or(rest.len()).min(200)].to_string();
        }
    }
    body.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browser::Credentials;
    use crate::target::Target;

    /// A provider whose only key is a fresh P-256 key; returns the context and a signer.
    fn provider() -> (Ctx, impl Fn(&Value) -> String) {
        let key = rcgen::KeyPair::generate().expect("a P-256 key");
        let raw = key.public_key_raw();
        let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
            "x": enc(&raw[1..33]), "y": enc(&raw[33..65]),
        }]});
        let client = Client {
            id: "client".into(),
            secret: "s".into(),
        };
        let t = Target {
            run: "unit".into(),
            issuer: "https://op.example".into(),
            ca_pem: Vec::new(),
            client: client.clone(),
            client2: client.clone(),
            client_secret_post: client,
            credentials: Credentials {
                username: "u".into(),
                password: "p".into(),
                otp: None,
            },
            usernames: Vec::new(),
            next_user: Default::default(),
        };
        let ctx = Ctx {
            t,
            http: reqwest::Client::new(),
            discovery: serde_json::json!({"issuer": "https://op.example"}),
            jwks,
        };
        let pem = key.serialize_pem();
        let sign = move |claims: &Value| {
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            header.kid = Some("k1".into());
            let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).expect("the key");
            jsonwebtoken::encode(&header, claims, &key).expect("signed")
        };
        (ctx, sign)
    }

    fn failed(ctx: &Ctx, raw: &str, nonce: &str) -> Vec<String> {
        let mut log = ModuleLog::new("m", "unit");
        let sent = Sent {
            nonce: Some(nonce.into()),
            ..Sent::default()
        };
        ctx.check_id_token(
            &mut log,
            &Jwt::parse(raw).unwrap(),
            &ctx.t.client,
            &sent,
            None,
        );
        log.checks
            .into_iter()
            .filter(|c| !c.ok)
            .map(|c| c.name)
            .collect()
    }

    /// The ID token checks pass a good token and catch each defect: the harness must be able to
    /// fail a provider, not only pass one.
    #[test]
    fn id_token_checks_catch_each_defect() {
        let (ctx, sign) = provider();
        let t = now();
        let good = serde_json::json!({
            "iss": "https://op.example", "aud": "client", "sub": "s1",
            "iat": t, "exp": t + 300, "nonce": "n1",
        });
        assert!(failed(&ctx, &sign(&good), "n1").is_empty());
        assert_eq!(
            failed(&ctx, &sign(&good), "other"),
            ["ValidateIdTokenNonce"]
        );
        let mut bad = good.clone();
        bad["iss"] = "https://evil.example".into();
        assert_eq!(failed(&ctx, &sign(&bad), "n1"), ["ValidateIdToken: iss"]);
        let mut bad = good.clone();
        bad["aud"] = serde_json::json!(["someone-else"]);
        assert_eq!(failed(&ctx, &sign(&bad), "n1"), ["ValidateIdToken: aud"]);
        let mut bad = good.clone();
        bad["iat"] = (t - 3600).into();
        assert_eq!(failed(&ctx, &sign(&bad), "n1"), ["ValidateIdToken: iat"]);
        let mut bad = good.clone();
        bad["email_verified"] = "yes".into();
        assert_eq!(
            failed(&ctx, &sign(&bad), "n1"),
            ["ValidateIdTokenStandardClaims"]
        );
        // A payload swapped under the signature.
        let token = sign(&good);
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = sign(&bad);
        parts[1] = other.split('.').nth(1).unwrap();
        let forged = parts.join(".");
        let f = failed(&ctx, &forged, "n1");
        assert!(f.contains(&"ValidateIdTokenSignature".to_string()), "{f:?}");
    }
}
