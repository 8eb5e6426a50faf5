use crate::helpers::{Backend, TestApp, TestDb, test_env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_itself_when_given_a_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let test_db = TestDb::new(&Backend::Sqlite);
    let cert_path = test_db.dir.path().join("cert.pem");
    let key_path = test_db.dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let mut env = test_env(&test_db.url, test_db.dir.path());
    env.insert("SESAME_TLS_CERT".into(), cert_path.display().to_string());
    env.insert("SESAME_TLS_KEY".into(), key_path.display().to_string());
    let app = TestApp::spawn_with(test_db, env).await;
    assert!(app.address.starts_with("https://localhost:"));

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let res = client
        .get(format!(
            "{}/t/default/.well-known/openid-configuration",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert_eq!(doc["issuer"], format!("{}/t/default", app.address));

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::get(format!("http://localhost:{}/healthz", app.port)).await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
}

/// Over https the `openidconnect` crate accepts a revocation endpoint (it refuses plain http), so
/// revocation is checked through the library here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relying_party_revokes_tokens_through_the_library() {
    use openidconnect::core::{
        CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreRevocableToken,
    };
    use openidconnect::{
        AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
        OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RevocationUrl,
    };

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let test_db = TestDb::new(&Backend::Sqlite);
    let (cert_path, key_path) = (
        test_db.dir.path().join("cert.pem"),
        test_db.dir.path().join("key.pem"),
    );
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let mut env = test_env(&test_db.url, test_db.dir.path());
    env.insert("SESAME_TLS_CERT".into(), cert_path.display().to_string());
    env.insert("SESAME_TLS_KEY".into(), key_path.display().to_string());
    let app = TestApp::spawn_with(test_db, env).await;
    app.import(&crate::helpers::acme_toml());

    let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(root.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let browser = crate::helpers::Browser {
        client: reqwest::Client::builder()
            .add_root_certificate(root)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    let issuer = app.issuer("acme");
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
        .await
        .unwrap();
    let oidc = CoreClient::from_provider_metadata(
        meta,
        ClientId::new("acme-web".into()),
        Some(ClientSecret::new(
            "an-acme-client-secret-of-forty-characters".into(),
        )),
    )
    .set_redirect_uri(RedirectUrl::new("https://app.acme.example/callback".into()).unwrap())
    .set_revocation_url(RevocationUrl::new(format!("{issuer}/revoke")).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, _) = oidc
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let res = browser
        .authorize_and_sign_in(url.as_str(), "bob", "bobs-long-password")
        .await;
    let code = crate::helpers::query_of(&crate::helpers::location(&res))["code"].clone();
    let tokens = oidc
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    oidc.revoke_token(CoreRevocableToken::from(
        tokens.refresh_token().unwrap().clone(),
    ))
    .unwrap()
    .request_async(&http)
    .await
    .expect("the library's revocation request is accepted");
    let again = oidc
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&http)
        .await;
    assert!(again.is_err(), "a revoked refresh token no longer works");
    let info = oidc
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async::<openidconnect::EmptyAdditionalClaims, _, openidconnect::core::CoreGenderClaim>(&http)
        .await;
    assert!(
        info.is_err(),
        "revoking the refresh token revoked its grant's access tokens"
    );
}
