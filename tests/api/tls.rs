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

/// A self-signed certificate for localhost written to `cert.pem` and `key.pem` in `dir`.
fn write_cert(dir: &std::path::Path) -> String {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    // Written beside, then renamed: a reload never reads half a file.
    std::fs::write(dir.join("cert.pem.new"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem.new"), cert.signing_key.serialize_pem()).unwrap();
    std::fs::rename(dir.join("key.pem.new"), dir.join("key.pem")).unwrap();
    std::fs::rename(dir.join("cert.pem.new"), dir.join("cert.pem")).unwrap();
    cert.cert.pem()
}

async fn tls_app() -> (TestApp, String) {
    let test_db = TestDb::new(&Backend::Sqlite);
    let pem = write_cert(test_db.dir.path());
    let mut env = test_env(&test_db.url, test_db.dir.path());
    let path = |name: &str| test_db.dir.path().join(name).display().to_string();
    env.insert("SESAME_TLS_CERT".into(), path("cert.pem"));
    env.insert("SESAME_TLS_KEY".into(), path("key.pem"));
    (TestApp::spawn_with(test_db, env).await, pem)
}

/// A client that trusts exactly `pem`, with no connection kept from an earlier request. Rustls:
/// reqwest's default TLS in tests is native-tls, built here without ALPN.
fn trusting(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_is_negotiated_over_tls() {
    let (app, pem) = tls_app().await;
    let client = trusting(&pem);
    let res = client
        .get(format!("{}/t/default/jwks", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.version(), reqwest::Version::HTTP_2, "ALPN chose h2");
    let length = res.bytes().await.unwrap().len();

    // HEAD over HTTP/2: the GET's headers, no body.
    let head = client
        .head(format!("{}/t/default/jwks", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.version(), reqwest::Version::HTTP_2);
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        length.to_string()
    );
    assert!(head.bytes().await.unwrap().is_empty());

    // Clients without HTTP/2 still get HTTP/1.1.
    let old = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .http1_only()
        .build()
        .unwrap();
    let res = old
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_certificate_is_served_without_a_restart() {
    let (app, old_pem) = tls_app().await;
    let url = format!("{}/healthz", app.address);
    assert_eq!(
        trusting(&old_pem).get(&url).send().await.unwrap().status(),
        200
    );

    // A broken pair is refused and the old certificate stays.
    std::fs::write(app.test_db.dir.path().join("key.pem"), "not a key").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(
        trusting(&old_pem).get(&url).send().await.unwrap().status(),
        200
    );

    let new_pem = write_cert(app.test_db.dir.path());
    let mut served_new = false;
    for _ in 0..100 {
        if trusting(&new_pem).get(&url).send().await.is_ok() {
            served_new = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(served_new, "the new certificate is served");
    assert!(
        trusting(&old_pem).get(&url).send().await.is_err(),
        "the old one no longer is"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate() {
    let (app, old_pem) = tls_app().await;
    let url = format!("{}/healthz", app.address);
    assert_eq!(
        trusting(&old_pem).get(&url).send().await.unwrap().status(),
        200
    );
    let dir = app.test_db.dir.path();
    // A new pair of the same sizes with the old files' times, moved in by renames: the file
    // watcher sees nothing change, so only the signal can make it served.
    let next = dir.join("next");
    std::fs::create_dir(&next).unwrap();
    let len = |path: std::path::PathBuf| std::fs::metadata(path).unwrap().len();
    let new_pem = loop {
        let pem = write_cert(&next);
        if len(next.join("cert.pem")) == len(dir.join("cert.pem"))
            && len(next.join("key.pem")) == len(dir.join("key.pem"))
        {
            break pem;
        }
    };
    for name in ["cert.pem", "key.pem"] {
        let ok = std::process::Command::new("touch")
            .arg("-r")
            .arg(dir.join(name))
            .arg(next.join(name))
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    for name in ["cert.pem", "key.pem"] {
        std::fs::rename(next.join(name), dir.join(name)).unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(
        trusting(&new_pem).get(&url).send().await.is_err(),
        "not reloaded without the signal"
    );

    let ok = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let mut served_new = false;
    for _ in 0..100 {
        if trusting(&new_pem).get(&url).send().await.is_ok() {
            served_new = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(served_new, "SIGHUP reloaded the certificate");
}
