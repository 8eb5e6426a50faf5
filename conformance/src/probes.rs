//! Independent probes: strict client libraries nobody here wrote, each running a scripted code
//! flow with PKCE, UserInfo, refresh, code replay and logout against Sesame's password-only
//! organization as the `probe` client. The `openidconnect` crate runs here; `openid-client`
//! (Node) and `authlib` (Python) run as child processes (`conformance/probes/`), each printing a
//! JSON summary as its last line and exiting 0 only if every check passed.

use std::collections::HashMap;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use serde_json::Value;

use crate::browser::{Answer, Browser};
use crate::report::ModuleLog;
use crate::target::Sesame;

const PROBE_ORG: &str = "conformance";
const REDIRECT: &str = "https://rp.conformance.example/callback";
const POST_LOGOUT: &str = "https://rp.conformance.example/signed-out";

/// The probe client's secret, from provision.toml.
fn probe_secret() -> String {
    let text = std::fs::read_to_string(crate::target::provision_path()).unwrap_or_default();
    let doc: toml::Value = toml::from_str(&text).unwrap_or(toml::Value::Integer(0));
    let doc: Value = serde_json::to_value(doc).unwrap_or_default();
    doc["organizations"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["slug"] == PROBE_ORG))
        .and_then(|o| o["applications"].as_array())
        .and_then(|a| a.iter().find(|a| a["client_id"] == "probe"))
        .and_then(|a| a["client_secret"].as_str())
        .unwrap_or_default()
        .to_string()
}

pub async fn run(sesame: &Sesame, external: bool) -> Vec<ModuleLog> {
    let mut logs = vec![openidconnect_probe(sesame).await.finish()];
    if external {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("probes");
        let python = std::env::var("CONFORMANCE_PYTHON")
            .unwrap_or_else(|_| root.join("python/.venv/bin/python").display().to_string());
        logs.push(
            external_probe(
                sesame,
                "probe-openid-client",
                "node",
                &[root.join("node/probe.mjs")],
            )
            .await
            .finish(),
        );
        logs.push(
            external_probe(
                sesame,
                "probe-authlib",
                &python,
                &[root.join("python/probe.py")],
            )
            .await
            .finish(),
        );
    }
    for l in &logs {
        println!(
            "{:<72} {:?}",
            format!("{} [{}]", l.module, l.run),
            l.outcome
        );
        for p in l.problems() {
            println!("    {p}");
        }
    }
    logs
}

async fn external_probe(
    sesame: &Sesame,
    name: &str,
    program: &str,
    args: &[std::path::PathBuf],
) -> ModuleLog {
    let mut log = ModuleLog::new(name, "probes");
    let dir = std::env::temp_dir().join(format!("sesame-probe-{}-{name}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let ca = dir.join("ca.pem");
    if let Err(e) = std::fs::write(&ca, &sesame.cert_pem) {
        log.interrupt(e.to_string());
        return log;
    }
    let out = tokio::process::Command::new(program)
        .args(args)
        .env("ISSUER", format!("{}/t/{PROBE_ORG}", sesame.base))
        .env("CA_FILE", &ca)
        .env("NODE_EXTRA_CA_CERTS", &ca)
        .env("CLIENT_ID", "probe")
        .env("CLIENT_SECRET", probe_secret())
        .env("REDIRECT_URI", REDIRECT)
        .env("POST_LOGOUT_REDIRECT_URI", POST_LOGOUT)
        .env("USERNAME", "conformance-user")
        .env("PASSWORD", "conformance-user-password")
        .output()
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            log.interrupt(format!("{program} does not run: {e}"));
            return log;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Option<Value> = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .and_then(|l| serde_json::from_str(l).ok());
    let Some(summary) = summary else {
        log.interrupt(format!(
            "no JSON summary (exit {:?}): {}{}",
            out.status.code(),
            stdout.chars().take(500).collect::<String>(),
            String::from_utf8_lossy(&out.stderr)
                .chars()
                .take(1500)
                .collect::<String>()
        ));
        return log;
    };
    for c in summary["checks"].as_array().into_iter().flatten() {
        let detail = match &c["detail"] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        log.fail(c["name"].as_str().unwrap_or("?"), c["ok"] == true, detail);
    }
    log.fail(
        &format!("{} exits 0", summary["library"].as_str().unwrap_or(name)),
        out.status.success(),
        format!("exit {:?}", out.status.code()),
    );
    let ran = summary["checks"].as_array().map_or(0, Vec::len);
    log.fail(
        "at least one check ran",
        ran > 0,
        "no checks in the summary",
    );
    log
}

/// The `openidconnect` crate as a strict relying party.
async fn openidconnect_probe(sesame: &Sesame) -> ModuleLog {
    let mut log = ModuleLog::new("probe-openidconnect-rs", "probes");
    if let Err(e) = openidconnect_flow(sesame, &mut log).await {
        log.interrupt(e);
    }
    log
}

async fn openidconnect_flow(sesame: &Sesame, log: &mut ModuleLog) -> Result<(), String> {
    let ca =
        reqwest::Certificate::from_pem(sesame.cert_pem.as_bytes()).map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(ca.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let issuer = format!("{}/t/{PROBE_ORG}", sesame.base);
    let meta = CoreProviderMetadata::discover_async(
        IssuerUrl::new(issuer.clone()).map_err(|e| e.to_string())?,
        &http,
    )
    .await;
    if !log.fail(
        "discovery accepted",
        meta.is_ok(),
        format!("{:?}", meta.as_ref().err()),
    ) {
        return Ok(());
    }
    let meta = meta.expect("checked");
    // RP-initiated logout metadata is not part of the library's core type: read it directly.
    let document: Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let end_session = document["end_session_endpoint"].as_str().map(String::from);
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new("probe".into()),
        Some(ClientSecret::new(probe_secret())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).map_err(|e| e.to_string())?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new(
        &ca,
        &[REDIRECT, POST_LOGOUT],
        crate::browser::Credentials {
            username: "conformance-user".into(),
            password: "conformance-user-password".into(),
            otp: None,
        },
    );
    let answer = browser.open(url.as_str()).await?;
    let Answer::Back { params, .. } = answer else {
        log.fail("sign-in ends at the client", false, format!("{answer:?}"));
        return Ok(());
    };
    let params: HashMap<String, String> = params;
    log.fail(
        "state returned",
        params.get("state") == Some(state.secret()),
        "state differs",
    );
    log.fail(
        "iss returned (RFC 9207)",
        params.get("iss") == Some(&issuer),
        "iss differs",
    );
    let code = params.get("code").cloned().ok_or("no code")?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await;
    if !log.fail(
        "code exchange",
        tokens.is_ok(),
        format!("{:?}", tokens.as_ref().err()),
    ) {
        return Ok(());
    }
    let tokens = tokens.expect("checked");
    let id_token = tokens.id_token().ok_or("no ID token")?;
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce);
    if !log.fail(
        "ID token verified (signature, iss, aud, exp, nonce)",
        claims.is_ok(),
        format!("{:?}", claims.as_ref().err()),
    ) {
        return Ok(());
    }
    let sub = claims.expect("checked").subject().to_string();
    let info: Result<CoreUserInfoClaims, _> = client
        .user_info(tokens.access_token().clone(), None)
        .map_err(|e| e.to_string())?
        .request_async(&http)
        .await;
    log.fail(
        "userinfo (same sub)",
        info.as_ref().is_ok_and(|i| i.subject().as_str() == sub),
        format!("{:?}", info.as_ref().err()),
    );
    let refresh = tokens.refresh_token().ok_or("no refresh token")?;
    let refreshed = client
        .exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
        .map_err(|e| e.to_string())?
        .request_async(&http)
        .await;
    if !log.fail(
        "refresh",
        refreshed.is_ok(),
        format!("{:?}", refreshed.as_ref().err()),
    ) {
        return Ok(());
    }
    let refreshed = refreshed.expect("checked");
    if let Some(t) = refreshed.id_token() {
        let ok = t
            .claims(&verifier, |_: Option<&Nonce>| Ok(()))
            .is_ok_and(|c| c.subject().as_str() == sub);
        log.fail("refreshed ID token verified, same sub", ok, "differs");
    }
    let replay = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| e.to_string())?
        .request_async(&http)
        .await;
    let replay_error = match &replay {
        Err(openidconnect::RequestTokenError::ServerResponse(r)) => r.error().to_string(),
        other => format!("{other:?}"),
    };
    log.fail(
        "code replay refused with invalid_grant",
        replay_error == "invalid_grant",
        replay_error,
    );
    let end_session = end_session.ok_or("no end_session_endpoint")?;
    let mut logout = url::Url::parse(&end_session).map_err(|e| e.to_string())?;
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", &id_token.to_string())
        .append_pair("post_logout_redirect_uri", POST_LOGOUT)
        .append_pair("state", "probe-logout");
    let answer = browser.open(logout.as_str()).await?;
    log.fail(
        "logout returns to the post-logout URI with state",
        matches!(&answer, Answer::Back { url, params, .. }
            if url.starts_with(POST_LOGOUT) && params.get("state").map(String::as_str) == Some("probe-logout")),
        format!("{answer:?}"),
    );
    let after: Result<CoreUserInfoClaims, _> = client
        .user_info(refreshed.access_token().clone(), None)
        .map_err(|e| e.to_string())?
        .request_async(&http)
        .await;
    log.fail(
        "the access token is refused after logout",
        after.is_err(),
        "still accepted",
    );
    Ok(())
}
