//! The Config OP plan's `oidcc-discovery-endpoint-verification`: the discovery document is
//! served as JSON over https from `{issuer}/.well-known/openid-configuration`, names that issuer,
//! has the required fields with usable values (OIDC Discovery §3, RFC 8414), and its JWKS holds
//! only public keys. The checks and their severities follow the suite's module, in its order.

use serde_json::Value;

use crate::ctx::Ctx;
use crate::report::ModuleLog;

fn https(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        url::Url::parse(s).is_ok_and(|u| u.scheme() == "https" && u.fragment().is_none())
    })
}

/// An RFC 6749 scope-token: one or more of %x21 / %x23-5B / %x5D-7E.
fn scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// A plausible BCP 47 tag: alphanumeric subtags of 1-8 characters, the first alphabetic.
fn language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    parts
        .next()
        .is_some_and(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()))
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub async fn verify(ctx: &Ctx, log: &mut ModuleLog) {
    let url = format!("{}/.well-known/openid-configuration", ctx.t.issuer);
    let res = match ctx.http.get(&url).send().await {
        Ok(r) => r,
        Err(e) => return log.interrupt(format!("GetDynamicServerConfiguration: {e}")),
    };
    log.fail(
        "EnsureDiscoveryEndpointResponseStatusCodeIs200",
        res.status() == 200,
        format!("HTTP {}", res.status()),
    );
    log.fail(
        "CheckDiscoveryEndpointReturnedJsonContentType",
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "not application/json",
    );
    let d: Value = match res.json().await {
        Ok(d) => d,
        Err(e) => return log.interrupt(format!("GetDynamicServerConfiguration: not JSON: {e}")),
    };
    let has = |field: &str, value: &str| {
        d[field]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == value))
    };
    const OIDC_RESPONSE_TYPES: [&str; 6] = [
        "code",
        "code id_token",
        "id_token",
        "id_token token",
        "code id_token token",
        "code token",
    ];
    log.fail(
        "OIDCCCheckDiscEndpointResponseTypesSupported",
        d["response_types_supported"].as_array().is_some_and(|a| {
            a.iter().filter_map(Value::as_str).any(|t| {
                let mut words: Vec<&str> = t.split(' ').collect();
                words.sort_unstable();
                OIDC_RESPONSE_TYPES.iter().any(|o| {
                    let mut w: Vec<&str> = o.split(' ').collect();
                    w.sort_unstable();
                    w == words
                })
            })
        }),
        format!("response_types_supported {}", d["response_types_supported"]),
    );
    log.fail(
        "CheckDiscEndpointDiscoveryUrl",
        url.starts_with("https://") && url.ends_with("/.well-known/openid-configuration"),
        url.clone(),
    );
    let expected = url.trim_end_matches("/.well-known/openid-configuration");
    log.fail(
        "CheckDiscEndpointIssuer",
        d["issuer"]
            .as_str()
            .is_some_and(|i| i.trim_end_matches('/') == expected.trim_end_matches('/')),
        format!("issuer {} (discovery at {url})", d["issuer"]),
    );
    log.fail(
        "CheckDiscEndpointIssuerIsValidUrl",
        d["issuer"]
            .as_str()
            .and_then(|i| url::Url::parse(i).ok())
            .is_some_and(|u| {
                u.scheme() == "https"
                    && u.host().is_some()
                    && u.query().is_none()
                    && u.fragment().is_none()
                    && u.username().is_empty()
                    && u.password().is_none()
            }),
        format!("issuer {}", d["issuer"]),
    );
    log.fail(
        "CheckDiscEndpointSubjectTypesSupported",
        d["subject_types_supported"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "public" || v == "pairwise")),
        format!("subject_types_supported {}", d["subject_types_supported"]),
    );
    log.fail(
        "OIDCCCheckDiscEndpointIdTokenSigningAlgValuesSupported (RS256)",
        has("id_token_signing_alg_values_supported", "RS256"),
        "RS256 is missing",
    );
    if let Some(v) = d.get("userinfo_signing_alg_values_supported") {
        log.fail(
            "OIDCCCheckDiscEndpointUserinfoSigningAlgValuesSupported",
            v.is_array(),
            format!("{v}"),
        );
    }
    log.fail(
        "CheckDiscEndpointAuthorizationEndpoint",
        https(&d["authorization_endpoint"]),
        format!("{}", d["authorization_endpoint"]),
    );
    log.fail(
        "CheckDiscEndpointTokenEndpoint",
        https(&d["token_endpoint"]),
        format!("{}", d["token_endpoint"]),
    );
    if d.get("userinfo_endpoint").is_some() {
        log.fail(
            "CheckDiscEndpointUserinfoEndpoint",
            https(&d["userinfo_endpoint"]),
            format!("{}", d["userinfo_endpoint"]),
        );
    } else {
        log.warn(
            "CheckDiscEndpointUserinfoEndpoint",
            false,
            "no userinfo_endpoint",
        );
    }
    if d.get("registration_endpoint").is_some() {
        log.fail(
            "CheckDiscEndpointRegistrationEndpoint",
            https(&d["registration_endpoint"]),
            format!("{}", d["registration_endpoint"]),
        );
    }
    log.fail(
        "CheckJwksUri",
        https(&d["jwks_uri"]),
        format!("{}", d["jwks_uri"]),
    );

    // The keys.
    if let Some(jwks_uri) = d["jwks_uri"].as_str() {
        let jwks: Value = match ctx.http.get(jwks_uri).send().await {
            Ok(r) if r.status() == 200 => match r.json().await {
                Ok(j) => j,
                Err(e) => return log.interrupt(format!("FetchServerKeys: not JSON: {e}")),
            },
            Ok(r) => return log.interrupt(format!("FetchServerKeys: HTTP {}", r.status())),
            Err(e) => return log.interrupt(format!("FetchServerKeys: {e}")),
        };
        let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
        log.fail(
            "ValidateServerJWKs",
            !keys.is_empty() && keys.iter().all(|k| k["kty"].is_string()),
            "no keys, or a key without kty",
        );
        log.fail(
            "EnsureServerJwksDoesNotContainPrivateOrSymmetricKeys",
            keys.iter().all(|k| {
                k["kty"] != "oct"
                    && ["d", "p", "q", "dp", "dq", "qi", "k"]
                        .iter()
                        .all(|f| k.get(*f).is_none())
            }),
            "private or symmetric keys",
        );
    }
    if let Some(algs) = d.get("request_object_signing_alg_values_supported") {
        log.warn(
            "CheckDiscEndpointRequestObjectSigningAlgValuesSupportedIncludesRS256",
            algs.as_array()
                .is_some_and(|a| a.iter().any(|v| v == "RS256")),
            format!("{algs}"),
        );
    }
    log.warn(
        "OIDCCCheckDiscEndpointClaimsSupported",
        d["claims_supported"].is_array(),
        "claims_supported is missing",
    );
    if let Some(g) = d.get("grant_types_supported") {
        log.fail(
            "OIDCCCheckDiscEndpointGrantTypesSupported",
            g.as_array().is_some_and(|a| !a.is_empty()),
            format!("{g}"),
        );
    }
    match d.get("scopes_supported") {
        Some(scopes) => {
            log.fail(
                "CheckDiscEndpointScopesSupportedContainsOpenId",
                has("scopes_supported", "openid"),
                "no openid",
            );
            log.fail(
                "CheckDiscEndpointScopesSupportedSyntax",
                scopes
                    .as_array()
                    .is_some_and(|a| a.iter().all(|s| s.as_str().is_some_and(scope_token))),
                format!("{scopes}"),
            );
        }
        None => {
            log.warn(
                "CheckDiscEndpointScopesSupportedContainsOpenId",
                false,
                "no scopes_supported",
            );
        }
    }
    for field in ["ui_locales_supported", "claims_locales_supported"] {
        if let Some(v) = d.get(field) {
            log.fail(
                "CheckDiscEndpointLocalesSyntax",
                v.as_array()
                    .is_some_and(|a| a.iter().all(|s| s.as_str().is_some_and(language_tag))),
                format!("{field} {v}"),
            );
        }
    }
    let plain: Vec<String> = d
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, v)| k.ends_with("_endpoint") && !https(v))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    log.fail(
        "CheckDiscEndpointAllEndpointsAreHttps",
        plain.is_empty(),
        format!("{plain:?}"),
    );
    if let Some(m) = d.get("code_challenge_methods_supported") {
        log.fail(
            "EnsureServerConfigurationCodeChallengeMethodsSupportedIsAnArray",
            m.as_array()
                .is_some_and(|a| a.is_empty() || a.iter().any(|v| v == "S256" || v == "plain")),
            format!("{m}"),
        );
    }
}
